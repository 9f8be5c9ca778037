/*
 * nxd.h - the nexus core as a library: an instance is the health segment,
 * the control endpoint, the workers and the pipelines of one nxd. The nxd
 * tool is a thin main over this; tests run instances in-process too.
 */
#ifndef NX_NXD_H
#define NX_NXD_H

#include <stdbool.h>
#include <stdint.h>

#include <nx/nx_stage.h>

#include "core/control/place.h"
#include "platform/nx_platform.h"
#include "shm/shm_internal.h"

struct nx_pipe_spec;

/*
 * What nxwd tells the nxd it starts (the protocol: shm/abi/wd.h). tools/nxd
 * fills it from its environment, or from the go a standby waits for; an
 * nxd nobody supervises leaves it as nx__instance_conf_default() sets it.
 */
struct nx_instance_wd {
	int life_fd;                   /* nxwd's life locks; -1: none (unsupervised) */
	bool restart;                  /* nxwd says this start is a restart (a reason was
					* given): logged even after a clean stop */
	char reason[NX_RESTART_REASON_MAX]; /* why the last nxd went; "": not said */
	bool has_status, has_wall_ns, has_old_pid; /* said, each */
	int32_t status;                /* the last nxd's exit code, or -signal */
	uint64_t wall_ns;              /* when nxwd noticed (wall clock) */
	int32_t old_pid;               /* the last nxd's pid */
};

struct nx_instance_conf {
	char instance[NX_INSTANCE_MAX + 1];
	int workers;                   /* 0 = one per usable core, keeping one for control */
	int cpus[NX_PLACE_MAX_WORKERS]; /* explicit worker CPUs */
	int ncpus;
	uint32_t idle;                 /* enum nx_wait: how workers wait for work */
	uint32_t max_channels;
	uint32_t ring_size;            /* slots per channel ring */
	uint32_t arena_bytes;          /* per channel */
	uint32_t max_payload;          /* largest request or answer */
	bool keep;                     /* leave the segments at exit (for a restart) */
	bool mlock;                    /* mlockall and prefault */
	int rt_prio;                   /* SCHED_FIFO priority for workers; 0 = none */
	int64_t allow_gid;             /* group also allowed to attach; -1 = none */
	int64_t admin_gid;             /* group also allowed to administer (nxctl); -1 = none */
	uint32_t uid_channels;         /* channels one uid other than nxd's may hold */
	uint32_t pid_channels;         /* channels one process of such a uid may hold */
	uint32_t uid_pending;          /* connections such a uid may have pending */
	char runtime_dir[NX_RUNTIME_DIR_MAX + 1]; /* control socket and lock; "" the default */
	bool dumpable;                 /* leave nxd dumpable (core dumps; /proc/pid/fd) */
	char plugin_dirs[512];         /* plugins only from under these ("DIR:DIR"); "" any
					* trusted place */
	uint32_t stop_timeout_s;       /* SIGTERM: exit within this, whatever is stuck */
	uint32_t orphan_hold_s;        /* after a restart, how long a channel of a client
					* whose pid nxd cannot see waits to be reclaimed */
	uint32_t reply_max;            /* the largest nxctl answer built (<= NX_CTL_REPLY_MAX) */
	char isolated[256];            /* isolated CPUs override ("" = read /sys) */
	bool has_isolated;
	bool quiet;                    /* no info logging */
	uint32_t max_slots;            /* stage slots, all pipelines together */
	uint32_t scratch_bytes;        /* per worker, for intermediate outputs */
	uint32_t stage_state;          /* state bytes reserved in each stage instance */
	uint32_t stage_timing;         /* time 1 request in this many (power of two; 0 off) */
	uint32_t rate_limit;           /* requests a second per channel; 0 = none */
	uint32_t rate_burst;           /* its bucket; 0 = a tenth of the rate (>= 1) */
	uint32_t dlq_entries;          /* dead-letter entries per worker; 0 = none */
	const struct nx_place_plan *plan; /* planned already (a standby nxd); NULL: plan */
	struct nx_instance_wd wd;      /* what nxwd said; not a setting of nx__instance_conf_set */
	/* [pipeline.NAME] sections (nx__instance_conf_pipeline) */
	struct nx_pipe_spec *specs;
	unsigned nspecs;
};

