/* Content-addressed blob store with crash-safe writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "blob_pack.h"
#include "quire/hash.h"
#include "util.h"

char *quire_blob_path(const char *qdir, const char *digest)
{
	/* qdir/blobs/sha256/XX/HEX, without printf: a no-op checks one per artefact. */
	const char *hex = digest + 7;
	size_t lq = strlen(qdir), lh = strlen(hex);
	char *s = quire__xmalloc(lq + 17 + lh + 1), *at = s;
	memcpy(at, qdir, lq);
	at += lq;
	memcpy(at, "/blobs/sha256/", 14);
	at += 14;
	memcpy(at, hex, lh < 2 ? lh : 2);
	at += lh < 2 ? lh : 2;
	*at++ = '/';
	memcpy(at, hex, lh + 1);
	return s;
}

int quire_blob_check_dirs(const char *qdir)
{
	/* A linked store or shard would have blobs written outside the project, and read from
	 * wherever the link points. */
	static const char *const tops[] = { "blobs", "blobs/sha256" };
	int err = 0;
	for (size_t k = 0; !err && k < 2; k++) {
		char *path = quire__path_join(qdir, tops[k]);
		struct stat st;
		if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
			err = quire_error_set(
				QUIRE_ECORRUPT,
				"'.quire/%s' is not a directory (a link?): the store must "
				"be inside the project; 'quire fsck --repair' mends it",
				tops[k]);
		free(path);
	}
	char *root = quire__xasprintf("%s/blobs/sha256", qdir);
	DIR *d = err ? NULL : opendir(root);
	struct dirent *e;
	while (d && !err && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		int isdir = e->d_type == DT_DIR ||
			    (e->d_type == DT_UNKNOWN &&
			     fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			     S_ISDIR(st.st_mode));
		if (!isdir)
			err = quire_error_set(
				QUIRE_ECORRUPT,
				"'.quire/blobs/sha256/%s' is not a directory (a link?): the "
				"store must be inside the project; 'quire fsck --repair' "
				"mends it",
				e->d_name);
	}
	if (d)
		closedir(d);
	free(root);
	return err;
}

int quire_blob_exists(const char *qdir, const char *digest)
{
	if (!quire_digest_valid(digest))
		return 0;
	if (quire__pack_has(qdir, digest))
		return 1;
	char *p = quire_blob_path(qdir, digest);
	int r = access(p, F_OK) == 0;
	free(p);
	return r;
}

void quire_blob_exists_many(const char *qdir, const char *const *digests, size_t n,
			    unsigned char *has)
{
	const char **valid = quire__xcalloc(n + 1, sizeof(*valid));
	for (size_t k = 0; k < n; k++)
		valid[k] = digests[k] && quire_digest_valid(digests[k]) ? digests[k] : NULL;
	quire__pack_has_many(qdir, valid, n, has);
	for (size_t k = 0; k < n; k++) {
		if (has[k] || !valid[k])
			continue;
		char *p = quire_blob_path(qdir, valid[k]);
		has[k] = access(p, F_OK) == 0;
		free(p);
	}
	free(valid);
}

/* Per shard directory ("ab"): what this set knows of it. */
enum { SHARD_UNKNOWN, SHARD_TRUSTED, SHARD_CHECKING, SHARD_FAILED };

/* A set of digests in one shard, summed up: how many, and the sum and the xor of their first
 * 64 bits (two different sets agreeing on all three by accident: about 2^-64). */
struct digset {
	uint64_t n, sum, xor;
};

struct shard {
	unsigned char state;
	unsigned char recorded; /* the trust file has a record for this shard */
	int64_t rec_ino, rec_ctime;
	struct digset rec_set; /* the digests the record vouches for */
	struct digset cur;     /* the digests of the manifest being planned */
	int64_t ino, ctime;    /* stat taken before the first check (SHARD_CHECKING) */
	int64_t taken;	       /* CLOCK_REALTIME just before that stat, ns */
};

