/*
 * retry.h - when and after how long libnx tries a request again
 * (nx_call_retry): a pure rule, apart from the client so that a test can
 * drive it with its own clock and dice.
 */
#ifndef NX_SHM_RETRY_H
#define NX_SHM_RETRY_H

#include <stdint.h>

#include <nx/nx.h>

#define NX_RETRY_STOP UINT64_MAX

/**
 * After `tried` attempts, the last ending in status at time now: how long
 * to wait before the next one, or NX_RETRY_STOP. rnd is a uniform random
 * number (the jitter). Defaults of r (zeros) apply.
 */
uint64_t nx__retry_next(const struct nx_retry *r, int status, uint32_t tried, uint64_t now,
			uint64_t rnd);

#endif /* NX_SHM_RETRY_H */
