/* File-system helpers: capped reads, temp+fsync+rename writes, file-system syncs, mkdir -p,
 * UTF-8 checks. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire/buf.h"
#include "blob_pack.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "util.h"

int quire_fs_read(const char *path, struct quire_buf *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
				       "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	int have_st = fstat(fd, &st) == 0;
	if (have_st && S_ISDIR(st.st_mode)) {
		close(fd);
		return quire_error_set(QUIRE_EINVALID, "'%s' is a directory", path);
	}
	/* A regular file is read in one read of its size plus one byte: getting exactly its size
	 * back means the end (no second read, no 64 KiB buffer for a 600-byte file). */
	size_t expect =
		have_st && S_ISREG(st.st_mode) && st.st_size >= 0 && (uint64_t)st.st_size < 65536
			? (size_t)st.st_size
			: (size_t)-1;
	size_t start = buf->len;
	for (int first = 1;; first = 0) {
		size_t room = first && expect != (size_t)-1 ? expect + 1 : 65536;
		if (buf->cap && buf->len >= buf->cap) {
			/* The buffer is full: one more byte means the file does not fit. */
			char probe;
			ssize_t more = read(fd, &probe, 1);
			close(fd);
			if (more > 0)
				return quire_error_set(QUIRE_EINVALID,
						       "'%s' is larger than %zu bytes", path,
						       buf->cap);
			return 0;
		}
		if (buf->cap && room > buf->cap - buf->len)
			room = buf->cap - buf->len;
		int err = quire_buf_grow(buf, room);
		if (err) {
			close(fd);
			return err;
		}
		ssize_t n = read(fd, buf->ptr + buf->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return quire_error_set(QUIRE_EIO, "cannot read '%s': %s", path,
					       strerror(e));
		}
		if (n == 0)
			break;
		buf->len += (size_t)n;
		buf->ptr[buf->len] = '\0';
		if (cap && buf->len - start > cap) {
			close(fd);
			return quire_error_set(QUIRE_EINVALID, "'%s' is larger than %zu bytes",
					       path, cap);
		}
		if (first && (size_t)n == expect && (size_t)n < room)
			break;
	}
	close(fd);
	return 0;
}

int quire_fs_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(QUIRE_EIO, "cannot open directory '%s': %s", dir,
				       strerror(errno));
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	/* Some file systems refuse fsync on directories; that is not a failure of ours. */
	if (rc < 0 && e != EINVAL && e != EROFS)
		return quire_error_set(quire__io_code(e), "cannot sync '%s': %s", dir, strerror(e));
	return 0;
}

/* Writes all of data to fd; 0 or -1 with errno. */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A temporary name beside path that no other writer uses: threads of one process may write
 * the same path at once (two jobs storing the same bytes as a blob). */
static char *temp_name(const char *path)
{
	static _Atomic unsigned seq;
	/* Asked once: a system call per blob written was 1.5% of a mock run's. (A child that
	 * forks execs at once, never writing through here.) */
	static _Atomic long pid;
	long me = atomic_load(&pid);
	if (!me)
		atomic_store(&pid, me = (long)getpid());
	return quire__xasprintf("%s.tmp-%ld-%u", path, me, atomic_fetch_add(&seq, 1));
}

/* Temp file in path's directory, written, fsynced when durable, renamed over path; when
 * durable the directory is fsynced too. */
/* Writes head (hlen bytes, may be 0) then data to path through a temp file and a rename. */
static int replace(const char *path, const void *head, size_t hlen, const void *data, size_t len,
		   int mode, int durable)
{
	char *tmp = temp_name(path);
	char *dcopy = quire__xstrdup(path);
	int err = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		err = quire_error_set(quire__io_code(errno), "cannot create '%s': %s", tmp,
				      strerror(errno));
		goto out;
	}
	if ((hlen && write_all(fd, head, hlen) < 0) || write_all(fd, data, len) < 0) {
		err = quire_error_set(quire__io_code(errno), "cannot write '%s': %s", tmp,
				      strerror(errno));
		close(fd);
		goto fail;
	}
	if ((durable && fsync(fd) < 0) || close(fd) < 0) {
		err = quire_error_set(quire__io_code(errno), "cannot sync '%s': %s", tmp,
				      strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		err = quire_error_set(QUIRE_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
				      strerror(errno));
		goto fail;
	}
	if (durable)
		err = quire_fs_sync_dir(dirname(dcopy));
	goto out;
fail:
	unlink(tmp);
out:
	free(tmp);
	free(dcopy);
	return err;
}

