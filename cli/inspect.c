/* quire inspect: a revision's inputs and artefacts, or one artefact's provenance and content. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "history.h"
#include "planview.h"
#include "quire/graph.h"
#include "quire/plan.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/history.h"
#include "quire/id.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/run.h"
#include "quire/suggest.h"

static const char usage[] =
	"usage: quire inspect [ID] [--revision REV] [--json]\n"
	"       quire inspect ID --takes         the takes of an artefact\n"
	"       quire inspect ID --used-by       what uses it, directly and downstream\n"
	"       quire inspect ID --prompt        the prompt its call sent (--take N: a take's)\n"
	"       quire inspect ID --response      the raw answer its call received\n"
	"       quire inspect --log              every revision: parent, time, counts, cost, "
	"message\n"
	"       quire inspect --diff A B         inputs and artefacts that differ (text as diffs)\n"
	"       quire inspect --status           failed, stale, pending-review, user-edited; cost\n"
	"       quire inspect --export FILE      inputs and prompts as an editable file for\n"
	"                                        'quire edit --from FILE' ('-': stdout)\n\n"
	"Without ID: the revision's inputs and every artefact with its status, producer,\n"
	"provider and digest. With an ID: that artefact's provenance (producer, role, provider,\n"
	"model, fingerprint, digest, what it was made from) followed by its content when it is\n"
	"text. An id pattern ('Scene[1][*]') lists the matching artefacts.\n\n"
	"  --revision REV  inspect revision REV (its name, 7+ of its digits, current~N) instead "
	"of\n"
	"                  the current one\n"
	"  --json          print JSON (with ID: provenance plus \"content\" for text, and the\n"
	"                  call's record with the digests of its prompt and raw answer)\n"
	"  --take N        with --prompt or --response: the call that made take N\n\n"
	"statuses: clean, stale (kept from an earlier run; the latest attempt failed or was\n"
	"blocked, or it was released from a hand edit), failed, blocked, pending-review (waits "
	"for\n"
	"'quire edit ID --approve'), user-edited (a hand edit, pinned).\n";

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static int is_text(const json_t *e)
{
	const char *t = str(e, "type");
	return !strcmp(t, "text") || !strcmp(t, "json");
}

static void print_summary(const json_t *m)
{
	printf("revision %.12s (parent %.12s), created %s\n", str(m, "revision"), str(m, "parent"),
	       str(m, "created"));
	const json_t *git = json_object_get(m, "git");
	if (json_is_object(git))
		printf("git: %.12s%s\n", str(git, "head"),
		       json_is_true(json_object_get(git, "dirty")) ? " (uncommitted changes)" : "");
	if (json_is_string(json_object_get(m, "message")))
		printf("\n    %s\n\n", str(m, "message"));
	if (json_is_true(json_object_get(m, "recovered")))
		printf("note: recovered from a run that was killed before it finished\n");
	if (json_is_true(json_object_get(m, "interrupted")))
		printf("note: the run was interrupted\n");
	const json_t *c = json_object_get(m, "counts");
	const json_t *cm = json_object_get(c, "cost_micro");
	if (json_is_integer(cm))
		printf("cost of this run: %lld.%06lld\n",
		       (long long)json_integer_value(cm) / 1000000,
		       (long long)json_integer_value(cm) % 1000000);
	printf("this run: %lld produced, %lld cached, %lld failed, %lld blocked, %lld removed\n",
	       (long long)json_integer_value(json_object_get(c, "produced")),
	       (long long)json_integer_value(json_object_get(c, "cached")),
	       (long long)json_integer_value(json_object_get(c, "failed")),
	       (long long)json_integer_value(json_object_get(c, "blocked")),
	       (long long)json_integer_value(json_object_get(c, "removed")));
	if (json_integer_value(json_object_get(c, "accepted")))
		printf("accepted without regenerating ('quire run --touch'): %lld\n",
		       (long long)json_integer_value(json_object_get(c, "accepted")));
	printf("inputs:\n");
	const char *k;
	json_t *v;
	size_t w = 0;
	json_object_foreach(json_object_get(m, "inputs"), k, v)
		if (strlen(k) > w)
			w = strlen(k);
	json_object_foreach(json_object_get(m, "inputs"), k, v) {
		json_t *val = json_object_get(v, "value");
		char *s = json_dumps(val, JSON_ENCODE_ANY);
		size_t len = strlen(s);
		printf("  %-*s  %.*s%s\n", (int)w, k, len > 70 ? 67 : (int)len, s,
		       len > 70 ? "..." : "");
		free(s);
	}
	const json_t *arts = json_object_get(m, "artefacts");
	printf("artefacts (%zu):\n", json_object_size(arts));
	w = 2;
	json_object_foreach((json_t *)arts, k, v)
		if (strlen(k) > w)
			w = strlen(k);
	printf("  %-*s  %-7s  %-10s  %-8s  %s\n", (int)w, "ID", "STATUS", "PRODUCER", "PROVIDER",
	       "DIGEST");
	json_object_foreach((json_t *)arts, k, v)
		printf("  %-*s  %-7s  %-10s  %-8s  %.19s\n", (int)w, k, str(v, "status"),
		       str(v, "producer"), str(v, "provider"), str(v, "digest"));
}

static void print_entry(const char *qdir, const char *id, const json_t *e)
{
	printf("id:          %s\n", id);
	printf("status:      %s\n", str(e, "status"));
	if (json_object_get(e, "error"))
		printf("error:       %s\n", str(e, "error"));
	printf("producer:    %s (role %s)\n", str(e, "producer"), str(e, "role"));
	printf("provider:    %s, model %s\n", str(e, "provider"), str(e, "model"));
	printf("type:        %s (.%s), %lld bytes\n", str(e, "type"), str(e, "ext"),
	       (long long)json_integer_value(json_object_get(e, "size")));
	printf("digest:      %s\n", str(e, "digest"));
	printf("fingerprint: %s\n", str(e, "fingerprint"));
	if (json_is_true(json_object_get(e, "accepted")))
		printf("origin:      accepted without regenerating ('quire run --touch'): its "
		       "output was made for an earlier fingerprint\n");
	else if (json_is_true(json_object_get(e, "cached")))
		printf("origin:      restored from the action cache\n");
	long long attempts = (long long)json_integer_value(json_object_get(e, "attempts"));
	if (json_object_get(e, "digest"))
		printf("took:        %lld ms in %lld attempt%s%s\n",
		       (long long)json_integer_value(json_object_get(e, "duration_ms")),
		       attempts > 0 ? attempts : 1, attempts > 1 ? "s" : "",
		       json_object_get(e, "failed_attempts") ? " (the output kept)" : "");
	long long failed = (long long)json_integer_value(json_object_get(e, "failed_attempts"));
	if (failed)
		printf("failed:      after %lld attempt%s\n", failed, failed > 1 ? "s" : "");
	const json_t *use = json_object_get(e, "usage");
	if (json_is_object(use))
		printf("usage:       %lld tokens in, %lld out\n",
		       (long long)json_integer_value(json_object_get(use, "tokens_in")),
		       (long long)json_integer_value(json_object_get(use, "tokens_out")));
	else if (use)
		printf("usage:       unknown (the provider did not report it)\n");
	const json_t *cost = json_object_get(e, "cost_micro");
	if (json_is_integer(cost))
		printf("cost:        %lld.%06lld%s\n",
		       (long long)json_integer_value(cost) / 1000000,
		       (long long)json_integer_value(cost) % 1000000,
		       json_is_true(json_object_get(e, "cost_estimated"))
			       ? " (estimated: usage unknown)"
			       : "");
	const json_t *meta = json_object_get(e, "meta");
	if (json_is_object(meta)) {
		char *ms = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
		printf("response:    %s\n", ms);
		free(ms);
	}
	if (json_is_string(json_object_get(e, "call")) ||
	    json_is_string(json_object_get(e, "failed_call")))
		printf("call:        %.19s (what it sent and got: 'quire inspect %s --prompt', "
		       "--response)\n",
		       json_is_string(json_object_get(e, "call")) ? str(e, "call")
								  : str(e, "failed_call"),
		       id);
	const json_t *deps = json_object_get(e, "deps");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(deps, "inputs"), k, v)
		printf("input:       %s %.19s\n", k, json_string_value(v));
	size_t i;
	json_array_foreach(json_object_get(deps, "upstream"), i, v)
		printf("upstream:    %s %.19s\n", json_string_value(json_array_get(v, 0)),
		       json_string_value(json_array_get(v, 1)));
	/* Upstreams read by their JSON fields: each field and its value's digest. */
	json_object_foreach(json_object_get(deps, "fields"), k, v)
		printf("upstream:    %s %.19s\n", k,
		       json_is_string(v) ? json_string_value(v) : "(absent)");
	const char *d = json_string_value(json_object_get(e, "digest"));
	if (!d)
		return;
	if (!is_text(e)) {
		char *path = quire_blob_path(qdir, d);
		if (access(path, F_OK) == 0)
			printf("content:     binary, stored at %s\n", path);
		else
			printf("content:     binary, %lld bytes, stored in %s/blobs/pack.db\n",
			       quire_blob_size(qdir, d), qdir);
		free(path);
		return;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	if (quire_blob_read(qdir, d, &b, 0, 1) == 0) {
		printf("\n");
		fwrite(b.ptr, 1, b.len, stdout);
		if (b.len && b.ptr[b.len - 1] != '\n')
			putchar('\n');
	} else {
		printf("content:     unavailable: %s\n", quire_error_last());
	}
	quire_buf_release(&b);
}

