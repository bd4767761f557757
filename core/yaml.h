/* Internal: YAML files parsed with libyaml into quire's own node tree, positioned and bounded. */
#ifndef QUIRE_YAML_H
#define QUIRE_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* At most this many values in a document, an alias counting as every value it stands for: a
 * few hundred bytes of nested aliases would otherwise stand for billions. */
#define QUIRE_YAML_MAX_VALUES 100000
/* At most this many collections nested in one another (through aliases too): every walk over
 * a tree is recursive. */
#define QUIRE_YAML_MAX_DEPTH 64

enum quire__ykind { QUIRE_YSCALAR = 1, QUIRE_YSEQ, QUIRE_YMAP };

/* How a scalar was written. */
enum quire__ystyle { QUIRE_YPLAIN, QUIRE_YSINGLE, QUIRE_YDOUBLE, QUIRE_YLITERAL, QUIRE_YFOLDED };

/* One node. An alias (*a) is not a node of its own: it is the node &a names, shared, so a
 * node's parent and position are where it is written. Nodes live as long as their document. */
struct quire__ynode {
	enum quire__ykind kind;
	enum quire__ystyle style;    /* scalars */
	const char *text;	     /* scalars: the value, NUL-terminated ("" when empty) */
	size_t len;		     /* scalars: bytes in text (a "\0" escape may hold a NUL) */
	struct quire__ynode *parent; /* the collection it is written in; NULL for the root */
	struct quire__ynode **kids;  /* sequence: items; mapping: key, value, key, value, ... */
	size_t n;		     /* sequence: items; mapping: pairs (merges included) */
	int line, col;		     /* where it starts, from 1 (after an anchor or a tag) */
	size_t start, end;	     /* byte offsets of its characters in the document's text,
				      * quotes and block indicator included; a block scalar or
				      * block collection ends where libyaml's next token starts */
	size_t weight;		     /* the values it stands for, itself included */
	int height;		     /* collections nested in it, itself included */
	int open;		     /* 1 while its collection is still being read */
};

struct quire__yaml {
	char *name;		   /* the file name used in messages (relative to the project) */
	char *text;		   /* the file's bytes (validated UTF-8), NUL-terminated */
	size_t len;		   /* bytes in text */
	struct quire__ynode *root; /* NULL for an empty document (nothing, or only comments) */
	struct quire__arena arena; /* the nodes and their texts */
};

/* Loads path (capped, UTF-8 checked) and parses it; messages name the file `name`.
 * QUIRE_ENOTFOUND, QUIRE_EIO, QUIRE_EINVALID with "name:line:col: ...". */
int quire__yaml_load(const char *path, const char *name, struct quire__yaml **out);
/* Parses text already in memory (copied): one document, bounded by QUIRE_YAML_MAX_VALUES and
 * QUIRE_YAML_MAX_DEPTH, no duplicate keys, no U+0085, U+2028 or U+2029 (line breaks to YAML
 * 1.1), merge keys (<<) applied. QUIRE_EINVALID. */
int quire__yaml_parse(const char *text, size_t len, const char *name, struct quire__yaml **out);
/* Frees the document and every node of it; NULL is fine. */
void quire__yaml_free(struct quire__yaml *y);

/* 1 when n is a scalar, a sequence or a mapping (0 for NULL). */
static inline int quire__yaml_is_scalar(const struct quire__ynode *n)
{
	return n && n->kind == QUIRE_YSCALAR;
}
static inline int quire__yaml_is_seq(const struct quire__ynode *n)
{
	return n && n->kind == QUIRE_YSEQ;
}
static inline int quire__yaml_is_map(const struct quire__ynode *n)
{
	return n && n->kind == QUIRE_YMAP;
}

/* 1 when n is NULL or written with no value at all ("key:"); "null", "~" and "" are values. */
int quire__yaml_empty(const struct quire__ynode *n);

/* Items of a sequence or pairs of a mapping; 0 for anything else. */
size_t quire__yaml_count(const struct quire__ynode *n);
/* Item i of sequence n (borrowed), or NULL. */
struct quire__ynode *quire__yaml_item(const struct quire__ynode *n, size_t i);
/* Key of pair i of mapping n (borrowed), or NULL. */
struct quire__ynode *quire__yaml_key(const struct quire__ynode *n, size_t i);
/* Value of pair i of mapping n (borrowed), or NULL. */
struct quire__ynode *quire__yaml_value(const struct quire__ynode *n, size_t i);
/* The value of scalar key `key` in mapping n (borrowed), or NULL. */
struct quire__ynode *quire__yaml_get(const struct quire__ynode *n, const char *key);
/* The key whose value n is in the mapping n is written in, or NULL. */
struct quire__ynode *quire__yaml_key_of(const struct quire__ynode *n);

/* 1-based line and column where messages about n point: a scalar's start, a collection's
 * first scalar, the key of an empty value or empty collection; 1:1 for NULL. */
void quire__yaml_pos(const struct quire__ynode *n, int *line, int *col);

/* Sets "name:line:col: <message>" (quire__yaml_pos of n); returns code. */
int quire__yaml_error(const struct quire__yaml *y, const struct quire__ynode *n, int code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The scalar text of n (length in *len), or NULL when n is not a scalar. */
const char *quire__yaml_scalar(const struct quire__ynode *n, size_t *len);

/* malloc'd NUL-terminated copy of a scalar, or NULL when n is not a scalar. */
char *quire__yaml_strdup(const struct quire__ynode *n);

/* 1 when n is a plain (unquoted, not block) scalar. */
int quire__yaml_plain(const struct quire__ynode *n);

/* Converts a node to JSON: plain scalars become integers, booleans or null where they read so;
 * other numbers stay strings (floats are never hashed). New reference. */
json_t *quire__yaml_to_json(const struct quire__ynode *n);

/* Parses a plain integer scalar; 0 on success. */
int quire__yaml_int(const struct quire__ynode *n, long long *out);

struct quire_input_decl;
/* Converts the value node n for blueprint input `in` (typed, range-checked); positioned error. */
int quire__input_value(const struct quire__yaml *y, const struct quire__ynode *n,
		       const struct quire_input_decl *in, json_t **out);
#endif
