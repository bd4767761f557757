/* Template checks and rendering for prompts and schemas (parsing: template_parse.c). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/id.h"
#include "template.h"
#include "template_internal.h"
#include "util.h"

static int seg_error(const struct quire_template *t, const struct seg *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int seg_error(const struct quire_template *t, const struct seg *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return quire_error_set(QUIRE_EINVALID, "%s:%d:%d: %s", t->name, s->line, s->col, msg);
}

static int var_dim(const struct quire_producer *p, const char *v)
{
	for (int d = 0; d < p->ndims; d++)
		if (!strcmp(p->dims[d].var, v))
			return d;
	return -1;
}

/* An int input the producer uses, usable as an index ({{Ideas.list[Pick]}}); -1 if not. */
static int index_input(const struct quire_blueprint *bp, const struct quire_producer *p,
		       const char *name)
{
	for (size_t u = 0; u < p->nuses; u++) {
		const struct quire_use *us = &p->uses[u];
		if (us->is_input && !strcmp(bp->inputs[us->target].name, name) &&
		    bp->inputs[us->target].type == QUIRE_INPUT_INT)
			return us->target;
	}
	return -1;
}

static int check_ix(const struct quire_template *t, const struct seg *s,
		    const struct quire_blueprint *bp, const struct quire_producer *p,
		    const struct tix *ix, int n)
{
	for (int k = 0; k < n; k++) {
		if (ix[k].kind == IX_VAR && var_dim(p, ix[k].var) < 0 &&
		    index_input(bp, p, ix[k].var) < 0)
			return seg_error(t, s,
					 "'%s' is not a loop variable of producer '%s' (nor an int "
					 "input it uses)",
					 ix[k].var, p->name);
		if (ix[k].kind == IX_BEFORE && var_dim(p, ix[k].var) < 0)
			return seg_error(t, s,
					 "'<%s': '%s' is not a loop variable of producer '%s'",
					 ix[k].var, ix[k].var, p->name);
	}
	return 0;
}

int quire_template_check(const struct quire_template *t, const struct quire_blueprint *bp,
			 const struct quire_producer *p)
{
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if (s->kind != SEG_EXPR && s->kind != SEG_IF)
			continue;
		int err = 0;
		if (!strcmp(s->head, "feedback") || !strcmp(s->head, "draft") ||
		    var_dim(p, s->head) >= 0) {
			if (s->nhix > 0 || s->nsteps)
				return seg_error(t, s, "'%s' takes no index or field", s->head);
			continue;
		}
		if (s->nhix < 0)
			return seg_error(t, s, "'+' and '-' apply to loop variables only");
		if ((err = check_ix(t, s, bp, p, s->hix, s->nhix)))
			return err;
		for (int k = 0; k < s->nsteps; k++)
			if ((err = check_ix(t, s, bp, p, s->steps[k].ix, s->steps[k].nix)))
				return err;
		int used = 0;
		for (size_t u = 0; u < p->nuses; u++) {
			const struct quire_use *us = &p->uses[u];
			const char *nm = us->is_input ? bp->inputs[us->target].name
						      : bp->producers[us->target].name;
			used |= !strcmp(nm, s->head);
		}
		if (used) {
			int pi = quire_blueprint_producer(bp, s->head);
			int want = pi >= 0 ? bp->producers[pi].ndims : 0;
			int ii = quire_blueprint_input(bp, s->head);
			/* A list input whole, or one index: {{Notes}}, {{Notes[p]}}. */
			if (ii >= 0 && bp->inputs[ii].type == QUIRE_INPUT_LIST && s->nhix == 1)
				continue;
			if (s->nhix != want)
				return seg_error(t, s, "'%s' needs %d index%s, got %d", s->head,
						 want, want == 1 ? "" : "es", s->nhix);
			continue;
		}
		/* Not in uses: say what it is, and suggest the closest name that may be used. */
		const char *best = NULL;
		size_t bestd = (size_t)-1;
		for (size_t u = 0; u < p->nuses; u++) {
			const struct quire_use *us = &p->uses[u];
			const char *nm = us->is_input ? bp->inputs[us->target].name
						      : bp->producers[us->target].name;
			size_t d = quire__edit_distance(s->head, nm);
			if (d < bestd)
				bestd = d, best = nm;
		}
		for (int d = 0; d < p->ndims; d++) {
			size_t dd = quire__edit_distance(s->head, p->dims[d].var);
			if (dd < bestd)
				bestd = dd, best = p->dims[d].var;
		}
		int known = quire_blueprint_input(bp, s->head) >= 0 ||
			    quire_blueprint_producer(bp, s->head) >= 0;
		char hint[160] = "";
		if (best && bestd <= strlen(s->head) / 3 + 1)
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)", best);
		if (known)
			return seg_error(t, s,
					 "'%s' is not in the uses of producer '%s'; add it there%s",
					 s->head, p->name, hint);
		return seg_error(t, s, "unknown name '%s' in the template of producer '%s'%s",
				 s->head, p->name, hint);
	}
	return 0;
}

