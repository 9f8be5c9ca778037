/*
 * nxbench's nexus transport: a private nxd whose one worker is pinned to
 * the server CPU, and this process as its client, pinned to the client
 * CPU, through the public libnx API only (nx_call, nx_submit, nx_wait).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "bench.h"
#include "shm/monitor/ctl_session.h"

static int
nxd_wait_ready(const struct nxb_opts *o, pid_t pid)
{
	uint64_t t0 = nx__clock_ns();

	while (nx__clock_ns() - t0 < o->start_timeout_ns) {
		struct nx_client *c;
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid)
			return nx__err(NX_EIO, "nxd exited during start-up (status %d); run "
				       "%s --instance %s --cpus %d to see why", st, o->nxd_path,
				       o->nx_instance, o->server_cpu);
		if (nx_open(&c, o->nx_instance, NULL) == 0) {
			nx_close(c);
			return 0;
		}
		nx__sleep_ns(2000000);
	}
	return nx__err(NX_ETIMEDOUT, "nxd not ready within %.1f s", (double)o->start_timeout_ns / 1e9);
}

int
nxb_nx_setup(struct nxb_opts *o)
{
	char cpu[16];
	pid_t pid;
	int rc;

	o->nxd_pid = 0;
	if (o->instance != NULL) {
		snprintf(o->nx_instance, sizeof o->nx_instance, "%s", o->instance);
		return 0;
	}
	snprintf(o->nx_instance, sizeof o->nx_instance, "nxbench-%d", (int)getpid());
	snprintf(cpu, sizeof cpu, "%d", o->server_cpu);
	pid = fork();
	if (pid < 0)
		return nx__err_sys(NX_EIO, errno, "fork nxd");
	if (pid == 0) {
		char arena[24];
		cpu_set_t set;

		/* nxbench pins itself to the client CPU; nxd needs the server CPU
		 * for its worker and another for its control thread. */
		CPU_ZERO(&set);
		CPU_SET(o->server_cpu, &set);
		CPU_SET(o->client_cpu, &set);
		sched_setaffinity(0, sizeof set, &set);
		const char *argv[20] = { o->nxd_path, "--instance", o->nx_instance, "--cpus", cpu,
					 "--idle", o->nx_sleep ? "sleep" : "spin", "--quiet" };
		int n = 8, i;

		if (o->nxd_config != NULL) {
			argv[n++] = "--config";
			argv[n++] = o->nxd_config;
		}
		for (i = 0; i < 4 && o->nxd_extra[i] != NULL; i++)
			argv[n++] = o->nxd_extra[i];
		/* payloads over 192 bytes go through the arena, in and out: room
		 * for the whole window (the default, 1 MiB, when that is less) */
		if (o->payload > 192) {
			uint64_t need = 2ull * ((o->payload + 63u) & ~63u) * (o->window + 1u), a = 1u << 20;

			while (a < need && a < (1u << 30))
				a <<= 1;
			snprintf(arena, sizeof arena, "%llu", (unsigned long long)a);
			argv[n++] = "--arena";
			argv[n++] = arena;
		}
		argv[n] = NULL;
		execv(o->nxd_path, (char *const *)argv);
		fprintf(stderr, "nxbench: exec %s: %s\n", o->nxd_path, strerror(errno));
		_exit(127);
	}
	o->nxd_pid = pid;
	rc = nxd_wait_ready(o, pid);
	if (rc < 0) {
		nxb_nx_teardown(o);
		o->nxd_pid = 0;
	}
	return rc;
}

void
nxb_nx_teardown(const struct nxb_opts *o)
{
	uint64_t t0;
	int st;

	if (o->nxd_pid <= 0)
		return;
	kill(o->nxd_pid, SIGTERM);
	t0 = nx__clock_ns();
	while (waitpid(o->nxd_pid, &st, WNOHANG) == 0) {
		if (nx__clock_ns() - t0 > 10000000000ull) {
			kill(o->nxd_pid, SIGKILL);
			waitpid(o->nxd_pid, &st, 0);
			break;
		}
		nx__sleep_ns(1000000);
	}
}

/* A benchmark's client: attached, the echo pipeline found, buffers for
 * one payload each way. */
struct nx_session {
	struct nx_client *c;
	uint16_t echo;
	uint8_t *in;
	uint8_t *out;
};

