/* File helpers used by the core and the CLI: capped reads, atomic writes, directories. */
#ifndef QUIRE_FS_H
#define QUIRE_FS_H

#include <stddef.h>

struct quire_buf;

/* Default cap for files quire parses (YAML, JSON, templates): 16 MiB. */
#define QUIRE_TEXT_CAP (16u << 20)

/* Reads a whole file into buf (appending); cap 0 = unlimited. QUIRE_ENOTFOUND, QUIRE_EIO,
 * QUIRE_EINVALID when larger than cap. */
int quire_fs_read(const char *path, struct quire_buf *buf, size_t cap);

/* Writes data to path atomically: temp file in the same directory, fsync, rename, fsync of the
 * directory. `mode` is the new file's permission bits. */
int quire_fs_write_atomic(const char *path, const void *data, size_t len, int mode);

/* The permission bits of the file at path, or dflt when there is none: a file quire rewrites
 * for the user (inputs.yaml, a prompt) keeps the mode they gave it. */
int quire_fs_mode(const char *path, int dflt);

/* Writes a file the user owns (inputs.yaml, a prompt) as quire_fs_write_atomic, keeping its
 * mode, and through a symbolic link (as editors do) rather than replacing the link. */
int quire_fs_rewrite(const char *path, const void *data, size_t len);

/* A file written in pieces and then put in place as quire_fs_write_atomic does (temp file in
 * the same directory, fsync, rename, directory fsync). The first failure is kept: later
 * calls do nothing and commit returns it (and removes the temp file). */
struct quire_fs_stream {
	int fd, err;
	char *path, *tmp;
	size_t size; /* bytes written so far */
	int lazy;    /* set after open: commit without the fsyncs, as quire_fs_replace does (the
		      * file is durable after quire_fs_sync_fs) */
};
int quire_fs_stream_open(struct quire_fs_stream *w, const char *path, int mode);
int quire_fs_stream_write(struct quire_fs_stream *w, const void *data, size_t len);
/* Appends len bytes of file descriptor from, starting at off (copy_file_range when the file
 * system can, else read and written). */
int quire_fs_stream_copy(struct quire_fs_stream *w, int from, size_t off, size_t len);
int quire_fs_stream_commit(struct quire_fs_stream *w);
void quire_fs_stream_abort(struct quire_fs_stream *w);

/* An unnamed file for scratch bytes in dir (O_TMPFILE where the file system has it, else a
 * file named prefix-XXXXXX removed at once): its descriptor, or -1. Sets no error message. */
int quire_fs_scratch_file(const char *dir, const char *prefix);

/* Writes all len bytes of data at off: 0, or -1 (errno set). */
int quire_fs_pwrite_all(int fd, const void *data, size_t len, size_t off);

/* Appends the len bytes at off to out: 0, or QUIRE_EIO naming what (when it is shorter,
 * "file too short"). */
int quire_fs_pread_buf(int fd, size_t off, size_t len, struct quire_buf *out, const char *what);

/* Like quire_fs_write_atomic without the fsyncs: readers see the old file or the new one, never
 * a part, but the new content is durable only after quire_fs_sync_fs (one sync for many files).
 */
int quire_fs_replace(const char *path, const void *data, size_t len, int mode);
/* The same with the file's bytes given in two parts, head then data: a large text and the
 * header it is kept under are not copied into one buffer first. */
int quire_fs_replace2(const char *path, const void *head, size_t hlen, const void *data, size_t len,
		      int mode);

/* Appends data to the regular file at path if it still has exactly size bytes (the file a
 * cache was read from, with nothing after what was read); 1 when all of it was written, else
 * 0 (the caller writes the file whole: a short append is a damaged last line, which readers
 * stop at). No fsync: for caches. */
int quire_fs_append_if_size(const char *path, size_t size, const void *data, size_t len);

/* Creates path (in directory dir), which must not exist, holding data, without fsync, so that
 * no reader sees a part of it (an O_TMPFILE linked into place). -1 with errno set, and nothing
 * written, when that cannot be done here (path exists, no O_TMPFILE, no /proc): then use
 * quire_fs_replace. Sets no error message. */
int quire_fs_create_new(const char *dir, const char *path, const void *data, size_t len, int mode);

/* Puts the unnamed file fd (opened O_RDWR | O_TMPFILE in path's directory, holding len
 * bytes) in place as path, without fsync: linked under its name, or, when something is there
 * by now (or /proc is missing), copied into a temp file renamed over it, as
 * quire_fs_replace does. */
int quire_fs_link_new(int fd, size_t len, const char *path);

/* Creates or rewrites path in place with data, without temp file or fsync (scratch files). */
int quire_fs_write_file(const char *path, const void *data, size_t len, int mode);

/* syncfs(2) on the file system holding path: everything written there so far is durable. */
int quire_fs_sync_fs(const char *path);

/* Creates a directory and its parents (like mkdir -p). */
int quire_fs_mkdirs(const char *path, int mode);

/* fsyncs a directory so a rename inside it is durable. */
int quire_fs_sync_dir(const char *dir);

/* true (1) when path exists (any type). */
int quire_fs_exists(const char *path);

/* Checks that the bytes are valid UTF-8 without NULs; on failure sets QUIRE_EINVALID with
 * "file:line:col: invalid UTF-8" and returns it. */
int quire_fs_check_utf8(const char *file, const char *data, size_t len);

#endif
