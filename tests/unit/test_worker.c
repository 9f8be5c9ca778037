/*
 * The worker's view of a request: every descriptor a client can write is
 * checked on the worker's own copy; what is wrong gets an error answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/datapath/crc32c.h"
#include "core/pipeline/pipe.h"
#include "core/pipeline/stages.h"
#include "core/control/segment.h"
#include "core/datapath/worker.h"

uint32_t nx__crc32c_sw(uint32_t crc, const void *buf, size_t len);

struct fixture {
	struct nx_worker w;
	struct nx_wchan ch;
	struct nx_pipetab pipes;
	struct nx_health_chan hc;
	struct nx_health_worker hw;
};

static const struct nx_build_env env = { .max_payload = 4096, .scratch_bytes = 65536 };

static struct nx_pipeline *
build(const char *name, const char *text)
{
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	struct nx_pipeline *p = NULL;

	assert_non_null(spec);
	assert_int_equal(nx__spec_init(spec, name), 0);
	assert_int_equal(nx__spec_parse_text(spec, text), 0);
	assert_int_equal(nx__spec_finish(spec), 0);
	assert_int_equal(nx__pipeline_build(&p, spec, &env), 0);
	free(spec);
	return p;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct nx_chan_geom g;

	assert_non_null(f);
	assert_int_equal(nx__chan_geom(&g, (uint32_t)nx__page_size(), 64, 1 << 16, 4096), 0);
	assert_int_equal(nx__chan_create(&f->ch.v, &g, 0, 0, NX_WAIT_SPIN, 1), 0);
	f->ch.hc = &f->hc;
	f->w.hw = &f->hw;
	f->w.scratch_cap = 65536;
	f->w.max_payload = 4096;
	f->w.scratch = malloc(65536);
	f->pipes.p[0] = build("echo", "graph = echo");
	f->pipes.p[1] = build("checksum", "graph = checksum");
	f->pipes.p[2] = build("chain", "graph = seq(e1, e2, checksum)\ne1.stage = echo\ne2.stage = echo");
	f->pipes.n = 3;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i < f->pipes.n; i++)
		nx__pipeline_destroy(f->pipes.p[i], &env);
	nx__chan_unmap(&f->ch.v);
	free(f->w.scratch);
	free(f);
	return 0;
}

static int
serve(struct fixture *f, const struct nx_req_desc *rq, struct nx_resp_desc *rs)
{
	memset(rs, 0xee, sizeof *rs);
	return nx__worker_serve(&f->w, &f->ch, &f->pipes, rq, rs, 41, 7);
}

static struct nx_req_desc
arena_req(uint16_t pipe, uint32_t in_off, uint32_t in_len, uint32_t out_off, uint32_t out_cap)
{
	struct nx_req_desc rq = { .pipeline = pipe, .flags = NX_DESC_ARENA };
	struct nx_req_arena ar = { in_off, in_len, out_off, out_cap };

	memcpy(rq.data, &ar, sizeof ar);
	return rq;
}

static void
test_serve_echoes_an_inline_payload(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .len = 5 };
	struct nx_resp_desc rs;

	memcpy(rq.data, "hello", 5);
	assert_int_equal(serve(f, &rq, &rs), 0);
	assert_int_equal(rs.seq, 41);
	assert_int_equal(rs.status, 0);
	assert_int_equal(rs.len, 5);
	assert_int_equal(rs.flags, 0);
	assert_memory_equal(rs.data, "hello", 5);
}

static void
test_serve_checksums_an_arena_payload(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = arena_req(1, 128, 1000, 2048, 64);
	struct nx_resp_desc rs;
	uint32_t out_len, crc;
	unsigned i;

	for (i = 0; i < 1000; i++)
		f->ch.v.arena[128 + i] = (uint8_t)(i * 7);
	assert_int_equal(serve(f, &rq, &rs), 0);
	assert_int_equal(rs.flags, NX_RESP_ARENA);
	memcpy(&out_len, rs.data, 4);
	assert_int_equal(out_len, 4);
	memcpy(&crc, f->ch.v.arena + 2048, 4);
	assert_int_equal(crc, nx__crc32c_sw(0, f->ch.v.arena + 128, 1000));
}

static void
test_serve_runs_a_sequence_through_scratch(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 2, .len = 9 };
	struct nx_resp_desc rs;
	uint32_t crc;

	memcpy(rq.data, "123456789", 9);
	assert_int_equal(serve(f, &rq, &rs), 0);
	assert_int_equal(rs.len, 4);
	memcpy(&crc, rs.data, 4);
	assert_int_equal(crc, 0xE3069283u);
}

static void
test_serve_takes_payload_and_answer_through_the_extensions(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .flags = NX_DESC_EXT | NX_DESC_OUT_EXT, .len = 150 };
	struct nx_resp_desc rs;
	uint8_t *in = f->ch.v.req_ext + (41 % 64) * NX_EXT_BYTES;  /* seq 41's slot */
	uint8_t *out = f->ch.v.resp_ext + 7 * NX_EXT_BYTES;       /* response slot 7 */
	unsigned i;

	for (i = 0; i < 150; i++)
		in[i] = (uint8_t)(i ^ 0x3c);
	assert_int_equal(serve(f, &rq, &rs), 0);
	assert_int_equal(rs.flags, NX_RESP_EXT);
	assert_int_equal(rs.len, 150);
	assert_memory_equal(out, in, 150);
	/* inline input, answer in the extension */
	rq = (struct nx_req_desc){ .pipeline = 0, .flags = NX_DESC_OUT_EXT, .len = 3 };
	memcpy(rq.data, "abc", 3);
	assert_int_equal(serve(f, &rq, &rs), 0);
	assert_int_equal(rs.flags, NX_RESP_EXT);
	assert_memory_equal(out, "abc", 3);
}

