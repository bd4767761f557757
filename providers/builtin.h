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

#endif
