/* Format 2's objects, packs and trees: format-1 history converted and read back unchanged,
 * the same bytes on every machine, a one-entry change costing a handful of nodes, damage
 * named. */
#include "testutil.h"

#include "core/objects.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/manifest.h"

/* The fixture's format-1 store copied into a fresh directory (its .quire only). */
static char *copy_fixture(void)
{
	char *dir = tu_tempdir(), cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -R '%s/store-v1/.quire' '%s/'", QUIRE_SOURCE_FIXTURES, dir);
	assert_int_equal(system(cmd), 0);
	return dir;
}

/* Format 1's entries as a revision gives them back: the same (a take's record is stored once,
 * named by its fingerprint, and put back on a take not shown). */
static json_t *normalised(const json_t *arts)
{
	return json_deep_copy(arts);
}

/* What a diff holds of an entry in the test below: its status alone. */
static json_t *keep_status(const json_t *e)
{
	json_t *v = json_object();
	if (json_object_get(e, "status"))
		json_object_set(v, "status", json_object_get(e, "status"));
	return v;
}

static int collect_pair(void *ud, const char *id, const json_t *ea, const json_t *eb)
{
	json_array_append_new(ud, json_pack("[s,O?,O?]", id, ea, eb));
	return 0;
}

static int collect(void *ud, const char *id)
{
	json_array_append_new(ud, json_string(id));
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids whose entries differ between two artefact maps, sorted: what a diff must say. */
static json_t *naive_diff(const json_t *a, const json_t *b)
{
	json_t *ids = json_object(), *out = json_array();
	for (int side = 0; side < 2; side++) {
		const char *id;
		json_t *e;
		json_object_foreach((json_t *)(side ? b : a), id, e) {
			json_t *o = json_object_get(side ? a : b, id);
			if (!o || !json_equal(e, o))
				json_object_set_new(ids, id, json_true());
		}
	}
	size_t n = 0;
	const char **keys = malloc(sizeof(*keys) * (json_object_size(ids) + 1));
	const char *id;
	json_t *v;
	json_object_foreach(ids, id, v)
		keys[n++] = id;
	qsort(keys, n, sizeof(*keys), cmp_strp);
	for (size_t k = 0; k < n; k++)
		json_array_append_new(out, json_string(keys[k]));
	free(keys);
	json_decref(ids);
	return out;
}

/* Revision of manifest `to` made by quire_rev2_update from base (the revision of `from`): the
 * changes are the entries that differ. */
static void update_to(struct quire_objs *o, const json_t *from, const json_t *to, const char *base,
		      const struct quire_rev2_in *in, char rev[65])
{
	const json_t *fa = json_object_get(from, "artefacts"),
		     *ta = json_object_get(to, "artefacts");
	json_t *ids = naive_diff(fa, ta);
	size_t n = json_array_size(ids);
	struct quire_rev2_change *ch = calloc(n + 1, sizeof(*ch));
	for (size_t k = 0; k < n; k++) {
		ch[k].id = json_string_value(json_array_get(ids, k));
		ch[k].entry = json_object_get(ta, ch[k].id);
	}
	assert_int_equal(quire_rev2_update(o, in, base, ch, n, rev), 0);
	free(ch);
	json_decref(ids);
}

static int list_revision(void *ud, const struct quire_rev2_info *r)
{
	json_array_append_new(ud, json_pack("[ssI]", r->name, r->alias ? r->alias : "",
					    (json_int_t)r->generation));
	return 0;
}

static void test_fixture_round_trip(void **state)
{
	(void)state;
	char *dir = copy_fixture(), *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", dir) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *names = json_object();
	assert_int_equal(quire_rev2_convert(qdir, o, names, 0), 0);
	assert_int_equal(json_object_size(names), 7);
	quire_objs_free(o);
	/* Read back from the packs on disk, not from memory. */
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	size_t records = 0, changes = 0;
	const char *v1;
	json_t *v2;
	json_object_foreach(names, v1, v2) {
		json_t *m1 = NULL, *m2 = NULL;
		assert_int_equal(quire_manifest_load(qdir, v1, &m1), 0);
		assert_int_equal(quire_rev2_load(o, json_string_value(v2), &m2), 0);
		json_t *a1 = normalised(json_object_get(m1, "artefacts"));
		assert_true(json_equal(a1, json_object_get(m2, "artefacts")));
		json_decref(a1);
		static const char *const keys[] = { "files",  "inputs", "command", "created",
						    "counts", "git",	NULL };
		for (size_t k = 0; keys[k]; k++)
			assert_true(json_equal(json_object_get(m1, keys[k]),
					       json_object_get(m2, keys[k])));
		assert_string_equal(json_string_value(json_object_get(m2, "alias")), v1);
		/* The parents are the parents' conversions. */
		const char *p1 = json_string_value(json_object_get(m1, "parent"));
		json_t *ps = json_object_get(m2, "parents");
		assert_int_equal(json_array_size(ps), p1 ? 1 : 0);
		if (p1)
			assert_string_equal(json_string_value(json_array_get(ps, 0)),
					    json_string_value(json_object_get(names, p1)));
		/* Every dependency record is an object named by its fingerprint. */
		const char *id;
		json_t *e;
		json_object_foreach(json_object_get(m1, "artefacts"), id, e) {
			const char *fp = json_string_value(json_object_get(e, "fingerprint"));
			if (fp && json_object_get(e, "deps")) {
				assert_true(quire_objs_has(o, fp + 7));
				records++;
			}
		}
		/* The diff from its parent names what changed, as comparing entries does. */
		if (p1) {
			json_t *mp = NULL, *got = json_array();
			assert_int_equal(quire_manifest_load(qdir, p1, &mp), 0);
			json_t *want = naive_diff(json_object_get(mp, "artefacts"),
						  json_object_get(m1, "artefacts"));
			assert_int_equal(
				quire_rev2_diff(o, json_string_value(json_object_get(names, p1)),
						json_string_value(v2), collect, got),
				0);
			changes += json_array_size(want);
			/* The commit's way (the parent's tree and the changes) makes the same
			 * revision as the whole manifest. */
			const char *pv2 = json_string_value(json_object_get(names, p1));
			struct quire_rev2_in in = {
				.manifest = m1,
				.parents = { pv2 },
				.nparents = 1,
				.generation = json_integer_value(json_object_get(m2, "generation")),
				.alias = v1,
			};
			char upd[65];
			update_to(o, mp, m1, pv2, &in, upd);
			assert_string_equal(upd, json_string_value(v2));
			assert_true(json_equal(want, got));
			json_decref(want);
			json_decref(got);
			json_decref(mp);
		}
		json_decref(m1);
		json_decref(m2);
	}
	assert_true(records >= 40);
	assert_true(changes >= 10);
	/* The index lists the revisions, parents first, and finds each by its format-1 name;
	 * without one (no runs/ directory to keep it in), the same. */
	for (int pass = 0; pass < 2; pass++) {
		json_t *seen = json_array();
		assert_int_equal(quire_objs_revisions(o, list_revision, seen), 0);
		assert_int_equal(json_array_size(seen), 7);
		for (size_t k = 0; k < 7; k++) {
			char want[16], rev[65];
			snprintf(want, sizeof(want), "rev-%04zu", k + 1);
			json_t *row = json_array_get(seen, k);
			assert_string_equal(json_string_value(json_array_get(row, 1)), want);
			assert_int_equal(json_integer_value(json_array_get(row, 2)),
					 (json_int_t)k + 1);
			assert_int_equal(quire_objs_alias(o, want, rev), 0);
			assert_string_equal(rev, json_string_value(json_object_get(names, want)));
			assert_string_equal(json_string_value(json_array_get(row, 0)), rev);
		}
		char none[65];
		assert_int_equal(quire_objs_alias(o, "rev-0099", none), QUIRE_ENOTFOUND);
		json_decref(seen);
		quire_objs_free(o);
		char cmd[8192];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/runs' && echo not a directory > '%s/runs'",
			 qdir, qdir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(quire_objs_open(qdir, &o), 0);
	}
	quire_objs_free(o);
	json_decref(names);
	free(qdir);
	tu_rmrf(dir);
	free(dir);
}

/* The concatenated bytes of every pack in dir/.quire/revs, by name. */
static char *packs_text(const char *dir)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cd '%s/.quire/revs' && ls && cat $(ls)", dir);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	struct quire_buf b = QUIRE_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		quire_buf_add(&b, chunk, n);
	assert_int_equal(pclose(f), 0);
	return quire_buf_detach(&b, NULL);
}

