/* Unit tests for quire/hash.h: SHA-256 vectors, file and streaming digests, canonical JSON. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "core/json.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void digest_of(const char *s, struct quire_digest *d)
{
	quire_hash_bytes(s, strlen(s), d);
}

static void test_known_vectors(void **state)
{
	(void)state;
	struct quire_digest d;
	digest_of("abc", &d);
	assert_string_equal(d.s, ABC_SHA);
	digest_of("", &d);
	assert_string_equal(d.s, EMPTY_SHA);
	digest_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", &d);
	assert_string_equal(
		d.s, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	digest_of("The quick brown fox jumps over the lazy dog", &d);
	assert_string_equal(
		d.s, "sha256:d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
	assert_int_equal(strlen(d.s), QUIRE_DIGEST_STRLEN - 1);
}

/* A raw canonical value spliced in is the same text as the value put in the tree. */
static void test_canonical_with_raw_value(void **state)
{
	(void)state;
	static const char *const keys[] = { "aaa", "deps", "zzz", "m" };
	const char *raw = "{\"a\":[1,\"x\\n\"],\"b\":null}";
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		json_t *o = json_pack("{s:s,s:i,s:[i,i],s:{s:b}}", "b", "\u00e9t\u00e9", "c", 3,
				      "y", 1, 2, "n", "t", 1);
		if (k % 2)
			json_object_set_new(o, keys[k],
					    json_string("replaced")); /* the key's value goes */
		char *with = quire_json_canonical_with(o, keys[k], raw);
		json_object_set_new(o, keys[k], json_loads(raw, 0, NULL));
		char *whole = quire_json_canonical(o);
		assert_non_null(with);
		assert_string_equal(with, whole);
		free(with);
		free(whole);
		json_decref(o);
	}
	json_t *arr = json_array();
	assert_null(quire_json_canonical_with(arr, "k", "1"));
	json_decref(arr);
}

static void test_bytes_with_nul_are_hashed_whole(void **state)
{
	(void)state;
	struct quire_digest a, b;
	quire_hash_bytes("a\0b", 3, &a);
	quire_hash_bytes("a", 1, &b);
	assert_string_not_equal(a.s, b.s);
	/* Repeating a digest gives the same answer (the per-thread context is reset). */
	quire_hash_bytes("a\0b", 3, &b);
	assert_string_equal(a.s, b.s);
}

static void test_streaming_matches_one_shot(void **state)
{
	(void)state;
	struct quire_hasher *h = quire_hasher_new();
	struct quire_digest d;
	quire_hasher_update(h, "a", 1);
	quire_hasher_update(h, "", 0);
	quire_hasher_update(h, "bc", 2);
	quire_hasher_final(h, &d);
	assert_string_equal(d.s, ABC_SHA);

	/* reset discards what was fed before. */
	quire_hasher_reset(h);
	quire_hasher_update(h, "garbage", 7);
	quire_hasher_reset(h);
	quire_hasher_update(h, "abc", 3);
	quire_hasher_final(h, &d);
	assert_string_equal(d.s, ABC_SHA);

	quire_hasher_reset(h);
	quire_hasher_final(h, &d);
	assert_string_equal(d.s, EMPTY_SHA);
	quire_hasher_free(h);
	quire_hasher_free(NULL);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_hash_file_equals_hash_bytes(void **state)
{
	(void)state;
	char *dir = tu_tempdir();
	char path[4200];

	snprintf(path, sizeof(path), "%s/abc.txt", dir);
	write_bytes(path, "abc", 3);
	struct quire_digest d;
	uint64_t size = 99;
	assert_int_equal(quire_hash_file(path, &d, &size), 0);
	assert_string_equal(d.s, ABC_SHA);
	assert_int_equal(size, 3);

	snprintf(path, sizeof(path), "%s/empty", dir);
	write_bytes(path, "", 0);
	assert_int_equal(quire_hash_file(path, &d, &size), 0);
	assert_string_equal(d.s, EMPTY_SHA);
	assert_int_equal(size, 0);

	/* Larger than one read block (1 MiB), with an odd tail and every byte value. */
	size_t n = (3u << 20) + 7;
	unsigned char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 31 + (i >> 12));
	snprintf(path, sizeof(path), "%s/big.bin", dir);
	write_bytes(path, big, n);
	struct quire_digest want;
	quire_hash_bytes(big, n, &want);
	assert_int_equal(quire_hash_file(path, &d, NULL), 0);
	assert_string_equal(d.s, want.s);
	assert_int_equal(quire_hash_file(path, &d, &size), 0);
	assert_int_equal(size, n);
	free(big);

	tu_rmrf(dir);
	free(dir);
}

