/*
 * instance.h - what one nxd owns: struct nx_instance, the state every
 * part of the control plane keeps in it. Each part's functions are in a
 * header of its own; they call one way only:
 *
 *   instance.c (create, run, stop, destroy)
 *     -> ctl_server.c (control socket, peers, attach, reclaim, sweep)
 *          -> cmd.c (the nxctl command table) -> cmd_pipe.c, cmd_policy.c, cmd_dlq.c
 *               -> pipetab.c (pipelines: build, publish, swap, reclaim)
 *               -> chantab.c (channels and the workers' channel sets)
 *   restart.c (restart log, life locks) and grace.c serve those above.
 */
#ifndef NX_CORE_INSTANCE_H
#define NX_CORE_INSTANCE_H

#include "platform/base/buf.h"

#include "core/datapath/dlq.h"
#include "core/control/grace.h"
#include "core/nxd.h"
#include "core/pipeline/pipe.h"
#include "core/pipeline/pool.h"
#include "core/datapath/worker.h"

#define NX_MAX_PEERS 64
#define NX_PEER_TIMEOUT_NS 5000000000ull /* a connection must speak (or read) within 5 s */
#define NX_CTL_REPLIES_MAX (64u << 20)  /* replies queued, all peers together */

/*
 * A connection that has not attached: nxctl, or a client before ATTACH.
 * A command's reply is queued whole and sent as the socket drains
 * (reply_off); meanwhile nothing more is read from the peer, so each
 * peer holds at most one reply, of at most NX_CTL_REPLY_MAX bytes.
 */
struct nx_peer {
	int fd;
	struct nx_peer_cred cred;
	bool admin;         /* may send control commands (nxd's uid or admin_gid) */
	uint64_t since_ns;  /* connected, or last progress: the sweep's timer */
	bool replying;      /* reply queued: watching for room to send */
	int reply_status;
	size_t reply_off;
	struct nx_buf reply;
};

#define NX_MAX_GONE 64 /* replaced objects waiting for a grace period */

struct nx_gone {
	int kind;
	void *obj;
	uint32_t ticket;               /* nx__grace_request() when it was retired */
};

#define NX_MAX_RETIRED 64 /* channel sets replaced, to free after a grace period */

struct nx_retired {
	struct nx_chanset *set;        /* the worker's previous channel set */
	struct nx_wchan *release;      /* a detached channel to release with it, or NULL */
	uint32_t ticket;
};

struct nx_instance {
	/* instance.c: the lifecycle */
	struct nx_instance_conf conf;
	struct nx_place_plan plan;
	struct nx_health_view hv;
	struct nx_chan_geom cgeom;
	uint64_t generation;
	bool reattached;
	struct nx_dlq dlq;             /* dead-letter rings; base NULL when off */
	struct nx_signal_guard *guard; /* SIGTERM, SIGINT: stop, and a bound on stopping */
	const char *doing;             /* what the control thread is in, for the guard's
					* message (ck_pr_store_ptr: the guard reads it) */
	int notefd;
	struct nx_worker *workers;
	unsigned nworkers;
	bool workers_started;
	unsigned nstarted;             /* worker threads running (joined at the stop) */
	struct nx_grace grace;
	uint32_t stop;
	uint32_t stop_sig;             /* the signal that asked it (the guard's thread) */
	bool stopped;
	/* restart.c */
	bool logged_restart;        /* this start follows a dead nxd: in the restart log */
	struct nx_life *life;       /* nxwd's life locks (conf.wd.life_fd); NULL unsupervised */
	bool life_held;             /* the control thread holds lock 0 */
	/* ctl_server.c */
	int lfd;
	int lock_fd; /* the instance's lock, held for nxd's life */
	bool listen_paused;            /* accept failed (no fd left): retried at the sweep */
	struct nx_evloop *ev;
	struct nx_peer peers[NX_MAX_PEERS];
	struct nx_ctl_cmd *cmd;        /* one command being read */
	struct nx_ctl_reply *reply;    /* one chunk being sent */
	size_t reply_bytes;            /* replies queued, all peers together */
	uint64_t last_sweep_ns;
	/* chantab.c: orphans of clients whose pid nxd cannot see go then */
	uint64_t orphan_until_ns;
	bool pids_foreign;             /* the dead nxd's PID namespace was not ours: its
					* channel table's pids mean nothing here */
	/* chantab.c */
	struct nx_wchan *chans;
	struct nx_retired retired[NX_MAX_RETIRED];
	unsigned nretired;
	/* pipetab.c */
	struct nx_pipetab *pipes;      /* RCU: workers read it */
	struct nx_pool pipe_pool;      /* pipelines, reserved at start-up */
	struct nx_pool inst_pool;      /* stage instances, with their inline state */
	uint8_t rr_used[NX_MAX_RR];    /* round-robin counters taken */
	struct nx_gone gone[NX_MAX_GONE]; /* replaced, to destroy after a grace period */
	unsigned ngone;
};

/* What the control thread is in, for the signal guard's message. */
static inline void
nx__instance_doing(struct nx_instance *inst, const char *what)
{
	ck_pr_store_ptr(&inst->doing, (void *)(uintptr_t)what);
}

#endif /* NX_CORE_INSTANCE_H */
