/* Template parsing: expressions, {{#if}} blocks with their jump targets, filters, and the
 * standalone-line rule for block tags. */
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "template.h"
#include "template_internal.h"
#include "util.h"

static void free_ix(struct tix *ix, int n)
{
	for (int i = 0; i < n; i++)
		free(ix[i].var);
	free(ix);
}

void quire_template_free(struct quire_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsegs; i++) {
		struct seg *s = &t->segs[i];
		free(s->text);
		free(s->head);
		free_ix(s->hix, s->nhix);
		for (int k = 0; k < s->nsteps; k++) {
			free(s->steps[k].field);
			free_ix(s->steps[k].ix, s->steps[k].nix);
		}
		free(s->steps);
		free(s->join);
		free(s->section);
	}
	free(t->segs);
	free(t->name);
	free(t);
}

struct lexer {
	const char *s, *e;
	const struct quire_template *t;
	int line, col;
};

static void skip_ws(struct lexer *L)
{
	while (L->s < L->e && (*L->s == ' ' || *L->s == '\t'))
		L->s++;
}

static int lex_error(struct lexer *L, const char *msg)
{
	return quire_error_set(QUIRE_EINVALID, "%s:%d:%d: %s", L->t->name, L->line, L->col, msg);
}

static char *lex_ident(struct lexer *L)
{
	const char *st = L->s;
	while (L->s < L->e && ((*L->s >= 'a' && *L->s <= 'z') || (*L->s >= 'A' && *L->s <= 'Z') ||
			       *L->s == '_' || (L->s > st && *L->s >= '0' && *L->s <= '9')))
		L->s++;
	return L->s > st ? quire__xstrndup(st, (size_t)(L->s - st)) : NULL;
}

static int lex_number(struct lexer *L, long long *out)
{
	if (L->s >= L->e || *L->s < '0' || *L->s > '9')
		return -1;
	long long v = 0;
	while (L->s < L->e && *L->s >= '0' && *L->s <= '9' && v < 100000000)
		v = v * 10 + (*L->s++ - '0');
	*out = v;
	return 0;
}

/* Parses zero or more "[index]". */
static int lex_indexes(struct lexer *L, struct tix **out, int *n)
{
	size_t alloc = 0;
	*out = NULL;
	*n = 0;
	for (;;) {
		skip_ws(L);
		if (L->s >= L->e || *L->s != '[')
			return 0;
		L->s++;
		skip_ws(L);
		QUIRE_GROW(*out, alloc, (size_t)*n + 1);
		struct tix *ix = &(*out)[(*n)++];
		memset(ix, 0, sizeof(*ix));
		if (L->s < L->e && *L->s == '*') {
			ix->kind = IX_ALL;
			L->s++;
		} else if (L->s < L->e && *L->s == '<') {
			ix->kind = IX_BEFORE;
			L->s++;
			skip_ws(L);
			if (!(ix->var = lex_ident(L)))
				return lex_error(L, "expected a loop variable after '<'");
		} else if (lex_number(L, &ix->n) == 0) {
			ix->kind = IX_LIT;
		} else if ((ix->var = lex_ident(L))) {
			ix->kind = IX_VAR;
			skip_ws(L);
			if (L->s < L->e && (*L->s == '+' || *L->s == '-')) {
				int neg = *L->s == '-';
				L->s++;
				skip_ws(L);
				if (lex_number(L, &ix->n))
					return lex_error(
						L,
						"expected a number after '+' or '-' in an index");
				if (neg)
					ix->n = -ix->n;
			}
		} else {
			return lex_error(L, "expected an index: a number, a loop variable or '*'");
		}
		skip_ws(L);
		if (L->s >= L->e || *L->s != ']')
			return lex_error(L, "expected ']'");
		L->s++;
	}
}

/* A quoted string ("..." with \n, \t, \" and \\ escapes) into *out. */
static int lex_string(struct lexer *L, char **out)
{
	if (L->s >= L->e || *L->s != '"')
		return lex_error(L, "expected a quoted string");
	L->s++;
	struct quire_buf b = QUIRE_BUF_INIT;
	while (L->s < L->e && *L->s != '"') {
		if (*L->s == '\\' && L->s + 1 < L->e) {
			L->s++;
			quire_buf_putc(&b, *L->s == 'n' ? '\n' : *L->s == 't' ? '\t' : *L->s);
		} else {
			quire_buf_putc(&b, *L->s);
		}
		L->s++;
	}
	if (L->s >= L->e) {
		quire_buf_release(&b);
		return lex_error(L, "unterminated string");
	}
	L->s++;
	quire_buf_putc(&b, '\0');
	*out = quire_buf_detach(&b, NULL);
	return 0;
}

