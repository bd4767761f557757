/* Materialises a manifest into out/, touching only files whose content changed. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob_pack.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/id.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/plan.h"
#include "quire/project.h"
#include "quire/store.h"
#include "util.h"

char *quire_out_name(const char *id, const json_t *entry)
{
	return quire_id_filename(id, json_string_value(json_object_get(entry, "ext")));
}

/* One artefact's out/ file, checked against the blob it must hold: 96 bytes, so that 10,000
 * of them are not put on a huge page (an int per flag and the digest as text were 176). */
struct item {
	const char *id;
	const char *digest;
	json_int_t size;	   /* -1: not recorded */
	const char *rel;	   /* "out/NAME" (the stat cache's key), in the sync's arena */
	int64_t fsize, mtime, ino; /* what was there (have_stat) */
	unsigned char have_stat, exists, regular, ok;
	unsigned char hashed;  /* hashed now: d goes into the stat cache */
	unsigned char trusted; /* found in place by the check before the run (quire_out_seen):
				* not looked at */
	unsigned char have_d;  /* d holds the file's digest (hashed, or from the stat cache) */
	unsigned char d[32];
};

struct checker {
	struct quire_store *store;
	const char *dir;
	int dirfd;
	size_t name_at;	 /* where NAME starts in each item's rel */
	int64_t stat_ns; /* before any stat: when the stat cache records what was hashed */
	struct item *v;
	size_t n;
	_Atomic size_t next;
};

/* t's file's digest, which it has (have_d). */
static struct quire_digest item_digest(const struct item *t)
{
	struct quire_digest d;
	memcpy(d.s, "sha256:", 7);
	quire_bytes_hex(t->d, d.s + 7);
	return d;
}

/* Whether it is a regular file (not a symlink) holding exactly the blob's content. The stat
 * cache answers for files unchanged since they were last hashed, so a no-op run does not
 * read out/. Safe on several threads: nothing is written (see check_all). */
static void check_one(const struct checker *c, struct item *t)
{
	if (t->trusted) {
		t->exists = t->regular = t->ok = 1;
		return;
	}
	struct stat st;
	char *path = NULL;
	const char *name = t->rel + c->name_at;
	/* Relative to out/ held open: one name to walk, not the whole path. */
	int rc = c->dirfd >= 0 && !strchr(name, '/')
			 ? fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW)
			 : lstat(path = quire__path_join(c->dir, name), &st);
	t->exists = rc == 0;
	t->regular = rc == 0 && S_ISREG(st.st_mode);
	if (rc < 0 || !S_ISREG(st.st_mode) || (t->size >= 0 && st.st_size != t->size))
		goto out;
	t->have_stat = 1;
	t->fsize = (int64_t)st.st_size;
	t->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	t->ino = (int64_t)st.st_ino;
	struct quire_digest d;
	if (!c->store || !quire_store_stat_get(c->store, t->rel, t->fsize, t->mtime, t->ino, &d)) {
		if (!path)
			path = quire__path_join(c->dir, name);
		if (quire_hash_file(path, &d, NULL) < 0) {
			quire_error_clear();
			goto out;
		}
		t->hashed = 1;
	}
	t->have_d = quire_hex_bytes(d.s + 7, t->d);
	t->ok = !strcmp(d.s, t->digest);
out:
	free(path);
}

static void *checker_main(void *arg)
{
	struct checker *c = arg;
	/* In blocks: one atomic per 64 files. */
	for (size_t k; (k = atomic_fetch_add(&c->next, 64)) < c->n;)
		for (size_t e = k + 64 < c->n ? k + 64 : c->n; k < e; k++)
			check_one(c, &c->v[k]);
	return NULL;
}

/* Checks every file on two threads (a no-op run's out/ check is a stat and a stat-cache
 * lookup per file), then records the files it had to hash in the stat cache, here, as of a
 * time before the first stat (earlier than each file's own: never trusted sooner). */
static void check_all(struct checker *c)
{
	if (c->store)
		quire_store_stat_load(c->store);
	c->stat_ns = quire__now_ns();
	quire__run_parallel(checker_main, c, c->n >= 256 ? 2 : 1);
	for (size_t k = 0; c->store && k < c->n; k++) {
		const struct item *t = &c->v[k];
		if (!t->hashed || !t->have_d)
			continue;
		struct quire_digest d = item_digest(t);
		if (quire_store_stat_put_at(c->store, t->rel, t->fsize, t->mtime, t->ino, &d,
					    c->stat_ns) < 0)
			quire_error_clear();
	}
}

