/* Manifest files, the fold of events into them, and the current pointer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "json.h"
#include "quire/manifest.h"
#include "manifest_parse.h"
#include "util.h"

#define MANIFEST_FORMAT 1

void quire_rev_format(long n, char *out, size_t outlen)
{
	snprintf(out, outlen, "rev-%04ld", n);
}

long quire_rev_parse(const char *s)
{
	if (!strncmp(s, "rev-", 4))
		s += 4;
	if (!*s || strlen(s) > 9)
		return -1;
	long n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n;
}

int quire_manifest_current(const char *qdir, char **rev)
{
	*rev = NULL;
	char *path = quire__xasprintf("%s/current", qdir);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 64);
	free(path);
	if (err == QUIRE_ENOTFOUND) {
		quire_buf_release(&b);
		quire_error_clear();
		return 0;
	}
	if (err) {
		quire_buf_release(&b);
		return err;
	}
	while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
		b.ptr[--b.len] = '\0';
	if (quire_rev_parse(b.ptr) < 0 || strncmp(b.ptr, "rev-", 4)) {
		quire_buf_release(&b);
		return quire_error_set(QUIRE_ECORRUPT,
				       ".quire/current does not name a revision (expected rev-NNNN; "
				       "restore it from git, 'git checkout -- .quire/current', or write "
				       "the newest revision's name into it)");
	}
	*rev = quire_buf_detach(&b, NULL);
	return 0;
}

json_t *quire_manifest_empty(void)
{
	return json_pack("{s:i,s:n,s:n,s:{},s:{},s:{},s:{}}", "format", MANIFEST_FORMAT,
			 "revision", "parent", "files", "inputs", "artefacts", "counts");
}

int quire_manifest_load(const char *qdir, const char *rev, json_t **out)
{
	*out = NULL;
	if (quire_rev_parse(rev) < 0)
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a revision (expected rev-NNNN)", rev);
	char name[32];
	quire_rev_format(quire_rev_parse(rev), name, sizeof(name));
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, name);
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 1u << 30);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND, "revision %s does not exist", name);
	if (!err)
		err = quire__manifest_parse(b.ptr, b.len, name, out);
	free(path);
	quire_buf_release(&b);
	return err;
}

int quire__manifest_parse(const char *text, size_t len, const char *name, json_t **out)
{
	*out = NULL;
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	if (!m)
		return quire_error_set(QUIRE_ECORRUPT,
				       ".quire/manifests/%s.json:%d:%d: %s (a damaged revision: restore "
				       "it from git, 'git checkout -- .quire/manifests/%s.json'; 'quire "
				       "fsck' lists what else is damaged)",
				       name, je.line, je.column, je.text, name);
	if (!json_is_object(m) || json_integer_value(json_object_get(m, "format")) != MANIFEST_FORMAT ||
	    !json_is_object(json_object_get(m, "artefacts")) ||
	    !json_is_object(json_object_get(m, "inputs")) ||
	    !json_is_string(json_object_get(m, "revision")) ||
	    strcmp(json_string_value(json_object_get(m, "revision")), name)) {
		json_decref(m);
		return quire_error_set(QUIRE_ECORRUPT,
				       ".quire/manifests/%s.json is not a valid manifest (a damaged "
				       "revision: restore it from git, 'git checkout -- "
				       ".quire/manifests/%s.json'; 'quire fsck' lists what else is "
				       "damaged)",
				       name, name);
	}
	*out = m;
	return 0;
}

static void count(json_t *m, const char *what)
{
	json_t *c = json_object_get(m, "counts");
	json_object_set_new(c, what, json_integer(json_integer_value(json_object_get(c, what)) + 1));
}

void quire_manifest_apply(json_t *m, int64_t time_ns, const char *kind, const char *subject,
			  const json_t *data)
{
	json_t *arts = json_object_get(m, "artefacts");
	if (!strcmp(kind, "run.start")) {
		char ts[40];
		quire__format_time(time_ns, ts, sizeof(ts));
		json_object_set(m, "revision", json_object_get(data, "revision"));
		json_object_set(m, "parent", json_object_get(data, "parent"));
		if (json_object_get(data, "files"))
			json_object_set(m, "files", json_object_get(data, "files"));
		if (json_object_get(data, "inputs"))
			json_object_set(m, "inputs", json_object_get(data, "inputs"));
		json_object_set(m, "git", json_object_get(data, "git"));
		json_object_set(m, "command", json_object_get(data, "command"));
		json_object_set_new(m, "created", json_string(ts));
		json_object_del(m, "restored_from");
		json_object_set_new(m, "counts", json_object());
		json_object_del(m, "interrupted");
		json_object_del(m, "recovered");
	} else if (!strcmp(kind, "artefact.produced") || !strcmp(kind, "artefact.cached")) {
		json_t *old = json_object_get(arts, subject);
		json_t *e = json_deep_copy(data);
		/* Every take stays listed (and in the store): 'edit ID --take N' can go back. */
		json_t *takes = json_is_array(json_object_get(old, "takes"))
					? json_deep_copy(json_object_get(old, "takes"))
					: json_array();
		json_int_t take = json_integer_value(json_object_get(data, "take"));
		size_t k;
		json_t *t;
		json_array_foreach(takes, k, t) if (json_integer_value(json_object_get(t, "take")) == take)
		{
			json_array_remove(takes, k);
			break;
		}
		/* The take being shown keeps its deps on the entry itself; a take that stops being
		 * shown takes them along, so it can be selected again (no copy per take otherwise). */
		json_array_foreach(takes, k, t) {
			if (!json_object_get(t, "deps") && old &&
			    json_integer_value(json_object_get(t, "take")) ==
				    json_integer_value(json_object_get(old, "take")))
				json_object_set(t, "deps", json_object_get(old, "deps"));
		}
		json_array_append_new(takes, json_pack("{s:I,s:O,s:O,s:O}", "take", take, "digest",
						       json_object_get(data, "digest"), "size",
						       json_object_get(data, "size"), "fingerprint",
						       json_object_get(data, "fingerprint")));
		json_object_set_new(e, "takes", takes);
		const char *approved = json_string_value(json_object_get(old, "approved_digest"));
		const char *digest = json_string_value(json_object_get(data, "digest"));
		if (approved)
			json_object_set_new(e, "approved_digest", json_string(approved));
		int pending = json_is_true(json_object_get(data, "review_required")) &&
			      !(approved && digest && !strcmp(approved, digest));
		json_object_set_new(e, "status", json_string(pending ? "pending-review" : "clean"));
		json_object_set_new(arts, subject, e);
		count(m, kind[9] == 'p' ? "produced" : "cached");
		json_t *cost = json_object_get(data, "cost_micro");
		if (kind[9] == 'p' && json_is_integer(cost)) {
			json_t *c = json_object_get(m, "counts");
			json_object_set_new(c, "cost_micro",
					    json_integer(json_integer_value(json_object_get(c, "cost_micro")) +
							 json_integer_value(cost)));
		}
	} else if (!strcmp(kind, "artefact.failed") || !strcmp(kind, "artefact.blocked")) {
		int failed = kind[9] == 'f';
		json_t *old = json_object_get(arts, subject);
		json_t *e = old ? json_deep_copy(old) : json_object();
		/* A failed re-run keeps the earlier output visible, but never as clean. */
		int has_output = json_is_string(json_object_get(e, "digest"));
		json_object_set_new(e, "status",
				    json_string(has_output ? "stale" : failed ? "failed" : "blocked"));
		json_object_set(e, "error", json_object_get(data, "error"));
		if (!old) {
			json_object_set(e, "producer", json_object_get(data, "producer"));
			json_object_set(e, "role", json_object_get(data, "role"));
			if (json_object_get(data, "provider")) {
				json_object_set(e, "provider", json_object_get(data, "provider"));
				json_object_set(e, "model", json_object_get(data, "model"));
			}
		}
		/* The failed try's own count, beside the kept output's "attempts". */
		if (json_is_integer(json_object_get(data, "attempts")))
			json_object_set(e, "failed_attempts", json_object_get(data, "attempts"));
		else
			json_object_del(e, "failed_attempts");
		json_object_set_new(arts, subject, e);
		count(m, failed ? "failed" : "blocked");
		/* A failed call may be billed: the revision's cost counts it. */
		json_t *cost = json_object_get(data, "cost_micro");
		if (json_is_integer(cost)) {
			json_t *c = json_object_get(m, "counts");
			json_object_set_new(c, "cost_micro",
					    json_integer(json_integer_value(json_object_get(c, "cost_micro")) +
							 json_integer_value(cost)));
		}
	} else if (!strcmp(kind, "artefact.lost")) {
		/* Recovery found this output missing or damaged (never synced before a crash): the
		 * artefact has no output any more, and the take that named it is gone. */
		json_t *e = json_object_get(arts, subject);
		const char *lost = json_string_value(json_object_get(data, "digest"));
		const char *have = json_string_value(json_object_get(e, "digest"));
		if (e && lost && have && !strcmp(lost, have)) {
			json_object_del(e, "digest");
			json_object_del(e, "size");
			json_object_set_new(e, "status", json_string("failed"));
			json_object_set(e, "error", json_object_get(data, "error"));
			json_t *takes = json_object_get(e, "takes");
			for (size_t k = json_array_size(takes); k-- > 0;) {
				const char *td = json_string_value(
					json_object_get(json_array_get(takes, k), "digest"));
				if (td && !strcmp(td, lost))
					json_array_remove(takes, k);
			}
			count(m, "failed");
		}
	} else if (!strcmp(kind, "artefact.edited")) {
		/* A hand edit: pinned until released; dependants see its digest. */
		json_t *e = json_object_get(arts, subject);
		if (!e) {
			e = json_object();
			json_object_set_new(arts, subject, e);
		}
		json_object_set(e, "digest", json_object_get(data, "digest"));
		json_object_set(e, "size", json_object_get(data, "size"));
		json_object_set_new(e, "status", json_string("user-edited"));
		json_object_set_new(e, "user_edited", json_true());
		json_object_del(e, "error");
		json_object_del(e, "released");
		if (!json_object_get(e, "producer"))
			json_object_set(e, "producer", json_object_get(data, "producer"));
		if (!json_object_get(e, "type")) {
			json_object_set(e, "type", json_object_get(data, "type"));
			json_object_set(e, "ext", json_object_get(data, "ext"));
		}
		count(m, "edited");
	} else if (!strcmp(kind, "artefact.released")) {
		json_t *e = json_object_get(arts, subject);
		if (e) {
			json_object_del(e, "user_edited");
			json_object_set_new(e, "status", json_string("stale"));
			json_object_set_new(e, "released", json_true());
			json_object_set_new(e, "error", json_string("released from a hand edit"));
		}
		count(m, "edited");
	} else if (!strcmp(kind, "artefact.approved")) {
		json_t *e = json_object_get(arts, subject);
		if (e) {
			json_object_set(e, "approved_digest", json_object_get(e, "digest"));
			const char *st = json_string_value(json_object_get(e, "status"));
			if (st && !strcmp(st, "pending-review"))
				json_object_set_new(e, "status", json_string("clean"));
		}
		count(m, "approved");
	} else if (!strcmp(kind, "artefact.feedback")) {
		json_t *e = json_object_get(arts, subject);
		if (e) {
			json_t *fb = json_object_get(e, "feedback");
			if (!json_is_array(fb)) {
				fb = json_array();
				json_object_set_new(e, "feedback", fb);
			}
			json_array_append(fb, json_object_get(data, "text"));
		}
		count(m, "feedback");
	} else if (!strcmp(kind, "artefact.take_selected")) {
		json_t *e = json_object_get(arts, subject);
		json_int_t want = json_integer_value(json_object_get(data, "take"));
		size_t k;
		json_t *t;
		/* The take shown until now keeps its deps in its own record. */
		json_array_foreach(json_object_get(e, "takes"), k, t) {
			if (json_integer_value(json_object_get(t, "take")) ==
				    json_integer_value(json_object_get(e, "take")) &&
			    !json_object_get(t, "deps") && json_object_get(e, "deps"))
				json_object_set(t, "deps", json_object_get(e, "deps"));
		}
		json_array_foreach(json_object_get(e, "takes"), k, t) {
			if (json_integer_value(json_object_get(t, "take")) != want)
				continue;
			json_object_set(e, "digest", json_object_get(t, "digest"));
			json_object_set(e, "size", json_object_get(t, "size"));
			json_object_set(e, "fingerprint", json_object_get(t, "fingerprint"));
			json_object_set_new(e, "take", json_integer(want));
			const char *ap = json_string_value(json_object_get(e, "approved_digest"));
			int pending = json_is_true(json_object_get(e, "review_required")) &&
				      !(ap && !strcmp(ap, json_string_value(json_object_get(t, "digest"))));
			json_object_set_new(e, "status", json_string(pending ? "pending-review" : "clean"));
			/* The deps recorded are those of the take now shown, which keeps them here. */
			if (json_object_get(t, "deps")) {
				json_object_set(e, "deps", json_object_get(t, "deps"));
				json_object_del(t, "deps");
			}
		}
		count(m, "edited");
	} else if (!strcmp(kind, "input.set")) {
		json_t *in = json_object_get(m, "inputs");
		json_object_set_new(in, subject,
				    json_pack("{s:O,s:O}", "digest", json_object_get(data, "digest"),
					      "value", json_object_get(data, "value")));
		json_t *files = json_object_get(data, "files");
		if (json_is_object(files))
			json_object_update(json_object_get(m, "files"), files);
		count(m, "edited");
	} else if (!strcmp(kind, "revision.restored")) {
		/* A rewind: the content of an earlier revision, committed anew. */
		json_object_set(m, "artefacts", json_object_get(data, "artefacts"));
		json_object_set(m, "inputs", json_object_get(data, "inputs"));
		json_object_set(m, "files", json_object_get(data, "files"));
		json_object_set(m, "restored_from", json_object_get(data, "from"));
	} else if (!strcmp(kind, "artefact.removed")) {
		json_object_del(arts, subject);
		count(m, "removed");
	} else if (!strcmp(kind, "run.end")) {
		if (json_is_true(json_object_get(data, "interrupted")))
			json_object_set_new(m, "interrupted", json_true());
	} else if (!strcmp(kind, "run.recovered")) {
		json_object_set_new(m, "recovered", json_true());
	}
}

