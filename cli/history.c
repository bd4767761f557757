/* inspect's history views: --log, --diff A B, --status, --takes, --export. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "history.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/edit.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/history.h"
#include "quire/manifest.h"
#include "quire/project.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

int history_log(const char *qdir, int json)
{
	json_t *rows = NULL;
	int err = quire_history_log(qdir, &rows);
	if (err)
		return die_core(err);
	if (json) {
		print_json_line(rows);
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(rows, i, r) {
			if (json_object_get(r, "error")) {
				printf("%s  (unreadable: %s)\n", str(r, "revision"), str(r, "error"));
				continue;
			}
			printf("%s  parent %-8s  %s  %lld produced, %lld cached, %lld failed, %lld edited",
			       str(r, "revision"), str(r, "parent"), str(r, "created"), num(r, "produced"),
			       num(r, "cached"), num(r, "failed"), num(r, "edited"));
			if (num(r, "cost_micro"))
				printf(", cost %lld.%06lld", num(r, "cost_micro") / 1000000,
				       num(r, "cost_micro") % 1000000);
			printf("\n      %s%s%s%s\n", str(r, "message"),
			       json_object_get(r, "restored_from") ? " (restores " : "",
			       json_object_get(r, "restored_from") ? str(r, "restored_from") : "",
			       json_object_get(r, "restored_from") ? ")" : "");
		}
	}
	json_decref(rows);
	return 0;
}

/* Runs diff -u on two blobs; with capture, returns its output in *text. */
static int run_diff(const char *qdir, const char *id, const char *ra, const char *da,
		    const char *rb, const char *db, struct quire_buf *text)
{
	char *pa = quire_blob_path(qdir, da), *pb = quire_blob_path(qdir, db);
	char la[256], lb[256];
	snprintf(la, sizeof(la), "%s@%s", id, ra);
	snprintf(lb, sizeof(lb), "%s@%s", id, rb);
	int fds[2] = { -1, -1 };
	if (text && pipe(fds) < 0)
		text = NULL;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (text) {
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
		}
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, pa, pb, (char *)NULL);
		_exit(127);
	}
	if (text) {
		close(fds[1]);
		char buf[4096];
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof(buf))) > 0)
			quire_buf_add(text, buf, (size_t)n);
		close(fds[0]);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(pa);
	free(pb);
	return 0;
}

int history_diff(const char *qdir, const char *a, const char *b, int json)
{
	json_t *d = NULL;
	int err = quire_revision_diff(qdir, a, b, &d);
	if (err)
		return die_core(err);
	const char *ra = str(d, "from"), *rb = str(d, "to");
	const json_t *arts = json_object_get(d, "artefacts");
	json_t *inputs = json_object_get(d, "inputs"), *added = json_object_get(arts, "added"),
	       *removed = json_object_get(arts, "removed"), *changed = json_object_get(arts, "changed");
	size_t i;
	json_t *v;
	if (json) {
		/* Text that changed carries its unified diff. */
		json_array_foreach(changed, i, v) {
			const char *da = json_string_value(json_object_get(v, "digest_from"));
			const char *db = json_string_value(json_object_get(v, "digest_to"));
			if (da && db && strcmp(da, db) && json_is_true(json_object_get(v, "text"))) {
				struct quire_buf t = QUIRE_BUF_INIT;
				run_diff(qdir, str(v, "id"), ra, da, rb, db, &t);
				json_object_set_new(v, "diff", json_stringn(t.ptr, t.len));
				quire_buf_release(&t);
			}
		}
		print_json_line(d);
		json_decref(d);
		return 0;
	}
	printf("diff %s %s: %zu input%s, %zu artefact%s changed, %zu added, %zu removed\n", ra, rb,
	       json_array_size(inputs), json_array_size(inputs) == 1 ? "" : "s",
	       json_array_size(changed), json_array_size(changed) == 1 ? "" : "s",
	       json_array_size(added), json_array_size(removed));
	json_array_foreach(inputs, i, v) {
		char *f = json_dumps(json_object_get(v, "from"), JSON_ENCODE_ANY);
		char *t = json_dumps(json_object_get(v, "to"), JSON_ENCODE_ANY);
		printf("input %s: %s -> %s\n", str(v, "name"), f, t);
		free(f);
		free(t);
	}
	json_array_foreach(added, i, v) printf("added   %s\n", json_string_value(v));
	json_array_foreach(removed, i, v) printf("removed %s\n", json_string_value(v));
	json_array_foreach(changed, i, v) {
		const char *id = str(v, "id");
		printf("changed %s (%s -> %s)\n", id, str(v, "from"), str(v, "to"));
		const char *da = json_string_value(json_object_get(v, "digest_from"));
		const char *db = json_string_value(json_object_get(v, "digest_to"));
		if (da && db && strcmp(da, db) && json_is_true(json_object_get(v, "text")))
			run_diff(qdir, id, ra, da, rb, db, NULL);
	}
	json_decref(d);
	return 0;
}

