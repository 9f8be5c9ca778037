/*
 * Pipeline graphs: what every node kind does with a message, and what the
 * spec parser refuses. Built from text with the built-in stages, run
 * directly as a worker would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datapath/pipe_run.h"
#include "core/pipeline/stages.h"
#include "core/datapath/worker.h"

#define CAP 4096

static const struct nx_build_env env = { .max_payload = CAP, .scratch_bytes = 1 << 20 };

struct run {
	struct nx_pipeline *p;
	struct nx_ctx ctx;
	struct nx_exec x;
	uint32_t rr[NX_MAX_RR];
	uint8_t out[CAP];
	uint32_t out_len;
	uint8_t *scratch;
};

static int
build_rc(struct nx_pipeline **p, const char *text)
{
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	int rc;

	assert_non_null(spec);
	rc = nx__spec_init(spec, "t");
	if (rc == 0)
		rc = nx__spec_parse_text(spec, text);
	if (rc == 0)
		rc = nx__spec_finish(spec);
	if (rc == 0)
		rc = nx__pipeline_build(p, spec, &env);
	free(spec);
	return rc;
}

static struct run *
make(const char *text)
{
	struct run *r = calloc(1, sizeof *r);

	assert_non_null(r);
	if (build_rc(&r->p, text) != 0)
		fail_msg("build failed: %s", nx__errmsg());
	r->scratch = calloc(1, 1 << 20); /* as a worker's */
	return r;
}

static void
done(struct run *r)
{
	nx__pipeline_destroy(r->p, &env);
	free(r->scratch);
	free(r);
}

/* Run on a string; the answer (NUL-terminated) in r->out. */
static int
run_on(struct run *r, uint32_t channel, const char *in)
{
	struct nx_msg m = { .in = (const uint8_t *)in, .in_len = (uint32_t)strlen(in),
			    .out = r->out, .out_cap = CAP - 1 };
	int rc;

	memset(&r->ctx, 0, sizeof r->ctx);
	r->ctx.channel = channel;
	r->x = (struct nx_exec){ .ctx = &r->ctx, .scratch = r->scratch, .scratch_cap = 1 << 20,
				 .max_payload = CAP, .rr = r->rr };
	rc = nx__pipeline_run(r->p, &m, &r->x);
	r->out_len = rc == 0 ? m.out_len : 0;
	r->out[r->out_len] = '\0';
	return rc;
}

static void
test_seq_feeds_each_output_to_the_next(void **state)
{
	struct run *r = make("graph = seq(a, b, c)\na.stage = tag\na.text = A\nb.stage = tag\n"
			     "b.text = B\nc.stage = tag\nc.text = C\n");

	(void)state;
	assert_int_equal(run_on(r, 0, "in:"), 0);
	assert_string_equal((char *)r->out, "in:ABC");
	assert_int_equal(r->ctx.nroute, 3);
	done(r);
}

static void
test_seq_passes_through_noop_stages_without_copies(void **state)
{
	struct run *r = make("graph = seq(noop, a, n2)\na.stage = tag\na.text = !\nn2.stage = noop\n");

	(void)state;
	assert_int_equal(run_on(r, 0, "hello"), 0);
	assert_string_equal((char *)r->out, "hello!");
	done(r);
	r = make("graph = seq(n1, n2, n3)\nn1.stage = noop\nn2.stage = noop\nn3.stage = noop\n");
	assert_int_equal(run_on(r, 0, "same"), 0);
	assert_string_equal((char *)r->out, "same");
	done(r);
}

static void
test_branch_runs_the_child_the_selector_names(void **state)
{
	struct run *r = make("graph = branch(x, y, z; by: sel)\nsel.stage = pick\nsel.child = 2\n"
			     "x.stage = tag\nx.text = X\ny.stage = tag\ny.text = Y\nz.stage = tag\n"
			     "z.text = Z\n");

	(void)state;
	assert_int_equal(run_on(r, 0, "0"), 0);
	assert_string_equal((char *)r->out, "0X");
	assert_int_equal(run_on(r, 0, "1"), 0);
	assert_string_equal((char *)r->out, "1Y");
	assert_int_equal(run_on(r, 0, "no digit"), 0); /* the selector's default: child=2 */
	assert_string_equal((char *)r->out, "no digitZ");
	/* a selector naming a child that is not there fails the request */
	assert_int_equal(run_on(r, 0, "7"), NX_ESTAGE);
	done(r);
}

