/*
 * Crash recovery under nxwd, with real processes: nxd killed with SIGKILL
 * at random moments while two clients send without pause (no request
 * lost, none answered twice, every answer right, only non-idempotent ones
 * refused); a stalled worker aborted and nxd restarted; a crash loop that
 * stops nxwd; a usage error that is not restarted.
 */
#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <nx/nx.h>

#include "core/datapath/crc32c.h"
#include "platform/base/rand.h"
#include "shm/abi/channel.h"
#include "shm/monitor/health_read.h"
#include "harness/harness.h"
#include "harness/wd.h"

#define MS 1000000ull

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The restart log as a snapshot reads it. */
static unsigned
restart_log(const char *instance, struct nx_health_restart *out, unsigned max, uint64_t *total)
{
	const struct nx_hr_snap *s;
	struct nx_hr *r;
	unsigned n = 0;

	assert_int_equal(nx__hr_open(&r, instance, NULL), 0);
	assert_int_equal(nx__hr_snapshot(r, &s), 0);
	*total = s->hdr.restarts;
	for (n = 0; n < s->nrestarts && n < max; n++)
		out[n] = s->restarts[n];
	nx__hr_close(r);
	return n;
}

/* ---- 1. kill -9 at random moments under load ---- */

#define WINDOW 8       /* requests in flight per client */
#define MAX_PAYLOAD 600

struct client_stats {
	uint64_t submitted;     /* requests that went (nx_submit 0, or nx_call) */
	uint64_t completed;     /* completions seen */
	uint64_t ok;            /* status 0 with the right CRC */
	uint64_t restarted;     /* NX_ERESTARTED for a request not marked idempotent */
	uint64_t calls;         /* of them through nx_call */
	uint64_t generation;    /* the client's generation at its last completion */
	uint64_t bad;           /* anything else: a wrong answer, order, status, a loss */
	char why[256];          /* the first bad thing */
};

struct shared {
	int stop;
	struct client_stats c[2];
};

static struct shared *sh;

static void bad(struct client_stats *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
bad(struct client_stats *st, const char *fmt, ...)
{
	va_list ap;

	if (st->bad++ == 0) {
		va_start(ap, fmt);
		vsnprintf(st->why, sizeof st->why, fmt, ap);
		va_end(ap);
	}
}

struct inflight {
	uint64_t id;
	uint32_t crc;
	uint8_t idem;
	uint8_t out[4];
	uint32_t out_len_seen;
};

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One completion, which must be for the oldest request in flight. */
static void
check_completion(struct client_stats *st, struct inflight *f, const struct nx_completion *cp)
{
	if (cp->user_data != f->id) {
		bad(st, "completion for request %llu, expected %llu (lost or duplicated)",
		    (unsigned long long)cp->user_data, (unsigned long long)f->id);
		return;
	}
	st->completed++;
	if (cp->status == 0) {
		if (cp->out_len != 4 || le32(f->out) != f->crc)
			bad(st, "request %llu: wrong answer (len %u)", (unsigned long long)f->id,
			    cp->out_len);
		else
			st->ok++;
	} else if (cp->status == NX_ERESTARTED && !f->idem) {
		st->restarted++;
	} else {
		bad(st, "request %llu (%s): status %s", (unsigned long long)f->id,
		    f->idem ? "idempotent" : "not idempotent", nx_err_name(cp->status));
	}
}

static void
client_main(int idx, const char *instance, uint64_t seed)
{
	struct client_stats *st = &sh->c[idx];
	static uint8_t buf[MAX_PAYLOAD];
	struct inflight fl[WINDOW];
	struct nx_completion comps[WINDOW];
	unsigned head = 0, n = 0, i;
	uint64_t next_id = 1, t0 = mono_ns(), drain_t0;
	struct nx_rand rng;
	struct nx_client *c = NULL;
	int pipe;

	nx__rand_seed(&rng, seed);
	while (nxt_open(&c, instance) < 0) {
		if (mono_ns() - t0 > nxt_patience_ns()) {
			bad(st, "nx_open: %s", nx_errmsg());
			_exit(1);
		}
		usleep(2000);
	}
	pipe = nx_pipeline_id(c, "checksum");
	if (pipe < 0) {
		bad(st, "no checksum pipeline");
		_exit(1);
	}
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && st->bad == 0) {
		/* a window of requests, idempotent or not at random, of every size */
		while (n < WINDOW) {
			struct inflight *f = &fl[(head + n) % WINDOW];
			uint32_t len = 1 + (uint32_t)(nx__rand_next(&rng) % MAX_PAYLOAD);
			struct nx_req r = { .in = buf, .in_len = len, .out = f->out, .out_cap = 4,
					    .pipeline = (uint16_t)pipe };
			int rc;

			for (i = 0; i < len; i++)
				buf[i] = (uint8_t)nx__rand_next(&rng);
			f->id = next_id;
			f->idem = (nx__rand_next(&rng) & 1) != 0;
			f->crc = nx__crc32c(0, buf, len);
			r.user_data = f->id;
			r.flags = f->idem ? NX_REQ_IDEMPOTENT : 0;
			rc = nx_submit(c, &r);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0) {
				bad(st, "nx_submit: %s", nx_err_name(rc));
				break;
			}
			next_id++;
			n++;
			st->submitted++;
		}
		int k = nx_poll(c, comps, WINDOW);

		for (i = 0; i < (unsigned)k && n != 0; i++, n--) {
			check_completion(st, &fl[head], &comps[i]);
			head = (head + 1) % WINDOW;
		}
		if (i < (unsigned)k)
			bad(st, "%u completions more than requests in flight", (unsigned)k - i);
		if (k > 0)
			__atomic_store_n(&st->generation, nx_generation(c), __ATOMIC_RELEASE);
		else
			sched_yield(); /* two CPUs for nxd, two clients, nxwd and the test */
		/* now and then: drain the window, then a few nx_call (never idempotent) */
		if (k > 0 && nx__rand_next(&rng) % 512 == 0) {
			drain_t0 = mono_ns();
			while (n != 0 && mono_ns() - drain_t0 < nxt_patience_ns()) {
				k = nx_poll(c, comps, WINDOW);
				for (i = 0; i < (unsigned)k && n != 0; i++, n--) {
					check_completion(st, &fl[head], &comps[i]);
					head = (head + 1) % WINDOW;
				}
				if (k == 0)
					sched_yield();
			}
			for (unsigned j = 0; j < 3 && n == 0; j++) {
				uint32_t len = 1 + (uint32_t)(nx__rand_next(&rng) % MAX_PAYLOAD), out_len = 0;
				uint8_t out[4];
				int rc;

				for (i = 0; i < len; i++)
					buf[i] = (uint8_t)nx__rand_next(&rng);
				st->submitted++;
				st->calls++;
				rc = nx_call(c, (uint16_t)pipe, buf, len, out, sizeof out, &out_len,
					     nxt_patience_ns());
				st->completed++;
				if (rc == 0 && out_len == 4 && le32(out) == nx__crc32c(0, buf, len))
					st->ok++;
				else if (rc == NX_ERESTARTED)
					st->restarted++;
				else
					bad(st, "nx_call: status %s, len %u", nx_err_name(rc), out_len);
			}
		}
	}
	/* every request still in flight completes */
	drain_t0 = mono_ns();
	while (n != 0 && st->bad == 0 && mono_ns() - drain_t0 < nxt_patience_ns()) {
		int k = nx_poll(c, comps, WINDOW);

		for (i = 0; i < (unsigned)k && n != 0; i++, n--) {
			check_completion(st, &fl[head], &comps[i]);
			head = (head + 1) % WINDOW;
		}
		if (k == 0)
			sched_yield();
	}
	if (n != 0)
		bad(st, "%u requests never completed", n);
	if (nx_outstanding(c) != 0)
		bad(st, "libnx still counts %u outstanding", nx_outstanding(c));
	nx_close(c);
	_exit(st->bad == 0 ? 0 : 1);
}

