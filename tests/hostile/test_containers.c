/*
 * Clients in other containers, built as a container runtime builds them:
 * a process in its own network, PID and mount namespaces, in a root of its
 * own (a tmpfs, chroot) that has only the runtime directory and /dev/shm
 * bind-mounted in (docker's -v /run/nexus:/run/nexus -v /dev/shm:/dev/shm,
 * or --ipc=host) and its own /proc, running as uid nobody. Root is needed
 * to make namespaces; skipped, saying so, without it.
 *
 * Two layouts:
 * - nxd on the host, the client in a container: nxd sees the client's
 *   pid (a child namespace's pids are visible from its parent).
 * - nxd in a container of its own too (its own PID namespace and /proc),
 *   the client in another: SO_PEERCRED gives nxd pid 0 for the client,
 *   which nxd never looks up, and the identity is the channel's memfd.
 *
 * Each: the client attaches and calls; survives nxd killed -9 and
 * started again (in a new container: a new PID namespace), its requests
 * in flight answered exactly once; and is cleaned up when it dies, by its
 * socket's hang-up, or, dead while nxd was down and invisible to it, when
 * --orphan-hold runs out; counted in the health segment. And hostile: a
 * client in a container cannot reclaim another's channel, with its own
 * segment rewritten to name it, a segment of its own making, or none.
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "platform/nx_platform.h"
#include "shm/attach.h"
#include "shm/shm_internal.h"
#include "tests/integration/harness/harness.h"

#define NOBODY 65534u
#define INFLIGHT 32 /* requests in flight across a restart */

/* What a containerised client and the test tell each other (shared memory:
 * it crosses every namespace). */
struct board {
	int phase;           /* the client's progress, see the tests */
	int go;              /* the test's say-so to go on */
	int failed;          /* nonzero: where the client failed */
	char why[256];
	uint32_t chan_id;
	pid_t init_pid;      /* the container's first process, as the test sees it */
	unsigned completed[INFLIGHT];
	int status[INFLIGHT];
};

static struct board *board;
static char inst[64];
static char rootdir[64]; /* the containers' root (a mount point in their namespace) */
static char rtdir[128];  /* the runtime directory: nxd's socket */

static bool
skip_unless_root(void)
{
	if (geteuid() == 0)
		return false;
	print_message("skip: making namespaces needs root\n");
	skip();
	return true;
}