static void test_hash_file_missing(void **state)
{
	(void)state;
	char *dir = tu_tempdir();
	char path[4200];
	snprintf(path, sizeof(path), "%s/nope.txt", dir);
	struct quire_digest d;
	assert_int_equal(quire_hash_file(path, &d, NULL), QUIRE_ENOTFOUND);
	assert_non_null(strstr(quire_error_last(), "nope.txt"));
	tu_rmrf(dir);
	free(dir);
}

static void assert_canonical(const char *json, const char *want)
{
	json_error_t je;
	json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
	assert_non_null(v);
	char *s = quire_json_canonical(v);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	json_decref(v);
}

static void test_canonical_sorts_keys_and_is_compact(void **state)
{
	(void)state;
	assert_canonical("{\"b\":1,\"a\":[1,2]}", "{\"a\":[1,2],\"b\":1}");
	assert_canonical(
		"{ \"z\" : { \"y\" : 1 , \"x\" : [ {\"d\":null,\"c\":true} ] },\n \"a\" : \"s\" }",
		"{\"a\":\"s\",\"z\":{\"x\":[{\"c\":true,\"d\":null}],\"y\":1}}");
	/* Array order is data, not presentation: kept. */
	assert_canonical("[3,1,2]", "[3,1,2]");
	assert_canonical("{}", "{}");
	assert_canonical("\"text\"", "\"text\"");
	assert_canonical("-42", "-42");
	/* UTF-8 stays UTF-8; quotes and control characters are escaped. */
	assert_canonical("{\"k\":\"caf\\u00e9 \\\"q\\\"\\n\"}",
			 "{\"k\":\"caf\xc3\xa9 \\\"q\\\"\\n\"}");
}

/* Canonical JSON is quire's own writer now: it must give jansson's compact sorted bytes, or
 * every digest of a JSON value (bindings, inputs, fingerprints) would change. */
static void test_canonical_matches_jansson(void **state)
{
	(void)state;
	json_t *v =
		json_pack("{s:s,s:s,s:s,s:[],s:{},s:[i,I,b,b,n],s:{s:{s:[s,{s:i}]}},s:s}", "quote",
			  "say \"hi\" \\ back", "controls", "a\tb\nc\rd\be\ff\x01g\x1f", "utf8",
			  "caf\xc3\xa9 \xe2\x80\x94 /slash\x7f", "empty_a", "empty_o", "mixed", -42,
			  (json_int_t)1 << 62, 1, 0, "zz", "b", "a", "Scene[0][1]", "n", 7, "B",
			  "capital sorts first");
	char *want = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	char *got = quire_json_canonical(v);
	assert_string_equal(got, want);
	free(got);
	free(want);
	json_t *s = json_string("a scalar");
	want = json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY);
	got = quire_json_canonical(s);
	assert_string_equal(got, want);
	free(got);
	free(want);
	json_decref(s);
	json_decref(v);
}

