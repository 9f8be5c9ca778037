/*
 * shm_abi.h - the shared-memory ABI of nexus: every byte two processes
 * agree on. Fixed-width types only, no pointers (each process maps at its
 * own address: offsets instead), explicit reserved space, producer and
 * consumer fields on separate cache lines, every size and offset pinned.
 * Each field says who writes it and who reads it.
 *
 * Two kinds of segment:
 *
 *   /dev/shm/nx.<instance>.health     named, created by nxd (mode 0644),
 *                                     written by nxd only, mapped read-only
 *                                     by clients, nxtop, nxwd, nxctl.
 *   channel                           anonymous (memfd), one per client
 *                                     thread, sealed against resizing, handed
 *                                     to its client over the control socket.
 *
 * Channel segment (offsets in the header; P = page_bytes):
 *
 *   0      +-----------------------------+
 *          | struct nx_chan_hdr          |  identity and geometry (nxd, at create)
 *          |   doorbell line             |  client -> worker wake-up
 *          |   client_waiting line       |  client says it sleeps
 *          |   resp_bell line            |  worker -> client wake-up
 *   P      +-----------------------------+
 *          |            (unused)         |
 *   2P-128 | struct ck_ring: c_head line |  request ring: worker writes c_head
 *          |        p_tail/p_head line   |                client writes p_tail
 *   2P     +-----------------------------+
 *          | ck_ring size, mask          |  GEOMETRY PAGE: every process maps
 *          |                             |  its own private copy over it
 *   3P     +-----------------------------+
 *          |            (unused)         |
 *   4P-128 | struct ck_ring (responses)  |  client writes c_head, worker p_tail
 *   4P     +-----------------------------+
 *          | ck_ring size, mask          |  GEOMETRY PAGE (private copy)
 *   5P     +-----------------------------+
 *          | request slots               |  ring_size x struct nx_req_desc
 *          +-----------------------------+
 *          | response slots              |  ring_size x struct nx_resp_desc
 *          +-----------------------------+
 *          | request extensions          |  ring_size x NX_EXT_BYTES: payloads of
 *          +-----------------------------+  57..192 bytes, at the slot's index
 *          | response extensions         |  ring_size x NX_EXT_BYTES: answers of
 *          +-----------------------------+  57..192 bytes, at the slot's index
 *          | arena                       |  larger payloads; the client
 *          |                             |  allocates, the worker reads input
 *          |                             |  and writes output where told
 *          +-----------------------------+  layout_bytes
 *
 * Why the geometry page: ck_ring indexes its buffer with ring->mask, read
 * from the ring structure on every call. A client that rewrote the mask
 * in shared memory would make nxd index outside the ring. ck's struct puts
 * size and mask at offset 128; placing the structure 128 bytes before a
 * page boundary puts them alone on the next page, which each process
 * replaces with a private page holding the true values. The indices a
 * client can rewrite (c_head, p_tail) are always masked with nxd's mask,
 * so every slot nxd touches is inside the ring, whatever the client
 * writes. No copy of ck_ring's code, no check on the data path.
 *
 * Why extensions: a payload just over 56 bytes would otherwise sit in
 * the arena, at an offset the worker learns only by reading the
 * descriptor: a second cache-line transfer after the first. An extension
 * sits at the descriptor's own index, an address both sides know before
 * reading anything, so its line travels alongside the descriptor's.
 *
 * Sequence numbers: the request ring's c_head is the number of requests
 * the worker has taken; the response ring's p_tail is the number it has
 * answered. Requests are answered in order, so request n is answered by
 * response n. A restarted nxd answers [answered, taken) explicitly.
 */
#ifndef NX_SHM_ABI_H
#define NX_SHM_ABI_H

#include <stddef.h>
#include <stdint.h>

#include <ck_ring.h>

#include <nx/nx.h>

#include "core/hist.h" /* struct nx_lhist: the health histograms' fixed layout */

#define NX_CACHELINE 64

#define NX_CHAN_MAGIC 0x4e584348u   /* "NXCH" */
#define NX_HEALTH_MAGIC 0x4e58484cu /* "NXHL" */

/* ---- limits ---- */
#define NX_RING_MIN 8u
#define NX_RING_MAX 65536u
#define NX_ARENA_MAX (1u << 30)
#define NX_PAYLOAD_MAX_DEFAULT (64u * 1024u)
#define NX_PIPE_NAME_MAX 32

