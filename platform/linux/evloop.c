/* The control thread's event loop (epoll) and signals (signalfd). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../nx_platform.h"

struct nx_evloop {
	int epfd;
};

int
nx_evloop_create(struct nx_evloop **out)
{
	struct nx_evloop *ev = calloc(1, sizeof *ev);

	if (ev == NULL)
		return nx__err(NX_ENOMEM, "event loop");
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		int e = errno;

		free(ev);
		return nx__err_sys(NX_EIO, e, "epoll_create1");
	}
	*out = ev;
	return 0;
}

void
nx_evloop_destroy(struct nx_evloop *ev)
{
	if (ev == NULL)
		return;
	close(ev->epfd);
	free(ev);
}

int
nx_evloop_add(struct nx_evloop *ev, int fd, uint64_t key)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = key };

	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) != 0)
		return nx__err_sys(NX_EIO, errno, "epoll_ctl add");
	return 0;
}

int
nx_evloop_del(struct nx_evloop *ev, int fd)
{
	if (epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL) != 0)
		return nx__err_sys(NX_EIO, errno, "epoll_ctl del");
	return 0;
}

int
nx_evloop_wait(struct nx_evloop *ev, uint64_t *keys, uint32_t *flags, int max,
	       uint64_t timeout_ns)
{
	struct epoll_event evs[64];
	int i, n, ms;

	if (max > 64)
		max = 64;
	ms = timeout_ns == UINT64_MAX ? -1 : (int)((timeout_ns + 999999) / 1000000);
	n = epoll_wait(ev->epfd, evs, max, ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return nx__err_sys(NX_EIO, errno, "epoll_wait");
	}
	for (i = 0; i < n; i++) {
		keys[i] = evs[i].data.u64;
		flags[i] = ((evs[i].events & EPOLLIN) ? NX_EV_IN : 0) |
			   ((evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) ? NX_EV_HUP : 0);
	}
	return n;
}

int
nx_signal_fd(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked in every thread created after this call. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return nx__err(NX_EIO, "block signals");
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "signalfd");
	return fd;
}

int
nx_signal_read(int fd)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof si) != (ssize_t)sizeof si)
		return 0;
	return (int)si.ssi_signo;
}

const char *
nx_signal_name(int sig)
{
	static __thread char buf[32];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev == NULL)
		return "signal?";
	snprintf(buf, sizeof buf, "SIG%s", abbrev);
	return buf;
}

int
nx_notify_create(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "eventfd");
	return fd;
}

void
nx_notify_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof one) < 0)
		return; /* counter saturated: already signalled */
}

void
nx_notify_drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
		;
}
