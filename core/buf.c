/* quire_buf: growable, optionally capped byte buffer (git's strbuf contract). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "util.h"

char quire_buf__empty[1];

void quire_buf_init(struct quire_buf *b, size_t cap)
{
	b->ptr = quire_buf__empty;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void quire_buf_release(struct quire_buf *b)
{
	if (b->alloc)
		free(b->ptr);
	quire_buf_init(b, b->cap);
}

void quire_buf_reset(struct quire_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->ptr[0] = '\0';
}

/* Checks that extra more bytes fit under the cap; what the contents and their NUL then take
 * in *need. */
static int room(const struct quire_buf *b, size_t extra, size_t *need)
{
	if (extra > (size_t)-1 - b->len - 1 || (b->cap && extra > b->cap - b->len))
		return quire_error_set(QUIRE_EINVALID, "content larger than the limit of %zu bytes",
				       b->cap);
	*need = b->len + extra + 1;
	return 0;
}

static void set_alloc(struct quire_buf *b, size_t n)
{
	if (b->alloc) {
		b->ptr = quire__xrealloc(b->ptr, n);
	} else {
		b->ptr = quire__xmalloc(n);
		b->ptr[0] = '\0';
	}
	b->alloc = n;
}

int quire_buf_grow(struct quire_buf *b, size_t extra)
{
	size_t need = 0;
	int err = room(b, extra, &need);
	if (err || need <= b->alloc)
		return err;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n *= 2;
	set_alloc(b, n);
	return 0;
}

int quire_buf_reserve(struct quire_buf *b, size_t extra)
{
	size_t need = 0;
	int err = room(b, extra, &need);
	if (err || need <= b->alloc)
		return err;
	set_alloc(b, need);
	return 0;
}

int quire_buf_add(struct quire_buf *b, const void *data, size_t len)
{
	int err = quire_buf_grow(b, len);
	if (err)
		return err;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int quire_buf_puts(struct quire_buf *b, const char *s)
{
	return quire_buf_add(b, s, strlen(s));
}

int quire_buf_putc(struct quire_buf *b, char c)
{
	/* The common case without a call: room for the byte and the NUL, and under any cap. */
	if (b->len + 1 < b->alloc && (!b->cap || b->len < b->cap)) {
		b->ptr[b->len++] = c;
		b->ptr[b->len] = '\0';
		return 0;
	}
	return quire_buf_add(b, &c, 1);
}

int quire_buf_vprintf(struct quire_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return quire_error_set(QUIRE_ERROR, "bad format string");
	int err = quire_buf_grow(b, (size_t)n);
	if (err)
		return err;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int quire_buf_printf(struct quire_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int err = quire_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

char *quire_buf_detach(struct quire_buf *b, size_t *len)
{
	char *p;
	if (len)
		*len = b->len;
	if (b->alloc) {
		p = b->ptr;
	} else {
		p = quire__xmalloc(1);
		p[0] = '\0';
	}
	quire_buf_init(b, b->cap);
	return p;
}

int quire_buf_put_int(struct quire_buf *b, long long v)
{
	char tmp[24];
	size_t n = 0;
	/* Through unsigned so that LLONG_MIN negates without overflow. */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do
		tmp[sizeof(tmp) - ++n] = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		tmp[sizeof(tmp) - ++n] = '-';
	return quire_buf_add(b, tmp + sizeof(tmp) - n, n);
}

int quire_buf_put_jstr(struct quire_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
	quire_buf_putc(b, '"');
	const unsigned char *c = (const unsigned char *)s, *end = c + len;
	while (c < end) {
		const unsigned char *run = c;
		while (c < end && *c >= 0x20 && *c != '"' && *c != '\\')
			c++;
		if (c > run)
			quire_buf_add(b, run, (size_t)(c - run));
		if (c == end)
			break;
		const char *esc = *c == '"'    ? "\\\""
				  : *c == '\\' ? "\\\\"
				  : *c == '\b' ? "\\b"
				  : *c == '\f' ? "\\f"
				  : *c == '\n' ? "\\n"
				  : *c == '\r' ? "\\r"
				  : *c == '\t' ? "\\t"
					       : NULL;
		if (esc) {
			quire_buf_puts(b, esc);
		} else {
			char u[7] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15], 0 };
			quire_buf_puts(b, u);
		}
		c++;
	}
	return quire_buf_putc(b, '"');
}

size_t quire_jstr_len(const char *s, size_t len)
{
	size_t n = 2;
	for (const unsigned char *c = (const unsigned char *)s, *end = c + len; c < end; c++) {
		if (*c == '"' || *c == '\\' || *c == '\b' || *c == '\f' || *c == '\n' ||
		    *c == '\r' || *c == '\t')
			n += 2;
		else if (*c < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}
