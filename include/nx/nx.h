/*
 * nx.h - the nexus client library (libnx).
 *
 * A client attaches to a running nxd instance by name and gets its own
 * channel: a request ring, a response ring and a payload arena in shared
 * memory. Requests are answered in the order they were submitted. Every
 * submitted request gets exactly one completion: an answer or an error.
 *
 *   struct nx_client *c;
 *   int rc = nx_open(&c, "demo", NULL);
 *   if (rc < 0) { fprintf(stderr, "%s\n", nx_errmsg()); ... }
 *   int echo = nx_pipeline_id(c, "echo");
 *   uint32_t out_len;
 *   rc = nx_call(c, echo, "hi", 2, buf, sizeof buf, &out_len, 1000000);
 *   nx_close(c);
 *
 * Threads: a struct nx_client belongs to one thread at a time (it is one
 * SPSC channel). Open one client per thread.
 */
#ifndef NX_NX_H
#define NX_NX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Version of libnx's binary interface: this header's functions and types
 * as a program built against it sees them. It is the major number of the
 * library's soname (libnx.so.1), bumped when a change here breaks
 * programs built against an older header. What libnx and nxd agree on
 * between themselves (the shared-memory layouts, the control protocol)
 * has versions of its own, checked at attach: a new nxd may keep
 * libnx.so.1 working.
 */
#define NX_ABI_VERSION 1

/* What libnx.so exports: the functions below, nothing else (it is built
 * with hidden visibility and a version script). */
#if defined(__GNUC__)
#define NX_API __attribute__((visibility("default")))
#else
#define NX_API
#endif

/** Largest payload carried inside a 64-byte descriptor. */
#define NX_INLINE_MAX 56

/*
 * Error codes: negative, small enough for the 16-bit status field of a
 * response descriptor. XX(name, value, message).
 */
#define NX_ERRNO_MAP(XX)                                                        \
	XX(EINVAL, -1, "invalid argument")                                     \
	XX(ENOMEM, -2, "out of memory")                                        \
	XX(EAGAIN, -3, "would block: ring full or window exhausted")           \
	XX(ETIMEDOUT, -4, "timed out")                                         \
	XX(ENOINST, -5, "instance not running")                                \
	XX(EABI, -6, "ABI version mismatch")                                   \
	XX(EPERM, -7, "permission denied")                                     \
	XX(EBUSY, -8, "instance already served by another nxd")                \
	XX(ENOPIPE, -9, "unknown pipeline")                                    \
	XX(EBADDESC, -10, "malformed request descriptor")                      \
	XX(E2BIG, -11, "payload too large")                                    \
	XX(ERESTARTED, -12, "nxd restarted before answering")                  \
	XX(ECLOSED, -13, "client closed")                                      \
	XX(EPROTO, -14, "protocol error")                                      \
	XX(EIO, -15, "system error")                                           \
	XX(ENOSPC, -16, "no room: too many channels")                          \
	XX(EOVERFLOW, -17, "answer larger than the output buffer")             \
	XX(ESTAGE, -18, "stage failed")                                        \
	XX(EEXPIRED, -19, "deadline expired")                                  \
	XX(ERATELIMIT, -20, "rate limited")                                    \
	XX(EBREAKER, -21, "circuit breaker open")                              \
	XX(EFAULT, -22, "stage faulted")                                       \
	XX(ENOENT, -23, "no such object")                                      \
	XX(ESHUTDOWN, -24, "nxd is shutting down")                             \
	XX(EQUARANTINE, -25, "stage quarantined after a fault")                \
	XX(EOVERBUDGET, -26, "stage overran its time budget")                  \
	XX(EQUOTA, -27, "over a quota: too many channels or connections of this uid or process")

enum nx_errno {
#define NX__ERR_ENUM(name, val, msg) NX_##name = (val),
	NX_ERRNO_MAP(NX__ERR_ENUM)
#undef NX__ERR_ENUM
	NX_ERRNO_MIN = -27
};

/**
 * Describe an error code.
 * @param err  a negative NX_E* code (or 0)
 * @return a static string; "unknown error" for codes nx does not define
 */
NX_API const char *nx_strerror(int err);

/**
 * The name of an error code ("EAGAIN"), or "UNKNOWN".
 */
