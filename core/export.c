/* The editable export of a project's inputs and templates (inspect --export), and reading
 * one back (edit --from). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/project.h"
#include "util.h"
#include "yaml.h"

/* Prompt and schema files the blueprint names, in blueprint order, then the files of file
 * inputs (a canon file travels with the prompts), without repeats. */
static json_t *template_files(const struct quire_project *p)
{
	json_t *a = json_array();
	for (size_t i = 0; i < p->bp->nproducers; i++) {
		const char *f[2] = { p->bp->producers[i].prompt,
				     p->bp->producers[i].output.schema };
		for (int k = 0; k < 2; k++) {
			if (!f[k])
				continue;
			int seen = 0;
			size_t j;
			json_t *x;
			json_array_foreach(a, j, x)
				seen |= !strcmp(json_string_value(x), f[k]);
			if (!seen)
				json_array_append_new(a, json_string(f[k]));
		}
	}
	const char *name;
	json_t *text;
	json_object_foreach(p->input_text, name, text) {
		(void)text;
		const char *rel = json_string_value(json_object_get(p->inputs, name));
		int seen = 0;
		size_t j;
		json_t *x;
		json_array_foreach(a, j, x)
			seen |= rel && !strcmp(json_string_value(x), rel);
		if (rel && !seen)
			json_array_append_new(a, json_string(rel));
	}
	return a;
}

void quire_edit_export(const struct quire_project *p, const char *revision, struct quire_buf *out)
{
	quire_buf_printf(
		out,
		"# quire export of %.*s: the inputs and prompt templates of this project.\n"
		"# Edit what you like, then apply it with: quire edit --from THIS-FILE\n"
		"inputs:\n",
		revision ? 12 : 64, revision ? revision : "the working project");
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
		json_array_foreach(files, i, f)
			named |= k && !strcmp(json_string_value(f), k);
		size_t vl = 0;
		const char *v = quire__yaml_scalar(val, &vl);
		if (!named)
			err = quire__yaml_error(
				y, key, QUIRE_EINVALID,
				"'%s' is not a prompt or schema the blueprint names, nor a file "
				"input's file",
				k ? k : "?");
		else if (!v)
			err = quire__yaml_error(y, val, QUIRE_EINVALID,
						"the template '%s' must be text", k);
		if (!err)
			json_object_set_new(json_object_get(doc, "prompts"), k,
					    json_stringn(v, vl));
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
