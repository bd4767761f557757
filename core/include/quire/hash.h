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

/* The 32 bytes that 64 lower-case hex digits spell: 1, or 0 (out unspecified) when hex is
 * not that. */
int quire_hex_bytes(const char *hex, unsigned char out[32]);

/* The 64 lower-case hex digits of 32 bytes, NUL-terminated. */
void quire_bytes_hex(const unsigned char in[32], char out[65]);

/* true when s is a well-formed "sha256:<64 lowercase hex>". */
int quire_digest_valid(const char *s);

#endif
