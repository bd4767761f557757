/* Revision names, the current pointer, and loading a manifest (manifest_internal.h says
 * where the rest of the module is). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "json.h"
#include "quire/manifest.h"
#include "manifest_internal.h"
#include "manifest_parse.h"
#include "objects.h"
#include "util.h"

void quire_rev_format(long n, char *out, size_t outlen)
{
	snprintf(out, outlen, "rev-%04ld", n);
}

long quire_rev_parse(const char *s)
{
	if (!strncmp(s, "rev-", 4))
		s += 4;
	if (!*s || strlen(s) > 9)
		return -1;
	long n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n;
}

int quire_rev_is_digest(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

int quire_rev_valid(const char *s)
{
	return quire_rev_is_digest(s) || (!strncmp(s, "rev-", 4) && quire_rev_parse(s) >= 0);
}

/* A line git leaves in a conflicted file: "<<<<<<< ours", "=======", ">>>>>>> theirs",
 * "||||||| base". */
static int conflict_marker(const char *s, size_t n)
{
	if (n < 7)
		return 0;
	for (const char *m = "<=>|"; *m; m++)
		if (!strncmp(s, (char[8]){ *m, *m, *m, *m, *m, *m, *m, 0 }, 7))
			return 1;
	return 0;
}

int quire_manifest_head_list(const char *qdir, char ***heads, size_t *nheads)
{
	*heads = NULL;
	*nheads = 0;
	char *path = quire__xasprintf("%s/current", qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 1u << 20);
	free(path);
	if (err == QUIRE_ENOTFOUND) {
		quire_buf_release(&b);
		quire_error_clear();
		return 0;
	}
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	char **list = NULL;
	size_t n = 0, alloc = 0;
	for (char *line = b.ptr, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		size_t len = strlen(line);
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		/* Blank lines, and the markers of a merge made without the union driver (the
		 * lines between them are heads all the same). */
		if (!len || conflict_marker(line, len))
			continue;
		if (!quire_rev_valid(line)) {
			/* The message is made before the text it quotes is freed. */
			err = quire_error_set(
				QUIRE_ECORRUPT,
				".quire/current does not name a revision ('%.40s' is not a "
				"revision name: restore it from git, 'git checkout -- "
				".quire/current', or write the newest revision's name into it)",
				line);
			for (size_t k = 0; k < n; k++)
				free(list[k]);
			free(list);
			quire_buf_release(&b);
			return err;
		}
		int seen = 0;
		for (size_t k = 0; k < n && !seen; k++)
			seen = !strcmp(list[k], line);
		if (!seen) {
			QUIRE_GROW(list, alloc, n + 1);
			list[n++] = quire__xstrdup(line);
		}
	}
	quire_buf_release(&b);
	*heads = list;
	*nheads = n;
	return 0;
}

/* quire_manifest_parents with a handle on the objects (opened when first needed) that a walk
 * keeps from one revision to the next. */
static int parents_of(const char *qdir, struct quire_objs **o, const char *rev, char *parents[2],
		      size_t *n)
{
	parents[0] = parents[1] = NULL;
	*n = 0;
	json_t *h = NULL;
	long long narts;
	/* A format-2 revision's own object says them. */
	int err = quire__rev2_here(qdir, rev) ? quire__rev2_read(qdir, o, rev, 0, &h, NULL)
					      : quire_manifest_head(qdir, rev, &h, &narts);
	if (err)
		return err;
	const json_t *list = json_object_get(h, "parents");
	const char *first = json_string_value(json_object_get(h, "parent"));
	if (first)
		parents[(*n)++] = quire__xstrdup(first);
	for (size_t k = 0; k < json_array_size(list) && *n < 2; k++) {
		const char *p = json_string_value(json_array_get(list, k));
		if (p && (!first || strcmp(p, first)))
			parents[(*n)++] = quire__xstrdup(p);
	}
	json_decref(h);
	return 0;
}

int quire_manifest_parents(const char *qdir, const char *rev, char *parents[2], size_t *n)
{
	struct quire_objs *o = NULL;
	int err = parents_of(qdir, &o, rev, parents, n);
	quire_objs_free(o);
	return err;
}

