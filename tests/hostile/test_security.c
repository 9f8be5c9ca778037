/*
 * Who may do what, with real processes under real uids: the test runs as
 * root and its children drop to nobody (65534) with the groups each case
 * needs. Skipped, saying so, when not root.
 *
 * - The instance's name cannot be taken: the runtime directory is
 *   nxd's, so another uid cannot bind its socket there; an impostor in a
 *   directory of its own is refused by the client before it connects;
 *   segments another uid planted are refused by nxd, which says whose.
 * - Attaching apart from administering: --allow-gid members attach and
 *   are refused every command; --admin-gid members (a supplementary
 *   group is enough) administer; others are refused.
 * - Nothing to read through nxd: nxd is not dumpable, so a process of
 *   its own uid cannot open its descriptors (another client's channel).
 * - Quotas per uid and per process, for channels and pending connections:
 *   the over-quota client is told which quota, the others are unaffected.
 * - A client in another network namespace attaches through the socket's
 *   path, which an abstract name would not allow.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nx/nx.h>

#include "platform/nx_platform.h"
#include "shm/attach.h"
#include "tests/integration/harness/harness.h"

#define NOBODY 65534u
#define ADMIN_GID 4242u

static struct nxt_nxd nxd = { .pid = -1 };

static bool
skip_unless_root(void)
{
	if (geteuid() == 0)
		return false;
	print_message("skip: these tests switch uids and need root\n");
	skip();
	return true;
}

/* In a child: become nobody, with gid and the supplementary groups given. */
static void
become(uint32_t gid, const gid_t *groups, size_t ngroups)
{
	if (setgroups(ngroups, groups) != 0 || setgid(gid) != 0 || setuid(NOBODY) != 0) {
		fprintf(stderr, "become uid %u: %s\n", NOBODY, strerror(errno));
		_exit(90);
	}
}

static int
child_status(pid_t pid)
{
	return nxt_wait(pid, nxt_patience_ns());
}

