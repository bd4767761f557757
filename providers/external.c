/* The external adapter: serves a binding whose provider is an executable quire-provider-NAME
 * on PATH, speaking newline-delimited JSON over stdin/stdout (docs/providers.md). One process
 * per generation, run by the command helper; the secret travels in the environment
 * (QUIRE_SECRET), never in the request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "command.h"
#include "builtin.h"
#include "parse.h"

enum {
	DEFAULT_TIMEOUT_S = 600,
	LINE_MAX_BYTES = 64 << 20, /* one line from the provider; docs/providers.md */
};

/* One binding; read-only after init except the cancel flag, so produce() may run on several
 * threads at once. */
struct ext {
	char *program;
	char *model;
	char *secret;
	char *project_dir;
	json_t *params;
	long timeout_s; /* 0: no limit */
	char **env;	/* variable names passed through, NULL-terminated */
	volatile int cancelled;
};

static void ext_fini(void *ctx)
{
	struct ext *x = ctx;
	if (!x)
		return;
	free(x->program);
	free(x->model);
	if (x->secret) {
		memset(x->secret, 0, strlen(x->secret));
		free(x->secret);
	}
	free(x->project_dir);
	json_decref(x->params);
	quire_command__strv_free(x->env);
	free(x);
}

static int ext_init(void **ctx, const struct quire_provider_config *cfg, char *err, size_t errlen)
{
	*ctx = NULL;
	if (!cfg->program) {
		snprintf(err, errlen, "no program for external provider '%s'", cfg->provider);
		return -1;
	}
	struct ext *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->program = strdup(cfg->program);
	x->model = cfg->model ? strdup(cfg->model) : NULL;
	x->secret = cfg->secret ? strdup(cfg->secret) : NULL;
	x->project_dir = strdup(cfg->project_dir ? cfg->project_dir : ".");
	x->params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, NULL);
	if (!json_is_object(x->params)) {
		json_decref(x->params);
		x->params = json_object();
	}
	/* The rest of params belongs to the provider; these two are quire's. */
	if (quire_command__timeout_param(&x->timeout_s, json_object_get(x->params, "timeout_s"),
					 DEFAULT_TIMEOUT_S, err, errlen) ||
	    quire_command__env_names(&x->env, json_object_get(x->params, "env"), err, errlen)) {
		ext_fini(x);
		return -1;
	}
	if (!x->program || (cfg->model && !x->model) || (cfg->secret && !x->secret) ||
	    !x->project_dir || !x->params) {
		ext_fini(x);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*ctx = x;
	return 0;
}

static void ext_cancel(void *ctx)
{
	((struct ext *)ctx)->cancelled = 1;
}

/* The version of the line protocol (docs/providers.md), which the C ABI's bumps leave alone. */
#define EXTERNAL_PROTOCOL 2

/* The request, one JSON line with its newline. */
static char *request_line(const struct ext *x, const struct quire_provider_request *rq)
{
	json_t *inputs = json_array();
	for (size_t i = 0; i < rq->ninputs; i++)
		json_array_append_new(inputs, json_pack("{s:s,s:s}", "id", rq->input_ids[i], "path",
							rq->input_paths[i]));
	json_t *schema = rq->schema_json ? json_loads(rq->schema_json, 0, NULL) : NULL;
	json_t *req = json_pack(
		"{s:s,s:i,s:s,s:s,s:s,s:o,s:O,s:s%,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:i}", "type",
		"produce", "abi", EXTERNAL_PROTOCOL, "id", rq->id, "producer", rq->producer, "role",
		rq->role, "model", x->model ? json_string(x->model) : json_null(), "params",
		x->params, "prompt", rq->prompt, rq->prompt_len, "fingerprint", rq->fingerprint,
		"output_type", rq->output_type, "output_ext", rq->output_ext, "schema",
		schema ? schema : json_null(), "output_path", rq->output_path, "scratch_dir",
		rq->scratch_dir, "inputs", inputs, "attempt", (int)rq->attempt);
	char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	char *withnl = line ? quire_command__asprintf("%s\n", line) : NULL;
	free(line);
	return withnl;
}

/* The provider's environment: its secret as QUIRE_SECRET, the always-passed variables and the
 * binding's allow-list, nothing else of quire's (other roles' keys least of all). */
