/* Writer lock with holder identification: a second writer fails at once and says who holds it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "quire/error.h"
#include "quire/fs.h"
#include "lock.h"
#include "util.h"

struct quire_lock {
	int fd;
};

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
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char holder[256] = "";
		ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		char *nl = strchr(holder, '\n');
		if (nl)
			*nl = '\0';
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
		return quire_error_set(
			QUIRE_ELOCKED,
			"another quire is writing this project (%s); wait for it to finish",
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