static void test_two_conversions_agree(void **state)
{
	(void)state;
	char *texts[2];
	for (int k = 0; k < 2; k++) {
		char *dir = copy_fixture(), *qdir = NULL;
		assert_true(asprintf(&qdir, "%s/.quire", dir) > 0);
		struct quire_objs *o = NULL;
		assert_int_equal(quire_objs_open(qdir, &o), 0);
		assert_int_equal(quire_rev2_convert(qdir, o, NULL, 0), 0);
		/* Converting again finds every revision: nothing new is written. */
		assert_int_equal(quire_rev2_convert(qdir, o, NULL, 0), 0);
		assert_int_equal(quire_objs_pending_bytes(o), 0);
		quire_objs_free(o);
		texts[k] = packs_text(dir);
		assert_int_equal(tu_count_dir(qdir) > 0, 1);
		free(qdir);
		tu_rmrf(dir);
		free(dir);
	}
	assert_true(strlen(texts[0]) > 1000);
	assert_string_equal(texts[0], texts[1]);
	free(texts[0]);
	free(texts[1]);
}

/* A manifest of rows x cols scenes, an outline and a book; entry (r, c) says `mark`. */
static json_t *story(int rows, int cols, int mr, int mc, const char *mark)
{
	json_t *m = json_object(), *arts = json_object();
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			char id[64], out[80];
			snprintf(id, sizeof(id), "Scene[%d][%d]", r, c);
			struct quire_digest d;
			snprintf(out, sizeof(out), "%s %s", id, r == mr && c == mc ? mark : "");
			quire_hash_bytes(out, strlen(out), &d);
			json_object_set_new(arts, id,
					    json_pack("{sssss[ii]sssisf}", "digest", d.s,
						      "producer", "Scene", "index", r, c, "status",
						      "clean", "size", 700, "temperature", 0.7));
		}
	json_object_set_new(
		arts, "Outline",
		json_pack("{sss[]ss}", "producer", "Outline", "index", "status", "clean"));
	json_object_set_new(m, "artefacts", arts);
	/* More prompts than a files node holds: their directory is split. */
	json_t *files = json_object();
	for (int k = 0; k < 600; k++) {
		char path[64];
		snprintf(path, sizeof(path), "prompts/p%03d.md", k);
		json_object_set_new(files, path, json_string("sha256:x"));
	}
	json_object_set_new(files, "quire.yaml", json_string("sha256:y"));
	json_object_set_new(m, "files", files);
	json_object_set_new(m, "inputs", json_pack("{s{si}}", "Chapters", "value", rows));
	json_object_set_new(m, "command", json_string("quire run"));
	return m;
}

