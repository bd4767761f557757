/* One HTTP exchange with Replicate's API (replicate_internal.h): the request, its
 * cancellation and deadlines, and what a failed one means. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include <jansson.h>

#include "builtin.h"
#include "parse.h"
#include "replicate_internal.h"

int64_t quire_rp__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the diagnostics and the transient flag; returns -1 for `return quire_rp__fail(...)`. */
int quire_rp__fail(struct quire_provider_response *rs, int transient, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->diag, sizeof(rs->diag), fmt, ap);
	va_end(ap);
	rs->transient = transient;
	return -1;
}

int quire_rp__want_cancel(const struct replicate *rp, const struct quire_provider_request *rq)
{
	return atomic_load(&rp->cancelled) || (rq && rq->cancelled && *rq->cancelled);
}

/* Sleeps ms in short steps; returns 1 as soon as the run is cancelled. */
int quire_rp__nap(const struct replicate *rp, const struct quire_provider_request *rq, long ms)
{
	while (ms > 0) {
		if (quire_rp__want_cancel(rp, rq))
			return 1;
		long step = ms > 25 ? 25 : ms;
		struct timespec ts = { 0, step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return quire_rp__want_cancel(rp, rq);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct call *c = ud;
	size_t n = size * nmemb;
	long code = 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	if (c->out && code >= 200 && code < 300) {
		if (c->written + (long long)n > c->cap) {
			c->too_big = 1;
			return 0;
		}
		if (fwrite(ptr, 1, n, c->out) != n) {
			c->write_failed = errno ? errno : EIO;
			return 0;
		}
		c->written += (long long)n;
		return n;
	}
	/* An error page is kept (capped) for its message; an oversized one is cut, not fatal. */
	if (quire_http_buf_add(&c->body, ptr, n) && !c->body.over)
		return 0;
	return n;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	struct call *c = ud;
	(void)ultotal;
	(void)ulnow;
	if (!c->ignore_cancel && quire_rp__want_cancel(c->rp, c->rq)) {
		int64_t t = quire_rp__now_ms();
		if (!c->cancel_seen)
			c->cancel_seen = t;
		if (t - c->cancel_seen >= c->grace_ms) {
			c->was_cancelled = 1;
			return 1;
		}
	}
	if (c->out) {
		long code = 0;
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300 && dltotal > c->cap) {
			c->too_big = 1; /* Content-Length says so: stop before the first byte */
			return 1;
		}
		if (c->rq && c->rq->progress && dlnow > 0)
			c->rq->progress(c->rq->progress_ud, (long long)dlnow, "bytes");
	}
	return 0;
}

/* Does url start with the scheme, host and port of the API base? Only then does a download
 * carry the token: output files usually live on a CDN that needs none. */
static int same_origin(const char *base, const char *url)
{
	const char *sb = strstr(base, "://"), *su = strstr(url, "://");
	if (!sb || !su)
		return 0;
	size_t lb = (size_t)(sb - base) + 3 + strcspn(sb + 3, "/?#");
	size_t lu = (size_t)(su - url) + 3 + strcspn(su + 3, "/?#");
	return lb == lu && !strncasecmp(base, url, lb);
}

int quire_rp__is_http_url(const char *s)
{
	return s && (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8)) &&
	       !strpbrk(s, " \t\r\n");
}

/* Performs one request; the reply lands in c->status and c->body (or c->out for a download).
 * body_json: a POST body, or NULL for a GET (post_empty: a POST without a body). */
CURLcode quire_rp__perform(struct call *c, const char *url, const char *body_json, int post_empty,
			   long timeout_s, int download)
{
	CURL *h = c->h;
	curl_easy_reset(h);
	quire_http_buf_free(&c->body);
	c->body = (struct quire_http_buf){ .cap = API_BODY_CAP };
	c->status = 0;
	c->head = (struct quire_http_head){ .reason = "" };
	c->cancel_seen = 0;
	c->was_cancelled = 0;
	struct curl_slist *hdr = NULL, *t;
	int auth = c->rp->auth && (!download || same_origin(c->rp->base_url, url));
	if (auth && (t = curl_slist_append(hdr, c->rp->auth)))
		hdr = t;
	if (!download && (t = curl_slist_append(hdr, "Accept: application/json")))
		hdr = t;
	if (body_json && (t = curl_slist_append(hdr, "Content-Type: application/json")))
		hdr = t;
	quire_http_setup(h, url, "quire (replicate provider)", c->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, quire_http_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &c->head);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	if (download) {
		/* Output URLs may redirect; curl drops our Authorization header on another host. */
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		/* A stalled download is a timeout (transient), however large the file. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	} else {
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	}
	if (body_json) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_json);
	} else if (post_empty) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	CURLcode e = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	return e;
}

/* The server's message from an error reply: Replicate sends problem JSON with "title" and
 * "detail" (detail may also be a list of validation errors), sometimes plain text. */
static void server_message(const struct call *c, char *dst, size_t cap)
{
	dst[0] = '\0';
	json_t *j = c->body.p ? json_loadb(c->body.p, c->body.len, 0, NULL) : NULL;
	if (json_is_object(j)) {
		const char *title = json_string_value(json_object_get(j, "title"));
		json_t *detail = json_object_get(j, "detail");
		size_t len = 0;
		if (title)
			len += (size_t)snprintf(dst, cap, "%s", title);
		if (json_is_string(detail) && len < cap)
			len += (size_t)snprintf(dst + len, cap - len, "%s%s", len ? ": " : "",
						json_string_value(detail));
		json_t *list =
			json_is_array(detail) ? detail : json_object_get(j, "invalid_fields");
		size_t i;
		json_t *it;
		json_array_foreach(list, i, it) {
			if (len >= cap)
				break;
			const char *msg = json_string_value(json_object_get(it, "msg"));
			if (!msg)
				msg = json_string_value(json_object_get(it, "description"));
			if (msg)
				len += (size_t)snprintf(dst + len, cap - len, "%s%s",
							len ? "; " : "", msg);
		}
		if (!len) {
			const char *e = json_string_value(json_object_get(j, "error"));
			if (e)
				snprintf(dst, cap, "%s", e);
		}
	}
	json_decref(j);
	if (!dst[0] && c->body.len)
		quire_http_snippet(dst, cap, c->body.p, c->body.len);
	if (!dst[0])
		snprintf(dst, cap, "no message");
}

/* Turns a failed exchange into the response: transient for 408, 429, 5xx, timeouts and
 * resets (with Retry-After), permanent otherwise with the server's own words. */
int quire_rp__call_failed(struct quire_provider_response *rs, const struct call *c, CURLcode e,
			  const char *what)
{
	if (e != CURLE_OK)
		return quire_rp__fail(rs, quire_http_curl_transient(e), "replicate: %s: %s", what,
				      c->errbuf[0] ? c->errbuf : curl_easy_strerror(e));
	char msg[1024];
	server_message(c, msg, sizeof(msg));
	const char *hint = "";
	if (c->status == 401)
		hint = " (check REPLICATE_API_TOKEN)";
	else if (c->status == 404 && strstr(what, "creat"))
		hint = " (check the model name and version)";
	rs->retry_after_ms = c->head.retry_after_ms;
	return quire_rp__fail(rs, quire_http_status_transient(c->status),
			      "replicate: %s: HTTP %ld: %s%s", what, c->status, msg, hint);
}
