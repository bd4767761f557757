/* The runner's jobs: rendering prompts from verified upstream values, worker threads and
 * their scratch slots, calling providers with retries, and sealing outputs. */
#include <dirent.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "schema.h"
#include "quire/secret.h"
#include "template.h"
#include "run_internal.h"
#include "util.h"

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

void quire_run__rm_tree(const char *dir)
{
	clear_dir(dir);
	rmdir(dir);
}

void quire_run__job_free(struct job *j)
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
		free(j->in_digest[k]);
	}
	free(j->in_digest);
	free(j->in_ids);
	free(j->in_paths);
	free(j->in_check);
	if (j->tmp) {
		if (!j->adopted)
			unlink(j->tmp);
		free(j->tmp);
	}
	free(j->rs.output);
	free(j->adopt_msg);
	free(j->params);
	free(j->deps);
	free(j);
}

int64_t quire_run__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The provider answers in memory and is given no file (QUIRE_PROVIDER_IN_MEMORY). */
static int in_memory(const struct job *j)
{
	/* A module built for ABI 2 knows nothing of the flag (its bit meant nothing then). */
	return j->bi->vt->abi >= 3 && (j->bi->vt->flags & QUIRE_PROVIDER_IN_MEMORY) != 0;
}

/* Checks and seals a provider's output: json parses and matches its schema; the file is hashed.
 * Runs on the worker. Not fsynced here: a revision's blobs are made durable together, by one
 * file-system sync before its manifest is written, and a recovered run re-hashes its outputs. */
static int seal_output(struct job *j)
{
	int err = 0;
	if (j->rs.output) {
		quire_hash_bytes(j->rs.output, j->rs.output_len, &j->digest);
		j->size = j->rs.output_len;
	} else if (in_memory(j)) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "provider gave no output");
		return -1;
	} else {
		/* Hashed first: that also tells a missing output from a malformed one. */
		err = quire_hash_file(j->tmp, &j->digest, &j->size);
	}
	if (err) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "%s",
			 err == QUIRE_ENOTFOUND ? "provider wrote no output file"
						: quire_error_last());
		return -1;
	}
	if (!strcmp(j->rq.output_type, "json")) {
		json_error_t je;
		json_t *doc = j->rs.output ? json_loadb(j->rs.output, j->rs.output_len,
							JSON_DECODE_ANY, &je)
					   : json_load_file(j->tmp, JSON_DECODE_ANY, &je);
		if (!doc) {
			snprintf(j->rs.diag, sizeof(j->rs.diag),
				 "output is not valid JSON: %d:%d: %s", je.line, je.column,
				 je.text);
			return -1;
		}
		err = j->schema_j ? quire_schema_validate(j->schema_j, doc) : 0;
		json_decref(doc);
		if (err) {
			snprintf(j->rs.diag, sizeof(j->rs.diag),
				 "output does not match its schema: %s", quire_error_last());
			return -1;
		}
	}
	return 0;
}

