/*
 * shm/abi/health.h - the health segment: what nxd publishes about itself
 * for everyone else (clients, nxtop, nxwd, nxctl).
 *
 *   /dev/shm/nx.<instance>.health   named, created by nxd (mode 0644),
 *                                   written by nxd only, mapped read-only
 *                                   by clients, nxtop, nxwd, nxctl.
 *
 *   struct nx_health_hdr                      offsets of everything below
 *   struct nx_health_worker[max_workers]
 *   struct nx_health_chan[max_channels]
 *   struct nx_health_pipe[max_pipelines]
 *   struct nx_health_slot[max_slots]
 *   struct nx_health_slot_stats[max_workers][max_slots]
 *   struct nx_lhist[max_workers]              sampled service times
 *   struct nx_lhist[max_workers][max_slots]   sampled stage times
 *   struct nx_health_restart[NX_RESTART_LOG]
 *
 * Fixed-width fields, no pointers, every size pinned; each field says who
 * writes it. The code that records and reads the histograms is
 * core/datapath/hist.h; the breaker whose state a slot shows is core/datapath/breaker.h.
 */
#ifndef NX_SHM_ABI_HEALTH_H
#define NX_SHM_ABI_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#define NX_PIPE_NAME_MAX 32 /* a pipeline's name, NUL included */

/* ---- histograms ---- */

/*
 * A log-linear latency histogram (HdrHistogram's bucketing, core/datapath/hist.h
 * explains it): a run of uint64_t words, one writer (a worker), any
 * number of readers in other processes. The health segment's shape has
 * 5 sub-bucket bits (relative error < 2^-5 = 3.2%) over values below
 * 2^36 ns: 1,024 buckets, 8,256 bytes.
 *
 *   0    count     records so far; stored last by each record, loaded
 *                  first by a reader
 *   8    sum       sum of the recorded (clamped) values
 *   16   min       smallest value; UINT64_MAX while empty
 *   24   max       largest value; 0 while empty
 *   32   overflow  values above 2^36 - 1 (clamped to it)
 *   40   reserved[3]  zero
 *   64   buckets[NX_LHIST_BUCKETS]
 */
#define NX_LHIST_SUB_BITS 5
#define NX_LHIST_VALUE_BITS 36
#define NX_LHIST_BUCKETS ((NX_LHIST_VALUE_BITS - NX_LHIST_SUB_BITS + 1) << NX_LHIST_SUB_BITS)

struct nx_lhist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t overflow;
	uint64_t reserved[3];
	uint64_t buckets[NX_LHIST_BUCKETS];
};
_Static_assert(NX_LHIST_BUCKETS == 1024, "NX_LHIST_BUCKETS follows from its bit parameters");
_Static_assert(sizeof(struct nx_lhist) == 64 + 8 * NX_LHIST_BUCKETS, "struct nx_lhist layout is fixed");
_Static_assert(offsetof(struct nx_lhist, overflow) == 32, "overflow at 32");
_Static_assert(offsetof(struct nx_lhist, buckets) == 64, "header is one cache line");

/* ---- circuit breaker states (a slot's stats show its worker's) ---- */

enum nx_brk_state {
	NX_BRK_CLOSED = 0,
	NX_BRK_OPEN = 1,
	NX_BRK_HALF_OPEN = 2,
};

/* ---- the segment ---- */

/* nxd state, in the health header. */
enum nx_inst_state {
	NX_INST_STARTING = 1,
	NX_INST_RUNNING = 2,
	NX_INST_STOPPING = 3,
	NX_INST_STOPPED = 4,
};

/* Worker state. */
enum nx_worker_state {
	NX_WORKER_OFF = 0,
	NX_WORKER_RUNNING = 1, /* found work in its last loop */
	NX_WORKER_IDLE = 2,    /* polling, nothing to do */
	NX_WORKER_SLEEPING = 3,
};

/* Worker error kinds (counters). */
#define NX_WERR_BADDESC 0 /* malformed descriptor */
#define NX_WERR_NOPIPE 1  /* unknown pipeline */
#define NX_WERR_STAGE 2   /* a stage failed */
#define NX_WERR_OVERFLOW 3
#define NX_WERR_OTHER 4
#define NX_WERR_KINDS 8

/*
 * Health header: written by nxd (control thread), read by everyone.
 * The table offsets and counts say where the rest is; a reader checks
 * magic, abi_version (NX_SHM_VERSION) and layout_bytes against the mapping's size before
 * it trusts any of them.
 */
