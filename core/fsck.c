/* quire fsck: re-hashes the blob store, reads every revision (each object of their trees once),
 * checks quire.db; repairs what the committed revisions can restore. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fsck.h"
#include "quire/hash.h"
#include "lock.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/store.h"
#include "blob_pack.h"
#include "manifest_internal.h"
#include "objects.h"
#include "util.h"

/* Who uses each digest: {digest: {"who": "Scene[0][1] in rev-0003", "more": N, "seen": bool}}. */
static void use(json_t *refs, const char *digest, const char *who, const char *rev)
{
	if (!digest)
		return;
	json_t *u = json_object_get(refs, digest);
	if (!u) {
		char *w = rev ? quire__xasprintf("%s in %.12s", who, rev) : quire__xstrdup(who);
		json_object_set_new(refs, digest, json_pack("{s:s,s:i}", "who", w, "more", 0));
		free(w);
		return;
	}
	json_object_set_new(u, "more",
			    json_integer(json_integer_value(json_object_get(u, "more")) + 1));
}

/* What the scan of the revisions found: refs (see use), and the artefacts of the revision
 * being scanned whose records are lost (how many, the first). */
struct scan {
	json_t *refs;
	size_t lost;
	char *first;
};

static int use_file(void *ud, const char *rev, const char *path, const json_t *v)
{
	struct scan *sc = ud;
	char *who = quire__xasprintf("file %s", path);
	use(sc->refs, json_string_value(v), who, rev);
	free(who);
	return 0;
}

static int use_entry(void *ud, const char *rev, const char *id, const json_t *e, int lost)
{
	struct scan *sc = ud;
	use(sc->refs, json_string_value(json_object_get(e, "digest")), id, rev);
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(e, "takes"), i, t) {
		char *who =
			quire__xasprintf("%s take %lld", id,
					 (long long)json_integer_value(json_object_get(t, "take")));
		use(sc->refs, json_string_value(json_object_get(t, "digest")), who, rev);
		free(who);
	}
	if (lost && !sc->lost++)
		sc->first = quire__xstrdup(id);
	return 0;
}

static void ac_use(void *ud, const char *digest)
{
	use(ud, digest, "the action cache", NULL);
}

/* "Scene[0][1] in rev-0003 (and 4 more)" for a digest, or "nothing". malloc'd. */
static char *users(json_t *refs, const char *digest)
{
	json_t *u = json_object_get(refs, digest);
	if (!u)
		return quire__xstrdup("used by nothing");
	long long more = json_integer_value(json_object_get(u, "more"));
	if (more)
		return quire__xasprintf("used by %s and %lld more",
					json_string_value(json_object_get(u, "who")), more);
	return quire__xasprintf("used by %s", json_string_value(json_object_get(u, "who")));
}

static struct quire_fsck_problem *add(struct quire_fsck_result *res, size_t *alloc,
				      enum quire_fsck_kind kind, const char *subject,
				      char *detail /* taken */)
{
	QUIRE_GROW(res->v, *alloc, res->n + 1);
	struct quire_fsck_problem *p = &res->v[res->n++];
	*p = (struct quire_fsck_problem){ kind, quire__xstrdup(subject), detail, 0 };
	if (kind != QUIRE_FSCK_BLOB_MISSING)
		res->damaged++;
	return p;
}

/* The store's directories must be directories inside .quire: a link is reported, and with
 * repair removed (what it held elsewhere is not touched; its blobs are then missing). */
