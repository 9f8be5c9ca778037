/*
 * breaker.c - the circuit breaker's state machine (see breaker.h): the
 * data path, run by a worker per call. Its configuration is breaker_conf.c.
 *
 * Cost per call: nx__brk_allow is a few compares; nx__brk_record adds one
 * outcome to running totals and takes one out (the slot it overwrites,
 * or the seconds that have just left a time window), so neither rescans
 * the ring. A time window's second is found with one multiply while the
 * call falls in the newest bucket; a division only when it starts a new
 * one. Walking over elapsed seconds stops at `window` buckets, so a long
 * idle gap costs no more than clearing the window once.
 *
 * The window: b->calls, b->failures and b->slow are the sums over
 * ring[0, window). COUNT: one call per slot, b->head is the next slot to
 * overwrite. TIME: one second per bucket, b->head is the bucket of the
 * newest second seen (ring[head].epoch); the buckets after it, wrapping,
 * hold the older seconds. A call whose time is older than the newest
 * second (time went backwards) is counted in the newest bucket.
 *
 * The conf must stay the same while a breaker uses it: changing the
 * window needs nx__brk_init (or nx__brk_force(b, NX_BRK_FORCE_AUTO, now)).
 */
#include <string.h>

#include "core/datapath/breaker.h"

void
nx__brk_init(struct nx_breaker *b)
{
	memset(b, 0, sizeof *b);
	b->state = NX_BRK_CLOSED;
	b->forced = NX_BRK_FORCE_AUTO;
}

static void
window_clear(struct nx_breaker *b)
{
	b->calls = 0;
	b->failures = 0;
	b->slow = 0;
	b->head = 0;
	memset(b->ring, 0, sizeof b->ring);
}

/* rate >= pct, both in percent, without division */
static bool
rate_reached(uint32_t n, uint32_t calls, uint32_t pct)
{
	return (uint64_t)n * 100 >= (uint64_t)pct * calls;
}

static bool
over_threshold(const struct nx_brk_conf *c, uint32_t calls, uint32_t failures, uint32_t slow)
{
	return rate_reached(failures, calls, c->failure_pct) ||
	       (c->slow_pct != 0 && rate_reached(slow, calls, c->slow_pct));
}

static void
to_open(struct nx_breaker *b, uint64_t now)
{
	b->state = NX_BRK_OPEN;
	b->opened_at = now;
	b->opened++;
}

static void
to_half_open(struct nx_breaker *b)
{
	b->state = NX_BRK_HALF_OPEN;
	b->ho_permitted = 0;
	b->ho_calls = 0;
	b->ho_failures = 0;
	b->ho_slow = 0;
	b->half_opened++;
}

static void
to_closed(struct nx_breaker *b)
{
	b->state = NX_BRK_CLOSED;
	window_clear(b);
	b->closed++;
}

bool
nx__brk_allow(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now)
{
	switch (b->state) {
	case NX_BRK_CLOSED:
		return true;
	case NX_BRK_OPEN:
		/* now < opened_at: time went backwards, the wait has not passed */
		if (b->forced == NX_BRK_FORCE_AUTO && now >= b->opened_at &&
		    now - b->opened_at >= c->wait_open_ns) {
			to_half_open(b);
			b->ho_permitted = 1;
			return true;
		}
		break;
	case NX_BRK_HALF_OPEN:
		if (b->ho_permitted < c->half_open_calls) {
			b->ho_permitted++;
			return true;
		}
		break;
	}
	b->rejected++;
	return false;
}

/* TIME: move the newest bucket on to second `epoch` (> the newest one). */
static void
window_advance(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t epoch)
{
	uint64_t newest = b->ring[b->head].epoch;
	uint64_t n = epoch - newest;

	if (n >= c->window) {
		window_clear(b);
		b->ring[0].epoch = epoch;
		return;
	}
	while (n-- > 0) {
		struct nx_brk_bucket *k;

		if (++b->head >= c->window)
			b->head = 0;
		k = &b->ring[b->head];
		b->calls -= k->calls;
		b->failures -= k->failures;
		b->slow -= k->slow;
		k->calls = 0;
		k->failures = 0;
		k->slow = 0;
		k->epoch = ++newest;
	}
}

/* The bucket this call goes into, after expiring what left the window. */
static struct nx_brk_bucket *
window_slot(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now)
{
	struct nx_brk_bucket *k;
	uint64_t start;

	if (c->kind == NX_BRK_COUNT) {
		k = &b->ring[b->head];
		if (++b->head >= c->window)
			b->head = 0;
		b->calls -= k->calls;
		b->failures -= k->failures;
		b->slow -= k->slow;
		k->calls = 0;
		k->failures = 0;
		k->slow = 0;
		return k;
	}
	k = &b->ring[b->head];
	if (b->calls == 0) {
		/* empty: every bucket is zero, the newest one simply becomes now's */
		k->epoch = now / c->second;
		return k;
	}
	start = k->epoch * c->second;
	if (now >= start && now - start >= c->second) {
		window_advance(b, c, now / c->second);
		k = &b->ring[b->head];
	}
	return k;
}

void
nx__brk_record(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now, bool failed,
	      uint64_t duration)
{
	uint32_t f = failed ? 1 : 0;
	uint32_t s = duration > c->slow_ns ? 1 : 0;
	struct nx_brk_bucket *k;

	if (b->forced != NX_BRK_FORCE_AUTO)
		return;
	if (b->state == NX_BRK_CLOSED) {
		k = window_slot(b, c, now);
		k->calls++;
		k->failures += f;
		k->slow += s;
		b->calls++;
		b->failures += f;
		b->slow += s;
		if (b->calls >= c->min_calls && over_threshold(c, b->calls, b->failures, b->slow))
			to_open(b, now);
		return;
	}
	/* HALF_OPEN: only the calls it let through; OPEN: nothing ran */
	if (b->state != NX_BRK_HALF_OPEN || b->ho_calls >= b->ho_permitted)
		return;
	b->ho_calls++;
	b->ho_failures += f;
	b->ho_slow += s;
	if (b->ho_calls < c->half_open_calls)
		return;
	if (over_threshold(c, b->ho_calls, b->ho_failures, b->ho_slow))
		to_open(b, now);
	else
		to_closed(b);
}

void
nx__brk_force(struct nx_breaker *b, uint32_t force, uint64_t now)
{
	switch (force) {
	case NX_BRK_FORCE_OPEN:
		if (b->state != NX_BRK_OPEN)
			to_open(b, now);
		break;
	case NX_BRK_FORCE_CLOSED:
	case NX_BRK_FORCE_AUTO:
		if (b->state != NX_BRK_CLOSED)
			to_closed(b);
		else
			window_clear(b);
		break;
	default:
		return; /* not an order: nothing changes */
	}
	b->forced = force;
}
