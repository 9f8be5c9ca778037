/*
 * bench.h - nxbench's seam: options, results, the transports, printing.
 *
 * Every transport measures the same way: the client side runs pinned on
 * o->client_cpu, the serving side on o->server_cpu, and a pingpong loop
 * reads the clock once per operation (nxb_loop_*): latency_i = t_{i+1} -
 * t_i, so the clock's own cost and the loop's bookkeeping are in every
 * transport equally. Warmup operations are not recorded; a run stops
 * after o->ops measured operations or o->duration_ns (warmup included),
 * whichever comes first.
 *
 *   transport  pingpong             throughput
 *   nx         nxb_nx_pingpong      nxb_nx_window (W outstanding)
 *   floor      nxb_floor_pingpong   nxb_floor_window (W outstanding)
 *   floorhdr   nxb_floorhdr_pingpong -
 *   ck         nxb_ck_pingpong      nxb_ck_stream (one-way)
 *   uds        nxb_uds_pingpong     -
 *
 * A run returns 0 and fills r, or a negative NX_E* code with the reason in
 * nx__errmsg(). It never hangs: every wait is bounded by
 * o->start_timeout_ns or o->op_timeout_ns, and every process it starts is
 * reaped (killed first when needed) before it returns.
 */
#ifndef NX_BENCH_H
#define NX_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/datapath/hist.h"
#include "platform/base/json.h"
#include "platform/nx_platform.h"

#define NXB_PAYLOAD_MAX 65536u /* bytes; nx's default max_payload */
#define NXB_NAME_LEN 16
/* The floor's p50 below this: the two vCPUs are hyperthreads of one core
 * (measured here: 0.13-0.15 us sharing a core, 0.31-0.34 us apart). */
#define NXB_REGIME_SHARED_US 0.22
#define NXB_NOTE_LEN 160
#define NXB_ROUNDS_MAX 1000 /* --rounds at most */

struct nxb_opts {
	int client_cpu;            /* the measuring process (nxbench itself) */
	int server_cpu;            /* the serving side: a baseline's child, nxd's worker */
	uint32_t payload;          /* bytes per message, 1..NXB_PAYLOAD_MAX */
	uint64_t ops;              /* measured operations per run */
	uint64_t warmup;           /* operations before them, not recorded */
	uint64_t duration_ns;      /* upper bound on one run, warmup included */
	unsigned window;           /* throughput: requests outstanding (nx window) */
	unsigned rounds;           /* runs split into this many interleaved rounds */
	bool json;                 /* one JSON object per line instead of a table */
	bool isatty_progress;      /* stderr is a terminal: show progress on long runs */
	const char *instance;      /* nx: a running nxd to use, NULL = start a private one */
	const char *nxd_path;      /* nx: the nxd binary for a private instance */
	const char *nxd_nc_path;   /* nxnc: the same, built with the counters compiled out */
	unsigned swap_rate;        /* nx: live stage swaps per second during a run, 0 = none */
	bool nx_sleep;             /* nx: the private nxd idles by sleeping (nxsleep) */
	const char *nxd_config;    /* nx: the private nxd's --config (policy pipelines) */
	const char *nxd_extra[4];  /* nx: more nxd options for this transport, NULL-ended */
	uint64_t start_timeout_ns; /* a serving side not ready by then is an error */
	uint64_t op_timeout_ns;    /* no answer for this long is an error */
	/* owned by nxb_nx_setup/nxb_nx_teardown */
	int32_t nxd_pid;           /* the private nxd, or 0 */
	char nx_instance[64];      /* the instance name in use */
};

struct nxb_result {
	char transport[NXB_NAME_LEN]; /* "floor" */
	char mode[NXB_NAME_LEN];      /* "pingpong", "stream", "window" */
	uint32_t payload;             /* bytes per message */
	uint64_t ops;                 /* measured operations */
	double ops_per_s;             /* measured operations per second */
	uint64_t elapsed_ns;          /* time the measured operations took */
	bool by_duration;             /* stopped by the duration bound before ops */
	int client_cpu;               /* where the client side ran */
	int server_cpu;               /* where the serving side ran */
	char note[NXB_NOTE_LEN];      /* what a reader of the figures should know */
	/* Each round's own figures, in order, for ratios paired round by
	 * round (a drift between rounds then falls on both sides of each) */
	unsigned nrounds;
	double round_rate[NXB_ROUNDS_MAX];  /* ops/s */
	uint64_t round_p50[NXB_ROUNDS_MAX]; /* ns; 0 for one-way modes */
	struct nx_hist hist;          /* round trips in ns; empty for one-way modes */
};

typedef int (*nxb_run_fn)(const struct nxb_opts *o, struct nxb_result *r);

/* ---- the baselines (bench/baselines.c) ---- */

/** Two cache lines, the sequence number as the flag: the physical floor. */
int nxb_floor_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** The floor with an 8-byte header beside the payload: two lines each way at 64 bytes. */
int nxb_floorhdr_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** The floor's protocol over a ring each way, a window of W requests outstanding. */
int nxb_floor_window(const struct nxb_opts *o, struct nxb_result *r);
/** A bare ck SPSC ring each way, one message outstanding. */
int nxb_ck_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** A bare ck SPSC ring, one way, as fast as the client can enqueue. */
int nxb_ck_stream(const struct nxb_opts *o, struct nxb_result *r);
/** memcpy of one payload on one core, buffers hot: the copying limit. */
int nxb_memcpy_copy(const struct nxb_opts *o, struct nxb_result *r);
/** A UNIX SOCK_STREAM socket pair, blocking reads. */
int nxb_uds_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** Two futex words, both sides asleep between calls: the OS's wake-up floor. */
int nxb_futex_wakeup(const struct nxb_opts *o, struct nxb_result *r);

