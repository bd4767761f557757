/* SQLite-backed project database: schema migrations, events, runs, stat and action caches. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "json.h"
#include "quire/store.h"
#include "stat_cache.h"
#include "util.h"
#include "blob_pack.h"
#include "event.h"

struct quire_store {
	sqlite3 *db;
	int readonly;
	sqlite3_stmt *ins_event, *ac_get, *ac_put;
	char *qdir;
	/* The stat cache (.quire/runs/stat-cache): see stat_cache.c. (It was a table of
	 * quire.db: stepping through 20,000 rows took 11-18 ms, the largest part of a 10k
	 * no-op plan.) */
	struct quire__statcache sc;
};

/* Forward-only migrations: entry N upgrades schema N to N+1. Never edit a shipped entry. */
static const char *const migrations[] = {
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY, rev TEXT NOT NULL, parent TEXT, command TEXT,"
	"  started_ns INTEGER NOT NULL, finished_ns INTEGER, state TEXT NOT NULL);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL, time_ns INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, subject TEXT, data TEXT);"
	"CREATE INDEX events_run ON events(run, seq);"
	"CREATE TABLE stat_cache ("
	"  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, digest TEXT,"
	"  recorded_ns INTEGER);"
	"CREATE TABLE action_cache ("
	"  fingerprint TEXT PRIMARY KEY, result TEXT NOT NULL, created_ns INTEGER);",
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

/* A full disk is told apart (the runner makes room and records what finished), and so is a
 * damaged file (fsck rebuilds it). */
static int db_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return QUIRE_ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return QUIRE_ECORRUPT;
	default:
		return QUIRE_EIO;
	}
}

#define DAMAGED_HINT                                                                               \
	" (.quire/quire.db is damaged: 'quire fsck --repair' rebuilds it from the committed "      \
	"revisions)"

static int db_error(struct quire_store *s, const char *what)
{
	int code = db_code(sqlite3_extended_errcode(s->db));
	return quire_error_set(code, "database: %s: %s%s", what, sqlite3_errmsg(s->db),
			       code == QUIRE_ECORRUPT ? DAMAGED_HINT : "");
}

static int exec(struct quire_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int err = quire_error_set(db_code(rc), "database: %s%s", msg ? msg : "error",
					  db_code(rc) == QUIRE_ECORRUPT ? DAMAGED_HINT : "");
		sqlite3_free(msg);
		return err;
	}
	return 0;
}

/* Quiet: it follows a failure whose message is the one to keep (after a failed COMMIT,
 * SQLite may have rolled back already and would only say no transaction is active). */
static void rollback(struct quire_store *s)
{
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int user_version(struct quire_store *s, int *version)
{
	sqlite3_stmt *st;
	*version = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading schema version");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_error(s, "reading schema version");
}

static int migrate(struct quire_store *s)
{
	int version = 0, err = user_version(s, &version);
	if (err)
		return err;
	int known = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > known)
		return quire_error_set(
			QUIRE_ENEWER,
			"database schema %d is newer than this quire knows (%d): upgrade quire",
			version, known);
	if (version == known || s->readonly)
		return 0;
	err = exec(s, "BEGIN IMMEDIATE");
	for (int v = version; !err && v < known; v++) {
		char pragma[64];
		err = exec(s, migrations[v]);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (!err)
			err = exec(s, pragma);
	}
	if (err) {
		rollback(s);
		return err;
	}
	return exec(s, "COMMIT");
}

static int prepare(struct quire_store *s, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_error(s, "preparing statement");
	return 0;
}

