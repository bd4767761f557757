/* Format 2's stored form: objects named by the SHA-256 of their bytes (revisions, tree nodes,
 * dependency records), kept in one pack per revision under .quire/revs/, and the revisions
 * built from and read back into the manifest shape the rest of quire works on.
 * docs/design-notes.md, "Trees and records, as built so far". */
#ifndef QUIRE_OBJECTS_H
#define QUIRE_OBJECTS_H

#include <stddef.h>

#include <jansson.h>

#include "quire/hash.h"
#include "quire/manifest.h"

struct quire_buf;

/* A pack's first line; a pack part holds at most this many bytes of objects (GitHub refuses
 * files over 100 MB; the first object past the limit starts the next part). */
#define QUIRE_OBJS_MAGIC "quire-objects 1\n"
#define QUIRE_OBJS_PART_MAX (16u << 20)

/* The objects of a store (every pack in .quire/revs/) and those made since it was opened,
 * not yet written. */
struct quire_objs;

/* Opens the objects of qdir (none when .quire/revs/ does not exist), through their index,
 * .quire/runs/objects.db (a local cache: brought up to the packs on disk at each open, new
 * packs scanned, all of them again when one changed or went; without it every pack is
 * read). A pack damaged where its layout shows it gives the objects before the damage (the
 * others are missing: one damaged revision does not hide the rest). *out is NULL after an
 * error. */
int quire_objs_open(const char *qdir, struct quire_objs **out);
void quire_objs_free(struct quire_objs *o);

/* Objects in memory only: no packs are read, and writing one keeps its objects pending. */
int quire_objs_open_memory(struct quire_objs **out);

/* Whether object hex (64 hex digits) is known, written or pending. */
int quire_objs_has(struct quire_objs *o, const char *hex);

/* The bytes of object hex, appended to out, verified against the name: QUIRE_ENOTFOUND,
 * QUIRE_ECORRUPT (naming the pack), QUIRE_EIO. */
int quire_objs_read(struct quire_objs *o, const char *hex, struct quire_buf *out);

/* Object hex parsed as JSON (new reference in *out). Errors as quire_objs_read. */
int quire_objs_read_json(struct quire_objs *o, const char *hex, json_t **out);

/* While on, an object put is not looked for in the packs, only among those read or put
 * already: for a tree made only to be compared with others, then rolled back, not written
 * (whether it is in a pack does not matter to it, and each lookup is a query). */
void quire_objs_scratch(struct quire_objs *o, int on);

/* Makes data an object: its name (hex, 65 bytes) and, unless it is known, a pending object. */
void quire_objs_put(struct quire_objs *o, const void *data, size_t len, char hex[65]);

/* The same, stored as a delta against object near (64 hex digits, NULL: none) when the two
 * share most of their bytes at their ends (a collector's record after one upstream changed):
 * the pack line is then "<hex> <length> <near>" and the bytes "<prefix> <suffix>\n<middle>".
 * Reading follows at most 16 bases; the object read is verified against its name. */
void quire_objs_put_near(struct quire_objs *o, const void *data, size_t len, const char *near,
			 char hex[65]);

/* A delta of data against base, "<prefix> <suffix>\n<middle>" (data is the base's first
 * prefix bytes, the middle and the base's last suffix bytes), appended to out when it is
 * worth it (the middle and 64 bytes under half of data): 1, else 0 and out unchanged. */
int quire_objs_delta(const char *base, size_t blen, const char *data, size_t len,
		     struct quire_buf *out);

/* Appends to out what delta d makes of base: 0, or -1 (out unchanged) when d is not one of
 * base. */
int quire_objs_apply_delta(const char *base, size_t blen, const char *d, size_t dlen,
			   struct quire_buf *out);

/* The bytes of the dependency record fingerprint fp names whose deps are the canonical JSON
 * text deps (dlen bytes): {"deps":<deps>,"v":N}, N the version that hashes to fp, in out
 * (replaced): 1, or 0 when neither does. */
