/* Instance graph expansion, fingerprints and dirty reasons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/id.h"
#include "json.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/reason.h"
#include "manifest_internal.h"
#include "plan_internal.h"
#include "table.h"
#include "util.h"

/* The nodes by id. */
struct idmap {
	struct quire__table t;
	const struct quire_plan *plan;
};

struct quire_plan__index {
	struct idmap map;
	struct quire__arena ids; /* the nodes' ids */
	size_t *deps, *rdeps;	 /* every node's deps and rdeps, one array each */
	struct quire__fvals fv;	 /* upstream outputs read for their fields */
};

int quire__plan_has_blob(struct quire_blob_set *blobs, const struct quire_project *p, const char *d)
{
	return quire_blob_set_has(blobs, d) || (d && json_object_get(p->in_out, d));
}

struct quire__fvals *quire__plan_fvals(const struct quire_plan *plan)
{
	return &plan->index->fv;
}

static void idmap_put(struct idmap *m, size_t v)
{
	uint32_t *s = quire__table_first(&m->t, quire__hash_str(m->plan->nodes[v].id));
	while (*s)
		s = quire__table_next(&m->t, s);
	*s = (uint32_t)(v + 1);
}

static long idmap_get(const struct idmap *m, const char *key)
{
	uint32_t *s = quire__table_first(&m->t, quire__hash_str(key));
	while (*s && strcmp(m->plan->nodes[*s - 1].id, key))
		s = quire__table_next(&m->t, s);
	return (long)*s - 1;
}

void quire_plan_free(struct quire_plan *plan)
{
	/* Files are let go even when memory is left to the exit: the objects' index, left
	 * open, kept its SQLite journal (and its growth) on disk after the process. */
	if (plan)
		quire__mbase_close_objs(plan->base);
	if (!plan || quire__mem_keep(plan))
		return;
	for (size_t i = 0; i < plan->n; i++) {
		struct quire_node *n = &plan->nodes[i];
		for (size_t k = 0; k < n->nreasons; k++)
			free(n->reasons[k]);
		free(n->reasons);
		json_decref(n->feedback);
	}
	if (plan->index) {
		quire__table_release(&plan->index->map.t);
		quire__arena_release(&plan->index->ids);
		free(plan->index->deps);
		free(plan->index->rdeps);
		for (size_t k = 0; k < QUIRE__FVALS; k++)
			json_decref(plan->index->fv.v[k]);
		free(plan->index);
	}
	for (size_t i = 0; i < plan->nremoved; i++)
		free(plan->removed[i]);
	free(plan->removed);
	for (size_t i = 0; i < plan->nunstored; i++)
		free(plan->unstored[i]);
	free(plan->unstored);
	free(plan->nodes);
	json_decref(plan->manifest);
	quire_mbase_free(plan->base);
	free(plan);
}

static long long dim_count(const struct quire_project *p, const struct quire_producer *pr, int d)
{
	const char *in = p->bp->inputs[pr->dims[d].input].name;
	return json_integer_value(json_object_get(p->inputs, in));
}

/* Adds the nodes of producer pr for every index combination (plan->nodes has room: see
 * count_nodes); b is scratch space for the ids, which go into the plan's arena. */
static void expand(struct quire_plan *plan, struct quire_buf *b, const struct quire_project *p,
		   int pi, int d, long long *idx)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	if (d == pr->ndims) {
		struct quire_node *n = &plan->nodes[plan->n++];
		n->producer = pi;
		n->size = -1;
		memcpy(n->idx, idx, sizeof(n->idx));
		quire_buf_reset(b);
		quire_id_format(b, pr->name, idx, pr->ndims);
		n->id = quire__arena_copy(&plan->index->ids, b->ptr, b->len);
		return;
	}
	long long c = dim_count(p, pr, d);
	for (long long k = 0; k < c; k++) {
		idx[d] = k;
		expand(plan, b, p, pi, d + 1, idx);
	}
}

/* How many instances the blueprint has with the project's inputs (QUIRE_EINVALID when a
 * producer would have too many). */
