/* Unit tests for quire/blueprint.h: a full valid blueprint, dependency order, positioned errors. */
#include "testutil.h"

#include <jansson.h>

#include "quire/blueprint.h"
#include "quire/error.h"

/* Every input type; producers with 0, 1 and 2 dimensions, a collector, and Book declared
 * before what it depends on, so the order cannot be the declaration order. */
static const char full_yaml[] =
	"# a comment\n"
	"blueprint: full\n"
	"version: 2\n"
	"description: every kind of input and producer\n"
	"inputs:\n"
	"  Title:    { type: text, default: \"Untitled\" }\n"
	"  Premise:  { type: text, required: true, description: the idea }\n"
	"  Draft:    { type: bool, default: false }\n"
	"  Tone:     { type: enum, values: [warm, wry, eerie], default: wry }\n"
	"  Chapters: { type: int, default: 3, min: 1, max: 50 }\n"
	"  Scenes:   { type: int, default: 2, min: 1, max: 9 }\n"
	"  Notes:    {}\n"
	"producers:\n"
	"  Book:\n"
	"    role: assemble\n"
	"    prompt: prompts/book.md\n"
	"    uses:\n"
	"      - Title\n"
	"      - Scene[*][*]\n"
	"    output: { type: text, ext: md }\n"
	"  Scene:\n"
	"    foreach: { i: Chapters, j: Scenes }\n"
	"    role: writer\n"
	"    prompt: prompts/scene.md\n"
	"    uses:\n"
	"      - Tone\n"
	"      - Chapter[ i ]\n"
	"      - Outline\n"
	"    output: { type: text }\n"
	"  Chapter:\n"
	"    foreach: { i: Chapters }\n"
	"    role: writer\n"
	"    review: true\n"
	"    uses:\n"
	"      - Premise\n"
	"      - Outline\n"
	"  Outline:\n"
	"    role: writer\n"
	"    uses: [Title, Premise, Tone, Chapters, Draft]\n"
	"    output: { type: json, schema: schemas/outline.json }\n"
	"  Cover:\n"
	"    role: artist\n"
	"    uses:\n"
	"      - Outline\n"
	"      - Chapter[0]\n"
	"    output: { type: image }\n";

static struct quire_blueprint *parse_ok(const char *text)
{
	struct quire_blueprint *bp = NULL;
	int err = quire_blueprint_parse(&bp, text, strlen(text), "bp.yaml");
	if (err)
		fail_msg("unexpected error %d: %s", err, quire_error_last());
	assert_non_null(bp);
	return bp;
}

/* Expects QUIRE_EINVALID with a message that starts with `prefix` and contains each of the
 * NULL-terminated words. */
static void expect_error_n(const char *text, size_t len, const char *prefix, ...)
{
	struct quire_blueprint *bp = (struct quire_blueprint *)1;
	quire_error_clear();
	int err = quire_blueprint_parse(&bp, text, len, "bp.yaml");
	const char *msg = quire_error_last();
	if (err != QUIRE_EINVALID)
		fail_msg("got %d (%s), want QUIRE_EINVALID", err, msg);
	assert_null(bp);
	va_list ap;
	va_start(ap, prefix);
	tu_expect_msg_v(msg, prefix, ap);
	va_end(ap);
}

#define expect_error(text, prefix, ...)                                                            \
	expect_error_n(text, strlen(text), prefix, __VA_ARGS__, NULL)

