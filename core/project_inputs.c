/* Inputs: inputs.yaml parsed against the blueprint, one input's value from text, and
 * rewriting inputs.yaml in place ('quire edit --set') keeping the writer's comments. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/fs.h"
#include "template.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/secret.h"
#include "quire-config.h"
#include "quire-provider.h"
#include "quire/store.h"
#include "project_internal.h"
#include "project_parse.h"
#include "util.h"
#include "yaml.h"

/* Reads file input `name` (rel, relative to the project) into p->input_text, and sets its
 * value to the path as normalised; `where` ("inputs.yaml:3:8") positions what is wrong. */
static int load_file_input(struct quire_project *p, const char *name, const char *rel,
			   const char *where)
{
	char *norm = quire__rel_normal(rel);
	size_t ol = strlen(p->out_dir);
	if (!norm || !*norm || !strcmp(norm, ".quire") || !strncmp(norm, ".quire/", 7) ||
	    (!strncmp(norm, p->out_dir, ol) && (!norm[ol] || norm[ol] == '/'))) {
		free(norm);
		return quire_error_set(QUIRE_EINVALID,
				       "%s: input '%s' must name a file inside the project (not "
				       "in .quire or %s/, which quire writes), not '%s'",
				       where, name, p->out_dir, rel);
	}
	char *path = quire__path_join(p->root, norm);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = 0;
	/* Judged by what it is: a link out of the project, or a FIFO that would block the
	 * read, is refused like a path that leaves it. */
	char *real = realpath(path, NULL), *rroot = realpath(p->root, NULL);
	struct stat st;
	size_t rl = rroot ? strlen(rroot) : 0;
	if (real && rroot &&
	    (strncmp(real, rroot, rl) || real[rl] != '/' || stat(real, &st) ||
	     !S_ISREG(st.st_mode)))
		err = quire_error_set(QUIRE_EINVALID,
				      "%s: input '%s' must name a regular file inside the project; "
				      "'%s' is %s",
				      where, name, norm,
				      strncmp(real, rroot, rl) || real[rl] != '/'
					      ? "a link that leaves it"
					      : "not a regular file");
	free(real);
	free(rroot);
	if (!err)
		err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND,
				      "%s: input '%s' names '%s', which does not exist (create it, "
				      "or point %s at another file)",
				      where, name, norm, name);
	else if (err)
		err = quire_error_prefix(err, "%s: input '%s'", where, name);
	if (!err)
		err = quire_fs_check_utf8(norm, b.ptr, b.len);
	if (!err) {
		if (!p->input_text)
			p->input_text = json_object();
		json_object_set_new(p->input_text, name, json_stringn(b.ptr ? b.ptr : "", b.len));
		json_object_set_new(p->inputs, name, json_string(norm));
		json_decref(p->render_inputs);
		p->render_inputs = NULL;
	}
	quire_buf_release(&b);
	free(path);
	free(norm);
	return err;
}

const json_t *quire_project_render_inputs(const struct quire_project *p)
{
	if (!p->input_text)
		return p->inputs;
	struct quire_project *mp = (struct quire_project *)p;
	if (!mp->render_inputs) {
		mp->render_inputs = json_copy(p->inputs);
		json_object_update(mp->render_inputs, p->input_text);
	}
	return mp->render_inputs;
}

