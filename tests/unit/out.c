/* Unit tests for out/ materialisation (quire/out.h): names, minimal rewrites, safety. */
#include "testutil.h"

#include <fcntl.h>
#include <limits.h>

#include "builtin.h"
#include "quire/blob.h"
#include "quire/buf.h"
#include "quire/error.h"
#include "quire/hash.h"
#include "quire/manifest.h"
#include "quire/out.h"
#include "quire/project.h"
#include "quire/provider.h"
#include "quire/run.h"
#include "quire/store.h"

struct fx {
	char *dir;
	struct quire_project *p;
	json_t *m; /* current manifest after the first run */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_tempdir();
	tu_copy_story(f->dir);
	assert_int_equal(chdir(f->dir), 0);
	unsetenv("QUIRE_MOCK_FAIL");
	assert_int_equal(quire_project_open(&f->p, f->dir), 0);
	struct quire_run_opts o = { .jobs = 4 };
	struct quire_run_result res;
	if (quire_run(f->p, &o, &res))
		fail_msg("run: %s", quire_error_last());
	assert_int_equal(res.produced, 11);
	assert_int_equal(res.out_written, 11);
	assert_int_equal(quire_manifest_load(f->p->qdir, res.rev, &f->m), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	json_decref(f->m);
	quire_project_free(f->p);
	tu_drop_tmpdir(f->dir);
	free(f);
	return 0;
}

static char *blob_text(const struct fx *f, const char *id)
{
	const json_t *e = json_object_get(json_object_get(f->m, "artefacts"), id);
	const char *digest = json_string_value(json_object_get(e, "digest"));
	assert_non_null(digest);
	struct quire_buf b = QUIRE_BUF_INIT;
	assert_int_equal(quire_blob_read(f->p->qdir, digest, &b, 0, 1), 0);
	return quire_buf_detach(&b, NULL);
}

static void assert_out_matches(const struct fx *f, const char *id, const char *file)
{
	char *want = blob_text(f, id);
	char *got = tu_slurp(file);
	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void set_old_mtime(const char *path)
{
	struct timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

static const char *const files[] = {
	"Outline.json", "Chapter-0.md", "Chapter-1.md", "Chapter-2.md",
	"Scene-0-0.md", "Scene-0-1.md", "Scene-1-0.md", "Scene-1-1.md",
	"Scene-2-0.md", "Scene-2-1.md", "Book.md",
};
static const char *const ids[] = {
	"Outline",     "Chapter[0]",  "Chapter[1]",  "Chapter[2]",  "Scene[0][0]", "Scene[0][1]",
	"Scene[1][0]", "Scene[1][1]", "Scene[2][0]", "Scene[2][1]", "Book",
};

static void test_one_file_per_artefact(void **state)
{
	struct fx *f = *state;
	assert_int_equal(tu_count_dir("out"), 11);
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		struct stat st;
		if (lstat(path, &st) != 0)
			fail_msg("missing %s", path);
		assert_true(S_ISREG(st.st_mode));
		assert_out_matches(f, ids[i], path);
	}
	/* The book is the scenes joined, in order (the echo binding assembles them). */
	char *book = tu_slurp("out/Book.md");
	char *s00 = tu_slurp("out/Scene-0-0.md"), *s21 = tu_slurp("out/Scene-2-1.md");
	assert_non_null(strstr(book, "# The Lighthouse Keeper's Letters"));
	char *p00 = strstr(book, s00), *p21 = strstr(book, s21);
	assert_true(p00 && p21 && p00 < p21);
	free(book);
	free(s00);
	free(s21);
}

static void test_out_name(void **state)
{
	(void)state;
	json_t *md = json_pack("{s:s}", "ext", "md");
	json_t *js = json_pack("{s:s}", "ext", "json");
	char *n = quire_out_name("Scene[1][0]", md);
	assert_string_equal(n, "Scene-1-0.md");
	free(n);
	n = quire_out_name("Outline", js);
	assert_string_equal(n, "Outline.json");
	free(n);
	json_t *evil = json_pack("{s:s}", "ext", "md/../../x");
	n = quire_out_name("../../etc/passwd", evil);
	assert_null(strchr(n, '/'));
	assert_true(n[0] != '.');
	free(n);
	json_decref(md);
	json_decref(js);
	json_decref(evil);
}

static void test_second_sync_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct stat before[11], after;
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		set_old_mtime(path);
		assert_int_equal(stat(path, &before[i]), 0);
	}
	size_t w = 99, r = 99;
	assert_int_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), 0);
	assert_int_equal(w, 0);
	assert_int_equal(r, 0);
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		assert_int_equal(stat(path, &after), 0);
		assert_int_equal(after.st_mtim.tv_sec, before[i].st_mtim.tv_sec);
		assert_int_equal(after.st_ino, before[i].st_ino);
	}
	/* A run with nothing to do does not touch out/ either. */
	struct quire_run_opts o = { .jobs = 2 };
	struct quire_run_result res;
	assert_int_equal(quire_run(f->p, &o, &res), 0);
	assert_int_equal(res.out_written, 0);
	assert_int_equal(stat("out/Book.md", &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, before[10].st_mtim.tv_sec);
}