static json_t *book_story(int n, int changed);

static void test_one_change_costs_a_path(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m1 = story(40, 75, -1, -1, ""), *m2 = story(40, 75, 17, 42, "changed");
	char r1[65], r2[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	size_t first = quire_objs_pending_bytes(o);
	assert_int_equal(quire_objs_write_pack(o, r1), 0);
	/* Its prompts directory, past what one files node holds, is split (and read back whole
	 * below). */
	char *pack = NULL;
	assert_true(asprintf(&pack, "%s/revs/%s.objects", qdir, r1) > 0);
	struct quire_buf pb = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(pack, &pb, 1u << 26), 0);
	assert_non_null(strstr(pb.ptr, "\"split\":true,\"type\":\"files\""));
	quire_buf_release(&pb);
	free(pack);
	in.manifest = m2;
	in.parents[0] = r1;
	in.nparents = 1;
	in.generation = 2;
	assert_int_equal(quire_rev2_build(o, &in, r2), 0);
	size_t second = quire_objs_pending_bytes(o);
	/* The leaf of 16 scenes, the nodes above it, the root, the revision. */
	assert_true(first > 200000);
	assert_true(second < 10000);
	assert_int_equal(quire_objs_write_pack(o, r2), 0);
	json_t *back = NULL;
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	assert_true(
		json_equal(json_object_get(back, "artefacts"), json_object_get(m2, "artefacts")));
	assert_true(json_equal(json_object_get(back, "files"), json_object_get(m2, "files")));
	json_decref(back);
	size_t before = quire_objs_reads(o);
	json_t *ids = json_array();
	assert_int_equal(quire_rev2_diff(o, r1, r2, collect, ids), 0);
	assert_int_equal(json_array_size(ids), 1);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "Scene[17][42]");
	/* Two revisions, two roots, and per level of the path two nodes. */
	assert_true(quire_objs_reads(o) - before <= 14);
	json_decref(ids);
	/* An index crossing a power of 16 lays the producer out again: still exact. */
	json_t *m3 = story(40, 75, 17, 42, "changed");
	json_object_set_new(json_object_get(m3, "artefacts"), "Scene[300][0]",
			    json_pack("{ss}", "status", "clean"));
	char r3[65];
	in.manifest = m3;
	assert_int_equal(quire_rev2_build(o, &in, r3), 0);
	ids = json_array();
	assert_int_equal(quire_rev2_diff(o, r2, r3, collect, ids), 0);
	assert_int_equal(json_array_size(ids), 1);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "Scene[300][0]");
	json_decref(ids);
	/* Holding only what keep makes of each entry (the side without the id: null). */
	ids = json_array();
	assert_int_equal(quire_rev2_diff_kept(o, r2, r3, keep_status, collect_pair, ids), 0);
	json_t *want = json_pack("[[s,n,{s:s}]]", "Scene[300][0]", "status", "clean");
	assert_true(json_equal(ids, want));
	json_decref(want);
	json_decref(ids);
	ids = json_array();
	assert_int_equal(quire_rev2_diff_kept(o, r1, r2, keep_status, collect_pair, ids), 0);
	assert_int_equal(json_array_size(ids), 1);
	assert_int_equal(json_object_size(json_array_get(json_array_get(ids, 0), 1)), 1);
	assert_int_equal(json_object_size(json_array_get(json_array_get(ids, 0), 2)), 1);
	json_decref(ids);
	/* The same revisions made from their parents' trees and the changes: one entry, an
	 * index crossing a power of 16 and back (the widths shrink again), a producer removed
	 * and one added. */
	char u[65];
	in.manifest = m2;
	update_to(o, m1, m2, r1, &in, u);
	assert_string_equal(u, r2);
	in.manifest = m3;
	update_to(o, m2, m3, r2, &in, u);
	assert_string_equal(u, r3);
	assert_int_equal(quire_objs_write_pack(o, r3), 0);
	in.manifest = m2;
	update_to(o, m3, m2, r3, &in, u);
	assert_string_equal(u, r2);
	json_t *m4 = json_deep_copy(m2);
	json_object_del(json_object_get(m4, "artefacts"), "Outline");
	json_object_del(json_object_get(m4, "artefacts"), "Scene[5][5]");
	json_object_set_new(json_object_get(m4, "artefacts"), "Book",
			    json_pack("{sss[]ss}", "producer", "Book", "index", "status", "clean"));
	char r4[65];
	in.manifest = m4;
	assert_int_equal(quire_rev2_build(o, &in, r4), 0);
	update_to(o, m2, m4, r2, &in, u);
	assert_string_equal(u, r4);
	json_t *m5 = json_deep_copy(m4);
	json_object_clear(json_object_get(m5, "artefacts"));
	char r5[65];
	in.manifest = m5;
	assert_int_equal(quire_rev2_build(o, &in, r5), 0);
	update_to(o, m4, m5, r4, &in, u);
	assert_string_equal(u, r5);
	json_decref(m4);
	json_decref(m5);
	ids = json_array();
	assert_int_equal(quire_rev2_diff(o, NULL, r1, collect, ids), 0);
	assert_int_equal(json_array_size(ids), 40 * 75 + 1);
	json_decref(ids);
	json_decref(m1);
	json_decref(m2);
	json_decref(m3);
	quire_objs_free(o);
	free(qdir);
}

