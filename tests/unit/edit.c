/* Unit tests for human edits: in-place input rewrites, YAML scalars, export files and rewinds. */
#include "testutil.h"

#include <limits.h>

#include "builtin.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/manifest.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"

static int setup(void **state)
{
	tu_setup_story(state);
	tu_unset_mock_env();
	return 0;
}

static void assert_contains(const char *s, const char *part)
{
	if (!s || !strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s ? s : "(null)", part);
}

static struct quire_project *open_ok(const char *dir)
{
	struct quire_project *p = NULL;
	if (quire_project_open(&p, dir))
		fail_msg("open %s: %s", dir, quire_error_last());
	return p;
}

static char *slurp_in(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return tu_slurp(path);
}

static void assert_file(const char *dir, const char *rel, const char *want)
{
	char *got = slurp_in(dir, rel);
	if (strcmp(got, want))
		fail_msg("%s is\n---\n%s---\nwant\n---\n%s---", rel, got, want);
	free(got);
}

/* Writes inputs.yaml as `before`, sets input `name` to `value` (a reference is taken) and checks
 * the file then reads `after` byte for byte, p->inputs holds the value, and a fresh open of the
 * project reads the same value back. */
static void set_expect(const char *dir, const char *before, const char *name, json_t *value,
		       const char *after)
{
	tu_write(dir, "inputs.yaml", before);
	struct quire_project *p = open_ok(dir);
	if (quire_project_set_input(p, name, value))
		fail_msg("set %s: %s", name, quire_error_last());
	assert_file(dir, "inputs.yaml", after);
	assert_true(json_equal(json_object_get(p->inputs, name), value));
	quire_project_free(p);
	p = open_ok(dir);
	if (!json_equal(json_object_get(p->inputs, name), value)) {
		char *got = json_dumps(json_object_get(p->inputs, name), JSON_ENCODE_ANY);
		char *want = json_dumps(value, JSON_ENCODE_ANY);
		fail_msg("%s reads back as %s, want %s", name, got, want);
	}
	quire_project_free(p);
	json_decref(value);
}

#define HEAD "# Inputs for this story.\n\nPremise: A keeper answers letters.\n"

static void test_set_plain(void **state)
{
	set_expect(*state, HEAD "Tone: warm\nChapters: 3\n# end\n", "Tone", json_string("eerie"),
		   HEAD "Tone: eerie\nChapters: 3\n# end\n");
}

static void test_set_keeps_comment(void **state)
{
	set_expect(*state, HEAD "Tone: warm  # mood\n\nChapters: 3 # how many\n", "Tone",
		   json_string("eerie"), HEAD "Tone: eerie  # mood\n\nChapters: 3 # how many\n");
}

/* Quoted values: the quotes are part of what is replaced. */
static void test_set_double_quoted(void **state)
{
	set_expect(*state, HEAD "Title: \"The Keeper's \\\"Letters\\\"\"  # name\nTone: warm\n",
		   "Title", json_string("yes"), HEAD "Title: \"yes\"  # name\nTone: warm\n");
	set_expect(*state, HEAD "Title: \"Old\"  # name\nTone: warm\n", "Title",
		   json_string("Harbour Lights"),
		   HEAD "Title: Harbour Lights  # name\nTone: warm\n");
}

/* The same for single quotes. */
static void test_set_single_quoted(void **state)
{
	set_expect(*state, HEAD "Title: 'Old ''quoted'' title'\nTone: warm\n", "Title",
		   json_string("It's new"), HEAD "Title: It's new\nTone: warm\n");
}

static void test_set_folded_block_to_one_line(void **state)
{
	set_expect(*state,
		   "# Inputs.\nTitle: Letters\nPremise: >-\n  A retired keeper gets letters,\n"
		   "  and answers them.\nTone: warm\n",
		   "Premise", json_string("A keeper answers letters."),
		   "# Inputs.\nTitle: Letters\nPremise: A keeper answers letters.\nTone: warm\n");
}

