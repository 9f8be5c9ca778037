/*
 * Multi-process test harness: start and stop real nxd processes on
 * instance names unique to this run, fork clients, bound every wait.
 */
#ifndef NX_TEST_HARNESS_H
#define NX_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nxt_nxd {
	pid_t pid;
	char instance[64];
	char log[256];
};

/** Path of a built tool ("nxd"), from $NX_BIN or next to the test binary. */
const char *nxt_bin(const char *tool);
/** A name no other run uses: "nxt-<tag>-<pid>-<n>". */
void nxt_instance(char *buf, size_t len, const char *tag);
/**
 * Start nxd on instance with extra arguments (NULL-terminated, may be
 * NULL) and wait until a client can attach (at most 20 s).
 * @return 0, or -1 (nxd exited or never became ready; its log is printed)
 */
int nxt_nxd_start(struct nxt_nxd *d, const char *instance, const char *const *args);
/** Start nxd and do not wait: for tests of refusals. @return pid */
pid_t nxt_nxd_spawn(struct nxt_nxd *d, const char *instance, const char *const *args);
/** SIGTERM, then wait at most 20 s (SIGKILL after). @return exit status, or -1 if killed */
int nxt_nxd_stop(struct nxt_nxd *d);
/** SIGKILL and reap. */
void nxt_nxd_kill(struct nxt_nxd *d);
/** Print nxd's log (on failure). */
void nxt_nxd_dump_log(const struct nxt_nxd *d);
/**
 * Fork and exec argv (NULL-terminated) with stdout and stderr in log; the
 * child dies with the test (PR_SET_PDEATHSIG) and, with no_core, dumps no
 * core. The pid and instance are remembered: at exit a pid still running
 * is killed and the instance's segments removed. @return pid, or -1
 */
pid_t nxt_spawn_logged(const char *const *argv, const char *log, const char *instance,
		       bool no_core);
/** CLOCK_MONOTONIC in ns. */
uint64_t nxt_now_ns(void);
/** Wait for a child at most timeout_ns; kill it on timeout. @return exit status, 128+sig, or -1 */
int nxt_wait(pid_t pid, uint64_t timeout_ns);
/** True when the instance's named segments are gone. */
bool nxt_segments_gone(const char *instance);
/** Remove whatever named segments the instance left. */
void nxt_cleanup(const char *instance);
/** Number of open fds and of memfd mappings of a process. */
int nxt_count_fds(pid_t pid);
int nxt_count_memfd_maps(pid_t pid);
/** Find the tid of a thread of pid by name prefix ("nx-worker-0"). @return tid or -1 */
pid_t nxt_find_thread(pid_t pid, const char *name);
/**
 * An nxctl command through the library: the NULL-terminated arguments
 * after json. *text (if not NULL) receives nxd's answer, to free.
 * @return nxd's status (0 or an NX_E* code), or the library's error
 */
int nxt_ctl(const char *instance, char **text, int json, ...);
/** True when built with a sanitizer ($NX_SAN non-empty). */
bool nxt_sanitized(void);
/** Scale a time budget for slow (sanitized) builds. */
uint64_t nxt_budget_ns(uint64_t ns);
/** A test plugin's path: $NX_TESTS/plugins/NAME.so (a static buffer). */
const char *nxt_plugin_path(const char *name);
/** Copy a log file to stderr, framed by its name (on failure). */
void nxt_dump_file(const char *path);

#endif