/* A head's entries read one by one (what a plan and a commit read through the head's index):
 * every entry as the revision read whole has it, each node read once when read in order. */
static void test_reader(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = book_story(3000, 17);
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), 0);
	assert_int_equal(quire_objs_write_pack(o, r), 0);
	json_t *whole = NULL;
	assert_int_equal(quire_rev2_load(o, r, &whole), 0);
	const json_t *arts = json_object_get(whole, "artefacts");
	struct quire_rev2_reader *rd = NULL;
	assert_int_equal(quire_rev2_reader_new(o, r, &rd), 0);
	size_t before = quire_objs_reads(o), n = 0;
	const char *id;
	json_t *v;
	/* jansson's order is not the ids': sorted, as the index has them. */
	const char **ids = calloc(json_object_size(arts), sizeof(*ids));
	json_object_foreach((json_t *)arts, id, v)
		ids[n++] = id;
	qsort(ids, n, sizeof(*ids), cmp_strp);
	for (size_t k = 0; k < n; k++) {
		json_t *e = NULL;
		assert_int_equal(quire_rev2_reader_entry(rd, ids[k], SIZE_MAX, &e), 0);
		assert_true(json_equal(e, json_object_get(arts, ids[k])));
		json_decref(e);
	}
	/* 3000 scenes in leaves of 16 (188 of them, and 14 nodes above), the Book's record, the
	 * Outline's and Book's nodes: each about once, although strcmp's order ("Scene[0][10]"
	 * before "Scene[0][1]") goes back and forth between leaves. */
	assert_true(quire_objs_reads(o) - before < n / 12);
	/* Out of order, and ids the revision lacks. */
	for (size_t k = 0; k < n; k += 7) {
		json_t *e = NULL;
		assert_int_equal(quire_rev2_reader_entry(rd, ids[(k * 131) % n], SIZE_MAX, &e), 0);
		assert_true(json_equal(e, json_object_get(arts, ids[(k * 131) % n])));
		json_decref(e);
	}
	static const char *const absent[] = { "Scene[0][3000]", "Scene[1][0]", "Nobody",
					      "Scene[0]",	"Scene[x]",    "Book[0]" };
	for (size_t k = 0; k < sizeof(absent) / sizeof(*absent); k++) {
		json_t *e = (json_t *)1;
		assert_int_equal(quire_rev2_reader_entry(rd, absent[k], SIZE_MAX, &e), 0);
		assert_null(e);
	}
	/* The Book's deps kept as their text, when large enough. */
	json_t *kept = NULL;
	assert_int_equal(quire_rev2_reader_entry(rd, "Book", 256, &kept), 0);
	const json_t *text = json_object_get(kept, "deps");
	assert_true(json_is_string(text));
	json_t *parsed = json_loads(json_string_value(text), 0, NULL);
	assert_true(json_equal(parsed, json_object_get(json_object_get(arts, "Book"), "deps")));
	json_decref(parsed);
	json_decref(kept);
	/* Read again (the plan, the event's delta, the fold, the commit each read the record
	 * of a collector): from what was read last, not from its pack. */
	size_t was = quire_objs_reads(o);
	assert_int_equal(quire_rev2_reader_entry(rd, "Book", 1u << 30, &kept), 0);
	assert_true(json_is_object(json_object_get(kept, "deps")));
	assert_int_equal(quire_objs_reads(o), was);
	json_decref(kept);
	quire_rev2_reader_free(rd);
	free(ids);
	json_decref(whole);
	json_decref(m);
	quire_objs_free(o);
	free(qdir);
}