/* ---- descriptors: one cache line each ---- */

/* Request flags (client writes; nxd rejects unknown bits). */
#define NX_DESC_ARENA 0x01u      /* payload in the arena: data holds nx_req_arena */
#define NX_DESC_IDEMPOTENT 0x02u /* may run again after an nxd restart */
#define NX_DESC_DEADLINE 0x04u   /* deadline_us is set */
#define NX_DESC_EXT 0x08u        /* payload (len <= NX_EXT_BYTES) in the request
				  * extension at this slot's index */
#define NX_DESC_OUT_EXT 0x10u    /* the answer may take the response extension
				  * (up to NX_EXT_BYTES) at its slot's index */
#define NX_DESC_KNOWN 0x1fu

#define NX_EXT_BYTES 192u /* per slot and direction: three cache lines */

/* Request descriptor: written by the client into a request slot, copied
 * once by the worker, validated on the copy. */
struct nx_req_desc {
	uint16_t pipeline;    /* index in the health pipeline directory */
	uint8_t flags;        /* NX_DESC_* */
	uint8_t len;          /* payload length: 0..56 inline, 0..192 with EXT,
			       * 0 with ARENA */
	uint32_t deadline_us; /* low 32 bits of the absolute deadline in us,
			       * CLOCK_MONOTONIC; compared modulo 2^32, so a
			       * deadline must lie within 35 minutes */
	uint8_t data[NX_INLINE_MAX]; /* inline payload, or struct nx_req_arena */
};

/* Where an arena request's payloads are, inside the channel's arena. */
struct nx_req_arena {
	uint32_t in_off;  /* input at arena + in_off */
	uint32_t in_len;
	uint32_t out_off; /* the answer goes to arena + out_off */
	uint32_t out_cap; /* at most this many bytes */
};

/* Response flags (worker writes). */
#define NX_RESP_ARENA 0x01u    /* answer in the arena at the request's out_off */
#define NX_RESP_DEGRADED 0x02u /* answered by a degraded strategy */
#define NX_RESP_EXT 0x04u      /* answer (len bytes) in the response extension */

/* Response descriptor: written by the worker, read by the client. */
struct nx_resp_desc {
	uint32_t seq;   /* the request's sequence number (low 32 bits) */
	int16_t status; /* 0 or a negative NX_E* code */
	uint8_t flags;  /* NX_RESP_* */
	uint8_t len;    /* answer length: 0..56 inline, 0..192 with EXT */
	uint8_t data[NX_INLINE_MAX]; /* inline answer, or uint32 out_len when ARENA */
};

_Static_assert(sizeof(struct nx_req_desc) == NX_CACHELINE, "request descriptor is one line");
_Static_assert(sizeof(struct nx_resp_desc) == NX_CACHELINE, "response descriptor is one line");
_Static_assert(offsetof(struct nx_req_desc, data) == 8, "8-byte request header");
_Static_assert(offsetof(struct nx_resp_desc, data) == 8, "8-byte response header");
_Static_assert(sizeof(struct nx_req_arena) <= NX_INLINE_MAX, "arena refs fit inline");

/* ck typed rings over the descriptors (nxd and client use the same ones). */
CK_RING_PROTOTYPE(nx_req, nx_req_desc)
CK_RING_PROTOTYPE(nx_resp, nx_resp_desc)

/* The geometry trick depends on ck_ring's layout; fail the build if ck
 * ever changes it. */
#define NX_RING_GEOM_OFF 128u
_Static_assert(offsetof(struct ck_ring, c_head) == 0, "ck_ring: c_head first");
_Static_assert(offsetof(struct ck_ring, p_tail) == 64, "ck_ring: p_tail on line 1");
_Static_assert(offsetof(struct ck_ring, size) == NX_RING_GEOM_OFF, "ck_ring: size at 128");
_Static_assert(offsetof(struct ck_ring, mask) == NX_RING_GEOM_OFF + 4, "ck_ring: mask at 132");

/* ---- channel header ---- */

