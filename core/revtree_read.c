/* Format 2's revisions read back: a revision's artefacts, files and inputs in format 1's
 * shape, and the ids two revisions' artefacts trees differ in, reading only the nodes whose
 * names differ. The layout is in docs/design-notes.md, "Trees and records, as built so far". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/id.h"
#include "json.h"
#include "objects.h"
#include "revtree_internal.h"
#include "util.h"

/* A reference "sha256:<hex>" in an object: the hex, or NULL. */
const char *quire__rt_ref_hex(const json_t *v)
{
	const char *s = json_string_value(v);
	return s && strlen(s) == QUIRE_DIGEST_STRLEN - 1 && !strncmp(s, "sha256:", 7) ? s + 7
										      : NULL;
}

const char *quire__rt_child_hex(const json_t *v)
{
	return json_is_object(v) && json_is_string(json_object_get(v, "outputs"))
		       ? quire__rt_ref_hex(json_object_get(v, "node"))
		       : NULL;
}

/* Node hex (hex NULL: an empty node) of the given type, parsed: its items in *items. */
int quire__rt_read_node(struct quire_objs *o, const char *hex, const char *type, json_t **node,
			json_t **items)
{
	*node = *items = NULL;
	if (!hex) {
		*node = json_object();
		*items = json_object();
		json_object_set(*node, "items", *items);
		json_decref(*items);
		return 0;
	}
	int err = quire_objs_read_json(o, hex, node);
	if (err)
		return err;
	*items = json_object_get(*node, "items");
	const char *t = json_string_value(json_object_get(*node, "type"));
	if (!json_is_object(*items) || !t || strcmp(t, type)) {
		json_decref(*node);
		*node = NULL;
		return quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a %s node", hex, type);
	}
	return 0;
}

int quire__rt_place_of(const char *name, const json_t *node, struct place *pl)
{
	const json_t *ws = json_object_get(node, "widths");
	pl->name = name;
	pl->dims = (int)json_array_size(ws);
	pl->len = 0;
	if (!json_is_array(ws) || pl->dims > MAX_DIMS)
		return quire_error_set(QUIRE_ECORRUPT, "the tree of '%s' has no widths", name);
	for (int d = 0; d < pl->dims; d++) {
		json_int_t v = json_integer_value(json_array_get(ws, (size_t)d));
		if (v < 1 || v > 16)
			return quire_error_set(QUIRE_ECORRUPT, "the tree of '%s': bad widths",
					       name);
		pl->w[d] = (int)v;
		pl->len += (int)v;
	}
	return 0;
}

