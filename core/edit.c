/* Human changes as revisions: the edit session (lock first, files kept, events committed
 * as one revision) and the changes it records: inputs, hand edits, approvals, feedback,
 * takes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blob.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "json.h"
#include "quire/id.h"
#include "lock.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/store.h"
#include "quire/suggest.h"
#include "edit_internal.h"
#include "template.h"
#include "git.h"
#include "run_commit.h"
#include "manifest_internal.h"
#include "util.h"
#include "event.h"

/* The current revision as e->prev: slim over its index's rows when it has a format-2 index,
 * with its keys, inputs and files from its head (a hand edit of one scene at 10k read and
 * copied all 10,000 entries, 2.3 s and 225 MB); else whole. */
static int load_current(struct quire_edit *e)
{
	const char *qdir = e->p->qdir;
	json_t *slim = NULL, *head = NULL;
	long long n;
	quire_manifest_load_index(qdir, e->current, &slim, &e->base);
	json_decref(slim);
	if (e->base && e->base->tree && !quire_manifest_head(qdir, e->current, &head, &n)) {
		json_object_set_new(head, "artefacts", json_object());
		json_object_set_new(head, "slim", json_true());
		e->prev = head;
		return 0;
	}
	quire_error_clear();
	quire_mbase_free(e->base);
	e->base = NULL;
	return quire_manifest_load(qdir, e->current, &e->prev);
}

int quire__edit_whole(struct quire_edit *e)
{
	if (!e->base)
		return 0;
	json_t *m = NULL;
	int err = quire_manifest_load(e->p->qdir, e->current, &m);
	if (err)
		return err;
	json_decref(e->prev);
	quire_mbase_free(e->base);
	e->prev = m;
	e->base = NULL;
	return 0;
}

int quire_edit_begin(struct quire_edit **out, const struct quire_project *p, const char *command)
{
	*out = NULL;
	struct quire_edit *e = quire__xcalloc(1, sizeof(*e));
	e->p = p;
	e->command = quire__xstrdup(command);
	e->events = json_array();
	int err = quire_lock_acquire(&e->lock, p->qdir, command);
	if (!err)
		err = quire_blob_check_dirs(p->qdir);
	e->notes = json_array();
	if (!err)
		err = quire__store_upgrade(p->qdir, e->notes); /* before current is read */
	if (!err)
		err = quire_store_open(&e->store, p->qdir, 0);
	if (!err)
		err = quire__run_recover((struct quire_project *)p, e->store, e->recovered,
					 sizeof(e->recovered));
	char merged[QUIRE_REV_MAX];
	if (!err)
		err = quire_merge_heads((struct quire_project *)p, e->store, merged, e->notes);
	if (!err)
		err = quire_manifest_current(p->qdir, &e->current);
	if (!err && e->current)
		err = load_current(e);
	if (!err && !e->prev)
		e->prev = quire_manifest_empty();
	if (err) {
		quire_edit_abort(e);
		return err;
	}
	*out = e;
	return 0;
}

const json_t *quire_edit_notes(const struct quire_edit *e)
{
	return e->notes;
}

