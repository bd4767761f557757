/* Unit tests for what the built-in providers make of an answer (providers/parse.h): the
 * external provider's lines, openai's bodies, streams and headers, replicate's predictions. */
#include "testutil.h"

#include <string.h>

#include "providers/parse.h"
#include "quire-provider.h"

struct fx {
	char *dir;
	char out[4200];
	struct quire_provider_request rq;
	struct quire_provider_response rs;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_tempdir();
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	f->rq = (struct quire_provider_request){ .abi = QUIRE_PROVIDER_ABI,
						 .id = "A",
						 .producer = "A",
						 .role = "w",
						 .output_type = "text",
						 .output_ext = "md",
						 .output_path = f->out };
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

/* The output file's text (static buffer). */
static const char *output(const struct fx *f)
{
	static char buf[256];
	FILE *in = fopen(f->out, "rb");
	assert_non_null(in);
	size_t n = fread(buf, 1, sizeof(buf) - 1, in);
	buf[n] = '\0';
	fclose(in);
	return buf;
}

static void test_external_lines(void **state)
{
	struct fx *f = *state;
	const char out[] = "a stray print\n{\"type\":\"progress\",\"units\":1}\n"
			   "{\"type\":\"result\",\"ok\":true,\"content\":\"hello\",\"tokens_in\":3,"
			   "\"tokens_out\":2,\"meta\":{\"b\":1,\"a\":2}}";
	/* Read a byte at a time, the last line without its newline. */
	assert_int_equal(quire_external__reply(&f->rq, &f->rs, out, strlen(out), 1, NULL, 0, 0), 0);
	assert_string_equal(output(f), "hello");
	assert_true(f->rs.tokens_in == 3 && f->rs.tokens_out == 2);
	assert_string_equal(f->rs.meta, "{\"a\":2,\"b\":1}");

	memset(&f->rs, 0, sizeof(f->rs));
	const char err[] = "boom\n";
	assert_int_equal(quire_external__reply(&f->rq, &f->rs, "", 0, 0, err, strlen(err), 1 << 8),
			 -1);
	assert_string_equal(f->rs.diag,
			    "quire-provider-test exited (status 1) without a result line: boom");
}

static void test_openai_stream(void **state)
{
	struct fx *f = *state;
	const char body[] =
		": comment\r\n\r\n"
		"data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},"
		"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
		"\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
	assert_int_equal(quire_openai__reply(&f->rq, &f->rs, 200, 1, "", 0, body, strlen(body), 7),
			 0);
	assert_string_equal(output(f), "Hello");
	assert_true(f->rs.tokens_in == 5 && f->rs.tokens_out == 2);
	assert_string_equal(f->rs.meta, "{\"response_id\":\"c1\",\"finish_reason\":\"stop\"}");
}

/* A server's word on when to come back is capped at ten minutes in either header (a
 * retry-after-ms of a year was slept whole). */
static void test_openai_retry_after_capped(void **state)
{
	struct fx *f = *state;
	const char body[] = "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit\"}}";
	const char *headers[] = {
		"HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 31536000000\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 31536000\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 1500\r\n"
	};
	const long want[] = { 600000, 600000, 1500 };
	for (int i = 0; i < 3; i++) {
		memset(&f->rs, 0, sizeof(f->rs));
		assert_int_equal(quire_openai__reply(&f->rq, &f->rs, 429, 0, headers[i],
						     strlen(headers[i]), body, strlen(body), 0),
				 -1);
		assert_true(f->rs.transient);
		assert_int_equal(f->rs.retry_after_ms, want[i]);
		assert_string_equal(f->rs.diag, "openai: 429 Too Many Requests: slow down");
	}
}

static void test_replicate_prediction(void **state)
{
	struct fx *f = *state;
	const char body[] = "{\"id\":\"p1\",\"status\":\"succeeded\",\"output\":[\"a \",\"b\"],"
			    "\"metrics\":{\"predict_time\":1.5,\"output_token_count\":4}}";
	assert_int_equal(quire_replicate__reply(&f->rq, &f->rs, 201, 0, "", 0, body, strlen(body)),
			 0);
	assert_string_equal(output(f), "a b");
	assert_true(f->rs.tokens_out == 4);
	assert_string_equal(f->rs.meta, "{\"model\":\"owner/model\",\"predict_time\":\"1.500\","
					"\"prediction_id\":\"p1\"}");

	memset(&f->rs, 0, sizeof(f->rs));
	const char failed[] =
		"{\"status\":\"failed\",\"error\":null,\"logs\":\"x\\nCUDA error\\n\"}";
	assert_int_equal(
		quire_replicate__reply(&f->rq, &f->rs, 200, 1, "", 0, failed, strlen(failed)), -1);
	assert_string_equal(
		f->rs.diag,
		"replicate: prediction test failed: no error given; logs end: x CUDA error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_external_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_openai_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_openai_retry_after_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replicate_prediction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