int quire_record_bytes(const char *fp, const char *deps, size_t dlen, struct quire_buf *out);

/* A dependency record in a run's event as a delta (docs/design-notes.md, "Events that name
 * records"): the record of fingerprint fp ({"deps": deps, "v": N}, N whichever of 1 and 2
 * hashes to fp) against record near (a fingerprint, fp itself too) in o, appended to out when
 * near's record is there and the delta is worth it: 1, else 0 (nothing said). */
int quire_record_delta(struct quire_objs *o, const char *near, const char *fp, const char *deps,
		       size_t dlen, struct quire_buf *out);

/* The same as an event carries it, {"base": near, "delta": ...} (new reference), or NULL
 * when no delta is made (or the delta, cut inside a UTF-8 character, is no JSON string): then
 * the record goes whole. */
json_t *quire_record_delta_ref(struct quire_objs *o, const char *near, const char *fp,
			       const char *deps, size_t dlen);

/* A record this large goes into an event as a delta of the record the entry had, when that
 * is much smaller: a collector's (the Book's at 10k is 918 KB). */
#define QUIRE_RECORD_DELTA_MIN 4096

/* The deps text (malloc'd, in *deps) of the record of fingerprint fp that delta makes of
 * record base in o: 0, QUIRE_ENOTFOUND (base not there), QUIRE_ECORRUPT (not a delta of it,
 * or the result is not fp's record). */
int quire_record_undelta(struct quire_objs *o, const char *base, const char *fp, const char *delta,
			 size_t dlen, char **deps);

/* The pending objects so far (a mark), and the first error making one (an object past 4
 * GiB: QUIRE_EINVALID; the object is not made and no pack is written until a rollback). */
size_t quire_objs_mark(const struct quire_objs *o);
int quire_objs_error(const struct quire_objs *o);

/* Forgets the pending objects made since mark, and the error: what a failed build made. */
void quire_objs_rollback(struct quire_objs *o, size_t mark);

/* Keeps err (its message set) as the first error making an object: nothing is written until
 * a rollback. */
void quire_objs_fail(struct quire_objs *o, int err);

/* Bytes pending. */
size_t quire_objs_pending_bytes(const struct quire_objs *o);

/* Writes the pending objects as revision rev's pack: .quire/revs/<rev>.objects (rev's own
 * object must be pending: it is written first), then <rev>.2.objects and on for the parts
 * past QUIRE_OBJS_PART_MAX, the first part last, each atomically (temp, fsync, rename), so a
 * pack whose first part exists is whole. The objects are then known, not pending. */
int quire_objs_write_pack(struct quire_objs *o, const char *rev);

/* A revision to build: a manifest in format 1's shape (its artefacts, files, inputs and
 * other keys; "revision", "parent", "parents" and "format" are not kept), the format-2 names
 * of its parents, its generation and the name it had in format 1 (NULL: none). */
struct quire_rev2_in {
	const json_t *manifest;
	const char *parents[2]; /* 64 hex digits each */
	size_t nparents;
	long long generation;
	const char *alias;
	/* An entry given as {QUIRE_REV2_TEXT: n}, n an integer, is entry_of(entry_ud, n) (a new
	 * reference, an entry as given to the build; NULL with the error set), asked for when
	 * its leaf is made and let go then, by quire_rev2_build and quire_rev2_update alike: a
	 * first build's 10,000 entry texts are not held at once (13 MB at 10k), nor the
	 * entries an outline change rewrites (all of them). */
	json_t *(*entry_of)(void *ud, long long n);
	void *entry_ud;
};

/* An entry given to quire_rev2_build as {QUIRE_REV2_TEXT: "<its text>"}, the text being
 * canonical (quire_json_is_canonical): its leaf is made from the text without parsing it
 * (a first build's 10,000 entries, which the fold holds as text). */
#define QUIRE_REV2_TEXT "\001text"

