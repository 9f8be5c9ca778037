/*
 * nxd's settings: the same keys from the command line and the config
 * file, each bad value refused with a message that names it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nxd.h"

static void
test_keys_take_dashes_or_underscores_and_size_suffixes(void **state)
{
	struct nx_instance_conf c;

	(void)state;
	nx__instance_conf_default(&c);
	assert_int_equal(nx__instance_conf_set(&c, "max-channels", "128"), 0);
	assert_int_equal(c.max_channels, 128);
	assert_int_equal(nx__instance_conf_set(&c, "max_channels", "7"), 0);
	assert_int_equal(c.max_channels, 7);
	assert_int_equal(nx__instance_conf_set(&c, "arena", "2m"), 0);
	assert_int_equal(c.arena_bytes, 2 * 1024 * 1024);
	assert_int_equal(nx__instance_conf_set(&c, "max-payload", "32k"), 0);
	assert_int_equal(c.max_payload, 32 * 1024);
	assert_int_equal(nx__instance_conf_set(&c, "ring_size", "1024"), 0);
	assert_int_equal(c.ring_size, 1024);
	assert_int_equal(nx__instance_conf_set(&c, "cpus", "2-3,5"), 0);
	assert_int_equal(c.ncpus, 3);
	assert_int_equal(c.cpus[2], 5);
	assert_int_equal(nx__instance_conf_set(&c, "idle", "sleep"), 0);
	assert_int_equal(c.idle, NX_WAIT_SLEEP);
	assert_int_equal(nx__instance_conf_set(&c, "keep", NULL), 0); /* a bare flag */
	assert_true(c.keep);
	assert_int_equal(nx__instance_conf_set(&c, "keep", "no"), 0);
	assert_false(c.keep);
	assert_int_equal(nx__instance_conf_set(&c, "instance", "prod-1"), 0);
	assert_string_equal(c.instance, "prod-1");
}

static void
test_bad_values_are_refused_naming_the_key(void **state)
{
	static const struct {
		const char *key, *value, *says;
	} bad[] = {
		{ "ring_size", "100", "not a power of two" },
		{ "ring_size", "4", "out of range" },
		{ "max_channels", "0", "out of range" },
		{ "max_channels", "-3", "expected a number" },
		{ "max_channels", "12abc", "trailing characters" },
		{ "workers", "many", "expected a number" },
		{ "idle", "nap", "expected spin or sleep" },
		{ "keep", "maybe", "expected yes or no" },
		{ "instance", "a/b", "not allowed" },
		{ "cpus", "3-1", "cpus" },
		{ "cpus", "", "empty" },
		{ "rt_prio", "100", "out of range" },
		{ "arena", "99g", "out of range" },
		{ "colour", "blue", "unknown setting 'colour'" },
	};
	struct nx_instance_conf c;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		nx__instance_conf_default(&c);
		assert_int_equal(nx__instance_conf_set(&c, bad[i].key, bad[i].value), NX_EINVAL);
		if (strstr(nx__errmsg(), bad[i].says) == NULL)
			fail_msg("%s = %s: message '%s' lacks '%s'", bad[i].key, bad[i].value,
				 nx__errmsg(), bad[i].says);
	}
}

static char path[64];

static void
write_file(const char *text)
{
	FILE *f;

	snprintf(path, sizeof path, "/tmp/nxt-conf-%d.ini", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
on_conf(void *user, const char *section, const char *key, const char *value)
{
	if (strcmp(section, "nxd") != 0)
		return 0;
	return nx__instance_conf_set(user, key, value);
}

static void
test_config_file_sets_the_same_keys(void **state)
{
	struct nx_instance_conf c;

	(void)state;
	write_file("# nexus\n[nxd]\ninstance = fromfile\nmax-channels = 16\nidle = sleep ; inline comment\n"
		   "\n[pipeline.other]\nstage = echo\n");
	nx__instance_conf_default(&c);
	assert_int_equal(nx__conf_parse(path, NX_FILE_ANY, on_conf, &c), 0);
	assert_string_equal(c.instance, "fromfile");
	assert_int_equal(c.max_channels, 16);
	assert_int_equal(c.idle, NX_WAIT_SLEEP);
	unlink(path);
}

static void
test_config_file_errors_name_file_and_line(void **state)
{
	struct nx_instance_conf c;
	char want[128];

	(void)state;
	write_file("[nxd]\nworkers = 1\n\nring_size = 77\n");
	nx__instance_conf_default(&c);
	assert_int_equal(nx__conf_parse(path, NX_FILE_ANY, on_conf, &c), NX_EINVAL);
	snprintf(want, sizeof want, "%s:4:", path);
	assert_non_null(strstr(nx__errmsg(), want));
	assert_non_null(strstr(nx__errmsg(), "ring_size = 77"));
	assert_non_null(strstr(nx__errmsg(), "power of two"));

	write_file("[nxd]\nthis is not ini\n");
	assert_int_equal(nx__conf_parse(path, NX_FILE_ANY, on_conf, &c), NX_EINVAL);
	snprintf(want, sizeof want, "%s:2: syntax error", path);
	assert_non_null(strstr(nx__errmsg(), want));
	unlink(path);

	assert_int_equal(nx__conf_parse("/nonexistent/nx.ini", NX_FILE_ANY, on_conf, &c), NX_ENOENT);
	assert_non_null(strstr(nx__errmsg(), "/nonexistent/nx.ini"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_take_dashes_or_underscores_and_size_suffixes),
		cmocka_unit_test(test_bad_values_are_refused_naming_the_key),
		cmocka_unit_test(test_config_file_sets_the_same_keys),
		cmocka_unit_test(test_config_file_errors_name_file_and_line),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
