/* The provider ABI: the only interface between quire's core and the providers that generate
 * artefacts. Providers see these plain structs and nothing of the core. */
#ifndef QUIRE_PROVIDER_H
#define QUIRE_PROVIDER_H

#include <stddef.h>

/* Bumped on any incompatible change; the core refuses a provider built for another version. */
#define QUIRE_PROVIDER_ABI 1

/* One generation request. Every pointer is borrowed for the duration of produce(). */
struct quire_provider_request {
	unsigned abi;             /* QUIRE_PROVIDER_ABI */
	const char *id;           /* instance id, e.g. "Scene[1][0]" */
	const char *producer;     /* producer name */
	const char *role;         /* role the producer names */
	const char *model;        /* model from the binding, or NULL */
	const char *params_json;  /* binding parameters as a JSON object */
	const char *prompt;       /* rendered prompt (UTF-8) */
	size_t prompt_len;
	const char *fingerprint;  /* "sha256:..." identifying this exact request */
	const char *output_type;  /* "text", "json", "image", "audio" or "file" */
	const char *output_ext;   /* extension without dot */
	const char *schema_json;  /* rendered JSON schema for json outputs, or NULL */
	const char *const *input_ids;   /* upstream artefact ids, in use order */
	const char *const *input_paths; /* their content, as read-only files */
	size_t ninputs;
	const char *output_path;  /* write the output here (the core moves it into the store) */
	const volatile int *cancelled; /* becomes non-zero when the run is interrupted */
};

/* What the provider reports back. The core zeroes it before produce(). */
struct quire_provider_response {
	long long tokens_in, tokens_out;
	long long cost_micro; /* cost estimate in millionths of the price table's unit */
	int transient;        /* on failure: 1 when a retry may succeed */
	char diag[2048];      /* on failure: what went wrong (never a secret) */
	char meta[2048];      /* on success: optional JSON object recorded as provenance */
};

enum {
	QUIRE_PROVIDER_THREADSAFE = 1 << 0, /* produce() may run on several threads at once */
};

/* A provider type: a const vtable. */
struct quire_provider {
	unsigned abi;     /* QUIRE_PROVIDER_ABI */
	const char *name; /* the name bindings use, e.g. "mock" */
	unsigned flags;
	/* Creates an instance for one binding. config_json: {"model":..,"params":{..}}.
	 * Returns 0, or non-zero with a message in err. */
	int (*init)(void **ctx, const char *config_json, char *err, size_t errlen);
	/* Generates one output into req->output_path. 0 on success. */
	int (*produce)(void *ctx, const struct quire_provider_request *req,
		       struct quire_provider_response *resp);
	/* Asks in-flight produce() calls to stop soon (may be NULL). */
	void (*cancel)(void *ctx);
	/* Frees the instance (may be NULL). */
	void (*fini)(void *ctx);
};

/* The built-in deterministic provider (providers/mock.c). */
extern const struct quire_provider quire_provider_mock;

#endif