static void test_set_literal_block_multiline(void **state)
{
	/* The blank line and the comment after the block belong to the file, not the value. */
	set_expect(*state,
		   "Title: Letters\nPremise: |\n  line one\n  line two\n\n# next\nTone: warm\n",
		   "Premise", json_string("First line.\n  indented second\nthird"),
		   "Title: Letters\nPremise: |-\n  First line.\n    indented second\n  third\n\n"
		   "# next\nTone: warm\n");
	/* A plain one-line value becomes a block, with a final newline kept. */
	set_expect(*state, "Premise: short\nTone: warm\n", "Premise", json_string("one\n\ntwo\n"),
		   "Premise: |\n  one\n\n  two\nTone: warm\n");
}

/* A plain scalar over several lines, a tag, an anchor and a block at the end of a file without
 * a final newline are replaced as a whole. */
static void test_set_other_scalar_forms(void **state)
{
	set_expect(*state, HEAD "Title: a keeper\n  answers letters.\nTone: warm\n", "Title",
		   json_string("x"), HEAD "Title: x\nTone: warm\n");
	set_expect(*state, HEAD "Title: !!str Old  # c\n", "Title", json_string("New"),
		   HEAD "Title: !!str New  # c\n");
	set_expect(*state, HEAD "Title: &t Old  # c\nTone: warm\n", "Title", json_string("New"),
		   HEAD "Title: &t New  # c\nTone: warm\n");
	set_expect(*state, HEAD "Title: |\n  a\n  b", "Title", json_string("x\ny"),
		   HEAD "Title: |-\n  x\n  y");
	/* Blank lines between the header and the text, and an explicit indentation. */
	set_expect(*state, HEAD "Title: >-\n\n  a\n  b\nTone: warm\n", "Title", json_string("x"),
		   HEAD "Title: x\nTone: warm\n");
	set_expect(*state, HEAD "Title: |2\n    a\n  b\nTone: warm\n", "Title", json_string("x"),
		   HEAD "Title: x\nTone: warm\n");
}

/* A comment on a block header line stays. */
static void test_set_block_keeps_header_comment(void **state)
{
	set_expect(*state, HEAD "Title: |-  # c\n  a\n  b\nTone: warm\n", "Title", json_string("x"),
		   HEAD "Title: x  # c\nTone: warm\n");
}

/* A block ends at the first line indented less than its text: a comment there stays. */
static void test_set_block_keeps_indented_comment_after(void **state)
{
	set_expect(*state, "Premise: a\nTitle: >-\n    a\n    b\n  # note\nTone: warm\n", "Title",
		   json_string("x"), "Premise: a\nTitle: x\n  # note\nTone: warm\n");
}

static void test_set_int(void **state)
{
	set_expect(*state, HEAD "Chapters: 3   # at least one\nScenes: 2\n", "Chapters",
		   json_integer(12), HEAD "Chapters: 12   # at least one\nScenes: 2\n");
}

static void test_set_absent_key_appended(void **state)
{
	set_expect(*state, HEAD "Tone: warm\n", "Scenes", json_integer(4),
		   HEAD "Tone: warm\nScenes: 4\n");
	/* No final newline: one is added before the new line. */
	set_expect(*state, HEAD "Tone: warm", "Title", json_string("yes"),
		   HEAD "Tone: warm\nTitle: \"yes\"\n");
}

static void test_set_key_without_value_refused(void **state)
{
	char *dir = *state;
	const char *before = HEAD "Title:\nTone: warm\n";
	tu_write(dir, "inputs.yaml", before);
	struct quire_project *p = open_ok(dir);
	json_t *v = json_string("New");
	assert_int_equal(quire_project_set_input(p, "Title", v), QUIRE_EINVALID);
	assert_contains(quire_error_last(), "'Title:' has no value");
	assert_file(dir, "inputs.yaml", before);
	assert_string_equal(json_string_value(json_object_get(p->inputs, "Title")), "Untitled");
	json_decref(v);
	quire_project_free(p);
}

static void test_set_crlf(void **state)
{
	set_expect(*state, "Premise: A keeper.\r\nTone: warm  # mood\r\nChapters: 3\r\n", "Tone",
		   json_string("eerie"),
		   "Premise: A keeper.\r\nTone: eerie  # mood\r\nChapters: 3\r\n");
}

