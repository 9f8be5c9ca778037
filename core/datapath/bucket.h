/*
 * bucket.h - a token bucket: `rate` tokens a second, at most `burst`
 * saved up. A request takes one token or is refused.
 *
 * Integer arithmetic only, in the caller's time unit (the worker: TSC
 * ticks; tests: anything): tokens are kept in units of 1/NX_BKT_SCALE so
 * that slow rates refill smoothly, and refill is computed from the time
 * since the last refill, so no timer runs. One writer (the worker that
 * serves the channel); no allocation, no system call.
 *
 * Refill is exact: `rem` keeps what a refill left over below one unit
 * (as unit-ticks, < second), so however often take is called the bucket
 * holds floor((now - t0) * rate * NX_BKT_SCALE / second) units since it
 * was last empty or full, and the k-th token after an empty instant t0
 * comes at the first tick >= t0 + k * second / rate. A full bucket drops
 * the excess (and the remainder). The fill test compares 128-bit products
 * (elapsed * rate * NX_BKT_SCALE against the room left * second), so it
 * cannot overflow however long the bucket idled; past it the quotient is
 * below the room left and fits 64 bits.
 */
#ifndef NX_CORE_BUCKET_H
#define NX_CORE_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#define NX_BKT_SCALE 1024u /* fractions of a token */

struct nx_bucket {
	uint64_t rate;     /* tokens per second; 0 = unlimited */
	uint64_t burst;    /* bucket size in tokens (>= 1 when rate != 0) */
	uint64_t second;   /* one second in the caller's time unit */
	uint64_t tokens;   /* in 1/NX_BKT_SCALE tokens */
	uint64_t last;     /* time of the last refill */
	uint64_t limited;  /* requests refused so far */
	uint64_t rem;      /* refill not yet a whole 1/NX_BKT_SCALE, in 1/second of one */
};

#define NX_BKT_MAX (UINT64_MAX / NX_BKT_SCALE) /* rate and burst are capped here */

/**
 * Set rate and burst (a full bucket), at time now, and clear `limited`.
 * rate 0 lifts the limit. A burst of 0 with a rate means a burst of 1.
 * rate and burst above NX_BKT_MAX count as NX_BKT_MAX; a second of 0
 * as 1.
 */
void nx__bkt_init(struct nx_bucket *b, uint64_t rate, uint64_t burst, uint64_t second,
		 uint64_t now);

/* Add what the time since b->last brought (now > b->last; rate != 0). */
static inline void
nx__bkt_refill(struct nx_bucket *b, uint64_t now)
{
	uint64_t room = b->burst * NX_BKT_SCALE - b->tokens;
	unsigned __int128 got = (unsigned __int128)(now - b->last) * (b->rate * NX_BKT_SCALE) +
				b->rem;

	b->last = now;
	if (got >= (unsigned __int128)room * b->second) {
		b->tokens += room;
		b->rem = 0;
	} else if ((uint64_t)(got >> 64) == 0) {
		b->tokens += (uint64_t)got / b->second;
		b->rem = (uint64_t)got % b->second;
	} else {
		b->tokens += (uint64_t)(got / b->second);
		b->rem = (uint64_t)(got % b->second);
	}
}

/**
 * Take one token at time now. @return true when there was one; false
 * (and `limited` counted) when the request must be refused. Time going
 * backwards refills nothing.
 */
static inline bool
nx__bkt_take(struct nx_bucket *b, uint64_t now)
{
	if (b->rate == 0)
		return true;
	if (now > b->last)
		nx__bkt_refill(b, now);
	if (b->tokens >= NX_BKT_SCALE) {
		b->tokens -= NX_BKT_SCALE;
		return true;
	}
	b->limited++;
	return false;
}

/**
 * Whole tokens available at time now (for reports), without taking any.
 * @return the count; UINT64_MAX when the bucket is unlimited (rate 0)
 */
uint64_t nx__bkt_available(const struct nx_bucket *b, uint64_t now);

#endif /* NX_CORE_BUCKET_H */
