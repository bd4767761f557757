/* quire's JSON writer (sorted keys, fixed layout: what is hashed and committed reads the same
 * every time) and its readers that keep part of a document as text. */
#ifndef QUIRE_JSON_H
#define QUIRE_JSON_H

#include <stddef.h>

#include <jansson.h>

struct quire_buf;

/* Appends v as JSON with sorted keys: pretty, the bytes of jansson's JSON_INDENT(2); else the
 * compact bytes of JSON_COMPACT. Reals are printed by jansson. */
void quire_json_write(struct quire_buf *out, const json_t *v, int pretty);

/* Appends a newline and two spaces per level of depth, as quire's pretty writer indents (nothing
 * for depth < 0: compact). */
void quire_json_indent(struct quire_buf *out, int depth);

/* The keys of object obj, sorted as quire's writer orders them (strcmp); *n gets their count.
 * malloc'd array (free it); the keys are borrowed from obj. */
const char **quire_json_sorted_keys(const json_t *obj, size_t *n);

/* The same, pretty, as the value would appear nested depth levels deep in a pretty document
 * (its inner lines indented accordingly); depth -1 is compact. */
void quire_json_write_at(struct quire_buf *out, const json_t *v, int depth);

/* Appends JSON text s (n bytes, any spacing), as quire's writer wrote it, laid out as
 * quire_json_write_at(v, depth) lays out the value it holds, without parsing it into a tree
 * (strings are copied as they are, keys kept in their order). -1 (nothing appended) when s is
 * not one JSON value (checked as a parser would, but for duplicate keys). */
int quire_json_reformat(struct quire_buf *out, const char *s, size_t n, int depth);

/* 1 only when s (n bytes) is exactly what quire_json_write(v, 0) writes for the value v it
 * parses to (no spacing; object keys without escapes, in strcmp's order, each once; strings
 * escaped as quire_buf_put_jstr escapes them, valid UTF-8; integers of at most 18 digits; no
 * reals): such a text is written again as it is, without parsing it into a tree. */
int quire_json_is_canonical(const char *s, size_t n);

/* Parses JSON object text (len bytes), except the value of its member key (when key is given,
 * and the value is an object or array of at least min bytes): that is kept as its JSON text,
 * in a JSON string, and not parsed. NULL when the text is not a JSON object. New reference. */
json_t *quire_json_loads_keeping(const char *text, size_t len, const char *key, size_t min);

/* The end of the JSON value starting (after spacing) at s[i]: the index just past it, or
 * (size_t)-1 when there is none. Strings and nesting are followed; scalars are not checked. */
size_t quire_json_value_end(const char *s, size_t n, size_t i);

/* quire_json_canonical of object obj with key set to the JSON text raw, which must itself be
 * canonical (written as it is, not parsed): the runner's events carry the dependency record
 * the fingerprint was computed from without parsing it into a tree and writing it again. */
char *quire_json_canonical_with(const json_t *obj, const char *key, const char *raw);

/*
 * Canonical JSON (sorted keys, compact, UTF-8) of v; malloc'd. Refuses reals anywhere in v
 * (their printed form is not stable): returns NULL with QUIRE_EINVALID set.
 */
char *quire_json_canonical(const json_t *v);

#endif
