/* quire-test-upgrade DIR: moves the store of project DIR to format 2 (quire_rev2_upgrade), as
 * a command that commits would first, and prints each format-1 name and its format-2 name,
 * one pair a line, so the tests can read a moved store before anything writes to it. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/objects.h"
#include "quire/error.h"
#include "core/util.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: quire-test-upgrade DIR\n");
		return 2;
	}
	char *qdir = quire__xasprintf("%s/.quire", argv[1]);
	json_t *names = json_object();
	int err = quire_rev2_upgrade(qdir, names);
	if (err)
		fprintf(stderr, "quire-test-upgrade: %s\n", quire_error_last());
	const char *k;
	json_t *v;
	json_object_foreach(names, k, v)
		printf("%s %s\n", k, json_string_value(v));
	json_decref(names);
	free(qdir);
	return err ? 1 : 0;
}
