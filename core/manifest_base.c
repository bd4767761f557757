/* A revision's rows and the entries a commit changes: peek, materialise, compact, spill. */
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

const char *const quire__index_str[INDEX_NSTR] = { "status", "digest", "fingerprint", "ext",
						   "approved_digest" };
const char *const quire__index_int[INDEX_NINT] = { "take", "size", "duration_ms" };

struct quire_mbase *quire__mbase_new(void)
{
	struct quire_mbase *b = quire__xcalloc(1, sizeof(*b));
	b->refs = 1;
	b->fd = -1;
	b->spill_fd = -1;
	quire_buf_init(&b->spill, 0);
	quire_buf_init(&b->ahead, 0);
	return b;
}

struct quire_mbase *quire__mbase_spill_only(const char *qdir)
{
	struct quire_mbase *b = quire__mbase_new();
	b->spilldir = quire__xasprintf("%s/tmp", qdir);
	b->qdir = quire__xstrdup(qdir);
	return b;
}

void quire__mbase_close_objs(struct quire_mbase *b)
{
	if (!b)
		return;
	quire_rev2_reader_free(b->reader);
	quire_objs_free(b->objs);
	b->reader = NULL;
	b->objs = NULL;
}

struct quire_objs *quire__mbase_objs(struct quire_mbase *b)
{
	if (!b || !b->qdir || b->objs_failed)
		return NULL;
	if (!b->objs && quire_objs_open(b->qdir, &b->objs)) {
		quire_error_clear();
		b->objs_failed = 1;
	}
	return b->objs;
}

struct quire_objs *quire__mbase_objs_or_open(struct quire_mbase *b, const char *qdir,
					     struct quire_objs **own)
{
	*own = NULL;
	struct quire_objs *o = quire__mbase_objs(b);
	if (o || quire_objs_open(qdir, own))
		return o;
	return *own;
}

struct quire_mbase *quire_mbase_ref(struct quire_mbase *b)
{
	if (b)
		b->refs++;
	return b;
}

void quire_mbase_free(struct quire_mbase *b)
{
	if (!b || --b->refs > 0)
		return;
	if (b->map)
		munmap((void *)b->map, b->size);
	if (b->fd >= 0)
		close(b->fd);
	if (b->spill_fd >= 0)
		close(b->spill_fd);
	quire_rev2_reader_free(b->reader);
	quire_objs_free(b->objs);
	free(b->qdir);
	quire_buf_release(&b->spill);
	quire_buf_release(&b->ahead);
	free(b->spilldir);
	free(b->text_name);
	free(b->crows);
	quire__arena_release(&b->strings);
	quire__table_release(&b->ids);
	free(b->rows);
	free(b->itext);
	free(b->rev);
	free(b);
}

/* Fills the id table (after the last row was added: rows are not moved afterwards). */
void quire__mbase_index_rows(struct quire_mbase *b)
{
	quire__table_size(&b->ids, b->nrows, 16);
	for (size_t i = 0; i < b->nrows; i++) {
		uint32_t *s = quire__table_first(&b->ids, quire__hash_str(b->rows[i].id));
		while (*s)
			s = quire__table_next(&b->ids, s);
		*s = (uint32_t)(i + 1);
	}
}

const struct quire_mrow *quire_mbase_find(const struct quire_mbase *b, const char *id)
{
	if (!b || !b->nrows)
		return NULL;
	uint32_t *s = quire__table_first(&b->ids, quire__hash_str(id));
	while (*s && strcmp(b->rows[*s - 1].id, id))
		s = quire__table_next(&b->ids, s);
	return *s ? &b->rows[*s - 1] : NULL;
}

int quire_mrow_current(const struct quire_mrow *r, const char *fp)
{
	return r && r->status && r->digest && r->fingerprint && fp && !strcmp(r->status, "clean") &&
	       !strcmp(r->fingerprint, fp);
}

const struct quire_mrow *quire_mbase_rows(const struct quire_mbase *b, size_t *n)
{
	*n = b ? b->nrows : 0;
	return b ? b->rows : NULL;
}

int quire_mbase_has_text(const struct quire_mbase *b)
{
	return b && (b->fd >= 0 || (b->tree && b->qdir));
}

