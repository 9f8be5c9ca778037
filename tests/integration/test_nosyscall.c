/*
 * The data path makes no allocation and no system call in busy-poll mode,
 * proved on a real nxd and a real client: nxd's worker thread and the
 * client process are traced with ptrace (every system call entry stops
 * them and is counted) and the worker's allocations are counted by an
 * interposed malloc, while the client sends 100,000 requests (inline,
 * extension and arena payloads).
 * Each counter is first shown to see what it is meant to see, on the
 * control thread, which does make system calls and allocate on attach.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nx/nx.h>

#include "harness/harness.h"
#include "shm/shm_internal.h"

#define N_REQUESTS 100000

#include "tests/preload/alloccount.h"

static struct nx_alloccount_table *table;
static char table_name[64];
static struct nxt_nxd nxd = { .pid = -1 };
static char conf_path[128];
static char inst_name[64];

static uint64_t
allocs_of(pid_t tid)
{
	uint32_t i, n;

	if (table == NULL)
		return 0;
	n = __atomic_load_n(&table->nrows, __ATOMIC_ACQUIRE);
	for (i = 0; i < n && i < NX_ALLOCCOUNT_ROWS; i++)
		if (__atomic_load_n(&table->rows[i].tid, __ATOMIC_ACQUIRE) == tid)
			return __atomic_load_n(&table->rows[i].count, __ATOMIC_RELAXED);
	return 0; /* never allocated */
}

/* ---- a system call counter on one thread ---- */

struct tracer {
	pid_t tid;
	long syscalls;
	long runtime_maps;  /* mmap/munmap/madvise: under TSan, its runtime's own */
	long first[8];
	int in_syscall;
};

static int
trace_begin(struct tracer *t, pid_t tid)
{
	int st;

	memset(t, 0, sizeof *t);
	t->tid = tid;
	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) != 0)
		return -1000 - errno;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
		return -2000 - errno;
	if (waitpid(tid, &st, __WALL) != tid)
		return -3000 - errno;
	return ptrace(PTRACE_SYSCALL, tid, 0, 0) == 0 ? 0 : -4000 - errno;
}

/* One stop of the traced thread. @return the signal to pass on */
static int
on_stop(struct tracer *t, int st)
{
	if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
		if (!t->in_syscall) {
			struct user_regs_struct regs;

			if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) == 0) {
				long nr = (long)regs.orig_rax;

				if (nr == SYS_mmap || nr == SYS_munmap || nr == SYS_madvise)
					t->runtime_maps++;
				if (t->syscalls < 8)
					t->first[t->syscalls] = nr;
			}
			t->syscalls++; /* entries only: each call stops at entry and exit */
		}
		t->in_syscall = !t->in_syscall;
		return 0;
	}
	if (WIFSTOPPED(st) && (st >> 16) == 0)
		return WSTOPSIG(st); /* a real signal: pass it on */
	return 0;
}

static void
trace_poll(struct tracer *t)
{
	int st;

	while (waitpid(t->tid, &st, __WALL | WNOHANG) == t->tid)
		ptrace(PTRACE_SYSCALL, t->tid, 0, on_stop(t, st));
}

static void
trace_end(struct tracer *t)
{
	int st, sig = 0;

	trace_poll(t);
	if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) == 0 && waitpid(t->tid, &st, __WALL) == t->tid)
		sig = on_stop(t, st);
	ptrace(PTRACE_DETACH, t->tid, 0, sig);
}

/* ---- the client ---- */

/* Flags in shared memory: inside the measured window neither side may make
 * a system call, not even to say it is done. */
struct flags {
	uint32_t ready; /* client: attached */
	uint32_t go;    /* test: traced, start */
	uint32_t done;  /* client: all answered (or failed: 2) */
	uint32_t exit;  /* test: untraced, you may exit */
};

static void
spin_until(const uint32_t *w, uint32_t v)
{
	uint64_t spins = 0;

	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < v && ++spins < (1ull << 36))
		__builtin_ia32_pause();
}