/* The id at digits (the whole index spelled in base 16): malloc'd, NULL when malformed. */
char *quire__rt_id_at(const struct place *pl, const char *digits)
{
	if ((int)strlen(digits) != pl->len)
		return NULL;
	long long idx[MAX_DIMS];
	const char *p = digits;
	for (int d = 0; d < pl->dims; d++) {
		char part[17], *end;
		memcpy(part, p, (size_t)pl->w[d]);
		part[pl->w[d]] = '\0';
		idx[d] = strtoll(part, &end, 16);
		if (*end)
			return NULL;
		p += pl->w[d];
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_id_format(&b, pl->name, idx, pl->dims);
	return quire_buf_detach(&b, NULL);
}

int quire__rt_read_record(struct quire_objs *o, const char *id, const char *fp, size_t keep,
			  json_t **out)
{
	*out = NULL;
	json_t *r = NULL;
	int err;
	if (keep == SIZE_MAX) {
		err = quire_objs_read_json(o, fp, &r);
	} else {
		struct quire_buf b = QUIRE_BUF_INIT;
		err = quire_objs_read(o, fp, &b);
		if (!err && !(r = quire_json_loads_keeping(b.ptr, b.len, "deps", keep)))
			err = quire_error_set(QUIRE_ECORRUPT, "record %.12s is not an object", fp);
		quire_buf_release(&b);
	}
	if (err)
		return quire_error_prefix(err, "artefact '%s': ", id);
	if (!json_object_get(r, "deps")) {
		json_decref(r);
		return quire_error_set(QUIRE_ECORRUPT, "record %.12s: no deps", fp);
	}
	*out = r;
	return 0;
}

/* Puts back the "deps" of e (an entry or a take) from the record its fingerprint names, when
 * it has none and the record is stored; kept as its text when it is at least keep bytes
 * (SIZE_MAX: parsed). */
static int restore_deps(struct quire_objs *o, const char *id, json_t *e, size_t keep)
{
	const char *fp = quire__rt_ref_hex(json_object_get(e, "fingerprint"));
	if (json_object_get(e, "deps") || !fp || !quire_objs_has(o, fp))
		return 0;
	json_t *r = NULL;
	int err = quire__rt_read_record(o, id, fp, keep, &r);
	if (!err)
		json_object_set(e, "deps", json_object_get(r, "deps"));
	json_decref(r);
	return err;
}

/* Entry e of id as format 1 holds it: its producer and index, its record's deps (kept as
 * text from keep bytes), and those of the takes it does not show (edit --take puts a take's
 * record back on the entry; the shown take's is the entry's own). */
static int restore_entry(struct quire_objs *o, const char *id, json_t *e, size_t keep)
{
	if (!json_is_object(e))
		return quire_error_set(QUIRE_ECORRUPT, "artefact '%s': not an entry", id);
	int err = restore_deps(o, id, e, keep);
	json_int_t shown = json_integer_value(json_object_get(e, "take"));
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(e, "takes"), k, t) {
		if (!err && json_is_object(t) &&
		    json_integer_value(json_object_get(t, "take")) != shown)
			err = restore_deps(o, id, t, SIZE_MAX);
	}
	return err;
}

int quire__rt_each_item(const struct place *pl, const json_t *items, int depth, const char *prefix,
			int (*leaf)(void *ud, const char *id, json_t *e),
			int (*inner)(void *ud, const char *hex, const char *digits, int depth),
			void *ud)
{
	int at_leaf = pl->len == 0 || depth == pl->len - 1, err = 0;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)items, key, v) {
		char *digits = quire__xasprintf("%s%s", prefix, key);
		if (at_leaf) {
			char *id = quire__rt_id_at(pl, digits);
			err = id ? leaf(ud, id, v)
				 : quire_error_set(QUIRE_ECORRUPT, "the tree of '%s': bad key '%s'",
						   pl->name, digits);
			free(id);
		} else {
			const char *h = quire__rt_child_hex(v);
			err = h && strlen(key) == 1
				      ? inner(ud, h, digits, depth + 1)
				      : quire_error_set(QUIRE_ECORRUPT,
							"the tree of '%s': bad item", pl->name);
		}
		free(digits);
		if (err)
			return err;
	}
	return 0;
}

/* What quire__rt_walk reads into. */
struct into {
	struct quire_objs *o;
	const struct place *pl;
	json_t *arts;
};

static int into_leaf(void *ud, const char *id, json_t *e)
{
	const struct into *in = ud;
	int err = restore_entry(in->o, id, e, SIZE_MAX);
	if (!err)
		json_object_set(in->arts, id, e);
	return err;
}

static int into_inner(void *ud, const char *hex, const char *digits, int depth)
{
	const struct into *in = ud;
	json_t *node, *sub;
	int err = quire__rt_read_node(in->o, hex, "tree", &node, &sub);
	if (!err) {
		err = quire__rt_each_item(in->pl, sub, depth, digits, into_leaf, into_inner, ud);
		json_decref(node);
	}
	return err;
}

/* Every entry under node (at depth, its digits so far in prefix) into arts. */
int quire__rt_walk(struct quire_objs *o, const struct place *pl, const json_t *items, int depth,
		   const char *prefix, json_t *arts)
{
	struct into in = { o, pl, arts };
	return quire__rt_each_item(pl, items, depth, prefix, into_leaf, into_inner, &in);
}