int quire_manifest_set_current(const char *qdir, const char *rev)
{
	char *path = quire__xasprintf("%s/current", qdir);
	char line[32];
	snprintf(line, sizeof(line), "%s\n", rev);
	int err = quire_fs_write_atomic(path, line, strlen(line), 0644);
	free(path);
	return err;
}

long quire_manifest_max_rev(const char *qdir)
{
	char *dir = quire__xasprintf("%s/manifests", qdir);
	DIR *d = opendir(dir);
	free(dir);
	long max = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		char name[64];
		if (len - 5 >= sizeof(name))
			continue;
		memcpy(name, e->d_name, len - 5);
		name[len - 5] = '\0';
		long n = quire_rev_parse(name);
		if (n > max)
			max = n;
	}
	closedir(d);
	return max;
}

/* The compact index: a header line, then one tab-separated line per artefact (ids, statuses,
 * digests, extensions and producer names hold no tab or newline; feedback is compact JSON,
 * which escapes both), ending with the byte range of the artefact's entry in the manifest's
 * text. Parsed by hand into rows that point into the file's text, split in place: a jansson
 * object per artefact was most of a 100k no-op plan (about 15 allocations each). */
#define INDEX_MAGIC "quire-index 5"
static const char *const index_str[] = { "status", "digest", "fingerprint", "ext",
					 "approved_digest" };
