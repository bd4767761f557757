/* The runner: quire_run plans, records, executes and commits a run; cost estimates. */
#include <sys/stat.h>
#include <limits.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "json.h"
#include "lock.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/store.h"
#include "quire/sync.h"
#include "git.h"
#include "run_commit.h"
#include "remote.h"
#include "manifest_internal.h"
#include "objects.h"
#include "run_internal.h"
#include "util.h"
#include "event.h"

/* Instances a first build runs from which its fold begins while it runs (a thread and a
 * second connection to the database cost more than folding a few events at the end). */
#define EARLY_FOLD_MIN 256

long long quire_run_estimate_plan(const struct quire_project *p, const struct quire_plan *plan,
				  int *priced)
{
	long long sum = 0;
	*priced = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || !n->dirty || n->cached)
			continue;
		/* Saturated: QUIRE_COST_MAX per instance over a large plan passes LLONG_MAX. */
		if (__builtin_add_overflow(sum, quire_run_estimate(p, plan, i), &sum))
			sum = LLONG_MAX;
		*priced |= quire_project_binding(p, p->bp->producers[n->producer].role)->priced;
	}
	return sum;
}

json_t *quire_run_estimate_json(const struct quire_project *p, const struct quire_plan *plan)
{
	json_t *roles = json_object();
	long long total = 0, unknown = 0;
	int any = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || !n->dirty || n->cached)
			continue;
		const char *role = p->bp->producers[n->producer].role;
		const struct quire_binding *b = quire_project_binding(p, role);
		json_t *r = json_object_get(roles, role);
		if (!r) {
			r = json_pack("{s:I,s:I,s:b,s:I}", "instances", (json_int_t)0,
				      "estimate_micro", (json_int_t)0, "priced", b->priced,
				      "unknown", (json_int_t)0);
			json_object_set_new(roles, role, r);
		}
		int unk;
		long long e = quire_run_estimate_ex(p, plan, i, &unk), sum;
		if (unk && b->priced) {
			json_object_set_new(
				r, "unknown",
				json_integer(json_integer_value(json_object_get(r, "unknown")) +
					     1));
			unknown++;
		}
		if (__builtin_add_overflow(json_integer_value(json_object_get(r, "estimate_micro")),
					   e, &sum))
			sum = LLONG_MAX;
		json_object_set_new(r, "estimate_micro", json_integer(sum));
		json_object_set_new(
			r, "instances",
			json_integer(json_integer_value(json_object_get(r, "instances")) + 1));
		if (__builtin_add_overflow(total, e, &total))
			total = LLONG_MAX;
		any |= b->priced;
	}
	return json_pack("{s:I,s:b,s:o,s:I}", "total_micro", (json_int_t)total, "priced", any,
			 "roles", roles, "unknown", (json_int_t)unknown);
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

/* The bytes of node i's upstream outputs a prompt can hold (text, json, file), with those
 * not generated yet (new, never made) counted in *unknown. A dirty upstream counts its last
 * output's size: the best guess there is. */
static long long upstream_bytes(const struct quire_project *p, const struct quire_plan *plan,
				size_t i, size_t *unknown)
{
	const struct quire_node *n = &plan->nodes[i];
	long long sum = 0;
	for (size_t k = 0; k < n->ndeps; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		enum quire_output_type t = p->bp->producers[u->producer].output.type;
		if (t == QUIRE_OUT_IMAGE || t == QUIRE_OUT_AUDIO)
			continue;
		long long sz = !u->dirty && u->size >= 0 ? u->size
			       : u->entry && u->entry->digest && u->entry->size >= 0
				       ? u->entry->size
				       : -1;
		if (sz < 0)
			++*unknown;
		else if (__builtin_add_overflow(sum, sz, &sum))
			sum = LLONG_MAX;
	}
	return sum;
}

