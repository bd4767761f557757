/* quire: command-line entry point; global options and the subcommand table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "quire-config.h"
#include "builtin.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/mem.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/suggest.h"

static int cmd_help(int argc, char **argv, const struct cmd_env *env);
static int cmd_version(int argc, char **argv, const struct cmd_env *env);

static const struct cmd cmd_help_desc = {
	.name = "help",
	.summary = "show help for quire or one command",
	.usage = "usage: quire help [COMMAND]\n",
	.flags = 0,
	.exec = cmd_help,
};
static const struct cmd cmd_version_desc = {
	.name = "version",
	.summary = "print quire's version",
	.usage = "usage: quire version\n",
	.flags = 0,
	.exec = cmd_version,
};

static const struct cmd *const commands[] = {
	&cmd_init_desc,	 &cmd_plan_desc, &cmd_run_desc,	    &cmd_status_desc,
	&cmd_log_desc,	 &cmd_diff_desc, &cmd_show_desc,    &cmd_inspect_desc,
	&cmd_graph_desc, &cmd_edit_desc, &cmd_rewind_desc,  &cmd_providers_desc,
	&cmd_push_desc,	 &cmd_pull_desc, &cmd_secret_desc,  &cmd_gc_desc,
	&cmd_fsck_desc,	 &cmd_help_desc, &cmd_version_desc, NULL,
};

static const char exit_codes[] =
	"exit codes:\n"
	"  0    success (plan: nothing to do)\n"
	"  1    plan --check: something would run; run: an instance failed or was blocked;\n"
	"       push, pull: something could not be moved (each is named)\n"
	"  2    usage error (bad option or argument)\n"
	"  3    invalid project, blueprint, inputs or id (message names file:line:col)\n"
	"  4    another quire is writing this project (the lock is held; --wait waits)\n"
	"  5    the store or file system failed (the disk is full), a stored file is corrupt,\n"
	"       or a newer quire made the store (upgrade quire)\n"
	"  6    run --max-cost: the estimated cost exceeds the limit (nothing was spent)\n"
	"  7    a file in out/ holds text quire did not write (a hand edit): nothing was\n"
	"       overwritten; the message says how to keep or discard it\n"
	"  130  interrupted (SIGINT, SIGTERM, SIGHUP): what finished was committed\n";

static void overview(FILE *f)
{
	fputs("usage: quire [-C DIR] COMMAND [ARGS...]\n\n"
	      "quire is make for generated stories: it runs a blueprint's producers, reuses every\n"
	      "artefact whose inputs did not change, and commits each build as a revision.\n\n"
	      "commands:\n",
	      f);
	for (int i = 0; commands[i]; i++)
		fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\noptions:\n"
	      "  -C DIR         run as if started in DIR (the project directory)\n"
	      "  -h, --help     show this help; 'quire COMMAND --help' for a command\n"
	      "  --color[=WHEN] colour the output: auto (on a terminal; the default), always,\n"
	      "                 never; NO_COLOR=1 turns auto off\n"
	      "  --no-pager     never send long views (log, diff, show, inspect, plan --explain)\n"
	      "                 through $QUIRE_PAGER or $PAGER (default less, LESS=FRX)\n"
	      "  --version      print the version\n\n",
	      f);
	fputs(exit_codes, f);
	fputs("\nenvironment: NO_COLOR turns colour off; QUIRE_PAGER or PAGER names the pager; "
	      "QUIRE_PLUGIN_PATH "
	      "lists\n"
	      "directories of provider "
	      "modules; QUIRE_SECRETS_FILE names the secrets file (default "
	      "~/.config/quire/secrets);\n"
	      "QUIRE_WAIT=SECONDS (or 'forever') makes writing commands wait for the writer "
	      "lock (--wait);\n"
	      "QUIRE_MEMORY_LIMIT (bytes, or with K, M, G, T: 1.5G) caps the memory a plan may "
	      "count on\n"
	      "(besides the system's available memory, the cgroup's limit and ulimit -v);\n"
	      "QUIRE_MOCK_FAIL, QUIRE_MOCK_FLAKY and QUIRE_MOCK_LATENCY_MS inject failures and "
	      "latency\n"
	      "into the mock provider (for tests).\n",
	      f);
}

static const struct cmd *find(const char *name)
{
	for (int i = 0; commands[i]; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	if (argc < 2) {
		overview(stdout);
		return 0;
	}
	const struct cmd *c = find(argv[1]);
	if (!c)
		return usage_error("help", "unknown command '%s'", argv[1]);
	print_usage(c, stdout);
	return 0;
}

static int cmd_version(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	(void)argc;
	(void)argv;
	printf("quire %s\n", QUIRE_VERSION);
	return 0;
}

/* Where the commands people reach for from git and make live in quire. */
static const struct {
	const char *name, *instead;
} elsewhere[] = {
	{ "build", "quire run" },
	{ "make", "quire run" },
	{ "commit", "quire run (every run commits a revision)" },
	{ "reset", "quire rewind REV" },
	{ "revert", "quire rewind REV" },
	{ "checkout", "quire rewind REV" },
	{ "clean", "quire gc (it never removes what a revision uses)" },
};