static char **build_env(const struct ext *x)
{
	struct quire_command_strv e = { 0 };
	if (x->secret)
		quire_command__strv_push(&e, quire_command__asprintf("QUIRE_SECRET=%s", x->secret));
	quire_command__env_allow(&e, (const char *const *)x->env);
	if (e.oom || !e.v) {
		quire_command__strv_free(e.v);
		return e.oom ? NULL : calloc(1, sizeof(char *));
	}
	return e.v;
}

/* What the provider has said so far. */
struct reply {
	const struct quire_provider_request *rq;
	struct quire_provider_response *rs;
	struct quire_command_buf line; /* the line being read, capped at LINE_MAX_BYTES */
	int got_result, ok;
};

/* Applies one line the provider wrote. */
static void handle_line(struct reply *r, const char *line, size_t len)
{
	const struct quire_provider_request *rq = r->rq;
	struct quire_provider_response *rs = r->rs;
	char eb[128];
	json_t *m = json_loadb(line, len, 0, NULL);
	if (!m)
		return; /* not ours: a stray print is ignored, not fatal */
	const char *type = json_string_value(json_object_get(m, "type"));
	if (type && !strcmp(type, "progress") && rq->progress) {
		const char *unit = json_string_value(json_object_get(m, "unit"));
		rq->progress(rq->progress_ud,
			     (long long)json_integer_value(json_object_get(m, "units")),
			     unit ? unit : "units");
	} else if (type && !strcmp(type, "result")) {
		r->got_result = 1;
		/* The result line is the raw answer the call's record keeps. */
		char *raw = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		if (raw)
			quire__provider_save_response(rq, raw, strlen(raw));
		free(raw);
		r->ok = json_is_true(json_object_get(m, "ok"));
		rs->tokens_in = (long long)json_integer_value(json_object_get(m, "tokens_in"));
		rs->tokens_out = (long long)json_integer_value(json_object_get(m, "tokens_out"));
		rs->transient = json_is_true(json_object_get(m, "transient"));
		rs->retry_after_ms = (long)json_integer_value(json_object_get(m, "retry_after_ms"));
		const char *e = json_string_value(json_object_get(m, "error"));
		if (e)
			snprintf(rs->diag, sizeof(rs->diag), "%s", e);
		json_t *meta = json_object_get(m, "meta");
		if (json_is_object(meta)) {
			char *s = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
			if (s && strlen(s) < sizeof(rs->meta))
				snprintf(rs->meta, sizeof(rs->meta), "%s", s);
			free(s);
		}
		json_t *content = json_object_get(m, "content");
		if (r->ok && json_is_string(content)) {
			FILE *f = fopen(rq->output_path, "wb");
			size_t n = json_string_length(content);
			if (!f || fwrite(json_string_value(content), 1, n, f) != n) {
				r->ok = 0;
				snprintf(rs->diag, sizeof(rs->diag), "cannot write the output: %s",
					 strerror_r(errno, eb, sizeof(eb)));
			}
			if (f && fclose(f) != 0 && r->ok) {
				r->ok = 0;
				snprintf(rs->diag, sizeof(rs->diag), "cannot write the output: %s",
					 strerror_r(errno, eb, sizeof(eb)));
			}
		}
	}
	json_decref(m);
}

