/* What the runner does with an answer before it is sealed: an answer cut off by a length limit
 * fails (never retried), reasoning blocks are dropped from the start of text and JSON, and
 * JSON wrapped in a code fence or in prose is taken out of it. Every provider's answer goes
 * through here, so a plugin or an external program gets the same treatment as openai. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/fs.h"
#include "quire/hash.h"
#include "quire/project.h"
#include "quire/secret.h"
#include "quire-provider.h"
#include "run_internal.h"
#include "util.h"

/* Whether the answer's provenance says it was cut off: finish_reason "length" (OpenAI and
 * the servers that speak its API), stop_reason "max_tokens", or "truncated": true (the
 * convention for external providers and plugins). */
static int cut_off(const char *meta, char *why, size_t whylen)
{
	json_t *m = meta[0] ? json_loads(meta, 0, NULL) : NULL;
	const char *fr = json_string_value(json_object_get(m, "finish_reason"));
	const char *sr = json_string_value(json_object_get(m, "stop_reason"));
	int cut = 1;
	if (fr && !strcmp(fr, "length"))
		snprintf(why, whylen, "finish_reason: length");
	else if (sr && !strcmp(sr, "max_tokens"))
		snprintf(why, whylen, "stop_reason: max_tokens");
	else if (json_is_true(json_object_get(m, "truncated")))
		snprintf(why, whylen, "truncated: true");
	else
		cut = 0;
	json_decref(m);
	return cut;
}

/* Drops leading <tag>...</tag> blocks (any of b's tags, any case) and the spacing after them;
 * the bytes dropped. An unclosed block is kept: an answer that is only reasoning, cut off,
 * is better seen than silently emptied. */
static size_t drop_reasoning(const struct quire_binding *b, const char **s, size_t *n)
{
	size_t dropped = 0;
	for (int again = 1; again;) {
		again = 0;
		const char *p = *s, *e = *s + *n;
		while (p < e && isspace((unsigned char)*p))
			p++;
		for (size_t k = 0; k < b->nreasoning && !again; k++) {
			const char *tag = b->reasoning[k];
			size_t tl = strlen(tag);
			if ((size_t)(e - p) < tl + 2 || p[0] != '<' ||
			    strncasecmp(p + 1, tag, tl) || p[tl + 1] != '>')
				continue;
			for (const char *q = p + tl + 2; q + tl + 3 <= e; q++) {
				if (q[0] == '<' && q[1] == '/' && !strncasecmp(q + 2, tag, tl) &&
				    q[tl + 2] == '>') {
					const char *end = q + tl + 3;
					while (end < e && isspace((unsigned char)*end))
						end++;
					dropped += (size_t)(end - *s);
					*n -= (size_t)(end - *s);
					*s = end;
					again = 1;
					break;
				}
			}
		}
	}
	return dropped;
}

/* The JSON document inside an answer that is not JSON as a whole: a Markdown code fence
 * (```json ... ```), or the span from the first '{' or '[' to the last '}' or ']' when that
 * parses ("Here is the outline: {...} Hope this helps"). 0 and the span, or -1. */
static int extract_json(const char *s, size_t n, const char **js, size_t *jn)
{
	const char *f = n >= 3 ? strstr(s, "```") : NULL;
	if (f && (size_t)(f - s) < n) {
		const char *nl = memchr(f, '\n', n - (size_t)(f - s));
		const char *close = nl ? strstr(nl, "```") : NULL;
		if (close && (size_t)(close - s) < n) {
			json_t *d =
				json_loadb(nl + 1, (size_t)(close - nl - 1), JSON_DECODE_ANY, NULL);
			if (d) {
				json_decref(d);
				*js = nl + 1;
				*jn = (size_t)(close - nl - 1);
				return 0;
			}
		}
	}
	const char *a = NULL, *z = NULL;
	for (size_t k = 0; k < n && !a; k++)
		if (s[k] == '{' || s[k] == '[')
			a = s + k;
	for (size_t k = n; k > 0 && !z; k--)
		if (s[k - 1] == '}' || s[k - 1] == ']')
			z = s + k;
	if (!a || !z || z <= a)
		return -1;
	json_t *d = json_loadb(a, (size_t)(z - a), 0, NULL);
	if (!d)
		return -1;
	json_decref(d);
	*js = a;
	*jn = (size_t)(z - a);
	return 0;
}

static int rewrite(const char *path, const char *s, size_t n, int newline)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int bad = fwrite(s, 1, n, f) != n || (newline && fputc('\n', f) == EOF);
	return fclose(f) || bad ? -1 : 0;
}

