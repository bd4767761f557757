/* Format 1's manifests as format 2's revisions: each manifest on disk becomes a revision
 * (its format-1 name kept as its alias) whose parents are its parents' conversions, in an
 * order where parents come first. A pure function of the manifests (nothing from the clock
 * or quire.db), so two clones that convert the same history make the same objects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/manifest.h"
#include "quire/store.h"
#include "manifest_internal.h"
#include "manifest_parse.h"
#include "objects.h"
#include "util.h"

struct conv {
	char *name;
	char *parents[2];
	size_t np;
	int done, skipped;
	int v2; /* a parent already in format 2 (rev), named by its own name or its alias */
	long long gen;
	char rev[65];
};

static struct conv *find(struct conv *c, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (!strcmp(c[k].name, name))
			return &c[k];
	return NULL;
}

/* The last manifest converted, kept for its children (a history is mostly a line). */
struct last {
	char *name;
	json_t *m;
};

/* Revision me made from its first parent's tree and the entries that differ (as a commit
 * makes it): a changed record is stored as a delta of the one it replaces. */
static int update_from(const char *qdir, struct quire_objs *o, struct last *last,
		       const struct conv *parent, const json_t *m, const struct quire_rev2_in *in,
		       char rev[65])
{
	if (!last->name || strcmp(last->name, parent->name)) {
		free(last->name);
		json_decref(last->m);
		last->name = NULL;
		last->m = NULL;
		int err = quire_manifest_load(qdir, parent->v2 ? parent->rev : parent->name,
					      &last->m);
		if (err)
			return err;
		last->name = quire__xstrdup(parent->name);
	}
	const json_t *pa = json_object_get(last->m, "artefacts"),
		     *ma = json_object_get(m, "artefacts");
	struct quire_rev2_change *ch =
		quire__xcalloc(json_object_size(pa) + json_object_size(ma) + 1, sizeof(*ch));
	size_t n = 0;
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)ma, id, e) {
		json_t *was = json_object_get(pa, id);
		if (!was || !json_equal(was, e))
			ch[n++] = (struct quire_rev2_change){ id, e };
	}
	json_object_foreach((json_t *)pa, id, e) {
		if (!json_object_get(ma, id))
			ch[n++] = (struct quire_rev2_change){ id, NULL };
	}
	int err = quire_rev2_update(o, in, parent->rev, ch, n, rev);
	free(ch);
	return err;
}

/* Converts one manifest whose parents (those on disk) are converted. */
static int convert_one(const char *qdir, struct quire_objs *o, struct conv *c, size_t n,
		       struct conv *me, struct last *last)
{
	json_t *m = NULL;
	int err = quire_manifest_load(qdir, me->name, &m);
	if (err)
		return quire_error_prefix(err, "converting %.12s: ", me->name);
	struct conv *first = NULL;
	struct quire_rev2_in in = { .manifest = m, .alias = me->name, .generation = 1 };
	for (size_t p = 0; p < me->np; p++) {
		struct conv *pc = find(c, n, me->parents[p]);
		if (!pc || pc->skipped)
			continue; /* a parent not on disk counts as none, as in the log */
		if (!in.nparents)
			first = pc;
		in.parents[in.nparents++] = pc->rev;
		if (pc->gen + 1 > in.generation)
			in.generation = pc->gen + 1;
	}
	err = first ? update_from(qdir, o, last, first, m, &in, me->rev)
		    : quire_rev2_build(o, &in, me->rev);
	if (err)
		quire_error_prefix(err, "converting %.12s: ", me->name);
	/* Kept: its children, converted next in a line of history, read it as their parent. */
	free(last->name);
	json_decref(last->m);
	last->name = quire__xstrdup(me->name);
	last->m = m;
	if (!err)
		err = quire_objs_write_pack(o, me->rev);
	me->gen = in.generation;
	me->done = 1;
	return err;
}

/* Parent name as a revision already in format 2 (its own name, or a converted revision's
 * alias): 1 with *pc filled (done), or 0 when there is none o can read. */
