/*
 * Latency histogram: bucketing and its 1% error bound, percentiles,
 * overflow, merge, snapshot, and a reader racing the writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/datapath/hist.h"
#include "platform/base/rand.h"

static struct nx_hist *
hist_new(void)
{
	struct nx_hist *h = malloc(sizeof *h);

	assert_non_null(h);
	nx__hist_init(h);
	return h;
}

/*
 * The properties every value must have: its bucket reports a value at
 * least as large and less than 1/128 of it above (exactly it below 256),
 * and that reported value maps back to the same bucket.
 */
static void
check_value(uint64_t v)
{
	unsigned i = nx__hist_index(v);
	uint64_t hi = nx__hist_value_at(i);

	if (i >= NX_HIST_BUCKETS)
		fail_msg("value %llu: index %u out of range", (unsigned long long)v, i);
	if (hi < v)
		fail_msg("value %llu reported as %llu (below)", (unsigned long long)v,
			 (unsigned long long)hi);
	/* (hi - v) / v < 1/128, in integers */
	if ((hi - v) * NX_HIST_SUB_COUNT >= v && hi != v)
		fail_msg("value %llu reported as %llu: error %.4f%% >= 1/128",
			 (unsigned long long)v, (unsigned long long)hi,
			 100.0 * (double)(hi - v) / (double)v);
	if (100 * (hi - v) > v)
		fail_msg("value %llu: error above 1%%", (unsigned long long)v);
	if (nx__hist_index(hi) != i)
		fail_msg("value %llu: bucket %u reports %llu which maps to %u",
			 (unsigned long long)v, i, (unsigned long long)hi, nx__hist_index(hi));
}

static void
test_hist_layout_is_fixed(void **state)
{
	(void)state;
	assert_int_equal(NX_HIST_BUCKETS, 4480);
	assert_int_equal(sizeof(struct nx_hist), NX_HIST_SIZE);
	assert_int_equal(NX_HIST_SIZE, 35904);
	assert_int_equal(offsetof(struct nx_hist, count), 0);
	assert_int_equal(offsetof(struct nx_hist, sum), 8);
	assert_int_equal(offsetof(struct nx_hist, min), 16);
	assert_int_equal(offsetof(struct nx_hist, max), 24);
	assert_int_equal(offsetof(struct nx_hist, overflow), 32);
	assert_int_equal(offsetof(struct nx_hist, buckets), 64);
	assert_true(NX_HIST_VALUE_MAX >= UINT64_C(1) << 40);
}

static void
test_hist_small_values_are_exact(void **state)
{
	uint64_t v;

	(void)state;
	for (v = 0; v < 2 * NX_HIST_SUB_COUNT; v++) {
		assert_int_equal(nx__hist_index(v), v);
		assert_int_equal(nx__hist_value_at((unsigned)v), v);
	}
}

static void
test_hist_error_below_1_percent_for_every_value_to_1e5(void **state)
{
	uint64_t v;

	(void)state;
	for (v = 1; v <= 100000; v++) {
		check_value(v);
		/* buckets are monotonic in the value */
		assert_true(nx__hist_index(v) >= nx__hist_index(v - 1));
	}
}

static void
test_hist_error_below_1_percent_on_geometric_sweep_to_2_pow_41(void **state)
{
	unsigned k;
	double x;
	uint64_t n = 0;

	(void)state;
	/* ratio 1.0001: ~285,000 values, several per bucket at every scale */
	for (x = 1.0; x <= (double)NX_HIST_VALUE_MAX; x *= 1.0001, n++)
		check_value((uint64_t)x);
	assert_true(n > 250000);
	/* and both sides of every power of two, where the bucket width doubles */
	for (k = 1; k < NX_HIST_VALUE_BITS; k++) {
		check_value((UINT64_C(1) << k) - 1);
		check_value(UINT64_C(1) << k);
		check_value((UINT64_C(1) << k) + 1);
	}
	check_value(UINT64_C(1) << 40);
	check_value(NX_HIST_VALUE_MAX);
	assert_int_equal(nx__hist_index(NX_HIST_VALUE_MAX), NX_HIST_BUCKETS - 1);
}

