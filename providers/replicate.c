/* The replicate provider: creates a prediction on Replicate's HTTP API, polls it with backoff,
 * cancels it on Ctrl-C, and streams its output file (or its text) into the output path. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include <jansson.h>

#include "builtin.h"
#include "parse.h"
#include "replicate_internal.h"

static void pred_release(struct pred *p)
{
	free(p->id);
	free(p->get_url);
	free(p->cancel_url);
	memset(p, 0, sizeof(*p));
}

static void pending_free(struct pending *q)
{
	free(q->fingerprint);
	free(q->id);
	free(q->get_url);
	free(q->cancel_url);
	free(q);
}

/* Takes the prediction an earlier attempt of this request left behind, if any. */
static int pending_take(struct replicate *rp, const char *fingerprint, struct pred *p)
{
	int found = 0;
	if (!fingerprint)
		return 0;
	pthread_mutex_lock(&rp->mu);
	for (struct pending **q = &rp->pending; *q; q = &(*q)->next) {
		if (strcmp((*q)->fingerprint, fingerprint))
			continue;
		struct pending *hit = *q;
		*q = hit->next;
		p->id = hit->id;
		p->get_url = hit->get_url;
		p->cancel_url = hit->cancel_url;
		hit->id = hit->get_url = hit->cancel_url = NULL;
		pending_free(hit);
		found = 1;
		break;
	}
	pthread_mutex_unlock(&rp->mu);
	return found;
}

void quire_rp__pending_keep(struct replicate *rp, const char *fingerprint, struct pred *p)
{
	struct pending *q = calloc(1, sizeof(*q));
	if (!q || !fingerprint || !(q->fingerprint = strdup(fingerprint))) {
		free(q);
		return;
	}
	q->id = p->id;
	q->get_url = p->get_url;
	q->cancel_url = p->cancel_url;
	p->id = p->get_url = p->cancel_url = NULL;
	pthread_mutex_lock(&rp->mu);
	q->next = rp->pending;
	rp->pending = q;
	pthread_mutex_unlock(&rp->mu);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Prediction ids go into URLs: letters and digits only. */
static int valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (!n || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return 0;
	return 1;
}

/* Fills p from a prediction object; 0, or -1 when it has no usable id. */
static int pred_from_json(struct replicate *rp, const json_t *j, struct pred *p)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!valid_id(id))
		return -1;
	const json_t *urls = json_object_get(j, "urls");
	const char *get = json_string_value(json_object_get(urls, "get"));
	const char *cancel = json_string_value(json_object_get(urls, "cancel"));
	p->id = strdup(id);
	p->get_url = quire_rp__is_http_url(get) ? strdup(get)
						: xasprintf("%s/predictions/%s", rp->base_url, id);
	p->cancel_url = quire_rp__is_http_url(cancel)
				? strdup(cancel)
				: xasprintf("%s/predictions/%s/cancel", rp->base_url, id);
	return p->id && p->get_url && p->cancel_url ? 0 : -1;
}

/* Asks Replicate to stop a prediction, so an interrupted run stops paying for it. */
static void cancel_remote(struct call *c, const struct pred *p)
{
	if (!p->cancel_url)
		return;
	c->ignore_cancel = 1;
	quire_rp__perform(c, p->cancel_url, NULL, 1, CANCEL_TIMEOUT_S, 0);
	c->ignore_cancel = 0;
}

/* Is s a JSON number with a fraction or an exponent ("0.7", "-1.5e3")? */
static int decimal_literal(const char *s)
{
	const char *p = s + (*s == '-');
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return 0;
	p += strspn(p, "0123456789");
	int frac = 0;
	if (*p == '.') {
		size_t n = strspn(p + 1, "0123456789");
		if (!n)
			return 0;
		p += 1 + n;
		frac = 1;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		size_t n = strspn(p, "0123456789");
		if (!n)
			return 0;
		p += n;
		frac = 1;
	}
	return frac && !*p;
}

