/* Unit tests for core/template.h: parsing, checking against a blueprint, and rendering. */
#include "testutil.h"

#include <limits.h>

#include <jansson.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "core/template.h"

static const char bp_yaml[] = "blueprint: t\n"
			      "inputs:\n"
			      "  Premise:  { type: text, required: true }\n"
			      "  Tone:     { type: enum, values: [warm, wry], default: warm }\n"
			      "  Chapters: { type: int, default: 3 }\n"
			      "  Scenes:   { type: int, default: 2 }\n"
			      "  Draft:    { type: bool, default: false }\n"
			      "producers:\n"
			      "  Outline:\n"
			      "    role: writer\n"
			      "    uses: [Premise, Chapters, Draft]\n"
			      "    output: { type: json }\n"
			      "  Chapter:\n"
			      "    foreach: { i: Chapters }\n"
			      "    role: writer\n"
			      "    uses:\n"
			      "      - Premise\n"
			      "      - Outline\n"
			      "  Scene:\n"
			      "    foreach: { i: Chapters, j: Scenes }\n"
			      "    role: writer\n"
			      "    uses:\n"
			      "      - Chapter[i]\n"
			      "      - Outline\n"
			      "  Summary:\n"
			      "    foreach: { i: Chapters }\n"
			      "    role: writer\n"
			      "    uses:\n"
			      "      - Scene[i][*]\n"
			      "  Book:\n"
			      "    role: assemble\n"
			      "    uses:\n"
			      "      - Tone\n"
			      "      - Scene[*][*]\n"
			      "  Pick:\n"
			      "    role: writer\n"
			      "    uses: [Chapters, Outline]\n"
			      "  Sofar:\n"
			      "    foreach: { i: Chapters }\n"
			      "    role: writer\n"
			      "    uses:\n"
			      "      - Chapter[<i]\n"
			      "      - Sofar[i-1]\n"
			      "      - Outline\n";

struct fx {
	struct quire_blueprint *bp;
	json_t *inputs;
	json_t *arts;	      /* id -> value */
	struct quire_buf log; /* ids the renderer asked for, one per line */
	const char *feedback;
	const char *draft;
};

static const json_t *artefact(void *ud, const char *id)
{
	struct fx *f = ud;
	quire_buf_printf(&f->log, "%s\n", id);
	const json_t *v = json_object_get(f->arts, id);
	if (!v)
		quire_error_set(QUIRE_ENOTFOUND, "no artefact '%s'", id);
	return v;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int err = quire_blueprint_parse(&f->bp, bp_yaml, sizeof(bp_yaml) - 1, "bp.yaml");
	if (err) {
		fprintf(stderr, "blueprint: %s\n", quire_error_last());
		return -1;
	}
	f->inputs = json_pack("{s:s,s:s,s:i,s:i,s:b}", "Premise", "A keeper answers letters.",
			      "Tone", "wry", "Chapters", 3, "Scenes", 2, "Draft", 0);
	f->arts = json_object();
	json_object_set_new(f->arts, "Outline",
			    json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "title", "Letters",
				      "chapters", "title", "First", "summary", "s0", "title",
				      "Second", "summary", "s1", "title", "Third", "summary",
				      "s2"));
	for (int i = 0; i < 3; i++) {
		char id[32], text[64];
		snprintf(id, sizeof(id), "Chapter[%d]", i);
		snprintf(text, sizeof(text), "Chapter %d text.", i);
		json_object_set_new(f->arts, id, json_string(text));
		for (int j = 0; j < 2; j++) {
			snprintf(id, sizeof(id), "Scene[%d][%d]", i, j);
			snprintf(text, sizeof(text), "S %d.%d", i, j);
			json_object_set_new(f->arts, id, json_string(text));
		}
	}
	quire_buf_init(&f->log, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	quire_blueprint_free(f->bp);
	json_decref(f->inputs);
	json_decref(f->arts);
	quire_buf_release(&f->log);
	free(f);
	return 0;
}

static const struct quire_producer *producer(const struct fx *f, const char *name)
{
	int pi = quire_blueprint_producer(f->bp, name);
	assert_true(pi >= 0);
	return &f->bp->producers[pi];
}

/* Parses, checks and renders text as "t.md" for one instance of `prod`. On success *out is a
 * malloc'd string; on failure the error code is returned and *out is NULL. */
