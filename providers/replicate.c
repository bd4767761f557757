/* The replicate provider: creates a prediction on Replicate's HTTP API, polls it with backoff,
 * cancels it on Ctrl-C, and streams its output file (or its text) into the output path. */
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

#define DEFAULT_BASE_URL "https://api.replicate.com/v1"
#define POLL_CAP_MS 10000L
#define API_BODY_CAP ((size_t)8 << 20) /* API replies are small; text outputs arrive inline */
#define API_TIMEOUT_S 60L
#define CANCEL_TIMEOUT_S 10L
#define CREATE_GRACE_MS 5000L /* how long a create may finish after Ctrl-C, to learn its id */
#define DOWNLOAD_TRIES 3

/* A prediction an attempt created but could not deliver (a transient download failure): the
 * next attempt of the same request resumes it instead of paying for a new one. */
struct pending {
	struct pending *next;
	char *fingerprint, *id, *get_url, *cancel_url;
};

struct replicate {
	char *model;	/* "owner/name", or NULL when only a version is given */
	char *version;	/* version id, or NULL */
	char *base_url; /* without a trailing '/' */
	char *prompt_field;
	json_t *input; /* extra input fields */
	long poll_ms, timeout_s;
	long long max_download; /* bytes */
	char *auth; /* the "Authorization: Bearer ..." header, or NULL without a token */
	atomic_int cancelled;
	pthread_mutex_t mu; /* guards pending */
	struct pending *pending;
};

/* One prediction being followed. */
struct pred {
	char *id, *get_url, *cancel_url;
};

/* One HTTP exchange. */
struct call {
	struct replicate *rp;
	const struct quire_provider_request *rq; /* NULL for check() */
	CURL *h;
	int ignore_cancel;   /* the cancel request itself must not be aborted */
	long grace_ms;	     /* on cancel, let the transfer finish for this long first */
	int64_t cancel_seen; /* when the cancel was first noticed (ms), or 0 */
	int was_cancelled;
	long status;
	struct quire_http_head head; /* Retry-After, retry-after-ms */
	struct quire_http_buf body;
	char errbuf[CURL_ERROR_SIZE];
	/* downloads */
	FILE *out;
	long long written, cap;
	int too_big, write_failed;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct quire_provider_response *rs, int transient, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the diagnostics and the transient flag; returns -1 for `return fail(...)`. */
static int fail(struct quire_provider_response *rs, int transient, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->diag, sizeof(rs->diag), fmt, ap);
	va_end(ap);
	rs->transient = transient;
	return -1;
}

static int want_cancel(const struct replicate *rp, const struct quire_provider_request *rq)
{
	return atomic_load(&rp->cancelled) || (rq && rq->cancelled && *rq->cancelled);
}

