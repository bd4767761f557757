/* Unit tests for quire/id.h: id formatting, id globs, pattern validity and out/ file names. */
#include "testutil.h"

#include "quire/buf.h"
#include "quire/id.h"

static void test_format(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_id_format(&b, "Book", NULL, 0);
	assert_string_equal(b.ptr, "Book");
	quire_buf_reset(&b);

	const long long idx[] = { 2, 7 };
	quire_id_format(&b, "Scene", idx, 2);
	assert_string_equal(b.ptr, "Scene[2][7]");
	quire_buf_reset(&b);

	const long long one[] = { 0 };
	quire_buf_puts(&b, "id=");
	quire_id_format(&b, "Chapter", one, 1);
	assert_string_equal(b.ptr, "id=Chapter[0]");
	quire_buf_reset(&b);

	const long long big[] = { 123456789012LL, 0, 499 };
	quire_id_format(&b, "X", big, 3);
	assert_string_equal(b.ptr, "X[123456789012][0][499]");
	quire_buf_release(&b);
}

static void test_bare_name_and_star_match_all_instances(void **state)
{
	(void)state;
	assert_true(quire_id_match("Scene", "Scene[1][2]"));
	assert_true(quire_id_match("Scene[*]", "Scene[1][2]"));
	assert_true(quire_id_match("Scene[*][*]", "Scene[1][2]"));
	assert_true(quire_id_match("Scene", "Scene"));
	assert_true(quire_id_match("Book", "Book"));
	/* The name must match whole. */
	assert_false(quire_id_match("Scene", "Scenes[1]"));
	assert_false(quire_id_match("Scene", "Scen[1]"));
	assert_false(quire_id_match("Scene", "scene[1]"));
	assert_false(quire_id_match("Scene[*]", "Chapter[1]"));
}

static void test_index_prefix_match(void **state)
{
	(void)state;
	assert_true(quire_id_match("Scene[2]", "Scene[2][0]"));
	assert_true(quire_id_match("Scene[2]", "Scene[2][13]"));
	assert_false(quire_id_match("Scene[2]", "Scene[20][0]"));
	assert_false(quire_id_match("Scene[2]", "Scene[1][2]"));
	assert_true(quire_id_match("Scene[1][2]", "Scene[1][2]"));
	assert_false(quire_id_match("Scene[1][2]", "Scene[1][3]"));
	assert_true(quire_id_match("Scene[*][3]", "Scene[0][3]"));
	assert_true(quire_id_match("Scene[*][3]", "Scene[9][3]"));
	assert_false(quire_id_match("Scene[*][3]", "Scene[0][4]"));
	assert_false(quire_id_match("Scene[*][3]", "Scene[0][33]"));
	assert_false(quire_id_match("Chapter[0]", "Chapter[1]"));
	assert_true(quire_id_match("Chapter[10]", "Chapter[10]"));
	assert_false(quire_id_match("Chapter[1]", "Chapter[10]"));
}

static void test_more_indexes_than_id_never_match(void **state)
{
	(void)state;
	assert_false(quire_id_match("Scene[1][2][3]", "Scene[1][2]"));
	assert_false(quire_id_match("Scene[*][*][*]", "Scene[1][2]"));
	assert_false(quire_id_match("Book[0]", "Book"));
	assert_false(quire_id_match("Book[*]", "Book"));
}

static void test_name_globs(void **state)
{
	(void)state;
	assert_true(quire_id_match("Sc*", "Scene[3][4]"));
	assert_true(quire_id_match("Sc*", "Scene"));
	assert_true(quire_id_match("*", "Outline"));
	assert_true(quire_id_match("*", "Scene[0][0]"));
	assert_true(quire_id_match("?cene", "Scene[1][1]"));
	assert_true(quire_id_match("*ter[2]", "Chapter[2]"));
	assert_false(quire_id_match("*ter[2]", "Chapter[3]"));
	assert_false(quire_id_match("Ch*", "Scene[1][1]"));
	assert_false(quire_id_match("Sc*e", "Scenes"));
}

static void test_malformed_never_match(void **state)
{
	(void)state;
	assert_false(quire_id_match("Scene[", "Scene[1]"));
	assert_false(quire_id_match("Scene[a]", "Scene[1]"));
	assert_false(quire_id_match("[1]", "Scene[1]"));
	assert_false(quire_id_match("Scene[1]", "Scene[1"));
	assert_false(quire_id_match("Scene", "Scene[x]"));
	assert_false(quire_id_match("", "Scene"));
}

