/*
 * Control transport: UNIX seqpacket sockets at a path in the runtime
 * directory, <dir>/<instance>.ctl, with <dir>/<instance>.lock beside it.
 *
 * Why a path and not an abstract name (which vanishes with its holder,
 * and which this transport used before): an abstract name has no owner
 * and no permissions, so any uid could bind an instance's name first and
 * pass for its nxd, and it belongs to one network namespace, so a client
 * in a container with its own could never reach it. A path's directory
 * has an owner: the runtime directory (default /run/nexus for root, what
 * systemd's RuntimeDirectory=nexus makes) is writable only by nxd's uid,
 * so only that uid can have made the socket in it, and a client checks
 * exactly that before it connects: the directory and every one above it
 * trusted (owned by root, the client's own uid or the one it is told to
 * trust, writable by no one else), the socket owned by a trusted uid, and
 * the listener running as the socket's owner (SO_PEERCRED). A container
 * that has the directory bind-mounted reaches nxd whatever its network
 * namespace.
 *
 * The lock: nxd holds flock(LOCK_EX) on <instance>.lock for its life; the
 * kernel releases it however nxd dies, so a restarted nxd takes over at
 * once, removing the socket its predecessor left, and a second nxd on a
 * live instance is refused. A clean stop unlinks both while it holds the
 * lock; whoever locks checks that the file it locked is still the one the
 * name gives, or tries again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../nx_platform.h"

static char runtime_dir_set[NX_RUNTIME_DIR_MAX + 1];
static char listen_dir[NX_RUNTIME_DIR_MAX + 1]; /* where nx__ctl_listen took the instance */

int
nx__runtime_dir_set(const char *dir)
{
	size_t n = dir != NULL ? strlen(dir) : 0;

	if (n == 0 || dir[0] != '/' || n > NX_RUNTIME_DIR_MAX)
		return nx__err(NX_EINVAL, "runtime directory '%s': an absolute path of at most %d "
			       "bytes", dir != NULL ? dir : "", NX_RUNTIME_DIR_MAX);
	memcpy(runtime_dir_set, dir, n + 1);
	return 0;
}

#define NX_RUNTIME_SYSTEM "/run/nexus"

