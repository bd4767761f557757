/* Reading a manifest's compact index into rows, in place, on the loader thread if asked. */
#include <pthread.h>
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
#include "util.h"

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

char *quire__index_path(const char *qdir, const char *rev)
{
	return quire__xasprintf("%s/runs/%s-index.tsv", qdir, rev);
}

int quire__index_file(const char *fname, char rev[65])
{
	if (strlen(fname) != 64 + 10 || strcmp(fname + 64, "-index.tsv"))
		return 0;
	memcpy(rev, fname, 64);
	rev[64] = '\0';
	return quire_rev_is_digest(rev);
}

void quire_manifest_load_index(const char *qdir, const char *rev, json_t **out,
			       struct quire_mbase **base_out)
{
	*out = NULL;
	*base_out = NULL;
	char *path = quire__index_path(qdir, rev);
	size_t tlen = 0;
	char *text = read_whole(path, &tlen);
	free(path);
	if (!text)
		return;
	/* A format-2 head's entries are read from its tree: there is no text to hold. */
	int tree = !strncmp(text, INDEX_TREE_MAGIC "\t", strlen(INDEX_TREE_MAGIC) + 1);
	if (tree && !quire__rev2_here(qdir, rev)) {
		free(text);
		return;
	}
	/* Else the file the spans point into is held open: it is the one the index describes. */
	char *mpath = tree ? NULL : quire__manifest_text_path(qdir, rev);
	int fd = tree ? -1 : open(mpath, O_RDONLY | O_CLOEXEC);
	char *spilldir = quire__xasprintf("%s/tmp", qdir);
	quire__manifest_index_parse(text, tlen, rev, fd, spilldir, out, base_out);
	free(spilldir);
	if (*base_out)
		(*base_out)->qdir = quire__xstrdup(qdir);
	/* Messages name the manifest's file. */
	if (*base_out && !tree)
		(*base_out)->text_name = quire__xasprintf(".quire%s", mpath + strlen(qdir));
	free(mpath);
}

void quire__manifest_index_parse(char *text, size_t tlen, const char *rev, int fd,
				 const char *spilldir, json_t **out, struct quire_mbase **base_out)
{
	*out = NULL;
	*base_out = NULL;
	struct quire_mbase *base = quire__mbase_new();
	base->rev = quire__xstrdup(rev);
	base->itext = text;
	base->fd = fd;
	base->spilldir = spilldir ? quire__xstrdup(spilldir) : NULL;
	long long isize, imtime;
	char *line = text, *nl = text ? strchr(line, '\n') : NULL;
	char *h[6];
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
	int nh = split_tabs(line, h, 6);
	long long count;
	/* A format-2 head's (no text, no ranges), or one of a manifest's text. */
	int tree = nh == 3 && !strcmp(h[0], INDEX_TREE_MAGIC) && !strcmp(h[1], rev) &&
		   !parse_int(h[2], &count) && count >= 0 && (size_t)count == nlines;
	if (!tree &&
	    ((nh != 5 && nh != 6) || strcmp(h[0], INDEX_MAGIC) || atoi(h[1]) != MANIFEST_FORMAT ||
	     strcmp(h[2], rev) || parse_int(h[3], &isize) || parse_int(h[4], &imtime)))
		goto bad;
	if (!tree && (base->fd < 0 || fstat(base->fd, &st) < 0 || st.st_size != isize ||
		      (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != imtime ||
		      !st.st_size))
		goto bad;
	base->tree = tree;
	base->size = tree ? 0 : (size_t)st.st_size;
	int nf = tree ? INDEX_NFIELDS - 2 : INDEX_NFIELDS;
	for (line = nl + 1; *line; line = nl + 1) {
		if (!(nl = strchr(line, '\n')))
			goto bad;
		*nl = '\0';
		char *f[INDEX_NFIELDS];
		if (split_tabs(line, f, nf) != nf || !*f[0] || !text_ok(f[0]))
			goto bad;
		long long off = 0, len = 0;
		if (!tree && (parse_int(f[INDEX_NFIELDS - 2], &off) ||
			      parse_int(f[INDEX_NFIELDS - 1], &len) || off <= 0 || len < 2 ||
			      (size_t)off + (size_t)len > base->size))
			goto bad;
		struct quire_mrow r = {
			.id = f[0], .size = -1, .off = (size_t)off, .len = (size_t)len
		};
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
			if (strcmp(prev->id, r.id) >= 0 ||
			    (!tree &&
			     (r.off < prev->off + prev->len ||
			      r.off - (prev->off + prev->len) != strlen(",\n    : ") + keylen)))
				goto bad;
		}
		if (base->nrows >= nlines)
			goto bad;
		base->rows[base->nrows++] = r;
	}
	quire__mbase_index_rows(base);
	*out = json_pack("{s:i,s:s,s:{},s:{},s:{},s:b}", "format", MANIFEST_FORMAT, "revision", rev,
			 "artefacts", "inputs", "files", "slim", 1);
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
