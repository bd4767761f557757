/* Merging two lines of history (two clones that each ran, merged by git): the three-way merge
 * of their artefacts against the merge base, committed by the next writer as a revision with
 * two parents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/store.h"
#include "git.h"
#include "run_commit.h"
#include "util.h"

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int collect(void *ud, const char *rev)
{
	json_object_set_new(ud, rev, json_true());
	return 0;
}

struct base_search {
	const json_t *of_a;
	char *found;
};

static int first_shared(void *ud, const char *rev)
{
	struct base_search *b = ud;
	if (json_object_get(b->of_a, rev))
		b->found = quire__xstrdup(rev);
	return b->found != NULL;
}

/* The nearest revision both a and b descend from (malloc'd), or NULL when they share none:
 * the first of a's ancestors met walking back from b. */
static char *merge_base(const char *qdir, const char *a, const char *b)
{
	json_t *of_a = json_object();
	quire_manifest_walk(qdir, a, collect, of_a);
	struct base_search s = { of_a, NULL };
	quire_manifest_walk(qdir, b, first_shared, &s);
	json_decref(of_a);
	return s.found;
}

static int has_take(const json_t *takes, const char *digest)
{
	size_t k;
	json_t *t;
	json_array_foreach(takes, k, t)
		if (str(t, "digest") && digest && !strcmp(str(t, "digest"), digest))
			return 1;
	return 0;
}

/* Items of add not already in to, appended to to. */
static void append_new(json_t *to, const json_t *add)
{
	size_t k, j;
	json_t *v, *w;
	json_array_foreach(add, k, v) {
		int there = 0;
		json_array_foreach(to, j, w)
			there |= json_equal(v, w);
		if (!there)
			json_array_append(to, v);
	}
}

/* A hand edit: never regenerated until released (as the planner reads it). */
static int pinned(const json_t *e)
{
	const char *s = str(e, "status");
	return s && !strcmp(s, "user-edited");
}

/* An entry both sides changed: shown's output stays shown, every take of other joins its
 * takes (numbered after shown's: take numbers are per clone), an approval of the shown
 * output from either side stands, and feedback is shown's notes then other's new ones. */
static json_t *merge_changed(const json_t *shown, const json_t *other, const char *other_rev)
{
	json_t *e = json_deep_copy(shown);
	/* Both wrote it by hand: the other writer's text is no take (takes are generated); it is
	 * named here, and the merge puts it beside the project for the writer to choose. */
	if (pinned(shown) && pinned(other) && str(other, "digest") && str(shown, "digest") &&
	    strcmp(str(other, "digest"), str(shown, "digest")))
		json_object_set_new(
			e, "other_edit",
			json_pack("{s:s,s:s}", "digest", str(other, "digest"), "from", other_rev));
	json_t *takes = json_object_get(e, "takes");
	if (!json_is_array(takes)) {
		takes = json_array();
		json_object_set_new(e, "takes", takes);
	}
	json_int_t next = json_integer_value(json_object_get(e, "take"));
	size_t k;
	json_t *t;
	json_array_foreach(takes, k, t)
		if (json_integer_value(json_object_get(t, "take")) > next)
			next = json_integer_value(json_object_get(t, "take"));
	json_array_foreach(json_object_get(other, "takes"), k, t) {
		if (has_take(takes, str(t, "digest")))
			continue;
		json_t *c = json_deep_copy(t);
		json_object_set_new(c, "take", json_integer(++next));
		json_array_append_new(takes, c);
	}
	const char *approved = str(other, "approved_digest");
	if (!str(e, "approved_digest") && approved && str(e, "digest") &&
	    !strcmp(approved, str(e, "digest"))) {
		json_object_set_new(e, "approved_digest", json_string(approved));
		/* Approved on the other side: no longer waiting for review here either. */
		if (str(e, "status") && !strcmp(str(e, "status"), "pending-review"))
			json_object_set_new(e, "status", json_string("clean"));
	}
	const json_t *fb = json_object_get(other, "feedback");
	if (json_array_size(fb)) {
		if (!json_is_array(json_object_get(e, "feedback")))
			json_object_set_new(e, "feedback", json_array());
		append_new(json_object_get(e, "feedback"), fb);
	}
	return e;
}

