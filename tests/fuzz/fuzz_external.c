/* Fuzzes what quire makes of an external provider's output (providers/external.c): JSON
 * lines on stdout (progress, result, stray prints, a last line without its newline) and the
 * stderr tail in messages. Input: a byte choosing the read size and the exit status, stdout,
 * then optionally a NUL and stderr. */
#include "fuzz.h"

#include "reply.h"

static char out_path[300];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (!out_path[0])
		snprintf(out_path, sizeof(out_path), "%s/out", fuzz_dir());
	unsigned flags = data[0];
	const char *err;
	size_t errlen, len = fuzz_split(data + 1, size - 1, &err, &errlen);
	struct quire_provider_request rq = {
		.abi = QUIRE_PROVIDER_ABI,
		.id = "Scene[0][1]",
		.producer = "Scene",
		.role = "w",
		.output_type = "text",
		.output_ext = "md",
		.output_path = out_path,
		.progress = flags & 0x80 ? fuzz_progress : NULL,
	};
	struct quire_provider_response rs = { 0 };
	/* Read sizes 1 to 7 split lines and characters; 0 reads everything at once. Exit
	 * statuses: 0, 1, or killed by SIGKILL. */
	static const int status[] = { 0, 1 << 8, 9 };
	quire_external__reply(&rq, &rs, (const char *)data + 1, len, flags & 7, err, errlen,
			      status[(flags >> 3) % 3]);
	fuzz_check_response(&rs, 0);
	return 0;
}
