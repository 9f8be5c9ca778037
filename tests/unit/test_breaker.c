/*
 * Circuit breaker: every transition, driven by an injected clock (one
 * second is 1000 ticks here), with the boundaries of min_calls, the
 * failure and slow thresholds, both windows, the open wait and the
 * half-open quota; forced states; the conf's refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/datapath/breaker.h"
#include "platform/nx_platform.h"

#define SEC 1000u /* ticks in one second */

static struct nx_brk_conf
conf_count(uint32_t window, uint32_t min_calls, uint32_t failure_pct)
{
	struct nx_brk_conf c;

	nx__brk_conf_default(&c, SEC);
	c.window = window;
	c.min_calls = min_calls;
	c.failure_pct = failure_pct;
	c.wait_open_ns = 5 * SEC;
	c.half_open_calls = 4;
	c.slow_ns = 100;
	assert_int_equal(nx__brk_conf_check(&c), 0);
	return c;
}

static struct nx_brk_conf
conf_time(uint32_t window, uint32_t min_calls, uint32_t failure_pct)
{
	struct nx_brk_conf c = conf_count(NX_BRK_WINDOW_MAX, 1, failure_pct);

	c.kind = NX_BRK_TIME;
	c.window = window;
	c.min_calls = min_calls;
	assert_int_equal(nx__brk_conf_check(&c), 0);
	return c;
}

/* allow then record, as the worker does */
static void
call(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now, bool failed,
     uint64_t duration)
{
	assert_true(nx__brk_allow(b, c, now));
	nx__brk_record(b, c, now, failed, duration);
}

static void
calls(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t now, bool failed, int n)
{
	for (int i = 0; i < n; i++)
		call(b, c, now, failed, 1);
}

/* open a breaker under c at time `at` (c's min_calls failures) */
static void
open_at(struct nx_breaker *b, const struct nx_brk_conf *c, uint64_t at)
{
	nx__brk_init(b);
	calls(b, c, at, true, (int)c->min_calls);
	assert_int_equal(b->state, NX_BRK_OPEN);
	assert_int_equal(b->opened_at, at);
}

static void
test_brk_conf_default_is_resilience4j(void **state)
{
	struct nx_brk_conf c;

	(void)state;
	nx__brk_conf_default(&c, 1000000000);
	assert_int_equal(c.kind, NX_BRK_COUNT);
	assert_int_equal(c.window, 100);
	assert_int_equal(c.min_calls, 100);
	assert_int_equal(c.failure_pct, 50);
	assert_int_equal(c.slow_pct, 0);
	assert_int_equal(c.slow_ns, UINT64_C(60000000000));
	assert_int_equal(c.wait_open_ns, UINT64_C(60000000000));
	assert_int_equal(c.half_open_calls, 10);
	assert_int_equal(c.second, 1000000000);
	assert_int_equal(nx__brk_conf_check(&c), 0);
	nx__brk_conf_default(&c, 7);
	assert_int_equal(c.wait_open_ns, 420);
	assert_int_equal(c.slow_ns, 420);
}

