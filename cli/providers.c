/* quire providers: each role's binding, where its provider comes from, and whether it is
 * ready (secret present, server reachable with --check). Never prints a secret. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "quire-provider.h"
#include "quire/blueprint.h"
#include "quire/error.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/secret.h"

static const char usage[] =
	"usage: quire providers [--check] [--json]\n"
	"       quire providers --available [--json]\n\n"
	"Lists every role the blueprint uses with its binding from quire.yaml: provider, model,\n"
	"where the provider was found (built-in, a plugin module, or an external executable on\n"
	"PATH) and whether its secret is present (from the environment or the secrets file).\n"
	"Secrets are never printed.\n\n"
	"  --check   also start each provider and ask it whether it is ready (for HTTP providers:\n"
	"            the server answers and accepts the key)\n"
	"  --available  list every provider a role can bind instead: the built-in ones, plugin\n"
	"            modules (quire-provider-NAME.so on QUIRE_PLUGIN_PATH and in the install's\n"
	"            plugin directory) and programs (quire-provider-NAME on PATH); works\n"
	"            outside a project\n"
	"  --json    print a JSON array\n\n"
	"Exit 1 when any role is not ready.\n";

/* providers --available: every provider a role could bind, wherever quire would find it. */
static int list_available(int json)
{
	json_t *a = quire_provider_available();
	if (json) {
		print_json_line(a);
	} else {
		size_t k;
		json_t *v;
		json_array_foreach(a, k, v) {
			const char *path = json_string_value(json_object_get(v, "path"));
			printf("%-12s %-9s%s%s\n", json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "kind")), path ? " " : "",
			       path ? path : "");
		}
	}
	json_decref(a);
	return 0;
}

static int cmd_providers(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "available", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int check = 0, json = 0, available = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			check = 1;
		else if (c == 'j')
			json = 1;
		else if (c == 'a')
			available = 1;
		else
			return bad_option("providers", opts, argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error("providers", "unexpected argument '%s'", argv[optind]);
	if (available && check)
		return usage_error("providers",
				   "--available lists providers; --check checks roles");
	if (available)
		return list_available(json);
	struct quire_project *p = env->p;
	if (!p)
		return die_core(quire_error_set(
			QUIRE_EINVALID, "not in a quire project (no quire.yaml here or in any "
					"parent directory); 'quire providers --available' lists "
					"the providers there are"));
	json_t *rows = json_array();
	int not_ready = 0;
	size_t nroles;
	const char **roles = quire_blueprint_roles(p->bp, &nroles);
	for (size_t i = 0; i < nroles; i++) {
		const struct quire_binding *b = quire_project_binding(p, roles[i]);
		const struct quire_provider *vt = NULL;
		char *program = NULL, *where = NULL, *secret = NULL, *source = NULL;
		json_t *row = json_pack("{s:s,s:s,s:o}", "role", b->role, "provider", b->provider,
					"model", b->model ? json_string(b->model) : json_null());
		const char *status = "ready";
		char detail[1024] = "";
		if (quire_provider_resolve(b->provider, &vt, &program, &where)) {
			status = "missing";
			snprintf(detail, sizeof(detail), "%s", quire_error_last());
		} else {
			json_object_set_new(row, "found", json_string(where));
			const char *sn = quire_binding_secret_name(b, vt);
			if (sn) {
				json_object_set_new(row, "secret_name", json_string(sn));
				if (quire_secret_lookup(sn, &secret, &source)) {
					status = "not ready";
					snprintf(detail, sizeof(detail), "%s", quire_error_last());
				} else if (secret) {
					json_object_set_new(row, "secret", json_string("present"));
					json_object_set_new(row, "secret_source",
							    json_string(source));
				} else {
					json_object_set_new(row, "secret", json_string("missing"));
					if (vt->flags & QUIRE_PROVIDER_NEEDS_SECRET) {
						status = "not ready";
						snprintf(detail, sizeof(detail),
							 "secret %s is not set", sn);
					}
				}
			}
			if (check && !strcmp(status, "ready")) {
				char *params = json_dumps(b->params, JSON_COMPACT | JSON_SORT_KEYS);
				struct quire_provider_config cfg = {
					QUIRE_PROVIDER_ABI,
					b->provider,
					b->role,
					b->model,
					params,
					secret,
					p->root,
					program,
				};
				void *ctx = NULL;
				char msg[1024] = "";
				if (vt->init && vt->init(&ctx, &cfg, msg, sizeof(msg))) {
					status = "not ready";
					snprintf(detail, sizeof(detail), "%s", msg);
				} else if (vt->check && vt->check(ctx, msg, sizeof(msg))) {
					status = "unreachable";
					snprintf(detail, sizeof(detail), "%s", msg);
				} else {
					json_object_set_new(row, "checked", json_true());
				}
				if (ctx && vt->fini)
					vt->fini(ctx);
				free(params);
			}
		}
		if (secret) {
			memset(secret, 0, strlen(secret));
			free(secret);
		}
		quire_secret_redact(detail, sizeof(detail));
		json_object_set_new(row, "status", json_string(status));
		if (detail[0])
			json_object_set_new(row, "detail", json_string(detail));
		not_ready |= strcmp(status, "ready") != 0;
		json_array_append_new(rows, row);
		free(program);
		free(where);
		free(source);
	}
	free(roles);
	if (json) {
		print_json_line(rows);
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(rows, i, r) {
			const char *model = json_string_value(json_object_get(r, "model"));
			printf("%-10s %-10s %-14s %-10s",
			       json_string_value(json_object_get(r, "role")),
			       json_string_value(json_object_get(r, "provider")),
			       model ? model : "-",
			       json_string_value(json_object_get(r, "status")));
			const char *found = json_string_value(json_object_get(r, "found"));
			if (found)
				printf("  %s", found);
			const char *sn = json_string_value(json_object_get(r, "secret_name"));
			const char *sv = json_string_value(json_object_get(r, "secret"));
			if (sn)
				printf("  secret %s: %s", sn, sv ? sv : "?");
			const char *d = json_string_value(json_object_get(r, "detail"));
			if (d)
				printf("\n           %s", d);
			printf("\n");
		}
	}
	json_decref(rows);
	return not_ready ? EXIT_DIRTY : 0;
}

const struct cmd cmd_providers_desc = {
	.name = "providers",
	.summary = "list role bindings and whether each is ready",
	.usage = usage,
	.flags = CMD_PROJECT_IF_ANY,
	.exec = cmd_providers,
};
