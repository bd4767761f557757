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

/* Writes manifest rev (canonical pretty JSON, temp + fsync + rename). */
/* Appends the manifest's file text to out: sorted keys, two-space indentation, a final
 * newline (the same bytes as jansson's JSON_SORT_KEYS | JSON_INDENT(2)). */
void quire_manifest_text(const json_t *m, struct quire_buf *out);

int quire_manifest_write(const char *qdir, const char *rev, const json_t *m);

/* Points .quire/current at rev (temp + fsync + rename). */
int quire_manifest_set_current(const char *qdir, const char *rev);

/* Writes a compact index of manifest rev (per artefact only what deciding "up to date" needs:
 * status, digest, fingerprint, take, feedback, size, ext, type, duration) under .quire/runs/,
 * tied to the manifest file's size and mtime. A cache: failure to write it is not an error. */
void quire_manifest_write_index(const char *qdir, const char *rev, const json_t *m);

/* Loads the index of rev as a slim manifest (no deps, takes or inputs), or *out = NULL when
 * there is none or the manifest file changed since it was written. */
void quire_manifest_load_index(const char *qdir, const char *rev, json_t **out);

/* Highest revision number among the manifests on disk (0 when none). */
long quire_manifest_max_rev(const char *qdir);

#endif
