/* Writing a manifest (the base's text copied, changed entries laid out) and its index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/manifest.h"
#include "json.h"
#include "manifest_internal.h"
#include "manifest_parse.h"
#include "objects.h"
#include "util.h"

static int index_safe(const char *s)
{
	return s && !strpbrk(s, "\t\n\r");
}

/* One artefact of a manifest being written or listed: the base's row (copied), or an entry
 * of m (written from its JSON or compacted text). */
struct span {
	const char *id;
	const struct quire_mrow *row;
	int spilled; /* row is a changed entry's, its text in the base's spill */
	const json_t *e;
	size_t off, len; /* in the text written */
};

static int cmp_span_ids(const void *x, const void *y)
{
	return strcmp(((const struct span *)x)->id, ((const struct span *)y)->id);
}

/* The artefacts of m over base, in id order: m's entries replace the base's rows (json null
 * removes one). */
static struct span *merged(const json_t *m, const struct quire_mbase *base, size_t *n)
{
	const json_t *arts = json_object_get(m, "artefacts");
	size_t nov = json_object_size(arts), nr = base ? base->nrows : 0, k = 0, o = 0;
	struct span *ov = quire__xcalloc(nov + 1, sizeof(*ov));
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)arts, key, v) {
		ov[k].id = key;
		ov[k++].e = v;
	}
	qsort(ov, nov, sizeof(*ov), cmp_span_ids);
	struct span *out = quire__xcalloc_big(nov + nr + 1, sizeof(*out));
	for (size_t i = 0, j = 0; i < nr || j < nov;) {
		int c = i == nr ? 1 : j == nov ? -1 : strcmp(base->rows[i].id, ov[j].id);
		if (c < 0) {
			out[o].id = base->rows[i].id;
			out[o++].row = &base->rows[i++];
			continue;
		}
		const struct quire_mrow *cr = quire__mb_crow(base, ov[j].e);
		if (cr)
			out[o++] = (struct span){ .id = ov[j].id, .row = cr, .spilled = 1 };
		else if (!json_is_null(ov[j].e))
			out[o++] = ov[j];
		j++;
		i += c == 0;
	}
	free(ov);
	*n = o;
	return out;
}

size_t quire_manifest_outputs(const json_t *m, const struct quire_mbase *base,
			      struct quire_mout **out)
{
	size_t n, k = 0;
	struct span *s = merged(m, base, &n);
	*out = quire__xcalloc_big(n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		struct quire_mrow r;
		if (!s[i].row)
			quire__mb_row_of_entry(&r, s[i].id, s[i].e);
		const struct quire_mrow *x = s[i].row ? s[i].row : &r;
		if (x->digest)
			(*out)[k++] = (struct quire_mout){ x->id, x->digest, x->ext, x->size };
	}
	free(s);
	return k;
}

/* Appends the index line of one artefact (written at its span, with ranges). 0, or -1 when a
 * value cannot be held in the index. */
static int index_line(struct quire_buf *b, const struct span *s, int ranges)
{
	struct quire_mrow r;
	if (!s->row)
		quire__mb_row_of_entry(&r, s->id, s->e);
	const struct quire_mrow *x = s->row ? s->row : &r;
	const char *str[INDEX_NSTR] = { x->status, x->digest, x->fingerprint, x->ext,
					x->approved_digest };
	int ok = index_safe(s->id);
	quire_buf_puts(b, s->id);
	for (int k = 0; k < INDEX_NSTR; k++) {
		ok &= !str[k] || (index_safe(str[k]) && *str[k]);
		quire_buf_putc(b, '\t');
		if (str[k])
			quire_buf_puts(b, str[k]);
	}
	quire_buf_putc(b, '\t');
	quire_buf_put_int(b, x->take);
	quire_buf_putc(b, '\t');
	if (x->size >= 0)
		quire_buf_put_int(b, x->size);
	quire_buf_putc(b, '\t');
	quire_buf_put_int(b, x->duration_ms);
	quire_buf_putc(b, '\t');
	if (s->row && x->feedback)
		quire_buf_puts(b, x->feedback);
	else if (!s->row && json_array_size(json_object_get(s->e, "feedback")))
		quire_json_write(b, json_object_get(s->e, "feedback"), 0);
	if (ranges) {
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, (long long)s->off);
		quire_buf_putc(b, '\t');
		quire_buf_put_int(b, (long long)s->len);
	}
	quire_buf_putc(b, '\n');
	return ok ? 0 : -1;
}

