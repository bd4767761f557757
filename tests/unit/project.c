/* Unit tests for project loading (quire/project.h): quire.yaml, inputs, bindings, file digests. */
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <time.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "core/json.h"
#include "quire/project.h"
#include "quire/store.h"

#define STORY_INPUTS "Premise: A keeper answers letters.\n"

/* Opens the project in dir expecting failure `code`; returns the message (borrowed). */
static const char *open_fails(const char *dir, int code)
{
	struct quire_project *p = (struct quire_project *)1;
	assert_int_equal(quire_project_open(&p, dir), code);
	assert_null(p);
	return quire_error_last();
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s, part);
}

static void test_open_story(void **state)
{
	char *dir = *state;
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_non_null(p);
	assert_string_equal(p->root, dir);
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	assert_string_equal(p->qdir, qdir);
	assert_string_equal(p->blueprint_file, "blueprint.yaml");
	assert_string_equal(p->inputs_file, "inputs.yaml");
	assert_string_equal(p->out_dir, "out");
	assert_int_equal(p->jobs, 4);
	assert_int_equal(p->bp->nproducers, 4);

	assert_string_equal(json_string_value(json_object_get(p->inputs, "Title")),
			    "The Lighthouse Keeper's Letters");
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Tone")), "warm");
	assert_int_equal(json_integer_value(json_object_get(p->inputs, "Chapters")), 3);
	assert_true(json_is_integer(json_object_get(p->inputs, "Scenes")));

	const struct quire_binding *w = quire_project_binding(p, "writer");
	assert_non_null(w);
	assert_string_equal(w->provider, "mock");
	assert_string_equal(w->model, "mock-writer");
	const struct quire_binding *a = quire_project_binding(p, "assemble");
	assert_non_null(a);
	assert_string_equal(a->provider, "mock");
	assert_null(a->model);
	assert_string_equal(json_string_value(json_object_get(a->params, "mode")), "echo");
	assert_true(quire_digest_valid(w->digest.s));
	assert_string_not_equal(w->digest.s, a->digest.s);
	assert_null(quire_project_binding(p, "painter"));
	quire_project_free(p);
	quire_project_free(NULL);
}

static void test_defaults_applied(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Tone:\n");
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Premise")),
			    "A keeper answers letters.");
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Title")), "Untitled");
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Tone")), "warm");
	assert_int_equal(json_integer_value(json_object_get(p->inputs, "Chapters")), 3);
	assert_int_equal(json_integer_value(json_object_get(p->inputs, "Scenes")), 2);
	assert_int_equal(json_object_size(p->inputs), 5);
	quire_project_free(p);
}

static void test_required_input_missing(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", "Title: Letters\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_contains(msg, "inputs.yaml");
	assert_contains(msg, "'Premise'");
}

/* An inputs.yaml holding only comments (or nothing) sets no values: defaults apply. */
static void test_comment_only_inputs_file(void **state)
{
	char *dir = *state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "sed -i 's/Premise:  { type: text, required: true }/Premise: { type: text, "
		 "default: x }/' "
		 "'%s/blueprint.yaml'",
		 dir);
	assert_int_equal(system(cmd), 0);
	tu_write(dir, "inputs.yaml", "# Set input values here.\n");
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Premise")), "x");
	assert_int_equal(json_integer_value(json_object_get(p->inputs, "Chapters")), 3);
	quire_project_free(p);
	tu_write(dir, "inputs.yaml", "");
	assert_int_equal(quire_project_open(&p, dir), 0);
	quire_project_free(p);
}

static void test_wrong_type_positioned(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Chapters: many\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "inputs.yaml:2:11: ");
	assert_contains(msg, "'Chapters'");
	assert_contains(msg, "integer");

	tu_write(dir, "inputs.yaml", STORY_INPUTS "Tone: grim\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "inputs.yaml:2:7: ");
	assert_contains(msg, "'Tone'");
	assert_contains(msg, "warm");
}

