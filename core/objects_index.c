/* The index of format 2's objects, .quire/runs/objects.db: a local cache saying which pack
 * holds each object, brought up to the packs on disk at each open (docs/design-notes.md,
 * "Trees and records, as built so far"). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "quire/error.h"
#include "quire/fs.h"
#include "objects.h"
#include "objects_internal.h"
#include "util.h"

static int cmp_disk(const void *a, const void *b)
{
	return strcmp(((const struct disk_pack *)a)->name, ((const struct disk_pack *)b)->name);
}

/* The packs in dir, sorted by name (one order on every machine: an object in two packs is
 * found in the first). */
int quire__objs_list_packs(const char *dir, struct disk_pack **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0
				       : quire_error_set(QUIRE_EIO, "cannot read '%s': %s", dir,
							 strerror(errno));
	size_t alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		/* Temporary files end ".tmp-PID-N". (A later part whose first part never came,
		 * a writer killed between them, is read too: its objects are whole and
		 * verified, and the same content makes the same objects again.) */
		if (len < 8 || strcmp(de->d_name + len - 8, ".objects"))
			continue;
		quire__grow((void **)out, &alloc, *n + 1, sizeof(**out));
		struct disk_pack *p = &(*out)[(*n)++];
		p->path = quire__xasprintf("%s/%s", dir, de->d_name);
		p->name = p->path + strlen(dir) + 1;
		struct stat st;
		p->size = p->mtime = -1;
		if (stat(p->path, &st) == 0) {
			p->size = (int64_t)st.st_size;
			p->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		}
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_disk);
	return 0;
}

struct into_db {
	sqlite3_stmt *ins, *rev;
	int64_t pack;
};

/* Whether stored bytes may be a revision's object (a delta never is; parsed to be sure). */
static int is_revision(const struct loc *l, const char *bytes)
{
	static const char mark[] = "\"type\":\"revision\"";
	return !l->base[0] && l->len > sizeof(mark) && bytes[0] == '{' &&
	       memmem(bytes, l->len, mark, sizeof(mark) - 1);
}

/* Records revision object r (its bytes parsed) in the revisions table. */
static int add_revision(sqlite3_stmt *st, const struct loc *l, const json_t *r, int64_t pack)
{
	unsigned char name[32];
	quire_hex_bytes(l->hex, name);
	json_t *ps = json_array();
	size_t k;
	json_t *v;
	json_array_foreach(json_object_get(r, "parents"), k, v) {
		const char *p = json_string_value(v);
		if (p && strlen(p) == 71)
			json_array_append_new(ps, json_string(p + 7));
	}
	char *parents = json_dumps(ps, JSON_COMPACT);
	json_decref(ps);
	sqlite3_bind_blob(st, 1, name, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, pack);
	const char *alias = json_string_value(json_object_get(r, "alias"));
	if (alias)
		sqlite3_bind_text(st, 3, alias, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, json_integer_value(json_object_get(r, "generation")));
	sqlite3_bind_int64(st, 5, json_integer_value(json_object_get(r, "entries")));
	sqlite3_bind_text(st, 6, parents, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(parents);
	return rc == SQLITE_DONE
		       ? 0
		       : quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errstr(rc));
}

static int add_to_db(void *ud, const struct loc *l, const char *bytes)
{
	struct into_db *in = ud;
	unsigned char name[32], base[32];
	quire_hex_bytes(l->hex, name);
	sqlite3_bind_blob(in->ins, 1, name, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(in->ins, 2, in->pack);
	sqlite3_bind_int64(in->ins, 3, (sqlite3_int64)l->off);
	sqlite3_bind_int64(in->ins, 4, l->len);
	if (l->base[0]) {
		quire_hex_bytes(l->base, base);
		sqlite3_bind_blob(in->ins, 5, base, 32, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(in->ins, 5);
	}
	int rc = sqlite3_step(in->ins);
	sqlite3_reset(in->ins);
	if (rc != SQLITE_DONE)
		return quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errstr(rc));
	if (!is_revision(l, bytes))
		return 0;
	json_t *r = json_loadb(bytes, l->len, 0, NULL);
	const char *type = json_string_value(json_object_get(r, "type"));
	int err = type && !strcmp(type, "revision") ? add_revision(in->rev, l, r, in->pack) : 0;
	json_decref(r);
	return err;
}

/* Indexes pack p in the open transaction (nothing when another process has: its name is
 * there). */
static int index_pack(sqlite3 *db, const struct disk_pack *p)
{
	sqlite3_stmt *st = NULL, *ins = NULL, *rev = NULL;
	int rc = sqlite3_prepare_v2(
		db, "INSERT OR IGNORE INTO packs(name, size, mtime) VALUES (?, ?, ?)", -1, &st,
		NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, p->size);
		sqlite3_bind_int64(st, 3, p->mtime);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && sqlite3_changes(db) == 0)
		return 0;
	int64_t id = sqlite3_last_insert_rowid(db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
					"INSERT OR IGNORE INTO objects(name, pack, off, len, base) "
					"VALUES (?, ?, ?, ?, ?)",
					-1, &ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
			db,
			"INSERT OR IGNORE INTO revisions(name, pack, alias, generation,"
			" entries, parents) VALUES (?, ?, ?, ?, ?, ?)",
			-1, &rev, NULL);
	int err = rc == SQLITE_OK
			  ? 0
			  : quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errmsg(db));
	struct into_db in = { ins, rev, id };
	if (!err)
		err = quire__objs_scan_file(p->path, add_to_db, &in);
	/* A damaged pack: indexed up to the damage (as quire__objs_read_all keeps it). */
	if (err == QUIRE_ECORRUPT) {
		quire_error_clear();
		err = 0;
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(rev);
	return err;
}

