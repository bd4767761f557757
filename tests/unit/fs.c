/* Unit tests for quire/fs.h: atomic writes, capped reads, mkdir -p and the positioned UTF-8 check.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "core/util.h"

struct fx {
	char *dir;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_tempdir();
	umask(022);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *path_in(const struct fx *f, const char *rel)
{
	size_t n = strlen(f->dir) + strlen(rel) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", f->dir, rel);
	return p;
}

static void test_write_atomic_then_read_back(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "out.bin");
	static const char data[] = "line one\nline \0two\n\xff\xfe";
	assert_int_equal(quire_fs_write_atomic(p, data, sizeof(data) - 1, 0644), 0);

	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_int_equal(b.len, sizeof(data) - 1);
	assert_memory_equal(b.ptr, data, sizeof(data) - 1);
	assert_int_equal(b.ptr[b.len], '\0');

	/* Overwriting replaces everything (no tail of the longer old content). */
	assert_int_equal(quire_fs_write_atomic(p, "short", 5, 0644), 0);
	quire_buf_reset(&b);
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, "short");
	assert_int_equal(b.len, 5);

	/* An empty write makes an empty file. */
	assert_int_equal(quire_fs_write_atomic(p, "", 0, 0644), 0);
	quire_buf_reset(&b);
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_int_equal(b.len, 0);

	/* No temporary file is left next to the target. */
	assert_int_equal(tu_count_dir(f->dir), 1);
	quire_buf_release(&b);
	free(p);
}

/* A file given in two parts is their bytes in order, replacing all of what was there. */
static void test_replace_in_two_parts(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "kept");
	assert_int_equal(quire_fs_replace2(p, "head\n", 5, "body \0 bytes", 13, 0644), 0);
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_int_equal(b.len, 18);
	assert_memory_equal(b.ptr, "head\nbody \0 bytes", 18);
	/* No head: the data alone, the longer old content gone. */
	assert_int_equal(quire_fs_replace2(p, NULL, 0, "new", 3, 0644), 0);
	quire_buf_reset(&b);
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, "new");
	assert_int_equal(tu_count_dir(f->dir), 1);
	quire_buf_release(&b);
	free(p);
}

/* The out/ writer's fast path: a new file appears whole, an existing one is left alone. */
static void test_create_new_only_creates(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "new.md");
	static const char data[] = "whole\ncontent\n";
	assert_int_equal(quire_fs_create_new(f->dir, p, data, sizeof(data) - 1, 0644), 0);
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, data);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_nlink, 1);

	/* Already there: refused with EEXIST, the old content kept, nothing left behind. */
	int rc = quire_fs_create_new(f->dir, p, "other", 5, 0644);
	int e = errno;
	assert_int_equal(rc, -1);
	assert_int_equal(e, EEXIST);
	quire_buf_reset(&b);
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, data);
	assert_int_equal(tu_count_dir(f->dir), 1);

	/* A directory that is not there: -1, and quire_fs_replace then says why. */
	char *q = path_in(f, "missing/x.md");
	char *qd = path_in(f, "missing");
	assert_int_equal(quire_fs_create_new(qd, q, "x", 1, 0644), -1);
	assert_int_not_equal(quire_fs_replace(q, "x", 1, 0644), 0);
	assert_non_null(strstr(quire_error_last(), "missing"));
	quire_buf_release(&b);
	free(p);
	free(q);
	free(qd);
}

/* An unnamed file put in place: linked when the name is free; when a file took the name
 * meanwhile, copied over it through a temp file, nothing left behind either way. */
static void test_link_new(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "out.md");
	static const char data[] = "made unnamed\n";
	for (int taken = 0; taken < 2; taken++) {
		int fd = open(f->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
		if (fd < 0)
			skip(); /* a file system without O_TMPFILE */
		assert_int_equal(quire_fs_pwrite_all(fd, data, sizeof(data) - 1, 0), 0);
		if (taken)
			tu_write(f->dir, "out.md", "someone else's\n");
		assert_int_equal(quire_fs_link_new(fd, sizeof(data) - 1, p), 0);
		close(fd);
		char *got = tu_slurp(p);
		assert_string_equal(got, data);
		free(got);
		assert_int_equal(tu_count_dir(f->dir), 1);
		assert_int_equal(unlink(p), 0);
	}
	free(p);
}

