/* The HTTP plumbing the HTTP providers share (openai, replicate; a plugin may compile it in):
 * a capped buffer, libcurl's one-time set-up and the options every request takes, reading a
 * response's status line and Retry-After headers, and one policy for what is worth a retry.
 * libcurl comes through curl-lazy.h, loaded on first use. */
#ifndef QUIRE_PROVIDERS_HTTP_H
#define QUIRE_PROVIDERS_HTTP_H

#include <stddef.h>

#include "curl-lazy.h"

/* Never sleep longer than this on a server's word (Retry-After, retry-after-ms). */
#define QUIRE_HTTP_RETRY_AFTER_CAP_MS (600L * 1000)

/* A growable buffer with a size cap, NUL-terminated once anything was added. */
struct quire_http_buf {
	char *p;
	size_t len, alloc, cap;
	int over; /* an add would have passed cap (what came before is kept) */
};

/* Appends n bytes: 0, or -1 when they would pass the cap (over is set) or memory ran out. */
int quire_http_buf_add(struct quire_http_buf *b, const char *s, size_t n);
void quire_http_buf_free(struct quire_http_buf *b);

/* What a response's header lines said: the status line's reason phrase and how long the
 * server asks to wait before a retry (retry-after-ms wins over Retry-After, seconds or an
 * HTTP date; both capped). A new status line (after 100 Continue) starts afresh. */
struct quire_http_head {
	char reason[64];
	long retry_after_ms;
};

/* Takes one header line (n bytes, with or without its CRLF) into hd. */
void quire_http_head_line(struct quire_http_head *hd, const char *line, size_t n);

/* libcurl's header callback: CURLOPT_HEADERDATA is the struct quire_http_head to fill. */
size_t quire_http_header_cb(char *data, size_t size, size_t nmemb, void *head);

/* Takes header lines given as text (each ending in a newline; the last may not), as a
 * transfer would: for the reply parsers that run without a server. */
void quire_http_head_text(struct quire_http_head *hd, const char *text, size_t len);

/* libcurl's global set-up, once per process: 0, or -1 with msg set. */
int quire_http_init(char *msg, size_t msglen);

/* The options every request takes: url, http and https only (redirects too), no signals,
 * no proxy for 127.0.0.1 and localhost, the user agent, the error buffer
 * (CURL_ERROR_SIZE bytes, cleared here). */
void quire_http_setup(CURL *h, const char *url, const char *user_agent, char *errbuf);

/* Whether a transfer that failed with e may succeed if tried again (timeouts, resets,
 * refused or unresolved connections, a failed TLS handshake, HTTP/2 stream errors). */
int quire_http_curl_transient(CURLcode e);

/* Whether an HTTP status is worth a retry: 408, 429 and 5xx. A provider may refine a 429
 * (openai: "insufficient_quota" is not). */
int quire_http_status_transient(long status);

/* A reason phrase for the statuses providers meet (HTTP/2 status lines carry none), or "". */
const char *quire_http_reason(long status);

/* The start of an unexpected body on one line, for a message: at most 200 bytes, control
 * characters as spaces (bytes of UTF-8 text are kept; the core scrubs what is not valid). */
void quire_http_snippet(char *dst, size_t cap, const char *src, size_t len);

#endif
