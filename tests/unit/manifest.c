/* Unit tests for manifests (quire/manifest.h): revision names, current, load/write, the fold. */
#include "testutil.h"

#include <fcntl.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "core/json.h"
#include "quire/manifest.h"
#include "quire/merge.h"
#include "quire/store.h"
#include "core/event.h"
#include "core/manifest_internal.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static const char *status_of(const json_t *m, const char *id)
{
	return json_string_value(
		json_object_get(json_object_get(json_object_get(m, "artefacts"), id), "status"));
}

static json_int_t count_of(const json_t *m, const char *what)
{
	return json_integer_value(json_object_get(json_object_get(m, "counts"), what));
}

/* A manifest as a first run would fold it. */
static json_t *started(const char *rev, const char *parent)
{
	json_t *m = quire_manifest_empty();
	json_t *data = json_pack("{s:s,s:o,s:{s:s},s:{s:{s:s,s:i}}}", "revision", rev, "parent",
				 parent ? json_string(parent) : json_null(), "files", "inputs.yaml",
				 D1, "inputs", "Chapters", "digest", D2, "value", 3);
	quire_manifest_apply(m, 1700000000LL * 1000000000, "run.start", NULL, data);
	json_decref(data);
	return m;
}

static void test_rev_format_and_parse(void **state)
{
	(void)state;
	char buf[32];
	quire_rev_format(7, buf, sizeof(buf));
	assert_string_equal(buf, "rev-0007");
	quire_rev_format(1, buf, sizeof(buf));
	assert_string_equal(buf, "rev-0001");
	quire_rev_format(12345, buf, sizeof(buf));
	assert_string_equal(buf, "rev-12345");

	assert_int_equal(quire_rev_parse("rev-0007"), 7);
	assert_int_equal(quire_rev_parse("rev-12345"), 12345);
	assert_int_equal(quire_rev_parse("7"), 7);
	assert_int_equal(quire_rev_parse("0012"), 12);
	assert_int_equal(quire_rev_parse(""), -1);
	assert_int_equal(quire_rev_parse("rev-"), -1);
	assert_int_equal(quire_rev_parse("rev-12a"), -1);
	assert_int_equal(quire_rev_parse("rev--1"), -1);
	assert_int_equal(quire_rev_parse("head"), -1);
	assert_int_equal(quire_rev_parse("rev-0007/../x"), -1);
	/* Round trip. */
	quire_rev_format(quire_rev_parse("rev-0042"), buf, sizeof(buf));
	assert_string_equal(buf, "rev-0042");
}

static void test_current_pointer(void **state)
{
	(void)state;
	char *rev = (char *)"x";
	assert_int_equal(quire_manifest_current(".quire", &rev), 0);
	assert_null(rev);

	assert_int_equal(quire_manifest_advance(".quire", NULL, "rev-0003"), 0);
	char *text = tu_slurp(".quire/current");
	assert_string_equal(text, "rev-0003\n");
	free(text);
	assert_int_equal(quire_manifest_current(".quire", &rev), 0);
	assert_non_null(rev);
	assert_string_equal(rev, "rev-0003");
	free(rev);

	/* Moving it replaces the pointer and leaves no temp file behind. */
	assert_int_equal(quire_manifest_advance(".quire", "rev-0003", "rev-0004"), 0);
	assert_int_equal(quire_manifest_current(".quire", &rev), 0);
	assert_string_equal(rev, "rev-0004");
	free(rev);
	int n = tu_count_dir(".quire");
	assert_int_equal(n, 1);

	/* A hand-written pointer without a trailing newline is fine; garbage is not. */
	tu_write(".", ".quire/current", "rev-0002");
	assert_int_equal(quire_manifest_current(".quire", &rev), 0);
	assert_string_equal(rev, "rev-0002");
	free(rev);
	/* A merge without the union driver: the lines between git's markers are heads. */
	tu_write(".", ".quire/current", "<<<<<<< HEAD\nrev-0002\n=======\nrev-0002\n>>>>>>> b\n");
	rev = NULL;
	assert_int_equal(quire_manifest_current(".quire", &rev), 0);
	assert_string_equal(rev, "rev-0002");
	free(rev);
	tu_write(".", ".quire/current", "rev-0002\nnot/a/name\n");
	rev = NULL;
	assert_int_equal(quire_manifest_current(".quire", &rev), QUIRE_ECORRUPT);
	assert_null(rev);
	assert_non_null(strstr(quire_error_last(), ".quire/current"));
}

static void test_write_then_load(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	json_t *art = json_pack("{s:s,s:s,s:i}", "digest", D1, "ext", "md", "size", 10);
	quire_manifest_apply(m, 0, "artefact.produced", "Chapter[0]", art);
	json_decref(art);
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);

	json_t *back = NULL;
	assert_int_equal(quire_manifest_load(".quire", "rev-0001", &back), 0);
	assert_non_null(back);
	assert_true(json_equal(back, m));
	json_decref(back);
	/* A bare number names the same revision. */
	assert_int_equal(quire_manifest_load(".quire", "1", &back), 0);
	assert_true(json_equal(back, m));
	json_decref(back);

	/* Canonical pretty JSON: sorted keys, indented, newline at the end. */
	char *text = tu_slurp(".quire/manifests/rev-0001.json");
	size_t len = strlen(text);
	assert_true(len > 2 && text[len - 1] == '\n');
	const char *a = strstr(text, "\"artefacts\""), *c = strstr(text, "\"counts\""),
		   *f = strstr(text, "\"format\""), *r = strstr(text, "\"revision\"");
	assert_true(a && c && f && r && a < c && c < f && f < r);
	assert_non_null(strstr(text, "\n  \"artefacts\""));

	/* Writing the same manifest again gives the same bytes. */
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	char *again = tu_slurp(".quire/manifests/rev-0001.json");
	assert_string_equal(again, text);
	free(again);
	free(text);
	json_decref(m);
}

static void test_load_missing_and_bad_name(void **state)
{
	(void)state;
	json_t *m = (json_t *)1;
	assert_int_equal(quire_manifest_load(".quire", "rev-0009", &m), QUIRE_ENOTFOUND);
	assert_null(m);
	assert_non_null(strstr(quire_error_last(), "rev-0009"));
	assert_int_equal(quire_manifest_load(".quire", "../../etc/passwd", &m), QUIRE_EINVALID);
	assert_null(m);
}

static void test_load_rejects_malformed_json(void **state)
{
	(void)state;
	tu_write(".", ".quire/manifests/rev-0001.json",
		 "{\n  \"format\": 1,\n  \"revision\": \"rev-0001\",,\n  \"artefacts\": {}\n}\n");
	json_t *m = (json_t *)1;
	assert_int_equal(quire_manifest_load(".quire", "rev-0001", &m), QUIRE_ECORRUPT);
	assert_null(m);
	const char *msg = quire_error_last();
	/* The position of the stray comma, then the parser's reason. */
	const char *want = ".quire/manifests/rev-0001.json:3:26: ";
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	assert_true(strlen(msg) > strlen(want));
}