/* The merged entry of one artefact (new reference), or NULL when the merge removes it. */
static json_t *merge_entry(const json_t *o, const json_t *a, const json_t *b, const char *ra,
			   const char *rb)
{
	if (a && b && json_equal(a, b))
		return json_incref((json_t *)a);
	if (!b) /* removed on b's side: gone, unless a changed it since */
		return o && json_equal(o, a) ? NULL : json_incref((json_t *)a);
	if (!a)
		return o && json_equal(o, b) ? NULL : json_incref((json_t *)b);
	if (o && json_equal(o, b))
		return json_incref((json_t *)a);
	if (o && json_equal(o, a))
		return json_incref((json_t *)b);
	/* Both changed it: a pin (a writer's text) beats a regeneration. */
	if (pinned(b) && !pinned(a))
		return merge_changed(b, a, ra);
	return merge_changed(a, b, rb);
}

/* The outputs m shows or lists that the store lacks, taken from the git history's out/. */
static void adopt_from_git(const char *root, const char *qdir, const json_t *m)
{
	struct quire_project *p = NULL;
	char *out_dir = NULL;
	if (quire_project_open(&p, root)) {
		quire_error_clear();
		out_dir = quire__xstrdup("out");
	} else {
		out_dir = quire__xstrdup(p->out_dir);
		quire_project_free(p);
	}
	const char **paths = NULL, **digests = NULL;
	size_t n = 0, alloc = 0;
	const char *id;
	json_t *e;
	json_object_foreach(json_object_get(m, "artefacts"), id, e) {
		char *name = quire_out_name(id, e);
		json_t *want = json_array();
		json_array_append(want, json_object_get(e, "digest"));
		size_t k;
		json_t *t;
		json_array_foreach(json_object_get(e, "takes"), k, t)
			json_array_append(want, json_object_get(t, "digest"));
		if (json_object_get(e, "other_edit"))
			json_array_append(
				want, json_object_get(json_object_get(e, "other_edit"), "digest"));
		json_array_foreach(want, k, t) {
			const char *d = json_string_value(t);
			if (!d || quire_blob_exists(qdir, d))
				continue;
			QUIRE_GROW(paths, alloc, n + 1);
			digests = quire__xrealloc(digests, alloc * sizeof(*digests));
			paths[n] = quire__xasprintf("%s/%s", out_dir, name);
			digests[n++] = d;
		}
		json_decref(want);
		free(name);
	}
	unsigned char *found = quire__xcalloc(n + 1, 1);
	if (n)
		quire__git_adopt(root, qdir, paths, digests, n, found);
	for (size_t k = 0; k < n; k++)
		free((char *)paths[k]);
	free(found);
	free(paths);
	free(digests);
	free(out_dir);
}

/* Entry e without the other hand edit an earlier merge noted (a new reference): only this
 * merge's are said, and an old note must not make two sides differ. */
static json_t *plain(const json_t *e)
{
	if (!json_object_get(e, "other_edit"))
		return json_incref((json_t *)e);
	json_t *c = json_deep_copy(e);
	json_object_del(c, "other_edit");
	return c;
}

int quire_merge_build(const char *root, const char *qdir, struct quire_store *store, const char *a,
		      const char *b, json_t **out)
{
	*out = NULL;
	/* The first parent is the line this clone was on: what it committed last. */
	const char *heads[2] = { a, b };
	int first = strcmp(a, b) <= 0 ? 0 : 1;
	int mine = store ? quire_store_last_committed(store, heads, 2) : -1;
	if (mine >= 0)
		first = mine;
	const char *ours = heads[first], *theirs = heads[!first];
	json_t *ma = NULL, *mb = NULL, *mo = NULL;
	char *base = merge_base(qdir, ours, theirs);
	int err = quire_manifest_load(qdir, ours, &ma);
	if (!err)
		err = quire_manifest_load(qdir, theirs, &mb);
	if (!err && base)
		err = quire_manifest_load(qdir, base, &mo);
	if (err) {
		json_decref(ma);
		json_decref(mb);
		free(base);
		return err;
	}
	json_t *arts = json_object();
	const json_t *aa = json_object_get(ma, "artefacts"), *ab = json_object_get(mb, "artefacts"),
		     *ao = json_object_get(mo, "artefacts");
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)aa, id, e) {
		json_t *so = plain(json_object_get(ao, id)), *sa = plain(e),
		       *sb = plain(json_object_get(ab, id));
		json_t *x = merge_entry(so, sa, sb, ours, theirs);
		if (x)
			json_object_set_new(arts, id, x);
		json_decref(so);
		json_decref(sa);
		json_decref(sb);
	}
	json_object_foreach((json_t *)ab, id, e) {
		if (json_object_get(aa, id))
			continue;
		json_t *so = plain(json_object_get(ao, id)), *sb = plain(e);
		json_t *x = merge_entry(so, NULL, sb, ours, theirs);
		if (x)
			json_object_set_new(arts, id, x);
		json_decref(so);
		json_decref(sb);
	}
	/* What the project read is the first parent's until the next run records it; no
	 * creation time, so two clones merging the same heads the same way make one revision. */
	char msg[200];
	snprintf(msg, sizeof(msg), "merge %.12s and %.12s", ours, theirs);
	json_t *m = json_pack("{s:i,s:s,s:s,s:[s,s],s:n,s:s,s:s,s:O?,s:O?,s:O?,s:o,s:{}}", "format",
			      1, "revision", QUIRE_REV_PENDING, "parent", ours, "parents", ours,
			      theirs, "created", "command", "quire merge", "message", msg, "git",
			      json_object_get(ma, "git"), "inputs", json_object_get(ma, "inputs"),
			      "files", json_object_get(ma, "files"), "artefacts", arts, "counts");
	json_object_set_new(m, "merge_base", base ? json_string(base) : json_null());
	json_decref(ma);
	json_decref(mb);
	json_decref(mo);
	free(base);
	adopt_from_git(root, qdir, m);
	*out = m;
	return 0;
}

