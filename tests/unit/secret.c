/* Unit tests for secrets (quire/secret.h): environment and secrets-file lookup, redaction. */
#include "testutil.h"

#include <limits.h>

#include "quire/error.h"
#include "quire/secret.h"

static int setup(void **state)
{
	tu_setup_tmpdir(state);
	unsetenv("QUIRE_SECRETS_FILE");
	unsetenv("QT_KEY");
	unsetenv("QT_OTHER");
	return 0;
}

static int teardown(void **state)
{
	unsetenv("QUIRE_SECRETS_FILE");
	unsetenv("QT_KEY");
	unsetenv("QT_OTHER");
	return tu_teardown_tmpdir(state);
}

/* Writes dir/secrets with `text` and mode `mode`, and points QUIRE_SECRETS_FILE at it. */
static void secrets_file(const char *dir, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	tu_write(dir, "secrets", text);
	assert_int_equal(chmod(path, mode), 0);
	assert_int_equal(setenv("QUIRE_SECRETS_FILE", path, 1), 0);
}

/* Looks name up expecting success; returns the value (malloc'd, may be NULL) and checks the
 * source is `want_source` (NULL: none). */
static char *lookup_ok(const char *name, const char *want_source)
{
	char *value = (char *)1, *source = (char *)1;
	int err = quire_secret_lookup(name, &value, &source);
	if (err)
		fail_msg("lookup %s: %s", name, quire_error_last());
	if (want_source)
		assert_string_equal(source, want_source);
	else
		assert_null(source);
	free(source);
	return value;
}

static void test_environment_wins_over_file(void **state)
{
	char *dir = *state;
	secrets_file(dir, "QT_KEY=from-the-file\n", 0600);
	assert_int_equal(setenv("QT_KEY", "from-the-env", 1), 0);
	char *v = lookup_ok("QT_KEY", "environment");
	assert_string_equal(v, "from-the-env");
	free(v);

	/* An empty variable counts as unset: the file is read. */
	assert_int_equal(setenv("QT_KEY", "", 1), 0);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	v = lookup_ok("QT_KEY", path);
	assert_string_equal(v, "from-the-file");
	free(v);
}

static void test_file_lines(void **state)
{
	char *dir = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	secrets_file(dir,
		     "# API keys for quire\n"
		     "\n"
		     "QT_KEY_LONGER=not-this-one\n"
		     "XQT_KEY=nor-this\n"
		     "#QT_KEY=commented-out\n"
		     "  # QT_KEY=indented-comment\n"
		     "QT_OTHER=other-value\r\n"
		     "\t  QT_KEY=sk-file-value  \n"
		     "\n",
		     0600);
	char *v = lookup_ok("QT_KEY", path);
	assert_string_equal(v, "sk-file-value");
	free(v);
	/* CRLF line ends are trimmed too. */
	v = lookup_ok("QT_OTHER", path);
	assert_string_equal(v, "other-value");
	free(v);
	/* "NAME = value" is not "NAME=value": no match. */
	secrets_file(dir, "QT_KEY = spaced\n", 0600);
	v = lookup_ok("QT_KEY", NULL);
	assert_null(v);
	/* An empty value is no value; a last line without a newline is read. */
	secrets_file(dir, "QT_KEY=\nQT_OTHER=no-newline", 0600);
	v = lookup_ok("QT_KEY", NULL);
	assert_null(v);
	v = lookup_ok("QT_OTHER", path);
	assert_string_equal(v, "no-newline");
	free(v);
}

/* A name given twice: the last line wins and nothing leaks. */
static void test_file_repeated_name(void **state)
{
	char *dir = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	secrets_file(dir, "QT_KEY=first-value\nQT_KEY=second-value\n", 0600);
	char *v = lookup_ok("QT_KEY", path);
	assert_string_equal(v, "second-value");
	free(v);
}

static void test_missing_name_and_missing_file(void **state)
{
	char *dir = *state;
	secrets_file(dir, "QT_OTHER=something-else\n", 0600);
	char *v = lookup_ok("QT_KEY", NULL);
	assert_null(v);

	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/no-such-file", dir);
	assert_int_equal(setenv("QUIRE_SECRETS_FILE", path, 1), 0);
	v = lookup_ok("QT_KEY", NULL);
	assert_null(v);
}