/* The run's seed: $NXT_SEED when set (to repeat a run), else the clock. */
static uint64_t
seed(void)
{
	const char *e = getenv("NXT_SEED");

	if (e != NULL && e[0] != '\0')
		return strtoull(e, NULL, 0) | 1;
	return (uint64_t)mono_ns() | 1;
}

/* Both clients have had a right answer since ok0[] (from any generation
 * after gen) and completed more than done0[]. */
static bool
flowing_again(uint64_t gen, const uint64_t *done0, const uint64_t *ok0)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (__atomic_load_n(&sh->c[i].generation, __ATOMIC_ACQUIRE) <= gen ||
		    __atomic_load_n(&sh->c[i].completed, __ATOMIC_ACQUIRE) <= done0[i] ||
		    __atomic_load_n(&sh->c[i].ok, __ATOMIC_ACQUIRE) <= ok0[i])
			return false;
	return true;
}

static void
test_kill9_at_random_moments_loses_and_duplicates_nothing(void **state)
{
	const unsigned kills = nxt_sanitized() ? 20 : 60;
	const char *wd_args[] = { "--restart-min", "0", "--restart-max", "0", "--max-restarts", "0",
				  "--stall-ms", "0", NULL };
	struct nx_health_restart log[NX_RESTART_LOG];
	struct nxt_wd wd;
	struct nxt_hdr h;
	char inst[64];
	pid_t cl[2];
	const uint64_t s0 = seed();
	uint64_t t0 = mono_ns(), total;
	struct nx_rand rng;
	const uint64_t zero[2] = { 0, 0 };
	unsigned k, i, nlog;

	(void)state;
	nx__rand_seed(&rng, s0);
	print_message("seed %llu (NXT_SEED=%llu repeats it), %u kills\n", (unsigned long long)s0,
		      (unsigned long long)s0, kills);
	nxt_instance(inst, sizeof inst, "kill9");
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof *sh);
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, NULL) > 0);
	if (nxt_wait_serving(inst, 1, nxt_patience_ns(), &h) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("nxd under nxwd never served");
	}
	for (i = 0; i < 2; i++) {
		cl[i] = nxt_fork();
		if (cl[i] == 0)
			client_main((int)i, inst, s0 + i * 7919);
		assert_true(cl[i] > 0);
	}
	/* both served before the first kill: every kill then adds a right
	 * answer to each, so each has more right answers than kills */
	if (!NXT_WAIT_UNTIL(flowing_again(0, zero, zero) || sh->c[0].bad != 0 || sh->c[1].bad != 0,
			    nxt_patience_ns()) || sh->c[0].bad != 0 || sh->c[1].bad != 0) {
		__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
		nxt_wd_dump_log(&wd);
		fail_msg("no requests flowed (client 0: %s, client 1: %s)", sh->c[0].why, sh->c[1].why);
	}
	for (k = 0; k < kills; k++) {
		uint64_t done[2], ok[2];

		usleep((useconds_t)(5000 + nx__rand_next(&rng) % 55000)); /* 5 to 60 ms */
		assert_int_equal(nxt_hdr_read(inst, &h), 0);
		assert_int_equal(h.state, NX_INST_RUNNING);
		assert_true(h.pid > 0);
		for (i = 0; i < 2; i++) {
			done[i] = __atomic_load_n(&sh->c[i].completed, __ATOMIC_ACQUIRE);
			ok[i] = __atomic_load_n(&sh->c[i].ok, __ATOMIC_ACQUIRE);
		}
		assert_int_equal(kill(h.pid, SIGKILL), 0);
		/* the next generation serves both clients again: a right answer
		 * each (no budget on the whole run: each restart takes its time) */
		{
			struct nxt_hdr now;
			bool flowing = false;

			NXT_WAIT_UNTIL((flowing = nxt_hdr_read(inst, &now) == 0 &&
						  now.generation > h.generation &&
						  now.state == NX_INST_RUNNING &&
						  flowing_again(h.generation, done, ok)) ||
					       sh->c[0].bad != 0 || sh->c[1].bad != 0,
				       nxt_patience_ns());
			if (!flowing) {
				__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
				nxt_wd_dump_log(&wd);
				fail_msg("kill %u: no requests flowed after the restart (client 0: %s, "
					 "client 1: %s)", k + 1, sh->c[0].why, sh->c[1].why);
			}
		}
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++) {
		int st = nxt_wait(cl[i], nxt_patience_ns());

		print_message("client %u: %llu requests (%llu by nx_call), %llu right, %llu "
			      "NX_ERESTARTED, generation %llu%s%s\n", i,
			      (unsigned long long)sh->c[i].submitted,
			      (unsigned long long)sh->c[i].calls, (unsigned long long)sh->c[i].ok,
			      (unsigned long long)sh->c[i].restarted,
			      (unsigned long long)sh->c[i].generation,
			      sh->c[i].bad != 0 ? "; FIRST PROBLEM: " : "", sh->c[i].why);
		assert_int_equal(sh->c[i].bad, 0);
		assert_int_equal(st, 0);
		/* exactly one completion each: in order, by user_data, none left */
		assert_int_equal(sh->c[i].completed, sh->c[i].submitted);
		assert_int_equal(sh->c[i].ok + sh->c[i].restarted, sh->c[i].completed);
		assert_true(sh->c[i].ok > kills);
	}
	/* the restart log: every kill, with its reason */
	nlog = restart_log(inst, log, NX_RESTART_LOG, &total);
	assert_int_equal(total, kills);
	assert_int_equal(nlog, kills < NX_RESTART_LOG ? kills : NX_RESTART_LOG);
	for (i = 0; i < nlog; i++) {
		assert_string_equal(log[i].reason, "killed by signal 9");
		assert_int_equal(log[i].status, -9);
		assert_true(log[i].old_pid > 0);
		assert_true(log[i].down_ns > 0);
	}
	assert_int_equal(log[nlog - 1].generation, kills + 1);
	assert_int_equal(nxt_log_count(wd.log, "killed by signal 9; restart"), (int)kills);
	assert_int_equal(nxt_wd_stop(&wd), 0);
	assert_true(nxt_segments_gone(inst));
	munmap(sh, sizeof *sh);
	print_message("%u kills in %.1f s\n", kills, (double)(mono_ns() - t0) / 1e9);
}