static void check_store_dirs(const char *qdir, int repair, struct quire_fsck_result *res,
			     size_t *alloc)
{
	char *blobs = quire__xasprintf("%s/blobs", qdir), *root = quire__path_join(blobs, "sha256");
	const char *const tops[] = { blobs, root };
	for (int k = 0; k < 2; k++) {
		struct stat st;
		if (lstat(tops[k], &st) != 0 || S_ISDIR(st.st_mode))
			continue;
		struct quire_fsck_problem *p =
			add(res, alloc, QUIRE_FSCK_STORE_DIR,
			    k ? ".quire/blobs/sha256" : ".quire/blobs",
			    quire__xstrdup("is not a directory (a link?): the store must be inside "
					   "the project"));
		if (repair && unlink(tops[k]) == 0 && mkdir(tops[k], 0755) == 0)
			p->repaired = 1;
	}
	char *pack = quire__path_join(blobs, "pack.db");
	struct stat ps;
	if (lstat(pack, &ps) == 0 && !S_ISREG(ps.st_mode)) {
		struct quire_fsck_problem *p =
			add(res, alloc, QUIRE_FSCK_STORE_DIR, ".quire/blobs/pack.db",
			    quire__xstrdup("is not a file (a link?): the store must be inside the "
					   "project"));
		if (repair && unlink(pack) == 0)
			p->repaired = 1;
	}
	free(pack);
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		char *subject = quire__xasprintf(".quire/blobs/sha256/%s", e->d_name);
		struct quire_fsck_problem *p =
			add(res, alloc, QUIRE_FSCK_STORE_DIR, subject,
			    quire__xstrdup("is not a directory (a link?): the store must be inside "
					   "the project"));
		free(subject);
		if (repair && unlinkat(dirfd(d), e->d_name, 0) == 0)
			p->repaired = 1;
	}
	if (d)
		closedir(d);
	free(blobs);
	free(root);
}

/* Re-hashes every blob file; marks the referenced ones seen. */
static void check_blobs(const char *qdir, int repair, json_t *refs, struct quire_fsck_result *res,
			size_t *alloc)
{
	char *blobs = quire__xasprintf("%s/blobs/sha256", qdir);
	DIR *top = opendir(blobs);
	struct dirent *e;
	while (top && (e = readdir(top))) {
		if (e->d_name[0] == '.' || e->d_type == DT_LNK)
			continue; /* a linked shard is check_store_dirs' */
		char *shard = quire__path_join(blobs, e->d_name);
		DIR *d = opendir(shard);
		struct dirent *b;
		while (d && (b = readdir(d))) {
			if (b->d_name[0] == '.' || strstr(b->d_name, ".tmp"))
				continue;
			char digest[300];
			snprintf(digest, sizeof(digest), "sha256:%s", b->d_name);
			if (!quire_digest_valid(digest))
				continue; /* not a blob of ours */
			char *path = quire__path_join(shard, b->d_name);
			struct quire_digest got;
			int herr = quire_hash_file(path, &got, NULL);
			res->blobs++;
			if (!herr && !strcmp(got.s, digest)) {
				json_t *u = json_object_get(refs, digest);
				if (u)
					json_object_set_new(u, "seen", json_true());
				free(path);
				continue;
			}
			/* Found, if damaged: not listed as missing too. */
			json_t *seen = json_object_get(refs, digest);
			if (seen)
				json_object_set_new(seen, "seen", json_true());
			char *who = users(refs, digest);
			char *detail =
				herr ? quire__xasprintf("cannot be read (%s); %s",
							quire_error_last(), who)
				     : quire__xasprintf("holds other content (it hashes to %s); %s",
							got.s, who);
			quire_error_clear();
			struct quire_fsck_problem *p =
				add(res, alloc, QUIRE_FSCK_BLOB_CORRUPT, digest, detail);
			free(who);
			/* Only content that was read and hashes to something else is removed: an
			 * unreadable blob (permissions, an I/O error) may be whole. */
			if (repair && !herr && unlink(path) == 0)
				p->repaired = 1;
			free(path);
		}
		if (d)
			closedir(d);
		free(shard);
	}
	if (top)
		closedir(top);
	free(blobs);
}

struct packed_check {
	const char *qdir;
	int repair;
	json_t *refs;
	struct quire_fsck_result *res;
	size_t *alloc;
};

