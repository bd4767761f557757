/* Every file and artefact of a set of format-2 revisions, each tree node read once: gc's
 * marks, fsck's checks and a push's list of blobs need what every revision names, and
 * revisions share every node an edit did not touch (15 revisions of a 10k story read whole
 * were 13 s; their nodes read once, a revision's worth). */
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "objects.h"
#include "revtree_internal.h"
#include "util.h"

struct quire_rev2_walk {
	struct quire_objs *o;
	const struct quire_manifest_visitor *v;
	/* The names of nodes whose subtrees were visited whole, and of records read: not
	 * again. A subtree holding an entry whose record is lost is not among them, so that
	 * every revision holding it is told. */
	json_t *seen;
	const char *rev;
	int by_visitor; /* the last walk was stopped by the visitor, not by what it read */
};

struct quire_rev2_walk *quire_rev2_walk_new(struct quire_objs *o,
					    const struct quire_manifest_visitor *v)
{
	struct quire_rev2_walk *w = quire__xcalloc(1, sizeof(*w));
	w->o = o;
	w->v = v;
	w->seen = json_object();
	return w;
}

void quire_rev2_walk_free(struct quire_rev2_walk *w)
{
	if (!w)
		return;
	json_decref(w->seen);
	free(w);
}

static int seen(const struct quire_rev2_walk *w, const char *hex)
{
	return hex && json_object_get(w->seen, hex) != NULL;
}

static void see(struct quire_rev2_walk *w, const char *hex)
{
	if (hex)
		json_object_set_new(w->seen, hex, json_true());
}

/* With the visitor's verify: the record e's fingerprint names read (so checked against its
 * name) once; *lost when it is not stored. */
static int record_of(struct quire_rev2_walk *w, const char *id, const json_t *e, int *lost)
{
	const char *fp = quire__rt_ref_hex(json_object_get(e, "fingerprint"));
	*lost = 0;
	if (!w->v->verify || json_object_get(e, "deps") || !fp || seen(w, fp))
		return 0;
	if (!quire_objs_has(w->o, fp)) {
		*lost = 1;
		return 0;
	}
	/* Read as the revision read whole reads it. */
	json_t *r = NULL;
	int err = quire__rt_read_record(w->o, id, fp, SIZE_MAX, &r);
	json_decref(r);
	if (!err)
		see(w, fp);
	return err;
}

/* Entry e of id: its record and those of the takes it does not show (a lost take's record is
 * no damage fsck names: format 1's entries never had them), then the visitor. *again when
 * its record is lost. */
static int visit_entry(struct quire_rev2_walk *w, const char *id, const json_t *e, int *again)
{
	if (!json_is_object(e))
		return quire_error_set(QUIRE_ECORRUPT, "artefact '%s': not an entry", id);
	int lost = 0, tlost, err = record_of(w, id, e, &lost);
	json_int_t shown = json_integer_value(json_object_get(e, "take"));
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(e, "takes"), k, t) {
		if (!err && json_is_object(t) &&
		    json_integer_value(json_object_get(t, "take")) != shown)
			err = record_of(w, id, t, &tlost);
	}
	*again |= lost;
	if (!err && w->v->entry && (err = w->v->entry(w->v->ud, w->rev, id, e, lost)))
		w->by_visitor = 1;
	return err;
}

/* A producer's subtree being walked: *again when a lost record is under it. */
struct under {
	struct quire_rev2_walk *w;
	const struct place *pl;
	int *again;
};

static int under_leaf(void *ud, const char *id, json_t *e)
{
	const struct under *u = ud;
	return visit_entry(u->w, id, e, u->again);
}

/* A child node not seen before: walked, and seen once all under it was (no lost record). */
static int under_inner(void *ud, const char *hex, const char *digits, int depth)
{
	const struct under *u = ud;
	if (seen(u->w, hex))
		return 0;
	json_t *node, *sub;
	int below = 0, err = quire__rt_read_node(u->w->o, hex, "tree", &node, &sub);
	if (err)
		return err;
	struct under in = { u->w, u->pl, &below };
	err = quire__rt_each_item(u->pl, sub, depth, digits, under_leaf, under_inner, &in);
	json_decref(node);
	if (!err && !below)
		see(u->w, hex);
	*u->again |= below;
	return err;
}