static const char *const index_int[] = { "take", "size", "duration_ms" };
enum { INDEX_NSTR = 5, INDEX_NINT = 3, INDEX_NFIELDS = 1 + INDEX_NSTR + INDEX_NINT + 3 };

/* A compacted entry's text (quire_manifest_compact): written as is, parsed when changed. */
#define TEXT_KEY " text"

struct quire_mbase {
	int refs;
	char *rev;	  /* the revision whose text this is; NULL for rows of a manifest */
	int fd;		  /* the manifest's file, held open; -1 when there is no text */
	const char *map;  /* its text, mapped read-only; NULL until first needed */
	size_t size;
	size_t touched;	  /* bytes of the map read since its pages were last let go */
	char *itext;	  /* the index file's text, split in place: the rows point into it */
	struct quire_mrow *rows; /* in the manifest's order: ids sorted */
	size_t nrows;
	uint32_t *slots;  /* open addressing by id: row + 1, 0 for an empty slot */
	size_t cap;
	struct quire__arena strings; /* the rows' strings, for rows of a manifest */
	/* The texts of the entries a commit onto this base changed, written to an unnamed file
	 * as they are folded instead of held (190 MB at 100k when every entry changes). */
	char *spilldir;	   /* where that file is made (.quire/tmp); NULL: texts stay in memory */
	int spill_fd;	   /* -1 until the first text is written (or when none can be) */
	int spill_full;	   /* writing failed: later texts stay in memory (what was written
			    * is still read back from the file) */
	size_t spilled;	   /* bytes in the file */
	struct quire_buf spill; /* bytes after those, not yet written */
	/* The index's fields of those entries (strings in `strings`), their byte ranges in the
	 * spill: a compacted entry in the overlay is the JSON integer of its row here (a jansson
	 * object of ten fields per entry was 1.3 KB of a 100k commit's memory each). */
	struct quire_mrow *crows;
	size_t ncrows, acrows;
};

