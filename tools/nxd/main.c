/*
 * nxd - the nexus core daemon: one instance, its pinned workers and its
 * control thread. A thin main over core/nxd.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nxd.h"
#include "shm/abi/wd.h"

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
		"      --allow-gid GID      also let this group attach, and only attach\n"
		"                           (default: nxd's own uid alone)\n"
		"      --admin-gid GID      also let this group administer (nxctl) and attach\n"
		"      --uid-channels N     channels one uid other than nxd's may hold (16)\n"
		"      --pid-channels N     channels one process of such a uid may hold (8)\n"
		"      --uid-pending N      connections such a uid may have pending (8)\n"
		"      --runtime-dir DIR    control socket and lock here (default\n"
		"                           NX_RUNTIME_DIR, else /run/nexus for root)\n"
		"      --dumpable           leave nxd dumpable: core dumps, but then its uid\n"
		"                           can read every channel through /proc (default off)\n"
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
		"      --plugin-dirs DIRS   load plugins only from under these directories\n"
		"                           (DIR:DIR...; default: any trusted place: owned by\n"
		"                           root or nxd's uid, writable by no one else)\n"
		"      --stop-timeout SEC   exit at most this long after SIGTERM, whatever is\n"
		"                           stuck (default 10)\n"
		"      --orphan-hold SEC    after a restart, keep the channel of a client whose\n"
		"                           pid nxd cannot see (another PID namespace) this\n"
		"                           long for it to reclaim (default 60)\n"
		"      --reply-max BYTES    the largest nxctl answer nxd builds (4k to 16m,\n"
		"                           the default); a larger one is refused whole\n"
		"      --isolated LIST      treat these CPUs as isolated (default: read\n"
		"                           /sys/devices/system/cpu/isolated)\n"
		"      --print-placement    print where workers and the control thread\n"
		"                           would run, and why, then exit\n"
		"  -q, --quiet              log warnings and errors only\n"
		"  -h, --help               this text\n"
		"\n"
		"SIGTERM or SIGINT: stop taking requests, answer what was taken, remove\n"
		"the segments (unless --keep), exit 0. Not stopped within --stop-timeout\n"
		"(a stage that never returns), or a second signal: say what was stuck,\n"
		"leave the segments as a stop would, exit 1.\n"
		"\n"
		"Under nxwd, " NX_WD_ENV_STANDBY_FD " makes this nxd a standby: it plans placement\n"
		"and waits on that descriptor for nxwd's word to take the instance over.\n");
}

/*
 * What nxwd says (shm/abi/wd.h) goes into conf->wd: core reads no
 * environment. One NX_RESTART_* variable. @return false: not one
 */
static bool
wd_restart_set(struct nx_instance_wd *wd, const char *key, const char *value)
{
	if (strcmp(key, NX_WD_ENV_RESTART_REASON) == 0) {
		wd->restart = true;
		snprintf(wd->reason, sizeof wd->reason, "%s", value);
	} else if (strcmp(key, NX_WD_ENV_RESTART_STATUS) == 0) {
		wd->has_status = true;
		wd->status = (int32_t)strtol(value, NULL, 10);
	} else if (strcmp(key, NX_WD_ENV_RESTART_WALL_NS) == 0) {
		wd->has_wall_ns = true;
		wd->wall_ns = strtoull(value, NULL, 10);
	} else if (strcmp(key, NX_WD_ENV_RESTART_OLD_PID) == 0) {
		wd->has_old_pid = true;
		wd->old_pid = (int32_t)strtol(value, NULL, 10);
	} else {
		return false;
	}
	return true;
}

/* What nxwd put in the environment of this nxd: its life locks and, on a
 * restart, why the last nxd went. */
static void
wd_from_env(struct nx_instance_wd *wd)
{
	static const char *const restart_keys[] = {
		NX_WD_ENV_RESTART_REASON, NX_WD_ENV_RESTART_STATUS, NX_WD_ENV_RESTART_WALL_NS,
		NX_WD_ENV_RESTART_OLD_PID,
	};
	const char *fd = getenv(NX_WD_ENV_LIFE_FD);
	unsigned i;

	for (i = 0; i < sizeof restart_keys / sizeof restart_keys[0]; i++) {
		const char *v = getenv(restart_keys[i]);

		if (v != NULL)
			wd_restart_set(wd, restart_keys[i], v);
	}
	if (fd != NULL) {
		char *end;
		long v = strtol(fd, &end, 10);

		if (*fd == '\0' || *end != '\0' || v < 0 || v > NX_WD_FD_MAX)
			nx__log(NX_LOG_WARN, "%s '%s': not nxwd's life locks: nxwd will notice a "
			       "death by its pidfd alone", NX_WD_ENV_LIFE_FD, fd);
		else
			wd->life_fd = (int)v;
	}
}

