/* The registry of provider types: built-ins, dlopen'd plugins and external executables. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "quire-config.h"
#include "quire-provider.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/provider.h"
#include "util.h"

#define MAX_PROVIDERS 64

static const struct quire_provider *registry[MAX_PROVIDERS];
static char *origin[MAX_PROVIDERS]; /* NULL for built-ins, the module path for plugins */
static int nregistry;
static const struct quire_provider *external_adapter;

static int add(const struct quire_provider *vt, const char *from)
{
	if (!vt || !vt->name || !vt->produce)
		return quire_error_set(QUIRE_EINVALID, "provider has no name or produce function");
	if (vt->abi < QUIRE_PROVIDER_ABI_MIN || vt->abi > QUIRE_PROVIDER_ABI)
		return quire_error_set(QUIRE_EINVALID,
				       "provider '%s'%s%s was built for ABI version %u, this quire "
				       "speaks %u to %u",
				       vt->name, from ? " in " : "", from ? from : "", vt->abi,
				       QUIRE_PROVIDER_ABI_MIN, QUIRE_PROVIDER_ABI);
	if (quire_provider_find(vt->name))
		return quire_error_set(QUIRE_EEXISTS, "provider '%s' is already registered",
				       vt->name);
	if (nregistry == MAX_PROVIDERS)
		return quire_error_set(QUIRE_EINVALID, "too many providers");
	origin[nregistry] = from ? quire__xstrdup(from) : NULL;
	registry[nregistry++] = vt;
	return 0;
}

int quire_provider_register(const struct quire_provider *vt)
{
	return add(vt, NULL);
}

void quire_provider_set_external(const struct quire_provider *vt)
{
	external_adapter = vt;
}

