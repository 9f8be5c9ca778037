/*
 * breaker_conf.c - the circuit breaker's configuration on the control
 * path: defaults, checks with their messages, state names for output.
 * The state machine a worker runs is breaker.c.
 */
#include <string.h>

#include "core/datapath/breaker.h"
#include "platform/nx_platform.h"

void
nx__brk_conf_default(struct nx_brk_conf *c, uint64_t second)
{
	memset(c, 0, sizeof *c);
	c->kind = NX_BRK_COUNT;
	c->window = 100;
	c->min_calls = 100;
	c->failure_pct = 50;
	c->slow_pct = 0;
	c->half_open_calls = 10;
	c->second = second;
	c->slow_ns = 60 * second;
	c->wait_open_ns = 60 * second;
}

static int
out_of_range(const char *field, uint64_t v, uint64_t min, uint64_t max)
{
	return nx__err(NX_EINVAL, "breaker %s: %llu is out of range [%llu, %llu]", field,
		       (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
}

int
nx__brk_conf_check(const struct nx_brk_conf *c)
{
	if (c->kind > NX_BRK_TIME)
		return nx__err(NX_EINVAL, "breaker kind: %u is neither count (0) nor time (1)",
			       c->kind);
	if (c->window < 1 || c->window > NX_BRK_WINDOW_MAX)
		return out_of_range("window", c->window, 1, NX_BRK_WINDOW_MAX);
	/* a count window never holds more than `window` calls: it could never open */
	if (c->kind == NX_BRK_COUNT && (c->min_calls < 1 || c->min_calls > c->window))
		return out_of_range("min_calls", c->min_calls, 1, c->window);
	if (c->min_calls < 1)
		return out_of_range("min_calls", c->min_calls, 1, UINT32_MAX);
	if (c->failure_pct < 1 || c->failure_pct > 100)
		return out_of_range("failure_pct", c->failure_pct, 1, 100);
	if (c->slow_pct > 100)
		return out_of_range("slow_pct", c->slow_pct, 0, 100);
	if (c->half_open_calls < 1)
		return out_of_range("half_open_calls", c->half_open_calls, 1, UINT32_MAX);
	if (c->kind == NX_BRK_TIME && c->second < 1)
		return out_of_range("second", c->second, 1, UINT64_MAX);
	return 0;
}

const char *
nx__brk_state_name(uint32_t state)
{
	switch (state) {
	case NX_BRK_CLOSED:
		return "closed";
	case NX_BRK_OPEN:
		return "open";
	case NX_BRK_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}