static int render(struct fx *f, const char *text, const char *prod, const long long *idx,
		  char **out)
{
	*out = NULL;
	const struct quire_producer *p = producer(f, prod);
	struct quire_template *t = NULL;
	quire_error_clear();
	int err = quire_template_parse(&t, text, strlen(text), "t.md");
	if (err) {
		assert_null(t);
		return err;
	}
	if ((err = quire_template_check(t, f->bp, p))) {
		quire_template_free(t);
		return err;
	}
	static const long long none[QUIRE_MAX_DIMS];
	struct quire_render_ctx c = {
		.bp = f->bp,
		.p = p,
		.idx = idx ? idx : none,
		.inputs = f->inputs,
		.feedback = f->feedback,
		.draft = f->draft,
		.artefact = artefact,
		.ud = f,
	};
	struct quire_buf b = QUIRE_BUF_INIT;
	err = quire_template_render(t, &c, &b);
	quire_template_free(t);
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	*out = quire_buf_detach(&b, NULL);
	return 0;
}

static void expect_render(struct fx *f, const char *text, const char *prod, const long long *idx,
			  const char *want)
{
	char *got = NULL;
	int err = render(f, text, prod, idx, &got);
	if (err)
		fail_msg("rendering \"%s\" for %s: error %d: %s", text, prod, err,
			 quire_error_last());
	assert_string_equal(got, want);
	free(got);
}

/* Expects QUIRE_EINVALID from parse, check or render with a message starting with prefix and
 * containing each NULL-terminated word. */
static void expect_fail_v(struct fx *f, const char *text, const char *prod, const long long *idx,
			  const char *prefix, ...)
{
	char *got = NULL;
	int err = render(f, text, prod, idx, &got);
	const char *msg = quire_error_last();
	if (err != QUIRE_EINVALID)
		fail_msg("\"%s\" for %s: got %d (\"%s\", output \"%s\"), want QUIRE_EINVALID", text,
			 prod, err, msg, got ? got : "");
	va_list ap;
	va_start(ap, prefix);
	tu_expect_msg_v(msg, prefix, ap);
	va_end(ap);
}

#define expect_fail(f, text, prod, idx, prefix, ...)                                               \
	expect_fail_v(f, text, prod, idx, prefix, __VA_ARGS__, NULL)

static void test_inputs(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	expect_render(f, "Premise: {{Premise}}!", "Chapter", i1,
		      "Premise: A keeper answers letters.!");
	expect_render(f, "{{Chapters}} chapters, draft={{Draft}}", "Outline", NULL,
		      "3 chapters, draft=false");
	expect_render(f, "tone={{ Tone }}.", "Book", NULL, "tone=wry.");
	/* Text inputs go in verbatim, without quotes or escaping. */
	json_object_set_new(f->inputs, "Premise", json_string("say \"hi\"\n{{not a tag}}"));
	expect_render(f, "[{{Premise}}]", "Chapter", i1, "[say \"hi\"\n{{not a tag}}]");
	/* Inputs are not artefacts: the callback is never asked for them. */
	assert_int_equal(f->log.len, 0);
}

/* A real reads as written (or as a model answered it), not as jansson's 17 digits. */
static void test_reals(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	json_object_set_new(f->inputs, "Premise", json_real(0.99));
	expect_render(f, "p={{Premise}}", "Chapter", i1, "p=0.99");
	json_object_set_new(f->inputs, "Premise", json_real(2.0));
	expect_render(f, "p={{Premise}}", "Chapter", i1, "p=2.0");
	json_object_set_new(f->inputs, "Premise",
			    json_pack("{s:f,s:[f]}", "mood", 0.99, "sum", 0.25 + 0.5));
	expect_render(f, "{{Premise}}", "Chapter", i1,
		      "{\n  \"mood\": 0.99,\n  \"sum\": [\n    0.75\n  ]\n}");
	/* One that needs more digits to read back as itself keeps them all. */
	json_object_set_new(f->inputs, "Premise", json_real(1733481234.123456));
	expect_render(f, "p={{Premise}}", "Chapter", i1, "p=1733481234.123456");
}

