/* Small blobs packed in .quire/blobs/pack.db (internal to the blob store, core/blob.c). */
#ifndef QUIRE_BLOB_PACK_H
#define QUIRE_BLOB_PACK_H

#include <stddef.h>
#include <stdint.h>

struct quire_buf;

/* Blobs shorter than this go to the pack; longer ones are files (their blocks are mostly
 * full, and a provider can be handed the file as it is). */
#define QUIRE_PACK_MAX 4096

/* 1 when the pack holds digest (an unreadable or missing pack answers 0). */
int quire__pack_has(const char *qdir, const char *digest);

/* Appends the packed blob's bytes to buf, sets *len; QUIRE_ENOTFOUND (no message) when the
 * pack has no such blob, QUIRE_EINVALID past cap (0 = none). Not verified: the caller
 * hashes what it read. */
int quire__pack_get(const char *qdir, const char *digest, struct quire_buf *buf, size_t cap,
		    size_t *len);

/* Reads the packed blobs named by digests[0, n) under one lock and in one read transaction
 * (a statement outside a transaction takes SQLite's locks and gives them back, two system
 * calls a blob): errs[k] is 0 with the bytes appended to *bufs[k] (not verified),
 * QUIRE_ENOTFOUND, QUIRE_EINVALID (larger than cap, when cap is not 0) or QUIRE_EIO. Leaves
 * no error message (quire_blob_read_many keeps its caller's). */
void quire__pack_get_many(const char *qdir, const char *const *digests, size_t n, size_t cap,
			  struct quire_buf *const *bufs, int *errs);

/* Whether the pack holds each of digests[0, n) (has[k] 1 or 0; a NULL digest is 0), under one
 * lock and in one read transaction. Leaves no error message. */
void quire__pack_has_many(const char *qdir, const char *const *digests, size_t n,
			  unsigned char *has);

/* Stores data under digest (which the caller computed); replace writes over a copy already
 * there (a damaged one), else that copy is kept. Creates the pack on first use. */
int quire__pack_put(const char *qdir, const char *digest, const void *data, size_t len,
		    int replace);

/* Removes digest from the pack (nothing there is not an error). */
int quire__pack_remove(const char *qdir, const char *digest);

/* 1 when the project has a pack file. */
int quire__pack_has_file(const char *qdir);

/* What a plan may trust: the pack's random id (drawn when it was made) and how many removals
 * it has seen (every removal counts, by quire or by hand). 0 and both 0 when there is no
 * pack; -1 when unreadable. */
int quire__pack_identity(const char *qdir, int64_t *id, int64_t *removed);

/* Calls fn for every packed blob until fn returns non-0: with with_data its bytes
 * (unverified), read one blob at a time; without, data is NULL and len its size. */
int quire__pack_each(const char *qdir, int with_data,
		     int (*fn)(const char *digest, const void *data, size_t len, void *arg),
		     void *arg);

/* Gives back the space of removed blobs (gc). */
int quire__pack_vacuum(const char *qdir);

/* With on, the pack's writes gather in one transaction (a run's) until quire__pack_commit,
 * which whatever names the blobs calls first: quire_store_commit and quire_fs_sync_fs. Off
 * commits what is open. */
void quire__pack_batch(int on);
int quire__pack_commit(void);

/* Closes the connection (at exit, or before another process must see the file whole). */
void quire__pack_close(void);

#endif
