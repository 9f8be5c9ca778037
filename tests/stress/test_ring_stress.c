/*
 * The channel protocol under stress, on two pinned threads (run under
 * TSan by `make tsan`): a client thread submits numbered requests through
 * a channel's request ring, a server thread answers each through the
 * response ring, both check every sequence number and payload. The
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

#define N 2000000u

struct side {
	struct nx_chan_view v;
	uint64_t errors;
	uint64_t done;
	int cpu;
};

static void *
server(void *arg)
{
	struct side *s = arg;
	uint64_t seq = 0;

	nx__thread_pin_self(s->cpu);
	while (seq < N) {
		struct nx_resp_desc *rs;
		struct nx_req_desc rq;
		uint64_t got;

		rs = ck_ring_enqueue_reserve_spsc_nx_resp(s->v.resp, s->v.resp_slots);
		if (rs == NULL || !ck_ring_dequeue_spsc_nx_req(s->v.req, s->v.req_slots, &rq)) {
			nx__cpu_relax();
			continue;
		}
		memcpy(&got, rq.data, sizeof got);
		if (got != seq || rq.len != 8 || rq.pipeline != (uint16_t)(seq * 3))
			s->errors++;
		rs->seq = (uint32_t)seq;
		rs->status = 0;
		rs->len = 8;
		got = ~got;
		memcpy(rs->data, &got, sizeof got);
		ck_ring_enqueue_commit_spsc(s->v.resp);
		seq++;
	}
	s->done = seq;
	return NULL;
}

static void *
client(void *arg)
{
	struct side *s = arg;
	uint64_t sent = 0, got = 0;

	nx__thread_pin_self(s->cpu);
	while (got < N) {
		struct nx_resp_desc rs;

		while (sent < N && sent - got < 64) {
			struct nx_req_desc *d = ck_ring_enqueue_reserve_spsc_nx_req(s->v.req, s->v.req_slots);

			if (d == NULL)
				break;
			d->pipeline = (uint16_t)(sent * 3);
			d->flags = 0;
			d->len = 8;
			memcpy(d->data, &sent, sizeof sent);
			ck_ring_enqueue_commit_spsc(s->v.req);
			sent++;
		}
		while (ck_ring_dequeue_spsc_nx_resp(s->v.resp, s->v.resp_slots, &rs)) {
			uint64_t v;

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
test_every_request_answered_once_in_order_under_load(void **state)
{
	struct nx_chan_geom g;
	struct side a = { .cpu = 0 }, b = { .cpu = nx__cpu_count() > 1 ? 1 : 0 };
	pthread_t ta, tb;

	(void)state;
	assert_int_equal(nx__chan_geom(&g, (uint32_t)nx__page_size(), 128, 1 << 16, 4096), 0);
	assert_int_equal(nx__chan_create(&a.v, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	assert_int_equal(nx__chan_map(&b.v, dup(a.v.fd)), 0);
	assert_int_equal(pthread_create(&ta, NULL, server, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, client, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.errors, 0);
	assert_int_equal(b.errors, 0);
	assert_int_equal(a.done, N);
	assert_int_equal(b.done, N);
	nx__chan_unmap(&b.v);
	nx__chan_unmap(&a.v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_request_answered_once_in_order_under_load),
	};

	return cmocka_run_group_tests_name("ring_stress", tests, NULL, NULL);
}
