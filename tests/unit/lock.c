/* Unit tests for the project writer lock (core/lock.h): exclusion and holder identification. */
#include "testutil.h"

#include <sys/wait.h>

#include "quire/error.h"
#include "core/lock.h"

static void test_second_acquire_fails_naming_holder(void **state)
{
	(void)state;
	struct quire_lock *a = NULL, *b = (struct quire_lock *)1;
	assert_int_equal(quire_lock_acquire(&a, ".quire", "quire run -j 4"), 0);
	assert_non_null(a);
	struct stat st;
	assert_int_equal(stat(".quire/lock", &st), 0);

	assert_int_equal(quire_lock_acquire(&b, ".quire", "quire edit"), QUIRE_ELOCKED);
	assert_null(b);
	char pid[64];
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	const char *msg = quire_error_last();
	if (!strstr(msg, pid) || !strstr(msg, "quire run -j 4"))
		fail_msg("'%s' does not name the holder (%s, quire run -j 4)", msg, pid);
	/* The loser must not have overwritten the holder's description. */
	assert_null(strstr(msg, "quire edit"));

	/* A failed attempt does not weaken the lock. */
	assert_int_equal(quire_lock_acquire(&b, ".quire", "quire edit"), QUIRE_ELOCKED);
	assert_non_null(strstr(quire_error_last(), "quire run -j 4"));

	quire_lock_release(a);
	assert_int_equal(quire_lock_acquire(&b, ".quire", "quire edit"), 0);
	assert_non_null(b);
	/* Now the new holder is the one described. */
	assert_int_equal(quire_lock_acquire(&a, ".quire", "quire run"), QUIRE_ELOCKED);
	assert_non_null(strstr(quire_error_last(), "quire edit"));
	assert_non_null(strstr(quire_error_last(), pid));
	quire_lock_release(b);
	quire_lock_release(NULL);
}

static void test_acquire_creates_qdir(void **state)
{
	(void)state;
	struct quire_lock *a = NULL;
	assert_int_equal(quire_lock_acquire(&a, "fresh/.quire", "quire run"), 0);
	struct stat st;
	assert_int_equal(stat("fresh/.quire/lock", &st), 0);
	quire_lock_release(a);
	/* Released means free: the next writer gets it. */
	assert_int_equal(quire_lock_acquire(&a, "fresh/.quire", "quire run"), 0);
	quire_lock_release(a);
}

static void test_other_process_is_excluded(void **state)
{
	(void)state;
	struct quire_lock *a = NULL;
	assert_int_equal(quire_lock_acquire(&a, ".quire", "quire run"), 0);
	long parent = (long)getpid();
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct quire_lock *b = NULL;
		int rc = quire_lock_acquire(&b, ".quire", "quire plan");
		char want[64];
		snprintf(want, sizeof(want), "pid %ld", parent);
		_exit(rc == QUIRE_ELOCKED && !b && strstr(quire_error_last(), want) &&
				      strstr(quire_error_last(), "'quire run'")
			      ? 0
			      : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	quire_lock_release(a);
}

static void test_lock_dies_with_its_process(void **state)
{
	(void)state;
	/* A writer that crashes (never releases) must not leave the project locked. */
	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct quire_lock *l = NULL;
		char c = quire_lock_acquire(&l, ".quire", "quire run") == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(2);
		_exit(0); /* no release */
	}
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');

	struct quire_lock *a = NULL;
	assert_int_equal(quire_lock_acquire(&a, ".quire", "quire run"), QUIRE_ELOCKED);
	char want[64];
	snprintf(want, sizeof(want), "pid %ld", (long)child);
	assert_non_null(strstr(quire_error_last(), want));

	assert_int_equal(write(go[1], "x", 1), 1);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(quire_lock_acquire(&a, ".quire", "quire run"), 0);
	quire_lock_release(a);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_second_acquire_fails_naming_holder,
						tu_setup_tmpdir, tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_acquire_creates_qdir, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_other_process_is_excluded, tu_setup_tmpdir,
						tu_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_lock_dies_with_its_process, tu_setup_tmpdir,
						tu_teardown_tmpdir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
