/*
 * nxbench's report: a table or JSON lines, one per run, and the ratios
 * against the bare ck ring computed from what was measured.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static bool
has_latency(const struct nxb_result *r)
{
	return r->hist.count > 0;
}

void
nxb_print_header(const struct nxb_opts *o, bool json)
{
	if (json)
		return;
	printf("nxbench: client pinned to CPU %d, server side pinned to CPU %d; payload %u B; "
	       "%llu ops after %llu warmup per run, at most %.1f s each",
	       o->client_cpu, o->server_cpu, o->payload, (unsigned long long)o->ops * o->rounds,
	       (unsigned long long)o->warmup * o->rounds, (double)o->duration_ns / 1e9);
	if (o->rounds > 1)
		printf("; %u rounds, the transports taking turns", o->rounds);
	printf("\n");
	nxb_print_machine(o);
	printf("latency in us, one clock read per op; '-': a one-way mode, throughput only\n\n");
	printf("%-9s %-9s %9s %9s %9s %9s %9s %9s %9s %9s %13s  %s\n", "transport", "mode", "ops",
	       "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "ops/s", "notes");
	fflush(stdout);
}

void
nxb_print_json(struct nx_buf *b)
{
	if (b->failed)
		fprintf(stderr, "nxbench: out of memory for a JSON line\n");
	else
		fwrite(b->p, 1, b->len, stdout);
	fflush(stdout);
	nx__buf_free(b);
}

void
nxb_print(const struct nxb_result *r, bool json)
{
	static const double pcts[] = { 50, 90, 99, 99.9, 99.99 };
	uint64_t min = has_latency(r) ? r->hist.min : 0;
	uint64_t max = has_latency(r) ? r->hist.max : 0;
	uint64_t p[5];
	unsigned i;

	for (i = 0; i < 5; i++)
		p[i] = nx__hist_percentile(&r->hist, pcts[i]);
	if (json) {
		static const char *const pkeys[] = { "p50_ns", "p90_ns", "p99_ns", "p999_ns",
						     "p9999_ns" };
		struct nx_buf b = { 0 };
		struct nx_json j;

		nx__json_init(&j, &b);
		nx__json_obj_open(&j);
		nx__json_kstr(&j, "transport", r->transport);
		nx__json_kstr(&j, "mode", r->mode);
		nx__json_kuint(&j, "payload", r->payload);
		nx__json_kuint(&j, "ops", r->ops);
		nx__json_kuint(&j, "min_ns", min);
		for (i = 0; i < 5; i++)
			nx__json_kuint(&j, pkeys[i], p[i]);
		nx__json_kuint(&j, "max_ns", max);
		nx__json_kdouble(&j, "mean_ns", nx__hist_mean(&r->hist), 1);
		nx__json_kdouble(&j, "ops_per_s", r->ops_per_s, 1);
		nx__json_kuint(&j, "elapsed_ns", r->elapsed_ns);
		nx__json_kint(&j, "client_cpu", r->client_cpu);
		nx__json_kint(&j, "server_cpu", r->server_cpu);
		nx__json_kuint(&j, "overflow", r->hist.overflow);
		nx__json_kstr(&j, "stopped_by", r->by_duration ? "duration" : "ops");
		nx__json_kstr(&j, "note", r->note);
		nx__json_obj_close(&j);
		nx__buf_put(&b, "\n", 1);
		if (!nx__json_done(&j))
			b.failed = true;
		nxb_print_json(&b);
		return;
	}
	printf("%-9s %-9s %9llu ", r->transport, r->mode, (unsigned long long)r->ops);
	if (has_latency(r)) {
		printf("%9.3f ", (double)min / 1e3);
		for (i = 0; i < 5; i++)
			printf("%9.3f ", (double)p[i] / 1e3);
		printf("%9.3f ", (double)max / 1e3);
	} else {
		for (i = 0; i < 7; i++)
			printf("%9s ", "-");
	}
	printf("%13.0f  %s\n", r->ops_per_s, r->note);
	fflush(stdout);
}

const struct nxb_result *
nxb_find(const struct nxb_result *rs, unsigned n, const char *transport, const char *mode)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (strcmp(rs[i].transport, transport) == 0 && strcmp(rs[i].mode, mode) == 0)
			return &rs[i];
	return NULL;
}

/* r's percentile over base's */
static double
pct_ratio(const struct nxb_result *r, const struct nxb_result *base, double pct)
{
	uint64_t b = nx__hist_percentile(&base->hist, pct);

	return b > 0 ? (double)nx__hist_percentile(&r->hist, pct) / (double)b : NAN;
}

