/* "Did you mean": the nearest of some known names to a word that matched none. */
#ifndef QUIRE_SUGGEST_H
#define QUIRE_SUGGEST_H

#include <stddef.h>

#include <jansson.h>

/* The candidate closest to word (edit distance, letter case ignored) when it is close enough
 * to be a likely slip (at most a third of word's length, plus one), else NULL. Borrowed from
 * candidates. */
const char *quire_suggest(const char *word, const char *const *candidates, size_t n);

/* The artefact id of manifest m nearest to id (see quire_suggest), or NULL. Borrowed from m. */
const char *quire_suggest_id(const json_t *m, const char *id);

#endif
