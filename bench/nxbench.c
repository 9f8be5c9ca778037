/*
 * nxbench - round-trip latency and throughput between two pinned
 * processes: nexus and its baselines in the same run.
 *
 * A thin main: parse and check the options, run each transport's modes
 * (bench/baselines.c, bench/nx_transport.c), and print them (bench/report.c:
 * a table or JSON lines, and the ratios against the bare ck ring).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define NXB_EXIT_FAIL 1  /* a run failed */
#define NXB_EXIT_USAGE 2 /* bad options */
#define NXB_TRANSPORTS_DEFAULT "nx,floor,ck,uds"

struct transport {
	const char *name;
	nxb_run_fn pingpong;   /* round trip, one outstanding */
	nxb_run_fn throughput; /* NULL when the transport has none */
	const char *tp_mode;   /* the throughput mode's name */
	const char *what;
};

static const struct transport transports[] = {
	{ "nx", nxb_nx_pingpong, nxb_nx_window, "window",
	  "nexus: libnx client, nxd worker; throughput: window of W outstanding" },
	{ "nxnc", nxb_nxnc_pingpong, NULL, NULL,
	  "nexus echo against nxd-nocounters: the data path's health counters compiled out" },
	{ "nxoff", nxb_nxoff_pingpong, NULL, NULL,
	  "nexus echo slot without policies, by submit and wait (baseline of nxpol)" },
	{ "nxpol", nxb_nxpol_pingpong, NULL, NULL,
	  "the same slot with breaker, budget and slow-call checks, a deadline on every\n"
	  "                              request and a channel rate limit (never reached)" },
	{ "nxbatch", NULL, nxb_nxbatch_window, "window",
	  "nx's window, each refill one nx_submit_batch (throughput only)" },
	{ "nxshed", NULL, nxb_nxshed_window, "window",
	  "a slot whose breaker is forced open: answers/s of load shed (window mode)" },
	{ "nx3", nxb_nx3_pingpong, NULL, NULL,
	  "nexus through noop3, a seq of three no-op stages (against nx: the graph's cost)" },
	{ "nxswap", nxb_nxswap_pingpong, NULL, NULL,
	  "nexus echo while its stage is swapped --swap-rate times a second (default 1000)" },
	{ "floor", nxb_floor_pingpong, nxb_floor_window, "window",
	  "two cache lines, the sequence number as the flag; throughput: the same over a\n"
	  "                              ring each way, window of W (the bound of any request-answer design)" },
	{ "floorhdr", nxb_floorhdr_pingpong, NULL, NULL,
	  "the floor with its sequence number in an 8-byte header beside the payload:\n"
	  "                              two lines each way at 64 bytes, one after the other.\n"
	  "                              With the vCPUs on one core, what a flag not in the\n"
	  "                              payload costs; pingpong only" },
	{ "ck", nxb_ck_pingpong, nxb_ck_stream, "stream",
	  "bare ck SPSC ring each way; throughput: one-way stream" },
	{ "memcpy", NULL, nxb_memcpy_copy, "copy",
	  "memcpy of one payload on the client's CPU, buffers hot: the bound of a design\n"
	  "                              that copies each way (throughput only)" },
	{ "uds", nxb_uds_pingpong, NULL, NULL,
	  "UNIX SOCK_STREAM socket pair, blocking; pingpong only" },
	{ "futex", nxb_futex_wakeup, NULL, NULL,
	  "two futex words, both sides asleep between calls: the OS's wake-up floor\n"
	  "                              (each call after an idle gap, as nxsleep)" },
	{ "nxsleep", nxb_nxsleep_wakeup, NULL, NULL,
	  "nexus in spin-then-sleep mode (nxd --idle sleep, client NX_WAIT_SLEEP):\n"
	  "                              each call after an idle gap, so both sides sleep and\n"
	  "                              are woken; notes give nxd's CPU use while idle" },
};
#define NTRANSPORTS (sizeof transports / sizeof transports[0])

enum { MODE_PINGPONG = 1, MODE_THROUGHPUT = 2, MODE_ALL = 3 };

