/* Format 2's objects and their packs: every object is named by the SHA-256 of its bytes and
 * kept in the pack of the revision that first made it, .quire/revs/<revision>.objects. A
 * pack is its magic line, then per object a line "<64 hex> <length>", the bytes and a
 * newline: objects may hold newlines (a tree node lists one entry per line, so a committed
 * pack diffs readably), and the header says where each ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "objects.h"
#include "objects_internal.h"
#include "util.h"

/* Object hex's slot in the table (free or its own). */
static size_t slot_of(const struct quire_objs *o, const char *hex)
{
	size_t i = (size_t)quire__hash(hex, 64) & (o->cap - 1);
	while (o->tab[i] && memcmp(o->locs[o->tab[i] - 1].hex, hex, 64))
		i = (i + 1) & (o->cap - 1);
	return i;
}

struct loc *quire__objs_get(const struct quire_objs *o, const char *hex)
{
	uint32_t at = o->tab[slot_of(o, hex)];
	return at ? &o->locs[at - 1] : NULL;
}

/* Fills the table (cap slots) from the locations. */
static void fill(struct quire_objs *o, size_t cap)
{
	free(o->tab);
	o->cap = cap;
	o->tab = quire__xcalloc(cap, sizeof(*o->tab));
	for (size_t k = 0; k < o->n; k++)
		o->tab[slot_of(o, o->locs[k].hex)] = (uint32_t)(k + 1);
}

int quire__objs_add(struct quire_objs *o, const struct loc *l, struct loc **at)
{
	if ((o->n + 1) * 4 > o->cap * 3)
		fill(o, o->cap ? o->cap * 2 : 1024);
	size_t i = slot_of(o, l->hex);
	if (o->tab[i]) {
		if (at)
			*at = &o->locs[o->tab[i] - 1];
		return 0;
	}
	quire__grow((void **)&o->locs, &o->alocs, o->n + 1, sizeof(*o->locs));
	o->locs[o->n] = *l;
	o->tab[i] = (uint32_t)++o->n;
	if (at)
		*at = &o->locs[o->n - 1];
	return 1;
}

#define SCAN_READ (1u << 20)
/* Objects found in the index, kept (direct-mapped) so that a chain read twice is looked up
 * once. */
#define HITS 2048

static int is_hex64(const char *s)
{
	unsigned char b[32];
	return quire_hex_bytes(s, b);
}

/* Calls each(ud, l) for every object of the pack at path whose bytes lie whole in t[0, n)
 * (file offset origin, NUL after it); *used: the bytes of those objects (and of the magic line
 * at origin 0). more: the file goes on past t + n, so an object cut there waits for them. */
static int scan(const char *path, const char *t, size_t n, size_t origin, int more, size_t *used,
		int (*each)(void *ud, const struct loc *l, const char *bytes), void *ud)
{
	size_t ml = strlen(QUIRE_OBJS_MAGIC), at = 0;
	*used = 0;
	if (!origin) {
		if (n < ml && more && !memcmp(t, QUIRE_OBJS_MAGIC, n))
			return 0;
		if (n < ml || memcmp(t, QUIRE_OBJS_MAGIC, ml))
			return quire_error_set(QUIRE_ECORRUPT, "'%s' is not a quire object pack",
					       path);
		at = *used = ml;
	}
	while (at < n) {
		char *end = NULL;
		if (n - at < 67)
			goto cut;
		if (!is_hex64(t + at) || t[at + 64] != ' ' || t[at + 65] < '0' || t[at + 65] > '9')
			goto bad;
		errno = 0;
		unsigned long long len = strtoull(t + at + 65, &end, 10);
		if (end == t + n)
			goto cut;
		if (errno || end == t + at + 65 || len > UINT32_MAX)
			goto bad;
		struct loc l = { .len = (uint32_t)len };
		/* "<hex> <length> <base hex>": the bytes are a delta against the base. */
		if (*end == ' ' && (size_t)(end + 66 - t) > n)
			goto cut;
		if (*end == ' ' && is_hex64(end + 1)) {
			memcpy(l.base, end + 1, 64);
			end += 65;
		}
		if (*end != '\n')
			goto bad;
		size_t body = (size_t)(end + 1 - t);
		if (len > n - body || n - body - len < 1)
			goto cut;
		if (t[body + len] != '\n')
			goto bad;
		l.off = origin + body;
		memcpy(l.hex, t + at, 64);
		int err = each(ud, &l, t + body);
		if (err)
			return err;
		at = *used = body + len + 1;
		continue;
	cut:
		if (more)
			return 0;
	bad:
		return quire_error_set(QUIRE_ECORRUPT, "'%s' byte %zu: not an object's header",
				       path, origin + at);
	}
	return 0;
}

