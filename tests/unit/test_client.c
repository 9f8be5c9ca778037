/*
 * libnx's contract, against an instance running in this process: a gate
 * stage holds answers back on demand, so that timeouts, late answers,
 * windows and shutdowns happen exactly when the test says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/pipeline/stages.h"
#include "core/nxd.h"
#include "shm/shm_internal.h"
#include "tests/patience.h"

/* ---- a stage that waits at a gate (bounded by the patience) ---- */

static uint32_t gate_open = 1;
static uint32_t gate_waiting;

static int
gate_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const uint64_t t0 = nx__clock_ns(), patience = patience_ns();

	(void)state;
	(void)ctx;
	ck_pr_store_32(&gate_waiting, 1);
	while (ck_pr_load_32(&gate_open) == 0 && nx__clock_ns() - t0 < patience)
		nx__cpu_relax();
	ck_pr_store_32(&gate_waiting, 0);
	if (m->in_len > m->out_cap)
		return NX_EOVERFLOW;
	memcpy(m->out, m->in, m->in_len);
	m->out_len = m->in_len;
	return 0;
}

static const struct nx_stage_ops gate_stage = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "gate", .process = gate_process,
};

static void
gate_close(void)
{
	ck_pr_store_32(&gate_open, 0);
}

static void
gate_release(void)
{
	ck_pr_store_32(&gate_open, 1);
}

/* @return whether a request came to the gate within the patience */
static bool
gate_wait_for_request(void)
{
	const uint64_t t0 = nx__clock_ns(), patience = patience_ns();

	while (ck_pr_load_32(&gate_waiting) == 0 && nx__clock_ns() - t0 < patience)
		usleep(100);
	return ck_pr_load_32(&gate_waiting) == 1;
}

/* ---- the instance ---- */

struct fx {
	struct nx_instance *inst;
	pthread_t control;
	int rc;
	char name[64];
	uint16_t echo;
	uint16_t gate;
	struct nx_client *c;
};

static void *
control(void *arg)
{
	struct fx *f = arg;

	f->rc = nx__instance_run(f->inst, false);
	return NULL;
}

static int
setup_idle(void **state, uint32_t idle)
{
	static bool registered;
	static int n;
	struct nx_instance_conf conf;
	struct fx *f = calloc(1, sizeof *f);
	int id;

	nx__instance_conf_default(&conf);
	snprintf(conf.instance, sizeof conf.instance, "nxt-client-%d-%d", (int)getpid(), n++);
	conf.workers = 1;
	conf.max_channels = 4;
	conf.ring_size = 16; /* a small window: 15 outstanding */
	conf.quiet = true;
	conf.idle = idle;
	if (nx__instance_create(&f->inst, &conf) < 0) {
		fprintf(stderr, "%s\n", nx__errmsg());
		return -1;
	}
	if (!registered && nx__stage_register(&gate_stage) < 0)
		return -1;
	registered = true;
	id = nx__instance_add_pipeline_text(f->inst, "gate", "graph = gate");
	if (id < 0)
		return -1;
	snprintf(f->name, sizeof f->name, "%s", conf.instance);
	gate_release();
	if (pthread_create(&f->control, NULL, control, f) != 0)
		return -1;
	if (nx_open(&f->c, f->name, NULL) < 0)
		return -1;
	f->echo = (uint16_t)nx_pipeline_id(f->c, "echo");
	f->gate = (uint16_t)nx_pipeline_id(f->c, "gate");
	if (f->gate != id)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_idle(state, NX_WAIT_SPIN);
}

/* A worker that sleeps when idle: each call rings its doorbell. */
static int
setup_sleeping(void **state)
{
	return setup_idle(state, NX_WAIT_SLEEP);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	gate_release();
	if (f->c != NULL)
		nx_close(f->c);
	nx__instance_stop(f->inst);
	pthread_join(f->control, NULL);
	nx__instance_destroy(f->inst);
	free(f);
	return 0;
}

static int
submit(struct fx *f, uint16_t pipe, const char *s, void *out, uint32_t cap, uint64_t ud)
{
	struct nx_req r = { .in = s, .in_len = (uint32_t)strlen(s), .out = out, .out_cap = cap,
			    .user_data = ud, .pipeline = pipe };

	return nx_submit(f->c, &r);
}

/* ---- tests ---- */