static int
load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
store(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* In a container: fail, saying where and why. */
static void __attribute__((noreturn, format(printf, 2, 3)))
cfail(int where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(board->why, sizeof board->why, fmt, ap);
	va_end(ap);
	store(&board->failed, where);
	fprintf(stderr, "container: %s\n", board->why);
	_exit(where);
}

/* In a container: wait for the test to say go (at least n). */
static void
wait_go(int n)
{
	if (!NXT_WAIT_UNTIL(load(&board->go) >= n, nxt_patience_ns()))
		cfail(99, "no go %d from the test", n);
}

/*
 * The root a container runtime gives a container: a tmpfs with only the
 * runtime directory and /dev/shm bound in, and a /proc of its own PID
 * namespace. In the container's first process (pid 1 there), in its own
 * mount namespace.
 */
static void
enter_root(void)
{
	char path[256];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		cfail(80, "make / private: %s", strerror(errno));
	if (mount("nxt-root", rootdir, "tmpfs", 0, "mode=0755,size=1m") != 0)
		cfail(81, "tmpfs on %s: %s", rootdir, strerror(errno));
	snprintf(path, sizeof path, "%s/dev", rootdir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/dev/shm", rootdir);
	mkdir(path, 01777);
	snprintf(path, sizeof path, "%s/proc", rootdir);
	mkdir(path, 0555);
	/* the runtime directory, at the same path inside (every parent 0755 root) */
	{
		char *p;

		snprintf(path, sizeof path, "%s%s", rootdir, rtdir);
		for (p = path + strlen(rootdir) + 1; *p != '\0'; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(path, 0755);
				*p = '/';
			}
		mkdir(path, 0755);
	}
	if (mount(rtdir, path, NULL, MS_BIND, NULL) != 0)
		cfail(82, "bind %s: %s", rtdir, strerror(errno));
	snprintf(path, sizeof path, "%s/dev/shm", rootdir);
	if (mount("/dev/shm", path, NULL, MS_BIND, NULL) != 0)
		cfail(83, "bind /dev/shm: %s", strerror(errno));
	if (chroot(rootdir) != 0 || chdir("/") != 0)
		cfail(84, "chroot %s: %s", rootdir, strerror(errno));
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		cfail(85, "mount /proc: %s", strerror(errno));
	if (access("/etc", F_OK) == 0 || access("/tmp", F_OK) == 0)
		cfail(86, "the host's files are visible in the container");
}

static void
become_nobody(void)
{
	if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
		cfail(87, "become nobody: %s", strerror(errno));
}

/*
 * Start fn in a container: new network, PID and mount namespaces (what
 * `unshare --net --pid --fork --mount` makes), its own root, as nobody.
 * @return the pid of the process the test waits for (the container's
 * first process's parent, outside); board->init_pid is the first one's.
 */
static pid_t
container(void (*fn)(void))
{
	pid_t outer;

	store(&board->init_pid, 0);
	outer = nxt_fork();
	assert_true(outer >= 0);
	if (outer == 0) {
		pid_t init;
		int st;

		if (unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS) != 0)
			cfail(70, "unshare: %s", strerror(errno));
		init = fork();
		if (init < 0)
			cfail(71, "fork: %s", strerror(errno));
		if (init == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getpid() != 1)
				cfail(72, "not the first process of a new PID namespace: %d",
				      (int)getpid());
			enter_root();
			become_nobody();
			fn();
			_exit(0);
		}
		store(&board->init_pid, init); /* our namespace is the test's */
		if (waitpid(init, &st, 0) != init)
			_exit(73);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	assert_true(NXT_WAIT_UNTIL(load(&board->init_pid) > 0, nxt_patience_ns()));
	return outer;
}

/* ---- nxd, on the host or in a container of its own ---- */

struct daemon {
	pid_t outer;         /* the process the test reaps */
	pid_t pid;           /* nxd, as the test sees it */
	char log[256];
};

static uint64_t
generation(void)
{
	struct nx_health_view hv;
	uint64_t g = 0;

	if (nx__health_map_ro(&hv, inst) == 0) {
		if (nx__load32(&hv.hdr->state) == NX_INST_RUNNING)
			g = nx__load64(&hv.hdr->generation);
		nx__health_unmap(&hv);
	}
	return g;
}

/*
 * Start nxd and wait until a generation after prev serves. boxed: in a
 * PID and mount namespace of its own with its own /proc, as nxd in a
 * container (it is pid 1 there; the test kills it by its pid here).
 */
static void
daemon_start(struct daemon *d, bool boxed, uint64_t prev, const char *orphan_hold)
{
	const char *argv[] = { nxt_bin("nxd"), "--instance", inst, "--allow-gid", "65534",
			       "--workers", "1", "--orphan-hold", orphan_hold, NULL };
	static pid_t *shared;
	int st;

	if (shared == NULL) {
		shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		assert_true(shared != MAP_FAILED);
	}
	*shared = 0;
	snprintf(d->log, sizeof d->log, "%s/%s.nxd.%llu.log", nxt_tmpdir(), inst,
		 (unsigned long long)prev);
	if (!boxed) {
		d->outer = d->pid = nxt_spawn_logged(argv, d->log, inst, true);
		assert_true(d->pid > 0);
	} else {
		d->outer = nxt_fork();
		assert_true(d->outer >= 0);
		if (d->outer == 0) {
			pid_t init;

			if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
				_exit(70);
			init = fork();
			if (init == 0) {
				int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
					_exit(71);
				/* its own /proc, as every container has */
				if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
				    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
					  NULL) != 0) {
					perror("mount /proc");
					_exit(72);
				}
				execv(argv[0], (char *const *)argv);
				perror("exec nxd");
				_exit(127);
			}
			__atomic_store_n(shared, init, __ATOMIC_RELEASE);
			if (init < 0 || waitpid(init, &st, 0) != init)
				_exit(73);
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		assert_true(NXT_WAIT_UNTIL(__atomic_load_n(shared, __ATOMIC_ACQUIRE) > 0,
					   nxt_patience_ns()));
		d->pid = *shared;
	}
	if (!NXT_WAIT_UNTIL(generation() > prev || nxt_pid_gone(d->pid), nxt_patience_ns()) ||
	    nxt_pid_gone(d->pid)) {
		nxt_dump_file(d->log);
		fail_msg("nxd (generation after %llu) never served", (unsigned long long)prev);
	}
}

