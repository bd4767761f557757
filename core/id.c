/* Instance ids, id globs and their path-safe file names. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/id.h"
#include "util.h"

void quire_id_format(struct quire_buf *out, const char *name, const long long *idx, int n)
{
	quire_buf_puts(out, name);
	for (int i = 0; i < n; i++) {
		quire_buf_putc(out, '[');
		quire_buf_put_int(out, idx[i]);
		quire_buf_putc(out, ']');
	}
}

/* Splits "Name[a][b]" into name and index strings; returns the index count or -1. */
static int split(const char *s, char *name, size_t namelen, char idx[][24], int max)
{
	const char *b = strchr(s, '[');
	size_t nl = b ? (size_t)(b - s) : strlen(s);
	if (nl == 0 || nl >= namelen)
		return -1;
	memcpy(name, s, nl);
	name[nl] = '\0';
	int n = 0;
	while (b && *b) {
		if (*b != '[' || n == max)
			return -1;
		const char *e = strchr(b, ']');
		if (!e || e == b + 1 || (size_t)(e - b - 1) >= 24)
			return -1;
		memcpy(idx[n], b + 1, (size_t)(e - b - 1));
		idx[n][e - b - 1] = '\0';
		for (const char *c = idx[n]; *c; c++)
			if (!(*c >= '0' && *c <= '9') && !(*c == '*' && idx[n][1] == '\0'))
				return -1;
		n++;
		b = e + 1;
	}
	return n;
}

int quire_id_valid_pattern(const char *s)
{
	char name[256], idx[8][24];
	return split(s, name, sizeof(name), idx, 8) >= 0;
}

int quire_id_cmp(const char *a, const char *b)
{
	size_t na = strcspn(a, "["), nb = strcspn(b, "[");
	int c = memcmp(a, b, na < nb ? na : nb);
	if (c || na != nb)
		return c ? c : na < nb ? -1 : 1;
	for (a += na, b += nb; *a == '[' && *b == '[';) {
		char *ea, *eb;
		long long x = strtoll(a + 1, &ea, 10), y = strtoll(b + 1, &eb, 10);
		if (x != y)
			return x < y ? -1 : 1;
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
	}
	return *a == '[' ? 1 : *b == '[' ? -1 : strcmp(a, b);
}

int quire_id_match(const char *pattern, const char *id)
{
	char pn[256], in[256], pi[8][24], ii[8][24];
	int np = split(pattern, pn, sizeof(pn), pi, 8);
	int ni = split(id, in, sizeof(in), ii, 8);
	if (np < 0 || ni < 0 || np > ni)
		return 0;
	if (fnmatch(pn, in, 0) != 0)
		return 0;
	for (int k = 0; k < np; k++)
		if (strcmp(pi[k], "*") && strtoll(pi[k], NULL, 10) != strtoll(ii[k], NULL, 10))
			return 0;
	return 1;
}

char *quire_id_filename(const char *id, const char *ext)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_id_filename_add(&b, id, ext);
	return quire_buf_detach(&b, NULL);
}

void quire_id_filename_add(struct quire_buf *out, const char *id, const char *ext)
{
	size_t start = out->len;
	for (const char *c = id; *c; c++) {
		char ch = *c;
		if (ch == '[')
			quire_buf_putc(out, '-');
		else if (ch == ']')
			continue;
		else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')
			quire_buf_putc(out, ch);
		else
			quire_buf_putc(out, '_');
	}
	if (ext && *ext) {
		quire_buf_putc(out, '.');
		for (const char *c = ext; *c; c++) {
			char ch = *c;
			int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				 (ch >= '0' && ch <= '9');
			quire_buf_putc(out, ok ? ch : '_');
		}
	}
	/* Never empty, hidden, or looking like an option: such a name gets a '_' in front. */
	if (out->len == start || out->ptr[start] == '.' || out->ptr[start] == '-') {
		quire_buf_putc(out, '_');
		memmove(out->ptr + start + 1, out->ptr + start, out->len - start - 1);
		out->ptr[start] = '_';
	}
}