static void test_load_rejects_revision_mismatch(void **state)
{
	(void)state;
	json_t *m = started("rev-0002", "rev-0001");
	/* A manifest copied to the wrong name must not be taken for another revision. */
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	json_t *back = (json_t *)1;
	assert_int_equal(quire_manifest_load(".quire", "rev-0001", &back), QUIRE_ECORRUPT);
	assert_null(back);
	assert_non_null(strstr(quire_error_last(), "rev-0001"));
	json_decref(m);

	/* Valid JSON that is not a manifest at all. */
	tu_write(".", ".quire/manifests/rev-0003.json", "[1, 2, 3]\n");
	assert_int_equal(quire_manifest_load(".quire", "rev-0003", &back), QUIRE_ECORRUPT);
	tu_write(".", ".quire/manifests/rev-0004.json",
		 "{\"format\": 99, \"revision\": \"rev-0004\", \"inputs\": {}, \"artefacts\": "
		 "{}}\n");
	assert_int_equal(quire_manifest_load(".quire", "rev-0004", &back), QUIRE_ECORRUPT);
}

static void test_names_by_digest(void **state)
{
	(void)state;
	char **names = NULL;
	size_t n = 9;
	assert_int_equal(quire_manifest_list(".quire", &names, &n), 0);
	assert_int_equal(n, 0);
	json_t *m = started("rev-0001", NULL);
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	json_decref(m);
	/* A new revision is named by the digest of its bytes. */
	char name[QUIRE_REV_MAX] = "";
	m = started(QUIRE_REV_PENDING, "rev-0001");
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, name), 0);
	json_decref(m);
	assert_true(quire_rev_is_digest(name));
	assert_string_not_equal(name, QUIRE_REV_PENDING);
	json_t *back = NULL;
	assert_int_equal(quire_manifest_load(".quire", name, &back), 0);
	assert_string_equal(json_string_value(json_object_get(back, "revision")), name);
	json_decref(back);
	assert_int_equal(quire_manifest_verify_name(".quire", name), 0);
	/* The same content makes the same name (two clones committing the same merge). */
	char again[QUIRE_REV_MAX] = "";
	m = started(QUIRE_REV_PENDING, "rev-0001");
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, again), 0);
	json_decref(m);
	assert_string_equal(again, name);
	/* Another parent, another name. */
	m = started(QUIRE_REV_PENDING, name);
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, again), 0);
	json_decref(m);
	assert_string_not_equal(again, name);
	assert_int_equal(quire_manifest_is_ancestor(".quire", "rev-0001", again), 1);
	assert_int_equal(quire_manifest_is_ancestor(".quire", again, "rev-0001"), 0);
	tu_write(".", ".quire/manifests/notes.txt", "x");
	assert_int_equal(quire_manifest_list(".quire", &names, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[2], "rev-0001");
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
	/* A changed byte no longer matches the name. */
	char *path = NULL;
	assert_true(asprintf(&path, ".quire/manifests/%s.json", name) > 0);
	char *text = tu_slurp(path);
	char *at = strstr(text, "\"Chapters\"");
	at[1] = 'c';
	tu_write(".", path, text);
	assert_int_equal(quire_manifest_verify_name(".quire", name), QUIRE_ECORRUPT);
	free(text);
	free(path);
}

