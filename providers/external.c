/* The external adapter: serves a binding whose provider is an executable quire-provider-NAME
 * on PATH, speaking newline-delimited JSON over stdin/stdout (docs/providers.md). One process
 * per generation; the secret travels in the environment (QUIRE_SECRET), never in the request. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "quire-provider.h"

struct ext {
	char *program;
	char *provider;
	char *model;
	char *secret;
	char *project_dir;
	json_t *params;
	long timeout_s;
	volatile int cancelled;
};

static int ext_init(void **ctx, const struct quire_provider_config *cfg, char *err, size_t errlen)
{
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
	x->provider = strdup(cfg->provider);
	x->model = cfg->model ? strdup(cfg->model) : NULL;
	x->secret = cfg->secret ? strdup(cfg->secret) : NULL;
	x->project_dir = strdup(cfg->project_dir ? cfg->project_dir : ".");
	x->params = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, NULL);
	if (!x->params)
		x->params = json_object();
	json_t *t = json_object_get(x->params, "timeout_s");
	x->timeout_s = json_is_integer(t) ? (long)json_integer_value(t) : 600;
	*ctx = x;
	return 0;
}

static void ext_fini(void *ctx)
{
	struct ext *x = ctx;
	if (!x)
		return;
	free(x->program);
	free(x->provider);
	free(x->model);
	if (x->secret) {
		memset(x->secret, 0, strlen(x->secret));
		free(x->secret);
	}
	free(x->project_dir);
	json_decref(x->params);
	free(x);
}

static void ext_cancel(void *ctx)
{
	((struct ext *)ctx)->cancelled = 1;
}

static char *request_line(struct ext *x, const struct quire_provider_request *rq)
{
	json_t *inputs = json_array();
	for (size_t i = 0; i < rq->ninputs; i++)
		json_array_append_new(inputs, json_pack("{s:s,s:s}", "id", rq->input_ids[i], "path",
							rq->input_paths[i]));
	json_t *schema = rq->schema_json ? json_loads(rq->schema_json, 0, NULL) : NULL;
	json_t *req = json_pack("{s:s,s:i,s:s,s:s,s:s,s:o,s:O,s:s%,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:i}",
				"type", "produce", "abi", QUIRE_PROVIDER_ABI, "id", rq->id,
				"producer", rq->producer, "role", rq->role, "model",
				x->model ? json_string(x->model) : json_null(), "params", x->params,
				"prompt", rq->prompt, rq->prompt_len, "fingerprint", rq->fingerprint,
				"output_type", rq->output_type, "output_ext", rq->output_ext,
				"schema", schema ? schema : json_null(), "output_path",
				rq->output_path, "scratch_dir", rq->scratch_dir, "inputs", inputs,
				"attempt", (int)rq->attempt);
	char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return line;
}

/* Applies one line the provider wrote; returns 1 for the final result line. */
static int handle_line(const char *line, const struct quire_provider_request *rq,
		       struct quire_provider_response *rs, int *ok)
{
	json_error_t je;
	json_t *m = json_loads(line, 0, &je);
	if (!m)
		return 0; /* not ours: a stray print is ignored, not fatal */
	const char *type = json_string_value(json_object_get(m, "type"));
	int final = 0;
	if (type && !strcmp(type, "progress") && rq->progress) {
		const char *unit = json_string_value(json_object_get(m, "unit"));
		rq->progress(rq->progress_ud, (long long)json_integer_value(json_object_get(m, "units")),
			     unit ? unit : "units");
	} else if (type && !strcmp(type, "result")) {
		final = 1;
		*ok = json_is_true(json_object_get(m, "ok"));
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
		const char *content = json_string_value(json_object_get(m, "content"));
		if (*ok && content) {
			FILE *f = fopen(rq->output_path, "wb");
			size_t len = json_string_length(json_object_get(m, "content"));
			if (!f || fwrite(content, 1, len, f) != len) {
				*ok = 0;
				snprintf(rs->diag, sizeof(rs->diag), "cannot write the output: %s",
					 strerror(errno));
			}
			if (f)
				fclose(f);
		}
	}
	json_decref(m);
	return final;
}