static int v2_parent(const char *qdir, struct quire_objs *o, const char *name, struct conv *pc)
{
	char rev[65];
	if (quire__rev2_here(qdir, name))
		snprintf(rev, sizeof(rev), "%s", name);
	else if (quire_objs_alias(o, name, rev))
		rev[0] = '\0';
	json_t *r = NULL;
	if (!rev[0] || quire_rev2_read(o, rev, 0, &r, NULL)) {
		quire_error_clear();
		return 0;
	}
	*pc = (struct conv){ .name = quire__xstrdup(name), .done = 1, .v2 = 1 };
	snprintf(pc->rev, sizeof(pc->rev), "%s", rev);
	pc->gen = json_integer_value(json_object_get(r, "generation"));
	json_decref(r);
	return 1;
}

int quire_rev2_convert(const char *qdir, struct quire_objs *o, json_t *names, int lenient)
{
	char **list = NULL;
	size_t n = 0;
	int err = quire__manifest_list_v1(qdir, &list, &n);
	if (err)
		return err;
	struct conv *c = quire__xcalloc(3 * n + 1, sizeof(*c));
	struct last last = { 0 };
	for (size_t k = 0; k < n && !err; k++) {
		c[k].name = list[k];
		err = quire_manifest_parents(qdir, list[k], c[k].parents, &c[k].np);
		if (err && lenient) {
			c[k].done = c[k].skipped = 1;
			quire_error_clear();
			err = 0;
		}
	}
	/* Parents already in format 2 (a manifest committed onto a format-2 head, or one a
	 * clone still on quire 0.1 made onto a revision this store has converted): kept as
	 * parents, not taken for absent. */
	size_t total = n;
	for (size_t k = 0; k < n && !err; k++)
		for (size_t p = 0; p < c[k].np; p++)
			if (!find(c, total, c[k].parents[p]))
				total += v2_parent(qdir, o, c[k].parents[p], &c[total]);
	/* Passes over the list: each converts what its parents allow (a history is a DAG). */
	size_t left = n;
	for (size_t k = 0; k < n; k++)
		left -= c[k].done;
	for (int moved = 1; !err && left && moved;) {
		moved = 0;
		for (size_t k = 0; k < n && !err; k++) {
			int ready = !c[k].done;
			for (size_t p = 0; ready && p < c[k].np; p++) {
				struct conv *pc = find(c, total, c[k].parents[p]);
				ready = !pc || pc->done;
			}
			if (!ready)
				continue;
			err = convert_one(qdir, o, c, total, &c[k], &last);
			if (err && lenient) {
				/* Not readable: its children count it as absent. */
				c[k].done = c[k].skipped = 1;
				quire_error_clear();
				err = 0;
			} else if (!err && names) {
				json_object_set_new(names, c[k].name, json_string(c[k].rev));
			}
			left--;
			moved = 1;
		}
		for (size_t k = 0; !err && left && !moved && k < n; k++)
			if (!c[k].done)
				err = quire_error_set(QUIRE_ECORRUPT,
						      "revision %.12s: its parents make a cycle",
						      c[k].name);
	}
	for (size_t k = 0; k < n; k++) {
		free(c[k].parents[0]);
		free(c[k].parents[1]);
		free(list[k]);
	}
	for (size_t k = n; k < total; k++)
		free(c[k].name);
	free(c);
	free(list);
	free(last.name);
	json_decref(last.m);
	return err;
}

/* Whether .quire/current names a format-2 revision (or cannot be read: then assumed). */
static int names_v2_head(const char *qdir)
{
	char **heads = NULL;
	size_t n = 0;
	int v2 = quire_manifest_head_list(qdir, &heads, &n) != 0;
	quire_error_clear();
	for (size_t k = 0; k < n; k++) {
		v2 |= quire__rev2_here(qdir, heads[k]);
		free(heads[k]);
	}
	free(heads);
	return v2;
}