static void test_heads(void **state)
{
	(void)state;
	char name[QUIRE_REV_MAX], a[QUIRE_REV_MAX], b[QUIRE_REV_MAX];
	json_t *m = started(QUIRE_REV_PENDING, NULL);
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, name), 0);
	json_decref(m);
	m = started(QUIRE_REV_PENDING, name);
	json_object_set_new(m, "message", json_string("a"));
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, a), 0);
	json_decref(m);
	m = started(QUIRE_REV_PENDING, name);
	json_object_set_new(m, "message", json_string("b"));
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, b), 0);
	json_decref(m);
	/* What git's union merge leaves, or its conflict markers: both heads, and an ancestor
	 * of one of them that is dropped. */
	char *text = NULL;
	assert_true(asprintf(&text, "<<<<<<< HEAD\n%s\n%s\n=======\n%s\n>>>>>>> theirs\n", a, name,
			     b) > 0);
	tu_write(".", ".quire/current", text);
	free(text);
	char **heads = NULL;
	size_t n = 0;
	assert_int_equal(quire_manifest_head_list(".quire", &heads, &n), 0);
	assert_int_equal(n, 3);
	for (size_t k = 0; k < n; k++)
		free(heads[k]);
	free(heads);
	assert_int_equal(quire_manifest_heads(".quire", &heads, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(heads[0], a);
	assert_string_equal(heads[1], b);
	for (size_t k = 0; k < n; k++)
		free(heads[k]);
	free(heads);
	char *cur = NULL;
	assert_int_equal(quire_manifest_current(".quire", &cur), QUIRE_ECONFLICT);
	assert_null(cur);
	tu_write(".", ".quire/current", "not a revision\n");
	assert_int_equal(quire_manifest_current(".quire", &cur), QUIRE_ECORRUPT);
}

/* An entry: shown output d (take n), the takes listed, status. */
static json_t *entry(const char *status, const char *d, int n, const char *takes)
{
	json_t *e = json_pack("{s:s,s:s,s:s,s:i,s:s,s:[]}", "status", status, "digest", d,
			      "fingerprint", d, "take", n, "ext", "md", "takes");
	for (int k = 0; takes[k]; k++) {
		char dg[80];
		snprintf(dg, sizeof(dg), "sha256:%064d", takes[k] - '0');
		json_array_append_new(
			json_object_get(e, "takes"),
			json_pack("{s:i,s:s,s:s}", "take", k, "digest", dg, "fingerprint", dg));
	}
	return e;
}

static void commit_rev(json_t *m, const char *parent, char *name)
{
	json_object_set_new(m, "revision", json_string(QUIRE_REV_PENDING));
	json_object_set_new(m, "parent", parent ? json_string(parent) : json_null());
	assert_int_equal(quire_manifest_write_from(".quire", QUIRE_REV_PENDING, m, NULL, name), 0);
	json_decref(m);
}

/* Heads a and b in .quire/current, merged and committed as a writer does; the open store. */
static struct quire_store *commit_merge(const char *a, const char *b, char *merged)
{
	char *cur = NULL;
	assert_true(asprintf(&cur, "%s\n%s\n", a, b) > 0);
	tu_write(".", ".quire/current", cur);
	free(cur);
	struct quire_store *st = NULL;
	assert_int_equal(quire_store_open(&st, ".quire", 0), 0);
	json_t *pm = NULL;
	assert_int_equal(quire_merge_preview(".", ".quire", st, &pm), 0);
	assert_int_equal(quire_merge_commit(".", ".quire", st, pm, merged, NULL), 0);
	json_decref(pm);
	return st;
}

static void test_merge_three_way(void **state)
{
	(void)state;
	char o[QUIRE_REV_MAX], a[QUIRE_REV_MAX], b[QUIRE_REV_MAX];
	const char *d1 = "sha256:0000000000000000000000000000000000000000000000000000000000000001",
		   *d2 = "sha256:0000000000000000000000000000000000000000000000000000000000000002",
		   *d3 = "sha256:0000000000000000000000000000000000000000000000000000000000000003";
	json_t *m = started("x", NULL);
	json_t *arts = json_object_get(m, "artefacts");
	json_object_set_new(arts, "X", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "Y", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "Z", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "W", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "V", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "U", entry("clean", d1, 0, "1"));
	commit_rev(m, NULL, o);
	/* a: X regenerated and approved, W removed; b: X regenerated with a note, Y written by
	 * hand, Z regenerated. */
	m = started("x", o);
	arts = json_object_get(m, "artefacts");
	json_t *x = entry("clean", d2, 1, "12");
	json_object_set_new(x, "approved_digest", json_string(d2));
	json_object_set_new(arts, "X", x);
	json_object_set_new(arts, "Y", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "Z", entry("clean", d1, 0, "1"));
	json_object_set_new(arts, "V", entry("pending-review", d2, 1, "12"));
	x = entry("clean", d2, 1, "12");
	json_object_set_new(x, "approved_digest", json_string(d2));
	json_object_set_new(x, "note", json_string("a's"));
	json_object_set_new(arts, "U", x);
	json_object_set_new(m, "message", json_string("a"));
	commit_rev(m, o, a);
	m = started("x", o);
	arts = json_object_get(m, "artefacts");
	x = entry("clean", d3, 1, "13");
	json_object_set_new(x, "feedback", json_pack("[s]", "shorter"));
	json_object_set_new(arts, "X", x);
	json_object_set_new(arts, "Y", entry("user-edited", d3, 0, "1"));
	json_object_set_new(arts, "Z", entry("clean", d2, 1, "12"));
	json_object_set_new(arts, "W", entry("clean", d1, 0, "1"));
	x = entry("clean", d2, 1, "12");
	json_object_set_new(x, "approved_digest", json_string(d2));
	json_object_set_new(x, "note", json_string("b's"));
	json_object_set_new(arts, "V", x);
	json_object_set_new(arts, "U", entry("pending-review", d2, 1, "12"));
	json_object_set_new(m, "message", json_string("b"));
	commit_rev(m, o, b);

	json_t *mm = NULL;
	assert_int_equal(quire_merge_build(".", ".quire", NULL, a, b, &mm), 0);
	/* Without a store, the first parent is the first by name. */
	int a_first = strcmp(a, b) < 0;
	const json_t *p = json_object_get(mm, "parents");
	assert_string_equal(json_string_value(json_array_get(p, 0)), a_first ? a : b);
	assert_string_equal(json_string_value(json_array_get(p, 1)), a_first ? b : a);
	assert_string_equal(json_string_value(json_object_get(mm, "merge_base")), o);
	arts = json_object_get(mm, "artefacts");
	/* Both changed X: the first parent's output shown, every take of both kept. */
	x = json_object_get(arts, "X");
	assert_string_equal(json_string_value(json_object_get(x, "digest")), a_first ? d2 : d3);
	assert_int_equal(json_array_size(json_object_get(x, "takes")), 3);
	/* a's approval stands for its output; b's note is kept. */
	if (a_first)
		assert_string_equal(json_string_value(json_object_get(x, "approved_digest")), d2);
	assert_int_equal(json_array_size(json_object_get(x, "feedback")), 1);
	/* Only b changed Y (its hand edit) and Z; only a removed W. */
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(arts, "Y"), "status")),
		"user-edited");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(arts, "Z"), "digest")), d2);
	assert_null(json_object_get(arts, "W"));
	/* Approved on one side, waiting for review on the other: approved (either way round,
	 * so whichever side is first). */
	for (const char *k = "VU"; *k; k++) {
		const json_t *v = json_object_get(arts, (char[2]){ *k, 0 });
		assert_string_equal(json_string_value(json_object_get(v, "status")), "clean");
		assert_string_equal(json_string_value(json_object_get(v, "approved_digest")), d2);
	}
	/* X as merged, kept past the merge it belongs to. */
	json_t *xm = json_deep_copy(x);
	json_decref(mm);

	/* A hand edit beats a regeneration whichever side is first. */
	m = started("x", a);
	json_object_set_new(json_object_get(m, "artefacts"), "Y", entry("clean", d2, 1, "12"));
	json_object_set_new(json_object_get(m, "artefacts"), "X", xm);
	char a2[QUIRE_REV_MAX];
	commit_rev(m, a, a2);
	assert_int_equal(quire_merge_build(".", ".quire", NULL, a2, b, &mm), 0);
	const json_t *y = json_object_get(json_object_get(mm, "artefacts"), "Y");
	assert_string_equal(json_string_value(json_object_get(y, "status")), "user-edited");
	assert_string_equal(json_string_value(json_object_get(y, "digest")), d3);
	json_decref(mm);

	/* The writer's merge commits it: one head again, two parents. */
	char merged[QUIRE_REV_MAX];
	struct quire_store *st = commit_merge(a2, b, merged);
	quire_store_close(st);
	assert_true(quire_rev_is_digest(merged));
	char *cur = NULL;
	assert_int_equal(quire_manifest_current(".quire", &cur), 0);
	assert_string_equal(cur, merged);
	free(cur);
	char *ps[2];
	size_t np = 0;
	assert_int_equal(quire_manifest_parents(".quire", merged, ps, &np), 0);
	assert_int_equal(np, 2);
	free(ps[0]);
	free(ps[1]);
}

/* A take accepted with 'run --touch' was not made for its fingerprint: a merge does not put
 * it in the action cache; a generated one it does. */
static void test_merge_accepted_not_cached(void **state)
{
	(void)state;
	struct quire_digest g, t;
	assert_int_equal(quire_blob_put(".quire", "made", 4, &g), 0);
	assert_int_equal(quire_blob_put(".quire", "kept", 4, &t), 0);
	char o[QUIRE_REV_MAX], a[QUIRE_REV_MAX], b[QUIRE_REV_MAX];
	json_t *m = started("x", NULL);
	commit_rev(m, NULL, o);
	m = started("x", o);
	json_object_set_new(m, "message", json_string("a"));
	commit_rev(m, o, a);
	m = started("x", o);
	json_t *e =
		json_pack("{s:s,s:s,s:s,s:i,s:[{s:i,s:s,s:s},{s:i,s:s,s:s,s:b}]}", "status",
			  "accepted", "digest", t.s, "fingerprint", "sha256:fp-new", "take", 1,
			  "takes", "take", 0, "digest", g.s, "fingerprint", "sha256:fp-old", "take",
			  1, "digest", t.s, "fingerprint", "sha256:fp-new", "accepted", 1);
	json_object_set_new(json_object_get(m, "artefacts"), "X", e);
	commit_rev(m, o, b);
	char merged[QUIRE_REV_MAX];
	struct quire_store *st = commit_merge(a, b, merged);
	json_t *ac = NULL;
	assert_int_equal(quire_store_ac_get(st, "sha256:fp-old", &ac), 0);
	assert_non_null(ac);
	json_decref(ac);
	ac = NULL;
	assert_int_equal(quire_store_ac_get(st, "sha256:fp-new", &ac), 0);
	assert_null(ac);
	quire_store_close(st);
}