struct quire_out_seen {
	struct quire__arena names;
	/* sorted by id, as quire_manifest_outputs lists them; rel the file's name ("out/...") */
	const char **id, **digest, **rel;
	size_t n;
};

void quire_out_seen_free(struct quire_out_seen *s)
{
	if (!s)
		return;
	quire__arena_release(&s->names);
	free(s->id);
	free(s->digest);
	free(s->rel);
	free(s);
}

/* Keeps the items of a finished check that held what they should. */
static struct quire_out_seen *seen_of(const struct item *v, size_t n)
{
	struct quire_out_seen *s = quire__xcalloc(1, sizeof(*s));
	s->id = quire__xcalloc(n + 1, sizeof(*s->id));
	s->digest = quire__xcalloc(n + 1, sizeof(*s->digest));
	s->rel = quire__xcalloc(n + 1, sizeof(*s->rel));
	for (size_t k = 0; k < n; k++)
		if (v[k].ok) {
			s->id[s->n] = quire__arena_copy(&s->names, v[k].id, strlen(v[k].id));
			s->rel[s->n] = quire__arena_copy(&s->names, v[k].rel, strlen(v[k].rel));
			s->digest[s->n++] =
				quire__arena_copy(&s->names, v[k].digest, strlen(v[k].digest));
		}
	return s;
}

/* Marks the items (sorted by id) that seen found in place, under the name and with the
 * digest they need now (an ext changed, the output the same: the new name was not looked
 * at). */
static void trust_seen(struct item *v, size_t n, const struct quire_out_seen *s)
{
	for (size_t k = 0, j = 0; s && k < n; k++) {
		while (j < s->n && strcmp(s->id[j], v[k].id) < 0)
			j++;
		v[k].trusted = j < s->n && !strcmp(s->id[j], v[k].id) &&
			       !strcmp(s->digest[j], v[k].digest) && !strcmp(s->rel[j], v[k].rel);
	}
}

/* The action cache's output digests, read once when many files ask: each ask alone scans the
 * cache, and 10,000 files out of step with their revision (a rewind killed before it wrote
 * out/) made every command take hours at 10k. */
struct acdigests {
	size_t asked;
	int loaded;
	char **v;
	size_t n, alloc;
};

static void acd_add(void *ud, const char *digest)
{
	struct acdigests *x = ud;
	if (!digest)
		return;
	QUIRE_GROW(x->v, x->alloc, x->n + 1);
	x->v[x->n++] = quire__xstrdup(digest);
}

static void acd_release(struct acdigests *x)
{
	for (size_t k = 0; k < x->n; k++)
		free(x->v[k]);
	free(x->v);
	*x = (struct acdigests){ 0 };
}

/* What quire can account for in out/: the contents a file there may hold and still be
 * replaced or removed without losing anything. */
struct accounted {
	const struct quire_project *p;
	struct quire_store *store; /* the action cache's outputs (may be NULL) */
	struct acdigests *acd;	   /* what the store's action cache holds, once asked often */
	const char **known;	   /* sorted: the outputs of the revisions being synced */
	size_t nknown;
	const char *const *allowed; /* an adoption in progress (its blob is stored after) */
	size_t nallowed;
	int may_store; /* a writer: an intact copy of a lost blob is taken back */
};

/* Whether an output of the action cache has digest d: asked of the store a few times, then
 * from all of its digests read at once. A digest list that could not be read whole answers
 * no for the rest (a file is then kept as a writer's, never overwritten). */
static int ac_has(const struct accounted *a, const char *d)
{
	struct acdigests *x = a->acd;
	if (!a->store)
		return 0;
	if (!x || (!x->loaded && ++x->asked <= 8))
		return quire_store_ac_has_digest(a->store, d);
	if (!x->loaded) {
		x->loaded = 1;
		if (quire_store_ac_digests(a->store, acd_add, x))
			quire_error_clear();
		if (x->n)
			qsort(x->v, x->n, sizeof(*x->v), quire__cmp_strp);
	}
	return x->n && bsearch(&d, x->v, x->n, sizeof(*x->v), quire__cmp_strp) != NULL;
}