static void
test_serve_rejects_extension_length_past_the_extension(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .flags = NX_DESC_EXT, .len = NX_EXT_BYTES + 1 };
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	/* an arena request may not also claim extensions */
	rq = arena_req(0, 0, 10, 64, 64);
	rq.flags |= NX_DESC_EXT;
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
}

static void
test_serve_rejects_unknown_pipeline(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 3 };
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_ENOPIPE);
	assert_int_equal(rs.status, NX_ENOPIPE);
	assert_int_equal(rs.len, 0);
	rq.pipeline = 0xff;
	assert_int_equal(serve(f, &rq, &rs), NX_ENOPIPE);
	assert_int_equal(f->w.errors[NX_WERR_NOPIPE], 2);
}

static void
test_serve_rejects_unknown_flags(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .flags = 0x80 };
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	assert_int_equal(rs.status, NX_EBADDESC);
}

static void
test_serve_rejects_inline_length_past_the_descriptor(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .len = 57 };
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	rq.len = 255;
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
}

static void
test_serve_rejects_length_beyond_the_arena(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = arena_req(0, 0, 5000, 8192, 64); /* > max payload 4096 */
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	rq = arena_req(0, 65536 - 100, 200, 0, 64); /* runs past the end */
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
}

static void
test_serve_rejects_offset_out_of_bounds(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = arena_req(0, 1u << 20, 10, 0, 64);
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	/* 32-bit wrap: offset + length overflows to a small number */
	rq = arena_req(0, 0xfffffff0u, 0x20, 0, 64);
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	rq = arena_req(0, 0, 10, 0xffffffc0u, 0x80);
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	/* inline length must be 0 for arena requests */
	rq = arena_req(0, 0, 10, 64, 64);
	rq.len = 3;
	assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
	assert_int_equal(f->w.errors[NX_WERR_BADDESC], 4);
}

static void
test_serve_refuses_input_and_output_that_overlap(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad[][4] = {
		/* in_off, in_len, out_off, out_cap */
		{ 0, 100, 0, 100 },    /* the same region */
		{ 0, 100, 50, 100 },   /* output starts inside the input */
		{ 100, 100, 50, 100 }, /* input starts inside the output */
		{ 64, 10, 0, 1000 },   /* input inside the output */
		{ 0, 1000, 64, 10 },   /* output inside the input */
		{ 0, 100, 99, 1 },     /* one byte in common */
	};
	struct nx_req_desc rq;
	struct nx_resp_desc rs;
	unsigned i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rq = arena_req(0, bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
		assert_int_equal(serve(f, &rq, &rs), NX_EBADDESC);
		assert_int_equal(rs.status, NX_EBADDESC);
	}
	assert_int_equal(f->w.errors[NX_WERR_BADDESC], i);
	/* adjacent regions, or an empty one, are fine */
	rq = arena_req(0, 0, 100, 100, 100);
	assert_int_equal(serve(f, &rq, &rs), 0);
	rq = arena_req(0, 200, 100, 100, 100);
	assert_int_equal(serve(f, &rq, &rs), 0);
	rq = arena_req(0, 50, 0, 0, 100);
	assert_int_equal(serve(f, &rq, &rs), 0);
}

static void
test_serve_reports_output_overflow(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = arena_req(0, 0, 100, 128, 50); /* echo 100 into 50 */
	struct nx_resp_desc rs;

	assert_int_equal(serve(f, &rq, &rs), NX_EOVERFLOW);
	assert_int_equal(rs.status, NX_EOVERFLOW);
	rq = arena_req(1, 0, 100, 128, 3); /* checksum needs 4 */
	assert_int_equal(serve(f, &rq, &rs), NX_EOVERFLOW);
}

