/*
 * nxd end to end: real nxd processes, real client processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/crc32c.h"
#include "platform/base/rand.h"
#include "harness/harness.h"
#include "shm/attach.h"

/* ---- a well-behaved client: N requests, window W, every answer checked ---- */

struct load {
	const char *instance;
	uint64_t n;
	unsigned window;
	uint32_t seed;
	uint32_t max_len; /* payloads 0..max_len, inline and arena */
};

/* 32 random bits: payload lengths and bytes, garbage descriptors */
static uint32_t
rnd(struct nx_rand *s)
{
	return (uint32_t)(nx__rand_next(s) >> 32);
}

struct pending {
	uint8_t in[4096];
	uint8_t out[4096];
	uint32_t len;
	int pipe;
};

/* Runs in a child process. Exit 0 when every answer was right, in order. */
static int
run_load(const struct load *l)
{
	struct nx_completion comps[64];
	struct pending *p;
	struct nx_client *c;
	uint64_t sent = 0, done = 0;
	struct nx_rand s;
	int echo, sum, rc;
	unsigned i;

	if (nxt_open(&c, l->instance) < 0) {
		fprintf(stderr, "client: %s\n", nx_errmsg());
		return 10;
	}
	echo = nx_pipeline_id(c, "echo");
	sum = nx_pipeline_id(c, "checksum");
	nx__rand_seed(&s, l->seed);
	p = calloc(l->window, sizeof *p);
	if (echo < 0 || sum < 0 || p == NULL)
		return 11;
	while (done < l->n) {
		while (sent < l->n && sent - done < l->window) {
			struct pending *q = &p[sent % l->window];
			struct nx_req r;

			q->len = rnd(&s) % (l->max_len + 1);
			for (i = 0; i < q->len; i++)
				q->in[i] = (uint8_t)rnd(&s);
			q->pipe = (sent & 1) ? sum : echo;
			r = (struct nx_req){ .in = q->in, .in_len = q->len, .out = q->out,
					     .out_cap = q->pipe == echo ? q->len : 4,
					     .user_data = sent, .pipeline = (uint16_t)q->pipe };
			rc = nx_submit(c, &r);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				fprintf(stderr, "client: submit %llu: %s\n", (unsigned long long)sent,
					nx_strerror(rc));
				return 12;
			}
			sent++;
		}
		/* no budget on the run; no answer at all for this long is a hang */
		rc = nx_wait(c, comps, 64, nxt_patience_ns());
		if (rc < 0) {
			fprintf(stderr, "client: wait after %llu/%llu: %s\n", (unsigned long long)done,
				(unsigned long long)sent, nx_strerror(rc));
			return 13;
		}
		for (i = 0; i < (unsigned)rc; i++, done++) {
			struct pending *q = &p[done % l->window];

			if (comps[i].user_data != done) {
				fprintf(stderr, "client: out of order: got %llu, expected %llu\n",
					(unsigned long long)comps[i].user_data, (unsigned long long)done);
				return 14;
			}
			if (comps[i].status != 0) {
				fprintf(stderr, "client: request %llu failed: %s\n",
					(unsigned long long)done, nx_strerror(comps[i].status));
				return 15;
			}
			if (q->pipe == echo) {
				if (comps[i].out_len != q->len || memcmp(q->out, q->in, q->len) != 0)
					return 16;
			} else {
				uint32_t crc = nx__crc32c(0, q->in, q->len), got;

				memcpy(&got, q->out, 4);
				if (comps[i].out_len != 4 || got != crc) {
					fprintf(stderr, "client: checksum %llu wrong\n",
						(unsigned long long)done);
					return 17;
				}
			}
		}
	}
	free(p);
	nx_close(c);
	return 0;
}

static pid_t
spawn_load(const struct load *l)
{
	pid_t pid = nxt_fork();

	if (pid == 0)
		_exit(run_load(l));
	return pid;
}

/* ---- fixture: one nxd per test ---- */

