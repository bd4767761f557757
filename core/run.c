/* The runner: ready-queue scheduling over the instance graph, worker threads calling providers,
 * and the blob -> event -> manifest -> current commit order. */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quire-provider.h"
#include "quire/blob.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/lock.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"
#include "quire/schema.h"
#include "quire/secret.h"
#include "quire/store.h"
#include "quire/template.h"
#include "git.h"
#include "jobserver.h"
#include "runlog.h"
#include "util.h"

/* Largest artefact read back into memory to render a prompt. */
#define RENDER_CAP (64u << 20)
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
	N_REVIEW,    /* done, but its output awaits review: dependants may not use it yet */
	N_AWAITING,  /* could not run: an upstream awaits review */
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
	char *schema;     /* rendered schema (json outputs) */
	json_t *schema_j; /* parsed */
	char **in_ids, **in_paths;
	char **in_check; /* per input: the digest to verify it against before the call, or NULL
			  * (verified already in this run) */
	int corrupt;     /* an input did not hash to its digest: diag says which */
	char *tmp;        /* the output file, in the worker's slot directory */
	const char *ext;  /* the output's extension */
	int adopted;      /* the output is in the blob store (the worker moved it) */
	char *adopt_msg;  /* why it could not be */
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

/* A worker thread's own files, reused by each job it runs: creating and deleting two files per
 * job made ext4's inode allocator scan its recently deleted inodes (quadratic in a run). */
struct wslot {
	struct runner *r;
	char *dir;     /* .quire/tmp/w-PID-T-G (worker T, generation G) */
	char *prompt;  /* the rendered prompt of the current job, rewritten in place */
	char *scratch; /* the current job's scratch directory, emptied after each job */
	unsigned gen;  /* bumped when the files could not be reused: the next job gets new ones */
};

struct runner {
	struct quire_project *p;
	struct quire_plan *plan;
	struct quire_store *store;
	const struct quire_run_opts *o;
	struct quire_run_result *res;
	int64_t run_id;
	char rev[32];

	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	struct job *work_head, *work_tail, *done_head, *done_tail;
	struct job **flying; /* jobs handed to workers and not yet completed (at most -j) */
	size_t nflying;
	int stop;
	volatile int cancelled;
	pthread_t *threads;
	struct wslot *slots;
	int nthreads;

	unsigned char *state;
	size_t *pending;
	size_t *ready;
	size_t nready;      /* r->ready is a binary max-heap on prio */
	uint64_t *prio;     /* critical-path priority: the longest recorded path to a sink */
	json_t **values;   /* rendered-input cache per node */
	unsigned char *verified; /* per node: its output was hashed in this run (made, or read
				  * for a prompt), so a provider may be given its file as is */
	size_t *users;     /* per node: dependants of it not started yet (its value is kept
			    * until none is left) */
	int blobfd;        /* .quire/blobs/sha256 held open (-1: not open) */
	unsigned *mark;    /* per node: generation in which it is a dependency being rendered */
	unsigned gen;
	struct quire_template **tprompt, **tschema; /* per producer: shared templates, parsed */
	struct binst *binsts;
	size_t nbinsts;
	size_t running, done, total;
	struct quire__jobserver *js; /* make's jobserver, when it bounds us (no explicit -j) */
	int stopping;      /* fail-fast tripped, interrupted, or the disk is full */
	struct pend *pend; /* events waiting for their group's commit (see record) */
	size_t npend, apend;
	int64_t last_commit; /* when the last group was committed (monotonic ns) */
	int halt_err;        /* why the run starts nothing new but finishes what runs (a full
			      * disk, a damaged blob), or 0; it ends with this error */
	char *halt_msg;      /* its message */
	struct held_report *held; /* progress reports waiting for their group's commit */
	size_t nheld, aheld;
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

/* A progress event with the run's counters filled in. */
static struct quire_progress progress_event(const struct runner *r, const char *kind, size_t node,
					    const char *msg)
{
	struct quire_progress ev = {
		.kind = kind,
		.id = r->plan->nodes[node].id,
		.message = msg,
		.done = r->done,
		.total = r->total,
		.running = r->running,
		.produced = r->res->produced,
		.cached = r->res->cached,
		.unchanged = r->res->unchanged,
		.failed = r->res->failed,
		.blocked = r->res->blocked,
	};
	return ev;
}

/* Reports now, or, while events wait for their group's commit, once it is committed: what a
 * user sees reported as finished is in the event log, also when quire is then killed
 * outright. */
static void emit(struct runner *r, const struct quire_progress *ev)
{
	if (!r->npend) {
		r->o->progress(r->o->ud, ev);
		return;
	}
	QUIRE_GROW(r->held, r->aheld, r->nheld + 1);
	struct held_report *h = &r->held[r->nheld++];
	h->ev = *ev;
	h->msg = ev->message ? quire__xstrdup(ev->message) : NULL;
	h->ev.message = h->msg;
	if (ev->unit) {
		snprintf(h->unit, sizeof(h->unit), "%s", ev->unit);
		h->ev.unit = h->unit;
	}
}

/* Gives the held reports to the caller, in order. */
static void emit_held(struct runner *r)
{
	for (size_t k = 0; k < r->nheld; k++) {
		r->o->progress(r->o->ud, &r->held[k].ev);
		free(r->held[k].msg);
	}
	r->nheld = 0;
}

static void report(struct runner *r, const char *kind, size_t node, const char *msg)
{
	if (!r->o->progress)
		return;
	struct quire_progress ev = progress_event(r, kind, node, msg);
	emit(r, &ev);
}

/* Empties a directory a provider may have filled, keeping the directory itself; -1 when
 * something could not be removed. */
static int clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
			char *p = quire__xasprintf("%s/%s", dir, e->d_name);
			clear_dir(p);
			if (rmdir(p) < 0)
				rc = -1;
			free(p);
		}
	}
	closedir(d);
	return rc;
}

static void rm_tree(const char *dir)
{
	clear_dir(dir);
	rmdir(dir);
}

/* Reports streamed progress of in-flight jobs that moved since the last report. */
static void report_progress(struct runner *r)
{
	if (!r->o->progress)
		return;
	for (size_t k = 0; k < r->nflying; k++) {
		struct job *j = r->flying[k];
		long long u = atomic_load(&j->units);
		if (u == j->units_reported)
			continue;
		j->units_reported = u;
		struct quire_progress ev = progress_event(r, "progress", j->node, NULL);
		ev.units = u;
		ev.unit = j->unit[0] ? j->unit : "units";
		emit(r, &ev);
	}
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->prompt);
	free(j->schema);
	json_decref(j->schema_j);
	for (size_t k = 0; k < j->rq.ninputs; k++) {
		free(j->in_ids[k]);
		free(j->in_paths[k]);
		free(j->in_check ? j->in_check[k] : NULL);
	}
	free(j->in_ids);
	free(j->in_paths);
	free(j->in_check);
	if (j->tmp) {
		if (!j->adopted)
			unlink(j->tmp);
		free(j->tmp);
	}
	free(j->adopt_msg);
	free(j->params);
	free(j->deps);
	free(j);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Checks and seals a provider's output: json parses and matches its schema; the file is hashed.
 * Runs on the worker. Not fsynced here: a revision's blobs are made durable together, by one
 * file-system sync before its manifest is written, and a recovered run re-hashes its outputs. */
static int seal_output(struct job *j)
{
	/* Hashed first: that also tells a missing output from a malformed one. */
	int err = quire_hash_file(j->tmp, &j->digest, &j->size);
	if (err) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "%s",
			 err == QUIRE_ENOTFOUND ? "provider wrote no output file" : quire_error_last());
		return -1;
	}
	if (!strcmp(j->rq.output_type, "json")) {
		json_error_t je;
		json_t *doc = json_load_file(j->tmp, JSON_DECODE_ANY, &je);
		if (!doc) {
			snprintf(j->rs.diag, sizeof(j->rs.diag), "output is not valid JSON: %d:%d: %s",
				 je.line, je.column, je.text);
			return -1;
		}
		err = j->schema_j ? quire_schema_validate(j->schema_j, doc) : 0;
		json_decref(doc);
		if (err) {
			snprintf(j->rs.diag, sizeof(j->rs.diag), "output does not match its schema: %s",
				 quire_error_last());
			return -1;
		}
	}
	return 0;
}