/* Reads the pack at path a MiB at a time and calls each for its objects: a first build's pack
 * (16 MB at 10k) read whole to be indexed was most of the commit's peak. */
int quire__objs_scan_file(const char *path,
			  int (*each)(void *ud, const struct loc *l, const char *bytes), void *ud)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
				       "cannot open '%s': %s", path, strerror(errno));
	struct quire_buf b = QUIRE_BUF_INIT;
	size_t origin = 0, used = 0;
	int err = 0, more = 1;
	while (!err && more) {
		if ((err = quire_buf_grow(&b, SCAN_READ)))
			break;
		ssize_t got = read(fd, b.ptr + b.len, SCAN_READ);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = quire_error_set(QUIRE_EIO, "cannot read '%s': %s", path,
					      strerror(errno));
			break;
		}
		b.len += (size_t)got;
		b.ptr[b.len] = '\0';
		more = got > 0;
		err = scan(path, b.ptr, b.len, origin, more, &used, each, ud);
		/* What was scanned is let go; an object cut at the end stays for the next read. */
		memmove(b.ptr, b.ptr + used, b.len - used + 1);
		b.len -= used;
		origin += used;
	}
	close(fd);
	quire_buf_release(&b);
	return err;
}

struct into_slots {
	struct quire_objs *o;
	int32_t pack;
};

static int add_to_slots(void *ud, const struct loc *l, const char *bytes)
{
	struct into_slots *in = ud;
	struct loc c = *l;
	c.pack = in->pack;
	quire__objs_add(in->o, &c, NULL);
	return 0;
}

int quire_objs_open_memory(struct quire_objs **out)
{
	struct quire_objs *o = quire__xcalloc(1, sizeof(*o));
	o->fd = -1;
	o->fd_pack = -1;
	o->pend_fd = -1;
	fill(o, 1024);
	*out = o;
	return 0;
}

int32_t quire__objs_pack(struct quire_objs *o, const char *name)
{
	if (!o->pack_at)
		o->pack_at = json_object();
	json_t *at = json_object_get(o->pack_at, name);
	if (at)
		return (int32_t)json_integer_value(at);
	quire__grow((void **)&o->packs, &o->apacks, o->npacks + 1, sizeof(*o->packs));
	o->packs[o->npacks] = quire__xasprintf("%s/%s", o->dir, name);
	json_object_set_new(o->pack_at, name, json_integer((json_int_t)o->npacks));
	return (int32_t)o->npacks++;
}

int quire__objs_read_all(struct quire_objs *o)
{
	int err = 0;
	for (size_t k = 0; k < o->npacks && !err; k++) {
		struct into_slots in = { o, (int32_t)k };
		err = quire__objs_scan_file(o->packs[k], add_to_slots, &in);
		/* A damaged pack keeps what comes before the damage (each object is verified
		 * as it is read); the rest is missing, which its reader names. */
		if (err == QUIRE_ECORRUPT) {
			quire_error_clear();
			err = 0;
		}
	}
	return err;
}

int quire_objs_open(const char *qdir, struct quire_objs **out)
{
	struct quire_objs *o = NULL;
	quire_objs_open_memory(&o);
	o->dir = quire__xasprintf("%s/revs", qdir);
	o->qdir = quire__xstrdup(qdir);
	*out = o;
	if (!quire__objs_index_open(o))
		return 0;
	/* Without an index (a store the user cannot write, a pack that is not one): every
	 * pack read, as correct and slower, and what is wrong with a pack said then. */
	quire_error_clear();
	struct disk_pack *dp = NULL;
	size_t n = 0;
	int err = quire__objs_list_packs(o->dir, &dp, &n);
	for (size_t k = 0; k < n; k++) {
		if (!err)
			quire__objs_pack(o, dp[k].name);
		free(dp[k].path);
	}
	free(dp);
	if (!err)
		err = quire__objs_read_all(o);
	if (err) {
		/* Nothing half open is handed out. */
		quire_objs_free(o);
		*out = NULL;
	}
	return err;
}

