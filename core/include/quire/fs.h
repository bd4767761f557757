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

/* Like quire_fs_write_atomic without the fsyncs: readers see the old file or the new one, never
 * a part, but the new content is durable only after quire_fs_sync_fs (one sync for many files).
 */
int quire_fs_replace(const char *path, const void *data, size_t len, int mode);

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