long long quire_run_estimate_ex(const struct quire_project *p, const struct quire_plan *plan,
				size_t i, int *unknown)
{
	const struct quire_producer *pr = &p->bp->producers[plan->nodes[i].producer];
	const struct quire_binding *b = quire_project_binding(p, pr->role);
	if (unknown)
		*unknown = 0;
	if (!b->priced)
		return 0;
	long long bytes = 0;
	char *ppath = quire_producer_prompt_path(pr, plan->nodes[i].idx);
	if (ppath) {
		char *path = quire__xasprintf("%s/%s", p->root, ppath);
		struct stat st;
		if (stat(path, &st) == 0)
			bytes = (long long)st.st_size;
		free(path);
	}
	free(ppath);
	size_t missing = 0;
	bytes += upstream_bytes(p, plan, i, &missing);
	if (unknown)
		*unknown = missing > 0;
	return quire_binding_cost(b, bytes / 4, b->est_tokens_out);
}

long long quire_run_estimate(const struct quire_project *p, const struct quire_plan *plan, size_t i)
{
	return quire_run_estimate_ex(p, plan, i, NULL);
}

/* run --touch accepts outputs that exist: an instance with none (new, or its blob lost) would
 * have to be generated, which --touch promises not to do. */
static int check_touch(const struct quire_project *p, const struct quire_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || !n->dirty || n->waiting)
			continue;
		/* The blob itself is asked for: a plan says "missing" only when nothing else
		 * made the instance dirty. */
		if (!n->entry || !n->entry->digest || !quire_blob_exists(p->qdir, n->entry->digest))
			return quire_error_set(QUIRE_EINVALID,
					       "run --touch: %s has no output to accept (%s); run "
					       "it without --touch, or name other targets",
					       n->id, n->nreasons ? n->reasons[0] : "new");
		const char *ext = p->bp->producers[n->producer].output.ext;
		if (n->entry->ext && ext && strcmp(n->entry->ext, ext))
			return quire_error_set(
				QUIRE_EINVALID,
				"run --touch: %s's output is .%s, its producer now makes "
				".%s: an output of another type cannot be accepted; run "
				"it without --touch",
				n->id, n->entry->ext, ext);
	}
	return 0;
}

static int write_plan_file(struct quire_project *p, const struct quire_plan *plan, int64_t run)
{
	char *dir = quire__xasprintf("%s/runs", p->qdir);
	char *path = quire__xasprintf("%s/run-%lld-plan.json", dir, (long long)run);
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err) {
		json_t *j = quire_plan_to_json(plan, 0);
		char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
		/* A record of what the run planned, read by nothing quire does: whole or absent,
		 * without an fsync of its own (the commit's file-system sync covers it). */
		err = quire_fs_replace(path, s, strlen(s), 0644);
		free(s);
		json_decref(j);
	}
	free(dir);
	free(path);
	return err;
}

/* Each of notes (a JSON array of sentences) said as a warning. */
static void warn_notes(const struct quire_run_opts *o, const json_t *notes)
{
	size_t k;
	json_t *v;
	json_array_foreach(notes, k, v) {
		struct quire_progress ev = { .kind = "warning", .message = json_string_value(v) };
		if (o->progress)
			o->progress(o->ud, &ev);
	}
}

/* Two lines of history (two clones merged by git) merged first, what the writer must know
 * about it said as warnings. */
static int merge_heads(struct quire_project *p, struct quire_store *store,
		       const struct quire_run_opts *o, struct quire_run_result *res)
{
	json_t *notes = json_array();
	int err = quire_merge_heads(p, store, res->merged, notes);
	warn_notes(o, notes);
	json_decref(notes);
	return err;
}

/* Outputs the plan found missing from the store were taken back from out/ where it held
 * them (quire_plan_open); a hand edit that is in neither stops the run: a writer's text
 * cannot be made again. */
static int check_hand_edits(const struct quire_plan *plan)
{
	int err = 0;
	for (size_t i = 0; !err && i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (n->pinned && n->missing && n->selected)
			err = quire_error_set(
				QUIRE_ECORRUPT,
				"the hand edit of %s is neither in the store nor in out/ "
				"(removed as damaged?): put the text back in out/ and run "
				"again, or let it be generated with 'quire edit %s "
				"--release'",
				n->id, n->id);
	}
	return err;
}

