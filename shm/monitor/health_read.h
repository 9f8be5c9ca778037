/*
 * shm/monitor/health_read.h - the health segment, seen from outside nxd.
 *
 * One small library for every reader (nxtop, nxwd, tests): it maps an
 * instance's health segment read-only, takes snapshots that never slow a
 * worker (plain loads of single-writer fields; the control thread's
 * tables under the header's sequence lock), and turns two snapshots into
 * what an operator wants: rates, percentiles over the last interval, and
 * a health state for each worker, stage slot and the instance.
 *
 * Health states (nx_hr_conf sets the thresholds):
 *
 *   healthy    nothing below
 *   degraded   a slot with >= degraded_consec consecutive failures, or a
 *              failure rate >= degraded_rate over the window (once it has
 *              min_calls calls in it); a worker whose heartbeat is older
 *              than stale_ns / 4
 *   unhealthy  >= unhealthy_consec consecutive failures, a failure rate
 *              >= unhealthy_rate, a heartbeat older than stale_ns, a slot
 *              whose breaker is open or whose stage is quarantined
 *   (a half-open breaker is degraded)
 *   down       no nxd: stopped, or its pid is gone
 *
 * The instance is as bad as its worst worker or slot.
 *
 * A reader follows the instance across restarts by itself: when nxd
 * removes the segment and a new one creates another, the next snapshot
 * maps the new one; while there is none, snapshots say down and keep the
 * last generation seen.
 */
#ifndef NX_SHM_MONITOR_HEALTH_READ_H
#define NX_SHM_MONITOR_HEALTH_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/shm_internal.h"

enum nx_hstate {
	NX_H_HEALTHY = 0,
	NX_H_DEGRADED = 1,
	NX_H_UNHEALTHY = 2,
	NX_H_DOWN = 3,
};

/** "healthy", "degraded", "unhealthy", "down". */
const char *nx__hstate_name(enum nx_hstate s);

struct nx_hr_conf {
	uint64_t window_ns;         /* failure rates over this much history */
	uint64_t stale_ns;          /* heartbeat age that makes a worker unhealthy */
	uint64_t min_calls;         /* calls in the window before a rate counts */
	uint32_t degraded_consec;
	uint32_t unhealthy_consec;
	double degraded_rate;       /* 0..1 */
	double unhealthy_rate;
};

/* 10 s window, 1 s stale, 20 calls, 3 / 10 in a row, 5% / 50%. */
#define NX_HR_CONF_DEFAULT \
	((struct nx_hr_conf){ 10000000000ull, 1000000000ull, 20, 3, 10, 0.05, 0.5 })

/* What a snapshot says of one worker. */
struct nx_hr_worker {
	struct nx_health_worker raw;   /* the counters as read */
	double req_per_s;              /* answered, over the last interval */
	double busy_pct;               /* of the last interval spent running requests */
	uint64_t hb_age_ns;            /* heartbeat age when the snapshot was taken */
	uint64_t p50_ns, p99_ns;       /* sampled service time, last interval (else all) */
	uint64_t samples;              /* sampled requests since start */
	enum nx_hstate health;
	char why[64];
};

/* One stage slot, summed over the workers that run it. */
struct nx_hr_slot {
	struct nx_health_slot meta;    /* name, pipeline, stage, version, swaps */
	uint32_t index;                /* in the health slot table */
	uint64_t calls, failures;      /* since it was built */
	uint64_t consec_failures;      /* the worst worker's run of failures */
	uint64_t timed;                /* sampled calls */
	double calls_per_s;            /* last interval */
	double fail_pct;               /* over the window (0 until min_calls) */
	uint64_t win_calls;            /* calls in the window */
	uint64_t p50_ns, p99_ns;       /* sampled stage time, last interval (else all) */
	/* policies, summed over workers (breaker: the worst worker's state) */
	uint32_t breaker;              /* enum nx_brk_state: 0 closed, 1 open, 2 half-open */
	uint32_t quarantined;          /* some worker found it quarantined */
	uint64_t rejected, opened, half_opened, closed;
	uint64_t slow, overruns, faults, degraded;
	enum nx_hstate health;
	char why[64];
};

struct nx_hr_chan {
	struct nx_health_chan raw;
	uint32_t index;
	double req_per_s;              /* last interval */
	uint64_t idle_ns;              /* since its last burst */
};

struct nx_hr_snap {
	uint64_t at_ns;                /* CLOCK_MONOTONIC when taken */
	uint64_t at_wall_ns;
	bool up;                       /* an nxd serves the instance */
	bool mapped;                   /* a segment exists (false: never seen, or removed) */
	struct nx_health_hdr hdr;      /* header as read (last one seen when !mapped) */
	uint64_t uptime_ns;
	uint64_t down_since_wall_ns;   /* when !up: when it stopped or was last seen alive */
	enum nx_hstate health;
	char why[160];
	unsigned nworkers;
	struct nx_hr_worker *workers;
	unsigned nslots;               /* live slots only */
	struct nx_hr_slot *slots;
	unsigned nchans;               /* attached or orphaned channels only */
	struct nx_hr_chan *chans;
	unsigned npipes;
	struct nx_health_pipe *pipes;  /* active pipelines only */
	unsigned nrestarts;            /* entries below, oldest first */
	struct nx_health_restart restarts[NX_RESTART_LOG];
};

struct nx_hr;

/**
 * A reader for an instance. It need not be running yet.
 * @return 0, NX_EINVAL (bad name), NX_ENOMEM
 */
int nx__hr_open(struct nx_hr **out, const char *instance, const struct nx_hr_conf *conf);
void nx__hr_close(struct nx_hr *r);

/**
 * Take a snapshot; rates are against the previous one. The result lives
 * in the reader until the next call.
 * @return 0 (also when the instance is down: see snap->up),
 *         NX_EABI or NX_EPROTO (a segment this reader cannot read)
 */
int nx__hr_snapshot(struct nx_hr *r, const struct nx_hr_snap **snap);

/**
 * The age of every worker's heartbeat, and whether nxd lives, without a
 * whole snapshot: what a watchdog polls. ages[i] for worker i < *n (at
 * most max); 0 for a worker that has stopped.
 * @return 0, or NX_ENOINST when there is no segment
 */
int nx__hr_heartbeats(struct nx_hr *r, uint64_t *ages, unsigned max, unsigned *n,
		     uint64_t *generation, int32_t *pid);

/** The mapping itself (read-only), or NULL: for tests. */
const struct nx_health_view *nx__hr_view(const struct nx_hr *r);

#endif /* NX_SHM_MONITOR_HEALTH_READ_H */
