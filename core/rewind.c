/* Rewinds: what going back to an earlier revision would change, and doing it as a new
 * revision (history stays append-only). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/history.h"
#include "lock.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/store.h"
#include "quire/out.h"
#include "git.h"
#include "quire/project.h"
#include "remote.h"
#include "edit_internal.h"
#include "json.h"
#include "manifest_internal.h"
#include "objects.h"
#include "util.h"
#include "event.h"

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The project's files as they are now, each hashed once per command (the preview and the
 * rewind compare every file a revision recorded, 10,000 at 10k), through the store's stat
 * cache when one is open. */
struct now {
	const char *root;
	struct quire_store *store; /* NULL: every file is hashed */
	json_t *memo;		   /* rel -> digest, or null when it cannot be read */
	json_t *hashed;		   /* the rels of memo whose digest was hashed, not looked up */
};

static struct now now_open(const char *root, struct quire_store *store)
{
	return (struct now){ root, store, json_object(), json_object() };
}

static void now_close(struct now *n)
{
	json_decref(n->memo);
	json_decref(n->hashed);
	n->memo = n->hashed = NULL;
}

/* Digest of project file rel now, or NULL (missing): owned by n. The stat cache answers when
 * the file's size, time and inode are what it recorded, unless hash: a file the rewind may
 * overwrite is hashed (an edit that kept its size and time, cp -p, is not what the cache
 * saw, and is a writer's words). */
static const char *digest_now(struct now *n, const char *rel, int hash)
{
	json_t *v = json_object_get(n->memo, rel);
	if (v && (!hash || json_object_get(n->hashed, rel)))
		return json_string_value(v);
	char *path = quire__xasprintf("%s/%s", n->root, rel);
	struct quire_digest d;
	struct stat st;
	int ok = stat(path, &st) == 0, looked = 0;
	if (ok && !hash && n->store)
		looked = quire_store_stat_get(n->store, rel, (int64_t)st.st_size,
					      (int64_t)st.st_mtim.tv_sec * 1000000000 +
						      st.st_mtim.tv_nsec,
					      (int64_t)st.st_ino, &d);
	if (ok && !looked)
		ok = !quire_hash_file(path, &d, NULL);
	quire_error_clear();
	free(path);
	v = ok ? json_string(d.s) : json_null();
	json_object_set_new(n->memo, rel, v);
	if (!looked)
		json_object_set_new(n->hashed, rel, json_true());
	return json_string_value(v);
}

/* Puts project file rel into the store when its content has digest d: 1 when it is there. */
static int store_file(const char *root, const char *qdir, const char *rel, const char *d)
{
	char *path = quire__xasprintf("%s/%s", root, rel);
	struct quire_digest got;
	int ok = !quire_blob_put_file(qdir, path, &got, NULL) && !strcmp(got.s, d);
	quire_error_clear();
	free(path);
	return ok;
}

/* Files rewinding to `to` would overwrite whose content now no revision recorded and the
 * store does not hold: the writer's unrun edits, which a rewind must not destroy. What the
 * current revision (from) recorded is recorded, also in a clone whose store never held it. */
static json_t *unrecorded_files(struct now *n, const char *qdir, const json_t *to,
				const json_t *from)
{
	json_t *list = json_array();
	const char *id, *root = n->root;
	json_t *e;
	json_object_foreach(json_object_get(to, "files"), id, e) {
		const char *now = digest_now(n, id, 0);
		if (!same(now, json_string_value(e)))
			now = digest_now(n, id, 1); /* it would be overwritten: what it holds */
		const char *was =
			json_string_value(json_object_get(json_object_get(from, "files"), id));
		/* What the current revision recorded but no store holds (a clone's, a blob
		 * removed as damaged) is stored now, hashed: else this file is the only copy,
		 * and the rewind would destroy it. */
		if (now && !same(now, json_string_value(e)) && !quire_blob_exists(qdir, now) &&
		    (!same(now, was) || !store_file(root, qdir, id, now)))
			json_array_append_new(list, json_string(id));
	}
	return list;
}

/* Takes what git did not have from the project's shared cache, when it has one (verified
 * against its digest; a clone that pushed it, or a run that made it there). The cache's
 * trouble, when it could not be asked (the project does not load, its URL or credentials
 * cannot be used, it does not answer), is returned (malloc'd), else NULL. */
