/*
 * instance_internal.h - what one nxd owns; shared by instance.c (the
 * control loop, channels) and pipes.c (pipelines, swaps, commands).
 */
#ifndef NX_INSTANCE_INTERNAL_H
#define NX_INSTANCE_INTERNAL_H

#include "platform/base/buf.h"

#include "dlq.h"
#include "nxd.h"
#include "pipe.h"
#include "pool.h"
#include "worker.h"

#define NX_MAX_PEERS 64
#define NX_PEER_TIMEOUT_NS 5000000000ull /* a connection must speak (or read) within 5 s */
#define NX_CTL_REPLIES_MAX (64u << 20)  /* replies queued, all peers together */

enum { KEY_LISTEN = 1, KEY_NOTIFY, KEY_PEER, KEY_CHAN };
#define KEY(type, idx) (((uint64_t)(type) << 32) | (uint32_t)(idx))

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

/* grace.c: grace periods waited for by a thread of their own */
struct nx_grace {
	uint32_t requested;            /* tickets taken (control thread) */
	uint32_t completed;            /* grace periods done for tickets up to this (grace thread) */
	uint32_t stop;
	int notefd;                    /* rung when completed moves */
	struct nx_thread *thread;
	uint32_t *pub_requested;       /* the health header's copies, for readers */
	uint32_t *pub_completed;
};
/** Start the grace thread on cpu (-1: anywhere); it mirrors its counters in
 *  *pub (the health header's grace_requested, then grace_completed).
 *  @return 0 or the platform's error */
int nx__grace_start(struct nx_grace *g, int notefd, int cpu, uint32_t *pub_requested,
		    uint32_t *pub_completed);
/** Stop it (what it has not done stays undone: the caller decides). */
void nx__grace_stop(struct nx_grace *g);
/** A ticket for what was retired before this call. */
uint32_t nx__grace_request(struct nx_grace *g);
/** True once no worker can hold anything retired before the ticket. */
bool nx__grace_passed(const struct nx_grace *g, uint32_t ticket);

#define NX_MAX_RETIRED 64 /* channel sets replaced, to free after a grace period */

struct nx_retired {
	struct nx_chanset *set;        /* the worker's previous channel set */
	struct nx_wchan *release;      /* a detached channel to release with it, or NULL */
	uint32_t ticket;
};

struct nx_instance {
	struct nx_instance_conf conf;
	struct nx_place_plan plan;
	struct nx_health_view hv;
	struct nx_chan_geom cgeom;
	uint64_t generation;
	bool reattached;
	struct nx_dlq dlq;             /* dead-letter rings; base NULL when off */
	bool logged_restart;        /* this start follows a dead nxd: in the restart log */
	struct nx_life *life;       /* nxwd's life locks (NX_LIFE_FD); NULL unsupervised */
	bool life_held;             /* the control thread holds lock 0 */
	int lfd;
	int lock_fd; /* the instance's lock, held for nxd's life */
	bool listen_paused;            /* accept failed (no fd left): retried at the sweep */
	struct nx_signal_guard *guard; /* SIGTERM, SIGINT: stop, and a bound on stopping */
	const char *doing;             /* what the control thread is in, for the guard's
					* message (ck_pr_store_ptr: the guard reads it) */
	int notefd;
	struct nx_evloop *ev;
	struct nx_worker *workers;
	unsigned nworkers;
	bool workers_started;
	unsigned nstarted;             /* worker threads running (joined at the stop) */
	struct nx_wchan *chans;
	struct nx_pipetab *pipes;      /* RCU: workers read it */
	struct nx_pool pipe_pool;      /* pipelines, reserved at start-up */
	struct nx_pool inst_pool;      /* stage instances, with their inline state */
	uint8_t rr_used[NX_MAX_RR];    /* round-robin counters taken */
	struct nx_gone gone[NX_MAX_GONE]; /* replaced, to destroy after a grace period */
	unsigned ngone;
	struct nx_grace grace;
	struct nx_retired retired[NX_MAX_RETIRED];
	unsigned nretired;
	struct nx_peer peers[NX_MAX_PEERS];
	struct nx_ctl_cmd *cmd;        /* one command being read */
	struct nx_ctl_reply *reply;    /* one chunk being sent */
	size_t reply_bytes;            /* replies queued, all peers together */
	uint32_t stop;
	uint32_t stop_sig;             /* the signal that asked it (the guard's thread) */
	bool stopped;
	uint64_t last_sweep_ns;
};


/* ---- pipes.c: the pipeline table, on the control thread ---- */

/** Build the built-in pipelines, then the configured ones. */
int nx__pipes_start(struct nx_instance *inst);
/** Destroy every pipeline (workers stopped). */
void nx__pipes_stop(struct nx_instance *inst);
/** Destroy what swaps replaced: what a grace period has passed for
 *  (passed_only), or everything (workers stopped, or after a grace period). */
void nx__pipes_reclaim(struct nx_instance *inst, bool passed_only);
/** The environment pipelines are built in. */
void nx__pipes_env(struct nx_instance *inst, struct nx_build_env *env);


/**
 * Run one nxctl command (argv[0] is its name) and write its answer.
 * @return 0, or an error code with its message in out (and nx__errmsg)
 */
int nx__control_command(struct nx_instance *inst, int argc, char **argv, bool json,
			 struct nx_buf *out);
/** breaker, release, ratelimit, dlq (core/ctl_policy.c); as nx__control_command. */
int nx__policy_command(struct nx_instance *inst, int argc, char **argv, bool json,
		       struct nx_buf *out);
/** A pipeline's slot by names. @return 0 or NX_ENOENT with its message */
int nx__find_slot(struct nx_instance *inst, const char *pipe, const char *slot,
		  struct nx_pipeline **pp, struct nx_slot **sp);

#endif /* NX_INSTANCE_INTERNAL_H */