static void
session_close(struct nx_session *s)
{
	if (s->c != NULL)
		nx_close(s->c);
	free(s->in);
	free(s->out);
	memset(s, 0, sizeof *s);
}

/* Pin, attach, find the pipeline; note where the worker runs. */
static int
session_open_pipe(struct nx_session *s, const struct nxb_opts *o, struct nxb_result *r,
		  const char *pipeline)
{
	struct nx_open_opts oo = { .wait = o->nx_sleep ? NX_WAIT_SLEEP : NX_WAIT_SPIN };
	int rc, id;

	memset(s, 0, sizeof *s);
	s->in = calloc(1, o->payload);
	s->out = calloc(1, o->payload);
	if (s->in == NULL || s->out == NULL) {
		rc = nx__err(NX_ENOMEM, "nx: buffers");
		goto err;
	}
	memset(s->in, 0xa5, o->payload);
	rc = nxb_pin_client(o, r);
	if (rc < 0)
		goto err;
	rc = nx_open(&s->c, o->nx_instance, &oo);
	if (rc < 0) {
		rc = nx__err_ctx(rc, "nx");
		goto err;
	}
	id = nx_pipeline_id(s->c, pipeline);
	if (id < 0) {
		rc = nx__err_ctx(id, "nx");
		goto err;
	}
	if (o->payload > nx_max_payload(s->c)) {
		rc = nx__err(NX_E2BIG, "nx: payload %u exceeds the instance's max_payload %u",
			     o->payload, nx_max_payload(s->c));
		goto err;
	}
	s->echo = (uint16_t)id;
	r->server_cpu = o->server_cpu;
	if (o->payload > 192)
		nxb_note(r, "payload over 192 bytes travels through the channel arena");
	return 0;
err:
	session_close(s);
	return rc;
}

static int
session_open(struct nx_session *s, const struct nxb_opts *o, struct nxb_result *r)
{
	return session_open_pipe(s, o, r, "echo");
}

/*
 * Round trips through a pipeline, one outstanding: by nx_call, or by
 * nx_submit and nx_wait, with or without a deadline (the policy
 * transports: the one with every check on, the other with none, on the
 * same client path).
 */
enum how { BY_CALL, BY_SUBMIT, BY_SUBMIT_DEADLINE };

static int
pingpong(const struct nxb_opts *o, struct nxb_result *r, const char *pipeline, enum how how)
{
	struct nx_completion comp = { 0 };
	struct nx_session s;
	struct nxb_loop l;
	uint64_t dl = 0;
	int rc;

	rc = session_open_pipe(&s, o, r, pipeline);
	if (rc < 0)
		return rc;
	nxb_loop_begin(&l, o);
	do {
		/* a deadline 1 s ahead, renewed every 1024 requests: nxd checks
		 * each one; the client need not read the clock for each */
		if (how == BY_SUBMIT_DEADLINE && (l.i & 1023) == 0)
			dl = nx_now_ns() + 1000000000ull;
		if (how == BY_CALL) {
			rc = nx_call(s.c, s.echo, s.in, o->payload, s.out, o->payload, &comp.out_len,
				     o->op_timeout_ns);
		} else {
			struct nx_req req = { .in = s.in, .in_len = o->payload, .out = s.out,
					      .out_cap = o->payload, .pipeline = s.echo,
					      .deadline_ns = dl };

			rc = nx_submit(s.c, &req);
			if (rc == 0)
				rc = nx_wait(s.c, &comp, 1, o->op_timeout_ns);
			if (rc == 1)
				rc = comp.status;
		}
		if (rc != 0 || comp.out_len != o->payload) {
			rc = nx__err(rc < 0 ? rc : NX_EPROTO, "%s: request %llu: %s (%u bytes back)",
				     r->transport, (unsigned long long)l.i, nx_strerror(rc), comp.out_len);
			break;
		}
	} while (nxb_loop_next(&l, &r->hist));
	if (rc == 0)
		rc = nxb_loop_end(&l, r);
	session_close(&s);
	return rc;
}

int
nxb_nxoff_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nxoff", "pingpong");
	nxb_note(r, "echo slot without policies; submit+wait, no deadline, no rate limit");
	return pingpong(o, r, "plain", BY_SUBMIT);
}

int
nxb_nxpol_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nxpol", "pingpong");
	nxb_note(r, "echo slot with breaker, slow calls, budget; a deadline on every request; "
		    "a channel rate limit it never reaches");
	return pingpong(o, r, "guarded", BY_SUBMIT_DEADLINE);
}

