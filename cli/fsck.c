/* quire fsck: check the store (blobs, revisions, database) and, with --repair, mend it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "common.h"
#include "quire/error.h"
#include "quire/fsck.h"
#include "quire/project.h"

static const char usage[] =
	"usage: quire fsck [--repair] [--json]\n\n"
	"Checks the project's store: re-hashes every blob against its name, reads every\n"
	"revision (each object of its pack against its name, once however many revisions\n"
	"share it, and every artefact's dependency record present) and .quire/current,\n"
	"and checks .quire/quire.db's integrity. Read-only unless --repair. Exit 0 when\n"
	"nothing is damaged, 5 when something is (after --repair: when something could\n"
	"not be mended) or could not be checked: a quire.db another program holds locked\n"
	"is 'unreadable', never taken for damage or rebuilt.\n\n"
	"  --repair  remove corrupt blobs (the next run makes again what used them, or restores\n"
	"            it from the action cache when it has an intact copy), and rebuild a damaged\n"
	"            or missing quire.db from the committed revisions (the damaged file is kept\n"
	"            beside it). Takes the writer lock. Revision files are never changed: a\n"
	"            damaged one is restored from git\n"
	"  --json    print the findings as JSON\n\n"
	"Blobs a revision names that are not in the store are listed but are not damage: a\n"
	"fresh clone has none, and 'quire run' restores or makes what the current revision\n"
	"needs. A damaged or missing blob is named with the first artefact, take or file\n"
	"found using it, and how many other uses there are, counted across the distinct\n"
	"parts of the revisions' trees, not once per revision that holds them.\n";

static const char *const kind_names[] = {
	[QUIRE_FSCK_BLOB_CORRUPT] = "corrupt blob",
	[QUIRE_FSCK_BLOB_MISSING] = "missing blob",
	[QUIRE_FSCK_REVISION] = "damaged revision",
	[QUIRE_FSCK_CURRENT] = "damaged current",
	[QUIRE_FSCK_DATABASE] = "damaged database",
	[QUIRE_FSCK_STORE_DIR] = "linked store directory",
	[QUIRE_FSCK_DATABASE_UNREADABLE] = "unreadable database",
};

static void print_text(const struct quire_fsck_result *r, int repair)
{
	size_t missing = 0;
	for (size_t k = 0; k < r->n; k++) {
		const struct quire_fsck_problem *p = &r->v[k];
		if (p->kind == QUIRE_FSCK_BLOB_MISSING) {
			missing++;
			continue;
		}
		printf("%s%s %s: %s\n", kind_names[p->kind], p->repaired ? " (repaired)" : "",
		       p->subject, p->detail);
	}
	if (missing)
		printf("%zu blob%s named by revisions %s not in the store (a fresh clone, or "
		       "removed "
		       "as corrupt): 'quire plan' shows what the current revision needs\n",
		       missing, missing == 1 ? "" : "s", missing == 1 ? "is" : "are");
	if (r->db_moved_to)
		printf("rebuilt .quire/quire.db from the committed revisions (the damaged one is "
		       "kept as %s)\n",
		       r->db_moved_to);
	else if (r->db_rebuilt)
		printf("made .quire/quire.db from the committed revisions\n");
	printf("fsck: %zu revision%s, %zu blob%s checked: ", r->revisions,
	       r->revisions == 1 ? "" : "s", r->blobs, r->blobs == 1 ? "" : "s");
	size_t unreadable = 0;
	for (size_t k = 0; k < r->n; k++)
		unreadable += r->v[k].kind == QUIRE_FSCK_DATABASE_UNREADABLE;
	if (!r->damaged)
		printf("nothing is damaged\n");
	else if (unreadable && r->unrepaired == unreadable)
		printf("quire.db could not be checked: run fsck again once nothing else holds it "
		       "(--repair would not help)\n");
	else if (!r->unrepaired)
		printf("%zu problem%s, all repaired\n", r->damaged, r->damaged == 1 ? "" : "s");
	else
		printf("%zu problem%s%s\n", r->unrepaired, r->unrepaired == 1 ? "" : "s",
		       repair ? " left (see above)" : "; 'quire fsck --repair' mends what it can");
}

static int cmd_fsck(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int repair = 0, json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			repair = 1;
		else if (c == 'j')
			json = 1;
		else
			return bad_option("fsck", opts, argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error("fsck", "unexpected argument '%s'", argv[optind]);
	struct quire_fsck_result r;
	int err = quire_fsck(env->root, repair, &r);
	if (err)
		return die_core(err);
	if (json) {
		json_t *a = json_array();
		for (size_t k = 0; k < r.n; k++)
			json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b}", "kind",
							   kind_names[r.v[k].kind], "subject",
							   r.v[k].subject, "detail", r.v[k].detail,
							   "repaired", r.v[k].repaired));
		json_t *j = json_pack("{s:I,s:I,s:o,s:I,s:I,s:b}", "revisions",
				      (json_int_t)r.revisions, "blobs", (json_int_t)r.blobs,
				      "problems", a, "damaged", (json_int_t)r.damaged, "unrepaired",
				      (json_int_t)r.unrepaired, "db_rebuilt", r.db_rebuilt);
		print_json_line(j);
		json_decref(j);
	} else {
		print_text(&r, repair);
	}
	int rc = r.unrepaired ? EXIT_STORE : 0;
	quire_fsck_result_release(&r);
	return rc;
}

const struct cmd cmd_fsck_desc = {
	.name = "fsck",
	.summary = "check the store and mend what can be mended",
	.usage = usage,
	.flags = CMD_ROOT | CMD_WRITES,
	.exec = cmd_fsck,
};