struct nx_chan_hdr {
	/* line 0-1: identity and geometry. nxd writes at create; the client
	 * reads at attach. nxd never trusts these after create: it keeps its
	 * own copy and re-validates them against the sealed size on reclaim. */
	uint32_t magic;        /* NX_CHAN_MAGIC */
	uint32_t abi_version;  /* NX_ABI_VERSION */
	uint64_t layout_bytes; /* whole segment */
	uint64_t generation;   /* nxd generation that created the channel */
	uint32_t page_bytes;   /* page size the layout was computed with */
	uint32_t ring_size;    /* slots per ring, power of two */
	uint32_t arena_bytes;
	uint32_t max_payload;  /* largest in_len / out_cap the worker accepts */
	uint32_t chan_id;      /* index in the health channel table */
	uint32_t worker;       /* worker serving this channel */
	uint32_t wait_mode;    /* enum nx_wait the client attached with */
	uint32_t req_ctl_off;  /* struct ck_ring of the request ring */
	uint32_t resp_ctl_off; /* struct ck_ring of the response ring */
	uint32_t req_slots_off;
	uint32_t resp_slots_off;
	uint32_t arena_off;
	uint32_t req_ext_off;  /* ring_size x NX_EXT_BYTES */
	uint32_t resp_ext_off;
	uint8_t reserved0[128 - 80];

	/* line 2: client -> worker. The client increments doorbell (then
	 * futex-wakes it) after submitting while its worker sleeps. */
	uint32_t doorbell;
	uint8_t pad2[NX_CACHELINE - 4];

	/* line 3: client writes 1 before it sleeps on resp_bell, 0 after. */
	uint32_t client_waiting;
	uint8_t pad3[NX_CACHELINE - 4];

	/* line 4: worker -> client. The worker increments resp_bell and
	 * futex-wakes it after answering when client_waiting is set. */
	uint32_t resp_bell;
	uint8_t pad4[NX_CACHELINE - 4];

	uint8_t reserved1[1024 - 5 * NX_CACHELINE];
};
_Static_assert(sizeof(struct nx_chan_hdr) == 1024, "channel header size pinned");
_Static_assert(offsetof(struct nx_chan_hdr, doorbell) == 128, "doorbell on its own line");
_Static_assert(offsetof(struct nx_chan_hdr, client_waiting) == 192, "client_waiting line");
_Static_assert(offsetof(struct nx_chan_hdr, resp_bell) == 256, "resp_bell line");

/* ---- health segment ---- */

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
 * magic, abi_version and layout_bytes against the mapping's size before
 * it trusts any of them.
 */
struct nx_health_hdr {
	uint32_t magic;        /* NX_HEALTH_MAGIC */
	uint32_t abi_version;  /* NX_ABI_VERSION */
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
	uint8_t reserved[256 - 160];
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
	int32_t pid;             /* client process */
	uint32_t uid;
	uint64_t pid_start;      /* client start time (ticks since boot): pid reuse */
	uint64_t attach_ns;
	uint32_t ring_size;
	uint32_t arena_bytes;
	uint32_t wait_mode;
	uint32_t attach_count;   /* incremented on every attach to this entry */
	uint8_t reserved0[NX_CACHELINE - 48];
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
	uint32_t breaker;  /* enum nx_brk_state (core/breaker.h): 0 closed, 1 open, 2 half-open */
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
 * tells it in the environment, see nxwd), under the header's ctl_seq.
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

/*
 * Dead-letter segment, /dev/shm/nx.<instance>.dlq, mode 0600 (it holds
 * clients' payloads: only nxd reads it, and nxctl through nxd). It
 * outlives nxd like the health segment. One ring per worker, so that
 * each has one writer:
 *
 *   struct nx_dlq_hdr
 *   ring 0: struct nx_dlq_ring, then entries x struct nx_dlq_entry
 *   ring 1: ...
 *
 * The worker writes entry head % entries under the entry's seq (odd while
 * written), then head + 1. The control thread drains by moving tail. A
 * ring holding `entries` undrained entries overwrites the oldest and the
 * worker counts it in dropped: nothing leaves without being counted.
 */
#define NX_DLQ_MAGIC 0x6e78444cu /* "nxDL" */
#define NX_DLQ_PAYLOAD 512       /* payload bytes kept; more is truncated */
#define NX_DLQ_F_TRUNCATED 0x1u  /* the payload was longer than NX_DLQ_PAYLOAD */
#define NX_DLQ_F_IDEMPOTENT 0x2u /* the client marked it idempotent */

