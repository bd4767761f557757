/* The exec provider: runs a local program from an argv template (no shell unless the binding
 * asks for one by name), with a timeout, an environment allow-list and the output taken from
 * the program's stdout or from a file it writes. Generated text reaches the program only
 * through files, stdin and environment variables, never through a command line a shell parses. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "builtin.h"
#include "command.h"

enum {
	EXIT_TEMPFAIL = 75, /* sysexits.h EX_TEMPFAIL: "try again later" */
	DEFAULT_TIMEOUT_S = 600,
};

static const char *const known_params[] = { "argv",	 "shell", "stdin", "output_from",
					    "timeout_s", "env",	  "cwd",   NULL };

/* One binding's settings; read-only after init except the cancel flag, so produce() may run on
 * several threads at once. */
struct exec {
	char **argv; /* argument templates, NULL-terminated; NULL when shell is used */
	char *shell; /* the binding's explicit /bin/sh -c script, or NULL */
	int stdin_prompt;
	int output_file; /* the program writes {output}; else its stdout is the output */
	long timeout_s;	 /* 0: no limit */
	char **env;	 /* extra variable names passed through, NULL-terminated */
	char *cwd;	 /* absolute working directory */
	volatile int cancelled;
};

/* The values placeholders stand for in one request. */
struct vals {
	const char *prompt_file, *output, *scratch, *id, *ext;
	const char *const *inputs;
	size_t ninputs;
};

enum ph { PH_PROMPT_FILE, PH_OUTPUT, PH_SCRATCH, PH_ID, PH_INPUT, PH_INPUTS, PH_EXT, PH_N };
static const char *const ph_names[PH_N] = { "prompt_file", "output", "scratch", "id",
					    "input",	   "inputs", "ext" };
#define PH_LIST "{prompt_file}, {output}, {scratch}, {id}, {input:N}, {inputs} or {ext}"

/* Substitutes the placeholders of one argument template into out; with v NULL it only checks
 * the template. `{{` and `}}` stand for literal braces; a `{` that does not start a
 * `{name}` or `{name:N}` is literal too (so `{}` and `{a: .b}` pass through). */
static int subst(const char *t, const char *where, const struct vals *v,
		 struct quire_command_buf *out, char *err, size_t errlen)
{
	for (const char *p = t; *p;) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			quire_command__buf_add(out, p, 1);
			p += 2;
			continue;
		}
		if (*p != '{') {
			size_t n = strcspn(p, "{}");
			if (!n)
				n = 1;
			quire_command__buf_add(out, p, n);
			p += n;
			continue;
		}
		const char *name = p + 1, *q = name;
		while ((*q >= 'a' && *q <= 'z') || *q == '_')
			q++;
		size_t nlen = (size_t)(q - name);
		const char *num = NULL;
		if (nlen && *q == ':' && q[1] >= '0' && q[1] <= '9') {
			num = ++q;
			while (*q >= '0' && *q <= '9')
				q++;
		}
		if (!nlen || *q != '}') {
			quire_command__buf_add(out, p, 1); /* not a placeholder: a literal brace */
			p++;
			continue;
		}
		int ph = 0;
		while (ph < PH_N &&
		       (strlen(ph_names[ph]) != nlen || memcmp(ph_names[ph], name, nlen)))
			ph++;
		int whole = p == t && q[1] == '\0';
		if (ph == PH_N) {
			snprintf(err, errlen,
				 "%s: unknown placeholder '%.*s' (expected " PH_LIST ")", where,
				 (int)(q + 1 - p), p);
			return -1;
		}
		if (ph == PH_INPUT && !num) {
			snprintf(err, errlen, "%s: '{input}' needs an index, e.g. {input:0}",
				 where);
			return -1;
		}
		if (ph != PH_INPUT && num) {
			snprintf(err, errlen, "%s: '%.*s' takes no index", where, (int)(q + 1 - p),
				 p);
			return -1;
		}
		if (ph == PH_INPUTS && !whole) {
			snprintf(err, errlen,
				 "%s: {inputs} must be a whole argument (it becomes one argument "
				 "per input)",
				 where);
			return -1;
		}
		p = q + 1;
		if (!v)
			continue;
		switch (ph) {
		case PH_PROMPT_FILE:
			quire_command__buf_puts(out, v->prompt_file);
			break;
		case PH_OUTPUT:
			quire_command__buf_puts(out, v->output);
			break;
		case PH_SCRATCH:
			quire_command__buf_puts(out, v->scratch);
			break;
		case PH_ID:
			quire_command__buf_puts(out, v->id);
			break;
		case PH_EXT:
			quire_command__buf_puts(out, v->ext);
			break;
		case PH_INPUT: {
			errno = 0;
			unsigned long long k = strtoull(num, NULL, 10);
			if (errno || k >= v->ninputs) {
				snprintf(err, errlen,
					 "%s: {input:%.*s} is out of range: %s has %zu input%s",
					 where, (int)(q - num), num, v->id, v->ninputs,
					 v->ninputs == 1 ? "" : "s");
				return -1;
			}
			quire_command__buf_puts(out, v->inputs[k]);
			break;
		}
		default:
			break; /* PH_INPUTS is expanded by the caller */
		}
	}
	return 0;
}

