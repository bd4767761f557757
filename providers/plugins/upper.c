/* Example provider module, loaded with dlopen: "upper" writes the prompt in capitals. It shows
 * the whole plugin contract: one exported entry point returning a const vtable. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "quire-provider.h"

static int upper_produce(void *ctx, const struct quire_provider_request *rq,
			 struct quire_provider_response *rs)
{
	(void)ctx;
	FILE *f = fopen(rq->output_path, "wb");
	if (!f) {
		snprintf(rs->diag, sizeof(rs->diag), "upper: cannot write the output");
		return -1;
	}
	for (size_t i = 0; i < rq->prompt_len; i++)
		fputc(toupper((unsigned char)rq->prompt[i]), f);
	fclose(f);
	snprintf(rs->meta, sizeof(rs->meta), "{\"plugin\":\"upper\"}");
	return 0;
}

static const struct quire_provider upper = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "upper",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.produce = upper_produce,
};

/* The symbol quire looks up after dlopen (QUIRE_PROVIDER_ENTRY). */
const struct quire_provider *quire_provider_entry(const char *name);
const struct quire_provider *quire_provider_entry(const char *name)
{
	return strcmp(name, "upper") == 0 ? &upper : NULL;
}