int quire_edit_keep_file(struct quire_edit *e, const char *rel)
{
	for (size_t k = 0; k < e->nkept; k++)
		if (!strcmp(e->kept[k].rel, rel))
			return 0;
	char *path = quire__path_join(e->p->root, rel);
	/* A link is written through (as editors do), so what is kept is the file it names. */
	char *real = realpath(path, NULL);
	if (real) {
		free(path);
		path = real;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	int existed = 1, mode = quire_fs_mode(path, 0644);
	int err = quire_fs_read(path, &b, 0);
	if (err == QUIRE_ENOTFOUND) {
		quire_error_clear();
		err = 0;
		existed = 0;
	}
	if (err) {
		free(path);
		quire_buf_release(&b);
		return err;
	}
	QUIRE_GROW(e->kept, e->akept, e->nkept + 1);
	e->kept[e->nkept++] = (struct quire__kept){ quire__xstrdup(rel), b, existed, mode, path };
	return 0;
}

/* Puts one kept file back as it was, with its mode. */
static int restore_one(const struct quire__kept *k)
{
	if (k->existed)
		return quire_fs_write_atomic(k->path, k->old.ptr, k->old.len, k->mode);
	if (unlink(k->path) != 0 && errno != ENOENT)
		return quire_error_set(QUIRE_EIO, "%s", strerror(errno));
	return 0;
}

/* Puts the files the edit changed back as they were; says in *failed (when not empty) which
 * could not be, with their earlier content left in the message's reach. */
static void restore_kept(struct quire_edit *e, struct quire_buf *failed)
{
	for (size_t k = 0; k < e->nkept; k++) {
		if (restore_one(&e->kept[k]) == 0)
			continue;
		quire_buf_printf(failed, "%s'%s' (%s)", failed->len ? ", " : "", e->kept[k].rel,
				 quire_error_last());
	}
	quire_error_clear();
}

void quire__edit_end(struct quire_edit *e, int restore)
{
	if (!e)
		return;
	if (restore) {
		/* The message that says why the edit failed stays the thread's last. */
		char *why = quire__xstrdup(quire_error_last());
		int code = quire_error_code();
		struct quire_buf failed = QUIRE_BUF_INIT;
		restore_kept(e, &failed);
		if (failed.len)
			quire_error_set(code ? code : QUIRE_EIO,
					"%s%sand the edit could not put back %s: check %s by hand",
					why, why[0] ? "; " : "", failed.ptr,
					strchr(failed.ptr, ',') ? "them" : "it");
		else if (why[0])
			quire_error_set(code, "%s", why);
		quire_buf_release(&failed);
		free(why);
	}
	for (size_t k = 0; k < e->nkept; k++) {
		free(e->kept[k].rel);
		free(e->kept[k].path);
		quire_buf_release(&e->kept[k].old);
	}
	free(e->kept);
	for (size_t k = 0; k < e->npend; k++)
		quire_buf_release(&e->pend[k].data);
	free(e->pend);
	json_decref(e->prev);
	quire_mbase_free(e->base);
	json_decref(e->events);
	json_decref(e->notes);
	free(e->current);
	free(e->command);
	quire_store_close(e->store);
	quire_lock_release(e->lock);
	free(e);
}

void quire_edit_abort(struct quire_edit *e)
{
	quire__edit_end(e, 1);
}

int quire__edit_commit_events(struct quire_edit *e, json_t *events, char *rev, size_t revlen,
			      json_t **next)
{
	const char *qdir = e->p->qdir;
	int err;
	char name[QUIRE_REV_MAX] = QUIRE_REV_PENDING; /* named by its digest once written */
	int64_t run;
	json_t *start = json_pack("{s:s,s:o,s:s,s:o}", "revision", name, "parent",
				  e->current ? json_string(e->current) : json_null(), "command",
				  e->command, "git", quire__git_info(e->p->root));
	char *start_text = quire_json_canonical(start);
	json_decref(start);
	/* The run, its events and its end in one transaction: an edit that fails part way (a
	 * full disk) leaves no run for recovery to commit as half an edit. */
	if ((err = quire_store_begin(e->store))) {
		free(start_text);
		json_decref(events);
		return err;
	}
	err = quire_store_run_start_in(e->store, name, e->current, e->command, start_text, &run);
	free(start_text);
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		if (err)
			break;
		err = quire_store_event(e->store, run, json_string_value(json_array_get(ev, 0)),
					json_string_value(json_array_get(ev, 1)),
					json_array_get(ev, 2));
	}
	if (!err)
		err = quire_store_event(e->store, run, quire_ev_name(QUIRE_EV_RUN_END), NULL, NULL);
	if (!err)
		err = quire_store_commit(e->store);
	/* In the store now: the fold reads them from there (a rewind's can be every entry). */
	json_decref(events);
	if (err) {
		quire_store_rollback(e->store);
		return err;
	}
	if (e->base)
		/* Folded onto the current revision's rows, as a run's commit is. */
		err = quire__run_commit_slim(qdir, e->store, run, name, json_deep_copy(e->prev),
					     e->base, next);
	else
		err = quire__run_commit(qdir, e->store, run, name, e->current,
					e->current ? e->prev : NULL, next);
	snprintf(rev, revlen, "%s", err ? "" : name);
	return err;
}

