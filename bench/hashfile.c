/* bench/hashfile.c: time quire's own file hashing (quire_hash_file, core/hash.c) on one file.
 *
 *   hashfile FILE [REPEAT]   prints "<seconds> <bytes> <digest>" for the fastest of REPEAT runs
 *
 * Built by bench/run.py against the build directory's core/libquire.a, so the measured code
 * is exactly what quire runs when it hashes an artefact or an input file. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "quire/hash.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: hashfile FILE [REPEAT]\n");
		return 2;
	}
	int repeat = argc == 3 ? atoi(argv[2]) : 1;
	if (repeat < 1 || repeat > 100)
		repeat = 1;
	double best = -1;
	struct quire_digest d;
	uint64_t size = 0;
	for (int i = 0; i < repeat; i++) {
		double t0 = now();
		if (quire_hash_file(argv[1], &d, &size) != 0) {
			fprintf(stderr, "hashfile: cannot hash '%s'\n", argv[1]);
			return 1;
		}
		double t = now() - t0;
		if (best < 0 || t < best)
			best = t;
	}
	printf("%.6f %llu %s\n", best, (unsigned long long)size, d.s);
	return 0;
}
