/* bench/fsfloor.c: the file-system work any tool must do to store N small outputs the way
 * quire does, and nothing else, on one thread.
 *
 *   fsfloor DIR N SIZE   prints "<seconds>"
 *
 * For each of N steps: create DIR/work/out-I, write SIZE bytes, close, rename it into
 * DIR/blobs/XX/<64 hex> (256 shard directories, made beforehand); then create
 * DIR/out/step-I.md.tmp, write the same bytes, close, rename it to DIR/out/step-I.md.
 * No hashing, no database, no manifest, no fsync: a lower bound for the mock provider's full
 * run (each step's output stored once in the content-addressed store and once in out/),
 * printed by bench/run.py next to that run so the two are measured on the same disk in the
 * same state. DIR must not exist. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	perror(path);
	fprintf(stderr, "fsfloor: %s failed\n", what);
	exit(1);
}

static void put(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", path);
	if (write(fd, buf, len) != (ssize_t)len)
		die("write", path);
	if (close(fd) < 0)
		die("close", path);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fsfloor DIR N SIZE\n");
		return 2;
	}
	const char *dir = argv[1];
	long n = atol(argv[2]), size = atol(argv[3]);
	if (n < 1 || size < 1 || size > 1 << 20) {
		fprintf(stderr, "fsfloor: N >= 1, 1 <= SIZE <= 1 MiB\n");
		return 2;
	}
	char *buf = malloc((size_t)size);
	if (!buf)
		return 1;
	memset(buf, 'x', (size_t)size);
	char a[4096], b[4096];
	if (mkdir(dir, 0755) < 0)
		die("mkdir", dir);
	const char *subs[] = { "work", "blobs", "out" };
	for (int k = 0; k < 3; k++) {
		snprintf(a, sizeof(a), "%s/%s", dir, subs[k]);
		if (mkdir(a, 0755) < 0)
			die("mkdir", a);
	}
	for (int k = 0; k < 256; k++) {
		snprintf(a, sizeof(a), "%s/blobs/%02x", dir, k);
		if (mkdir(a, 0755) < 0)
			die("mkdir", a);
	}
	double t0 = now();
	for (long i = 0; i < n; i++) {
		snprintf(buf, (size_t)size, "step %ld\n",
			 i); /* distinct contents, like real outputs */
		snprintf(a, sizeof(a), "%s/work/out-%ld", dir, i);
		put(a, buf, (size_t)size);
		snprintf(b, sizeof(b), "%s/blobs/%02lx/%064lx", dir, (unsigned long)i % 256,
			 (unsigned long)i);
		if (rename(a, b) < 0)
			die("rename", a);
		snprintf(a, sizeof(a), "%s/out/step-%ld.md.tmp", dir, i);
		snprintf(b, sizeof(b), "%s/out/step-%ld.md", dir, i);
		put(a, buf, (size_t)size);
		if (rename(a, b) < 0)
			die("rename", a);
	}
	printf("%.6f\n", now() - t0);
	free(buf);
	return 0;
}
