/* Unit tests for the content-addressed blob store (quire/blob.h). */
#include "testutil.h"

#include <fcntl.h>
#include <sqlite3.h>

#include "core/blob_pack.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"

/* Text of at least 4 KiB (a blob kept as a file, not packed): head, then dots. */
static size_t big_text(char *buf, size_t cap, const char *head)
{
	size_t n = (size_t)snprintf(buf, cap, "%s", head);
	while (n < 4200 && n + 1 < cap)
		buf[n++] = '.';
	buf[n] = '\0';
	return n;
}

/* sha256("hello\n") */
#define HELLO_HEX "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static void test_put_addresses_by_sha256(void **state)
{
	(void)state;
	struct quire_digest d = { 0 };
	assert_int_equal(quire_blob_put(".quire", "hello\n", 6, &d), 0);
	assert_string_equal(d.s, "sha256:" HELLO_HEX);

	char *path = quire_blob_path(".quire", d.s);
	assert_string_equal(path, ".quire/blobs/sha256/58/" HELLO_HEX);
	struct stat st;
	/* Small: packed, no file of its own. */
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(lstat(".quire/blobs/pack.db", &st), 0);
	assert_int_equal(quire_blob_exists(".quire", d.s), 1);
	assert_int_equal(quire_blob_size(".quire", d.s), 6);
	free(path);

	/* 4 KiB or more: a read-only file named by its digest. */
	char big[5000];
	size_t n = big_text(big, sizeof(big), "big\n");
	assert_int_equal(quire_blob_put(".quire", big, n, &d), 0);
	path = quire_blob_path(".quire", d.s);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(st.st_size, (off_t)n);
	char *text = tu_slurp(path);
	assert_string_equal(text, big);
	free(text);
	assert_int_equal(quire_blob_exists(".quire", d.s), 1);
	assert_int_equal(quire_blob_size(".quire", d.s), (long long)n);

	/* No temp files are left next to the blob. */
	char shard[64];
	snprintf(shard, sizeof(shard), ".quire/blobs/sha256/%.2s", d.s + 7);
	assert_int_equal(tu_count_dir(shard), 1);
	free(path);
}

static void test_put_same_content_twice(void **state)
{
	(void)state;
	struct quire_digest a, b;
	assert_int_equal(quire_blob_put(".quire", "same bytes", 10, &a), 0);
	assert_int_equal(quire_blob_put(".quire", "same bytes", 10, &b), 0);
	assert_string_equal(a.s, b.s);
	struct quire_buf buf = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", a.s, &buf, 0, 1), 0);
	assert_int_equal(buf.len, 10);
	assert_memory_equal(buf.ptr, "same bytes", 10);
	quire_buf_release(&buf);

	/* Different content gets a different address. */
	struct quire_digest c;
	assert_int_equal(quire_blob_put(".quire", "same bytes!", 11, &c), 0);
	assert_string_not_equal(a.s, c.s);

	/* The empty blob is a valid blob too. */
	struct quire_digest e;
	assert_int_equal(quire_blob_put(".quire", "", 0, &e), 0);
	assert_string_equal(
		e.s, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(quire_blob_read(".quire", e.s, &buf, 0, 1), 0);
	assert_int_equal(buf.len, 0);
	quire_buf_release(&buf);
}

static void test_read_appends_and_caps(void **state)
{
	(void)state;
	struct quire_digest d;
	assert_int_equal(quire_blob_put(".quire", "hello\n", 6, &d), 0);
	struct quire_buf buf = QUIRE_BUF_INIT;
	quire_buf_puts(&buf, ">>");
	/* verify hashes only the blob's bytes, not what the buffer held before. */
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 1), 0);
	assert_string_equal(buf.ptr, ">>hello\n");
	quire_buf_release(&buf);
	assert_int_not_equal(quire_blob_read(".quire", d.s, &buf, 3, 0), 0);
	quire_buf_release(&buf);
}

