/* The runner's scheduling: the ready queue on critical-path priority, starting nodes
 * (early cutoff, the action cache, or a job), taking in finished jobs, the main loop. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"
#include "quire/secret.h"
#include "quire/store.h"
#include "template.h"
#include "jobserver.h"
#include "remote.h"
#include "blob_pack.h"
#include "run_internal.h"
#include "util.h"
#include "event.h"

/* A job shorter than this (its worker's time) lets the next ones be queued ahead. */
#define AHEAD_JOB_NS 2000000

/* Whether another job may start now: under -j, or with a jobserver token for every job but the
 * first (the token every make child holds implicitly). */
static int have_slot(struct runner *r)
{
	if (r->running >= (size_t)r->nthreads + r->ahead)
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
		struct binst *bi = quire_run__binst_for(r, role);
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

static void push_ready(struct runner *r, size_t i)
{
	r->state[i] = N_QUEUED;
	heap_push(r, i);
}

/* Marks node i finished and releases its dependants. */
void quire_run__finish(struct runner *r, size_t i, enum nstate st)
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

/* An entry's event data, but for its "deps" (which quire_run__record() adds as text). */
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
			      b->model ? json_string(b->model) : json_null(), "params", b->params,
			      "index", index, "type", quire_output_type_name(pr->output.type),
			      "ext", pr->output.ext, "fingerprint", fp->s);
	json_object_set_new(d, "take", json_integer(n->take));
	json_object_set_new(d, "feedback",
			    n->feedback ? json_deep_copy(n->feedback) : json_array());
	if (n->draft && json_array_size(n->feedback))
		json_object_set_new(d, "draft", json_string(n->draft));
	if (pr->review)
		json_object_set_new(d, "review_required", json_true());
	return d;
}

static int start_node(struct runner *r, size_t i);

static void tell_start(struct runner *r, struct job *j)
{
	j->told = 1;
	r->told++;
	quire_run__report(r, "start", j->node, NULL);
}

/* Reports the start of the jobs queued ahead that a worker has taken since: before anything
 * else is reported of them. */
static void tell_taken(struct runner *r)
{
	for (size_t k = 0; k < r->nflying; k++)
		if (!r->flying[k]->told && atomic_load(&r->flying[k]->taken))
			tell_start(r, r->flying[k]);
}

static void unfly(struct runner *r, struct job *j)
{
	r->running--;
	j->bi->running--;
	if (j->told)
		r->told--;
	for (size_t k = 0; k < r->nflying; k++)
		if (r->flying[k] == j) {
			r->flying[k] = r->flying[--r->nflying];
			break;
		}
}

void quire_run__stop_starting(struct runner *r)
{
	r->stopping = 1;
	/* The queue's jobs not told started: taken back before a worker can take them. */
	struct job *back = NULL;
	pthread_mutex_lock(&r->mu);
	struct job **link = &r->work_head;
	r->work_tail = NULL;
	while (*link) {
		struct job *j = *link;
		if (j->told) {
			r->work_tail = j;
			link = &j->next;
			continue;
		}
		*link = j->next;
		j->next = back;
		back = j;
	}
	/* A worker waiting behind them takes what is left. */
	pthread_cond_broadcast(&r->work_cv);
	pthread_mutex_unlock(&r->mu);
	while (back) {
		struct job *next = back->next;
		unfly(r, back);
		r->state[back->node] = N_QUEUED; /* not started: it runs next time */
		quire_run__job_free(back);
		back = next;
	}
}

int quire_run__take_cached(struct runner *r, size_t i, struct job *j, json_t *ac, int remote)
{
	struct quire_node *n = &r->plan->nodes[i];
	const char *acd = json_string_value(json_object_get(ac, "digest"));
	json_t *d = entry_data(r, i, &j->fp);
	json_object_update_missing(d, ac);
	json_object_set_new(d, "cached", json_true());
	if (remote)
		json_object_set_new(d, "cached_from", json_string("remote"));
	int err = quire_run__record_entry(r, quire_ev_name(QUIRE_EV_CACHED), i, d, j->deps, NULL,
					  NULL);
	json_decref(d);
	memcpy(n->digest, acd, QUIRE_DIGEST_STRLEN);
	n->size = json_is_integer(json_object_get(ac, "size"))
			  ? (long long)json_integer_value(json_object_get(ac, "size"))
			  : -1;
	json_decref(ac);
	if (!remote)
		quire_run__shard_share(r, i, j->fp.s);
	quire_run__job_free(j);
	if (err)
		return err;
	r->res->cached++;
	quire_run__finish(r, i, after_output(r, i));
	quire_run__report(r, "cached", i, NULL);
	return 0;
}

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

