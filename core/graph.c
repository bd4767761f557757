/* The graph a plan describes, as data for `quire graph` (DOT or JSON) and `inspect --used-by`:
 * every selected instance with its status, and the edges from what it uses. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/graph.h"
#include "quire/manifest.h"
#include "quire/plan.h"
#include "quire/project.h"

const char *quire_node_state(const struct quire_node *n)
{
	if (n->waiting)
		return "waiting";
	if (n->pinned)
		return "user-edited";
	if (n->dirty)
		return "dirty";
	if (n->pending_review)
		return "pending-review";
	return "clean";
}

json_t *quire_graph_instances(const struct quire_project *p, const struct quire_plan *plan)
{
	json_t *nodes = json_array(), *edges = json_array();
	for (size_t i = 0; i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		if (!n->selected)
			continue;
		json_t *o =
			json_pack("{s:s,s:s,s:s}", "id", n->id, "producer",
				  p->bp->producers[n->producer].name, "state", quire_node_state(n));
		if (n->dirty && n->nreasons)
			json_object_set_new(o, "reason", json_string(n->reasons[0]));
		if (n->entry && n->entry->status)
			json_object_set_new(o, "status", json_string(n->entry->status));
		json_array_append_new(nodes, o);
		for (size_t k = 0; k < n->ndeps; k++)
			json_array_append_new(
				edges, json_pack("[s,s]", plan->nodes[n->deps[k]].id, n->id));
	}
	return json_pack("{s:s,s:o,s:o}", "graph", "instances", "nodes", nodes, "edges", edges);
}

json_t *quire_graph_blueprint(const struct quire_project *p)
{
	const struct quire_blueprint *bp = p->bp;
	json_t *nodes = json_array(), *edges = json_array();
	for (size_t k = 0; k < bp->ninputs; k++)
		json_array_append_new(
			nodes, json_pack("{s:s,s:s}", "id", bp->inputs[k].name, "kind", "input"));
	for (size_t k = 0; k < bp->nproducers; k++) {
		const struct quire_producer *pr = &bp->producers[k];
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:s}", "id", pr->name, "kind",
						       "producer", "role", pr->role));
		for (size_t u = 0; u < pr->nuses; u++) {
			const struct quire_use *use = &pr->uses[u];
			const char *from = use->is_input ? bp->inputs[use->target].name
							 : bp->producers[use->target].name;
			/* A producer that uses another twice (two indices) is one edge. */
			int seen = 0;
			for (size_t v = 0; v < u; v++)
				seen |= pr->uses[v].is_input == use->is_input &&
					pr->uses[v].target == use->target;
			/* A use of earlier instances (StorySoFar[i-1]) names itself: the loop it
			 * draws among producers is none among instances. */
			if (!seen && use->earlier)
				json_array_append_new(
					edges, json_pack("[s,s,s]", from, pr->name, use->text));
			else if (!seen)
				json_array_append_new(edges, json_pack("[s,s]", from, pr->name));
		}
	}
	return json_pack("{s:s,s:o,s:o}", "graph", "blueprint", "nodes", nodes, "edges", edges);
}

json_t *quire_graph_used_by(const struct quire_plan *plan, size_t i)
{
	json_t *direct = json_array(), *all = json_array();
	unsigned char *seen = calloc(plan->n ? plan->n : 1, 1);
	size_t *stack = malloc((plan->n + 1) * sizeof(*stack)), top = 0;
	if (!seen || !stack)
		abort();
	for (size_t k = 0; k < plan->nodes[i].nrdeps; k++)
		json_array_append_new(direct, json_string(plan->nodes[plan->nodes[i].rdeps[k]].id));
	stack[top++] = i;
	seen[i] = 1;
	while (top) {
		const struct quire_node *n = &plan->nodes[stack[--top]];
		for (size_t k = 0; k < n->nrdeps; k++)
			if (!seen[n->rdeps[k]]) {
				seen[n->rdeps[k]] = 1;
				stack[top++] = n->rdeps[k];
			}
	}
	/* In plan order (dependency order), not the order the walk found them. */
	for (size_t k = 0; k < plan->n; k++)
		if (seen[k] && k != i)
			json_array_append_new(all, json_string(plan->nodes[k].id));
	free(seen);
	free(stack);
	return json_pack("{s:s,s:o,s:o}", "id", plan->nodes[i].id, "used_by", direct, "downstream",
			 all);
}