/* Sleeps ms, waking early when the run is cancelled. */
static void nap(struct runner *r, long ms)
{
	while (ms > 0 && !r->cancelled) {
		long step = ms > 50 ? 50 : ms;
		struct timespec ts = { step / 1000, (step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Adds one attempt's usage and cost to the job's. A failed attempt counts when the provider
 * says it used something (or answered without saying: an estimate, marked so); a call that
 * never reached the model (refused, timed out before an answer) reports nothing. */
static void account(struct job *j)
{
	const struct quire_provider_response *rs = &j->rs;
	/* A token count no model comes near is a provider's mistake, not usage (summed and
	 * priced, it would overflow); a cost it reports is kept within 0..QUIRE_COST_MAX. */
	int unknown = rs->tokens_in < 0 || rs->tokens_out < 0 || rs->tokens_in > MAX_TOKENS ||
		      rs->tokens_out > MAX_TOKENS;
	if (unknown) {
		j->usage_unknown = 1;
	} else {
		j->spent_in += rs->tokens_in;
		j->spent_out += rs->tokens_out;
	}
	if (rs->cost_micro) {
		j->spent_micro += rs->cost_micro < 0		  ? 0
				  : rs->cost_micro > QUIRE_COST_MAX ? QUIRE_COST_MAX
								    : rs->cost_micro;
	} else if (unknown) {
		j->spent_micro += j->estimate;
		j->cost_estimated |= j->estimate > 0;
	} else if (j->rc == 0 || rs->tokens_in || rs->tokens_out) {
		j->spent_micro += quire_binding_cost(j->bi->b, rs->tokens_in, rs->tokens_out);
	}
}

/* Calls the provider, retrying transient failures (429, 5xx, timeouts, resets, a JSON output
 * that does not match its schema) with exponential backoff and jitter, at least Retry-After. */
static void attempt(struct runner *r, struct job *j)
{
	const struct quire_binding *b = j->bi->b;
	unsigned seed = (unsigned)(mono_ns() ^ (int64_t)j->node);
	for (j->attempts = 1;; j->attempts++) {
		memset(&j->rs, 0, sizeof(j->rs));
		if (j->attempts > 1)
			unlink(j->tmp); /* a new file per job: only a retry can find one */
		j->rq.attempt = j->attempts;
		j->rc = j->bi->vt->produce(j->bi->ctx, &j->rq, &j->rs);
		account(j);
		if (j->rc == 0 && seal_output(j)) {
			j->rc = -1;
			j->rs.transient = 1; /* a malformed or schema-violating output may come out right */
		}
		if (j->rc && !j->rs.diag[0])
			snprintf(j->rs.diag, sizeof(j->rs.diag), "provider '%s' failed without a message",
				 j->bi->vt->name);
		if (j->rc == 0 || !j->rs.transient || r->cancelled ||
		    j->attempts > (unsigned)b->retries)
			break;
		long delay = (long)b->retry_base_ms << (j->attempts - 1 < 16 ? j->attempts - 1 : 16);
		delay += delay ? (long)(rand_r(&seed) % (unsigned)(delay / 2 + 1)) : 0;
		if (j->rs.retry_after_ms > delay)
			delay = j->rs.retry_after_ms;
		nap(r, delay);
	}
	/* Whatever the provider said, a known secret never leaves this function. */
	quire_secret_redact(j->rs.diag, sizeof(j->rs.diag));
	quire_secret_redact(j->rs.meta, sizeof(j->rs.meta));
	if (j->rc && j->attempts > 1) {
		size_t len = strlen(j->rs.diag);
		snprintf(j->rs.diag + len, sizeof(j->rs.diag) - len, " (after %u attempts)",
			 j->attempts);
	}
}

/* Drops the slot's files (what cannot be removed stays for the next run's clean-up of
 * .quire/tmp); the next job gets new ones under another name. */
static void slot_reset(struct wslot *w)
{
	if (w->dir)
		rm_tree(w->dir);
	free(w->dir);
	free(w->prompt);
	free(w->scratch);
	w->dir = w->prompt = w->scratch = NULL;
	w->gen++;
}

/* Gives job j the slot's prompt file and scratch directory; 0, or -1 with the reason in diag.
 * A slot a provider left unusable (its prompt replaced, a directory it cannot write) is made
 * again once. */
static int slot_prepare(struct wslot *w, struct job *j)
{
	int err = 0;
	for (int tries = 0; tries < 2; tries++) {
		if (tries)
			slot_reset(w);
		if (!w->dir) {
			w->dir = quire__xasprintf("%s/tmp/w-%ld-%d-%u", w->r->p->qdir, (long)getpid(),
						  (int)(w - w->r->slots), w->gen);
			w->prompt = quire__xasprintf("%s/prompt", w->dir);
			w->scratch = quire__xasprintf("%s/scratch", w->dir);
			err = quire_fs_mkdirs(w->scratch, 0700);
		}
		if (!err)
			err = quire_fs_write_file(w->prompt, j->prompt, j->prompt_len, 0600);
		if (!err)
			break;
	}
	if (err) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "%s", quire_error_last());
		j->rc = -1;
		return -1;
	}
	j->rq.prompt_path = w->prompt;
	j->rq.scratch_dir = w->scratch;
	/* In the worker's own directory, not one shared with the other workers: creating a file
	 * locks its directory, and the main thread's renames out of a shared one queued behind
	 * every worker's creations. */
	free(j->tmp);
	j->tmp = quire__xasprintf("%s/out-%zu.%s", w->dir, j->node, j->ext);
	j->rq.output_path = j->tmp;
	return 0;
}

/* Hashes the input files the provider is given that this run has not verified yet: a
 * damaged upstream must never reach a provider (and be paid for). Runs on the worker. */
static int verify_inputs(struct job *j)
{
	for (size_t k = 0; j->in_check && k < j->rq.ninputs; k++) {
		if (!j->in_check[k])
			continue;
		struct quire_digest got;
		int err = quire_hash_file(j->in_paths[k], &got, NULL);
		if (!err && !strcmp(got.s, j->in_check[k]))
			continue;
		snprintf(j->rs.diag, sizeof(j->rs.diag),
			 "the stored output of '%s' is damaged (%s): 'quire fsck --repair' removes it, "
			 "and the next run makes it again",
			 j->in_ids[k], err ? quire_error_last() : "its content does not match its digest");
		quire_error_clear();
		j->rc = -1;
		j->corrupt = 1;
		return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct wslot *w = arg;
	struct runner *r = w->r;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (!r->work_head && !r->stop)
			pthread_cond_wait(&r->work_cv, &r->mu);
		if (!r->work_head) {
			pthread_mutex_unlock(&r->mu);
			return NULL;
		}
		struct job *j = r->work_head;
		r->work_head = j->next;
		if (!r->work_head)
			r->work_tail = NULL;
		pthread_mutex_unlock(&r->mu);

		int64_t t0 = mono_ns();
		if (verify_inputs(j) == 0 && slot_prepare(w, j) == 0) {
			attempt(r, j);
			/* Stored here, on the worker, before its slot can be reset. */
			if (j->rc == 0) {
				if (quire_blob_adopt(r->p->qdir, j->tmp, j->digest.s) == 0)
					j->adopted = 1;
				else
					j->adopt_msg = quire__xstrdup(quire_error_last());
			}
			if (clear_dir(w->scratch))
				slot_reset(w); /* the next job must find its scratch empty */
		}
		j->dur_ns = mono_ns() - t0;

		pthread_mutex_lock(&r->mu);
		j->next = NULL;
		if (r->done_tail)
			r->done_tail->next = j;
		else
			r->done_head = j;
		r->done_tail = j;
		pthread_cond_signal(&r->done_cv);
		pthread_mutex_unlock(&r->mu);
	}
}

static struct binst *binst_for(struct runner *r, const char *role);

/* Whether another job may start now: under -j, or with a jobserver token for every job but the
 * first (the token every make child holds implicitly). */
static int have_slot(struct runner *r)
{
	if (r->running >= (size_t)r->nthreads)
		return 0;
	if (!r->js)
		return 1;
	if (r->running < (size_t)quire__jobserver_held(r->js) + 1)
		return 1;
	return quire__jobserver_acquire(r->js);
}

/* Gives back tokens no running job needs any more. */
static void return_slots(struct runner *r)
{
	while (r->js && quire__jobserver_held(r->js) > 0 &&
	       (size_t)quire__jobserver_held(r->js) + 1 > r->running)
		quire__jobserver_release(r->js);
}

static int higher(const struct runner *r, size_t a, size_t b)
{
	return r->prio[a] > r->prio[b] || (r->prio[a] == r->prio[b] && a < b);
}

static void heap_push(struct runner *r, size_t i)
{
	size_t k = r->nready++;
	r->ready[k] = i;
	while (k > 0 && higher(r, r->ready[k], r->ready[(k - 1) / 2])) {
		size_t up = (k - 1) / 2, t = r->ready[up];
		r->ready[up] = r->ready[k];
		r->ready[k] = t;
		k = up;
	}
}

static size_t heap_pop(struct runner *r)
{
	size_t top = r->ready[0];
	r->ready[0] = r->ready[--r->nready];
	for (size_t k = 0;;) {
		size_t l = 2 * k + 1, m = k;
		if (l < r->nready && higher(r, r->ready[l], r->ready[m]))
			m = l;
		if (l + 1 < r->nready && higher(r, r->ready[l + 1], r->ready[m]))
			m = l + 1;
		if (m == k)
			break;
		size_t t = r->ready[m];
		r->ready[m] = r->ready[k];
		r->ready[k] = t;
		k = m;
	}
	return top;
}

/* Takes the ready node on the longest remaining path whose role is under its concurrency
 * limit, or (size_t)-1. Nodes that cannot start yet stay queued. */
static size_t next_startable(struct runner *r)
{
	size_t skipped[64], nskipped = 0, found = (size_t)-1;
	while (r->nready && nskipped < 64) {
		size_t i = heap_pop(r);
		const char *role = r->p->bp->producers[r->plan->nodes[i].producer].role;
		struct binst *bi = binst_for(r, role);
		if (bi && bi->b->max_concurrency && bi->running >= (size_t)bi->b->max_concurrency) {
			skipped[nskipped++] = i;
			continue;
		}
		found = i;
		break;
	}
	while (nskipped)
		heap_push(r, skipped[--nskipped]);
	return found;
}

/* Critical-path priorities from the durations the current revision recorded: a node's own
 * (at least 1 ms) plus the longest among what depends on it, so long chains start first. */
static void compute_priorities(struct runner *r)
{
	for (size_t i = r->plan->n; i-- > 0;) {
		const struct quire_node *n = &r->plan->nodes[i];
		uint64_t best = 0;
		for (size_t k = 0; k < n->nrdeps; k++)
			if (r->prio[n->rdeps[k]] > best)
				best = r->prio[n->rdeps[k]];
		long long d = n->entry ? n->entry->duration_ms : 0;
		r->prio[i] = best + (uint64_t)(d > 0 ? d : 1);
	}
}

/* Provider progress callback: runs on the worker; the main thread reports it. */
static void on_progress(void *ud, long long units, const char *unit)
{
	struct job *j = ud;
	if (unit && strncmp(j->unit, unit, sizeof(j->unit) - 1))
		snprintf(j->unit, sizeof(j->unit), "%s", unit);
	atomic_store(&j->units, units);
}

static void push_ready(struct runner *r, size_t i)
{
	r->state[i] = N_QUEUED;
	heap_push(r, i);
}

/* Marks node i finished and releases its dependants. */
static void finish(struct runner *r, size_t i, enum nstate st)
{
	struct quire_node *n = &r->plan->nodes[i];
	r->state[i] = (unsigned char)st;
	r->done++;
	for (size_t k = 0; k < n->nrdeps; k++) {
		size_t d = n->rdeps[k];
		if (!r->plan->nodes[d].selected || !r->plan->nodes[d].dirty)
			continue;
		if (--r->pending[d] == 0)
			push_ready(r, d);
	}
}

/* The state a node with a new (or unchanged) output ends in: under review unless its producer
 * has no review gate or this exact output was approved before. */
static enum nstate after_output(struct runner *r, size_t i)
{
	const struct quire_node *n = &r->plan->nodes[i];
	if (!r->p->bp->producers[n->producer].review)
		return N_OK;
	const char *ap = n->entry ? n->entry->approved_digest : NULL;
	if (ap && !strcmp(ap, n->digest))
		return N_OK;
	r->res->pending_review++;
	return N_REVIEW;
}

/* An entry's event data, but for its "deps" (which record() adds as text). */
static json_t *entry_data(struct runner *r, size_t i, const struct quire_digest *fp)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	const struct quire_binding *b = quire_project_binding(r->p, pr->role);
	json_t *index = json_array();
	for (int d = 0; d < pr->ndims; d++)
		json_array_append_new(index, json_integer(n->idx[d]));
	json_t *d = json_pack("{s:s,s:s,s:s,s:o,s:O,s:o,s:s,s:s,s:s}", "producer", pr->name, "role",
			 pr->role, "provider", b->provider, "model",
			 b->model ? json_string(b->model) : json_null(), "params", b->params, "index",
			 index, "type", quire_output_type_name(pr->output.type), "ext", pr->output.ext,
			 "fingerprint", fp->s);
	json_object_set_new(d, "take", json_integer(n->take));
	json_object_set_new(d, "feedback", n->feedback ? json_deep_copy(n->feedback) : json_array());
	if (pr->review)
		json_object_set_new(d, "review_required", json_true());
	return d;
}

/* Records one event in its own transaction, outside a run's scheduler (edit, recovery). */
int quire__run_record(struct quire_store *store, int64_t run, const char *kind,
		      const char *subject, const json_t *data, const char *ac_fp, const json_t *ac)
{
	int err = quire_store_begin(store);
	if (err)
		return err;
	err = quire_store_event(store, run, kind, subject, data);
	if (!err && ac_fp)
		err = quire_store_ac_put(store, ac_fp, ac);
	if (err) {
		quire_store_rollback(store);
		return err;
	}
	return quire_store_commit(store);
}

/* Group commit: an event is committed at once unless another commit happened less than
 * RECORD_BATCH_NS ago; then it joins a group committed when that time is up (the main loop
 * wakes for it), at RECORD_BATCH_MAX events, or when the run ends. One transaction per event
 * cost a quarter of a fast run's system calls, while jobs that take longer than the interval
 * (every paid one) still commit one by one. Reports wait for their group (see emit), so a
 * process killed outright can lose only finished jobs it has not reported yet, from the last
 * few milliseconds; their blobs stay in the store until gc. */
#define RECORD_BATCH_NS 20000000LL
#define RECORD_BATCH_MAX 2048

/* Room kept on the project's disk for a run that fills it: released when a write finds the
 * disk full, so that the jobs already paid for can still be recorded. */
#define RESERVE_BYTES (4u << 20)

/* Makes sure .quire/runs/reserve holds RESERVE_BYTES (best effort: none on a disk without
 * the room). */
static void reserve_make(const char *qdir)
{
	char *path = quire__xasprintf("%s/runs/reserve", qdir);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size >= (off_t)RESERVE_BYTES) {
		free(path);
		return;
	}
	*strrchr(path, '/') = '\0';
	int made = quire_fs_mkdirs(path, 0755);
	path[strlen(path)] = '/';
	if (made) {
		quire_error_clear();
		free(path);
		return;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0 && posix_fallocate(fd, 0, RESERVE_BYTES) != 0)
		unlink(path);
	if (fd >= 0)
		close(fd);
	free(path);
}

