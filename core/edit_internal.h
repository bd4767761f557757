/* Internal: the edit session (core/edit.c) that rewinds (core/rewind.c) commit through. */
#ifndef QUIRE_EDIT_INTERNAL_H
#define QUIRE_EDIT_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "quire/buf.h"

struct quire_lock;
struct quire_mbase;
struct quire_project;
struct quire_store;

/* A project file as it was before the edit changed it, put back if the edit fails. */
struct quire__kept {
	char *rel;
	struct quire_buf old;
	int existed;
	int mode;   /* its permission bits */
	char *path; /* where it is: through a symbolic link, the file it names */
};

/* A hand edit's content, stored only once the edit is known to go through. */
struct quire__pending {
	char digest[80];
	struct quire_buf data;
};

struct quire_edit {
	const struct quire_project *p; /* whose out/ is synced; root and qdir */
	struct quire_lock *lock;
	struct quire_store *store;
	char *current; /* the current revision, or NULL */
	/* Its manifest (an empty one when there is none): whole, or (base not NULL) slim over
	 * the rows of its index, its keys, inputs and files read from its head, an entry put
	 * in when the edit reads it. */
	json_t *prev;
	struct quire_mbase *base;
	char *command;
	json_t *events; /* [kind, subject, data] triples added by the change calls */
	struct quire__kept *kept;
	size_t nkept, akept;
	struct quire__pending *pend; /* hand edits' contents, stored by quire_edit_finish */
	size_t npend, apend;
	char recovered[QUIRE_REV_MAX];
	json_t *notes; /* what merging two lines of history first has to say */
};

/* Commits events (consumed: let go once they are in the store, before the fold) as the next
 * revision on top of the current one; *next gets the new manifest. Nothing is checked of
 * out/ here (callers preflight). */
int quire__edit_commit_events(struct quire_edit *e, json_t *events, char *rev, size_t revlen,
			      json_t **next);

/* Makes e->prev the current revision's whole manifest (a rewind's event is folded onto the
 * whole revision). */
int quire__edit_whole(struct quire_edit *e);

/* Ends the session (e is freed); restore: the files it kept go back first. */
void quire__edit_end(struct quire_edit *e, int restore);

#endif