static void
daemon_kill(struct daemon *d)
{
	assert_int_equal(kill(d->pid, SIGKILL), 0);
	assert_int_equal(nxt_wait(d->outer, nxt_patience_ns()), 128 + SIGKILL);
}

static void
daemon_stop(struct daemon *d)
{
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	assert_int_equal(nxt_wait(d->outer, nxt_patience_ns()), 0);
}

/* A health header counter, or a channel's record. */
static uint64_t
counter(size_t off)
{
	struct nx_health_view hv;
	uint64_t v = UINT64_MAX;

	if (nx__health_map_ro(&hv, inst) == 0) {
		v = nx__load64((const uint64_t *)(const void *)((const uint8_t *)hv.hdr + off));
		nx__health_unmap(&hv);
	}
	return v;
}

#define COUNTER(field) counter(offsetof(struct nx_health_hdr, field))

static bool
chan_record(uint32_t id, struct nx_health_chan *out)
{
	struct nx_health_view hv;

	bool ok;

	if (nx__health_map_ro(&hv, inst) != 0)
		return false;
	ok = id < hv.hdr->max_channels;
	if (ok)
		memcpy(out, &hv.chans[id], sizeof *out);
	nx__health_unmap(&hv);
	return ok;
}

static uint32_t
chan_state(uint32_t id)
{
	struct nx_health_chan hc;

	return chan_record(id, &hc) ? hc.state : UINT32_MAX;
}

/* ---- the client in its container ---- */

/* The channel id a client got: the one its segment names (libnx keeps it
 * private; the health table's entries with our uid say it too). */
static uint32_t
my_chan(void)
{
	struct nx_health_view hv;
	uint32_t i, found = UINT32_MAX, n = 0;

	if (nx__health_map_ro(&hv, inst) != 0)
		return UINT32_MAX;
	for (i = 0; i < hv.hdr->max_channels; i++)
		if (nx__load32(&hv.chans[i].state) == NX_CHAN_ATTACHED && hv.chans[i].uid == NOBODY) {
			found = i;
			n++;
		}
	nx__health_unmap(&hv);
	return n == 1 ? found : UINT32_MAX;
}

/*
 * Attach, call; say so (phase 1) and wait; submit INFLIGHT idempotent
 * requests, half before the test kills nxd (go 1: they may be taken by
 * the dead nxd, answered or not) and half after (go 2: nobody serves);
 * then wait for every answer, each once, across the restart (phase 3),
 * call again, and stay until told to exit (go 3: the test kills us
 * there, or says go 4 to exit).
 */
static void
client_restarts(void)
{
	struct nx_completion comps[INFLIGHT];
	struct nx_client *c;
	char out[INFLIGHT][8];
	uint64_t gen;
	unsigned i, done = 0;
	int echo, rc;

	if (nxt_open(&c, inst) != 0)
		cfail(1, "nx_open in a container: %s", nx_errmsg());
	if ((rc = nxt_echo_once(c)) != 0)
		cfail(2, "a call from a container: %d %s", rc, nx_errmsg());
	board->chan_id = my_chan();
	gen = nx_generation(c);
	echo = nx_pipeline_id(c, "echo");
	store(&board->phase, 1);
	for (i = 0; i < INFLIGHT; i++) {
		struct nx_req r = { .in = "inflight", .in_len = 8, .out = out[i], .out_cap = 8,
				    .user_data = i, .pipeline = (uint16_t)echo,
				    .flags = NX_REQ_IDEMPOTENT };

		if (i == 0)
			wait_go(1);
		if (i == INFLIGHT / 2) {
			store(&board->phase, 2);
			wait_go(2);
		}
		if (nx_submit(c, &r) != 0)
			cfail(3, "submit %u: %s", i, nx_errmsg());
	}
	while (done < INFLIGHT) {
		int n = nx_wait(c, comps, INFLIGHT, nxt_patience_ns());

		if (n <= 0)
			cfail(4, "%u of %u answered, then %d: %s", done, INFLIGHT, n, nx_errmsg());
		for (i = 0; i < (unsigned)n; i++) {
			uint64_t k = comps[i].user_data;

			if (k >= INFLIGHT)
				cfail(5, "an answer for request %llu, never asked", (unsigned long long)k);
			board->completed[k]++;
			board->status[k] = comps[i].status;
			if (comps[i].status == 0 && memcmp(out[k], "inflight", 8) != 0)
				cfail(6, "request %llu answered wrong", (unsigned long long)k);
		}
		done += (unsigned)n;
	}
	if (nx_generation(c) == gen)
		cfail(7, "no restart seen (generation %llu)", (unsigned long long)gen);
	if ((rc = nxt_echo_once(c)) != 0)
		cfail(8, "a call after the restart: %d %s", rc, nx_errmsg());
	board->chan_id = my_chan();
	store(&board->phase, 3);
	wait_go(4);
	nx_close(c);
	_exit(0);
}