static void
test_serve_answers_expired_without_running(void **state)
{
	struct fixture *f = *state;
	struct nx_req_desc rq = { .pipeline = 0, .flags = NX_DESC_DEADLINE, .len = 2 };
	struct nx_resp_desc rs;

	rq.deadline_us = (uint32_t)(nx__clock_ns() / 1000) - 10;
	assert_int_equal(serve(f, &rq, &rs), NX_EEXPIRED);
	assert_int_equal(rs.len, 0);
	rq.deadline_us = (uint32_t)(nx__clock_ns() / 1000) + 10000000; /* 10 s ahead */
	assert_int_equal(serve(f, &rq, &rs), 0);
}

/* A client rewrites its descriptor after submitting: the worker works on
 * the copy it took, so the answer matches what it validated. */
static void
test_serve_uses_the_copy_not_the_shared_slot(void **state)
{
	struct fixture *f = *state;
	struct nx_chan_view *v = &f->ch.v;
	struct nx_req_desc *slot, copy;
	struct nx_resp_desc rs;

	slot = nx__req_slot(v);
	memset(slot, 0, sizeof *slot);
	slot->len = 4;
	memcpy(slot->data, "good", 4);
	nx__req_publish(v, slot);
	assert_true(nx__req_ready(v, 0));
	nx__req_take(v, 0, &copy);
	/* the client scribbles over the slot after the worker took it */
	memset(&v->req_slots[0], 0xff, sizeof v->req_slots[0]);
	assert_int_equal(serve(f, &copy, &rs), 0);
	assert_memory_equal(rs.data, "good", 4);
}

/* "t_backlog": records what the worker told it of the load behind each request. */
static uint32_t backlogs[128];
static unsigned nbacklogs;

static int
backlog_process(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)m;
	if (nbacklogs < sizeof backlogs / sizeof backlogs[0])
		backlogs[nbacklogs++] = ctx->backlog;
	return NX_STAGE_PASS;
}

static const struct nx_stage_ops backlog_stage = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "t_backlog", .process = backlog_process,
};

static void
enqueue(struct fixture *f, uint16_t pipe, unsigned n)
{
	struct nx_chan_view *v = &f->ch.v;
	struct nx_req_desc d = { .pipeline = pipe, .len = 1, .data = { 'x' } };

	while (n-- > 0)
		assert_true(nx__req_enqueue(v, &d));
}

/* Payloads of 65 to 192 bytes cover two or three of an extension's
 * lines: the worker fetches as many of the next request's as the last
 * request took, and owns as many of the next answer's as the last answer
 * took. A length a client wrote past the extension asks for its three
 * lines, no more, and is refused. */
static void
test_worker_asks_ahead_for_the_extension_lines_payloads_take(void **state)
{
	static const struct {
		uint8_t len;
		uint8_t lines;
	} cases[] = { { 57, 1 }, { 64, 1 }, { 65, 2 }, { 128, 2 }, { 129, 3 }, { 192, 3 }, { 70, 2 } };
	struct fixture *f = *state;
	struct nx_chan_view *v = &f->ch.v;
	struct nx_resp_desc rs;
	unsigned i, k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const uint32_t slot = v->req->p_tail & (v->g.ring_size - 1);
		struct nx_req_desc d = { .pipeline = 0, .flags = NX_DESC_EXT | NX_DESC_OUT_EXT,
					 .len = cases[i].len };
		uint8_t *in = v->req_ext + (size_t)slot * NX_EXT_BYTES;

		for (k = 0; k < cases[i].len; k++)
			in[k] = (uint8_t)(k + i);
		assert_true(nx__req_enqueue(v, &d));
		assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 1);
		assert_true(ck_ring_dequeue_spsc_nx_resp(v->resp, v->resp_slots, &rs));
		assert_int_equal(rs.status, 0);
		assert_int_equal(rs.len, cases[i].len);
		assert_int_equal(f->ch.req_ext_lines, cases[i].lines);
		assert_int_equal(f->ch.resp_ext_lines, cases[i].lines);
	}
	/* an inline request with an inline answer: none to ask for ahead */
	enqueue(f, 0, 1);
	assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 1);
	assert_true(ck_ring_dequeue_spsc_nx_resp(v->resp, v->resp_slots, &rs));
	assert_int_equal(rs.status, 0);
	assert_int_equal(f->ch.req_ext_lines, 0);
	assert_int_equal(f->ch.resp_ext_lines, 0);
	/* a hostile length: 255 bytes in a 192-byte extension */
	{
		struct nx_req_desc d = { .pipeline = 0, .flags = NX_DESC_EXT | NX_DESC_OUT_EXT,
					 .len = 255 };

		assert_true(nx__req_enqueue(v, &d));
		assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 1);
		assert_true(ck_ring_dequeue_spsc_nx_resp(v->resp, v->resp_slots, &rs));
		assert_int_equal(rs.status, NX_EBADDESC);
		assert_int_equal(f->ch.req_ext_lines, 3);
		assert_int_equal(f->ch.resp_ext_lines, 0); /* no answer written there */
	}
	assert_int_equal(nx__ext_lines(0), 1);
	assert_int_equal(nx__ext_lines(255), 3);
	assert_int_equal(nx__ext_lines(UINT32_MAX), 3);
}