static void
test_call_that_timed_out_never_delivers_its_late_answer(void **state)
{
	struct fx *f = *state;
	char out[64] = { 0 };
	uint32_t len = 0;

	gate_close();
	assert_int_equal(nx_call(f->c, f->gate, "first", 5, out, sizeof out, &len, 2000000),
			 NX_ETIMEDOUT);
	assert_int_equal(nx_outstanding(f->c), 1); /* still in flight */
	assert_true(gate_wait_for_request());
	gate_release();
	/* the next call gets its own answer; the first is swallowed on the way */
	assert_int_equal(nx_call(f->c, f->echo, "second", 6, out, sizeof out, &len, patience_ns()), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "second", 6);
	assert_int_equal(nx_outstanding(f->c), 0);
}

static void
test_call_refuses_while_submitted_requests_are_outstanding(void **state)
{
	struct fx *f = *state;
	struct nx_completion comp;
	char out[8], o2[8];
	uint32_t len;

	assert_int_equal(submit(f, f->echo, "a", out, sizeof out, 1), 0);
	assert_int_equal(nx_call(f->c, f->echo, "b", 1, o2, sizeof o2, &len, 1000000000), NX_EINVAL);
	assert_int_equal(nx_wait(f->c, &comp, 1, patience_ns()), 1);
	assert_int_equal(comp.user_data, 1);
	assert_int_equal(nx_call(f->c, f->echo, "b", 1, o2, sizeof o2, &len, patience_ns()), 0);
}

/* One call both ways: nx_call, and nx_submit then nx_wait; the same
 * status, length and bytes, and nothing written past the buffer. */
static void
call_both_ways(struct fx *f, uint16_t pipe, const uint8_t *in, uint32_t in_len, uint32_t cap)
{
	static uint8_t a[1024 + 64], b[1024 + 64];
	struct nx_req r = { .in = in, .in_len = in_len, .out = b, .out_cap = cap, .pipeline = pipe };
	struct nx_completion comp;
	uint32_t len = 12345;
	int rc;

	memset(a, 0xaa, sizeof a);
	memset(b, 0xbb, sizeof b);
	rc = nx_call(f->c, pipe, in, in_len, a, cap, &len, patience_ns());
	assert_int_equal(nx_submit(f->c, &r), 0);
	assert_int_equal(nx_wait(f->c, &comp, 1, patience_ns()), 1);
	if (rc != comp.status)
		fail_msg("in %u, cap %u: nx_call %s, submit and wait %s", in_len, cap,
			 nx_err_name(rc), nx_err_name(comp.status));
	assert_int_equal(len, comp.out_len); /* the size needed for an overflow, else 0 */
	if (rc == 0) {
		assert_int_equal(len, in_len); /* echo */
		assert_memory_equal(a, in, in_len);
		assert_memory_equal(b, in, in_len);
	}
	/* nothing written past the answer; on an error, nothing at all */
	for (uint32_t i = rc == 0 ? len : 0; i < cap + 64; i++)
		if (a[i] != 0xaa)
			fail_msg("in %u, cap %u (%s): byte %u written", in_len, cap, nx_err_name(rc), i);
	assert_int_equal(nx_outstanding(f->c), 0);
}

/* Calls until one takes the short way (bounded: a loaded machine may
 * send the first ones the long way, never all of them for a minute). */
static void
call_until_short(struct fx *f, const uint8_t *in)
{
	const uint64_t before = nx__client_short_calls(f->c), t0 = nx__clock_ns();
	unsigned n;

	for (n = 0; n < 1000000 && nx__client_short_calls(f->c) == before &&
		    nx__clock_ns() - t0 < 60000000000ull;
	     n++)
		call_both_ways(f, f->echo, in, 64, 64);
	assert_true(nx__client_short_calls(f->c) > before);
}

/* nx_call has a short way (payload and answer within the slot's
 * extension) and a long way (the rest, or an answer that is slow): at
 * every size on either side of each border, both ways and submit/wait
 * agree; so do the calls the short way refuses. */