static int check_one_packed(const char *digest, const void *data, size_t len, void *arg)
{
	struct packed_check *c = arg;
	struct quire_digest got;
	quire_hash_bytes(data, len, &got);
	c->res->blobs++;
	json_t *u = json_object_get(c->refs, digest);
	if (u)
		json_object_set_new(u, "seen", json_true());
	if (!strcmp(got.s, digest))
		return 0;
	char *who = users(c->refs, digest);
	struct quire_fsck_problem *p =
		add(c->res, c->alloc, QUIRE_FSCK_BLOB_CORRUPT, digest,
		    quire__xasprintf("holds other content in the pack (it hashes to %s); %s", got.s,
				     who));
	free(who);
	if (c->repair && quire__pack_remove(c->qdir, digest) == 0)
		p->repaired = 1;
	quire_error_clear();
	return 0;
}

/* Puts every row of the damaged pack at path that still reads and hashes to its digest
 * into a new pack (row by row: a damaged page loses only the rows on it). */
static sqlite3_int64 max_id(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	sqlite3_int64 m = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK)
		while (sqlite3_step(q) == SQLITE_ROW)
			if (sqlite3_column_int64(q, 0) > m)
				m = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return m;
}

static size_t salvage(const char *qdir, const char *path, struct packed_check *c)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	size_t kept = 0;
	/* Read-only, so the WAL moved aside with it is read (its committed blobs may be only
	 * there); immutable when that cannot open. */
	static const char *const modes[] = { "mode=ro", "immutable=1" };
	for (size_t k = 0; k < 2 && !q; k++) {
		char *uri = quire__xasprintf("file:%s?%s", path, modes[k]);
		if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
			    SQLITE_OK ||
		    sqlite3_prepare_v2(db, "SELECT d, data FROM blob WHERE id = ?1", -1, &q,
				       NULL) != SQLITE_OK) {
			sqlite3_finalize(q);
			sqlite3_close(db);
			q = NULL;
			db = NULL;
		}
		free(uri);
	}
	if (q) {
		/* Row ids only grow (gc leaves gaps): look up to the largest id the table or
		 * its digest index still tells, and as far as the file could hold rows. */
		struct stat st;
		sqlite3_int64 last = stat(path, &st) == 0 ? st.st_size / 40 + 1 : 0;
		sqlite3_int64 m = max_id(db, "SELECT max(id) FROM blob");
		sqlite3_int64 mi =
			max_id(db, "SELECT id FROM blob INDEXED BY sqlite_autoindex_blob_1");
		last = m > last ? m : last;
		last = mi > last ? mi : last;
		for (sqlite3_int64 id = 1; id <= last; id++) {
			sqlite3_reset(q);
			sqlite3_bind_int64(q, 1, id);
			if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_bytes(q, 0) != 32)
				continue;
			const unsigned char *k = sqlite3_column_blob(q, 0);
			const void *data = sqlite3_column_blob(q, 1);
			size_t len = (size_t)sqlite3_column_bytes(q, 1);
			char digest[72];
			memcpy(digest, "sha256:", 7);
			for (int i = 0; i < 32; i++)
				snprintf(digest + 7 + 2 * i, 3, "%02x", k[i]);
			struct quire_digest got;
			quire_hash_bytes(data ? data : "", len, &got);
			if (!strcmp(got.s, digest) &&
			    quire__pack_put(qdir, digest, data ? data : "", len, 0) == 0) {
				kept++;
				c->res->blobs++;
				json_t *u = json_object_get(c->refs, digest);
				if (u)
					json_object_set_new(u, "seen", json_true());
			}
			quire_error_clear();
		}
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return kept;
}

static int move_db_aside(const char *qdir, const char *name, char **moved);

/* Re-hashes every packed blob; a pack SQLite finds damaged is moved aside by --repair (its
 * bytes kept for whoever wants to dig) after every blob that still reads whole was put in
 * a new one. */
