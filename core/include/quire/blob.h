/* Content-addressed blob store: .quire/blobs/sha256/<2 hex>/<64 hex>, immutable, read-only. */
#ifndef QUIRE_BLOB_H
#define QUIRE_BLOB_H

#include <stddef.h>
#include <stdint.h>

struct quire_buf;
struct quire_digest;

/* malloc'd path of a blob under qdir (whether or not it exists). */
char *quire_blob_path(const char *qdir, const char *digest);

/* For many existence checks (a plan checks every clean output): quire_blob_exists relative
 * to .quire/blobs/sha256 held open, so the kernel walks two names per check instead of the
 * whole path. (Listing the 256 shard directories instead cost more on ext4, whose readdir
 * sorts each directory's entries, and grows with every take the store keeps.) */
struct quire_blob_set;
struct quire_blob_set *quire_blob_set_new(const char *qdir);
int quire_blob_set_has(struct quire_blob_set *s, const char *digest);
void quire_blob_set_free(struct quire_blob_set *s);

/* 1 when the blob exists. */
int quire_blob_exists(const char *qdir, const char *digest);

/* Stores bytes; fills *out with their digest. Writes temp + rename (durable after the next
 * quire_fs_sync_fs, which every commit does before its manifest); a blob that already exists is
 * left as it is. */
int quire_blob_put(const char *qdir, const void *data, size_t len, struct quire_digest *out);

/* Moves the finished file tmp_path whose digest is known into the store (a rename over any blob
 * of that digest already there; tmp_path must be on the same file system). Nothing is fsynced: the blob is durable after the next
 * quire_fs_sync_fs, which the runner calls once before it commits a revision naming it. */
int quire_blob_adopt(const char *qdir, const char *tmp_path, const char *digest);

/* Copies the file at path into the store; fills *out and *size. */
int quire_blob_put_file(const char *qdir, const char *path, struct quire_digest *out,
			uint64_t *size);

/* Reads a blob into buf (appending), at most cap bytes (0 = unlimited). With verify, the content
 * is re-hashed and QUIRE_ECORRUPT returned on mismatch. QUIRE_ENOTFOUND when missing. */
int quire_blob_read(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    int verify);

#endif
