/* The stat cache (.quire/runs/stat-cache): size, mtime and inode of each file quire hashed,
 * with its digest, so an unchanged file is not read again (git's index does the same). Read in
 * one go at the first lookup, mapped; written back when the store closes after a change,
 * appended to when that is enough. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
		if (!r || (r->hash == h && r->pathlen == n && !memcmp(r->path, path, n)))
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
		*row_slot(s, s->rows[r].path, s->rows[r].pathlen, s->rows[r].hash) =
			(uint32_t)(r + 1);
}

/* copy: path and digest are the caller's (copied into the arena), else they live as long as
 * the store (the mapped file). */
static void row_set(struct quire__statcache *s, const char *path, size_t pathlen, int64_t size,
		    int64_t mtime_ns, int64_t ino, const char *digest, int64_t recorded_ns,
		    int copy)
{
	if (!digest || s->nrows >= UINT32_MAX - 1 || pathlen >= UINT32_MAX)
		return;
	rows_reserve(s, s->nrows + 1);
	uint64_t h = quire__hash(path, pathlen);
	uint32_t *slot = row_slot(s, path, pathlen, h);
	if (!*slot) {
		struct quire__srow *n = &s->rows[s->nrows++];
		n->path = copy ? quire__arena_copy(&s->arena, path, pathlen) : path;
		n->pathlen = (uint32_t)pathlen;
		n->hash = h;
		*slot = (uint32_t)s->nrows;
	}
	struct quire__srow *r = &s->rows[*slot - 1];
	r->changed = copy;
	r->size = size;
	r->mtime_ns = mtime_ns;
	r->ino = ino;
	r->recorded_ns = recorded_ns;
	r->digest = copy ? quire__arena_copy(&s->arena, digest, QUIRE_DIGEST_STRLEN - 1) : digest;
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

/* Reads .quire/runs/stat-cache: a header line, then one line per file,
 * "size\tmtime_ns\tino\trecorded_ns\tdigest\tpath". A damaged line ends the load there (a
 * cache: what is missing is hashed). */
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
	/* Mapped, not read: the rows point into the page cache's own pages. */
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	s->map = map;
	s->maplen = (size_t)st.st_size;
	const char *at = s->map, *end = s->map + s->maplen;
	if (memcmp(at, STAT_MAGIC, sizeof(STAT_MAGIC) - 1))
		return;
	at += sizeof(STAT_MAGIC) - 1;
	/* Sized once, from the file's size (a row is at least 100 bytes). */
	rows_reserve(s, s->maplen / 100 + 1);
	while (at < end) {
		const char *nl = memchr(at, '\n', (size_t)(end - at));
		if (!nl)
			break;
		int64_t size, mtime, ino, rec;
		const char *p = at, *d;
		if (!(p = parse_i64(p, '\t', &size)) || !(p = parse_i64(p, '\t', &mtime)) ||
		    !(p = parse_i64(p, '\t', &ino)) || !(p = parse_i64(p, '\t', &rec)) ||
		    nl - p <= QUIRE_DIGEST_STRLEN || p[QUIRE_DIGEST_STRLEN - 1] != '\t')
			break;
		d = p;
		p += QUIRE_DIGEST_STRLEN;
		char dig[QUIRE_DIGEST_STRLEN];
		memcpy(dig, d, QUIRE_DIGEST_STRLEN - 1);
		dig[QUIRE_DIGEST_STRLEN - 1] = '\0';
		if (!quire_digest_valid(dig) || memchr(p, '\0', (size_t)(nl - p)))
			break;
		row_set(s, p, (size_t)(nl - p), size, mtime, ino, d, rec, 0);
		s->file_lines++;
		at = nl + 1;
	}
	/* A damaged line is where the file stops being usable: appending after it would be
	 * lost, so the next save writes the whole file. */
	if (at < end)
		s->file_lines = 0;
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
		quire_buf_add(b, w->digest, QUIRE_DIGEST_STRLEN - 1);
		quire_buf_putc(b, '\t');
		quire_buf_add(b, w->path, w->pathlen);
		quire_buf_putc(b, '\n');
	}
}

/* Writes the rows back (no fsync: a cache; lost, its files are hashed). Only the rows that
 * changed are appended, while the file holds at most as many old lines as live rows (a scene
 * change at 100k rewrote 29 MB for one line); otherwise, or when the file is not the one that
 * was read, the whole file is written again, temp + rename. Later lines win when the file is
 * read, and a line cut short by a crash ends the read there: its rows are hashed again. */
static void save_rows(struct quire__statcache *s)
{
	size_t nchanged = 0;
	for (size_t r = 0; r < s->nrows; r++)
		nchanged += s->rows[r].changed != 0;
	char *path = quire__xasprintf("%s/runs/stat-cache", s->qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int done = 0;
	if (s->map && s->file_lines && s->file_lines + nchanged <= 2 * s->nrows) {
		quire_buf_grow(&b, nchanged * 120);
		put_rows(s, &b, 1);
		done = quire_fs_append_if_size(path, s->maplen, b.ptr, b.len);
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
	memcpy(digest->s, r->digest, QUIRE_DIGEST_STRLEN - 1);
	digest->s[QUIRE_DIGEST_STRLEN - 1] = '\0';
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
	if (!quire_digest_valid(digest->s) || stat_ns - mtime_ns <= RACY_WINDOW_NS)
		return;
	row_set(s, path, strlen(path), size, mtime_ns, ino, digest->s, stat_ns, 1);
	s->rows_dirty = 1;
}

void quire__statcache_release(struct quire__statcache *s, int save)
{
	if (s->rows_dirty && save)
		save_rows(s);
	if (s->map)
		munmap((void *)s->map, s->maplen);
	quire__arena_release(&s->arena);
	free(s->rows);
	quire__table_release(&s->paths);
	memset(s, 0, sizeof(*s));
}
