/* The stat cache (.quire/runs/stat-cache): size, mtime and inode of each file quire hashed,
 * with its digest, so an unchanged file is not read again (git's index does the same). Read in
 * one go at the first lookup, 64 KiB at a time, into rows of their own; written back when the
 * store closes after a change, appended to when that is enough. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "stat_cache.h"
#include "util.h"

/* Entries recorded within this window of the file's mtime cannot be trusted: the file may have
 * been rewritten in the same timestamp tick after we hashed it (git's "racy clean" problem). */
#define RACY_WINDOW_NS 2000000000LL

/* The slot holding path (of hash h), or the empty slot where it belongs. The table holds
 * 4-byte row numbers, so at 200,000 rows it is 2 MB, not 58 MB of full rows. */
static uint32_t *row_slot(struct quire__statcache *s, const char *path, size_t n, uint64_t h)
{
	uint32_t *sl = quire__table_first(&s->paths, h);
	for (;; sl = quire__table_next(&s->paths, sl)) {
		const struct quire__srow *r = *sl ? &s->rows[*sl - 1] : NULL;
		if (!r || (r->pathlen == n && !memcmp(r->path, path, n)))
			return sl;
	}
}

/* Makes room for n rows at a load factor of at most one half. */
static void rows_reserve(struct quire__statcache *s, size_t n)
{
	if (!s->rows) {
		/* Sized from the file once, grown only past that; not zeroed (row_set sets
		 * every field of a row it adds), so the pages of rows never added are never
		 * touched: the estimate from the file's size, which holds a line for each time
		 * a file changed since it was last written whole, was up to three times the rows
		 * and all of them resident (3.7 MB of a 10k scene change's peak). */
		s->ralloc = n;
		s->rows = quire__xmalloc(n * sizeof(*s->rows));
	} else if (n > s->ralloc) {
		s->ralloc = n > 2 * s->ralloc ? n : 2 * s->ralloc;
		s->rows = quire__xrealloc(s->rows, s->ralloc * sizeof(*s->rows));
	}
	if (!quire__table_full(&s->paths, n))
		return;
	quire__table_size(&s->paths, n, s->paths.cap ? s->paths.cap : 1024);
	for (size_t r = 0; r < s->nrows; r++)
		*row_slot(s, s->rows[r].path, s->rows[r].pathlen,
			  quire__hash(s->rows[r].path, s->rows[r].pathlen)) = (uint32_t)(r + 1);
}

/* Sets path's row (its path copied into the arena); changed: put since the file was read. */
static void row_set(struct quire__statcache *s, const char *path, size_t pathlen, int64_t size,
		    int64_t mtime_ns, int64_t ino, const unsigned char digest[32],
		    int64_t recorded_ns, int changed)
{
	if (s->nrows >= UINT32_MAX - 1 || pathlen >= UINT32_MAX)
		return;
	rows_reserve(s, s->nrows + 1);
	uint64_t h = quire__hash(path, pathlen);
	uint32_t *slot = row_slot(s, path, pathlen, h);
	if (!*slot) {
		struct quire__srow *n = &s->rows[s->nrows++];
		n->path = quire__arena_copy(&s->arena, path, pathlen);
		n->pathlen = (uint32_t)pathlen;
		*slot = (uint32_t)s->nrows;
	}
	struct quire__srow *r = &s->rows[*slot - 1];
	r->changed = (uint32_t)changed;
	r->size = size;
	r->mtime_ns = mtime_ns;
	r->ino = ino;
	r->recorded_ns = recorded_ns;
	memcpy(r->digest, digest, 32);
}

#define STAT_MAGIC "quire-stat-cache 1\n"

/* A decimal int64 (optionally negative) ending at sep; NULL when it is not one. */
static const char *parse_i64(const char *p, char sep, int64_t *out)
{
	int neg = *p == '-';
	p += neg;
	if (*p < '0' || *p > '9')
		return NULL;
	uint64_t v = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (*p != sep || digits > 19 || v > (uint64_t)INT64_MAX) /* 19 digits cannot wrap */
		return NULL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return p + 1;
}

