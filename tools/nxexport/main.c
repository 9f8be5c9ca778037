/*
 * nxexport - a nexus instance's health over HTTP, for Prometheus, load
 * balancers and people: /metrics (the Prometheus text exposition format,
 * the families of nxtop --prometheus), /health (200, 429 or 503 and why),
 * /api/snapshot (nxtop's JSON) and / (a live dashboard drawn from it).
 *
 * A thin main: the sampler here takes a snapshot from the health reader
 * (shm/monitor/health_read.h) every interval and renders every endpoint's
 * text from it (shm/monitor/health_text.h); the server (serve.c) hands out
 * the latest. It maps the health segment read-only and never writes to
 * nxd or its clients, so it costs nxd nothing however often it is asked.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/base/json.h"
#include "shm/monitor/health_read.h"
#include "shm/monitor/health_text.h"

#include "nxexport.h"

#define NXEXPORT_INTERVAL_MIN 0.05
#define NXEXPORT_INTERVAL_MAX 3600.0
#define NXEXPORT_CONNS_MAX 10000

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nxexport [--instance NAME] [--listen ADDR:PORT] [--interval SECONDS]\n"
		"                [--max-connections N] [--max-per-ip N] [--timeout SECONDS]\n"
		"\n"
		"Serve an instance's health over HTTP (GET and HEAD only):\n"
		"  /metrics       the Prometheus text exposition format: the families of\n"
		"                 nxtop --prometheus (nx_up, nx_health, nx_worker_*, nx_stage_*,\n"
		"                 nx_channel_*, nx_pipeline_version)\n"
		"  /health        200 healthy, 429 degraded, 503 unhealthy or down; a JSON\n"
		"                 body says why, and which workers and stages\n"
		"  /api/snapshot  nxtop --json's object\n"
		"  /              a live dashboard: rates, p99s, health, breakers, restarts\n"
		"It reads nxd's health segment (/dev/shm/nx.NAME.health) read-only, once\n"
		"an interval, whoever asks; it follows nxd across restarts, and says down\n"
		"(503) while there is none.\n"
		"\n"
		"options:\n"
		"  -i, --instance NAME      the instance (default \"default\", as nxd's)\n"
		"  -l, --listen ADDR:PORT   where to listen (default 127.0.0.1:9464); an IPv6\n"
		"                           address in brackets, [::1]:9464; port 0: any free\n"
		"                           port (the line on stdout says which)\n"
		"  -d, --interval SECONDS   snapshot interval, %.2f to %.0f (default 1): how\n"
		"                           fresh the figures are, and the window of the rates\n"
		"      --max-connections N  connections at once (default 64)\n"
		"      --max-per-ip N       connections at once from one address (default 32)\n"
		"      --timeout SECONDS    close a connection idle this long (default 10)\n"
		"  -h, --help               this text\n"
		"\n"
		"Once listening it prints one line to stdout:\n"
		"  nxexport: instance NAME on http://ADDR:PORT/\n"
		"SIGTERM or SIGINT: finish the requests in flight and exit 0.\n"
		"exit status: 0 stopped by a signal; 1 cannot listen or read; 2 bad usage.\n",
		NXEXPORT_INTERVAL_MIN, NXEXPORT_INTERVAL_MAX);
}

/* "A.B.C.D:PORT" or "[V6]:PORT" into o->addr. @return 0, or -1 */
static int
parse_listen(const char *arg, struct nxexport_opts *o)
{
	char host[64];
	const char *colon, *h = arg;
	size_t hlen;
	unsigned long port;
	char *end;

	colon = strrchr(arg, ':');
	if (colon == NULL || colon == arg)
		return -1;
	hlen = (size_t)(colon - arg);
	if (arg[0] == '[') {
		if (hlen < 3 || arg[hlen - 1] != ']')
			return -1;
		h = arg + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof host)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535 ||
	    !isdigit((unsigned char)colon[1])) /* strtoul takes spaces and signs */
		return -1;
	memset(&o->addr, 0, sizeof o->addr);
	if (arg[0] != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)&o->addr;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		o->addrlen = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&o->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		o->addrlen = sizeof *a;
	}
	return 0;
}