/*
 * A standby for nxwd: do now what does not need the instance - the
 * configuration (read already), the topology and placement plan, this
 * thread's pinning, the program's loading - then say so with one byte on
 * fd and wait. nxwd's go is the restart's NX_RESTART_* variables
 * ("KEY=VALUE", each ended by a NUL, an empty one last); they go into
 * conf->wd, which nx__instance_create writes to the restart log.
 * A restart then starts here, not at exec: 7 to 10 ms less on a machine
 * whose fork, exec and topology load take that long.
 * @return 0 to go on, 1 (failed), or -1: nxwd closed fd (stand down)
 */
static int
standby(const char *fdstr, struct nx_instance_conf *conf, struct nx_place_plan *plan)
{
	char *end, buf[NX_WD_GO_MAX];
	size_t have = 0;
	const char *p;
	long fd = strtol(fdstr, &end, 10);
	const char ready = NX_WD_STANDBY_READY;

	if (*fdstr == '\0' || *end != '\0' || fd < 0 || fd > NX_WD_FD_MAX ||
	    fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "nxd: %s '%s' is not an open descriptor\n", NX_WD_ENV_STANDBY_FD,
			fdstr);
		return 1;
	}
	if (nx__instance_conf_plan(conf, plan) < 0) {
		fprintf(stderr, "nxd: placement: %s\n", nx__errmsg());
		return 1;
	}
	if (write((int)fd, &ready, 1) != 1)
		return -1;
	for (;;) {
		ssize_t got = read((int)fd, buf + have, sizeof buf - 1 - have);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		have += (size_t)got;
		if (have >= 2 && buf[have - 1] == '\0' && buf[have - 2] == '\0')
			break;
		if (have == sizeof buf - 1) {
			fprintf(stderr, "nxd: standby: nxwd's go is too long\n");
			return 1;
		}
	}
	close((int)fd);
	for (p = buf; *p != '\0'; p += strlen(p) + 1) {
		char key[64];
		const char *eq = strchr(p, '=');

		if (eq == NULL || eq - p >= (ptrdiff_t)sizeof key ||
		    strncmp(p, NX_WD_ENV_RESTART_PREFIX, strlen(NX_WD_ENV_RESTART_PREFIX)) != 0)
			continue; /* only what the restart log takes */
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = '\0';
		wd_restart_set(&conf->wd, key, eq + 1);
	}
	return 0;
}

