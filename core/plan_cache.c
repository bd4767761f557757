/* Which of a plan's dirty instances a run would take from a cache rather than a provider: the
 * local action cache (with its output in the store), else the shared cache (its result and
 * its output there). An instance can be looked up once its fingerprint is known: when every
 * upstream is clean or is itself given by a cache (an input changed back: the whole story
 * comes back from the action cache; a clone without out/: from the shared cache). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/reason.h"
#include "quire/store.h"
#include "plan_internal.h"
#include "remote.h"
#include "util.h"

/* The output digest a local action-cache result names, when the store holds it. */
static int local_hit(struct quire_store *store, const char *qdir, const char *fp, char *digest)
{
	json_t *ac = NULL;
	if (quire_store_ac_get(store, fp, &ac) || !ac)
		return 0;
	const char *d = json_string_value(json_object_get(ac, "digest"));
	int hit = d && quire_digest_valid(d) && quire_blob_exists(qdir, d);
	if (hit)
		memcpy(digest, d, QUIRE_DIGEST_STRLEN);
	json_decref(ac);
	return hit;
}

static void set_reasons(struct quire_node *n, enum quire_reason_kind k)
{
	for (size_t r = 0; r < n->nreasons; r++)
		free(n->reasons[r]);
	n->nreasons = 0;
	quire__plan_add_reason(n, k, NULL);
}

int quire_plan_upstream_known(const struct quire_plan *plan, size_t i, const unsigned char *back)
{
	const struct quire_node *n = &plan->nodes[i];
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		if (u->dirty ? back[n->deps[k]] != 1 : !u->digest[0])
			return 0;
	}
	return 1;
}

int quire_plan_only_missing(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			    struct quire_digest *fp)
{
	const struct quire_mrow *row = plan->nodes[i].entry;
	int same = 0;
	/* The cheap tests first: computing the fingerprint may read upstream outputs. */
	if (!row || !row->digest || !quire_mrow_current(row, row->fingerprint) ||
	    quire_blob_exists(p->qdir, row->digest))
		return 0;
	if (quire_plan_match(plan, p, i, row, 0, fp, NULL, &same)) {
		quire_error_clear();
		return 0;
	}
	return same;
}

/* Which cache gives node i's output for fp (0: none), and that output in digest. */
static int lookup(const struct quire_plan *plan, const struct quire_project *p,
		  struct quire_store *store, struct quire_remote *r, size_t i,
		  const struct quire_digest *fp, char *digest)
{
	struct quire_digest v1;
	/* The fingerprint the run computes, then the one before field-level records. */
	if (local_hit(store, p->qdir, fp->s, digest) ||
	    (!quire_plan_fingerprint_v1(plan, p, i, &v1) && strcmp(v1.s, fp->s) &&
	     local_hit(store, p->qdir, v1.s, digest)))
		return 1;
	quire_error_clear();
	return r && quire_remote_has_output(r, fp->s, digest) ? 2 : 0;
}

int quire_plan_mark_cached(struct quire_plan *plan, const struct quire_project *p,
			   struct quire_store *store, int ask_remote, char **warning)
{
	*warning = NULL;
	struct quire_remote *r = NULL;
	int err = ask_remote ? quire_remote_open(&r, p) : 0;
	if (err)
		return err;
	/* Dirty instances a cache gives: what reads them is looked up with the outputs the run
	 * will take, which are then unset again (the plan's dirty instances have none). */
	unsigned char *back = quire__xcalloc(plan->n + 1, 1);
	for (size_t i = 0; i < plan->n; i++) {
		struct quire_node *n = &plan->nodes[i];
		n->cached = 0;
		if (!n->selected || !n->dirty || n->waiting || n->pinned)
			continue;
		int known = n->have_fp || quire_plan_upstream_known(plan, i, back);
		struct quire_digest fp;
		int missing = known && quire_plan_only_missing(plan, p, i, &fp);
		if (!known || (!missing && quire_plan_fingerprint(plan, p, i, &fp, NULL))) {
			quire_error_clear();
			continue;
		}
		if (missing && !n->have_fp)
			set_reasons(n, QUIRE_REASON_OUTPUT_MISSING); /* not its upstream's change */
		char got[QUIRE_DIGEST_STRLEN] = "";
		n->cached = lookup(plan, p, store, r, i, &fp, got);
		/* A recorded output whose blob the cache holds without a result for it (one
		 * accepted with 'run --touch'): the run restores it by its digest. */
		if (!n->cached && missing && r && n->entry->size >= 0 &&
		    quire_remote_has_blob(r, n->entry->digest, n->entry->size)) {
			n->cached = 2;
			snprintf(got, sizeof(got), "%s", n->entry->digest);
		}
		if (n->cached) {
			/* The run takes exactly this output: what reads it is known too. */
			back[i] = 1;
			memcpy(n->digest, got, QUIRE_DIGEST_STRLEN);
			/* What reads it by field reads its output: a JSON output is brought
			 * into the store (verified; a cache the run then uses), unless the
			 * command writes nothing at all. */
			if (n->cached == 2 && !p->no_cache_writes &&
			    p->bp->producers[n->producer].output.type == QUIRE_OUT_JSON)
				quire_remote_get_blob(r, p->qdir, got, -1);
		}
		if (!n->cached && missing && r && !quire_remote_gave_up(r))
			set_reasons(n, QUIRE_REASON_OUTPUT_MISSING_REMOTE);
	}
	for (size_t i = 0; i < plan->n; i++)
		if (back[i])
			plan->nodes[i].digest[0] = '\0';
	free(back);
	const char *w = quire_remote_take_warning(r);
	if (w)
		*warning = quire__xstrdup(w);
	quire_remote_free(r);
	return 0;
}
