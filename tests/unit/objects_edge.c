/* Format 2's edges: indexes at the ends of their range, entries without a producer, damaged
 * and hostile deltas, a damaged subtree (valgrind: nothing leaks), and a randomised history
 * in which every revision made from its parent's tree must be the one a whole build makes. */
#include "testutil.h"

#include "core/json.h"
#include "core/objects.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/id.h"
#include "quire/manifest.h"

static char *qdir_of(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	return qdir;
}

/* Naive diff of two artefact maps: the changes update needs. */
static struct quire_rev2_change *changes(const json_t *fa, const json_t *ta, size_t *n)
{
	struct quire_rev2_change *ch =
		calloc(json_object_size(fa) + json_object_size(ta) + 1, sizeof(*ch));
	*n = 0;
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)ta, id, e) {
		json_t *was = json_object_get(fa, id);
		if (!was || !json_equal(was, e))
			ch[(*n)++] = (struct quire_rev2_change){ id, e };
	}
	json_object_foreach((json_t *)fa, id, e) {
		if (!json_object_get(ta, id))
			ch[(*n)++] = (struct quire_rev2_change){ id, NULL };
	}
	return ch;
}

/* build(m1) -> r1 (written), then update(r1, m1->m2) vs build(m2): returns whether equal. */
static int update_matches_build(struct quire_objs *o, json_t *m1, json_t *m2)
{
	char r1[65], r2[65], u[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	quire_objs_write_pack(o, r1);
	in.manifest = m2;
	in.parents[0] = r1;
	in.nparents = 1;
	in.generation = 2;
	assert_int_equal(quire_rev2_build(o, &in, r2), 0);
	size_t n;
	struct quire_rev2_change *ch =
		changes(json_object_get(m1, "artefacts"), json_object_get(m2, "artefacts"), &n);
	int err = quire_rev2_update(o, &in, r1, ch, n, u);
	free(ch);
	if (err) {
		print_message("update failed: %s\n", quire_error_last());
		return 0;
	}
	return !strcmp(u, r2);
}

/* An index of 2^60 or more needs 16 hex digits: the revision reads back. */
static void test_huge_index_round_trip(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = json_pack("{s{s{sss[I]ss}}}", "artefacts", "A[1152921504606846976]", "producer",
			      "A", "index", (json_int_t)1152921504606846976LL, "status", "clean");
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), 0);
	json_t *back = NULL;
	int err = quire_rev2_load(o, r, &back);
	if (err)
		print_message("load: %s\n", quire_error_last());
	assert_int_equal(err, 0);
	json_decref(back);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

/* An index past LLONG_MAX is refused: it would land on LLONG_MAX's key. */
static void test_index_overflow_refused(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = json_pack("{s{s{ss}s{ss}}}", "artefacts", "A[9223372036854775807]", "status",
			      "a", "A[9223372036854775808]", "status", "b");
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), QUIRE_ECORRUPT);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

/* An entry without "producer" (a blocked one has no "index"), its producer laid out anew:
 * the same revision as a whole build. */
static void test_relayout_entry_without_producer(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m1 = json_pack("{s{s{s[i]ss}}}", "artefacts", "A[1]", "index", 1, "status", "x");
	json_t *m2 = json_deep_copy(m1);
	json_object_set_new(json_object_get(m2, "artefacts"), "A[16]",
			    json_pack("{sss[i]}", "producer", "A", "index", 16));
	assert_true(update_matches_build(o, m1, m2));
	json_decref(m1);
	json_decref(m2);
	quire_objs_free(o);
	free(qdir);
}

/* Writes text as pack <name>.objects in qdir/revs. */
static void write_pack_text(const char *qdir, const char *name, const char *text)
{
	char rel[512];
	snprintf(rel, sizeof(rel), "revs/%s.objects", name);
	tu_write(qdir, rel, text);
}

static void hex_of(const char *s, char hex[65])
{
	struct quire_digest d;
	quire_hash_bytes(s, strlen(s), &d);
	memcpy(hex, d.s + 7, 65);
}

/* Damage in a delta (a missing base, a cycle of bases) is the object's damage, named with
 * its pack: QUIRE_ECORRUPT, not "no such object". */
