/* Provider registry: built-in providers, shared-module plugins and external executables,
 * checked against the ABI version. */
#ifndef QUIRE_PROVIDER_REGISTRY_H
#define QUIRE_PROVIDER_REGISTRY_H

struct quire_provider;

/* Registers a provider type (a const vtable that must outlive every run). QUIRE_EINVALID when
 * it was built for another ABI version or lacks produce; QUIRE_EEXISTS for a taken name. */
int quire_provider_register(const struct quire_provider *vt);

/* Sets the adapter that serves external executables (quire-provider-NAME on PATH). */
void quire_provider_set_external(const struct quire_provider *vt);

/* The provider registered under name, or NULL (no plugin or PATH search). */
const struct quire_provider *quire_provider_find(const char *name);

/* Resolves a binding's provider name, in order: a registered (built-in) provider; a shared
 * module quire-provider-NAME.so in $QUIRE_PLUGIN_PATH (colon-separated) then the install's
 * plugin directory, loaded with dlopen and asked for NAME through quire_provider_entry; an
 * executable quire-provider-NAME on $PATH, served by the external adapter (*program is then
 * its path). *where (malloc'd, may be NULL) says which: "built-in", the module's or the
 * program's path. QUIRE_ENOTFOUND when none has it; QUIRE_EINVALID for a module built for
 * another ABI. */
int quire_provider_resolve(const char *name, const struct quire_provider **vt, char **program,
			   char **where);

/* Every provider a role could bind, in the order resolve tries them: [{"name", "kind":
 * "built-in" | "module" | "program", "path"?}]. Modules are named from their file
 * (quire-provider-NAME.so on QUIRE_PLUGIN_PATH and in the install's plugin directory) without
 * being loaded; a name found twice is listed where resolve would find it first. */
struct json_t;
struct json_t *quire_provider_available(void);

/* Names of the registered providers, for messages: ", "-separated, malloc'd. */
char *quire_provider_names(void);

#endif