/* Sleeps ms in short steps; returns 1 as soon as the run is cancelled. */
static int nap(const struct replicate *rp, const struct quire_provider_request *rq, long ms)
{
	while (ms > 0) {
		if (want_cancel(rp, rq))
			return 1;
		long step = ms > 25 ? 25 : ms;
		struct timespec ts = {0, step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return want_cancel(rp, rq);
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

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct call *c = ud;
	quire_http_head_line(&c->head, ptr, size * nmemb);
	return size * nmemb;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	struct call *c = ud;
	(void)ultotal;
	(void)ulnow;
	if (!c->ignore_cancel && want_cancel(c->rp, c->rq)) {
		int64_t t = now_ms();
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

static int is_http_url(const char *s)
{
	return s && (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8)) &&
	       !strpbrk(s, " \t\r\n");
}

/* Performs one request; the reply lands in c->status and c->body (or c->out for a download).
 * body_json: a POST body, or NULL for a GET (post_empty: a POST without a body). */
static CURLcode perform(struct call *c, const char *url, const char *body_json, int post_empty,
			long timeout_s, int download)
{
	CURL *h = c->h;
	curl_easy_reset(h);
	quire_http_buf_free(&c->body);
	c->body = (struct quire_http_buf){.cap = API_BODY_CAP};
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
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
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
		json_array_foreach (list, i, it) {
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
static int call_failed(struct quire_provider_response *rs, const struct call *c, CURLcode e,
		       const char *what)
{
	if (e != CURLE_OK)
		return fail(rs, quire_http_curl_transient(e), "replicate: %s: %s", what,
			    c->errbuf[0] ? c->errbuf : curl_easy_strerror(e));
	char msg[1024];
	server_message(c, msg, sizeof(msg));
	const char *hint = "";
	if (c->status == 401)
		hint = " (check REPLICATE_API_TOKEN)";
	else if (c->status == 404 && strstr(what, "creat"))
		hint = " (check the model name and version)";
	rs->retry_after_ms = c->head.retry_after_ms;
	return fail(rs, quire_http_status_transient(c->status), "replicate: %s: HTTP %ld: %s%s", what, c->status,
		    msg, hint);
}

static void pred_release(struct pred *p)
{
	free(p->id);
	free(p->get_url);
	free(p->cancel_url);
	memset(p, 0, sizeof(*p));
}

static void pending_free(struct pending *q)
{
	free(q->fingerprint);
	free(q->id);
	free(q->get_url);
	free(q->cancel_url);
	free(q);
}

/* Takes the prediction an earlier attempt of this request left behind, if any. */
static int pending_take(struct replicate *rp, const char *fingerprint, struct pred *p)
{
	int found = 0;
	if (!fingerprint)
		return 0;
	pthread_mutex_lock(&rp->mu);
	for (struct pending **q = &rp->pending; *q; q = &(*q)->next) {
		if (strcmp((*q)->fingerprint, fingerprint))
			continue;
		struct pending *hit = *q;
		*q = hit->next;
		p->id = hit->id;
		p->get_url = hit->get_url;
		p->cancel_url = hit->cancel_url;
		hit->id = hit->get_url = hit->cancel_url = NULL;
		pending_free(hit);
		found = 1;
		break;
	}
	pthread_mutex_unlock(&rp->mu);
	return found;
}

static void pending_keep(struct replicate *rp, const char *fingerprint, struct pred *p)
{
	struct pending *q = calloc(1, sizeof(*q));
	if (!q || !fingerprint || !(q->fingerprint = strdup(fingerprint))) {
		free(q);
		return;
	}
	q->id = p->id;
	q->get_url = p->get_url;
	q->cancel_url = p->cancel_url;
	p->id = p->get_url = p->cancel_url = NULL;
	pthread_mutex_lock(&rp->mu);
	q->next = rp->pending;
	rp->pending = q;
	pthread_mutex_unlock(&rp->mu);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Prediction ids go into URLs: letters and digits only. */
static int valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (!n || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return 0;
	return 1;
}

/* Fills p from a prediction object; 0, or -1 when it has no usable id. */
static int pred_from_json(struct replicate *rp, const json_t *j, struct pred *p)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!valid_id(id))
		return -1;
	const json_t *urls = json_object_get(j, "urls");
	const char *get = json_string_value(json_object_get(urls, "get"));
	const char *cancel = json_string_value(json_object_get(urls, "cancel"));
	p->id = strdup(id);
	p->get_url =
	    is_http_url(get) ? strdup(get) : xasprintf("%s/predictions/%s", rp->base_url, id);
	p->cancel_url = is_http_url(cancel)
			    ? strdup(cancel)
			    : xasprintf("%s/predictions/%s/cancel", rp->base_url, id);
	return p->id && p->get_url && p->cancel_url ? 0 : -1;
}

/* Asks Replicate to stop a prediction, so an interrupted run stops paying for it. */
static void cancel_remote(struct call *c, const struct pred *p)
{
	if (!p->cancel_url)
		return;
	c->ignore_cancel = 1;
	perform(c, p->cancel_url, NULL, 1, CANCEL_TIMEOUT_S, 0);
	c->ignore_cancel = 0;
}

/* Is s a JSON number with a fraction or an exponent ("0.7", "-1.5e3")? */
static int decimal_literal(const char *s)
{
	const char *p = s + (*s == '-');
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return 0;
	p += strspn(p, "0123456789");
	int frac = 0;
	if (*p == '.') {
		size_t n = strspn(p + 1, "0123456789");
		if (!n)
			return 0;
		p += 1 + n;
		frac = 1;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		size_t n = strspn(p, "0123456789");
		if (!n)
			return 0;
		p += n;
		frac = 1;
	}
	return frac && !*p;
}

/* quire keeps non-integer numbers of quire.yaml as strings (floats never enter a fingerprint);
 * Replicate validates input types, so decimals go back to being JSON numbers on the wire. */
static void decimals_to_numbers(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	json_object_foreach (j, k, v) {
		if (json_is_string(v) && decimal_literal(json_string_value(v)))
			json_object_set_new(j, k, json_real(strtod(json_string_value(v), NULL)));
		else
			decimals_to_numbers(v);
	}
	json_array_foreach (j, i, v) {
		if (json_is_string(v) && decimal_literal(json_string_value(v)))
			json_array_set_new(j, i, json_real(strtod(json_string_value(v), NULL)));
		else
			decimals_to_numbers(v);
	}
}

/* The reply to a create: *state receives the created prediction (its first status), p its id
 * and URLs. */
static int created(struct call *c, struct quire_provider_response *rs, CURLcode e,
		   struct pred *p, json_t **state)
{
	if (e != CURLE_OK || c->status < 200 || c->status >= 300)
		return call_failed(rs, c, e, "creating the prediction");
	json_t *j = json_loadb(c->body.p ? c->body.p : "", c->body.len, 0, NULL);
	if (!json_is_object(j) || pred_from_json(c->rp, j, p)) {
		char s[256];
		quire_http_snippet(s, sizeof(s), c->body.p ? c->body.p : "", c->body.len);
		json_decref(j);
		return fail(rs, 0,
			    "replicate: creating the prediction: the reply has no prediction id: %s",
			    s);
	}
	*state = j;
	return 0;
}

/* POST the prediction; *state receives the created prediction (its first status). */
static int create(struct call *c, struct quire_provider_response *rs, struct pred *p,
		  json_t **state)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int rc = -1;
	char *url = NULL, *body = NULL;
	json_t *input = rp->input ? json_deep_copy(rp->input) : json_object();
	decimals_to_numbers(input);
	json_t *prompt =
	    json_stringn(rq->prompt ? rq->prompt : "", rq->prompt ? rq->prompt_len : 0);
	if (!prompt) {
		json_decref(input);
		return fail(rs, 0, "replicate: the rendered prompt is not valid UTF-8");
	}
	json_object_set_new(input, rp->prompt_field, prompt);
	json_t *req = json_pack("{s:o}", "input", input);
	if (rp->version) {
		json_object_set_new(req, "version", json_string(rp->version));
		url = xasprintf("%s/predictions", rp->base_url);
	} else {
		url = xasprintf("%s/models/%s/predictions", rp->base_url, rp->model);
	}
	/* 15 digits print a decimal the user typed as typed (0.7, not 0.69999999999999996). */
	body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(req);
	if (!url || !body) {
		rc = fail(rs, 0, "replicate: out of memory");
		goto out;
	}
	/* Ctrl-C does not abort a create at once: a prediction whose id we never learn could
	 * not be cancelled and would run (and be billed) to the end. */
	c->grace_ms = CREATE_GRACE_MS;
	CURLcode e = perform(c, url, body, 0, API_TIMEOUT_S, 0);
	c->grace_ms = 0;
	if (c->was_cancelled)
		rc = fail(rs, 0, "cancelled");
	else
		rc = created(c, rs, e, p, state);
out:
	free(url);
	free(body);
	return rc;
}

/* The end of a failed prediction's logs, when it gave no error. */
static void logs_tail(const json_t *j, char *dst, size_t cap)
{
	const char *logs = json_string_value(json_object_get(j, "logs"));
	dst[0] = '\0';
	if (!logs)
		return;
	size_t n = strlen(logs);
	while (n && (logs[n - 1] == '\n' || logs[n - 1] == ' '))
		n--;
	size_t from = n > 300 ? n - 300 : 0;
	quire_http_snippet(dst, cap, logs + from, n - from);
}

/* What a prediction's state says: 1 it succeeded, -1 it failed or was cancelled (rs says
 * so), 0 it is still running (its status, when it has one, in last). */
static int settled(const json_t *state, const struct pred *p, struct quire_provider_response *rs,
		   char *last, size_t lastlen)
{
	const char *st = state ? json_string_value(json_object_get(state, "status")) : NULL;
	if (!st)
		return 0;
	snprintf(last, lastlen, "%s", st);
	if (!strcmp(st, "succeeded"))
		return 1;
	if (!strcmp(st, "failed")) {
		const json_t *err = json_object_get(state, "error");
		char msg[1024];
		if (json_is_string(err)) {
			snprintf(msg, sizeof(msg), "%s", json_string_value(err));
		} else if (err && !json_is_null(err)) {
			char *d = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
			snprintf(msg, sizeof(msg), "%s", d ? d : "unknown error");
			free(d);
		} else {
			char tail[400];
			logs_tail(state, tail, sizeof(tail));
			snprintf(msg, sizeof(msg), "no error given%s%s", tail[0] ? "; logs end: " : "",
				 tail);
		}
		return fail(rs, 0, "replicate: prediction %s failed: %s", p->id, msg);
	}
	if (!strcmp(st, "canceled") || !strcmp(st, "aborted"))
		return fail(rs, 0, "replicate: prediction %s was %s on Replicate", p->id, st);
	return 0;
}

/* Polls until the prediction ends; *done receives the succeeded prediction. Transient poll
 * failures are retried here until the deadline: polling is idempotent, creating is not. */
static int wait_for(struct call *c, struct quire_provider_response *rs, struct pred *p,
		    json_t *state, json_t **done)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int64_t deadline = now_ms() + (int64_t)rp->timeout_s * 1000;
	long interval = rp->poll_ms;
	char last[64] = "starting", lasterr[512] = "";
	int rc = -1;
	for (;;) {
		int s = settled(state, p, rs, last, sizeof(last));
		if (s > 0) {
			*done = state;
			return 0;
		}
		if (s < 0)
			goto out;
		json_decref(state);
		state = NULL;
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			cancel_remote(c, p);
			rc = fail(rs, 0,
				  "replicate: prediction %s did not finish within timeout_s=%ld "
				  "(last status: %s%s%s); it was cancelled",
				  p->id, rp->timeout_s, last, lasterr[0] ? "; " : "", lasterr);
			goto out;
		}
		long wait = c->head.retry_after_ms > interval ? c->head.retry_after_ms : interval;
		if (nap(rp, rq, wait < left ? wait : (long)left))
			goto cancelled;
		interval = interval * 2 > POLL_CAP_MS ? POLL_CAP_MS : interval * 2;
		if (interval < rp->poll_ms) /* a poll_ms above the cap stays as given */
			interval = rp->poll_ms;
		CURLcode e = perform(c, p->get_url, NULL, 0, API_TIMEOUT_S, 0);
		if (c->was_cancelled)
			goto cancelled;
		if (e == CURLE_OK && c->status >= 200 && c->status < 300) {
			if (c->body.over) {
				rc = fail(rs, 0,
					  "replicate: polling prediction %s: the reply is larger "
					  "than %zu MiB",
					  p->id, API_BODY_CAP >> 20);
				goto out;
			}
			state = json_loadb(c->body.p ? c->body.p : "", c->body.len, 0, NULL);
			if (!json_is_object(state)) {
				json_decref(state);
				state = NULL;
				snprintf(lasterr, sizeof(lasterr), "a poll reply was not JSON");
			}
			continue;
		}
		if ((e != CURLE_OK && quire_http_curl_transient(e)) ||
		    (e == CURLE_OK && quire_http_status_transient(c->status))) {
			struct quire_provider_response tmp = {0};
			call_failed(&tmp, c, e, "polling");
			snprintf(lasterr, sizeof(lasterr), "%.400s", tmp.diag);
			continue;
		}
		rc = call_failed(rs, c, e, "polling the prediction");
		goto out;
	}
cancelled:
	cancel_remote(c, p);
	rc = fail(rs, 0, "cancelled");
out:
	json_decref(state);
	return rc;
}

/* The file URL of an output: a string, the first URL of an array, or the first URL-valued
 * field of an object. */
static const char *output_url(const json_t *out)
{
	if (json_is_string(out))
		return is_http_url(json_string_value(out)) ? json_string_value(out) : NULL;
	size_t i;
	const char *k;
	json_t *v;
	if (json_is_array(out)) {
		json_array_foreach (out, i, v) {
			if (is_http_url(json_string_value(v)))
				return json_string_value(v);
		}
	} else if (json_is_object(out)) {
		json_object_foreach ((json_t *)out, k, v) {
			if (is_http_url(json_string_value(v)))
				return json_string_value(v);
		}
	}
	return NULL;
}

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Text and json outputs arrive inline: a string, or an array of strings (language models
 * stream tokens) joined as they are; json outputs may also be any JSON value. */
static int write_text(const struct quire_provider_request *rq, struct quire_provider_response *rs,
		      const char *id, const json_t *out)
{
	int is_json = !strcmp(rq->output_type, "json");
	int all_strings = json_is_array(out);
	size_t i;
	json_t *v;
	json_array_foreach (out, i, v)
		all_strings &= json_is_string(v);
	char *dumped = NULL;
	if (!json_is_string(out) && !all_strings) {
		if (!is_json || json_is_null(out))
			return fail(
			    rs, 0,
			    "replicate: prediction %s returned %s, not text (for structured "
			    "output use output type json; for files image, audio or file)",
			    id, json_kind(out));
		dumped = json_dumps(out, JSON_INDENT(2) | JSON_ENCODE_ANY);
	}
	FILE *f = fopen(rq->output_path, "wb");
	if (!f) {
		free(dumped);
		return fail(rs, 0, "replicate: cannot write the output: %s", strerror(errno));
	}
	int bad = 0;
	if (dumped) {
		bad |= fputs(dumped, f) < 0;
	} else if (json_is_string(out)) {
		bad |= fwrite(json_string_value(out), 1, json_string_length(out), f) !=
		       json_string_length(out);
	} else {
		json_array_foreach (out, i, v) {
			bad |= fwrite(json_string_value(v), 1, json_string_length(v), f) !=
			       json_string_length(v);
		}
	}
	int e = errno;
	bad |= fclose(f) != 0;
	free(dumped);
	if (bad)
		return fail(rs, 0, "replicate: cannot write the output: %s", strerror(e ? e : EIO));
	return 0;
}

/* Streams the output file to rq->output_path, under the size cap; transient failures are
 * retried here a few times (a GET is idempotent). */
static int download(struct call *c, struct quire_provider_response *rs, const char *id,
		    const char *url)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int rc = -1;
	for (int attempt = 1;; attempt++) {
		FILE *f = fopen(rq->output_path, "wb");
		if (!f)
			return fail(rs, 0, "replicate: cannot write the output: %s",
				    strerror(errno));
		c->out = f;
		c->cap = rp->max_download;
		c->written = 0;
		c->too_big = c->write_failed = 0;
		/* The whole-prediction timeout also bounds one download. */
		CURLcode e = perform(c, url, NULL, 0, rp->timeout_s, 1);
		c->out = NULL;
		int close_err = fclose(f) ? errno : 0;
		if (c->was_cancelled) {
			rc = fail(rs, 0, "cancelled");
			break;
		}
		if (c->too_big) {
			rc = fail(rs, 0,
				  "replicate: the output of prediction %s is larger than "
				  "max_download_mb=%lld; download stopped",
				  id, rp->max_download >> 20);
			break;
		}
		if (c->write_failed || close_err) {
			rc = fail(rs, 0, "replicate: cannot write the output: %s",
				  strerror(c->write_failed ? c->write_failed : close_err));
			break;
		}
		if (e == CURLE_OK && c->status >= 200 && c->status < 300)
			return 0;
		char what[128];
		snprintf(what, sizeof(what), "downloading the output of prediction %s", id);
		rc = call_failed(rs, c, e, what);
		if (!rs->transient || attempt >= DOWNLOAD_TRIES)
			break;
		long wait = 250L << attempt;
		if (rs->retry_after_ms > wait)
			wait = rs->retry_after_ms;
		if (nap(rp, rq, wait)) {
			rc = fail(rs, 0, "cancelled");
			break;
		}
		memset(rs, 0, sizeof(*rs));
	}
	unlink(rq->output_path);
	return rc;
}