static void test_hash_json_ignores_insertion_order(void **state)
{
	(void)state;
	json_t *a = json_object(), *b = json_object();
	json_object_set_new(a, "title", json_string("T"));
	json_object_set_new(a, "count", json_integer(3));
	json_object_set_new(b, "count", json_integer(3));
	json_object_set_new(b, "title", json_string("T"));
	struct quire_digest da, db, want;
	assert_int_equal(quire_hash_json(a, &da), 0);
	assert_int_equal(quire_hash_json(b, &db), 0);
	assert_string_equal(da.s, db.s);
	digest_of("{\"count\":3,\"title\":\"T\"}", &want);
	assert_string_equal(da.s, want.s);
	/* A different value gives a different digest. */
	json_object_set_new(b, "count", json_integer(4));
	assert_int_equal(quire_hash_json(b, &db), 0);
	assert_string_not_equal(da.s, db.s);
	json_decref(a);
	json_decref(b);
}

static void assert_real_refused(json_t *v)
{
	quire_error_clear();
	assert_null(quire_json_canonical(v));
	assert_int_equal(quire_error_code(), QUIRE_EINVALID);
	assert_true(strlen(quire_error_last()) > 0);
	struct quire_digest d;
	assert_int_equal(quire_hash_json(v, &d), QUIRE_EINVALID);
	json_decref(v);
}

static void test_reals_are_refused(void **state)
{
	(void)state;
	assert_real_refused(json_real(1.5));
	assert_real_refused(json_pack("{s:i,s:f}", "a", 1, "b", 0.5));
	assert_real_refused(json_pack("{s:[i,{s:[f]}]}", "a", 1, "b", 2.0));
	assert_real_refused(json_pack("[i,i,[[f]]]", 1, 2, -0.0));
	/* Integers in the same shapes are fine. */
	json_t *ok = json_pack("{s:[i,{s:[i]}]}", "a", 1, "b", 2);
	char *s = quire_json_canonical(ok);
	assert_string_equal(s, "{\"a\":[1,{\"b\":[2]}]}");
	free(s);
	json_decref(ok);
}

