/* Unit tests for quire_buf: the strbuf contract, the size cap, printf growth and detach. */
#include "testutil.h"

#include <limits.h>

#include "quire/buf.h"
#include "quire/error.h"

static void test_init_is_empty_and_terminated(void **state)
{
	(void)state;
	struct quire_buf a = QUIRE_BUF_INIT;
	assert_non_null(a.ptr);
	assert_string_equal(a.ptr, "");
	assert_int_equal(a.len, 0);
	assert_int_equal(a.cap, 0);

	struct quire_buf b;
	quire_buf_init(&b, 10);
	assert_non_null(b.ptr);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 10);
	/* Releasing a buffer that never grew must not free the shared "". */
	quire_buf_release(&a);
	quire_buf_release(&b);
	assert_string_equal(a.ptr, "");
}

static void test_add_puts_putc_append(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_puts(&b, "hello"), 0);
	assert_int_equal(quire_buf_putc(&b, ','), 0);
	assert_int_equal(quire_buf_add(&b, " world!!", 6), 0);
	assert_string_equal(b.ptr, "hello, world");
	assert_int_equal(b.len, 12);
	assert_int_equal(quire_buf_puts(&b, ""), 0);
	assert_int_equal(quire_buf_add(&b, "ignored", 0), 0);
	assert_int_equal(b.len, 12);
	assert_true(b.alloc > b.len);
	assert_int_equal(b.ptr[b.len], '\0');
	quire_buf_release(&b);
}

static void test_add_binary_keeps_nul_bytes(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_add(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.ptr, "a\0b", 4);
	quire_buf_release(&b);
}

static void test_large_appends_stay_terminated(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(quire_buf_putc(&b, (char)('a' + i % 26)), 0);
	assert_int_equal(b.len, 10000);
	assert_int_equal(strlen(b.ptr), 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.ptr[i], 'a' + i % 26);
	quire_buf_release(&b);
}

static void test_cap_allows_exactly_cap_bytes(void **state)
{
	(void)state;
	struct quire_buf b;
	quire_buf_init(&b, 5);
	assert_int_equal(quire_buf_puts(&b, "hel"), 0);
	assert_int_equal(quire_buf_add(&b, "lo", 2), 0);
	assert_string_equal(b.ptr, "hello");
	assert_int_equal(b.len, 5);
	quire_buf_release(&b);
}

static void test_cap_refuses_and_leaves_contents(void **state)
{
	(void)state;
	struct quire_buf b;
	quire_buf_init(&b, 5);
	assert_int_equal(quire_buf_puts(&b, "hello"), 0);
	quire_error_clear();
	assert_int_equal(quire_buf_putc(&b, '!'), QUIRE_EINVALID);
	assert_int_equal(quire_error_code(), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "5 bytes"));
	assert_string_equal(b.ptr, "hello");
	assert_int_equal(b.len, 5);

	assert_int_equal(quire_buf_puts(&b, "more"), QUIRE_EINVALID);
	assert_int_equal(quire_buf_add(&b, "x", 1), QUIRE_EINVALID);
	assert_int_equal(quire_buf_grow(&b, 1), QUIRE_EINVALID);
	assert_int_equal(quire_buf_grow(&b, 0), 0);
	assert_string_equal(b.ptr, "hello");
	quire_buf_release(&b);

	/* A single add larger than the cap fails on an empty buffer too, without a partial copy. */
	quire_buf_init(&b, 3);
	assert_int_equal(quire_buf_puts(&b, "abcd"), QUIRE_EINVALID);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	quire_buf_release(&b);
}

static void test_cap_applies_to_printf(void **state)
{
	(void)state;
	struct quire_buf b;
	quire_buf_init(&b, 8);
	assert_int_equal(quire_buf_printf(&b, "%d-%s", 12, "ab"), 0);
	assert_string_equal(b.ptr, "12-ab");
	assert_int_equal(quire_buf_printf(&b, "%s", "xyzw"), QUIRE_EINVALID);
	assert_string_equal(b.ptr, "12-ab");
	assert_int_equal(b.len, 5);
	assert_int_equal(quire_buf_printf(&b, "%s", "xyz"), 0);
	assert_string_equal(b.ptr, "12-abxyz");
	quire_buf_release(&b);
}

