/* YAML through libyaml's event parser into quire's node tree: positions, bounds, YAML-to-JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h> /* libyaml (core/meson.build keeps core/ off the include path) */

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "util.h"
#include "table.h"
#include "yaml.h"

/* Strings to pointers: anchors while parsing, a mapping's keys. */
struct strtab {
	struct strent {
		const char *s;
		size_t len;
		void *val;
	} * v;
	size_t n, alloc;
	struct quire__table at; /* the entries by string */
};

static uint32_t *strtab_slot(const struct strtab *t, const char *s, size_t len)
{
	uint32_t *sl = quire__table_first(&t->at, quire__hash(s, len));
	while (*sl && (t->v[*sl - 1].len != len || memcmp(t->v[*sl - 1].s, s, len)))
		sl = quire__table_next(&t->at, sl);
	return sl;
}

/* The value stored for s, or NULL. */
static void *strtab_get(const struct strtab *t, const char *s, size_t len)
{
	uint32_t k = t->at.cap ? *strtab_slot(t, s, len) : 0;
	return k ? t->v[k - 1].val : NULL;
}

/* Stores val for s (s must outlive the table), replacing what was there. */
static void strtab_set(struct strtab *t, const char *s, size_t len, void *val)
{
	if (quire__table_full(&t->at, t->n + 1)) {
		quire__table_size(&t->at, t->n + 1, t->at.cap ? 2 * t->at.cap : 16);
		for (size_t k = 0; k < t->n; k++)
			*strtab_slot(t, t->v[k].s, t->v[k].len) = (uint32_t)(k + 1);
	}
	uint32_t *sl = strtab_slot(t, s, len);
	if (!*sl) {
		QUIRE_GROW(t->v, t->alloc, t->n + 1);
		*sl = (uint32_t)++t->n;
	}
	t->v[*sl - 1] = (struct strent){ s, len, val };
}

static void strtab_release(struct strtab *t)
{
	free(t->v);
	quire__table_release(&t->at);
	memset(t, 0, sizeof(*t));
}

/* A collection being read: its node and its kids so far. */
struct open_coll {
	struct quire__ynode *node;
	struct quire__ynode **kids;
	size_t nkids, alloc;
};

struct builder {
	struct quire__yaml *y;
	const unsigned char *t;
	size_t bom;	    /* libyaml skips a UTF-8 byte order mark without counting it */
	int ascii;	    /* every character one byte: a mark's index is its byte offset */
	size_t cchr, cbyte; /* the last character index turned into a byte offset */
	struct open_coll stack[QUIRE_YAML_MAX_DEPTH];
	int depth;
	size_t values; /* values read so far, aliases counted as what they stand for */
	int docs;      /* documents ended */
	struct strtab anchors;
};

/* Byte offset of libyaml's character index idx: libyaml counts characters, not bytes. Marks
 * come nearly in order, so walking from the last one is cheap. */
static size_t byte_at(struct builder *b, size_t idx)
{
	size_t len = b->y->len;
	if (b->ascii)
		return idx < len ? idx : len;
	while (b->cchr < idx && b->cbyte < len) {
		unsigned c = b->t[b->cbyte];
		b->cbyte += c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		b->cchr++;
	}
	while (b->cchr > idx && b->cbyte > b->bom) {
		do
			b->cbyte--;
		while (b->cbyte > b->bom && (b->t[b->cbyte] & 0xc0) == 0x80);
		b->cchr--;
	}
	return b->cbyte < len ? b->cbyte : len;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_anchor_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '_' || c == '-';
}

/* Moves *at past a node's anchor and tag (and the blanks and comments between them and the
 * node) to the node's own first character, keeping *line and *col in step; never past end. */