int quire_fs_stream_open(struct quire_fs_stream *w, const char *path, int mode)
{
	memset(w, 0, sizeof(*w));
	w->path = quire__xstrdup(path);
	w->tmp = temp_name(path);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (w->fd < 0) {
		int err = quire_error_set(quire__io_code(errno), "cannot create '%s': %s", w->tmp,
					  strerror(errno));
		free(w->path);
		free(w->tmp);
		w->path = w->tmp = NULL;
		return err;
	}
	return 0;
}

static int stream_fail(struct quire_fs_stream *w, const char *what)
{
	if (!w->err)
		w->err = quire_error_set(quire__io_code(errno), "cannot %s '%s': %s", what, w->tmp,
					 strerror(errno));
	return w->err;
}

int quire_fs_stream_write(struct quire_fs_stream *w, const void *data, size_t len)
{
	if (w->err)
		return w->err;
	if (write_all(w->fd, data, len) < 0)
		return stream_fail(w, "write");
	w->size += len;
	return 0;
}

int quire_fs_scratch_file(const char *dir, const char *prefix)
{
	int fd = -1;
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
	if (fd < 0) {
		char *t = quire__xasprintf("%s/%s-XXXXXX", dir, prefix);
		fd = mkostemp(t, O_CLOEXEC);
		if (fd >= 0)
			unlink(t);
		free(t);
	}
	return fd;
}

int quire_fs_pwrite_all(int fd, const void *data, size_t len, size_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, (const char *)data + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int quire_fs_pread_buf(int fd, size_t off, size_t len, struct quire_buf *out, const char *what)
{
	int err = quire_buf_grow(out, len);
	for (size_t done = 0; !err && done < len;) {
		ssize_t n = pread(fd, out->ptr + out->len + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* out as it was: what was read stays past its end. */
			out->ptr[out->len] = '\0';
			return quire_error_set(QUIRE_EIO, "cannot read back %s: %s", what,
					       n < 0 ? strerror(errno) : "file too short");
		}
		done += (size_t)n;
	}
	if (!err) {
		out->len += len;
		out->ptr[out->len] = '\0';
	}
	return err;
}

int quire_fs_stream_copy(struct quire_fs_stream *w, int from, size_t off, size_t len)
{
	if (w->err)
		return w->err;
	loff_t in = (loff_t)off;
	/* In the kernel, page cache to page cache (no copy through this process), where the
	 * file system allows it; otherwise read and written here. */
	while (len) {
		ssize_t n = copy_file_range(from, &in, w->fd, NULL, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len -= (size_t)n;
		w->size += (size_t)n;
	}
	char buf[65536];
	while (len) {
		ssize_t n = pread(from, buf, len < sizeof(buf) ? len : sizeof(buf), in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the source is shorter than it was */
			return stream_fail(w, "copy into");
		}
		if (write_all(w->fd, buf, (size_t)n) < 0)
			return stream_fail(w, "write");
		in += n;
		len -= (size_t)n;
		w->size += (size_t)n;
	}
	return 0;
}

int quire_fs_stream_commit(struct quire_fs_stream *w)
{
	int err = w->err;
	if (!err && !w->lazy && fsync(w->fd) < 0)
		err = stream_fail(w, "sync");
	if (close(w->fd) < 0 && !err)
		err = stream_fail(w, "write");
	w->fd = -1;
	if (!err && rename(w->tmp, w->path) < 0)
		err = quire_error_set(QUIRE_EIO, "cannot rename '%s' to '%s': %s", w->tmp, w->path,
				      strerror(errno));
	if (err) {
		unlink(w->tmp);
	} else if (!w->lazy) {
		char *d = quire__xstrdup(w->path);
		err = quire_fs_sync_dir(dirname(d));
		free(d);
	}
	free(w->path);
	free(w->tmp);
	w->path = w->tmp = NULL;
	return err;
}

void quire_fs_stream_abort(struct quire_fs_stream *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlink(w->tmp);
	}
	w->fd = -1;
	free(w->path);
	free(w->tmp);
	w->path = w->tmp = NULL;
}

int quire_fs_mode(const char *path, int dflt)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return dflt;
	return (int)(st.st_mode & 07777);
}