NX_API const char *nx_err_name(int err);

/**
 * The detailed message of the last failed slow-path call on this thread
 * (nx_open, nx_close, nx_pipeline_id): what failed and why, with context.
 * Hot-path calls (nx_submit, nx_poll) never set it.
 */
NX_API const char *nx_errmsg(void);

/** How a client waits for answers. */
enum nx_wait {
	NX_WAIT_SPIN = 0,  /**< busy-poll: no system call per request */
	NX_WAIT_SLEEP = 1, /**< spin briefly, then sleep on a futex until woken */
};

/** Options for nx_open; zero-initialise and set what you need. */
struct nx_open_opts {
	uint32_t abi_version; /**< the NX_ABI_VERSION the caller was built for (0 = this
				   header's); another is refused with NX_EABI */
	uint32_t wait;        /**< enum nx_wait */
	uint32_t spin_ns;     /**< NX_WAIT_SLEEP: spin this long first (0 = 20 us) */
	uint32_t timeout_ms;  /**< how long nx_open waits for nxd's reply (0 = 5000) */
	uint32_t reserved[4];
};

struct nx_client;

/**
 * Attach to a running instance and create this thread's channel.
 * @param out       receives the client on success
 * @param instance  the instance name nxd was started with
 * @param opts      options, or NULL for the defaults
 * @return 0, or NX_EINVAL (bad name or options), NX_ENOINST (no nxd serves
 *   the instance), NX_EABI (the instance runs another ABI version),
 *   NX_EPERM (nxd refused our uid), NX_ENOSPC (nxd has no free channel),
 *   NX_EPROTO (unexpected reply), NX_ENOMEM, NX_EIO. nx_errmsg() says more.
 */
NX_API int nx_open(struct nx_client **out, const char *instance, const struct nx_open_opts *opts);

/**
 * Detach and free the client. Requests still outstanding are abandoned:
 * nxd answers them into a channel nobody reads, then reclaims it.
 * @return 0, or NX_EINVAL for NULL
 */
NX_API int nx_close(struct nx_client *c);

/**
 * Look up a pipeline id by name, in the instance's published directory
 * (shared memory, no system call).
 * @return the id (>= 0), NX_ENOPIPE, or NX_EINVAL
 */
NX_API int nx_pipeline_id(struct nx_client *c, const char *name);

/** Request flags. */
#define NX_REQ_IDEMPOTENT 0x1u /**< may run again after a restart of nxd */

/** One request for nx_submit. */
struct nx_req {
	const void *in;       /**< input payload */
	void *out;            /**< where the answer is copied on completion */
	uint32_t in_len;      /**< input length in bytes */
	uint32_t out_cap;     /**< capacity of out in bytes */
	uint64_t deadline_ns; /**< absolute, nx_now_ns() clock; 0 = none */
	uint64_t user_data;   /**< handed back in the completion */
	uint16_t pipeline;    /**< from nx_pipeline_id */
	uint16_t flags;       /**< NX_REQ_* */
	uint32_t reserved;
};

/** Completion flags. */
#define NX_COMP_DEGRADED 0x1u /**< answered by a degraded strategy */

/** One completion from nx_poll. */
struct nx_completion {
	uint64_t user_data; /**< from the request */
	int32_t status;     /**< 0, or a negative NX_E* code */
	uint32_t out_len;   /**< bytes copied to the request's out */
	uint32_t flags;     /**< NX_COMP_* */
	uint32_t reserved;
};

/**
 * Submit one request without waiting. In busy-poll mode this makes no
 * system call. The input is copied; req->out must stay valid until the
 * completion is polled.
 * @return 0, NX_EAGAIN (ring full or the window of outstanding requests
 *   is exhausted: poll first), NX_E2BIG (in_len or out_cap exceeds the
 *   channel's arena limit), NX_EINVAL, NX_ECLOSED
 */
NX_API int nx_submit(struct nx_client *c, const struct nx_req *req);

/**
 * Submit up to n requests in order; stops at the first that cannot go.
 * @param submitted  receives how many were submitted
 * @return 0 when all went, else the error that stopped the batch
 */
NX_API int nx_submit_batch(struct nx_client *c, const struct nx_req *reqs, unsigned n,
			   unsigned *submitted);