static void check_packed(const char *qdir, int repair, json_t *refs, struct quire_fsck_result *res,
			 size_t *alloc)
{
	struct packed_check c = { qdir, repair, refs, res, alloc };
	int err = quire__pack_each(qdir, 1, check_one_packed, &c);
	if (!err)
		return;
	struct quire_fsck_problem *p =
		add(res, alloc, QUIRE_FSCK_BLOB_CORRUPT, ".quire/blobs/pack.db",
		    quire__xasprintf("cannot be read (%s)", quire_error_last()));
	quire_error_clear();
	quire__pack_close();
	/* Only a pack SQLite found damaged is moved: one this user cannot read may be whole. */
	char *moved = NULL;
	if (repair && err == QUIRE_ECORRUPT && !move_db_aside(qdir, "blobs/pack.db", &moved)) {
		/* moved is ".quire/blobs/...": the file is qdir and what follows ".quire" */
		char *to = quire__xasprintf("%s%s", qdir, moved + strlen(".quire"));
		size_t kept = salvage(qdir, to, &c);
		quire__pack_close();
		p->repaired = 1;
		free(p->detail);
		p->detail = quire__xasprintf("was damaged: moved aside as %s, the %zu blob%s that "
					     "still read whole put in a new pack",
					     strrchr(to, '/') + 1, kept, kept == 1 ? "" : "s");
		free(to);
	}
	quire_error_clear();
	free(moved);
}

/* The store a rebuild writes, and what stopped it writing (not what stopped a reading). */
struct rebuild {
	struct quire_store *s;
	int err;
};

static int remember(void *ud, const char *rev, const char *id, const json_t *e, int lost)
{
	struct rebuild *rb = ud;
	return rb->err = quire_takes_remember_entry(rb->s, NULL, e, 0);
}

/* Makes a new quire.db from the committed revisions: one committed run per revision, and an
 * action-cache entry for every output (each take) a revision records, so nothing recorded is
 * paid for again (each entry once, however many revisions hold it unchanged). */
static int rebuild_db(const char *qdir)
{
	struct quire_store *s = NULL;
	json_t *log = NULL;
	int err = quire_store_open(&s, qdir, 0);
	if (!err)
		err = quire_store_begin(s);
	/* Oldest first, as they were made. */
	if (!err)
		err = quire_history_log(qdir, &log);
	struct quire_objs *objs = NULL;
	struct rebuild rb = { s, 0 };
	struct quire_manifest_visitor vis = { NULL, remember, 0, &rb };
	struct quire_manifest_scan *scan = quire_manifest_scan_new(qdir, &vis);
	for (size_t n = 0; !err && n < json_array_size(log); n++) {
		const char *rev =
			json_string_value(json_object_get(json_array_get(log, n), "revision"));
		/* A format-2 revision's own object, not its files tree too as a head is read. */
		json_t *h = NULL;
		long long count;
		if (quire__rev2_here(qdir, rev) ? quire__rev2_read(qdir, &objs, rev, 0, &h, NULL)
						: quire_manifest_head(qdir, rev, &h, &count)) {
			quire_error_clear();
			continue;
		}
		err = quire_store_run_restore(s, rev,
					      json_string_value(json_object_get(h, "parent")),
					      json_string_value(json_object_get(h, "command")), 0);
		json_decref(h);
		if (!err && quire_manifest_scan(scan, rev) && !(err = rb.err))
			quire_error_clear(); /* what cannot be read is named by the check */
	}
	quire_manifest_scan_free(scan);
	quire_objs_free(objs);
	json_decref(log);
	if (!err)
		err = quire_store_commit(s);
	else if (s)
		quire_store_rollback(s);
	quire_store_close(s);
	return err;
}

/* Moves a damaged database (name, under qdir) and its journal files aside; the new name,
 * from the project's root, in *moved. */
static int move_db_aside(const char *qdir, const char *name, char **moved)
{
	char ts[40];
	quire__format_time(quire__now_ns(), ts, sizeof(ts));
	char *from = quire__xasprintf("%s/%s", qdir, name);
	char *to = quire__xasprintf("%s/%s.damaged-%s", qdir, name, ts);
	int err = 0;
	if (rename(from, to) < 0 && errno != ENOENT)
		err = quire_error_set(QUIRE_EIO, "cannot move '%s' aside: %s", from,
				      strerror(errno));
	for (int k = 0; !err && k < 2; k++) {
		/* A journal left beside a new database would be applied to it. */
		char *j = quire__xasprintf("%s%s", from, k ? "-shm" : "-wal");
		char *jt = quire__xasprintf("%s%s", to, k ? "-shm" : "-wal");
		if (rename(j, jt) < 0 && errno != ENOENT)
			err = quire_error_set(QUIRE_EIO, "cannot move '%s' aside: %s", j,
					      strerror(errno));
		free(j);
		free(jt);
	}
	if (!err)
		*moved = quire__xasprintf(".quire/%s.damaged-%s", name, ts);
	free(from);
	free(to);
	return err;
}