/* A run's check of out/ before it starts records what it had to read, so the next run
 * finds out/ in the stat cache instead of reading every file again (a writer changing one
 * scene after a build paid a read of all 10,000 outputs at every run). */
static void test_preflight_remembers_what_it_read(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		set_old_mtime(path);
	}
	struct quire_store *store = NULL;
	assert_int_equal(quire_store_open(&store, f->p->qdir, 0), 0);
	struct quire_out_seen *seen = NULL;
	assert_int_equal(quire_out_preflight_seen(f->p, store, f->m, NULL, NULL, 0, &seen), 0);
	quire_out_seen_free(seen);
	quire_store_close(store);
	assert_int_equal(quire_store_open(&store, f->p->qdir, 0), 0);
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		struct stat st;
		assert_int_equal(lstat(path, &st), 0);
		struct quire_digest d;
		int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		assert_int_equal(quire_store_stat_get(store, path, (int64_t)st.st_size, mtime,
						      (int64_t)st.st_ino, &d),
				 1);
		char *want = blob_text(f, ids[i]);
		struct quire_digest wd;
		quire_hash_bytes(want, strlen(want), &wd);
		assert_string_equal(d.s, wd.s);
		free(want);
	}
	quire_store_close(store);
}

/* A deleted file is restored; a file holding another output quire keeps (a copy of another
 * chapter) is replaced; a file holding text quire never wrote (a writer's edit) is left as it
 * is and named, with the commands that keep or discard it, while the rest is written. */
static void test_deleted_restored_hand_edit_kept(void **state)
{
	struct fx *f = *state;
	set_old_mtime("out/Chapter-0.md");
	assert_int_equal(unlink("out/Scene-1-1.md"), 0);
	char *other = blob_text(f, "Chapter[0]");
	tu_write(f->dir, "out/Chapter-1.md", other);
	free(other);
	tu_write(f->dir, "out/Chapter-2.md", "my own words\n");
	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), QUIRE_ECONFLICT);
	const char *msg = quire_error_last();
	assert_non_null(strstr(msg, "out/Chapter-2.md"));
	assert_non_null(strstr(msg, "quire edit 'Chapter[2]' --file 'out/Chapter-2.md'"));
	assert_non_null(strstr(msg, "rm 'out/Chapter-2.md'"));
	assert_null(strstr(msg, "Chapter-1.md"));
	assert_int_equal(w, 2);
	assert_int_equal(r, 0);
	assert_out_matches(f, "Scene[1][1]", "out/Scene-1-1.md");
	assert_out_matches(f, "Chapter[1]", "out/Chapter-1.md");
	char *kept = tu_slurp("out/Chapter-2.md");
	assert_string_equal(kept, "my own words\n");
	free(kept);
	struct stat st;
	assert_int_equal(stat("out/Chapter-0.md", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);

	/* quire_out_check finds the same without writing anything. */
	assert_int_equal(unlink("out/Outline.json"), 0);
	struct quire_out_conflict *c = NULL;
	size_t n = 0;
	assert_int_equal(quire_out_check(f->p, NULL, f->m, NULL, NULL, 0, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].file, "out/Chapter-2.md");
	assert_string_equal(c[0].id, "Chapter[2]");
	quire_out_conflicts_free(c, n);
	assert_int_equal(lstat("out/Outline.json", &st), -1);

	/* A run with nothing else to do restores the missing file and refuses the same. */
	struct quire_run_opts o = { .jobs = 2 };
	struct quire_run_result res;
	assert_int_equal(quire_run(f->p, &o, &res), QUIRE_ECONFLICT);
	assert_int_equal(res.produced, 0);
	assert_int_equal(res.out_written, 1);
	assert_out_matches(f, "Outline", "out/Outline.json");
	kept = tu_slurp("out/Chapter-2.md");
	assert_string_equal(kept, "my own words\n");
	free(kept);

	/* Removing the file of an artefact no longer built: kept the same way. */
	json_t *m2 = json_deep_copy(f->m);
	assert_int_equal(json_object_del(json_object_get(m2, "artefacts"), "Chapter[2]"), 0);
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), QUIRE_ECONFLICT);
	assert_non_null(strstr(quire_error_last(), "Chapter[2] is no longer built"));
	assert_int_equal(r, 0);
	assert_int_equal(lstat("out/Chapter-2.md", &st), 0);
	json_decref(m2);

	/* Once the writer's text is gone, everything is quire's again. */
	assert_int_equal(unlink("out/Chapter-2.md"), 0);
	assert_int_equal(quire_run(f->p, &o, &res), 0);
	assert_int_equal(res.out_written, 1);
	assert_out_matches(f, "Chapter[2]", "out/Chapter-2.md");
}

