/*
 * The control socket's fixed-size message, framed for both ends (see
 * ctl_frame.h): one struct nx_ctl_msg per seqpacket datagram, an fd
 * riding along on ATTACH's reply and on RECLAIM.
 */
#include "shm_internal.h"
#include "ctl_frame.h"

int
nx__ctl_send_msg(int fd, const struct nx_ctl_msg *m, int chan_fd)
{
	return nx__ctl_send(fd, m, sizeof *m, chan_fd);
}

int
nx__ctl_recv_msg(int fd, struct nx_ctl_msg *m, int *recv_fd, uint64_t timeout_ns)
{
	int n = nx__ctl_recv(fd, m, sizeof *m, recv_fd, timeout_ns);

	if (n < 0)
		return n;
	if ((size_t)n != sizeof *m || m->type < NX_CTL_ATTACH || m->type > NX_CTL_ERROR) {
		if (recv_fd != NULL && *recv_fd >= 0) {
			nx__fd_close(*recv_fd);
			*recv_fd = -1;
		}
		return nx__err(NX_EPROTO, "malformed control message (%d bytes)", n);
	}
	m->text[sizeof m->text - 1] = '\0';
	return 0;
}