/* inspect ID where ID is no artefact of m: the artefacts a pattern (Scene[1][*]) matches, or
 * a "no such artefact" with the nearest id. */
static int inspect_matching(const json_t *m, const char *id, int json)
{
	const json_t *arts = json_object_get(m, "artefacts");
	if (!quire_id_valid_pattern(id))
		return usage_error("inspect", "'%s' is not an id (e.g. Chapter[2])", id);
	json_t *matches = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)arts, k, v)
		if (quire_id_match(id, k))
			json_object_set(matches, k, v);
	if (!json_object_size(matches)) {
		const char *near = quire_suggest_id(m, id);
		if (near)
			fprintf(stderr, "quire: %.12s has no artefact '%s' (did you mean '%s'?)\n",
				str(m, "revision"), id, near);
		else
			fprintf(stderr, "quire: %.12s has no artefact '%s'\n", str(m, "revision"),
				id);
		json_decref(matches);
		return EXIT_INVALID;
	}
	if (json) {
		print_json_line(matches);
	} else {
		json_object_foreach(matches, k, v)
			printf("%-20s %-7s %.19s\n", k, str(v, "status"), str(v, "digest"));
	}
	json_decref(matches);
	return 0;
}

/* inspect ID --used-by: what depends on ID in the project as it is now (its plan), directly
 * and further downstream. */
