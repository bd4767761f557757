/* The external provider (issue 3: being written). */
#include <stdio.h>

#include "quire-provider.h"

static int external_init(void **ctx, const struct quire_provider_config *cfg, char *err,
		      size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	*ctx = NULL;
	return 0;
}

static int external_produce(void *ctx, const struct quire_provider_request *rq,
			 struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	snprintf(rs->diag, sizeof(rs->diag), "the external provider is not available yet");
	return -1;
}

const struct quire_provider quire_provider_external = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "external",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.init = external_init,
	.produce = external_produce,
};
