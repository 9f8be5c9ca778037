/*
 * shm/ctl_frame.h - one control message (struct nx_ctl_msg, shm/abi/ctl.h)
 * on the control socket, framed the same way for both ends: libnx's
 * attach (shm/attach.c) and nxd's server (core/control/ctl_msg.c, core/control/ctl_server.c).
 */
#ifndef NX_SHM_CTL_FRAME_H
#define NX_SHM_CTL_FRAME_H

#include "shm_internal.h"

/** Send one message, with chan_fd attached when >= 0. @return 0 or nx__ctl_send's error */
int nx__ctl_send_msg(int fd, const struct nx_ctl_msg *m, int chan_fd);
/** Receive one message and check its size and type. @return 0 or NX_E* */
int nx__ctl_recv_msg(int fd, struct nx_ctl_msg *m, int *recv_fd, uint64_t timeout_ns);

#endif /* NX_SHM_CTL_FRAME_H */