static void test_fold_run_start(void **state)
{
	(void)state;
	json_t *m = quire_manifest_empty();
	assert_true(json_is_null(json_object_get(m, "revision")));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 0);

	json_t *data = json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s,s:s}}}", "revision", "rev-0002",
				 "parent", "rev-0001", "files", "inputs.yaml", D1, "inputs", "Tone",
				 "digest", D2, "value", "warm");
	quire_manifest_apply(m, 1700000000LL * 1000000000, "run.start", NULL, data);
	assert_string_equal(json_string_value(json_object_get(m, "revision")), "rev-0002");
	assert_string_equal(json_string_value(json_object_get(m, "parent")), "rev-0001");
	assert_true(json_equal(json_object_get(m, "files"), json_object_get(data, "files")));
	assert_true(json_equal(json_object_get(m, "inputs"), json_object_get(data, "inputs")));
	assert_string_equal(json_string_value(json_object_get(m, "created")),
			    "2023-11-14T22:13:20Z");
	json_decref(data);
	json_decref(m);
}

/* A rewind's events, both shapes: an older quire's revision.restored replaces every artefact
 * and file (a killed rewind it recorded is still committed so); this quire's names the files
 * that differ, and each artefact that differs comes as artefact.restored (null: gone). */
static void test_fold_rewind_shapes(void **state)
{
	(void)state;
	json_t *m = quire_manifest_empty();
	json_t *start = json_pack("{s:s,s:n,s:{s:s,s:s}}", "revision", "r2", "parent", "files",
				  "inputs.yaml", D1, "prompts/a.md", D2);
	quire_manifest_apply(m, 0, "run.start", NULL, start);
	json_t *a = json_pack("{s:s,s:s,s:i}", "digest", D1, "status", "clean", "take", 1);
	json_t *b = json_pack("{s:s,s:s,s:i}", "digest", D2, "status", "clean", "take", 2);
	quire_manifest_apply(m, 0, "artefact.produced", "A", a);
	quire_manifest_apply(m, 0, "artefact.produced", "B", b);
	json_t *keep = json_deep_copy(json_object_get(json_object_get(m, "artefacts"), "A"));

	/* This quire's: A stays as it is, B as it was, C gone, a file changed, one gone. */
	json_t *c = json_pack("{s:s,s:s}", "digest", D2, "status", "clean");
	quire_manifest_apply(m, 0, "artefact.produced", "C", c);
	json_t *rs = json_pack("{s:s,s:{s:{s:s}},s:{s:s,s:n}}", "from", "r1", "inputs", "Tone",
			       "value", "warm", "files_changed", "inputs.yaml", D2, "prompts/a.md");
	quire_manifest_apply(m, 0, "revision.restored", NULL, rs);
	json_t *bwas = json_pack("{s:s,s:s,s:i,s:[]}", "digest", D1, "status", "failed", "take", 1,
				 "takes");
	quire_manifest_apply(m, 0, "artefact.restored", "B", bwas);
	quire_manifest_apply(m, 0, "artefact.restored", "C", json_null());
	const json_t *arts = json_object_get(m, "artefacts");
	assert_int_equal(json_object_size(arts), 2);
	assert_true(json_equal(json_object_get(arts, "A"), keep));
	assert_true(json_equal(json_object_get(arts, "B"), bwas));
	assert_null(json_object_get(arts, "C"));
	json_t *files = json_pack("{s:s}", "inputs.yaml", D2);
	assert_true(json_equal(json_object_get(m, "files"), files));
	assert_true(json_equal(json_object_get(m, "inputs"), json_object_get(rs, "inputs")));
	assert_string_equal(json_string_value(json_object_get(m, "restored_from")), "r1");

	/* An older quire's: the revision's artefacts and files whole. */
	json_t *old = json_pack("{s:s,s:{s:O},s:{},s:{s:s}}", "from", "r0", "artefacts", "A", keep,
				"inputs", "files", "prompts/a.md", D1);
	quire_manifest_apply(m, 0, "revision.restored", NULL, old);
	assert_true(json_equal(json_object_get(m, "artefacts"), json_object_get(old, "artefacts")));
	assert_true(json_equal(json_object_get(m, "files"), json_object_get(old, "files")));
	assert_string_equal(json_string_value(json_object_get(m, "restored_from")), "r0");
	json_decref(old);
	json_decref(files);
	json_decref(bwas);
	json_decref(rs);
	json_decref(c);
	json_decref(keep);
	json_decref(a);
	json_decref(b);
	json_decref(start);
	json_decref(m);
}