struct checked {
	unsigned char (*v)[32]; /* digests found in SHARD_CHECKING shards, as bytes */
	size_t cap, n;
};

struct quire_blob_set {
	char *qdir;
	int dirfd;   /* .quire/blobs/sha256, or -1, or NO_FILES */
	int trust;   /* shards may be trusted and recorded (the manifest's digests were given) */
	int pending; /* some shard is SHARD_CHECKING */
	int64_t pack_id, pack_removed; /* the pack as it was before any check */
	struct shard sh[256];
	struct checked seen;
};

#define NO_FILES (-2) /* quire_blob_set's dirfd when .quire/blobs/sha256 does not exist */
#define TRUST_MAGIC "quire-blob-trust 3\n"
/* A shard changed this close to the stat before its checks is not recorded: a change in the
 * same timestamp tick right after that stat would leave its ctime as it was (git's racy rule). */
int64_t quire__blob_trust_racy_ns = 1000000000LL; /* tests shorten it */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int shard_of(const char *digest)
{
	return hexval(digest[7]) * 16 + hexval(digest[8]);
}

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

/* The 32 bytes of a valid digest's hex. */
static void digest_bytes(const char *digest, unsigned char out[32])
{
	quire_hex_bytes(digest + 7, out);
}

/* The first 64 bits of a valid digest. */
static uint64_t digest_word(const char *digest)
{
	uint64_t w = 0;
	for (int i = 0; i < 16; i++)
		w = w << 4 | (uint64_t)hexval(digest[7 + i]);
	return w;
}

/* n unsigned decimal fields separated by tabs, the last ending at nl; 0 when not that. */
static int parse_fields(const char *at, const char *nl, uint64_t *v, int n)
{
	for (int k = 0; k < n; k++) {
		if (at >= nl || *at < '0' || *at > '9')
			return 0;
		char *e;
		errno = 0;
		unsigned long long x = strtoull(at, &e, 10);
		if (errno || e > nl || *e != (k + 1 < n ? '\t' : '\n'))
			return 0;
		v[k] = x;
		at = e + 1;
	}
	return 1;
}

/* .quire/runs/blob-trust: a header line, "pack\t<id>\t<removals>" (the pack the records were
 * checked against: one since changed by a removal vouches for nothing), then
 * "<shard>\t<ino>\t<ctime_ns>\t<n>\t<sum>\t<xor>" per recorded shard (ino 0: no directory).
 * A damaged line ends the load: the shards after it are checked. */
static void load_trust(struct quire_blob_set *s)
{
	char *path = quire__xasprintf("%s/runs/blob-trust", s->qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	if (quire_fs_read(path, &b, 1 << 16) != 0) {
		quire_error_clear(); /* none yet, or unreadable: every shard is checked */
	} else if (b.len > sizeof(TRUST_MAGIC) - 1 &&
		   !memcmp(b.ptr, TRUST_MAGIC, sizeof(TRUST_MAGIC) - 1)) {
		const char *at = b.ptr + sizeof(TRUST_MAGIC) - 1, *end = b.ptr + b.len;
		const char *eol = memchr(at, '\n', (size_t)(end - at));
		uint64_t pk[2];
		if (!eol || (size_t)(eol - at) < 5 || memcmp(at, "pack\t", 5) ||
		    !parse_fields(at + 5, eol, pk, 2) || pk[0] != (uint64_t)s->pack_id ||
		    pk[1] != (uint64_t)s->pack_removed)
			at = end;
		else
			at = eol + 1;
		while (at < end) {
			const char *nl = memchr(at, '\n', (size_t)(end - at));
			uint64_t v[5];
			int hi = nl && nl - at > 3 ? hexval(at[0]) : -1,
			    lo = hi < 0 ? -1 : hexval(at[1]);
			if (lo < 0 || at[2] != '\t' || !parse_fields(at + 3, nl, v, 5) ||
			    v[1] > INT64_MAX)
				break;
			struct shard *h = &s->sh[hi * 16 + lo];
			h->recorded = 1;
			h->rec_ino = (int64_t)v[0];
			h->rec_ctime = (int64_t)v[1];
			h->rec_set = (struct digset){ v[2], v[3], v[4] };
			at = nl + 1;
		}
	}
	quire_buf_release(&b);
	free(path);
}

struct quire_blob_set *quire_blob_set_new(const char *qdir, const char *const *digests, size_t n)
{
	struct quire_blob_set *s = quire__xcalloc(1, sizeof(*s));
	s->qdir = quire__xstrdup(qdir);
	char *p = quire__xasprintf("%s/blobs/sha256", qdir);
	s->dirfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0 && errno == ENOENT && quire__pack_has_file(qdir))
		s->dirfd = NO_FILES; /* every blob is packed */
	free(p);
	if (digests && s->dirfd != -1 &&
	    quire__pack_identity(qdir, &s->pack_id, &s->pack_removed) == 0) {
		s->trust = 1;
		for (size_t i = 0; i < n; i++) {
			if (!quire_digest_valid(digests[i]))
				continue;
			struct digset *c = &s->sh[shard_of(digests[i])].cur;
			uint64_t w = digest_word(digests[i]);
			c->n++;
			c->sum += w;
			c->xor ^= w;
		}
		load_trust(s);
	}
	return s;
}