static int load_artefacts(struct quire_objs *o, const char *hex, json_t *arts)
{
	json_t *root, *items;
	int err = quire__rt_read_node(o, hex, "tree", &root, &items);
	const char *name;
	json_t *v;
	json_object_foreach(err ? NULL : items, name, v) {
		json_t *node, *sub;
		struct place pl;
		const char *h = quire__rt_child_hex(v);
		err = h ? quire__rt_read_node(o, h, "tree", &node, &sub)
			: quire_error_set(QUIRE_ECORRUPT, "the tree of '%s': bad item", name);
		if (err)
			break;
		err = quire__rt_place_of(name, node, &pl);
		if (!err)
			err = quire__rt_walk(o, &pl, sub, 0, "", arts);
		json_decref(node);
		if (err)
			break;
	}
	json_decref(root);
	return err;
}

static int load_files(struct quire_objs *o, const char *hex, const char *prefix, json_t *files)
{
	json_t *node, *items;
	int err = quire__rt_read_node(o, hex, "files", &node, &items);
	if (err)
		return err;
	int split = json_is_true(json_object_get(node, "split"));
	const char *key;
	json_t *v;
	json_object_foreach(items, key, v) {
		size_t kl = strlen(key);
		if (split || (kl && key[kl - 1] == '/')) {
			char *sub = quire__xasprintf("%s%s", prefix, split ? "" : key);
			const char *h = quire__rt_ref_hex(v);
			err = h ? load_files(o, h, sub, files)
				: quire_error_set(QUIRE_ECORRUPT, "files node %.12s: bad item",
						  hex);
			free(sub);
		} else {
			char *path = quire__xasprintf("%s%s", prefix, key);
			json_object_set(files, path, v);
			free(path);
		}
		if (err)
			break;
	}
	json_decref(node);
	return err;
}

/* The files under nodes a and b (hex, NULL: none), both at path prefix, that differ: b's
 * value, or null where only a has the file. Nodes of the same name are not read. */
static int diff_files(struct quire_objs *o, const char *a, const char *b, const char *prefix,
		      json_t *changed)
{
	if (a && b && !strcmp(a, b))
		return 0;
	json_t *na = NULL, *ia, *nb = NULL, *ib;
	int err = quire__rt_read_node(o, a, "files", &na, &ia);
	if (!err)
		err = quire__rt_read_node(o, b, "files", &nb, &ib);
	int sa = json_is_true(json_object_get(na, "split")),
	    sb = json_is_true(json_object_get(nb, "split"));
	if (!err && sa != sb) {
		/* A directory that crossed DIR_MAX: its names compared whole (rare). */
		json_t *fa = json_object(), *fb = json_object();
		err = a ? load_files(o, a, prefix, fa) : 0;
		if (!err && b)
			err = load_files(o, b, prefix, fb);
		const char *path;
		json_t *v;
		json_object_foreach(err ? NULL : fa, path, v) {
			if (!json_object_get(fb, path))
				json_object_set_new(changed, path, json_null());
		}
		json_object_foreach(err ? NULL : fb, path, v) {
			if (!json_equal(v, json_object_get(fa, path)))
				json_object_set(changed, path, v);
		}
		json_decref(fa);
		json_decref(fb);
	}
	for (int side = 0; !err && sa == sb && side < 2; side++) {
		/* Side 0: b's items against a's; side 1: the items only a has. */
		const json_t *from = side ? ia : ib, *other = side ? ib : ia;
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)from, key, v) {
			const json_t *w = json_object_get(other, key);
			if (side ? w != NULL : json_equal(v, w))
				continue;
			size_t kl = strlen(key);
			int sub = sa || (kl && key[kl - 1] == '/');
			if (!sub) {
				char *path = quire__xasprintf("%s%s", prefix, key);
				json_object_set(changed, path, side ? json_null() : v);
				free(path);
				continue;
			}
			const char *hv = quire__rt_ref_hex(v),
				   *hw = w ? quire__rt_ref_hex(w) : NULL;
			if (!hv || (w && !hw)) {
				/* Named by the node that holds the bad item: v is from b's node
				 * on side 0, from a's on side 1; w from the other. */
				const char *in = !hv ? (side ? a : b) : (side ? b : a);
				err = quire_error_set(QUIRE_ECORRUPT, "files node %.12s: bad item",
						      in);
				break;
			}
			char *p = quire__xasprintf("%s%s", prefix, sa ? "" : key);
			err = side ? diff_files(o, hv, NULL, p, changed)
				   : diff_files(o, hw, hv, p, changed);
			free(p);
			if (err)
				break;
		}
	}
	json_decref(na);
	json_decref(nb);
	return err;
}

