/* Internal: what the project module's files share (project.c, project_inputs.c,
 * project_files.c, project_check.c). */
#ifndef QUIRE_PROJECT_INTERNAL_H
#define QUIRE_PROJECT_INTERNAL_H

#include "quire/blueprint.h"
#include "quire/project.h"

struct quire__pfiles;

/* Frees the project's file table (NULL is fine). */
void quire__pfiles_free(struct quire__pfiles *ft);

/* The counts of pr's loop dimensions, from the project's inputs. */
void quire__project_dim_counts(const struct quire_project *p, const struct quire_producer *pr,
			       long long *counts);

#endif
