/*
 * nxbench --restart: crash recovery under nxwd, measured. A private
 * nxwd + nxd; the client (pinned to the CPU other than the worker's)
 * calls echo without pause; at a random moment nxbench kills nxd with
 * SIGKILL and measures
 *
 *   kill to notice   CLOCK_REALTIME at the kill to the time nxwd noticed the
 *                    death (the restart log's wall_ns: nxwd passes it to the
 *                    next nxd in NX_RESTART_WALL_NS)
 *   kill to answer   CLOCK_MONOTONIC at the kill to the first answer the
 *                    client gets from the next nxd (its first call after the
 *                    kill, through libnx's reclaim)
 *   notice to serve  the restart log's down_ns: nxwd noticing to the new
 *                    nxd's workers serving
 *
 * and, from /proc/stat's steal column of the two CPUs read around each
 * kill, the kills during which the hypervisor took a vCPU away for 20 ms
 * or more: on a VM those, not nexus, make the tail, so the kill-to-answer
 * figures are also given without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "bench/bench.h"
#include "shm/monitor/health_read.h"

struct restart_figures {
	uint64_t *notice, *answer, *serve;
	uint64_t *calm;  /* kill to answer of the kills without steal */
	unsigned ncalm;
	bool steal_known; /* /proc/stat's steal column was read every time */
};

/* A kill with this much of a vCPU stolen is counted apart. /proc/stat
 * counts in ticks (10 ms at 100 Hz), and the hypervisor's usual short
 * preemptions add up to a tick now and then: two ticks are a real one. */
#define STEAL_MS 20u

/*
 * Time the hypervisor took from cpu so far, in ms (/proc/stat's steal
 * column, in clock ticks), or UINT64_MAX when it cannot be read.
 */