/* Provenance: ids, model, version and timing, never the token. */
static void set_meta(struct replicate *rp, struct quire_provider_response *rs, const char *id,
		     const json_t *done)
{
	json_t *m = json_pack("{s:s}", "prediction_id", id);
	const char *model = json_string_value(json_object_get(done, "model"));
	const char *version = json_string_value(json_object_get(done, "version"));
	if (!model)
		model = rp->model;
	if (!version)
		version = rp->version;
	if (model)
		json_object_set_new(m, "model", json_string(model));
	if (version)
		json_object_set_new(m, "version", json_string(version));
	const json_t *metrics = json_object_get(done, "metrics");
	const json_t *pt = json_object_get(metrics, "predict_time");
	if (json_is_number(pt)) {
		/* As a string: floats are kept out of anything quire hashes. */
		char s[64];
		snprintf(s, sizeof(s), "%.3f", json_number_value(pt));
		json_object_set_new(m, "predict_time", json_string(s));
	}
	const json_t *tin = json_object_get(metrics, "input_token_count");
	const json_t *tout = json_object_get(metrics, "output_token_count");
	if (json_is_integer(tin))
		rs->tokens_in = (long long)json_integer_value(tin);
	if (json_is_integer(tout))
		rs->tokens_out = (long long)json_integer_value(tout);
	char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	if (s && strlen(s) < sizeof(rs->meta))
		snprintf(rs->meta, sizeof(rs->meta), "%s", s);
	else
		snprintf(rs->meta, sizeof(rs->meta), "{\"prediction_id\":\"%s\"}", id);
	free(s);
	json_decref(m);
}

