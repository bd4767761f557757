/* quire's JSON writer: canonical (sorted, compact) and pretty text that diffs and hashes the
 * same every time, and reading JSON text without parsing what need not be parsed. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "json.h"
#include "util.h"

static int has_real(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_REAL:
		return 1;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
			if (has_real(x))
				return 1;
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (has_real(x))
				return 1;
		return 0;
	default:
		return 0;
	}
}

void quire_json_indent(struct quire_buf *b, int depth)
{
	if (depth < 0)
		return; /* compact */
	/* A newline and two spaces per level, added at once (up to 16 levels). */
	static const char spaces[] = "\n                                ";
	size_t want = 1 + 2 * (size_t)depth;
	if (want <= sizeof(spaces) - 1) {
		quire_buf_add(b, spaces, want);
		return;
	}
	quire_buf_putc(b, '\n');
	for (int k = 0; k < depth; k++)
		quire_buf_add(b, "  ", 2);
}

static int cmp_keys(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

const char **quire_json_sorted_keys(const json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	const char **keys = quire__xcalloc(*n + 1, sizeof(*keys));
	size_t k = 0;
	const char *key;
	json_t *x;
	json_object_foreach((json_t *)obj, key, x)
		keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_keys);
	return keys;
}

/* What json_dumps(v, JSON_SORT_KEYS | JSON_INDENT(2)) writes (depth >= 0) or, with depth -1,
 * JSON_SORT_KEYS | JSON_COMPACT, byte for byte, without jansson's per-value overhead. */
static void put_value(struct quire_buf *b, const json_t *v, int depth)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t n, k;
		if (!json_object_size(v)) {
			quire_buf_puts(b, "{}");
			return;
		}
		const char **keys = quire_json_sorted_keys(v, &n);
		quire_buf_putc(b, '{');
		for (k = 0; k < n; k++) {
			if (k)
				quire_buf_putc(b, ',');
			quire_json_indent(b, depth < 0 ? -1 : depth + 1);
			quire_buf_put_jstr(b, keys[k], strlen(keys[k]));
			quire_buf_add(b, ": ", depth < 0 ? 1 : 2);
			put_value(b, json_object_get(v, keys[k]), depth < 0 ? -1 : depth + 1);
		}
		free(keys);
		quire_json_indent(b, depth);
		quire_buf_putc(b, '}');
		return;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		if (!n) {
			quire_buf_puts(b, "[]");
			return;
		}
		quire_buf_putc(b, '[');
		for (size_t k = 0; k < n; k++) {
			if (k)
				quire_buf_putc(b, ',');
			quire_json_indent(b, depth < 0 ? -1 : depth + 1);
			put_value(b, json_array_get(v, k), depth < 0 ? -1 : depth + 1);
		}
		quire_json_indent(b, depth);
		quire_buf_putc(b, ']');
		return;
	}
	case JSON_STRING:
		quire_buf_put_jstr(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		quire_buf_put_int(b, (long long)json_integer_value(v));
		return;
	case JSON_TRUE:
		quire_buf_puts(b, "true");
		return;
	case JSON_FALSE:
		quire_buf_puts(b, "false");
		return;
	case JSON_NULL:
		quire_buf_puts(b, "null");
		return;
	default: {
		/* Reals stay out of anything quire writes; should one appear, jansson prints it. */
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		quire_buf_puts(b, t ? t : "null");
		free(t);
	}
	}
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i;
}

/* The end of the string token starting at s[i] (a quote), or (size_t)-1. */
static size_t string_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '"')
			return i + 1;
		if (s[i] == '\\')
			i++;
		else if ((unsigned char)s[i] < 0x20)
			return (size_t)-1;
	}
	return (size_t)-1;
}

