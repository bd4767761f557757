/* Unit tests for the planner (quire/plan.h): instance graph, targets, fingerprints, dirty reasons.
 */
#include "testutil.h"

#include "quire-config.h"
#include "builtin.h"
#include "quire/blob.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "core/json.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/reason.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"

/* Outline outputs: the second differs in chapter 1's title, the third in chapter 0's, the
 * fourth only in how it is written. */
#define FAKE1                                                                                      \
	"{\"chapters\": [{\"title\": \"A\", \"summary\": \"a\"}, {\"title\": \"B\", "              \
	"\"summary\": \"b\"}, {\"title\": \"C\", \"summary\": \"c\"}]}"
#define FAKE1B                                                                                     \
	"{\"chapters\": [{\"title\": \"A\", \"summary\": \"a\"}, {\"title\": \"B2\", "             \
	"\"summary\": \"b\"}, {\"title\": \"C\", \"summary\": \"c\"}]}"
#define FAKE2                                                                                      \
	"{\"chapters\": [{\"title\": \"A2\", \"summary\": \"a\"}, {\"title\": \"B\", "             \
	"\"summary\": \"b\"}, {\"title\": \"C\", \"summary\": \"c\"}]}"
#define FAKE1_REWRITTEN                                                                            \
	"{\"chapters\":[{\"summary\":\"a\",\"title\":\"A\"},{\"summary\":\"b\",\"title\":"         \
	"\"B\"},{\"summary\":\"c\",\"title\":\"C\"}]}\n"

static int setup(void **state)
{
	tu_setup_story(state);
	unsetenv("QUIRE_MOCK_FAIL");
	return 0;
}

static int teardown(void **state)
{
	unsetenv("QUIRE_MOCK_FAIL");
	return tu_teardown_tmpdir(state);
}

static struct quire_project *open_project(const char *dir)
{
	struct quire_project *p = NULL;
	if (quire_project_open(&p, dir))
		fail_msg("open: %s", quire_error_last());
	if (quire_project_hash_files(p, NULL))
		fail_msg("hash: %s", quire_error_last());
	return p;
}

/* Plans the project against an empty manifest. */
static struct quire_plan *plan_empty(struct quire_project *p, const char *const *targets, size_t n)
{
	json_t *m = quire_manifest_empty();
	struct quire_plan *plan = NULL;
	int err = quire_plan_build(&plan, p, m, p->qdir, targets, n);
	json_decref(m);
	if (err)
		fail_msg("plan: %s", quire_error_last());
	return plan;
}

/* Builds the whole project once with the mock provider. */
static void build(const char *dir, size_t want_produced)
{
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	struct quire_run_opts o = { .jobs = 4 };
	struct quire_run_result res;
	if (quire_run(p, &o, &res))
		fail_msg("run: %s", quire_error_last());
	assert_int_equal(res.produced, want_produced);
	quire_project_free(p);
}

static const char *reasons_text(const struct quire_node *n);

