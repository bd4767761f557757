/* The openai provider: any OpenAI-compatible chat-completions server (OpenAI, Ollama, llama.cpp,
 * vLLM) over libcurl, with text and JSON-schema outputs, streaming, usage and retry hints. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include <jansson.h>

#include "builtin.h"
#include "parse.h"

#define DEFAULT_BASE_URL "https://api.openai.com/v1"
#define BODY_CAP ((size_t)32 << 20) /* a whole response, or an error body */
#define LINE_CAP ((size_t)4 << 20)  /* one SSE line */

struct openai {
	char *base_url; /* without a trailing slash */
	char *model;
	char *secret; /* NULL for servers that need no key */
	char *system;
	double temperature;
	int has_temperature;
	long long max_tokens; /* 0: not sent */
	long timeout_s;
	int stream;
	volatile int cancelled;
};

/* Replaces every occurrence of secret in buf (capacity cap), in any letter case, with
 * "[redacted]", in place: a server that echoes the key back must not get it as far as the
 * core, which also redacts parts of it. What does not fit after a mark is cut off. */
static void redact(char *buf, size_t cap, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t sl = secret ? strlen(secret) : 0, ml = sizeof(mark) - 1;
	if (sl < 4)
		return;
	for (char *hit; (hit = strcasestr(buf, secret));) {
		size_t tail = strlen(hit + sl), at = (size_t)(hit - buf);
		if (at + ml + tail + 1 > cap)
			tail = at + ml + 1 > cap ? 0 : cap - at - ml - 1;
		if (at + ml + 1 > cap) {
			*hit = '\0';
			break;
		}
		memmove(hit + ml, hit + sl, tail);
		memcpy(hit, mark, ml);
		hit[ml + tail] = '\0';
	}
}

/* Accepts a JSON number, or a string holding one (YAML scalars like 0.7 arrive as strings). */
static int param_number(const json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (*end || errno)
		return -1;
	*out = d;
	return 0;
}