static void test_damage_is_named(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	/* 20 x 20 scenes: the damaged leaf is four levels down (valgrind: nothing the walk
	 * read on the way leaks). */
	json_t *m = story(20, 20, 1, 1, "x");
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), 0);
	assert_int_equal(quire_objs_write_pack(o, r), 0);
	quire_objs_free(o);
	char path[512];
	snprintf(path, sizeof(path), "%s/revs/%s.objects", qdir, r);
	tu_damage_at(path, "\"clean\"", 1, 'C');
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *back = NULL;
	assert_int_equal(quire_rev2_load(o, r, &back), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "does not match its name"));
	assert_non_null(strstr(quire_error_last(), ".objects"));
	quire_objs_free(o);
	/* A pack that is not one hides nothing else: another revision's pack is still read. */
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m2 = story(2, 2, 0, 0, "y");
	char r2[65];
	in.manifest = m2;
	assert_int_equal(quire_rev2_build(o, &in, r2), 0);
	assert_int_equal(quire_objs_write_pack(o, r2), 0);
	quire_objs_free(o);
	FILE *f = fopen(path, "wb");
	fputs("quire-objects 1\nnot a header\n", f);
	fclose(f);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_int_equal(quire_rev2_load(o, r, &back), QUIRE_ENOTFOUND);
	quire_error_clear();
	/* (r2 may share nodes with r, its empty files tree say: it is not read whole.) */
	assert_true(quire_objs_has(o, r2));
	quire_objs_free(o);
	json_decref(m2);
	json_decref(m);
	free(qdir);
}

static void test_large_pack_in_parts(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m = story(2, 2, -1, -1, "");
	/* Five entries of 5 MB: 25 MB of objects, two parts at least. */
	char *big = malloc(5u << 20);
	memset(big, 'a', 5u << 20);
	big[(5u << 20) - 1] = '\0';
	for (int k = 0; k < 5; k++) {
		char id[32];
		snprintf(id, sizeof(id), "Draft[%d]", k);
		big[0] = (char)('a' + k);
		json_object_set_new(
			json_object_get(m, "artefacts"), id,
			json_pack("{sss[i]ss}", "producer", "Draft", "index", k, "notes", big));
	}
	free(big);
	char r[65];
	struct quire_rev2_in in = { .manifest = m, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r), 0);
	assert_int_equal(quire_objs_write_pack(o, r), 0);
	quire_objs_free(o);
	char path[512];
	snprintf(path, sizeof(path), "%s/revs/%s.2.objects", qdir, r);
	assert_true(access(path, F_OK) == 0);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *back = NULL;
	assert_int_equal(quire_rev2_load(o, r, &back), 0);
	assert_true(
		json_equal(json_object_get(back, "artefacts"), json_object_get(m, "artefacts")));
	json_decref(back);
	quire_objs_free(o);
	json_decref(m);
	free(qdir);
}

/* A manifest whose Book records n scenes' outputs, scene `changed` marked. */
static json_t *book_story(int n, int changed)
{
	json_t *m = story(1, n, 0, changed, "changed"), *arts = json_object_get(m, "artefacts");
	json_t *up = json_array();
	for (int c = 0; c < n; c++) {
		char id[64];
		snprintf(id, sizeof(id), "Scene[0][%d]", c);
		const char *d =
			json_string_value(json_object_get(json_object_get(arts, id), "digest"));
		json_array_append_new(up, json_pack("[ss]", id, d));
	}
	json_t *deps = json_pack("{s[]so}", "index", "upstream", up);
	json_t *rec = json_pack("{sOsi}", "deps", deps, "v", 1);
	struct quire_digest fp;
	assert_int_equal(quire_hash_json(rec, &fp), 0);
	json_decref(rec);
	json_object_set_new(arts, "Book",
			    json_pack("{sss[]sosss{ss}}", "producer", "Book", "index", "deps", deps,
				      "fingerprint", fp.s, "status", "clean", "extra", "x", "y"));
	return m;
}