/* The files project p reads that differ from what revision current recorded, {path: digest,
 * or null for one no longer read}, for the run's start event (at 10k the whole list is 1 MB
 * per run, and a run changes a few); NULL when current's files cannot be read (the event then
 * lists every file). The commit and recovery put current's files back under them. */
static json_t *files_changed(const struct quire_project *p, const char *current,
			     const struct quire_buf *text, struct quire_mbase *base)
{
	/* A format-2 parent: only the nodes of its files tree that differ are read (through
	 * the plan's objects, when it has them). */
	struct quire_objs *own = NULL, *o = quire_rev_is_digest(current)
						    ? quire__mbase_objs_or_open(base, p->qdir, &own)
						    : NULL;
	if (o) {
		json_t *files = json_stringn_nocheck(text->ptr, text->len),
		       *changed = json_object();
		int err = quire_rev2_files_changed(o, current, files, changed);
		quire_objs_free(own);
		json_decref(files);
		if (!err)
			return changed;
		json_decref(changed);
	}
	quire_error_clear();
	json_t *h = NULL, *changed = NULL;
	long long n;
	if (quire_manifest_head(p->qdir, current, &h, &n) ||
	    !json_is_object(json_object_get(h, "files"))) {
		quire_error_clear();
		json_decref(h);
		return NULL;
	}
	json_t *was = json_object_get(h, "files");
	changed = json_object();
	size_t still = 0; /* files of the revision's read now too */
	for (size_t k = 0; k < p->nfiles; k++) {
		const json_t *v = json_object_get(was, p->files[k].rel);
		still += v != NULL;
		if (!json_is_string(v) || strcmp(json_string_value(v), p->files[k].d.s))
			json_object_set_new(changed, p->files[k].rel, json_string(p->files[k].d.s));
	}
	if (still < json_object_size(was)) {
		/* Some file the revision read is read no more. */
		json_t *now = json_object();
		for (size_t k = 0; k < p->nfiles; k++)
			json_object_set_new(now, p->files[k].rel, json_true());
		const char *rel;
		json_t *v;
		json_object_foreach(was, rel, v)
			if (!json_object_get(now, rel))
				json_object_set_new(changed, rel, json_null());
		json_decref(now);
	}
	json_decref(h);
	return changed;
}

/* Records the start of run r on top of revision current: its number, the snapshots of the
 * files it read, its plan file, and its row and run.start event (inputs, files, git). */
static int record_start(struct runner *r, const char *current)
{
	struct quire_project *p = r->p;
	/* Named by its manifest's digest when it is committed. */
	snprintf(r->rev, sizeof(r->rev), "%s", QUIRE_REV_PENDING);
	json_t *stored = json_array();
	int err = quire__run_snapshot(p, r->plan, stored);
	if (err) {
		json_decref(stored);
		return err;
	}
	json_t *inputs = quire_project_inputs_record(p);
	const char *command = r->o->command ? r->o->command : "quire run";
	json_t *start_data = json_pack("{s:s,s:o,s:o,s:o,s:s}", "revision", r->rev, "parent",
				       current ? json_string(current) : json_null(), "inputs",
				       inputs, "git", quire__git_info(p->root), "command", command);
	if (r->o->message)
		json_object_set_new(start_data, "message", json_string(r->o->message));
	quire_buf_reset(&r->files);
	quire_project_files_text(p, &r->files);
	json_t *changed = current ? files_changed(p, current, &r->files, r->plan->base) : NULL;
	char *start_text = NULL;
	if (changed) {
		json_object_set_new(start_data, "files_changed", changed);
		/* What this run stored is what recovery checks (the list names them all). */
		json_object_set(start_data, "stored", stored);
		start_text = quire_json_canonical(start_data);
	} else {
		start_text = quire_json_canonical_with(start_data, "files", r->files.ptr);
	}
	json_decref(start_data);
	json_decref(stored);
	err = start_text ? quire_store_run_start(r->store, r->rev, current, r->o->command,
						 start_text, &r->run_id)
			 : QUIRE_EINVALID;
	free(start_text);
	return err ? err : write_plan_file(p, r->plan, r->run_id);
}

