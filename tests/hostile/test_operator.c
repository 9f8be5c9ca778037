/*
 * An operator who names every kind of wrong file, on a real nxd: configs
 * and plugins that are devices, FIFOs, directories, sockets, loops,
 * endless or huge, writable by others, libraries that are not plugins
 * (one whose constructor exits the process that loads it). Each is
 * refused with a message, changes nothing, and nxd keeps serving. And
 * what no operation of the control thread may do: wait unbounded. A
 * worker stuck in a stage does not hold attaches, detaches, nxctl or
 * SIGTERM; a stage whose init never returns does not hold SIGTERM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define _GNU_SOURCE 1
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "tests/integration/harness/harness.h"
#include "shm/shm_internal.h"

static char inst[64];
static struct nxt_nxd nxd = { .pid = -1 };
static unsigned tried; /* what the report says */

/* A configuration with one pipeline, vp: the slot every swap targets. */
static int
start_with(const char *const *extra)
{
	char conf[256];
	const char *argv[16] = { "--config", conf, "--idle", "sleep", "--stop-timeout", "3" };
	FILE *f;
	int n = 6;

	nxt_instance(inst, sizeof inst, "oper");
	nxt_tmpfile(conf, sizeof conf, "oper.ini");
	f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "[pipeline.vp]\ngraph = s\ns.stage = echo\n\n"
		   "[pipeline.stuck]\ngraph = s\ns.stage = spin\ns.plugin = %s\n",
		nxt_plugin_path("spin"));
	fclose(f);
	while (extra != NULL && *extra != NULL && n < 15)
		argv[n++] = *extra++;
	argv[n] = NULL;
	return nxt_nxd_start(&nxd, inst, argv);
}

static int
setup(void **state)
{
	(void)state;
	return start_with(NULL);
}

static int
teardown(void **state)
{
	if (nxd.pid > 0)
		nxt_nxd_kill(&nxd);
	nxd.pid = -1;
	return nxt_teardown(state);
}

/* nxd still serves: nxctl answers, a client attaches and is echoed. */
static void
assert_serving(void)
{
	struct nx_client *c;
	char out[16];
	uint32_t len;
	int rc = nxt_ctl(inst, NULL, 0, "list", NULL);

	if (rc != 0)
		fail_msg("nxctl list: %s", nx_strerror(rc));
	assert_int_equal(nxt_open(&c, inst), 0);
	assert_int_equal(nx_call(c, (uint16_t)nx_pipeline_id(c, "vp"), "still", 5, out, sizeof out,
				 &len, nxt_patience_ns()), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "still", 5);
	nx_close(c);
}

/* The vp/s slot's stage version in the health segment: changes if a swap took. */
static uint64_t
vp_version(void)
{
	struct nx_health_view hv;
	uint64_t v = 0;
	uint32_t i;

	if (nx__health_map_ro(&hv, inst) != 0)
		return 0;
	for (i = 0; i < hv.max_slots; i++)
		if (nx__load32(&hv.slots[i].state) && strcmp(hv.slots[i].pipe, "vp") == 0)
			v = nx__load64(&hv.slots[i].version);
	nx__health_unmap(&hv);
	return v;
}

