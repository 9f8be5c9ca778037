/*
 * nx_stage.h - writing a nexus stage.
 *
 * A stage is a small C object: a name, a version, init / process / fini.
 * init and fini run on nxd's control thread and may allocate and block;
 * process runs on a worker, to completion, and must not block, allocate
 * or make a system call. A pipeline runs its stages in a static graph;
 * the output of one is the input of the next.
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

/** Version of this header's structures; a plugin built for another is refused. */
#define NX_STAGE_ABI 1

/**
 * The message a stage works on. in may point into a client's shared
 * memory: a misbehaving client can change it while the stage runs, so
 * read each byte once and never trust a length found inside it without a
 * bound check. out is nxd's or the client's output buffer of out_cap bytes.
 */
struct nx_msg {
	const uint8_t *in;
	uint32_t in_len;
	uint32_t out_cap;
	uint8_t *out;
	uint32_t out_len; /**< set by process: bytes written to out */
	uint32_t reserved;
};

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
	uint64_t deadline_ns; /**< absolute CLOCK_MONOTONIC, 0 = none */
	uint64_t start_ns;    /**< when the worker took the request */
	uint64_t seq;         /**< request's sequence number in its channel */
	uint32_t channel;     /**< channel id */
	uint32_t flags;       /**< NX_CTX_* */
	uint32_t nmeta;
	uint32_t nroute;
	struct nx_ctx_meta meta[NX_CTX_META_MAX];
	uint16_t route[NX_CTX_ROUTE_MAX];    /**< slot indices, in the order run */
	uint32_t route_ns[NX_CTX_ROUTE_MAX]; /**< time spent in each (when timed) */
};

#define NX_CTX_IDEMPOTENT 0x1u

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
};

#ifdef __cplusplus
}
#endif

#endif /* NX_NX_STAGE_H */