int quire_rev2_files_changed(struct quire_objs *o, const char *rev, const json_t *files,
			     json_t *changed)
{
	json_t *r = NULL;
	int err = quire_objs_read_json(o, rev, &r);
	const char *fa = err ? NULL : quire__rt_ref_hex(json_object_get(r, "files"));
	if (!err && !fa)
		err = quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a revision", rev);
	if (!err) {
		/* The files' tree put for its names, then taken back: nothing is written. */
		size_t mark = quire_objs_mark(o);
		char fb[65];
		quire_objs_scratch(o, 1);
		err = quire__rt_build_files(o, files, fb);
		quire_objs_scratch(o, 0);
		if (!err)
			err = quire_objs_error(o);
		if (!err)
			err = diff_files(o, fa, fb, "", changed);
		quire_objs_rollback(o, mark);
	}
	json_decref(r);
	return err;
}

int quire_rev2_read(struct quire_objs *o, const char *rev, int parts, json_t **out,
		    long long *entries)
{
	*out = NULL;
	json_t *r = NULL;
	int err = quire_objs_read_json(o, rev, &r);
	if (err)
		return err;
	const char *ah = quire__rt_ref_hex(json_object_get(r, "artefacts")),
		   *fh = quire__rt_ref_hex(json_object_get(r, "files")),
		   *ih = quire__rt_ref_hex(json_object_get(r, "inputs"));
	const json_t *ps = json_object_get(r, "parents");
	const char *type = json_string_value(json_object_get(r, "type"));
	if (!type || strcmp(type, "revision") ||
	    json_integer_value(json_object_get(r, "format")) != 2 || !ah || !fh || !ih ||
	    !json_is_array(ps) || !json_is_integer(json_object_get(r, "entries"))) {
		json_decref(r);
		return quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a revision", rev);
	}
	if (entries)
		*entries = json_integer_value(json_object_get(r, "entries"));
	json_t *m = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(r, k, v) {
		if (!quire__rt_own_key(k))
			json_object_set(m, k, v);
	}
	json_t *parents = json_array();
	size_t i;
	json_array_foreach(ps, i, v) {
		const char *h = quire__rt_ref_hex(v);
		if (h)
			json_array_append_new(parents, json_string(h));
		else
			err = quire_error_set(QUIRE_ECORRUPT, "revision %.12s: bad parent", rev);
	}
	json_object_set_new(m, "parents", parents);
	json_object_set_new(m, "revision", json_string(rev));
	json_object_set(m, "generation", json_object_get(r, "generation"));
	if (json_object_get(r, "alias"))
		json_object_set(m, "alias", json_object_get(r, "alias"));
	if (!err && (parts & QUIRE_REV2_ARTEFACTS)) {
		json_t *arts = json_object();
		json_object_set_new(m, "artefacts", arts);
		err = load_artefacts(o, ah, arts);
	}
	if (!err && (parts & QUIRE_REV2_FILES)) {
		json_t *files = json_object();
		json_object_set_new(m, "files", files);
		err = load_files(o, fh, "", files);
	}
	if (!err && (parts & QUIRE_REV2_INPUTS)) {
		json_t *node = NULL, *inputs;
		err = quire__rt_read_node(o, ih, "inputs", &node, &inputs);
		if (!err)
			json_object_set(m, "inputs", inputs);
		json_decref(node);
	}
	json_decref(r);
	if (err)
		json_decref(m);
	else
		*out = m;
	return err;
}

int quire_rev2_load(struct quire_objs *o, const char *rev, json_t **out)
{
	return quire_rev2_read(o, rev, QUIRE_REV2_ALL, out, NULL);
}

/* An id whose entries differ, with each side's (NULL where it has none). */
struct idiff {
	char *id;
	json_t *a, *b;
};

