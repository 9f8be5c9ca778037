/*
 * Multi-process test harness: start and stop real nxd processes on
 * instance names unique to this run, fork clients, bound every wait.
 *
 * Waits are for a condition, never for a time: each polls what it waits
 * for and gives up only after nxt_patience_ns(), far beyond anything a
 * loaded machine takes, so that giving up means the condition never came.
 */
#ifndef NX_TEST_HARNESS_H
#define NX_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

struct nxt_nxd {
	pid_t pid;
	char instance[64];
	char log[256];
};

/** Path of a built tool ("nxd"), from $NX_BIN or next to the test binary. */
const char *nxt_bin(const char *tool);
/** A random nonce for this run of the test binary: 8 hex digits, the same for the whole process. */
const char *nxt_nonce(void);
/** A name no other run uses: "nxt-<tag>-<pid>-<nonce>-<n>". */
void nxt_instance(char *buf, size_t len, const char *tag);
/**
 * A private directory for the files a test writes (configurations, markers,
 * the logs of the processes it starts): made once per process with mkdtemp
 * under /tmp (mode 0700, so nxd trusts a configuration in it), removed with
 * its contents when the process exits, unless $NXT_KEEP is set (it says where).
 */
const char *nxt_tmpdir(void);
/** nxt_tmpdir()/name into buf. @return buf */
char *nxt_tmpfile(char *buf, size_t len, const char *name);
/**
 * Start nxd on instance with extra arguments (NULL-terminated, may be
 * NULL) and wait until it serves: its health header says RUNNING with its
 * pid and its control socket answers "list" (no channel is made: a channel
 * closed by a probe would be released only after a grace period, and tests
 * count channels), and nxd has closed that connection (tests count its
 * descriptors). Waits at most nxt_patience_ns().
 * @return 0, or -1 (nxd exited or never became ready; its log is printed)
 */
int nxt_nxd_start(struct nxt_nxd *d, const char *instance, const char *const *args);
/**
 * nxd's arguments after argv[0..i): args, then "--workers 1" unless they
 * place the workers themselves (--workers, --cpus, -w, -c, with or
 * without =). Every test is written for one worker; nxd's own choice
 * would be one per usable core but one, more than one on a machine with
 * more than two cores. A config's workers is overridden; its cpus is not.
 * @return the index of the NULL that ends argv (at most cap - 1)
 */
int nxt_nxd_args(const char **argv, int i, int cap, const char *const *args);
/** Start nxd and do not wait: for tests of refusals. @return pid */
pid_t nxt_nxd_spawn(struct nxt_nxd *d, const char *instance, const char *const *args);
/** SIGTERM, then wait at most nxt_patience_ns() (SIGKILL after). @return exit status, or -1 if killed */
int nxt_nxd_stop(struct nxt_nxd *d);
/** SIGKILL and reap. */
void nxt_nxd_kill(struct nxt_nxd *d);
/** Print nxd's log (on failure). */
void nxt_nxd_dump_log(const struct nxt_nxd *d);
/**
 * Fork and exec argv (NULL-terminated) with stdout and stderr in log; the
 * child dies with the test (PR_SET_PDEATHSIG) and, with no_core, dumps no
 * core. The pid and instance are remembered: nxt_reap() (a test's
 * teardown) and the exit of the test kill a pid still running and remove
 * the instance's segments. @return pid, or -1
 */
pid_t nxt_spawn_logged(const char *const *argv, const char *log, const char *instance,
		       bool no_core);
/**
 * fork() a child that dies with the test (PR_SET_PDEATHSIG) and is
 * remembered like nxt_spawn_logged's: the test's teardown kills it if it
 * still runs. @return as fork
 */
pid_t nxt_fork(void);
/**
 * Kill (SIGKILL) and reap every process nxt_spawn_logged or nxt_fork started that still
 * runs, wait (bounded) until the processes they had started themselves (an
 * nxwd's nxd and standby) are gone too, remove the instances' segments and
 * forget them all.
 */