int quire__project_parse_inputs(struct quire_project *p, const char *text, size_t len)
{
	const struct quire_blueprint *bp = p->bp;
	struct quire__yaml *y = NULL;
	int err = quire__yaml_parse(text, len, p->inputs_file, &y);
	if (err)
		return err;
	p->inputs = json_object();
	struct quire__ynode *root = y->root;
	if (root && !quire__yaml_is_map(root) && !quire__yaml_empty(root)) {
		err = quire__yaml_error(y, root, QUIRE_EINVALID,
					"%s must be a mapping of input names to values",
					p->inputs_file);
		goto out;
	}
	for (size_t pi = 0; pi < quire__yaml_count(root); pi++) {
		struct quire__ynode *key = quire__yaml_key(root, pi);
		char *k = quire__yaml_strdup(key);
		int idx = k ? quire_blueprint_input(bp, k) : -1;
		if (idx < 0) {
			const char *best = NULL;
			size_t bestd = (size_t)-1;
			for (size_t i = 0; k && i < bp->ninputs; i++) {
				size_t d = quire__edit_distance(k, bp->inputs[i].name);
				if (d < bestd)
					bestd = d, best = bp->inputs[i].name;
			}
			if (best && bestd <= strlen(k) / 3 + 1)
				err = quire__yaml_error(y, key, QUIRE_EINVALID,
							"unknown input '%s' (did you mean '%s'?)",
							k, best);
			else
				err = quire__yaml_error(
					y, key, QUIRE_EINVALID,
					"unknown input '%s' (the blueprint declares no such input)",
					k ? k : "?");
			free(k);
			goto out;
		}
		json_t *v = NULL;
		struct quire__ynode *val = quire__yaml_value(root, pi);
		if (!val || quire__yaml_empty(val)) {
			free(k);
			continue; /* "Name:" with no value means: use the default */
		}
		err = quire__input_value(y, val, &bp->inputs[idx], &v);
		if (err) {
			free(k);
			goto out;
		}
		json_object_set_new(p->inputs, k, v);
		if (bp->inputs[idx].type == QUIRE_INPUT_FILE) {
			int line, col;
			quire__yaml_pos(val, &line, &col);
			char where[512];
			snprintf(where, sizeof(where), "%s:%d:%d", p->inputs_file, line, col);
			err = load_file_input(p, k, json_string_value(v), where);
		}
		free(k);
		if (err)
			goto out;
	}
	for (size_t i = 0; i < bp->ninputs; i++) {
		const struct quire_input_decl *in = &bp->inputs[i];
		if (json_object_get(p->inputs, in->name))
			continue;
		if (in->def && in->type == QUIRE_INPUT_FILE) {
			char where[512];
			snprintf(where, sizeof(where), "%s:%d:%d (its default)", bp->file, in->line,
				 in->col);
			if ((err = load_file_input(p, in->name, json_string_value(in->def), where)))
				goto out;
		} else if (in->def) {
			json_object_set(p->inputs, in->name, in->def);
		} else if (in->required || in->type == QUIRE_INPUT_FILE) {
			err = quire_error_set(QUIRE_EINVALID,
					      "%s: required input '%s' has no value (set it in %s)",
					      p->inputs_file, in->name, p->inputs_file);
			goto out;
		} else if (in->type == QUIRE_INPUT_INT) {
			json_object_set_new(p->inputs, in->name,
					    json_integer(in->has_min && in->min > 0 ? in->min : 0));
		} else if (in->type == QUIRE_INPUT_BOOL) {
			json_object_set_new(p->inputs, in->name, json_false());
		} else if (in->type == QUIRE_INPUT_ENUM) {
			json_object_set_new(p->inputs, in->name, json_string(in->values[0]));
		} else if (in->type == QUIRE_INPUT_LIST) {
			json_object_set_new(p->inputs, in->name, json_array());
		} else {
			json_object_set_new(p->inputs, in->name, json_string(""));
		}
	}
out:
	quire__yaml_free(y);
	return err;
}

void quire_project_input_digest(const struct quire_project *p, const char *name,
				struct quire_digest *out)
{
	/* Memoised: planning asks for the same few inputs for every instance. The memo is
	 * dropped for an input whose value quire_project_set_input changes. */
	struct quire_project *mp = (struct quire_project *)p;
	const char *known = json_string_value(json_object_get(mp->input_digests, name));
	if (known) {
		memcpy(out->s, known, QUIRE_DIGEST_STRLEN);
		return;
	}
	/* A file input by its text: renaming the file changes nothing that is generated. */
	json_t *v = json_object_get(p->input_text, name);
	if (!v)
		v = json_object_get(p->inputs, name);
	quire_hash_json(v ? v : json_null(), out);
	if (!mp->input_digests)
		mp->input_digests = json_object();
	json_object_set_new(mp->input_digests, name, json_string(out->s));
}

