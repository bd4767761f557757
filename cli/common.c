/* CLI helpers shared by the subcommands. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "quire/error.h"
#include "quire/project.h"
#include "quire/suggest.h"

const char *opt_dir;

int die_core(int code)
{
	fprintf(stderr, "quire: %s\n", quire_error_last());
	if (code == QUIRE_ENOSPC && !strstr(quire_error_last(), "disk is full"))
		fputs("quire: the disk is full: free some space and run again (what was reported "
		      "as "
		      "done is kept)\n",
		      stderr);
	switch (code) {
	case QUIRE_EINVALID:
	case QUIRE_ENOTFOUND:
	case QUIRE_EEXISTS:
	case QUIRE_ENOMEM: /* inputs asking for more than the machine has */
		return EXIT_INVALID;
	case QUIRE_ELOCKED:
		return EXIT_LOCKED;
	case QUIRE_EINTR:
		return EXIT_INTERRUPTED;
	case QUIRE_ECOST:
		return EXIT_COST;
	case QUIRE_ECONFLICT:
		return EXIT_CONFLICT;
	default:
		return EXIT_STORE;
	}
}

int bad_option(const char *cmd, const struct option *opts, const char *arg)
{
	const char *names[64];
	size_t n = 0;
	const char *word = arg;
	while (*word == '-')
		word++;
	char base[128];
	snprintf(base, sizeof(base), "%s", word);
	char *eq = strchr(base, '=');
	if (eq)
		*eq = '\0';
	for (size_t k = 0; opts[k].name && n < 64; k++) {
		if (!strcmp(opts[k].name, base) && opts[k].has_arg == required_argument)
			return usage_error(cmd, "%s needs a value", arg);
		names[n++] = opts[k].name;
	}
	const char *near = quire_suggest(base, names, n);
	if (near)
		return usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", arg, near);
	return usage_error(cmd, "unknown option '%s'", arg);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("quire: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'quire %s --help')\n", cmd);
	return EXIT_USAGE;
}

void print_usage(const struct cmd *c, FILE *f)
{
	fputs(c->usage, f);
	if (c->help)
		c->help(f);
	if (c->flags & CMD_WRITES)
		fputs("\nEvery command that writes the project also takes:\n"
		      "  --wait[=SECONDS]  when another quire holds the writer lock, wait for it "
		      "to\n"
		      "                    finish (without a limit, or up to SECONDS) instead of\n"
		      "                    exiting 4; QUIRE_WAIT=SECONDS (or 'forever') does the "
		      "same\n",
		      f);
}

int take_wait_option(int *argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		const char *v = NULL;
		if (!strcmp(argv[i], "--wait"))
			v = "forever";
		else if (!strncmp(argv[i], "--wait=", 7))
			v = argv[i] + 7;
		if (!v) {
			argv[out++] = argv[i];
			continue;
		}
		char *end;
		double s = strtod(v, &end);
		if (strcmp(v, "forever") && (end == v || *end || !(s >= 0) || s > 31536000))
			return usage_error(argv[0],
					   "--wait=%s: give a number of seconds (or --wait "
					   "alone to wait without a limit)",
					   v);
		setenv("QUIRE_WAIT", v, 1);
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int wants_help(int argc, char **argv, const struct cmd *c)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_usage(c, stdout);
			return 1;
		}
	}
	return 0;
}

char *project_qdir(const char *root)
{
	size_t n = strlen(root) + sizeof("/.quire");
	char *q = malloc(n);
	if (!q)
		abort();
	snprintf(q, n, "%s/.quire", root);
	return q;
}

void print_json_line(const struct json_t *v)
{
	char *s = json_dumps((const json_t *)v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	puts(s);
	free(s);
	fflush(stdout);
}

static int color_mode = -1; /* -1 auto, 0 never, 1 always */
static int paged_tty;	    /* stdout was a terminal before the pager took it */
static int no_pager;
static pid_t pager_pid;

int set_color(const char *when)
{
	if (!strcmp(when, "always"))
		color_mode = 1;
	else if (!strcmp(when, "never"))
		color_mode = 0;
	else if (!strcmp(when, "auto"))
		color_mode = -1;
	else
		return -1;
	return 0;
}

int use_color(FILE *f)
{
	if (color_mode >= 0)
		return color_mode;
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
	if ((nc && *nc) || (term && !strcmp(term, "dumb")))
		return 0;
	/* Asked once per stream: each progress line asked twice (two system calls per step). */
	static int tty[3] = { -1, -1, -1 };
	int fd = fileno(f);
	if (fd < 0 || fd > 2)
		return isatty(fd) || (f == stdout && paged_tty);
	if (tty[fd] < 0)
		tty[fd] = isatty(fd);
	return tty[fd] || (f == stdout && paged_tty);
}

const char *color(FILE *f, const char *code)
{
	return use_color(f) ? code : "";
}

void disable_pager(void)
{
	no_pager = 1;
}

static void wait_for_pager(void)
{
	fflush(stdout);
	fclose(stdout);
	close(STDOUT_FILENO);
	/* Ctrl-C in the pager (less keeps running) must not end quire first and hand the
	 * terminal back to the shell while less still reads it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A signal while paging: the pager gets the end of the output and is waited for, then the
 * signal does what it would have (as git does). Only async-signal-safe calls. */
static void pager_signal(int sig)
{
	close(STDOUT_FILENO);
	while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
		;
	signal(sig, SIG_DFL);
	raise(sig);
}

void setup_pager(void)
{
	if (no_pager || pager_pid || !isatty(STDOUT_FILENO))
		return;
	const char *pager = getenv("QUIRE_PAGER");
	if (!pager)
		pager = getenv("PAGER");
	if (!pager || !*pager)
		pager = "less";
	if (!strcmp(pager, "cat"))
		return;
	int fds[2];
	if (pipe(fds) < 0)
		return;
	/* less: quit when it fits (F), keep colours (R), leave the screen as it was (X). */
	setenv("LESS", getenv("LESS") ? getenv("LESS") : "FRX", 1);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	char *argv[] = { "sh", "-c", (char *)pager, NULL };
	extern char **environ;
	pid_t pid;
	int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (rc) {
		close(fds[1]);
		return;
	}
	fflush(stdout);
	paged_tty = 1;
	dup2(fds[1], STDOUT_FILENO);
	close(fds[1]);
	pager_pid = pid;
	/* A reader who quits the pager early ends the view, not with a message. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, pager_signal);
	signal(SIGTERM, pager_signal);
	signal(SIGQUIT, pager_signal);
	atexit(wait_for_pager);
}

void print_notes(const json_t *notes)
{
	size_t k;
	json_t *v;
	json_array_foreach(notes, k, v)
		fprintf(stderr, "quire: warning: %s\n", json_string_value(v));
}