static void test_loop_variables(void **state)
{
	struct fx *f = *state;
	const long long i10[] = { 1, 0 };
	expect_render(f, "{{i}}/{{j}} {{i+1}}.{{j + 1}} {{i-1}}", "Scene", i10, "1/0 2.1 0");
	const long long i2[] = { 2 };
	expect_render(f, "Chapter {{i+1}} ({{i}})", "Chapter", i2, "Chapter 3 (2)");
}

static void test_text_artefact(void **state)
{
	struct fx *f = *state;
	const long long i21[] = { 2, 1 };
	expect_render(f, "Before: {{Chapter[i]}}", "Scene", i21, "Before: Chapter 2 text.");
	assert_string_equal(f->log.ptr, "Chapter[2]\n");
}

static void test_json_path(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	expect_render(f, "{{Outline.chapters[i].title}} / {{Outline.title}}", "Chapter", i1,
		      "Second / Letters");
	expect_render(f, "next: {{Outline.chapters[i+1].summary}}", "Chapter", i1, "next: s2");
	expect_render(f, "{{Outline.chapters[0].title}}", "Chapter", i1, "First");
	/* A whole object is rendered as indented JSON with sorted keys. */
	expect_render(f, "{{Outline.chapters[i]}}", "Chapter", i1,
		      "{\n  \"summary\": \"s1\",\n  \"title\": \"Second\"\n}");
}

static void test_collect_and_join(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	expect_render(f, "{{Scene[i][*]}}", "Summary", i1, "S 1.0\n\nS 1.1");
	expect_render(f, "{{Scene[i][*] | join}}", "Summary", i1, "S 1.0\n\nS 1.1");
	expect_render(f, "{{Scene[i][*] | join \", \"}}", "Summary", i1, "S 1.0, S 1.1");
	expect_render(f, "- {{Scene[i][*] | join \"\\n- \"}}", "Summary", i1, "- S 1.0\n- S 1.1");
	expect_render(f, "{{Scene[*][*] | join \"|\"}}", "Book", NULL,
		      "S 0.0|S 0.1|S 1.0|S 1.1|S 2.0|S 2.1");
	/* The counts come from the inputs. */
	json_object_set_new(f->inputs, "Scenes", json_integer(1));
	expect_render(f, "{{Scene[*][*] | join \"|\"}}", "Book", NULL, "S 0.0|S 1.0|S 2.0");
}

/* What a collector may render by ranges: outputs shown whole and as they are, only. */
static void test_shows_verbatim(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *text;
		int verbatim;
	} cases[] = {
		{ "Tone {{Tone}}: {{Scene[*][*] | join \"|\"}}\n{{Scene[0][1]}}", 1 },
		{ "{{#if Tone}}{{Scene[*][*]}}{{/if}}", 1 },	     /* a condition on an input */
		{ "{{#if Scene[0][0]}}x{{/if}}{{Scene[*][*]}}", 0 }, /* on an output */
		{ "{{Scene[*][*] | section \"Notes\"}}", 0 },
		{ "{{Scene[0][0].title}}", 0 }, /* a field of a text output */
		{ "{{Outline.chapters}}", 0 },	/* a field */
		{ "{{Outline}}", 0 },		/* JSON, re-serialised */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct quire_template *t = NULL;
		assert_int_equal(
			quire_template_parse(&t, cases[k].text, strlen(cases[k].text), "p.md"), 0);
		if (quire_template_shows_verbatim(t, f->bp) != cases[k].verbatim)
			fail_msg("'%s': expected %d", cases[k].text, cases[k].verbatim);
		quire_template_free(t);
	}
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;
	json_object_set_new(f->arts, "Outline",
			    json_pack("{s:[{s:s},{s:s}]}", "chapters", "title", "A", "title", "B"));
	const long long i2[] = { 2 };
	expect_fail(f, "Title:\n    {{Outline.chapters[i].title}}", "Chapter", i2,
		    "t.md:2:5: ", "'Outline.chapters[2]'", "out of range");
	const long long i0[] = { 0 };
	expect_fail(f, "x{{Outline.chapters[i-1].title}}", "Chapter", i0,
		    "t.md:1:2: ", "'Outline.chapters[-1]'", "out of range");
	expect_fail(f, "{{Outline.chapters[0].nope}}", "Chapter", i0,
		    "t.md:1:1: ", "'Outline.chapters[0].nope'", "does not exist");
	expect_fail(f, "{{Outline.title}}", "Chapter", i0, "t.md:1:1: ", "'Outline.title'",
		    "does not exist");
	/* An int input at the end of its range, an offset past it (this overflowed). */
	json_object_set_new(f->inputs, "Chapters", json_integer(LLONG_MAX));
	expect_fail(f, "{{Outline.chapters[Chapters+1].title}}", "Pick", NULL,
		    "t.md:1:1: ", "'Outline.chapters[9223372036854775807]'", "out of range");
	json_object_set_new(f->inputs, "Chapters", json_integer(LLONG_MIN));
	expect_fail(f, "{{Outline.chapters[Chapters-1].title}}", "Pick", NULL,
		    "t.md:1:1: ", "'Outline.chapters[-9223372036854775808]'", "out of range");
}