static void test_full_blueprint_inputs(void **state)
{
	(void)state;
	struct quire_blueprint *bp = parse_ok(full_yaml);
	assert_string_equal(bp->name, "full");
	assert_int_equal(bp->version, 2);
	assert_string_equal(bp->file, "bp.yaml");
	assert_int_equal(bp->ninputs, 7);

	const struct quire_input_decl *in = &bp->inputs[quire_blueprint_input(bp, "Title")];
	assert_int_equal(in->type, QUIRE_INPUT_TEXT);
	assert_false(in->required);
	assert_true(json_is_string(in->def));
	assert_string_equal(json_string_value(in->def), "Untitled");
	assert_int_equal(in->line, 6);
	assert_int_equal(in->col, 3);

	in = &bp->inputs[quire_blueprint_input(bp, "Premise")];
	assert_int_equal(in->type, QUIRE_INPUT_TEXT);
	assert_true(in->required);
	assert_null(in->def);

	in = &bp->inputs[quire_blueprint_input(bp, "Draft")];
	assert_int_equal(in->type, QUIRE_INPUT_BOOL);
	assert_true(json_is_false(in->def));

	in = &bp->inputs[quire_blueprint_input(bp, "Tone")];
	assert_int_equal(in->type, QUIRE_INPUT_ENUM);
	assert_int_equal(in->nvalues, 3);
	assert_string_equal(in->values[0], "warm");
	assert_string_equal(in->values[1], "wry");
	assert_string_equal(in->values[2], "eerie");
	assert_string_equal(json_string_value(in->def), "wry");

	in = &bp->inputs[quire_blueprint_input(bp, "Chapters")];
	assert_int_equal(in->type, QUIRE_INPUT_INT);
	assert_true(json_is_integer(in->def));
	assert_int_equal(json_integer_value(in->def), 3);
	assert_true(in->has_min && in->has_max);
	assert_int_equal(in->min, 1);
	assert_int_equal(in->max, 50);
	assert_int_equal(in->line, 10);

	/* No type means text. */
	in = &bp->inputs[quire_blueprint_input(bp, "Notes")];
	assert_int_equal(in->type, QUIRE_INPUT_TEXT);
	assert_false(in->has_min || in->has_max);

	assert_int_equal(quire_blueprint_input(bp, "Nope"), -1);
	assert_int_equal(quire_blueprint_input(bp, "Book"), -1);
	quire_blueprint_free(bp);
}

static void test_full_blueprint_producers(void **state)
{
	(void)state;
	struct quire_blueprint *bp = parse_ok(full_yaml);
	assert_int_equal(bp->nproducers, 5);
	assert_int_equal(quire_blueprint_producer(bp, "Title"), -1);

	const struct quire_producer *book = &bp->producers[quire_blueprint_producer(bp, "Book")];
	assert_string_equal(book->role, "assemble");
	assert_string_equal(book->prompt, "prompts/book.md");
	assert_int_equal(book->ndims, 0);
	assert_int_equal(book->line, 14);
	assert_int_equal(book->col, 3);
	assert_int_equal(book->nuses, 2);
	assert_true(book->uses[0].is_input);
	assert_int_equal(book->uses[0].target, quire_blueprint_input(bp, "Title"));
	assert_int_equal(book->uses[0].nidx, 0);
	assert_false(book->uses[1].is_input);
	assert_string_equal(book->uses[1].text, "Scene[*][*]");
	assert_int_equal(book->uses[1].target, quire_blueprint_producer(bp, "Scene"));
	assert_int_equal(book->uses[1].nidx, 2);
	assert_int_equal(book->uses[1].idx[0].kind, QUIRE_IDX_ALL);
	assert_int_equal(book->uses[1].idx[1].kind, QUIRE_IDX_ALL);
	assert_int_equal(book->uses[1].line, 19);
	assert_int_equal(book->uses[1].col, 9);
	assert_int_equal(book->output.type, QUIRE_OUT_TEXT);
	assert_string_equal(book->output.ext, "md");
	assert_null(book->output.schema);

	const struct quire_producer *scene = &bp->producers[quire_blueprint_producer(bp, "Scene")];
	assert_int_equal(scene->ndims, 2);
	assert_string_equal(scene->dims[0].var, "i");
	assert_int_equal(scene->dims[0].input, quire_blueprint_input(bp, "Chapters"));
	assert_string_equal(scene->dims[1].var, "j");
	assert_int_equal(scene->dims[1].input, quire_blueprint_input(bp, "Scenes"));
	assert_int_equal(scene->nuses, 3);
	/* Spaces inside brackets are dropped from the canonical spelling. */
	assert_string_equal(scene->uses[1].text, "Chapter[i]");
	assert_int_equal(scene->uses[1].nidx, 1);
	assert_int_equal(scene->uses[1].idx[0].kind, QUIRE_IDX_VAR);
	assert_int_equal(scene->uses[1].idx[0].var, 0);
	assert_string_equal(scene->output.ext, "md"); /* text defaults to md */
	assert_false(scene->review);

	const struct quire_producer *ch = &bp->producers[quire_blueprint_producer(bp, "Chapter")];
	assert_int_equal(ch->ndims, 1);
	assert_true(ch->review);
	assert_null(ch->prompt);

	const struct quire_producer *ol = &bp->producers[quire_blueprint_producer(bp, "Outline")];
	assert_int_equal(ol->output.type, QUIRE_OUT_JSON);
	assert_string_equal(ol->output.ext, "json");
	assert_string_equal(ol->output.schema, "schemas/outline.json");
	assert_int_equal(ol->nuses, 5);

	const struct quire_producer *cv = &bp->producers[quire_blueprint_producer(bp, "Cover")];
	assert_int_equal(cv->output.type, QUIRE_OUT_IMAGE);
	assert_string_equal(cv->output.ext, "png");
	assert_string_equal(cv->uses[1].text, "Chapter[0]");
	assert_int_equal(cv->uses[1].idx[0].kind, QUIRE_IDX_LIT);
	assert_int_equal(cv->uses[1].idx[0].lit, 0);

	assert_string_equal(quire_output_type_name(QUIRE_OUT_TEXT), "text");
	assert_string_equal(quire_output_type_name(QUIRE_OUT_JSON), "json");
	assert_string_equal(quire_output_type_name(QUIRE_OUT_IMAGE), "image");

	size_t nroles = 0;
	const char **roles = quire_blueprint_roles(bp, &nroles);
	assert_int_equal(nroles, 3);
	assert_string_equal(roles[0], "artist");
	assert_string_equal(roles[1], "assemble");
	assert_string_equal(roles[2], "writer");
	free(roles);
	quire_blueprint_free(bp);
}