struct nx_health_hdr {
	uint32_t magic;        /* NX_HEALTH_MAGIC */
	uint32_t abi_version;  /* NX_SHM_VERSION */
	uint64_t layout_bytes; /* whole segment */
	uint64_t generation;   /* bumped by every nxd that (re)starts on it */
	int32_t pid;           /* nxd pid */
	uint32_t state;        /* enum nx_inst_state */
	uint64_t start_ns;     /* CLOCK_MONOTONIC at start of this generation */
	uint64_t start_wall_ns;
	uint32_t uid;          /* nxd's uid */
	uint32_t idle;         /* enum nx_wait: how workers wait for work */
	uint32_t nworkers;     /* workers running */
	uint32_t max_workers;  /* entries in the worker table */
	uint32_t max_channels; /* entries in the channel table */
	uint32_t max_pipelines;
	uint32_t workers_off;  /* struct nx_health_worker[max_workers] */
	uint32_t channels_off; /* struct nx_health_chan[max_channels] */
	uint32_t pipelines_off;/* struct nx_health_pipe[max_pipelines] */
	uint32_t ring_size;    /* channel geometry new channels get */
	uint32_t arena_bytes;
	uint32_t max_payload;
	uint32_t flags;        /* NX_HEALTH_F_* */
	uint32_t max_slots;    /* entries in the stage slot table */
	uint32_t slots_off;    /* struct nx_health_slot[max_slots] */
	uint32_t slot_stats_off; /* struct nx_health_slot_stats[max_workers][max_slots] */
	uint32_t worker_hist_off; /* struct nx_lhist[max_workers]: sampled service times */
	uint32_t slot_hist_off;  /* struct nx_lhist[max_workers][max_slots]: sampled stage times */
	uint32_t restarts_off;   /* struct nx_health_restart[NX_RESTART_LOG] */
	uint32_t ctl_seq;        /* ck_sequence: odd while the control thread rewrites
				  * the slot table, pipeline directory or restart log */
	uint64_t restarts;       /* restarts logged so far; entry (restarts - 1) % NX_RESTART_LOG
				  * is the latest */
	uint64_t stop_wall_ns;   /* CLOCK_REALTIME when this generation stopped cleanly */
	uint64_t tick_calibration; /* ns per TSC tick << 32, as measured by the first nxd
				    * of this boot: the next ones take it (2 ms less
				    * of a restart) */
	uint32_t grace_requested;  /* grace periods asked for (control thread) ... */
	uint32_t grace_completed;  /* ... and waited for (grace thread): equal when no
				    * retired object waits and no worker is asked for a
				    * quiescent state */
	/* channels, over the segment's life (control thread writes) */
	uint64_t chans_detached;   /* freed when their client closed or died (its socket's
				    * hang-up: whatever its pid) */
	uint64_t orphans_reclaimed;/* taken back by their client after a restart */
	uint64_t orphans_freed;    /* freed after a restart without being reclaimed: the
				    * client died, or (a pid nxd cannot see) did not come
				    * back within orphan_hold */
	uint64_t pid_ns;           /* nxd's PID namespace (inode of /proc/self/ns/pid; 0
				    * unknown): the channel table's pids are of it */
	uint8_t reserved[256 - 192];
};

/* Health header flags. */
#define NX_HEALTH_F_KEPT 0x1u /* stopped with --keep: a new nxd will re-attach the
			       * channels, so clients keep waiting for answers */
_Static_assert(sizeof(struct nx_health_hdr) == 256, "health header size pinned");

/*
 * One worker. Line 0 is written by the worker on every loop and every
 * request (single writer, plain 64-bit stores); readers may see a field
 * a request late, never torn. Line 1 is written by the worker when its
 * state changes. Line 2 holds what clients read after submitting in
 * sleep mode: kept apart so that busy counters never bounce it.
 */
struct nx_health_worker {
	/* line 0: worker writes */
	uint64_t heartbeat_ns; /* CLOCK_MONOTONIC, at most every 1 ms (paced by the TSC) */
	uint64_t loops;
	uint64_t taken;        /* requests taken from rings */
	uint64_t answered;     /* responses written */
	uint64_t busy_ns;      /* time spent running requests */
	uint64_t sleeps;       /* times it went to sleep */
	uint64_t dlq_written;  /* requests copied to this worker's dead-letter ring */
	uint64_t dlq_dropped;  /* oldest entries overwritten because the ring was full */
	/* line 1: worker writes */
	uint64_t errors[NX_WERR_KINDS];
	/* line 2: worker writes at start and on state change */
	uint32_t state;        /* enum nx_worker_state */
	int32_t cpu;
	int32_t tid;
	uint32_t nchannels;
	uint8_t reserved2[NX_CACHELINE - 16];
	/* line 3: worker writes; clients read after submitting (sleep idle) */
	uint32_t sleeping;     /* 1 while it waits on its channels' doorbells */
	uint8_t pad3[NX_CACHELINE - 4];
};
_Static_assert(sizeof(struct nx_health_worker) == 4 * NX_CACHELINE, "worker record size");
_Static_assert(offsetof(struct nx_health_worker, sleeping) == 3 * NX_CACHELINE, "sleep line");

/* Channel table entry states. */
enum nx_chan_state {
	NX_CHAN_FREE = 0,
	NX_CHAN_ATTACHED = 1,  /* a client holds it and nxd serves it */
	NX_CHAN_ORPHANED = 2,  /* nxd restarted; waiting for its client to reclaim */
};

/*
 * One channel. Line 0 is written by the control thread (attach, detach);
 * line 1 by the worker that serves it.
 */