static int
parse_uint(const char *opt, const char *arg, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || arg[0] == '+' || v < min ||
	    v > max) {
		fprintf(stderr, "nxexport: %s: '%s' is not %u to %u\n", opt, arg, min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* HTTP status of a verdict: what a load balancer acts on. */
static unsigned
health_status(enum nx_hstate h)
{
	switch (h) {
	case NX_H_HEALTHY: return 200;
	case NX_H_DEGRADED: return 429;
	case NX_H_UNHEALTHY:
	case NX_H_DOWN: break;
	}
	return 503;
}

/* /health's body: the reader's verdict, and each worker and stage slot
 * that is not healthy, with why. */
static void
render_health(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
{
	struct nx_json j;
	unsigned i;

	nx__json_init(&j, b);
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "instance", instance);
	nx__json_kstr(&j, "health", nx__hstate_name(s->health));
	nx__json_kuint(&j, "status", health_status(s->health));
	nx__json_kstr(&j, "why", s->why);
	nx__json_kbool(&j, "up", s->up);
	nx__json_kstr(&j, "state", nx__hr_snap_state(s));
	nx__json_kuint(&j, "generation", s->hdr.generation);
	nx__json_kint(&j, "pid", s->hdr.pid);
	nx__json_kdouble(&j, "uptime_s", (double)s->uptime_ns / 1e9, 3);
	nx__json_kuint(&j, "restarts", s->hdr.restarts);
	nx__json_key(&j, "problems");
	nx__json_arr_open(&j);
	for (i = 0; s->up && i < s->nworkers; i++) {
		const struct nx_hr_worker *w = &s->workers[i];

		if (w->health == NX_H_HEALTHY)
			continue;
		nx__json_obj_open(&j);
		nx__json_kstr(&j, "kind", "worker");
		nx__json_kuint(&j, "worker", i);
		nx__json_kstr(&j, "health", nx__hstate_name(w->health));
		nx__json_kstr(&j, "why", w->why);
		nx__json_obj_close(&j);
	}
	for (i = 0; s->up && i < s->nslots; i++) {
		const struct nx_hr_slot *sl = &s->slots[i];

		if (sl->health == NX_H_HEALTHY)
			continue;
		nx__json_obj_open(&j);
		nx__json_kstr(&j, "kind", "stage");
		nx__json_kstr(&j, "pipeline", sl->meta.pipe);
		nx__json_kstr(&j, "slot", sl->meta.name);
		nx__json_kstr(&j, "stage", sl->meta.stage);
		nx__json_kstr(&j, "health", nx__hstate_name(sl->health));
		nx__json_kstr(&j, "why", sl->why);
		nx__json_obj_close(&j);
	}
	nx__json_arr_close(&j);
	nx__json_obj_close(&j);
	nx__buf_put(b, "\n", 1);
	if (!nx__json_done(&j))
		b->failed = true;
}

/* When the segment cannot be read (another ABI): every endpoint says so. */
static void
render_error(struct nxexport_texts *t, const char *instance, const char *msg)
{
	struct nx_json j;

	nx__buf_printf(&t->metrics, "nxexport: instance '%s': %s\n", instance, msg);
	nx__json_init(&j, &t->snapshot);
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "instance", instance);
	nx__json_kstr(&j, "error", msg);
	nx__json_obj_close(&j);
	nx__buf_put(&t->snapshot, "\n", 1);
	nx__json_init(&j, &t->health);
	nx__json_obj_open(&j);
	nx__json_kstr(&j, "instance", instance);
	nx__json_kstr(&j, "health", "unknown");
	nx__json_kuint(&j, "status", 503);
	nx__json_kstr(&j, "why", msg);
	nx__json_obj_close(&j);
	nx__buf_put(&t->health, "\n", 1);
	t->metrics_status = t->snapshot_status = t->health_status = 503;
}

static void
texts_free(struct nxexport_texts *t)
{
	nx__buf_free(&t->metrics);
	nx__buf_free(&t->snapshot);
	nx__buf_free(&t->health);
}

/* One snapshot, rendered, then swapped in. @return 0, or -1 (said once) */
static int
sample(struct nx_hr *r, struct nxexport_pub *pub, const char *instance, double interval,
       bool *said)
{
	struct nxexport_texts t = { 0 }, old;
	const struct nx_hr_snap *s;
	int rc = nx__hr_snapshot(r, &s);

	if (rc < 0) {
		if (!*said)
			fprintf(stderr, "nxexport: instance '%s': %s\n", instance, nx_errmsg());
		*said = true;
		render_error(&t, instance, nx_errmsg());
	} else {
		*said = false;
		nx__hr_text_prometheus(&t.metrics, instance, s);
		nx__hr_text_json(&t.snapshot, instance, s, interval);
		render_health(&t.health, instance, s);
		t.metrics_status = t.snapshot_status = 200;
		t.health_status = health_status(s->health);
	}
	pthread_mutex_lock(&pub->lock);
	old = pub->cur;
	pub->cur = t;
	pthread_mutex_unlock(&pub->lock);
	texts_free(&old);
	return rc < 0 ? -1 : 0;
}

static void
print_listening(const struct nxexport_opts *o, unsigned port, const char *instance)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (o->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&o->addr)->sin6_addr, host,
			  sizeof host);
		printf("nxexport: instance %s on http://[%s]:%u/\n", instance, host, port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&o->addr)->sin_addr, host,
			  sizeof host);
		printf("nxexport: instance %s on http://%s:%u/\n", instance, host, port);
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'd' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "max-per-ip", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nxexport_opts o = { .max_conns = 64, .max_per_ip = 32, .timeout_s = 10 };
	struct nxexport_pub pub = { .lock = PTHREAD_MUTEX_INITIALIZER };
	const char *instance = "default";
	struct nxexport_server *srv;
	double interval = 1.0;
	struct timespec ts;
	struct nx_hr *r;
	bool said = false;
	sigset_t set;
	char *end;
	int opt, rc, sig;

	parse_listen("127.0.0.1:9464", &o);
	while ((opt = getopt_long(argc, argv, "i:l:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			instance = optarg;
			break;
		case 'l':
			if (parse_listen(optarg, &o) < 0) {
				fprintf(stderr, "nxexport: --listen: '%s' is not ADDR:PORT (an IPv4 "
						"address, or an IPv6 one in brackets; port 0 to 65535)\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(interval >= NXEXPORT_INTERVAL_MIN) || interval > NXEXPORT_INTERVAL_MAX) {
				fprintf(stderr, "nxexport: --interval: '%s' is not %.2f to %.0f seconds\n",
					optarg, NXEXPORT_INTERVAL_MIN, NXEXPORT_INTERVAL_MAX);
				return 2;
			}
			break;
		case 'C':
			if (parse_uint("--max-connections", optarg, 1, NXEXPORT_CONNS_MAX, &o.max_conns) < 0)
				return 2;
			break;
		case 'P':
			if (parse_uint("--max-per-ip", optarg, 1, NXEXPORT_CONNS_MAX, &o.max_per_ip) < 0)
				return 2;
			break;
		case 'T':
			if (parse_uint("--timeout", optarg, 1, 3600, &o.timeout_s) < 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "nxexport: see 'nxexport --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nxexport: unexpected argument '%s'; see 'nxexport --help'\n",
			argv[optind]);
		return 2;
	}
	rc = nx__hr_open(&r, instance, NULL);
	if (rc < 0) {
		fprintf(stderr, "nxexport: %s\n", nx_errmsg());
		return rc == NX_EINVAL ? 2 : 1;
	}
	/* the signals come to the sampler alone (sigtimedwait below): the
	 * server's threads, started next, inherit them blocked; SIGPIPE is
	 * for nobody (a client that hangs up is the server's to notice) */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	/* something to serve before the first request */
	sample(r, &pub, instance, interval, &said);
	srv = nxexport_serve(&pub, &o);
	if (srv == NULL) {
		fprintf(stderr, "nxexport: cannot listen on the address given\n");
		nx__hr_close(r);
		texts_free(&pub.cur);
		return 1;
	}
	print_listening(&o, nxexport_port(srv), instance);
	ts.tv_sec = (time_t)interval;
	ts.tv_nsec = (long)((interval - (double)ts.tv_sec) * 1e9);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		/* SIGHUP: a fresh snapshot at once (the default would kill us) */
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "nxexport: sigtimedwait: %s\n", strerror(errno));
			break;
		}
		sample(r, &pub, instance, interval, &said);
	}
	nxexport_stop(srv);
	nx__hr_close(r);
	texts_free(&pub.cur);
	return 0;
}
