/*
 * Resilience end to end, on a real nxd: a breaker driven open, half-open
 * and closed by a stage that fails half the time; a faulting stage
 * contained and quarantined while other pipelines answer; expired,
 * rate-limited and degraded answers; an overrun budget; the dead-letter
 * ring listed, shown, replayed, drained and overflowing; nxctl breaker.
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
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/breaker.h"
#include "core/datapath/crc32c.h"
#include "harness/harness.h"
#include "shm/monitor/health_read.h"

/* The breaker stays open this long: longer than any run of calls that
 * must all be refused takes, even on a loaded machine. */
#define BREAKER_WAIT_MS 3000u

static char inst[64], conf_path[128];
static struct nxt_nxd nxd = { .pid = -1 };
static struct nx_client *c;
static struct nx_hr *hr;

static int
start(const char *extra_nxd, const char *const *args)
{
	const char *faulty = nxt_plugin_path("faulty");
	FILE *f;

	nxt_instance(inst, sizeof inst, "resil");
	nxt_tmpfile(conf_path, sizeof conf_path, "resil.ini");
	f = fopen(conf_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "[nxd]\nstage-timing = 1\n%s\n"
		   "[pipeline.flaky]\ngraph = f\nf.stage = fail\nf.percent = 50\n"
		   "f.breaker = count\nf.breaker-window = 10\nf.breaker-min-calls = 10\n"
		   "f.breaker-failure-pct = 50\nf.breaker-wait-ms = %u\nf.breaker-half-open = 4\n\n"
		   "[pipeline.crashy]\ngraph = c\nc.stage = faulty\nc.plugin = %s\n"
		   "c.contain-faults = on\n\n"
		   "[pipeline.skipper]\ngraph = s\ns.stage = fail\ns.degraded = skip\n\n"
		   "[pipeline.backup]\ngraph = s\ns.stage = fail\ns.degraded = fallback\n"
		   "s.fallback = checksum\n\n"
		   "[pipeline.cached]\ngraph = k\nk.stage = faulty\nk.plugin = %s\nk.breaker = count\n"
		   "k.degraded = cache\nk.cache-entries = 16\n\n"
		   "[pipeline.budget]\ngraph = b\nb.stage = faulty\nb.plugin = %s\nb.slow_us = 3000\n"
		   "b.budget-us = 500\nb.over-budget = fail\n",
		extra_nxd, BREAKER_WAIT_MS, faulty, faulty, faulty);
	fclose(f);
	{
		const char *argv[8] = { "--config", conf_path };
		int n = 2;

		while (args != NULL && *args != NULL && n < 7)
			argv[n++] = *args++;
		argv[n] = NULL;
		if (nxt_nxd_start(&nxd, inst, argv) != 0)
			return -1;
	}
	if (nxt_open(&c, inst) != 0 || nx__hr_open(&hr, inst, NULL) != 0)
		return -1;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return start("dlq-entries = 64", NULL);
}

static int
teardown(void **state)
{
	(void)state;
	nx_close(c);
	nx__hr_close(hr);
	c = NULL;
	hr = NULL;
	if (nxd.pid > 0)
		nxt_nxd_stop(&nxd);
	nxt_cleanup(inst);
	unlink(conf_path);
	nxt_reap();
	return 0;
}

static int
pipe_id(const char *name)
{
	int id = nx_pipeline_id(c, name);

	assert_true(id >= 0);
	return id;
}

/* One call; its status, and its answer and flags. */
static int
call(int pipeline, const void *in, uint32_t len, void *out, uint32_t *out_len, uint32_t *flags,
     uint64_t deadline_ns)
{
	struct nx_req r = { .in = in, .in_len = len, .out = out, .out_cap = 256,
			    .pipeline = (uint16_t)pipeline, .deadline_ns = deadline_ns };
	struct nx_completion comp;
	int rc = nx_submit(c, &r);

	assert_int_equal(rc, 0);
	rc = nx_wait(c, &comp, 1, nxt_patience_ns());
	assert_int_equal(rc, 1);
	if (out_len != NULL)
		*out_len = comp.out_len;
	if (flags != NULL)
		*flags = comp.flags;
	return comp.status;
}

