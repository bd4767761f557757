/* Field-level fingerprints: a record names the JSON fields an instance's templates read from
 * an upstream output (Outline.chapters[1].title), not the whole output, and an entry recorded
 * before that (its upstream named whole) is still recognised, never re-billed. */
#include <stdlib.h>
#include <string.h>

#include "quire/blob.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "json.h"
#include "plan_internal.h"
#include "util.h"

/* As rendering's: an upstream larger than this cannot be put in a prompt either. */
#define FIELD_VALUE_CAP (64u << 20)

json_t *quire__plan_fl(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		       unsigned char *fl)
{
	const struct quire_node *n = &plan->nodes[i];
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	json_t *all = NULL;
	for (size_t k = 0; k < pr->nuses; k++) {
		const struct quire_use *us = &pr->uses[k];
		if (us->is_input || p->bp->producers[us->target].output.type != QUIRE_OUT_JSON)
			continue;
		/* A producer used twice (Outline and Outline[...]) is read once. */
		int again = 0;
		for (size_t j = 0; j < k && !again; j++)
			again = !pr->uses[j].is_input && pr->uses[j].target == us->target;
		if (again)
			continue;
		json_t *paths = json_object();
		if (!quire_project_field_paths(p, (size_t)n->producer,
					       p->bp->producers[us->target].name, n->idx, paths)) {
			if (!all)
				all = json_object();
			json_object_update(all, paths);
		}
		json_decref(paths);
		quire_error_clear();
	}
	/* Reading many upstream outputs for their fields ({{Item[<i].title}}, a collector's)
	 * would read them all at every plan: a node reading more than a few counts them whole. */
	int any = 0;
	if (json_object_size(all) > QUIRE__FVALS) {
		json_decref(all);
		all = NULL;
	}
	for (size_t k = 0; all && k < n->ndeps; k++)
		any |= fl[k] = json_object_get(all, plan->nodes[n->deps[k]].id) != NULL;
	if (!any) {
		json_decref(all);
		return NULL;
	}
	return all;
}

/* The parsed output with digest d (verified), kept in a few slots for the instances that read
 * the same upstream one after another; borrowed. NULL with an error set. */
static const json_t *value_of(const struct quire_plan *plan, const struct quire_project *p,
			      const char *d)
{
	struct quire__fvals *c = quire__plan_fvals(plan);
	for (size_t k = 0; k < QUIRE__FVALS; k++)
		if (c->v[k] && !strcmp(c->digest[k], d))
			return c->v[k];
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_blob_read(p->qdir, d, &b, FIELD_VALUE_CAP, 1);
	const char *in_out = json_string_value(json_object_get(p->in_out, d));
	if (err == QUIRE_ENOTFOUND && in_out) {
		/* run --dry-run in a clone: the out/ file the run will take in, hashed. */
		struct quire_digest got;
		quire_buf_reset(&b);
		quire_error_clear();
		err = quire_fs_read(in_out, &b, FIELD_VALUE_CAP);
		if (!err && (quire_hash_bytes(b.ptr ? b.ptr : "", b.len, &got), strcmp(got.s, d)))
			err = quire_error_set(QUIRE_ECORRUPT, "%s changed since it was hashed",
					      in_out);
	}
	json_t *v = NULL;
	if (!err) {
		json_error_t je;
		v = json_loadb(b.ptr ? b.ptr : "", b.len, JSON_DECODE_ANY, &je);
		if (!v)
			quire_error_set(QUIRE_ECORRUPT, "%s is not valid JSON: %s", d, je.text);
	}
	quire_buf_release(&b);
	if (!v)
		return NULL;
	size_t slot = c->next++ % QUIRE__FVALS;
	json_decref(c->v[slot]);
	c->v[slot] = v;
	memcpy(c->digest[slot], d, QUIRE_DIGEST_STRLEN);
	return v;
}

/* The digest of a value read: its canonical JSON's, or, for a value holding a real number
 * (which canonical JSON refuses), its compact sorted JSON with 17 significant digits: one
 * spelling for one double. */
static int value_digest(const json_t *x, struct quire_digest *d)
{
	if (!quire_hash_json(x, d))
		return 0;
	quire_error_clear();
	char *s = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
					JSON_REAL_PRECISION(17));
	if (!s)
		return quire_error_set(QUIRE_EINVALID, "a value that cannot be written as JSON");
	quire_hash_bytes(s, strlen(s), d);
	free(s);
	return 0;
}