static int param_integer(const json_t *v, long long lo, long long hi, long long *out)
{
	long long x;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else {
		const char *s = json_string_value(v);
		if (!s || !*s)
			return -1;
		char *end;
		errno = 0;
		x = strtoll(s, &end, 10);
		if (*end || errno)
			return -1;
	}
	if (x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int param_bool(const json_t *v, int *out)
{
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	const char *s = json_string_value(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))) {
		*out = 1;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* The host part of an http(s) URL, lower-cased into out; -1 when url is not one. */
static int url_host(const char *url, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		goto out;
	snprintf(out, outlen, "%s", host);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static void openai_fini(void *ctx);

static int openai_init(void **ctx, const struct quire_provider_config *cfg, char *err,
		       size_t errlen)
{
	static const char *const known[] = { "base_url", "temperature", "max_tokens", "timeout_s",
					     "stream",	 "system",	NULL };
	*ctx = NULL;
	if (quire_http_init(err, errlen))
		return -1;
	struct openai *o = calloc(1, sizeof(*o));
	json_t *params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, NULL);
	int rc = -1;
	if (!o) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	o->timeout_s = 120;
	o->stream = 1;
	if (!json_is_object(params)) {
		snprintf(err, errlen, "params must be a mapping");
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(params, k, v) {
		size_t i = 0;
		while (known[i] && strcmp(known[i], k))
			i++;
		if (!known[i]) {
			snprintf(err, errlen,
				 "unknown parameter '%s' (expected base_url, temperature, "
				 "max_tokens, timeout_s, stream or system)",
				 k);
			goto out;
		}
	}
	if (!cfg->model || !*cfg->model) {
		snprintf(err, errlen,
			 "no model: set 'model:' in the binding of role '%s' (e.g. gpt-4o-mini, "
			 "or llama3.2 for Ollama)",
			 cfg->role ? cfg->role : "?");
		goto out;
	}
	const json_t *bu = json_object_get(params, "base_url");
	if (bu && (!json_is_string(bu) || !json_string_length(bu))) {
		snprintf(err, errlen, "base_url must be a URL such as %s", DEFAULT_BASE_URL);
		goto out;
	}
	o->base_url = strdup(bu ? json_string_value(bu) : DEFAULT_BASE_URL);
	o->model = strdup(cfg->model);
	if (!o->base_url || !o->model) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	size_t bl = strlen(o->base_url);
	while (bl && o->base_url[bl - 1] == '/')
		o->base_url[--bl] = '\0';
	char host[256];
	if (url_host(o->base_url, host, sizeof(host))) {
		snprintf(err, errlen, "base_url '%s' is not an http:// or https:// URL",
			 o->base_url);
		goto out;
	}
	if (cfg->secret && strpbrk(cfg->secret, "\r\n")) {
		snprintf(err, errlen, "the API key contains a line break");
		goto out;
	}
	if (cfg->secret && *cfg->secret && !(o->secret = strdup(cfg->secret))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Local servers (Ollama, llama.cpp) need no key, so the vtable cannot demand one; OpenAI
	 * itself always does, and saying so now beats a 401 per job. */
	if (!o->secret && !strcmp(host, "api.openai.com")) {
		snprintf(err, errlen,
			 "no API key for %s: set OPENAI_API_KEY in the environment or the "
			 "secrets file (or name another variable with 'secret:' in the binding)",
			 o->base_url);
		goto out;
	}
	if ((v = json_object_get(params, "temperature"))) {
		if (param_number(v, &o->temperature) || o->temperature < 0 || o->temperature > 2) {
			snprintf(err, errlen, "temperature must be a number from 0 to 2");
			goto out;
		}
		o->has_temperature = 1;
	}
	long long x;
	if ((v = json_object_get(params, "max_tokens"))) {
		if (param_integer(v, 1, 100000000, &x)) {
			snprintf(err, errlen, "max_tokens must be a positive integer");
			goto out;
		}
		o->max_tokens = x;
	}
	if ((v = json_object_get(params, "timeout_s"))) {
		if (param_integer(v, 1, 86400, &x)) {
			snprintf(err, errlen, "timeout_s must be an integer from 1 to 86400");
			goto out;
		}
		o->timeout_s = (long)x;
	}
	if ((v = json_object_get(params, "stream")) && param_bool(v, &o->stream)) {
		snprintf(err, errlen, "stream must be true or false");
		goto out;
	}
	if ((v = json_object_get(params, "system"))) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "system must be text (the system prompt)");
			goto out;
		}
		if (!(o->system = strdup(json_string_value(v)))) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	*ctx = o;
	o = NULL;
	rc = 0;
out:
	json_decref(params);
	openai_fini(o);
	return rc;
}

/* One HTTP exchange: what came back, and how the stream was doing when it stopped. */
struct xfer {
	struct openai *o;
	CURL *h;
	const struct quire_provider_request *rq; /* NULL for check() */
	int want_stream;
	int mode; /* 0 undecided, 1 server-sent events, 2 plain body */
	struct quire_http_buf body, line, content;
	char *id, *model, *finish;
	long long tokens_in, tokens_out, chunks;
	int have_usage, done;
	struct quire_http_head head; /* the reason phrase, Retry-After */
	char fault[512];	     /* why the write callback stopped the transfer */
	int fault_transient;
	long status;	      /* the HTTP status */
	long timeout_s;	      /* longest silence allowed */
	long long seen;	      /* bytes moved so far, to notice silence */
	struct timespec last; /* when bytes last moved */
	int timed_out, aborted;
};

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void set_str(char **dst, const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || !*s)
		return;
	char *c = strdup(s);
	if (!c)
		return;
	free(*dst);
	*dst = c;
}

static void take_usage(struct xfer *x, const json_t *doc)
{
	const json_t *u = json_object_get(doc, "usage");
	if (!json_is_object(u))
		return;
	x->tokens_in = json_integer_value(json_object_get(u, "prompt_tokens"));
	x->tokens_out = json_integer_value(json_object_get(u, "completion_tokens"));
	x->have_usage = 1;
}

/* The server's own words from an error document: OpenAI's {error: {message}}, and the shapes
 * other compatible servers use ({error: "..."}, {message}, {detail}). */
static const char *error_message(const json_t *doc)
{
	const json_t *e = json_object_get(doc, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	if (!m)
		m = json_string_value(e);
	if (!m)
		m = json_string_value(json_object_get(doc, "message"));
	if (!m)
		m = json_string_value(json_object_get(doc, "detail"));
	return m;
}

/* Whether an error a server sent inside a 200 (mid-stream, or as the whole body) may go away
 * on a retry: a bad key, an unknown model, an exhausted quota or a bad request will not, and
 * each retry of those is another request. Rate limits and server faults may. */
static int error_transient(const json_t *doc)
{
	static const char *const permanent[] = {
		"invalid_api_key",
		"invalid_request_error",
		"authentication_error",
		"permission_error",
		"permission_denied",
		"not_found_error",
		"model_not_found",
		"insufficient_quota",
		"billing_hard_limit_reached",
		"context_length_exceeded",
		"invalid_prompt",
		"unsupported_model",
		"account_deactivated",
		NULL,
	};
	const json_t *e = json_object_get(doc, "error");
	const char *fields[2] = { json_string_value(json_object_get(e, "code")),
				  json_string_value(json_object_get(e, "type")) };
	for (int f = 0; f < 2; f++)
		for (int k = 0; fields[f] && permanent[k]; k++)
			if (!strcmp(fields[f], permanent[k]))
				return 0;
	/* Some servers give the HTTP status the error stands for. */
	const json_t *st = json_object_get(e, "status");
	if (!json_is_integer(st))
		st = json_object_get(e, "code");
	if (json_is_integer(st)) {
		json_int_t c = json_integer_value(st);
		return c < 400 || quire_http_status_transient((long)c);
	}
	return 1;
}

/* Records why the transfer must stop; returns -1 for the callbacks to pass on. */
static int fault(struct xfer *x, int transient, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fault(struct xfer *x, int transient, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->fault, sizeof(x->fault), fmt, ap);
	va_end(ap);
	x->fault_transient = transient;
	return -1;
}

/* One line of a server-sent event stream. Returns -1 to stop the transfer. */
static int sse_line(struct xfer *x, char *s, size_t n)
{
	if (n && s[n - 1] == '\r')
		s[--n] = '\0';
	if (strncmp(s, "data:", 5))
		return 0; /* blank separators, comments, event: and id: fields */
	s += 5;
	n -= 5;
	while (n && *s == ' ')
		s++, n--;
	if (!strcmp(s, "[DONE]")) {
		x->done = 1;
		return 0;
	}
	json_error_t je;
	json_t *doc = json_loadb(s, n, 0, &je);
	if (!json_is_object(doc)) {
		fault(x, 1, "openai: invalid JSON in a streamed chunk: %s",
		      doc ? "not an object" : je.text);
		json_decref(doc);
		return -1;
	}
	if (json_object_get(doc, "error")) {
		const char *m = error_message(doc);
		fault(x, error_transient(doc),
		      "openai: the server reported an error mid-stream: %s",
		      m ? m : "(no message)");
		json_decref(doc);
		return -1;
	}
	set_str(&x->id, json_object_get(doc, "id"));
	set_str(&x->model, json_object_get(doc, "model"));
	take_usage(x, doc);
	const json_t *ch = json_array_get(json_object_get(doc, "choices"), 0);
	const json_t *c = json_object_get(json_object_get(ch, "delta"), "content");
	set_str(&x->finish, json_object_get(ch, "finish_reason"));
	int rc = 0;
	if (json_is_string(c) && json_string_length(c)) {
		if (quire_http_buf_add(&x->content, json_string_value(c), json_string_length(c)))
			rc = fault(x, 0, "openai: the streamed message is larger than %zu MiB",
				   BODY_CAP >> 20);
		x->chunks++;
		if (!rc && x->rq && x->rq->progress)
			x->rq->progress(x->rq->progress_ud, x->chunks, "tokens");
	}
	json_decref(doc);
	return rc;
}

static int sse_feed(struct xfer *x, const char *data, size_t n)
{
	if (quire_http_buf_add(&x->line, data, n))
		return fault(x, 0, "openai: a streamed line is longer than %zu MiB",
			     LINE_CAP >> 20);
	size_t start = 0;
	for (char *nl; (nl = memchr(x->line.p + start, '\n', x->line.len - start));) {
		*nl = '\0';
		if (sse_line(x, x->line.p + start, (size_t)(nl - x->line.p) - start))
			return -1;
		start = (size_t)(nl - x->line.p) + 1;
	}
	memmove(x->line.p, x->line.p + start, x->line.len - start);
	x->line.len -= start;
	x->line.p[x->line.len] = '\0';
	return 0;
}

/* n bytes of the body, once the mode is known; -1 to stop the transfer. */
static int take_body(struct xfer *x, const char *data, size_t n)
{
	if (x->mode == 1)
		return sse_feed(x, data, n);
	if (quire_http_buf_add(&x->body, data, n))
		return fault(x, 0, "openai: the response is larger than %zu MiB", BODY_CAP >> 20);
	return 0;
}

/* The body ended: a last event without its newline counts. -1 to fail the transfer. */
static int end_body(struct xfer *x)
{
	return x->mode == 1 && x->line.len ? sse_line(x, x->line.p, x->line.len) : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	if (!x->mode) {
		/* A streamed request answers with events, unless it failed (an error document) or
		 * the server ignored 'stream' and sent one JSON document. */
		long code = 0;
		char *ct = NULL;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
		x->mode = x->want_stream && code / 100 == 2 && !(ct && strstr(ct, "json")) ? 1 : 2;
	}
	return take_body(x, data, n) ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	quire_http_head_line(&x->head, data, size * nmemb);
	return size * nmemb;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;
	(void)dltotal;
	(void)ultotal;
	if (x->o->cancelled || (x->rq && x->rq->cancelled && *x->rq->cancelled)) {
		x->aborted = 1;
		return 1;
	}
	/* timeout_s bounds silence, not the whole exchange: a long story streamed token by token
	 * may take minutes, a server that stops talking is caught after timeout_s. */
	long long seen = (long long)dlnow + (long long)ulnow;
	if (seen != x->seen) {
		x->seen = seen;
		clock_gettime(CLOCK_MONOTONIC, &x->last);
	} else if (since(&x->last) > (double)x->timeout_s) {
		x->timed_out = 1;
		return 1;
	}
	return 0;
}

/* Runs one request (a POST of body when non-NULL, else a GET) into x. */
static CURLcode perform(struct xfer *x, const char *url, const char *body, char *errbuf)
{
	errbuf[0] = '\0';
	CURL *h = curl_easy_init();
	if (!h)
		return CURLE_FAILED_INIT;
	x->h = h;
	struct curl_slist *hdr = NULL, *t;
	hdr = curl_slist_append(hdr, "Accept: application/json, text/event-stream");
	if (hdr && body)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (hdr && x->o->secret) {
		size_t n = strlen(x->o->secret) + 32;
		char *auth = malloc(n);
		if (auth) {
			snprintf(auth, n, "Authorization: Bearer %s", x->o->secret);
			hdr = curl_slist_append(hdr, auth);
			memset(auth, 0, n);
			free(auth);
		}
	}
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	if (!hdr)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &x->last);
	quire_http_setup(h, url, "quire-openai/1", errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, x->timeout_s);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (rc == CURLE_OK && end_body(x))
		rc = CURLE_WRITE_ERROR;
out:
	/* libcurl copied the header lines: wipe the one holding the key. */
	for (t = hdr; t; t = t->next)
		memset(t->data, 0, strlen(t->data));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	x->h = NULL;
	return rc;
}

/* Describes a transfer that did not complete; returns whether a retry may help. */
static int transfer_error(const struct xfer *x, CURLcode rc, const char *url, const char *errbuf,
			  char *out, size_t outlen)
{
	if (x->aborted) {
		snprintf(out, outlen, "openai: cancelled");
		return 0;
	}
	if (x->timed_out || rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(out, outlen, "openai: %s did not answer within %ld s (timeout_s)", url,
			 x->timeout_s);
		return 1;
	}
	if (rc == CURLE_WRITE_ERROR && x->fault[0]) {
		snprintf(out, outlen, "%s", x->fault);
		return x->fault_transient;
	}
	snprintf(out, outlen, "openai: %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return quire_http_curl_transient(rc);
}

/* Describes an HTTP error status with the server's message; returns whether a retry may
 * help (quire_http_status_transient: 408, 429 and 5xx, except a 429 that means the account is
 * out of quota). */
static int http_error(const struct xfer *x, char *out, size_t outlen)
{
	long code = x->status;
	json_t *doc = x->body.len ? json_loadb(x->body.p, x->body.len, 0, NULL) : NULL;
	const char *m = error_message(doc);
	char snippet[256] = "";
	if (!m && x->body.len) {
		/* Not a JSON error: show the start of whatever came back, on one line. */
		quire_http_snippet(snippet, sizeof(snippet), x->body.p, x->body.len);
		m = snippet;
	}
	const char *reason = x->head.reason[0] ? x->head.reason : quire_http_reason(code);
	snprintf(out, outlen, "openai: %ld%s%s%s%s", code, reason[0] ? " " : "", reason,
		 m && *m ? ": " : "", m ? m : "");
	const json_t *e = json_object_get(doc, "error");
	const char *ecode = json_string_value(json_object_get(e, "code"));
	const char *etype = json_string_value(json_object_get(e, "type"));
	int quota = (ecode && !strcmp(ecode, "insufficient_quota")) ||
		    (etype && !strcmp(etype, "insufficient_quota"));
	json_decref(doc);
	if (code == 429)
		return !quota;
	return quire_http_status_transient(code);
}

static char *join_url(const char *base, const char *path)
{
	size_t n = strlen(base) + strlen(path) + 1;
	char *u = malloc(n);
	if (u)
		snprintf(u, n, "%s%s", base, path);
	return u;
}

static void xfer_release(struct xfer *x)
{
	quire_http_buf_free(&x->body);
	quire_http_buf_free(&x->line);
	quire_http_buf_free(&x->content);
	free(x->id);
	free(x->model);
	free(x->finish);
}

/* The request body: messages, sampling parameters, streaming and the output format. */
static json_t *request_body(const struct openai *o, const struct quire_provider_request *rq,
			    int is_json, char *err, size_t errlen)
{
	json_t *msgs = json_array();
	if (o->system)
		json_array_append_new(
			msgs, json_pack("{s:s,s:s}", "role", "system", "content", o->system));
	json_t *prompt = json_stringn(rq->prompt ? rq->prompt : "", rq->prompt_len);
	if (!prompt) {
		snprintf(err, errlen, "openai: the prompt is not valid UTF-8");
		json_decref(msgs);
		return NULL;
	}
	json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", prompt));
	json_t *req = json_pack("{s:s,s:o}", "model", o->model, "messages", msgs);
	if (o->has_temperature)
		json_object_set_new(req, "temperature", json_real(o->temperature));
	if (o->max_tokens)
		json_object_set_new(req, "max_tokens", json_integer(o->max_tokens));
	json_object_set_new(req, "stream", json_boolean(o->stream));
	if (o->stream)
		json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
	if (!is_json)
		return req;
	if (!rq->schema_json) {
		json_object_set_new(req, "response_format",
				    json_pack("{s:s}", "type", "json_object"));
		return req;
	}
	json_error_t je;
	json_t *schema = json_loads(rq->schema_json, 0, &je);
	if (!json_is_object(schema)) {
		snprintf(err, errlen, "openai: the output schema is not a JSON object: %s",
			 schema ? "wrong type" : je.text);
		json_decref(schema);
		json_decref(req);
		return NULL;
	}
	json_object_set_new(req, "response_format",
			    json_pack("{s:s,s:{s:s,s:o,s:b}}", "type", "json_schema", "json_schema",
				      "name", "output", "schema", schema, "strict", 0));
	return req;
}

/* Local models like to wrap JSON in a Markdown fence; the schema check wants just the JSON. */
static void unfence(const char **s, size_t *n)
{
	const char *p = *s, *e = *s + *n;
	while (p < e && isspace((unsigned char)*p))
		p++;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	if (e - p >= 6 && !strncmp(p, "```", 3) && !strncmp(e - 3, "```", 3)) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (nl && nl < e - 3) {
			p = nl + 1;
			e -= 3;
			while (e > p && isspace((unsigned char)e[-1]))
				e--;
		}
	}
	*s = p;
	*n = (size_t)(e - p);
}

/* What a finished exchange means for the generation: the HTTP status, the error, the body or
 * the stream read; the content written to the output. 0 when it produced. */
static int conclude(struct xfer *x, CURLcode cc, const char *url, const char *errbuf, int is_json,
		    struct quire_provider_response *rs)
{
	json_t *doc = NULL;
	int rc = -1;
	if (cc != CURLE_OK) {
		rs->transient = transfer_error(x, cc, url, errbuf, rs->diag, sizeof(rs->diag));
		goto out;
	}
	if (x->status / 100 != 2) {
		rs->transient = http_error(x, rs->diag, sizeof(rs->diag));
		rs->retry_after_ms = x->head.retry_after_ms;
		goto out;
	}
	const char *content;
	size_t len;
	if (x->mode == 1) {
		if (!x->done && !x->finish) {
			snprintf(rs->diag, sizeof(rs->diag),
				 "openai: the stream from %s ended before the message was complete",
				 url);
			rs->transient = 1;
			goto out;
		}
		content = x->content.p ? x->content.p : "";
		len = x->content.len;
	} else {
		json_error_t je;
		doc = json_loadb(x->body.p ? x->body.p : "", x->body.len, 0, &je);
		if (!json_is_object(doc)) {
			snprintf(rs->diag, sizeof(rs->diag),
				 "openai: invalid JSON in the response from %s: %s (at byte %d of "
				 "%zu)",
				 url, doc ? "not an object" : je.text, doc ? 0 : je.position,
				 x->body.len);
			rs->transient = 1;
			goto out;
		}
		if (json_object_get(doc, "error")) {
			const char *m = error_message(doc);
			snprintf(rs->diag, sizeof(rs->diag),
				 "openai: the server reported an error: %s",
				 m ? m : "(no message)");
			rs->transient = error_transient(doc);
			goto out;
		}
		set_str(&x->id, json_object_get(doc, "id"));
		set_str(&x->model, json_object_get(doc, "model"));
		take_usage(x, doc);
		const json_t *ch = json_array_get(json_object_get(doc, "choices"), 0);
		const json_t *msg = json_object_get(ch, "message");
		set_str(&x->finish, json_object_get(ch, "finish_reason"));
		const json_t *c = json_object_get(msg, "content");
		const char *refusal = json_string_value(json_object_get(msg, "refusal"));
		if (!json_is_string(c) && refusal) {
			snprintf(rs->diag, sizeof(rs->diag), "openai: the model refused: %s",
				 refusal);
			goto out;
		}
		if (!json_is_string(c)) {
			snprintf(rs->diag, sizeof(rs->diag),
				 "openai: the response from %s holds no message content", url);
			rs->transient = 1;
			goto out;
		}
		content = json_string_value(c);
		len = json_string_length(c);
	}
	if (is_json)
		unfence(&content, &len);
	if (!len) {
		snprintf(rs->diag, sizeof(rs->diag),
			 "openai: the model returned an empty message (finish_reason %s)",
			 x->finish ? x->finish : "unknown");
		rs->transient = 1;
		goto out;
	}
	FILE *f = fopen(x->rq->output_path, "wb");
	if (!f || fwrite(content, 1, len, f) != len || (is_json && fputc('\n', f) == EOF)) {
		snprintf(rs->diag, sizeof(rs->diag), "openai: cannot write output: %s",
			 strerror(errno));
		if (f)
			fclose(f);
		goto out;
	}
	if (fclose(f)) {
		snprintf(rs->diag, sizeof(rs->diag), "openai: cannot write output: %s",
			 strerror(errno));
		goto out;
	}
	if (x->have_usage) {
		rs->tokens_in = x->tokens_in;
		rs->tokens_out = x->tokens_out;
	} else {
		/* Not zero: the call was made and may be billed; the core estimates it. */
		rs->tokens_in = rs->tokens_out = -1;
	}
	json_t *meta = json_object();
	if (x->id)
		json_object_set_new(meta, "response_id", json_string(x->id));
	if (x->model)
		json_object_set_new(meta, "model", json_string(x->model));
	if (x->finish)
		json_object_set_new(meta, "finish_reason", json_string(x->finish));
	char *ms = json_dumps(meta, JSON_COMPACT);
	if (ms && strlen(ms) < sizeof(rs->meta))
		memcpy(rs->meta, ms, strlen(ms) + 1);
	free(ms);
	json_decref(meta);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static int openai_produce(void *ctx, const struct quire_provider_request *rq,
			  struct quire_provider_response *rs)
{
	struct openai *o = ctx;
	struct xfer x = { .o = o, .rq = rq, .want_stream = o->stream, .timeout_s = o->timeout_s };
	x.body.cap = BODY_CAP;
	x.line.cap = LINE_CAP;
	x.content.cap = BODY_CAP;
	json_t *req = NULL;
	char *post = NULL, *url = NULL;
	char errbuf[CURL_ERROR_SIZE];
	int rc = -1;
	if (o->cancelled || (rq->cancelled && *rq->cancelled)) {
		snprintf(rs->diag, sizeof(rs->diag), "openai: cancelled");
		goto out;
	}
	const char *type = rq->output_type ? rq->output_type : "text";
	int is_json = !strcmp(type, "json");
	if (!is_json && strcmp(type, "text") && strcmp(type, "file")) {
		snprintf(rs->diag, sizeof(rs->diag),
			 "openai: cannot produce %s outputs (only text and json)", type);
		goto out;
	}
	if (!(req = request_body(o, rq, is_json, rs->diag, sizeof(rs->diag))))
		goto out;
	post = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(15));
	url = join_url(o->base_url, "/chat/completions");
	if (!post || !url) {
		snprintf(rs->diag, sizeof(rs->diag), "out of memory");
		goto out;
	}
	CURLcode cc = perform(&x, url, post, errbuf);
	rc = conclude(&x, cc, url, errbuf, is_json, rs);
out:
	redact(rs->diag, sizeof(rs->diag), o->secret);
	redact(rs->meta, sizeof(rs->meta), o->secret);
	xfer_release(&x);
	json_decref(req);
	free(post);
	free(url);
	return rc;
}

int quire_openai__reply(const struct quire_provider_request *rq, struct quire_provider_response *rs,
			long status, int events, const char *headers, size_t hlen, const char *body,
			size_t blen, size_t chunk)
{
	char base[] = "http://127.0.0.1:9/v1", model[] = "test", secret[] = "sk-test-quire-0c5e";
	struct openai o = { .base_url = base,
			    .model = model,
			    .secret = secret,
			    .stream = events,
			    .timeout_s = 60 };
	struct xfer x = { .o = &o,
			  .rq = rq,
			  .want_stream = events,
			  .mode = events ? 1 : 2,
			  .status = status,
			  .timeout_s = 60 };
	x.body.cap = BODY_CAP;
	x.line.cap = LINE_CAP;
	x.content.cap = BODY_CAP;
	const char *type = rq->output_type ? rq->output_type : "text";
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc = CURLE_OK;
	/* on_header reads a line without changing it (libcurl's buffer is not const either). */
	for (size_t at = 0, n; at < hlen; at += n) {
		const char *nl = memchr(headers + at, '\n', hlen - at);
		n = nl ? (size_t)(nl - headers - at) + 1 : hlen - at;
		on_header((char *)(uintptr_t)(headers + at), 1, n, &x);
	}
	if (!chunk)
		chunk = blen ? blen : 1;
	for (size_t at = 0; at < blen && cc == CURLE_OK; at += chunk)
		if (take_body(&x, body + at, blen - at < chunk ? blen - at : chunk))
			cc = CURLE_WRITE_ERROR;
	if (cc == CURLE_OK && end_body(&x))
		cc = CURLE_WRITE_ERROR;
	int rc = conclude(&x, cc, "http://127.0.0.1:9/v1/chat/completions", errbuf,
			  !strcmp(type, "json"), rs);
	redact(rs->diag, sizeof(rs->diag), o.secret);
	redact(rs->meta, sizeof(rs->meta), o.secret);
	xfer_release(&x);
	return rc;
}

static void openai_cancel(void *ctx)
{
	((struct openai *)ctx)->cancelled = 1;
}

static void openai_fini(void *ctx)
{
	struct openai *o = ctx;
	if (!o)
		return;
	if (o->secret) {
		memset(o->secret, 0, strlen(o->secret));
		free(o->secret);
	}
	free(o->base_url);
	free(o->model);
	free(o->system);
	free(o);
}

/* The server answers GET /models with this key. */
static int openai_check(void *ctx, char *msg, size_t msglen)
{
	struct openai *o = ctx;
	struct xfer x = { .o = o, .timeout_s = o->timeout_s < 15 ? o->timeout_s : 15 };
	x.body.cap = BODY_CAP;
	char errbuf[CURL_ERROR_SIZE];
	int rc = -1;
	char *url = join_url(o->base_url, "/models");
	if (!url) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	CURLcode cc = perform(&x, url, NULL, errbuf);
	if (cc != CURLE_OK)
		transfer_error(&x, cc, url, errbuf, msg, msglen);
	else if (x.status != 200)
		http_error(&x, msg, msglen);
	else
		rc = 0;
out:
	if (msglen)
		redact(msg, msglen, o->secret);
	xfer_release(&x);
	free(url);
	return rc;
}

const struct quire_provider quire_provider_openai = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "openai",
	/* No NEEDS_SECRET: local servers take no key; init refuses api.openai.com without one. */
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.secret_env = "OPENAI_API_KEY",
	.init = openai_init,
	.produce = openai_produce,
	.cancel = openai_cancel,
	.fini = openai_fini,
	.check = openai_check,
};