static int parse_expr(struct lexer *L, struct seg *sg)
{
	skip_ws(L);
	sg->head = lex_ident(L);
	if (!sg->head)
		return lex_error(L, "expected a name after '{{'");
	int err = lex_indexes(L, &sg->hix, &sg->nhix);
	if (err)
		return err;
	/* {{i+1}}: arithmetic on a bare loop variable. */
	skip_ws(L);
	if (!sg->nhix && L->s < L->e && (*L->s == '+' || *L->s == '-')) {
		int neg = *L->s == '-';
		L->s++;
		skip_ws(L);
		sg->hix = quire__xcalloc(1, sizeof(struct tix));
		if (lex_number(L, &sg->hix[0].n))
			return lex_error(L, "expected a number after '+' or '-'");
		if (neg)
			sg->hix[0].n = -sg->hix[0].n;
		sg->hix[0].kind = IX_LIT;
		sg->nhix = -1; /* marks an offset, not an index */
	}
	size_t alloc = 0;
	for (;;) {
		skip_ws(L);
		if (L->s >= L->e || *L->s != '.')
			break;
		L->s++;
		QUIRE_GROW(sg->steps, alloc, (size_t)sg->nsteps + 1);
		struct tstep *st = &sg->steps[sg->nsteps++];
		memset(st, 0, sizeof(*st));
		if (!(st->field = lex_ident(L)))
			return lex_error(L, "expected a field name after '.'");
		if ((err = lex_indexes(L, &st->ix, &st->nix)))
			return err;
	}
	for (skip_ws(L); L->s < L->e && *L->s == '|'; skip_ws(L)) {
		L->s++;
		skip_ws(L);
		char *f = lex_ident(L);
		int join = f && !strcmp(f, "join"), section = f && !strcmp(f, "section");
		free(f);
		if (!join && !section)
			return lex_error(L, "unknown filter (filters are: join \"SEPARATOR\", "
					    "section \"HEADING\")");
		if ((join && sg->join) || (section && sg->section))
			return lex_error(L, "a filter given twice");
		skip_ws(L);
		if (section) {
			if ((err = lex_string(L, &sg->section)))
				return err;
			if (!*sg->section)
				return lex_error(
					L, "section needs a heading: | section \"Characters\"");
			continue;
		}
		struct quire_buf b = QUIRE_BUF_INIT;
		if (L->s < L->e && *L->s == '"') {
			L->s++;
			while (L->s < L->e && *L->s != '"') {
				if (*L->s == '\\' && L->s + 1 < L->e) {
					L->s++;
					quire_buf_putc(&b, *L->s == 'n'	  ? '\n'
							   : *L->s == 't' ? '\t'
									  : *L->s);
				} else {
					quire_buf_putc(&b, *L->s);
				}
				L->s++;
			}
			if (L->s >= L->e) {
				quire_buf_release(&b);
				return lex_error(L, "unterminated string after join");
			}
			L->s++;
		} else {
			quire_buf_puts(&b, "\n\n");
		}
		sg->join = quire_buf_detach(&b, NULL);
	}
	skip_ws(L);
	if (L->s != L->e)
		return lex_error(L, "unexpected text in '{{ }}'");
	return 0;
}

/* Whether the lexer's text, after spacing, is exactly word (and spacing). */
static int lex_word(struct lexer *L, const char *word)
{
	const char *p = L->s;
	size_t n = strlen(word);
	while (p < L->e && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(L->e - p) < n || memcmp(p, word, n))
		return 0;
	p += n;
	while (p < L->e && (*p == ' ' || *p == '\t'))
		p++;
	return p == L->e;
}

/* Parses the inside of "{{ }}" into the last segment: an expression, or "#if X", "else",
 * "/if". blocks holds the open {{#if}}s, each as the segment whose jump its next tag sets. */
static int parse_block(struct lexer *L, struct quire_template *t, size_t **blocks, size_t *nblocks,
		       size_t *balloc)
{
	struct seg *sg = &t->segs[t->nsegs - 1];
	size_t self = t->nsegs - 1;
	skip_ws(L);
	if (L->s < L->e && *L->s == '#') {
		if (L->e - L->s < 4 || memcmp(L->s, "#if", 3) ||
		    (L->s[3] != ' ' && L->s[3] != '\t'))
			return lex_error(L, "unknown block (blocks are {{#if X}}, {{else}} and "
					    "{{/if}})");
		L->s += 3;
		sg->kind = SEG_IF;
		QUIRE_GROW(*blocks, *balloc, *nblocks + 1);
		(*blocks)[(*nblocks)++] = self;
		return parse_expr(L, sg);
	}
	if (lex_word(L, "else") || lex_word(L, "/if")) {
		int is_else = lex_word(L, "else");
		if (!*nblocks)
			return lex_error(L, is_else ? "'{{else}}' outside '{{#if}}'"
						    : "'{{/if}}' without its '{{#if}}'");
		struct seg *last = &t->segs[(*blocks)[*nblocks - 1]];
		if (is_else && last->kind == SEG_ELSE)
			return lex_error(L, "a second '{{else}}' in one '{{#if}}'");
		last->jump = self;
		sg->kind = is_else ? SEG_ELSE : SEG_END;
		if (is_else)
			(*blocks)[*nblocks - 1] = self;
		else
			(*nblocks)--;
		return 0;
	}
	if (L->s < L->e && *L->s == '/')
		return lex_error(L, "unknown block end (blocks are {{#if X}}, {{else}} and "
				    "{{/if}})");
	return parse_expr(L, sg);
}