static void
test_hist_buckets_tile_the_range_without_gaps(void **state)
{
	unsigned i;

	(void)state;
	assert_int_equal(nx__hist_value_at(0), 0);
	for (i = 1; i < NX_HIST_BUCKETS; i++) {
		uint64_t prev_hi = nx__hist_value_at(i - 1);

		assert_true(nx__hist_value_at(i) > prev_hi);
		/* the first value after the previous bucket starts this one */
		assert_int_equal(nx__hist_index(prev_hi + 1), i);
		assert_int_equal(nx__hist_index(nx__hist_value_at(i)), i);
	}
	assert_int_equal(nx__hist_value_at(NX_HIST_BUCKETS - 1), NX_HIST_VALUE_MAX);
	assert_int_equal(nx__hist_value_at(NX_HIST_BUCKETS), NX_HIST_VALUE_MAX);
}

static void
test_hist_empty_reports_zero(void **state)
{
	struct nx_hist *h = hist_new();

	(void)state;
	assert_int_equal(h->count, 0);
	assert_int_equal(h->min, UINT64_MAX);
	assert_int_equal(h->max, 0);
	assert_int_equal(nx__hist_percentile(h, 0), 0);
	assert_int_equal(nx__hist_percentile(h, 50), 0);
	assert_int_equal(nx__hist_percentile(h, 100), 0);
	assert_true(nx__hist_mean(h) == 0.0);
	free(h);
}

static void
assert_within_1pct(uint64_t got, uint64_t want)
{
	double err = ((double)got - (double)want) / (double)want;

	if (err < -0.01 || err > 0.01)
		fail_msg("got %llu, want %llu within 1%% (off by %.3f%%)",
			 (unsigned long long)got, (unsigned long long)want, 100.0 * err);
}

static void
test_hist_percentiles_of_uniform_1_to_1e6_within_1_percent(void **state)
{
	struct nx_hist *h = hist_new();
	uint64_t v;

	(void)state;
	for (v = 1; v <= 1000000; v++)
		nx__hist_record(h, v);
	assert_int_equal(h->count, 1000000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 1000000);
	assert_int_equal(h->overflow, 0);
	assert_within_1pct(nx__hist_percentile(h, 50), 500000);
	assert_within_1pct(nx__hist_percentile(h, 90), 900000);
	assert_within_1pct(nx__hist_percentile(h, 99), 990000);
	assert_within_1pct(nx__hist_percentile(h, 99.9), 999000);
	assert_within_1pct(nx__hist_percentile(h, 99.99), 999900);
	assert_within_1pct(nx__hist_percentile(h, 1), 10000);
	/* reports are conservative: never below the true rank's value */
	assert_true(nx__hist_percentile(h, 50) >= 500000);
	assert_int_equal(nx__hist_percentile(h, 0), 1);
	assert_int_equal(nx__hist_percentile(h, 100), 1000000);
	assert_true(nx__hist_mean(h) == 500000.5);
	free(h);
}

static void
test_hist_percentiles_of_bimodal_distribution(void **state)
{
	struct nx_hist *h = hist_new();
	unsigned i;

	(void)state;
	/* 90% fast around 400 ns, 10% slow around 35 us */
	for (i = 0; i < 90000; i++)
		nx__hist_record(h, 400 + i % 8);
	for (i = 0; i < 10000; i++)
		nx__hist_record(h, 35000 + i % 100);
	assert_int_equal(nx__hist_percentile(h, 0), 400);
	assert_within_1pct(nx__hist_percentile(h, 50), 404);
	assert_within_1pct(nx__hist_percentile(h, 90), 407);
	assert_within_1pct(nx__hist_percentile(h, 90.001), 35000);
	assert_within_1pct(nx__hist_percentile(h, 99), 35090);
	assert_int_equal(nx__hist_percentile(h, 100), 35099);
	assert_int_equal(h->max, 35099);
	free(h);
}

