#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nx/nx.h>

#include "harness.h"
#include "shm/monitor/ctl_session.h"
#include "shm/shm_internal.h"
#include "tests/patience.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool
nxt_sanitized(void)
{
	return tests_sanitized();
}

uint64_t
nxt_budget_ns(uint64_t ns)
{
	return tests_budget_ns(ns);
}

uint64_t
nxt_patience_ns(void)
{
	return patience_ns();
}

const char *
nxt_bin(const char *tool)
{
	static __thread char path[PATH_MAX];
	const char *dir = getenv("NX_BIN");

	if (dir != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, tool);
	} else {
		char self[PATH_MAX - 64];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		char *slash;

		if (n < 0)
			n = 0;
		self[n] = '\0';
		/* build/tests/<kind>/test_x -> build/bin/tool */
		for (int up = 0; up < 2 && (slash = strrchr(self, '/')) != NULL; up++)
			*slash = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL)
			*slash = '\0';
		snprintf(path, sizeof path, "%s/bin/%s", self, tool);
	}
	return path;
}

const char *
nxt_nonce(void)
{
	static char nonce[9];
	static pid_t owner;
	uint32_t r;

	/* a forked child that asks gets its own: it is another run's name space */
	if (nonce[0] == '\0' || owner != getpid()) {
		if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
			r = (uint32_t)now_ns() ^ (uint32_t)getpid() << 16;
		snprintf(nonce, sizeof nonce, "%08x", r);
		owner = getpid();
	}
	return nonce;
}

void
nxt_instance(char *buf, size_t len, const char *tag)
{
	static int n;

	/* the pid alone is not enough: pids are reused, and a killed run
	 * leaves its segments behind */
	snprintf(buf, len, "nxt-%s-%d-%s-%d", tag, (int)getpid(), nxt_nonce(), n++);
	nxt_cleanup(buf);
}

/* ---- the private directory ---- */

static char tmpdir[64];
static pid_t tmpdir_owner;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
tmpdir_remove(void)
{
	if (tmpdir[0] == '\0' || getpid() != tmpdir_owner) /* not from a forked child */
		return;
	if (getenv("NXT_KEEP") != NULL) {
		fprintf(stderr, "NXT_KEEP: the test's files and logs are in %s\n", tmpdir);
		return;
	}
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
nxt_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/nxt-%d-XXXXXX", (int)getpid());
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr, "nxt_tmpdir: mkdtemp %s: %s\n", tmpdir, strerror(errno));
			abort();
		}
		tmpdir_owner = getpid();
		atexit(tmpdir_remove);
	}
	return tmpdir;
}

char *
nxt_tmpfile(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", nxt_tmpdir(), name);
	return buf;
}

/* Every nxd and instance a test started, so that a failed assertion
 * (cmocka jumps out of the test) leaves no process and no segment: the
 * test's teardown reaps them (nxt_reap), and the exit whatever is left. */
static struct {
	pid_t pid;
	char instance[64];
} spawned[256];
static unsigned nspawned;
static pid_t registry_owner;

uint64_t
nxt_now_ns(void)
{
	return now_ns();
}

/* A pid we reaped is no longer ours: never signal it again. */
static void
forget(pid_t pid)
{
	unsigned i;

	for (i = 0; i < nspawned; i++)
		if (spawned[i].pid == pid)
			spawned[i].pid = 0;
}

