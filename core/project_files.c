/* The project's file table: every file a build reads, hashed once through the stat cache
 * (in parallel), found by path or by a per-instance prompt's index. */
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

/* The files a build reads (quire_project_hash_files), each once with its digest, found by path
 * or, for a per-instance prompt, by the instance's index: a plan asks for 100,000 prompts'
 * digests, and formatting each path again to look it up in a JSON object cost more than
 * planning. */
struct quire__pfiles {
	struct quire__arena paths;
	struct quire__table paths_at; /* the files by path */
	uint32_t *named; /* per file named (in the order named, repeats included): its index */
	size_t nnamed;
	/* per producer with per-instance prompts: where its instances' prompts start in named,
	 * and the dimension counts they were listed with (SIZE_MAX: none listed) */
	size_t *first;
	long long (*counts)[QUIRE_MAX_DIMS];
	json_t *json; /* the same as a JSON object, made when asked for */
};

void quire__pfiles_free(struct quire__pfiles *ft)
{
	if (!ft)
		return;
	quire__arena_release(&ft->paths);
	quire__table_release(&ft->paths_at);
	free(ft->named);
	free(ft->first);
	free(ft->counts);
	json_decref(ft->json);
	free(ft);
}

/* The slot of rel in the table, or the empty slot where it belongs. */
static uint32_t *pfiles_slot(const struct quire_project *p, const char *rel)
{
	const struct quire__table *t = &p->ftab->paths_at;
	uint32_t *s = quire__table_first(t, quire__hash_str(rel));
	while (*s && strcmp(p->files[*s - 1].rel, rel))
		s = quire__table_next(t, s);
	return s;
}

const char *quire_project_file_digest(const struct quire_project *p, const char *rel)
{
	if (!rel || !p->ftab || !p->ftab->paths_at.cap)
		return NULL;
	uint32_t k = *pfiles_slot(p, rel);
	return k ? p->files[k - 1].d.s : NULL;
}

const char *quire_project_prompt_digest(const struct quire_project *p, size_t pi,
					const long long *idx)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	if (!pr->prompt || !p->ftab)
		return NULL;
	if (!pr->prompt_per_instance)
		return quire_project_file_digest(p, pr->prompt);
	const struct quire__pfiles *ft = p->ftab;
	if (ft->first[pi] != SIZE_MAX) {
		/* Its place among the producer's prompts, listed in index order. */
		size_t ord = 0;
		int d = 0;
		for (; d < pr->ndims; d++) {
			if (idx[d] < 0 || idx[d] >= ft->counts[pi][d])
				break;
			ord = ord * (size_t)ft->counts[pi][d] + (size_t)idx[d];
		}
		if (d == pr->ndims)
			return p->files[ft->named[ft->first[pi] + ord]].d.s;
	}
	/* Not listed when the files were hashed (the inputs changed since): by its path. */
	char *rel = quire_producer_prompt_path(pr, idx);
	const char *dg = quire_project_file_digest(p, rel);
	free(rel);
	return dg;
}

const json_t *quire_project_files_json(const struct quire_project *p)
{
	if (!p->ftab)
		return NULL;
	if (!p->ftab->json) {
		json_t *o = json_object();
		for (size_t k = 0; k < p->nfiles; k++)
			json_object_set_new(o, p->files[k].rel, json_string(p->files[k].d.s));
		p->ftab->json = o;
	}
	return p->ftab->json;
}

static int cmp_files(const void *x, const void *y)
{
	return strcmp((*(const struct quire_pfile *const *)x)->rel,
		      (*(const struct quire_pfile *const *)y)->rel);
}

void quire_project_files_text(const struct quire_project *p, struct quire_buf *out)
{
	const struct quire_pfile **v = quire__xcalloc(p->nfiles + 1, sizeof(*v));
	for (size_t k = 0; k < p->nfiles; k++)
		v[k] = &p->files[k];
	qsort(v, p->nfiles, sizeof(*v), cmp_files);
	quire_buf_grow(out, p->nfiles * (QUIRE_DIGEST_STRLEN + 48) + 2);
	quire_buf_putc(out, '{');
	for (size_t k = 0; k < p->nfiles; k++) {
		if (k)
			quire_buf_putc(out, ',');
		quire_buf_put_jstr(out, v[k]->rel, strlen(v[k]->rel));
		quire_buf_putc(out, ':');
		quire_buf_put_jstr(out, v[k]->d.s, strlen(v[k]->d.s));
	}
	quire_buf_putc(out, '}');
	free(v);
}