/**
 * Take up to max completions that are ready, in submission order.
 * Never blocks. @return the number taken (>= 0), or NX_EINVAL
 */
NX_API int nx_poll(struct nx_client *c, struct nx_completion *comps, unsigned max);

/**
 * Wait until at least one completion is ready (spinning or sleeping per
 * the client's wait mode), then take up to max.
 * @param timeout_ns  relative; 0 = do not wait
 * @return the number taken (> 0), NX_ETIMEDOUT, or NX_EINVAL
 */
NX_API int nx_wait(struct nx_client *c, struct nx_completion *comps, unsigned max,
		   uint64_t timeout_ns);

/**
 * Submit one request and wait for its answer. While requests of nx_submit
 * are outstanding it is refused (NX_EINVAL): poll them first. The answer
 * of an earlier nx_call that timed out is discarded when it arrives.
 * @param out_len     receives the answer's length
 * @param timeout_ns  relative; the request stays outstanding on timeout
 *   and its completion is discarded when it arrives. The first looks at
 *   the answer read no clock, so a timeout may run up to tens of
 *   microseconds long; 0 = look once, do not wait
 * @return 0, a negative error from the answer (NX_ENOPIPE, NX_EBADDESC,
 *   NX_ERESTARTED, NX_EOVERFLOW, ...), NX_ETIMEDOUT, or a submit error
 */
NX_API int nx_call(struct nx_client *c, uint16_t pipeline, const void *in, uint32_t in_len,
		   void *out, uint32_t out_cap, uint32_t *out_len, uint64_t timeout_ns);

/** Retries for nx_call_retry: opt-in, per call. */
struct nx_retry {
	uint32_t attempts;    /**< tries in all (0 = 3) */
	uint32_t flags;       /**< NX_REQ_IDEMPOTENT: it may run twice, so errors after
				   it may have run are retried too */
	uint64_t base_ns;     /**< the first backoff's ceiling (0 = 50 us) */
	uint64_t max_ns;      /**< no backoff's ceiling above this (0 = 50 ms) */
	uint64_t deadline_ns; /**< absolute, nx_now_ns() clock: every attempt's deadline,
				   and no attempt starts after it; 0 = none */
	uint64_t timeout_ns;  /**< how long one attempt waits for its answer (0 = 1 s) */
	uint32_t tried;       /**< out: attempts made */
	int32_t first_error;  /**< out: the first attempt's error, 0 if it answered */
};

/**
 * True when err may go away by itself: nxd did not run the request
 * (NX_EAGAIN, NX_ERATELIMIT, NX_EBREAKER), or it may have run and failed
 * for a passing reason (NX_ERESTARTED, NX_ESTAGE, NX_EOVERBUDGET,
 * NX_ETIMEDOUT). Only the first kind is safe to retry for a request that
 * is not idempotent: with idempotent false, this says true for it alone.
 */
NX_API int nx_err_retryable(int err, int idempotent);

/**
 * nx_call with retries: an error nx_err_retryable() accepts is tried
 * again after an exponential backoff with full jitter (a random wait
 * between 0 and min(max_ns, base_ns * 2^n)), at most `attempts` times in
 * all and never past the deadline. A request not marked idempotent is
 * never sent again once it may have run. Waiting between attempts sleeps
 * (a system call): retries are for the unhappy path.
 * @return 0, or the last attempt's error
 */
NX_API int nx_call_retry(struct nx_client *c, uint16_t pipeline, const void *in, uint32_t in_len,
			 void *out, uint32_t out_cap, uint32_t *out_len, struct nx_retry *retry);

/** Requests submitted and not yet polled. */
NX_API unsigned nx_outstanding(const struct nx_client *c);

/** How many requests may be outstanding at once on this channel. */
NX_API unsigned nx_capacity(const struct nx_client *c);

/** Largest payload (in or out) this channel accepts. */
NX_API uint32_t nx_max_payload(const struct nx_client *c);

/** The clock deadlines are measured on (CLOCK_MONOTONIC), in ns. */
NX_API uint64_t nx_now_ns(void);

/** The generation of nxd this client is attached to (bumps on restart). */
NX_API uint64_t nx_generation(const struct nx_client *c);

#ifdef __cplusplus
}
#endif

#endif /* NX_NX_H */