/* The same echo stage three ways; nxpol's nxd also runs a rate limit. */
const char nxb_policy_conf[] =
	"[pipeline.plain]\ngraph = s\ns.stage = echo\n\n"
	"[pipeline.guarded]\ngraph = s\ns.stage = echo\ns.breaker = count\n"
	"s.breaker-window = 100\ns.breaker-min-calls = 100\ns.breaker-failure-pct = 50\n"
	"s.breaker-slow-pct = 100\ns.breaker-slow-us = 1000\ns.budget-us = 1000\n\n"
	"[pipeline.shed]\ngraph = s\ns.stage = echo\ns.breaker = count\n";

int
nxb_nx_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nx", "pingpong");
	return pingpong(o, r, "echo", BY_CALL);
}

/* The same round trips, against an nxd whose data path keeps no
 * counters (run_transport starts nxd-nocounters for it). */
int
nxb_nxnc_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nxnc", "pingpong");
	nxb_note(r, "nxd-nocounters: echo with the health counters compiled out");
	return pingpong(o, r, "echo", BY_CALL);
}

int
nxb_nx3_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nx3", "pingpong");
	nxb_note(r, "pipeline noop3: seq of three no-op stages");
	return pingpong(o, r, "noop3", BY_CALL);
}

/*
 * Round trips through echo while its stage is swapped at a rate. This
 * machine has no CPU to spare for the control plane: a swapper thread (or
 * nxctl) would preempt the client or the worker, and the figure would
 * measure CPU sharing. So the client thread itself issues each swap
 * between two requests, synchronously, and leaves that time out of the
 * measurement: what remains is what a swap costs the data path, a new
 * stage published and a grace period passed while requests flow.
 */
int
nxb_nxswap_pingpong(const struct nxb_opts *o, struct nxb_result *r)
{
	char *argv[] = { "swap", "echo", "echo", "echo" }, *text;
	const uint64_t period = 1000000000ull / (o->swap_rate ? o->swap_rate : 1000);
	struct nx_ctl_session *cs;
	struct nx_session s;
	struct nxb_loop l;
	uint64_t next, swaps = 0, t0, swap_ns = 0;
	uint32_t len = 0;
	size_t tlen;
	int rc, status;

	nxb_result_init(r, o, "nxswap", "pingpong");
	rc = session_open_pipe(&s, o, r, "echo");
	if (rc < 0)
		return rc;
	rc = nx__ctl_session_open(&cs, o->nx_instance);
	if (rc < 0) {
		session_close(&s);
		return nx__err_ctx(rc, "nxswap");
	}
	nxb_loop_begin(&l, o);
	t0 = l.t_prev;
	next = t0 + period;
	do {
		if (l.t_prev >= next) {
			uint64_t a = l.t_prev;

			rc = nx__ctl_session_command(cs, 4, argv, false, 5000000000ull, &text, &tlen,
						     &status);
			nx__mem_free(text);
			if (rc < 0 || status < 0) {
				rc = nx__err(rc < 0 ? rc : status, "nxswap: swap %llu: %s",
					     (unsigned long long)swaps, nx__errmsg());
				break;
			}
			swaps++;
			next += period;
			/* the swap's own time is the client's, not the round trip's */
			l.t_prev = nx__clock_ns();
			swap_ns += l.t_prev - a;
			l.deadline += l.t_prev - a;
		}
		rc = nx_call(s.c, s.echo, s.in, o->payload, s.out, o->payload, &len, o->op_timeout_ns);
		if (rc < 0 || len != o->payload) {
			rc = nx__err(rc < 0 ? rc : NX_EPROTO, "nxswap: call %llu: %s",
				     (unsigned long long)l.i, nx_strerror(rc));
			break;
		}
	} while (nxb_loop_next(&l, &r->hist));
	if (rc == 0) {
		uint64_t measured = l.t_prev - t0 - swap_ns;

		rc = nxb_loop_end(&l, r);
		nxb_note(r, "swaps issued by the client between requests, their time left out: %llu "
			 "(in the first round), %.1f us each, %.0f per second of round trips",
			 (unsigned long long)swaps,
			 swaps ? (double)swap_ns / 1e3 / (double)swaps : 0.0,
			 measured ? (double)swaps * 1e9 / (double)measured : 0.0);
	}
	nx__ctl_session_close(cs);
	session_close(&s);
	return rc;
}

