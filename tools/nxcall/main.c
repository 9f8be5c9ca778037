/*
 * nxcall - a newcomer's first call, the way curl is for HTTP: attach to
 * an instance with libnx, send a query to a pipeline, print the answer;
 * or send it N times and say how long the round trips took.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nx/nx.h>

#include "core/datapath/hist.h"
#include "nxcall.h"

#define NXCALL_QUERY_MAX 1024        /* a client's query: 1 KiB of text at most */
#define NXCALL_OUT_MAX (64u * 1024)  /* the largest answer read */
#define NXCALL_NAME_MAX 255

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxcall [options] PIPELINE \"query text\"\n"
		"\n"
		"Send a query to a pipeline of a running nxd and print its answer: a\n"
		"ranked list (rank, score, document id, title) for the retrieval\n"
		"pipelines, the text for any other (non-printable bytes escaped).\n"
		"\n"
		"  -i, --instance NAME     the instance (default \"default\")\n"
		"  -j, --json              print one JSON object instead\n"
		"  -n, --repeat N          send it N times (default 1), then print the\n"
		"                          round trip's p50, p90, p99, p99.9 and max in\n"
		"                          microseconds, and requests/s\n"
		"  -w, --window W          with --repeat: keep W requests outstanding\n"
		"                          (default 1: one after another)\n"
		"  -d, --deadline-us N     each request's deadline, N us after it is sent:\n"
		"                          nxd answers EEXPIRED rather than run it late\n"
		"  -t, --timeout-ms N      wait this long for an answer (default 5000)\n"
		"  -h, --help              this text\n"
		"\n"
		"The query is at most %u bytes. An answer said \"degraded\" came from a\n"
		"slot's degraded strategy (a stage skipped, a fallback, a cached answer).\n"
		"\n"
		"examples:\n"
		"  nxcall echo \"hello\"\n"
		"  nxcall --instance demo full \"domestic dog\"\n"
		"  nxcall --instance demo --repeat 10000 --window 8 smart \"dog\"\n"
		"\n"
		"Exit status: 0 answered; 1 an error (nxd not running, unknown pipeline,\n"
		"an error answer, no answer in time); 2 bad usage.\n",
		NXCALL_QUERY_MAX);
}

struct opts {
	const char *instance;
	const char *pipeline;
	const char *query;
	size_t query_len;
	bool json;
	uint64_t repeat;
	uint32_t window;
	uint64_t deadline_us;
	uint64_t timeout_ms;
};

/* What came back from all the calls. */
struct tally {
	uint64_t ok, failed, degraded, cached;
	uint64_t errors[1 - NX_ERRNO_MIN]; /* by -status; [0] for a code nx does not have */
	int first_error;
	uint64_t elapsed_ns;
	struct nx_hist *hist;    /* round trips, ns */
	uint8_t *last;           /* the last answer that came back ok */
	uint32_t last_cap;
	uint32_t last_len;
	bool last_degraded;
	bool have_last;
};

