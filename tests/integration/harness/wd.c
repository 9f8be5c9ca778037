#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nx/nx.h>

#include "shm/health_read.h"

#include "harness.h"
#include "wd.h"

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* every nxwd started, killed at exit if a failed assertion left it */
static struct {
	pid_t pid;
	char instance[64];
} started[64];
static unsigned nstarted;

static void
reap_all(void)
{
	unsigned i;

	for (i = 0; i < nstarted; i++) {
		if (started[i].pid > 0) {
			/* SIGKILL: its nxd dies with it (PR_SET_PDEATHSIG) */
			kill(started[i].pid, SIGKILL);
			waitpid(started[i].pid, NULL, 0);
			usleep(100000);
		}
		nxt_cleanup(started[i].instance);
	}
}

static void
forget(pid_t pid)
{
	unsigned i;

	for (i = 0; i < nstarted; i++)
		if (started[i].pid == pid)
			started[i].pid = 0;
}

pid_t
nxt_wd_spawn(struct nxt_wd *w, const char *instance, const char *const *wd_args,
	     const char *const *nxd_args)
{
	const char *argv[80];
	char nxd[512];
	int i = 0, k;
	pid_t pid;

	snprintf(w->instance, sizeof w->instance, "%s", instance);
	snprintf(w->log, sizeof w->log, "/tmp/%s.nxwd.log", instance);
	snprintf(nxd, sizeof nxd, "%s", nxt_bin("nxd"));
	argv[i++] = nxt_bin("nxwd");
	for (k = 0; wd_args != NULL && wd_args[k] != NULL && i < 40; k++)
		argv[i++] = wd_args[k];
	argv[i++] = "--";
	argv[i++] = nxd;
	argv[i++] = "--instance";
	argv[i++] = instance;
	for (k = 0; nxd_args != NULL && nxd_args[k] != NULL && i < 78; k++)
		argv[i++] = nxd_args[k];
	argv[i] = NULL;
	pid = fork();
	if (pid == 0) {
		const struct rlimit none = { 0, 0 };
		int fd = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setrlimit(RLIMIT_CORE, &none); /* SIGABRT to a stalled nxd: no core here */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	w->pid = pid;
	if (nstarted == 0)
		atexit(reap_all);
	if (pid > 0 && nstarted < sizeof started / sizeof started[0]) {
		started[nstarted].pid = pid;
		snprintf(started[nstarted].instance, sizeof started[nstarted].instance, "%s",
			 instance);
		nstarted++;
	}
	return pid;
}

int
nxt_wd_wait(struct nxt_wd *w, uint64_t timeout_ns)
{
	int st;

	if (w->pid <= 0)
		return -1;
	st = nxt_wait(w->pid, timeout_ns);
	forget(w->pid);
	w->pid = -1;
	return st;
}

int
nxt_wd_stop(struct nxt_wd *w)
{
	if (w->pid <= 0)
		return -1;
	kill(w->pid, SIGTERM);
	return nxt_wd_wait(w, nxt_budget_ns(20000000000ull));
}

void
nxt_wd_dump_log(const struct nxt_wd *w)
{
	nxt_dump_file(w->log);
}

int
nxt_log_count(const char *path, const char *text)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, text) != NULL)
			n++;
	fclose(f);
	return n;
}

int
nxt_hdr_read(const char *instance, struct nxt_hdr *h)
{
	struct nx_health_view hv;

	memset(h, 0, sizeof *h);
	if (nx__health_map_ro(&hv, instance) < 0)
		return -1;
	h->generation = nx__load64(&hv.hdr->generation);
	h->pid = (int32_t)nx__load32((const uint32_t *)&hv.hdr->pid);
	h->state = nx__load32(&hv.hdr->state);
	h->restarts = nx__load64(&hv.hdr->restarts);
	nx__health_unmap(&hv);
	return 0;
}

int
nxt_wait_serving(const char *instance, uint64_t min_gen, uint64_t timeout_ns, struct nxt_hdr *h)
{
	const uint64_t t0 = mono_ns();

	while (mono_ns() - t0 < timeout_ns) {
		struct nx_client *c;

		if (nxt_hdr_read(instance, h) == 0 && h->generation >= min_gen &&
		    h->state == NX_INST_RUNNING && nx_open(&c, instance, NULL) == 0) {
			nx_close(c);
			return 0;
		}
		usleep(2000);
	}
	return -1;
}