static void test_delta_damage_named(void **state)
{
	char *qdir = qdir_of(state);
	char h1[65], h2[65], b[65], text[1024];
	hex_of("hello world", h1);
	hex_of("missing base", b);
	snprintf(text, sizeof(text), "quire-objects 1\n%s 15 %s\n0 0\nhello world\n", h1, b);
	write_pack_text(qdir, "aaaa", text);
	hex_of("one", h1);
	hex_of("two", h2);
	snprintf(text, sizeof(text), "quire-objects 1\n%s 4 %s\n0 0\n\n%s 4 %s\n0 0\n\n", h1, h2,
		 h2, h1);
	write_pack_text(qdir, "bbbb", text);
	static const char *const cases[][2] = { { "hello world", "aaaa.objects" },
						{ "one", "bbbb.objects" } };
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	for (size_t k = 0; k < 2; k++) {
		char h[65];
		hex_of(cases[k][0], h);
		struct quire_buf out = QUIRE_BUF_INIT;
		assert_int_equal(quire_objs_read(o, h, &out), QUIRE_ECORRUPT);
		assert_non_null(strstr(quire_error_last(), cases[k][1]));
		quire_buf_release(&out);
	}
	quire_objs_free(o);
	free(qdir);
}

/* Damage in a base that changes its length fails the delta above it before any hash: the
 * error still names the pack the damage is in, not the one of the object read. */
static void test_base_damage_named_in_its_pack(void **state)
{
	char *qdir = qdir_of(state);
	char a[4001], b[4001], c[4001], ha[65], hb[65], hc[65];
	for (int i = 0; i < 4000; i++)
		a[i] = (char)('a' + i % 23);
	a[4000] = '\0';
	memcpy(b, a, sizeof(a));
	memset(b + 1000, 'X', 10);
	memcpy(c, b, sizeof(b));
	memset(c + 3000, 'Y', 10);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	quire_objs_put(o, a, 4000, ha);
	assert_int_equal(quire_objs_write_pack(o, ha), 0);
	quire_objs_put_near(o, b, 4000, ha, hb);
	assert_int_equal(quire_objs_write_pack(o, hb), 0);
	quire_objs_put_near(o, c, 4000, hb, hc);
	assert_int_equal(quire_objs_write_pack(o, hc), 0);
	quire_objs_free(o);
	/* b's delta: 1000 bytes of a, its middle, 2990 of a's end; now 2090. */
	tu_damage_pack(qdir, hb, "\n1000 2990\n", 7, '0');
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	struct quire_buf out = QUIRE_BUF_INIT;
	assert_int_equal(quire_objs_read(o, hc, &out), QUIRE_ECORRUPT);
	char want[80];
	snprintf(want, sizeof(want), "%s.objects", hb);
	assert_non_null(strstr(quire_error_last(), want));
	assert_int_equal(out.len, 0);
	quire_error_clear();
	quire_buf_release(&out);
	quire_objs_free(o);
	free(qdir);
}

/* A take's record is an object named by the take's fingerprint: read back, the take does not
 * repeat it (format 1 kept it in some takes only). */
static void test_take_deps_are_records(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *deps = json_pack("{ss}", "prompt", "p");
	json_t *rec = json_pack("{sOsi}", "deps", deps, "v", 1);
	struct quire_digest fp;
	assert_int_equal(quire_hash_json(rec, &fp), 0);
	json_decref(rec);
	json_t *m = json_pack("{s{s{sss[]s[{ssso}]}}}", "artefacts", "Book", "producer", "Book",
			      "index", "takes", "fingerprint", fp.s, "deps", deps);
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), 0);
	json_t *back = NULL, *got = NULL;
	assert_int_equal(quire_rev2_load(o, r, &back), 0);
	json_t *take = json_array_get(
		json_object_get(json_object_get(json_object_get(back, "artefacts"), "Book"),
				"takes"),
		0);
	assert_null(json_object_get(take, "deps"));
	assert_int_equal(quire_objs_read_json(o, fp.s + 7, &got), 0);
	assert_true(json_equal(json_object_get(got, "deps"), deps));
	json_decref(got);
	json_decref(back);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

/* An object that cannot be made (here: a failed build) leaves nothing pending for the next
 * revision's pack. */
