/* The dirty reasons' name table: the planner makes its reasons from it, `plan --help` lists
 * it, and tests hold docs/usage.md to it. */
#include "quire/reason.h"
#include "util.h"

const struct quire_reason_name quire_reasons[QUIRE_REASON_COUNT] = {
	[QUIRE_REASON_NEW] = { "new", NULL, "never built" },
	[QUIRE_REASON_INPUT] = { "input changed", "NAME", "an input it uses has another value" },
	[QUIRE_REASON_PROMPT] = { "prompt changed", NULL, "its prompt template's content changed" },
	[QUIRE_REASON_SCHEMA] = { "schema changed", NULL, "its schema template's content changed" },
	[QUIRE_REASON_BINDING] = { "binding changed", "ROLE",
				   "provider, model or params of its role changed" },
	[QUIRE_REASON_DEFINITION] = { "definition changed", "PRODUCER",
				      "its producer's definition in the blueprint changed" },
	[QUIRE_REASON_UPSTREAM_CHANGED] = { "upstream changed", "ID",
					    "an artefact it uses changed or will be regenerated" },
	[QUIRE_REASON_UPSTREAM_FIELD] = { "upstream field changed", "ID.FIELD",
					  "a JSON field it reads from an artefact it uses "
					  "changed" },
	[QUIRE_REASON_UPSTREAM_ADDED] = { "upstream added", "ID", "a collector's fan-in grew" },
	[QUIRE_REASON_UPSTREAM_REMOVED] = { "upstream removed", "ID",
					    "a collector's fan-in shrank" },
	[QUIRE_REASON_UPSTREAM_MORE] = { "more upstream changes", "N",
					 "how many upstream changes were not listed one by one" },
	[QUIRE_REASON_OUTPUT_MISSING] = { "output missing", NULL,
					  "recorded, but its blob is not in the store" },
	[QUIRE_REASON_OUTPUT_MISSING_REMOTE] = { "output missing here and in the remote cache",
						 NULL,
						 "recorded, but neither the store nor the shared "
						 "cache holds its blob" },
	[QUIRE_REASON_FAILED] = { "previously failed", NULL, "its last attempt failed" },
	[QUIRE_REASON_BLOCKED] = { "previously blocked by a failed upstream", NULL,
				   "something it uses failed last time" },
	[QUIRE_REASON_STALE] = { "stale", "its last run did not complete",
				 "it kept an earlier output when its last run failed" },
	[QUIRE_REASON_RELEASED] = { "released from a hand edit", NULL,
				    "'quire edit ID --release' let it be generated again" },
	[QUIRE_REASON_FEEDBACK] = { "feedback given", "TEXT",
				    "a review note asks for a revision ('quire edit ID "
				    "--feedback')" },
	[QUIRE_REASON_REGENERATE] = { "regenerate requested", "take N",
				      "'quire run --regenerate ID' asks for a new take" },
	[QUIRE_REASON_FINGERPRINT] = { "fingerprint changed", NULL,
				       "its fingerprint differs for no reason listed above" },
	[QUIRE_REASON_AWAITING] = { "awaiting review", "ID",
				    "it is dirty, but waits: what it uses awaits review" },
};

char *quire_reason_text(enum quire_reason_kind k, const char *subject)
{
	const struct quire_reason_name *r = &quire_reasons[k];
	if (k == QUIRE_REASON_UPSTREAM_MORE)
		return quire__xasprintf("and %s more upstream changes", subject ? subject : "?");
	if (!r->subject)
		return quire__xstrdup(r->name);
	return quire__xasprintf("%s: %s", r->name, subject ? subject : r->subject);
}