static int eval_ix(const struct quire_render_ctx *c, const struct tix *ix, long long *out)
{
	if (ix->kind == IX_LIT) {
		*out = ix->n;
		return 0;
	}
	int d = var_dim(c->p, ix->var);
	if (d >= 0) {
		*out = c->idx[d] + ix->n;
		return 0;
	}
	if (index_input(c->bp, c->p, ix->var) < 0)
		return -1;
	/* An int input without a max can be any long long: past the end, the index is out of
	 * range either way, and is said to be. */
	if (__builtin_add_overflow(json_integer_value(json_object_get(c->inputs, ix->var)), ix->n,
				   out))
		*out = ix->n > 0 ? LLONG_MAX : LLONG_MIN;
	return 0;
}

/* The fewest significant digits (15, else 17) with which every real in v reads back as
 * itself: 0.99 as written, not jansson's 0.98999999999999999; 1733481234.123456 whole. */
static int real_digits(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_REAL: {
		char b[40];
		snprintf(b, sizeof(b), "%.15g", json_real_value(v));
		return strtod(b, NULL) == json_real_value(v) ? 15 : 17;
	}
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
			if (real_digits(x) == 17)
				return 17;
		return 15;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (real_digits(x) == 17)
				return 17;
		return 15;
	default:
		return 15;
	}
}

static void emit_value(const json_t *v, struct quire_buf *out)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		quire_buf_add(out, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		quire_buf_printf(out, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_TRUE:
		quire_buf_puts(out, "true");
		break;
	case JSON_FALSE:
		quire_buf_puts(out, "false");
		break;
	case JSON_NULL:
		break;
	default: {
		char *s = json_dumps(v, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY |
						JSON_REAL_PRECISION(real_digits(v)));
		if (s)
			quire_buf_puts(out, s);
		free(s);
	}
	}
}

/* Applies the field steps to v, appending the result. quiet (a condition): a missing field
 * or an index out of range is nothing, not an error. */
static int walk(const struct quire_template *t, const struct seg *s,
		const struct quire_render_ctx *c, const json_t *v, const char *id, json_t *acc,
		int quiet)
{
	struct quire_buf path = QUIRE_BUF_INIT;
	quire_buf_puts(&path, id);
	int err = 0;
	for (int k = 0; k < s->nsteps && v; k++) {
		const struct tstep *st = &s->steps[k];
		quire_buf_printf(&path, ".%s", st->field);
		v = json_is_object(v) ? json_object_get(v, st->field) : NULL;
		if (!v) {
			if (!quiet)
				err = seg_error(t, s, "'%s' does not exist", path.ptr);
			break;
		}
		for (int m = 0; m < st->nix && v; m++) {
			long long n;
			if (st->ix[m].kind == IX_ALL || st->ix[m].kind == IX_BEFORE ||
			    eval_ix(c, &st->ix[m], &n)) {
				err = seg_error(t, s,
						"'*' and '<' are not allowed inside a field path");
				v = NULL;
				break;
			}
			quire_buf_printf(&path, "[%lld]", n);
			if (!json_is_array(v) || n < 0 || (size_t)n >= json_array_size(v)) {
				if (!quiet)
					err = seg_error(t, s,
							"'%s' is out of range (%s has %zu items)",
							path.ptr, st->field,
							json_is_array(v) ? json_array_size(v) : 0);
				v = NULL;
				break;
			}
			v = json_array_get(v, (size_t)n);
		}
	}
	quire_buf_release(&path);
	if (v && !err)
		json_array_append(acc, (json_t *)v);
	return err;
}