static const char index_schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" size INTEGER NOT NULL, mtime INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects (name BLOB PRIMARY KEY, pack INTEGER NOT NULL,"
	" off INTEGER NOT NULL, len INTEGER NOT NULL, base BLOB) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS revisions (name BLOB PRIMARY KEY, pack INTEGER NOT NULL,"
	" alias TEXT, generation INTEGER NOT NULL, entries INTEGER NOT NULL,"
	" parents TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS revisions_alias ON revisions(alias);";

/* Brings the index up to the packs on disk, listed inside the transaction: new ones
 * scanned; when one went or changed (a git checkout of an older commit), everything again (an
 * object also in another pack must be found there). o->packs are then the disk's. */
static int index_sync(struct quire_objs *o)
{
	sqlite3_stmt *st = NULL;
	struct disk_pack *dp = NULL;
	size_t n = 0;
	int err = 0, rc = sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		err = quire__objs_list_packs(o->dir, &dp, &n);
	json_t *rows = json_object();
	if (rc == SQLITE_OK && !err)
		rc = sqlite3_prepare_v2(o->db, "SELECT name, size, mtime FROM packs", -1, &st,
					NULL);
	int step = SQLITE_DONE;
	while (rc == SQLITE_OK && !err && (step = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(rows, (const char *)sqlite3_column_text(st, 0),
				    json_pack("[II]", (json_int_t)sqlite3_column_int64(st, 1),
					      (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && step != SQLITE_DONE)
		rc = step;
	/* Stale: a pack indexed that changed or went. */
	int stale = 0;
	size_t matched = 0;
	for (size_t k = 0; k < n; k++) {
		json_t *r = json_object_get(rows, dp[k].name);
		matched += r != NULL;
		if (r && (json_integer_value(json_array_get(r, 0)) != dp[k].size ||
			  json_integer_value(json_array_get(r, 1)) != dp[k].mtime))
			stale = 1;
	}
	stale |= matched != json_object_size(rows);
	if (rc == SQLITE_OK && !err && stale) {
		rc = sqlite3_exec(o->db,
				  "DELETE FROM objects; DELETE FROM revisions; DELETE FROM packs;",
				  NULL, NULL, NULL);
		json_object_clear(rows);
	}
	if (!err && rc != SQLITE_OK)
		err = quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errstr(rc));
	for (size_t k = 0; k < n && !err; k++) {
		if (!json_object_get(rows, dp[k].name))
			err = index_pack(o->db, &dp[k]);
		quire__objs_pack(o, dp[k].name);
	}
	json_decref(rows);
	for (size_t k = 0; k < n; k++)
		free(dp[k].path);
	free(dp);
	if (!err && sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		err = quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errmsg(o->db));
	if (err)
		sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* Opens the index file at path with its schema: 0, or the SQLite code that refused. */
static int open_db(struct quire_objs *o, const char *path)
{
	int rc = sqlite3_open_v2(path, &o->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(o->db, 10000);
		rc = sqlite3_exec(o->db, index_schema, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
			o->db,
			"SELECT p.name, o.off, o.len, o.base FROM objects o JOIN packs p"
			" ON p.id = o.pack WHERE o.name = ?",
			-1, &o->get, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(o->get);
		sqlite3_close(o->db);
		o->get = NULL;
		o->db = NULL;
	}
	return rc;
}

/* Removes the index file and its journal (a cache: made again by the next open). */
static void remove_index(const char *path)
{
	static const char *const ext[] = { "", "-wal", "-shm" };
	for (size_t k = 0; k < 3; k++) {
		char *f = quire__xasprintf("%s%s", path, ext[k]);
		unlink(f);
		free(f);
	}
}

int quire__objs_index_open(struct quire_objs *o)
{
	if (access(o->dir, F_OK))
		return 0; /* no packs: nothing to index yet */
	char *runs = quire__xasprintf("%s/runs", o->qdir), *path = NULL;
	int err = quire_fs_mkdirs(runs, 0755);
	if (!err) {
		path = quire__xasprintf("%s/objects.db", runs);
		int rc = open_db(o, path);
		if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
			remove_index(path);
			rc = open_db(o, path);
		}
		err = rc == SQLITE_OK ? 0 : QUIRE_EIO;
	}
	if (!err)
		err = index_sync(o);
	if (err) {
		sqlite3_finalize(o->get);
		sqlite3_close(o->db);
		o->get = NULL;
		o->db = NULL;
	}
	free(runs);
	free(path);
	return err;
}

void quire__objs_index_fail(struct quire_objs *o, int rc)
{
	sqlite3_finalize(o->get);
	sqlite3_close(o->db);
	o->get = NULL;
	o->db = NULL;
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
		char *path = quire__xasprintf("%s/runs/objects.db", o->qdir);
		remove_index(path);
		free(path);
	}
	if (quire__objs_read_all(o))
		quire_error_clear(); /* what is wrong with a pack is said when it is read */
}

int quire__objs_index_find(struct quire_objs *o, const char *hex, struct loc *l)
{
	if (!o->db)
		return 0;
	unsigned char name[32];
	quire_hex_bytes(hex, name);
	sqlite3_bind_blob(o->get, 1, name, 32, SQLITE_TRANSIENT);
	memset(l, 0, sizeof(*l));
	l->pack = -1;
	int rc = sqlite3_step(o->get);
	if (rc == SQLITE_ROW) {
		l->pack = quire__objs_pack(o, (const char *)sqlite3_column_text(o->get, 0));
		l->off = (uint64_t)sqlite3_column_int64(o->get, 1);
		l->len = (uint32_t)sqlite3_column_int64(o->get, 2);
		if (sqlite3_column_bytes(o->get, 3) == 32) {
			char b[65];
			quire_bytes_hex(sqlite3_column_blob(o->get, 3), b);
			memcpy(l->base, b, 64);
		}
	}
	sqlite3_reset(o->get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		/* Damage found after the open: the packs are read, and the object is looked
		 * for there (the caller's lookup among the known ones missed before they were). */
		quire__objs_index_fail(o, rc);
		const struct loc *s = quire__objs_get(o, hex);
		if (!s)
			return 0;
		*l = *s;
		return 1;
	}
	if (l->pack < 0)
		return 0;
	memcpy(l->hex, hex, 64);
	return 1;
}

void quire__objs_index_written(struct quire_objs *o, char **paths, size_t n)
{
	if (!o->db || sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	int err = 0;
	for (size_t k = 0; k < n && !err; k++) {
		struct disk_pack dp = { .path = paths[k], .name = strrchr(paths[k], '/') + 1 };
		struct stat st;
		err = stat(dp.path, &st) ? QUIRE_EIO : 0;
		dp.size = (int64_t)st.st_size;
		dp.mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (!err)
			err = index_pack(o->db, &dp);
	}
	if (err || sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	quire_error_clear();
}

/* Revision r's row from its object (parsed), for stores without an index. */
static void info_of(const char *hex, const json_t *r, struct quire_rev2_info *in, char ps[2][65])
{
	memset(in, 0, sizeof(*in));
	memcpy(in->name, hex, 64);
	in->alias = json_string_value(json_object_get(r, "alias"));
	in->generation = json_integer_value(json_object_get(r, "generation"));
	in->entries = json_integer_value(json_object_get(r, "entries"));
	size_t k;
	json_t *v;
	json_array_foreach(json_object_get(r, "parents"), k, v) {
		const char *p = json_string_value(v);
		if (p && strlen(p) == 71 && in->nparents < 2) {
			memcpy(ps[in->nparents], p + 7, 65);
			in->parents[in->nparents] = ps[in->nparents];
			in->nparents++;
		}
	}
}

static int cmp_info(const void *pa, const void *pb)
{
	const struct quire_rev2_info *a = pa, *b = pb;
	if (a->generation != b->generation)
		return a->generation < b->generation ? -1 : 1;
	return strcmp(a->name, b->name);
}

int quire_objs_revisions(struct quire_objs *o,
			 int (*visit)(void *ud, const struct quire_rev2_info *r), void *ud)
{
	int err = 0;
	if (o->db) {
		/* Read whole before any visit: an index that fails part way is left for the
		 * packs, and nothing is visited twice. */
		sqlite3_stmt *st = NULL;
		json_t *rows = json_array();
		int rc = sqlite3_prepare_v2(o->db,
					    "SELECT name, alias, generation, entries, parents FROM "
					    "revisions ORDER BY generation, name",
					    -1, &st, NULL);
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			char name[65] = { 0 };
			if (sqlite3_column_bytes(st, 0) != 32)
				continue;
			quire_bytes_hex(sqlite3_column_blob(st, 0), name);
			const char *alias = (const char *)sqlite3_column_text(st, 1);
			json_array_append_new(rows,
					      json_pack("[soIIs]", name,
							alias ? json_string(alias) : json_null(),
							(json_int_t)sqlite3_column_int64(st, 2),
							(json_int_t)sqlite3_column_int64(st, 3),
							(const char *)sqlite3_column_text(st, 4)));
		}
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE) {
			size_t k;
			json_t *row;
			json_array_foreach(rows, k, row) {
				struct quire_rev2_info in = { 0 };
				char ps[2][65];
				snprintf(in.name, sizeof(in.name), "%s",
					 json_string_value(json_array_get(row, 0)));
				in.alias = json_string_value(json_array_get(row, 1));
				in.generation = json_integer_value(json_array_get(row, 2));
				in.entries = json_integer_value(json_array_get(row, 3));
				json_t *pa = json_loads(json_string_value(json_array_get(row, 4)),
							0, NULL);
				for (size_t p = 0; p < json_array_size(pa) && p < 2; p++) {
					snprintf(ps[p], 65, "%s",
						 json_string_value(json_array_get(pa, p)));
					in.parents[in.nparents++] = ps[p];
				}
				err = visit(ud, &in);
				json_decref(pa);
				if (err)
					break;
			}
			json_decref(rows);
			return err;
		}
		json_decref(rows);
		quire__objs_index_fail(o, rc);
	}
	/* No index: every object read, the revisions kept (a rare, slow path). */
	struct quire_rev2_info *list = NULL;
	json_t **objs = NULL;
	char(*ps)[2][65] = NULL;
	size_t n = 0, alloc = 0;
	for (size_t k = 0; k < o->n; k++) {
		const struct loc *l = &o->locs[k];
		char hex[65];
		if (l->base[0])
			continue;
		memcpy(hex, l->hex, 64);
		hex[64] = '\0';
		json_t *r = NULL;
		const char *type = NULL;
		if (!quire_objs_read_json(o, hex, &r))
			type = json_string_value(json_object_get(r, "type"));
		if (!type || strcmp(type, "revision")) {
			quire_error_clear();
			json_decref(r);
			continue;
		}
		quire__grow((void **)&list, &alloc, n + 1, sizeof(*list));
		objs = quire__xrealloc(objs, alloc * sizeof(*objs));
		ps = quire__xrealloc(ps, alloc * sizeof(*ps));
		objs[n] = r;
		info_of(hex, r, &list[n], ps[n]);
		n++;
	}
	/* The parents point into ps, which moved as it grew: set them again. */
	for (size_t k = 0; k < n; k++)
		for (size_t p = 0; p < list[k].nparents; p++)
			list[k].parents[p] = ps[k][p];
	if (n)
		qsort(list, n, sizeof(*list), cmp_info);
	for (size_t k = 0; k < n && !err; k++)
		err = visit(ud, &list[k]);
	for (size_t k = 0; k < n; k++)
		json_decref(objs[k]);
	free(objs);
	free(ps);
	free(list);
	return err;
}

struct alias_find {
	const char *alias;
	char *rev;
	int found;
};

static int alias_visit(void *ud, const struct quire_rev2_info *r)
{
	struct alias_find *f = ud;
	if (r->alias && !strcmp(r->alias, f->alias)) {
		memcpy(f->rev, r->name, 65);
		f->found = 1;
		return 1;
	}
	return 0;
}

int quire_objs_alias(struct quire_objs *o, const char *alias, char rev[65])
{
	if (o->db) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(o->db,
					    "SELECT name FROM revisions WHERE alias = ? ORDER BY "
					    "generation, name LIMIT 1",
					    -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
				quire_bytes_hex(sqlite3_column_blob(st, 0), rev);
			}
		}
		sqlite3_finalize(st);
		if (rc == SQLITE_ROW)
			return 0;
		if (rc == SQLITE_DONE)
			return quire_error_set(QUIRE_ENOTFOUND, "no revision '%s'", alias);
		quire__objs_index_fail(o, rc);
	}
	struct alias_find f = { alias, rev, 0 };
	int err = quire_objs_revisions(o, alias_visit, &f);
	if (err < 0)
		return err;
	return f.found ? 0 : quire_error_set(QUIRE_ENOTFOUND, "no revision '%s'", alias);
}