static void
test_brk_conf_check_refuses_each_bad_field_by_name(void **state)
{
	static const struct {
		const char *field;
		uint64_t value;
		uint32_t kind;
		const char *says;
	} bad[] = {
		{ "kind", 2, NX_BRK_COUNT,
		  "breaker kind: 2 is neither count (0) nor time (1)" },
		{ "window", 0, NX_BRK_COUNT, "breaker window: 0 is out of range [1, 256]" },
		{ "window", 257, NX_BRK_TIME, "breaker window: 257 is out of range [1, 256]" },
		{ "min_calls", 0, NX_BRK_COUNT,
		  "breaker min_calls: 0 is out of range [1, 10]" },
		{ "min_calls", 11, NX_BRK_COUNT,
		  "breaker min_calls: 11 is out of range [1, 10]" },
		{ "min_calls", 0, NX_BRK_TIME,
		  "breaker min_calls: 0 is out of range [1, 4294967295]" },
		{ "failure_pct", 0, NX_BRK_COUNT,
		  "breaker failure_pct: 0 is out of range [1, 100]" },
		{ "failure_pct", 101, NX_BRK_COUNT,
		  "breaker failure_pct: 101 is out of range [1, 100]" },
		{ "slow_pct", 101, NX_BRK_COUNT,
		  "breaker slow_pct: 101 is out of range [0, 100]" },
		{ "half_open_calls", 0, NX_BRK_COUNT,
		  "breaker half_open_calls: 0 is out of range [1, 4294967295]" },
		{ "second", 0, NX_BRK_TIME,
		  "breaker second: 0 is out of range [1, 18446744073709551615]" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct nx_brk_conf c = conf_count(10, 10, 50);

		c.kind = bad[i].kind;
		if (strcmp(bad[i].field, "kind") == 0)
			c.kind = (uint32_t)bad[i].value;
		else if (strcmp(bad[i].field, "window") == 0)
			c.window = (uint32_t)bad[i].value;
		else if (strcmp(bad[i].field, "min_calls") == 0)
			c.min_calls = (uint32_t)bad[i].value;
		else if (strcmp(bad[i].field, "failure_pct") == 0)
			c.failure_pct = (uint32_t)bad[i].value;
		else if (strcmp(bad[i].field, "slow_pct") == 0)
			c.slow_pct = (uint32_t)bad[i].value;
		else if (strcmp(bad[i].field, "half_open_calls") == 0)
			c.half_open_calls = (uint32_t)bad[i].value;
		else
			c.second = bad[i].value;
		if (nx__brk_conf_check(&c) != NX_EINVAL)
			fail_msg("%s = %llu accepted", bad[i].field,
				 (unsigned long long)bad[i].value);
		if (strcmp(nx__errmsg(), bad[i].says) != 0)
			fail_msg("%s: message '%s', want '%s'", bad[i].field, nx__errmsg(),
				 bad[i].says);
	}
}

static void
test_brk_conf_check_accepts_the_edges(void **state)
{
	struct nx_brk_conf c = conf_count(1, 1, 1);

	(void)state;
	c.slow_pct = 100;
	assert_int_equal(nx__brk_conf_check(&c), 0);
	c.window = NX_BRK_WINDOW_MAX;
	c.min_calls = NX_BRK_WINDOW_MAX;
	c.failure_pct = 100;
	c.slow_pct = 0;
	assert_int_equal(nx__brk_conf_check(&c), 0);
	/* a time window may need more calls than it has seconds */
	c.kind = NX_BRK_TIME;
	c.window = 1;
	c.min_calls = 1000;
	assert_int_equal(nx__brk_conf_check(&c), 0);
	/* second only matters to a time window */
	c.kind = NX_BRK_COUNT;
	c.min_calls = 1;
	c.second = 0;
	assert_int_equal(nx__brk_conf_check(&c), 0);
}

static void
test_brk_starts_closed_and_permits(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.forced, NX_BRK_FORCE_AUTO);
	assert_int_equal(b.opened + b.half_opened + b.closed + b.rejected, 0);
	for (int i = 0; i < 1000; i++)
		assert_true(nx__brk_allow(&b, &c, (uint64_t)i));
	assert_int_equal(b.rejected, 0);
}

static void
test_brk_no_decision_below_min_calls_decides_exactly_at_it(void **state)
{
	struct nx_brk_conf c = conf_count(10, 5, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	calls(&b, &c, 0, true, 4); /* 100% failures, but only 4 calls */
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.calls, 4);
	assert_int_equal(b.failures, 4);
	call(&b, &c, 0, true, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 1);

	/* the 5th call a success: 4/5 = 80% >= 50% still opens at min_calls */
	nx__brk_init(&b);
	calls(&b, &c, 0, true, 4);
	call(&b, &c, 0, false, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_failure_rate_one_below_threshold_stays_closed(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 30);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	calls(&b, &c, 0, true, 2);
	calls(&b, &c, 0, false, 8); /* 20% < 30% */
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.opened, 0);
}

static void
test_brk_failure_rate_exactly_at_threshold_opens(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 30);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	calls(&b, &c, 0, true, 3);
	calls(&b, &c, 0, false, 6);
	assert_int_equal(b.state, NX_BRK_CLOSED); /* 9 calls: below min_calls */
	call(&b, &c, 7, false, 1);                /* 3/10 = 30% */
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened_at, 7);
	assert_int_equal(b.opened, 1);
}