static void test_missing_artefact_is_positioned(void **state)
{
	struct fx *f = *state;
	const long long i00[] = { 0, 0 };
	expect_fail(f, "ab\ncd {{Chapter[7]}}", "Scene", i00,
		    "t.md:2:4: ", "no artefact 'Chapter[7]'");
}

static void test_name_not_in_uses(void **state)
{
	struct fx *f = *state;
	const long long i0[] = { 0 };
	expect_fail(f, "Hi\n  {{Tone}}", "Chapter", i0, "t.md:2:3: ", "'Tone'", "uses");
	expect_fail(f, "{{Scene[i][*]}}", "Chapter", i0, "t.md:1:1: ", "'Scene'", "uses");
	/* Check fails before anything is rendered or fetched. */
	assert_int_equal(f->log.len, 0);
}

static void test_unknown_name_did_you_mean(void **state)
{
	struct fx *f = *state;
	const long long i0[] = { 0 };
	expect_fail(f, "ab {{Premis}}", "Chapter", i0, "t.md:1:4: ", "unknown name 'Premis'",
		    "did you mean 'Premise'?");
	expect_fail(f, "{{Outlne.title}}", "Chapter", i0, "t.md:1:1: ", "'Outlne'",
		    "did you mean 'Outline'?");
	const long long i00[] = { 0, 0 };
	expect_fail(f, "{{Zebra}}", "Scene", i00, "t.md:1:1: ", "unknown name 'Zebra'");
	/* Columns count characters, not bytes. */
	expect_fail(f, "\xc3\xa9\xe2\x82\xac {{Nope}}", "Chapter", i0,
		    "t.md:1:4: ", "unknown name 'Nope'");
}

static void test_unclosed_braces_positioned(void **state)
{
	struct fx *f = *state;
	const long long i0[] = { 0 };
	expect_fail(f, "Hello\n  {{Premise\n}}", "Chapter", i0, "t.md:2:3: ", "'{{'", "'}}'");
	expect_fail(f, "one\ntwo\nend {{", "Chapter", i0, "t.md:3:5: ", "'{{'");
}

static void test_syntax_errors(void **state)
{
	struct fx *f = *state;
	const long long i0[] = { 0 };
	expect_fail(f, "{{ }}", "Chapter", i0, "t.md:1:1: ", "expected a name");
	expect_fail(f, "a {{Premise | upper}}", "Chapter", i0, "t.md:1:3: ", "unknown filter");
	expect_fail(f, "{{Chapter[}}", "Scene", i0, "t.md:1:1: ", "expected an index");
	expect_fail(f, "{{Chapter[i}}", "Scene", i0, "t.md:1:1: ", "expected ']'");
	expect_fail(f, "{{Premise extra}}", "Chapter", i0, "t.md:1:1: ", "unexpected text");
	expect_fail(f, "{{Scene[i][*] | join \", }}", "Summary", i0,
		    "t.md:1:1: ", "unterminated string");
	expect_fail(f, "{{Outline.}}", "Chapter", i0, "t.md:1:1: ", "field name");
}