int quire_manifest_walk(const char *qdir, const char *from, int (*visit)(void *ud, const char *rev),
			void *ud)
{
	/* Breadth first, every revision at most once; a parent that cannot be read ends its
	 * line (a clone missing a revision, a damaged file). */
	json_t *seen = json_object(), *queue = json_array();
	json_object_set_new(seen, from, json_true());
	json_array_append_new(queue, json_string(from));
	int stop = 0;
	struct quire_objs *o = NULL;
	for (size_t at = 0; at < json_array_size(queue) && !stop; at++) {
		const char *r = json_string_value(json_array_get(queue, at));
		if ((stop = visit(ud, r)))
			break;
		char *ps[2];
		size_t np = 0;
		if (parents_of(qdir, &o, r, ps, &np))
			quire_error_clear();
		for (size_t k = 0; k < np; k++) {
			if (!json_object_get(seen, ps[k])) {
				json_object_set_new(seen, ps[k], json_true());
				json_array_append_new(queue, json_string(ps[k]));
			}
			free(ps[k]);
		}
	}
	quire_objs_free(o);
	json_decref(seen);
	json_decref(queue);
	return stop;
}

static int is_rev(void *ud, const char *rev)
{
	return !strcmp(ud, rev);
}

int quire_manifest_is_ancestor(const char *qdir, const char *a, const char *b)
{
	return strcmp(a, b) && quire_manifest_walk(qdir, b, is_rev, (void *)a);
}

int quire_manifest_heads(const char *qdir, char ***heads, size_t *nheads)
{
	int err = quire_manifest_head_list(qdir, heads, nheads);
	if (err || *nheads < 2)
		return err;
	/* After a merge by git, one side may already hold the other (a clone that ran after
	 * pulling): only heads no other head descends from are lines of history. */
	char **h = *heads;
	size_t n = *nheads, kept = 0;
	for (size_t i = 0; i < n; i++) {
		int below = 0;
		for (size_t j = 0; j < n && !below; j++)
			below = j != i && h[j] && quire_manifest_is_ancestor(qdir, h[i], h[j]);
		if (below) {
			free(h[i]);
			h[i] = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (h[i])
			h[kept++] = h[i];
	*nheads = kept;
	return 0;
}

static int list_revisions(const char *qdir, int v2, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	size_t alloc = 0;
	char *dir = quire__xasprintf("%s/manifests", qdir);
	DIR *d = opendir(dir);
	free(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		char *name = quire__xstrndup(e->d_name, len - 5);
		if (!quire_rev_valid(name)) {
			free(name);
			continue;
		}
		QUIRE_GROW(*names, alloc, *n + 1);
		(*names)[(*n)++] = name;
	}
	if (d)
		closedir(d);
	if (v2)
		quire__rev2_list(qdir, names, n, &alloc);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), quire__cmp_strp);
	/* A name in both forms (a manifest kept beside its pack) once. */
	size_t kept = 0;
	for (size_t k = 0; k < *n; k++) {
		if (kept && !strcmp((*names)[kept - 1], (*names)[k]))
			free((*names)[k]);
		else
			(*names)[kept++] = (*names)[k];
	}
	*n = kept;
	return 0;
}

int quire_manifest_list(const char *qdir, char ***names, size_t *n)
{
	return list_revisions(qdir, 1, names, n);
}

int quire__manifest_list_v1(const char *qdir, char ***names, size_t *n)
{
	return list_revisions(qdir, 0, names, n);
}

int quire_manifest_current(const char *qdir, char **rev)
{
	*rev = NULL;
	char **heads;
	size_t n;
	int err = quire_manifest_heads(qdir, &heads, &n);
	if (err)
		return err;
	if (n > 1)
		err = quire_error_set(QUIRE_ECONFLICT,
				      ".quire/current names %zu lines of history (%.12s and %.12s: "
				      "a git merge of two clones that each ran): the next 'quire "
				      "run' (or edit, or rewind) merges them into one revision",
				      n, heads[0], heads[1]);
	else if (n == 1)
		*rev = heads[0];
	for (size_t k = err ? 0 : 1; k < n; k++)
		free(heads[k]);
	free(heads);
	return err;
}

json_t *quire_manifest_empty(void)
{
	return json_pack("{s:i,s:n,s:n,s:{},s:{},s:{},s:{}}", "format", MANIFEST_FORMAT, "revision",
			 "parent", "files", "inputs", "artefacts", "counts");
}

int quire_manifest_load(const char *qdir, const char *rev, json_t **out)
{
	*out = NULL;
	char name[QUIRE_REV_MAX];
	if (quire_rev_is_digest(rev))
		snprintf(name, sizeof(name), "%s", rev);
	else if (quire_rev_parse(rev) >= 0)
		quire_rev_format(quire_rev_parse(rev), name, sizeof(name));
	else
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a revision", rev);
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, name);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 1u << 30);
	if (err == QUIRE_ENOTFOUND && quire__rev2_here(qdir, name)) {
		quire_error_clear();
		err = quire__rev2_load(qdir, name, out);
	} else if (err == QUIRE_ENOTFOUND) {
		err = quire_error_set(QUIRE_ENOTFOUND, "revision %.12s does not exist", name);
	} else if (!err) {
		err = quire__manifest_parse(b.ptr, b.len, name, out);
	}
	free(path);
	quire_buf_release(&b);
	return err;
}