static void known_add(struct accounted *a, size_t *alloc, const struct quire_mout *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (v[k].digest) {
			QUIRE_GROW(a->known, *alloc, a->nknown + 1);
			a->known[a->nknown++] = v[k].digest;
		}
	if (a->nknown) /* known is NULL until the first digest: qsort's argument is nonnull */
		qsort(a->known, a->nknown, sizeof(*a->known), quire__cmp_strp);
}

/* Whether the regular file at path, which is not what the new revision puts there, holds
 * content quire can account for: the output it was written for (was, may be NULL), an output
 * of the revisions at hand or of the action cache whose blob the store keeps, or an adoption
 * in progress. Anything else is a writer's (a hand edit, a merge's conflict markers) and is
 * never overwritten or removed; a blob that is merely in the store does not count (gc removes
 * what nothing refers to). d: its digest when known. */
static int replaceable(const struct accounted *a, const char *path, const char *was,
		       const struct quire_digest *d)
{
	struct quire_digest got;
	if (!d) {
		int err = quire_hash_file(path, &got, NULL);
		quire_error_clear();
		if (err == QUIRE_ENOTFOUND)
			return 1; /* gone since the check: nothing of it to keep */
		if (err)
			return 0; /* unreadable: kept, never guessed at */
		d = &got;
	}
	if (was && !strcmp(d->s, was)) {
		if (quire_blob_exists(a->p->qdir, was))
			return 1;
		/* Its blob is gone (removed as corrupt, a fresh clone): this file is an intact
		 * copy, taken back into the store before anything replaces it. */
		if (!a->may_store)
			return 1;
		struct quire_digest back;
		int ok = quire_blob_put_file(a->p->qdir, path, &back, NULL) == 0 &&
			 !strcmp(back.s, was);
		quire_error_clear();
		return ok;
	}
	for (size_t k = 0; k < a->nallowed; k++)
		if (!strcmp(a->allowed[k], d->s))
			return 1;
	const char *key = d->s;
	int known =
		a->nknown && bsearch(&key, a->known, a->nknown, sizeof(*a->known), quire__cmp_strp);
	if (!known)
		known = ac_has(a, d->s);
	return known && quire_blob_exists(a->p->qdir, d->s);
}

/* Whether the file at path holds the markers git leaves in a file it could not merge. */
static int conflict_markers(const char *path)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int found = quire_fs_read(path, &b, QUIRE_TEXT_CAP) == 0 &&
		    (!strncmp(b.ptr, "<<<<<<< ", 8) || strstr(b.ptr, "\n<<<<<<< ")) &&
		    strstr(b.ptr, "\n>>>>>>> ");
	quire_buf_release(&b);
	quire_error_clear();
	return found;
}

static void add_conflict(struct quire_out_conflict **v, size_t *n, size_t *alloc,
			 const char *out_dir, const char *name, const char *id, int gone,
			 const char *now, const char *path)
{
	QUIRE_GROW(*v, *alloc, *n + 1);
	(*v)[(*n)++] = (struct quire_out_conflict){
		quire__xasprintf("%s/%s", out_dir, name), quire__xstrdup(id), gone,
		now ? quire__xasprintf("%s/%s", out_dir, now) : NULL, conflict_markers(path)
	};
}

/* What the project's blueprint now makes of a recorded output (id, ext): *gone when its
 * producer is no more; else the file name it is now written under when its extension
 * changed (malloc'd), or NULL. The advice for a hand edit depends on it. */
static char *fate(const struct quire_project *p, const char *id, const char *ext, int *gone)
{
	*gone = 0;
	if (!p->bp)
		return NULL;
	size_t len = strcspn(id, "[");
	char *name = quire__xstrndup(id, len);
	int k = quire_blueprint_producer(p->bp, name);
	free(name);
	if (k < 0) {
		*gone = 1;
		return NULL;
	}
	const char *newext = p->bp->producers[k].output.ext;
	if (!strcmp(newext ? newext : "", ext ? ext : ""))
		return NULL;
	return quire_id_filename(id, newext);
}

void quire_out_conflicts_free(struct quire_out_conflict *c, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(c[k].file);
		free(c[k].id);
		free(c[k].now);
	}
	free(c);
}