/* Node i is to be restored: a hand edit whose text is missing, or dirty only because its
 * recorded output is missing, now that what it reads is known (as the plan's cache marks
 * decide it; a failed one is not restored). */
static int restorable(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		      const unsigned char *back)
{
	const struct quire_node *nd = &plan->nodes[i];
	const struct quire_mrow *row = nd->entry;
	if (!nd->selected || back[i] || !row || !row->digest)
		return 0;
	/* A hand edit is its recorded text, whatever its upstream: fetched by its digest. */
	if (nd->pinned)
		return nd->missing && !quire_blob_exists(p->qdir, row->digest);
	struct quire_digest fp;
	/* What it reads not known yet, or an upstream read by field not here yet: next round. */
	return nd->dirty && quire_plan_upstream_known(plan, i, back) &&
	       quire_plan_only_missing(plan, p, i, &fp);
}

/* Fetches from the shared cache, several at once, the recorded outputs of the plan's dirty
 * instances that are dirty only for lacking them (a clone without out/); an output fetched
 * makes what reads it known, so rounds go down the graph. Whether any came; QUIRE_EINTR in
 * *err when interrupted. Never an output that is to be made again anyway. */
static int restore_missing(struct quire_project *p, struct quire_plan *plan,
			   const volatile sig_atomic_t *cancel, int *err)
{
	unsigned char *back = quire__xcalloc(plan->n + 1, 1); /* 1 restored, 2 asked for */
	const char **want = quire__xcalloc(plan->n + 1, sizeof(*want));
	size_t total = 0;
	for (int round = 0; round < 64; round++) {
		size_t n = 0;
		for (size_t i = 0; i < plan->n; i++)
			if (restorable(plan, p, i, back)) {
				want[n++] = plan->nodes[i].entry->digest;
				back[i] = 2;
			}
		if (!n)
			break;
		total += quire_sync_fetch(p, want, n, cancel);
		if (cancel && *cancel) {
			*err = quire_error_set(QUIRE_EINTR, "interrupted while taking outputs "
							    "from the shared cache");
			break;
		}
		int more = 0;
		for (size_t i = 0; i < plan->n; i++) {
			struct quire_node *nd = &plan->nodes[i];
			if (back[i] != 2 || !quire_blob_exists(p->qdir, nd->entry->digest))
				continue;
			/* What reads it is planned with it, as the run will have it (a hand edit
			 * has its digest already). */
			back[i] = 1;
			if (nd->dirty)
				memcpy(nd->digest, nd->entry->digest, QUIRE_DIGEST_STRLEN);
			more = 1;
		}
		if (!more)
			break;
	}
	for (size_t i = 0; i < plan->n; i++)
		if (back[i] == 1 && plan->nodes[i].dirty)
			plan->nodes[i].digest[0] = '\0';
	free(back);
	free(want);
	return total > 0;
}

/* The run's plan: against the revision's compact index when there is one (the commit then
 * copies the text of every entry the run does not change), narrowed to a shard. */
static int plan_for_run(struct quire_project *p, struct quire_store *store, const char *current,
			const struct quire_run_opts *o, struct quire_run_result *res,
			struct quire_plan **out)
{
	struct quire_plan_opts po = { o->targets,     o->ntargets, o->regenerate,
				      o->nregenerate, 1,	   NULL };
	int err = quire_plan_open(out, p, store, current, &po);
	struct quire_plan *plan = *out;
	if (err)
		return err;
	if (o->shard_n)
		quire_plan_select_shard(plan, o->shard_k, o->shard_n);
	res->total = plan->nselected;
	res->dirty = plan->ndirty;
	return 0;
}

