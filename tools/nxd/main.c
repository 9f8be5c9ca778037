/*
 * nxd - the nexus core daemon: one instance, its pinned workers and its
 * control thread. A thin main over core/nxd.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nxd.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxd [options]\n"
		"\n"
		"Serve one nexus instance: clients attach to it by name (libnx) and get a\n"
		"channel in shared memory; pinned workers answer their requests.\n"
		"\n"
		"  -i, --instance NAME      instance name (default \"default\"); [A-Za-z0-9_.-]\n"
		"  -w, --workers N          worker threads, one per physical core\n"
		"                           (default: every usable core but one, at least 1)\n"
		"  -c, --cpus LIST          worker CPUs, e.g. 2,3 or 2-5 (overrides --workers)\n"
		"      --idle spin|sleep    workers busy-poll (default) or spin 50 us then\n"
		"                           sleep on a futex until a client rings\n"
		"  -f, --config FILE        INI file; [nxd] takes the same keys as these\n"
		"                           options (max_channels or max-channels);\n"
		"                           [pipeline.NAME] sections define pipelines\n"
		"                           (see README); options on the command line win\n"
		"      --max-channels N     channels (attached client threads), default 64\n"
		"      --ring-size N        slots per channel ring, power of two, default 256\n"
		"      --arena BYTES        payload arena per channel, default 1m\n"
		"      --max-payload BYTES  largest request or answer, default 64k\n"
		"      --keep               leave the segments at exit, for a restart\n"
		"      --mlock              lock memory (mlockall) and prefault segments\n"
		"      --rt-prio N          run workers SCHED_FIFO at priority N\n"
		"      --allow-gid GID      also let this group attach (default: own uid)\n"
		"      --max-slots N        stage slots, all pipelines together (default 256)\n"
		"      --scratch BYTES      per worker, for a graph's intermediate outputs\n"
		"                           (default 1m)\n"
		"      --stage-state BYTES  state reserved per stage instance (default 4k)\n"
		"      --stage-timing N     time each stage of 1 request in N (power of two;\n"
		"                           0 off, 1 every request; default 16)\n"
		"      --rate-limit N       requests a second per channel (token bucket;\n"
		"                           0 = none, the default; nxctl ratelimit changes it)\n"
		"      --rate-burst N       the bucket's size (default: a tenth of the rate, >= 1)\n"
		"      --dlq-entries N      dead-letter entries per worker, power of two\n"
		"                           (0 = none; default 1024)\n"
		"      --isolated LIST      treat these CPUs as isolated (default: read\n"
		"                           /sys/devices/system/cpu/isolated)\n"
		"      --print-placement    print where workers and the control thread\n"
		"                           would run, and why, then exit\n"
		"  -q, --quiet              log warnings and errors only\n"
		"  -h, --help               this text\n"
		"\n"
		"SIGTERM or SIGINT: stop taking requests, answer what was taken, remove\n"
		"the segments (unless --keep), exit 0.\n");
}

enum { OPT_IDLE = 256, OPT_MAXCH, OPT_RING, OPT_ARENA, OPT_MAXPAY, OPT_KEEP, OPT_MLOCK,
       OPT_RTPRIO, OPT_GID, OPT_ISOL, OPT_PLACE, OPT_SLOTS, OPT_SCRATCH, OPT_STATE, OPT_TIMING,
       OPT_RATE, OPT_BURST, OPT_DLQ };

static const struct option long_opts[] = {
	{ "instance", required_argument, NULL, 'i' },
	{ "workers", required_argument, NULL, 'w' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "config", required_argument, NULL, 'f' },
	{ "max-channels", required_argument, NULL, OPT_MAXCH },
	{ "ring-size", required_argument, NULL, OPT_RING },
	{ "arena", required_argument, NULL, OPT_ARENA },
	{ "max-payload", required_argument, NULL, OPT_MAXPAY },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "mlock", no_argument, NULL, OPT_MLOCK },
	{ "rt-prio", required_argument, NULL, OPT_RTPRIO },
	{ "allow-gid", required_argument, NULL, OPT_GID },
	{ "isolated", required_argument, NULL, OPT_ISOL },
	{ "print-placement", no_argument, NULL, OPT_PLACE },
	{ "max-slots", required_argument, NULL, OPT_SLOTS },
	{ "scratch", required_argument, NULL, OPT_SCRATCH },
	{ "stage-state", required_argument, NULL, OPT_STATE },
	{ "stage-timing", required_argument, NULL, OPT_TIMING },
	{ "rate-limit", required_argument, NULL, OPT_RATE },
	{ "rate-burst", required_argument, NULL, OPT_BURST },
	{ "dlq-entries", required_argument, NULL, OPT_DLQ },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
on_conf(void *user, const char *section, const char *key, const char *value)
{
	if (strcmp(section, "nxd") == 0)
		return nx_instance_conf_set(user, key, value);
	if (strncmp(section, "pipeline.", 9) == 0)
		return nx_instance_conf_pipeline(user, section + 9, key, value);
	return nx__err(NX_EINVAL, "unknown section [%s] (nxd, pipeline.NAME)", section);
}

static int
print_placement(const struct nx_instance_conf *c)
{
	struct nx_place_plan plan;
	char buf[8192];
	int rc;

	rc = nx_instance_conf_plan(c, &plan);
	if (rc < 0) {
		fprintf(stderr, "nxd: placement: %s\n", nx__errmsg());
		return 1;
	}
	nx_place_format(&plan, buf, sizeof buf);
	fputs(buf, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct nx_instance_conf conf;
	struct nx_instance *inst;
	const char *config = NULL;
	bool placement = false;
	char buf[8192];
	int opt, rc;

	nx_log_set_ident("nxd");
	nx_instance_conf_default(&conf);
	/* First pass: the config file, so that options override it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "i:w:c:f:qh", long_opts, NULL)) != -1)
		if (opt == 'f')
			config = optarg;
	if (config != NULL && (nx_conf_parse(config, on_conf, &conf) < 0 ||
			       nx_instance_conf_finish(&conf) < 0)) {
		fprintf(stderr, "nxd: %s%s\n", nx__errmsg(),
			strstr(nx__errmsg(), config) ? "" : " (in the configuration)");
		nx_instance_conf_release(&conf);
		return 2;
	}
	opterr = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:w:c:f:qh", long_opts, NULL)) != -1) {
		const char *key = NULL;

		switch (opt) {
		case 'i': key = "instance"; break;
		case 'w': key = "workers"; break;
		case 'c': key = "cpus"; break;
		case OPT_IDLE: key = "idle"; break;
		case OPT_MAXCH: key = "max_channels"; break;
		case OPT_RING: key = "ring_size"; break;
		case OPT_ARENA: key = "arena"; break;
		case OPT_MAXPAY: key = "max_payload"; break;
		case OPT_KEEP: key = "keep"; optarg = NULL; break;
		case OPT_MLOCK: key = "mlock"; optarg = NULL; break;
		case OPT_RTPRIO: key = "rt_prio"; break;
		case OPT_GID: key = "allow_gid"; break;
		case OPT_ISOL: key = "isolated"; break;
		case OPT_SLOTS: key = "max_slots"; break;
		case OPT_SCRATCH: key = "scratch"; break;
		case OPT_STATE: key = "stage_state"; break;
		case OPT_TIMING: key = "stage_timing"; break;
		case OPT_RATE: key = "rate_limit"; break;
		case OPT_BURST: key = "rate_burst"; break;
		case OPT_DLQ: key = "dlq_entries"; break;
		case 'q': key = "quiet"; optarg = NULL; break;
		case 'f': break;
		case OPT_PLACE: placement = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (key != NULL && nx_instance_conf_set(&conf, key, optarg) < 0) {
			fprintf(stderr, "nxd: %s\n", nx__errmsg());
			nx_instance_conf_release(&conf);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nxd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (placement)
		return print_placement(&conf);
	if (conf.quiet)
		nx_log_set_level(NX_LOG_WARN);

	rc = nx_instance_create(&inst, &conf);
	nx_instance_conf_release(&conf);
	if (rc < 0) {
		fprintf(stderr, "nxd: %s\n", nx__errmsg());
		return rc == NX_EBUSY ? 3 : 1;
	}
	nx_place_format(nx_instance_plan(inst), buf, sizeof buf);
	if (!conf.quiet) {
		fputs(buf, stderr);
		nx_log(NX_LOG_INFO, "instance '%s' ready: generation %llu, %d worker(s), idle %s",
		       conf.instance, (unsigned long long)nx_instance_generation(inst),
		       nx_instance_plan(inst)->nworkers, conf.idle == NX_WAIT_SLEEP ? "sleep" : "spin");
	}
	rc = nx_instance_run(inst, true);
	nx_instance_destroy(inst);
	if (rc < 0) {
		fprintf(stderr, "nxd: %s\n", nx__errmsg());
		return 1;
	}
	return 0;
}