/* The two lines of history .quire/current names, or none (*n 0 or 1). */
static int two_heads(const char *qdir, char ***heads, size_t *n)
{
	int err = quire_manifest_heads(qdir, heads, n);
	if (!err && *n > 2)
		err = quire_error_set(QUIRE_ECONFLICT,
				      ".quire/current names %zu lines of history: quire merges two "
				      "at a time (keep two of its lines, run, then add the next)",
				      *n);
	if (err || *n < 2) {
		for (size_t k = 0; k < *n; k++)
			free((*heads)[k]);
		free(*heads);
		*heads = NULL;
		*n = 0;
	}
	return err;
}

int quire_merge_preview(const char *root, const char *qdir, struct quire_store *store, json_t **out)
{
	*out = NULL;
	char **heads;
	size_t n;
	int err = two_heads(qdir, &heads, &n);
	if (!err && n == 2)
		err = quire_merge_build(root, qdir, store, heads[0], heads[1], out);
	for (size_t k = 0; k < n; k++)
		free(heads[k]);
	free(heads);
	return err;
}

int quire_takes_remember_entry(struct quire_store *store, const char *qdir, const json_t *e,
			       int present)
{
	int err = 0;
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(e, "takes"), k, t) {
		const char *fp = str(t, "fingerprint"), *d = str(t, "digest");
		/* An output accepted with 'run --touch' was not made for its fingerprint. */
		if (!fp || !d || json_is_true(json_object_get(t, "accepted")) ||
		    (present && !quire_blob_exists(qdir, d)))
			continue;
		json_t *have = NULL;
		if (present && (err = quire_store_ac_get(store, fp, &have)) == 0 && have) {
			json_decref(have);
			continue; /* the row this store made stands */
		}
		json_t *ac = json_pack("{s:s}", "digest", d);
		if (json_is_integer(json_object_get(t, "size")))
			json_object_set(ac, "size", json_object_get(t, "size"));
		if (!err)
			err = quire_store_ac_put(store, fp, ac);
		json_decref(ac);
		if (err)
			break;
	}
	return err;
}

int quire_takes_remember(struct quire_store *store, const char *qdir, const json_t *m, int present)
{
	int err = 0;
	const char *id;
	json_t *e;
	json_object_foreach(json_object_get(m, "artefacts"), id, e) {
		if ((err = quire_takes_remember_entry(store, qdir, e, present)))
			break;
	}
	return err;
}

/* The other writer's text of each artefact both wrote by hand, put in .quire/edits/ (kept
 * there: never overwritten), and a note for each in notes. */