/* Adds "reasoning_dropped" to the provider's provenance (kept when it no longer fits). */
static void note_dropped(struct job *j, size_t bytes)
{
	json_t *m = j->rs.meta[0] ? json_loads(j->rs.meta, 0, NULL) : json_object();
	if (!json_is_object(m)) {
		json_decref(m);
		return;
	}
	json_int_t before = json_integer_value(json_object_get(m, "reasoning_dropped"));
	json_object_set_new(m, "reasoning_dropped", json_integer(before + (json_int_t)bytes));
	char *t = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	if (t && strlen(t) < sizeof(j->rs.meta))
		memcpy(j->rs.meta, t, strlen(t) + 1);
	free(t);
	json_decref(m);
}

int quire_run__answer(struct job *j)
{
	const struct quire_binding *b = j->bi->b;
	char why[64];
	if (cut_off(j->rs.meta, why, sizeof(why))) {
		/* Kept as the failure's "partial" (it was paid for); never retried: the same
		 * limit would cut the next answer off too, and bill it. */
		j->truncated = 1;
		j->rs.transient = 0;
		char out[64] = "";
		if (j->rs.tokens_out > 0)
			snprintf(out, sizeof(out), " after %lld output tokens", j->rs.tokens_out);
		snprintf(j->rs.diag, sizeof(j->rs.diag),
			 "truncated: the answer was cut off by its length limit (%s)%s; quire does "
			 "not retry it (the same limit would cut the next answer off, billed): "
			 "raise the output limit of role '%s' in quire.yaml (for openai, params: "
			 "{ max_tokens: N }) and run again; the cut-off answer is kept as the "
			 "failure's 'partial' ('quire inspect %s --json')",
			 why, out, b->role, j->rq.id);
		return -1;
	}
	int is_json = !strcmp(j->rq.output_type, "json");
	if (!is_json && strcmp(j->rq.output_type, "text"))
		return 0;
	struct quire_buf a = QUIRE_BUF_INIT;
	int in_mem = j->rs.output != NULL;
	if (in_mem && j->rs.output_len > QUIRE_TEXT_CAP)
		return 0; /* as a file answer that large is read: kept as it came */
	if (in_mem) {
		/* Borrowed: a rewrite below replaces the provider's buffer. */
		a.ptr = j->rs.output;
		a.len = j->rs.output_len;
	} else if (!j->tmp || quire_fs_read(j->tmp, &a, QUIRE_TEXT_CAP)) {
		/* A missing or huge output is seal_output's to report. */
		quire_error_clear();
		quire_buf_release(&a);
		return 0;
	}
	const char *s = a.ptr ? a.ptr : "";
	size_t n = a.len, n0 = a.len;
	size_t dropped = drop_reasoning(b, &s, &n);
	int changed = dropped != 0, err = 0;
	if (is_json) {
		json_t *d = json_loadb(s, n, JSON_DECODE_ANY, NULL);
		const char *js;
		size_t jn;
		if (!d && extract_json(s, n, &js, &jn) == 0) {
			s = js;
			n = jn;
			changed = 1;
		}
		json_decref(d);
	}
	if (dropped && !n) {
		snprintf(j->rs.diag, sizeof(j->rs.diag),
			 "the answer held only reasoning (%zu bytes dropped), no text", dropped);
		j->rs.transient = 1;
		if (!in_mem)
			quire_buf_release(&a);
		return -1;
	}
	if (changed && in_mem) {
		int nl = is_json && n != n0;
		char *t = quire__xmalloc(n + 2);
		memcpy(t, s, n);
		if (nl)
			t[n++] = '\n';
		t[n] = '\0';
		free(j->rs.output);
		j->rs.output = t;
		j->rs.output_len = n;
	} else if (changed && rewrite(j->tmp, s, n, is_json && n != n0)) {
		snprintf(j->rs.diag, sizeof(j->rs.diag), "cannot write output: %s",
			 strerror(errno));
		err = -1;
	}
	if (dropped)
		note_dropped(j, dropped);
	if (!in_mem)
		quire_buf_release(&a);
	return err;
}

/* Prompts up to this size are kept whole; a larger one (a collector's, which is most of the
 * book again on every scene's change) by its digest and size only, until records keep what a
 * prompt was rendered from. */
#define CALL_PROMPT_MAX (64u << 10)
/* Prompts and schemas up to this size are kept in the record itself: a blob (a file, until
 * small blobs are packed) less per call. */
#define CALL_INLINE_MAX (16u << 10)
/* The raw answer kept, at most (a longer one is cut, and says so). */
#define CALL_RESPONSE_MAX (16u << 20)