/* ---- 2. a stalled worker ---- */

static void
write_conf(const char *path, const char *pipeline, const char *stage)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[nxd]\nmax-channels = 8\n\n[pipeline.%s]\ngraph = s\ns.stage = %s\n"
		   "s.plugin = %s\n", pipeline, stage, nxt_plugin_path("spin"));
	fclose(f);
}

/* The stall limit where a stall is under test: far beyond what a
 * preempted worker's heartbeat lags on a loaded machine. */
#define STALL_MS 3000
#define STR2(x) #x
#define STR(x) STR2(x)

static void
test_stalled_worker_is_aborted_and_nxd_restarted(void **state)
{
	const uint64_t stall = STALL_MS * MS;
	const char *wd_args[] = { "--stall-ms", STR(STALL_MS), "--abort-grace-ms", "2000",
				  "--restart-min", "0", NULL };
	char inst[64], conf[128], out[64];
	const char *nxd_args[] = { "--config", conf, NULL };
	const struct nx_health_view *v;
	struct nx_health_restart log[NX_RESTART_LOG];
	struct nx_completion comp;
	struct nx_client *c;
	struct nx_hr *r;
	struct nxt_wd wd;
	struct nxt_hdr h;
	uint64_t hb = 0, t0, total, noticed_mono, wall_minus_mono;
	uint32_t out_len;
	unsigned nlog;
	int pipe, n = 0;

	(void)state;
	nxt_instance(inst, sizeof inst, "stall");
	nxt_tmpfile(conf, sizeof conf, "stall.conf");
	write_conf(conf, "spin", "spin");
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, nxd_args) > 0);
	if (nxt_wait_serving(inst, 1, nxt_patience_ns(), &h) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("nxd under nxwd never served");
	}
	assert_int_equal(nxt_open(&c, inst), 0);
	pipe = nx_pipeline_id(c, "spin");
	assert_true(pipe >= 0);
	assert_int_equal(nx_call(c, (uint16_t)pipe, "hello", 5, out, sizeof out, &out_len,
				 nxt_patience_ns()), 0);
	assert_memory_equal(out, "hello", 5);

	/* the worker spins from here: watch its heartbeat stop */
	assert_int_equal(nx__hr_open(&r, inst, NULL), 0);
	{
		struct nx_req rq = { .in = "spin", .in_len = 4, .out = out, .out_cap = sizeof out,
				     .user_data = 42, .pipeline = (uint16_t)pipe };
		uint64_t ages[8], gen;
		unsigned nw;
		int32_t pid;

		assert_int_equal(nx_submit(c, &rq), 0);
		t0 = mono_ns();
		while (n == 0 && mono_ns() - t0 < nxt_patience_ns()) {
			/* the last heartbeat of this generation: read between two
			 * looks at the generation, so never the next nxd's */
			if (nx__hr_heartbeats(r, ages, 8, &nw, &gen, &pid) == 0 && gen == h.generation &&
			    (v = nx__hr_view(r)) != NULL) {
				uint64_t beat = nx__load64(&v->workers[0].heartbeat_ns);

				if (nx__load64(&v->hdr->generation) == h.generation)
					hb = beat;
			}
			n = nx_poll(c, &comp, 1);
			if (n == 0)
				usleep(200);
		}
	}
	nx__hr_close(r);
	if (n != 1) {
		nxt_wd_dump_log(&wd);
		fail_msg("the spinning request never completed");
	}
	assert_int_equal(comp.user_data, 42);
	assert_int_equal(comp.status, NX_ERESTARTED); /* not idempotent: may have run */
	assert_true(nx_generation(c) > h.generation);
	/* and the same client is served right by the new nxd */
	assert_int_equal(nx_call(c, (uint16_t)pipe, "again", 5, out, sizeof out, &out_len,
				 nxt_patience_ns()), 0);
	assert_memory_equal(out, "again", 5);

	nlog = restart_log(inst, log, NX_RESTART_LOG, &total);
	assert_int_equal(total, 1);
	assert_int_equal(nlog, 1);
	if (strncmp(log[0].reason, "stalled: worker 0 heartbeat ", 28) != 0)
		fail_msg("restart reason: '%s'", log[0].reason);
	assert_true(log[0].status == -SIGABRT || log[0].status == -SIGKILL);
	assert_int_equal(log[0].generation, h.generation + 1);
	assert_int_equal(nxt_log_count(wd.log, "(limit " STR(STALL_MS) " ms): SIGABRT"), 1);
	assert_int_equal(nxt_log_count(wd.log, "; restart 1, as generation 2"), 1);
	/* noticed not before the stall limit had passed since the last
	 * heartbeat (how soon after is nxbench's to measure; the upper bound
	 * here only says it was this stall that was noticed) */
	wall_minus_mono = wall_ns() - mono_ns();
	noticed_mono = log[0].wall_ns - wall_minus_mono;
	print_message("last heartbeat to notice: %.1f ms (stall limit %d ms)\n",
		      (double)(noticed_mono - hb) / 1e6, STALL_MS);
	assert_true(hb != 0);
	assert_true(noticed_mono + 2 * MS >= hb + stall);
	assert_true(noticed_mono <= hb + stall + nxt_patience_ns());
	nx_close(c);
	assert_int_equal(nxt_wd_stop(&wd), 0);
	assert_true(nxt_segments_gone(inst));
	unlink(conf);
}

