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
/** Receive nxd's reply: 0 for OK, or the error it sent (message set). */
int nx__ctl_read_reply(int fd, struct nx_ctl_msg *m, int *chan_fd, uint64_t timeout_ns);

#endif /* NX_ATTACH_H */
