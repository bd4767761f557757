/* Internal helpers: allocation that aborts on OOM, formatted strings, small string utilities. */
#ifndef QUIRE_UTIL_H
#define QUIRE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The hash of every in-memory table keyed by bytes (ids, paths, template lines): FNV-1a,
 * with the high bits folded into the low ones the tables index by. Never stored. */
static inline uint64_t quire__hash(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static inline uint64_t quire__hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

void *quire__xmalloc(size_t n);
void *quire__xcalloc(size_t n, size_t size);
void *quire__xrealloc(void *p, size_t n);
/* quire__xcalloc for a large array (one per 100,000 instances): from 2 MiB, on transparent
 * huge pages where the system allows it. Page faults were a quarter of a 100k no-op plan
 * (about 10 us each on a virtual machine); a 2 MiB page takes one fault for 512. Freed with
 * free(). Not for growing with realloc (that loses the alignment): size it once. */
void *quire__xcalloc_big(size_t n, size_t size);
/* The same without aborting: NULL when the memory is not there (the caller says why). */
void *quire__calloc_big(size_t n, size_t size);
/* Bytes this process may still allocate as far as the system says, in *avail: MemAvailable,
 * capped by what the cgroup's memory.max leaves, what RLIMIT_AS leaves and
 * $QUIRE_MEMORY_LIMIT; SIZE_MAX when none is known. QUIRE_EINVALID when $QUIRE_MEMORY_LIMIT
 * is not a size. */
int quire__mem_available(size_t *avail);
char *quire__xstrdup(const char *s);
char *quire__xstrndup(const char *s, size_t n);
/* malloc'd formatted string. */
char *quire__xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when p is to be left for the process's exit instead of freed (quire/mem.h). */
int quire__mem_keep(void *p);
extern void *quire__kept[64];
/* malloc'd "a/b" (what xasprintf("%s/%s") gives, without printf: on paths made per instance). */
char *quire__path_join(const char *a, const char *b);
/* A relative path's normal form ("./a//b/../c" -> "a/c"), malloc'd; "" for the directory
 * itself. NULL when it is absolute or climbs out ("..", "a/../.."). */
char *quire__rel_normal(const char *s);

/* qsort comparison of two strings (char * items), by strcmp. */
int quire__cmp_strp(const void *a, const void *b);

/* Grows *arr to hold at least n items of `size` bytes (doubling). */
void quire__grow(void **arr, size_t *alloc, size_t n, size_t size);
#define QUIRE_GROW(arr, alloc, n) quire__grow((void **)&(arr), &(alloc), (n), sizeof(*(arr)))

/* Strings allocated together (in blocks of at least 64 KiB) and freed together: one
 * allocation per block instead of one per string. Zero-initialised is empty. */
struct quire__arena {
	char **blocks;
	size_t nblocks, left;
	char *at;
};

/* A copy of the n bytes at s, NUL-terminated, that lives until the arena is released. */
char *quire__arena_copy(struct quire__arena *a, const char *s, size_t n);

/* n zeroed bytes aligned for any type, that live until the arena is released. */
void *quire__arena_alloc(struct quire__arena *a, size_t n);

/* Frees every string of the arena; it is empty again. */
void quire__arena_release(struct quire__arena *a);

/* true when s is a valid identifier: [A-Za-z_][A-Za-z0-9_]* */
bool quire__is_ident(const char *s, size_t len);

/* Makes NUL-terminated s valid UTF-8 in place: every byte that does not begin a whole, valid
 * sequence (one cut short at the end included) becomes '?'. Messages from providers and the
 * file system go into JSON, which refuses anything else. */
void quire__utf8_scrub(char *s);

/* Whether s[0, len) (NUL after it) is valid UTF-8, NUL bytes allowed: what jansson takes as a
 * string. */
bool quire__utf8_valid(const char *s, size_t len);

/* Levenshtein distance, capped: used for "did you mean" suggestions. */
size_t quire__edit_distance(const char *a, const char *b);

/* Current wall time in nanoseconds since the epoch. */
int64_t quire__now_ns(void);

/* How much older than the stat before its checks a blob shard's ctime must be for
 * quire_blob_set_save to record it (1 s; unit tests shorten it). */
extern int64_t quire__blob_trust_racy_ns;

/* Runs fn(arg) on this thread and on up to nthreads - 1 more (fewer when the machine has
 * fewer cores or a thread cannot be started), returning when every one has returned: fn
 * takes its work from arg itself (an atomic counter), so any number of threads finishes it. */
void quire__run_parallel(void *(*fn)(void *), void *arg, size_t nthreads);

/* The error code for a failed write's errno: QUIRE_ENOSPC for a full disk or quota, else
 * QUIRE_EIO. */
int quire__io_code(int e);

/* Formats ns-since-epoch as an RFC 3339 UTC timestamp into out (at least 32 bytes). */
void quire__format_time(int64_t ns, char *out, size_t outlen);

#endif
