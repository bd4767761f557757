/* Unit tests for the runner (quire/run.h): builds, incremental runs, failures, caches, interrupts.
 */
#include "testutil.h"

#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "builtin.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "core/lock.h"
#include "quire/manifest.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"
#include "quire/store.h"

static int setup(void **state)
{
	tu_setup_story(state);
	tu_unset_mock_env();
	return 0;
}

static int teardown(void **state)
{
	tu_unset_mock_env();
	return tu_teardown_tmpdir(state);
}

/* Opens the project in dir and runs it; returns quire_run's result code. */
static int run_in(const char *dir, const struct quire_run_opts *o, struct quire_run_result *res)
{
	struct quire_project *p = NULL;
	if (quire_project_open(&p, dir))
		fail_msg("open: %s", quire_error_last());
	int err = quire_run(p, o, res);
	quire_project_free(p);
	return err;
}

static void run_ok(const char *dir, int jobs, struct quire_run_result *res)
{
	struct quire_run_opts o = { .jobs = jobs };
	if (run_in(dir, &o, res))
		fail_msg("run: %s", quire_error_last());
}

static json_t *load(const char *dir, const char *rev)
{
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	json_t *m = NULL;
	if (quire_manifest_load(qdir, rev, &m))
		fail_msg("load %s: %s", rev, quire_error_last());
	return m;
}

static const json_t *entry(const json_t *m, const char *id)
{
	const json_t *e = json_object_get(json_object_get(m, "artefacts"), id);
	if (!e)
		fail_msg("manifest %s has no '%s'",
			 json_string_value(json_object_get(m, "revision")), id);
	return e;
}

static const char *field(const json_t *m, const char *id, const char *key)
{
	return json_string_value(json_object_get(entry(m, id), key));
}

struct tally {
	size_t start, produced, cached, unchanged, failed, blocked;
	size_t last_done, last_total;
	int interrupt_on_produced; /* set *flag when this many were produced (0 = never) */
	int interrupt_on_start;
	int kill_on_produced;
	const char *log; /* when set, each reported "produced" id is appended to this file */
	volatile sig_atomic_t *flag;
};

/* Jobs slower than the runner's group-commit interval (20 ms) are committed, and reported,
 * one by one: the tests that stop a run after exactly N reports use them. */
static void slow_jobs(void)
{
	setenv("QUIRE_MOCK_LATENCY_MS", "30", 1);
}

static void progress(void *ud, const struct quire_progress *ev)
{
	struct tally *t = ud;
	if (!strcmp(ev->kind, "start"))
		t->start++;
	else if (!strcmp(ev->kind, "produced")) {
		t->produced++;
		if (t->log) {
			FILE *f = fopen(t->log, "a");
			if (f) {
				fprintf(f, "%s\n", ev->id);
				fclose(f);
			}
		}
	} else if (!strcmp(ev->kind, "cached"))
		t->cached++;
	else if (!strcmp(ev->kind, "unchanged"))
		t->unchanged++;
	else if (!strcmp(ev->kind, "failed"))
		t->failed++;
	else if (!strcmp(ev->kind, "blocked"))
		t->blocked++;
	t->last_done = ev->done;
	t->last_total = ev->total;
	if (t->interrupt_on_produced && t->produced == (size_t)t->interrupt_on_produced)
		*t->flag = 1;
	if (t->interrupt_on_start && t->start == (size_t)t->interrupt_on_start)
		*t->flag = 1;
	if (t->kill_on_produced && t->produced == (size_t)t->kill_on_produced)
		raise(SIGKILL);
}

static const char *const ids[] = {
	"Outline",     "Chapter[0]",  "Chapter[1]",  "Chapter[2]",  "Scene[0][0]", "Scene[0][1]",
	"Scene[1][0]", "Scene[1][1]", "Scene[2][0]", "Scene[2][1]", "Book",
};

/* The calls pack written past the MiB it is flushed by: every record and every blob it names
 * is a line, once, each record before the blobs it names, each text hashing to its digest. */