int quire_rev2_upgrade(const char *qdir, json_t *names)
{
	struct quire_objs *o = NULL;
	json_t *map = names ? json_incref(names) : json_object();
	int v2_head = names_v2_head(qdir);
	int err = quire_objs_open(qdir, &o);
	if (!err)
		err = quire_rev2_convert(qdir, o, map, 0);
	quire_objs_free(o);
	if (err && !v2_head) {
		/* The store stays in format 1: the packs converted so far would list every
		 * revision twice (their manifests are all still there, and no head is in
		 * format 2: an earlier upgrade that got as far as current keeps its packs). */
		const char *k;
		json_t *v;
		json_object_foreach(map, k, v)
			quire_objs_remove_pack(qdir, json_string_value(v));
	}
	char **heads = NULL;
	size_t nheads = 0;
	if (!err)
		err = quire_manifest_head_list(qdir, &heads, &nheads);
	/* current first, durably: after it every step is done again by the next upgrade (the
	 * revisions found converted, the rows renamed, the old files removed). */
	struct quire_buf b = QUIRE_BUF_INIT;
	for (size_t k = 0; k < nheads; k++) {
		const char *v2 = json_string_value(json_object_get(map, heads[k]));
		quire_buf_printf(&b, "%s\n", v2 ? v2 : heads[k]);
		free(heads[k]);
	}
	free(heads);
	if (!err && nheads) {
		char *path = quire__xasprintf("%s/current", qdir);
		err = quire_fs_write_atomic(path, b.ptr, b.len, 0644);
		free(path);
	}
	quire_buf_release(&b);
	/* The runs' rows name the new revisions (merge tells this clone's head by them,
	 * recovery a killed run's parent); a store without a database has none. */
	char *db = quire__xasprintf("%s/quire.db", qdir);
	if (!err && json_object_size(map) && access(db, F_OK) == 0) {
		struct quire_store *s = NULL;
		err = quire_store_open(&s, qdir, 0);
		if (!err)
			err = quire_store_rename_revisions(s, map);
		quire_store_close(s);
	}
	free(db);
	/* The old files go before the store is marked: a crash among them leaves it to the
	 * next upgrade. */
	const char *v1;
	json_t *v;
	json_object_foreach(err ? NULL : map, v1, v) {
		char *path = quire__xasprintf("%s/manifests/%s.json", qdir, v1);
		char *index = quire__index_path(qdir, v1);
		if (unlink(path) && errno != ENOENT)
			err = quire_error_set(QUIRE_EIO, "cannot remove '%s': %s", path,
					      strerror(errno));
		unlink(index);
		free(path);
		free(index);
		if (err)
			break;
	}
	/* From here commits write format 2. */
	if (!err) {
		char *path = quire__xasprintf("%s/format", qdir);
		err = quire_fs_write_atomic(path, "2\n", 2, 0644);
		free(path);
	}
	/* The heads' indexes: the next commit is made from what it changed (a cache: one that
	 * cannot be written only costs that). */
	char **now = NULL;
	size_t nnow = 0;
	if (!err && !quire_manifest_head_list(qdir, &now, &nnow))
		for (size_t k = 0; k < nnow; k++) {
			json_t *m = NULL;
			if (!quire_manifest_load(qdir, now[k], &m))
				quire_manifest_reindex(qdir, now[k], m);
			json_decref(m);
		}
	if (!err)
		quire_error_clear();
	for (size_t k = 0; k < nnow; k++)
		free(now[k]);
	free(now);
	json_decref(map);
	return err;
}

int quire__store_upgrade(const char *qdir, json_t *notes)
{
	char **v1 = NULL;
	size_t n = 0;
	quire__manifest_list_v1(qdir, &v1, &n);
	for (size_t k = 0; k < n; k++)
		free(v1[k]);
	free(v1);
	/* Format-1 manifests in a store in format 2: an upgrade a crash cut short, or what a
	 * clone still on quire 0.1 committed, merged in by git. */
	if (quire__store_format2(qdir) && !n)
		return 0;
	int err = quire_rev2_upgrade(qdir, NULL);
	if (!err)
		return 0;
	/* One that cannot be moved before current moved (a damaged manifest, which fsck
	 * names; a store this user cannot write) stays in format 1, readable and written as
	 * before, and is moved by the first writer after it is mended. After current moved
	 * the command stops: a commit in format 1 onto a format-2 head is not made. */
	char *why = quire__xstrdup(quire_error_last());
	if (names_v2_head(qdir)) {
		err = quire_error_set(err, "moving this project's history to format 2: %s", why);
	} else {
		/* Said every time: each writer converts the whole history again until it is
		 * mended (about 4 s at 10k). */
		if (notes)
			json_array_append_new(
				notes,
				json_sprintf(
					"this project's history stays in format 1 (as an "
					"earlier quire wrote it), and every run and edit tries "
					"again to move it: %s ('quire fsck' lists what is "
					"damaged)",
					why));
		quire_error_clear();
		err = 0;
	}
	free(why);
	return err;
}