/* Asserts that bp->order is a permutation in which every used producer comes first. */
static void assert_dependency_order(const struct quire_blueprint *bp)
{
	size_t *pos = calloc(bp->nproducers, sizeof(size_t));
	int *seen = calloc(bp->nproducers, sizeof(int));
	for (size_t k = 0; k < bp->nproducers; k++) {
		size_t p = bp->order[k];
		assert_true(p < bp->nproducers);
		assert_false(seen[p]);
		seen[p] = 1;
		pos[p] = k;
	}
	for (size_t p = 0; p < bp->nproducers; p++)
		for (size_t u = 0; u < bp->producers[p].nuses; u++) {
			const struct quire_use *us = &bp->producers[p].uses[u];
			if (us->is_input)
				continue;
			if (pos[us->target] >= pos[p])
				fail_msg("'%s' is ordered after '%s', which uses it",
					 bp->producers[us->target].name, bp->producers[p].name);
		}
	free(pos);
	free(seen);
}

static void test_order_is_a_dependency_order(void **state)
{
	(void)state;
	struct quire_blueprint *bp = parse_ok(full_yaml);
	assert_dependency_order(bp);
	/* Outline must come before Chapter, Chapter before Scene, Scene before Book. */
	size_t at[5];
	for (size_t k = 0; k < bp->nproducers; k++)
		at[bp->order[k]] = k;
	assert_true(at[quire_blueprint_producer(bp, "Outline")] <
		    at[quire_blueprint_producer(bp, "Chapter")]);
	assert_true(at[quire_blueprint_producer(bp, "Chapter")] <
		    at[quire_blueprint_producer(bp, "Scene")]);
	assert_true(at[quire_blueprint_producer(bp, "Scene")] <
		    at[quire_blueprint_producer(bp, "Book")]);
	quire_blueprint_free(bp);

	/* A diamond plus a chain declared backwards. */
	bp = parse_ok("producers:\n"
		      "  E: { role: w, uses: [D, B] }\n"
		      "  D: { role: w, uses: [C] }\n"
		      "  C: { role: w, uses: [A] }\n"
		      "  B: { role: w, uses: [A] }\n"
		      "  A: { role: w }\n");
	assert_int_equal(bp->nproducers, 5);
	assert_string_equal(bp->producers[bp->order[0]].name, "A");
	assert_string_equal(bp->producers[bp->order[4]].name, "E");
	assert_dependency_order(bp);
	assert_string_equal(bp->name, "unnamed");
	quire_blueprint_free(bp);
}

