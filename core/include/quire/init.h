/* Project creation (quire init). */
#ifndef QUIRE_INIT_H
#define QUIRE_INIT_H

#include <stddef.h>

#include <jansson.h>

struct quire_init_result {
	size_t written; /* files written (0: the project was already there, as init makes it) */
	int driver;   /* 1: set up quire's merge driver for out/ in the repository's .git/config */
	int existing; /* a project already made: only its git parts were looked at */
};

/* Creates a project in dir from blueprint spec: a bundled blueprint's name, a blueprint
 * directory (holding blueprint.yaml) or a blueprint file (its prompts and schemas are brought
 * along); NULL: the bundled story, or in a project already there only the git parts
 * (.gitignore and .gitattributes lines, the merge driver). Writes quire.yaml (every role on the
 * mock provider when the blueprint ships none), blueprint.yaml, prompts, schemas, inputs.yaml and
 * .gitignore lines. Safe to repeat: a file that already holds what init writes is left alone; when
 * one differs nothing is written (QUIRE_EEXISTS naming them). QUIRE_ENOTFOUND for an unknown
 * blueprint (the message lists the bundled ones), QUIRE_EINVALID for a blueprint that does not
 * load. */
int quire_init(const char *dir, const char *spec, struct quire_init_result *res);

/* The names of the bundled blueprints (new reference): from $QUIRE_BLUEPRINTS, else the
 * installed ones, else the source tree's. */
json_t *quire_init_blueprints(void);

#endif