/* CRLF files keep their line ends, also for replaced blocks and appended keys. */
static void test_set_crlf_block_and_append(void **state)
{
	set_expect(*state, "Premise: |\r\n  a\r\n  b\r\nTone: warm\r\n", "Premise",
		   json_string("x"), "Premise: x\r\nTone: warm\r\n");
	set_expect(*state, "Premise: x\r\nTone: warm\r\n", "Chapters", json_integer(5),
		   "Premise: x\r\nTone: warm\r\nChapters: 5\r\n");
}

static void test_set_values_needing_quotes(void **state)
{
	static const char *const values[] = { "yes",
					      "123",
					      "a: b",
					      "# not a comment",
					      " leading space",
					      "null",
					      "",
					      "trailing ",
					      "x #y",
					      "- item",
					      NULL };
	for (int i = 0; values[i]; i++) {
		json_t *v = json_string(values[i]);
		char *quoted = json_dumps(v, JSON_ENCODE_ANY);
		char after[512];
		snprintf(after, sizeof(after), HEAD "Title: %s\nTone: warm\n", quoted);
		free(quoted);
		set_expect(*state, HEAD "Title: Plain\nTone: warm\n", "Title", v, after);
	}
}

/* Emits value at indent and compares. */
static void emit_expect(json_t *value, int indent, const char *want)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_yaml_emit_scalar(&b, value, indent);
	if (strcmp(b.ptr, want))
		fail_msg("emitted\n%s\nwant\n%s", b.ptr, want);
	quire_buf_release(&b);
	json_decref(value);
}

static void test_emit_scalar(void **state)
{
	(void)state;
	/* Plain when it reads back as the same text. */
	emit_expect(json_string("warm"), 2, "warm");
	emit_expect(json_string("Hello, world. It's (nearly) done!"), 2,
		    "Hello, world. It's (nearly) done!");
	emit_expect(json_integer(42), 2, "42");
	emit_expect(json_integer(-7), 2, "-7");
	emit_expect(json_true(), 2, "true");
	emit_expect(json_false(), 2, "false");
	/* JSON-quoted when plain would change its meaning or lose characters. */
	emit_expect(json_string(""), 2, "\"\"");
	emit_expect(json_string("yes"), 2, "\"yes\"");
	emit_expect(json_string("No"), 2, "\"No\"");
	emit_expect(json_string("null"), 2, "\"null\"");
	emit_expect(json_string("123"), 2, "\"123\"");
	emit_expect(json_string("a: b"), 2, "\"a: b\"");
	emit_expect(json_string("# x"), 2, "\"# x\"");
	emit_expect(json_string("x #y"), 2, "\"x #y\"");
	emit_expect(json_string(" lead"), 2, "\" lead\"");
	emit_expect(json_string("trail "), 2, "\"trail \"");
	emit_expect(json_string("tab\there"), 2, "\"tab\\there\"");
	emit_expect(json_string("say \"hi\""), 2, "\"say \\\"hi\\\"\"");
	/* Literal blocks for multi-line text, indented as asked. */
	emit_expect(json_string("a\nb"), 4, "|-\n    a\n    b");
	emit_expect(json_string("a\n  b\n"), 2, "|\n  a\n    b");
	emit_expect(json_string("a\n\nb"), 2, "|-\n  a\n\n  b");
	/* ... unless a block cannot hold it exactly. */
	emit_expect(json_string("a \nb"), 2, "\"a \\nb\"");
	emit_expect(json_string(" a\nb"), 2, "\" a\\nb\"");
	emit_expect(json_string("a\nb\n\n"), 2, "\"a\\nb\\n\\n\"");
	emit_expect(json_string("a\r\nb"), 2, "\"a\\r\\nb\"");
}

/* What libyaml refuses raw or reads as a line break is escaped, also in multi-line text, and
 * reads back exactly. */
static void test_emit_escapes_what_libyaml_refuses(void **state)
{
	emit_expect(json_string("a\u2028b"), 2, "\"a\\u2028b\"");
	emit_expect(json_string("x\ny\xc2\x85z\u2029"), 2, "\"x\\ny\\u0085z\\u2029\"");
	emit_expect(json_string("del\x7f, c1\xc2\x90, \uFFFE\nok"), 2,
		    "\"del\\u007F, c1\\u0090, \\uFFFE\\nok\"");
	emit_expect(json_string("bell\x07\nline"), 2, "\"bell\\u0007\\nline\"");
	emit_expect(json_string("caf\u00e9\nt\u00eate"), 2, "|-\n  caf\u00e9\n  t\u00eate");
	set_expect(*state, HEAD "Title: Plain\nTone: warm\n", "Title",
		   json_string("one\u2028two\x7f\xc2\x85"),
		   HEAD "Title: \"one\\u2028two\\u007F\\u0085\"\nTone: warm\n");
}