struct nx_health_chan {
	/* line 0: control thread writes */
	uint32_t state;          /* enum nx_chan_state */
	uint32_t worker;
	int32_t pid;             /* client process; 0 when nxd cannot see it */
	uint32_t uid;
	uint64_t pid_start;      /* client start time (ticks since boot): pid reuse */
	uint64_t attach_ns;
	uint32_t ring_size;
	uint32_t arena_bytes;
	uint32_t wait_mode;
	uint32_t attach_count;   /* incremented on every attach to this entry */
	/* the channel's memfd (fstat): a client that reclaims it must hand
	 * over that very file, whatever its pid says (pid 0: a process in a
	 * PID namespace nxd cannot see) */
	uint64_t seg_dev;
	uint64_t seg_ino;
	/* line 1: serving worker writes, after each burst and at each heartbeat */
	uint64_t taken;
	uint64_t answered;
	uint64_t errors;
	uint64_t last_ns;        /* last burst (CLOCK_MONOTONIC, to the heartbeat: <= 1 ms old) */
	uint32_t depth;          /* requests waiting in the request ring */
	uint32_t outstanding;    /* submitted and not yet read back by the client */
	uint64_t rate_limited;   /* requests refused by the channel's token bucket */
	uint32_t rate;           /* the bucket: tokens a second (0 = no limit) */
	uint32_t burst;          /* and its size */
	uint64_t expired;        /* requests past their deadline when taken */
};
_Static_assert(sizeof(struct nx_health_chan) == 2 * NX_CACHELINE, "channel record size");

/* Pipeline directory entry: control thread writes; clients look names up. */
struct nx_health_pipe {
	char name[NX_PIPE_NAME_MAX]; /* NUL-terminated; empty = unused */
	uint32_t active;             /* 1 when requests may name it */
	uint32_t nstages;
	uint64_t version;            /* bumped on every swap */
	uint64_t calls;              /* reserved for per-pipeline counters */
	uint64_t reserved;
};
_Static_assert(sizeof(struct nx_health_pipe) == NX_CACHELINE, "pipeline entry size");

/* Stage slot entry: the control thread writes it when a pipeline is built,
 * swapped or destroyed. */
struct nx_health_slot {
	uint32_t state;                 /* 0 free, 1 live */
	uint32_t pipeline;              /* the pipeline's id */
	uint64_t version;               /* the current stage's version in this slot */
	uint64_t swaps;                 /* swaps and rollbacks so far */
	uint64_t reserved0;
	char name[32];                  /* the slot */
	char pipe[32];                  /* its pipeline */
	char stage[32];                 /* the stage in it now */
	char plugin[128];               /* file name of its plugin, "" for a built-in */
};
_Static_assert(sizeof(struct nx_health_slot) == 4 * NX_CACHELINE, "slot entry size");

/* Per worker and stage slot: the one worker that runs it writes. Line 1
 * holds the slot's policies (breaker, budget, faults, degraded answers),
 * written only by slots that have any. */
struct nx_health_slot_stats {
	uint64_t calls;
	uint64_t failures;
	uint64_t timed;    /* calls whose time was taken (1 in stage_timing) */
	uint64_t time_ns;  /* their total time */
	uint64_t consec_failures; /* failures since this worker's last success here */
	uint64_t slow;     /* calls slower than the breaker's slow-call duration */
	uint64_t overruns; /* calls over the slot's time budget */
	uint64_t faults;   /* faults (SIGSEGV, SIGFPE, ...) contained */
	/* line 1: policies */
	uint32_t breaker;  /* enum nx_brk_state: 0 closed, 1 open, 2 half-open */
	uint32_t quarantined; /* 1: the stage faulted and is out of service */
	uint64_t rejected; /* calls the breaker refused */
	uint64_t opened;   /* breaker transitions into open, half-open, closed */
	uint64_t half_opened;
	uint64_t closed;
	uint64_t degraded; /* answers from the degraded strategy */
	uint64_t reserved[2];
};
_Static_assert(sizeof(struct nx_health_slot_stats) == 2 * NX_CACHELINE, "slot stats lines");

/*
 * The restart log: a ring of NX_RESTART_LOG entries, written by the nxd
 * that starts on a segment a previous nxd left (from what its supervisor
 * tells it, see nxwd), under the header's ctl_seq.
 */
#define NX_RESTART_LOG 16
#define NX_RESTART_REASON_MAX 88

struct nx_health_restart {
	uint64_t wall_ns;        /* CLOCK_REALTIME when the old nxd was found dead or stalled */
	uint64_t down_ns;        /* from then to this nxd serving */
	uint64_t generation;     /* the generation that started */
	int32_t old_pid;         /* the nxd that went away */
	int32_t status;          /* its exit code, or -signal; 0 unknown */
	uint8_t reserved[8];
	char reason[NX_RESTART_REASON_MAX]; /* "killed by signal 9", "stalled: worker 0 ..." */
};
_Static_assert(sizeof(struct nx_health_restart) == 2 * NX_CACHELINE, "restart entry size");

#endif /* NX_SHM_ABI_HEALTH_H */