static void
test_fanout_merges_outputs_in_child_order(void **state)
{
	struct run *r = make("graph = fanout(a, b, seq2; merge: m)\na.stage = tag\na.text = A\n"
			     "b.stage = tag\nb.text = B\nm.stage = concat\nm.sep = |\n"
			     "seq2 = seq(c1, c2)\nc1.stage = tag\nc1.text = C\nc2.stage = tag\n"
			     "c2.text = D\n");

	(void)state;
	assert_int_equal(run_on(r, 0, "x"), 0);
	assert_string_equal((char *)r->out, "xA|xB|xCD");
	done(r);
}

static void
test_split_weights_hold_within_statistical_bounds(void **state)
{
	struct run *r = make("graph = split(a 90, b 10; key: request)\na.stage = tag\na.text = A\n"
			     "b.stage = tag\nb.text = B\n");
	unsigned i, na = 0, n = 100000;

	(void)state;
	for (i = 0; i < n; i++) {
		char in[32];

		snprintf(in, sizeof in, "request-%u", i);
		assert_int_equal(run_on(r, 0, in), 0);
		na += r->out[r->out_len - 1] == 'A';
	}
	/* 90% +- 1%: the binomial's standard deviation here is 0.095% */
	print_message("split 90/10 by request: %.2f%% to a\n", 100.0 * na / n);
	assert_true(na > n * 89 / 100 && na < n * 91 / 100);
	done(r);
}

static void
test_split_by_client_is_sticky_and_spread_by_weight(void **state)
{
	struct run *r = make("graph = split(a 3, b 1)\na.stage = tag\na.text = A\nb.stage = tag\n"
			     "b.text = B\n");
	unsigned ch, k, na = 0, n = 20000;

	(void)state;
	for (ch = 0; ch < n; ch++) {
		char first;

		assert_int_equal(run_on(r, ch, "p"), 0);
		first = (char)r->out[1];
		na += first == 'A';
		for (k = 0; k < 5; k++) { /* the same client, other payloads: the same child */
			assert_int_equal(run_on(r, ch, k & 1 ? "q" : "rr"), 0);
			assert_int_equal(r->out[r->out_len - 1], first);
		}
	}
	print_message("split 3:1 by client: %.2f%% of clients to a\n", 100.0 * na / n);
	assert_true(na > n * 73 / 100 && na < n * 77 / 100); /* 75% +- 2% (sd 0.31%) */
	done(r);
}

static void
test_split_falls_back_to_the_first_child_when_another_fails(void **state)
{
	struct run *r = make("graph = split(a 1, broken 1000; key: request)\na.stage = tag\n"
			     "a.text = A\nbroken = seq(f, b)\nf.stage = fail\nf.percent = 100\n"
			     "b.stage = tag\nb.text = B\n");
	unsigned i, fell = 0;

	(void)state;
	for (i = 0; i < 1000; i++) {
		char in[16];

		snprintf(in, sizeof in, "%u", i);
		assert_int_equal(run_on(r, 0, in), 0);
		assert_int_equal(r->out[r->out_len - 1], 'A');
		fell += (r->ctx.flags & NX_CTX_FALLBACK) != 0;
	}
	assert_true(fell > 950); /* all that went to the broken child, ~99.9% */
	done(r);
	/* when the first child itself fails, the request fails */
	r = make("graph = split(f 1, b 1)\nf.stage = fail\nb.stage = fail\n");
	assert_int_equal(run_on(r, 1, "x"), NX_ESTAGE);
	done(r);
}

