/* The mock provider: deterministic output from the fingerprint (prose, schema-valid JSON, PNG,
 * WAV), with latency and failure injection for tests. Default binding of new projects. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "builtin.h"

struct mock {
	int echo;
	long latency_ms;
	char *fail;  /* comma-separated id patterns that fail */
	char *flaky; /* id patterns that fail transiently on their first two attempts */
	volatile int cancelled;
};

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t seed_of(const char *fp)
{
	uint64_t h = 1469598103934665603ULL;
	for (; fp && *fp; fp++)
		h = (h ^ (unsigned char)*fp) * 1099511628211ULL;
	return h;
}

/* '*' matches any run of characters; everything else is literal (ids contain '[' and ']'). */
static int glob(const char *p, const char *s)
{
	if (!*p)
		return !*s;
	if (*p == '*')
		return glob(p + 1, s) || (*s && glob(p, s + 1));
	return *s == *p && glob(p + 1, s + 1);
}

static int listed(const char *list, const char *id)
{
	if (!list)
		return 0;
	char *copy = strdup(list);
	int hit = 0;
	for (char *t = copy; t && !hit;) {
		char *comma = strchr(t, ',');
		if (comma)
			*comma = '\0';
		while (*t == ' ')
			t++;
		hit = *t && glob(t, id);
		t = comma ? comma + 1 : NULL;
	}
	free(copy);
	return hit;
}

static int mock_init(void **ctx, const struct quire_provider_config *cfg, char *err, size_t errlen)
{
	struct mock *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_t *params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, NULL);
	const char *mode = json_string_value(json_object_get(params, "mode"));
	if (mode && strcmp(mode, "echo") && strcmp(mode, "prose")) {
		snprintf(err, errlen, "mock: unknown mode '%s' (expected prose or echo)", mode);
		json_decref(params);
		free(m);
		return -1;
	}
	m->echo = mode && !strcmp(mode, "echo");
	m->latency_ms = (long)json_integer_value(json_object_get(params, "latency_ms"));
	const char *fail = json_string_value(json_object_get(params, "fail"));
	const char *env = getenv("QUIRE_MOCK_FAIL");
	if (env && *env)
		fail = env;
	m->fail = fail ? strdup(fail) : NULL;
	const char *flaky = json_string_value(json_object_get(params, "flaky"));
	const char *fenv = getenv("QUIRE_MOCK_FLAKY");
	if (fenv && *fenv)
		flaky = fenv;
	m->flaky = flaky ? strdup(flaky) : NULL;
	const char *lat = getenv("QUIRE_MOCK_LATENCY_MS");
	if (lat && *lat)
		m->latency_ms = strtol(lat, NULL, 10);
	json_decref(params);
	*ctx = m;
	return 0;
}

static const char *const words[] = {
	"lantern", "harbour", "quiet",	 "river",   "stranger", "letter",   "winter",
	"orchard", "bell",    "window",	 "promise", "storm",	"map",	    "garden",
	"silver",  "road",    "whisper", "tower",   "salt",	"morning",  "shadow",
	"key",	   "feather", "bridge",	 "candle",  "voice",	"mountain", "thread",
};
static const char *const openers[] = {
	"In the morning",	"Before anyone noticed", "Much later",	 "Without a word",
	"As the light changed", "At the edge of town",	 "By nightfall", "Somewhere below",
};
static const char *const verbs[] = {
	"remembered", "carried",  "found",  "followed", "waited for",
	"forgot",     "answered", "opened", "kept",	"traced",
};

static void sentence(FILE *f, uint64_t *s)
{
	fprintf(f, "%s, the %s %s the %s of the %s.", openers[splitmix(s) % 8],
		words[splitmix(s) % 28], verbs[splitmix(s) % 10], words[splitmix(s) % 28],
		words[splitmix(s) % 28]);
}

