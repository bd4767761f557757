/* Blob-store garbage collection: mark from manifests and the action cache, then sweep. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/fs.h"
#include "quire/error.h"
#include "quire/gc.h"
#include "quire/hash.h"
#include "lock.h"
#include "quire/manifest.h"
#include "quire/run.h"
#include "quire/store.h"
#include "blob_pack.h"
#include "manifest_internal.h"
#include "util.h"

static void keep(void *ud, const char *digest)
{
	json_object_set_new((json_t *)ud, digest, json_true());
}

/* A call's record and the blobs it names (prompt, schema, raw answer). */
static void keep_call(json_t *live, const char *qdir, const json_t *d)
{
	const char *cd = json_string_value(d);
	if (!cd || json_object_get(live, cd))
		return;
	keep(live, cd);
	json_t *c = quire_call_load(qdir, cd);
	const char *named[3];
	quire_call_named(c, named);
	for (int k = 0; k < 3; k++)
		if (named[k])
			keep(live, named[k]);
	json_decref(c);
}

struct mark {
	json_t *live;
	const char *qdir;
};

static int mark_file(void *ud, const char *rev, const char *path, const json_t *v)
{
	(void)rev;
	(void)path;
	if (json_is_string(v))
		keep(((struct mark *)ud)->live, json_string_value(v));
	return 0;
}

static int mark_entry(void *ud, const char *rev, const char *id, const json_t *v, int lost)
{
	struct mark *mk = ud;
	json_t *live = mk->live;
	(void)rev;
	(void)id;
	(void)lost;
	const json_t *d = json_object_get(v, "digest");
	if (json_is_string(d))
		keep(live, json_string_value(d));
	/* A feedback round's draft and a cut-off answer's text are named too. */
	keep_call(live, mk->qdir, json_object_get(v, "call"));
	keep_call(live, mk->qdir, json_object_get(v, "failed_call"));
	static const char *const more[] = { "draft", "partial" };
	for (size_t x = 0; x < 2; x++)
		if (json_is_string(json_object_get(v, more[x])))
			keep(live, json_string_value(json_object_get(v, more[x])));
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(v, "takes"), i, t) {
		d = json_object_get(t, "digest");
		if (json_is_string(d))
			keep(live, json_string_value(d));
		keep_call(live, mk->qdir, json_object_get(t, "call"));
	}
	return 0;
}

struct sweep {
	const char *qdir;
	json_t *live;
	int dry_run;
	struct quire_gc_stats *st;
	char **packed; /* files whose blobs were put in the pack */
	size_t cap;
};

static int sweep_packed(const char *digest, const void *data, size_t len, void *arg)
{
	struct sweep *w = arg;
	(void)data;
	if (json_object_get(w->live, digest)) {
		w->st->kept++;
		w->st->kept_bytes += len;
		return 0;
	}
	int err = w->dry_run ? 0 : quire__pack_remove(w->qdir, digest);
	if (!err) {
		w->st->removed++;
		w->st->removed_bytes += len;
	}
	return err;
}

/* Puts a small blob file's bytes in the pack (a store made before packs, or a blob a pull
 * wrote as a file), verified first: a damaged one stays for fsck to name. 1 when packed
 * (the file is removed once the pack is synced). */
static int repack(const char *qdir, const char *digest)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	/* Verified, from the pack when it holds a copy already, else from the file. */
	int packed = quire_blob_read(qdir, digest, &b, QUIRE_PACK_MAX, 1) == 0 &&
		     quire__pack_put(qdir, digest, b.ptr ? b.ptr : "", b.len, 1) == 0;
	quire_error_clear();
	quire_buf_release(&b);
	return packed;
}

/* The blob files: removes what is not live, packs what is live and small. */
static void sweep_files(struct sweep *w)
{
	char *blobs = quire__xasprintf("%s/blobs/sha256", w->qdir);
	DIR *top = opendir(blobs);
	struct dirent *e;
	struct quire_gc_stats *st = w->st;
	while (top && (e = readdir(top))) {
		if (e->d_name[0] == '.')
			continue;
		char *shard = quire__xasprintf("%s/%s", blobs, e->d_name);
		DIR *d = opendir(shard);
		struct dirent *b;
		while (d && (b = readdir(d))) {
			if (b->d_name[0] == '.')
				continue;
			char digest[300], *path = quire__xasprintf("%s/%s", shard, b->d_name);
			snprintf(digest, sizeof(digest), "sha256:%s", b->d_name);
			struct stat sb;
			uint64_t size = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
			/* Only blobs are quire's to remove: a name that is no digest is left. */
			if (json_object_get(w->live, digest) || !quire_digest_valid(digest)) {
				st->kept++;
				st->kept_bytes += size;
				if (!w->dry_run && size < QUIRE_PACK_MAX &&
				    quire_digest_valid(digest) && repack(w->qdir, digest)) {
					QUIRE_GROW(w->packed, w->cap, st->packed + 1);
					w->packed[st->packed++] = quire__xstrdup(path);
				}
			} else if (w->dry_run || unlink(path) == 0) {
				st->removed++;
				st->removed_bytes += size;
			}
			free(path);
		}
		if (d)
			closedir(d);
		if (!w->dry_run)
			rmdir(shard); /* only succeeds when the shard is empty */
		free(shard);
	}
	if (top)
		closedir(top);
	free(blobs);
	/* The files go once their copies in the pack are on disk. */
	if (st->packed && quire_fs_sync_fs(w->qdir) == 0)
		for (size_t i = 0; i < st->packed; i++)
			if (unlink(w->packed[i]) == 0) {
				*strrchr(w->packed[i], '/') = '\0';
				rmdir(w->packed[i]); /* the shard, once empty */
			}
	quire_error_clear();
	for (size_t i = 0; i < st->packed; i++)
		free(w->packed[i]);
	free(w->packed);
}

