/* What an OpenAI-compatible answer means (openai_internal.h): a JSON document or a stream
 * of server-sent events, the server's errors and whether a retry may help, the usage, and
 * the output written to the request's path. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include <jansson.h>

#include "builtin.h"
#include "openai_internal.h"
#include "parse.h"

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
int quire_oa__take_body(struct xfer *x, const char *data, size_t n)
{
	if (x->mode == 1)
		return sse_feed(x, data, n);
	if (quire_http_buf_add(&x->body, data, n))
		return fault(x, 0, "openai: the response is larger than %zu MiB", BODY_CAP >> 20);
	return 0;
}
/* The body ended: a last event without its newline counts. -1 to fail the transfer. */
int quire_oa__end_body(struct xfer *x)
{
	return x->mode == 1 && x->line.len ? sse_line(x, x->line.p, x->line.len) : 0;
}
/* Describes a transfer that did not complete; returns whether a retry may help. */
int quire_oa__transfer_error(const struct xfer *x, CURLcode rc, const char *url, const char *errbuf,
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
int quire_oa__http_error(const struct xfer *x, char *out, size_t outlen)
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
/* Leaves what the server answered for the call's record: the body as it came, or for a
 * stream (whose events are not kept) what it assembled to. */
static void save_response(const struct xfer *x)
{
	if (!x->rq)
		return;
	if (x->mode != 1) {
		if (x->body.len || x->status)
			quire__provider_save_response(x->rq, x->body.p ? x->body.p : "",
						      x->body.len);
		return;
	}
	json_t *s = json_pack("{s:b,s:s%,s:o,s:o,s:o}", "stream", 1, "content",
			      x->content.p ? x->content.p : "", x->content.len, "finish_reason",
			      x->finish ? json_string(x->finish) : json_null(), "id",
			      x->id ? json_string(x->id) : json_null(), "model",
			      x->model ? json_string(x->model) : json_null());
	if (s && x->have_usage)
		json_object_set_new(s, "usage",
				    json_pack("{s:I,s:I}", "prompt_tokens",
					      (json_int_t)x->tokens_in, "completion_tokens",
					      (json_int_t)x->tokens_out));
	char *t = s ? json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (t)
		quire__provider_save_response(x->rq, t, strlen(t));
	free(t);
	json_decref(s);
}

int quire_oa__conclude(struct xfer *x, CURLcode cc, const char *url, const char *errbuf,
		       int is_json, struct quire_provider_response *rs)
{
	json_t *doc = NULL;
	int rc = -1;
	if (cc == CURLE_OK)
		save_response(x);
	if (cc != CURLE_OK) {
		rs->transient =
			quire_oa__transfer_error(x, cc, url, errbuf, rs->diag, sizeof(rs->diag));
		goto out;
	}
	if (x->status / 100 != 2) {
		rs->transient = quire_oa__http_error(x, rs->diag, sizeof(rs->diag));
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
	/* Reasoning before the answer (<think>...</think>) is the core's to drop, as the role
	 * says: it does so for every provider. */
	if (is_json)
		unfence(&content, &len);
	/* Nothing because the budget ran out (a thinking model can spend it all thinking) is an
	 * answer cut off, which the core fails as truncated without retrying: not empty. */
	int cut = x->finish && !strcmp(x->finish, "length");
	if (!len && !cut) {
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
