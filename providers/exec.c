/* The exec provider: runs a local program from an argv template (no shell unless the binding
 * asks for one by name), with a timeout, an environment allow-list and the output taken from
 * the program's stdout or from a file it writes. Generated text reaches the program only
 * through files, stdin and environment variables, never through a command line a shell parses. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "quire-provider.h"

enum {
	TAIL_MAX = 2048,      /* bytes of stderr kept for the diagnostics */
	KILL_GRACE_MS = 2000, /* SIGTERM first, SIGKILL this much later */
	POLL_MS = 20,	      /* how often cancellation and the deadline are looked at */
	EXIT_TEMPFAIL = 75,   /* sysexits.h EX_TEMPFAIL: "try again later" */
	DEFAULT_TIMEOUT_S = 600,
};

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Passed to every command whatever the binding lists; everything else is dropped. */
static const char *const always_env[] = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", NULL};

static const char *const known_params[] = {"argv",	"shell", "stdin", "output_from",
					   "timeout_s", "env",	 "cwd",	  NULL};

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

/* A growable string (the provider sees nothing of the core, so it keeps its own). */
struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Returns the string (never NULL unless out of memory) and resets b. */
static char *sb_detach(struct sb *b)
{
	char *p = b->oom ? NULL : b->p ? b->p : strdup("");
	if (b->oom)
		free(b->p);
	memset(b, 0, sizeof(*b));
	return p;
}

/* A NULL-terminated vector of owned strings. */
struct vec {
	char **v;
	size_t n, cap;
	int oom;
};

static void vec_push(struct vec *a, char *s)
{
	if (!s)
		a->oom = 1;
	if (a->oom) {
		free(s);
		return;
	}
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (!v) {
			a->oom = 1;
			free(s);
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The values placeholders stand for in one request. */
struct vals {
	const char *prompt_file, *output, *scratch, *id, *ext;
	const char *const *inputs;
	size_t ninputs;
};

enum ph { PH_PROMPT_FILE, PH_OUTPUT, PH_SCRATCH, PH_ID, PH_INPUT, PH_INPUTS, PH_EXT, PH_N };
static const char *const ph_names[PH_N] = {"prompt_file", "output", "scratch", "id",
					   "input",	  "inputs", "ext"};
#define PH_LIST "{prompt_file}, {output}, {scratch}, {id}, {input:N}, {inputs} or {ext}"

/* Substitutes the placeholders of one argument template into out; with v NULL it only checks
 * the template. `{{` and `}}` stand for literal braces; a `{` that does not start a
 * `{name}` or `{name:N}` is literal too (so `{}` and `{a: .b}` pass through). */
static int subst(const char *t, const char *where, const struct vals *v, struct sb *out, char *err,
		 size_t errlen)
{
	for (const char *p = t; *p;) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			sb_add(out, p, 1);
			p += 2;
			continue;
		}
		if (*p != '{') {
			size_t n = strcspn(p, "{}");
			if (!n)
				n = 1;
			sb_add(out, p, n);
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
			sb_add(out, p, 1); /* not a placeholder: a literal brace */
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
			sb_puts(out, v->prompt_file);
			break;
		case PH_OUTPUT:
			sb_puts(out, v->output);
			break;
		case PH_SCRATCH:
			sb_puts(out, v->scratch);
			break;
		case PH_ID:
			sb_puts(out, v->id);
			break;
		case PH_EXT:
			sb_puts(out, v->ext);
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
			sb_puts(out, v->inputs[k]);
			break;
		}
		default:
			break; /* PH_INPUTS is expanded by the caller */
		}
	}
	return 0;
}

