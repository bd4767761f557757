/* Fuzzes prompt templates (core/template.c): parsed, checked against each producer of the
 * story blueprint, and rendered for one of its instances where the check passes.
 * Input: the template, then optionally a NUL and a JSON document the artefacts' values come
 * from (an object: each id's own value, a key holding null a missing blob; anything else:
 * every artefact's value). */
#include "fuzz.h"

#include <jansson.h>

#include "quire-config.h"
#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "core/template.h"

static struct quire_blueprint *bp;
static json_t *inputs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (quire_blueprint_load(&bp, QUIRE_SOURCE_BLUEPRINTS "/story/blueprint.yaml",
				 "blueprint.yaml")) {
		fprintf(stderr, "fuzz_template: %s\n", quire_error_last());
		abort();
	}
	inputs = json_pack("{s:s,s:s,s:s,s:i,s:i}", "Title", "The Letters", "Premise",
			   "A keeper answers letters.", "Tone", "warm", "Chapters", 3, "Scenes", 2);
	return 0;
}

static const json_t *artefact(void *ud, const char *id)
{
	const json_t *doc = ud;
	if (!json_is_object(doc))
		return doc;
	const json_t *v = json_object_get(doc, id);
	if (json_is_null(v)) {
		quire_error_set(QUIRE_ECORRUPT, "the output of '%s' is damaged", id);
		return NULL;
	}
	return v ? v : doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *js;
	size_t jslen, len = fuzz_split(data, size, &js, &jslen);
	const char *text = (const char *)data;
	struct quire_template *t = NULL;
	/* As the runner reads a prompt file: UTF-8 without NUL first. */
	if (quire_fs_check_utf8("prompt.md", text, len) ||
	    quire_template_parse(&t, text, len, "prompt.md"))
		goto out;
	json_t *doc = js ? json_loadb(js, jslen, JSON_DECODE_ANY, NULL) : NULL;
	if (!doc)
		doc = json_string("an artefact's text");
	const long long idx[QUIRE_MAX_DIMS] = { 2, 1 };
	for (size_t i = 0; i < bp->nproducers; i++) {
		const struct quire_producer *p = &bp->producers[i];
		quire_template_reads_all(t, p->name);
		if (quire_template_check(t, bp, p))
			continue;
		struct quire_render_ctx c = { .bp = bp,
					      .p = p,
					      .idx = idx,
					      .inputs = inputs,
					      .feedback = "more letters",
					      .artefact = artefact,
					      .ud = doc };
		struct quire_buf out = QUIRE_BUF_INIT;
		quire_template_render(t, &c, &out);
		quire_buf_release(&out);
	}
	json_decref(doc);
out:
	quire_template_free(t);
	quire_error_clear();
	return 0;
}