static void test_unknown_input_did_you_mean(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Chaptrs: 4\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "inputs.yaml:2:1: ");
	assert_contains(msg, "'Chaptrs'");
	assert_contains(msg, "did you mean 'Chapters'");

	/* Nothing close: no suggestion. */
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Soundtrack: jazz\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_contains(msg, "'Soundtrack'");
	assert_null(strstr(msg, "did you mean"));
}

static void test_value_out_of_range(void **state)
{
	char *dir = *state;
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Chapters: 0\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "inputs.yaml:2:11: ");
	assert_contains(msg, "'Chapters'");
	assert_contains(msg, "minimum 1");

	tu_write(dir, "inputs.yaml", STORY_INPUTS "Scenes: 501\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "inputs.yaml:2:9: ");
	assert_contains(msg, "maximum 500");
}

static void test_unbound_role(void **state)
{
	char *dir = *state;
	tu_write(dir, "quire.yaml", "quire: 1\nroles:\n  writer: { provider: mock }\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	/* Points at the producer in the blueprint that needs the role. */
	assert_prefix(msg, "blueprint.yaml:38:3: ");
	assert_contains(msg, "'Book'");
	assert_contains(msg, "'assemble'");
	assert_contains(msg, "quire.yaml");
}

static void test_quire_yaml_errors(void **state)
{
	char *dir = *state;
	tu_write(dir, "quire.yaml",
		 "quire: 1\njbos: 4\nroles:\n  writer: { provider: mock }\n"
		 "  assemble: { provider: mock }\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:2:1: ");
	assert_contains(msg, "'jbos'");

	tu_write(dir, "quire.yaml",
		 "quire: 1\nroles:\n  writer: { provider: mock, modle: x }\n"
		 "  assemble: { provider: mock }\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:3:");
	assert_contains(msg, "'modle'");
	assert_contains(msg, "'writer'");

	tu_write(dir, "quire.yaml",
		 "quire: 1\nout: ../elsewhere\nroles:\n  writer: { provider: mock }\n"
		 "  assemble: { provider: mock }\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:2:6: ");

	tu_write(dir, "quire.yaml",
		 "quire: 1\nout: .quire/out\nroles:\n  writer: { provider: mock }\n"
		 "  assemble: { provider: mock }\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:2:6: ");

	tu_write(
		dir, "quire.yaml",
		"quire: 2\nroles:\n  writer: { provider: mock }\n  assemble: { provider: mock }\n");
	msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:1:8: ");

	/* A minimal file gets the documented defaults. */
	tu_write(dir, "quire.yaml",
		 "roles:\n  writer: { provider: mock }\n  assemble: { provider: mock }\n");
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_string_equal(p->out_dir, "out");
	assert_string_equal(p->inputs_file, "inputs.yaml");
	assert_int_equal(p->jobs, 4);
	quire_project_free(p);
}

/* Prices are micro-units in a long long: the largest one that fits is read, one digit more
 * is refused where it is written (it used to overflow). */
static void test_price_bounds(void **state)
{
	char *dir = *state;
	tu_write(dir, "quire.yaml",
		 "roles:\n  writer: { provider: mock, price: { per_call: 1000000000000.999999,\n"
		 "    input_per_mtok: 0.15 } }\n  assemble: { provider: mock }\n");
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	const struct quire_binding *w = quire_project_binding(p, "writer");
	assert_true(w->per_call_micro == 1000000000000999999LL);
	assert_true(w->in_per_mtok_micro == 150000);
	quire_project_free(p);

	tu_write(dir, "quire.yaml",
		 "roles:\n  writer: { provider: mock, price: { per_call: 9999999999999 } }\n"
		 "  assemble: { provider: mock }\n");
	const char *msg = open_fails(dir, QUIRE_EINVALID);
	assert_prefix(msg, "quire.yaml:2:48: per_call must be a non-negative number");
}

/* A generation's cost is exact where it fits and QUIRE_COST_MAX beyond, whatever the token
 * counts a provider reports (their product with a price used to overflow). */
static void test_cost_bounded(void **state)
{
	(void)state;
	struct quire_binding b = { .priced = 1,
				   .per_call_micro = 2000,
				   .in_per_mtok_micro = 150000,
				   .out_per_mtok_micro = 600000 };
	assert_true(quire_binding_cost(&b, 1000, 500) == 2000 + 150 + 300);
	assert_true(quire_binding_cost(&b, 0, 0) == 2000);
	b.in_per_mtok_micro = 1000000000000999999LL; /* the largest price there is */
	assert_true(quire_binding_cost(&b, 3, 0) == 2000 + 3000000000002LL);
	assert_true(quire_binding_cost(&b, 1000000, 0) == QUIRE_COST_MAX);
	b.in_per_mtok_micro = 150000;
	assert_true(quire_binding_cost(&b, LLONG_MAX, LLONG_MAX) == QUIRE_COST_MAX);
	assert_true(quire_binding_cost(&b, 0, LLONG_MAX / 2) == QUIRE_COST_MAX);
	b.priced = 0;
	assert_true(quire_binding_cost(&b, LLONG_MAX, LLONG_MAX) == 0);
}

static void test_find_walks_up(void **state)
{
	char *dir = *state;
	char real[PATH_MAX];
	assert_non_null(realpath(dir, real));
	assert_int_equal(mkdir("prompts/deeper", 0755), 0);
	assert_int_equal(chdir("prompts/deeper"), 0);
	char *root = NULL;
	assert_int_equal(quire_project_find(&root, NULL), 0);
	assert_non_null(root);
	assert_string_equal(root, real);
	free(root);

	/* An explicit directory is taken as the root, never searched upward from. */
	assert_int_equal(quire_project_find(&root, dir), 0);
	assert_string_equal(root, real);
	free(root);
	root = (char *)1;
	assert_int_equal(quire_project_find(&root, "."), QUIRE_ENOTFOUND);
	assert_null(root);
	assert_int_equal(quire_project_find(&root, "no/such/dir"), QUIRE_ENOTFOUND);
	assert_null(root);

	/* Outside any project. */
	char *elsewhere = tu_tempdir();
	assert_int_equal(chdir(elsewhere), 0);
	assert_int_equal(quire_project_find(&root, NULL), QUIRE_ENOTFOUND);
	assert_null(root);
	assert_contains(quire_error_last(), "quire init");
	tu_rmrf(elsewhere);
	free(elsewhere);
}

static void test_hash_files(void **state)
{
	char *dir = *state;
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_int_equal(quire_project_hash_files(p, NULL), 0);
	static const char *const want[] = {
		"quire.yaml",	      "blueprint.yaml",	      "inputs.yaml",
		"prompts/outline.md", "schemas/outline.json", "prompts/chapter.md",
		"prompts/scene.md",   "prompts/book.md",
	};
	assert_int_equal(p->nfiles, 8);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(p->files[i].rel, want[i]); /* in the order named */
		const char *got = quire_project_file_digest(p, want[i]);
		if (!got)
			fail_msg("files has no '%s'", want[i]);
		struct quire_digest d;
		assert_int_equal(quire_hash_file(want[i], &d, NULL), 0);
		assert_string_equal(got, d.s);
	}
	/* Hashing again reflects an edit. */
	assert_null(quire_project_file_digest(p, "prompts/nothing.md"));
	const json_t *fj = quire_project_files_json(p);
	assert_int_equal(json_object_size(fj), 8);
	assert_string_equal(json_string_value(json_object_get(fj, "prompts/book.md")),
			    quire_project_file_digest(p, "prompts/book.md"));
	/* The same as canonical text, made without the object (the run's start event). */
	struct quire_buf ft = QUIRE_BUF_INIT;
	quire_project_files_text(p, &ft);
	char *canonical = quire_json_canonical(fj);
	assert_string_equal(ft.ptr, canonical);
	free(canonical);
	quire_buf_release(&ft);
	const char *before = quire_project_file_digest(p, "prompts/scene.md");
	char *old = strdup(before);
	tu_write(dir, "prompts/scene.md", "Write scene {{j+1}}.\n");
	assert_int_equal(quire_project_hash_files(p, NULL), 0);
	assert_string_not_equal(quire_project_file_digest(p, "prompts/scene.md"), old);
	free(old);
	quire_project_free(p);
}

