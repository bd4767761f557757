/* A project's history as data: the revision log, revision diffs, and a revision's status. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "quire/error.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "git.h"
#include "manifest_internal.h"
#include "objects.h"
#include "util.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static json_int_t num(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The revision named by a prefix of its digest (at least 7 hex digits), or by a number of
 * format 1 ("12" is rev-0012). */
static int resolve_name(const char *qdir, const char *given, char **rev)
{
	/* Digits as git shows them, or in capitals. */
	char *spec = quire__xstrdup(given);
	for (char *c = spec; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	size_t len = strlen(spec);
	int hex = len >= 7 && len <= 64, digits = len > 0;
	for (size_t k = 0; k < len; k++) {
		hex &= (spec[k] >= '0' && spec[k] <= '9') || (spec[k] >= 'a' && spec[k] <= 'f');
		digits &= spec[k] >= '0' && spec[k] <= '9';
	}
	char **names = NULL;
	size_t n = 0, hits = 0;
	const char *hit = NULL;
	if (hex && !quire_manifest_list(qdir, &names, &n))
		for (size_t k = 0; k < n; k++)
			if (quire_rev_is_digest(names[k]) && !strncmp(names[k], spec, len) &&
			    hits++ == 0)
				hit = names[k];
	/* A revision made in format 1 is named by its old name too (its alias, once converted):
	 * a commit message or a script may still quote it. */
	char *aliased = NULL;
	size_t ahits = 0;
	if (!hits &&
	    (hex || (quire_rev_parse(spec) > 0 && (digits || !strncmp(spec, "rev-", 4))))) {
		char name[QUIRE_REV_MAX];
		if (hex)
			snprintf(name, sizeof(name), "%s", spec);
		else
			quire_rev_format(quire_rev_parse(spec), name, sizeof(name));
		char *path = quire__xasprintf("%s/manifests/%s.json", qdir, name);
		if ((hex || access(path, F_OK) != 0) &&
		    quire__rev2_alias(qdir, name, &aliased, &ahits))
			quire_error_clear();
		free(path);
		if (ahits == 1) {
			hits = 1;
			hit = aliased;
		} else if (ahits > 1) {
			hits = ahits;
		}
	}
	int err = 0;
	if (hits > 1) {
		err = quire_error_set(QUIRE_EINVALID,
				      "'%s' names %zu revisions: give more of its digits", spec,
				      hits);
	} else if (hits == 1) {
		*rev = quire__xstrdup(hit);
	} else if (quire_rev_parse(spec) > 0 && (digits || !strncmp(spec, "rev-", 4))) {
		char name[QUIRE_REV_MAX];
		quire_rev_format(quire_rev_parse(spec), name, sizeof(name));
		char *path = quire__xasprintf("%s/manifests/%s.json", qdir, name);
		if (access(path, F_OK) == 0)
			*rev = quire__xstrdup(name);
		else if (hex)
			err = quire_error_set(QUIRE_ENOTFOUND,
					      "no revision's name starts with '%s'", spec);
		else if (digits)
			err = quire_error_set(
				QUIRE_ENOTFOUND,
				"no revision is numbered %s (numbers name revisions made "
				"before names were digests, rev-NNNN; 'quire inspect "
				"--log' lists the names)",
				spec);
		else
			err = quire_error_set(QUIRE_ENOTFOUND, "revision %s does not exist", name);
		free(path);
	} else if (hex) {
		err = quire_error_set(QUIRE_ENOTFOUND, "no revision's name starts with '%s'", spec);
	} else {
		err = quire_error_set(QUIRE_EINVALID,
				      "'%s' is not a revision (a name, at least 7 of its first "
				      "digits, current or current~N; rev-NNNN for a revision "
				      "made before names were digests)",
				      spec);
	}
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(aliased);
	free(spec);
	return err;
}

int quire_revision_resolve(const char *qdir, const char *spec, char **rev)
{
	*rev = NULL;
	long back = 0;
	const char *rest = NULL;
	if (strncmp(spec, "current", 7))
		return resolve_name(qdir, spec, rev);
	rest = spec + 7;
	if (!strcmp(rest, "^")) {
		back = 1;
	} else if (*rest == '~') {
		char *end;
		back = rest[1] ? strtol(rest + 1, &end, 10) : 1;
		if ((rest[1] && *end) || back < 0)
			return quire_error_set(QUIRE_EINVALID,
					       "'%s' is not a revision (current~N counts back N "
					       "revisions)",
					       spec);
	} else if (*rest) {
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a revision", spec);
	}
	char *cur = NULL;
	int err = quire_manifest_current(qdir, &cur);
	if (err)
		return err;
	if (!cur)
		return quire_error_set(QUIRE_ENOTFOUND, "nothing has been committed yet");
	for (long k = 0; k < back; k++) {
		char *ps[2];
		size_t np = 0;
		if ((err = quire_manifest_parents(qdir, cur, ps, &np))) {
			free(cur);
			return err;
		}
		if (!np) {
			err = quire_error_set(
				QUIRE_ENOTFOUND,
				"'%s' goes back past the first revision (%.12s has no "
				"parent)",
				spec, cur);
			free(cur);
			return err;
		}
		free(cur);
		cur = ps[0]; /* the first parent: the line this clone followed */
		if (np > 1)
			free(ps[1]);
	}
	*rev = cur;
	return 0;
}

/* Revision name's place in history: one more than its parents' largest (1 for the first);
 * memo maps names to it. Iterative (a history of thousands of revisions). */
static json_int_t generation(json_t *memo, const json_t *heads, const char *name)
{
	json_t *stack = json_array();
	json_array_append_new(stack, json_string(name));
	while (json_array_size(stack)) {
		const char *r =
			json_string_value(json_array_get(stack, json_array_size(stack) - 1));
		if (json_object_get(memo, r)) {
			json_array_remove(stack, json_array_size(stack) - 1);
			continue;
		}
		const json_t *h = json_object_get(heads, r);
		const json_t *ps = json_object_get(h, "parents");
		json_t *list = json_array();
		if (json_is_array(ps))
			json_array_extend(list, (json_t *)ps);
		else if (json_is_string(json_object_get(h, "parent")))
			json_array_append(list, json_object_get(h, "parent"));
		json_int_t g = 1;
		int ready = 1;
		size_t k;
		json_t *p;
		json_array_foreach(list, k, p) {
			const char *pn = json_string_value(p);
			if (!pn || !json_object_get(heads, pn))
				continue; /* a parent not on disk counts as none */
			json_t *pg = json_object_get(memo, pn);
			if (!pg) {
				ready = 0;
				json_array_append(stack, p);
			} else if (json_integer_value(pg) + 1 > g) {
				g = json_integer_value(pg) + 1;
			}
		}
		json_decref(list);
		if (ready) {
			json_object_set_new(memo, r, json_integer(g));
			json_array_remove(stack, json_array_size(stack) - 1);
		}
	}
	json_decref(stack);
	return json_integer_value(json_object_get(memo, name));
}

struct logged {
	json_int_t gen;
	json_t *row;
};

static int cmp_logged(const void *x, const void *y)
{
	const struct logged *a = x, *b = y;
	if (a->gen != b->gen)
		return a->gen < b->gen ? -1 : 1;
	int c = strcmp(str(a->row, "created"), str(b->row, "created"));
	if (c)
		return c;
	return strcmp(str(a->row, "revision"), str(b->row, "revision"));
}

static json_t *log_row(const char *rev, const json_t *m, long long narts, const json_t *commits)
{
	const json_t *c = json_object_get(m, "counts");
	json_t *row = json_pack(
		"{s:s,s:O?,s:O?,s:O?,s:I,s:I,s:I,s:I,s:I,s:I}", "revision", rev, "parent",
		json_object_get(m, "parent"), "created", json_object_get(m, "created"), "message",
		json_object_get(m, json_object_get(m, "message") ? "message" : "command"),
		"produced", num(c, "produced"), "cached", num(c, "cached"), "failed",
		num(c, "failed"), "edited",
		num(c, "edited") + num(c, "approved") + num(c, "feedback"), "cost_micro",
		num(c, "cost_micro"), "artefacts", (json_int_t)narts);
	if (json_is_array(json_object_get(m, "parents")))
		json_object_set(row, "parents", json_object_get(m, "parents"));
	if (num(c, "accepted"))
		json_object_set_new(row, "accepted", json_integer(num(c, "accepted")));
	if (json_object_get(m, "restored_from"))
		json_object_set(row, "restored_from", json_object_get(m, "restored_from"));
	if (json_is_true(json_object_get(m, "recovered")))
		json_object_set_new(row, "recovered", json_true());
	/* A converted revision was brought in by the commit that holds its format-1 file. */
	const char *alias = json_string_value(json_object_get(m, "alias"));
	if (alias && json_object_get(commits, alias))
		json_object_set(row, "git", json_object_get(commits, alias));
	else if (json_object_get(commits, rev))
		json_object_set(row, "git", json_object_get(commits, rev));
	return row;
}

int quire_history_log(const char *qdir, json_t **out)
{
	char **names = NULL;
	size_t n = 0;
	quire_manifest_list(qdir, &names, &n);
	json_t *rows = json_array();
	/* The commits that hold them, when the project is versioned with git. */
	char *root = quire__xstrdup(qdir);
	char *slash = strrchr(root, '/');
	if (slash)
		*slash = '\0';
	json_t *commits = quire__git_revisions(slash ? root : ".");
	free(root);
	json_t *heads = json_object(), *memo = json_object();
	struct logged *list = quire__xcalloc(n + 1, sizeof(*list));
	size_t nl = 0;
	struct quire_objs *objs = NULL;
	for (size_t k = 0; k < n; k++) {
		json_t *m = NULL;
		long long narts = 0;
		/* One handle on the objects for every format-2 revision (its own object read,
		 * nothing under it). */
		int herr = quire__rev2_here(qdir, names[k])
				   ? quire__rev2_read(qdir, &objs, names[k], QUIRE__REV2_ALIAS, &m,
						      &narts)
				   : quire_manifest_head(qdir, names[k], &m, &narts);
		if (herr) {
			/* A damaged file: say so, go on (it sorts first). */
			list[nl++].row = json_pack("{s:s,s:s}", "revision", names[k], "error",
						   quire_error_last());
			quire_error_clear();
			continue;
		}
		list[nl++].row = log_row(names[k], m, narts, commits);
		json_object_set_new(heads, names[k], m);
	}
	/* Oldest first: by generation (parents before children), then by name. */
	for (size_t k = 0; k < nl; k++)
		if (!json_object_get(list[k].row, "error"))
			list[k].gen = generation(memo, heads, str(list[k].row, "revision"));
	if (nl > 1)
		qsort(list, nl, sizeof(*list), cmp_logged);
	for (size_t k = 0; k < nl; k++)
		json_array_append_new(rows, list[k].row);
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	free(list);
	quire_objs_free(objs);
	json_decref(heads);
	json_decref(memo);
	json_decref(commits);
	*out = rows;
	return 0;
}

static int is_text(const json_t *e)
{
	const char *t = json_string_value(json_object_get(e, "type"));
	return t && (!strcmp(t, "text") || !strcmp(t, "json"));
}

json_t *quire_manifest_diff(const json_t *ma, const json_t *mb)
{
	json_t *inputs = json_array(), *added = json_array(), *removed = json_array(),
	       *changed = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(mb, "inputs"), k, v) {
		const json_t *o = json_object_get(json_object_get(ma, "inputs"), k);
		if (!o || strcmp(str(o, "digest"), str(v, "digest")))
			json_array_append_new(
				inputs, json_pack("{s:s,s:O,s:O}", "name", k, "from",
						  o ? json_object_get(o, "value") : json_null(),
						  "to", json_object_get(v, "value")));
	}
	const json_t *aa = json_object_get(ma, "artefacts"), *ab = json_object_get(mb, "artefacts");
	json_object_foreach((json_t *)ab, k, v) {
		const json_t *o = json_object_get(aa, k);
		if (!o) {
			json_array_append_new(added, json_string(k));
			continue;
		}
		if (!strcmp(str(o, "digest"), str(v, "digest")) &&
		    !strcmp(str(o, "status"), str(v, "status")))
			continue;
		json_array_append_new(
			changed,
			json_pack("{s:s,s:s,s:s,s:O,s:O,s:b}", "id", k, "from", str(o, "status"),
				  "to", str(v, "status"), "digest_from",
				  json_object_get(o, "digest") ? json_object_get(o, "digest")
							       : json_null(),
				  "digest_to",
				  json_object_get(v, "digest") ? json_object_get(v, "digest")
							       : json_null(),
				  "text", is_text(v) && is_text(o)));
	}
	json_object_foreach((json_t *)aa, k, v)
		if (!json_object_get(ab, k))
			json_array_append_new(removed, json_string(k));
	return json_pack(
		"{s:O,s:O,s:o,s:{s:o,s:o,s:o}}", "from",
		json_object_get(ma, "revision") ? json_object_get(ma, "revision") : json_null(),
		"to",
		json_object_get(mb, "revision") ? json_object_get(mb, "revision") : json_null(),
		"inputs", inputs, "artefacts", "added", added, "removed", removed, "changed",
		changed);
}