static void note_checked(struct quire_blob_set *s, const char *digest)
{
	QUIRE_GROW(s->seen.v, s->seen.cap, s->seen.n + 1);
	digest_bytes(digest, s->seen.v[s->seen.n++]);
}

static int same_set(const struct digset *a, const struct digset *b)
{
	return a->n == b->n && a->sum == b->sum && a->xor == b->xor ;
}

int quire_blob_set_has(struct quire_blob_set *s, const char *digest)
{
	if (s->dirfd == -1)
		return quire_blob_exists(s->qdir, digest);
	if (!quire_digest_valid(digest))
		return 0;
	struct shard *h = &s->sh[shard_of(digest)];
	if (h->state == SHARD_UNKNOWN && s->trust) {
		struct stat st;
		int64_t now = quire__now_ns();
		char name[3] = { digest[7], digest[8], '\0' };
		/* No directory (ino and ctime 0): the shard's blobs are packed. */
		int got = 0, absent = 1;
		if (s->dirfd != NO_FILES) {
			got = fstatat(s->dirfd, name, &st, 0) == 0;
			absent = !got && errno == ENOENT;
		}
		if (!got)
			memset(&st, 0, sizeof(st));
		if (!got && !absent)
			h->state = SHARD_FAILED;
		else if (h->recorded && h->rec_ino == (int64_t)st.st_ino &&
			 h->rec_ctime == ctime_ns(&st) && same_set(&h->rec_set, &h->cur))
			h->state = SHARD_TRUSTED;
		else {
			h->state = SHARD_CHECKING;
			h->ino = (int64_t)st.st_ino;
			h->ctime = ctime_ns(&st);
			h->taken = now;
			s->pending = 1;
		}
	}
	if (h->state == SHARD_TRUSTED)
		return 1;
	char rel[2 + 1 + QUIRE_DIGEST_HEX + 1];
	memcpy(rel, digest + 7, 2);
	rel[2] = '/';
	memcpy(rel + 3, digest + 7, QUIRE_DIGEST_HEX + 1);
	int r = quire__pack_has(s->qdir, digest) ||
		(s->dirfd != NO_FILES && faccessat(s->dirfd, rel, F_OK, 0) == 0);
	if (!r)
		h->state = SHARD_FAILED;
	else if (h->state == SHARD_CHECKING)
		note_checked(s, digest);
	return r;
}

