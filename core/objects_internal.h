/* What the objects' store and its index share (core/objects.c, core/objects_index.c). */
#ifndef QUIRE_OBJECTS_INTERNAL_H
#define QUIRE_OBJECTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "quire/buf.h"

struct quire_objs;

/* Where an object is: a pack's bytes (pack >= 0) or the pending buffer (pack < 0). */
struct loc {
	char hex[64];
	char base[64]; /* a delta's base object; base[0] == 0: the bytes are the object's */
	int32_t pack;
	uint32_t len;
	uint64_t off;
};

/* A delta is read through at most this many bases (each a whole copy of the object). */
#define DELTA_DEPTH 16

struct quire_objs {
	char *dir;
	char **packs;
	size_t npacks, apacks;
	/* The objects known (pending, and every pack's when there is no index), in the order
	 * they became known, and a table over them (open addressing; 0 is a free slot, else 1 +
	 * the place in locs): a slot of a whole struct loc held empty at a quarter of the
	 * table. */
	struct loc *locs;
	size_t n, alocs;
	uint32_t *tab;
	size_t cap;
	struct loc *hits; /* objects found in the index lately (HITS of them, by name's hash) */
	/* The pending objects' bytes: a store's past the first MiB go to an unnamed file in
	 * .quire/tmp (a first build's pack is 11 MB at 10k, 110 MB at 100k), the rest stay in
	 * pend; an object is wholly in one or the other. */
	struct quire_buf pend;
	int pend_fd;	     /* -1 until first needed */
	int pend_nofile;     /* the file could not be made or written: everything stays here */
	size_t pend_flushed; /* bytes in the file; pend holds those after them */
	char (*order)[64];   /* the pending objects' names, in the order they were made */
	size_t npend, apend;
	int fd, fd_pack; /* the pack last read, kept open */
	size_t reads;
	int err;      /* an object that could not be made: nothing is written until a rollback */
	char *errmsg; /* its message */
	int scratch;  /* objects put are not looked for in the packs (quire_objs_scratch) */
	/* The index of the packs' objects (.quire/runs/objects.db; NULL: every pack was read
	 * into the known objects). Packs are known by name (pack_at: name -> place in packs): row
	 * ids are the index's own, and another process rebuilding it numbers them again. */
	sqlite3 *db;
	sqlite3_stmt *get;
	json_t *pack_at;
	char *qdir;
	/* The last large object read, verified: a collector's record is read by the plan, the
	 * event's delta, the fold and the commit's delta in turn, each a chain of deltas. */
	char last_hex[64];
	struct quire_buf last;
};

/* The place in o->packs of the pack named name (in o->dir), added when new. */
int32_t quire__objs_pack(struct quire_objs *o, const char *name);

/* Reads every known pack into the known objects: what the store does without an index. */
int quire__objs_read_all(struct quire_objs *o);

/* Object hex's location when it is known, else NULL (moved by the next add). */
struct loc *quire__objs_get(const struct quire_objs *o, const char *hex);

/* Adds l unless its name is known (1 when added); where it is (added or known) in *at when
 * given. */
int quire__objs_add(struct quire_objs *o, const struct loc *l, struct loc **at);

/* Reads the pack at path and calls each(ud, l, bytes) for its objects (l.pack unset; bytes:
 * the l->len bytes stored, a delta's body for a delta). */
int quire__objs_scan_file(const char *path,
			  int (*each)(void *ud, const struct loc *l, const char *bytes), void *ud);

/* A pack on disk: its path and what says it is the one indexed. */
struct disk_pack {
	char *path;
	const char *name;
	int64_t size, mtime;
};

/* The packs in dir (malloc'd, sorted by name). */
int quire__objs_list_packs(const char *dir, struct disk_pack **out, size_t *n);

/* Opens .quire/runs/objects.db and brings it up to the packs on disk (listed inside its
 * transaction, so a pack another process is adding is seen whole or not at all): nonzero
 * when there is none to use (the packs are then read whole). */
int quire__objs_index_open(struct quire_objs *o);

/* The index failed after it was opened (a damaged page, an I/O error): closed (removed
 * when damaged) and every pack read instead. */
void quire__objs_index_fail(struct quire_objs *o, int rc);

/* Object hex as the index has it (1), or 0. */
int quire__objs_index_find(struct quire_objs *o, const char *hex, struct loc *l);

/* Indexes the n packs just written at paths (a cache: failing is no error). */
void quire__objs_index_written(struct quire_objs *o, char **paths, size_t n);

#endif
