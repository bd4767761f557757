/* Internal: what the planner's files share (plan.c, plan_record.c, plan_targets.c). */
#ifndef QUIRE_PLAN_INTERNAL_H
#define QUIRE_PLAN_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "quire/hash.h"
#include "quire/reason.h"

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

struct quire_blob_set;

/* Adds a reason (from the name table: quire/reason.h) and marks the node dirty. */
void quire__plan_add_reason(struct quire_node *n, enum quire_reason_kind k, const char *subject);
void quire__plan_add_regenerate(struct quire_node *n);

/* Explains why node i differs from its manifest entry e (full; NULL when there is none). */
void quire__plan_explain(struct quire_plan *plan, const struct quire_project *p, size_t i,
			 const json_t *e, struct quire_blob_set *blobs);

/* Field-level fingerprints (plan_fields.c). A node reads some of its upstream outputs by
 * their JSON fields: quire__plan_fl sets fl[k] for each such dep k and returns the paths read
 * (an object: upstream id -> [".chapters[1].title", ...]), or NULL when it reads every
 * upstream whole. */
json_t *quire__plan_fl(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		       unsigned char *fl);

/* One entry of a record's "fields": "Outline.chapters[1].title" and the digest of its value
 * (absent: the output has no such field). */
struct quire__fpair {
	char *key;
	int absent;
	struct quire_digest d;
};

/* The fields node i reads, sorted by key, from its deps' outputs, or (subst[k] set) from the
 * output with that digest instead. Reads the outputs (verified); an error when one cannot be
 * read or parsed. */
int quire__plan_field_pairs(const struct quire_plan *plan, const struct quire_project *p, size_t i,
			    const json_t *paths, const unsigned char *fl, const char *const *subst,
			    struct quire__fpair **out, size_t *count);
void quire__plan_free_fpairs(struct quire__fpair *v, size_t n);

/* The output digests a recorded dependency record ("deps", parsed but maybe for its upstream
 * list, kept as text) names for node i's deps with fl[k] set (NULL when one is not named);
 * freed with quire__plan_free_digests(v, ndeps). */
const char **quire__plan_recorded_digests(const struct quire_plan *plan, size_t i,
					  const json_t *deps, const unsigned char *fl);
void quire__plan_free_digests(const char **v, size_t n);

/* How node i's record is written: with fl, the deps it marks are named by their fields (a
 * version 2 record); with subst, dep k is named by digest subst[k] (when set) instead of its
 * output's. */
struct quire__recopt {
	const unsigned char *fl;
	const struct quire__fpair *fields;
	size_t nfields;
	const char *const *subst;
};

/* Node i's record and fingerprint as o says (deps_out: the record's "deps" as text). */
int quire__plan_record(const struct quire_plan *plan, const struct quire_project *p, size_t i,
		       const struct quire__recopt *o, struct quire_digest *fp, char **deps_out);

/* Parsed upstream outputs a plan keeps while it reads their fields (few: instances that read
 * one outline follow each other). */
#define QUIRE__FVALS 8
struct quire__fvals {
	char digest[QUIRE__FVALS][QUIRE_DIGEST_STRLEN];
	json_t *v[QUIRE__FVALS];
	size_t next;
};
struct quire__fvals *quire__plan_fvals(const struct quire_plan *plan);

/* Whether the store has blob d for this plan: in blobs, or (run --dry-run) known to be in
 * out/ as the run will take it (p->in_out). */
int quire__plan_has_blob(struct quire_blob_set *blobs, const struct quire_project *p,
			 const char *d);

#endif