/* 1 when the reserve was there and is now given back to the disk. */
static int reserve_release(const char *qdir)
{
	char *path = quire__xasprintf("%s/runs/reserve", qdir);
	int rc = unlink(path) == 0;
	free(path);
	return rc;
}

static void pend_clear(struct runner *r)
{
	for (size_t k = 0; k < r->npend; k++) {
		free(r->pend[k].subject);
		free(r->pend[k].js);
		free(r->pend[k].ac_fp);
		free(r->pend[k].ac_js);
	}
	r->npend = 0;
}

/* Writes the group in one transaction; on failure nothing of it is kept in the database. */
static int flush_once(struct runner *r)
{
	int err = quire_store_begin(r->store);
	if (err)
		return err;
	for (size_t k = 0; !err && k < r->npend; k++) {
		const struct pend *e = &r->pend[k];
		err = quire_store_event_text(r->store, r->run_id, e->kind, e->subject, e->js);
		if (!err && e->ac_fp)
			err = quire_store_ac_put_text(r->store, e->ac_fp, e->ac_js);
	}
	if (!err)
		err = quire_store_commit(r->store);
	if (err) {
		/* The rollback must not replace the message that says why. */
		char *msg = quire__xstrdup(quire_error_last());
		quire_store_rollback(r->store);
		quire_error_set(err, "%s", msg);
		free(msg);
	}
	return err;
}

/* Starts nothing new: the jobs in flight finish and are recorded (they may be paid for),
 * the revision is committed, and the run ends with this error (the first one given). */
static void halt(struct runner *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void halt(struct runner *r, int code, const char *fmt, ...)
{
	r->stopping = 1;
	if (r->halt_err)
		return;
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->halt_err = code;
	r->halt_msg = quire__xstrdup(msg);
}

static void halt_disk_full(struct runner *r, const char *why)
{
	halt(r, QUIRE_ENOSPC,
	     "the disk is full (%s): quire started nothing new and recorded every job that "
	     "finished; free some space and run again",
	     why);
}

/* Commits the waiting group, if any, then gives out the reports it held. A report is given
 * only once its event is committed: when the commit fails, the reports are dropped (the jobs
 * are not recorded, so they were never reported). A full disk gives back the reserve and
 * tries once more; that working, the run starts nothing new (see execute) and ends with the
 * error, having recorded every job already paid for. */
static int record_flush(struct runner *r)
{
	if (!r->npend)
		return 0;
	int err = flush_once(r);
	if (err == QUIRE_ENOSPC && reserve_release(r->p->qdir)) {
		char *why = quire__xstrdup(quire_error_last());
		if (!(err = flush_once(r)))
			halt_disk_full(r, why);
		free(why);
	}
	r->last_commit = mono_ns();
	if (err) {
		for (size_t k = 0; k < r->nheld; k++)
			free(r->held[k].msg);
		r->nheld = 0;
		pend_clear(r);
		return err;
	}
	pend_clear(r);
	emit_held(r);
	return 0;
}

/* Free space under which a failed job is taken for a full disk (its output could not be
 * written), not for the provider's failure. */
#define DISK_LOW_BYTES (64u << 10)

/* After a failed job: when the project's disk is (nearly) full, every further job would fail
 * the same way, and a paid one would be paid for nothing. The run starts nothing new and
 * gives back the reserve so what finishes can be recorded. */
static void check_disk(struct runner *r)
{
	struct statvfs sv;
	if (r->halt_err == QUIRE_ENOSPC || statvfs(r->p->qdir, &sv) != 0 ||
	    (unsigned long long)sv.f_bavail * sv.f_frsize >= DISK_LOW_BYTES)
		return;
	reserve_release(r->p->qdir);
	halt_disk_full(r, "a job's output could not be written");
}

/* Records an event, with its action-cache entry when ac_fp is given, in the current group
 * (see RECORD_BATCH_NS). deps, when given, is the entry's dependency record as canonical JSON
 * text, added to data as "deps" without being parsed (a collector's names every upstream). */
static int record(struct runner *r, const char *kind, const char *subject, const json_t *data,
		  const char *deps, const char *ac_fp, const json_t *ac)
{
	char *js = NULL, *acjs = NULL;
	if (data && !json_is_null(data) &&
	    !(js = deps ? quire_json_canonical_with(data, "deps", deps) : quire_json_canonical(data)))
		return QUIRE_EINVALID;
	if (ac_fp && !(acjs = quire_json_canonical(ac))) {
		free(js);
		return QUIRE_EINVALID;
	}
	QUIRE_GROW(r->pend, r->apend, r->npend + 1);
	r->pend[r->npend++] = (struct pend){ kind, subject ? quire__xstrdup(subject) : NULL, js,
					     ac_fp ? quire__xstrdup(ac_fp) : NULL, acjs };
	if (r->npend >= RECORD_BATCH_MAX || mono_ns() - r->last_commit >= RECORD_BATCH_NS)
		return record_flush(r);
	return 0;
}

/* Records node i as failed or blocked with msg; extra (may be NULL) adds to the event. */
static int fail_node_with(struct runner *r, size_t i, const char *msg, enum nstate st,
			  const json_t *extra)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	/* A provider's message may hold anything (a Latin-1 error page, a UTF-8 character cut by
	 * the end of its buffer); as it was, json_pack refused it and the event lost the error,
	 * the producer and the role. */
	char *clean = quire__xstrdup(msg);
	quire__utf8_scrub(clean);
	json_t *d = json_pack("{s:s,s:s,s:s}", "error", clean, "producer", pr->name, "role",
			      pr->role);
	if (extra)
		json_object_update(d, (json_t *)extra);
	int err = record(r, st == N_FAILED ? "artefact.failed" : "artefact.blocked", n->id, d, NULL, NULL,
			 NULL);
	json_decref(d);
	if (st == N_FAILED)
		r->res->failed++;
	else
		r->res->blocked++;
	finish(r, i, st);
	report(r, st == N_FAILED ? "failed" : "blocked", i, clean);
	free(clean);
	if (st == N_FAILED && r->o->fail_fast)
		r->stopping = 1;
	return err;
}