/* The plan's estimate, checked against --max-cost. */
static int price_plan(struct quire_project *p, struct quire_store *store,
		      const struct quire_run_opts *o, struct quire_run_result *res,
		      struct quire_plan *plan)
{
	/* What a cache holds costs nothing: a limit counts only what would be paid, as
	 * 'run --dry-run --max-cost' does (the shared cache's trouble is said by the run). */
	char *warning = NULL;
	int err = o->has_max_cost ? quire_plan_mark_cached(plan, p, store, 1, &warning) : 0;
	free(warning);
	if (err)
		return err;
	/* A shard pays only for its own part: what it reads of another's is never made here. */
	for (size_t i = 0; o->shard_n && i < plan->n; i++)
		if (plan->nodes[i].selected && plan->nodes[i].dirty &&
		    quire_plan_shard_of(plan->nodes[i].id, o->shard_n) != o->shard_k - 1)
			plan->nodes[i].cached = 3;
	res->estimate_micro = quire_run_estimate_plan(p, plan, &res->priced);
	if (o->has_max_cost)
		err = quire_run_check_cost(res->estimate_micro, o->max_cost_micro);
	return err;
}

/* The run's plan, after fetching from the shared cache the recorded outputs this store lacks
 * (a clone without out/), several at once, and planning again (one at a time, as the
 * instances start, a clone of a large story waited a round trip each); then priced: what was
 * restored costs nothing. */
static int plan_restored(struct quire_project *p, struct quire_store *store, const char *current,
			 const struct quire_run_opts *o, struct quire_run_result *res,
			 struct quire_plan **plan)
{
	int err = plan_for_run(p, store, current, o, res, plan);
	if (!err && restore_missing(p, *plan, o->interrupted, &err)) {
		quire_plan_free(*plan);
		*plan = NULL;
		if (!err)
			err = plan_for_run(p, store, current, o, res, plan);
	}
	/* A hand edit neither here nor in the cache stops the run (after the restore: a clone
	 * takes the writer's text from the cache). */
	if (!err && !(err = check_hand_edits(*plan)))
		err = price_plan(p, store, o, res, *plan);
	return err;
}

/* Under the lock, before current is read: the scratch directory emptied, the blob shards
 * checked, the full-disk reserve made, and a store made by an earlier quire moved to
 * format 2. */
static int prepare_store(struct quire_project *p, const char *tmpdir,
			 const struct quire_run_opts *o)
{
	quire__run_clear_tmp(tmpdir);
	int err = quire_fs_mkdirs(tmpdir, 0755);
	if (!err && !(err = quire_blob_check_dirs(p->qdir)))
		quire_run__reserve_make(p->qdir);
	json_t *notes = json_array();
	if (!err)
		err = quire__store_upgrade(p->qdir, notes);
	warn_notes(o, notes);
	json_decref(notes);
	return err;
}

/* Commits run r, folded onto cur (consumed) with base, as its revision (*next), after the
 * run ended with err: that error, or the commit's. */
static int commit_run(struct runner *r, json_t *cur, struct quire_mbase *base, int err,
		      json_t **next)
{
	/* The commit's own work may clear the thread's message: keep the one that says why. */
	char *why = err ? quire__xstrdup(quire_error_last()) : NULL;
	if (!r->files.len)
		quire_project_files_text(r->p, &r->files);
	struct quire_run_fold *early = r->early;
	r->early = NULL;
	int cerr = quire_run__commit_onto(r->p->qdir, r->store, r->run_id, r->rev, cur, base, 1,
					  r->files.ptr, NULL, early, next);
	if (!err)
		err = cerr;
	else
		quire_error_set(err, "%s", why);
	free(why);
	if (!cerr)
		snprintf(r->res->rev, sizeof(r->res->rev), "%s", r->rev);
	return err;
}