static int cmp_row_ids(const void *x, const void *y)
{
	return strcmp(((const struct quire_mrow *)x)->id, ((const struct quire_mrow *)y)->id);
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The index's fields of entry e (full or compacted: both have them at the top). */
void quire__mb_row_of_entry(struct quire_mrow *r, const char *id, const json_t *e)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->status = jstr(e, "status");
	r->digest = jstr(e, "digest");
	r->fingerprint = jstr(e, "fingerprint");
	r->ext = jstr(e, "ext");
	r->approved_digest = jstr(e, "approved_digest");
	r->take = (long long)json_integer_value(json_object_get(e, "take"));
	r->duration_ms = (long long)json_integer_value(json_object_get(e, "duration_ms"));
	r->size = json_is_integer(json_object_get(e, "size"))
			  ? (long long)json_integer_value(json_object_get(e, "size"))
			  : -1;
}

/* A copy of s in the base's arena (NULL stays NULL). */
static const char *own(struct quire_mbase *b, const char *s)
{
	return s ? quire__arena_copy(&b->strings, s, strlen(s)) : NULL;
}

/* Copies a row's strings into the base's arena: the row outlives the entry it was read from. */
static void own_row(struct quire_mbase *b, struct quire_mrow *r)
{
	r->id = own(b, r->id);
	r->status = own(b, r->status);
	r->digest = own(b, r->digest);
	r->fingerprint = own(b, r->fingerprint);
	r->ext = own(b, r->ext);
	r->approved_digest = own(b, r->approved_digest);
}

struct quire_mbase *quire_mbase_from_manifest(const json_t *m)
{
	struct quire_mbase *b = quire__mbase_new();
	const json_t *arts = json_object_get(m, "artefacts");
	b->rows = quire__xcalloc_big(json_object_size(arts) + 1, sizeof(*b->rows));
	const char *key;
	json_t *e;
	json_object_foreach((json_t *)arts, key, e) {
		if (!json_is_object(e))
			continue;
		/* Copies: a run's commit changes m in place while the plan made of it lives. */
		struct quire_mrow *r = &b->rows[b->nrows++];
		quire__mb_row_of_entry(r, key, e);
		own_row(b, r);
		const json_t *fb = json_object_get(e, "feedback");
		if (json_array_size(fb)) {
			char *t = json_dumps(fb, JSON_COMPACT);
			r->feedback = own(b, t);
			free(t);
		}
	}
	qsort(b->rows, b->nrows, sizeof(*b->rows), cmp_row_ids);
	quire__mbase_index_rows(b);
	return b;
}

int quire__mbase_map(struct quire_mbase *b)
{
	if (b->map)
		return 0;
	void *m = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (m == MAP_FAILED)
		return quire_error_set(QUIRE_EIO, "cannot map %s: %s",
				       b->text_name ? b->text_name : b->rev, strerror(errno));
	b->map = m;
	return 0;
}

/* The overlay entry of id in m: NULL when m has none, json null when the fold removed it. */
static json_t *overlay(const json_t *m, const char *id)
{
	return json_object_get(json_object_get(m, "artefacts"), id);
}

/* A commit keeps large dependency records (an entry's "deps", also inside its "takes") and a
 * run's file list (the manifest's "files") as their JSON text in a JSON string, where the
 * value is otherwise always an object: parsed, a collector's record at 100k was 10 MB of
 * jansson objects, built twice per commit only to be written out again. quire__mb_put_entry lays
 * the text out where it goes. Records shorter than this stay parsed (unit tests set it to 0). */
size_t quire__manifest_raw_min = 256;

/* How much of a manifest's map is read before its pages are let go (see peek_ex; unit tests
 * set it to 1 so that every read maps the pages again). */
size_t quire__manifest_map_keep = 4u << 20;

/* How many spilled bytes are gathered before they are written (unit tests set it to 1), and
 * how large the spill file may grow before writing it fails (unit tests make it small, as a
 * full disk would). */
size_t quire__manifest_spill_chunk = 1u << 20;

/* How much of the spill file one read brings back at most. */
#define SPILL_AHEAD (256u << 10)
size_t quire__manifest_spill_limit = (size_t)-1;

/* Parses JSON object text, keeping the value of key as text when it is large enough. */
json_t *quire__mb_parse_keeping(const char *text, size_t len, const char *key)
{
	return quire_json_loads_keeping(text, len, key, quire__manifest_raw_min);
}

/* Writes the spill's pending bytes to its file (made on first use). When that fails (no
 * file, a full disk), later texts stay in memory: the buffer keeps everything from
 * b->spilled on, and what was written before is still read from the file. */
