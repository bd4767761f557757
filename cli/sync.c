/* quire push and quire pull: what revisions name, between the store and the shared cache. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "quire/error.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/project.h"
#include "quire/sync.h"

static const char push_usage[] =
	"usage: quire push [--all | REV...] [--json]\n\n"
	"Uploads to the shared cache ('cache: { remote: URL }' in quire.yaml, or\n"
	"QUIRE_REMOTE_CACHE) every blob a revision names that the cache lacks: its outputs,\n"
	"every take, the call records and the prompts and answers they name, and the project\n"
	"files it recorded, each checked to be there after; then the action results that let\n"
	"another clone's or CI's run take those outputs instead of paying for them (only for\n"
	"outputs made for their fingerprint: never a hand edit, or an output accepted with\n"
	"'run --touch'). A push is asked for, so it ignores 'push: false' and\n"
	"QUIRE_CACHE_PUSH=0. It only reads the project.\n\n"
	"  REV    a revision: its name (7+ of its digits), current, current~N (default: current)\n"
	"  --all  every revision\n"
	"  --json print the counts and what could not be moved as one JSON object\n\n"
	"Exits 1 when something could not be moved (each is named), 3 when there is no shared\n"
	"cache. On a terminal it shows its progress.\n";

static const char pull_usage[] =
	"usage: quire pull [--all | REV...] [--json]\n\n"
	"Fetches from the shared cache ('cache: { remote: URL }' in quire.yaml, or\n"
	"QUIRE_REMOTE_CACHE) every blob a revision names that the store lacks (its outputs,\n"
	"every take, the call records and what they name, the project files it recorded),\n"
	"each checked against its digest (a damaged copy is not kept, and is named): a clone\n"
	"can then show, inspect and rewind to it without paying for anything. Writes only the\n"
	"blob store.\n\n"
	"  REV    a revision: its name (7+ of its digits), current, current~N (default: current)\n"
	"  --all  every revision\n"
	"  --json print the counts and what could not be moved as one JSON object\n\n"
	"Exits 1 when something could not be had (each is named), 3 when there is no shared\n"
	"cache. On a terminal it shows its progress.\n";

struct progress {
	const char *verb;
	int tty;
};

static void show(void *ud, size_t done, size_t total)
{
	const struct progress *pr = ud;
	if (pr->tty && (done == total || done % 16 == 0))
		fprintf(stderr, "\r\033[K%s: %zu/%zu blobs", pr->verb, done, total);
}

/* The revisions named (resolved), or every one with all, or the current one. */
static int revisions(const char *qdir, int all, char **names, int n, json_t *revs)
{
	if (all) {
		char **list = NULL;
		size_t nlist = 0;
		quire_manifest_list(qdir, &list, &nlist);
		for (size_t k = 0; k < nlist; k++) {
			json_array_append_new(revs, json_string(list[k]));
			free(list[k]);
		}
		free(list);
		if (!json_array_size(revs))
			return quire_error_set(QUIRE_ENOTFOUND, "nothing committed yet");
		return 0;
	}
	for (int k = 0; k < (n ? n : 1); k++) {
		char *rev = NULL;
		int err = quire_revision_resolve(qdir, n ? names[k] : "current", &rev);
		if (err)
			return err;
		json_array_append_new(revs, json_string(rev));
		free(rev);
	}
	return 0;
}

static int run_sync(int argc, char **argv, const struct cmd_env *env, int push)
{
	const char *name = push ? "push" : "pull";
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int all = 0, json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			all = 1;
		else if (c == 'j')
			json = 1;
		else
			return bad_option(name, opts, argv[optind - 1]);
	}
	if (all && optind < argc)
		return usage_error(name, "--all takes no revision ('%s')", argv[optind]);
	json_t *revs = json_array();
	int err = revisions(env->p->qdir, all, argv + optind, argc - optind, revs);
	if (err) {
		json_decref(revs);
		return die_core(err);
	}
	const char **names = calloc(json_array_size(revs) + 1, sizeof(char *));
	for (size_t k = 0; k < json_array_size(revs); k++)
		names[k] = json_string_value(json_array_get(revs, k));
	struct progress pr = { name, !json && isatty(STDERR_FILENO) };
	struct quire_sync_stats st;
	err = quire_sync(env->p, names, json_array_size(revs), push, show, &pr, &st);
	if (pr.tty)
		fputs("\r\033[K", stderr);
	int rc = 0;
	if (err == QUIRE_EIO) {
		/* The cache could not be reached: nothing here is damaged. */
		fprintf(stderr, "quire: %s: %s\n", name, quire_error_last());
		if (json) {
			json_t *j = json_pack("{s:s,s:O,s:s}", "command", name, "revisions", revs,
					      "error", quire_error_last());
			print_json_line(j);
			json_decref(j);
		}
		rc = EXIT_DIRTY;
	} else if (err) {
		rc = die_core(err);
	}
	size_t nmiss = json_array_size(st.missing);
	if (!err && json) {
		json_t *j = json_pack("{s:s,s:O,s:I,s:I,s:I,s:O}", "command", name, "revisions",
				      revs, "blobs", (json_int_t)st.blobs,
				      push ? "uploaded" : "fetched", (json_int_t)st.moved, "there",
				      (json_int_t)st.there, "missing", st.missing);
		if (push)
			json_object_set_new(j, "results", json_integer((json_int_t)st.results));
		print_json_line(j);
		json_decref(j);
	} else if (!err) {
		size_t nr = json_array_size(revs);
		if (nr == 1)
			printf("%s: %.12s", name, json_string_value(json_array_get(revs, 0)));
		else
			printf("%s: %zu revisions", name, nr);
		printf(": %zu blobs, %zu %s, %zu already %s", st.blobs, st.moved,
		       push ? "uploaded" : "fetched", st.there, push ? "there" : "here");
		if (push)
			printf("; %zu results", st.results);
		printf("\n");
		if (nmiss)
			printf("%s: %zu could not be %s:\n", name, nmiss,
			       push ? "uploaded" : "had");
		size_t k;
		json_t *v;
		json_array_foreach(st.missing, k, v)
			printf("  %.19s...  %s: %s\n",
			       json_string_value(json_object_get(v, "digest")),
			       json_string_value(json_object_get(v, "what")),
			       json_string_value(json_object_get(v, "why")));
	}
	if (!rc && nmiss)
		rc = EXIT_DIRTY;
	quire_sync_stats_release(&st);
	free(names);
	json_decref(revs);
	return rc;
}

static int cmd_push(int argc, char **argv, const struct cmd_env *env)
{
	return run_sync(argc, argv, env, 1);
}

static int cmd_pull(int argc, char **argv, const struct cmd_env *env)
{
	return run_sync(argc, argv, env, 0);
}

const struct cmd cmd_push_desc = {
	.name = "push",
	.summary = "upload a revision's outputs to the shared cache",
	.usage = push_usage,
	.flags = CMD_PROJECT,
	.exec = cmd_push,
};

const struct cmd cmd_pull_desc = {
	.name = "pull",
	.summary = "fetch a revision's outputs from the shared cache",
	.usage = pull_usage,
	.flags = CMD_PROJECT,
	.exec = cmd_pull,
};