/* quire keeps non-integer numbers of quire.yaml as strings (floats never enter a fingerprint);
 * Replicate validates input types, so decimals go back to being JSON numbers on the wire. */
static void decimals_to_numbers(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	json_object_foreach(j, k, v) {
		if (json_is_string(v) && decimal_literal(json_string_value(v)))
			json_object_set_new(j, k, json_real(strtod(json_string_value(v), NULL)));
		else
			decimals_to_numbers(v);
	}
	json_array_foreach(j, i, v) {
		if (json_is_string(v) && decimal_literal(json_string_value(v)))
			json_array_set_new(j, i, json_real(strtod(json_string_value(v), NULL)));
		else
			decimals_to_numbers(v);
	}
}

/* The reply to a create: *state receives the created prediction (its first status), p its id
 * and URLs. */
static int created(struct call *c, struct quire_provider_response *rs, CURLcode e, struct pred *p,
		   json_t **state)
{
	if (e != CURLE_OK || c->status < 200 || c->status >= 300)
		return quire_rp__call_failed(rs, c, e, "creating the prediction");
	json_t *j = json_loadb(c->body.p ? c->body.p : "", c->body.len, 0, NULL);
	if (!json_is_object(j) || pred_from_json(c->rp, j, p)) {
		char s[256];
		quire_http_snippet(s, sizeof(s), c->body.p ? c->body.p : "", c->body.len);
		json_decref(j);
		return quire_rp__fail(
			rs, 0,
			"replicate: creating the prediction: the reply has no prediction id: %s",
			s);
	}
	*state = j;
	return 0;
}

/* POST the prediction; *state receives the created prediction (its first status). */
static int create(struct call *c, struct quire_provider_response *rs, struct pred *p,
		  json_t **state)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int rc = -1;
	char *url = NULL, *body = NULL;
	json_t *input = rp->input ? json_deep_copy(rp->input) : json_object();
	decimals_to_numbers(input);
	json_t *prompt =
		json_stringn(rq->prompt ? rq->prompt : "", rq->prompt ? rq->prompt_len : 0);
	if (!prompt) {
		json_decref(input);
		return quire_rp__fail(rs, 0, "replicate: the rendered prompt is not valid UTF-8");
	}
	json_object_set_new(input, rp->prompt_field, prompt);
	json_t *req = json_pack("{s:o}", "input", input);
	if (rp->version) {
		json_object_set_new(req, "version", json_string(rp->version));
		url = xasprintf("%s/predictions", rp->base_url);
	} else {
		url = xasprintf("%s/models/%s/predictions", rp->base_url, rp->model);
	}
	/* 15 digits print a decimal the user typed as typed (0.7, not 0.69999999999999996). */
	body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(req);
	if (!url || !body) {
		rc = quire_rp__fail(rs, 0, "replicate: out of memory");
		goto out;
	}
	/* Ctrl-C does not abort a create at once: a prediction whose id we never learn could
	 * not be cancelled and would run (and be billed) to the end. */
	c->grace_ms = CREATE_GRACE_MS;
	CURLcode e = quire_rp__perform(c, url, body, 0, API_TIMEOUT_S, 0);
	c->grace_ms = 0;
	if (c->was_cancelled)
		rc = quire_rp__fail(rs, 0, "cancelled");
	else
		rc = created(c, rs, e, p, state);
out:
	free(url);
	free(body);
	return rc;
}

/* The end of a failed prediction's logs, when it gave no error. */
static void logs_tail(const json_t *j, char *dst, size_t cap)
{
	const char *logs = json_string_value(json_object_get(j, "logs"));
	dst[0] = '\0';
	if (!logs)
		return;
	size_t n = strlen(logs);
	while (n && (logs[n - 1] == '\n' || logs[n - 1] == ' '))
		n--;
	size_t from = n > 300 ? n - 300 : 0;
	quire_http_snippet(dst, cap, logs + from, n - from);
}

