/*
 * Control transport: UNIX seqpacket sockets in the abstract namespace
 * ("\0nx.<instance>.ctl"). Abstract names vanish with their last holder,
 * so a killed nxd leaves nothing to clean up and a restarted one can bind
 * at once. Anyone may connect: both ends check the other's credentials
 * (SO_PEERCRED), nxd against its allowed uid/gid, the client against the
 * owner of the health segment, so a squatter on the name is refused.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../nx_platform.h"

static socklen_t
ctl_addr(struct sockaddr_un *sa, const char *instance)
{
	int n;

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "nx.%s.ctl", instance);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int
nx_ctl_listen(const char *instance)
{
	struct sockaddr_un sa;
	socklen_t len = ctl_addr(&sa, instance);
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
		int e = errno;

		close(fd);
		if (e == EADDRINUSE)
			return nx__err(NX_EBUSY, "control socket @nx.%s.ctl is in use", instance);
		return nx__err_sys(NX_EIO, e, "bind @nx.%s.ctl", instance);
	}
	if (listen(fd, 128) != 0) {
		int e = errno;

		close(fd);
		return nx__err_sys(NX_EIO, e, "listen @nx.%s.ctl", instance);
	}
	return fd;
}

int
nx_ctl_connect(const char *instance)
{
	struct sockaddr_un sa;
	socklen_t len = ctl_addr(&sa, instance);
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
		int e = errno;

		close(fd);
		if (e == ECONNREFUSED || e == ENOENT)
			return nx__err(NX_ENOINST, "no nxd listens on @nx.%s.ctl", instance);
		return nx__err_sys(NX_EIO, e, "connect @nx.%s.ctl", instance);
	}
	return fd;
}

int
nx_ctl_peer_cred(int fd, struct nx_peer_cred *cred)
{
	struct ucred uc;
	socklen_t len = sizeof uc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return nx__err_sys(NX_EIO, errno, "SO_PEERCRED");
	cred->pid = uc.pid;
	cred->uid = uc.uid;
	cred->gid = uc.gid;
	return 0;
}

int
nx_ctl_accept(int lfd, struct nx_peer_cred *cred)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int rc;

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return NX_EAGAIN;
		return nx__err_sys(NX_EIO, errno, "accept");
	}
	rc = nx_ctl_peer_cred(fd, cred);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int
nx_ctl_send(int fd, const void *msg, size_t len, int pass_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof cbuf.buf;
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return NX_EAGAIN;
		if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
			return nx__err(NX_ECLOSED, "peer closed the control socket");
		return nx__err_sys(NX_EIO, errno, "sendmsg");
	}
	if ((size_t)n != len)
		return nx__err(NX_EIO, "sendmsg: short write");
	return 0;
}

int
nx_ctl_recv(int fd, void *msg, size_t cap, int *recv_fd, uint64_t timeout_ns)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { .iov_base = msg, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (recv_fd != NULL)
		*recv_fd = -1;
	if (timeout_ns != 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ms = timeout_ns == UINT64_MAX ? -1 : (int)((timeout_ns + 999999) / 1000000);
		int r;

		do
			r = poll(&pfd, 1, ms);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return nx__err(NX_ETIMEDOUT, "no reply on the control socket");
		if (r < 0)
			return nx__err_sys(NX_EIO, errno, "poll");
	}
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof cbuf.buf;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	/* A peer that closed with our message unread resets the socket; what
	 * it sent before (its reason, say) is still queued behind the error. */
	if (n < 0 && errno == ECONNRESET) {
		mh.msg_controllen = sizeof cbuf.buf;
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return NX_EAGAIN;
		if (errno == ECONNRESET)
			return nx__err(NX_ECLOSED, "peer closed the control socket");
		return nx__err_sys(NX_EIO, errno, "recvmsg");
	}
	/* Take every passed fd so none leaks, keep the first. */
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (k = 0; k < nfd; k++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
				if (recv_fd != NULL && *recv_fd < 0)
					*recv_fd = f;
				else
					close(f);
			}
		}
	}
	if (n == 0)
		return nx__err(NX_ECLOSED, "peer closed the control socket");
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (recv_fd != NULL && *recv_fd >= 0) {
			close(*recv_fd);
			*recv_fd = -1;
		}
		return nx__err(NX_EPROTO, "control message truncated");
	}
	return (int)n;
}
