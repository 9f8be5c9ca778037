/* The attach protocol's messages (see attach.c). */
#ifndef NX_ATTACH_H
#define NX_ATTACH_H

#include "shm_internal.h"

int nx__ctl_send_request(int fd, uint32_t type, uint32_t abi, uint32_t wait_mode,
			 uint32_t chan_id, int chan_fd);
int nx__ctl_reply_ok(int fd, uint32_t chan_id, uint64_t generation, int chan_fd);
int nx__ctl_reply_error(int fd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Receive one message and check its size and type. @return 0 or NX_E* */
int nx__ctl_recv_msg(int fd, struct nx_ctl_msg *m, int *recv_fd, uint64_t timeout_ns);
/**
 * nxd: check a received command datagram of got bytes (c is its buffer)
 * and point argv at its arguments, NUL-terminated in place. Nothing in
 * it is trusted: sizes, count, terminators, trailing bytes.
 * @return argc (1 to max), or NX_EPROTO with its message
 */
int nx__ctl_parse_command(struct nx_ctl_cmd *c, size_t got, char **argv, unsigned max);
/** Receive nxd's reply: 0 for OK, or the error it sent (message set). */
int nx__ctl_read_reply(int fd, struct nx_ctl_msg *m, int *chan_fd, uint64_t timeout_ns);

/**
 * Connect to the instance's control socket and make sure the listener
 * runs as the owner of its health segment (hv, mapped).
 * @return fd, NX_ENOINST (saying which nxd is gone), NX_EPERM, NX_EIO
 */
int nx__ctl_connect_verified(const char *instance, const struct nx_health_view *hv);

/**
 * Run an nxctl command: send argv, gather the reply's chunks into *text
 * (malloc'd, NUL-terminated). *status is nxd's verdict: 0, or the error
 * the command met (its message is the text).
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

#endif /* NX_ATTACH_H */