static void
test_roundrobin_takes_turns_fairly(void **state)
{
	struct run *r = make("graph = roundrobin(a, b, c)\na.stage = tag\na.text = A\n"
			     "b.stage = tag\nb.text = B\nc.stage = tag\nc.text = C\n");
	unsigned i, counts[3] = { 0 };

	(void)state;
	for (i = 0; i < 3000; i++) {
		assert_int_equal(run_on(r, i % 7, "x"), 0);
		counts[r->out[1] - 'A']++;
		/* strictly in turn */
		assert_int_equal(r->out[1], 'A' + i % 3);
	}
	assert_int_equal(counts[0], 1000);
	assert_int_equal(counts[1], 1000);
	assert_int_equal(counts[2], 1000);
	done(r);
}

static void
test_nested_graph_runs_every_kind_together(void **state)
{
	struct run *r = make("graph = seq(route, fan)\n"
			     "route = branch(r0, r1; by: pick)\n"
			     "fan = fanout(rr, sp; merge: cat)\n"
			     "rr = rr(t1, t2)\n"
			     "sp = split(t3 1, t4 1; key: client)\n"
			     "r0.stage = tag\nr0.text = <0>\nr1.stage = tag\nr1.text = <1>\n"
			     "t1.stage = tag\nt1.text = 1\nt2.stage = tag\nt2.text = 2\n"
			     "t3.stage = tag\nt3.text = 3\nt4.stage = tag\nt4.text = 4\n"
			     "cat.stage = concat\ncat.sep = +\n");
	char want[64];

	(void)state;
	assert_int_equal(run_on(r, 5, "1"), 0);
	/* branch picks r1; fan: rr's first turn (t1), split sticky for channel 5 */
	memcpy(want, r->out, r->out_len + 1);
	assert_non_null(strstr(want, "1<1>1+1<1>"));
	assert_int_equal(run_on(r, 5, "1"), 0);
	assert_non_null(strstr((char *)r->out, "1<1>2+1<1>")); /* rr's second turn */
	assert_int_equal(memcmp(r->out + r->out_len - 1, want + strlen(want) - 1, 1), 0);
	done(r);
}

static void
test_stage_version_and_route_are_in_the_context(void **state)
{
	struct run *r = make("graph = seq(a, b)\na.stage = noop\nb.stage = echo\n");

	(void)state;
	r->p->slots[0].hidx = 7;
	r->p->slots[1].hidx = 9;
	r->p->slots[1].cur->version = 42;
	assert_int_equal(run_on(r, 0, "v"), 0);
	assert_int_equal(r->ctx.stage_version, 42);
	assert_int_equal(r->ctx.nroute, 2);
	assert_int_equal(r->ctx.route[0], 7);
	assert_int_equal(r->ctx.route[1], 9);
	done(r);
}

static void
test_a_timed_request_records_each_stages_time(void **state)
{
	struct run *r = make("graph = seq(a, b)\na.stage = echo\nb.stage = checksum\n");
	struct nx_health_slot_stats stats[2];
	struct nx_msg m = { .in = (const uint8_t *)"timed", .in_len = 5, .out = NULL, .out_cap = 64 };

	(void)state;
	memset(stats, 0, sizeof stats);
	r->p->slots[0].hidx = 0;
	r->p->slots[1].hidx = 1;
	m.out = r->out;
	memset(&r->ctx, 0, sizeof r->ctx);
	r->ctx.flags = NX_CTX_TIMED;
	r->x = (struct nx_exec){ .ctx = &r->ctx, .scratch = r->scratch, .scratch_cap = 1 << 20,
				 .max_payload = CAP, .rr = r->rr, .stats = stats, .nstats = 2 };
	assert_int_equal(nx__pipeline_run(r->p, &m, &r->x), 0);
	assert_int_equal(stats[0].calls, 1);
	assert_int_equal(stats[1].calls, 1);
	assert_int_equal(stats[0].timed, 1);
	assert_int_equal(stats[1].timed, 1);
	assert_int_equal(r->ctx.nroute, 2);
	/* an untimed request counts calls only */
	r->ctx.flags = 0;
	r->ctx.nroute = 0;
	assert_int_equal(nx__pipeline_run(r->p, &m, &r->x), 0);
	assert_int_equal(stats[0].calls, 2);
	assert_int_equal(stats[0].timed, 1);
	done(r);
}

