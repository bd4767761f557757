/* Template checks: every prompt and schema template checked against the blueprint, with a
 * cache of what was checked keyed by the files' digests. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blueprint.h"
#include "quire/buf.h"
#include "quire/fs.h"
#include "template.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/secret.h"
#include "quire-config.h"
#include "quire-provider.h"
#include "quire/store.h"
#include "project_internal.h"
#include "project_parse.h"
#include "table.h"
#include "util.h"
#include "yaml.h"

/* Parses one template file and checks its names against producer pr. */
static int check_file(const struct quire_project *p, const struct quire_producer *pr,
		      const char *rel)
{
	char *path = quire__path_join(p->root, rel);
	struct quire_buf b = QUIRE_BUF_INIT;
	struct quire_template *t = NULL;
	int err = quire_fs_read(path, &b, QUIRE_TEXT_CAP);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND,
				      "%s:%d:%d: producer '%s' names '%s', which does not exist",
				      p->bp->file, pr->line, pr->col, pr->name, rel);
	if (!err)
		err = quire_fs_check_utf8(rel, b.ptr, b.len);
	if (!err)
		err = quire_template_parse(&t, b.ptr, b.len, rel);
	if (!err)
		err = quire_template_check(t, p->bp, pr);
	quire_template_free(t);
	quire_buf_release(&b);
	free(path);
	return err;
}

/* Which template files passed their check, remembered in .quire/runs/template-checks so that
 * a change to one prompt re-checks that one: a header naming quire's version and the
 * blueprint's digest (a check depends on both), then one fixed-width line per (file content,
 * producer) that passed: the content digest's hex and the producer's index. New lines are
 * appended; the file is written whole when its header differs or it holds more than twice
 * the lines in use (it was a sorted value of the store's meta table, rewritten whole: 7 MB
 * at 100,000 prompts for a one-line change). */
#define TC_HEADER "quire-template-checks 1"
enum { TC_LINE = QUIRE_DIGEST_HEX + 4 + 1 };

struct tentry {
	const char *line; /* TC_LINE bytes */
	int used;	  /* named by this check */
};

struct tcache {
	struct tentry *v; /* lines known to have passed: the file's, then this check's */
	size_t n, alloc;
	struct quire__table lines; /* the entries by line */
	size_t nfile;  /* lines read from the file (usable: header matched), repeats included */
	size_t nknown; /* entries after the file was read (those after it passed now) */
	size_t nused;  /* distinct lines this check named */
	struct quire__arena fresh; /* lines that passed now */
	char *text;		   /* the file's text */
	size_t len;
};

static uint32_t *tc_slot(const struct tcache *tc, const char *line)
{
	uint32_t *s = quire__table_first(&tc->lines, quire__hash(line, TC_LINE));
	while (*s && memcmp(tc->v[*s - 1].line, line, TC_LINE))
		s = quire__table_next(&tc->lines, s);
	return s;
}

/* Adds a line known to pass (its bytes must outlive the cache); its entry. */
static struct tentry *tc_add(struct tcache *tc, const char *line)
{
	if (quire__table_full(&tc->lines, tc->n + 1)) {
		quire__table_size(&tc->lines, 2 * (tc->n + 1), 1024);
		for (size_t k = 0; k < tc->n; k++)
			*tc_slot(tc, tc->v[k].line) = (uint32_t)(k + 1);
	}
	uint32_t *slot = tc_slot(tc, line);
	if (!*slot) {
		QUIRE_GROW(tc->v, tc->alloc, tc->n + 1);
		tc->v[tc->n] = (struct tentry){ line, 0 };
		*slot = (uint32_t)++tc->n;
	}
	return &tc->v[*slot - 1];
}

static void tc_release(struct tcache *tc)
{
	free(tc->v);
	quire__table_release(&tc->lines);
	quire__arena_release(&tc->fresh);
	free(tc->text);
}

/* Reads the lines of the file whose header is header; a damaged line ends the read. */
static void tc_load(struct tcache *tc, const char *path, const char *header)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	if (quire_fs_read(path, &b, 1u << 30)) {
		quire_error_clear();
		quire_buf_release(&b);
		return;
	}
	size_t hl = strlen(header);
	tc->len = b.len;
	tc->text = quire_buf_detach(&b, NULL);
	if (tc->len < hl || memcmp(tc->text, header, hl))
		return;
	/* The table sized once for the file's lines and as many new ones. */
	size_t lines = (tc->len - hl) / TC_LINE;
	quire__table_size(&tc->lines, 2 * (lines + 1), 1024);
	tc->alloc = 2 * lines + 16;
	tc->v = quire__xcalloc_big(tc->alloc, sizeof(*tc->v));
	size_t at = hl;
	for (; at + TC_LINE <= tc->len && tc->text[at + TC_LINE - 1] == '\n'; at += TC_LINE) {
		tc_add(tc, tc->text + at);
		tc->nfile++;
	}
	if (at != tc->len)
		tc->nfile = 0; /* damaged: what is appended after it would not be read */
	tc->nknown = tc->n;
}