/*
 * A window of W requests outstanding. Each request's latency runs from
 * the clock read before the submit batch it went out in to the clock read
 * after the poll that took its answer: one read per poll that found
 * answers (it also dates the next batch), so the measurement costs the
 * throughput little.
 */
static int
window(const struct nxb_opts *o, struct nxb_result *r, const char *pipeline, int expect,
       bool batch)
{
	struct nx_completion comps[256];
	struct nx_req reqs[256];
	struct nx_session s;
	uint64_t *sent_at, sent = 0, done = 0, total, t0, t_meas = 0, deadline, now, wmask;
	struct nx_client *c;
	unsigned w;
	int rc, n, i;

	rc = session_open_pipe(&s, o, r, pipeline);
	if (rc < 0)
		return rc;
	c = s.c;
	w = o->window < nx_capacity(c) ? o->window : nx_capacity(c);
	if (w < o->window)
		nxb_note(r, "window cut to the channel's %u", w);
	wmask = nxb_pow2(w) - 1;
	sent_at = calloc(wmask + 1, sizeof *sent_at);
	if (sent_at == NULL) {
		rc = nx__err(NX_ENOMEM, "nx: window");
		goto out;
	}
	total = o->warmup + o->ops;
	t0 = nx__clock_ns();
	deadline = t0 + o->duration_ns;
	now = t0;
	while (done < total) {
		if (now >= deadline) {
			r->by_duration = true;
			break;
		}
		if (batch) {
			/* what the window has room for, in one nx_submit_batch */
			unsigned k, room = (unsigned)(w - (sent - done)), got = 0;

			if (room > total - sent)
				room = (unsigned)(total - sent);
			if (room > sizeof reqs / sizeof reqs[0])
				room = sizeof reqs / sizeof reqs[0];
			for (k = 0; k < room; k++)
				reqs[k] = (struct nx_req){ .in = s.in, .in_len = o->payload,
							   .out = s.out, .out_cap = o->payload,
							   .user_data = sent + k, .pipeline = s.echo };
			rc = room != 0 ? nx_submit_batch(c, reqs, room, &got) : 0;
			if (rc < 0 && rc != NX_EAGAIN) {
				rc = nx__err(rc, "nx: submit batch: %s", nx_strerror(rc));
				goto out;
			}
			for (k = 0; k < got; k++)
				sent_at[(sent + k) & wmask] = now;
			sent += got;
		}
		while (!batch && sent < total && sent - done < w) {
			struct nx_req req = { .in = s.in, .in_len = o->payload, .out = s.out,
					      .out_cap = o->payload, .user_data = sent,
					      .pipeline = s.echo };

			rc = nx_submit(c, &req);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				rc = nx__err(rc, "nx: submit: %s", nx_strerror(rc));
				goto out;
			}
			sent_at[sent & wmask] = now;
			sent++;
		}
		/* The window is full, or all is sent: wait for answers as
		 * nexus's own loops and the baselines' do, a PAUSE between
		 * empty looks, and no longer than the op timeout (an nxd that
		 * stopped answering would otherwise be looked at forever: the
		 * duration's clock is read only when answers come). */
		n = nx_wait(c, comps, 256, o->op_timeout_ns);
		if (n == NX_ETIMEDOUT) {
			rc = nx__err(NX_ETIMEDOUT, "nx: window: no answer within %.1f s (request %llu)",
				     (double)o->op_timeout_ns / 1e9, (unsigned long long)done);
			goto out;
		}
		if (n < 0) {
			rc = nx__err(n, "nx: window: %s", nx_strerror(n));
			goto out;
		}
		now = nx__clock_ns(); /* the answers' time, and the next batch's send time */
		for (i = 0; i < n; i++, done++) {
			if (comps[i].status != expect || comps[i].user_data != done) {
				rc = nx__err(NX_EPROTO, "nx: request %llu: %s", (unsigned long long)done,
					     nx_strerror(comps[i].status));
				goto out;
			}
			if (done == o->warmup)
				t_meas = now;
			if (done >= o->warmup)
				nx__hist_record(&r->hist, now - sent_at[done & wmask]);
		}
	}
	if (done <= o->warmup) {
		rc = nx__err(NX_ETIMEDOUT, "nx: the duration bound ran out in the warmup");
		goto out;
	}
	r->ops = done - o->warmup;
	r->elapsed_ns = nx__clock_ns() - t_meas;
	r->ops_per_s = (double)r->ops * 1e9 / (double)r->elapsed_ns;
	nxb_note(r, "%u outstanding", w);
	rc = 0;
	/* let what is still outstanding come back before closing */
	while (nx_outstanding(c) != 0 && nx_wait(c, comps, 256, o->op_timeout_ns) > 0)
		;