static void test_check_errors(void **state)
{
	struct fx *f = *state;
	const long long i00[] = { 0, 0 };
	expect_fail(f, "{{Chapter}}", "Scene", i00, "t.md:1:1: ", "'Chapter' needs 1 index",
		    "got 0");
	expect_fail(f, "{{Chapter[i][j]}}", "Scene", i00, "t.md:1:1: ", "needs 1 index", "got 2");
	expect_fail(f, "{{Chapter[k]}}", "Scene", i00, "t.md:1:1: ", "'k' is not a loop variable");
	expect_fail(f, "{{i[0]}}", "Scene", i00, "t.md:1:1: ", "'i' takes no index");
	const long long i0[] = { 0 };
	expect_fail(f, "{{Premise+1}}", "Chapter", i0, "t.md:1:1: ", "loop variables only");
	expect_fail(f, "{{Premise[0]}}", "Chapter", i0, "t.md:1:1: ", "needs 0 indexes");
}

static void test_literal_text_kept(void **state)
{
	struct fx *f = *state;
	expect_render(f, "", "Book", NULL, "");
	expect_render(f, "a { b } }} c {x} {", "Book", NULL, "a { b } }} c {x} {");
	expect_render(f, "caf\xc3\xa9\n\n  indented\n{{Tone}}\n", "Book", NULL,
		      "caf\xc3\xa9\n\n  indented\nwry\n");
	expect_render(f, "{{Tone}}{{Tone}}", "Book", NULL, "wrywry");
}

static void test_feedback(void **state)
{
	struct fx *f = *state;
	expect_render(f, "[{{feedback}}]", "Book", NULL, "[]");
	f->feedback = "make it shorter";
	expect_render(f, "Notes: {{feedback}}", "Book", NULL, "Notes: make it shorter");
}

static void test_deterministic(void **state)
{
	struct fx *f = *state;
	const char *text = "{{Premise}}\n{{Outline.chapters[i]}}\n{{Scene[*][*] | join \"; \"}}";
	/* Book does not use these: give it a producer that uses everything. */
	const char *yaml = "inputs:\n  Premise: { type: text }\n  Chapters: { type: int }\n"
			   "  Scenes: { type: int }\n"
			   "producers:\n"
			   "  Outline: { role: w, output: { type: json } }\n"
			   "  Scene: { role: w, foreach: { i: Chapters, j: Scenes } }\n"
			   "  All:\n    role: w\n    foreach: { i: Chapters }\n"
			   "    uses:\n      - Premise\n      - Outline\n      - Scene[*][*]\n";
	struct quire_blueprint *bp = NULL;
	assert_int_equal(quire_blueprint_parse(&bp, yaml, strlen(yaml), "bp2.yaml"), 0);
	struct quire_blueprint *keep = f->bp;
	f->bp = bp;
	const long long i1[] = { 1 };
	char *a = NULL, *b = NULL;
	assert_int_equal(render(f, text, "All", i1, &a), 0);
	assert_int_equal(render(f, text, "All", i1, &b), 0);
	assert_string_equal(a, b);
	assert_string_equal(a, "A keeper answers letters.\n"
			       "{\n  \"summary\": \"s1\",\n  \"title\": \"Second\"\n}\n"
			       "S 0.0; S 0.1; S 1.0; S 1.1; S 2.0; S 2.1");
	free(a);
	free(b);

	/* One parsed template rendered twice into the same buffer gives the text twice. */
	struct quire_template *t = NULL;
	assert_int_equal(quire_template_parse(&t, text, strlen(text), "t.md"), 0);
	struct quire_render_ctx c = { .bp = bp,
				      .p = &bp->producers[quire_blueprint_producer(bp, "All")],
				      .idx = i1,
				      .inputs = f->inputs,
				      .feedback = "",
				      .artefact = artefact,
				      .ud = f };
	struct quire_buf out = QUIRE_BUF_INIT;
	assert_int_equal(quire_template_render(t, &c, &out), 0);
	size_t half = out.len;
	assert_int_equal(quire_template_render(t, &c, &out), 0);
	assert_int_equal(out.len, 2 * half);
	assert_memory_equal(out.ptr, out.ptr + half, half);
	quire_buf_release(&out);
	quire_template_free(t);
	quire_template_free(NULL);
	f->bp = keep;
	quire_blueprint_free(bp);
}

/* Columns count characters, also after an expression holding multi-byte text. */
static void test_column_after_multibyte_expression(void **state)
{
	struct fx *f = *state;
	const long long i0[] = { 0 };
	expect_fail(f, "{{Scene[i][*] | join \"\xe2\x80\x94\"}} {{Nope}}", "Summary", i0,
		    "t.md:1:28: ", "unknown name 'Nope'");
}

