/* quire init: create a self-contained project from a bundled or given blueprint. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "quire-config.h"
#include "quire/init.h"

static const char usage[] =
	"usage: quire init [DIR] [--blueprint NAME|PATH]\n\n"
	"Creates a quire project in DIR (default: the current directory): quire.yaml (every role\n"
	"bound to the offline mock provider), blueprint.yaml, its prompts and schemas, an\n"
	"inputs.yaml to edit, a .gitignore that keeps .quire's database and blobs out of git\n"
	"while revisions and 'current' are committed, and a .gitattributes that lets git merge\n"
	"the 'current' of two clones that each ran (both heads kept: the next run merges them)\n"
	"and never converts line endings in out/ and .quire/. In a git repository (a clone too:\n"
	"run it once there) it also sets up, in .git/config, the merge driver that keeps this\n"
	"clone's out/ files when git merges another clone's (the next run rewrites out/).\n\n"
	"  --blueprint NAME  a bundled blueprint (default: story); 'quire init --blueprint list'\n"
	"                    lists them\n"
	"  --blueprint PATH  a blueprint directory (holding blueprint.yaml) or a blueprint file\n\n"
	"Running init again is safe: files that already hold what init would write are left\n"
	"alone, and init refuses (writing nothing) when an existing file differs. In a project\n"
	"already made (its quire.yaml there), init without --blueprint touches only the git\n"
	"parts: the .gitignore and .gitattributes lines and the merge driver.\n"
	"Bundled blueprints are looked up in $QUIRE_BLUEPRINTS, then " QUIRE_DATADIR
	"/blueprints.\n";

static int cmd_init(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	static const struct option opts[] = {
		{ "blueprint", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *spec = NULL; /* the story, or in a project only its git parts */
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'b')
			return bad_option("init", opts, argv[optind - 1]);
		spec = optarg;
	}
	if (argc - optind > 1)
		return usage_error("init", "give at most one directory");
	if (spec && !strcmp(spec, "list")) {
		json_t *names = quire_init_blueprints();
		size_t i;
		json_t *v;
		printf("bundled blueprints:\n");
		json_array_foreach(names, i, v)
			printf("  %s\n", json_string_value(v));
		json_decref(names);
		return 0;
	}
	const char *dir = optind < argc ? argv[optind] : (opt_dir ? opt_dir : ".");
	struct quire_init_result r;
	int err = quire_init(dir, spec, &r);
	if (err)
		return die_core(err);
	if (r.driver)
		printf("init: set up quire's merge driver for out/ in this clone's .git/config\n");
	if (r.written && r.existing)
		printf("init: added quire's lines to %s's .gitignore or .gitattributes\n", dir);
	else if (r.written)
		printf("init: created a '%s' project in %s (%zu files)\n"
		       "next: edit inputs.yaml, then 'quire plan' and 'quire run'\n",
		       spec ? spec : "story", dir, r.written);
	else if (!r.driver)
		printf("init: %s is already a quire project%s; nothing to do\n", dir,
		       r.existing ? " (its git parts set up)" : " with these files");
	return 0;
}

const struct cmd cmd_init_desc = {
	.name = "init",
	.summary = "create a project from a blueprint",
	.usage = usage,
	.flags = 0,
	.exec = cmd_init,
};