int quire_run(struct quire_project *p, const struct quire_run_opts *o, struct quire_run_result *res)
{
	memset(res, 0, sizeof(*res));
	struct quire_lock *lock = NULL;
	struct quire_store *store = NULL;
	struct quire_plan *plan = NULL;
	json_t *cur = NULL, *next = NULL;
	char *current = NULL;
	struct runner r = { .files = QUIRE_BUF_INIT };
	struct quire_mbase *base = NULL;
	struct quire_out_seen *seen = NULL; /* what the check before the run found in out/ */
	struct quire_remote *shared = NULL; /* run --shard: the cache, open from the start */
	/* Providers are checked before the lock; templates once the files are hashed, so an
	 * unchanged set of templates is not parsed again. */
	int err = quire_project_check_providers(p, 1);
	if (err)
		return err;
	quire__lock_watch(o->interrupted);
	err = quire_lock_acquire(&lock, p->qdir, o->command ? o->command : "quire run");
	quire__lock_watch(NULL);
	if (err)
		return err;
	char *tmpdir = quire__xasprintf("%s/tmp", p->qdir);
	if ((err = prepare_store(p, tmpdir, o)) || (err = quire_store_open(&store, p->qdir, 0)) ||
	    (err = quire__run_recover(p, store, res->recovered, sizeof(res->recovered))) ||
	    (err = merge_heads(p, store, o, res)) ||
	    (err = quire_manifest_current(p->qdir, &current)))
		goto out;
	if ((err = plan_restored(p, store, current, o, res, &plan)))
		goto out;
	/* A shard's cache is checked (and what it holds of its part shared) even when it has
	 * nothing to run: a shard run again shares what its first run made. */
	if (o->shard_n && (err = quire_run__shard_open(p, store, plan, o, &shared)))
		goto out;
	cur = json_incref(plan->manifest);
	base = quire_mbase_has_text(plan->base) ? quire_mbase_ref(plan->base) : NULL;
	/* A first build's entries (no parent) spill as they are folded, as a later run's
	 * changed entries do: held as text they were a third of its peak at 100k. */
	if (!base && !current)
		base = quire__mbase_spill_only(p->qdir);
	if (o->touch && (err = check_touch(p, plan)))
		goto out;
	size_t nremove = o->ntargets || o->shard_n ? 0 : plan->nremoved;
	if (plan->ndirty == 0 && nremove == 0) {
		/* Nothing may run, which is not "all done" while reviews hold work back. */
		res->waiting = plan->nwaiting;
		for (size_t i = 0; i < plan->n; i++)
			res->pending_review +=
				plan->nodes[i].selected && plan->nodes[i].pending_review;
		goto materialise; /* which leaves a writer's file in out/ alone, and says so */
	}
	/* A writer's text in out/ stops the run before anything is spent or overwritten. */
	if ((err = quire_out_preflight_seen(p, store, cur, base, NULL, 0, &seen)))
		goto out;

	r.p = p;
	r.plan = plan;
	r.store = store;
	r.o = o;
	r.res = res;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.work_cv, NULL);
	pthread_cond_init(&r.done_cv, NULL);
	r.remote = shared;
	shared = NULL;
	if ((err = quire_run__init_bindings(&r)) ||
	    (!r.remote && (err = quire_remote_open(&r.remote, p))))
		goto out_runner;
	quire_remote_set_cancel(r.remote, o->interrupted);
	if ((err = record_start(&r, current)))
		goto out_runner;
	for (size_t k = 0; !err && k < nremove; k++) {
		err = quire_run__record(&r, quire_ev_name(QUIRE_EV_REMOVED), plan->removed[k], NULL,
					NULL, NULL, NULL);
		res->removed++;
	}
	if (!err)
		err = quire_run__record_flush(
			&r); /* the run's start is on disk before its first job */
	/* A first build's entries are all new (no parent's to read, nothing else reads them
	 * while it runs): its events are folded on another thread as they are committed. */
	if (!err && !current && base && !o->touch && plan->ndirty >= EARLY_FOLD_MIN)
		r.early = quire_run__fold_start(p->qdir, r.run_id, cur, base,
						r.files.len ? r.files.ptr : NULL);
	if (!err)
		err = quire_run__execute(&r);
	if (!err) {
		json_t *end = json_pack("{s:b}", "interrupted", res->interrupted);
		err = quire_run__record(&r, quire_ev_name(QUIRE_EV_RUN_END), NULL, end, NULL, NULL,
					NULL);
		json_decref(end);
	}
	int ferr = quire_run__record_flush(&r);
	if (!err)
		err = ferr;
	quire_objs_free(r.objs_own);
	r.objs_own = r.objs = NULL;
	if (!err && r.halt_err)
		err = quire_error_set(r.halt_err, "%s", r.halt_msg);
	/* Commit even after an error: everything recorded so far is kept. The fold changes cur
	 * in place (a deep copy of a large manifest cost more than the fold); out/ only needs
	 * the parent's entries: the base's rows, or for a full manifest, entries a shallow copy
	 * of its artefacts keeps alive (so do the plan's rows made of them). Never while a fold
	 * begun as the run went on holds cur: that one has a base, and commit_run stops it. */
	json_t *parent_arts = base ? NULL
				   : json_pack("{s:o}", "artefacts",
					       json_copy(json_object_get(cur, "artefacts")));
	err = commit_run(&r, cur, base, err, &next);
	cur = parent_arts;