static void test_cap_survives_release_and_reset(void **state)
{
	(void)state;
	struct quire_buf b;
	quire_buf_init(&b, 4);
	assert_int_equal(quire_buf_puts(&b, "abcd"), 0);
	quire_buf_reset(&b);
	assert_int_equal(quire_buf_puts(&b, "abcde"), QUIRE_EINVALID);
	quire_buf_release(&b);
	assert_int_equal(quire_buf_puts(&b, "abcde"), QUIRE_EINVALID);
	assert_int_equal(quire_buf_puts(&b, "wxyz"), 0);
	assert_string_equal(b.ptr, "wxyz");
	quire_buf_release(&b);
}

static void test_printf_grows_past_initial_allocation(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	char big[3001];
	memset(big, 'q', 3000);
	big[3000] = '\0';
	assert_int_equal(quire_buf_puts(&b, "start:"), 0);
	assert_int_equal(quire_buf_printf(&b, "[%s|%05d]", big, 42), 0);
	assert_int_equal(b.len, 6 + 1 + 3000 + 1 + 5 + 1);
	assert_int_equal(strncmp(b.ptr, "start:[qqq", 10), 0);
	assert_string_equal(b.ptr + b.len - 8, "q|00042]");
	assert_true(b.alloc > b.len);

	/* Many small printfs accumulate in order. */
	quire_buf_reset(&b);
	for (int i = 0; i < 500; i++)
		assert_int_equal(quire_buf_printf(&b, "%d,", i), 0);
	char want[4096];
	size_t off = 0;
	for (int i = 0; i < 500; i++)
		off += (size_t)snprintf(want + off, sizeof(want) - off, "%d,", i);
	assert_string_equal(b.ptr, want);
	assert_int_equal(b.len, off);
	quire_buf_release(&b);
}

static int call_vprintf(struct quire_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int call_vprintf(struct quire_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int err = quire_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

/* put_int prints what %lld prints, at the extremes too. */
static void test_put_int_matches_printf(void **state)
{
	(void)state;
	const long long vals[] = { 0, 7, -1, 10, 99, -100, 123456789, LLONG_MAX, LLONG_MIN };
	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		struct quire_buf a = QUIRE_BUF_INIT, b = QUIRE_BUF_INIT;
		quire_buf_puts(&a, "x");
		quire_buf_puts(&b, "x");
		assert_int_equal(quire_buf_put_int(&a, vals[k]), 0);
		quire_buf_printf(&b, "%lld", vals[k]);
		assert_string_equal(a.ptr, b.ptr);
		quire_buf_release(&a);
		quire_buf_release(&b);
	}
}

static void test_vprintf_appends(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_puts(&b, ">"), 0);
	assert_int_equal(call_vprintf(&b, "%s=%lld", "n", -7LL), 0);
	assert_string_equal(b.ptr, ">n=-7");
	assert_int_equal(call_vprintf(&b, "%s", ""), 0);
	assert_string_equal(b.ptr, ">n=-7");
	quire_buf_release(&b);
}

static void test_grow_reserves_room(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_puts(&b, "x"), 0);
	assert_int_equal(quire_buf_grow(&b, 1000), 0);
	assert_true(b.alloc >= 1 + 1000 + 1);
	assert_string_equal(b.ptr, "x");
	char *before = b.ptr;
	char chunk[1000];
	memset(chunk, 'y', sizeof(chunk));
	assert_int_equal(quire_buf_add(&b, chunk, sizeof(chunk)), 0);
	/* The room grow() promised is used without moving the buffer. */
	assert_ptr_equal(b.ptr, before);
	assert_int_equal(b.len, 1001);
	quire_buf_release(&b);
}

/* A reservation is exact (growth doubles, which at a collector's 6 MB prompt held 8 MB),
 * is used without moving, never shrinks, and respects the cap. */
static void test_reserve_is_exact(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_puts(&b, "x"), 0);
	assert_int_equal(quire_buf_reserve(&b, 100000), 0);
	assert_int_equal(b.alloc, 1 + 100000 + 1);
	assert_string_equal(b.ptr, "x");
	char *before = b.ptr;
	char *chunk = malloc(100000);
	assert_non_null(chunk);
	memset(chunk, 'y', 100000);
	assert_int_equal(quire_buf_add(&b, chunk, 100000), 0);
	assert_ptr_equal(b.ptr, before);
	assert_int_equal(b.alloc, 100002);
	assert_int_equal(quire_buf_reserve(&b, 0), 0);
	assert_int_equal(b.alloc, 100002);
	/* Past the reservation it grows as before. */
	assert_int_equal(quire_buf_putc(&b, 'z'), 0);
	assert_int_equal(b.len, 100002);
	assert_int_equal(b.ptr[100001], 'z');
	assert_int_equal(b.ptr[100002], '\0');
	free(chunk);
	quire_buf_release(&b);

	struct quire_buf c;
	quire_buf_init(&c, 10);
	assert_int_equal(quire_buf_puts(&c, "abc"), 0);
	assert_int_equal(quire_buf_reserve(&c, 7), 0);
	assert_int_not_equal(quire_buf_reserve(&c, 8), 0);
	assert_string_equal(c.ptr, "abc");
	quire_buf_release(&c);
}