static void
test_another_uid_cannot_take_the_instance(void **state)
{
	char inst[64], path[256], rt[] = "/tmp/nxt-rt-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct nx_client *c = NULL;
	pid_t pid;
	int rc, fd;

	(void)state;
	if (skip_unless_root())
		return;
	nxt_instance(inst, sizeof inst, "squat");

	/* 1. nobody cannot put a socket where nxd's goes */
	assert_int_equal(nx__ctl_path(sa.sun_path, sizeof sa.sun_path, inst), 0);
	{
		char dir[128];

		assert_int_equal(nx__runtime_dir(dir, sizeof dir), 0);
		mkdir(dir, 0755); /* as nxd would make it */
	}
	pid = nxt_fork();
	if (pid == 0) {
		become(NOBODY, NULL, 0);
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			_exit(1); /* squatted */
		_exit(errno == EACCES ? 0 : 2);
	}
	assert_int_equal(child_status(pid), 0);

	/* 2. planted segments: nxd refuses them and says whose they are */
	snprintf(path, sizeof path, "/dev/shm/nx.%s.health", inst);
	pid = nxt_fork();
	if (pid == 0) {
		become(NOBODY, NULL, 0);
		fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0666);
		_exit(fd >= 0 && ftruncate(fd, 1 << 20) == 0 ? 0 : 1);
	}
	assert_int_equal(child_status(pid), 0);
	nxt_nxd_spawn(&nxd, inst, NULL);
	rc = nxt_wait(nxd.pid, nxt_patience_ns());
	nxd.pid = -1;
	assert_int_not_equal(rc, 0);
	assert_true(nxt_file_says(nxd.log, "belongs to uid 65534"));
	unlink(path);

	snprintf(path, sizeof path, "/dev/shm/nx.%s.dlq", inst);
	pid = nxt_fork();
	if (pid == 0) {
		become(NOBODY, NULL, 0);
		fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0666);
		_exit(fd >= 0 ? 0 : 1);
	}
	assert_int_equal(child_status(pid), 0);
	nxt_nxd_spawn(&nxd, inst, NULL);
	rc = nxt_wait(nxd.pid, nxt_patience_ns());
	nxd.pid = -1;
	assert_int_not_equal(rc, 0);
	assert_true(nxt_file_says(nxd.log, "belongs to uid 65534"));
	unlink(path);
	nxt_cleanup(inst);

	/* 3. an impostor in a runtime directory of its own, listening on
	 * the instance's name, with a health segment of its own: a root
	 * client (told that directory) refuses it before connecting */
	snprintf(path, sizeof path, "/dev/shm/nx.%s.health", inst);
	assert_non_null(mkdtemp(rt));
	assert_int_equal(chown(rt, NOBODY, NOBODY), 0);
	assert_int_equal(chmod(rt, 0755), 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.ctl", rt, inst);
	{
		int ready[2];
		char b;

		assert_int_equal(pipe(ready), 0);
		pid = nxt_fork();
		if (pid == 0) {
			become(NOBODY, NULL, 0);
			fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0644);
			if (fd < 0 || ftruncate(fd, 1 << 20) != 0)
				_exit(5);
			fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
			if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0)
				_exit(1);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			/* an impostor that gets a connection says so */
			_exit(accept(fd, NULL, NULL) >= 0 ? 3 : 4);
		}
		close(ready[1]);
		assert_int_equal(read(ready[0], &b, 1), 1);
		close(ready[0]);
	}
	setenv("NX_RUNTIME_DIR", rt, 1);
	rc = nxt_open(&c, inst);
	unsetenv("NX_RUNTIME_DIR");
	assert_int_equal(rc, NX_EPERM);
	print_message("impostor refused: %s\n", nx_errmsg());
	assert_non_null(strstr(nx_errmsg(), "65534"));
	kill(pid, SIGKILL);
	assert_int_equal(child_status(pid), 128 + SIGKILL); /* never connected to */
	unlink(sa.sun_path);
	rmdir(rt);
	nxt_cleanup(inst);
}

static void
test_attaching_is_apart_from_administering(void **state)
{
	const char *argv[] = { "--allow-gid", "65534", "--admin-gid", "4242", NULL };
	char inst[64];
	pid_t pid;

	(void)state;
	if (skip_unless_root())
		return;
	nxt_instance(inst, sizeof inst, "roles");
	assert_int_equal(nxt_nxd_start(&nxd, inst, argv), 0);

	/* a member of the allowed group: attaches, and only that */
	pid = nxt_fork();
	if (pid == 0) {
		struct nx_client *c;
		char *text = NULL;

		become(NOBODY, NULL, 0);
		if (nxt_open(&c, inst) != 0 || nxt_echo_once(c) != 0) {
			fprintf(stderr, "allowed group: %s\n", nx_errmsg());
			_exit(1);
		}
		nx_close(c);
		if (nxt_ctl(inst, &text, 0, "list", NULL) != NX_EPERM)
			_exit(2);
		if (nxt_ctl(inst, &text, 0, "dlq", "list", NULL) != NX_EPERM)
			_exit(3);
		if (nxt_ctl(inst, &text, 0, "swap", "echo", "echo", "upper", "--plugin",
			    nxt_plugin_path("liar"), NULL) != NX_EPERM)
			_exit(4);
		_exit(strstr(nx_errmsg(), "admin role") != NULL ? 0 : 5);
	}
	assert_int_equal(child_status(pid), 0);

	/* a member of the admin group by a supplementary group only */
	pid = nxt_fork();
	if (pid == 0) {
		const gid_t admin = ADMIN_GID;
		struct nx_client *c;

		become(NOBODY, &admin, 1);
		if (nxt_ctl(inst, NULL, 0, "list", NULL) != 0) {
			fprintf(stderr, "admin group: %s\n", nx_errmsg());
			_exit(1);
		}
		if (nxt_ctl(inst, NULL, 0, "ratelimit", "all", "0", NULL) != 0) {
			fprintf(stderr, "admin group: %s\n", nx_errmsg());
			_exit(2);
		}
		_exit(nxt_open(&c, inst) == 0 && nxt_echo_once(c) == 0 ? 0 : 3);
	}
	assert_int_equal(child_status(pid), 0);

	/* neither: refused at the door */
	pid = nxt_fork();
	if (pid == 0) {
		struct nx_client *c;

		become(NOBODY - 1, NULL, 0);
		if (nxt_open(&c, inst) != NX_EPERM)
			_exit(1);
		_exit(nxt_ctl(inst, NULL, 0, "list", NULL) == NX_EPERM ? 0 : 2);
	}
	assert_int_equal(child_status(pid), 0);
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
}