/* ---- 3. a crash loop, and a usage error ---- */

static void
test_crash_loop_stops_nxwd_after_the_fourth_start(void **state)
{
	/* a window no loaded machine's four starts outlast */
	const char *wd_args[] = { "--max-restarts", "3", "--window-ms", "600000", "--restart-min",
				  "1", "--restart-max", "20", NULL };
	char inst[64], conf[128];
	const char *nxd_args[] = { "--config", conf, NULL };
	struct nxt_wd wd;
	int st;

	(void)state;
	nxt_instance(inst, sizeof inst, "loop");
	nxt_tmpfile(conf, sizeof conf, "loop.conf");
	write_conf(conf, "doomed", "abortinit");
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, nxd_args) > 0);
	st = nxt_wd_wait(&wd, nxt_patience_ns());
	if (st != 3)
		nxt_wd_dump_log(&wd);
	assert_int_equal(st, 3);
	assert_int_equal(nxt_log_count(wd.log, "killed by signal 6; restart"), 3);
	assert_int_equal(nxt_log_count(wd.log, "nxwd: crash loop: nxd failed 4 times within "
					       "600000 ms"), 1);
	assert_int_equal(nxt_log_count(wd.log, "restart 4"), 0);
	nxt_cleanup(inst);
	unlink(conf);
	unlink(wd.log);
}

static void
test_nxd_usage_error_is_not_restarted(void **state)
{
	const char *nxd_args[] = { "--no-such-option", NULL };
	struct nxt_wd wd;
	char inst[64];
	int st;

	(void)state;
	nxt_instance(inst, sizeof inst, "usage");
	assert_true(nxt_wd_spawn(&wd, inst, NULL, nxd_args) > 0);
	st = nxt_wd_wait(&wd, nxt_patience_ns());
	if (st != 2)
		nxt_wd_dump_log(&wd);
	assert_int_equal(st, 2);
	assert_int_equal(nxt_log_count(wd.log, "exited with status 2 (bad usage or configuration): "
					       "not restarted"), 1);
	assert_int_equal(nxt_log_count(wd.log, "restart 1"), 0);
	nxt_cleanup(inst);
	unlink(wd.log);
}

/* nxwd's own options: refused with a message and exit 2; --help lists them all */
static int
run_nxwd(const char *const *args, char *out, size_t cap)
{
	char cmd[2048];
	size_t len = 0;
	FILE *p;
	int st, i;

	len += (size_t)snprintf(cmd, sizeof cmd, "%s", nxt_bin("nxwd"));
	for (i = 0; args[i] != NULL; i++)
		len += (size_t)snprintf(cmd + len, sizeof cmd - len, " '%s'", args[i]);
	snprintf(cmd + len, sizeof cmd - len, " 2>&1");
	p = popen(cmd, "r");
	assert_non_null(p);
	len = fread(out, 1, cap - 1, p);
	out[len] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_nxwd_refuses_bad_options_and_documents_every_one(void **state)
{
	static const struct {
		const char *args[6];
		const char *says;
	} bad[] = {
		{ { "--stall-ms", "soon", "--", "nxd", NULL }, "--stall-ms: 'soon' is not a number" },
		{ { "--restart-min", "-1", "--", "nxd", NULL }, "--restart-min: '-1' is not a number" },
		{ { "--max-restarts", "5000", "--", "nxd", NULL }, "from 0 to 1000" },
		{ { "--restart-min", "10", "--restart-max", "5", "--", "nxd" }, "is below --restart-min" },
		{ { "--bogus", "--", "nxd", NULL }, "unrecognized option" },
		{ { NULL }, "no nxd command" },
		{ { "nxd", "--instance", "x", NULL }, "put nxd's command after '--'" },
		{ { "--instance", "bad/name", "--", "nxd", NULL }, "not allowed" },
		{ { "--", "/nonexistent/nxd", NULL }, "cannot run '/nonexistent/nxd'" },
	};
	const char *help[] = { "--help", NULL };
	const char *opts[] = { "--instance", "--stall-ms", "--abort-grace-ms", "--restart-min",
			       "--restart-max", "--stable-ms", "--max-restarts", "--window-ms",
			       "--no-standby" };
	static char out[8192];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int st = run_nxwd(bad[i].args, out, sizeof out);

		if (st != 2 || strstr(out, bad[i].says) == NULL)
			fail_msg("case %u: exit %d, said: %s", i, st, out);
	}
	assert_int_equal(run_nxwd(help, out, sizeof out), 0);
	for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (strstr(out, opts[i]) == NULL)
			fail_msg("--help does not document %s", opts[i]);
}

