/* The provider ABI: the only interface between quire's core and the providers that generate
 * artefacts. Providers see these plain structs and nothing of the core. */
#ifndef QUIRE_PROVIDER_H
#define QUIRE_PROVIDER_H

#include <stddef.h>

/* Bumped on any incompatible change; the core refuses a provider built for a version it does
 * not speak. 3 added QUIRE_PROVIDER_IN_MEMORY and the response's output fields (a module
 * built for 3 that answers in memory must not be loaded by a quire that does not know them);
 * modules built for 2 still load (QUIRE_PROVIDER_ABI_MIN). */
#define QUIRE_PROVIDER_ABI 3
#define QUIRE_PROVIDER_ABI_MIN 2

/* How one binding (a role in quire.yaml) configures a provider instance. Borrowed for the
 * duration of init(); copy what you keep. */
struct quire_provider_config {
	unsigned abi;		 /* QUIRE_PROVIDER_ABI */
	const char *provider;	 /* the provider name the binding uses */
	const char *role;	 /* the role being bound */
	const char *model;	 /* model from the binding, or NULL */
	const char *params_json; /* binding parameters as a JSON object (never NULL) */
	const char *secret;	 /* the binding's API key or token, or NULL. Never log it, never
				  * put it in diag or meta: the core redacts it, but do not rely on it */
	const char *project_dir; /* absolute project directory (exec runs commands here) */
	const char *program;	 /* external providers: path of quire-provider-NAME, else NULL */
};

/* One generation request. Every pointer is borrowed for the duration of produce(). */
struct quire_provider_request {
	unsigned abi;		 /* QUIRE_PROVIDER_ABI */
	const char *id;		 /* instance id, e.g. "Scene[1][0]" */
	const char *producer;	 /* producer name */
	const char *role;	 /* role the producer names */
	const char *model;	 /* model from the binding, or NULL */
	const char *params_json; /* binding parameters as a JSON object */
	const char *prompt;	 /* rendered prompt (UTF-8) */
	size_t prompt_len;
	const char *fingerprint;	/* "sha256:..." identifying this exact request */
	const char *output_type;	/* "text", "json", "image", "audio" or "file" */
	const char *output_ext;		/* extension without dot */
	const char *schema_json;	/* rendered JSON schema for json outputs, or NULL */
	const char *const *input_ids;	/* upstream artefact ids, in use order */
	const char *const *input_paths; /* their content, as read-only files */
	size_t ninputs;
	const char *prompt_path;       /* the rendered prompt as a file (same bytes as prompt); NULL
					* for the built-in providers that read only prompt */
	const char *output_path;       /* write the output here (the core moves it into the store);
					* NULL for a QUIRE_PROVIDER_IN_MEMORY provider */
	const char *scratch_dir;       /* a private empty directory for this attempt; a provider may
					* leave the raw answer it received there as the file
					* QUIRE_RESPONSE_FILE, which quire keeps (redacted of secrets)
					* with the call's record. NULL for QUIRE_PROVIDER_IN_MEMORY */
	unsigned attempt;	       /* 1 for the first try, 2 for the first retry, ... */
	const volatile int *cancelled; /* becomes non-zero when the run is interrupted */
	/* Optional progress for the live display (e.g. streamed tokens); may be called from the
	 * produce() thread at any rate; NULL when nobody listens. */
	void (*progress)(void *progress_ud, long long units, const char *unit);
	void *progress_ud;
};

/* What the provider reports back. The core zeroes it before produce(). */
/* The raw answer's file name in scratch_dir (see quire_provider_request). */
#define QUIRE_RESPONSE_FILE "response"

struct quire_provider_response {
	long long tokens_in, tokens_out; /* -1 when the answer did not say (the call was made and
					  * may be billed: the core records the usage as unknown and
					  * counts an estimate), 0 when nothing was used */
	long long cost_micro; /* cost in millionths of the price table's unit, if the provider knows
			       */
	int transient;	     /* on failure: 1 when a retry may succeed (429, 5xx, timeout, reset) */
	long retry_after_ms; /* on a transient failure: wait at least this long (Retry-After) */
	char diag[2048];     /* on failure: what went wrong (never a secret) */
	char meta[2048];     /* on success: optional JSON object recorded as provenance
			      * (response ids, prediction ids, ...) */
	/* QUIRE_PROVIDER_IN_MEMORY only: the output, in a buffer from malloc() that the core
	 * frees (also on failure, when set). */
	void *output;
	size_t output_len;
};

enum {
	QUIRE_PROVIDER_THREADSAFE = 1 << 0,   /* produce() may run on several threads at once */
	QUIRE_PROVIDER_NEEDS_SECRET = 1 << 1, /* refuse to run without a secret */
	/* produce() reads only prompt and schema_json and answers in resp->output: it is given
	 * no files (no prompt file, output path or scratch directory), so a step costs the
	 * core no file but its output's. An empty answer is a buffer of length 0, not NULL.
	 * ABI 3 and later. */
	QUIRE_PROVIDER_IN_MEMORY = 1 << 2,
};

/* A provider type: a const vtable. */
struct quire_provider {
	unsigned abi;	  /* QUIRE_PROVIDER_ABI */
	const char *name; /* the name bindings use, e.g. "mock" */
	unsigned flags;
	const char *secret_env; /* default environment variable holding the secret, or NULL */
	/* Creates an instance for one binding. Returns 0, or non-zero with a message in err. */
	int (*init)(void **ctx, const struct quire_provider_config *cfg, char *err, size_t errlen);
	/* Generates one output into req->output_path (or resp->output). 0 on success. */
	int (*produce)(void *ctx, const struct quire_provider_request *req,
		       struct quire_provider_response *resp);
	/* Asks in-flight produce() calls to stop soon (may be NULL). */
	void (*cancel)(void *ctx);
	/* Frees the instance (may be NULL). */
	void (*fini)(void *ctx);
	/* Optional readiness probe for 'quire providers --check' (e.g. the server answers):
	 * 0 when ready, else non-zero with a message in msg. May be NULL. */
	int (*check)(void *ctx, char *msg, size_t msglen);
};

/* A shared module (plugin) exports this symbol: it returns the provider named `name` (the
 * module may hold several), or NULL. */
typedef const struct quire_provider *(*quire_provider_entry_fn)(const char *name);
#define QUIRE_PROVIDER_ENTRY "quire_provider_entry"

#endif