static int fail_node(struct runner *r, size_t i, const char *msg, enum nstate st)
{
	return fail_node_with(r, i, msg, st, NULL);
}

/* Says that id's stored output is damaged or gone (QUIRE_ECORRUPT), with the store's reason. */
static int damaged(const char *id)
{
	return quire_error_set(QUIRE_ECORRUPT,
			       "the stored output of '%s' is damaged (%s): 'quire fsck --repair' "
			       "removes it, and the next run makes it again",
			       id, quire_error_last());
}

/* The value node i's output has in a prompt (a string, or parsed JSON), read from the store;
 * NULL with the error set. Safe on several threads (for different nodes). */
static json_t *load_value(struct runner *r, size_t i)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	if (pr->output.type != QUIRE_OUT_TEXT && pr->output.type != QUIRE_OUT_JSON &&
	    pr->output.type != QUIRE_OUT_FILE) {
		quire_error_set(QUIRE_EINVALID,
				"'%s' is a %s artefact and cannot be placed in a prompt", n->id,
				quire_output_type_name(pr->output.type));
		return NULL;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	/* Verified: a damaged upstream must never be fed into a prompt (and paid for). */
	int err = r->blobfd >= 0 ? quire_blob_read_at(r->blobfd, n->digest, n->size, &b, RENDER_CAP)
				 : quire_blob_read(r->p->qdir, n->digest, &b, RENDER_CAP, 1);
	if (err == QUIRE_ECORRUPT || err == QUIRE_ENOTFOUND)
		damaged(n->id);
	if (err) {
		quire_buf_release(&b);
		return NULL;
	}
	r->verified[i] = 1; /* each thread marks only the nodes it reads */
	json_t *v;
	if (pr->output.type == QUIRE_OUT_JSON) {
		json_error_t je;
		v = json_loadb(b.ptr, b.len, JSON_DECODE_ANY, &je);
		if (!v)
			quire_error_set(QUIRE_ECORRUPT, "'%s' is not valid JSON: %s", n->id, je.text);
	} else {
		v = json_stringn_nocheck(b.ptr, b.len);
	}
	quire_buf_release(&b);
	return v;
}

/* Reads the outputs a collector renders on two threads before it renders them (one at a time,
 * 10,000 of them were most of a one-scene change's run). What fails to load is left for the
 * render, which says why. */
struct prefetch {
	struct runner *r;
	const struct quire_node *n;
	json_t **got; /* per dependency (a node named twice is read twice, kept once) */
	unsigned char *want; /* per dependency: the template reads its producer whole */
	_Atomic size_t next;
};

static void *prefetch_main(void *arg)
{
	struct prefetch *f = arg;
	size_t nd = f->n->ndeps;
	for (size_t k; (k = atomic_fetch_add(&f->next, 64)) < nd;)
		for (size_t e = k + 64 < nd ? k + 64 : nd; k < e; k++)
			if (f->want[k] && !f->r->values[f->n->deps[k]]) {
				f->got[k] = load_value(f->r, f->n->deps[k]);
				if (!f->got[k])
					quire_error_clear();
			}
	return NULL;
}

static void prefetch(struct runner *r, const struct quire_node *n, const struct quire_template *t)
{
	if (n->ndeps < 256)
		return;
	struct prefetch f = { r, n, quire__xcalloc(n->ndeps, sizeof(json_t *)),
			      quire__xcalloc(n->ndeps, 1), 0 };
	/* Only what the template names whole: a collector whose provider reads its inputs
	 * itself (exec's {inputs}) renders none of them. */
	int last = -1, reads = 0;
	size_t nwant = 0;
	for (size_t k = 0; k < n->ndeps; k++) {
		int up = r->plan->nodes[n->deps[k]].producer;
		if (up != last)
			reads = quire_template_reads_all(t, r->p->bp->producers[up].name);
		last = up;
		nwant += f.want[k] = (unsigned char)reads;
	}
	if (nwant >= 256)
		quire__run_parallel(prefetch_main, &f, 2);
	for (size_t k = 0; k < n->ndeps; k++) {
		json_t **slot = &r->values[n->deps[k]];
		if (!*slot)
			*slot = f.got[k];
		else
			json_decref(f.got[k]);
	}
	free(f.got);
	free(f.want);
}

static const json_t *artefact_value(void *ud, const char *id)
{
	struct runner *r = ud;
	long i = quire_plan_find(r->plan, id);
	if (i < 0) {
		quire_error_set(QUIRE_EINVALID, "'%s' does not exist (index out of range)", id);
		return NULL;
	}
	if (r->mark[i] != r->gen) {
		quire_error_set(QUIRE_EINVALID, "'%s' is not a dependency of this instance", id);
		return NULL;
	}
	if (!r->values[i])
		r->values[i] = load_value(r, (size_t)i);
	return r->values[i];
}

/* Loads and renders a template file for node i into out. A template every instance of a
 * producer shares is read, parsed and checked once per run and kept in *cache (NULL for a
 * per-instance prompt, used once). */
static int render_file(struct runner *r, size_t i, const char *rel, struct quire_buf *out,
		       struct quire_template **cache)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	struct quire_buf src = QUIRE_BUF_INIT;
	struct quire_template *t = cache ? *cache : NULL;
	int err = 0;
	if (!t) {
		char *path = quire__xasprintf("%s/%s", r->p->root, rel);
		err = quire_fs_read(path, &src, QUIRE_TEXT_CAP);
		free(path);
		if (!err)
			err = quire_fs_check_utf8(rel, src.ptr, src.len);
		if (!err)
			err = quire_template_parse(&t, src.ptr, src.len, rel);
		if (!err)
			err = quire_template_check(t, r->p->bp, pr);
		if (!err && cache)
			*cache = t;
	}
	if (!err) {
		prefetch(r, n, t);
		r->gen++;
		for (size_t k = 0; k < n->ndeps; k++)
			r->mark[n->deps[k]] = r->gen;
		struct quire_buf fb = QUIRE_BUF_INIT;
		size_t k;
		json_t *f;
		json_array_foreach(n->feedback, k, f)
			quire_buf_printf(&fb, "%s%s", k ? "\n" : "", json_string_value(f));
		struct quire_render_ctx c = {
			.bp = r->p->bp,
			.p = pr,
			.idx = n->idx,
			.inputs = r->p->inputs,
			.feedback = fb.ptr,
			.artefact = artefact_value,
			.ud = r,
		};
		err = quire_template_render(t, &c, out);
		quire_buf_release(&fb);
	}
	if (!cache || *cache != t)
		quire_template_free(t);
	quire_buf_release(&src);
	return err;
}

static struct binst *binst_for(struct runner *r, const char *role)
{
	for (size_t k = 0; k < r->nbinsts; k++)
		if (!strcmp(r->binsts[k].b->role, role))
			return &r->binsts[k];
	return NULL;
}