bool
nxt_pid_gone(pid_t pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	/* a zombie is dead: its parent died too, and whoever inherits it may
	 * not reap it soon (a container's init) */
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

int
nxt_children(pid_t pid, pid_t *out, int max)
{
	struct dirent *e;
	DIR *dir = opendir("/proc");
	int n = 0;

	if (dir == NULL)
		return 0;
	while ((e = readdir(dir)) != NULL) {
		char path[300], buf[512], *paren;
		ssize_t len;
		int fd, ppid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* pid (comm) state ppid ...: comm may hold spaces and parentheses */
		paren = strrchr(buf, ')');
		if (paren == NULL || sscanf(paren + 2, "%*c %d", &ppid) != 1 || ppid != (int)pid)
			continue;
		if (n < max)
			out[n] = (pid_t)atoi(e->d_name);
		n++;
	}
	closedir(dir);
	return n;
}

void
nxt_reap(void)
{
	pid_t orphans[64];
	unsigned i;
	int norphans = 0;
	uint64_t t0;

	if (registry_owner != getpid())
		return; /* a forked child's copy of the registry is not its own */
	for (i = 0; i < nspawned; i++) {
		pid_t kids[16];
		int n, k;

		if (spawned[i].pid <= 0)
			continue;
		/* what it started (nxwd: its nxd and standby) dies after it
		 * (PR_SET_PDEATHSIG): remember them to wait for */
		n = nxt_children(spawned[i].pid, kids, 16);
		for (k = 0; k < n && k < 16 && norphans < 64; k++)
			orphans[norphans++] = kids[k];
		kill(spawned[i].pid, SIGKILL);
		while (waitpid(spawned[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		spawned[i].pid = 0;
	}
	/* their segments are removed only once no process of theirs is left */
	t0 = now_ns();
	for (i = 0; i < (unsigned)norphans; i++)
		while (!nxt_pid_gone(orphans[i]) && now_ns() - t0 < nxt_patience_ns())
			usleep(1000);
	for (i = 0; i < nspawned; i++)
		if (spawned[i].instance[0] != '\0')
			nxt_cleanup(spawned[i].instance);
	nspawned = 0;
}

int
nxt_teardown(void **state)
{
	(void)state;
	nxt_reap();
	return 0;
}

static void
reap_all(void)
{
	nxt_reap();
}

static void
remember(pid_t pid, const char *instance)
{
	if (registry_owner == 0) {
		registry_owner = getpid();
		atexit(reap_all);
	}
	if (nspawned < sizeof spawned / sizeof spawned[0]) {
		spawned[nspawned].pid = pid;
		snprintf(spawned[nspawned].instance, sizeof spawned[nspawned].instance, "%s", instance);
		nspawned++;
	}
}

pid_t
nxt_fork(void)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125); /* the test died before the line above */
		return 0;
	}
	if (pid > 0)
		remember(pid, "");
	return pid;
}

pid_t
nxt_spawn_logged(const char *const *argv, const char *log, const char *instance, bool no_core)
{
	pid_t parent = getpid(), pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		const struct rlimit none = { 0, 0 };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* a test that dies takes its children with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125); /* it died before the line above */
		if (no_core)
			setrlimit(RLIMIT_CORE, &none);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		return -1;
	remember(pid, instance);
	return pid;
}

int
nxt_nxd_args(const char **argv, int i, int cap, const char *const *args)
{
	bool placed = false;
	int k;

	for (k = 0; args != NULL && args[k] != NULL && i < cap - 3; k++) {
		placed |= strncmp(args[k], "--workers", 9) == 0 || strncmp(args[k], "--cpus", 6) == 0 ||
			  strcmp(args[k], "-w") == 0 || strcmp(args[k], "-c") == 0;
		argv[i++] = args[k];
	}
	if (!placed) {
		argv[i++] = "--workers";
		argv[i++] = "1";
	}
	argv[i] = NULL;
	return i;
}

pid_t
nxt_nxd_spawn(struct nxt_nxd *d, const char *instance, const char *const *args)
{
	const char *argv[64];
	int i = 0;
	pid_t pid;

	snprintf(d->instance, sizeof d->instance, "%s", instance);
	snprintf(d->log, sizeof d->log, "%s/%s.nxd.log", nxt_tmpdir(), instance);
	argv[i++] = nxt_bin("nxd");
	argv[i++] = "--instance";
	argv[i++] = instance;
	i = nxt_nxd_args(argv, i, 64, args);
	pid = nxt_spawn_logged(argv, d->log, instance, false);
	d->pid = pid;
	return pid;
}

void
nxt_dump_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof line, f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

bool
nxt_file_says(const char *path, const char *what)
{
	const size_t cap = 1u << 20;
	char *buf = malloc(cap);
	FILE *f = fopen(path, "r");
	size_t n = 0;
	bool found;

	if (buf != NULL && f != NULL)
		n = fread(buf, 1, cap - 1, f);
	if (f != NULL)
		fclose(f);
	if (buf == NULL)
		return false;
	buf[n] = '\0';
	found = n != 0 && strstr(buf, what) != NULL;
	free(buf);
	return found;
}