int quire_out_conflict_error(const struct quire_out_conflict *c, size_t n)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_printf(&b,
			 "%zu file%s in out/ hold%s text quire did not write (a hand edit?); "
			 "nothing was overwritten",
			 n, n == 1 ? "" : "s", n == 1 ? "s" : "");
	for (size_t k = 0; k < n && k < 20; k++) {
		if (c[k].markers)
			quire_buf_printf(
				&b,
				"\n  %s: holds git's conflict markers (a merge without "
				"quire's merge driver for out/, which 'quire init' sets up "
				"in this clone); take quire's version: rm '%s' (the next "
				"run writes it back), then git add it",
				c[k].file, c[k].file);
		else if (c[k].gone)
			quire_buf_printf(&b,
					 "\n  %s: %s is no longer built; to keep the text move the "
					 "file out of out/, to discard it: rm '%s'",
					 c[k].file, c[k].id, c[k].file);
		else if (c[k].now)
			quire_buf_printf(&b,
					 "\n  %s: %s is now written as %s; keep this text as it: "
					 "quire edit '%s' --file '%s'; discard it: rm '%s'",
					 c[k].file, c[k].id, c[k].now, c[k].id, c[k].file,
					 c[k].file);
		else
			quire_buf_printf(
				&b,
				"\n  %s: keep it as %s: quire edit '%s' --file '%s'; "
				"discard it: rm '%s' (the next run writes quire's version back)",
				c[k].file, c[k].id, c[k].id, c[k].file, c[k].file);
	}
	if (n > 20)
		quire_buf_printf(&b, "\n  ... and %zu more", n - 20);
	int err = quire_error_set(QUIRE_ECONFLICT, "%s", b.ptr);
	quire_buf_release(&b);
	return err;
}

/* Refuses an out directory reached through a link (out -> /somewhere): quire writes only
 * inside the project. Each component is looked at itself, not followed. */
static int check_out_dir(const struct quire_project *p)
{
	char *rel = quire__xstrdup(p->out_dir);
	int err = 0;
	for (char *c = rel; !err && c;) {
		char *slash = strchr(c, '/');
		if (slash)
			*slash = '\0';
		char *path = quire__path_join(p->root, rel);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			err = quire_error_set(
				QUIRE_EINVALID,
				"'%s' is a symbolic link: quire writes out/ only inside the "
				"project; make it a directory (or set 'out:' in %s)",
				rel, QUIRE_PROJECT_FILE);
		free(path);
		if (slash)
			*slash = '/';
		c = slash ? slash + 1 : NULL;
	}
	free(rel);
	return err;
}

static int check_seen(const struct quire_project *p, struct quire_store *store, const json_t *m,
		      const struct quire_mbase *base, const char *const *allowed, size_t nallowed,
		      struct quire_out_conflict **out, size_t *n, struct quire_out_seen **seen);

int quire_out_check(const struct quire_project *p, struct quire_store *store, const json_t *m,
		    const struct quire_mbase *base, const char *const *allowed, size_t nallowed,
		    struct quire_out_conflict **out, size_t *n)
{
	return check_seen(p, store, m, base, allowed, nallowed, out, n, NULL);
}