static void test_valid_pattern(void **state)
{
	(void)state;
	assert_true(quire_id_valid_pattern("Scene"));
	assert_true(quire_id_valid_pattern("Scene[1]"));
	assert_true(quire_id_valid_pattern("Scene[12][0]"));
	assert_true(quire_id_valid_pattern("Scene[*][2]"));
	assert_true(quire_id_valid_pattern("Scene[*][*]"));
	assert_true(quire_id_valid_pattern("Sc*"));
	assert_true(quire_id_valid_pattern("Sc?ne[3]"));

	assert_false(quire_id_valid_pattern("Scene["));
	assert_false(quire_id_valid_pattern("Scene[a]"));
	assert_false(quire_id_valid_pattern("[1]"));
	assert_false(quire_id_valid_pattern(""));
	assert_false(quire_id_valid_pattern("Scene[]"));
	assert_false(quire_id_valid_pattern("Scene[1"));
	assert_false(quire_id_valid_pattern("Scene[1]x"));
	assert_false(quire_id_valid_pattern("Scene[1]]"));
	assert_false(quire_id_valid_pattern("Scene[-1]"));
	assert_false(quire_id_valid_pattern("Scene[**]"));
	assert_false(quire_id_valid_pattern("Scene[1*]"));
	assert_false(quire_id_valid_pattern("Scene[i]"));
	assert_false(quire_id_valid_pattern("Scene[ 1]"));
}

static void assert_filename(const char *id, const char *ext, const char *want)
{
	char *s = quire_id_filename(id, ext);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

/* Checks the promises of quire_id_filename for any input. */
static void assert_safe_filename(const char *id, const char *ext)
{
	char *s = quire_id_filename(id, ext);
	assert_non_null(s);
	assert_true(s[0] != '\0');
	if (s[0] == '.')
		fail_msg("'%s' + '%s' gave a hidden file name '%s'", id, ext ? ext : "(null)", s);
	assert_null(strchr(s, '/'));
	assert_true(strcmp(s, "..") != 0);
	for (const char *c = s; *c; c++) {
		int ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			 (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-';
		if (!ok)
			fail_msg("'%s' + '%s' gave '%s' with byte 0x%02x", id, ext ? ext : "(null)",
				 s, (unsigned char)*c);
	}
	free(s);
}

/* The order a revision lists its ids in: by name, then by each index as a number. */
static void test_cmp(void **state)
{
	(void)state;
	static const char *const in_order[] = { "Book",		"Draft",	 "Draft[0]",
						"Draft[2]",	"Draft[10]",	 "Draft[10][0]",
						"Draft[10][3]", "Draft[10][12]", "Draft2[0]",
						"Scene[1][9]",	"Scene[2][0]" };
	size_t n = sizeof(in_order) / sizeof(*in_order);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int c = quire_id_cmp(in_order[i], in_order[j]);
			assert_true(i < j ? c < 0 : i > j ? c > 0 : c == 0);
		}
}

static void test_filename(void **state)
{
	(void)state;
	assert_filename("Scene[2][7]", "md", "Scene-2-7.md");
	assert_filename("Chapter[0]", "md", "Chapter-0.md");
	assert_filename("Outline", "json", "Outline.json");
	assert_filename("Book", "", "Book");
	assert_filename("Book", NULL, "Book");
	assert_filename("Cover", "PNG", "Cover.PNG");
}

static void test_filename_is_path_safe(void **state)
{
	(void)state;
	static const char *const ids[] = {
		"../../etc/passwd",
		".hidden",
		"..",
		".",
		"",
		"a/b",
		"/abs",
		"Scene[1]/../x",
		"caf\xc3\xa9",
		"sp ace",
		"new\nline",
		"-rf",
		"Scene[2][7]",
	};
	static const char *const exts[] = { "md", "", NULL, "../x", "m/d", ".md", "tar.gz" };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (size_t k = 0; k < sizeof(exts) / sizeof(exts[0]); k++)
			assert_safe_filename(ids[i], exts[k]);
	/* The odd ext is sanitised, not dropped: the name keeps one dot before it. */
	char *s = quire_id_filename("Book", "../x");
	assert_non_null(strstr(s, "Book."));
	assert_null(strstr(s, ".."));
	free(s);
	s = quire_id_filename("Book", "m/d");
	assert_string_equal(s, "Book.m_d");
	free(s);
}

static void test_filename_distinguishes_instances(void **state)
{
	(void)state;
	char *a = quire_id_filename("Scene[1][12]", "md");
	char *b = quire_id_filename("Scene[11][2]", "md");
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_bare_name_and_star_match_all_instances),
		cmocka_unit_test(test_index_prefix_match),
		cmocka_unit_test(test_more_indexes_than_id_never_match),
		cmocka_unit_test(test_name_globs),
		cmocka_unit_test(test_malformed_never_match),
		cmocka_unit_test(test_valid_pattern),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_filename),
		cmocka_unit_test(test_filename_is_path_safe),
		cmocka_unit_test(test_filename_distinguishes_instances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