static int inspect_used_by(const char *root, const char *id, int json)
{
	struct quire_project *p = NULL;
	struct quire_plan *plan = NULL;
	int err = quire_project_open(&p, root);
	if (!err)
		err = plan_readonly(p, NULL, 0, PLAN_NO_CACHE, &plan, NULL, NULL);
	if (err) {
		quire_project_free(p);
		return die_core(err);
	}
	long i = quire_plan_find(plan, id);
	int rc = 0;
	if (i < 0) {
		rc = usage_error("inspect", "the blueprint has no instance '%s' (see 'quire plan')",
				 id);
	} else {
		json_t *u = quire_graph_used_by(plan, (size_t)i);
		if (json) {
			print_json_line(u);
		} else {
			const json_t *d = json_object_get(u, "used_by");
			const json_t *all = json_object_get(u, "downstream");
			if (!json_array_size(d))
				printf("%s: nothing uses it\n", id);
			else
				printf("%s is used by:\n", id);
			size_t k;
			json_t *v;
			json_array_foreach(d, k, v)
				printf("  %s\n", json_string_value(v));
			if (json_array_size(all) > json_array_size(d))
				printf("and, through them, %zu more downstream ('--json' lists "
				       "them)\n",
				       json_array_size(all) - json_array_size(d));
		}
		json_decref(u);
	}
	quire_plan_free(plan);
	quire_project_free(p);
	return rc;
}