static void spill_flush(struct quire_mbase *b)
{
	if (b->spill_fd < 0) {
		b->spill_fd = quire_fs_scratch_file(b->spilldir, "spill");
		if (b->spill_fd < 0) {
			b->spill_full = 1;
			return;
		}
	}
	if (b->spilled + b->spill.len > quire__manifest_spill_limit) {
		b->spill_full = 1;
		return;
	}
	if (quire_fs_pwrite_all(b->spill_fd, b->spill.ptr, b->spill.len, b->spilled)) {
		b->spill_full = 1;
		return;
	}
	b->spilled += b->spill.len;
	quire_buf_reset(&b->spill);
}

/* Keeps a changed entry's text in the spill; its offset in *off. */
static void spill_add(struct quire_mbase *b, const char *text, size_t len, size_t *off)
{
	*off = b->spilled + b->spill.len;
	quire_buf_add(&b->spill, text, len);
	if (!b->spill_full && b->spill.len >= quire__manifest_spill_chunk)
		spill_flush(b);
}

/* Appends the spilled text at off (len bytes) to out; an entry is wholly in the file or
 * wholly in the pending bytes. */
int quire__mb_spill_read(struct quire_mbase *b, size_t off, size_t len, struct quire_buf *out)
{
	if (off >= b->spilled) {
		if (off - b->spilled + len > b->spill.len)
			return quire_error_set(QUIRE_ERROR,
					       "internal: a spilled text out of range");
		return quire_buf_add(out, b->spill.ptr + (off - b->spilled), len);
	}
	/* A commit reads the texts back in about the order they were folded: a read each was a
	 * system call per step of a first build. Only reading forwards, near where the last
	 * read ended, brings the next bytes in: in another order (a format-1 manifest's ids,
	 * sorted as strings) each window would be read for one text. */
	size_t last = b->ahead_end;
	b->ahead_end = off + len;
	if (off >= b->ahead_off && off - b->ahead_off + len <= b->ahead.len)
		return quire_buf_add(out, b->ahead.ptr + (off - b->ahead_off), len);
	if (off < last || off - last >= SPILL_AHEAD || len >= SPILL_AHEAD || b->spilled - off < len)
		return quire_fs_pread_buf(b->spill_fd, off, len, out, "a changed entry");
	size_t want = b->spilled - off < SPILL_AHEAD ? b->spilled - off : SPILL_AHEAD;
	quire_buf_reset(&b->ahead);
	quire_buf_reserve(&b->ahead, want); /* not doubled past it */
	b->ahead_off = off;
	int err = quire_fs_pread_buf(b->spill_fd, off, want, &b->ahead, "a changed entry");
	if (err) {
		quire_buf_reset(&b->ahead);
		return err;
	}
	return quire_buf_add(out, b->ahead.ptr, len);
}

/* Whether e is a compacted entry (its text kept in memory, or spilled: a row number). */
static int is_compact(const json_t *e)
{
	return json_is_integer(e) || json_object_get(e, TEXT_KEY);
}

/* The row of a spilled entry e (a row number), or NULL. */
const struct quire_mrow *quire__mb_crow(const struct quire_mbase *b, const json_t *e)
{
	json_int_t k = json_is_integer(e) ? json_integer_value(e) : -1;
	return b && k >= 0 && (size_t)k < b->ncrows ? &b->crows[k] : NULL;
}

/* The entry of id, a row of a format-2 head's index, read from the revision's tree (a large
 * "deps" kept as text with keep). */
static int tree_entry(struct quire_mbase *base, const char *id, int keep, json_t **entry)
{
	int err = 0;
	if (!base->qdir)
		return quire_error_set(QUIRE_ERROR,
				       "internal: the entries of revision %.12s "
				       "cannot be read without its store",
				       base->rev);
	if (!base->objs)
		err = quire_objs_open(base->qdir, &base->objs);
	if (!err && !base->reader)
		err = quire__rev2_damaged(
			base->objs, base->rev,
			quire_rev2_reader_new(base->objs, base->rev, &base->reader));
	if (!err)
		err = quire__rev2_damaged(
			base->objs, base->rev,
			quire_rev2_reader_entry(base->reader, id,
						keep ? quire__manifest_raw_min : SIZE_MAX, entry));
	if (!err && !*entry)
		err = quire_error_set(QUIRE_ECORRUPT,
				      ".quire/runs/%s-index.tsv lists '%s', which revision %.12s "
				      "does not have",
				      base->rev, id, base->rev);
	return err;
}

