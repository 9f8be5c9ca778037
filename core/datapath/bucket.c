/*
 * bucket.c - the token bucket's control path (see bucket.h); take is
 * inline in the header.
 */
#include "core/datapath/bucket.h"

void
nx__bkt_init(struct nx_bucket *b, uint64_t rate, uint64_t burst, uint64_t second, uint64_t now)
{
	if (rate > NX_BKT_MAX)
		rate = NX_BKT_MAX;
	if (burst > NX_BKT_MAX)
		burst = NX_BKT_MAX;
	if (burst == 0 && rate != 0)
		burst = 1;
	b->rate = rate;
	b->burst = burst;
	b->second = second != 0 ? second : 1;
	b->tokens = burst * NX_BKT_SCALE;
	b->last = now;
	b->limited = 0;
	b->rem = 0;
}

uint64_t
nx__bkt_available(const struct nx_bucket *b, uint64_t now)
{
	struct nx_bucket t = *b;

	if (t.rate == 0)
		return UINT64_MAX;
	if (now > t.last)
		nx__bkt_refill(&t, now);
	return t.tokens / NX_BKT_SCALE;
}
