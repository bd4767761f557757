/* Unit tests for core/yaml.h: the node tree, byte offsets and positions, aliases, merges, bounds.
 */
#include "testutil.h"

#include <time.h>

#include "core/yaml.h"
#include "quire/error.h"

static struct quire__yaml *parse_ok(const char *text)
{
	struct quire__yaml *y = NULL;
	if (quire__yaml_parse(text, strlen(text), "t.yaml", &y))
		fail_msg("parse '%s': %s", text, quire_error_last());
	return y;
}

/* Parses text expecting QUIRE_EINVALID with a message that starts with prefix and holds part. */
static void parse_fails(const char *text, size_t len, const char *prefix, const char *part)
{
	struct quire__yaml *y = NULL;
	int err = quire__yaml_parse(text, len, "t.yaml", &y);
	if (err != QUIRE_EINVALID)
		fail_msg("'%.60s' gave %d, want QUIRE_EINVALID", text, err);
	assert_null(y);
	const char *msg = quire_error_last();
	if (strncmp(msg, prefix, strlen(prefix)) || !strstr(msg, part))
		fail_msg("message '%s' does not start with '%s' and hold '%s'", msg, prefix, part);
}

/* The characters of n in the document, as written. */
static void assert_written(const struct quire__yaml *y, const struct quire__ynode *n,
			   const char *want)
{
	assert_non_null(n);
	assert_true(n->start <= n->end && n->end <= y->len);
	if (n->end - n->start != strlen(want) || memcmp(y->text + n->start, want, strlen(want)))
		fail_msg("written as '%.*s', want '%s'", (int)(n->end - n->start),
			 y->text + n->start, want);
}

static void assert_pos(const struct quire__ynode *n, int line, int col)
{
	int l = 0, c = 0;
	quire__yaml_pos(n, &l, &c);
	if (l != line || c != col)
		fail_msg("at %d:%d, want %d:%d", l, c, line, col);
}

/* libyaml counts characters; offsets are bytes, also after multibyte text and a BOM. */
static void test_byte_offsets_after_multibyte(void **state)
{
	(void)state;
	const char *t = "é€: \"ü😀 x\"  # ☃\n"
			"k: ab€ cd\n"
			"q: 'it''s'\n";
	struct quire__yaml *y = parse_ok(t);
	struct quire__ynode *v = quire__yaml_get(y->root, "é€");
	assert_written(y, v, "\"ü😀 x\"");
	assert_int_equal(v->start, strlen("é€: "));
	assert_int_equal(v->style, QUIRE_YDOUBLE);
	assert_string_equal(v->text, "ü😀 x");
	assert_int_equal(v->line, 1);
	assert_int_equal(v->col, 5); /* columns count characters, as editors do */
	v = quire__yaml_get(y->root, "k");
	assert_written(y, v, "ab€ cd");
	assert_pos(v, 2, 4);
	v = quire__yaml_get(y->root, "q");
	assert_written(y, v, "'it''s'");
	assert_string_equal(v->text, "it's");
	quire__yaml_free(y);

	y = parse_ok("\xef\xbb\xbf"
		     "a: é\r\n"
		     "b: \"€\"\r\n");
	v = quire__yaml_get(y->root, "a");
	assert_int_equal(v->start, 6);
	assert_written(y, v, "é");
	v = quire__yaml_get(y->root, "b");
	assert_written(y, v, "\"€\"");
	assert_int_equal(v->start, 3 + strlen("a: é\r\nb: "));
	assert_pos(v, 2, 4);
	quire__yaml_free(y);

	/* libyaml skips a byte order mark at the start of a line, and only there. */
	y = parse_ok("a: &x\n\xef\xbb\xbf b\nc: &y \xef\xbb\xbf"
		     "d\n");
	assert_written(y, quire__yaml_get(y->root, "a"), "b");
	assert_pos(quire__yaml_get(y->root, "a"), 2, 3);
	assert_written(y, quire__yaml_get(y->root, "c"),
		       "\xef\xbb\xbf"
		       "d");
	quire__yaml_free(y);
}

