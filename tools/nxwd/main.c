/*
 * nxwd - the nexus watchdog. Options, the instance name, then the
 * supervision loop (supervise.c).
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm_internal.h"

#include "nxwd.h"

#define MS 1000000ull

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxwd [options] -- NXD [nxd options]\n"
		"\n"
		"Start nxd and keep it serving: a death is noticed at once (pidfd) and nxd\n"
		"restarted; a worker whose heartbeat is older than --stall-ms is stalled:\n"
		"nxd gets SIGABRT (a core dump shows why), SIGKILL after --abort-grace-ms,\n"
		"and is restarted. The first restart after a stable run is immediate; then\n"
		"each waits a random time between 0 and a ceiling that doubles from\n"
		"--restart-min up to --restart-max (full jitter). Each restart and its\n"
		"reason go to stderr and, through the environment, to the restart log in\n"
		"the instance's health segment (nxtop shows it). Clients keep their\n"
		"channels across a restart: libnx hands them to the new nxd.\n"
		"\n"
		"options:\n"
		"  -i, --instance NAME     the instance to watch (default: nxd's --instance,\n"
		"                          else the instance key of nxd's --config, else\n"
		"                          \"default\")\n"
		"      --stall-ms MS       a worker heartbeat this old is a stall (default 500;\n"
		"                          0: no stall detection)\n"
		"      --abort-grace-ms MS after SIGABRT, wait this long before SIGKILL\n"
		"                          (default 2000)\n"
		"      --restart-min MS    the first backoff's ceiling (default 100; 0: every\n"
		"                          restart at once)\n"
		"      --restart-max MS    no backoff's ceiling above this (default 10000)\n"
		"      --stable-ms MS      up and healthy this long: the backoff starts over\n"
		"                          (default 10000)\n"
		"      --max-restarts N    more than N restarts within --window-ms is a crash\n"
		"                          loop: nxwd stops nxd's restarts and exits 3\n"
		"                          (default 5; 0: no limit)\n"
		"      --window-ms MS      the crash-loop window (default 60000)\n"
		"      --no-standby        start every restart's nxd cold (default: once nxd\n"
		"                          serves, a standby nxd is started that has loaded,\n"
		"                          planned placement and pinned itself, and waits;\n"
		"                          a restart begins there, 7-10 ms sooner here)\n"
		"  -h, --help              this text\n"
		"\n"
		"nxd exiting 2 (bad usage or configuration) is not restarted: nxwd says so\n"
		"and exits 2; nxd exiting 0 (stopped by someone else) ends nxwd with 0.\n"
		"SIGTERM or SIGINT: nxwd forwards SIGTERM to nxd, waits for it, exits 0.\n"
		"Under systemd (Type=notify): READY=1 once nxd serves, WATCHDOG=1 at half\n"
		"of WatchdogSec while nxd is up and not unhealthy, STATUS= lines.\n"
		"exit: 0 stopped, 1 nxwd failed, 2 bad usage (or nxd's), 3 crash loop.\n");
}

static const struct option longopts[] = {
	{ "instance", required_argument, NULL, 'i' },
	{ "stall-ms", required_argument, NULL, 1 },
	{ "abort-grace-ms", required_argument, NULL, 2 },
	{ "restart-min", required_argument, NULL, 3 },
	{ "restart-max", required_argument, NULL, 4 },
	{ "stable-ms", required_argument, NULL, 5 },
	{ "max-restarts", required_argument, NULL, 6 },
	{ "window-ms", required_argument, NULL, 7 },
	{ "no-standby", no_argument, NULL, 8 },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* A whole non-negative decimal number, at most max. */
static int
parse_num(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "nxwd: --%s: '%s' is not a number from 0 to %llu\n", opt, s,
		(unsigned long long)max);
	return -1;
}

/* The instance key of a config file's [nxd] section, if any. */
static bool
instance_from_config(const char *path, char *out, size_t len)
{
	char line[512], *k, *v, *e;
	bool in_nxd = false, found = false;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		for (k = line; isspace((unsigned char)*k); k++)
			;
		if (*k == '[') {
			in_nxd = strncmp(k, "[nxd]", 5) == 0;
			continue;
		}
		if (!in_nxd || (v = strchr(k, '=')) == NULL)
			continue;
		for (e = v; e > k && isspace((unsigned char)e[-1]); e--)
			;
		if ((size_t)(e - k) != strlen("instance") || strncmp(k, "instance", 8) != 0)
			continue;
		for (v++; isspace((unsigned char)*v); v++)
			;
		for (e = v; *e != '\0' && *e != ';' && *e != '#' && !isspace((unsigned char)*e); e++)
			;
		*e = '\0';
		snprintf(out, len, "%s", v);
		found = true;
	}
	fclose(f);
	return found;
}