/* Opens the database read-only and checks it; a problem is recorded. 1 when it is damaged. */
static int check_db(const char *qdir, json_t *refs, struct quire_fsck_result *res, size_t *alloc)
{
	struct quire_store *s = NULL;
	char *problem = NULL;
	int err = quire_store_open(&s, qdir, 1);
	if (err == QUIRE_ENEWER) {
		/* Made by a newer quire: not damage, and never to be rebuilt by this one. */
		add(res, alloc, QUIRE_FSCK_DATABASE, ".quire/quire.db",
		    quire__xstrdup(quire_error_last()))
			->repaired = -1;
		quire_error_clear();
		return 0;
	}
	if (!err)
		err = quire_store_check(s, &problem);
	if (!err && !problem)
		err = quire_store_ac_digests(s, ac_use, refs);
	quire_store_close(s);
	if (!err && !problem)
		return 0;
	if (!problem && err != QUIRE_ECORRUPT) {
		/* Locked by another program, an I/O error: it could not be read, which says
		 * nothing of its content. Rebuilding it would throw away the journal and the
		 * action cache (what reverting an edit takes back without paying). */
		add(res, alloc, QUIRE_FSCK_DATABASE_UNREADABLE, ".quire/quire.db",
		    quire__xasprintf("%s; it was not checked, and is left as it is (is another "
				     "program using it?)",
				     quire_error_last()))
			->repaired = -1;
		quire_error_clear();
		return 0;
	}
	add(res, alloc, QUIRE_FSCK_DATABASE, ".quire/quire.db",
	    problem ? problem : quire__xstrdup(quire_error_last()));
	quire_error_clear();
	return 1;
}

/* A format-2 revision's entries whose records the pack lost (plan --explain and the story's
 * reading of them need them; the outputs and fingerprints stand). */
static void check_records(struct quire_fsck_result *res, size_t *alloc, const char *rev,
			  struct scan *sc)
{
	if (sc->lost == 1)
		add(res, alloc, QUIRE_FSCK_REVISION, rev,
		    quire__xasprintf("the dependency record of %s is missing from .quire/revs/ "
				     "(a damaged pack: restore them from git, 'git checkout -- "
				     ".quire/revs/')",
				     sc->first));
	else if (sc->lost)
		add(res, alloc, QUIRE_FSCK_REVISION, rev,
		    quire__xasprintf("the dependency records of %s and %zu other artefact%s "
				     "are missing from .quire/revs/ (a damaged pack: restore "
				     "them from git, 'git checkout -- .quire/revs/')",
				     sc->first, sc->lost - 1, sc->lost == 2 ? "" : "s"));
}

