/*
 * worker.h - the worker and the channel structures it reads: what the
 * control thread sets up and publishes, and what the worker keeps for
 * itself (worker.c). The worker runs pipelines through pipe_run.h.
 *
 * Who writes what:
 *
 *   control thread        workers
 *   ---------------       -------------------------------------------
 *   nx_worker.chans  ---> read once per loop (RCU, QSBR)
 *   nx_instance.pipes --> read once per loop (RCU, QSBR)
 *   nx_worker.ctl_word    futex word the worker sleeps on (with doorbells)
 *   nx_worker.stop        checked once per loop
 *   health: header,       health: nx_health_worker, nx_health_chan line 1
 *   channel line 0,
 *   pipeline directory
 *
 * The control thread frees a channel set, a pipeline table or a stage
 * only after nx__rcu_synchronize(): every worker has finished the loop in
 * which it could have seen it.
 */
#ifndef NX_CORE_WORKER_H
#define NX_CORE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <nx/nx_stage.h>

#include "core/datapath/bucket.h"
#include "core/datapath/pipe_exec.h"
#include "platform/nx_platform.h"
#include "core/datapath/hist.h"
#include "shm/shm_internal.h"

#define NX_BURST 32              /* requests taken from one channel per visit */
#define NX_MAX_RR 1024           /* round-robin turn counters per worker */
#define NX_HEARTBEAT_LOOPS 256   /* idle bookkeeping every this many empty loops */

/* ---- channels and workers ---- */

struct nx_wchan {
	struct nx_chan_view v;
	struct nx_health_chan *hc;
	uint32_t id;
	uint32_t worker;
	bool in_use;
	bool detaching;     /* out of its worker's set; released after a grace period */
	bool detach_pending;/* its client is gone, but no room yet to take it out */
	const char *detach_why; /* a string literal: why it was detached */
	bool sleep_client;  /* the client sleeps on resp_bell: wake it */
	int ctl_fd;         /* the client's control socket, -1 when none */
	int32_t pid;
	uint32_t uid;       /* the client's, for quotas */
	/* after a restart: requests before replay_until were taken by the dead
	 * nxd; only idempotent ones run again (see peer_reclaim) */
	bool replay;
	uint32_t replay_until;
	/* the lines the last request's extension took (0: it had none): the
	 * next request's to fetch alongside its descriptor */
	uint8_t req_ext_lines;
	/* the lines the last answer's extension took (0: it had none): the
	 * next answer's to own */
	uint8_t resp_ext_lines;
	bool queued;        /* the last burst took more than one: read the index */
	bool check_index;   /* set each heartbeat: look at the index once */
	/* worker-private counts, published to hc after each burst */
	uint64_t taken;
	uint64_t answered;
	uint64_t errors;
	uint64_t hb_taken;  /* taken at the last heartbeat: was there a burst since? */
	uint64_t rate_limited;
	uint64_t expired;
	struct nx_bucket bkt; /* the channel's rate limit (worker's own) */
	uint32_t rl_seen;   /* the rl_gen bkt was set from */
	/* written by the control thread (rate limit changes: rl_gen last) */
	uint32_t rl_rate, rl_burst, rl_gen;
};

struct nx_dlq_ring;
struct nx_pipetab;
struct nx_slot_pol;

struct nx_chanset {
	uint32_t n;
	struct nx_wchan *ch[];
};

struct nx_instance;

struct nx_worker {
	/* written by the control thread */
	struct nx_instance *inst;
	struct nx_life *life;      /* nxwd's life locks: this worker holds 1 + idx */
	uint32_t life_held;        /* written by the worker once it holds it */
	struct nx_chanset *chans;  /* RCU-published */
	struct nx_pipetab **pipes; /* the instance's RCU-published table */
	bool may_sleep;            /* idle strategy: spin, then sleep */
	uint32_t ctl_word;         /* bumped (and futex-woken) on every change */
	uint32_t stop;
	uint32_t idx;
	int cpu;
	struct nx_health_worker *hw;
	struct nx_health_slot_stats *stats; /* this worker's row of the slot stats */
	struct nx_lhist *slot_hist;         /* this worker's row of the slot histograms */
	struct nx_lhist *hist;              /* sampled request service times */
	struct nx_slot_pol *slot_pol;       /* this worker's row of slot policy state */
	struct nx_dlq_ring *dlq;            /* this worker's dead-letter ring, or NULL */
	uint32_t dlq_entries;
	uint64_t generation;
	uint32_t nstats;
	struct nx_thread *thread;
	uint8_t *scratch;          /* intermediate outputs of a request's graph */
	uint32_t scratch_cap;
	uint32_t max_payload;
	uint32_t timing_mask;      /* stage_timing - 1: time 1 request in stage_timing */
	bool timing_on;
	uint32_t nchans;           /* control thread's count, for balancing */

	/* written by the worker only, on its own lines */
	uint64_t loops __attribute__((aligned(NX_CACHELINE)));
	uint64_t taken;
	uint64_t answered;
	uint64_t busy_ns;
	uint64_t sleeps;
	uint64_t errors[NX_WERR_KINDS];
	bool errors_dirty;         /* errors changed since last published */
	uint32_t timing_count;
	uint64_t now_ns;           /* the last heartbeat's clock: "recent" without a clock read */
	uint64_t now_ticks;        /* the TSC at that heartbeat */
	uint64_t dlq_written, dlq_dropped;
	struct nx_ctx ctx;
	/* What each run of a pipeline gets: filled once (exec_init), but
	 * for t_start and t_route, which each request sets. */
	struct nx_exec exec;
	uint32_t rr[NX_MAX_RR];    /* round-robin turns, by node's counter index */
};

/** Control thread: a channel's rate limit (0 = none); the worker picks it up. */
void nx__chan_set_limit(struct nx_wchan *ch, uint32_t rate, uint32_t burst);

/** The worker loop; arg is a struct nx_worker. */
void *nx__worker_main(void *arg);

/**
 * Serve one request already copied out of its ring: validate, run, fill
 * the response slot. seq is the request's sequence number (its slot is
 * seq modulo the ring), rslot the response slot's index. Exposed for the
 * tests of descriptor validation.
 * @return the status written to the response
 */
int nx__worker_serve(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes,
		     const struct nx_req_desc *rq, struct nx_resp_desc *rs, uint32_t seq,
		     uint32_t rslot);

/**
 * Serve one burst from one channel, as the worker loop does on each
 * visit (up to NX_BURST requests). Exposed for the tests of what the
 * loop hands a stage (nx_ctx.backlog). @return the requests served
 */
unsigned nx__worker_poll(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes);

/** Publish a new channel set to a worker and wake it. Control thread. */
void nx__worker_kick(struct nx_worker *w);

#endif /* NX_CORE_WORKER_H */