static void test_styles_and_properties(void **state)
{
	(void)state;
	struct quire__yaml *y = parse_ok("p: plain words\n"
					 "  go on\n"
					 "s: 'x'\n"
					 "l: |-  # c\n"
					 "  one\n"
					 "\n"
					 "f: >\n"
					 "  two\n"
					 "t: !!str  &a3 3\n"
					 "e:\n"
					 "q: &b?c d\n");
	struct quire__ynode *v = quire__yaml_get(y->root, "p");
	assert_true(quire__yaml_plain(v));
	assert_written(y, v, "plain words\n  go on");
	assert_string_equal(v->text, "plain words go on");
	assert_false(quire__yaml_plain(quire__yaml_get(y->root, "s")));
	v = quire__yaml_get(y->root, "l");
	assert_int_equal(v->style, QUIRE_YLITERAL);
	assert_false(quire__yaml_plain(v));
	assert_int_equal(y->text[v->start], '|');
	assert_string_equal(v->text, "one");
	assert_int_equal(quire__yaml_get(y->root, "f")->style, QUIRE_YFOLDED);
	/* A tag and an anchor come before the value: its start is the value's own. */
	v = quire__yaml_get(y->root, "t");
	assert_written(y, v, "3");
	assert_pos(v, 9, 15);
	long long i = 0;
	assert_int_equal(quire__yaml_int(v, &i), 0);
	assert_int_equal(i, 3);
	/* "e:" holds no value; messages about it point at its key. */
	v = quire__yaml_get(y->root, "e");
	assert_true(quire__yaml_empty(v));
	assert_true(json_is_null(quire__yaml_to_json(v)));
	assert_pos(v, 10, 1);
	assert_false(quire__yaml_empty(quire__yaml_get(y->root, "s")));
	/* An anchor name ends at the first character outside [0-9A-Za-z_-]. */
	assert_written(y, quire__yaml_get(y->root, "q"), "?c d");
	quire__yaml_free(y);
}

static void test_collections_and_positions(void **state)
{
	(void)state;
	struct quire__yaml *y = parse_ok("top:\n"
					 "  seq: [a, b]\n"
					 "  none: []\n"
					 "  map:\n"
					 "    - k: v\n"
					 "  nomap: {}\n");
	struct quire__ynode *top = quire__yaml_get(y->root, "top");
	assert_true(quire__yaml_is_map(top));
	assert_int_equal(quire__yaml_count(top), 4);
	assert_ptr_equal(top->parent, y->root);
	assert_string_equal(quire__yaml_key(top, 0)->text, "seq");
	struct quire__ynode *seq = quire__yaml_value(top, 0);
	assert_true(quire__yaml_is_seq(seq));
	assert_int_equal(quire__yaml_count(seq), 2);
	assert_string_equal(quire__yaml_item(seq, 1)->text, "b");
	assert_null(quire__yaml_item(seq, 2));
	assert_null(quire__yaml_key(seq, 0));
	assert_ptr_equal(quire__yaml_key_of(seq), quire__yaml_key(top, 0));
	assert_pos(seq, 2, 9);				/* a collection: its first value */
	assert_pos(quire__yaml_get(top, "none"), 3, 3); /* an empty one: its key */
	assert_pos(quire__yaml_get(top, "nomap"), 6, 3);
	assert_pos(quire__yaml_get(top, "map"), 5, 7);
	assert_pos(NULL, 1, 1);
	assert_null(quire__yaml_get(top, "absent"));
	assert_null(quire__yaml_get(seq, "a"));
	quire__yaml_free(y);

	/* Nothing, only comments, or a bare "---" is an empty document. */
	static const char *const empty[] = { "", "# nothing\n", "---\n", "--- # c\n...\n", NULL };
	for (int k = 0; empty[k]; k++) {
		y = parse_ok(empty[k]);
		assert_null(y->root);
		quire__yaml_free(y);
	}
}