/* --prompt / --response: what the call that made an artefact (or its take N) sent and got. */
static int inspect_call(const char *qdir, const json_t *m, const char *id, const json_t *e,
			long long take, int response, int json)
{
	if (!e) {
		fprintf(stderr, "quire: %.12s has no artefact '%s'\n", str(m, "revision"), id);
		return EXIT_INVALID;
	}
	const char *cd = json_string_value(json_object_get(e, "call"));
	if (!cd) /* never made: the call that failed */
		cd = json_string_value(json_object_get(e, "failed_call"));
	if (take >= 0) {
		const json_t *t = NULL, *x;
		size_t k;
		json_array_foreach(json_object_get(e, "takes"), k, x)
			if (json_integer_value(json_object_get(x, "take")) == take)
				t = x;
		if (!t) {
			fprintf(stderr, "quire: %s has no take %lld ('quire inspect %s --takes')\n",
				id, take, id);
			return EXIT_INVALID;
		}
		cd = json_string_value(json_object_get(t, "call"));
	}
	json_t *c = quire_call_fetch(qdir, cd);
	if (!c) {
		fprintf(stderr,
			"quire: %s has no recorded call%s (%s): made before quire kept calls, by "
			"hand, or its record was removed by 'quire gc'\n",
			id, take >= 0 ? " for that take" : "",
			cd ? "its record is missing" : "none was recorded");
		return EXIT_INVALID;
	}
	const json_t *p = json_object_get(c, "prompt");
	const char *d = response ? json_string_value(json_object_get(c, "response"))
			: json_is_true(json_object_get(p, "kept"))
				? json_string_value(json_object_get(p, "digest"))
				: NULL;
	const json_t *inline_text = response ? NULL : json_object_get(p, "text");
	int rc = 0;
	if (!d) {
		if (response)
			fprintf(stderr,
				"quire: the call that made %s kept no raw answer (provider "
				"'%s' does not leave one)\n",
				id, str(c, "provider"));
		else
			fprintf(stderr,
				"quire: the prompt of %s (%lld bytes) was not kept: prompts over "
				"64 "
				"KiB are recorded by digest only (%s)\n",
				id, (long long)json_integer_value(json_object_get(p, "bytes")),
				str(p, "digest"));
		json_decref(c);
		return EXIT_INVALID;
	}
	struct quire_buf b = QUIRE_BUF_INIT;
	/* A small prompt is kept in the record itself. */
	int err = json_is_string(inline_text) ? quire_buf_add(&b, json_string_value(inline_text),
							      json_string_length(inline_text))
					      : quire_blob_read(qdir, d, &b, 0, 1);
	if (err) {
		rc = die_core(err);
	} else if (json) {
		/* An answer that is not UTF-8 (a Latin-1 error page) cannot be a JSON string:
		 * it is null here, and --response without --json prints its bytes. */
		int text = quire_fs_check_utf8(d, b.ptr ? b.ptr : "", b.len) == 0;
		quire_error_clear();
		json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:b}", "id", id, "digest", d, "call", c,
				      response ? "response" : "prompt",
				      text ? json_stringn(b.ptr ? b.ptr : "", b.len) : json_null(),
				      "utf8", text);
		c = NULL;
		print_json_line(j);
		json_decref(j);
	} else {
		fwrite(b.ptr, 1, b.len, stdout);
		if (b.len && b.ptr[b.len - 1] != '\n')
			putchar('\n');
	}
	quire_buf_release(&b);
	json_decref(c);
	return rc;
}

/* One artefact of revision m: its provenance and content, as text or JSON. */
static void show_entry(const char *qdir, const json_t *m, const char *id, const json_t *e, int json)
{
	if (json) {
		json_t *j = json_deep_copy(e);
		json_object_set_new(j, "id", json_string(id));
		json_object_set_new(j, "revision", json_string(str(m, "revision")));
		const char *d = json_string_value(json_object_get(e, "digest"));
		struct quire_buf b = QUIRE_BUF_INIT;
		if (d && is_text(e) && quire_blob_read(qdir, d, &b, 0, 1) == 0)
			json_object_set_new(j, "content", json_stringn(b.ptr, b.len));
		quire_buf_release(&b);
		/* The call's record: what it names (prompt, schema, raw answer) by digest. */
		const json_t *cd = json_object_get(e, "call");
		json_t *cr = quire_call_fetch(
			qdir, json_string_value(cd ? cd : json_object_get(e, "failed_call")));
		if (cr)
			json_object_set_new(j, "call_record", cr);
		print_json_line(j);
		json_decref(j);
	} else {
		print_entry(qdir, id, e);
	}
}

/* Artefact id of revision rev alone, from the revision's index: the slim manifest with that
 * one entry (parsed from its byte range of the manifest), or NULL when there is no usable
 * index or no such artefact (a pattern: the whole revision is read). One artefact's
 * provenance then costs what it shows, not the size of the graph. */
static json_t *load_one(const char *qdir, const char *rev, const char *id)
{
	json_t *m = NULL, *e = NULL;
	struct quire_mbase *base = NULL;
	/* A format-2 revision's tree gives the entry alone, head or not. */
	if (!quire_manifest_load_entry(qdir, rev, id, &m) && m)
		return m;
	quire_error_clear();
	quire_manifest_load_index(qdir, rev, &m, &base);
	if (base && quire_mbase_find(base, id) && !quire_manifest_materialise(m, base, id, &e) &&
	    e) {
		quire_mbase_free(base);
		return m;
	}
	quire_error_clear();
	quire_mbase_free(base);
	json_decref(m);
	return NULL;
}

/* The revision inspected: rev (current~1 and the like named), else the current one, loaded
 * into *m (its name in *cur, the caller's); with id, only that artefact when it can be read
 * alone. 0 or an exit code, said. */