int quire_project_parse_list_item(const struct quire_project *p, const char *target,
				  const char *text, char **name, json_t **out)
{
	*out = NULL;
	*name = NULL;
	const char *br = strchr(target, '[');
	char *end = NULL;
	long long k = br ? strtoll(br + 1, &end, 10) : -1;
	if (!br || !end || end == br + 1 || strcmp(end, "]") || k < 0)
		return quire_error_set(QUIRE_EINVALID,
				       "'%s' is not a list item (NAME[N], N from 0)", target);
	char *n = quire__xstrndup(target, (size_t)(br - target));
	int idx = quire_blueprint_input(p->bp, n);
	if (idx < 0 || p->bp->inputs[idx].type != QUIRE_INPUT_LIST) {
		int err = idx < 0 ? quire_error_set(QUIRE_ENOTFOUND, "unknown input '%s'", n)
				  : quire_error_set(QUIRE_EINVALID,
						    "input '%s' is not a list: set it with --set "
						    "'%s=VALUE'",
						    n, n);
		free(n);
		return err;
	}
	const json_t *cur = json_object_get(p->inputs, n);
	size_t count = json_array_size(cur);
	if ((size_t)k > count) {
		int err = quire_error_set(QUIRE_EINVALID,
					  "input '%s' has %zu item%s: set %s[0] to %s[%zu] (the "
					  "last adds one), not %s",
					  n, count, count == 1 ? "" : "s", n, n, count, target);
		free(n);
		return err;
	}
	if (quire_fs_check_utf8(target, text, strlen(text))) {
		free(n);
		return QUIRE_EINVALID;
	}
	json_t *v = json_copy((json_t *)cur);
	if ((size_t)k == count)
		json_array_append_new(v, json_string(text));
	else
		json_array_set_new(v, (size_t)k, json_string(text));
	*out = v;
	*name = n;
	return 0;
}

int quire_project_parse_input(const struct quire_project *p, const char *name, const char *text,
			      json_t **out)
{
	*out = NULL;
	int idx = quire_blueprint_input(p->bp, name);
	if (idx < 0) {
		const char *best = NULL;
		size_t bestd = (size_t)-1;
		for (size_t i = 0; i < p->bp->ninputs; i++) {
			size_t d = quire__edit_distance(name, p->bp->inputs[i].name);
			if (d < bestd)
				bestd = d, best = p->bp->inputs[i].name;
		}
		if (best && bestd <= strlen(name) / 3 + 1)
			return quire_error_set(QUIRE_ENOTFOUND,
					       "unknown input '%s' (did you mean '%s'?)", name,
					       best);
		return quire_error_set(QUIRE_ENOTFOUND, "unknown input '%s'", name);
	}
	const struct quire_input_decl *in = &p->bp->inputs[idx];
	switch (in->type) {
	case QUIRE_INPUT_TEXT:
		if (quire_fs_check_utf8(name, text, strlen(text)))
			return QUIRE_EINVALID;
		*out = json_string(text);
		return 0;
	case QUIRE_INPUT_LIST:
		return quire_error_set(QUIRE_EINVALID,
				       "input '%s' is a list: set one item with --set '%s[N]=TEXT' "
				       "(N from 0; the next N adds one), or edit %s",
				       name, name, p->inputs_file);
	case QUIRE_INPUT_FILE: {
		if (quire_fs_check_utf8(name, text, strlen(text)))
			return QUIRE_EINVALID;
		char *norm = quire__rel_normal(text);
		char *path = norm && *norm ? quire__path_join(p->root, norm) : NULL;
		struct stat st;
		int ok = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!ok) {
			int err = quire_error_set(
				QUIRE_EINVALID,
				"input '%s' names a file: '%s' is not a file in the "
				"project",
				name, text);
			free(norm);
			return err;
		}
		*out = json_string(norm);
		free(norm);
		return 0;
	}
	case QUIRE_INPUT_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (!*text || *end || errno)
			return quire_error_set(QUIRE_EINVALID,
					       "input '%s' must be an integer, not '%s'", name,
					       text);
		if (in->has_min && v < in->min)
			return quire_error_set(QUIRE_EINVALID,
					       "input '%s' is %lld, below its minimum %lld", name,
					       v, in->min);
		if (in->has_max && v > in->max)
			return quire_error_set(QUIRE_EINVALID,
					       "input '%s' is %lld, above its maximum %lld", name,
					       v, in->max);
		*out = json_integer(v);
		return 0;
	}
	case QUIRE_INPUT_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "yes"))
			*out = json_true();
		else if (!strcmp(text, "false") || !strcmp(text, "no"))
			*out = json_false();
		else
			return quire_error_set(QUIRE_EINVALID,
					       "input '%s' must be true or false, not '%s'", name,
					       text);
		return 0;
	case QUIRE_INPUT_ENUM:
		for (size_t k = 0; k < in->nvalues; k++)
			if (!strcmp(in->values[k], text)) {
				*out = json_string(text);
				return 0;
			}
		{
			struct quire_buf b = QUIRE_BUF_INIT;
			for (size_t k = 0; k < in->nvalues; k++)
				quire_buf_printf(&b, "%s'%s'", k ? ", " : "", in->values[k]);
			int err = quire_error_set(QUIRE_EINVALID,
						  "input '%s' must be one of %s, not '%s'", name,
						  b.ptr, text);
			quire_buf_release(&b);
			return err;
		}
	}
	return QUIRE_EINVALID;
}