void quire_objs_free(struct quire_objs *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	if (o->pend_fd >= 0)
		close(o->pend_fd);
	sqlite3_finalize(o->get);
	sqlite3_close(o->db);
	for (size_t p = 0; p < o->npacks; p++)
		free(o->packs[p]);
	free(o->packs);
	json_decref(o->pack_at);
	free(o->qdir);
	free(o->locs);
	free(o->tab);
	free(o->hits);
	free(o->order);
	quire_buf_release(&o->pend);
	quire_buf_release(&o->last);
	free(o->errmsg);
	free(o->dir);
	free(o);
}

/* Where object hex is (pending, or in a pack), or NULL; valid until the next find or put.
 * One found in the index is kept in a small cache rather than among the known objects: an
 * outline change at 10k looks up about 100,000 (each old record's chain of deltas), 19 MB
 * kept. */
static const struct loc *find(struct quire_objs *o, const char *hex)
{
	if (strnlen(hex, 65) != 64 || !is_hex64(hex))
		return NULL;
	struct loc *at = quire__objs_get(o, hex);
	if (at)
		return at;
	if (!o->hits)
		o->hits = quire__xcalloc(HITS, sizeof(*o->hits));
	struct loc *h = &o->hits[(size_t)quire__hash(hex, 64) & (HITS - 1)];
	if (h->hex[0] && !memcmp(h->hex, hex, 64))
		return h;
	struct loc l;
	if (!quire__objs_index_find(o, hex, &l))
		return NULL;
	*h = l;
	return h;
}

int quire_objs_has(struct quire_objs *o, const char *hex)
{
	return find(o, hex) != NULL;
}

size_t quire_objs_reads(const struct quire_objs *o)
{
	return o->reads;
}

size_t quire_objs_pending_bytes(const struct quire_objs *o)
{
	return o->pend_flushed + o->pend.len;
}

#define PEND_CHUNK (1u << 20)

/* Moves the pending bytes in memory to the pending file once they pass PEND_CHUNK (a store's
 * objects only). A file that cannot be made or written keeps them all in memory. */
static void pend_flush(struct quire_objs *o)
{
	if (o->pend.len < PEND_CHUNK || !o->qdir || o->pend_nofile)
		return;
	if (o->pend_fd < 0) {
		char *dir = quire__xasprintf("%s/tmp", o->qdir);
		if (!quire_fs_mkdirs(dir, 0755))
			o->pend_fd = quire_fs_scratch_file(dir, "objects");
		quire_error_clear();
		free(dir);
	}
	if (o->pend_fd < 0 ||
	    quire_fs_pwrite_all(o->pend_fd, o->pend.ptr, o->pend.len, o->pend_flushed)) {
		o->pend_nofile = 1;
		return;
	}
	o->pend_flushed += o->pend.len;
	quire_buf_reset(&o->pend);
}

/* The pending bytes [off, off + len), appended to out. */
static int pend_read(struct quire_objs *o, size_t off, size_t len, struct quire_buf *out)
{
	if (off >= o->pend_flushed)
		return quire_buf_add(out, o->pend.ptr + (off - o->pend_flushed), len);
	return quire_fs_pread_buf(o->pend_fd, off, len, out, "a pending object");
}

/* Where l is kept, for messages. */
static const char *where(const struct quire_objs *o, const struct loc *l)
{
	return l->pack < 0 ? "memory" : o->packs[l->pack];
}