int quire_edit_finish(struct quire_edit *e, char *rev, size_t revlen)
{
	json_t *next = NULL;
	json_t *events = e->events;
	rev[0] = '\0';
	if (!json_array_size(events)) {
		/* No revision: what it changed (prompt files) is for the next run to read. */
		quire__edit_end(e, 0);
		return 0;
	}
	/* Keep the content of every file as it is now (an input edit just rewrote inputs.yaml),
	 * so this revision can be rewound to later. */
	struct quire_project *p = (struct quire_project *)e->p;
	/* Before anything is stored: a writer's file in out/ stops the edit (one being adopted
	 * by this edit is not a conflict). */
	const char **allowed = quire__xcalloc(e->npend + 1, sizeof(char *));
	for (size_t k = 0; k < e->npend; k++)
		allowed[k] = e->pend[k].digest;
	int err = quire_out_preflight(e->p, e->store, e->prev, e->base, allowed, e->npend);
	free(allowed);
	for (size_t k = 0; !err && k < e->npend; k++) {
		struct quire_digest d;
		err = quire_blob_put(e->p->qdir, e->pend[k].data.ptr, e->pend[k].data.len, &d);
	}
	if (!err)
		err = quire_project_hash_files(p, NULL);
	if (!err)
		err = quire__run_snapshot(p, NULL, NULL);
	if (!err)
		err = quire__edit_commit_events(e, json_incref(events), rev, revlen, &next);
	if (err && !next) {
		/* Nothing was committed: the files go back as they were. */
		rev[0] = '\0';
		quire__edit_end(e, 1);
		return err;
	}
	if (!err) {
		size_t w, r;
		err = e->base ? quire_out_sync_cached(e->p, e->store, next, e->base, e->prev,
						      e->base, NULL, &w, &r)
			      : quire_out_sync(e->p, next, e->prev, &w, &r);
	}
	json_decref(next);
	/* Committed: the files stay as the revision recorded them. */
	quire__edit_end(e, 0);
	return err;
}

int quire_edit_commit(struct quire_project *p, const char *command, const json_t *events, char *rev,
		      size_t revlen)
{
	struct quire_edit *e = NULL;
	int err = quire_edit_begin(&e, p, command);
	if (err)
		return err;
	json_array_extend(e->events, (json_t *)events);
	return quire_edit_finish(e, rev, revlen);
}

static void add_event(struct quire_edit *e, const char *kind, const char *subject, json_t *data)
{
	json_array_append_new(e->events,
			      json_pack("[s,s,o]", kind, subject, data ? data : json_null()));
}

/* The entry of id in the current revision (*en NULL when it has none; borrowed from
 * e->prev, read into it from the base). */
static int entry_of(const struct quire_edit *e, const char *id, const json_t **en)
{
	json_t *got = NULL;
	int err = quire_manifest_materialise(e->prev, e->base, id, &got);
	*en = got;
	return err;
}

static const char *rev_of(const struct quire_edit *e)
{
	const char *r = json_string_value(json_object_get(e->prev, "revision"));
	return r ? r : "the current revision";
}

