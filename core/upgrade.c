/* Format 1's manifests as format 2's revisions: each manifest on disk becomes a revision
 * (its format-1 name kept as its alias) whose parents are its parents' conversions, in an
 * order where parents come first. A pure function of the manifests (nothing from the clock
 * or quire.db), so two clones that convert the same history make the same objects. */
#include <stdlib.h>
#include <string.h>

#include "quire/error.h"
#include "quire/manifest.h"
#include "objects.h"
#include "util.h"

struct conv {
	char *name;
	char *parents[2];
	size_t np;
	int done;
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
		int err = quire_manifest_load(qdir, parent->name, &last->m);
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
		if (!pc)
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
	json_decref(m);
	if (!err)
		err = quire_objs_write_pack(o, me->rev);
	me->gen = in.generation;
	me->done = 1;
	return err;
}

int quire_rev2_convert(const char *qdir, struct quire_objs *o, json_t *names)
{
	char **list = NULL;
	size_t n = 0;
	int err = quire_manifest_list(qdir, &list, &n);
	if (err)
		return err;
	struct conv *c = quire__xcalloc(n + 1, sizeof(*c));
	struct last last = { 0 };
	for (size_t k = 0; k < n && !err; k++) {
		c[k].name = list[k];
		err = quire_manifest_parents(qdir, list[k], c[k].parents, &c[k].np);
	}
	/* Passes over the list: each converts what its parents allow (a history is a DAG). */
	for (size_t left = n, moved = 1; !err && left && moved;) {
		moved = 0;
		for (size_t k = 0; k < n && !err; k++) {
			int ready = !c[k].done;
			for (size_t p = 0; ready && p < c[k].np; p++) {
				struct conv *pc = find(c, n, c[k].parents[p]);
				ready = !pc || pc->done;
			}
			if (!ready)
				continue;
			err = convert_one(qdir, o, c, n, &c[k], &last);
			if (!err && names)
				json_object_set_new(names, c[k].name, json_string(c[k].rev));
			left--;
			moved = 1;
		}
		if (!err && left && !moved)
			err = quire_error_set(QUIRE_ECORRUPT,
					      "the revisions' parents make a cycle");
	}
	for (size_t k = 0; k < n; k++) {
		free(c[k].parents[0]);
		free(c[k].parents[1]);
		free(list[k]);
	}
	free(c);
	free(list);
	free(last.name);
	json_decref(last.m);
	return err;
}