static void test_earlier_instances(void **state)
{
	struct fx *f = *state;
	json_object_set_new(f->arts, "Sofar[0]", json_string("Sum 0."));
	json_object_set_new(f->arts, "Sofar[1]", json_string("Sum 1."));
	const long long i0[] = { 0 }, i1[] = { 1 }, i2[] = { 2 };
	expect_render(f, "[{{Chapter[<i] | join \"|\"}}]", "Sofar", i2,
		      "[Chapter 0 text.|Chapter 1 text.]");
	expect_render(f, "[{{Chapter[<i]}}]", "Sofar", i1, "[Chapter 0 text.]");
	/* Before the first there is nothing: no lookup, no error. */
	quire_buf_reset(&f->log);
	expect_render(f, "[{{Chapter[<i]}}|{{Sofar[i-1]}}]", "Sofar", i0, "[|]");
	assert_int_equal(f->log.len, 0);
	expect_render(f, "{{Sofar[i-1]}}", "Sofar", i2, "Sum 1.");
}

static void test_if_blocks(void **state)
{
	struct fx *f = *state;
	json_object_set_new(f->arts, "Sofar[0]", json_string("Sum 0."));
	json_object_set_new(f->arts, "Sofar[1]", json_string("  \n"));
	const long long i0[] = { 0 }, i1[] = { 1 }, i2[] = { 2 };
	const char *t = "{{#if Sofar[i-1]}}So far: {{Sofar[i-1]}}{{else}}The start.{{/if}}";
	expect_render(f, t, "Sofar", i0, "The start.");
	expect_render(f, t, "Sofar", i1, "So far: Sum 0.");
	/* Blank text is nothing to show. */
	expect_render(f, t, "Sofar", i2, "The start.");
	/* A tag alone on its line takes the line with it. */
	const char *lines =
		"a\n  {{#if Sofar[i-1]}}\nX {{Sofar[i-1]}}\n{{else}}\nnone\n{{/if}}\nb\n";
	expect_render(f, lines, "Sofar", i0, "a\nnone\nb\n");
	expect_render(f, lines, "Sofar", i1, "a\nX Sum 0.\nb\n");
	/* Nested, on lists, on loop variables, on fields: a missing field is false, not an
	 * error, inside a condition. */
	expect_render(f, "{{#if Chapter[<i]}}{{#if i}}n{{/if}}+{{else}}-{{/if}}", "Sofar", i0, "-");
	expect_render(f, "{{#if Chapter[<i]}}{{#if i}}n{{/if}}+{{else}}-{{/if}}", "Sofar", i2,
		      "n+");
	expect_render(f, "{{#if Outline.chapters[i-1].title}}prev{{/if}}.", "Chapter", i0, ".");
	expect_render(f, "{{#if Outline.nope}}x{{else}}y{{/if}}", "Chapter", i0, "y");
	expect_render(f, "{{#if Draft}}d{{else}}final{{/if}}", "Outline", NULL, "final");
	/* feedback and draft. */
	expect_render(f, "{{#if draft}}Revise: {{draft}} ({{feedback}}){{else}}New.{{/if}}",
		      "Chapter", i0, "New.");
	f->draft = "Old text.";
	f->feedback = "shorter";
	expect_render(f, "{{#if draft}}Revise: {{draft}} ({{feedback}}){{else}}New.{{/if}}",
		      "Chapter", i0, "Revise: Old text. (shorter)");
	/* Outside a condition a missing field is still an error. */
	expect_fail(f, "{{Outline.nope}}", "Chapter", i0, "t.md:1:1: ", "does not exist");
}

static void test_if_mid_line(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	/* A tag after an expression on its line is not alone there: nothing is joined. */
	expect_render(f, "Hello {{i}}  {{#if i}}\nOne: {{i}}\n{{/if}}\nEnd", "Sofar", i1,
		      "Hello 1  \nOne: 1\nEnd");
	expect_render(f, "{{#if i}}\nA\n{{/if}}  {{i}}\nEnd", "Sofar", i1, "A\n  1\nEnd");
	/* Blocks on consecutive lines: each takes its own line. */
	expect_render(f, "x\n{{#if i}}\nA\n{{/if}}\n{{#if i}}\nB\n{{/if}}\ny\n", "Sofar", i1,
		      "x\nA\nB\ny\n");
}