struct fx {
	struct nxt_nxd d;
	char inst[64];
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	nxt_instance(f->inst, sizeof f->inst, "nxd");
	if (nxt_nxd_start(&f->d, f->inst, (const char *const[]){ "--max-channels", "8", NULL }) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	int st = f->d.pid > 0 ? nxt_nxd_stop(&f->d) : 0;
	bool gone = nxt_segments_gone(f->inst);

	/* whatever the test left (a client that failed, nxd), before checking */
	nxt_cleanup(f->inst);
	nxt_reap();
	free(f);
	assert_int_equal(st, 0);
	assert_true(gone);
	return 0;
}

static void
test_two_clients_100k_requests_each_all_right_in_order(void **state)
{
	struct fx *f = *state;
	struct load a = { f->inst, 100000, 32, 12345, 200 };
	struct load b = { f->inst, 100000, 8, 999, 3000 };
	pid_t pa = spawn_load(&a), pb = spawn_load(&b);

	/* as long as they make progress: no budget on the run itself */
	assert_int_equal(nxt_wait_progress(pa, f->inst, nxt_patience_ns()), 0);
	assert_int_equal(nxt_wait_progress(pb, f->inst, nxt_patience_ns()), 0);
}

static void
test_second_nxd_on_the_instance_is_refused(void **state)
{
	struct fx *f = *state;
	struct nxt_nxd d2;
	char line[512];
	FILE *log;
	bool said = false;

	nxt_nxd_spawn(&d2, f->inst, NULL);
	assert_int_equal(nxt_wait(d2.pid, nxt_patience_ns()), 3);
	log = fopen(d2.log, "r");
	assert_non_null(log);
	while (fgets(line, sizeof line, log) != NULL) {
		char want[128];

		snprintf(want, sizeof want, "already served by nxd pid %d", (int)f->d.pid);
		if (strstr(line, want) != NULL)
			said = true;
	}
	fclose(log);
	unlink(d2.log);
	assert_true(said);
	/* and the first one still serves */
	assert_int_equal(nxt_wait_progress(spawn_load(&(struct load){ f->inst, 1000, 4, 1, 100 }),
					   f->inst, nxt_patience_ns()), 0);
}

static void
test_client_of_another_abi_is_refused_at_attach(void **state)
{
	struct fx *f = *state;
	struct nx_open_opts o = { .abi_version = NX_ABI_VERSION + 1 };
	struct nx_client *c;

	assert_int_equal(nxt_open_with(&c, f->inst, &o), NX_EABI);
	assert_non_null(strstr(nx_errmsg(), "client speaks ABI 2"));
	assert_non_null(strstr(nx_errmsg(), "rebuild the client"));
}

static void
test_attach_to_an_instance_that_does_not_run_says_so(void **state)
{
	struct nxt_nxd d;
	struct nx_client *c;
	char inst[64];

	(void)state;
	nxt_instance(inst, sizeof inst, "none");
	assert_int_equal(nxt_open(&c, inst), NX_ENOINST);
	assert_non_null(strstr(nx_errmsg(), "is not running"));

	/* a killed nxd leaves its segment: the message names the dead pid */
	assert_int_equal(nxt_nxd_start(&d, inst, NULL), 0);
	{
		pid_t dead = d.pid;
		char want[64];

		nxt_nxd_kill(&d);
		assert_int_equal(nxt_open(&c, inst), NX_ENOINST);
		snprintf(want, sizeof want, "nxd pid %d", (int)dead);
		assert_non_null(strstr(nx_errmsg(), want));
		assert_non_null(strstr(nx_errmsg(), "is gone"));
	}
	nxt_cleanup(inst);
	assert_int_equal(nxt_open(&c, "bad/name"), NX_EINVAL);
	assert_non_null(strstr(nx_errmsg(), "not allowed"));
}

/* ---- a hostile client, speaking the protocol by hand ---- */

static int
raw_attach(const char *inst, struct nx_chan_view *v)
{
	struct nx_ctl_msg m;
	int fd, cfd = -1;

	fd = nx__ctl_connect(inst);
	if (fd < 0)
		return -1;
	if (nx__ctl_send_request(fd, NX_CTL_ATTACH, NX_CTL_VERSION, NX_WAIT_SPIN, 0, -1) < 0 ||
	    nx__ctl_read_reply(fd, &m, &cfd, nxt_patience_ns()) < 0 || nx__chan_map(v, cfd) < 0)
		return -1;
	return fd;
}

static bool
raw_take(struct nx_chan_view *v, struct nx_resp_desc *out, uint64_t timeout_ns)
{
	uint64_t t0 = nx_now_ns();

	while (!nx__resp_ready(v, v->resp->c_head))
		if (nx_now_ns() - t0 > timeout_ns)
			return false;
	nx__resp_take(v, v->resp->c_head, out);
	return true;
}

static int
raw_status(struct nx_chan_view *v, const struct nx_req_desc *d)
{
	struct nx_resp_desc rs;

	if (!nx__req_enqueue(v, d))
		return 1000;
	if (!raw_take(v, &rs, nxt_patience_ns()))
		return 1001;
	return rs.status;
}

static struct nx_req_desc
arena_desc(uint16_t pipe, uint32_t in_off, uint32_t in_len, uint32_t out_off, uint32_t out_cap)
{
	struct nx_req_desc d = { .pipeline = pipe, .flags = NX_DESC_ARENA };
	struct nx_req_arena ar = { in_off, in_len, out_off, out_cap };

	memcpy(d.data, &ar, sizeof ar);
	return d;
}

/* Until the worker has gone round its loop after now: its published loop
 * count (at each heartbeat) changes twice. Bounded: a worker that stopped
 * looping fails the test later, when a good client is not served. */
static void
worker_loops_past(const char *inst)
{
	struct nx_health_view hv;
	uint64_t l;

	if (nx__health_map_ro(&hv, inst) != 0)
		return;
	for (int k = 0; k < 2; k++) {
		l = nx__load64(&hv.workers[0].loops);
		NXT_WAIT_UNTIL(nx__load64(&hv.workers[0].loops) != l, nxt_patience_ns());
	}
	nx__health_unmap(&hv);
}

/* Exit 0 when each malformed request got its error answer. */
static int
run_hostile(const char *inst)
{
	struct nx_chan_view v;
	struct nx_req_desc d;
	struct nx_rand s;
	int i, ctl;

	nx__rand_seed(&s, 7);
	ctl = raw_attach(inst, &v);
	if (ctl < 0)
		return 20;
	d = (struct nx_req_desc){ .pipeline = 200, .len = 3 };
	if (raw_status(&v, &d) != NX_ENOPIPE)
		return 21;
	d = arena_desc(0, 0, v.g.arena_bytes + 1, 0, 64); /* length beyond the arena */
	if (raw_status(&v, &d) != NX_EBADDESC)
		return 22;
	d = arena_desc(0, v.g.arena_bytes + 4096, 16, 0, 64); /* offset out of bounds */
	if (raw_status(&v, &d) != NX_EBADDESC)
		return 23;
	d = (struct nx_req_desc){ .pipeline = 0, .len = 200 };
	if (raw_status(&v, &d) != NX_EBADDESC)
		return 24;
	/* rewritten after submit: whatever the worker copied, it answers */
	for (i = 0; i < 20000; i++) {
		struct nx_req_desc *slot = nx__req_slot(&v), ok = arena_desc(0, 0, 64, 64, 64);
		struct nx_resp_desc rs;

		if (!nx__req_enqueue(&v, &ok))
			return 25;
		for (unsigned k = 1; k < sizeof *slot; k++) /* all but the lap */
			((uint8_t *)slot)[k] = (uint8_t)rnd(&s);
		if (!raw_take(&v, &rs, nxt_patience_ns()))
			return 26;
	}
	/* the lap too: published by the index with a lap behind, two ahead
	 * or at random, each is answered NX_EBADDESC at the worker's next look
	 * at the index. (A lap one ahead is the slot's next pass: it is served
	 * then, with whatever the slot holds; that is the client's own.) */
	for (i = 0; i < 300; i++) {
		struct nx_req_desc *slot = nx__req_slot(&v), ok = { .pipeline = 0, .len = 3 };
		const uint8_t want = nx__req_lap(v.req->p_tail, v.ring_shift);
		uint8_t lap = (uint8_t)rnd(&s);
		struct nx_resp_desc rs;

		if (i % 3 == 0)
			lap = (uint8_t)(want - 1);
		else if (i % 3 == 1 || lap == want || lap == (uint8_t)(want + 1))
			lap = (uint8_t)(want + 2);
		memcpy(ok.data, "abc", 3);
		memcpy((uint8_t *)slot + 1, (uint8_t *)&ok + 1, sizeof ok - 1);
		ck_pr_store_8(&slot->lap, lap);
		ck_ring_enqueue_commit_spsc(v.req);
		if (!raw_take(&v, &rs, nxt_patience_ns()))
			return 27;
		if (rs.seq != v.resp->c_head - 1 || rs.status != NX_EBADDESC)
			return 28;
	}
	/* garbage descriptors in bulk, answers not read: the ring fills */
	for (i = 0; i < 100000; i++) {
		for (unsigned k = 0; k < sizeof d; k += 4) {
			uint32_t r = rnd(&s);

			memcpy((uint8_t *)&d + k, &r, 4);
		}
		ck_ring_enqueue_spsc_nx_req(v.req, v.req_slots, &d);
	}
	/* the ring indices and the geometry page, scribbled on */
	for (i = 0; i < 2000; i++) {
		uint8_t *geom = (uint8_t *)v.req + NX_RING_GEOM_OFF;

		v.req->p_tail = rnd(&s);
		v.req->c_head = rnd(&s);
		v.resp->c_head = rnd(&s);
		v.resp->p_tail = rnd(&s);
		/* our own geometry page is private too: write through a second mapping */
		(void)geom;
		usleep(50);
	}
	{
		uint8_t *raw;

		if (nx__shm_map((void **)&raw, v.fd, v.g.layout_bytes, true) == 0) {
			memset(raw + v.g.req_ctl_off + NX_RING_GEOM_OFF, 0xff, 8);
			memset(raw + v.g.resp_ctl_off + NX_RING_GEOM_OFF, 0xff, 8);
			memset(raw, 0xff, 128); /* the header too */
			worker_loops_past(inst); /* let the worker meet all that */
		}
	}
	close(ctl);
	return 0;
}

static void
test_garbage_in_a_ring_gets_errors_and_harms_no_one_else(void **state)
{
	struct fx *f = *state;
	struct load good = { f->inst, 100000, 16, 4242, 1000 };
	pid_t pg, ph;

	pg = spawn_load(&good);
	ph = nxt_fork();
	if (ph == 0)
		_exit(run_hostile(f->inst));
	assert_int_equal(nxt_wait_progress(ph, f->inst, nxt_patience_ns()), 0);
	assert_int_equal(nxt_wait_progress(pg, f->inst, nxt_patience_ns()), 0);
	assert_int_equal(kill(f->d.pid, 0), 0); /* nxd alive */
	{
		struct nx_health_view hv;
		uint64_t bad, nopipe, answered;

		assert_int_equal(nx__health_map_ro(&hv, f->inst), 0);
		/* the worker publishes its counters after each burst, a moment
		 * after the clients read the answers */
		NXT_WAIT_UNTIL(nx__load64(&hv.workers[0].errors[NX_WERR_BADDESC]) >= 3 &&
			       nx__load64(&hv.workers[0].errors[NX_WERR_NOPIPE]) >= 1 &&
			       nx__load64(&hv.workers[0].answered) >= 100000 + 20000, nxt_patience_ns());
		bad = nx__load64(&hv.workers[0].errors[NX_WERR_BADDESC]);
		nopipe = nx__load64(&hv.workers[0].errors[NX_WERR_NOPIPE]);
		answered = nx__load64(&hv.workers[0].answered);
		print_message("worker answered %llu, %llu malformed, %llu unknown pipeline\n",
			      (unsigned long long)answered, (unsigned long long)bad,
			      (unsigned long long)nopipe);
		assert_true(bad >= 3);
		assert_true(nopipe >= 1);
		assert_true(answered >= 100000 + 20000);
		nx__health_unmap(&hv);
	}
	/* and serves a new client */
	assert_int_equal(nxt_wait_progress(spawn_load(&(struct load){ f->inst, 5000, 8, 3, 500 }),
					   f->inst, nxt_patience_ns()), 0);
}

/* ---- a client killed with requests in flight ---- */

static unsigned
chans_used(const struct nx_health_view *hv)
{
	unsigned i, used = 0;

	for (i = 0; i < hv->max_channels; i++)
		used += nx__load32(&hv->chans[i].state) != NX_CHAN_FREE;
	return used;
}

/* Channels in use, once the count has settled at want (or the wait ran out). */
static unsigned
channels_in_use(const char *inst, unsigned want)
{
	struct nx_health_view hv;
	unsigned used;

	if (nx__health_map_ro(&hv, inst) != 0)
		return ~0u;
	NXT_WAIT_UNTIL((used = chans_used(&hv)) == want, nxt_patience_ns());
	nx__health_unmap(&hv);
	return used;
}

static void
test_killed_client_channel_is_reclaimed_and_nothing_leaks(void **state)
{
	struct fx *f = *state;
	struct nx_health_view hv;
	int fds0, fds, maps;
	unsigned used;
	pid_t pid;
	int round;

	/* no channel yet (the harness's readiness probe makes none) */
	assert_int_equal(channels_in_use(f->inst, 0), 0);
	fds0 = nxt_count_fds(f->d.pid);
	assert_true(fds0 > 0);
	for (round = 0; round < 5; round++) {
		int sync[2];
		char b;

		assert_int_equal(pipe(sync), 0);
		pid = nxt_fork();
		if (pid == 0) {
			struct nx_client *c;
			static uint8_t in[60000], out[60000];
			struct nx_req r = { .in = in, .in_len = sizeof in, .out = out,
					    .out_cap = sizeof out };

			if (nxt_open(&c, f->inst) < 0)
				_exit(1);
			r.pipeline = (uint16_t)nx_pipeline_id(c, "checksum");
			r.out_cap = 4;
			for (;;) {
				while (nx_submit(c, &r) == 0)
					;
				if (write(sync[1], "x", 1) < 0)
					_exit(2);
				/* keep the window full, never poll: requests stay in flight */
				for (;;)
					pause();
			}
		}
		close(sync[1]);
		/* the child writes once its window is full (or exits: then 0) */
		assert_int_equal(read(sync[0], &b, 1), 1);
		close(sync[0]);
		kill(pid, SIGKILL);
		assert_int_equal(nxt_wait(pid, nxt_patience_ns()), 128 + SIGKILL);
	}
	/* nxd notices, detaches after a grace period, frees everything */
	assert_int_equal(nx__health_map_ro(&hv, f->inst), 0);
	NXT_WAIT_UNTIL((used = chans_used(&hv)) == 0 && (fds = nxt_count_fds(f->d.pid)) == fds0 &&
		       (maps = nxt_count_memfd_maps(f->d.pid)) == 0, nxt_patience_ns());
	used = chans_used(&hv);
	fds = nxt_count_fds(f->d.pid);
	maps = nxt_count_memfd_maps(f->d.pid);
	nx__health_unmap(&hv);
	assert_int_equal(used, 0);
	assert_int_equal(fds, fds0);
	assert_int_equal(maps, 0);
	/* the worker carries on */
	assert_int_equal(nxt_wait_progress(spawn_load(&(struct load){ f->inst, 20000, 16, 5, 2000 }),
					   f->inst, nxt_patience_ns()), 0);
}

/* ---- back-pressure: explicit would-block, nothing dropped ---- */

static void
test_full_window_says_would_block_and_loses_nothing(void **state)
{
	struct fx *f = *state;
	static uint8_t big[32768], outs[300][64];
	struct nx_completion comps[300];
	struct nx_client *c;
	unsigned cap, n = 0, got = 0, i;
	int echo, sum, rc;

	assert_int_equal(nxt_open(&c, f->inst), 0);
	echo = nx_pipeline_id(c, "echo");
	sum = nx_pipeline_id(c, "checksum");
	cap = nx_capacity(c);
	assert_true(cap <= 300);
	/* the window: cap requests outstanding, the next one would block */
	for (;;) {
		uint8_t v = (uint8_t)n;
		struct nx_req r = { .in = &v, .in_len = 1, .out = outs[n % 300], .out_cap = 1,
				    .user_data = n, .pipeline = (uint16_t)echo };

		rc = nx_submit(c, &r);
		if (rc != 0)
			break;
		n++;
	}
	assert_int_equal(rc, NX_EAGAIN);
	assert_int_equal(n, cap);
	assert_int_equal(nx_outstanding(c), cap);
	while (got < n) {
		rc = nx_wait(c, comps, 300, nxt_patience_ns());
		assert_true(rc > 0);
		for (i = 0; i < (unsigned)rc; i++, got++) {
			assert_int_equal(comps[i].user_data, got);
			assert_int_equal(comps[i].status, 0);
			assert_int_equal(outs[got % 300][0], (uint8_t)got);
		}
	}
	/* the arena: large payloads block before the window does */
	n = 0;
	for (;;) {
		struct nx_req r = { .in = big, .in_len = sizeof big, .out = outs[n % 300],
				    .out_cap = 4, .user_data = n, .pipeline = (uint16_t)sum };

		rc = nx_submit(c, &r);
		if (rc != 0)
			break;
		n++;
	}
	assert_int_equal(rc, NX_EAGAIN);
	assert_true(n > 0 && n < cap);
	for (got = 0; got < n;) {
		rc = nx_wait(c, comps, 300, nxt_patience_ns());
		assert_true(rc > 0);
		for (i = 0; i < (unsigned)rc; i++, got++)
			assert_int_equal(comps[i].status, 0);
	}
	assert_int_equal(nx_outstanding(c), 0);
	/* payload over the channel's limit */
	{
		static uint8_t huge[NX_PAYLOAD_MAX_DEFAULT + 1];
		struct nx_req r = { .in = huge, .in_len = sizeof huge, .out = outs[0], .out_cap = 4,
				    .pipeline = (uint16_t)sum };

		assert_int_equal(nx_submit(c, &r), NX_E2BIG);
	}
	nx_close(c);
}

/* ---- the client library's contract ---- */

static void
test_call_answers_and_reports_errors(void **state)
{
	struct fx *f = *state;
	struct nx_client *c;
	uint8_t out[64];
	uint32_t len = 0;
	int echo;

	assert_int_equal(nxt_open(&c, f->inst), 0);
	echo = nx_pipeline_id(c, "echo");
	assert_true(echo >= 0);
	assert_int_equal(nx_pipeline_id(c, "nope"), NX_ENOPIPE);
	assert_non_null(strstr(nx_errmsg(), "no pipeline 'nope'"));
	/* a timeout no loaded machine reaches: these are about the answers */
	assert_int_equal(nx_call(c, (uint16_t)echo, "ping", 4, out, sizeof out, &len,
				 nxt_patience_ns()), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "ping", 4);
	/* an answer larger than the buffer */
	assert_int_equal(nx_call(c, (uint16_t)echo, "pingpong", 8, out, 4, &len, nxt_patience_ns()),
			 NX_EOVERFLOW);
	assert_int_equal(nx_call(c, 60000, "x", 1, out, 4, &len, nxt_patience_ns()), NX_ENOPIPE);
	assert_int_equal(nx_call(c, (uint16_t)echo, NULL, 4, out, 4, &len, nxt_patience_ns()),
			 NX_EINVAL);
	assert_true(nx_generation(c) >= 1);
	assert_int_equal(nx_close(c), 0);
}

static void
test_sigterm_exits_zero_and_removes_segments_unless_kept(void **state)
{
	struct nxt_nxd d;
	char inst[64];

	(void)state;
	nxt_instance(inst, sizeof inst, "keep");
	assert_int_equal(nxt_nxd_start(&d, inst, (const char *const[]){ "--keep", NULL }), 0);
	assert_int_equal(nxt_nxd_stop(&d), 0);
	assert_false(nxt_segments_gone(inst));
	/* a new nxd re-attaches the kept segment: generation 2 */
	assert_int_equal(nxt_nxd_start(&d, inst, NULL), 0);
	{
		struct nx_client *c;

		assert_int_equal(nxt_open(&c, inst), 0);
		assert_int_equal(nx_generation(c), 2);
		nx_close(c);
	}
	assert_int_equal(nxt_nxd_stop(&d), 0);
	assert_true(nxt_segments_gone(inst));
	nxt_cleanup(inst);
}

static void
test_stopped_instance_completes_outstanding_requests_with_shutdown(void **state)
{
	struct nxt_nxd d;
	struct nx_completion comps[8];
	struct nx_client *c;
	char inst[64];
	uint8_t out[8];
	int rc, echo;

	(void)state;
	nxt_instance(inst, sizeof inst, "stop");
	assert_int_equal(nxt_nxd_start(&d, inst, NULL), 0);
	assert_int_equal(nxt_open(&c, inst), 0);
	echo = nx_pipeline_id(c, "echo");
	assert_int_equal(nxt_nxd_stop(&d), 0);
	{
		struct nx_req r = { .in = "a", .in_len = 1, .out = out, .out_cap = 8,
				    .user_data = 77, .pipeline = (uint16_t)echo };

		/* submitted after nxd stopped: it can never run; it still completes */
		assert_int_equal(nx_submit(c, &r), 0);
	}
	rc = nx_wait(c, comps, 8, nxt_patience_ns());
	assert_int_equal(rc, 1);
	assert_int_equal(comps[0].user_data, 77);
	assert_int_equal(comps[0].status, NX_ESHUTDOWN);
	{
		struct nx_req r = { .in = "a", .in_len = 1, .out = out, .out_cap = 8 };

		assert_int_equal(nx_submit(c, &r), NX_ESHUTDOWN);
	}
	nx_close(c);
	nxt_cleanup(inst);
}

static void
test_sleep_mode_worker_sleeps_and_wakes_for_a_request(void **state)
{
	struct nx_health_view hv;
	struct nx_open_opts o = { .wait = NX_WAIT_SLEEP };
	struct nx_client *c;
	struct nxt_nxd d;
	char inst[64];
	uint8_t out[8];
	uint32_t len;
	uint64_t sleeps = 0;
	int echo, i;

	(void)state;
	nxt_instance(inst, sizeof inst, "sleep");
	assert_int_equal(nxt_nxd_start(&d, inst, (const char *const[]){ "--idle", "sleep", NULL }), 0);
	assert_int_equal(nxt_open_with(&c, inst, &o), 0);
	assert_int_equal(nx__health_map_ro(&hv, inst), 0);
	echo = nx_pipeline_id(c, "echo");
	for (i = 0; i < 200; i++) {
		/* idle long enough for the worker to go to sleep, now and then:
		 * it says sleeping first, then its state (see worker_sleep) */
		if (i % 20 == 0) {
			NXT_WAIT_UNTIL(nx__load32(&hv.workers[0].sleeping) == 1 &&
				       nx__load32(&hv.workers[0].state) == NX_WORKER_SLEEPING,
				       nxt_patience_ns());
			assert_int_equal(nx__load32(&hv.workers[0].sleeping), 1);
			assert_int_equal(nx__load32(&hv.workers[0].state), NX_WORKER_SLEEPING);
		}
		assert_int_equal(nx_call(c, (uint16_t)echo, &i, 4, out, 8, &len, nxt_patience_ns()), 0);
		assert_memory_equal(out, &i, 4);
	}
	sleeps = nx__load64(&hv.workers[0].sleeps);
	assert_true(sleeps >= 10);
	nx__health_unmap(&hv);
	nx_close(c);
	assert_int_equal(nxt_nxd_stop(&d), 0);
	nxt_cleanup(inst);
}

static void
test_nxd_rejects_bad_options_clearly(void **state)
{
	static const struct {
		const char *args[4];
		const char *says;
	} cases[] = {
		{ { "--ring-size", "100", NULL }, "not a power of two" },
		{ { "--idle", "nap", NULL }, "expected spin or sleep" },
		{ { "--cpus", "0,0", NULL }, "" },
		{ { "--max-channels", "0", NULL }, "out of range" },
		{ { "--bogus", NULL }, "" },
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct nxt_nxd d;
		char inst[64], line[512];
		bool said = cases[i].says[0] == '\0';
		FILE *log;
		int rc;

		nxt_instance(inst, sizeof inst, "opts");
		nxt_nxd_spawn(&d, inst, cases[i].args);
		rc = nxt_wait(d.pid, nxt_patience_ns());
		assert_true(rc == 1 || rc == 2);
		log = fopen(d.log, "r");
		assert_non_null(log);
		while (fgets(line, sizeof line, log) != NULL)
			if (strstr(line, cases[i].says) != NULL)
				said = true;
		fclose(log);
		unlink(d.log);
		assert_true(said);
		assert_true(nxt_segments_gone(inst));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_clients_100k_requests_each_all_right_in_order,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_second_nxd_on_the_instance_is_refused, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_client_of_another_abi_is_refused_at_attach,
						fx_setup, fx_teardown),
		cmocka_unit_test_teardown(test_attach_to_an_instance_that_does_not_run_says_so,
					  nxt_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_in_a_ring_gets_errors_and_harms_no_one_else,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_client_channel_is_reclaimed_and_nothing_leaks,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_window_says_would_block_and_loses_nothing,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_call_answers_and_reports_errors, fx_setup,
						fx_teardown),
		cmocka_unit_test_teardown(test_sigterm_exits_zero_and_removes_segments_unless_kept,
					  nxt_teardown),
		cmocka_unit_test_teardown(
			test_stopped_instance_completes_outstanding_requests_with_shutdown, nxt_teardown),
		cmocka_unit_test_teardown(test_sleep_mode_worker_sleeps_and_wakes_for_a_request,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_nxd_rejects_bad_options_clearly, nxt_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("nxd", tests, NULL, NULL);
}
