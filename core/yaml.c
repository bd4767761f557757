/* Thin layer over libfyaml: quiet parsing, collected errors, positions, YAML-to-JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "util.h"
#include "yaml.h"

int quire__yaml_load(const char *path, const char *name, struct quire__yaml **out)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	err = quire__yaml_parse(b.ptr, b.len, name, out);
	quire_buf_release(&b);
	return err;
}

int quire__yaml_parse(const char *text, size_t len, const char *name, struct quire__yaml **out)
{
	*out = NULL;
	/* libfyaml 0.7.12 can hang on invalid UTF-8: check it ourselves first. */
	int err = quire_fs_check_utf8(name, text, len);
	if (err)
		return err;

	struct quire__yaml *y = quire__xcalloc(1, sizeof(*y));
	y->name = quire__xstrdup(name);
	y->text = quire__xstrndup(text, len);

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.colorize = false;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (!diag)
		abort();
	fy_diag_set_collect_errors(diag, true);

	struct fy_parse_cfg cfg = { 0 };
	cfg.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT;
	cfg.diag = diag;
	y->doc = fy_document_build_from_string(&cfg, y->text, len);
	if (!y->doc) {
		void *it = NULL;
		struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
		if (!e) {
			/* An empty file (or only comments) is an empty document, not an error. */
			fy_diag_destroy(diag);
			*out = y;
			return 0;
		}
		/* Collected diagnostics count lines and columns from 1 already. */
		if (e)
			err = quire_error_set(QUIRE_EINVALID, "%s:%d:%d: %s%s", name, e->line,
					      e->column, e->msg ? e->msg : "invalid YAML",
					      e->msg && strstr(e->msg, "flow")
						      ? " (an id with brackets inside [ ] must be quoted, "
							"\"Chapter[i]\", or written as a block list)"
						      : "");
		else
			err = quire_error_set(QUIRE_EINVALID, "%s: invalid YAML", name);
		fy_diag_destroy(diag);
		quire__yaml_free(y);
		return err;
	}
	fy_diag_destroy(diag);
	y->root = fy_document_root(y->doc);
	*out = y;
	return 0;
}

void quire__yaml_free(struct quire__yaml *y)
{
	if (!y)
		return;
	if (y->doc)
		fy_document_destroy(y->doc);
	free(y->name);
	free(y->text);
	free(y);
}

/* The key whose value is n in its parent mapping, or NULL. */
static struct fy_node *key_of(struct fy_node *n)
{
	struct fy_node *parent = fy_node_get_parent(n);
	if (!parent || !fy_node_is_mapping(parent))
		return NULL;
	void *it = NULL;
	struct fy_node_pair *p;
	while ((p = fy_node_mapping_iterate(parent, &it)))
		if (fy_node_pair_value(p) == n)
			return fy_node_pair_key(p);
	return NULL;
}

void quire__yaml_pos(struct fy_node *n, int *line, int *col)
{
	*line = 1;
	*col = 1;
	/* An empty collection has no token of its own here: point at the key it belongs to. */
	if (n && ((fy_node_is_mapping(n) && fy_node_mapping_item_count(n) == 0) ||
		  (fy_node_is_sequence(n) && fy_node_sequence_item_count(n) == 0))) {
		struct fy_node *k = key_of(n);
		if (k)
			n = k;
	}
	for (int depth = 0; n && depth < 64; depth++) {
		if (fy_node_is_scalar(n) || fy_node_is_alias(n)) {
			struct fy_token *t = fy_node_get_scalar_token(n);
			if (!t)
				return;
			const struct fy_mark *m = fy_token_start_mark(t);
			if (m) {
				*line = m->line + 1;
				*col = m->column + 1;
			}
			return;
		}
		void *it = NULL;
		if (fy_node_is_mapping(n)) {
			struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
			n = p ? fy_node_pair_key(p) : NULL;
		} else if (fy_node_is_sequence(n)) {
			n = fy_node_sequence_iterate(n, &it);
		} else {
			return;
		}
	}
}

int quire__yaml_error(const struct quire__yaml *y, struct fy_node *n, int code, const char *fmt,
		      ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int line = 1, col = 1;
	quire__yaml_pos(n, &line, &col);
	return quire_error_set(code, "%s:%d:%d: %s", y->name, line, col, msg);
}

const char *quire__yaml_scalar(struct fy_node *n, size_t *len)
{
	if (!n || !fy_node_is_scalar(n))
		return NULL;
	const char *s = fy_node_get_scalar(n, len);
	if (!s) {
		*len = 0;
		return "";
	}
	return s;
}

char *quire__yaml_strdup(struct fy_node *n)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	return s ? quire__xstrndup(s, len) : NULL;
}

int quire__yaml_plain(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) && fy_node_get_style(n) == FYNS_PLAIN;
}

struct fy_node *quire__yaml_get(struct fy_node *n, const char *key)
{
	if (!n || !fy_node_is_mapping(n))
		return NULL;
	return fy_node_mapping_lookup_by_string(n, key, strlen(key));
}

int quire__yaml_int(struct fy_node *n, long long *out)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	if (!s || !quire__yaml_plain(n) || len == 0 || len > 20)
		return -1;
	char tmp[24];
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(tmp, &end, 10);
	if (errno || *end || end == tmp)
		return -1;
	*out = v;
	return 0;
}

json_t *quire__yaml_to_json(struct fy_node *n)
{
	if (!n)
		return json_null();
	if (fy_node_is_mapping(n)) {
		json_t *o = json_object();
		void *it = NULL;
		struct fy_node_pair *p;
		while ((p = fy_node_mapping_iterate(n, &it))) {
			char *k = quire__yaml_strdup(fy_node_pair_key(p));
			if (!k)
				continue;
			json_object_set_new(o, k, quire__yaml_to_json(fy_node_pair_value(p)));
			free(k);
		}
		return o;
	}
	if (fy_node_is_sequence(n)) {
		json_t *a = json_array();
		void *it = NULL;
		struct fy_node *c;
		while ((c = fy_node_sequence_iterate(n, &it)))
			json_array_append_new(a, quire__yaml_to_json(c));
		return a;
	}
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	if (!s)
		return json_null();
	if (quire__yaml_plain(n)) {
		long long v;
		if (quire__yaml_int(n, &v) == 0)
			return json_integer(v);
		if ((len == 4 && !memcmp(s, "true", 4)) || (len == 3 && !memcmp(s, "yes", 3)))
			return json_true();
		if ((len == 5 && !memcmp(s, "false", 5)) || (len == 2 && !memcmp(s, "no", 2)))
			return json_false();
		if (len == 0 || (len == 4 && !memcmp(s, "null", 4)) || (len == 1 && s[0] == '~'))
			return json_null();
	}
	return json_stringn(s, len);
}