int quire_blob_set_pending(const struct quire_blob_set *s)
{
	return s->pending;
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

void quire_blob_set_save(struct quire_blob_set *s, const char *const *digests, size_t n)
{
	if (!quire_blob_set_pending(s))
		return;
	/* A shard is recorded only when every digest of the manifest in it was found: the
	 * record vouches for all of them, including the ones this plan did not ask about. */
	if (s->seen.n)
		qsort(s->seen.v, s->seen.n, sizeof(*s->seen.v), cmp_digest);
	/* And only for the set quire_blob_set_new was given: a list that differs there (the
	 * caller's mistake) records nothing for that shard. */
	struct digset again[256];
	memset(again, 0, sizeof(again));
	for (size_t i = 0; i < n; i++) {
		if (!quire_digest_valid(digests[i]))
			continue;
		struct digset *c = &again[shard_of(digests[i])];
		uint64_t w = digest_word(digests[i]);
		c->n++;
		c->sum += w;
		c->xor ^= w;
	}
	for (int i = 0; i < 256; i++)
		if (s->sh[i].state == SHARD_CHECKING && !same_set(&again[i], &s->sh[i].cur))
			s->sh[i].state = SHARD_FAILED;
	for (size_t i = 0; i < n; i++) {
		if (!quire_digest_valid(digests[i]))
			continue;
		struct shard *h = &s->sh[shard_of(digests[i])];
		if (h->state != SHARD_CHECKING)
			continue;
		unsigned char d[32];
		digest_bytes(digests[i], d);
		if (!s->seen.n || !bsearch(d, s->seen.v, s->seen.n, sizeof(*s->seen.v), cmp_digest))
			h->state = SHARD_FAILED;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b, TRUST_MAGIC);
	quire_buf_printf(&b, "pack\t%llu\t%llu\n", (unsigned long long)(uint64_t)s->pack_id,
			 (unsigned long long)(uint64_t)s->pack_removed);
	int added = 0;
	for (int i = 0; i < 256; i++) {
		struct shard *h = &s->sh[i];
		int64_t ino = h->rec_ino, ct = h->rec_ctime;
		struct digset set = h->rec_set;
		/* A record this plan did not use (its shard was not asked about) still says what it
		 * said; one whose shard changed, or failed a check, is dropped. */
		int keep = h->recorded && (h->state == SHARD_UNKNOWN || h->state == SHARD_TRUSTED);
		if (h->state == SHARD_CHECKING && h->ctime < h->taken - quire__blob_trust_racy_ns) {
			keep = added = 1;
			ino = h->ino;
			ct = h->ctime;
			set = h->cur;
		}
		if (keep)
			quire_buf_printf(&b, "%02x\t%llu\t%lld\t%llu\t%llu\t%llu\n", i,
					 (unsigned long long)(uint64_t)ino, (long long)ct,
					 (unsigned long long)set.n, (unsigned long long)set.sum,
					 (unsigned long long)set.xor);
	}
	if (added) {
		/* A cache: if it cannot be written, the next plan checks every blob again. */
		char *dir = quire__xasprintf("%s/runs", s->qdir);
		char *path = quire__xasprintf("%s/runs/blob-trust", s->qdir);
		if (quire_fs_mkdirs(dir, 0755) || quire_fs_replace(path, b.ptr, b.len, 0644) != 0)
			quire_error_clear();
		free(dir);
		free(path);
	}
	quire_buf_release(&b);
}

void quire_blob_set_free(struct quire_blob_set *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->seen.v);
	free(s->qdir);
	free(s);
}

static char *shard_dir(const char *qdir, const char *digest)
{
	return quire__xasprintf("%s/blobs/sha256/%.2s", qdir, digest + 7);
}

/* Whether this process made or found digest's shard directory under qdir before (then it is
 * taken to exist); marks it so. One project per process, so one set of 256 bits. */