/* forward: the sweep runs transports as main does */
static unsigned run_transport(struct nxb_opts *o, const struct transport *t, int mode,
			      struct nxb_result *rs, unsigned *n, struct nxb_result *tmp);

static const struct transport *
transport_named(const char *name)
{
	unsigned i;

	for (i = 0; i < NTRANSPORTS; i++)
		if (strcmp(transports[i].name, name) == 0)
			return &transports[i];
	return NULL;
}

/*
 * The payload sweep: per payload, nx's round trip and window, and memcpy
 * of the same payload on the client's CPU, the rounds interleaved. The
 * payload bandwidth of the window counts the payload both ways (request
 * and answer); each way is copied twice (into the channel, out of it).
 */
static unsigned
run_sweep(struct nxb_opts *o, struct nxb_result *rs)
{
	static const uint32_t sizes[] = { 56, 64, 256, 1024, 4096, 65536 };
	enum { NSIZES = sizeof sizes / sizeof sizes[0], PER = 4 };
	const struct transport *nx = transport_named("nx"), *mc = transport_named("memcpy");
	struct nxb_result *tmp = &rs[2 * NTRANSPORTS], *all;
	unsigned n[NSIZES] = { 0 }, failed = 0, round, k;

	all = calloc(NSIZES * PER, sizeof *all);
	if (all == NULL) {
		fprintf(stderr, "nxbench: out of memory\n");
		return 1;
	}
	if (!o->json)
		printf("nxbench --sweep: client pinned to CPU %d, nxd's worker to CPU %d; %u rounds, "
		       "each through every payload, nx and memcpy taking turns\n",
		       o->client_cpu, o->server_cpu, o->rounds);
	if (!o->json)
		nxb_print_machine(o);
	/* each round visits every payload: the machine's drift falls on all */
	for (round = 0; round < o->rounds; round++)
		for (k = 0; k < NSIZES; k++) {
			if (o->isatty_progress)
				fprintf(stderr, "\r  round %u of %u: payload %u B   ", round + 1,
					o->rounds, sizes[k]);
			o->payload = sizes[k];
			failed += run_transport(o, nx, MODE_ALL, &all[k * PER], &n[k], tmp);
			failed += run_transport(o, mc, MODE_THROUGHPUT, &all[k * PER], &n[k], tmp);
		}
	if (o->isatty_progress)
		fprintf(stderr, "\r%60s\r", "");
	if (o->json) {
		for (k = 0; k < NSIZES; k++)
			for (round = 0; round < n[k]; round++)
				nxb_print(&all[k * PER + round], true);
		free(all);
		return failed;
	}
	printf("\n%8s %9s %9s %12s %12s %12s %12s %8s\n", "payload", "p50 us", "p99 us",
	       "pingpong/s", "window/s", "window GB/s", "memcpy GB/s", "of copy");
	for (k = 0; k < NSIZES; k++) {
		const struct nxb_result *pp = nxb_find(&all[k * PER], n[k], "nx", "pingpong");
		const struct nxb_result *w = nxb_find(&all[k * PER], n[k], "nx", "window");
		const struct nxb_result *m = nxb_find(&all[k * PER], n[k], "memcpy", "copy");
		double wgb = w != NULL ? w->ops_per_s * 2.0 * sizes[k] / 1e9 : 0;
		double mgb = m != NULL ? m->ops_per_s * sizes[k] / 1e9 : 0;

		printf("%8u %9.3f %9.3f %12.0f %12.0f %12.2f %12.2f %7.1f%%\n", sizes[k],
		       pp != NULL ? nx__hist_percentile(&pp->hist, 50) / 1e3 : 0.0,
		       pp != NULL ? nx__hist_percentile(&pp->hist, 99) / 1e3 : 0.0,
		       pp != NULL ? pp->ops_per_s : 0.0, w != NULL ? w->ops_per_s : 0.0, wgb, mgb,
		       mgb > 0 ? 100.0 * wgb / mgb : 0.0);
	}
	printf("\nwindow GB/s: payload bytes answered per second, request and answer counted "
	       "(window %u);\nmemcpy GB/s: one core copying one payload between hot buffers. "
	       "Each way a payload is\ncopied twice (into the channel by libnx, out of it by the "
	       "stage or libnx), so a\ncopying design on two cores tops out near the memcpy figure.\n",
	       o->window);
	free(all);
	return failed;
}