static int load_revision(const char *qdir, const char *rev, const char *id, char **cur, json_t **m)
{
	int err;
	if (!rev) {
		if ((err = quire_manifest_current(qdir, cur)))
			return die_core(err);
		if (!*cur) {
			fprintf(stderr, "quire: nothing has been built yet (run 'quire run')\n");
			return EXIT_INVALID;
		}
	} else if ((err = quire_revision_resolve(qdir, rev, cur))) {
		return die_core(err);
	}
	if (id && (*m = load_one(qdir, *cur, id)))
		return 0;
	if ((err = quire_manifest_load(qdir, *cur, m)))
		return die_core(err);
	return 0;
}

static int cmd_inspect(int argc, char **argv, const struct cmd_env *env)
{
	static const struct option opts[] = {
		{ "revision", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "log", no_argument, NULL, 'l' },
		{ "diff", no_argument, NULL, 'd' },
		{ "status", no_argument, NULL, 's' },
		{ "takes", no_argument, NULL, 't' },
		{ "export", required_argument, NULL, 'e' },
		{ "used-by", no_argument, NULL, 'u' },
		{ "prompt", no_argument, NULL, 'P' },
		{ "response", no_argument, NULL, 'R' },
		{ "take", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int used_by = 0, call = 0; /* 1: --prompt, 2: --response */
	long long take = -1;
	const char *rev = NULL, *export_file = NULL;
	int json = 0, c, log = 0, diff = 0, status = 0, takes = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rev = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			log = 1;
			break;
		case 'd':
			diff = 1;
			break;
		case 's':
			status = 1;
			break;
		case 't':
			takes = 1;
			break;
		case 'e':
			export_file = optarg;
			break;
		case 'u':
			used_by = 1;
			break;
		case 'P':
			call = call ? -1 : 1;
			break;
		case 'R':
			call = call ? -1 : 2;
			break;
		case 'T': {
			char *end;
			take = strtoll(optarg, &end, 10);
			if (*end || take < 0)
				return usage_error("inspect",
						   "--take needs a take number, not '%s'", optarg);
			break;
		}
		default:
			return bad_option("inspect", opts, argv[optind - 1]);
		}
	}
	if (log + diff + status + takes + used_by + (export_file != NULL) + (call != 0) > 1 ||
	    call < 0)
		return usage_error("inspect", "give one of --log, --diff, --status, --takes, "
					      "--used-by, --export, --prompt, --response");
	if (call && argc - optind != 1)
		return usage_error("inspect", "--prompt and --response need an ID");
	if (take >= 0 && !call)
		return usage_error("inspect", "--take goes with --prompt or --response");
	if (used_by && (argc - optind != 1 || rev))
		return usage_error("inspect", "--used-by needs one ID (of the current blueprint)");
	if (used_by)
		return inspect_used_by(env->root, argv[optind], json);
	if (diff && argc - optind != 2)
		return usage_error("inspect", "--diff needs two revisions: --diff A B");
	if (takes && argc - optind != 1)
		return usage_error("inspect", "--takes needs an ID");
	if (!diff && argc - optind > 1)
		return usage_error("inspect", "give at most one ID");
	const char *id = optind < argc ? argv[optind] : NULL;
	const char *root = env->root;
	char *cur = NULL, *qdir = NULL;
	json_t *m = NULL;
	int rc = 0;
	qdir = malloc(strlen(root) + 8);
	snprintf(qdir, strlen(root) + 8, "%s/.quire", root);
	if (log || diff || export_file) {
		rc = log    ? history_log(qdir, json, -1)
		     : diff ? history_diff(qdir, argv[optind], argv[optind + 1], json)
			    : history_export(root, export_file);
		goto out;
	}
	/* One artefact's provenance, prompt or takes: read alone when its index allows. */
	if ((rc = load_revision(qdir, rev, status ? NULL : id, &cur, &m)))
		goto out;
	const json_t *arts = json_object_get(m, "artefacts");
	if (status) {
		rc = history_status(m, json);
		goto out;
	}
	if (takes) {
		rc = history_takes(qdir, m, id, json);
		goto out;
	}
	if (!id) {
		if (json)
			print_json_line(m);
		else
			print_summary(m);
		goto out;
	}
	const json_t *e = json_object_get(arts, id);
	if (call) {
		rc = inspect_call(qdir, m, id, e, take, call == 2, json);
		goto out;
	}
	if (!e) {
		rc = inspect_matching(m, id, json);
		goto out;
	}
	show_entry(qdir, m, id, e, json);
out:
	json_decref(m);
	free(cur);
	free(qdir);
	return rc;
}

const struct cmd cmd_inspect_desc = {
	.name = "inspect",
	.summary = "show a revision, or one artefact and its origin",
	.usage = usage,
	.flags = CMD_ROOT | CMD_PAGER,
	.exec = cmd_inspect,
};