/* Per artefact of base, {digest, status, ext} from its row. */
static json_t *row_entries(const struct quire_mbase *base)
{
	json_t *arts = json_object();
	size_t nrows;
	const struct quire_mrow *rows = quire_mbase_rows(base, &nrows);
	for (size_t k = 0; k < nrows; k++) {
		json_t *e = json_object();
		if (rows[k].digest)
			json_object_set_new(e, "digest", json_string(rows[k].digest));
		if (rows[k].status)
			json_object_set_new(e, "status", json_string(rows[k].status));
		if (rows[k].ext)
			json_object_set_new(e, "ext", json_string(rows[k].ext));
		json_object_set_new(arts, rows[k].id, e);
	}
	return arts;
}

/* Revision rev as the diff reads it, from its head and its index's rows: its name, inputs
 * and, per artefact, digest and status (rows differing from other's get their type, parsed
 * from the entry alone). NULL when it has no usable index. */
static json_t *diff_view(const char *qdir, const char *rev, json_t **slim,
			 struct quire_mbase **base)
{
	json_t *head = NULL;
	long long n;
	quire_manifest_load_index(qdir, rev, slim, base);
	if (!*base || quire_manifest_head(qdir, rev, &head, &n)) {
		quire_error_clear();
		json_decref(head);
		return NULL;
	}
	json_object_set_new(head, "artefacts", row_entries(*base));
	return head;
}

