/* A revision made from its parent's artefacts tree and the entries a commit changed: only the
 * nodes on the changed instances' paths are read and made, and the result is the revision a
 * whole build of the same manifest makes, byte for byte (tests/unit/objects.c checks it on
 * every revision of the format-1 fixture). */
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "json.h"
#include "objects.h"
#include "revtree_internal.h"
#include "util.h"

/* The items of a parsed node, sorted by key, as put_node takes them (their values written
 * again: the same bytes as when they were made). */
static struct item *node_items(const json_t *items, int leaf, size_t *n)
{
	const char **keys = quire_json_sorted_keys(items, n);
	struct item *it = quire__xcalloc(*n + 1, sizeof(*it));
	for (size_t k = 0; k < *n; k++) {
		const json_t *v = json_object_get(items, keys[k]);
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_json_write(&b, v, 0);
		it[k].key = quire__xstrdup(keys[k]);
		it[k].val = quire_buf_detach(&b, NULL);
		const char *d = json_string_value(json_object_get(v, leaf ? "digest" : "outputs"));
		snprintf(it[k].out, sizeof(it[k].out), "%s", d ? d : "-");
	}
	free(keys);
	return it;
}

struct upd {
	struct quire_objs *o;
	const struct quire_rev2_in *in;
	long long delta; /* entries added less entries removed */
};

/* Node hex (NULL: none yet) at depth with changes ch[lo, hi) applied (all under it, digits
 * spelled at pl's widths): the new node's name and outputs, or *empty when nothing is left. */
static int update_node(struct upd *u, const struct place *pl, const char *hex, int depth,
		       struct ent *ch, size_t lo, size_t hi, const char *tail, char out_hex[65],
		       char *outputs, int *empty)
{
	json_t *node, *items;
	int err = quire__rt_read_node(u->o, hex, "tree", &node, &items);
	if (err)
		return err;
	int leaf = pl->len == 0 || depth == pl->len - 1;
	size_t n, m = 0, a = 0;
	struct item *old = node_items(items, leaf, &n);
	struct item *it = quire__xcalloc(n + (hi - lo) + 1, sizeof(*it));
	for (size_t k = lo; k < hi && !err;) {
		size_t e = k + 1;
		if (!leaf)
			while (e < hi && ch[e].digits[depth] == ch[k].digits[depth])
				e++;
		char *key = leaf ? quire__xstrdup(ch[k].digits + depth)
				 : quire__xstrndup(ch[k].digits + depth, 1);
		while (a < n && strcmp(old[a].key, key) < 0)
			it[m++] = old[a++];
		int had = a < n && !strcmp(old[a].key, key);
		struct item ni = { .key = key };
		if (leaf) {
			u->delta += (ch[k].e != NULL) - had;
			if (ch[k].e) {
				/* The record it had: what a collector's new one is a delta of. */
				const char *near =
					had ? quire__rt_ref_hex(json_object_get(
						      json_object_get(items, key), "fingerprint"))
					    : NULL;
				quire__rt_leaf(u->o, &ch[k], near, &ni);
			}
		} else {
			const char *child =
				had ? quire__rt_child_hex(json_object_get(items, key)) : NULL;
			char ch_hex[65];
			int gone = 0;
			err = had && !child ? quire_error_set(
						      QUIRE_ECORRUPT,
						      "the tree of '%s': node %.12s has a bad item",
						      pl->name, hex)
					    : update_node(u, pl, child, depth + 1, ch, k, e, "",
							  ch_hex, ni.out, &gone);
			if (!err && !gone)
				ni.val = quire__rt_child_val(ch_hex, ni.out);
		}
		if (had) {
			free(old[a].key);
			free(old[a].val);
			a++;
		}
		if (ni.val)
			it[m++] = ni;
		else
			free(key);
		k = e;
	}
	while (a < n)
		it[m++] = old[a++];
	free(old);
	json_decref(node);
	*empty = !err && !m;
	if (!err && m) {
		char *tl = quire__xasprintf(",\"type\":\"tree\"%s", tail);
		quire__rt_put_node(u->o, it, m, tl, out_hex, outputs);
		free(tl);
	}
	quire__rt_items_free(it, m);
	return err;
}

static int digits_of(long long v)
{
	int d = 1;
	for (; v >= 16; v /= 16)
		d++;
	return d;
}

/* Whether changes ch[lo, hi) fit producer pl's layout as it is: their index counts, none
 * wider than its widths, and none removed from the widest place (after which the widths a
 * whole build computes might shrink). */
static int fits(const struct place *pl, const struct ent *ch, size_t lo, size_t hi)
{
	for (size_t k = lo; k < hi; k++) {
		if (ch[k].dims != pl->dims)
			return 0;
		for (int d = 0; d < pl->dims; d++) {
			int w = digits_of(ch[k].idx[d]);
			if (w > pl->w[d] || (!ch[k].e && w == pl->w[d] && w > 1))
				return 0;
		}
	}
	return 1;
}

/* Producer ch[lo].name laid out anew: its entries in the parent (items) with the changes
 * applied, built from scratch. */