static void test_calls_pack_past_a_mib(void **state)
{
	(void)state;
	enum { N = 40, BIG = 40000 };
	struct quire_digest rec[N], resp[N];
	const char *calls[N + 1];
	char *big = malloc(BIG + 1);
	assert_non_null(big);
	for (int k = 0; k < N; k++) {
		for (int i = 0; i < BIG; i++)
			big[i] = (char)('a' + (i + k) % 26);
		/* Each its own (a quote: escaped in its line). */
		int h = snprintf(big, 32, "answer %d \"", k);
		big[h] = '.';
		assert_int_equal(quire_blob_put(".quire", big, BIG, &resp[k]), 0);
		char r[256];
		int len = snprintf(r, sizeof(r),
				   "{\"prompt\":{\"text\":\"p%d\"},\"response\":\"%s\"}", k,
				   resp[k].s);
		assert_int_equal(quire_blob_put(".quire", r, (size_t)len, &rec[k]), 0);
		calls[k] = rec[k].s;
	}
	calls[N] = rec[3].s; /* named twice: one line */
	assert_int_equal(quire_calls_write(".quire", "r", calls, N + 1), 0);
	struct quire_buf f = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(".quire/calls/r.jsonl", &f, 1u << 26), 0);
	assert_true(f.len > (1u << 20));
	size_t lines = 0;
	for (char *line = f.ptr, *nl; line < f.ptr + f.len; line = nl + 1, lines++) {
		nl = memchr(line, '\n', (size_t)(f.ptr + f.len - line));
		assert_non_null(nl);
		json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
		assert_non_null(j);
		const char *text = json_string_value(json_object_get(j, "text"));
		struct quire_digest d;
		quire_hash_bytes(text, json_string_length(json_object_get(j, "text")), &d);
		const struct quire_digest *want = lines % 2 ? &resp[lines / 2] : &rec[lines / 2];
		assert_string_equal(json_string_value(json_object_get(j, "digest")), want->s);
		assert_string_equal(d.s, want->s);
		json_decref(j);
	}
	assert_int_equal(lines, 2 * N);
	quire_buf_release(&f);
	free(big);
}

static void test_full_run(void **state)
{
	char *dir = *state;
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 4, .progress = progress, .ud = &t };
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, tu_rev(dir, 1));
	assert_string_equal(res.recovered, "");
	assert_int_equal(res.total, 11);
	assert_int_equal(res.dirty, 11);
	assert_int_equal(res.produced, 11);
	assert_int_equal(res.cached + res.unchanged + res.failed + res.blocked + res.not_started,
			 0);
	assert_int_equal(res.out_written, 11);
	assert_int_equal(res.interrupted, 0);
	assert_int_equal(t.start, 11);
	assert_int_equal(t.produced, 11);
	assert_int_equal(t.last_done, 11);
	assert_int_equal(t.last_total, 11);

	char *cur = tu_slurp(".quire/current");
	assert_int_equal(strlen(cur), 65);
	assert_memory_equal(cur, tu_rev(".", 1), 64);
	free(cur);
	struct stat st;
	assert_int_equal(stat(".quire/runs/run-1-plan.json", &st), 0);

	json_t *m = load(dir, tu_rev(dir, 1));
	assert_string_equal(json_string_value(json_object_get(m, "revision")), res.rev);
	assert_true(quire_rev_is_digest(res.rev));
	assert_true(json_is_null(json_object_get(m, "parent")));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 11);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(m, "counts"), "produced")), 11);
	for (size_t i = 0; i < 11; i++) {
		assert_string_equal(field(m, ids[i], "status"), "clean");
		const char *d = field(m, ids[i], "digest");
		assert_non_null(d);
		struct quire_buf b = QUIRE_BUF_INIT;
		assert_int_equal(quire_blob_read(".quire", d, &b, 0, 1), 0);
		assert_int_equal((json_int_t)b.len,
				 json_integer_value(json_object_get(entry(m, ids[i]), "size")));
		quire_buf_release(&b);
	}
	assert_string_equal(field(m, "Scene[1][0]", "producer"), "Scene");
	/* The revision records the input values it was built from and the files it read. */
	const json_t *tone = json_object_get(json_object_get(m, "inputs"), "Tone");
	assert_string_equal(json_string_value(json_object_get(tone, "value")), "warm");
	assert_non_null(json_object_get(json_object_get(m, "files"), "prompts/scene.md"));
	/* ...and keeps the content of those files, so the revision can be restored later. */
	const char *inputs_digest =
		json_string_value(json_object_get(json_object_get(m, "files"), "inputs.yaml"));
	assert_int_equal(quire_blob_exists(".quire", inputs_digest), 1);
	json_decref(m);
}