static void exec_fini(void *ctx)
{
	struct exec *x = ctx;
	if (!x)
		return;
	quire_command__strv_free(x->argv);
	quire_command__strv_free(x->env);
	free(x->shell);
	free(x->cwd);
	free(x);
}

/* Reads one binding's params; every message names the parameter at fault (the core prefixes
 * the role). */
static int parse_params(struct exec *x, const json_t *pj, const char *project_dir, char *err,
			size_t errlen)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)pj, key, val) {
		int k = 0;
		while (known_params[k] && strcmp(known_params[k], key))
			k++;
		if (!known_params[k]) {
			snprintf(
				err, errlen,
				"unknown parameter '%s' (expected argv, shell, stdin, output_from, "
				"timeout_s, env or cwd)",
				key);
			return -1;
		}
	}
	const json_t *argv = json_object_get(pj, "argv"), *shell = json_object_get(pj, "shell");
	if (argv && shell) {
		snprintf(err, errlen, "give either argv or shell, not both");
		return -1;
	}
	if (!argv && !shell) {
		snprintf(err, errlen,
			 "needs argv (a list: the command and its arguments), e.g. "
			 "argv: [tr, a-z, A-Z]");
		return -1;
	}
	if (shell) {
		if (!json_is_string(shell) || !json_string_length(shell)) {
			snprintf(err, errlen,
				 "shell must be a non-empty string (a /bin/sh script)");
			return -1;
		}
		if (!(x->shell = strdup(json_string_value(shell))))
			goto oom;
	} else {
		if (!json_is_array(argv) || !json_array_size(argv)) {
			snprintf(err, errlen,
				 "argv must be a non-empty list of strings (the command and its "
				 "arguments)");
			return -1;
		}
		struct quire_command_strv a = { 0 };
		size_t i;
		json_t *el;
		json_array_foreach(argv, i, el) {
			char where[32];
			snprintf(where, sizeof(where), "argv[%zu]", i);
			if (!json_is_string(el)) {
				/* YAML reads `2` and `true` as numbers and booleans: say how to
				 * quote */
				snprintf(err, errlen,
					 "%s must be a string (quote numbers and booleans)", where);
				quire_command__strv_free(a.v);
				return -1;
			}
			struct quire_command_buf dummy = { 0 };
			int rc = subst(json_string_value(el), where, NULL, &dummy, err, errlen);
			free(dummy.p);
			if (rc) {
				quire_command__strv_free(a.v);
				return -1;
			}
			quire_command__strv_push(&a, strdup(json_string_value(el)));
		}
		if (a.oom) {
			quire_command__strv_free(a.v);
			goto oom;
		}
		x->argv = a.v;
		if (!x->argv[0][0] || !strcmp(x->argv[0], "{inputs}")) {
			snprintf(err, errlen, "argv[0] must name the program to run");
			return -1;
		}
	}

	const json_t *in = json_object_get(pj, "stdin");
	if (in) {
		const char *s = json_string_value(in);
		if (!s || (strcmp(s, "prompt") && strcmp(s, "none"))) {
			snprintf(err, errlen, "stdin must be \"prompt\" or \"none\"");
			return -1;
		}
		x->stdin_prompt = !strcmp(s, "prompt");
	}
	const json_t *of = json_object_get(pj, "output_from");
	if (of) {
		const char *s = json_string_value(of);
		if (!s || (strcmp(s, "stdout") && strcmp(s, "file"))) {
			snprintf(err, errlen,
				 "output_from must be \"stdout\" (the default) or \"file\" (the "
				 "command "
				 "writes {output})");
			return -1;
		}
		x->output_file = !strcmp(s, "file");
	}
	if (quire_command__timeout_param(&x->timeout_s, json_object_get(pj, "timeout_s"),
					 DEFAULT_TIMEOUT_S, err, errlen) ||
	    quire_command__env_names(&x->env, json_object_get(pj, "env"), err, errlen))
		return -1;

	const json_t *cwd = json_object_get(pj, "cwd");
	const char *rel = NULL;
	if (cwd) {
		rel = json_string_value(cwd);
		int bad = !rel || !*rel || rel[0] == '/';
		for (const char *s = rel; !bad && s && *s;) {
			size_t n = strcspn(s, "/");
			bad = n == 2 && !strncmp(s, "..", 2);
			s += n + (s[n] == '/');
		}
		if (bad) {
			snprintf(err, errlen,
				 "cwd must be a relative directory inside the project (no '..')");
			return -1;
		}
	}
	if (!project_dir || !*project_dir)
		project_dir = ".";
	x->cwd = rel && strcmp(rel, ".") ? quire_command__asprintf("%s/%s", project_dir, rel)
					 : strdup(project_dir);
	if (!x->cwd)
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int exec_init(void **ctx, const struct quire_provider_config *cfg, char *err, size_t errlen)
{
	*ctx = NULL;
	struct exec *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_error_t je;
	json_t *pj = json_loads(cfg->params_json ? cfg->params_json : "{}", 0, &je);
	int rc;
	if (!json_is_object(pj)) {
		snprintf(err, errlen, "params must be a mapping");
		rc = -1;
	} else {
		rc = parse_params(x, pj, cfg->project_dir, err, errlen);
	}
	json_decref(pj);
	if (rc) {
		exec_fini(x);
		return -1;
	}
	*ctx = x;
	return 0;
}