static void skip_properties(const struct builder *b, size_t *at, int *line, int *col, size_t end)
{
	const unsigned char *t = b->t;
	size_t i = *at;
	for (;;) {
		size_t from = i;
		while (i < end && is_blank(t[i])) {
			if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= end || t[i + 1] != '\n'))) {
				(*line)++;
				*col = 1;
			} else if (t[i] != '\r') {
				(*col)++;
			}
			i++;
		}
		if (*col == 1 && i + 3 <= end && !memcmp(t + i, "\xef\xbb\xbf", 3)) {
			/* libyaml skips a byte order mark at the start of a line, as a blank. */
			i += 3;
			(*col)++;
			continue;
		}
		if (i < end && t[i] == '#' && (i == 0 || is_blank(t[i - 1]))) {
			while (i < end && t[i] != '\n' && t[i] != '\r')
				i++;
			continue;
		}
		if (i < end && t[i] == '&') {
			/* libyaml's anchor names are [0-9A-Za-z_-]: "&a?b" is anchor a, then "?b".
			 */
			do
				i++, (*col)++;
			while (i < end && is_anchor_char(t[i]));
			continue;
		}
		if (i < end && t[i] == '!') {
			/* A tag ends at a blank (or at ',' in a flow). */
			while (i < end && !is_blank(t[i]) && t[i] != ',') {
				if ((t[i] & 0xc0) != 0x80)
					(*col)++;
				i++;
			}
			continue;
		}
		if (i == from)
			break;
	}
	*at = i;
}

static int set_error(const struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "name:line:col: message" at libyaml's mark m. */
static int set_error(const struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return quire_error_set(QUIRE_EINVALID, "%s:%zu:%zu: %s", b->y->name, m->line + 1,
			       m->column + 1, msg);
}

/* libyaml's own error, positioned, with its context and a hint where the cause is common. */
static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		abort();
	const char *problem = p->problem ? p->problem : "invalid YAML";
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors (a control character) carry a byte offset instead of a mark. */
		size_t line = 1, col = 1;
		size_t off = p->problem_offset < b->y->len ? p->problem_offset : b->y->len;
		for (size_t i = b->bom; i < off; i++) {
			if (b->t[i] == '\n')
				line++, col = 1;
			else if ((b->t[i] & 0xc0) != 0x80)
				col++;
		}
		if (p->problem_value >= 0)
			return quire_error_set(QUIRE_EINVALID, "%s:%zu:%zu: %s (U+%04X)",
					       b->y->name, line, col, problem,
					       (unsigned)p->problem_value);
		return quire_error_set(QUIRE_EINVALID, "%s:%zu:%zu: %s", b->y->name, line, col,
				       problem);
	}
	struct quire_buf note = QUIRE_BUF_INIT;
	const yaml_mark_t *m = &p->problem_mark;
	if (p->context && (p->context_mark.line != m->line || p->context_mark.column != m->column))
		quire_buf_printf(&note, "%s that starts at %zu:%zu", p->context,
				 p->context_mark.line + 1, p->context_mark.column + 1);
	size_t at = byte_at(b, m->index);
	const char *hint = NULL;
	if (at < b->y->len && b->t[at] == '\t' && !strstr(problem, "tab"))
		hint = "a tab: YAML indents with spaces";
	else if (p->context && !strncmp(p->context, "while parsing a block", 21) &&
		 !strncmp(problem, "did not find expected", 21))
		hint = "check the indentation";
	else if (p->context && strstr(p->context, "flow sequence") && at < b->y->len &&
		 b->t[at] == '[')
		hint = "an id with brackets inside [ ] must be quoted, \"Chapter[i]\", or written "
		       "as a block list";
	if (hint)
		quire_buf_printf(&note, "%s%s", note.len ? "; " : "", hint);
	int err = quire_error_set(QUIRE_EINVALID, "%s:%zu:%zu: %s%s%s%s", b->y->name, m->line + 1,
				  m->column + 1, problem, note.len ? " (" : "",
				  note.len ? note.ptr : "", note.len ? ")" : "");
	quire_buf_release(&note);
	return err;
}