/* The fold of a reference: each event applied to a manifest held whole, at the end. */
static int fold_whole(void *ud, int64_t seq, int64_t time_ns, const char *kind, const char *subject,
		      const json_t *data)
{
	(void)seq;
	return quire_manifest_fold(ud, NULL, time_ns, kind, subject, data, 0);
}

/* A first build of 300 and more instances folds its events on a thread while it runs: the
 * revision it commits is the one the same events make folded at once, every event once
 * (counts), none left out (entries), none twice. Jobs of 1 ms commit in several groups. */
static void test_large_first_build_folds_as_it_runs(void **state)
{
	char *dir = *state;
	tu_edit_inputs(dir, "Scenes: 2", "Scenes: 100");
	setenv("QUIRE_MOCK_LATENCY_MS", "1", 1);
	struct quire_run_result res;
	run_ok(dir, 4, &res);
	assert_int_equal(res.produced, 305);
	json_t *m = load(dir, res.rev);
	struct quire_store *s = NULL;
	assert_int_equal(quire_store_open(&s, ".quire", 1), 0);
	json_t *ref = quire_manifest_empty();
	assert_int_equal(quire_store_events(s, 1, fold_whole, ref), 0);
	quire_store_close(s);
	assert_int_equal(json_object_size(json_object_get(ref, "artefacts")), 305);
	assert_true(json_equal(json_object_get(m, "artefacts"), json_object_get(ref, "artefacts")));
	assert_true(json_equal(json_object_get(m, "counts"), json_object_get(ref, "counts")));
	assert_true(json_equal(json_object_get(m, "files"), json_object_get(ref, "files")));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(m, "counts"), "produced")), 305);
	json_decref(ref);
	json_decref(m);
}

static void test_second_run_nothing_to_do(void **state)
{
	char *dir = *state;
	struct quire_run_result res;
	run_ok(dir, 4, &res);
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 4, .progress = progress, .ud = &t };
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, "");
	assert_int_equal(res.total, 11);
	assert_int_equal(res.dirty, 0);
	assert_int_equal(res.produced + res.cached + res.unchanged + res.failed + res.blocked, 0);
	assert_int_equal(res.out_written, 0);
	assert_int_equal(t.start + t.produced + t.cached, 0);
	assert_int_equal(tu_count_dir(".quire/revs"), 1);
	char *cur = tu_slurp(".quire/current");
	assert_int_equal(strlen(cur), 65);
	assert_memory_equal(cur, tu_rev(".", 1), 64);
	free(cur);
}

static void test_failure_blocks_dependants_then_retry(void **state)
{
	char *dir = *state;
	setenv("QUIRE_MOCK_FAIL", "Chapter[1]", 1);
	struct quire_run_result res;
	/* Job failures are counted, not returned. */
	run_ok(dir, 4, &res);
	assert_string_equal(res.rev, tu_rev(dir, 1));
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.blocked, 3);
	assert_int_equal(res.produced, 7);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_string_equal(field(m, "Chapter[1]", "status"), "failed");
	assert_non_null(strstr(field(m, "Chapter[1]", "error"), "Chapter[1]"));
	assert_null(field(m, "Chapter[1]", "digest"));
	assert_string_equal(field(m, "Scene[1][0]", "status"), "blocked");
	assert_string_equal(field(m, "Scene[1][1]", "status"), "blocked");
	assert_string_equal(field(m, "Book", "status"), "blocked");
	assert_non_null(strstr(field(m, "Scene[1][0]", "error"), "Chapter[1]"));
	static const char *const fine[] = { "Outline",	   "Chapter[0]",  "Chapter[2]",
					    "Scene[0][0]", "Scene[0][1]", "Scene[2][0]",
					    "Scene[2][1]" };
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(field(m, fine[i], "status"), "clean");
	json_decref(m);
	assert_int_equal(tu_count_dir("out"), 7);
	struct stat st;
	assert_int_equal(stat("out/Chapter-1.md", &st), -1);

	unsetenv("QUIRE_MOCK_FAIL");
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 4, .progress = progress, .ud = &t };
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, tu_rev(dir, 2));
	assert_int_equal(res.dirty, 4);
	assert_int_equal(res.produced, 4);
	assert_int_equal(res.failed + res.blocked + res.cached, 0);
	assert_int_equal(t.start, 4);
	m = load(dir, tu_rev(dir, 2));
	assert_string_equal(json_string_value(json_object_get(m, "parent")), tu_rev(dir, 1));
	for (size_t i = 0; i < 11; i++)
		assert_string_equal(field(m, ids[i], "status"), "clean");
	assert_null(field(m, "Chapter[1]", "error"));
	json_decref(m);
	assert_int_equal(tu_count_dir("out"), 11);
}