/* A block tag alone on its line takes the line with it ("standalone", as in Mustache), so a
 * guarded paragraph leaves no blank lines behind. */
static void trim_block_lines(struct quire_template *t)
{
	/* Decided on the text as written, then cut: a literal between two tags on consecutive
	 * lines ("{{/if}}\n{{#if b}}") loses its front to one and its back to the other. */
	size_t *front = quire__xcalloc(t->nsegs + 1, sizeof(size_t));
	size_t *keep = quire__xcalloc(t->nsegs + 1, sizeof(size_t));
	for (size_t i = 0; i < t->nsegs; i++)
		keep[i] = t->segs[i].len;
	for (size_t i = 0; i < t->nsegs; i++) {
		int k = t->segs[i].kind;
		if (k != SEG_IF && k != SEG_ELSE && k != SEG_END)
			continue;
		struct seg *prev = i ? &t->segs[i - 1] : NULL,
			   *next = i + 1 < t->nsegs ? &t->segs[i + 1] : NULL;
		if ((prev && prev->kind != SEG_LIT) || (next && next->kind != SEG_LIT))
			continue;
		size_t ps = prev ? prev->len : 0;
		while (ps && (prev->text[ps - 1] == ' ' || prev->text[ps - 1] == '\t'))
			ps--;
		/* Alone on its line: after a line break, or at the very start of the text. */
		if (ps ? prev->text[ps - 1] != '\n' : prev && i - 1 != 0)
			continue;
		size_t ne = 0;
		while (next && ne < next->len && (next->text[ne] == ' ' || next->text[ne] == '\t'))
			ne++;
		/* ... and before a line break, or at the very end of the text. */
		if (next && (ne < next->len ? next->text[ne] != '\n' : i + 1 != t->nsegs - 1))
			continue;
		if (next && ne < next->len)
			ne++;
		if (prev)
			keep[i - 1] = ps;
		if (next)
			front[i + 1] = ne;
	}
	for (size_t i = 0; i < t->nsegs; i++) {
		struct seg *s = &t->segs[i];
		if (s->kind != SEG_LIT)
			continue;
		size_t a = front[i], e = keep[i] > a ? keep[i] : a;
		memmove(s->text, s->text + a, e - a);
		s->len = e - a;
	}
	free(front);
	free(keep);
}

int quire_template_parse(struct quire_template **out, const char *text, size_t len,
			 const char *name)
{
	struct quire_template *t = quire__xcalloc(1, sizeof(*t));
	t->name = quire__xstrdup(name);
	size_t alloc = 0, *blocks = NULL, nblocks = 0, balloc = 0;
	int line = 1, col = 1, err = 0;
	size_t i = 0, lit = 0;
	*out = NULL;
	while (i <= len) {
		int at_open = i + 1 < len && text[i] == '{' && text[i + 1] == '{';
		if (i == len || at_open) {
			if (i > lit) {
				QUIRE_GROW(t->segs, alloc, t->nsegs + 1);
				struct seg *s = &t->segs[t->nsegs++];
				memset(s, 0, sizeof(*s));
				s->kind = SEG_LIT;
				s->text = quire__xstrndup(text + lit, i - lit);
				s->len = i - lit;
			}
			if (i == len)
				break;
			const char *close = NULL;
			for (size_t k = i + 2; k + 1 < len; k++) {
				if (text[k] == '\n')
					break;
				if (text[k] == '}' && text[k + 1] == '}') {
					close = text + k;
					break;
				}
			}
			QUIRE_GROW(t->segs, alloc, t->nsegs + 1);
			struct seg *s = &t->segs[t->nsegs++];
			memset(s, 0, sizeof(*s));
			s->kind = SEG_EXPR;
			s->line = line;
			s->col = col;
			struct lexer L = { text + i + 2, close, t, line, col };
			if (!close) {
				err = lex_error(&L, "'{{' without a closing '}}' on the same line");
				goto out;
			}
			if ((err = parse_block(&L, t, &blocks, &nblocks, &balloc)))
				goto out;
			size_t consumed = (size_t)(close + 2 - (text + i));
			for (size_t k = 0; k < consumed; k++)
				col += ((unsigned char)text[i + k] & 0xc0) != 0x80;
			i += consumed;
			lit = i;
			continue;
		}
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			col++;
		}
		i++;
	}
	if (!err && nblocks) {
		const struct seg *open = &t->segs[blocks[0]];
		struct lexer L = { NULL, NULL, t, open->line, open->col };
		err = lex_error(&L, "'{{#if' without its '{{/if}}'");
	}
	if (!err)
		trim_block_lines(t);
out:
	free(blocks);
	if (err) {
		quire_template_free(t);
		return err;
	}
	*out = t;
	return 0;
}
