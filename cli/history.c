/* inspect's history views: --log, --diff A B, --status, --takes, --export. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "history.h"
#include "planview.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

int history_log(const char *qdir, int json, long limit)
{
	json_t *all = NULL;
	int err = quire_history_log(qdir, &all);
	if (err)
		return die_core(err);
	/* Newest first, as git log: the revision you just made is the one you look for. */
	json_t *rows = json_array();
	for (size_t k = json_array_size(all);
	     k-- > 0 && (limit < 0 || (long)json_array_size(rows) < limit);)
		json_array_append(rows, json_array_get(all, k));
	json_decref(all);
	if (json) {
		print_json_line(rows);
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(rows, i, r) {
			if (json_object_get(r, "error")) {
				printf("%.12s  (unreadable: %s)\n", str(r, "revision"),
				       str(r, "error"));
				continue;
			}
			printf("%s%.12s%s  parent %-12.12s  %s  %lld produced, %lld cached, %lld "
			       "failed, "
			       "%lld edited",
			       color(stdout, COLOR_YELLOW), str(r, "revision"),
			       color(stdout, COLOR_RESET), str(r, "parent"), str(r, "created"),
			       num(r, "produced"), num(r, "cached"), num(r, "failed"),
			       num(r, "edited"));
			if (num(r, "accepted"))
				printf(", %lld accepted without regenerating", num(r, "accepted"));
			if (num(r, "cost_micro"))
				printf(", cost %lld.%06lld", num(r, "cost_micro") / 1000000,
				       num(r, "cost_micro") % 1000000);
			if (json_is_string(json_object_get(r, "git")))
				printf(", git %.12s", str(r, "git"));
			/* The first line of a message: the log is one entry per two lines. */
			const char *msg = str(r, "message");
			printf("\n      %.*s%s%.12s%s\n", (int)strcspn(msg, "\n"), msg,
			       json_object_get(r, "restored_from") ? " (restores " : "",
			       json_object_get(r, "restored_from") ? str(r, "restored_from") : "",
			       json_object_get(r, "restored_from") ? ")" : "");
		}
	}
	json_decref(rows);
	return 0;
}

/* diff --word-diff was asked for. */
static int word_diff;

/* Prints a unified or word diff, coloured as git colours one when colour is on. */
static void print_diff(const char *t)
{
	if (!use_color(stdout)) {
		fputs(t, stdout);
		return;
	}
	const char *R = COLOR_RESET;
	for (const char *line = t; *line;) {
		size_t len = strcspn(line, "\n");
		const char *c = "";
		if (!strncmp(line, "+++", 3) || !strncmp(line, "---", 3))
			c = COLOR_BOLD;
		else if (line[0] == '+')
			c = COLOR_GREEN;
		else if (line[0] == '-')
			c = COLOR_RED;
		else if (!strncmp(line, "@@", 2))
			c = COLOR_CYAN;
		if (*c || !word_diff) {
			printf("%s%.*s%s\n", c, (int)len, line, *c ? R : "");
		} else {
			/* A word diff: [-removed-] red, {+added+} green, within the line. */
			for (size_t k = 0; k < len; k++) {
				if (!strncmp(line + k, "[-", 2))
					fputs(COLOR_RED, stdout);
				else if (!strncmp(line + k, "{+", 2))
					fputs(COLOR_GREEN, stdout);
				putchar(line[k]);
				if (k && (!strncmp(line + k - 1, "-]", 2) ||
					  !strncmp(line + k - 1, "+}", 2)))
					fputs(R, stdout);
			}
			putchar('\n');
		}
		line += len + (line[len] == '\n');
	}
}

/* Removes (and frees) the directory run_diff copied packed blobs into. */
static void drop_copies(char *dir)
{
	if (!dir)
		return;
	for (const char *n = "ab"; *n; n++) {
		char *f = NULL;
		if (asprintf(&f, "%s/%c", dir, *n) >= 0)
			unlink(f);
		free(f);
	}
	rmdir(dir);
	free(dir);
}