/* Per-instance prompts are found by their instance's index, without formatting their paths:
 * also after the inputs change (a grown fan-out finds the instances hashed, in their places,
 * and nothing for the new ones until the files are hashed again). */
static void test_prompt_digest_by_instance(void **state)
{
	char *dir = *state;
	char *bp = tu_slurp("blueprint.yaml");
	char *at = strstr(bp, "prompt: prompts/scene.md");
	assert_non_null(at);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_add(&b, bp, (size_t)(at - bp));
	quire_buf_puts(&b, "prompt: \"prompts/scene-{{i}}-{{j+1}}.md\"");
	quire_buf_puts(&b, at + strlen("prompt: prompts/scene.md"));
	tu_write(dir, "blueprint.yaml", b.ptr);
	quire_buf_release(&b);
	free(bp);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			char rel[64], text[64];
			snprintf(rel, sizeof(rel), "prompts/scene-%d-%d.md", i, j + 1);
			snprintf(text, sizeof(text), "Scene %d of chapter %d.\n", j, i);
			tu_write(dir, rel, text);
		}
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_int_equal(quire_project_hash_files(p, NULL), 0);
	int scene = quire_blueprint_producer(p->bp, "Scene");
	assert_true(scene >= 0);
	for (int round = 0; round < 2; round++) {
		for (long long i = 0; i < 3; i++)
			for (long long j = 0; j < 3; j++) {
				long long idx[QUIRE_MAX_DIMS] = { i, j };
				char rel[64];
				snprintf(rel, sizeof(rel), "prompts/scene-%lld-%lld.md", i, j + 1);
				const char *got =
					quire_project_prompt_digest(p, (size_t)scene, idx);
				if (j >= 2 && round == 0) {
					assert_null(got); /* Scenes is 2: not hashed */
					continue;
				}
				struct quire_digest d;
				assert_int_equal(quire_hash_file(rel, &d, NULL), 0);
				assert_non_null(got);
				assert_string_equal(got, d.s);
				assert_string_equal(got, quire_project_file_digest(p, rel));
			}
		/* Three scenes per chapter, the files hashed for two: each is still in its place.
		 */
		json_t *three = json_integer(3);
		assert_int_equal(quire_project_set_input(p, "Scenes", three), 0);
		json_decref(three);
		if (round == 0) {
			long long idx[QUIRE_MAX_DIMS] = { 1, 1 };
			struct quire_digest d;
			assert_int_equal(quire_hash_file("prompts/scene-1-2.md", &d, NULL), 0);
			assert_string_equal(quire_project_prompt_digest(p, (size_t)scene, idx),
					    d.s);
			long long idx2[QUIRE_MAX_DIMS] = { 1, 2 };
			assert_null(quire_project_prompt_digest(p, (size_t)scene, idx2));
			assert_int_equal(quire_project_hash_files(p, NULL), 0);
		}
	}
	long long chapter0[QUIRE_MAX_DIMS] = { 0 };
	struct quire_digest d;
	assert_int_equal(quire_hash_file("prompts/chapter.md", &d, NULL), 0);
	assert_string_equal(
		quire_project_prompt_digest(p, (size_t)quire_blueprint_producer(p->bp, "Chapter"),
					    chapter0),
		d.s);
	quire_project_free(p);
}

