/* Test module built for another ABI version: quire must refuse it with a clear message. */
#include <string.h>

#include "quire-provider.h"

static int old_produce(void *ctx, const struct quire_provider_request *rq,
		       struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	(void)rs;
	return -1;
}

static const struct quire_provider old = {
	.abi = QUIRE_PROVIDER_ABI + 97,
	.name = "oldabi",
	.produce = old_produce,
};

const struct quire_provider *quire_provider_entry(const char *name);
const struct quire_provider *quire_provider_entry(const char *name)
{
	return strcmp(name, "oldabi") == 0 ? &old : NULL;
}