/* Runs diff -u on two blobs (git's word diff with --word-diff, which shows a changed
 * sentence as its changed words); with text, returns its output there, else prints it. */
static int run_diff(const char *qdir, const char *id, const char *ra, const char *da,
		    const char *rb, const char *db, struct quire_buf *text)
{
	/* diff reads files: a packed blob is copied into a directory of this call's own,
	 * outside the store (which may be read-only to whoever looks). */
	const char *td = getenv("TMPDIR");
	char *tmp = NULL, *pa = NULL, *pb = NULL;
	if (asprintf(&tmp, "%s/quire-diff-XXXXXX", td && *td ? td : "/tmp") < 0)
		tmp = NULL;
	if (!tmp || !mkdtemp(tmp)) {
		fprintf(stderr,
			"quire: cannot show the change of %s: no temporary directory (%s)\n", id,
			strerror(errno));
		free(tmp);
		return -1;
	}
	if (quire_blob_file(qdir, da, tmp, "a", &pa) || quire_blob_file(qdir, db, tmp, "b", &pb)) {
		fprintf(stderr, "quire: cannot show the change of %s: %s\n", id,
			quire_error_last());
		quire_error_clear();
		free(pa);
		free(pb);
		drop_copies(tmp);
		return -1;
	}
	char la[256], lb[256];
	snprintf(la, sizeof(la), "%s@%.12s", id, ra);
	snprintf(lb, sizeof(lb), "%s@%.12s", id, rb);
	struct quire_buf out = QUIRE_BUF_INIT;
	int fds[2] = { -1, -1 };
	if (pipe(fds) < 0) {
		free(pa);
		free(pb);
		drop_copies(tmp);
		return -1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (word_diff)
			execlp("git", "git", "--no-pager", "diff", "--no-index", "--no-color",
			       "--word-diff=plain", pa, pb, (char *)NULL);
		else
			execlp("diff", "diff", "-u", "--label", la, "--label", lb, pa, pb,
			       (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		quire_buf_add(&out, buf, (size_t)n);
	close(fds[0]);
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Gone before anything is printed: a reader that stops early (| head) ends quire. */
	drop_copies(tmp);
	tmp = NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		/* exec failed in the child: an empty diff would read as "no change". */
		fprintf(stderr, "quire: cannot show the change of %s: cannot run %s (%s)\n", id,
			word_diff ? "git" : "diff",
			word_diff ? "--word-diff runs git diff; is git installed and on PATH?"
				  : "is diff installed and on PATH?");
		quire_buf_release(&out);
		free(pa);
		free(pb);
		return -1;
	}
	/* git names the blob files: its header goes, the artefact's labels take its place. */
	const char *body = out.ptr ? out.ptr : "";
	if (word_diff) {
		const char *hunk = strstr(body, "\n@@");
		body = hunk ? hunk + 1 : body + out.len;
	}
	struct quire_buf *to = text ? text : &out;
	struct quire_buf shown = QUIRE_BUF_INIT;
	if (word_diff)
		quire_buf_printf(&shown, "--- %s\n+++ %s\n", la, lb);
	quire_buf_puts(&shown, body);
	if (text)
		quire_buf_add(to, shown.ptr, shown.len);
	else
		print_diff(shown.ptr);
	quire_buf_release(&shown);
	quire_buf_release(&out);
	free(pa);
	free(pb);
	drop_copies(tmp);
	return 0;
}

int history_diff(const char *qdir, const char *a, const char *b, int json)
{
	json_t *d = NULL;
	int err = quire_revision_diff(qdir, a, b, &d);
	if (err)
		return die_core(err);
	const char *ra = str(d, "from"), *rb = str(d, "to");
	const json_t *arts = json_object_get(d, "artefacts");
	json_t *inputs = json_object_get(d, "inputs"), *added = json_object_get(arts, "added"),
	       *removed = json_object_get(arts, "removed"),
	       *changed = json_object_get(arts, "changed");
	size_t i;
	json_t *v;
	if (json) {
		/* Text that changed carries its unified diff. */
		json_array_foreach(changed, i, v) {
			const char *da = json_string_value(json_object_get(v, "digest_from"));
			const char *db = json_string_value(json_object_get(v, "digest_to"));
			if (da && db && strcmp(da, db) &&
			    json_is_true(json_object_get(v, "text"))) {
				struct quire_buf t = QUIRE_BUF_INIT;
				run_diff(qdir, str(v, "id"), ra, da, rb, db, &t);
				json_object_set_new(v, "diff", json_stringn(t.ptr, t.len));
				quire_buf_release(&t);
			}
		}
		print_json_line(d);
		json_decref(d);
		return 0;
	}
	printf("diff %.12s %.12s: %zu input%s, %zu artefact%s changed, %zu added, %zu removed\n",
	       ra, rb, json_array_size(inputs), json_array_size(inputs) == 1 ? "" : "s",
	       json_array_size(changed), json_array_size(changed) == 1 ? "" : "s",
	       json_array_size(added), json_array_size(removed));
	json_array_foreach(inputs, i, v) {
		char *f = json_dumps(json_object_get(v, "from"), JSON_ENCODE_ANY);
		char *t = json_dumps(json_object_get(v, "to"), JSON_ENCODE_ANY);
		printf("input %s: %s -> %s\n", str(v, "name"), f, t);
		free(f);
		free(t);
	}
	json_array_foreach(added, i, v)
		printf("added   %s\n", json_string_value(v));
	json_array_foreach(removed, i, v)
		printf("removed %s\n", json_string_value(v));
	json_array_foreach(changed, i, v) {
		const char *id = str(v, "id");
		printf("changed %s (%s -> %s)\n", id, str(v, "from"), str(v, "to"));
		const char *da = json_string_value(json_object_get(v, "digest_from"));
		const char *db = json_string_value(json_object_get(v, "digest_to"));
		if (da && db && strcmp(da, db) && json_is_true(json_object_get(v, "text")))
			run_diff(qdir, id, ra, da, rb, db, NULL);
	}
	json_decref(d);
	return 0;
}

int history_status(const json_t *m, int json)
{
	json_t *st = quire_revision_status(m);
	if (json) {
		print_json_line(st);
		json_decref(st);
		return 0;
	}
	const json_t *groups = json_object_get(st, "artefacts");
	long long cost = num(st, "total_cost_micro");
	printf("status of %.12s:\n", str(m, "revision"));
	const char *order[] = { "failed", "blocked", "stale", "pending-review", "user-edited" };
	int any = 0;
	for (size_t i = 0; i < 5; i++) {
		json_t *g = json_object_get(groups, order[i]);
		if (!json_array_size(g))
			continue;
		any = 1;
		printf("  %-15s", order[i]);
		size_t n;
		json_t *x;
		json_array_foreach(g, n, x)
			printf(" %s", json_string_value(x));
		printf("\n");
	}
	if (!any)
		printf("  everything is clean\n");
	printf("  total cost of the artefacts shown: %lld.%06lld\n", cost / 1000000,
	       cost % 1000000);
	json_decref(st);
	return 0;
}

int history_takes(const char *qdir, const json_t *m, const char *id, int json)
{
	(void)qdir;
	const json_t *e = json_object_get(json_object_get(m, "artefacts"), id);
	if (!e) {
		fprintf(stderr, "quire: %.12s has no artefact '%s'\n", str(m, "revision"), id);
		return EXIT_INVALID;
	}
	const json_t *takes = json_object_get(e, "takes");
	if (json) {
		json_t *j = json_pack("{s:s,s:I,s:O}", "id", id, "take", (json_int_t)num(e, "take"),
				      "takes", takes ? takes : json_array());
		print_json_line(j);
		json_decref(j);
		return 0;
	}
	size_t i;
	json_t *t;
	json_array_foreach(takes, i, t) {
		printf("%s take %lld  %.19s  %lld bytes%s", id, num(t, "take"), str(t, "digest"),
		       num(t, "size"),
		       num(t, "take") == num(e, "take") &&
				       !strcmp(str(t, "digest"), str(e, "digest"))
			       ? "  (shown)"
			       : "");
		if (json_is_string(json_object_get(t, "note")))
			printf("  feedback: %s", str(t, "note"));
		printf("\n");
	}
	if (!json_array_size(takes))
		printf("%s has no generated takes\n", id);
	return 0;
}

int history_export(const char *root, const char *file)
{
	struct quire_project *p = NULL;
	int err = quire_project_open(&p, root);
	if (err)
		return die_core(err);
	char *cur = NULL;
	quire_manifest_current(p->qdir, &cur);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_edit_export(p, cur, &b);
	int rc = 0;
	if (!strcmp(file, "-"))
		fwrite(b.ptr, 1, b.len, stdout);
	else if ((err = quire_fs_write_atomic(file, b.ptr, b.len, 0644)))
		rc = die_core(err);
	else
		printf("inspect: wrote %s; apply it with 'quire edit --from %s'\n", file, file);
	quire_buf_release(&b);
	free(cur);
	quire_project_free(p);
	return rc;
}

/* quire log, diff, show and status: git's reading commands over the same history views. */

static const char log_usage[] =
	"usage: quire log [-n N] [--json]\n\n"
	"Every revision, newest first: its parent, time, what it produced, cached, failed or\n"
	"changed by hand, its cost, the git commit that holds it (in a git repository) and\n"
	"its message. The same as 'quire inspect --log'.\n\n"
	"  -n N     the N newest only\n"
	"  --json   the revisions as a JSON array\n";

static int parse_count(const char *cmd, const char *arg, long *n)
{
	char *end;
	*n = strtol(arg, &end, 10);
	if (*end || *n < 0)
		return usage_error(cmd, "-n needs a number, not '%s'", arg);
	return 0;
}

static int cmd_log(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "max-count", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c;
	long limit = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'n') {
			if (parse_count("log", optarg, &limit))
				return EXIT_USAGE;
		} else if (c == 'j') {
			json = 1;
		} else {
			return bad_option("log", opts, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("log", "unexpected argument '%s'", argv[optind]);
	char *qdir = project_qdir(env->root);
	int rc = history_log(qdir, json, limit);
	free(qdir);
	return rc;
}

const struct cmd cmd_log_desc = {
	.name = "log",
	.summary = "list the revisions, newest first",
	.usage = log_usage,
	.flags = CMD_ROOT | CMD_PAGER,
	.exec = cmd_log,
};

static const char diff_usage[] =
	"usage: quire diff [A [B]] [--word-diff] [--json]\n\n"
	"What differs from revision A to revision B (default: current~1 and current, or A and\n"
	"current): the inputs, the artefacts added, removed or changed, and each changed text as\n"
	"a unified diff. A revision is its name (or 7 or more of its first digits), current or\n"
	"current~N (N first parents back), or rev-NNNN for one made before names were digests.\n\n"
	"  --word-diff  show changed words within lines (prose), through git's word diff\n"
	"  --json       the differences as one JSON object (text diffs included)\n";

static int cmd_diff(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "word-diff", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w')
			word_diff = 1;
		else if (c == 'j')
			json = 1;
		else
			return bad_option("diff", opts, argv[optind - 1]);
	}
	int n = argc - optind;
	if (n > 2)
		return usage_error("diff", "give at most two revisions");
	const char *a = n >= 1 ? argv[optind] : "current~1";
	const char *b = n == 2 ? argv[optind + 1] : "current";
	char *qdir = project_qdir(env->root);
	int rc = history_diff(qdir, a, b, json);
	free(qdir);
	return rc;
}

const struct cmd cmd_diff_desc = {
	.name = "diff",
	.summary = "show what changed between two revisions",
	.usage = diff_usage,
	.flags = CMD_ROOT | CMD_PAGER,
	.exec = cmd_diff,
};

static const char show_usage[] =
	"usage: quire show [REV] [ID] [--json]\n\n"
	"A revision (default: current): its inputs and artefacts; or one artefact of it: its\n"
	"provenance, then its content. The same as 'quire inspect [ID] --revision REV'.\n";

static int cmd_show(int argc, char **argv, const struct cmd_env *env)
{
	/* show is inspect with the revision as an argument: the arguments are rearranged and
	 * inspect runs them, so the two never disagree. */
	const char *rev = NULL, *id = NULL;
	int json = 0;
	char *qdir = project_qdir(env->root);
	for (int i = 1; i < argc; i++) {
		char *name = NULL;
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] == '-') {
			free(qdir);
			return usage_error("show", "unknown option '%s'", argv[i]);
		} else if (!rev && !id && quire_revision_resolve(qdir, argv[i], &name) == 0) {
			rev = argv[i];
		} else if (!id) {
			id = argv[i];
		} else {
			free(qdir);
			return usage_error("show", "give at most a revision and an id");
		}
		free(name);
		quire_error_clear();
	}
	free(qdir);
	char *args[6];
	int n = 0;
	args[n++] = (char *)"inspect";
	if (id)
		args[n++] = (char *)id;
	if (rev) {
		args[n++] = (char *)"--revision";
		args[n++] = (char *)rev;
	}
	if (json)
		args[n++] = (char *)"--json";
	args[n] = NULL;
	optind = 1;
	return cmd_inspect_desc.exec(n, args, env);
}