enum { OPT_IDLE = 256, OPT_MAXCH, OPT_RING, OPT_ARENA, OPT_MAXPAY, OPT_KEEP, OPT_MLOCK,
       OPT_RTPRIO, OPT_GID, OPT_ISOL, OPT_PLACE, OPT_SLOTS, OPT_SCRATCH, OPT_STATE, OPT_TIMING,
       OPT_RATE, OPT_BURST, OPT_DLQ, OPT_PLUGDIRS, OPT_STOPTO, OPT_REPLYMAX,
       OPT_ADMINGID, OPT_UIDCH, OPT_PIDCH, OPT_UIDPEND, OPT_RUNDIR, OPT_DUMPABLE,
       OPT_ORPHAN };

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
	{ "plugin-dirs", required_argument, NULL, OPT_PLUGDIRS },
	{ "stop-timeout", required_argument, NULL, OPT_STOPTO },
	{ "reply-max", required_argument, NULL, OPT_REPLYMAX },
	{ "admin-gid", required_argument, NULL, OPT_ADMINGID },
	{ "uid-channels", required_argument, NULL, OPT_UIDCH },
	{ "pid-channels", required_argument, NULL, OPT_PIDCH },
	{ "uid-pending", required_argument, NULL, OPT_UIDPEND },
	{ "runtime-dir", required_argument, NULL, OPT_RUNDIR },
	{ "orphan-hold", required_argument, NULL, OPT_ORPHAN },
	{ "dumpable", no_argument, NULL, OPT_DUMPABLE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
on_conf(void *user, const char *section, const char *key, const char *value)
{
	if (strcmp(section, "nxd") == 0)
		return nx__instance_conf_set(user, key, value);
	if (strncmp(section, "pipeline.", 9) == 0)
		return nx__instance_conf_pipeline(user, section + 9, key, value);
	return nx__err(NX_EINVAL, "unknown section [%s] (nxd, pipeline.NAME)", section);
}

static int
print_placement(const struct nx_instance_conf *c)
{
	struct nx_place_plan plan;
	char buf[8192];
	int rc;

	rc = nx__instance_conf_plan(c, &plan);
	if (rc < 0) {
		fprintf(stderr, "nxd: placement: %s\n", nx__errmsg());
		return 1;
	}
	nx__place_format(&plan, buf, sizeof buf);
	fputs(buf, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct nx_instance_conf conf;
	struct nx_instance *inst;
	const char *config = NULL, *standby_fd;
	struct nx_place_plan plan;
	bool placement = false;
	char buf[8192];
	int opt, rc;

	nx__log_set_ident("nxd");
	nx__instance_conf_default(&conf);
	/* First pass: the config file, so that options override it. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "i:w:c:f:qh", long_opts, NULL)) != -1)
		if (opt == 'f')
			config = optarg;
	if (config != NULL && (nx__conf_parse(config, NX_FILE_ANY, on_conf, &conf) < 0 ||
			       nx__instance_conf_finish(&conf) < 0)) {
		fprintf(stderr, "nxd: %s%s\n", nx__errmsg(),
			strstr(nx__errmsg(), config) ? "" : " (in the configuration)");
		nx__instance_conf_release(&conf);
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
		case OPT_PLUGDIRS: key = "plugin_dirs"; break;
		case OPT_STOPTO: key = "stop_timeout"; break;
		case OPT_REPLYMAX: key = "reply_max"; break;
		case OPT_ADMINGID: key = "admin_gid"; break;
		case OPT_UIDCH: key = "uid_channels"; break;
		case OPT_PIDCH: key = "pid_channels"; break;
		case OPT_UIDPEND: key = "uid_pending"; break;
		case OPT_RUNDIR: key = "runtime_dir"; break;
		case OPT_ORPHAN: key = "orphan_hold"; break;
		case OPT_DUMPABLE: key = "dumpable"; optarg = NULL; break;
		case 'q': key = "quiet"; optarg = NULL; break;
		case 'f': break;
		case OPT_PLACE: placement = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (key != NULL && nx__instance_conf_set(&conf, key, optarg) < 0) {
			fprintf(stderr, "nxd: %s\n", nx__errmsg());
			nx__instance_conf_release(&conf);
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
		nx__log_set_level(NX_LOG_WARN);
	wd_from_env(&conf.wd);
	standby_fd = getenv(NX_WD_ENV_STANDBY_FD);
	if (standby_fd != NULL) {
		/* a copy: the variable goes, not for what nxd may start */
		snprintf(buf, sizeof buf, "%s", standby_fd);
		unsetenv(NX_WD_ENV_STANDBY_FD);
		rc = standby(buf, &conf, &plan);
		if (rc != 0) {
			nx__instance_conf_release(&conf);
			return rc < 0 ? 0 : 1;
		}
		conf.plan = &plan;
	}

	rc = nx__instance_create(&inst, &conf);
	nx__instance_conf_release(&conf);
	if (rc < 0) {
		fprintf(stderr, "nxd: %s\n", nx__errmsg());
		return rc == NX_EBUSY ? 3 : 1;
	}
	nx__place_format(nx__instance_plan(inst), buf, sizeof buf);
	if (!conf.quiet) {
		fputs(buf, stderr);
		nx__log(NX_LOG_INFO, "instance '%s' ready: generation %llu, %d worker(s), idle %s",
		       conf.instance, (unsigned long long)nx__instance_generation(inst),
		       nx__instance_plan(inst)->nworkers, conf.idle == NX_WAIT_SLEEP ? "sleep" : "spin");
	}
	rc = nx__instance_run(inst, true);
	nx__instance_destroy(inst);
	if (rc < 0) {
		fprintf(stderr, "nxd: %s\n", nx__errmsg());
		return 1;
	}
	return 0;
}