static void prose(FILE *f, const struct quire_provider_request *rq, uint64_t *s)
{
	fprintf(f, "# %s\n\n", rq->id);
	int paras = 2 + (int)(splitmix(s) % 2);
	for (int p = 0; p < paras; p++) {
		int n = 3 + (int)(splitmix(s) % 3);
		for (int k = 0; k < n; k++) {
			if (k)
				fputc(' ', f);
			sentence(f, s);
		}
		fputs("\n\n", f);
	}
}

static json_t *gen(const json_t *schema, uint64_t *s, const char *key, int depth)
{
	if (depth > 16)
		return json_null();
	const json_t *en = json_object_get(schema, "enum");
	if (json_is_array(en) && json_array_size(en))
		return json_deep_copy(json_array_get(en, splitmix(s) % json_array_size(en)));
	const json_t *c = json_object_get(schema, "const");
	if (c)
		return json_deep_copy(c);
	const json_t *t = json_object_get(schema, "type");
	if (json_is_array(t))
		t = json_array_get(t, 0);
	const char *type = json_string_value(t);
	if (!type)
		type = json_object_get(schema, "properties") ? "object" : "string";
	if (!strcmp(type, "object")) {
		json_t *o = json_object();
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)json_object_get(schema, "properties"), k, v)
			json_object_set_new(o, k, gen(v, s, k, depth + 1));
		return o;
	}
	if (!strcmp(type, "array")) {
		json_int_t lo = json_integer_value(json_object_get(schema, "minItems"));
		const json_t *mx = json_object_get(schema, "maxItems");
		json_int_t n = lo ? lo : 3;
		if (mx && json_integer_value(mx) < n)
			n = json_integer_value(mx);
		if (n > 10000)
			n = 10000;
		json_t *a = json_array();
		for (json_int_t i = 0; i < n; i++)
			json_array_append_new(
				a, gen(json_object_get(schema, "items"), s, key, depth + 1));
		return a;
	}
	if (!strcmp(type, "integer") || !strcmp(type, "number")) {
		json_int_t lo = json_object_get(schema, "minimum")
					? json_integer_value(json_object_get(schema, "minimum"))
					: 1;
		json_int_t hi = json_object_get(schema, "maximum")
					? json_integer_value(json_object_get(schema, "maximum"))
					: lo + 99;
		if (hi < lo)
			hi = lo;
		return json_integer(lo + (json_int_t)(splitmix(s) % (uint64_t)(hi - lo + 1)));
	}
	if (!strcmp(type, "boolean"))
		return json_boolean(splitmix(s) & 1);
	if (!strcmp(type, "null"))
		return json_null();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (key && (strstr(key, "title") || strstr(key, "name"))) {
		const char *w1 = words[splitmix(s) % 28], *w2 = words[splitmix(s) % 28];
		fprintf(f, "The %c%s and the %c%s", w1[0] - 32, w1 + 1, w2[0] - 32, w2 + 1);
	} else {
		sentence(f, s);
		fputc(' ', f);
		sentence(f, s);
	}
	fclose(f);
	json_t *str = json_stringn(buf, len);
	free(buf);
	return str;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc32(uint32_t crc, const unsigned char *b, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
	unsigned char h[8];
	be32(h, len);
	memcpy(h + 4, type, 4);
	fwrite(h, 1, 8, f);
	if (len)
		fwrite(data, 1, len, f);
	uint32_t c = crc32(0, (const unsigned char *)type, 4);
	c = crc32(c, data, len);
	be32(h, c);
	fwrite(h, 1, 4, f);
}

/* A 64x64 RGB PNG: a two-colour gradient picked by the fingerprint, stored (uncompressed)
 * deflate blocks so no zlib is needed. */