/* Re-opens the project and plans it against its current manifest. */
static struct quire_plan *replan(const char *dir, struct quire_project **pp)
{
	struct quire_project *p = open_project(dir);
	char *cur = NULL;
	assert_int_equal(quire_manifest_current(p->qdir, &cur), 0);
	assert_non_null(cur);
	json_t *m = NULL;
	assert_int_equal(quire_manifest_load(p->qdir, cur, &m), 0);
	free(cur);
	struct quire_plan *plan = NULL;
	int err = quire_plan_build(&plan, p, m, p->qdir, NULL, 0);
	json_decref(m);
	if (err)
		fail_msg("plan: %s", quire_error_last());
	/* Planned from the revision's index too (rows, entries parsed from the manifest's text
	 * with large dependency records kept as text): the same plan, reason for reason. */
	json_t *slim = NULL;
	struct quire_mbase *base = NULL;
	quire_manifest_load_index(p->qdir,
				  json_string_value(json_object_get(plan->manifest, "revision")),
				  &slim, &base);
	assert_non_null(slim);
	struct quire_plan *fast = NULL;
	if (quire_plan_build_ex(&fast, p, slim, base, p->qdir, NULL, 0, NULL, 0))
		fail_msg("plan from the index: %s", quire_error_last());
	assert_int_equal(fast->n, plan->n);
	assert_int_equal(fast->ndirty, plan->ndirty);
	assert_int_equal(fast->nremoved, plan->nremoved);
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *a = &plan->nodes[i], *b = &fast->nodes[i];
		assert_string_equal(a->id, b->id);
		assert_int_equal(a->dirty, b->dirty);
		char want[4096];
		snprintf(want, sizeof(want), "%s",
			 reasons_text(a)); /* reasons_text reuses one buffer */
		if (strcmp(want, reasons_text(b)))
			fail_msg("%s: reasons [%s] from the manifest, [%s] from the index", a->id,
				 want, reasons_text(b));
	}
	quire_plan_free(fast);
	quire_mbase_free(base);
	json_decref(slim);
	*pp = p;
	return plan;
}

static const struct quire_node *node(const struct quire_plan *plan, const char *id)
{
	long i = quire_plan_find(plan, id);
	if (i < 0)
		fail_msg("no node '%s'", id);
	return &plan->nodes[i];
}

/* All of a node's reasons, for failure messages. */
static const char *reasons_text(const struct quire_node *n)
{
	static char buf[4096];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < n->nreasons && len < sizeof(buf); k++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s'%s'", k ? ", " : "",
					n->reasons[k]);
	return buf;
}

/* Asserts that id has exactly these reasons, in order (NULL-terminated). */
static void expect_reasons(const struct quire_plan *plan, const char *id, ...)
{
	const struct quire_node *n = node(plan, id);
	va_list ap;
	va_start(ap, id);
	size_t k = 0;
	for (const char *r; (r = va_arg(ap, const char *)); k++)
		if (k >= n->nreasons || strcmp(n->reasons[k], r))
			fail_msg("%s: expected reason %zu '%s'; has [%s]", id, k, r,
				 reasons_text(n));
	va_end(ap);
	if (k != n->nreasons)
		fail_msg("%s: expected %zu reasons; has [%s]", id, k, reasons_text(n));
	if (k)
		assert_int_equal(n->dirty, 1);
	else
		assert_int_equal(n->dirty, 0);
}

static void expect_clean(const struct quire_plan *plan, const char *id)
{
	expect_reasons(plan, id, NULL);
	const struct quire_node *n = node(plan, id);
	assert_true(n->have_fp);
	assert_true(quire_digest_valid(n->digest));
}