static void test_hash_files_missing_prompt(void **state)
{
	char *dir = *state;
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);
	assert_int_equal(unlink("prompts/scene.md"), 0);
	assert_int_equal(quire_project_hash_files(p, NULL), QUIRE_ENOTFOUND);
	const char *msg = quire_error_last();
	assert_contains(msg, "producer 'Scene'");
	assert_contains(msg, "prompts/scene.md");
	assert_prefix(msg, "blueprint.yaml:28:3: ");
	quire_project_free(p);
}

static void test_hash_files_racy_edit_is_seen(void **state)
{
	char *dir = *state;
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	assert_int_equal(mkdir(qdir, 0755), 0);
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, qdir, 0), 0);
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, dir), 0);

	tu_write(dir, "prompts/book.md", "Version A {{Title}}\n");
	struct stat st1;
	assert_int_equal(stat("prompts/book.md", &st1), 0);
	assert_int_equal(quire_project_hash_files(p, s), 0);
	char *a = strdup(quire_project_file_digest(p, "prompts/book.md"));

	/* Same size, same inode, same mtime: only the racy-clean rule can notice the edit. */
	tu_write(dir, "prompts/book.md", "Version B {{Title}}\n");
	struct timespec times[2] = { st1.st_atim, st1.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, "prompts/book.md", times, 0), 0);
	struct stat st2;
	assert_int_equal(stat("prompts/book.md", &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_size, st2.st_size);

	assert_int_equal(quire_project_hash_files(p, s), 0);
	const char *b = quire_project_file_digest(p, "prompts/book.md");
	struct quire_digest want;
	assert_int_equal(quire_hash_file("prompts/book.md", &want, NULL), 0);
	assert_string_equal(b, want.s);
	assert_string_not_equal(a, b);
	free(a);
	quire_project_free(p);
	quire_store_close(s);
}

