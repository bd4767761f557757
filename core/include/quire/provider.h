/* Provider registry: the providers the core can bind roles to, checked against the ABI. */
#ifndef QUIRE_PROVIDER_REGISTRY_H
#define QUIRE_PROVIDER_REGISTRY_H

struct quire_provider;

/* Registers a provider type (a const vtable that must outlive every run). QUIRE_EINVALID when
 * it was built for another ABI version or lacks produce; QUIRE_EEXISTS for a taken name. */
int quire_provider_register(const struct quire_provider *vt);

/* The provider registered under name, or NULL. */
const struct quire_provider *quire_provider_find(const char *name);

/* Names of the registered providers, for messages: ", "-separated, malloc'd. */
char *quire_provider_names(void);

#endif