static void
test_call_answers_as_submit_and_wait_do_at_every_size(void **state)
{
	static const uint32_t sizes[] = { 0, 1, 55, 56, 57, 64, 191, 192, 193, 1000 };
	static uint8_t in[1024];
	struct fx *f = *state;
	uint8_t out[8];
	uint32_t len;
	unsigned i, j;

	for (i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (j = 0; j < sizeof sizes / sizeof sizes[0]; j++)
			call_both_ways(f, f->echo, in, sizes[i], sizes[j]);
	call_until_short(f, in); /* the comparison above did see the short way */
	/* no such pipeline, by an id the descriptor's byte holds or not */
	call_both_ways(f, 200, in, 8, 8);
	call_both_ways(f, 300, in, 8, 8);
	/* refused before anything is sent */
	assert_int_equal(nx_call(f->c, f->echo, NULL, 3, out, sizeof out, &len, 1000000000),
			 NX_EINVAL);
	assert_int_equal(nx_call(f->c, f->echo, "abc", 3, NULL, 8, &len, 1000000000), NX_EINVAL);
	assert_int_equal(nx_call(f->c, f->echo, in, nx_max_payload(f->c) + 1, out, 8, &len,
				 1000000000),
			 NX_E2BIG);
	assert_int_equal(nx_outstanding(f->c), 0);
	/* a zero timeout does not wait for an answer held back; the next
	 * call gets its own answer, not that one */
	gate_close();
	assert_int_equal(nx_call(f->c, f->gate, "late", 4, out, sizeof out, &len, 0), NX_ETIMEDOUT);
	assert_true(gate_wait_for_request());
	gate_release();
	assert_int_equal(nx_call(f->c, f->echo, "own", 3, out, sizeof out, &len, patience_ns()), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "own", 3);
	/* the late answer drained with it: the short way again */
	call_until_short(f, in);
}

/* A payload of 65 to 192 bytes covers two or three of its extension's
 * lines: the client owns that many of the next request's ahead, and
 * fetches that many of the next answer's, as the last ones took, by
 * nx_call's short way and by submit and wait alike. */
static void
test_client_asks_ahead_for_the_extension_lines_payloads_take(void **state)
{
	static const struct {
		uint32_t len;
		unsigned lines;
	} cases[] = { { 57, 1 }, { 64, 1 }, { 65, 2 }, { 128, 2 }, { 129, 3 }, { 192, 3 }, { 100, 2 } };
	static uint8_t in[192], out[192];
	struct nx_completion comp;
	struct fx *f = *state;
	struct nx_req rq = { .in = in, .in_len = 150, .out = out, .out_cap = 70,
			     .pipeline = f->echo };
	unsigned i, own, fetch;
	uint32_t len;

	for (i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 5 + 3);
	nx__client_ext_lines(f->c, &own, &fetch);
	assert_int_equal(own, 0); /* nothing asked ahead before an extension was used */
	assert_int_equal(fetch, 0);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(nx_call(f->c, f->echo, in, cases[i].len, out, cases[i].len, &len,
					 patience_ns()),
				 0);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(out, in, len);
		nx__client_ext_lines(f->c, &own, &fetch);
		assert_int_equal(own, cases[i].lines);
		assert_int_equal(fetch, cases[i].lines);
	}
	/* submit and wait: a 150-byte request, a 70-byte room for its answer */
	assert_int_equal(nx_submit(f->c, &rq), 0);
	assert_int_equal(nx_wait(f->c, &comp, 1, patience_ns()), 1);
	assert_int_equal(comp.status, NX_EOVERFLOW); /* the echo is longer than the room */
	nx__client_ext_lines(f->c, &own, &fetch);
	assert_int_equal(own, 3);
	assert_int_equal(fetch, 3); /* the answer took three lines all the same */
	rq.in_len = 70;
	assert_int_equal(nx_submit(f->c, &rq), 0);
	assert_int_equal(nx_wait(f->c, &comp, 1, patience_ns()), 1);
	assert_int_equal(comp.status, 0);
	nx__client_ext_lines(f->c, &own, &fetch);
	assert_int_equal(own, 2);
	assert_int_equal(fetch, 2);
	/* inline payloads leave the last extension's count as it was */
	assert_int_equal(nx_call(f->c, f->echo, in, 8, out, 8, &len, patience_ns()), 0);
	nx__client_ext_lines(f->c, &own, &fetch);
	assert_int_equal(own, 2);
	assert_int_equal(fetch, 2);
}

/* A poll that finds nothing reads its own lines only, and the worker's
 * response index once a slow look (one poll in NX_CHECK_EVERY empty
 * ones). A slow look that stayed armed read that index, the worker's
 * line, on every empty poll after the first 256: each call of submit and
 * wait then fetched it between its request and its answer. */
