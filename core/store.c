/* SQLite-backed project database: schema migrations, events, runs, stat and action caches. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/json.h"
#include "quire/store.h"
#include "util.h"

/* One stat-cache row held in memory. Loaded rows point into the mapped file; rows put since
 * into the store's arena. */
struct srow {
	const char *path; /* pathlen bytes, not NUL-terminated in the file */
	const char *digest; /* QUIRE_DIGEST_STRLEN - 1 bytes */
	uint64_t hash;
	uint32_t pathlen;
	uint32_t changed; /* put since the file was read: written out on close */
	int64_t size, mtime_ns, ino, recorded_ns;
};

struct quire_store {
	sqlite3 *db;
	int readonly;
	sqlite3_stmt *ins_event, *ac_get, *ac_put;
	char *qdir;
	int64_t opened_ns; /* for racy stat entries: see quire_store_stat_get */
	/* The stat cache (.quire/runs/stat-cache), read in one go at the first lookup and written
	 * back whole by quire_store_close when quire_store_stat_put changed it: open addressing
	 * on the path. (It was a table of quire.db: stepping through 20,000 rows took 11-18 ms,
	 * the largest part of a 10k no-op plan.) */
	struct srow *rows;   /* dense, in the order recorded */
	size_t nrows, ralloc;
	uint32_t *slots;     /* open addressing on the path: row index + 1, 0 when empty */
	size_t cap;
	int rows_loaded, rows_dirty;
	size_t file_lines; /* rows read from the file, repeats included (0: no usable file) */
	const char *map; /* .quire/runs/stat-cache mapped read-only: loaded rows point into it */
	size_t maplen;
	struct quire__arena arena; /* the paths and digests of rows put since the load */
};

static void save_rows(struct quire_store *s);

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
	s->qdir = quire__xstrdup(qdir);
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
	sqlite3_finalize(s->ac_get);
	sqlite3_finalize(s->ac_put);
	sqlite3_close(s->db);
	if (s->rows_dirty && !s->readonly)
		save_rows(s);
	free(s->qdir);
	if (s->map)
		munmap((void *)s->map, s->maplen);
	quire__arena_release(&s->arena);
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

int quire_store_events_text(struct quire_store *s, int64_t run, quire_event_text_cb cb,
			    void *ctx)
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

int quire_store_run_start(struct quire_store *s, const char *rev, const char *parent,
			  const char *command, const char *start, int64_t *run_id)
{
	/* The run's row and its start event are one transaction: a kill between two commits
	 * left a run that recovery could never commit. */
	sqlite3_stmt *st;
	int err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO runs(rev, parent, command, started_ns, state) VALUES (?,?,?,?,'running')",
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
	if ((err = quire_store_event_text(s, id, "run.start", NULL, start)))
		goto out;
	err = exec(s, "COMMIT");
	if (!err)
		*run_id = id;
out:
	if (err)
		exec(s, "ROLLBACK");
	return err;
}

int quire_store_run_restore(struct quire_store *s, const char *rev, const char *parent,
			    const char *command, int64_t started_ns)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
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
			       "SELECT 1 FROM events WHERE run = ? AND kind = 'run.start' LIMIT 1", -1,
			       &st, NULL) != SQLITE_OK)
		return db_error(s, "reading events");
	sqlite3_bind_int64(st, 1, run);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_error(s, "reading events");
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

static uint64_t path_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* The slot holding path (of hash h), or the empty slot where it belongs. The table holds
 * 4-byte row numbers, so at 200,000 rows it is 2 MB, not 58 MB of full rows. */
static uint32_t *row_slot(struct quire_store *s, const char *path, size_t n, uint64_t h)
{
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t k = s->slots[i];
		const struct srow *r = k ? &s->rows[k - 1] : NULL;
		if (!r || (r->hash == h && r->pathlen == n && !memcmp(r->path, path, n)))
			return &s->slots[i];
	}
}

