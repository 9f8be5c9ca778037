/*
 * nxwd - the nexus watchdog: starts nxd, notices at once when it dies
 * (pidfd) and when a worker stalls (heartbeats in the health segment),
 * restarts it with backoff, and stops on a crash loop.
 */
#ifndef NX_TOOLS_NXWD_H
#define NX_TOOLS_NXWD_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes. */
#define NXWD_EXIT_OK 0
#define NXWD_EXIT_ERROR 1      /* nxwd itself failed (fork, pidfd, ...) */
#define NXWD_EXIT_USAGE 2      /* bad options; also nxd's own exit 2, passed on */
#define NXWD_EXIT_CRASH_LOOP 3

struct nxwd_opts {
	char instance[64];
	char *const *argv;         /* nxd and its arguments */
	uint64_t stall_ns;         /* 0: no stall detection */
	uint64_t abort_grace_ns;
	uint64_t restart_min_ns;
	uint64_t restart_max_ns;
	uint64_t stable_ns;
	uint32_t max_restarts;     /* 0: no limit */
	uint64_t window_ns;
	bool standby_off;          /* --no-standby: every restart starts nxd cold */
};

/** Run nxd under supervision until nxwd is told to stop or gives up. @return exit code */
int nxwd_supervise(const struct nxwd_opts *o);

/* systemd's notification protocol; no-ops without libsystemd or outside systemd */
void nxwd_notify_init(void);
/** Half of WATCHDOG_USEC in ns, or 0 when systemd does not watch us. */
uint64_t nxwd_notify_watchdog_ns(void);
void nxwd_notify_ready(void);
void nxwd_notify_watchdog(void);
void nxwd_notify_stopping(void);
void nxwd_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* NX_TOOLS_NXWD_H */