static int check_seen(const struct quire_project *p, struct quire_store *store, const json_t *m,
		      const struct quire_mbase *base, const char *const *allowed, size_t nallowed,
		      struct quire_out_conflict **out, size_t *n, struct quire_out_seen **seen)
{
	*out = NULL;
	*n = 0;
	int derr = check_out_dir(p);
	if (derr)
		return derr;
	char *dir = quire__xasprintf("%s/%s", p->root, p->out_dir);
	struct quire_mout *now = NULL;
	size_t nnow = quire_manifest_outputs(m, base, &now), alloc = 0;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct checker c = {
		.store = store, .dir = dir, .dirfd = dirfd, .name_at = strlen(p->out_dir) + 1
	};
	struct quire__arena names = { 0 };
	struct quire_buf nb = QUIRE_BUF_INIT;
	c.v = quire__xcalloc_big(nnow + 1, sizeof(*c.v));
	for (size_t k = 0; k < nnow; k++) {
		struct item *t = &c.v[c.n++];
		t->id = now[k].id;
		t->digest = now[k].digest;
		t->size = now[k].size;
		quire_buf_reset(&nb);
		quire_buf_puts(&nb, p->out_dir);
		quire_buf_putc(&nb, '/');
		quire_id_filename_add(&nb, now[k].id, now[k].ext);
		t->rel = quire__arena_copy(&names, nb.ptr, nb.len);
	}
	quire_buf_release(&nb);
	/* A check changes nothing, not even the stat cache; a command's check before it starts
	 * (seen) records what it had to read, as the sync after would have: the sync trusts what
	 * this check found in place, so nothing else would, and every run would read every
	 * output again. */
	if (seen)
		check_all(&c);
	else {
		if (store)
			quire_store_stat_load(store);
		quire__run_parallel(checker_main, &c, c.n >= 256 ? 2 : 1);
	}
	struct acdigests acd = { 0 };
	struct accounted acc = {
		.p = p, .store = store, .acd = &acd, .allowed = allowed, .nallowed = nallowed
	};
	size_t kalloc = 0;
	known_add(&acc, &kalloc, now, nnow);
	for (size_t k = 0; k < c.n; k++) {
		struct item *t = &c.v[k];
		if (t->ok || !t->regular)
			continue;
		const char *name = t->rel + c.name_at;
		char *path = quire__path_join(dir, name);
		struct quire_digest td = t->have_d ? item_digest(t) : (struct quire_digest){ "" };
		if (!replaceable(&acc, path, t->digest, t->have_d ? &td : NULL)) {
			int gone = 0;
			char *nowname = fate(p, t->id, now[k].ext, &gone);
			add_conflict(out, n, &alloc, p->out_dir, name, t->id, gone, nowname, path);
			free(nowname);
		}
		free(path);
	}
	if (seen)
		*seen = seen_of(c.v, c.n);
	free(acc.known);
	acd_release(&acd);
	free(c.v);
	quire__arena_release(&names);
	if (dirfd >= 0)
		close(dirfd);
	free(now);
	free(dir);
	return 0;
}

int quire_out_preflight_seen(const struct quire_project *p, struct quire_store *store,
			     const json_t *m, const struct quire_mbase *base,
			     const char *const *allowed, size_t nallowed,
			     struct quire_out_seen **seen)
{
	struct quire_out_conflict *c = NULL;
	size_t n = 0;
	if (seen)
		*seen = NULL;
	int err = check_seen(p, store, m, base, allowed, nallowed, &c, &n, seen);
	if (!err && n)
		err = quire_out_conflict_error(c, n);
	quire_out_conflicts_free(c, n);
	if (err && seen) {
		quire_out_seen_free(*seen);
		*seen = NULL;
	}
	return err;
}

int quire_out_preflight(const struct quire_project *p, struct quire_store *store, const json_t *m,
			const struct quire_mbase *base, const char *const *allowed, size_t nallowed)
{
	return quire_out_preflight_seen(p, store, m, base, allowed, nallowed, NULL);
}

