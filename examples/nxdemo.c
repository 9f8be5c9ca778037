/*
 * nxdemo - a client of nexus, as an application would write one: attach
 * to an instance, keep a window of requests in flight for a while, check
 * every answer, and say what happened. `make demo` runs it.
 *
 * It uses the public API (<nx/nx.h>) and, for the percentiles, the
 * histogram nxbench and the health segment use.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/hist.h"
#include "platform/base/rand.h"

uint32_t nx__crc32c(uint32_t crc, const void *buf, size_t len);

struct inflight {
	uint64_t t_submit;
	uint32_t len;
	int kind; /* 0 echo small, 1 checksum 1 KiB, 2 echo 4 KiB, 3 unknown pipeline */
	uint8_t in[4096];
	uint8_t out[4096];
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: nxdemo [--instance NAME] [--seconds N] [--window W] [--timeout S]\n"
		   "              [--wait-ready[=S]]\n"
		   "\n"
		   "Drive an nxd instance for N seconds (default 10) with W requests in flight\n"
		   "(default 8): small echoes inline, 1 KiB checksums and 4 KiB echoes through the\n"
		   "arena, and now and then a request for a pipeline that does not exist, to show\n"
		   "an error answer. Every answer is checked.\n"
		   "  --timeout S       give up when no answer comes for S seconds (default 5)\n"
		   "  --wait-ready[=S]  only wait (up to S seconds, default 10) until the instance\n"
		   "                    accepts clients\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "wait-ready", optional_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *instance = "default";
	unsigned seconds = 10, window = 8, ready_s = 10, timeout_s = 5, i;
	uint64_t sent = 0, done = 0, ok = 0, wrong = 0, errs[32] = { 0 }, t0, t_next, now;
	uint64_t last_done = 0;
	struct nx_completion comps[64];
	struct inflight *fl;
	struct nx_hist *h;
	struct nx_client *c;
	struct nx_rand rng;
	bool wait_ready = false;
	int echo, sum, rc, opt;

	while ((opt = getopt_long(argc, argv, "i:s:w:rh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': instance = optarg; break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'w': window = (unsigned)atoi(optarg); break;
		case 't': timeout_s = (unsigned)atoi(optarg); break;
		case 'r':
			wait_ready = true;
			if (optarg != NULL)
				ready_s = (unsigned)atoi(optarg);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (seconds == 0 || seconds > 3600 || window == 0 || window > 64 || timeout_s == 0 ||
	    timeout_s > 86400 || ready_s == 0 || ready_s > 86400) {
		fprintf(stderr, "nxdemo: --seconds 1..3600, --window 1..64, --timeout and "
			"--wait-ready 1..86400\n");
		return 2;
	}
	if (wait_ready) {
		t0 = nx_now_ns();
		do {
			if (nx_open(&c, instance, NULL) == 0) {
				nx_close(c);
				return 0;
			}
			usleep(10000);
		} while (nx_now_ns() - t0 < ready_s * 1000000000ull);
		fprintf(stderr, "nxdemo: not ready within %u s: %s\n", ready_s, nx_errmsg());
		return 1;
	}
	rc = nx_open(&c, instance, NULL);
	if (rc < 0) {
		fprintf(stderr, "nxdemo: %s\n", nx_errmsg());
		return 1;
	}
	echo = nx_pipeline_id(c, "echo");
	sum = nx_pipeline_id(c, "checksum");
	if (echo < 0 || sum < 0) {
		fprintf(stderr, "nxdemo: %s\n", nx_errmsg());
		return 1;
	}
	fl = calloc(window, sizeof *fl);
	h = malloc(sizeof *h);
	if (fl == NULL || h == NULL)
		return 1;
	nx__hist_init(h);
	nx__rand_seed(&rng, 2463534242u); /* the same mix of requests every run */
	printf("nxdemo: attached to '%s' (generation %llu), %u requests in flight, %u s\n",
	       instance, (unsigned long long)nx_generation(c), window, seconds);
	t0 = nx_now_ns();
	t_next = t0 + 1000000000ull;
	for (;;) {
		now = nx_now_ns();
		while (now - t0 < seconds * 1000000000ull && sent - done < window) {
			struct inflight *f = &fl[sent % window];
			uint32_t r = (uint32_t)(nx__rand_next(&rng) >> 32);
			struct nx_req req = { .in = f->in, .out = f->out, .user_data = sent };

			f->kind = r % 100 < 70 ? 0 : r % 100 < 90 ? 1 : r % 1000 < 999 ? 2 : 3;
			f->len = f->kind == 0 ? 32 : f->kind == 1 ? 1024 : f->kind == 2 ? 4096 : 8;
			for (i = 0; i < f->len; i++)
				f->in[i] = (uint8_t)(r + i * 31);
			req.in_len = f->len;
			req.out_cap = f->kind == 1 ? 4 : f->len;
			req.pipeline = (uint16_t)(f->kind == 1 ? sum : f->kind == 3 ? 4242 : echo);
			f->t_submit = now;
			rc = nx_submit(c, &req);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				fprintf(stderr, "nxdemo: submit: %s\n", nx_strerror(rc));
				return 1;
			}
			sent++;
		}
		if (done == sent)
			break;
		rc = nx_wait(c, comps, 64, timeout_s * 1000000000ull);
		if (rc < 0) {
			fprintf(stderr, "nxdemo: no answer within %u s: %s\n", timeout_s, nx_strerror(rc));
			return 1;
		}
		now = nx_now_ns();
		for (i = 0; i < (unsigned)rc; i++, done++) {
			struct inflight *f = &fl[comps[i].user_data % window];

			nx__hist_record(h, now - f->t_submit);
			if (comps[i].status < 0) {
				errs[-comps[i].status & 31]++;
				if (f->kind != 3)
					wrong++;
				continue;
			}
			if (f->kind == 1) {
				uint32_t crc = nx__crc32c(0, f->in, f->len);

				if (comps[i].out_len != 4 || memcmp(f->out, &crc, 4) != 0)
					wrong++;
				else
					ok++;
			} else if (f->kind == 3 || comps[i].out_len != f->len ||
				   memcmp(f->out, f->in, f->len) != 0) {
				wrong++;
			} else {
				ok++;
			}
		}
		if (now >= t_next) {
			printf("  %3llu s  %9llu requests/s\n", (unsigned long long)((now - t0) / 1000000000ull),
			       (unsigned long long)(done - last_done));
			fflush(stdout);
			last_done = done;
			t_next += 1000000000ull;
		}
	}
	now = nx_now_ns();
	printf("\nnxdemo: %llu requests in %.2f s (%.0f/s): %llu answered right, %llu wrong\n",
	       (unsigned long long)done, (double)(now - t0) / 1e9,
	       (double)done * 1e9 / (double)(now - t0), (unsigned long long)ok,
	       (unsigned long long)wrong);
	for (i = 1; i < 32; i++)
		if (errs[i] != 0)
			printf("  error answers %-10s %llu  (%s)\n", nx_err_name(-(int)i),
			       (unsigned long long)errs[i], nx_strerror(-(int)i));
	printf("  latency (submit to answer, %u in flight): min %llu ns, p50 %llu, p90 %llu, "
	       "p99 %llu, p99.9 %llu, max %llu\n", window,
	       (unsigned long long)nx__hist_percentile(h, 0), (unsigned long long)nx__hist_percentile(h, 50),
	       (unsigned long long)nx__hist_percentile(h, 90), (unsigned long long)nx__hist_percentile(h, 99),
	       (unsigned long long)nx__hist_percentile(h, 99.9),
	       (unsigned long long)nx__hist_percentile(h, 100));
	nx_close(c);
	free(fl);
	free(h);
	return wrong == 0 ? 0 : 1;
}
