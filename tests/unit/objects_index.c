/* The object index (.quire/runs/objects.db) shared by processes: one rebuilding it while
 * another has it open, two indexing the same pack, damage found after the open, names that
 * are not hex. */
#include "testutil.h"

#include <sqlite3.h>

#include "core/objects.h"
#include "quire/error.h"
#include "quire/hash.h"

static char *qdir_of(void **state)
{
	char *qdir = NULL;
	assert_true(asprintf(&qdir, "%s/.quire", (char *)*state) > 0);
	return qdir;
}

static void hex_of(const char *s, char hex[65])
{
	struct quire_digest d;
	quire_hash_bytes(s, strlen(s), &d);
	memcpy(hex, d.s + 7, 65);
}

/* A pack <name>.objects holding the one object s. */
static void pack_of(const char *qdir, const char *name, const char *s)
{
	char h[65], rel[256], text[1024];
	hex_of(s, h);
	snprintf(rel, sizeof(rel), "revs/%s.objects", name);
	snprintf(text, sizeof(text), "quire-objects 1\n%s %zu\n%s\n", h, strlen(s), s);
	tu_write(qdir, rel, text);
}

/* Another process rebuilds the index (a pack went: a checkout) while this one has it open:
 * its packs' row ids start again, and this one still reads the right pack (packs are known
 * by name). */
static void test_rebuild_by_other_process_reuses_ids(void **state)
{
	char *qdir = qdir_of(state);
	pack_of(qdir, "aaaa", "object one");
	pack_of(qdir, "bbbb", "object two!");
	pack_of(qdir, "cccc", "object three");
	struct quire_objs *o1 = NULL, *o2 = NULL;
	assert_int_equal(quire_objs_open(qdir, &o1), 0); /* aaaa=1 bbbb=2 cccc=3 */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm '%s/revs/aaaa.objects'", qdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(quire_objs_open(qdir, &o2), 0); /* rebuilt: bbbb=1 cccc=2 */
	char h[65];
	hex_of("object three", h);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_objs_read(o1, h, &b);
	assert_int_equal(err, 0);
	assert_string_equal(b.ptr, "object three");
	quire_buf_release(&b);
	quire_objs_free(o1);
	quire_objs_free(o2);
	free(qdir);
}

/* Two processes write the same revision's pack: the second finds it indexed already, and
 * still reads every object right. */
static void test_same_pack_indexed_twice(void **state)
{
	char *qdir = qdir_of(state);
	pack_of(qdir, "aaaa", "object one");
	struct quire_objs *o1 = NULL, *o2 = NULL;
	assert_int_equal(quire_objs_open(qdir, &o2), 0); /* scans aaaa: its last insert, id 1 */
	assert_int_equal(quire_objs_open(qdir, &o1), 0);
	const char *rev = "{\"type\":\"revision\",\"x\":1}";
	char r[65];
	quire_objs_put(o1, rev, strlen(rev), r);
	assert_int_equal(quire_objs_write_pack(o1, r), 0); /* indexed, id 2 */
	quire_objs_put(o2, rev, strlen(rev), r);	   /* id 2 unknown to o2: pending again */
	assert_int_equal(quire_objs_write_pack(o2, r), 0); /* INSERT fails: o2 maps id 1 to it */
	char h[65];
	hex_of("object one", h);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_objs_read(o2, h, &b);
	assert_int_equal(err, 0);
	quire_buf_release(&b);
	quire_objs_free(o1);
	quire_objs_free(o2);
	free(qdir);
}

/* The index damaged past its first pages (found by a lookup, not at open): the object is
 * read from its pack all the same, and the index is made again by the next open. */
static void test_damaged_objects_table_hides_objects(void **state)
{
	char *qdir = qdir_of(state);
	pack_of(qdir, "aaaa", "object one");
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	quire_objs_free(o);
	char path[1024];
	snprintf(path, sizeof(path), "%s/runs/objects.db", qdir);
	/* The objects table's root page (page 4: packs, its name index, then objects). */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(
		sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE name='objects'",
				   -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int root = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	char junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(fseek(f, (long)(root - 1) * 4096, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	char h[65];
	hex_of("object one", h);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_objs_read(o, h, &b);
	assert_int_equal(err, 0);
	quire_buf_release(&b);
	quire_objs_free(o);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	assert_true(quire_objs_has(o, h));
	quire_objs_free(o);
	db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA integrity_check", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(qdir);
}

/* A name that is not hex (a user's typo) names nothing, though it would decode to a real
 * object's 32 bytes. */
static void test_non_hex_name_found(void **state)
{
	char *qdir = qdir_of(state);
	pack_of(qdir, "aaaa", "object one");
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	char h[65];
	hex_of("object one", h);
	int changed = 0;
	for (int k = 0; k < 64; k += 2)
		if (h[k] >= 'a' && h[k] <= 'f') {
			h[k] = (char)(h[k] + 16); /* 'a' -> 'q': the same nibble once decoded */
			changed = 1;
		}
	assert_true(changed);
	assert_false(quire_objs_has(o, h));
	quire_objs_free(o);
	free(qdir);
}

/* Object k of test_pack_read_in_pieces: 30,001 bytes, or 2.5 MB for k == 40 (more than the
 * MiB a pack is read in). */
static void piece_k(struct quire_buf *b, int k)
{
	quire_buf_reset(b);
	size_t n = k == 40 ? 2500000 : 30001;
	while (b->len < n)
		quire_buf_printf(b, "%03d.%08zu|", k, b->len);
	b->len = n;
	b->ptr[n] = '\0';
}

/* A pack is indexed a MiB at a time: objects cut at a MiB's end, and one larger than a MiB,
 * are found whole; damage past the first MiB keeps the objects before it. */
static void test_pack_read_in_pieces(void **state)
{
	char *qdir = qdir_of(state);
	struct quire_objs *o = NULL;
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	char hex[80][65];
	struct quire_buf b = QUIRE_BUF_INIT, r = QUIRE_BUF_INIT;
	for (int k = 0; k < 80; k++) {
		piece_k(&b, k);
		quire_objs_put(o, b.ptr, b.len, hex[k]);
	}
	assert_int_equal(quire_objs_write_pack(o, hex[0]), 0);
	quire_objs_free(o);
	/* Indexed from the pack, read in pieces (the store had no pack, so no index, when the
	 * handle that wrote it was opened). */
	char path[512];
	snprintf(path, sizeof(path), "%s/runs/objects.db", qdir);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	for (int k = 0; k < 80; k++) {
		piece_k(&b, k);
		quire_buf_reset(&r);
		assert_int_equal(quire_objs_read(o, hex[k], &r), 0);
		assert_true(r.len == b.len && !memcmp(r.ptr, b.ptr, b.len));
	}
	quire_objs_free(o);
	/* Object 60's header (past 3 MB) damaged: the 60 before it are still found. */
	char needle[80];
	snprintf(needle, sizeof(needle), "\n%s ", hex[60]);
	tu_damage_pack(qdir, hex[0], needle, 1, 'x');
	assert_int_equal(unlink(path), 0);
	assert_int_equal(quire_objs_open(qdir, &o), 0);
	for (int k = 0; k < 80; k++)
		assert_int_equal(quire_objs_has(o, hex[k]), k < 60);
	quire_objs_free(o);
	quire_buf_release(&b);
	quire_buf_release(&r);
	free(qdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rebuild_by_other_process_reuses_ids,
						tu_setup_qdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_same_pack_indexed_twice, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_damaged_objects_table_hides_objects,
						tu_setup_qdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_pack_read_in_pieces, tu_setup_qdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_non_hex_name_found, tu_setup_qdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