int quire_revision_view(const char *qdir, const char *rev, json_t **out)
{
	json_t *slim = NULL;
	struct quire_mbase *base = NULL;
	*out = diff_view(qdir, rev, &slim, &base);
	json_decref(slim);
	quire_mbase_free(base);
	return *out ? 0 : quire_manifest_load(qdir, rev, out);
}

/* The type of each artefact the two views differ on, from its entry alone. */
static int add_types(json_t *view, json_t *slim, struct quire_mbase *base, const json_t *other)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(view, "artefacts"), k, v) {
		const json_t *o = json_object_get(json_object_get(other, "artefacts"), k);
		if (!o || (!strcmp(str(o, "digest"), str(v, "digest")) &&
			   !strcmp(str(o, "status"), str(v, "status"))))
			continue;
		json_t *e = NULL;
		int err = quire_manifest_materialise(slim, base, k, &e);
		if (err)
			return err;
		if (e && json_object_get(e, "type"))
			json_object_set(v, "type", json_object_get(e, "type"));
	}
	return 0;
}

/* The diff from the two revisions' indexes, parsing only the entries that differ: 1 with *out
 * set, 0 when an index is missing (the manifests are read whole), or an error. */
static int diff_by_rows(const char *qdir, const char *ra, const char *rb, json_t **out)
{
	json_t *sa = NULL, *sb = NULL, *va = NULL, *vb = NULL;
	struct quire_mbase *ba = NULL, *bb = NULL;
	int done = 0;
	va = diff_view(qdir, ra, &sa, &ba);
	vb = va ? diff_view(qdir, rb, &sb, &bb) : NULL;
	if (va && vb) {
		int err = add_types(va, sa, ba, vb);
		if (!err)
			err = add_types(vb, sb, bb, va);
		if (!err)
			*out = quire_manifest_diff(va, vb);
		done = err ? err : 1;
	}
	json_decref(va);
	json_decref(vb);
	json_decref(sa);
	json_decref(sb);
	quire_mbase_free(ba);
	quire_mbase_free(bb);
	return done;
}

