/* The openai provider (issue 3: being written). */
#include <stdio.h>

#include "quire-provider.h"

static int openai_init(void **ctx, const struct quire_provider_config *cfg, char *err,
		      size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	*ctx = NULL;
	return 0;
}

static int openai_produce(void *ctx, const struct quire_provider_request *rq,
			 struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	snprintf(rs->diag, sizeof(rs->diag), "the openai provider is not available yet");
	return -1;
}

const struct quire_provider quire_provider_openai = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "openai",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.init = openai_init,
	.produce = openai_produce,
};