static void test_if_errors(void **state)
{
	struct fx *f = *state;
	const long long i1[] = { 1 };
	expect_fail(f, "x\n  {{#if Sofar[i-1]}} open", "Sofar", i1,
		    "t.md:2:3: ", "'{{#if' without its '{{/if}}'");
	expect_fail(f, "{{/if}}", "Sofar", i1, "t.md:1:1: ", "without its '{{#if}}'");
	expect_fail(f, "a {{else}}", "Sofar", i1, "t.md:1:3: ", "outside '{{#if}}'");
	expect_fail(f, "{{#if i}}{{else}}{{else}}{{/if}}", "Sofar", i1, "t.md:1:", "second");
	expect_fail(f, "{{#each Chapter[<i]}}", "Sofar", i1, "t.md:1:1: ", "unknown block");
	expect_fail(f, "{{#if Nope}}x{{/if}}", "Sofar", i1, "t.md:1:1: ", "unknown name 'Nope'");
	expect_fail(f, "{{Chapter[<Chapters]}}", "Pick", NULL, "t.md:1:1: ", "not a loop variable");
	expect_fail(f, "{{draft[0]}}", "Sofar", i1, "t.md:1:1: ", "takes no index");
}

static void test_section(void **state)
{
	struct fx *f = *state;
	json_object_set_new(f->inputs, "Premise",
			    json_string("# Canon\n\nIntro.\n\n## Characters ##\n\nAda, a keeper.\n"
					"### Minor\nBo.\n\n## Places\nThe light.\n"));
	const long long i0[] = { 0 };
	expect_render(f, "[{{Premise | section \"characters\"}}]", "Chapter", i0,
		      "[Ada, a keeper.\n### Minor\nBo.]");
	expect_render(f, "[{{Premise | section \"Places\"}}]", "Chapter", i0, "[The light.]");
	/* A heading that ends in '#' keeps it; only a closing run after a space goes. */
	json_object_set_new(f->inputs, "Premise", json_string("## C#\nsharp\n## Go ##\ngo"));
	expect_render(f, "{{Premise | section \"C#\"}}|{{Premise | section \"Go\"}}", "Chapter", i0,
		      "sharp|go");
	json_object_set_new(f->inputs, "Premise",
			    json_string("# Canon\n\nIntro.\n\n## Characters ##\n\nAda, a keeper.\n"
					"### Minor\nBo.\n\n## Places\nThe light.\n"));
	expect_render(f, "{{#if Premise | section \"Timeline\"}}t{{else}}none{{/if}}", "Chapter",
		      i0, "none");
	expect_fail(f, "x {{Premise | section \"Timeline\"}}", "Chapter", i0, "t.md:1:3: ",
		    "'Premise' has no heading 'Timeline' (its headings: Canon, Characters, Minor, "
		    "Places)");
	expect_fail(f, "{{Premise | section \"\"}}", "Chapter", i0, "t.md:1:", "needs a heading");
	expect_fail(f, "{{Premise | sections \"A\"}}", "Chapter", i0, "t.md:1:", "unknown filter");
	expect_fail(f, "{{Outline | section \"A\"}}", "Chapter", i0,
		    "t.md:1:1: ", "applies to text");
	/* With join, each value's section. */
	json_object_set_new(f->arts, "Scene[0][0]", json_string("# A\none\n# B\ntwo"));
	json_object_set_new(f->arts, "Scene[0][1]", json_string("# B\nthree"));
	expect_render(f, "{{Scene[i][*] | section \"b\" | join \"|\"}}", "Summary", i0,
		      "two|three");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_inputs),
		T(test_reals),
		T(test_loop_variables),
		T(test_text_artefact),
		T(test_json_path),
		T(test_collect_and_join),
		T(test_shows_verbatim),
		T(test_out_of_range),
		T(test_missing_artefact_is_positioned),
		T(test_name_not_in_uses),
		T(test_unknown_name_did_you_mean),
		T(test_unclosed_braces_positioned),
		T(test_syntax_errors),
		T(test_check_errors),
		T(test_literal_text_kept),
		T(test_feedback),
		T(test_deterministic),
		T(test_column_after_multibyte_expression),
		T(test_earlier_instances),
		T(test_if_blocks),
		T(test_if_errors),
		T(test_section),
		T(test_if_mid_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