static void test_digest_valid(void **state)
{
	(void)state;
	struct quire_digest d;
	digest_of("x", &d);
	assert_true(quire_digest_valid(d.s));
	assert_true(quire_digest_valid(ABC_SHA));
	assert_true(quire_digest_valid(EMPTY_SHA));

	assert_false(quire_digest_valid(""));
	assert_false(quire_digest_valid("sha256:"));
	/* 63 and 65 hex digits */
	assert_false(quire_digest_valid(
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
	assert_false(quire_digest_valid(
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
	/* uppercase hex, non-hex, other prefixes, missing prefix */
	assert_false(quire_digest_valid(
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(quire_digest_valid(
		"sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(quire_digest_valid(
		"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(quire_digest_valid(
		"sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(quire_digest_valid(
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adba7816bf"));
	assert_false(quire_digest_valid(
		" sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
	/* Every byte value in every digit position: only 0-9 and a-f pass. */
	char s[80];
	for (int pos = 7; pos < 71; pos++)
		for (int c = 1; c < 256; c++) {
			snprintf(s, sizeof(s), "%s", ABC_SHA);
			s[pos] = (char)c;
			int want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
			assert_int_equal(quire_digest_valid(s), want);
		}
}

/* Reformatting JSON text quire wrote lays it out exactly as writing the value it holds does,
 * from compact text and from text laid out at another depth; what is not one JSON value is
 * refused, appending nothing. */
static void test_reformat_matches_writer(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"{}",
		"[]",
		"\"x\"",
		"-12",
		"null",
		"true",
		"{\"a\":1,\"b\":[1,2,{\"c\":[]}],\"d\":{},\"e\":{\"f\":\"g\\\"h\\\\\\n\\u00e9\"}}",
		"[[\"Scene[0][0]\",\"sha256:00\"],[\"Scene[0][1]\",\"sha256:01\"]]",
		"{\"binding\":\"sha256:ab\",\"feedback\":[\"more , ] } detail\"],\"index\":[0,3],"
		"\"inputs\":{\"Tone\":\"sha256:cd\"},\"prompt\":null,\"schema\":null,\"take\":0,"
		"\"upstream\":[]}",
		"{\"k\":\"\xc3\xa9t\xc3\xa9 \\t tab\",\"z\":[[],[[]],{}]}",
		"[[[[[[[[[[[[[[[[[[[[{\"deep\":[1,2]}]]]]]]]]]]]]]]]]]]]]",
	};
	for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
		json_t *v = json_loads(docs[k], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		for (int depth = -1; depth < 6; depth++) {
			struct quire_buf want = QUIRE_BUF_INIT, got = QUIRE_BUF_INIT,
					 again = QUIRE_BUF_INIT;
			quire_json_write_at(&want, v, depth);
			/* From the compact text quire writes (strings are copied as they are). */
			struct quire_buf compact = QUIRE_BUF_INIT;
			quire_json_write_at(&compact, v, -1);
			assert_int_equal(quire_json_reformat(&got, compact.ptr, compact.len, depth),
					 0);
			quire_buf_release(&compact);
			assert_string_equal(got.ptr, want.ptr);
			/* From pretty text at depth 3 to this depth. */
			struct quire_buf pretty = QUIRE_BUF_INIT;
			quire_json_write_at(&pretty, v, 3);
			assert_int_equal(quire_json_reformat(&again, pretty.ptr, pretty.len, depth),
					 0);
			assert_string_equal(again.ptr, want.ptr);
			assert_int_equal(quire_json_value_end(pretty.ptr, pretty.len, 0),
					 pretty.len);
			quire_buf_release(&want);
			quire_buf_release(&got);
			quire_buf_release(&again);
			quire_buf_release(&pretty);
		}
		json_decref(v);
	}
	static const char *const bad[] = { "",
					   "{",
					   "[1,",
					   "{\"a\" 1}",
					   "{\"a\":1]",
					   "[1]]",
					   "{1:2}",
					   "\"open",
					   "[1] 2",
					   "\"a\nb\"",
					   "{\"a\":tru}",
					   "[1.]",
					   "[01]",
					   "[1e]",
					   "[-]",
					   "\"\\x\"",
					   "\"\\u12g4\"",
					   "\"\xff\"",
					   "\"\xc3\"",
					   "\"\xed\xa0\x80\"",
					   "\"\xf8\x80\x80\"",
					   "[nul]" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct quire_buf b = QUIRE_BUF_INIT;
		quire_buf_puts(&b, "kept");
		assert_int_equal(quire_json_reformat(&b, bad[k], strlen(bad[k]), 2), -1);
		assert_string_equal(b.ptr, "kept");
		quire_buf_release(&b);
	}
	/* The end of a member's value inside an object's text, strings followed. */
	const char *obj = "{\"a\":\"}]\",\"b\":[{\"c\":\"x\"}],\"d\":7}";
	size_t b_at = strstr(obj, "[{") - obj;
	assert_int_equal(quire_json_value_end(obj, strlen(obj), b_at), strstr(obj, ",\"d\"") - obj);
	assert_int_equal(quire_json_value_end("[1,2", 4, 0), (size_t)-1);
}

/* A text that is canonical is written again, parsed, exactly as it is: every text quire
 * writes is, and no other. Besides the listed ones, every one-byte change of the written texts
 * is checked for that. */
static int canonical_round_trips(const char *t, size_t n)
{
	json_t *v = json_loadb(t, n, JSON_DECODE_ANY, NULL);
	if (!v)
		return 0;
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_json_write(&b, v, 0);
	int same = b.len == n && !memcmp(b.ptr, t, n);
	quire_buf_release(&b);
	json_decref(v);
	return same;
}

static void test_canonical_text(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"{\"a\":1,\"b\":[1,2,{\"c\":[]}],\"d\":{},\"e\":{\"f\":\"g\\\"h\\\\\\n\\u00e9\"}}",
		"{\"binding\":\"sha256:ab\",\"deps\":{\"x\":[[\"Scene[0][0]\",\"sha256:00\"]]},"
		"\"digest\":\"sha256:cd\",\"index\":[0,3],\"k\":\"\xc3\xa9t\xc3\xa9 \\t\\u001F\","
		"\"n\":-12,\"p\":null,\"q\":true,\"r\":false,\"z\":0}",
		"[]",
		"\"x\"",
	};
	for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
		json_t *v = json_loads(docs[k], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		struct quire_buf w = QUIRE_BUF_INIT;
		quire_json_write(&w, v, 0);
		assert_true(quire_json_is_canonical(w.ptr, w.len));
		for (size_t i = 0; i < w.len; i++) {
			static const char subst[] = " \"\\{}[],:0-1.eE/uAa\x01\xc3\xff";
			for (size_t c = 0; c < sizeof(subst) - 1; c++) {
				char *t = malloc(w.len + 1);
				memcpy(t, w.ptr, w.len);
				t[i] = subst[c];
				if (quire_json_is_canonical(t, w.len) &&
				    !canonical_round_trips(t, w.len))
					fail_msg("canonical but written otherwise: %.*s",
						 (int)w.len, t);
				free(t);
			}
		}
		quire_buf_release(&w);
		json_decref(v);
	}
	static const char *const not_canonical[] = {
		"{\"b\":1,\"a\":2}",
		"{\"a\":1,\"a\":2}",
		"{ \"a\":1}",
		"[1, 2]",
		"[1.5]",
		"[1e3]",
		"[-0]",
		"[01]",
		"\"a\\/b\"",
		"\"\\u00e9\"",
		"\"\\u001f\"",
		"\"\\u000a\"",
		"\"\\u0000\"",
		"{\"a\\u0062\":1}",
		"[1234567890123456789]",
		"\"\xff\"",
		"[1] ",
		"",
		"\"\xf8\x80\x80\"",
		"\"\xf5\x80\x80\x80\"",
	};
	for (size_t k = 0; k < sizeof(not_canonical) / sizeof(not_canonical[0]); k++)
		if (quire_json_is_canonical(not_canonical[k], strlen(not_canonical[k])))
			fail_msg("taken as canonical: %s", not_canonical[k]);
}

/* Hex to bytes and back: one spelling, lower case only, 64 digits. */
static void test_hex_bytes(void **state)
{
	(void)state;
	struct quire_digest d;
	quire_hash_bytes("x", 1, &d);
	unsigned char b[32];
	char back[65];
	assert_int_equal(quire_hex_bytes(d.s + 7, b), 1);
	quire_bytes_hex(b, back);
	assert_string_equal(back, d.s + 7);
	char bad[65];
	memcpy(bad, d.s + 7, 65);
	bad[10] = 'A';
	assert_int_equal(quire_hex_bytes(bad, b), 0);
	bad[10] = 'g';
	assert_int_equal(quire_hex_bytes(bad, b), 0);
	bad[10] = d.s[17];
	bad[63] = '\0';
	assert_int_equal(quire_hex_bytes(bad, b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_hex_bytes),
		cmocka_unit_test(test_canonical_with_raw_value),
		cmocka_unit_test(test_bytes_with_nul_are_hashed_whole),
		cmocka_unit_test(test_streaming_matches_one_shot),
		cmocka_unit_test(test_hash_file_equals_hash_bytes),
		cmocka_unit_test(test_hash_file_missing),
		cmocka_unit_test(test_canonical_sorts_keys_and_is_compact),
		cmocka_unit_test(test_canonical_matches_jansson),
		cmocka_unit_test(test_hash_json_ignores_insertion_order),
		cmocka_unit_test(test_reals_are_refused),
		cmocka_unit_test(test_digest_valid),
		cmocka_unit_test(test_reformat_matches_writer),
		cmocka_unit_test(test_canonical_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