static void
test_empty_polls_read_the_workers_index_once_a_slow_look(void **state)
{
	const unsigned polls = 64 * NX_CHECK_EVERY;
	struct nx_completion comps[4];
	struct fx *f = *state;
	uint64_t before, looks;
	uint8_t out[8];
	uint32_t len;
	unsigned i;

	for (int round = 0; round < 2; round++) {
		before = nx__client_index_looks(f->c);
		for (i = 0; i < polls; i++)
			assert_int_equal(nx_poll(f->c, comps, 4), 0);
		looks = nx__client_index_looks(f->c) - before;
		if (looks + 1 < polls / NX_CHECK_EVERY || looks > polls / NX_CHECK_EVERY + 1)
			fail_msg("%u empty polls read the index %llu times, not %u", polls,
				 (unsigned long long)looks, polls / NX_CHECK_EVERY);
		/* and the same after answers came */
		assert_int_equal(nx_call(f->c, f->echo, "abc", 3, out, sizeof out, &len,
					 patience_ns()),
				 0);
		assert_int_equal(len, 3);
	}
}

/* A thread's: it may not assert (cmocka's failures are the test's
 * thread's). @return non-NULL when no request came */
static void *
release_when_held(void *arg)
{
	const bool held = gate_wait_for_request();

	(void)arg;
	gate_release();
	return held ? NULL : (void *)1;
}

/* An answer that comes after the short way's looks, within the timeout:
 * the call goes on the long way and gets it, in the extension. */
static void
test_call_gets_an_answer_that_comes_late(void **state)
{
	static uint8_t in[64], out[64];
	struct fx *f = *state;
	void *none = NULL;
	pthread_t t;
	uint32_t len = 0;
	unsigned i;

	for (i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i + 1);
	gate_close();
	assert_int_equal(pthread_create(&t, NULL, release_when_held, NULL), 0);
	assert_int_equal(nx_call(f->c, f->gate, in, sizeof in, out, sizeof out, &len, patience_ns()),
			 0);
	assert_int_equal(pthread_join(t, &none), 0);
	assert_null(none);
	assert_int_equal(len, sizeof in);
	assert_memory_equal(out, in, sizeof in);
	assert_int_equal(nx_outstanding(f->c), 0);
}

static void
test_completions_come_in_submission_order_with_user_data(void **state)
{
	struct fx *f = *state;
	struct nx_completion comps[16];
	char outs[10][8];
	unsigned i, got = 0;

	for (i = 0; i < 10; i++) {
		char in[8];

		snprintf(in, sizeof in, "r%u", i);
		assert_int_equal(submit(f, i % 3 == 0 ? f->gate : f->echo, in, outs[i], 8, 100 + i), 0);
	}
	while (got < 10) {
		int n = nx_wait(f->c, comps, 16, patience_ns());

		assert_true(n > 0);
		for (i = 0; i < (unsigned)n; i++, got++) {
			char want[8];

			snprintf(want, sizeof want, "r%u", got);
			assert_int_equal(comps[i].user_data, 100 + got);
			assert_int_equal(comps[i].status, 0);
			assert_int_equal(comps[i].out_len, strlen(want));
			assert_memory_equal(outs[got], want, strlen(want));
		}
	}
}

static void
test_window_full_says_would_block_until_polled(void **state)
{
	struct fx *f = *state;
	struct nx_completion comps[32];
	struct nx_req reqs[20];
	char out[20][8];
	unsigned i, done;
	int n;

	gate_close();
	for (i = 0; i < 20; i++)
		reqs[i] = (struct nx_req){ .in = "x", .in_len = 1, .out = out[i], .out_cap = 8,
					   .user_data = i, .pipeline = f->gate };
	/* a batch stops at the first request that cannot go */
	assert_int_equal(nx_submit_batch(f->c, reqs, 20, &done), NX_EAGAIN);
	assert_int_equal(done, nx_capacity(f->c));
	assert_int_equal(done, 15);
	assert_int_equal(nx_submit(f->c, &reqs[15]), NX_EAGAIN);
	/* nothing comes while the gate is shut; a wait times out */
	assert_int_equal(nx_wait(f->c, comps, 32, 1000000), NX_ETIMEDOUT);
	assert_int_equal(nx_poll(f->c, comps, 32), 0);
	gate_release();
	for (done = 0; done < 15; done += (unsigned)n) {
		n = nx_wait(f->c, comps, 32, patience_ns());
		assert_true(n > 0);
		for (i = 0; i < (unsigned)n; i++)
			assert_int_equal(comps[i].user_data, done + i);
	}
	assert_int_equal(nx_outstanding(f->c), 0);
	assert_int_equal(nx_submit(f->c, &reqs[15]), 0);
	assert_int_equal(nx_wait(f->c, comps, 32, patience_ns()), 1);
}