int history_status(const json_t *m, int json)
{
	json_t *st = quire_revision_status(m);
	if (json) {
		print_json_line(st);
		json_decref(st);
		return 0;
	}
	const json_t *groups = json_object_get(st, "artefacts");
	long long cost = num(st, "total_cost_micro");
	printf("status of %s:\n", str(m, "revision"));
	const char *order[] = { "failed", "blocked", "stale", "pending-review", "user-edited" };
	int any = 0;
	for (size_t i = 0; i < 5; i++) {
		json_t *g = json_object_get(groups, order[i]);
		if (!json_array_size(g))
			continue;
		any = 1;
		printf("  %-15s", order[i]);
		size_t n;
		json_t *x;
		json_array_foreach(g, n, x) printf(" %s", json_string_value(x));
		printf("\n");
	}
	if (!any)
		printf("  everything is clean\n");
	printf("  total cost of the artefacts shown: %lld.%06lld\n", cost / 1000000, cost % 1000000);
	json_decref(st);
	return 0;
}

int history_takes(const char *qdir, const json_t *m, const char *id, int json)
{
	(void)qdir;
	const json_t *e = json_object_get(json_object_get(m, "artefacts"), id);
	if (!e) {
		fprintf(stderr, "quire: %s has no artefact '%s'\n", str(m, "revision"), id);
		return EXIT_INVALID;
	}
	const json_t *takes = json_object_get(e, "takes");
	if (json) {
		json_t *j = json_pack("{s:s,s:I,s:O}", "id", id, "take", (json_int_t)num(e, "take"),
				      "takes", takes ? takes : json_array());
		print_json_line(j);
		json_decref(j);
		return 0;
	}
	size_t i;
	json_t *t;
	json_array_foreach(takes, i, t) printf("%s take %lld  %.19s  %lld bytes%s\n", id,
					       num(t, "take"), str(t, "digest"), num(t, "size"),
					       num(t, "take") == num(e, "take") &&
							       !strcmp(str(t, "digest"), str(e, "digest"))
						       ? "  (shown)"
						       : "");
	if (!json_array_size(takes))
		printf("%s has no generated takes\n", id);
	return 0;
}

int history_export(const char *root, const char *file)
{
	struct quire_project *p = NULL;
	int err = quire_project_open(&p, root);
	if (err)
		return die_core(err);
	char *cur = NULL;
	quire_manifest_current(p->qdir, &cur);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_edit_export(p, cur, &b);
	int rc = 0;
	if (!strcmp(file, "-"))
		fwrite(b.ptr, 1, b.len, stdout);
	else if ((err = quire_fs_write_atomic(file, b.ptr, b.len, 0644)))
		rc = die_core(err);
	else
		printf("inspect: wrote %s; apply it with 'quire edit --from %s'\n", file, file);
	quire_buf_release(&b);
	free(cur);
	quire_project_free(p);
	return rc;
}