static void test_fold_artefacts(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	json_t *prod = json_pack("{s:s,s:s,s:s,s:s,s:s}", "digest", D1, "fingerprint", D2,
				 "producer", "Chapter", "role", "writer", "ext", "md");
	quire_manifest_apply(m, 0, "artefact.produced", "Chapter[0]", prod);
	assert_string_equal(status_of(m, "Chapter[0]"), "clean");
	/* The manifest keeps its own copy: later changes to the event data do not leak in. */
	json_object_set_new(prod, "digest", json_string(D2));
	const json_t *e = json_object_get(json_object_get(m, "artefacts"), "Chapter[0]");
	assert_string_equal(json_string_value(json_object_get(e, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(e, "producer")), "Chapter");
	assert_int_equal(count_of(m, "produced"), 1);

	quire_manifest_apply(m, 0, "artefact.cached", "Chapter[1]", prod);
	assert_string_equal(status_of(m, "Chapter[1]"), "clean");
	assert_int_equal(count_of(m, "cached"), 1);
	json_decref(prod);

	/* A failed re-run of an artefact that has output: stale, old digest kept. */
	json_t *fail = json_pack("{s:s,s:s,s:s}", "error", "mock: injected failure", "producer",
				 "Chapter", "role", "writer");
	quire_manifest_apply(m, 0, "artefact.failed", "Chapter[0]", fail);
	e = json_object_get(json_object_get(m, "artefacts"), "Chapter[0]");
	assert_string_equal(status_of(m, "Chapter[0]"), "stale");
	assert_string_equal(json_string_value(json_object_get(e, "digest")), D1);
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "mock: injected failure");

	/* A failure with no earlier output. */
	quire_manifest_apply(m, 0, "artefact.failed", "Chapter[2]", fail);
	e = json_object_get(json_object_get(m, "artefacts"), "Chapter[2]");
	assert_string_equal(status_of(m, "Chapter[2]"), "failed");
	assert_null(json_object_get(e, "digest"));
	assert_string_equal(json_string_value(json_object_get(e, "producer")), "Chapter");
	assert_string_equal(json_string_value(json_object_get(e, "role")), "writer");
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "mock: injected failure");
	json_decref(fail);

	/* Blocked: same rule. */
	json_t *blk = json_pack("{s:s,s:s,s:s}", "error", "blocked by Chapter[2], which failed",
				"producer", "Scene", "role", "writer");
	quire_manifest_apply(m, 0, "artefact.blocked", "Scene[2][0]", blk);
	assert_string_equal(status_of(m, "Scene[2][0]"), "blocked");
	quire_manifest_apply(m, 0, "artefact.blocked", "Chapter[1]", blk);
	assert_string_equal(status_of(m, "Chapter[1]"), "stale");
	e = json_object_get(json_object_get(m, "artefacts"), "Chapter[1]");
	assert_string_equal(json_string_value(json_object_get(e, "digest")), D2);
	json_decref(blk);

	/* A later success makes a failed artefact clean again and drops its error. */
	json_t *ok = json_pack("{s:s,s:s}", "digest", D2, "ext", "md");
	quire_manifest_apply(m, 0, "artefact.produced", "Chapter[2]", ok);
	json_decref(ok);
	assert_string_equal(status_of(m, "Chapter[2]"), "clean");
	e = json_object_get(json_object_get(m, "artefacts"), "Chapter[2]");
	assert_null(json_object_get(e, "error"));

	quire_manifest_apply(m, 0, "artefact.removed", "Scene[2][0]", NULL);
	assert_null(json_object_get(json_object_get(m, "artefacts"), "Scene[2][0]"));
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 3);

	assert_int_equal(count_of(m, "produced"), 2);
	assert_int_equal(count_of(m, "cached"), 1);
	assert_int_equal(count_of(m, "failed"), 2);
	assert_int_equal(count_of(m, "blocked"), 2);
	assert_int_equal(count_of(m, "removed"), 1);

	/* Unknown kinds are ignored. */
	json_t *copy = json_deep_copy(m);
	quire_manifest_apply(m, 0, "artefact.teleported", "Chapter[0]", NULL);
	assert_true(json_equal(copy, m));
	json_decref(copy);

	/* The next run's start keeps the artefacts but starts counting afresh. */
	json_t *data = json_pack("{s:s,s:s,s:{},s:{}}", "revision", "rev-0002", "parent",
				 "rev-0001", "files", "inputs");
	quire_manifest_apply(m, 0, "run.start", NULL, data);
	json_decref(data);
	assert_int_equal(json_object_size(json_object_get(m, "artefacts")), 3);
	assert_int_equal(json_object_size(json_object_get(m, "counts")), 0);
	assert_string_equal(status_of(m, "Chapter[0]"), "stale");
	json_decref(m);
}

/* quire's own writer gives the bytes jansson's sorted, indented dump gives, on every kind of
 * value and on strings that need escapes (so existing manifests and new ones read alike). */
static void test_text_matches_jansson(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	json_t *odd = json_pack("{s:s,s:s,s:s,s:[],s:{},s:[i,I,b,b,n],s:{s:{s:[s]}}}", "quote",
				"say \"hi\" \\ back", "controls", "a\tb\nc\rd\be\ff\x01g\x1f",
				"utf8", "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x93\x96 /slash\x7f",
				"empty_a", "empty_o", "mixed", -42, (json_int_t)1 << 62, 1, 0, "zz",
				"b", "a", "Scene[0][1]");
	json_object_set_new(m, "odd", odd);
	json_object_set_new(m, "B", json_string("capital sorts first"));
	char *want = json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2));
	struct quire_buf got = QUIRE_BUF_INIT;
	quire_manifest_text(m, &got);
	assert_non_null(want);
	assert_int_equal(got.len, strlen(want) + 1);
	assert_memory_equal(got.ptr, want, strlen(want));
	assert_int_equal(got.ptr[got.len - 1], '\n');
	quire_buf_release(&got);
	free(want);
	json_decref(m);
}

/* The compact index is a cache: it answers only when it is exactly what quire wrote for the
 * manifest as it is on disk; a damaged one (bytes that are not UTF-8, a NUL, a bad digest) is
 * ignored, never trusted or crashed on. */
static void test_index_round_trip_and_damage(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	json_t *art = json_pack("{s:s,s:s,s:s,s:i,s:i,s:[s]}", "digest", D1, "fingerprint", D2,
				"ext", "md", "size", 10, "take", 2, "feedback", "more\tdetail");
	quire_manifest_apply(m, 0, "artefact.produced", "Chapter[0]", art);
	json_decref(art);
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	json_t *idx = NULL;
	struct quire_mbase *base = NULL;
	quire_manifest_load_index(".quire", "rev-0001", &idx, &base);
	assert_non_null(idx);
	assert_non_null(base);
	/* The artefacts are the base's rows; the slim manifest's own are an empty overlay. */
	assert_int_equal(json_object_size(json_object_get(idx, "artefacts")), 0);
	const struct quire_mrow *e = quire_mbase_find(base, "Chapter[0]");
	assert_non_null(e);
	assert_null(quire_mbase_find(base, "Chapter[1]"));
	assert_string_equal(e->digest, D1);
	assert_string_equal(e->fingerprint, D2);
	assert_string_equal(e->status, "clean");
	assert_string_equal(e->ext, "md");
	assert_int_equal(e->take, 2);
	assert_int_equal(e->size, 10);
	assert_null(e->approved_digest);
	json_t *fb = json_loads(e->feedback, 0, NULL);
	assert_string_equal(json_string_value(json_array_get(fb, 0)), "more\tdetail");
	json_decref(fb);
	quire_mbase_free(base);
	json_decref(idx);

	char *good = tu_slurp(".quire/runs/rev-0001-index.tsv");
	const char *damage[][2] = { { "Chapter[0]", "Chapter[\xff]" },
				    { "Chapter[0]", "Chap\n" },
				    { D1, "sha256:nothex" } };
	for (size_t k = 0; k < sizeof(damage) / sizeof(damage[0]); k++) {
		char *at = strstr(good, damage[k][0]);
		assert_non_null(at);
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_buf_add(&b, good, (size_t)(at - good));
		quire_buf_puts(&b, damage[k][1]);
		quire_buf_puts(&b, at + strlen(damage[k][0]));
		FILE *f = fopen(".quire/runs/rev-0001-index.tsv", "wb");
		assert_non_null(f);
		fwrite(b.ptr, 1, b.len, f);
		fclose(f);
		quire_buf_release(&b);
		quire_manifest_load_index(".quire", "rev-0001", &idx, &base);
		assert_null(idx);
		assert_null(base);
	}
	/* A NUL cut into it. */
	FILE *f = fopen(".quire/runs/rev-0001-index.tsv", "wb");
	assert_non_null(f);
	size_t hl = (size_t)(strchr(good, '\n') - good) + 1;
	fwrite(good, 1, hl, f);
	fputc('\0', f);
	fwrite(good + hl, 1, strlen(good) - hl, f);
	fclose(f);
	quire_manifest_load_index(".quire", "rev-0001", &idx, &base);
	assert_null(idx);
	free(good);
	json_decref(m);
}

