/* Unit tests for the providers' command helper (providers/command.h): buffers and their caps,
 * the environment allow-list, and running commands: output, stdin, deadlines, cancel, stop,
 * process groups, grandchildren holding the pipes, start failures. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <jansson.h>

#include "command.h"
#include "quire-provider.h"

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The process is gone, or a zombie waiting for whoever inherited it to reap it. */
static int dead(pid_t pid)
{
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = '\0';
	const char *paren = strrchr(st, ')');
	return !paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X';
}

/* A SIGKILL takes effect when its target next runs: give it up to 2 s. */
static int gone(pid_t pid)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < 200 && !dead(pid); i++)
		nanosleep(&ts, NULL);
	return dead(pid);
}

/* on_out: collects stdout; stops once ud's cap is passed when it has one. */
struct collect {
	struct quire_command_buf out;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ud, const char *p, size_t n)
{
	struct collect *c = ud;
	quire_command__buf_add(&c->out, p, n);
	return c->stop_after && c->out.len > c->stop_after;
}

/* Runs argv with stdout collected; a plain environment. */
static enum quire_command_end run(char *const *argv, struct collect *c,
				  struct quire_command_tail *t, long long timeout_ms,
				  struct quire_command *cmd)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
	memset(cmd, 0, sizeof(*cmd));
	cmd->argv = argv;
	cmd->envp = envp;
	cmd->cwd = "/";
	cmd->in = QUIRE_COMMAND_PIPE;
	cmd->out = QUIRE_COMMAND_PIPE;
	cmd->on_out = collect;
	cmd->ud = c;
	cmd->err_tail = t;
	cmd->timeout_ms = timeout_ms;
	return quire_command__run(cmd);
}

static void test_buf_cap(void **state)
{
	(void)state;
	struct quire_command_buf b = { .max = 8 };
	assert_int_equal(quire_command__buf_add(&b, "abcd", 4), 0);
	assert_int_equal(quire_command__buf_add(&b, "efgh", 4), 0);
	assert_string_equal(b.p, "abcdefgh");
	assert_true(b.alloc <= 9); /* never more than the cap and its NUL */
	assert_int_equal(quire_command__buf_add(&b, "i", 1), EFBIG);
	assert_int_equal(b.len, 8);
	assert_int_equal(quire_command__buf_add(&b, "", 0), EFBIG); /* sticky */
	assert_null(quire_command__buf_detach(&b));
	assert_int_equal(b.max, 8);
	char *s = quire_command__buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(quire_command__buf_puts(&b, "12345678"), 0);
	quire_command__buf_release(&b);
	assert_null(b.p);
}

static void test_env_names(void **state)
{
	(void)state;
	char err[256], **names = NULL;
	json_t *ok = json_pack("[s,s]", "A_1", "b");
	assert_int_equal(quire_command__env_names(&names, ok, err, sizeof(err)), 0);
	assert_string_equal(names[0], "A_1");
	assert_null(names[2]);
	quire_command__strv_free(names);
	assert_int_equal(quire_command__env_names(&names, NULL, err, sizeof(err)), 0);
	assert_null(names[0]);
	quire_command__strv_free(names);
	json_t *value = json_pack("[s,s]", "A", "B=1");
	assert_int_equal(quire_command__env_names(&names, value, err, sizeof(err)), -1);
	assert_string_equal(err, "env[1]: 'B=1' is not a variable name: env lists names passed "
				 "through from quire's environment, not values");
	json_t *str = json_string("A");
	assert_int_equal(quire_command__env_names(&names, str, err, sizeof(err)), -1);
	assert_string_equal(err,
			    "env must be a list of environment variable names to pass through");
	json_decref(ok);
	json_decref(value);
	json_decref(str);
	long s;
	json_t *neg = json_integer(-1);
	assert_int_equal(quire_command__timeout_param(&s, NULL, 600, err, sizeof(err)), 0);
	assert_int_equal(s, 600);
	assert_int_equal(quire_command__timeout_param(&s, neg, 600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "timeout_s must be a whole number of seconds from 0"));
	json_decref(neg);
}

static void test_env_allow(void **state)
{
	(void)state;
	setenv("QUIRE_UNIT_LISTED", "yes", 1);
	setenv("QUIRE_UNIT_OTHER", "no", 1);
	setenv("HOME", "/home/unit", 1);
	struct quire_command_strv e = { 0 };
	quire_command__strv_push(&e, strdup("HOME=/mine"));
	const char *const names[] = { "QUIRE_UNIT_LISTED", "QUIRE_UNIT_UNSET", NULL };
	unsetenv("QUIRE_UNIT_UNSET");
	quire_command__env_allow(&e, names);
	assert_false(e.oom);
	int path = 0, listed = 0;
	for (size_t i = 0; i < e.n; i++) {
		path |= !strncmp(e.v[i], "PATH=", 5);
		listed |= !strcmp(e.v[i], "QUIRE_UNIT_LISTED=yes");
		assert_null(strstr(e.v[i], "QUIRE_UNIT_OTHER"));
		assert_null(strstr(e.v[i], "QUIRE_UNIT_UNSET"));
		if (!strncmp(e.v[i], "HOME=", 5))
			assert_string_equal(e.v[i], "HOME=/mine"); /* what the caller pushed wins */
	}
	assert_true(path && listed);
	quire_command__strv_free(e.v);
}