static void
setup_names(const char *tag)
{
	nxt_instance(inst, sizeof inst, tag);
	assert_int_equal(nx__runtime_dir(rtdir, sizeof rtdir), 0);
	snprintf(rootdir, sizeof rootdir, "%s/root", nxt_tmpdir());
	mkdir(rootdir, 0755);
	memset(board, 0, sizeof *board);
}

/*
 * The whole life of a containerised client: attach, call, restart,
 * death. boxed: nxd in a container of its own, where the client's pid
 * is 0.
 */
static void
client_life(bool boxed)
{
	struct daemon d;
	struct nx_health_chan hc;
	uint64_t detached, reclaimed;
	pid_t box;
	unsigned i;

	daemon_start(&d, boxed, 0, "60");
	box = container(client_restarts);
	if (!NXT_WAIT_UNTIL(load(&board->phase) >= 1 || load(&board->failed), nxt_patience_ns()) ||
	    load(&board->failed)) {
		nxt_dump_file(d.log);
		fail_msg("the client in a container: %s", board->why);
	}
	/* nxd sees it as it can: its pid from the host, 0 from a sibling */
	assert_true(chan_record(board->chan_id, &hc));
	assert_int_equal(hc.state, NX_CHAN_ATTACHED);
	assert_int_equal(hc.uid, NOBODY);
	if (boxed) {
		assert_int_equal(hc.pid, 0);
		assert_int_equal(hc.pid_start, 0);
	} else {
		assert_int_equal(hc.pid, board->init_pid);
	}
	assert_true(hc.seg_ino != 0);
	print_message("channel %u: nxd sees pid %d (the container's pid 1 is %d here)\n",
		      board->chan_id, hc.pid, (int)board->init_pid);

	/* half submitted to the live nxd, then nxd killed, the other half
	 * submitted to no one, then a new nxd (in a new container) */
	store(&board->go, 1);
	assert_true(NXT_WAIT_UNTIL(load(&board->phase) >= 2 || load(&board->failed),
				   nxt_patience_ns()));
	reclaimed = COUNTER(orphans_reclaimed);
	daemon_kill(&d);
	store(&board->go, 2);
	daemon_start(&d, boxed, 1, "60");
	if (!NXT_WAIT_UNTIL(load(&board->phase) >= 3 || load(&board->failed), nxt_patience_ns()) ||
	    load(&board->failed)) {
		nxt_dump_file(d.log);
		fail_msg("the client across the restart: %s", board->why);
	}
	for (i = 0; i < INFLIGHT; i++) {
		assert_int_equal(board->completed[i], 1); /* exactly once */
		assert_int_equal(board->status[i], 0);    /* idempotent: run again if need be */
	}
	/* nxd counts the reclaim and says so after its reply: the client may
	 * have had its answers before either */
	assert_true(NXT_WAIT_UNTIL(COUNTER(orphans_reclaimed) != reclaimed, nxt_patience_ns()));
	assert_int_equal(COUNTER(orphans_reclaimed), reclaimed + 1);
	assert_true(NXT_WAIT_UNTIL(nxt_file_says(d.log, "reclaimed by"), nxt_patience_ns()));
	assert_true(chan_record(board->chan_id, &hc));
	assert_int_equal(hc.state, NX_CHAN_ATTACHED);
	assert_int_equal(hc.pid, boxed ? 0 : board->init_pid);

	/* its death: the container killed (its pid 1), nxd sees the hang-up */
	detached = COUNTER(chans_detached);
	assert_int_equal(kill(board->init_pid, SIGKILL), 0);
	assert_int_equal(nxt_wait(box, nxt_patience_ns()), 128 + SIGKILL);
	/* the channel is marked free before the counter moves */
	assert_true(NXT_WAIT_UNTIL(chan_state(board->chan_id) == NX_CHAN_FREE &&
					   COUNTER(chans_detached) != detached,
				   nxt_patience_ns()));
	assert_int_equal(COUNTER(chans_detached), detached + 1);
	daemon_stop(&d);
	nxt_cleanup(inst);
}