static void test_definition_ignores_formatting(void **state)
{
	(void)state;
	struct quire_blueprint *a =
		parse_ok("inputs:\n  N: { type: int }\n"
			 "producers:\n"
			 "  C: { role: w, foreach: { i: N } }\n"
			 "  P: { role: w, uses: [N, \"C[ * ]\"], output: { type: text } }\n");
	struct quire_blueprint *b =
		parse_ok("# same, written differently\n"
			 "inputs:\n  N:\n    type: int\n"
			 "producers:\n"
			 "  C:\n    foreach:\n      i: N\n    role: w\n"
			 "  P:\n    role: w\n    uses:\n      - N\n      - C[*]\n");
	struct quire_blueprint *c = parse_ok("inputs:\n  N: { type: int }\n"
					     "producers:\n"
					     "  C: { role: w, foreach: { i: N } }\n"
					     "  P: { role: x, uses: [N, \"C[*]\"] }\n");
	const json_t *pa = a->producers[1].def, *pb = b->producers[1].def,
		     *pc = c->producers[1].def;
	assert_non_null(pa);
	assert_true(json_equal((json_t *)pa, (json_t *)pb));
	assert_true(json_equal((json_t *)a->producers[0].def, (json_t *)b->producers[0].def));
	/* A different role is a different definition. */
	assert_false(json_equal((json_t *)pa, (json_t *)pc));
	quire_blueprint_free(a);
	quire_blueprint_free(b);
	quire_blueprint_free(c);
}

static void test_load_from_file(void **state)
{
	(void)state;
	char *dir = tu_tempdir();
	tu_write(dir, "blueprint.yaml", full_yaml);
	char path[4200];
	snprintf(path, sizeof(path), "%s/blueprint.yaml", dir);
	struct quire_blueprint *bp = NULL;
	assert_int_equal(quire_blueprint_load(&bp, path, "story/blueprint.yaml"), 0);
	assert_string_equal(bp->file, "story/blueprint.yaml");
	assert_int_equal(bp->nproducers, 5);
	quire_blueprint_free(bp);

	tu_write(dir, "bad.yaml", "producers:\n  P:\n    rol: w\n");
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	assert_int_equal(quire_blueprint_load(&bp, path, "bad.yaml"), QUIRE_EINVALID);
	assert_null(bp);
	assert_string_equal(quire_error_last(),
			    "bad.yaml:3:5: unknown key 'rol' in a producer (did you mean 'role'?)");

	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(quire_blueprint_load(&bp, path, "missing.yaml"), QUIRE_ENOTFOUND);
	assert_null(bp);
	quire_blueprint_free(NULL);
	tu_rmrf(dir);
	free(dir);
}

static void test_error_unknown_key_did_you_mean(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "    promt: p.md\n",
		     "bp.yaml:5:5: ", "unknown key 'promt'", "did you mean 'prompt'");
	expect_error("blueprint: t\n"
		     "produsers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:2:1: ", "unknown key 'produsers'", "did you mean 'producers'");
	expect_error("inputs:\n"
		     "  N: { type: int, maximum: 3 }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:2:19: ", "unknown key 'maximum'");
}

static void test_error_uses_unknown_id(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  Chapters: { type: int, default: 2 }\n"
		     "producers:\n"
		     "  Chapter:\n"
		     "    foreach: { i: Chapters }\n"
		     "    role: w\n"
		     "  Scene:\n"
		     "    foreach: { i: Chapters }\n"
		     "    role: w\n"
		     "    uses:\n"
		     "      - Chaptr[i]\n",
		     "bp.yaml:12:9: ", "unknown id 'Chaptr'", "did you mean 'Chapter'?");
	/* Nothing close: no suggestion. */
	struct quire_blueprint *bp = NULL;
	const char *t = "producers:\n  P: { role: w, uses: [Zebra] }\n";
	assert_int_equal(quire_blueprint_parse(&bp, t, strlen(t), "bp.yaml"), QUIRE_EINVALID);
	assert_string_equal(quire_error_last(),
			    "bp.yaml:2:24: producer 'P' uses unknown id 'Zebra'");
}

