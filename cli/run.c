/* quire run: execute the plan, commit a revision, materialise out/. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "planview.h"
#include "quire/error.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/run.h"

static const char usage[] =
	"usage: quire run [TARGET...] [-j N] [--dry-run] [--keep-going | --fail-fast] [--json]\n"
	"                 [--max-cost X] [--regenerate ID]... [-m TEXT] [--touch] [--no-remote]\n"
	"                 [--commit[=always]] [--shard K/N [--shard-timeout S]]\n\n"
	"Generates every dirty instance (see 'quire plan'), reusing whatever is unchanged or\n"
	"already in the action cache, commits the result as a new revision and rewrites the\n"
	"changed files in out/. With nothing to do it commits nothing. With a shared cache\n"
	"('cache: { remote: URL }' in quire.yaml, or QUIRE_REMOTE_CACHE), what the local store\n"
	"lacks is asked of it before any provider is called, and what this run makes is put\n"
	"there (docs/sharing.md).\n\n"
	"  TARGET        an id or id pattern (quote it: 'Scene[1][*]'), or an out/ file; only\n"
	"                the targets and what they depend on run\n"
	"  -j, --jobs N  run up to N generations at once (default: 'jobs' in quire.yaml, or 4;\n"
	"                under 'make -jN' with a '+' recipe, make's jobserver decides)\n"
	"  --dry-run     show the plan and write nothing at all; exits as the run would\n"
	"                refuse (7: a file in out/ holds text quire did not write)\n"
	"  --keep-going  after a failure, run everything that does not depend on it (default)\n"
	"  --fail-fast   start nothing new after the first failure\n"
	"  --json        print one JSON event per line instead of text\n"
	"  --touch       accept the current output of every dirty instance (of the targets) as\n"
	"                up to date, without generating anything (make -t): a typo fixed in a\n"
	"                prompt need not re-bill every chapter; refused for an instance that\n"
	"                has no output yet\n"
	"  -m, --message TEXT  a message for the revision ('quire log' shows it instead of the\n"
	"                command line)\n"
	"  --regenerate ID  make a new take of ID (a pattern; repeatable) even though nothing\n"
	"                changed; earlier takes stay ('quire inspect ID --takes')\n"
	"  --max-cost X  refuse to start (exit 6) when the estimated cost of what would be\n"
	"                generated exceeds X (see 'price' in quire.yaml); nothing is spent;\n"
	"                with --dry-run, exit 6 the same way\n"
	"  --no-remote   leave the shared cache alone (as QUIRE_NO_REMOTE=1 does)\n"
	"  --commit[=always]  commit the revision to git (quire.yaml, the files it read,\n"
	"                .quire/revs, format, current and calls, out/, .gitignore,\n"
	"                .gitattributes)\n"
	"                when the run succeeded, or always; 'git: { autocommit: true }' in\n"
	"                quire.yaml does it every run\n"
	"  --shard K/N   one of N runs (CI jobs, machines, K from 1) sharing one project's\n"
	"                generation through the shared cache: make the dirty instances whose\n"
	"                id falls in shard K and put them there; what they read that another\n"
	"                shard makes is waited for there, never generated. A final 'quire\n"
	"                run' anywhere then takes everything from the cache. Needs a shared\n"
	"                cache with push on; never commits to git\n"
	"  --shard-timeout S  how long a shard waits for another's output (default 3600)\n\n"
	"A failed instance blocks only what depends on it; the revision records the failure and\n"
	"the next run retries just that. Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops starting jobs,\n"
	"cancels the running ones, commits what finished and exits 130. Exit 1 when anything "
	"failed or was blocked.\n"
	"A file in out/ holding text quire did not write (a hand edit, merge-conflict markers)\n"
	"is never overwritten or removed: the run stops first (exit 7) and says how to keep it\n"
	"('quire edit ID --file out/...') or discard it.\n";

static volatile sig_atomic_t got_sigint;

/* -j N: 1 to 1024, else -1. */
static int parse_jobs(const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);
	return *end || v < 1 || v > 1024 ? -1 : (int)v;
}

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

struct ui {
	int json, tty;
	size_t shown;	 /* finished instances reported so far: the counter moves one by one */
	long long t0_ms; /* when the run started, for elapsed time and the estimate of the rest */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The terminal's width (stderr's), else $COLUMNS, else 80. */
static size_t term_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	long v = c ? strtol(c, NULL, 10) : 0;
	return v > 0 && v < 10000 ? (size_t)v : 80;
}