/* What a prediction's state says: 1 it succeeded, -1 it failed or was cancelled (rs says
 * so), 0 it is still running (its status, when it has one, in last). */
static int settled(const json_t *state, const struct pred *p, struct quire_provider_response *rs,
		   char *last, size_t lastlen)
{
	const char *st = state ? json_string_value(json_object_get(state, "status")) : NULL;
	if (!st)
		return 0;
	snprintf(last, lastlen, "%s", st);
	if (!strcmp(st, "succeeded"))
		return 1;
	if (!strcmp(st, "failed")) {
		const json_t *err = json_object_get(state, "error");
		char msg[1024];
		if (json_is_string(err)) {
			snprintf(msg, sizeof(msg), "%s", json_string_value(err));
		} else if (err && !json_is_null(err)) {
			char *d = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
			snprintf(msg, sizeof(msg), "%s", d ? d : "unknown error");
			free(d);
		} else {
			char tail[400];
			logs_tail(state, tail, sizeof(tail));
			snprintf(msg, sizeof(msg), "no error given%s%s",
				 tail[0] ? "; logs end: " : "", tail);
		}
		return quire_rp__fail(rs, 0, "replicate: prediction %s failed: %s", p->id, msg);
	}
	if (!strcmp(st, "canceled") || !strcmp(st, "aborted"))
		return quire_rp__fail(rs, 0, "replicate: prediction %s was %s on Replicate", p->id,
				      st);
	return 0;
}

/* Polls until the prediction ends; *done receives the succeeded prediction. Transient poll
 * failures are retried here until the deadline: polling is idempotent, creating is not. */
static int wait_for(struct call *c, struct quire_provider_response *rs, struct pred *p,
		    json_t *state, json_t **done)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int64_t deadline = quire_rp__now_ms() + (int64_t)rp->timeout_s * 1000;
	long interval = rp->poll_ms;
	char last[64] = "starting", lasterr[512] = "";
	int rc = -1;
	for (;;) {
		int s = settled(state, p, rs, last, sizeof(last));
		if (s > 0) {
			*done = state;
			return 0;
		}
		if (s < 0)
			goto out;
		json_decref(state);
		state = NULL;
		int64_t left = deadline - quire_rp__now_ms();
		if (left <= 0) {
			cancel_remote(c, p);
			rc = quire_rp__fail(
				rs, 0,
				"replicate: prediction %s did not finish within timeout_s=%ld "
				"(last status: %s%s%s); it was cancelled",
				p->id, rp->timeout_s, last, lasterr[0] ? "; " : "", lasterr);
			goto out;
		}
		long wait = c->head.retry_after_ms > interval ? c->head.retry_after_ms : interval;
		if (quire_rp__nap(rp, rq, wait < left ? wait : (long)left))
			goto cancelled;
		interval = interval * 2 > POLL_CAP_MS ? POLL_CAP_MS : interval * 2;
		if (interval < rp->poll_ms) /* a poll_ms above the cap stays as given */
			interval = rp->poll_ms;
		CURLcode e = quire_rp__perform(c, p->get_url, NULL, 0, API_TIMEOUT_S, 0);
		if (c->was_cancelled)
			goto cancelled;
		if (e == CURLE_OK && c->status >= 200 && c->status < 300) {
			if (c->body.over) {
				rc = quire_rp__fail(
					rs, 0,
					"replicate: polling prediction %s: the reply is larger "
					"than %zu MiB",
					p->id, API_BODY_CAP >> 20);
				goto out;
			}
			state = json_loadb(c->body.p ? c->body.p : "", c->body.len, 0, NULL);
			if (!json_is_object(state)) {
				json_decref(state);
				state = NULL;
				snprintf(lasterr, sizeof(lasterr), "a poll reply was not JSON");
			}
			continue;
		}
		if ((e != CURLE_OK && quire_http_curl_transient(e)) ||
		    (e == CURLE_OK && quire_http_status_transient(c->status))) {
			struct quire_provider_response tmp = { 0 };
			quire_rp__call_failed(&tmp, c, e, "polling");
			snprintf(lasterr, sizeof(lasterr), "%.400s", tmp.diag);
			continue;
		}
		rc = quire_rp__call_failed(rs, c, e, "polling the prediction");
		goto out;
	}