static int unknown_command(const char *name)
{
	for (size_t k = 0; k < sizeof(elsewhere) / sizeof(elsewhere[0]); k++)
		if (!strcmp(name, elsewhere[k].name)) {
			fprintf(stderr, "quire: '%s' is not a quire command; try: %s\n", name,
				elsewhere[k].instead);
			return EXIT_USAGE;
		}
	const char *names[32];
	size_t n = 0;
	for (int k = 0; commands[k] && n < 32; k++)
		names[n++] = commands[k]->name;
	const char *near = quire_suggest(name, names, n);
	if (near)
		fprintf(stderr, "quire: '%s' is not a quire command; did you mean '%s'?\n", name,
			near);
	else
		fprintf(stderr, "quire: '%s' is not a quire command (see 'quire help')\n", name);
	return EXIT_USAGE;
}

/* 0 when project root's store is in a format this quire knows (before anything of it is
 * read: a store a newer quire made is neither read nor written by this one). */
static int format_known(const char *root)
{
	char *qdir = project_qdir(root);
	int err = quire_store_format_check(qdir);
	free(qdir);
	return err;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-C")) {
			if (i + 1 >= argc) {
				fputs("quire: -C needs a directory\n", stderr);
				return EXIT_USAGE;
			}
			opt_dir = argv[++i];
		} else if (!strncmp(argv[i], "-C", 2)) {
			opt_dir = argv[i] + 2;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			overview(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--no-pager")) {
			disable_pager();
		} else if (!strcmp(argv[i], "--color") || !strncmp(argv[i], "--color=", 8)) {
			if (set_color(argv[i][7] ? argv[i] + 8 : "always")) {
				fprintf(stderr,
					"quire: --color takes always, never or auto, not "
					"'%s'\n",
					argv[i] + 8);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--version")) {
			return cmd_version(0, NULL, NULL);
		} else {
			fprintf(stderr, "quire: unknown option '%s'\n", argv[i]);
			overview(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		overview(stderr);
		return EXIT_USAGE;
	}
	const struct cmd *c = find(argv[i]);
	if (!c)
		return unknown_command(argv[i]);
	if (quire_providers_builtin_register() < 0) {
		fprintf(stderr, "quire: %s\n", quire_error_last());
		return EXIT_STORE;
	}
	if (wants_help(argc - i, argv + i, c))
		return 0;
	int cargc = argc - i;
	if ((c->flags & CMD_WRITES) && take_wait_option(&cargc, argv + i))
		return EXIT_USAGE;
	/* The process exits when the command returns: its plan and manifests are not taken
	 * apart first. */
	quire_mem_leave_at_exit(1);
	struct cmd_env env = { NULL, NULL };
	char *root = NULL;
	int err = 0;
	if (c->flags & CMD_PROJECT_IF_ANY) {
		/* Only when a project is there: its absence is the command's to judge. */
		if (quire_project_find(&root, opt_dir) == 0) {
			if (!(err = format_known(root)))
				err = quire_project_open(&env.p, root);
		} else {
			quire_error_clear();
		}
	}
	if (c->flags & (CMD_ROOT | CMD_PROJECT))
		err = quire_project_find(&root, opt_dir);
	if (!err && (c->flags & (CMD_ROOT | CMD_PROJECT)))
		err = format_known(root);
	if (!err && (c->flags & CMD_PROJECT))
		err = quire_project_open(&env.p, root);
	if (err) {
		quire_project_free(env.p);
		free(root);
		return die_core(err);
	}
	env.root = root;
	if (c->flags & CMD_PAGER)
		setup_pager();
	int rc = c->exec(cargc, argv + i, &env);
	quire_project_free(env.p);
	free(root);
	return rc;
}