/* Writes b as revision rev's index when ok, else removes it; whether it was written. A cache:
 * no error. */
static int put_index(const char *qdir, const char *rev, const struct quire_buf *b, int ok)
{
	char *dir = quire__xasprintf("%s/runs", qdir);
	char *path = quire__index_path(qdir, rev);
	int put = ok && quire_fs_mkdirs(dir, 0755) == 0 &&
		  quire_fs_replace(path, b->ptr, b->len, 0644) == 0;
	if (!ok)
		unlink(path);
	quire_error_clear();
	free(dir);
	free(path);
	return put;
}

/* Writes the index of manifest rev (its file: size and mtime) from the spans of its entries
 * in the text just written. A cache: a value it cannot hold means no index. */
static void write_index(const char *qdir, const char *rev, const struct stat *st,
			const struct span *spans, size_t nspans)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	/* The artefact count last: the log reads it from this line alone (an older quire,
	 * reading five fields, takes such an index for a damaged one and reads the manifest). */
	quire_buf_printf(&b, INDEX_MAGIC "\t%d\t%s\t%lld\t%lld\t%zu\n", MANIFEST_FORMAT, rev,
			 (long long)st->st_size,
			 (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec, nspans);
	int ok = 1;
	for (size_t i = 0; i < nspans && ok; i++)
		ok = index_line(&b, &spans[i], 1) == 0;
	put_index(qdir, rev, &b, ok);
	quire_buf_release(&b);
}

/* Writes format-2 head rev's index: a row per artefact of m over base (either may hold
 * every entry), read from the rows and entries in hand. Its entries are read from its tree
 * when needed, so it has no text to write: the head's rendering (21 MB at 10,000 artefacts)
 * was written at every commit only to be pointed into. */
static int write_tree_index(const char *qdir, const char *rev, const json_t *m,
			    const struct quire_mbase *base)
{
	size_t n;
	struct span *spans = merged(m, base, &n);
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_printf(&b, INDEX_TREE_MAGIC "\t%s\t%zu\n", rev, n);
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++)
		ok = index_line(&b, &spans[i], 0) == 0;
	int put = put_index(qdir, rev, &b, ok);
	quire_buf_release(&b);
	free(spans);
	/* A rendering an older quire left: nothing reads it. */
	char *text = quire__xasprintf("%s/runs/%s.json", qdir, rev);
	unlink(text);
	free(text);
	return put;
}

/* Where a manifest's text goes: a buffer, or a file written as it is made (flushed every
 * MiB, so a large manifest is never held whole), with runs of entries copied from the base's
 * file kept pending so that neighbours in the parent are copied as one range. */
struct mw {
	struct quire_buf buf;
	struct quire_fs_stream *st; /* NULL: everything stays in buf */
	struct quire_mbase *base;
	size_t flushed;			 /* bytes already in the file */
	size_t cp_off, cp_len;		 /* the pending copy from base */
	const struct quire_mrow *cp_row; /* the last row in it */
	int err;
	struct quire_hasher *hash; /* naming the revision by its bytes: all of them, so far */
	size_t name_at;		   /* where QUIRE_REV_PENDING stands in the text, 0: nowhere */
	char *rd;		   /* a buffer the copies from base are hashed through */
};

#define HASH_READ (1u << 20)

/* Hashes base's bytes [off, off + len) read through a buffer: hashed from a mapping of the
 * parent's file, every page of it stayed in the process's resident set (the whole parent,
 * 21 MB at 10k artefacts, in a one-scene change's peak). */
