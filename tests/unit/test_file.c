/*
 * Files an operator names (platform/linux/file.c): only a regular file of
 * bounded size is read, nothing is opened that could block or act on
 * open, and a trusted file comes from a place only root or nxd's uid can
 * write. Also the ELF section reader plugins are checked with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nx/nx_stage.h>

#include "platform/nx_platform.h"

static char dir[256]; /* private: mode 0700, ours */

static void
pjoin(char *out, size_t len, const char *a, const char *b)
{
	if (strlen(a) + 1 + strlen(b) >= len)
		fail_msg("path too long");
	strcpy(out, a);
	strcat(out, "/");
	strcat(out, b);
}

static void
path_in(char *out, size_t len, const char *name)
{
	pjoin(out, len, dir, name);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/nxt-file-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	/* a file that blocks would hang the test: make it fail instead */
	alarm(60);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	alarm(0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
on_key(void *user, const char *section, const char *key, const char *value)
{
	unsigned *n = user;

	(void)section;
	(void)key;
	(void)value;
	(*n)++;
	return 0;
}

static void
test_a_regular_file_is_read_whole(void **state)
{
	char p[PATH_MAX], *text;
	size_t len;
	unsigned n = 0;

	(void)state;
	path_in(p, sizeof p, "a.ini");
	write_file(p, "[nxd]\nworkers = 1\nidle = sleep\n", 0644);
	assert_int_equal(nx__file_read(p, NX_FILE_TRUSTED, 1 << 20, "config", &text, &len), 0);
	assert_int_equal(len, 31);
	assert_string_equal(text, "[nxd]\nworkers = 1\nidle = sleep\n");
	free(text);
	assert_int_equal(nx__conf_parse(p, NX_FILE_TRUSTED, on_key, &n), 0);
	assert_int_equal(n, 2);
}

static void
expect(const char *path, uint32_t trust, int code, const char *says)
{
	char *text = NULL;
	size_t len;
	int rc = nx__file_read(path, trust, 1 << 20, "config", &text, &len);

	free(text);
	if (rc != code || strstr(nx__errmsg(), says) == NULL)
		fail_msg("%s: %d '%s', want %d and '%s'", path, rc, nx__errmsg(), code, says);
}

static void
test_what_is_not_a_regular_file_is_refused_without_blocking(void **state)
{
	char fifo[PATH_MAX], sub[PATH_MAX], sock[PATH_MAX], link[PATH_MAX], loop[PATH_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	(void)state;
	/* a FIFO nobody writes: opening it for reading would wait forever */
	path_in(fifo, sizeof fifo, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	expect(fifo, NX_FILE_ANY, NX_EINVAL, "is a FIFO");
	expect(fifo, NX_FILE_TRUSTED, NX_EINVAL, "is a FIFO");
	/* endless, or acting on open */
	expect("/dev/zero", NX_FILE_ANY, NX_EINVAL, "is a character device");
	expect("/dev/null", NX_FILE_ANY, NX_EINVAL, "is a character device");
	expect("/dev/stdin", NX_FILE_ANY, NX_EINVAL, "");
	expect("/proc/self/mem", NX_FILE_ANY, 0, ""); /* "regular", 0 bytes: read as such */
	/* a directory, a socket */
	path_in(sub, sizeof sub, "sub");
	assert_int_equal(mkdir(sub, 0700), 0);
	expect(sub, NX_FILE_ANY, NX_EINVAL, "is a directory");
	expect("/", NX_FILE_ANY, NX_EINVAL, "is a directory");
	path_in(sock, sizeof sock, "sock");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(strlen(sock) < sizeof sa.sun_path);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	expect(sock, NX_FILE_ANY, NX_EINVAL, "is a socket");
	close(s);
	/* a symbolic link to the FIFO, a loop, nothing */
	path_in(link, sizeof link, "to-fifo");
	assert_int_equal(symlink(fifo, link), 0);
	expect(link, NX_FILE_ANY, NX_EINVAL, "is a FIFO");
	path_in(loop, sizeof loop, "loop");
	assert_int_equal(symlink(loop, loop), 0);
	expect(loop, NX_FILE_ANY, NX_EINVAL, "too many symbolic links");
	expect("/nonexistent/nx.ini", NX_FILE_ANY, NX_ENOENT, "/nonexistent/nx.ini");
	{
		char slash[PATH_MAX], reg[PATH_MAX];

		path_in(reg, sizeof reg, "reg.ini");
		write_file(reg, "x = 1\n", 0644);
		pjoin(slash, sizeof slash, reg, "");
		expect(slash, NX_FILE_ANY, NX_ENOENT, "not a directory"); /* "file/" */
		expect(reg, NX_FILE_ANY, 0, "");
	}
	expect("", NX_FILE_ANY, NX_EINVAL, "no file named");
}

static void
test_a_file_past_the_bound_is_refused_before_it_is_read(void **state)
{
	char p[PATH_MAX];
	int fd;

	(void)state;
	path_in(p, sizeof p, "huge.ini");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1ll << 40), 0); /* sparse: a terabyte */
	close(fd);
	expect(p, NX_FILE_ANY, NX_E2BIG, "more than");
	assert_int_equal(nx__conf_parse(p, NX_FILE_ANY, on_key, &(unsigned){ 0 }), NX_E2BIG);
	/* NUL bytes: not a configuration */
	fd = open(p, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "[nxd]\0x = 1\n", 12), 12);
	close(fd);
	assert_int_equal(nx__conf_parse(p, NX_FILE_ANY, on_key, &(unsigned){ 0 }), NX_EINVAL);
	assert_non_null(strstr(nx__errmsg(), "NUL byte"));
}

static void
test_a_trusted_file_is_writable_only_by_root_or_us(void **state)
{
	char p[PATH_MAX], open_dir[PATH_MAX], q[PATH_MAX], sticky[PATH_MAX], inner[PATH_MAX];
	char r[PATH_MAX], link[PATH_MAX];

	(void)state;
	path_in(p, sizeof p, "others.ini");
	write_file(p, "[nxd]\n", 0646);
	expect(p, NX_FILE_ANY, 0, "");
	expect(p, NX_FILE_TRUSTED, NX_EPERM, "writable by others");
	assert_int_equal(chmod(p, 0660), 0);
	expect(p, NX_FILE_TRUSTED, NX_EPERM, "writable by its group");
	assert_int_equal(chmod(p, 0644), 0);
	expect(p, NX_FILE_TRUSTED, 0, "");

	/* in a directory others may write, even a sticky one */
	path_in(open_dir, sizeof open_dir, "open");
	assert_int_equal(mkdir(open_dir, 0700), 0);
	assert_int_equal(chmod(open_dir, 01777), 0);
	pjoin(q, sizeof q, open_dir, "x.ini");
	write_file(q, "[nxd]\n", 0644);
	expect(q, NX_FILE_TRUSTED, NX_EPERM, "is writable by others");
	expect(q, NX_FILE_ANY, 0, "");
	/* under a sticky one, in a directory of ours: fine (as under /tmp) */
	path_in(sticky, sizeof sticky, "sticky");
	assert_int_equal(mkdir(sticky, 0700), 0);
	assert_int_equal(chmod(sticky, 01777), 0);
	pjoin(inner, sizeof inner, sticky, "ours");
	assert_int_equal(mkdir(inner, 0755), 0);
	pjoin(r, sizeof r, inner, "y.ini");
	write_file(r, "[nxd]\n", 0644);
	expect(r, NX_FILE_TRUSTED, 0, "");
	/* under one others may write, not sticky: refused */
	assert_int_equal(chmod(sticky, 0777), 0);
	expect(r, NX_FILE_TRUSTED, NX_EPERM, "is writable by others");
	assert_int_equal(chmod(sticky, 0755), 0);
	/* a symbolic link in a directory others may write is not followed */
	pjoin(link, sizeof link, open_dir, "link.ini");
	assert_int_equal(symlink(p, link), 0);
	expect(link, NX_FILE_TRUSTED, NX_EPERM, "writable by others");

	/* owned by someone else (root can make that so) */
	if (geteuid() == 0) {
		assert_int_equal(chown(p, 65534, 65534), 0);
		expect(p, NX_FILE_TRUSTED, NX_EPERM, "belongs to uid 65534");
		assert_int_equal(chown(p, 0, 0), 0);
		expect(p, NX_FILE_TRUSTED, 0, "");
		assert_int_equal(chown(inner, 65534, 65534), 0);
		expect(r, NX_FILE_TRUSTED, NX_EPERM, "belongs to uid 65534");
		assert_int_equal(chown(inner, 0, 0), 0);
		assert_int_equal(lchown(link, 65534, 65534), 0);
		assert_int_equal(chmod(open_dir, 0755), 0);
		expect(link, NX_FILE_TRUSTED, NX_EPERM, "symbolic link");
	} else {
		print_message("not root: the other-owner cases are skipped\n");
	}
}

static void
test_a_relative_path_is_walked_from_the_current_directory(void **state)
{
	char p[PATH_MAX], cwd[PATH_MAX], *text;
	size_t len;

	(void)state;
	path_in(p, sizeof p, "rel.ini");
	write_file(p, "x = 1\n", 0644);
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(nx__file_read("./rel.ini", NX_FILE_TRUSTED, 100, "config", &text, &len), 0);
	free(text);
	assert_int_equal(nx__file_read("../" "nonexistent", NX_FILE_ANY, 100, "config", &text, &len),
			 NX_ENOENT);
	assert_int_equal(chdir(cwd), 0);
}

static void
test_the_plugin_section_is_read_without_loading_anything(void **state)
{
	const char *tests = getenv("NX_TESTS");
	char plugin[PATH_MAX], p[PATH_MAX];
	struct nx_plugin_mark mark;
	size_t len;
	int fd;

	(void)state;
	/* not ELF at all */
	path_in(p, sizeof p, "text.so");
	write_file(p, "not an ELF file\n", 0644);
	fd = open(p, O_RDONLY);
	assert_int_equal(nx__elf_section(fd, NX_PLUGIN_SECTION, &mark, sizeof mark, &len), NX_EINVAL);
	close(fd);
	if (tests == NULL) {
		print_message("NX_TESTS not set: the plugin cases are skipped\n");
		return;
	}
	/* a shared object without the section */
	pjoin(plugin, sizeof plugin, tests, "plugins/nosymbol.so");
	fd = open(plugin, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(nx__elf_section(fd, NX_PLUGIN_SECTION, &mark, sizeof mark, &len), NX_ENOENT);
	close(fd);
	pjoin(plugin, sizeof plugin, tests, "plugins/versioned.so");
	fd = open(plugin, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(nx__elf_section(fd, NX_PLUGIN_SECTION, &mark, sizeof mark, &len), 0);
	assert_int_equal(len, sizeof mark);
	assert_memory_equal(mark.magic, NX_PLUGIN_MAGIC, 8);
	assert_int_equal(mark.abi, NX_STAGE_ABI);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_regular_file_is_read_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_what_is_not_a_regular_file_is_refused_without_blocking,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_file_past_the_bound_is_refused_before_it_is_read,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_trusted_file_is_writable_only_by_root_or_us, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_relative_path_is_walked_from_the_current_directory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_plugin_section_is_read_without_loading_anything,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("file", tests, NULL, NULL);
}
