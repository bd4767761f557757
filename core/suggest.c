/* "Did you mean": the nearest known name to a word that matched none. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/suggest.h"
#include "util.h"

const char *quire_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		if (!candidates[i])
			continue;
		size_t d = quire__edit_distance(word, candidates[i]);
		if (d < bestd) {
			bestd = d;
			best = candidates[i];
		}
	}
	return best && bestd <= strlen(word) / 3 + 1 ? best : NULL;
}

const char *quire_suggest_id(const json_t *m, const char *id)
{
	const json_t *arts = json_object_get(m, "artefacts");
	size_t n = json_object_size(arts), k = 0;
	if (!n || strpbrk(id, "*"))
		return NULL;
	const char **ids = quire__xcalloc(n, sizeof(char *));
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)arts, key, v)
		ids[k++] = key;
	const char *near = quire_suggest(id, ids, k);
	free(ids);
	/* Chapter[9] for Chapter[0] is no slip of the fingers: the name is right, the index is
	 * out of range, and naming another instance would mislead. */
	size_t a = strcspn(id, "["), b = near ? strcspn(near, "[") : 0;
	if (near && a == b && !strncmp(id, near, a))
		return NULL;
	return near;
}