static void put_duration(char *out, size_t cap, long long ms)
{
	long long s = ms / 1000;
	if (s >= 3600)
		snprintf(out, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, cap, "%lld:%02lld", s / 60, s % 60);
}

/* The live line on a terminal: counts, elapsed time, an estimate of what is left, and the
 * latest event, cut to the terminal's width so that it never wraps. */
static void status_line(struct ui *u, const struct quire_progress *ev)
{
	char line[1024], el[32], left[48] = "";
	long long ms = now_ms() - u->t0_ms;
	put_duration(el, sizeof(el), ms);
	if (u->shown && u->shown < ev->total) {
		char d[32];
		put_duration(d, sizeof(d),
			     (long long)((double)ms / (double)u->shown *
					 (double)(ev->total - u->shown)));
		snprintf(left, sizeof(left), ", ~%s left", d);
	}
	int n = snprintf(
		line, sizeof(line),
		"[%zu/%zu] %zu running, %zu produced, %zu cached, %zu failed, %s elapsed%s  "
		"%s %s",
		u->shown, ev->total, ev->running, ev->produced, ev->cached, ev->failed, el, left,
		ev->kind, ev->id);
	if (n > 0 && !strcmp(ev->kind, "progress") && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, " (%lld %s)", ev->units, ev->unit);
	size_t w = term_width();
	/* One column short of the width: a line that fills it would wrap on some terminals. */
	if (w > 1 && strlen(line) > w - 1)
		line[w - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
}

static int finished_kind(const char *k)
{
	return !strcmp(k, "produced") || !strcmp(k, "cached") || !strcmp(k, "unchanged") ||
	       !strcmp(k, "accepted") || !strcmp(k, "failed") || !strcmp(k, "blocked");
}

static void progress(void *ud, const struct quire_progress *ev)
{
	struct ui *u = ud;
	if (u->json) {
		json_t *j = json_pack("{s:s,s:s?,s:I,s:I,s:I}", "event", ev->kind, "id", ev->id,
				      "done", (json_int_t)ev->done, "total", (json_int_t)ev->total,
				      "running", (json_int_t)ev->running);
		if (ev->message)
			json_object_set_new(j, "message", json_string(ev->message));
		if (!strcmp(ev->kind, "progress")) {
			json_object_set_new(j, "units", json_integer(ev->units));
			json_object_set_new(j, "unit", json_string(ev->unit));
		}
		print_json_line(j);
		json_decref(j);
		return;
	}
	if (!strcmp(ev->kind, "warning")) {
		fprintf(stderr, "%squire: warning: %s\n", u->tty ? "\r\033[K" : "",
			ev->message ? ev->message : "");
		return;
	}
	if (finished_kind(ev->kind))
		u->shown++;
	if (u->tty) {
		/* One live status line; finished work scrolls above it only when it failed. */
		if (!strcmp(ev->kind, "failed") || !strcmp(ev->kind, "blocked"))
			fprintf(stderr, "\r\033[K%s%s%s %s: %s\n", color(stderr, COLOR_RED),
				ev->kind, color(stderr, COLOR_RESET), ev->id,
				ev->message ? ev->message : "");
		status_line(u, ev);
		fflush(stderr);
		return;
	}
	if (!strcmp(ev->kind, "start") || !strcmp(ev->kind, "progress") ||
	    !strcmp(ev->kind, "waiting"))
		return;
	const char *c = !strcmp(ev->kind, "produced")  ? COLOR_GREEN
			: !strcmp(ev->kind, "failed")  ? COLOR_RED
			: !strcmp(ev->kind, "blocked") ? COLOR_YELLOW
						       : "";
	printf("[%zu/%zu] %s%-9s%s %s%s%s\n", u->shown, ev->total, color(stdout, c), ev->kind,
	       *c ? color(stdout, COLOR_RESET) : "", ev->id, ev->message ? ": " : "",
	       ev->message ? ev->message : "");
	fflush(stdout);
}

/* run --dry-run: the plan, the estimate, and the exit the run itself would have. */
static int dry_run(struct quire_project *p, char **targets, size_t ntargets, int json, int has_max,
		   long long max_cost)
{
	int rc = 0;
	struct quire_plan *plan = NULL;
	struct quire_out_conflict *conf = NULL;
	size_t nconf = 0;
	p->no_cache_writes = 1; /* "write nothing at all" */
	int err = plan_readonly(p, targets, ntargets, PLAN_REMOTE_CACHE, &plan, &conf, &nconf);
	if (err) {
		rc = die_core(err);
	} else if (json) {
		json_t *j = quire_plan_to_json(plan, 0);
		json_object_set_new(j, "event", json_string("plan"));
		json_object_set_new(j, "out_conflicts", plan_conflicts_json(conf, nconf));
		json_object_set_new(j, "estimate", quire_run_estimate_json(p, plan));
		print_json_line(j);
		json_decref(j);
	} else {
		plan_print(plan, 0, ntargets == 0);
		plan_print_conflicts(conf, nconf);
	}
	/* It exits as the run itself would: refused for its cost, or for out/. */
	int priced = 0;
	long long est = err ? 0 : quire_run_estimate_plan(p, plan, &priced);
	if (!err && priced && !json) {
		json_t *e = quire_run_estimate_json(p, plan);
		plan_print_estimate(e);
		json_decref(e);
	}
	if (!err && has_max && quire_run_check_cost(est, max_cost))
		rc = die_core(QUIRE_ECOST);
	else if (!err && nconf)
		rc = EXIT_CONFLICT;
	quire_out_conflicts_free(conf, nconf);
	quire_plan_free(plan);
	return rc;
}

/* run --commit: the revision into git; the revision itself is kept whatever happens. */
static int git_commit(struct quire_project *p, const struct quire_run_result *r,
		      const char *message, int json)
{
	char id[64];
	int err = quire_run_git_commit(p, r, message, id, sizeof(id));
	if (err) {
		int rc = die_core(err);
		fprintf(stderr, "quire: %.12s is committed in quire, not in git\n", r->rev);
		return rc;
	}
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:o}", "event", "git", "revision", r->rev, "commit",
				      id[0] ? json_string(id) : json_null());
		print_json_line(j);
		json_decref(j);
	} else if (id[0]) {
		printf("git: committed %.12s as %.12s\n", r->rev, id);
	} else {
		printf("git: nothing to commit for %.12s\n", r->rev);
	}
	return 0;
}