static const struct nx_hr_slot *
slot(const char *pipe)
{
	const struct nx_hr_snap *s;
	unsigned i;

	assert_int_equal(nx__hr_snapshot(hr, &s), 0);
	for (i = 0; i < s->nslots; i++)
		if (strcmp(s->slots[i].meta.pipe, pipe) == 0)
			return &s->slots[i];
	fail_msg("no slot of pipeline %s in the health segment", pipe);
	return NULL;
}

/* This process's channel in a snapshot (by pid), or NULL. */
static const struct nx_hr_chan *
my_chan(const struct nx_hr_snap *s)
{
	unsigned i;

	for (i = 0; i < s->nchans; i++)
		if (s->chans[i].raw.pid == getpid() && s->chans[i].raw.state == NX_CHAN_ATTACHED)
			return &s->chans[i];
	return NULL;
}

/* A payload the fail stage (percent 50) lets through, or fails. */
static uint32_t
payload(bool passes, uint32_t *k)
{
	for (;; (*k)++)
		if ((nx__crc32c(0, k, sizeof *k) % 100 >= 50) == passes)
			return (*k)++;
}

static void
test_breaker_opens_half_opens_and_closes_on_a_stage_failing_half_the_time(void **state)
{
	uint8_t out[256];
	uint32_t k = 0, p, i, ok = 0, failed = 0, refused = 0;
	const struct nx_hr_slot *s;
	int flaky = pipe_id("flaky"), rc;
	uint64_t t_open = 0;

	(void)state;
	/* alternate: every other call fails, 50% >= 50% once 10 are in */
	for (i = 0; i < 10; i++) {
		t_open = nxt_now_ns(); /* the last: before the call that opens it */
		p = payload(i % 2 == 0, &k);
		rc = call(flaky, &p, sizeof p, out, NULL, NULL, 0);
		assert_int_equal(rc, i % 2 == 0 ? 0 : NX_ESTAGE);
	}
	s = slot("flaky");
	assert_int_equal(s->breaker, NX_BRK_OPEN);
	assert_int_equal(s->opened, 1);
	assert_int_equal(s->health, NX_H_UNHEALTHY);
	/* open: refused at once, passing payloads too (for BREAKER_WAIT_MS) */
	for (i = 0; i < 20; i++) {
		p = payload(true, &k);
		rc = call(flaky, &p, sizeof p, out, NULL, NULL, 0);
		if (rc == NX_EBREAKER)
			refused++;
	}
	/* All 20 are refused while the breaker waits. On a machine so slow
	 * that they took longer, a probe may have gone through and what
	 * follows is another test: skipped, not failed. */
	if (nxt_now_ns() - t_open >= BREAKER_WAIT_MS * 1000000ull) {
		print_message("20 calls took longer than the breaker's wait: not judged\n");
		skip();
	}
	assert_int_equal(refused, 20);
	assert_int_equal(slot("flaky")->rejected, 20);
	/* after the wait: half-open lets 4 through; all pass, so it closes
	 * (sleeping past the breaker's timer is the lower bound it needs) */
	usleep((BREAKER_WAIT_MS + 100) * 1000);
	for (i = 0; i < 4; i++) {
		p = payload(true, &k);
		assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), 0);
		if (i == 0)
			assert_int_equal(slot("flaky")->breaker, NX_BRK_HALF_OPEN);
	}
	s = slot("flaky");
	assert_int_equal(s->breaker, NX_BRK_CLOSED);
	assert_int_equal(s->half_opened, 1);
	assert_int_equal(s->closed, 1);
	/* a random 50% stream keeps tripping it: open again at some point */
	for (i = 0; i < 400; i++) {
		p = i * 2654435761u;
		rc = call(flaky, &p, sizeof p, out, NULL, NULL, 0);
		ok += rc == 0;
		failed += rc == NX_ESTAGE;
		refused += rc == NX_EBREAKER;
	}
	assert_true(ok > 0 && failed > 0);
	assert_true(slot("flaky")->opened >= 2);
}

