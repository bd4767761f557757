/* The HTTP providers' shared plumbing (http.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

int quire_http_buf_add(struct quire_http_buf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len) {
		b->over = 1;
		return -1;
	}
	if (b->len + n + 1 > b->alloc) {
		size_t na = b->alloc ? b->alloc : 256;
		while (na < b->len + n + 1)
			na *= 2;
		char *np = realloc(b->p, na);
		if (!np)
			return -1;
		b->p = np;
		b->alloc = na;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void quire_http_buf_free(struct quire_http_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->alloc = 0;
	b->over = 0;
}

static long cap_ms(long long ms)
{
	return ms > QUIRE_HTTP_RETRY_AFTER_CAP_MS ? QUIRE_HTTP_RETRY_AFTER_CAP_MS : (long)ms;
}

void quire_http_head_line(struct quire_http_head *hd, const char *data, size_t n)
{
	char line[256];
	size_t l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
	memcpy(line, data, l);
	line[l] = '\0';
	while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
		line[--l] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		hd->retry_after_ms = 0;
		hd->reason[0] = '\0';
		char *sp = strchr(line, ' ');
		sp = sp ? strchr(sp + 1, ' ') : NULL;
		if (sp)
			snprintf(hd->reason, sizeof(hd->reason), "%s", sp + 1);
	} else if (!strncasecmp(line, "retry-after-ms:", 15)) {
		long long v = strtoll(line + 15, NULL, 10);
		if (v > 0)
			hd->retry_after_ms = cap_ms(v);
	} else if (!strncasecmp(line, "retry-after:", 12) && !hd->retry_after_ms) {
		const char *v = line + 12;
		while (*v == ' ' || *v == '\t')
			v++;
		if (isdigit((unsigned char)*v)) {
			long long s = strtoll(v, NULL, 10);
			hd->retry_after_ms = s > QUIRE_HTTP_RETRY_AFTER_CAP_MS / 1000
						     ? QUIRE_HTTP_RETRY_AFTER_CAP_MS
						     : cap_ms(s * 1000);
		} else {
			time_t t = curl_getdate(v, NULL), now = time(NULL);
			if (t > now)
				hd->retry_after_ms = t - now > QUIRE_HTTP_RETRY_AFTER_CAP_MS / 1000
							     ? QUIRE_HTTP_RETRY_AFTER_CAP_MS
							     : cap_ms((long long)(t - now) * 1000);
		}
	}
}

size_t quire_http_header_cb(char *data, size_t size, size_t nmemb, void *head)
{
	quire_http_head_line(head, data, size * nmemb);
	return size * nmemb;
}

void quire_http_head_text(struct quire_http_head *hd, const char *text, size_t len)
{
	for (size_t at = 0, n; at < len; at += n) {
		const char *nl = memchr(text + at, '\n', len - at);
		n = nl ? (size_t)(nl - text - at) + 1 : len - at;
		quire_http_head_line(hd, text + at, n);
	}
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void global_init(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int quire_http_init(char *msg, size_t msglen)
{
	pthread_once(&once, global_init);
	if (init_rc == CURLE_OK)
		return 0;
	snprintf(msg, msglen, "libcurl failed to start: %s", curl_easy_strerror(init_rc));
	return -1;
}

void quire_http_setup(CURL *h, const char *url, const char *user_agent, char *errbuf)
{
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "127.0.0.1,localhost");
	curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

int quire_http_curl_transient(CURLcode e)
{
	switch (e) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

int quire_http_status_transient(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

const char *quire_http_reason(long code)
{
	static const struct {
		long code;
		const char *text;
	} phrases[] = {
		{ 400, "Bad Request" },	      { 401, "Unauthorized" },
		{ 403, "Forbidden" },	      { 404, "Not Found" },
		{ 408, "Request Timeout" },   { 409, "Conflict" },
		{ 413, "Payload Too Large" }, { 422, "Unprocessable Entity" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" },	      { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].code == code)
			return phrases[i].text;
	return "";
}

void quire_http_snippet(char *dst, size_t cap, const char *src, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < len && k + 1 < cap && k < 200; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[k++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	if (cap)
		dst[k] = '\0';
}