struct tree_diff {
	json_t *aa, *ab; /* the entries that differ, per side */
};

/* What a view keeps of an entry: what a diff compares and shows, what out/ names its file
 * by, and the record a rewind's event is a delta of (an outline change at 10k differs in
 * every entry: two sides of 10,000 whole entries were 85 MB). New reference. */
static json_t *view_entry(const json_t *e)
{
	static const char *const keep[] = { "digest", "status", "type", "ext", "fingerprint" };
	json_t *v = json_object();
	for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		json_t *x = json_object_get(e, keep[k]);
		if (x)
			json_object_set_nocheck(v, keep[k], x);
	}
	return v;
}

static int tree_visit(void *ud, const char *id, const json_t *ea, const json_t *eb)
{
	const struct tree_diff *t = ud;
	if (ea)
		json_object_set(t->aa, id, (json_t *)ea);
	if (eb)
		json_object_set(t->ab, id, (json_t *)eb);
	return 0;
}

int quire_revision_views_by_change(const char *qdir, const char *ra, const char *rb, int files,
				   json_t **va, json_t **vb)
{
	*va = *vb = NULL;
	if (!quire__rev2_here(qdir, ra) || !quire__rev2_here(qdir, rb))
		return 0;
	struct quire_objs *o = NULL;
	int parts = QUIRE_REV2_INPUTS | (files ? QUIRE_REV2_FILES : 0);
	struct tree_diff t = { json_object(), json_object() };
	/* A damaged pack is named, with the way to mend it. */
	int err = quire__rev2_read(qdir, &o, rb, parts, vb, NULL);
	if (!err)
		err = quire__rev2_read(qdir, &o, ra, parts, va, NULL);
	if (!err &&
	    (err = quire_rev2_diff_kept(o, ra, rb, view_entry, tree_visit, &t)) == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ECORRUPT,
				      "revisions %.12s and %.12s: %s (a damaged pack: restore the "
				      "packs from git, 'git checkout -- .quire/revs/'; 'quire "
				      "fsck' lists what else is damaged)",
				      ra, rb, quire_error_last());
	if (!err) {
		json_object_set(*va, "artefacts", t.aa);
		json_object_set(*vb, "artefacts", t.ab);
	} else {
		json_decref(*va);
		json_decref(*vb);
		*va = *vb = NULL;
	}
	json_decref(t.aa);
	json_decref(t.ab);
	quire_objs_free(o);
	return err ? err : 1;
}