/* ---- 3b. the standby ---- */

/* Wait until nxwd's log has a line with text at least n times. @return 0, or -1 */
static int
wait_log(const struct nxt_wd *wd, const char *text, int n)
{
	const uint64_t t0 = mono_ns();

	while (nxt_log_count(wd->log, text) < n)
		if (mono_ns() - t0 > nxt_patience_ns())
			return -1;
		else
			usleep(2000);
	return 0;
}

/* The pid in the last "standby nxd (pid N) ready" line. */
static pid_t
standby_pid(const struct nxt_wd *wd)
{
	char line[512];
	pid_t pid = -1;
	FILE *f = fopen(wd->log, "r");

	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		int p;

		if (sscanf(line, "nxwd: standby nxd (pid %d) ready", &p) == 1)
			pid = p;
	}
	fclose(f);
	return pid;
}

static void
echo_once(const char *inst)
{
	char out[16];
	uint32_t len = 0;
	struct nx_client *c;

	assert_int_equal(nxt_open(&c, inst), 0);
	assert_int_equal(nx_call(c, (uint16_t)nx_pipeline_id(c, "echo"), "sb", 2, out, sizeof out,
				 &len, nxt_patience_ns()), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(out, "sb", 2);
	nx_close(c);
}

/*
 * Once nxd serves, nxwd starts a standby nxd (loaded, placement planned,
 * waiting): a kill makes that one the next generation, and nxwd starts
 * another. A standby that dies is replaced; the serving nxd never notices.
 */
static void
test_standby_takes_over_a_restart_and_is_replaced(void **state)
{
	/* stalls are not under test: a preempted worker must not be aborted */
	const char *wd_args[] = { "--restart-min", "0", "--stall-ms", "0", NULL };
	struct nxt_wd wd;
	struct nxt_hdr h, h2;
	char inst[64], says[96];
	pid_t sb, sb2;

	(void)state;
	nxt_instance(inst, sizeof inst, "standby");
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, NULL) > 0);
	if (nxt_wait_serving(inst, 1, nxt_patience_ns(), &h) < 0 ||
	    wait_log(&wd, ") ready", 1) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("no nxd serving with a standby ready");
	}
	sb = standby_pid(&wd);
	assert_true(sb > 0 && sb != h.pid);
	echo_once(inst);

	/* the kill: the standby takes over */
	assert_int_equal(kill(h.pid, SIGKILL), 0);
	if (nxt_wait_serving(inst, h.generation + 1, nxt_patience_ns(), &h2) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("no restart");
	}
	assert_int_equal(h2.pid, sb);
	snprintf(says, sizeof says, "killed by signal 9; restart 1, as generation %llu, by the "
		 "standby (pid %d)", (unsigned long long)(h.generation + 1), (int)sb);
	assert_int_equal(nxt_log_count(wd.log, says), 1);
	echo_once(inst);

	/* a new standby; killed, it is replaced, and the active one carries on */
	if (wait_log(&wd, ") ready", 2) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("no second standby");
	}
	sb2 = standby_pid(&wd);
	assert_true(sb2 > 0 && sb2 != sb);
	assert_int_equal(kill(sb2, SIGKILL), 0);
	snprintf(says, sizeof says, "standby nxd (pid %d) killed by signal 9; another in 1 s",
		 (int)sb2);
	if (wait_log(&wd, says, 1) < 0 || wait_log(&wd, ") ready", 3) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("the dead standby was not replaced");
	}
	assert_int_equal(nxt_hdr_read(inst, &h), 0);
	assert_int_equal(h.pid, sb);
	assert_int_equal(h.generation, h2.generation);
	echo_once(inst);

	/* stopping nxwd stops the standby too */
	sb2 = standby_pid(&wd);
	assert_int_equal(nxt_wd_stop(&wd), 0);
	assert_true(kill(sb2, 0) < 0 && errno == ESRCH);
	assert_true(nxt_segments_gone(inst));
}

/* nxwd's main thread waits in poll(): between two ticks, not in one. */
static bool
nxwd_between_ticks(pid_t pid)
{
	char path[64], buf[128];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof buf, f) != NULL)
		nr = strtol(buf, NULL, 10); /* "running" reads as 0: read(2), never poll */
	fclose(f);
	return nr == SYS_poll || nr == SYS_ppoll;
}