static void
test_a_client_in_a_container_with_nxd_on_the_host(void **state)
{
	(void)state;
	if (skip_unless_root())
		return;
	setup_names("cont-host");
	client_life(false);
}

static void
test_a_client_in_a_container_with_nxd_in_another(void **state)
{
	(void)state;
	if (skip_unless_root())
		return;
	setup_names("cont-sib");
	client_life(true);
}

/* Attach, say the channel, and wait to be killed. */
static void
client_waits(void)
{
	struct nx_client *c;

	if (nxt_open(&c, inst) != 0)
		cfail(1, "nx_open in a container: %s", nx_errmsg());
	if (nxt_echo_once(c) != 0)
		cfail(2, "a call from a container: %s", nx_errmsg());
	board->chan_id = my_chan();
	store(&board->phase, 1);
	wait_go(99); /* killed here */
	_exit(0);
}

static void
test_a_container_dead_while_nxd_was_down_is_freed_after_orphan_hold(void **state)
{
	struct daemon d;
	uint64_t freed;
	pid_t box;

	(void)state;
	if (skip_unless_root())
		return;
	setup_names("cont-hold");
	daemon_start(&d, true, 0, "60");
	box = container(client_waits);
	assert_true(NXT_WAIT_UNTIL(load(&board->phase) >= 1 || load(&board->failed),
				   nxt_patience_ns()));
	assert_int_equal(load(&board->failed), 0);
	/* both gone: nxd, then the client, which never comes back */
	daemon_kill(&d);
	assert_int_equal(kill(board->init_pid, SIGKILL), 0);
	assert_int_equal(nxt_wait(box, nxt_patience_ns()), 128 + SIGKILL);
	freed = COUNTER(orphans_freed);
	/* nxd cannot see that pid: it keeps the orphan --orphan-hold, then frees it */
	daemon_start(&d, true, 1, "1");
	assert_true(NXT_WAIT_UNTIL(nxt_file_says(d.log, "of pids nxd cannot see"),
				   nxt_patience_ns()));
	/* the channel is marked free before the counter moves */
	assert_true(NXT_WAIT_UNTIL(chan_state(board->chan_id) == NX_CHAN_FREE &&
					   COUNTER(orphans_freed) != freed,
				   nxt_patience_ns()));
	assert_int_equal(COUNTER(orphans_freed), freed + 1);
	assert_true(NXT_WAIT_UNTIL(nxt_file_says(d.log, "did not reclaim it within orphan_hold"),
				   nxt_patience_ns()));
	daemon_stop(&d);
	nxt_cleanup(inst);
}

/*
 * The thief: attached to the new nxd, it tries to take the victim's
 * orphan (board->chan_id) three ways, each refused NX_ENOENT or
 * NX_EINVAL; then its own channel still works.
 */
static int
raw_reclaim(uint32_t id, int fd)
{
	struct nx_ctl_msg m;
	int s = nx__ctl_connect(inst), rc;

	if (s < 0)
		return s;
	rc = nx__ctl_send_request(s, NX_CTL_RECLAIM, NX_CTL_VERSION, 0, id, fd);
	if (rc == 0)
		rc = nx__ctl_read_reply(s, &m, NULL, nxt_patience_ns());
	close(s);
	return rc;
}

