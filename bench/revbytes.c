/* What format 2 would store of a store's history: converts every format-1 manifest of the
 * .quire directory given (work on a copy: the packs are written into its revs/) and prints,
 * per revision, its format-1 name, its format-2 name and the bytes of its pack (what that
 * revision adds), oldest first. Built and run by hand; see bench/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../core/objects.h"
#include "quire/error.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: revbytes QUIRE_DIR\n");
		return 2;
	}
	struct quire_objs *o = NULL;
	json_t *names = json_object();
	int err = quire_objs_open(argv[1], &o);
	if (!err)
		err = quire_rev2_convert(argv[1], o, names, 0);
	if (err) {
		fprintf(stderr, "revbytes: %s\n", quire_error_last());
		return 1;
	}
	const char *v1;
	json_t *v2;
	json_object_foreach(names, v1, v2) {
		long long bytes = 0;
		struct stat st;
		for (int part = 1;; part++) {
			char path[4096];
			if (part == 1)
				snprintf(path, sizeof(path), "%s/revs/%s.objects", argv[1],
					 json_string_value(v2));
			else
				snprintf(path, sizeof(path), "%s/revs/%s.%d.objects", argv[1],
					 json_string_value(v2), part);
			if (stat(path, &st))
				break;
			bytes += (long long)st.st_size;
		}
		printf("%.12s %.12s %lld\n", v1, json_string_value(v2), bytes);
	}
	quire_objs_free(o);
	json_decref(names);
	return 0;
}
