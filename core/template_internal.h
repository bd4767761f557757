/* Internal: a parsed template, shared by the parser (template_parse.c) and the checks and
 * rendering (template.c). */
#ifndef QUIRE_TEMPLATE_INTERNAL_H
#define QUIRE_TEMPLATE_INTERNAL_H

#include <stddef.h>

/* {{#if X}} ... {{else}} ... {{/if}} are SEG_IF (its condition parsed as an expression),
 * SEG_ELSE and SEG_END, each with the segment to go on from when it does not hold. */
enum { SEG_LIT, SEG_EXPR, SEG_IF, SEG_ELSE, SEG_END };
enum { IX_LIT, IX_VAR, IX_ALL, IX_BEFORE };

struct tix {
	int kind;
	char *var;
	long long n; /* literal, or the +N offset of a variable */
};

struct tstep {
	char *field; /* NULL for the head */
	struct tix *ix;
	int nix;
};

struct seg {
	int kind;
	char *text; /* SEG_LIT */
	size_t len;
	char *head; /* SEG_EXPR */
	struct tix *hix;
	int nhix;
	struct tstep *steps;
	int nsteps;
	char *join;    /* separator for lists */
	char *section; /* | section "Heading": the part of a Markdown text under it */
	size_t jump;   /* SEG_IF: its {{else}} or {{/if}}; SEG_ELSE: its {{/if}} */
	int line, col;
};

struct quire_template {
	char *name;
	struct seg *segs;
	size_t nsegs;
};

#endif
