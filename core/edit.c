/* Human changes as revisions: edits, approvals, feedback, takes; and rewinds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/history.h"
#include "quire/lock.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/store.h"
#include "git.h"
#include "runlog.h"
#include "util.h"
#include "yaml.h"
#include "quire/blueprint.h"

/* A project file as it was before the edit changed it, put back if the edit fails. */
struct kept {
	char *rel;
	struct quire_buf old;
	int existed;
};

struct quire_edit {
	const struct quire_project *p; /* whose out/ is synced; root and qdir */
	struct quire_lock *lock;
	struct quire_store *store;
	char *current;  /* the current revision, or NULL */
	json_t *prev;   /* its manifest (an empty one when there is none) */
	char *command;
	struct kept *kept;
	size_t nkept, akept;
	char recovered[32];
};

int quire_edit_begin(struct quire_edit **out, const struct quire_project *p, const char *command)
{
	*out = NULL;
	struct quire_edit *e = quire__xcalloc(1, sizeof(*e));
	e->p = p;
	e->command = quire__xstrdup(command);
	int err = quire_lock_acquire(&e->lock, p->qdir, command);
	if (!err)
		err = quire_blob_check_dirs(p->qdir);
	if (!err)
		err = quire_store_open(&e->store, p->qdir, 0);
	if (!err)
		err = quire__run_recover((struct quire_project *)p, e->store, e->recovered,
					 sizeof(e->recovered));
	if (!err)
		err = quire_manifest_current(p->qdir, &e->current);
	if (!err && e->current)
		err = quire_manifest_load(p->qdir, e->current, &e->prev);
	if (!err && !e->prev)
		e->prev = quire_manifest_empty();
	if (err) {
		quire_edit_abort(e);
		return err;
	}
	*out = e;
	return 0;
}

const json_t *quire_edit_manifest(const struct quire_edit *e)
{
	return e->prev;
}

int quire_edit_keep_file(struct quire_edit *e, const char *rel)
{
	for (size_t k = 0; k < e->nkept; k++)
		if (!strcmp(e->kept[k].rel, rel))
			return 0;
	char *path = quire__path_join(e->p->root, rel);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 0), existed = 1;
	free(path);
	if (err == QUIRE_ENOTFOUND) {
		quire_error_clear();
		err = 0;
		existed = 0;
	}
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	QUIRE_GROW(e->kept, e->akept, e->nkept + 1);
	e->kept[e->nkept++] = (struct kept){ quire__xstrdup(rel), b, existed };
	return 0;
}

/* Puts the files the edit changed back as they were. */
static void restore_kept(struct quire_edit *e)
{
	for (size_t k = 0; k < e->nkept; k++) {
		char *path = quire__path_join(e->p->root, e->kept[k].rel);
		if (e->kept[k].existed)
			quire_fs_write_atomic(path, e->kept[k].old.ptr, e->kept[k].old.len, 0644);
		else
			unlink(path);
		free(path);
	}
	quire_error_clear();
}

/* Ends the edit: the lock is released; restore: the files it changed go back first. */
static void edit_end(struct quire_edit *e, int restore)
{
	if (!e)
		return;
	if (restore) {
		/* The message that says why the edit failed stays the thread's last. */
		char *why = quire__xstrdup(quire_error_last());
		int code = quire_error_code();
		restore_kept(e);
		if (why[0])
			quire_error_set(code, "%s", why);
		free(why);
	}
	for (size_t k = 0; k < e->nkept; k++) {
		free(e->kept[k].rel);
		quire_buf_release(&e->kept[k].old);
	}
	free(e->kept);
	json_decref(e->prev);
	free(e->current);
	free(e->command);
	quire_store_close(e->store);
	quire_lock_release(e->lock);
	free(e);
}

void quire_edit_abort(struct quire_edit *e)
{
	edit_end(e, 1);
}

/* Commits events as the next revision, on top of the current one, unless out/ holds a
 * writer's file the new revision would overwrite; *next gets the new manifest. */