struct idlist {
	struct idiff *v;
	size_t n, a;
	json_t *(*keep)(const json_t *e); /* what is held of an entry (NULL: all of it) */
};

static json_t *kept(const struct idlist *l, const json_t *e)
{
	return !e ? NULL : l->keep ? l->keep(e) : json_incref((json_t *)e);
}

static void idlist_add(struct idlist *l, char *id, const json_t *a, const json_t *b)
{
	quire__grow((void **)&l->v, &l->a, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = (struct idiff){ id, kept(l, a), kept(l, b) };
}

/* The ids under two nodes' items (either side may lack a key) whose entries differ: only the
 * children whose names differ are read. */
static int diff_items(struct quire_objs *o, const struct place *pl, const json_t *ia,
		      const json_t *ib, int depth, const char *prefix, struct idlist *ids)
{
	int leaf = pl->len == 0 || depth == pl->len - 1, err = 0;
	for (int side = 0; side < 2 && !err; side++) {
		const json_t *mine = side ? ib : ia, *theirs = side ? ia : ib;
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)mine, key, v) {
			const json_t *other = json_object_get(theirs, key);
			if ((side && other) || (other && json_equal(v, (json_t *)other)))
				continue;
			char *digits = quire__xasprintf("%s%s", prefix, key);
			if (leaf) {
				char *id = quire__rt_id_at(pl, digits);
				if (id)
					idlist_add(ids, id, side ? other : v, side ? v : other);
				else
					err = quire_error_set(QUIRE_ECORRUPT,
							      "the tree of '%s': bad key '%s'",
							      pl->name, digits);
			} else {
				const json_t *va = side ? other : v, *vb = side ? v : other;
				json_t *na = NULL, *nb = NULL, *sa = NULL, *sb = NULL;
				err = quire__rt_read_node(o, va ? quire__rt_child_hex(va) : NULL,
							  "tree", &na, &sa);
				if (!err)
					err = quire__rt_read_node(
						o, vb ? quire__rt_child_hex(vb) : NULL, "tree", &nb,
						&sb);
				if (!err)
					err = diff_items(o, pl, sa, sb, depth + 1, digits, ids);
				json_decref(na);
				json_decref(nb);
			}
			free(digits);
			if (err)
				break;
		}
	}
	return err;
}

/* A producer's subtrees that are laid out differently (an index crossed a power of 16):
 * every entry of both compared by id. */
static int diff_whole(struct quire_objs *o, const struct place *pa, const json_t *ia,
		      const struct place *pb, const json_t *ib, struct idlist *ids)
{
	json_t *a = json_object(), *b = json_object();
	int err = ia ? quire__rt_walk(o, pa, ia, 0, "", a) : 0;
	if (!err && ib)
		err = quire__rt_walk(o, pb, ib, 0, "", b);
	for (int side = 0; side < 2 && !err; side++) {
		const char *id;
		json_t *v;
		json_object_foreach(side ? b : a, id, v) {
			json_t *other = json_object_get(side ? a : b, id);
			if (!(side && other) && !(other && json_equal(v, other)))
				idlist_add(ids, quire__xstrdup(id), side ? other : v,
					   side ? v : other);
		}
	}
	json_decref(a);
	json_decref(b);
	return err;
}

/* The node an artefacts item names. */
static int read_child(struct quire_objs *o, const json_t *v, json_t **node, json_t **items)
{
	const char *h = quire__rt_child_hex(v);
	if (!h)
		return quire_error_set(QUIRE_ECORRUPT, "an artefacts node has a bad item");
	return quire__rt_read_node(o, h, "tree", node, items);
}