static void
test_brk_failure_pct_100_opens_only_when_all_failed(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 100);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	call(&b, &c, 0, false, 1);
	calls(&b, &c, 0, true, 3);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, true, 1); /* the success has left the window of 4 */
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_duration_equal_to_slow_ns_is_not_slow(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 100);
	struct nx_breaker b;

	(void)state;
	c.slow_pct = 25;
	nx__brk_init(&b);
	for (int i = 0; i < 4; i++)
		call(&b, &c, 0, false, c.slow_ns);
	assert_int_equal(b.slow, 0);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, false, c.slow_ns + 1); /* 1/4 = 25% */
	assert_int_equal(b.slow, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_slow_rate_one_below_and_at_threshold(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 100);
	struct nx_breaker b;

	(void)state;
	c.slow_pct = 50;
	nx__brk_init(&b);
	call(&b, &c, 0, false, 101);
	calls(&b, &c, 0, false, 3); /* 25% slow */
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, false, 101); /* ok ok ok slow: the first slow call left */
	assert_int_equal(b.slow, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, false, 101); /* 2/4 = 50% */
	assert_int_equal(b.slow, 2);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_failed_slow_calls_count_as_slow(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 100);
	struct nx_breaker b;

	(void)state;
	c.slow_pct = 50;
	nx__brk_init(&b);
	call(&b, &c, 0, true, 101);
	call(&b, &c, 0, true, 101);
	calls(&b, &c, 0, false, 1);
	assert_int_equal(b.failures, 2);
	assert_int_equal(b.slow, 2);
	call(&b, &c, 0, false, 1); /* failures 50% < 100%, slow 50% */
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_slow_pct_0_never_opens_on_slow_calls(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 100);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	for (int i = 0; i < 100; i++)
		call(&b, &c, 0, false, UINT64_MAX);
	assert_int_equal(b.slow, 4);
	assert_int_equal(b.state, NX_BRK_CLOSED);
}