/* The lines of buffer [at, end) that are whole, as rows; where the first line that is not
 * one ends the load (NULL), else where the last whole line ends. */
static const char *parse_lines(struct quire__statcache *s, const char *at, const char *end)
{
	for (;;) {
		const char *nl = memchr(at, '\n', (size_t)(end - at));
		if (!nl)
			return at;
		int64_t size, mtime, ino, rec;
		const char *p = at;
		unsigned char d[32];
		if (!(p = parse_i64(p, '\t', &size)) || !(p = parse_i64(p, '\t', &mtime)) ||
		    !(p = parse_i64(p, '\t', &ino)) || !(p = parse_i64(p, '\t', &rec)) ||
		    nl - p <= QUIRE_DIGEST_STRLEN || p[QUIRE_DIGEST_STRLEN - 1] != '\t' ||
		    memcmp(p, "sha256:", 7) || !quire_hex_bytes(p + 7, d))
			return NULL;
		p += QUIRE_DIGEST_STRLEN;
		if (memchr(p, '\0', (size_t)(nl - p)))
			return NULL;
		row_set(s, p, (size_t)(nl - p), size, mtime, ino, d, rec, 0);
		s->file_lines++;
		at = nl + 1;
	}
}

/* Reads .quire/runs/stat-cache: a header line, then one line per file,
 * "size\tmtime_ns\tino\trecorded_ns\tdigest\tpath". A damaged line ends the load there (a
 * cache: what is missing is hashed). Read 64 KiB at a time, not mapped: the file holds a line
 * for each time a file changed since it was last written whole (40,000 lines for 20,000
 * files at 10k), and all of it was resident (5.7 MB of a one-scene run's peak). */
static void load_rows(struct quire__statcache *s)
{
	s->rows_loaded = 1;
	char *path = quire__xasprintf("%s/runs/stat-cache", s->qdir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(STAT_MAGIC) ||
	    (uint64_t)st.st_size > SIZE_MAX / 2) {
		if (fd >= 0)
			close(fd);
		return;
	}
	enum { CHUNK = 64 << 10 };
	char *buf = quire__xmalloc(CHUNK);
	size_t have = 0, total = 0;
	int ok = 1, first = 1, eof = 0;
	/* Sized once, from the file's size (a row is at least 100 bytes). */
	rows_reserve(s, (size_t)st.st_size / 100 + 1);
	while (ok && !eof) {
		ssize_t n = read(fd, buf + have, CHUNK - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ok = 0;
			break;
		}
		eof = n == 0;
		have += (size_t)n;
		total += (size_t)n;
		const char *at = buf;
		if (first && have >= sizeof(STAT_MAGIC) - 1) {
			first = 0;
			if (memcmp(buf, STAT_MAGIC, sizeof(STAT_MAGIC) - 1)) {
				ok = 0;
				break;
			}
			at += sizeof(STAT_MAGIC) - 1;
		}
		const char *next = first ? buf : parse_lines(s, at, buf + have);
		/* A line longer than the buffer is no line of this file. */
		if (!next || (next == buf && have == CHUNK)) {
			ok = 0;
			break;
		}
		have -= (size_t)(next - buf);
		memmove(buf, next, have);
	}
	close(fd);
	free(buf);
	/* A damaged line, or one cut short, is where the file stops being usable: appending
	 * after it would be lost, so the next save writes the whole file. */
	if (!ok || have || first)
		s->file_lines = 0;
	s->file_size = total;
}

/* Appends the rows (only those changed since the file was read, with only_changed) in the
 * file's line format. */
static void put_rows(const struct quire__statcache *s, struct quire_buf *b, int only_changed)
{
	for (size_t r = 0; r < s->nrows; r++) {
		const struct quire__srow *w = &s->rows[r];
		if (only_changed && !w->changed)
			continue;
		if (memchr(w->path, '\t', w->pathlen) || memchr(w->path, '\n', w->pathlen))
			continue; /* not representable: hashed every time */
		quire_buf_put_int(b, w->size);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->mtime_ns);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->ino);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->recorded_ns);
		quire_buf_putc(b, '\t');
		char hex[65];
		quire_bytes_hex(w->digest, hex);
		quire_buf_puts(b, "sha256:");
		quire_buf_add(b, hex, 64);
		quire_buf_putc(b, '\t');
		quire_buf_add(b, w->path, w->pathlen);
		quire_buf_putc(b, '\n');
	}
}