static void test_failed_rerun_keeps_stale_output(void **state)
{
	char *dir = *state;
	struct quire_run_result res;
	run_ok(dir, 4, &res);
	json_t *m1 = load(dir, tu_rev(dir, 1));
	char *old = tu_slurp("out/Chapter-1.md");

	tu_edit_inputs(dir, "Tone: warm", "Tone: wry");
	setenv("QUIRE_MOCK_FAIL", "Chapter[1]", 1);
	run_ok(dir, 4, &res);
	assert_string_equal(res.rev, tu_rev(dir, 2));
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.blocked, 3);
	assert_int_equal(res.produced, 7);
	json_t *m2 = load(dir, tu_rev(dir, 2));
	/* Never clean after a failed re-run, but the old output stays visible. */
	assert_string_equal(field(m2, "Chapter[1]", "status"), "stale");
	assert_string_equal(field(m2, "Chapter[1]", "digest"), field(m1, "Chapter[1]", "digest"));
	assert_string_equal(field(m2, "Scene[1][0]", "status"), "stale");
	assert_string_equal(field(m2, "Book", "status"), "stale");
	assert_string_equal(field(m2, "Chapter[0]", "status"), "clean");
	assert_string_not_equal(field(m2, "Chapter[0]", "digest"),
				field(m1, "Chapter[0]", "digest"));
	char *now = tu_slurp("out/Chapter-1.md");
	assert_string_equal(now, old);
	free(now);
	free(old);

	/* The next run retries exactly what did not complete. */
	unsetenv("QUIRE_MOCK_FAIL");
	run_ok(dir, 4, &res);
	assert_int_equal(res.produced, 4);
	assert_int_equal(res.failed, 0);
	json_t *m3 = load(dir, tu_rev(dir, 3));
	assert_string_equal(field(m3, "Chapter[1]", "status"), "clean");
	assert_string_not_equal(field(m3, "Chapter[1]", "digest"),
				field(m1, "Chapter[1]", "digest"));
	json_decref(m1);
	json_decref(m2);
	json_decref(m3);
}

static void test_fail_fast_stops_starting(void **state)
{
	char *dir = *state;
	setenv("QUIRE_MOCK_FAIL", "Chapter[0]", 1);
	struct quire_run_opts o = { .jobs = 1, .fail_fast = 1 };
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, tu_rev(dir, 1));
	assert_int_equal(res.produced, 1);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.not_started, 9);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 2);
	json_decref(m);
}