static int shard_known(const char *qdir, const char *digest)
{
	static unsigned char known[256];
	static char of[4096];
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	unsigned v;
	if (sscanf(digest + 7, "%2x", &v) != 1 || strlen(qdir) >= sizeof(of))
		return 0;
	pthread_mutex_lock(&mu);
	if (strcmp(of, qdir)) {
		/* Another project (tests open several): nothing is known of it. */
		memset(known, 0, sizeof(known));
		snprintf(of, sizeof(of), "%s", qdir);
	}
	int was = known[v];
	known[v] = 1;
	pthread_mutex_unlock(&mu);
	return was;
}

/* QUIRE_ECORRUPT unless buf's bytes from start hash to digest. */
static int verify_tail(const struct quire_buf *buf, size_t start, const char *digest)
{
	struct quire_digest d;
	quire_hash_bytes(buf->ptr ? buf->ptr + start : "", buf->len - start, &d);
	if (strcmp(d.s, digest))
		return quire_error_set(QUIRE_ECORRUPT,
				       "blob %s is corrupt (its content hashes to %s)", digest,
				       d.s);
	return 0;
}

/* Packs the small finished file tmp_path, which stays where it is: its caller removes its
 * directory later, as a run does with each worker's. (A file removed per step made every
 * file created after it slower on ext4 without a journal, which scans the inodes freed in
 * the last minute on each creation: a 10k mock run took 1.8 times as long.) */
static int adopt_small(const char *qdir, const char *tmp_path, const char *digest)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(tmp_path, &b, QUIRE_PACK_MAX);
	if (!err) /* the bytes read now are the ones packed: hashed again (they are small) */
		err = verify_tail(&b, 0, digest);
	if (!err)
		err = quire__pack_put(qdir, digest, b.ptr ? b.ptr : "", b.len, 1);
	quire_buf_release(&b);
	return err;
}

int quire_blob_adopt(const char *qdir, const char *tmp_path, const char *digest)
{
	struct stat st;
	if (stat(tmp_path, &st) == 0 && st.st_size < QUIRE_PACK_MAX)
		return adopt_small(qdir, tmp_path, digest);
	char *dir = shard_dir(qdir, digest), *path = quire_blob_path(qdir, digest);
	int err = 0;
	/* A blob already there is replaced, not trusted: blobs are synced per revision, so after a
	 * power loss one can exist with damaged content that no event names yet. The new copy
	 * has just been hashed. */
	chmod(tmp_path, 0444);
	/* The shard directory is made only when the rename finds it missing (once per shard). */
	if (rename(tmp_path, path) < 0 &&
	    (errno != ENOENT || (err = quire_fs_mkdirs(dir, 0755)) || rename(tmp_path, path) < 0)) {
		if (err)
			goto out;
		err = quire_error_set(quire__io_code(errno), "cannot store blob '%s': %s", path,
				      strerror(errno));
		goto out;
	}
out:
	free(dir);
	free(path);
	return err;
}

/* Stores data, which hashes to digest; with replace, over any copy already there (as
 * quire_blob_adopt: it may be damaged), else a copy there is kept. */
static int put_bytes(const char *qdir, const void *data, size_t len, const char *digest,
		     int replace)
{
	/* A copy already packed is kept (INSERT OR IGNORE) unless replaced; a file of it from
	 * before packs is not looked for: gc packs it over this one. */
	if (len < QUIRE_PACK_MAX)
		return quire__pack_put(qdir, digest, data, len, replace);
	if (!replace && quire_blob_exists(qdir, digest))
		return 0;
	char *dir = shard_dir(qdir, digest), *path = quire_blob_path(qdir, digest);
	/* The shard directory is made once this process found it missing (a mkdir per blob,
	 * failing with EEXIST, was one system call per step of a run). */
	int known = shard_known(qdir, digest);
	int err = known ? 0 : quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = quire_fs_replace(path, data, len, 0444);
	if (err && known) {
		/* Removed since (by hand, by gc in another process): made again. */
		quire_error_clear();
		err = quire_fs_mkdirs(dir, 0755);
		if (!err)
			err = quire_fs_replace(path, data, len, 0444);
	}
	free(dir);
	free(path);
	return err;
}

