/* What the libFuzzer harnesses share: splitting an input in two, a scratch directory. */
#ifndef QUIRE_FUZZ_H
#define QUIRE_FUZZ_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* jansson seeds its hash tables from /dev/urandom, so objects iterated (keys, rows, the
 * fold's subjects) came in another order in each process: the coverage a run saw, hence
 * the inputs a fixed-seed run (scripts/fuzz.sh --ci) tried next, varied. One seed for all. */
__attribute__((constructor)) static void fuzz_json_seed(void)
{
	json_object_seed(1);
}

/* Splits data at its first NUL byte: *b (blen bytes) is what follows it, NULL when there is
 * none. Returns the length of the first part. The texts the harnesses take hold no NUL
 * (quire refuses one in every text file), so a NUL is free to separate two of them. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const char **b, size_t *blen)
{
	const uint8_t *nul = memchr(data, 0, size);
	*b = nul ? (const char *)nul + 1 : NULL;
	*blen = nul ? size - (size_t)(nul - data) - 1 : 0;
	return nul ? (size_t)(nul - data) : size;
}

static char fuzz_dir_path[256];

/* The directory is flat: its files, then itself. */
static void fuzz_dir_remove(void)
{
	DIR *d = opendir(fuzz_dir_path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(fuzz_dir_path);
}

/* A directory of the harness's own, made on the first call (under $TMPDIR) and removed when
 * the fuzzer exits normally: the only place a harness writes files. */
static inline const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/quire-fuzz-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir_path)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(fuzz_dir_remove);
	}
	return fuzz_dir_path;
}

#endif
