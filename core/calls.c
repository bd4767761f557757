/* Call records a clone can read: a run's commit writes the records of the calls it made, and
 * the blobs they name, to .quire/calls/<rev>.jsonl, committed with the manifest; a store that
 * lacks a record (a clone's) takes it from there, verified by its digest. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/run.h"
#include "util.h"

/* Records are small (a prompt over 16 KiB is a blob of its own); a raw answer is at most
 * 16 MiB. */
#define CALL_BLOB_CAP (17u << 20)

void quire_call_named(const json_t *c, const char *out[3])
{
	const json_t *p = json_object_get(c, "prompt");
	out[0] = json_is_true(json_object_get(p, "kept")) && !json_object_get(p, "text")
			 ? json_string_value(json_object_get(p, "digest"))
			 : NULL;
	out[1] = json_string_value(json_object_get(c, "schema"));
	out[2] = json_string_value(json_object_get(c, "response"));
}

/* Appends blob d, read as b, as a line {"digest": d, "text": content}, written as jansson
 * writes it (sorted keys, compact): text that is not UTF-8 is left out (the record still
 * says what it was). */
static void put_line(struct quire_buf *out, const char *d, const struct quire_buf *b)
{
	if (!quire__utf8_valid(b->ptr ? b->ptr : "", b->len))
		return;
	quire_buf_puts(out, "{\"digest\":");
	quire_buf_put_jstr(out, d, strlen(d));
	quire_buf_puts(out, ",\"text\":");
	quire_buf_put_jstr(out, b->ptr ? b->ptr : "", b->len);
	quire_buf_puts(out, "}\n");
}

/* Records are read 64 at a time (one lock and one read transaction of the pack), then the
 * blobs they name. */
#define CALLS_CHUNK 64

/* Reads blobs d[0, n) (into b, their codes in errs), CALLS_CHUNK at a time. */
static void read_blobs(const char *qdir, const char **d, size_t n, struct quire_buf *b, int *errs)
{
	long long sizes[CALLS_CHUNK];
	for (size_t k = 0; k < CALLS_CHUNK; k++)
		sizes[k] = -1;
	for (size_t k = 0; k < n; k += CALLS_CHUNK) {
		size_t m = n - k < CALLS_CHUNK ? n - k : CALLS_CHUNK;
		quire_blob_read_many(qdir, -1, d + k, sizes, m, b + k, CALL_BLOB_CAP, errs + k);
	}
}

/* The pack's lines are written to its file a MiB at a time: a 10k first build's pack is 5 MB
 * (each exec call's record and blobs), held whole it was the largest part of the commit's
 * peak. */
#define CALLS_FLUSH (1u << 20)

struct quire_calls_pending {
	char *dir;
	struct quire_fs_stream st;
};

/* The pack of calls written to a stream at path (its temporary file beside it), kept open in
 * *out until named. */
static int begin_at(const char *qdir, const char *path, const char *const *calls, size_t n,
		    struct quire_calls_pending **out)
{
	*out = NULL;
	if (!n)
		return 0;
	char *dir = quire__xasprintf("%s/calls", qdir), *pdir = quire__xstrdup(path);
	*strrchr(pdir, '/') = '\0';
	struct quire_fs_stream st;
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = quire_fs_mkdirs(pdir, 0755);
	if (!err)
		err = quire_fs_stream_open(&st, path, 0644);
	free(pdir);
	if (err) {
		free(dir);
		return err;
	}
	size_t wrote = 0;
	struct quire_buf lines = QUIRE_BUF_INIT;
	json_t *done = json_object();
	const char *d[CALLS_CHUNK], *nd[3 * CALLS_CHUNK];
	struct quire_buf b[CALLS_CHUNK], nb[3 * CALLS_CHUNK];
	int errs[CALLS_CHUNK], nerrs[3 * CALLS_CHUNK];
	size_t upto[CALLS_CHUNK]; /* record x's named blobs end at nd[upto[x]] */
	for (size_t k = 0; k < n;) {
		size_t m = 0, nn = 0;
		for (; k < n && m < CALLS_CHUNK; k++)
			if (calls[k] && !json_object_get(done, calls[k])) {
				json_object_set_new(done, calls[k], json_true());
				d[m] = calls[k];
				b[m++] = (struct quire_buf)QUIRE_BUF_INIT;
			}
		/* Verified: the record is parsed for the blobs it names, read together next. */
		read_blobs(qdir, d, m, b, errs);
		for (size_t x = 0; x < m; x++) {
			json_t *c =
				errs[x] ? NULL
					: json_loadb(b[x].ptr ? b[x].ptr : "", b[x].len, 0, NULL);
			const char *named[3] = { NULL, NULL, NULL };
			if (c)
				quire_call_named(c, named);
			for (int y = 0; y < 3; y++)
				if (named[y] && !json_object_get(done, named[y])) {
					json_object_set_new(done, named[y], json_true());
					/* The key stays while done does; c goes below. */
					nd[nn] = json_object_iter_key(
						json_object_iter_at(done, named[y]));
					nb[nn++] = (struct quire_buf)QUIRE_BUF_INIT;
				}
			upto[x] = nn;
			json_decref(c);
		}
		read_blobs(qdir, nd, nn, nb, nerrs);
		/* Each record's line, then the lines of the blobs it named first. */
		for (size_t x = 0, y = 0; x < m; x++) {
			if (!errs[x])
				put_line(&lines, d[x], &b[x]);
			for (; y < upto[x]; y++)
				if (!nerrs[y])
					put_line(&lines, nd[y], &nb[y]);
			quire_buf_release(&b[x]);
		}
		for (size_t y = 0; y < nn; y++)
			quire_buf_release(&nb[y]);
		if (lines.len >= CALLS_FLUSH || k == n) {
			quire_fs_stream_write(&st, lines.ptr, lines.len);
			wrote += lines.len;
			quire_buf_reset(&lines);
		}
	}
	quire_error_clear();
	json_decref(done);
	quire_buf_release(&lines);
	/* No line (every record unreadable): no pack, as before. */
	if (!wrote) {
		quire_fs_stream_abort(&st);
		free(dir);
		return 0;
	}
	*out = quire__xcalloc(1, sizeof(**out));
	(*out)->dir = dir;
	(*out)->st = st;
	return 0;
}

