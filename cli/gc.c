/* quire gc: remove blobs nothing refers to any more. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "common.h"
#include "quire/error.h"
#include "quire/gc.h"
#include "quire/project.h"

static const char usage[] =
	"usage: quire gc [--dry-run] [--json]\n\n"
	"Removes from .quire/blobs every blob that no revision (its artefacts, every take they\n"
	"kept, the files it recorded) and no action-cache entry refers to. What any revision can\n"
	"show, rewind to or restore from the cache stays. The indexes of revisions that are no\n"
	"longer heads (.quire/runs/<name>-index.tsv, a cache) go too, with the renderings of\n"
	"their text an older quire wrote (<name>.json). Takes the writer lock.\n\n"
	"  --dry-run  count what would be removed, remove nothing\n"
	"  --json     print the counts as JSON\n";

static int cmd_gc(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int dry = 0, json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		if (c == 'n')
			dry = 1;
		else if (c == 'j')
			json = 1;
		else
			return bad_option("gc", opts, argv[optind - 1]);
	}
	struct quire_gc_stats st;
	int err = quire_gc(env->root, dry, &st);
	if (err)
		return die_core(err);
	if (json) {
		json_t *j = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "dry_run", dry, "removed",
				      (json_int_t)st.removed, "removed_bytes",
				      (json_int_t)st.removed_bytes, "kept", (json_int_t)st.kept,
				      "kept_bytes", (json_int_t)st.kept_bytes, "revisions",
				      (json_int_t)st.manifests, "packed", (json_int_t)st.packed);
		print_json_line(j);
		json_decref(j);
	} else {
		printf("gc: %s %zu blob%s (%llu bytes), kept %zu (%llu bytes) for %zu revision%s\n",
		       dry ? "would remove" : "removed", st.removed, st.removed == 1 ? "" : "s",
		       (unsigned long long)st.removed_bytes, st.kept,
		       (unsigned long long)st.kept_bytes, st.manifests,
		       st.manifests == 1 ? "" : "s");
		if (st.packed)
			printf("gc: packed %zu small blob%s into .quire/blobs/pack.db\n", st.packed,
			       st.packed == 1 ? "" : "s");
	}
	return 0;
}

const struct cmd cmd_gc_desc = {
	.name = "gc",
	.summary = "remove blobs no revision or cache refers to",
	.usage = usage,
	.flags = CMD_ROOT | CMD_WRITES,
	.exec = cmd_gc,
};