/* nxd's --instance, else its config's, else nxd's default. */
static void
instance_from_nxd_args(char *const *argv, char *out, size_t len)
{
	const char *inst = NULL, *conf = NULL;
	int i;

	for (i = 1; argv[i] != NULL; i++) {
		const char *a = argv[i], *next = argv[i + 1];

		if ((strcmp(a, "-i") == 0 || strcmp(a, "--instance") == 0) && next != NULL)
			inst = argv[++i];
		else if (strncmp(a, "--instance=", 11) == 0)
			inst = a + 11;
		else if (strncmp(a, "-i", 2) == 0 && a[2] != '\0')
			inst = a + 2;
		else if ((strcmp(a, "-f") == 0 || strcmp(a, "--config") == 0) && next != NULL)
			conf = argv[++i];
		else if (strncmp(a, "--config=", 9) == 0)
			conf = a + 9;
		else if (strncmp(a, "-f", 2) == 0 && a[2] != '\0')
			conf = a + 2;
	}
	if (inst != NULL)
		snprintf(out, len, "%s", inst);
	else if (conf == NULL || !instance_from_config(conf, out, len))
		snprintf(out, len, "default");
}

int
main(int argc, char **argv)
{
	struct nxwd_opts o = {
		.stall_ns = 500 * MS,
		.abort_grace_ns = 2000 * MS,
		.restart_min_ns = 100 * MS,
		.restart_max_ns = 10000 * MS,
		.stable_ns = 10000 * MS,
		.max_restarts = 5,
		.window_ns = 60000 * MS,
	};
	const uint64_t max_ms = 86400000ull; /* a day */
	const char *inst = NULL;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "+i:h", longopts, NULL)) != -1) {
		const char *name = c >= 1 && c <= 7 ? longopts[c].name : "";

		switch (c) {
		case 'i':
			inst = optarg;
			break;
		case 'h':
			usage(stdout);
			return NXWD_EXIT_OK;
		case 1: case 2: case 3: case 4: case 5: case 7:
			if (parse_num(name, optarg, max_ms, &v) < 0)
				return NXWD_EXIT_USAGE;
			v *= MS;
			if (c == 1)
				o.stall_ns = v;
			else if (c == 2)
				o.abort_grace_ns = v;
			else if (c == 3)
				o.restart_min_ns = v;
			else if (c == 4)
				o.restart_max_ns = v;
			else if (c == 5)
				o.stable_ns = v;
			else
				o.window_ns = v;
			break;
		case 8:
			o.standby_off = true;
			break;
		case 6:
			if (parse_num(name, optarg, 1000, &v) < 0)
				return NXWD_EXIT_USAGE;
			o.max_restarts = (uint32_t)v;
			break;
		default:
			fprintf(stderr, "nxwd: see nxwd --help\n");
			return NXWD_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "nxwd: no nxd command: nxwd [options] -- nxd [nxd options]\n");
		return NXWD_EXIT_USAGE;
	}
	if (strcmp(argv[optind - 1], "--") != 0) {
		fprintf(stderr, "nxwd: '%s': put nxd's command after '--' "
			"(nxwd [options] -- nxd [nxd options])\n", argv[optind]);
		return NXWD_EXIT_USAGE;
	}
	if (o.restart_max_ns < o.restart_min_ns) {
		fprintf(stderr, "nxwd: --restart-max (%llu ms) is below --restart-min (%llu ms)\n",
			(unsigned long long)(o.restart_max_ns / MS),
			(unsigned long long)(o.restart_min_ns / MS));
		return NXWD_EXIT_USAGE;
	}
	if (o.max_restarts != 0 && o.window_ns == 0) {
		fprintf(stderr, "nxwd: --window-ms must be above 0 with --max-restarts\n");
		return NXWD_EXIT_USAGE;
	}
	o.argv = argv + optind;
	if (inst != NULL)
		snprintf(o.instance, sizeof o.instance, "%s", inst);
	else
		instance_from_nxd_args(o.argv, o.instance, sizeof o.instance);
	if (nx__instance_check(o.instance) < 0) {
		fprintf(stderr, "nxwd: %s\n", nx__errmsg());
		return NXWD_EXIT_USAGE;
	}
	return nxwd_supervise(&o);
}
