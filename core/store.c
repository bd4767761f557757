/* SQLite-backed project database: schema migrations, events, runs, stat and action caches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quire/error.h"
#include "quire/hash.h"
#include "quire/store.h"
#include "util.h"

/* One stat-cache row held in memory. */
struct srow {
	char *path; /* in the store's arena */
	uint64_t hash;
	int64_t size, mtime_ns, ino, recorded_ns;
	char digest[QUIRE_DIGEST_STRLEN];
};

struct quire_store {
	sqlite3 *db;
	int readonly;
	sqlite3_stmt *ins_event, *stat_put, *ac_get, *ac_put;
	int64_t opened_ns; /* for racy stat entries: see quire_store_stat_get */
	/* The stat cache, read in one query at the first lookup (a query per file was a tenth
	 * of a no-op plan): open addressing on the path, kept in step by quire_store_stat_put. */
	struct srow *rows;   /* dense, in the order recorded */
	size_t nrows, ralloc;
	uint32_t *slots;     /* open addressing on the path: row index + 1, 0 when empty */
	size_t cap;
	int rows_loaded;
	char **arena; /* blocks holding the rows' paths (freed together) */
	size_t narena, arena_used, arena_left;
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

static int db_error(struct quire_store *s, const char *what)
{
	return quire_error_set(QUIRE_EIO, "database: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(struct quire_store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int err = quire_error_set(QUIRE_EIO, "database: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return err;
	}
	return 0;
}

static int migrate(struct quire_store *s)
{
	sqlite3_stmt *st;
	int version = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	int known = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > known)
		return quire_error_set(QUIRE_ECORRUPT,
				       "database schema %d is newer than this quire knows (%d): upgrade quire",
				       version, known);
	if (version == known || s->readonly)
		return 0;
	int err = exec(s, "BEGIN IMMEDIATE");
	for (int v = version; !err && v < known; v++) {
		char pragma[64];
		err = exec(s, migrations[v]);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (!err)
			err = exec(s, pragma);
	}
	if (err) {
		exec(s, "ROLLBACK");
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
	s->opened_ns = quire__now_ns();
	char *path = quire__xasprintf("%s/quire.db", qdir);
	int err = 0;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (readonly && access(path, F_OK) != 0) {
		/* Nothing recorded yet: an empty in-memory store answers every lookup with a miss. */
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
	if ((err = migrate(s)))
		goto out;
	s->readonly = readonly;
	if (!readonly) {
		if ((err = prepare(s, &s->ins_event,
				   "INSERT INTO events(run, time_ns, kind, subject, data) VALUES (?,?,?,?,?)")) ||
		    (err = prepare(s, &s->stat_put,
				   "INSERT OR REPLACE INTO stat_cache(path, size, mtime_ns, ino, digest, recorded_ns)"
				   " VALUES (?,?,?,?,?,?)")) ||
		    (err = prepare(s, &s->ac_put,
				   "INSERT OR REPLACE INTO action_cache(fingerprint, result, created_ns) VALUES (?,?,?)")))
			goto out;
	}
	int have_tables = 1;
	sqlite3_stmt *chk;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE name='stat_cache'", -1, &chk,
			       NULL) == SQLITE_OK) {
		have_tables = sqlite3_step(chk) == SQLITE_ROW;
		sqlite3_finalize(chk);
	}
	if (!have_tables) {
		/* A read-only open of an in-memory store: create the tables so lookups just miss. */
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
	sqlite3_finalize(s->stat_put);
	sqlite3_finalize(s->ac_get);
	sqlite3_finalize(s->ac_put);
	sqlite3_close(s->db);
	for (size_t i = 0; i < s->narena; i++)
		free(s->arena[i]);
	free(s->arena);
	free(s->rows);
	free(s->slots);
	free(s);
}

int quire_store_readonly(const struct quire_store *s)
{
	return s->readonly;
}

int quire_store_begin(struct quire_store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int quire_store_begin_read(struct quire_store *s)
{
	return exec(s, "BEGIN");
}

int quire_store_commit(struct quire_store *s)
{
	return exec(s, "COMMIT");
}

int quire_store_rollback(struct quire_store *s)
{
	return exec(s, "ROLLBACK");
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

int quire_store_events(struct quire_store *s, int64_t run, quire_event_cb cb, void *ctx)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT seq, time_ns, kind, subject, data FROM events WHERE run = ? ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading events");
	sqlite3_bind_int64(st, 1, run);
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *data = (const char *)sqlite3_column_text(st, 4);
		json_t *d = NULL;
		if (data) {
			d = json_loads(data, JSON_DECODE_ANY, NULL);
			if (!d) {
				ret = quire_error_set(QUIRE_ECORRUPT, "database: event %lld has invalid data",
						      (long long)sqlite3_column_int64(st, 0));
				break;
			}
		}
		ret = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			 (const char *)sqlite3_column_text(st, 2),
			 (const char *)sqlite3_column_text(st, 3), d);
		json_decref(d);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(s, "reading events");
	sqlite3_finalize(st);
	return ret;
}

int quire_store_run_start(struct quire_store *s, const char *rev, const char *parent,
			  const char *command, int64_t *run_id)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO runs(rev, parent, command, started_ns, state) VALUES (?,?,?,?,'running')",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "recording a run");
	sqlite3_bind_text(st, 1, rev, -1, SQLITE_STATIC);
	if (parent)
		sqlite3_bind_text(st, 2, parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, command ? command : "run", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, quire__now_ns());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(s, "recording a run");
	*run_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int quire_store_run_finish(struct quire_store *s, int64_t run, const char *state)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "UPDATE runs SET state = ?, finished_ns = ? WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return db_error(s, "finishing a run");
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, quire__now_ns());
	sqlite3_bind_int64(st, 3, run);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(s, "finishing a run");
}