/* The diff of two format-2 revisions from their trees: each one's own object and inputs, and
 * the tree nodes whose names differ, not the revisions whole. 1 with *out set, 0 when either
 * is not in format 2, or an error. */
static int diff_by_tree(const char *qdir, const char *ra, const char *rb, json_t **out)
{
	json_t *va, *vb;
	int got = quire_revision_views_by_change(qdir, ra, rb, 0, &va, &vb);
	if (got == 1)
		*out = quire_manifest_diff(va, vb);
	json_decref(va);
	json_decref(vb);
	return got;
}

int quire_revision_diff(const char *qdir, const char *a, const char *b, json_t **out)
{
	*out = NULL;
	json_t *ma = NULL, *mb = NULL;
	char *ra = NULL, *rb = NULL;
	int err = quire_revision_resolve(qdir, a, &ra);
	if (!err)
		err = quire_revision_resolve(qdir, b, &rb);
	/* Only what differs is read: from the trees of two format-2 revisions, else when both
	 * revisions have their index, from its rows. */
	int by_rows = err ? 0 : diff_by_tree(qdir, ra, rb, out);
	if (!by_rows && !err)
		by_rows = diff_by_rows(qdir, ra, rb, out);
	if (by_rows < 0)
		err = by_rows;
	if (!err && !by_rows)
		err = quire_manifest_load(qdir, ra, &ma);
	if (!err && !by_rows)
		err = quire_manifest_load(qdir, rb, &mb);
	free(ra);
	free(rb);
	if (!err && !by_rows)
		*out = quire_manifest_diff(ma, mb);
	json_decref(ma);
	json_decref(mb);
	return err;
}

json_t *quire_revision_status(const json_t *m)
{
	json_t *groups = json_pack("{s:[],s:[],s:[],s:[],s:[]}", "failed", "stale",
				   "pending-review", "user-edited", "blocked");
	json_int_t cost = 0;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(m, "artefacts"), k, v) {
		json_t *g = json_object_get(groups, str(v, "status"));
		if (g)
			json_array_append_new(g, json_string(k));
		cost += num(v, "cost_micro");
	}
	return json_pack("{s:O,s:o,s:I}", "revision",
			 json_object_get(m, "revision") ? json_object_get(m, "revision")
							: json_null(),
			 "artefacts", groups, "total_cost_micro", cost);
}

json_t *quire_plan_attention(const struct quire_plan *plan)
{
	json_t *groups = json_pack("{s:[],s:[],s:[],s:[],s:[]}", "failed", "stale",
				   "pending-review", "user-edited", "blocked");
	size_t n;
	const struct quire_mrow *rows = quire_mbase_rows(plan->base, &n);
	for (size_t k = 0; k < n; k++) {
		json_t *g = rows[k].status ? json_object_get(groups, rows[k].status) : NULL;
		if (g)
			json_array_append_new(g, json_string(rows[k].id));
	}
	return json_pack("{s:O,s:o}", "revision",
			 json_object_get(plan->manifest, "revision")
				 ? json_object_get(plan->manifest, "revision")
				 : json_null(),
			 "artefacts", groups);
}