/* Whether output d (in the store) is what node i's output type allows: JSON for a json
 * producer (the schema was checked where it was made; a cache's copy is at least JSON). */
static int fits_type(struct runner *r, size_t i, const char *d)
{
	const struct quire_producer *pr = &r->p->bp->producers[r->plan->nodes[i].producer];
	if (pr->output.type != QUIRE_OUT_JSON)
		return 1;
	struct quire_buf b = QUIRE_BUF_INIT;
	json_t *v = NULL;
	if (!quire_blob_read(r->p->qdir, d, &b, RENDER_CAP, 0))
		v = json_loadb(b.ptr ? b.ptr : "", b.len, JSON_DECODE_ANY, NULL);
	quire_error_clear();
	quire_buf_release(&b);
	json_decref(v);
	return v != NULL;
}

/* Asks the shared cache for fingerprint fp: 1 with *ac set when it has the result and its
 * output (brought into the store, verified). Only the output is taken from its entry (and
 * its size, as stored): what it cost, its usage, review or acceptance are not another
 * store's to say. The call's record comes along when the cache has it, with what it names. */
int quire_run__from_remote(struct runner *r, size_t i, const char *fp, json_t **ac)
{
	json_t *got = NULL, *take = NULL;
	if (!quire_remote_get_ac(r->remote, fp, &got)) {
		const char *d = json_string_value(json_object_get(got, "digest"));
		const json_t *sz = json_object_get(got, "size");
		long long size = json_is_integer(sz) ? (long long)json_integer_value(sz) : -1;
		if (!quire_remote_get_blob(r->remote, r->p->qdir, d, size) && fits_type(r, i, d)) {
			take = json_pack("{s:s,s:I}", "digest", d, "size",
					 (json_int_t)quire_blob_size(r->p->qdir, d));
			const char *cd = json_string_value(json_object_get(got, "call"));
			json_t *c = NULL;
			if (cd && quire_digest_valid(cd) &&
			    !quire_remote_get_blob(r->remote, r->p->qdir, cd, -1) &&
			    (c = quire_call_load(r->p->qdir, cd))) {
				json_object_set_new(take, "call", json_string(cd));
				const char *named[3];
				quire_call_named(c, named);
				for (int k = 0; k < 3; k++)
					if (named[k] && quire_digest_valid(named[k]))
						quire_remote_get_blob(r->remote, r->p->qdir,
								      named[k], -1);
			}
			json_decref(c);
		}
	}
	json_decref(got);
	quire_error_clear();
	const char *w = quire_remote_take_warning(r->remote);
	if (w)
		quire_run__report(r, "warning", i, w);
	if (!take)
		return 0;
	*ac = take;
	return 1;
}

/* The local action cache's result for fp, when its output is in the store: one whose blob
 * was lost (removed as damaged, by hand) is no answer, so the shared cache is asked next, as
 * the plan says it would be. */