/* An alias is the anchored node itself; a merge key adds the pairs not set already. */
static void test_aliases_and_merges(void **state)
{
	(void)state;
	struct quire__yaml *y = parse_ok("a: &x [1, 2]\n"
					 "b: *x\n"
					 "base: &b { p: 1, q: 2 }\n"
					 "more: &m { r: 4 }\n"
					 "m: { <<: *b, q: 3 }\n"
					 "n:\n"
					 "  <<: [*m, *b]\n"
					 "  p: 0\n");
	struct quire__ynode *a = quire__yaml_get(y->root, "a");
	assert_ptr_equal(quire__yaml_get(y->root, "b"), a);
	assert_ptr_equal(quire__yaml_key_of(a), quire__yaml_key(y->root, 0));
	struct quire__ynode *m = quire__yaml_get(y->root, "m");
	assert_int_equal(quire__yaml_count(m), 2);
	assert_null(quire__yaml_get(m, "<<"));
	assert_string_equal(quire__yaml_get(m, "q")->text, "3");
	assert_string_equal(quire__yaml_get(m, "p")->text, "1");
	json_t *j = quire__yaml_to_json(quire__yaml_get(y->root, "n"));
	json_t *want = json_pack("{s:i,s:i,s:i}", "p", 0, "q", 2, "r", 4);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	quire__yaml_free(y);

	/* A quoted "<<" is an ordinary key. */
	y = parse_ok("'<<': x\n");
	assert_string_equal(quire__yaml_get(y->root, "<<")->text, "x");
	quire__yaml_free(y);

	const char *t = "a: 1\nm: { <<: *a }\n";
	parse_fails(t, strlen(t), "t.yaml:2:", "unknown anchor 'a'");
	t = "a: &a 1\nm: { <<: *a }\n";
	parse_fails(t, strlen(t), "t.yaml:1:7: ", "a merge key (<<) takes a mapping");
	t = "a: &a [1, *a]\n";
	parse_fails(t, strlen(t), "t.yaml:1:11: ", "inside the node it names");
}

static void test_duplicates_and_documents(void **state)
{
	(void)state;
	const char *t = "a: 1\nb: 2\n\"a\": 3\n";
	parse_fails(t, strlen(t), "t.yaml:3:1: ", "duplicate key 'a'");
	/* Large mappings take another path: the same answer. */
	struct quire_buf b = QUIRE_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		quire_buf_printf(&b, "k%d: %d\n", i, i);
	quire_buf_puts(&b, "k999: again\n");
	parse_fails(b.ptr, b.len, "t.yaml:1001:1: ", "duplicate key 'k999'");
	quire_buf_release(&b);

	t = "a: 1\n---\nb: 2\n";
	parse_fails(t, strlen(t), "t.yaml:2:1: ", "a second yaml document");
	t = "a: 1\n...\n# only a comment after the end\n";
	struct quire__yaml *y = parse_ok(t);
	assert_int_equal(quire__yaml_count(y->root), 1);
	quire__yaml_free(y);
	y = parse_ok("%YAML 1.2\n---\na: yes\n");
	assert_true(json_is_true(quire__yaml_to_json(quire__yaml_get(y->root, "a"))));
	quire__yaml_free(y);
}

/* libyaml's messages, positioned, with the context and hints quire adds. */
static void test_syntax_errors(void **state)
{
	(void)state;
	parse_fails("? D:\t?", 6, "t.yaml:1:6: ", "not allowed");
	const char *t = "a:\n  b: 1\n\tc: 2\n";
	parse_fails(t, strlen(t), "t.yaml:3:1: ", "a tab");
	t = "p:\n  q: 1\n r: 2\n";
	parse_fails(t, strlen(t), "t.yaml:3:2: ", "check the indentation");
	t = "uses: [Chapter[i], Book]\n";
	parse_fails(t, strlen(t), "t.yaml:1:15: ", "an id with brackets inside [ ] must be quoted");
	t = "a: x\nb: \"never closed\n";
	parse_fails(t, strlen(t),
		    "t.yaml:3:1: ", "(while scanning a quoted scalar that starts at 2:4)");
	/* A control character libyaml refuses: positioned in characters, after multibyte text. */
	t = "a: \"é€\x01\"\n";
	parse_fails(t, strlen(t), "t.yaml:1:7: ", "control characters are not allowed (U+0001)");
	/* Line breaks to YAML 1.1 only: refused where an editor shows them. */
	t = "a: x\nb: \"é\u2028\"\n";
	parse_fails(t, strlen(t), "t.yaml:2:6: ", "U+2028 (line separator) is a line break");
	t = "# \xc2\x85\n";
	parse_fails(t, strlen(t), "t.yaml:1:3: ", "write it as \\u0085 inside double quotes");
	struct quire__yaml *y = parse_ok("a: \"\\u2028\\L\\N\\P\"\n");
	assert_string_equal(quire__yaml_get(y->root, "a")->text, "\u2028\u2028\xc2\x85\u2029");
	quire__yaml_free(y);
	/* Invalid UTF-8 is caught before libyaml sees it. */
	t = "a: \"\xff\"\n";
	parse_fails(t, strlen(t), "t.yaml:1:5: ", "invalid UTF-8");
}