/* A new node where libyaml's event e starts, counted against the bound on values. */
static int new_node(struct builder *b, const yaml_event_t *e, enum quire__ykind kind,
		    int has_properties, struct quire__ynode **out)
{
	if (++b->values > QUIRE_YAML_MAX_VALUES)
		return set_error(b, &e->start_mark, "yaml document holds more than %d values",
				 QUIRE_YAML_MAX_VALUES);
	struct quire__ynode *n = quire__arena_alloc(&b->y->arena, sizeof(*n));
	n->kind = kind;
	n->text = "";
	n->line = (int)e->start_mark.line + 1;
	n->col = (int)e->start_mark.column + 1;
	n->start = byte_at(b, e->start_mark.index);
	n->end = byte_at(b, e->end_mark.index);
	if (has_properties)
		skip_properties(b, &n->start, &n->line, &n->col, n->end);
	n->weight = 1;
	n->parent = b->depth ? b->stack[b->depth - 1].node : NULL;
	*out = n;
	return 0;
}

/* Records &anchor for n; a later &anchor of the same name replaces it, as YAML says. */
static void set_anchor(struct builder *b, const yaml_char_t *anchor, struct quire__ynode *n)
{
	if (!anchor)
		return;
	size_t len = strlen((const char *)anchor);
	strtab_set(&b->anchors, quire__arena_copy(&b->y->arena, (const char *)anchor, len), len, n);
}

/* Adds n as the next kid of the collection being read, or as the root. */
static void attach(struct builder *b, struct quire__ynode *n)
{
	if (!b->depth) {
		b->y->root = n;
		return;
	}
	struct open_coll *o = &b->stack[b->depth - 1];
	QUIRE_GROW(o->kids, o->alloc, o->nkids + 1);
	o->kids[o->nkids++] = n;
}

/* "'text'" for a message, cut short (between characters) when long. */
static void quote_key(const struct quire__ynode *k, char *out, size_t outlen)
{
	size_t l = k->len > 60 ? 60 : k->len;
	while (l < k->len && l > 0 && (k->text[l] & 0xc0) == 0x80)
		l--;
	snprintf(out, outlen, "'%.*s%s'", (int)l, k->text, l < k->len ? "..." : "");
}

static int is_merge_key(const struct quire__ynode *k)
{
	return k->kind == QUIRE_YSCALAR && k->style == QUIRE_YPLAIN && k->len == 2 &&
	       !memcmp(k->text, "<<", 2);
}

/* Checks a mapping's keys and applies a merge key: the pairs of `<<: *base` (or of a list of
 * mappings, the first winning) that the mapping does not set itself are added after its own. */
static int finish_mapping(struct builder *b, struct open_coll *o)
{
	struct quire__ynode **kv = o->kids;
	size_t npairs = o->nkids / 2, merge = npairs;
	struct strtab keys = { 0 };
	int err = 0;
	for (size_t i = 0; i < npairs; i++) {
		struct quire__ynode *k = kv[2 * i];
		if (k->kind != QUIRE_YSCALAR)
			continue;
		if (strtab_get(&keys, k->text, k->len)) {
			char q[80];
			quote_key(k, q, sizeof(q));
			err = quire__yaml_error(b->y, k, QUIRE_EINVALID, "duplicate key %s", q);
			goto out;
		}
		strtab_set(&keys, k->text, k->len, k);
		if (is_merge_key(k))
			merge = i;
	}
	size_t n = npairs;
	if (merge < npairs) {
		struct quire__ynode *v = kv[2 * merge + 1];
		struct quire__ynode *const *from = &v;
		size_t nfrom = 1;
		if (v->kind == QUIRE_YSEQ)
			from = v->kids, nfrom = v->n;
		for (size_t s = 0; s < nfrom; s++)
			if (from[s]->kind != QUIRE_YMAP) {
				err = quire__yaml_error(
					b->y, from[s], QUIRE_EINVALID,
					"a merge key (<<) takes a mapping or a list of mappings");
				goto out;
			}
		/* Drop the << pair itself, then append what the sources add. */
		memmove(&kv[2 * merge], &kv[2 * merge + 2],
			(o->nkids - 2 * merge - 2) * sizeof(*kv));
		o->nkids -= 2;
		n = npairs - 1;
		for (size_t s = 0; s < nfrom; s++)
			for (size_t i = 0; i < from[s]->n; i++) {
				struct quire__ynode *k = from[s]->kids[2 * i];
				if (k->kind == QUIRE_YSCALAR && strtab_get(&keys, k->text, k->len))
					continue;
				if (k->kind == QUIRE_YSCALAR)
					strtab_set(&keys, k->text, k->len, k);
				QUIRE_GROW(o->kids, o->alloc, o->nkids + 2);
				o->kids[o->nkids++] = k;
				o->kids[o->nkids++] = from[s]->kids[2 * i + 1];
				n++;
			}
	}
	o->node->n = n;
out:
	strtab_release(&keys);
	return err;
}