static void test_record_deltas(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m1 = book_story(2000, -1), *m2 = book_story(2000, 1234);
	char r1[65], r2[65], whole[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	assert_int_equal(quire_objs_write_pack(o, r1), 0);
	in.manifest = m2;
	in.parents[0] = r1;
	in.nparents = 1;
	update_to(o, m1, m2, r1, &in, r2);
	/* The Book's record is 180 KB; its delta is a digest's worth. */
	assert_true(quire_objs_pending_bytes(o) < 10000);
	assert_int_equal(quire_objs_write_pack(o, r2), 0);
	quire_objs_free(o);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *back = NULL;
	assert_int_equal(quire_rev2_load(o, r2, &back), 0);
	assert_true(
		json_equal(json_object_get(back, "artefacts"), json_object_get(m2, "artefacts")));
	json_decref(back);
	/* The same revision as a whole build makes. */
	assert_int_equal(quire_rev2_build(o, &in, whole), 0);
	assert_string_equal(whole, r2);
	quire_objs_free(o);
	/* The delta's base damaged: the Book's entry cannot be read back, and says so. */
	/* The digest's first hex digit after "sha256:" (a fresh one is rarely 'g'). */
	tu_damage_pack(qdir, r1, "[\"Scene[0][7]\",\"sha256:", 23, 'g');
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_int_equal(quire_rev2_load(o, r2, &back), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "does not match its name"));
	/* Named in the pack that holds the damage, not the one holding the delta read. */
	char pack1[80];
	snprintf(pack1, sizeof(pack1), "%s.objects", r1);
	assert_non_null(strstr(quire_error_last(), pack1));
	quire_objs_free(o);
	json_decref(m1);
	json_decref(m2);
	free(qdir);
}

/* A visitor that stops at the Book, as a store that cannot be written would. */
static int stop_at_book(void *ud, const char *rev, const char *id, const json_t *e, int lost)
{
	(void)ud;
	(void)rev;
	(void)e;
	(void)lost;
	return strcmp(id, "Book") ? 0 : quire_error_set(QUIRE_ENOTFOUND, "the visitor's own");
}

/* What a scan visited: every digest named (a set), the entries visited per revision, the
 * ids told their record is lost. */
struct scanned {
	json_t *digests, *lost;
	int entries, files;
};

static int scan_file(void *ud, const char *rev, const char *path, const json_t *v)
{
	struct scanned *s = ud;
	(void)rev;
	(void)path;
	json_object_set(s->digests, json_string_value(v), json_true());
	s->files++;
	return 0;
}

static int scan_entry(void *ud, const char *rev, const char *id, const json_t *e, int lost)
{
	struct scanned *s = ud;
	(void)rev;
	if (json_is_string(json_object_get(e, "digest")))
		json_object_set(s->digests, json_string_value(json_object_get(e, "digest")),
				json_true());
	if (lost)
		json_array_append_new(s->lost, json_pack("[ss]", rev, id));
	s->entries++;
	return 0;
}

/* The digests revision rev names, read whole. */
static void names_of(struct quire_objs *o, const char *rev, json_t *set)
{
	json_t *m = NULL, *v;
	assert_int_equal(quire_rev2_load(o, rev, &m), 0);
	const char *k;
	json_object_foreach(json_object_get(m, "files"), k, v)
		json_object_set(set, json_string_value(v), json_true());
	json_object_foreach(json_object_get(m, "artefacts"), k, v) {
		if (json_is_string(json_object_get(v, "digest")))
			json_object_set(set, json_string_value(json_object_get(v, "digest")),
					json_true());
	}
	json_decref(m);
}

/* gc, fsck and a push scan every revision: what the revisions name, each node read once (the
 * second revision's unchanged leaves are not visited again), a lost record told in every
 * revision that holds it, and damage under a shared node named in every revision above it. */