static void test_fold_interrupted_flag(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	json_t *end = json_pack("{s:b}", "interrupted", 1);
	quire_manifest_apply(m, 0, "run.end", NULL, end);
	json_decref(end);
	assert_true(json_is_true(json_object_get(m, "interrupted")));
	json_t *data = json_pack("{s:s,s:s,s:{},s:{}}", "revision", "rev-0002", "parent",
				 "rev-0001", "files", "inputs");
	quire_manifest_apply(m, 0, "run.start", NULL, data);
	json_decref(data);
	assert_null(json_object_get(m, "interrupted"));
	end = json_pack("{s:b}", "interrupted", 0);
	quire_manifest_apply(m, 0, "run.end", NULL, end);
	json_decref(end);
	assert_null(json_object_get(m, "interrupted"));
	json_decref(m);
}

extern size_t quire__manifest_raw_min;
extern size_t quire__manifest_map_keep;
extern size_t quire__manifest_spill_chunk;
extern size_t quire__manifest_spill_limit;

/* Applies one event to a slim manifest the way a run's commit does: from its canonical text,
 * large records kept as text (every record, when quire__manifest_raw_min is 0). */
static void apply_slim(json_t *m, struct quire_mbase *base, const char *kind, const char *subject,
		       json_t *data)
{
	char *text = data ? quire_json_canonical(data) : NULL;
	assert_int_equal(quire_manifest_fold_text(m, base, 1700000100LL * 1000000000, kind, subject,
						  text, text ? strlen(text) : 0, 1),
			 0);
	free(text);
	json_decref(data);
}

static json_t *produced(const char *digest, int take, const char *up)
{
	return json_pack("{s:s,s:s,s:s,s:i,s:i,s:{s:[[s,s]],s:i},s:s,s:{s:[s,s]}}", "digest",
			 digest, "fingerprint", D2, "ext", "md", "size", 10, "take", take, "deps",
			 "upstream", up, D1, "take", take, "producer", "Chapter", "params", "argv",
			 "cat", "{inputs}");
}

/* A commit folded onto the slim manifest (entries it did not touch copied from the parent's
 * text) writes the same bytes as folding onto the whole parsed manifest, and its own index
 * then reads back every entry, copied or new, as the full manifest has it. */
static void slim_commit_matches_full(void)
{
	json_t *m = started("rev-0001", NULL);
	const char *ids[] = { "Book", "Chapter[0]", "Chapter[1]", "Chapter[10]", "Chapter[2]" };
	for (size_t k = 0; k < 5; k++) {
		json_t *d = produced(D1, 0, "Outline");
		quire_manifest_apply(m, 0, "artefact.produced", ids[k], d);
		json_decref(d);
	}
	json_t *fail = json_pack("{s:s,s:s,s:s}", "error", "exit status 1\n\"quoted\"", "producer",
				 "Scene", "role", "scene");
	quire_manifest_apply(m, 0, "artefact.failed", "Scene[0][0]", fail);
	json_decref(fail);
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	json_decref(m);

	json_t *full = NULL, *slim = NULL;
	struct quire_mbase *base = NULL;
	assert_int_equal(quire_manifest_load(".quire", "rev-0001", &full), 0);
	quire_manifest_load_index(".quire", "rev-0001", &slim, &base);
	assert_non_null(slim);
	assert_non_null(base);
	/* The artefacts are rows of the base, with only the index's fields. */
	assert_int_equal(json_object_size(json_object_get(slim, "artefacts")), 0);
	assert_non_null(quire_mbase_find(base, "Chapter[1]"));

	json_t *start = json_pack("{s:s,s:s,s:{s:s},s:{}}", "revision", "rev-0002", "parent",
				  "rev-0001", "files", "inputs.yaml", D2, "inputs");
	quire_manifest_apply(full, 1700000100LL * 1000000000, "run.start", NULL, start);
	apply_slim(slim, base, "run.start", NULL, json_incref(start));
	struct {
		const char *kind, *subject;
		json_t *(*data)(void);
	} evs[] = {
		{ "artefact.produced", "Chapter[1]", NULL },
		{ "artefact.removed", "Chapter[10]", NULL },
		{ "artefact.produced", "Chapter[3]", NULL },
		{ "artefact.feedback", "Book", NULL },
		{ "artefact.feedback", "Chapter[1]", NULL }, /* a compacted entry changed again */
		{ "artefact.blocked", "Scene[0][0]", NULL }
	};
	for (size_t k = 0; k < sizeof(evs) / sizeof(evs[0]); k++) {
		json_t *d = !strcmp(evs[k].kind, "artefact.produced")
				    ? produced(D2, 1, "Chapter[0]")
			    : !strcmp(evs[k].kind, "artefact.feedback")
				    ? json_pack("{s:s}", "text", "shorter")
				    : json_pack("{s:s}", "error", "blocked by Outline");
		quire_manifest_apply(full, 1700000100LL * 1000000000, evs[k].kind, evs[k].subject,
				     d);
		apply_slim(slim, base, evs[k].kind, evs[k].subject, json_incref(d));
		json_decref(d);
	}
	assert_int_equal(quire_manifest_write_from(".quire", "rev-0002", slim, base, NULL), 0);
	quire_mbase_free(base);
	struct quire_buf want = QUIRE_BUF_INIT;
	quire_manifest_text(full, &want);
	char *got = tu_slurp(".quire/manifests/rev-0002.json");
	assert_string_equal(got, want.ptr);
	/* Copied untouched: the entry the run did not change is in the new text, byte for byte. */
	assert_non_null(strstr(got, "\"Chapter[2]\": {"));

	json_t *slim2 = NULL;
	quire_manifest_load_index(".quire", "rev-0002", &slim2, &base);
	assert_non_null(slim2);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(full, "artefacts"), key, v) {
		json_t *e = NULL;
		assert_int_equal(quire_manifest_materialise(slim2, base, key, &e), 0);
		assert_non_null(e);
		assert_true(json_equal(e, v));
	}
	size_t nrows;
	const struct quire_mrow *rows = quire_mbase_rows(base, &nrows);
	assert_int_equal(nrows, json_object_size(json_object_get(full, "artefacts")));
	for (size_t k = 0; k < nrows; k++) {
		/* Each row as the full manifest has it, in id order. */
		const json_t *fe = json_object_get(json_object_get(full, "artefacts"), rows[k].id);
		assert_non_null(fe);
		assert_true(k == 0 || strcmp(rows[k - 1].id, rows[k].id) < 0);
		assert_string_equal(rows[k].status,
				    json_string_value(json_object_get(fe, "status")));
		if (json_object_get(fe, "digest"))
			assert_string_equal(rows[k].digest,
					    json_string_value(json_object_get(fe, "digest")));
		else
			assert_null(rows[k].digest);
		assert_int_equal(rows[k].take, json_integer_value(json_object_get(fe, "take")));
	}
	json_decref(slim2);
	quire_mbase_free(base);

	/* An index whose byte ranges do not follow the manifest's layout (one shifted by a
	 * byte, the file itself unchanged) is not trusted: copied unparsed, a wrong range would
	 * end up in the next revision. */
	char *idx = tu_slurp(".quire/runs/rev-0002-index.tsv");
	char *second = strchr(strchr(idx, '\n') + 1, '\n') + 1; /* the second artefact's line */
	char *eol = strchr(second, '\n');
	char *lentab = eol;
	while (*--lentab != '\t')
		;
	char *offtab = lentab;
	while (*--offtab != '\t')
		;
	long off = strtol(offtab + 1, NULL, 10);
	struct quire_buf shifted = QUIRE_BUF_INIT;
	quire_buf_add(&shifted, idx, (size_t)(offtab + 1 - idx));
	quire_buf_printf(&shifted, "%ld", off + 1);
	quire_buf_puts(&shifted, lentab);
	FILE *fi = fopen(".quire/runs/rev-0002-index.tsv", "wb");
	assert_non_null(fi);
	fwrite(shifted.ptr, 1, shifted.len, fi);
	fclose(fi);
	quire_manifest_load_index(".quire", "rev-0002", &slim2, &base);
	assert_null(slim2);
	assert_null(base);
	fi = fopen(".quire/runs/rev-0002-index.tsv", "wb");
	fwrite(idx, 1, strlen(idx), fi);
	fclose(fi);
	quire_manifest_load_index(".quire", "rev-0002", &slim2, &base);
	assert_non_null(slim2); /* restored, it is trusted again */
	json_decref(slim2);
	quire_mbase_free(base);
	quire_buf_release(&shifted);
	free(idx);

	/* Damaged in place with its size and mtime kept: the entry is refused, naming the file. */
	struct stat st;
	assert_int_equal(stat(".quire/manifests/rev-0002.json", &st), 0);
	char *at = strstr(got, "\"Chapter[2]\": {");
	at[strlen("\"Chapter[2]\": ")] = '[';
	FILE *f = fopen(".quire/manifests/rev-0002.json", "r+b");
	assert_non_null(f);
	fwrite(got, 1, strlen(got), f);
	fclose(f);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, ".quire/manifests/rev-0002.json", ts, 0), 0);
	quire_manifest_load_index(".quire", "rev-0002", &slim2, &base);
	assert_non_null(slim2);
	json_t *e = NULL;
	assert_int_equal(quire_manifest_materialise(slim2, base, "Chapter[2]", &e), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), ".quire/manifests/rev-0002.json"));
	assert_non_null(strstr(quire_error_last(), "Chapter[2]"));
	quire_error_clear();
	json_decref(slim2);
	quire_mbase_free(base);
	free(got);
	quire_buf_release(&want);
	json_decref(start);
	json_decref(full);
	json_decref(slim);
}