static void
test_brk_count_window_forgets_the_oldest_call(void **state)
{
	struct nx_brk_conf c = conf_count(4, 4, 75);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	calls(&b, &c, 0, true, 2);
	calls(&b, &c, 0, false, 2); /* F F S S: 50% */
	call(&b, &c, 0, true, 1);   /* F S S F: 50% */
	assert_int_equal(b.calls, 4);
	assert_int_equal(b.failures, 2);
	call(&b, &c, 0, true, 1); /* S S F F: 50% (4/6 without the window) */
	assert_int_equal(b.failures, 2);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, true, 1); /* S F F F: 75% (5/7 = 71% without it) */
	assert_int_equal(b.calls, 4);
	assert_int_equal(b.failures, 3);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_count_window_of_one(void **state)
{
	struct nx_brk_conf c = conf_count(1, 1, 100);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	calls(&b, &c, 0, false, 10);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 0, true, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_time_window_buckets_expire_after_window_seconds(void **state)
{
	struct nx_brk_conf c = conf_time(3, 100, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	call(&b, &c, 0, true, 1);
	call(&b, &c, SEC - 1, true, 1);  /* second 0 */
	call(&b, &c, SEC, false, 1);     /* second 1 */
	call(&b, &c, 3 * SEC - 1, false, 1); /* second 2: second 0 still in */
	assert_int_equal(b.calls, 4);
	assert_int_equal(b.failures, 2);
	call(&b, &c, 3 * SEC, false, 1); /* second 3: second 0 leaves */
	assert_int_equal(b.calls, 3);
	assert_int_equal(b.failures, 0);
	call(&b, &c, 5 * SEC + 1, true, 1); /* second 5: seconds 1 and 2 leave */
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.failures, 1);
}

static void
test_brk_time_window_expired_failures_do_not_open_it(void **state)
{
	struct nx_brk_conf c = conf_time(2, 3, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	call(&b, &c, 0, true, 1);
	call(&b, &c, SEC / 2, true, 1);
	call(&b, &c, 2 * SEC, false, 1); /* 2/3 failed, but both left the window */
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 2 * SEC + 1, true, 1);
	call(&b, &c, 3 * SEC, true, 1); /* 2/3 in seconds 2 and 3 */
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_time_window_long_idle_gap_clears_it(void **state)
{
	struct nx_brk_conf c = conf_time(NX_BRK_WINDOW_MAX, 100, 50);
	struct nx_breaker b;
	uint64_t later = UINT64_C(1) << 62;

	(void)state;
	nx__brk_init(&b);
	for (uint64_t t = 0; t < 10; t++)
		call(&b, &c, t * SEC, true, 1);
	assert_int_equal(b.calls, 10);
	call(&b, &c, later, false, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.failures, 0);
	call(&b, &c, later + SEC, false, 1);
	call(&b, &c, later + (NX_BRK_WINDOW_MAX - 1) * (uint64_t)SEC, false, 1);
	assert_int_equal(b.calls, 3);
	/* the window still rolls: the first of the three leaves */
	call(&b, &c, later + NX_BRK_WINDOW_MAX * (uint64_t)SEC, false, 1);
	assert_int_equal(b.calls, 3);
	/* exactly one window later than the newest: all gone but this one */
	call(&b, &c, later + 2 * NX_BRK_WINDOW_MAX * (uint64_t)SEC, false, 1);
	assert_int_equal(b.calls, 1);
}

static void
test_brk_time_going_backwards_is_harmless(void **state)
{
	struct nx_brk_conf c = conf_time(3, 100, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	call(&b, &c, 5 * SEC, true, 1);
	call(&b, &c, 3 * SEC, true, 1); /* counted in the newest second, 5 */
	call(&b, &c, 0, false, 1);
	assert_int_equal(b.calls, 3);
	assert_int_equal(b.failures, 2);
	call(&b, &c, 7 * SEC + 999, false, 1); /* second 7: 5 still in */
	assert_int_equal(b.calls, 4);
	call(&b, &c, 8 * SEC, false, 1); /* second 8: 5 leaves, with what came back */
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.failures, 0);

	/* and OPEN does not half-open before its time when the clock steps back */
	c = conf_count(10, 10, 50);
	open_at(&b, &c, 100 * SEC);
	assert_false(nx__brk_allow(&b, &c, 0));
	assert_false(nx__brk_allow(&b, &c, 100 * SEC - 1));
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_true(nx__brk_allow(&b, &c, 100 * SEC + c.wait_open_ns));
}

static void
test_brk_open_refuses_and_counts_rejected(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	open_at(&b, &c, 1000);
	for (uint64_t t = 1000; t < 1000 + c.wait_open_ns; t += 7)
		assert_false(nx__brk_allow(&b, &c, t));
	assert_int_equal(b.rejected, (c.wait_open_ns + 6) / 7);
	assert_int_equal(b.state, NX_BRK_OPEN);
	/* a stray outcome while OPEN changes nothing */
	nx__brk_record(&b, &c, 1001, false, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 1);
}

static void
test_brk_open_half_opens_exactly_at_wait(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	open_at(&b, &c, 1000);
	assert_false(nx__brk_allow(&b, &c, 1000 + c.wait_open_ns - 1));
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.rejected, 1);
	assert_true(nx__brk_allow(&b, &c, 1000 + c.wait_open_ns));
	assert_int_equal(b.state, NX_BRK_HALF_OPEN);
	assert_int_equal(b.half_opened, 1);
	assert_int_equal(b.ho_permitted, 1);
	assert_int_equal(b.rejected, 1);

	/* wait 0: the very next call half-opens */
	c.wait_open_ns = 0;
	open_at(&b, &c, 1000);
	assert_true(nx__brk_allow(&b, &c, 1000));
	assert_int_equal(b.state, NX_BRK_HALF_OPEN);
}

static void
test_brk_half_open_permits_exactly_half_open_calls(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 1000 + c.wait_open_ns;

	(void)state;
	c.half_open_calls = 3;
	open_at(&b, &c, 1000);
	for (int i = 0; i < 3; i++)
		assert_true(nx__brk_allow(&b, &c, t));
	assert_false(nx__brk_allow(&b, &c, t));
	assert_false(nx__brk_allow(&b, &c, t + 1000 * SEC));
	assert_int_equal(b.rejected, 2);
	assert_int_equal(b.ho_permitted, 3);
	assert_int_equal(b.state, NX_BRK_HALF_OPEN);
}

static void
test_brk_half_open_decides_only_when_all_permitted_reported(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 1000 + c.wait_open_ns;

	(void)state;
	open_at(&b, &c, 1000);
	for (int i = 0; i < 4; i++)
		assert_true(nx__brk_allow(&b, &c, t));
	for (int i = 0; i < 3; i++)
		nx__brk_record(&b, &c, t, true, 1);
	assert_int_equal(b.state, NX_BRK_HALF_OPEN); /* 3 failed of 4: waiting for the 4th */
	nx__brk_record(&b, &c, t + 1, false, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 2);
	assert_int_equal(b.opened_at, t + 1);
}

static void
test_brk_half_open_closes_below_thresholds_with_fresh_window(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 1000 + c.wait_open_ns;

	(void)state;
	c.slow_pct = 50;
	open_at(&b, &c, 1000);
	call(&b, &c, t, true, 1);   /* 25% failed */
	call(&b, &c, t, false, 101); /* 25% slow */
	call(&b, &c, t, false, 1);
	assert_int_equal(b.state, NX_BRK_HALF_OPEN);
	call(&b, &c, t, false, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(b.failures, 0);
	/* a fresh window: 9 failures are below min_calls again */
	calls(&b, &c, t, true, 9);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, t, true, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
}

static void
test_brk_half_open_reopens_at_failure_threshold(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 1000 + c.wait_open_ns;

	(void)state;
	open_at(&b, &c, 1000);
	call(&b, &c, t, true, 1);
	call(&b, &c, t, true, 1);
	call(&b, &c, t, false, 1);
	call(&b, &c, t + 3, false, 1); /* 2/4 = 50% */
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened_at, t + 3);
	/* waits again from the new opening */
	assert_false(nx__brk_allow(&b, &c, t + 3 + c.wait_open_ns - 1));
	assert_true(nx__brk_allow(&b, &c, t + 3 + c.wait_open_ns));
	assert_int_equal(b.half_opened, 2);
	assert_int_equal(b.ho_permitted, 1);
	assert_int_equal(b.ho_calls, 0);
}

static void
test_brk_half_open_reopens_at_slow_threshold(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 1000 + c.wait_open_ns;

	(void)state;
	c.slow_pct = 50;
	open_at(&b, &c, 1000);
	call(&b, &c, t, false, 101);
	call(&b, &c, t, false, 101);
	call(&b, &c, t, false, 100);
	call(&b, &c, t, false, 100); /* no failure, 50% slow */
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 2);
	assert_int_equal(b.closed, 0);
}

