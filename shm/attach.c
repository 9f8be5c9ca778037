/*
 * The attach protocol: one fixed-size message per seqpacket datagram.
 *
 *   client                                nxd
 *   connect @nx.<instance>.ctl  -------->  accept, SO_PEERCRED: uid allowed?
 *   ATTACH {abi, wait_mode}     -------->  ABI equal? free channel? create it
 *                               <--------  OK {chan_id, generation} + memfd
 *                                          or ERROR {code, text}
 *   (the socket stays open: its close tells nxd the client is gone)
 *
 *   after an nxd restart:
 *   RECLAIM {abi, chan_id} + memfd ----->  pid/uid own that channel? re-map it
 *                               <--------  OK / ERROR
 */
#include <stdio.h>
#include <string.h>

#include "shm_internal.h"
#include "attach.h"

int
nx__ctl_send_request(int fd, uint32_t type, uint32_t abi, uint32_t wait_mode, uint32_t chan_id,
		     int chan_fd)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.abi_version = abi;
	m.wait_mode = wait_mode;
	m.chan_id = chan_id;
	return nx_ctl_send(fd, &m, sizeof m, chan_fd);
}

int
nx__ctl_reply_ok(int fd, uint32_t chan_id, uint64_t generation, int chan_fd)
{
	struct nx_ctl_msg m;

	memset(&m, 0, sizeof m);
	m.type = NX_CTL_OK;
	m.abi_version = NX_ABI_VERSION;
	m.chan_id = chan_id;
	m.generation = generation;
	return nx_ctl_send(fd, &m, sizeof m, chan_fd);
}

int
nx__ctl_reply_error(int fd, int code, const char *fmt, ...)
{
	struct nx_ctl_msg m;
	va_list ap;

	memset(&m, 0, sizeof m);
	m.type = NX_CTL_ERROR;
	m.abi_version = NX_ABI_VERSION;
	m.status = code;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof m.text, fmt, ap);
	va_end(ap);
	return nx_ctl_send(fd, &m, sizeof m, -1);
}

int
nx__ctl_recv_msg(int fd, struct nx_ctl_msg *m, int *recv_fd, uint64_t timeout_ns)
{
	int n = nx_ctl_recv(fd, m, sizeof *m, recv_fd, timeout_ns);

	if (n < 0)
		return n;
	if ((size_t)n != sizeof *m || m->type < NX_CTL_ATTACH || m->type > NX_CTL_ERROR) {
		if (recv_fd != NULL && *recv_fd >= 0) {
			nx_fd_close(*recv_fd);
			*recv_fd = -1;
		}
		return nx__err(NX_EPROTO, "malformed control message (%d bytes)", n);
	}
	m->text[sizeof m->text - 1] = '\0';
	return 0;
}

int
nx__ctl_read_reply(int fd, struct nx_ctl_msg *m, int *chan_fd, uint64_t timeout_ns)
{
	int rc = nx__ctl_recv_msg(fd, m, chan_fd, timeout_ns);

	if (rc < 0)
		return rc;
	if (m->type == NX_CTL_ERROR) {
		int code = m->status < 0 && m->status >= NX_ERRNO_MIN ? m->status : NX_EPROTO;

		if (chan_fd != NULL && *chan_fd >= 0) {
			nx_fd_close(*chan_fd);
			*chan_fd = -1;
		}
		return nx__err(code, "%s", m->text);
	}
	if (m->type != NX_CTL_OK)
		return nx__err(NX_EPROTO, "unexpected control message type %u", m->type);
	return 0;
}