/** Defaults: auto workers, spin, 64 channels, 256-slot rings, 1 MiB arena, 64 KiB payload. */
void nx__instance_conf_default(struct nx_instance_conf *c);

/**
 * Set one setting by name, as given on the command line or in the
 * config file: instance, workers, cpus, idle, max_channels, ring_size,
 * arena, max_payload, keep, mlock, quiet, rt_prio, allow_gid, admin_gid,
 * uid_channels, pid_channels, uid_pending, runtime_dir, dumpable, isolated,
 * plugin_dirs, stop_timeout, orphan_hold, reply_max
 * ('-' and '_' are the same). Sizes take k/m/g suffixes.
 * @return 0, or NX_EINVAL naming the key and what was wrong
 */
int nx__instance_conf_set(struct nx_instance_conf *c, const char *key, const char *value);

/**
 * The placement an instance with these settings would get (nxd
 * --print-placement). @return 0 or the planner's error (message set)
 */
int nx__instance_conf_plan(const struct nx_instance_conf *c, struct nx_place_plan *plan);

/**
 * Add one key of a [pipeline.NAME] section to the settings.
 * @return 0 or NX_EINVAL naming the pipeline and key, NX_ENOMEM
 */
int nx__instance_conf_pipeline(struct nx_instance_conf *c, const char *name, const char *key,
			      const char *value);
/** Check every pipeline section (after the last key). @return 0 or NX_EINVAL */
int nx__instance_conf_finish(struct nx_instance_conf *c);
/** Free what the settings hold (the pipeline sections). */
void nx__instance_conf_release(struct nx_instance_conf *c);

struct nx_instance;

/**
 * Take the instance: bind its control endpoint (refused when another nxd
 * serves it), create or re-attach its health segment, plan placement,
 * build the pipelines, start the pinned workers.
 * @return 0, NX_EBUSY (already served), NX_EINVAL (bad configuration,
 *   impossible placement), NX_EPERM, NX_ENOMEM, NX_EIO; nx__errmsg() says why
 */
int nx__instance_create(struct nx_instance **out, const struct nx_instance_conf *conf);

/**
 * Add (or replace) a pipeline given as the body of a [pipeline.NAME]
 * section ("graph = seq(a, b)\na.stage = echo\n..."). Call from the
 * thread that runs (or will run) the control loop: the table is
 * published to the workers through RCU.
 * @return the pipeline's id, or NX_EINVAL (bad spec), NX_ENOENT (unknown
 *   stage or plugin), NX_ENOSPC (a table full), or the failing init's code
 */
int nx__instance_add_pipeline_text(struct nx_instance *inst, const char *name, const char *text);

/**
 * Make a stage the process links in resolvable by name, as a built-in is
 * (tests, programs embedding the core). Before any pipeline uses it.
 * @return 0, NX_EINVAL (malformed, or the name is taken), NX_ENOSPC
 */
int nx__stage_register(const struct nx_stage_ops *ops);

/** The placement the instance runs with. */
const struct nx_place_plan *nx__instance_plan(const struct nx_instance *inst);

/** This instance's generation (bumped on every re-attach). */
uint64_t nx__instance_generation(const struct nx_instance *inst);

/**
 * Run the control loop on the calling thread (pinned to the control CPU)
 * until SIGTERM/SIGINT or nx__instance_stop(). Then stop taking requests,
 * let the workers answer what they took, and return.
 * @return 0, or NX_EIO when the event loop failed
 */
int nx__instance_run(struct nx_instance *inst, bool handle_signals);

/** Ask a running instance to stop (any thread, async-signal-safe). */
void nx__instance_stop(struct nx_instance *inst);

/** Join workers, unmap channels, remove the segments unless conf.keep. */
void nx__instance_destroy(struct nx_instance *inst);

/** Health segment name of an instance, for messages and tests. */
void nx__instance_health_name(char *buf, size_t len, const char *instance);

#endif /* NX_NXD_H */
