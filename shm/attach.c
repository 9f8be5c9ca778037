/*
 * The attach protocol: one fixed-size message per seqpacket datagram.
 *
 *   client                                nxd
 *   connect <rundir>/<inst>.ctl -------->  accept, SO_PEERCRED: uid allowed?
 *   ATTACH {abi, wait_mode}     -------->  ABI equal? free channel? create it
 *                               <--------  OK {chan_id, generation} + memfd
 *                                          or ERROR {code, text}
 *   (the socket stays open: its close tells nxd the client is gone)
 *
 *   after an nxd restart:
 *   RECLAIM {abi, chan_id} + memfd ----->  pid/uid own that channel? re-map it
 *                               <--------  OK / ERROR
 *
 * This file is the client's side, linked into libnx: nxd's answers are
 * core/control/ctl_msg.c, the framing both share shm/ctl_frame.c.
 */
#include <string.h>

#include "shm_internal.h"
#include "attach.h"
#include "ctl_frame.h"

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
	return nx__ctl_send_msg(fd, &m, chan_fd);
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
			nx__fd_close(*chan_fd);
			*chan_fd = -1;
		}
		return nx__err(code, "%s", m->text);
	}
	if (m->type != NX_CTL_OK)
		return nx__err(NX_EPROTO, "unexpected control message type %u", m->type);
	return 0;
}

int
nx__ctl_connect_verified(const char *instance, const struct nx_health_view *hv)
{
	struct nx_peer_cred cred;
	int64_t owner;
	int fd, rc;

	fd = nx__ctl_connect(instance);
	if (fd < 0) {
		if (fd == NX_ENOINST && hv != NULL && hv->hdr != NULL)
			return nx__err(NX_ENOINST, "instance '%s' is not running: nxd pid %d "
				       "(generation %llu) is gone", instance, hv->hdr->pid,
				       (unsigned long long)nx__load64(&hv->hdr->generation));
		return fd;
	}
	/* The listener (trusted by nx__ctl_connect) must own the instance's
	 * health segment too: one another uid planted is not the instance's. */
	rc = nx__ctl_peer_cred(fd, &cred);
	owner = hv != NULL ? nx__shm_owner(hv->fd) : -1;
	if (rc == 0 && (owner < 0 || cred.uid != (uint64_t)owner))
		rc = nx__err(NX_EPERM, "nxd of instance '%s' runs as uid %u but its health "
			     "segment belongs to uid %lld: refusing to talk to it", instance,
			     cred.uid, (long long)owner);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	return fd;
}