/* One file the project reads: checked (stat, stat cache, else hashed) on one of two threads,
 * then recorded in order (hfile_record_all). */
struct hfile {
	const char *rel; /* in the file table's blocks */
	const char *who; /* for messages: "project" or the producer naming it */
	int serr;	 /* errno of a failed stat, or 0 (EXDEV: a link out of the project) */
	int herr;	 /* quire error code of a failed hash, or 0 */
	char *hmsg;	 /* its message */
	int hashed;	 /* d computed now: it goes into the stat cache */
	int64_t size, mtime, ino;
	int64_t stat_ns; /* just before the stat: when the stat cache records it */
	struct quire_digest d;
};

struct hlist {
	const struct quire_project *p;
	struct quire_store *store;
	int rootfd; /* the project directory open, or -1 */
	struct hfile *v;
	size_t n, alloc;
	_Atomic size_t next;
};

static void hlist_add(struct hlist *l, const char *rel, const char *who)
{
	QUIRE_GROW(l->v, l->alloc, l->n + 1);
	l->v[l->n++] = (struct hfile){ .rel = rel, .who = who };
}

/* Whether path, links resolved, is the project's root or below it. */
static int inside_project(const struct quire_project *p, const char *path)
{
	char root[PATH_MAX], real[PATH_MAX];
	if (!realpath(p->root, root) || !realpath(path, real))
		return 1; /* not resolvable: the stat that follows says why */
	size_t n = strlen(root);
	return !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0');
}

/* Refuses a file whose directory is a link out of the project (prompts/ -> /etc): each
 * directory named is resolved once. */
static int check_dirs(const struct quire_project *p, const struct hlist *l)
{
	char last[PATH_MAX] = "";
	for (size_t k = 0; k < l->n; k++) {
		const char *rel = l->v[k].rel, *slash = strrchr(rel, '/');
		if (!slash || (size_t)(slash - rel) >= sizeof(last))
			continue;
		size_t dl = (size_t)(slash - rel);
		if (strlen(last) == dl && !strncmp(last, rel, dl))
			continue;
		memcpy(last, rel, dl);
		last[dl] = '\0';
		char *path = quire__path_join(p->root, last);
		int ok = inside_project(p, path);
		free(path);
		if (!ok)
			return quire_error_set(
				QUIRE_EINVALID,
				"%s names '%s', whose directory '%s' is a link out of the "
				"project: a project reads only its own files",
				l->v[k].who, rel, last);
	}
	return 0;
}

/* Thread-safe: writes only its own item (the stat cache is loaded before, read only here). */
static void hfile_check(const struct hlist *l, struct hfile *f)
{
	struct stat st;
	char *path = NULL;
	/* Relative to the open project directory: the kernel walks prompts/x.md, not every
	 * directory from the root (a fifth of a no-op plan's time went to path walks). */
	f->stat_ns = quire__now_ns();
	int rc = l->rootfd >= 0 && f->rel[0] != '/'
			 ? fstatat(l->rootfd, f->rel, &st, AT_SYMLINK_NOFOLLOW)
			 : lstat(path = quire__path_join(l->p->root, f->rel), &st);
	if (rc == 0 && S_ISLNK(st.st_mode)) {
		/* A link is followed only to a file inside the project: the file's content ends
		 * up in the store, and a prompt may not read what the project does not hold. */
		if (!path)
			path = quire__path_join(l->p->root, f->rel);
		if (!inside_project(l->p, path)) {
			f->serr = EXDEV;
			goto out;
		}
		rc = stat(path, &st);
	}
	if (rc < 0) {
		f->serr = errno ? errno : EIO;
		goto out;
	}
	f->size = (int64_t)st.st_size;
	f->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	f->ino = (int64_t)st.st_ino;
	if (l->store && quire_store_stat_get(l->store, f->rel, f->size, f->mtime, f->ino, &f->d))
		goto out;
	if (!path)
		path = quire__path_join(l->p->root, f->rel);
	if ((f->herr = quire_hash_file(path, &f->d, NULL))) {
		f->hmsg = quire__xstrdup(quire_error_last());
		quire_error_clear();
	} else {
		f->hashed = 1;
	}
out:
	free(path);
}

