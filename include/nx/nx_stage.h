/*
 * nx_stage.h - writing a nexus stage.
 *
 * A stage is a small C object: a name, a version, init / process / fini.
 * init and fini run on nxd's control thread and may allocate and block;
 * process runs on a worker, to completion, and must not block, allocate
 * or make a system call. Several workers may run one stage instance at
 * once: state written in process must be per-request (in ctx) or atomic.
 *
 * A pipeline is a static graph of stage slots: a sequence passes each
 * stage's output to the next; a branch asks a selector stage which child
 * to run; a fan-out runs its children on the same input and hands their
 * outputs to a merge stage; a split picks a child by weight (A/B), sticky
 * by client or by request; a round-robin takes turns. A slot's stage can
 * be swapped while requests flow (nxctl swap).
 *
 * A stage that needs a large read-only structure (an index, a model, a
 * table loaded from a file) builds or maps it in init and frees it in fini:
 *
 *   - init runs on the control thread: it may read files, allocate, take
 *     seconds. nxd runs every init and fini on that one thread, one at a
 *     time, so stage instances (slots, swaps, pipelines) that share one
 *     structure count their references with a plain integer: the first
 *     init builds it, each init takes a reference, each fini drops one.
 *   - Once built it is never written: workers read it from process without
 *     a lock, an atomic or a fence (init completes before nxd publishes the
 *     instance to any worker).
 *   - The last fini frees it. nxd calls fini only after a grace period in
 *     which every worker has finished any request that could see the
 *     instance (a swap, a reload, a stop): nothing still reads it.
 *   - process itself still allocates nothing and writes nothing shared
 *     (several workers may run it at once): its work space is on its
 *     stack, bounded, or in ctx.
 *
 *   static struct index *shared; static unsigned refs;
 *   static int ix_init(void **st, const struct nx_stage_conf *c)
 *   {
 *       if (refs == 0 && (shared = index_build(nx_stage_conf_get(c, "path", DEF))) == NULL)
 *           return NX_ENOMEM;
 *       refs++;
 *       *st = shared;
 *       return 0;
 *   }
 *   static void ix_fini(void *st) { if (--refs == 0) index_free(shared); }
 *
 * process returns 0 (output written), or NX_STAGE_PASS (the output is the
 * input, unchanged: nothing copied), or a negative NX_E* code. A selector
 * (the stage a branch asks) returns the index of the child to run.
 *
 *   static int up_process(void *st, struct nx_msg *m, struct nx_ctx *ctx)
 *   {
 *       if (m->in_len > m->out_cap)
 *           return NX_EOVERFLOW;
 *       for (uint32_t i = 0; i < m->in_len; i++)
 *           m->out[i] = (uint8_t)toupper(m->in[i]);
 *       m->out_len = m->in_len;
 *       return 0;
 *   }
 *   const struct nx_stage_ops upper_stage = {
 *       .abi = NX_STAGE_ABI, .name = "upper", .version = 1,
 *       .process = up_process,
 *   };
 */
#ifndef NX_NX_STAGE_H
#define NX_NX_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "nx.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this header's structures; a plugin built for another is refused.
 *  2: plugins carry a .nx_plugin section (NX_PLUGIN); in and out never overlap.
 *  3: struct nx_ctx carries backlog (the load behind a request). */
#define NX_STAGE_ABI 3

/**
 * The message a stage works on. What a stage may assume of its buffers:
 *
 * - in: in_len bytes, readable for the duration of process only. They
 *   may be a client's shared memory, which that client can rewrite while
 *   the stage runs: read each byte once (or copy what you read twice),
 *   and bound every length or index found inside before using it.
 * - out: out_cap bytes, writable for the duration of process only. They
 *   may be the requesting client's shared memory too, which it can read
 *   and rewrite meanwhile: treat out as write-only, never read back what
 *   you wrote to decide anything. Set out_len (at most out_cap; more is
 *   answered NX_EOVERFLOW). out_cap is 0 for a selector: write nothing.
 * - in and out never overlap: nxd gives each stage of a graph an output
 *   that is not its input (a pass-through stage's input included), and
 *   refuses a request whose input and output regions overlap.
 * - No pointer into either may be kept after process returns: nxd reuses
 *   both for the next request. No other stage or worker writes them while
 *   process runs; only the requesting client can.
 * - A merge stage's input is nxd's own memory (the fan-out's outputs).
 * - A slot with a cache (SLOT.degraded = cache) runs its stage on a
 *   private copy of the request, so that what is cached and answered to
 *   other clients is what the stage read and wrote.
 */
