/* Fuzzes what the replicate provider makes of the API's replies (providers/replicate.c): a
 * created or polled prediction, its status, error and logs, its output (text, a list of
 * tokens, JSON, a file URL), metrics, problem documents and Retry-After. Input: a byte of
 * flags (create or poll reply, output type), a byte choosing the HTTP status, then the body,
 * or the header lines, a NUL and the body. */
#include "fuzz.h"

#include "reply.h"

static char out_path[300];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long status[] = { 200, 201, 200, 201, 202, 400, 401, 404,
				       408, 422, 429, 500, 502, 503, 504, 302 };
	static const char *const types[] = { "text", "json", "image", "audio" };
	if (size < 2)
		return 0;
	if (!out_path[0])
		snprintf(out_path, sizeof(out_path), "%s/out", fuzz_dir());
	unsigned flags = data[0];
	const char *headers, *body;
	size_t hlen, blen;
	fuzz_http_answer(data + 2, size - 2, &headers, &hlen, &body, &blen);
	struct quire_provider_request rq = {
		.abi = QUIRE_PROVIDER_ABI,
		.id = "Cover",
		.producer = "Cover",
		.role = "painter",
		.fingerprint = "sha256:0f",
		.output_type = types[(flags >> 1) & 3],
		.output_ext = "out",
		.output_path = out_path,
	};
	struct quire_provider_response rs = { 0 };
	quire_replicate__reply(&rq, &rs, status[data[1] % 16], flags & 1, headers, hlen, body,
			       blen);
	fuzz_check_response(&rs, 1);
	return 0;
}
