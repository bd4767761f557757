/* Fuzzes the inputs file reader (inputs.yaml, core/project.c) against a fixed blueprint: the
 * story blueprint's inputs and one of each other kind, typed, range-checked, defaulted; then
 * what planning asks of the values (fan-out sizes, digests). */
#include "fuzz.h"

#include "core/project_parse.h"
#include "quire/blueprint.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/project.h"

static const char blueprint[] =
	"blueprint: fuzz\n"
	"inputs:\n"
	"  Title:    { type: text, default: \"Untitled\" }\n"
	"  Premise:  { type: text, required: true }\n"
	"  Tone:     { type: enum, values: [warm, wry, eerie, bright], default: warm }\n"
	"  Chapters: { type: int, default: 3, min: 1, max: 500 }\n"
	"  Scenes:   { type: int, default: 2, min: 1, max: 500 }\n"
	"  Seed:     { type: int }\n"
	"  Draft:    { type: bool, default: false }\n"
	"producers:\n"
	"  Scene:\n"
	"    foreach: { i: Chapters, j: Scenes }\n"
	"    role: writer\n"
	"    prompt: prompts/scene.md\n"
	"    uses: [Title, Premise, Tone, Seed, Draft]\n"
	"  Take:\n"
	"    foreach: { k: Seed }\n"
	"    role: writer\n"
	"    uses: [\"Scene[*][*]\"]\n";

static struct quire_blueprint *bp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (quire_blueprint_parse(&bp, blueprint, strlen(blueprint), "blueprint.yaml")) {
		fprintf(stderr, "fuzz_inputs: %s\n", quire_error_last());
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[] = "inputs.yaml";
	struct quire_project p = { .bp = bp, .inputs_file = name };
	if (quire__project_parse_inputs(&p, (const char *)data, size) == 0) {
		for (size_t i = 0; i < bp->nproducers; i++) {
			size_t n;
			quire_project_instance_count(&p, i, &n);
		}
		for (size_t i = 0; i < bp->ninputs; i++) {
			struct quire_digest d;
			quire_project_input_digest(&p, bp->inputs[i].name, &d);
		}
	}
	json_decref(p.inputs);
	json_decref(p.input_digests);
	quire_error_clear();
	return 0;
}
