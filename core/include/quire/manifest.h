/* Manifests: immutable revisions (.quire/manifests/rev-NNNN.json), each a pure fold of the
 * previous manifest and one run's events, and the atomically moved .quire/current pointer. */
#ifndef QUIRE_MANIFEST_H
#define QUIRE_MANIFEST_H

#include <stdint.h>

#include <jansson.h>

struct quire_buf;

/* A revision's name: the SHA-256 (64 hex digits) of its manifest's bytes with
 * QUIRE_REV_PENDING where its own name goes (new revisions: two clones never make two
 * revisions of one name), or "rev-NNNN" (format 1's numbered revisions, still named so).
 * Shown as its first 12 characters ("%.12s" prints either form). */
#define QUIRE_REV_MAX 72
#define QUIRE_REV_PENDING "0000000000000000000000000000000000000000000000000000000000000000"

/* 0 when this quire knows the stored form .quire/format names (none: format 1, moved by the
 * next writer; "2"), else QUIRE_ENEWER saying what it names: every command refuses such a
 * store before reading or writing it. */
int quire_store_format_check(const char *qdir);

/* Formats revision number n as "rev-NNNN" into out (at least 16 bytes). */
void quire_rev_format(long n, char *out, size_t outlen);

/* Parses "rev-NNNN" (or a bare number); -1 when malformed. */
long quire_rev_parse(const char *s);

/* Whether s is 64 lowercase hex digits; whether s is a revision name of either form. */
int quire_rev_is_digest(const char *s);
int quire_rev_valid(const char *s);

/* The names in .quire/current, one per line, as written (git's union merge of two clones
 * leaves one line each; conflict markers are skipped), deduplicated, malloc'd. None when
 * nothing was committed. QUIRE_ECORRUPT when a line is no revision name. */
int quire_manifest_head_list(const char *qdir, char ***heads, size_t *n);

/* Whether .quire/current holds git's conflict markers (a merge without quire's
 * .gitattributes). */
int quire_manifest_current_conflicted(const char *qdir);

/* The same without the heads another head descends from: the lines of history to merge. */
int quire_manifest_heads(const char *qdir, char ***heads, size_t *n);

/* The current revision's name (malloc'd) or *rev = NULL when nothing was committed yet.
 * QUIRE_ECORRUPT when .quire/current is malformed; QUIRE_ECONFLICT when it names two lines
 * of history (quire_manifest_heads). */
int quire_manifest_current(const char *qdir, char **rev);

/* The parents of rev, first parent first (malloc'd, *n of them: 0 for the first revision,
 * 2 for a merge). Errors as quire_manifest_head. */
int quire_manifest_parents(const char *qdir, const char *rev, char *parents[2], size_t *n);

/* Calls visit(ud, rev) for from and each of its ancestors, nearest first (breadth first over
 * parents, each once), until it returns non-zero (returned). */
int quire_manifest_walk(const char *qdir, const char *from, int (*visit)(void *ud, const char *rev),
			void *ud);

/* Whether a is an ancestor of b (reading the parents of b's ancestors). */
int quire_manifest_is_ancestor(const char *qdir, const char *a, const char *b);

/* Whether digest-named revision rev's file still hashes to its name; QUIRE_ECORRUPT if not. */
int quire_manifest_verify_name(const char *qdir, const char *rev);

/* Every revision with a manifest on disk, sorted by name (malloc'd). */
int quire_manifest_list(const char *qdir, char ***names, size_t *n);

/* Loads and checks a manifest. QUIRE_ENOTFOUND, QUIRE_ECORRUPT. New reference in *out. */
int quire_manifest_load(const char *qdir, const char *rev, json_t **out);

/* What a scan of revisions calls (each may be NULL; non-zero stops the scan and is
 * returned). */
struct quire_manifest_visitor {
	/* A file revision rev recorded: its path and value (its digest). */
	int (*file)(void *ud, const char *rev, const char *path, const json_t *v);
	/* Artefact id's entry in rev, its dependency record not read back (format 1's entries
	 * hold theirs); with verify, lost is 1 when the record its fingerprint names is not
	 * stored (a damaged pack of format 2), and such an entry is visited in every revision
	 * that holds it. */
	int (*entry)(void *ud, const char *rev, const char *id, const json_t *e, int lost);
	/* Every object the revisions name is read, and so checked against its name (fsck). */
	int verify;
	void *ud;
};

/* The files and artefacts of revisions, one revision after another (quire_manifest_scan):
 * a format-1 manifest is read whole; of format-2 revisions, each tree node is read once in
 * the whole scan, and what an earlier revision's node held is not visited again (gc, fsck
 * and a push need what any revision names, not each revision's copy of it). */
struct quire_manifest_scan;
struct quire_manifest_scan *quire_manifest_scan_new(const char *qdir,
						    const struct quire_manifest_visitor *v);