/* The stored bytes of l (a delta's body, or the object's own), appended to out. */
static int read_stored(struct quire_objs *o, const struct loc *l, struct quire_buf *out)
{
	if (l->pack < 0)
		return pend_read(o, l->off, l->len, out);
	if (o->fd_pack != l->pack) {
		if (o->fd >= 0)
			close(o->fd);
		o->fd = open(o->packs[l->pack], O_RDONLY | O_CLOEXEC);
		o->fd_pack = o->fd < 0 ? -1 : l->pack;
		if (o->fd < 0)
			return quire_error_set(QUIRE_EIO, "cannot open '%s': %s", o->packs[l->pack],
					       strerror(errno));
	}
	size_t start = out->len;
	quire_buf_grow(out, l->len);
	ssize_t got = pread(o->fd, out->ptr + start, l->len, (off_t)l->off);
	if (got != (ssize_t)l->len)
		return quire_error_set(QUIRE_EIO, "cannot read object %.12s from '%s': %s", l->hex,
				       o->packs[l->pack], got < 0 ? strerror(errno) : "short read");
	out->len += l->len;
	out->ptr[out->len] = '\0';
	return 0;
}

int quire_objs_delta(const char *base, size_t blen, const char *data, size_t len,
		     struct quire_buf *out)
{
	/* What the two share at their ends: one changed upstream of a collector's 10,000 is a
	 * digest's worth of middle. */
	size_t pre = 0, suf = 0, max = len < blen ? len : blen;
	while (pre < max && data[pre] == base[pre])
		pre++;
	while (suf < max - pre && data[len - 1 - suf] == base[blen - 1 - suf])
		suf++;
	size_t mid = len - pre - suf;
	if (mid + 64 >= len / 2)
		return 0;
	quire_buf_printf(out, "%zu %zu\n", pre, suf);
	quire_buf_add(out, data + pre, mid);
	return 1;
}

int quire_objs_apply_delta(const char *base, size_t blen, const char *d, size_t dlen,
			   struct quire_buf *out)
{
	char *end;
	unsigned long long pre = strtoull(d, &end, 10), suf = 0;
	if (*end == ' ')
		suf = strtoull(end + 1, &end, 10);
	if (end == d || *end != '\n' || pre > blen || suf > blen - pre ||
	    (size_t)(end + 1 - d) > dlen)
		return -1;
	size_t mid = dlen - (size_t)(end + 1 - d);
	quire_buf_add(out, base, pre);
	quire_buf_add(out, end + 1, mid);
	quire_buf_add(out, base + blen - suf, suf);
	return 0;
}

/* Object hex into out, depth bases down its reader's chain; with every_level, each base is
 * hashed too (so damage is named in the pack that holds it). */
static int read_at(struct quire_objs *o, const char *hex, struct quire_buf *out, int depth,
		   int every_level)
{
	/* A copy: finding the base may overwrite the cache's entry, or a put move the known. */
	const struct loc *at = find(o, hex);
	if (!at)
		return quire_error_set(QUIRE_ENOTFOUND, "no object %.12s", hex);
	struct loc copy = *at;
	const struct loc *l = &copy;
	o->reads++;
	size_t start = out->len;
	int err;
	if (l->base[0]) {
		/* Damage in a delta's chain is this object's damage, in its pack. */
		char bhex[65];
		memcpy(bhex, l->base, 64);
		bhex[64] = '\0';
		struct quire_buf base = QUIRE_BUF_INIT, d = QUIRE_BUF_INIT;
		err = depth >= DELTA_DEPTH
			      ? quire_error_set(QUIRE_ECORRUPT,
						"object %.12s in '%s': its deltas' bases go on",
						hex, where(o, l))
			      : read_at(o, bhex, &base, depth + 1, every_level);
		if (err == QUIRE_ENOTFOUND)
			err = quire_error_set(QUIRE_ECORRUPT,
					      "object %.12s in '%s': its base %.12s is missing",
					      hex, where(o, l), bhex);
		if (!err)
			err = read_stored(o, l, &d);
		if (!err && quire_objs_apply_delta(base.ptr, base.len, d.ptr, d.len, out))
			err = quire_error_set(QUIRE_ECORRUPT, "object %.12s in '%s': not a delta",
					      hex, where(o, l));
		quire_buf_release(&base);
		quire_buf_release(&d);
	} else {
		err = read_stored(o, l, out);
	}
	/* A base is checked through what it is read for: the object at the top of the chain
	 * matches its name only if every base under it held the right bytes (each level hashed
	 * made a collector's record, read 16 deltas deep, cost 16 hashes of the whole). */
	if (!err && (depth == 0 || every_level)) {
		struct quire_digest dg;
		quire_hash_bytes(out->ptr + start, out->len - start, &dg);
		if (memcmp(dg.s + 7, hex, 64))
			err = quire_error_set(QUIRE_ECORRUPT,
					      "object %.12s in '%s' does not match its name", hex,
					      where(o, l));
	}
	if (err) {
		out->len = start;
		out->ptr[start] = '\0';
	}
	if (err && depth == 0 && !every_level && l->base[0]) {
		/* The damage may be in a base (not hashed on the way: a length it got wrong
		 * fails the delta above it): read again hashing each level, to name the pack
		 * the damage is in. */
		char *why = quire__xstrdup(quire_error_last());
		int again = read_at(o, hex, out, 0, 1);
		out->len = start;
		out->ptr[start] = '\0';
		if (!again)
			quire_error_set(err, "%s", why);
		else
			err = again;
		free(why);
	}
	return err;
}

