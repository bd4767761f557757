/* Content-addressed blob store: .quire/blobs/sha256/<2 hex>/<64 hex>, immutable, read-only,
 * and blobs under 4 KiB packed in .quire/blobs/pack.db (core/blob_pack.h). */
#ifndef QUIRE_BLOB_H
#define QUIRE_BLOB_H

#include <stddef.h>
#include <stdint.h>

struct quire_buf;
struct quire_digest;

/* malloc'd path of a blob's file under qdir (whether or not it exists: a small blob is
 * packed, and has none; quire_blob_file gives a file either way). */
char *quire_blob_path(const char *qdir, const char *digest);

/* For many existence checks (a plan checks every clean output): quire_blob_exists relative
 * to .quire/blobs/sha256 held open, so the kernel walks two names per check instead of the
 * whole path. (Listing the 256 shard directories instead cost more on ext4, whose readdir
 * sorts each directory's entries, and grows with every take the store keeps.)
 *
 * Given the digests of the manifest being planned (every entry's output), the set also
 * trusts shard directories: .quire/runs/blob-trust records, per shard, its inode and ctime
 * as stat'ed before a check that found every one of a set of digests there, and that set
 * (its size and the sum and xor of each digest's first 64 bits). A shard whose inode and
 * ctime are unchanged has had no file added, removed or renamed since; when the manifest's
 * digests in it are the same set, they are answered without a check. Any other shard is
 * checked digest by digest, and quire_blob_set_save records the shards in which every
 * digest of the list (all the manifest's again) was asked about and found, and whose ctime
 * was over a second older than the stat (git's racy rule: a change in the same timestamp
 * tick would not show). A shard untouched by a run keeps its record across revisions. */
struct quire_blob_set;
struct quire_blob_set *quire_blob_set_new(const char *qdir, const char *const *digests, size_t n);
int quire_blob_set_has(struct quire_blob_set *s, const char *digest);
/* 1 when quire_blob_set_save may record something (a shard was checked digest by digest). */
int quire_blob_set_pending(const struct quire_blob_set *s);
/* digests: every digest the manifest names (its entries' current outputs).
 * Errors are ignored: a trust file that cannot be written means checks next time. */
void quire_blob_set_save(struct quire_blob_set *s, const char *const *digests, size_t n);
void quire_blob_set_free(struct quire_blob_set *s);

/* QUIRE_ECORRUPT when the store's directories are not plain directories inside .quire (a
 * symbolic link to elsewhere): writers check before they store anything. */
int quire_blob_check_dirs(const char *qdir);

/* 1 when the blob exists. */
int quire_blob_exists(const char *qdir, const char *digest);

/* The same for digests[0, n) at once (has[k] 1 or 0; NULL or invalid digests are 0): the
 * packed ones asked in one read transaction, then the others' files. */
void quire_blob_exists_many(const char *qdir, const char *const *digests, size_t n,
			    unsigned char *has);

/* Stores bytes; fills *out with their digest. Writes temp + rename (durable after the next
 * quire_fs_sync_fs, which every commit does before its manifest); a blob that already exists is
 * left as it is. */
int quire_blob_put(const char *qdir, const void *data, size_t len, struct quire_digest *out);

/* Moves the finished file tmp_path whose digest is known into the store (a rename over any blob
 * of that digest already there; tmp_path must be on the same file system). A file under
 * 4 KiB is packed instead and left where it is, for the caller to remove. Nothing is fsynced: the
 * blob is durable after the next quire_fs_sync_fs, which the runner calls once before it commits a
 * revision naming it. */
int quire_blob_adopt(const char *qdir, const char *tmp_path, const char *digest);

/* quire_blob_adopt for bytes in memory that the caller hashed to digest: stored over any copy
 * already there. */
int quire_blob_adopt_bytes(const char *qdir, const void *data, size_t len, const char *digest);

/* Copies the file at path into the store; fills *out and *size. */
int quire_blob_put_file(const char *qdir, const char *path, struct quire_digest *out,
			uint64_t *size);

/* Appends the blob's content to buf, opening it relative to dirfd (.quire/blobs/sha256 held
 * open): size is what it should hold (-1 when unknown), so one read usually does. Verified:
 * QUIRE_ECORRUPT when the content does not hash to its name. QUIRE_ENOTFOUND, QUIRE_EIO,
 * QUIRE_EINVALID (larger than cap, when cap is not 0). */
int quire_blob_read_at(const char *qdir, int dirfd, const char *digest, long long size,
		       struct quire_buf *buf, size_t cap);

/* quire_blob_read_at for each of digests[0, n) (sizes[k] as size there), each appended to
 * bufs[k] and verified, its code in errs[k] (the caller's error is left as it was: read one
 * again for its message).
 * The packed ones are read under one lock and one read transaction of the pack. */
void quire_blob_read_many(const char *qdir, int dirfd, const char *const *digests,
			  const long long *sizes, size_t n, struct quire_buf *bufs, size_t cap,
			  int *errs);

/* Reads a blob into buf (appending), at most cap bytes (0 = unlimited). With verify, the content
 * is re-hashed and QUIRE_ECORRUPT returned on mismatch. QUIRE_ENOTFOUND when missing. */
int quire_blob_read(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    int verify);

/* Says that artefact id's stored output is damaged or gone: QUIRE_ECORRUPT, with the store's
 * reason (the last error) and the way out. */
int quire_blob_damaged(const char *id);

/* The blob's size, or -1 when the store lacks it. */
long long quire_blob_size(const char *qdir, const char *digest);

/* Removes a blob (packed or a file; one the store lacks is no error): what is damaged or no
 * revision names. */
int quire_blob_remove(const char *qdir, const char *digest);

/* Sets *path (malloc'd) to a file holding the blob, for a program that reads files: its own
 * file in the store, or for a packed blob a read-only copy written as dir/name (verified;
 * the caller removes it). */
int quire_blob_file(const char *qdir, const char *digest, const char *dir, const char *name,
		    char **path);

#endif
