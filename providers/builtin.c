/* Registration of the built-in providers: a new provider is its file plus one line here (and
 * its file in meson.build). */
#include "builtin.h"

#include <stddef.h>
#include <stdio.h>

#include "quire/provider.h"

int quire_providers_builtin_register(void)
{
	static const struct quire_provider *const builtins[] = {
		&quire_provider_mock,
		&quire_provider_exec,
		&quire_provider_openai,
		&quire_provider_replicate,
	};
	quire_provider_set_external(&quire_provider_external);
	for (size_t k = 0; k < sizeof(builtins) / sizeof(builtins[0]); k++) {
		int err = quire_provider_register(builtins[k]);
		if (err < 0)
			return err;
	}
	return 0;
}

void quire__provider_save_response(const struct quire_provider_request *rq, const void *data,
				   size_t len)
{
	if (!rq || !rq->scratch_dir || !*rq->scratch_dir)
		return;
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s", rq->scratch_dir, QUIRE_RESPONSE_FILE) >=
	    (int)sizeof(path))
		return;
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	if (len)
		fwrite(data, 1, len, f);
	fclose(f);
}