/* The indexes of format-2 revisions that are no longer heads (a kill between a commit and
 * current's move leaves the old head's, 1.9 MB at 10k), and an older quire's renderings of
 * their texts: caches nothing reads. */
static void drop_old_indexes(const char *qdir)
{
	char **heads = NULL;
	size_t nheads = 0;
	if (quire_manifest_head_list(qdir, &heads, &nheads)) {
		quire_error_clear();
		return;
	}
	char *dir = quire__xasprintf("%s/runs", qdir);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char name[65];
		size_t len = strlen(e->d_name);
		/* An index, or an older quire's rendering of a revision (<rev>.json). */
		if (!quire__index_file(e->d_name, name) &&
		    (len != 64 + 5 || strcmp(e->d_name + 64, ".json")))
			continue;
		snprintf(name, sizeof(name), "%.64s", e->d_name);
		int head = 0;
		for (size_t k = 0; k < nheads && !head; k++)
			head = !strcmp(heads[k], name);
		if (!head && quire_rev_is_digest(name))
			quire__rev2_drop_index(qdir, name);
	}
	if (d)
		closedir(d);
	free(dir);
	for (size_t k = 0; k < nheads; k++)
		free(heads[k]);
	free(heads);
}

/* The plans of runs (.quire/runs/run-N-plan.json, a record nothing reads) but the last
 * PLANS_KEPT: one per run, 27 MB after 200 runs of a 10k project. */
#define PLANS_KEPT 10

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static void drop_old_plans(const char *qdir)
{
	char *dir = quire__xasprintf("%s/runs", qdir);
	DIR *d = opendir(dir);
	long long *runs = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long long r;
		int end = 0;
		if (sscanf(e->d_name, "run-%lld-plan.json%n", &r, &end) == 1 &&
		    (size_t)end == strlen(e->d_name)) {
			QUIRE_GROW(runs, alloc, n + 1);
			runs[n++] = r;
		}
	}
	if (d)
		closedir(d);
	qsort(runs, n, sizeof(*runs), cmp_ll);
	for (size_t k = 0; k + PLANS_KEPT < n; k++) {
		char *path = quire__xasprintf("%s/run-%lld-plan.json", dir, runs[k]);
		unlink(path);
		free(path);
	}
	free(runs);
	free(dir);
}

int quire_gc(const char *root, int dry_run, struct quire_gc_stats *st)
{
	memset(st, 0, sizeof(*st));
	char *qdir = quire__xasprintf("%s/.quire", root);
	struct quire_lock *lock = NULL;
	struct quire_store *store = NULL;
	json_t *live = json_object();
	char **revs = NULL;
	size_t nrevs = 0;
	struct quire_manifest_scan *scan = NULL;
	int err = quire_lock_acquire(&lock, qdir, dry_run ? "quire gc --dry-run" : "quire gc");
	if (err)
		goto out;
	/* A linked shard would have gc delete whatever the link points at. */
	if ((err = quire_blob_check_dirs(qdir)) || (err = quire_store_open(&store, qdir, 1)) ||
	    (err = quire_store_ac_digests(store, keep, live)))
		goto out;
	if ((err = quire_manifest_list(qdir, &revs, &nrevs)))
		goto out;
	/* What every revision names, each node of their trees read once. */
	struct mark mk = { live, qdir };
	struct quire_manifest_visitor vis = { mark_file, mark_entry, 0, &mk };
	scan = quire_manifest_scan_new(qdir, &vis);
	for (size_t n = 0; n < nrevs; n++) {
		err = quire_manifest_scan(scan, revs[n]);
		if (err == QUIRE_ENOTFOUND) {
			quire_error_clear();
			err = 0;
			continue;
		}
		if (err) {
			quire_error_prefix(err, "gc stopped before removing anything");
			goto out;
		}
		st->manifests++;
	}
	struct sweep w = { qdir, live, dry_run, st, NULL, 0 };
	size_t before = st->removed;
	if ((err = quire__pack_each(qdir, 0, sweep_packed, &w))) {
		quire_error_prefix(err, "gc stopped in the blob pack");
		goto out;
	}
	size_t from_pack = st->removed - before;
	sweep_files(&w);
	if (!dry_run) {
		drop_old_indexes(qdir);
		drop_old_plans(qdir);
	}
	/* The space of removed packed blobs goes back to the file system. */
	if (!dry_run && from_pack && (err = quire__pack_vacuum(qdir)))
		goto out;
out:
	quire_manifest_scan_free(scan);
	for (size_t n = 0; n < nrevs; n++)
		free(revs[n]);
	free(revs);
	json_decref(live);
	quire_store_close(store);
	quire_lock_release(lock);
	free(qdir);
	return err;
}