static int count_nodes(const struct quire_project *p, size_t *total)
{
	*total = 0;
	for (size_t k = 0; k < p->bp->nproducers; k++) {
		size_t n;
		int err = quire_project_instance_count(p, k, &n);
		if (err)
			return err;
		*total += n;
	}
	return 0;
}

/* Memory a plan and its run hold per instance, beyond the node itself: its id, the id table,
 * its edges both ways, the runner's per-node state (a measured average with room). */
#define NODE_EXTRA_BYTES 256

/* Bytes in MiB, rounded up (a need is never shown as less than it is). */
static size_t mib_up(size_t bytes)
{
	return bytes / (1u << 20) + (bytes % (1u << 20) != 0);
}

/* QUIRE_ENOMEM naming the largest fan-out, for a plan of n instances that needs `need`
 * bytes (0: the allocation itself failed). */
static int too_large(const struct quire_project *p, size_t n, size_t need)
{
	size_t big = 0, at = 0;
	for (size_t k = 0; k < p->bp->nproducers; k++) {
		size_t c = 0;
		if (!quire_project_instance_count(p, k, &c) && c > big)
			big = c, at = k;
	}
	quire_error_clear();
	size_t avail = SIZE_MAX;
	if (quire__mem_available(&avail))
		quire_error_clear();
	char have[64] = "";
	if (avail != SIZE_MAX)
		snprintf(have, sizeof(have), ", and about %zu MiB are available", avail >> 20);
	return quire_error_set(QUIRE_ENOMEM,
			       "%s: a plan of %zu instances needs %s%zu MiB of memory%s; producer "
			       "'%s' alone has %zu (its fan-out's inputs are too large for this "
			       "machine)",
			       p->inputs_file, n, need ? "about " : "more than ",
			       mib_up(need ? need : n * sizeof(struct quire_node)), have,
			       p->bp->producers[at].name, big);
}

/* Refuses, before allocating, a plan that cannot fit: past the memory there is, the
 * allocations would fail part way (or the system would kill quire) instead of saying why. */
static int check_memory(const struct quire_project *p, size_t n)
{
	size_t per = sizeof(struct quire_node) + NODE_EXTRA_BYTES;
	size_t need = n > SIZE_MAX / per ? SIZE_MAX : n * per, avail;
	int err = quire__mem_available(&avail);
	if (err)
		return err;
	return need > avail ? too_large(p, n, need) : 0;
}

/* Every node's upstream nodes, one after the other (a node's are a range of v). */
struct edges {
	size_t *v;
	size_t n, alloc;
	struct quire_buf id; /* scratch space for the ids looked up */
};

/* Appends the nodes a use refers to (for instance node n) to e. */
static int resolve_use(const struct quire_project *p, const struct idmap *map,
		       const struct quire_node *n, const struct quire_use *u, int d, long long *idx,
		       struct edges *e)
{
	const struct quire_producer *tp = &p->bp->producers[u->target];
	if (d == u->nidx) {
		quire_buf_reset(&e->id);
		quire_id_format(&e->id, tp->name, idx, u->nidx);
		long k = idmap_get(map, e->id.ptr);
		if (k < 0)
			return quire_error_set(
				QUIRE_EINVALID,
				"%s:%d:%d: '%s' (for %s) refers to '%s', which does not "
				"exist with the current inputs",
				p->bp->file, u->line, u->col, u->text, n->id, e->id.ptr);
		QUIRE_GROW(e->v, e->alloc, e->n + 1);
		e->v[e->n++] = (size_t)k;
		return 0;
	}
	const struct quire_idx *ix = &u->idx[d];
	if (ix->kind == QUIRE_IDX_ALL || ix->kind == QUIRE_IDX_BEFORE) {
		long long c = ix->kind == QUIRE_IDX_ALL ? dim_count(p, tp, d) : n->idx[ix->var];
		for (long long k = 0; k < c; k++) {
			idx[d] = k;
			int err = resolve_use(p, map, n, u, d + 1, idx, e);
			if (err)
				return err;
		}
		return 0;
	}
	idx[d] = ix->kind == QUIRE_IDX_LIT ? ix->lit : n->idx[ix->var] + ix->off;
	/* Chapter[i-1] of the first chapter: there is none, and no edge. */
	if (idx[d] < 0)
		return 0;
	return resolve_use(p, map, n, u, d + 1, idx, e);
}

