/* Blueprint: the typed inputs and producers of a story build, loaded and validated from YAML. */
#ifndef QUIRE_BLUEPRINT_H
#define QUIRE_BLUEPRINT_H

#include <stddef.h>

#include <jansson.h>

struct quire_buf;

/* Most fan-out dimensions a producer may have (Scene[i][j] has two). */
#define QUIRE_MAX_DIMS 4

/* A file input's value is a path in the project; templates read the file's text, and its
 * content (not its name) enters fingerprints. */
enum quire_input_type {
	QUIRE_INPUT_TEXT,
	QUIRE_INPUT_INT,
	QUIRE_INPUT_BOOL,
	QUIRE_INPUT_ENUM,
	QUIRE_INPUT_FILE,
	QUIRE_INPUT_LIST /* texts, addressed by index ({{Notes[p]}}): each element counts alone */
};

struct quire_input_decl {
	char *name;
	enum quire_input_type type;
	int required;
	json_t *def; /* default value (typed), or NULL */
	int has_min, has_max;
	long long min, max;
	char **values; /* enum values */
	size_t nvalues;
	int line, col;
};

enum quire_idx_kind { QUIRE_IDX_VAR, QUIRE_IDX_ALL, QUIRE_IDX_LIT, QUIRE_IDX_BEFORE };

/* One index of a reference: a loop variable of the using producer ("i", or "i-1": an earlier
 * instance, absent for the first), '*', a literal, or every earlier index ("<i"). */
struct quire_idx {
	enum quire_idx_kind kind;
	int var;       /* QUIRE_IDX_VAR and _BEFORE: dimension number in the using producer */
	long long off; /* QUIRE_IDX_VAR: 0, or minus how many indexes back ("i-1": -1) */
	long long lit;
};

/* One entry of a producer's `uses`. */
struct quire_use {
	char *text; /* canonical spelling, e.g. "Scene[i][*]" */
	int is_input;
	int target; /* index into inputs or producers */
	int nidx;
	struct quire_idx idx[QUIRE_MAX_DIMS];
	int earlier; /* an index says "i-N" or "<i": the use reaches back along a loop */
	int line, col;
};

enum quire_output_type {
	QUIRE_OUT_TEXT,
	QUIRE_OUT_JSON,
	QUIRE_OUT_IMAGE,
	QUIRE_OUT_AUDIO,
	QUIRE_OUT_FILE
};

struct quire_output {
	enum quire_output_type type;
	char *ext;    /* file extension without dot, e.g. "md" */
	char *schema; /* JSON schema template path (json outputs), or NULL */
};

struct quire_dim {
	char *var; /* loop variable, e.g. "i" */
	int input; /* index of the int input giving the count */
};

struct quire_producer {
	char *name;
	char *role;
	char *prompt; /* prompt template path relative to the project, or NULL; may name loop
		       * variables ("prompts/scene-{{i}}-{{j}}.md": one file per instance) */
	int prompt_per_instance; /* prompt contains {{...}} */
	struct quire_use *uses;
	size_t nuses;
	struct quire_output output;
	struct quire_dim dims[QUIRE_MAX_DIMS];
	int ndims;
	int review;
	json_t *def;	     /* normalised definition, hashed into fingerprints */
	char def_digest[72]; /* digest of def, computed once */
	int line, col;
};

struct quire_blueprint {
	char *file; /* name used in messages */
	char *name;
	long long version;
	struct quire_input_decl *inputs;
	size_t ninputs;
	struct quire_producer *producers;
	size_t nproducers;
	size_t *order; /* producers in dependency order */
};

/* Loads and validates a blueprint file; `name` is how messages call it. Errors are
 * QUIRE_EINVALID with "name:line:col: ..." (unknown ids get a did-you-mean, cycles their path),
 * or QUIRE_ENOTFOUND / QUIRE_EIO. *out belongs to the caller. */
int quire_blueprint_load(struct quire_blueprint **out, const char *path, const char *name);

/* Same, from text in memory. */
int quire_blueprint_parse(struct quire_blueprint **out, const char *text, size_t len,
			  const char *name);

void quire_blueprint_free(struct quire_blueprint *bp);

/* Index of the input or producer called name, or -1. */
int quire_blueprint_input(const struct quire_blueprint *bp, const char *name);
int quire_blueprint_producer(const struct quire_blueprint *bp, const char *name);

/* Name of an output type ("text", "json", ...). */
const char *quire_output_type_name(enum quire_output_type t);

/* The prompt path of producer p's instance idx (its loop variables substituted), malloc'd;
 * NULL when the producer has no prompt. */
char *quire_producer_prompt_path(const struct quire_producer *p, const long long *idx);

/* The same path appended to out (nothing when the producer has no prompt). */
void quire_producer_prompt_path_add(const struct quire_producer *p, const long long *idx,
				    struct quire_buf *out);

/* Calls fn for every index combination of producer p given the dimension counts (in
 * dimension order); stops and returns fn's non-zero result. */
int quire_producer_each_index(const struct quire_producer *p, const long long *counts,
			      int (*fn)(void *ud, const long long *idx), void *ud);

/* Every role the blueprint's producers name, sorted, without repeats (borrowed strings;
 * the array is malloc'd). */
const char **quire_blueprint_roles(const struct quire_blueprint *bp, size_t *n);

#endif