static void test_error_cycle_names_path(void **state)
{
	(void)state;
	const char *two = "blueprint: t\n"
			  "producers:\n"
			  "  A:\n"
			  "    role: w\n"
			  "    uses: [B]\n"
			  "  B:\n"
			  "    role: w\n"
			  "    uses: [A]\n";
	struct quire_blueprint *bp = NULL;
	assert_int_equal(quire_blueprint_parse(&bp, two, strlen(two), "bp.yaml"), QUIRE_EINVALID);
	const char *msg = quire_error_last();
	assert_non_null(strstr(msg, "cycle"));
	/* Positioned at the producer the reported path starts from. */
	if (strstr(msg, "A -> B -> A"))
		assert_int_equal(strncmp(msg, "bp.yaml:3:3: ", 13), 0);
	else if (strstr(msg, "B -> A -> B"))
		assert_int_equal(strncmp(msg, "bp.yaml:6:3: ", 13), 0);
	else
		fail_msg("no cycle path in \"%s\"", msg);

	/* A longer cycle behind an innocent producer; the innocent one is not in the path. */
	expect_error("producers:\n"
		     "  Z: { role: w }\n"
		     "  A: { role: w, uses: [Z, B] }\n"
		     "  B: { role: w, uses: [C] }\n"
		     "  C: { role: w, uses: [A] }\n",
		     "bp.yaml:3:3: ", "dependency cycle: A -> B -> C -> A");
	expect_error("producers:\n"
		     "  S: { role: w, uses: [S] }\n",
		     "bp.yaml:2:3: ", "cycle", "S -> S");
}

static void test_earlier_instance_uses(void **state)
{
	(void)state;
	/* A chapter reads the summary before it, the summary its chapter and the one before:
	 * a loop among producers, none among instances. Spelled with spaces, kept canonical. */
	struct quire_blueprint *bp = parse_ok("inputs:\n"
					      "  N: { type: int, default: 3 }\n"
					      "producers:\n"
					      "  Chapter:\n"
					      "    foreach: { i: N }\n"
					      "    role: w\n"
					      "    uses:\n"
					      "      - Summary[ i - 1 ]\n"
					      "      - Chapter[< i]\n"
					      "  Summary:\n"
					      "    foreach: { i: N }\n"
					      "    role: w\n"
					      "    uses:\n"
					      "      - Chapter[i]\n"
					      "      - Summary[i-2]\n");
	const struct quire_producer *c = &bp->producers[0], *s = &bp->producers[1];
	assert_string_equal(c->uses[0].text, "Summary[i-1]");
	assert_int_equal(c->uses[0].idx[0].off, -1);
	assert_true(c->uses[0].earlier);
	assert_string_equal(c->uses[1].text, "Chapter[<i]");
	assert_int_equal(c->uses[1].idx[0].kind, QUIRE_IDX_BEFORE);
	assert_false(s->uses[0].earlier);
	assert_string_equal(s->uses[1].text, "Summary[i-2]");
	quire_blueprint_free(bp);
	/* A producer that uses itself at the same index is still a cycle. */
	expect_error("inputs:\n  N: { type: int }\nproducers:\n"
		     "  C:\n    foreach: { i: N }\n    role: w\n    uses:\n      - C[i]\n",
		     "bp.yaml:4:3: ", "dependency cycle: C -> C");
	/* Offsets count back from 1; '<' takes a loop variable. */
	expect_error("inputs:\n  N: { type: int }\nproducers:\n"
		     "  C:\n    foreach: { i: N }\n    role: w\n    uses:\n      - C[i-0]\n",
		     "bp.yaml:8:9: ", "'C[i-0]' is not a valid reference", "Name[i-1]");
	expect_error("inputs:\n  N: { type: int }\nproducers:\n"
		     "  C:\n    foreach: { i: N }\n    role: w\n    uses:\n      - C[i+1]\n",
		     "bp.yaml:8:9: ", "'C[i+1]' is not a valid reference");
	expect_error("inputs:\n  N: { type: int }\nproducers:\n"
		     "  C:\n    foreach: { i: N }\n    role: w\n    uses:\n      - C[<j]\n",
		     "bp.yaml:8:9: ", "'j' in 'C[<j]' is not a loop variable of producer 'C'");
}