/* Builds the job for node i: prompt, schema, input files, output path. */
static int make_job(struct runner *r, size_t i, struct job *j)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	struct quire_buf prompt = QUIRE_BUF_INIT;
	int err = 0;
	char *ppath = quire_producer_prompt_path(pr, n->idx);
	if (ppath)
		err = render_file(r, i, ppath, &prompt,
				  pr->prompt_per_instance ? NULL : &r->tprompt[n->producer]);
	free(ppath);
	if (err)
		goto out;
	j->prompt = quire_buf_detach(&prompt, &j->prompt_len);
	if (pr->output.schema) {
		struct quire_buf sb = QUIRE_BUF_INIT;
		err = render_file(r, i, pr->output.schema, &sb, &r->tschema[n->producer]);
		if (!err) {
			json_error_t je;
			j->schema_j = json_loadb(sb.ptr, sb.len, 0, &je);
			if (!j->schema_j)
				err = quire_error_set(QUIRE_EINVALID, "%s:%d:%d: schema is not valid JSON: %s",
						      pr->output.schema, je.line, je.column, je.text);
			j->schema = quire_buf_detach(&sb, NULL);
		}
		quire_buf_release(&sb);
		if (err)
			goto out;
	}
	j->bi = binst_for(r, pr->role);
	j->rq.ninputs = n->ndeps;
	j->in_ids = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	j->in_paths = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &r->plan->nodes[n->deps[k]];
		j->in_ids[k] = quire__xstrdup(u->id);
		j->in_paths[k] = quire_blob_path(r->p->qdir, u->digest);
		if (!r->verified[n->deps[k]]) {
			if (!j->in_check)
				j->in_check = quire__xcalloc(n->ndeps + 1, sizeof(char *));
			j->in_check[k] = quire__xstrdup(u->digest);
		}
	}
	j->ext = pr->output.ext;
	j->estimate = quire_run_estimate(r->p, r->plan, i);
	j->params = json_dumps(j->bi->b->params, JSON_SORT_KEYS | JSON_COMPACT);
	struct quire_provider_request *rq = &j->rq;
	rq->abi = QUIRE_PROVIDER_ABI;
	rq->id = n->id;
	rq->producer = pr->name;
	rq->role = pr->role;
	rq->model = j->bi->b->model;
	rq->params_json = j->params;
	rq->prompt = j->prompt;
	rq->prompt_len = j->prompt_len;
	rq->fingerprint = j->fp.s;
	rq->output_type = quire_output_type_name(pr->output.type);
	rq->output_ext = pr->output.ext;
	rq->schema_json = j->schema;
	rq->input_ids = (const char *const *)j->in_ids;
	rq->input_paths = (const char *const *)j->in_paths;
	rq->cancelled = &r->cancelled;
	rq->progress = on_progress;
	rq->progress_ud = j;
out:
	quire_buf_release(&prompt);
	return err;
}

static int start_node(struct runner *r, size_t i);

/* Starts node i (see start_node), then drops the rendered values of its upstream that no
 * dependant waiting to start needs any more: a collector's 100,000 scenes (60 MB at 100k)
 * were kept to the end of the run. */
static int start(struct runner *r, size_t i)
{
	int err = start_node(r, i);
	const struct quire_node *n = &r->plan->nodes[i];
	for (size_t k = 0; k < n->ndeps; k++) {
		size_t d = n->deps[k];
		if (r->users[d] && --r->users[d] == 0 && r->values[d]) {
			json_decref(r->values[d]);
			r->values[d] = NULL;
		}
	}
	return err;
}