static void test_write_atomic_mode_bits(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char *p = path_in(f, "secret");
	assert_int_equal(quire_fs_write_atomic(p, "x", 1, 0600), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	free(p);

	p = path_in(f, "public");
	assert_int_equal(quire_fs_write_atomic(p, "x", 1, 0644), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	free(p);

	p = path_in(f, "readonly");
	assert_int_equal(quire_fs_write_atomic(p, "x", 1, 0444), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	free(p);
}

static void test_write_atomic_replaces_symlink_not_target(void **state)
{
	struct fx *f = *state;
	char *target = path_in(f, "target.txt"), *link = path_in(f, "link.txt");
	tu_write(f->dir, "target.txt", "precious");
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(quire_fs_write_atomic(link, "new", 3, 0644), 0);

	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(target, &b, 0), 0);
	assert_string_equal(b.ptr, "precious");
	struct stat st;
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	quire_buf_reset(&b);
	assert_int_equal(quire_fs_read(link, &b, 0), 0);
	assert_string_equal(b.ptr, "new");
	quire_buf_release(&b);
	free(target);
	free(link);
}

static void test_write_atomic_missing_dir_fails(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "no/such/dir/file");
	assert_int_equal(quire_fs_write_atomic(p, "x", 1, 0644), QUIRE_EIO);
	assert_non_null(strstr(quire_error_last(), "no/such/dir/file"));
	assert_false(quire_fs_exists(p));
	free(p);
}

static void test_read_appends(void **state)
{
	struct fx *f = *state;
	tu_write(f->dir, "a.txt", "world");
	char *p = path_in(f, "a.txt");
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b, "hello ");
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, "hello world");
	quire_buf_release(&b);
	free(p);
}

static void test_read_cap(void **state)
{
	struct fx *f = *state;
	char text[101];
	memset(text, 'x', 100);
	text[100] = '\0';
	tu_write(f->dir, "hundred", text);
	char *p = path_in(f, "hundred");
	struct quire_buf b = QUIRE_BUF_INIT;

	assert_int_equal(quire_fs_read(p, &b, 100), 0);
	assert_int_equal(b.len, 100);
	quire_buf_reset(&b);

	quire_error_clear();
	assert_int_equal(quire_fs_read(p, &b, 99), QUIRE_EINVALID);
	assert_int_equal(quire_error_code(), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "hundred"));
	assert_non_null(strstr(quire_error_last(), "99"));
	quire_buf_reset(&b);

	/* The cap counts this file only, not what the buffer already held. */
	quire_buf_puts(&b, "prefix");
	assert_int_equal(quire_fs_read(p, &b, 100), 0);
	assert_int_equal(b.len, 106);
	quire_buf_release(&b);
	free(p);
}

static void test_read_cap_on_large_file(void **state)
{
	struct fx *f = *state;
	size_t n = 200000; /* several read chunks */
	char *text = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	text[n] = '\0';
	tu_write(f->dir, "big", text);
	char *p = path_in(f, "big");
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(p, &b, n), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.ptr, text, n);
	quire_buf_release(&b);
	assert_int_equal(quire_fs_read(p, &b, n - 1), QUIRE_EINVALID);
	quire_buf_release(&b);
	assert_int_equal(quire_fs_read(p, &b, QUIRE_TEXT_CAP), 0);
	assert_int_equal(b.len, n);
	quire_buf_release(&b);
	free(text);
	free(p);
}