struct nx_msg {
	const uint8_t *in;
	uint32_t in_len;
	uint32_t out_cap;
	uint8_t *out;
	uint32_t out_len; /**< set by process: bytes written to out */
	uint32_t reserved;
};

/** process: the output is the input, unchanged (a filter that let it through). */
#define NX_STAGE_PASS 1

/**
 * The input a merge stage gets from a fan-out: each child's output in
 * child order, each preceded by its length (uint32_t, little-endian).
 * Walk it with nx_merge_next().
 */
struct nx_merge_iter {
	const uint8_t *p;
	const uint8_t *end;
};

/** Start walking a merge stage's input. */
static inline void
nx_merge_begin(struct nx_merge_iter *it, const struct nx_msg *m)
{
	it->p = m->in;
	it->end = m->in + m->in_len;
}

/** The next child's output. @return 1 and sets part/len, or 0 at the end */
static inline int
nx_merge_next(struct nx_merge_iter *it, const uint8_t **part, uint32_t *len)
{
	uint32_t n;

	if (it->end - it->p < 4)
		return 0;
	n = (uint32_t)it->p[0] | (uint32_t)it->p[1] << 8 | (uint32_t)it->p[2] << 16 |
	    (uint32_t)it->p[3] << 24;
	if ((uint64_t)(it->end - it->p - 4) < n)
		return 0;
	*part = it->p + 4;
	*len = n;
	it->p += 4 + n;
	return 1;
}

#define NX_CTX_META_MAX 8   /**< key/value pairs a request carries between stages */
#define NX_CTX_KEY_MAX 16   /**< key bytes, NUL included */
#define NX_CTX_VAL_MAX 32   /**< value bytes */
#define NX_CTX_ROUTE_MAX 16 /**< stages recorded per request */

struct nx_ctx_meta {
	char key[NX_CTX_KEY_MAX];
	uint32_t len;
	uint8_t val[NX_CTX_VAL_MAX];
};

/** Per-request context, owned by the worker, reset for every request. */
struct nx_ctx {
	uint64_t deadline_ns;   /**< absolute CLOCK_MONOTONIC, 0 = none */
	uint64_t start_ns;      /**< when the worker took the request (0 when not timed) */
	uint64_t seq;           /**< request's sequence number in its channel */
	uint64_t stage_version; /**< the running stage's version in its slot */
	uint32_t channel;       /**< channel id */
	/** Requests waiting behind this one in its channel, as the worker
	 *  last read (see below): the worker's load, for a selector that picks
	 *  a cheaper route when it is behind. */
	uint32_t backlog;
	uint32_t flags;         /**< NX_CTX_* */
	uint32_t nmeta;
	uint32_t nroute;
	struct nx_ctx_meta meta[NX_CTX_META_MAX];
	uint16_t route[NX_CTX_ROUTE_MAX];    /**< slots run, in order (health slot index) */
	uint32_t route_ns[NX_CTX_ROUTE_MAX]; /**< time spent in each, when timed */
};

/*
 * ctx->backlog, exactly: a worker takes a channel's requests in bursts
 * (up to 32), each one when its slot says it is there (the hand-off: the
 * worker does not read the channel's producer index to find work). The
 * index, which counts what is waiting, is read where a queue has shown:
 * at a burst's second request, and at the start of a burst after one that
 * took more than one. A request's backlog is the number of requests after
 * it up to the index as last read. So a lone request after a quiet spell
 * sees 0 (in ping-pong the index costs no line), a burst's first request
 * after a quiet spell sees 0 even when more came with it, and from then on
 * it is exact for the load that was waiting when the index was read and a
 * lower bound for the load when the request is taken: what arrived later
 * is not counted, and a request that arrived later has backlog 0. It
 * counts one channel, not the worker's other channels, and since a client
 * writes its own producer index it is that client's word: it can only
 * mislead its own requests (bounded to twice the ring).
 */

#define NX_CTX_IDEMPOTENT 0x1u /**< the client may send it again */
#define NX_CTX_FALLBACK 0x2u   /**< a split fell back to its first child */
#define NX_CTX_TIMED 0x4u      /**< route_ns holds this request's stage times */
#define NX_CTX_DEGRADED 0x8u   /**< a slot answered with its degraded strategy */

/**
 * Set a metadata value for later stages (replaces an existing key).
 * @return 0, NX_EINVAL (key too long), NX_E2BIG (value too long),
 *   NX_ENOSPC (NX_CTX_META_MAX pairs already)
 */