/* --no-standby: one nxd only, and a restart starts one cold. */
static void
test_no_standby_restarts_cold(void **state)
{
	const char *wd_args[] = { "--restart-min", "0", "--no-standby", "--stall-ms", "0", NULL };
	struct nxt_wd wd;
	struct nxt_hdr h, h2;
	char inst[64];
	pid_t kids[4];

	(void)state;
	nxt_instance(inst, sizeof inst, "cold");
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, NULL) > 0);
	if (nxt_wait_serving(inst, 1, nxt_patience_ns(), &h) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("nxd under nxwd never served");
	}
	assert_int_equal(kill(h.pid, SIGKILL), 0);
	if (nxt_wait_serving(inst, h.generation + 1, nxt_patience_ns(), &h2) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("no restart");
	}
	/* nxwd starts a standby in the tick in which it finds nxd serving (the
	 * one that logs it): once that tick is over, nxd is its only child */
	if (wait_log(&wd, "serves generation 2", 1) < 0) {
		nxt_wd_dump_log(&wd);
		fail_msg("nxwd never said the restarted nxd serves");
	}
	assert_true(NXT_WAIT_UNTIL(nxwd_between_ticks(wd.pid), nxt_patience_ns()));
	assert_int_equal(nxt_children(wd.pid, kids, 4), 1);
	assert_int_equal(kids[0], h2.pid);
	echo_once(inst);
	assert_int_equal(nxt_log_count(wd.log, "standby"), 0);
	assert_int_equal(nxt_wd_stop(&wd), 0);
	assert_true(nxt_segments_gone(inst));
}

/* ---- 4. recovery code: a restart interrupted, a restart that fails ---- */

static uint64_t
worker_age(const char *instance)
{
	uint64_t ages[8], gen;
	unsigned n = 0;
	int32_t pid;
	struct nx_hr *r;

	assert_int_equal(nx__hr_open(&r, instance, NULL), 0);
	if (nx__hr_heartbeats(r, ages, 8, &n, &gen, &pid) < 0)
		n = 0;
	nx__hr_close(r);
	return n != 0 ? ages[0] : 0;
}