/* The run's last line: what it did, its cost, and what awaits review. */
static void print_summary(const struct quire_run_result *rr, int json)
{
	const struct quire_run_result r = *rr;
	if (json) {
		json_t *j = json_pack(
			"{s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "event", "summary",
			"revision", r.rev[0] ? json_string(r.rev) : json_null(), "total",
			(json_int_t)r.total, "produced", (json_int_t)r.produced, "cached",
			(json_int_t)r.cached, "unchanged", (json_int_t)r.unchanged, "failed",
			(json_int_t)r.failed, "blocked", (json_int_t)r.blocked, "removed",
			(json_int_t)r.removed, "out_written", (json_int_t)r.out_written,
			"interrupted", r.interrupted);
		json_object_set_new(j, "cost_micro", json_integer(r.cost_micro));
		json_object_set_new(j, "waiting", json_integer((json_int_t)r.waiting));
		json_object_set_new(j, "pending_review",
				    json_integer((json_int_t)r.pending_review));
		json_object_set_new(j, "estimate_micro", json_integer(r.estimate_micro));
		json_object_set_new(j, "accepted", json_integer((json_int_t)r.accepted));
		json_object_set_new(j, "not_started", json_integer((json_int_t)r.not_started));
		if (r.merged[0])
			json_object_set_new(j, "merged", json_string(r.merged));
		print_json_line(j);
		json_decref(j);
	} else if (!r.rev[0] && r.waiting) {
		printf("run: nothing to run: %zu up to date, %zu waiting for review",
		       r.total - r.waiting, r.waiting);
		if (r.out_written)
			printf(" (out/: %zu restored)", r.out_written);
		printf("\n");
	} else if (!r.rev[0]) {
		printf("run: nothing to do, %zu up to date", r.total);
		if (r.out_written)
			printf(" (out/: %zu restored)", r.out_written);
		printf("\n");
	} else {
		printf("run: %.12s: %zu produced, %zu cached, %zu unchanged, %zu failed, %zu "
		       "blocked",
		       r.rev, r.produced, r.cached, r.unchanged, r.failed, r.blocked);
		if (r.accepted)
			printf(", %zu accepted without regenerating", r.accepted);
		if (r.removed)
			printf(", %zu removed", r.removed);
		if (r.not_started)
			printf(", %zu not started", r.not_started);
		if (r.waiting)
			printf(", %zu waiting for review", r.waiting);
		printf(" (out/: %zu written, %zu removed)\n", r.out_written, r.out_removed);
		if (r.priced)
			printf("cost: %lld.%06lld (estimated %lld.%06lld)\n",
			       r.cost_micro / 1000000, r.cost_micro % 1000000,
			       r.estimate_micro / 1000000, r.estimate_micro % 1000000);
	}
	if (!json && r.pending_review && !r.failed && !r.blocked)
		printf("review: %zu await review: 'quire inspect --status', then 'quire edit ID "
		       "--approve' or --feedback \"...\"\n",
		       r.pending_review);
}