int quire_store_open(struct quire_store **out, const char *qdir, int readonly)
{
	*out = NULL;
	struct quire_store *s = quire__xcalloc(1, sizeof(*s));
	s->readonly = readonly;
	s->qdir = quire__xstrdup(qdir);
	s->sc.qdir = s->qdir;
	char *path = quire__xasprintf("%s/quire.db", qdir);
	int err = 0;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (readonly && access(path, F_OK) != 0) {
		/* Nothing recorded yet: an empty in-memory store answers every lookup with a miss.
		 */
		free(path);
		path = quire__xstrdup(":memory:");
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY;
		s->readonly = 0;
	}
	if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		err = quire_error_set(QUIRE_EIO, "cannot open database '%s': %s", path,
				      s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (!readonly && (err = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")))
		goto out;
	err = migrate(s);
	if (err && readonly && (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_READONLY &&
	    access(path, W_OK) == 0) {
		/* A writer was killed with a transaction in its journal (or its WAL not yet
		 * indexed): only a writable connection may roll it back or recover it, which
		 * changes nothing that was committed. Reading then goes on as asked. */
		sqlite3_close(s->db);
		s->db = NULL;
		quire_error_clear();
		if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				    NULL) != SQLITE_OK) {
			err = quire_error_set(QUIRE_EIO, "cannot open database '%s': %s", path,
					      s->db ? sqlite3_errmsg(s->db) : "out of memory");
			goto out;
		}
		sqlite3_busy_timeout(s->db, 5000);
		err = migrate(s);
	}
	int version = 0;
	if (!err && readonly && strcmp(path, ":memory:") && !(err = user_version(s, &version)) &&
	    version == 0) {
		/* A database never set up (its first writer was killed creating it): as if there
		 * were none, without creating its tables here (the next writer does, versioned). */
		sqlite3_close(s->db);
		s->db = NULL;
		if (sqlite3_open_v2(":memory:", &s->db,
				    SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY |
					    SQLITE_OPEN_NOMUTEX,
				    NULL) != SQLITE_OK) {
			err = quire_error_set(QUIRE_EIO, "cannot open an in-memory database");
			goto out;
		}
	}
	if (err)
		goto out;
	s->readonly = readonly;
	if (!readonly) {
		if ((err = prepare(s, &s->ins_event,
				   "INSERT INTO events(run, time_ns, kind, subject, data) VALUES "
				   "(?,?,?,?,?)")) ||
		    (err = prepare(s, &s->ac_put,
				   "INSERT OR REPLACE INTO action_cache(fingerprint, result, "
				   "created_ns) VALUES (?,?,?)")))
			goto out;
	}
	int have_tables = 1;
	sqlite3_stmt *chk;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE name='stat_cache'", -1,
			       &chk, NULL) == SQLITE_OK) {
		have_tables = sqlite3_step(chk) == SQLITE_ROW;
		sqlite3_finalize(chk);
	}
	if (!have_tables) {
		/* A read-only open of an in-memory store: create the tables so lookups just miss.
		 */
		for (size_t v = 0; v < sizeof(migrations) / sizeof(migrations[0]); v++)
			if ((err = exec(s, migrations[v])))
				goto out;
	}
	if ((err = prepare(s, &s->ac_get, "SELECT result FROM action_cache WHERE fingerprint = ?")))
		goto out;
out:
	free(path);
	if (err) {
		quire_store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void quire_store_close(struct quire_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ac_get);
	sqlite3_finalize(s->ac_put);
	sqlite3_close(s->db);
	quire__statcache_release(&s->sc, !s->readonly);
	free(s->qdir);
	free(s);
}

void quire_store_small_cache(struct quire_store *s)
{
	/* Read forwards once: a few pages are all it needs (the default is 2 MB). */
	if (exec(s, "PRAGMA cache_size = -128"))
		quire_error_clear();
}

int quire_store_readonly(const struct quire_store *s)
{
	return s->readonly;
}

int quire_store_begin(struct quire_store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int quire_store_commit(struct quire_store *s)
{
	/* Events name blobs: the blobs a run gathered in the pack's transaction go first. */
	int err = quire__pack_commit();
	return err ? err : exec(s, "COMMIT");
}

int quire_store_rollback(struct quire_store *s)
{
	rollback(s);
	return 0;
}

static int step_done(struct quire_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(s, what);
	return 0;
}

int quire_store_event(struct quire_store *s, int64_t run, const char *kind, const char *subject,
		      const json_t *data)
{
	if (data && json_is_null(data))
		data = NULL;
	char *js = data ? quire_json_canonical(data) : NULL;
	if (data && !js)
		return QUIRE_EINVALID;
	int err = quire_store_event_text(s, run, kind, subject, js);
	free(js);
	return err;
}

int quire_store_event_text(struct quire_store *s, int64_t run, const char *kind,
			   const char *subject, const char *js)
{
	sqlite3_stmt *st = s->ins_event;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, quire__now_ns());
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (subject)
		sqlite3_bind_text(st, 4, subject, -1, SQLITE_STATIC);
	if (js)
		sqlite3_bind_text(st, 5, js, -1, SQLITE_STATIC);
	return step_done(s, st, "recording an event");
}

int quire_store_events_text(struct quire_store *s, int64_t run, quire_event_text_cb cb, void *ctx)
{
	return quire_store_events_text_after(s, run, 0, cb, ctx);
}

int quire_store_events_text_after(struct quire_store *s, int64_t run, int64_t after,
				  quire_event_text_cb cb, void *ctx)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT seq, time_ns, kind, subject, data FROM events WHERE run = ? "
			       "AND seq > ? ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading events");
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, after);
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *data = (const char *)sqlite3_column_text(st, 4);
		size_t len = data ? (size_t)sqlite3_column_bytes(st, 4) : 0;
		ret = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			 (const char *)sqlite3_column_text(st, 2),
			 (const char *)sqlite3_column_text(st, 3), data, len);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(s, "reading events");
	sqlite3_finalize(st);
	return ret;
}

