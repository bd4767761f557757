/* Unit tests for the provider registry (quire/provider.h): ABI checks, plugins, programs. */
#include "testutil.h"

#include <limits.h>

#include "builtin.h"
#include "quire/error.h"
#include "quire/provider.h"

static int fake_produce(void *ctx, const struct quire_provider_request *rq,
			struct quire_provider_response *rs)
{
	(void)ctx;
	(void)rq;
	(void)rs;
	return 0;
}

static const struct quire_provider fake_one = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "fake-one",
	.produce = fake_produce,
};

static const struct quire_provider fake_one_again = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "fake-one",
	.flags = QUIRE_PROVIDER_THREADSAFE,
	.produce = fake_produce,
};

static const struct quire_provider fake_future = {
	.abi = QUIRE_PROVIDER_ABI + 1,
	.name = "fake-future",
	.produce = fake_produce,
};

static const struct quire_provider fake_lazy = {
	.abi = QUIRE_PROVIDER_ABI,
	.name = "fake-lazy",
};

static const struct quire_provider fake_nameless = {
	.abi = QUIRE_PROVIDER_ABI,
	.produce = fake_produce,
};

static char *saved_path;

static int setup(void **state)
{
	tu_setup_tmpdir(state);
	saved_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	unsetenv("QUIRE_PLUGIN_PATH");
	return 0;
}

static int teardown(void **state)
{
	setenv("PATH", saved_path, 1);
	free(saved_path);
	unsetenv("QUIRE_PLUGIN_PATH");
	quire_provider_set_external(NULL);
	return tu_teardown_tmpdir(state);
}

static void assert_contains(const char *s, const char *part)
{
	if (!s || !strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s ? s : "(null)", part);
}

/* The build directory holding the test plugins (set by tests/meson.build). */
static const char *plugin_dir(void)
{
	const char *d = getenv("QUIRE_TEST_PLUGINS");
	if (!d || !*d)
		fail_msg("QUIRE_TEST_PLUGINS is not set");
	return d;
}

/* Writes an executable (or not) dir/name. */
static void write_program(const char *dir, const char *name, mode_t mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tu_write(dir, name, "#!/bin/sh\nexit 0\n");
	assert_int_equal(chmod(path, mode), 0);
}

static const struct quire_provider fake_abi2 = {
	.abi = QUIRE_PROVIDER_ABI_MIN,
	.name = "fake-abi2",
	.produce = fake_produce,
};

static void test_register_checks_abi(void **state)
{
	(void)state;
	/* A module built for the oldest version still spoken loads. */
	assert_int_equal(quire_provider_register(&fake_abi2), 0);
	assert_ptr_equal(quire_provider_find("fake-abi2"), &fake_abi2);
	assert_int_equal(quire_provider_register(&fake_future), QUIRE_EINVALID);
	char want[128];
	snprintf(want, sizeof(want),
		 "provider 'fake-future' was built for ABI version %u, this quire speaks %u to %u",
		 QUIRE_PROVIDER_ABI + 1, QUIRE_PROVIDER_ABI_MIN, QUIRE_PROVIDER_ABI);
	assert_string_equal(quire_error_last(), want);
	assert_null(quire_provider_find("fake-future"));
}

static void test_register_needs_produce_and_name(void **state)
{
	(void)state;
	assert_int_equal(quire_provider_register(&fake_lazy), QUIRE_EINVALID);
	assert_contains(quire_error_last(), "produce");
	assert_null(quire_provider_find("fake-lazy"));
	assert_int_equal(quire_provider_register(&fake_nameless), QUIRE_EINVALID);
	assert_contains(quire_error_last(), "no name");
	assert_int_equal(quire_provider_register(NULL), QUIRE_EINVALID);
}

static void test_register_duplicate_name(void **state)
{
	(void)state;
	assert_int_equal(quire_provider_register(&fake_one), 0);
	assert_int_equal(quire_provider_register(&fake_one_again), QUIRE_EEXISTS);
	assert_string_equal(quire_error_last(), "provider 'fake-one' is already registered");
	/* The first registration stands. */
	assert_ptr_equal(quire_provider_find("fake-one"), &fake_one);
	char *names = quire_provider_names();
	assert_string_equal(names, "mock, fake-abi2, fake-one"); /* fake-abi2: the ABI test */
	free(names);
}

static void test_resolve_built_in(void **state)
{
	(void)state;
	const struct quire_provider *vt = NULL;
	char *program = (char *)1, *where = NULL;
	assert_int_equal(quire_provider_resolve("mock", &vt, &program, &where), 0);
	assert_ptr_equal(vt, &quire_provider_mock);
	assert_null(program);
	assert_string_equal(where, "built-in");
	free(where);
	/* where is optional. */
	vt = NULL;
	assert_int_equal(quire_provider_resolve("mock", &vt, &program, NULL), 0);
	assert_ptr_equal(vt, &quire_provider_mock);
}

