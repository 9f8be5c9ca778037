/* Backoff between restarts or retries (backoff.h). */
#include <string.h>

#include <nx/nx.h>

#include "platform/base/backoff.h"

uint64_t
nx__backoff_jitter(uint64_t base_ns, uint64_t max_ns, uint32_t n, uint64_t rnd)
{
	uint64_t ceiling = base_ns;
	uint32_t k;

	for (k = 0; k < n && ceiling < max_ns; k++)
		ceiling = ceiling > max_ns / 2 ? max_ns : ceiling * 2;
	if (ceiling > max_ns)
		ceiling = max_ns;
	/* full jitter: uniform in [0, ceiling] */
	return ceiling == UINT64_MAX ? rnd : rnd % (ceiling + 1);
}

int
nx__backoff_init(struct nx_backoff *b, const struct nx_backoff_conf *conf,
		 nx_backoff_clock_fn clock, nx_backoff_random_fn random, void *arg)
{
	if (b == NULL || conf == NULL || clock == NULL || random == NULL)
		return NX_EINVAL;
	memset(b, 0, sizeof *b);
	b->conf = *conf;
	if (b->conf.max_ns < b->conf.min_ns)
		b->conf.max_ns = b->conf.min_ns;
	if (b->conf.max_fails >= NX_BACKOFF_WINDOW_MAX)
		b->conf.max_fails = NX_BACKOFF_WINDOW_MAX - 1;
	b->clock = clock;
	b->random = random;
	b->arg = arg;
	return 0;
}

void
nx__backoff_healthy(struct nx_backoff *b)
{
	if (!b->healthy) {
		b->healthy = true;
		b->healthy_since = b->clock(b->arg);
	}
}

void
nx__backoff_unhealthy(struct nx_backoff *b)
{
	b->healthy = false;
}

bool
nx__backoff_is_stable(struct nx_backoff *b)
{
	if (!b->healthy || b->clock(b->arg) - b->healthy_since < b->conf.stable_ns)
		return false;
	b->failures = 0;
	return true;
}

/* Forget failures older than the window; @return those left. */
static uint32_t
window_trim(struct nx_backoff *b, uint64_t now)
{
	while (b->nrecent != 0) {
		uint32_t oldest = (b->recent_head + NX_BACKOFF_WINDOW_MAX - b->nrecent) %
				  NX_BACKOFF_WINDOW_MAX;

		if (now - b->recent[oldest] < b->conf.window_ns)
			break;
		b->nrecent--;
	}
	return b->nrecent;
}

uint64_t
nx__backoff_failed(struct nx_backoff *b)
{
	uint64_t now;

	(void)nx__backoff_is_stable(b); /* a stable run resets the count */
	now = b->clock(b->arg);
	b->healthy = false;
	if (b->failures != UINT32_MAX)
		b->failures++;

	/* the crash-loop window: the last max_fails + 1 failure times */
	window_trim(b, now);
	b->recent[b->recent_head] = now;
	b->recent_head = (b->recent_head + 1) % NX_BACKOFF_WINDOW_MAX;
	if (b->nrecent < b->conf.max_fails + 1)
		b->nrecent++;
	if (b->conf.max_fails != 0 && b->nrecent > b->conf.max_fails)
		return NX_BACKOFF_GIVE_UP;

	if (b->failures == 1)
		return 0; /* the first failure after a stable run: at once */
	if (b->conf.min_ns == 0)
		return 0; /* no backoff: and no draw from the dice */
	/* ceiling = min_ns * 2^(failures - 2), capped at max_ns */
	return nx__backoff_jitter(b->conf.min_ns, b->conf.max_ns, b->failures - 2,
				  b->random(b->arg));
}

uint32_t
nx__backoff_recent(const struct nx_backoff *b)
{
	return b->nrecent;
}
