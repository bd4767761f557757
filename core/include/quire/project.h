/* A quire project: quire.yaml (bindings, paths), the blueprint and the input values. */
#ifndef QUIRE_PROJECT_H
#define QUIRE_PROJECT_H

#include <stddef.h>

#include <jansson.h>

#include "hash.h"

struct quire_blueprint;
struct quire_buf;
struct quire_store;
struct quire_provider;

/* A role bound to a provider: everything about it that enters fingerprints. */
struct quire_binding {
	char *role;
	char *provider;
	char *model;	     /* may be NULL */
	json_t *params;	     /* object, never NULL */
	int max_concurrency; /* 0 = unlimited */
	char *secret;	     /* name of the secret (env variable / secrets-file key), or NULL
			      * for the provider's default */
	int retries;	     /* transient failures retried this many times (default 3) */
	int retry_base_ms;   /* first backoff delay (default 1000), doubled each retry */
	/* Price table (not hashed: prices do not change outputs). Costs are in millionths of
	 * the user's currency unit. */
	int priced;		      /* a price was given */
	long long per_call_micro;     /* per generation */
	long long in_per_mtok_micro;  /* per million input tokens */
	long long out_per_mtok_micro; /* per million output tokens */
	long long est_tokens_out;     /* output tokens assumed by estimates (default 1000) */
	/* Reasoning blocks (<think>...</think>) dropped from the start of text and json outputs:
	 * tag names, by default think and reasoning (none for exec); hashed when given. */
	char **reasoning;
	size_t nreasoning;
	long long context_tokens;   /* the model's context, 0 when not set: prompts are checked */
	struct quire_digest digest; /* of {provider, model, params} (and reasoning when given) */
};

/* One file the build reads, and the digest of its content. */
struct quire_pfile {
	const char *rel; /* relative to the project root */
	struct quire_digest d;
};

struct quire_project {
	char *root;	      /* absolute project directory */
	char *qdir;	      /* root/.quire */
	char *blueprint_file; /* relative to root */
	char *inputs_file;    /* relative to root */
	char *out_dir;	      /* relative to root */
	int jobs;	      /* default -j */
	char *cache_remote;   /* cache.remote: the shared cache's URL, or NULL */
	int cache_no_push;    /* cache.push: false */
	int git_autocommit;   /* git.autocommit: every run commits its revision to git */
	struct quire_binding *bindings;
	size_t nbindings;
	struct quire_blueprint *bp;
	json_t *inputs;	       /* name -> typed value, defaults applied (a file input's is
				* its path) */
	json_t *input_text;    /* file inputs: name -> the file's text, NULL when none */
	json_t *render_inputs; /* private: inputs with file inputs' text, for templates */
	struct quire_template **list_tpl; /* private: per producer, its prompt and schema parsed
					   * (2 each) when it reads a list input */
	unsigned char *list_tpl_state;	  /* private: 0 not yet, 1 parsed, 2 unusable */
	struct quire_pfile *files; /* every file the build reads, each once, in the order first
				    * named (after quire_project_hash_files) */
	size_t nfiles;
	struct quire__pfiles *ftab; /* private: the files by path and by instance */
	json_t *input_digests;	    /* private memo of quire_project_input_digest */
	int no_cache_writes; /* set: planning writes no cache either (.quire/blob-trust); dry runs
			      */
	json_t *in_out; /* with no_cache_writes: outputs the store lacks that out/ holds exactly
			 * (digest -> true), counted present by the plan as the run will take them
			 */
};

/* The project file's name. */
#define QUIRE_PROJECT_FILE "quire.yaml"

/* Finds the project root: dir itself when given, else the nearest directory upward from the
 * working directory holding quire.yaml. malloc'd absolute path. QUIRE_ENOTFOUND. */
int quire_project_find(char **root, const char *dir);

/* Loads quire.yaml, the blueprint and the inputs of the project at root, validating each with
 * positioned messages. QUIRE_EINVALID, QUIRE_ENOTFOUND, QUIRE_EIO. */
int quire_project_open(struct quire_project **out, const char *root);

void quire_project_free(struct quire_project *p);

/* The inputs as templates see them: a file input's value is its file's text. Borrowed. */
const json_t *quire_project_render_inputs(const struct quire_project *p);

/* For --set 'Notes[3]=TEXT': the list input's new value (item 3 replaced, or added when 3 is
 * its length) in *out and the input's name in *name (both the caller's). QUIRE_EINVALID /
 * QUIRE_ENOTFOUND naming what is wrong. */
int quire_project_parse_list_item(const struct quire_project *p, const char *target,
				  const char *text, char **name, json_t **out);

/* The items of list input `name` that instance idx of producer pi reads, as integers in out:
 * 0, or 1 when it reads the list whole (or its templates cannot be read here: the run says
 * why), so that the whole list enters its fingerprint. */
int quire_project_list_keys(const struct quire_project *p, size_t pi, const char *name,
			    const long long *idx, json_t *out);

/* 1 for a provider given nothing but the prompt (mock, openai, replicate): exec and plugins
 * are also given the upstream files themselves. */
int quire_provider_prompt_only(const char *provider);

