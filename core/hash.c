/* SHA-256 through OpenSSL's SHA256_* functions, of bytes, files and canonical JSON. Not EVP:
 * fetching its implementation initialises OpenSSL's providers, 2 MB of every command's
 * resident memory (a tenth of a 10k no-op run's) for the same assembly; the SHA256_*
 * functions are deprecated since OpenSSL 3.0 but kept by it (docs/design-notes.md). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "json.h"
#include "util.h"

struct quire_hasher {
	SHA256_CTX c;
};

struct quire_hasher *quire_hasher_new(void)
{
	struct quire_hasher *h = quire__xcalloc(1, sizeof(*h));
	quire_hasher_reset(h);
	return h;
}

void quire_hasher_reset(struct quire_hasher *h)
{
	SHA256_Init(&h->c);
}

void quire_hasher_update(struct quire_hasher *h, const void *data, size_t len)
{
	SHA256_Update(&h->c, data, len);
}

void quire_bytes_hex(const unsigned char in[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[64] = '\0';
}

/* Each byte's value as a lower-case hex digit plus one, 0 when it is none: a lookup where four
 * comparisons per digit were 3% of a 10k no-op run (reading the stat cache). */
static const unsigned char hexval1[256] = {
	['0'] = 1,  ['1'] = 2,	['2'] = 3,  ['3'] = 4,	['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,	['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int quire_hex_bytes(const char *hex, unsigned char out[32])
{
	const unsigned char *h = (const unsigned char *)hex;
	for (int i = 0; i < 32; i++) {
		/* Digit by digit: a shorter string ends at its NUL, never read past. */
		unsigned hi = hexval1[h[2 * i]];
		if (!hi)
			return 0;
		unsigned lo = hexval1[h[2 * i + 1]];
		if (!lo)
			return 0;
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return 1;
}

void quire_hasher_final(struct quire_hasher *h, struct quire_digest *out)
{
	unsigned char md[32];
	SHA256_Final(md, &h->c);
	memcpy(out->s, "sha256:", 7);
	quire_bytes_hex(md, out->s + 7);
}

void quire_hasher_free(struct quire_hasher *h)
{
	free(h);
}

void quire_hash_bytes(const void *data, size_t len, struct quire_digest *out)
{
	struct quire_hasher h;
	quire_hasher_reset(&h);
	quire_hasher_update(&h, data, len);
	quire_hasher_final(&h, out);
}

int quire_hash_file(const char *path, struct quire_digest *out, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
				       "cannot open '%s': %s", path, strerror(errno));
	struct quire_hasher hs, *h = &hs;
	quire_hasher_reset(h);
	unsigned char block[1 << 16];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, block, sizeof(block));
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
		quire_hasher_update(h, block, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	quire_hasher_final(h, out);
	if (size)
		*size = total;
	return 0;
}

int quire_hash_json(const json_t *v, struct quire_digest *out)
{
	char *s = quire_json_canonical(v);
	if (!s)
		return QUIRE_EINVALID;
	quire_hash_bytes(s, strlen(s), out);
	free(s);
	return 0;
}

int quire_digest_valid(const char *s)
{
	/* Called for every digest read back (indexes, the stat cache, blob checks): the length
	 * first (strnlen reads no further than the NUL), then the digits without branches on
	 * their (random) values. */
	if (strncmp(s, "sha256:", 7) != 0 ||
	    strnlen(s + 7, QUIRE_DIGEST_HEX + 1) != QUIRE_DIGEST_HEX)
		return 0;
	const unsigned char *p = (const unsigned char *)s + 7;
	/* Compares, not a table: the compiler checks 16 or 32 digits per instruction. */
	unsigned char ok = 1;
	for (size_t k = 0; k < QUIRE_DIGEST_HEX; k++)
		ok &= (unsigned char)((unsigned char)(p[k] - '0') < 10) |
		      (unsigned char)((unsigned char)(p[k] - 'a') < 6);
	return ok;
}