struct parsed_events {
	quire_event_cb cb;
	void *ctx;
};

static int parse_event(void *ctx, int64_t seq, int64_t time_ns, const char *kind,
		       const char *subject, const char *text, size_t len)
{
	struct parsed_events *pe = ctx;
	json_t *d = NULL;
	if (text && !(d = json_loadb(text, len, JSON_DECODE_ANY, NULL)))
		return quire_error_set(QUIRE_ECORRUPT, "database: event %lld has invalid data",
				       (long long)seq);
	int ret = pe->cb(pe->ctx, seq, time_ns, kind, subject, d);
	json_decref(d);
	return ret;
}

int quire_store_events(struct quire_store *s, int64_t run, quire_event_cb cb, void *ctx)
{
	struct parsed_events pe = { cb, ctx };
	return quire_store_events_text(s, run, parse_event, &pe);
}

int quire_store_run_start_in(struct quire_store *s, const char *rev, const char *parent,
			     const char *command, const char *start, int64_t *run_id)
{
	sqlite3_stmt *st;
	int err = 0;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO runs(rev, parent, command, started_ns, state) VALUES "
			       "(?,?,?,?,'running')",
			       -1, &st, NULL) != SQLITE_OK) {
		err = db_error(s, "recording a run");
		goto out;
	}
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	if (parent)
		sqlite3_bind_text(st, 2, parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, command ? command : "run", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, quire__now_ns());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = db_error(s, "recording a run");
		goto out;
	}
	int64_t id = sqlite3_last_insert_rowid(s->db);
	if (!(err = quire_store_event_text(s, id, quire_ev_name(QUIRE_EV_RUN_START), NULL, start)))
		*run_id = id;
out:
	return err;
}

int quire_store_run_start(struct quire_store *s, const char *rev, const char *parent,
			  const char *command, const char *start, int64_t *run_id)
{
	/* The run's row and its start event are one transaction: a kill between two commits
	 * left a run that recovery could never commit. */
	int err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	if (!(err = quire_store_run_start_in(s, rev, parent, command, start, run_id)))
		err = exec(s, "COMMIT");
	if (err)
		rollback(s);
	return err;
}