static json_t *parse_export_ok(const struct quire_project *p, const char *text)
{
	json_t *doc = NULL;
	if (quire_edit_parse_export(p, "x.yaml", text, strlen(text), &doc))
		fail_msg("parse: %s", quire_error_last());
	return doc;
}

static void test_export_round_trip(void **state)
{
	char *dir = *state;
	struct quire_project *p = open_ok(dir);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_edit_export(p, NULL, &b);
	assert_true(strncmp(b.ptr, "# quire export of the working project:", 38) == 0);
	json_t *doc = parse_export_ok(p, b.ptr);
	assert_true(json_equal(json_object_get(doc, "inputs"), p->inputs));
	const json_t *prompts = json_object_get(doc, "prompts");
	static const char *const files[] = { "prompts/outline.md", "schemas/outline.json",
					     "prompts/chapter.md", "prompts/scene.md",
					     "prompts/book.md",	   NULL };
	assert_int_equal(json_object_size(prompts), 5);
	for (int i = 0; files[i]; i++) {
		char *want = slurp_in(dir, files[i]);
		const char *got = json_string_value(json_object_get(prompts, files[i]));
		if (!got || strcmp(got, want))
			fail_msg("%s reads back as\n%s\nwant\n%s", files[i], got ? got : "(none)",
				 want);
		free(want);
	}
	json_decref(doc);
	quire_buf_release(&b);

	/* Values that need quotes or blocks survive too. */
	json_t *v = json_string("yes: \"it\" is\n  a # premise \n");
	json_object_set_new(p->inputs, "Premise", v);
	json_object_set_new(p->inputs, "Title", json_string("123"));
	quire_edit_export(p, "rev-0007", &b);
	assert_true(strncmp(b.ptr, "# quire export of rev-0007:", 27) == 0);
	doc = parse_export_ok(p, b.ptr);
	assert_true(json_equal(json_object_get(doc, "inputs"), p->inputs));
	json_decref(doc);
	quire_buf_release(&b);
	quire_project_free(p);
}

static void test_parse_export_partial(void **state)
{
	struct quire_project *p = open_ok(*state);
	json_t *doc = parse_export_ok(p, "inputs:\n  Chapters: 7\n  Tone: wry\n");
	json_t *want =
		json_pack("{s:{s:i,s:s},s:{}}", "inputs", "Chapters", 7, "Tone", "wry", "prompts");
	assert_true(json_equal(doc, want));
	json_decref(doc);
	json_decref(want);
	doc = parse_export_ok(p, "prompts:\n  prompts/book.md: |\n    {{Title}}\n");
	want = json_pack("{s:{},s:{s:s}}", "inputs", "prompts", "prompts/book.md", "{{Title}}\n");
	assert_true(json_equal(doc, want));
	json_decref(doc);
	json_decref(want);
	quire_project_free(p);
}

/* Parses text expecting QUIRE_EINVALID with exactly the message want. */
static void parse_fails(const struct quire_project *p, const char *text, const char *want)
{
	json_t *doc = (json_t *)1;
	assert_int_equal(quire_edit_parse_export(p, "x.yaml", text, strlen(text), &doc),
			 QUIRE_EINVALID);
	assert_null(doc);
	assert_string_equal(quire_error_last(), want);
}