static char *from_remote(const char *root, const char *qdir, const char **digests, size_t n,
			 unsigned char *found)
{
	struct quire_project *p = NULL;
	struct quire_remote *r = NULL;
	char *why = NULL;
	size_t left = 0;
	for (size_t i = 0; i < n; i++)
		left += !found[i];
	if (left && (quire_project_open(&p, root) || quire_remote_open(&r, p)))
		why = quire__xstrdup(quire_error_last());
	for (size_t i = 0; r && i < n && !quire_remote_gave_up(r); i++)
		if (!found[i])
			found[i] = !quire_remote_get_blob(r, qdir, digests[i], -1);
	const char *w = NULL;
	if (r && !quire_remote_usable(r, &w))
		why = quire__xstrdup(w ? w : "it did not answer");
	quire_error_clear();
	quire_remote_free(r);
	quire_project_free(p);
	return why;
}

/* What rewinding to `to` needs that the store lacks, {"files": [...], "outputs": [ids]}, after
 * looking for each in the git history of the project (a clone has its committed files and
 * out/ there, not in its store) and in its shared cache. */
static json_t *missing_content(const char *root, const char *qdir, const char *out_dir,
			       const json_t *to)
{
	const json_t *tf = json_object_get(to, "files"), *ta = json_object_get(to, "artefacts");
	/* Asked of the store all at once (10,000 files at 10k), files first. */
	size_t nall = json_object_size(tf) + json_object_size(ta), at = 0;
	const char **all = quire__xcalloc(nall + 1, sizeof(*all));
	unsigned char *here = quire__xcalloc(nall + 1, 1);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)tf, k, v)
		all[at++] = json_string_value(v);
	json_object_foreach((json_t *)ta, k, v)
		all[at++] = str(v, "digest");
	quire_blob_exists_many(qdir, all, nall, here);
	const char **paths = NULL, **digests = NULL, **names = NULL;
	size_t n = 0, alloc = 0;
	at = 0;
	json_object_foreach((json_t *)tf, k, v) {
		const char *d = json_string_value(v);
		int has = here[at++];
		/* The file as it is now may be the recorded one (a clone's). */
		if (!d || has || store_file(root, qdir, k, d))
			continue;
		QUIRE_GROW(paths, alloc, n + 1);
		digests = quire__xrealloc(digests, alloc * sizeof(*digests));
		names = quire__xrealloc(names, alloc * sizeof(*names));
		paths[n] = quire__xstrdup(k);
		names[n] = quire__xstrdup(k);
		digests[n++] = d;
	}
	size_t nfiles = n;
	json_object_foreach((json_t *)ta, k, v) {
		const char *d = str(v, "digest");
		if (here[at++] || !d)
			continue;
		QUIRE_GROW(paths, alloc, n + 1);
		digests = quire__xrealloc(digests, alloc * sizeof(*digests));
		names = quire__xrealloc(names, alloc * sizeof(*names));
		char *name = quire_out_name(k, v);
		paths[n] = quire__xasprintf("%s/%s", out_dir, name);
		free(name);
		names[n] = quire__xstrdup(k);
		digests[n++] = d;
	}
	free(all);
	free(here);
	unsigned char *found = quire__xcalloc(n + 1, 1);
	quire__git_adopt(root, qdir, paths, digests, n, found);
	char *why = from_remote(root, qdir, digests, n, found);
	json_t *files = json_array(), *outputs = json_array();
	for (size_t i = 0; i < n; i++) {
		if (!found[i])
			json_array_append_new(i < nfiles ? files : outputs, json_string(names[i]));
		free((char *)paths[i]);
		free((char *)names[i]);
	}
	free(found);
	free(paths);
	free(names);
	free(digests);
	json_t *res = json_pack("{s:o,s:o}", "files", files, "outputs", outputs);
	if (why)
		json_object_set_new(res, "remote_error", json_string(why));
	free(why);
	return res;
}

/* The project's out/ directory name (its default when the project does not load: a rewind
 * may be what mends it). Malloc'd. */
static char *out_dir_of(const char *root)
{
	struct quire_project *p = NULL;
	if (quire_project_open(&p, root)) {
		quire_error_clear();
		return quire__xstrdup("out");
	}
	char *d = quire__xstrdup(p->out_dir);
	quire_project_free(p);
	return d;
}