/* on_out: splits what the provider writes into lines; stops it at a line over the cap. */
static int take_output(void *ud, const char *p, size_t n)
{
	struct reply *r = ud;
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		if (quire_command__buf_add(&r->line, p, k))
			return 1; /* too long (or out of memory): produce() says which */
		if (!nl)
			break;
		handle_line(r, r->line.p, r->line.len);
		r->line.len = 0;
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* The generation's outcome from how the provider ended; 0 when it produced. */
static int outcome(const struct ext *x, struct reply *r, const struct quire_command *c,
		   enum quire_command_end end, const struct quire_command_tail *t)
{
	struct quire_provider_response *rs = r->rs;
	const char *prog = x->program;
	char eb[128];
	const char *msg = strerror_r(c->error, eb, sizeof(eb)); /* GNU: returns the message */
	switch (end) {
	case QUIRE_COMMAND_NOT_STARTED:
		rs->transient = c->error == EAGAIN || c->error == ENOMEM || c->error == EMFILE ||
				c->error == ENFILE;
		if (c->in_cwd)
			quire_command__diag(rs, NULL, "cannot run '%s' in '%s': %s", prog,
					    x->project_dir, msg);
		else
			quire_command__diag(rs, NULL, "cannot run '%s': %s", prog, msg);
		return -1;
	case QUIRE_COMMAND_CANCELLED:
		quire_command__diag(rs, NULL, "cancelled");
		return -1;
	case QUIRE_COMMAND_TIMED_OUT:
		rs->transient = 1;
		quire_command__diag(rs, t, "%s: timed out after %ld s", prog, x->timeout_s);
		return -1;
	case QUIRE_COMMAND_STOPPED:
		if (r->line.err == EFBIG)
			quire_command__diag(rs, NULL,
					    "%s wrote a line longer than %d MiB, the most quire "
					    "reads as one line",
					    prog, LINE_MAX_BYTES >> 20);
		else
			quire_command__diag(rs, NULL, "%s: out of memory reading its output", prog);
		return -1;
	case QUIRE_COMMAND_LOST:
		quire_command__diag(rs, t, "lost track of '%s': %s", prog, msg);
		return -1;
	case QUIRE_COMMAND_EXITED:
		break;
	}
	if (r->line.len) {
		/* A last line without its newline counts (a final print without one). */
		handle_line(r, r->line.p, r->line.len);
		r->line.len = 0;
	}
	if (!r->got_result) {
		if (WIFSIGNALED(c->status))
			quire_command__diag(
				rs, t, "%s was killed by signal %d (%s) before a result line", prog,
				WTERMSIG(c->status), quire_command__signame(WTERMSIG(c->status)));
		else
			quire_command__diag(rs, t, "%s exited (status %d) without a result line",
					    prog, WEXITSTATUS(c->status));
		return -1;
	}
	if (!r->ok && !rs->diag[0])
		snprintf(rs->diag, sizeof(rs->diag), "%s reported a failure", prog);
	return r->ok ? 0 : -1;
}

static int ext_produce(void *ctx, const struct quire_provider_request *rq,
		       struct quire_provider_response *rs)
{
	struct ext *x = ctx;
	struct quire_command_tail *t = calloc(1, sizeof(*t));
	char *req = request_line(x, rq), **envp = build_env(x);
	char *argv[] = { x->program, NULL };
	struct reply r = { .rq = rq, .rs = rs, .line = { .max = LINE_MAX_BYTES } };
	int rc = -1;
	if (!t || !req || !envp) {
		quire_command__diag(rs, NULL, "out of memory");
		goto out;
	}
	struct quire_command c = {
		.argv = argv,
		.envp = envp,
		.cwd = x->project_dir,
		.in = QUIRE_COMMAND_PIPE,
		.input = req,
		.input_len = strlen(req),
		.out = QUIRE_COMMAND_PIPE,
		.on_out = take_output,
		.ud = &r,
		.err_tail = t,
		.timeout_ms = (long long)x->timeout_s * 1000,
		.cancelled = { rq->cancelled, &x->cancelled },
	};
	rc = outcome(x, &r, &c, quire_command__run(&c), t);
out:
	quire_command__buf_release(&r.line);
	quire_command__strv_free(envp);
	free(req);
	free(t);
	return rc;
}

int quire_external__reply(const struct quire_provider_request *rq,
			  struct quire_provider_response *rs, const char *out, size_t len,
			  size_t chunk, const char *err, size_t errlen, int status)
{
	char prog[] = "quire-provider-test";
	struct ext x = { .program = prog };
	struct reply r = { .rq = rq, .rs = rs, .line = { .max = LINE_MAX_BYTES } };
	struct quire_command c = { .status = status };
	struct quire_command_tail t = { 0 };
	enum quire_command_end end = QUIRE_COMMAND_EXITED;
	if (errlen)
		quire_command__tail_add(&t, err, errlen);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t at = 0; at < len; at += chunk)
		if (take_output(&r, out + at, len - at < chunk ? len - at : chunk)) {
			end = QUIRE_COMMAND_STOPPED;
			break;
		}
	int rc = outcome(&x, &r, &c, end, &t);
	quire_command__buf_release(&r.line);
	return rc;
}

const struct quire_provider quire_provider_external = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "external",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.secret_env = NULL,
	.init = ext_init,
	.produce = ext_produce,
	.cancel = ext_cancel,
	.fini = ext_fini,
};
