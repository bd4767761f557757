/* Internal: what the built-in providers make of a provider's answer, without a process or a
 * network. Each runs the provider's own code from the point where the bytes arrive (the
 * reading, the parsing, the messages, the output written to rq->output_path); the fuzzers
 * (tests/fuzz) call them. Each returns what produce() would: 0 when it produced, else -1
 * with rs->diag (and rs->transient) set. */
#ifndef QUIRE_PROVIDERS_PARSE_H
#define QUIRE_PROVIDERS_PARSE_H

#include <stddef.h>

struct quire_provider_request;
struct quire_provider_response;

/* The external provider's stdout (out, len bytes, read chunk bytes at a time; 0: at once)
 * and stderr (err, errlen bytes) from a program that then ended with wait status `status`. */
int quire_external__reply(const struct quire_provider_request *rq,
			  struct quire_provider_response *rs, const char *out, size_t len,
			  size_t chunk, const char *err, size_t errlen, int status);

/* The openai provider's HTTP response: `status`, the header lines (headers, hlen bytes, each
 * ending in a newline), then the body (server-sent events when `events`, else one JSON
 * document) read chunk bytes at a time (0: at once). */
int quire_openai__reply(const struct quire_provider_request *rq, struct quire_provider_response *rs,
			long status, int events, const char *headers, size_t hlen, const char *body,
			size_t blen, size_t chunk);

/* The replicate provider's HTTP reply to creating a prediction (or, with poll, to polling
 * one): `status`, header lines, body. A succeeded prediction's text or json output is written
 * (a file output's URL is looked for, never fetched); one still running is a transient
 * failure. */
int quire_replicate__reply(const struct quire_provider_request *rq,
			   struct quire_provider_response *rs, long status, int poll,
			   const char *headers, size_t hlen, const char *body, size_t blen);

#endif