/* A failure after it ran: retried only when the request is idempotent;
 * and nxctl forces the breaker, and lets go. */
static void
test_retry_only_the_idempotent_and_breaker_forced_by_nxctl(void **state)
{
	uint8_t out[256];
	uint32_t k = 0, p;
	int flaky = pipe_id("flaky");

	(void)state;
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "close", NULL), 0);
	{
		/* each attempt waits as long as an answer may take on a loaded machine */
		struct nx_retry once = { .attempts = 3, .base_ns = 1000, .timeout_ns = nxt_patience_ns() };
		struct nx_retry idem = { .attempts = 3, .base_ns = 1000, .flags = NX_REQ_IDEMPOTENT,
					 .timeout_ns = nxt_patience_ns() };
		uint32_t len;

		p = payload(false, &k);
		assert_int_equal(nx_call_retry(c, (uint16_t)flaky, &p, sizeof p, out, sizeof out, &len,
					       &once), NX_ESTAGE);
		assert_int_equal(once.tried, 1);
		assert_int_equal(nx_call_retry(c, (uint16_t)flaky, &p, sizeof p, out, sizeof out, &len,
					       &idem), NX_ESTAGE);
		assert_int_equal(idem.tried, 3);
	}
	/* nxctl forces it, and lets go */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "close", NULL), 0);
	p = payload(true, &k);
	assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), 0);
	assert_int_equal(slot("flaky")->breaker, NX_BRK_CLOSED);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "open", NULL), 0);
	assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), NX_EBREAKER);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "auto", NULL), 0);
	assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), 0);
	/* refusals name what was wrong */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "sideways", NULL), NX_EINVAL);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "skipper", "s", "open", NULL), NX_EINVAL);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "nope", "f", "open", NULL), NX_ENOENT);
}

static void
test_faulting_stage_is_contained_and_quarantined_while_others_answer(void **state)
{
	int crashy = pipe_id("crashy"), echo = pipe_id("echo");
	uint8_t out[256];
	uint32_t len;
	char *text = NULL;
	const struct nx_hr_slot *s;

	(void)state;
	assert_int_equal(call(crashy, "fine", 4, out, &len, NULL, 0), 0);
	assert_int_equal(call(crashy, "segv", 4, out, NULL, NULL, 0), NX_EFAULT);
	/* quarantined: nothing runs it until an operator says so */
	assert_int_equal(call(crashy, "fine", 4, out, NULL, NULL, 0), NX_EQUARANTINE);
	assert_int_equal(call(echo, "still here", 10, out, &len, NULL, 0), 0);
	assert_memory_equal(out, "still here", 10);
	s = slot("crashy");
	assert_int_equal(s->faults, 1);
	assert_true(s->quarantined);
	assert_int_equal(s->health, NX_H_UNHEALTHY);
	assert_int_equal(nxt_ctl(inst, &text, 0, "release", "crashy", "c", NULL), 0);
	assert_non_null(strstr(text, "released"));
	free(text);
	assert_int_equal(call(crashy, "fine", 4, out, &len, NULL, 0), 0);
	/* TSan's runtime counts itself inside a signal handler after the first
	 * siglongjmp out of one, and defers the next fault forever: under TSan
	 * one contained fault is all this test shows */
	if (getenv("NX_SAN") == NULL || strcmp(getenv("NX_SAN"), "tsan") != 0) {
		assert_int_equal(call(crashy, "fpe", 3, out, NULL, NULL, 0), NX_EFAULT);
		assert_int_equal(call(echo, "and here", 8, out, &len, NULL, 0), 0);
		assert_int_equal(slot("crashy")->faults, 2);
	}
	/* a swap puts a fresh instance in: in service again */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "swap", "crashy", "c", "faulty", "--plugin",
			     nxt_plugin_path("faulty"), NULL), 0);
	assert_int_equal(call(crashy, "fine", 4, out, &len, NULL, 0), 0);
	assert_int_equal(kill(nxd.pid, 0), 0);
}

