/* Internal: the stat cache the store holds (core/stat_cache.c). */
#ifndef QUIRE_STAT_CACHE_H
#define QUIRE_STAT_CACHE_H

#include "table.h"
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct quire_digest;

/* One row held in memory: its path in the cache's arena, its digest's bytes. */
struct quire__srow {
	const char *path; /* pathlen bytes, not NUL-terminated */
	uint32_t pathlen;
	uint32_t changed; /* put since the file was read: written out on release */
	int64_t size, mtime_ns, ino, recorded_ns;
	unsigned char digest[32];
};

/* Zero-initialised but for qdir (borrowed: the .quire directory). */
struct quire__statcache {
	const char *qdir;
	struct quire__srow *rows; /* dense, in the order recorded */
	size_t nrows, ralloc;
	struct quire__table paths; /* the rows by path */
	int rows_loaded, rows_dirty;
	size_t file_lines; /* rows read from the file, repeats included (0: no usable file) */
	size_t file_size;  /* its size as read */
	struct quire__arena arena; /* the rows' paths */
};

/* Reads the file now (lookups read it at the first one); afterwards, until the next put,
 * lookups may run on several threads at once. */
void quire__statcache_load(struct quire__statcache *s);

/* 1 and *digest filled when path's (size, mtime_ns, ino) match an entry recorded over 2 s
 * after that mtime (git's racy rule), else 0. */
int quire__statcache_get(struct quire__statcache *s, const char *path, int64_t size,
			 int64_t mtime_ns, int64_t ino, struct quire_digest *digest);

/* Records path's digest as of a stat taken at stat_ns (an entry that would be racy is not
 * kept). */
void quire__statcache_put(struct quire__statcache *s, const char *path, int64_t size,
			  int64_t mtime_ns, int64_t ino, const struct quire_digest *digest,
			  int64_t stat_ns);

/* Writes the changes back (with save) and frees everything; s is zeroed. */
void quire__statcache_release(struct quire__statcache *s, int save);

#endif