static void
usage(FILE *f)
{
	unsigned i;

	fprintf(f,
		"usage: nxbench [options]\n"
		"\n"
		"Round-trip latency and throughput between two processes, the client\n"
		"pinned to one CPU and the serving side to another, for nexus and its\n"
		"baselines in the same run. Latency is per operation from one clock read\n"
		"per iteration (the clock's cost is in every transport alike).\n"
		"\n"
		"options:\n"
		"  --transports LIST  comma-separated, run in that order (default %s):\n",
		NXB_TRANSPORTS_DEFAULT);
	for (i = 0; i < NTRANSPORTS; i++)
		fprintf(f, "                       %-6s %s\n", transports[i].name,
			transports[i].what);
	fprintf(f,
		"  --mode MODE        pingpong, throughput or all (default all)\n"
		"  --payload BYTES    message size, 1..%u (default 64)\n"
		"  --ops N            measured operations per run (default 200000)\n"
		"  --warmup N         operations before them, not recorded (default 20000)\n"
		"  --duration SEC     upper bound on each run, warmup included; the run\n"
		"                     stops at --ops or --duration, whichever comes first\n"
		"                     (default 10)\n"
		"  --window W         throughput mode: requests outstanding, 1..65536 (default 64)\n"
		"  --rounds R         split each run into R rounds, the transports taking turns\n"
		"                     (nx, floor, ck, uds, nx, floor, ...), and merge each\n"
		"                     one's rounds: drift in the machine's speed then falls on\n"
		"                     every transport alike (default 1)\n"
		"  --client-cpu N     CPU of the client (nxbench itself)\n"
		"  --server-cpu N     CPU of the serving side (default: the first two CPUs\n"
		"                     nxbench may use; with only one, both share it)\n"
		"  --instance NAME    nx: use this running nxd instead of starting a private one\n"
		"  --nxd PATH         nx: the nxd binary for a private instance\n"
		"                     (default: nxd next to the nxbench binary)\n"
		"  --swap-rate N      nxswap: stage swaps per second during its run (default 1000)\n"
		"  --start-timeout SEC  a serving side (a private nxd, a baseline's server) not\n"
		"                     ready within SEC seconds is an error (default 3)\n"
		"  --op-timeout SEC   no answer for SEC seconds is an error (default 5)\n"
		"  --json             one JSON object per line per transport and mode\n"
		"  --restart          instead of the transports: crash recovery under nxwd;\n"
		"                     nxd killed with SIGKILL --kills times under load: kill\n"
		"                     to nxwd noticing, and to the first answer (p50, p99)\n"
		"  --sweep            instead of the transports: the payload sweep; for each of\n"
		"                     56 B, 64 B, 256 B, 1 KiB, 4 KiB and 64 KiB, nx's round trip\n"
		"                     (p50, p99, requests/s) and window, against memcpy's\n"
		"                     bandwidth on one core, all in the same run (--rounds apply)\n"
		"  --kills N          --restart: how many kills (default 100)\n"
		"  --nxwd PATH        --restart: the nxwd binary (default: next to nxd)\n"
		"  -h, --help         this text\n"
		"\n"
		"exit status: 0 all runs done, %d a run failed, %d bad options\n",
		NXB_PAYLOAD_MAX, NXB_EXIT_FAIL, NXB_EXIT_USAGE);
}

static int __attribute__((format(printf, 1, 2)))
bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("nxbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return NX_EINVAL;
}

