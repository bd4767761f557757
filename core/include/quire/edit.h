/* Changes made by people rather than providers: input edits, hand-edited artefacts, review
 * approvals and feedback, take selection, and rewinds. Each is a set of events committed as a
 * new revision (history is append-only). */
#ifndef QUIRE_EDIT_H
#define QUIRE_EDIT_H

#include <stddef.h>

#include <jansson.h>

struct quire_project;

/* Commits `events` (an array of [kind, subject, data] triples, see docs/design-notes.md) as
 * a new revision on top of the current one, under the writer lock, then updates out/.
 * `command` is recorded as the revision's message. rev receives the new revision's name.
 * QUIRE_ELOCKED, QUIRE_EIO, QUIRE_ECORRUPT. */
int quire_edit_commit(struct quire_project *p, const char *command, const json_t *events,
		      char *rev, size_t revlen);

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
		 size_t revlen);

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