/* Ends the innermost collection: its kids move into the arena, its bounds are known. */
static int finish_collection(struct builder *b, const yaml_event_t *e)
{
	struct open_coll *o = &b->stack[b->depth - 1];
	struct quire__ynode *n = o->node;
	int err = 0;
	n->end = byte_at(b, e->end_mark.index);
	if (n->kind == QUIRE_YMAP) {
		if ((err = finish_mapping(b, o)))
			return err;
	} else {
		n->n = o->nkids;
	}
	n->kids = quire__arena_alloc(&b->y->arena, o->nkids * sizeof(*n->kids) + 1);
	if (o->nkids)
		memcpy(n->kids, o->kids, o->nkids * sizeof(*n->kids));
	n->height = 1;
	for (size_t i = 0; i < o->nkids; i++) {
		n->weight += n->kids[i]->weight;
		if (n->kids[i]->height + 1 > n->height)
			n->height = n->kids[i]->height + 1;
	}
	n->open = 0;
	o->nkids = 0;
	b->depth--;
	attach(b, n);
	return 0;
}

/* An alias: the anchored node itself, if its expansion stays inside the bounds. */
static int alias(struct builder *b, const yaml_event_t *e)
{
	const char *name = (const char *)e->data.alias.anchor;
	size_t len = strlen(name);
	struct quire__ynode *n = strtab_get(&b->anchors, name, len);
	if (!n)
		return set_error(b, &e->start_mark,
				 "unknown anchor '%.60s' (no '&%.60s' before it)", name, name);
	if (n->open)
		return set_error(b, &e->start_mark, "alias '*%.60s' inside the node it names",
				 name);
	if (n->weight > QUIRE_YAML_MAX_VALUES - b->values)
		return set_error(b, &e->start_mark, "yaml aliases expand to more than %d values",
				 QUIRE_YAML_MAX_VALUES);
	if (b->depth + n->height > QUIRE_YAML_MAX_DEPTH)
		return set_error(b, &e->start_mark, "yaml aliases nest more than %d levels deep",
				 QUIRE_YAML_MAX_DEPTH);
	b->values += n->weight;
	attach(b, n);
	return 0;
}

static enum quire__ystyle style_of(yaml_scalar_style_t style)
{
	switch (style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		return QUIRE_YSINGLE;
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		return QUIRE_YDOUBLE;
	case YAML_LITERAL_SCALAR_STYLE:
		return QUIRE_YLITERAL;
	case YAML_FOLDED_SCALAR_STYLE:
		return QUIRE_YFOLDED;
	default:
		return QUIRE_YPLAIN;
	}
}

