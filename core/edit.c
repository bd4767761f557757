/* Human changes as revisions: edits, approvals, feedback, takes; and rewinds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
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

/* Opens the store under the lock and commits events as the next revision. */
static int commit_events(const char *root, const char *qdir, const char *command,
			 const json_t *events, char *rev, size_t revlen, json_t **prev_out,
			 json_t **next_out, struct quire_lock **lock_out)
{
	struct quire_lock *lock = NULL;
	struct quire_store *store = NULL;
	char *current = NULL, recovered[32] = "";
	json_t *prev = NULL;
	int err = quire_lock_acquire(&lock, qdir, command);
	if (err)
		return err;
	struct quire_project shell = { 0 };
	shell.root = (char *)root;
	shell.qdir = (char *)qdir;
	if ((err = quire_store_open(&store, qdir, 0)) ||
	    (err = quire__run_recover(&shell, store, recovered, sizeof(recovered))) ||
	    (err = quire_manifest_current(qdir, &current)))
		goto out;
	if (current && (err = quire_manifest_load(qdir, current, &prev)))
		goto out;
	long a, b = quire_manifest_max_rev(qdir);
	if ((err = quire_store_max_rev(store, &a)))
		goto out;
	quire_rev_format((a > b ? a : b) + 1, rev, revlen);
	int64_t run;
	json_t *start = json_pack("{s:s,s:o,s:s,s:o}", "revision", rev, "parent",
				  current ? json_string(current) : json_null(), "command", command,
				  "git", quire__git_info(root));
	char *start_text = quire_json_canonical(start);
	json_decref(start);
	err = quire_store_run_start(store, rev, current, command, start_text, &run);
	free(start_text);
	if (err)
		goto out;
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		if (err)
			break;
		err = quire__run_record(store, run, json_string_value(json_array_get(ev, 0)),
					json_string_value(json_array_get(ev, 1)), json_array_get(ev, 2),
					NULL, NULL);
	}
	if (!err)
		err = quire__run_record(store, run, "run.end", NULL, NULL, NULL, NULL);
	int cerr = quire__run_commit(qdir, store, run, rev, current, prev, next_out);
	if (!err)
		err = cerr;
out:
	if (err) {
		rev[0] = '\0';
		quire_lock_release(lock);
		json_decref(prev);
	} else {
		*lock_out = lock;
		*prev_out = prev;
	}
	quire_store_close(store);
	free(current);
	return err;
}

int quire_edit_commit(struct quire_project *p, const char *command, const json_t *events,
		      char *rev, size_t revlen)
{
	json_t *prev = NULL, *next = NULL;
	struct quire_lock *lock = NULL;
	/* Keep the content of every file as it is now (an input edit just rewrote inputs.yaml),
	 * so this revision can be rewound to later. */
	int err = quire_project_hash_files(p, NULL);
	if (!err)
		err = quire__run_snapshot(p, NULL);
	if (!err)
		err = commit_events(p->root, p->qdir, command, events, rev, revlen, &prev, &next,
				    &lock);
	if (!err) {
		size_t w, r;
		err = quire_out_sync(p, next, prev, &w, &r);
	}
	json_decref(prev);
	json_decref(next);
	quire_lock_release(lock);
	return err;
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
	json_t *changed = json_array(), *added = json_array(), *removed = json_array();
	const json_t *fa = json_object_get(from, "artefacts"), *ta = json_object_get(to, "artefacts");
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)ta, id, e) {
		const json_t *f = json_object_get(fa, id);
		if (!f)
			json_array_append_new(added, json_string(id));
		else if (!same(str(f, "digest"), str(e, "digest")) ||
			 !same(str(f, "status"), str(e, "status")))
			json_array_append_new(changed, json_string(id));
	}
	json_object_foreach((json_t *)fa, id, e) if (!json_object_get(ta, id))
		json_array_append_new(removed, json_string(id));
	json_t *inputs = json_array();
	const json_t *fi = json_object_get(from, "inputs"), *ti = json_object_get(to, "inputs");
	json_object_foreach((json_t *)ti, id, e) {
		if (!same(str(json_object_get(fi, id), "digest"), str(e, "digest")))
			json_array_append_new(inputs, json_string(id));
	}
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
	err = commit_events(root, qdir, command, events, newrev, revlen, &prev, &next, &lock);
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