static void test_failed_build_leaves_nothing(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = json_pack("{s{s{ss}s{ss}s{ss}}}", "artefacts", "A[1]", "status", "a", "B[2]",
			      "status", "b", "B[3][1]", "status", "c");
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "B["));
	assert_int_equal(quire_objs_pending_bytes(o), 0);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

/* The object index (.quire/runs/objects.db) follows the packs on disk: one another clone
 * made (arriving by git), one gone (a checkout of an older commit), the index removed or
 * damaged; each open finds exactly the objects the packs hold. */
static void test_index_follows_packs(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m1 = json_pack("{s{s{ss}}}", "artefacts", "A[1]", "status", "one");
	json_t *m2 = json_pack("{s{s{ss}}}", "artefacts", "A[1]", "status", "two");
	char r1[65], r2[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	assert_int_equal(quire_objs_write_pack(o, r1), 0);
	quire_objs_free(o);
	/* Indexed at this open; then another clone's pack arrives. */
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_true(quire_objs_has(o, r1));
	quire_objs_free(o);
	in.manifest = m2;
	char *other = tu_tempdir(), *oq = NULL;
	assert_true(asprintf(&oq, "%s/.quire", other) > 0);
	struct quire_objs *w = NULL;
	assert_int_equal(mkdir(oq, 0755), 0);
	assert_int_equal(quire_objs_open(oq, &w), 0);
	assert_int_equal(quire_rev2_build(w, &in, r2), 0);
	assert_int_equal(quire_objs_write_pack(w, r2), 0);
	quire_objs_free(w);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp '%s/revs/%s.objects' '%s/revs/'", oq, r2, qdir);
	assert_int_equal(system(cmd), 0);
	json_t *back = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	json_decref(back);
	assert_int_equal(quire_rev2_load(o, r1, &back), 0);
	json_decref(back);
	quire_objs_free(o);
	/* r1's pack gone: its revision is no more, r2's still is. */
	snprintf(cmd, sizeof(cmd), "rm '%s/revs/%s.objects'", qdir, r1);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_false(quire_objs_has(o, r1));
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	json_decref(back);
	quire_objs_free(o);
	/* The index damaged: made again. */
	snprintf(cmd, sizeof(cmd), "echo not a database > '%s/runs/objects.db'", qdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	json_decref(back);
	quire_objs_free(o);
	snprintf(cmd, sizeof(cmd), "%s/runs/objects.db", qdir);
	char *db = tu_slurp(cmd);
	assert_int_equal(strncmp(db, "SQLite format 3", 15), 0);
	free(db);
	/* Removed: made again. */
	snprintf(cmd, sizeof(cmd), "rm -f '%s/runs/objects.db'", qdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	json_decref(back);
	quire_objs_free(o);
	snprintf(cmd, sizeof(cmd), "%s/runs/objects.db", qdir);
	assert_int_equal(access(cmd, F_OK), 0);
	tu_rmrf(other);
	free(other);
	free(oq);
	json_decref(m1);
	json_decref(m2);
	free(qdir);
}

/* An entry whose record a commit kept as its JSON text (not parsed, as the fold keeps a
 * collector's) makes the same revision as the parsed entry. */
static void test_kept_record_text(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *deps = json_pack("{s[[ss]]si}", "upstream", "Scene[0][0]", "sha256:x", "take", 0);
	json_t *rec = json_pack("{sOsi}", "deps", deps, "v", 1);
	struct quire_digest fp;
	assert_int_equal(quire_hash_json(rec, &fp), 0);
	json_decref(rec);
	char *text = json_dumps(deps, JSON_INDENT(2));
	json_t *m1 =
		json_pack("{s{s{sOss}}}", "artefacts", "Book", "deps", deps, "fingerprint", fp.s);
	json_t *m2 =
		json_pack("{s{s{ssss}}}", "artefacts", "Book", "deps", text, "fingerprint", fp.s);
	char r1[65], r2[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	in.manifest = m2;
	assert_int_equal(quire_rev2_build(o, &in, r2), 0);
	assert_string_equal(r1, r2);
	free(text);
	json_decref(deps);
	json_decref(m1);
	json_decref(m2);
	quire_objs_free(o);
	free(qdir);
}

/* A randomised history: update == build, load == manifest, diff == the entries that differ. */

static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const names[] = { "A", "AB", "A-b", "a", "Z", "\xc3\x89t\xc3\xa9", "Book" };
static const int name_dims[] = { 1, 2, 1, 0, 3, 1, 0 };
static const long long idx_pool[] = { 0, 1, 2, 15, 16, 17, 255, 256, 4095, 4096, 65535 };

static json_t *random_entry(const char *name, const long long *idx, int dims, int variant)
{
	json_t *e = json_object();
	rnd(10);
	json_object_set_new(e, "producer", json_string(name));
	json_t *ix = json_array();
	for (int d = 0; d < dims; d++)
		json_array_append_new(ix, json_integer(idx[d]));
	json_object_set_new(e, "index", ix);
	char dg[64];
	snprintf(dg, sizeof(dg), "v%d", variant);
	struct quire_digest d;
	quire_hash_bytes(dg, strlen(dg), &d);
	json_object_set_new(e, "digest", json_string(d.s));
	json_object_set_new(e, "temperature", json_real(0.1 * variant));
	json_object_set_new(e, "\xe2\x98\x83key", json_string("sn\xc3\xb8w"));
	if (rnd(2)) {
		json_t *deps = json_pack("{sis[s]}", "n", variant, "upstream", "x");
		json_t *rec = json_pack("{sOsi}", "deps", deps, "v", 1 + (int)rnd(2));
		struct quire_digest fp;
		quire_hash_json(rec, &fp);
		json_decref(rec);
		json_object_set_new(e, "deps", deps);
		json_object_set_new(e, "fingerprint", json_string(fp.s));
	}
	return e;
}

static void random_set(json_t *arts, int variant)
{
	int p = (int)rnd(sizeof(names) / sizeof(*names));
	long long idx[3];
	int dims = name_dims[p];
	for (int d = 0; d < dims; d++)
		idx[d] = idx_pool[rnd(sizeof(idx_pool) / sizeof(*idx_pool))] % (d ? 20 : 70000);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_id_format(&b, names[p], idx, dims);
	json_object_set_new(arts, b.ptr, random_entry(names[p], idx, dims, variant));
	quire_buf_release(&b);
}

static int collect(void *ud, const char *id)
{
	json_array_append_new(ud, json_string(id));
	return 0;
}

static void test_random_update_equals_build(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = json_pack("{s{}s{ss}s{si}}", "artefacts", "files", "a.txt", "sha256:x",
			      "inputs", "N", 1);
	char prev[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, prev), 0);
	int mismatches = 0, loadbad = 0, diffbad = 0;
	for (int step = 0; step < 300; step++) {
		json_t *m2 = json_deep_copy(m), *arts = json_object_get(m2, "artefacts");
		int nch = 1 + (int)rnd(step % 7 == 0 ? 30 : 4);
		for (int k = 0; k < nch; k++) {
			if (json_object_size(arts) && rnd(3) == 0) {
				/* remove a random one */
				size_t at = rnd((unsigned)json_object_size(arts)), i = 0;
				const char *id;
				json_t *v;
				json_object_foreach(arts, id, v) {
					if (i++ == at) {
						json_object_del(arts, id);
						break;
					}
				}
			} else {
				random_set(arts, step * 100 + k);
			}
		}
		if (step % 50 == 49)
			json_object_clear(arts);
		char whole[65], u[65];
		in.manifest = m2;
		in.parents[0] = prev;
		in.nparents = 1;
		in.generation = step + 2;
		assert_int_equal(quire_rev2_build(o, &in, whole), 0);
		size_t n;
		struct quire_rev2_change *ch = changes(json_object_get(m, "artefacts"), arts, &n);
		int err = quire_rev2_update(o, &in, prev, ch, n, u);
		free(ch);
		if (err || strcmp(u, whole)) {
			if (mismatches++ < 3)
				print_message("step %d: update %s (%s)\n", step,
					      err ? "failed" : "differs",
					      err ? quire_error_last() : "");
		}
		json_t *back = NULL;
		assert_int_equal(quire_rev2_load(o, whole, &back), 0);
		json_t *want = json_deep_copy(arts);
		if (!json_equal(want, json_object_get(back, "artefacts"))) {
			if (loadbad++ < 3)
				print_message("step %d: load differs\n", step);
		}
		json_decref(want);
		json_decref(back);
		json_t *ids = json_array();
		assert_int_equal(quire_rev2_diff(o, prev, whole, collect, ids), 0);
		size_t nn;
		struct quire_rev2_change *c2 = changes(json_object_get(m, "artefacts"), arts, &nn);
		if (json_array_size(ids) != nn) {
			if (diffbad++ < 3)
				print_message("step %d: diff %zu ids, want %zu\n", step,
					      json_array_size(ids), nn);
		}
		free(c2);
		json_decref(ids);
		assert_int_equal(quire_objs_write_pack(o, whole), 0);
		memcpy(prev, whole, 65);
		json_decref(m);
		m = m2;
	}
	assert_int_equal(mismatches + loadbad + diffbad, 0);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

/* Entry n of the array ud, for a build given entries by number; json null: cannot be read. */
static json_t *nth_entry(void *ud, long long n)
{
	json_t *e = json_array_get(ud, (size_t)n);
	if (!json_is_null(e))
		return json_incref(e);
	quire_error_set(QUIRE_EIO, "entry %lld cannot be read", n);
	return NULL;
}

/* A first build's entries given as their text (QUIRE_REV2_TEXT, as the commit gives those the
 * fold holds as text) make the revision the parsed entries make, their records put as
 * objects: entries with and without records, with takes, with a record that is not the one
 * their fingerprint names. */
static void test_text_entries_build_the_same(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *parsed = json_object(), *texts = json_object();
	for (int k = 0; k < 400; k++)
		random_set(parsed, k);
	size_t as_text = 0, with_record = 0;
	const char *id;
	json_t *e;
	size_t k = 0;
	json_object_foreach(parsed, id, e) {
		k++;
		if (rnd(2))
			json_object_del(e, "temperature"); /* a real: not canonical */
		if (rnd(8) == 0)
			json_object_set_new(e, "takes", json_pack("[{ss}]", "digest", "sha256:t"));
		if (rnd(8) == 0) {
			/* A take holding its own record. */
			json_t *td = json_pack("{si}", "n", k),
			       *rec = json_pack("{sOsi}", "deps", td, "v", 1);
			struct quire_digest fp;
			quire_hash_json(rec, &fp);
			json_decref(rec);
			json_object_set_new(e, "takes",
					    json_pack("[{sossss}]", "deps", td, "digest",
						      "sha256:u", "fingerprint", fp.s));
		}
		if (rnd(8) == 0 && json_object_get(e, "deps"))
			json_object_set_new(e, "fingerprint", json_string("sha256:other"));
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_json_write(&b, e, 0);
		if (quire_json_is_canonical(b.ptr, b.len)) {
			json_object_set_new(texts, id,
					    json_pack("{s:s%}", QUIRE_REV2_TEXT, b.ptr, b.len));
			as_text++;
			with_record += json_object_get(e, "deps") != NULL;
		} else {
			json_object_set(texts, id, e);
		}
		quire_buf_release(&b);
	}
	/* Records given as strings: the parsed path parses them first, whichever of the two
	 * records the fingerprint names. */
	static const char *const rec_texts[2] = { "{\"deps\":\"{\\\"a\\\":1}\",\"v\":1}",
						  "{\"deps\":{\"a\":1},\"v\":1}" };
	for (int r = 0; r < 2; r++) {
		struct quire_digest fp;
		quire_hash_bytes(rec_texts[r], strlen(rec_texts[r]), &fp);
		char sid[16];
		snprintf(sid, sizeof(sid), "Str[%d]", r);
		json_t *se = json_pack("{s:s,s:s,s:s}", "deps", "{\"a\":1}", "digest", "sha256:s",
				       "fingerprint", fp.s);
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_json_write(&b, se, 0);
		assert_true(quire_json_is_canonical(b.ptr, b.len));
		json_object_set_new(texts, sid, json_pack("{s:s%}", QUIRE_REV2_TEXT, b.ptr, b.len));
		json_object_set_new(parsed, sid, se);
		quire_buf_release(&b);
	}
	assert_true(as_text > 40 && with_record > 15 && as_text < json_object_size(parsed));
	char r1[65], r2[65];
	json_t *m1 = json_pack("{s:O,s:{},s:{}}", "artefacts", parsed, "files", "inputs"),
	       *m2 = json_pack("{s:O,s:{},s:{}}", "artefacts", texts, "files", "inputs");
	struct quire_rev2_in i1 = { .manifest = m1, .generation = 1 },
			     i2 = { .manifest = m2, .generation = 1 };
	struct quire_objs *o2 = NULL;
	assert_int_equal(quire_objs_open_memory(&o2), 0);
	assert_int_equal(quire_rev2_build(o, &i1, r1), 0);
	assert_int_equal(quire_rev2_build(o2, &i2, r2), 0);
	assert_string_equal(r1, r2);
	/* Read back from the text-made objects alone: what the parsed ones read back, records
	 * and all. */
	json_t *back = NULL, *back1 = NULL;
	assert_int_equal(quire_rev2_load(o2, r2, &back), 0);
	assert_int_equal(quire_rev2_load(o, r1, &back1), 0);
	json_object_del(back, "revision");
	json_object_del(back1, "revision");
	assert_true(json_equal(back, back1));
	json_decref(back1);
	json_decref(back);
	/* Given by number, each read only when its leaf is made (the commit reads a first
	 * build's texts so, one at a time): the same revision. */
	json_t *numbered = json_object(), *order = json_array();
	json_object_foreach(texts, id, e) {
		json_object_set_new(
			numbered, id,
			json_pack("{s:I}", QUIRE_REV2_TEXT, (json_int_t)json_array_size(order)));
		json_array_append(order, e);
	}
	json_t *m3 = json_pack("{s:o,s:{},s:{}}", "artefacts", numbered, "files", "inputs");
	struct quire_rev2_in i3 = {
		.manifest = m3, .generation = 1, .entry_of = nth_entry, .entry_ud = order
	};
	struct quire_objs *o3 = NULL;
	char r3[65];
	assert_int_equal(quire_objs_open_memory(&o3), 0);
	assert_int_equal(quire_rev2_build(o3, &i3, r3), 0);
	assert_string_equal(r3, r1);
	/* One that cannot be read: the build fails with its error and makes nothing. */
	size_t pending = quire_objs_pending_bytes(o3);
	json_array_set_new(order, 7, json_null());
	json_object_set_new(json_object_get(m3, "artefacts"), "Added[0]",
			    json_pack("{s:I}", QUIRE_REV2_TEXT, (json_int_t)7));
	assert_int_equal(quire_rev2_build(o3, &i3, r3), QUIRE_EIO);
	assert_non_null(strstr(quire_error_last(), "entry 7 cannot be read"));
	assert_int_equal(quire_objs_pending_bytes(o3), pending);
	quire_error_clear();
	/* One given that is not an object is no entry either. */
	json_array_set_new(order, 7, json_string("not an entry"));
	assert_int_equal(quire_rev2_build(o3, &i3, r3), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "': not an entry"));
	assert_int_equal(quire_objs_pending_bytes(o3), pending);
	quire_error_clear();
	quire_objs_free(o3);
	json_decref(m3);
	json_decref(order);
	/* A text that is not an object's is no entry, as a parsed one would not be. */
	json_object_set_new(texts, "Str[9]", json_pack("{s:s}", QUIRE_REV2_TEXT, "[1]"));
	assert_int_equal(quire_rev2_build(o2, &i2, r2), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "not an entry"));
	quire_error_clear();
	json_decref(m1);
	json_decref(m2);
	json_decref(parsed);
	json_decref(texts);
	quire_objs_free(o2);
	quire_objs_free(o);
	free(qdir);
}

/* The files a run changed, found from the parent's files tree by the nodes whose names
 * differ, are exactly those a comparison of the two lists finds: across split directories, a
 * directory crossing DIR_MAX (300 names, then 200), subdirectories added and removed. */
static void random_files(json_t *files, unsigned seed_names, int round)
{
	json_object_clear(files);
	unsigned nflat = round % 3 == 1 ? 200 : 300;
	for (unsigned k = 0; k < nflat; k++) {
		char path[64], d[80];
		snprintf(path, sizeof(path), "prompts/scene-%u.md", k);
		snprintf(d, sizeof(d), "sha256:%064x", k * 7 + seed_names);
		json_object_set_new(files, path, json_string(d));
	}
	for (unsigned k = 0; k < 40; k++) {
		if (rnd(4) == 0)
			continue;
		char path[64], d[80];
		snprintf(path, sizeof(path), "%s/f%u.md", k % 2 ? "a/b" : "c", k);
		snprintf(d, sizeof(d), "sha256:%064x", rnd(3));
		json_object_set_new(files, path, json_string(d));
	}
}

static void test_files_changed_by_node(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *was = json_object(), *now = json_object();
	for (int round = 0; round < 30; round++) {
		random_files(was, 1, round);
		random_files(now, round % 4 ? 1 : 2, round + (round % 5 == 0));
		/* One changed file in the split directory, one removed, one added. */
		json_object_set_new(now, "prompts/scene-17.md",
				    json_string("sha256:"
						"0123"));
		json_object_del(now, "prompts/scene-99.md");
		json_object_set_new(now, "new/file.md",
				    json_string("sha256:"
						"4567"));
		json_t *m = json_pack("{s:{},s:O,s:{}}", "artefacts", "files", was, "inputs");
		char r[65];
		struct quire_rev2_in in = { .manifest = m, .generation = 1 };
		assert_int_equal(quire_rev2_build(o, &in, r), 0);
		json_t *got = json_object(), *want = json_object();
		assert_int_equal(quire_rev2_files_changed(o, r, now, got), 0);
		const char *path;
		json_t *v;
		json_object_foreach(was, path, v) {
			if (!json_object_get(now, path))
				json_object_set_new(want, path, json_null());
		}
		json_object_foreach(now, path, v) {
			if (!json_equal(v, json_object_get(was, path)))
				json_object_set(want, path, v);
		}
		assert_true(json_object_size(want) >= 3);
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_SORT_KEYS),
			     *w = json_dumps(want, JSON_SORT_KEYS);
			fail_msg("round %d: got %s, want %s", round, g, w);
		}
		/* The list as its text (a run's) makes the same revision as the map, in any order,
		 * spaced or not, with names that need escapes (parsed then). */
		json_object_set_new(now, round % 2 ? "q\"uote.md" : "caf\xc3\xa9.md",
				    json_string("sha256:"
						"89ab"));
		char *texts[3] = { json_dumps(now, JSON_COMPACT | JSON_SORT_KEYS),
				   json_dumps(now, JSON_INDENT(1)),
				   json_dumps(was, JSON_COMPACT | JSON_SORT_KEYS) };
		char rm[65], rt[65];
		for (int t = 0; t < 3; t++) {
			const json_t *as_map = t < 2 ? now : was;
			json_t *mm = json_pack("{s:{},s:O,s:{}}", "artefacts", "files", as_map,
					       "inputs"),
			       *mt = json_pack("{s:{},s:s,s:{}}", "artefacts", "files", texts[t],
					       "inputs");
			struct quire_rev2_in im = { .manifest = mm, .generation = 1 },
					     it = { .manifest = mt, .generation = 1 };
			assert_int_equal(quire_rev2_build(o, &im, rm), 0);
			assert_int_equal(quire_rev2_build(o, &it, rt), 0);
			assert_string_equal(rm, rt);
			json_decref(mm);
			json_decref(mt);
			free(texts[t]);
		}
		json_object_del(now, round % 2 ? "q\"uote.md" : "caf\xc3\xa9.md");
		/* Not a map: cut short, or a name that is not UTF-8 (jansson refuses it). */
		static const char *const bad_texts[] = { "{\"a\":", "{\"\xf8\x80\x80\":\"x\"}" };
		for (int b = 0; b < 2; b++) {
			/* As a run holds its list: a string not checked (json_pack would refuse
			 * the name). */
			json_t *bad = json_pack(
				"{s:{},s:o,s:{}}", "artefacts", "files",
				json_stringn_nocheck(bad_texts[b], strlen(bad_texts[b])), "inputs");
			struct quire_rev2_in ib = { .manifest = bad, .generation = 1 };
			assert_int_equal(quire_rev2_build(o, &ib, rt), QUIRE_ECORRUPT);
			quire_error_clear();
			json_decref(bad);
		}
		/* The same list: nothing changed. */
		json_object_clear(got);
		assert_int_equal(quire_rev2_files_changed(o, r, was, got), 0);
		assert_int_equal(json_object_size(got), 0);
		json_decref(got);
		json_decref(want);
		json_decref(m);
	}
	json_decref(was);
	json_decref(now);
	quire_objs_free(o);
	free(qdir);
}