/* The directory, for instance (NULL: where this process would serve). */
static int
runtime_dir(char *buf, size_t len, const char *instance)
{
	const char *e = getenv("NX_RUNTIME_DIR"), *x = getenv("XDG_RUNTIME_DIR");
	char probe[160];
	struct stat st;
	int n;

	if (instance != NULL)
		snprintf(probe, sizeof probe, NX_RUNTIME_SYSTEM "/%s.ctl", instance);
	if (runtime_dir_set[0] != '\0')
		n = snprintf(buf, len, "%s", runtime_dir_set);
	else if (e != NULL && e[0] != '\0')
		n = snprintf(buf, len, "%s", e);
	else if (geteuid() == 0 || access(NX_RUNTIME_SYSTEM, W_OK) == 0 ||
		 (instance != NULL && lstat(probe, &st) == 0))
		/* the system's (root's nxd, or a service's RuntimeDirectory=),
		 * for a client wherever its instance is served from there */
		n = snprintf(buf, len, NX_RUNTIME_SYSTEM);
	else if (x != NULL && x[0] == '/')
		n = snprintf(buf, len, "%s/nexus", x);
	else
		n = snprintf(buf, len, "/tmp/nexus-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len || buf[0] != '/' || n > NX_RUNTIME_DIR_MAX)
		return nx__err(NX_EINVAL, "runtime directory '%s' (NX_RUNTIME_DIR): not an "
			       "absolute path short enough for a socket's address", buf);
	return 0;
}

int
nx__runtime_dir(char *buf, size_t len)
{
	return runtime_dir(buf, len, NULL);
}

int
nx__ctl_path(char *buf, size_t len, const char *instance)
{
	char dir[NX_RUNTIME_DIR_MAX + 1];
	int rc = runtime_dir(dir, sizeof dir, instance);

	if (rc < 0)
		return rc;
	snprintf(buf, len, "%s/%s.ctl", dir, instance);
	return 0;
}

static socklen_t
ctl_addr(struct sockaddr_un *sa, const char *dir, const char *instance)
{
	int n;

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s.ctl", dir, instance);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
}

/* The uid a client trusts besides root and its own: NX_TRUST_UID. */
static int64_t
trusted_uid(void)
{
	const char *e = getenv("NX_TRUST_UID");
	char *end;
	unsigned long v;

	if (e == NULL || e[0] < '0' || e[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(e, &end, 10);
	return *end == '\0' && errno == 0 && v < 0xffffffffu ? (int64_t)v : -1;
}

bool
nx__uid_trusted(uint32_t uid)
{
	return uid == 0 || uid == geteuid() || (int64_t)uid == trusted_uid();
}

/* Take the instance's lock in dfd. @return fd, NX_EBUSY, NX_EPERM, NX_EIO */
static int
take_lock(int dfd, const char *dir, const char *instance)
{
	char name[NX_CTL_NAME_MAX + 8];
	unsigned tries;

	snprintf(name, sizeof name, "%s.lock", instance);
	for (tries = 0; tries < 64; tries++) {
		struct stat st, now;
		int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
				0600);

		if (fd < 0) {
			int e = errno;

			if (e == EACCES)
				return nx__err_sys(NX_EPERM, e, "lock %s/%s: uid %u may not create "
						   "files in %s", dir, name, (unsigned)geteuid(), dir);
			return nx__err_sys(e == ELOOP ? NX_EPERM : NX_EIO, e, "lock %s/%s", dir,
					   name);
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
			close(fd);
			return nx__err(NX_EPERM, "%s/%s belongs to uid %u, not to uid %u: another "
				       "user made it; refusing the instance", dir, name,
				       (unsigned)st.st_uid, (unsigned)geteuid());
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			close(fd);
			if (e == EWOULDBLOCK)
				return NX_EBUSY;
			return nx__err_sys(NX_EIO, e, "flock %s/%s", dir, name);
		}
		if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
		    now.st_ino == st.st_ino)
			return fd;
		close(fd); /* unlinked by the nxd that stopped meanwhile: again */
	}
	return nx__err(NX_EBUSY, "lock %s/%s: replaced under us 64 times", dir, name);
}

int
nx__ctl_listen(const char *instance, int *lock_fd)
{
	char dir[NX_RUNTIME_DIR_MAX + 1], name[NX_CTL_NAME_MAX + 8];
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int dfd, lfd, fd, rc;

	*lock_fd = -1;
	rc = nx__runtime_dir(dir, sizeof dir);
	if (rc < 0)
		return rc;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return nx__err_sys(errno == EACCES ? NX_EPERM : NX_EIO, errno,
				   "create the runtime directory %s (give another with "
				   "--runtime-dir or NX_RUNTIME_DIR, or have systemd's "
				   "RuntimeDirectory= make it)", dir);
	dfd = nx__dir_open(dir, -1, "runtime directory", NULL);
	if (dfd < 0)
		return dfd;
	lfd = take_lock(dfd, dir, instance);
	if (lfd < 0) {
		close(dfd);
		return lfd;
	}
	/* what a dead predecessor left: ours to remove, nobody else's */
	snprintf(name, sizeof name, "%s.ctl", instance);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (st.st_uid != geteuid() || !S_ISSOCK(st.st_mode)) {
			close(lfd);
			close(dfd);
			return nx__err(NX_EPERM, "%s/%s belongs to uid %u (%s), not to uid %u: "
				       "another user made it; refusing the instance", dir, name,
				       (unsigned)st.st_uid, S_ISSOCK(st.st_mode) ? "a socket"
				       : "not a socket", (unsigned)geteuid());
		}
		unlinkat(dfd, name, 0);
	}
	len = ctl_addr(&sa, dir, instance);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = nx__err_sys(NX_EIO, errno, "socket");
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
		rc = nx__err_sys(NX_EIO, errno, "bind %s", sa.sun_path);
		goto fail;
	}
	/* anyone may connect: nxd checks every peer's credentials */
	if (fchmodat(dfd, name, 0666, 0) != 0 || listen(fd, 128) != 0) {
		rc = nx__err_sys(NX_EIO, errno, "listen %s", sa.sun_path);
		unlinkat(dfd, name, 0);
		goto fail;
	}
	close(dfd);
	snprintf(listen_dir, sizeof listen_dir, "%s", dir);
	*lock_fd = lfd;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	close(lfd);
	close(dfd);
	return rc;
}