static void test_going_back_hits_action_cache(void **state)
{
	char *dir = *state;
	struct quire_run_result res;
	run_ok(dir, 4, &res);
	tu_edit_inputs(dir, "Tone: warm", "Tone: eerie");
	run_ok(dir, 4, &res);
	assert_string_equal(res.rev, tu_rev(dir, 2));
	assert_int_equal(res.produced, 11);
	tu_edit_inputs(dir, "Tone: eerie", "Tone: warm");
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 4, .progress = progress, .ud = &t };
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, tu_rev(dir, 3));
	assert_int_equal(res.produced, 0);
	assert_int_equal(res.cached, 11);
	assert_int_equal(t.start, 0); /* no provider call at all */
	assert_int_equal(t.cached, 11);

	json_t *m1 = load(dir, tu_rev(dir, 1)), *m3 = load(dir, tu_rev(dir, 3));
	for (size_t i = 0; i < 11; i++) {
		assert_string_equal(field(m3, ids[i], "status"), "clean");
		assert_string_equal(field(m3, ids[i], "digest"), field(m1, ids[i], "digest"));
		assert_string_equal(field(m3, ids[i], "fingerprint"),
				    field(m1, ids[i], "fingerprint"));
	}
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(m3, "counts"), "cached")), 11);
	json_decref(m1);
	json_decref(m3);
	/* And out/ is back to the first revision's content. */
	char *book = tu_slurp("out/Book.md");
	struct quire_buf b = QUIRE_BUF_INIT;
	m1 = load(dir, tu_rev(dir, 1));
	assert_int_equal(quire_blob_read(".quire", field(m1, "Book", "digest"), &b, 0, 1), 0);
	assert_string_equal(book, b.ptr);
	quire_buf_release(&b);
	free(book);
	json_decref(m1);
}

/* A two-step project whose first step echoes an input and ignores another it declares. */
static void write_cutoff_project(const char *dir)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* '%s'/.quire", dir, dir);
	assert_int_equal(system(cmd), 0);
	tu_write(dir, "quire.yaml",
		 "quire: 1\nroles:\n  echo: { provider: mock, params: { mode: echo } }\n");
	tu_write(dir, "blueprint.yaml",
		 "blueprint: cutoff\nversion: 1\ninputs:\n"
		 "  Text: { type: text, default: hello }\n"
		 "  Noise: { type: int, default: 1 }\n"
		 "producers:\n"
		 "  Up:\n    role: echo\n    prompt: prompts/up.md\n    uses: [Text, Noise]\n"
		 "    output: { type: text, ext: md }\n"
		 "  Down:\n    role: echo\n    prompt: prompts/down.md\n    uses: [Up]\n"
		 "    output: { type: text, ext: md }\n");
	tu_write(dir, "inputs.yaml", "Text: hello\nNoise: 1\n");
	tu_write(dir, "prompts/up.md", "{{Text}}\n");
	tu_write(dir, "prompts/down.md", "Down sees: {{Up}}");
}

static void test_early_cutoff(void **state)
{
	char *dir = *state;
	write_cutoff_project(dir);
	struct quire_run_result res;
	run_ok(dir, 2, &res);
	assert_int_equal(res.produced, 2);
	char *down = tu_slurp("out/Down.md");
	assert_string_equal(down, "Down sees: hello\n");
	free(down);

	/* Up re-runs (its fingerprint changed) but yields the same bytes: Down is not re-run. */
	tu_edit_inputs(dir, "Noise: 1", "Noise: 2");
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 2, .progress = progress, .ud = &t };
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_string_equal(res.rev, tu_rev(dir, 2));
	assert_int_equal(res.dirty, 2);
	assert_int_equal(res.produced, 1);
	assert_int_equal(res.unchanged, 1);
	assert_int_equal(t.start, 1);
	json_t *m1 = load(dir, tu_rev(dir, 1)), *m2 = load(dir, tu_rev(dir, 2));
	assert_string_equal(field(m2, "Down", "status"), "clean");
	assert_string_equal(field(m2, "Down", "digest"), field(m1, "Down", "digest"));
	assert_string_equal(field(m2, "Up", "digest"), field(m1, "Up", "digest"));
	assert_string_not_equal(field(m2, "Up", "fingerprint"), field(m1, "Up", "fingerprint"));
	json_decref(m1);
	json_decref(m2);

	/* And the result is stable: nothing left to do. */
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_int_equal(res.dirty, 0);
	assert_string_equal(res.rev, "");
}