static void exec_cancel(void *ctx)
{
	((struct exec *)ctx)->cancelled = 1;
}

static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len); /* the GNU variant: thread-safe, returns the message */
}

/* The command's environment: QUIRE_* describing the request, the always-passed variables and
 * the binding's allow-list, nothing else. */
static char **build_env(const struct exec *x, const struct vals *v)
{
	struct quire_command_strv e = { 0 };
	struct quire_command_buf inputs = { 0 };
	for (size_t i = 0; i < v->ninputs; i++) {
		if (i)
			quire_command__buf_add(&inputs, "\n", 1);
		quire_command__buf_puts(&inputs, v->inputs[i]);
	}
	char *in = quire_command__buf_detach(&inputs);
	/* The list also goes to a file: one environment string may not exceed 128 KiB on Linux,
	 * so a large collector gets only QUIRE_INPUTS_FILE. */
	if (v->scratch && *v->scratch) {
		char *list = quire_command__asprintf("%s/inputs.txt", v->scratch);
		FILE *f = list ? fopen(list, "w") : NULL;
		if (f) {
			if (in && *in)
				fprintf(f, "%s\n", in);
			if (fclose(f) == 0)
				quire_command__strv_push(
					&e, quire_command__asprintf("QUIRE_INPUTS_FILE=%s", list));
		}
		free(list);
	}
	if (in && strlen(in) > 65536) {
		free(in);
		in = NULL;
	}
	quire_command__strv_push(&e,
				 quire_command__asprintf("QUIRE_PROMPT_FILE=%s", v->prompt_file));
	quire_command__strv_push(&e, quire_command__asprintf("QUIRE_OUTPUT=%s", v->output));
	quire_command__strv_push(&e, quire_command__asprintf("QUIRE_SCRATCH=%s", v->scratch));
	quire_command__strv_push(&e, quire_command__asprintf("QUIRE_ID=%s", v->id));
	quire_command__strv_push(&e, quire_command__asprintf("QUIRE_EXT=%s", v->ext));
	if (in)
		quire_command__strv_push(&e, quire_command__asprintf("QUIRE_INPUTS=%s", in));
	free(in);
	quire_command__env_allow(&e, (const char *const *)x->env);
	if (e.oom) {
		quire_command__strv_free(e.v);
		return NULL;
	}
	return e.v;
}

