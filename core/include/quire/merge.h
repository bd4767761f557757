/* Merging two lines of history: after git merges two clones that each ran, .quire/current
 * names both heads; the next writer commits their merge, a revision with two parents. */
#ifndef QUIRE_MERGE_H
#define QUIRE_MERGE_H

#include <stddef.h>

#include <jansson.h>

struct quire_project;
struct quire_store;

/* The merge of heads a and b of project root as a manifest (new reference in *out; its
 * "revision" is QUIRE_REV_PENDING): its first parent is the head store (may be NULL) last
 * committed, else the first by name. Each artefact is taken from the side that changed it
 * since the merge base; one both changed keeps the first parent's shown output (unless only
 * the other's is pinned: a pin beats a regeneration) with every take of both, approvals of
 * the shown output from either side and both sides' feedback notes. The outputs it shows or
 * lists that the store lacks are taken from the project's git history where a commit holds
 * them in out/. QUIRE_ENOTFOUND, QUIRE_ECORRUPT (a revision that cannot be read). */
int quire_merge_build(const char *root, const char *qdir, struct quire_store *store, const char *a,
		      const char *b, json_t **out);

/* Under the project lock: when .quire/current names two lines of history, commits their
 * merge (quire_merge_build) as a revision, records every generated take it lists whose output
 * is in the store in the action cache, and points current at it; merged (QUIRE_REV_MAX bytes)
 * gets its name, "" when there was nothing to merge. It records the project's files and
 * inputs as they are (after git's merge; their contents kept). An artefact both clones wrote by
 * hand shows this clone's text; the other's is put in .quire/edits/ and notes (may be NULL) gets a
 * sentence saying where. More than two lines of history: QUIRE_ECONFLICT (keep two in
 * .quire/current). */
int quire_merge_heads(struct quire_project *p, struct quire_store *store, char *merged,
		      json_t *notes);

/* Commits merge manifest m (quire_merge_build's, under the lock) as quire_merge_heads does,
 * without recording the project's files in it. */
int quire_merge_commit(const char *root, const char *qdir, struct quire_store *store, json_t *m,
		       char *merged, json_t *notes);

/* Every generated take manifest m lists, in the action cache under its fingerprint (what
 * fsck --repair's rebuild and a merge do): never a take accepted with 'run --touch' (not made
 * for its fingerprint). With present, only those whose output is in the store and whose
 * fingerprint has no row yet. Within the caller's transaction. */
int quire_takes_remember(struct quire_store *store, const char *qdir, const json_t *m, int present);
/* The same for one entry e. */
int quire_takes_remember_entry(struct quire_store *store, const char *qdir, const json_t *e,
			       int present);

/* The project's files and inputs as they are after git's merge recorded in merge manifest m
 * in place of the first parent's (with keep, their contents kept in the store, so the merge
 * can be rewound to). A project that does not load or whose files cannot be read leaves the
 * first parent's (a rewind may be what mends it). */
int quire_merge_record_project(struct quire_project *p, struct quire_store *store, json_t *m,
			       int keep);

/* For a reader (plan): the merge of the two lines of history .quire/current names, in *out
 * (NULL when it names one or none), without committing it. */
int quire_merge_preview(const char *root, const char *qdir, struct quire_store *store,
			json_t **out);

#endif