static void test_jobs_do_not_change_results(void **state)
{
	char *dir = *state;
	char *dir4 = tu_tempdir();
	tu_copy_story(dir4);
	setenv("QUIRE_MOCK_LATENCY_MS", "5", 1);
	struct quire_run_result r1, r4;
	run_ok(dir, 1, &r1);
	run_ok(dir4, 4, &r4);
	assert_int_equal(r1.produced, 11);
	assert_int_equal(r4.produced, 11);
	json_t *m1 = load(dir, tu_rev(dir, 1)), *m4 = load(dir4, tu_rev(dir4, 1));
	for (size_t i = 0; i < 11; i++) {
		assert_string_equal(field(m1, ids[i], "digest"), field(m4, ids[i], "digest"));
		assert_string_equal(field(m1, ids[i], "fingerprint"),
				    field(m4, ids[i], "fingerprint"));
		assert_true(json_equal(json_object_get(entry(m1, ids[i]), "deps"),
				       json_object_get(entry(m4, ids[i]), "deps")));
	}
	json_decref(m1);
	json_decref(m4);
	char *b1 = tu_slurp("out/Book.md");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/out/Book.md", dir4);
	char *b4 = tu_slurp(path);
	assert_string_equal(b1, b4);
	free(b1);
	free(b4);
	tu_rmrf(dir4);
	free(dir4);
}

static void test_interrupt_before_start(void **state)
{
	char *dir = *state;
	volatile sig_atomic_t flag = 1;
	struct quire_run_opts o = { .jobs = 4, .interrupted = &flag };
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), QUIRE_EINTR);
	assert_int_equal(res.interrupted, 1);
	assert_int_equal(res.produced, 0);
	assert_int_equal(res.not_started, 11);
	/* What finished (nothing) is still committed, marked as interrupted. */
	assert_string_equal(res.rev, tu_rev(dir, 1));
	char *cur = tu_slurp(".quire/current");
	assert_int_equal(strlen(cur), 65);
	assert_memory_equal(cur, tu_rev(".", 1), 64);
	free(cur);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_true(json_is_true(json_object_get(m, "interrupted")));
	json_decref(m);

	struct quire_run_result again;
	run_ok(dir, 4, &again);
	assert_string_equal(again.rev, tu_rev(dir, 2));
	assert_int_equal(again.produced, 11);
	m = load(dir, tu_rev(dir, 2));
	assert_null(json_object_get(m, "interrupted"));
	json_decref(m);
}

static void test_interrupt_midway_keeps_work(void **state)
{
	char *dir = *state;
	slow_jobs();
	volatile sig_atomic_t flag = 0;
	struct tally t = { .interrupt_on_produced = 2, .flag = &flag };
	struct quire_run_opts o = {
		.jobs = 1, .interrupted = &flag, .progress = progress, .ud = &t
	};
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), QUIRE_EINTR);
	assert_int_equal(res.interrupted, 1);
	assert_int_equal(res.produced, 2);
	assert_int_equal(res.failed, 0);
	assert_int_equal(res.not_started, 9);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 2);
	assert_string_equal(field(m, "Outline", "status"), "clean");
	json_decref(m);
	assert_int_equal(tu_count_dir("out"), 2);

	run_ok(dir, 4, &res);
	assert_int_equal(res.produced, 9);
	assert_int_equal(res.cached, 0);
}

/* Jobs cancelled by an interrupt are not failures: nothing is recorded for them. */
static void test_interrupt_cancels_in_flight(void **state)
{
	char *dir = *state;
	/* Slow jobs, interrupted while the three chapters are running. */
	setenv("QUIRE_MOCK_LATENCY_MS", "2000", 1);
	volatile sig_atomic_t flag = 0;
	struct tally t = { .interrupt_on_start = 4, .flag = &flag };
	struct quire_run_opts o = {
		.jobs = 4, .interrupted = &flag, .progress = progress, .ud = &t
	};
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), QUIRE_EINTR);
	assert_int_equal(res.interrupted, 1);
	assert_int_equal(res.produced, 1);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_string_equal(field(m, "Outline", "status"), "clean");
	/* Cancelled jobs did not fail: nothing is reported or recorded as a failure. */
	const char *id;
	json_t *e;
	json_object_foreach(json_object_get(m, "artefacts"), id, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		if (strcmp(st, "clean"))
			fail_msg("%s is '%s' (%s) after an interrupt", id, st,
				 json_string_value(json_object_get(e, "error")));
	}
	json_decref(m);
	assert_int_equal(t.failed, 0);
	assert_int_equal(res.failed, 0);
}

