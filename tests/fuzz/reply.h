/* What the provider harnesses share: a progress callback, and the checks of a response. */
#ifndef QUIRE_FUZZ_REPLY_H
#define QUIRE_FUZZ_REPLY_H

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "providers/parse.h"
#include "quire-provider.h"

static inline void fuzz_progress(void *ud, long long units, const char *unit)
{
	(void)ud;
	(void)units;
	(void)unit;
}

/* An HTTP answer from the harness's input after its two leading bytes: the header lines, a
 * NUL, then the body; without a NUL, all of it is the body. */
static inline void fuzz_http_answer(const uint8_t *data, size_t size, const char **headers,
				    size_t *hlen, const char **body, size_t *blen)
{
	*hlen = fuzz_split(data, size, body, blen);
	*headers = (const char *)data;
	if (!*body) {
		*body = *headers;
		*blen = *hlen;
		*hlen = 0;
	}
}

/* What the core relies on in a provider's response: meta empty or a JSON object, and (from
 * the HTTP providers, which cap it) no retry put off beyond ten minutes. A breach aborts,
 * which libFuzzer reports as a crash. */
static inline void fuzz_check_response(const struct quire_provider_response *rs, int capped)
{
	json_t *meta = rs->meta[0] ? json_loads(rs->meta, 0, NULL) : NULL;
	int bad = (rs->meta[0] && !json_is_object(meta)) ||
		  (capped && (rs->retry_after_ms < 0 || rs->retry_after_ms > 600000));
	json_decref(meta);
	if (bad) {
		fprintf(stderr, "fuzz: meta '%s', retry_after_ms %ld\n", rs->meta,
			rs->retry_after_ms);
		abort();
	}
}

#endif
