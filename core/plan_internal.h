/* Internal: what the planner's files share (plan.c, plan_targets.c). */
#ifndef QUIRE_PLAN_INTERNAL_H
#define QUIRE_PLAN_INTERNAL_H

#include <stddef.h>

struct quire_plan;
struct quire_project;

/* Selects the targets (ids, id patterns, out/ files; none: everything) and what they depend
 * on. QUIRE_EINVALID naming a target that matches nothing (with the nearest producer). */
int quire__plan_select_targets(struct quire_plan *plan, const struct quire_project *p,
			       const char *const *targets, size_t ntargets);

#endif