static void
refused(const char *what, const char *path, const char *says, ...)
{
	uint64_t before = vp_version();
	char *text = NULL;
	int rc;
	va_list ap;
	const char *a[8];
	int n = 0;

	va_start(ap, says);
	while (n < 8 && (a[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	if (n == 4)
		rc = nxt_ctl(inst, &text, 0, a[0], a[1], a[2], a[3], NULL);
	else
		rc = nxt_ctl(inst, &text, 0, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
	tried++;
	if (rc >= 0 || text == NULL || strstr(text, says) == NULL ||
	    strstr(text, "nothing changed") == NULL)
		fail_msg("%s %s: status %d, '%s': wanted a refusal saying '%s'", what, path, rc,
			 text != NULL ? text : nx__errmsg(), says);
	print_message("  %-10s %-44.44s refused: %s\n", what, path, text);
	free(text);
	assert_int_equal(vp_version(), before);
	assert_serving();
}

static void
config_refused(const char *path, const char *says)
{
	refused("config", path, says, "swap-pipeline", "vp", "--config", path, NULL);
}

static void
plugin_refused(const char *path, const char *says)
{
	refused("plugin", path, says, "swap", "vp", "s", "echo", "--plugin", path, NULL);
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_int_equal(chmod(to, mode), 0);
}

static void
test_every_kind_of_wrong_config_is_refused_and_changes_nothing(void **state)
{
	char fifo[256], dir[256], sock[256], loop[256], tozero[256], huge[256], nul[256],
		open_mode[256], nosect[256], garbage[256], longline[256], bad_graph[256];
	char in_tmp[] = "/tmp/nxt-oper-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char big[200000];
	int fd, s;

	(void)state;
	tried = 0;
	config_refused("/dev/zero", "is a character device");
	config_refused("/dev/urandom", "is a character device");
	config_refused("/dev/stdin", "");
	nxt_tmpfile(fifo, sizeof fifo, "fifo.ini");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	config_refused(fifo, "is a FIFO"); /* nobody writes it: reading would wait forever */
	nxt_tmpfile(dir, sizeof dir, "dir.ini");
	assert_int_equal(mkdir(dir, 0755), 0);
	config_refused(dir, "is a directory");
	nxt_tmpfile(sock, sizeof sock, "sock.ini");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	config_refused(sock, "is a socket");
	close(s);
	nxt_tmpfile(loop, sizeof loop, "loop.ini");
	assert_int_equal(symlink(loop, loop), 0);
	config_refused(loop, "too many symbolic links");
	nxt_tmpfile(tozero, sizeof tozero, "zero.ini");
	assert_int_equal(symlink("/dev/zero", tozero), 0);
	config_refused(tozero, "is a character device");
	config_refused("/nonexistent/dir/x.ini", "No such file");
	nxt_tmpfile(huge, sizeof huge, "huge.ini");
	fd = open(huge, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(ftruncate(fd, 1ll << 40), 0); /* a sparse terabyte */
	close(fd);
	config_refused(huge, "more than");
	nxt_tmpfile(nul, sizeof nul, "nul.ini");
	write_file(nul, "[pipeline.vp]\0graph = s\n", 24, 0644);
	config_refused(nul, "NUL byte");
	nxt_tmpfile(open_mode, sizeof open_mode, "others.ini");
	write_file(open_mode, "[pipeline.vp]\ngraph = echo\n", 27, 0666);
	config_refused(open_mode, "writable by others");
	fd = mkstemp(in_tmp); /* straight in /tmp: anyone may replace what is there */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[pipeline.vp]\ngraph = echo\n", 27), 27);
	close(fd);
	config_refused(in_tmp, "writable by others");
	if (geteuid() == 0) {
		assert_int_equal(chmod(open_mode, 0644), 0);
		assert_int_equal(chown(open_mode, 65534, 65534), 0);
		config_refused(open_mode, "belongs to uid 65534");
	}
	unlink(in_tmp);
	config_refused("/proc/self/status", "no [pipeline.vp] section"); /* "regular", 0 bytes */
	nxt_tmpfile(nosect, sizeof nosect, "nosect.ini");
	write_file(nosect, "[pipeline.other]\ngraph = echo\n", 30, 0644);
	config_refused(nosect, "no [pipeline.vp] section");
	nxt_tmpfile(garbage, sizeof garbage, "garbage.ini");
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(1 + (i * 7919) % 255); /* no NUL */
	write_file(garbage, big, sizeof big, 0644);
	config_refused(garbage, "");
	nxt_tmpfile(longline, sizeof longline, "long.ini");
	memcpy(big, "[pipeline.vp]\ngraph = ", 22);
	for (size_t i = 22; i < sizeof big - 1; i++)
		big[i] = "seq("[i % 4];
	big[sizeof big - 1] = '\n';
	write_file(longline, big, sizeof big, 0644);
	config_refused(longline, "");
	nxt_tmpfile(bad_graph, sizeof bad_graph, "bad.ini");
	write_file(bad_graph, "[pipeline.vp]\ngraph = seq(a,\n", 29, 0644);
	config_refused(bad_graph, "");
	print_message("%u wrong configuration files refused; nxd served after each\n", tried);
}

/* The path of a library this process has loaded whose name has want. */
struct find {
	const char *want;
	char path[256];
};

static int
find_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;

	(void)size;
	if (info->dlpi_name != NULL && strstr(info->dlpi_name, f->want) != NULL) {
		snprintf(f->path, sizeof f->path, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

static void
test_every_kind_of_wrong_plugin_is_refused_before_any_of_it_runs(void **state)
{
	char fifo[256], text[256], dir[256], loose[300], copy[256], link[256], theirs[300];
	struct find libc = { .want = "libc.so" };
	char *out;

	(void)state;
	tried = 0;
	/* libraries that are not plugins: nothing of them may run (this one's
	 * constructor exits the process that loads it, with status 77) */
	plugin_refused(nxt_plugin_path("notplugin"), "nothing of it was run");
	plugin_refused(nxt_plugin_path("nosymbol"), "is not a nexus plugin");
	dl_iterate_phdr(find_lib, &libc);
	if (libc.path[0] == '/')
		plugin_refused(libc.path, "is not a nexus plugin");
	plugin_refused(nxt_bin("nxd"), "is not a nexus plugin");
	plugin_refused(nxt_plugin_path("wrongabi"), "built for stage ABI");
	plugin_refused(nxt_plugin_path("marknosym"), "exports no 'nx_plugin' symbol");
	plugin_refused("/dev/zero", "is a character device");
	nxt_tmpfile(fifo, sizeof fifo, "fifo.so");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	plugin_refused(fifo, "is a FIFO");
	nxt_tmpfile(text, sizeof text, "text.so");
	write_file(text, "#!/bin/sh\nexit 0\n", 17, 0755);
	plugin_refused(text, "not an ELF file");
	plugin_refused("/nonexistent/x.so", "No such file");
	/* a real plugin from a place others can write, or writable itself */
	nxt_tmpfile(dir, sizeof dir, "open");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(loose, sizeof loose, "%s/spin.so", dir);
	copy_file(nxt_plugin_path("spin"), loose, 0755);
	plugin_refused(loose, "is writable by others");
	nxt_tmpfile(copy, sizeof copy, "spin.so");
	copy_file(nxt_plugin_path("spin"), copy, 0757);
	plugin_refused(copy, "writable by others");
	nxt_tmpfile(link, sizeof link, "link.so");
	snprintf(theirs, sizeof theirs, "%s/notplugin.so", dir);
	copy_file(nxt_plugin_path("notplugin"), theirs, 0755);
	assert_int_equal(symlink(theirs, link), 0);
	plugin_refused(link, "writable by others");
	if (geteuid() == 0) {
		assert_int_equal(chmod(copy, 0755), 0);
		assert_int_equal(chown(copy, 65534, 65534), 0);
		plugin_refused(copy, "belongs to uid 65534");
		assert_int_equal(chown(copy, 0, 0), 0);
	}
	/* and the same plugin from a trusted place: taken */
	assert_int_equal(chmod(copy, 0755), 0);
	if (nxt_ctl(inst, &out, 0, "swap", "vp", "s", "spin", "--plugin", copy, NULL) != 0)
		fail_msg("a trusted plugin was refused: %s", out);
	free(out);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "rollback", "vp", "s", NULL), 0);
	assert_serving();
	print_message("%u wrong plugins refused without loading them; nxd served after each\n",
		      tried);
}

static void
test_plugins_come_only_from_the_allowed_directories(void **state)
{
	char copy[256], dirs[512];
	const char *extra[] = { "--plugin-dirs", dirs, NULL };
	char *out;

	(void)state;
	nxt_nxd_kill(&nxd);
	{
		char real[PATH_MAX];

		assert_non_null(realpath(nxt_plugin_path("spin"), real));
		*strrchr(real, '/') = '\0'; /* the plugins' directory */
		assert_true(strlen(real) < sizeof dirs - 20);
		strcpy(dirs, "/nonexistent:");
		strcat(dirs, real);
	}
	assert_int_equal(start_with(extra), 0);
	if (nxt_ctl(inst, &out, 0, "swap", "vp", "s", "spin", "--plugin", nxt_plugin_path("spin"),
		    NULL) != 0)
		fail_msg("a plugin in plugin_dirs was refused: %s", out);
	free(out);
	nxt_tmpfile(copy, sizeof copy, "spin.so");
	copy_file(nxt_plugin_path("spin"), copy, 0755);
	refused("plugin", copy, "not in an allowed plugin directory", "swap", "vp", "s", "spin",
		"--plugin", copy, NULL);
}

static void
test_nxd_refuses_a_config_that_is_not_a_regular_file_at_once(void **state)
{
	static const char *const bad[] = { "/dev/zero", "/dev/urandom", NULL /* a FIFO */, "/" };
	char fifo[256], name[64];
	unsigned i;

	(void)state;
	nxt_tmpfile(fifo, sizeof fifo, "start.fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *path = bad[i] != NULL ? bad[i] : fifo;
		const char *argv[] = { "--config", path, NULL };
		struct nxt_nxd d;
		FILE *f;
		char line[512] = "";

		nxt_instance(name, sizeof name, "cfg");
		nxt_nxd_spawn(&d, name, argv);
		assert_int_equal(nxt_wait(d.pid, nxt_patience_ns()), 2);
		f = fopen(d.log, "r");
		assert_non_null(f);
		if (fgets(line, sizeof line, f) == NULL)
			line[0] = '\0';
		fclose(f);
		if (strstr(line, "only a regular file is read") == NULL &&
		    strstr(line, "is a directory") == NULL)
			fail_msg("nxd --config %s: '%s'", path, line);
		print_message("  nxd --config %-20s exit 2: %s", path, line);
	}
}

/* A child that runs one nxctl command and exits: the test must not block. */
static pid_t
ctl_child(const char *const *args)
{
	pid_t pid = nxt_fork();

	if (pid == 0) {
		char *text = NULL;

		if (args[4] != NULL)
			nxt_ctl(inst, &text, 0, args[0], args[1], args[2], args[3], args[4], args[5],
				args[6], args[7], NULL);
		else
			nxt_ctl(inst, &text, 0, args[0], args[1], args[2], args[3], NULL);
		_exit(0);
	}
	return pid;
}

static void
test_sigterm_stops_nxd_while_a_stage_init_never_returns(void **state)
{
	char mark[256], arg[300];
	const char *args[] = { "swap", "vp", "s", "hanginit", "--plugin", nxt_plugin_path("hang"),
			       "--set", arg, NULL };
	pid_t ctl;
	int st;

	(void)state;
	nxt_tmpfile(mark, sizeof mark, "in-init");
	snprintf(arg, sizeof arg, "mark=%s", mark);
	ctl = ctl_child(args);
	/* the control thread is inside the stage's init, for good */
	assert_true(NXT_WAIT_UNTIL(access(mark, F_OK) == 0, nxt_patience_ns()));
	assert_int_equal(kill(nxd.pid, SIGTERM), 0);
	st = nxt_wait(nxd.pid, nxt_patience_ns());
	nxd.pid = -1;
	assert_int_equal(st, 1);
	assert_true(nxt_file_says(nxd.log, "not stopped within stop_timeout"));
	assert_true(nxt_file_says(nxd.log, "an nxctl command"));
	assert_true(nxt_segments_gone(inst));
	nxt_wait(ctl, nxt_patience_ns());
	print_message("SIGTERM with the control thread stuck in init: exit 1 within the stop "
		      "timeout, segments removed\n");
}

/* Send "spin..." on the stuck pipeline from a child: its worker never returns. */
static pid_t
stick_the_worker(void)
{
	pid_t pid = nxt_fork();

	if (pid == 0) {
		struct nx_client *c;
		char out[16];
		uint32_t len;

		if (nxt_open(&c, inst) != 0)
			_exit(10);
		nx_call(c, (uint16_t)nx_pipeline_id(c, "stuck"), "spin!", 5, out, sizeof out, &len,
			UINT64_MAX / 2);
		_exit(0);
	}
	return pid;
}

/* The worker is in a request and has not come back for 2 s: a sleeping
 * worker beats every 20 ms, a running one every 1 ms. */
static bool
worker_stuck(void)
{
	struct nx_health_view hv;
	uint64_t hb;

	if (nx__health_map_ro(&hv, inst) != 0)
		return false;
	hb = nx__load64(&hv.workers[0].heartbeat_ns);
	nx__health_unmap(&hv);
	return hb != 0 && nx__clock_ns() - hb > 2000000000ull;
}

static void
test_a_stuck_worker_holds_neither_the_control_thread_nor_sigterm(void **state)
{
	unsigned i, attached = 0, busy = 0, swapped = 0, swap_busy = 0;
	int st;

	(void)state;
	stick_the_worker();
	assert_true(NXT_WAIT_UNTIL(worker_stuck(), nxt_patience_ns()));
	/* Grace periods cannot end now. Clients come and go, and swaps are
	 * asked for, far past the queues of what waits for one: each is done
	 * or refused ("retry"), and nxctl answers all along. */
	for (i = 0; i < 100; i++) {
		struct nx_client *c;
		int rc = nxt_open(&c, inst);

		if (rc == 0) {
			attached++;
			nx_close(c);
		} else if (rc == NX_EBUSY) {
			busy++;
		} else {
			fail_msg("attach %u: %s", i, nx_errmsg());
		}
		rc = nxt_ctl(inst, NULL, 0, "swap", "vp", "s", "echo", NULL);
		if (rc == 0)
			swapped++;
		else if (rc == NX_EBUSY)
			swap_busy++;
		else
			fail_msg("swap %u: %s", i, nx_strerror(rc));
		assert_int_equal(nxt_ctl(inst, NULL, 0, "list", NULL), 0);
	}
	assert_true(busy > 0 && swap_busy > 0); /* the queues did fill: nothing waited */
	print_message("worker stuck: %u attaches done, %u refused (busy); %u swaps done, %u "
		      "refused; nxctl answered every time\n", attached, busy, swapped, swap_busy);
	assert_int_equal(kill(nxd.pid, SIGTERM), 0);
	st = nxt_wait(nxd.pid, nxt_patience_ns());
	nxd.pid = -1;
	assert_int_equal(st, 1);
	assert_true(nxt_file_says(nxd.log, "stopping the workers"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_every_kind_of_wrong_config_is_refused_and_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_every_kind_of_wrong_plugin_is_refused_before_any_of_it_runs, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_plugins_come_only_from_the_allowed_directories,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_nxd_refuses_a_config_that_is_not_a_regular_file_at_once, NULL,
			nxt_teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_stops_nxd_while_a_stage_init_never_returns,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_stuck_worker_holds_neither_the_control_thread_nor_sigterm, setup,
			teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hostile operator", tests, NULL, NULL);
}