int quire_rewind_impact(const char *root, const char *rev, json_t **out)
{
	*out = NULL;
	char *qdir = quire__xasprintf("%s/.quire", root), *current = NULL;
	json_t *to = NULL, *from = NULL;
	int err = quire_manifest_current(qdir, &current), got = 0;
	/* Two lines of history: the rewind merges them first, so it starts from that. */
	int merging = err == QUIRE_ECONFLICT;
	if (merging) {
		quire_error_clear();
		err = 0;
	}
	/* What the preview shows: the artefacts that differ from the current revision, read
	 * from the tree nodes that differ when both are in format 2; else each artefact's
	 * digest, status and extension from the revisions' indexes, or read whole. */
	if (!err && current && !merging &&
	    (got = quire_revision_views_by_change(qdir, current, rev, 1, &from, &to)) < 0)
		err = got;
	if (!err && !got)
		err = quire_revision_view(qdir, rev, &to);
	if (!err && merging) {
		struct quire_store *s = NULL;
		if (quire_store_open(&s, qdir, 1))
			quire_error_clear(); /* then the first head by name stands first */
		err = quire_merge_preview(root, qdir, s, &from);
		/* What the merge will record of the project, so the files the writer changed
		 * are told apart from those git merged in. */
		struct quire_project *mp = NULL;
		if (!err && from &&
		    (quire_project_open(&mp, root) || quire_merge_record_project(mp, s, from, 0)))
			quire_error_clear(); /* a preview only: the first parent's record stands */
		quire_project_free(mp);
		quire_store_close(s);
	} else if (!err && current && !got) {
		err = quire_revision_view(qdir, current, &from);
	}
	if (err)
		goto out;
	if (!from)
		from = quire_manifest_empty();
	/* The same comparison as 'inspect --diff' (from the current revision to rev), as lists
	 * of ids and input names. */
	json_t *d = quire_manifest_diff(from, to);
	const json_t *da = json_object_get(d, "artefacts");
	json_t *changed = json_array(), *inputs = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(da, "changed"), i, x)
		json_array_append(changed, json_object_get(x, "id"));
	json_array_foreach(json_object_get(d, "inputs"), i, x)
		json_array_append(inputs, json_object_get(x, "name"));
	json_t *added = json_incref(json_object_get(da, "added"));
	json_t *removed = json_incref(json_object_get(da, "removed"));
	json_decref(d);
	const char *id;
	json_t *e;
	json_t *files = json_array();
	struct quire_store *ro = NULL;
	if (quire_store_open(&ro, qdir, 1))
		quire_error_clear(); /* then every file is hashed */
	struct now n = now_open(root, ro);
	json_object_foreach(json_object_get(to, "files"), id, e)
		if (!same(digest_now(&n, id, 0), json_string_value(e)))
			json_array_append_new(files, json_string(id));
	char *od = out_dir_of(root);
	*out = json_pack("{s:O,s:O,s:{s:o,s:o,s:o},s:o,s:o,s:o,s:o}", "from",
			 json_object_get(from, "revision"), "to", json_object_get(to, "revision"),
			 "artefacts", "changed", changed, "added", added, "removed", removed,
			 "inputs", inputs, "files", files, "unrecorded",
			 unrecorded_files(&n, qdir, to, from), "missing",
			 missing_content(root, qdir, od, to));
	free(od);
	now_close(&n);
	quire_store_close(ro);
out:
	json_decref(to);
	json_decref(from);
	free(current);
	free(qdir);
	return err;
}

/* Appends the names in a ("a, b", quoted: "'a', 'b'"), the first max of them and how many
 * more. */
static void put_names(struct quire_buf *b, const json_t *a, int quote, size_t max)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) {
		if (i == max) {
			quire_buf_printf(b, " and %zu more", json_array_size(a) - i);
			break;
		}
		quire_buf_printf(b, quote ? "%s'%s'" : "%s%s", i ? ", " : "", json_string_value(x));
	}
}

/* Checked under the lock, so no edit slips in between the check and the restore; from is the
 * current revision (its files). */