static void test_slim_commit_matches_full(void **state)
{
	(void)state;
	size_t was = quire__manifest_raw_min, keep = quire__manifest_map_keep,
	       chunk = quire__manifest_spill_chunk, limit = quire__manifest_spill_limit;
	for (int kept = 0; kept < 3; kept++) {
		/* The third time, the spill file stops taking texts after its first 2,000 bytes
		 * (a full disk): what it took is read from it, the rest from memory. */
		quire__manifest_spill_limit = kept == 2 ? 2000 : limit;
		/* Once with every record parsed, the map kept and changed entries in memory (no
		 * .quire/tmp for their spill file); once with every record kept as text, the map's
		 * pages let go after every entry read, and every changed entry written to the
		 * spill file at once. */
		quire__manifest_raw_min = kept ? 0 : (size_t)-1;
		quire__manifest_map_keep = kept ? 1 : keep;
		quire__manifest_spill_chunk = kept ? 1 : chunk;
		if (kept)
			assert_int_equal(mkdir(".quire/tmp", 0755), 0);
		slim_commit_matches_full();
		tu_rmrf(".quire");
		assert_int_equal(mkdir(".quire", 0755), 0);
	}
	quire__manifest_raw_min = was;
	quire__manifest_map_keep = keep;
	quire__manifest_spill_chunk = chunk;
	quire__manifest_spill_limit = limit;
}

/* Entry i of test_spill_reads_back: its text, of a size that varies (one past the spill's
 * read-ahead of 256 KiB), compacted into m (spilled through base, or kept in memory). */
static void spill_entry(json_t *m, struct quire_mbase *base, int i)
{
	char id[32];
	snprintf(id, sizeof(id), "Scene[%d]", i);
	size_t n = i == 7 ? 300000 : 50 + (size_t)(i * 37) % 3000;
	char *body = malloc(n + 1);
	assert_non_null(body);
	for (size_t k = 0; k < n; k++)
		body[k] = (char)('a' + (k + (size_t)i) % 26);
	body[n] = '\0';
	json_object_set_new(
		json_object_get(m, "artefacts"), id,
		json_pack("{s:s,s:s,s:s}", "status", "fresh", "digest",
			  "sha256:0000000000000000000000000000000000000000000000000000000000000000",
			  "note", body));
	free(body);
	quire__mb_compact(m, base, id);
}

/* Entry i's text read back from m (spilled through base) is the one kept in want. */
static void same_text(const json_t *m, struct quire_mbase *base, const json_t *want, int i)
{
	char id[32];
	snprintf(id, sizeof(id), "Scene[%d]", i);
	struct quire_buf got = QUIRE_BUF_INIT, exp = QUIRE_BUF_INIT;
	int f1 = 0, f2 = 0;
	assert_int_equal(quire__mb_entry_text(m, base, id, &got, &f1), 0);
	assert_int_equal(quire__mb_entry_text(want, NULL, id, &exp, &f2), 0);
	assert_true(f1 && f2);
	assert_int_equal(got.len, exp.len);
	assert_memory_equal(got.ptr, exp.ptr, exp.len);
	quire_buf_release(&got);
	quire_buf_release(&exp);
}

/* The texts a commit spilled read back as they were, in any order, also those spilled after
 * a read brought the file's next bytes in ahead, and those still in memory. */