/* Makes the objects of revision in (pending: quire_objs_write_pack writes them); *rev gets
 * its name. QUIRE_ECORRUPT when an artefact id is not Name[i]..., an entry not an object. */
int quire_rev2_build(struct quire_objs *o, const struct quire_rev2_in *in, char rev[65]);

/* One artefact a revision changed: its new entry (format 1's shape), or NULL when removed. */
struct quire_rev2_change {
	const char *id;
	const json_t *entry;
};

/* Revision in (its artefacts: not in->manifest's, but those of revision base with the n
 * changes applied, each id at most once): only the nodes on the changed ids' paths are read
 * and made, and the revision is the one quire_rev2_build makes of the whole manifest, byte
 * for byte. Errors as quire_rev2_build, and as reading base. */
int quire_rev2_update(struct quire_objs *o, const struct quire_rev2_in *in, const char *base,
		      const struct quire_rev2_change *ch, size_t n, char rev[65]);

/* Removes revision rev's pack, every part of it (a move to format 2 that could not finish
 * takes back the packs it wrote). */
void quire_objs_remove_pack(const char *qdir, const char *rev);

/* Revision rev read back in format 1's shape: "artefacts" (each entry as it was, its "deps"
 * read from the record its fingerprint names, and each take's but the shown one's),
 * "files", "inputs", the revision's other keys, "revision" (rev), "parents", "generation"
 * and "alias". New reference. */
int quire_rev2_load(struct quire_objs *o, const char *rev, json_t **out);

/* The same, reading only the parts asked for besides the revision's own object (its keys,
 * "parents", "generation", "alias"), and its artefact count in *entries (when given): the
 * log reads one object per revision, a diff's head the inputs too. */
enum { QUIRE_REV2_ARTEFACTS = 1, QUIRE_REV2_FILES = 2, QUIRE_REV2_INPUTS = 4, QUIRE_REV2_ALL = 7 };
int quire_rev2_read(struct quire_objs *o, const char *rev, int parts, json_t **out,
		    long long *entries);

/* The files of the project (files: path -> digest, or that map's JSON text as a string, as
 * quire_project_files_text writes it) that differ from revision rev's: into
 * changed, path -> the digest now, or null for a file rev has and files has not. Only the
 * nodes of rev's files tree whose names differ from those files' are read (one file changed
 * among 10,000: the revision's object and two nodes). Nothing is written. */
int quire_rev2_files_changed(struct quire_objs *o, const char *rev, const json_t *files,
			     json_t *changed);

/* Artefact id's entry in revision rev, in format 1's shape (its record's deps put back):
 * only the nodes on its path are read. *out NULL when rev has no such artefact. */
int quire_rev2_entry(struct quire_objs *o, const char *rev, const char *id, json_t **out);

/* Entries of revision rev read one by one (a head's index names only their ids): the nodes
 * on the last path read are kept, so ids read in order read each node once. */
struct quire_rev2_reader;
int quire_rev2_reader_new(struct quire_objs *o, const char *rev, struct quire_rev2_reader **out);
void quire_rev2_reader_free(struct quire_rev2_reader *r);

/* Artefact id's entry as quire_rev2_entry gives it, its own "deps" kept as JSON text (in a
 * JSON string, quire_json_loads_keeping) when at least keep bytes (SIZE_MAX: parsed). */
int quire_rev2_reader_entry(struct quire_rev2_reader *r, const char *id, size_t keep, json_t **out);

/* The ids whose entries differ between the artefacts of revisions a and b (either NULL: no
 * artefacts), sorted, each once: visit(ud, id) for each (non-zero stops and is returned).
 * Reads only the tree nodes that differ. */
int quire_rev2_diff(struct quire_objs *o, const char *a, const char *b,
		    int (*visit)(void *ud, const char *id), void *ud);

/* The same, with each side's entry as its leaf holds it (without its record; NULL on the side
 * that lacks the id): what a diff of two revisions shows, without reading anything else. */