int quire_fs_rewrite(const char *path, const void *data, size_t len)
{
	char *real = realpath(path, NULL);
	const char *at = real ? real : path;
	int err = quire_fs_write_atomic(at, data, len, quire_fs_mode(at, 0644));
	free(real);
	return err;
}

int quire_fs_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	return replace(path, NULL, 0, data, len, mode, 1);
}

int quire_fs_create_new(const char *dir, const char *path, const void *data, size_t len, int mode)
{
#ifdef O_TMPFILE
	/* An unnamed file in dir, linked under its name once complete: readers never see a part,
	 * and it costs one directory update, where a temp file renamed into place costs two. */
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int rc = write_all(fd, data, len) < 0
			 ? -1
			 : linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
	int e = errno;
	close(fd); /* an unlinked file is freed with its last descriptor */
	errno = e;
	return rc < 0 ? -1 : 0;
#else
	(void)dir;
	(void)path;
	(void)data;
	(void)len;
	(void)mode;
	errno = ENOTSUP;
	return -1;
#endif
}

int quire_fs_link_new(int fd, size_t len, const char *path)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	struct quire_fs_stream w;
	int err = quire_fs_stream_open(&w, path, 0644);
	w.lazy = 1;
	if (!err)
		err = quire_fs_stream_copy(&w, fd, 0, len);
	if (err)
		quire_fs_stream_abort(&w);
	else
		err = quire_fs_stream_commit(&w);
	return err;
}

int quire_fs_append_if_size(const char *path, size_t size, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	int done = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		   (size_t)st.st_size == size && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return done;
}

int quire_fs_replace(const char *path, const void *data, size_t len, int mode)
{
	return replace(path, NULL, 0, data, len, mode, 0);
}

int quire_fs_replace2(const char *path, const void *head, size_t hlen, const void *data, size_t len,
		      int mode)
{
	return replace(path, head, hlen, data, len, mode, 0);
}

int quire_fs_write_file(const char *path, const void *data, size_t len, int mode)
{
	/* No O_TRUNC: ext4 flushes a file truncated to zero when it is closed (auto_da_alloc),
	 * which made rewriting the same scratch file cost a disk write each time. */
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return quire_error_set(quire__io_code(errno), "cannot create '%s': %s", path,
				       strerror(errno));
	int err = 0;
	if (write_all(fd, data, len) < 0 || ftruncate(fd, (off_t)len) < 0)
		err = quire_error_set(quire__io_code(errno), "cannot write '%s': %s", path,
				      strerror(errno));
	if (close(fd) < 0 && !err)
		err = quire_error_set(quire__io_code(errno), "cannot write '%s': %s", path,
				      strerror(errno));
	return err;
}

int quire_fs_sync_fs(const char *path)
{
	/* What is synced must include the blobs a run gathered in the pack's transaction. */
	int err = quire__pack_commit();
	if (err)
		return err;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(QUIRE_EIO, "cannot open '%s': %s", path, strerror(errno));
	int rc = syncfs(fd);
	int e = errno;
	close(fd);
	if (rc < 0)
		return quire_error_set(quire__io_code(e), "cannot sync the file system of '%s': %s",
				       path, strerror(e));
	return 0;
}

int quire_fs_mkdirs(const char *path, int mode)
{
	/* The whole path first: it (or all but its last part) nearly always exists already, and
	 * walking down from the root cost a mkdir per level on every call. */
	if (mkdir(path, (mode_t)mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return quire_error_set(quire__io_code(errno), "cannot create directory '%s': %s",
				       path, strerror(errno));
	char *p = quire__xstrdup(path);
	int err = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
				err = quire_error_set(quire__io_code(errno),
						      "cannot create directory '%s': %s", p,
						      strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return err;
}

int quire_fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int quire_fs_check_utf8(const char *file, const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t line = 1, col = 1;
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n = 0;
		unsigned min = 0, cp = 0;
		if (c == 0)
			goto bad;
		if (c < 0x80) {
			n = 1;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			goto bad;
		}
		if (i + n > len)
			goto bad;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (n > 1 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
			goto bad;
		if (c == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
bad:
	return quire_error_set(QUIRE_EINVALID, "%s:%zu:%zu: invalid UTF-8 (or a NUL byte)", file,
			       line, col);
}