int quire_out_adopt(const struct quire_project *p, const struct quire_plan *plan, size_t *adopted)
{
	*adopted = 0;
	/* Only when the plan found something missing: a normal run pays nothing here. Then
	 * every recorded output is looked at, not only those found missing: a node below a
	 * missing one was judged by its upstream, not by its own blob (a clone misses all). */
	size_t nmissing = 0;
	for (size_t i = 0; i < plan->n; i++)
		nmissing += plan->nodes[i].missing;
	if (!nmissing)
		return 0;
	int err = check_out_dir(p);
	struct quire_buf nb = QUIRE_BUF_INIT;
	for (size_t i = 0; !err && i < plan->n; i++) {
		const struct quire_node *n = &plan->nodes[i];
		const struct quire_mrow *row = n->entry;
		if (!row || !row->digest || quire_blob_exists(p->qdir, row->digest) ||
		    json_object_get(p->in_out, row->digest))
			continue;
		quire_buf_reset(&nb);
		quire_buf_printf(&nb, "%s/%s/", p->root, p->out_dir);
		quire_id_filename_add(&nb, row->id, row->ext);
		struct stat st;
		if (lstat(nb.ptr, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (row->size >= 0 && st.st_size != row->size))
			continue;
		/* Hashed, never trusted by name: only the exact bytes are taken. */
		struct quire_digest d;
		if (quire_hash_file(nb.ptr, &d, NULL) || strcmp(d.s, row->digest)) {
			quire_error_clear();
			continue;
		}
		if (p->no_cache_writes) {
			/* Writing nothing (run --dry-run): known to be in out/, as the run will
			 * take it. */
			struct quire_project *mp = (struct quire_project *)p;
			if (!mp->in_out)
				mp->in_out = json_object();
			json_object_set_new(mp->in_out, row->digest, json_string(nb.ptr));
			(*adopted)++;
		} else if (!(err = quire_blob_put_file(p->qdir, nb.ptr, &d, NULL))) {
			(*adopted)++;
		}
	}
	quire_buf_release(&nb);
	return err;
}

int quire_out_sync(const struct quire_project *p, const json_t *m, const json_t *prev,
		   size_t *written, size_t *removed)
{
	/* The store's action cache says which older outputs are quire's (out/ as a killed run
	 * left it): without it they would be taken for a writer's text. */
	struct quire_store *store = NULL;
	if (quire_store_open(&store, p->qdir, 1))
		quire_error_clear();
	int err = quire_out_sync_cached(p, store, m, NULL, prev, NULL, NULL, written, removed);
	quire_store_close(store);
	return err;
}

/* One out/ file to (re)write. */
struct put {
	char *path;
	const char *id;
	const char *digest;
	int exists; /* something is there now (else it is created without a temp file) */
	int err;
	char *msg;
	long long size; /* the output's, -1 when not recorded */
};

struct putter {
	const struct quire_project *p;
	const char *dir;
	struct put *v;
	size_t n;
	_Atomic size_t next;
};

/* Copies a blob the store keeps as a file of its own (a large one) into t's file a piece at
 * a time, hashed on the way, and puts it in place only when it hashes to its digest: an
 * output of hundreds of MB (audio, a Book) is not held in memory to be written, nor a 6 MB
 * one in an 8 MB buffer at a first build's peak. A new file is written unnamed and linked
 * under its name (nothing half-written is ever seen in out/, nor left there by a crash), a
 * changed one through a temp file renamed over it. 0 when the blob is no such file (packed,
 * missing, or small: the usual read says which, the pack first), else 1 with t's error set
 * on failure. */
static int put_streamed(const struct putter *w, struct put *t)
{
	/* A digest is a name in the store only when it is one (a revision's may be damaged or
	 * hostile): anything else is refused by the usual read. */
	if (!quire_digest_valid(t->digest))
		return 0;
	char *src = quire_blob_path(w->p->qdir, t->digest);
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (in >= 0 &&
	    (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < QUIRE_PACK_MAX)) {
		close(in);
		in = -1;
	}
	if (in < 0) {
		free(src);
		return 0;
	}
	int fd = -1, err = 0;
	struct quire_fs_stream s = { .fd = -1 };
#ifdef O_TMPFILE
	if (!t->exists)
		fd = open(w->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
#endif
	if (fd < 0) {
		err = quire_fs_stream_open(&s, t->path, 0644);
		s.lazy = 1; /* as every other out/ file: durable at the sync after them all */
	}
	struct quire_hasher *h = quire_hasher_new();
	char buf[65536];
	size_t off = 0;
	while (!err) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = quire_error_set(QUIRE_EIO, "cannot read '%s': %s", src,
					      strerror(errno));
		if (n <= 0)
			break;
		quire_hasher_update(h, buf, (size_t)n);
		if (fd < 0)
			err = quire_fs_stream_write(&s, buf, (size_t)n);
		else if (quire_fs_pwrite_all(fd, buf, (size_t)n, off) < 0)
			err = quire_error_set(quire__io_code(errno), "cannot write '%s': %s",
					      t->path, strerror(errno));
		off += (size_t)n;
	}
	close(in);
	free(src);
	struct quire_digest d;
	quire_hasher_final(h, &d);
	quire_hasher_free(h);
	if (!err && strcmp(d.s, t->digest)) {
		quire_error_set(QUIRE_ECORRUPT, "blob %s is corrupt (its content hashes to %s)",
				t->digest, d.s);
		err = quire_blob_damaged(t->id);
	}
	if (fd >= 0) {
		if (!err)
			err = quire_fs_link_new(fd, off, t->path);
		close(fd); /* an unnamed file not linked is freed with its descriptor */
	} else if (err) {
		quire_fs_stream_abort(&s);
	} else {
		err = quire_fs_stream_commit(&s);
	}
	if (err) {
		t->err = err;
		t->msg = quire__xstrdup(quire_error_last());
	}
	return 1;
}

/* Writes t's file from b, the blob as read in a group (err that read's code); with no b, or
 * when the group's read failed, the blob is read here, alone (for the store's reason, or
 * for bytes read anew). */
static void put_one(const struct putter *w, struct put *t, const struct quire_buf *b, int err)
{
	struct quire_buf own = QUIRE_BUF_INIT;
	if (!b && put_streamed(w, t))
		return;
	if (!b || err) {
		/* Verified: a damaged blob must not become a writer's file. */
		err = quire_blob_read(w->p->qdir, t->digest, &own, 0, 1);
		b = &own;
	}
	if (err == QUIRE_ECORRUPT || err == QUIRE_ENOTFOUND)
		err = quire_blob_damaged(t->id);
	/* rename() replaces a symlink itself, so nothing outside out/ is written. */
	if (!err && (t->exists || quire_fs_create_new(w->dir, t->path, b->ptr, b->len, 0644) < 0))
		err = quire_fs_replace(t->path, b->ptr, b->len, 0644);
	quire_buf_release(&own);
	if (err) {
		t->err = err;
		t->msg = quire__xstrdup(quire_error_last());
	}
}

/* Files in groups: the packed blobs of a group are read under one lock and one read
 * transaction (read one by one, four threads queued on the pack's lock); a large one is
 * copied alone when its file is written (a group of them held at once would be the largest
 * outputs sixteen times over). */
#define PUT_CHUNK 16

static void *putter_main(void *arg)
{
	struct putter *w = arg;
	const char *digests[PUT_CHUNK];
	long long sizes[PUT_CHUNK];
	struct quire_buf bufs[PUT_CHUNK];
	int errs[PUT_CHUNK];
	size_t at[PUT_CHUNK];
	for (size_t k; (k = atomic_fetch_add(&w->next, PUT_CHUNK)) < w->n;) {
		size_t m = w->n - k < PUT_CHUNK ? w->n - k : PUT_CHUNK, ns = 0;
		for (size_t x = 0; x < m; x++)
			if (w->v[k + x].size >= 0 && w->v[k + x].size < QUIRE_PACK_MAX) {
				at[ns] = k + x;
				digests[ns] = w->v[k + x].digest;
				sizes[ns] = w->v[k + x].size;
				bufs[ns++] = (struct quire_buf)QUIRE_BUF_INIT;
			}
		/* Verified: a damaged blob must not become a writer's file. */
		quire_blob_read_many(w->p->qdir, -1, digests, sizes, ns, bufs, 0, errs);
		for (size_t x = 0, y = 0; x < m; x++) {
			if (y < ns && at[y] == k + x) {
				put_one(w, &w->v[k + x], &bufs[y], errs[y]);
				quire_buf_release(&bufs[y++]);
			} else {
				put_one(w, &w->v[k + x], NULL, 0);
			}
		}
	}
	return NULL;
}

/* Writes the files on a few threads: small files are bound by system calls, and on one
 * thread 10,000 of them were a third of a full mock run's time. */
static void put_all(struct putter *w)
{
	size_t nt = (w->n + 63) / 64; /* a thread per 64 files, up to four */
	quire__run_parallel(putter_main, w, nt > 4 ? 4 : nt ? nt : 1);
}

int quire_out_sync_cached(const struct quire_project *p, struct quire_store *store, const json_t *m,
			  const struct quire_mbase *base, const json_t *prev,
			  const struct quire_mbase *prevbase, const struct quire_out_seen *seen,
			  size_t *written, size_t *removed)
{
	char *dir = quire__xasprintf("%s/%s", p->root, p->out_dir);
	int err = check_out_dir(p);
	if (!err)
		err = quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = check_out_dir(p); /* what mkdirs found there */
	struct quire_mout *now = NULL, *then = NULL;
	struct quire_out_conflict *conf = NULL;
	size_t nconf = 0, aconf = 0, nthen = 0, kalloc = 0;
	struct acdigests acd = { 0 };
	struct accounted acc = { .p = p, .store = store, .acd = &acd, .may_store = 1 };
	*written = *removed = 0;
	if (err)
		goto out;
	size_t nnow = quire_manifest_outputs(m, base, &now);
	if (prev || prevbase)
		nthen = quire_manifest_outputs(prev, prevbase, &then);
	known_add(&acc, &kalloc, now, nnow);
	known_add(&acc, &kalloc, then, nthen);
	struct putter w = { .p = p, .dir = dir };
	size_t alloc = 0;
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct checker c = {
		.store = store, .dir = dir, .dirfd = dirfd, .name_at = strlen(p->out_dir) + 1
	};
	/* Names in one arena, paths made only for the files that are hashed or written: three
	 * allocations per artefact were a third of a 100k no-op run's out/ check. */
	struct quire__arena names = { 0 };
	struct quire_buf nb = QUIRE_BUF_INIT;
	c.v = quire__xcalloc_big(nnow + 1, sizeof(*c.v));
	for (size_t k = 0; k < nnow; k++) {
		struct item *t = &c.v[c.n++];
		t->id = now[k].id;
		t->digest = now[k].digest;
		t->size = now[k].size;
		quire_buf_reset(&nb);
		quire_buf_puts(&nb, p->out_dir);
		quire_buf_putc(&nb, '/');
		quire_id_filename_add(&nb, now[k].id, now[k].ext);
		t->rel = quire__arena_copy(&names, nb.ptr, nb.len);
	}
	quire_buf_release(&nb);
	trust_seen(c.v, c.n, seen);
	check_all(&c);
	/* Both lists are sorted by id: the digest each file was written for, by a merge. */
	for (size_t k = 0, j = 0; k < c.n; k++) {
		struct item *t = &c.v[k];
		const char *name = t->rel + c.name_at;
		if (!t->ok && t->regular) {
			while (j < nthen && strcmp(then[j].id, t->id) < 0)
				j++;
			const char *was =
				j < nthen && !strcmp(then[j].id, t->id) ? then[j].digest : NULL;
			char *path = quire__path_join(dir, name);
			struct quire_digest td =
				t->have_d ? item_digest(t) : (struct quire_digest){ "" };
			int keep = !replaceable(&acc, path, was, t->have_d ? &td : NULL);
			if (keep)
				add_conflict(&conf, &nconf, &aconf, p->out_dir, name, t->id, 0,
					     NULL, path);
			free(path);
			if (keep)
				continue;
		}
		if (!t->ok) {
			QUIRE_GROW(w.v, alloc, w.n + 1);
			w.v[w.n++] = (struct put){ quire__path_join(dir, name),
						   t->id,
						   t->digest,
						   t->exists,
						   0,
						   NULL,
						   t->size };
		}
	}
	free(c.v);
	quire__arena_release(&names);
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
	if (err || (!prev && !prevbase))
		goto out;
	/* Files of the previous revision's artefacts that are gone, or now have another name
	 * (another extension): both lists are sorted by id. */
	for (size_t k = 0, j = 0; k < nthen; k++) {
		while (j < nnow && strcmp(now[j].id, then[k].id) < 0)
			j++;
		const struct quire_mout *same =
			j < nnow && !strcmp(now[j].id, then[k].id) ? &now[j] : NULL;
		/* A name is made of the id and the extension. */
		if (same && !strcmp(same->ext ? same->ext : "", then[k].ext ? then[k].ext : ""))
			continue;
		char *name = quire_id_filename(then[k].id, then[k].ext);
		char *nowname = same ? quire_id_filename(same->id, same->ext) : NULL;
		if (!nowname || strcmp(nowname, name)) {
			char *path = quire__path_join(dir, name);
			struct stat st;
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    !replaceable(&acc, path, then[k].digest, NULL))
				add_conflict(&conf, &nconf, &aconf, p->out_dir, name, then[k].id,
					     !same, nowname, path);
			else if (lstat(path, &st) == 0 &&
				 (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && unlink(path) == 0)
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
	free(acc.known);
	acd_release(&acd);
	if (!err && nconf)
		err = quire_out_conflict_error(conf, nconf);
	quire_out_conflicts_free(conf, nconf);
	free(now);
	free(then);
	free(dir);
	return err;
}