/* Checks one template file (its content's digest d, when known) unless that content passed
 * before for the same producer. */
static int tc_check(const struct quire_project *p, struct tcache *tc, size_t pi, const char *d,
		    const char *rel, const long long *idx)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	int err = 0;
	char *made = NULL;
	if (!rel)
		rel = made = quire_producer_prompt_path(pr, idx);
	if (!tc || !d || pi > 0xffff) {
		err = check_file(p, pr, rel);
		free(made);
		return err;
	}
	/* The digest's hex, the producer in four hex digits, a newline (without printf: one line
	 * per instance). */
	char line[TC_LINE + 1];
	static const char hexd[] = "0123456789abcdef";
	memcpy(line, d + 7, QUIRE_DIGEST_HEX);
	for (int k = 0; k < 4; k++)
		line[QUIRE_DIGEST_HEX + k] = hexd[(pi >> (4 * (3 - k))) & 15];
	line[TC_LINE - 1] = '\n';
	line[TC_LINE] = '\0';
	uint32_t k = tc->lines.cap ? *tc_slot(tc, line) : 0;
	struct tentry *e = k ? &tc->v[k - 1] : NULL;
	if (!e && !(err = check_file(p, pr, rel)))
		e = tc_add(tc, quire__arena_copy(&tc->fresh, line, TC_LINE));
	if (e && !e->used) {
		e->used = 1;
		tc->nused++;
	}
	free(made);
	return err;
}

struct check_each {
	const struct quire_project *p;
	size_t pi;
	struct tcache *tc;
};

static int check_instance(void *ud, const long long *idx)
{
	struct check_each *ce = ud;
	/* The digest by the instance's index: its path is made only for a file to check. */
	return tc_check(ce->p, ce->tc, ce->pi, quire_project_prompt_digest(ce->p, ce->pi, idx),
			NULL, idx);
}

static int check_templates(const struct quire_project *p, struct tcache *tc)
{
	int err = 0;
	for (size_t i = 0; !err && i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		if (pr->prompt_per_instance) {
			struct check_each ce = { p, i, tc };
			long long counts[QUIRE_MAX_DIMS];
			quire__project_dim_counts(p, pr, counts);
			err = quire_producer_each_index(pr, counts, check_instance, &ce);
		}
		const char *files[2] = { pr->prompt_per_instance ? NULL : pr->prompt,
					 pr->output.schema };
		for (int k = 0; k < 2 && !err; k++) {
			if (!files[k])
				continue;
			err = tc_check(p, tc, i, quire_project_file_digest(p, files[k]), files[k],
				       NULL);
		}
	}
	return err;
}

int quire_project_check_templates(const struct quire_project *p)
{
	return check_templates(p, NULL);
}

/* The digest of what a template check depends on: this quire's version (checks may change),
 * the blueprint and every template file, in the (deterministic) order they were hashed. */
static void checked_key(const struct quire_project *p, struct quire_digest *out)
{
	/* Hashed as it goes, in 64 KiB pieces: at 100,000 prompts the whole text is 10 MB. */
	struct quire_hasher *h = quire_hasher_new();
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_add(&b, QUIRE_VERSION, sizeof(QUIRE_VERSION));
	for (size_t k = 0; k < p->nfiles; k++) {
		const char *rel = p->files[k].rel;
		if (!strcmp(rel, QUIRE_PROJECT_FILE) || !strcmp(rel, p->inputs_file))
			continue;
		quire_buf_add(&b, rel, strlen(rel) + 1);
		quire_buf_add(&b, p->files[k].d.s, QUIRE_DIGEST_STRLEN);
		if (b.len >= 65536) {
			quire_hasher_update(h, b.ptr, b.len);
			quire_buf_reset(&b);
		}
	}
	quire_hasher_update(h, b.ptr, b.len);
	quire_hasher_final(h, out);
	quire_hasher_free(h);
	quire_buf_release(&b);
}

/* Records the lines that passed: appended to the file read, or the file written whole (only
 * the lines this check named) when it had another header, could not be read, or would hold
 * more than twice as many lines as are in use. A cache: failing to write it is no error. */
static void tc_save(struct tcache *tc, const char *dir, const char *path, const char *header)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int done = 0;
	size_t nnew = tc->n - tc->nknown;
	if (tc->nfile && tc->nfile + nnew <= 2 * tc->nused + 64) {
		if (!nnew)
			return;
		for (size_t k = tc->nknown; k < tc->n; k++)
			quire_buf_add(&b, tc->v[k].line, TC_LINE);
		done = quire_fs_append_if_size(path, tc->len, b.ptr, b.len);
	}
	if (!done) {
		quire_buf_reset(&b);
		quire_buf_puts(&b, header);
		for (size_t k = 0; k < tc->n; k++)
			if (tc->v[k].used)
				quire_buf_add(&b, tc->v[k].line, TC_LINE);
		if (quire_fs_mkdirs(dir, 0755) || quire_fs_replace(path, b.ptr, b.len, 0644))
			quire_error_clear();
	}
	quire_buf_release(&b);
}

