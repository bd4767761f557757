/* What the writing and the reading halves of format 2's trees share (core/revtree.c,
 * core/revtree_read.c). */
#ifndef QUIRE_REVTREE_INTERNAL_H
#define QUIRE_REVTREE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "quire/hash.h"

struct quire_objs;
struct quire_rev2_in;

#define MAX_DIMS 8
/* A directory of more names is split 16 ways by the digits of each name's digest. */
#define DIR_MAX 256

/* One artefact: its id split, its index spelled in base-16 digits of its producer's widths. */
struct ent {
	const char *id;
	const json_t *e;
	const struct quire_rev2_in *in; /* e is {QUIRE_REV2_TEXT: n}: in->entry_of gives it */
	size_t namelen;
	long long idx[MAX_DIMS];
	int dims;
	char digits[MAX_DIMS * 16 + 1];
};

/* A node's item: its key and its value as JSON text; for the outputs digest, what it
 * contributes (an entry's output digest, a child's outputs digest). */
struct item {
	char *key;
	char *val;
	char out[QUIRE_DIGEST_STRLEN];
};

/* A producer's place in the tree: its name, its indexes' widths. */
struct place {
	const char *name;
	int w[MAX_DIMS], dims, len;
};

/* Frees n items and the array. */
void quire__rt_items_free(struct item *it, size_t n);

/* Writes {"items":{<one per line>},<tail>} as an object; its name in hex and, when out is
 * given, the digest of its items' outputs (also written, as "outputs"). */
void quire__rt_put_node(struct quire_objs *o, const struct item *it, size_t n, const char *tail,
			char hex[65], char *out);

/* Parses "Name[i][j]" (indexes spelled as quire spells them) into e: -1 when malformed. */
int quire__rt_parse_id(const char *id, struct ent *e);

/* The entry as a leaf holds it (see revtree.c), its records put (its own as a delta against
 * record near, 64 hex, when that saves most of it; NULL: none): malloc'd compact JSON. */
char *quire__rt_entry_text(struct quire_objs *o, const struct ent *en, const char *near);

/* The output digest of entry e (given parsed or as its text: QUIRE_REV2_TEXT) in out, or "-"
 * when it has none. */
void quire__rt_entry_digest(const json_t *e, char out[QUIRE_DIGEST_STRLEN]);
/* in when entry e is given by number ({QUIRE_REV2_TEXT: n}: in->entry_of gives it), else NULL. */
const struct quire_rev2_in *quire__rt_by_number(const struct quire_rev2_in *in, const json_t *e);
/* Entry en's item in a leaf (its text and output digest in i; near as for
 * quire__rt_entry_text). An entry given by number (en->in) is read now and let go, so that
 * 10,000 changed entries are never held at once; when it cannot be read, o fails. */
void quire__rt_leaf(struct quire_objs *o, struct ent *en, const char *near, struct item *i);

/* Orders ents by producer name, then index. */
int quire__rt_cmp_ent(const void *a, const void *b);

/* An artefacts node's item naming a child: {"node": ref, "outputs": digest}, malloc'd. */
char *quire__rt_child_val(const char *hex, const char *outputs);

/* The subtree of producer en[a].name, whose instances are en[a, b) (sorted), made from
 * scratch: its root item in *i. QUIRE_ECORRUPT when their index counts differ. */
int quire__rt_build_producer(struct quire_objs *o, struct ent *en, size_t a, size_t b,
			     struct item *i);

/* Puts revision in's object (its files and inputs trees too) whose artefacts tree is ah,
 * of count entries; its name in rev. QUIRE_ECORRUPT when its files are not a map. */
int quire__rt_put_revision(struct quire_objs *o, const struct quire_rev2_in *in, const char *ah,
			   long long count, char rev[65]);

/* Puts the files tree of files (path -> value, or that object's JSON text in a string): its
 * root's name in hex. QUIRE_ECORRUPT when the text is not an object. */
int quire__rt_build_files(struct quire_objs *o, const json_t *files, char hex[65]);

/* Whether k is a key of the revision object itself (not one of format 1's kept as it was). */
int quire__rt_own_key(const char *k);

/* A reference "sha256:<hex>": the hex, or NULL. */
const char *quire__rt_ref_hex(const json_t *v);

/* A child item's value {"node": ref, "outputs": digest}: the node's hex, or NULL. */
const char *quire__rt_child_hex(const json_t *v);

/* Node hex (NULL: an empty node) of the given type, parsed; its items in *items (borrowed from
 * *node). QUIRE_ECORRUPT when it is no such node. */
int quire__rt_read_node(struct quire_objs *o, const char *hex, const char *type, json_t **node,
			json_t **items);

/* A producer's place from its top node's widths. */
int quire__rt_place_of(const char *name, const json_t *node, struct place *pl);

/* The id at digits (its whole index in base 16): malloc'd, NULL when malformed. */
char *quire__rt_id_at(const struct place *pl, const char *digits);

/* The items of a producer's node at depth (its digits so far in prefix): in a leaf, each
 * entry with its id (leaf); above, each child node's name with its digits and depth (inner).
 * QUIRE_ECORRUPT for a key or an item that is neither; non-zero from either stops it. */
int quire__rt_each_item(const struct place *pl, const json_t *items, int depth, const char *prefix,
			int (*leaf)(void *ud, const char *id, json_t *e),
			int (*inner)(void *ud, const char *hex, const char *digits, int depth),
			void *ud);

/* Record fp (64 hex) as an entry names it: an object with "deps" (kept as its text from keep
 * bytes; SIZE_MAX: parsed), a new reference in *out; a read error names artefact id. */
int quire__rt_read_record(struct quire_objs *o, const char *id, const char *fp, size_t keep,
			  json_t **out);

/* Every entry under items (at depth, its digits so far in prefix) into arts, restored to
 * format 1's shape. */
int quire__rt_walk(struct quire_objs *o, const struct place *pl, const json_t *items, int depth,
		   const char *prefix, json_t *arts);

#endif
