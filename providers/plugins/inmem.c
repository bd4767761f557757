/* Test provider module "inmem": answers in memory (QUIRE_PROVIDER_IN_MEMORY) with the prompt
 * as it was given, in a buffer of exactly its length (no terminating NUL, so a reader that
 * runs past it is caught by the sanitizers). A prompt starting "none" answers nothing; one
 * holding "CUT" says the answer was cut off. Fails when it is handed any file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire-provider.h"

static int inmem_produce(void *ctx, const struct quire_provider_request *rq,
			 struct quire_provider_response *rs)
{
	(void)ctx;
	if (rq->prompt_path || rq->output_path || rq->scratch_dir) {
		snprintf(rs->diag, sizeof(rs->diag), "inmem: was handed a file");
		return -1;
	}
	rs->tokens_in = (long long)rq->prompt_len;
	rs->tokens_out = 1;
	if (rq->prompt_len >= 4 && !memcmp(rq->prompt, "none", 4))
		return 0;
	if (memmem(rq->prompt, rq->prompt_len, "CUT", 3))
		snprintf(rs->meta, sizeof(rs->meta), "{\"truncated\":true}");
	rs->output = malloc(rq->prompt_len ? rq->prompt_len : 1);
	if (!rs->output) {
		snprintf(rs->diag, sizeof(rs->diag), "inmem: out of memory");
		return -1;
	}
	memcpy(rs->output, rq->prompt, rq->prompt_len);
	rs->output_len = rq->prompt_len;
	return 0;
}

static const struct quire_provider inmem = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "inmem",
	.flags = QUIRE_PROVIDER_THREADSAFE | QUIRE_PROVIDER_IN_MEMORY,
	.produce = inmem_produce,
};

const struct quire_provider *quire_provider_entry(const char *name);
const struct quire_provider *quire_provider_entry(const char *name)
{
	return strcmp(name, "inmem") == 0 ? &inmem : NULL;
}