static void
test_expired_request_is_answered_without_running_and_dead_lettered(void **state)
{
	int echo = pipe_id("echo");
	uint8_t out[256];
	char *text = NULL;

	(void)state;
	/* 10 s late, 30 s ahead: whatever the worker's clock lags or the
	 * machine stalls (deadlines are 32-bit us, within 35 minutes) */
	assert_int_equal(call(echo, "late", 4, out, NULL, NULL, nx_now_ns() - 10000000000ull),
			 NX_EEXPIRED);
	assert_int_equal(call(echo, "in time", 7, out, NULL, NULL, nx_now_ns() + 30000000000ull), 0);
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "\"status\":\"EEXPIRED\""));
	assert_non_null(strstr(text, "\"pipeline\":\"echo\""));
	free(text);
}

static void
test_degraded_answers_say_so(void **state)
{
	int skipper = pipe_id("skipper"), backup = pipe_id("backup"), cached = pipe_id("cached");
	uint8_t out[256];
	uint32_t len, flags, crc;

	(void)state;
	/* skip: the input passes through */
	assert_int_equal(call(skipper, "as is", 5, out, &len, &flags, 0), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "as is", 5);
	assert_true(flags & NX_COMP_DEGRADED);
	/* fallback: the checksum stage answers instead */
	assert_int_equal(call(backup, "abc", 3, out, &len, &flags, 0), 0);
	assert_int_equal(len, 4);
	crc = nx__crc32c(0, "abc", 3);
	assert_memory_equal(out, &crc, 4);
	assert_true(flags & NX_COMP_DEGRADED);
	/* cache: the last good answer for the same input, once the stage cannot answer */
	assert_int_equal(call(cached, "remember me", 11, out, &len, &flags, 0), 0);
	assert_false(flags & NX_COMP_DEGRADED);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "cached", "k", "open", NULL), 0);
	memset(out, 0, sizeof out);
	assert_int_equal(call(cached, "remember me", 11, out, &len, &flags, 0), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(out, "remember me", 11);
	assert_true(flags & NX_COMP_DEGRADED);
	assert_int_equal(call(cached, "never seen", 10, out, &len, &flags, 0), NX_EBREAKER);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "cached", "k", "auto", NULL), 0);
	assert_int_equal(slot("skipper")->degraded, 1);
	assert_int_equal(slot("backup")->degraded, 1);
	assert_int_equal(slot("cached")->degraded, 1);
}

static void
test_overrun_budget_fails_the_call(void **state)
{
	int budget = pipe_id("budget");
	uint8_t out[256];
	uint32_t len;

	uint64_t before;
	int rc;

	(void)state;
	/* a quick call fits the 500 us budget unless the worker is preempted
	 * in it (a loaded machine can take it away for longer): until one
	 * does, bounded; the slow one (3 ms) overruns whatever happens */
	NXT_WAIT_UNTIL((rc = call(budget, "quick", 5, out, &len, NULL, 0)) == 0 ||
			       rc != NX_EOVERBUDGET,
		       nxt_patience_ns());
	assert_int_equal(rc, 0);
	before = slot("budget")->overruns;
	assert_int_equal(call(budget, "slow", 4, out, &len, NULL, 0), NX_EOVERBUDGET);
	/* counters are published after the burst: until it shows */
	NXT_WAIT_UNTIL(slot("budget")->overruns > before, nxt_patience_ns());
	assert_true(slot("budget")->overruns > before);
}