int quire_project_check_templates_cached(const struct quire_project *p, struct quire_store *store)
{
	if (!store || !p->ftab)
		return quire_project_check_templates(p);
	struct quire_digest key;
	checked_key(p, &key);
	char *last = NULL;
	quire_store_meta_get(store, "templates_checked", &last);
	int same = last && !strcmp(last, key.s);
	free(last);
	if (same)
		return 0;
	/* Something changed: only the files not checked before with this content are parsed. */
	const char *bpd = quire_project_file_digest(p, p->blueprint_file);
	char *header = quire__xasprintf(TC_HEADER " %s %s\n", QUIRE_VERSION, bpd ? bpd : "-");
	char *dir = quire__xasprintf("%s/runs", p->qdir);
	char *path = quire__xasprintf("%s/template-checks", dir);
	struct tcache tc = { 0 };
	tc_load(&tc, path, header);
	int err = check_templates(p, &tc);
	if (!err && !quire_store_readonly(store)) {
		tc_save(&tc, dir, path, header);
		/* The lines were a value of meta before quire kept them in a file (megabytes in a
		 * large project): gone once the file has them. */
		if (quire_store_meta_put(store, "templates_checked", key.s) ||
		    quire_store_meta_put(store, "templates_checked_files", NULL))
			quire_error_clear(); /* only a cache: the next command checks again */
	}
	tc_release(&tc);
	free(path);
	free(dir);
	free(header);
	return err;
}

/* Producer pi's prompt and schema templates, parsed once (NULL when it has none); 1 when they
 * cannot be read here (a prompt per instance, or a template that does not parse). */
static int producer_templates(const struct quire_project *p, size_t pi,
			      struct quire_template *const **out)
{
	struct quire_project *mp = (struct quire_project *)p;
	const struct quire_producer *pr = &p->bp->producers[pi];
	if (pr->prompt_per_instance)
		return 1;
	if (!mp->list_tpl) {
		mp->list_tpl = quire__xcalloc(2 * p->bp->nproducers + 1, sizeof(*mp->list_tpl));
		mp->list_tpl_state = quire__xcalloc(p->bp->nproducers + 1, 1);
	}
	if (!mp->list_tpl_state[pi]) {
		const char *rel[2] = { pr->prompt, pr->output.schema };
		mp->list_tpl_state[pi] = 1;
		for (int k = 0; k < 2; k++) {
			if (!rel[k])
				continue;
			char *path = quire__path_join(p->root, rel[k]);
			struct quire_buf b = QUIRE_BUF_INIT;
			if (quire_fs_read(path, &b, QUIRE_TEXT_CAP) ||
			    quire_template_parse(&mp->list_tpl[2 * pi + k], b.ptr, b.len, rel[k]))
				mp->list_tpl_state[pi] = 2;
			quire_error_clear();
			quire_buf_release(&b);
			free(path);
		}
	}
	*out = mp->list_tpl + 2 * pi;
	return mp->list_tpl_state[pi] != 1;
}

int quire_project_list_keys(const struct quire_project *p, size_t pi, const char *name,
			    const long long *idx, json_t *out)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	struct quire_template *const *t;
	if (producer_templates(p, pi, &t))
		return 1;
	for (int k = 0; k < 2; k++)
		if (t[k] && quire_template_list_indexes(t[k], p->bp, pr, name, idx,
							quire_project_render_inputs(p), out))
			return 1;
	/* A list it uses but never names counts whole (nothing is known to be unread). */
	return json_array_size(out) ? 0 : 1;
}

int quire_provider_prompt_only(const char *provider)
{
	static const char *const prompt_only[] = { "mock", "openai", "replicate" };
	for (size_t k = 0; k < sizeof(prompt_only) / sizeof(prompt_only[0]); k++)
		if (provider && !strcmp(provider, prompt_only[k]))
			return 1;
	return 0;
}

int quire_project_field_paths(const struct quire_project *p, size_t pi, const char *upstream,
			      const long long *idx, json_t *out)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	const struct quire_binding *b = quire_project_binding(p, pr->role);
	/* Only a provider that is given nothing but the prompt reads upstreams by field. */
	struct quire_template *const *t;
	if (!b || !quire_provider_prompt_only(b->provider) || producer_templates(p, pi, &t))
		return 1;
	for (int k = 0; k < 2; k++)
		if (t[k] && quire_template_field_paths(t[k], p->bp, pr, upstream, idx,
						       quire_project_render_inputs(p), out))
			return 1;
	return 0;
}