static void test_parse_export_errors(void **state)
{
	struct quire_project *p = open_ok(*state);
	parse_fails(p, "inputs:\n  Tone: warm\n  Colour: red\n",
		    "x.yaml:3:3: unknown input 'Colour'");
	parse_fails(p, "inputs:\n  Chapters: many\n",
		    "x.yaml:2:13: input 'Chapters' must be an integer");
	parse_fails(p, "inputs:\n  Chapters: 0\n",
		    "x.yaml:2:13: input 'Chapters' is 0, below its minimum 1");
	parse_fails(p, "# header\nprompts:\n  prompts/nope.md: hi\n",
		    "x.yaml:3:3: 'prompts/nope.md' is not a prompt or schema the blueprint names, "
		    "nor a file input's file");
	parse_fails(p, "prompts:\n  prompts/book.md: [a]\n",
		    "x.yaml:2:21: the template 'prompts/book.md' must be text");
	parse_fails(p, "inputs: {}\nextra: 1\n",
		    "x.yaml:2:1: unknown key (expected inputs or prompts)");
	parse_fails(p, "- a\n", "x.yaml:1:3: expected a mapping with 'inputs' and 'prompts'");
	quire_project_free(p);
}

/* Rewinds. */

static void run_ok(const char *dir, int nth)
{
	struct quire_project *p = open_ok(dir);
	struct quire_run_opts o = { .jobs = 2 };
	struct quire_run_result res;
	if (quire_run(p, &o, &res))
		fail_msg("run: %s", quire_error_last());
	assert_int_equal(res.failed, 0);
	assert_string_equal(res.rev, tu_rev(dir, nth));
	quire_project_free(p);
}

static json_t *manifest(const char *dir, const char *rev)
{
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	json_t *m = NULL;
	if (quire_manifest_load(qdir, rev, &m))
		fail_msg("load %s: %s", rev, quire_error_last());
	return m;
}

static char *current_rev(const char *dir)
{
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	char *rev = NULL;
	assert_int_equal(quire_manifest_current(qdir, &rev), 0);
	return rev;
}

/* Sorted copy of a JSON array of strings, joined with spaces. */
static char *joined(const json_t *a)
{
	size_t n = json_array_size(a);
	const char **s = calloc(n ? n : 1, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s[i] = json_string_value(json_array_get(a, i));
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(s[j - 1], s[j]) > 0; j--) {
			const char *t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++)
		quire_buf_printf(&b, "%s%s", i ? " " : "", s[i]);
	free(s);
	return quire_buf_detach(&b, NULL);
}

static void assert_joined(const json_t *a, const char *want)
{
	char *got = joined(a);
	if (strcmp(got, want))
		fail_msg("got [%s], want [%s]", got, want);
	free(got);
}

/* The state every rewind test starts from: rev-0001 as shipped, rev-0002 after changing Tone
 * and the scene prompt. The texts of rev-0001's files go into *inputs and *scene. */
static void two_revisions(const char *dir, char **inputs, char **scene)
{
	run_ok(dir, 1);
	*inputs = slurp_in(dir, "inputs.yaml");
	*scene = slurp_in(dir, "prompts/scene.md");
	tu_edit_inputs(dir, "Tone: warm", "Tone: eerie");
	FILE *f = fopen("prompts/scene.md", "ab");
	assert_non_null(f);
	fputs("Keep it short.\n", f);
	fclose(f);
	run_ok(dir, 2);
}

