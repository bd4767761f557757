/* The event kinds' name table (event.h). */
#include <string.h>

#include "event.h"

const struct quire_ev_name quire_evs[QUIRE_EV_COUNT] = {
	[QUIRE_EV_RUN_START] = { "run.start", "a run, edit or rewind began: revision, parent, "
					      "command, file digests, inputs, git HEAD" },
	[QUIRE_EV_RUN_END] = { "run.end", "the run ended (interrupted or not)" },
	[QUIRE_EV_RUN_RECOVERED] = { "run.recovered", "a killed run was committed by the next "
						      "command" },
	[QUIRE_EV_PRODUCED] = { "artefact.produced", "a provider made an output (a new take)" },
	[QUIRE_EV_CACHED] = { "artefact.cached", "an output was reused from the action cache" },
	[QUIRE_EV_FAILED] = { "artefact.failed", "an instance failed, with the error" },
	[QUIRE_EV_BLOCKED] = { "artefact.blocked",
			       "an instance could not run: an upstream failed" },
	[QUIRE_EV_REMOVED] = { "artefact.removed", "the blueprint no longer has the instance" },
	[QUIRE_EV_LOST] = { "artefact.lost", "recovery found an unsynced output missing or "
					     "damaged" },
	[QUIRE_EV_INPUT_SET] = { "input.set", "'quire edit --set' gave an input a value" },
	[QUIRE_EV_EDITED] = { "artefact.edited", "a hand edit, pinned until released" },
	[QUIRE_EV_RELEASED] = { "artefact.released", "a hand edit released ('--release')" },
	[QUIRE_EV_APPROVED] = { "artefact.approved", "an output approved in review" },
	[QUIRE_EV_FEEDBACK] = { "artefact.feedback", "a review note asking for a revision" },
	[QUIRE_EV_TAKE_SELECTED] = { "artefact.take_selected", "an earlier take shown again" },
	[QUIRE_EV_RESTORED] = { "revision.restored", "a rewind: an earlier revision's inputs and "
						     "the files that differ (an older quire's: "
						     "its artefacts and files whole)" },
	[QUIRE_EV_ART_RESTORED] = { "artefact.restored",
				    "a rewind: an artefact as the earlier revision had it "
				    "(null: it had none)" },
};

int quire_ev_parse(const char *name)
{
	for (int k = 0; k < QUIRE_EV_COUNT; k++)
		if (!strcmp(quire_evs[k].name, name))
			return k;
	return -1;
}