int quire_blob_put(const char *qdir, const void *data, size_t len, struct quire_digest *out)
{
	quire_hash_bytes(data, len, out);
	return put_bytes(qdir, data, len, out->s, 0);
}

int quire_blob_adopt_bytes(const char *qdir, const void *data, size_t len, const char *digest)
{
	return put_bytes(qdir, data, len, digest, 1);
}

int quire_blob_put_file(const char *qdir, const char *path, struct quire_digest *out,
			uint64_t *size)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 0);
	if (!err) {
		err = quire_blob_put(qdir, b.ptr, b.len, out);
		if (size)
			*size = b.len;
	}
	quire_buf_release(&b);
	return err;
}

/* Reads a packed blob: 1 when the pack answered (*err set, verified with verify), 0 when
 * the pack does not have it (the file is read next). */
static int read_packed(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		       int verify, int *err)
{
	size_t start = buf->len, len = 0;
	int e = quire__pack_get(qdir, digest, buf, cap, &len);
	if (e == QUIRE_ENOTFOUND)
		return 0;
	if (!e && verify)
		e = verify_tail(buf, start, digest);
	*err = e;
	return 1;
}

void quire_blob_read_many(const char *qdir, int dirfd, const char *const *digests,
			  const long long *sizes, size_t n, struct quire_buf *bufs, size_t cap,
			  int *errs)
{
	/* The small ones from the pack in one go; then each the pack lacked, or a large one,
	 * as quire_blob_read_at reads it (file first, then the pack). The caller's error is
	 * left as it was. */
	char *keep = quire__xstrdup(quire_error_last());
	int keep_code = quire_error_code();
	const char **small = quire__xcalloc(n + 1, sizeof(*small));
	struct quire_buf **sb = quire__xcalloc(n + 1, sizeof(*sb));
	size_t *at = quire__xcalloc(n + 1, sizeof(*at)), ns = 0;
	int *got = quire__xcalloc(n + 1, sizeof(*got));
	size_t *start = quire__xcalloc(n + 1, sizeof(*start));
	for (size_t k = 0; k < n; k++) {
		errs[k] = QUIRE_ENOTFOUND;
		start[k] = bufs[k].len;
		if (quire_digest_valid(digests[k]) && (sizes[k] < 0 || sizes[k] < QUIRE_PACK_MAX)) {
			at[ns] = k;
			sb[ns] = &bufs[k];
			small[ns++] = digests[k];
		}
	}
	quire__pack_get_many(qdir, small, ns, cap, sb, got);
	for (size_t x = 0; x < ns; x++) {
		size_t k = at[x];
		if (got[x] == 0)
			errs[k] = verify_tail(&bufs[k], start[k], digests[k]);
		else if (got[x] != QUIRE_ENOTFOUND)
			errs[k] = got[x];
	}
	for (size_t k = 0; k < n; k++)
		if (errs[k] == QUIRE_ENOTFOUND) {
			bufs[k].len = start[k];
			errs[k] = dirfd >= 0 ? quire_blob_read_at(qdir, dirfd, digests[k], sizes[k],
								  &bufs[k], cap)
					     : quire_blob_read(qdir, digests[k], &bufs[k], cap, 1);
		}
	if (keep[0])
		quire_error_set(keep_code, "%s", keep);
	else
		quire_error_clear();
	free(keep);
	free(start);
	free(got);
	free(at);
	free(sb);
	free(small);
}

