/* Changes made by people rather than providers: input edits, hand-edited artefacts, review
 * approvals and feedback, take selection, and rewinds. Each is a set of events committed as a
 * new revision (history is append-only). */
#ifndef QUIRE_EDIT_H
#define QUIRE_EDIT_H

#include <stddef.h>

#include <jansson.h>

struct quire_buf;
struct quire_project;

/* An edit in progress: it holds the writer lock from quire_edit_begin to quire_edit_finish or
 * quire_edit_abort, so that files it changes are changed under the lock, and put back when it
 * fails. */
struct quire_edit;

/* Takes the writer lock, commits a killed run, reads the current revision. QUIRE_ELOCKED,
 * QUIRE_EIO, QUIRE_ECORRUPT. */
int quire_edit_begin(struct quire_edit **out, const struct quire_project *p, const char *command);

/* What merging two lines of history first (after a git merge) has to tell the writer: an
 * array of sentences, empty when none. Borrowed. */
const json_t *quire_edit_notes(const struct quire_edit *e);

/* Remembers project file `rel` as it is now (or that it is missing), before the caller changes
 * it: a failed or aborted edit puts it back. */
int quire_edit_keep_file(struct quire_edit *e, const char *rel);

/* The changes an edit records (each committed by quire_edit_finish). */

/* Sets input `name` to v (typed: quire_project_parse_input): inputs.yaml changes in place
 * (kept, put back if the edit fails). */
int quire_edit_set_input(struct quire_edit *e, const char *name, const json_t *v);

/* Applies an export document (quire_edit_parse_export): inputs that differ are set,
 * templates that differ are rewritten (kept). *changed gets what changed, in order:
 * [{"input": NAME, "value": V} | {"file": PATH}] (new reference, also on error). */
int quire_edit_apply_export(struct quire_edit *e, const char *name, const char *text, size_t len,
			    json_t **changed);

/* Appends artefact id's current output (verified) to out; *entry (may be NULL) gets its
 * manifest entry, borrowed. QUIRE_ENOTFOUND for an unknown id. */
int quire_edit_content(const struct quire_edit *e, const char *id, struct quire_buf *out,
		       const json_t **entry);

/* Replaces artefact id's output by hand (user-edited: pinned until released): a JSON
 * artefact's text must parse (errors name `from`, the file it came from, or the id). *same is
 * 1 when data is already its output (nothing recorded). QUIRE_ENOTFOUND, QUIRE_EINVALID. */
int quire_edit_replace(struct quire_edit *e, const char *id, const char *data, size_t len,
		       const char *from, int *same);

enum quire_edit_review {
	QUIRE_EDIT_APPROVE,  /* artefacts awaiting review */
	QUIRE_EDIT_FEEDBACK, /* artefacts with an output: revised with the note */
	QUIRE_EDIT_RELEASE,  /* hand-edited artefacts: generated again */
};

/* Applies a review action to every artefact matching id pattern that it applies to; *ids
 * gets them (new reference). QUIRE_ENOTFOUND when the pattern matches nothing, QUIRE_EINVALID
 * when nothing it matches is in the state the action needs. text: the feedback note. */
int quire_edit_review(struct quire_edit *e, enum quire_edit_review a, const char *pattern,
		      const char *text, json_t **ids);

/* Shows take n of artefact id again (dependants follow on the next run). QUIRE_ENOTFOUND. */
int quire_edit_take(struct quire_edit *e, const char *id, long n);

/* Commits what the change calls recorded and ends the edit (e is freed); nothing recorded:
 * no revision, the files it changed stay as they are (rev is ""). Nothing committed (an
 * error before the revision; QUIRE_ECONFLICT when out/ holds a writer's file): the kept
 * files are put back and rev is "". */
int quire_edit_finish(struct quire_edit *e, char *rev, size_t revlen);

/* Ends the edit without committing (e is freed, NULL is fine): kept files are put back; the
 * thread's last error message is kept. */
void quire_edit_abort(struct quire_edit *e);

/* Commits `events` (an array of [kind, subject, data] triples, see docs/design-notes.md) as
 * a new revision on top of the current one, under the writer lock, then updates out/.
 * `command` is recorded as the revision's message. rev receives the new revision's name.
 * QUIRE_ELOCKED, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ECONFLICT (out/ holds a writer's file: nothing
 * was committed). */
int quire_edit_commit(struct quire_project *p, const char *command, const json_t *events, char *rev,
		      size_t revlen);

/* What rewinding to a revision would change: {from, to, artefacts: {changed, added, removed},
 * inputs: [names whose value differs], files: [paths whose content differs]}. root is the
 * project directory; the project files need not be valid. New reference in *out. */
int quire_rewind_impact(const char *root, const char *rev, json_t **out);

/* Rewinds: commits a new revision whose inputs and artefacts equal `rev`'s and restores the
 * project files `rev` recorded (quire.yaml, blueprint, inputs, prompts, schemas) from the blob
 * store, then out/. Nothing is regenerated. QUIRE_ENOTFOUND / QUIRE_ECORRUPT for an unknown or
 * damaged revision, QUIRE_ENOTFOUND when content it needs is missing from the store — in every
 * error case nothing is changed. */
int quire_rewind(const char *root, const char *rev, const char *command, char *newrev,
		 size_t revlen, json_t *notes);

struct quire_buf;

/* Writes the project's inputs and prompt/schema templates as an editable YAML document
 * ("inputs:" and "prompts:" mappings) that quire_edit_parse_export reads back. */
void quire_edit_export(const struct quire_project *p, const char *revision, struct quire_buf *out);

/* Parses an export document: {inputs: {NAME: typed value}, prompts: {path: text}}. Inputs are
 * typed and range-checked, prompt paths must be templates the blueprint names; errors are
 * positioned ("name:line:col: ..."). New reference in *out. */
int quire_edit_parse_export(const struct quire_project *p, const char *name, const char *text,
			    size_t len, json_t **out);

#endif