int quire_calls_begin(const char *qdir, const char *const *calls, size_t n,
		      struct quire_calls_pending **out)
{
	/* Written in .quire/tmp (not committed: a kill while the revision is made leaves nothing
	 * in calls/) and renamed into calls/ once the revision is named. */
	char *path = quire__xasprintf("%s/tmp/calls-pending.jsonl", qdir);
	int err = begin_at(qdir, path, calls, n, out);
	free(path);
	return err;
}

int quire_calls_finish(struct quire_calls_pending *p, const char *rev)
{
	if (!p)
		return 0;
	free(p->st.path);
	p->st.path = quire__xasprintf("%s/%s.jsonl", p->dir, rev);
	int err = quire_fs_stream_commit(&p->st);
	free(p->dir);
	free(p);
	return err;
}

void quire_calls_abandon(struct quire_calls_pending *p)
{
	if (!p)
		return;
	quire_fs_stream_abort(&p->st);
	free(p->dir);
	free(p);
}

int quire_calls_write(const char *qdir, const char *rev, const char *const *calls, size_t n)
{
	struct quire_calls_pending *p = NULL;
	char *path = quire__xasprintf("%s/calls/%s.jsonl", qdir, rev);
	int err = begin_at(qdir, path, calls, n, &p);
	free(path);
	return err ? err : quire_calls_finish(p, rev);
}

/* Puts into the store the blob with digest d from the committed pack at path, when the pack
 * has it and its content hashes to d. */
static int adopt_from(const char *qdir, const char *path, const char *d)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int found = 0;
	if (quire_fs_read(path, &b, 0)) {
		quire_error_clear();
		return 0;
	}
	char needle[QUIRE_DIGEST_STRLEN + 16];
	snprintf(needle, sizeof(needle), "{\"digest\":\"%s\"", d);
	for (char *l = b.ptr; l && !found && l < b.ptr + b.len;) {
		char *nl = memchr(l, '\n', (size_t)(b.ptr + b.len - l));
		size_t len = nl ? (size_t)(nl - l) : (size_t)(b.ptr + b.len - l);
		if (len > strlen(needle) && !strncmp(l, needle, strlen(needle))) {
			json_t *line = json_loadb(l, len, 0, NULL);
			const json_t *t = json_object_get(line, "text");
			struct quire_digest got;
			/* Hashed, never trusted by name: a damaged line is no answer. */
			if (json_is_string(t) &&
			    !quire_blob_put(qdir, json_string_value(t), json_string_length(t),
					    &got) &&
			    !strcmp(got.s, d))
				found = 1;
			json_decref(line);
		}
		l = nl ? nl + 1 : NULL;
	}
	quire_error_clear();
	quire_buf_release(&b);
	return found;
}

static int cmp_names(const void *x, const void *y)
{
	return -strcmp(*(char *const *)x, *(char *const *)y);
}

/* Takes blob d from the committed packs (newest first) into the store. */
static int adopt(const char *qdir, const char *d)
{
	char *dir = quire__xasprintf("%s/calls", qdir);
	DIR *dh = opendir(dir);
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	while (dh && (de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		if (l > 6 && !strcmp(de->d_name + l - 6, ".jsonl")) {
			QUIRE_GROW(names, alloc, n + 1);
			names[n++] = quire__xstrdup(de->d_name);
		}
	}
	if (dh)
		closedir(dh);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	int found = 0;
	for (size_t k = 0; k < n; k++) {
		char *path = quire__xasprintf("%s/%s", dir, names[k]);
		if (!found)
			found = adopt_from(qdir, path, d);
		free(path);
		free(names[k]);
	}
	free(names);
	free(dir);
	return found;
}

json_t *quire_call_fetch(const char *qdir, const char *digest)
{
	if (!digest || !quire_digest_valid(digest))
		return NULL;
	if (!quire_blob_exists(qdir, digest) && !adopt(qdir, digest))
		return NULL;
	json_t *c = quire_call_load(qdir, digest);
	const char *named[3];
	quire_call_named(c, named);
	for (int x = 0; x < 3; x++)
		if (named[x] && quire_digest_valid(named[x]) && !quire_blob_exists(qdir, named[x]))
			adopt(qdir, named[x]);
	return c;
}
