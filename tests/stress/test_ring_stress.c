/*
 * The channel protocol under stress, on two pinned threads (run under
 * TSan by `make tsan`): a client thread submits numbered requests through
 * a channel's request ring, a server thread answers each through the
 * response ring, both with the hand-off functions libnx and the worker
 * run (shm/shm_internal.h), both checking every sequence number and
 * payload. The
 * channel is a real sealed segment with private ring geometry, mapped
 * twice as nxd and a client map it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/control/segment.h"
#include "shm/shm_internal.h"


struct side {
	struct nx_chan_view v;
	uint64_t errors;
	uint64_t done;
	uint32_t window; /* client: requests in flight at most */
	uint64_t n;      /* requests in all */
	int cpu;
};

/* nxd's side, as the worker runs it: poll the slot expected next for its
 * lap, take it, answer in a reserved response slot, publish with the seq. */
static void *
server(void *arg)
{
	struct side *s = arg;
	uint64_t seq = 0;

	nx__thread_pin_self(s->cpu);
	while (seq < s->n) {
		const uint32_t head = s->v.req->c_head;
		struct nx_resp_desc *rs;
		struct nx_req_desc rq;
		uint64_t got;

		rs = nx__resp_reserve(&s->v);
		if (rs == NULL || !nx__req_ready(&s->v, head)) {
			nx__cpu_relax();
			continue;
		}
		nx__req_take(&s->v, head, &rq);
		memcpy(&got, rq.data, sizeof got);
		if (got != seq || head != (uint32_t)seq || rq.len != 8 ||
		    rq.pipeline != (uint8_t)(seq * 3))
			s->errors++;
		rs->status = 0;
		rs->len = 8;
		got = ~got;
		memcpy(rs->data, &got, sizeof got);
		nx__resp_publish(&s->v, rs, head);
		seq++;
	}
	s->done = seq;
	return NULL;
}

/* The client's side, as libnx runs it: room from its own counts (no read
 * of the worker's index), the lap written last; answers taken by their
 * slot's seq. */
static void *
client(void *arg)
{
	struct side *s = arg;
	uint64_t sent = 0, got = 0;

	nx__thread_pin_self(s->cpu);
	while (got < s->n) {
		while (sent < s->n && sent - got < s->window) {
			struct nx_req_desc *d = nx__req_slot(&s->v);

			d->pipeline = (uint8_t)(sent * 3);
			d->flags = 0;
			d->len = 8;
			memcpy(d->data, &sent, sizeof sent);
			nx__req_publish(&s->v, d);
			sent++;
		}
		while (nx__resp_ready(&s->v, s->v.resp->c_head)) {
			struct nx_resp_desc rs;
			uint64_t v;

			nx__resp_take(&s->v, s->v.resp->c_head, &rs);
			memcpy(&v, rs.data, sizeof v);
			if (rs.seq != (uint32_t)got || v != ~got)
				s->errors++;
			got++;
		}
	}
	s->done = got;
	return NULL;
}

static void
run(uint32_t window, uint64_t n)
{
	struct nx_chan_geom g;
	struct side a = { .cpu = 0, .n = n },
		    b = { .cpu = nx__cpu_count() > 1 ? 1 : 0, .window = window, .n = n };
	pthread_t ta, tb;

	assert_int_equal(nx__chan_geom(&g, (uint32_t)nx__page_size(), 128, 1 << 16, 4096), 0);
	assert_int_equal(nx__chan_create(&a.v, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	assert_int_equal(nx__chan_map(&b.v, dup(a.v.fd)), 0);
	assert_int_equal(pthread_create(&ta, NULL, server, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, client, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.errors, 0);
	assert_int_equal(b.errors, 0);
	assert_int_equal(a.done, n);
	assert_int_equal(b.done, n);
	nx__chan_unmap(&b.v);
	nx__chan_unmap(&a.v);
}

/* A window of 64 in a ring of 128; and the ring kept full (127, the most
 * libnx allows): the worker's copy of the client's index runs out and is
 * read again. 2M requests wrap the 8-bit lap 61 times; ping-pong's
 * 200k, 6 times. */
static void
test_every_request_answered_once_in_order_under_load(void **state)
{
	(void)state;
	run(64, 2000000);
}

static void
test_a_full_ring_keeps_its_order(void **state)
{
	(void)state;
	run(127, 2000000);
}

/* One at a time: every hop a hand-off of one line, the race of each flag
 * against its slot at its tightest. */
static void
test_ping_pong_hands_off_every_request(void **state)
{
	(void)state;
	run(1, 200000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_request_answered_once_in_order_under_load),
		cmocka_unit_test(test_a_full_ring_keeps_its_order),
		cmocka_unit_test(test_ping_pong_hands_off_every_request),
	};

	return cmocka_run_group_tests_name("ring_stress", tests, NULL, NULL);
}