static void *hfile_worker(void *arg)
{
	struct hlist *l = arg;
	for (size_t k; (k = atomic_fetch_add(&l->next, 64)) < l->n;)
		for (size_t e = k + 64 < l->n ? k + 64 : l->n; k < e; k++)
			hfile_check(l, &l->v[k]);
	return NULL;
}

/* Checks every file (on two threads when there are many: a stat and a stat-cache lookup
 * each), then, in order, reports the first that is missing or unreadable, records what was
 * hashed in the stat cache and each file in the project's table (a file named twice once). */
static int hfile_record_all(struct quire_project *p, struct hlist *l)
{
	struct quire__pfiles *ft = p->ftab;
	int derr = check_dirs(p, l);
	if (derr)
		return derr;
	if (l->store)
		quire_store_stat_load(l->store);
	quire__run_parallel(hfile_worker, l, l->n >= 256 ? 2 : 1);
	quire__table_size(&ft->paths_at, l->n, 16);
	ft->named = quire__xcalloc_big(l->n + 1, sizeof(*ft->named));
	p->files = quire__xcalloc_big(l->n + 1, sizeof(*p->files));
	int err = 0;
	for (size_t k = 0; k < l->n && !err; k++) {
		struct hfile *f = &l->v[k];
		uint32_t *slot = pfiles_slot(p, f->rel);
		if (*slot) {
			ft->named[ft->nnamed++] = *slot - 1;
			continue;
		}
		if (f->serr == EXDEV)
			err = quire_error_set(
				QUIRE_EINVALID,
				"%s names '%s', a link to a file outside the project: a "
				"project reads only its own files (copy it in instead)",
				f->who, f->rel);
		else if (f->serr == ENOENT && strcmp(f->who, "project"))
			err = quire_error_set(QUIRE_ENOTFOUND,
					      "%s names '%s', which does not exist", f->who,
					      f->rel);
		else if (f->serr)
			err = quire_error_set(f->serr == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
					      "%s: cannot read '%s': %s", f->who, f->rel,
					      strerror(f->serr));
		else if (f->herr)
			err = quire_error_set(f->herr, "%s", f->hmsg);
		else if (f->hashed && l->store)
			err = quire_store_stat_put_at(l->store, f->rel, f->size, f->mtime, f->ino,
						      &f->d, f->stat_ns);
		if (err)
			break;
		p->files[p->nfiles] = (struct quire_pfile){ f->rel, f->d };
		*slot = (uint32_t)++p->nfiles;
		ft->named[ft->nnamed++] = *slot - 1;
	}
	return err;
}

void quire__project_dim_counts(const struct quire_project *p, const struct quire_producer *pr,
			       long long *counts)
{
	for (int d = 0; d < pr->ndims; d++)
		counts[d] = json_integer_value(
			json_object_get(p->inputs, p->bp->inputs[pr->dims[d].input].name));
}

int quire_project_instance_count(const struct quire_project *p, size_t pi, size_t *out)
{
	const struct quire_producer *pr = &p->bp->producers[pi];
	long long counts[QUIRE_MAX_DIMS];
	quire__project_dim_counts(p, pr, counts);
	size_t n = 1;
	for (int d = 0; d < pr->ndims; d++) {
		if (counts[d] <= 0) {
			n = 0;
			break;
		}
		if ((unsigned long long)counts[d] > QUIRE_MAX_INSTANCES / n)
			return quire_error_set(
				QUIRE_EINVALID,
				"%s: producer '%s' would have more than %llu instances "
				"with these inputs (%s is %lld)",
				p->inputs_file, pr->name, (unsigned long long)QUIRE_MAX_INSTANCES,
				p->bp->inputs[pr->dims[d].input].name, counts[d]);
		n *= (size_t)counts[d];
	}
	*out = n;
	return 0;
}

