/* The registry of provider types, with the ABI version check. */
#include <string.h>

#include "quire-provider.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/provider.h"

#define MAX_PROVIDERS 64

static const struct quire_provider *registry[MAX_PROVIDERS];
static int nregistry;

int quire_provider_register(const struct quire_provider *vt)
{
	if (!vt || !vt->name || !vt->produce)
		return quire_error_set(QUIRE_EINVALID, "provider has no name or produce function");
	if (vt->abi != QUIRE_PROVIDER_ABI)
		return quire_error_set(QUIRE_EINVALID,
				       "provider '%s' was built for ABI version %u, this quire speaks %u",
				       vt->name, vt->abi, QUIRE_PROVIDER_ABI);
	if (quire_provider_find(vt->name))
		return quire_error_set(QUIRE_EEXISTS, "provider '%s' is already registered", vt->name);
	if (nregistry == MAX_PROVIDERS)
		return quire_error_set(QUIRE_EINVALID, "too many providers");
	registry[nregistry++] = vt;
	return 0;
}

const struct quire_provider *quire_provider_find(const char *name)
{
	for (int i = 0; i < nregistry; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

char *quire_provider_names(void)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	for (int i = 0; i < nregistry; i++)
		quire_buf_printf(&b, "%s%s", i ? ", " : "", registry[i]->name);
	return quire_buf_detach(&b, NULL);
}
