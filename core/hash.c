/* SHA-256 through OpenSSL EVP (one fetched EVP_MD, reused contexts), of bytes, files and
 * canonical JSON. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "json.h"
#include "util.h"

struct quire_hasher {
	EVP_MD_CTX *ctx;
};

static const EVP_MD *fetched_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	fetched_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	/* Fetched once (kept for the process's life): initialising a context with EVP_sha256()'s
	 * static object makes OpenSSL 3 fetch the implementation again on every digest, a third
	 * of the cost of hashing a small fingerprint record. */
	pthread_once(&md_once, md_fetch);
	return fetched_md ? fetched_md : EVP_sha256();
}

struct quire_hasher *quire_hasher_new(void)
{
	struct quire_hasher *h = quire__xcalloc(1, sizeof(*h));
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		abort();
	quire_hasher_reset(h);
	return h;
}

void quire_hasher_reset(struct quire_hasher *h)
{
	EVP_DigestInit_ex(h->ctx, sha256_md(), NULL);
}

void quire_hasher_update(struct quire_hasher *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
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
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(out->s, "sha256:", 7);
	quire_bytes_hex(md, out->s + 7);
}

void quire_hasher_free(struct quire_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

static pthread_key_t hasher_key;
static pthread_once_t hasher_once = PTHREAD_ONCE_INIT;

static void hasher_key_free(void *h)
{
	quire_hasher_free(h);
}

static void hasher_key_init(void)
{
	if (pthread_key_create(&hasher_key, hasher_key_free) != 0)
		abort();
}

static struct quire_hasher *thread_hasher(void)
{
	/* One context per thread, freed when the thread ends: small digests dominate, and
	 * reusing a context is several times faster than creating one per digest. */
	pthread_once(&hasher_once, hasher_key_init);
	struct quire_hasher *h = pthread_getspecific(hasher_key);
	if (!h) {
		h = quire_hasher_new();
		pthread_setspecific(hasher_key, h);
	}
	quire_hasher_reset(h);
	return h;
}

void quire_hash_bytes(const void *data, size_t len, struct quire_digest *out)
{
	struct quire_hasher *h = thread_hasher();
	quire_hasher_update(h, data, len);
	quire_hasher_final(h, out);
}

int quire_hash_file(const char *path, struct quire_digest *out, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return quire_error_set(errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
				       "cannot open '%s': %s", path, strerror(errno));
	struct quire_hasher *h = thread_hasher();
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