static int refuse_unrecorded(struct now *n, const char *qdir, const json_t *to, const json_t *from,
			     const char *rev)
{
	json_t *list = unrecorded_files(n, qdir, to, from);
	int err = 0;
	if (json_array_size(list)) {
		struct quire_buf b = QUIRE_BUF_INIT;
		put_names(&b, list, 1, (size_t)-1);
		err = quire_error_set(
			QUIRE_ECONFLICT,
			"cannot rewind to %.12s: %s %s changes no revision recorded, which "
			"the rewind would overwrite; nothing was changed. Record them "
			"first ('quire run'), or move the %s aside, then rewind",
			rev, b.ptr, json_array_size(list) == 1 ? "has" : "have",
			json_array_size(list) == 1 ? "file" : "files");
		quire_buf_release(&b);
	}
	json_decref(list);
	return err;
}

/* What rewinding to `to` needs that neither the store, the git history nor the shared cache
 * has: an error naming it (nothing changed), else 0. */
static int refuse_missing(const char *root, const char *qdir, const json_t *to, const char *rev)
{
	char *od = out_dir_of(root);
	json_t *missing = missing_content(root, qdir, od, to);
	free(od);
	const json_t *mf = json_object_get(missing, "files"),
		     *mo = json_object_get(missing, "outputs");
	int err = 0;
	if (json_array_size(mf) || json_array_size(mo)) {
		struct quire_buf b = QUIRE_BUF_INIT;
		if (json_array_size(mo))
			quire_buf_printf(&b, "the output%s of ",
					 json_array_size(mo) == 1 ? "" : "s");
		put_names(&b, mo, 0, 5);
		if (json_array_size(mf))
			quire_buf_printf(&b, "%sthe content of ", json_array_size(mo) ? "; " : "");
		put_names(&b, mf, 1, (size_t)-1);
		const char *rerr = json_string_value(json_object_get(missing, "remote_error"));
		char *where =
			rerr ? quire__xasprintf("nor in the project's git history (its shared "
						"cache could not be asked: %s)",
						rerr)
			     : quire__xstrdup("nor in the project's git history nor in "
					      "its shared cache, if it has one");
		err = quire_error_set(
			QUIRE_ENOTFOUND,
			"cannot rewind to %.12s: it recorded what is neither in the store %s: %s; "
			"nothing was changed (a clone whose store holds it can rewind to "
			"%.12s, or 'quire push %.12s' there into the shared cache this clone "
			"asks; commit out/ and the files after each run)",
			rev, where, b.ptr, rev, rev);
		free(where);
		quire_buf_release(&b);
	}
	json_decref(missing);
	return err;
}

/* The files of `to` that differ from those of `from`: path -> digest, null for one `to` has
 * not. New reference. */
static json_t *files_changed(const json_t *from, const json_t *to)
{
	const json_t *ff = json_object_get(from, "files"), *tf = json_object_get(to, "files");
	json_t *ch = json_object(), *v;
	const char *k;
	json_object_foreach((json_t *)tf, k, v)
		if (!json_equal(v, json_object_get(ff, k)))
			json_object_set(ch, k, v);
	json_object_foreach((json_t *)ff, k, v)
		if (!json_object_get(tf, k))
			json_object_set_new(ch, k, json_null());
	return ch;
}

/* An entry read for an event with its record as kept text (a large one): the record as a
 * delta of the record near (the entry it replaces had) when that can be made, else parsed.
 * So are the records of the takes it keeps but does not show (a collector's earlier takes,
 * each its every upstream again), against the same record. */
static int record_for_event(struct quire_objs *o, const char *id, json_t *en, const char *near)
{
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(en, "takes"), k, t) {
		const json_t *td = json_object_get(t, "deps");
		char *text = json_is_object(td) ? quire_json_canonical(td) : NULL;
		json_t *dd = text && strlen(text) >= QUIRE_RECORD_DELTA_MIN
				     ? quire_record_delta_ref(o, near, str(t, "fingerprint"), text,
							      strlen(text))
				     : NULL;
		free(text);
		quire_error_clear();
		if (dd) {
			json_object_set_new(t, "deps_delta", dd);
			json_object_del(t, "deps");
		}
	}
	const json_t *deps = json_object_get(en, "deps");
	if (!json_is_string(deps))
		return 0;
	const char *text = json_string_value(deps), *fp = str(en, "fingerprint");
	size_t len = json_string_length(deps);
	json_t *dd = quire_record_delta_ref(o, near, fp, text, len);
	if (dd) {
		json_object_set_new(en, "deps_delta", dd);
		json_object_del(en, "deps");
		return 0;
	}
	json_error_t je;
	json_t *parsed = json_loadb(text, len, 0, &je);
	if (!parsed)
		return quire_error_set(QUIRE_ECORRUPT, "the dependency record of %s is invalid: %s",
				       id, je.text);
	json_object_set_new(en, "deps", parsed);
	return 0;
}