static void test_empty_manifest_all_new(void **state)
{
	struct quire_project *p = open_project(*state);
	struct quire_plan *plan = plan_empty(p, NULL, 0);
	assert_int_equal(plan->n, 11);
	assert_int_equal(plan->nselected, 11);
	assert_int_equal(plan->ndirty, 11);
	assert_int_equal(plan->nremoved, 0);
	static const char *const ids[] = {
		"Outline",     "Chapter[0]",  "Chapter[1]",  "Chapter[2]",
		"Scene[0][0]", "Scene[0][1]", "Scene[1][0]", "Scene[1][1]",
		"Scene[2][0]", "Scene[2][1]", "Book",
	};
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		assert_string_equal(n->id, ids[i]);
		assert_int_equal(quire_plan_find(plan, ids[i]), (long)i);
		assert_true(n->selected);
		expect_reasons(plan, n->id, "new", NULL);
		for (size_t k = 0; k < n->ndeps; k++)
			assert_true(n->deps[k] < i);
		for (size_t k = 0; k < n->nrdeps; k++)
			assert_true(n->rdeps[k] > i);
	}
	assert_int_equal(quire_plan_find(plan, "Scene[3][0]"), -1);
	assert_int_equal(quire_plan_find(plan, "Nope"), -1);

	/* Edges follow each producer's uses, in order. */
	const struct quire_node *s = node(plan, "Scene[1][0]");
	assert_int_equal(s->ndeps, 2);
	assert_string_equal(plan->nodes[s->deps[0]].id, "Chapter[1]");
	assert_string_equal(plan->nodes[s->deps[1]].id, "Outline");
	const struct quire_node *b = node(plan, "Book");
	assert_int_equal(b->ndeps, 6);
	assert_string_equal(plan->nodes[b->deps[0]].id, "Scene[0][0]");
	assert_string_equal(plan->nodes[b->deps[5]].id, "Scene[2][1]");
	assert_int_equal(node(plan, "Outline")->nrdeps, 3 + 6);
	assert_int_equal(node(plan, "Chapter[2]")->nrdeps, 2);

	/* Nothing upstream of Outline: its fingerprint is known; the others wait on outputs. */
	assert_true(node(plan, "Outline")->have_fp);
	assert_false(node(plan, "Chapter[0]")->have_fp);

	json_t *j = quire_plan_to_json(plan, 0);
	assert_true(json_is_null(json_object_get(j, "current")));
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 11);
	assert_int_equal(json_integer_value(json_object_get(j, "dirty")), 11);
	assert_int_equal(json_array_size(json_object_get(j, "instances")), 11);
	json_decref(j);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_plan_follows_fanout_inputs(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", "Premise: p\nChapters: 4\nScenes: 3\n");
	struct quire_project *p = open_project(dir);
	struct quire_plan *plan = plan_empty(p, NULL, 0);
	assert_int_equal(plan->n, 1 + 4 + 12 + 1);
	assert_int_equal(node(plan, "Book")->ndeps, 12);
	assert_true(quire_plan_find(plan, "Scene[3][2]") >= 0);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_targets_select_dependencies(void **state)
{
	struct quire_project *p = open_project(*state);
	const char *t1[] = { "Chapter[1]" };
	struct quire_plan *plan = plan_empty(p, t1, 1);
	assert_int_equal(plan->n, 11);
	assert_int_equal(plan->nselected, 2);
	assert_int_equal(plan->ndirty, 2);
	for (size_t i = 0; i < plan->n; i++) {
		int want = !strcmp(plan->nodes[i].id, "Outline") ||
			   !strcmp(plan->nodes[i].id, "Chapter[1]");
		if (plan->nodes[i].selected != want)
			fail_msg("%s selected=%d", plan->nodes[i].id, plan->nodes[i].selected);
	}
	json_t *j = quire_plan_to_json(plan, 1);
	assert_int_equal(json_array_size(json_object_get(j, "instances")), 2);
	json_decref(j);
	quire_plan_free(plan);

	/* A glob: Scene[1] means every scene of chapter 1, plus what they need. */
	const char *t2[] = { "Scene[1]" };
	plan = plan_empty(p, t2, 1);
	assert_int_equal(plan->nselected, 4);
	assert_true(node(plan, "Scene[1][0]")->selected);
	assert_true(node(plan, "Scene[1][1]")->selected);
	assert_true(node(plan, "Chapter[1]")->selected);
	assert_true(node(plan, "Outline")->selected);
	assert_false(node(plan, "Chapter[0]")->selected);
	assert_false(node(plan, "Book")->selected);
	quire_plan_free(plan);

	/* Several targets union; the collector pulls in everything. */
	const char *t3[] = { "Chapter[0]", "Book" };
	plan = plan_empty(p, t3, 2);
	assert_int_equal(plan->nselected, 11);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_target_matching_nothing(void **state)
{
	struct quire_project *p = open_project(*state);
	json_t *m = quire_manifest_empty();
	struct quire_plan *plan = (struct quire_plan *)1;
	const char *t1[] = { "Chaptr[1]" };
	assert_int_equal(quire_plan_build(&plan, p, m, p->qdir, t1, 1), QUIRE_EINVALID);
	assert_null(plan);
	assert_non_null(strstr(quire_error_last(), "'Chaptr[1]'"));
	assert_non_null(strstr(quire_error_last(), "did you mean 'Chapter'"));

	const char *t2[] = { "Chapter[7]" };
	assert_int_equal(quire_plan_build(&plan, p, m, p->qdir, t2, 1), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "'Chapter[7]'"));

	/* One bad target spoils the set. */
	const char *t3[] = { "Outline", "Sceen" };
	assert_int_equal(quire_plan_build(&plan, p, m, p->qdir, t3, 2), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "did you mean 'Scene'"));

	const char *t4[] = { "Chapter[" };
	assert_int_equal(quire_plan_build(&plan, p, m, p->qdir, t4, 1), QUIRE_EINVALID);
	assert_null(plan);
	json_decref(m);
	quire_project_free(p);
}