static int commit_events(struct quire_edit *e, const json_t *events, char *rev, size_t revlen,
			 json_t **next)
{
	const char *qdir = e->p->qdir;
	long a, b = quire_manifest_max_rev(qdir);
	int err;
	if ((err = quire_store_max_rev(e->store, &a)))
		return err;
	quire_rev_format((a > b ? a : b) + 1, rev, revlen);
	int64_t run;
	json_t *start = json_pack("{s:s,s:o,s:s,s:o}", "revision", rev, "parent",
				  e->current ? json_string(e->current) : json_null(), "command",
				  e->command, "git", quire__git_info(e->p->root));
	char *start_text = quire_json_canonical(start);
	json_decref(start);
	err = quire_store_run_start(e->store, rev, e->current, e->command, start_text, &run);
	free(start_text);
	if (err)
		return err;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		if (err)
			break;
		err = quire__run_record(e->store, run, json_string_value(json_array_get(ev, 0)),
					json_string_value(json_array_get(ev, 1)), json_array_get(ev, 2),
					NULL, NULL);
	}
	if (!err)
		err = quire__run_record(e->store, run, "run.end", NULL, NULL, NULL, NULL);
	int cerr = quire__run_commit(qdir, e->store, run, rev, e->current,
				     e->current ? e->prev : NULL, next);
	return err ? err : cerr;
}

int quire_edit_finish(struct quire_edit *e, const json_t *events, char *rev, size_t revlen)
{
	json_t *next = NULL;
	rev[0] = '\0';
	if (!json_array_size(events)) {
		/* No revision: what it changed (prompt files) is for the next run to read. */
		edit_end(e, 0);
		return 0;
	}
	/* Keep the content of every file as it is now (an input edit just rewrote inputs.yaml),
	 * so this revision can be rewound to later. */
	struct quire_project *p = (struct quire_project *)e->p;
	/* Before anything is stored: a writer's file in out/ stops the edit. */
	int err = quire_out_preflight(e->p, e->store, e->prev, NULL);
	if (!err)
		err = quire_project_hash_files(p, NULL);
	if (!err)
		err = quire__run_snapshot(p, NULL);
	if (!err)
		err = commit_events(e, events, rev, revlen, &next);
	if (err && !next) {
		/* Nothing was committed: the files go back as they were. */
		rev[0] = '\0';
		edit_end(e, 1);
		return err;
	}
	if (!err) {
		size_t w, r;
		err = quire_out_sync(e->p, next, e->prev, &w, &r);
	}
	json_decref(next);
	/* Committed: the files stay as the revision recorded them. */
	edit_end(e, 0);
	return err;
}

