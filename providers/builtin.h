/* The providers built into quire. Not part of the plugin ABI (quire-provider.h): a plugin
 * never names them. */
#ifndef QUIRE_PROVIDERS_BUILTIN_H
#define QUIRE_PROVIDERS_BUILTIN_H

#include "quire-provider.h"

extern const struct quire_provider quire_provider_mock;
extern const struct quire_provider quire_provider_exec;
extern const struct quire_provider quire_provider_external;
extern const struct quire_provider quire_provider_openai;
extern const struct quire_provider quire_provider_replicate;

/* Registers every built-in provider and the runner of external ones (quire-provider-NAME
 * programs). 0, or a QUIRE_E* code with the message set. */
int quire_providers_builtin_register(void);

/* Leaves the raw answer in rq's scratch directory (QUIRE_RESPONSE_FILE) for the call's
 * record; best effort: a call is not failed for its record. */
void quire__provider_save_response(const struct quire_provider_request *rq, const void *data,
				   size_t len);

#endif
