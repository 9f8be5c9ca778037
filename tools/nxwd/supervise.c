/*
 * nxwd's supervision loop: one nxd at a time, watched through a pidfd
 * (its death wakes us at once) and through the health segment (worker
 * heartbeats, read-only, polled every tick).
 *
 *   start ──▶ running ──(serves: RUNNING, our pid, a new generation)──▶ serving
 *               │  ▲                                                      │
 *               │  └────────── restart (backoff) ◀── dead ◀───────────────┤
 *               │                                    ▲                    │ heartbeat older
 *               │                                    └─ SIGKILL ◀─ grace ─┤ than --stall-ms:
 *               ▼                                                         ▼ SIGABRT
 *             exit 2 (nxd's usage error), exit 3 (crash loop), exit 0 (SIGTERM to us)
 *
 * What we noticed and when goes to the next nxd in NX_RESTART_* variables
 * (shm/abi/wd.h): it writes them to the restart log in the health segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/nx_platform.h"
#include "core/control/life.h"
#include "platform/base/backoff.h"
#include "platform/base/rand.h"
#include "shm/abi/wd.h"
#include "shm/monitor/health_read.h"

#include "nxwd.h"

#define MS 1000000ull
#define NXWD_STOP_TIMEOUT_NS (10000 * MS) /* SIGTERM to nxd, then SIGKILL after this */
#define NXWD_MAX_WORKERS 1024

struct wd {
	const struct nxwd_opts *o;
	struct nx_hr *hr;
	struct nx_backoff bo;
	struct nx_rand rng;
	int sigfd;
	pid_t pid;              /* the nxd we run, -1 between two */
	int pidfd;
	uint64_t launch_gen;    /* the segment's generation before we started it */
	uint64_t gen;           /* the last generation seen */
	bool serving;
	uint64_t serving_since;
	bool ready_sent;
	uint64_t restarts;
	/* what we noticed about the current nxd */
	bool stalled;
	bool killed;
	uint64_t abort_ns;      /* CLOCK_MONOTONIC when SIGABRT went */
	uint64_t notice_wall_ns;
	char stall_reason[NX_RESTART_REASON_MAX];
	/* stopping on SIGTERM or SIGINT */
	bool stopping;
	uint64_t stop_ns;
	uint64_t last_watchdog_ns;
	/* the standby: an nxd started ahead, planned and pinned, waiting for
	 * our go (the restart's variables) on sb_fd */
	pid_t sb_pid;           /* -1: none */
	int sb_pidfd;
	int sb_fd;
	bool sb_ready;          /* it said so */
	bool sb_off;            /* --no-standby, or its configuration is refused */
	uint64_t sb_next_ns;    /* CLOCK_MONOTONIC: no new standby before */
	/* the life locks (core/control/life.h) and the thread that watches them */
	struct nx_life *life;
	int life_fd;
	pthread_t watcher;
	bool watching;
	uint32_t life_stop;     /* atomic: the watcher ends */
	uint32_t life_done;     /* atomic: the last arming the watcher is through with */
	int32_t died_pid;       /* atomic: whose threads died, */
	uint64_t died_wall_ns;  /* atomic: and when the watcher had them all */
	uint64_t ages[NXWD_MAX_WORKERS];
};

/* What the next nxd is told about the last one. */
struct restart_env {
	char reason[NX_RESTART_REASON_MAX];
	int32_t status;
	uint64_t wall_ns;
	pid_t old_pid;
};

static uint64_t
wd_clock(void *arg)
{
	(void)arg;
	return nx__clock_ns();
}

static uint64_t
wd_random(void *arg)
{
	struct wd *w = arg;

	return nx__rand_next(&w->rng);
}

static pid_t
pidfd_open(pid_t pid)
{
	return (pid_t)syscall(SYS_pidfd_open, pid, 0);
}

static uint64_t
segment_generation(struct wd *w)
{
	unsigned n;
	uint64_t gen = 0;
	int32_t pid;

	if (nx__hr_heartbeats(w->hr, w->ages, NXWD_MAX_WORKERS, &n, &gen, &pid) < 0)
		return 0;
	return gen;
}