/* Objects from this size on are kept as the last one read. */
#define LAST_MIN (64u << 10)

int quire_objs_read(struct quire_objs *o, const char *hex, struct quire_buf *out)
{
	if (strlen(hex) != 64)
		return quire_error_set(QUIRE_ENOTFOUND, "no object '%s'", hex);
	if (o->last.len && !memcmp(o->last_hex, hex, 64))
		return quire_buf_add(out, o->last.ptr, o->last.len);
	size_t start = out->len;
	int err = read_at(o, hex, out, 0, 0);
	if (!err && out->len - start >= LAST_MIN) {
		quire_buf_reset(&o->last);
		quire_buf_add(&o->last, out->ptr + start, out->len - start);
		memcpy(o->last_hex, hex, 64);
	}
	return err;
}

/* How many bases deep the chain of object hex goes. */
static int chain_depth(struct quire_objs *o, const char *hex)
{
	int d = 0;
	const struct loc *l = find(o, hex);
	while (l && l->base[0] && d <= DELTA_DEPTH) {
		char b[65];
		memcpy(b, l->base, 64);
		b[64] = '\0';
		l = find(o, b);
		d++;
	}
	return d;
}

int quire_objs_read_json(struct quire_objs *o, const char *hex, json_t **out)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_objs_read(o, hex, &b);
	*out = NULL;
	if (!err) {
		json_error_t je;
		*out = json_loadb(b.ptr, b.len, 0, &je);
		if (!*out)
			err = quire_error_set(QUIRE_ECORRUPT, "object %.12s in '%s': %s", hex,
					      where(o, find(o, hex)), je.text);
	}
	quire_buf_release(&b);
	return err;
}

void quire_objs_put_near(struct quire_objs *o, const void *data, size_t len, const char *near,
			 char hex[65])
{
	struct quire_digest d;
	quire_hash_bytes(data, len, &d);
	memcpy(hex, d.s + 7, 65);
	struct loc l = { .pack = -1, .len = (uint32_t)len, .off = quire_objs_pending_bytes(o) };
	size_t before = o->pend.len;
	memcpy(l.hex, hex, 64);
	if (o->scratch ? quire__objs_get(o, hex) != NULL : quire_objs_has(o, hex))
		return;
	if (len > UINT32_MAX) {
		quire_objs_fail(
			o,
			quire_error_set(
				QUIRE_EINVALID,
				"an object of %zu bytes is larger than a pack holds (4 GiB)", len));
		return;
	}
	struct quire_buf base = QUIRE_BUF_INIT;
	if (near && strlen(near) == 64 && find(o, near) && chain_depth(o, near) < DELTA_DEPTH &&
	    !quire_objs_read(o, near, &base) &&
	    quire_objs_delta(base.ptr, base.len, data, len, &o->pend)) {
		memcpy(l.base, near, 64);
		l.len = (uint32_t)(o->pend.len - before);
	}
	quire_buf_release(&base);
	quire_error_clear();
	if (!l.base[0])
		quire_buf_add(&o->pend, data, len);
	pend_flush(o);
	quire__objs_add(o, &l, NULL);
	quire__grow((void **)&o->order, &o->apend, o->npend + 1, sizeof(*o->order));
	/* By name: locations move when they grow. */
	memcpy(o->order[o->npend++], hex, 64);
}