static uint64_t
steal_ms(int cpu)
{
	char want[16], line[256];
	uint64_t v[8], ms = UINT64_MAX;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;

	if (cpu < 0 || hz <= 0 || (f = fopen("/proc/stat", "re")) == NULL)
		return UINT64_MAX;
	snprintf(want, sizeof want, "cpu%d ", cpu);
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, want, strlen(want)) == 0) {
			if (sscanf(line + strlen(want), "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
				   " %" SCNu64 " %" SCNu64 " %" SCNu64, &v[0],
				   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
				ms = v[7] * 1000u / (uint64_t)hz;
			break;
		}
	fclose(f);
	return ms;
}

/* The two CPUs' steal so far, in ms, or UINT64_MAX. */
static uint64_t
steal_both_ms(const struct nxb_opts *o)
{
	const uint64_t a = steal_ms(o->client_cpu), b = steal_ms(o->server_cpu);

	return a == UINT64_MAX || b == UINT64_MAX ? UINT64_MAX : a + b;
}

static int
cmp_u64(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
pct(uint64_t *v, unsigned n, double p)
{
	unsigned i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_u64);
	i = (unsigned)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static pid_t
spawn_nxwd(const struct nxb_opts *o, const char *nxwd, const char *inst, const char *log)
{
	char cpu[16];
	pid_t pid;

	snprintf(cpu, sizeof cpu, "%d", o->server_cpu);
	pid = fork();
	if (pid == 0) {
		const char *argv[] = { nxwd, "--restart-min", "0", "--restart-max", "0",
				       "--max-restarts", "0", "--stall-ms", "0", "--",
				       o->nxd_path, "--instance", inst, "--cpus", cpu, "--quiet",
				       NULL };
		cpu_set_t set;
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* nxwd and nxd's control thread may use both CPUs; the worker gets its own */
		CPU_ZERO(&set);
		CPU_SET(o->server_cpu, &set);
		CPU_SET(o->client_cpu, &set);
		sched_setaffinity(0, sizeof set, &set);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(nxwd, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", nxwd, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* The restart log entry of generation gen, once nxd wrote it. */
static int
restart_entry(struct nx_hr *hr, uint64_t gen, struct nx_health_restart *out)
{
	const struct nx_hr_snap *s;
	unsigned i;

	if (nx__hr_snapshot(hr, &s) < 0)
		return -1;
	for (i = 0; i < s->nrestarts; i++)
		if (s->restarts[i].generation == gen && s->restarts[i].down_ns != 0) {
			*out = s->restarts[i];
			return 0;
		}
	return -1;
}

int
nxb_restart_run(const struct nxb_opts *o, unsigned kills, const char *nxwd)
{
	struct restart_figures f = { 0 };
	struct nx_client *c = NULL;
	struct nx_hr *hr = NULL;
	char inst[64], log[128], out[64];
	uint64_t t0;
	unsigned k, done = 0;
	int pipe = -1, rc = NX_EIO;
	pid_t wd;

	snprintf(inst, sizeof inst, "nxbench-restart-%d", (int)getpid());
	snprintf(log, sizeof log, "/tmp/%s.nxwd.log", inst);
	if (nx__thread_pin_self(o->client_cpu) < 0)
		fprintf(stderr, "nxbench: client not pinned: %s\n", nx__errmsg());
	f.notice = calloc(kills, sizeof *f.notice);
	f.answer = calloc(kills, sizeof *f.answer);
	f.serve = calloc(kills, sizeof *f.serve);
	f.calm = calloc(kills, sizeof *f.calm);
	f.steal_known = true;
	if (f.notice == NULL || f.answer == NULL || f.serve == NULL || f.calm == NULL)
		goto out_free;
	wd = spawn_nxwd(o, nxwd, inst, log);
	if (wd < 0)
		goto out_free;
	t0 = nx__clock_ns();
	while (nx_open(&c, inst, NULL) < 0) {
		if (nx__clock_ns() - t0 > o->start_timeout_ns) {
			fprintf(stderr, "nxbench: nxd under nxwd not ready: %s (log: %s)\n",
				nx_errmsg(), log);
			goto out_stop;
		}
		usleep(2000);
	}
	pipe = nx_pipeline_id(c, "echo");
	if (pipe < 0 || nx__hr_open(&hr, inst, NULL) < 0)
		goto out_stop;
	if (!o->json)
		printf("nxbench: restart: %u SIGKILLs of nxd under nxwd (--restart-min 0), instance "
		       "%s; client pinned to CPU %d, nxd's worker to CPU %d\n", kills, inst,
		       o->client_cpu, o->server_cpu);
	for (k = 0; k < kills; k++) {
		const uint64_t load_ns = 50000000ull + nx__random_seed() % 100000000ull;
		struct nx_health_restart e;
		uint64_t ages[4], gen, kill_wall, kill_mono, answered, start, stolen0, stolen1;
		unsigned nw;
		int32_t pid;
		uint32_t len;
		int st;

		/* load: calls without pause for 50 to 150 ms (a standby has time to get
		 * ready: under 10 ms here) */
		start = nx__clock_ns();
		while (nx__clock_ns() - start < load_ns) {
			st = nx_call(c, (uint16_t)pipe, "restart", 7, out, sizeof out, &len,
				     o->op_timeout_ns);
			if (st != 0 && st != NX_ERESTARTED) {
				fprintf(stderr, "nxbench: restart: call: %s\n", nx_strerror(st));
				goto out_stop;
			}
		}
		if (nx__hr_heartbeats(hr, ages, 4, &nw, &gen, &pid) < 0 || pid <= 0)
			goto out_stop;
		stolen0 = steal_both_ms(o);
		kill_wall = nx__wallclock_ns();
		kill_mono = nx__clock_ns();
		if (kill(pid, SIGKILL) < 0)
			goto out_stop;
		/* the first answer after the kill: from the next generation */
		do
			st = nx_call(c, (uint16_t)pipe, "restart", 7, out, sizeof out, &len,
				     o->op_timeout_ns);
		while (st == NX_ERESTARTED && nx__clock_ns() - kill_mono < o->op_timeout_ns);
		answered = nx__clock_ns();
		stolen1 = steal_both_ms(o);
		if (st != 0 || nx_generation(c) <= gen) {
			fprintf(stderr, "nxbench: restart %u: no answer from the next nxd: %s "
				"(log: %s)\n", k + 1, nx_strerror(st), log);
			goto out_stop;
		}
		t0 = nx__clock_ns();
		while (restart_entry(hr, nx_generation(c), &e) < 0)
			if (nx__clock_ns() - t0 > o->op_timeout_ns) {
				fprintf(stderr, "nxbench: restart %u: not in the restart log\n", k + 1);
				goto out_stop;
			} else {
				usleep(100);
			}
		f.notice[done] = e.wall_ns > kill_wall ? e.wall_ns - kill_wall : 0;
		f.answer[done] = answered - kill_mono;
		f.serve[done] = e.down_ns;
		if (stolen0 == UINT64_MAX || stolen1 == UINT64_MAX)
			f.steal_known = false;
		else if (stolen1 - stolen0 < STEAL_MS)
			f.calm[f.ncalm++] = f.answer[done];
		done++;
	}
	rc = 0;
out_stop:
	if (c != NULL)
		nx_close(c);
	kill(wd, SIGTERM);
	waitpid(wd, NULL, 0);
	nx__hr_close(hr);
	if (rc == 0) {
		const uint64_t n50 = pct(f.notice, done, 0.5), n99 = pct(f.notice, done, 0.99),
			       nmax = pct(f.notice, done, 1.0);
		const uint64_t a50 = pct(f.answer, done, 0.5), a99 = pct(f.answer, done, 0.99),
			       amax = pct(f.answer, done, 1.0);
		const uint64_t s50 = pct(f.serve, done, 0.5), s99 = pct(f.serve, done, 0.99);
		const uint64_t c50 = pct(f.calm, f.ncalm, 0.5), c99 = pct(f.calm, f.ncalm, 0.99),
			       cmax = pct(f.calm, f.ncalm, 1.0);

		if (o->json) {
			struct nx_buf b = { 0 };
			struct nx_json j;

			nx__json_init(&j, &b);
			nx__json_obj_open(&j);
			nx__json_kstr(&j, "transport", "restart");
			nx__json_kuint(&j, "kills", done);
			nx__json_kint(&j, "client_cpu", o->client_cpu);
			nx__json_kint(&j, "server_cpu", o->server_cpu);
			nx__json_kuint(&j, "kill_to_notice_p50_ns", n50);
			nx__json_kuint(&j, "kill_to_notice_p99_ns", n99);
			nx__json_kuint(&j, "kill_to_notice_max_ns", nmax);
			nx__json_kuint(&j, "kill_to_answer_p50_ns", a50);
			nx__json_kuint(&j, "kill_to_answer_p99_ns", a99);
			nx__json_kuint(&j, "kill_to_answer_max_ns", amax);
			nx__json_kuint(&j, "notice_to_serve_p50_ns", s50);
			nx__json_kuint(&j, "notice_to_serve_p99_ns", s99);
			if (f.steal_known) {
				nx__json_kuint(&j, "kills_with_steal", done - f.ncalm);
				nx__json_kuint(&j, "kill_to_answer_without_steal_p50_ns", c50);
				nx__json_kuint(&j, "kill_to_answer_without_steal_p99_ns", c99);
				nx__json_kuint(&j, "kill_to_answer_without_steal_max_ns", cmax);
			}
			nx__json_obj_close(&j);
			nx__buf_put(&b, "\n", 1);
			if (!nx__json_done(&j))
				b.failed = true;
			nxb_print_json(&b);
		} else {
			printf("  kill to nxwd noticing:   p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms"
			       "  (target p99 < 1 ms)\n", n50 / 1e6, n99 / 1e6, nmax / 1e6);
			printf("  kill to first answer:    p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms"
			       "  (target p99 < 20 ms)\n", a50 / 1e6, a99 / 1e6, amax / 1e6);
			printf("  noticing to nxd serving: p50 %8.3f ms  p99 %8.3f ms\n", s50 / 1e6,
			       s99 / 1e6);
			if (!f.steal_known)
				printf("  vCPU steal: not readable (/proc/stat)\n");
			else if (f.ncalm != 0)
				printf("  %u of %u kills had a vCPU taken away for %u ms or more (steal, "
				       "/proc/stat); the others,\n  kill to first answer:    p50 %8.3f ms"
				       "  p99 %8.3f ms  max %8.3f ms\n", done - f.ncalm, done, STEAL_MS,
				       c50 / 1e6, c99 / 1e6, cmax / 1e6);
			else
				printf("  every kill had a vCPU taken away for %u ms or more (steal)\n",
				       STEAL_MS);
		}
		unlink(log);
	} else {
		fprintf(stderr, "nxbench: restart: failed after %u kills; nxwd's log: %s\n", done,
			log);
	}
out_free:
	free(f.notice);
	free(f.answer);
	free(f.serve);
	free(f.calm);
	return rc;
}