/* A rollback takes back every object put since the mark, however their slots' probe chains
 * cross (clearing the slots one by one left some behind: found as known, never written). */
static void test_rollback_takes_back_all(void **state)
{
	(void)state;
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open_memory(&o), 0);
	char hex[3500][65], text[32];
	for (int k = 0; k < 3500; k++) {
		if (k == 500)
			assert_int_equal(quire_objs_mark(o), 500);
		snprintf(text, sizeof(text), "object %d", k);
		quire_objs_put(o, text, strlen(text), hex[k]);
	}
	quire_objs_rollback(o, 500);
	for (int k = 0; k < 3500; k++)
		assert_int_equal(quire_objs_has(o, hex[k]), k < 500);
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_objs_read(o, hex[499], &b), 0);
	assert_string_equal(b.ptr, "object 499");
	quire_buf_release(&b);
	quire_objs_free(o);
}

/* Object k of the pending-file test: 100 KB that differ from every other's (seed s). */
static void blob_k(struct quire_buf *b, int k, int s)
{
	quire_buf_reset(b);
	for (int i = 0; i < 100000 / 16; i++)
		quire_buf_printf(b, "%03d.%03d.%08d", k, s, i);
}

/* Pending objects past a MiB go to an unnamed file: read back from there, rolled back into
 * it and written over, then written as a pack that reads back whole. */