int quire_store_run_restore(struct quire_store *s, const char *rev, const char *parent,
			    const char *command, int64_t started_ns)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		    s->db,
		    "INSERT INTO runs(rev, parent, command, started_ns, finished_ns, state) "
		    "VALUES (?,?,?,?,?,'committed')",
		    -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "recording a run");
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	if (parent)
		sqlite3_bind_text(st, 2, parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, command ? command : "run", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, started_ns);
	sqlite3_bind_int64(st, 5, started_ns);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(s, "recording a run");
}

int quire_store_check(struct quire_store *s, char **problem)
{
	*problem = NULL;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "checking the database");
	struct quire_buf b = QUIRE_BUF_INIT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line && strcmp(line, "ok"))
			quire_buf_printf(&b, "%s%s", b.len ? "; " : "", line);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && !b.len)
		quire_buf_puts(&b, sqlite3_errmsg(s->db));
	if (b.len)
		*problem = quire_buf_detach(&b, NULL);
	quire_buf_release(&b);
	return 0;
}

int quire_store_run_has_start(struct quire_store *s, int64_t run)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT 1 FROM events WHERE run = ? AND kind = 'run.start' LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading events");
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_error(s, "reading events");
}

int quire_store_run_name(struct quire_store *s, int64_t run, const char *rev)
{
	sqlite3_stmt *st;
	/* Durable before the manifest takes the name (a power loss then keeps both): WAL with
	 * synchronous=NORMAL syncs only at checkpoints, so this one commit is synced. */
	int err = exec(s, "PRAGMA synchronous=FULL;");
	if (err)
		return err;
	if (sqlite3_prepare_v2(s->db, "UPDATE runs SET rev = ? WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK) {
		err = db_error(s, "naming a run's revision");
		exec(s, "PRAGMA synchronous=NORMAL;");
		return err;
	}
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	err = rc == SQLITE_DONE ? 0 : db_error(s, "naming a run's revision");
	int e2 = exec(s, "PRAGMA synchronous=NORMAL;");
	return err ? err : e2;
}

int quire_store_rename_revisions(struct quire_store *s, const json_t *names)
{
	/* A run still unfinished (killed) is committed from its events by the next command:
	 * its start event names its parent too. */
	static const char *const sql[3] = {
		"UPDATE runs SET rev = ?1 WHERE rev = ?2",
		"UPDATE runs SET parent = ?1 WHERE parent = ?2",
		("UPDATE events SET data = replace(data, '\"' || ?2 || '\"', '\"' || ?1 || '\"') "
		 "WHERE kind = 'run.start' AND run IN (SELECT id FROM runs WHERE state = "
		 "'running')"),
	};
	sqlite3_stmt *st[3] = { NULL, NULL, NULL };
	int err = quire_store_begin(s);
	for (int k = 0; k < 3 && !err; k++)
		if (sqlite3_prepare_v2(s->db, sql[k], -1, &st[k], NULL) != SQLITE_OK)
			err = db_error(s, "renaming the runs' revisions");
	const char *from;
	json_t *to;
	json_object_foreach(err ? NULL : (json_t *)names, from, to) {
		for (int k = 0; k < 3 && !err; k++) {
			sqlite3_reset(st[k]);
			sqlite3_bind_text(st[k], 1, json_string_value(to), -1, SQLITE_STATIC);
			sqlite3_bind_text(st[k], 2, from, -1, SQLITE_STATIC);
			if (sqlite3_step(st[k]) != SQLITE_DONE)
				err = db_error(s, "renaming the runs' revisions");
		}
		if (err)
			break;
	}
	for (int k = 0; k < 3; k++)
		sqlite3_finalize(st[k]);
	if (!err)
		err = quire_store_commit(s);
	else
		quire_store_rollback(s);
	return err;
}

int quire_store_run_finish(struct quire_store *s, int64_t run, const char *state, const char *rev)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE runs SET state = ?, finished_ns = ?, rev = coalesce(?, rev) "
			       "WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "finishing a run");
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, quire__now_ns());
	if (rev)
		sqlite3_bind_text(st, 3, rev, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, run);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(s, "finishing a run");
}

