/* Fuzzes the YAML reader (core/yaml.c): libyaml's events into quire's node tree, its bounds on
 * values, depth and aliases, positions, and the tree turned into JSON. Input: any YAML file. */
#include "fuzz.h"

#include <jansson.h>

#include "core/yaml.h"
#include "quire/error.h"

/* Positions the first nodes (the loaders ask only for the few they name in messages: asking
 * for every empty value of a large mapping is quadratic). */
static void positions(const struct quire__ynode *n, int *budget)
{
	int line, col;
	long long v;
	if (!n || --*budget < 0)
		return;
	quire__yaml_pos(n, &line, &col);
	quire__yaml_int(n, &v);
	for (size_t i = 0; i < quire__yaml_count(n) && *budget > 0; i++) {
		positions(quire__yaml_is_map(n) ? quire__yaml_key(n, i) : quire__yaml_item(n, i),
			  budget);
		positions(quire__yaml_value(n, i), budget);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quire__yaml *y = NULL;
	if (quire__yaml_parse((const char *)data, size, "fuzz.yaml", &y) == 0) {
		json_decref(quire__yaml_to_json(y->root));
		int budget = 200;
		positions(y->root, &budget);
		quire__yaml_error(y, y->root, QUIRE_EINVALID, "%s", "a message");
	}
	quire__yaml_free(y);
	quire_error_clear();
	return 0;
}
