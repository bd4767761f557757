/* The index of format 2's objects, .quire/runs/objects.db: a local cache saying which pack
 * holds each object, brought up to the packs on disk at each open (docs/design-notes.md,
 * "Trees and records, as built so far"). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static void hex_to_bin(const char *hex, unsigned char *bin)
{
	for (int k = 0; k < 32; k++) {
		int hi = hex[2 * k] <= '9' ? hex[2 * k] - '0' : hex[2 * k] - 'a' + 10;
		int lo = hex[2 * k + 1] <= '9' ? hex[2 * k + 1] - '0' : hex[2 * k + 1] - 'a' + 10;
		bin[k] = (unsigned char)(hi << 4 | lo);
	}
}

static void bin_to_hex(const unsigned char *bin, char *hex)
{
	for (int k = 0; k < 32; k++) {
		hex[2 * k] = "0123456789abcdef"[bin[k] >> 4];
		hex[2 * k + 1] = "0123456789abcdef"[bin[k] & 15];
	}
}

struct into_db {
	sqlite3_stmt *ins;
	int64_t pack;
};

static int add_to_db(void *ud, const struct loc *l)
{
	struct into_db *in = ud;
	unsigned char name[32], base[32];
	hex_to_bin(l->hex, name);
	sqlite3_bind_blob(in->ins, 1, name, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(in->ins, 2, in->pack);
	sqlite3_bind_int64(in->ins, 3, (sqlite3_int64)l->off);
	sqlite3_bind_int64(in->ins, 4, l->len);
	if (l->base[0]) {
		hex_to_bin(l->base, base);
		sqlite3_bind_blob(in->ins, 5, base, 32, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(in->ins, 5);
	}
	int rc = sqlite3_step(in->ins);
	sqlite3_reset(in->ins);
	return rc == SQLITE_DONE
		       ? 0
		       : quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errstr(rc));
}

/* Indexes pack p (a new row) in the open transaction. */
static int index_pack(sqlite3 *db, const struct disk_pack *p, int64_t *id)
{
	sqlite3_stmt *st = NULL, *ins = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO packs(name, size, mtime) VALUES (?, ?, ?)", -1,
				    &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, p->size);
		sqlite3_bind_int64(st, 3, p->mtime);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	sqlite3_finalize(st);
	*id = sqlite3_last_insert_rowid(db);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
					"INSERT OR IGNORE INTO objects(name, pack, off, len, base) "
					"VALUES (?, ?, ?, ?, ?)",
					-1, &ins, NULL);
	int err = rc == SQLITE_OK
			  ? 0
			  : quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errmsg(db));
	struct into_db in = { ins, *id };
	if (!err)
		err = quire__objs_scan_file(p->path, add_to_db, &in);
	sqlite3_finalize(ins);
	return err;
}

static const char index_schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" size INTEGER NOT NULL, mtime INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects (name BLOB PRIMARY KEY, pack INTEGER NOT NULL,"
	" off INTEGER NOT NULL, len INTEGER NOT NULL, base BLOB) WITHOUT ROWID;";

/* Brings the index up to the packs on disk: new ones scanned; when one went or changed
 * (a git checkout of an older commit), everything again (an object also in another pack
 * must be found there). Then o->packs are the disk's, each with its row. */