static int
cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * a's figure over b's, round by round (round i of each ran back to back,
 * so a drift in the machine's speed between rounds falls on both), as
 * "median (lowest to highest)". p50: the rounds' p50s, else their rates.
 * Nothing when there are fewer than two rounds or they do not pair up
 * (a transport lost a round).
 */
static void
print_paired(const char *what, const struct nxb_result *a, const struct nxb_result *b, bool p50)
{
	double q[NXB_ROUNDS_MAX], med;
	unsigned i, n = 0;

	if (a->nrounds < 2 || a->nrounds != b->nrounds)
		return;
	for (i = 0; i < a->nrounds; i++) {
		const double x = p50 ? (double)a->round_p50[i] : a->round_rate[i];
		const double y = p50 ? (double)b->round_p50[i] : b->round_rate[i];

		if (y > 0)
			q[n++] = x / y;
	}
	if (n < 2)
		return;
	qsort(q, n, sizeof q[0], cmp_double);
	med = n % 2 ? q[n / 2] : (q[n / 2 - 1] + q[n / 2]) / 2;
	printf("  %s, round by round: median %.2fx (%.2fx to %.2fx over %u rounds)\n", what, med,
	       q[0], q[n - 1], n);
}

void
nxb_print_footer(const struct nxb_result *rs, unsigned n, bool json)
{
	const struct nxb_result *ck = nxb_find(rs, n, "ck", "pingpong");
	const struct nxb_result *nxw = nxb_find(rs, n, "nx", "window");
	const struct nxb_result *cks = nxb_find(rs, n, "ck", "stream");
	const struct nxb_result *nxs = nxb_find(rs, n, "nxsleep", "wakeup");
	const struct nxb_result *fx = nxb_find(rs, n, "futex", "wakeup");
	const struct nxb_result *nxp = nxb_find(rs, n, "nx", "pingpong");
	const struct nxb_result *uds = nxb_find(rs, n, "uds", "pingpong");
	const struct nxb_result *nx3 = nxb_find(rs, n, "nx3", "pingpong");
	const struct nxb_result *nxsw = nxb_find(rs, n, "nxswap", "pingpong");
	const struct nxb_result *nxnc = nxb_find(rs, n, "nxnc", "pingpong");
	const struct nxb_result *nxoff = nxb_find(rs, n, "nxoff", "pingpong");
	const struct nxb_result *nxpol = nxb_find(rs, n, "nxpol", "pingpong");
	const struct nxb_result *nxshed = nxb_find(rs, n, "nxshed", "window");
	const struct nxb_result *nxb = nxb_find(rs, n, "nxbatch", "window");
	const struct nxb_result *mc = nxb_find(rs, n, "memcpy", "copy");
	const struct nxb_result *fl = nxb_find(rs, n, "floor", "pingpong");
	const struct nxb_result *flh = nxb_find(rs, n, "floorhdr", "pingpong");
	const struct nxb_result *flw = nxb_find(rs, n, "floor", "window");
	unsigned i;

	if (json)
		return;
	putchar('\n');
	if (ck == NULL || !has_latency(ck)) {
		if (nxs == NULL)
			printf("latency ratios: n/a (ck pingpong was not measured)\n");
	} else {
		printf("pingpong latency against ck pingpong (x ck; below 1 is faster):\n");
		printf("  %-9s %-9s %8s %8s %8s\n", "transport", "mode", "p50", "p99", "p99.9");
		for (i = 0; i < n; i++) {
			const struct nxb_result *r = &rs[i];

			if (r == ck || !has_latency(r) || strcmp(r->mode, "pingpong") != 0)
				continue;
			printf("  %-9s %-9s %7.2fx %7.2fx %7.2fx\n", r->transport, r->mode,
			       pct_ratio(r, ck, 50), pct_ratio(r, ck, 99), pct_ratio(r, ck, 99.9));
		}
		if (nxp != NULL && has_latency(nxp))
			print_paired("nx p50 / ck p50", nxp, ck, true);
	}
	if (nxp != NULL && uds != NULL && has_latency(nxp) && nx__hist_percentile(&nxp->hist, 50) > 0)
		printf("nx pingpong p50 is %.1fx lower than uds pingpong p50\n",
		       (double)nx__hist_percentile(&uds->hist, 50) /
			       (double)nx__hist_percentile(&nxp->hist, 50));
	if (nxp != NULL && nx3 != NULL && has_latency(nx3))
		printf("noop3 (seq of three no-op stages) against echo: %+lld ns at p50, %+lld at p99\n",
		       (long long)nx__hist_percentile(&nx3->hist, 50) -
			       (long long)nx__hist_percentile(&nxp->hist, 50),
		       (long long)nx__hist_percentile(&nx3->hist, 99) -
			       (long long)nx__hist_percentile(&nxp->hist, 99));
	if (nxp != NULL && nxsw != NULL && has_latency(nxsw))
		printf("swapping against not: %.2fx at p50, %.2fx at p99, %.2fx at p99.9\n",
		       pct_ratio(nxsw, nxp, 50), pct_ratio(nxsw, nxp, 99), pct_ratio(nxsw, nxp, 99.9));
	if (nxp != NULL && nxnc != NULL && has_latency(nxnc))
		printf("health counters on against compiled out (nx / nxnc): %.3fx at p50, %.3fx at p99\n",
		       pct_ratio(nxp, nxnc, 50), pct_ratio(nxp, nxnc, 99));
	if (nxoff != NULL && nxpol != NULL && has_latency(nxpol) && has_latency(nxoff))
		printf("policies on against off (nxpol / nxoff): %.3fx at p50, %.3fx at p99\n",
		       pct_ratio(nxpol, nxoff, 50), pct_ratio(nxpol, nxoff, 99));
	if (nxshed != NULL)
		printf("an open breaker sheds %.0f requests/s%s\n", nxshed->ops_per_s,
		       nxw != NULL ? "" : " (run nx window too for the served rate)");
	if (nxshed != NULL && nxw != NULL && nxw->ops_per_s > 0)
		printf("  against %.0f/s served through echo: %.2fx\n", nxw->ops_per_s,
		       nxshed->ops_per_s / nxw->ops_per_s);
	if (nxs != NULL && fx != NULL && has_latency(fx))
		printf("wake-up round trip: nxsleep / futex = %.2fx at p50, %.2fx at p99\n",
		       pct_ratio(nxs, fx, 50), pct_ratio(nxs, fx, 99));
	if (nxw != NULL && cks != NULL && cks->ops_per_s > 0) {
		printf("throughput: nx window / ck stream = %.2fx (%.0f vs %.0f ops/s)\n",
		       nxw->ops_per_s / cks->ops_per_s, nxw->ops_per_s, cks->ops_per_s);
		print_paired("nx window / ck stream", nxw, cks, false);
	} else if (nxw != NULL || cks != NULL) {
		printf("throughput: nx window / ck stream: n/a (%s%s%s not measured)\n",
		       nxw == NULL ? "nx window" : "", nxw == NULL && cks == NULL ? " and " : "",
		       cks == NULL ? "ck stream" : "");
	}
	if (nxb != NULL && cks != NULL && cks->ops_per_s > 0) {
		printf("throughput: nxbatch window / ck stream = %.2fx (%.0f vs %.0f ops/s)\n",
		       nxb->ops_per_s / cks->ops_per_s, nxb->ops_per_s, cks->ops_per_s);
		print_paired("nxbatch window / ck stream", nxb, cks, false);
	}
	if (flw != NULL && flw->ops_per_s > 0) {
		if (cks != NULL)
			printf("throughput: floor window / ck stream = %.2fx: the least any request "
			       "and its answer can move\n", flw->ops_per_s / cks->ops_per_s);
		if (nxw != NULL) {
			printf("throughput: nx window / floor window = %.2fx\n",
			       nxw->ops_per_s / flw->ops_per_s);
			print_paired("nx window / floor window", nxw, flw, false);
		}
	}
	if (mc != NULL && mc->ops_per_s > 0 && (nxw != NULL || nxb != NULL)) {
		const struct nxb_result *w = nxw != NULL ? nxw : nxb;

		printf("copying: %s window moves %.2f GB/s of payload (both ways), memcpy %.2f GB/s "
		       "on one core\n", w->transport, w->ops_per_s * 2.0 * w->payload / 1e9,
		       mc->ops_per_s * mc->payload / 1e9);
	}
	if (fl != NULL && has_latency(fl)) {
		const double f50 = (double)nx__hist_percentile(&fl->hist, 50) / 1e3;

		printf("regime: floor p50 %.3f us: %s\n", f50,
		       f50 < NXB_REGIME_SHARED_US ?
			       "the two vCPUs share a physical core (hyperthreads): lines move "
			       "within one core, software costs more" :
			       "the two vCPUs are on separate cores: each line crosses between cores");
		if (fl->nrounds > 1) {
			unsigned k, shared = 0;

			for (k = 0; k < fl->nrounds; k++)
				shared += (double)fl->round_p50[k] / 1e3 < NXB_REGIME_SHARED_US;
			printf("  round by round: %u of %u rounds sharing a core%s\n", shared,
			       fl->nrounds,
			       shared != 0 && shared != fl->nrounds ?
				       " (the regime changed during the run: compare the ratios "
				       "round by round)" : "");
		}
		if (nxp != NULL && has_latency(nxp)) {
			printf("  nx pingpong against the floor: %.2fx at p50, %.2fx at p99\n",
			       pct_ratio(nxp, fl, 50), pct_ratio(nxp, fl, 99));
			print_paired("nx p50 / floor p50", nxp, fl, true);
		}
		if (flh != NULL && has_latency(flh)) {
			/* what the flag's own bytes cost: a second line at 64 bytes */
			printf("  floorhdr (flag beside the payload) against the floor: %.2fx at p50\n",
			       pct_ratio(flh, fl, 50));
			print_paired("floorhdr p50 / floor p50", flh, fl, true);
		}
	} else if (nxp != NULL) {
		printf("regime: unknown (run floor too: its p50 tells)\n");
	}
	if (nxp != NULL && flh != NULL && has_latency(nxp) && has_latency(flh)) {
		printf("nx pingpong against floorhdr: %.2fx at p50, %.2fx at p99\n",
		       pct_ratio(nxp, flh, 50), pct_ratio(nxp, flh, 99));
		print_paired("nx p50 / floorhdr p50", nxp, flh, true);
	}
}

