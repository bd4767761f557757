/* inspect's history views (cli/history.c). Each prints and returns an exit code. */
#ifndef QUIRE_CLI_HISTORY_H
#define QUIRE_CLI_HISTORY_H

#include <jansson.h>

/* The revisions, newest first (the limit newest; -1: all): parent, time, counts, cost,
 * message. */
int history_log(const char *qdir, int json, long limit);
/* Inputs and artefacts that differ between revisions a and b; text as unified diffs. */
int history_diff(const char *qdir, const char *a, const char *b, int json);
/* Failed, blocked, stale, pending-review and user-edited artefacts of m, and total cost. */
int history_status(const json_t *m, int json);
/* The takes of one artefact. */
int history_takes(const char *qdir, const json_t *m, const char *id, int json);
/* Writes the inputs and templates as an editable file ("-" for stdout). */
int history_export(const char *root, const char *file);

#endif
