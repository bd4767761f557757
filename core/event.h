/* Event kinds: one name table for whoever records events (the runner, edit, rewind, recovery)
 * and for the fold that makes a revision's manifest from them (manifest_fold.c). The names are
 * what quire.db stores; docs/design-notes.md lists them (a unit test holds it to this table). */
#ifndef QUIRE_EVENT_H
#define QUIRE_EVENT_H

enum quire_ev {
	QUIRE_EV_RUN_START,
	QUIRE_EV_RUN_END,
	QUIRE_EV_RUN_RECOVERED,
	QUIRE_EV_PRODUCED,
	QUIRE_EV_CACHED,
	QUIRE_EV_FAILED,
	QUIRE_EV_BLOCKED,
	QUIRE_EV_REMOVED,
	QUIRE_EV_LOST,
	QUIRE_EV_INPUT_SET,
	QUIRE_EV_EDITED,
	QUIRE_EV_RELEASED,
	QUIRE_EV_APPROVED,
	QUIRE_EV_FEEDBACK,
	QUIRE_EV_TAKE_SELECTED,
	QUIRE_EV_RESTORED,
	QUIRE_EV_ART_RESTORED,
	QUIRE_EV_COUNT
};

struct quire_ev_name {
	const char *name;    /* "artefact.produced" */
	const char *meaning; /* one line: who records it, what it says */
};

/* Indexed by enum quire_ev. */
extern const struct quire_ev_name quire_evs[QUIRE_EV_COUNT];

static inline const char *quire_ev_name(enum quire_ev k)
{
	return quire_evs[k].name;
}

/* The kind named name, or -1 (an event from a newer quire: the fold ignores it). */
int quire_ev_parse(const char *name);

#endif