/* Visits what revision rev holds that the scan has not seen. Errors as quire_manifest_load. */
int quire_manifest_scan(struct quire_manifest_scan *s, const char *rev);
void quire_manifest_scan_free(struct quire_manifest_scan *s);

/* Revision rev with artefact id alone (its own keys, its inputs and "artefacts": {id:
 * entry}), when rev is in format 2 and has that artefact: only the tree nodes on the
 * entry's path are read. *out NULL otherwise (read the revision some other way). */
int quire_manifest_load_entry(const char *qdir, const char *rev, const char *id, json_t **out);

/* Revision rev without its artefacts (*out: its other top-level keys: parent, created,
 * command, message, counts, inputs, files, ...) and how many artefacts it has, read from the
 * end of its manifest without parsing the artefacts (falls back to a whole parse for a file
 * not laid out as quire writes it). Errors as quire_manifest_load. */
int quire_manifest_head(const char *qdir, const char *rev, json_t **out, long long *nartefacts);

/* The same by a whole parse (what the head reader is checked against). */
int quire_manifest_load_whole(const char *qdir, const char *rev, json_t **out,
			      long long *nartefacts);

/* A manifest with no revision, inputs or artefacts. New reference. */
json_t *quire_manifest_empty(void);

/* Applies one event to m (the fold). Unknown kinds are ignored so old quires can read newer
 * logs. */
void quire_manifest_apply(json_t *m, int64_t time_ns, const char *kind, const char *subject,
			  const json_t *data);

/* Appends the manifest's file text to out: sorted keys, two-space indentation, a final
 * newline (the same bytes as jansson's JSON_SORT_KEYS | JSON_INDENT(2)). m must be a full
 * manifest (not slim). */
void quire_manifest_text(const json_t *m, struct quire_buf *out);

/* One artefact of a revision as its compact index has it: what deciding "up to date" and
 * writing out/ need. Strings are borrowed from the base that holds the row. */
struct quire_mrow {
	const char *id;
	const char *status;	 /* NULL when the entry has none */
	const char *digest;	 /* NULL: no output */
	const char *fingerprint; /* NULL when never built */
	const char *ext;
	const char *approved_digest; /* NULL when never approved */
	const char *feedback;	     /* the feedback history as compact JSON, NULL when none */
	long long take, duration_ms; /* 0 when not recorded */
	long long size;		     /* -1 when not recorded */
	size_t off, len;	     /* the entry's byte range in the manifest's text */
};

/* Whether row r holds an output that is current for fingerprint fp: clean, recorded with fp,
 * with an output. The one "up to date" test of the planner and of the runner's early cutoff;
 * whether the output's blob is present is the caller's check. */
int quire_mrow_current(const struct quire_mrow *r, const char *fp);

/* A revision's artefacts as rows (from its compact index, or from a manifest in memory), and
 * the manifest's text held open read-only when there is one: a plan reads the rows and parses
 * only the entries it must explain, and a commit copies every entry it did not change.
 * Reference-counted: _ref adds a holder, _free drops one (NULL is fine). */
struct quire_mbase;

struct quire_mbase *quire_mbase_ref(struct quire_mbase *base);
void quire_mbase_free(struct quire_mbase *base);

/* The row of id (constant time), or NULL. Borrowed from base. */
const struct quire_mrow *quire_mbase_find(const struct quire_mbase *base, const char *id);

/* Every row, in id order (strcmp); *n gets their count. Borrowed. */
const struct quire_mrow *quire_mbase_rows(const struct quire_mbase *base, size_t *n);

/* Whether base holds its manifest's text (it came from the index). */
int quire_mbase_has_text(const struct quire_mbase *base);

/* Rows for the artefacts of full manifest m (their strings copied). No text: entries are
 * read from m itself. */
struct quire_mbase *quire_mbase_from_manifest(const json_t *m);

/* An artefact with an output, as out/ needs it. Strings borrowed. */
struct quire_mout {
	const char *id, *digest, *ext;
	long long size; /* -1 when not recorded */
};

/* The artefacts with an output of m over base (either may be NULL), sorted by id, in *out
 * (malloc'd array); their count. */
size_t quire_manifest_outputs(const json_t *m, const struct quire_mbase *base,
			      struct quire_mout **out);

/* Writes manifest rev (canonical pretty JSON, temp + fsync + rename) and its compact index
 * under .quire/runs/ (per artefact what deciding "up to date" needs: status, digest,
 * fingerprint, take, feedback, size, ext, type, duration, and the entry's byte range; tied to
 * the manifest file's size and mtime; a cache, so failing to write it is no error). */
int quire_manifest_write(const char *qdir, const char *rev, const json_t *m);

/* The same for a manifest folded onto a slim one: entries still slim are copied from base's
 * text (the same bytes as writing them). A new revision (rev and m's "revision" are
 * QUIRE_REV_PENDING) is named by its digest: named (QUIRE_REV_MAX bytes) gets the name. */
