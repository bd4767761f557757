/* Growable string buffer with the strbuf contract: ptr is never NULL and always NUL-terminated. */
#ifndef QUIRE_BUF_H
#define QUIRE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct quire_buf {
	char *ptr;    /* contents, NUL-terminated; points at a shared "" until first growth */
	size_t len;   /* bytes used, not counting the NUL */
	size_t alloc; /* bytes allocated, 0 while ptr is the shared "" */
	size_t cap;   /* 0 = unlimited; otherwise the most bytes the buffer may hold */
};

extern char quire_buf__empty[];
#define QUIRE_BUF_INIT                                                                             \
	{                                                                                          \
		quire_buf__empty, 0, 0, 0                                                          \
	}

/* Initialises an empty buffer that may hold at most `cap` bytes (0 = unlimited). */
void quire_buf_init(struct quire_buf *b, size_t cap);

/* Frees the contents and resets to empty. */
void quire_buf_release(struct quire_buf *b);

/* Empties the buffer, keeping its allocation. */
void quire_buf_reset(struct quire_buf *b);

/* Makes room for `extra` more bytes; QUIRE_EINVALID when over the cap. Aborts on OOM. */
int quire_buf_grow(struct quire_buf *b, size_t extra);

/* Makes room for exactly `extra` more bytes when the size to come is known (growth doubles,
 * which holds up to twice a large text); QUIRE_EINVALID when over the cap. Aborts on OOM. */
int quire_buf_reserve(struct quire_buf *b, size_t extra);

/* Appends bytes; returns 0 or QUIRE_EINVALID when the cap would be exceeded. */
int quire_buf_add(struct quire_buf *b, const void *data, size_t len);

/* Appends a NUL-terminated string. */
int quire_buf_puts(struct quire_buf *b, const char *s);

/* Appends one byte. */
int quire_buf_putc(struct quire_buf *b, char c);

/* Appends a decimal integer (what "%lld" prints, without printf's cost on hot paths). */
int quire_buf_put_int(struct quire_buf *b, long long v);

/* Appends s (len bytes) as a JSON string, escaped as jansson escapes it: quote, backslash and
 * control characters (\\uXXXX in upper case); UTF-8 passes through. */
int quire_buf_put_jstr(struct quire_buf *b, const char *s, size_t len);

/* How many bytes quire_buf_put_jstr appends for s (quotes included). */
size_t quire_jstr_len(const char *s, size_t len);

/* Appends formatted text. */
int quire_buf_printf(struct quire_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends formatted text from a va_list. */
int quire_buf_vprintf(struct quire_buf *b, const char *fmt, va_list ap);

/* Hands the contents to the caller (malloc'd, never NULL) and resets the buffer. */
char *quire_buf_detach(struct quire_buf *b, size_t *len);

#endif