static struct quire_mbase *mbase_new(void)
{
	struct quire_mbase *b = quire__xcalloc(1, sizeof(*b));
	b->refs = 1;
	b->fd = -1;
	b->spill_fd = -1;
	quire_buf_init(&b->spill, 0);
	return b;
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
	quire_buf_release(&b->spill);
	free(b->spilldir);
	free(b->crows);
	quire__arena_release(&b->strings);
	free(b->slots);
	free(b->rows);
	free(b->itext);
	free(b->rev);
	free(b);
}

/* Fills the id table (after the last row was added: rows are not moved afterwards). */
static void mbase_index_rows(struct quire_mbase *b)
{
	b->cap = 16;
	while (b->cap < b->nrows * 2)
		b->cap *= 2;
	b->slots = quire__xcalloc_big(b->cap, sizeof(*b->slots));
	for (size_t i = 0; i < b->nrows; i++) {
		size_t h = quire__hash_str(b->rows[i].id) & (b->cap - 1);
		while (b->slots[h])
			h = (h + 1) & (b->cap - 1);
		b->slots[h] = (uint32_t)(i + 1);
	}
}

const struct quire_mrow *quire_mbase_find(const struct quire_mbase *b, const char *id)
{
	if (!b || !b->nrows)
		return NULL;
	size_t h = quire__hash_str(id) & (b->cap - 1);
	for (uint32_t s; (s = b->slots[h]); h = (h + 1) & (b->cap - 1))
		if (!strcmp(b->rows[s - 1].id, id))
			return &b->rows[s - 1];
	return NULL;
}

const struct quire_mrow *quire_mbase_rows(const struct quire_mbase *b, size_t *n)
{
	*n = b ? b->nrows : 0;
	return b ? b->rows : NULL;
}