static void
test_brk_force_open_refuses_until_released(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	nx__brk_init(&b);
	nx__brk_force(&b, NX_BRK_FORCE_OPEN, 50);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.forced, NX_BRK_FORCE_OPEN);
	assert_int_equal(b.opened, 1);
	/* long past the wait: still refused, never half-open */
	assert_false(nx__brk_allow(&b, &c, 50 + c.wait_open_ns));
	assert_false(nx__brk_allow(&b, &c, 50 + 100 * c.wait_open_ns));
	assert_int_equal(b.rejected, 2);
	assert_int_equal(b.half_opened, 0);
	/* forcing what it already is counts no transition */
	nx__brk_force(&b, NX_BRK_FORCE_OPEN, 60);
	assert_int_equal(b.opened, 1);
	/* auto: back to CLOSED, an empty window */
	nx__brk_force(&b, NX_BRK_FORCE_AUTO, 70);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.forced, NX_BRK_FORCE_AUTO);
	assert_int_equal(b.closed, 1);
	assert_true(nx__brk_allow(&b, &c, 70));
}

static void
test_brk_force_closed_permits_and_records_nothing(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	open_at(&b, &c, 0);
	nx__brk_force(&b, NX_BRK_FORCE_CLOSED, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.forced, NX_BRK_FORCE_CLOSED);
	assert_int_equal(b.closed, 1);
	calls(&b, &c, 2, true, 100);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.calls, 0);
	assert_int_equal(b.opened, 1);
	/* auto from forced CLOSED: no transition, and the window starts empty */
	nx__brk_force(&b, NX_BRK_FORCE_AUTO, 3);
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.forced, NX_BRK_FORCE_AUTO);
	calls(&b, &c, 4, true, 9);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	call(&b, &c, 4, true, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 2);
}

static void
test_brk_force_from_half_open_and_auto_from_open(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;

	(void)state;
	open_at(&b, &c, 0);
	assert_true(nx__brk_allow(&b, &c, c.wait_open_ns));
	nx__brk_force(&b, NX_BRK_FORCE_OPEN, c.wait_open_ns + 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.opened, 2);
	assert_int_equal(b.opened_at, c.wait_open_ns + 1);
	/* the half-open call reporting late changes nothing */
	nx__brk_record(&b, &c, c.wait_open_ns + 2, false, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);

	/* auto from an automatic OPEN closes it too */
	open_at(&b, &c, 0);
	nx__brk_force(&b, NX_BRK_FORCE_AUTO, 1);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.closed, 1);

	/* not an order: nothing changes */
	open_at(&b, &c, 0);
	nx__brk_force(&b, 3, 1);
	assert_int_equal(b.state, NX_BRK_OPEN);
	assert_int_equal(b.forced, NX_BRK_FORCE_AUTO);
	assert_int_equal(b.closed, 0);
}