/* The value at path (".chapters[1].title") in v, or NULL when it is not there. */
static const json_t *at_path(const json_t *v, const char *path)
{
	const char *s = path;
	while (v && *s) {
		if (*s == '.') {
			const char *e = s + 1 + strcspn(s + 1, ".[");
			v = json_is_object(v) ? json_object_getn(v, s + 1, (size_t)(e - s - 1))
					      : NULL;
			s = e;
		} else if (*s == '[') {
			char *e;
			long long k = strtoll(s + 1, &e, 10);
			if (*e != ']' || !json_is_array(v) || k < 0 ||
			    (size_t)k >= json_array_size(v))
				return NULL;
			v = json_array_get(v, (size_t)k);
			s = e + 1;
		} else {
			return NULL;
		}
	}
	return v;
}

static int cmp_fpair(const void *x, const void *y)
{
	return strcmp(((const struct quire__fpair *)x)->key, ((const struct quire__fpair *)y)->key);
}

int quire__plan_field_pairs(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			    const json_t *paths, const unsigned char *fl, const char *const *subst,
			    struct quire__fpair **out, size_t *count)
{
	const struct quire_node *n = &plan->nodes[i];
	struct quire__fpair *v = NULL;
	size_t nv = 0, alloc = 0;
	int err = 0;
	for (size_t k = 0; k < n->ndeps && !err; k++) {
		if (!fl[k])
			continue;
		const struct quire_node *u = &plan->nodes[n->deps[k]];
		const char *d = subst && subst[k] ? subst[k] : u->digest;
		const json_t *val = value_of(plan, p, d);
		if (!val && quire_error_code() != QUIRE_ECORRUPT &&
		    quire_error_code() != QUIRE_ENOTFOUND) {
			err = quire_error_code() ? quire_error_code() : QUIRE_EIO;
			break;
		}
		if (!val) {
			err = quire_error_set(
				QUIRE_ECORRUPT,
				"the stored output of '%s' is damaged (%s): 'quire "
				"fsck --repair' removes it, and the next run makes it "
				"again",
				u->id, quire_error_last());
			break;
		}
		size_t j;
		const json_t *path;
		json_array_foreach(json_object_get(paths, u->id), j, path) {
			QUIRE_GROW(v, alloc, nv + 1);
			v[nv].key = quire__xasprintf("%s%s", u->id, json_string_value(path));
			const json_t *x = at_path(val, json_string_value(path));
			v[nv].absent = !x;
			if (x && (err = value_digest(x, &v[nv].d))) {
				free(v[nv].key);
				break;
			}
			nv++;
		}
	}
	if (err) {
		quire__plan_free_fpairs(v, nv);
		return err;
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_fpair);
	/* A field read twice (an upstream used twice, a title in the prompt and the schema) is
	 * one. */
	size_t w = 0;
	for (size_t k = 0; k < nv; k++) {
		if (w && !strcmp(v[w - 1].key, v[k].key)) {
			free(v[k].key);
			continue;
		}
		v[w++] = v[k];
	}
	*out = v;
	*count = w;
	return 0;
}

void quire__plan_free_fpairs(struct quire__fpair *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(v[k].key);
	free(v);
}

static int same_pairs(const struct quire__fpair *a, size_t na, const struct quire__fpair *b,
		      size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t k = 0; k < na; k++)
		if (strcmp(a[k].key, b[k].key) || a[k].absent != b[k].absent ||
		    (!a[k].absent && strcmp(a[k].d.s, b[k].d.s)))
			return 0;
	return 1;
}

const char **quire__plan_recorded_digests(const struct quire_plan *plan, size_t i,
					  const json_t *deps, const unsigned char *fl)
{
	const struct quire_node *n = &plan->nodes[i];
	const json_t *up = json_object_get(deps, "upstream");
	json_t *parsed = NULL;
	if (json_is_string(up))
		up = parsed = json_loadb(json_string_value(up), json_string_length(up), 0, NULL);
	const char **old = quire__xcalloc(n->ndeps + 1, sizeof(char *));
	int all = 1;
	for (size_t k = 0; k < n->ndeps && all; k++) {
		if (!fl[k])
			continue;
		const char *id = plan->nodes[n->deps[k]].id;
		size_t j;
		const json_t *pair;
		json_array_foreach(up, j, pair) {
			const char *d = json_string_value(json_array_get(pair, 1));
			const char *pid = json_string_value(json_array_get(pair, 0));
			if (pid && !strcmp(id, pid) && d && quire_digest_valid(d)) {
				old[k] = quire__xstrdup(d);
				break;
			}
		}
		all = old[k] != NULL;
	}
	json_decref(parsed);
	if (!all) {
		quire__plan_free_digests(old, n->ndeps);
		return NULL;
	}
	return old;
}