static void test_scan_reads_each_node_once(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	json_t *m1 = book_story(300, -1), *m2 = book_story(300, 7);
	/* An entry whose record is not stored (a damaged pack lost it). */
	json_t *lost = json_pack(
		"{sss[]ssss}", "producer", "Lost", "index", "status", "clean", "fingerprint",
		"sha256:"
		"0000000000000000000000000000000000000000000000000000000000000000");
	json_object_set(json_object_get(m1, "artefacts"), "Lost", lost);
	json_object_set_new(json_object_get(m2, "artefacts"), "Lost", lost);
	char r1[65], r2[65];
	struct quire_rev2_in in = { .manifest = m1, .generation = 1 };
	assert_int_equal(quire_rev2_build(o, &in, r1), 0);
	assert_int_equal(quire_objs_write_pack(o, r1), 0);
	in.manifest = m2;
	in.parents[0] = r1;
	in.nparents = 1;
	in.generation = 2;
	/* The second Book's record a delta of the first's, as a commit stores it. */
	update_to(o, m1, m2, r1, &in, r2);
	assert_int_equal(quire_objs_write_pack(o, r2), 0);
	json_t *want = json_object();
	names_of(o, r1, want);
	names_of(o, r2, want);
	quire_objs_free(o);
	for (int verify = 0; verify < 2; verify++) {
		struct scanned sc = { json_object(), json_array(), 0, 0 };
		struct quire_manifest_visitor v = { scan_file, scan_entry, verify, &sc };
		struct quire_manifest_scan *s = quire_manifest_scan_new(qdir, &v);
		assert_int_equal(quire_manifest_scan(s, r1), 0);
		assert_int_equal(sc.entries, 300 + 3);
		assert_int_equal(sc.files, 601);
		assert_int_equal(quire_manifest_scan(s, r2), 0);
		/* The changed scene's leaf (16), the Book, and (checking records) the entry whose
		 * record is lost. */
		assert_int_equal(sc.entries, 300 + 3 + 16 + 1 + verify);
		assert_int_equal(sc.files, 601);
		assert_true(json_equal(sc.digests, want));
		json_t *told =
			verify ? json_pack("[[ss][ss]]", r1, "Lost", r2, "Lost") : json_array();
		assert_true(json_equal(sc.lost, told));
		json_decref(told);
		quire_manifest_scan_free(s);
		json_decref(sc.digests);
		json_decref(sc.lost);
	}
	/* A visitor's error is its own, not taken for a damaged pack. */
	struct quire_manifest_visitor stop = { NULL, stop_at_book, 0, NULL };
	struct quire_manifest_scan *ss = quire_manifest_scan_new(qdir, &stop);
	assert_int_equal(quire_manifest_scan(ss, r1), QUIRE_ENOTFOUND);
	assert_string_equal(quire_error_last(), "the visitor's own");
	quire_error_clear();
	quire_manifest_scan_free(ss);
	/* The Book's first record damaged where the second's, a delta of it, copies it: both
	 * revisions are named (the record is read again for the second, not taken as seen). */
	tu_damage_pack(qdir, r1, "[\"Scene[0][200]\",\"sha256:", 25, 'g');
	struct scanned sc = { json_object(), json_array(), 0, 0 };
	struct quire_manifest_visitor v = { NULL, scan_entry, 1, &sc };
	struct quire_manifest_scan *s = quire_manifest_scan_new(qdir, &v);
	assert_int_equal(quire_manifest_scan(s, r1), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "does not match its name"));
	quire_error_clear();
	assert_int_equal(quire_manifest_scan(s, r2), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "does not match its name"));
	quire_error_clear();
	quire_manifest_scan_free(s);
	json_decref(sc.digests);
	json_decref(sc.lost);
	json_decref(want);
	json_decref(m1);
	json_decref(m2);
	free(qdir);
}

static int count_visit(void *ud, const char *rev)
{
	(void)rev;
	(*(int *)ud)++;
	return 0;
}

/* The upgrade: stopped by a manifest it cannot read, with nothing removed and current as it
 * was; done, every manifest read the same through the manifest API by its new name; done
 * again after a crash left the format-1 files, it only finishes. */