static void test_read_missing_and_directory(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "missing.yaml");
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(p, &b, 0), QUIRE_ENOTFOUND);
	assert_non_null(strstr(quire_error_last(), "missing.yaml"));
	assert_int_equal(b.len, 0);
	assert_int_equal(quire_fs_read(f->dir, &b, 0), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "directory"));
	quire_buf_release(&b);
	free(p);
}

/* A scratch file leaves no name behind; what is written at an offset reads back there, and
 * a read past its end says so. */
static void test_scratch_file(void **state)
{
	struct fx *f = *state;
	int fd = quire_fs_scratch_file(f->dir, "scratch");
	assert_true(fd >= 0);
	assert_int_equal(tu_count_dir(f->dir), 0);
	assert_int_equal(quire_fs_pwrite_all(fd, "hello", 5, 0), 0);
	assert_int_equal(quire_fs_pwrite_all(fd, "world", 5, 100), 0);
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_pread_buf(fd, 100, 5, &b, "x"), 0);
	assert_int_equal(quire_fs_pread_buf(fd, 1, 3, &b, "x"), 0);
	assert_string_equal(b.ptr, "worldell");
	assert_int_equal(quire_fs_pread_buf(fd, 103, 10, &b, "the test's bytes"), QUIRE_EIO);
	assert_non_null(strstr(quire_error_last(), "cannot read back the test's bytes"));
	assert_string_equal(b.ptr, "worldell");
	quire_error_clear();
	quire_buf_release(&b);
	close(fd);
}

/* A buffer with its own cap: the whole file when it fits, QUIRE_EINVALID when it does not. */
static void test_read_into_capped_buffer(void **state)
{
	struct fx *f = *state;
	tu_write(f->dir, "small", "0123456789");
	char *p = path_in(f, "small");
	struct quire_buf b;
	quire_buf_init(&b, 1000);
	assert_int_equal(quire_fs_read(p, &b, 0), 0);
	assert_string_equal(b.ptr, "0123456789");
	quire_buf_release(&b);

	quire_buf_init(&b, 5);
	assert_int_equal(quire_fs_read(p, &b, 0), QUIRE_EINVALID);
	quire_buf_release(&b);
	free(p);
}