/* No artefact id in the current revision: near (may be NULL) is what it may have meant. */
static int unknown_id_near(const struct quire_edit *e, const char *id, const char *near)
{
	if (near)
		return quire_error_set(QUIRE_ENOTFOUND,
				       "%.12s has no artefact '%s' (did you mean '%s'?)", rev_of(e),
				       id, near);
	return quire_error_set(
		QUIRE_ENOTFOUND,
		"%.12s has no artefact '%s' (ids look like Chapter[1]; 'quire inspect' "
		"lists them; an instance is editable once it has been generated)",
		rev_of(e), id);
}

static int cmp_rows(const void *x, const void *y)
{
	return quire_id_cmp((*(const struct quire_mrow *const *)x)->id,
			    (*(const struct quire_mrow *const *)y)->id);
}

/* The base's rows in the order the revision lists its ids (the index's is strcmp's): what
 * a pattern's ids are said in, and suggestions are made from. malloc'd, *n of them. */
static const struct quire_mrow **rows_in_order(const struct quire_edit *e, size_t *n)
{
	const struct quire_mrow *rows = quire_mbase_rows(e->base, n);
	const struct quire_mrow **v = quire__xcalloc(*n + 1, sizeof(*v));
	for (size_t k = 0; k < *n; k++)
		v[k] = &rows[k];
	qsort(v, *n, sizeof(*v), cmp_rows);
	return v;
}

static int unknown_id(const struct quire_edit *e, const char *id)
{
	/* Over a base: its ids (the names alone) are what a suggestion is made from. */
	json_t *ids = NULL;
	if (e->base) {
		size_t n;
		const struct quire_mrow **rows = rows_in_order(e, &n);
		json_t *arts = json_object();
		for (size_t k = 0; k < n; k++)
			json_object_set_new_nocheck(arts, rows[k]->id, json_null());
		free(rows);
		ids = json_pack("{s:o}", "artefacts", arts);
	}
	const char *near = quire_suggest_id(ids ? ids : e->prev, id);
	char *keep = near ? quire__xstrdup(near) : NULL;
	json_decref(ids);
	int err = unknown_id_near(e, id, keep);
	free(keep);
	return err;
}

int quire_edit_set_input(struct quire_edit *e, const char *name, const json_t *v)
{
	struct quire_project *p = (struct quire_project *)e->p;
	int err = quire_edit_keep_file(e, p->inputs_file);
	if (!err)
		err = quire_project_set_input(p, name, v);
	if (err)
		return err;
	struct quire_digest d, fd;
	quire_project_input_digest(p, name, &d);
	char *path = quire__path_join(p->root, p->inputs_file);
	err = quire_hash_file(path, &fd, NULL);
	free(path);
	if (err)
		return err;
	add_event(e, quire_ev_name(QUIRE_EV_INPUT_SET), name,
		  json_pack("{s:s,s:O,s:{s:s}}", "digest", d.s, "value", v, "files", p->inputs_file,
			    fd.s));
	return 0;
}

int quire_edit_apply_export(struct quire_edit *e, const char *name, const char *text, size_t len,
			    json_t **changed)
{
	*changed = json_array();
	json_t *doc = NULL;
	int err = quire_edit_parse_export(e->p, name, text, len, &doc);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(doc, "inputs"), k, v) {
		if (err)
			break;
		if (json_equal(v, json_object_get(e->p->inputs, k)))
			continue;
		if (!(err = quire_edit_set_input(e, k, v)))
			json_array_append_new(*changed,
					      json_pack("{s:s,s:O}", "input", k, "value", v));
	}
	json_object_foreach(json_object_get(doc, "prompts"), k, v) {
		if (err)
			break;
		char *path = quire__path_join(e->p->root, k);
		struct quire_buf cur = QUIRE_BUF_INIT;
		int same = quire_fs_read(path, &cur, 0) == 0 && cur.len == json_string_length(v) &&
			   !memcmp(cur.ptr, json_string_value(v), cur.len);
		quire_buf_release(&cur);
		quire_error_clear();
		if (!same && !(err = quire_edit_keep_file(e, k)) &&
		    !(err = quire_fs_rewrite(path, json_string_value(v), json_string_length(v))))
			json_array_append_new(*changed, json_pack("{s:s}", "file", k));
		free(path);
	}
	json_decref(doc);
	return err;
}