static json_t *local_result(struct runner *r, const char *fp)
{
	json_t *ac = NULL;
	quire_store_ac_get(r->store, fp, &ac);
	const char *d = json_string_value(json_object_get(ac, "digest"));
	if (ac && (!d || !quire_blob_exists(r->p->qdir, d))) {
		json_decref(ac);
		ac = NULL;
	}
	return ac;
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
			quire_run__finish(r, i, N_AWAITING);
			quire_run__report(r, "waiting", i, r->plan->nodes[n->deps[k]].id);
			return 0;
		}
	}
	for (size_t k = 0; k < n->ndeps; k++) {
		unsigned char st = r->state[n->deps[k]];
		if (st == N_FAILED || st == N_BLOCKED) {
			char msg[512];
			snprintf(msg, sizeof(msg), "blocked by %s, which %s",
				 r->plan->nodes[n->deps[k]].id,
				 st == N_FAILED ? "failed" : "was blocked");
			return quire_run__fail_node(r, i, msg, N_BLOCKED);
		}
	}
	struct job *j = quire__xcalloc(1, sizeof(*j));
	j->node = i;
	const struct quire_mrow *e = n->entry;
	int same;
	int err = quire_plan_match(r->plan, r->p, i, e, 0, &j->fp, &j->deps, &same);
	if (err) {
		quire_run__job_free(j);
		if (err != QUIRE_ECORRUPT)
			return err;
		/* An upstream read for its fields is damaged: as when rendering reads it. */
		char msg[2048];
		snprintf(msg, sizeof(msg), "%s", quire_error_last());
		quire_run__halt(r, QUIRE_ECORRUPT, "%s", msg);
		return quire_run__fail_node(r, i, msg, N_FAILED);
	}
	const char *old = e ? e->digest : NULL;
	if (same && quire_mrow_current(e, e->fingerprint) && quire_blob_exists(r->p->qdir, old)) {
		/* Early cutoff: the upstream re-ran but produced the same bytes. */
		memcpy(n->digest, old, QUIRE_DIGEST_STRLEN);
		n->size = e->size;
		r->res->unchanged++;
		quire_run__finish(r, i, after_output(r, i));
		quire_run__report(r, "unchanged", i, NULL);
		quire_run__shard_share(r, i, j->fp.s);
		quire_run__job_free(j);
		return 0;
	}
	/* Another shard's: its copy in the shared cache is the one every shard reads (a local
	 * output made for the same fingerprint may differ), so the local cache is not asked. */
	int others = r->o->shard_n && !quire_run__shard_mine(r, i);
	json_t *ac = others ? NULL : local_result(r, j->fp.s);
	struct quire_digest v1;
	/* Made before field-level records: cached under the record that named the upstream
	 * whole (the same upstream output, so the same fields). */
	if (!ac && !others && !quire_plan_fingerprint_v1(r->plan, r->p, i, &v1) &&
	    strcmp(v1.s, j->fp.s))
		ac = local_result(r, v1.s);
	int remote = !ac && r->remote && quire_run__from_remote(r, i, j->fp.s, &ac);
	const char *acd = ac ? json_string_value(json_object_get(ac, "digest")) : NULL;
	if (acd && quire_blob_exists(r->p->qdir, acd))
		return quire_run__take_cached(r, i, j, ac, remote);
	json_decref(ac);
	/* Another shard's to make: waited for in the shared cache, never generated here. */
	if (r->o->shard_n && !quire_run__shard_mine(r, i))
		return quire_run__shard_wait(r, i, j);
	/* A shard whose cache failed would pay for work no other shard can have. */
	if (r->o->shard_n && quire_remote_gave_up(r->remote)) {
		quire_run__shard_stop(r);
		quire_run__job_free(j);
		return 0;
	}
	if (r->o->touch) {
		/* run --touch never generates: checked before the run (check_touch), but a blob
		 * can go between the check and now. */
		if (!old || !quire_blob_exists(r->p->qdir, old)) {
			quire_run__job_free(j);
			return quire_run__fail_node(r, i,
						    "run --touch: no output to accept (its blob is "
						    "gone); run it without --touch",
						    N_FAILED);
		}
		/* run --touch: the output it has is recorded for its new fingerprint, as if it
		 * had been made for it, and marked so; nothing is generated, nothing is billed,
		 * and nothing goes into the action cache (a fingerprint there promises an output
		 * made for it). */
		json_t *d = entry_data(r, i, &j->fp);
		/* Who made it stays as recorded: the binding may have changed since. */
		json_t *was = NULL;
		if (!quire_manifest_peek(r->plan->manifest, r->plan->base, n->id, &was) && was) {
			static const char *const keep[] = { "provider", "model", "params",
							    "type",	"ext",	 "role" };
			for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
				if (json_object_get(was, keep[k]))
					json_object_set(d, keep[k], json_object_get(was, keep[k]));
		}
		json_decref(was);
		quire_error_clear();
		json_object_set_new(d, "digest", json_string(old));
		if (e->size >= 0)
			json_object_set_new(d, "size", json_integer(e->size));
		json_object_set_new(d, "take", json_integer(e->take));
		json_object_set_new(d, "accepted", json_true());
		err = quire_run__record_entry(r, quire_ev_name(QUIRE_EV_CACHED), i, d, j->deps,
					      NULL, NULL);
		json_decref(d);
		memcpy(n->digest, old, QUIRE_DIGEST_STRLEN);
		n->size = e->size;
		quire_run__job_free(j);
		if (err)
			return err;
		r->res->accepted++;
		quire_run__finish(r, i, after_output(r, i));
		quire_run__report(r, "accepted", i, NULL);
		return 0;
	}
	if ((err = quire_run__make_job(r, i, j))) {
		char msg[2048];
		snprintf(msg, sizeof(msg), "%s", quire_error_last());
		quire_run__job_free(j);
		/* A damaged store is quire's failure, not the instance's: the run stops (exit 5).
		 */
		if (err == QUIRE_ECORRUPT)
			quire_run__halt(r, QUIRE_ECORRUPT, "%s", msg);
		return quire_run__fail_node(r, i, msg, N_FAILED);
	}
	r->state[i] = N_RUNNING;
	r->running++;
	j->bi->running++;
	r->flying[r->nflying++] = j;
	/* With a worker free it starts now; queued ahead of busy workers, it is told started
	 * when one takes it (tell_taken). */
	if (r->running <= (size_t)r->nthreads)
		tell_start(r, j);
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

