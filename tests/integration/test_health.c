/*
 * The health segment as readers see it: counters a test produced itself,
 * read back through the reader library; health states; the read-only
 * mapping; the restart log.
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
#include "harness/harness.h"
#include "shm/monitor/health_read.h"

static char inst[64];
static char conf_path[128];
static struct nxt_nxd nxd;

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	nxt_instance(inst, sizeof inst, "health");
	nxt_tmpfile(conf_path, sizeof conf_path, "health.ini");
	f = fopen(conf_path, "w");
	if (f == NULL)
		return -1;
	/* every request timed, so the histograms fill quickly */
	fprintf(f, "[nxd]\nstage-timing = 1\n\n[pipeline.bad]\ngraph = f\nf.stage = fail\n"
		   "f.percent = 100\n\n[pipeline.half]\ngraph = h\nh.stage = fail\nh.percent = 50\n");
	fclose(f);
	return nxt_nxd_start(&nxd, inst, (const char *const[]){ "--config", conf_path, NULL });
}

static int
teardown(void **state)
{
	(void)state;
	if (nxd.pid > 0)
		nxt_nxd_stop(&nxd);
	nxt_cleanup(inst);
	unlink(conf_path);
	nxt_reap();
	return 0;
}

static const struct nx_hr_slot *
slot_of(const struct nx_hr_snap *s, const char *pipe)
{
	unsigned i;

	for (i = 0; i < s->nslots; i++)
		if (strcmp(s->slots[i].meta.pipe, pipe) == 0)
			return &s->slots[i];
	return NULL;
}

/* This process's channel in a snapshot (attached), or NULL. */
static const struct nx_hr_chan *
my_chan(const struct nx_hr_snap *s)
{
	unsigned i;

	for (i = 0; i < s->nchans; i++)
		if (s->chans[i].raw.pid == getpid() && s->chans[i].raw.state == NX_CHAN_ATTACHED)
			return &s->chans[i];
	return NULL;
}

/* A snapshot in which worker 0 has answered at least n: the worker
 * publishes after each burst, a moment after the client may have read
 * the answer. */
static const struct nx_hr_snap *
snapshot_after(struct nx_hr *r, uint64_t n)
{
	const struct nx_hr_snap *s = NULL;

	NXT_WAIT_UNTIL(nx__hr_snapshot(r, &s) == 0 && s->nworkers > 0 &&
		       s->workers[0].raw.answered >= n, nxt_patience_ns());
	assert_non_null(s);
	assert_true(s->nworkers > 0 && s->workers[0].raw.answered >= n);
	return s;
}

/* Everything the worker publishes for 540 requests (40 failed) from one
 * client: its own counters after each burst (after the answers), the
 * channel's depth and outstanding at its heartbeat. */
static bool
all_published(struct nx_hr *r, const struct nx_hr_snap **sp)
{
	const struct nx_hr_chan *ch;

	if (nx__hr_snapshot(r, sp) != 0)
		return false;
	ch = my_chan(*sp);
	/* the worker stores its errors after answered, in the same burst */
	return (*sp)->nworkers > 0 && (*sp)->workers[0].raw.answered == 540 &&
	       (*sp)->workers[0].raw.errors[NX_WERR_STAGE] == 40 && (*sp)->nchans == 1 &&
	       ch != NULL && ch->raw.taken == 540 && ch->raw.errors == 40 && ch->raw.depth == 0 &&
	       ch->raw.outstanding == 0;
}

/* A reader that judges nothing by heartbeat age: a worker's heartbeat
 * may be late on a loaded machine, and this test is about the counters. */
static const struct nx_hr_conf *
no_stale_conf(void)
{
	static struct nx_hr_conf conf;

	conf = NX_HR_CONF_DEFAULT;
	conf.stale_ns = 3600000000000ull;
	return &conf;
}