static void test_verify_detects_corruption(void **state)
{
	(void)state;
	struct quire_digest d;
	char big[5000];
	size_t n = big_text(big, sizeof(big), "hello\n");
	assert_int_equal(quire_blob_put(".quire", big, n, &d), 0);
	char *path = quire_blob_path(".quire", d.s);
	assert_int_equal(chmod(path, 0644), 0);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("jello\n", f);
	fclose(f);

	struct quire_buf buf = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 1), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), d.s + 7));
	quire_buf_release(&buf);
	/* Without verify the bytes come back as they are on disk. */
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 0), 0);
	assert_string_equal(buf.ptr, "jello\n");
	quire_buf_release(&buf);
	free(path);
}

static void test_missing_and_invalid(void **state)
{
	(void)state;
	const char *absent = "sha256:" HELLO_HEX;
	assert_int_equal(quire_blob_exists(".quire", absent), 0);
	struct quire_buf buf = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", absent, &buf, 0, 1), QUIRE_ENOTFOUND);
	assert_non_null(strstr(quire_error_last(), HELLO_HEX));
	assert_int_equal(buf.len, 0);
	assert_int_equal(quire_blob_read(".quire", "sha256:xyz", &buf, 0, 1), QUIRE_EINVALID);
	assert_int_equal(quire_blob_read(".quire", "../../etc/passwd", &buf, 0, 0), QUIRE_EINVALID);
	assert_int_equal(quire_blob_exists(".quire", "sha256:xyz"), 0);
	quire_buf_release(&buf);
}