out:
	free(sent_at);
	session_close(&s);
	return rc;
}

int
nxb_nx_window(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nx", "window");
	return window(o, r, "echo", 0, false);
}

int
nxb_nxbatch_window(const struct nxb_opts *o, struct nxb_result *r)
{
	nxb_result_init(r, o, "nxbatch", "window");
	nxb_note(r, "nx_submit_batch of what the window has room for");
	return window(o, r, "echo", 0, true);
}

/*
 * How fast a slot whose breaker is open sheds load: a window of requests
 * through a slot forced open (nxctl breaker shed s open), every one
 * answered NX_EBREAKER at once, its stage never run.
 */
int
nxb_nxshed_window(const struct nxb_opts *o, struct nxb_result *r)
{
	char *argv[] = { "breaker", "shed", "s", "open" }, *text = NULL;
	size_t len;
	int rc, status;

	nxb_result_init(r, o, "nxshed", "window");
	rc = nx__ctl_command(o->nx_instance, 4, argv, false, 10000000000ull, &text, &len, &status);
	nx__mem_free(text);
	if (rc < 0 || status < 0)
		return nx__err(rc < 0 ? rc : status, "nxshed: cannot force the breaker open");
	rc = window(o, r, "shed", NX_EBREAKER, false);
	nxb_note(r, "breaker forced open: every answer EBREAKER, the stage never runs");
	return rc;
}

#define NXSLEEP_GAP_NS 300000ull /* idle gap before each call: both sides asleep */
#define NXSLEEP_IDLE_NS 2000000000ull

int
nxb_nxsleep_wakeup(const struct nxb_opts *o, struct nxb_result *r)
{
	struct nx_session s;
	uint64_t cpu0, cpu1, ops, i;
	uint32_t len = 0;
	int rc;

	nxb_result_init(r, o, "nxsleep", "wakeup");
	rc = session_open(&s, o, r);
	if (rc < 0)
		return rc;
	/* nxd's CPU use with a client attached and nothing to do */
	if (o->nxd_pid > 0) {
		cpu0 = nx__process_cpu_ns(o->nxd_pid);
		nx__sleep_ns(NXSLEEP_IDLE_NS);
		cpu1 = nx__process_cpu_ns(o->nxd_pid);
		nxb_note(r, "nxd idle CPU %.2f%% of one CPU (a spinning worker: 100%%)",
			 100.0 * (double)(cpu1 - cpu0) / (double)NXSLEEP_IDLE_NS);
	} else {
		nxb_note(r, "idle CPU not measured: --instance");
	}
	/* each op waits NXSLEEP_GAP_NS first: keep the run short */
	ops = o->ops < 3000 ? o->ops : 3000;
	for (i = 0; i < ops + (o->warmup < 100 ? o->warmup : 100); i++) {
		uint64_t t0, t1;

		nx__sleep_ns(NXSLEEP_GAP_NS);
		t0 = nx__clock_ns();
		rc = nx_call(s.c, s.echo, s.in, o->payload, s.out, o->payload, &len, o->op_timeout_ns);
		t1 = nx__clock_ns();
		if (rc < 0 || len != o->payload) {
			rc = nx__err(rc < 0 ? rc : NX_EPROTO, "nxsleep: call %llu: %s",
				     (unsigned long long)i, nx_strerror(rc));
			break;
		}
		if (i >= (o->warmup < 100 ? o->warmup : 100)) {
			nx__hist_record(&r->hist, t1 - t0);
			r->elapsed_ns += t1 - t0;
			r->ops++;
		}
	}
	if (rc == 0) {
		r->ops_per_s = r->elapsed_ns > 0 ? (double)r->ops * 1e9 / (double)r->elapsed_ns : 0;
		nxb_note(r, "each call after a %llu us idle gap", NXSLEEP_GAP_NS / 1000);
	}
	session_close(&s);
	return rc;
}
