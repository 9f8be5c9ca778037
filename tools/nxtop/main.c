/*
 * nxtop - top for a nexus instance: its health, workers, stage slots and
 * channels, live on a terminal (ncurses), or one snapshot as JSON or in
 * Prometheus's text format. A thin main over the health reader library
 * (shm/monitor/health_read.h), which also follows nxd across restarts.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nxtop.h"

#define NXTOP_DELAY_MIN 0.05
#define NXTOP_DELAY_MAX 3600.0

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxtop [--instance NAME] [-d SECONDS] [--once --json | --prometheus]\n"
		"\n"
		"top for a nexus instance: overall health and why, uptime, generation and\n"
		"restarts; workers (CPU, requests/s, busy %%, p50/p99 service time, heartbeat\n"
		"age, state, health); stage slots (pipeline/slot, stage, version, swaps,\n"
		"calls/s, failure %% over the reader's window, p99, health); channels (client\n"
		"pid, state, depth, outstanding, requests/s, errors); the last restarts.\n"
		"It reads nxd's health segment (/dev/shm/nx.NAME.health) and nothing else.\n"
		"When nxd stops it shows \"down since\" and the last generation, and it picks\n"
		"the next generation up by itself when nxd comes back.\n"
		"\n"
		"options:\n"
		"  -i, --instance NAME   the instance (default \"default\", as nxd's)\n"
		"  -d, --delay SECONDS   refresh interval, %.2f to %.0f (default 1); with\n"
		"                        --json, the time between the two snapshots the\n"
		"                        rates are taken from\n"
		"  -1, --once            one snapshot, then exit (needs --json)\n"
		"  -j, --json            one snapshot as one JSON object on stdout: raw\n"
		"                        counters and derived figures (implies --once)\n"
		"  -p, --prometheus      one scrape in the Prometheus text exposition format\n"
		"                        on stdout (counters and gauges; rates are left to\n"
		"                        Prometheus); for node_exporter's textfile collector,\n"
		"                        write to a temporary file and rename it:\n"
		"                          nxtop -p > dir/nx.prom.tmp && mv dir/nx.prom.tmp dir/nx.prom\n"
		"  -h, --help            this text\n"
		"\n"
		"keys:\n"
		"  1 2 3    workers, stages, channels table    s   next sort column\n"
		"  d        set the refresh interval (type seconds, then Enter)\n"
		"  p        pause / resume                     h   help     q   quit\n"
		"\n"
		"exit status: 0 done (also when the instance is down, or has no segment at\n"
		"all: the output then says so, with \"up\":false or nx_up 0, and a note goes\n"
		"to stderr when there is no segment); 1 the segment cannot be read (another\n"
		"ABI, no permission) or output failed; 2 bad usage.\n",
		NXTOP_DELAY_MIN, NXTOP_DELAY_MAX);
}

static void
sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One snapshot out: JSON (after a first one, -d earlier, for the rates)
 * or Prometheus. */
static int
run_batch(struct nx_hr *r, const char *instance, double delay, bool json)
{
	const struct nx_hr_snap *s;
	int rc = nx__hr_snapshot(r, &s);

	if (rc == 0 && json) {
		sleep_s(delay);
		rc = nx__hr_snapshot(r, &s);
	}
	if (rc < 0) {
		fprintf(stderr, "nxtop: instance '%s': %s\n", instance, nx_errmsg());
		return 1;
	}
	if (!s->mapped && s->hdr.generation == 0)
		fprintf(stderr, "nxtop: instance '%s' has no health segment: nxd never served it, "
				"or stopped and removed it\n", instance);
	rc = json ? nxtop_write_json(stdout, instance, s, delay)
		  : nxtop_write_prometheus(stdout, instance, s);
	if (rc < 0) {
		fprintf(stderr, "nxtop: writing the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "delay", required_argument, NULL, 'd' },
		{ "once", no_argument, NULL, '1' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = "default";
	bool once = false, json = false, prom = false;
	double delay = 1.0;
	struct nx_hr *r;
	char *end;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "i:d:1jph", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			instance = optarg;
			break;
		case 'd':
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(delay >= NXTOP_DELAY_MIN) ||
			    delay > NXTOP_DELAY_MAX) {
				fprintf(stderr, "nxtop: -d: '%s' is not %.2f to %.0f seconds\n", optarg,
					NXTOP_DELAY_MIN, NXTOP_DELAY_MAX);
				return 2;
			}
			break;
		case '1':
			once = true;
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			prom = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "nxtop: see 'nxtop --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nxtop: unexpected argument '%s'; see 'nxtop --help'\n", argv[optind]);
		return 2;
	}
	if (json && prom) {
		fprintf(stderr, "nxtop: --json and --prometheus: choose one\n");
		return 2;
	}
	if (once && !json && !prom) {
		fprintf(stderr, "nxtop: --once needs --json (or use --prometheus)\n");
		return 2;
	}
	rc = nx__hr_open(&r, instance, NULL);
	if (rc < 0) {
		fprintf(stderr, "nxtop: %s\n", nx_errmsg());
		return rc == NX_EINVAL ? 2 : 1;
	}
	if (json || prom) {
		rc = run_batch(r, instance, delay, json);
	} else if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "nxtop: the live screen needs a terminal; for scripts use "
				"--once --json or --prometheus\n");
		rc = 2;
	} else {
		rc = nxtop_screen_run(r, instance, delay);
	}
	nx__hr_close(r);
	return rc;
}
