/*
 * The restart and retry backoff on the test's own clock and dice: the
 * first failure after a stable run goes at once, the ceilings double
 * from min to max, full jitter covers [0, ceiling] and no more, a stable
 * run resets it, and a crash loop is more than max_fails in the window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nx/nx.h>

#include "platform/base/backoff.h"
#include "platform/base/rand.h"

struct fake {
	uint64_t now;
	uint64_t dice; /* what random returns */
};

static uint64_t
fake_clock(void *arg)
{
	return ((struct fake *)arg)->now;
}

static uint64_t
fake_random(void *arg)
{
	return ((struct fake *)arg)->dice;
}

#define MS 1000000ull

static struct nx_backoff b;

static void
init(struct fake *f, uint64_t min, uint64_t max, uint64_t stable, uint32_t fails, uint64_t win)
{
	const struct nx_backoff_conf c = { .min_ns = min, .max_ns = max, .stable_ns = stable,
					   .max_fails = fails, .window_ns = win };

	f->now = 1000 * MS;
	f->dice = 0;
	assert_int_equal(nx__backoff_init(&b, &c, fake_clock, fake_random, f), 0);
}

static void
test_init_refuses_missing_clock_or_dice(void **state)
{
	const struct nx_backoff_conf c = { .min_ns = 1 };
	struct fake f = { 0 };

	(void)state;
	assert_int_equal(nx__backoff_init(&b, &c, NULL, fake_random, &f), NX_EINVAL);
	assert_int_equal(nx__backoff_init(&b, &c, fake_clock, NULL, &f), NX_EINVAL);
	assert_int_equal(nx__backoff_init(&b, NULL, fake_clock, fake_random, &f), NX_EINVAL);
	assert_int_equal(nx__backoff_init(NULL, &c, fake_clock, fake_random, &f), NX_EINVAL);
}

static void
test_first_failure_goes_at_once_then_ceilings_double_to_max(void **state)
{
	struct fake f;

	(void)state;
	init(&f, 10 * MS, 100 * MS, 1000 * MS, 0, 0);
	f.dice = 12345;
	assert_int_equal(nx__backoff_failed(&b), 0); /* whatever the dice */
	f.dice = 10 * MS;  /* exactly the first ceiling */
	assert_int_equal(nx__backoff_failed(&b), 10 * MS);
	f.dice = 20 * MS;
	assert_int_equal(nx__backoff_failed(&b), 20 * MS);
	f.dice = 40 * MS;
	assert_int_equal(nx__backoff_failed(&b), 40 * MS);
	f.dice = 80 * MS;
	assert_int_equal(nx__backoff_failed(&b), 80 * MS);
	f.dice = 100 * MS; /* capped: 160 would be next */
	assert_int_equal(nx__backoff_failed(&b), 100 * MS);
	f.dice = 100 * MS + 1; /* one past the ceiling wraps to 0 */
	assert_int_equal(nx__backoff_failed(&b), 0);
}

static void
test_full_jitter_covers_zero_to_ceiling_and_no_more(void **state)
{
	struct fake f;
	uint64_t d;
	unsigned i;

	(void)state;
	init(&f, 10 * MS, 100 * MS, 1000 * MS, 0, 0);
	assert_int_equal(nx__backoff_failed(&b), 0);
	f.dice = 0;
	assert_int_equal(nx__backoff_failed(&b), 0);          /* the bottom: 0 */
	f.dice = 2 * (20 * MS + 1) - 1;
	assert_int_equal(nx__backoff_failed(&b), 20 * MS);    /* the top: the ceiling */
	for (i = 0; i < 1000; i++) {
		f.dice = f.dice * 6364136223846793005ull + 1442695040888963407ull;
		d = nx__backoff_failed(&b);
		assert_true(d <= 100 * MS);
	}
}

