/* Internal: the manifest module's shared parts. manifest.c holds revision names, the current
 * pointer and loading; manifest_fold.c the fold of events; manifest_base.c a revision's rows
 * and the entries a commit changes (peek, materialise, compact, the spill); manifest_write.c
 * writing a manifest and its index; manifest_index.c reading the index. */
#ifndef QUIRE_MANIFEST_INTERNAL_H
#define QUIRE_MANIFEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "quire/buf.h"
#include "quire/manifest.h"
#include "table.h"
#include "util.h"

#define MANIFEST_FORMAT 1

/* The compact index: a header line, then one tab-separated line per artefact (ids, statuses,
 * digests, extensions and producer names hold no tab or newline; feedback is compact JSON,
 * which escapes both), ending with the byte range of the artefact's entry in the manifest's
 * text. Parsed by hand into rows that point into the file's text, split in place: a jansson
 * object per artefact was most of a 100k no-op plan (about 15 allocations each). */
#define INDEX_MAGIC "quire-index 5"
/* A format-2 head's index: "quire-index 6<TAB>rev<TAB>count", then the same rows without the
 * byte range: its entries are read from the revision's tree (there is no text to point
 * into). */
#define INDEX_TREE_MAGIC "quire-index 6"
enum { INDEX_NSTR = 5, INDEX_NINT = 3, INDEX_NFIELDS = 1 + INDEX_NSTR + INDEX_NINT + 3 };
extern const char *const quire__index_str[INDEX_NSTR];
extern const char *const quire__index_int[INDEX_NINT];

/* A compacted entry's text (quire_manifest_compact): written as is, parsed when changed. */
#define TEXT_KEY " text"

struct quire_objs;
struct quire_rev2_reader;

struct quire_mbase {
	int refs;
	char *rev;	 /* the revision whose text this is; NULL for rows of a manifest */
	char *text_name; /* that text's file, as messages name it (NULL: "revision <rev>") */
	int fd;		 /* the manifest's file, held open; -1 when there is no text */
	/* The rows of a format-2 head's index: entries are read from the revision's tree
	 * (objects opened on the first read, under qdir: the store, set for every base read
	 * from an index and for a first build's). */
	int tree;
	char *qdir;
	struct quire_objs *objs;
	int objs_failed; /* opening them failed: not tried again */
	struct quire_rev2_reader *reader;
	const char *map; /* its text, mapped read-only; NULL until first needed */
	size_t size;
	size_t touched;		 /* bytes of the map read since its pages were last let go */
	char *itext;		 /* the index file's text, split in place: the rows point into it */
	struct quire_mrow *rows; /* in the manifest's order: ids sorted */
	size_t nrows;
	struct quire__table ids;     /* the rows by id */
	struct quire__arena strings; /* the rows' strings, for rows of a manifest */
	/* The texts of the entries a commit onto this base changed, written to an unnamed file
	 * as they are folded instead of held (190 MB at 100k when every entry changes). */
	char *spilldir; /* where that file is made (.quire/tmp); NULL: texts stay in memory */
	int spill_fd;	/* -1 until the first text is written (or when none can be) */
	int spill_full; /* writing failed: later texts stay in memory (what was written
			 * is still read back from the file) */
	size_t spilled; /* bytes in the file */
	struct quire_buf spill; /* bytes after those, not yet written */
	struct quire_buf ahead; /* the file's bytes from ahead_off, read for the texts after
				 * the one asked for (read back mostly in the order written) */
	size_t ahead_off;
	size_t ahead_end; /* where the last text read back from the spill ended */
	/* The index's fields of those entries (strings in `strings`), their byte ranges in the
	 * spill: a compacted entry in the overlay is the JSON integer of its row here (a jansson
	 * object of ten fields per entry was 1.3 KB of a 100k commit's memory each). */
	struct quire_mrow *crows;
	size_t ncrows, acrows;
};

struct quire_mbase *quire__mbase_new(void);

/* A base with no rows whose changed entries spill to a file under qdir/tmp: a first build's
 * (no parent) new entries are not held in memory as text. */
struct quire_mbase *quire__mbase_spill_only(const char *qdir);
/* Fills the id table (after the last row was added: rows are not moved afterwards). */
void quire__mbase_index_rows(struct quire_mbase *b);
/* The store's objects, opened once through base (on first use, when base knows its store:
 * an index's rows, a first build's) and shared by what reads or makes objects until base
 * is freed: a collector's record, read from its chain of deltas by the plan, the event's
 * delta, the fold and the commit in turn, is then read once (quire_objs_read keeps it).
 * NULL when base has none or they cannot be opened. Borrowed. */
struct quire_objs *quire__mbase_objs(struct quire_mbase *b);
/* The objects through base when it has them, else the store's at qdir opened here, in *own
 * (the caller frees it; NULL when borrowed). NULL, with the error set, when neither opens. */
struct quire_objs *quire__mbase_objs_or_open(struct quire_mbase *b, const char *qdir,
					     struct quire_objs **own);
/* Closes the objects opened through base (they open again when next needed). */
void quire__mbase_close_objs(struct quire_mbase *b);
/* Maps the base's manifest text (once). */
int quire__mbase_map(struct quire_mbase *b);
/* The row of a spilled entry e (a row number), or NULL. */
const struct quire_mrow *quire__mb_crow(const struct quire_mbase *b, const json_t *e);
/* Appends the spilled text at off (len bytes) to out. */
int quire__mb_spill_read(struct quire_mbase *b, size_t off, size_t len, struct quire_buf *out);

