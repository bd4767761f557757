/* The planner: expands producers into instances, computes fingerprints and says, with reasons,
 * which instances are dirty. A pure function of (blueprint, inputs, bindings, manifest, files). */
#ifndef QUIRE_PLAN_H
#define QUIRE_PLAN_H

#include <stddef.h>

#include <jansson.h>

#include "quire/blueprint.h"
#include "hash.h"

struct quire_mbase;
struct quire_mrow;

struct quire_project;

struct quire_node {
	int producer;
	/* Flags, a byte each: 10,000 nodes are held at once (at 400 bytes a node, 4 MB of a 10k
	 * no-op's peak). */
	unsigned char selected; /* a target or a dependency of one */
	unsigned char dirty;
	unsigned char have_fp;	      /* fingerprint known at plan time (every upstream clean) */
	unsigned char feedback_round; /* notes came after its output: a new take revises it */
	unsigned char pinned;	      /* a hand edit: never regenerated until released */
	unsigned char missing;	      /* its recorded output's blob is not in the store */
	unsigned char pending_review; /* its output waits for 'quire edit ID --approve' */
	unsigned char waiting;	      /* dirty, but an upstream awaits review: it cannot run yet */
	unsigned char behind_review;  /* a hand edit whose upstream awaits review: what uses it
				       * waits too, or a hand edit would walk around the review
				       * gate */
	unsigned char cached; /* dirty, and a run would take it from a cache: 1 the local action
			       * cache, 2 the shared one (quire_plan_mark_cached), 3 another shard
			       * makes it (run --shard): never paid here */
	long long idx[QUIRE_MAX_DIMS];
	char *id;
	size_t *deps; /* upstream nodes, in the order of the producer's uses */
	size_t ndeps;
	size_t *rdeps; /* downstream nodes */
	size_t nrdeps;
	char **reasons;
	size_t nreasons;
	const struct quire_mrow *entry; /* the current revision's row (borrowed from plan->base) */
	char digest[QUIRE_DIGEST_STRLEN]; /* output digest when known ("" otherwise) */
	long long size;			  /* its size in bytes when known, else -1 */
	long long take;	      /* take number entering the fingerprint (0 for the first) */
	json_t *feedback;     /* review feedback history entering the fingerprint (an array
			       * owned by the plan), NULL when there is none */
	const char *draft;    /* with feedback: the output the latest note was given on, which a
			       * revision revises ({{draft}}; owned by the plan), else NULL */
	const char *awaiting; /* waiting: the id whose review it waits for (borrowed) */
};

struct quire_plan {
	struct quire_node *nodes; /* dependency order */
	size_t n;
	char **removed; /* ids in the manifest that the blueprint no longer produces */
	size_t nremoved;
	json_t *manifest;	  /* the manifest planned against (owned reference) */
	struct quire_mbase *base; /* its rows (a reference of the plan's own) */
	size_t ndirty;		  /* selected dirty nodes that can run now */
	size_t nwaiting;	  /* selected dirty nodes waiting for a review upstream */
	size_t nselected;
	/* The project's files (keys of p->files) whose content the blob store lacks, found with
	 * the plan's check of the store; files_checked says the list is complete. */
	char **unstored;
	size_t nunstored;
	int files_checked;
	struct quire_plan__index *index; /* private: id lookups */
};

/* Plans project p (files hashed) against manifest m; qdir is used to check that outputs still
 * exist. With targets (id globs), only they and what they depend on are selected; a target that
 * matches nothing is QUIRE_EINVALID. *out belongs to the caller. */
int quire_plan_build(struct quire_plan **out, const struct quire_project *p, json_t *m,
		     const char *qdir, const char *const *targets, size_t ntargets);

/* The same, also asking for a new take of every instance matching a regenerate pattern
 * (reason "regenerate requested"; the take number enters its fingerprint). m may be a slim
 * manifest with its base (quire_manifest_load_index), nothing folded onto it yet: the plan
 * decides from base's rows and parses the entries of dirty instances from base's text to
 * explain them. With base NULL, m is a full manifest and the plan makes rows of it. The plan
 * holds a reference to base. */
int quire_plan_build_ex(struct quire_plan **out, const struct quire_project *p, json_t *m,
			struct quire_mbase *base, const char *qdir, const char *const *targets,
			size_t ntargets, const char *const *regenerate, size_t nregenerate);

