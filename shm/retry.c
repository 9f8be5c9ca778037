/* The retry rule of nx_call_retry (retry.h). */
#include "platform/base/backoff.h"
#include "retry.h"

int
nx_err_retryable(int err, int idempotent)
{
	switch (err) {
	case NX_EAGAIN:     /* the ring or the window was full: never sent */
	case NX_ERATELIMIT: /* refused before it ran */
	case NX_EBREAKER:   /* refused before it ran */
		return 1;
	case NX_ERESTARTED: /* may have run before nxd died */
	case NX_ESTAGE:     /* ran and failed */
	case NX_EOVERBUDGET:
	case NX_ETIMEDOUT:  /* no answer yet: it may still run */
		return idempotent != 0;
	default:
		return 0;   /* a bad request, a fault, a deadline: again would be the same */
	}
}

uint64_t
nx__retry_next(const struct nx_retry *r, int status, uint32_t tried, uint64_t now, uint64_t rnd)
{
	const uint32_t attempts = r->attempts != 0 ? r->attempts : 3;
	const uint64_t base = r->base_ns != 0 ? r->base_ns : 50000;
	const uint64_t max = r->max_ns != 0 ? r->max_ns : 50000000;
	uint64_t delay;

	if (status == 0 || tried >= attempts ||
	    !nx_err_retryable(status, (r->flags & NX_REQ_IDEMPOTENT) != 0))
		return NX_RETRY_STOP;
	/* uniform in [0, base * 2^(tried - 1)], capped at max */
	delay = nx__backoff_jitter(base, max, tried > 0 ? tried - 1 : 0, rnd);
	if (r->deadline_ns != 0 && (now >= r->deadline_ns || delay >= r->deadline_ns - now))
		return NX_RETRY_STOP; /* it would start past the deadline */
	return delay;
}