/* Hundreds of files are checked on two threads, with the stat cache: every damaged one is
 * found and rewritten, the others are left alone, and a file rewritten with the same size
 * is still noticed. */
static void test_many_files_checked_in_parallel(void **state)
{
	struct fx *f = *state;
	enum { N = 600 };
	json_t *m2 = json_pack("{s:{}}", "artefacts");
	json_t *arts = json_object_get(m2, "artefacts");
	char text[64], id[32];
	for (int k = 0; k < N; k++) {
		struct quire_digest d;
		snprintf(text, sizeof(text), "text of file %04d\n", k);
		assert_int_equal(quire_blob_put(f->p->qdir, text, strlen(text), &d), 0);
		snprintf(id, sizeof(id), "Many[%d]", k);
		json_object_set_new(arts, id,
				    json_pack("{s:s,s:I,s:s}", "digest", d.s, "size",
					      (json_int_t)strlen(text), "ext", "md"));
	}
	struct quire_store *store = NULL;
	assert_int_equal(quire_store_open(&store, f->p->qdir, 0), 0);
	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync_cached(f->p, store, m2, NULL, f->m, NULL, NULL, &w, &r), 0);
	assert_int_equal(w, N);
	assert_int_equal(r, 11);
	for (int round = 0; round < 2; round++) { /* hashed and recorded, then from the cache */
		assert_int_equal(
			quire_out_sync_cached(f->p, store, m2, NULL, m2, NULL, NULL, &w, &r), 0);
		assert_int_equal(w, 0);
	}
	/* Same size, other bytes (another output, so quire may replace it); gone; a directory in
	 * its place; a symlink. */
	tu_write(".", "out/Many-5.md", "text of file 0006\n");
	assert_int_equal(unlink("out/Many-77.md"), 0);
	assert_int_equal(unlink("out/Many-301.md"), 0);
	assert_int_equal(mkdir("out/Many-301.md", 0755), 0);
	assert_int_equal(unlink("out/Many-599.md"), 0);
	assert_int_equal(symlink("Many-0.md", "out/Many-599.md"), 0);
	/* The directory cannot be replaced: that fails the sync, by name, the others are written.
	 */
	assert_int_not_equal(quire_out_sync_cached(f->p, store, m2, NULL, m2, NULL, NULL, &w, &r),
			     0);
	assert_non_null(strstr(quire_error_last(), "Many-301.md"));
	assert_int_equal(w, 3);
	quire_error_clear();
	assert_int_equal(rmdir("out/Many-301.md"), 0);
	assert_int_equal(quire_out_sync_cached(f->p, store, m2, NULL, m2, NULL, NULL, &w, &r), 0);
	assert_int_equal(w, 1);
	for (int k = 0; k < N; k++) {
		char path[64];
		snprintf(path, sizeof(path), "out/Many-%d.md", k);
		snprintf(text, sizeof(text), "text of file %04d\n", k);
		struct stat st;
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		char *got = tu_slurp(path);
		assert_string_equal(got, text);
		free(got);
	}
	assert_int_equal(quire_out_sync_cached(f->p, store, m2, NULL, m2, NULL, NULL, &w, &r), 0);
	assert_int_equal(w, 0);
	quire_store_close(store);
	json_decref(m2);
}