/* ---- the nexus transport (bench/nx_transport.c) ---- */

/** Start a private nxd pinned to o->server_cpu, unless o->instance names a running one. */
int nxb_nx_setup(struct nxb_opts *o);
void nxb_nx_teardown(const struct nxb_opts *o);
int nxb_nx_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** Round trips through the built-in noop3 pipeline: a seq of three no-op stages. */
int nxb_nxnc_pingpong(const struct nxb_opts *o, struct nxb_result *r);
int nxb_nxoff_pingpong(const struct nxb_opts *o, struct nxb_result *r);
int nxb_nxpol_pingpong(const struct nxb_opts *o, struct nxb_result *r);
int nxb_nxshed_window(const struct nxb_opts *o, struct nxb_result *r);
/** The policy transports' pipelines, for the private nxd's --config. */
extern const char nxb_policy_conf[];
int nxb_nx3_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** Round trips through echo while another thread swaps its stage o->swap_rate times a second. */
int nxb_nxswap_pingpong(const struct nxb_opts *o, struct nxb_result *r);
/** A window of o->window requests outstanding: throughput. */
int nxb_nx_window(const struct nxb_opts *o, struct nxb_result *r);
/** The same window, submitted with nx_submit_batch. */
int nxb_nxbatch_window(const struct nxb_opts *o, struct nxb_result *r);
/**
 * Spin-then-sleep: nxd's idle CPU use, then calls each made after an idle
 * gap long enough for worker and client to sleep: the wake-up round trip.
 */
int nxb_nxsleep_wakeup(const struct nxb_opts *o, struct nxb_result *r);

/* ---- helpers for transports (bench/baselines.c) ---- */

/** Empty r and name it; payload and CPUs from o. */
void nxb_result_init(struct nxb_result *r, const struct nxb_opts *o, const char *transport,
		     const char *mode);
/** Append to r->note ("; " between notes). */
void nxb_note(struct nxb_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Pin the calling thread to o->client_cpu and check it runs there. @return 0, NX_EINVAL, NX_EIO */
int nxb_pin_client(const struct nxb_opts *o, struct nxb_result *r);

/* ---- the measuring loop, shared by every pingpong ----
 *
 *	nxb_loop_begin(&l, o);
 *	do {
 *		one round trip;
 *	} while (nxb_loop_next(&l, &r->hist));
 *	return nxb_loop_end(&l, r);
 */
struct nxb_loop {
	uint64_t i;        /* operations done */
	uint64_t total;    /* warmup + ops */
	uint64_t warmup;
	uint64_t t_prev;   /* clock after the previous operation */
	uint64_t t_meas;   /* clock when the first measured operation began */
	uint64_t deadline; /* the duration bound */
	bool by_duration;
};

static inline void
nxb_loop_begin(struct nxb_loop *l, const struct nxb_opts *o)
{
	l->i = 0;
	l->total = o->warmup + o->ops;
	l->warmup = o->warmup;
	l->t_prev = nx__clock_ns();
	l->t_meas = l->t_prev;
	l->deadline = l->t_prev + o->duration_ns;
	l->by_duration = false;
}

/** The least power of two not below n (n <= 2^31): a window's send
 * times kept in that many entries are indexed by a mask, not a 64-bit
 * division, which would cost the client tens of cycles a request. */
static inline uint32_t
nxb_pow2(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/** After each operation: one clock read, recorded past the warmup. @return true to go on */
static inline bool
nxb_loop_next(struct nxb_loop *l, struct nx_hist *h)
{
	uint64_t t = nx__clock_ns();

	if (l->i >= l->warmup)
		nx__hist_record(h, t - l->t_prev);
	l->i++;
	if (l->i == l->warmup)
		l->t_meas = t;
	l->t_prev = t;
	if (CK_CC_UNLIKELY(t >= l->deadline)) {
		l->by_duration = l->i < l->total;
		return false;
	}
	return l->i < l->total;
}

/**
 * Fill r's ops, elapsed time and rate.
 * @return 0, or NX_ETIMEDOUT when the duration ran out in the warmup
 */
int nxb_loop_end(const struct nxb_loop *l, struct nxb_result *r);

/* ---- crash recovery (bench/restart.c) ---- */

/**
 * --restart: kill nxd with SIGKILL `kills` times under load, under a
 * private nxwd (path nxwd), and print kill-to-notice and kill-to-answer
 * percentiles. @return 0, or a negative NX_E* code
 */
int nxb_restart_run(const struct nxb_opts *o, unsigned kills, const char *nxwd);

/* ---- output (bench/nxbench.c) ---- */

/** What the machine's waiting and timing cost, measured on o->client_cpu
 *  (the caller stays pinned there): one line of the text report (machine.c). */
void nxb_print_machine(const struct nxb_opts *o);

/** The line saying where client and server are pinned, and the table's header. */
void nxb_print_header(const struct nxb_opts *o, bool json);
/** One result: a table row, or one JSON object on one line. */
void nxb_print(const struct nxb_result *r, bool json);
/** b's text (one or more JSON lines) to stdout, then b freed. */
void nxb_print_json(struct nx_buf *b);
/** The result of transport's mode among rs[0..n), or NULL. */
const struct nxb_result *nxb_find(const struct nxb_result *rs, unsigned n, const char *transport,
				  const char *mode);
/** After the table: each transport against ck, computed from the results. */
void nxb_print_footer(const struct nxb_result *rs, unsigned n, bool json);

#endif /* NX_BENCH_H */
