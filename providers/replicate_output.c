/* What a finished prediction delivers (replicate_internal.h): its text or JSON written out, or
 * its output file downloaded (capped, resumed in place, never with the token off-origin). */
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

/* The file URL of an output: a string, the first URL of an array, or the first URL-valued
 * field of an object. */
static const char *output_url(const json_t *out)
{
	if (json_is_string(out))
		return quire_rp__is_http_url(json_string_value(out)) ? json_string_value(out)
								     : NULL;
	size_t i;
	const char *k;
	json_t *v;
	if (json_is_array(out)) {
		json_array_foreach(out, i, v) {
			if (quire_rp__is_http_url(json_string_value(v)))
				return json_string_value(v);
		}
	} else if (json_is_object(out)) {
		json_object_foreach((json_t *)out, k, v) {
			if (quire_rp__is_http_url(json_string_value(v)))
				return json_string_value(v);
		}
	}
	return NULL;
}

static const char *json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Text and json outputs arrive inline: a string, or an array of strings (language models
 * stream tokens) joined as they are; json outputs may also be any JSON value. */
static int write_text(const struct quire_provider_request *rq, struct quire_provider_response *rs,
		      const char *id, const json_t *out)
{
	int is_json = !strcmp(rq->output_type, "json");
	int all_strings = json_is_array(out);
	size_t i;
	json_t *v;
	json_array_foreach(out, i, v)
		all_strings &= json_is_string(v);
	char *dumped = NULL;
	if (!json_is_string(out) && !all_strings) {
		if (!is_json || json_is_null(out))
			return quire_rp__fail(
				rs, 0,
				"replicate: prediction %s returned %s, not text (for structured "
				"output use output type json; for files image, audio or file)",
				id, json_kind(out));
		dumped = json_dumps(out, JSON_INDENT(2) | JSON_ENCODE_ANY);
	}
	FILE *f = fopen(rq->output_path, "wb");
	if (!f) {
		free(dumped);
		return quire_rp__fail(rs, 0, "replicate: cannot write the output: %s",
				      strerror(errno));
	}
	int bad = 0;
	if (dumped) {
		bad |= fputs(dumped, f) < 0;
	} else if (json_is_string(out)) {
		bad |= fwrite(json_string_value(out), 1, json_string_length(out), f) !=
		       json_string_length(out);
	} else {
		json_array_foreach(out, i, v) {
			bad |= fwrite(json_string_value(v), 1, json_string_length(v), f) !=
			       json_string_length(v);
		}
	}
	int e = errno;
	bad |= fclose(f) != 0;
	free(dumped);
	if (bad)
		return quire_rp__fail(rs, 0, "replicate: cannot write the output: %s",
				      strerror(e ? e : EIO));
	return 0;
}

/* Streams the output file to rq->output_path, under the size cap; transient failures are
 * retried here a few times (a GET is idempotent). */
static int download(struct call *c, struct quire_provider_response *rs, const char *id,
		    const char *url)
{
	struct replicate *rp = c->rp;
	const struct quire_provider_request *rq = c->rq;
	int rc = -1;
	for (int attempt = 1;; attempt++) {
		FILE *f = fopen(rq->output_path, "wb");
		if (!f)
			return quire_rp__fail(rs, 0, "replicate: cannot write the output: %s",
					      strerror(errno));
		c->out = f;
		c->cap = rp->max_download;
		c->written = 0;
		c->too_big = c->write_failed = 0;
		/* The whole-prediction timeout also bounds one download. */
		CURLcode e = quire_rp__perform(c, url, NULL, 0, rp->timeout_s, 1);
		c->out = NULL;
		int close_err = fclose(f) ? errno : 0;
		if (c->was_cancelled) {
			rc = quire_rp__fail(rs, 0, "cancelled");
			break;
		}
		if (c->too_big) {
			rc = quire_rp__fail(rs, 0,
					    "replicate: the output of prediction %s is larger than "
					    "max_download_mb=%lld; download stopped",
					    id, rp->max_download >> 20);
			break;
		}
		if (c->write_failed || close_err) {
			rc = quire_rp__fail(
				rs, 0, "replicate: cannot write the output: %s",
				strerror(c->write_failed ? c->write_failed : close_err));
			break;
		}
		if (e == CURLE_OK && c->status >= 200 && c->status < 300)
			return 0;
		char what[128];
		snprintf(what, sizeof(what), "downloading the output of prediction %s", id);
		rc = quire_rp__call_failed(rs, c, e, what);
		if (!rs->transient || attempt >= DOWNLOAD_TRIES)
			break;
		long wait = 250L << attempt;
		if (rs->retry_after_ms > wait)
			wait = rs->retry_after_ms;
		if (quire_rp__nap(rp, rq, wait)) {
			rc = quire_rp__fail(rs, 0, "cancelled");
			break;
		}
		memset(rs, 0, sizeof(*rs));
	}
	unlink(rq->output_path);
	return rc;
}