int quire_fsck(const char *root, int repair, struct quire_fsck_result *res)
{
	memset(res, 0, sizeof(*res));
	char *qdir = quire__xasprintf("%s/.quire", root);
	struct quire_lock *lock = NULL;
	json_t *refs = json_object();
	size_t alloc = 0;
	int err = 0;
	if (repair && (err = quire_lock_acquire(&lock, qdir, "quire fsck --repair")))
		goto out;
	char **revs = NULL;
	size_t nrevs = 0;
	quire_manifest_list(qdir, &revs, &nrevs);
	/* Every object of every revision read, and so checked, once. */
	struct scan sc = { refs, 0, NULL };
	struct quire_manifest_visitor vis = { use_file, use_entry, 1, &sc };
	struct quire_manifest_scan *scan = quire_manifest_scan_new(qdir, &vis);
	for (size_t n = 0; n < nrevs; n++) {
		const char *rev = revs[n];
		int lerr = quire_manifest_scan(scan, rev);
		if (!lerr && quire_rev_is_digest(rev))
			lerr = quire_manifest_verify_name(qdir, rev);
		if (lerr == QUIRE_ENOTFOUND) {
			quire_error_clear();
		} else if (lerr) {
			/* A format-2 revision's message says how to restore its packs. */
			add(res, &alloc, QUIRE_FSCK_REVISION, rev,
			    quire__rev2_here(qdir, rev)
				    ? quire__xstrdup(quire_error_last())
				    : quire__xasprintf(
					      "%s; it is never rewritten: restore it from "
					      "git (git checkout -- .quire/manifests/%s.json)",
					      quire_error_last(), rev));
			quire_error_clear();
		} else {
			res->revisions++;
			check_records(res, &alloc, rev, &sc);
		}
		/* What a revision that could not be read lost is not the next one's. */
		free(sc.first);
		sc.first = NULL;
		sc.lost = 0;
	}
	quire_manifest_scan_free(scan);
	char **heads = NULL;
	size_t nheads = 0;
	int cerr = quire_manifest_head_list(qdir, &heads, &nheads);
	if (cerr) {
		add(res, &alloc, QUIRE_FSCK_CURRENT, ".quire/current",
		    quire__xstrdup(quire_error_last()));
		quire_error_clear();
	}
	/* Two heads (a git merge of two clones) are no damage: the next run merges them. */
	for (size_t k = 0; k < nheads; k++) {
		char *path = quire__xasprintf("%s/manifests/%s.json", qdir, heads[k]);
		if (access(path, F_OK) != 0 && !quire__rev2_here(qdir, heads[k]))
			add(res, &alloc, QUIRE_FSCK_CURRENT, ".quire/current",
			    quire__xasprintf("names %.12s, which does not exist", heads[k]));
		free(path);
		free(heads[k]);
	}
	free(heads);
	char *dbpath = quire__xasprintf("%s/quire.db", qdir);
	int have_db = access(dbpath, F_OK) == 0;
	free(dbpath);
	int db_bad = have_db && check_db(qdir, refs, res, &alloc);
	check_store_dirs(qdir, repair, res, &alloc);
	check_blobs(qdir, repair, refs, res, &alloc);
	check_packed(qdir, repair, refs, res, &alloc);
	/* Referenced and not there: a fresh clone has none of them; not damage. */
	const char *digest;
	json_t *u;
	json_object_foreach(refs, digest, u) {
		if (json_is_true(json_object_get(u, "seen")))
			continue;
		add(res, &alloc, QUIRE_FSCK_BLOB_MISSING, digest, users(refs, digest));
	}
	if (repair && db_bad) {
		if (!(err = move_db_aside(qdir, "quire.db", &res->db_moved_to)) &&
		    !(err = rebuild_db(qdir)))
			for (size_t k = 0; k < res->n; k++)
				if (res->v[k].kind == QUIRE_FSCK_DATABASE)
					res->v[k].repaired = 1;
	} else if (repair && !have_db && nrevs > 0) {
		/* A fresh clone: the database is a cache of the revisions; make it now. */
		err = rebuild_db(qdir);
		res->db_rebuilt = !err;
	}
	res->db_rebuilt |= res->db_moved_to != NULL && !err;
	for (size_t k = 0; k < res->n; k++) {
		if (res->v[k].repaired < 0)
			res->v[k].repaired = 0; /* not mendable here (a newer quire's database) */
		if (res->v[k].kind != QUIRE_FSCK_BLOB_MISSING && !res->v[k].repaired)
			res->unrepaired++;
	}
	for (size_t n = 0; n < nrevs; n++)
		free(revs[n]);
	free(revs);
out:
	json_decref(refs);
	quire_lock_release(lock);
	free(qdir);
	return err;
}

void quire_fsck_result_release(struct quire_fsck_result *res)
{
	for (size_t k = 0; k < res->n; k++) {
		free(res->v[k].subject);
		free(res->v[k].detail);
	}
	free(res->v);
	free(res->db_moved_to);
	memset(res, 0, sizeof(*res));
}