/* The JSON fields producer pi's templates read from upstream producer `upstream` for the
 * instance at idx (see quire_template_field_paths): 0 with out filled, or 1 when its outputs
 * count whole (read whole, an unknown index, a template that cannot be read here, or a
 * provider that is given the upstream files too: exec, plugins). */
int quire_project_field_paths(const struct quire_project *p, size_t pi, const char *upstream,
			      const long long *idx, json_t *out);

/* The binding of a role, or NULL. Borrowed. */
const struct quire_binding *quire_project_binding(const struct quire_project *p, const char *role);

/* Digests every file the build reads (quire.yaml, blueprint, inputs, prompts, schemas) into
 * p->files, using the store's stat cache to skip unchanged files (store may be NULL). A prompt
 * or schema the blueprint names that does not exist is a QUIRE_ENOTFOUND naming the producer. */
int quire_project_hash_files(struct quire_project *p, struct quire_store *store);

/* The most instances one producer may have (a fan-out beyond it is refused with a message,
 * not attempted: each instance costs a few hundred bytes of plan). */
#define QUIRE_MAX_INSTANCES 50000000ull

/* How many instances producer pi has with the project's inputs (the product of its fan-out
 * counts). QUIRE_EINVALID naming the producer beyond QUIRE_MAX_INSTANCES. */
int quire_project_instance_count(const struct quire_project *p, size_t pi, size_t *n);

/* The digest of file rel (relative to the root) as quire_project_hash_files found it, or NULL
 * when it was not among the files hashed. Borrowed from p. */
const char *quire_project_file_digest(const struct quire_project *p, const char *rel);

/* The digest of the prompt file of producer pi's instance idx (found by its index, without
 * formatting its path), or NULL when the producer has no prompt or it was not hashed. */
const char *quire_project_prompt_digest(const struct quire_project *p, size_t pi,
					const long long *idx);

/* The files hashed as a JSON object {path: digest}, made once; NULL before hashing. Borrowed. */
const json_t *quire_project_files_json(const struct quire_project *p);

/* The same object as canonical JSON text (sorted keys, compact), appended to out without
 * making the object ("{}" before hashing). */
void quire_project_files_text(const struct quire_project *p, struct quire_buf *out);

/* Parses every prompt and schema template and checks its names against its producer's uses
 * and loop variables, so a typo is a positioned error before anything runs. QUIRE_EINVALID,
 * QUIRE_ENOTFOUND. */
int quire_project_check_templates(const struct quire_project *p);

/* The same check, skipped when the blueprint and every template file (p->files, from
 * quire_project_hash_files) are what the last successful check saw; a writable store records
 * a successful check. Without a store or hashed files it is quire_project_check_templates. */
int quire_project_check_templates_cached(const struct quire_project *p, struct quire_store *store);

/* Checks that every role the blueprint uses is bound to a provider that can be found (see
 * quire_provider_resolve), and with need_secrets that each provider needing a secret has one,
 * so a typo or a missing key is reported before anything is written. QUIRE_EINVALID or
 * QUIRE_ENOTFOUND naming the role; never the secret. */
int quire_project_check_providers(const struct quire_project *p, int need_secrets);

/* The secret name a binding uses: its 'secret' key, else the provider's default (vt may be
 * NULL). Borrowed; NULL when the binding needs none. */
const char *quire_binding_secret_name(const struct quire_binding *b,
				      const struct quire_provider *vt);

/* Parses `text` as a value of input `name` (typed like the blueprint says: an integer within
 * min/max, true/false, one of an enum's values, or any text). QUIRE_EINVALID naming the input
 * and what it expects; QUIRE_ENOTFOUND (with a did-you-mean) for an unknown input. */
int quire_project_parse_input(const struct quire_project *p, const char *name, const char *text,
			      json_t **out);

/* Sets input `name` to the typed value in the project's inputs file: only that value's text is
 * replaced (comments and every other line stay byte for byte), or a line is appended when the
 * file does not set it. The result is parsed back and checked before it replaces the file
 * (atomically); p->inputs is updated. */
int quire_project_set_input(struct quire_project *p, const char *name, const json_t *value);

/* Appends value as a YAML scalar (indent: the block indentation for multi-line text). */
void quire_yaml_emit_scalar(struct quire_buf *out, const json_t *value, int indent);

/* The most one generation costs, in micro-units (a billion of the price table's unit): a
 * larger figure is a mistake in a price or in what a provider reported, and the sums of
 * costs over a run must stay countable. */
#define QUIRE_COST_MAX 1000000000000000LL

/* An amount in the price table's currency ("2.50": whole units, up to 6 decimals, at most
 * 10^12 units) in micro-units: 0, or -1 when s is not one (quire.yaml prices, --max-cost). */
int quire_amount_parse(const char *s, long long *micro);

/* Cost of one generation with this binding's prices, in micro-units; at most QUIRE_COST_MAX
 * (token counts are at least 0). */
long long quire_binding_cost(const struct quire_binding *b, long long tokens_in,
			     long long tokens_out);

/* Digest of the value of input `name` (canonical JSON of the typed value). */
void quire_project_input_digest(const struct quire_project *p, const char *name,
				struct quire_digest *out);

/* The inputs as a revision records them: {name: {digest, value}}. New reference. */
json_t *quire_project_inputs_record(const struct quire_project *p);

#endif
