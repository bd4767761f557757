/* Internal: the runner's state shared by its parts: scheduling (run_sched.c), jobs and
 * workers (run_job.c), recording events (run_events.c), committing and recovery
 * (run_commit.c), and quire_run itself (run.c). */
#ifndef QUIRE_RUN_INTERNAL_H
#define QUIRE_RUN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "quire-provider.h"
#include "quire/buf.h"
#include "quire/hash.h"
#include "quire/run.h"

struct quire_mbase;
struct quire_plan;
struct quire_project;
struct quire_run_opts;
struct quire_run_result;
struct quire_store;
struct quire_node;
struct quire_render_ctx;
struct quire_template;
struct quire__jobserver;

/* Largest artefact read back into memory to render a prompt. */
#define RENDER_CAP (64u << 20)
/* A node reading this many outputs is a collector: they are read ahead on two threads, and
 * its rendering is kept by ranges (core/run_splice.c). */
#define SPLICE_MIN_DEPS 256
/* Most tokens one call may report and have counted (a million times a large context). */
#define MAX_TOKENS 1000000000000LL

enum nstate {
	N_PENDING_DEPS, /* waiting for its upstream to finish */
	N_QUEUED,
	N_RUNNING,
	N_OK,
	N_FAILED,
	N_BLOCKED,
	N_SKIPPED,
	N_REVIEW,   /* done, but its output awaits review: dependants may not use it yet */
	N_AWAITING, /* could not run: an upstream awaits review */
};

struct binst {
	const struct quire_binding *b;
	const struct quire_provider *vt;
	void *ctx;
	size_t running; /* jobs of this role in flight (for the role's concurrency limit) */
};

struct job {
	size_t node;
	struct binst *bi;
	struct quire_provider_request rq;
	char *prompt;
	size_t prompt_len;
	char *schema;	  /* rendered schema (json outputs) */
	json_t *schema_j; /* parsed */
	char **in_ids, **in_paths;
	char **in_check;  /* per input: the digest to verify it against before the call, or NULL
			   * (verified already in this run) */
	char **in_digest; /* per input: its digest */
	int corrupt;	  /* an input did not hash to its digest: diag says which */
	int truncated;	  /* the answer was cut off by a length limit (a failure) */
	int partial;	  /* and it is kept: digest and size name it, the worker stores it */
	struct quire_digest call; /* the call's record (a blob), when has_call */
	int has_call;
	char *tmp;	 /* the output file, in the worker's slot directory */
	const char *ext; /* the output's extension */
	int adopted;	 /* the output is in the blob store (the worker moved it) */
	char *adopt_msg; /* why it could not be */
	int adopt_err;	 /* and its code */
	char *params;
	unsigned attempts;
	/* What every attempt that reached the provider may have been billed, failed ones too. */
	long long spent_in, spent_out, spent_micro;
	int usage_unknown;  /* an attempt answered without saying its usage (tokens -1) */
	int cost_estimated; /* spent_micro holds an estimate for it */
	long long estimate; /* one call's estimated cost, for an answer without usage */
	/* streamed progress from the provider (written by the worker, read by the main thread) */
	_Atomic long long units;
	char unit[24]; /* copied: the provider's string may not outlive the call */
	long long units_reported;
	_Atomic int taken; /* a worker took it from the queue (set by the worker) */
	int told;	   /* its start was reported (main thread) */
	struct quire_digest fp;
	char *deps; /* the dependency record, canonical JSON text */
	/* results, written by the worker */
	int rc;
	struct quire_provider_response rs;
	struct quire_digest digest;
	uint64_t size;
	int64_t dur_ns;
	struct job *next;
};

struct runner;

/* Checks and tidies a provider's answer in j->tmp before it is sealed: a cut-off answer
 * fails (j->truncated, not transient), leading reasoning blocks are dropped, JSON is taken
 * out of a fence or prose. 0, or -1 with j->rs.diag set. */
int quire_run__answer(struct job *j);

/* Keeps what was sent and what came back (on the worker, after the call): the rendered prompt
 * and schema, the raw answer the provider left in scratch (redacted of secrets), and a record
 * naming them with the provider, model, params, usage, cost, attempts and any error. Sets
 * j->call; best effort (a call is not failed for its record). */
void quire_run__record_call(struct runner *r, struct job *j, const char *scratch);

/* A worker thread's own files, reused by each job it runs: creating and deleting two files per
 * job made ext4's inode allocator scan its recently deleted inodes (quadratic in a run). */