static void png(FILE *f, uint64_t *s)
{
	enum { W = 64, H = 64, ROW = 1 + W * 3 };
	static int crc_ready;
	if (!crc_ready) {
		crc_init();
		crc_ready = 1;
	}
	unsigned char a[3], b[3];
	for (int k = 0; k < 3; k++) {
		a[k] = (unsigned char)(splitmix(s) & 0xff);
		b[k] = (unsigned char)(splitmix(s) & 0xff);
	}
	unsigned char raw[H * ROW];
	for (int y = 0; y < H; y++) {
		raw[y * ROW] = 0;
		for (int x = 0; x < W; x++)
			for (int k = 0; k < 3; k++)
				raw[y * ROW + 1 + x * 3 + k] =
					(unsigned char)((a[k] * (W - x) + b[k] * x + (y * 2)) / W);
	}
	size_t rawlen = sizeof(raw), nblocks = (rawlen + 65534) / 65535;
	size_t zlen = 2 + rawlen + nblocks * 5 + 4;
	unsigned char *z = malloc(zlen), *p = z;
	*p++ = 0x78, *p++ = 0x01;
	uint32_t s1 = 1, s2 = 0;
	for (size_t off = 0; off < rawlen;) {
		size_t n = rawlen - off > 65535 ? 65535 : rawlen - off;
		*p++ = off + n == rawlen ? 1 : 0;
		*p++ = (unsigned char)(n & 0xff), *p++ = (unsigned char)(n >> 8);
		*p++ = (unsigned char)(~n & 0xff), *p++ = (unsigned char)((~n >> 8) & 0xff);
		memcpy(p, raw + off, n);
		for (size_t i = 0; i < n; i++) {
			s1 = (s1 + raw[off + i]) % 65521;
			s2 = (s2 + s1) % 65521;
		}
		p += n;
		off += n;
	}
	be32(p, (s2 << 16) | s1);
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	fwrite(sig, 1, 8, f);
	unsigned char ihdr[13];
	be32(ihdr, W);
	be32(ihdr + 4, H);
	ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = 0, ihdr[11] = 0, ihdr[12] = 0;
	chunk(f, "IHDR", ihdr, 13);
	chunk(f, "IDAT", z, (uint32_t)zlen);
	chunk(f, "IEND", NULL, 0);
	free(z);
}

static void le(FILE *f, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		fputc((int)((v >> (8 * i)) & 0xff), f);
}

/* One second of 8 kHz 16-bit mono: a triangle tone whose pitch comes from the fingerprint. */
static void wav(FILE *f, uint64_t *s)
{
	const uint32_t rate = 8000, n = rate;
	uint32_t period = 20 + (uint32_t)(splitmix(s) % 40);
	fwrite("RIFF", 1, 4, f);
	le(f, 36 + n * 2, 4);
	fwrite("WAVEfmt ", 1, 8, f);
	le(f, 16, 4);
	le(f, 1, 2);
	le(f, 1, 2);
	le(f, rate, 4);
	le(f, rate * 2, 4);
	le(f, 2, 2);
	le(f, 16, 2);
	fwrite("data", 1, 4, f);
	le(f, n * 2, 4);
	for (uint32_t i = 0; i < n; i++) {
		int32_t ph = (int32_t)(i % period), half = (int32_t)period / 2;
		int32_t v = ph < half ? ph : (int32_t)period - ph;
		int32_t sample = (v * 2 * 8000) / half - 8000;
		le(f, (uint32_t)(uint16_t)(int16_t)sample, 2);
	}
}

static void sleep_ms(struct mock *m, const struct quire_provider_request *rq, long ms)
{
	/* Steps of at most 20 ms to notice cancellation, towards one deadline so the oversleep of
	 * each step does not add up. */
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (ms > 0 && !m->cancelled && !(rq->cancelled && *rq->cancelled)) {
		struct timespec now, at;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long left = (long long)(end.tv_sec - now.tv_sec) * 1000000000LL +
				 (end.tv_nsec - now.tv_nsec);
		if (left <= 0)
			break;
		at = now;
		at.tv_nsec += left > 20000000LL ? 20000000L : (long)left;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
	}
}