int quire_store_unfinished_run(struct quire_store *s, int64_t *run_id, char **rev, char **parent)
{
	sqlite3_stmt *st;
	*run_id = 0;
	*rev = *parent = NULL;
	if (sqlite3_prepare_v2(s->db,
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

int quire_store_max_rev(struct quire_store *s, long *out)
{
	sqlite3_stmt *st;
	*out = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT rev FROM runs", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, "reading runs");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		long n = r && !strncmp(r, "rev-", 4) ? strtol(r + 4, NULL, 10) : 0;
		if (n > *out)
			*out = n;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Entries recorded within this window of the file's mtime cannot be trusted: the file may have
 * been rewritten in the same timestamp tick after we hashed it (git's "racy clean" problem). */
#define RACY_WINDOW_NS 2000000000LL

static uint64_t path_hash(const char *p)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* The slot holding path (of hash h), or the empty slot where it belongs. The table holds
 * 4-byte row numbers, so at 200,000 rows it is 2 MB, not 58 MB of full rows. */
static uint32_t *row_slot(struct quire_store *s, const char *path, uint64_t h)
{
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t k = s->slots[i];
		if (!k || (s->rows[k - 1].hash == h && !strcmp(s->rows[k - 1].path, path)))
			return &s->slots[i];
	}
}

/* A copy of path in the arena: one allocation per 64 KiB of paths, not one per row. */
static char *arena_strdup(struct quire_store *s, const char *path)
{
	size_t n = strlen(path) + 1;
	if (n > s->arena_left) {
		size_t sz = n > 65536 ? n : 65536;
		s->arena = quire__xrealloc(s->arena, (s->narena + 1) * sizeof(*s->arena));
		s->arena[s->narena++] = quire__xmalloc(sz);
		s->arena_used = 0;
		s->arena_left = sz;
	}
	char *d = s->arena[s->narena - 1] + s->arena_used;
	memcpy(d, path, n);
	s->arena_used += n;
	s->arena_left -= n;
	return d;
}

/* Makes room for n rows at a load factor of at most one half. */
static void rows_reserve(struct quire_store *s, size_t n)
{
	if (n > s->ralloc) {
		s->ralloc = n > 2 * s->ralloc ? n : 2 * s->ralloc;
		s->rows = quire__xrealloc(s->rows, s->ralloc * sizeof(*s->rows));
	}
	if (n * 2 <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 1024;
	while (n * 2 > cap)
		cap *= 2;
	free(s->slots);
	s->cap = cap;
	s->slots = quire__xcalloc(s->cap, sizeof(*s->slots));
	for (size_t r = 0; r < s->nrows; r++)
		*row_slot(s, s->rows[r].path, s->rows[r].hash) = (uint32_t)(r + 1);
}

static void row_set(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
		    int64_t ino, const char *digest, int64_t recorded_ns)
{
	if (!digest || !quire_digest_valid(digest) || s->nrows >= UINT32_MAX - 1)
		return;
	rows_reserve(s, s->nrows + 1);
	uint64_t h = path_hash(path);
	uint32_t *slot = row_slot(s, path, h);
	if (!*slot) {
		struct srow *n = &s->rows[s->nrows++];
		n->path = arena_strdup(s, path);
		n->hash = h;
		*slot = (uint32_t)s->nrows;
	}
	struct srow *r = &s->rows[*slot - 1];
	r->size = size;
	r->mtime_ns = mtime_ns;
	r->ino = ino;
	r->recorded_ns = recorded_ns;
	memcpy(r->digest, digest, QUIRE_DIGEST_STRLEN);
}

static void load_rows(struct quire_store *s)
{
	s->rows_loaded = 1;
	sqlite3_stmt *st;
	/* Sized once (SQLite counts a table's rows from its b-tree pages). */
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM stat_cache", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
			rows_reserve(s, (size_t)sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	if (sqlite3_prepare_v2(s->db,
			       "SELECT path, size, mtime_ns, ino, digest, recorded_ns FROM stat_cache",
			       -1, &st, NULL) != SQLITE_OK)
		return; /* every lookup misses: files are hashed */
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		if (path)
			row_set(s, path, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				sqlite3_column_int64(st, 3), (const char *)sqlite3_column_text(st, 4),
				sqlite3_column_int64(st, 5));
	}
	sqlite3_finalize(st);
}

void quire_store_stat_load(struct quire_store *s)
{
	if (!s->rows_loaded)
		load_rows(s);
}

int quire_store_stat_get(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, struct quire_digest *digest)
{
	if (!s->rows_loaded)
		load_rows(s);
	if (!s->cap)
		return 0;
	uint32_t k = *row_slot(s, path, path_hash(path));
	const struct srow *r = k ? &s->rows[k - 1] : NULL;
	if (!r || r->size != size || r->mtime_ns != mtime_ns || r->ino != ino ||
	    r->recorded_ns - mtime_ns <= RACY_WINDOW_NS)
		return 0;
	memcpy(digest->s, r->digest, QUIRE_DIGEST_STRLEN);
	return 1;
}

int quire_store_stat_put(struct quire_store *s, const char *path, int64_t size, int64_t mtime_ns,
			 int64_t ino, const struct quire_digest *digest)
{
	if (s->readonly)
		return 0;
	int64_t now = quire__now_ns();
	sqlite3_stmt *st = s->stat_put;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, size);
	sqlite3_bind_int64(st, 3, mtime_ns);
	sqlite3_bind_int64(st, 4, ino);
	sqlite3_bind_text(st, 5, digest->s, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	int err = step_done(s, st, "updating the stat cache");
	if (!err && s->rows_loaded)
		row_set(s, path, size, mtime_ns, ino, digest->s, now);
	return err;
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
	sqlite3_stmt *st = s->ac_put;
	sqlite3_bind_text(st, 1, fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, js, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, quire__now_ns());
	int err = step_done(s, st, "updating the action cache");
	free(js);
	return err;
}

int quire_store_ac_digests(struct quire_store *s, void (*cb)(void *ud, const char *digest),
			   void *ud)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT json_extract(result, '$.digest') FROM action_cache", -1,
			       &st, NULL) != SQLITE_OK)
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
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)", -1,
			       &st, NULL) != SQLITE_OK)
		return db_error(s, "preparing statement");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(s, "updating the store's settings");
}