/* Provenance: ids, model, version and timing, never the token. */
static void set_meta(struct replicate *rp, struct quire_provider_response *rs, const char *id,
		     const json_t *done)
{
	json_t *m = json_pack("{s:s}", "prediction_id", id);
	const char *model = json_string_value(json_object_get(done, "model"));
	const char *version = json_string_value(json_object_get(done, "version"));
	if (!model)
		model = rp->model;
	if (!version)
		version = rp->version;
	if (model)
		json_object_set_new(m, "model", json_string(model));
	if (version)
		json_object_set_new(m, "version", json_string(version));
	const json_t *metrics = json_object_get(done, "metrics");
	const json_t *pt = json_object_get(metrics, "predict_time");
	if (json_is_number(pt)) {
		/* As a string: floats are kept out of anything quire hashes. */
		char s[64];
		snprintf(s, sizeof(s), "%.3f", json_number_value(pt));
		json_object_set_new(m, "predict_time", json_string(s));
	}
	const json_t *tin = json_object_get(metrics, "input_token_count");
	const json_t *tout = json_object_get(metrics, "output_token_count");
	if (json_is_integer(tin))
		rs->tokens_in = (long long)json_integer_value(tin);
	if (json_is_integer(tout))
		rs->tokens_out = (long long)json_integer_value(tout);
	char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	if (s && strlen(s) < sizeof(rs->meta))
		snprintf(rs->meta, sizeof(rs->meta), "%s", s);
	else
		snprintf(rs->meta, sizeof(rs->meta), "{\"prediction_id\":\"%s\"}", id);
	free(s);
	json_decref(m);
}

/* The output of succeeded prediction done into rq->output_path: text and json from the
 * reply, a file downloaded from its URL (with fetch; without, only the URL is looked for). */
int quire_rp__deliver(struct call *c, struct quire_provider_response *rs, struct pred *p,
		      const json_t *done, int fetch)
{
	const struct quire_provider_request *rq = c->rq;
	const json_t *output = json_object_get(done, "output");
	const char *type = rq->output_type ? rq->output_type : "text";
	int rc;
	if (!output || json_is_null(output)) {
		rc = quire_rp__fail(rs, 0, "replicate: prediction %s succeeded without an output",
				    p->id);
	} else if (!strcmp(type, "text") || !strcmp(type, "json")) {
		rc = write_text(rq, rs, p->id, output);
	} else {
		const char *url = output_url(output);
		if (url)
			rc = fetch ? download(c, rs, p->id, url) : 0;
		else
			rc = quire_rp__fail(
				rs, 0,
				"replicate: prediction %s returned %s without a file URL, but the "
				"producer's output type is %s",
				p->id, json_kind(output), type);
		if (rc && rs->transient)
			quire_rp__pending_keep(c->rp, rq->fingerprint, p);
	}
	if (!rc)
		set_meta(c->rp, rs, p->id, done);
	return rc;
}