out_runner:
	if (r.npend && err) {
		/* After an error: keep what can still be recorded, without losing the message. */
		char *msg = quire__xstrdup(quire_error_last());
		quire_run__record_flush(&r);
		quire_error_set(err, "%s", msg);
		free(msg);
	}
	quire_run__fold_free(r.early);
	quire_run__pend_clear(&r);
	quire_buf_release(&r.files);
	quire_objs_free(r.objs_own);
	quire_remote_free(r.remote);
	free(r.pend);
	free(r.halt_msg);
	free(r.held);
	quire_run__fini_bindings(&r);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.work_cv);
	pthread_cond_destroy(&r.done_cv);
	if (err)
		goto out;
materialise:
	err = quire_out_sync_cached(p, store, next ? next : cur, base, next ? cur : NULL,
				    next ? base : NULL, seen, &res->out_written, &res->out_removed);
	if (!err && res->interrupted)
		err = quire_error_set(QUIRE_EINTR, "interrupted");
out:
	quire_out_seen_free(seen);
	quire_remote_free(shared);
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

int quire_run_git_commit(const struct quire_project *p, const struct quire_run_result *r,
			 const char *message, char *id, size_t idlen)
{
	/* What the README says to commit: the project's files, the revisions, the calls, out/. */
	size_t n = 0;
	char **paths = quire__xcalloc(p->nfiles + 10, sizeof(char *));
	paths[n++] = quire__xstrdup(QUIRE_PROJECT_FILE);
	paths[n++] = quire__xstrdup(".gitignore");
	paths[n++] = quire__xstrdup(".gitattributes");
	for (size_t k = 0; k < p->nfiles; k++)
		paths[n++] = quire__xstrdup(p->files[k].rel);
	paths[n++] = quire__xstrdup(".quire/manifests/");
	paths[n++] = quire__xstrdup(".quire/revs/");
	paths[n++] = quire__xstrdup(".quire/format");
	paths[n++] = quire__xstrdup(".quire/current");
	paths[n++] = quire__xstrdup(".quire/calls/");
	paths[n++] = quire__xasprintf("%s/", p->out_dir);
	struct quire_buf m = QUIRE_BUF_INIT;
	quire_buf_printf(&m, "quire: %.12s: %zu produced, %zu cached", r->rev, r->produced,
			 r->cached);
	if (r->priced)
		quire_buf_printf(&m, ", cost %lld.%06lld", r->cost_micro / 1000000,
				 r->cost_micro % 1000000);
	quire_buf_puts(&m, "\n");
	if (message)
		quire_buf_printf(&m, "\n%s\n", message);
	int err = quire_git_commit(p->root, paths, n, m.ptr, id, idlen);
	quire_buf_release(&m);
	for (size_t k = 0; k < n; k++)
		free(paths[k]);
	free(paths);
	return err;
}
