/* run --shard K/N: each of N runs (CI jobs, machines) makes the dirty instances whose id falls
 * in its shard and pushes them to the shared cache; what one of them reads that another
 * shard makes is waited for there, asked again with a growing interval, and never generated
 * here, so every instance is paid for once. A final run anywhere takes everything from the
 * cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "remote.h"
#include "run_internal.h"
#include "util.h"

/* The first ask again after this, doubling up to the most (ns). */
#define FIRST_INTERVAL 200000000LL
#define MOST_INTERVAL 5000000000LL

int quire_run__shard_mine(const struct runner *r, size_t i)
{
	return quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) == r->o->shard_k - 1;
}

static int gave_up(struct runner *r, size_t i, struct job *j)
{
	char msg[512];
	snprintf(msg, sizeof(msg),
		 "shard %d/%d makes it, and the shared cache can no longer be asked for it",
		 quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) + 1, r->o->shard_n);
	quire_run__job_free(j);
	return quire_run__fail_node(r, i, msg, N_FAILED);
}

int quire_run__shard_wait(struct runner *r, size_t i, struct job *j)
{
	if (quire_remote_gave_up(r->remote))
		return gave_up(r, i, j);
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
	snprintf(msg, sizeof(msg), "made by shard %d/%d",
		 quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) + 1, r->o->shard_n);
	quire_run__report(r, "awaiting", i, msg);
	return 0;
}

int quire_run__shard_poll(struct runner *r)
{
	int err = 0;
	int64_t now = quire_run__mono_ns();
	for (size_t k = 0; k < r->nwaits && !err;) {
		struct shard_wait *w = &r->waits[k];
		if (now < w->next) {
			k++;
			continue;
		}
		size_t i = w->node;
		struct job *j = w->j;
		json_t *ac = NULL;
		int hit = quire_run__from_remote(r, i, j->fp.s, &ac);
		const char *d = hit ? json_string_value(json_object_get(ac, "digest")) : NULL;
		int done = 1;
		if (d && quire_blob_exists(r->p->qdir, d)) {
			err = quire_run__take_cached(r, i, j, ac, 1);
		} else if (quire_remote_gave_up(r->remote)) {
			json_decref(ac);
			err = gave_up(r, i, j);
		} else if (now >= w->deadline) {
			json_decref(ac);
			char msg[512];
			snprintf(msg, sizeof(msg),
				 "shard %d/%d makes it, and it was not in the shared cache after "
				 "%d s of waiting (--shard-timeout)",
				 quire_plan_shard_of(r->plan->nodes[i].id, r->o->shard_n) + 1,
				 r->o->shard_n, r->o->shard_timeout_s);
			quire_run__job_free(j);
			err = quire_run__fail_node(r, i, msg, N_FAILED);
		} else {
			json_decref(ac);
			done = 0;
			w->interval =
				w->interval * 2 > MOST_INTERVAL ? MOST_INTERVAL : w->interval * 2;
			w->next = now + w->interval;
		}
		if (done)
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