struct wslot {
	struct runner *r;
	char *dir;     /* .quire/tmp/w-PID-T-G (worker T, generation G) */
	char *prompt;  /* the rendered prompt of the current job, rewritten in place */
	char *scratch; /* the current job's scratch directory, emptied after each job */
	unsigned gen;  /* bumped when the files could not be reused: the next job gets new ones */
};

struct quire_remote;

struct runner {
	struct quire_project *p;
	struct quire_remote *remote; /* the shared cache, or NULL */
	struct quire_plan *plan;
	struct quire_store *store;
	const struct quire_run_opts *o;
	struct quire_run_result *res;
	int64_t run_id;
	char rev[QUIRE_REV_MAX];
	/* The files the run reads, as their list's text (quire_project_files_text): made once
	 * at its start, for its start event and its commit. */
	struct quire_buf files;

	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	struct job *work_head, *work_tail, *done_head, *done_tail;
	struct job **flying; /* jobs handed to workers and not yet completed (see ahead) */
	size_t nflying;
	/* Jobs queued beyond the workers' number, made ready while every worker is busy so that a
	 * worker finishing one takes the next without waiting for this thread: as many as there
	 * are workers while jobs are short, else none (see complete). At most -j run at once: one
	 * per worker. */
	size_t ahead;
	size_t told;	/* jobs in flight whose start was reported: the "running" of progress */
	size_t failing; /* failed jobs given back by workers and not yet taken in (under mu) */
	int stop;
	volatile int cancelled;
	pthread_t *threads;
	struct wslot *slots;
	int nthreads;

	unsigned char *state;
	size_t *pending;
	size_t *ready;
	size_t nready;		 /* r->ready is a binary max-heap on prio */
	uint64_t *prio;		 /* critical-path priority: the longest recorded path to a sink */
	json_t **values;	 /* rendered-input cache per node */
	unsigned char *verified; /* per node: its output was hashed in this run (made, or read
				  * for a prompt), so a provider may be given its file as is */
	size_t *users;		 /* per node: dependants of it not started yet (its value is kept
				  * until none is left) */
	int blobfd;		 /* .quire/blobs/sha256 held open (-1: not open) */
	unsigned *mark; /* per node: generation in which it is a dependency being rendered */
	unsigned gen;
	struct quire_template **tprompt, **tschema; /* per producer: shared templates, parsed */
	struct binst *binsts;
	size_t nbinsts;
	size_t running, done, total;
	struct quire__jobserver *js; /* make's jobserver, when it bounds us (no explicit -j) */
	int stopping;		     /* fail-fast tripped, interrupted, or the disk is full: set
				      * with quire_run__stop_starting */
	struct pend *pend;	     /* events waiting for their group's commit (see record) */
	size_t npend, apend;
	int64_t last_commit;	  /* when the last group was committed (monotonic ns) */
	int64_t last_pack_commit; /* when the pack's batch was last committed with no events
				   * pending (monotonic ns) */
	int halt_err;		  /* why the run starts nothing new but finishes what runs (a full
				   * disk, a damaged blob), or 0; it ends with this error */
	char *halt_msg;		  /* its message */
	struct held_report *held; /* progress reports waiting for their group's commit */
	size_t nheld, aheld;
	struct shard_wait *waits; /* run --shard: instances another shard makes, waited for */
	size_t nwaits, awaits;
	struct quire_objs *objs;      /* the store's objects, for records given as deltas (the
				       * plan's, or opened at the first large record; NULL when they
				       * cannot be) */
	struct quire_objs *objs_own;  /* objs when opened here, not the plan's */
	struct quire_run_fold *early; /* a first build's fold, begun as it runs */
	int objs_tried;
};

/* An instance another shard makes, asked of the shared cache until it is there. */
struct shard_wait {
	size_t node;
	struct job *j;			  /* its fingerprint and dependency record */
	int64_t deadline, next, interval; /* monotonic ns */
};

/* An event waiting for its group's commit, as text: a commit the disk refused is tried again
 * once the reserve has made room. kind is a literal. */
struct pend {
	const char *kind;
	char *subject, *js, *ac_fp, *ac_js;
};

/* A progress report held back until the events it reports are committed. */
struct held_report {
	struct quire_progress ev;
	char *msg;
	char unit[24];
};

/* Group commit: see run_events.c. */
#define RECORD_BATCH_NS 20000000LL
#define RECORD_BATCH_MAX 2048

