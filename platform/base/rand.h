/*
 * rand.h - the one pseudo-random generator: the jitter of libnx's retries
 * and of nxwd's restarts, nxdemo's mix of requests. Not for secrets.
 *
 * xorshift64* (Vigna, "An experimental exploration of Marsaglia's
 * xorshift generators, scrambled", 2016): a xorshift64 step whose output
 * is multiplied, so that the low bits (what a modulo keeps) are as good
 * as the high ones, which plain xorshift's are not. One 64-bit word of
 * state per owner, no locking: each thread or object holds its own.
 *
 * Seed it from nx__random_seed() (platform/nx_platform.h), or from a
 * constant for a repeatable sequence.
 */
#ifndef NX_BASE_RAND_H
#define NX_BASE_RAND_H

#include <stdint.h>

struct nx_rand {
	uint64_t s; /* never 0 */
};

static inline void
nx__rand_seed(struct nx_rand *r, uint64_t seed)
{
	r->s = seed | 1; /* 0 is xorshift's fixed point */
}

/** The next uniform 64-bit value. */
static inline uint64_t
nx__rand_next(struct nx_rand *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(0x2545f4914f6cdd1d);
}

#endif /* NX_BASE_RAND_H */