/* Format 1's entries and what a revision gives back compared without their takes' records
 * where either lacks one (a take's record is stored once, by its fingerprint). */
static void drop_take_deps(json_t *arts, json_t *back)
{
	const char *id;
	json_t *e;
	json_object_foreach(arts, id, e) {
		json_t *bt = json_object_get(json_object_get(back, id), "takes");
		size_t k;
		json_t *t;
		json_array_foreach(json_object_get(e, "takes"), k, t) {
			json_t *b = json_array_get(bt, k);
			/* A take made before takes kept their record gets it back when another
			 * take or entry of that fingerprint stored it. */
			if (!json_object_get(b, "deps"))
				json_object_del(t, "deps");
			else if (!json_object_get(t, "deps"))
				json_object_del(b, "deps");
		}
	}
}

static int first_difference(const json_t *m1, const json_t *m2, const char *rev)
{
	const json_t *a1 = json_object_get(m1, "artefacts"), *a2 = json_object_get(m2, "artefacts");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)a1, k, v) {
		const json_t *w = json_object_get(a2, k);
		if (json_equal(v, (json_t *)w))
			continue;
		const char *f;
		json_t *x;
		json_object_foreach(v, f, x) {
			if (!json_equal(x, json_object_get(w, f)))
				break;
		}
		char *a = json_dumps(f ? json_object_get(v, f) : v, JSON_COMPACT),
		     *b = json_dumps(f ? json_object_get(w, f) : w, JSON_COMPACT);
		int err = quire_error_set(QUIRE_ECORRUPT,
					  "%.12s: artefact '%s' differs at '%s': %.200s, read back "
					  "%.200s",
					  rev, k, f ? f : "", a ? a : "(none)", b ? b : "(none)");
		free(a);
		free(b);
		return err;
	}
	if (json_object_size(a1) != json_object_size(a2))
		return quire_error_set(QUIRE_ECORRUPT, "%.12s: %zu artefacts, read back %zu", rev,
				       json_object_size(a1), json_object_size(a2));
	json_object_foreach((json_t *)m1, k, v) {
		if (strcmp(k, "artefacts") && strcmp(k, "revision") && strcmp(k, "parent") &&
		    strcmp(k, "parents") && strcmp(k, "format") &&
		    !json_equal(v, json_object_get(m2, k)))
			return quire_error_set(QUIRE_ECORRUPT, "%.12s: '%s' differs", rev, k);
	}
	return 0;
}

/* Revision rev made the commit's way: its first parent's tree and the entries the fold
 * changed (m's overlay on base, a large record kept as its text, as a commit holds it): the
 * same name as the conversion's (v2), or ECORRUPT. */
static int check_overlay(struct quire_objs *o, const json_t *m1, const json_t *m2, const char *v2,
			 const json_t *m, struct quire_mbase *base, const char *rev)
{
	const json_t *ps = json_object_get(m2, "parents");
	if (!json_array_size(ps))
		return 0;
	const json_t *arts = json_object_get(m, "artefacts");
	size_t n = 0;
	struct quire_rev2_change *ch = quire__xcalloc(json_object_size(arts) + 1, sizeof(*ch));
	json_t *held = json_array();
	const char *id;
	json_t *v;
	int err = 0;
	json_object_foreach((json_t *)arts, id, v) {
		json_t *e = NULL;
		if (!json_is_null(v) && (err = quire_manifest_peek_kept(m, base, id, &e)))
			break;
		if (e)
			json_array_append_new(held, e);
		ch[n++] = (struct quire_rev2_change){ id, e };
	}
	struct quire_rev2_in in = {
		.manifest = m1,
		.generation = json_integer_value(json_object_get(m2, "generation")),
		.alias = rev,
	};
	for (size_t k = 0; k < json_array_size(ps) && k < 2; k++)
		in.parents[in.nparents++] = json_string_value(json_array_get(ps, k));
	char u[65];
	if (!err)
		err = quire_rev2_update(o, &in, in.parents[0], ch, n, u);
	if (!err && strcmp(u, v2))
		err = quire_error_set(
			QUIRE_ECORRUPT,
			"%.12s made from the commit's %zu changes is %.12s, not %.12s", rev, n, u,
			v2);
	json_decref(held);
	free(ch);
	return err;
}

