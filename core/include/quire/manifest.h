/* Manifests: immutable revisions (.quire/manifests/rev-NNNN.json), each a pure fold of the
 * previous manifest and one run's events, and the atomically moved .quire/current pointer. */
#ifndef QUIRE_MANIFEST_H
#define QUIRE_MANIFEST_H

#include <stdint.h>

#include <jansson.h>

struct quire_buf;

/* Formats revision number n as "rev-NNNN" into out (at least 16 bytes). */
void quire_rev_format(long n, char *out, size_t outlen);

/* Parses "rev-NNNN" (or a bare number); -1 when malformed. */
long quire_rev_parse(const char *s);

/* The current revision's name (malloc'd) or *rev = NULL when nothing was committed yet.
 * QUIRE_ECORRUPT when .quire/current is malformed. */
int quire_manifest_current(const char *qdir, char **rev);

/* Loads and checks a manifest. QUIRE_ENOTFOUND, QUIRE_ECORRUPT. New reference in *out. */
int quire_manifest_load(const char *qdir, const char *rev, json_t **out);

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

/* The text of a committed manifest, held open read-only. A slim manifest (from the compact
 * index) names, for each of its entries, the entry's byte range in it: a plan parses only
 * the entries it must explain, and a commit copies every entry it did not change. */
struct quire_mbase;

void quire_mbase_free(struct quire_mbase *base);

/* Writes manifest rev (canonical pretty JSON, temp + fsync + rename) and its compact index
 * under .quire/runs/ (per artefact what deciding "up to date" needs: status, digest,
 * fingerprint, take, feedback, size, ext, type, duration, and the entry's byte range; tied to
 * the manifest file's size and mtime; a cache, so failing to write it is no error). */
int quire_manifest_write(const char *qdir, const char *rev, const json_t *m);

/* The same for a manifest folded onto a slim one: entries still slim are copied from base's
 * text (the same bytes as writing them). */
int quire_manifest_write_from(const char *qdir, const char *rev, const json_t *m,
			      struct quire_mbase *base);

/* Points .quire/current at rev (temp + fsync + rename). */
int quire_manifest_set_current(const char *qdir, const char *rev);

/* Loads the index of rev as a slim manifest (no deps, takes, files or inputs) and its base
 * (the manifest's text, for quire_manifest_materialise and quire_manifest_write_from), or
 * *out = *base = NULL when there is none or the manifest file changed since it was written. */
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

/* Replaces the full entry of id in m by a compact one: the index's fields and the entry's
 * text (a tenth of the memory of a parsed entry). Writing m copies the text;
 * quire_manifest_materialise parses it back. Nothing for a slim or missing entry. */
void quire_manifest_compact(json_t *m, const char *id);

/* A new reference to the full entry of id in m, parsed from base (or its compacted text) when
 * m holds only a slim one, which stays in m; NULL when m has none. Errors as below. */
int quire_manifest_peek(const json_t *m, struct quire_mbase *base, const char *id,
			json_t **entry);

/* The full entry of id in m (*entry borrowed from m; NULL when m has none): a slim entry is
 * parsed from base's text (a compacted one from its own) and replaces the slim one in m. QUIRE_ECORRUPT when the text there
 * is not the entry. */
int quire_manifest_materialise(json_t *m, struct quire_mbase *base, const char *id,
			       json_t **entry);

/* Highest revision number among the manifests on disk (0 when none). */
long quire_manifest_max_rev(const char *qdir);

#endif
