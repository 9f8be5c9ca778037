/* The control thread's event loop (epoll) and signals (signalfd). */
#include <errno.h>
#include <poll.h>
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
nx__evloop_create(struct nx_evloop **out)
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
nx__evloop_destroy(struct nx_evloop *ev)
{
	if (ev == NULL)
		return;
	close(ev->epfd);
	free(ev);
}

int
nx__evloop_add(struct nx_evloop *ev, int fd, uint64_t key)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = key };

	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) != 0)
		return nx__err_sys(NX_EIO, errno, "epoll_ctl add");
	return 0;
}

int
nx__evloop_mod(struct nx_evloop *ev, int fd, uint64_t key, uint32_t want)
{
	struct epoll_event e = { .events = 0, .data.u64 = key };

	/* RDHUP only with IN: a peer that shut its side and reads nothing
	 * would keep it raised while we wait for room (a busy loop); HUP and
	 * ERR are always reported */
	if (want & NX_EV_IN)
		e.events |= EPOLLIN | EPOLLRDHUP;
	if (want & NX_EV_OUT)
		e.events |= EPOLLOUT;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e) != 0)
		return nx__err_sys(NX_EIO, errno, "epoll_ctl mod");
	return 0;
}

int
nx__evloop_del(struct nx_evloop *ev, int fd)
{
	if (epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL) != 0)
		return nx__err_sys(NX_EIO, errno, "epoll_ctl del");
	return 0;
}

int
nx__evloop_wait(struct nx_evloop *ev, uint64_t *keys, uint32_t *flags, int max,
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
			   ((evs[i].events & EPOLLOUT) ? NX_EV_OUT : 0) |
			   ((evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) ? NX_EV_HUP : 0);
	}
	return n;
}

/*
 * SIGTERM and SIGINT on a thread of their own. The control thread may be
 * busy in something it cannot leave (a stage's init or fini, a loader
 * constructor, a worker it joins that is stuck in a stage): a signal
 * read in its own event loop would wait for it. Here the first signal
 * asks the instance to stop (on_stop); if the process has not stopped
 * the guard within the timeout, or a second signal comes, on_timeout
 * records what it can and the process exits, status 1.
 */
struct nx_signal_guard {
	struct nx_thread *thread;
	int sigfd;
	int stopfd;
	uint64_t timeout_ns;
	nx_signal_fn on_stop;
	nx_signal_fn on_timeout;
	void *arg;
};

static int
guard_read_signal(int fd)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof si) != (ssize_t)sizeof si)
		return 0;
	return (int)si.ssi_signo;
}

static void *
guard_main(void *arg)
{
	struct nx_signal_guard *g = arg;
	uint64_t deadline = 0;
	int first = 0;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = g->sigfd, .events = POLLIN },
					 { .fd = g->stopfd, .events = POLLIN } };
		int ms = -1, r, sig;

		if (first != 0) {
			uint64_t now = nx__clock_ns();

			ms = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
		}
		r = poll(pfd, 2, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && (pfd[1].revents & POLLIN))
			return NULL; /* stopped in time */
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			sig = guard_read_signal(g->sigfd);
			if (sig == 0)
				continue;
			if (first == 0) {
				first = sig;
				deadline = nx__clock_ns() + g->timeout_ns;
				/* a backstop for this thread itself: SIGALRM is
				 * blocked nowhere but in nx__thread_create's threads,
				 * and its default action ends the process */
				alarm((unsigned)(g->timeout_ns / 1000000000u) + 5);
				g->on_stop(g->arg, sig);
				continue;
			}
			g->on_timeout(g->arg, sig); /* a second signal: now */
			_exit(1);
		}
		if (first != 0 && nx__clock_ns() >= deadline) {
			g->on_timeout(g->arg, 0);
			_exit(1);
		}
	}
}

int
nx__signal_guard_start(struct nx_signal_guard **out, uint64_t timeout_ns, nx_signal_fn on_stop,
		      nx_signal_fn on_timeout, void *arg)
{
	struct nx_signal_guard *g;
	sigset_t set;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked here; every thread nx__thread_create starts blocks all. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return nx__err(NX_EIO, "block signals");
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return nx__err(NX_ENOMEM, "signal guard");
	g->timeout_ns = timeout_ns;
	g->on_stop = on_stop;
	g->on_timeout = on_timeout;
	g->arg = arg;
	g->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	g->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->sigfd < 0 || g->stopfd < 0) {
		rc = nx__err_sys(NX_EIO, errno, "signalfd");
		goto err;
	}
	rc = nx__thread_create(&g->thread, "nx-signals", -1, guard_main, g);
	if (rc < 0)
		goto err;
	*out = g;
	return 0;
err:
	if (g->sigfd >= 0)
		close(g->sigfd);
	if (g->stopfd >= 0)
		close(g->stopfd);
	free(g);
	return rc;
}

void
nx__signal_guard_stop(struct nx_signal_guard *g)
{
	uint64_t one = 1;

	if (g == NULL)
		return;
	if (write(g->stopfd, &one, sizeof one) < 0)
		return; /* cannot happen on an eventfd below its maximum */
	nx__thread_join(g->thread);
	alarm(0);
	close(g->sigfd);
	close(g->stopfd);
	free(g);
}

const char *
nx__signal_name(int sig)
{
	static __thread char buf[32];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev == NULL)
		return "signal?";
	snprintf(buf, sizeof buf, "SIG%s", abbrev);
	return buf;
}

int
nx__notify_create(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		return nx__err_sys(NX_EIO, errno, "eventfd");
	return fd;
}

void
nx__notify_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof one) < 0)
		return; /* counter saturated: already signalled */
}

void
nx__notify_drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
		;
}