int quire_store_last_committed(struct quire_store *s, const char *const *revs, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT rev FROM runs WHERE state = 'committed' ORDER BY id DESC",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	int found = -1;
	while (found < 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		for (size_t k = 0; r && k < n && found < 0; k++)
			if (!strcmp(r, revs[k]))
				found = (int)k;
	}
	sqlite3_finalize(st);
	return found;
}

int quire_store_unfinished_run(struct quire_store *s, int64_t *run_id, char **rev, char **parent)
{
	sqlite3_stmt *st;
	*run_id = 0;
	*rev = *parent = NULL;
	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT id, rev, parent FROM runs WHERE state = 'running' ORDER BY id LIMIT 1",
		    -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading runs");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*run_id = sqlite3_column_int64(st, 0);
		*rev = quire__xstrdup((const char *)sqlite3_column_text(st, 1));
		const char *p = (const char *)sqlite3_column_text(st, 2);
		*parent = p ? quire__xstrdup(p) : NULL;
	}
	sqlite3_finalize(st);
	return 0;
}

void quire_store_stat_load(struct quire_store *s)
{
	quire__statcache_load(&s->sc);
}

int quire_store_stat_get(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, struct quire_digest *digest)
{
	return quire__statcache_get(&s->sc, path, size, mtime_ns, ino, digest);
}

int quire_store_stat_put_at(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			    int64_t ino, const struct quire_digest *digest, int64_t stat_ns)
{
	if (s->readonly)
		return 0;
	quire__statcache_put(&s->sc, path, size, mtime_ns, ino, digest, stat_ns);
	return 0;
}

int quire_store_stat_put(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, const struct quire_digest *digest)
{
	return quire_store_stat_put_at(s, path, size, mtime_ns, ino, digest, quire__now_ns());
}

int quire_store_ac_get(struct quire_store *s, const char *fingerprint, json_t **out)
{
	sqlite3_stmt *st = s->ac_get;
	*out = NULL;
	sqlite3_bind_text(st, 1, fingerprint, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		*out = r ? json_loads(r, 0, NULL) : NULL;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

int quire_store_ac_put(struct quire_store *s, const char *fingerprint, const json_t *result)
{
	char *js = quire_json_canonical(result);
	if (!js)
		return QUIRE_EINVALID;
	int err = quire_store_ac_put_text(s, fingerprint, js);
	free(js);
	return err;
}

int quire_store_ac_put_text(struct quire_store *s, const char *fingerprint, const char *result)
{
	sqlite3_stmt *st = s->ac_put;
	sqlite3_bind_text(st, 1, fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, result, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, quire__now_ns());
	return step_done(s, st, "updating the action cache");
}

int quire_store_ac_has_digest(struct quire_store *s, const char *digest)
{
	sqlite3_stmt *st;
	/* A scan: asked only for a file in out/ that matches neither its artefact's output nor
	 * any output of the revisions at hand. */
	if (sqlite3_prepare_v2(
		    s->db,
		    "SELECT 1 FROM action_cache WHERE json_extract(result, '$.digest') = ? "
		    "LIMIT 1",
		    -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

int quire_store_ac_digests(struct quire_store *s, void (*cb)(void *ud, const char *digest),
			   void *ud)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT json_extract(result, '$.digest') FROM action_cache",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading the action cache");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 0);
		if (d)
			cb(ud, d);
	}
	sqlite3_finalize(st);
	return 0;
}

int quire_store_meta_get(struct quire_store *s, const char *key, char **value)
{
	sqlite3_stmt *st;
	*value = NULL;
	/* A read-only open of a database from before the table existed: just a miss. */
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		*value = quire__xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int quire_store_meta_put(struct quire_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       value ? "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)"
				     : "DELETE FROM meta WHERE key = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "preparing statement");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(s, "updating the store's settings");
}