cancelled:
	cancel_remote(c, p);
	rc = quire_rp__fail(rs, 0, "cancelled");
out:
	json_decref(state);
	return rc;
}

static int replicate_produce(void *ctx, const struct quire_provider_request *rq,
			     struct quire_provider_response *rs)
{
	struct replicate *rp = ctx;
	struct pred p = { 0 };
	json_t *state = NULL, *done = NULL;
	int rc = -1;
	if (!rp->auth)
		return quire_rp__fail(rs, 0, "replicate: no API token: set REPLICATE_API_TOKEN");
	if (quire_rp__want_cancel(rp, rq))
		return quire_rp__fail(rs, 0, "cancelled");
	char why[200];
	if (quire_http_init(why, sizeof(why)))
		return quire_rp__fail(rs, 0, "replicate: %s", why);
	struct call c = { .rp = rp, .rq = rq, .h = curl_easy_init() };
	if (!c.h)
		return quire_rp__fail(rs, 0, "replicate: cannot start libcurl");
	if (!pending_take(rp, rq->fingerprint, &p) && (rc = create(&c, rs, &p, &state)))
		goto out;
	/* wait_for owns the state from here on, and notices a cancel before its first poll. */
	rc = wait_for(&c, rs, &p, state, &done);
	state = NULL;
	if (rc)
		goto out;
	rc = quire_rp__deliver(&c, rs, &p, done, 1);
out:
	json_decref(state);
	json_decref(done);
	quire_http_buf_free(&c.body);
	curl_easy_cleanup(c.h);
	pred_release(&p);
	return rc;
}

static int replicate_check(void *ctx, char *msg, size_t msglen)
{
	struct replicate *rp = ctx;
	if (!rp->auth) {
		snprintf(msg, msglen, "replicate: no API token: set REPLICATE_API_TOKEN");
		return -1;
	}
	struct call c = { .rp = rp };
	if (quire_http_init(msg, msglen) || !(c.h = curl_easy_init())) {
		snprintf(msg, msglen, "replicate: cannot start libcurl");
		return -1;
	}
	char *url = xasprintf("%s/account", rp->base_url);
	CURLcode e = url ? quire_rp__perform(&c, url, NULL, 0, 20L, 0) : CURLE_OUT_OF_MEMORY;
	int rc = 0;
	if (e != CURLE_OK || c.status != 200) {
		struct quire_provider_response tmp = { 0 };
		quire_rp__call_failed(&tmp, &c, e, "checking the account");
		snprintf(msg, msglen, "%s", tmp.diag);
		rc = -1;
	}
	free(url);
	quire_http_buf_free(&c.body);
	curl_easy_cleanup(c.h);
	return rc;
}