/* Starts node i: blocked, unchanged (early cutoff), restored from the action cache, or a job. */
static int start_node(struct runner *r, size_t i)
{
	struct quire_node *n = &r->plan->nodes[i];
	for (size_t k = 0; k < n->ndeps; k++) {
		unsigned char st = r->state[n->deps[k]];
		if (st == N_REVIEW || st == N_AWAITING) {
			/* Not a failure: it runs once the review upstream is approved. */
			r->res->waiting++;
			finish(r, i, N_AWAITING);
			report(r, "waiting", i, r->plan->nodes[n->deps[k]].id);
			return 0;
		}
	}
	for (size_t k = 0; k < n->ndeps; k++) {
		unsigned char st = r->state[n->deps[k]];
		if (st == N_FAILED || st == N_BLOCKED) {
			char msg[512];
			snprintf(msg, sizeof(msg), "blocked by %s, which %s", r->plan->nodes[n->deps[k]].id,
				 st == N_FAILED ? "failed" : "was blocked");
			return fail_node(r, i, msg, N_BLOCKED);
		}
	}
	struct job *j = quire__xcalloc(1, sizeof(*j));
	j->node = i;
	int err = quire_plan_fingerprint(r->plan, r->p, i, &j->fp, &j->deps);
	if (err) {
		job_free(j);
		return err;
	}
	const struct quire_mrow *e = n->entry;
	const char *old = e ? e->digest : NULL;
	const char *ofp = e ? e->fingerprint : NULL;
	const char *ost = e ? e->status : NULL;
	if (old && ofp && ost && !strcmp(ost, "clean") && !strcmp(ofp, j->fp.s) &&
	    quire_blob_exists(r->p->qdir, old)) {
		/* Early cutoff: the upstream re-ran but produced the same bytes. */
		memcpy(n->digest, old, QUIRE_DIGEST_STRLEN);
		n->size = e->size;
		r->res->unchanged++;
		finish(r, i, after_output(r, i));
		report(r, "unchanged", i, NULL);
		job_free(j);
		return 0;
	}
	json_t *ac = NULL;
	quire_store_ac_get(r->store, j->fp.s, &ac);
	const char *acd = ac ? json_string_value(json_object_get(ac, "digest")) : NULL;
	if (acd && quire_blob_exists(r->p->qdir, acd)) {
		json_t *d = entry_data(r, i, &j->fp);
		json_object_update_missing(d, ac);
		json_object_set_new(d, "cached", json_true());
		err = record(r, "artefact.cached", n->id, d, j->deps, NULL, NULL);
		json_decref(d);
		memcpy(n->digest, acd, QUIRE_DIGEST_STRLEN);
		n->size = json_is_integer(json_object_get(ac, "size"))
				  ? (long long)json_integer_value(json_object_get(ac, "size"))
				  : -1;
		json_decref(ac);
		job_free(j);
		if (err)
			return err;
		r->res->cached++;
		finish(r, i, after_output(r, i));
		report(r, "cached", i, NULL);
		return 0;
	}
	json_decref(ac);
	if ((err = make_job(r, i, j))) {
		char msg[2048];
		snprintf(msg, sizeof(msg), "%s", quire_error_last());
		job_free(j);
		/* A damaged store is quire's failure, not the instance's: the run stops (exit 5). */
		if (err == QUIRE_ECORRUPT)
			halt(r, QUIRE_ECORRUPT, "%s", msg);
		return fail_node(r, i, msg, N_FAILED);
	}
	r->state[i] = N_RUNNING;
	r->running++;
	j->bi->running++;
	r->flying[r->nflying++] = j;
	report(r, "start", i, NULL);
	pthread_mutex_lock(&r->mu);
	if (r->work_tail)
		r->work_tail->next = j;
	else
		r->work_head = j;
	r->work_tail = j;
	pthread_cond_signal(&r->work_cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

/* What a job's attempts used, as recorded: {tokens_in, tokens_out}, or null when an answer
 * did not say (never a zero that would look like a free call). New reference. */
static json_t *job_usage(const struct job *j)
{
	if (j->usage_unknown)
		return json_null();
	return json_pack("{s:I,s:I}", "tokens_in", (json_int_t)j->spent_in, "tokens_out",
			 (json_int_t)j->spent_out);
}

/* Takes in a finished job: blob first, then the event (with the action cache entry). */
static int complete(struct runner *r, struct job *j)
{
	size_t i = j->node;
	struct quire_node *n = &r->plan->nodes[i];
	r->running--;
	j->bi->running--;
	for (size_t k = 0; k < r->nflying; k++)
		if (r->flying[k] == j) {
			r->flying[k] = r->flying[--r->nflying];
			break;
		}
	if (j->rc && r->cancelled) {
		/* Cancelled by an interrupt: not a failure; it simply did not finish this time. */
		r->state[i] = N_SKIPPED;
		job_free(j);
		return 0;
	}
	if (j->rc) {
		if (j->corrupt)
			halt(r, QUIRE_ECORRUPT, "%s", j->rs.diag);
		/* What the failure cost, and who failed: the revision says it. */
		json_t *extra = json_pack("{s:s,s:o,s:I}", "provider", j->bi->b->provider, "model",
					  j->bi->b->model ? json_string(j->bi->b->model) : json_null(),
					  "attempts", (json_int_t)j->attempts);
		if (j->spent_micro || j->cost_estimated) {
			json_object_set_new(extra, "cost_micro", json_integer(j->spent_micro));
			json_object_set_new(extra, "usage", job_usage(j));
			if (j->cost_estimated)
				json_object_set_new(extra, "cost_estimated", json_true());
		}
		r->res->cost_micro += j->spent_micro;
		int err = fail_node_with(r, i, j->rs.diag, N_FAILED, extra);
		json_decref(extra);
		job_free(j);
		if (!err)
			check_disk(r);
		return err;
	}
	for (size_t k = 0; k < n->ndeps; k++)
		r->verified[n->deps[k]] = 1;
	r->verified[i] = 1; /* hashed as it was sealed */
	if (!j->adopted) {
		int err = quire_error_set(QUIRE_EIO, "%s", j->adopt_msg ? j->adopt_msg : "output not stored");
		job_free(j);
		return err;
	}
	int err;
	json_t *ac = json_pack("{s:s,s:I,s:I,s:I,s:o}", "digest", j->digest.s, "size",
			       (json_int_t)j->size, "duration_ms", (json_int_t)(j->dur_ns / 1000000),
			       "attempts", (json_int_t)j->attempts, "usage", job_usage(j));
	if (j->rs.meta[0]) {
		json_t *meta = json_loads(j->rs.meta, 0, NULL);
		if (json_is_object(meta))
			json_object_set_new(ac, "meta", meta);
		else
			json_decref(meta);
	}
	long long cost = j->spent_micro;
	if (j->bi->b->priced || cost)
		json_object_set_new(ac, "cost_micro", json_integer(cost));
	if (j->cost_estimated)
		json_object_set_new(ac, "cost_estimated", json_true());
	r->res->cost_micro += cost;
	json_t *d = entry_data(r, i, &j->fp);
	json_object_update(d, ac);
	err = record(r, "artefact.produced", n->id, d, j->deps, j->fp.s, ac);
	json_decref(d);
	json_decref(ac);
	memcpy(n->digest, j->digest.s, QUIRE_DIGEST_STRLEN);
	n->size = (long long)j->size;
	job_free(j);
	if (err)
		return err;
	r->res->produced++;
	finish(r, i, after_output(r, i));
	report(r, "produced", i, NULL);
	return 0;
}

static int init_bindings(struct runner *r)
{
	/* Only roles that have work in this plan need their provider started. */
	r->binsts = quire__xcalloc(r->p->nbindings + 1, sizeof(*r->binsts));
	for (size_t i = 0; i < r->plan->n; i++) {
		const struct quire_node *n = &r->plan->nodes[i];
		if (!n->selected || !n->dirty)
			continue;
		const char *role = r->p->bp->producers[n->producer].role;
		if (binst_for(r, role))
			continue;
		const struct quire_binding *b = quire_project_binding(r->p, role);
		const struct quire_provider *vt = NULL;
		char *program = NULL, *secret = NULL, *source = NULL;
		int err = quire_provider_resolve(b->provider, &vt, &program, NULL);
		const char *sn = err ? NULL : quire_binding_secret_name(b, vt);
		if (!err && sn)
			err = quire_secret_lookup(sn, &secret, &source);
		if (err) {
			free(program);
			return quire_error_prefix(err, "%s: role '%s'", QUIRE_PROJECT_FILE, role);
		}
		struct binst *bi = &r->binsts[r->nbinsts++];
		bi->b = b;
		bi->vt = vt;
		char *params = json_dumps(b->params, JSON_SORT_KEYS | JSON_COMPACT);
		struct quire_provider_config cfg = {
			.abi = QUIRE_PROVIDER_ABI,
			.provider = b->provider,
			.role = b->role,
			.model = b->model,
			.params_json = params,
			.secret = secret,
			.project_dir = r->p->root,
			.program = program,
		};
		char msg[1024] = "";
		int rc = vt->init ? vt->init(&bi->ctx, &cfg, msg, sizeof(msg)) : 0;
		free(params);
		free(program);
		free(source);
		if (secret) {
			memset(secret, 0, strlen(secret));
			free(secret);
		}
		if (rc) {
			r->nbinsts--;
			quire_secret_redact(msg, sizeof(msg));
			return quire_error_set(QUIRE_EINVALID, "%s: role '%s': provider '%s': %s",
					       QUIRE_PROJECT_FILE, role, vt->name,
					       msg[0] ? msg : "failed to start");
		}
	}
	return 0;
}

static void fini_bindings(struct runner *r)
{
	for (size_t k = 0; k < r->nbinsts; k++)
		if (r->binsts[k].vt->fini)
			r->binsts[k].vt->fini(r->binsts[k].ctx);
	free(r->binsts);
}

static void cancel_all(struct runner *r)
{
	if (r->cancelled)
		return;
	r->cancelled = 1;
	for (size_t k = 0; k < r->nbinsts; k++)
		if (r->binsts[k].vt->cancel)
			r->binsts[k].vt->cancel(r->binsts[k].ctx);
}

static int interrupted(const struct runner *r)
{
	return r->o->interrupted && *r->o->interrupted;
}

static int execute(struct runner *r)
{
	size_t n = r->plan->n;
	r->state = quire__xcalloc(n, 1);
	r->pending = quire__xcalloc(n, sizeof(size_t));
	r->ready = quire__xcalloc(n, sizeof(size_t));
	r->prio = quire__xcalloc(n, sizeof(uint64_t));
	compute_priorities(r);
	r->values = quire__xcalloc(n, sizeof(json_t *));
	r->verified = quire__xcalloc(n, 1);
	r->users = quire__xcalloc(n, sizeof(size_t));
	char *bdir = quire__xasprintf("%s/blobs/sha256", r->p->qdir);
	r->blobfd = open(bdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(bdir);
	r->mark = quire__xcalloc(n, sizeof(unsigned));
	r->tprompt = quire__xcalloc(r->p->bp->nproducers + 1, sizeof(*r->tprompt));
	r->tschema = quire__xcalloc(r->p->bp->nproducers + 1, sizeof(*r->tschema));
	for (size_t i = 0; i < n; i++) {
		struct quire_node *nd = &r->plan->nodes[i];
		if (!nd->selected || !nd->dirty) {
			r->state[i] = !nd->selected ? N_SKIPPED : nd->pending_review ? N_REVIEW : N_OK;
			continue;
		}
		r->total++;
		for (size_t k = 0; k < nd->ndeps; k++) {
			const struct quire_node *u = &r->plan->nodes[nd->deps[k]];
			r->pending[i] += u->selected && u->dirty;
			r->users[nd->deps[k]]++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (r->state[i] == N_PENDING_DEPS && r->pending[i] == 0)
			push_ready(r, i);

	int jobs = r->o->jobs > 0 ? r->o->jobs : r->p->jobs;
	if (r->o->jobs <= 0 && (r->js = quire__jobserver_open()))
		jobs = 64; /* make's tokens decide; threads only cap it */
	r->nthreads = jobs;
	r->flying = quire__xcalloc((size_t)jobs + 1, sizeof(*r->flying));
	r->threads = quire__xcalloc((size_t)jobs, sizeof(pthread_t));
	r->slots = quire__xcalloc((size_t)jobs, sizeof(*r->slots));
	int err = 0;
	for (int t = 0; t < jobs; t++)
		r->slots[t].r = r;
	for (int t = 0; t < jobs; t++)
		if (pthread_create(&r->threads[t], NULL, worker, &r->slots[t]) != 0) {
			r->nthreads = t;
			err = quire_error_set(QUIRE_ERROR, "cannot start worker threads");
			break;
		}
	while (!err) {
		if (interrupted(r) && !r->stopping) {
			r->stopping = 1;
			r->res->interrupted = 1;
			cancel_all(r);
		}
		while (!err && !r->stopping && r->nready && have_slot(r)) {
			size_t k = next_startable(r);
			if (k == (size_t)-1)
				break;
			err = start(r, k);
		}
		return_slots(r);
		if (err || r->running == 0)
			break;
		pthread_mutex_lock(&r->mu);
		if (!r->done_head) {
			/* Wake at least every 100 ms to notice SIGINT (the handler only sets a flag),
			 * and in time to commit an open group of events. */
			int64_t wait = 100000000;
			if (r->npend) {
				int64_t left = r->last_commit + RECORD_BATCH_NS - mono_ns();
				wait = left < 0 ? 0 : left < wait ? left : wait;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)wait;
			while (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (wait > 0)
				pthread_cond_timedwait(&r->done_cv, &r->mu, &ts);
		}
		struct job *done = r->done_head;
		r->done_head = r->done_tail = NULL;
		pthread_mutex_unlock(&r->mu);
		if (r->npend && mono_ns() - r->last_commit >= RECORD_BATCH_NS)
			err = record_flush(r);
		report_progress(r);
		while (done) {
			struct job *next = done->next;
			if (!err)
				err = complete(r, done);
			else
				job_free(done);
			done = next;
		}
	}
	if (err)
		cancel_all(r);
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->work_cv);
	pthread_mutex_unlock(&r->mu);
	for (int t = 0; t < r->nthreads; t++)
		pthread_join(r->threads[t], NULL);
	for (int t = 0; t < jobs; t++)
		slot_reset(&r->slots[t]);
	free(r->slots);
	/* Jobs that finished while we were stopping still count: their work is kept. */
	for (struct job *j = r->done_head, *next; j; j = next) {
		next = j->next;
		if (!err)
			err = complete(r, j);
		else
			job_free(j);
	}
	for (struct job *j = r->work_head, *next; j; j = next) {
		next = j->next;
		r->running--;
		job_free(j);
	}
	r->done_head = r->work_head = NULL;
	int ferr = record_flush(r);
	if (!err)
		err = ferr;
	for (size_t i = 0; i < n; i++)
		if (r->plan->nodes[i].selected && r->plan->nodes[i].dirty &&
		    r->state[i] != N_OK && r->state[i] != N_FAILED && r->state[i] != N_BLOCKED &&
		    r->state[i] != N_REVIEW && r->state[i] != N_AWAITING)
			r->res->not_started++;
	for (size_t i = 0; i < n; i++)
		json_decref(r->values[i]);
	if (r->blobfd >= 0)
		close(r->blobfd);
	quire__jobserver_close(r->js);
	r->js = NULL;
	free(r->threads);
	free(r->flying);
	free(r->state);
	free(r->pending);
	free(r->ready);
	free(r->prio);
	free(r->values);
	free(r->verified);
	free(r->users);
	free(r->mark);
	for (size_t k = 0; k < r->p->bp->nproducers; k++) {
		quire_template_free(r->tprompt[k]);
		quire_template_free(r->tschema[k]);
	}
	free(r->tprompt);
	free(r->tschema);
	return err;
}

struct fold_ctx {
	json_t *m;
	struct quire_mbase *base; /* m's base when m is slim */
	int compact;		  /* keep changed entries as text (a run's commit) */
	int started, err;
};

static int fold_cb(void *ud, int64_t seq, int64_t time_ns, const char *kind, const char *subject,
		   const char *text, size_t len)
{
	(void)seq;
	struct fold_ctx *fc = ud;
	fc->started |= !strcmp(kind, "run.start");
	/* An entry only in the base is read from the parent's text first; 10,000 new entries
	 * held parsed were most of a large first run's memory, so they are compacted again (and
	 * a run's large records are kept as text: see quire_manifest_fold_text). */
	fc->err = quire_manifest_fold_text(fc->m, fc->base, time_ns, kind, subject, text, len,
					   fc->compact);
	return fc->err ? 1 : 0;
}

/* Folds run `run`'s events into m (consumed: changed in place; slim with its base, or full),
 * writes it as revision rev and moves `current`; *out gets m when given. */
static int commit_onto(const char *qdir, struct quire_store *store, int64_t run, const char *rev,
		       json_t *m, struct quire_mbase *base, int compact, json_t **out)
{
	struct fold_ctx fc = { m, base, compact, 0, 0 };
	int err = quire_store_events_text(store, run, fold_cb, &fc);
	if (fc.err)
		err = fc.err;
	/* A slim manifest's files, inputs and counts are empty until run.start sets them. */
	if (!err && ((base && !fc.started) || !json_is_string(json_object_get(m, "revision")) ||
		     strcmp(json_string_value(json_object_get(m, "revision")), rev)))
		err = quire_error_set(QUIRE_ECORRUPT, "run %lld has no start event", (long long)run);
	/* Blobs and the event log are written without fsyncs; one sync of the file system makes
	 * all of them durable before the manifest that names them. */
	if (!err)
		err = quire_fs_sync_fs(qdir);
	if (!err)
		err = quire_manifest_write_from(qdir, rev, m, base);
	if (!err)
		err = quire_manifest_set_current(qdir, rev);
	if (!err)
		err = quire_store_run_finish(store, run, "committed");
	if (err || !out)
		json_decref(m);
	else
		*out = m;
	return err;
}

int quire__run_commit(const char *qdir, struct quire_store *store, int64_t run, const char *rev,
		      const char *parent, const json_t *parent_manifest, json_t **out)
{
	json_t *m = NULL;
	if (parent && parent_manifest) {
		/* Already in memory: a copy is much cheaper than parsing the file again. */
		m = json_deep_copy(parent_manifest);
	} else if (parent) {
		int err = quire_manifest_load(qdir, parent, &m);
		if (err)
			return err;
	} else {
		m = quire_manifest_empty();
	}
	return commit_onto(qdir, store, run, rev, m, NULL, 0, out);
}

struct outputs {
	json_t *list; /* [[subject or null for a file snapshot, digest], ...] */
};

static int collect_output(void *ud, int64_t seq, int64_t time_ns, const char *kind,
			  const char *subject, const json_t *data)
{
	(void)seq;
	(void)time_ns;
	struct outputs *o = ud;
	if (!strcmp(kind, "run.start")) {
		/* The snapshots of the files the run read: stored, like outputs, without a sync. */
		const char *rel;
		json_t *d;
		json_object_foreach(json_object_get(data, "files"), rel, d)
			if (json_is_string(d))
				json_array_append_new(o->list, json_pack("[n,O]", d));
		return 0;
	}
	if (strcmp(kind, "artefact.produced") && strcmp(kind, "artefact.cached"))
		return 0;
	const char *digest = json_string_value(json_object_get(data, "digest"));
	if (subject && digest)
		json_array_append_new(o->list, json_pack("[s,s]", subject, digest));
	return 0;
}

/* The outputs (and file snapshots) of a killed run were renamed into the store but not yet
 * synced to disk (that happens once, before a revision is committed), so after a power loss a
 * blob may be missing, empty or partial. Each one is hashed again; a bad one is removed, and
 * a bad output is recorded as lost (the artefact is then failed, without output), so the next
 * run makes it again instead of committing it as clean. A removed snapshot is stored again
 * by the next run that reads the file. */
static int verify_outputs(struct quire_project *p, struct quire_store *store, int64_t run)
{
	struct outputs o = {json_array()};
	int err = quire_store_events(store, run, collect_output, &o);
	size_t k;
	json_t *v;
	json_array_foreach(o.list, k, v) {
		if (err)
			break;
		const char *subject = json_string_value(json_array_get(v, 0));
		const char *digest = json_string_value(json_array_get(v, 1));
		if (!quire_digest_valid(digest))
			continue;
		char *path = quire_blob_path(p->qdir, digest);
		struct quire_digest got;
		int herr = quire_hash_file(path, &got, NULL), bad = 0;
		if (herr == QUIRE_ENOTFOUND) {
			quire_error_clear();
			bad = 1;
		} else if (herr) {
			err = herr; /* unreadable is not lost: nothing is removed on a guess */
		} else {
			bad = strcmp(got.s, digest) != 0;
		}
		if (bad)
			unlink(path);
		if (bad && subject) {
			char msg[256];
			snprintf(msg, sizeof(msg), "its output %.19s... was lost when quire was stopped "
				 "before it reached the disk", digest);
			json_t *d = json_pack("{s:s,s:s}", "error", msg, "digest", digest);
			err = quire__run_record(store, run, "artefact.lost", subject, d, NULL, NULL);
			json_decref(d);
		}
		free(path);
	}
	json_decref(o.list);
	return err;
}

/* A run that was killed left events but no manifest: commit what it finished. */
int quire__run_recover(struct quire_project *p, struct quire_store *store, char *recovered,
		       size_t len)
{
	int64_t run;
	char *rev = NULL, *parent = NULL;
	int err = quire_store_unfinished_run(store, &run, &rev, &parent);
	while (!err && run) {
		/* Its start event records what it read: without one (a store made before the row
		 * and the event were one transaction, killed between them) nothing can be committed
		 * and nothing was produced, since jobs start only after it. */
		int has = quire_store_run_has_start(store, run);
		if (has == 0) {
			err = quire_store_run_finish(store, run, "abandoned");
			goto next;
		}
		err = has < 0 ? has : verify_outputs(p, store, run);
		if (!err)
			err = quire__run_record(store, run, "run.recovered", NULL, NULL, NULL, NULL);
		if (!err)
			err = quire__run_commit(p->qdir, store, run, rev, parent, NULL, NULL);
		if (!err)
			snprintf(recovered, len, "%s", rev);
next:
		free(rev);
		free(parent);
		rev = parent = NULL;
		if (!err)
			err = quire_store_unfinished_run(store, &run, &rev, &parent);
	}
	free(rev);
	free(parent);
	return err;
}

/* Stores one project file's content; d is the digest it was hashed to. */
static int snapshot_file(struct quire_project *p, const char *rel, const char *d)
{
	char *path = quire__xasprintf("%s/%s", p->root, rel);
	struct quire_digest got;
	int err = quire_blob_put_file(p->qdir, path, &got, NULL);
	free(path);
	if (err)
		return err;
	if (strcmp(got.s, d))
		return quire_error_set(QUIRE_EINVALID, "'%s' changed while quire was reading it", rel);
	return 0;
}

/* Keeps the content of every file the build read, so a revision can be restored later. */
int quire__run_snapshot(struct quire_project *p, const struct quire_plan *plan)
{
	int err = 0;
	if (plan && plan->files_checked) {
		/* The plan asked the store (mostly answered by trusted shards, see
		 * quire_blob_set_new): a no-op or one-scene run checked 10,000 files here. */
		for (size_t k = 0; k < plan->nunstored && !err; k++)
			err = snapshot_file(p, plan->unstored[k],
					    quire_project_file_digest(p, plan->unstored[k]));
		return err;
	}
	for (size_t k = 0; k < p->nfiles; k++)
		if (!quire_blob_exists(p->qdir, p->files[k].d.s) &&
		    (err = snapshot_file(p, p->files[k].rel, p->files[k].d.s)))
			return err;
	return 0;
}

long long quire_run_estimate_plan(const struct quire_project *p, const struct quire_plan *plan,
				  int *priced)
{
	long long sum = 0;
	*priced = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || !n->dirty)
			continue;
		/* Saturated: QUIRE_COST_MAX per instance over a large plan passes LLONG_MAX. */
		if (__builtin_add_overflow(sum, quire_run_estimate(p, plan, i), &sum))
			sum = LLONG_MAX;
		*priced |= quire_project_binding(p, p->bp->producers[n->producer].role)->priced;
	}
	return sum;
}

int quire_run_check_cost(long long estimate_micro, long long max_micro)
{
	if (estimate_micro <= max_micro)
		return 0;
	return quire_error_set(QUIRE_ECOST,
			       "the estimated cost %lld.%06lld exceeds --max-cost %lld.%06lld; "
			       "nothing was generated",
			       estimate_micro / 1000000, estimate_micro % 1000000,
			       max_micro / 1000000, max_micro % 1000000);
}

long long quire_run_estimate(const struct quire_project *p, const struct quire_plan *plan,
			     size_t i)
{
	const struct quire_producer *pr = &p->bp->producers[plan->nodes[i].producer];
	const struct quire_binding *b = quire_project_binding(p, pr->role);
	if (!b->priced)
		return 0;
	long long in = 0;
	char *ppath = quire_producer_prompt_path(pr, plan->nodes[i].idx);
	if (ppath) {
		char *path = quire__xasprintf("%s/%s", p->root, ppath);
		struct stat st;
		if (stat(path, &st) == 0)
			in = (long long)st.st_size / 4;
		free(path);
	}
	free(ppath);
	return quire_binding_cost(b, in, b->est_tokens_out);
}

/* Removes what killed runs left in .quire/tmp (we hold the lock: nobody else writes there). */
void quire__run_clear_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) < 0) {
			char *sub = quire__xasprintf("%s/%s", dir, e->d_name);
			rm_tree(sub); /* a worker's directory */
			free(sub);
		}
	closedir(d);
}