static void test_symlink_replaced_not_followed(void **state)
{
	struct fx *f = *state;
	char *outside = tu_tempdir();
	char target[PATH_MAX];
	snprintf(target, sizeof(target), "%s/precious.txt", outside);
	tu_write(outside, "precious.txt", "do not touch\n");
	assert_int_equal(unlink("out/Chapter-0.md"), 0);
	assert_int_equal(symlink(target, "out/Chapter-0.md"), 0);

	/* A link to a file that already holds the right bytes is replaced too. */
	char same[PATH_MAX];
	snprintf(same, sizeof(same), "%s/same.md", outside);
	char *text = blob_text(f, "Chapter[1]");
	tu_write(outside, "same.md", text);
	free(text);
	assert_int_equal(unlink("out/Chapter-1.md"), 0);
	assert_int_equal(symlink(same, "out/Chapter-1.md"), 0);

	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), 0);
	assert_int_equal(w, 2);
	struct stat st;
	assert_int_equal(lstat("out/Chapter-0.md", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat("out/Chapter-1.md", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_out_matches(f, "Chapter[0]", "out/Chapter-0.md");
	char *kept = tu_slurp(target);
	assert_string_equal(kept, "do not touch\n");
	free(kept);
	assert_int_equal(tu_count_dir(outside), 2);
	tu_rmrf(outside);
	free(outside);
}

/* out/ is written on several threads: one file that cannot be written fails the sync with its
 * name, the others are still written, and no temp file is left behind. */
static void test_unwritable_name_fails_others_written(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(mkdir("out/Scene-1-1.md", 0755), 0);
	tu_write("out/Scene-1-1.md", "keep.txt", "mine\n");
	size_t w = 0, r = 0;
	assert_int_not_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), 0);
	assert_non_null(strstr(quire_error_last(), "Scene-1-1.md"));
	assert_int_equal(w, 10);
	for (size_t i = 0; i < 11; i++) {
		char path[256];
		snprintf(path, sizeof(path), "out/%s", files[i]);
		if (strcmp(files[i], "Scene-1-1.md"))
			assert_out_matches(f, ids[i], path);
	}
	assert_int_equal(tu_count_dir("out"), 11); /* the ten files and the directory */
	char *kept = tu_slurp("out/Scene-1-1.md/keep.txt");
	assert_string_equal(kept, "mine\n");
	free(kept);
}

static void test_removed_artefacts_deleted(void **state)
{
	struct fx *f = *state;
	/* Directly: the previous manifest had an artefact the new one has not. */
	json_t *m2 = json_deep_copy(f->m);
	assert_int_equal(json_object_del(json_object_get(m2, "artefacts"), "Scene[2][1]"), 0);
	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), 0);
	assert_int_equal(w, 0);
	assert_int_equal(r, 1);
	struct stat st;
	assert_int_equal(lstat("out/Scene-2-1.md", &st), -1);
	assert_int_equal(tu_count_dir("out"), 10);
	json_decref(m2);
	assert_int_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), 0);
	assert_int_equal(w, 1);

	/* Through a run: fewer scenes per chapter. */
	set_old_mtime("out/Chapter-0.md");
	assert_int_equal(system("sed -i 's/^Scenes: 2$/Scenes: 1/' inputs.yaml"), 0);
	struct quire_project *p = NULL;
	assert_int_equal(quire_project_open(&p, f->dir), 0);
	struct quire_run_opts o = { .jobs = 2 };
	struct quire_run_result res;
	if (quire_run(p, &o, &res))
		fail_msg("run: %s", quire_error_last());
	assert_int_equal(res.removed, 3);
	assert_int_equal(res.out_removed, 3);
	assert_int_equal(res.produced, 1); /* the book */
	assert_int_equal(res.out_written, 1);
	assert_int_equal(tu_count_dir("out"), 8);
	assert_int_equal(lstat("out/Scene-0-1.md", &st), -1);
	assert_int_equal(lstat("out/Scene-1-1.md", &st), -1);
	assert_int_equal(lstat("out/Scene-2-1.md", &st), -1);
	assert_int_equal(lstat("out/Scene-2-0.md", &st), 0);
	assert_int_equal(stat("out/Chapter-0.md", &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	quire_project_free(p);
}

static void test_hostile_ids_stay_inside_out(void **state)
{
	struct fx *f = *state;
	const json_t *ch = json_object_get(json_object_get(f->m, "artefacts"), "Chapter[0]");
	json_t *m2 = json_deep_copy(f->m);
	json_t *e = json_deep_copy(ch);
	json_object_set_new(e, "ext", json_string("md/../../../escaped"));
	json_object_set_new(json_object_get(m2, "artefacts"), "../../escaped", e);
	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), 0);
	assert_int_equal(w, 1);
	assert_int_equal(tu_count_dir("out"), 12);
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/../escaped", f->dir);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(lstat("escaped", &st), -1);
	snprintf(path, sizeof(path), "%s/../../escaped", f->dir);
	assert_int_equal(lstat(path, &st), -1);
	json_decref(m2);
}

/* A large output (a file of its own in the store) is copied into out/ in pieces: its bytes
 * arrive whole, over the file the previous revision wrote; a damaged one is never written,
 * neither as a new file nor over the one there, and leaves no temp file in out/. */
