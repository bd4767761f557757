/* Unit tests for core/schema.h: each supported keyword, and error messages that name the JSON path.
 */
#include "testutil.h"

#include <jansson.h>

#include "quire/error.h"
#include "core/schema.h"

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return v;
}

static void expect_ok(const char *schema, const char *doc)
{
	json_t *s = parse(schema), *d = parse(doc);
	quire_error_clear();
	int err = quire_schema_validate(s, d);
	if (err)
		fail_msg("%s against %s: unexpected error: %s", doc, schema, quire_error_last());
	json_decref(s);
	json_decref(d);
}

/* Expects QUIRE_EINVALID with exactly the message `want`. */
static void expect_fail(const char *schema, const char *doc, const char *want)
{
	json_t *s = parse(schema), *d = parse(doc);
	quire_error_clear();
	int err = quire_schema_validate(s, d);
	if (err != QUIRE_EINVALID)
		fail_msg("%s against %s: got %d, want QUIRE_EINVALID", doc, schema, err);
	assert_string_equal(quire_error_last(), want);
	json_decref(s);
	json_decref(d);
}

static void test_type(void **state)
{
	(void)state;
	expect_ok("{\"type\":\"string\"}", "\"x\"");
	expect_ok("{\"type\":\"integer\"}", "3");
	expect_ok("{\"type\":\"number\"}", "3");
	expect_ok("{\"type\":\"number\"}", "3.5");
	expect_ok("{\"type\":\"boolean\"}", "false");
	expect_ok("{\"type\":\"null\"}", "null");
	expect_ok("{\"type\":\"array\"}", "[]");
	expect_ok("{\"type\":\"object\"}", "{}");
	expect_ok("{}", "[1,{\"a\":null}]");

	expect_fail("{\"type\":\"string\"}", "3", "$: expected string");
	expect_fail("{\"type\":\"integer\"}", "3.5", "$: expected integer");
	expect_fail("{\"type\":\"integer\"}", "\"3\"", "$: expected integer");
	expect_fail("{\"type\":\"number\"}", "\"3\"", "$: expected number");
	expect_fail("{\"type\":\"boolean\"}", "0", "$: expected boolean");
	expect_fail("{\"type\":\"null\"}", "false", "$: expected null");
	expect_fail("{\"type\":\"array\"}", "{}", "$: expected array");
	expect_fail("{\"type\":\"object\"}", "[]", "$: expected object");
}

static void test_type_list(void **state)
{
	(void)state;
	expect_ok("{\"type\":[\"string\",\"null\"]}", "null");
	expect_ok("{\"type\":[\"string\",\"null\"]}", "\"s\"");
	expect_fail("{\"type\":[\"string\",\"null\"]}", "1", "$: has none of the allowed types");
}

static void test_required(void **state)
{
	(void)state;
	const char *s = "{\"type\":\"object\",\"required\":[\"title\",\"chapters\"]}";
	expect_ok(s, "{\"title\":\"T\",\"chapters\":[],\"extra\":1}");
	expect_fail(s, "{\"title\":\"T\"}", "$: missing required property 'chapters'");
	expect_fail(s, "{}", "$: missing required property 'title'");
	/* A null value is present, not missing. */
	expect_ok(s, "{\"title\":null,\"chapters\":null}");
}

static void test_properties_and_nested_path(void **state)
{
	(void)state;
	const char *s =
		"{\"type\":\"object\",\"properties\":{"
		"\"title\":{\"type\":\"string\"},"
		"\"chapters\":{\"type\":\"array\",\"items\":{"
		"\"type\":\"object\",\"required\":[\"title\"],"
		"\"properties\":{\"title\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}}}}}}";
	expect_ok(s,
		  "{\"title\":\"T\",\"chapters\":[{\"title\":\"a\"},{\"title\":\"b\",\"n\":2}]}");
	expect_fail(s, "{\"title\":\"T\",\"chapters\":[{\"title\":\"a\"},{\"title\":7}]}",
		    "$.chapters[1].title: expected string");
	expect_fail(s, "{\"chapters\":[{\"title\":\"a\"},{\"title\":\"b\"},{\"n\":1}]}",
		    "$.chapters[2]: missing required property 'title'");
	expect_fail(s, "{\"chapters\":[{\"title\":\"a\",\"n\":\"x\"}]}",
		    "$.chapters[0].n: expected integer");
	expect_fail(s, "{\"title\":[]}", "$.title: expected string");
	expect_fail(s, "{\"chapters\":{}}", "$.chapters: expected array");
}