static int write_plan_file(struct quire_project *p, const struct quire_plan *plan, const char *rev)
{
	char *dir = quire__xasprintf("%s/runs", p->qdir);
	char *path = quire__xasprintf("%s/%s-plan.json", dir, rev);
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err) {
		json_t *j = quire_plan_to_json(plan, 0);
		char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
		err = quire_fs_write_atomic(path, s, strlen(s), 0644);
		free(s);
		json_decref(j);
	}
	free(dir);
	free(path);
	return err;
}

int quire_run(struct quire_project *p, const struct quire_run_opts *o,
	      struct quire_run_result *res)
{
	memset(res, 0, sizeof(*res));
	struct quire_lock *lock = NULL;
	struct quire_store *store = NULL;
	struct quire_plan *plan = NULL;
	json_t *cur = NULL, *next = NULL;
	char *current = NULL;
	struct runner r = { 0 };
	struct quire_mbase *base = NULL;
	/* Providers are checked before the lock; templates once the files are hashed, so an
	 * unchanged set of templates is not parsed again. */
	int err = quire_project_check_providers(p, 1);
	if (err)
		return err;
	err = quire_lock_acquire(&lock, p->qdir, o->command ? o->command : "quire run");
	if (err)
		return err;
	char *tmpdir = quire__xasprintf("%s/tmp", p->qdir);
	quire__run_clear_tmp(tmpdir);
	if (!(err = quire_fs_mkdirs(tmpdir, 0755)) && !(err = quire_blob_check_dirs(p->qdir)))
		reserve_make(p->qdir);
	if (err || (err = quire_store_open(&store, p->qdir, 0)) ||
	    (err = quire__run_recover(p, store, res->recovered, sizeof(res->recovered))) ||
	    (err = quire_manifest_current(p->qdir, &current)))
		goto out;
	/* Plan against the revision's compact index when there is one: the entries of dirty
	 * instances are parsed from the manifest's text as the plan needs them, and the commit
	 * copies the text of every entry the run does not change. It is read on a second thread
	 * while this one hashes the project's files (after recovery, which may commit). */
	struct quire_index_load *il = current ? quire_manifest_load_index_start(p->qdir, current) : NULL;
	if (!(err = quire_project_hash_files(p, store)))
		err = quire_project_check_templates_cached(p, store);
	if (il)
		quire_manifest_load_index_finish(il, &cur, &base);
	if (err)
		goto out;
	if (cur && (err = quire_plan_build_ex(&plan, p, cur, base, p->qdir, o->targets,
					      o->ntargets, o->regenerate, o->nregenerate))) {
		/* A user's error (a bad target) is the same against the whole manifest. */
		if (err != QUIRE_ECORRUPT)
			goto out;
		/* A text that does not match its index: plan against the manifest itself. */
		json_decref(cur);
		cur = NULL;
		quire_mbase_free(base);
		base = NULL;
		quire_error_clear();
		err = 0;
	}
	if (!cur && current) {
		if ((err = quire_manifest_load(p->qdir, current, &cur)))
			goto out;
		/* No usable index (a fresh clone, another quire's): the next command has one. */
		quire_manifest_reindex(p->qdir, current, cur);
	}
	if (!cur)
		cur = quire_manifest_empty();
	if (!plan && (err = quire_plan_build_ex(&plan, p, cur, NULL, p->qdir, o->targets,
						o->ntargets, o->regenerate, o->nregenerate)))
		goto out;
	res->total = plan->nselected;
	res->dirty = plan->ndirty;
	res->estimate_micro = quire_run_estimate_plan(p, plan, &res->priced);
	if (o->has_max_cost && (err = quire_run_check_cost(res->estimate_micro, o->max_cost_micro)))
		goto out;
	size_t nremove = o->ntargets ? 0 : plan->nremoved;
	if (plan->ndirty == 0 && nremove == 0)
		goto materialise; /* which leaves a writer's file in out/ alone, and says so */
	/* A writer's text in out/ stops the run before anything is spent or overwritten. */
	if ((err = quire_out_preflight(p, store, cur, base)))
		goto out;