static void test_error_wrong_index_count(void **state)
{
	(void)state;
	const char *head = "blueprint: t\n"
			   "inputs:\n"
			   "  N: { type: int, default: 2 }\n"
			   "producers:\n"
			   "  Chapter:\n"
			   "    foreach: { i: N }\n"
			   "    role: w\n";
	char text[1024];
	snprintf(text, sizeof(text), "%s  Book:\n    role: w\n    uses: [Chapter]\n", head);
	expect_error(text, "bp.yaml:10:12: ", "'Chapter' needs 1 index", "got 0");
	snprintf(text, sizeof(text),
		 "%s  Scene:\n    foreach: { i: N, j: N }\n    role: w\n    uses:\n      - "
		 "Chapter[i][j]\n",
		 head);
	expect_error(text, "bp.yaml:12:9: ", "'Chapter[i][j]' needs 1 index", "got 2");
	snprintf(text, sizeof(text),
		 "%s  Scene:\n    foreach: { i: N }\n    role: w\n    uses:\n      - N[i]\n", head);
	expect_error(text, "bp.yaml:12:9: ", "'N[i]' needs 0 indexes", "got 1");
	/* A loop variable the using producer does not have. */
	snprintf(text, sizeof(text), "%s  Scene:\n    role: w\n    uses:\n      - Chapter[i]\n",
		 head);
	expect_error(text, "bp.yaml:11:9: ", "'i'", "not a loop variable of producer 'Scene'");
}

static void test_error_foreach_over_text_input(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  Premise: { type: text }\n"
		     "producers:\n"
		     "  Chapter:\n"
		     "    foreach: { i: Premise }\n"
		     "    role: w\n",
		     "bp.yaml:6:19: ", "'Premise'", "not an int input");
}

static void test_error_foreach_over_unknown_input(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  Chapters: { type: int }\n"
		     "producers:\n"
		     "  Chapter:\n"
		     "    foreach: { i: Chaptrs }\n"
		     "    role: w\n",
		     "bp.yaml:6:19: ", "unknown input 'Chaptrs'", "did you mean 'Chapters'?");
	/* A producer is not something to fan out over. */
	expect_error("producers:\n"
		     "  Outline: { role: w }\n"
		     "  Chapter:\n"
		     "    foreach: { i: Outline }\n"
		     "    role: w\n",
		     "bp.yaml:4:19: ", "unknown input 'Outline'");
}

static void test_error_duplicate_names(void **state)
{
	(void)state;
	/* A producer with an input's name. */
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  P: { type: text }\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n",
		     "bp.yaml:5:3: ", "'P' is defined twice");
	/* The same producer twice is a YAML-level duplicate key (its exact position is tested
	 * below). */
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "  P:\n"
		     "    role: x\n",
		     "bp.yaml:", "duplicate key");
}

static void test_error_bad_ext(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "    output: { type: text, ext: ../x }\n",
		     "bp.yaml:5:32: ", "ext must be");
	expect_error("producers:\n  P: { role: w, output: { ext: .md } }\n",
		     "bp.yaml:2:32: ", "ext must be");
	expect_error("producers:\n  P: { role: w, output: { ext: abcdefghijklmnopq } }\n",
		     "bp.yaml:2:32: ", "ext must be");
	struct quire_blueprint *bp =
		parse_ok("producers:\n  P: { role: w, output: { ext: abcdefghijklmnop } }\n");
	assert_string_equal(bp->producers[0].output.ext, "abcdefghijklmnop");
	quire_blueprint_free(bp);
}