static void test_run_output_status_stderr(void **state)
{
	(void)state;
	char *argv[] = { "sh", "-c", "cat; echo out; echo err >&2; exit 3", NULL };
	struct collect c = { { 0 }, 0 };
	struct quire_command_tail t = { 0 };
	struct quire_command cmd;
	/* More than a pipe holds, so input and output must flow together. */
	size_t n = 1 << 20;
	char *in = malloc(n);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	memset(&cmd, 0, sizeof(cmd));
	char *const envp[] = { NULL };
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.cwd = "/";
	cmd.in = QUIRE_COMMAND_PIPE;
	cmd.input = in;
	cmd.input_len = n;
	cmd.out = QUIRE_COMMAND_PIPE;
	cmd.on_out = collect;
	cmd.ud = &c;
	cmd.err_tail = &t;
	assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_EXITED);
	assert_true(WIFEXITED(cmd.status));
	assert_int_equal(WEXITSTATUS(cmd.status), 3);
	assert_int_equal(c.out.len, n + 4);
	assert_memory_equal(c.out.p, in, n);
	assert_string_equal(c.out.p + n, "out\n");
	assert_int_equal(t.len, 4);
	assert_memory_equal(t.buf, "err\n", 4);
	free(in);
	quire_command__buf_release(&c.out);
}

static void test_run_stdin_not_read(void **state)
{
	(void)state;
	/* A command that never reads its input: the write fails with EPIPE, not a SIGPIPE that
	 * kills the test, and no SIGPIPE stays pending or blocked afterwards. */
	char *argv[] = { "true", NULL };
	struct collect c = { { 0 }, 0 };
	struct quire_command cmd;
	size_t n = 4 << 20;
	char *in = calloc(1, n);
	char *const envp[] = { NULL };
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.path = "/usr/bin:/bin";
	cmd.cwd = "/";
	cmd.in = QUIRE_COMMAND_PIPE;
	cmd.input = in;
	cmd.input_len = n;
	cmd.out = QUIRE_COMMAND_PIPE;
	cmd.on_out = collect;
	cmd.ud = &c;
	assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_EXITED);
	assert_int_equal(cmd.status, 0);
	sigset_t pending, mask;
	sigpending(&pending);
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	assert_false(sigismember(&pending, SIGPIPE));
	assert_false(sigismember(&mask, SIGPIPE));
	free(in);
	quire_command__buf_release(&c.out);
}

static void test_run_timeout_kills_group(void **state)
{
	(void)state;
	/* SIGTERM is ignored by the command and its child: SIGKILL after the grace period. */
	char *argv[] = { "sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait", NULL };
	struct collect c = { { 0 }, 0 };
	struct quire_command_tail t = { 0 };
	struct quire_command cmd;
	long long t0 = ms_now();
	assert_int_equal(run(argv, &c, &t, 300, &cmd), QUIRE_COMMAND_TIMED_OUT);
	long long took = ms_now() - t0;
	if (took < 300 + QUIRE_COMMAND_GRACE_MS - 100 || took > 300 + QUIRE_COMMAND_GRACE_MS + 3000)
		fail_msg("took %lld ms", took);
	assert_non_null(c.out.p);
	pid_t child = (pid_t)atoi(c.out.p);
	assert_true(child > 0);
	assert_true(gone(child)); /* the sleep in its group went with it */
	quire_command__buf_release(&c.out);
}

static void *cancel_soon(void *flag)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	*(volatile int *)flag = 1;
	return NULL;
}

static void test_run_cancel(void **state)
{
	(void)state;
	char *argv[] = { "sleep", "30", NULL };
	static char *const envp[] = { NULL };
	volatile int flag = 0;
	struct quire_command cmd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.cwd = "/";
	cmd.in = QUIRE_COMMAND_PIPE;
	cmd.out = QUIRE_COMMAND_PIPE;
	cmd.cancelled[1] = &flag;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, cancel_soon, (void *)&flag), 0);
	long long t0 = ms_now();
	assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_CANCELLED);
	pthread_join(th, NULL);
	assert_true(ms_now() - t0 < 2000); /* sleep dies of SIGTERM: no grace needed */
	assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_CANCELLED); /* not even started */
}

