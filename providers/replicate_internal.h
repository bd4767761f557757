/* Internal: what the replicate provider's files share. replicate.c holds the provider (init,
 * produce, check, cancel) and a prediction's life (create, poll, cancel, resume);
 * replicate_call.c one HTTP exchange with the API; replicate_output.c what a finished
 * prediction delivers (text, JSON or a downloaded file). */
#ifndef QUIRE_PROVIDERS_REPLICATE_INTERNAL_H
#define QUIRE_PROVIDERS_REPLICATE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <jansson.h>

#include "http.h"
#include "quire-provider.h"

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

/* Whether s is an http(s) URL without blanks (an output file's address). */
int quire_rp__is_http_url(const char *s);

/* Sleeps ms in short steps; returns 1 as soon as the run is cancelled. */
int quire_rp__nap(const struct replicate *rp, const struct quire_provider_request *rq, long ms);

/* Sets the diagnostics and the transient flag; returns -1 for `return quire_rp__fail(...)`. */
int quire_rp__fail(struct quire_provider_response *rs, int transient, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Performs one request; the reply lands in c->status and c->body (or c->out for a download).
 * body_json: a POST body, or NULL for a GET (post_empty: a POST without a body). */
CURLcode quire_rp__perform(struct call *c, const char *url, const char *body_json, int post_empty,
			   long timeout_s, int download);

/* Turns a failed exchange into the response: transient for 408, 429, 5xx, timeouts and
 * resets (with Retry-After), permanent otherwise with the server's own words. */
int quire_rp__call_failed(struct quire_provider_response *rs, const struct call *c, CURLcode e,
			  const char *what);

/* A monotonic clock in milliseconds. */
int64_t quire_rp__now_ms(void);

/* Whether the run or this request was cancelled. */
int quire_rp__want_cancel(const struct replicate *rp, const struct quire_provider_request *rq);

/* Keeps a created prediction that could not be delivered, for the next attempt to resume. */
void quire_rp__pending_keep(struct replicate *rp, const char *fingerprint, struct pred *p);

/* The output of succeeded prediction done into rq->output_path: text and json from the
 * reply, a file downloaded from its URL (with fetch; without, only the URL is looked for). */
int quire_rp__deliver(struct call *c, struct quire_provider_response *rs, struct pred *p,
		      const json_t *done, int fetch);

#endif