/* Fingerprint of id with Outline's output pretended to be `outline` (put in the store: a
 * chapter's record names the fields it reads from it). */
static void fingerprint_of(const char *dir, const char *id, const char *outline,
			   struct quire_digest *fp)
{
	struct quire_project *p = open_project(dir);
	struct quire_plan *plan = plan_empty(p, NULL, 0);
	long o = quire_plan_find(plan, "Outline");
	struct quire_digest od;
	assert_int_equal(quire_blob_put(p->qdir, outline, strlen(outline), &od), 0);
	snprintf(plan->nodes[o].digest, sizeof(plan->nodes[o].digest), "%s", od.s);
	long i = quire_plan_find(plan, id);
	assert_true(i >= 0);
	char *deps = NULL;
	assert_int_equal(quire_plan_fingerprint(plan, p, (size_t)i, fp, &deps), 0);
	assert_true(quire_digest_valid(fp->s));
	assert_non_null(deps);
	if (!strcmp(id, "Outline"))
		assert_true(plan->nodes[i].have_fp); /* the planner had it too */
	/* The record is canonical JSON (stored as it is, never re-written), and the fingerprint
	 * is the hash of {"deps": record, "v": 1}, or "v": 2 when it names the fields it reads
	 * from an upstream (and not that upstream whole). */
	json_t *dj = json_loads(deps, 0, NULL);
	assert_true(json_is_object(dj));
	char *again = quire_json_canonical(dj);
	assert_string_equal(again, deps);
	int v2 = json_object_get(dj, "fields") != NULL;
	json_t *whole = json_pack("{s:O,s:i}", "deps", dj, "v", v2 ? 2 : 1);
	struct quire_digest h;
	assert_int_equal(quire_hash_json(whole, &h), 0);
	assert_string_equal(h.s, fp->s);
	json_decref(whole);
	json_decref(dj);
	free(again);
	free(deps);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_fingerprint_inputs(void **state)
{
	char *dir = *state;
	struct quire_digest o1, o2, c1, c2, c1b;
	fingerprint_of(dir, "Outline", FAKE1, &o1);
	fingerprint_of(dir, "Outline", FAKE1, &o2);
	assert_string_equal(o1.s, o2.s);
	fingerprint_of(dir, "Chapter[0]", FAKE1, &c1);
	fingerprint_of(dir, "Chapter[0]", FAKE1, &c2);
	assert_string_equal(c1.s, c2.s);
	fingerprint_of(dir, "Chapter[1]", FAKE1, &c1b);
	assert_string_not_equal(c1.s, c1b.s); /* the index is part of it */

	/* The fields it reads from the upstream output are part of it, and only they. */
	struct quire_digest c3;
	fingerprint_of(dir, "Chapter[0]", FAKE2, &c3);
	assert_string_not_equal(c1.s, c3.s);
	fingerprint_of(dir, "Chapter[0]", FAKE1B, &c3);
	assert_string_equal(c1.s, c3.s);
	fingerprint_of(dir, "Chapter[0]", FAKE1_REWRITTEN, &c3);
	assert_string_equal(c1.s, c3.s);
	fingerprint_of(dir, "Chapter[1]", FAKE1B, &c3);
	assert_string_not_equal(c1b.s, c3.s);

	/* Scenes is used by neither Outline nor Chapter. */
	tu_edit_inputs(dir, "Scenes: 2", "Scenes: 5");
	struct quire_digest x;
	fingerprint_of(dir, "Outline", FAKE1, &x);
	assert_string_equal(x.s, o1.s);
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_equal(x.s, c1.s);

	/* Title is used by Outline, not by Chapter (which sees it only through Outline's output).
	 */
	tu_edit_inputs(dir, "Title: .*", "Title: Other");
	fingerprint_of(dir, "Outline", FAKE1, &x);
	assert_string_not_equal(x.s, o1.s);
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_equal(x.s, c1.s);

	/* Tone is used by both. */
	tu_edit_inputs(dir, "Tone: warm", "Tone: eerie");
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_not_equal(x.s, c1.s);
}

static void test_fingerprint_prompt_and_binding(void **state)
{
	char *dir = *state;
	struct quire_digest c1, x;
	fingerprint_of(dir, "Chapter[0]", FAKE1, &c1);
	tu_write(dir, "prompts/outline.md", "A different outline prompt {{Title}} {{Chapters}}\n");
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_equal(x.s, c1.s); /* another producer's prompt */
	tu_write(dir, "prompts/chapter.md", "Write chapter {{i+1}}.\n");
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_not_equal(x.s, c1.s);
	struct quire_digest c2;
	fingerprint_of(dir, "Chapter[0]", FAKE1, &c2);
	assert_int_equal(system("sed -i 's/model: mock-writer/model: mock-writer-2/' quire.yaml"),
			 0);
	fingerprint_of(dir, "Chapter[0]", FAKE1, &x);
	assert_string_not_equal(x.s, c2.s);
}

static void test_clean_after_run(void **state)
{
	char *dir = *state;
	build(dir, 11);
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 0);
	assert_int_equal(plan->nselected, 11);
	for (size_t i = 0; i < plan->n; i++) {
		expect_clean(plan, plan->nodes[i].id);
		assert_true(plan->nodes[i].have_fp);
		struct quire_digest fp;
		assert_int_equal(quire_plan_fingerprint(plan, p, i, &fp, NULL), 0);
		assert_string_equal(fp.s, plan->nodes[i].entry->fingerprint);
	}
	json_t *j = quire_plan_to_json(plan, 0);
	assert_string_equal(json_string_value(json_object_get(j, "current")), tu_rev(dir, 1));
	assert_int_equal(json_integer_value(json_object_get(j, "dirty")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "instances")), 0);
	json_decref(j);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_input_changed_reasons(void **state)
{
	char *dir = *state;
	build(dir, 11);
	tu_edit_inputs(dir, "Tone: warm", "Tone: wry");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 11);
	expect_reasons(plan, "Outline", "input changed: Tone", NULL);
	expect_reasons(plan, "Chapter[2]", "input changed: Tone", "upstream changed: Outline",
		       NULL);
	expect_reasons(plan, "Scene[1][1]", "input changed: Tone", "upstream changed: Chapter[1]",
		       "upstream changed: Outline", NULL);
	expect_reasons(plan, "Book", "upstream changed: Scene[0][0]",
		       "upstream changed: Scene[0][1]", "upstream changed: Scene[1][0]",
		       "and 3 more upstream changes", NULL);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_title_changed_reasons(void **state)
{
	char *dir = *state;
	build(dir, 11);
	tu_edit_inputs(dir, "Title: .*", "Title: \"Letters to the Light\"");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	expect_reasons(plan, "Outline", "input changed: Title", NULL);
	expect_reasons(plan, "Chapter[0]", "upstream changed: Outline", NULL);
	expect_reasons(plan, "Scene[0][0]", "upstream changed: Chapter[0]",
		       "upstream changed: Outline", NULL);
	const struct quire_node *b = node(plan, "Book");
	assert_true(b->nreasons >= 1);
	assert_string_equal(b->reasons[0], "input changed: Title");
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_scene_prompt_changed(void **state)
{
	char *dir = *state;
	build(dir, 11);
	tu_write(dir, "prompts/scene.md", "Rewrite scene {{j+1}} of:\n\n{{Chapter[i]}}\n");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 7);
	expect_clean(plan, "Outline");
	expect_clean(plan, "Chapter[0]");
	expect_clean(plan, "Chapter[1]");
	expect_clean(plan, "Chapter[2]");
	for (size_t i = 0; i < plan->n; i++)
		if (!strncmp(plan->nodes[i].id, "Scene[", 6)) {
			expect_reasons(plan, plan->nodes[i].id, "prompt changed", NULL);
			/* Its upstreams are clean, so its new fingerprint is known at plan time. */
			assert_true(plan->nodes[i].have_fp);
		}
	expect_reasons(plan, "Book", "upstream changed: Scene[0][0]",
		       "upstream changed: Scene[0][1]", "upstream changed: Scene[1][0]",
		       "and 3 more upstream changes", NULL);
	assert_false(node(plan, "Book")->have_fp);

	json_t *j = quire_plan_to_json(plan, 0);
	assert_string_equal(json_string_value(json_object_get(j, "current")), tu_rev(dir, 1));
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 11);
	assert_int_equal(json_integer_value(json_object_get(j, "dirty")), 7);
	assert_int_equal(json_array_size(json_object_get(j, "instances")), 7);
	json_decref(j);
	j = quire_plan_to_json(plan, 1);
	assert_int_equal(json_array_size(json_object_get(j, "instances")), 11);
	json_decref(j);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_chapter_prompt_and_binding_changed(void **state)
{
	char *dir = *state;
	build(dir, 11);
	tu_write(dir, "prompts/chapter.md",
		 "Write chapter {{i+1}}: {{Outline.chapters[i].title}}\n");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 10);
	expect_clean(plan, "Outline");
	expect_reasons(plan, "Chapter[1]", "prompt changed", NULL);
	expect_reasons(plan, "Scene[1][0]", "upstream changed: Chapter[1]", NULL);
	quire_plan_free(plan);
	quire_project_free(p);

	/* Rebinding the assemble role touches only the producer with that role. */
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "cp '%s/story-flat/prompts/chapter.md' prompts/chapter.md && "
		 "sed -i 's/params: { mode: echo }/params: { mode: echo, latency_ms: 0 }/' "
		 "quire.yaml",
		 QUIRE_SOURCE_FIXTURES);
	assert_int_equal(system(cmd), 0);
	plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 1);
	expect_reasons(plan, "Book", "binding changed: assemble", NULL);
	expect_clean(plan, "Chapter[1]");
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_output_missing(void **state)
{
	char *dir = *state;
	build(dir, 11);
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	const char *digest = node(plan, "Chapter[1]")->entry->digest;
	char *qdir = strdup(p->qdir), *gone = strdup(digest);
	quire_plan_free(plan);
	quire_project_free(p);
	assert_int_equal(quire_blob_exists(qdir, gone), 1);
	assert_int_equal(quire_blob_remove(qdir, gone), 0);
	free(qdir);
	free(gone);

	plan = replan(dir, &p);
	expect_reasons(plan, "Chapter[1]", "output missing", NULL);
	expect_reasons(plan, "Scene[1][0]", "upstream changed: Chapter[1]", NULL);
	expect_reasons(plan, "Scene[1][1]", "upstream changed: Chapter[1]", NULL);
	expect_clean(plan, "Chapter[0]");
	expect_clean(plan, "Scene[0][0]");
	assert_int_equal(plan->ndirty, 4);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_previously_failed(void **state)
{
	char *dir = *state;
	setenv("QUIRE_MOCK_FAIL", "Chapter[1]", 1);
	build(dir, 7);
	unsetenv("QUIRE_MOCK_FAIL");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->ndirty, 4);
	expect_clean(plan, "Outline");
	expect_clean(plan, "Chapter[0]");
	expect_clean(plan, "Scene[0][1]");
	expect_clean(plan, "Scene[2][0]");
	const struct quire_node *c = node(plan, "Chapter[1]");
	assert_true(c->dirty && c->nreasons >= 1);
	assert_string_equal(c->reasons[0], "previously failed");
	const struct quire_node *s = node(plan, "Scene[1][0]");
	assert_true(s->dirty && s->nreasons >= 1);
	assert_string_equal(s->reasons[0], "previously blocked by a failed upstream");
	const struct quire_node *b = node(plan, "Book");
	assert_true(b->dirty && b->nreasons >= 1);
	assert_string_equal(b->reasons[0], "previously blocked by a failed upstream");
	quire_plan_free(plan);
	quire_project_free(p);
}