/* A decimal number in [lo, hi], all of s. @return 0, or -1 with a message */
static int
parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (s[0] < '0' || s[0] > '9') {
		fprintf(stderr, "nxcall: %s: '%s' is not a number\n", opt, s);
		return -1;
	}
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "nxcall: %s: '%s' is not a number from %llu to %llu\n", opt, s,
			(unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "deadline-us", required_argument, NULL, 'd' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int opt;

	*o = (struct opts){ .instance = "default", .repeat = 1, .window = 1, .timeout_ms = 5000 };
	while ((opt = getopt_long(argc, argv, "i:jn:w:d:t:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) > NXCALL_NAME_MAX) {
				fprintf(stderr, "nxcall: --instance: 1 to %d characters\n",
					NXCALL_NAME_MAX);
				return 2;
			}
			o->instance = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			if (parse_num("--repeat", optarg, 1, 1000000000, &o->repeat) < 0)
				return 2;
			break;
		case 'w':
			if (parse_num("--window", optarg, 1, 65536, &v) < 0)
				return 2;
			o->window = (uint32_t)v;
			break;
		case 'd':
			/* a request's deadline travels as a signed 32-bit count of
			 * microseconds: at most about 35 minutes */
			if (parse_num("--deadline-us", optarg, 1, 2000000000ull, &o->deadline_us) < 0)
				return 2;
			break;
		case 't':
			if (parse_num("--timeout-ms", optarg, 1, 86400000, &o->timeout_ms) < 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "nxcall: %s\n", argc - optind < 2 ? "a PIPELINE and a query, please"
							   : "one PIPELINE and one query (quote it)");
		fprintf(stderr, "usage: nxcall [options] PIPELINE \"query text\" (nxcall --help)\n");
		return 2;
	}
	o->pipeline = argv[optind];
	o->query = argv[optind + 1];
	o->query_len = strlen(o->query);
	if (strlen(o->pipeline) == 0 || strlen(o->pipeline) > NXCALL_NAME_MAX) {
		fprintf(stderr, "nxcall: the pipeline's name: 1 to %d characters\n", NXCALL_NAME_MAX);
		return 2;
	}
	if (o->query_len > NXCALL_QUERY_MAX) {
		fprintf(stderr, "nxcall: the query is %zu bytes; at most %d\n", o->query_len,
			NXCALL_QUERY_MAX);
		return 2;
	}
	return 0;
}

static void
count(struct tally *t, const struct nx_completion *c, const uint8_t *out, uint64_t rtt_ns)
{
	nx__hist_record(t->hist, rtt_ns);
	if (c->status != 0) {
		t->failed++;
		t->errors[c->status < 0 && c->status >= NX_ERRNO_MIN ? -c->status : 0]++;
		if (t->first_error == 0)
			t->first_error = c->status;
		return;
	}
	t->ok++;
	if (c->flags & NX_COMP_DEGRADED)
		t->degraded++;
	if (c->out_len >= 8 && c->out_len <= t->last_cap && memcmp(out, "NXR1", 4) == 0 &&
	    ((out[6] | out[7] << 8) & NXR_F_CACHED))
		t->cached++;
	t->last_len = c->out_len < t->last_cap ? c->out_len : t->last_cap;
	memcpy(t->last, out, t->last_len);
	t->last_degraded = (c->flags & NX_COMP_DEGRADED) != 0;
	t->have_last = true;
}

/*
 * Send the query o->repeat times, at most o->window outstanding: request
 * number s uses buffer s % window (completions come in submission order).
 * @return 0, or an error that stopped the run (nothing more can come)
 */
static int
run(struct nx_client *c, uint16_t pipe, const struct opts *o, uint32_t out_cap, struct tally *t)
{
	const uint32_t w = o->window;
	uint8_t *outs = calloc(w, out_cap);
	uint64_t *sent_ns = calloc(w, sizeof *sent_ns);
	struct nx_completion comps[64];
	uint64_t sent = 0, done = 0, t0;
	int rc = 0;

	if (outs == NULL || sent_ns == NULL) {
		free(outs);
		free(sent_ns);
		return NX_ENOMEM;
	}
	t0 = nx_now_ns();
	while (done < o->repeat) {
		int n, i;

		while (sent < o->repeat && sent - done < w) {
			const uint32_t b = (uint32_t)(sent % w);
			const uint64_t now = nx_now_ns();
			struct nx_req req = {
				.in = o->query, .in_len = (uint32_t)o->query_len,
				.out = outs + (size_t)b * out_cap, .out_cap = out_cap,
				.deadline_ns = o->deadline_us != 0 ? now + o->deadline_us * 1000 : 0,
				.user_data = sent, .pipeline = pipe,
			};

			sent_ns[b] = now;
			rc = nx_submit(c, &req);
			if (rc == NX_EAGAIN)
				break; /* the channel is full: take answers first */
			if (rc < 0)
				goto out;
			sent++;
		}
		n = nx_wait(c, comps, 64, o->timeout_ms * 1000000);
		if (n < 0) {
			rc = n;
			goto out;
		}
		for (i = 0; i < n; i++) {
			const uint32_t b = (uint32_t)(comps[i].user_data % w);

			count(t, &comps[i], outs + (size_t)b * out_cap, nx_now_ns() - sent_ns[b]);
			done++;
		}
	}
	rc = 0;
out:
	t->elapsed_ns = nx_now_ns() - t0;
	free(outs);
	free(sent_ns);
	return rc;
}

/* Error answers, as "ETIMEDOUT 3, ESTAGE 1". */
static void
print_errors(const struct tally *t)
{
	const char *sep = "";
	int i;

	for (i = 0; i <= -NX_ERRNO_MIN; i++) {
		if (t->errors[i] == 0)
			continue;
		printf("%s%s %llu", sep, i == 0 ? "other" : nx_err_name(-i),
		       (unsigned long long)t->errors[i]);
		sep = ", ";
	}
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9" };

static void
print_text(const struct opts *o, const struct tally *t)
{
	unsigned i;

	if (t->have_last)
		nxcall_print_answer(t->last, t->last_len, t->last_degraded);
	if (o->repeat == 1)
		return; /* one call: its answer, or its error (main says it) */
	printf("%llu call%s to %s: %llu answered", (unsigned long long)o->repeat,
	       o->repeat == 1 ? "" : "s", o->pipeline, (unsigned long long)t->ok);
	if (t->degraded != 0)
		printf(" (%llu degraded)", (unsigned long long)t->degraded);
	if (t->cached != 0)
		printf(" (%llu from the cache)", (unsigned long long)t->cached);
	if (t->failed != 0) {
		printf(", %llu errors: ", (unsigned long long)t->failed);
		print_errors(t);
	}
	printf("\nround trip (us):");
	for (i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
		printf(" %s %.1f", pct_names[i], us(nx__hist_percentile(t->hist, pcts[i])));
	printf(" max %.1f\n", us(t->hist->max));
	printf("%.0f requests/s (window %u, one client thread)\n",
	       t->elapsed_ns != 0 ? (double)(t->ok + t->failed) * 1e9 / (double)t->elapsed_ns : 0.0,
	       o->window);
}

static int
print_json(const struct opts *o, const struct tally *t)
{
	struct nx_buf b = { 0 };
	struct nx_json j;
	unsigned i;
	int rc;

	nx__json_init(&j, &b);
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "instance", o->instance);
	nx__json_kstr(&j, "pipeline", o->pipeline);
	nx__json_kbool(&j, "ok", t->failed == 0);
	if (t->first_error != 0) {
		nx__json_kstr(&j, "error", nx_err_name(t->first_error));
		nx__json_kstr(&j, "message", nx_strerror(t->first_error));
	}
	nx__json_kbool(&j, "degraded", t->have_last && t->last_degraded);
	if (t->have_last) {
		nx__json_key(&j, "answer");
		nx__json_obj_open(&j);
		nxcall_json_answer(&j, t->last, t->last_len);
		nx__json_obj_close(&j);
	} else {
		nx__json_knull(&j, "answer");
	}
	if (o->repeat > 1) {
		nx__json_key(&j, "repeat");
		nx__json_obj_open(&j);
		nx__json_kuint(&j, "calls", o->repeat);
		nx__json_kuint(&j, "window", o->window);
		nx__json_kuint(&j, "answered", t->ok);
		nx__json_kuint(&j, "degraded", t->degraded);
		nx__json_kuint(&j, "cached", t->cached);
		nx__json_kuint(&j, "failed", t->failed);
		nx__json_key(&j, "errors");
		nx__json_obj_open(&j);
		for (i = 0; i <= (unsigned)-NX_ERRNO_MIN; i++)
			if (t->errors[i] != 0)
				nx__json_kuint(&j, i == 0 ? "other" : nx_err_name(-(int)i), t->errors[i]);
		nx__json_obj_close(&j);
		nx__json_key(&j, "rtt_us");
		nx__json_obj_open(&j);
		nx__json_kdouble(&j, "p50", us(nx__hist_percentile(t->hist, 50)), 3);
		nx__json_kdouble(&j, "p90", us(nx__hist_percentile(t->hist, 90)), 3);
		nx__json_kdouble(&j, "p99", us(nx__hist_percentile(t->hist, 99)), 3);
		nx__json_kdouble(&j, "p99_9", us(nx__hist_percentile(t->hist, 99.9)), 3);
		nx__json_kdouble(&j, "max", us(t->hist->max), 3);
		nx__json_obj_close(&j);
		nx__json_kdouble(&j, "requests_per_s",
				 t->elapsed_ns != 0 ? (double)(t->ok + t->failed) * 1e9 / (double)t->elapsed_ns
						    : 0.0, 1);
		nx__json_obj_close(&j);
	}
	nx__json_obj_close(&j);
	rc = nx__json_done(&j) ? 0 : -1;
	if (rc == 0)
		printf("%s\n", b.p);
	else
		fprintf(stderr, "nxcall: out of memory writing JSON\n");
	nx__buf_free(&b);
	return rc;
}

/* A call that failed before any answer: name, then what libnx said. */
static int
fail(const struct opts *o, const char *what, int rc, const char *msg)
{
	fprintf(stderr, "nxcall: %s: %s: %s\n", what, nx_err_name(rc), msg);
	if (o->json) {
		struct nx_buf b = { 0 };
		struct nx_json j;

		nx__json_init(&j, &b);
		nx__json_obj_open(&j);
		nx__json_kstr(&j, "instance", o->instance);
		nx__json_kstr(&j, "pipeline", o->pipeline);
		nx__json_kbool(&j, "ok", false);
		nx__json_kstr(&j, "error", nx_err_name(rc));
		nx__json_kstr(&j, "message", msg);
		nx__json_obj_close(&j);
		if (nx__json_done(&j))
			printf("%s\n", b.p);
		nx__buf_free(&b);
	}
	return 1;
}

int
main(int argc, char **argv)
{
	struct tally t = { 0 };
	struct nx_open_opts oo = { 0 };
	struct nx_client *c = NULL;
	uint32_t out_cap;
	struct opts o;
	int rc, pipe;

	rc = parse_args(&o, argc, argv);
	if (rc != 0)
		return rc;
	oo.timeout_ms = o.timeout_ms > 60000 ? 60000 : (uint32_t)o.timeout_ms;
	rc = nx_open(&c, o.instance, &oo);
	if (rc < 0)
		return fail(&o, o.instance, rc, nx_errmsg());
	pipe = nx_pipeline_id(c, o.pipeline);
	if (pipe < 0) {
		rc = fail(&o, o.pipeline, pipe, nx_errmsg());
		nx_close(c);
		return rc;
	}
	if (o.window > nx_capacity(c)) {
		fprintf(stderr, "nxcall: --window %u: the channel holds %u outstanding at most\n",
			o.window, nx_capacity(c));
		nx_close(c);
		return 2;
	}
	if (o.query_len > nx_max_payload(c)) {
		fprintf(stderr, "nxcall: the query is %zu bytes; instance %s takes %u at most\n",
			o.query_len, o.instance, nx_max_payload(c));
		nx_close(c);
		return 2;
	}
	out_cap = nx_max_payload(c) < NXCALL_OUT_MAX ? nx_max_payload(c) : NXCALL_OUT_MAX;
	t.hist = malloc(sizeof *t.hist);
	t.last = malloc(out_cap);
	t.last_cap = out_cap;
	if (t.hist == NULL || t.last == NULL) {
		rc = fail(&o, "memory", NX_ENOMEM, "no memory for the answers");
		goto out;
	}
	nx__hist_init(t.hist);
	rc = run(c, (uint16_t)pipe, &o, out_cap, &t);
	if (rc < 0) {
		char msg[128];

		if (rc == NX_ETIMEDOUT)
			snprintf(msg, sizeof msg, "no answer within %llu ms",
				 (unsigned long long)o.timeout_ms);
		else
			snprintf(msg, sizeof msg, "%s", nx_strerror(rc));
		rc = fail(&o, o.pipeline, rc, msg);
		goto out;
	}
	if (o.json) {
		rc = print_json(&o, &t) < 0 ? 1 : 0;
	} else {
		print_text(&o, &t);
		rc = 0;
	}
	if (t.failed != 0) {
		/* every error answer is a failed call; the first says what */
		if (!o.json || o.repeat == 1)
			fprintf(stderr, "nxcall: %s: %s: %s\n", o.pipeline, nx_err_name(t.first_error),
				nx_strerror(t.first_error));
		rc = 1;
	}
out:
	free(t.hist);
	free(t.last);
	nx_close(c);
	return rc;
}
