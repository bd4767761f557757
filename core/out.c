/* Materialises a manifest into out/, touching only files whose content changed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/id.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/store.h"
#include "util.h"

char *quire_out_name(const char *id, const json_t *entry)
{
	return quire_id_filename(id, json_string_value(json_object_get(entry, "ext")));
}

/* 1 when path is a regular file (not a symlink) holding exactly the blob's content. The stat
 * cache (when given) answers for files unchanged since they were last hashed, so a no-op run
 * does not read out/. */
static int up_to_date(struct quire_store *store, int dirfd, const char *name, const char *rel,
		      const char *path, const char *digest, json_int_t size, struct stat *stp)
{
	struct stat st;
	/* Relative to out/ held open: one name to walk, not the whole path. */
	int rc = dirfd >= 0 && !strchr(name, '/') ? fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)
						  : lstat(path, &st);
	if (rc < 0)
		stp->st_mode = 0; /* nothing there */
	else
		*stp = st;
	if (rc < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (size >= 0 && st.st_size != size)
		return 0;
	struct quire_digest d;
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (store && quire_store_stat_get(store, rel, (int64_t)st.st_size, mtime,
					  (int64_t)st.st_ino, &d))
		return !strcmp(d.s, digest);
	if (quire_hash_file(path, &d, NULL) < 0) {
		quire_error_clear();
		return 0;
	}
	if (store && quire_store_stat_put(store, rel, (int64_t)st.st_size, mtime, (int64_t)st.st_ino,
					  &d) < 0)
		quire_error_clear();
	return !strcmp(d.s, digest);
}

int quire_out_sync(const struct quire_project *p, const json_t *m, const json_t *prev,
		   size_t *written, size_t *removed)
{
	return quire_out_sync_cached(p, NULL, m, prev, written, removed);
}

/* One out/ file to (re)write. */
struct put {
	char *path;
	const char *digest;
	int exists; /* something is there now (else it is created without a temp file) */
	int err;
	char *msg;
};

struct putter {
	const struct quire_project *p;
	const char *dir;
	struct put *v;
	size_t n;
	_Atomic size_t next;
};

static void put_one(const struct putter *w, struct put *t)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_blob_read(w->p->qdir, t->digest, &b, 0, 0);
	/* rename() replaces a symlink itself, so nothing outside out/ is written. */
	if (!err && (t->exists || quire_fs_create_new(w->dir, t->path, b.ptr, b.len, 0644) < 0))
		err = quire_fs_replace(t->path, b.ptr, b.len, 0644);
	quire_buf_release(&b);
	if (err) {
		t->err = err;
		t->msg = quire__xstrdup(quire_error_last());
	}
}

static void *putter_main(void *arg)
{
	struct putter *w = arg;
	for (size_t k; (k = atomic_fetch_add(&w->next, 1)) < w->n;)
		put_one(w, &w->v[k]);
	return NULL;
}

/* Writes the files on a few threads: small files are bound by system calls, and on one
 * thread 10,000 of them were a third of a full mock run's time. */
static void put_all(struct putter *w)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = cpus < 1 ? 1 : cpus > 4 ? 4 : (size_t)cpus;
	if (nt > (w->n + 63) / 64)
		nt = (w->n + 63) / 64;
	pthread_t th[4];
	size_t started = 0;
	for (size_t t = 1; t < nt; t++, started++)
		if (pthread_create(&th[t - 1], NULL, putter_main, w) != 0)
			break;
	putter_main(w);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
}

int quire_out_sync_cached(const struct quire_project *p, struct quire_store *store,
			  const json_t *m, const json_t *prev, size_t *written, size_t *removed)
{
	char *dir = quire__xasprintf("%s/%s", p->root, p->out_dir);
	int err = quire_fs_mkdirs(dir, 0755);
	*written = *removed = 0;
	if (err)
		goto out;
	const json_t *arts = json_object_get(m, "artefacts");
	const char *id;
	json_t *e;
	struct putter w = {.p = p, .dir = dir};
	size_t alloc = 0;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	json_object_foreach((json_t *)arts, id, e) {
		const char *digest = json_string_value(json_object_get(e, "digest"));
		if (!digest)
			continue;
		char *name = quire_out_name(id, e);
		char *path = quire__path_join(dir, name);
		char *rel = quire__path_join(p->out_dir, name);
		json_int_t size = json_object_get(e, "size") ? json_integer_value(json_object_get(e, "size")) : -1;
		struct stat st;
		if (!up_to_date(store, dirfd, name, rel, path, digest, size, &st)) {
			QUIRE_GROW(w.v, alloc, w.n + 1);
			w.v[w.n++] = (struct put){path, digest, st.st_mode != 0, 0, NULL};
			path = NULL;
		}
		free(name);
		free(path);
		free(rel);
	}
	if (dirfd >= 0)
		close(dirfd);
	put_all(&w);
	for (size_t k = 0; k < w.n; k++) {
		if (w.v[k].err && !err)
			err = quire_error_set(w.v[k].err, "%s", w.v[k].msg);
		else if (!w.v[k].err)
			(*written)++;
		free(w.v[k].path);
		free(w.v[k].msg);
	}
	free(w.v);
	if (err)
		goto out;
	const json_t *parts = json_object_get(prev, "artefacts");
	json_object_foreach((json_t *)parts, id, e) {
		if (!json_string_value(json_object_get(e, "digest")))
			continue;
		char *name = quire_out_name(id, e);
		const json_t *now = json_object_get(arts, id);
		char *nowname = now && json_object_get(now, "digest") ? quire_out_name(id, now) : NULL;
		if (!nowname || strcmp(nowname, name)) {
			char *path = quire__path_join(dir, name);
			struct stat st;
			if (lstat(path, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
			    unlink(path) == 0)
				(*removed)++;
			free(path);
		}
		free(name);
		free(nowname);
	}
	/* One sync for every file written instead of two fsyncs each. */
	if (*written)
		err = quire_fs_sync_fs(dir);
out:
	free(dir);
	return err;
}