static int diff_producer(struct quire_objs *o, const char *name, const json_t *va, const json_t *vb,
			 struct idlist *ids)
{
	json_t *na = NULL, *nb = NULL, *ia = NULL, *ib = NULL;
	struct place pa = { 0 }, pb = { 0 };
	int err = va ? read_child(o, va, &na, &ia) : 0;
	if (!err && vb)
		err = read_child(o, vb, &nb, &ib);
	if (!err && na)
		err = quire__rt_place_of(name, na, &pa);
	if (!err && nb)
		err = quire__rt_place_of(name, nb, &pb);
	if (!err) {
		const struct place *pl = na ? &pa : &pb;
		if (na && nb &&
		    (pa.dims != pb.dims || memcmp(pa.w, pb.w, sizeof(pa.w[0]) * (size_t)pa.dims)))
			err = diff_whole(o, &pa, ia, &pb, ib, ids);
		else
			err = diff_items(o, pl, ia, ib, 0, "", ids);
	}
	json_decref(na);
	json_decref(nb);
	return err;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct idiff *)a)->id, ((const struct idiff *)b)->id);
}

/* The root of revision rev's artefacts (NULL for no revision). */
static int root_of(struct quire_objs *o, const char *rev, json_t **node, json_t **items)
{
	const char *h = NULL;
	json_t *r = NULL;
	if (rev) {
		int err = quire_objs_read_json(o, rev, &r);
		if (err)
			return err;
		h = quire__rt_ref_hex(json_object_get(r, "artefacts"));
		if (!h) {
			json_decref(r);
			return quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a revision",
					       rev);
		}
	}
	int err = quire__rt_read_node(o, h, "tree", node, items);
	json_decref(r);
	return err;
}

/* A revision's entries read one by one, keeping the nodes last used: a plan reads ids in its
 * own order and the index's is strcmp's ("Scene[0][10]" before "Scene[0][1]"), which visits
 * a few leaves in turn, never one path at a time. */
#define READER_SLOTS 64

struct quire_rev2_reader {
	struct quire_objs *o;
	json_t *root, *items; /* the artefacts root */
	unsigned long long tick;
	struct {
		char hex[65];
		json_t *node, *items;
		unsigned long long used;
	} slot[READER_SLOTS];
};

int quire_rev2_reader_new(struct quire_objs *o, const char *rev, struct quire_rev2_reader **out)
{
	struct quire_rev2_reader *r = quire__xcalloc(1, sizeof(*r));
	r->o = o;
	int err = root_of(o, rev, &r->root, &r->items);
	if (err) {
		free(r);
		r = NULL;
	}
	*out = r;
	return err;
}

void quire_rev2_reader_free(struct quire_rev2_reader *r)
{
	if (!r)
		return;
	for (int k = 0; k < READER_SLOTS; k++)
		json_decref(r->slot[k].node);
	json_decref(r->root);
	free(r);
}

/* Tree node hex, parsed: kept in the slot used longest ago, unless it is kept already. */
static int node_at(struct quire_rev2_reader *r, const char *hex, json_t **node, json_t **items)
{
	int k = 0;
	for (int i = 0; i < READER_SLOTS; i++) {
		if (!memcmp(r->slot[i].hex, hex, 64)) {
			k = i;
			goto found;
		}
		if (r->slot[i].used < r->slot[k].used)
			k = i;
	}
	json_t *n, *it;
	int err = quire__rt_read_node(r->o, hex, "tree", &n, &it);
	if (err)
		return err;
	json_decref(r->slot[k].node);
	memcpy(r->slot[k].hex, hex, 64);
	r->slot[k].node = n;
	r->slot[k].items = it;
found:
	r->slot[k].used = ++r->tick;
	*node = r->slot[k].node;
	*items = r->slot[k].items;
	return 0;
}

