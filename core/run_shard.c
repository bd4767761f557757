/* run --shard K/N: each of N runs (CI jobs, machines) makes the dirty instances whose id falls
 * in its shard and puts them in the shared cache; what one of them reads that another shard
 * makes is waited for there, asked again with a growing interval, and never generated here,
 * so every instance is paid for once. A final run anywhere takes everything from the cache.
 * A shard's part is shared however this store came by it (made now, made before, the local
 * action cache), a failure of its part is said in the cache so no other shard waits for it
 * in vain, and a shard whose cache fails stops: its work would reach no one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/store.h"
#include "remote.h"
#include "run_internal.h"
#include "util.h"

/* The first ask again after this, doubling up to the most (ns); one sweep of the asks spends
 * at most SWEEP_NS before the scheduler takes in finished jobs again. */
#define FIRST_INTERVAL 200000000LL
#define MOST_INTERVAL 5000000000LL
#define SWEEP_NS 250000000LL

int quire_run__shard_mine(const struct runner *r, size_t i)
{
	return quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) == r->o->shard_k - 1;
}

static int owner(const struct runner *r, size_t i)
{
	return quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) + 1;
}

static int interrupted(const struct runner *r)
{
	return r->o->interrupted && *r->o->interrupted;
}

/* Puts the output the local action cache holds for fp, when it is digest (the cache holds
 * only outputs made for their fingerprint: never a hand edit or an accepted one). 0, or
 * QUIRE_EIO when the cache did not take it. */
static int share(struct quire_remote *rm, struct quire_store *store, const char *qdir,
		 const char *fp, const char *digest)
{
	json_t *ac = NULL;
	if (quire_store_ac_get(store, fp, &ac) || !ac) {
		quire_error_clear();
		return 0;
	}
	const char *d = json_string_value(json_object_get(ac, "digest"));
	int err = 0;
	if (d && !strcmp(d, digest)) {
		char *text = json_dumps(ac, JSON_COMPACT | JSON_SORT_KEYS);
		err = quire_remote_push(rm, qdir, fp, text);
		free(text);
		if (!err && quire_remote_gave_up(rm))
			err = QUIRE_EIO;
	}
	json_decref(ac);
	return err;
}

void quire_run__shard_stop(struct runner *r)
{
	const char *why = NULL;
	quire_remote_usable(r->remote, &why);
	if (!r->halt_err)
		quire_run__halt(
			r, QUIRE_EIO,
			"the shared cache failed (%s): a shard cannot share its work "
			"without it, so this one stops; run it again once the cache answers",
			why ? why : "it did not take an output");
}

void quire_run__shard_share(struct runner *r, size_t i, const char *fp)
{
	if (!r->o->shard_n || !quire_run__shard_mine(r, i) || !r->plan->nodes[i].digest[0])
		return;
	if (share(r->remote, r->store, r->p->qdir, fp, r->plan->nodes[i].digest))
		quire_run__shard_stop(r);
}

void quire_run__shard_failed(struct runner *r, size_t i, const char *fp, const char *msg)
{
	if (r->o->shard_n && quire_run__shard_mine(r, i) &&
	    quire_remote_put_failed(r->remote, fp, msg))
		quire_run__shard_stop(r);
}

int quire_run__shard_open(const struct quire_project *p, struct quire_store *store,
			  const struct quire_plan *plan, const struct quire_run_opts *o,
			  struct quire_remote **out)
{
	int err = quire_remote_open(out, p);
	if (!err && !quire_remote_pushes(*out))
		err = quire_error_set(
			QUIRE_EINVALID,
			"run --shard needs a shared cache it can write ('cache: { "
			"remote: URL }' in quire.yaml, or QUIRE_REMOTE_CACHE, with push "
			"on): the shards share their work through it");
	quire_remote_set_cancel(*out, o->interrupted);
	/* What this shard's part already holds (a shard run again after its cache failed, or
	 * on a machine that made it before): the other shards wait for it. */
	for (size_t i = 0; !err && i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		const struct quire_mrow *row = n->entry;
		if (n->dirty || !row || !row->digest || !row->fingerprint ||
		    quire_plan_shard_of(n->id, o->shard_n) != o->shard_k - 1)
			continue;
		if (share(*out, store, p->qdir, row->fingerprint, row->digest)) {
			const char *why = NULL;
			quire_remote_usable(*out, &why);
			err = quire_error_set(QUIRE_EIO,
					      "the shared cache failed (%s): this shard could not "
					      "share what it holds; nothing was run",
					      why ? why : "it did not take an output");
		}
	}
	if (err) {
		quire_remote_free(*out);
		*out = NULL;
	}
	return err;
}

