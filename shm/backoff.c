/* Backoff between restarts or retries (backoff.h). */
#include <string.h>

#include <nx/nx.h>

#include "backoff.h"

int
nx_backoff_init(struct nx_backoff *b, const struct nx_backoff_conf *conf,
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
nx_backoff_healthy(struct nx_backoff *b)
{
	if (!b->healthy) {
		b->healthy = true;
		b->healthy_since = b->clock(b->arg);
	}
}

void
nx_backoff_unhealthy(struct nx_backoff *b)
{
	b->healthy = false;
}

bool
nx_backoff_is_stable(struct nx_backoff *b)
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
nx_backoff_failed(struct nx_backoff *b)
{
	uint64_t now, ceiling;
	uint32_t k;

	(void)nx_backoff_is_stable(b); /* a stable run resets the count */
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
	/* ceiling = min_ns * 2^(failures - 2), capped at max_ns, without overflow */
	ceiling = b->conf.min_ns;
	for (k = 2; k < b->failures && ceiling < b->conf.max_ns; k++)
		ceiling = ceiling > b->conf.max_ns / 2 ? b->conf.max_ns : ceiling * 2;
	if (ceiling > b->conf.max_ns)
		ceiling = b->conf.max_ns;
	if (ceiling == 0)
		return 0;
	/* full jitter: uniform in [0, ceiling] */
	return ceiling == UINT64_MAX ? b->random(b->arg) : b->random(b->arg) % (ceiling + 1);
}

uint32_t
nx_backoff_recent(const struct nx_backoff *b)
{
	return b->nrecent;
}