int quire_blob_read_at(const char *qdir, int dirfd, const char *digest, long long size,
		       struct quire_buf *buf, size_t cap)
{
	if (!quire_digest_valid(digest))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	int err = 0;
	/* A blob of known size is looked for where its size puts it. */
	if ((size < 0 || size < QUIRE_PACK_MAX) && read_packed(qdir, digest, buf, cap, 1, &err))
		return err;
	char rel[3 + QUIRE_DIGEST_HEX + 1];
	memcpy(rel, digest + 7, 2);
	rel[2] = '/';
	memcpy(rel + 3, digest + 7, QUIRE_DIGEST_HEX + 1);
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && size >= QUIRE_PACK_MAX &&
	    read_packed(qdir, digest, buf, cap, 1, &err))
		return err;
	if (fd < 0)
		return quire_error_set(
			errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO, "blob %s %s", digest,
			errno == ENOENT ? "is missing from the store" : strerror(errno));
	size_t start = buf->len;
	/* One read of the size it should have plus one byte: less back is its end. */
	size_t room =
		size >= 0 && (unsigned long long)size < (1ull << 30) ? (size_t)size + 1 : 65536;
	if (cap && room > cap + 1)
		room = cap +
		       1; /* past the limit is an error: never read more than one byte of it */
	for (;;) {
		if ((err = quire_buf_grow(buf, room)))
			break;
		ssize_t n = read(fd, buf->ptr + buf->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = quire_error_set(QUIRE_EIO, "cannot read blob %s: %s", digest,
					      strerror(errno));
			break;
		}
		buf->len += (size_t)n;
		buf->ptr[buf->len] = '\0';
		if (cap && buf->len - start > cap) {
			err = quire_error_set(QUIRE_EINVALID, "blob %s is larger than %zu bytes",
					      digest, cap);
			break;
		}
		if ((size_t)n < room)
			break;
		room = 65536;
	}
	close(fd);
	return err ? err : verify_tail(buf, start, digest);
}

int quire_blob_read(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    int verify)
{
	if (!quire_digest_valid(digest))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	int err = 0;
	if (read_packed(qdir, digest, buf, cap, verify, &err))
		return err;
	char *path = quire_blob_path(qdir, digest);
	size_t start = buf->len;
	err = quire_fs_read(path, buf, cap);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND, "blob %s is missing from the store", digest);
	if (!err && verify)
		err = verify_tail(buf, start, digest);
	free(path);
	return err;
}

int quire_blob_damaged(const char *id)
{
	return quire_error_set(QUIRE_ECORRUPT,
			       "the stored output of '%s' is damaged (%s): 'quire fsck --repair' "
			       "removes it, and the next run makes it again",
			       id, quire_error_last());
}

long long quire_blob_size(const char *qdir, const char *digest)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	size_t len = 0;
	long long size = -1;
	if (quire_digest_valid(digest) && !quire__pack_get(qdir, digest, &b, 0, &len)) {
		size = (long long)len;
	} else {
		char *path = quire_blob_path(qdir, digest);
		struct stat st;
		if (stat(path, &st) == 0)
			size = (long long)st.st_size;
		free(path);
	}
	quire_error_clear();
	quire_buf_release(&b);
	return size;
}

int quire_blob_remove(const char *qdir, const char *digest)
{
	if (!quire_digest_valid(digest))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	int err = quire__pack_remove(qdir, digest);
	char *path = quire_blob_path(qdir, digest);
	if (unlink(path) < 0 && errno != ENOENT && !err)
		err = quire_error_set(quire__io_code(errno), "cannot remove '%s': %s", path,
				      strerror(errno));
	free(path);
	return err;
}

int quire_blob_file(const char *qdir, const char *digest, const char *dir, const char *name,
		    char **path)
{
	*path = NULL;
	if (!quire_digest_valid(digest))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	char *loose = quire_blob_path(qdir, digest);
	if (access(loose, F_OK) == 0) {
		*path = loose;
		return 0;
	}
	free(loose);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = 0;
	if (!read_packed(qdir, digest, &b, 0, 1, &err))
		err = quire_error_set(QUIRE_ENOTFOUND, "blob %s is missing from the store", digest);
	if (!err) {
		char *p = quire__path_join(dir, name);
		unlink(p); /* one made before is read-only */
		if (!(err = quire_fs_write_file(p, b.ptr ? b.ptr : "", b.len, 0444)))
			*path = p;
		else
			free(p);
	}
	quire_buf_release(&b);
	return err;
}
