/*
 * Token bucket: burst at one instant, refill to the tick (whole and
 * fractional rates, however often it is asked), the cap after a long
 * idle, huge times and rates without overflow, unlimited, time going
 * backwards, re-init.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/datapath/bucket.h"

#define SEC 1000u /* ticks in one second */
#define TSC UINT64_C(3000000000) /* a 3 GHz TSC */

static void
drain(struct nx_bucket *b, uint64_t now)
{
	while (nx__bkt_take(b, now))
		;
	assert_int_equal(nx__bkt_available(b, now), 0);
}

static void
test_bkt_full_bucket_allows_exactly_burst_at_one_instant(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 10, 5, SEC, 100);
	assert_int_equal(nx__bkt_available(&b, 100), 5);
	for (int i = 0; i < 5; i++)
		assert_true(nx__bkt_take(&b, 100));
	assert_int_equal(b.limited, 0);
	assert_false(nx__bkt_take(&b, 100));
	assert_false(nx__bkt_take(&b, 100));
	assert_int_equal(b.limited, 2);
	assert_int_equal(nx__bkt_available(&b, 100), 0);
}

static void
test_bkt_burst_0_with_a_rate_is_1(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 10, 0, SEC, 0);
	assert_int_equal(b.burst, 1);
	assert_true(nx__bkt_take(&b, 0));
	assert_false(nx__bkt_take(&b, 0));
}

static void
test_bkt_refills_one_token_after_one_over_rate_not_a_tick_before(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 10, 1, SEC, 0); /* one token per 100 ticks */
	drain(&b, 0);
	for (uint64_t k = 1; k <= 50; k++) {
		assert_false(nx__bkt_take(&b, k * 100 - 1));
		assert_true(nx__bkt_take(&b, k * 100));
	}
	assert_int_equal(b.limited, 1 + 50);

	/* the same asked at every tick: no refill is lost to rounding */
	nx__bkt_init(&b, 10, 1, SEC, 0);
	drain(&b, 0);
	for (uint64_t t = 1; t <= 10 * SEC; t++)
		assert_int_equal(nx__bkt_take(&b, t), t % 100 == 0);
}

static void
test_bkt_fractional_rate_gives_tokens_at_third_seconds(void **state)
{
	struct nx_bucket b;
	uint64_t sec = 1000000000; /* nanoseconds: 1/3 s is not a whole number */
	uint64_t t;

	(void)state;
	nx__bkt_init(&b, 3, 3, sec, 0);
	drain(&b, 0);
	/* the k-th token at ceil(k * sec / 3) */
	for (uint64_t k = 1; k <= 30; k++) {
		uint64_t at = (k * sec + 2) / 3;

		assert_false(nx__bkt_take(&b, at - 1));
		assert_true(nx__bkt_take(&b, at));
	}

	/* asked every 997 ns in between: exactly the same instants */
	nx__bkt_init(&b, 3, 3, sec, 0);
	drain(&b, 0);
	for (uint64_t k = 1; k <= 3; k++) {
		uint64_t at = (k * sec + 2) / 3;

		for (t = (k - 1) * sec / 3 + 1; t < at; t += 997)
			assert_false(nx__bkt_take(&b, t));
		assert_false(nx__bkt_take(&b, at - 1));
		assert_true(nx__bkt_take(&b, at));
	}

	/* a whole-tick second: the 4th token at 1/3 s multiples */
	nx__bkt_init(&b, 3, 3, 3 * SEC, 0);
	drain(&b, 0);
	for (t = 1; t <= 9 * SEC; t++)
		assert_int_equal(nx__bkt_take(&b, t), t % SEC == 0);
}

static void
test_bkt_long_idle_never_fills_past_burst(void **state)
{
	struct nx_bucket b;
	uint64_t later = 1000000 * (uint64_t)SEC;

	(void)state;
	nx__bkt_init(&b, 10, 5, SEC, 0);
	drain(&b, 0);
	assert_int_equal(nx__bkt_available(&b, later), 5);
	for (int i = 0; i < 5; i++)
		assert_true(nx__bkt_take(&b, later));
	assert_false(nx__bkt_take(&b, later));
	/* the excess is dropped: the next token comes a full 1/rate later */
	assert_false(nx__bkt_take(&b, later + 99));
	assert_true(nx__bkt_take(&b, later + 100));
	/* partly full, then idle: still capped at burst */
	assert_int_equal(nx__bkt_available(&b, later + 150), 0);
	assert_int_equal(nx__bkt_available(&b, later + 300), 2);
	assert_int_equal(nx__bkt_available(&b, later + 100 + 500), 5);
	assert_int_equal(nx__bkt_available(&b, later + 100 + 5000), 5);
}