static int valid_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static void exec_fini(void *ctx)
{
	struct exec *x = ctx;
	if (!x)
		return;
	strv_free(x->argv);
	strv_free(x->env);
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
	json_object_foreach((json_t *)pj, key, val)
	{
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
		struct vec a = {0};
		size_t i;
		json_t *el;
		json_array_foreach(argv, i, el)
		{
			char where[32];
			snprintf(where, sizeof(where), "argv[%zu]", i);
			if (!json_is_string(el)) {
				/* YAML reads `2` and `true` as numbers and booleans: say how to
				 * quote */
				snprintf(err, errlen,
					 "%s must be a string (quote numbers and booleans)", where);
				strv_free(a.v);
				return -1;
			}
			struct sb dummy = {0};
			int rc = subst(json_string_value(el), where, NULL, &dummy, err, errlen);
			free(dummy.p);
			if (rc) {
				strv_free(a.v);
				return -1;
			}
			vec_push(&a, strdup(json_string_value(el)));
		}
		if (a.oom) {
			strv_free(a.v);
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
			snprintf(
			    err, errlen,
			    "output_from must be \"stdout\" (the default) or \"file\" (the command "
			    "writes {output})");
			return -1;
		}
		x->output_file = !strcmp(s, "file");
	}
	x->timeout_s = DEFAULT_TIMEOUT_S;
	const json_t *to = json_object_get(pj, "timeout_s");
	if (to) {
		if (!json_is_integer(to) || json_integer_value(to) < 0 ||
		    json_integer_value(to) > 7 * 24 * 3600) {
			snprintf(err, errlen,
				 "timeout_s must be a whole number of seconds from 0 (no limit) to "
				 "604800");
			return -1;
		}
		x->timeout_s = (long)json_integer_value(to);
	}
	const json_t *env = json_object_get(pj, "env");
	struct vec e = {0};
	if (env) {
		if (!json_is_array(env)) {
			snprintf(
			    err, errlen,
			    "env must be a list of environment variable names to pass through");
			return -1;
		}
		size_t i;
		json_t *el;
		json_array_foreach(env, i, el)
		{
			const char *s = json_string_value(el);
			if (!s || !valid_env_name(s)) {
				if (s && strchr(s, '='))
					snprintf(
					    err, errlen,
					    "env[%zu]: '%s' is not a variable name: env lists "
					    "names "
					    "passed through from quire's environment, not values",
					    i, s);
				else
					snprintf(err, errlen,
						 "env[%zu] must be an environment variable name "
						 "(letters, "
						 "digits, '_')",
						 i);
				strv_free(e.v);
				return -1;
			}
			vec_push(&e, strdup(s));
		}
	}
	if (e.oom) {
		strv_free(e.v);
		goto oom;
	}
	if (!(x->env = e.v ? e.v : calloc(1, sizeof(char *))))
		goto oom;

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
	x->cwd =
	    rel && strcmp(rel, ".") ? xasprintf("%s/%s", project_dir, rel) : strdup(project_dir);
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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len); /* the GNU variant: thread-safe, returns the message */
}