static void
client_thief(void)
{
	const uint32_t victim = board->chan_id;
	struct nx_ctl_msg m;
	struct nx_chan_hdr *h;
	int s, mine = -1, fake, rc;
	struct stat st;

	/* its own channel, from the new nxd, by hand: it holds the memfd */
	s = nx__ctl_connect(inst);
	if (s < 0)
		cfail(20, "connect: %s", nx_errmsg());
	if (nx__ctl_send_request(s, NX_CTL_ATTACH, NX_CTL_VERSION, 0, 0, -1) != 0 ||
	    nx__ctl_read_reply(s, &m, &mine, nxt_patience_ns()) != 0 || mine < 0)
		cfail(21, "attach: %s", nx_errmsg());
	if (m.chan_id == victim)
		cfail(22, "given the victim's channel %u", victim);
	/* 1. its own segment, its header rewritten to name the victim's channel */
	if (fstat(mine, &st) != 0)
		cfail(23, "fstat");
	h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, mine, 0);
	if (h == MAP_FAILED)
		cfail(24, "mmap its channel: %s", strerror(errno));
	h->chan_id = victim;
	rc = raw_reclaim(victim, mine);
	if (rc != NX_ENOENT)
		cfail(25, "reclaim with its own segment renamed: %d (%s)", rc, nx_errmsg());
	/* 2. a segment of its own making, the same size */
	fake = memfd_create("nx-fake", MFD_CLOEXEC);
	if (fake < 0 || ftruncate(fake, st.st_size) != 0)
		cfail(26, "memfd");
	rc = raw_reclaim(victim, fake);
	if (rc != NX_ENOENT)
		cfail(27, "reclaim with a segment of its own: %d (%s)", rc, nx_errmsg());
	/* 3. none */
	rc = raw_reclaim(victim, -1);
	if (rc != NX_EINVAL)
		cfail(28, "reclaim without a segment: %d (%s)", rc, nx_errmsg());
	close(s);
	store(&board->phase, 10);
	_exit(0);
}

static void
test_a_client_in_a_container_cannot_reclaim_another_ones_channel(void **state)
{
	struct board saved;
	struct daemon d;
	pid_t victim, thief;
	unsigned i;

	(void)state;
	if (skip_unless_root())
		return;
	setup_names("cont-thief");
	daemon_start(&d, true, 0, "60");
	victim = container(client_restarts);
	assert_true(NXT_WAIT_UNTIL(load(&board->phase) >= 1 || load(&board->failed),
				   nxt_patience_ns()));
	assert_int_equal(load(&board->failed), 0);
	store(&board->go, 1);
	assert_true(NXT_WAIT_UNTIL(load(&board->phase) >= 2 || load(&board->failed),
				   nxt_patience_ns()));
	daemon_kill(&d);
	/* the victim does not look for the new nxd until go 2: the thief first */
	daemon_start(&d, true, 1, "60");
	assert_int_equal(chan_state(board->chan_id), NX_CHAN_ORPHANED);
	saved = *board;
	thief = container(client_thief);
	assert_int_equal(nxt_wait(thief, nxt_patience_ns()), 0);
	assert_int_equal(load(&board->phase), 10);
	board->phase = saved.phase;
	board->init_pid = saved.init_pid;
	assert_int_equal(chan_state(board->chan_id), NX_CHAN_ORPHANED);
	assert_true(nxt_file_says(d.log,
				  "refused: a pid outside nxd's namespace, uid 65534, is not"));
	/* the victim's channel is still its own, and nothing of it ran twice */
	store(&board->go, 2);
	if (!NXT_WAIT_UNTIL(load(&board->phase) >= 3 || load(&board->failed), nxt_patience_ns()) ||
	    load(&board->failed)) {
		nxt_dump_file(d.log);
		fail_msg("the victim: %s", board->why);
	}
	for (i = 0; i < INFLIGHT; i++) {
		assert_int_equal(board->completed[i], 1);
		assert_int_equal(board->status[i], 0);
	}
	store(&board->go, 4);
	assert_int_equal(nxt_wait(victim, nxt_patience_ns()), 0);
	daemon_stop(&d);
	nxt_cleanup(inst);
}

static int
teardown(void **state)
{
	nxt_teardown(state);
	if (inst[0] != '\0')
		nxt_cleanup(inst);
	if (rootdir[0] != '\0')
		rmdir(rootdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_a_client_in_a_container_with_nxd_on_the_host,
					  teardown),
		cmocka_unit_test_teardown(test_a_client_in_a_container_with_nxd_in_another,
					  teardown),
		cmocka_unit_test_teardown(
			test_a_container_dead_while_nxd_was_down_is_freed_after_orphan_hold, teardown),
		cmocka_unit_test_teardown(
			test_a_client_in_a_container_cannot_reclaim_another_ones_channel, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	board = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (board == MAP_FAILED)
		return 1;
	return cmocka_run_group_tests_name("containers", tests, NULL, NULL);
}