/* CPU time a thread has used so far (ns): schedstat, else utime + stime. */
static uint64_t
thread_cpu_ns(pid_t pid, pid_t tid)
{
	char path[96], buf[1024], *paren;
	unsigned long long ns = 0, ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	f = fopen(path, "r");
	if (f != NULL) {
		int got = fscanf(f, "%llu", &ns);

		fclose(f);
		if (got == 1)
			return ns;
	}
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) != NULL && (paren = strrchr(buf, ')')) != NULL)
		sscanf(paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
	fclose(f);
	return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * Wait until nxd's only worker is stuck in a request. A heartbeat that is
 * merely old says nothing (a preempted worker's is old too): stuck is a
 * heartbeat at least 200 ms old while the worker thread ran 100 ms on a
 * CPU since it last moved. A worker in its loop beats every 1 ms of its
 * running; only a stage that never returns runs without beating.
 */
static void
wait_worker_stuck(const char *instance, pid_t nxd_pid)
{
	const pid_t tid = nxt_find_thread(nxd_pid, "nx-worker-0");
	const uint64_t t0 = mono_ns();
	struct nx_health_view hv;
	uint64_t hb0, cpu0;

	assert_true(tid > 0);
	assert_int_equal(nx__health_map_ro(&hv, instance), 0);
	hb0 = nx__load64(&hv.workers[0].heartbeat_ns);
	cpu0 = thread_cpu_ns(nxd_pid, tid);
	for (;;) {
		uint64_t hb = nx__load64(&hv.workers[0].heartbeat_ns), cpu = thread_cpu_ns(nxd_pid, tid);

		if (hb != hb0) {
			hb0 = hb;
			cpu0 = cpu;
		} else if (cpu - cpu0 >= 100 * MS && nx_now_ns() - hb >= 200 * MS) {
			break;
		}
		if (mono_ns() - t0 > nxt_patience_ns()) {
			nx__health_unmap(&hv);
			fail_msg("the worker never got stuck (heartbeat %llu ms old, %llu ms on a CPU "
				 "since)", (unsigned long long)((nx_now_ns() - hb) / MS),
				 (unsigned long long)((cpu - cpu0) / MS));
		}
		usleep(2000);
	}
	nx__health_unmap(&hv);
}

/* Poll until one completion comes (bounded). @return 1, or 0 */
static int
poll_one(struct nx_client *c, struct nx_completion *comp, uint64_t timeout_ns)
{
	const uint64_t t0 = mono_ns();
	int n;

	while ((n = nx_poll(c, comp, 1)) == 0 && mono_ns() - t0 < timeout_ns)
		usleep(200);
	return n;
}

/*
 * A worker stuck in a stage holds no grace period on the control thread:
 * clients attach and detach (each a new channel set for the worker, the
 * old one freed after a grace period) and nxctl answers while it spins.
 */
static void
test_stuck_worker_does_not_hold_the_control_thread(void **state)
{
	char inst[64], conf[128], out[16];
	const char *args[] = { "--config", conf, NULL };
	struct nx_req spin = { .in = "spin", .in_len = 4, .out = out, .out_cap = sizeof out };
	struct nx_client *a, *b;
	struct nxt_nxd d;
	char *text = NULL;
	int i, pipe;

	(void)state;
	nxt_instance(inst, sizeof inst, "stuck");
	nxt_tmpfile(conf, sizeof conf, "stuck.conf");
	write_conf(conf, "spin", "spin");
	assert_int_equal(nxt_nxd_start(&d, inst, args), 0);
	assert_int_equal(nxt_open(&a, inst), 0);
	pipe = nx_pipeline_id(a, "spin");
	assert_true(pipe >= 0);
	spin.pipeline = (uint16_t)pipe;
	assert_int_equal(nx_submit(a, &spin), 0);
	wait_worker_stuck(inst, d.pid);
	for (i = 0; i < 5; i++) {
		assert_int_equal(nxt_open(&b, inst), 0);
		nx_close(b);
	}
	assert_int_equal(nxt_ctl(inst, &text, 0, "list", NULL), 0);
	assert_non_null(strstr(text, "spin"));
	free(text);
	assert_true(worker_age(inst) > 50 * MS); /* it spun all along */
	nxt_nxd_kill(&d);
	nx_close(a);
	nxt_cleanup(inst);
	unlink(conf);
}

/*
 * nxd 2 takes a channel back while its worker is busy elsewhere, and dies
 * before it replays what nxd 1 had taken: nxd 3 must still refuse that
 * request (not idempotent, it ran in nxd 1), not run it again. The spin
 * stage shows a second run: the worker would stall again.
 */
static void
test_restart_during_replay_does_not_run_a_request_twice(void **state)
{
	char inst[64], conf[128], out[16];
	const char *args[] = { "--config", conf, NULL };
	struct nx_req spin = { .in = "spin", .in_len = 4, .out = out, .out_cap = sizeof out };
	struct nx_completion comp;
	struct nx_client *a, *b;
	struct nxt_nxd d;
	uint32_t len;
	int pipe;

	(void)state;
	nxt_instance(inst, sizeof inst, "replay");
	nxt_tmpfile(conf, sizeof conf, "replay.conf");
	write_conf(conf, "spin", "spin");

	/* nxd 1 runs A's request, which never ends */
	assert_int_equal(nxt_nxd_start(&d, inst, args), 0);
	assert_int_equal(nxt_open(&a, inst), 0);
	pipe = nx_pipeline_id(a, "spin");
	assert_true(pipe >= 0);
	spin.pipeline = (uint16_t)pipe;
	spin.user_data = 1;
	assert_int_equal(nx_submit(a, &spin), 0);
	wait_worker_stuck(inst, d.pid);
	nxt_nxd_kill(&d);

	/* nxd 2: B's request keeps its worker busy while A takes its channel back */
	assert_int_equal(nxt_nxd_start(&d, inst, args), 0);
	assert_int_equal(nxt_open(&b, inst), 0);
	spin.user_data = 2;
	assert_int_equal(nx_submit(b, &spin), 0);
	wait_worker_stuck(inst, d.pid);
	{
		const uint64_t t0 = mono_ns();

		while (nx_generation(a) != 2 && mono_ns() - t0 < nxt_patience_ns())
			assert_int_equal(nx_poll(a, &comp, 1), 0);
		assert_int_equal(nx_generation(a), 2);
	}
	nxt_nxd_kill(&d);

	/* nxd 3: both requests were taken by a dead nxd: refused, not run again */
	assert_int_equal(nxt_nxd_start(&d, inst, args), 0);
	if (poll_one(a, &comp, nxt_patience_ns()) != 1)
		fail_msg("A's request never completed: nxd 3 ran it again (worker heartbeat %llu ms old)",
			 (unsigned long long)(worker_age(inst) / MS));
	assert_int_equal(comp.user_data, 1);
	assert_int_equal(comp.status, NX_ERESTARTED);
	assert_int_equal(poll_one(b, &comp, nxt_patience_ns()), 1);
	assert_int_equal(comp.user_data, 2);
	assert_int_equal(comp.status, NX_ERESTARTED);
	assert_int_equal(nx_call(a, (uint16_t)pipe, "ok", 2, out, sizeof out, &len,
				 nxt_patience_ns()), 0);
	assert_int_equal(nx_call(b, (uint16_t)pipe, "ok", 2, out, sizeof out, &len,
				 nxt_patience_ns()), 0);
	nx_close(a);
	nx_close(b);
	assert_int_equal(nxt_nxd_stop(&d), 0);
	unlink(conf);
}

/* The channel this process's client mapped: found by its memfd's name in
 * our own maps, and checked by its magic. */
static struct nx_chan_hdr *
own_channel(void)
{
	struct nx_chan_hdr *h = NULL;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	while (f != NULL && h == NULL && fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, hi, off;

		if (strstr(line, "nx-channel") != NULL &&
		    sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && off == 0 &&
		    ((struct nx_chan_hdr *)lo)->magic == NX_CHAN_MAGIC)
			h = (struct nx_chan_hdr *)lo;
	}
	if (f != NULL)
		fclose(f);
	return h;
}

/*
 * nxd killed between an answer's seq and its index (the seq is written
 * first, and the client takes the answer by it): the client has its
 * answer, the response index does not count it. The next nxd must count
 * it answered, not run it again: run again, this idempotent request's
 * output (in the arena) would land on the input of the request the client
 * wrote there since, which would then be answered from corrupt input.
 * The kill's window is made by hand: a clean kill, then the index put back
 * by one, as the dead nxd would have left it.
 */
static void
test_an_answer_taken_before_its_index_is_not_run_again(void **state)
{
	uint8_t in1[100], out1[300], in2[400], out2[400];
	struct nx_req r1 = { .in = in1, .in_len = sizeof in1, .out = out1, .out_cap = sizeof out1,
			     .flags = NX_REQ_IDEMPOTENT, .user_data = 1 };
	struct nx_req r2 = { .in = in2, .in_len = sizeof in2, .out = out2, .out_cap = sizeof out2,
			     .flags = NX_REQ_IDEMPOTENT, .user_data = 2 };
	struct nx_completion comp;
	struct nx_ring_hdr *resp;
	struct nx_chan_hdr *h;
	struct nx_client *c;
	struct nxt_nxd d;
	char inst[64];
	int echo;
	unsigned i;

	(void)state;
	nxt_instance(inst, sizeof inst, "ahead");
	for (i = 0; i < sizeof in1; i++)
		in1[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof in2; i++)
		in2[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(nxt_nxd_start(&d, inst, NULL), 0);
	assert_int_equal(nxt_open(&c, inst), 0);
	echo = nx_pipeline_id(c, "echo");
	assert_true(echo >= 0);
	r1.pipeline = r2.pipeline = (uint16_t)echo;
	assert_int_equal(nx_submit(c, &r1), 0);
	assert_int_equal(poll_one(c, &comp, nxt_patience_ns()), 1);
	assert_int_equal(comp.status, 0);

	/* The client took the answer by its seq, which nxd writes before the
	 * index: wait for the index too, so that the kill is a clean one and
	 * the window below is the only one. */
	h = own_channel();
	assert_non_null(h);
	resp = (struct nx_ring_hdr *)(void *)((uint8_t *)h + h->resp_ctl_off);
	assert_true(NXT_WAIT_UNTIL(__atomic_load_n(&resp->p_tail, __ATOMIC_ACQUIRE) == 1,
				   nxt_patience_ns()));
	nxt_nxd_kill(&d);
	assert_int_equal(resp->c_head, 1); /* the client has taken answer 0 */
	resp->p_tail = 0;                  /* as if nxd died before counting it */

	/* the next request goes where the first one's was in the arena */
	assert_int_equal(nx_submit(c, &r2), 0);
	assert_int_equal(nxt_nxd_start(&d, inst, NULL), 0);
	assert_int_equal(poll_one(c, &comp, nxt_patience_ns()), 1);
	assert_int_equal(comp.user_data, 2);
	assert_int_equal(comp.status, 0);
	assert_int_equal(comp.out_len, sizeof in2);
	assert_memory_equal(out2, in2, sizeof in2);
	nx_close(c);
	assert_int_equal(nxt_nxd_stop(&d), 0);
}

/*
 * An nxd restarted on a segment its predecessor left, that fails to start
 * (exit 1): the segment must stay, and say nothing about a clean stop, so
 * that the next nxd still finds the clients, and they it.
 */
static void
test_failed_restart_keeps_the_clients_for_the_next(void **state)
{
	const char *wd_args[] = { "--restart-min", "50", "--restart-max", "100", "--max-restarts",
				  "0", "--stall-ms", "0", NULL };
	char inst[64], conf[128], marker[128], out[16];
	const char *nxd_args[] = { "--config", conf, NULL };
	struct nx_health_restart log[NX_RESTART_LOG];
	struct nx_completion comp;
	struct nx_client *c;
	struct nxt_wd wd;
	struct nxt_hdr h;
	uint64_t t0, total;
	unsigned nlog;
	FILE *f;
	int pipe;

	(void)state;
	nxt_instance(inst, sizeof inst, "failstart");
	nxt_tmpfile(conf, sizeof conf, "failstart.conf");
	nxt_tmpfile(marker, sizeof marker, "failstart.broken");
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[pipeline.echo2]\ngraph = s\ns.stage = failif\ns.plugin = %s\ns.file = %s\n",
		nxt_plugin_path("spin"), marker);
	fclose(f);
	assert_true(nxt_wd_spawn(&wd, inst, wd_args, nxd_args) > 0);
	assert_int_equal(nxt_wait_serving(inst, 1, nxt_patience_ns(), &h), 0);
	assert_int_equal(nxt_open(&c, inst), 0);
	pipe = nx_pipeline_id(c, "echo2");
	assert_true(pipe >= 0);

	/* break the next start, kill nxd, send while it is down */
	f = fopen(marker, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(kill(h.pid, SIGKILL), 0);
	{
		struct nx_req r = { .in = "later", .in_len = 5, .out = out, .out_cap = sizeof out,
				    .user_data = 9, .pipeline = (uint16_t)pipe };

		assert_int_equal(nx_submit(c, &r), 0);
	}
	t0 = mono_ns();
	while (nxt_log_count(wd.log, "exited with status 1; restart") < 1)
		if (mono_ns() - t0 > nxt_patience_ns()) {
			nxt_wd_dump_log(&wd);
			fail_msg("the broken start never failed");
		} else {
			assert_int_equal(nx_poll(c, &comp, 1), 0);
			usleep(1000);
		}
	unlink(marker);
	/* the next start serves, and the request sent meanwhile is answered */
	if (poll_one(c, &comp, nxt_patience_ns()) != 1) {
		nxt_wd_dump_log(&wd);
		fail_msg("the request sent while nxd was down never completed");
	}
	assert_int_equal(comp.user_data, 9);
	assert_int_equal(comp.status, 0);
	assert_int_equal(comp.out_len, 5);
	assert_memory_equal(out, "later", 5);
	nlog = restart_log(inst, log, NX_RESTART_LOG, &total);
	assert_true(total >= 2);
	assert_int_equal(nlog, total);
	assert_string_equal(log[0].reason, "killed by signal 9");
	assert_string_equal(log[1].reason, "exited with status 1");
	assert_int_equal(nx_generation(c), log[nlog - 1].generation);
	nx_close(c);
	assert_int_equal(nxt_wd_stop(&wd), 0);
	assert_true(nxt_segments_gone(inst));
	unlink(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* each test's teardown kills what it started, whatever happened */
		cmocka_unit_test_teardown(test_nxwd_refuses_bad_options_and_documents_every_one,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_nxd_usage_error_is_not_restarted, nxt_teardown),
		cmocka_unit_test_teardown(test_crash_loop_stops_nxwd_after_the_fourth_start, nxt_teardown),
		cmocka_unit_test_teardown(test_stalled_worker_is_aborted_and_nxd_restarted, nxt_teardown),
		cmocka_unit_test_teardown(test_standby_takes_over_a_restart_and_is_replaced, nxt_teardown),
		cmocka_unit_test_teardown(test_no_standby_restarts_cold, nxt_teardown),
		cmocka_unit_test_teardown(test_stuck_worker_does_not_hold_the_control_thread, nxt_teardown),
		cmocka_unit_test_teardown(test_restart_during_replay_does_not_run_a_request_twice,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_an_answer_taken_before_its_index_is_not_run_again,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_failed_restart_keeps_the_clients_for_the_next, nxt_teardown),
		cmocka_unit_test_teardown(test_kill9_at_random_moments_loses_and_duplicates_nothing,
					  nxt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