static void child(struct ext *x, int in, int out, int errfd)
{
	setpgid(0, 0);
	dup2(in, 0);
	dup2(out, 1);
	dup2(errfd, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	if (chdir(x->project_dir) != 0)
		_exit(127);
	if (x->secret)
		setenv("QUIRE_SECRET", x->secret, 1);
	else
		unsetenv("QUIRE_SECRET");
	execl(x->program, x->program, (char *)NULL);
	dprintf(2, "cannot run '%s': %s\n", x->program, strerror(errno));
	_exit(127);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ext_produce(void *ctx, const struct quire_provider_request *rq,
		       struct quire_provider_response *rs)
{
	struct ext *x = ctx;
	int pin[2], pout[2], perr[2];
	char *req = request_line(x, rq);
	if (!req || pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
		snprintf(rs->diag, sizeof(rs->diag), "cannot start '%s': %s", x->program,
			 strerror(errno));
		free(req);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		child(x, pin[0], pout[1], perr[1]);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (pid < 0) {
		snprintf(rs->diag, sizeof(rs->diag), "cannot fork: %s", strerror(errno));
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		free(req);
		return -1;
	}
	/* The request is one line; a provider that does not read it gets EPIPE, not us a SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	size_t len = strlen(req), off = 0;
	while (off < len) {
		ssize_t n = write(pin[1], req + off, len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (write(pin[1], "\n", 1) < 0) {
		/* the provider exited early: its status says why */
	}
	close(pin[1]);
	free(req);

	char line[1 << 16], errtail[1024] = "";
	size_t ll = 0, el = 0;
	int ok = 0, got_result = 0, open_fds = 2, timed_out = 0, killed = 0;
	int64_t deadline = now_ms() + x->timeout_s * 1000;
	while (open_fds > 0) {
		struct pollfd fds[2] = { { pout[0], POLLIN, 0 }, { perr[0], POLLIN, 0 } };
		int pr = poll(fds, 2, 100);
		if ((x->cancelled || (rq->cancelled && *rq->cancelled)) && !killed) {
			kill(-pid, SIGKILL);
			killed = 1;
		}
		if (now_ms() > deadline && !killed) {
			kill(-pid, SIGKILL);
			killed = timed_out = 1;
		}
		if (pr <= 0)
			continue;
		if (fds[0].revents) {
			char buf[4096];
			ssize_t n = read(pout[0], buf, sizeof(buf));
			if (n <= 0) {
				close(pout[0]);
				pout[0] = -1;
				open_fds--;
			}
			for (ssize_t k = 0; k < n; k++) {
				if (buf[k] == '\n' || ll == sizeof(line) - 1) {
					line[ll] = '\0';
					got_result |= handle_line(line, rq, rs, &ok);
					ll = 0;
				} else {
					line[ll++] = buf[k];
				}
			}
		}
		if (fds[1].revents) {
			char buf[512];
			ssize_t n = read(perr[0], buf, sizeof(buf));
			if (n <= 0) {
				close(perr[0]);
				perr[0] = -1;
				open_fds--;
			}
			for (ssize_t k = 0; k < n; k++) {
				if (el == sizeof(errtail) - 1) {
					memmove(errtail, errtail + 512, el - 512);
					el -= 512;
				}
				errtail[el++] = buf[k];
			}
			errtail[el] = '\0';
		}
	}
	if (ll) {
		line[ll] = '\0';
		got_result |= handle_line(line, rq, rs, &ok);
	}
	if (pout[0] >= 0)
		close(pout[0]);
	if (perr[0] >= 0)
		close(perr[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed && !timed_out) {
		snprintf(rs->diag, sizeof(rs->diag), "cancelled");
		return -1;
	}
	if (timed_out) {
		snprintf(rs->diag, sizeof(rs->diag), "%s: timed out after %ld s", x->program,
			 x->timeout_s);
		rs->transient = 1;
		return -1;
	}
	if (!got_result) {
		snprintf(rs->diag, sizeof(rs->diag), "%s exited (status %d) without a result line%s%s",
			 x->program, WIFEXITED(status) ? WEXITSTATUS(status) : -1, el ? ": " : "",
			 errtail);
		return -1;
	}
	if (!ok && !rs->diag[0])
		snprintf(rs->diag, sizeof(rs->diag), "%s reported a failure", x->program);
	return ok ? 0 : -1;
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
