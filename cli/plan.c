/* quire plan: what a run would do and why, without writing anything. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "planview.h"
#include "quire/blob.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/reason.h"
#include "quire/run.h"
#include "quire/store.h"

static const char usage[] =
	"usage: quire plan [--explain] [--json] [--check] [--no-remote] [TARGET...]\n\n"
	"Shows which instances a run would generate and why, and which artefacts it would\n"
	"remove. Reads the project and the current revision; changes nothing but caches: it\n"
	"may refresh .quire/runs/blob-trust (the blob directories it checked) and take into\n"
	"the store an output it lacks from the out/ file that holds exactly its bytes (a\n"
	"fresh clone's).\n\n"
	"  TARGET      an id or id pattern: Chapter[2], Scene[1][*], Scene (every Scene), or\n"
	"              the out/ file of one (out/Chapter-2.md); only the targets and what they\n"
	"              depend on are planned\n"
	"  --explain   list every reason for every dirty instance (default: the first reason)\n"
	"  --json      print the plan as one JSON object\n"
	"  --check     print nothing; exit 1 when anything would run (or out/ holds a file\n"
	"              'quire run' would refuse to overwrite), 0 when up to date\n"
	"  --no-remote do not ask the shared cache (as QUIRE_NO_REMOTE=1 does)\n\n"
	"An instance a run would take from the action cache instead of calling its provider\n"
	"is listed as 'cached', or 'cached (remote)' when the shared cache ('cache: { remote:\n"
	"URL }' in quire.yaml, or QUIRE_REMOTE_CACHE) holds it. An instance can be looked up\n"
	"once what it reads is known: made, or given by a cache (a JSON output is brought from\n"
	"the shared cache into the store for that). --check asks no cache.\n\n"
	"A file in out/ that holds text quire did not write (a hand edit) is listed with the\n"
	"commands that keep it as a hand edit or discard it: 'quire run' never overwrites it.\n"
	"Instances below an output that awaits review are listed as 'wait'.\n\n"
	"reasons (the first is shown, --explain shows all):\n";

/* The reasons, from the planner's own table. */
static char *help_text(int k)
{
	return quire_reason_text(k, k == QUIRE_REASON_UPSTREAM_MORE ? "N" : NULL);
}

static void plan_help(FILE *f)
{
	int w = 0;
	for (int k = 0; k < QUIRE_REASON_COUNT; k++) {
		char *text = help_text(k);
		if ((int)strlen(text) > w)
			w = (int)strlen(text);
		free(text);
	}
	for (int k = 0; k < QUIRE_REASON_COUNT; k++) {
		char *text = help_text(k);
		fprintf(f, "  %-*s  %s\n", w, text, quire_reasons[k].meaning);
		free(text);
	}
}

/* The digests of every generated take merge manifest m lists whose output is in the store
 * (borrowed from m), NULL-terminated. */
static const char **merge_takes(const char *qdir, const json_t *m)
{
	size_t n = 0, alloc = 16;
	const char **v = malloc(alloc * sizeof(*v));
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)json_object_get(m, "artefacts"), id, e) {
		size_t k;
		json_t *t;
		json_array_foreach(json_object_get(e, "takes"), k, t) {
			const char *d = json_string_value(json_object_get(t, "digest"));
			if (!d || json_is_true(json_object_get(t, "accepted")) ||
			    !quire_blob_exists(qdir, d))
				continue;
			if (n + 2 > alloc)
				v = realloc(v, (alloc *= 2) * sizeof(*v));
			v[n++] = d;
		}
	}
	v[n] = NULL;
	return v;
}

int plan_readonly(struct quire_project *p, char **targets, size_t ntargets, enum plan_caches caches,
		  struct quire_plan **out, struct quire_out_conflict **conf, size_t *nconf)
{
	struct quire_store *store = NULL;
	char *cur = NULL;
	struct quire_plan_opts o = { (const char *const *)targets, ntargets, NULL, 0, 0, NULL };
	json_t *merged = NULL;
	int err = quire_store_open(&store, p->qdir, 1);
	if (!err && (err = quire_manifest_current(p->qdir, &cur)) == QUIRE_ECONFLICT) {
		/* Two clones' lines of history after a git merge: planned as the next run will
		 * merge them. */
		quire_error_clear();
		err = quire_merge_preview(p->root, p->qdir, store, &merged);
		o.merged = merged;
	}
	if (!err)
		err = quire_project_check_providers(p, 0);
	if (!err)
		err = quire_plan_open(out, p, store, cur, &o);
	char *warning = NULL;
	if (!err && caches != PLAN_NO_CACHE)
		err = quire_plan_mark_cached(*out, p, store, caches == PLAN_REMOTE_CACHE, &warning);
	if (warning)
		fprintf(stderr, "quire: warning: %s\n", warning);
	free(warning);
	/* The merge the run commits first puts both sides' takes in the action cache: an out/
	 * file holding one of them is quire's to replace, as the run will find. */
	const char **takes = merged ? merge_takes(p->qdir, merged) : NULL;
	size_t ntakes = 0;
	while (takes && takes[ntakes])
		ntakes++;
	if (!err && conf)
		err = quire_out_check(p, store, (*out)->manifest, (*out)->base, takes, ntakes, conf,
				      nconf);
	free(takes);
	free(cur);
	json_decref(merged);
	quire_store_close(store);
	return err;
}