static void
test_quotas_keep_one_uid_from_locking_out_others(void **state)
{
	const char *argv[] = { "--allow-gid", "65534", "--uid-channels", "4", "--pid-channels", "3",
			       "--uid-pending", "2", NULL };
	char inst[64];
	int go[2], ack[2];
	pid_t hog, second;
	struct nx_client *c;
	char b;

	(void)state;
	if (skip_unless_root())
		return;
	nxt_instance(inst, sizeof inst, "quota");
	assert_int_equal(nxt_nxd_start(&nxd, inst, argv), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ack), 0);

	/* one process of nobody: 3 channels, then its per-process quota */
	hog = nxt_fork();
	if (hog == 0) {
		struct nx_client *cs[4];
		int i, fds[3];

		become(NOBODY, NULL, 0);
		for (i = 0; i < 3; i++)
			if (nxt_open(&cs[i], inst) != 0)
				_exit(10 + i);
		if (nxt_open(&cs[3], inst) != NX_EQUOTA ||
		    strstr(nx_errmsg(), "pid_channels") == NULL)
			_exit(20);
		/* pending connections: two silent ones, the third is refused */
		for (i = 0; i < 3; i++)
			fds[i] = nx__ctl_connect(inst);
		{
			struct nx_ctl_msg m;

			if (fds[2] < 0 || nx__ctl_read_reply(fds[2], &m, NULL, nxt_patience_ns()) !=
					       NX_EQUOTA)
				_exit(21);
		}
		close(fds[0]);
		close(fds[1]);
		if (write(ack[1], "h", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(22);
		_exit(nxt_echo_once(cs[0]) == 0 ? 0 : 23);
	}
	assert_int_equal(read(ack[0], &b, 1), 1);
	/* until nxd has seen the silent ones close: the hog's 3 channels left */
	NXT_WAIT_UNTIL(nxt_ctl_peers(nxd.pid, inst) == 3, nxt_patience_ns());
	assert_int_equal(nxt_ctl_peers(nxd.pid, inst), 3);

	/* a second process of nobody: the uid's fourth channel, then the uid's quota */
	second = nxt_fork();
	if (second == 0) {
		struct nx_client *c1, *c2;

		become(NOBODY, NULL, 0);
		if (nxt_open(&c1, inst) != 0)
			_exit(1);
		if (nxt_open(&c2, inst) != NX_EQUOTA || strstr(nx_errmsg(), "uid_channels") == NULL)
			_exit(2);
		_exit(nxt_echo_once(c1) == 0 ? 0 : 3);
	}
	assert_int_equal(child_status(second), 0);

	/* nxd's own uid is not held back by another's quota */
	assert_int_equal(nxt_open(&c, inst), 0);
	assert_int_equal(nxt_echo_once(c), 0);
	nx_close(c);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(child_status(hog), 0);
	close(go[0]);
	close(go[1]);
	close(ack[0]);
	close(ack[1]);
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
}

static void
test_nxd_cannot_be_read_through_proc(void **state)
{
	char inst[64], rt[] = "/tmp/nxt-rt-XXXXXX", log[512];
	const char *argv[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			       nxt_bin("nxd"), "--instance", inst, "--runtime-dir", rt, "--quiet",
			       "--workers", "1", NULL };
	pid_t d, pid;
	int rc;

	(void)state;
	if (skip_unless_root())
		return;
	nxt_instance(inst, sizeof inst, "dump");
	assert_non_null(mkdtemp(rt));
	assert_int_equal(chown(rt, NOBODY, NOBODY), 0);
	assert_int_equal(chmod(rt, 0755), 0);
	nxt_tmpfile(log, sizeof log, "nxd-nobody.log");
	d = nxt_spawn_logged(argv, log, inst, true);
	assert_true(d > 0);
	/* a client of nxd's own uid: it attaches, and cannot open nxd's
	 * descriptors (where every other client's channel is) */
	pid = nxt_fork();
	if (pid == 0) {
		char path[64];
		struct nx_client *c = NULL;

		become(NOBODY, NULL, 0);
		setenv("NX_RUNTIME_DIR", rt, 1);
		NXT_WAIT_UNTIL((rc = nxt_open(&c, inst)) == 0 || nxt_pid_gone(d),
			       nxt_patience_ns());
		if (rc != 0)
			_exit(1);
		if (nxt_echo_once(c) != 0)
			_exit(2);
		snprintf(path, sizeof path, "/proc/%d/fd", (int)d);
		if (opendir(path) != NULL)
			_exit(3);
		snprintf(path, sizeof path, "/proc/%d/mem", (int)d);
		_exit(open(path, O_RDONLY) < 0 ? 0 : 4);
	}
	rc = child_status(pid);
	if (rc != 0)
		nxt_dump_file(log);
	assert_int_equal(rc, 0);
	kill(d, SIGTERM);
	assert_int_equal(nxt_wait(d, nxt_patience_ns()), 0);
	rmdir(rt);
}

static void
test_nxd_keeps_no_channel_descriptor(void **state)
{
	struct nx_client *c[3];
	char inst[64];
	int i;

	(void)state;
	nxt_instance(inst, sizeof inst, "nofd");
	assert_int_equal(nxt_nxd_start(&nxd, inst, NULL), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(nxt_open(&c[i], inst), 0);
		assert_int_equal(nxt_echo_once(c[i]), 0);
	}
	/* mapped, served, and not one descriptor to hand to anyone */
	assert_true(nxt_count_memfd_maps(nxd.pid) >= 3);
	assert_int_equal(nxt_count_memfd_fds(nxd.pid), 0);
	for (i = 0; i < 3; i++)
		nx_close(c[i]);
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
}

static void
test_a_client_in_another_network_namespace_attaches(void **state)
{
	char inst[64];
	pid_t pid;

	(void)state;
	if (skip_unless_root())
		return;
	nxt_instance(inst, sizeof inst, "netns");
	assert_int_equal(nxt_nxd_start(&nxd, inst, NULL), 0);
	pid = nxt_fork();
	if (pid == 0) {
		struct nx_client *c;

		if (unshare(CLONE_NEWNET) != 0)
			_exit(1);
		if (nxt_open(&c, inst) != 0) {
			fprintf(stderr, "nx_open: %s\n", nx_errmsg());
			_exit(2);
		}
		_exit(nxt_echo_once(c) == 0 ? 0 : 3);
	}
	assert_int_equal(child_status(pid), 0);
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_another_uid_cannot_take_the_instance, nxt_teardown),
		cmocka_unit_test_teardown(test_attaching_is_apart_from_administering, nxt_teardown),
		cmocka_unit_test_teardown(test_quotas_keep_one_uid_from_locking_out_others,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_nxd_cannot_be_read_through_proc, nxt_teardown),
		cmocka_unit_test_teardown(test_nxd_keeps_no_channel_descriptor, nxt_teardown),
		cmocka_unit_test_teardown(test_a_client_in_another_network_namespace_attaches,
					  nxt_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("security", tests, NULL, NULL);
}