int quire__manifest_parse(const char *text, size_t len, const char *name, json_t **out)
{
	*out = NULL;
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	if (!m)
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/manifests/%s.json:%d:%d: %s (a damaged revision: restore "
			"it from git, 'git checkout -- .quire/manifests/%s.json'; 'quire "
			"fsck' lists what else is damaged)",
			name, je.line, je.column, je.text, name);
	if (!json_is_object(m) ||
	    json_integer_value(json_object_get(m, "format")) != MANIFEST_FORMAT ||
	    !json_is_object(json_object_get(m, "artefacts")) ||
	    !json_is_object(json_object_get(m, "inputs")) ||
	    !json_is_string(json_object_get(m, "revision")) ||
	    strcmp(json_string_value(json_object_get(m, "revision")), name)) {
		json_decref(m);
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/manifests/%s.json is not a valid manifest (a damaged "
			"revision: restore it from git, 'git checkout -- "
			".quire/manifests/%s.json'; 'quire fsck' lists what else is "
			"damaged)",
			name, name);
	}
	*out = m;
	return 0;
}

int quire_manifest_verify_name(const char *qdir, const char *rev)
{
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, rev);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, (size_t)1 << 40);
	free(path);
	if (err == QUIRE_ENOTFOUND && quire__rev2_here(qdir, rev)) {
		quire_error_clear();
		quire_buf_release(&b);
		return quire__rev2_verify(qdir, rev);
	}
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	/* The name stands once, as the top-level "revision" (two-space indentation). */
	char key[QUIRE_REV_MAX + 32];
	snprintf(key, sizeof(key), "\n  \"revision\": \"%s\"", rev);
	char *at = memmem(b.ptr, b.len, key, strlen(key));
	struct quire_digest d = { { 0 } };
	if (at) {
		memcpy(at + strlen(key) - 65, QUIRE_REV_PENDING, 64);
		quire_hash_bytes(b.ptr, b.len, &d);
	}
	quire_buf_release(&b);
	if (!at || strcmp(d.s + 7, rev))
		return quire_error_set(
			QUIRE_ECORRUPT,
			".quire/manifests/%s.json does not match its name (a damaged "
			"revision)",
			rev);
	return 0;
}

int quire_manifest_advance(const char *qdir, const char *parent, const char *rev)
{
	char **heads = NULL;
	size_t n = 0;
	int err = quire_manifest_head_list(qdir, &heads, &n);
	if (err == QUIRE_ECORRUPT) {
		quire_error_clear(); /* a damaged pointer is replaced, as before */
		err = 0;
	}
	if (err)
		return err;
	/* Another clone's head pulled in meanwhile stays: the next writer merges it. */
	struct quire_buf b = QUIRE_BUF_INIT;
	char **gone_heads = quire__xcalloc(n + 1, sizeof(*gone_heads));
	for (size_t k = 0; k < n; k++) {
		int gone = !strcmp(heads[k], rev) || (parent && !strcmp(heads[k], parent)) ||
			   (n > 1 && quire_manifest_is_ancestor(qdir, heads[k], rev));
		if (!gone)
			quire_buf_printf(&b, "%s\n", heads[k]);
		gone_heads[k] = gone ? heads[k] : quire__xstrdup("");
		if (!gone)
			free(heads[k]);
	}
	free(heads);
	quire_buf_printf(&b, "%s\n", rev);
	char *path = quire__xasprintf("%s/current", qdir);
	err = quire_fs_write_atomic(path, b.ptr, b.len, 0644);
	free(path);
	quire_buf_release(&b);
	/* A format-2 revision keeps its index only while it is a head. */
	for (size_t k = 0; !err && k < n; k++)
		if (strcmp(gone_heads[k], rev))
			quire__rev2_drop_index(qdir, gone_heads[k]);
	for (size_t k = 0; k < n; k++)
		free(gone_heads[k]);
	free(gone_heads);
	return err;
}

int quire_manifest_current_conflicted(const char *qdir)
{
	char *path = quire__xasprintf("%s/current", qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int found = 0;
	if (quire_fs_read(path, &b, 1u << 20) == 0)
		for (char *line = b.ptr; line && *line && !found; line = strchr(line, '\n')) {
			if (*line == '\n')
				line++;
			found = conflict_marker(line, strcspn(line, "\n"));
		}
	quire_error_clear();
	quire_buf_release(&b);
	free(path);
	return found;
}
