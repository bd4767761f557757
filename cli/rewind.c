/* quire rewind: commit a new revision equal to an earlier one and restore its input files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/project.h"

static const char usage[] =
	"usage: quire rewind REV [--preview] [--yes] [--json]\n\n"
	"Goes back to revision REV (its name or 7+ of its digits, current~N): shows the impact\n"
	"first (artefacts and inputs that change back, files to restore), then commits a NEW "
	"revision equal to REV and\n"
	"restores the project files it recorded (quire.yaml, blueprint, inputs, prompts, schemas)\n"
	"and out/. Nothing is regenerated. History is append-only: rewinding to the revision\n"
	"before the rewind undoes it. A project file with edits no revision recorded (changed\n"
	"since the last run) is never overwritten: the rewind refuses (exit 7) until they are\n"
	"recorded with 'quire run' or the file is moved aside. Only what differs from the\n"
	"current revision is read and recorded: undoing one scene's change costs about what\n"
	"that change did, whatever the size of the story.\n\n"
	"In a clone, whose store lacks what others made, the outputs REV recorded that differ\n"
	"from the current revision's, and its files, are taken from the\n"
	"project's git history where a commit holds them (out/ files and project files, hashed,\n"
	"never trusted by name); what neither has is listed ('outputs not here', 'files not\n"
	"here') and the rewind refuses (exit 3), changing nothing. With a shared cache\n"
	"(docs/sharing.md), what git lacks is fetched from it, verified: a clone that has\n"
	"it can put it there with 'quire push REV'.\n\n"
	"  --preview  show the impact and change nothing (but the local store, filled from git\n"
	"             and the shared cache)\n"
	"  --yes      do it without asking (required when not on a terminal)\n"
	"  --json     print the impact (and the new revision) as JSON\n";

static void print_list(const char *label, const json_t *a)
{
	if (!json_array_size(a))
		return;
	printf("  %-23s %zu:", label, json_array_size(a));
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		if (i == 12) {
			printf(" ... and %zu more", json_array_size(a) - 12);
			break;
		}
		printf(" %s", json_string_value(v));
	}
	printf("\n");
}

static int cmd_rewind(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "preview", no_argument, NULL, 'p' },
		{ "yes", no_argument, NULL, 'y' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int preview = 0, yes = 0, json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			preview = 1;
		else if (c == 'y')
			yes = 1;
		else if (c == 'j')
			json = 1;
		else
			return bad_option("rewind", opts, argv[optind - 1]);
	}
	if (argc - optind != 1)
		return usage_error("rewind", "give exactly one revision");
	const char *root = env->root;
	json_t *impact = NULL;
	char *qdir = project_qdir(root), *rev = NULL;
	int rc = 0, err = quire_revision_resolve(qdir, argv[optind], &rev);
	free(qdir);
	if (!err)
		err = quire_rewind_impact(root, rev, &impact);
	if (err) {
		rc = die_core(err);
		goto out;
	}
	const json_t *arts = json_object_get(impact, "artefacts");
	const char *from = json_string_value(json_object_get(impact, "from"));
	/* From two lines of history: the rewind merges them first. */
	int merging = from && !strcmp(from, QUIRE_REV_PENDING);
	if (!json) {
		printf("rewind: %.*s -> a new revision equal to %.12s\n", merging ? 80 : 12,
		       merging ? "the merge of the two lines of history in .quire/current (made "
				 "first)"
		       : from  ? from
			       : "(nothing)",
		       json_string_value(json_object_get(impact, "to")));
		/* What it would do: said before it is done, so never as done. */
		print_list("artefacts to change", json_object_get(arts, "changed"));
		print_list("artefacts to bring back", json_object_get(arts, "added"));
		print_list("artefacts to drop", json_object_get(arts, "removed"));
		print_list("inputs to change", json_object_get(impact, "inputs"));
		print_list("files to restore", json_object_get(impact, "files"));
		print_list("unrecorded edits (block)", json_object_get(impact, "unrecorded"));
		/* Neither in the store nor in the git history (a clone of a revision never
		 * committed). */
		const json_t *miss = json_object_get(impact, "missing");
		print_list("outputs not here (block)", json_object_get(miss, "outputs"));
		print_list("files not here (block)", json_object_get(miss, "files"));
		const char *rerr = json_string_value(json_object_get(miss, "remote_error"));
		if (rerr)
			fprintf(stderr, "quire: warning: the shared cache could not be asked: %s\n",
				rerr);
	}
	if (preview) {
		if (json)
			print_json_line(impact);
		goto out;
	}
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			rc = usage_error("rewind",
					 "not on a terminal: confirm with --yes (or look first "
					 "with --preview)");
			goto out;
		}
		printf("rewind? [y/N] ");
		fflush(stdout);
		char ans[16] = "";
		if (!fgets(ans, sizeof(ans), stdin) || (ans[0] != 'y' && ans[0] != 'Y')) {
			printf("rewind: nothing changed\n");
			goto out;
		}
	}
	char cmdline[256], newrev[QUIRE_REV_MAX] = "";
	snprintf(cmdline, sizeof(cmdline), "quire rewind %.12s", rev);
	json_t *notes = json_array();
	err = quire_rewind(root, rev, cmdline, newrev, sizeof(newrev), notes);
	print_notes(notes);
	json_decref(notes);
	if (err) {
		rc = die_core(err);
		goto out;
	}
	/* The revision rewound from is the new one's parent (the merge, when one was made). */
	char undo[QUIRE_REV_MAX] = "-";
	char *ps[2];
	size_t np = 0;
	char *qd = project_qdir(root);
	if (!quire_manifest_parents(qd, newrev, ps, &np) && np) {
		snprintf(undo, sizeof(undo), "%s", ps[0]);
		for (size_t k = 0; k < np; k++)
			free(ps[k]);
	}
	quire_error_clear();
	free(qd);
	if (json) {
		json_object_set_new(impact, "revision", json_string(newrev));
		print_json_line(impact);
	} else {
		printf("rewind: committed %.12s (equal to %.12s); undo with 'quire rewind %.12s'\n",
		       newrev, json_string_value(json_object_get(impact, "to")), undo);
	}
out:
	json_decref(impact);
	free(rev);
	return rc;
}

const struct cmd cmd_rewind_desc = {
	.name = "rewind",
	.summary = "go back to an earlier revision (a new revision)",
	.usage = usage,
	.flags = CMD_ROOT | CMD_WRITES,
	.exec = cmd_rewind,
};