/* The output of succeeded prediction done into rq->output_path: text and json from the
 * reply, a file downloaded from its URL (with fetch; without, only the URL is looked for). */
static int deliver(struct call *c, struct quire_provider_response *rs, struct pred *p,
		   const json_t *done, int fetch)
{
	const struct quire_provider_request *rq = c->rq;
	const json_t *output = json_object_get(done, "output");
	const char *type = rq->output_type ? rq->output_type : "text";
	int rc;
	if (!output || json_is_null(output)) {
		rc = fail(rs, 0, "replicate: prediction %s succeeded without an output", p->id);
	} else if (!strcmp(type, "text") || !strcmp(type, "json")) {
		rc = write_text(rq, rs, p->id, output);
	} else {
		const char *url = output_url(output);
		if (url)
			rc = fetch ? download(c, rs, p->id, url) : 0;
		else
			rc =
			    fail(rs, 0,
				 "replicate: prediction %s returned %s without a file URL, but the "
				 "producer's output type is %s",
				 p->id, json_kind(output), type);
		if (rc && rs->transient)
			pending_keep(c->rp, rq->fingerprint, p);
	}
	if (!rc)
		set_meta(c->rp, rs, p->id, done);
	return rc;
}

static int replicate_produce(void *ctx, const struct quire_provider_request *rq,
			     struct quire_provider_response *rs)
{
	struct replicate *rp = ctx;
	struct pred p = {0};
	json_t *state = NULL, *done = NULL;
	int rc = -1;
	if (!rp->auth)
		return fail(rs, 0, "replicate: no API token: set REPLICATE_API_TOKEN");
	if (want_cancel(rp, rq))
		return fail(rs, 0, "cancelled");
	char why[200];
	if (quire_http_init(why, sizeof(why)))
		return fail(rs, 0, "replicate: %s", why);
	struct call c = {.rp = rp, .rq = rq, .h = curl_easy_init()};
	if (!c.h)
		return fail(rs, 0, "replicate: cannot start libcurl");
	if (!pending_take(rp, rq->fingerprint, &p) && (rc = create(&c, rs, &p, &state)))
		goto out;
	/* wait_for owns the state from here on, and notices a cancel before its first poll. */
	rc = wait_for(&c, rs, &p, state, &done);
	state = NULL;
	if (rc)
		goto out;
	rc = deliver(&c, rs, &p, done, 1);
out:
	json_decref(state);
	json_decref(done);
	quire_http_buf_free(&c.body);
	curl_easy_cleanup(c.h);
	pred_release(&p);
	return rc;
}

