/* quire: command-line entry point; global options and the subcommand table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "quire-config.h"
#include "quire-provider.h"
#include "quire/error.h"
#include "quire/mem.h"
#include "quire/provider.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cmd cmd_help_desc = {
	"help", "show help for quire or one command",
	"usage: quire help [COMMAND]\n", cmd_help,
};
static const struct cmd cmd_version_desc = {
	"version", "print quire's version", "usage: quire version\n", cmd_version,
};

static const struct cmd *const commands[] = {
	&cmd_init_desc, &cmd_plan_desc, &cmd_run_desc, &cmd_inspect_desc, &cmd_edit_desc,
	&cmd_rewind_desc, &cmd_providers_desc, &cmd_gc_desc, &cmd_fsck_desc,
	&cmd_help_desc,
	&cmd_version_desc, NULL,
};

static const char exit_codes[] =
	"exit codes:\n"
	"  0    success (plan: nothing to do)\n"
	"  1    plan --check: something would run; run: an instance failed or was blocked\n"
	"  2    usage error (bad option or argument)\n"
	"  3    invalid project, blueprint, inputs or id (message names file:line:col)\n"
	"  4    another quire is writing this project (the lock is held)\n"
	"  5    the store or file system failed (the disk is full), or a stored file is corrupt\n"
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
	      "  --version      print the version\n\n",
	      f);
	fputs(exit_codes, f);
	fputs("\nenvironment: NO_COLOR is honoured (quire prints no colour); QUIRE_PLUGIN_PATH lists\n"
	      "directories of provider "
	      "modules; QUIRE_SECRETS_FILE names the secrets file (default ~/.config/quire/secrets);\n"
	      "QUIRE_MEMORY_LIMIT (bytes, or with K, M, G, T: 1.5G) caps the memory a plan may count on\n"
	      "(besides the system's available memory, the cgroup's limit and ulimit -v);\n"
	      "QUIRE_MOCK_FAIL, QUIRE_MOCK_FLAKY and QUIRE_MOCK_LATENCY_MS inject failures and latency\n"
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

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		overview(stdout);
		return 0;
	}
	const struct cmd *c = find(argv[1]);
	if (!c)
		return usage_error("help", "unknown command '%s'", argv[1]);
	fputs(c->usage, stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("quire %s\n", QUIRE_VERSION);
	return 0;
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
		} else if (!strcmp(argv[i], "--version")) {
			return cmd_version(0, NULL);
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
	if (!c) {
		fprintf(stderr, "quire: '%s' is not a quire command (see 'quire help')\n", argv[i]);
		return EXIT_USAGE;
	}
	static const struct quire_provider *const builtins[] = {
		&quire_provider_mock, &quire_provider_exec, &quire_provider_openai,
		&quire_provider_replicate,
	};
	quire_provider_set_external(&quire_provider_external);
	for (size_t k = 0; k < sizeof(builtins) / sizeof(builtins[0]); k++)
		if (quire_provider_register(builtins[k]) < 0) {
			fprintf(stderr, "quire: %s\n", quire_error_last());
			return EXIT_STORE;
		}
	if (wants_help(argc - i, argv + i, c))
		return 0;
	/* The process exits when the command returns: its plan and manifests are not taken
	 * apart first. */
	quire_mem_leave_at_exit(1);
	return c->exec(argc - i, argv + i);
}