/* Nothing changed since the failure: the failure is the whole explanation. */
static void test_previously_failed_reasons_exact(void **state)
{
	char *dir = *state;
	setenv("QUIRE_MOCK_FAIL", "Chapter[1]", 1);
	build(dir, 7);
	unsetenv("QUIRE_MOCK_FAIL");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	expect_reasons(plan, "Chapter[1]", "previously failed", NULL);
	/* Blocked ones may also name their dirty upstream, but nothing of theirs changed. */
	static const char *const wrong[] = { "definition changed", "binding changed",
					     "prompt changed", "input changed", "upstream added" };
	const char *ids[] = { "Scene[1][0]", "Book" };
	for (size_t i = 0; i < 2; i++) {
		const struct quire_node *n = node(plan, ids[i]);
		for (size_t k = 0; k < n->nreasons; k++)
			for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++)
				if (!strncmp(n->reasons[k], wrong[w], strlen(wrong[w])))
					fail_msg("%s: [%s]", ids[i], reasons_text(n));
	}
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_fanout_shrinks_and_grows(void **state)
{
	char *dir = *state;
	build(dir, 11);
	tu_edit_inputs(dir, "Scenes: 2", "Scenes: 1");
	struct quire_project *p = NULL;
	struct quire_plan *plan = replan(dir, &p);
	assert_int_equal(plan->n, 1 + 3 + 3 + 1);
	assert_int_equal(plan->ndirty, 1);
	assert_int_equal(plan->nremoved, 3);
	int seen = 0;
	for (size_t i = 0; i < plan->nremoved; i++)
		seen |= !strcmp(plan->removed[i], "Scene[0][1]") << 0 |
			!strcmp(plan->removed[i], "Scene[1][1]") << 1 |
			!strcmp(plan->removed[i], "Scene[2][1]") << 2;
	assert_int_equal(seen, 7);
	const struct quire_node *b = node(plan, "Book");
	assert_int_equal(b->nreasons, 3);
	for (size_t k = 0; k < 3; k++)
		assert_true(!strncmp(b->reasons[k], "upstream removed: Scene[", 24));
	quire_plan_free(plan);
	quire_project_free(p);

	tu_edit_inputs(dir, "Scenes: 1", "Scenes: 3");
	plan = replan(dir, &p);
	assert_int_equal(plan->n, 1 + 3 + 9 + 1);
	assert_int_equal(plan->nremoved, 0);
	expect_reasons(plan, "Scene[2][2]", "new", NULL);
	expect_clean(plan, "Scene[2][1]");
	expect_reasons(plan, "Book", "upstream added: Scene[0][2]", "upstream added: Scene[1][2]",
		       "upstream added: Scene[2][2]", NULL);
	assert_int_equal(plan->ndirty, 4);
	quire_plan_free(plan);
	quire_project_free(p);
}