static int walk_artefacts(struct quire_rev2_walk *w, const char *hex)
{
	if (seen(w, hex))
		return 0;
	json_t *root, *items;
	int err = quire__rt_read_node(w->o, hex, "tree", &root, &items), again = 0;
	const char *name;
	json_t *v;
	json_object_foreach(err ? NULL : items, name, v) {
		json_t *node, *sub;
		struct place pl;
		int below = 0;
		const char *h = quire__rt_child_hex(v);
		if (!h) {
			err = quire_error_set(QUIRE_ECORRUPT, "the tree of '%s': bad item", name);
			break;
		}
		if (seen(w, h))
			continue;
		if ((err = quire__rt_read_node(w->o, h, "tree", &node, &sub)))
			break;
		err = quire__rt_place_of(name, node, &pl);
		struct under u = { w, &pl, &below };
		if (!err)
			err = quire__rt_each_item(&pl, sub, 0, "", under_leaf, under_inner, &u);
		json_decref(node);
		if (!err && !below)
			see(w, h);
		again |= below;
	}
	json_decref(root);
	if (!err && !again)
		see(w, hex);
	return err;
}

/* The files under node hex, at path prefix, as load_files reads them. */
static int walk_files(struct quire_rev2_walk *w, const char *hex, const char *prefix)
{
	if (seen(w, hex))
		return 0;
	json_t *node, *items;
	int err = quire__rt_read_node(w->o, hex, "files", &node, &items);
	if (err)
		return err;
	int split = json_is_true(json_object_get(node, "split"));
	const char *key;
	json_t *v;
	json_object_foreach(items, key, v) {
		size_t kl = strlen(key);
		/* A split node's keys are digits of digests, not parts of paths. */
		int dir = split || (kl && key[kl - 1] == '/');
		char *path = quire__xasprintf("%s%s", prefix, dir && split ? "" : key);
		if (dir) {
			const char *h = quire__rt_ref_hex(v);
			err = h ? walk_files(w, h, path)
				: quire_error_set(QUIRE_ECORRUPT, "files node %.12s: bad item",
						  hex);
		} else if (w->v->file && (err = w->v->file(w->v->ud, w->rev, path, v))) {
			w->by_visitor = 1;
		}
		free(path);
		if (err)
			break;
	}
	json_decref(node);
	if (!err)
		see(w, hex);
	return err;
}

int quire_rev2_walk_by_visitor(const struct quire_rev2_walk *w)
{
	return w->by_visitor;
}

int quire_rev2_walk_rev(struct quire_rev2_walk *w, const char *rev)
{
	w->by_visitor = 0;
	json_t *r = NULL;
	int err = quire_objs_read_json(w->o, rev, &r);
	if (err)
		return err;
	const char *ah = quire__rt_ref_hex(json_object_get(r, "artefacts")),
		   *fh = quire__rt_ref_hex(json_object_get(r, "files")),
		   *ih = quire__rt_ref_hex(json_object_get(r, "inputs"));
	const char *type = json_string_value(json_object_get(r, "type"));
	if (!type || strcmp(type, "revision") || !ah || !fh || !ih) {
		json_decref(r);
		return quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a revision", rev);
	}
	w->rev = rev;
	err = walk_artefacts(w, ah);
	if (!err)
		err = walk_files(w, fh, "");
	if (!err && w->v->verify && !seen(w, ih)) {
		json_t *node = NULL, *inputs;
		if (!(err = quire__rt_read_node(w->o, ih, "inputs", &node, &inputs)))
			see(w, ih);
		json_decref(node);
	}
	w->rev = NULL;
	json_decref(r);
	return err;
}