/* Makes room for n rows at a load factor of at most one half. */
static void rows_reserve(struct quire_store *s, size_t n)
{
	if (!s->rows) {
		/* Sized from the file once (large ones on huge pages); grown only past that. */
		s->ralloc = n;
		s->rows = quire__xcalloc_big(n, sizeof(*s->rows));
	} else if (n > s->ralloc) {
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
	s->slots = quire__xcalloc_big(s->cap, sizeof(*s->slots));
	for (size_t r = 0; r < s->nrows; r++)
		*row_slot(s, s->rows[r].path, s->rows[r].pathlen, s->rows[r].hash) = (uint32_t)(r + 1);
}

/* copy: path and digest are the caller's (copied into the arena), else they live as long as
 * the store (the mapped file). */
static void row_set(struct quire_store *s, const char *path, size_t pathlen, int64_t size,
		    int64_t mtime_ns, int64_t ino, const char *digest, int64_t recorded_ns, int copy)
{
	if (!digest || s->nrows >= UINT32_MAX - 1 || pathlen >= UINT32_MAX)
		return;
	rows_reserve(s, s->nrows + 1);
	uint64_t h = path_hash(path, pathlen);
	uint32_t *slot = row_slot(s, path, pathlen, h);
	if (!*slot) {
		struct srow *n = &s->rows[s->nrows++];
		n->path = copy ? quire__arena_copy(&s->arena, path, pathlen) : path;
		n->pathlen = (uint32_t)pathlen;
		n->hash = h;
		*slot = (uint32_t)s->nrows;
	}
	struct srow *r = &s->rows[*slot - 1];
	r->changed = copy;
	r->size = size;
	r->mtime_ns = mtime_ns;
	r->ino = ino;
	r->recorded_ns = recorded_ns;
	r->digest = copy ? quire__arena_copy(&s->arena, digest, QUIRE_DIGEST_STRLEN - 1) : digest;
}

#define STAT_MAGIC "quire-stat-cache 1\n"

/* A decimal int64 (optionally negative) ending at sep; NULL when it is not one. */
static const char *parse_i64(const char *p, char sep, int64_t *out)
{
	int neg = *p == '-';
	p += neg;
	if (*p < '0' || *p > '9')
		return NULL;
	uint64_t v = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (*p != sep || digits > 19 || v > (uint64_t)INT64_MAX) /* 19 digits cannot wrap */
		return NULL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return p + 1;
}

/* Reads .quire/runs/stat-cache: a header line, then one line per file,
 * "size\tmtime_ns\tino\trecorded_ns\tdigest\tpath". A damaged line ends the load there (a
 * cache: what is missing is hashed). */
static void load_rows(struct quire_store *s)
{
	s->rows_loaded = 1;
	char *path = quire__xasprintf("%s/runs/stat-cache", s->qdir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(STAT_MAGIC) ||
	    (uint64_t)st.st_size > SIZE_MAX / 2) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Mapped, not read: the rows point into the page cache's own pages. */
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	s->map = map;
	s->maplen = (size_t)st.st_size;
	const char *at = s->map, *end = s->map + s->maplen;
	if (memcmp(at, STAT_MAGIC, sizeof(STAT_MAGIC) - 1))
		return;
	at += sizeof(STAT_MAGIC) - 1;
	/* Sized once, from the file's size (a row is at least 100 bytes). */
	rows_reserve(s, s->maplen / 100 + 1);
	while (at < end) {
		const char *nl = memchr(at, '\n', (size_t)(end - at));
		if (!nl)
			break;
		int64_t size, mtime, ino, rec;
		const char *p = at, *d;
		if (!(p = parse_i64(p, '\t', &size)) || !(p = parse_i64(p, '\t', &mtime)) ||
		    !(p = parse_i64(p, '\t', &ino)) || !(p = parse_i64(p, '\t', &rec)) ||
		    nl - p <= QUIRE_DIGEST_STRLEN || p[QUIRE_DIGEST_STRLEN - 1] != '\t')
			break;
		d = p;
		p += QUIRE_DIGEST_STRLEN;
		char dig[QUIRE_DIGEST_STRLEN];
		memcpy(dig, d, QUIRE_DIGEST_STRLEN - 1);
		dig[QUIRE_DIGEST_STRLEN - 1] = '\0';
		if (!quire_digest_valid(dig) || memchr(p, '\0', (size_t)(nl - p)))
			break;
		row_set(s, p, (size_t)(nl - p), size, mtime, ino, d, rec, 0);
		s->file_lines++;
		at = nl + 1;
	}
	/* A damaged line is where the file stops being usable: appending after it would be
	 * lost, so the next save writes the whole file. */
	if (at < end)
		s->file_lines = 0;
}

/* Appends the rows (only those changed since the file was read, with only_changed) in the
 * file's line format. */
static void put_rows(const struct quire_store *s, struct quire_buf *b, int only_changed)
{
	for (size_t r = 0; r < s->nrows; r++) {
		const struct srow *w = &s->rows[r];
		if (only_changed && !w->changed)
			continue;
		if (memchr(w->path, '\t', w->pathlen) || memchr(w->path, '\n', w->pathlen))
			continue; /* not representable: hashed every time */
		quire_buf_put_int(b, w->size);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->mtime_ns);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->ino);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, w->recorded_ns);
		quire_buf_putc(b, '\t');
		quire_buf_add(b, w->digest, QUIRE_DIGEST_STRLEN - 1);
		quire_buf_putc(b, '\t');
		quire_buf_add(b, w->path, w->pathlen);
		quire_buf_putc(b, '\n');
	}
}