static int hash_copy(struct mw *w, size_t off, size_t len)
{
	if (!w->rd)
		w->rd = quire__xmalloc(HASH_READ);
	while (len) {
		size_t want = len < HASH_READ ? len : HASH_READ;
		ssize_t got = pread(w->base->fd, w->rd, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return quire_error_set(QUIRE_EIO, "cannot read the parent revision: %s",
					       got < 0 ? strerror(errno)
						       : "it is shorter than its index");
		quire_hasher_update(w->hash, w->rd, (size_t)got);
		off += (size_t)got;
		len -= (size_t)got;
	}
	return 0;
}

static size_t mw_pos(const struct mw *w)
{
	return w->flushed + w->buf.len + w->cp_len;
}

static void mw_flush_buf(struct mw *w)
{
	if (w->st && w->buf.len) {
		if (w->hash)
			quire_hasher_update(w->hash, w->buf.ptr, w->buf.len);
		if (quire_fs_stream_write(w->st, w->buf.ptr, w->buf.len) && !w->err)
			w->err = w->st->err;
		w->flushed += w->buf.len;
		w->buf.len = 0;
		w->buf.ptr[0] = '\0';
	}
}

static void mw_flush_copy(struct mw *w)
{
	if (!w->cp_len)
		return;
	if (w->st) {
		mw_flush_buf(w);
		if (w->hash) {
			int err = hash_copy(w, w->cp_off, w->cp_len);
			if (err && !w->err)
				w->err = err;
		}
		if (quire_fs_stream_copy(w->st, w->base->fd, w->cp_off, w->cp_len) && !w->err)
			w->err = w->st->err;
		w->flushed += w->cp_len;
	} else {
		int err = quire__mbase_map(w->base);
		if (err && !w->err)
			w->err = err;
		if (!err)
			quire_buf_add(&w->buf, w->base->map + w->cp_off, w->cp_len);
	}
	w->cp_len = 0;
}

/* The buffer, ready for appending (pending copies written first). */
static struct quire_buf *mw_buf(struct mw *w)
{
	mw_flush_copy(w);
	if (w->buf.len >= (1u << 20))
		mw_flush_buf(w);
	return &w->buf;
}

/* The manifest's text (what quire_json_write(m, pretty) gives, and a final newline), with the
 * span of every artefact's entry in it. The base's rows that m does not replace are copied
 * from its text. */
static int manifest_emit(const json_t *m, struct mw *w, struct span **spans_out, size_t *nspans_out)
{
	const json_t *arts = json_object_get(m, "artefacts");
	size_t nkeys = json_object_size(m), nk = 0, ns = 0;
	const char **keys = quire__xcalloc(nkeys + 1, sizeof(*keys));
	struct span *spans = merged(m, w->base, &ns);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)m, key, v)
		if (strcmp(key, "slim"))
			keys[nk++] = key;
	qsort(keys, nk, sizeof(*keys), quire__mb_cmp_keys);
	quire_buf_puts(mw_buf(w), nk ? "{" : "{}");
	for (size_t k = 0; k < nk && !w->err; k++) {
		struct quire_buf *b = mw_buf(w);
		quire_buf_puts(b, k ? ",\n  " : "\n  ");
		quire_buf_put_jstr(b, keys[k], strlen(keys[k]));
		quire_buf_add(b, ": ", 2);
		v = json_object_get(m, keys[k]);
		if (w->hash && !strcmp(keys[k], "revision") &&
		    !strcmp(json_string_value(v) ? json_string_value(v) : "", QUIRE_REV_PENDING))
			w->name_at = mw_pos(w) + 1; /* after the opening quote */
		if (v != arts) {
			if (!strcmp(keys[k], "files"))
				quire__mb_put_kept(b, v, 1); /* a run's file list kept as text */
			else
				quire_json_write_at(b, v, 1);
			continue;
		}
		if (!ns) {
			quire_buf_puts(b, "{}");
			continue;
		}
		quire_buf_putc(b, '{');
		int last_copied = 0;
		for (size_t i = 0; i < ns && !w->err; i++) {
			const struct quire_mrow *from = spans[i].spilled ? NULL : spans[i].row;
			const json_t *text =
				spans[i].e ? json_object_get(spans[i].e, TEXT_KEY) : NULL;
			if (from && w->base->fd < 0) {
				w->err = quire_error_set(QUIRE_ERROR,
							 "internal: '%s' is not in its "
							 "manifest's text",
							 from->id);
				break;
			}
			if (from && last_copied && w->cp_len && from == w->cp_row + 1) {
				/* The parent's next entry: the separator and key between are the
				 * same bytes, so the pending copy just grows. */
				size_t at = mw_pos(w) + (from->off - (w->cp_off + w->cp_len));
				w->cp_len = from->off + from->len - w->cp_off;
				w->cp_row = from;
				spans[i].off = at;
				spans[i].len = from->len;
				continue;
			}
			b = mw_buf(w);
			quire_buf_puts(b, i ? ",\n    " : "\n    ");
			quire_buf_put_jstr(b, spans[i].id, strlen(spans[i].id));
			quire_buf_add(b, ": ", 2);
			spans[i].off = mw_pos(w);
			if (from) {
				w->cp_off = from->off;
				w->cp_len = from->len;
				w->cp_row = from;
				spans[i].len = from->len;
				last_copied = 1;
			} else {
				const struct quire_mrow *cr =
					spans[i].spilled ? spans[i].row : NULL;
				if (text)
					quire_buf_add(b, json_string_value(text),
						      json_string_length(text));
				else if (cr) {
					int rerr =
						quire__mb_spill_read(w->base, cr->off, cr->len, b);
					if (rerr) {
						w->err = rerr;
						break;
					}
				} else {
					quire__mb_put_entry(b, spans[i].e, 2, 0);
				}
				spans[i].len = mw_pos(w) - spans[i].off;
				last_copied = 0;
			}
		}
		quire_buf_puts(mw_buf(w), "\n  }");
	}
	quire_buf_puts(mw_buf(w), nk ? "\n}\n" : "\n");
	mw_flush_copy(w);
	mw_flush_buf(w);
	free(keys);
	if (w->err) {
		free(spans);
		return w->err;
	}
	*spans_out = spans;
	*nspans_out = ns;
	return 0;
}