void nxt_reap(void);
/** A cmocka teardown: nxt_reap(). @return 0 */
int nxt_teardown(void **state);
/** CLOCK_MONOTONIC in ns. */
uint64_t nxt_now_ns(void);
/** Wait for a child at most timeout_ns; kill it on timeout. @return exit status, 128+sig, or -1 */
int nxt_wait(pid_t pid, uint64_t timeout_ns);
/**
 * Wait for a child that drives load on instance, as long as the instance
 * makes progress: the child is killed when the workers' taken and answered
 * counters stand still for stall_ns (a watchdog, not a budget on the run).
 * @return as nxt_wait
 */
int nxt_wait_progress(pid_t pid, const char *instance, uint64_t stall_ns);
/** True when the instance's named segments are gone. */
bool nxt_segments_gone(const char *instance);
/** Remove whatever named segments the instance left. */
void nxt_cleanup(const char *instance);
/** Number of open fds and of memfd mappings of a process. */
int nxt_count_fds(pid_t pid);
int nxt_count_memfd_maps(pid_t pid);
/** Memfd descriptors a process holds (nxd: none once a channel is handed over). */
int nxt_count_memfd_fds(pid_t pid);
/**
 * Connections nxd (pid) has accepted on the instance's control socket and
 * not yet closed: a client's attach, an nxctl command. @return how many, or -1
 */
int nxt_ctl_peers(pid_t pid, const char *instance);
/** Find the tid of a thread of pid by name prefix ("nx-worker-0"). @return tid or -1 */
pid_t nxt_find_thread(pid_t pid, const char *name);
/** The processes whose parent is pid: up to max in out. @return how many there are */
int nxt_children(pid_t pid, pid_t *out, int max);
/** True when pid is gone: no such process, or a zombie nobody reaped yet. */
bool nxt_pid_gone(pid_t pid);
/**
 * An nxctl command through the library: the NULL-terminated arguments
 * after json. *text (if not NULL) receives nxd's answer, to free.
 * @return nxd's status (0 or an NX_E* code), or the library's error
 */
int nxt_ctl(const char *instance, char **text, int json, ...);
/** True when built with a sanitizer ($NX_SAN non-empty). */
bool nxt_sanitized(void);

struct nx_client;
/** nx_open with no other option than nxt_patience_ns() for nxd's reply
 *  (libnx's default, 5 s, is a time a slow machine can reach) */
int nxt_open(struct nx_client **c, const char *instance);
struct nx_open_opts;
/** nx_open with opts (NULL: none), their timeout nxt_patience_ns() when 0 */
int nxt_open_with(struct nx_client **c, const char *instance, const struct nx_open_opts *opts);
/** One call through the instance's echo pipeline ("ping"), waiting at most
 *  nxt_patience_ns(). @return 0 when it came back whole, or the error */
int nxt_echo_once(struct nx_client *c);
/** Scale a time budget for slow (sanitized) builds. */
uint64_t nxt_budget_ns(uint64_t ns);
/**
 * How long to wait for something that must come (a process to start or
 * exit, a counter to be published, an answer): 60 s, scaled by
 * nxt_budget_ns. Never a measure of speed.
 */
uint64_t nxt_patience_ns(void);
/**
 * Poll cond (an expression, evaluated again each time) every millisecond
 * until it is true or timeout_ns has passed. @return its last value
 */
#define NXT_WAIT_UNTIL(cond, timeout_ns)                                              \
	({                                                                            \
		const uint64_t nxt_t0_ = nxt_now_ns(), nxt_to_ = (timeout_ns);         \
		bool nxt_ok_;                                                         \
		while (!(nxt_ok_ = (cond)) && nxt_now_ns() - nxt_t0_ < nxt_to_)        \
			usleep(1000);                                                 \
		nxt_ok_;                                                              \
	})
/** A test plugin's path: $NX_TESTS/plugins/NAME.so (a static buffer). */
const char *nxt_plugin_path(const char *name);
/** Copy a log file to stderr, framed by its name (on failure). */
void nxt_dump_file(const char *path);
/** Whether a file (a process's log) holds what, in its first MiB. */
bool nxt_file_says(const char *path, const char *what);

#endif