struct hash_each {
	struct hlist *l;
	const struct quire_producer *pr;
	const char *who;
	struct quire_buf path;
};

static int hash_instance(void *ud, const long long *idx)
{
	struct hash_each *he = ud;
	quire_buf_reset(&he->path);
	quire_producer_prompt_path_add(he->pr, idx, &he->path);
	hlist_add(he->l, quire__arena_copy(&he->l->p->ftab->paths, he->path.ptr, he->path.len),
		  he->who);
	return 0;
}

/* Adds a file named once (a project file, a shared prompt, a schema). */
static void hash_named(struct hlist *l, const char *rel, const char *who)
{
	hlist_add(l, quire__arena_copy(&l->p->ftab->paths, rel, strlen(rel)), who);
}

int quire_project_hash_files(struct quire_project *p, struct quire_store *store)
{
	quire__pfiles_free(p->ftab);
	free(p->files);
	p->files = NULL;
	p->nfiles = 0;
	struct quire__pfiles *ft = p->ftab = quire__xcalloc(1, sizeof(*p->ftab));
	ft->first = quire__xcalloc(p->bp->nproducers + 1, sizeof(*ft->first));
	ft->counts = quire__xcalloc(p->bp->nproducers + 1, sizeof(*ft->counts));
	struct hlist l = { .p = p, .store = store };
	/* Sized once: the three project files, the file inputs, then each producer's prompts
	 * and schema. */
	l.alloc = 3 + json_object_size(p->input_text);
	for (size_t i = 0; i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		size_t n = 1;
		if (pr->prompt && pr->prompt_per_instance) {
			int cerr = quire_project_instance_count(p, i, &n);
			if (cerr) {
				quire__pfiles_free(p->ftab);
				p->ftab = NULL;
				return cerr;
			}
		}
		l.alloc += n + 1;
	}
	l.v = quire__xcalloc_big(l.alloc, sizeof(*l.v));
	l.rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char **whos = quire__xcalloc(p->bp->nproducers + 1, sizeof(char *));
	hash_named(&l, QUIRE_PROJECT_FILE, "project");
	hash_named(&l, p->blueprint_file, "project");
	hash_named(&l, p->inputs_file, "project");
	/* A file input's file is kept with each run like a prompt: a rewind restores it. */
	const char *fname;
	json_t *fv;
	json_object_foreach(p->input_text, fname, fv) {
		(void)fv;
		const char *rel = json_string_value(json_object_get(p->inputs, fname));
		if (rel)
			hash_named(&l, rel, "project");
	}
	int err = 0;
	for (size_t i = 0; !err && i < p->bp->nproducers; i++) {
		const struct quire_producer *pr = &p->bp->producers[i];
		whos[i] = quire__xasprintf("%s:%d:%d: producer '%s'", p->bp->file, pr->line,
					   pr->col, pr->name);
		ft->first[i] = SIZE_MAX;
		if (pr->prompt && pr->prompt_per_instance) {
			struct hash_each he = { &l, pr, whos[i], QUIRE_BUF_INIT };
			ft->first[i] = l.n;
			quire__project_dim_counts(p, pr, ft->counts[i]);
			err = quire_producer_each_index(pr, ft->counts[i], hash_instance, &he);
			quire_buf_release(&he.path);
		} else if (pr->prompt) {
			hash_named(&l, pr->prompt, whos[i]);
		}
		if (pr->output.schema)
			hash_named(&l, pr->output.schema, whos[i]);
	}
	if (!err)
		err = hfile_record_all(p, &l);
	for (size_t k = 0; k < l.n; k++)
		free(l.v[k].hmsg);
	free(l.v);
	for (size_t i = 0; i < p->bp->nproducers; i++)
		free(whos[i]);
	free(whos);
	if (l.rootfd >= 0)
		close(l.rootfd);
	if (err) {
		/* No half-made table: lookups find nothing, as before hashing. */
		quire__pfiles_free(p->ftab);
		p->ftab = NULL;
		free(p->files);
		p->files = NULL;
		p->nfiles = 0;
	}
	return err;
}