void quire_objs_scratch(struct quire_objs *o, int on)
{
	o->scratch = on;
}

void quire_objs_put(struct quire_objs *o, const void *data, size_t len, char hex[65])
{
	quire_objs_put_near(o, data, len, NULL, hex);
}

/* The path of part p (from 0) of revision rev's pack in dir: <rev>.objects, then
 * <rev>.2.objects and on. */
static char *part_path(const char *dir, const char *rev, size_t p)
{
	return p ? quire__xasprintf("%s/%s.%zu.objects", dir, rev, p + 1)
		 : quire__xasprintf("%s/%s.objects", dir, rev);
}

void quire_objs_remove_pack(const char *qdir, const char *rev)
{
	char *dir = quire__xasprintf("%s/revs", qdir);
	/* The first part first: without it the rest is no pack. */
	for (size_t p = 0;; p++) {
		char *path = part_path(dir, rev, p);
		int gone = unlink(path) != 0;
		free(path);
		if (gone && p > 0)
			break;
	}
	free(dir);
}

/* Writes the part of ls[a, b) at path (temp, fsync, rename), each object's place in offs.
 * Streamed from the pending bytes a MiB at a time: a first build's pack copied whole was
 * 16 MB of its peak at 10k. */
static int write_part(struct quire_objs *o, const char *path, struct loc **ls, size_t a, size_t b,
		      uint64_t *offs)
{
	struct quire_fs_stream w;
	int err = quire_fs_stream_open(&w, path, 0644);
	if (err)
		return err;
	struct quire_buf t = QUIRE_BUF_INIT;
	quire_buf_puts(&t, QUIRE_OBJS_MAGIC);
	for (size_t k = a; k < b; k++) {
		if (ls[k]->base[0])
			quire_buf_printf(&t, "%.64s %u %.64s\n", ls[k]->hex, ls[k]->len,
					 ls[k]->base);
		else
			quire_buf_printf(&t, "%.64s %u\n", ls[k]->hex, ls[k]->len);
		offs[k] = w.size + t.len;
		if (ls[k]->off >= o->pend_flushed) {
			quire_buf_add(&t, o->pend.ptr + (ls[k]->off - o->pend_flushed), ls[k]->len);
		} else if (ls[k]->len >= (1u << 16)) {
			/* From the pending file, in the kernel. */
			quire_fs_stream_write(&w, t.ptr, t.len);
			quire_buf_reset(&t);
			quire_fs_stream_copy(&w, o->pend_fd, ls[k]->off, ls[k]->len);
		} else {
			/* Small ones into the buffer: a write and a copy each were two system
			 * calls per step of a first build. */
			err = quire_fs_pread_buf(o->pend_fd, ls[k]->off, ls[k]->len, &t,
						 "a revision's pending objects");
			if (err)
				break; /* its message kept: nothing more is written */
		}
		quire_buf_putc(&t, '\n');
		if (t.len >= (1u << 20) || k + 1 == b) {
			quire_fs_stream_write(&w, t.ptr, t.len);
			quire_buf_reset(&t);
		}
	}
	quire_buf_release(&t);
	if (err) {
		quire_fs_stream_abort(&w);
		return err;
	}
	return quire_fs_stream_commit(&w);
}

void quire_objs_fail(struct quire_objs *o, int err)
{
	if (o->err)
		return;
	/* The message is kept: what is made after it may clear the thread's. */
	o->err = err;
	free(o->errmsg);
	o->errmsg = quire__xstrdup(quire_error_last());
}

size_t quire_objs_mark(const struct quire_objs *o)
{
	return o->npend;
}

int quire_objs_error(const struct quire_objs *o)
{
	if (o->err)
		quire_error_set(o->err, "%s", o->errmsg ? o->errmsg : "");
	return o->err;
}

static int cmp_name(const void *x, const void *y)
{
	return memcmp(x, y, 64);
}