/* The same, checking the string as a JSON parser would: escapes, and UTF-8. */
static size_t string_end_strict(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return (size_t)-1;
		if (c == '\\') {
			if (++i >= n || !strchr("\"\\/bfnrtu", s[i]) || !s[i])
				return (size_t)-1;
			if (s[i] == 'u') {
				for (int k = 0; k < 4; k++)
					if (++i >= n || !strchr("0123456789abcdefABCDEF", s[i]) ||
					    !s[i])
						return (size_t)-1;
			}
		} else if (c >= 0x80) {
			/* A UTF-8 sequence: its length from the lead byte, then continuations. */
			size_t len = c >= 0xf0 && c < 0xf5   ? 4
				     : c >= 0xe0 && c < 0xf0 ? 3
				     : c >= 0xc2 && c < 0xe0 ? 2
							     : 0;
			if (!len || i + len > n)
				return (size_t)-1;
			unsigned cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
			for (size_t k = 1; k < len; k++) {
				if (((unsigned char)s[i + k] & 0xc0) != 0x80)
					return (size_t)-1;
				cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
			}
			if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
			    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
				return (size_t)-1;
			i += len - 1;
		}
	}
	return (size_t)-1;
}

/* Whether s[i..e) is a JSON literal or number. */
static int scalar_ok(const char *s, size_t i, size_t e)
{
	size_t n = e - i;
	if ((n == 4 && (!memcmp(s + i, "true", 4) || !memcmp(s + i, "null", 4))) ||
	    (n == 5 && !memcmp(s + i, "false", 5)))
		return 1;
	size_t k = i;
	if (k < e && s[k] == '-')
		k++;
	if (k >= e || s[k] < '0' || s[k] > '9')
		return 0;
	if (s[k] == '0')
		k++;
	else
		while (k < e && s[k] >= '0' && s[k] <= '9')
			k++;
	if (k < e && s[k] == '.') {
		size_t f = ++k;
		while (k < e && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k == f)
			return 0;
	}
	if (k < e && (s[k] == 'e' || s[k] == 'E')) {
		k++;
		if (k < e && (s[k] == '+' || s[k] == '-'))
			k++;
		size_t x = k;
		while (k < e && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k == x)
			return 0;
	}
	return k == e;
}

static int bare_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' ||
	       c == '.' || c == 'E';
}