static void test_adopt_moves_temp_file(void **state)
{
	(void)state;
	char big[5000];
	big_text(big, sizeof(big), "hello\n");
	struct quire_digest bd;
	quire_hash_bytes(big, strlen(big), &bd);
	tu_write(".", ".quire/tmp/job-1.md", big);
	const char *digest = bd.s;
	assert_int_equal(quire_blob_adopt(".quire", ".quire/tmp/job-1.md", digest), 0);
	struct stat st;
	assert_int_equal(stat(".quire/tmp/job-1.md", &st), -1);
	char *path = quire_blob_path(".quire", digest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	free(path);
	struct quire_buf buf = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", digest, &buf, 0, 1), 0);
	assert_string_equal(buf.ptr, big);
	quire_buf_release(&buf);

	/* Adopting content that is already stored replaces the stored copy (which could be one
	 * a power loss damaged before it was synced): the temp file is gone either way. */
	tu_write(".", ".quire/tmp/job-2.md", big);
	assert_int_equal(quire_blob_adopt(".quire", ".quire/tmp/job-2.md", digest), 0);
	assert_int_equal(stat(".quire/tmp/job-2.md", &st), -1);
	assert_int_equal(quire_blob_read(".quire", digest, &buf, 0, 1), 0);
	assert_string_equal(buf.ptr, big);
	quire_buf_release(&buf);

	path = quire_blob_path(".quire", digest);
	assert_int_equal(truncate(path, 0), 0);
	tu_write(".", ".quire/tmp/job-3.md", big);
	assert_int_equal(quire_blob_adopt(".quire", ".quire/tmp/job-3.md", digest), 0);
	assert_int_equal(quire_blob_read(".quire", digest, &buf, 0, 1), 0);
	assert_string_equal(buf.ptr, big);
	quire_buf_release(&buf);
	free(path);
}

/* The plan's existence checks: the same answers as quire_blob_exists. */
static void test_blob_set_answers_like_exists(void **state)
{
	(void)state;
	struct quire_digest d[40];
	char text[5000], head[32];
	for (int k = 0; k < 40; k++) {
		snprintf(head, sizeof(head), "blob %d\n", k);
		/* Half packed, half files: the set answers for both. */
		size_t n = k % 2 ? big_text(text, sizeof(text), head) : strlen(strcpy(text, head));
		assert_int_equal(quire_blob_put(".quire", text, n, &d[k]), 0);
	}
	/* A removed blob is not there, whatever sits next to its name. */
	char *gone = quire_blob_path(".quire", d[7].s);
	assert_int_equal(unlink(gone), 0);
	assert_int_equal(quire_blob_remove(".quire", d[8].s), 0);
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp-123", gone);
	tu_write(".", tmp, "partial");
	struct quire_blob_set *s = quire_blob_set_new(".quire", NULL, 0);
	for (int k = 0; k < 40; k++)
		assert_int_equal(quire_blob_set_has(s, d[k].s), k != 7 && k != 8);
	assert_int_equal(quire_blob_set_has(s, "sha256:" HELLO_HEX), 0);
	assert_int_equal(quire_blob_set_has(s, "sha256:xyz"), 0);
	assert_int_equal(quire_blob_set_has(s, "../../etc/passwd"), 0);
	char upper[80];
	snprintf(upper, sizeof(upper), "%s", d[0].s);
	for (char *c = upper + 7; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	assert_int_equal(quire_blob_set_has(s, upper), quire_blob_exists(".quire", upper));
	quire_blob_set_free(s);
	/* And quire_blob_exists_many, asked them all at once (a rewind's store check). */
	const char *all[46];
	unsigned char has[46];
	for (int k = 0; k < 40; k++)
		all[k] = d[k].s;
	const char *odd[] = {
		"sha256:" HELLO_HEX, "sha256:xyz", "../../etc/passwd", upper, NULL, d[3].s
	};
	memcpy(all + 40, odd, sizeof(odd));
	memset(has, 7, sizeof(has));
	quire_blob_exists_many(".quire", all, 46, has);
	for (int k = 0; k < 46; k++)
		assert_int_equal(has[k], all[k] && quire_blob_exists(".quire", all[k]));
	assert_int_equal(has[3] + has[7] + has[45], 2);
	/* No store at all: nothing exists. */
	const char *one[] = { d[0].s };
	s = quire_blob_set_new("no-such-dir/.quire", one, 1);
	assert_int_equal(quire_blob_set_has(s, d[0].s), 0);
	quire_blob_set_free(s);
	free(gone);
}

extern int64_t quire__blob_trust_racy_ns;

/* Puts n blobs "trust N\n" into .quire: names[k] is the digest of the kth. */
static void trust_store(struct quire_digest *d, const char **names, int n)
{
	char text[5000], head[32];
	for (int k = 0; k < n; k++) {
		snprintf(head, sizeof(head), "trust %d\n", k);
		size_t len = big_text(text, sizeof(text), head);
		assert_int_equal(quire_blob_put(".quire", text, len, &d[k]), 0);
		names[k] = d[k].s;
	}
}

/* A digest in the same shard as d that was never stored. */
static void never_stored(const char *d, char *out)
{
	snprintf(out, 72, "%.9s%062d", d, 0);
}

static int same_shard(const char *a, const char *b)
{
	return a[7] == b[7] && a[8] == b[8];
}

static int trust_lines(void)
{
	char *t = tu_slurp(".quire/runs/blob-trust");
	int n = 0;
	for (char *c = t; c && *c; c++)
		n += *c == '\n';
	free(t);
	return n - 2; /* the header and the pack's line */
}

/* Asks about every digest, then records. */
static void check_all_and_save(const char **names, int n)
{
	struct quire_blob_set *s = quire_blob_set_new(".quire", names, (size_t)n);
	for (int k = 0; k < n; k++)
		assert_int_equal(quire_blob_set_has(s, names[k]), 1);
	quire_blob_set_save(s, names, (size_t)n);
	quire_blob_set_free(s);
}

/* Shards whose every digest was found are trusted next time, for the same set of digests
 * there only; any change to a shard (a blob removed or added) brings its checks back. */
static void test_blob_set_trusts_checked_shards(void **state)
{
	(void)state;
	struct quire_digest d[60];
	const char *names[60];
	trust_store(d, names, 60);
	quire__blob_trust_racy_ns = 50 * 1000000LL;
	usleep(120 * 1000); /* the shards are older than the racy window */
	struct quire_blob_set *s = quire_blob_set_new(".quire", names, 60);
	for (int k = 0; k < 60; k++)
		assert_int_equal(quire_blob_set_has(s, d[k].s), 1);
	assert_int_equal(quire_blob_set_pending(s), 1);
	quire_blob_set_save(s, names, 60);
	quire_blob_set_free(s);
	int shards = trust_lines();
	assert_true(shards > 20 && shards <= 60);

	/* Trusted: a digest never stored in a recorded shard is answered without a check. */
	char ghost[72], ghost1[72];
	never_stored(d[0].s, ghost);
	never_stored(d[1].s, ghost1);
	s = quire_blob_set_new(".quire", names, 60);
	assert_int_equal(quire_blob_set_has(s, ghost), 1);
	assert_int_equal(quire_blob_set_has(s, d[1].s), 1);
	assert_int_equal(quire_blob_set_pending(s), 0);
	quire_blob_set_free(s);

	/* Another manifest, whose digests differ in d[0]'s shard: that shard is checked, the
	 * others (the same digests there) are still trusted. */
	const char *other[60];
	memcpy(other, names, sizeof(other));
	other[0] = ghost;
	s = quire_blob_set_new(".quire", other, 60);
	assert_int_equal(quire_blob_set_has(s, ghost), 0);
	if (!same_shard(d[0].s, d[1].s))
		assert_int_equal(quire_blob_set_has(s, ghost1), 1);
	quire_blob_set_free(s);
	/* No digests given: no trust at all. */
	s = quire_blob_set_new(".quire", NULL, 0);
	assert_int_equal(quire_blob_set_has(s, ghost1), 0);
	quire_blob_set_free(s);

	/* A blob removed from a trusted shard is missed at once. */
	char *gone = quire_blob_path(".quire", d[3].s);
	assert_int_equal(chmod(gone, 0644), 0);
	assert_int_equal(unlink(gone), 0);
	s = quire_blob_set_new(".quire", names, 60);
	assert_int_equal(quire_blob_set_has(s, d[3].s), 0);
	for (int k = 0; k < 60; k++)
		if (k != 3)
			assert_int_equal(quire_blob_set_has(s, d[k].s), 1);
	quire_blob_set_save(s, names, 60);
	quire_blob_set_free(s);
	/* ... and its shard is not recorded again while the blob is missing. */
	usleep(120 * 1000);
	s = quire_blob_set_new(".quire", names, 60);
	assert_int_equal(quire_blob_set_has(s, d[3].s), 0);
	quire_blob_set_free(s);
	free(gone);
	quire__blob_trust_racy_ns = 1000000000LL;
}

/* Nothing is recorded for a shard holding a digest of the manifest that was not asked about
 * (the record vouches for all of them), nor for shards changed within the racy window; a new
 * blob in one shard leaves the others trusted. */
static void test_blob_set_records_only_complete_old_shards(void **state)
{
	(void)state;
	struct quire_digest d[61];
	const char *names[61];
	trust_store(d, names, 61);
	/* Just written: within the (default) racy window, so no file at all. */
	check_all_and_save(names, 60);
	struct stat st;
	assert_int_equal(stat(".quire/runs/blob-trust", &st), -1);

	quire__blob_trust_racy_ns = 50 * 1000000LL;
	usleep(120 * 1000);
	/* d[0] is not asked about: its shard is not recorded, the others are. */
	struct quire_blob_set *s = quire_blob_set_new(".quire", names, 60);
	for (int k = 1; k < 60; k++)
		assert_int_equal(quire_blob_set_has(s, d[k].s), 1);
	quire_blob_set_save(s, names, 60);
	quire_blob_set_free(s);
	char ghost0[72], ghost1[72];
	never_stored(d[0].s, ghost0);
	never_stored(d[1].s, ghost1);
	int separate = !same_shard(d[0].s, d[1].s);
	s = quire_blob_set_new(".quire", names, 60);
	assert_int_equal(quire_blob_set_has(s, ghost0), 0);
	if (separate)
		assert_int_equal(quire_blob_set_has(s, ghost1), 1);
	quire_blob_set_free(s);

	/* The next revision adds d[60]: only its shard is checked again. */
	check_all_and_save(names, 60);
	s = quire_blob_set_new(".quire", names, 61);
	char ghost60[72];
	never_stored(d[60].s, ghost60);
	assert_int_equal(quire_blob_set_has(s, ghost60), 0);
	if (!same_shard(d[1].s, d[60].s))
		assert_int_equal(quire_blob_set_has(s, ghost1), 1);
	quire_blob_set_free(s);

	/* A save given a shorter list than the set was made with records nothing where the two
	 * differ: j (removed from the store, never asked about) shares a shard with i. */
	int i = -1, j = -1;
	for (int x = 0; x < 60 && j < 0; x++)
		for (int y = x + 1; y < 60 && j < 0; y++)
			if (same_shard(d[x].s, d[y].s))
				i = x, j = y;
	if (j >= 0) {
		unlink(".quire/runs/blob-trust");
		char *gone = quire_blob_path(".quire", d[j].s);
		assert_int_equal(chmod(gone, 0644), 0);
		assert_int_equal(unlink(gone), 0);
		free(gone);
		usleep(120 * 1000);
		const char *without[60];
		int nw = 0;
		for (int k = 0; k < 60; k++)
			if (k != j)
				without[nw++] = names[k];
		s = quire_blob_set_new(".quire", names, 60);
		for (int k = 0; k < nw; k++)
			assert_int_equal(quire_blob_set_has(s, without[k]), 1);
		quire_blob_set_save(s, without, (size_t)nw);
		quire_blob_set_free(s);
		s = quire_blob_set_new(".quire", names, 60);
		assert_int_equal(quire_blob_set_has(s, d[j].s), 0);
		assert_int_equal(quire_blob_set_has(s, d[i].s), 1);
		quire_blob_set_free(s);
	}

	/* A damaged trust file is no trust. */
	tu_write(".", ".quire/runs/blob-trust", "quire-blob-trust 3\ngarbage\n");
	s = quire_blob_set_new(".quire", names, 60);
	assert_int_equal(quire_blob_set_has(s, ghost1), 0);
	quire_blob_set_free(s);
	quire__blob_trust_racy_ns = 1000000000LL;
}

/* Runs sql on the pack as another program would (sqlite3 by hand). */
static void pack_sql(const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(".quire/blobs/pack.db", &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Small blobs live in the pack, verified as files are: read, size, copy out, remove,
 * adopt (which mends a damaged copy), and damage found. */
static void test_small_blobs_packed(void **state)
{
	(void)state;
	struct quire_digest d;
	assert_int_equal(quire_blob_put(".quire", "hello\n", 6, &d), 0);
	struct quire_buf buf = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 1), 0);
	assert_string_equal(buf.ptr, "hello\n");
	quire_buf_release(&buf);
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 3, 1), QUIRE_EINVALID);
	quire_buf_release(&buf);
	char *copy = NULL;
	assert_int_equal(quire_blob_file(".quire", d.s, ".", "copy.md", &copy), 0);
	char *text = tu_slurp(copy);
	assert_string_equal(text, "hello\n");
	free(text);
	free(copy);

	/* Damaged by hand: found by a verified read, and by the read a prompt uses. */
	pack_sql("UPDATE blob SET data = CAST('jello' || char(10) AS BLOB)");
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 1), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), HELLO_HEX));
	quire_buf_release(&buf);
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 0), 0);
	assert_string_equal(buf.ptr, "jello\n");
	quire_buf_release(&buf);
	assert_int_equal(quire_blob_read_at(".quire", -1, d.s, 6, &buf, 0), QUIRE_ECORRUPT);
	quire_buf_release(&buf);
	assert_int_not_equal(quire_blob_file(".quire", d.s, ".", "copy.md", &copy), 0);

	/* A finished small file adopted: packed over the damaged copy, the file left for its
	 * caller to remove (a run removes its workers' directories at its end). */
	tu_write(".", ".quire/tmp/job.md", "hello\n");
	assert_int_equal(quire_blob_adopt(".quire", ".quire/tmp/job.md", d.s), 0);
	struct stat st;
	assert_int_equal(stat(".quire/tmp/job.md", &st), 0);
	char *path = quire_blob_path(".quire", d.s);
	assert_int_equal(stat(path, &st), -1);
	free(path);
	assert_int_equal(quire_blob_read_at(".quire", -1, d.s, 6, &buf, 0), 0);
	assert_string_equal(buf.ptr, "hello\n");
	quire_buf_release(&buf);

	assert_int_equal(quire_blob_remove(".quire", d.s), 0);
	assert_int_equal(quire_blob_exists(".quire", d.s), 0);
	assert_int_equal(quire_blob_size(".quire", d.s), -1);
	assert_int_equal(quire_blob_read(".quire", d.s, &buf, 0, 1), QUIRE_ENOTFOUND);
	assert_non_null(strstr(quire_error_last(), "missing"));
	quire_buf_release(&buf);
	assert_int_equal(quire_blob_remove(".quire", d.s), 0); /* gone already: no error */
}

