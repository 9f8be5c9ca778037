/* Life locks (life.h): robust mutexes that the kernel lets go when a thread dies. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "platform/nx_platform.h"
#include "shm/life.h"
#include "shm/shm_internal.h"

int
nx_life_create(struct nx_life **out)
{
	pthread_mutexattr_t a;
	struct nx_life *l;
	void *p;
	unsigned i;
	int fd;

	fd = nx_shm_create_anon("nx-life", sizeof *l);
	if (fd < 0)
		return fd;
	if (nx_shm_map(&p, fd, sizeof *l, true) < 0) {
		nx_fd_close(fd);
		return NX_EIO;
	}
	l = p;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	for (i = 0; i < NX_LIFE_LOCKS; i++)
		pthread_mutex_init(&l->lock[i], &a);
	pthread_mutexattr_destroy(&a);
	*out = l;
	return fd;
}

int
nx_life_map(struct nx_life **out, int fd)
{
	void *p;

	if (nx_shm_size(fd) != (int64_t)sizeof(struct nx_life))
		return nx__err(NX_EINVAL, "NX_LIFE_FD %d is not nxwd's life segment", fd);
	if (nx_shm_map(&p, fd, sizeof(struct nx_life), true) < 0)
		return nx__err(NX_EIO, "NX_LIFE_FD %d: cannot map it", fd);
	*out = p;
	return 0;
}

void
nx_life_unmap(struct nx_life *l)
{
	if (l != NULL)
		nx_shm_unmap(l, sizeof *l);
}

/* Lock, taking over from a dead owner. @return 0, 1 (its owner had died), or an errno */
static int
take(pthread_mutex_t *m, const struct timespec *until)
{
	int rc = until != NULL ? pthread_mutex_timedlock(m, until) : pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		return 1;
	}
	return rc;
}

bool
nx_life_hold(struct nx_life *l, unsigned i)
{
	struct timespec until;

	if (i >= NX_LIFE_LOCKS)
		return false;
	/* nxwd's watcher may hold it for a moment (it takes every lock of
	 * the last nxd, then lets them go); never wait on it for long */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	return take(&l->lock[i], &until) <= 1;
}

void
nx_life_release(struct nx_life *l, unsigned i)
{
	if (i < NX_LIFE_LOCKS)
		pthread_mutex_unlock(&l->lock[i]);
}

void
nx_life_arm(struct nx_life *l, uint32_t n, int32_t pid)
{
	__atomic_store_n(&l->nlocks, n, __ATOMIC_RELAXED);
	__atomic_store_n(&l->pid, pid, __ATOMIC_RELAXED);
	__atomic_fetch_add(&l->armed, 1, __ATOMIC_RELEASE);
	nx_futex_wake(&l->armed, 1, true);
}

int
nx_life_watch(struct nx_life *l, uint32_t *seen, uint64_t timeout_ns, int32_t *pid,
	      uint64_t *died_wall_ns)
{
	uint32_t armed = __atomic_load_n(&l->armed, __ATOMIC_ACQUIRE), n, i;
	int died = 0;

	if (armed == *seen) {
		nx_futex_wait(&l->armed, armed, timeout_ns, true);
		armed = __atomic_load_n(&l->armed, __ATOMIC_ACQUIRE);
		if (armed == *seen)
			return -1;
	}
	*seen = armed;
	n = __atomic_load_n(&l->nlocks, __ATOMIC_RELAXED);
	*pid = __atomic_load_n(&l->pid, __ATOMIC_RELAXED);
	if (n > NX_LIFE_LOCKS)
		n = NX_LIFE_LOCKS;
	/* The workers' first: a worker spins on a CPU of its own and dies as
	 * soon as the signal lands; the control thread may share its CPU and
	 * wait for it. The first lock a thread died holding is the notice: no
	 * thread of nxd ends with its lock held unless nxd is dying. */
	for (i = n; i-- > 0;)
		if (take(&l->lock[i], NULL) == 1 && !died) {
			died = 1;
			*died_wall_ns = nx_wallclock_ns();
		}
	for (i = 0; i < n; i++)
		pthread_mutex_unlock(&l->lock[i]);
	return died;
}