void plan_print_conflicts(const struct quire_out_conflict *c, size_t n)
{
	if (!n)
		return;
	printf("out/: %zu file%s hold%s text quire did not write; 'quire run' will not overwrite "
	       "%s:\n",
	       n, n == 1 ? "" : "s", n == 1 ? "s" : "", n == 1 ? "it" : "them");
	for (size_t k = 0; k < n; k++)
		if (c[k].gone)
			printf("  %s  (%s is no longer built: move the file out of out/ to keep "
			       "it)\n",
			       c[k].file, c[k].id);
		else if (c[k].now)
			printf("  %s  (%s is now %s) keep: quire edit '%s' --file '%s'   discard: "
			       "rm "
			       "'%s'\n",
			       c[k].file, c[k].id, c[k].now, c[k].id, c[k].file, c[k].file);
		else
			printf("  %s  keep: quire edit '%s' --file '%s'   discard: rm '%s'\n",
			       c[k].file, c[k].id, c[k].file, c[k].file);
}

json_t *plan_conflicts_json(const struct quire_out_conflict *c, size_t n)
{
	json_t *a = json_array();
	for (size_t k = 0; k < n; k++) {
		json_t *o = json_pack("{s:s,s:s,s:b}", "file", c[k].file, "id", c[k].id, "gone",
				      c[k].gone);
		if (c[k].now)
			json_object_set_new(o, "now", json_string(c[k].now));
		json_array_append_new(a, o);
	}
	return a;
}

/* The selected instances that are up to date with an output accepted by 'run --touch'
 * rather than made for their fingerprint (plan --explain says so). Reads their entries. */
static json_t *accepted_ids(const struct quire_plan *plan)
{
	json_t *a = json_array();
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		json_t *e = NULL;
		if (!n->selected || n->dirty || !n->entry ||
		    quire_manifest_peek(plan->manifest, plan->base, n->id, &e))
			continue;
		if (json_is_true(json_object_get(e, "accepted")))
			json_array_append_new(a, json_string(n->id));
		json_decref(e);
	}
	quire_error_clear();
	return a;
}

static void print_accepted(const struct quire_plan *plan)
{
	json_t *a = accepted_ids(plan);
	size_t k;
	json_t *v;
	if (json_array_size(a))
		printf("up to date, accepted without regenerating ('quire run --touch'):\n");
	json_array_foreach(a, k, v)
		printf("  %s\n", json_string_value(v));
	json_decref(a);
}

void plan_current(const struct quire_plan *plan, const char *none, char *out, size_t len)
{
	const json_t *m = plan->manifest;
	const char *rev = json_string_value(json_object_get(m, "revision"));
	const json_t *ps = json_object_get(m, "parents");
	if (rev && !strcmp(rev, QUIRE_REV_PENDING)) /* two lines of history, merged by the run */
		snprintf(out, len, "the merge of %.12s and %.12s, made by the next run",
			 json_string_value(json_array_get(ps, 0)),
			 json_string_value(json_array_get(ps, 1)));
	else
		snprintf(out, len, "%.12s", rev ? rev : none);
}

void plan_print(const struct quire_plan *plan, int explain, int removals)
{
	char cur[100];
	plan_current(plan, "none", cur, sizeof(cur));
	size_t nrem = removals ? plan->nremoved : 0;
	size_t uptodate = plan->nselected - plan->ndirty - plan->nwaiting;
	if (plan->ndirty == 0 && nrem == 0 && plan->nwaiting == 0) {
		printf("plan: nothing to do, %zu up to date (current %s)\n", plan->nselected, cur);
		if (explain)
			print_accepted(plan);
		return;
	}
	size_t ncached[3] = { 0 };
	for (size_t i = 0; i < plan->n; i++)
		if (plan->nodes[i].selected && plan->nodes[i].dirty && !plan->nodes[i].waiting)
			ncached[plan->nodes[i].cached]++;
	printf("plan: %zu to run", plan->ndirty);
	if (ncached[1] && ncached[2])
		printf(" (%zu from the cache, %zu from the remote cache)", ncached[1], ncached[2]);
	else if (ncached[1] || ncached[2])
		printf(" (%zu from the %scache)", ncached[1] + ncached[2],
		       ncached[2] ? "remote " : "");
	printf(", %zu up to date", uptodate);
	if (plan->nwaiting)
		printf(", %zu waiting for review", plan->nwaiting);
	if (nrem)
		printf(", %zu to remove", nrem);
	printf(" (current %s)\n", cur);
	size_t w = 0;
	for (size_t i = 0; i < plan->n; i++)
		if (plan->nodes[i].selected && plan->nodes[i].dirty &&
		    strlen(plan->nodes[i].id) > w)
			w = strlen(plan->nodes[i].id);
	/* A run takes a cached instance's output instead of calling its provider. */
	static const char *const verbs[] = { "run", "cached", "cached (remote)" };
	int vw = ncached[2] ? 15 : 6;
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected || !n->dirty)
			continue;
		const char *verb = n->waiting ? "wait" : verbs[n->cached];
		const char *c = color(stdout, n->waiting  ? COLOR_CYAN
					      : n->cached ? COLOR_GREEN
							  : COLOR_YELLOW);
		const char *r = color(stdout, COLOR_RESET);
		if (!explain) {
			printf("  %s%-*s%s  %-*s  %s%s\n", c, vw, verb, r, (int)w, n->id,
			       n->reasons[0], n->nreasons > 1 ? " (+more: --explain)" : "");
			continue;
		}
		printf("  %s%-*s%s  %s\n", c, vw, verb, r, n->id);
		for (size_t k = 0; k < n->nreasons; k++)
			printf("%*s%s\n", vw + 6, "", n->reasons[k]);
	}
	for (size_t i = 0; i < nrem; i++)
		printf("  %sremove%s  %s\n", color(stdout, COLOR_RED), color(stdout, COLOR_RESET),
		       plan->removed[i]);
	if (explain)
		print_accepted(plan);
}

