/*
 * core/control/ctl_msg.h - nxd's side of the control messages (shm/abi/ctl.h):
 * the answers it sends a client, the check of a command it receives.
 * Receiving a message is shm/ctl_frame.h's, shared with libnx.
 */
#ifndef NX_CORE_CTL_MSG_H
#define NX_CORE_CTL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "shm/abi/ctl.h"

/** OK {chan_id, generation}, with the channel's segment when chan_fd >= 0. */
int nx__ctl_reply_ok(int fd, uint32_t chan_id, uint64_t generation, int chan_fd);
/** ERROR {code, text}: the client's nx__ctl_read_reply returns code with text. */
int nx__ctl_reply_error(int fd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/**
 * Check a received command datagram of got bytes (c is its buffer)
 * and point argv at its arguments, NUL-terminated in place. Nothing in
 * it is trusted: sizes, count, terminators, trailing bytes.
 * @return argc (1 to max), or NX_EPROTO with its message
 */
int nx__ctl_parse_command(struct nx_ctl_cmd *c, size_t got, char **argv, unsigned max);

#endif /* NX_CORE_CTL_MSG_H */