static void
test_counters_a_client_produced_read_back(void **state)
{
	const struct nx_hr_snap *s = NULL, *rs;
	const struct nx_hr_slot *echo_s, *bad_s;
	const struct nx_hr_chan *ch;
	struct nx_client *c;
	struct nx_hr *r, *rates;
	uint8_t out[64];
	uint32_t len;
	int echo, bad, i;

	(void)state;
	assert_int_equal(nx__hr_open(&r, inst, no_stale_conf()), 0);
	assert_int_equal(nx__hr_open(&rates, inst, no_stale_conf()), 0);
	assert_int_equal(nxt_open(&c, inst), 0);
	echo = nx_pipeline_id(c, "echo");
	bad = nx_pipeline_id(c, "bad");
	assert_true(echo >= 0 && bad >= 0);
	/* the baseline for rates: the next snapshot of this reader spans the calls */
	assert_int_equal(nx__hr_snapshot(rates, &rs), 0);
	for (i = 0; i < 500; i++)
		assert_int_equal(nx_call(c, (uint16_t)echo, &i, sizeof i, out, sizeof out, &len,
					 nxt_patience_ns()), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(nx_call(c, (uint16_t)bad, &i, sizeof i, out, sizeof out, &len,
					 nxt_patience_ns()), NX_ESTAGE);

	/* the worker publishes a moment after answering: wait for all of it */
	if (!NXT_WAIT_UNTIL(all_published(r, &s), nxt_patience_ns()) && s != NULL)
		fail_msg("not published: worker answered %llu (stage errors %llu), %u channels, "
			 "ours taken %llu, errors %llu, depth %u, outstanding %u",
			 (unsigned long long)s->workers[0].raw.answered,
			 (unsigned long long)s->workers[0].raw.errors[NX_WERR_STAGE], s->nchans,
			 my_chan(s) ? (unsigned long long)my_chan(s)->raw.taken : 0,
			 my_chan(s) ? (unsigned long long)my_chan(s)->raw.errors : 0,
			 my_chan(s) ? my_chan(s)->raw.depth : 0,
			 my_chan(s) ? my_chan(s)->raw.outstanding : 0);
	assert_non_null(s);
	assert_true(all_published(r, &s));
	assert_int_equal(nx__hr_snapshot(rates, &rs), 0);
	assert_true(rs->workers[0].req_per_s > 0);
	assert_true(s->up);
	assert_int_equal(s->nworkers, 1);
	assert_int_equal(s->workers[0].raw.taken, 540);
	assert_int_equal(s->workers[0].raw.answered, 540);
	assert_int_equal(s->workers[0].raw.errors[NX_WERR_STAGE], 40);
	assert_true(s->workers[0].samples >= 540); /* stage-timing 1: every request */
	assert_true(s->workers[0].p50_ns > 0 && s->workers[0].p99_ns >= s->workers[0].p50_ns);
	assert_int_equal(s->workers[0].health, NX_H_HEALTHY);

	echo_s = slot_of(s, "echo");
	bad_s = slot_of(s, "bad");
	assert_non_null(echo_s);
	assert_non_null(bad_s);
	assert_int_equal(echo_s->calls, 500);
	assert_int_equal(echo_s->failures, 0);
	assert_int_equal(echo_s->timed, 500);
	assert_true(echo_s->p99_ns > 0);
	assert_int_equal(echo_s->health, NX_H_HEALTHY);
	assert_int_equal(bad_s->calls, 40);
	assert_int_equal(bad_s->failures, 40);
	assert_int_equal(bad_s->consec_failures, 40);
	assert_int_equal(bad_s->health, NX_H_UNHEALTHY);
	assert_non_null(strstr(bad_s->why, "40 failures in a row"));
	assert_string_equal(bad_s->meta.stage, "fail");
	/* the instance is as bad as its worst slot, and says which */
	assert_int_equal(s->health, NX_H_UNHEALTHY);
	assert_non_null(strstr(s->why, "bad/"));

	/* one channel, ours: no other was ever made */
	assert_int_equal(s->nchans, 1);
	ch = my_chan(s);
	assert_non_null(ch);
	assert_int_equal(ch->raw.taken, 540);
	assert_int_equal(ch->raw.errors, 40);
	assert_int_equal(ch->raw.depth, 0);
	assert_int_equal(ch->raw.outstanding, 0);

	/* half: a run of failures, then one success ends it */
	{
		int half = nx_pipeline_id(c, "half"), fails = 0;
		uint32_t k;

		assert_true(half >= 0);
		for (k = 0; fails < 5; k++)
			if (nx__crc32c(0, &k, sizeof k) % 100 < 50) {
				assert_int_equal(nx_call(c, (uint16_t)half, &k, sizeof k, out, sizeof out,
							 &len, nxt_patience_ns()), NX_ESTAGE);
				fails++;
			}
		s = snapshot_after(r, 545);
		assert_int_equal(slot_of(s, "half")->consec_failures, 5);
		assert_int_equal(slot_of(s, "half")->health, NX_H_DEGRADED);
		for (k = 0; nx__crc32c(0, &k, sizeof k) % 100 < 50; k++)
			;
		assert_int_equal(nx_call(c, (uint16_t)half, &k, sizeof k, out, sizeof out, &len,
					 nxt_patience_ns()), 0);
		s = snapshot_after(r, 546);
		assert_int_equal(slot_of(s, "half")->consec_failures, 0);
		assert_int_equal(slot_of(s, "bad")->consec_failures, 40);
	}
	nx_close(c);
	nx__hr_close(r);
	nx__hr_close(rates);
}

/* Six answered, none read: outstanding 6, the request ring empty. */
static bool
six_outstanding(struct nx_hr *r, const struct nx_hr_snap **sp)
{
	const struct nx_hr_chan *ch;

	if (nx__hr_snapshot(r, sp) != 0)
		return false;
	ch = my_chan(*sp);
	return (*sp)->nchans == 1 && ch != NULL && ch->raw.outstanding == 6 && ch->raw.depth == 0 &&
	       ch->raw.answered == 6;
}

static void
test_outstanding_counts_answers_the_client_has_not_read(void **state)
{
	struct nx_completion comps[8];
	const struct nx_hr_snap *s = NULL;
	const struct nx_hr_chan *ch;
	struct nx_client *c;
	struct nx_hr *r;
	uint8_t out[8][8];
	int echo, i, got = 0;

	(void)state;
	assert_int_equal(nx__hr_open(&r, inst, NULL), 0);
	assert_int_equal(nxt_open(&c, inst), 0);
	echo = nx_pipeline_id(c, "echo");
	for (i = 0; i < 6; i++) {
		struct nx_req q = { .in = "abcd", .in_len = 4, .out = out[i], .out_cap = 8,
				    .pipeline = (uint16_t)echo };

		assert_int_equal(nx_submit(c, &q), 0);
	}
	/* answered, not yet polled: outstanding 6, the ring itself empty (the
	 * answers are counted after each burst, depth and outstanding at the
	 * worker's next heartbeat) */
	NXT_WAIT_UNTIL(six_outstanding(r, &s), nxt_patience_ns());
	assert_non_null(s);
	assert_int_equal(s->nchans, 1);
	ch = my_chan(s);
	assert_non_null(ch);
	assert_int_equal(ch->raw.outstanding, 6);
	assert_int_equal(ch->raw.depth, 0);
	assert_int_equal(ch->raw.answered, 6);
	while (got < 6) {
		int n = nx_wait(c, comps, 8, nxt_patience_ns());

		assert_true(n > 0);
		got += n;
	}
	assert_int_equal(got, 6);
	nx_close(c);
	nx__hr_close(r);
}

static void
test_a_write_through_a_readers_mapping_faults(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = nxt_fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const struct nx_health_view *hv;
		const struct nx_hr_snap *s;
		struct nx_hr *r;

		signal(SIGSEGV, SIG_DFL); /* the test runner's handler would catch it */
		if (nx__hr_open(&r, inst, NULL) != 0 || nx__hr_snapshot(r, &s) != 0)
			_exit(10);
		hv = nx__hr_view(r);
		if (hv == NULL || hv->writable)
			_exit(11);
		/* the cast is the point: the mapping itself must refuse */
		((volatile struct nx_health_hdr *)hv->hdr)->generation = 12345;
		_exit(12);
	}
	st = nxt_wait(pid, nxt_patience_ns());
	assert_int_equal(st, 128 + SIGSEGV);
}