static void
test_dead_letters_list_show_replay_drain(void **state)
{
	int flaky = pipe_id("flaky");
	uint8_t out[256];
	uint32_t k = 0, p[3], i;
	char *text = NULL, id[32], *at;

	(void)state;
	assert_int_equal(nxt_ctl(inst, NULL, 0, "dlq", "drain", NULL), 0);
	/* three requests refused by a forced-open breaker */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "open", NULL), 0);
	for (i = 0; i < 3; i++) {
		p[i] = payload(true, &k);
		assert_int_equal(call(flaky, &p[i], sizeof p[i], out, NULL, NULL, 0), NX_EBREAKER);
	}
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "\"held\":3"));
	assert_non_null(strstr(text, "\"status\":\"EBREAKER\""));
	at = strstr(text, "\"id\":\"");
	assert_non_null(at);
	assert_int_equal(sscanf(at, "\"id\":\"%31[0-9.]\"", id), 1);
	free(text);
	/* show: the reason and the payload, byte for byte */
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "show", id, NULL), 0);
	{
		char hex[16];

		snprintf(hex, sizeof hex, "%02x%02x%02x%02x", p[0] & 0xff, (p[0] >> 8) & 0xff,
			 (p[0] >> 16) & 0xff, p[0] >> 24);
		assert_non_null(strstr(text, hex));
		assert_non_null(strstr(text, "circuit breaker open"));
	}
	free(text);
	/* the stage is back: replay answers them all and drains them */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "auto", NULL), 0);
	{
		char cmd[512];
		FILE *f;
		int st;

		snprintf(cmd, sizeof cmd, "%s --instance %s --json dlq replay", nxt_bin("nxctl"), inst);
		f = popen(cmd, "r");
		assert_non_null(f);
		text = calloc(1, 4096);
		assert_true(fread(text, 1, 4095, f) > 0);
		st = pclose(f);
		assert_int_equal(st, 0);
		assert_non_null(strstr(text, "\"answered\":3"));
		free(text);
	}
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "\"held\":0"));
	free(text);
	/* show of a drained one says so */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "dlq", "show", id, NULL), NX_ENOENT);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "dlq", "show", "x.y", NULL), NX_EINVAL);
}

static void
test_full_dead_letter_ring_drops_the_oldest_and_counts_it(void **state)
{
	int flaky;
	uint8_t out[256];
	uint32_t k = 0, p, i;
	char *text = NULL;

	(void)state;
	teardown(NULL);
	assert_int_equal(start("dlq-entries = 4", NULL), 0);
	flaky = pipe_id("flaky");
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "open", NULL), 0);
	for (i = 0; i < 6; i++) {
		p = payload(true, &k);
		assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), NX_EBREAKER);
	}
	assert_int_equal(nxt_ctl(inst, &text, 1, "dlq", "list", NULL), 0);
	assert_non_null(strstr(text, "\"held\":4"));
	assert_non_null(strstr(text, "\"written\":6"));
	assert_non_null(strstr(text, "\"dropped\":2"));
	free(text);
	{
		const struct nx_hr_snap *s = NULL;

		/* the worker publishes these when idle or at its heartbeat */
		NXT_WAIT_UNTIL(nx__hr_snapshot(hr, &s) == 0 && s->nworkers > 0 &&
			       s->workers[0].raw.dlq_written == 6 && s->workers[0].raw.dlq_dropped == 2,
			       nxt_patience_ns());
		assert_non_null(s);
		assert_int_equal(s->workers[0].raw.dlq_written, 6);
		assert_int_equal(s->workers[0].raw.dlq_dropped, 2);
	}
}

/* Our channel's record shows `limited` refusals (published at the heartbeat). */
static bool
chan_rate_limited(uint64_t limited, const struct nx_hr_snap **sp)
{
	return nx__hr_snapshot(hr, sp) == 0 && my_chan(*sp) != NULL &&
	       my_chan(*sp)->raw.rate_limited == limited;
}