int quire_mbase_has_text(const struct quire_mbase *b)
{
	return b && b->fd >= 0;
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
static void row_of_entry(struct quire_mrow *r, const char *id, const json_t *e)
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

struct quire_mbase *quire_mbase_from_manifest(const json_t *m)
{
	struct quire_mbase *b = mbase_new();
	const json_t *arts = json_object_get(m, "artefacts");
	b->rows = quire__xcalloc_big(json_object_size(arts) + 1, sizeof(*b->rows));
	const char *key;
	json_t *e;
	json_object_foreach((json_t *)arts, key, e) {
		if (!json_is_object(e))
			continue;
		/* Copies: a run's commit changes m in place while the plan made of it lives. */
		struct quire_mrow *r = &b->rows[b->nrows++];
		row_of_entry(r, key, e);
		r->id = own(b, r->id);
		r->status = own(b, r->status);
		r->digest = own(b, r->digest);
		r->fingerprint = own(b, r->fingerprint);
		r->ext = own(b, r->ext);
		r->approved_digest = own(b, r->approved_digest);
		const json_t *fb = json_object_get(e, "feedback");
		if (json_array_size(fb)) {
			char *t = json_dumps(fb, JSON_COMPACT);
			r->feedback = own(b, t);
			free(t);
		}
	}
	qsort(b->rows, b->nrows, sizeof(*b->rows), cmp_row_ids);
	mbase_index_rows(b);
	return b;
}

static int mbase_map(struct quire_mbase *b)
{
	if (b->map)
		return 0;
	void *m = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (m == MAP_FAILED)
		return quire_error_set(QUIRE_EIO, "cannot map .quire/manifests/%s.json: %s", b->rev,
				       strerror(errno));
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
 * jansson objects, built twice per commit only to be written out again. put_entry lays the
 * text out where it goes. Records shorter than this stay parsed (unit tests set it to 0). */
size_t quire__manifest_raw_min = 256;

/* How much of a manifest's map is read before its pages are let go (see peek_ex; unit tests
 * set it to 1 so that every read maps the pages again). */
size_t quire__manifest_map_keep = 4u << 20;

/* How many spilled bytes are gathered before they are written (unit tests set it to 1), and
 * how large the spill file may grow before writing it fails (unit tests make it small, as a
 * full disk would). */
size_t quire__manifest_spill_chunk = 1u << 20;
size_t quire__manifest_spill_limit = (size_t)-1;

/* Parses JSON object text, keeping the value of key as text when it is large enough. */
static json_t *parse_keeping(const char *text, size_t len, const char *key)
{
	return quire_json_loads_keeping(text, len, key, quire__manifest_raw_min);
}

/* Writes the spill's pending bytes to its file (made on first use). When that fails (no
 * file, a full disk), later texts stay in memory: the buffer keeps everything from
 * b->spilled on, and what was written before is still read from the file. */
static void spill_flush(struct quire_mbase *b)
{
	if (b->spill_fd < 0) {
#ifdef O_TMPFILE
		b->spill_fd = open(b->spilldir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
		if (b->spill_fd < 0) {
			char *t = quire__xasprintf("%s/spill-XXXXXX", b->spilldir);
			b->spill_fd = mkostemp(t, O_CLOEXEC);
			if (b->spill_fd >= 0)
				unlink(t);
			free(t);
		}
		if (b->spill_fd < 0) {
			b->spill_full = 1;
			return;
		}
	}
	if (b->spilled + b->spill.len > quire__manifest_spill_limit) {
		b->spill_full = 1;
		return;
	}
	for (size_t done = 0; done < b->spill.len;) {
		ssize_t n = pwrite(b->spill_fd, b->spill.ptr + done, b->spill.len - done,
				   (off_t)(b->spilled + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			b->spill_full = 1;
			return;
		}
		done += (size_t)n;
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
static int spill_read(struct quire_mbase *b, size_t off, size_t len, struct quire_buf *out)
{
	if (off >= b->spilled) {
		if (off - b->spilled + len > b->spill.len)
			return quire_error_set(QUIRE_ERROR, "internal: a spilled text out of range");
		return quire_buf_add(out, b->spill.ptr + (off - b->spilled), len);
	}
	int err = quire_buf_grow(out, len);
	for (size_t done = 0; !err && done < len;) {
		ssize_t n = pread(b->spill_fd, out->ptr + out->len + done, len - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = quire_error_set(QUIRE_EIO, "cannot read back a changed entry: %s",
					      n < 0 ? strerror(errno) : "file too short");
		else
			done += (size_t)n;
	}
	if (!err) {
		out->len += len;
		out->ptr[out->len] = '\0';
	}
	return err;
}

/* Whether e is a compacted entry (its text kept in memory, or spilled: a row number). */
static int is_compact(const json_t *e)
{
	return json_is_integer(e) || json_object_get(e, TEXT_KEY);
}

/* The row of a spilled entry e (a row number), or NULL. */
static const struct quire_mrow *crow(const struct quire_mbase *b, const json_t *e)
{
	json_int_t k = json_is_integer(e) ? json_integer_value(e) : -1;
	return b && k >= 0 && (size_t)k < b->ncrows ? &b->crows[k] : NULL;
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
		const struct quire_mrow *cr = crow(base, e);
		if (!cr)
			return quire_error_set(QUIRE_ECORRUPT, "the entry of '%s' is not an object", id);
		struct quire_buf t = QUIRE_BUF_INIT;
		int err = spill_read(base, cr->off, cr->len, &t);
		if (!err && !(*entry = parse_keeping(t.ptr, t.len, key)))
			err = quire_error_set(QUIRE_ERROR, "internal: the compacted entry of '%s' "
							   "does not parse", id);
		quire_buf_release(&t);
		return err;
	}
	if (text) {
		*entry = parse_keeping(json_string_value(text), json_string_length(text), key);
		if (*entry)
			return 0;
		return quire_error_set(QUIRE_ERROR, "internal: the compacted entry of '%s' does not "
						    "parse", id);
	}
	const struct quire_mrow *r = quire_mbase_find(base, id);
	if (!r)
		return 0;
	if (!quire_mbase_has_text(base))
		return quire_error_set(QUIRE_ERROR, "internal: the entry of '%s' is not in its "
						    "manifest", id);
	int err = mbase_map(base);
	if (err)
		return err;
	*entry = parse_keeping(base->map + r->off, r->len, key);
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
	return quire_error_set(QUIRE_ECORRUPT,
			       ".quire/manifests/%s.json: the entry of '%s' (byte %zu) does not match "
			       ".quire/runs/%s-index.tsv: %s",
			       base->rev, id, r->off, base->rev, je.text);
}

static int materialise_ex(json_t *m, struct quire_mbase *base, const char *id, json_t **entry,
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

int quire_manifest_materialise(json_t *m, struct quire_mbase *base, const char *id,
			       json_t **entry)
{
	return materialise_ex(m, base, id, entry, 0);
}

int quire_manifest_peek(const json_t *m, struct quire_mbase *base, const char *id,
			json_t **entry)
{
	return peek_ex(m, base, id, entry, 0);
}

int quire_manifest_peek_kept(const json_t *m, struct quire_mbase *base, const char *id,
			     json_t **entry)
{
	return peek_ex(m, base, id, entry, 1);
}

static int cmp_keys(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}


/* A value kept as text (see quire__manifest_raw_min) laid out at depth, else written. */
static void put_kept(struct quire_buf *b, const json_t *v, int depth)
{
	if (!json_is_string(v) ||
	    quire_json_reformat(b, json_string_value(v), json_string_length(v), depth))
		quire_json_write_at(b, v, depth);
}


/* Writes an entry (or a take, in_take) as quire_json_write_at(e, depth) would, its "deps"
 * laid out from text when kept so, and its takes' too. */
static void put_entry(struct quire_buf *b, const json_t *e, int depth, int in_take)
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
			put_kept(b, v, depth + 1);
		} else if (!in_take && !strcmp(keys[k], "takes") && json_array_size(v)) {
			quire_buf_putc(b, '[');
			for (size_t t = 0; t < json_array_size(v); t++) {
				if (t)
					quire_buf_putc(b, ',');
				quire_json_indent(b, depth + 2);
				put_entry(b, json_array_get(v, t), depth + 2, 1);
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
static void compact_ex(json_t *m, struct quire_mbase *base, const char *id)
{
	json_t *arts = json_object_get(m, "artefacts");
	json_t *e = json_object_get(arts, id);
	if (!json_is_object(e) || is_compact(e))
		return;
	struct quire_buf b = QUIRE_BUF_INIT;
	put_entry(&b, e, 2, 0);
	if (base && base->spilldir) {
		/* A row (its strings copied) and the text in the spill. */
		QUIRE_GROW(base->crows, base->acrows, base->ncrows + 1);
		struct quire_mrow *r = &base->crows[base->ncrows];
		row_of_entry(r, id, e);
		r->id = own(base, r->id);
		r->status = own(base, r->status);
		r->digest = own(base, r->digest);
		r->fingerprint = own(base, r->fingerprint);
		r->ext = own(base, r->ext);
		r->approved_digest = own(base, r->approved_digest);
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
		if (json_object_get(e, index_str[k]))
			json_object_set_nocheck(c, index_str[k], json_object_get(e, index_str[k]));
	for (int k = 0; k < INDEX_NINT; k++)
		if (json_object_get(e, index_int[k]))
			json_object_set_nocheck(c, index_int[k], json_object_get(e, index_int[k]));
	if (json_object_get(e, "feedback"))
		json_object_set_nocheck(c, "feedback", json_object_get(e, "feedback"));
	json_object_set_new_nocheck(c, TEXT_KEY, json_stringn_nocheck(b.ptr, b.len));
	quire_buf_release(&b);
	json_object_set_new(arts, id, c);
}

void quire_manifest_compact(json_t *m, const char *id)
{
	compact_ex(m, NULL, id);
}

static int fold(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
		const char *subject, const json_t *data, int compact)
{
	json_t *arts = json_object_get(m, "artefacts");
	if (base && !strcmp(kind, "revision.restored"))
		return quire_error_set(QUIRE_ERROR, "internal: a rewind folded onto a revision's index");
	if (subject && json_is_null(json_object_get(arts, subject))) {
		/* Removed earlier in this fold: absent (its base row stays hidden). */
		json_object_del(arts, subject);
	} else if (subject) {
		/* The full entry is what an event changes. */
		json_t *e;
		int err = materialise_ex(m, base, subject, &e, compact);
		if (err)
			return err;
	}
	quire_manifest_apply(m, time_ns, kind, subject, data);
	if (!subject)
		return 0;
	if (!json_object_get(arts, subject) && quire_mbase_find(base, subject))
		json_object_set_new(arts, subject, json_null()); /* hides the base's row */
	else if (compact)
		compact_ex(m, base, subject);
	return 0;
}

int quire_manifest_fold(json_t *m, struct quire_mbase *base, int64_t time_ns, const char *kind,
			const char *subject, const json_t *data, int compact)
{
	return fold(m, base, time_ns, kind, subject, data, compact);
}

int quire_manifest_fold_text(json_t *m, struct quire_mbase *base, int64_t time_ns,
			     const char *kind, const char *subject, const char *text, size_t len,
			     int compact)
{
	const char *key = !compact			     ? NULL
			  : !strcmp(kind, "artefact.produced") ? "deps"
			  : !strcmp(kind, "artefact.cached")   ? "deps"
			  : !strcmp(kind, "run.start")	     ? "files"
							     : NULL;
	json_t *data = NULL;
	if (text && (data = parse_keeping(text, len, key))) {
		/* What was kept as text is checked once as a parser would: written as it is, a
		 * damaged record would make the manifest unreadable. */
		const json_t *kept = key ? json_object_get(data, key) : NULL;
		struct quire_buf scratch = QUIRE_BUF_INIT;
		if (json_is_string(kept) && quire_json_reformat(&scratch, json_string_value(kept),
								json_string_length(kept), -1)) {
			json_decref(data);
			data = NULL;
		}
		quire_buf_release(&scratch);
	}
	if (text && !data) {
		json_error_t je;
		if (!(data = json_loadb(text, len, JSON_DECODE_ANY, &je)))
			return quire_error_set(QUIRE_ECORRUPT, "an event of '%s' has invalid data: %s",
					       subject ? subject : kind, je.text);
	}
	int err = fold(m, base, time_ns, kind, subject, data, compact);
	json_decref(data);
	return err;
}

static int index_safe(const char *s)
{
	return s && !strpbrk(s, "\t\n\r");
}

/* One artefact of a manifest being written or listed: the base's row (copied), or an entry
 * of m (written from its JSON or compacted text). */
struct span {
	const char *id;
	const struct quire_mrow *row;
	int spilled;	 /* row is a changed entry's, its text in the base's spill */
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
		const struct quire_mrow *cr = crow(base, ov[j].e);
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
			row_of_entry(&r, s[i].id, s[i].e);
		const struct quire_mrow *x = s[i].row ? s[i].row : &r;
		if (x->digest)
			(*out)[k++] = (struct quire_mout){ x->id, x->digest, x->ext, x->size };
	}
	free(s);
	return k;
}

/* Appends the index line of one artefact written at its span. 0, or -1 when a value cannot
 * be held in the index. */
static int index_line(struct quire_buf *b, const struct span *s)
{
	struct quire_mrow r;
	if (!s->row)
		row_of_entry(&r, s->id, s->e);
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
	quire_buf_putc(b, '\t');
	quire_buf_put_int(b, (long long)s->off);
	quire_buf_putc(b, '\t');
	quire_buf_put_int(b, (long long)s->len);
	quire_buf_putc(b, '\n');
	return ok ? 0 : -1;
}

/* Writes the index of manifest rev (its file: size and mtime) from the spans of its entries
 * in the text just written. A cache: a value it cannot hold means no index. */
static void write_index(const char *qdir, const char *rev, const struct stat *st,
			const struct span *spans, size_t nspans)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	quire_buf_printf(&b, INDEX_MAGIC "\t%d\t%s\t%lld\t%lld\n", MANIFEST_FORMAT, rev,
			 (long long)st->st_size,
			 (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
	int ok = 1;
	for (size_t i = 0; i < nspans && ok; i++)
		ok = index_line(&b, &spans[i]) == 0;
	char *dir = quire__xasprintf("%s/runs", qdir);
	char *path = quire__xasprintf("%s/%s-index.tsv", dir, rev);
	if (ok && quire_fs_mkdirs(dir, 0755) == 0)
		quire_fs_replace(path, b.ptr, b.len, 0644);
	else
		unlink(path);
	quire_error_clear();
	quire_buf_release(&b);
	free(dir);
	free(path);
}


/* Where a manifest's text goes: a buffer, or a file written as it is made (flushed every
 * MiB, so a large manifest is never held whole), with runs of entries copied from the base's
 * file kept pending so that neighbours in the parent are copied as one range. */
struct mw {
	struct quire_buf buf;
	struct quire_fs_stream *st; /* NULL: everything stays in buf */
	struct quire_mbase *base;
	size_t flushed;	   /* bytes already in the file */
	size_t cp_off, cp_len; /* the pending copy from base */
	const struct quire_mrow *cp_row; /* the last row in it */
	int err;
};

static size_t mw_pos(const struct mw *w)
{
	return w->flushed + w->buf.len + w->cp_len;
}

static void mw_flush_buf(struct mw *w)
{
	if (w->st && w->buf.len) {
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
		if (quire_fs_stream_copy(w->st, w->base->fd, w->cp_off, w->cp_len) && !w->err)
			w->err = w->st->err;
		w->flushed += w->cp_len;
	} else {
		int err = mbase_map(w->base);
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
static int manifest_emit(const json_t *m, struct mw *w, struct span **spans_out,
			 size_t *nspans_out)
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
	qsort(keys, nk, sizeof(*keys), cmp_keys);
	quire_buf_puts(mw_buf(w), nk ? "{" : "{}");
	for (size_t k = 0; k < nk && !w->err; k++) {
		struct quire_buf *b = mw_buf(w);
		quire_buf_puts(b, k ? ",\n  " : "\n  ");
		quire_buf_put_jstr(b, keys[k], strlen(keys[k]));
		quire_buf_add(b, ": ", 2);
		v = json_object_get(m, keys[k]);
		if (v != arts) {
			if (!strcmp(keys[k], "files"))
				put_kept(b, v, 1); /* a run's file list kept as text */
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
			const json_t *text = spans[i].e ? json_object_get(spans[i].e, TEXT_KEY) : NULL;
			if (from && !quire_mbase_has_text(w->base)) {
				w->err = quire_error_set(QUIRE_ERROR, "internal: '%s' is not in its "
								      "manifest's text", from->id);
				break;
			}
			if (from && last_copied && w->cp_len && from == w->cp_row + 1) {
				/* The parent's next entry: the separator and key between are the same
				 * bytes, so the pending copy just grows. */
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
				const struct quire_mrow *cr = spans[i].spilled ? spans[i].row : NULL;
				if (text)
					quire_buf_add(b, json_string_value(text), json_string_length(text));
				else if (cr) {
					int rerr = spill_read(w->base, cr->off, cr->len, b);
					if (rerr) {
						w->err = rerr;
						break;
					}
				} else {
					put_entry(b, spans[i].e, 2, 0);
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
	struct mw w = { QUIRE_BUF_INIT, NULL, base, 0, 0, 0, NULL, 0 };
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

int quire_manifest_write_from(const char *qdir, const char *rev, const json_t *m,
			      struct quire_mbase *base)
{
	char *dir = quire__xasprintf("%s/manifests", qdir);
	char *path = quire__xasprintf("%s/%s.json", dir, rev);
	struct span *spans = NULL;
	size_t nspans = 0;
	struct stat st;
	struct quire_fs_stream fst;
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = quire_fs_stream_open(&fst, path, 0644);
	if (!err) {
		struct mw w = { QUIRE_BUF_INIT, &fst, base, 0, 0, 0, NULL, 0 };
		err = manifest_emit(m, &w, &spans, &nspans);
		quire_buf_release(&w.buf);
		if (err)
			quire_fs_stream_abort(&fst);
		else
			err = quire_fs_stream_commit(&fst);
	}
	if (!err && stat(path, &st) == 0)
		write_index(qdir, rev, &st, spans, nspans);
	free(spans);
	free(dir);
	free(path);
	return err;
}

int quire_manifest_write(const char *qdir, const char *rev, const json_t *m)
{
	return quire_manifest_write_from(qdir, rev, m, NULL);
}

void quire_manifest_reindex(const char *qdir, const char *rev, const json_t *m)
{
	char *path = quire__xasprintf("%s/manifests/%s.json", qdir, rev);
	struct quire_buf text = QUIRE_BUF_INIT, file = QUIRE_BUF_INIT;
	struct span *spans = NULL;
	size_t nspans = 0;
	struct stat st;
	/* The spans hold only if the file is, byte for byte, what quire writes for m. */
	if (manifest_text(m, NULL, &text, &spans, &nspans) == 0 && stat(path, &st) == 0 &&
	    quire_fs_read(path, &file, 1u << 30) == 0 && file.len == text.len &&
	    !memcmp(file.ptr, text.ptr, text.len))
		write_index(qdir, rev, &st, spans, nspans);
	quire_error_clear();
	quire_buf_release(&text);
	quire_buf_release(&file);
	free(spans);
	free(path);
}

/* Splits line at tabs into at most max fields (NUL-terminating them); the count. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;
	for (char *s = line; n < max;) {
		f[n++] = s;
		char *t = strchr(s, '\t');
		if (!t)
			break;
		*t = '\0';
		s = t + 1;
	}
	return n;
}

static int parse_int(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

/* Whether s is valid UTF-8 (what a JSON string may hold), checked only past plain ASCII. */
static int text_ok(const char *s)
{
	const char *t = s;
	while (*t && !((unsigned char)*t & 0x80))
		t++;
	if (!*t)
		return 1;
	int ok = quire_fs_check_utf8("", s, strlen(s)) == 0;
	quire_error_clear();
	return ok;
}

/* The whole of a regular file in one buffer (NUL-terminated; large ones on huge pages, read
 * in place: growing a buffer 64 KiB at a time copied a 19 MB index over and over), or NULL. */
static char *read_whole(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= (1ll << 30)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *b = quire__xcalloc_big(size + 1, 1);
	while (got < size) {
		ssize_t n = read(fd, b + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	b[got] = '\0';
	return b;
}

void quire_manifest_load_index(const char *qdir, const char *rev, json_t **out,
			       struct quire_mbase **base_out)
{
	*out = NULL;
	*base_out = NULL;
	char *path = quire__xasprintf("%s/runs/%s-index.tsv", qdir, rev);
	size_t tlen = 0;
	char *text = read_whole(path, &tlen);
	free(path);
	if (!text)
		return;
	/* The file the spans point into is held open: it is the one the index describes. */
	char *mpath = quire__xasprintf("%s/manifests/%s.json", qdir, rev);
	int fd = open(mpath, O_RDONLY | O_CLOEXEC);
	free(mpath);
	char *spilldir = quire__xasprintf("%s/tmp", qdir);
	quire__manifest_index_parse(text, tlen, rev, fd, spilldir, out, base_out);
	free(spilldir);
}

void quire__manifest_index_parse(char *text, size_t tlen, const char *rev, int fd,
				 const char *spilldir, json_t **out, struct quire_mbase **base_out)
{
	*out = NULL;
	*base_out = NULL;
	struct quire_mbase *base = mbase_new();
	base->rev = quire__xstrdup(rev);
	base->itext = text;
	base->fd = fd;
	base->spilldir = spilldir ? quire__xstrdup(spilldir) : NULL;
	long long isize, imtime;
	char *line = text, *nl = text ? strchr(line, '\n') : NULL;
	char *h[5];
	struct stat st;
	/* A NUL inside would end the parse early and leave artefacts out: not an index. */
	if (!nl || strlen(text) != tlen)
		goto bad;
	/* One row per line after the header, sized once. */
	size_t nlines = 0;
	for (const char *c = nl + 1; (c = memchr(c, '\n', tlen - (size_t)(c - text))); c++)
		nlines++;
	base->rows = quire__xcalloc_big(nlines + 1, sizeof(*base->rows));
	*nl = '\0';
	if (split_tabs(line, h, 5) != 5 || strcmp(h[0], INDEX_MAGIC) ||
	    atoi(h[1]) != MANIFEST_FORMAT || strcmp(h[2], rev) || parse_int(h[3], &isize) ||
	    parse_int(h[4], &imtime))
		goto bad;
	if (base->fd < 0 || fstat(base->fd, &st) < 0 || st.st_size != isize ||
	    (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != imtime ||
	    !st.st_size)
		goto bad;
	base->size = (size_t)st.st_size;
	for (line = nl + 1; *line; line = nl + 1) {
		if (!(nl = strchr(line, '\n')))
			goto bad;
		*nl = '\0';
		char *f[INDEX_NFIELDS];
		if (split_tabs(line, f, INDEX_NFIELDS) != INDEX_NFIELDS || !*f[0] || !text_ok(f[0]))
			goto bad;
		long long off, len;
		if (parse_int(f[INDEX_NFIELDS - 2], &off) || parse_int(f[INDEX_NFIELDS - 1], &len) ||
		    off <= 0 || len < 2 || (size_t)off + (size_t)len > base->size)
			goto bad;
		struct quire_mrow r = { .id = f[0], .size = -1, .off = (size_t)off,
					.len = (size_t)len };
		const char **str[INDEX_NSTR] = { &r.status, &r.digest, &r.fingerprint, &r.ext,
						 &r.approved_digest };
		for (int k = 0; k < INDEX_NSTR; k++) {
			const char *s = f[1 + k];
			if (!*s)
				continue;
			/* digest, fingerprint, approved digest: checked hex */
			if ((k == 1 || k == 2 || k == 4) ? !quire_digest_valid(s) : !text_ok(s))
				goto bad;
			*str[k] = s;
		}
		long long *num[INDEX_NINT] = { &r.take, &r.size, &r.duration_ms };
		for (int k = 0; k < INDEX_NINT; k++)
			if (*f[1 + INDEX_NSTR + k] && parse_int(f[1 + INDEX_NSTR + k], num[k]))
				goto bad;
		const char *fbs = f[1 + INDEX_NSTR + INDEX_NINT];
		if (*fbs) {
			json_t *fb = json_loads(fbs, 0, NULL);
			int ok = json_is_array(fb);
			json_decref(fb);
			if (!ok)
				goto bad;
			r.feedback = fbs;
		}
		/* Rows in the manifest's order (ids sorted), each entry after the last with exactly
		 * its key between: ranges that are only inside the file could still be wrong, and
		 * the entries a commit copies are copied unparsed. */
		if (base->nrows) {
			const struct quire_mrow *prev = &base->rows[base->nrows - 1];
			size_t keylen = quire_jstr_len(r.id, strlen(r.id));
			if (strcmp(prev->id, r.id) >= 0 || r.off < prev->off + prev->len ||
			    r.off - (prev->off + prev->len) != strlen(",\n    : ") + keylen)
				goto bad;
		}
		if (base->nrows >= nlines)
			goto bad;
		base->rows[base->nrows++] = r;
	}
	mbase_index_rows(base);
	*out = json_pack("{s:i,s:s,s:{},s:{},s:{},s:b}", "format", MANIFEST_FORMAT, "revision",
			 rev, "artefacts", "inputs", "files", "slim", 1);
	*base_out = base;
	base = NULL;
bad:
	/* A missing, damaged or stale index is no error: the caller reads the manifest. */
	quire_error_clear();
	quire_mbase_free(base);
}

struct quire_index_load {
	char *qdir, *rev;
	pthread_t thread;
	int started;
	json_t *m;
	struct quire_mbase *base;
};

static void *index_loader(void *ud)
{
	struct quire_index_load *l = ud;
	quire_manifest_load_index(l->qdir, l->rev, &l->m, &l->base);
	return NULL;
}

struct quire_index_load *quire_manifest_load_index_start(const char *qdir, const char *rev)
{
	struct quire_index_load *l = quire__xcalloc(1, sizeof(*l));
	l->qdir = quire__xstrdup(qdir);
	l->rev = quire__xstrdup(rev);
	l->started = pthread_create(&l->thread, NULL, index_loader, l) == 0;
	return l;
}

void quire_manifest_load_index_finish(struct quire_index_load *l, json_t **out,
				      struct quire_mbase **base)
{
	if (l->started)
		pthread_join(l->thread, NULL);
	else
		index_loader(l); /* no thread to be had: here and now */
	*out = l->m;
	*base = l->base;
	free(l->qdir);
	free(l->rev);
	free(l);
}