static void test_input_digest(void **state)
{
	char *dir = *state;
	struct quire_project *p1 = NULL, *p2 = NULL, *p3 = NULL;
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Tone: warm\nChapters: 3\n");
	assert_int_equal(quire_project_open(&p1, dir), 0);
	assert_int_equal(quire_project_open(&p2, dir), 0);
	tu_write(dir, "inputs.yaml", STORY_INPUTS "Tone: wry\nChapters: 3\n");
	assert_int_equal(quire_project_open(&p3, dir), 0);

	struct quire_digest t1, t2, t3, c1, c3;
	quire_project_input_digest(p1, "Tone", &t1);
	quire_project_input_digest(p2, "Tone", &t2);
	quire_project_input_digest(p3, "Tone", &t3);
	assert_true(quire_digest_valid(t1.s));
	assert_string_equal(t1.s, t2.s);
	assert_string_not_equal(t1.s, t3.s);
	quire_project_input_digest(p1, "Chapters", &c1);
	quire_project_input_digest(p3, "Chapters", &c3);
	assert_string_equal(c1.s, c3.s);
	assert_string_not_equal(c1.s, t1.s);

	/* A value written out explicitly equals its default. */
	struct quire_project *p4 = NULL;
	tu_write(dir, "inputs.yaml", STORY_INPUTS);
	assert_int_equal(quire_project_open(&p4, dir), 0);
	struct quire_digest t4, c4;
	quire_project_input_digest(p4, "Tone", &t4);
	quire_project_input_digest(p4, "Chapters", &c4);
	assert_string_equal(t4.s, t1.s);
	assert_string_equal(c4.s, c1.s);

	quire_project_free(p1);
	quire_project_free(p2);
	quire_project_free(p3);
	quire_project_free(p4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_story, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_defaults_applied, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_required_input_missing, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_comment_only_inputs_file, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_wrong_type_positioned, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_unknown_input_did_you_mean, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_value_out_of_range, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_unbound_role, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_quire_yaml_errors, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_price_bounds, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test(test_cost_bounded),
		cmocka_unit_test_setup_teardown(test_find_walks_up, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_hash_files, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_prompt_digest_by_instance, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_hash_files_missing_prompt, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_hash_files_racy_edit_is_seen, tu_setup_story,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_input_digest, tu_setup_story,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