/* true when text can be written as a plain YAML scalar and read back as the same text. */
static int plain_safe(const char *s, size_t len)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on", "off",
					     "null", "y",     "n",   "~",  NULL };
	if (!len || len > 200 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == ' ' || c == '_' || c == '-' || c == '.' ||
			 c == ',' || c == '\'' || c == '!' || c == '?' || c == '(' || c == ')';
		if (!ok)
			return 0;
	}
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == len && !strncasecmp(words[i], s, len))
			return 0;
	return 1;
}

/* The code point of the UTF-8 character at s (valid UTF-8: a JSON string); its length in *n. */
static unsigned utf8_at(const unsigned char *s, size_t *n)
{
	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	*n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	unsigned cp = s[0] & (0x7f >> *n);
	for (size_t k = 1; k < *n; k++)
		cp = (cp << 6) | (s[k] & 0x3f);
	return cp;
}

/* 1 for what libyaml refuses unescaped (DEL, C1 controls, U+FFFE, U+FFFF) or reads as a line
 * break (U+0085, U+2028, U+2029): written as an escape in double quotes. */
static int needs_escape(unsigned cp)
{
	return cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfffe || cp == 0xffff;
}

/* js (a JSON string, whose C0 controls are escaped already) with needs_escape() escaped. */
static void put_json_escaped(struct quire_buf *out, const char *js)
{
	const unsigned char *s = (const unsigned char *)js;
	while (*s) {
		size_t n;
		unsigned cp = utf8_at(s, &n);
		if (needs_escape(cp))
			quire_buf_printf(out, "\\u%04X", cp);
		else
			quire_buf_add(out, s, n);
		s += n;
	}
}