/* The instance path of a cycle, from the stack of a depth-first walk: stack[from..top], then
 * back to stack[from]. */
static int instance_cycle(const struct quire_project *p, const struct quire_plan *plan,
			  const size_t *stack, size_t from, size_t top)
{
	struct quire_buf path = QUIRE_BUF_INIT;
	for (size_t k = from; k <= top; k++)
		quire_buf_printf(&path, "%s -> ", plan->nodes[stack[k]].id);
	quire_buf_puts(&path, plan->nodes[stack[from]].id);
	const struct quire_producer *pr = &p->bp->producers[plan->nodes[stack[from]].producer];
	int err = quire_error_set(QUIRE_EINVALID, "%s:%d:%d: dependency cycle: %s", p->bp->file,
				  pr->line, pr->col, path.ptr);
	quire_buf_release(&path);
	return err;
}

/* Puts the nodes in dependency order when uses of earlier instances (Chapter[i] uses
 * Summary[i-1], which uses Chapter[i-1]) interleave producers that the blueprint's order
 * keeps apart; finds a cycle among instances, which the blueprint's check of producers
 * cannot see through such uses. Expansion order is kept wherever it already works. */
static int order_instances(struct quire_plan *plan, const struct quire_project *p,
			   struct idmap *map, size_t ndeps_total)
{
	int sorted = 1;
	for (size_t i = 0; i < plan->n && sorted; i++)
		for (size_t k = 0; k < plan->nodes[i].ndeps; k++)
			sorted &= plan->nodes[i].deps[k] < i;
	if (sorted)
		return 0;
	size_t n = plan->n, top = 0, done = 0;
	unsigned char *state = quire__xcalloc_big(n + 1, 1);
	size_t *stack = quire__xcalloc_big(n + 1, sizeof(size_t));
	size_t *next = quire__xcalloc_big(n + 1, sizeof(size_t));
	size_t *pos = quire__xcalloc_big(n + 1, sizeof(size_t));
	int err = 0;
	/* Depth first and without recursion (a chain of 100,000 chapters is that deep): a
	 * node is placed once everything it uses is. */
	for (size_t r = 0; r < n && !err; r++) {
		if (state[r])
			continue;
		stack[top = 0] = r;
		state[r] = 1;
		for (;;) {
			size_t v = stack[top];
			const struct quire_node *nv = &plan->nodes[v];
			if (next[v] < nv->ndeps) {
				size_t w = nv->deps[next[v]++];
				if (state[w] == 1) {
					size_t from = top;
					while (stack[from] != w)
						from--;
					err = instance_cycle(p, plan, stack, from, top);
					break;
				}
				if (!state[w]) {
					state[w] = 1;
					stack[++top] = w;
				}
				continue;
			}
			state[v] = 2;
			pos[v] = done++;
			if (!top)
				break;
			top--;
		}
	}
	if (!err) {
		struct quire_node *moved = quire__xcalloc_big(n + 1, sizeof(*moved));
		for (size_t i = 0; i < n; i++)
			moved[pos[i]] = plan->nodes[i];
		memcpy(plan->nodes, moved, n * sizeof(*moved));
		free(moved);
		for (size_t k = 0; k < ndeps_total; k++)
			plan->index->deps[k] = pos[plan->index->deps[k]];
		quire__table_release(&map->t);
		quire__table_size(&map->t, n, 16);
		for (size_t i = 0; i < n; i++)
			idmap_put(map, i);
	}
	free(state);
	free(stack);
	free(next);
	free(pos);
	return err;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int quire_plan_build(struct quire_plan **out, const struct quire_project *p, json_t *m,
		     const char *qdir, const char *const *targets, size_t ntargets)
{
	return quire_plan_build_ex(out, p, m, NULL, qdir, targets, ntargets, NULL, 0);
}

/* Appends the digest of every project file (p->files) to the list. */
static size_t add_file_digests(const struct quire_project *p, const char ***digests, size_t *alloc,
			       size_t n)
{
	QUIRE_GROW(*digests, *alloc, n + p->nfiles);
	for (size_t k = 0; k < p->nfiles; k++)
		(*digests)[n++] = p->files[k].d.s;
	return n;
}

/* The highest take an entry has had. */
/* How many notes the shown output was made with (its record's feedback). */
static size_t recorded_feedback(const json_t *e)
{
	const json_t *deps = json_object_get(e, "deps");
	if (!json_is_string(deps))
		return json_array_size(json_object_get(deps, "feedback"));
	json_t *d = quire_json_loads_keeping(json_string_value(deps), json_string_length(deps),
					     "upstream", 0);
	size_t n = json_array_size(json_object_get(d, "feedback"));
	json_decref(d);
	return n;
}

static long long max_take(const json_t *e)
{
	long long t = json_integer_value(json_object_get(e, "take"));
	size_t k;
	json_t *x;
	json_array_foreach(json_object_get(e, "takes"), k, x)
		if (json_integer_value(json_object_get(x, "take")) > t)
			t = json_integer_value(json_object_get(x, "take"));
	return t;
}

/* Dirty below an unapproved review: node n cannot run until the review is done. */
/* Whether what uses node u must wait for a review: u awaits review, waits itself, will be
 * regenerated behind a review gate (its new output will need approving too), or is a hand
 * edit made while its own upstream awaited review. */
static int holds_back(const struct quire_project *p, const struct quire_node *u)
{
	int gated = u->dirty && !u->waiting && p->bp->producers[u->producer].review;
	return u->pending_review || u->waiting || gated || u->behind_review;
}

static void mark_waiting(struct quire_plan *plan, const struct quire_project *p,
			 struct quire_node *n)
{
	for (size_t k = 0; k < n->ndeps && !n->waiting; k++) {
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		if (holds_back(p, u)) {
			n->waiting = 1;
			n->awaiting = u->waiting || u->behind_review ? u->awaiting : u->id;
			char *r = quire_reason_text(QUIRE_REASON_AWAITING, n->awaiting);
			/* Put the wait first: it is why nothing happens. */
			n->reasons =
				quire__xrealloc(n->reasons, (n->nreasons + 1) * sizeof(char *));
			memmove(n->reasons + 1, n->reasons, n->nreasons * sizeof(char *));
			n->reasons[0] = r;
			n->nreasons++;
		}
	}
}

/* Decides whether node i is up to date against its row of the revision, pinned, or dirty
 * (and why, and whether it must wait for a review). */
static int decide(struct quire_plan *plan, const struct quire_project *p, size_t i, json_t *m,
		  struct quire_mbase *base, struct quire_blob_set *blobs,
		  const char *const *regenerate, size_t nregenerate)
{
	int err;
	struct quire_node *n = &plan->nodes[i];
	const struct quire_mrow *row = n->entry = quire_mbase_find(base, n->id);
	n->take = row ? row->take : 0;
	if (row && row->feedback) {
		n->feedback = json_loads(row->feedback, 0, NULL);
		if (!json_is_array(n->feedback))
			return quire_error_set(
				QUIRE_ECORRUPT,
				"the feedback of '%s' in revision '%s' is not a list", n->id,
				jstr(m, "revision") ? jstr(m, "revision") : "?");
		/* The draft the notes were given on is on the entry (few have feedback). */
		json_t *full;
		if ((err = quire_manifest_peek(m, base, n->id, &full)))
			return err;
		const char *dr = jstr(full, "draft");
		if (dr && quire_digest_valid(dr))
			n->draft = quire__arena_copy(&plan->index->ids, dr, strlen(dr));
		/* Notes given since its output was made: the revision is a take of its own, so
		 * the draft it revises stays a take ('edit ID --take N' goes back to it). */
		if (json_array_size(n->feedback) > recorded_feedback(full)) {
			n->take = max_take(full) + 1;
			n->feedback_round = 1;
		}
		json_decref(full);
	}
	int regen = 0;
	for (size_t r = 0; r < nregenerate; r++)
		regen |= quire_id_match(regenerate[r], n->id);
	/* The row answers "clean"; a new take needs every take listed. */
	if (regen && n->selected) {
		json_t *full;
		if ((err = quire_manifest_peek(m, base, n->id, &full)))
			return err;
		n->take = max_take(full) + 1;
		json_decref(full);
		quire__plan_add_regenerate(n);
	}
	const char *est = row ? row->status : NULL;
	const char *edig = row ? row->digest : NULL;
	if (!regen && est && !strcmp(est, "user-edited") && edig) {
		/* A hand edit is pinned: never regenerated until released, also when its blob is
		 * gone (the runner takes it back from out/, or stops: a writer's text cannot be
		 * generated again). */
		n->pinned = 1;
		n->missing = !quire__plan_has_blob(blobs, p, edig);
		memcpy(n->digest, edig, QUIRE_DIGEST_STRLEN);
		n->size = row->size;
		for (size_t k = 0; k < n->ndeps && !n->behind_review; k++) {
			const struct quire_node *u = &plan->nodes[n->deps[k]];
			if (holds_back(p, u)) {
				n->behind_review = 1;
				n->awaiting = u->waiting || u->behind_review ? u->awaiting : u->id;
			}
		}
		return 0;
	}
	int ups_clean = 1;
	for (size_t k = 0; k < n->ndeps; k++)
		ups_clean &= !plan->nodes[n->deps[k]].dirty && plan->nodes[n->deps[k]].digest[0];
	int same_fp = 0;
	if (ups_clean) {
		struct quire_digest fp;
		err = quire_plan_match(plan, p, i, row, 1, &fp, NULL, &same_fp);
		/* An upstream output that cannot be read for its fields: the run reads it again
		 * and says what is wrong; planning goes on. */
		if (err == QUIRE_ECORRUPT || err == QUIRE_ENOTFOUND || err == QUIRE_EIO) {
			quire_error_clear();
			err = 0;
		} else if (err) {
			return err;
		} else {
			n->have_fp = 1;
		}
	}
	/* Each field looked up once (the repeated lookups were 3% of a no-op plan). */
	const char *digest = edig;
	same_fp &= n->have_fp && est;
	int clean = same_fp && quire_mrow_current(row, row->fingerprint) &&
		    quire__plan_has_blob(blobs, p, digest);
	int pending = est && !strcmp(est, "pending-review");
	if (!clean && pending && same_fp && !regen && digest &&
	    quire__plan_has_blob(blobs, p, digest))
		clean = 1;
	if (clean && !regen) {
		memcpy(n->digest, digest, QUIRE_DIGEST_STRLEN);
		n->size = row->size;
		n->pending_review = pending;
		return 0;
	}
	/* Explaining compares with the recorded deps, which only the full entry has: it is
	 * parsed for that and dropped (an outline change at 100k held 100,000 of them; the
	 * commit parses each again, one at a time). */
	if (!regen) {
		json_t *full;
		if ((err = quire_manifest_peek_kept(m, base, n->id, &full)))
			return err;
		quire__plan_explain(plan, p, i, full, blobs);
		json_decref(full);
	}
	if (!n->nreasons)
		quire__plan_add_reason(n, QUIRE_REASON_FINGERPRINT, NULL);
	mark_waiting(plan, p, n);
	if (n->selected && n->waiting)
		plan->nwaiting++;
	else if (n->selected)
		plan->ndirty++;
	return 0;
}

int quire_plan_build_ex(struct quire_plan **out, const struct quire_project *p, json_t *m,
			struct quire_mbase *base, const char *qdir, const char *const *targets,
			size_t ntargets, const char *const *regenerate, size_t nregenerate)
{
	*out = NULL;
	struct quire_plan *plan = quire__xcalloc(1, sizeof(*plan));
	plan->manifest = json_incref(m);
	plan->base = base ? quire_mbase_ref(base) : quire_mbase_from_manifest(m);
	base = plan->base;
	plan->index = quire__xcalloc(1, sizeof(*plan->index));
	/* Sized once, ids in one arena: 100,000 nodes grown by doubling, each id its own
	 * allocation, took a tenth of a 100k no-op plan. */
	size_t nnodes;
	int cerr = count_nodes(p, &nnodes);
	if (!cerr)
		cerr = check_memory(p, nnodes);
	if (!cerr && !(plan->nodes = quire__calloc_big(nnodes + 1, sizeof(*plan->nodes))))
		cerr = too_large(p, nnodes, 0);
	if (cerr) {
		quire_plan_free(plan);
		return cerr;
	}
	long long idx[QUIRE_MAX_DIMS] = { 0 };
	struct quire_buf idb = QUIRE_BUF_INIT;
	for (size_t k = 0; k < p->bp->nproducers; k++)
		expand(plan, &idb, p, (int)p->bp->order[k], 0, idx);
	quire_buf_release(&idb);

	struct idmap map = { .plan = plan };
	quire__table_size(&map.t, plan->n, 16);
	for (size_t i = 0; i < plan->n; i++)
		idmap_put(&map, i);

	int err = 0;
	/* The edges in two arrays, not two allocations per node. */
	struct edges e = { NULL, 0, 0, QUIRE_BUF_INIT };
	size_t *nr = quire__xcalloc_big(plan->n + 1, sizeof(size_t));
	for (size_t i = 0; i < plan->n && !err; i++) {
		struct quire_node *n = &plan->nodes[i];
		const struct quire_producer *pr = &p->bp->producers[n->producer];
		size_t first = e.n;
		for (size_t k = 0; k < pr->nuses && !err; k++) {
			if (pr->uses[k].is_input)
				continue;
			long long ui[QUIRE_MAX_DIMS] = { 0 };
			err = resolve_use(p, &map, n, &pr->uses[k], 0, ui, &e);
		}
		n->ndeps = e.n - first;
		nr[i] = first; /* for now: where its deps start */
	}
	quire_buf_release(&e.id);
	plan->index->deps = e.v;
	for (size_t i = 0; i < plan->n; i++)
		plan->nodes[i].deps = e.v ? e.v + nr[i] : NULL;
	if (!err)
		err = order_instances(plan, p, &map, e.n);
	if (err)
		goto out;
	/* Reverse edges, sized in one pass. */
	memset(nr, 0, plan->n * sizeof(size_t));
	for (size_t i = 0; i < plan->n; i++)
		for (size_t k = 0; k < plan->nodes[i].ndeps; k++)
			nr[plan->nodes[i].deps[k]]++;
	size_t *rd = plan->index->rdeps = quire__xcalloc_big(e.n + 1, sizeof(size_t));
	for (size_t i = 0; i < plan->n; rd += nr[i++])
		plan->nodes[i].rdeps = rd;
	for (size_t i = 0; i < plan->n; i++)
		for (size_t k = 0; k < plan->nodes[i].ndeps; k++) {
			struct quire_node *u = &plan->nodes[plan->nodes[i].deps[k]];
			u->rdeps[u->nrdeps++] = i;
		}
	if ((err = quire__plan_select_targets(plan, p, targets, ntargets)))
		goto out;

	for (size_t r = 0; r < nregenerate; r++) {
		int any = 0;
		if (!quire_id_valid_pattern(regenerate[r])) {
			err = quire_error_set(QUIRE_EINVALID, "'%s' is not an id or id pattern",
					      regenerate[r]);
			goto out;
		}
		for (size_t i = 0; i < plan->n; i++)
			any |= quire_id_match(regenerate[r], plan->nodes[i].id);
		if (!any) {
			err = quire_error_set(QUIRE_EINVALID,
					      "--regenerate: no instance matches '%s'",
					      regenerate[r]);
			goto out;
		}
	}
	size_t nrows;
	const struct quire_mrow *rows = quire_mbase_rows(base, &nrows);
	/* Every clean output is checked to be in the store (relative to one open directory),
	 * except in blob shards trusted to hold all the manifest's outputs there (see
	 * quire_blob_set_new): the set is given every digest the manifest names, and those of
	 * the project's files, which a run keeps in the store too (quire__run_snapshot). */
	const char **digests = NULL;
	size_t ndigests = 0, dalloc = 0;
	for (size_t k = 0; k < nrows; k++) {
		if (rows[k].digest) {
			QUIRE_GROW(digests, dalloc, ndigests + 1);
			digests[ndigests++] = rows[k].digest;
		}
	}
	ndigests = add_file_digests(p, &digests, &dalloc, ndigests);
	struct quire_blob_set *blobs = quire_blob_set_new(qdir, digests, ndigests);
	for (size_t i = 0; i < plan->n && !err; i++)
		err = decide(plan, p, i, m, base, blobs, regenerate, nregenerate);
	for (size_t i = 0; i < plan->n; i++)
		plan->nselected += plan->nodes[i].selected;
	/* Entries whose instance no longer exists (a fan-out shrank, a producer was removed);
	 * and, when a blob shard was checked file by file, every digest the manifest names again
	 * (a regenerated entry may have been replaced meanwhile): the shards in which all were
	 * found are trusted next time. */
	size_t ralloc = 0, ualloc = 0;
	for (size_t k = 0; k < p->nfiles; k++) {
		if (!quire_blob_set_has(blobs, p->files[k].d.s)) {
			QUIRE_GROW(plan->unstored, ualloc, plan->nunstored + 1);
			plan->unstored[plan->nunstored++] = quire__xstrdup(p->files[k].rel);
		}
	}
	plan->files_checked = 1;
	int pending = !err && !p->no_cache_writes && quire_blob_set_pending(blobs);
	ndigests = 0;
	for (size_t k = 0; k < nrows; k++) {
		if (idmap_get(&map, rows[k].id) < 0) {
			QUIRE_GROW(plan->removed, ralloc, plan->nremoved + 1);
			plan->removed[plan->nremoved++] = quire__xstrdup(rows[k].id);
		}
		const char *d = pending ? rows[k].digest : NULL;
		if (d) {
			QUIRE_GROW(digests, dalloc, ndigests + 1);
			digests[ndigests++] = d;
		}
	}
	if (pending) {
		ndigests = add_file_digests(p, &digests, &dalloc, ndigests);
		quire_blob_set_save(blobs, digests, ndigests);
	}
	free(digests);
	quire_blob_set_free(blobs);
out:
	free(nr);
	plan->index->map = map;
	if (err) {
		quire_plan_free(plan);
		return err;
	}
	*out = plan;
	return 0;
}

long quire_plan_find(const struct quire_plan *plan, const char *id)
{
	return idmap_get(&plan->index->map, id);
}

json_t *quire_plan_to_json(const struct quire_plan *plan, int all)
{
	json_t *inst = json_array();
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || (!all && !n->dirty))
			continue;
		json_t *r = json_array();
		for (size_t k = 0; k < n->nreasons; k++)
			json_array_append_new(r, json_string(n->reasons[k]));
		json_t *o = json_pack("{s:s,s:b,s:b,s:o}", "id", n->id, "dirty", n->dirty,
				      "waiting", n->waiting, "reasons", r);
		if (n->cached)
			json_object_set_new(o, "cached",
					    json_string(n->cached == 2 ? "remote" : "local"));
		json_array_append_new(inst, o);
	}
	json_t *rem = json_array();
	for (size_t i = 0; i < plan->nremoved; i++)
		json_array_append_new(rem, json_string(plan->removed[i]));
	json_t *cur = json_object_get(plan->manifest, "revision");
	return json_pack("{s:O,s:I,s:I,s:I,s:I,s:o,s:o}", "current", cur ? cur : json_null(),
			 "total", (json_int_t)plan->nselected, "dirty", (json_int_t)plan->ndirty,
			 "waiting", (json_int_t)plan->nwaiting, "clean",
			 (json_int_t)(plan->nselected - plan->ndirty - plan->nwaiting), "instances",
			 inst, "removed", rem);
}
