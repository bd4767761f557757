/* The one way providers run local commands (see command.h): posix_spawn, a deadline and cancel
 * flags, process-group kills, the command's pipes read into capped buffers; and the argv and
 * environment plumbing the exec and external providers share. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include "command.h"

enum {
	POLL_MS = 20,	     /* how often cancellation and the deadline are looked at */
	CHUNK = 64 * 1024,   /* one read from the command */
	DRAIN_MAX = 1 << 20, /* read after the exit when the pipe cannot say its size */
	MAX_TIMEOUT_S = 7 * 24 * 3600,
};

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

const char *const quire_command__always_env[] = {
	"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", NULL
};

int quire_command__buf_add(struct quire_command_buf *b, const char *p, size_t n)
{
	if (b->err)
		return b->err;
	if (b->max && n > b->max - b->len)
		return b->err = EFBIG;
	if (n >= b->alloc - b->len) {
		if (n > SIZE_MAX / 4 - b->len)
			return b->err = ENOMEM;
		size_t want = b->len + n + 1, alloc = b->alloc ? b->alloc : 64;
		while (alloc < want)
			alloc *= 2;
		if (b->max && alloc > b->max + 1)
			alloc = b->max + 1; /* a capped buffer never holds more than its cap */
		char *q = realloc(b->p, alloc);
		if (!q)
			return b->err = ENOMEM;
		b->p = q;
		b->alloc = alloc;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int quire_command__buf_puts(struct quire_command_buf *b, const char *s)
{
	return quire_command__buf_add(b, s, strlen(s));
}

char *quire_command__buf_detach(struct quire_command_buf *b)
{
	char *p = b->err ? NULL : b->p ? b->p : strdup("");
	if (b->err)
		free(b->p);
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
	return p;
}

void quire_command__buf_release(struct quire_command_buf *b)
{
	free(b->p);
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void quire_command__strv_push(struct quire_command_strv *a, char *s)
{
	if (!s)
		a->oom = 1;
	if (a->oom) {
		free(s);
		return;
	}
	if (a->n + 2 > a->alloc) {
		size_t alloc = a->alloc ? a->alloc * 2 : 8;
		char **v = realloc(a->v, alloc * sizeof(*v));
		if (!v) {
			a->oom = 1;
			free(s);
			return;
		}
		a->v = v;
		a->alloc = alloc;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void quire_command__strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char *quire_command__asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
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

int quire_command__env_names(char ***names, const struct json_t *env, char *err, size_t errlen)
{
	struct quire_command_strv e = { 0 };
	*names = NULL;
	if (env && !json_is_array(env)) {
		snprintf(err, errlen,
			 "env must be a list of environment variable names to pass through");
		return -1;
	}
	size_t i;
	json_t *el;
	json_array_foreach((json_t *)env, i, el) {
		const char *s = json_string_value(el);
		if (!s || !valid_env_name(s)) {
			if (s && strchr(s, '='))
				snprintf(err, errlen,
					 "env[%zu]: '%s' is not a variable name: env lists names "
					 "passed through from quire's environment, not values",
					 i, s);
			else
				snprintf(err, errlen,
					 "env[%zu] must be an environment variable name (letters, "
					 "digits, '_')",
					 i);
			quire_command__strv_free(e.v);
			return -1;
		}
		quire_command__strv_push(&e, strdup(s));
	}
	if (e.oom || !(*names = e.v ? e.v : calloc(1, sizeof(char *)))) {
		quire_command__strv_free(e.v);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int quire_command__timeout_param(long *seconds, const struct json_t *v, long dflt, char *err,
				 size_t errlen)
{
	*seconds = dflt;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MAX_TIMEOUT_S) {
		snprintf(err, errlen,
			 "timeout_s must be a whole number of seconds from 0 (no limit) to %d",
			 MAX_TIMEOUT_S);
		return -1;
	}
	*seconds = (long)json_integer_value(v);
	return 0;
}

static int env_has(const struct quire_command_strv *e, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], name, n) && e->v[i][n] == '=')
			return 1;
	return 0;
}

static void env_pass(struct quire_command_strv *e, const char *name)
{
	const char *v = getenv(name);
	if (v && !env_has(e, name))
		quire_command__strv_push(e, quire_command__asprintf("%s=%s", name, v));
}

void quire_command__env_allow(struct quire_command_strv *e, const char *const *names)
{
	for (size_t i = 0; quire_command__always_env[i]; i++)
		env_pass(e, quire_command__always_env[i]);
	for (size_t i = 0; names && names[i]; i++)
		env_pass(e, names[i]);
}

char **quire_command__candidates(const char *prog, const char *path)
{
	struct quire_command_strv c = { 0 };
	if (strchr(prog, '/')) {
		quire_command__strv_push(&c, strdup(prog));
		return c.oom ? (quire_command__strv_free(c.v), NULL) : c.v;
	}
	for (const char *d = path ? path : DEFAULT_PATH;;) {
		size_t n = strcspn(d, ":");
		/* resolved in the child's working directory, as a shell would */
		quire_command__strv_push(&c, n ? quire_command__asprintf("%.*s/%s", (int)n, d, prog)
					       : quire_command__asprintf("./%s", prog));
		if (!d[n])
			break;
		d += n + 1;
	}
	return c.oom ? (quire_command__strv_free(c.v), NULL) : c.v;
}

void quire_command__tail_add(struct quire_command_tail *t, const char *p, size_t n)
{
	if (n >= QUIRE_COMMAND_TAIL_MAX) {
		memcpy(t->buf, p + n - QUIRE_COMMAND_TAIL_MAX, QUIRE_COMMAND_TAIL_MAX);
		t->len = QUIRE_COMMAND_TAIL_MAX;
		t->cut = 1;
		return;
	}
	if (t->len + n > QUIRE_COMMAND_TAIL_MAX) {
		size_t drop = t->len + n - QUIRE_COMMAND_TAIL_MAX;
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

/* The diagnostics end up in JSON events and on terminals: hence valid UTF-8 without control
 * characters, and the end of the tail kept since that is where tools say what went wrong. */
void quire_command__diag(struct quire_provider_response *rs, const struct quire_command_tail *t,
			 const char *fmt, ...)
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
	char clean[QUIRE_COMMAND_TAIL_MAX * 3 + 8];
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

const char *quire_command__signame(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{ SIGHUP, "SIGHUP" },	{ SIGINT, "SIGINT" },	{ SIGQUIT, "SIGQUIT" },
		{ SIGILL, "SIGILL" },	{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" },	{ SIGFPE, "SIGFPE" },	{ SIGKILL, "SIGKILL" },
		{ SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
		{ SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" }, { SIGSYS, "SIGSYS" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	return "a signal";
}

/* Starts the command with posix_spawn, a vfork-style clone: fork() from quire's large,
 * multi-threaded process write-protected its whole address space (every page touched
 * afterwards faulted and flushed the TLB of both CPUs), and a forked child of a threaded
 * process may call nothing that takes a lock (setenv, malloc) before it execs. The child gets
 * its own process group, default signal dispositions, an empty signal mask, fds[0..2] as
 * stdin/stdout/stderr and no other descriptor. Returns 0 with *pid, or an errno value (as
 * execvp would report it), with *in_cwd 1 when the working directory is the problem. */
static int start(const struct quire_command *s, const int child[3], char *const *cands, pid_t *pid,
		 int *in_cwd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all; /* all: the signals set back to their defaults */
	int fds[3] = { child[0], child[1], child[2] }, lifted[3] = { -1, -1, -1 }, rc = 0;
	*in_cwd = 0;
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
		for (size_t k = 0; cands[k]; k++) {
			/* Each failed posix_spawn is a whole clone: skip what is plainly not there.
			 */
			char *full = cands[k][0] == '/'
					     ? NULL
					     : quire_command__asprintf("%s/%s", s->cwd, cands[k]);
			int there = access(full ? full : cands[k], F_OK) == 0;
			int why = errno;
			free(full);
			if (!there) {
				if (why == EACCES)
					saved = EACCES; /* as execvp: a directory we may not search
							 */
				rc = ENOENT;
				continue;
			}
			rc = posix_spawn(pid, cands[k], &fa, &at, s->argv, s->envp);
			if (!rc)
				break;
			if (rc != ENOENT && rc != ENOTDIR)
				saved = rc; /* like execvp: a program found but not runnable says
					       why */
			if (rc != ENOENT && rc != ENOTDIR && rc != EACCES)
				break;
		}
		if (rc) {
			rc = saved;
			struct stat st;
			int cwd_err = stat(s->cwd, &st) < 0	 ? errno
				      : !S_ISDIR(st.st_mode)	 ? ENOTDIR
				      : access(s->cwd, X_OK) < 0 ? errno
								 : 0;
			if (cwd_err) {
				rc = cwd_err;
				*in_cwd = 1;
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

/* quire's ends of the command's pipes (-1: closed, or not a pipe), and its ends of them. */
struct io {
	int in, out, err;
	int child[3], child_own[3];
	size_t in_off;	     /* how much of the input is written */
	int sigpipe_pending; /* SIGPIPE was pending before we wrote: not ours to take */
	char *chunk;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_cancelled(const struct quire_command *s)
{
	return (s->cancelled[0] && *s->cancelled[0]) || (s->cancelled[1] && *s->cancelled[1]);
}

/* Signals the command's process group (or the command alone, should it have no group). */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
}

/* A pipe whose read end is *ours (reading) or whose write end is (!reading); the other end
 * goes to the child. Ours is non-blocking: the loop never waits on one stream. */
static int make_pipe(int *ours, int *child, int reading)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	*ours = p[reading ? 0 : 1];
	*child = p[reading ? 1 : 0];
	fcntl(*ours, F_SETFL, O_NONBLOCK);
	return 0;
}

static int make_pipes(const struct quire_command *s, struct io *io)
{
	int rc = make_pipe(&io->err, &io->child[2], 1);
	io->child_own[2] = !rc;
	io->child[0] = s->in;
	io->child[1] = s->out == QUIRE_COMMAND_TO_ERR ? io->child[2] : s->out;
	if (!rc && s->in == QUIRE_COMMAND_PIPE)
		io->child_own[0] = !(rc = make_pipe(&io->in, &io->child[0], 0));
	if (!rc && s->out == QUIRE_COMMAND_PIPE)
		io->child_own[1] = !(rc = make_pipe(&io->out, &io->child[1], 1));
	return rc;
}

/* Writes what stdin takes without blocking; closes it when all is written or the command
 * stopped reading (its exit status says why). */
static void feed(const struct quire_command *s, struct io *io)
{
	while (io->in >= 0 && io->in_off < s->input_len) {
		ssize_t n = write(io->in, s->input + io->in_off, s->input_len - io->in_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == EPIPE && !io->sigpipe_pending) {
			/* The write raised SIGPIPE in this thread, where it is blocked: take it. */
			sigset_t pipe;
			sigemptyset(&pipe);
			sigaddset(&pipe, SIGPIPE);
			struct timespec zero = { 0, 0 };
			sigtimedwait(&pipe, NULL, &zero);
		}
		if (n <= 0)
			break;
		io->in_off += (size_t)n;
	}
	close_fd(&io->in);
}

/* Reads once from *fd (stdout into on_out, stderr into the tail); closes it at EOF or on an
 * error. Returns the bytes read, 0 when there was nothing; *stop is set when on_out asks. */
static size_t read_once(const struct quire_command *s, struct io *io, int *fd, int *stop)
{
	ssize_t n;
	while ((n = read(*fd, io->chunk, CHUNK)) < 0 && errno == EINTR)
		;
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			close_fd(fd);
		return 0;
	}
	if (fd == &io->out)
		*stop = s->on_out && s->on_out(s->ud, io->chunk, (size_t)n);
	else if (s->err_tail)
		quire_command__tail_add(s->err_tail, io->chunk, (size_t)n);
	return (size_t)n;
}

/* Waits up to POLL_MS for the pipes or for the command's exit (pidfd), then moves what is
 * ready. Returns 1 when on_out asks to stop. */
static int pump(const struct quire_command *s, struct io *io, int pidfd)
{
	struct pollfd pf[4];
	int *which[4];
	nfds_t n = 0;
	int *mine[3] = { &io->in, &io->out, &io->err };
	for (int k = 0; k < 3; k++)
		if (*mine[k] >= 0) {
			pf[n] = (struct pollfd){ *mine[k], k ? POLLIN : POLLOUT, 0 };
			which[n++] = mine[k];
		}
	if (pidfd >= 0) {
		pf[n] = (struct pollfd){ pidfd, POLLIN, 0 };
		which[n++] = NULL;
	}
	if (poll(pf, n, POLL_MS) <= 0)
		return 0;
	int stop = 0;
	for (nfds_t k = 0; k < n && !stop; k++) {
		if (!pf[k].revents || !which[k] || *which[k] < 0)
			continue;
		if (which[k] == &io->in)
			feed(s, io);
		else
			read_once(s, io, which[k], &stop);
	}
	return stop;
}

/* After the exit: what the command wrote is all in the pipe by now, at most a pipe's size, so
 * that much is read without waiting; a grandchild holding the pipe gets no more. Returns 1
 * when on_out asks to stop. */
static int drain(const struct quire_command *s, struct io *io, int *fd)
{
	int size = fcntl(*fd, F_GETPIPE_SZ), stop = 0;
	size_t left = size > 0 ? (size_t)size : DRAIN_MAX, n = 1;
	while (*fd >= 0 && left > 0 && n && !stop) {
		n = read_once(s, io, fd, &stop);
		left -= n < left ? n : left;
	}
	close_fd(fd);
	return stop;
}

/* Watches the started command to its end (see quire_command__run). */
static enum quire_command_end watch(struct quire_command *s, struct io *io, pid_t pid, int64_t t0)
{
	enum quire_command_end why = QUIRE_COMMAND_EXITED;
	int64_t term_at = 0;
	int termed = 0, killed = 0, pidfd = -1;
	/* A pidfd wakes the loop the moment the command exits; without one, polling still works. */
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	feed(s, io);
	for (;;) {
		if (pump(s, io, pidfd) && why == QUIRE_COMMAND_EXITED)
			why = QUIRE_COMMAND_STOPPED;
		/* WNOWAIT leaves the exited leader a zombie, so its group id cannot be reused while
		 * the stragglers below are killed. */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		int wr = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if ((wr == 0 && si.si_pid == pid) || (wr < 0 && errno != EINTR))
			break;
		int64_t now = now_ms();
		if (why == QUIRE_COMMAND_EXITED && is_cancelled(s))
			why = QUIRE_COMMAND_CANCELLED;
		else if (why == QUIRE_COMMAND_EXITED && s->timeout_ms && now - t0 >= s->timeout_ms)
			why = QUIRE_COMMAND_TIMED_OUT;
		if (why != QUIRE_COMMAND_EXITED && !termed) {
			close_fd(&io->in); /* what it says from now on is not wanted */
			close_fd(&io->out);
			kill_group(pid, SIGTERM);
			term_at = now;
			termed = 1;
		}
		if (termed && !killed && now - term_at >= QUIRE_COMMAND_GRACE_MS) {
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
	close_fd(&io->in);
	if (io->out >= 0 && drain(s, io, &io->out) && why == QUIRE_COMMAND_EXITED)
		why = QUIRE_COMMAND_STOPPED;
	if (io->err >= 0)
		drain(s, io, &io->err);
	if (why != QUIRE_COMMAND_EXITED)
		return why;
	if (lost) {
		s->error = lost;
		return QUIRE_COMMAND_LOST;
	}
	s->status = status;
	return QUIRE_COMMAND_EXITED;
}

enum quire_command_end quire_command__run(struct quire_command *s)
{
	struct io io = { .in = -1, .out = -1, .err = -1, .child = { -1, -1, -1 } };
	enum quire_command_end end = QUIRE_COMMAND_NOT_STARTED;
	int64_t t0 = now_ms();
	s->status = s->error = s->in_cwd = 0;
	if (is_cancelled(s))
		return QUIRE_COMMAND_CANCELLED;
	/* Writing to a command that stopped reading raises SIGPIPE: blocked in this thread (and
	 * taken when it comes) rather than ignored process-wide, which would leak into every
	 * other command and into quire's caller. */
	sigset_t pipe, old;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	int masked = s->in == QUIRE_COMMAND_PIPE && !pthread_sigmask(SIG_BLOCK, &pipe, &old);
	if (masked) {
		sigset_t pending;
		io.sigpipe_pending = !sigpending(&pending) && sigismember(&pending, SIGPIPE) == 1;
	}
	char **cands = NULL;
	if (!(io.chunk = malloc(CHUNK)) ||
	    !(cands = quire_command__candidates(s->argv[0], s->path))) {
		s->error = ENOMEM;
		goto out;
	}
	if ((s->error = make_pipes(s, &io)))
		goto out;
	pid_t pid;
	s->error = start(s, io.child, cands, &pid, &s->in_cwd);
	/* The command holds its ends now; ours would keep its stdin from ever ending. */
	for (int k = 0; k < 3; k++)
		if (io.child_own[k])
			close_fd(&io.child[k]);
	if (!s->error)
		end = watch(s, &io, pid, t0);
out:
	for (int k = 0; k < 3; k++)
		if (io.child_own[k])
			close_fd(&io.child[k]);
	close_fd(&io.in);
	close_fd(&io.out);
	close_fd(&io.err);
	quire_command__strv_free(cands);
	free(io.chunk);
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return end;
}