const struct cmd cmd_show_desc = {
	.name = "show",
	.summary = "show a revision, or one artefact of it",
	.usage = show_usage,
	.flags = CMD_ROOT | CMD_PAGER,
	.exec = cmd_show,
};

static const char status_usage[] =
	"usage: quire status [--json]\n\n"
	"What changed since the current revision and what needs attention: how many instances a\n"
	"run would make and why (the first reasons; 'quire plan' lists them all), files in out/\n"
	"quire would not overwrite, and artefacts that failed, await review or were edited by\n"
	"hand. Changes nothing. Exit 0.\n";

static int cmd_status(int argc, char **argv, const struct cmd_env *env)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return usage_error("status", "unknown argument '%s'", argv[i]);
	}
	struct quire_plan *plan = NULL;
	struct quire_out_conflict *conf = NULL;
	size_t nconf = 0;
	int err = plan_readonly(env->p, NULL, 0, PLAN_LOCAL_CACHE, &plan, &conf, &nconf);
	if (err)
		return die_core(err);
	json_t *st = quire_plan_attention(plan);
	if (json) {
		json_t *j = quire_plan_to_json(plan, 0);
		json_object_set_new(j, "out_conflicts", plan_conflicts_json(conf, nconf));
		json_object_set(j, "attention", json_object_get(st, "artefacts"));
		print_json_line(j);
		json_decref(j);
	} else {
		char cur[100];
		plan_current(plan, "nothing yet (no revision)", cur, sizeof(cur));
		printf("on %s\n", cur);
		if (plan->ndirty || plan->nwaiting || plan->nremoved) {
			plan_print(plan, 0, 1);
			printf("('quire run' makes them; 'quire plan --explain' says every "
			       "reason)\n");
		} else {
			printf("everything is up to date\n");
		}
		plan_print_conflicts(conf, nconf);
		const json_t *g = json_object_get(st, "artefacts");
		const char *order[] = { "failed", "blocked", "stale", "pending-review",
					"user-edited" };
		for (size_t k = 0; k < 5; k++) {
			const json_t *ids = json_object_get(g, order[k]);
			if (!json_array_size(ids))
				continue;
			printf("%-15s", order[k]);
			size_t i;
			json_t *v;
			json_array_foreach(ids, i, v)
				printf(" %s", json_string_value(v));
			printf("\n");
		}
	}
	json_decref(st);
	quire_out_conflicts_free(conf, nconf);
	quire_plan_free(plan);
	return 0;
}

const struct cmd cmd_status_desc = {
	.name = "status",
	.summary = "what changed and what needs attention",
	.usage = status_usage,
	.flags = CMD_PROJECT,
	.exec = cmd_status,
};