static void test_reset_keeps_allocation(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_reset(&b); /* on a never-grown buffer */
	assert_string_equal(b.ptr, "");
	assert_int_equal(quire_buf_puts(&b, "some text here"), 0);
	size_t alloc = b.alloc;
	char *p = b.ptr;
	quire_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.alloc, alloc);
	assert_ptr_equal(b.ptr, p);
	assert_int_equal(quire_buf_puts(&b, "ab"), 0);
	assert_string_equal(b.ptr, "ab");
	quire_buf_release(&b);
}

static void test_release_resets_to_empty(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_puts(&b, "abc"), 0);
	quire_buf_release(&b);
	assert_non_null(b.ptr);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	quire_buf_release(&b); /* twice is fine */
	assert_int_equal(quire_buf_puts(&b, "again"), 0);
	assert_string_equal(b.ptr, "again");
	quire_buf_release(&b);
}

static void test_detach_hands_over_contents(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_buf_printf(&b, "%s %d", "chapter", 3), 0);
	size_t len = 99;
	char *s = quire_buf_detach(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "chapter 3");
	assert_int_equal(len, 9);
	/* The buffer is empty and usable again, and no longer owns s. */
	assert_non_null(b.ptr);
	assert_ptr_not_equal(b.ptr, s);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(quire_buf_puts(&b, "next"), 0);
	assert_string_equal(s, "chapter 3");
	free(s);
	s = quire_buf_detach(&b, NULL);
	assert_string_equal(s, "next");
	free(s);
	quire_buf_release(&b);
}

static void test_detach_of_empty_is_malloced(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	size_t len = 99;
	char *s = quire_buf_detach(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	assert_ptr_not_equal(s, quire_buf__empty);
	free(s); /* must be a real allocation */
	assert_string_equal(b.ptr, "");
}

/* Growing by a size that would overflow is refused under a cap, not wrapped around. */
static void test_grow_overflow_respects_cap(void **state)
{
	(void)state;
	struct quire_buf b;
	quire_buf_init(&b, 10);
	assert_int_equal(quire_buf_puts(&b, "x"), 0);
	assert_int_equal(quire_buf_grow(&b, SIZE_MAX), QUIRE_EINVALID);
	quire_buf_release(&b);
}

/* The length quire_jstr_len predicts is the length quire_buf_put_jstr writes, for plain ids
 * and for every kind of escape. */
static void test_jstr_len_matches_put_jstr(void **state)
{
	(void)state;
	const char *cases[] = { "",
				"Scene[3][14]",
				"say \"hi\" \\ back",
				"a\tb\nc\rd\be\ff",
				"\x01\x1f ctl",
				"caf\xc3\xa9 \xe2\x80\x94",
				"\x7f" };
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_buf_put_jstr(&b, cases[k], strlen(cases[k]));
		assert_int_equal(quire_jstr_len(cases[k], strlen(cases[k])), b.len);
		quire_buf_release(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty_and_terminated),
		cmocka_unit_test(test_jstr_len_matches_put_jstr),
		cmocka_unit_test(test_add_puts_putc_append),
		cmocka_unit_test(test_add_binary_keeps_nul_bytes),
		cmocka_unit_test(test_large_appends_stay_terminated),
		cmocka_unit_test(test_cap_allows_exactly_cap_bytes),
		cmocka_unit_test(test_cap_refuses_and_leaves_contents),
		cmocka_unit_test(test_cap_applies_to_printf),
		cmocka_unit_test(test_cap_survives_release_and_reset),
		cmocka_unit_test(test_printf_grows_past_initial_allocation),
		cmocka_unit_test(test_put_int_matches_printf),
		cmocka_unit_test(test_vprintf_appends),
		cmocka_unit_test(test_grow_reserves_room),
		cmocka_unit_test(test_reserve_is_exact),
		cmocka_unit_test(test_reset_keeps_allocation),
		cmocka_unit_test(test_release_resets_to_empty),
		cmocka_unit_test(test_detach_hands_over_contents),
		cmocka_unit_test(test_detach_of_empty_is_malloced),
		cmocka_unit_test(test_grow_overflow_respects_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