static int index_sync(struct quire_objs *o, struct disk_pack *dp, size_t n)
{
	sqlite3_stmt *st = NULL;
	int err = 0, rc = sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	json_t *rows = json_object();
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(o->db, "SELECT id, name, size, mtime FROM packs", -1, &st,
					NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(rows, (const char *)sqlite3_column_text(st, 1),
				    json_pack("[III]", (json_int_t)sqlite3_column_int64(st, 0),
					      (json_int_t)sqlite3_column_int64(st, 2),
					      (json_int_t)sqlite3_column_int64(st, 3)));
	sqlite3_finalize(st);
	/* Stale: a pack indexed that changed or went. */
	int stale = 0;
	size_t matched = 0;
	for (size_t k = 0; k < n; k++) {
		json_t *r = json_object_get(rows, dp[k].name);
		matched += r != NULL;
		if (r && (json_integer_value(json_array_get(r, 1)) != dp[k].size ||
			  json_integer_value(json_array_get(r, 2)) != dp[k].mtime))
			stale = 1;
	}
	stale |= matched != json_object_size(rows);
	if (rc == SQLITE_OK && stale) {
		rc = sqlite3_exec(o->db, "DELETE FROM objects; DELETE FROM packs;", NULL, NULL,
				  NULL);
		json_object_clear(rows);
	}
	if (rc != SQLITE_OK)
		err = quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errmsg(o->db));
	o->pack_ids = quire__xcalloc(n + 1, sizeof(*o->pack_ids));
	for (size_t k = 0; k < n && !err; k++) {
		json_t *r = json_object_get(rows, dp[k].name);
		int64_t id = r ? (int64_t)json_integer_value(json_array_get(r, 0)) : 0;
		if (!r)
			err = index_pack(o->db, &dp[k], &id);
		quire__grow((void **)&o->packs, &o->apacks, o->npacks + 1, sizeof(*o->packs));
		o->pack_ids[o->npacks] = id;
		o->packs[o->npacks++] = quire__xstrdup(dp[k].path);
	}
	json_decref(rows);
	if (!err && sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		err = quire_error_set(QUIRE_EIO, "the object index: %s", sqlite3_errmsg(o->db));
	if (err)
		sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* Opens (makes) .quire/runs/objects.db and brings it up to the packs: nonzero when there is
 * none to use (the packs are then read whole). */
int quire__objs_index_open(struct quire_objs *o, const char *qdir, struct disk_pack *dp, size_t n)
{
	char *runs = quire__xasprintf("%s/runs", qdir), *path = NULL;
	int err = quire_fs_mkdirs(runs, 0755);
	if (!err) {
		path = quire__xasprintf("%s/objects.db", runs);
		if (sqlite3_open_v2(path, &o->db,
				    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					    SQLITE_OPEN_NOMUTEX,
				    NULL) != SQLITE_OK)
			err = QUIRE_EIO;
	}
	if (!err) {
		sqlite3_busy_timeout(o->db, 10000);
		if (sqlite3_exec(o->db, index_schema, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(o->db,
				       "SELECT pack, off, len, base FROM objects WHERE name = ?",
				       -1, &o->get, NULL) != SQLITE_OK)
			err = QUIRE_EIO;
	}
	if (!err)
		err = index_sync(o, dp, n);
	free(runs);
	free(path);
	return err;
}

int quire__objs_index_find(struct quire_objs *o, const char *hex, struct loc *l)
{
	if (!o->db)
		return 0;
	unsigned char name[32];
	hex_to_bin(hex, name);
	sqlite3_bind_blob(o->get, 1, name, 32, SQLITE_STATIC);
	memset(l, 0, sizeof(*l));
	l->pack = -1;
	if (sqlite3_step(o->get) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(o->get, 0);
		for (size_t k = 0; k < o->npacks; k++)
			if (o->pack_ids[k] == id)
				l->pack = (int32_t)k;
		l->off = (uint64_t)sqlite3_column_int64(o->get, 1);
		l->len = (uint32_t)sqlite3_column_int64(o->get, 2);
		if (sqlite3_column_bytes(o->get, 3) == 32)
			bin_to_hex(sqlite3_column_blob(o->get, 3), l->base);
	}
	sqlite3_reset(o->get);
	if (l->pack < 0)
		return 0;
	memcpy(l->hex, hex, 64);
	return 1;
}

/* Indexes the packs written from o->packs[from] on; the index is a cache: a pack it missed
 * is found by the next open. */
void quire__objs_index_written(struct quire_objs *o, size_t from)
{
	o->pack_ids = quire__xrealloc(o->pack_ids, (o->npacks + 1) * sizeof(*o->pack_ids));
	for (size_t k = from; k < o->npacks; k++)
		o->pack_ids[k] = 0;
	if (!o->db || sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	int err = 0;
	for (size_t k = from; k < o->npacks && !err; k++) {
		struct disk_pack dp = { .path = o->packs[k],
					.name = strrchr(o->packs[k], '/') + 1 };
		struct stat st;
		err = stat(dp.path, &st) ? QUIRE_EIO : 0;
		dp.size = (int64_t)st.st_size;
		dp.mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (!err)
			err = index_pack(o->db, &dp, &o->pack_ids[k]);
	}
	if (err || sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	quire_error_clear();
}