static void
test_rate_limit_answers_over_the_limit_at_once(void **state)
{
	struct nx_completion comps[64];
	uint8_t out[64][8];
	int echo, n, got = 0, ok = 0, limited = 0, i;
	uint64_t t0, elapsed_s;

	(void)state;
	teardown(NULL);
	/* 1 token a second, 10 in the bucket (full at the channel's first burst) */
	assert_int_equal(start("rate-limit = 1\nrate-burst = 10", NULL), 0);
	echo = pipe_id("echo");
	/* 40 at once: the bucket's 10 go, plus one for each second the 40 take */
	t0 = nx_now_ns();
	for (i = 0; i < 40; i++) {
		struct nx_req r = { .in = "x", .in_len = 1, .out = out[i], .out_cap = 8,
				    .pipeline = (uint16_t)echo };

		assert_int_equal(nx_submit(c, &r), 0);
	}
	while (got < 40) {
		n = nx_wait(c, comps, 64, nxt_patience_ns());
		assert_true(n > 0);
		for (i = 0; i < n; i++) {
			ok += comps[i].status == 0;
			limited += comps[i].status == NX_ERATELIMIT;
		}
		got += n;
	}
	elapsed_s = (nx_now_ns() - t0) / 1000000000ull;
	print_message("40 requests in %llu s: %d answered, %d rate limited\n",
		      (unsigned long long)elapsed_s, ok, limited);
	assert_int_equal(got, 40);
	assert_int_equal(ok + limited, 40);
	assert_true(ok >= 10);
	assert_true((uint64_t)ok <= 10 + elapsed_s + 1);
	/* the channel's record counts them */
	{
		const struct nx_hr_snap *s = NULL;

		NXT_WAIT_UNTIL(chan_rate_limited((uint64_t)limited, &s), nxt_patience_ns());
		assert_non_null(s);
		assert_non_null(my_chan(s));
		assert_int_equal(my_chan(s)->raw.rate_limited, limited);
	}
	/* nx_call_retry rides a limit out: refused, backed off, answered */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "ratelimit", "all", "1", "1", NULL), 0);
	{
		struct nx_retry rt;
		uint32_t len = 0;
		int round, rc = 0;

		/* The bucket's one token goes on the first call at most, and the
		 * retry's first attempt is refused unless a second passed since
		 * (a stalled machine): then empty the bucket and try again. */
		for (round = 0; round < 10; round++) {
			uint64_t t1 = nx_now_ns();

			while ((rc = call(echo, "w", 1, out[0], NULL, NULL, 0)) == 0 &&
			       nx_now_ns() - t1 < nxt_patience_ns())
				;
			assert_int_equal(rc, NX_ERATELIMIT);
			/* backoffs up to 200 ms, attempts enough for far more than the
			 * second a token takes */
			rt = (struct nx_retry){ .attempts = 1000, .base_ns = 50000000, .max_ns = 200000000,
						.timeout_ns = nxt_patience_ns() };
			assert_int_equal(nx_call_retry(c, (uint16_t)echo, "z", 1, out[0], 8, &len, &rt), 0);
			assert_int_equal(len, 1);
			if (rt.first_error == NX_ERATELIMIT)
				break;
		}
		assert_int_equal(rt.first_error, NX_ERATELIMIT);
		assert_true(rt.tried >= 2);
	}
	/* nxctl lifts it */
	assert_int_equal(nxt_ctl(inst, NULL, 0, "ratelimit", "all", "0", NULL), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(call(echo, "y", 1, out[0], NULL, NULL, 0), 0);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "ratelimit", "all", "-5", NULL), NX_EINVAL);
}

/* The object of a JSON array whose text holds needle (no nested objects
 * in it): from the '{' before it to the '}' after. */
static char *
object_with(const char *json, const char *needle, char *buf, size_t len)
{
	const char *at = strstr(json, needle), *b, *e;

	if (at == NULL)
		return NULL;
	for (b = at; b > json && *b != '{'; b--)
		;
	e = strchr(at, '}');
	if (e == NULL || (size_t)(e - b + 1) >= len)
		return NULL;
	memcpy(buf, b, (size_t)(e - b + 1));
	buf[e - b + 1] = '\0';
	return buf;
}

/* Our channel's refusals and expired request, and the worker's three dead
 * letters, published (at the worker's heartbeat, or when it idles). */
static bool
figures_out(const struct nx_hr_snap **sp)
{
	const struct nx_hr_chan *ch;

	if (nx__hr_snapshot(hr, sp) != 0 || (*sp)->nworkers == 0)
		return false;
	ch = my_chan(*sp);
	return ch != NULL && ch->raw.rate == 1 && ch->raw.rate_limited >= 1 && ch->raw.expired == 1 &&
	       (*sp)->workers[0].raw.dlq_written == 3;
}