int quire_edit_content(const struct quire_edit *e, const char *id, struct quire_buf *out,
		       const json_t **entry)
{
	const json_t *en;
	int err = entry_of(e, id, &en);
	if (entry)
		*entry = en;
	if (err)
		return err;
	if (!en)
		return unknown_id(e, id);
	const char *digest = json_string_value(json_object_get(en, "digest"));
	return digest ? quire_blob_read(e->p->qdir, digest, out, 0, 1) : 0;
}

int quire_edit_replace(struct quire_edit *e, const char *id, const char *data, size_t len,
		       const char *from, int *same)
{
	*same = 0;
	const json_t *en;
	int err = entry_of(e, id, &en);
	if (err)
		return err;
	if (!en)
		return unknown_id(e, id);
	const char *type = json_string_value(json_object_get(en, "type"));
	const char *digest = json_string_value(json_object_get(en, "digest"));
	if (type && !strcmp(type, "json")) {
		json_error_t je;
		json_t *j = json_loadb(data, len, JSON_DECODE_ANY, &je);
		if (!j)
			return quire_error_set(QUIRE_EINVALID, "%s:%d:%d: not valid JSON: %s",
					       from ? from : id, je.line, je.column, je.text);
		json_decref(j);
	}
	struct quire_digest d;
	quire_hash_bytes(data, len, &d);
	if (digest && !strcmp(d.s, digest)) {
		*same = 1;
		return 0;
	}
	/* Kept until the edit goes through: a refused edit leaves no blob that would make the
	 * writer's file in out/ look like quire's. */
	QUIRE_GROW(e->pend, e->apend, e->npend + 1);
	struct quire__pending *pd = &e->pend[e->npend++];
	snprintf(pd->digest, sizeof(pd->digest), "%s", d.s);
	quire_buf_init(&pd->data, 0);
	quire_buf_add(&pd->data, data, len);
	add_event(e, quire_ev_name(QUIRE_EV_EDITED), id,
		  json_pack("{s:s,s:I,s:O,s:O,s:O}", "digest", d.s, "size", (json_int_t)len,
			    "producer", json_object_get(en, "producer"), "type",
			    json_object_get(en, "type"), "ext", json_object_get(en, "ext")));
	return 0;
}

/* Feedback regenerates an artefact with the note in its prompt: a prompt without
 * {{feedback}} would bill a new take the model wrote without ever seeing the note. 0 when the
 * prompt of entry en reads it (or cannot be read here: the run will say why), else
 * QUIRE_EINVALID naming the prompt. */
static int feedback_reaches(const struct quire_edit *e, const char *id, const json_t *en)
{
	const char *name = json_string_value(json_object_get(en, "producer"));
	const struct quire_producer *pr = NULL;
	for (size_t k = 0; name && k < e->p->bp->nproducers; k++)
		if (!strcmp(e->p->bp->producers[k].name, name))
			pr = &e->p->bp->producers[k];
	if (!pr || !pr->prompt)
		return 0;
	long long idx[QUIRE_MAX_DIMS] = { 0 };
	const json_t *ix = json_object_get(en, "index");
	for (size_t d = 0; d < json_array_size(ix) && d < QUIRE_MAX_DIMS; d++)
		idx[d] = (long long)json_integer_value(json_array_get(ix, d));
	char *rel = quire_producer_prompt_path(pr, idx);
	char *path = rel ? quire__xasprintf("%s/%s", e->p->root, rel) : NULL;
	struct quire_buf b = QUIRE_BUF_INIT;
	struct quire_template *t = NULL;
	int reads = 1;
	if (path && !quire_fs_read(path, &b, QUIRE_TEXT_CAP) &&
	    !quire_template_parse(&t, b.ptr, b.len, rel))
		reads = quire_template_reads(t, "feedback");
	quire_error_clear();
	quire_template_free(t);
	quire_buf_release(&b);
	free(path);
	int err = reads ? 0
			: quire_error_set(
				  QUIRE_EINVALID,
				  "the prompt of %s (%s) does not use {{feedback}}: the "
				  "model would never see the note, and the new take would be "
				  "billed all the same; add {{feedback}} to the prompt (or use "
				  "'quire run --regenerate %s' for a new take without a note)",
				  id, rel, id);
	free(rel);
	return err;
}