void quire__plan_free_digests(const char **v, size_t n)
{
	for (size_t k = 0; v && k < n; k++)
		free((char *)v[k]);
	free(v);
}

/* Whether the entry of node i, recorded with its JSON upstreams named whole (before fields
 * were recorded), would have had the record computed now: everything but those upstreams is
 * the same, and the fields read from the outputs it names are the same as today's. An output
 * no longer in the store is no answer: never a guess. */
static int translate(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		     const struct quire_mrow *row, const json_t *paths, const unsigned char *fl,
		     const struct quire__fpair *now, size_t nnow)
{
	const struct quire_node *n = &plan->nodes[i];
	json_t *full = NULL;
	if (quire_manifest_peek_kept(plan->manifest, plan->base, n->id, &full) || !full) {
		quire_error_clear();
		return 0;
	}
	const json_t *deps = json_object_get(full, "deps");
	json_t *parsed = NULL;
	if (json_is_string(deps))
		deps = parsed = quire_json_loads_keeping(json_string_value(deps),
							 json_string_length(deps), "upstream", 0);
	int same = 0;
	const char **old = NULL;
	if (json_is_object(deps) && !json_object_get(deps, "fields"))
		old = quire__plan_recorded_digests(plan, i, deps, fl);
	if (old) {
		struct quire_digest was;
		struct quire__recopt o = { .subst = old };
		if (!quire__plan_record(plan, p, i, &o, &was, NULL) &&
		    !strcmp(was.s, row->fingerprint)) {
			struct quire__fpair *then;
			size_t nthen;
			if (!quire__plan_field_pairs(plan, p, i, paths, fl, old, &then, &nthen)) {
				same = same_pairs(then, nthen, now, nnow);
				quire__plan_free_fpairs(then, nthen);
			}
		}
	}
	quire_error_clear();
	quire__plan_free_digests(old, n->ndeps);
	json_decref(parsed);
	json_decref(full);
	return same;
}

int quire_plan_match(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		     const struct quire_mrow *row, int lazy, struct quire_digest *fp, char **deps,
		     int *same)
{
	const struct quire_node *n = &plan->nodes[i];
	const char *was = row ? row->fingerprint : NULL;
	*same = 0;
	if (deps)
		*deps = NULL;
	/* Most producers read no json upstream: nothing to allocate or look at for them. */
	const struct quire_producer *pr = &p->bp->producers[n->producer];
	int reads_json = 0;
	for (size_t k = 0; k < pr->nuses && !reads_json; k++)
		reads_json = !pr->uses[k].is_input &&
			     p->bp->producers[pr->uses[k].target].output.type == QUIRE_OUT_JSON;
	unsigned char *fl = reads_json ? quire__xcalloc(n->ndeps + 1, 1) : NULL;
	json_t *paths = fl ? quire__plan_fl(plan, p, i, fl) : NULL;
	struct quire__recopt whole = { 0 };
	int err = 0;
	if (!paths) {
		err = quire__plan_record(plan, p, i, &whole, fp, deps);
		*same = !err && was && !strcmp(was, fp->s);
		free(fl);
		return err;
	}
	/* Recorded before fields were (every upstream named whole) and nothing changed since:
	 * no output needs reading to know. */
	struct quire_digest w;
	if ((err = quire__plan_record(plan, p, i, &whole, &w, NULL)))
		goto out;
	if (lazy && was && !strcmp(was, w.s)) {
		*fp = w;
		*same = 1;
		goto out;
	}
	struct quire__fpair *fv;
	size_t nfv;
	if ((err = quire__plan_field_pairs(plan, p, i, paths, fl, NULL, &fv, &nfv)))
		goto out;
	struct quire__recopt o = { .fl = fl, .fields = fv, .nfields = nfv };
	err = quire__plan_record(plan, p, i, &o, fp, deps);
	if (!err && was)
		*same = !strcmp(was, fp->s) || !strcmp(was, w.s) ||
			translate(plan, p, i, row, paths, fl, fv, nfv);
	quire__plan_free_fpairs(fv, nfv);
out:
	json_decref(paths);
	free(fl);
	return err;
}

int quire_plan_fingerprint_v1(const struct quire_plan *plan, const struct quire_project *p,
			      size_t i, struct quire_digest *fp)
{
	struct quire__recopt whole = { 0 };
	return quire__plan_record(plan, p, i, &whole, fp, NULL);
}