static void
test_answer_larger_than_the_buffer_is_an_overflow(void **state)
{
	struct fx *f = *state;
	struct nx_completion comp;
	char out[4];

	assert_int_equal(submit(f, f->echo, "too long", out, sizeof out, 9), 0);
	assert_int_equal(nx_wait(f->c, &comp, 1, patience_ns()), 1);
	assert_int_equal(comp.status, NX_EOVERFLOW);
	assert_int_equal(comp.out_len, 8); /* the size it would have needed */
}

static void
test_bad_arguments_are_refused(void **state)
{
	struct fx *f = *state;
	struct nx_completion comp;
	struct nx_req r = { .in = NULL, .in_len = 3, .out = NULL, .out_cap = 0, .pipeline = f->echo };
	char out[8];

	assert_int_equal(nx_submit(f->c, &r), NX_EINVAL);
	r = (struct nx_req){ .in = "x", .in_len = 1, .out = out, .out_cap = 8, .flags = 0x80,
			     .pipeline = f->echo };
	assert_int_equal(nx_submit(f->c, &r), NX_EINVAL);
	assert_int_equal(nx_submit(NULL, &r), NX_EINVAL);
	assert_int_equal(nx_poll(NULL, &comp, 1), NX_EINVAL);
	assert_int_equal(nx_wait(f->c, NULL, 1, 0), NX_EINVAL);
	assert_int_equal(nx_close(NULL), NX_EINVAL);
	assert_int_equal(nx_pipeline_id(f->c, NULL), NX_EINVAL);
	assert_string_equal(nx_strerror(NX_EAGAIN), "would block: ring full or window exhausted");
	assert_string_equal(nx_err_name(NX_ERESTARTED), "ERESTARTED");
	assert_string_equal(nx_strerror(-999), "unknown error");
}

static void
test_outstanding_requests_complete_with_shutdown_when_nxd_stops(void **state)
{
	struct fx *f = *state;
	struct nx_completion comps[8];
	char out[3][8];
	int n, i;

	gate_close();
	assert_int_equal(submit(f, f->gate, "a", out[0], 8, 1), 0);
	assert_true(gate_wait_for_request());
	assert_int_equal(submit(f, f->echo, "b", out[1], 8, 2), 0);
	assert_int_equal(submit(f, f->echo, "c", out[2], 8, 3), 0);
	nx__instance_stop(f->inst);
	gate_release(); /* the taken request is answered; the others never run */
	pthread_join(f->control, NULL);
	for (i = 0; i < 3;) {
		n = nx_wait(f->c, comps, 8, patience_ns());
		assert_true(n > 0);
		for (int k = 0; k < n; k++, i++) {
			assert_int_equal(comps[k].user_data, (uint64_t)i + 1);
			assert_int_equal(comps[k].status, i == 0 ? 0 : NX_ESHUTDOWN);
		}
	}
	assert_int_equal(submit(f, f->echo, "d", out[0], 8, 4), NX_ESHUTDOWN);
}

static int
teardown_stopped(void **state)
{
	struct fx *f = *state;

	gate_release();
	nx_close(f->c);
	nx__instance_destroy(f->inst);
	free(f);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_that_timed_out_never_delivers_its_late_answer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_refuses_while_submitted_requests_are_outstanding,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_answers_as_submit_and_wait_do_at_every_size,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_answers_as_submit_and_wait_do_at_every_size,
						setup_sleeping, teardown),
		cmocka_unit_test_setup_teardown(test_empty_polls_read_the_workers_index_once_a_slow_look,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_asks_ahead_for_the_extension_lines_payloads_take,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_gets_an_answer_that_comes_late, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_completions_come_in_submission_order_with_user_data,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_full_says_would_block_until_polled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_answer_larger_than_the_buffer_is_an_overflow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outstanding_requests_complete_with_shutdown_when_nxd_stops,
						setup, teardown_stopped),
	};

	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
