/* Fuzzes the project file reader (quire.yaml, core/project.c): paths, jobs, roles and their
 * bindings, retries, prices; then what a run asks of the bindings (costs). */
#include "fuzz.h"

#include "core/project_parse.h"
#include "quire/error.h"
#include "quire/project.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quire_project *p = calloc(1, sizeof(*p));
	if (quire__project_parse_config(p, (const char *)data, size) == 0) {
		for (size_t i = 0; i < p->nbindings; i++) {
			quire_project_binding(p, p->bindings[i].role);
			quire_binding_cost(&p->bindings[i], 1000000, 250000);
		}
	}
	quire_project_free(p);
	quire_error_clear();
	return 0;
}
