/* A project's history as data: its revisions, the differences between two of them, and what
 * in one needs attention. The CLI's log, diff and status views print these. */
#ifndef QUIRE_HISTORY_H
#define QUIRE_HISTORY_H

#include <jansson.h>

/* Resolves a revision as a user names it: "current", "current~N" (N first parents back;
 * "current^" is "current~1"), "rev-NNNN" or "NNNN". *rev gets the revision's name
 * (malloc'd). QUIRE_ENOTFOUND (nothing committed, no such revision, or past the first one),
 * QUIRE_EINVALID (not a way to name one). */
int quire_revision_resolve(const char *qdir, const char *spec, char **rev);

/* Revision rev for comparing and listing: its head (inputs, files, counts, ...) and per
 * artefact only {digest, status, ext}, from its index (no entry parsed: what a rewind's
 * preview needs, at the cost of the index), or its whole manifest when it has no usable
 * index. New reference. QUIRE_ENOTFOUND, QUIRE_ECORRUPT. */
int quire_revision_view(const char *qdir, const char *rev, json_t **out);

/* Revisions a and b for comparing, each as its own keys, "inputs" (and "files" when files
 * is non-zero) and "artefacts" holding only its entries that differ from the other's (of each,
 * its digest, status, type, ext and fingerprint), read from the tree nodes that differ: 1 with *va
 * and *vb set (new references), 0 when either is not a format-2 revision here (nothing set),
 * or an error. What a diff, a rewind and its preview read. */
int quire_revision_views_by_change(const char *qdir, const char *a, const char *b, int files,
				   json_t **va, json_t **vb);

/* Every revision, oldest first: [{revision, parent, created, message, produced, cached,
 * failed, edited, cost_micro, artefacts, restored_from?, recovered?}]; a revision file that
 * cannot be read is a row {revision, error}. New reference in *out. */
int quire_history_log(const char *qdir, json_t **out);

/* What differs from revision a to revision b: {from, to, inputs: [{name, from, to}],
 * artefacts: {added: [id], removed: [id], changed: [{id, from, to, digest_from, digest_to,
 * text}]}}, where from/to of a changed artefact are its statuses and text says both outputs
 * are text or JSON (worth a line diff). QUIRE_ENOTFOUND, QUIRE_ECORRUPT. New reference. */
int quire_revision_diff(const char *qdir, const char *a, const char *b, json_t **out);

/* The same for two manifests already loaded. New reference. */
json_t *quire_manifest_diff(const json_t *ma, const json_t *mb);

/* What needs attention in manifest m: {revision, artefacts: {failed, blocked, stale,
 * pending-review, user-edited: [id]}, total_cost_micro}. New reference. */
json_t *quire_revision_status(const json_t *m);

/* The same for the revision a plan was made against, from its rows (no entry is parsed). */
struct quire_plan;
json_t *quire_plan_attention(const struct quire_plan *plan);

#endif
