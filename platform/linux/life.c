/*
 * Life locks on Linux: robust, process-shared pthread mutexes, in the room
 * shm/abi/life.h keeps for each. A thread that dies holding one has it
 * released by the kernel at the start of its exit (the robust list), with
 * the owner-died mark the next taker sees (EOWNERDEAD).
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <time.h>

#include "../nx_platform.h"
#include "shm/abi/life.h"

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(struct nx_life_lock),
	       "a pthread mutex fits a life lock's room");
_Static_assert(alignof(pthread_mutex_t) <= alignof(struct nx_life_lock),
	       "a life lock's room is aligned for a pthread mutex");

static pthread_mutex_t *
mutex(struct nx_life_lock *l)
{
	return (pthread_mutex_t *)(void *)l;
}

void
nx__life_lock_init(struct nx_life_lock *l)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(mutex(l), &a);
	pthread_mutexattr_destroy(&a);
}

int
nx__life_lock_take(struct nx_life_lock *l, uint64_t timeout_ns)
{
	struct timespec until;
	int rc;

	if (timeout_ns != 0) {
		/* pthread_mutex_timedlock measures against CLOCK_REALTIME */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(timeout_ns / 1000000000u);
		until.tv_nsec += (long)(timeout_ns % 1000000000u);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_timedlock(mutex(l), &until);
	} else {
		rc = pthread_mutex_lock(mutex(l));
	}
	if (rc == 0)
		return 0;
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(mutex(l));
		return 1;
	}
	return rc == ETIMEDOUT ? NX_ETIMEDOUT : NX_EIO;
}

void
nx__life_lock_give(struct nx_life_lock *l)
{
	pthread_mutex_unlock(mutex(l));
}