static int
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		return bad_usage("%s: '%s' is not a number in [%llu, %llu]", opt, s,
				 (unsigned long long)min, (unsigned long long)max);
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return bad_usage("%s: '%s' is not a number in [%llu, %llu]", opt, s,
				 (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

/* The CPUs nxbench may run on (its affinity mask), in order. */
static int
allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	for (cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

static int
parse_cpu(const char *opt, const char *s, const int *cpus, int ncpus, int *out)
{
	uint64_t v;
	int i;

	if (parse_u64(opt, s, 0, CPU_SETSIZE - 1, &v) < 0)
		return NX_EINVAL;
	for (i = 0; i < ncpus; i++)
		if (cpus[i] == (int)v) {
			*out = (int)v;
			return 0;
		}
	return bad_usage("%s: cpu %llu is out of range: nxbench may use %d CPU%s (first %d, last %d)",
			 opt, (unsigned long long)v, ncpus, ncpus == 1 ? "" : "s",
			 ncpus > 0 ? cpus[0] : -1, ncpus > 0 ? cpus[ncpus - 1] : -1);
}

/* "nx,ck" -> indices into transports[], in order. @return count or NX_EINVAL */
static int
parse_transports(const char *list, unsigned *idx, unsigned max)
{
	char buf[256], *tok, *save = NULL;
	unsigned n = 0, i, j;

	if (strlen(list) >= sizeof buf)
		return bad_usage("--transports: list too long");
	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NTRANSPORTS; i++)
			if (strcmp(tok, transports[i].name) == 0)
				break;
		if (i == NTRANSPORTS)
			return bad_usage("--transports: unknown transport '%s' (known: nx, floor, ck, uds)",
					 tok);
		for (j = 0; j < n; j++)
			if (idx[j] == i)
				return bad_usage("--transports: '%s' listed twice", tok);
		if (n == max)
			return bad_usage("--transports: too many");
		idx[n++] = i;
	}
	if (n == 0)
		return bad_usage("--transports: empty list");
	return (int)n;
}

/* The nxd next to this binary. */
static const char *
default_nxd(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return "nxd";
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL || (size_t)(slash - buf) + sizeof "/nxd" > len)
		return "nxd";
	memcpy(slash, "/nxd", sizeof "/nxd");
	return buf;
}

/* ---- main ---- */

enum {
	OPT_TRANSPORTS = 256,
	OPT_MODE,
	OPT_PAYLOAD,
	OPT_OPS,
	OPT_WARMUP,
	OPT_DURATION,
	OPT_WINDOW,
	OPT_CLIENT_CPU,
	OPT_SERVER_CPU,
	OPT_INSTANCE,
	OPT_NXD,
	OPT_SWAP_RATE,
	OPT_JSON,
	OPT_ROUNDS,
	OPT_RESTART,
	OPT_SWEEP,
	OPT_KILLS,
	OPT_NXWD,
	OPT_START_TIMEOUT,
	OPT_OP_TIMEOUT,
};