/*
 * Start nxd. The child gets our signals back, dies with us (SIGKILL
 * leaves the segments, so that a new nxwd's nxd recovers the clients),
 * and does not inherit systemd's notification socket. An exec failure
 * comes back through a close-on-exec pipe. A standby (sb != NULL) gets
 * one end of a socket pair in NX_STANDBY_FD (shm/abi/wd.h); *sb is the other.
 * @return 0, NXWD_EXIT_USAGE (nxd cannot be run), NXWD_EXIT_ERROR
 */
static int
launch(struct wd *w, const struct restart_env *env, pid_t *pidp, int *pidfdp, int *sb)
{
	const pid_t parent = getpid();
	int pfd[2], sp[2] = { -1, -1 }, err = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "nxwd: pipe: %s\n", strerror(errno));
		return NXWD_EXIT_ERROR;
	}
	if (sb != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		fprintf(stderr, "nxwd: socketpair: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return NXWD_EXIT_ERROR;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "nxwd: fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		if (sb != NULL) {
			close(sp[0]);
			close(sp[1]);
		}
		return NXWD_EXIT_ERROR;
	}
	if (pid == 0) {
		char num[32];
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* nxwd died before the line above */
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		unsetenv(NX_WD_ENV_STANDBY_FD);
		unsetenv(NX_WD_ENV_LIFE_FD);
		if (w->life_fd >= 0 && fcntl(w->life_fd, F_SETFD, 0) == 0) {
			snprintf(num, sizeof num, "%d", w->life_fd);
			setenv(NX_WD_ENV_LIFE_FD, num, 1);
		}
		if (sb != NULL && fcntl(sp[1], F_SETFD, 0) == 0) {
			snprintf(num, sizeof num, "%d", sp[1]);
			setenv(NX_WD_ENV_STANDBY_FD, num, 1);
		}
		if (env != NULL) {
			setenv(NX_WD_ENV_RESTART_REASON, env->reason, 1);
			snprintf(num, sizeof num, "%d", env->status);
			setenv(NX_WD_ENV_RESTART_STATUS, num, 1);
			snprintf(num, sizeof num, "%llu", (unsigned long long)env->wall_ns);
			setenv(NX_WD_ENV_RESTART_WALL_NS, num, 1);
			snprintf(num, sizeof num, "%d", (int)env->old_pid);
			setenv(NX_WD_ENV_RESTART_OLD_PID, num, 1);
		} else {
			unsetenv(NX_WD_ENV_RESTART_REASON);
			unsetenv(NX_WD_ENV_RESTART_STATUS);
			unsetenv(NX_WD_ENV_RESTART_WALL_NS);
			unsetenv(NX_WD_ENV_RESTART_OLD_PID);
		}
		execvp(w->o->argv[0], w->o->argv);
		err = errno;
		if (write(pfd[1], &err, sizeof err) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	if (sb != NULL)
		close(sp[1]);
	do
		got = read(pfd[0], &err, sizeof err);
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	if (got == (ssize_t)sizeof err) {
		waitpid(pid, NULL, 0);
		if (sb != NULL)
			close(sp[0]);
		fprintf(stderr, "nxwd: cannot run '%s': %s\n", w->o->argv[0], strerror(err));
		return NXWD_EXIT_USAGE;
	}
	*pidfdp = pidfd_open(pid);
	if (*pidfdp < 0 && errno != ENOSYS) {
		fprintf(stderr, "nxwd: pidfd_open: %s\n", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (sb != NULL)
			close(sp[0]);
		return NXWD_EXIT_ERROR;
	}
	/* ENOSYS: a kernel before 5.3, or valgrind: SIGCHLD (signalfd) says it instead */
	*pidp = pid;
	if (sb != NULL)
		*sb = sp[0];
	return 0;
}

static void
now_active(struct wd *w)
{
	w->serving = false;
	w->stalled = false;
	w->killed = false;
}

/* Start nxd cold (exec, topology, placement, then the instance). */
static int
spawn(struct wd *w, const struct restart_env *env)
{
	int rc;

	w->launch_gen = segment_generation(w);
	rc = launch(w, env, &w->pid, &w->pidfd, NULL);
	if (rc == 0)
		now_active(w);
	return rc;
}

/* ---- the standby ---- */

static void
standby_gone(struct wd *w)
{
	if (w->sb_pidfd >= 0)
		close(w->sb_pidfd);
	if (w->sb_fd >= 0)
		close(w->sb_fd);
	w->sb_pid = -1;
	w->sb_pidfd = -1;
	w->sb_fd = -1;
	w->sb_ready = false;
}

/* Stop the standby (it holds nothing: SIGKILL) and reap it. */
static void
standby_stop(struct wd *w)
{
	if (w->sb_pid > 0) {
		kill(w->sb_pid, SIGKILL);
		waitpid(w->sb_pid, NULL, 0);
	}
	standby_gone(w);
}

/* The standby died before its go (reaped with status st). */
static void
on_standby_death(struct wd *w, int st)
{
	const pid_t pid = w->sb_pid;

	standby_gone(w);
	if (w->stopping)
		return;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
		/* its configuration is bad: so would a cold start's be, and that
		 * one says so in the restart log and our exit status */
		w->sb_off = true;
		fprintf(stderr, "nxwd: standby nxd (pid %d) refused its configuration (exit 2): "
			"restarts start nxd cold\n", (int)pid);
		return;
	}
	if (WIFSIGNALED(st))
		fprintf(stderr, "nxwd: standby nxd (pid %d) killed by signal %d; another in 1 s\n",
			(int)pid, WTERMSIG(st));
	else
		fprintf(stderr, "nxwd: standby nxd (pid %d) exited with status %d; another in 1 s\n",
			(int)pid, WEXITSTATUS(st));
	w->sb_next_ns = nx__clock_ns() + 1000 * MS;
}

/* Start a standby once the active nxd serves: the next restart starts there. */
static void
standby_start(struct wd *w)
{
	if (launch(w, NULL, &w->sb_pid, &w->sb_pidfd, &w->sb_fd) != 0) {
		w->sb_pid = -1;
		w->sb_next_ns = nx__clock_ns() + 1000 * MS;
	}
}

/* The standby said it is ready (NX_WD_STANDBY_READY), or closed its end. */
static void
on_standby_word(struct wd *w)
{
	char c;
	ssize_t got = recv(w->sb_fd, &c, 1, MSG_DONTWAIT);

	if (got == 1 && c == NX_WD_STANDBY_READY) {
		w->sb_ready = true;
		fprintf(stderr, "nxwd: standby nxd (pid %d) ready\n", (int)w->sb_pid);
	} else if (got == 0) {
		close(w->sb_fd); /* it exits: its pidfd says how */
		w->sb_fd = -1;
		w->sb_ready = false;
	}
}

static size_t
put_var(char *buf, size_t at, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Append one "KEY=VALUE" and its NUL. */
static size_t
put_var(char *buf, size_t at, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (at >= cap)
		return cap;
	va_start(ap, fmt);
	n = vsnprintf(buf + at, cap - at, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n + 1 >= cap - at ? cap : at + (size_t)n + 1;
}

/*
 * Make the standby the active nxd: send it the restart's variables.
 * @return 0, or -1 when it is gone (the caller starts one cold)
 */
static int
promote(struct wd *w, const struct restart_env *env)
{
	char msg[512];
	size_t n = 0;

	n = put_var(msg, n, sizeof msg, NX_WD_ENV_RESTART_REASON "=%s", env->reason);
	n = put_var(msg, n, sizeof msg, NX_WD_ENV_RESTART_STATUS "=%d", env->status);
	n = put_var(msg, n, sizeof msg, NX_WD_ENV_RESTART_WALL_NS "=%llu",
		    (unsigned long long)env->wall_ns);
	n = put_var(msg, n, sizeof msg, NX_WD_ENV_RESTART_OLD_PID "=%d", (int)env->old_pid);
	if (n >= sizeof msg)
		return -1;
	msg[n++] = '\0';
	w->launch_gen = segment_generation(w);
	if (send(w->sb_fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n) {
		standby_stop(w);
		return -1;
	}
	w->pid = w->sb_pid;
	w->pidfd = w->sb_pidfd;
	w->sb_pidfd = -1;
	standby_gone(w);
	w->sb_next_ns = 0;
	now_active(w);
	return 0;
}

/* ---- the life locks: a death noticed before the address space is gone ---- */

static void *
watch_life(void *arg)
{
	struct wd *w = arg;
	uint32_t seen = 0;

	while (__atomic_load_n(&w->life_stop, __ATOMIC_ACQUIRE) == 0) {
		uint64_t when = 0;
		int32_t pid = 0;
		int died;

		died = nx__life_watch(w->life, &seen, 100 * MS, &pid, &when);
		if (died >= 0)
			__atomic_store_n(&w->life_done, seen, __ATOMIC_RELEASE);
		if (died == 1) {
			/* when we knew; the restart waits for the pidfd (the exit
			 * status, and the control socket freed with the files) */
			__atomic_store_n(&w->died_wall_ns, when, __ATOMIC_RELAXED);
			__atomic_store_n(&w->died_pid, pid, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/* Without the life locks (no memfd, no thread), the pidfd alone says it. */
static void
life_start(struct wd *w)
{
	w->life_fd = nx__life_create(&w->life);
	if (w->life_fd < 0) {
		w->life = NULL;
		return;
	}
	errno = pthread_create(&w->watcher, NULL, watch_life, w);
	if (errno == 0) {
		w->watching = true;
		return;
	}
	fprintf(stderr, "nxwd: no life-lock watcher (%s): deaths are noticed by the pidfd alone\n",
		strerror(errno));
	close(w->life_fd);
	w->life_fd = -1;
}

/*
 * Before the next nxd holds the locks: let the watcher finish with the
 * last one's (all its threads are dead once it is reaped, so this is
 * quick), or it could take a lock of the new nxd for one of the old.
 */
static void
life_settle(struct wd *w)
{
	const uint64_t t0 = nx__clock_ns();

	if (!w->watching)
		return;
	while (__atomic_load_n(&w->life_done, __ATOMIC_ACQUIRE) !=
		       __atomic_load_n(&w->life->armed, __ATOMIC_ACQUIRE) &&
	       nx__clock_ns() - t0 < 100 * MS)
		nx__sleep_ns(50000);
}

/* Wait ns for a stop signal. @return true when one came */
static bool
wait_for_stop(struct wd *w, uint64_t ns)
{
	const uint64_t end = nx__clock_ns() + ns;
	struct signalfd_siginfo si;
	uint64_t now;

	while ((now = nx__clock_ns()) < end) {
		struct pollfd pf = { .fd = w->sigfd, .events = POLLIN };
		uint64_t left_ms = (end - now + MS - 1) / MS;

		if (poll(&pf, 1, left_ms > 1000 ? 1000 : (int)left_ms) > 0 &&
		    read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si &&
		    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
			return true;
	}
	return false;
}

/* nxd died, reaped with status st. @return an exit code, or -1 to go on */
static int
on_death(struct wd *w, int st)
{
	uint64_t wall = nx__wallclock_ns();
	struct restart_env env = { .old_pid = w->pid };
	uint64_t delay, gen;
	int rc;

	/* the watcher saw its threads die before the pidfd said so: that is
	 * when we knew */
	life_settle(w);
	if (__atomic_load_n(&w->died_pid, __ATOMIC_ACQUIRE) == w->pid) {
		const uint64_t early = __atomic_load_n(&w->died_wall_ns, __ATOMIC_RELAXED);

		if (early != 0 && early < wall && wall - early < 1000 * MS)
			wall = early;
	}

	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	w->pid = -1;
	w->serving = false;
	nx__backoff_unhealthy(&w->bo);
	if (WIFSIGNALED(st)) {
		env.status = -WTERMSIG(st);
		snprintf(env.reason, sizeof env.reason, "killed by signal %d", WTERMSIG(st));
	} else {
		env.status = WEXITSTATUS(st);
		snprintf(env.reason, sizeof env.reason, "exited with status %d", WEXITSTATUS(st));
	}
	if (w->stopping) {
		fprintf(stderr, "nxwd: nxd (pid %d) %s: stopped\n", (int)env.old_pid, env.reason);
		return NXWD_EXIT_OK;
	}
	if (!w->stalled && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		fprintf(stderr, "nxwd: nxd (pid %d) exited with status 0 (stopped by someone "
			"else): not restarted\n", (int)env.old_pid);
		return NXWD_EXIT_OK;
	}
	if (!w->stalled && WIFEXITED(st) && WEXITSTATUS(st) == 2) {
		fprintf(stderr, "nxwd: nxd (pid %d) exited with status 2 (bad usage or "
			"configuration): not restarted\n", (int)env.old_pid);
		return NXWD_EXIT_USAGE;
	}
	env.wall_ns = wall;
	if (w->stalled) {
		/* the stall is the reason; the notice is when it was seen */
		snprintf(env.reason, sizeof env.reason, "%s", w->stall_reason);
		env.wall_ns = w->notice_wall_ns;
	}
	delay = nx__backoff_failed(&w->bo);
	if (delay == NX_BACKOFF_GIVE_UP) {
		fprintf(stderr, "nxwd: crash loop: nxd failed %u times within %llu ms (last: pid "
			"%d %s); not restarting it\n", nx__backoff_recent(&w->bo),
			(unsigned long long)(w->o->window_ns / MS), (int)env.old_pid, env.reason);
		nxwd_notify_status("crash loop: nxd failed %u times within %llu ms; gave up",
				   nx__backoff_recent(&w->bo),
				   (unsigned long long)(w->o->window_ns / MS));
		return NXWD_EXIT_CRASH_LOOP;
	}
	gen = segment_generation(w) + 1;
	w->restarts++;
	fprintf(stderr, "nxwd: nxd (pid %d) %s; restart %llu, as generation %llu", (int)env.old_pid,
		env.reason, (unsigned long long)w->restarts, (unsigned long long)gen);
	if (delay != 0)
		fprintf(stderr, ", in %llu.%03llu ms", (unsigned long long)(delay / MS),
			(unsigned long long)(delay % MS / 1000));
	if (w->sb_ready)
		fprintf(stderr, ", by the standby (pid %d)", (int)w->sb_pid);
	fputc('\n', stderr);
	nxwd_notify_status("restarting nxd (%s): restart %llu, generation %llu", env.reason,
			   (unsigned long long)w->restarts, (unsigned long long)gen);
	if (delay != 0 && wait_for_stop(w, delay)) {
		fprintf(stderr, "nxwd: stopped before the restart\n");
		return NXWD_EXIT_OK;
	}
	if (w->sb_ready) {
		if (promote(w, &env) == 0)
			return -1;
		fprintf(stderr, "nxwd: the standby is gone: nxd starts cold\n");
	}
	rc = spawn(w, &env);
	return rc != 0 ? rc : -1;
}

static void
on_stall(struct wd *w, unsigned worker, uint64_t age_ns)
{
	w->stalled = true;
	w->notice_wall_ns = nx__wallclock_ns();
	w->abort_ns = nx__clock_ns();
	snprintf(w->stall_reason, sizeof w->stall_reason, "stalled: worker %u heartbeat %llu ms old",
		 worker, (unsigned long long)(age_ns / MS));
	fprintf(stderr, "nxwd: nxd (pid %d) %s (limit %llu ms): SIGABRT\n", (int)w->pid,
		w->stall_reason, (unsigned long long)(w->o->stall_ns / MS));
	kill(w->pid, SIGABRT);
}

/* Every tick: is nxd serving, is a worker stalled, is it time to kill,
 * to tell systemd we live? */
static void
on_tick(struct wd *w)
{
	const uint64_t now = nx__clock_ns();
	const struct nx_health_view *v;
	unsigned i, n = 0;
	uint64_t gen = 0;
	int32_t hpid = 0;
	bool up = false;

	if (w->pid > 0 && nx__hr_heartbeats(w->hr, w->ages, NXWD_MAX_WORKERS, &n, &gen, &hpid) == 0 &&
	    (v = nx__hr_view(w->hr)) != NULL)
		up = hpid == w->pid && gen > w->launch_gen &&
		     nx__load32(&v->hdr->state) == NX_INST_RUNNING;
	if (up && !w->serving) {
		w->serving = true;
		w->serving_since = now;
		w->gen = gen;
		if (w->restarts != 0)
			fprintf(stderr, "nxwd: nxd (pid %d) serves generation %llu\n", (int)w->pid,
				(unsigned long long)gen);
		if (!w->ready_sent) {
			nxwd_notify_ready();
			w->ready_sent = true;
		}
		nxwd_notify_status("nxd pid %d serves instance '%s', generation %llu; %llu restarts",
				   (int)w->pid, w->o->instance, (unsigned long long)gen,
				   (unsigned long long)w->restarts);
	} else if (!up) {
		w->serving = false;
	}
	/* a stall: only once nxd has served for a stall period (its workers start) */
	if (w->serving && !w->stalled && !w->stopping && w->o->stall_ns != 0 &&
	    now - w->serving_since >= w->o->stall_ns)
		for (i = 0; i < n; i++)
			if (w->ages[i] > w->o->stall_ns) {
				on_stall(w, i, w->ages[i]);
				break;
			}
	if (w->stalled && !w->killed && now - w->abort_ns >= w->o->abort_grace_ns) {
		fprintf(stderr, "nxwd: nxd (pid %d) still there %llu ms after SIGABRT: SIGKILL\n",
			(int)w->pid, (unsigned long long)(w->o->abort_grace_ns / MS));
		kill(w->pid, SIGKILL);
		w->killed = true;
	}
	if (w->stopping && w->pid > 0 && !w->killed && now - w->stop_ns >= NXWD_STOP_TIMEOUT_NS) {
		fprintf(stderr, "nxwd: nxd (pid %d) still there %llu s after SIGTERM: SIGKILL\n",
			(int)w->pid, (unsigned long long)(NXWD_STOP_TIMEOUT_NS / 1000000000ull));
		kill(w->pid, SIGKILL);
		w->killed = true;
	}
	if (!w->o->standby_off && !w->sb_off && w->sb_pid < 0 && w->serving && !w->stalled &&
	    !w->stopping && now >= w->sb_next_ns)
		standby_start(w);
	if (w->serving && !w->stalled)
		nx__backoff_healthy(&w->bo);
	else
		nx__backoff_unhealthy(&w->bo);
	if (nxwd_notify_watchdog_ns() != 0 && now - w->last_watchdog_ns >= nxwd_notify_watchdog_ns()) {
		const struct nx_hr_snap *s;

		w->last_watchdog_ns = now;
		if (w->serving && !w->stalled && nx__hr_snapshot(w->hr, &s) == 0 && s->up &&
		    s->health <= NX_H_DEGRADED)
			nxwd_notify_watchdog();
	}
}

/* How long to sleep in poll: a fraction of the stall limit, bounded. */
static int
tick_ms(const struct wd *w)
{
	uint64_t t = w->o->stall_ns != 0 ? w->o->stall_ns / 8 : 100 * MS;

	if (nxwd_notify_watchdog_ns() != 0 && nxwd_notify_watchdog_ns() / 2 < t)
		t = nxwd_notify_watchdog_ns() / 2;
	if (w->stalled && w->o->abort_grace_ns / 4 < t)
		t = w->o->abort_grace_ns / 4;
	if (t > 25 * MS)
		t = 25 * MS;
	return t < MS ? 1 : (int)(t / MS);
}

/* Stop signals; SIGCHLD where there is no pidfd. @return true when nxd was reaped */
static bool
on_signal(struct wd *w, int *st)
{
	struct signalfd_siginfo si;
	bool reaped = false;

	while (read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGCHLD && w->pidfd < 0 && w->pid > 0 && !reaped)
			reaped = waitpid(w->pid, st, WNOHANG) == w->pid;
		if (si.ssi_signo == SIGCHLD && w->sb_pidfd < 0 && w->sb_pid > 0) {
			int sst;

			if (waitpid(w->sb_pid, &sst, WNOHANG) == w->sb_pid)
				on_standby_death(w, sst);
		}
		if ((si.ssi_signo != SIGTERM && si.ssi_signo != SIGINT) || w->stopping)
			continue;
		w->stopping = true;
		w->stop_ns = nx__clock_ns();
		nxwd_notify_stopping();
		fprintf(stderr, "nxwd: %s: stopping nxd (pid %d)\n", strsignal((int)si.ssi_signo),
			(int)w->pid);
		if (w->pid > 0)
			kill(w->pid, SIGTERM);
		standby_stop(w);
	}
	return reaped;
}

int
nxwd_supervise(const struct nxwd_opts *o)
{
	const struct nx_backoff_conf bc = {
		.min_ns = o->restart_min_ns, .max_ns = o->restart_max_ns, .stable_ns = o->stable_ns,
		.max_fails = o->max_restarts, .window_ns = o->window_ns,
	};
	struct nx_hr_conf hc = NX_HR_CONF_DEFAULT;
	struct wd *w;
	sigset_t mask;
	int rc;

	w = calloc(1, sizeof *w);
	if (w == NULL) {
		fprintf(stderr, "nxwd: out of memory\n");
		return NXWD_EXIT_ERROR;
	}
	w->o = o;
	w->pid = -1;
	w->pidfd = -1;
	w->sb_pid = -1;
	w->sb_pidfd = -1;
	w->sb_fd = -1;
	w->life_fd = -1;
	nx__rand_seed(&w->rng, nx__random_seed());
	nx__backoff_init(&w->bo, &bc, wd_clock, wd_random, w);
	if (o->stall_ns != 0)
		hc.stale_ns = o->stall_ns;
	rc = nx__hr_open(&w->hr, o->instance, &hc);
	if (rc < 0) {
		fprintf(stderr, "nxwd: %s\n", nx__errmsg());
		free(w);
		return NXWD_EXIT_USAGE;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	w->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->sigfd < 0) {
		fprintf(stderr, "nxwd: signalfd: %s\n", strerror(errno));
		rc = NXWD_EXIT_ERROR;
		goto out;
	}
	nxwd_notify_init();
	life_start(w); /* after the mask: the watcher takes no signal */
	rc = spawn(w, NULL);
	if (rc != 0)
		goto out;
	for (;;) {
		struct pollfd pf[4] = {
			{ .fd = w->sigfd, .events = POLLIN },
			{ .fd = w->pidfd, .events = POLLIN }, /* -1: ignored */
			{ .fd = w->sb_pidfd, .events = POLLIN },
			{ .fd = w->sb_fd, .events = POLLIN },
		};
		bool reaped;
		int st = 0;

		if (poll(pf, 4, tick_ms(w)) < 0 && errno != EINTR) {
			fprintf(stderr, "nxwd: poll: %s\n", strerror(errno));
			rc = NXWD_EXIT_ERROR;
			break;
		}
		reaped = (pf[0].revents & POLLIN) && on_signal(w, &st);
		if (!reaped && w->pidfd >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
			while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
				;
			reaped = true;
		}
		if (w->sb_fd >= 0 && (pf[3].revents & (POLLIN | POLLHUP)))
			on_standby_word(w);
		if (w->sb_pidfd >= 0 && (pf[2].revents & (POLLIN | POLLHUP))) {
			int sst = 0;

			while (waitpid(w->sb_pid, &sst, 0) < 0 && errno == EINTR)
				;
			on_standby_death(w, sst);
		}
		if (reaped) {
			rc = on_death(w, st);
			if (rc >= 0)
				break;
			continue;
		}
		on_tick(w);
	}
out:
	standby_stop(w);
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
	}
	if (w->watching) {
		/* nxd is gone, so no lock keeps the watcher; wake it from its wait */
		__atomic_store_n(&w->life_stop, 1, __ATOMIC_RELEASE);
		nx__futex_wake(&w->life->armed, 1, true);
		pthread_join(w->watcher, NULL);
	}
	if (w->life != NULL) {
		nx__life_unmap(w->life);
		close(w->life_fd);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->sigfd >= 0)
		close(w->sigfd);
	nx__hr_close(w->hr);
	free(w);
	return rc;
}
