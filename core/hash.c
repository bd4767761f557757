/* SHA-256 through OpenSSL EVP (one fetched EVP_MD, reused contexts) and canonical JSON. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "quire/error.h"
#include "quire/hash.h"
#include "util.h"

struct quire_hasher {
	EVP_MD_CTX *ctx;
};

static const EVP_MD *sha256_md(void)
{
	/* EVP_sha256() returns a static object: fetching it once is thread-safe and free. */
	return EVP_sha256();
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

void quire_hasher_final(struct quire_hasher *h, struct quire_digest *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(out->s, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out->s[7 + 2 * i] = hex[md[i] >> 4];
		out->s[8 + 2 * i] = hex[md[i] & 15];
	}
	out->s[QUIRE_DIGEST_STRLEN - 1] = '\0';
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
			return quire_error_set(QUIRE_EIO, "cannot read '%s': %s", path, strerror(e));
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

static int has_real(const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	switch (json_typeof(v)) {
	case JSON_REAL:
		return 1;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
			if (has_real(x))
				return 1;
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (has_real(x))
				return 1;
		return 0;
	default:
		return 0;
	}
}

char *quire_json_canonical(const json_t *v)
{
	if (has_real(v)) {
		quire_error_set(QUIRE_EINVALID, "floating-point numbers cannot be hashed");
		return NULL;
	}
	char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		abort();
	return s;
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
	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + QUIRE_DIGEST_HEX)
		return 0;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}
