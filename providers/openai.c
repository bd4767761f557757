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
#include "openai_internal.h"
#include "parse.h"

#define DEFAULT_BASE_URL "https://api.openai.com/v1"

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

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Records why the transfer must stop; returns -1 for the callbacks to pass on. */

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
	return quire_oa__take_body(x, data, n) ? 0 : n;
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
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, quire_http_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x->head);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	if (rc == CURLE_OK && quire_oa__end_body(x))
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
	rc = quire_oa__conclude(&x, cc, url, errbuf, is_json, rs);
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
	quire_http_head_text(&x.head, headers, hlen);
	if (!chunk)
		chunk = blen ? blen : 1;
	for (size_t at = 0; at < blen && cc == CURLE_OK; at += chunk)
		if (quire_oa__take_body(&x, body + at, blen - at < chunk ? blen - at : chunk))
			cc = CURLE_WRITE_ERROR;
	if (cc == CURLE_OK && quire_oa__end_body(&x))
		cc = CURLE_WRITE_ERROR;
	int rc = quire_oa__conclude(&x, cc, "http://127.0.0.1:9/v1/chat/completions", errbuf,
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
		quire_oa__transfer_error(&x, cc, url, errbuf, msg, msglen);
	else if (x.status != 200)
		quire_oa__http_error(&x, msg, msglen);
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
