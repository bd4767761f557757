/* GNU make jobserver client: tokens are bytes in a pipe (make 4.3) or a named fifo (4.4). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobserver.h"
#include "util.h"

struct quire__jobserver {
	int rfd, wfd;	/* our own descriptors: rfd non-blocking */
	char held[256]; /* the bytes taken, given back as they were */
	int nheld;
};

static int open_nonblocking(const char *path, int flags)
{
	return open(path, flags | O_NONBLOCK | O_CLOEXEC);
}

struct quire__jobserver *quire__jobserver_open(void)
{
	const char *mf = getenv("MAKEFLAGS");
	if (!mf)
		return NULL;
	const char *auth = NULL, *p = mf;
	/* The last --jobserver-auth= (or the older --jobserver-fds=) wins, as make documents. */
	while ((p = strstr(p, "--jobserver-"))) {
		const char *eq = strchr(p, '=');
		if (eq &&
		    (!strncmp(p, "--jobserver-auth=", 17) || !strncmp(p, "--jobserver-fds=", 16)))
			auth = eq + 1;
		p += 12;
	}
	if (!auth)
		return NULL;
	struct quire__jobserver js = { -1, -1, { 0 }, 0 };
	if (!strncmp(auth, "fifo:", 5)) {
		char path[4096];
		size_t n = strcspn(auth + 5, " ");
		if (n >= sizeof(path))
			return NULL;
		memcpy(path, auth + 5, n);
		path[n] = '\0';
		js.rfd = open_nonblocking(path, O_RDONLY);
		js.wfd = open(path, O_WRONLY | O_CLOEXEC);
	} else {
		int r, w;
		if (sscanf(auth, "%d,%d", &r, &w) != 2 || r < 0 || w < 0)
			return NULL;
		/* make passes the pipe only to recipes it knows are recursive ('+'): closed or
		 * reused descriptors mean it is not ours to use. */
		if (fcntl(r, F_GETFD) < 0 || fcntl(w, F_GETFD) < 0)
			return NULL;
		/* A separate open file description, so non-blocking reads do not change make's. */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", r);
		js.rfd = open_nonblocking(path, O_RDONLY);
		js.wfd = dup(w);
		if (js.wfd >= 0)
			fcntl(js.wfd, F_SETFD, FD_CLOEXEC);
	}
	if (js.rfd < 0 || js.wfd < 0) {
		if (js.rfd >= 0)
			close(js.rfd);
		if (js.wfd >= 0)
			close(js.wfd);
		return NULL;
	}
	struct quire__jobserver *out = quire__xmalloc(sizeof(*out));
	*out = js;
	return out;
}

int quire__jobserver_acquire(struct quire__jobserver *js)
{
	if (!js || js->nheld == (int)sizeof(js->held))
		return 0;
	char c;
	ssize_t n;
	while ((n = read(js->rfd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		return 0;
	js->held[js->nheld++] = c;
	return 1;
}

void quire__jobserver_release(struct quire__jobserver *js)
{
	if (!js || !js->nheld)
		return;
	char c = js->held[--js->nheld];
	while (write(js->wfd, &c, 1) < 0 && errno == EINTR)
		;
}

int quire__jobserver_held(const struct quire__jobserver *js)
{
	return js ? js->nheld : 0;
}

void quire__jobserver_close(struct quire__jobserver *js)
{
	if (!js)
		return;
	while (js->nheld)
		quire__jobserver_release(js);
	close(js->rfd);
	close(js->wfd);
	free(js);
}