/* Writes the rows back (no fsync: a cache; lost, its files are hashed). Only the rows that
 * changed are appended, while the file holds at most a quarter more lines than live rows (a
 * scene change at 100k rewrote 29 MB for one line; every lookup reads every line, and the
 * first no-op after a build, which puts every file again, doubled it); otherwise, or when
 * the file is not the one that was read, the whole file is written again, temp + rename.
 * Later lines win when the file is read, and a line cut short by a crash ends the read
 * there: its rows are hashed again. */
static void save_rows(struct quire__statcache *s)
{
	size_t nchanged = 0;
	for (size_t r = 0; r < s->nrows; r++)
		nchanged += s->rows[r].changed != 0;
	char *path = quire__xasprintf("%s/runs/stat-cache", s->qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int done = 0;
	if (s->file_lines && s->file_lines + nchanged <= s->nrows + (s->nrows + 3) / 4) {
		quire_buf_grow(&b, nchanged * 120);
		put_rows(s, &b, 1);
		done = quire_fs_append_if_size(path, s->file_size, b.ptr, b.len);
	}
	if (!done) {
		quire_buf_reset(&b);
		quire_buf_grow(&b, s->nrows * 120 + sizeof(STAT_MAGIC));
		quire_buf_puts(&b, STAT_MAGIC);
		put_rows(s, &b, 0);
		char *dir = quire__xasprintf("%s/runs", s->qdir);
		if (quire_fs_mkdirs(dir, 0755) || quire_fs_replace(path, b.ptr, b.len, 0644))
			quire_error_clear();
		free(dir);
	}
	free(path);
	quire_buf_release(&b);
}

void quire__statcache_load(struct quire__statcache *s)
{
	if (!s->rows_loaded)
		load_rows(s);
}

int quire__statcache_get(struct quire__statcache *s, const char *path, int64_t size,
			 int64_t mtime_ns, int64_t ino, struct quire_digest *digest)
{
	if (!s->rows_loaded)
		load_rows(s);
	if (!s->paths.cap)
		return 0;
	size_t n = strlen(path);
	uint32_t k = *row_slot(s, path, n, quire__hash(path, n));
	const struct quire__srow *r = k ? &s->rows[k - 1] : NULL;
	if (!r || r->size != size || r->mtime_ns != mtime_ns || r->ino != ino ||
	    r->recorded_ns - mtime_ns <= RACY_WINDOW_NS)
		return 0;
	memcpy(digest->s, "sha256:", 7);
	quire_bytes_hex(r->digest, digest->s + 7);
	return 1;
}

void quire__statcache_put(struct quire__statcache *s, const char *path, int64_t size,
			  int64_t mtime_ns, int64_t ino, const struct quire_digest *digest,
			  int64_t stat_ns)
{
	if (!s->rows_loaded)
		load_rows(s);
	/* An entry recorded this soon after the file changed would never answer (see
	 * quire__statcache_get): not kept, so the cache is not rewritten for it. */
	unsigned char d[32];
	if (!quire_digest_valid(digest->s) || !quire_hex_bytes(digest->s + 7, d) ||
	    stat_ns - mtime_ns <= RACY_WINDOW_NS)
		return;
	row_set(s, path, strlen(path), size, mtime_ns, ino, d, stat_ns, 1);
	s->rows_dirty = 1;
}

void quire__statcache_release(struct quire__statcache *s, int save)
{
	if (s->rows_dirty && save)
		save_rows(s);
	quire__arena_release(&s->arena);
	free(s->rows);
	quire__table_release(&s->paths);
	memset(s, 0, sizeof(*s));
}