static void
test_restart_is_logged_with_what_the_supervisor_said(void **state)
{
	const struct nx_hr_snap *s;
	struct nx_hr *r;
	int32_t old_pid = nxd.pid;

	(void)state;
	assert_int_equal(nx__hr_open(&r, inst, NULL), 0);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_true(s->up);
	assert_int_equal(s->hdr.generation, 1);
	assert_int_equal(s->nrestarts, 0);

	nxt_nxd_kill(&nxd);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_false(s->up);
	assert_int_equal(s->health, NX_H_DOWN);
	assert_true(s->down_since_wall_ns > 0);
	assert_non_null(strstr(s->why, "gone"));

	/* what nxwd tells the nxd it starts */
	setenv("NX_RESTART_REASON", "killed by signal 9", 1);
	setenv("NX_RESTART_STATUS", "-9", 1);
	setenv("NX_RESTART_OLD_PID", "4242", 1);
	assert_int_equal(nxt_nxd_start(&nxd, inst, (const char *const[]){ "--config", conf_path,
									     NULL }), 0);
	unsetenv("NX_RESTART_REASON");
	unsetenv("NX_RESTART_STATUS");
	unsetenv("NX_RESTART_OLD_PID");
	NXT_WAIT_UNTIL(nx__hr_snapshot(r, &s) == 0 && s->up, nxt_patience_ns());
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_true(s->up);
	assert_int_equal(s->hdr.generation, 2);
	assert_int_equal(s->nrestarts, 1);
	assert_int_equal(s->restarts[0].generation, 2);
	assert_int_equal(s->restarts[0].old_pid, 4242);
	assert_int_equal(s->restarts[0].status, -9);
	assert_string_equal(s->restarts[0].reason, "killed by signal 9");
	assert_true(s->restarts[0].wall_ns > 0);

	/* unsupervised: the entry says so, with the dead nxd's pid */
	old_pid = nxd.pid;
	nxt_nxd_kill(&nxd);
	assert_int_equal(nxt_nxd_start(&nxd, inst, (const char *const[]){ "--config", conf_path,
									     NULL }), 0);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_int_equal(s->hdr.generation, 3);
	assert_int_equal(s->nrestarts, 2);
	assert_int_equal(s->restarts[1].old_pid, old_pid);
	assert_non_null(strstr(s->restarts[1].reason, "not supervised"));

	/* a clean stop is not a restart; the reader follows the new segment */
	assert_int_equal(nxt_nxd_stop(&nxd), 0);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_false(s->up);
	assert_int_equal(s->hdr.generation, 3); /* the last one seen */
	assert_int_equal(nxt_nxd_start(&nxd, inst, (const char *const[]){ "--config", conf_path,
									     NULL }), 0);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	assert_true(s->up);
	assert_int_equal(s->hdr.generation, 1); /* a new segment */
	assert_int_equal(s->nrestarts, 0);
	nx__hr_close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counters_a_client_produced_read_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_outstanding_counts_answers_the_client_has_not_read,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_write_through_a_readers_mapping_faults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_is_logged_with_what_the_supervisor_said,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