size_t quire_json_value_end(const char *s, size_t n, size_t i)
{
	i = skip_ws(s, n, i);
	if (i >= n)
		return (size_t)-1;
	if (s[i] == '"')
		return string_end(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		size_t j = i;
		while (j < n && bare_char(s[j]))
			j++;
		return j > i ? j : (size_t)-1;
	}
	size_t depth = 0;
	for (; i < n; i++) {
		char c = s[i];
		if (c == '"') {
			if ((i = string_end(s, n, i)) == (size_t)-1)
				return i;
			i--;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return (size_t)-1;
}

/* The end of the canonical string at s[i] (see quire_json_is_canonical), or (size_t)-1;
 * *esc set when it holds an escape. */
static size_t canon_string(const char *s, size_t n, size_t i, int *esc)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t e = string_end_strict(s, n, i);
	if (e == (size_t)-1)
		return e;
	*esc = 0;
	for (size_t k = i + 1; k < e - 1; k++) {
		if (s[k] != '\\')
			continue;
		*esc = 1;
		char c = s[++k];
		if (c == '/')
			return (size_t)-1;
		if (c != 'u')
			continue;
		/* Only a control character without a short escape, as quire_buf_put_jstr writes
		 * it (and never \u0000, which a parser refuses). */
		const char *h1 = strchr(hex, s[k + 3]), *h2 = strchr(hex, s[k + 4]);
		int v = h1 && h2 && s[k + 3] && s[k + 4] ? (int)(h1 - hex) * 16 + (int)(h2 - hex)
							 : -1;
		if (s[k + 1] != '0' || s[k + 2] != '0' || v < 1 || v >= 0x20 || v == '\b' ||
		    v == '\f' || v == '\n' || v == '\r' || v == '\t')
			return (size_t)-1;
		k += 4;
	}
	return e;
}

static size_t canon_value(const char *s, size_t n, size_t i, int depth)
{
	if (i >= n || depth > 64)
		return (size_t)-1;
	int esc;
	switch (s[i]) {
	case '{':
	case '[': {
		char close = s[i] == '{' ? '}' : ']';
		const char *prev = NULL;
		size_t plen = 0;
		if (++i < n && s[i] == close)
			return i + 1;
		for (;;) {
			if (close == '}') {
				size_t ke = i < n && s[i] == '"' ? canon_string(s, n, i, &esc)
								 : (size_t)-1;
				if (ke == (size_t)-1 || esc || ke >= n || s[ke] != ':')
					return (size_t)-1;
				/* Keys in strcmp's order, each once. */
				const char *key = s + i + 1;
				size_t klen = ke - i - 2, m = klen < plen ? klen : plen;
				int c = prev ? memcmp(prev, key, m) : -1;
				if (c > 0 || (!c && plen >= klen))
					return (size_t)-1;
				prev = key;
				plen = klen;
				i = ke + 1;
			}
			i = canon_value(s, n, i, depth + 1);
			if (i == (size_t)-1 || i >= n)
				return (size_t)-1;
			if (s[i] == close)
				return i + 1;
			if (s[i++] != ',')
				return (size_t)-1;
		}
	}
	case '"': {
		size_t e = canon_string(s, n, i, &esc);
		return e;
	}
	case 't':
		return n - i >= 4 && !memcmp(s + i, "true", 4) ? i + 4 : (size_t)-1;
	case 'f':
		return n - i >= 5 && !memcmp(s + i, "false", 5) ? i + 5 : (size_t)-1;
	case 'n':
		return n - i >= 4 && !memcmp(s + i, "null", 4) ? i + 4 : (size_t)-1;
	default: {
		/* An integer as quire_buf_put_int writes it: no "-0", no leading zero, no
		 * fraction or exponent (a real is written by jansson), within 18 digits. */
		size_t k = i + (s[i] == '-'), d = k;
		while (k < n && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k == d || k - d > 18 || (s[d] == '0' && (k - d > 1 || d > i)))
			return (size_t)-1;
		if (k < n && (s[k] == '.' || s[k] == 'e' || s[k] == 'E'))
			return (size_t)-1;
		return k;
	}
	}
}

int quire_json_is_canonical(const char *s, size_t n)
{
	return canon_value(s, n, 0, 0) == n;
}

int quire_json_reformat(struct quire_buf *out, const char *s, size_t n, int depth)
{
	char stack[256];
	int sp = 0, d = depth, pretty = depth >= 0;
	size_t start = out->len, i = skip_ws(s, n, 0);
	for (;;) {
		/* A value. */
		if (i >= n)
			goto bad;
		char c = s[i];
		if (c == '{' || c == '[') {
			char close = c == '{' ? '}' : ']';
			size_t j = skip_ws(s, n, i + 1);
			if (j < n && s[j] == close) {
				quire_buf_putc(out, c);
				quire_buf_putc(out, close);
				i = j + 1;
			} else {
				if (sp == (int)sizeof(stack))
					goto bad;
				stack[sp++] = close;
				quire_buf_putc(out, c);
				quire_json_indent(out, pretty ? ++d : -1);
				i = j;
				if (c == '{')
					goto key;
				continue;
			}
		} else if (c == '"') {
			size_t e = string_end_strict(s, n, i);
			if (e == (size_t)-1)
				goto bad;
			quire_buf_add(out, s + i, e - i);
			i = e;
		} else {
			size_t e = i;
			while (e < n && bare_char(s[e]))
				e++;
			if (e == i || !scalar_ok(s, i, e))
				goto bad;
			quire_buf_add(out, s + i, e - i);
			i = e;
		}
		/* After a value: the end, a comma, or the end of its container. */
		for (;;) {
			i = skip_ws(s, n, i);
			if (!sp) {
				if (i == n)
					return 0;
				goto bad;
			}
			if (i >= n)
				goto bad;
			if (s[i] == ',') {
				quire_buf_putc(out, ',');
				quire_json_indent(out, pretty ? d : -1);
				i = skip_ws(s, n, i + 1);
				if (stack[sp - 1] == '}')
					goto key;
				break;
			}
			if (s[i] != stack[sp - 1])
				goto bad;
			sp--;
			quire_json_indent(out, pretty ? --d : -1);
			quire_buf_putc(out, s[i++]);
		}
		continue;
	key:
		if (i >= n || s[i] != '"')
			goto bad;
		size_t e = string_end_strict(s, n, i);
		if (e == (size_t)-1)
			goto bad;
		quire_buf_add(out, s + i, e - i);
		i = skip_ws(s, n, e);
		if (i >= n || s[i] != ':')
			goto bad;
		quire_buf_add(out, ": ", pretty ? 2 : 1);
		i = skip_ws(s, n, i + 1);
	}
bad:
	out->len = start;
	out->ptr[start] = '\0';
	return -1;
}

json_t *quire_json_loads_keeping(const char *text, size_t len, const char *key, size_t min)
{
	json_error_t je;
	size_t klen = key ? strlen(key) : 0, i = 0;
	while (key && i < len && text[i] != '{')
		i++;
	for (i++; key && i < len;) {
		while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == ',' ||
				   text[i] == '\t' || text[i] == '\r'))
			i++;
		if (i >= len || text[i] != '"')
			break;
		size_t ks = i + 1, ke = quire_json_value_end(text, len, i);
		if (ke == (size_t)-1)
			break;
		while (ke < len && text[ke] != ':')
			ke++;
		size_t vs = ke + 1, ve = quire_json_value_end(text, len, vs);
		if (ve == (size_t)-1)
			break;
		while (vs < ve && (text[vs] == ' ' || text[vs] == '\n'))
			vs++;
		if (ke - 1 - ks == klen && !memcmp(text + ks, key, klen) &&
		    text[ks + klen] == '"') {
			if (ve - vs < min || (text[vs] != '{' && text[vs] != '['))
				break;
			/* The rest parsed with null in its place, then the text put there. */
			struct quire_buf b = QUIRE_BUF_INIT;
			quire_buf_add(&b, text, vs);
			quire_buf_puts(&b, "null");
			quire_buf_add(&b, text + ve, len - ve);
			json_t *o = json_loadb(b.ptr, b.len, 0, &je);
			quire_buf_release(&b);
			if (json_is_object(o) && json_is_null(json_object_get(o, key))) {
				json_object_set_new(o, key,
						    json_stringn_nocheck(text + vs, ve - vs));
				return o;
			}
			json_decref(o);
			break;
		}
		i = ve;
	}
	json_t *o = json_loadb(text, len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void quire_json_write(struct quire_buf *out, const json_t *v, int pretty)
{
	put_value(out, v, pretty ? 0 : -1);
}

void quire_json_write_at(struct quire_buf *out, const json_t *v, int depth)
{
	put_value(out, v, depth);
}

char *quire_json_canonical(const json_t *v)
{
	if (has_real(v)) {
		quire_error_set(QUIRE_EINVALID, "floating-point numbers cannot be hashed");
		return NULL;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_json_write(&b, v, 0);
	return quire_buf_detach(&b, NULL);
}

char *quire_json_canonical_with(const json_t *obj, const char *key, const char *raw)
{
	if (!json_is_object(obj) || has_real(obj)) {
		quire_error_set(QUIRE_EINVALID, json_is_object(obj)
							? "floating-point numbers cannot be hashed"
							: "internal: not an object");
		return NULL;
	}
	size_t n = json_object_size(obj), k = 0;
	const char **keys = quire__xcalloc(n + 1, sizeof(*keys));
	const char *kk;
	json_t *x;
	json_object_foreach((json_t *)obj, kk, x)
		if (strcmp(kk, key))
			keys[k++] = kk;
	keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_keys);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_putc(&b, '{');
	for (size_t i = 0; i < k; i++) {
		if (i)
			quire_buf_putc(&b, ',');
		quire_buf_put_jstr(&b, keys[i], strlen(keys[i]));
		quire_buf_putc(&b, ':');
		if (keys[i] == key)
			quire_buf_puts(&b, raw);
		else
			put_value(&b, json_object_get(obj, keys[i]), -1);
	}
	quire_buf_putc(&b, '}');
	free(keys);
	return quire_buf_detach(&b, NULL);
}