static int replicate_check(void *ctx, char *msg, size_t msglen)
{
	struct replicate *rp = ctx;
	if (!rp->auth) {
		snprintf(msg, msglen, "replicate: no API token: set REPLICATE_API_TOKEN");
		return -1;
	}
	struct call c = {.rp = rp};
	if (quire_http_init(msg, msglen) || !(c.h = curl_easy_init())) {
		snprintf(msg, msglen, "replicate: cannot start libcurl");
		return -1;
	}
	char *url = xasprintf("%s/account", rp->base_url);
	CURLcode e = url ? perform(&c, url, NULL, 0, 20L, 0) : CURLE_OUT_OF_MEMORY;
	int rc = 0;
	if (e != CURLE_OK || c.status != 200) {
		struct quire_provider_response tmp = {0};
		call_failed(&tmp, &c, e, "checking the account");
		snprintf(msg, msglen, "%s", tmp.diag);
		rc = -1;
	}
	free(url);
	quire_http_buf_free(&c.body);
	curl_easy_cleanup(c.h);
	return rc;
}

int quire_replicate__reply(const struct quire_provider_request *rq,
			   struct quire_provider_response *rs, long status, int poll,
			   const char *headers, size_t hlen, const char *body, size_t blen)
{
	char base[] = "https://api.replicate.com/v1", model[] = "owner/model", id[] = "test";
	struct replicate rp = { .model = model, .base_url = base, .poll_ms = 1, .timeout_s = 1 };
	struct call c = { .rp = &rp, .rq = rq, .status = status, .body = { .cap = API_BODY_CAP } };
	struct pred p = { 0 };
	json_t *state = NULL;
	char last[64] = "starting";
	int rc = -1;
	pthread_mutex_init(&rp.mu, NULL);
	for (size_t at = 0, n; at < hlen; at += n) {
		const char *nl = memchr(headers + at, '\n', hlen - at);
		n = nl ? (size_t)(nl - headers - at) + 1 : hlen - at;
		on_header((char *)(uintptr_t)(headers + at), 1, n, &c);
	}
	/* As on_body keeps an API reply: an oversized one is cut. */
	if (quire_http_buf_add(&c.body, body, blen) && !c.body.over)
		goto out;
	if (!poll) {
		if (created(&c, rs, CURLE_OK, &p, &state))
			goto out;
	} else if (status < 200 || status >= 300) {
		call_failed(rs, &c, CURLE_OK, "polling the prediction");
		goto out;
	} else {
		/* As wait_for reads a poll's reply about prediction "test". */
		p.id = id;
		state = json_loadb(c.body.p ? c.body.p : "", c.body.len, 0, NULL);
	}
	int st = json_is_object(state) ? settled(state, &p, rs, last, sizeof(last)) : 0;
	if (st > 0)
		rc = deliver(&c, rs, &p, state, 0);
	else if (!st)
		fail(rs, 1, "replicate: prediction %s is still %s", p.id ? p.id : "?", last);
out:
	if (p.id == id)
		p.id = NULL;
	pred_release(&p);
	json_decref(state);
	quire_http_buf_free(&c.body);
	while (rp.pending) {
		struct pending *q = rp.pending;
		rp.pending = q->next;
		pending_free(q);
	}
	pthread_mutex_destroy(&rp.mu);
	return rc;
}