/* The whole text in out (no file). */
static int manifest_text(const json_t *m, struct quire_mbase *base, struct quire_buf *out,
			 struct span **spans, size_t *nspans)
{
	struct mw w = { QUIRE_BUF_INIT, NULL, base, 0, 0, 0, NULL, 0, NULL, 0, NULL };
	int err = manifest_emit(m, &w, spans, nspans);
	if (!err)
		quire_buf_add(out, w.buf.ptr, w.buf.len);
	quire_buf_release(&w.buf);
	return err;
}

void quire_manifest_text(const json_t *m, struct quire_buf *out)
{
	struct span *spans = NULL;
	size_t n;
	/* Without a base every entry is in m, so this cannot fail. */
	if (manifest_text(m, NULL, out, &spans, &n))
		quire_error_clear();
	free(spans);
}

/* The text just written holds QUIRE_REV_PENDING as its name: the digest of those bytes
 * takes its place, in the text and in the file's name (*path). */
static int name_revision(struct quire_fs_stream *fst, struct mw *w, char *name, char **path,
			 const char *dir)
{
	if (!w->name_at)
		return quire_error_set(QUIRE_ERROR, "internal: a new revision has no name");
	struct quire_digest d;
	quire_hasher_final(w->hash, &d);
	if (pwrite(fst->fd, d.s + 7, 64, (off_t)w->name_at) != 64)
		return quire_error_set(QUIRE_EIO, "cannot write '%s': %s", fst->tmp,
				       strerror(errno));
	snprintf(name, QUIRE_REV_MAX, "%s", d.s + 7);
	free(*path);
	*path = quire__xasprintf("%s/%s.json", dir, name);
	free(fst->path);
	fst->path = quire__xstrdup(*path);
	return 0;
}