static void
test_pipeline_needing_more_scratch_than_workers_have_is_refused(void **state)
{
	struct nx_build_env small = env;
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	struct nx_pipeline *p;

	(void)state;
	small.scratch_bytes = 3 * CAP; /* a fan-out of four needs 4 x (CAP + 4) */
	assert_int_equal(nx__spec_init(spec, "big"), 0);
	assert_int_equal(nx__spec_parse_text(spec, "graph = fanout(echo, noop, checksum, "
						    "e2; merge: m)\ne2.stage = echo\n"
						    "m.stage = concat\n"), 0);
	assert_int_equal(nx__spec_finish(spec), 0);
	assert_int_equal(nx__pipeline_build(&p, spec, &small), NX_ENOSPC);
	assert_non_null(strstr(nx__errmsg(), "scratch"));
	free(spec);
}

static void
test_specs_that_make_no_sense_are_refused_saying_why(void **state)
{
	static const struct {
		const char *text;
		const char *says;
	} bad[] = {
		{ "a.stage = echo\n", "no graph" },
		{ "graph = parallel(a, b)\n", "unknown node kind" },
		{ "graph = nosuch\n", "'nosuch' is not a node, a slot" },
		{ "graph = branch(echo, noop)\n", "needs its selector" },
		{ "graph = fanout(echo, noop)\n", "needs its merge" },
		{ "graph = split(echo)\n", "two children or more" },
		{ "graph = seq(echo 3, noop)\n", "only a split's children take weights" },
		{ "graph = split(echo 0, noop)\n", "weight must be 1" },
		{ "graph = split(echo, noop; key: colour)\n", "key: client or request" },
		{ "graph = seq(echo; by: noop)\n", "option not known" },
		{ "graph = loop\nloop = seq(echo, loop)\n", "refers to itself" },
		{ "graph = seq(echo, noop\n", "expected ')'" },
		{ "graph = echo noop\n", "unexpected text" },
		{ "graph = echo\nextra.stage = noop\n", "slot extra is not in the graph" },
		{ "graph = s\ns.plugin = /x.so\n", "slot s has no stage" },
		{ "graph = seq(seq(seq(seq(seq(seq(seq(seq(seq(echo)))))))))\n", "more than 8 deep" },
		{ "graph = branch(echo, noop; by: sub)\nsub = seq(echo)\n", "must be a slot" },
		{ "graph = echo\nbad name = x\n", "not a node name" },
		/* policies: each key checked, the whole checked */
		{ "graph = s\ns.stage = echo\ns.breaker = sideways\n", "expected off, count or time" },
		{ "graph = s\ns.stage = echo\ns.breaker-window = 0\n", "expected 1 to 256" },
		{ "graph = s\ns.stage = echo\ns.breaker-failure-pct = 101\n", "expected 1 to 100" },
		{ "graph = s\ns.stage = echo\ns.breaker-wait-ms = soon\n", "breaker-wait-ms = 'soon'" },
		{ "graph = s\ns.stage = echo\ns.breaker-colour = red\n", "unknown breaker key" },
		{ "graph = s\ns.stage = echo\ns.breaker-window = 10\ns.breaker-min-calls = 20\n",
		  "min_calls" },
		{ "graph = s\ns.stage = echo\ns.budget-us = -5\n", "budget-us = '-5'" },
		{ "graph = s\ns.stage = echo\ns.over-budget = maybe\n", "expected slow or fail" },
		{ "graph = s\ns.stage = echo\ns.degraded = pray\n", "expected fail, skip, fallback" },
		{ "graph = s\ns.stage = echo\ns.degraded = fallback\n", "needs s.fallback = STAGE" },
		{ "graph = s\ns.stage = echo\ns.fallback = noop\n", "degraded is not fallback" },
		{ "graph = s\ns.stage = echo\ns.cache-entries = 3\n", "a power of two" },
		{ "graph = branch(echo, echo; by: p)\np.stage = pick\np.degraded = skip\n",
		  "slot p is a selector: its degraded strategy cannot be skip" },
		{ "graph = fanout(echo, echo; by: m)\nm.stage = concat\nm.degraded = cache\n", "" },
		{ "graph = fanout(echo, echo; merge: m)\nm.stage = concat\nm.degraded = cache\n",
		  "slot m is a merge: its degraded strategy cannot be cache" },
		{ "graph = s\ns.stage = echo\ns.contain-faults = perhaps\n", "expected on or off" },
	};
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc;

		assert_int_equal(nx__spec_init(spec, "t"), 0);
		rc = nx__spec_parse_text(spec, bad[i].text);
		if (rc == 0)
			rc = nx__spec_finish(spec);
		if (rc != NX_EINVAL || strstr(nx__errmsg(), bad[i].says) == NULL)
			fail_msg("'%s': rc %d, message '%s' lacks '%s'", bad[i].text, rc, nx__errmsg(),
				 bad[i].says);
	}
	free(spec);
}