static void test_lock_held_refuses(void **state)
{
	char *dir = *state;
	struct quire_lock *l = NULL;
	assert_int_equal(quire_lock_acquire(&l, ".quire", "quire edit"), 0);
	struct quire_run_opts o = { .jobs = 2 };
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), QUIRE_ELOCKED);
	assert_non_null(strstr(quire_error_last(), "quire edit"));
	struct stat st;
	assert_int_equal(stat(".quire/current", &st), -1);
	assert_int_equal(stat("out", &st), -1);
	quire_lock_release(l);
	run_ok(dir, 2, &res);
	assert_int_equal(res.produced, 11);
}

/* Runs the project in a child, at -j jobs, that is killed with SIGKILL after `after` outputs
 * were reported (their ids appended to the file log when it is given). */
static void run_killed(const char *dir, int after, int jobs, const char *log)
{
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct tally t = { .kill_on_produced = after, .log = log };
		struct quire_run_opts o = { .jobs = jobs, .progress = progress, .ud = &t };
		struct quire_project *p = NULL;
		struct quire_run_result res;
		if (quire_project_open(&p, dir) == 0)
			quire_run(p, &o, &res);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_killed_run_is_recovered(void **state)
{
	char *dir = *state;
	slow_jobs();
	run_killed(dir, 3, 1, NULL);
	struct stat st;
	assert_int_equal(stat(".quire/current", &st), -1);

	struct quire_run_result res;
	tu_unset_mock_env();
	run_ok(dir, 4, &res);
	assert_string_equal(res.recovered, tu_rev(dir, 1));
	assert_string_equal(res.rev, tu_rev(dir, 2));
	assert_int_equal(res.produced, 8);
	assert_int_equal(res.cached, 0);
	json_t *m1 = load(dir, tu_rev(dir, 1));
	assert_int_equal(json_object_size(json_object_get(m1, "artefacts")), 3);
	assert_true(json_is_true(json_object_get(m1, "recovered")));
	json_t *m2 = load(dir, tu_rev(dir, 2));
	assert_string_equal(json_string_value(json_object_get(m2, "parent")), tu_rev(dir, 1));
	assert_int_equal(json_object_size(json_object_get(m2, "artefacts")), 11);
	json_decref(m1);
	json_decref(m2);
	char *cur = tu_slurp(".quire/current");
	assert_memory_equal(cur, tu_rev(".", 2), 64);
	free(cur);
}

/* Fast jobs are committed in groups, but nothing is reported before it is committed: killed
 * right after its third report, the run leaves at least those three (and whatever else its
 * group held) for the recovery, and the next run makes exactly what is missing. */
static void test_killed_fast_run_keeps_what_it_reported(void **state)
{
	char *dir = *state;
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/reported.txt", dir);
	run_killed(dir, 3, 2, log);
	struct quire_run_result res;
	run_ok(dir, 2, &res);
	assert_string_equal(res.recovered, tu_rev(dir, 1));
	json_t *m1 = load(dir, tu_rev(dir, 1));
	size_t kept = json_object_size(json_object_get(m1, "artefacts"));
	assert_true(kept >= 3);
	char *reported = tu_slurp(log);
	size_t nrep = 0;
	for (char *line = strtok(reported, "\n"); line; line = strtok(NULL, "\n"), nrep++)
		if (!json_object_get(json_object_get(m1, "artefacts"), line))
			fail_msg("%s was reported produced but is not in the recovered revision",
				 line);
	assert_int_equal(nrep, 3);
	free(reported);
	json_decref(m1);
	assert_int_equal(res.produced, 11 - kept);
	assert_int_equal(res.cached, 0);
}

struct first_output {
	char subject[64], digest[QUIRE_DIGEST_STRLEN + 1];
};

static int first_output_cb(void *ud, int64_t seq, int64_t time_ns, const char *kind,
			   const char *subject, const json_t *data)
{
	struct first_output *f = ud;
	if (strcmp(kind, "artefact.produced") || f->subject[0])
		return 0;
	snprintf(f->subject, sizeof(f->subject), "%s", subject);
	snprintf(f->digest, sizeof(f->digest), "%s",
		 json_string_value(json_object_get(data, "digest")));
	return 0;
}

/* Outputs are synced once per revision, so a power loss can leave a killed run's blob empty: the
 * recovery hashes them again and never commits a damaged one as clean. */
static void test_recovery_rehashes_unsynced_outputs(void **state)
{
	char *dir = *state;
	slow_jobs();
	run_killed(dir, 3, 1, NULL);
	tu_unset_mock_env();
	struct quire_store *st = NULL;
	assert_int_equal(quire_store_open(&st, ".quire", 1), 0);
	struct first_output f = { { 0 }, { 0 } };
	assert_int_equal(quire_store_events(st, 1, first_output_cb, &f), 0);
	quire_store_close(st);
	assert_true(f.subject[0] != '\0');
	tu_blob_damage(".quire", f.digest); /* what a power loss can leave of an unsynced file */

	struct quire_run_result res;
	run_ok(dir, 2, &res);
	assert_string_equal(res.recovered, tu_rev(dir, 1));
	assert_int_equal(res.produced, 9); /* the 8 never made and the damaged one */
	json_t *m1 = load(dir, tu_rev(dir, 1));
	assert_string_equal(field(m1, f.subject, "status"), "failed");
	assert_null(json_object_get(entry(m1, f.subject), "digest"));
	assert_non_null(strstr(field(m1, f.subject, "error"), "lost"));
	json_decref(m1);
	json_t *m2 = load(dir, tu_rev(dir, 2));
	assert_string_equal(field(m2, f.subject, "status"), "clean");
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", field(m2, f.subject, "digest"), &b, 0, 1), 0);
	assert_true(b.len > 0);
	quire_buf_release(&b);
	json_decref(m2);
}

/* A provider that says it succeeded but writes nothing. */
static int silent_produce(void *ctx, const struct quire_provider_request *rq,
			  struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	(void)rs;
	return 0;
}

static const struct quire_provider silent = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "silent",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.produce = silent_produce,
};

