/* Format-2 revisions read through the manifest module: a revision name is format 2's when
 * its pack, .quire/revs/<name>.objects, is on disk and no format-1 manifest has the name.
 * What is read is given the shape format 1's manifests have in memory ("parent", "parents"
 * only for a merge, "format" 1), so every reader of a revision reads either form. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quire/error.h"
#include "quire/manifest.h"
#include "manifest_internal.h"
#include "objects.h"
#include "util.h"

int quire__rev2_here(const char *qdir, const char *rev)
{
	if (!quire_rev_is_digest(rev))
		return 0;
	char *path = quire__xasprintf("%s/revs/%s.objects", qdir, rev);
	int here = access(path, F_OK) == 0;
	free(path);
	return here;
}

/* m (quire_rev2_read's) in format 1's shape (its alias kept with keep_alias). */
static void shape(json_t *m, int keep_alias)
{
	const json_t *ps = json_object_get(m, "parents");
	json_object_set(m, "parent", json_array_size(ps) ? json_array_get(ps, 0) : json_null());
	if (json_array_size(ps) < 2)
		json_object_del(m, "parents");
	json_object_del(m, "generation");
	if (!keep_alias)
		json_object_del(m, "alias");
	json_object_set_new(m, "format", json_integer(MANIFEST_FORMAT));
}

int quire__rev2_objs(const char *qdir, struct quire_objs **o)
{
	return *o ? 0 : quire_objs_open(qdir, o);
}

int quire__rev2_read(const char *qdir, struct quire_objs **o, const char *rev, int parts,
		     json_t **out, long long *entries)
{
	*out = NULL;
	int err = quire__rev2_objs(qdir, o);
	if (!err)
		err = quire_rev2_read(*o, rev, parts & QUIRE_REV2_ALL, out, entries);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ECORRUPT,
				      ".quire/revs/%s.objects does not hold its revision (a "
				      "damaged pack: restore it from git, 'git checkout -- "
				      ".quire/revs/'; 'quire fsck' lists what else is damaged)",
				      rev);
	if (!err)
		shape(*out, parts & QUIRE__REV2_ALIAS);
	return err;
}

int quire__rev2_load(const char *qdir, const char *rev, json_t **out)
{
	struct quire_objs *o = NULL;
	int err = quire__rev2_read(qdir, &o, rev, QUIRE_REV2_ALL, out, NULL);
	quire_objs_free(o);
	return err;
}

int quire__rev2_head(const char *qdir, const char *rev, json_t **out, long long *n)
{
	struct quire_objs *o = NULL;
	int err = quire__rev2_read(qdir, &o, rev, QUIRE_REV2_INPUTS, out, n);
	quire_objs_free(o);
	return err;
}

int quire__rev2_verify(const char *qdir, const char *rev)
{
	struct quire_objs *o = NULL;
	json_t *m = NULL;
	/* Reading an object verifies its bytes against its name. */
	int err = quire__rev2_read(qdir, &o, rev, 0, &m, NULL);
	json_decref(m);
	quire_objs_free(o);
	return err;
}

void quire__rev2_list(const char *qdir, char ***names, size_t *n, size_t *alloc)
{
	char *dir = quire__xasprintf("%s/revs", qdir);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return;
	struct dirent *e;
	/* A pack's first part is <name>.objects; the later ones <name>.N.objects. */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len != 64 + strlen(".objects") || strcmp(e->d_name + 64, ".objects"))
			continue;
		char *name = quire__xstrndup(e->d_name, 64);
		if (!quire_rev_is_digest(name)) {
			free(name);
			continue;
		}
		QUIRE_GROW(*names, *alloc, *n + 1);
		(*names)[(*n)++] = name;
	}
	closedir(d);
}

struct alias_find {
	const char *spec;
	size_t len;
	char *hit;
	size_t hits;
};

static int alias_visit(void *ud, const struct quire_rev2_info *r)
{
	struct alias_find *f = ud;
	if (r->alias && !strncmp(r->alias, f->spec, f->len) &&
	    (quire_rev_is_digest(r->alias) || !r->alias[f->len]) && f->hits++ == 0)
		f->hit = quire__xstrdup(r->name);
	return 0;
}

int quire__rev2_alias(const char *qdir, const char *spec, char **rev, size_t *hits)
{
	*rev = NULL;
	*hits = 0;
	char *dir = quire__xasprintf("%s/revs", qdir);
	int none = access(dir, F_OK) != 0;
	free(dir);
	if (none)
		return 0;
	struct quire_objs *o = NULL;
	struct alias_find f = { spec, strlen(spec), NULL, 0 };
	int err = quire_objs_open(qdir, &o);
	if (!err)
		err = quire_objs_revisions(o, alias_visit, &f);
	quire_objs_free(o);
	if (err || f.hits != 1) {
		free(f.hit);
		f.hit = NULL;
	}
	*rev = f.hit;
	*hits = f.hits;
	return err;
}