void quire_run__record_call(struct runner *r, struct job *j, const char *scratch)
{
	const struct quire_binding *b = j->bi->b;
	struct quire_digest pd, sd, rd, cd;
	int err = 0;
	json_t *prompt = json_pack("{s:I}", "bytes", (json_int_t)j->prompt_len);
	json_t *ptext = j->prompt_len <= CALL_INLINE_MAX
				? json_stringn(j->prompt ? j->prompt : "", j->prompt_len)
				: NULL;
	if (ptext) {
		quire_hash_bytes(j->prompt ? j->prompt : "", j->prompt_len, &pd);
		json_object_set_new(prompt, "kept", json_true());
		json_object_set_new(prompt, "text", ptext);
	} else if (j->prompt_len <= CALL_PROMPT_MAX) {
		err = quire_blob_put(r->p->qdir, j->prompt ? j->prompt : "", j->prompt_len, &pd);
		json_object_set_new(prompt, "kept", json_true());
	} else {
		quire_hash_bytes(j->prompt, j->prompt_len, &pd);
		json_object_set_new(prompt, "kept", json_false());
	}
	json_object_set_new(prompt, "digest", json_string(pd.s));
	json_t *params = json_loads(j->params ? j->params : "{}", 0, NULL);
	json_t *c =
		json_pack("{s:i,s:s,s:s,s:o,s:o,s:o,s:I,s:o,s:I}", "v", 1, "provider", b->provider,
			  "role", b->role, "model", b->model ? json_string(b->model) : json_null(),
			  "params", params ? params : json_object(), "prompt", prompt, "attempts",
			  (json_int_t)j->attempts, "usage", quire_run__job_usage(j), "cost_micro",
			  (json_int_t)j->spent_micro);
	size_t sl = j->schema ? strlen(j->schema) : 0;
	if (j->schema && sl <= CALL_INLINE_MAX)
		json_object_set_new(c, "schema_text", json_stringn(j->schema, sl));
	else if (!err && j->schema && !(err = quire_blob_put(r->p->qdir, j->schema, sl, &sd)))
		json_object_set_new(c, "schema", json_string(sd.s));
	/* The raw answer, when the provider left one: secrets it may echo are taken out. */
	char *rpath = scratch ? quire__xasprintf("%s/%s", scratch, QUIRE_RESPONSE_FILE) : NULL;
	struct quire_buf raw = QUIRE_BUF_INIT;
	if (!err && rpath && quire_fs_read(rpath, &raw, CALL_RESPONSE_MAX + 1) == 0) {
		int cut = raw.len > CALL_RESPONSE_MAX;
		if (cut)
			raw.len = CALL_RESPONSE_MAX;
		/* Room for the marks, which may be longer than what they replace. */
		size_t cap = raw.len + raw.len / 4 + 64;
		char *red = quire__xmalloc(cap);
		memcpy(red, raw.ptr, raw.len);
		red[raw.len] = '\0';
		quire_secret_redact(red, cap);
		if (!(err = quire_blob_put(r->p->qdir, red, strlen(red), &rd))) {
			json_object_set_new(c, "response", json_string(rd.s));
			if (cut)
				json_object_set_new(c, "response_cut", json_true());
		}
		free(red);
	}
	quire_error_clear();
	quire_buf_release(&raw);
	free(rpath);
	if (j->rs.meta[0]) {
		json_t *meta = json_loads(j->rs.meta, 0, NULL);
		if (json_is_object(meta))
			json_object_set_new(c, "meta", meta);
		else
			json_decref(meta);
	}
	if (j->rc) {
		char *clean = quire__xstrdup(j->rs.diag);
		quire__utf8_scrub(clean);
		json_object_set_new(c, "error", json_string(clean));
		free(clean);
	}
	char *text = err ? NULL : json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	if (text && !quire_blob_put(r->p->qdir, text, strlen(text), &cd)) {
		j->call = cd;
		j->has_call = 1;
	}
	quire_error_clear();
	free(text);
	json_decref(c);
}

json_t *quire_call_load(const char *qdir, const char *digest)
{
	if (!digest)
		return NULL;
	struct quire_buf b = QUIRE_BUF_INIT;
	json_t *c = NULL;
	/* Small: a prompt kept in the record is under 16 KiB, the rest are digests. */
	if (quire_blob_read(qdir, digest, &b, 1u << 20, 1) == 0)
		c = json_loadb(b.ptr, b.len, 0, NULL);
	quire_error_clear();
	quire_buf_release(&b);
	return c;
}
