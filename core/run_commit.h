/* Internal: what edits and rewinds share with the runner (core/run_commit.c): recording events,
 * committing a run as a revision, recovering killed runs, snapshotting input files. */
#ifndef QUIRE_RUN_COMMIT_H
#define QUIRE_RUN_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct quire_plan;
struct quire_project;
struct quire_store;

/* Records one event (and optionally its action-cache entry) in its own transaction. */
int quire__run_record(struct quire_store *store, int64_t run, const char *kind, const char *subject,
		      const json_t *data, const char *ac_fp, const json_t *ac);

/* Commits run `run` as revision rev: parent's manifest (parent_manifest when the caller has it
 * loaded, else read) folded with the run's events, written, `current` moved, the run marked
 * committed. rev (QUIRE_REV_MAX bytes) is the run's name, QUIRE_REV_PENDING for a new
 * revision, and gets the name it was given. *out (may be NULL) gets the new manifest. */
int quire__run_commit(const char *qdir, struct quire_store *store, int64_t run, char *rev,
		      const char *parent, const json_t *parent_manifest, json_t **out);

/* The same folded onto slim manifest m (consumed) over base, the parent's rows: an edit
 * reads the entries it changes, not the whole parent. */
struct quire_mbase;
int quire__run_commit_slim(const char *qdir, struct quire_store *store, int64_t run, char *rev,
			   json_t *m, struct quire_mbase *base, json_t **out);

/* Commits runs that were killed before they finished; names the last one in recovered. */
int quire__run_recover(struct quire_project *p, struct quire_store *store, char *recovered,
		       size_t len);

/* Keeps the content of every file in p->files in the blob store: those plan found missing
 * there, or (plan NULL) every one not there; the digest of each stored is appended to stored
 * (when given: a run's start event lists them, for recovery to check). */
int quire__run_snapshot(struct quire_project *p, const struct quire_plan *plan, json_t *stored);

/* Empties .quire/tmp. */
void quire__run_clear_tmp(const char *dir);

#endif