int quire_manifest_write_from(const char *qdir, const char *rev, const json_t *m,
			      struct quire_mbase *base, char *named);

/* The same, calling hook(ud, name) once the file is written and synced under a temporary name,
 * before it is renamed to its own: a non-zero return abandons the file. parent, when given,
 * is m's first parent whole as read (an edit holds it), so that a format-2 commit of a whole
 * m finds what changed without reading the parent again. */
int quire_manifest_write_named(const char *qdir, const char *rev, const json_t *m,
			       struct quire_mbase *base, const json_t *parent, char *named,
			       int (*hook)(void *ud, const char *name), void *ud);

/* Moves .quire/current from parent (NULL: none) to rev, keeping any other head it names that
 * rev does not descend from (another clone's, pulled in since: the next writer merges it);
 * temp + fsync + rename. */
int quire_manifest_advance(const char *qdir, const char *parent, const char *rev);

/* Loads the index of rev: *out gets a slim manifest (no files or inputs, and no artefacts:
 * they are base's rows) and *base the rows and the manifest's text (for
 * quire_manifest_materialise and quire_manifest_write_from); *out = *base = NULL when there is
 * none, it is damaged, or the manifest file changed since it was written.
 *
 * A slim manifest's "artefacts" is an overlay on its base: an entry there (full, compacted, or
 * json null for one removed) replaces the base's row of the same id. */
void quire_manifest_load_index(const char *qdir, const char *rev, json_t **out,
			       struct quire_mbase **base);

/* quire_manifest_load_index on a thread of its own, started before the project's files are
 * hashed (the two read different files and share nothing): _finish waits for it and gives
 * what quire_manifest_load_index would. Every start must be finished. */
struct quire_index_load;
struct quire_index_load *quire_manifest_load_index_start(const char *qdir, const char *rev);
void quire_manifest_load_index_finish(struct quire_index_load *l, json_t **out,
				      struct quire_mbase **base);

/* Writes the index of committed revision rev again from its manifest m (loaded whole), when
 * the file holds exactly the text quire writes for m: for a revision whose index is missing
 * (a fresh clone) or was written by another quire. A cache: no error. */
void quire_manifest_reindex(const char *qdir, const char *rev, const json_t *m);

/* Writes the index of format-2 revision rev (which has none) from the newest other format-2
 * index in .quire/runs (one that cannot be used gives way to the next newest, up to four)
 * and the entries that differ between the two revisions' trees: a head git brought in (a
 * pull, a checkout) is indexed reading only the nodes that changed, not the whole revision.
 * 1 when written; 0 when there is no such index or the trees cannot be read (the caller
 * reads rev whole). A cache: no error. */
int quire_manifest_index_near(const char *qdir, const char *rev);

/* Replaces the full entry of id in m by a compact one: the index's fields and the entry's
 * text (a tenth of the memory of a parsed entry). Writing m copies the text;
 * quire_manifest_materialise parses it back. Nothing for a missing or compacted entry. */
void quire_manifest_compact(json_t *m, const char *id);

/* A new reference to the full entry of id in m over base: m's own (parsed when compacted), else
 * base's row parsed from its text; NULL when neither has it (or m removed it). Errors as
 * below. */
int quire_manifest_peek(const json_t *m, struct quire_mbase *base, const char *id, json_t **entry);

/* The same with a large "deps" kept as its JSON text, in a JSON string (see
 * quire_json_loads_keeping): explaining a collector's change needs its fields, not 10,000
 * parsed pairs. */
int quire_manifest_peek_kept(const json_t *m, struct quire_mbase *base, const char *id,
			     json_t **entry);

/* The full entry of id in m over base (*entry borrowed from m; NULL when there is none): one
 * only in base, or compacted, is parsed into m. QUIRE_ECORRUPT when base's text there is not
 * the entry. */
int quire_manifest_materialise(json_t *m, struct quire_mbase *base, const char *id, json_t **entry);

/* Applies one event to m over base (NULL for a full m), the way a commit does: the subject's
 * full entry first (quire_manifest_materialise), then quire_manifest_apply; an entry removed
 * that base has becomes json null in m; with compact, a changed entry is compacted again.
 * A rewind (revision.restored) cannot be folded onto a base: QUIRE_ERROR. */
int quire_manifest_fold(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
			const char *subject, const json_t *data, int compact);

/* The same from the event's data as JSON text (NULL when it has none): with compact, a large
 * dependency record (or a run's file list) is kept as text, not parsed, and laid out where it
 * goes when the entry (or the manifest) is written. m (and its compacted entries) then hold
 * such text, so m is for writing (quire_manifest_write_from) and out/ only. QUIRE_ECORRUPT
 * when the text is not JSON. */
int quire_manifest_fold_text(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
			     const char *subject, const char *text, size_t len, int compact);

#endif