static void test_run_stop_from_on_out(void **state)
{
	(void)state;
	char *argv[] = { "yes", NULL };
	struct collect c = { { 0 }, 1 << 20 };
	struct quire_command cmd;
	long long t0 = ms_now();
	assert_int_equal(run(argv, &c, NULL, 0, &cmd), QUIRE_COMMAND_STOPPED);
	assert_true(ms_now() - t0 < 5000);
	assert_true(c.out.len > 1 << 20);
	quire_command__buf_release(&c.out);
}

static void test_run_grandchild_holds_stdout(void **state)
{
	(void)state;
	/* It answers and exits; a sleeper that left its group keeps stdout and stderr open. The
	 * run ends with the command, with everything it wrote. */
	char *argv[] = { "sh", "-c", "setsid sleep 30 & echo $!; echo answered", NULL };
	struct collect c = { { 0 }, 0 };
	struct quire_command cmd;
	long long t0 = ms_now();
	assert_int_equal(run(argv, &c, NULL, 20000, &cmd), QUIRE_COMMAND_EXITED);
	assert_true(ms_now() - t0 < 5000);
	assert_int_equal(cmd.status, 0);
	assert_non_null(c.out.p);
	pid_t sleeper = (pid_t)atoi(c.out.p);
	assert_non_null(strstr(c.out.p, "\nanswered\n"));
	assert_true(sleeper > 0);
	assert_int_equal(kill(sleeper, SIGKILL), 0); /* out of the group: still there */
	quire_command__buf_release(&c.out);
}

static void test_run_default_signals(void **state)
{
	(void)state;
	/* What the caller ignores and blocks is not passed on. */
	char *argv[] = { "sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL };
	struct collect c = { { 0 }, 0 };
	struct quire_command cmd;
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGHUP, &ignore, &old);
	sigset_t usr, oldmask;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr, &oldmask);
	assert_int_equal(run(argv, &c, NULL, 0, &cmd), QUIRE_COMMAND_EXITED);
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGHUP, &old, NULL);
	unsigned long long blk = 0, ign = 0;
	assert_int_equal(sscanf(c.out.p, "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign), 2);
	assert_int_equal(blk, 0);
	/* glibc's posix_spawn leaves its two internal signals (32, 33) ignored; a child's libc
	 * sets them up again. The standard ones must be back to their defaults. */
	assert_int_equal(ign & 0x7fffffffULL, 0);
	quire_command__buf_release(&c.out);
}

static void test_run_not_started(void **state)
{
	(void)state;
	char *missing[] = { "/nonexistent/quire-unit-prog", NULL };
	struct quire_command cmd;
	assert_int_equal(run(missing, NULL, NULL, 0, &cmd), QUIRE_COMMAND_NOT_STARTED);
	assert_int_equal(cmd.error, ENOENT);
	assert_int_equal(cmd.in_cwd, 0);
	char *sh[] = { "sh", "-c", "true", NULL };
	static char *const envp[] = { NULL };
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = sh;
	cmd.envp = envp;
	cmd.cwd = "/nonexistent-quire-unit-dir";
	cmd.in = QUIRE_COMMAND_PIPE;
	cmd.out = QUIRE_COMMAND_TO_ERR;
	const char *preload = getenv("LD_PRELOAD");
	if (preload && strstr(preload, "vgpreload")) {
		/* valgrind runs posix_spawn's vfork-style clone as a fork, so the child's failed
		 * chdir comes back as exit status 127 instead of an error */
		assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_EXITED);
		return;
	}
	assert_int_equal(quire_command__run(&cmd), QUIRE_COMMAND_NOT_STARTED);
	assert_int_equal(cmd.error, ENOENT);
	assert_int_equal(cmd.in_cwd, 1);
}

static void test_diag_tail(void **state)
{
	(void)state;
	struct quire_provider_response rs;
	struct quire_command_tail t = { 0 };
	memset(&rs, 0, sizeof(rs));
	quire_command__tail_add(&t, "line\x01 \xff end\n", 12);
	quire_command__diag(&rs, &t, "exit status %d", 2);
	assert_string_equal(rs.diag, "exit status 2: line  \xef\xbf\xbd end");
	assert_string_equal(quire_command__signame(SIGKILL), "SIGKILL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_env_allow),
		cmocka_unit_test(test_run_output_status_stderr),
		cmocka_unit_test(test_run_stdin_not_read),
		cmocka_unit_test(test_run_timeout_kills_group),
		cmocka_unit_test(test_run_cancel),
		cmocka_unit_test(test_run_stop_from_on_out),
		cmocka_unit_test(test_run_grandchild_holds_stdout),
		cmocka_unit_test(test_run_default_signals),
		cmocka_unit_test(test_run_not_started),
		cmocka_unit_test(test_diag_tail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