static void
test_bkt_huge_elapsed_and_huge_rate_do_not_overflow(void **state)
{
	struct nx_bucket b;

	(void)state;
	/* 10^9 tokens/s on a 3 GHz TSC: one token per 3 ticks */
	nx__bkt_init(&b, 1000000000, 1, TSC, 0);
	drain(&b, 0);
	assert_false(nx__bkt_take(&b, 2));
	assert_true(nx__bkt_take(&b, 3));
	assert_false(nx__bkt_take(&b, 5));
	assert_true(nx__bkt_take(&b, 6));
	/* hours of ticks, then the end of time */
	assert_int_equal(nx__bkt_available(&b, 10 * 3600 * TSC), 1);
	assert_int_equal(nx__bkt_available(&b, UINT64_MAX), 1);
	assert_true(nx__bkt_take(&b, UINT64_MAX));
	assert_false(nx__bkt_take(&b, UINT64_MAX));

	/* a large burst that idle time does not fill: more than 2^64 unit-ticks */
	nx__bkt_init(&b, 1000000000, 1000000000000, TSC, 0);
	b.tokens = 0; /* empty, without 10^12 takes */
	/* 2e7 ticks * 1e9/s * 1024 = 2.048e19 > 2^64; 6.67 ms: 6666666.67 tokens */
	assert_int_equal(nx__bkt_available(&b, 20000000), 6666666);
	assert_true(nx__bkt_take(&b, 20000000));
	assert_int_equal(b.tokens, 6826666666 - NX_BKT_SCALE);

	/* the largest rate and burst, the longest idle */
	nx__bkt_init(&b, UINT64_MAX, UINT64_MAX, 1, 0);
	assert_int_equal(b.rate, NX_BKT_MAX);
	assert_int_equal(b.burst, NX_BKT_MAX);
	assert_true(nx__bkt_take(&b, 0));
	assert_int_equal(nx__bkt_available(&b, UINT64_MAX), NX_BKT_MAX);
	assert_true(nx__bkt_take(&b, UINT64_MAX));
	nx__bkt_init(&b, NX_BKT_MAX, 1, UINT64_MAX, 0);
	drain(&b, 0);
	assert_true(nx__bkt_take(&b, UINT64_MAX));
	assert_false(nx__bkt_take(&b, UINT64_MAX));
}

static void
test_bkt_rate_0_is_unlimited(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 0, 0, SEC, 0);
	for (int i = 0; i < 100000; i++)
		assert_true(nx__bkt_take(&b, 0));
	assert_true(nx__bkt_take(&b, UINT64_MAX));
	assert_true(nx__bkt_take(&b, 1));
	assert_int_equal(b.limited, 0);
	assert_int_equal(nx__bkt_available(&b, 0), UINT64_MAX);
}

static void
test_bkt_time_going_backwards_refills_nothing(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 1, 1, SEC, 10 * SEC);
	drain(&b, 10 * SEC);
	assert_false(nx__bkt_take(&b, 0));
	assert_false(nx__bkt_take(&b, 10 * SEC - 1));
	assert_int_equal(nx__bkt_available(&b, 0), 0);
	/* half a second, a step back, then on: the token still comes at 11 s */
	assert_false(nx__bkt_take(&b, 10 * SEC + SEC / 2));
	assert_false(nx__bkt_take(&b, 5 * SEC));
	assert_false(nx__bkt_take(&b, 11 * SEC - 1));
	assert_true(nx__bkt_take(&b, 11 * SEC));
	assert_int_equal(b.limited, 6);
}

static void
test_bkt_reinit_changes_rate_and_burst(void **state)
{
	struct nx_bucket b;

	(void)state;
	nx__bkt_init(&b, 1, 2, SEC, 0);
	drain(&b, 0);
	assert_int_equal(b.limited, 1);
	nx__bkt_init(&b, 100, 4, SEC, 500); /* full again, 10 ticks per token */
	assert_int_equal(b.limited, 0);
	assert_int_equal(nx__bkt_available(&b, 500), 4);
	drain(&b, 500);
	assert_false(nx__bkt_take(&b, 509));
	assert_true(nx__bkt_take(&b, 510));
	assert_int_equal(nx__bkt_available(&b, 10 * SEC), 4);
	/* to unlimited and back */
	nx__bkt_init(&b, 0, 0, SEC, 600);
	assert_true(nx__bkt_take(&b, 600));
	nx__bkt_init(&b, 1, 1, SEC, 700);
	assert_true(nx__bkt_take(&b, 700));
	assert_false(nx__bkt_take(&b, 700));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bkt_full_bucket_allows_exactly_burst_at_one_instant),
		cmocka_unit_test(test_bkt_burst_0_with_a_rate_is_1),
		cmocka_unit_test(test_bkt_refills_one_token_after_one_over_rate_not_a_tick_before),
		cmocka_unit_test(test_bkt_fractional_rate_gives_tokens_at_third_seconds),
		cmocka_unit_test(test_bkt_long_idle_never_fills_past_burst),
		cmocka_unit_test(test_bkt_huge_elapsed_and_huge_rate_do_not_overflow),
		cmocka_unit_test(test_bkt_rate_0_is_unlimited),
		cmocka_unit_test(test_bkt_time_going_backwards_refills_nothing),
		cmocka_unit_test(test_bkt_reinit_changes_rate_and_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