/* Head index dim of s for the instance: 1 with *count for every instance ([*]) or every
 * earlier one ([<i]), 0 with the one index in *one, -1 for an unknown loop variable. */
static int head_index(const struct quire_render_ctx *c, const struct seg *s,
		      const struct quire_producer *tp, int dim, long long *count, long long *one)
{
	const struct tix *ix = &s->hix[dim];
	if (ix->kind == IX_ALL) {
		*count = json_integer_value(
			json_object_get(c->inputs, c->bp->inputs[tp->dims[dim].input].name));
		return 1;
	}
	if (ix->kind == IX_BEFORE) {
		int d = var_dim(c->p, ix->var);
		if (d < 0)
			return -1;
		*count = c->idx[d];
		return 1;
	}
	return eval_ix(c, ix, one) ? -1 : 0;
}

/* Enumerates instances of producer `pi` matching the head indexes, calling walk for each. An
 * earlier instance before the first ({{Chapter[i-1]}} of Chapter[0]) is absent: nothing. */
static int expand(const struct quire_template *t, const struct seg *s,
		  const struct quire_render_ctx *c, int pi, int dim, long long *idx, json_t *acc,
		  int quiet)
{
	const struct quire_producer *tp = &c->bp->producers[pi];
	if (dim == tp->ndims) {
		struct quire_buf id = QUIRE_BUF_INIT;
		quire_id_format(&id, tp->name, idx, tp->ndims);
		const json_t *v = c->artefact(c->ud, id.ptr);
		/* A damaged or missing blob keeps its code: the caller tells it from a bad name. */
		int code = quire_error_code() == QUIRE_ECORRUPT ? QUIRE_ECORRUPT : QUIRE_EINVALID;
		int err = v ? walk(t, s, c, v, id.ptr, acc, quiet)
			    : quire_error_prefix(code, "%s:%d:%d", t->name, s->line, s->col);
		quire_buf_release(&id);
		return err;
	}
	long long count;
	int many = head_index(c, s, tp, dim, &count, &idx[dim]);
	if (many < 0)
		return seg_error(t, s, "unknown loop variable");
	if (!many)
		return idx[dim] < 0 ? 0 : expand(t, s, c, pi, dim + 1, idx, acc, quiet);
	for (long long k = 0; k < count; k++) {
		idx[dim] = k;
		int err = expand(t, s, c, pi, dim + 1, idx, acc, quiet);
		if (err)
			return err;
	}
	return 0;
}

/* A list input's items: all ({{Notes}}, {{Notes[*]}}), the earlier ones ({{Notes[<p]}}) or
 * one ({{Notes[p]}}, nothing past the end: a page without a note). */
static int eval_list(const struct quire_template *t, const struct seg *s,
		     const struct quire_render_ctx *c, const json_t *v, json_t *acc, int *list,
		     int quiet)
{
	size_t n = json_array_size(v), from = 0, to = n;
	*list = s->nhix == 0 || s->hix[0].kind == IX_ALL || s->hix[0].kind == IX_BEFORE;
	if (s->nhix == 1 && s->hix[0].kind == IX_BEFORE) {
		int d = var_dim(c->p, s->hix[0].var);
		if (d < 0)
			return seg_error(t, s, "unknown loop variable");
		to = c->idx[d] < 0 ? 0 : (size_t)c->idx[d] < n ? (size_t)c->idx[d] : n;
	} else if (s->nhix == 1 && s->hix[0].kind != IX_ALL) {
		long long k;
		if (eval_ix(c, &s->hix[0], &k))
			return seg_error(t, s, "unknown loop variable");
		if (k < 0 || (size_t)k >= n)
			return 0;
		from = (size_t)k;
		to = from + 1;
	}
	for (size_t k = from; k < to; k++) {
		char id[256];
		snprintf(id, sizeof(id), "%s[%zu]", s->head, k);
		int err = walk(t, s, c, json_array_get(v, k), id, acc, quiet);
		if (err)
			return err;
	}
	return 0;
}