/* Moves the job's output into the blob store: the provider's file, or its bytes. */
static int adopt(struct runner *r, struct job *j)
{
	if (!j->rs.output)
		return quire_blob_adopt(r->p->qdir, j->tmp, j->digest.s);
	/* Hashed to j->digest when sealed, and in the job's own memory since. */
	return quire_blob_adopt_bytes(r->p->qdir, j->rs.output, j->rs.output_len, j->digest.s);
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
		j->spent_micro += rs->cost_micro < 0		    ? 0
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
	unsigned seed = (unsigned)(quire_run__mono_ns() ^ (int64_t)j->node);
	for (j->attempts = 1;; j->attempts++) {
		free(j->rs.output);
		memset(&j->rs, 0, sizeof(j->rs));
		if (j->attempts > 1 && j->tmp) {
			unlink(j->tmp); /* a new file per job: only a retry can find one */
			/* Nor may a retry's record show the answer of the try before it. */
			char *rp =
				quire__xasprintf("%s/%s", j->rq.scratch_dir, QUIRE_RESPONSE_FILE);
			unlink(rp);
			free(rp);
		}
		j->rq.attempt = j->attempts;
		j->rc = j->bi->vt->produce(j->bi->ctx, &j->rq, &j->rs);
		if (j->rs.output) {
			/* Ended by a NUL, as a file read is: answer() scans it as a string. */
			char *o = quire__xrealloc(j->rs.output, j->rs.output_len + 1);
			o[j->rs.output_len] = '\0';
			j->rs.output = o;
		}
		account(j);
		if (j->rc == 0 && quire_run__answer(j))
			j->rc = -1;
		else if (j->rc == 0 && seal_output(j)) {
			j->rc = -1;
			j->rs.transient =
				1; /* a malformed or schema-violating output may come out right */
		}
		if (j->rc && !j->rs.diag[0])
			snprintf(j->rs.diag, sizeof(j->rs.diag),
				 "provider '%s' failed without a message", j->bi->vt->name);
		if (j->rc == 0 || !j->rs.transient || r->cancelled ||
		    j->attempts > (unsigned)b->retries)
			break;
		long delay = (long)b->retry_base_ms
			     << (j->attempts - 1 < 16 ? j->attempts - 1 : 16);
		delay += delay ? (long)(rand_r(&seed) % (unsigned)(delay / 2 + 1)) : 0;
		if (j->rs.retry_after_ms > delay)
			delay = j->rs.retry_after_ms;
		nap(r, delay);
	}
	/* A cut-off answer was paid for: it is stored, and the failure names it. */
	if (j->truncated && j->rs.output) {
		quire_hash_bytes(j->rs.output, j->rs.output_len, &j->digest);
		j->size = j->rs.output_len;
		j->partial = 1;
	} else if (j->truncated && !in_memory(j) &&
		   quire_hash_file(j->tmp, &j->digest, &j->size) == 0) {
		j->partial = 1;
	}
	quire_error_clear();
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
void quire_run__slot_reset(struct wslot *w)
{
	if (w->dir)
		quire_run__rm_tree(w->dir);
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
	if (in_memory(j)) {
		/* Given no file at all (see QUIRE_PROVIDER_IN_MEMORY). */
		j->rq.prompt_path = j->rq.scratch_dir = j->rq.output_path = NULL;
		return 0;
	}
	/* A provider given only the prompt never reads the prompt's file. */
	int prompt_file = !quire_provider_prompt_only(j->bi->b->provider);
	int err = 0;
	for (int tries = 0; tries < 2; tries++) {
		if (tries)
			quire_run__slot_reset(w);
		if (!w->dir) {
			w->dir = quire__xasprintf("%s/tmp/w-%ld-%d-%u", w->r->p->qdir,
						  (long)getpid(), (int)(w - w->r->slots), w->gen);
			w->prompt = quire__xasprintf("%s/prompt", w->dir);
			w->scratch = quire__xasprintf("%s/scratch", w->dir);
			err = quire_fs_mkdirs(w->scratch, 0700);
		}
		if (!err && prompt_file)
			err = quire_fs_write_file(w->prompt, j->prompt, j->prompt_len, 0600);
		if (!err)
			break;
	}
	if (err) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "%s", quire_error_last());
		j->rc = -1;
		return -1;
	}
	j->rq.prompt_path = prompt_file ? w->prompt : NULL;
	j->rq.scratch_dir = w->scratch;
	/* In the worker's own directory, not one shared with the other workers: creating a file
	 * locks its directory, and the main thread's renames out of a shared one queued behind
	 * every worker's creations. */
	free(j->tmp);
	j->tmp = quire__xasprintf("%s/out-%zu.%s", w->dir, j->node, j->ext);
	j->rq.output_path = j->tmp;
	return 0;
}

/* Gives the provider a file for each input (a packed blob is copied into the slot's
 * directory, verified as it is read) and hashes the input files this run has not verified
 * yet: a damaged upstream must never reach a provider (and be paid for). Runs on the worker,
 * after slot_prepare. */
static int prepare_inputs(struct wslot *w, struct job *j)
{
	/* A provider given only the prompt reads no file: what reached its prompt was verified
	 * as it was read (quire_run__load_value). */
	if (in_memory(j) || quire_provider_prompt_only(j->bi->b->provider))
		return 0;
	for (size_t k = 0; k < j->rq.ninputs; k++) {
		int err = 0;
		if (access(j->in_paths[k], F_OK) != 0) {
			/* Named per job, and left for the slot's removal at the end of the run
			 * (see quire_blob_adopt). */
			char name[64], *copy = NULL;
			snprintf(name, sizeof(name), "in-%zu-%zu", j->node, k);
			err = quire_blob_file(w->r->p->qdir, j->in_digest[k], w->dir, name, &copy);
			if (!err) {
				free(j->in_paths[k]);
				j->in_paths[k] = copy;
				continue;
			}
		} else if (j->in_check && j->in_check[k]) {
			struct quire_digest got;
			err = quire_hash_file(j->in_paths[k], &got, NULL);
			if (!err && strcmp(got.s, j->in_check[k]))
				err = QUIRE_ECORRUPT;
			if (err == QUIRE_ECORRUPT)
				quire_error_set(err, "its content does not match its digest");
		}
		if (!err)
			continue;
		snprintf(j->rs.diag, sizeof(j->rs.diag),
			 "the stored output of '%s' is damaged (%s): 'quire fsck --repair' removes "
			 "it, "
			 "and the next run makes it again",
			 j->in_ids[k], quire_error_last());
		quire_error_clear();
		j->rc = -1;
		j->corrupt = 1;
		return -1;
	}
	return 0;
}