/* Many blobs read at once: each packed one from the pack (in one read transaction), a file
 * where it is one, every one verified, each with its own answer. */
static void test_read_many(void **state)
{
	(void)state;
	struct quire_digest small[3], big, gone;
	const char *texts[3] = { "one\n", "two\n", "three\n" };
	for (int k = 0; k < 3; k++)
		assert_int_equal(quire_blob_put(".quire", texts[k], strlen(texts[k]), &small[k]),
				 0);
	char large[5000];
	memset(large, 'x', sizeof(large));
	assert_int_equal(quire_blob_put(".quire", large, sizeof(large), &big), 0);
	quire_hash_bytes("never stored", 12, &gone);
	tu_blob_damage(".quire", small[1].s);

	const char *d[5] = { small[0].s, small[1].s, big.s, gone.s, small[2].s };
	/* Sizes as a plan knows them: the large one's, and one unknown. */
	long long sizes[5] = { 4, 4, (long long)sizeof(large), -1, -1 };
	struct quire_buf bufs[5];
	int errs[5];
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < 5; k++)
			bufs[k] = (struct quire_buf)QUIRE_BUF_INIT;
		/* Through the blob directory held open, then without it. */
		int dirfd = pass ? -1 : open(".quire/blobs/sha256", O_PATH | O_DIRECTORY);
		quire_blob_read_many(".quire", dirfd, d, sizes, 5, bufs, 0, errs);
		if (dirfd >= 0)
			close(dirfd);
		assert_int_equal(errs[0], 0);
		assert_memory_equal(bufs[0].ptr, "one\n", 4);
		assert_int_equal(errs[1], QUIRE_ECORRUPT);
		assert_int_equal(errs[2], 0);
		assert_int_equal(bufs[2].len, sizeof(large));
		assert_int_equal(errs[3], QUIRE_ENOTFOUND);
		assert_int_equal(errs[4], 0);
		assert_string_equal(bufs[4].ptr, "three\n");
		for (int k = 0; k < 5; k++)
			quire_buf_release(&bufs[k]);
	}
	/* Appended to what the buffers hold, under a run's batch of puts (its transaction open:
	 * the reads are inside it). */
	quire__pack_batch(1);
	struct quire_digest four;
	assert_int_equal(quire_blob_put(".quire", "four\n", 5, &four), 0);
	const char *d2[2] = { four.s, small[2].s };
	long long s2[2] = { 5, 6 };
	for (int k = 0; k < 2; k++) {
		bufs[k] = (struct quire_buf)QUIRE_BUF_INIT;
		quire_buf_puts(&bufs[k], "pre:");
	}
	quire_blob_read_many(".quire", -1, d2, s2, 2, bufs, 0, errs);
	assert_int_equal(errs[0], 0);
	assert_string_equal(bufs[0].ptr, "pre:four\n");
	assert_int_equal(errs[1], 0);
	assert_string_equal(bufs[1].ptr, "pre:three\n");
	quire_buf_release(&bufs[0]);
	quire_buf_release(&bufs[1]);
	quire__pack_batch(0);
	assert_int_equal(quire_blob_exists(".quire", four.s), 1);
	/* Over the cap: refused, not read. */
	quire_blob_read_many(".quire", -1, d + 2, sizes + 2, 1, bufs, 100, errs);
	assert_int_equal(errs[0], QUIRE_EINVALID);
	quire_buf_release(&bufs[0]);
	quire_blob_read_many(".quire", -1, d, sizes, 1, bufs, 2, errs);
	assert_int_equal(errs[0], QUIRE_EINVALID);
	quire_buf_release(&bufs[0]);
}