static void
test_hist_p0_is_min_and_p100_is_max(void **state)
{
	struct nx_hist *h = hist_new();

	(void)state;
	nx__hist_record(h, 123457); /* inside a bucket 512 wide */
	nx__hist_record(h, 987654321);
	nx__hist_record(h, 5000);
	assert_int_equal(nx__hist_percentile(h, 0), 5000);
	assert_int_equal(nx__hist_percentile(h, -1), 5000);
	assert_int_equal(nx__hist_percentile(h, 100), 987654321);
	assert_int_equal(nx__hist_percentile(h, 250), 987654321);
	/* the top bucket reports past max: capped at max */
	assert_int_equal(nx__hist_percentile(h, 99.9), 987654321);
	assert_int_equal(h->min, 5000);
	assert_int_equal(h->max, 987654321);
	free(h);
}

static void
test_hist_single_value(void **state)
{
	struct nx_hist *h = hist_new();

	(void)state;
	nx__hist_record(h, 0);
	assert_int_equal(h->count, 1);
	assert_int_equal(nx__hist_percentile(h, 50), 0);
	assert_int_equal(nx__hist_percentile(h, 100), 0);
	assert_int_equal(h->min, 0);
	free(h);
}

static void
test_hist_overflow_clamps_into_top_bucket(void **state)
{
	struct nx_hist *h = hist_new();

	(void)state;
	nx__hist_record(h, NX_HIST_VALUE_MAX); /* the largest tracked value: no overflow */
	assert_int_equal(h->overflow, 0);
	nx__hist_record(h, NX_HIST_VALUE_MAX + 1);
	nx__hist_record(h, UINT64_MAX);
	assert_int_equal(h->overflow, 2);
	assert_int_equal(h->count, 3);
	assert_int_equal(h->buckets[NX_HIST_BUCKETS - 1], 3);
	assert_int_equal(h->max, NX_HIST_VALUE_MAX);
	assert_int_equal(h->sum, 3 * NX_HIST_VALUE_MAX);
	assert_int_equal(nx__hist_percentile(h, 50), NX_HIST_VALUE_MAX);
	free(h);
}

static void
test_hist_merge_equals_recording_both(void **state)
{
	struct nx_hist *a = hist_new(), *b = hist_new(), *both = hist_new();
	struct nx_rand s;
	uint64_t v;

	unsigned i;

	(void)state;
	nx__rand_seed(&s, 0x9e3779b97f4a7c15ull);
	for (i = 0; i < 50000; i++) {
		v = nx__rand_next(&s) >> (nx__rand_next(&s) % 64); /* every scale, some overflows */
		nx__hist_record(i % 3 ? a : b, v);
		nx__hist_record(both, v);
	}
	assert_true(both->overflow > 0);
	nx__hist_merge(a, b);
	assert_memory_equal(a, both, sizeof *a);

	/* merging an empty histogram changes nothing, min included */
	nx__hist_init(b);
	nx__hist_merge(a, b);
	assert_memory_equal(a, both, sizeof *a);
	/* and into an empty one copies */
	nx__hist_merge(b, both);
	assert_memory_equal(b, both, sizeof *b);
	free(a);
	free(b);
	free(both);
}

static void
test_hist_snapshot_equals_source(void **state)
{
	struct nx_hist *h = hist_new(), *snap = malloc(sizeof *snap);
	struct nx_rand s;

	unsigned i;

	(void)state;
	nx__rand_seed(&s, 42);
	assert_non_null(snap);
	memset(snap, 0xa5, sizeof *snap);
	for (i = 0; i < 10000; i++)
		nx__hist_record(h, nx__rand_next(&s) % 10000000);
	nx__hist_snapshot(snap, h);
	assert_memory_equal(snap, h, sizeof *h);
	assert_int_equal(nx__hist_percentile(snap, 99), nx__hist_percentile(h, 99));
	free(h);
	free(snap);
}