/* What a run says when it ends, its git commit (commit -1: never, a shard's, whose failures
 * are retried differently), and the exit status. */
static int after_run(struct quire_project *p, const struct quire_run_result *rr, int err,
		     const char *message, int commit, int json)
{
	const struct quire_run_result r = *rr;
	int rc = 0;
	if (r.merged[0] && !json)
		printf("run: merged two lines of history as %.12s\n", r.merged);
	if (r.recovered[0] && !json)
		printf("run: recovered %.12s, committed from a run that was killed before it "
		       "finished\n",
		       r.recovered);
	if (err && err != QUIRE_EINTR) {
		rc = die_core(err);
		if (r.rev[0])
			fprintf(stderr, "quire: what finished was committed as %.12s\n", r.rev);
		return rc;
	}
	print_summary(&r, json);
	if (!commit && p->git_autocommit)
		commit = 1;
	int shard = commit < 0;
	if (shard)
		commit = 0;
	if (commit && !err && r.rev[0] && (commit == 2 || (!r.failed && !r.blocked)))
		rc = git_commit(p, &r, message, json);
	else if (commit && r.rev[0] && !json)
		fprintf(stderr,
			"quire: %.12s was not committed to git: %s ('--commit=always' commits "
			"it anyway)\n",
			r.rev, err ? "the run was interrupted" : "something failed or was blocked");
	if (err == QUIRE_EINTR) {
		fprintf(stderr, "quire: interrupted; what finished was committed as %.12s\n",
			r.rev[0] ? r.rev : "(nothing)");
		rc = EXIT_INTERRUPTED;
	} else if (r.failed || r.blocked) {
		if (!json && r.pending_review)
			fprintf(stderr, "quire: %zu await review ('quire edit ID --approve')\n",
				r.pending_review);
		if (!json && shard)
			fprintf(stderr,
				"quire: %zu failed, %zu blocked; run this shard again (once the "
				"shards it waits for are done) to retry its part\n",
				r.failed, r.blocked);
		else if (!json)
			fprintf(stderr,
				"quire: %zu failed, %zu blocked; 'quire run' again retries just "
				"those\n",
				r.failed, r.blocked);
		rc = EXIT_DIRTY;
	}
	return rc;
}

/* What the command line asks beyond the run's options. */
struct run_args {
	int dry, json, has_max;
	int commit; /* 1: when the run succeeded, 2: always */
	long long max_cost;
	const char *regen[64];
};

/* --shard K/N: 1 <= K <= N <= 100000. */
static int parse_shard(const char *arg, struct quire_run_opts *o)
{
	char *end;
	long k = strtol(arg, &end, 10), n = *end == '/' ? strtol(end + 1, &end, 10) : 0;
	if (*end || k < 1 || n < 1 || k > n || n > 100000)
		return usage_error("run",
				   "--shard needs K/N with 1 <= K <= N (the third of three: 3/3), "
				   "not '%s'",
				   arg);
	o->shard_k = (int)k;
	o->shard_n = (int)n;
	return 0;
}