/* A plan trusts packed blobs it found while nothing was removed from the pack; a removal,
 * by quire or by hand, brings the checks back. */
static void test_blob_set_trusts_the_pack(void **state)
{
	(void)state;
	struct quire_digest d[40];
	const char *names[40];
	char text[32];
	for (int k = 0; k < 40; k++) {
		snprintf(text, sizeof(text), "packed %d\n", k);
		assert_int_equal(quire_blob_put(".quire", text, strlen(text), &d[k]), 0);
		names[k] = d[k].s;
	}
	check_all_and_save(names, 40);
	assert_true(trust_lines() > 10);
	char ghost[72];
	never_stored(d[0].s, ghost);
	struct quire_blob_set *s = quire_blob_set_new(".quire", names, 40);
	assert_int_equal(quire_blob_set_has(s, ghost), 1); /* trusted, not asked */
	quire_blob_set_free(s);

	/* Another blob added to the pack removes nothing: still trusted. */
	struct quire_digest extra;
	assert_int_equal(quire_blob_put(".quire", "extra\n", 6, &extra), 0);
	s = quire_blob_set_new(".quire", names, 40);
	assert_int_equal(quire_blob_set_has(s, ghost), 1);
	quire_blob_set_free(s);

	/* One removed by hand: no record is trusted. */
	pack_sql("DELETE FROM blob WHERE id = 4");
	s = quire_blob_set_new(".quire", names, 40);
	assert_int_equal(quire_blob_set_has(s, ghost), 0);
	assert_int_equal(quire_blob_set_has(s, d[3].s), 0);
	assert_int_equal(quire_blob_set_has(s, d[4].s), 1);
	quire_blob_set_free(s);
}

static void test_put_file(void **state)
{
	(void)state;
	tu_write(".", "inputs.yaml", "hello\n");
	struct quire_digest d;
	uint64_t size = 0;
	assert_int_equal(quire_blob_put_file(".quire", "inputs.yaml", &d, &size), 0);
	assert_string_equal(d.s, "sha256:" HELLO_HEX);
	assert_int_equal(size, 6);
	assert_int_equal(quire_blob_exists(".quire", d.s), 1);
	/* The source stays where it was. */
	struct stat st;
	assert_int_equal(stat("inputs.yaml", &st), 0);
	assert_int_equal(quire_blob_put_file(".quire", "no-such-file", &d, &size), QUIRE_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blob_set_answers_like_exists, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_blob_set_trusts_checked_shards,
						tu_setup_tmpdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_blob_set_records_only_complete_old_shards,
						tu_setup_tmpdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_put_addresses_by_sha256, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_put_same_content_twice, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_appends_and_caps, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_verify_detects_corruption, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_missing_and_invalid, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_adopt_moves_temp_file, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_put_file, tu_setup_tmpdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_many, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_small_blobs_packed, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_blob_set_trusts_the_pack, tu_setup_tmpdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