/* A hand edit changes an upstream's digest without making it dirty: what uses it names it
 * (from the index, by comparing the recorded upstream list in order). */
static void upstream_edited(const char *dir)
{
	build(dir, 11);
	struct quire_project *p = open_project(dir);
	struct quire_digest d;
	const char *text = "A scene written by hand.\n";
	assert_int_equal(quire_blob_put(p->qdir, text, strlen(text), &d), 0);
	json_t *events = json_pack("[[s,s,{s:s,s:I,s:s,s:s,s:s}]]", "artefact.edited",
				   "Scene[1][0]", "digest", d.s, "size", (json_int_t)strlen(text),
				   "producer", "Scene", "type", "text", "ext", "md");
	char rev[32];
	if (quire_edit_commit(p, "test edit", events, rev, sizeof(rev)))
		fail_msg("edit: %s", quire_error_last());
	json_decref(events);
	quire_project_free(p);
	struct quire_plan *plan = replan(dir, &p);
	assert_false(node(plan, "Scene[1][0]")->dirty);
	assert_true(node(plan, "Scene[1][0]")->pinned);
	expect_reasons(plan, "Book", "upstream changed: Scene[1][0]", NULL);
	assert_int_equal(plan->ndirty, 1);
	quire_plan_free(plan);
	quire_project_free(p);
}