static void
test_stage_init_failure_and_unknown_stage_build_nothing(void **state)
{
	struct nx_pipeline *p;

	(void)state;
	assert_int_equal(build_rc(&p, "graph = seq(t, f)\nt.stage = tag\nt.text = ok\n"
				     "f.stage = fail\nf.percent = 200\n"), NX_EINVAL);
	assert_non_null(strstr(nx__errmsg(), "slot f"));
	assert_non_null(strstr(nx__errmsg(), "init failed"));
	assert_int_equal(build_rc(&p, "graph = s\ns.stage = nosuch\n"), NX_ENOENT);
	assert_non_null(strstr(nx__errmsg(), "no built-in stage 'nosuch'"));
}

/* ---- stages whose buffers must never alias ---- */

/* "up": like examples/upper.c with prefix ">>": writes its output while it
 * still reads its input, so an output that is its own input garbles it. */
static int
up_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	if ((uint64_t)m->in_len + 2 > m->out_cap)
		return NX_EOVERFLOW;
	m->out[0] = '>';
	m->out[1] = '>';
	for (uint32_t i = 0; i < m->in_len; i++) {
		uint8_t c = m->in[i];

		m->out[2 + i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
	}
	m->out_len = m->in_len + 2;
	return 0;
}

static const struct nx_stage_ops stage_up = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "t_up", .process = up_process,
};

/* "chk": echoes, and counts every call whose input and output overlap. */
static unsigned overlaps, chk_calls;

static int
chk_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	uintptr_t i0 = (uintptr_t)m->in, i1 = i0 + m->in_len;
	uintptr_t o0 = (uintptr_t)m->out, o1 = o0 + m->out_cap;

	(void)state;
	(void)ctx;
	chk_calls++;
	if (m->in_len != 0 && m->out_cap != 0 && i0 < o1 && o0 < i1)
		overlaps++;
	if (m->in_len > m->out_cap)
		return NX_EOVERFLOW;
	memcpy(m->out, m->in, m->in_len);
	m->out_len = m->in_len;
	return 0;
}

static const struct nx_stage_ops stage_chk = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "t_chk", .process = chk_process,
};

/* "claim": writes nothing, says it wrote 16 bytes (a stage that lies). */
static int
claim_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)state;
	(void)ctx;
	m->out_len = m->out_cap < 16 ? m->out_cap : 16;
	return 0;
}

static const struct nx_stage_ops stage_claim = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "t_claim", .process = claim_process,
};

static void
register_test_stages(void)
{
	static bool done;

	if (done)
		return;
	assert_int_equal(nx__stage_register(&stage_up), 0);
	assert_int_equal(nx__stage_register(&stage_chk), 0);
	assert_int_equal(nx__stage_register(&stage_claim), 0);
	done = true;
}

static void
test_a_stage_that_claims_more_than_it_wrote_finds_no_earlier_request(void **state)
{
	static const char *const graphs[] = {
		"graph = seq(t_up, echo, t_claim, echo)\n",
		"graph = fanout(t_up, t_claim; merge: concat)\n",
	};
	unsigned i, k;

	(void)state;
	register_test_stages();
	for (i = 0; i < 2; i++) {
		struct run *r = make(graphs[i]);

		/* a request with a secret, then a short one from another channel */
		assert_int_equal(run_on(r, 1, "the secret of channel one"), 0);
		assert_int_equal(run_on(r, 2, "x"), 0);
		for (k = 0; k < r->out_len; k++)
			if (r->out[k] != 0 && strchr(">X", r->out[k]) == NULL)
				fail_msg("%s: byte %u of the answer is '%c': left by an earlier "
					 "request", graphs[i], k, r->out[k]);
		done(r);
	}
}