static int peek_ex(const json_t *m, struct quire_mbase *base, const char *id, json_t **entry,
		   int keep)
{
	*entry = NULL;
	json_t *e = overlay(m, id);
	if (json_is_null(e))
		return 0;
	const json_t *text = json_object_get(e, TEXT_KEY);
	if (e && !is_compact(e)) {
		*entry = json_incref(e);
		return 0;
	}
	const char *key = keep ? "deps" : NULL;
	if (e && !text) {
		const struct quire_mrow *cr = quire__mb_crow(base, e);
		if (!cr)
			return quire_error_set(QUIRE_ECORRUPT, "the entry of '%s' is not an object",
					       id);
		struct quire_buf t = QUIRE_BUF_INIT;
		int err = quire__mb_spill_read(base, cr->off, cr->len, &t);
		if (!err && !(*entry = quire__mb_parse_keeping(t.ptr, t.len, key)))
			err = quire_error_set(QUIRE_ERROR,
					      "internal: the compacted entry of '%s' "
					      "does not parse",
					      id);
		quire_buf_release(&t);
		return err;
	}
	if (text) {
		*entry = quire__mb_parse_keeping(json_string_value(text), json_string_length(text),
						 key);
		if (*entry)
			return 0;
		return quire_error_set(QUIRE_ERROR,
				       "internal: the compacted entry of '%s' does not "
				       "parse",
				       id);
	}
	const struct quire_mrow *r = quire_mbase_find(base, id);
	if (!r)
		return 0;
	if (base->tree)
		return tree_entry(base, id, keep, entry);
	if (!quire_mbase_has_text(base))
		return quire_error_set(QUIRE_ERROR,
				       "internal: the entry of '%s' is not in its "
				       "manifest",
				       id);
	int err = quire__mbase_map(base);
	if (err)
		return err;
	*entry = quire__mb_parse_keeping(base->map + r->off, r->len, key);
	/* Nothing parsed points into the map: its pages are let go every 4 MiB read, or an
	 * outline change at 100k, explaining and folding every entry, held the whole 200 MB
	 * manifest in its resident set. (They come back from the page cache when read again.) */
	if ((base->touched += r->len) >= quire__manifest_map_keep) {
		madvise((void *)base->map, base->size, MADV_DONTNEED);
		base->touched = 0;
	}
	if (*entry)
		return 0;
	json_error_t je;
	json_decref(json_loadb(base->map + r->off, r->len, 0, &je));
	return quire_error_set(
		QUIRE_ECORRUPT,
		"%s: the entry of '%s' (byte %zu) does not match .quire/runs/%s-index.tsv: %s",
		base->text_name ? base->text_name : base->rev, id, r->off, base->rev, je.text);
}

int quire__mb_kept_as_text(const json_t *m, const char *id)
{
	const json_t *e = overlay(m, id);
	return e && is_compact(e);
}

int quire__mb_entry_text(const json_t *m, struct quire_mbase *base, const char *id,
			 struct quire_buf *out, int *found)
{
	const json_t *e = overlay(m, id);
	*found = 0;
	if (!e || !is_compact(e))
		return 0;
	const json_t *text = json_object_get(e, TEXT_KEY);
	const struct quire_mrow *cr = text ? NULL : quire__mb_crow(base, e);
	int err = text ? quire_buf_add(out, json_string_value(text), json_string_length(text))
		  : cr ? quire__mb_spill_read(base, cr->off, cr->len, out)
		       : 0;
	*found = !err && (text || cr);
	return err;
}

int quire__mb_materialise(json_t *m, struct quire_mbase *base, const char *id, json_t **entry,
			  int keep)
{
	json_t *e = overlay(m, id);
	*entry = NULL;
	if (json_is_null(e))
		return 0;
	if (e && !is_compact(e)) {
		*entry = e;
		return 0;
	}
	json_t *full;
	int err = peek_ex(m, base, id, &full, keep);
	if (err || !full)
		return err;
	json_object_set_new(json_object_get(m, "artefacts"), id, full);
	*entry = full;
	return 0;
}

int quire_manifest_materialise(json_t *m, struct quire_mbase *base, const char *id, json_t **entry)
{
	return quire__mb_materialise(m, base, id, entry, 0);
}

int quire_manifest_peek(const json_t *m, struct quire_mbase *base, const char *id, json_t **entry)
{
	return peek_ex(m, base, id, entry, 0);
}

