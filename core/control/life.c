/*
 * Life locks (life.h): who holds which lock of nxwd's segment, arming it,
 * and watching it. The locks themselves are the platform's
 * (nx__life_lock_*), which the system lets go when a holder dies.
 */
#include <ck_pr.h>

#include "core/control/life.h"
#include "platform/nx_platform.h"

#define LIFE_HOLD_WAIT_NS 1000000000ull

int
nx__life_create(struct nx_life **out)
{
	struct nx_life *l;
	void *p;
	unsigned i;
	int fd;

	fd = nx__shm_create_anon("nx-life", sizeof *l);
	if (fd < 0)
		return fd;
	if (nx__shm_map(&p, fd, sizeof *l, true) < 0) {
		nx__fd_close(fd);
		return NX_EIO;
	}
	l = p;
	for (i = 0; i < NX_LIFE_LOCKS; i++)
		nx__life_lock_init(&l->lock[i]);
	*out = l;
	return fd;
}

int
nx__life_map(struct nx_life **out, int fd)
{
	void *p;

	if (nx__shm_size(fd) != (int64_t)sizeof(struct nx_life))
		return nx__err(NX_EINVAL, "NX_LIFE_FD %d is not nxwd's life segment", fd);
	if (nx__shm_map(&p, fd, sizeof(struct nx_life), true) < 0)
		return nx__err(NX_EIO, "NX_LIFE_FD %d: cannot map it", fd);
	*out = p;
	return 0;
}

void
nx__life_unmap(struct nx_life *l)
{
	if (l != NULL)
		nx__shm_unmap(l, sizeof *l);
}

bool
nx__life_hold(struct nx_life *l, unsigned i)
{
	if (i >= NX_LIFE_LOCKS)
		return false;
	/* nxwd's watcher may hold it for a moment (it takes every lock of
	 * the last nxd, then lets them go); never wait on it for long */
	return nx__life_lock_take(&l->lock[i], LIFE_HOLD_WAIT_NS) >= 0;
}

void
nx__life_release(struct nx_life *l, unsigned i)
{
	if (i < NX_LIFE_LOCKS)
		nx__life_lock_give(&l->lock[i]);
}

void
nx__life_arm(struct nx_life *l, uint32_t n, int32_t pid)
{
	ck_pr_store_32(&l->nlocks, n);
	ck_pr_store_int(&l->pid, pid);
	/* Pairs with the fence in nx__life_watch after it loads armed: a
	 * watcher that sees the new arming sees its count and pid. */
	ck_pr_fence_store();
	ck_pr_inc_32(&l->armed);
	nx__futex_wake(&l->armed, 1, true);
}

int
nx__life_watch(struct nx_life *l, uint32_t *seen, uint64_t timeout_ns, int32_t *pid,
	      uint64_t *died_wall_ns)
{
	uint32_t armed = ck_pr_load_32(&l->armed), n, i;
	int died = 0;

	if (armed == *seen) {
		nx__futex_wait(&l->armed, armed, timeout_ns, true);
		armed = ck_pr_load_32(&l->armed);
		if (armed == *seen)
			return -1;
	}
	ck_pr_fence_load(); /* pairs with the fence in nx__life_arm */
	*seen = armed;
	n = ck_pr_load_32(&l->nlocks);
	*pid = ck_pr_load_int(&l->pid);
	if (n > NX_LIFE_LOCKS)
		n = NX_LIFE_LOCKS;
	/* The workers' first: a worker spins on a CPU of its own and dies as
	 * soon as the signal lands; the control thread may share its CPU and
	 * wait for it. The first lock a thread died holding is the notice: no
	 * thread of nxd ends with its lock held unless nxd is dying. */
	for (i = n; i-- > 0;)
		if (nx__life_lock_take(&l->lock[i], 0) == 1 && !died) {
			died = 1;
			*died_wall_ns = nx__wallclock_ns();
		}
	for (i = 0; i < n; i++)
		nx__life_lock_give(&l->lock[i]);
	return died;
}
