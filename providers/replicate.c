/* The replicate provider (issue 3: being written). */
#include <stdio.h>

#include "quire-provider.h"

static int replicate_init(void **ctx, const struct quire_provider_config *cfg, char *err,
		      size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	*ctx = NULL;
	return 0;
}

static int replicate_produce(void *ctx, const struct quire_provider_request *rq,
			 struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	snprintf(rs->diag, sizeof(rs->diag), "the replicate provider is not available yet");
	return -1;
}

const struct quire_provider quire_provider_replicate = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "replicate",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.init = replicate_init,
	.produce = replicate_produce,
};
