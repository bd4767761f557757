/* Internal: YAML documents loaded through libfyaml with positions for file:line:col errors. */
#ifndef QUIRE_YAML_H
#define QUIRE_YAML_H

#include <stddef.h>

#include <jansson.h>
#include <libfyaml.h>

struct quire__yaml {
	char *name;   /* the file name used in messages (relative to the project) */
	char *text;   /* the file's bytes (validated UTF-8) */
	struct fy_document *doc;
	struct fy_node *root; /* NULL for an empty document */
};

/* Loads path (capped, UTF-8 checked) and parses it; messages name the file `name`.
 * QUIRE_ENOTFOUND, QUIRE_EIO, QUIRE_EINVALID with "name:line:col: ...". */
int quire__yaml_load(const char *path, const char *name, struct quire__yaml **out);
/* Parses text already in memory (copied). */
int quire__yaml_parse(const char *text, size_t len, const char *name, struct quire__yaml **out);
void quire__yaml_free(struct quire__yaml *y);

/* 1-based line and column where node n starts (best effort for collections). */
void quire__yaml_pos(struct fy_node *n, int *line, int *col);

/* Sets "name:line:col: <message>" (position of n, or 1:1 when n is NULL); returns code. */
int quire__yaml_error(const struct quire__yaml *y, struct fy_node *n, int code, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* The scalar text of n (not NUL-terminated; length in *len), or NULL when n is not a scalar. */
const char *quire__yaml_scalar(struct fy_node *n, size_t *len);

/* malloc'd NUL-terminated copy of a scalar, or NULL when n is not a scalar. */
char *quire__yaml_strdup(struct fy_node *n);

/* true when n is a plain (unquoted) scalar. */
int quire__yaml_plain(struct fy_node *n);

/* The value of `key` in mapping n, or NULL. */
struct fy_node *quire__yaml_get(struct fy_node *n, const char *key);

/* Converts a node to JSON: plain scalars become integers, booleans or null where they read so;
 * other numbers stay strings (floats are never hashed). New reference. */
json_t *quire__yaml_to_json(struct fy_node *n);

/* Parses a plain integer scalar; 0 on success. */
int quire__yaml_int(struct fy_node *n, long long *out);



struct quire_input_decl;
/* Converts the value node n for blueprint input `in` (typed, range-checked); positioned error. */
int quire__input_value(const struct quire__yaml *y, struct fy_node *n,
		       const struct quire_input_decl *in, json_t **out);
#endif