/* A rewind by change (docs/design-notes.md, "A rewind by change"): revision.restored with
 * rev's inputs and the files that differ from the current revision's (e->prev), then one
 * artefact.restored per artefact whose entry differs (from, to: the two revisions' views by
 * change): rev's entry, or null when rev has none. New reference in *out. */
static int events_by_change(struct quire_edit *e, const char *rev, const json_t *from,
			    const json_t *to, json_t **out)
{
	*out = NULL;
	struct quire_objs *own = NULL, *o = quire__mbase_objs_or_open(e->base, e->p->qdir, &own);
	struct quire_rev2_reader *r = NULL;
	int err = !o ? (quire_error_code() ? quire_error_code() : QUIRE_EIO)
		     : quire_rev2_reader_new(o, rev, &r);
	const json_t *fa = json_object_get(from, "artefacts"),
		     *ta = json_object_get(to, "artefacts");
	json_t *events =
		json_pack("[[s,n,{s:O,s:O,s:o}]]", quire_ev_name(QUIRE_EV_RESTORED), "from",
			  json_object_get(to, "revision"), "inputs", json_object_get(to, "inputs"),
			  "files_changed", files_changed(e->prev, to));
	/* In the tree's order, so that each node on the way is read once. */
	const char **ids =
		quire__xcalloc(json_object_size(fa) + json_object_size(ta) + 1, sizeof(*ids));
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ta, k, v)
		ids[n++] = k;
	json_object_foreach((json_t *)fa, k, v)
		if (!json_object_get(ta, k))
			ids[n++] = k;
	qsort(ids, n, sizeof(*ids), quire__cmp_strp);
	for (size_t i = 0; i < n && !err; i++) {
		json_t *en = NULL;
		if (json_object_get(ta, ids[i])) {
			err = quire_rev2_reader_entry(r, ids[i], QUIRE_RECORD_DELTA_MIN, &en);
			if (!err && !en)
				err = quire_error_set(QUIRE_ECORRUPT,
						      "revision %.12s: the entry of %s cannot be "
						      "found in its tree",
						      rev, ids[i]);
			if (!err)
				err = record_for_event(
					o, ids[i], en,
					str(json_object_get(fa, ids[i]), "fingerprint"));
		}
		if (!err)
			json_array_append_new(
				events, json_pack("[s,s,o]", quire_ev_name(QUIRE_EV_ART_RESTORED),
						  ids[i], en ? en : json_null()));
		else
			json_decref(en);
	}
	free(ids);
	quire_rev2_reader_free(r);
	quire_objs_free(own);
	if (err)
		json_decref(events);
	else
		*out = events;
	return err;
}

/* An older quire's rewind, kept for a revision not in format 2 (or two lines of history):
 * one revision.restored event with rev's artefacts and files whole. */
static json_t *events_whole(const json_t *to)
{
	return json_pack("[[s,n,{s:O,s:O,s:O,s:O}]]", quire_ev_name(QUIRE_EV_RESTORED), "from",
			 json_object_get(to, "revision"), "artefacts",
			 json_object_get(to, "artefacts"), "inputs", json_object_get(to, "inputs"),
			 "files", json_object_get(to, "files"));
}