static const struct option longopts[] = {
	{ "transports", required_argument, NULL, OPT_TRANSPORTS },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "client-cpu", required_argument, NULL, OPT_CLIENT_CPU },
	{ "server-cpu", required_argument, NULL, OPT_SERVER_CPU },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "nxd", required_argument, NULL, OPT_NXD },
	{ "swap-rate", required_argument, NULL, OPT_SWAP_RATE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "restart", no_argument, NULL, OPT_RESTART },
	{ "sweep", no_argument, NULL, OPT_SWEEP },
	{ "kills", required_argument, NULL, OPT_KILLS },
	{ "nxwd", required_argument, NULL, OPT_NXWD },
	{ "start-timeout", required_argument, NULL, OPT_START_TIMEOUT },
	{ "op-timeout", required_argument, NULL, OPT_OP_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Add one round's result r to the transport's total in rs[0..*n). */
static void
merge_round(struct nxb_result *rs, unsigned *n, const struct nxb_result *r)
{
	struct nxb_result *t;
	unsigned i;

	for (i = 0; i < *n; i++)
		if (strcmp(rs[i].transport, r->transport) == 0 && strcmp(rs[i].mode, r->mode) == 0)
			break;
	t = &rs[i];
	if (i == *n) {
		memcpy(t, r, sizeof *t);
		(*n)++;
		t->nrounds = 0;
	} else {
		nx__hist_merge(&t->hist, &r->hist);
		t->ops += r->ops;
		t->elapsed_ns += r->elapsed_ns;
		t->ops_per_s = t->elapsed_ns > 0 ? (double)t->ops * 1e9 / (double)t->elapsed_ns : 0.0;
		t->by_duration = t->by_duration || r->by_duration;
	}
	if (t->nrounds < NXB_ROUNDS_MAX) {
		t->round_rate[t->nrounds] = r->ops_per_s;
		t->round_p50[t->nrounds] = r->hist.count > 0 ? nx__hist_percentile(&r->hist, 50) : 0;
		t->nrounds++;
	}
}

/* Run one round of one transport's selected modes, merged into rs[0..*n).
 * @return failures */
static unsigned
run_transport(struct nxb_opts *o, const struct transport *t, int mode, struct nxb_result *rs,
	      unsigned *n, struct nxb_result *tmp)
{
	nxb_run_fn fns[2];
	const char *names[2];
	unsigned nfns = 0, i, failed = 0;
	bool is_nx = strncmp(t->name, "nx", 2) == 0;
	int rc;

	if ((mode & MODE_PINGPONG) && t->pingpong != NULL) {
		fns[nfns] = t->pingpong;
		names[nfns++] = "pingpong";
	}
	if ((mode & MODE_THROUGHPUT) && t->throughput != NULL) {
		fns[nfns] = t->throughput;
		names[nfns++] = t->tp_mode;
	}
	if (nfns == 0) {
		fprintf(stderr, "nxbench: %s has no %s mode, skipped\n", t->name,
			(mode & MODE_THROUGHPUT) ? "throughput" : "pingpong");
		return 0;
	}
	/* A private nxd busy-polls the server CPU: it lives only for nx's runs. */
	if (is_nx) {
		nx__err_clear();
		const char *nxd = o->nxd_path;

		o->nx_sleep = strcmp(t->name, "nxsleep") == 0;
		if (strcmp(t->name, "nxnc") == 0)
			o->nxd_path = o->nxd_nc_path;
		memset(o->nxd_extra, 0, sizeof o->nxd_extra);
		if (strcmp(t->name, "nxpol") == 0) {
			o->nxd_extra[0] = "--rate-limit";
			o->nxd_extra[1] = "1000000000";
			o->nxd_extra[2] = "--rate-burst";
			o->nxd_extra[3] = "1000000000";
		}
		rc = nxb_nx_setup(o);
		o->nxd_path = nxd;
		if (rc < 0) {
			fprintf(stderr, "nxbench: nx: setup: %s\n",
				nx__errmsg()[0] != '\0' ? nx__errmsg() : nx_strerror(rc));
			return nfns;
		}
	}
	for (i = 0; i < nfns; i++) {
		nx__err_clear();
		rc = fns[i](o, tmp);
		if (rc < 0) {
			fprintf(stderr, "nxbench: %s %s: %s\n", t->name, names[i],
				nx__errmsg()[0] != '\0' ? nx__errmsg() : nx_strerror(rc));
			failed++;
			continue;
		}
		merge_round(rs, n, tmp);
	}
	if (is_nx)
		nxb_nx_teardown(o);
	return failed;
}

int
main(int argc, char **argv)
{
	static char nxd_buf[PATH_MAX], nxd_nc_buf[PATH_MAX + 16], conf_buf[64],
		nxwd_buf[PATH_MAX + 16];
	const char *nxwd = NULL;
	bool restart = false;
	unsigned kills = 100;
	struct nxb_opts o = {
		.client_cpu = -1,
		.server_cpu = -1,
		.payload = 64,
		.ops = 200000,
		.warmup = 20000,
		.duration_ns = 10000000000ull,
		.window = 64,
		.rounds = 1,
		.start_timeout_ns = 3000000000ull,
		.op_timeout_ns = 5000000000ull,
	};
	const char *tlist = NXB_TRANSPORTS_DEFAULT;
	unsigned idx[NTRANSPORTS], ntr, i, n = 0, failed = 0, round;
	int cpus[CPU_SETSIZE], ncpus, mode = MODE_ALL, c, rc;
	struct nxb_result *rs;
	bool sweep = false;
	uint64_t v;
	double sec;
	char *end;

	ncpus = allowed_cpus(cpus, CPU_SETSIZE);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case OPT_TRANSPORTS:
			tlist = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "pingpong") == 0)
				mode = MODE_PINGPONG;
			else if (strcmp(optarg, "throughput") == 0)
				mode = MODE_THROUGHPUT;
			else if (strcmp(optarg, "all") == 0)
				mode = MODE_ALL;
			else
				rc = bad_usage("--mode: '%s' is not pingpong, throughput or all",
					       optarg);
			break;
		case OPT_PAYLOAD:
			rc = parse_u64("--payload", optarg, 1, NXB_PAYLOAD_MAX, &v);
			o.payload = (uint32_t)v;
			break;
		case OPT_OPS:
			rc = parse_u64("--ops", optarg, 1, UINT64_C(1) << 40, &o.ops);
			break;
		case OPT_WARMUP:
			rc = parse_u64("--warmup", optarg, 0, UINT64_C(1) << 40, &o.warmup);
			break;
		case OPT_DURATION:
			errno = 0;
			sec = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(sec >= 0.001) ||
			    sec > 86400)
				rc = bad_usage("--duration: '%s' is not a number of seconds in [0.001, 86400]",
					       optarg);
			else
				o.duration_ns = (uint64_t)(sec * 1e9);
			break;
		case OPT_WINDOW:
			rc = parse_u64("--window", optarg, 1, 65536, &v);
			o.window = (unsigned)v;
			break;
		case OPT_CLIENT_CPU:
			rc = parse_cpu("--client-cpu", optarg, cpus, ncpus, &o.client_cpu);
			break;
		case OPT_SERVER_CPU:
			rc = parse_cpu("--server-cpu", optarg, cpus, ncpus, &o.server_cpu);
			break;
		case OPT_INSTANCE:
			if (optarg[0] == '\0')
				rc = bad_usage("--instance: empty name");
			o.instance = optarg;
			break;
		case OPT_NXD:
			if (optarg[0] == '\0')
				rc = bad_usage("--nxd: empty path");
			o.nxd_path = optarg;
			break;
		case OPT_SWAP_RATE:
			rc = parse_u64("--swap-rate", optarg, 0, 1000000, &v);
			o.swap_rate = (unsigned)v;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_ROUNDS:
			rc = parse_u64("--rounds", optarg, 1, NXB_ROUNDS_MAX, &v);
			o.rounds = (unsigned)v;
			break;
		case OPT_SWEEP:
			sweep = true;
			break;
		case OPT_RESTART:
			restart = true;
			break;
		case OPT_KILLS:
			rc = parse_u64("--kills", optarg, 1, 100000, &v);
			kills = (unsigned)v;
			break;
		case OPT_NXWD:
			if (optarg[0] == '\0')
				rc = bad_usage("--nxwd: empty path");
			nxwd = optarg;
			break;
		case OPT_START_TIMEOUT:
			rc = parse_u64("--start-timeout", optarg, 1, 86400, &v);
			o.start_timeout_ns = v * 1000000000ull;
			break;
		case OPT_OP_TIMEOUT:
			rc = parse_u64("--op-timeout", optarg, 1, 86400, &v);
			o.op_timeout_ns = v * 1000000000ull;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return NXB_EXIT_USAGE;
		}
		if (rc < 0)
			return NXB_EXIT_USAGE;
	}
	if (optind < argc) {
		bad_usage("unexpected argument '%s'", argv[optind]);
		return NXB_EXIT_USAGE;
	}
	rc = parse_transports(tlist, idx, NTRANSPORTS);
	if (rc < 0)
		return NXB_EXIT_USAGE;
	ntr = (unsigned)rc;
	for (i = 0; i < ntr; i++)
		if ((mode & MODE_PINGPONG) || transports[idx[i]].throughput != NULL)
			break;
	if (i == ntr) {
		bad_usage("--mode throughput: none of these transports has a throughput mode "
			  "(nx, floor and ck do)");
		return NXB_EXIT_USAGE;
	}
	if (ncpus == 0) {
		fprintf(stderr, "nxbench: cannot read the CPUs this process may use\n");
		return NXB_EXIT_FAIL;
	}

	/* Placement: the planner (nx__place_plan) will choose; for now the
	 * first two CPUs we may use. */
	if (o.client_cpu < 0)
		o.client_cpu = o.server_cpu == cpus[0] && ncpus > 1 ? cpus[1] : cpus[0];
	if (o.server_cpu < 0) {
		o.server_cpu = o.client_cpu;
		for (i = 0; i < (unsigned)ncpus; i++)
			if (cpus[i] != o.client_cpu) {
				o.server_cpu = cpus[i];
				break;
			}
	}
	if (ncpus == 1)
		fprintf(stderr, "nxbench: warning: only one CPU (%d): client and server share it, "
				"so busy-polling transports measure the scheduler, not the transport\n",
			o.client_cpu);
	else if (o.client_cpu == o.server_cpu)
		fprintf(stderr, "nxbench: warning: client and server both on CPU %d: "
				"busy-polling transports measure the scheduler, not the transport\n",
			o.client_cpu);
	if (o.nxd_path == NULL)
		o.nxd_path = default_nxd(nxd_buf, sizeof nxd_buf);
	snprintf(nxd_nc_buf, sizeof nxd_nc_buf, "%s-nocounters", o.nxd_path);
	o.nxd_nc_path = nxd_nc_buf;
	if (restart) {
		if (nxwd == NULL) {
			char *slash;

			snprintf(nxwd_buf, sizeof nxwd_buf, "%s", o.nxd_path);
			slash = strrchr(nxwd_buf, '/');
			snprintf(slash != NULL ? slash + 1 : nxwd_buf,
				 sizeof nxwd_buf - (size_t)(slash != NULL ? slash + 1 - nxwd_buf : 0),
				 "nxwd");
			nxwd = nxwd_buf;
		}
		return nxb_restart_run(&o, kills, nxwd) < 0 ? NXB_EXIT_FAIL : 0;
	}
	if (o.instance != NULL && ntr > 1)
		fprintf(stderr, "nxbench: note: --instance %s: that nxd's workers keep polling "
				"during the baselines; keep them off CPUs %d and %d\n",
			o.instance, o.client_cpu, o.server_cpu);

	rs = calloc(2 * NTRANSPORTS + 1, sizeof *rs);
	if (rs == NULL) {
		fprintf(stderr, "nxbench: out of memory\n");
		return NXB_EXIT_FAIL;
	}
	if (o.rounds > 1) {
		o.ops = (o.ops + o.rounds - 1) / o.rounds;
		o.warmup = (o.warmup + o.rounds - 1) / o.rounds;
	}
	/* the private nxds' pipelines for the policy transports */
	if (o.instance == NULL) {
		FILE *f;

		snprintf(conf_buf, sizeof conf_buf, "/tmp/nxbench-%d.ini", (int)getpid());
		f = fopen(conf_buf, "w");
		if (f == NULL || fputs(nxb_policy_conf, f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "nxbench: cannot write %s\n", conf_buf);
			free(rs);
			return NXB_EXIT_FAIL;
		}
		o.nxd_config = conf_buf;
	}
	/* progress on stderr while a person watches stdout; none into a pipe */
	o.isatty_progress = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !o.json;
	if (sweep) {
		failed = run_sweep(&o, rs);
		if (o.nxd_config != NULL)
			unlink(o.nxd_config);
		free(rs);
		return failed > 0 ? NXB_EXIT_FAIL : 0;
	}
	nxb_print_header(&o, o.json);
	for (round = 0; round < o.rounds; round++)
		for (i = 0; i < ntr; i++) {
			if (o.isatty_progress)
				fprintf(stderr, "\r  round %u of %u: %-8s ", round + 1, o.rounds,
					transports[idx[i]].name);
			failed += run_transport(&o, &transports[idx[i]], mode, rs, &n,
						&rs[2 * NTRANSPORTS]);
		}
	if (o.isatty_progress)
		fprintf(stderr, "\r%40s\r", "");
	for (i = 0; i < n; i++) {
		if (o.rounds > 1)
			nxb_note(&rs[i], "%u rounds merged", o.rounds);
		nxb_print(&rs[i], o.json);
	}
	nxb_print_footer(rs, n, o.json);
	if (o.nxd_config != NULL)
		unlink(o.nxd_config);
	free(rs);
	return failed > 0 ? NXB_EXIT_FAIL : 0;
}
