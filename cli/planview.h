/* The plan's views shared by plan, run --dry-run and status (cli/plan.c). */
#ifndef QUIRE_CLI_PLANVIEW_H
#define QUIRE_CLI_PLANVIEW_H

#include <stddef.h>

#include <jansson.h>

struct quire_out_conflict;
struct quire_plan;
struct quire_project;

/* What plan_readonly asks the caches: nothing, the local action cache, or that and the shared
 * cache (quire_plan_mark_cached). */
enum plan_caches { PLAN_NO_CACHE, PLAN_LOCAL_CACHE, PLAN_REMOTE_CACHE };

/* Plans the project read-only; conf (may be NULL) gets the files in out/ a run would refuse
 * to overwrite (quire_out_check). A core error code. */
int plan_readonly(struct quire_project *p, char **targets, size_t ntargets, enum plan_caches caches,
		  struct quire_plan **out, struct quire_out_conflict **conf, size_t *nconf);

/* Prints the plan as text: what runs, waits and is removed, and why. */
void plan_print(const struct quire_plan *plan, int explain, int removals);

/* The revision plan was made against as shown (12 characters), "the merge of A and B, made by
 * the next run", or none when there is none. */
void plan_current(const struct quire_plan *plan, const char *none, char *out, size_t len);

/* Prints the cost estimate (quire_run_estimate_json) when some role with work has a price. */
void plan_print_estimate(const json_t *est);

/* Prints the files in out/ a run would refuse to overwrite, and what to do about them. */
void plan_print_conflicts(const struct quire_out_conflict *c, size_t n);

/* The same as JSON: [{file, id, gone}]. New reference. */
json_t *plan_conflicts_json(const struct quire_out_conflict *c, size_t n);

#endif