int quire_manifest_peek_kept(const json_t *m, struct quire_mbase *base, const char *id,
			     json_t **entry)
{
	return peek_ex(m, base, id, entry, 1);
}

int quire__mb_cmp_keys(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A value kept as text (see quire__manifest_raw_min) laid out at depth, else written. */
void quire__mb_put_kept(struct quire_buf *b, const json_t *v, int depth)
{
	if (!json_is_string(v) ||
	    quire_json_reformat(b, json_string_value(v), json_string_length(v), depth))
		quire_json_write_at(b, v, depth);
}

/* Writes an entry (or a take, in_take) as quire_json_write_at(e, depth) would, its "deps"
 * laid out from text when kept so, and its takes' too. */
void quire__mb_put_entry(struct quire_buf *b, const json_t *e, int depth, int in_take)
{
	if (!json_is_object(e) || !json_object_size(e)) {
		quire_json_write_at(b, e, depth);
		return;
	}
	size_t n, k;
	const char **keys = quire_json_sorted_keys(e, &n);
	json_t *v;
	quire_buf_putc(b, '{');
	for (k = 0; k < n; k++) {
		if (k)
			quire_buf_putc(b, ',');
		quire_json_indent(b, depth + 1);
		quire_buf_put_jstr(b, keys[k], strlen(keys[k]));
		quire_buf_add(b, ": ", 2);
		v = json_object_get(e, keys[k]);
		if (!strcmp(keys[k], "deps")) {
			quire__mb_put_kept(b, v, depth + 1);
		} else if (!in_take && !strcmp(keys[k], "takes") && json_array_size(v)) {
			quire_buf_putc(b, '[');
			for (size_t t = 0; t < json_array_size(v); t++) {
				if (t)
					quire_buf_putc(b, ',');
				quire_json_indent(b, depth + 2);
				quire__mb_put_entry(b, json_array_get(v, t), depth + 2, 1);
			}
			quire_json_indent(b, depth + 1);
			quire_buf_putc(b, ']');
		} else {
			quire_json_write_at(b, v, depth + 1);
		}
	}
	free(keys);
	quire_json_indent(b, depth);
	quire_buf_putc(b, '}');
}

/* Compacts the entry of id, its text spilled when base can hold it. */
void quire__mb_compact(json_t *m, struct quire_mbase *base, const char *id)
{
	json_t *arts = json_object_get(m, "artefacts");
	json_t *e = json_object_get(arts, id);
	if (!json_is_object(e) || is_compact(e))
		return;
	struct quire_buf b = QUIRE_BUF_INIT;
	quire__mb_put_entry(&b, e, 2, 0);
	if (base && base->spilldir) {
		/* A row (its strings copied) and the text in the spill. */
		QUIRE_GROW(base->crows, base->acrows, base->ncrows + 1);
		struct quire_mrow *r = &base->crows[base->ncrows];
		quire__mb_row_of_entry(r, id, e);
		own_row(base, r);
		const json_t *fb = json_object_get(e, "feedback");
		if (json_array_size(fb)) {
			struct quire_buf f = QUIRE_BUF_INIT;
			quire_json_write(&f, fb, 0);
			r->feedback = quire__arena_copy(&base->strings, f.ptr, f.len);
			quire_buf_release(&f);
		}
		spill_add(base, b.ptr, b.len, &r->off);
		r->len = b.len;
		json_object_set_new(arts, id, json_integer((json_int_t)base->ncrows++));
		quire_buf_release(&b);
		return;
	}
	json_t *c = json_object();
	/* The index's fields (shared values, not copies), then the text. */
	for (int k = 0; k < INDEX_NSTR; k++)
		if (json_object_get(e, quire__index_str[k]))
			json_object_set_nocheck(c, quire__index_str[k],
						json_object_get(e, quire__index_str[k]));
	for (int k = 0; k < INDEX_NINT; k++)
		if (json_object_get(e, quire__index_int[k]))
			json_object_set_nocheck(c, quire__index_int[k],
						json_object_get(e, quire__index_int[k]));
	if (json_object_get(e, "feedback"))
		json_object_set_nocheck(c, "feedback", json_object_get(e, "feedback"));
	json_object_set_new_nocheck(c, TEXT_KEY, json_stringn_nocheck(b.ptr, b.len));
	quire_buf_release(&b);
	json_object_set_new(arts, id, c);
}

void quire_manifest_compact(json_t *m, const char *id)
{
	quire__mb_compact(m, NULL, id);
}