/* The values expression s names, in order, appended to acc; *list when it names many
 * (Scene[i][*], Chapter[<i]), joined when shown. */
static int eval_seg(const struct quire_template *t, const struct seg *s,
		    const struct quire_render_ctx *c, json_t *acc, int *list, int quiet)
{
	*list = 0;
	int d = var_dim(c->p, s->head);
	if (d >= 0) {
		json_array_append_new(acc,
				      json_integer(c->idx[d] + (s->nhix < 0 ? s->hix[0].n : 0)));
		return 0;
	}
	if (!strcmp(s->head, "feedback")) {
		json_array_append_new(acc, json_string(c->feedback ? c->feedback : ""));
		return 0;
	}
	if (!strcmp(s->head, "draft")) {
		if (c->draft)
			json_array_append_new(acc, json_string(c->draft));
		return 0;
	}
	int in = quire_blueprint_input(c->bp, s->head);
	if (in >= 0 && c->bp->inputs[in].type == QUIRE_INPUT_LIST)
		return eval_list(t, s, c, json_object_get(c->inputs, s->head), acc, list, quiet);
	if (in >= 0)
		return walk(t, s, c, json_object_get(c->inputs, s->head), s->head, acc, quiet);
	int pi = quire_blueprint_producer(c->bp, s->head);
	if (pi < 0)
		return seg_error(t, s, "unknown name '%s'", s->head);
	for (int k = 0; k < s->nhix; k++)
		*list |= s->hix[k].kind == IX_ALL || s->hix[k].kind == IX_BEFORE;
	long long idx[QUIRE_MAX_DIMS] = { 0 };
	return expand(t, s, c, pi, 0, idx, acc, quiet);
}

/* A Markdown ATX heading line ("## Characters ##"): its level (1-6) and its text, trimmed;
 * 0 when the line is not one. */
static int heading_at(const char *l, size_t n, const char **t, size_t *tn)
{
	size_t k = 0;
	while (k < n && k < 7 && l[k] == '#')
		k++;
	if (!k || k > 6 || (k < n && l[k] != ' ' && l[k] != '\t'))
		return 0;
	size_t a = k, b = n;
	while (a < b && (l[a] == ' ' || l[a] == '\t'))
		a++;
	while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t' || l[b - 1] == '\r'))
		b--;
	/* A closing run of '#' goes only after a space ("## Go ##"; "## C#" keeps it). */
	size_t h = b;
	while (h > a && l[h - 1] == '#')
		h--;
	if (h < b && (h == a || l[h - 1] == ' ' || l[h - 1] == '\t'))
		b = h;
	while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t'))
		b--;
	*t = l + a;
	*tn = b - a;
	return (int)k;
}

/* The part of Markdown text s under the heading named h (any level, any letter case): the
 * lines after it up to the next heading of its level or above, without blank lines at either
 * end. 0, or -1 (with the headings there are in *all, "A, B") when there is none. */
static int md_section(const char *s, size_t n, const char *h, struct quire_buf *out,
		      struct quire_buf *all)
{
	size_t hl = strlen(h), start = 0, end = n;
	int level = 0;
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) : n, tn;
		const char *t;
		int lv = heading_at(s + i, e - i, &t, &tn);
		if (lv && level && lv <= level) {
			end = i;
			break;
		}
		if (lv && !level) {
			if (tn == hl && !strncasecmp(t, h, hl)) {
				level = lv;
				start = nl ? e + 1 : n;
			} else {
				quire_buf_printf(all, "%s%.*s", all->len ? ", " : "", (int)tn, t);
			}
		}
		i = nl ? e + 1 : n;
	}
	if (!level)
		return -1;
	while (start < end && (s[start] == '\n' || s[start] == '\r' || s[start] == ' '))
		start++;
	while (end > start && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
		end--;
	quire_buf_add(out, s + start, end - start);
	return 0;
}