/* Takes in a finished job: blob first, then the event (with the action cache entry). */
static int complete(struct runner *r, struct job *j)
{
	size_t i = j->node;
	struct quire_node *n = &r->plan->nodes[i];
	unfly(r, j);
	/* Jobs queued ahead of the workers pay when jobs are as short as this thread's turn
	 * between two of them; for longer ones they would only take a worker before a node on a
	 * longer path made ready meanwhile. Under make's jobserver, tokens count started jobs. */
	r->ahead = !r->js && j->dur_ns < AHEAD_JOB_NS ? (size_t)r->nthreads : 0;
	if (j->rc && r->cancelled) {
		/* Cancelled by an interrupt: not a failure; it simply did not finish this time. */
		r->state[i] = N_SKIPPED;
		quire_run__job_free(j);
		return 0;
	}
	if (!j->rc && !j->adopted) {
		/* Paid for but not stored (the disk filled, or the store's directory is not
		 * writable): a failure of this instance, billed, while the jobs that did finish are
		 * still taken in. check_disk stops the run when the disk is the cause. */
		j->rc = 1;
		snprintf(j->rs.diag, sizeof(j->rs.diag), "its output could not be stored: %s",
			 j->adopt_msg ? j->adopt_msg : "unknown error");
	}
	if (j->rc) {
		if (j->corrupt)
			quire_run__halt(r, QUIRE_ECORRUPT, "%s", j->rs.diag);
		/* What the failure cost, and who failed: the revision says it. */
		json_t *extra =
			json_pack("{s:s,s:o,s:I}", "provider", j->bi->b->provider, "model",
				  j->bi->b->model ? json_string(j->bi->b->model) : json_null(),
				  "attempts", (json_int_t)j->attempts);
		if (j->spent_micro || j->cost_estimated) {
			json_object_set_new(extra, "cost_micro", json_integer(j->spent_micro));
			json_object_set_new(extra, "usage", quire_run__job_usage(j));
			if (j->cost_estimated)
				json_object_set_new(extra, "cost_estimated", json_true());
		}
		if (j->truncated)
			json_object_set_new(extra, "truncated", json_true());
		if (j->partial && j->adopted)
			json_object_set_new(extra, "partial", json_string(j->digest.s));
		if (j->has_call)
			json_object_set_new(extra, "call", json_string(j->call.s));
		r->res->cost_micro += j->spent_micro;
		quire_run__shard_failed(r, i, j->fp.s, j->rs.diag);
		int err = quire_run__fail_node_with(r, i, j->rs.diag, N_FAILED, extra);
		json_decref(extra);
		if (!err && j->adopt_err)
			quire_run__halt_store(r, j->adopt_err, j->adopt_msg);
		else if (!err)
			quire_run__check_disk(r);
		quire_run__job_free(j);
		return err;
	}
	for (size_t k = 0; k < n->ndeps; k++)
		r->verified[n->deps[k]] = 1;
	r->verified[i] = 1; /* hashed as it was sealed */
	int err;
	json_t *ac =
		json_pack("{s:s,s:I,s:I,s:I,s:o}", "digest", j->digest.s, "size",
			  (json_int_t)j->size, "duration_ms", (json_int_t)(j->dur_ns / 1000000),
			  "attempts", (json_int_t)j->attempts, "usage", quire_run__job_usage(j));
	if (j->rs.meta[0]) {
		json_t *meta = json_loads(j->rs.meta, 0, NULL);
		if (json_is_object(meta))
			json_object_set_new(ac, "meta", meta);
		else
			json_decref(meta);
	}
	if (j->has_call)
		json_object_set_new(ac, "call", json_string(j->call.s));
	long long cost = j->spent_micro;
	if (j->bi->b->priced || cost)
		json_object_set_new(ac, "cost_micro", json_integer(cost));
	if (j->cost_estimated)
		json_object_set_new(ac, "cost_estimated", json_true());
	r->res->cost_micro += cost;
	json_t *d = entry_data(r, i, &j->fp);
	json_object_update(d, ac);
	err = quire_run__record_entry(r, quire_ev_name(QUIRE_EV_PRODUCED), i, d, j->deps, j->fp.s,
				      ac);
	json_decref(d);
	json_decref(ac);
	memcpy(n->digest, j->digest.s, QUIRE_DIGEST_STRLEN);
	n->size = (long long)j->size;
	quire_run__job_free(j);
	if (err)
		return err;
	r->res->produced++;
	quire_run__finish(r, i, after_output(r, i));
	quire_run__report(r, "produced", i, NULL);
	return 0;
}