int quire_rev2_diff_entries(struct quire_objs *o, const char *a, const char *b,
			    int (*visit)(void *ud, const char *id, const json_t *ea,
					 const json_t *eb),
			    void *ud);

/* The same, holding of each entry only what keep makes of it (a new reference; NULL holds
 * nothing, and visit then sees NULL for that side) until every differing id is found and
 * sorted: an outline change differs in every entry, and 10,000 of each side held whole
 * were 100 MB. */
int quire_rev2_diff_kept(struct quire_objs *o, const char *a, const char *b,
			 json_t *(*keep)(const json_t *e),
			 int (*visit)(void *ud, const char *id, const json_t *ea, const json_t *eb),
			 void *ud);

/* Revisions walked one after another (quire_rev2_walk_rev), each tree node read once: the
 * files and entries of a node an earlier revision of the walk had are not visited again (a
 * node holding an entry whose record is lost excepted). Errors as quire_rev2_read's, or a
 * visitor's. */
struct quire_rev2_walk;
struct quire_rev2_walk *quire_rev2_walk_new(struct quire_objs *o,
					    const struct quire_manifest_visitor *v);
int quire_rev2_walk_rev(struct quire_rev2_walk *w, const char *rev);
void quire_rev2_walk_free(struct quire_rev2_walk *w);
/* Whether the last quire_rev2_walk_rev was stopped by the visitor (its error, as it gave it)
 * rather than by what was read. */
int quire_rev2_walk_by_visitor(const struct quire_rev2_walk *w);

/* Converts every format-1 manifest of qdir into a format-2 revision, parents first, each
 * written as its pack (a revision converted before is found, not written again); names
 * (when given) maps each format-1 name to its revision's. A manifest that cannot be read
 * stops it, or with lenient is left out (its children count it as absent). */
int quire_rev2_convert(const char *qdir, struct quire_objs *o, json_t *names, int lenient);

/* Moves qdir's history to format 2: every format-1 manifest converted (one that cannot be
 * read stops it: the packs it wrote are removed unless current names a format-2 revision),
 * .quire/current rewritten with the converted names, quire.db's runs renamed, the format-1
 * manifests (and their indexes) removed, .quire/format written, the heads rendered; names
 * (when given) gets the map. Run again after a crash, it finds the revisions converted and
 * finishes. Commands that commit call it through quire__store_upgrade. */
int quire_rev2_upgrade(const char *qdir, json_t *names);

/* Whether format-1 revision rev of qdir, converted with the rest of its history (in memory),
 * reads back as its manifest, and (m and base given: the slim manifest a commit folded onto
 * base, rev's parent) whether the revision made from its parent's tree and m's changed
 * entries is the same: QUIRE_ECORRUPT naming the first difference. For the test suite while
 * commands are moved to format 2 (QUIRE_FORMAT2_CHECK: every revision written is checked
 * so). */
struct quire_mbase;
int quire_rev2_check(const char *qdir, const char *rev, const json_t *m, struct quire_mbase *base);

/* A revision as the object index lists it. */
struct quire_rev2_info {
	char name[65];
	const char *alias; /* NULL: none */
	long long generation, entries;
	const char *parents[2];
	size_t nparents;
};

/* Calls visit(ud, r) for every revision the packs hold, by generation then name, until it
 * returns non-zero (returned); from the index, without reading a tree (without one, every
 * object is read). The strings are borrowed for the call. */
int quire_objs_revisions(struct quire_objs *o,
			 int (*visit)(void *ud, const struct quire_rev2_info *r), void *ud);

/* The revision whose format-1 name was alias (rev-NNNN, a manifest's digest): its name in
 * rev. QUIRE_ENOTFOUND. */
int quire_objs_alias(struct quire_objs *o, const char *alias, char rev[65]);

/* How many objects quire_objs_read has read (what a diff or a walk cost). */
size_t quire_objs_reads(const struct quire_objs *o);

#endif
