/* Opening a project's plan: its files hashed, its templates checked, planned against the
 * current revision's compact index when it is usable, else against the manifest itself. */
#include <jansson.h>

#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"

static int plan_once(struct quire_plan **out, struct quire_project *p, struct quire_store *store,
		     const char *current, const struct quire_plan_opts *o)
{
	*out = NULL;
	json_t *m = NULL;
	struct quire_mbase *base = NULL;
	/* The index is read on a second thread while this one hashes the project's files: it has
	 * what deciding "up to date" needs, and the entries of dirty instances (their reasons
	 * need the recorded dependency records) are parsed from the manifest's text on demand. */
	struct quire_index_load *il =
		current && !o->merged ? quire_manifest_load_index_start(p->qdir, current) : NULL;
	int err = quire_project_hash_files(p, store);
	if (!err)
		err = quire_project_check_templates_cached(p, store);
	if (il)
		quire_manifest_load_index_finish(il, &m, &base);
	/* No index for the head (git brought it: a pull): made from the one this clone had and
	 * what differs between the two trees, rather than by reading the head whole. */
	if (!err && il && !m && o->reindex && quire_manifest_index_near(p->qdir, current))
		quire_manifest_load_index(p->qdir, current, &m, &base);
	if (!err && m) {
		err = quire_plan_build_ex(out, p, m, base, p->qdir, o->targets, o->ntargets,
					  o->regenerate, o->nregenerate);
		/* A text that does not match its index: plan against the manifest itself (any
		 * other error, a bad target say, would only come again). */
		if (err == QUIRE_ECORRUPT) {
			quire_error_clear();
			err = 0;
		}
	}
	quire_mbase_free(base);
	json_decref(m);
	m = NULL;
	if (err || *out)
		return err;
	if (o->merged) {
		m = json_deep_copy(o->merged);
	} else if (current) {
		if ((err = quire_manifest_load(p->qdir, current, &m)))
			return err;
		/* No usable index (a fresh clone, another quire's): the next command has one. */
		if (o->reindex)
			quire_manifest_reindex(p->qdir, current, m);
	} else {
		m = quire_manifest_empty();
	}
	err = quire_plan_build_ex(out, p, m, NULL, p->qdir, o->targets, o->ntargets, o->regenerate,
				  o->nregenerate);
	json_decref(m);
	return err;
}

int quire_plan_open(struct quire_plan **out, struct quire_project *p, struct quire_store *store,
		    const char *current, const struct quire_plan_opts *o)
{
	int err = plan_once(out, p, store, current, o);
	/* Outputs missing from the store (a fresh clone, a blob removed as damaged) are taken
	 * back from out/ when a file there holds exactly their bytes, and the project planned
	 * again: what out/ already holds is never generated (paid for) again. A cache fill, as
	 * the blob check's; when planning must write nothing (run --dry-run), only counted as
	 * present (p->in_out), so that it predicts the run. */
	size_t adopted = 0;
	if (err)
		return err;
	if (quire_out_adopt(p, *out, &adopted)) {
		/* Not being able to fill the cache (a read-only checkout) only costs a re-run. */
		quire_error_clear();
		return 0;
	}
	if (!adopted)
		return 0;
	quire_plan_free(*out);
	*out = NULL;
	return plan_once(out, p, store, current, o);
}