/* Nested aliases ("billion laughs"): refused at the alias that crosses the bound, quickly. */
static void test_alias_expansion_bound(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b, "a: &a [x,x,x,x,x,x,x,x,x]\n");
	for (char c = 'b'; c <= 'i'; c++) {
		quire_buf_printf(&b, "%c: &%c [", c, c);
		for (int k = 0; k < 9; k++)
			quire_buf_printf(&b, "%s*%c", k ? "," : "", c - 1);
		quire_buf_puts(&b, "]\n");
	}
	clock_t t0 = clock();
	/* e stands for 66,430 values: the first alias of it in f crosses 100,000. */
	parse_fails(b.ptr, b.len, "t.yaml:6:", "yaml aliases expand to more than 100000 values");
	assert_true(clock() - t0 < CLOCKS_PER_SEC);
	quire_buf_release(&b);

	/* Reasonable reuse is fine, and a walk sees every copy. */
	struct quire__yaml *y = parse_ok("x: &v { k: [1, 2] }\ny: [*v, *v, *v]\n");
	json_t *j = quire__yaml_to_json(y->root);
	assert_int_equal(json_array_size(json_object_get(j, "y")), 3);
	json_decref(j);
	quire__yaml_free(y);
}

static void test_value_bound(void **state)
{
	(void)state;
	/* The sequence and its items: exactly the bound, then one more. */
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b, "[0");
	for (int i = 1; i < QUIRE_YAML_MAX_VALUES - 1; i++)
		quire_buf_puts(&b, ",0");
	struct quire__yaml *y = NULL;
	quire_buf_putc(&b, ']');
	if (quire__yaml_parse(b.ptr, b.len, "t.yaml", &y))
		fail_msg("%s", quire_error_last());
	assert_int_equal(quire__yaml_count(y->root), QUIRE_YAML_MAX_VALUES - 1);
	quire__yaml_free(y);
	b.ptr[b.len - 1] = ',';
	quire_buf_puts(&b, "7]");
	parse_fails(b.ptr, b.len,
		    "t.yaml:1:200000: ", "yaml document holds more than 100000 values");
	quire_buf_release(&b);
}

static void test_depth_bound(void **state)
{
	(void)state;
	struct quire_buf b = QUIRE_BUF_INIT;
	for (int i = 0; i < QUIRE_YAML_MAX_DEPTH; i++)
		quire_buf_putc(&b, '[');
	for (int i = 0; i < QUIRE_YAML_MAX_DEPTH; i++)
		quire_buf_putc(&b, ']');
	struct quire__yaml *y = NULL;
	if (quire__yaml_parse(b.ptr, b.len, "t.yaml", &y))
		fail_msg("%s", quire_error_last());
	assert_int_equal(y->root->height, QUIRE_YAML_MAX_DEPTH);
	quire__yaml_free(y);
	quire_buf_reset(&b);
	for (int i = 0; i < 10000; i++)
		quire_buf_putc(&b, '[');
	parse_fails(b.ptr, b.len, "t.yaml:1:65: ", "yaml nests more than 64 levels deep");

	/* Through an alias: 40 levels under 30 is 70. */
	quire_buf_reset(&b);
	quire_buf_puts(&b, "a: &d ");
	for (int i = 0; i < 40; i++)
		quire_buf_putc(&b, '[');
	for (int i = 0; i < 40; i++)
		quire_buf_putc(&b, ']');
	quire_buf_puts(&b, "\nb: ");
	for (int i = 0; i < 30; i++)
		quire_buf_putc(&b, '[');
	quire_buf_puts(&b, "*d");
	for (int i = 0; i < 30; i++)
		quire_buf_putc(&b, ']');
	quire_buf_putc(&b, '\n');
	parse_fails(b.ptr, b.len, "t.yaml:2:34: ", "yaml aliases nest more than 64 levels deep");
	quire_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_offsets_after_multibyte),
		cmocka_unit_test(test_styles_and_properties),
		cmocka_unit_test(test_collections_and_positions),
		cmocka_unit_test(test_aliases_and_merges),
		cmocka_unit_test(test_duplicates_and_documents),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_alias_expansion_bound),
		cmocka_unit_test(test_value_bound),
		cmocka_unit_test(test_depth_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