/* Whether a worker may take the queue's first job (under r->mu). One queued ahead, not yet
 * told started, waits while a failure is not taken in by the main thread (it may stop the
 * run: --fail-fast, a full disk) and is never taken once the run ends (an error): what would
 * not have started without the queue does not start with it. (Ctrl-C: the main thread takes
 * the queued ones back when it wakes, at the next job's end at the latest.) */
static int may_take(const struct runner *r)
{
	const struct job *j = r->work_head;
	return j && (j->told || (!r->failing && !r->stop));
}

void *quire_run__worker(void *arg)
{
	struct wslot *w = arg;
	struct runner *r = w->r;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (!may_take(r) && !r->stop)
			pthread_cond_wait(&r->work_cv, &r->mu);
		if (!may_take(r)) {
			pthread_mutex_unlock(&r->mu);
			return NULL;
		}
		struct job *j = r->work_head;
		r->work_head = j->next;
		if (!r->work_head)
			r->work_tail = NULL;
		atomic_store(&j->taken, 1);
		pthread_mutex_unlock(&r->mu);

		int64_t t0 = quire_run__mono_ns();
		if (slot_prepare(w, j) == 0 && prepare_inputs(w, j) == 0) {
			attempt(r, j);
			/* Stored here, on the worker, before its slot can be reset. */
			quire_run__record_call(r, j, j->rq.scratch_dir);
			if (j->rc == 0 || j->partial) {
				if ((j->adopt_err = adopt(r, j)) == 0)
					j->adopted = 1;
				else
					j->adopt_msg = quire__xstrdup(quire_error_last());
			}
			free(j->rs.output); /* stored: the job no longer needs it */
			j->rs.output = NULL;
			if (j->rq.scratch_dir && clear_dir(w->scratch))
				quire_run__slot_reset(
					w); /* the next job must find its scratch empty */
		}
		j->dur_ns = quire_run__mono_ns() - t0;

		pthread_mutex_lock(&r->mu);
		if (j->rc || !j->adopted)
			r->failing++;
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

/* Provider progress callback: runs on the worker; the main thread reports it. */
static void on_progress(void *ud, long long units, const char *unit)
{
	struct job *j = ud;
	if (unit && strncmp(j->unit, unit, sizeof(j->unit) - 1))
		snprintf(j->unit, sizeof(j->unit), "%s", unit);
	atomic_store(&j->units, units);
}

/* Whether node i's output can be placed in a prompt; -1 with the error set when not. */
static int placeable(struct runner *r, size_t i)
{
	const struct quire_node *n = &r->plan->nodes[i];
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	if (pr->output.type != QUIRE_OUT_TEXT && pr->output.type != QUIRE_OUT_JSON &&
	    pr->output.type != QUIRE_OUT_FILE)
		return quire_error_set(QUIRE_EINVALID,
				       "'%s' is a %s artefact and cannot be placed in a prompt",
				       n->id, quire_output_type_name(pr->output.type));
	return 0;
}

/* The value node i's verified output b has in a prompt (a string, or parsed JSON); NULL with
 * the error set. */
static json_t *value_of(struct runner *r, size_t i, const struct quire_buf *b)
{
	const struct quire_node *n = &r->plan->nodes[i];
	r->verified[i] = 1; /* each thread marks only the nodes it reads */
	if (r->p->bp->producers[n->producer].output.type != QUIRE_OUT_JSON)
		return json_stringn_nocheck(b->ptr ? b->ptr : "", b->len);
	json_error_t je;
	json_t *v = json_loadb(b->ptr ? b->ptr : "", b->len, JSON_DECODE_ANY, &je);
	if (!v)
		quire_error_set(QUIRE_ECORRUPT, "'%s' is not valid JSON: %s", n->id, je.text);
	return v;
}

/* The value node i's output has in a prompt, read from the store; NULL with the error set.
 * Safe on several threads (for different nodes). */
json_t *quire_run__load_value(struct runner *r, size_t i)
{
	const struct quire_node *n = &r->plan->nodes[i];
	if (placeable(r, i))
		return NULL;
	struct quire_buf b = QUIRE_BUF_INIT;
	/* Verified: a damaged upstream must never be fed into a prompt (and paid for). */
	int err = r->blobfd >= 0 ? quire_blob_read_at(r->p->qdir, r->blobfd, n->digest, n->size, &b,
						      RENDER_CAP)
				 : quire_blob_read(r->p->qdir, n->digest, &b, RENDER_CAP, 1);
	if (err == QUIRE_ECORRUPT || err == QUIRE_ENOTFOUND)
		quire_blob_damaged(n->id);
	json_t *v = err ? NULL : value_of(r, i, &b);
	quire_buf_release(&b);
	return v;
}

/* Reads the outputs a collector renders on two threads before it renders them (one at a time,
 * 10,000 of them were most of a one-scene change's run), 64 at a time (one lock and one read
 * transaction of the pack for the packed ones). What fails to load is left for the render,
 * which reads it again and says why. */
struct prefetch {
	struct runner *r;
	const size_t *nodes;
	size_t n;
	json_t **got; /* per node */
	_Atomic size_t next;
};

#define PREFETCH_CHUNK 64

static void *prefetch_main(void *arg)
{
	struct prefetch *f = arg;
	struct runner *r = f->r;
	const char *digests[PREFETCH_CHUNK];
	long long sizes[PREFETCH_CHUNK];
	size_t at[PREFETCH_CHUNK];
	struct quire_buf bufs[PREFETCH_CHUNK];
	int errs[PREFETCH_CHUNK];
	for (size_t k; (k = atomic_fetch_add(&f->next, PREFETCH_CHUNK)) < f->n;) {
		size_t m = 0;
		for (size_t e = k + PREFETCH_CHUNK < f->n ? k + PREFETCH_CHUNK : f->n; k < e; k++) {
			size_t i = f->nodes[k];
			const struct quire_node *up = &r->plan->nodes[i];
			if (placeable(r, i) || !up->digest[0])
				continue; /* the render says why */
			at[m] = k;
			digests[m] = up->digest;
			sizes[m] = up->size;
			bufs[m] = (struct quire_buf)QUIRE_BUF_INIT;
			m++;
		}
		quire_blob_read_many(r->p->qdir, r->blobfd, digests, sizes, m, bufs, RENDER_CAP,
				     errs);
		for (size_t x = 0; x < m; x++) {
			if (!errs[x])
				f->got[at[x]] = value_of(r, f->nodes[at[x]], &bufs[x]);
			quire_buf_release(&bufs[x]);
		}
		quire_error_clear();
	}
	return NULL;
}

void quire_run__prefetch_nodes(struct runner *r, const size_t *nodes, size_t n, json_t **got)
{
	struct prefetch f = { r, nodes, n, got, 0 };
	quire__run_parallel(prefetch_main, &f, n >= 256 ? 2 : 1);
}

void quire_run__prefetch(struct runner *r, const struct quire_node *n,
			 const struct quire_template *t)
{
	if (n->ndeps < SPLICE_MIN_DEPS)
		return;
	/* Only what the template names whole: a collector whose provider reads its inputs
	 * itself (exec's {inputs}) renders none of them. */
	size_t *nodes = quire__xcalloc(n->ndeps, sizeof(size_t)), nn = 0;
	int last = -1, reads = 0;
	for (size_t k = 0; k < n->ndeps; k++) {
		int up = r->plan->nodes[n->deps[k]].producer;
		if (up != last)
			reads = quire_template_reads_all(t, r->p->bp->producers[up].name);
		last = up;
		if (reads && !r->values[n->deps[k]])
			nodes[nn++] = n->deps[k];
	}
	if (nn >= 256) {
		json_t **got = quire__xcalloc(nn, sizeof(json_t *));
		quire_run__prefetch_nodes(r, nodes, nn, got);
		for (size_t k = 0; k < nn; k++) {
			json_t **slot = &r->values[nodes[k]];
			if (!*slot)
				*slot = got[k];
			else
				json_decref(
					got[k]); /* a node named twice is read twice, kept once */
		}
		free(got);
	}
	free(nodes);
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
		r->values[i] = quire_run__load_value(r, (size_t)i);
	return r->values[i];
}

/* The draft a feedback round revises, as text for {{draft}} (verified like any blob; a draft
 * that is not text, an image's, renders as nothing). */
static int read_draft(struct runner *r, const struct quire_node *n, struct quire_buf *b, int *has)
{
	const struct quire_producer *pr = &r->p->bp->producers[n->producer];
	*has = 0;
	if (pr->output.type != QUIRE_OUT_TEXT && pr->output.type != QUIRE_OUT_JSON &&
	    pr->output.type != QUIRE_OUT_FILE)
		return 0;
	int err = quire_blob_read(r->p->qdir, n->draft, b, RENDER_CAP, 1);
	if (err)
		return quire_error_prefix(err, "the draft of %s, which its feedback revises",
					  n->id);
	if (quire_fs_check_utf8(n->id, b->ptr, b->len)) {
		quire_error_clear();
		return 0;
	}
	quire_buf_putc(b, '\0');
	b->len--;
	*has = 1;
	return 0;
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
		r->gen++;
		for (size_t k = 0; k < n->ndeps; k++)
			r->mark[n->deps[k]] = r->gen;
		struct quire_buf fb = QUIRE_BUF_INIT, draft = QUIRE_BUF_INIT;
		size_t k;
		json_t *f;
		json_array_foreach(n->feedback, k, f)
			quire_buf_printf(&fb, "%s%s", k ? "\n" : "", json_string_value(f));
		int has_draft = 0;
		if (n->draft && json_array_size(n->feedback) && quire_template_reads(t, "draft"))
			err = read_draft(r, n, &draft, &has_draft);
		struct quire_render_ctx c = {
			.bp = r->p->bp,
			.p = pr,
			.idx = n->idx,
			.inputs = quire_project_render_inputs(r->p),
			.feedback = fb.ptr,
			.draft = has_draft ? draft.ptr : NULL,
			.artefact = artefact_value,
			.ud = r,
		};
		if (!err && quire_run__render_spliced(r, i, rel, t, &c, out)) {
			quire_run__prefetch(r, n, t);
			err = quire_template_render(t, &c, out);
		}
		quire_buf_release(&fb);
		quire_buf_release(&draft);
	}
	if (!cache || *cache != t)
		quire_template_free(t);
	quire_buf_release(&src);
	return err;
}