/* Node i, another shard's, will not be had here: said, counted as failed, but not recorded
 * as a failure of this store's (the next run here plans it as it was). */
static void not_here(struct runner *r, size_t i, struct job *j, const char *msg)
{
	quire_run__job_free(j);
	r->res->failed++;
	quire_run__finish(r, i, N_FAILED);
	quire_run__report(r, "failed", i, msg);
}

int quire_run__shard_wait(struct runner *r, size_t i, struct job *j)
{
	if (quire_remote_gave_up(r->remote)) {
		quire_run__shard_stop(r);
		not_here(r, i, j, "the shared cache, through which another shard gives it, failed");
		return 0;
	}
	if (r->nwaits == r->awaits) {
		r->awaits = r->awaits ? 2 * r->awaits : 16;
		r->waits = quire__xrealloc(r->waits, r->awaits * sizeof(*r->waits));
	}
	int64_t now = quire_run__mono_ns();
	r->waits[r->nwaits++] = (struct shard_wait){
		.node = i,
		.j = j,
		.deadline = now + (int64_t)r->o->shard_timeout_s * 1000000000LL,
		.next = now + FIRST_INTERVAL,
		.interval = FIRST_INTERVAL,
	};
	r->state[i] = N_RUNNING;
	char msg[64];
	snprintf(msg, sizeof(msg), "made by shard %d/%d", owner(r, i), r->o->shard_n);
	quire_run__report(r, "awaiting", i, msg);
	return 0;
}

/* Asks once for wait k: 1 when it is settled (taken, or failed), 0 to ask again later. */
static int ask(struct runner *r, struct shard_wait *w, int64_t now, int *err)
{
	size_t i = w->node;
	struct job *j = w->j;
	json_t *ac = NULL;
	char msg[512], failed[300];
	int hit = quire_run__from_remote(r, i, j->fp.s, &ac);
	const char *d = hit ? json_string_value(json_object_get(ac, "digest")) : NULL;
	if (d && quire_blob_exists(r->p->qdir, d)) {
		*err = quire_run__take_cached(r, i, j, ac, 1);
		return 1;
	}
	json_decref(ac);
	if (interrupted(r))
		return 0; /* an aborted request is no answer: the run is stopping */
	if (quire_remote_gave_up(r->remote)) {
		quire_run__shard_stop(r);
		not_here(r, i, j, "the shared cache, through which another shard gives it, failed");
		return 1;
	}
	if (quire_remote_get_failed(r->remote, j->fp.s, failed, sizeof(failed))) {
		snprintf(msg, sizeof(msg), "shard %d/%d could not make it: %s", owner(r, i),
			 r->o->shard_n, failed);
		not_here(r, i, j, msg);
		return 1;
	}
	if (now >= w->deadline) {
		snprintf(msg, sizeof(msg),
			 "shard %d/%d makes it, and it was not in the shared cache after %d s of "
			 "waiting (--shard-timeout; every shard must run)",
			 owner(r, i), r->o->shard_n, r->o->shard_timeout_s);
		not_here(r, i, j, msg);
		return 1;
	}
	w->interval = w->interval * 2 > MOST_INTERVAL ? MOST_INTERVAL : w->interval * 2;
	w->next = now + w->interval;
	return 0;
}

int quire_run__shard_poll(struct runner *r)
{
	int err = 0;
	int64_t start = quire_run__mono_ns();
	for (size_t k = 0; k < r->nwaits && !err && !interrupted(r);) {
		int64_t now = quire_run__mono_ns();
		if (now - start > SWEEP_NS)
			break; /* the rest at the next wake: finished jobs are waiting too */
		if (now < r->waits[k].next) {
			k++;
			continue;
		}
		if (ask(r, &r->waits[k], now, &err))
			r->waits[k] = r->waits[--r->nwaits];
		else
			k++;
	}
	return err;
}

void quire_run__shard_release(struct runner *r)
{
	for (size_t k = 0; k < r->nwaits; k++)
		quire_run__job_free(r->waits[k].j);
	free(r->waits);
	r->waits = NULL;
	r->nwaits = r->awaits = 0;
}