static void
test_a_pass_through_never_makes_the_next_stages_output_its_input(void **state)
{
	struct run *r;

	(void)state;
	register_test_stages();
	r = make("graph = seq(echo, noop, t_up, echo)\n");
	assert_int_equal(run_on(r, 0, "hello"), 0);
	assert_string_equal((char *)r->out, ">>HELLO");
	done(r);
	r = make("graph = seq(echo, noop, noop, t_up, noop, t_up, echo)\n");
	assert_int_equal(run_on(r, 0, "ab"), 0);
	assert_string_equal((char *)r->out, ">>>>AB");
	done(r);
}

static void
test_no_node_kind_gives_a_stage_overlapping_input_and_output(void **state)
{
	static const struct {
		const char *graph;
		const char *in, *want;
	} g[] = {
		{ "graph = seq(noop, t_chk, noop, t_chk, noop, t_chk)\n", "abc", "abc" },
		{ "graph = seq(t_chk, noop, t_chk, noop, noop, t_chk, t_chk)\n", "abc", "abc" },
		{ "graph = seq(noop, s1, noop, s2, t_chk)\ns1 = seq(noop, t_chk, noop)\n"
		  "s2 = seq(t_chk, noop, t_up)\n", "x", ">>X" },
		{ "graph = seq(noop, b, t_chk)\nb = branch(t_chk, s; by: pick)\n"
		  "s = seq(noop, t_chk, noop)\n", "1z", "1z" },
		{ "graph = seq(noop, f, noop, t_chk)\nf = fanout(t_chk, s, noop; merge: concat)\n"
		  "s = seq(noop, t_chk)\n", "q", "qqq" },
		{ "graph = seq(noop, sp, t_chk)\nsp = split(t_chk 1, s 1; key: request)\n"
		  "s = seq(noop, t_chk, noop)\n", "k", "k" },
		{ "graph = seq(noop, rr, noop, t_chk)\nrr = roundrobin(t_chk, s, noop)\n"
		  "s = seq(noop, t_chk)\n", "w", "w" },
	};
	unsigned i, k;

	(void)state;
	register_test_stages();
	for (i = 0; i < sizeof g / sizeof g[0]; i++) {
		struct run *r = make(g[i].graph);

		overlaps = chk_calls = 0;
		for (k = 0; k < 6; k++) { /* every round-robin turn, twice */
			assert_int_equal(run_on(r, k, g[i].in), 0);
			if (strcmp((char *)r->out, g[i].want) != 0)
				fail_msg("%s on '%s': '%s', want '%s'", g[i].graph, g[i].in,
					 (char *)r->out, g[i].want);
		}
		if (chk_calls == 0 || overlaps != 0)
			fail_msg("%s: %u of %u calls had input and output overlapping", g[i].graph,
				 overlaps, chk_calls);
		done(r);
	}
}

/* ---- the degraded cache keeps only what the stage read and wrote ---- */

/* The "client's" buffers of the request being served: the stage below
 * rewrites them after answering, as a client sharing them may. */
static uint8_t *client_in, *client_out;

static int
scribble_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	int rc = up_process(state, m, ctx);

	if (rc == 0 && client_out != NULL) {
		memset(client_out, '!', m->out_len); /* the client plants an answer */
		memcpy(client_in, "EVIL", 4);        /* and rewrites its request */
	}
	return rc;
}

static const struct nx_stage_ops stage_scribble = {
	.abi = NX_STAGE_ABI, .version = 1, .name = "t_scribble", .process = scribble_process,
};