static void other_edits(const char *root, const char *qdir, const json_t *m, json_t *notes)
{
	const char *id;
	json_t *e;
	json_object_foreach(json_object_get(m, "artefacts"), id, e) {
		const json_t *oe = json_object_get(e, "other_edit");
		const char *d = str(oe, "digest"), *from = str(oe, "from");
		if (!d || !from)
			continue;
		char *name = quire_out_name(id, e);
		char *dot = strrchr(name, '.');
		char *rel = quire__xasprintf(".quire/edits/%.*s.from-%.12s%s",
					     (int)(dot ? dot - name : (long)strlen(name)), name,
					     from, dot ? dot : "");
		char *path = quire__xasprintf("%s/%s", root, rel);
		char *dir = quire__xasprintf("%s/.quire/edits", root);
		struct quire_buf b = QUIRE_BUF_INIT;
		int have = !quire_blob_read(qdir, d, &b, QUIRE_TEXT_CAP, 1) &&
			   !quire_fs_mkdirs(dir, 0700) &&
			   (access(path, F_OK) == 0 ||
			    !quire_fs_write_atomic(path, b.ptr ? b.ptr : "", b.len, 0600));
		quire_error_clear();
		if (!notes)
			;
		else if (have)
			json_array_append_new(
				notes,
				json_sprintf("%s: both clones wrote it by hand; this clone's "
					     "text is shown, the other's (%.12s) is in %s: "
					     "'quire edit %s --file %s' takes it",
					     id, from, rel, id, rel));
		else
			json_array_append_new(
				notes,
				json_sprintf("%s: both clones wrote it by hand; this clone's "
					     "text is shown, the other's is in revision %.12s "
					     "('quire show %.12s %s')",
					     id, from, from, id));
		quire_buf_release(&b);
		free(dir);
		free(path);
		free(rel);
		free(name);
	}
}

int quire_merge_record_project(struct quire_project *p, struct quire_store *store, json_t *m,
			       int keep)
{
	/* A project that does not load (a rewind may be what mends it) or whose files cannot be
	 * read keeps the first parent's record: the merge must not need the project whole. */
	if (!p->bp)
		return 0;
	int err = quire_project_hash_files(p, store);
	if (!err && keep)
		err = quire__run_snapshot(p, NULL, NULL);
	if (err == QUIRE_EINVALID || err == QUIRE_ENOTFOUND) {
		quire_error_clear();
		return 0;
	}
	if (err)
		return err;
	struct quire_buf files = QUIRE_BUF_INIT;
	quire_project_files_text(p, &files);
	json_t *f = json_loads(files.ptr ? files.ptr : "{}", 0, NULL);
	quire_buf_release(&files);
	if (!f)
		return quire_error_set(QUIRE_ERROR,
				       "internal: the project's file list is not JSON");
	json_object_set_new(m, "files", f);
	json_object_set_new(m, "inputs", quire_project_inputs_record(p));
	return 0;
}

/* Commits the transaction when err is 0, else rolls it back; err or the commit's. */
static int end_transaction(struct quire_store *store, int err)
{
	if (!err)
		return quire_store_commit(store);
	quire_store_rollback(store);
	return err;
}

int quire_merge_commit(const char *root, const char *qdir, struct quire_store *store, json_t *m,
		       char *merged, json_t *notes)
{
	merged[0] = '\0';
	char name[QUIRE_REV_MAX];
	/* Blobs adopted from git are written without fsyncs: synced before the revision. */
	int err;
	if (!(err = quire_fs_sync_fs(qdir)) &&
	    !(err = quire_manifest_write_from(qdir, QUIRE_REV_PENDING, m, NULL, name)) &&
	    !(err = quire_store_begin(store)) &&
	    !(err = end_transaction(store, quire_takes_remember(store, qdir, m, 1))) &&
	    !(err = quire_store_run_restore(store, name, str(m, "parent"), "quire merge", 0)) &&
	    !(err = quire_manifest_advance(qdir, str(m, "parent"), name))) {
		snprintf(merged, QUIRE_REV_MAX, "%s", name);
		other_edits(root, qdir, m, notes);
	}
	return err;
}

int quire_merge_heads(struct quire_project *p, struct quire_store *store, char *merged,
		      json_t *notes)
{
	merged[0] = '\0';
	json_t *m = NULL;
	int err = quire_merge_preview(p->root, p->qdir, store, &m);
	/* Read before the merge writes current again. */
	int marked = m && quire_manifest_current_conflicted(p->qdir);
	if (!err && m && !(err = quire_merge_record_project(p, store, m, 1)))
		err = quire_merge_commit(p->root, p->qdir, store, m, merged, notes);
	if (!err && marked && notes)
		json_array_append_new(
			notes,
			json_string(".quire/current held git's conflict markers (this "
				    "project's .gitattributes lacks quire's lines: 'quire init' "
				    "adds them); quire read the heads between them and wrote "
				    "current again: 'git add .quire/current' settles git's "
				    "conflict"));
	json_decref(m);
	return err;
}