/* Writes the rows back (no fsync: a cache; lost, its files are hashed). Only the rows that
 * changed are appended, while the file holds at most as many old lines as live rows (a scene
 * change at 100k rewrote 29 MB for one line); otherwise, or when the file is not the one that
 * was read, the whole file is written again, temp + rename. Later lines win when the file is
 * read, and a line cut short by a crash ends the read there: its rows are hashed again. */
static void save_rows(struct quire_store *s)
{
	size_t nchanged = 0;
	for (size_t r = 0; r < s->nrows; r++)
		nchanged += s->rows[r].changed != 0;
	char *path = quire__xasprintf("%s/runs/stat-cache", s->qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int done = 0;
	if (s->map && s->file_lines && s->file_lines + nchanged <= 2 * s->nrows) {
		quire_buf_grow(&b, nchanged * 120);
		put_rows(s, &b, 1);
		done = quire_fs_append_if_size(path, s->maplen, b.ptr, b.len);
	}
	if (!done) {
		quire_buf_reset(&b);
		quire_buf_grow(&b, s->nrows * 120 + sizeof(STAT_MAGIC));
		quire_buf_puts(&b, STAT_MAGIC);
		put_rows(s, &b, 0);
		char *dir = quire__xasprintf("%s/runs", s->qdir);
		if (quire_fs_mkdirs(dir, 0755) || quire_fs_replace(path, b.ptr, b.len, 0644))
			quire_error_clear();
		free(dir);
	}
	free(path);
	quire_buf_release(&b);
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
	size_t n = strlen(path);
	uint32_t k = *row_slot(s, path, n, path_hash(path, n));
	const struct srow *r = k ? &s->rows[k - 1] : NULL;
	if (!r || r->size != size || r->mtime_ns != mtime_ns || r->ino != ino ||
	    r->recorded_ns - mtime_ns <= RACY_WINDOW_NS)
		return 0;
	memcpy(digest->s, r->digest, QUIRE_DIGEST_STRLEN - 1);
	digest->s[QUIRE_DIGEST_STRLEN - 1] = '\0';
	return 1;
}

int quire_store_stat_put_at(struct quire_store *s, const char *path, int64_t size,
			    int64_t mtime_ns, int64_t ino, const struct quire_digest *digest,
			    int64_t stat_ns)
{
	if (s->readonly)
		return 0;
	if (!s->rows_loaded)
		load_rows(s);
	/* An entry recorded this soon after the file changed would never answer (see
	 * quire_store_stat_get): not kept, so the cache is not rewritten for it. */
	if (!quire_digest_valid(digest->s) || stat_ns - mtime_ns <= RACY_WINDOW_NS)
		return 0;
	row_set(s, path, strlen(path), size, mtime_ns, ino, digest->s, stat_ns, 1);
	s->rows_dirty = 1;
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