static int relayout(struct upd *u, const struct place *pl, const json_t *items, struct ent *ch,
		    size_t lo, size_t hi, struct item *out, int *gone)
{
	json_t *arts = json_object();
	int err = items ? quire__rt_walk(u->o, pl, items, 0, "", arts) : 0;
	long long before = (long long)json_object_size(arts);
	for (size_t k = lo; k < hi && !err; k++) {
		if (ch[k].e)
			json_object_set(arts, ch[k].id, (json_t *)ch[k].e);
		else
			json_object_del(arts, ch[k].id);
	}
	size_t n = json_object_size(arts), k = 0;
	struct ent *en = quire__xcalloc(n + 1, sizeof(*en));
	const char *id;
	json_t *e;
	json_object_foreach(arts, id, e) {
		en[k].id = id;
		en[k].e = e;
		en[k].in = quire__rt_by_number(u->in, e);
		quire__rt_parse_id(id, &en[k]);
		k++;
	}
	qsort(en, n, sizeof(*en), quire__rt_cmp_ent);
	*gone = !n;
	if (!err && n)
		err = quire__rt_build_producer(u->o, en, 0, n, out);
	u->delta += (long long)n - before;
	free(en);
	json_decref(arts);
	return err;
}

/* Producer ch[lo].name's item in the new root from its item in the parent's (v, NULL when it
 * had none). */
static int update_producer(struct upd *u, const json_t *v, struct ent *ch, size_t lo, size_t hi,
			   struct item *out, int *gone)
{
	char *name = quire__xstrndup(ch[lo].id, ch[lo].namelen);
	json_t *node = NULL, *items = NULL;
	struct place pl = { 0 };
	const char *hex = v ? quire__rt_child_hex(v) : NULL;
	int err = v && !hex ? quire_error_set(QUIRE_ECORRUPT, "the root has a bad item '%s'", name)
		  : hex	    ? quire__rt_read_node(u->o, hex, "tree", &node, &items)
			    : 0;
	if (!err && node)
		err = quire__rt_place_of(name, node, &pl);
	pl.name = name;
	if (!err && (!node || !fits(&pl, ch, lo, hi))) {
		err = relayout(u, &pl, items, ch, lo, hi, out, gone);
	} else if (!err) {
		for (size_t k = lo; k < hi; k++) {
			char *p = ch[k].digits;
			for (int d = 0; d < pl.dims; d++)
				p += sprintf(p, "%0*llx", pl.w[d], ch[k].idx[d]);
		}
		struct quire_buf tail = QUIRE_BUF_INIT;
		quire_buf_puts(&tail, ",\"widths\":");
		quire_json_write(&tail, json_object_get(node, "widths"), 0);
		char h[65];
		err = update_node(u, &pl, hex, 0, ch, lo, hi, tail.ptr, h, out->out, gone);
		if (!err && !*gone) {
			out->key = quire__xstrdup(name);
			out->val = quire__rt_child_val(h, out->out);
		}
		quire_buf_release(&tail);
	}
	json_decref(node);
	free(name);
	return err;
}

int quire_rev2_update(struct quire_objs *o, const struct quire_rev2_in *in, const char *base,
		      const struct quire_rev2_change *changes, size_t n, char rev[65])
{
	json_t *r = NULL, *root = NULL, *items = NULL;
	int err = quire_objs_read_json(o, base, &r);
	const char *ah = err ? NULL : quire__rt_ref_hex(json_object_get(r, "artefacts"));
	if (!err && (!ah || !json_is_integer(json_object_get(r, "entries"))))
		err = quire_error_set(QUIRE_ECORRUPT, "object %.12s is not a revision", base);
	if (!err)
		err = quire__rt_read_node(o, ah, "tree", &root, &items);
	struct ent *ch = quire__xcalloc(n + 1, sizeof(*ch));
	for (size_t k = 0; k < n && !err; k++) {
		ch[k].id = changes[k].id;
		ch[k].e = changes[k].entry;
		ch[k].in = quire__rt_by_number(in, ch[k].e);
		if (quire__rt_parse_id(ch[k].id, &ch[k]) || (ch[k].e && !json_is_object(ch[k].e)))
			err = quire_error_set(QUIRE_ECORRUPT, "artefact '%s': %s", ch[k].id,
					      ch[k].e && !json_is_object(ch[k].e) ? "not an entry"
										  : "not an id");
	}
	qsort(ch, err ? 0 : n, sizeof(*ch), quire__rt_cmp_ent);
	struct upd u = { .o = o, .in = in };
	size_t mark = quire_objs_mark(o);
	size_t nold = 0, m = 0, a = 0;
	struct item *old = err ? NULL : node_items(items, 0, &nold);
	struct item *it = quire__xcalloc(nold + n + 1, sizeof(*it));
	for (size_t k = 0; k < n && !err;) {
		size_t e = k + 1;
		while (e < n && ch[e].namelen == ch[k].namelen &&
		       !memcmp(ch[e].id, ch[k].id, ch[k].namelen))
			e++;
		char *name = quire__xstrndup(ch[k].id, ch[k].namelen);
		while (a < nold && strcmp(old[a].key, name) < 0)
			it[m++] = old[a++];
		int had = a < nold && !strcmp(old[a].key, name), gone = 0;
		struct item ni = { 0 };
		err = update_producer(&u, had ? json_object_get(items, name) : NULL, ch, k, e, &ni,
				      &gone);
		if (had) {
			free(old[a].key);
			free(old[a].val);
			a++;
		}
		if (!err && !gone)
			it[m++] = ni;
		free(name);
		k = e;
	}
	while (a < nold)
		it[m++] = old[a++];
	free(old);
	if (!err) {
		char nah[65], out[QUIRE_DIGEST_STRLEN];
		quire__rt_put_node(o, it, m, ",\"type\":\"tree\"", nah, out);
		err = quire__rt_put_revision(
			o, in, nah, json_integer_value(json_object_get(r, "entries")) + u.delta,
			rev);
	}
	if (!err)
		err = quire_objs_error(o);
	if (err)
		quire_objs_rollback(o, mark);
	quire__rt_items_free(it, m);
	free(ch);
	json_decref(root);
	json_decref(r);
	return err;
}
