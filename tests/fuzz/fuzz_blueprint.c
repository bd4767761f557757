/* Fuzzes the blueprint loader (core/blueprint.c) on its input as blueprint.yaml: inputs,
 * producers, uses, fan-outs, cycles; then what planning asks of a blueprint. */
#include "fuzz.h"

#include "quire/blueprint.h"
#include "quire/error.h"

static int count(void *ud, const long long *idx)
{
	(void)idx;
	return ++*(int *)ud > 100; /* enough to walk every dimension */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quire_blueprint *bp = NULL;
	if (quire_blueprint_parse(&bp, (const char *)data, size, "blueprint.yaml") == 0) {
		size_t n;
		free(quire_blueprint_roles(bp, &n));
		const long long idx[QUIRE_MAX_DIMS] = { 0, 1, 2, 3 };
		const long long counts[QUIRE_MAX_DIMS] = { 2, 3, 2, 2 };
		for (size_t i = 0; i < bp->nproducers; i++) {
			const struct quire_producer *p = &bp->producers[i];
			free(quire_producer_prompt_path(p, idx));
			int seen = 0;
			quire_producer_each_index(p, counts, count, &seen);
			quire_blueprint_producer(bp, p->name);
		}
	}
	quire_blueprint_free(bp);
	quire_error_clear();
	return 0;
}