static int mock_produce(void *ctx, const struct quire_provider_request *rq,
			struct quire_provider_response *rs)
{
	struct mock *m = ctx;
	sleep_ms(m, rq, m->latency_ms);
	if (m->cancelled || (rq->cancelled && *rq->cancelled)) {
		snprintf(rs->diag, sizeof(rs->diag), "cancelled");
		return -1;
	}
	if (rq->attempt < 3 && listed(m->flaky, rq->id)) {
		snprintf(rs->diag, sizeof(rs->diag),
			 "mock: injected transient failure for %s (attempt %u)", rq->id,
			 rq->attempt);
		rs->transient = 1;
		return -1;
	}
	if (listed(m->fail, rq->id)) {
		snprintf(rs->diag, sizeof(rs->diag), "mock: injected failure for %s", rq->id);
		return -1;
	}
	uint64_t s = seed_of(rq->fingerprint);
	const char *t = rq->output_type;
	if (m->echo && (!strcmp(t, "text") || !strcmp(t, "file"))) {
		/* One block of the prompt's size: a stream doubles as it grows, and a collector's
		 * echoed prompt (the bench's Book, 6 MB at 10k) took twice its size at the
		 * run's peak. With room for the NUL the core ends it with, so that it is not
		 * moved to add one. */
		char *copy = malloc(rq->prompt_len + 1);
		if (!copy) {
			snprintf(rs->diag, sizeof(rs->diag), "mock: out of memory");
			return -1;
		}
		if (rq->prompt_len)
			memcpy(copy, rq->prompt, rq->prompt_len);
		copy[rq->prompt_len] = '\0';
		rs->output = copy;
		rs->output_len = rq->prompt_len;
		rs->tokens_in = (long long)(rq->prompt_len / 4);
		rs->tokens_out = 200;
		return 0;
	}
	/* In memory (QUIRE_PROVIDER_IN_MEMORY): the core stores the bytes without a file. */
	char *mem = NULL;
	size_t memlen = 0;
	FILE *f = open_memstream(&mem, &memlen);
	if (!f) {
		snprintf(rs->diag, sizeof(rs->diag), "mock: cannot write output: %s",
			 strerror(errno));
		return -1;
	}
	if (!strcmp(t, "json")) {
		json_t *schema = rq->schema_json ? json_loads(rq->schema_json, 0, NULL) : NULL;
		json_t *doc;
		if (schema) {
			doc = gen(schema, &s, NULL, 0);
		} else {
			char *buf = NULL;
			size_t len = 0;
			FILE *mf = open_memstream(&buf, &len);
			prose(mf, rq, &s);
			fclose(mf);
			doc = json_pack("{s:s,s:s%}", "id", rq->id, "text", buf, len);
			free(buf);
		}
		json_dumpf(doc, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
		fputc('\n', f);
		json_decref(doc);
		json_decref(schema);
	} else if (!strcmp(t, "image")) {
		png(f, &s);
	} else if (!strcmp(t, "audio")) {
		wav(f, &s);
	} else {
		prose(f, rq, &s);
	}
	if (fclose(f) != 0) {
		snprintf(rs->diag, sizeof(rs->diag), "mock: cannot write output: %s",
			 strerror(errno));
		free(mem);
		return -1;
	}
	rs->output = mem;
	rs->output_len = memlen;
	rs->tokens_in = (long long)(rq->prompt_len / 4);
	rs->tokens_out = 200;
	return 0;
}

static void mock_cancel(void *ctx)
{
	((struct mock *)ctx)->cancelled = 1;
}

static void mock_fini(void *ctx)
{
	struct mock *m = ctx;
	if (!m)
		return;
	free(m->fail);
	free(m->flaky);
	free(m);
}

const struct quire_provider quire_provider_mock = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "mock",
	.flags = QUIRE_PROVIDER_THREADSAFE | QUIRE_PROVIDER_IN_MEMORY,
	.secret_env = NULL,
	.init = mock_init,
	.produce = mock_produce,
	.cancel = mock_cancel,
	.fini = mock_fini,
};