void plan_print_estimate(const json_t *est)
{
	if (!json_is_true(json_object_get(est, "priced")))
		return;
	long long t = json_integer_value(json_object_get(est, "total_micro"));
	long long unk = json_integer_value(json_object_get(est, "unknown"));
	printf("cost: estimated %s%lld.%06lld for what would run\n", unk ? "at least " : "",
	       t / 1000000, t % 1000000);
	const char *role;
	json_t *r;
	const json_t *roles = json_object_get(est, "roles");
	size_t w = 0;
	json_object_foreach((json_t *)roles, role, r)
		if (strlen(role) > w)
			w = strlen(role);
	json_object_foreach((json_t *)roles, role, r) {
		long long n = json_integer_value(json_object_get(r, "instances"));
		long long e = json_integer_value(json_object_get(r, "estimate_micro"));
		long long u = json_integer_value(json_object_get(r, "unknown"));
		if (json_is_true(json_object_get(r, "priced")) && u)
			printf("  %-*s  at least %lld.%06lld for %lld (%lld unknown: what they "
			       "read "
			       "is not generated yet)\n",
			       (int)w, role, e / 1000000, e % 1000000, n, u);
		else if (json_is_true(json_object_get(r, "priced")))
			printf("  %-*s  %lld.%06lld for %lld\n", (int)w, role, e / 1000000,
			       e % 1000000, n);
		else
			printf("  %-*s  not priced (no 'price' in quire.yaml) for %lld\n", (int)w,
			       role, n);
	}
	printf("  (an estimate: each prompt counts as the bytes of its template and of the\n"
	       "  outputs it reads / 4 tokens, each answer as the role's\n"
	       "  price.estimate_tokens_out; what answers really use is known only after the\n"
	       "  run, which records it)\n");
}

static int cmd_plan(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "explain", no_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'c' },
		{ "no-remote", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	int explain = 0, json = 0, check = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			explain = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'c':
			check = 1;
			break;
		case 'O':
			setenv("QUIRE_NO_REMOTE", "1", 1);
			break;
		default:
			return bad_option("plan", opts, argv[optind - 1]);
		}
	}
	struct quire_project *p = env->p;
	int rc = 0;
	struct quire_plan *plan = NULL;
	struct quire_out_conflict *conf = NULL;
	size_t nconf = 0;
	int err = plan_readonly(p, argv + optind, (size_t)(argc - optind),
				check ? PLAN_NO_CACHE : PLAN_REMOTE_CACHE, &plan, &conf, &nconf);
	if (err) {
		rc = die_core(err);
		goto out;
	}
	size_t nrem = optind < argc ? 0 : plan->nremoved;
	/* A writer's file in out/ needs attention too: the run would refuse it. */
	int dirty = plan->ndirty > 0 || nrem > 0 || nconf > 0;
	if (json) {
		json_t *j = quire_plan_to_json(plan, explain);
		if (optind < argc)
			json_object_set_new(j, "removed", json_array());
		json_object_set_new(j, "out_conflicts", plan_conflicts_json(conf, nconf));
		json_object_set_new(j, "estimate", quire_run_estimate_json(p, plan));
		if (explain)
			json_object_set_new(j, "accepted", accepted_ids(plan));
		print_json_line(j);
		json_decref(j);
	} else if (!check) {
		if (explain)
			setup_pager();
		plan_print(plan, explain, optind >= argc);
		plan_print_conflicts(conf, nconf);
		json_t *est = quire_run_estimate_json(p, plan);
		plan_print_estimate(est);
		json_decref(est);
	}
	rc = check && dirty ? EXIT_DIRTY : 0;
out:
	quire_out_conflicts_free(conf, nconf);
	quire_plan_free(plan);
	return rc;
}

const struct cmd cmd_plan_desc = {
	.name = "plan",
	.summary = "show what a run would do, and why",
	.usage = usage,
	.flags = CMD_PROJECT,
	.exec = cmd_plan,
	.help = plan_help,
};