static void test_error_paths_outside_project(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "    output: { type: json, schema: ../../etc/passwd }\n",
		     "bp.yaml:5:35: ", "schema must be a relative path inside the project");
	expect_error("producers:\n  P: { role: w, output: { type: json, schema: /etc/passwd } }\n",
		     "bp.yaml:2:47: ", "relative path inside the project");
	expect_error("producers:\n  P: { role: w, output: { type: json, schema: a/../../x } }\n",
		     "bp.yaml:2:47: ", "relative path inside the project");
	expect_error("producers:\n  P: { role: w, output: { type: json, schema: a/.. } }\n",
		     "bp.yaml:2:47: ", "relative path inside the project");
	expect_error("producers:\n  P: { role: w, prompt: ../prompts/p.md }\n",
		     "bp.yaml:2:25: ", "prompt must be a relative path inside the project");
	/* Names that merely contain dots are fine. */
	struct quire_blueprint *bp = parse_ok("producers:\n  P: { role: w, prompt: p..v2.md, "
					      "output: { type: json, schema: s/..x.json } }\n");
	assert_string_equal(bp->producers[0].prompt, "p..v2.md");
	quire_blueprint_free(bp);
	/* A schema on a text output is refused. */
	expect_error("producers:\n  P: { role: w, output: { type: text, schema: s.json } }\n",
		     "bp.yaml:2:47: ", "json outputs only");
}

static void test_error_enum_without_values(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  Tone: { type: enum, default: warm }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:3:17: ", "enum input 'Tone' needs a non-empty list of values");
	expect_error("inputs:\n"
		     "  Tone: { type: enum, values: [warm, wry], default: cold }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:2:53: ", "input 'Tone' must be one of 'warm', 'wry'");
}

/* An empty sequence or mapping has no token of its own: the error points at its key. */
static void test_error_empty_collection_position(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  Tone: { type: enum, values: [] }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:3:23: ", "needs a non-empty list of values");
	expect_error("inputs:\n  N: { type: int }\n"
		     "producers:\n  P:\n    role: w\n    foreach: {}\n",
		     "bp.yaml:6:5: ", "foreach must be a mapping");
}

/* Enum values that look like numbers or booleans are compared as written. */
static void test_enum_values_that_look_like_numbers(void **state)
{
	(void)state;
	struct quire_blueprint *bp =
		parse_ok("inputs:\n"
			 "  Lvl: { type: enum, values: [1, 2, 3], default: 2 }\n"
			 "  Ans: { type: enum, values: [yes, no], default: no }\n"
			 "producers:\n"
			 "  P: { role: w }\n");
	assert_string_equal(json_string_value(bp->inputs[0].def), "2");
	assert_string_equal(json_string_value(bp->inputs[1].def), "no");
	quire_blueprint_free(bp);
}

static void test_error_min_greater_than_max(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  N: { type: int, min: 5, max: 2 }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:3:24: ", "min is greater than max");
	expect_error("inputs:\n"
		     "  N: { type: int, min: 1, default: 0 }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:2:36: ", "input 'N' is 0, below its minimum 1");
	expect_error("inputs:\n"
		     "  N: { type: text, max: 3 }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:2:25: ", "int inputs only");
}

static void test_error_other_positioned(void **state)
{
	(void)state;
	expect_error("producers:\n  P:\n    prompt: p.md\n",
		     "bp.yaml:2:3: ", "producer 'P' has no role");
	expect_error("inputs:\n  N: { type: integer }\nproducers:\n  P: { role: w }\n",
		     "bp.yaml:2:14: ", "unknown input type 'integer'");
	expect_error("producers:\n  P: { role: w, output: { type: txt } }\n",
		     "bp.yaml:2:33: ", "unknown output type 'txt'");
	expect_error("inputs:\n  N: { type: int }\nproducers:\n  P: { role: w, uses: [N, N] }\n",
		     "bp.yaml:4:27: ", "'N' is used twice");
	expect_error("inputs:\n  N: { type: int }\n", "bp.yaml:", "'producers'");
	expect_error("producers:\n  2P: { role: w }\n",
		     "bp.yaml:2:3: ", "producer name must be a name");
}

static void test_error_brackets_in_flow_list_hint(void **state)
{
	(void)state;
	expect_error("inputs:\n"
		     "  N: { type: int }\n"
		     "producers:\n"
		     "  C: { role: w, foreach: { i: N } }\n"
		     "  P:\n"
		     "    role: w\n"
		     "    foreach: { i: N }\n"
		     "    uses: [C[i]]\n",
		     "bp.yaml:", "block list");
}