static int
client(const char *inst, struct flags *fl)
{
	static uint8_t in[2048], out[2048];
	struct nx_completion comps[32];
	struct nx_client *c;
	uint64_t sent = 0, done = 0;
	int echo, sum, graph, guarded, rc, result = 0;

	if (nxt_open(&c, inst) < 0)
		return 10;
	echo = nx_pipeline_id(c, "echo");
	sum = nx_pipeline_id(c, "checksum");
	graph = nx_pipeline_id(c, "graph");
	guarded = nx_pipeline_id(c, "guarded");
	if (graph < 0 || guarded < 0)
		return 14;
	memset(in, 0x5a, sizeof in);
	__atomic_store_n(&fl->ready, 1, __ATOMIC_RELEASE);
	spin_until(&fl->go, 1);
	while (done < N_REQUESTS && result == 0) {
		while (sent < N_REQUESTS && sent - done < 16) {
			/* a third inline, a third in the extension, a third in the arena;
			 * echo, checksum, and a graph of every node kind in turn */
			uint32_t len = sent % 3 == 0 ? 40 : sent % 3 == 1 ? 150 : 1000;
			int pipe = sent % 4 == 3 ? graph : sent % 4 == 2 ? guarded : (sent & 1) ? sum : echo;
			/* the guarded slot's requests carry a deadline (none a loaded
			 * machine could reach: an expired request would fail the run) */
			struct nx_req r = { .in = in, .in_len = len, .out = out,
					    .out_cap = pipe == sum ? 4 : 2048, .user_data = sent,
					    .pipeline = (uint16_t)pipe,
					    .deadline_ns = pipe == guarded ? nx_now_ns() + nxt_patience_ns() : 0 };

			if (nx_submit(c, &r) != 0)
				break;
			sent++;
		}
		/* nx_wait spins (reading the vDSO clock) until answers come; no
		 * answer for this long means the worker stopped */
		rc = nx_wait(c, comps, 32, nxt_patience_ns());
		if (rc < 0)
			result = 11;
		for (int i = 0; i < rc; i++, done++)
			if (comps[i].status != 0 || comps[i].user_data != done)
				result = 12;
	}
	__atomic_store_n(&fl->done, result == 0 ? 1 : 2, __ATOMIC_RELEASE);
	spin_until(&fl->exit, 1);
	nx_close(c);
	return result;
}

/* Wait for a flag, resuming the traced threads' stops meanwhile. */
static bool
wait_flag(const uint32_t *w, uint32_t v, uint64_t timeout_ns, struct tracer *t1, struct tracer *t2)
{
	uint64_t t0 = nx_now_ns();

	while (nx_now_ns() - t0 < timeout_ns) {
		if (t1 != NULL)
			trace_poll(t1);
		if (t2 != NULL)
			trace_poll(t2);
		if (__atomic_load_n(w, __ATOMIC_ACQUIRE) >= v)
			return true;
		usleep(200);
	}
	return false;
}

/* want channels attached, every other free, the worker serving exactly
 * those, and no grace period pending (nothing retired waits, the worker
 * is asked for no quiescent state): nothing left for nxd to do that would
 * make the worker leave its loop. */
static bool
steady(const struct nx_health_view *hv, unsigned want)
{
	unsigned i, used = 0;

	for (i = 0; i < hv->max_channels; i++)
		used += nx__load32(&hv->chans[i].state) != NX_CHAN_FREE;
	return used == want && nx__load32(&hv->workers[0].nchannels) == want &&
	       nx__load32(&hv->hdr->grace_requested) == nx__load32(&hv->hdr->grace_completed);
}

static bool
wait_steady(const char *inst, unsigned want)
{
	struct nx_health_view hv;
	bool ok;

	if (nx__health_map_ro(&hv, inst) != 0)
		return false;
	ok = NXT_WAIT_UNTIL(steady(&hv, want), nxt_patience_ns());
	nx__health_unmap(&hv);
	return ok;
}

/* As wait_steady, resuming a traced thread's stops meanwhile. */
static bool
wait_steady_traced(const char *inst, unsigned want, struct tracer *t)
{
	struct nx_health_view hv;
	bool ok;

	if (nx__health_map_ro(&hv, inst) != 0)
		return false;
	ok = NXT_WAIT_UNTIL((trace_poll(t), steady(&hv, want)), nxt_patience_ns());
	nx__health_unmap(&hv);
	return ok;
}

/* clock_gettime stays in the vDSO only on a clocksource it can read from
 * user space; on any other (hpet, acpi_pm) every clock read is a system
 * call, and the client's nx_wait reads the clock. */
static bool
clock_in_vdso(char *name, size_t len)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	snprintf(name, len, "unknown");
	if (f == NULL)
		return true; /* cannot tell: let the test say */
	if (fgets(name, (int)len, f) != NULL)
		name[strcspn(name, "\n")] = '\0';
	fclose(f);
	return strcmp(name, "tsc") == 0 || strcmp(name, "kvm-clock") == 0;
}

