/*
 * libnx's retry rule, with the test's own clock and dice: which errors
 * are tried again, how long the backoff is, where the attempts and the
 * deadline stop it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nx/nx.h>

#include "shm/retry.h"

static void
test_errors_that_never_ran_are_retried_for_every_request(void **state)
{
	const struct nx_retry r = { .attempts = 5 };

	(void)state;
	assert_true(nx_err_retryable(NX_EAGAIN, 0));
	assert_true(nx_err_retryable(NX_ERATELIMIT, 0));
	assert_true(nx_err_retryable(NX_EBREAKER, 0));
	assert_int_not_equal(nx__retry_next(&r, NX_ERATELIMIT, 1, 0, 7), NX_RETRY_STOP);
	assert_int_not_equal(nx__retry_next(&r, NX_EBREAKER, 1, 0, 7), NX_RETRY_STOP);
}

static void
test_errors_after_it_may_have_run_only_when_idempotent(void **state)
{
	const struct nx_retry once = { .attempts = 5 };
	const struct nx_retry idem = { .attempts = 5, .flags = NX_REQ_IDEMPOTENT };
	const int may_have_run[] = { NX_ERESTARTED, NX_ESTAGE, NX_EOVERBUDGET, NX_ETIMEDOUT };
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof may_have_run / sizeof may_have_run[0]; i++) {
		assert_false(nx_err_retryable(may_have_run[i], 0));
		assert_true(nx_err_retryable(may_have_run[i], 1));
		assert_int_equal(nx__retry_next(&once, may_have_run[i], 1, 0, 7), NX_RETRY_STOP);
		assert_int_not_equal(nx__retry_next(&idem, may_have_run[i], 1, 0, 7), NX_RETRY_STOP);
	}
}

static void
test_errors_that_would_repeat_are_never_retried(void **state)
{
	const struct nx_retry idem = { .attempts = 5, .flags = NX_REQ_IDEMPOTENT };
	const int final[] = { NX_EINVAL, NX_ENOPIPE, NX_EBADDESC, NX_E2BIG, NX_EFAULT,
			      NX_EQUARANTINE, NX_EEXPIRED, NX_EOVERFLOW, NX_ESHUTDOWN, NX_ECLOSED };
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof final / sizeof final[0]; i++) {
		assert_false(nx_err_retryable(final[i], 1));
		assert_int_equal(nx__retry_next(&idem, final[i], 1, 0, 7), NX_RETRY_STOP);
	}
	assert_int_equal(nx__retry_next(&idem, 0, 1, 0, 7), NX_RETRY_STOP); /* answered */
}

static void
test_attempts_bound_the_tries(void **state)
{
	const struct nx_retry r = { .attempts = 3 };
	const struct nx_retry dflt = { 0 };

	(void)state;
	assert_int_not_equal(nx__retry_next(&r, NX_EBREAKER, 1, 0, 0), NX_RETRY_STOP);
	assert_int_not_equal(nx__retry_next(&r, NX_EBREAKER, 2, 0, 0), NX_RETRY_STOP);
	assert_int_equal(nx__retry_next(&r, NX_EBREAKER, 3, 0, 0), NX_RETRY_STOP);
	/* 0 means 3 */
	assert_int_not_equal(nx__retry_next(&dflt, NX_EBREAKER, 2, 0, 0), NX_RETRY_STOP);
	assert_int_equal(nx__retry_next(&dflt, NX_EBREAKER, 3, 0, 0), NX_RETRY_STOP);
}

static void
test_backoff_doubles_to_its_cap_with_full_jitter(void **state)
{
	const struct nx_retry r = { .attempts = 100, .base_ns = 100, .max_ns = 1000 };
	const uint64_t ceil[] = { 0, 100, 200, 400, 800, 1000, 1000 };
	uint32_t tried;

	(void)state;
	for (tried = 1; tried <= 6; tried++) {
		/* uniform in [0, ceiling]: the top is reachable, one more wraps to 0 */
		assert_int_equal(nx__retry_next(&r, NX_EAGAIN, tried, 0, ceil[tried]), ceil[tried]);
		assert_int_equal(nx__retry_next(&r, NX_EAGAIN, tried, 0, ceil[tried] + 1), 0);
		assert_int_equal(nx__retry_next(&r, NX_EAGAIN, tried, 0, 0), 0);
	}
	/* many attempts: capped, no overflow */
	assert_int_equal(nx__retry_next(&r, NX_EAGAIN, 99, 0, 1000), 1000);
	{
		const struct nx_retry big = { .attempts = 200, .base_ns = UINT64_MAX / 4,
					      .max_ns = UINT64_MAX };

		assert_true(nx__retry_next(&big, NX_EAGAIN, 150, 0, 12345) <= UINT64_MAX);
	}
	/* defaults: 50 us first, 50 ms at most */
	{
		const struct nx_retry dflt = { .attempts = 100 };

		assert_int_equal(nx__retry_next(&dflt, NX_EAGAIN, 1, 0, 50000), 50000);
		assert_int_equal(nx__retry_next(&dflt, NX_EAGAIN, 1, 0, 50001), 0);
		assert_int_equal(nx__retry_next(&dflt, NX_EAGAIN, 60, 0, 50000000), 50000000);
	}
}

static void
test_no_attempt_starts_past_the_deadline(void **state)
{
	const struct nx_retry r = { .attempts = 10, .base_ns = 1000, .max_ns = 1000,
				    .deadline_ns = 10000 };

	(void)state;
	/* delay 999 from 9000: starts at 9999, before the deadline */
	assert_int_equal(nx__retry_next(&r, NX_EAGAIN, 1, 9000, 999), 999);
	/* delay 1000 from 9000: would start at the deadline itself */
	assert_int_equal(nx__retry_next(&r, NX_EAGAIN, 1, 9000, 1000), NX_RETRY_STOP);
	assert_int_equal(nx__retry_next(&r, NX_EAGAIN, 1, 10000, 0), NX_RETRY_STOP);
	assert_int_equal(nx__retry_next(&r, NX_EAGAIN, 1, 20000, 0), NX_RETRY_STOP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_that_never_ran_are_retried_for_every_request),
		cmocka_unit_test(test_errors_after_it_may_have_run_only_when_idempotent),
		cmocka_unit_test(test_errors_that_would_repeat_are_never_retried),
		cmocka_unit_test(test_attempts_bound_the_tries),
		cmocka_unit_test(test_backoff_doubles_to_its_cap_with_full_jitter),
		cmocka_unit_test(test_no_attempt_starts_past_the_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