void quire_plan_free(struct quire_plan *plan);

/* What quire_plan_open plans. */
struct quire_plan_opts {
	const char *const *targets; /* id patterns; none: everything */
	size_t ntargets;
	const char *const *regenerate; /* id patterns to make a new take of */
	size_t nregenerate;
	int reindex; /* write the current revision's index when it had none usable (writers) */
	const json_t *merged; /* plan against this manifest (a merge not committed) instead */
};

struct quire_store;

/* Hashes the project's files (through store's stat cache; store may be read-only), checks
 * its templates, and plans against revision `current` (NULL: nothing committed yet): from its
 * compact index when that is usable, else from the manifest. The plan holds the manifest it
 * planned against (plan->manifest) and its rows (plan->base; quire_mbase_has_text tells
 * whether they came from the index). QUIRE_EINVALID for a bad target or project,
 * QUIRE_ECORRUPT, QUIRE_EIO. *out belongs to the caller. */
int quire_plan_open(struct quire_plan **out, struct quire_project *p, struct quire_store *store,
		    const char *current, const struct quire_plan_opts *o);

/* The fingerprint of node i from its upstream digests (all must be known), and the dependency
 * record stored in the manifest, as canonical JSON text (malloc'd, in *deps when non-NULL).
 * The JSON fields its templates read from an upstream output, rather than the whole output,
 * enter the record when the provider is given nothing but the prompt (a version 2 record);
 * reading them reads those outputs (verified: QUIRE_ECORRUPT, QUIRE_ENOTFOUND). */
int quire_plan_fingerprint(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			   struct quire_digest *fp, char **deps);

struct quire_mrow;

/* The same, and whether row (NULL: none) was recorded for what node i would be made from now
 * (*same): its fingerprint is today's, or it is a record of before field-level fingerprints
 * (its JSON upstreams named whole) that is today's with those upstreams as they were, or
 * whose outputs differ from today's only in fields node i does not read. With lazy, a row
 * recorded before them and unchanged since answers without reading any output, and *fp is
 * then its fingerprint (and *deps NULL): for deciding, not for recording. */
int quire_plan_match(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		     const struct quire_mrow *row, int lazy, struct quire_digest *fp, char **deps,
		     int *same);

/* The fingerprint node i's record had before field-level records (every upstream named
 * whole): outputs made then are in the action cache under it. */
int quire_plan_fingerprint_v1(const struct quire_plan *plan, const struct quire_project *p,
			      size_t i, struct quire_digest *fp);

/* Whether what node i reads is known: each upstream clean with its output, or dirty and given
 * back (back[u] == 1: a cache or a restore gives exactly its recorded output). */
int quire_plan_upstream_known(const struct quire_plan *plan, size_t i, const unsigned char *back);

/* Whether node i is dirty only because its recorded output is missing: its fingerprint today
 * (in *fp) is the recorded one, the row clean, the output not in the store. Call once what it
 * reads is known. */
int quire_plan_only_missing(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			    struct quire_digest *fp);

/* Marks the dirty instances a run would take from a cache (node->cached): the local action
 * cache, and with ask_remote the project's shared cache (its result and output there, asked
 * by the result then a HEAD of the output); a recorded output neither has gets the reason
 * "output missing here and in the remote cache". *warning (malloc'd, or NULL) says what went
 * wrong with the shared cache. QUIRE_EINVALID for a cache URL that cannot be used. */
int quire_plan_mark_cached(struct quire_plan *plan, const struct quire_project *p,
			   struct quire_store *store, int ask_remote, char **warning);

/* Which shard (0..n-1) instance id falls in: by its id's hash, known before anything is
 * made (a fingerprint is known only once what it reads is). */
int quire_plan_shard_of(const char *id, int n);

/* Narrows the selection to shard k (1..n) of the dirty instances and what they read (which
 * other shards make); recounts the plan. */
void quire_plan_select_shard(struct quire_plan *plan, int k, int n);

/* The plan as data: {current, total, dirty, waiting, instances: [{id, dirty, waiting,
 * reasons}], removed}. With
 * all, clean instances are listed too. New reference. */
json_t *quire_plan_to_json(const struct quire_plan *plan, int all);

/* Index of the node with this id, or -1 (constant time). */
long quire_plan_find(const struct quire_plan *plan, const char *id);

#endif