static void test_error_invalid_yaml_positioned(void **state)
{
	(void)state;
	/* A tab used as indentation. */
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  A: { type: int }\n"
		     "\tB: { type: text }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:", "tab");
	/* A key indented less than its siblings. */
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "   uses: [A]\n",
		     "bp.yaml:", "indentation");
	/* Every YAML error carries a line and column. */
	struct quire_blueprint *bp = NULL;
	const char *t = "a: [1, 2\n";
	assert_int_equal(quire_blueprint_parse(&bp, t, strlen(t), "bp.yaml"), QUIRE_EINVALID);
	int line = 0, col = 0;
	assert_int_equal(sscanf(quire_error_last(), "bp.yaml:%d:%d:", &line, &col), 2);
	assert_true(line >= 1 && col >= 1);
}

/* YAML syntax errors point at the exact line and column libyaml reports. */
static void test_error_yaml_syntax_exact_position(void **state)
{
	(void)state;
	expect_error("blueprint: t\n"
		     "inputs:\n"
		     "  A: { type: int }\n"
		     "\tB: { type: text }\n"
		     "producers:\n"
		     "  P: { role: w }\n",
		     "bp.yaml:4:1: ", "tab");
	expect_error("blueprint: t\n"
		     "producers:\n"
		     "  P:\n"
		     "    role: w\n"
		     "  P:\n"
		     "    role: x\n",
		     "bp.yaml:5:3: ", "duplicate key");
}

static void test_error_invalid_utf8_does_not_hang(void **state)
{
	(void)state;
	alarm(20); /* libfyaml 0.7.12 looped forever on bad UTF-8: fail rather than hang */
	static const char bad[] = "blueprint: t\n"
				  "description: \"caf\xc3\xa9 \xff\"\n"
				  "producers:\n"
				  "  P: { role: w }\n";
	expect_error_n(bad, sizeof(bad) - 1, "bp.yaml:2:20: ", "invalid UTF-8", NULL);
	static const char badkey[] = "producers:\n  P\xe0\x80: { role: w }\n";
	expect_error_n(badkey, sizeof(badkey) - 1, "bp.yaml:2:4: ", "invalid UTF-8", NULL);
	static const char trunc[] = "producers:\n  P: { role: w\xf0\x9f\x98 }\n";
	expect_error_n(trunc, sizeof(trunc) - 1, "bp.yaml:2:15: ", "invalid UTF-8", NULL);
	static const char nul[] = "producers:\n  P: { role: w }\0\n";
	expect_error_n(nul, sizeof(nul) - 1, "bp.yaml:2:17: ", "NUL", NULL);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_earlier_instance_uses),
		cmocka_unit_test(test_full_blueprint_inputs),
		cmocka_unit_test(test_full_blueprint_producers),
		cmocka_unit_test(test_order_is_a_dependency_order),
		cmocka_unit_test(test_definition_ignores_formatting),
		cmocka_unit_test(test_load_from_file),
		cmocka_unit_test(test_error_unknown_key_did_you_mean),
		cmocka_unit_test(test_error_uses_unknown_id),
		cmocka_unit_test(test_error_cycle_names_path),
		cmocka_unit_test(test_error_wrong_index_count),
		cmocka_unit_test(test_error_foreach_over_text_input),
		cmocka_unit_test(test_error_foreach_over_unknown_input),
		cmocka_unit_test(test_error_duplicate_names),
		cmocka_unit_test(test_error_bad_ext),
		cmocka_unit_test(test_error_paths_outside_project),
		cmocka_unit_test(test_error_enum_without_values),
		cmocka_unit_test(test_error_min_greater_than_max),
		cmocka_unit_test(test_error_other_positioned),
		cmocka_unit_test(test_error_brackets_in_flow_list_hint),
		cmocka_unit_test(test_error_invalid_yaml_positioned),
		cmocka_unit_test(test_error_invalid_utf8_does_not_hang),
		cmocka_unit_test(test_error_empty_collection_position),
		cmocka_unit_test(test_enum_values_that_look_like_numbers),
		cmocka_unit_test(test_error_yaml_syntax_exact_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