/* The test suite's check of format 2 against every revision it makes (QUIRE_FORMAT2_CHECK):
 * a revision that does not read back as what was committed stops the process. */
static void format2_check(const char *qdir, const char *name, const json_t *m,
			  struct quire_mbase *base)
{
	if (getenv("QUIRE_FORMAT2_CHECK") && quire_rev2_check(qdir, name, m, base)) {
		fprintf(stderr, "quire: format 2 check: %s\n", quire_error_last());
		abort();
	}
}

int quire_manifest_write_named(const char *qdir, const char *rev, const json_t *m,
			       struct quire_mbase *base, const json_t *parent, char *named,
			       int (*hook)(void *ud, const char *name), void *ud)
{
	int pending = !strcmp(rev, QUIRE_REV_PENDING);
	char name[QUIRE_REV_MAX];
	snprintf(name, sizeof(name), "%s", rev);
	/* A store in format 2: the revision is its objects and its pack, and the head's index
	 * its rows (no text: its entries are read from its tree). */
	int v2 = pending && quire__store_format2(qdir);
	if (v2) {
		int err = quire__rev2_commit(qdir, m, base, parent, name, hook, ud);
		if (err)
			return err;
		write_tree_index(qdir, name, m, base);
		if (named)
			snprintf(named, QUIRE_REV_MAX, "%s", name);
		format2_check(qdir, name, m, base);
		return 0;
	}
	char *dir = quire__xasprintf("%s/manifests", qdir);
	char *path = quire__xasprintf("%s/%s.json", dir, name);
	struct span *spans = NULL;
	size_t nspans = 0;
	struct stat st;
	struct quire_fs_stream fst;
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = quire_fs_stream_open(&fst, path, 0644);
	if (!err) {
		struct mw w = { QUIRE_BUF_INIT, &fst, base, 0, 0, 0, NULL, 0, NULL, 0, NULL };
		if (pending)
			w.hash = quire_hasher_new();
		err = manifest_emit(m, &w, &spans, &nspans);
		quire_buf_release(&w.buf);
		free(w.rd);
		w.rd = NULL;
		if (!err && pending)
			err = name_revision(&fst, &w, name, &path, dir);
		/* Told before the file takes its name: a kill after this finds the name and
		 * either the file (committed) or none (made again). */
		if (!err && hook)
			err = hook(ud, name);
		quire_hasher_free(w.hash);
		if (err)
			quire_fs_stream_abort(&fst);
		else
			err = quire_fs_stream_commit(&fst);
	}
	if (!err && stat(path, &st) == 0)
		write_index(qdir, name, &st, spans, nspans);
	if (!err && named)
		snprintf(named, QUIRE_REV_MAX, "%s", name);
	if (!err)
		format2_check(qdir, name, m, base);
	free(spans);
	free(dir);
	free(path);
	return err;
}

int quire_manifest_write_from(const char *qdir, const char *rev, const json_t *m,
			      struct quire_mbase *base, char *named)
{
	return quire_manifest_write_named(qdir, rev, m, base, NULL, named, NULL, NULL);
}

int quire_manifest_write(const char *qdir, const char *rev, const json_t *m)
{
	return quire_manifest_write_from(qdir, rev, m, NULL, NULL);
}

