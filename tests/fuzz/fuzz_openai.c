/* Fuzzes what the openai provider makes of a server's answer (providers/openai.c): the
 * status line and headers (Retry-After), a chat-completion JSON body or a server-sent event
 * stream, error documents, fenced JSON. Input: a byte of flags (events or one body, text or
 * json output, read size), a byte choosing the HTTP status, then the body, or the header
 * lines, a NUL and the body. */
#include "fuzz.h"

#include "reply.h"

static char out_path[300];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long status[] = { 200, 200, 200, 200, 201, 204, 400, 401,
				       404, 408, 409, 429, 500, 502, 503, 302 };
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
		.id = "Outline",
		.producer = "Outline",
		.role = "w",
		.output_type = flags & 2 ? "json" : "text",
		.output_ext = flags & 2 ? "json" : "md",
		.output_path = out_path,
		.progress = fuzz_progress,
	};
	struct quire_provider_response rs = { 0 };
	/* Read sizes 1 to 15 split events and characters; 0 reads everything at once. */
	quire_openai__reply(&rq, &rs, status[data[1] % 16], flags & 1, headers, hlen, body, blen,
			    (flags >> 4) & 15);
	fuzz_check_response(&rs, 1);
	return 0;
}