int quire_replicate__reply(const struct quire_provider_request *rq,
			   struct quire_provider_response *rs, long status, int poll,
			   const char *headers, size_t hlen, const char *body, size_t blen)
{
	char base[] = "https://api.replicate.com/v1", model[] = "owner/model", id[] = "test";
	struct replicate rp = { .model = model, .base_url = base, .poll_ms = 1, .timeout_s = 1 };
	struct call c = { .rp = &rp, .rq = rq, .status = status, .body = { .cap = API_BODY_CAP } };
	struct pred p = { 0 };
	json_t *state = NULL;
	char last[64] = "starting";
	int rc = -1;
	pthread_mutex_init(&rp.mu, NULL);
	quire_http_head_text(&c.head, headers, hlen);
	/* As on_body keeps an API reply: an oversized one is cut. */
	if (quire_http_buf_add(&c.body, body, blen) && !c.body.over)
		goto out;
	if (!poll) {
		if (created(&c, rs, CURLE_OK, &p, &state))
			goto out;
	} else if (status < 200 || status >= 300) {
		quire_rp__call_failed(rs, &c, CURLE_OK, "polling the prediction");
		goto out;
	} else {
		/* As wait_for reads a poll's reply about prediction "test". */
		p.id = id;
		state = json_loadb(c.body.p ? c.body.p : "", c.body.len, 0, NULL);
	}
	int st = json_is_object(state) ? settled(state, &p, rs, last, sizeof(last)) : 0;
	if (st > 0)
		rc = quire_rp__deliver(&c, rs, &p, state, 0);
	else if (!st)
		quire_rp__fail(rs, 1, "replicate: prediction %s is still %s", p.id ? p.id : "?",
			       last);
out:
	if (p.id == id)
		p.id = NULL;
	pred_release(&p);
	json_decref(state);
	quire_http_buf_free(&c.body);
	while (rp.pending) {
		struct pending *q = rp.pending;
		rp.pending = q->next;
		pending_free(q);
	}
	pthread_mutex_destroy(&rp.mu);
	return rc;
}

static void replicate_cancel(void *ctx)
{
	struct replicate *rp = ctx;
	atomic_store(&rp->cancelled, 1);
}

static void replicate_fini(void *ctx)
{
	struct replicate *rp = ctx;
	if (!rp)
		return;
	free(rp->model);
	free(rp->version);
	free(rp->base_url);
	free(rp->prompt_field);
	json_decref(rp->input);
	if (rp->auth) {
		memset(rp->auth, 0, strlen(rp->auth));
		free(rp->auth);
	}
	while (rp->pending) {
		struct pending *q = rp->pending;
		rp->pending = q->next;
		pending_free(q);
	}
	pthread_mutex_destroy(&rp->mu);
	free(rp);
}

/* An integer parameter (YAML gives integers; a quoted number is accepted too). Messages of
 * init() carry no "replicate:" prefix: the core names the role and the provider. */