void quire_objs_rollback(struct quire_objs *o, size_t mark)
{
	if (mark >= o->npend && !o->err)
		return;
	/* The names taken back, sorted in place (their order is dropped with them). Their
	 * slots are not emptied one by one: an emptied slot ends the probe chains through it,
	 * and a name further along one was then not found, and stayed, known but never
	 * written. The table is made again without them. */
	size_t ngone = mark < o->npend ? o->npend - mark : 0;
	char(*gone)[64] = o->order + mark;
	if (ngone)
		qsort(gone, ngone, sizeof(*gone), cmp_name);
	/* Kept as the last one read, it would still be read after it is gone. */
	if (ngone && o->last.len && bsearch(o->last_hex, gone, ngone, sizeof(*gone), cmp_name))
		quire_buf_reset(&o->last);
	size_t keep = quire_objs_pending_bytes(o);
	size_t kept = 0;
	for (size_t k = 0; k < o->n; k++) {
		const struct loc *l = &o->locs[k];
		if (ngone && l->pack < 0 && bsearch(l->hex, gone, ngone, sizeof(*gone), cmp_name)) {
			if (l->off < keep)
				keep = l->off;
			continue;
		}
		o->locs[kept++] = *l;
	}
	o->n = kept;
	fill(o, o->cap);
	o->npend -= ngone;
	if (keep >= o->pend_flushed) {
		o->pend.len = keep - o->pend_flushed;
	} else {
		/* Into the file: what follows is written over it. */
		o->pend_flushed = keep;
		o->pend.len = 0;
	}
	if (o->pend.alloc)
		o->pend.ptr[o->pend.len] = '\0';
	o->err = 0;
}

int quire_objs_write_pack(struct quire_objs *o, const char *rev)
{
	if (o->err)
		return quire_objs_error(o);
	if (!o->npend || !o->dir)
		return 0; /* in memory: the objects stay pending, and readable */
	struct loc *first = quire__objs_get(o, rev);
	if (!first || first->pack >= 0)
		return quire_error_set(QUIRE_ERROR, "revision %.12s is not pending", rev);
	int err = quire_fs_mkdirs(o->dir, 0755);
	if (err)
		return err;
	/* The pending objects in the order they were made, the revision first. */
	struct loc **ls = quire__xcalloc(o->npend, sizeof(*ls));
	size_t nl = 0;
	ls[nl++] = first;
	for (size_t k = 0; k < o->npend; k++) {
		struct loc *l = quire__objs_get(o, o->order[k]);
		if (l != first)
			ls[nl++] = l;
	}
	/* Part p holds ls[starts[p], starts[p + 1]). */
	size_t nparts = 0, bytes = 0, *starts = quire__xcalloc(nl + 1, sizeof(*starts));
	for (size_t k = 0; k < nl; k++) {
		if (!k || bytes + ls[k]->len > QUIRE_OBJS_PART_MAX) {
			starts[nparts++] = k;
			bytes = 0;
		}
		bytes += ls[k]->len + 67 + 12;
	}
	starts[nparts] = nl;
	/* Where each object lands: known once every part is written. */
	uint64_t *offs = quire__xcalloc(nl, sizeof(*offs));
	char **paths = quire__xcalloc(nparts, sizeof(*paths));
	/* The later parts first: a pack whose first part exists is whole. */
	for (size_t p = nparts; p-- > 0 && !err;) {
		paths[p] = part_path(o->dir, rev, p);
		err = write_part(o, paths[p], ls, starts[p], starts[p + 1], offs);
	}
	if (!err)
		err = quire_fs_sync_dir(o->dir);
	if (!err) {
		for (size_t p = 0; p < nparts; p++) {
			int32_t at = quire__objs_pack(o, strrchr(paths[p], '/') + 1);
			for (size_t k = starts[p]; k < starts[p + 1]; k++) {
				ls[k]->pack = at;
				ls[k]->off = offs[k];
			}
		}
		quire_buf_reset(&o->pend);
		o->pend_flushed = 0;
		o->npend = 0;
		quire__objs_index_written(o, paths, nparts);
	}
	for (size_t p = 0; p < nparts; p++)
		free(paths[p]);
	free(paths);
	free(offs);
	free(starts);
	free(ls);
	return err;
}
