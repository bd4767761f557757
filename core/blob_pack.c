/* Small blobs packed in one SQLite file, .quire/blobs/pack.db: a prompt snapshot or a short
 * output would otherwise take a 4 KiB block and an inode of its own (a 10k build stored
 * 5.8 MB of content in 83 MiB). The pack is a cache of content like the files beside it:
 * each blob is verified by its digest when read, and git never sees it. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob_pack.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "util.h"

/* One connection per process, for the project it was opened on (tests open several, one at
 * a time), shared by the run's workers under mu. */
static struct {
	pthread_mutex_t mu;
	char *qdir, *path;
	dev_t dev;
	ino_t ino;
	sqlite3 *db;
	sqlite3_stmt *has, *get, *add, *set, *del;
	int exit_hook;
	int readonly; /* opened for reading only: a write reopens it */
	int batch;    /* writes gather in one transaction until quire__pack_commit */
	int in_txn;   /* that transaction is open */
	unsigned txn_puts;
	struct pend { /* the batch's puts, until committed */
		unsigned char key[32];
		void *data;
		size_t len;
		int replace;
	} * pend;
	size_t npend, cappend;
} P = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Removals bump "removed" from a trigger, so any client's (sqlite3 by hand too): a plan that
 * found a set of blobs here may trust them while it is unchanged (quire_blob_set). "id" is
 * random, drawn when the pack is made: a pack removed and made again (its inode number
 * reused) is another pack. */
/* One transaction, "id" last: has_schema takes a pack with an id for a whole one (a kill
 * between the statements left the trigger out, for good). */
static const char schema_sql[] =
	"PRAGMA journal_mode=WAL;"
	"BEGIN IMMEDIATE;"
	"CREATE TABLE IF NOT EXISTS blob(id INTEGER PRIMARY KEY, d BLOB NOT NULL UNIQUE,"
	" data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES('format', 1);"
	"INSERT OR IGNORE INTO meta VALUES('removed', 0);"
	"CREATE TRIGGER IF NOT EXISTS blob_removed AFTER DELETE ON blob BEGIN"
	" UPDATE meta SET v = v + 1 WHERE k = 'removed'; END;"
	"INSERT OR IGNORE INTO meta VALUES('id', random());"
	"COMMIT;";

/* The 32 bytes of a digest ("sha256:" and 64 lower-case hex digits); 0 when it is not one. */
static int key_of(const char *digest, unsigned char out[32])
{
	return !strncmp(digest, "sha256:", 7) && strlen(digest) == 71 &&
	       quire_hex_bytes(digest + 7, out);
}

static int commit_locked(void);
static void drop_batch(void);

static void close_locked(void)
{
	if (P.db && commit_locked())
		quire_error_clear();
	/* Whatever could not be committed belongs to this connection's project only. */
	if (P.db && P.in_txn)
		sqlite3_exec(P.db, "ROLLBACK", NULL, NULL, NULL);
	P.in_txn = 0;
	drop_batch();
	sqlite3_stmt **st[] = { &P.has, &P.get, &P.add, &P.set, &P.del };
	for (size_t k = 0; k < sizeof(st) / sizeof(st[0]); k++) {
		sqlite3_finalize(*st[k]);
		*st[k] = NULL;
	}
	if (P.db)
		sqlite3_close(P.db);
	P.db = NULL;
	free(P.qdir);
	free(P.path);
	P.qdir = P.path = NULL;
}

void quire__pack_close(void)
{
	pthread_mutex_lock(&P.mu);
	close_locked();
	pthread_mutex_unlock(&P.mu);
}

/* QUIRE_ECORRUPT when SQLite found the file damaged (not a database, a broken page),
 * QUIRE_ENOSPC for a full disk, else QUIRE_EIO (permissions: the bytes may be whole). */