static void test_path_resets_between_siblings(void **state)
{
	(void)state;
	/* The first property passes after descending; the path of the second must not keep it. */
	const char *s = "{\"properties\":{"
			"\"a\":{\"properties\":{\"x\":{\"type\":\"integer\"}}},"
			"\"b\":{\"type\":\"string\"}}}";
	expect_fail(s, "{\"a\":{\"x\":1},\"b\":2}", "$.b: expected string");
	const char *t = "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":"
			"\"integer\"}}}";
	expect_ok(t, "[[1,2],[3]]");
	expect_fail(t, "[[1,2],[3,\"x\"]]", "$[1][1]: expected integer");
}

static void test_additional_properties_false(void **state)
{
	(void)state;
	const char *closed = "{\"type\":\"object\",\"additionalProperties\":false,"
			     "\"properties\":{\"title\":{\"type\":\"string\"}}}";
	expect_ok(closed, "{\"title\":\"x\"}");
	expect_ok(closed, "{}");
	expect_fail(closed, "{\"title\":\"x\",\"extra\":1}", "$.extra: is not an allowed property");
	expect_fail("{\"properties\":{\"o\":{\"additionalProperties\":false}}}",
		    "{\"o\":{\"k\":1}}", "$.o.k: is not an allowed property");
	/* true, or absent, allows anything extra. */
	expect_ok("{\"additionalProperties\":true,\"properties\":{}}", "{\"extra\":1}");
	expect_ok("{\"properties\":{\"title\":{\"type\":\"string\"}}}", "{\"extra\":1}");
}

static void test_items(void **state)
{
	(void)state;
	const char *s = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}";
	expect_ok(s, "[]");
	expect_ok(s, "[1,2,3]");
	expect_fail(s, "[1,2,\"three\"]", "$[2]: expected integer");
	expect_fail(s, "[null]", "$[0]: expected integer");
}

static void test_min_max_items(void **state)
{
	(void)state;
	const char *s = "{\"properties\":{\"chapters\":{\"type\":\"array\",\"minItems\":2,"
			"\"maxItems\":3}}}";
	expect_ok(s, "{\"chapters\":[1,2]}");
	expect_ok(s, "{\"chapters\":[1,2,3]}");
	expect_fail(s, "{\"chapters\":[1]}", "$.chapters: has 1 items, fewer than 2");
	expect_fail(s, "{\"chapters\":[]}", "$.chapters: has 0 items, fewer than 2");
	expect_fail(s, "{\"chapters\":[1,2,3,4]}", "$.chapters: has 4 items, more than 3");
}

static void test_enum_and_const(void **state)
{
	(void)state;
	const char *s = "{\"properties\":{\"tone\":{\"enum\":[\"warm\",\"wry\",3,null]}}}";
	expect_ok(s, "{\"tone\":\"wry\"}");
	expect_ok(s, "{\"tone\":3}");
	expect_ok(s, "{\"tone\":null}");
	expect_fail(s, "{\"tone\":\"cold\"}", "$.tone: is not one of the allowed values");
	expect_fail(s, "{\"tone\":\"3\"}", "$.tone: is not one of the allowed values");
	expect_ok("{\"const\":{\"v\":1}}", "{\"v\":1}");
	expect_fail("{\"const\":{\"v\":1}}", "{\"v\":2}",
		    "$: does not equal the required constant");
}

static void test_minimum_maximum(void **state)
{
	(void)state;
	const char *s =
		"{\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}}}";
	expect_ok(s, "{\"n\":1}");
	expect_ok(s, "{\"n\":10}");
	expect_ok(s, "{\"n\":5}");
	expect_fail(s, "{\"n\":0}", "$.n: is below the minimum");
	expect_fail(s, "{\"n\":-100}", "$.n: is below the minimum");
	expect_fail(s, "{\"n\":11}", "$.n: is above the maximum");
}

/* minimum and maximum apply to real numbers as well as integers. */
static void test_minimum_applies_to_numbers(void **state)
{
	(void)state;
	const char *s =
		"{\"properties\":{\"x\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1}}}";
	expect_ok(s, "{\"x\":0.5}");
	expect_fail(s, "{\"x\":-1.5}", "$.x: is below the minimum");
	expect_fail(s, "{\"x\":1.5}", "$.x: is above the maximum");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_type_list),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_properties_and_nested_path),
		cmocka_unit_test(test_path_resets_between_siblings),
		cmocka_unit_test(test_additional_properties_false),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_min_max_items),
		cmocka_unit_test(test_enum_and_const),
		cmocka_unit_test(test_minimum_maximum),
		cmocka_unit_test(test_minimum_applies_to_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