void quire_yaml_emit_scalar(struct quire_buf *out, const json_t *value, int indent)
{
	if (json_is_array(value)) {
		/* A list input: a block sequence on the lines after its key. */
		size_t k;
		const json_t *item;
		json_array_foreach(value, k, item) {
			quire_buf_printf(out, "\n%*s- ", indent, "");
			quire_yaml_emit_scalar(out, item, indent + 2);
		}
		if (!json_array_size(value))
			quire_buf_puts(out, "[]");
		return;
	}
	if (!json_is_string(value)) {
		char *s = json_dumps(value, JSON_ENCODE_ANY);
		quire_buf_puts(out, s);
		free(s);
		return;
	}
	const char *s = json_string_value(value);
	size_t len = json_string_length(value);
	if (plain_safe(s, len)) {
		quire_buf_add(out, s, len);
		return;
	}
	int multiline = memchr(s, '\n', len) != NULL;
	int ok_block = multiline && len && memchr(s, '\0', len) == NULL && s[0] != ' ' &&
		       s[0] != '\n' && !(len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n');
	for (size_t i = 0; ok_block && i < len; i++)
		ok_block = !(s[i] == ' ' && (i + 1 == len || s[i + 1] == '\n')) && s[i] != '\r' &&
			   ((unsigned char)s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t');
	for (size_t i = 0, n; ok_block && i < len; i += n)
		ok_block = !needs_escape(utf8_at((const unsigned char *)s + i, &n));
	if (!ok_block) {
		/* A JSON string is a valid YAML double-quoted scalar. */
		char *js = json_dumps(value, JSON_ENCODE_ANY);
		put_json_escaped(out, js);
		free(js);
		return;
	}
	quire_buf_puts(out, s[len - 1] == '\n' ? "|" : "|-");
	for (const char *line = s; line < s + len;) {
		const char *nl = memchr(line, '\n', (size_t)(s + len - line));
		size_t l = nl ? (size_t)(nl - line) : (size_t)(s + len - line);
		quire_buf_putc(out, '\n');
		if (l)
			quire_buf_printf(out, "%*s%.*s", indent, "", (int)l, line);
		line += l + 1;
	}
}

/* Where a block scalar that starts at `start` (its '|' or '>') ends: after the last line more
 * indented than the line holding its key (blank lines inside count), before that line break. */
static size_t block_end(const char *t, size_t len, size_t start)
{
	size_t pos = start;
	while (pos < len && t[pos] != '\n')
		pos++;
	size_t end = pos; /* end of the header line */
	if (end > start && t[end - 1] == '\r')
		end--;
	/* The block's lines are indented at least as much as its first non-blank line; the
	 * first non-blank line indented less (a key, or a comment) ends it. */
	size_t content_indent = 0;
	/* An explicit indentation indicator ("|2") fixes it relative to the key's line. */
	for (size_t c = start + 1; c < end && c < start + 3; c++)
		if (t[c] >= '1' && t[c] <= '9') {
			size_t ls = start, key = 0;
			while (ls > 0 && t[ls - 1] != '\n')
				ls--;
			while (t[ls + key] == ' ')
				key++;
			content_indent = key + (size_t)(t[c] - '0');
		}
	while (pos < len) {
		size_t line = pos + 1, ind = 0;
		while (line + ind < len && t[line + ind] == ' ')
			ind++;
		size_t eol = line;
		while (eol < len && t[eol] != '\n')
			eol++;
		int blank = line + ind >= eol || (line + ind + 1 == eol && t[line + ind] == '\r');
		if (!blank) {
			if (!content_indent)
				content_indent = ind ? ind : 1;
			if (ind < content_indent)
				break;
			end = eol > line && t[eol - 1] == '\r' ? eol - 1 : eol;
		}
		pos = eol;
	}
	return end;
}

/* The text of inputs.yaml with list node val (of y, text length tl) holding value: its items'
 * characters replaced in its own style where it stood; in a block list item by item, so what
 * did not change keeps its characters (and the comments between items), and new items follow
 * the last. */
static void list_text(struct quire_buf *text, const struct quire__yaml *y,
		      const struct quire__ynode *val, size_t tl, const json_t *value)
{
	/* A list: its items' characters replaced, in its own style, where it stood. */
	size_t start = val->start, end = val->end, col = 0;
	/* A block list ends with its last item (libyaml's mark for the list may be the
	 * next key's line). */
	size_t count = quire__yaml_count(val);
	const struct quire__ynode *last = count ? quire__yaml_item(val, count - 1) : NULL;
	if (y->text[start] != '[' && last && last->end <= tl)
		end = last->style == QUIRE_YLITERAL || last->style == QUIRE_YFOLDED
			      ? block_end(y->text, tl, last->start)
			      : last->end;
	while (col < start && y->text[start - col - 1] != '\n')
		col++;
	quire_buf_add(text, y->text, start);
	size_t k;
	const json_t *item;
	if (y->text[start] == '[') {
		quire_buf_putc(text, '[');
		json_array_foreach(value, k, item) {
			char *js = json_dumps(item, JSON_ENCODE_ANY);
			quire_buf_printf(text, "%s%s", k ? ", " : "", js);
			free(js);
		}
		quire_buf_putc(text, ']');
	} else if (!json_array_size(value)) {
		quire_buf_puts(text, "[]");
	} else if (count && json_array_size(value) >= count) {
		/* Item by item: what did not change keeps its characters (and the
		 * comments between items); new items follow the last. */
		size_t pos = start;
		for (k = 0; k < count; k++) {
			const struct quire__ynode *it = quire__yaml_item(val, k);
			size_t il;
			const char *was = quire__yaml_scalar(it, &il);
			const char *now = json_string_value(json_array_get(value, k));
			if (was && now && il == strlen(now) && !memcmp(was, now, il))
				continue;
			size_t ie = it->style == QUIRE_YLITERAL || it->style == QUIRE_YFOLDED
					    ? block_end(y->text, tl, it->start)
					    : it->end;
			quire_buf_add(text, y->text + pos, it->start - pos);
			quire_yaml_emit_scalar(text, json_array_get(value, k), (int)col + 2);
			pos = ie;
		}
		quire_buf_add(text, y->text + pos, end - pos);
		for (k = count; k < json_array_size(value); k++) {
			quire_buf_printf(text, "\n%*s- ", (int)col, "");
			quire_yaml_emit_scalar(text, json_array_get(value, k), (int)col + 2);
		}
	} else {
		json_array_foreach(value, k, item) {
			if (k)
				quire_buf_printf(text, "\n%*s", (int)col, "");
			quire_buf_puts(text, "- ");
			quire_yaml_emit_scalar(text, item, (int)col + 2);
		}
	}
	quire_buf_add(text, y->text + end, tl - end);
}

int quire_project_set_input(struct quire_project *p, const char *name, const json_t *value)
{
	char *path = quire__xasprintf("%s/%s", p->root, p->inputs_file);
	struct quire__yaml *y = NULL, *check = NULL;
	struct quire_buf text = QUIRE_BUF_INIT, emitted = QUIRE_BUF_INIT;
	int err = quire__yaml_load(path, p->inputs_file, &y);
	if (err)
		goto out;
	struct quire__ynode *val = quire__yaml_get(y->root, name);
	const struct quire__ynode *key = quire__yaml_key_of(val);
	quire_yaml_emit_scalar(&emitted, value, 2);
	size_t tl = y->len;
	if (val && (val->parent != y->root || !key || strcmp(key->text, name))) {
		/* Written as an alias or merged in: its characters hold another value too. */
		err = quire_error_set(QUIRE_EINVALID,
				      "%s: the value of '%s' is an alias of another value; "
				      "edit it by hand",
				      p->inputs_file, name);
		goto out;
	}
	if (quire__yaml_is_scalar(val) && !quire__yaml_empty(val) && val->start <= val->end &&
	    val->end <= tl) {
		/* Replace exactly the old value's characters (its quotes too); everything else
		 * stays as written. */
		size_t start = val->start, end = val->end;
		char comment[256] = "";
		if (val->style == QUIRE_YLITERAL || val->style == QUIRE_YFOLDED) {
			if (start >= tl || (y->text[start] != '|' && y->text[start] != '>')) {
				err = quire_error_set(
					QUIRE_EINVALID,
					"%s: cannot find where the value of '%s' starts; "
					"edit it by hand",
					p->inputs_file, name);
				goto out;
			}
			/* libyaml's block takes the blank lines after it: they stay in the file. */
			end = block_end(y->text, tl, start);
			/* Keep a comment on the header line ("|-  # note"). */
			const char *hash = NULL;
			for (size_t c = start + 1; c < tl && y->text[c] != '\n'; c++)
				if (y->text[c] == '#' && y->text[c - 1] == ' ') {
					hash = y->text + c;
					break;
				}
			if (hash) {
				size_t cl = 0;
				while (hash[cl] && hash[cl] != '\n' && hash[cl] != '\r')
					cl++;
				snprintf(comment, sizeof(comment), "  %.*s", (int)cl, hash);
			}
		}
		quire_buf_add(&text, y->text, start);
		if (comment[0]) {
			/* After the value's first line: its block header, or the whole value. */
			const char *nl = memchr(emitted.ptr, '\n', emitted.len);
			size_t first = nl ? (size_t)(nl - emitted.ptr) : emitted.len;
			quire_buf_add(&text, emitted.ptr, first);
			quire_buf_puts(&text, comment);
			quire_buf_add(&text, emitted.ptr + first, emitted.len - first);
		} else {
			quire_buf_add(&text, emitted.ptr, emitted.len);
		}
		quire_buf_add(&text, y->text + end, tl - end);
	} else if (quire__yaml_is_seq(val) && val->start < val->end && val->end <= tl &&
		   json_is_array(value)) {
		list_text(&text, y, val, tl, value);
	} else if (!val || quire__yaml_empty(val)) {
		const char *eol = strstr(y->text, "\r\n") ? "\r\n" : "\n";
		quire_buf_add(&text, y->text, tl);
		if (tl && y->text[tl - 1] != '\n')
			quire_buf_puts(&text, eol);
		if (val) {
			/* "Name:" with no value: drop that line's key by appending after it is not
			 * possible without a second key; refuse rather than guess. */
			err = quire_error_set(QUIRE_EINVALID,
					      "%s: '%s:' has no value; give it one by hand first",
					      p->inputs_file, name);
			goto out;
		}
		quire_buf_printf(&text, "%s: %s%s", name, emitted.ptr, eol);
	} else {
		err = quire_error_set(QUIRE_EINVALID, "%s: the value of '%s' is not a scalar",
				      p->inputs_file, name);
		goto out;
	}
	/* Read it back: the file must parse and hold exactly the new value. */
	if ((err = quire__yaml_parse(text.ptr, text.len, p->inputs_file, &check)))
		goto out;
	json_t *got = NULL;
	int idx = quire_blueprint_input(p->bp, name);
	struct quire__ynode *nv = quire__yaml_get(check->root, name);
	if (idx < 0 || !nv || quire__input_value(check, nv, &p->bp->inputs[idx], &got) ||
	    !json_equal(got, (json_t *)value)) {
		json_decref(got);
		err = quire_error_set(
			QUIRE_ERROR,
			"internal: rewriting %s would not hold the new value of '%s'; "
			"the file was left unchanged",
			p->inputs_file, name);
		goto out;
	}
	json_decref(got);
	if ((err = quire_fs_rewrite(path, text.ptr, text.len)))
		goto out;
	json_object_set(p->inputs, name, (json_t *)value);
	json_object_del(p->input_digests, name);
	json_decref(p->render_inputs);
	p->render_inputs = NULL;
	int fi = quire_blueprint_input(p->bp, name);
	if (fi >= 0 && p->bp->inputs[fi].type == QUIRE_INPUT_FILE)
		err = load_file_input(p, name, json_string_value(value), p->inputs_file);
out:
	quire__yaml_free(y);
	quire__yaml_free(check);
	quire_buf_release(&text);
	quire_buf_release(&emitted);
	free(path);
	return err;
}

json_t *quire_project_inputs_record(const struct quire_project *p)
{
	json_t *inputs = json_object();
	const char *name;
	json_t *v;
	json_object_foreach(p->inputs, name, v) {
		struct quire_digest d;
		quire_project_input_digest(p, name, &d);
		json_object_set_new(inputs, name,
				    json_pack("{s:s,s:O}", "digest", d.s, "value", v));
	}
	return inputs;
}