/* The worker hands each request the count of requests queued behind it,
 * by the producer index, which it reads only where a queue has shown: a
 * burst's first request after a lone one sees 0 (no read: ping-pong pays
 * no extra line), the rest N-2 .. 0; after a burst of more than one the
 * queue is counted whole from the first request on, a queue longer than a
 * burst included, and what comes during a burst is not. */
static void
test_worker_tells_each_request_the_backlog_behind_it(void **state)
{
	static bool registered;
	struct fixture *f = *state;
	struct nx_resp_desc rs;
	unsigned i;

	if (!registered)
		assert_int_equal(nx__stage_register(&backlog_stage), 0);
	registered = true;
	f->pipes.p[3] = build("backlog", "graph = t_backlog");
	f->pipes.n = 4;

	nbacklogs = 0;
	enqueue(f, 3, 5);
	assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 5);
	assert_int_equal(nbacklogs, 5);
	assert_int_equal(backlogs[0], 0);
	for (i = 1; i < 5; i++)
		assert_int_equal(backlogs[i], 4 - i);
	assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 0); /* nothing left */
	for (i = 0; i < 5; i++)
		assert_true(ck_ring_dequeue_spsc_nx_resp(f->ch.v.resp, f->ch.v.resp_slots, &rs));

	/* 40 queued: a burst of NX_BURST, then the rest, each counted from the ring's end */
	nbacklogs = 0;
	enqueue(f, 3, 40);
	assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), NX_BURST);
	assert_int_equal(nx__worker_poll(&f->w, &f->ch, &f->pipes), 40 - NX_BURST);
	assert_int_equal(nbacklogs, 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(backlogs[i], 39 - i);
	assert_int_equal(f->ch.taken, 45);

	/* nx__worker_serve (one request, outside a burst) knows of none */
	nbacklogs = 0;
	{
		struct nx_req_desc rq = { .pipeline = 3, .len = 1 };

		assert_int_equal(serve(f, &rq, &rs), 0);
	}
	assert_int_equal(nbacklogs, 1);
	assert_int_equal(backlogs[0], 0);
}

static void
test_crc32c_matches_the_table_and_the_check_value(void **state)
{
	uint8_t buf[1031];
	unsigned i, n;

	(void)state;
	assert_int_equal(nx__crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(nx__crc32c_sw(0, "123456789", 9), 0xE3069283u);
	for (i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= sizeof buf; n += 37)
		assert_int_equal(nx__crc32c(0, buf, n), nx__crc32c_sw(0, buf, n));
	/* incremental equals one shot */
	assert_int_equal(nx__crc32c(nx__crc32c(0, buf, 500), buf + 500, 531),
			 nx__crc32c(0, buf, 1031));
}

static void
test_pipeline_refuses_bad_definitions(void **state)
{
	struct nx_pipe_spec *spec = malloc(sizeof *spec);

	(void)state;
	assert_int_equal(nx__spec_init(spec, ""), NX_EINVAL);
	assert_int_equal(nx__spec_init(spec, "x"), 0);
	assert_int_equal(nx__spec_finish(spec), NX_EINVAL);
	assert_non_null(strstr(nx__errmsg(), "no graph"));
	free(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serve_echoes_an_inline_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_checksums_an_arena_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_runs_a_sequence_through_scratch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_takes_payload_and_answer_through_the_extensions,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_extension_length_past_the_extension,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_unknown_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_unknown_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_inline_length_past_the_descriptor,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_length_beyond_the_arena, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_rejects_offset_out_of_bounds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_reports_output_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serve_answers_expired_without_running, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_uses_the_copy_not_the_shared_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serve_refuses_input_and_output_that_overlap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker_asks_ahead_for_the_extension_lines_payloads_take,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_tells_each_request_the_backlog_behind_it,
						setup, teardown),
		cmocka_unit_test(test_crc32c_matches_the_table_and_the_check_value),
		cmocka_unit_test(test_pipeline_refuses_bad_definitions),
	};

	return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}
