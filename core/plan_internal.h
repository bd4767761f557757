/* Internal: what the planner's files share (plan.c, plan_record.c, plan_targets.c). */
#ifndef QUIRE_PLAN_INTERNAL_H
#define QUIRE_PLAN_INTERNAL_H

#include <stddef.h>

#include "quire/hash.h"

struct quire_plan;
struct quire_project;

/* Selects the targets (ids, id patterns, out/ files; none: everything) and what they depend
 * on. QUIRE_EINVALID naming a target that matches nothing (with the nearest producer). */
int quire__plan_select_targets(struct quire_plan *plan, const struct quire_project *p,
			       const char *const *targets, size_t ntargets);

/* One entry of a record's "inputs": an input's name (or a list item's, "Notes[3]") and the
 * digest of its value. */
struct quire__ipair {
	const char *key;
	char *owned; /* key, when it is a list item's name made here */
	struct quire_digest d;
};

struct quire_node;

/* The inputs node n's record names, sorted by key (see plan_record.c); the caller frees them
 * with quire__plan_free_ipairs. */
struct quire__ipair *quire__plan_input_pairs(const struct quire_project *p,
					     const struct quire_node *n, size_t *count);
void quire__plan_free_ipairs(struct quire__ipair *v, size_t n);

#endif