static int on_event(struct builder *b, const yaml_event_t *e)
{
	struct quire__ynode *n = NULL;
	int err;
	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->docs)
			return set_error(b, &e->start_mark,
					 "a second yaml document starts here (a file holds one)");
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		b->docs++;
		return 0;
	case YAML_ALIAS_EVENT:
		return alias(b, e);
	case YAML_SCALAR_EVENT: {
		const yaml_char_t *anchor = e->data.scalar.anchor;
		if ((err = new_node(b, e, QUIRE_YSCALAR, anchor || e->data.scalar.tag, &n)))
			return err;
		n->text = quire__arena_copy(&b->y->arena, (const char *)e->data.scalar.value,
					    e->data.scalar.length);
		n->len = e->data.scalar.length;
		n->style = style_of(e->data.scalar.style);
		set_anchor(b, anchor, n);
		attach(b, n);
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int seq = e->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *anchor =
			seq ? e->data.sequence_start.anchor : e->data.mapping_start.anchor;
		const yaml_char_t *tag =
			seq ? e->data.sequence_start.tag : e->data.mapping_start.tag;
		if (b->depth == QUIRE_YAML_MAX_DEPTH)
			return set_error(b, &e->start_mark, "yaml nests more than %d levels deep",
					 QUIRE_YAML_MAX_DEPTH);
		if ((err = new_node(b, e, seq ? QUIRE_YSEQ : QUIRE_YMAP, anchor || tag, &n)))
			return err;
		n->open = 1;
		set_anchor(b, anchor, n);
		b->stack[b->depth++].node = n;
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return finish_collection(b, e);
	default:
		return 0;
	}
}

/* U+0085, U+2028 and U+2029 are line breaks to YAML 1.1 (libyaml) and text to YAML 1.2 and
 * editors: refused where they are, rather than a value cut in two or an error lines later. */
static int check_unicode_breaks(const char *name, const char *text, size_t len)
{
	static const char *const what[] = { "U+0085 (next line)", "U+2028 (line separator)",
					    "U+2029 (paragraph separator)" };
	const unsigned char *t = (const unsigned char *)text;
	size_t line = 1, col = 1;
	for (size_t i = 0; i < len; i++) {
		int k = -1;
		if (t[i] == 0xc2 && i + 1 < len && t[i + 1] == 0x85)
			k = 0;
		else if (t[i] == 0xe2 && i + 2 < len && t[i + 1] == 0x80 &&
			 (t[i + 2] == 0xa8 || t[i + 2] == 0xa9))
			k = t[i + 2] == 0xa8 ? 1 : 2;
		if (k >= 0)
			return quire_error_set(
				QUIRE_EINVALID,
				"%s:%zu:%zu: %s is a line break to YAML 1.1: write it "
				"as \\u%04X inside double quotes",
				name, line, col, what[k], k == 0 ? 0x85 : 0x2027 + k);
		if (t[i] == '\n')
			line++, col = 1;
		else if ((t[i] & 0xc0) != 0x80)
			col++;
	}
	return 0;
}

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
	/* Invalid UTF-8 gets our own positioned message; the NUL check keeps C strings whole. */
	int err = quire_fs_check_utf8(name, text, len);
	if (!err)
		err = check_unicode_breaks(name, text, len);
	if (err)
		return err;

	struct quire__yaml *y = quire__xcalloc(1, sizeof(*y));
	y->name = quire__xstrdup(name);
	y->text = quire__xstrndup(text, len);
	y->len = len;

	struct builder b = { .y = y, .t = (const unsigned char *)y->text, .ascii = 1 };
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		b.bom = 3;
	for (size_t i = 0; i < len && b.ascii; i++)
		b.ascii = !(b.t[i] & 0x80);
	b.cbyte = b.bom;

	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, b.t, len);
	for (;;) {
		yaml_event_t e;
		if (!yaml_parser_parse(&parser, &e)) {
			err = syntax_error(&b, &parser);
			break;
		}
		int end = e.type == YAML_STREAM_END_EVENT;
		err = on_event(&b, &e);
		yaml_event_delete(&e);
		if (err || end)
			break;
	}
	yaml_parser_delete(&parser);
	for (int i = 0; i < QUIRE_YAML_MAX_DEPTH; i++)
		free(b.stack[i].kids);
	strtab_release(&b.anchors);
	if (err) {
		quire__yaml_free(y);
		return err;
	}
	/* "---" alone, like an empty file, is an empty document. */
	if (y->root && y->root->kind == QUIRE_YSCALAR && quire__yaml_empty(y->root))
		y->root = NULL;
	*out = y;
	return 0;
}

void quire__yaml_free(struct quire__yaml *y)
{
	if (!y)
		return;
	quire__arena_release(&y->arena);
	free(y->name);
	free(y->text);
	free(y);
}

