/* Prompt (and schema) templates: {{Premise}}, {{i}}, {{i+1}}, {{Chapter[i]}},
 * {{Outline.chapters[i].summary}}, {{Scene[i][*] | join ", "}}, {{Chapter[i-1]}} (nothing for
 * the first), {{Chapter[<i]}} (every earlier one), {{feedback}}, {{draft}}, and
 * {{#if X}} ... {{else}} ... {{/if}}. Deterministic. */
#ifndef QUIRE_TEMPLATE_H
#define QUIRE_TEMPLATE_H

#include <stddef.h>

#include <jansson.h>

struct quire_blueprint;
struct quire_buf;
struct quire_producer;
struct quire_template;

/* Parses a template; `name` is used in "name:line:col:" messages. QUIRE_EINVALID. */
int quire_template_parse(struct quire_template **out, const char *text, size_t len,
			 const char *name);

void quire_template_free(struct quire_template *t);

/* Checks every reference against producer p: loop variables, and inputs and producers that p
 * lists in `uses`. QUIRE_EINVALID with the position and a did-you-mean. */
int quire_template_check(const struct quire_template *t, const struct quire_blueprint *bp,
			 const struct quire_producer *p);

/* Whether t names a whole fan-out of producer (an index '*', as in {{Scene[i][*]}}): a
 * collector's render then reads many of its outputs. */
int quire_template_reads_all(const struct quire_template *t, const char *producer);

/* Whether every output t reads is shown whole and as it is: each reference to a producer is
 * a whole text (or file) output, never a field, a "| section" or a condition. Its rendering
 * is then its text with each output's bytes in place (see core/run_splice.c). */
int quire_template_shows_verbatim(const struct quire_template *t, const struct quire_blueprint *bp);

/* The indexes of list input `name` that t reads for the instance at idx, appended to out
 * (integers; an index past the end too): 0, or 1 when t reads the list whole ({{Notes}},
 * [*], [<p]), so that every item counts. */
int quire_template_list_indexes(const struct quire_template *t, const struct quire_blueprint *bp,
				const struct quire_producer *p, const char *name,
				const long long *idx, const json_t *inputs, json_t *out);

/* The JSON fields t reads from the outputs of producer `producer` for the instance at idx:
 * out gets each upstream instance's id mapped to the paths read from it (".chapters[1].title",
 * in template order, repeats kept). 0, or 1 when t reads one of them whole ({{Outline}}) or
 * by an index that cannot be known before rendering, so that the whole output counts. */
int quire_template_field_paths(const struct quire_template *t, const struct quire_blueprint *bp,
			       const struct quire_producer *p, const char *producer,
			       const long long *idx, const json_t *inputs, json_t *out);

/* Whether the template reads name anywhere ({{feedback}}, {{Premise}}, {{Chapter[i]}}). */
int quire_template_reads(const struct quire_template *t, const char *name);

/* What rendering needs to know about one instance. */
struct quire_render_ctx {
	const struct quire_blueprint *bp;
	const struct quire_producer *p;
	const long long *idx; /* the instance's index per dimension */
	const json_t *inputs; /* name -> typed value */
	const char *feedback; /* "" when none */
	const char *draft;    /* the output a feedback round revises, NULL when none */
	/* Looks up an artefact's value by id: a JSON string for text, the parsed document for json.
	 * Returns a borrowed value or NULL with an error set. */
	const json_t *(*artefact)(void *ud, const char *id);
	void *ud;
};

/* Renders t into out (appending). QUIRE_EINVALID with a positioned message when a path does
 * not resolve (index out of range, missing field). */
int quire_template_render(const struct quire_template *t, const struct quire_render_ctx *c,
			  struct quire_buf *out);

#endif