int quire_run__init_bindings(struct runner *r)
{
	/* Only roles that have work in this plan need their provider started. */
	r->binsts = quire__xcalloc(r->p->nbindings + 1, sizeof(*r->binsts));
	for (size_t i = 0; i < r->plan->n; i++) {
		const struct quire_node *n = &r->plan->nodes[i];
		if (!n->selected || !n->dirty || n->cached == 3)
			continue;
		const char *role = r->p->bp->producers[n->producer].role;
		if (quire_run__binst_for(r, role))
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

void quire_run__fini_bindings(struct runner *r)
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

/* The scheduler's per-node state, and the first ready nodes queued. */
static void sched_init(struct runner *r)
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
	quire__pack_batch(1);
	r->mark = quire__xcalloc(n, sizeof(unsigned));
	r->tprompt = quire__xcalloc(r->p->bp->nproducers + 1, sizeof(*r->tprompt));
	r->tschema = quire__xcalloc(r->p->bp->nproducers + 1, sizeof(*r->tschema));
	for (size_t i = 0; i < n; i++) {
		struct quire_node *nd = &r->plan->nodes[i];
		if (!nd->selected || !nd->dirty) {
			/* A hand edit behind a review gate holds what uses it back as a review
			 * does. */
			r->state[i] = !nd->selected	   ? N_SKIPPED
				      : nd->pending_review ? N_REVIEW
				      : nd->behind_review  ? N_AWAITING
							   : N_OK;
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
}

/* Frees what sched_init made (and the templates, values and jobserver the run used). */
static void sched_release(struct runner *r)
{
	size_t n = r->plan->n;
	quire__pack_batch(0);
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
}

/* Takes in a finished job, or after an error drops it (from the array tell_taken reads too). */
static int take_in(struct runner *r, struct job *j, int err)
{
	if (!err)
		return complete(r, j);
	unfly(r, j);
	quire_run__job_free(j);
	return err;
}

int quire_run__execute(struct runner *r)
{
	size_t n = r->plan->n;
	sched_init(r);
	int jobs = r->o->jobs > 0 ? r->o->jobs : r->p->jobs;
	if (r->o->jobs <= 0 && (r->js = quire__jobserver_open()))
		jobs = 64; /* make's tokens decide; threads only cap it */
	r->nthreads = jobs;
	r->ahead = 0; /* until jobs are seen to be short (complete) */
	/* Up to -j taken by workers and as many again queued ahead (at most nthreads: complete). */
	r->flying = quire__xcalloc((size_t)jobs * 2 + 1, sizeof(*r->flying));
	r->threads = quire__xcalloc((size_t)jobs, sizeof(pthread_t));
	r->slots = quire__xcalloc((size_t)jobs, sizeof(*r->slots));
	int err = 0;
	for (int t = 0; t < jobs; t++)
		r->slots[t].r = r;
	for (int t = 0; t < jobs; t++)
		if (pthread_create(&r->threads[t], NULL, quire_run__worker, &r->slots[t]) != 0) {
			r->nthreads = t;
			err = quire_error_set(QUIRE_ERROR, "cannot start worker threads");
			break;
		}
	while (!err) {
		if (interrupted(r) && !r->stopping) {
			quire_run__stop_starting(r);
			r->res->interrupted = 1;
			cancel_all(r);
		}
		if (!err && r->nwaits && !r->stopping)
			err = quire_run__shard_poll(r);
		while (!err && !r->stopping && r->nready && have_slot(r)) {
			size_t k = next_startable(r);
			if (k == (size_t)-1)
				break;
			err = start(r, k);
		}
		return_slots(r);
		if (err || (r->running == 0 && (r->nwaits == 0 || r->stopping)))
			break;
		/* The pack's batch is not held open long while providers run (another
		 * process, a pull, may be waiting to write blobs), nor committed at every turn
		 * of this loop (a transaction per step of a fast provider): at the events'
		 * cadence; with events pending, their flush commits it first. A failure here is
		 * met again there. */
		int64_t pack_left = -1;
		if (!r->npend) {
			int64_t since = quire_run__mono_ns() - r->last_pack_commit;
			if (since >= RECORD_BATCH_NS) {
				if (quire__pack_commit())
					quire_error_clear();
				r->last_pack_commit = quire_run__mono_ns();
			} else {
				pack_left = RECORD_BATCH_NS - since;
			}
		}
		pthread_mutex_lock(&r->mu);
		if (!r->done_head) {
			/* Wake at least every 100 ms to notice SIGINT (the handler only sets a
			 * flag), and in time to commit an open group of events or the pack's
			 * batch. */
			int64_t wait = 100000000;
			if (r->npend) {
				int64_t left =
					r->last_commit + RECORD_BATCH_NS - quire_run__mono_ns();
				wait = left < 0 ? 0 : left < wait ? left : wait;
			}
			if (pack_left >= 0 && pack_left < wait)
				wait = pack_left;
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
		tell_taken(r);
		if (r->npend && quire_run__mono_ns() - r->last_commit >= RECORD_BATCH_NS)
			err = quire_run__record_flush(r);
		quire_run__report_progress(r);
		size_t failed = 0;
		while (done) {
			struct job *next = done->next;
			failed += done->rc || !done->adopted;
			err = take_in(r, done, err);
			done = next;
		}
		if (failed) {
			/* Taken in (the run stops here if they stop it): the queue moves on. */
			pthread_mutex_lock(&r->mu);
			r->failing -= failed;
			pthread_cond_broadcast(&r->work_cv);
			pthread_mutex_unlock(&r->mu);
		}
	}
	if (err) {
		quire_run__stop_starting(r);
		cancel_all(r);
	}
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->work_cv);
	pthread_mutex_unlock(&r->mu);
	for (int t = 0; t < r->nthreads; t++)
		pthread_join(r->threads[t], NULL);
	for (int t = 0; t < jobs; t++)
		quire_run__slot_reset(&r->slots[t]);
	free(r->slots);
	/* Jobs that finished while we were stopping still count: their work is kept. */
	tell_taken(r);
	for (struct job *j = r->done_head, *next; j; j = next) {
		next = j->next;
		err = take_in(r, j, err);
	}
	for (struct job *j = r->work_head, *next; j; j = next) {
		next = j->next;
		r->running--;
		quire_run__job_free(j);
	}
	r->done_head = r->work_head = NULL;
	quire_run__shard_release(r);
	int ferr = quire_run__record_flush(r);
	if (!err)
		err = ferr;
	for (size_t i = 0; i < n; i++)
		if (r->plan->nodes[i].selected && r->plan->nodes[i].dirty && r->state[i] != N_OK &&
		    r->state[i] != N_FAILED && r->state[i] != N_BLOCKED &&
		    r->state[i] != N_REVIEW && r->state[i] != N_AWAITING)
			r->res->not_started++;
	sched_release(r);
	return err;
}