static void replicate_cancel(void *ctx)
{
	struct replicate *rp = ctx;
	atomic_store(&rp->cancelled, 1);
}

static void replicate_fini(void *ctx)
{
	struct replicate *rp = ctx;
	if (!rp)
		return;
	free(rp->model);
	free(rp->version);
	free(rp->base_url);
	free(rp->prompt_field);
	json_decref(rp->input);
	if (rp->auth) {
		memset(rp->auth, 0, strlen(rp->auth));
		free(rp->auth);
	}
	while (rp->pending) {
		struct pending *q = rp->pending;
		rp->pending = q->next;
		pending_free(q);
	}
	pthread_mutex_destroy(&rp->mu);
	free(rp);
}

/* An integer parameter (YAML gives integers; a quoted number is accepted too). Messages of
 * init() carry no "replicate:" prefix: the core names the role and the provider. */
static int param_int(const json_t *params, const char *key, long long def, long long min,
		     long long max, long long *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(params, key);
	long long x = def;
	if (json_is_integer(v)) {
		x = (long long)json_integer_value(v);
	} else if (json_is_string(v)) {
		char *end;
		errno = 0;
		x = strtoll(json_string_value(v), &end, 10);
		if (end == json_string_value(v) || *end || errno)
			x = min - 1;
	} else if (v) {
		x = min - 1;
	}
	if (x < min || x > max) {
		snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

/* "owner/name": letters, digits, '.', '_' and '-', exactly one '/'. */
static int valid_model(const char *m)
{
	int slashes = 0;
	size_t n = strlen(m);
	if (!n || m[0] == '/' || m[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		if (ch == '/')
			slashes++;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return slashes == 1;
}

static int replicate_init(void **ctx, const struct quire_provider_config *cfg, char *err,
			  size_t errlen)
{
	static const char *const known[] = {"base_url",	       "version", "input",
					    "prompt_field",    "poll_ms", "timeout_s",
					    "max_download_mb", NULL};
	*ctx = NULL;
	struct replicate *rp = calloc(1, sizeof(*rp));
	if (!rp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&rp->mu, NULL);
	atomic_init(&rp->cancelled, 0);
	json_error_t je;
	json_t *params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, &je);
	const char *key;
	json_t *v;
	long long n;
	if (!json_is_object(params)) {
		snprintf(err, errlen, "params must be a mapping");
		goto fail;
	}
	json_object_foreach (params, key, v) {
		int ok = 0;
		for (size_t i = 0; known[i]; i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			snprintf(err, errlen,
				 "unknown param '%s' (expected base_url, version, input, "
				 "prompt_field, poll_ms, timeout_s or max_download_mb)",
				 key);
			goto fail;
		}
	}
	v = json_object_get(params, "base_url");
	const char *base = v ? json_string_value(v) : DEFAULT_BASE_URL;
	if (!is_http_url(base)) {
		snprintf(err, errlen, "base_url must be an http:// or https:// URL");
		goto fail;
	}
	rp->base_url = strdup(base);
	for (size_t len = strlen(rp->base_url); len && rp->base_url[len - 1] == '/';)
		rp->base_url[--len] = '\0';

	v = json_object_get(params, "version");
	if (v && (!json_is_string(v) || !valid_id(json_string_value(v)))) {
		snprintf(err, errlen, "version must be a model version id");
		goto fail;
	}
	rp->version = v ? strdup(json_string_value(v)) : NULL;
	if (cfg->model && *cfg->model) {
		/* "owner/name:version", as Replicate writes model references, is accepted too. */
		const char *colon = strchr(cfg->model, ':');
		rp->model =
		    colon ? strndup(cfg->model, (size_t)(colon - cfg->model)) : strdup(cfg->model);
		if (!rp->model) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (colon) {
			if (!valid_id(colon + 1) ||
			    (rp->version && strcmp(rp->version, colon + 1))) {
				snprintf(err, errlen,
					 "model '%s' names a version that is not a "
					 "version id or differs from params.version",
					 cfg->model);
				goto fail;
			}
			if (!rp->version)
				rp->version = strdup(colon + 1);
		}
		if (!valid_model(rp->model)) {
			snprintf(err, errlen,
				 "model must be 'owner/name' or 'owner/name:version', "
				 "not '%s'",
				 cfg->model);
			goto fail;
		}
	} else if (!rp->version) {
		snprintf(err, errlen, "a role needs a model ('owner/name') or params.version");
		goto fail;
	}

	v = json_object_get(params, "prompt_field");
	if (v && (!json_is_string(v) || !json_string_length(v))) {
		snprintf(err, errlen, "prompt_field must be a field name");
		goto fail;
	}
	rp->prompt_field = strdup(v ? json_string_value(v) : "prompt");
	v = json_object_get(params, "input");
	if (v && !json_is_object(v)) {
		snprintf(err, errlen, "input must be a mapping of model input fields");
		goto fail;
	}
	if (v && json_object_get(v, rp->prompt_field)) {
		snprintf(err, errlen,
			 "input.%s would replace the rendered prompt; the prompt goes "
			 "into '%s' (set prompt_field to send it elsewhere)",
			 rp->prompt_field, rp->prompt_field);
		goto fail;
	}
	rp->input = v ? json_deep_copy(v) : NULL;
	if (param_int(params, "poll_ms", 1000, 1, 600000, &n, err, errlen))
		goto fail;
	rp->poll_ms = (long)n;
	if (param_int(params, "timeout_s", 900, 1, 7 * 86400, &n, err, errlen))
		goto fail;
	rp->timeout_s = (long)n;
	if (param_int(params, "max_download_mb", 512, 1, 1 << 20, &n, err, errlen))
		goto fail;
	rp->max_download = n << 20;

	if (cfg->secret && *cfg->secret) {
		for (const char *s = cfg->secret; *s; s++) {
			if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) {
				snprintf(err, errlen,
					 "the API token contains spaces or control "
					 "characters");
				goto fail;
			}
		}
		rp->auth = xasprintf("Authorization: Bearer %s", cfg->secret);
	}
	if (!rp->base_url || (cfg->model && *cfg->model && !rp->model) || !rp->prompt_field ||
	    (cfg->secret && *cfg->secret && !rp->auth)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_decref(params);
	*ctx = rp;
	return 0;
fail:
	json_decref(params);
	replicate_fini(rp);
	return -1;
}

const struct quire_provider quire_provider_replicate = {
    .abi = QUIRE_PROVIDER_ABI,
    .name = "replicate",
    .flags = QUIRE_PROVIDER_THREADSAFE | QUIRE_PROVIDER_NEEDS_SECRET,
    .secret_env = "REPLICATE_API_TOKEN",
    .init = replicate_init,
    .produce = replicate_produce,
    .cancel = replicate_cancel,
    .fini = replicate_fini,
    .check = replicate_check,
};