const struct quire_provider *quire_provider_find(const char *name)
{
	for (int i = 0; i < nregistry; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

static int origin_of(const char *name, char **where)
{
	for (int i = 0; i < nregistry; i++)
		if (!strcmp(registry[i]->name, name)) {
			*where = quire__xstrdup(origin[i] ? origin[i] : "built-in");
			return 1;
		}
	return 0;
}

/* Tries dir/quire-provider-NAME.so; 1 when it provided (and registered) NAME. */
static int try_module(const char *dir, const char *name, int *err)
{
	char *path = quire__xasprintf("%s/quire-provider-%s.so", dir, name);
	int found = 0;
	if (access(path, R_OK) != 0)
		goto out;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*err = quire_error_set(QUIRE_EINVALID, "cannot load provider module '%s': %s", path,
				       dlerror());
		goto out;
	}
	quire_provider_entry_fn entry;
	*(void **)&entry = dlsym(h, QUIRE_PROVIDER_ENTRY);
	const struct quire_provider *vt = entry ? entry(name) : NULL;
	if (!vt) {
		*err = quire_error_set(
			QUIRE_EINVALID,
			"provider module '%s' has no provider '%s' (it must export %s)", path, name,
			QUIRE_PROVIDER_ENTRY);
		dlclose(h);
		goto out;
	}
	/* Modules stay loaded for the life of the process: their vtables are referenced. */
	if ((*err = add(vt, path)) == 0)
		found = 1;
	else
		dlclose(h);
out:
	free(path);
	return found;
}

/* Calls fn(dir, ud) for each entry of a colon-separated list (an empty one as "": PATH reads
 * it as ".", module paths skip it, never loading code from wherever quire was started)
 * until it returns nonzero; that value, else 0. */
static int each_dir(const char *dirs, int (*fn)(const char *dir, void *ud), void *ud)
{
	if (!dirs)
		return 0;
	char *copy = quire__xstrdup(dirs);
	int r = 0;
	for (char *d = copy; d && !r;) {
		char *colon = strchr(d, ':');
		if (colon)
			*colon = '\0';
		r = fn(d, ud);
		d = colon ? colon + 1 : NULL;
	}
	free(copy);
	return r;
}

struct module_search {
	const char *name;
	int err;
};

static int module_in(const char *dir, void *ud)
{
	struct module_search *m = ud;
	return *dir && (try_module(dir, m->name, &m->err) || m->err);
}

static int search_modules(const char *name, int *err)
{
	struct module_search m = { name, 0 };
	const char *env = getenv("QUIRE_PLUGIN_PATH");
	int found = env && *env && each_dir(env, module_in, &m);
	if (!found && !m.err)
		found = module_in(QUIRE_PLUGINDIR, &m);
	*err = m.err;
	return found && !m.err;
}

struct program_search {
	const char *name;
	char *found;
};

static int program_in(const char *dir, void *ud)
{
	struct program_search *s = ud;
	char *p = quire__xasprintf("%s/quire-provider-%s", *dir ? dir : ".", s->name);
	if (access(p, X_OK) == 0)
		s->found = p;
	else
		free(p);
	return s->found != NULL;
}

static char *search_path(const char *name)
{
	struct program_search s = { name, NULL };
	each_dir(getenv("PATH"), program_in, &s);
	return s.found;
}

int quire_provider_resolve(const char *name, const struct quire_provider **vt, char **program,
			   char **where)
{
	*vt = NULL;
	*program = NULL;
	if (where)
		*where = NULL;
	if ((*vt = quire_provider_find(name))) {
		if (where)
			origin_of(name, where);
		return 0;
	}
	int err = 0;
	if (search_modules(name, &err)) {
		*vt = quire_provider_find(name);
		if (where)
			origin_of(name, where);
		return 0;
	}
	if (err)
		return err;
	char *exe = external_adapter ? search_path(name) : NULL;
	if (exe) {
		*vt = external_adapter;
		*program = exe;
		if (where)
			*where = quire__xstrdup(exe);
		return 0;
	}
	char *names = quire_provider_names();
	err = quire_error_set(QUIRE_ENOTFOUND,
			      "no provider '%s': not built in (%s), no quire-provider-%s.so on "
			      "QUIRE_PLUGIN_PATH or in " QUIRE_PLUGINDIR
			      ", no quire-provider-%s on PATH",
			      name, names, name, name);
	free(names);
	return err;
}

static int listed(const json_t *a, const char *name)
{
	size_t k;
	json_t *v;
	json_array_foreach(a, k, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			return 1;
	return 0;
}

/* Adds the names in dir of files "quire-provider-NAME" + suffix (executables when program). */
static void list_dir(json_t *a, const char *dir, const char *suffix, const char *kind, int program)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t sl = strlen(suffix);
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		if (strncmp(n, "quire-provider-", 15) || len <= 15 + sl ||
		    strcmp(n + len - sl, suffix))
			continue;
		char *name = quire__xstrndup(n + 15, len - 15 - sl);
		char *path = quire__xasprintf("%s/%s", dir, n);
		if (quire__is_ident(name, strlen(name)) && !listed(a, name) &&
		    (!program || access(path, X_OK) == 0))
			json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", name, "kind",
							   kind, "path", path));
		free(name);
		free(path);
	}
	closedir(d);
}

struct listing {
	json_t *a;
	const char *suffix, *kind;
	int program;
};

static int list_in(const char *dir, void *ud)
{
	struct listing *l = ud;
	if (*dir || l->program)
		list_dir(l->a, *dir ? dir : ".", l->suffix, l->kind, l->program);
	return 0;
}

json_t *quire_provider_available(void)
{
	json_t *a = json_array();
	for (int i = 0; i < nregistry; i++)
		json_array_append_new(
			a, origin[i] ? json_pack("{s:s,s:s,s:s}", "name", registry[i]->name, "kind",
						 "module", "path", origin[i])
				     : json_pack("{s:s,s:s}", "name", registry[i]->name, "kind",
						 "built-in"));
	struct listing modules = { a, ".so", "module", 0 }, programs = { a, "", "program", 1 };
	each_dir(getenv("QUIRE_PLUGIN_PATH"), list_in, &modules);
	list_dir(a, QUIRE_PLUGINDIR, ".so", "module", 0);
	if (external_adapter)
		each_dir(getenv("PATH"), list_in, &programs);
	return a;
}

char *quire_provider_names(void)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	for (int i = 0; i < nregistry; i++)
		if (!origin[i])
			quire_buf_printf(&b, "%s%s", b.len ? ", " : "", registry[i]->name);
	return quire_buf_detach(&b, NULL);
}