static void test_rewind_impact_and_rewind(void **state)
{
	char *dir = *state, *inputs, *scene;
	two_revisions(dir, &inputs, &scene);
	char *book1 = NULL;
	{
		json_t *m1 = manifest(dir, tu_rev(dir, 1));
		char qdir[PATH_MAX];
		snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
		struct quire_buf b = QUIRE_BUF_INIT;
		const char *d = json_string_value(json_object_get(
			json_object_get(json_object_get(m1, "artefacts"), "Book"), "digest"));
		assert_non_null(d);
		assert_int_equal(quire_blob_read(qdir, d, &b, 0, 1), 0);
		book1 = quire_buf_detach(&b, NULL);
		json_decref(m1);
	}

	json_t *imp = NULL;
	if (quire_rewind_impact(dir, tu_rev(dir, 1), &imp))
		fail_msg("impact: %s", quire_error_last());
	assert_string_equal(json_string_value(json_object_get(imp, "from")), tu_rev(dir, 2));
	assert_string_equal(json_string_value(json_object_get(imp, "to")), tu_rev(dir, 1));
	assert_joined(json_object_get(imp, "inputs"), "Tone");
	assert_joined(json_object_get(imp, "files"), "inputs.yaml prompts/scene.md");
	const json_t *arts = json_object_get(imp, "artefacts");
	/* Tone reaches every producer but the Book, which changes through the scenes. */
	assert_joined(json_object_get(arts, "changed"),
		      "Book Chapter[0] Chapter[1] Chapter[2] Outline Scene[0][0] Scene[0][1] "
		      "Scene[1][0] Scene[1][1] Scene[2][0] Scene[2][1]");
	assert_joined(json_object_get(arts, "added"), "");
	assert_joined(json_object_get(arts, "removed"), "");
	json_decref(imp);

	char rev[QUIRE_REV_MAX] = "x";
	if (quire_rewind(dir, tu_rev(dir, 1), "quire rewind 1", rev, sizeof(rev), NULL))
		fail_msg("rewind: %s", quire_error_last());
	assert_string_equal(rev, tu_rev(dir, 3));
	char *cur = current_rev(dir);
	assert_string_equal(cur, tu_rev(dir, 3));
	free(cur);
	assert_file(dir, "inputs.yaml", inputs);
	assert_file(dir, "prompts/scene.md", scene);

	json_t *m1 = manifest(dir, tu_rev(dir, 1)), *m3 = manifest(dir, tu_rev(dir, 3));
	const json_t *a1 = json_object_get(m1, "artefacts"), *a3 = json_object_get(m3, "artefacts");
	assert_int_equal(json_object_size(a1), 11);
	assert_int_equal(json_object_size(a3), 11);
	const char *id;
	json_t *e;
	json_object_foreach((json_t *)a1, id, e) {
		const json_t *e3 = json_object_get(a3, id);
		if (!e3)
			fail_msg("rev-0003 lacks %s", id);
		assert_string_equal(json_string_value(json_object_get(e3, "digest")),
				    json_string_value(json_object_get(e, "digest")));
		assert_string_equal(json_string_value(json_object_get(e3, "status")),
				    json_string_value(json_object_get(e, "status")));
	}
	assert_true(json_equal(json_object_get(m3, "files"), json_object_get(m1, "files")));
	json_t *i1 = json_object_get(m1, "inputs"), *i3 = json_object_get(m3, "inputs");
	json_object_foreach(i1, id, e)
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(i3, id), "digest")),
			json_string_value(json_object_get(e, "digest")));
	json_decref(m1);
	json_decref(m3);
	/* out/ shows rev-0001's book again. */
	assert_file(dir, "out/Book.md", book1);
	free(book1);

	/* Nothing is left to rewind, and a run has nothing to do. */
	assert_int_equal(quire_rewind_impact(dir, tu_rev(dir, 1), &imp), 0);
	assert_string_equal(json_string_value(json_object_get(imp, "from")), tu_rev(dir, 3));
	assert_joined(json_object_get(imp, "inputs"), "");
	assert_joined(json_object_get(imp, "files"), "");
	assert_joined(json_object_get(json_object_get(imp, "artefacts"), "changed"), "");
	json_decref(imp);
	run_ok(dir, 0); /* nothing to do: no revision */
	free(inputs);
	free(scene);
}

static void test_rewind_unknown_revision(void **state)
{
	char *dir = *state, *inputs, *scene;
	two_revisions(dir, &inputs, &scene);
	char *now_inputs = slurp_in(dir, "inputs.yaml"),
	     *now_scene = slurp_in(dir, "prompts/scene.md");
	json_t *imp = (json_t *)1;
	assert_int_equal(quire_rewind_impact(dir, "rev-0042", &imp), QUIRE_ENOTFOUND);
	assert_null(imp);
	char rev[QUIRE_REV_MAX] = "x";
	assert_int_equal(
		quire_rewind(dir, "rev-0042", "quire rewind rev-0042", rev, sizeof(rev), NULL),
		QUIRE_ENOTFOUND);
	assert_contains(quire_error_last(), "rev-0042");
	assert_file(dir, "inputs.yaml", now_inputs);
	assert_file(dir, "prompts/scene.md", now_scene);
	assert_string_equal(tu_rev(dir, 3), "");
	char *cur = current_rev(dir);
	assert_string_equal(cur, tu_rev(dir, 2));
	free(cur);
	free(now_inputs);
	free(now_scene);
	free(inputs);
	free(scene);
}