int quire_edit_commit(struct quire_project *p, const char *command, const json_t *events,
		      char *rev, size_t revlen)
{
	struct quire_edit *e = NULL;
	int err = quire_edit_begin(&e, p, command);
	return err ? err : quire_edit_finish(e, events, rev, revlen);
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Digest of a project file now, or NULL (missing): malloc'd. */
static char *digest_now(const char *root, const char *rel)
{
	char *path = quire__xasprintf("%s/%s", root, rel);
	struct quire_digest d;
	int err = quire_hash_file(path, &d, NULL);
	free(path);
	if (err) {
		quire_error_clear();
		return NULL;
	}
	return quire__xstrdup(d.s);
}

int quire_rewind_impact(const char *root, const char *rev, json_t **out)
{
	*out = NULL;
	char *qdir = quire__xasprintf("%s/.quire", root), *current = NULL;
	json_t *to = NULL, *from = NULL;
	int err = quire_manifest_load(qdir, rev, &to);
	if (!err)
		err = quire_manifest_current(qdir, &current);
	if (!err && current)
		err = quire_manifest_load(qdir, current, &from);
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
	json_object_foreach(json_object_get(to, "files"), id, e) {
		char *now = digest_now(root, id);
		if (!same(now, json_string_value(e)))
			json_array_append_new(files, json_string(id));
		free(now);
	}
	*out = json_pack("{s:O,s:O,s:{s:o,s:o,s:o},s:o,s:o}", "from",
			 json_object_get(from, "revision"), "to", json_object_get(to, "revision"),
			 "artefacts", "changed", changed, "added", added, "removed", removed,
			 "inputs", inputs, "files", files);
out:
	json_decref(to);
	json_decref(from);
	free(current);
	free(qdir);
	return err;
}

int quire_rewind(const char *root, const char *rev, const char *command, char *newrev,
		 size_t revlen)
{
	char *qdir = quire__xasprintf("%s/.quire", root);
	json_t *to = NULL, *prev = NULL, *next = NULL;
	struct quire_lock *lock = NULL;
	struct quire_project *p = NULL;
	int err = quire_manifest_load(qdir, rev, &to);
	if (err)
		goto out;
	/* Everything the rewind needs must be in the store before anything changes. */
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(to, "files"), k, v) {
		if (!quire_blob_exists(qdir, json_string_value(v))) {
			err = quire_error_set(QUIRE_ENOTFOUND,
					      "cannot rewind to %s: the content of '%s' it recorded is not "
					      "in the store (a fresh clone? run 'quire run' there first)",
					      rev, k);
			goto out;
		}
	}
	json_object_foreach(json_object_get(to, "artefacts"), k, v) {
		const char *d = str(v, "digest");
		if (d && !quire_blob_exists(qdir, d)) {
			err = quire_error_set(QUIRE_ENOTFOUND,
					      "cannot rewind to %s: the output of %s is not in the store",
					      rev, k);
			goto out;
		}
	}
	json_t *events = json_pack("[[s,n,{s:O,s:O,s:O,s:O}]]", "revision.restored", "from",
				   json_object_get(to, "revision"), "artefacts",
				   json_object_get(to, "artefacts"), "inputs",
				   json_object_get(to, "inputs"), "files", json_object_get(to, "files"));
	/* out/ as the project names it now (its default when the files do not load: a rewind
	 * may be what mends them). */
	struct quire_project *cur_p = NULL, shell = { 0 };
	if (quire_project_open(&cur_p, root)) {
		quire_error_clear();
		shell.root = (char *)root;
		shell.qdir = qdir;
		shell.out_dir = (char *)"out";
	}
	struct quire_edit *e = NULL;
	err = quire_edit_begin(&e, cur_p ? cur_p : &shell, command);
	if (!err && !(err = quire_out_preflight(e->p, e->store, e->prev, NULL)))
		err = commit_events(e, events, newrev, revlen, &next);
	if (e) {
		prev = json_incref(e->prev);
		lock = e->lock; /* held until out/ is written */
		e->lock = NULL;
		edit_end(e, 0);
	}
	quire_project_free(cur_p);
	json_decref(events);
	if (err)
		goto out;
	/* Restore the files as they were at rev (only those that differ). */
	json_object_foreach(json_object_get(to, "files"), k, v) {
		char *now = digest_now(root, k);
		int differs = !same(now, json_string_value(v));
		free(now);
		if (!differs)
			continue;
		struct quire_buf b = QUIRE_BUF_INIT;
		char *path = quire__xasprintf("%s/%s", root, k), *dir = quire__xstrdup(path);
		*strrchr(dir, '/') = '\0';
		err = quire_blob_read(qdir, json_string_value(v), &b, 0, 1);
		if (!err)
			err = quire_fs_mkdirs(dir, 0755);
		if (!err)
			err = quire_fs_write_atomic(path, b.ptr, b.len, 0644);
		quire_buf_release(&b);
		free(path);
		free(dir);
		if (err)
			goto out;
	}
	if ((err = quire_project_open(&p, root)) == 0) {
		size_t w, r;
		err = quire_out_sync(p, next, prev, &w, &r);
	}
out:
	quire_project_free(p);
	json_decref(to);
	json_decref(prev);
	json_decref(next);
	quire_lock_release(lock);
	free(qdir);
	return err;
}

/* Prompt and schema files the blueprint names, in blueprint order, without repeats. */
static json_t *template_files(const struct quire_project *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->bp->nproducers; i++) {
		const char *f[2] = { p->bp->producers[i].prompt, p->bp->producers[i].output.schema };
		for (int k = 0; k < 2; k++) {
			if (!f[k])
				continue;
			int seen = 0;
			size_t j;
			json_t *x;
			json_array_foreach(a, j, x) seen |= !strcmp(json_string_value(x), f[k]);
			if (!seen)
				json_array_append_new(a, json_string(f[k]));
		}
	}
	return a;
}

