/*
 * shm/attach.h - libnx's side of the attach protocol (see attach.c):
 * ask nxd for a channel or reclaim one, read its answer. nxd's side is
 * core/control/ctl_msg.h; the operators' command session shm/monitor/ctl_session.h.
 */
#ifndef NX_SHM_ATTACH_H
#define NX_SHM_ATTACH_H

#include "shm_internal.h"

int nx__ctl_send_request(int fd, uint32_t type, uint32_t abi, uint32_t wait_mode,
			 uint32_t chan_id, int chan_fd);
/** Receive nxd's reply: 0 for OK, or the error it sent (message set). */
int nx__ctl_read_reply(int fd, struct nx_ctl_msg *m, int *chan_fd, uint64_t timeout_ns);

/**
 * Connect to the instance's control socket and make sure the listener
 * runs as the owner of its health segment (hv, mapped).
 * @return fd, NX_ENOINST (saying which nxd is gone), NX_EPERM, NX_EIO
 */
int nx__ctl_connect_verified(const char *instance, const struct nx_health_view *hv);

#endif /* NX_SHM_ATTACH_H */