struct binst *quire_run__binst_for(struct runner *r, const char *role)
{
	for (size_t k = 0; k < r->nbinsts; k++)
		if (!strcmp(r->binsts[k].b->role, role))
			return &r->binsts[k];
	return NULL;
}

/* A prompt larger than the role's context_tokens is refused before it is sent (a server
 * would refuse it, or quietly cut it, after the call was billed). Tokens are estimated at 4
 * bytes each, plus the answer's max_tokens when the params set one. */
static int check_context(const struct job *j, const char *id)
{
	const struct quire_binding *b = j->bi->b;
	if (!b->context_tokens)
		return 0;
	size_t bytes = j->prompt_len + (j->schema ? strlen(j->schema) : 0);
	long long tokens = (long long)((bytes + 3) / 4), answer = 0;
	static const char *const keys[] = { "max_tokens", "max_completion_tokens" };
	for (size_t k = 0; k < 2 && !answer; k++)
		answer = json_integer_value(json_object_get(b->params, keys[k]));
	if (answer < 0)
		answer = 0;
	if (tokens + answer <= b->context_tokens)
		return 0;
	char plus[96] = "";
	if (answer)
		snprintf(plus, sizeof(plus), " and an answer of up to %lld (max_tokens)", answer);
	return quire_error_set(
		QUIRE_EINVALID,
		"%s: its prompt is about %lld tokens (%zu bytes, counted at 4 bytes a "
		"token)%s, more than role '%s' has room for (context_tokens: %lld); "
		"nothing was sent: shorten what it reads (a rolling summary rather "
		"than every earlier chapter) or bind a model with a larger context",
		id, tokens, bytes, plus, b->role, b->context_tokens);
}

/* Builds the job for node i: prompt, schema, input files, output path. */
int quire_run__make_job(struct runner *r, size_t i, struct job *j)
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
				err = quire_error_set(
					QUIRE_EINVALID, "%s:%d:%d: schema is not valid JSON: %s",
					pr->output.schema, je.line, je.column, je.text);
			j->schema = quire_buf_detach(&sb, NULL);
		}
		quire_buf_release(&sb);
		if (err)
			goto out;
	}
	j->bi = quire_run__binst_for(r, pr->role);
	if ((err = check_context(j, n->id)))
		goto out;
	j->rq.ninputs = n->ndeps;
	j->in_ids = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	j->in_paths = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	j->in_digest = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &r->plan->nodes[n->deps[k]];
		j->in_ids[k] = quire__xstrdup(u->id);
		j->in_paths[k] = quire_blob_path(r->p->qdir, u->digest);
		j->in_digest[k] = quire__xstrdup(u->digest);
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