static int db_code(void)
{
	int rc = P.db ? sqlite3_errcode(P.db) & 0xff : SQLITE_NOMEM;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? QUIRE_ECORRUPT
	       : rc == SQLITE_FULL			   ? QUIRE_ENOSPC
							   : QUIRE_EIO;
}

static int db_error(const char *what, const char *path)
{
	return quire_error_set(db_code(), "cannot %s '%s': %s", what, path,
			       P.db ? sqlite3_errmsg(P.db) : "out of memory");
}

/* One put: SQLite's result code. */
static int exec_put(const unsigned char key[32], const void *data, size_t len, int replace)
{
	sqlite3_stmt *st = replace ? P.set : P.add;
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, key, 32, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, len ? data : "", (int)len, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static void drop_batch(void)
{
	for (size_t i = 0; i < P.npend; i++)
		free(P.pend[i].data);
	P.npend = 0;
	P.txn_puts = 0;
}

/* Begins the batch's transaction (under mu); one SQLite rolled back (a full disk may) is
 * begun again with every put it held, kept for that. */
static int begin_locked(void)
{
	if (P.in_txn)
		return 0;
	if (sqlite3_exec(P.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return quire_error_set(db_code(), "cannot write '.quire/blobs/pack.db': %s",
				       sqlite3_errmsg(P.db));
	P.in_txn = 1;
	for (size_t i = 0; i < P.npend; i++) {
		if (exec_put(P.pend[i].key, P.pend[i].data, P.pend[i].len, P.pend[i].replace) ==
		    SQLITE_DONE)
			continue;
		int err = quire_error_set(db_code(),
					  "cannot store blobs in '.quire/blobs/pack.db': %s",
					  sqlite3_errmsg(P.db));
		sqlite3_exec(P.db, "ROLLBACK", NULL, NULL, NULL);
		P.in_txn = 0;
		return err;
	}
	return 0;
}

/* Commits the open batch (under mu). A batch that could not be committed (a full disk) is
 * kept whole, in memory, and committed by the next try: the run gives back its reserve and
 * tries again, and nothing names the blobs before they are in. */
static int commit_locked(void)
{
	if (!P.in_txn && !P.npend)
		return 0;
	int err = begin_locked();
	if (!err && sqlite3_exec(P.db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		P.in_txn = 0;
		drop_batch();
		return 0;
	}
	if (!err)
		err = quire_error_set(db_code(), "cannot store blobs in '.quire/blobs/pack.db': %s",
				      sqlite3_errmsg(P.db));
	if (sqlite3_get_autocommit(P.db))
		P.in_txn = 0; /* rolled back: begin_locked puts the batch in again */
	return err;
}

int quire__pack_commit(void)
{
	pthread_mutex_lock(&P.mu);
	int err = P.db ? commit_locked() : 0;
	pthread_mutex_unlock(&P.mu);
	return err;
}

void quire__pack_batch(int on)
{
	pthread_mutex_lock(&P.mu);
	P.batch = on;
	/* Each put of a run that went on was committed before the events naming it; one that
	 * failed left an error of its own, which this must not replace. */
	if (!on && P.db) {
		char *keep = quire__xstrdup(quire_error_last());
		int code = quire_error_code();
		if (commit_locked()) {
			/* What was left names nothing (its events were not committed). */
			if (keep[0])
				quire_error_set(code, "%s", keep);
			else
				quire_error_clear();
		}
		free(keep);
		drop_batch();
		if (P.in_txn)
			sqlite3_exec(P.db, "ROLLBACK", NULL, NULL, NULL);
		P.in_txn = 0;
	}
	pthread_mutex_unlock(&P.mu);
}

static int prepare(sqlite3_stmt **st, const char *sql)
{
	return sqlite3_prepare_v3(P.db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* 1 when the pack has its tables and id: opening it then writes nothing (the schema's
 * statements take the write lock, which another process may hold for a while). */
static int has_schema(void)
{
	sqlite3_stmt *q = NULL;
	int ok = sqlite3_prepare_v2(P.db,
				    "SELECT v FROM meta WHERE k = 'id' AND EXISTS (SELECT 1 FROM "
				    "sqlite_master WHERE name = 'blob_removed')",
				    -1, &q, NULL) == SQLITE_OK &&
		 sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return ok;
}

/* The connection for qdir (under mu): 0 with P.db set; 0 with P.db NULL when there is no
 * pack yet and create is 0; an error otherwise. */
static int open_locked(const char *qdir, int create)
{
	/* A relative qdir names another store after a chdir (tests move between projects):
	 * the file's identity is checked then. */
	struct stat now;
	if (P.db && !strcmp(P.qdir, qdir) && !(create && P.readonly) &&
	    (qdir[0] == '/' ||
	     (stat(P.path, &now) == 0 && now.st_ino == P.ino && now.st_dev == P.dev)))
		return 0;
	close_locked();
	char *path = quire__xasprintf("%s/blobs/pack.db", qdir);
	int err = 0;
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (!create)
			goto out;
		char *dir = quire__xasprintf("%s/blobs", qdir);
		err = quire_fs_mkdirs(dir, 0755);
		free(dir);
		if (err)
			goto out;
	} else if (!S_ISREG(st.st_mode)) {
		err = quire_error_set(QUIRE_ECORRUPT,
				      "'.quire/blobs/pack.db' is not a file (a link?): the store "
				      "must be inside the project; 'quire fsck --repair' mends it");
		goto out;
	}
	/* A store this user cannot write (its directory read-only) is still read. With a WAL
	 * beside the pack (a writer killed or still running: committed blobs may be only
	 * there) it is opened read-only, which reads the WAL; without one, immutable (SQLite
	 * could not make the WAL's shared-memory file, and there is nothing to read there).
	 * Storing then fails, naming the pack. */
	char *dir = quire__xasprintf("%s/blobs", qdir);
	char *wal = quire__xasprintf("%s-wal", path);
	int ro = !create && (access(path, W_OK) != 0 || access(dir, W_OK) != 0);
	char *uri = !ro			     ? NULL
		    : access(wal, F_OK) == 0 ? quire__xasprintf("file:%s?mode=ro", path)
					     : quire__xasprintf("file:%s?immutable=1", path);
	free(dir);
	free(wal);
	int flags = (ro ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI : SQLITE_OPEN_READWRITE) |
		    SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(ro ? uri : path, &P.db, flags, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		err = db_error("open the blob pack", path);
		goto fail;
	}
	sqlite3_busy_timeout(P.db, 10000);
	/* Durable at the next file system sync, which every commit makes before its revision
	 * names a blob (as for blob files): the WAL's frames carry checksums, so a power loss
	 * keeps a prefix of whole transactions. */
	if (!ro &&
	    (sqlite3_exec(P.db, "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
	     (!has_schema() && sqlite3_exec(P.db, schema_sql, NULL, NULL, NULL) != SQLITE_OK))) {
		err = db_error("set up the blob pack", path);
		goto fail;
	}
	P.readonly = ro;
	if (prepare(&P.has, "SELECT 1 FROM blob WHERE d = ?1") ||
	    prepare(&P.get, "SELECT data FROM blob WHERE d = ?1") ||
	    prepare(&P.add, "INSERT OR IGNORE INTO blob(d, data) VALUES(?1, ?2)") ||
	    prepare(&P.set, "INSERT INTO blob(d, data) VALUES(?1, ?2) "
			    "ON CONFLICT(d) DO UPDATE SET data = excluded.data") ||
	    prepare(&P.del, "DELETE FROM blob WHERE d = ?1")) {
		err = db_error("read the blob pack", path);
		goto fail;
	}
	P.qdir = quire__xstrdup(qdir);
	P.path = quire__xstrdup(path);
	if (stat(path, &st) == 0) {
		P.dev = st.st_dev;
		P.ino = st.st_ino;
	}
	if (!P.exit_hook) {
		/* The last connection's close folds the WAL into the file and removes it. */
		P.exit_hook = 1;
		atexit(quire__pack_close);
	}
	goto out;
fail:
	close_locked();
out:
	free(path);
	return err;
}

/* Runs st (its key bound to digest's bytes) under mu: SQLITE_ROW, SQLITE_DONE or an error;
 * a missing pack answers SQLITE_DONE (nothing there). */
static int step_key(const char *qdir, sqlite3_stmt **which, const char *digest, int create)
{
	unsigned char key[32];
	if (!key_of(digest, key))
		return SQLITE_DONE;
	if (open_locked(qdir, create))
		return SQLITE_ERROR;
	if (!P.db)
		return SQLITE_DONE;
	/* Puts of a batch SQLite rolled back are put in again before they are looked for. */
	if (P.batch && P.npend && !P.in_txn && !P.readonly && begin_locked())
		quire_error_clear(); /* the commit meets it again */
	sqlite3_stmt *st = *which;
	sqlite3_reset(st);
	sqlite3_bind_blob(st, 1, key, 32, SQLITE_TRANSIENT);
	return sqlite3_step(st);
}

/* The error of a keyed statement that did not run to its end (under mu): SQLite's, or the
 * one open_locked set when there is no connection. */
static int step_error(const char *what, const char *digest)
{
	if (!P.db)
		return quire_error_code() ? quire_error_code() : QUIRE_EIO;
	return quire_error_set(db_code(), "cannot %s blob %s in '.quire/blobs/pack.db': %s", what,
			       digest, sqlite3_errmsg(P.db));
}

int quire__pack_has(const char *qdir, const char *digest)
{
	pthread_mutex_lock(&P.mu);
	int rc = step_key(qdir, &P.has, digest, 0);
	if (rc == SQLITE_ERROR)
		quire_error_clear(); /* unreadable answers "not here": the file beside is asked */
	if (P.has)
		sqlite3_reset(P.has);
	pthread_mutex_unlock(&P.mu);
	return rc == SQLITE_ROW;
}

int quire__pack_get(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    size_t *len)
{
	pthread_mutex_lock(&P.mu);
	int rc = step_key(qdir, &P.get, digest, 0), err = 0;
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(P.get, 0);
		const void *data = sqlite3_column_blob(P.get, 0);
		*len = n;
		if (cap && n > cap)
			err = quire_error_set(QUIRE_EINVALID, "blob %s is larger than %zu bytes",
					      digest, cap);
		else
			err = quire_buf_add(buf, data ? data : "", n);
	} else if (rc == SQLITE_DONE) {
		err = QUIRE_ENOTFOUND; /* no message: the caller looks for the file next */
	} else {
		err = step_error("read", digest);
	}
	if (P.get)
		sqlite3_reset(P.get);
	pthread_mutex_unlock(&P.mu);
	return err;
}

/* Under P.mu: one read transaction for a group of reads (a statement outside a transaction
 * takes SQLite's locks and gives them back, two system calls each): 1 when begun here. */
static int read_begin_locked(const char *qdir)
{
	int began = 0;
	if (open_locked(qdir, 0) == 0 && P.db) {
		/* A batch SQLite rolled back is put in again first (as step_key would). */
		if (P.batch && P.npend && !P.in_txn && !P.readonly && begin_locked())
			quire_error_clear();
		/* Not while such a batch could not be put in again: each read tries again. */
		int retrying = P.batch && P.npend && !P.in_txn && !P.readonly;
		if (!retrying && sqlite3_get_autocommit(P.db) &&
		    sqlite3_exec(P.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
			began = 1;
	}
	quire_error_clear();
	return began;
}

static void read_end_locked(int began)
{
	/* A read transaction left open would keep every later write out of this connection. */
	if (began && sqlite3_exec(P.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(P.db, "ROLLBACK", NULL, NULL, NULL);
}

void quire__pack_get_many(const char *qdir, const char *const *digests, size_t n, size_t cap,
			  struct quire_buf *const *bufs, int *errs)
{
	pthread_mutex_lock(&P.mu);
	int began = read_begin_locked(qdir);
	for (size_t k = 0; k < n; k++) {
		int rc = step_key(qdir, &P.get, digests[k], 0);
		if (rc == SQLITE_ROW) {
			size_t len = (size_t)sqlite3_column_bytes(P.get, 0);
			const void *data = sqlite3_column_blob(P.get, 0);
			errs[k] = cap && len > cap ? QUIRE_EINVALID
						   : quire_buf_add(bufs[k], data ? data : "", len);
		} else {
			errs[k] = rc == SQLITE_DONE ? QUIRE_ENOTFOUND : QUIRE_EIO;
		}
		if (P.get)
			sqlite3_reset(P.get);
	}
	read_end_locked(began);
	pthread_mutex_unlock(&P.mu);
}

void quire__pack_has_many(const char *qdir, const char *const *digests, size_t n,
			  unsigned char *has)
{
	pthread_mutex_lock(&P.mu);
	int began = read_begin_locked(qdir);
	for (size_t k = 0; k < n; k++) {
		has[k] = digests[k] && step_key(qdir, &P.has, digests[k], 0) == SQLITE_ROW;
		if (P.has)
			sqlite3_reset(P.has);
	}
	quire_error_clear(); /* unreadable answers "not here": the files beside are asked */
	read_end_locked(began);
	pthread_mutex_unlock(&P.mu);
}

int quire__pack_put(const char *qdir, const char *digest, const void *data, size_t len, int replace)
{
	unsigned char key[32];
	if (!key_of(digest, key))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	pthread_mutex_lock(&P.mu);
	int err = open_locked(qdir, 1);
	/* In a run, puts gather in one transaction that the run commits before the events
	 * naming them (quire_store_commit): a transaction per blob wrote a page per blob and
	 * doubled a mock run's time. */
	if (!err && P.batch)
		err = begin_locked();
	if (!err) {
		int rc = exec_put(key, data, len, replace);
		if (rc == SQLITE_DONE && P.batch) {
			/* Kept until committed: begin_locked puts it in again after a rollback. */
			QUIRE_GROW(P.pend, P.cappend, P.npend + 1);
			struct pend *e = &P.pend[P.npend++];
			memcpy(e->key, key, 32);
			e->data = quire__xmalloc(len + 1);
			memcpy(e->data, data, len);
			e->len = len;
			e->replace = replace;
		}
		if (rc != SQLITE_DONE) {
			err = quire_error_set(rc == SQLITE_FULL ? QUIRE_ENOSPC : db_code(),
					      "cannot store blob %s in '.quire/blobs/pack.db': %s",
					      digest, sqlite3_errmsg(P.db));
			if (P.in_txn && sqlite3_get_autocommit(P.db))
				P.in_txn = 0; /* rolled back: the batch is put in again */
		}
		if (!err && P.in_txn && ++P.txn_puts >= 4096)
			err = commit_locked(); /* a bounded WAL between the run's commits */
	}
	pthread_mutex_unlock(&P.mu);
	return err;
}

int quire__pack_remove(const char *qdir, const char *digest)
{
	pthread_mutex_lock(&P.mu);
	int rc = step_key(qdir, &P.del, digest, 0);
	int err = rc == SQLITE_DONE ? 0 : step_error("remove", digest);
	if (P.del)
		sqlite3_reset(P.del);
	pthread_mutex_unlock(&P.mu);
	return err;
}

int quire__pack_has_file(const char *qdir)
{
	char *path = quire__xasprintf("%s/blobs/pack.db", qdir);
	int r = access(path, F_OK) == 0;
	free(path);
	return r;
}

int quire__pack_identity(const char *qdir, int64_t *id, int64_t *removed)
{
	*id = 0;
	*removed = 0;
	pthread_mutex_lock(&P.mu);
	int err = open_locked(qdir, 0);
	if (!err && P.db) {
		sqlite3_stmt *q = NULL;
		if (sqlite3_prepare_v2(P.db,
				       "SELECT (SELECT v FROM meta WHERE k = 'id'),"
				       " (SELECT v FROM meta WHERE k = 'removed')",
				       -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER &&
		    sqlite3_column_type(q, 1) == SQLITE_INTEGER) {
			*id = sqlite3_column_int64(q, 0);
			*removed = sqlite3_column_int64(q, 1);
		} else {
			err = QUIRE_EIO;
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&P.mu);
	if (err)
		quire_error_clear();
	return err ? -1 : 0;
}

int quire__pack_each(const char *qdir, int with_data,
		     int (*fn)(const char *digest, const void *data, size_t len, void *arg),
		     void *arg)
{
	pthread_mutex_lock(&P.mu);
	int err = open_locked(qdir, 0);
	sqlite3_stmt *q = NULL;
	if (!err && P.db &&
	    sqlite3_prepare_v2(P.db, "SELECT d, length(data) FROM blob ORDER BY id", -1, &q,
			       NULL) != SQLITE_OK)
		err = quire_error_set(db_code(), "cannot read '.quire/blobs/pack.db': %s",
				      sqlite3_errmsg(P.db));
	/* The rows' names are listed first (fn may remove or add blobs, which takes mu), and
	 * each one's bytes read only when its turn comes: memory for names, not contents. */
	struct row {
		char digest[72];
		size_t len;
	} *rows = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_DONE;
	while (q && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *k = sqlite3_column_blob(q, 0);
		if (sqlite3_column_bytes(q, 0) != 32 || !k)
			continue; /* not a key quire wrote: no digest to name */
		QUIRE_GROW(rows, cap, n + 1);
		struct row *r = &rows[n++];
		memcpy(r->digest, "sha256:", 7);
		for (int i = 0; i < 32; i++)
			snprintf(r->digest + 7 + 2 * i, 3, "%02x", k[i]);
		r->len = (size_t)sqlite3_column_int64(q, 1);
	}
	if (q && rc != SQLITE_DONE && !err)
		err = quire_error_set(db_code(), "cannot read '.quire/blobs/pack.db': %s",
				      sqlite3_errmsg(P.db));
	sqlite3_finalize(q);
	pthread_mutex_unlock(&P.mu);
	/* The rows read before a damaged page are still answered for. */
	int cb = 0;
	struct quire_buf b = QUIRE_BUF_INIT;
	for (size_t i = 0; i < n && !cb; i++) {
		size_t len = rows[i].len;
		quire_buf_reset(&b);
		if (with_data) {
			int e = quire__pack_get(qdir, rows[i].digest, &b, 0, &len);
			if (e == QUIRE_ENOTFOUND)
				continue; /* gone since it was listed */
			if (e) {
				cb = e;
				break;
			}
		}
		cb = fn(rows[i].digest, with_data ? (b.ptr ? b.ptr : "") : NULL, len, arg);
	}
	quire_buf_release(&b);
	free(rows);
	if (cb && !err)
		err = cb;
	return err;
}

int quire__pack_vacuum(const char *qdir)
{
	pthread_mutex_lock(&P.mu);
	int err = open_locked(qdir, 0);
	if (!err && P.db &&
	    (sqlite3_exec(P.db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL) !=
	     SQLITE_OK))
		err = quire_error_set(db_code(), "cannot compact '.quire/blobs/pack.db': %s",
				      sqlite3_errmsg(P.db));
	pthread_mutex_unlock(&P.mu);
	return err;
}