static void
test_brk_alternating_failures_open_half_open_close(void **state)
{
	struct nx_brk_conf c = conf_count(10, 10, 50);
	struct nx_breaker b;
	uint64_t t = 0, opened_at, refused = 0;
	int i;

	(void)state;
	c.wait_open_ns = 30 * SEC;
	c.half_open_calls = 3;
	nx__brk_init(&b);
	for (i = 0; b.state == NX_BRK_CLOSED && i < 1000; i++, t += 100)
		call(&b, &c, t, i % 2 == 0, 5);
	assert_int_equal(i, 10); /* the 10th call: 5/10 = 50% */
	assert_int_equal(b.state, NX_BRK_OPEN);
	opened_at = b.opened_at;
	assert_int_equal(opened_at, 900);

	for (; t < opened_at + c.wait_open_ns; t += 100, refused++)
		assert_false(nx__brk_allow(&b, &c, t));
	assert_int_equal(refused, 299);
	assert_int_equal(b.rejected, refused);
	assert_int_equal(t, opened_at + c.wait_open_ns);
	for (i = 0; i < 3; i++)
		call(&b, &c, t, false, 5);
	assert_int_equal(b.state, NX_BRK_CLOSED);
	assert_int_equal(b.opened, 1);
	assert_int_equal(b.half_opened, 1);
	assert_int_equal(b.closed, 1);
	/* and it stays closed on successes */
	for (i = 0; i < 100; i++)
		call(&b, &c, t + (uint64_t)i, false, 5);
	assert_int_equal(b.opened + b.half_opened + b.closed, 3);
}

static void
test_brk_state_names(void **state)
{
	(void)state;
	assert_string_equal(nx__brk_state_name(NX_BRK_CLOSED), "closed");
	assert_string_equal(nx__brk_state_name(NX_BRK_OPEN), "open");
	assert_string_equal(nx__brk_state_name(NX_BRK_HALF_OPEN), "half-open");
	assert_string_equal(nx__brk_state_name(9), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_brk_conf_default_is_resilience4j),
		cmocka_unit_test(test_brk_conf_check_refuses_each_bad_field_by_name),
		cmocka_unit_test(test_brk_conf_check_accepts_the_edges),
		cmocka_unit_test(test_brk_starts_closed_and_permits),
		cmocka_unit_test(test_brk_no_decision_below_min_calls_decides_exactly_at_it),
		cmocka_unit_test(test_brk_failure_rate_one_below_threshold_stays_closed),
		cmocka_unit_test(test_brk_failure_rate_exactly_at_threshold_opens),
		cmocka_unit_test(test_brk_failure_pct_100_opens_only_when_all_failed),
		cmocka_unit_test(test_brk_duration_equal_to_slow_ns_is_not_slow),
		cmocka_unit_test(test_brk_slow_rate_one_below_and_at_threshold),
		cmocka_unit_test(test_brk_failed_slow_calls_count_as_slow),
		cmocka_unit_test(test_brk_slow_pct_0_never_opens_on_slow_calls),
		cmocka_unit_test(test_brk_count_window_forgets_the_oldest_call),
		cmocka_unit_test(test_brk_count_window_of_one),
		cmocka_unit_test(test_brk_time_window_buckets_expire_after_window_seconds),
		cmocka_unit_test(test_brk_time_window_expired_failures_do_not_open_it),
		cmocka_unit_test(test_brk_time_window_long_idle_gap_clears_it),
		cmocka_unit_test(test_brk_time_going_backwards_is_harmless),
		cmocka_unit_test(test_brk_open_refuses_and_counts_rejected),
		cmocka_unit_test(test_brk_open_half_opens_exactly_at_wait),
		cmocka_unit_test(test_brk_half_open_permits_exactly_half_open_calls),
		cmocka_unit_test(test_brk_half_open_decides_only_when_all_permitted_reported),
		cmocka_unit_test(test_brk_half_open_closes_below_thresholds_with_fresh_window),
		cmocka_unit_test(test_brk_half_open_reopens_at_failure_threshold),
		cmocka_unit_test(test_brk_half_open_reopens_at_slow_threshold),
		cmocka_unit_test(test_brk_force_open_refuses_until_released),
		cmocka_unit_test(test_brk_force_closed_permits_and_records_nothing),
		cmocka_unit_test(test_brk_force_from_half_open_and_auto_from_open),
		cmocka_unit_test(test_brk_alternating_failures_open_half_open_close),
		cmocka_unit_test(test_brk_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