int quire_edit_review(struct quire_edit *e, enum quire_edit_review a, const char *pattern,
		      const char *text, json_t **ids)
{
	*ids = json_array();
	int matched = 0;
	/* Each id with its status and digest: the index's rows when the edit is over them (an
	 * entry is read only for feedback, whose prompt it names). */
	size_t n = 0;
	const struct quire_mrow **rows = e->base ? rows_in_order(e, &n) : NULL;
	json_t *arts = json_object_get(e->prev, "artefacts");
	void *it = e->base ? NULL : json_object_iter(arts);
	for (size_t r = 0; r < n || it; r++) {
		const char *k = e->base ? rows[r]->id : json_object_iter_key(it);
		const json_t *en = e->base ? NULL : json_object_iter_value(it);
		const char *status = e->base ? rows[r]->status
					     : json_string_value(json_object_get(en, "status"));
		const char *digest = e->base ? rows[r]->digest
					     : json_string_value(json_object_get(en, "digest"));
		if (it)
			it = json_object_iter_next(arts, it);
		if (!quire_id_match(pattern, k))
			continue;
		matched = 1;
		if (a == QUIRE_EDIT_APPROVE && status && !strcmp(status, "pending-review"))
			add_event(e, quire_ev_name(QUIRE_EV_APPROVED), k, NULL);
		else if (a == QUIRE_EDIT_FEEDBACK && digest) {
			int err = en ? 0 : entry_of(e, k, &en);
			if (!err)
				err = feedback_reaches(e, k, en);
			if (err) {
				free(rows);
				return err;
			}
			add_event(e, quire_ev_name(QUIRE_EV_FEEDBACK), k,
				  json_pack("{s:s,s:s}", "text", text, "draft", digest));
		} else if (a == QUIRE_EDIT_RELEASE && status && !strcmp(status, "user-edited"))
			add_event(e, quire_ev_name(QUIRE_EV_RELEASED), k, NULL);
		else
			continue;
		json_array_append_new(*ids, json_string(k));
	}
	free(rows);
	if (!matched)
		return unknown_id(e, pattern);
	if (!json_array_size(*ids)) {
		const char *what = a == QUIRE_EDIT_APPROVE   ? "awaits review"
				   : a == QUIRE_EDIT_RELEASE ? "is hand-edited"
							     : "has an output";
		return quire_error_set(QUIRE_EINVALID, "nothing matching '%s' %s in %s", pattern,
				       what, rev_of(e));
	}
	return 0;
}

int quire_edit_take(struct quire_edit *e, const char *id, long n)
{
	const json_t *en;
	int err = entry_of(e, id, &en);
	if (err)
		return err;
	if (!en)
		return unknown_id(e, id);
	int found = 0;
	size_t k;
	json_t *t;
	json_array_foreach(json_object_get(en, "takes"), k, t)
		found |= json_integer_value(json_object_get(t, "take")) == n;
	if (!found)
		return quire_error_set(QUIRE_ENOTFOUND,
				       "%s has no take %ld (see 'quire inspect %s --takes')", id, n,
				       id);
	add_event(e, quire_ev_name(QUIRE_EV_TAKE_SELECTED), id,
		  json_pack("{s:I}", "take", (json_int_t)n));
	return 0;
}