static void test_large_output_copied_whole_never_damaged(void **state)
{
	struct fx *f = *state;
	struct quire_buf big = QUIRE_BUF_INIT;
	for (int k = 0; big.len < (3u << 20) + 123; k++)
		quire_buf_printf(&big, "line %d of a long book\n", k);
	struct quire_digest d;
	assert_int_equal(quire_blob_put(f->p->qdir, big.ptr, big.len, &d), 0);
	char *file = quire_blob_path(f->p->qdir, d.s);
	struct stat st;
	assert_int_equal(stat(file, &st), 0); /* not packed: the path this test is about */
	json_t *m2 = json_deep_copy(f->m);
	json_t *e = json_object_get(json_object_get(m2, "artefacts"), "Book");
	json_object_set_new(e, "digest", json_string(d.s));
	json_object_set_new(e, "size", json_integer((json_int_t)big.len));
	char *old = tu_slurp("out/Book.md");

	size_t w = 0, r = 0;
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), 0);
	assert_int_equal(w, 1);
	char *got = tu_slurp("out/Book.md");
	assert_int_equal(strlen(got), big.len);
	assert_true(!memcmp(got, big.ptr, big.len));
	free(got);
	/* And as a new file. */
	assert_int_equal(unlink("out/Book.md"), 0);
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), 0);
	assert_int_equal(w, 1);
	got = tu_slurp("out/Book.md");
	assert_int_equal(strlen(got), big.len);
	assert_true(!memcmp(got, big.ptr, big.len));
	free(got);
	assert_int_equal(tu_count_dir("out"), 11);

	/* One byte changed in the stored file. */
	assert_int_equal(chmod(file, 0644), 0);
	int fd = open(file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "#", 1, 2u << 20), 1);
	close(fd);
	assert_int_equal(unlink("out/Book.md"), 0);
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_error_last(), "the stored output of 'Book' is damaged"));
	assert_int_equal(lstat("out/Book.md", &st), -1);
	assert_int_equal(tu_count_dir("out"), 10);

	/* Over the previous revision's file, which stays as it was. */
	tu_write(".", "out/Book.md", old);
	assert_int_equal(quire_out_sync(f->p, m2, f->m, &w, &r), QUIRE_ECORRUPT);
	got = tu_slurp("out/Book.md");
	assert_string_equal(got, old);
	assert_int_equal(tu_count_dir("out"), 11);
	free(got);
	free(old);
	free(file);
	json_decref(m2);
	quire_buf_release(&big);
}

/* A manifest's digest is never a path: one that is no sha256 digest (a hostile or damaged
 * revision) is refused, and nothing outside the store is read into out/. */
static void test_digest_not_a_path(void **state)
{
	struct fx *f = *state;
	struct quire_buf big = QUIRE_BUF_INIT;
	for (int k = 0; big.len < 8192; k++)
		quire_buf_printf(&big, "not for out/ %d\n", k);
	tu_write(f->dir, "secret.txt", big.ptr);
	/* .quire/blobs/sha256/ + "..", "/", then the rest: the project's own directory. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/blobs/sha256", f->p->qdir);
	mkdir(dir, 0755);
	const char *const digests[] = { "sha256:../../secret.txt", "x" };
	for (size_t k = 0; k < 2; k++) {
		json_t *m2 = json_deep_copy(f->m);
		json_t *e = json_object_get(json_object_get(m2, "artefacts"), "Book");
		json_object_set_new(e, "digest", json_string(digests[k]));
		json_object_del(e, "size");
		assert_int_equal(unlink("out/Book.md"), 0);
		size_t w = 0, r = 0;
		assert_int_not_equal(quire_out_sync(f->p, m2, f->m, &w, &r), 0);
		assert_non_null(strstr(quire_error_last(), "not a sha256 digest"));
		struct stat st;
		assert_int_equal(lstat("out/Book.md", &st), -1);
		assert_int_equal(tu_count_dir("out"), 10);
		json_decref(m2);
		assert_int_equal(quire_out_sync(f->p, f->m, f->m, &w, &r), 0);
	}
	quire_buf_release(&big);
}

int main(void)
{
	assert_int_equal(quire_provider_register(&quire_provider_mock), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_file_per_artefact, setup, teardown),
		cmocka_unit_test(test_out_name),
		cmocka_unit_test_setup_teardown(test_second_sync_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preflight_remembers_what_it_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deleted_restored_hand_edit_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_files_checked_in_parallel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_symlink_replaced_not_followed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_name_fails_others_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_removed_artefacts_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_output_copied_whole_never_damaged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_digest_not_a_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ids_stay_inside_out, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
