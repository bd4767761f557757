/* Writer lock with holder identification: a second writer fails at once and says who holds it,
 * or, with QUIRE_WAIT (--wait), waits for it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "quire/error.h"
#include "quire/fs.h"
#include "lock.h"
#include "util.h"

struct quire_lock {
	int fd;
};

static const volatile sig_atomic_t *watch;

void quire__lock_watch(const volatile sig_atomic_t *flag)
{
	watch = flag;
}

/* How long to wait for a held lock (QUIRE_WAIT, set by --wait): 0 none, -1 without limit.
 * 0 on success, or QUIRE_EINVALID for a value that is not a number of seconds. */
static int wait_limit(long long *ms)
{
	const char *w = getenv("QUIRE_WAIT");
	*ms = 0;
	if (!w || !*w)
		return 0;
	if (!strcmp(w, "forever")) {
		*ms = -1;
		return 0;
	}
	char *end;
	errno = 0;
	double s = strtod(w, &end);
	if (end == w || *end || errno || !(s >= 0) || s > 31536000)
		return quire_error_set(QUIRE_EINVALID,
				       "QUIRE_WAIT='%s' is not a number of seconds (0 to 31536000, "
				       "or 'forever')",
				       w);
	*ms = (long long)(s * 1000);
	return 0;
}

/* The holder's description from the lock file's first line. */
static void read_holder(int fd, char *holder, size_t cap)
{
	ssize_t n = pread(fd, holder, cap - 1, 0);
	holder[n > 0 ? n : 0] = '\0';
	char *nl = strchr(holder, '\n');
	if (nl)
		*nl = '\0';
}

/* Takes the lock on fd, waiting up to QUIRE_WAIT for its holder to finish: 0, 1 when it
 * stays held, or a QUIRE_E* code. The first wait is said on stderr, once, with the holder. */
static int take(int fd, const char *qdir, long long *waited_ms)
{
	long long limit;
	int err = wait_limit(&limit);
	*waited_ms = 0;
	if (err)
		return err;
	for (long long step = 10;; step = step < 200 ? step * 2 : 200) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return quire_error_set(QUIRE_EIO, "cannot lock %s/lock: %s", qdir,
					       strerror(errno));
		if (limit >= 0 && *waited_ms >= limit)
			return 1;
		if (watch && *watch)
			return quire_error_set(QUIRE_EINTR,
					       "interrupted while waiting for the writer lock");
		if (!*waited_ms) {
			char holder[256];
			read_holder(fd, holder, sizeof(holder));
			fprintf(stderr, "quire: waiting for the writer lock (%s)\n",
				holder[0] ? holder : "holder unknown");
		}
		if (limit >= 0 && step > limit - *waited_ms)
			step = limit - *waited_ms > 0 ? limit - *waited_ms : 1;
		struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		*waited_ms += step;
	}
}

int quire_lock_acquire(struct quire_lock **out, const char *qdir, const char *what)
{
	*out = NULL;
	int err = quire_fs_mkdirs(qdir, 0755);
	if (err)
		return err;
	char *path = quire__xasprintf("%s/lock", qdir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = quire_error_set(QUIRE_EIO, "cannot open lock '%s': %s", path,
				      strerror(errno));
		free(path);
		return err;
	}
	free(path);
	long long waited;
	if ((err = take(fd, qdir, &waited)) < 0) {
		close(fd);
		return err;
	}
	if (err == 1) {
		char holder[256];
		read_holder(fd, holder, sizeof(holder));
		close(fd);
		/* The description names the last quire that took the lock; if that one is gone,
		 * something else holds it (a program it started that kept the descriptor, or
		 * another tool), and naming the dead pid would send the user looking for nothing.
		 */
		long pid = 0;
		if (sscanf(holder, "pid %ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) < 0 &&
		    errno == ESRCH)
			return quire_error_set(
				QUIRE_ELOCKED,
				"another process holds this project's lock (%s/lock); the "
				"last quire that took it (%s) has exited, so it is a "
				"program that one started or another tool: 'fuser -v "
				"%s/lock' names it",
				qdir, holder, qdir);
		if (waited)
			return quire_error_set(QUIRE_ELOCKED,
					       "another quire is still writing this project after "
					       "%.1f s (%s)",
					       (double)waited / 1000,
					       holder[0] ? holder : "holder unknown");
		return quire_error_set(QUIRE_ELOCKED,
				       "another quire is writing this project (%s); wait for it to "
				       "finish, or add --wait",
				       holder[0] ? holder : "holder unknown");
	}
	char info[256], ts[40];
	quire__format_time(quire__now_ns(), ts, sizeof(ts));
	int len =
		snprintf(info, sizeof(info), "pid %ld, '%s', since %s\n", (long)getpid(), what, ts);
	if (ftruncate(fd, 0) == 0 && pwrite(fd, info, (size_t)len, 0) < 0) {
		/* The holder description is informative only; the flock is what excludes. */
	}
	struct quire_lock *l = quire__xcalloc(1, sizeof(*l));
	l->fd = fd;
	*out = l;
	return 0;
}

void quire_lock_release(struct quire_lock *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}
