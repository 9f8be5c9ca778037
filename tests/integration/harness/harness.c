#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nx/nx.h>

#include "harness.h"
#include "shm/attach.h"

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
	const char *s = getenv("NX_SAN");

	return s != NULL && s[0] != '\0';
}

uint64_t
nxt_budget_ns(uint64_t ns)
{
	return nxt_sanitized() ? ns * 5 : ns;
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

void
nxt_instance(char *buf, size_t len, const char *tag)
{
	static int n;

	snprintf(buf, len, "nxt-%s-%d-%d", tag, (int)getpid(), n++);
}

/* Every nxd and instance a test started, so that a failed assertion
 * (cmocka jumps out of the test) leaves no process and no segment. */
static struct {
	pid_t pid;
	char instance[64];
} spawned[256];
static unsigned nspawned;

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

static void
reap_all(void)
{
	bool killed = false;
	unsigned i;

	for (i = 0; i < nspawned; i++)
		if (spawned[i].pid > 0) {
			kill(spawned[i].pid, SIGKILL);
			waitpid(spawned[i].pid, NULL, 0);
			killed = true;
		}
	if (killed)
		usleep(100000); /* an nxwd's nxd dies after it (PR_SET_PDEATHSIG) */
	for (i = 0; i < nspawned; i++)
		nxt_cleanup(spawned[i].instance);
}

pid_t
nxt_spawn_logged(const char *const *argv, const char *log, const char *instance, bool no_core)
{
	pid_t pid = fork();

	if (pid == 0) {
		const struct rlimit none = { 0, 0 };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* a test that dies takes its children with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
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
	if (nspawned == 0)
		atexit(reap_all);
	if (nspawned < sizeof spawned / sizeof spawned[0]) {
		spawned[nspawned].pid = pid;
		snprintf(spawned[nspawned].instance, sizeof spawned[nspawned].instance, "%s", instance);
		nspawned++;
	}
	return pid;
}

pid_t
nxt_nxd_spawn(struct nxt_nxd *d, const char *instance, const char *const *args)
{
	const char *argv[64];
	int i = 0, k;
	pid_t pid;

	snprintf(d->instance, sizeof d->instance, "%s", instance);
	snprintf(d->log, sizeof d->log, "/tmp/%s.nxd.log", instance);
	argv[i++] = nxt_bin("nxd");
	argv[i++] = "--instance";
	argv[i++] = instance;
	for (k = 0; args != NULL && args[k] != NULL && i < 62; k++)
		argv[i++] = args[k];
	argv[i] = NULL;
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

int
nxt_nxd_start(struct nxt_nxd *d, const char *instance, const char *const *args)
{
	uint64_t t0 = now_ns(), budget = nxt_budget_ns(20000000000ull);

	if (nxt_nxd_spawn(d, instance, args) < 0)
		return -1;
	while (now_ns() - t0 < budget) {
		struct nx_client *c;
		int status;

		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			forget(d->pid);
			fprintf(stderr, "nxd exited early (status %d)\n", status);
			nxt_nxd_dump_log(d);
			d->pid = -1;
			return -1;
		}
		if (nx_open(&c, instance, NULL) == 0) {
			nx_close(c);
			return 0;
		}
		usleep(5000);
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

int
nxt_nxd_stop(struct nxt_nxd *d)
{
	int rc;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	rc = nxt_wait(d->pid, nxt_budget_ns(20000000000ull));
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
	rc = nx__ctl_command(instance, argc, argv, json != 0, 30000000000ull, &out, &len, &status);
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