void
nx__ctl_unlisten(const char *instance, int fd, int lock_fd)
{
	char dir[NX_RUNTIME_DIR_MAX + 1], path[PATH_MAX];

	if (fd >= 0)
		close(fd);
	if (lock_fd < 0)
		return;
	/* still holding the lock: nobody else can have made these since */
	snprintf(dir, sizeof dir, "%s", listen_dir);
	if (dir[0] == '/') {
		snprintf(path, sizeof path, "%s/%s.ctl", dir, instance);
		unlink(path);
		snprintf(path, sizeof path, "%s/%s.lock", dir, instance);
		unlink(path);
	}
	close(lock_fd);
}

int
nx__ctl_connect(const char *instance)
{
	char dir[NX_RUNTIME_DIR_MAX + 1], name[NX_CTL_NAME_MAX + 8];
	const int64_t also = trusted_uid();
	struct nx_peer_cred cred;
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int dfd, fd, rc;

	rc = runtime_dir(dir, sizeof dir, instance);
	if (rc < 0)
		return rc;
	dfd = nx__dir_open(dir, also, "runtime directory", NULL);
	if (dfd < 0) {
		if (dfd == NX_ENOENT)
			return nx__err(NX_ENOINST, "no nxd serves instance '%s': no runtime directory "
				       "%s", instance, dir);
		return dfd;
	}
	snprintf(name, sizeof name, "%s.ctl", instance);
	rc = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	if (rc != 0)
		return nx__err(NX_ENOINST, "no nxd serves instance '%s' (no %s/%s)", instance, dir,
			       name);
	if (!S_ISSOCK(st.st_mode))
		return nx__err(NX_EPERM, "%s/%s is not a socket: refusing it", dir, name);
	if (!nx__uid_trusted(st.st_uid))
		return nx__err(NX_EPERM, "%s/%s belongs to uid %u, which this client does not "
			       "trust (root, its own uid %u%s): set NX_TRUST_UID=%u to trust it", dir,
			       name, (unsigned)st.st_uid, (unsigned)geteuid(),
			       also >= 0 ? " and NX_TRUST_UID" : "", (unsigned)st.st_uid);
	len = ctl_addr(&sa, dir, instance);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
		int e = errno;

		close(fd);
		if (e == ECONNREFUSED || e == ENOENT)
			return nx__err(NX_ENOINST, "no nxd listens on %s", sa.sun_path);
		if (e == EACCES)
			return nx__err_sys(NX_EPERM, e, "connect %s", sa.sun_path);
		return nx__err_sys(NX_EIO, e, "connect %s", sa.sun_path);
	}
	/* the listener runs as the socket's owner: only it could bind there */
	rc = nx__ctl_peer_cred(fd, &cred);
	if (rc == 0 && cred.uid != st.st_uid && cred.uid != 0)
		rc = nx__err(NX_EPERM, "the process on %s runs as uid %u, but the socket belongs "
			     "to uid %u: refusing to talk to it", sa.sun_path, cred.uid,
			     (unsigned)st.st_uid);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int
nx__ctl_peer_cred(int fd, struct nx_peer_cred *cred)
{
	struct ucred uc;
	socklen_t len = sizeof uc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return nx__err_sys(NX_EIO, errno, "SO_PEERCRED");
	/* 0 when the peer is in a PID namespace this one cannot see (a
	 * sibling container's): never a process to signal or look up */
	cred->pid = uc.pid > 0 ? uc.pid : 0;
	cred->uid = uc.uid;
	cred->gid = uc.gid;
	return 0;
}

int
nx__fd_ident(int fd, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return nx__err_sys(NX_EIO, errno, "fstat");
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

uint64_t
nx__pid_ns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

bool
nx__ctl_peer_in_group(int fd, const struct nx_peer_cred *cred, uint32_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	size_t i;

	if (cred->gid == gid)
		return true;
	/* supplementary groups, as the peer had them when it connected */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
		return false;
	for (i = 0; i < len / sizeof groups[0]; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int
nx__ctl_accept(int lfd, struct nx_peer_cred *cred)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int rc;

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return NX_EAGAIN;
		return nx__err_sys(NX_EIO, errno, "accept");
	}
	rc = nx__ctl_peer_cred(fd, cred);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int
nx__ctl_send(int fd, const void *msg, size_t len, int pass_fd)
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
nx__ctl_recv(int fd, void *msg, size_t cap, int *recv_fd, uint64_t timeout_ns)
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
