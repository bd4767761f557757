/* Running a local command for the providers that run one (exec, external): posix_spawn with an
 * argv (never a shell string, never fork() from quire's threads), a built environment, a
 * process group of its own, a deadline and cancel flags, its output read into capped buffers. */
#ifndef QUIRE_COMMAND_H
#define QUIRE_COMMAND_H

#include <stddef.h>

struct json_t;
struct quire_provider_response;

/* A growable byte string with an optional cap (curl's dynbuf): p is NUL-terminated once
 * anything was added. A failed add sets err, and later adds do nothing. */
struct quire_command_buf {
	char *p;
	size_t len, alloc;
	size_t max; /* 0: no cap; else the string never holds more than max bytes */
	int err;    /* 0, ENOMEM, or EFBIG: an add would have passed max */
};

/* Appends n bytes. Returns 0, or the errno value it also leaves in b->err. */
int quire_command__buf_add(struct quire_command_buf *b, const char *p, size_t n);
/* Appends a C string; as quire_command__buf_add. */
int quire_command__buf_puts(struct quire_command_buf *b, const char *s);
/* Returns the string, owned by the caller (an empty one when nothing was added), or NULL
 * after a failed add; b is emptied either way (its max kept). */
char *quire_command__buf_detach(struct quire_command_buf *b);
/* Frees the bytes and empties b (its max kept). */
void quire_command__buf_release(struct quire_command_buf *b);

/* A NULL-terminated vector of owned strings (an argv, an environment). */
struct quire_command_strv {
	char **v; /* NULL until the first push */
	size_t n, alloc;
	int oom; /* a push failed: v is incomplete */
};

/* Appends s and takes it; a NULL s (a failed allocation before) sets oom. */
void quire_command__strv_push(struct quire_command_strv *a, char *s);
/* Frees a NULL-terminated vector of strings and the strings; NULL is accepted. */
void quire_command__strv_free(char **v);
/* vasprintf's result, or NULL when out of memory. */
char *quire_command__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The names passed to every command whatever its binding lists: PATH, HOME, LANG, LC_ALL,
 * TMPDIR. NULL-terminated. */
extern const char *const quire_command__always_env[];
/* Reads a binding's `env` parameter (NULL when absent): a list of variable names. Sets *names
 * to a NULL-terminated vector (empty when env is NULL) the caller frees with
 * quire_command__strv_free. Returns 0, or -1 with a message naming env in err. */
int quire_command__env_names(char ***names, const struct json_t *env, char *err, size_t errlen);
/* Reads a binding's `timeout_s` parameter (NULL when absent: dflt) into *seconds, 0 meaning no
 * limit. Returns 0, or -1 with a message naming timeout_s in err. */
int quire_command__timeout_param(long *seconds, const struct json_t *v, long dflt, char *err,
				 size_t errlen);
/* Appends NAME=value from quire's environment for each always-passed name, then each of names
 * (NULL-terminated, may be NULL), when it is set and not yet in e: whatever the caller pushed
 * first wins. */
void quire_command__env_allow(struct quire_command_strv *e, const char *const *names);

/* Where execvp would look for prog: prog itself when it has a '/', else each directory of path
 * in order (an empty entry is "."; NULL: a default PATH). NULL-terminated, owned by the caller;
 * NULL when out of memory. */
char **quire_command__candidates(const char *prog, const char *path);

enum {
	QUIRE_COMMAND_TAIL_MAX = 2048, /* bytes of stderr kept for the diagnostics */
	QUIRE_COMMAND_GRACE_MS = 2000, /* SIGTERM first, SIGKILL this much later */
};

/* The last QUIRE_COMMAND_TAIL_MAX bytes of a stream. */
struct quire_command_tail {
	char buf[QUIRE_COMMAND_TAIL_MAX];
	size_t len;
	int cut; /* earlier bytes were dropped */
};

/* Appends n bytes, dropping the oldest beyond the cap. */
void quire_command__tail_add(struct quire_command_tail *t, const char *p, size_t n);
/* Writes "message" or "message: <tail>" (t may be NULL) into rs->diag, as valid UTF-8 without
 * control characters; when space runs out the end of the tail is kept. */
void quire_command__diag(struct quire_provider_response *rs, const struct quire_command_tail *t,
			 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "SIGKILL" for 9 and so on, or "a signal". */
const char *quire_command__signame(int sig);

enum {
	QUIRE_COMMAND_PIPE = -1,   /* in: a pipe fed from input; out: a pipe read into on_out */
	QUIRE_COMMAND_TO_ERR = -2, /* out: the pipe stderr goes to */
};

/* How a command ended. */
enum quire_command_end {
	QUIRE_COMMAND_EXITED,	   /* it exited or a signal killed it (status) */
	QUIRE_COMMAND_CANCELLED,   /* a cancel flag was set (before the start, or its group was
				      stopped) */
	QUIRE_COMMAND_TIMED_OUT,   /* timeout_ms passed: its group was stopped */
	QUIRE_COMMAND_STOPPED,	   /* on_out asked to stop: its group was stopped */
	QUIRE_COMMAND_NOT_STARTED, /* error holds why; in_cwd is 1 when the directory is at fault */
	QUIRE_COMMAND_LOST,	   /* it was reaped elsewhere: error holds why, status is unknown */
};

/* One command: the caller fills the first part, quire_command__run the results. */
struct quire_command {
	char *const *argv; /* argv[0] is looked up as execvp would, on path */
	char *const *envp; /* the command's whole environment */
	const char *path;  /* the PATH for that lookup (NULL: a default) */
	const char *cwd;   /* its working directory (required); a relative argv[0] starts here */
	int in;		   /* stdin: a descriptor (stays the caller's) or QUIRE_COMMAND_PIPE */
	const char *input; /* with QUIRE_COMMAND_PIPE: written to stdin, which is then closed */
	size_t input_len;
	int out; /* stdout: a descriptor, QUIRE_COMMAND_PIPE or QUIRE_COMMAND_TO_ERR */
	/* With QUIRE_COMMAND_PIPE: called with what the command writes, in order; non-zero stops
	 * the command (QUIRE_COMMAND_STOPPED) and no more calls follow. */
	int (*on_out)(void *ud, const char *p, size_t n);
	void *ud;
	struct quire_command_tail *err_tail; /* stderr is read into it (NULL: discarded) */
	long long timeout_ms;		     /* from the call; 0: no limit */
	const volatile int *cancelled[2];    /* either becoming non-zero stops it; NULL: unused */

	int status; /* QUIRE_COMMAND_EXITED: the wait status */
	int error;  /* QUIRE_COMMAND_NOT_STARTED, QUIRE_COMMAND_LOST: an errno value */
	int in_cwd; /* QUIRE_COMMAND_NOT_STARTED: the working directory could not be used */
};

/* Runs one command to its end. It starts in a process group of its own with default signal
 * dispositions, an empty signal mask and no descriptor of quire's but stdin, stdout and stderr.
 * What it writes is read as it comes; the wait is for the process itself, not for its pipes
 * (a grandchild may hold those open): once it has exited, what it wrote is read without
 * waiting for more. On timeout, cancel or a stop from on_out its group gets SIGTERM, then
 * SIGKILL after QUIRE_COMMAND_GRACE_MS, and stdout is no longer read; whatever is left in its
 * group when it exits is killed. Returns how it ended. Thread-safe; changes no process-wide
 * state (SIGPIPE from writing stdin is blocked and taken in the calling thread only). */
enum quire_command_end quire_command__run(struct quire_command *s);

#endif
