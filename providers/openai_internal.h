/* Internal: what the openai provider's files share. openai.c holds the provider (its
 * parameters, one HTTP exchange, produce and check); openai_answer.c what an answer means
 * (a JSON document or an event stream, errors, usage, the output written). */
#ifndef QUIRE_PROVIDERS_OPENAI_INTERNAL_H
#define QUIRE_PROVIDERS_OPENAI_INTERNAL_H

#include <stdatomic.h>
#include <time.h>
#include <jansson.h>

#include "http.h"
#include "quire-provider.h"

#define BODY_CAP ((size_t)32 << 20) /* a whole response, or an error body */
#define LINE_CAP ((size_t)4 << 20)  /* one SSE line */

struct openai {
	char *base_url; /* without a trailing slash */
	char *model;
	char *secret; /* NULL for servers that need no key */
	char *system;
	double temperature;
	int has_temperature;
	long long max_tokens; /* 0: not sent */
	long timeout_s;
	int stream;
	volatile int cancelled;
};

/* One HTTP exchange: what came back, and how the stream was doing when it stopped. */
struct xfer {
	struct openai *o;
	CURL *h;
	const struct quire_provider_request *rq; /* NULL for check() */
	int want_stream;
	int mode; /* 0 undecided, 1 server-sent events, 2 plain body */
	struct quire_http_buf body, line, content;
	char *id, *model, *finish;
	long long tokens_in, tokens_out, chunks;
	int have_usage, done;
	struct quire_http_head head; /* the reason phrase, Retry-After */
	char fault[512];	     /* why the write callback stopped the transfer */
	int fault_transient;
	long status;	      /* the HTTP status */
	long timeout_s;	      /* longest silence allowed */
	long long seen;	      /* bytes moved so far, to notice silence */
	struct timespec last; /* when bytes last moved */
	int timed_out, aborted;
};

/* Describes an HTTP error status with the server's message; returns whether a retry may
 * help (quire_http_status_transient: 408, 429 and 5xx, except a 429 that means the account is
 * out of quota). */
int quire_oa__http_error(const struct xfer *x, char *out, size_t outlen);

/* Describes a transfer that did not complete; returns whether a retry may help. */
int quire_oa__transfer_error(const struct xfer *x, CURLcode rc, const char *url, const char *errbuf,
			     char *out, size_t outlen);

/* What a finished exchange means for the generation: the HTTP status, the error, the body or
 * the stream read; the content written to the output. 0 when it produced. */
int quire_oa__conclude(struct xfer *x, CURLcode cc, const char *url, const char *errbuf,
		       int is_json, struct quire_provider_response *rs);

/* The body ended: a last event without its newline counts. -1 to fail the transfer. */
int quire_oa__end_body(struct xfer *x);

/* n bytes of the body, once the mode is known; -1 to stop the transfer. */
int quire_oa__take_body(struct xfer *x, const char *data, size_t n);

#endif
