/* The runner: executes a plan with worker threads, records every result as an event, commits a
 * new revision (a fold of the events) and materialises out/. */
#ifndef QUIRE_RUN_H
#define QUIRE_RUN_H

#include <signal.h>
#include <stddef.h>

#include "quire/manifest.h"

struct quire_project;

/* One progress report, passed to the caller's callback on the main thread. */
struct quire_progress {
	const char *kind;    /* "start", "progress", "produced", "cached", "unchanged", "failed",
			      * "blocked", "waiting" (message: the id under review) */
	const char *id;	     /* instance id */
	const char *message; /* failure or block reason, or NULL */
	long long units;     /* "progress": what the provider reported so far (e.g. tokens) */
	const char *unit;    /* "progress": the unit, e.g. "tokens" */
	size_t done, total, running;
	size_t produced, cached, unchanged, failed, blocked;
};

struct quire_run_opts {
	int jobs;      /* worker threads; <= 0 means the project's default */
	int fail_fast; /* stop starting jobs after the first failure */
	const char *const *targets;
	size_t ntargets;
	const volatile sig_atomic_t *interrupted; /* set by the caller's SIGINT handler */
	void (*progress)(void *ud, const struct quire_progress *ev);
	void *ud;
	const char *command; /* how this run was started, for the lock holder and history */
	const char *message; /* the revision's message (UTF-8), or NULL: history shows command */
	const char *const *regenerate; /* id patterns to generate a new take of */
	size_t nregenerate;
	int touch; /* accept each dirty instance's current output for its new fingerprint, without
		    * calling a provider (make -t); QUIRE_EINVALID when one has no output */
	int has_max_cost; /* refuse (QUIRE_ECOST) when the estimate exceeds max_cost_micro */
	long long max_cost_micro;
	/* run --shard K/N (shard_n > 0): make only the dirty instances whose id falls in shard
	 * K (1..N), and what they read that another shard makes, wait for in the shared cache
	 * (for at most shard_timeout_s seconds), never generate. */
	int shard_k, shard_n;
	int shard_timeout_s;
};

struct quire_run_result {
	char rev[QUIRE_REV_MAX];       /* revision committed, or "" when nothing was to do */
	char recovered[QUIRE_REV_MAX]; /* revision recovered from a killed run, or "" */
	char merged[QUIRE_REV_MAX];    /* two lines of history merged first as this, or "" */
	size_t total;		       /* selected instances */
	size_t dirty;		       /* instances the plan said must run */
	size_t produced, cached, unchanged, failed, blocked, removed, not_started;
	size_t accepted;       /* run --touch: outputs accepted without regenerating */
	size_t waiting;	       /* could not run: an upstream awaits review */
	size_t pending_review; /* outputs of this run that await review */
	size_t out_written, out_removed;
	int interrupted;
	long long estimate_micro; /* estimated cost of the dirty instances (priced roles only) */
	long long cost_micro;	  /* cost of what this run generated */
	int priced;		  /* some role with work has a price */
};

/* Estimated cost of generating instance `i` of a plan: the role's per-call price plus its token
 * prices, counting the bytes of the prompt template and of the upstream outputs it may hold,
 * / 4, as input tokens and the price's estimate_tokens_out as output. */
struct quire_plan;
/* The same, saying in *unknown whether some upstream the prompt may hold is not generated
 * yet (the estimate then counts only what exists: a floor). */
long long quire_run_estimate_ex(const struct quire_project *p, const struct quire_plan *plan,
				size_t i, int *unknown);
long long quire_run_estimate(const struct quire_project *p, const struct quire_plan *plan,
			     size_t i);

/* The estimated cost of every selected dirty instance of the plan but those a cache holds
 * (node->cached); *priced is 1 when a role with work has a price. */
long long quire_run_estimate_plan(const struct quire_project *p, const struct quire_plan *plan,
				  int *priced);

/* The estimate of what the plan would pay for (cached instances cost nothing), for plan and
 * run --dry-run: {"total_micro": N,
 * "priced": bool, "unknown": u, "roles": {ROLE: {"instances": n, "estimate_micro": m,
 * "priced": bool, "unknown": u}}} over the roles with work to do; unknown counts the priced
 * instances whose prompts read upstream outputs not generated yet (their estimate is a
 * floor). */
struct json_t;
struct json_t *quire_run_estimate_json(const struct quire_project *p,
				       const struct quire_plan *plan);

/* QUIRE_ECOST (with the message a refused run gives) when the estimate exceeds the limit. */
int quire_run_check_cost(long long estimate_micro, long long max_micro);

/* Runs the project's plan. Takes the writer lock (QUIRE_ELOCKED when held), recovers a run that
 * was killed (committing what it finished), plans, executes and commits. Job failures are not
 * errors of quire_run: they are counted in *res (res->failed). Returns QUIRE_EINTR after
 * committing what finished when interrupted. */
int quire_run(struct quire_project *p, const struct quire_run_opts *o,
	      struct quire_run_result *res);

/* run --commit: commits revision r->rev to the project's git repository (quire.yaml, the files
 * the build read, .quire/manifests, current and calls, out/), with a message summing the run
 * and `message`; id gets the commit's id ("" when the tree did not change). Errors as
 * quire_git_commit (core/git.h): outside a repository, something else staged, libgit2. */
int quire_run_git_commit(const struct quire_project *p, const struct quire_run_result *r,
			 const char *message, char *id, size_t idlen);

/* The record of a provider call (the blob an entry's "call" names: what was sent and what
 * came back), parsed; NULL when digest is NULL or the blob is missing or damaged. */
struct json_t *quire_call_load(const char *qdir, const char *digest);

/* The same, taking the record and the blobs it names from the committed call packs
 * (.quire/calls/<rev>.jsonl) into the store when the store lacks them (a clone's). */
struct json_t *quire_call_fetch(const char *qdir, const char *digest);

/* The blobs call record c names (each NULL when it names none): a prompt kept apart from the
 * record, the schema, the raw answer. */
void quire_call_named(const struct json_t *c, const char *out[3]);

/* Writes .quire/calls/<rev>.jsonl: the records of calls (digests) and the blobs they name,
 * one {"digest", "text"} per line, so that a clone of the committed revision can show them. */
int quire_calls_write(const char *qdir, const char *rev, const char *const *calls, size_t n);

/* The same in two steps, for a revision whose name is not known yet: the pack written under a
 * temporary name (*out NULL when there is nothing to write), then named rev (synced and put
 * in place) or abandoned (removed). Each pending pack is finished or abandoned once. */
struct quire_calls_pending;
int quire_calls_begin(const char *qdir, const char *const *calls, size_t n,
		      struct quire_calls_pending **out);
int quire_calls_finish(struct quire_calls_pending *p, const char *rev);
void quire_calls_abandon(struct quire_calls_pending *p);

#endif
