/* Internal helpers shared by the core modules. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "quire/mem.h"
#include "quire/error.h"
#include "util.h"

static void oom(void)
{
	fputs("quire: out of memory\n", stderr);
	abort();
}

void *quire__xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *quire__xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

/* Arrays at least this large are put on transparent huge pages: a page fault cost 14 us on
 * the development VM, a huge page's 1.5 ms, so from about 430 KB on one huge page is cheaper
 * than the small pages it replaces (docs/performance.md). */
#define BIG_BYTES (1u << 20)
#define HUGE_PAGE (2u << 20)
/* A last part of an array past its whole huge pages at least this large is given one more
 * (resident whole, the rest of it unused); a smaller one stays on small pages. */
#define HUGE_TAIL (512u << 10)

/* The bytes to allocate for an array of bytes on huge pages, and advise as such. */
static size_t huge_span(size_t bytes)
{
	size_t whole = bytes & ~(size_t)(HUGE_PAGE - 1);
	return bytes - whole >= HUGE_TAIL && whole <= SIZE_MAX - HUGE_PAGE ? whole + HUGE_PAGE
									   : bytes;
}

void *quire__xcalloc_big(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom();
	size_t bytes = n * size;
	if (bytes < BIG_BYTES)
		return quire__xcalloc(n, size);
	void *p = NULL;
	size_t span = huge_span(bytes);
	if (posix_memalign(&p, HUGE_PAGE, span))
		oom();
	/* Only a hint (refused where transparent huge pages are off): the zeroing below then
	 * faults in 2 MiB at a time. */
	madvise(p, (span + 4095) & ~(size_t)4095, MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

void *quire__calloc_big(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	size_t bytes = n * size;
	if (bytes < BIG_BYTES)
		return calloc(n ? n : 1, size ? size : 1);
	void *p = NULL;
	size_t span = huge_span(bytes);
	if (posix_memalign(&p, HUGE_PAGE, span))
		return NULL;
	madvise(p, (span + 4095) & ~(size_t)4095, MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

/* A size as people write it: "2G", "1.5G", "512M", "2GiB", "1048576". 0 when it is not one. */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v > 0) || *s == '-' || *s == '+')
		return 0;
	static const char units[] = "KMGT";
	double mult = 1;
	if (*end) {
		const char *u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			return 0;
		for (const char *k = units; k <= u; k++)
			mult *= 1024;
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end || v * mult >= 18e18 || v * mult < 1)
		return 0;
	*out = (unsigned long long)(v * mult);
	return 1;
}

/* The cgroup's (v2) memory.stat value of a key, or 0. */
static unsigned long long cgroup_stat(const char *key)
{
	FILE *f = fopen("/sys/fs/cgroup/memory.stat", "r");
	unsigned long long v = 0;
	if (!f)
		return 0;
	char line[256];
	size_t klen = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			v = strtoull(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Address space this process uses now (for RLIMIT_AS), or 0. */
static unsigned long long vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages = 0;
	if (f) {
		if (fscanf(f, "%llu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

int quire__mem_available(size_t *availp)
{
	size_t avail = SIZE_MAX;
	/* The user's own cap (e.g. for a CI machine shared with other jobs): checked first so
	 * that a typo is an error on every machine, not only where the other limits are high. */
	const char *env = getenv("QUIRE_MEMORY_LIMIT");
	unsigned long long cap = 0;
	if (env && *env && !parse_size(env, &cap))
		return quire_error_set(QUIRE_EINVALID,
				       "QUIRE_MEMORY_LIMIT='%s' is not a size: give bytes, or a "
				       "number with K, M, G or T (e.g. 1.5G, 512M)",
				       env);
	FILE *f = fopen("/proc/meminfo", "r");
	if (f) {
		char line[256];
		unsigned long long kb;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
				avail = kb > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kb * 1024;
				break;
			}
		fclose(f);
	}
	/* In a container MemAvailable is the host's: the cgroup's limit is what counts, less
	 * what the cgroup uses; its page cache (inactive files) is given back under pressure. */
	unsigned long long max = 0, cur = 0;
	f = fopen("/sys/fs/cgroup/memory.max", "r");
	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0; /* "max": no limit */
		fclose(f);
	}
	f = max ? fopen("/sys/fs/cgroup/memory.current", "r") : NULL;
	if (f) {
		if (fscanf(f, "%llu", &cur) != 1)
			cur = 0;
		fclose(f);
		unsigned long long cache = cgroup_stat("inactive_file");
		cur = cache < cur ? cur - cache : 0;
	}
	if (max && max - (cur < max ? cur : max) < avail)
		avail = (size_t)(max - (cur < max ? cur : max));
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		unsigned long long used = vm_size(), left = 0;
		if ((unsigned long long)rl.rlim_cur > used)
			left = (unsigned long long)rl.rlim_cur - used;
		if (left < avail)
			avail = (size_t)left;
	}
	if (cap && cap < avail)
		avail = (size_t)cap;
	*availp = avail;
	return 0;
}

void *quire__xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *quire__xstrdup(const char *s)
{
	return quire__xstrndup(s, strlen(s));
}

char *quire__xstrndup(const char *s, size_t n)
{
	char *p = quire__xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *quire__xasprintf(const char *fmt, ...)
{
	va_list ap, cp;
	va_start(ap, fmt);
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		n = 0;
	char *p = quire__xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void quire__grow(void **arr, size_t *alloc, size_t n, size_t size)
{
	if (n <= *alloc)
		return;
	size_t a = *alloc ? *alloc : 8;
	while (a < n)
		a *= 2;
	*arr = quire__xrealloc(*arr, a * size);
	*alloc = a;
}

char *quire__arena_copy(struct quire__arena *a, const char *s, size_t n)
{
	if (n + 1 > a->left) {
		size_t sz = n + 1 > 65536 ? n + 1 : 65536;
		a->blocks = quire__xrealloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
		a->at = a->blocks[a->nblocks++] = quire__xmalloc(sz);
		a->left = sz;
	}
	char *d = a->at;
	memcpy(d, s, n);
	d[n] = '\0';
	a->at += n + 1;
	a->left -= n + 1;
	return d;
}

void *quire__arena_alloc(struct quire__arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	size_t pad = (align - (uintptr_t)a->at % align) % align;
	if (!a->at || n + pad > a->left) {
		/* malloc's blocks are aligned already: a fresh one needs no padding. */
		size_t sz = n > 65536 ? n : 65536;
		a->blocks = quire__xrealloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
		a->at = a->blocks[a->nblocks++] = quire__xmalloc(sz);
		a->left = sz;
		pad = 0;
	}
	void *d = a->at + pad;
	memset(d, 0, n);
	a->at += pad + n;
	a->left -= pad + n;
	return d;
}

void quire__arena_release(struct quire__arena *a)
{
	for (size_t k = 0; k < a->nblocks; k++)
		free(a->blocks[k]);
	free(a->blocks);
	memset(a, 0, sizeof(*a));
}

bool quire__is_ident(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* Length of the valid UTF-8 sequence at s (NUL-terminated), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0], cp, min;
	size_t n;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80) /* the NUL at the end stops here too */
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

void quire__utf8_scrub(char *s)
{
	unsigned char *u = (unsigned char *)s;
	while (*u) {
		size_t n = utf8_seq(u);
		if (!n) {
			*u = '?';
			n = 1;
		}
		u += n;
	}
}

bool quire__utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	/* A sequence cut at len meets the NUL after it, which ends it as invalid. */
	for (size_t i = 0, n; i < len; i += n)
		if (!(n = utf8_seq(u + i)))
			return false;
	return true;
}

size_t quire__edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t prev[65], cur[65];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			char ca = a[i - 1], cb = b[j - 1];
			if (ca >= 'A' && ca <= 'Z')
				ca = (char)(ca - 'A' + 'a');
			if (cb >= 'A' && cb <= 'Z')
				cb = (char)(cb - 'A' + 'a');
			size_t sub = prev[j - 1] + (ca != cb);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

int64_t quire__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void quire__format_time(int64_t ns, char *out, size_t outlen)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *quire__rel_normal(const char *s)
{
	if (!s || s[0] == '/')
		return NULL;
	size_t len = strlen(s);
	char *out = quire__xmalloc(len + 1);
	size_t n = 0;
	for (const char *c = s; *c;) {
		size_t l = strcspn(c, "/");
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			if (!n) {
				free(out);
				return NULL;
			}
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--; /* the slash before the dropped component */
		} else if (l && !(l == 1 && c[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, c, l);
			n += l;
		}
		c += l;
		while (*c == '/')
			c++;
	}
	out[n] = '\0';
	return out;
}

char *quire__path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = quire__xmalloc(la + lb + 2);
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

/* Kept until exit (quire/mem.h): reachable from here, so leak checkers see no leak. Not
 * static: stores into a static array that nothing reads are dead stores the compiler drops
 * (valgrind then saw the blocks as lost). */
static int leave_at_exit;
void *quire__kept[64];
static size_t nkept;

void quire_mem_leave_at_exit(int on)
{
	leave_at_exit = on;
}

int quire__mem_keep(void *p)
{
	if (!p || !leave_at_exit || nkept == sizeof(quire__kept) / sizeof(quire__kept[0]))
		return 0;
	quire__kept[nkept++] = p;
	return 1;
}

void quire__run_parallel(void *(*fn)(void *), void *arg, size_t nthreads)
{
	enum { MAX_THREADS = 8 };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads > (size_t)(cpus < 1 ? 1 : cpus))
		nthreads = (size_t)(cpus < 1 ? 1 : cpus);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	pthread_t th[MAX_THREADS];
	size_t started = 0;
	while (started + 1 < nthreads && pthread_create(&th[started], NULL, fn, arg) == 0)
		started++;
	fn(arg);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
}

int quire__io_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? QUIRE_ENOSPC : QUIRE_EIO;
}

int quire__cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}