static const char *signame(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
	    {SIGHUP, "SIGHUP"},	  {SIGINT, "SIGINT"},	{SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
	    {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
	    {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
	    {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
	    {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	return "a signal";
}

/* The last TAIL_MAX bytes of what the command wrote to stderr. */
struct tail {
	char buf[TAIL_MAX];
	size_t len;
	int cut; /* earlier output was dropped */
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(t->buf, p + n - TAIL_MAX, TAIL_MAX);
		t->len = TAIL_MAX;
		t->cut = 1;
		return;
	}
	if (t->len + n > TAIL_MAX) {
		size_t drop = t->len + n - TAIL_MAX;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
		t->cut = 1;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t k = p[0] < 0x80		   ? 1
		   : (p[0] & 0xe0) == 0xc0 ? 2
		   : (p[0] & 0xf0) == 0xe0 ? 3
		   : (p[0] & 0xf8) == 0xf0 ? 4
					   : 0;
	if (!k || k > n || (k == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (k == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
		return 0;
	if (k == 4 &&
	    ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90) || p[0] > 0xf4))
		return 0;
	return k;
}

/* Writes "msg" or "msg: <stderr tail>" into the diagnostics, as valid UTF-8 without control
 * characters (it ends up in JSON events and on terminals); when space runs out the end of the
 * tail wins, since that is where tools say what went wrong. */
static void diag(struct quire_provider_response *rs, const struct tail *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->diag, sizeof(rs->diag), fmt, ap);
	va_end(ap);
	if (!t || !t->len)
		return;
	const unsigned char *s = (const unsigned char *)t->buf, *end = s + t->len;
	while (s < end && (*s & 0xc0) == 0x80)
		s++; /* the cut may have split a character */
	if (t->cut) {
		const unsigned char *nl = memchr(s, '\n', (size_t)(end - s));
		if (nl && nl + 1 < end && nl - s < 200)
			s = nl + 1; /* start at a whole line */
	}
	while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	while (s < end && (*s == '\n' || *s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	if (s == end)
		return;
	char clean[TAIL_MAX * 3 + 8];
	size_t n = 0;
	if (t->cut)
		n = (size_t)snprintf(clean, sizeof(clean), "...");
	while (s < end) {
		size_t k = utf8_len(s, (size_t)(end - s));
		if (k == 1 && *s < 0x20 && *s != '\n' && *s != '\t') {
			clean[n++] = ' ';
		} else if (k == 1 && *s == 0x7f) {
			clean[n++] = ' ';
		} else if (k) {
			memcpy(clean + n, s, k);
			n += k;
		} else {
			memcpy(clean + n, "\xef\xbf\xbd", 3); /* U+FFFD */
			n += 3;
			k = 1;
		}
		s += k;
	}
	clean[n] = '\0';
	size_t used = strlen(rs->diag);
	if (used + 3 >= sizeof(rs->diag))
		return;
	size_t room = sizeof(rs->diag) - used - 3;
	const char *from = clean;
	if (n > room) {
		from = clean + n - room;
		while ((*(const unsigned char *)from & 0xc0) == 0x80)
			from++;
	}
	size_t len = (size_t)(clean + n - from); /* fits: at most room bytes */
	memcpy(rs->diag + used, ": ", 2);
	memcpy(rs->diag + used + 2, from, len);
	rs->diag[used + 2 + len] = '\0';
}

/* Everything the child needs, prepared before it starts. */
struct spawn {
	char **argv, **envp;
	char **cands; /* where to look for the program, in PATH order */
	const char *cwd;
	int in, out, err; /* the child's stdin, stdout and stderr */
};

/* Starts the command with posix_spawn, a vfork-style clone: fork() from quire's large,
 * multi-threaded process write-protected its whole address space, and every page the scheduler
 * touched afterwards faulted and flushed the TLB of both CPUs. The child gets its own process
 * group, default signal dispositions, an empty signal mask, stdin/stdout/stderr and no other
 * descriptor. Returns 0 with *pid, or an errno value (as execvp would report it), with *stage
 * 1 when the working directory is the problem. */
static int spawn(const struct spawn *s, pid_t *pid, int *stage)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all; /* all: the signals set back to their defaults */
	int fds[3] = {s->in, s->out, s->err}, lifted[3] = {-1, -1, -1}, rc = 0;
	*stage = 0;
	/* A descriptor below 3 could be clobbered by the dup2 of another: lift those first. */
	for (int k = 0; k < 3; k++)
		if (fds[k] < 3) {
			if ((lifted[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 3)) < 0) {
				rc = errno;
				goto lift;
			}
			fds[k] = lifted[k];
		}
	sigemptyset(&none);
	/* Every signal back to its default: one ignored by quire or its caller (SIG_IGN survives
	 * exec) must not stay ignored in the command. */
	sigfillset(&all);
	if ((rc = posix_spawn_file_actions_init(&fa)))
		goto lift;
	if ((rc = posix_spawnattr_init(&at))) {
		posix_spawn_file_actions_destroy(&fa);
		goto lift;
	}
	for (int k = 0; k < 3 && !rc; k++)
		rc = posix_spawn_file_actions_adddup2(&fa, fds[k], k);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!rc)
		rc = posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
	if (!rc)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						       POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (!rc) {
		int saved = ENOENT;
		for (size_t k = 0; s->cands[k]; k++) {
			/* Each failed posix_spawn is a whole clone: skip what is plainly not there. */
			char *full = s->cands[k][0] == '/' ? NULL
							   : xasprintf("%s/%s", s->cwd, s->cands[k]);
			int there = access(full ? full : s->cands[k], F_OK) == 0;
			int why = errno;
			free(full);
			if (!there) {
				if (why == EACCES)
					saved = EACCES; /* as execvp: a directory we may not search */
				rc = ENOENT;
				continue;
			}
			rc = posix_spawn(pid, s->cands[k], &fa, &at, s->argv, s->envp);
			if (!rc)
				break;
			if (rc != ENOENT && rc != ENOTDIR)
				saved = rc; /* like execvp: a program found but not runnable says why */
			if (rc != ENOENT && rc != ENOTDIR && rc != EACCES)
				break;
		}
		if (rc) {
			rc = saved;
			struct stat st;
			int cwd_err = stat(s->cwd, &st) < 0	  ? errno
				      : !S_ISDIR(st.st_mode)	  ? ENOTDIR
				      : access(s->cwd, X_OK) < 0 ? errno
								  : 0;
			if (cwd_err) {
				rc = cwd_err;
				*stage = 1;
			}
		}
	}
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
lift:
	for (int k = 0; k < 3; k++)
		if (lifted[k] >= 0)
			close(lifted[k]);
	return rc;
}

/* Paths to try for the program, as execvp would: the name itself when it has a '/', else
 * each PATH directory (resolved in the child's working directory, as a shell would). */
static char **candidates(const char *prog, const char *path)
{
	struct vec c = {0};
	if (strchr(prog, '/')) {
		vec_push(&c, strdup(prog));
		return c.oom ? (strv_free(c.v), NULL) : c.v;
	}
	for (const char *d = path;;) {
		size_t n = strcspn(d, ":");
		vec_push(&c, n ? xasprintf("%.*s/%s", (int)n, d, prog) : xasprintf("./%s", prog));
		if (!d[n])
			break;
		d += n + 1;
	}
	return c.oom ? (strv_free(c.v), NULL) : c.v;
}

static int env_has(struct vec *e, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, n) && e->v[i][n] == '=')
			return 1;
	return 0;
}

static void env_pass(struct vec *e, const char *name)
{
	const char *v = getenv(name);
	if (v && !env_has(e, name))
		vec_push(e, xasprintf("%s=%s", name, v));
}

/* The command's environment: QUIRE_* describing the request, the always-passed variables and
 * the binding's allow-list, nothing else. */
static char **build_env(const struct exec *x, const struct vals *v)
{
	struct vec e = {0};
	struct sb inputs = {0};
	for (size_t i = 0; i < v->ninputs; i++) {
		if (i)
			sb_add(&inputs, "\n", 1);
		sb_puts(&inputs, v->inputs[i]);
	}
	char *in = sb_detach(&inputs);
	/* The list also goes to a file: one environment string may not exceed 128 KiB on Linux,
	 * so a large collector gets only QUIRE_INPUTS_FILE. */
	if (v->scratch && *v->scratch) {
		char *list = xasprintf("%s/inputs.txt", v->scratch);
		FILE *f = list ? fopen(list, "w") : NULL;
		if (f) {
			if (in && *in)
				fprintf(f, "%s\n", in);
			if (fclose(f) == 0)
				vec_push(&e, xasprintf("QUIRE_INPUTS_FILE=%s", list));
		}
		free(list);
	}
	if (in && strlen(in) > 65536) {
		free(in);
		in = NULL;
	}
	vec_push(&e, xasprintf("QUIRE_PROMPT_FILE=%s", v->prompt_file));
	vec_push(&e, xasprintf("QUIRE_OUTPUT=%s", v->output));
	vec_push(&e, xasprintf("QUIRE_SCRATCH=%s", v->scratch));
	vec_push(&e, xasprintf("QUIRE_ID=%s", v->id));
	vec_push(&e, xasprintf("QUIRE_EXT=%s", v->ext));
	if (in)
		vec_push(&e, xasprintf("QUIRE_INPUTS=%s", in));
	free(in);
	for (int i = 0; always_env[i]; i++)
		env_pass(&e, always_env[i]);
	for (size_t i = 0; x->env[i]; i++)
		env_pass(&e, x->env[i]);
	if (e.oom) {
		strv_free(e.v);
		return NULL;
	}
	return e.v;
}

/* Expands the argv templates (or wraps the shell script) for one request. */
static char **build_argv(const struct exec *x, const struct vals *v, char *err, size_t errlen)
{
	struct vec a = {0};
	if (x->shell) {
		/* The script is the binding's text, never a template; input paths arrive as "$@".
		 */
		vec_push(&a, strdup("/bin/sh"));
		vec_push(&a, strdup("-c"));
		vec_push(&a, strdup(x->shell));
		vec_push(&a, strdup("quire-exec"));
		for (size_t i = 0; i < v->ninputs; i++)
			vec_push(&a, strdup(v->inputs[i]));
	} else {
		for (size_t i = 0; x->argv[i]; i++) {
			if (!strcmp(x->argv[i], "{inputs}")) {
				for (size_t k = 0; k < v->ninputs; k++)
					vec_push(&a, strdup(v->inputs[k]));
				continue;
			}
			char where[32];
			snprintf(where, sizeof(where), "argv[%zu]", i);
			struct sb b = {0};
			if (subst(x->argv[i], where, v, &b, err, errlen)) {
				free(b.p);
				strv_free(a.v);
				return NULL;
			}
			vec_push(&a, sb_detach(&b));
		}
	}
	if (a.oom) {
		snprintf(err, errlen, "out of memory");
		strv_free(a.v);
		return NULL;
	}
	return a.v;
}

static int is_cancelled(const struct exec *x, const struct quire_provider_request *rq)
{
	return x->cancelled || (rq->cancelled && *rq->cancelled);
}

/* Signals the command's process group (or the command alone, should it have no group). */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void read_some(int *fd, struct tail *t)
{
	char chunk[4096];
	ssize_t n = read(*fd, chunk, sizeof(chunk));
	if (n > 0)
		tail_add(t, chunk, (size_t)n);
	else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		close_fd(fd);
}

static int exec_produce(void *ctx, const struct quire_provider_request *rq,
			struct quire_provider_response *rs)
{
	struct exec *x = ctx;
	struct tail *t = calloc(1, sizeof(*t));
	char **argv = NULL, **envp = NULL, **cands = NULL, *prompt_tmp = NULL;
	struct spawn sp = {.in = -1, .out = -1, .err = -1};
	int errp[2] = {-1, -1}, out_fd = -1, rc = -1;
	char eb[128];
	if (!t) {
		diag(rs, NULL, "out of memory");
		return -1;
	}
	if (is_cancelled(x, rq)) {
		diag(rs, NULL, "cancelled");
		goto out;
	}
	/* ABI 2 always gives the prompt as a file; write one for a caller that does not. */
	const char *prompt_file = rq->prompt_path;
	if (!prompt_file) {
		prompt_tmp = xasprintf("%s/prompt.txt", rq->scratch_dir ? rq->scratch_dir : ".");
		FILE *f = prompt_tmp ? fopen(prompt_tmp, "wb") : NULL;
		if (!f || fwrite(rq->prompt, 1, rq->prompt_len, f) != rq->prompt_len ||
		    fclose(f) != 0) {
			diag(rs, NULL, "cannot write the prompt file: %s",
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
	const char *path = getenv("PATH");
	if (!(envp = build_env(x, &v)) ||
	    !(cands = candidates(argv[0], path ? path : DEFAULT_PATH))) {
		diag(rs, NULL, "out of memory");
		goto out;
	}
	const char *prog = x->shell ? "/bin/sh" : argv[0];

	sp.in = open(x->stdin_prompt ? prompt_file : "/dev/null", O_RDONLY | O_CLOEXEC);
	if (sp.in < 0) {
		diag(rs, NULL, "cannot open %s: %s",
		     x->stdin_prompt ? "the prompt file" : "/dev/null",
		     errstr(errno, eb, sizeof(eb)));
		goto out;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		rs->transient = 1;
		diag(rs, NULL, "cannot start '%s': %s", prog, errstr(errno, eb, sizeof(eb)));
		goto out;
	}
	if (!x->output_file) {
		out_fd = open(rq->output_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out_fd < 0) {
			diag(rs, NULL, "cannot write the output: %s",
			     errstr(errno, eb, sizeof(eb)));
			goto out;
		}
	}
	sp.argv = argv;
	sp.envp = envp;
	sp.cands = cands;
	sp.cwd = x->cwd;
	sp.out = out_fd >= 0 ? out_fd : errp[1]; /* with output_from: file, stdout is chatter */
	sp.err = errp[1];

	pid_t pid;
	int stage;
	int serr = spawn(&sp, &pid, &stage);
	close_fd(&errp[1]);
	close_fd(&out_fd);
	close_fd(&sp.in);
	if (serr) {
		const char *msg = errstr(serr, eb, sizeof(eb));
		if (stage == 1)
			diag(rs, NULL, "cannot run '%s' in '%s': %s", prog, x->cwd, msg);
		else if (serr == EAGAIN || serr == ENOMEM || serr == EMFILE || serr == ENFILE) {
			rs->transient = 1;
			diag(rs, NULL, "cannot start '%s': %s", prog, msg);
		} else
			diag(rs, NULL, "cannot run '%s': %s", prog, msg);
		goto out;
	}

	int64_t start = now_ms(), term_at = 0;
	int why = 0, killed = 0; /* why: 1 cancelled, 2 timed out */
	/* A pidfd wakes the loop the moment the command exits; without one, polling still works. */
	int pidfd = -1;
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		struct pollfd pf[2];
		nfds_t npf = 0;
		if (errp[0] >= 0)
			pf[npf++] = (struct pollfd){errp[0], POLLIN, 0};
		if (pidfd >= 0)
			pf[npf++] = (struct pollfd){pidfd, POLLIN, 0};
		if (poll(pf, npf, POLL_MS) > 0 && errp[0] >= 0 && pf[0].revents)
			read_some(&errp[0], t);
		/* WNOWAIT leaves the exited leader a zombie, so its group id cannot be reused while
		 * the stragglers below are killed. */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		int wr = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if ((wr == 0 && si.si_pid == pid) || (wr < 0 && errno != EINTR))
			break;
		int64_t now = now_ms();
		if (!why && is_cancelled(x, rq))
			why = 1;
		else if (!why && x->timeout_s && now - start >= (int64_t)x->timeout_s * 1000)
			why = 2;
		if (why && !term_at) {
			kill_group(pid, SIGTERM);
			term_at = now;
		}
		if (why && !killed && now - term_at >= KILL_GRACE_MS) {
			kill_group(pid, SIGKILL);
			killed = 1;
		}
	}
	close_fd(&pidfd);
	/* Whatever the command left running in its group goes with it. */
	kill(-pid, SIGKILL);
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	int lost = w != pid ? errno : 0; /* someone else reaped it: its status is unknown */
	if (errp[0] >= 0) {
		fcntl(errp[0], F_SETFL, O_NONBLOCK);
		while (errp[0] >= 0)
			read_some(&errp[0], t);
	}

	if (why == 1) {
		diag(rs, NULL, "cancelled");
		goto out;
	}
	if (why == 2) {
		rs->transient = 1;
		diag(rs, t, "timed out after %ld s", x->timeout_s);
		goto out;
	}
	if (lost) {
		diag(rs, t, "lost track of '%s': %s", prog, errstr(lost, eb, sizeof(eb)));
		goto out;
	}
	if (WIFSIGNALED(status)) {
		diag(rs, t, "'%s' was killed by signal %d (%s)", prog, WTERMSIG(status),
		     signame(WTERMSIG(status)));
		goto out;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (code == EXIT_TEMPFAIL) {
		rs->transient = 1;
		diag(rs, t, "exit status %d (temporary failure)", code);
		goto out;
	}
	if (code != 0) {
		diag(rs, t, "exit status %d", code);
		goto out;
	}
	struct stat st;
	if (x->output_file && (stat(rq->output_path, &st) < 0 || !S_ISREG(st.st_mode))) {
		diag(rs, t, "'%s' exited 0 but wrote no file at {output}", prog);
		goto out;
	}
	json_t *meta = json_pack("{s:i,s:s}", "exit_status", code, "command", prog);
	char *ms = meta ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (ms && strlen(ms) < sizeof(rs->meta))
		memcpy(rs->meta, ms, strlen(ms) + 1);
	free(ms);
	json_decref(meta);
	rc = 0;
out:
	if (rc)
		unlink(rq->output_path); /* no partial output survives a failure */
	close_fd(&sp.in);
	close_fd(&out_fd);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	strv_free(argv);
	strv_free(envp);
	strv_free(cands);
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
	const char *path = getenv("PATH");
	char **c = candidates(prog, path ? path : DEFAULT_PATH);
	int ok = 0;
	for (size_t k = 0; c && c[k] && !ok; k++) {
		char *full = c[k][0] == '/' ? strdup(c[k]) : xasprintf("%s/%s", x->cwd, c[k]);
		struct stat st;
		ok = full && stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
		free(full);
	}
	strv_free(c);
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