static void test_spill_reads_back(void **state)
{
	(void)state;
	size_t chunk = quire__manifest_spill_chunk;
	assert_int_equal(mkdir(".quire/tmp", 0755), 0);
	struct quire_mbase *base = quire__mbase_spill_only(".quire");
	json_t *m = json_pack("{s:{}}", "artefacts"), *want = json_pack("{s:{}}", "artefacts");
	enum { N = 600 };
	for (int i = 0; i < N; i++) {
		/* Written to the file one by one, but the last ten (kept in memory). */
		quire__manifest_spill_chunk = i < N - 10 ? 1 : chunk;
		spill_entry(m, base, i);
		spill_entry(want, NULL, i);
		if (i % 97 != 96)
			continue;
		/* A read part way (the file's bytes so far brought in), then more spilled. */
		for (int j = i; j >= 0; j -= 13)
			same_text(m, base, want, j);
	}
	/* Forwards, backwards and by strides across the file. */
	for (int pass = 0; pass < 3; pass++)
		for (int k = 0; k < N; k++)
			same_text(m, base, want,
				  pass == 0   ? k
				  : pass == 1 ? N - 1 - k
					      : (k * 211) % N);
	quire__manifest_spill_chunk = chunk;
	json_decref(m);
	json_decref(want);
	quire_mbase_free(base);
}

/* An event whose record is damaged is refused when its record would be kept as text (as when
 * it is parsed), naming the artefact; the manifest is left as it was. */
static void test_fold_text_refuses_damage(void **state)
{
	(void)state;
	size_t was = quire__manifest_raw_min;
	quire__manifest_raw_min = 0;
	json_t *m = started("rev-0001", NULL);
	static const char *const damaged[] = {
		"{\"deps\":{\"take\":tru},\"digest\":\"" D1 "\"}",
		"{\"deps\":{\"upstream\":[[\"a\",\"b\"]},\"digest\":\"" D1 "\"}",
		"{\"deps\":{\"note\":\"\xff\"},\"digest\":\"" D1 "\"}",
	};
	for (size_t k = 0; k < sizeof(damaged) / sizeof(damaged[0]); k++) {
		assert_int_equal(quire_manifest_fold_text(m, NULL, 0, "artefact.produced",
							  "Chapter[0]", damaged[k],
							  strlen(damaged[k]), 1),
				 QUIRE_ECORRUPT);
		assert_non_null(strstr(quire_error_last(), "Chapter[0]"));
		quire_error_clear();
		assert_null(json_object_get(json_object_get(m, "artefacts"), "Chapter[0]"));
	}
	quire__manifest_raw_min = was;
	json_decref(m);
}

/* One name table for event kinds: each has a distinct name that parses back, a fold, and a
 * place in docs/design-notes.md's list, which names no kind the table lacks. */
/* A revision's head read from the end of its manifest is what a whole parse gives, for a
 * small manifest (read whole), a large one (read from its last MiB), one whose artefacts hold
 * text that looks like keys, and a file not laid out as quire writes it. */
static void check_head(const char *rev)
{
	json_t *h = NULL, *w = NULL;
	long long nh = -1, nw = -2;
	assert_int_equal(quire_manifest_head(".quire", rev, &h, &nh), 0);
	assert_int_equal(quire_manifest_load_whole(".quire", rev, &w, &nw), 0);
	assert_true(json_equal(h, w));
	assert_int_equal(nh, nw);
	json_decref(h);
	json_decref(w);
}

static void test_head_from_the_end(void **state)
{
	(void)state;
	json_t *m = started("rev-0001", NULL);
	quire_manifest_apply(m, 1, "run.end", NULL, NULL);
	assert_int_equal(quire_manifest_write(".quire", "rev-0001", m), 0);
	check_head("rev-0001");
	json_t *arts = json_object_get(m, "artefacts");
	for (int k = 0; k < 6000; k++) {
		char id[32];
		snprintf(id, sizeof(id), "Scene[%d][%d]", k / 100, k % 100);
		json_object_set_new(arts, id,
				    json_pack("{s:s,s:s,s:s,s:{s:s}}", "status", "clean", "digest",
					      D1, "fingerprint", D2, "deps", "note",
					      "\n  \"revision\": \"rev-0009\"\n    \"x\": {"));
	}
	json_object_set_new(m, "revision", json_string("rev-0002"));
	assert_int_equal(quire_manifest_write(".quire", "rev-0002", m), 0);
	struct stat st;
	assert_int_equal(stat(".quire/manifests/rev-0002.json", &st), 0);
	assert_true(st.st_size > (1 << 20)); /* read from its end */
	check_head("rev-0002");
	json_t *h = NULL;
	long long n = 0;
	assert_int_equal(quire_manifest_head(".quire", "rev-0002", &h, &n), 0);
	assert_int_equal(n, 6000);
	assert_null(json_object_get(h, "artefacts"));
	assert_string_equal(json_string_value(json_object_get(h, "revision")), "rev-0002");
	json_decref(h);
	/* Compact JSON, as another tool might write it: parsed whole. */
	char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	tu_write(".", ".quire/manifests/rev-0002.json", text);
	free(text);
	check_head("rev-0002");
	json_decref(m);
}

static void test_event_kinds_one_table(void **state)
{
	(void)state;
	for (int k = 0; k < QUIRE_EV_COUNT; k++) {
		assert_non_null(quire_evs[k].name);
		assert_int_equal(quire_ev_parse(quire_evs[k].name), k);
		assert_true(quire__manifest_has_fold(k));
	}
	assert_int_equal(quire_ev_parse("artefact.unheard_of"), -1);
	const char *root = getenv("QUIRE_SOURCE_ROOT");
	assert_non_null(root);
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/design-notes.md", root);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *list = strstr(text, "- Event kinds:");
	assert_non_null(list);
	const char *end = strstr(list, "\n- ");
	if (!end)
		end = list + strlen(list);
	int seen[QUIRE_EV_COUNT] = { 0 };
	for (const char *q = list; (q = strchr(q, '`')) && q < end;) {
		const char *e = strchr(q + 1, '`');
		assert_non_null(e);
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(e - q - 1), q + 1);
		q = e + 1;
		if (!strchr(name, '.') || strchr(name, ' '))
			continue; /* `quire edit`: a command, not a kind */
		int k = quire_ev_parse(name);
		if (k < 0)
			fail_msg("docs/design-notes.md lists an event kind quire does not have: %s",
				 name);
		seen[k] = 1;
	}
	for (int k = 0; k < QUIRE_EV_COUNT; k++)
		if (!seen[k])
			fail_msg("docs/design-notes.md does not list the event kind %s",
				 quire_evs[k].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_head_from_the_end, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rev_format_and_parse, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_current_pointer, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_then_load, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_missing_and_bad_name, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_rejects_malformed_json, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_rejects_revision_mismatch, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_heads, tu_setup_qdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_merge_three_way, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_merge_accepted_not_cached, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_names_by_digest, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fold_run_start, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fold_rewind_shapes, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fold_artefacts, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_text_matches_jansson, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_index_round_trip_and_damage, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fold_text_refuses_damage, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_spill_reads_back, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_slim_commit_matches_full, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test(test_event_kinds_one_table),
		cmocka_unit_test_setup_teardown(test_fold_interrupted_flag, tu_setup_qdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
