/* Internal: what a revision records of the project's git repository (libgit2). */
#ifndef QUIRE_GIT_H
#define QUIRE_GIT_H

#include <jansson.h>

/* {"head": "<commit id>"|null, "dirty": bool} for the repository holding root, or JSON null
 * when root is not in a git repository. New reference; never fails. */
json_t *quire__git_info(const char *root);

#endif