int quire__yaml_empty(const struct quire__ynode *n)
{
	return !n || (n->kind == QUIRE_YSCALAR && n->style == QUIRE_YPLAIN && n->len == 0);
}

size_t quire__yaml_count(const struct quire__ynode *n)
{
	return n && n->kind != QUIRE_YSCALAR ? n->n : 0;
}

struct quire__ynode *quire__yaml_item(const struct quire__ynode *n, size_t i)
{
	return quire__yaml_is_seq(n) && i < n->n ? n->kids[i] : NULL;
}

struct quire__ynode *quire__yaml_key(const struct quire__ynode *n, size_t i)
{
	return quire__yaml_is_map(n) && i < n->n ? n->kids[2 * i] : NULL;
}

struct quire__ynode *quire__yaml_value(const struct quire__ynode *n, size_t i)
{
	return quire__yaml_is_map(n) && i < n->n ? n->kids[2 * i + 1] : NULL;
}

struct quire__ynode *quire__yaml_get(const struct quire__ynode *n, const char *key)
{
	size_t len = strlen(key);
	for (size_t i = 0; i < quire__yaml_count(n) && n->kind == QUIRE_YMAP; i++) {
		const struct quire__ynode *k = n->kids[2 * i];
		if (k->kind == QUIRE_YSCALAR && k->len == len && !memcmp(k->text, key, len))
			return n->kids[2 * i + 1];
	}
	return NULL;
}

struct quire__ynode *quire__yaml_key_of(const struct quire__ynode *n)
{
	const struct quire__ynode *m = n ? n->parent : NULL;
	for (size_t i = 0; quire__yaml_is_map(m) && i < m->n; i++)
		if (m->kids[2 * i + 1] == n)
			return m->kids[2 * i];
	return NULL;
}

void quire__yaml_pos(const struct quire__ynode *n, int *line, int *col)
{
	*line = 1;
	*col = 1;
	/* Nothing written, or only "[]": the key it belongs to says more than where it ends. */
	if (quire__yaml_empty(n) || (n->kind != QUIRE_YSCALAR && n->n == 0)) {
		const struct quire__ynode *k = quire__yaml_key_of(n);
		if (k)
			n = k;
	}
	for (int depth = 0; n && depth <= QUIRE_YAML_MAX_DEPTH; depth++) {
		if (n->kind == QUIRE_YSCALAR || n->n == 0) {
			*line = n->line;
			*col = n->col;
			return;
		}
		n = n->kids[0];
	}
}

int quire__yaml_error(const struct quire__yaml *y, const struct quire__ynode *n, int code,
		      const char *fmt, ...)
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

const char *quire__yaml_scalar(const struct quire__ynode *n, size_t *len)
{
	if (!quire__yaml_is_scalar(n))
		return NULL;
	*len = n->len;
	return n->text;
}

char *quire__yaml_strdup(const struct quire__ynode *n)
{
	size_t len;
	const char *s = quire__yaml_scalar(n, &len);
	return s ? quire__xstrndup(s, len) : NULL;
}

int quire__yaml_plain(const struct quire__ynode *n)
{
	return quire__yaml_is_scalar(n) && n->style == QUIRE_YPLAIN;
}

int quire__yaml_int(const struct quire__ynode *n, long long *out)
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

json_t *quire__yaml_to_json(const struct quire__ynode *n)
{
	if (!n)
		return json_null();
	if (n->kind == QUIRE_YMAP) {
		json_t *o = json_object();
		for (size_t i = 0; i < n->n; i++) {
			char *k = quire__yaml_strdup(n->kids[2 * i]);
			if (!k)
				continue;
			json_object_set_new(o, k, quire__yaml_to_json(n->kids[2 * i + 1]));
			free(k);
		}
		return o;
	}
	if (n->kind == QUIRE_YSEQ) {
		json_t *a = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(a, quire__yaml_to_json(n->kids[i]));
		return a;
	}
	const char *s = n->text;
	size_t len = n->len;
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