/* Reads run's options into o and a: 0, or the exit code of a usage error (said). */
static int parse_args(int argc, char **argv, struct quire_run_opts *o, struct run_args *a)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "fail-fast", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'J' },
		{ "max-cost", required_argument, NULL, 'M' },
		{ "regenerate", required_argument, NULL, 'R' },
		{ "message", required_argument, NULL, 'm' },
		{ "touch", no_argument, NULL, 'T' },
		{ "no-remote", no_argument, NULL, 'O' },
		{ "commit", optional_argument, NULL, 'C' },
		{ "shard", required_argument, NULL, 'S' },
		{ "shard-timeout", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;
	char *end;
	long v;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, "j:nm:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if ((o->jobs = parse_jobs(optarg)) < 0)
				rc = usage_error("run",
						 "-j needs a number from 1 to 1024, not '%s'",
						 optarg);
			break;
		case 'n':
			a->dry = 1;
			break;
		case 'k':
			o->fail_fast = 0;
			break;
		case 'f':
			o->fail_fast = 1;
			break;
		case 'J':
			a->json = 1;
			break;
		case 'm': {
			/* Kept in the revision as JSON text: UTF-8, and short enough to read. */
			json_t *s = json_string(optarg);
			json_decref(s);
			if (!*optarg || !s || strlen(optarg) > 4096)
				rc = usage_error("run", "-m needs a message of 1 to 4096 bytes of "
							"UTF-8 text");
			o->message = optarg;
			break;
		}
		case 'T':
			o->touch = 1;
			break;
		case 'O':
			setenv("QUIRE_NO_REMOTE", "1", 1);
			break;
		case 'C':
			if (optarg && strcmp(optarg, "always"))
				rc = usage_error("run",
						 "--commit takes no value but 'always', not '%s'",
						 optarg);
			a->commit = optarg ? 2 : 1;
			break;
		case 'R':
			if (o->nregenerate == sizeof(a->regen) / sizeof(a->regen[0]))
				rc = usage_error("run", "at most 64 --regenerate patterns");
			else
				a->regen[o->nregenerate++] = optarg;
			break;
		case 'M':
			if (quire_amount_parse(optarg, &a->max_cost))
				rc = usage_error(
					"run", "--max-cost needs an amount such as 2.50, not '%s'",
					optarg);
			a->has_max = 1;
			break;
		case 'S':
			rc = parse_shard(optarg, o);
			break;
		case 'W':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 7 * 24 * 3600)
				rc = usage_error(
					"run",
					"--shard-timeout needs seconds from 1 to 604800, not "
					"'%s'",
					optarg);
			o->shard_timeout_s = (int)v;
			break;
		case '?':
			if (optopt == 'j')
				return usage_error("run", "-j needs a number");
			if (optopt == 'm')
				return usage_error("run", "-m needs a message");
			return bad_option("run", opts, argv[optind - 1]);
		default:
			return bad_option("run", opts, argv[optind - 1]);
		}
	}
	if (!rc && o->touch && (o->nregenerate || a->dry))
		rc = usage_error("run", "--touch accepts what exists: it takes neither "
					"--regenerate nor --dry-run");
	if (!rc && o->shard_n && (o->touch || a->dry || a->commit || optind < argc))
		rc = usage_error("run",
				 "--shard makes its part of the whole plan for the shared "
				 "cache: it takes no targets, --touch, --dry-run or --commit");
	if (!rc && o->shard_timeout_s && !o->shard_n)
		rc = usage_error("run", "--shard-timeout goes with --shard");
	return rc;
}

static int cmd_run(int argc, char **argv, const struct cmd_env *env)
{
	struct run_args a = { 0 };
	struct ui u = { 0 };
	struct quire_run_opts o = {
		.interrupted = &got_sigint,
		.progress = progress,
		.ud = &u,
		.command = "quire run",
		.regenerate = a.regen,
		.shard_timeout_s = 0,
	};
	int rc = parse_args(argc, argv, &o, &a);
	if (rc)
		return rc;
	struct quire_project *p = env->p;
	char **targets = argv + optind;
	size_t ntargets = (size_t)(argc - optind);
	if (a.dry)
		return dry_run(p, targets, ntargets, a.json, a.has_max, a.max_cost);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed terminal (or ssh session) stops the run the way Ctrl-C does: what finished
	 * is committed, not left for the next run to recover. */
	sigaction(SIGHUP, &sa, NULL);

	u = (struct ui){ a.json, !a.json && isatty(STDERR_FILENO), 0, now_ms() };
	o.targets = (const char *const *)targets;
	o.ntargets = ntargets;
	o.has_max_cost = a.has_max;
	o.max_cost_micro = a.max_cost;
	if (o.shard_n && !o.shard_timeout_s)
		o.shard_timeout_s = 3600;
	struct quire_run_result r;
	int err = quire_run(p, &o, &r);
	if (u.tty)
		fprintf(stderr, "\r\033[K");
	/* A shard's revision is its part alone: never committed to git. */
	return after_run(p, &r, err, o.message, o.shard_n ? -1 : a.commit, a.json);
}

const struct cmd cmd_run_desc = {
	.name = "run",
	.summary = "generate what is dirty and commit a revision",
	.usage = usage,
	.flags = CMD_PROJECT | CMD_WRITES,
	.exec = cmd_run,
};