struct nx_dlq_hdr {
	uint32_t magic;
	uint32_t abi_version;
	uint64_t layout_bytes;
	uint32_t nrings;       /* one per worker */
	uint32_t entries;      /* per ring (power of two) */
	uint32_t ring_bytes;   /* header line pair and entries */
	uint32_t rings_off;
	uint8_t reserved[64 - 32];
};
_Static_assert(sizeof(struct nx_dlq_hdr) == NX_CACHELINE, "dlq header size");

struct nx_dlq_entry {
	uint32_t seq;          /* odd while the worker writes it */
	int32_t status;        /* why it failed: the NX_E* code answered */
	uint64_t n;            /* its number in its ring (the head when written) */
	uint64_t at_ns;        /* CLOCK_MONOTONIC when it failed */
	uint64_t generation;   /* nxd generation that failed it */
	int32_t pid;           /* the client */
	uint32_t channel;
	uint32_t len;          /* the whole payload's length */
	uint16_t flags;        /* NX_DLQ_F_* */
	uint16_t slot;         /* health slot index of the stage that failed; 0xffff none */
	char pipeline[NX_PIPE_NAME_MAX];
	uint8_t reserved[128 - 80];
	uint8_t payload[NX_DLQ_PAYLOAD];
};
_Static_assert(sizeof(struct nx_dlq_entry) == 128 + NX_DLQ_PAYLOAD, "dlq entry size");

struct nx_dlq_ring {
	/* line 0: the worker writes */
	uint64_t head;         /* entries written so far */
	uint64_t dropped;      /* undrained entries overwritten */
	uint8_t pad0[NX_CACHELINE - 16];
	/* line 1: the control thread writes */
	uint64_t tail;         /* entries drained (or dropped) so far */
	uint8_t pad1[NX_CACHELINE - 8];
};
_Static_assert(sizeof(struct nx_dlq_ring) == 2 * NX_CACHELINE, "dlq ring header size");

/* ---- control protocol (SOCK_SEQPACKET, one message per datagram) ---- */

#define NX_CTL_ATTACH 1  /* client -> nxd: create my channel */
#define NX_CTL_RECLAIM 2 /* client -> nxd (+ channel fd): take my channel back */
#define NX_CTL_OK 3      /* nxd -> client (+ channel fd on attach) */
#define NX_CTL_ERROR 4   /* nxd -> client */
#define NX_CTL_COMMAND 5 /* nxctl -> nxd: struct nx_ctl_cmd */
#define NX_CTL_REPLY 6   /* nxd -> nxctl: struct nx_ctl_reply, in chunks */

struct nx_ctl_msg {
	uint32_t type;        /* NX_CTL_* */
	uint32_t abi_version; /* sender's NX_ABI_VERSION */
	int32_t status;       /* ERROR: the NX_E* code */
	uint32_t wait_mode;   /* ATTACH: enum nx_wait */
	uint32_t chan_id;     /* RECLAIM, OK */
	uint32_t reserved0;
	uint64_t generation;  /* OK: nxd's generation */
	char text[160];       /* ERROR: what was wrong, for the user */
};
_Static_assert(sizeof(struct nx_ctl_msg) == 192, "control message size");


/* An nxctl command: the header (type NX_CTL_COMMAND), then argc
 * NUL-terminated arguments in len bytes. */
#define NX_CTL_CMD_JSON 0x1u  /* in wait_mode: answer in JSON */
#define NX_CTL_CMD_MAX 16384  /* bytes of arguments */

struct nx_ctl_cmd {
	struct nx_ctl_msg hdr;
	uint32_t argc;
	uint32_t len;
	char args[NX_CTL_CMD_MAX];
};

/* nxd's answer: the header (type NX_CTL_REPLY; status 0 or the error),
 * len bytes of text; more != 0 when another chunk follows. */
#define NX_CTL_REPLY_CHUNK 32768
#define NX_CTL_REPLY_MAX (16u << 20) /* a whole reply, every chunk: nxd refuses
				      * to build more, clients to read more */

struct nx_ctl_reply {
	struct nx_ctl_msg hdr;
	uint32_t len;
	uint32_t more;
	char text[NX_CTL_REPLY_CHUNK];
};

#endif /* NX_SHM_ABI_H */