static void
test_hist_reset_equals_init(void **state)
{
	struct nx_hist *h = hist_new(), *fresh = hist_new();
	unsigned i;

	(void)state;
	for (i = 0; i < 1000; i++)
		nx__hist_record(h, (uint64_t)i * 7919);
	nx__hist_record(h, UINT64_MAX);
	nx__hist_reset(h);
	assert_memory_equal(h, fresh, sizeof *h);
	free(h);
	free(fresh);
}

static void
test_hist_mean_is_exact(void **state)
{
	struct nx_hist *h = hist_new();

	(void)state;
	nx__hist_record(h, 100);
	nx__hist_record(h, 200);
	nx__hist_record(h, 600);
	assert_true(nx__hist_mean(h) == 300.0);
	free(h);
}

/* ---- a reader racing the single writer ---- */

#define RACE_RECORDS 2000000u

struct race {
	struct nx_hist *h;
	uint64_t done; /* writer stores 1 at the end */
};

static void *
race_writer(void *arg)
{
	struct race *r = arg;
	uint64_t i;

	for (i = 1; i <= RACE_RECORDS; i++)
		nx__hist_record(r->h, i % 100000 + 1);
	ck_pr_store_64(&r->done, 1);
	return NULL;
}

static void
test_hist_reader_never_sees_count_ahead_of_buckets(void **state)
{
	struct race r = { .h = hist_new(), .done = 0 };
	struct nx_hist *snap = malloc(sizeof *snap);
	uint64_t last = 0, total;
	unsigned i, snaps = 0;
	pthread_t th;

	(void)state;
	assert_non_null(snap);
	assert_int_equal(pthread_create(&th, NULL, race_writer, &r), 0);
	do {
		nx__hist_snapshot(snap, r.h);
		total = 0;
		for (i = 0; i < NX_HIST_BUCKETS; i++)
			total += snap->buckets[i];
		assert_true(total >= snap->count);
		assert_true(snap->count >= last);
		if (snap->count > 0) {
			assert_true(snap->min >= 1 && snap->max <= 100000);
			assert_true(nx__hist_percentile(snap, 50) <= 100000);
		}
		last = snap->count;
		snaps++;
	} while (ck_pr_load_64(&r.done) == 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	nx__hist_snapshot(snap, r.h);
	assert_int_equal(snap->count, RACE_RECORDS);
	assert_true(snaps > 0);
	free(snap);
	free(r.h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_layout_is_fixed),
		cmocka_unit_test(test_hist_small_values_are_exact),
		cmocka_unit_test(test_hist_error_below_1_percent_for_every_value_to_1e5),
		cmocka_unit_test(test_hist_error_below_1_percent_on_geometric_sweep_to_2_pow_41),
		cmocka_unit_test(test_hist_buckets_tile_the_range_without_gaps),
		cmocka_unit_test(test_hist_empty_reports_zero),
		cmocka_unit_test(test_hist_percentiles_of_uniform_1_to_1e6_within_1_percent),
		cmocka_unit_test(test_hist_percentiles_of_bimodal_distribution),
		cmocka_unit_test(test_hist_p0_is_min_and_p100_is_max),
		cmocka_unit_test(test_hist_single_value),
		cmocka_unit_test(test_hist_overflow_clamps_into_top_bucket),
		cmocka_unit_test(test_hist_merge_equals_recording_both),
		cmocka_unit_test(test_hist_snapshot_equals_source),
		cmocka_unit_test(test_hist_reset_equals_init),
		cmocka_unit_test(test_hist_mean_is_exact),
		cmocka_unit_test(test_hist_reader_never_sees_count_ahead_of_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
