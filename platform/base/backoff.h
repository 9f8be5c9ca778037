/*
 * backoff.h - when to try again after a failure: exponential backoff with
 * full jitter, a reset after a stable period, and a crash-loop limit.
 *
 * A pure rule over an injected clock and random source, so that a test
 * drives it deterministically. nxwd uses it between restarts of nxd;
 * libnx's retries (shm/retry.c) use its jitter, nx__backoff_jitter.
 *
 *   failures   consecutive failures since the last stable period
 *   delay      0 for the first failure after a stable period (or at the
 *              start); then uniform in [0, ceiling] (full jitter), where
 *              ceiling = min(max_ns, min_ns * 2^(failures - 2))
 *   stable     healthy for stable_ns without a failure: failures reset
 *   loop       more than max_fails failures within window_ns: give up
 *
 * Not thread-safe: one owner.
 */
#ifndef NX_BASE_BACKOFF_H
#define NX_BASE_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define NX_BACKOFF_GIVE_UP UINT64_MAX
#define NX_BACKOFF_WINDOW_MAX 1024u /* max_fails at most this */

typedef uint64_t (*nx_backoff_clock_fn)(void *arg);  /* monotonic ns */
typedef uint64_t (*nx_backoff_random_fn)(void *arg); /* uniform 64-bit */

struct nx_backoff_conf {
	uint64_t min_ns;     /* the first backoff's ceiling */
	uint64_t max_ns;     /* no ceiling above this */
	uint64_t stable_ns;  /* healthy this long: failures reset */
	uint32_t max_fails;  /* more than this within window_ns: give up (0: never) */
	uint64_t window_ns;
};

struct nx_backoff {
	struct nx_backoff_conf conf;
	nx_backoff_clock_fn clock;
	nx_backoff_random_fn random;
	void *arg;
	uint32_t failures;        /* since the last stable period */
	bool healthy;             /* seen healthy since the last failure */
	uint64_t healthy_since;   /* when it was first seen so */
	uint32_t nrecent;         /* failure times in recent[] (a ring) */
	uint32_t recent_head;
	uint64_t recent[NX_BACKOFF_WINDOW_MAX];
};

/**
 * Exponential backoff with full jitter, the one computation of it: a
 * delay uniform in [0, min(max_ns, base_ns * 2^n)] (no overflow), drawn
 * from the uniform 64-bit value rnd as rnd % (ceiling + 1).
 */
uint64_t nx__backoff_jitter(uint64_t base_ns, uint64_t max_ns, uint32_t n, uint64_t rnd);

/**
 * Initialise b (caller memory). A max_ns below min_ns is raised to it;
 * max_fails is capped at NX_BACKOFF_WINDOW_MAX.
 * @return 0, or NX_EINVAL when b, conf, clock or random is NULL
 */
int nx__backoff_init(struct nx_backoff *b, const struct nx_backoff_conf *conf,
		     nx_backoff_clock_fn clock, nx_backoff_random_fn random, void *arg);

/** The supervised thing is up and healthy now (call as often as it is seen so). */
void nx__backoff_healthy(struct nx_backoff *b);

/** It is not healthy (or not up): the stable period starts over. */
void nx__backoff_unhealthy(struct nx_backoff *b);

/** True when it has been healthy for stable_ns (and failures were reset). */
bool nx__backoff_is_stable(struct nx_backoff *b);

/**
 * It failed now: how long to wait before trying again, in ns, or
 * NX_BACKOFF_GIVE_UP when this failure makes more than max_fails within
 * window_ns (a crash loop).
 */
uint64_t nx__backoff_failed(struct nx_backoff *b);

/** Failures counted within the window, this one included (after nx__backoff_failed). */
uint32_t nx__backoff_recent(const struct nx_backoff *b);

#endif /* NX_BASE_BACKOFF_H */