static void
test_everything_shows_in_nxtops_json(void **state)
{
	int flaky = pipe_id("flaky"), crashy = pipe_id("crashy"), skipper = pipe_id("skipper");
	int echo = pipe_id("echo");
	uint8_t out[256];
	char cmd[512], *text, obj[2048], mine[64];
	const struct nx_hr_snap *s = NULL;
	uint32_t k = 0, p;
	uint64_t t0;
	FILE *f;
	size_t n;
	int rc;

	(void)state;
	assert_int_equal(nxt_ctl(inst, NULL, 0, "breaker", "flaky", "f", "open", NULL), 0);
	p = payload(true, &k);
	assert_int_equal(call(flaky, &p, sizeof p, out, NULL, NULL, 0), NX_EBREAKER);
	assert_int_equal(call(crashy, "segv", 4, out, NULL, NULL, 0), NX_EFAULT);
	assert_int_equal(call(skipper, "x", 1, out, NULL, NULL, 0), 0);
	assert_int_equal(call(echo, "late", 4, out, NULL, NULL, nx_now_ns() - 10000000000ull),
			 NX_EEXPIRED);
	assert_int_equal(nxt_ctl(inst, NULL, 0, "ratelimit", "all", "1", "1", NULL), 0);
	t0 = nx_now_ns();
	while ((rc = call(echo, "y", 1, out, NULL, NULL, 0)) == 0 && nx_now_ns() - t0 < nxt_patience_ns())
		;
	assert_int_equal(rc, NX_ERATELIMIT);
	/* the channel's figures go out at the worker's next heartbeat */
	if (!NXT_WAIT_UNTIL(figures_out(&s), nxt_patience_ns()))
		fail_msg("not published: our channel %s, worker's dead letters %llu",
			 s != NULL && my_chan(s) != NULL ? "found" : "not found",
			 s != NULL && s->nworkers > 0 ? (unsigned long long)s->workers[0].raw.dlq_written : 0);
	snprintf(cmd, sizeof cmd, "%s --instance %s --json -d 0.1", nxt_bin("nxtop"), inst);
	f = popen(cmd, "r");
	assert_non_null(f);
	text = calloc(1, 1 << 20);
	n = fread(text, 1, (1 << 20) - 1, f);
	assert_int_equal(pclose(f), 0);
	assert_true(n > 0);
	assert_non_null(object_with(text, "\"pipeline\":\"flaky\"", obj, sizeof obj));
	assert_non_null(strstr(obj, "\"breaker\":\"open\""));
	assert_non_null(strstr(obj, "\"breaker_opened\":1,"));
	assert_non_null(strstr(obj, "\"breaker_rejected\":1,"));
	assert_non_null(object_with(text, "\"pipeline\":\"crashy\"", obj, sizeof obj));
	assert_non_null(strstr(obj, "\"faults\":1,"));
	assert_non_null(strstr(obj, "\"quarantined\":true"));
	assert_non_null(object_with(text, "\"pipeline\":\"skipper\"", obj, sizeof obj));
	assert_non_null(strstr(obj, "\"degraded\":1,"));
	/* our channel's object, by pid */
	snprintf(mine, sizeof mine, "\"pid\":%d,\"uid\":", (int)getpid());
	assert_non_null(object_with(text, mine, obj, sizeof obj));
	assert_non_null(strstr(obj, "\"rate_limit\":1,"));
	assert_non_null(strstr(obj, "\"expired\":1}"));
	assert_null(strstr(obj, "\"rate_limited\":0,"));
	/* the worker's dead letters: the refused, the faulted, the expired one */
	assert_non_null(strstr(text, "\"dlq_written\":3,"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_breaker_opens_half_opens_and_closes_on_a_stage_failing_half_the_time, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_retry_only_the_idempotent_and_breaker_forced_by_nxctl,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_faulting_stage_is_contained_and_quarantined_while_others_answer, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_expired_request_is_answered_without_running_and_dead_lettered, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_degraded_answers_say_so, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_budget_fails_the_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_letters_list_show_replay_drain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_dead_letter_ring_drops_the_oldest_and_counts_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit_answers_over_the_limit_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_everything_shows_in_nxtops_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