static int param_int(const json_t *params, const char *key, long long def, long long min,
		     long long max, long long *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(params, key);
	long long x = def;
	if (json_is_integer(v)) {
		x = (long long)json_integer_value(v);
	} else if (json_is_string(v)) {
		char *end;
		errno = 0;
		x = strtoll(json_string_value(v), &end, 10);
		if (end == json_string_value(v) || *end || errno)
			x = min - 1;
	} else if (v) {
		x = min - 1;
	}
	if (x < min || x > max) {
		snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

/* "owner/name": letters, digits, '.', '_' and '-', exactly one '/'. */
static int valid_model(const char *m)
{
	int slashes = 0;
	size_t n = strlen(m);
	if (!n || m[0] == '/' || m[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		if (ch == '/')
			slashes++;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return slashes == 1;
}

static int replicate_init(void **ctx, const struct quire_provider_config *cfg, char *err,
			  size_t errlen)
{
	static const char *const known[] = { "base_url",	"version", "input",
					     "prompt_field",	"poll_ms", "timeout_s",
					     "max_download_mb", NULL };
	*ctx = NULL;
	struct replicate *rp = calloc(1, sizeof(*rp));
	if (!rp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&rp->mu, NULL);
	atomic_init(&rp->cancelled, 0);
	json_error_t je;
	json_t *params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, &je);
	const char *key;
	json_t *v;
	long long n;
	if (!json_is_object(params)) {
		snprintf(err, errlen, "params must be a mapping");
		goto fail;
	}
	json_object_foreach(params, key, v) {
		int ok = 0;
		for (size_t i = 0; known[i]; i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			snprintf(err, errlen,
				 "unknown param '%s' (expected base_url, version, input, "
				 "prompt_field, poll_ms, timeout_s or max_download_mb)",
				 key);
			goto fail;
		}
	}
	v = json_object_get(params, "base_url");
	const char *base = v ? json_string_value(v) : DEFAULT_BASE_URL;
	if (!quire_rp__is_http_url(base)) {
		snprintf(err, errlen, "base_url must be an http:// or https:// URL");
		goto fail;
	}
	rp->base_url = strdup(base);
	for (size_t len = strlen(rp->base_url); len && rp->base_url[len - 1] == '/';)
		rp->base_url[--len] = '\0';

	v = json_object_get(params, "version");
	if (v && (!json_is_string(v) || !valid_id(json_string_value(v)))) {
		snprintf(err, errlen, "version must be a model version id");
		goto fail;
	}
	rp->version = v ? strdup(json_string_value(v)) : NULL;
	if (cfg->model && *cfg->model) {
		/* "owner/name:version", as Replicate writes model references, is accepted too. */
		const char *colon = strchr(cfg->model, ':');
		rp->model = colon ? strndup(cfg->model, (size_t)(colon - cfg->model))
				  : strdup(cfg->model);
		if (!rp->model) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (colon) {
			if (!valid_id(colon + 1) ||
			    (rp->version && strcmp(rp->version, colon + 1))) {
				snprintf(err, errlen,
					 "model '%s' names a version that is not a "
					 "version id or differs from params.version",
					 cfg->model);
				goto fail;
			}
			if (!rp->version)
				rp->version = strdup(colon + 1);
		}
		if (!valid_model(rp->model)) {
			snprintf(err, errlen,
				 "model must be 'owner/name' or 'owner/name:version', "
				 "not '%s'",
				 cfg->model);
			goto fail;
		}
	} else if (!rp->version) {
		snprintf(err, errlen, "a role needs a model ('owner/name') or params.version");
		goto fail;
	}

	v = json_object_get(params, "prompt_field");
	if (v && (!json_is_string(v) || !json_string_length(v))) {
		snprintf(err, errlen, "prompt_field must be a field name");
		goto fail;
	}
	rp->prompt_field = strdup(v ? json_string_value(v) : "prompt");
	v = json_object_get(params, "input");
	if (v && !json_is_object(v)) {
		snprintf(err, errlen, "input must be a mapping of model input fields");
		goto fail;
	}
	if (v && json_object_get(v, rp->prompt_field)) {
		snprintf(err, errlen,
			 "input.%s would replace the rendered prompt; the prompt goes "
			 "into '%s' (set prompt_field to send it elsewhere)",
			 rp->prompt_field, rp->prompt_field);
		goto fail;
	}
	rp->input = v ? json_deep_copy(v) : NULL;
	if (param_int(params, "poll_ms", 1000, 1, 600000, &n, err, errlen))
		goto fail;
	rp->poll_ms = (long)n;
	if (param_int(params, "timeout_s", 900, 1, 7 * 86400, &n, err, errlen))
		goto fail;
	rp->timeout_s = (long)n;
	if (param_int(params, "max_download_mb", 512, 1, 1 << 20, &n, err, errlen))
		goto fail;
	rp->max_download = n << 20;

	if (cfg->secret && *cfg->secret) {
		for (const char *s = cfg->secret; *s; s++) {
			if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) {
				snprintf(err, errlen,
					 "the API token contains spaces or control "
					 "characters");
				goto fail;
			}
		}
		rp->auth = xasprintf("Authorization: Bearer %s", cfg->secret);
	}
	if (!rp->base_url || (cfg->model && *cfg->model && !rp->model) || !rp->prompt_field ||
	    (cfg->secret && *cfg->secret && !rp->auth)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_decref(params);
	*ctx = rp;
	return 0;
fail:
	json_decref(params);
	replicate_fini(rp);
	return -1;
}

const struct quire_provider quire_provider_replicate = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "replicate",
	.flags = QUIRE_PROVIDER_THREADSAFE | QUIRE_PROVIDER_NEEDS_SECRET,
	.secret_env = "REPLICATE_API_TOKEN",
	.init = replicate_init,
	.produce = replicate_produce,
	.cancel = replicate_cancel,
	.fini = replicate_fini,
	.check = replicate_check,
};
