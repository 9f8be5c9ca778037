/*
 * shm/monitor/ctl_session.h - driving a running nxd: the nxctl commands
 * (core/cmd*.c answer them) sent over its control socket, for nxctl,
 * nxbench's swapper and the tests. Not part of libnx.
 */
#ifndef NX_SHM_MONITOR_CTL_SESSION_H
#define NX_SHM_MONITOR_CTL_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Run an nxctl command: send argv, gather the reply's chunks into *text
 * (allocated, NUL-terminated: release it with nx__mem_free). *status is
 * nxd's verdict: 0, or the error the command met (its message is the text).
 * @return 0 when a reply came (whatever its status), or an error reaching nxd
 */
int nx__ctl_command(const char *instance, int argc, char *const *argv, bool json,
		    uint64_t timeout_ns, char **text, size_t *text_len, int *status);

/** A connection for several commands (nxbench's swapper). */
struct nx_ctl_session;
int nx__ctl_session_open(struct nx_ctl_session **out, const char *instance);
int nx__ctl_session_command(struct nx_ctl_session *s, int argc, char *const *argv, bool json,
			    uint64_t timeout_ns, char **text, size_t *text_len, int *status);
void nx__ctl_session_close(struct nx_ctl_session *s);

#endif /* NX_SHM_MONITOR_CTL_SESSION_H */