static uint64_t
answered(const char *inst)
{
	struct nx_health_view hv;
	uint64_t a;

	if (nx__health_map_ro(&hv, inst) != 0)
		return 0;
	a = nx__load64(&hv.workers[0].answered);
	nx__health_unmap(&hv);
	return a;
}

/*
 * Wait until the client says done, resuming the traced threads' stops
 * meanwhile, as long as the worker makes progress: a watchdog on the
 * answers, not a budget on the run (a loaded machine runs it slower).
 */
static bool
wait_done(const struct flags *fl, const char *inst, struct tracer *t1, struct tracer *t2)
{
	uint64_t seen = 0, t_moved = nx_now_ns();

	for (;;) {
		uint64_t a;

		if (wait_flag(&fl->done, 1, 100000000ull, t1, t2))
			return true;
		a = answered(inst);
		if (a != seen) {
			seen = a;
			t_moved = nx_now_ns();
		} else if (nx_now_ns() - t_moved > nxt_patience_ns()) {
			return false;
		}
	}
}

static void
test_worker_and_client_make_no_syscall_and_worker_no_allocation(void **state)
{
	bool count_allocs = !nxt_sanitized();
	struct nxt_nxd *dp = &nxd, d;
	struct tracer t, tc;
	struct flags *fl;
	char preload[512];
	int fd;
	pid_t worker, pid;
	uint64_t a0, a1, m0, m1;

	(void)state;
	{
		char cs[64];

		if (!clock_in_vdso(cs, sizeof cs)) {
			print_message("skipped: clocksource %s is not read in the vDSO (tsc, kvm-clock): "
				      "every clock read is a system call\n", cs);
			return;
		}
	}
	nxt_instance(inst_name, sizeof inst_name, "nosys");
	const char *inst = inst_name;
	if (count_allocs) {
		/* unique to this run, and none left by a run that was killed */
		snprintf(table_name, sizeof table_name, "/nxt-alloc-%d-%s", (int)getpid(), nxt_nonce());
		shm_unlink(table_name);
		fd = shm_open(table_name, O_RDWR | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, sizeof *table), 0);
		table = mmap(NULL, sizeof *table, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		assert_true(table != MAP_FAILED);
		snprintf(preload, sizeof preload, "%s/preload/alloccount.so",
			 getenv("NX_TESTS") ? getenv("NX_TESTS") : "build/tests");
		setenv("NX_ALLOCCOUNT", table_name, 1);
		setenv("LD_PRELOAD", preload, 1);
	} else {
		print_message("sanitizer build: its own malloc replaces the counting one; "
			      "counting system calls only\n");
	}
	{
		FILE *cf;

		nxt_tmpfile(conf_path, sizeof conf_path, "nosys.ini");
		cf = fopen(conf_path, "w");
		assert_non_null(cf);
		/* every node kind, every request timed: the slow path of the data
		 * path; every policy on: a rate limit on the channel, a slot with
		 * breaker, budget, cache and fault containment */
		fprintf(cf, "[nxd]\nstage-timing = 1\nrate-limit = 1000000000\nrate-burst = 1000000000\n"
			    "[pipeline.guarded]\ngraph = g\ng.stage = echo\ng.breaker = time\n"
			    "g.breaker-window = 10\ng.breaker-min-calls = 5\ng.breaker-slow-us = 100\n"
			    "g.breaker-slow-pct = 100\ng.budget-us = 1000\ng.degraded = cache\n"
			    "g.cache-bytes = 2048\ng.contain-faults = on\n"
			    "[pipeline.graph]\n"
			    "graph = seq(noop, route, fan, ab, turns)\n"
			    "route = branch(t1, t2; by: pick)\nfan = fanout(echo, checksum; merge: cat)\n"
			    "ab = split(t1 1, t2 1; key: request)\nturns = rr(t1, noop)\n"
			    "t1.stage = tag\nt1.text = a\nt2.stage = tag\nt2.text = b\n"
			    "cat.stage = concat\n");
		fclose(cf);
	}
	assert_int_equal(nxt_nxd_start(dp, inst, (const char *const[]){ "--config", conf_path, NULL }),
			 0);
	d = *dp;
	unsetenv("LD_PRELOAD");
	unsetenv("NX_ALLOCCOUNT");
	worker = nxt_find_thread(d.pid, "nx-worker-0");
	assert_true(worker > 0);

	/* The counters see what they should: the control thread makes system
	 * calls and allocates when a client attaches and detaches. */
	{
		uint64_t c0 = allocs_of(d.pid);
		int st = -1;

		assert_int_equal(trace_begin(&t, d.pid), 0);
		pid = nxt_fork();
		if (pid == 0) {
			struct nx_client *c;

			if (nxt_open(&c, inst) < 0)
				_exit(1);
			nx_close(c);
			_exit(0);
		}
		/* the traced thread stops at every system call: keep resuming it */
		NXT_WAIT_UNTIL((trace_poll(&t), waitpid(pid, &st, WNOHANG) == pid), nxt_patience_ns());
		/* and through the detach that follows the close: until the
		 * channel is released (after a grace period) */
		assert_true(wait_steady_traced(inst, 0, &t));
		trace_end(&t);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_true(t.syscalls > 5);
		if (count_allocs)
			assert_true(allocs_of(d.pid) > c0);
	}

	fl = mmap(NULL, sizeof *fl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(fl != MAP_FAILED);
	memset(fl, 0, sizeof *fl);
	pid = nxt_fork();
	if (pid == 0)
		_exit(client(inst, fl));
	assert_true(wait_flag(&fl->ready, 1, nxt_patience_ns(), NULL, NULL));
	assert_true(wait_steady(inst, 1));

	m0 = allocs_of(worker);
	a0 = answered(inst);
	assert_int_equal(trace_begin(&t, worker), 0);
	assert_int_equal(trace_begin(&tc, pid), 0);
	__atomic_store_n(&fl->go, 1, __ATOMIC_RELEASE);
	/* no budget on the run: the client gives up when no answer comes for
	 * nxt_patience_ns() (then done is 2) */
	assert_true(wait_done(fl, inst, &t, &tc));
	trace_end(&t);
	trace_end(&tc);
	__atomic_store_n(&fl->exit, 1, __ATOMIC_RELEASE);
	m1 = allocs_of(worker);
	/* the worker publishes answered after the burst's seqs, so the
	 * client can have every answer before the count says so */
	NXT_WAIT_UNTIL((a1 = answered(inst)) >= a0 && a1 - a0 >= N_REQUESTS, nxt_patience_ns());
	assert_true(a1 >= a0); /* answered() is 0 when it cannot map the counters */
	assert_int_equal(nxt_wait(pid, nxt_patience_ns()), 0);
	munmap(fl, sizeof *fl);

	print_message("worker tid %d: %llu requests answered, %ld system calls, %llu allocations; "
		      "client: %ld system calls\n", (int)worker, (unsigned long long)(a1 - a0),
		      t.syscalls, (unsigned long long)(m1 - m0), tc.syscalls);
	if (t.syscalls != 0)
		print_message("worker's first system calls: %ld %ld %ld %ld\n", t.first[0], t.first[1],
			      t.first[2], t.first[3]);
	if (tc.syscalls != 0)
		print_message("client's first system calls: %ld %ld %ld %ld\n", tc.first[0],
			      tc.first[1], tc.first[2], tc.first[3]);
	assert_true(a1 - a0 >= N_REQUESTS);
	/* TSan's runtime maps memory for its bookkeeping of atomics it first
	 * sees (the slot policies' words): that, and only that, is allowed */
	if (getenv("NX_SAN") != NULL && strcmp(getenv("NX_SAN"), "tsan") == 0)
		t.syscalls -= t.runtime_maps;
	assert_int_equal(t.syscalls, 0);
	assert_int_equal(tc.syscalls, 0);
	assert_int_equal(m1 - m0, 0);

	assert_int_equal(nxt_nxd_stop(dp), 0);
}

/* Runs whether the test passed or not: nothing outlives it. */
static int
teardown(void **state)
{
	(void)state;
	unsetenv("LD_PRELOAD");
	if (nxd.pid > 0)
		nxt_nxd_kill(&nxd);
	if (conf_path[0] != '\0')
		unlink(conf_path);
	nxt_cleanup(inst_name);
	if (table != NULL) {
		munmap(table, sizeof *table);
		shm_unlink(table_name);
		table = NULL;
	}
	nxt_reap();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_worker_and_client_make_no_syscall_and_worker_no_allocation,
					  teardown),
	};

	return cmocka_run_group_tests_name("nosyscall", tests, NULL, NULL);
}