static void test_rewind_missing_blob_changes_nothing(void **state)
{
	char *dir = *state, *inputs, *scene;
	two_revisions(dir, &inputs, &scene);
	char rev[QUIRE_REV_MAX];
	/* A first rewind (rev-0003) and a return to rev-0002 (rev-0004)... */
	assert_int_equal(
		quire_rewind(dir, tu_rev(dir, 1), "quire rewind 1", rev, sizeof(rev), NULL), 0);
	assert_string_equal(rev, tu_rev(dir, 3));
	assert_int_equal(
		quire_rewind(dir, tu_rev(dir, 2), "quire rewind 2", rev, sizeof(rev), NULL), 0);
	assert_string_equal(rev, tu_rev(dir, 4));
	char *now_inputs = slurp_in(dir, "inputs.yaml"),
	     *now_scene = slurp_in(dir, "prompts/scene.md");
	assert_string_not_equal(now_inputs, inputs);

	/* ...then the blob of rev-0001's inputs.yaml goes missing. */
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	json_t *m1 = manifest(dir, tu_rev(dir, 1));
	const char *d =
		json_string_value(json_object_get(json_object_get(m1, "files"), "inputs.yaml"));
	assert_non_null(d);
	assert_int_equal(quire_blob_exists(qdir, d), 1);
	assert_int_equal(quire_blob_remove(qdir, d), 0);
	json_decref(m1);

	rev[0] = 'x';
	assert_int_equal(
		quire_rewind(dir, tu_rev(dir, 1), "quire rewind 1", rev, sizeof(rev), NULL),
		QUIRE_ENOTFOUND);
	assert_contains(quire_error_last(), "'inputs.yaml'");
	assert_contains(quire_error_last(),
			"neither in the store nor in the project's git history");
	assert_string_equal(tu_rev(dir, 5), "");
	char *cur = current_rev(dir);
	assert_string_equal(cur, tu_rev(dir, 4));
	free(cur);
	assert_file(dir, "inputs.yaml", now_inputs);
	assert_file(dir, "prompts/scene.md", now_scene);
	free(now_inputs);
	free(now_scene);
	free(inputs);
	free(scene);
}

static void test_rewind_missing_output_changes_nothing(void **state)
{
	char *dir = *state, *inputs, *scene;
	two_revisions(dir, &inputs, &scene);
	char *now_inputs = slurp_in(dir, "inputs.yaml");
	char qdir[PATH_MAX];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	json_t *m1 = manifest(dir, tu_rev(dir, 1));
	const char *d = json_string_value(json_object_get(
		json_object_get(json_object_get(m1, "artefacts"), "Outline"), "digest"));
	assert_non_null(d);
	assert_int_equal(quire_blob_exists(qdir, d), 1);
	assert_int_equal(quire_blob_remove(qdir, d), 0);
	json_decref(m1);

	char rev[QUIRE_REV_MAX];
	assert_int_equal(
		quire_rewind(dir, tu_rev(dir, 1), "quire rewind 1", rev, sizeof(rev), NULL),
		QUIRE_ENOTFOUND);
	assert_contains(quire_error_last(), "Outline");
	assert_string_equal(tu_rev(dir, 3), "");
	assert_file(dir, "inputs.yaml", now_inputs);
	free(now_inputs);
	free(inputs);
	free(scene);
}

int main(void)
{
	assert_int_equal(quire_provider_register(&quire_provider_mock), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_plain, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_keeps_comment, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_double_quoted, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_single_quoted, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_folded_block_to_one_line, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_literal_block_multiline, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_other_scalar_forms, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_block_keeps_header_comment, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_block_keeps_indented_comment_after, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_int, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_absent_key_appended, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_key_without_value_refused, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_crlf, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_crlf_block_and_append, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_set_values_needing_quotes, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test(test_emit_scalar),
		cmocka_unit_test_setup_teardown(test_emit_escapes_what_libyaml_refuses, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_export_round_trip, setup, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_parse_export_partial, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_parse_export_errors, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rewind_impact_and_rewind, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rewind_unknown_revision, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rewind_missing_blob_changes_nothing, setup,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rewind_missing_output_changes_nothing, setup,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
