/* The graph a plan describes, as data: `quire graph` prints it as DOT or JSON, `inspect
 * --used-by` lists what depends on an artefact. */
#ifndef QUIRE_GRAPH_H
#define QUIRE_GRAPH_H

#include <stddef.h>

#include <jansson.h>

struct quire_node;
struct quire_plan;
struct quire_project;

/* A node's state as the graph colours it: "dirty" (would run), "waiting" (for a review
 * upstream), "user-edited" (a pinned hand edit), "pending-review", or "clean". */
const char *quire_node_state(const struct quire_node *n);

/* The plan's selected instances: {"graph": "instances", "nodes": [{id, producer, state,
 * status?, reason?}], "edges": [[from, to]]}, nodes in dependency order. */
json_t *quire_graph_instances(const struct quire_project *p, const struct quire_plan *plan);

/* The blueprint: {"graph": "blueprint", "nodes": [{id, kind: input|producer, role?}],
 * "edges": [[from, to]]}. */
json_t *quire_graph_blueprint(const struct quire_project *p);

/* What depends on node i: {"id", "used_by": [direct dependants], "downstream": [everything
 * downstream, in dependency order]}. */
json_t *quire_graph_used_by(const struct quire_plan *plan, size_t i);

#endif