/* Writes the project files of `to` that differ from what is on disk now. */
static int restore_files(struct now *n, const char *qdir, const json_t *to)
{
	const char *k, *root = n->root;
	json_t *v;
	int err = 0;
	json_object_foreach(json_object_get(to, "files"), k, v) {
		if (same(digest_now(n, k, 0), json_string_value(v)) ||
		    same(digest_now(n, k, 1), json_string_value(v)))
			continue;
		struct quire_buf b = QUIRE_BUF_INIT;
		char *path = quire__xasprintf("%s/%s", root, k), *dir = quire__xstrdup(path);
		*strrchr(dir, '/') = '\0';
		err = quire_blob_read(qdir, json_string_value(v), &b, 0, 1);
		if (!err)
			err = quire_fs_mkdirs(dir, 0755);
		if (!err)
			err = quire_fs_rewrite(path, b.ptr, b.len);
		quire_buf_release(&b);
		free(path);
		free(dir);
		if (err)
			break;
	}
	return err;
}

int quire_rewind(const char *root, const char *rev, const char *command, char *newrev,
		 size_t revlen, json_t *notes)
{
	char *qdir = quire__xasprintf("%s/.quire", root), *cur = NULL;
	json_t *to = NULL, *from = NULL, *next = NULL, *events = NULL;
	struct quire_project *p = NULL, *cur_p = NULL, shell = { 0 };
	struct quire_edit *e = NULL;
	/* Two format-2 revisions: only the artefacts that differ are read, checked and
	 * committed; else rev is read whole. */
	int err = quire_manifest_current(qdir, &cur), got = 0;
	if (err == QUIRE_ECONFLICT) {
		quire_error_clear(); /* the edit merges the two lines first */
		err = 0;
	}
	if (!err && cur &&
	    (got = quire_revision_views_by_change(qdir, cur, rev, 1, &from, &to)) < 0)
		err = got;
	if (!err && !got)
		err = quire_manifest_load(qdir, rev, &to);
	/* Everything the rewind needs must be in the store before anything changes. */
	if (!err)
		err = refuse_missing(root, qdir, to, rev);
	if (err)
		goto out;
	/* out/ as the project names it now (its default when the files do not load: a rewind
	 * may be what mends them). */
	if (quire_project_open(&cur_p, root)) {
		quire_error_clear();
		shell.root = (char *)root;
		shell.qdir = qdir;
		shell.out_dir = (char *)"out";
	}
	err = quire_edit_begin(&e, cur_p ? cur_p : &shell, command);
	if (e && notes)
		json_array_extend(notes, (json_t *)quire_edit_notes(e));
	if (!err && got && (!e->current || strcmp(e->current, cur))) {
		/* Another line of history merged, or a commit in between: from what is current
		 * now, checked again. */
		json_decref(from);
		json_decref(to);
		from = to = NULL;
		got = e->current
			      ? quire_revision_views_by_change(qdir, e->current, rev, 1, &from, &to)
			      : 0;
		if (got < 0)
			err = got;
		else if (!got)
			err = quire_manifest_load(qdir, rev, &to);
		if (!err)
			err = refuse_missing(root, qdir, to, rev);
	}
	if (!err && got && !(err = events_by_change(e, rev, from, to, &events))) {
		/* Their entries are in the events now; what follows reads the files alone. */
		json_object_del(to, "artefacts");
		json_object_del(from, "artefacts");
	} else if (!err && !got && !(err = quire__edit_whole(e))) {
		events = events_whole(to);
	}
	/* What the files are now, through the store's stat cache: hashed once for both. */
	struct now n = now_open(root, e ? e->store : NULL);
	if (!err)
		err = refuse_unrecorded(&n, qdir, to, e->prev, rev);
	if (!err && !(err = quire_out_preflight(e->p, e->store, e->prev, e->base, NULL, 0))) {
		err = quire__edit_commit_events(e, events, newrev, revlen, &next);
		events = NULL;
	}
	json_decref(events);
	/* Committed: the files as rev recorded them (only those that differ), then out/ from
	 * the two revisions (their rows when the edit has them), still under the lock. */
	if (!err)
		err = restore_files(&n, qdir, to);
	now_close(&n);
	if (!err && !(err = quire_project_open(&p, root))) {
		size_t w, r;
		err = e->base ? quire_out_sync_cached(p, e->store, next, e->base, e->prev, e->base,
						      NULL, &w, &r)
			      : quire_out_sync(p, next, e->prev, &w, &r);
	}
out:
	quire__edit_end(e, 0);
	quire_project_free(cur_p);
	quire_project_free(p);
	json_decref(to);
	json_decref(from);
	json_decref(next);
	free(cur);
	free(qdir);
	return err;
}