static void test_upgrade(void **state)
{
	(void)state;
	char *dir = copy_fixture(), *qdir = NULL, *path = NULL, *cur = NULL, cmd[8192];
	assert_true(asprintf(&qdir, "%s/.quire", dir) > 0);
	assert_true(asprintf(&path, "%s/manifests/rev-0005.json", qdir) > 0);
	char *good = tu_slurp(path);
	/* Damaged among its artefacts, where only a whole read sees it: the revisions before it
	 * are converted first. */
	tu_damage_at(path, "\"artefacts\": {", 16, '!');
	assert_int_equal(quire_rev2_upgrade(qdir, NULL), QUIRE_ECORRUPT);
	assert_int_equal(quire_manifest_current(qdir, &cur), 0);
	assert_string_equal(cur, "rev-0007");
	free(cur);
	snprintf(cmd, sizeof(cmd), "%s/manifests", qdir);
	assert_int_equal(tu_count_dir(cmd), 7);
	/* No pack of the revisions before it stays (they would be listed twice), and the
	 * store is not marked format 2. */
	snprintf(cmd, sizeof(cmd), "%s/revs", qdir);
	assert_int_equal(tu_count_dir(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/format", qdir);
	assert_int_not_equal(access(cmd, F_OK), 0);
	tu_write(qdir, "manifests/rev-0005.json", good);

	/* What each revision reads as before, kept to compare. */
	json_t *before = json_object();
	for (int k = 1; k <= 7; k++) {
		char v1[16];
		json_t *m = NULL;
		snprintf(v1, sizeof(v1), "rev-%04d", k);
		assert_int_equal(quire_manifest_load(qdir, v1, &m), 0);
		json_object_set_new(before, v1, m);
	}
	snprintf(cmd, sizeof(cmd), "cp -R '%s/manifests' '%s/v1'", qdir, dir);
	assert_int_equal(system(cmd), 0);
	json_t *names = json_object();
	assert_int_equal(quire_rev2_upgrade(qdir, names), 0);
	assert_int_equal(json_object_size(names), 7);
	snprintf(cmd, sizeof(cmd), "%s/manifests", qdir);
	assert_int_equal(tu_count_dir(cmd), 0);
	assert_int_equal(quire_manifest_current(qdir, &cur), 0);
	assert_string_equal(cur, json_string_value(json_object_get(names, "rev-0007")));
	char *format = NULL;
	assert_true(asprintf(&format, "%s/format", qdir) > 0);
	char *ftext = tu_slurp(format);
	assert_string_equal(ftext, "2\n");
	free(ftext);
	free(format);
	/* A crash after current moved: the format-1 files are back; a second upgrade writes no
	 * pack and removes them. */
	snprintf(cmd, sizeof(cmd), "cp '%s/v1/'*.json '%s/manifests/'", dir, qdir);
	assert_int_equal(system(cmd), 0);
	char **list = NULL;
	size_t n = 0;
	assert_int_equal(quire_manifest_list(qdir, &list, &n), 0);
	assert_int_equal(n, 14);
	for (size_t k = 0; k < n; k++)
		free(list[k]);
	free(list);
	char *packs = packs_text(dir);
	json_t *again = json_object();
	assert_int_equal(quire_rev2_upgrade(qdir, again), 0);
	assert_true(json_equal(names, again));
	char *packs2 = packs_text(dir);
	assert_string_equal(packs, packs2);
	assert_int_equal(quire_manifest_list(qdir, &list, &n), 0);
	assert_int_equal(n, 7);

	const char *v1;
	json_t *v2;
	json_object_foreach(names, v1, v2) {
		const char *name = json_string_value(v2);
		json_t *m1 = json_object_get(before, v1), *m2 = NULL, *h = NULL;
		assert_int_equal(quire_manifest_load(qdir, name, &m2), 0);
		json_t *a1 = normalised(json_object_get(m1, "artefacts"));
		assert_true(json_equal(a1, json_object_get(m2, "artefacts")));
		json_decref(a1);
		assert_string_equal(json_string_value(json_object_get(m2, "revision")), name);
		assert_int_equal(json_integer_value(json_object_get(m2, "format")), 1);
		assert_null(json_object_get(m2, "generation"));
		const char *p1 = json_string_value(json_object_get(m1, "parent"));
		const char *p2 = json_string_value(json_object_get(m2, "parent"));
		if (p1)
			assert_string_equal(p2, json_string_value(json_object_get(names, p1)));
		else
			assert_true(json_is_null(json_object_get(m2, "parent")));
		long long narts = 0;
		assert_int_equal(quire_manifest_head(qdir, name, &h, &narts), 0);
		assert_int_equal(narts,
				 (long long)json_object_size(json_object_get(m1, "artefacts")));
		assert_true(
			json_equal(json_object_get(h, "inputs"), json_object_get(m1, "inputs")));
		assert_true(
			json_equal(json_object_get(h, "counts"), json_object_get(m1, "counts")));
		assert_null(json_object_get(h, "artefacts"));
		assert_int_equal(quire_manifest_verify_name(qdir, name), 0);
		json_decref(m2);
		json_decref(h);
	}
	int seen = 0;
	assert_int_equal(quire_manifest_walk(qdir, cur, count_visit, &seen), 0);
	assert_int_equal(seen, 7);
	assert_true(quire_manifest_is_ancestor(
		qdir, json_string_value(json_object_get(names, "rev-0001")), cur));
	assert_false(quire_manifest_is_ancestor(
		qdir, cur, json_string_value(json_object_get(names, "rev-0001"))));
	json_t *m = NULL;
	assert_int_equal(quire_manifest_load(qdir, "rev-0003", &m), QUIRE_ENOTFOUND);
	quire_error_clear();
	for (size_t k = 0; k < n; k++)
		free(list[k]);
	free(list);
	free(packs);
	free(packs2);
	free(cur);
	free(good);
	free(path);
	json_decref(names);
	json_decref(again);
	json_decref(before);
	free(qdir);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_round_trip),
		cmocka_unit_test(test_two_conversions_agree),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test_setup_teardown(test_one_change_costs_a_path, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_reader, tu_setup_qdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_damage_is_named, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_large_pack_in_parts, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_record_deltas, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_scan_reads_each_node_once, tu_setup_qdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
