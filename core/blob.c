/* Content-addressed blob store with crash-safe writes. */
#include <errno.h>
#include <fcntl.h>
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
#include "util.h"

char *quire_blob_path(const char *qdir, const char *digest)
{
	/* qdir/blobs/sha256/XX/HEX, without printf: a no-op checks one per artefact. */
	const char *hex = digest + 7;
	size_t lq = strlen(qdir), lh = strlen(hex);
	char *s = quire__xmalloc(lq + 17 + lh + 1), *at = s;
	memcpy(at, qdir, lq);
	at += lq;
	memcpy(at, "/blobs/sha256/", 14);
	at += 14;
	memcpy(at, hex, lh < 2 ? lh : 2);
	at += lh < 2 ? lh : 2;
	*at++ = '/';
	memcpy(at, hex, lh + 1);
	return s;
}

int quire_blob_exists(const char *qdir, const char *digest)
{
	if (!quire_digest_valid(digest))
		return 0;
	char *p = quire_blob_path(qdir, digest);
	int r = access(p, F_OK) == 0;
	free(p);
	return r;
}

struct quire_blob_set {
	char *qdir;
	int dirfd; /* .quire/blobs/sha256, or -1 */
};

struct quire_blob_set *quire_blob_set_new(const char *qdir)
{
	struct quire_blob_set *s = quire__xcalloc(1, sizeof(*s));
	s->qdir = quire__xstrdup(qdir);
	char *p = quire__xasprintf("%s/blobs/sha256", qdir);
	s->dirfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(p);
	return s;
}

int quire_blob_set_has(struct quire_blob_set *s, const char *digest)
{
	if (s->dirfd < 0)
		return quire_blob_exists(s->qdir, digest);
	if (!quire_digest_valid(digest))
		return 0;
	char rel[2 + 1 + QUIRE_DIGEST_HEX + 1];
	snprintf(rel, sizeof(rel), "%.2s/%s", digest + 7, digest + 7);
	return faccessat(s->dirfd, rel, F_OK, 0) == 0;
}

void quire_blob_set_free(struct quire_blob_set *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->qdir);
	free(s);
}

static char *shard_dir(const char *qdir, const char *digest)
{
	return quire__xasprintf("%s/blobs/sha256/%.2s", qdir, digest + 7);
}

int quire_blob_adopt(const char *qdir, const char *tmp_path, const char *digest)
{
	char *dir = shard_dir(qdir, digest), *path = quire_blob_path(qdir, digest);
	int err = 0;
	/* A blob already there is replaced, not trusted: blobs are synced per revision, so after a
	 * power loss one can exist with damaged content that no event names yet. The new copy
	 * has just been hashed. */
	chmod(tmp_path, 0444);
	/* The shard directory is made only when the rename finds it missing (once per shard). */
	if (rename(tmp_path, path) < 0 && (errno != ENOENT || (err = quire_fs_mkdirs(dir, 0755)) ||
					   rename(tmp_path, path) < 0)) {
		if (err)
			goto out;
		err = quire_error_set(QUIRE_EIO, "cannot store blob '%s': %s", path, strerror(errno));
		goto out;
	}
out:
	free(dir);
	free(path);
	return err;
}

int quire_blob_put(const char *qdir, const void *data, size_t len, struct quire_digest *out)
{
	quire_hash_bytes(data, len, out);
	if (quire_blob_exists(qdir, out->s))
		return 0;
	char *dir = shard_dir(qdir, out->s), *path = quire_blob_path(qdir, out->s);
	int err = quire_fs_mkdirs(dir, 0755);
	if (!err)
		err = quire_fs_replace(path, data, len, 0444);
	free(dir);
	free(path);
	return err;
}

int quire_blob_put_file(const char *qdir, const char *path, struct quire_digest *out,
			uint64_t *size)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	int err = quire_fs_read(path, &b, 0);
	if (!err) {
		err = quire_blob_put(qdir, b.ptr, b.len, out);
		if (size)
			*size = b.len;
	}
	quire_buf_release(&b);
	return err;
}

int quire_blob_read(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    int verify)
{
	if (!quire_digest_valid(digest))
		return quire_error_set(QUIRE_EINVALID, "'%s' is not a sha256 digest", digest);
	char *path = quire_blob_path(qdir, digest);
	size_t start = buf->len;
	int err = quire_fs_read(path, buf, cap);
	if (err == QUIRE_ENOTFOUND)
		err = quire_error_set(QUIRE_ENOTFOUND, "blob %s is missing from the store", digest);
	if (!err && verify) {
		struct quire_digest d;
		quire_hash_bytes(buf->ptr + start, buf->len - start, &d);
		if (strcmp(d.s, digest))
			err = quire_error_set(QUIRE_ECORRUPT, "blob %s is corrupt (its content hashes to %s)",
					      digest, d.s);
	}
	free(path);
	return err;
}
