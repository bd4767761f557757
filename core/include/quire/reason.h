/* Why an instance is dirty: one name table for the planner, `plan --help`, the docs and the
 * JSON a plan prints (a reason there is its text: the name, then ": SUBJECT" when it has one). */
#ifndef QUIRE_REASON_H
#define QUIRE_REASON_H

enum quire_reason_kind {
	QUIRE_REASON_NEW,
	QUIRE_REASON_INPUT,
	QUIRE_REASON_PROMPT,
	QUIRE_REASON_SCHEMA,
	QUIRE_REASON_BINDING,
	QUIRE_REASON_DEFINITION,
	QUIRE_REASON_UPSTREAM_CHANGED,
	QUIRE_REASON_UPSTREAM_FIELD,
	QUIRE_REASON_UPSTREAM_ADDED,
	QUIRE_REASON_UPSTREAM_REMOVED,
	QUIRE_REASON_UPSTREAM_MORE,
	QUIRE_REASON_OUTPUT_MISSING,
	QUIRE_REASON_OUTPUT_MISSING_REMOTE,
	QUIRE_REASON_FAILED,
	QUIRE_REASON_BLOCKED,
	QUIRE_REASON_STALE,
	QUIRE_REASON_RELEASED,
	QUIRE_REASON_FEEDBACK,
	QUIRE_REASON_REGENERATE,
	QUIRE_REASON_FINGERPRINT,
	QUIRE_REASON_AWAITING,
	QUIRE_REASON_COUNT
};

struct quire_reason_name {
	const char *name;    /* "input changed" */
	const char *subject; /* what follows ": " ("NAME", "ID", ...), or NULL for none */
	const char *meaning; /* one line for help and docs */
};

/* Indexed by enum quire_reason_kind. */
extern const struct quire_reason_name quire_reasons[QUIRE_REASON_COUNT];

/* The text of a reason (malloc'd): its name, and ": subject" when it takes one. The "more
 * upstream changes" reason reads "and SUBJECT more upstream changes". */
char *quire_reason_text(enum quire_reason_kind k, const char *subject);

#endif