/* "Success" without an output file fails the job with a clear message, and blocks what uses it. */
static void test_provider_without_output_fails(void **state)
{
	char *dir = *state;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "sed -i 's/provider: mock$/provider: silent/' '%s/quire.yaml' && "
		 "grep -q 'provider: silent' '%s/quire.yaml'",
		 dir, dir);
	assert_int_equal(system(cmd), 0);
	struct tally t = { 0 };
	struct quire_run_opts o = { .jobs = 2, .progress = progress, .ud = &t };
	struct quire_run_result res;
	run_in(dir, &o, &res);
	assert_true(res.failed >= 1);
	assert_int_equal(res.produced, 0);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_string_equal(field(m, "Outline", "status"), "failed");
	assert_non_null(strstr(field(m, "Outline", "error"), "provider wrote no output file"));
	json_decref(m);
}

static void test_targets_run_only_selection(void **state)
{
	char *dir = *state;
	const char *targets[] = { "Chapter[1]" };
	struct quire_run_opts o = { .jobs = 4, .targets = targets, .ntargets = 1 };
	struct quire_run_result res;
	assert_int_equal(run_in(dir, &o, &res), 0);
	assert_int_equal(res.total, 2);
	assert_int_equal(res.produced, 2);
	json_t *m = load(dir, tu_rev(dir, 1));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 2);
	assert_string_equal(field(m, "Chapter[1]", "status"), "clean");
	json_decref(m);
	run_ok(dir, 4, &res);
	assert_int_equal(res.produced, 9);
	assert_string_equal(res.rev, tu_rev(dir, 2));
}

int main(void)
{
	assert_int_equal(quire_provider_register(&quire_provider_mock), 0);
	assert_int_equal(quire_provider_register(&silent), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_calls_pack_past_a_mib, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_full_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_run_nothing_to_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_blocks_dependants_then_retry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_rerun_keeps_stale_output, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fail_fast_stops_starting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_going_back_hits_action_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early_cutoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_do_not_change_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_midway_keeps_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_run_is_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_fast_run_keeps_what_it_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recovery_rehashes_unsynced_outputs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_provider_without_output_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_targets_run_only_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_first_build_folds_as_it_runs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_cancels_in_flight, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