void
nxt_nxd_dump_log(const struct nxt_nxd *d)
{
	nxt_dump_file(d->log);
}

const char *
nxt_plugin_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/plugins/%s.so",
		 getenv("NX_TESTS") ? getenv("NX_TESTS") : "build/tests", name);
	return path;
}

/* The health header says this nxd runs the instance. */
static bool
header_running(const char *instance, pid_t pid)
{
	struct nx_health_view hv;
	bool yes;

	if (nx__health_map_ro(&hv, instance) != 0)
		return false;
	yes = (pid_t)nx__load32((const uint32_t *)&hv.hdr->pid) == pid &&
	      nx__load32(&hv.hdr->state) == NX_INST_RUNNING;
	nx__health_unmap(&hv);
	return yes;
}

int
nxt_nxd_start(struct nxt_nxd *d, const char *instance, const char *const *args)
{
	uint64_t t0 = now_ns(), budget = nxt_patience_ns();

	if (nxt_nxd_spawn(d, instance, args) < 0)
		return -1;
	while (now_ns() - t0 < budget) {
		int status;

		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			forget(d->pid);
			fprintf(stderr, "nxd exited early (status %d)\n", status);
			nxt_nxd_dump_log(d);
			d->pid = -1;
			return -1;
		}
		/* ready without a channel: the control thread answers; and
		 * with no connection left open: it has closed the probe's
		 * (tests count nxd's descriptors) */
		if (header_running(instance, d->pid) && nxt_ctl(instance, NULL, 0, "list", NULL) == 0) {
			if (NXT_WAIT_UNTIL(nxt_ctl_peers(d->pid, instance) == 0, budget))
				return 0;
			fprintf(stderr, "nxd keeps its control connections: %d\n",
				nxt_ctl_peers(d->pid, instance));
			return -1;
		}
		usleep(2000);
	}
	fprintf(stderr, "nxd not ready after %llu ms\n", (unsigned long long)(budget / 1000000));
	nxt_nxd_dump_log(d);
	nxt_nxd_kill(d);
	return -1;
}

int
nxt_wait(pid_t pid, uint64_t timeout_ns)
{
	uint64_t t0 = now_ns();
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (now_ns() - t0 > timeout_ns) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			forget(pid);
			return -1;
		}
		usleep(2000);
	}
	forget(pid);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* What the instance's workers have taken and answered, summed. */
static uint64_t
work_done(const char *instance)
{
	struct nx_health_view hv;
	uint64_t sum = 0;
	uint32_t i;

	if (nx__health_map_ro(&hv, instance) != 0)
		return 0;
	for (i = 0; i < hv.max_workers; i++)
		sum += nx__load64(&hv.workers[i].taken) + nx__load64(&hv.workers[i].answered);
	nx__health_unmap(&hv);
	return sum;
}

int
nxt_wait_progress(pid_t pid, const char *instance, uint64_t stall_ns)
{
	uint64_t seen = work_done(instance), t_moved = now_ns();
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		uint64_t now, done;

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		now = now_ns();
		done = work_done(instance);
		if (done != seen) {
			seen = done;
			t_moved = now;
		} else if (now - t_moved > stall_ns) {
			fprintf(stderr, "nxt_wait_progress: %s made no progress for %llu ms: "
				"killing pid %d\n", instance,
				(unsigned long long)(stall_ns / 1000000), (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			forget(pid);
			return -1;
		}
		usleep(10000);
	}
	forget(pid);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int
nxt_nxd_stop(struct nxt_nxd *d)
{
	int rc;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	rc = nxt_wait(d->pid, nxt_patience_ns());
	d->pid = -1;
	if (rc == 0)
		unlink(d->log); /* kept when something went wrong */
	else
		nxt_nxd_dump_log(d);
	return rc;
}

void
nxt_nxd_kill(struct nxt_nxd *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	forget(d->pid);
	d->pid = -1;
	unlink(d->log);
}

bool
nxt_segments_gone(const char *instance)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof path, "/dev/shm/nx.%s.health", instance);
	if (stat(path, &st) == 0)
		return false;
	snprintf(path, sizeof path, "/dev/shm/nx.%s.dlq", instance);
	return stat(path, &st) != 0;
}