/* Reports a step of node i (kind: "start", "produced", ...) through the caller's callback,
 * once the events it reports are committed. */
void quire_run__report(struct runner *r, const char *kind, size_t node, const char *msg);

/* Reports streamed progress of in-flight jobs that moved since the last report. */
void quire_run__report_progress(struct runner *r);

/* Makes sure .quire/runs/reserve holds RESERVE_BYTES (best effort: none on a disk without
 * the room). */
void quire_run__reserve_make(const char *qdir);

/* Forgets the events waiting for their group's commit. */
void quire_run__pend_clear(struct runner *r);

/* Starts nothing new from now on: jobs queued ahead that no worker has taken yet are taken
 * back (nothing was spent on them; they count as not started), the ones running finish. */
void quire_run__stop_starting(struct runner *r);

/* Starts nothing new: the jobs in flight finish and are recorded (they may be paid for),
 * the revision is committed, and the run ends with this error (the first one given). */
void quire_run__halt(struct runner *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Commits the waiting group, if any, then gives out the reports it held. A report is given
 * only once its event is committed: when the commit fails, the reports are dropped (the jobs
 * are not recorded, so they were never reported). A full disk gives back the reserve and
 * tries once more; that working, the run starts nothing new (see execute) and ends with the
 * error, having recorded every job already paid for. */
int quire_run__record_flush(struct runner *r);

/* After a failed job: when the project's disk is (nearly) full, every further job would fail
 * the same way, and a paid one would be paid for nothing. The run starts nothing new and
 * gives back the reserve so what finishes can be recorded. */
void quire_run__check_disk(struct runner *r);
void quire_run__halt_store(struct runner *r, int code, const char *why);

/* Records an event, with its action-cache entry when ac_fp is given, in the current group
 * (see RECORD_BATCH_NS). deps, when given, is the entry's dependency record as canonical JSON
 * text, added to data as "deps" without being parsed (a collector's names every upstream). */
int quire_run__record(struct runner *r, const char *kind, const char *subject, const json_t *data,
		      const char *deps, const char *ac_fp, const json_t *ac);

/* quire_run__record of node i's entry: a large record (a collector's) goes as "deps_delta",
 * {"base": the fingerprint node i's row had, "delta": quire_objs_delta's text of the new
 * record's bytes against that record's}, when the record is in the store's objects. */
int quire_run__record_entry(struct runner *r, const char *kind, size_t i, const json_t *data,
			    const char *deps, const char *ac_fp, const json_t *ac);

/* Records node i as failed or blocked with msg; extra (may be NULL) adds to the event. */
int quire_run__fail_node_with(struct runner *r, size_t i, const char *msg, enum nstate st,
			      const json_t *extra);

/* Records node i as failed or blocked with msg. */
int quire_run__fail_node(struct runner *r, size_t i, const char *msg, enum nstate st);

/* What a job's attempts used, as recorded: {tokens_in, tokens_out}, or null when an answer
 * did not say (never a zero that would look like a free call). New reference. */
json_t *quire_run__job_usage(const struct job *j);

/* Removes a directory and what is in it (what a provider left). */
void quire_run__rm_tree(const char *dir);

/* Frees a job; its output file is removed unless the store took it. */
void quire_run__job_free(struct job *j);

/* Records node i as taken from a cache: the output action result ac names (owned; its blob is
 * in the store), from the shared cache when remote. Frees j. */
int quire_run__take_cached(struct runner *r, size_t i, struct job *j, json_t *ac, int remote);

/* Asks the shared cache for fingerprint fp (see from_remote in run_sched.c): 1 with *ac. */
int quire_run__from_remote(struct runner *r, size_t i, const char *fp, json_t **ac);

/* run --shard: whether node i is this shard's to make. */
int quire_run__shard_mine(const struct runner *r, size_t i);

/* Waits for node i, which another shard makes, in the shared cache (j: its fingerprint). */
int quire_run__shard_wait(struct runner *r, size_t i, struct job *j);

/* Asks the shared cache again for the instances waited for whose turn it is; fails those
 * waited for too long. */
int quire_run__shard_poll(struct runner *r);

/* Drops what is still waited for (the run stops). */
void quire_run__shard_release(struct runner *r);

/* run --shard: puts node i of this shard's part, taken from the local cache or unchanged, in
 * the shared cache (an output made is put there when recorded): the other shards wait for
 * it. The run stops (halt) when the cache cannot take it. */
void quire_run__shard_share(struct runner *r, size_t i, const char *fp);

/* run --shard: the shared cache failed: nothing this shard makes could reach the others, so
 * the run starts nothing new and ends with that error. */
void quire_run__shard_stop(struct runner *r);

/* run --shard: says in the shared cache that node i of this shard's part failed, so the
 * shards waiting for it stop waiting. */
void quire_run__shard_failed(struct runner *r, size_t i, const char *fp, const char *msg);

/* run --shard, before anything runs: the shared cache (*out; it must take writes: else
 * QUIRE_EINVALID), and every instance of this shard's part already made put there, so a
 * shard run again shares what its first run made. */
int quire_run__shard_open(const struct quire_project *p, struct quire_store *store,
			  const struct quire_plan *plan, const struct quire_run_opts *o,
			  struct quire_remote **out);

/* The monotonic clock, in nanoseconds. */
int64_t quire_run__mono_ns(void);

/* Drops the slot's files (what cannot be removed stays for the next run's clean-up of
 * .quire/tmp); the next job gets new ones under another name. */
void quire_run__slot_reset(struct wslot *w);

/* A worker thread: takes jobs, calls providers, stores outputs (arg: its struct wslot). */
void *quire_run__worker(void *arg);

/* The started binding of a role, or NULL. */
struct binst *quire_run__binst_for(struct runner *r, const char *role);

/* Builds the job for node i: prompt, schema, input files, output path. */
int quire_run__make_job(struct runner *r, size_t i, struct job *j);

/* Reads ahead, into r->values, the outputs collector n's template t shows whole (on two
 * threads, in groups); nothing for a node reading fewer than SPLICE_MIN_DEPS. */
void quire_run__prefetch(struct runner *r, const struct quire_node *n,
			 const struct quire_template *t);

/* Reads the values of the n outputs nodes names (on two threads from 256 on, in groups) into
 * got (per node; NULL for one that could not be read, which the render reads again and says
 * why). */
void quire_run__prefetch_nodes(struct runner *r, const size_t *nodes, size_t n, json_t **got);

/* The value node i's output has in a prompt, read from the store and verified (a new
 * reference); NULL with the error set. */
json_t *quire_run__load_value(struct runner *r, size_t i);

/* Renders collector i's template t (read from rel) by ranges when it can (see
 * core/run_splice.c): 0 with the rendering appended to out, else 1 (nothing appended: the
 * caller renders it the usual way). c is the usual context; the dependency marks are set. */
int quire_run__render_spliced(struct runner *r, size_t i, const char *rel,
			      const struct quire_template *t, const struct quire_render_ctx *c,
			      struct quire_buf *out);

/* Marks node i finished and releases its dependants. */
void quire_run__finish(struct runner *r, size_t i, enum nstate st);

/* Starts the provider of every role that has work in the plan. */
int quire_run__init_bindings(struct runner *r);

/* Stops the providers started by quire_run__init_bindings. */
void quire_run__fini_bindings(struct runner *r);

/* Runs the plan's dirty instances: the scheduling loop, until nothing is left to start
 * or wait for. */
int quire_run__execute(struct runner *r);

struct quire_run_fold;
/* Folds run `run`'s events into m (consumed: changed in place; slim with its base, or full),
 * writes it as revision rev and moves `current`; *out gets m when given. files, when given,
 * is the run's list of files as JSON text (the runner's: a start event naming only the files
 * that changed is then not made whole from the parent's list). parent, when given, is m's
 * parent whole as read before the fold (what a format-2 commit compares m with). early, when
 * given (consumed), is the fold begun during the run onto the same m and base. */
int quire_run__commit_onto(const char *qdir, struct quire_store *store, int64_t run, char *rev,
			   json_t *m, struct quire_mbase *base, int compact, const char *files,
			   const json_t *parent, struct quire_run_fold *early, json_t **out);

/* A first build's fold of its events into m over base (a base of no rows, whose entries
 * spill), begun on a thread while the run goes on: poked after each group of events is
 * committed, it folds them on the other core, and the commit (given it as early) folds only
 * what is left. NULL when no thread could be started. Until then nothing else may touch m
 * or base. files: as for quire_run__commit_onto. */
struct quire_run_fold *quire_run__fold_start(const char *qdir, int64_t run, json_t *m,
					     struct quire_mbase *base, const char *files);
/* Events were committed: the thread folds them. */
void quire_run__fold_poke(struct quire_run_fold *f);
/* Stops the thread and frees what it folded into (a run that ends before its commit). */
void quire_run__fold_free(struct quire_run_fold *f);

#endif