/* Applies "| section" to every value in acc (text only); in a condition a missing heading
 * leaves nothing, elsewhere it is an error naming the headings there are. */
static int apply_section(const struct quire_template *t, const struct seg *s, json_t *acc,
			 int quiet)
{
	for (size_t k = 0; k < json_array_size(acc); k++) {
		const json_t *v = json_array_get(acc, k);
		if (!json_is_string(v))
			return seg_error(t, s, "'| section' applies to text, and '%s' is not text",
					 s->head);
		struct quire_buf out = QUIRE_BUF_INIT, all = QUIRE_BUF_INIT;
		int found = md_section(json_string_value(v), json_string_length(v), s->section,
				       &out, &all) == 0;
		int err = 0;
		if (found)
			json_array_set_new(acc, k, json_stringn(out.ptr ? out.ptr : "", out.len));
		else if (quiet)
			json_array_remove(acc, k--);
		else
			err = seg_error(t, s, "'%s' has no heading '%s' (%s%s)", s->head,
					s->section,
					all.len ? "its headings: " : "it has no headings",
					all.len ? all.ptr : "");
		quire_buf_release(&out);
		quire_buf_release(&all);
		if (err)
			return err;
	}
	return 0;
}

/* What {{#if}} holds for: something there that is not empty, blank, false, null or zero. */
static int truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *p = json_string_value(v);
		for (size_t k = 0; k < json_string_length(v); k++)
			if (p[k] != ' ' && p[k] != '\t' && p[k] != '\n' && p[k] != '\r')
				return 1;
		return 0;
	}
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0;
	case JSON_TRUE:
		return 1;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	default:
		return 0;
	}
}

int quire_template_render(const struct quire_template *t, const struct quire_render_ctx *c,
			  struct quire_buf *out)
{
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if (s->kind == SEG_LIT) {
			quire_buf_add(out, s->text, s->len);
			continue;
		}
		if (s->kind == SEG_END)
			continue;
		if (s->kind == SEG_ELSE) {
			i = s->jump; /* the {{#if}} held: skip to its {{/if}} */
			continue;
		}
		json_t *acc = json_array();
		int list, err = eval_seg(t, s, c, acc, &list, s->kind == SEG_IF);
		if (!err && s->section)
			err = apply_section(t, s, acc, s->kind == SEG_IF);
		if (err) {
			json_decref(acc);
			return err;
		}
		if (s->kind == SEG_IF) {
			int holds = 0;
			for (size_t k = 0; k < json_array_size(acc) && !holds; k++)
				holds = truthy(json_array_get(acc, k));
			json_decref(acc);
			if (!holds)
				i = s->jump; /* on to after its {{else}}, or past its {{/if}} */
			continue;
		}
		size_t k;
		json_t *v;
		json_array_foreach(acc, k, v) {
			if (k)
				quire_buf_puts(out, s->join ? s->join : "\n\n");
			emit_value(v, out);
			if (!list)
				break;
		}
		json_decref(acc);
	}
	return 0;
}

int quire_template_list_indexes(const struct quire_template *t, const struct quire_blueprint *bp,
				const struct quire_producer *p, const char *name,
				const long long *idx, const json_t *inputs, json_t *out)
{
	struct quire_render_ctx c = { .bp = bp, .p = p, .idx = idx, .inputs = inputs };
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if ((s->kind != SEG_EXPR && s->kind != SEG_IF) || !s->head || strcmp(s->head, name))
			continue;
		long long k;
		if (s->nhix != 1 || s->hix[0].kind == IX_ALL || s->hix[0].kind == IX_BEFORE ||
		    eval_ix(&c, &s->hix[0], &k))
			return 1;
		json_array_append_new(out, json_integer(k));
	}
	return 0;
}

/* Appends to out[id] the field path s reads from each instance of producer pi its head
 * indexes name (Chapter[<i] names every earlier one; one before the first names none). */