/* The text the fold keeps id's entry as (compacted, or spilled), appended to out, *found
 * set; *found 0 when it holds the entry parsed, or none. An error when a spilled text
 * cannot be read. */
int quire__mb_entry_text(const json_t *m, struct quire_mbase *base, const char *id,
			 struct quire_buf *out, int *found);
/* Whether the fold keeps id's entry as text (compacted, or spilled). */
int quire__mb_kept_as_text(const json_t *m, const char *id);
/* Writes an entry (or a take, in_take) at depth, its kept "deps" laid out from text. */
void quire__mb_put_entry(struct quire_buf *b, const json_t *e, int depth, int in_take);
/* A value kept as text laid out at depth, else written. */
void quire__mb_put_kept(struct quire_buf *b, const json_t *v, int depth);
/* The index's fields of entry e (full or compacted: both have them at the top). */
void quire__mb_row_of_entry(struct quire_mrow *r, const char *id, const json_t *e);
int quire__mb_cmp_keys(const void *x, const void *y);
/* The full entry of id in m (parsed from base when m has only its row or text); *entry NULL
 * when there is none. keep: "deps" stays text. */
int quire__mb_materialise(json_t *m, struct quire_mbase *base, const char *id, json_t **entry,
			  int keep);
/* Compacts the entry of id, its text spilled when base can hold it. */
void quire__mb_compact(json_t *m, struct quire_mbase *base, const char *id);
/* Parses JSON object text, keeping the value of key as text when it is large enough. */
json_t *quire__mb_parse_keeping(const char *text, size_t len, const char *key);
/* Format-2 revisions through this module (manifest_rev2.c). Whether rev is one: a digest
 * whose pack is on disk. */
struct quire_objs;
int quire__rev2_here(const char *qdir, const char *rev);

/* Revision rev's index: <qdir>/runs/<rev>-index.tsv (malloc'd). */
char *quire__index_path(const char *qdir, const char *rev);

/* Whether fname (a name in .quire/runs) is a revision's index, "<rev>-index.tsv" with rev a
 * digest name (then copied into rev). */
int quire__index_file(const char *fname, char rev[65]);
/* Opens *o unless it is open (the caller frees it). */
int quire__rev2_objs(const char *qdir, struct quire_objs **o);
/* Revision rev in format 1's shape, reading parts (QUIRE_REV2_*) besides its own object; its
 * artefact count in *entries (when given). With QUIRE__REV2_ALIAS its format-1 name stays,
 * as "alias" (the log's, to find the commit that brought it in). A pack without its
 * revision: QUIRE_ECORRUPT. */
#define QUIRE__REV2_ALIAS 0x100
int quire__rev2_read(const char *qdir, struct quire_objs **o, const char *rev, int parts,
		     json_t **out, long long *entries);
/* Error err of reading revision rev from o, said as a damaged pack (QUIRE_ECORRUPT) with the
 * way to mend it when an object is missing or damaged; other errors as they are. */
int quire__rev2_damaged(struct quire_objs *o, const char *rev, int err);
/* The whole revision (quire_manifest_load's), its head (quire_manifest_head's: its keys,
 * inputs and files), and whether its object matches its name. */
int quire__rev2_load(const char *qdir, const char *rev, json_t **out);
int quire__rev2_head(const char *qdir, const char *rev, json_t **out, long long *n);
int quire__rev2_verify(const char *qdir, const char *rev);
/* Appends the names of the packs on disk to names (*n of them, *alloc allocated). */
void quire__rev2_list(const char *qdir, char ***names, size_t *n, size_t *alloc);
/* The format-2 revision whose format-1 name (alias) is spec or, for a digest, starts with
 * it: *rev (malloc'd) when exactly one, and how many in *hits. */
int quire__rev2_alias(const char *qdir, const char *spec, char **rev, size_t *hits);
/* Whether qdir's history is kept in format 2 (.quire/format: "2"), so commits write it. */
int quire__store_format2(const char *qdir);
/* Where revision rev's manifest text is (malloc'd): a format-1 manifest, or a format-2
 * head's local rendering, .quire/runs/<rev>.json (which the index's ranges point into). */
char *quire__manifest_text_path(const char *qdir, const char *rev);
/* Removes format-2 revision rev's index, and a rendering of its text an older quire left
 * (rev is no longer a head). */
void quire__rev2_drop_index(const char *qdir, const char *rev);
/* Makes the format-2 revision of manifest m (slim on base, or whole): its objects, made from
 * its first parent's tree and m's changed entries (or whole: compared with parent, the first
 * parent whole, when given, else read back), hook(ud, name) told its name, then its pack
 * written. name: 65 bytes. */
int quire__rev2_commit(const char *qdir, const json_t *m, struct quire_mbase *base,
		       const json_t *parent, char name[65], int (*hook)(void *ud, const char *name),
		       void *ud);
/* Moves qdir's history to format 2 unless it is there, format-1 manifests and all
 * (quire_rev2_upgrade): what a command that commits does first, under the lock, before it
 * reads current. An error only when the move started and could not finish; a move that
 * could not start (a damaged manifest) leaves the store in format 1 and says why in notes
 * (a JSON array, may be NULL). */
int quire__store_upgrade(const char *qdir, json_t *notes);
/* The format-1 manifests on disk, sorted (what the upgrade converts). */
int quire__manifest_list_v1(const char *qdir, char ***names, size_t *n);

/* Whether kind (enum quire_ev) has a fold function (for the unit tests). */
int quire__manifest_has_fold(int kind);

#endif
