/* SHA-256 digests in quire's one spelling ("sha256:<64 hex>"), of bytes, files and canonical
 * JSON (core/json.h). */
#ifndef QUIRE_HASH_H
#define QUIRE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define QUIRE_DIGEST_HEX 64
/* "sha256:" + 64 hex + NUL */
#define QUIRE_DIGEST_STRLEN (7 + QUIRE_DIGEST_HEX + 1)

struct quire_digest {
	char s[QUIRE_DIGEST_STRLEN]; /* "sha256:<hex>", NUL-terminated */
};

/* Streaming hasher. Not thread-safe; one per thread. */
struct quire_buf;
struct quire_hasher;

/* Allocates a hasher (aborts on OOM). Free with quire_hasher_free(). */
struct quire_hasher *quire_hasher_new(void);
/* Starts a new digest, discarding any in progress. */
void quire_hasher_reset(struct quire_hasher *h);
/* Feeds bytes. */
void quire_hasher_update(struct quire_hasher *h, const void *data, size_t len);
/* Finishes the digest into out. */
void quire_hasher_final(struct quire_hasher *h, struct quire_digest *out);
/* Frees; NULL is fine. */
void quire_hasher_free(struct quire_hasher *h);

/* Digest of a byte string. */
void quire_hash_bytes(const void *data, size_t len, struct quire_digest *out);

/* Digest of a whole file; fills *size when non-NULL. QUIRE_ENOTFOUND or QUIRE_EIO. */
int quire_hash_file(const char *path, struct quire_digest *out, uint64_t *size);

/* Digest of quire_json_canonical(v). QUIRE_EINVALID when v holds a real. */
int quire_hash_json(const json_t *v, struct quire_digest *out);

/* true when s is a well-formed "sha256:<64 lowercase hex>". */
int quire_digest_valid(const char *s);

#endif