static void test_mkdirs_nested(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "a/b/c/d");
	struct stat st;
	assert_int_equal(quire_fs_mkdirs(p, 0755), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Idempotent, and a trailing slash is fine. */
	assert_int_equal(quire_fs_mkdirs(p, 0755), 0);
	free(p);
	p = path_in(f, "a/b/e/");
	assert_int_equal(quire_fs_mkdirs(p, 0755), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	/* The new directories are usable for writes. */
	p = path_in(f, "a/b/c/d/file");
	assert_int_equal(quire_fs_write_atomic(p, "x", 1, 0644), 0);
	free(p);
}

static void test_mkdirs_through_a_file_fails(void **state)
{
	struct fx *f = *state;
	tu_write(f->dir, "plain", "i am a file");
	char *p = path_in(f, "plain/sub");
	assert_true(quire_fs_mkdirs(p, 0755) < 0);
	assert_non_null(strstr(quire_error_last(), "plain"));
	free(p);
}

static void test_exists(void **state)
{
	struct fx *f = *state;
	tu_write(f->dir, "file", "x");
	char *file = path_in(f, "file"), *none = path_in(f, "none"), *dang = path_in(f, "dangling");
	assert_true(quire_fs_exists(file));
	assert_true(quire_fs_exists(f->dir));
	assert_false(quire_fs_exists(none));
	assert_int_equal(symlink(none, dang), 0);
	assert_true(quire_fs_exists(dang)); /* the link itself exists */
	assert_int_equal(quire_fs_sync_dir(f->dir), 0);
	free(file);
	free(none);
	free(dang);
}

static void assert_utf8_ok(const char *s, size_t len)
{
	assert_int_equal(quire_fs_check_utf8("t.txt", s, len), 0);
}

/* Asserts that the check fails with exactly "t.txt:LINE:COL: invalid UTF-8". */
static void assert_utf8_bad(const char *s, size_t len, int line, int col)
{
	char want[64];
	snprintf(want, sizeof(want), "t.txt:%d:%d: invalid UTF-8", line, col);
	quire_error_clear();
	assert_int_equal(quire_fs_check_utf8("t.txt", s, len), QUIRE_EINVALID);
	assert_int_equal(quire_error_code(), QUIRE_EINVALID);
	const char *msg = quire_error_last();
	if (strncmp(msg, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want a message starting \"%s\"", msg, want);
}

#define OK(lit) assert_utf8_ok(lit, sizeof(lit) - 1)
#define BAD(lit, line, col) assert_utf8_bad(lit, sizeof(lit) - 1, line, col)

static void test_utf8_accepts_valid_text(void **state)
{
	(void)state;
	OK("");
	OK("plain ascii\nsecond line\r\n\ttab");
	OK("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* é € 😀 */
	OK("\xef\xbb\xbfwith a BOM");
	OK("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"); /* smallest/largest 2 and 3 byte forms */
	OK("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");		/* U+10000 and U+10FFFF */
	/* Only len bytes are looked at. */
	assert_utf8_ok("ok\xff", 2);
}

static void test_utf8_rejects_bad_bytes_with_position(void **state)
{
	(void)state;
	BAD("\xff", 1, 1);
	BAD("ab\ncd\xff", 2, 3);
	BAD("\x80 lone continuation", 1, 1);
	BAD("x\xfe", 1, 2);
	/* Multi-byte characters count as one column each. */
	BAD("caf\xc3\xa9 \xe2\x82\xac\xff", 1, 7);
	BAD("\xe2\x82\xac\n\xe2\x82\xac\xe2\x82\xac\xf8\x88\x80\x80\x80", 2, 3);
	BAD("line1\nline2\nline3 \xc3(", 3, 7); /* lead byte without its continuation */
	/* A sequence cut off by the end of the data. */
	BAD("h\xc3\xa9llo\xc3", 1, 6);
	BAD("ab\xe2\x82", 1, 3);
}

static void test_utf8_rejects_overlong_surrogates_and_range(void **state)
{
	(void)state;
	BAD("\xc0\xaf", 1, 1);		 /* overlong '/' */
	BAD("a\xc1\xbf", 1, 2);		 /* overlong DEL */
	BAD("ab\xe0\x80\xaf", 1, 3);	 /* 3-byte overlong '/' */
	BAD("\n\xf0\x80\x80\xaf", 2, 1); /* 4-byte overlong '/' */
	BAD("\xc0\x80", 1, 1);		 /* overlong NUL */
	BAD("x\xed\xa0\x80", 1, 2);	 /* UTF-16 surrogate D800 */
	BAD("\xed\xbf\xbf", 1, 1);	 /* surrogate DFFF */
	BAD("\xf4\x90\x80\x80", 1, 1);	 /* U+110000 */
	BAD("\xf5\x80\x80\x80", 1, 1);
}

static void test_utf8_rejects_nul(void **state)
{
	(void)state;
	BAD("a\0b", 1, 2);
	BAD("one\ntwo\n\0", 3, 1);
	BAD("\0", 1, 1);
}

/* quire__utf8_valid takes what jansson takes as a string (the calls pack leaves the rest
 * out): NUL bytes yes; cut, overlong, surrogate or out-of-range sequences no. */
static void test_utf8_valid_as_jansson(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n;
	} cases[] = { { "plain", 5 },
		      { "a\0b", 3 },
		      { "caf\xc3\xa9", 5 },
		      { "caf\xc3", 4 },
		      { "\xc0\xaf", 2 },
		      { "\xed\xa0\x80", 3 },
		      { "\xf4\x90\x80\x80", 4 },
		      { "\xf0\x9f\x98\x80", 4 },
		      { "\xff", 1 },
		      { "", 0 } };
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char buf[16];
		memcpy(buf, cases[k].s, cases[k].n);
		buf[cases[k].n] = '\0';
		json_t *j = json_stringn(buf, cases[k].n);
		assert_int_equal(quire__utf8_valid(buf, cases[k].n), j != NULL);
		json_decref(j);
	}
}

/* A streamed file: pieces written and ranges copied from another file land in order; nothing
 * is at the path until the commit; a copy past the source's end fails, naming the temp file,
 * and leaves neither the file nor a temp behind; an abort leaves nothing. */
static void test_stream_write_copy_commit(void **state)
{
	struct fx *f = *state;
	char *src = path_in(f, "src.txt"), *dst = path_in(f, "dst.txt");
	/* Larger than one copy_file_range or pread chunk. */
	struct quire_buf big = QUIRE_BUF_INIT;
	for (int k = 0; k < 20000; k++)
		quire_buf_printf(&big, "%05d\n", k);
	assert_int_equal(quire_fs_write_atomic(src, big.ptr, big.len, 0644), 0);
	int fd = open(src, O_RDONLY);
	assert_true(fd >= 0);

	struct quire_fs_stream w;
	assert_int_equal(quire_fs_stream_open(&w, dst, 0644), 0);
	assert_int_equal(quire_fs_stream_write(&w, "head\n", 5), 0);
	assert_int_equal(quire_fs_stream_copy(&w, fd, 6, 12), 0); /* "00001\n00002\n" */
	assert_int_equal(quire_fs_stream_copy(&w, fd, 0, big.len), 0);
	assert_int_equal(quire_fs_stream_write(&w, "tail", 4), 0);
	assert_int_equal(w.size, 5 + 12 + big.len + 4);
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(quire_fs_stream_commit(&w), 0);
	struct quire_buf got = QUIRE_BUF_INIT;
	assert_int_equal(quire_fs_read(dst, &got, 0), 0);
	assert_int_equal(got.len, 5 + 12 + big.len + 4);
	assert_memory_equal(got.ptr, "head\n00001\n00002\n00000\n", 23);
	assert_memory_equal(got.ptr + 17, big.ptr, big.len);
	assert_memory_equal(got.ptr + 17 + big.len, "tail", 4);

	assert_int_equal(quire_fs_stream_open(&w, dst, 0644), 0);
	assert_int_equal(quire_fs_stream_copy(&w, fd, big.len - 3, 10), QUIRE_EIO);
	assert_non_null(strstr(quire_error_last(), "dst.txt.tmp-"));
	assert_int_equal(quire_fs_stream_write(&w, "x", 1), QUIRE_EIO);
	assert_int_equal(quire_fs_stream_commit(&w), QUIRE_EIO);
	quire_error_clear();
	quire_buf_reset(&got);
	assert_int_equal(quire_fs_read(dst, &got, 0), 0);
	assert_int_equal(got.len, 5 + 12 + big.len + 4); /* the old file is untouched */

	assert_int_equal(quire_fs_stream_open(&w, dst, 0644), 0);
	assert_int_equal(quire_fs_stream_write(&w, "gone", 4), 0);
	quire_fs_stream_abort(&w);
	assert_int_equal(tu_count_dir(f->dir), 2); /* src.txt and dst.txt, no temp file */
	close(fd);
	quire_buf_release(&got);
	quire_buf_release(&big);
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_atomic_then_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_in_two_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_write_copy_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_mode_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_new_only_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_replaces_symlink_not_target,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_missing_dir_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cap_on_large_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_missing_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_through_a_file_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exists, setup, teardown),
		cmocka_unit_test(test_utf8_accepts_valid_text),
		cmocka_unit_test(test_utf8_valid_as_jansson),
		cmocka_unit_test(test_utf8_rejects_bad_bytes_with_position),
		cmocka_unit_test(test_utf8_rejects_overlong_surrogates_and_range),
		cmocka_unit_test(test_utf8_rejects_nul),
		cmocka_unit_test_setup_teardown(test_read_into_capped_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