/* Manifest m over base (the rows of m's parent; NULL: m is whole) as one whole manifest in
 * *out, each entry parsed. */
static int whole_of(const json_t *m, struct quire_mbase *base, json_t **out)
{
	json_t *w = json_copy((json_t *)m), *arts = json_object();
	json_object_del(w, "slim");
	json_object_set_new(w, "artefacts", arts);
	size_t nrows;
	const struct quire_mrow *rows = quire_mbase_rows(base, &nrows);
	const json_t *over = json_object_get(m, "artefacts");
	int err = 0;
	json_t *e;
	for (size_t k = 0; k < nrows && !err; k++)
		if (!json_object_get(over, rows[k].id) &&
		    !(err = quire_manifest_peek(m, base, rows[k].id, &e)) && e)
			json_object_set_new(arts, rows[k].id, e);
	const char *id;
	json_t *v;
	json_object_foreach((json_t *)over, id, v) {
		if (!err && !json_is_null(v) && !(err = quire_manifest_peek(m, base, id, &e)) && e)
			json_object_set_new(arts, id, e);
	}
	*out = w;
	return err;
}

/* Format-2 revision rev read back is manifest m over base, as quire writes and reads it. */
static int check_v2(const char *qdir, const char *rev, const json_t *m, struct quire_mbase *base)
{
	json_t *m1 = NULL, *m2 = NULL, *w = NULL;
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = whole_of(m, base, &w);
	if (!err) {
		json_object_set_new(w, "revision", json_string(rev));
		quire_manifest_text(w, &b);
		err = quire__manifest_parse(b.ptr, b.len, rev, &m1);
	}
	if (!err)
		err = quire__rev2_load(qdir, rev, &m2);
	if (!err) {
		drop_take_deps(json_object_get(m1, "artefacts"), json_object_get(m2, "artefacts"));
		err = first_difference(m1, m2, rev);
	}
	quire_buf_release(&b);
	json_decref(w);
	json_decref(m1);
	json_decref(m2);
	return err;
}

int quire_rev2_check(const char *qdir, const char *rev, const json_t *m, struct quire_mbase *base)
{
	if (quire__rev2_here(qdir, rev))
		return check_v2(qdir, rev, m, base);
	json_t *names = json_object(), *m1 = NULL, *m2 = NULL;
	/* A manifest quire itself cannot read (a unit test's made-up one) has nothing to
	 * compare. */
	if (quire_manifest_load(qdir, rev, &m1)) {
		quire_error_clear();
		json_decref(names);
		return 0;
	}
	struct quire_objs *o = NULL;
	int err = quire_objs_open_memory(&o);
	if (!err)
		err = quire_rev2_convert(qdir, o, names, 1);
	const char *v2 = json_string_value(json_object_get(names, rev));
	if (!err && !v2)
		err = quire_error_set(QUIRE_ECORRUPT, "%.12s was not converted", rev);
	if (!err)
		err = quire_rev2_load(o, v2, &m2);
	if (!err && m && base)
		err = check_overlay(o, m1, m2, v2, m, base, rev);
	if (!err) {
		drop_take_deps(json_object_get(m1, "artefacts"), json_object_get(m2, "artefacts"));
		err = first_difference(m1, m2, rev);
	}
	json_decref(m1);
	json_decref(m2);
	json_decref(names);
	quire_objs_free(o);
	return err;
}
