/* Shared CLI plumbing: the command table entry type, exit codes, messages, project opening. */
#ifndef QUIRE_CLI_COMMON_H
#define QUIRE_CLI_COMMON_H

#include <stdio.h>

/* Exit codes: documented in README.md and `quire help`; stable. */
enum {
	EXIT_OK_ = 0,
	EXIT_DIRTY = 1,	   /* plan --check found work; run had failed or blocked instances */
	EXIT_USAGE = 2,	   /* bad command line */
	EXIT_INVALID = 3,  /* invalid project, blueprint, inputs or id */
	EXIT_LOCKED = 4,   /* another quire is writing the project */
	EXIT_STORE = 5,	   /* the store or file system failed, or is corrupt */
	EXIT_COST = 6,	   /* run --max-cost: the estimate exceeds the limit; nothing was spent */
	EXIT_CONFLICT = 7, /* a file in out/ holds text quire did not write; nothing overwritten */
	EXIT_INTERRUPTED = 130,
};

/* What main prepares before a command runs, as its table entry asks (git's RUN_SETUP). */
enum {
	CMD_ROOT = 1 << 0,    /* runs in a project: its directory is found first (-C, or upward) */
	CMD_PROJECT = 1 << 1, /* ... and its files are loaded (quire.yaml, blueprint, inputs) */
	CMD_WRITES = 1 << 2,  /* changes the project: takes its writer lock (in the core call) */
	CMD_PROJECT_IF_ANY = 1 << 3, /* loads the project when there is one; env->p NULL if not */
	CMD_PAGER = 1 << 4,	     /* a long view: stdout goes through the pager on a terminal */
};

struct quire_project;

/* What a command gets from main. */
struct cmd_env {
	const char *root;	 /* the project directory (CMD_ROOT, CMD_PROJECT), else NULL */
	struct quire_project *p; /* the loaded project (CMD_PROJECT), else NULL; main frees it */
};

struct cmd {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text */
	unsigned flags;	   /* CMD_* */
	int (*exec)(int argc, char **argv, const struct cmd_env *env);
	void (*help)(FILE *f); /* prints what follows usage from a name table, or NULL */
};

/* Prints a command's whole --help text. */
void print_usage(const struct cmd *c, FILE *f);

/* Global options parsed by main: -C DIR. */
extern const char *opt_dir;

/* Prints "quire: <message>" for the last core error and maps its code to an exit code. */
int die_core(int code);

/* For an option getopt_long refused (argv[optind - 1]): "unknown option", with the nearest
 * option of opts when one is close, or "missing value"; returns EXIT_USAGE. */
struct option;
int bad_option(const char *cmd, const struct option *opts, const char *arg);

/* Prints "quire: <fmt>" and returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Takes --wait[=SECONDS] out of a writing command's arguments (before any "--") into
 * QUIRE_WAIT, which the writer lock reads. 0, or EXIT_USAGE after saying why. */
int take_wait_option(int *argc, char **argv);

/* 1 when a --help / -h argument is present; then prints usage and the caller returns 0. */
int wants_help(int argc, char **argv, const struct cmd *c);

/* The .quire directory of project root (malloc'd). */
char *project_qdir(const char *root);

/* Prints a JSON value on one line to stdout. */
struct json_t;
void print_json_line(const struct json_t *v);

/* Each sentence of notes (a JSON array; NULL is fine) as a warning on stderr. */
void print_notes(const struct json_t *notes);

/* Whether to colour what goes to f: --color=always|never, else only on a terminal (also
 * behind the pager quire started on one), never with NO_COLOR set or TERM=dumb. */
int use_color(FILE *f);

/* --color=WHEN (always, never, auto): 0, or -1 for another word. */
int set_color(const char *when);

/* code when colouring f, else "" (codes: COLOR_RED ...). */
const char *color(FILE *f, const char *code);
#define COLOR_RED "\033[31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_CYAN "\033[36m"
#define COLOR_BOLD "\033[1m"
#define COLOR_RESET "\033[m"

/* Sends stdout through $QUIRE_PAGER or $PAGER (default "less", with LESS=FRX unless LESS is
 * set) when stdout is a terminal and --no-pager was not given; the pager is waited for at
 * exit. Long views call it before they print. */
void setup_pager(void);

/* --no-pager. */
void disable_pager(void);

extern const struct cmd cmd_init_desc, cmd_plan_desc, cmd_run_desc, cmd_inspect_desc,
	cmd_providers_desc, cmd_edit_desc, cmd_rewind_desc, cmd_gc_desc, cmd_fsck_desc,
	cmd_push_desc, cmd_pull_desc, cmd_log_desc, cmd_diff_desc, cmd_show_desc, cmd_status_desc,
	cmd_graph_desc, cmd_secret_desc;

#endif