static void test_upstream_edited(void **state)
{
	upstream_edited(*state);
}

/* An upstream a collector names twice (through two of its uses) is named once in its
 * reasons, from the manifest and from the index alike. */
static void test_upstream_named_twice(void **state)
{
	char *dir = *state;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "sed -i 's/^      - Scene\\[\\*\\]\\[\\*\\].*/&\\n      - Scene[1][0]/' "
		 "'%s/blueprint.yaml' && grep -q '^      - Scene.1..0.$' '%s/blueprint.yaml'",
		 dir, dir);
	assert_int_equal(system(cmd), 0);
	upstream_edited(dir);
}

/* A fan-out too large to plan is refused with a message naming the producer, before any
 * memory is sized from it (the product of two counts could wrap around). */
static void test_fanout_too_large(void **state)
{
	char *dir = *state;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "sed -i 's/, max: 500//' '%s/blueprint.yaml'", dir);
	assert_int_equal(system(cmd), 0);
	tu_edit_inputs(dir, "Chapters: 3", "Chapters: 100000");
	tu_edit_inputs(dir, "Scenes: 2", "Scenes: 4294967296");
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	json_t *m = quire_manifest_empty();
	struct quire_plan *plan = NULL;
	assert_int_equal(quire_plan_build(&plan, p, m, p->qdir, NULL, 0), QUIRE_EINVALID);
	assert_null(plan);
	if (!strstr(quire_error_last(), "producer 'Scene' would have more than 50000000 "
					"instances with these inputs (Scenes is 4294967296)"))
		fail_msg("message: %s", quire_error_last());
	quire_error_clear();
	json_decref(m);
	quire_project_free(p);
}

/* Every reason kind has a name and a meaning, and its text starts with its name. */
static void test_reason_table_complete(void **state)
{
	(void)state;
	for (int k = 0; k < QUIRE_REASON_COUNT; k++) {
		const struct quire_reason_name *r = &quire_reasons[k];
		assert_non_null(r->name);
		assert_non_null(r->meaning);
		char *t = quire_reason_text(k, "X");
		if (k == QUIRE_REASON_UPSTREAM_MORE)
			assert_string_equal(t, "and X more upstream changes");
		else if (r->subject)
			assert_true(!strncmp(t, r->name, strlen(r->name)) &&
				    !strcmp(t + strlen(r->name), ": X"));
		else
			assert_string_equal(t, r->name);
		free(t);
	}
}

int main(void)
{
	assert_int_equal(quire_provider_register(&quire_provider_mock), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_table_complete),
		cmocka_unit_test_setup_teardown(test_empty_manifest_all_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_follows_fanout_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_select_dependencies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_matching_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fingerprint_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fingerprint_prompt_and_binding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clean_after_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_changed_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_title_changed_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scene_prompt_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chapter_prompt_and_binding_changed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_output_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_previously_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_shrinks_and_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_edited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_named_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_previously_failed_reasons_exact, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