void quire_manifest_reindex(const char *qdir, const char *rev, const json_t *m)
{
	char *path = quire__manifest_text_path(qdir, rev);
	struct quire_buf text = QUIRE_BUF_INIT, file = QUIRE_BUF_INIT;
	struct span *spans = NULL;
	size_t nspans = 0;
	struct stat st;
	/* A format-2 head without its index (a clone, a lost cache): its rows, from m. */
	if (quire__rev2_here(qdir, rev)) {
		write_tree_index(qdir, rev, m, NULL);
		free(path);
		return;
	}
	/* The spans hold only if the file is, byte for byte, what quire writes for m. */
	int err = manifest_text(m, NULL, &text, &spans, &nspans);
	int same = !err && quire_fs_read(path, &file, 1u << 30) == 0 && file.len == text.len &&
		   !memcmp(file.ptr, text.ptr, text.len);
	if (same && stat(path, &st) == 0)
		write_index(qdir, rev, &st, spans, nspans);
	quire_error_clear();
	quire_buf_release(&text);
	quire_buf_release(&file);
	free(spans);
	free(path);
}

static int put_changed(void *ud, const char *id, const json_t *ea, const json_t *eb)
{
	(void)ea;
	json_object_set_new(ud, id, eb ? json_incref((json_t *)eb) : json_null());
	return 0;
}

/* An index in runs that a pulled head's can be made from. */
struct near_index {
	char *rev;
	struct timespec mtime;
};

static int newer_first(const void *x, const void *y)
{
	const struct near_index *a = x, *b = y;
	if (a->mtime.tv_sec != b->mtime.tv_sec)
		return a->mtime.tv_sec < b->mtime.tv_sec ? 1 : -1;
	return a->mtime.tv_nsec < b->mtime.tv_nsec   ? 1
	       : a->mtime.tv_nsec > b->mtime.tv_nsec ? -1
						     : 0;
}

/* The indexes in runs other than rev's whose revisions are in format 2 here, newest first
 * (*n of them, malloc'd). */
static struct near_index *near_indexes(const char *qdir, const char *runs, const char *rev,
				       size_t *n)
{
	struct near_index *v = NULL;
	size_t alloc = 0;
	*n = 0;
	DIR *d = opendir(runs);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char name[65];
		struct stat st;
		if (!quire__index_file(de->d_name, name) || !strcmp(name, rev) ||
		    fstatat(dirfd(d), de->d_name, &st, 0) || !quire__rev2_here(qdir, name))
			continue;
		QUIRE_GROW(v, alloc, *n + 1);
		v[(*n)++] = (struct near_index){ quire__xstrdup(name), st.st_mtim };
	}
	if (d)
		closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), newer_first);
	return v;
}

/* rev's index made from have's (its rows, those that differ replaced or removed): 1, or 0
 * when have's index cannot be read or the two trees cannot be compared. */
static int index_from(const char *qdir, const char *have, const char *rev)
{
	json_t *m = NULL, *arts = json_object();
	struct quire_mbase *base = NULL;
	quire_manifest_load_index(qdir, have, &m, &base);
	struct quire_objs *o = base && base->tree ? quire__mbase_objs(base) : NULL;
	int ok = o && !quire_rev2_diff_entries(o, have, rev, put_changed, arts);
	if (ok) {
		json_t *over = json_object();
		json_object_set_nocheck(over, "artefacts", arts);
		ok = write_tree_index(qdir, rev, over, base);
		json_decref(over);
	}
	quire_error_clear();
	json_decref(arts);
	json_decref(m);
	quire_mbase_free(base);
	return ok;
}

int quire_manifest_index_near(const char *qdir, const char *rev)
{
	if (!quire__rev2_here(qdir, rev))
		return 0;
	char *runs = quire__xasprintf("%s/runs", qdir);
	size_t n;
	struct near_index *v = near_indexes(qdir, runs, rev, &n);
	free(runs);
	/* The newest first (most likely the head this clone had); one that cannot be used (an
	 * older quire's, damaged) gives way to the next, a few at most. */
	int ok = 0;
	for (size_t k = 0; k < n && k < 4 && !ok; k++)
		ok = index_from(qdir, v[k].rev, rev);
	for (size_t k = 0; k < n; k++)
		free(v[k].rev);
	free(v);
	return ok;
}

/* Splits line at tabs into at most max fields (NUL-terminating them); the count. */
