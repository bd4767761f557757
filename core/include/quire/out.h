/* out/: the current revision materialised as ordinary, make-friendly files. */
#ifndef QUIRE_OUT_H
#define QUIRE_OUT_H

#include <stddef.h>

#include <jansson.h>

struct quire_project;

/* Makes out/ match manifest m: writes each artefact with an output (clean or stale) as
 * out/<path-safe id>.<ext>, rewriting only files whose content differs (stable mtimes), and
 * removes files of artefacts the previous manifest prev had and m has not. Names never leave
 * out/; a symlink in out/ is replaced, never followed. Counts in *written and *removed. */
int quire_out_sync(const struct quire_project *p, const json_t *m, const json_t *prev,
		   size_t *written, size_t *removed);

/* What a check of out/ found in place: the files that held the output they should. A sync
 * that follows under the same lock (a run's, after its commit) does not look at those again
 * when they should still hold the same output: it writes what changed and what the check
 * found missing or stale; a file changed by hand in between is found by the next check. */
struct quire_out_seen;
void quire_out_seen_free(struct quire_out_seen *s);

/* The same for manifests over bases (quire_manifest_load_index; a NULL manifest or base is
 * none; prev and prevbase both NULL: remove nothing), trusting the store's stat cache (may be
 * NULL) for files unchanged since they were last hashed, and recording what it hashes; seen
 * (may be NULL): what the run's check before it found in place. */
struct quire_store;
struct quire_mbase;
int quire_out_sync_cached(const struct quire_project *p, struct quire_store *store, const json_t *m,
			  const struct quire_mbase *base, const json_t *prev,
			  const struct quire_mbase *prevbase, const struct quire_out_seen *seen,
			  size_t *written, size_t *removed);

/* A file in out/ that quire will not overwrite or remove: it holds neither the output it was
 * written for nor another output quire can account for (of the revisions at hand or of the
 * action cache, its blob in the store): a hand edit, a merge's conflict markers.
 * The syncs above leave such a file as it is, write everything else, and then return
 * QUIRE_ECONFLICT naming it (quire_out_conflict_error). */
struct quire_out_conflict {
	char *file;  /* relative to the project: "out/Chapter-1.md" */
	char *id;    /* the artefact it belongs to */
	int gone;    /* the artefact is no longer built (the file would have been removed) */
	char *now;   /* or it is now written under another name (its extension changed): that
		      * file, relative to the project; else NULL */
	int markers; /* it holds git's conflict markers (a merge without quire's driver) */
};

/* Checks out/ against manifest m (over base; either may be NULL) without changing anything,
 * not even the stat cache: *out gets the files a sync would refuse to replace (malloc'd, *n of
 * them; free with quire_out_conflicts_free). allowed (may be NULL): digests an edit is about
 * to store (a file in out/ being adopted by hand is not a conflict). */
int quire_out_check(const struct quire_project *p, struct quire_store *store, const json_t *m,
		    const struct quire_mbase *base, const char *const *allowed, size_t nallowed,
		    struct quire_out_conflict **out, size_t *n);

void quire_out_conflicts_free(struct quire_out_conflict *c, size_t n);

/* Sets the QUIRE_ECONFLICT message: each file, and the commands that adopt it as a hand edit
 * (quire edit ID --file ...) or discard it. Returns QUIRE_ECONFLICT. */
int quire_out_conflict_error(const struct quire_out_conflict *c, size_t n);

/* Before a command changes anything: QUIRE_ECONFLICT (with that message) when out/ holds a
 * file a sync to m would refuse, else 0. */
int quire_out_preflight(const struct quire_project *p, struct quire_store *store, const json_t *m,
			const struct quire_mbase *base, const char *const *allowed,
			size_t nallowed);

/* quire_out_preflight that also says what it found in place (*seen, for the sync after;
 * NULL after an error) and records in the stat cache the files it had to read (the sync
 * trusts what it found: without that, every run would read every output again). */
int quire_out_preflight_seen(const struct quire_project *p, struct quire_store *store,
			     const json_t *m, const struct quire_mbase *base,
			     const char *const *allowed, size_t nallowed,
			     struct quire_out_seen **seen);

/* Takes back into the blob store the outputs a plan found missing (a fresh clone, a blob
 * removed as corrupt) from their out/ files, when a file holds exactly the recorded bytes
 * (hashed, never trusted by name); *adopted counts them. QUIRE_EIO. */
struct quire_plan;
int quire_out_adopt(const struct quire_project *p, const struct quire_plan *plan, size_t *adopted);

/* The out/ file name of an artefact entry (malloc'd), e.g. "Scene-1-0.md". */
char *quire_out_name(const char *id, const json_t *entry);

#endif