/* Expands the argv templates (or wraps the shell script) for one request. */
static char **build_argv(const struct exec *x, const struct vals *v, char *err, size_t errlen)
{
	struct quire_command_strv a = { 0 };
	if (x->shell) {
		/* The script is the binding's text, never a template; input paths arrive as "$@".
		 */
		quire_command__strv_push(&a, strdup("/bin/sh"));
		quire_command__strv_push(&a, strdup("-c"));
		quire_command__strv_push(&a, strdup(x->shell));
		quire_command__strv_push(&a, strdup("quire-exec"));
		for (size_t i = 0; i < v->ninputs; i++)
			quire_command__strv_push(&a, strdup(v->inputs[i]));
	} else {
		for (size_t i = 0; x->argv[i]; i++) {
			if (!strcmp(x->argv[i], "{inputs}")) {
				for (size_t k = 0; k < v->ninputs; k++)
					quire_command__strv_push(&a, strdup(v->inputs[k]));
				continue;
			}
			char where[32];
			snprintf(where, sizeof(where), "argv[%zu]", i);
			struct quire_command_buf b = { 0 };
			if (subst(x->argv[i], where, v, &b, err, errlen)) {
				free(b.p);
				quire_command__strv_free(a.v);
				return NULL;
			}
			quire_command__strv_push(&a, quire_command__buf_detach(&b));
		}
	}
	if (a.oom) {
		snprintf(err, errlen, "out of memory");
		quire_command__strv_free(a.v);
		return NULL;
	}
	return a.v;
}

/* The instance's outcome from how the command ended; 0 when it produced. */
static int outcome(const struct exec *x, const struct quire_provider_request *rq,
		   struct quire_provider_response *rs, const struct quire_command *sp,
		   enum quire_command_end end, const struct quire_command_tail *t)
{
	const char *prog = sp->argv[0];
	char eb[128];
	const char *msg = errstr(sp->error, eb, sizeof(eb));
	int code = WIFEXITED(sp->status) ? WEXITSTATUS(sp->status) : -1;
	struct stat st;
	switch (end) {
	case QUIRE_COMMAND_NOT_STARTED:
		if (sp->in_cwd) {
			quire_command__diag(rs, NULL, "cannot run '%s' in '%s': %s", prog, x->cwd,
					    msg);
		} else if (sp->error == EAGAIN || sp->error == ENOMEM || sp->error == EMFILE ||
			   sp->error == ENFILE) {
			rs->transient = 1;
			quire_command__diag(rs, NULL, "cannot start '%s': %s", prog, msg);
		} else {
			quire_command__diag(rs, NULL, "cannot run '%s': %s", prog, msg);
		}
		return -1;
	case QUIRE_COMMAND_CANCELLED:
	case QUIRE_COMMAND_STOPPED: /* stdout is never read: cannot happen */
		quire_command__diag(rs, NULL, "cancelled");
		return -1;
	case QUIRE_COMMAND_TIMED_OUT:
		rs->transient = 1;
		quire_command__diag(rs, t, "timed out after %ld s", x->timeout_s);
		return -1;
	case QUIRE_COMMAND_LOST:
		quire_command__diag(rs, t, "lost track of '%s': %s", prog, msg);
		return -1;
	case QUIRE_COMMAND_EXITED:
		break;
	}
	if (WIFSIGNALED(sp->status)) {
		quire_command__diag(rs, t, "'%s' was killed by signal %d (%s)", prog,
				    WTERMSIG(sp->status),
				    quire_command__signame(WTERMSIG(sp->status)));
		return -1;
	}
	if (code == EXIT_TEMPFAIL) {
		rs->transient = 1;
		quire_command__diag(rs, t, "exit status %d (temporary failure)", code);
		return -1;
	}
	if (code != 0) {
		quire_command__diag(rs, t, "exit status %d", code);
		return -1;
	}
	if (x->output_file && (stat(rq->output_path, &st) < 0 || !S_ISREG(st.st_mode))) {
		quire_command__diag(rs, t, "'%s' exited 0 but wrote no file at {output}", prog);
		return -1;
	}
	json_t *meta = json_pack("{s:i,s:s}", "exit_status", code, "command", prog);
	char *ms = meta ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (ms && strlen(ms) < sizeof(rs->meta))
		memcpy(rs->meta, ms, strlen(ms) + 1);
	free(ms);
	json_decref(meta);
	return 0;
}

