#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nx/nx.h>

#include "shm/monitor/health_read.h"

#include "harness.h"
#include "wd.h"

pid_t
nxt_wd_spawn(struct nxt_wd *w, const char *instance, const char *const *wd_args,
	     const char *const *nxd_args)
{
	const char *argv[80];
	char nxd[512];
	int i = 0, k;
	pid_t pid;

	snprintf(w->instance, sizeof w->instance, "%s", instance);
	snprintf(w->log, sizeof w->log, "%s/%s.nxwd.log", nxt_tmpdir(), instance);
	snprintf(nxd, sizeof nxd, "%s", nxt_bin("nxd"));
	argv[i++] = nxt_bin("nxwd");
	for (k = 0; wd_args != NULL && wd_args[k] != NULL && i < 40; k++)
		argv[i++] = wd_args[k];
	argv[i++] = "--";
	argv[i++] = nxd;
	argv[i++] = "--instance";
	argv[i++] = instance;
	nxt_nxd_args(argv, i, 80, nxd_args);
	/* no core: a stalled nxd gets SIGABRT */
	pid = nxt_spawn_logged(argv, w->log, instance, true);
	w->pid = pid;
	return pid;
}

int
nxt_wd_wait(struct nxt_wd *w, uint64_t timeout_ns)
{
	int st;

	if (w->pid <= 0)
		return -1;
	st = nxt_wait(w->pid, timeout_ns); /* reaped: forgotten by the harness */
	w->pid = -1;
	return st;
}

int
nxt_wd_stop(struct nxt_wd *w)
{
	int st;

	if (w->pid <= 0)
		return -1;
	kill(w->pid, SIGTERM);
	st = nxt_wd_wait(w, nxt_patience_ns());
	if (st == 0)
		unlink(w->log); /* kept when something went wrong */
	return st;
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
	const uint64_t t0 = nxt_now_ns();

	while (nxt_now_ns() - t0 < timeout_ns) {
		/* ready without a channel: one a probe closed would be released
		 * only after a grace period, never while a worker is stuck */
		if (nxt_hdr_read(instance, h) == 0 && h->generation >= min_gen &&
		    h->state == NX_INST_RUNNING && nxt_ctl(instance, NULL, 0, "list", NULL) == 0 &&
		    nxt_hdr_read(instance, h) == 0 && h->generation >= min_gen)
			return 0;
		usleep(2000);
	}
	return -1;
}