static int field_ids(const struct seg *s, const struct quire_render_ctx *c, int pi, int dim,
		     long long *idx, const char *path, json_t *out)
{
	const struct quire_producer *tp = &c->bp->producers[pi];
	if (dim == tp->ndims) {
		struct quire_buf id = QUIRE_BUF_INIT;
		quire_id_format(&id, tp->name, idx, tp->ndims);
		json_t *paths = json_object_get(out, id.ptr);
		if (!paths)
			json_object_set_new(out, id.ptr, paths = json_array());
		json_array_append_new(paths, json_string(path));
		quire_buf_release(&id);
		return 0;
	}
	long long count;
	int many = head_index(c, s, tp, dim, &count, &idx[dim]);
	if (many < 0)
		return 1;
	if (!many)
		return idx[dim] < 0 ? 0 : field_ids(s, c, pi, dim + 1, idx, path, out);
	for (long long k = 0; k < count; k++) {
		idx[dim] = k;
		if (field_ids(s, c, pi, dim + 1, idx, path, out))
			return 1;
	}
	return 0;
}

int quire_template_field_paths(const struct quire_template *t, const struct quire_blueprint *bp,
			       const struct quire_producer *p, const char *producer,
			       const long long *idx, const json_t *inputs, json_t *out)
{
	struct quire_render_ctx c = { .bp = bp, .p = p, .idx = idx, .inputs = inputs };
	int pi = quire_blueprint_producer(bp, producer);
	if (pi < 0)
		return 1;
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if ((s->kind != SEG_EXPR && s->kind != SEG_IF) || !s->head ||
		    strcmp(s->head, producer))
			continue;
		/* Read whole, or with an index into a field that cannot be known here. */
		if (!s->nsteps || s->nhix != bp->producers[pi].ndims)
			return 1;
		struct quire_buf path = QUIRE_BUF_INIT;
		int err = 0;
		for (int k = 0; k < s->nsteps && !err; k++) {
			quire_buf_printf(&path, ".%s", s->steps[k].field);
			for (int m = 0; m < s->steps[k].nix && !err; m++) {
				long long n;
				const struct tix *ix = &s->steps[k].ix[m];
				err = ix->kind == IX_ALL || ix->kind == IX_BEFORE ||
				      eval_ix(&c, ix, &n);
				if (!err)
					quire_buf_printf(&path, "[%lld]", n);
			}
		}
		long long hidx[QUIRE_MAX_DIMS] = { 0 };
		if (!err)
			err = field_ids(s, &c, pi, 0, hidx, path.ptr, out);
		quire_buf_release(&path);
		if (err)
			return 1;
	}
	return 0;
}

int quire_template_reads(const struct quire_template *t, const char *name)
{
	for (size_t i = 0; i < t->nsegs; i++)
		if ((t->segs[i].kind == SEG_EXPR || t->segs[i].kind == SEG_IF) && t->segs[i].head &&
		    !strcmp(t->segs[i].head, name))
			return 1;
	return 0;
}

int quire_template_reads_all(const struct quire_template *t, const char *producer)
{
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if ((s->kind != SEG_EXPR && s->kind != SEG_IF) || !s->head ||
		    strcmp(s->head, producer))
			continue;
		for (int k = 0; k < s->nhix; k++)
			if (s->hix[k].kind == IX_ALL || s->hix[k].kind == IX_BEFORE)
				return 1;
	}
	return 0;
}

int quire_template_shows_verbatim(const struct quire_template *t, const struct quire_blueprint *bp)
{
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct seg *s = &t->segs[i];
		if ((s->kind != SEG_EXPR && s->kind != SEG_IF) || !s->head)
			continue;
		int pi = quire_blueprint_producer(bp, s->head);
		if (pi < 0)
			continue;
		enum quire_output_type ty = bp->producers[pi].output.type;
		if (s->kind == SEG_IF || s->nsteps || s->section ||
		    (ty != QUIRE_OUT_TEXT && ty != QUIRE_OUT_FILE))
			return 0;
	}
	return 1;
}