static void test_resolve_module_on_plugin_path(void **state)
{
	char *dir = *state;
	char path[PATH_MAX], want[PATH_MAX];
	/* Empty and missing entries are skipped; the module wins over a program on PATH. */
	snprintf(path, sizeof(path), "%s/none::%s", dir, plugin_dir());
	assert_int_equal(setenv("QUIRE_PLUGIN_PATH", path, 1), 0);
	write_program(dir, "quire-provider-upper", 0755);
	snprintf(path, sizeof(path), "%s:%s", dir, saved_path);
	assert_int_equal(setenv("PATH", path, 1), 0);
	quire_provider_set_external(&quire_provider_external);

	const struct quire_provider *vt = NULL;
	char *program = (char *)1, *where = NULL;
	if (quire_provider_resolve("upper", &vt, &program, &where))
		fail_msg("resolve upper: %s", quire_error_last());
	assert_non_null(vt);
	assert_string_equal(vt->name, "upper");
	assert_int_equal(vt->abi, QUIRE_PROVIDER_ABI);
	assert_null(program);
	snprintf(want, sizeof(want), "%s/quire-provider-upper.so", plugin_dir());
	assert_string_equal(where, want);
	free(where);
	/* Now registered: found directly, still reported as coming from the module. */
	assert_ptr_equal(quire_provider_find("upper"), vt);
	const struct quire_provider *again = NULL;
	assert_int_equal(quire_provider_resolve("upper", &again, &program, &where), 0);
	assert_ptr_equal(again, vt);
	assert_string_equal(where, want);
	free(where);
	/* Plugins are not listed among the built-ins. */
	char *names = quire_provider_names();
	assert_null(strstr(names, "upper"));
	free(names);
}

static void test_resolve_module_old_abi_refused(void **state)
{
	(void)state;
	assert_int_equal(setenv("QUIRE_PLUGIN_PATH", plugin_dir(), 1), 0);
	const struct quire_provider *vt = (const struct quire_provider *)1;
	char *program = (char *)1, *where = (char *)1;
	assert_int_equal(quire_provider_resolve("oldabi", &vt, &program, &where), QUIRE_EINVALID);
	assert_null(vt);
	assert_null(program);
	assert_null(where);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "provider 'oldabi' in %s/quire-provider-oldabi.so was built for ABI version %u, "
		 "this quire speaks %u to %u",
		 plugin_dir(), QUIRE_PROVIDER_ABI + 97, QUIRE_PROVIDER_ABI_MIN, QUIRE_PROVIDER_ABI);
	assert_string_equal(quire_error_last(), want);
	assert_null(quire_provider_find("oldabi"));
}

static void test_resolve_module_without_that_provider(void **state)
{
	char *dir = *state;
	char cmd[PATH_MAX * 2 + 64];
	snprintf(cmd, sizeof(cmd), "cp '%s/quire-provider-upper.so' '%s/quire-provider-lower.so'",
		 plugin_dir(), dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(setenv("QUIRE_PLUGIN_PATH", dir, 1), 0);
	const struct quire_provider *vt = NULL;
	char *program = NULL, *where = NULL;
	assert_int_equal(quire_provider_resolve("lower", &vt, &program, &where), QUIRE_EINVALID);
	assert_null(vt);
	const char *msg = quire_error_last();
	assert_contains(msg, "quire-provider-lower.so");
	assert_contains(msg, "has no provider 'lower'");
	assert_contains(msg, QUIRE_PROVIDER_ENTRY);
}

static void test_resolve_external_program(void **state)
{
	char *dir = *state;
	char path[PATH_MAX], want[PATH_MAX];
	write_program(dir, "quire-provider-tts", 0755);
	write_program(dir, "quire-provider-notexec", 0644);
	snprintf(path, sizeof(path), "/nonexistent:%s:%s", dir, saved_path);
	assert_int_equal(setenv("PATH", path, 1), 0);
	snprintf(want, sizeof(want), "%s/quire-provider-tts", dir);

	/* Without an external adapter, programs are not looked for. */
	const struct quire_provider *vt = NULL;
	char *program = NULL, *where = NULL;
	assert_int_equal(quire_provider_resolve("tts", &vt, &program, &where), QUIRE_ENOTFOUND);

	quire_provider_set_external(&quire_provider_external);
	assert_int_equal(quire_provider_resolve("tts", &vt, &program, &where), 0);
	assert_ptr_equal(vt, &quire_provider_external);
	assert_string_equal(program, want);
	assert_string_equal(where, want);
	free(program);
	free(where);
	/* Programs are not registered: the name stays free. */
	assert_null(quire_provider_find("tts"));

	/* A file that is not executable does not count. */
	assert_int_equal(quire_provider_resolve("notexec", &vt, &program, &where), QUIRE_ENOTFOUND);
	assert_null(vt);
	assert_null(program);
}

static void test_resolve_unknown(void **state)
{
	(void)state;
	quire_provider_set_external(&quire_provider_external);
	assert_int_equal(setenv("QUIRE_PLUGIN_PATH", plugin_dir(), 1), 0);
	const struct quire_provider *vt = (const struct quire_provider *)1;
	char *program = (char *)1, *where = (char *)1;
	assert_int_equal(quire_provider_resolve("nosuchthing", &vt, &program, &where),
			 QUIRE_ENOTFOUND);
	assert_null(vt);
	assert_null(program);
	assert_null(where);
	const char *msg = quire_error_last();
	if (strncmp(msg, "no provider 'nosuchthing': ", 27) != 0)
		fail_msg("unexpected message '%s'", msg);
	assert_contains(msg, "not built in (mock");
	assert_contains(msg, "quire-provider-nosuchthing.so on QUIRE_PLUGIN_PATH");
	assert_contains(msg, QUIRE_PLUGINDIR);
	assert_contains(msg, "quire-provider-nosuchthing on PATH");
}

int main(void)
{
	assert_int_equal(quire_provider_register(&quire_provider_mock), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_checks_abi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_needs_produce_and_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_register_duplicate_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_built_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_module_on_plugin_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resolve_module_old_abi_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resolve_module_without_that_provider, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resolve_external_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_unknown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