static int exec_produce(void *ctx, const struct quire_provider_request *rq,
			struct quire_provider_response *rs)
{
	struct exec *x = ctx;
	struct quire_command_tail *t = calloc(1, sizeof(*t));
	char **argv = NULL, **envp = NULL, *prompt_tmp = NULL;
	int in_fd = -1, out_fd = -1, rc = -1;
	char eb[128];
	if (!t) {
		quire_command__diag(rs, NULL, "out of memory");
		return -1;
	}
	if (x->cancelled || (rq->cancelled && *rq->cancelled)) {
		quire_command__diag(rs, NULL, "cancelled");
		goto out;
	}
	/* ABI 2 always gives the prompt as a file; write one for a caller that does not. */
	const char *prompt_file = rq->prompt_path;
	if (!prompt_file) {
		prompt_tmp = quire_command__asprintf("%s/prompt.txt",
						     rq->scratch_dir ? rq->scratch_dir : ".");
		FILE *f = prompt_tmp ? fopen(prompt_tmp, "wb") : NULL;
		if (!f || fwrite(rq->prompt, 1, rq->prompt_len, f) != rq->prompt_len ||
		    fclose(f) != 0) {
			quire_command__diag(rs, NULL, "cannot write the prompt file: %s",
					    errstr(errno, eb, sizeof(eb)));
			goto out;
		}
		prompt_file = prompt_tmp;
	}
	struct vals v = {
		.prompt_file = prompt_file,
		.output = rq->output_path,
		.scratch = rq->scratch_dir ? rq->scratch_dir : "",
		.id = rq->id,
		.ext = rq->output_ext ? rq->output_ext : "",
		.inputs = rq->input_paths,
		.ninputs = rq->ninputs,
	};
	if (!(argv = build_argv(x, &v, rs->diag, sizeof(rs->diag))))
		goto out;
	if (!(envp = build_env(x, &v))) {
		quire_command__diag(rs, NULL, "out of memory");
		goto out;
	}
	in_fd = open(x->stdin_prompt ? prompt_file : "/dev/null", O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		quire_command__diag(rs, NULL, "cannot open %s: %s",
				    x->stdin_prompt ? "the prompt file" : "/dev/null",
				    errstr(errno, eb, sizeof(eb)));
		goto out;
	}
	if (!x->output_file) {
		out_fd = open(rq->output_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out_fd < 0) {
			quire_command__diag(rs, NULL, "cannot write the output: %s",
					    errstr(errno, eb, sizeof(eb)));
			goto out;
		}
	}
	struct quire_command sp = {
		.argv = argv,
		.envp = envp,
		.path = getenv("PATH"),
		.cwd = x->cwd,
		.in = in_fd,
		/* with output_from: file, stdout is chatter for the diagnostics */
		.out = out_fd >= 0 ? out_fd : QUIRE_COMMAND_TO_ERR,
		.err_tail = t,
		.timeout_ms = (long long)x->timeout_s * 1000,
		.cancelled = { rq->cancelled, &x->cancelled },
	};
	enum quire_command_end end = quire_command__run(&sp);
	rc = outcome(x, rq, rs, &sp, end, t);
out:
	if (rc)
		unlink(rq->output_path); /* no partial output survives a failure */
	if (in_fd >= 0)
		close(in_fd);
	if (out_fd >= 0)
		close(out_fd);
	quire_command__strv_free(argv);
	quire_command__strv_free(envp);
	if (prompt_tmp)
		unlink(prompt_tmp);
	free(prompt_tmp);
	free(t);
	return rc;
}

/* Ready when the program can be found (a name on PATH, or a path from the project dir). */
static int exec_check(void *ctx, char *msg, size_t msglen)
{
	const struct exec *x = ctx;
	const char *prog = x->shell ? "/bin/sh" : x->argv[0];
	if (strchr(prog, '{')) {
		snprintf(msg, msglen, "runs '%s' (decided per request)", prog);
		return 0;
	}
	char **c = quire_command__candidates(prog, getenv("PATH"));
	int ok = 0;
	for (size_t k = 0; c && c[k] && !ok; k++) {
		char *full = c[k][0] == '/' ? strdup(c[k])
					    : quire_command__asprintf("%s/%s", x->cwd, c[k]);
		struct stat st;
		ok = full && stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
		free(full);
	}
	quire_command__strv_free(c);
	if (ok)
		snprintf(msg, msglen, "runs '%s'", prog);
	else
		snprintf(msg, msglen, "cannot find '%s'%s", prog,
			 strchr(prog, '/') ? "" : " on PATH");
	return !ok;
}

const struct quire_provider quire_provider_exec = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "exec",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.secret_env = NULL,
	.init = exec_init,
	.produce = exec_produce,
	.cancel = exec_cancel,
	.fini = exec_fini,
	.check = exec_check,
};
