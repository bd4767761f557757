/* Helpers shared by the unit tests: temp dirs, cmocka fixtures, small file reads and writes. */
#ifndef QUIRE_TESTUTIL_H
#define QUIRE_TESTUTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "quire-config.h"
#include "quire/buf.h"
#include "quire/history.h"
#include <jansson.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
static inline char *tu_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/quire-unit-XXXXXX", base && *base ? base : "/tmp");
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* Writes text to dir/rel, creating parent directories. */
static inline void tu_write(const char *dir, const char *rel, const char *text)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (char *s = path + strlen(dir) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(path, 0755);
			*s = '/';
		}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Removes a directory tree (test scratch only). */
static inline void tu_rmrf(const char *dir)
{
	char cmd[8300];
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
	if (system(cmd) != 0) {
		/* best effort */
	}
}

/* Copies the story project the machinery is tested on (tests/fixtures/story-flat: 11
 * instances, fixed whatever the bundled blueprint becomes) into dir. */
static inline void tu_copy_story(const char *dir)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -R '%s/story-flat/.' '%s/'", QUIRE_SOURCE_FIXTURES, dir);
	assert_int_equal(system(cmd), 0);
}

/* cmocka setup: makes a temp dir, chdir()s into it; the state is the dir (malloc'd). */
static inline int tu_setup_tmpdir(void **state)
{
	char *dir = tu_tempdir();
	assert_int_equal(chdir(dir), 0);
	*state = dir;
	return 0;
}

/* cmocka setup: tu_setup_tmpdir, then an empty .quire in it. */
static inline int tu_setup_qdir(void **state)
{
	tu_setup_tmpdir(state);
	assert_int_equal(mkdir(".quire", 0755), 0);
	return 0;
}

/* cmocka setup: a temp dir holding a copy of the story project, chdir()ed into; state: the dir. */
static inline int tu_setup_story(void **state)
{
	char *dir = tu_tempdir();
	tu_copy_story(dir);
	assert_int_equal(chdir(dir), 0);
	*state = dir;
	return 0;
}

/* Leaves dir (chdir("/")), removes it and frees the string. */
static inline void tu_drop_tmpdir(char *dir)
{
	if (chdir("/") != 0) {
		/* best effort */
	}
	tu_rmrf(dir);
	free(dir);
}

/* cmocka teardown for the tu_setup_* functions: the state is the dir to drop. */
static inline int tu_teardown_tmpdir(void **state)
{
	tu_drop_tmpdir(*state);
	return 0;
}

/* Unsets the mock provider's failure and latency switches. */
static inline void tu_unset_mock_env(void)
{
	unsetenv("QUIRE_MOCK_FAIL");
	unsetenv("QUIRE_MOCK_LATENCY_MS");
}

/* Reads a whole file into a malloc'd NUL-terminated string; fails the test if it cannot. */
static inline char *tu_slurp(const char *path)
{
	struct quire_buf b = QUIRE_BUF_INIT;
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		quire_buf_add(&b, chunk, n);
	fclose(f);
	return quire_buf_detach(&b, NULL);
}

/* Changes the byte `at` places after the first `needle` in the file at path to c (same
 * length, as a disk fault would); fails the test when there is no needle. */
static inline void tu_damage_at(const char *path, const char *needle, size_t at, char c)
{
	char *text = tu_slurp(path);
	char *p = strstr(text, needle);
	if (!p)
		fail_msg("no '%s' in %s", needle, path);
	p[at] = c;
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(text);
}

/* tu_damage_at on revision rev's pack in qdir (.quire/revs/<rev>.objects). */
static inline void tu_damage_pack(const char *qdir, const char *rev, const char *needle, size_t at,
				  char c)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/revs/%s.objects", qdir, rev);
	tu_damage_at(path, needle, at, c);
}

/* Counts a directory's entries other than . and ..; fails the test if it cannot open it. */
static inline int tu_count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		fail_msg("cannot open directory %s", path);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Replaces the whole line `from` (a sed regex) with `to` in dir/inputs.yaml, checking it took. */
static inline void tu_edit_inputs(const char *dir, const char *from, const char *to)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "sed -i 's/^%s$/%s/' '%s/inputs.yaml' && grep -q '^%s$' '%s/inputs.yaml'", from,
		 to, dir, to, dir);
	assert_int_equal(system(cmd), 0);
}

/* Fails unless msg starts with prefix and contains each word of the NULL-terminated list ap. */
static inline void tu_expect_msg_v(const char *msg, const char *prefix, va_list ap)
{
	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("got \"%s\", want it to start with \"%s\"", msg, prefix);
	for (const char *w; (w = va_arg(ap, const char *));)
		if (!strstr(msg, w))
			fail_msg("got \"%s\", want it to contain \"%s\"", msg, w);
}

/* The name of project dir's nth revision (1 the oldest), as its log lists them, or "" when
 * there is none; revisions are named by digest, so tests ask for them by position. One of 8
 * buffers used in turn (several may stand in one expression). */
static inline const char *tu_rev(const char *dir, int nth)
{
	static char bufs[8][80];
	static int turn;
	char *out = bufs[turn++ % 8];
	char qdir[4096];
	snprintf(qdir, sizeof(qdir), "%s/.quire", dir);
	json_t *log = NULL;
	out[0] = '\0';
	if (quire_history_log(qdir, &log) == 0 && nth >= 1 && (size_t)nth <= json_array_size(log))
		snprintf(out, 80, "%s",
			 json_string_value(json_object_get(json_array_get(log, (size_t)nth - 1),
							   "revision")));
	json_decref(log);
	return out;
}

/* Damages a stored blob as a power loss could, wherever it is kept: a file is truncated;
 * a packed one (sqlite3's WAL keeps whole transactions) is emptied in place, as a disk's
 * damage would leave it. */
static inline void tu_blob_damage(const char *qdir, const char *digest)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", qdir, digest + 7, digest + 7);
	if (access(path, F_OK) == 0) {
		assert_int_equal(truncate(path, 0), 0);
		return;
	}
	snprintf(path, sizeof(path), "%s/blobs/pack.db", qdir);
	sqlite3 *db = NULL;
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE blob SET data = x'' WHERE hex(d) = upper('%s')",
		 digest + 7);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
}

#endif
