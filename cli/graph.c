/* quire graph: the instance graph of a plan (or the blueprint's) as DOT or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "planview.h"
#include "quire/graph.h"
#include "quire/out.h"
#include "quire/plan.h"

static const char usage[] =
	"usage: quire graph [TARGET...] [--blueprint] [--json]\n\n"
	"Prints the graph of what the project makes as Graphviz DOT ('quire graph | dot -Tsvg\n"
	"-o graph.svg'): every instance (or only the targets and what they depend on), an edge\n"
	"from each artefact to what uses it, and its state as a colour: green up to date,\n"
	"orange would run, red failed last time, blue waits for a review upstream, purple awaits\n"
	"review, grey a hand edit. Writes nothing.\n\n"
	"  TARGET       an id, id pattern ('Scene[1][*]') or out/ file\n"
	"  --blueprint  the producers and inputs instead of the instances\n"
	"  --json       {graph, nodes, edges} instead of DOT\n";

/* A DOT string: quoted, with '"' and '\' escaped (ids never hold a newline). */
static void dot_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static const char *fill(const json_t *n)
{
	const char *state = json_string_value(json_object_get(n, "state"));
	const char *status = json_string_value(json_object_get(n, "status"));
	const char *kind = json_string_value(json_object_get(n, "kind"));
	if (kind)
		return !strcmp(kind, "input") ? "#fff7cc" : "#e8eefc";
	if (!strcmp(state, "dirty"))
		return status && (!strcmp(status, "failed") || !strcmp(status, "blocked") ||
				  !strcmp(status, "stale"))
			       ? "#f4b6b6"
			       : "#ffd89b";
	if (!strcmp(state, "waiting"))
		return "#cfe3ff";
	if (!strcmp(state, "pending-review"))
		return "#e3d3ff";
	if (!strcmp(state, "user-edited"))
		return "#dddddd";
	return "#cdebcd";
}

static void print_dot(const json_t *g)
{
	printf("digraph quire {\n\trankdir=LR;\n"
	       "\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
	size_t k;
	json_t *n;
	json_array_foreach(json_object_get(g, "nodes"), k, n) {
		putchar('\t');
		dot_str(json_string_value(json_object_get(n, "id")));
		const char *kind = json_string_value(json_object_get(n, "kind"));
		const char *state = json_string_value(json_object_get(n, "state"));
		const char *reason = json_string_value(json_object_get(n, "reason"));
		printf(" [fillcolor=\"%s\"%s, tooltip=", fill(n),
		       kind && !strcmp(kind, "input") ? ", shape=ellipse" : "");
		dot_str(reason ? reason : state ? state : kind);
		printf("];\n");
	}
	json_array_foreach(json_object_get(g, "edges"), k, n) {
		putchar('\t');
		dot_str(json_string_value(json_array_get(n, 0)));
		printf(" -> ");
		dot_str(json_string_value(json_array_get(n, 1)));
		/* A use of earlier instances: dashed, labelled with its index ("i-1"). */
		const char *ref = json_string_value(json_array_get(n, 2));
		const char *ix = ref ? strchr(ref, '[') : NULL;
		if (ix) {
			printf(" [style=dashed, label=");
			dot_str(ix);
			printf("]");
		}
		printf(";\n");
	}
	printf("}\n");
}

static int cmd_graph(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "blueprint", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int blueprint = 0, json = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			blueprint = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return bad_option("graph", opts, argv[optind - 1]);
		}
	}
	if (blueprint && optind < argc)
		return usage_error("graph", "--blueprint takes no targets");
	json_t *g;
	struct quire_plan *plan = NULL;
	if (blueprint) {
		g = quire_graph_blueprint(env->p);
	} else {
		int err = plan_readonly(env->p, argv + optind, (size_t)(argc - optind),
					PLAN_NO_CACHE, &plan, NULL, NULL);
		if (err)
			return die_core(err);
		g = quire_graph_instances(env->p, plan);
	}
	if (json)
		print_json_line(g);
	else
		print_dot(g);
	json_decref(g);
	quire_plan_free(plan);
	return 0;
}

const struct cmd cmd_graph_desc = {
	.name = "graph",
	.summary = "print the graph of artefacts as DOT (Graphviz) or JSON",
	.usage = usage,
	.flags = CMD_PROJECT,
	.exec = cmd_graph,
};