int nx_ctx_set(struct nx_ctx *ctx, const char *key, const void *val, uint32_t len);
/** Find a metadata value. @return 0 or NX_ENOENT */
int nx_ctx_get(const struct nx_ctx *ctx, const char *key, const void **val, uint32_t *len);

/** Key/value parameters from the configuration, for init. */
struct nx_stage_conf {
	unsigned n;
	const char *const *keys;
	const char *const *vals;
};

/** A parameter's value, or def when absent. */
const char *nx_stage_conf_get(const struct nx_stage_conf *conf, const char *key,
			      const char *def);

typedef int (*nx_stage_init_fn)(void **state, const struct nx_stage_conf *conf);
typedef int (*nx_stage_process_fn)(void *state, struct nx_msg *msg, struct nx_ctx *ctx);
typedef void (*nx_stage_fini_fn)(void *state);
typedef int (*nx_stage_selftest_fn)(void *state);

/** A stage: everything nxd needs to know about it. */
struct nx_stage_ops {
	uint32_t abi;            /**< NX_STAGE_ABI */
	uint32_t version;        /**< the stage's own version */
	const char *name;        /**< short, [a-z0-9_-] */
	const char *description; /**< one line, for nxctl list */
	/** Build the state from parameters (control thread). Optional. @return 0 or NX_E* */
	nx_stage_init_fn init;
	/** Run on one message (worker). @return 0, or a negative NX_E* code */
	nx_stage_process_fn process;
	/** Free the state (control thread, after no worker can see it). Optional. */
	nx_stage_fini_fn fini;
	/** Check a freshly initialised state before it goes live (control
	 *  thread). Optional. @return 0, or a negative NX_E* code to refuse */
	nx_stage_selftest_fn selftest;
	/** When not 0: nxd hands init a zeroed state of this many bytes in
	 *  *state, from storage reserved at start-up (up to its stage_state
	 *  setting); init fills it in place instead of allocating. */
	uint32_t state_bytes;
	uint32_t reserved[3];
};

/**
 * What a plugin exports: one symbol, `nx_plugin`, of this type.
 *
 *   NX_PLUGIN("mystages", &upper_stage, &lower_stage);
 *
 * nxd refuses a plugin without its section and symbol or built for
 * another NX_STAGE_ABI, and refuses a stage whose init fails; nothing
 * changes. The file must be owned by root or nxd's uid and writable by
 * no one else, in a directory that is the same (README: plugins).
 * Build: cc -shared -fPIC -I<prefix>/include mystages.c -o mystages.so
 */
struct nx_plugin {
	uint32_t abi;                            /**< NX_STAGE_ABI */
	uint32_t nstages;
	const char *name;
	const struct nx_stage_ops *const *stages;
};

#define NX_PLUGIN_SYMBOL "nx_plugin"

/**
 * What a plugin must prove before anything of it is loaded: nxd reads
 * this section from the file (it runs none of its code) and refuses a
 * file without it, or with another NX_STAGE_ABI. NX_PLUGIN puts it there.
 */
#define NX_PLUGIN_SECTION ".nx_plugin"
#define NX_PLUGIN_MAGIC "NXPLUGIN" /**< the first 8 bytes, without a NUL */

struct nx_plugin_mark {
	char magic[8];     /**< NX_PLUGIN_MAGIC */
	uint32_t abi;      /**< NX_STAGE_ABI */
	uint32_t reserved; /**< 0 */
};

#define NX_PLUGIN_MARK(abi_)                                                   \
	__attribute__((used, section(NX_PLUGIN_SECTION), aligned(8)))          \
	static const struct nx_plugin_mark nx__plugin_mark = {                 \
		{ 'N', 'X', 'P', 'L', 'U', 'G', 'I', 'N' }, (abi_), 0          \
	}

#define NX_PLUGIN(pname, ...)                                                  \
	NX_PLUGIN_MARK(NX_STAGE_ABI);                                          \
	static const struct nx_stage_ops *const nx__plugin_stages[] = { __VA_ARGS__ }; \
	const struct nx_plugin nx_plugin = {                                   \
		NX_STAGE_ABI,                                                  \
		sizeof nx__plugin_stages / sizeof nx__plugin_stages[0],        \
		(pname),                                                       \
		nx__plugin_stages,                                             \
	}

#ifdef __cplusplus
}
#endif

#endif /* NX_NX_STAGE_H */