static void test_secrets_file_path(void **state)
{
	(void)state;
	assert_int_equal(setenv("QUIRE_SECRETS_FILE", "/x/secrets", 1), 0);
	char *f = quire_secret_file();
	assert_string_equal(f, "/x/secrets");
	free(f);
	unsetenv("QUIRE_SECRETS_FILE");
	char *xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
	assert_int_equal(setenv("XDG_CONFIG_HOME", "/cfg", 1), 0);
	f = quire_secret_file();
	assert_string_equal(f, "/cfg/quire/secrets");
	free(f);
	if (xdg)
		setenv("XDG_CONFIG_HOME", xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(xdg);
}

static void test_world_readable_file_refused(void **state)
{
	char *dir = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	secrets_file(dir, "QT_KEY=sk-must-not-leak\n", 0644);
	char *value = (char *)1, *source = (char *)1;
	assert_int_equal(quire_secret_lookup("QT_KEY", &value, &source), QUIRE_EINVALID);
	assert_null(value);
	assert_null(source);
	const char *msg = quire_error_last();
	if (!strstr(msg, path) || !strstr(msg, "644"))
		fail_msg("'%s' should name '%s' and its mode 644", msg, path);
	assert_null(strstr(msg, "sk-must-not-leak"));
	assert_null(strstr(msg, "QT_KEY"));

	/* Group-readable alone is refused as well. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(quire_secret_lookup("QT_KEY", &value, &source), QUIRE_EINVALID);
	assert_non_null(strstr(quire_error_last(), "640"));
}

static void test_redact_after_lookup(void **state)
{
	char *dir = *state;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/secrets", dir);
	secrets_file(dir, "QT_KEY=sk-ABCDEFGHIJKLMNOP\n", 0600);
	assert_int_equal(setenv("QT_OTHER", "tok_zz", 1), 0);
	char *v1 = lookup_ok("QT_KEY", path);
	char *v2 = lookup_ok("QT_OTHER", "environment");
	free(v1);
	free(v2);

	char buf[256];
	snprintf(buf, sizeof(buf), "%s",
		 "auth sk-ABCDEFGHIJKLMNOP failed; retry with sk-ABCDEFGHIJKLMNOP (tok_zz)tok_zz");
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf,
			    "auth [redacted] failed; retry with [redacted] ([redacted])[redacted]");

	/* Part of a key, from 8 characters on, is redacted too, in any letter case: servers
	 * echo keys cut at a snippet limit, or lower-cased. */
	snprintf(buf, sizeof(buf), "%s",
		 "key 'sk-ABCDEFGHIJ...' is invalid; got sk-abcdefghijklmnop; tail GHIJKLMNOP.");
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf,
			    "key '[redacted]...' is invalid; got [redacted]; tail [redacted].");

	/* Fewer than 8 characters of a long key, or part of a short one, are left alone. */
	snprintf(buf, sizeof(buf), "%s", "sk-ABCD and tok_z are fine");
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf, "sk-ABCD and tok_z are fine");
}

/* One mark per run, never a character per character of the key (that would tell its
 * length). */
static void test_redact_never_reveals_length(void **state)
{
	(void)state;
	quire_secret_register("sk-0123456789abcdefghijklmnopqrstuvwxyz");
	char buf[128] = "bad key sk-0123456789abcdefghijklmnopqrstuvwxyz!";
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf, "bad key [redacted]!");
	assert_null(strchr(buf, '*'));
}

static void test_redact_tight_cap_cuts_off(void **state)
{
	(void)state;
	quire_secret_register("pw42");
	/* No room for a mark: the text is cut off before the secret, never shown. */
	char tight[] = "a pw42 b pw42";
	quire_secret_redact(tight, sizeof(tight));
	assert_string_equal(tight, "a [redacted] ");
	char none[] = "pw42";
	quire_secret_redact(none, sizeof(none));
	assert_string_equal(none, "");

	/* Room for exactly one mark: the second occurrence and what follows are dropped. */
	char room[9 + 6 + 1 + 6] = "pw42 pw42";
	quire_secret_redact(room, 9 + 1 + 6);
	assert_string_equal(room, "[redacted] ");
	assert_null(strstr(room, "pw42"));
}

static void test_short_values_not_registered(void **state)
{
	(void)state;
	quire_secret_register("abc");
	quire_secret_register("");
	quire_secret_register(NULL);
	assert_int_equal(setenv("QT_KEY", "xyz", 1), 0);
	char *v = lookup_ok("QT_KEY", "environment");
	assert_string_equal(v, "xyz");
	free(v);
	char buf[64] = "abc xyz abcxyz";
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf, "abc xyz abcxyz");
	/* Four bytes is enough. */
	quire_secret_register("wxyz");
	snprintf(buf, sizeof(buf), "%s", "abc wxyz");
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf, "abc [redacted]");
}

/* A secret that occurs in the mark itself is redacted once, not forever. */
static void test_redact_secret_inside_mark(void **state)
{
	(void)state;
	quire_secret_register("redacted");
	char buf[128] = "password: redacted.";
	quire_secret_redact(buf, sizeof(buf));
	assert_string_equal(buf, "password: [redacted].");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_environment_wins_over_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_name_and_missing_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_secrets_file_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_world_readable_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redact_after_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redact_tight_cap_cuts_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redact_never_reveals_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_values_not_registered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_repeated_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redact_secret_inside_mark, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