int quire_rev2_reader_entry(struct quire_rev2_reader *r, const char *id, size_t keep, json_t **out)
{
	*out = NULL;
	struct ent en;
	if (quire__rt_parse_id(id, &en))
		return 0;
	char *name = quire__xstrndup(id, en.namelen);
	const json_t *v = json_object_get(r->items, name);
	const char *h = quire__rt_child_hex(v);
	json_t *node = NULL, *items = NULL;
	struct place pl = { 0 };
	int err = v && !h ? quire_error_set(QUIRE_ECORRUPT, "an artefacts node has a bad item")
		  : h	  ? node_at(r, h, &node, &items)
			  : 0;
	if (!err && node)
		err = quire__rt_place_of(name, node, &pl);
	/* Its key: each index in base 16 at its width, one digit per level. */
	char digits[MAX_DIMS * 16 + 1] = "";
	int fits = node && !err && pl.dims == en.dims;
	for (int d = 0, at = 0; fits && d < pl.dims; at += pl.w[d], d++) {
		char part[32];
		snprintf(part, sizeof(part), "%0*llx", pl.w[d], (unsigned long long)en.idx[d]);
		fits = (int)strlen(part) == pl.w[d];
		memcpy(digits + at, part, (size_t)pl.w[d] + 1);
	}
	for (int depth = 0; fits && !err && depth < pl.len - 1; depth++) {
		char key[2] = { digits[depth], '\0' };
		const char *c = quire__rt_child_hex(json_object_get(items, key));
		if (!c)
			fits = 0;
		else
			err = node_at(r, c, &node, &items);
	}
	free(name);
	const char *leaf = pl.len ? digits + pl.len - 1 : "";
	json_t *e = fits && !err ? json_object_get(items, leaf) : NULL;
	if (e) {
		*out = json_deep_copy(e);
		if ((err = restore_entry(r->o, id, *out, keep))) {
			json_decref(*out);
			*out = NULL;
		}
	}
	return err;
}

int quire_rev2_entry(struct quire_objs *o, const char *rev, const char *id, json_t **out)
{
	struct quire_rev2_reader *r;
	*out = NULL;
	int err = quire_rev2_reader_new(o, rev, &r);
	if (!err)
		err = quire_rev2_reader_entry(r, id, SIZE_MAX, out);
	quire_rev2_reader_free(r);
	return err;
}

int quire_rev2_diff_entries(struct quire_objs *o, const char *a, const char *b,
			    int (*visit)(void *ud, const char *id, const json_t *ea,
					 const json_t *eb),
			    void *ud)
{
	return quire_rev2_diff_kept(o, a, b, NULL, visit, ud);
}

int quire_rev2_diff_kept(struct quire_objs *o, const char *a, const char *b,
			 json_t *(*keep)(const json_t *e),
			 int (*visit)(void *ud, const char *id, const json_t *ea, const json_t *eb),
			 void *ud)
{
	json_t *ra = NULL, *rb = NULL, *ia, *ib;
	int err = root_of(o, a, &ra, &ia);
	if (!err)
		err = root_of(o, b, &rb, &ib);
	struct idlist ids = { .keep = keep };
	for (int side = 0; side < 2 && !err; side++) {
		const char *name;
		json_t *v;
		json_object_foreach(side ? ib : ia, name, v) {
			json_t *other = json_object_get(side ? ia : ib, name);
			if ((side && other) || (other && json_equal(v, other)))
				continue;
			err = diff_producer(o, name, side ? other : v, side ? v : other, &ids);
			if (err)
				break;
		}
	}
	json_decref(ra);
	json_decref(rb);
	if (ids.n)
		qsort(ids.v, ids.n, sizeof(*ids.v), cmp_id);
	for (size_t k = 0; k < ids.n && !err; k++)
		if (!k || strcmp(ids.v[k].id, ids.v[k - 1].id))
			err = visit(ud, ids.v[k].id, ids.v[k].a, ids.v[k].b);
	for (size_t k = 0; k < ids.n; k++) {
		free(ids.v[k].id);
		json_decref(ids.v[k].a);
		json_decref(ids.v[k].b);
	}
	free(ids.v);
	return err;
}

struct id_visit {
	int (*visit)(void *ud, const char *id);
	void *ud;
};

/* Nothing of an entry is held for a diff of ids alone. */
static json_t *keep_nothing(const json_t *e)
{
	(void)e;
	return NULL;
}

static int visit_id(void *ud, const char *id, const json_t *ea, const json_t *eb)
{
	(void)ea;
	(void)eb;
	const struct id_visit *v = ud;
	return v->visit(v->ud, id);
}

int quire_rev2_diff(struct quire_objs *o, const char *a, const char *b,
		    int (*visit)(void *ud, const char *id), void *ud)
{
	struct id_visit v = { visit, ud };
	return quire_rev2_diff_kept(o, a, b, keep_nothing, visit_id, &v);
}