static void
test_ceiling_never_overflows(void **state)
{
	struct fake f;
	unsigned i;

	(void)state;
	init(&f, UINT64_MAX / 3, UINT64_MAX, 1, 0, 0);
	f.dice = 5;
	for (i = 0; i < 200; i++)
		assert_int_equal(nx__backoff_failed(&b), i == 0 ? 0 : 5);
	f.dice = UINT64_MAX - 1;
	assert_int_equal(nx__backoff_failed(&b), UINT64_MAX - 1); /* ceiling UINT64_MAX: dice as is */
	init(&f, 3, 1000, 1, 0, 0);
	for (i = 0; i < 100; i++) {
		f.dice = 1000;
		(void)nx__backoff_failed(&b);
	}
	f.dice = 1000;
	assert_int_equal(nx__backoff_failed(&b), 1000);
}

static void
test_zero_min_restarts_at_once_every_time(void **state)
{
	struct fake f;
	unsigned i;

	(void)state;
	init(&f, 0, 0, 1000 * MS, 0, 0);
	f.dice = 12345;
	for (i = 0; i < 100; i++)
		assert_int_equal(nx__backoff_failed(&b), 0);
}

static void
test_max_below_min_is_raised_to_min(void **state)
{
	struct fake f;

	(void)state;
	init(&f, 50 * MS, 10 * MS, 1000 * MS, 0, 0);
	(void)nx__backoff_failed(&b);
	f.dice = 50 * MS;
	assert_int_equal(nx__backoff_failed(&b), 50 * MS);
	f.dice = 50 * MS;
	assert_int_equal(nx__backoff_failed(&b), 50 * MS);
}

static void
test_stable_run_resets_to_immediate(void **state)
{
	struct fake f;

	(void)state;
	init(&f, 10 * MS, 100 * MS, 500 * MS, 0, 0);
	(void)nx__backoff_failed(&b);
	(void)nx__backoff_failed(&b);
	(void)nx__backoff_failed(&b);
	f.dice = 40 * MS;
	nx__backoff_healthy(&b);
	f.now += 500 * MS - 1; /* one ns short of stable */
	assert_false(nx__backoff_is_stable(&b));
	assert_int_equal(nx__backoff_failed(&b), 40 * MS); /* not reset: 4th in a row */

	nx__backoff_healthy(&b);
	f.now += 500 * MS; /* exactly stable */
	assert_true(nx__backoff_is_stable(&b));
	f.dice = 7;
	assert_int_equal(nx__backoff_failed(&b), 0); /* at once again */
	f.dice = 10 * MS;
	assert_int_equal(nx__backoff_failed(&b), 10 * MS); /* then from min */
}

static void
test_unhealthy_restarts_the_stable_period(void **state)
{
	struct fake f;

	(void)state;
	init(&f, 10 * MS, 100 * MS, 500 * MS, 0, 0);
	(void)nx__backoff_failed(&b);
	nx__backoff_healthy(&b);
	f.now += 400 * MS;
	nx__backoff_unhealthy(&b);
	nx__backoff_healthy(&b);   /* healthy again: counts from now */
	nx__backoff_healthy(&b);   /* a second call does not move it */
	f.now += 400 * MS;
	assert_false(nx__backoff_is_stable(&b));
	f.now += 100 * MS;
	assert_true(nx__backoff_is_stable(&b));
}

static void
test_more_than_max_fails_in_window_gives_up(void **state)
{
	struct fake f;

	(void)state;
	init(&f, 0, 0, 1000 * MS, 3, 10000 * MS);
	assert_int_equal(nx__backoff_failed(&b), 0);
	f.now += 100 * MS;
	assert_int_equal(nx__backoff_failed(&b), 0);
	f.now += 100 * MS;
	assert_int_equal(nx__backoff_failed(&b), 0);
	assert_int_equal(nx__backoff_recent(&b), 3);
	f.now += 100 * MS;
	assert_int_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP); /* the 4th in 10 s */
}