	r.p = p;
	r.plan = plan;
	r.store = store;
	r.o = o;
	r.res = res;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.work_cv, NULL);
	pthread_cond_init(&r.done_cv, NULL);
	if ((err = init_bindings(&r)))
		goto out_runner;
	long a, b = quire_manifest_max_rev(p->qdir);
	if ((err = quire_store_max_rev(store, &a)))
		goto out_runner;
	quire_rev_format((a > b ? a : b) + 1, r.rev, sizeof(r.rev));
	if ((err = quire__run_snapshot(p, plan)) || (err = write_plan_file(p, plan, r.rev)))
		goto out_runner;
	json_t *inputs = json_object();
	const char *name;
	json_t *v;
	json_object_foreach(p->inputs, name, v) {
		struct quire_digest d;
		quire_project_input_digest(p, name, &d);
		json_object_set_new(inputs, name, json_pack("{s:s,s:O}", "digest", d.s, "value", v));
	}
	json_t *start_data = json_pack("{s:s,s:o,s:o,s:o,s:s}", "revision", r.rev, "parent",
				       current ? json_string(current) : json_null(), "inputs", inputs,
				       "git", quire__git_info(p->root), "command",
				       o->command ? o->command : "quire run");
	struct quire_buf files = QUIRE_BUF_INIT;
	quire_project_files_text(p, &files);
	char *start_text = quire_json_canonical_with(start_data, "files", files.ptr);
	quire_buf_release(&files);
	json_decref(start_data);
	err = start_text ? quire_store_run_start(store, r.rev, current, o->command, start_text,
						 &r.run_id)
			 : QUIRE_EINVALID;
	free(start_text);
	for (size_t k = 0; !err && k < nremove; k++) {
		err = record(&r, "artefact.removed", plan->removed[k], NULL, NULL, NULL, NULL);
		res->removed++;
	}
	if (!err)
		err = record_flush(&r); /* the run's start is on disk before its first job */
	if (!err)
		err = execute(&r);
	if (!err) {
		json_t *end = json_pack("{s:b}", "interrupted", res->interrupted);
		err = record(&r, "run.end", NULL, end, NULL, NULL, NULL);
		json_decref(end);
	}
	int ferr = record_flush(&r);
	if (!err)
		err = ferr;
	if (!err && r.halt_err)
		err = quire_error_set(r.halt_err, "%s", r.halt_msg);
	/* Commit even after an error: everything recorded so far is kept. The fold changes cur
	 * in place (a deep copy of a large manifest cost more than the fold); out/ only needs
	 * the parent's entries: the base's rows, or for a full manifest, entries a shallow copy
	 * of its artefacts keeps alive (so do the plan's rows made of them). */
	json_t *parent_arts = base ? NULL
				   : json_pack("{s:o}", "artefacts",
					       json_copy(json_object_get(cur, "artefacts")));
	/* The commit's own work may clear the thread's message: keep the one that says why. */
	char *why = err ? quire__xstrdup(quire_error_last()) : NULL;
	int cerr = commit_onto(p->qdir, store, r.run_id, r.rev, cur, base, 1, &next);
	cur = parent_arts;
	if (!err)
		err = cerr;
	else
		quire_error_set(err, "%s", why);
	free(why);
	if (!cerr)
		snprintf(res->rev, sizeof(res->rev), "%s", r.rev);
out_runner:
	if (r.npend && err) {
		/* After an error: keep what can still be recorded, without losing the message. */
		char *msg = quire__xstrdup(quire_error_last());
		record_flush(&r);
		quire_error_set(err, "%s", msg);
		free(msg);
	}
	pend_clear(&r);
	free(r.pend);
	free(r.halt_msg);
	free(r.held);
	fini_bindings(&r);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.work_cv);
	pthread_cond_destroy(&r.done_cv);
	if (err)
		goto out;
materialise:
	err = quire_out_sync_cached(p, store, next ? next : cur, base, next ? cur : NULL,
				    next ? base : NULL, &res->out_written, &res->out_removed);
	if (!err && res->interrupted)
		err = quire_error_set(QUIRE_EINTR, "interrupted");
out:
	if (!quire__mem_keep(cur))
		json_decref(cur);
	if (!quire__mem_keep(next))
		json_decref(next);
	quire_mbase_free(base);
	free(current);
	free(tmpdir);
	quire_plan_free(plan);
	quire_store_close(store);
	quire_lock_release(lock);
	return err;
}