void quire_edit_export(const struct quire_project *p, const char *revision, struct quire_buf *out)
{
	quire_buf_printf(out,
			 "# quire export of %s: the inputs and prompt templates of this project.\n"
			 "# Edit what you like, then apply it with: quire edit --from THIS-FILE\n"
			 "inputs:\n",
			 revision ? revision : "the working project");
	for (size_t i = 0; i < p->bp->ninputs; i++) {
		const char *name = p->bp->inputs[i].name;
		quire_buf_printf(out, "  %s: ", name);
		quire_yaml_emit_scalar(out, json_object_get(p->inputs, name), 4);
		quire_buf_putc(out, '\n');
	}
	quire_buf_puts(out, "prompts:\n");
	json_t *files = template_files(p);
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f) {
		char *path = quire__xasprintf("%s/%s", p->root, json_string_value(f));
		struct quire_buf b = QUIRE_BUF_INIT;
		if (quire_fs_read(path, &b, QUIRE_TEXT_CAP) == 0) {
			json_t *v = json_stringn(b.ptr, b.len);
			quire_buf_printf(out, "  %s: ", json_string_value(f));
			quire_yaml_emit_scalar(out, v ? v : json_string(""), 4);
			quire_buf_putc(out, '\n');
			json_decref(v);
		}
		quire_error_clear();
		quire_buf_release(&b);
		free(path);
	}
	json_decref(files);
}

int quire_edit_parse_export(const struct quire_project *p, const char *name, const char *text,
			    size_t len, json_t **out)
{
	struct quire__yaml *y = NULL;
	*out = NULL;
	int err = quire__yaml_parse(text, len, name, &y);
	if (err)
		return err;
	json_t *doc = json_pack("{s:{},s:{}}", "inputs", "prompts");
	json_t *files = template_files(p);
	struct quire__ynode *root = y->root;
	if (!root || !quire__yaml_is_map(root)) {
		err = quire__yaml_error(y, root, QUIRE_EINVALID,
					"expected a mapping with 'inputs' and 'prompts'");
		goto out;
	}
	for (size_t i = 0; i < quire__yaml_count(root); i++) {
		char *k = quire__yaml_strdup(quire__yaml_key(root, i));
		int known = k && (!strcmp(k, "inputs") || !strcmp(k, "prompts"));
		free(k);
		if (!known) {
			err = quire__yaml_error(y, quire__yaml_key(root, i), QUIRE_EINVALID,
						"unknown key (expected inputs or prompts)");
			goto out;
		}
	}
	struct quire__ynode *ins = quire__yaml_get(root, "inputs");
	for (size_t i = 0; quire__yaml_is_map(ins) && i < quire__yaml_count(ins); i++) {
		struct quire__ynode *key = quire__yaml_key(ins, i);
		char *k = quire__yaml_strdup(key);
		int idx = k ? quire_blueprint_input(p->bp, k) : -1;
		json_t *v = NULL;
		if (idx < 0)
			err = quire__yaml_error(y, key, QUIRE_EINVALID, "unknown input '%s'",
						k ? k : "?");
		else
			err = quire__input_value(y, quire__yaml_value(ins, i), &p->bp->inputs[idx],
						 &v);
		if (!err)
			json_object_set_new(json_object_get(doc, "inputs"), k, v);
		free(k);
		if (err)
			goto out;
	}
	struct quire__ynode *prs = quire__yaml_get(root, "prompts");
	for (size_t pi = 0; quire__yaml_is_map(prs) && pi < quire__yaml_count(prs); pi++) {
		struct quire__ynode *key = quire__yaml_key(prs, pi);
		struct quire__ynode *val = quire__yaml_value(prs, pi);
		char *k = quire__yaml_strdup(key);
		int named = 0;
		size_t i;
		json_t *f;
		json_array_foreach(files, i, f) named |= k && !strcmp(json_string_value(f), k);
		size_t vl = 0;
		const char *v = quire__yaml_scalar(val, &vl);
		if (!named)
			err = quire__yaml_error(y, key, QUIRE_EINVALID,
						"'%s' is not a prompt or schema the blueprint names",
						k ? k : "?");
		else if (!v)
			err = quire__yaml_error(y, val, QUIRE_EINVALID,
						"the template '%s' must be text", k);
		if (!err)
			json_object_set_new(json_object_get(doc, "prompts"), k, json_stringn(v, vl));
		free(k);
		if (err)
			goto out;
	}
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	json_decref(files);
	quire__yaml_free(y);
	return err;
}