static void
test_failures_older_than_window_do_not_count(void **state)
{
	struct fake f;
	unsigned i;

	(void)state;
	init(&f, 0, 0, 1000 * MS, 3, 10000 * MS);
	/* one every 3.4 s: never more than 3 within 10 s */
	for (i = 0; i < 50; i++) {
		assert_int_not_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP);
		f.now += 3400 * MS;
	}
	/* the window boundary: exactly window_ns old no longer counts */
	init(&f, 0, 0, 1000 * MS, 1, 10000 * MS);
	assert_int_equal(nx__backoff_failed(&b), 0);
	f.now += 10000 * MS - 1;
	assert_int_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP);
	init(&f, 0, 0, 1000 * MS, 1, 10000 * MS);
	assert_int_equal(nx__backoff_failed(&b), 0);
	f.now += 10000 * MS;
	assert_int_equal(nx__backoff_failed(&b), 0);
}

static void
test_zero_max_fails_never_gives_up_and_caps_apply(void **state)
{
	struct fake f;
	unsigned i;

	(void)state;
	init(&f, 0, 0, 1000 * MS, 0, 10000 * MS);
	for (i = 0; i < 5000; i++)
		assert_int_not_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP);
	init(&f, 0, 0, 1000 * MS, 100000, 10000 * MS); /* capped at the ring */
	for (i = 0; i < NX_BACKOFF_WINDOW_MAX - 1; i++)
		assert_int_not_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP);
	assert_int_equal(nx__backoff_failed(&b), NX_BACKOFF_GIVE_UP);
}

/* The one jitter computation, which libnx's retries share. */
static void
test_jitter_is_uniform_below_a_doubling_capped_ceiling(void **state)
{
	uint32_t n;

	(void)state;
	for (n = 0; n < 6; n++) {
		const uint64_t ceiling = 100ull << n < 1000 ? 100ull << n : 1000;

		assert_int_equal(nx__backoff_jitter(100, 1000, n, ceiling), ceiling);
		assert_int_equal(nx__backoff_jitter(100, 1000, n, ceiling + 1), 0);
		assert_int_equal(nx__backoff_jitter(100, 1000, n, 2 * ceiling + 1), ceiling);
	}
	/* a base above max: max */
	assert_int_equal(nx__backoff_jitter(5000, 1000, 0, 1000), 1000);
	/* no overflow however many doublings */
	assert_int_equal(nx__backoff_jitter(3, UINT64_MAX, UINT32_MAX, 12345), 12345);
	assert_int_equal(nx__backoff_jitter(UINT64_MAX / 2 + 1, UINT64_MAX, 1, 7), 7);
	assert_int_equal(nx__backoff_jitter(0, 1000, 10, 999), 0);
}

/* The generator: a seed gives one sequence, never stuck at 0, spread. */
static void
test_random_is_repeatable_from_a_seed_and_spread(void **state)
{
	struct nx_rand r1, r2, z;
	unsigned i, low[4] = { 0 };

	(void)state;
	nx__rand_seed(&r1, 42);
	nx__rand_seed(&r2, 42);
	nx__rand_seed(&z, 0);
	for (i = 0; i < 4000; i++) {
		uint64_t v = nx__rand_next(&r1);

		assert_int_equal(v, nx__rand_next(&r2));
		assert_int_not_equal(nx__rand_next(&z), 0);
		low[v & 3]++;
	}
	for (i = 0; i < 4; i++) /* the low bits too: what a modulo keeps */
		assert_true(low[i] > 800 && low[i] < 1200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_refuses_missing_clock_or_dice),
		cmocka_unit_test(test_first_failure_goes_at_once_then_ceilings_double_to_max),
		cmocka_unit_test(test_full_jitter_covers_zero_to_ceiling_and_no_more),
		cmocka_unit_test(test_ceiling_never_overflows),
		cmocka_unit_test(test_zero_min_restarts_at_once_every_time),
		cmocka_unit_test(test_max_below_min_is_raised_to_min),
		cmocka_unit_test(test_stable_run_resets_to_immediate),
		cmocka_unit_test(test_unhealthy_restarts_the_stable_period),
		cmocka_unit_test(test_more_than_max_fails_in_window_gives_up),
		cmocka_unit_test(test_failures_older_than_window_do_not_count),
		cmocka_unit_test(test_zero_max_fails_never_gives_up_and_caps_apply),
		cmocka_unit_test(test_jitter_is_uniform_below_a_doubling_capped_ceiling),
		cmocka_unit_test(test_random_is_repeatable_from_a_seed_and_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