static void
test_the_cache_keeps_what_the_stage_saw_not_what_a_client_rewrote(void **state)
{
	struct nx_slot_pol pol[1];
	struct nx_health_slot_stats stats[1];
	uint8_t in[16], out[64];
	struct nx_msg m;
	struct run *r;
	static bool registered;

	(void)state;
	if (!registered) {
		assert_int_equal(nx__stage_register(&stage_scribble), 0);
		registered = true;
	}
	r = make("graph = c\nc.stage = t_scribble\nc.breaker = count\nc.degraded = cache\n");
	r->p->slots[0].hidx = 0;
	memset(pol, 0, sizeof pol);
	memset(stats, 0, sizeof stats);
	/* channel 1 asks "good" and rewrites both buffers as soon as it can */
	memcpy(in, "good", 4);
	client_in = in;
	client_out = out;
	m = (struct nx_msg){ .in = in, .in_len = 4, .out = out, .out_cap = sizeof out };
	memset(&r->ctx, 0, sizeof r->ctx);
	r->ctx.channel = 1;
	r->x = (struct nx_exec){ .ctx = &r->ctx, .scratch = r->scratch, .scratch_cap = 1 << 20,
				 .max_payload = CAP, .rr = r->rr, .pol = pol, .stats = stats,
				 .nstats = 1 };
	assert_int_equal(nx__pipeline_run(r->p, &m, &r->x), 0);
	client_in = client_out = NULL;
	/* the answer it got is what the stage wrote (the slot copies it out
	 * after the stage returns: the client's scribble came first) */
	assert_int_equal(m.out_len, 6);
	assert_memory_equal(out, ">>GOOD", 6);
	/* the stage cannot answer now: channel 2 asks "good" and gets the
	 * cached answer, which must be the stage's, not channel 1's plant */
	ck_pr_store_32(&r->p->slots[0].pol.force, NX_BRK_FORCE_OPEN);
	memcpy(in, "good", 4);
	memset(out, 0, sizeof out);
	m = (struct nx_msg){ .in = in, .in_len = 4, .out = out, .out_cap = sizeof out };
	memset(&r->ctx, 0, sizeof r->ctx);
	r->ctx.channel = 2;
	assert_int_equal(nx__pipeline_run(r->p, &m, &r->x), 0);
	assert_true(r->ctx.flags & NX_CTX_DEGRADED);
	assert_int_equal(m.out_len, 6);
	assert_memory_equal(out, ">>GOOD", 6);
	/* and the request channel 1 rewrote to ("EVIL") was never cached */
	memcpy(in, "EVIL", 4);
	m = (struct nx_msg){ .in = in, .in_len = 4, .out = out, .out_cap = sizeof out };
	memset(&r->ctx, 0, sizeof r->ctx);
	assert_int_equal(nx__pipeline_run(r->p, &m, &r->x), NX_EBREAKER);
	done(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_feeds_each_output_to_the_next),
		cmocka_unit_test(test_seq_passes_through_noop_stages_without_copies),
		cmocka_unit_test(test_branch_runs_the_child_the_selector_names),
		cmocka_unit_test(test_fanout_merges_outputs_in_child_order),
		cmocka_unit_test(test_split_weights_hold_within_statistical_bounds),
		cmocka_unit_test(test_split_by_client_is_sticky_and_spread_by_weight),
		cmocka_unit_test(test_split_falls_back_to_the_first_child_when_another_fails),
		cmocka_unit_test(test_roundrobin_takes_turns_fairly),
		cmocka_unit_test(test_nested_graph_runs_every_kind_together),
		cmocka_unit_test(test_stage_version_and_route_are_in_the_context),
		cmocka_unit_test(test_a_timed_request_records_each_stages_time),
		cmocka_unit_test(test_pipeline_needing_more_scratch_than_workers_have_is_refused),
		cmocka_unit_test(test_specs_that_make_no_sense_are_refused_saying_why),
		cmocka_unit_test(test_stage_init_failure_and_unknown_stage_build_nothing),
		cmocka_unit_test(test_a_pass_through_never_makes_the_next_stages_output_its_input),
		cmocka_unit_test(test_no_node_kind_gives_a_stage_overlapping_input_and_output),
		cmocka_unit_test(test_the_cache_keeps_what_the_stage_saw_not_what_a_client_rewrote),
		cmocka_unit_test(test_a_stage_that_claims_more_than_it_wrote_finds_no_earlier_request),
	};

	return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