static void test_pending_file(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	char hex[40][65];
	struct quire_buf b = QUIRE_BUF_INIT, r = QUIRE_BUF_INIT;
	for (int k = 0; k < 20; k++) {
		blob_k(&b, k, 0);
		quire_objs_put(o, b.ptr, b.len, hex[k]);
	}
	size_t before = quire_objs_pending_bytes(o), mark = quire_objs_mark(o);
	assert_true(before >= 2000000);
	for (int k = 20; k < 30; k++) {
		blob_k(&b, k, 0);
		quire_objs_put(o, b.ptr, b.len, hex[k]);
	}
	for (int k = 0; k < 30; k++) {
		blob_k(&b, k, 0);
		quire_buf_reset(&r);
		assert_int_equal(quire_objs_read(o, hex[k], &r), 0);
		assert_true(r.len == b.len && !memcmp(r.ptr, b.ptr, b.len));
	}
	/* Rolled back to the mark (the objects after it are in the file too), and others put
	 * where they were. */
	quire_objs_rollback(o, mark);
	assert_int_equal(quire_objs_pending_bytes(o), before);
	assert_false(quire_objs_has(o, hex[25]));
	/* The last one read (kept, as a large object is) went with them. */
	quire_buf_reset(&r);
	assert_int_equal(quire_objs_read(o, hex[29], &r), QUIRE_ENOTFOUND);
	quire_error_clear();
	for (int k = 30; k < 35; k++) {
		blob_k(&b, k, 1);
		quire_objs_put(o, b.ptr, b.len, hex[k]);
	}
	assert_int_equal(quire_objs_write_pack(o, hex[0]), 0);
	quire_objs_free(o);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	for (int k = 0; k < 35; k++) {
		if (k >= 20 && k < 30)
			continue;
		blob_k(&b, k, k >= 30);
		quire_buf_reset(&r);
		assert_int_equal(quire_objs_read(o, hex[k], &r), 0);
		assert_true(r.len == b.len && !memcmp(r.ptr, b.ptr, b.len));
	}
	assert_false(quire_objs_has(o, hex[25]));
	quire_objs_free(o);
	quire_buf_release(&b);
	quire_buf_release(&r);
	free(qdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_huge_index_round_trip, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_index_overflow_refused, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relayout_entry_without_producer, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_delta_damage_named, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_base_damage_named_in_its_pack, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_take_deps_are_records, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_failed_build_leaves_nothing, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_index_follows_packs, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_kept_record_text, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_random_update_equals_build, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_files_changed_by_node, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test(test_rollback_takes_back_all),
		cmocka_unit_test_setup_teardown(test_pending_file, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_text_entries_build_the_same, tu_setup_qdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