void
nxt_cleanup(const char *instance)
{
	char path[256];

	snprintf(path, sizeof path, "/dev/shm/nx.%s.health", instance);
	unlink(path);
	snprintf(path, sizeof path, "/dev/shm/nx.%s.dlq", instance);
	unlink(path);
	/* the control socket and lock an nxd killed with SIGKILL leaves */
	if (nx__ctl_path(path, sizeof path, instance) == 0) {
		unlink(path);
		snprintf(path + strlen(path) - 4, 6, ".lock");
		unlink(path);
	}
}

int
nxt_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int
nxt_ctl_peers(pid_t pid, const char *instance)
{
	unsigned long inodes[256];
	char path[320], link[64], line[512], want[128];
	struct dirent *e;
	unsigned i, n = 0;
	int peers = 0;
	DIR *dir;
	FILE *f;

	/* nxd's sockets */
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL && n < 256) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/fd/%s", (int)pid, e->d_name);
		len = readlink(path, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
			n++;
	}
	closedir(dir);
	/* those bound to the control socket's name that do not listen:
	 * accepted connections carry their listener's address */
	if (nx__ctl_path(want, sizeof want, instance) < 0)
		return -1;
	f = fopen("/proc/net/unix", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long flags, inode;
		char name[128] = "";

		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %127s", &flags, &inode, name) < 2 ||
		    strcmp(name, want) != 0 || (flags & 0x10000ul) != 0) /* __SO_ACCEPTCON */
			continue;
		for (i = 0; i < n; i++)
			if (inodes[i] == inode)
				peers++;
	}
	fclose(f);
	return peers;
}

int
nxt_count_memfd_fds(pid_t pid)
{
	char path[64], link[256], p[320];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		ssize_t len;

		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		len = readlink(p, link, sizeof link - 1);
		if (len > 0) {
			link[len] = '\0';
			n += strncmp(link, "/memfd:", 7) == 0;
		}
	}
	closedir(dir);
	return n;
}

int
nxt_count_memfd_maps(pid_t pid)
{
	char path[64], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "/memfd:nx-channel") != NULL)
			n++;
	fclose(f);
	return n;
}

pid_t
nxt_find_thread(pid_t pid, const char *name)
{
	char path[320], comm[64];
	struct dirent *e;
	DIR *dir;
	pid_t found = -1;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while (found < 0 && (e = readdir(dir)) != NULL) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, name, strlen(name)) == 0)
			found = (pid_t)atoi(e->d_name);
		fclose(f);
	}
	closedir(dir);
	return found;
}

int
nxt_ctl(const char *instance, char **text, int json, ...)
{
	char *argv[32], *out = NULL;
	va_list ap;
	size_t len;
	int argc = 0, status = 0, rc;

	va_start(ap, json);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	rc = nx__ctl_command(instance, argc, argv, json != 0, nxt_patience_ns(), &out, &len, &status);
	if (rc < 0) {
		free(out);
		return rc;
	}
	if (text != NULL)
		*text = out;
	else
		free(out);
	return status;
}

int
nxt_open_with(struct nx_client **c, const char *instance, const struct nx_open_opts *opts)
{
	struct nx_open_opts o = { 0 };

	if (opts != NULL)
		o = *opts;
	if (o.timeout_ms == 0)
		o.timeout_ms = (uint32_t)(nxt_patience_ns() / 1000000);
	return nx_open(c, instance, &o);
}

int
nxt_open(struct nx_client **c, const char *instance)
{
	return nxt_open_with(c, instance, NULL);
}

int
nxt_echo_once(struct nx_client *c)
{
	char out[16];
	uint32_t len = 0;
	int rc = nx_call(c, (uint16_t)nx_pipeline_id(c, "echo"), "ping", 4, out, sizeof out, &len,
			 nxt_patience_ns());

	return rc != 0 ? rc : len == 4 && memcmp(out, "ping", 4) == 0 ? 0 : NX_EPROTO;
}
