/* Threads, pinning, real-time priority. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../nx_platform.h"

struct nx_thread {
	pthread_t th;
};

int
nx__thread_pin_self(int cpu)
{
	cpu_set_t set;
	int rc;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return nx__err(NX_EINVAL, "cpu %d out of range", cpu);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (rc != 0)
		return nx__err_sys(NX_EIO, rc, "pin to cpu %d", cpu);
	return 0;
}

int
nx__thread_create(struct nx_thread **out, const char *name, int cpu, nx_thread_fn fn, void *arg)
{
	struct nx_thread *t;
	pthread_attr_t attr;
	cpu_set_t set;
	int rc;

	if (cpu >= CPU_SETSIZE)
		return nx__err(NX_EINVAL, "cpu %d out of range", cpu);
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return nx__err(NX_ENOMEM, "thread %s", name);
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		/* Pinned from its first instruction: no first-touch on a wrong node. */
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	}
	/* The new thread starts with every signal blocked: signals are the
	 * control thread's business (signalfd), never a worker's. */
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&t->th, &attr, fn, arg);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(t);
		return nx__err_sys(NX_EIO, rc, "start thread %s on cpu %d", name, cpu);
	}
	if (name != NULL) {
		char n[16];

		strncpy(n, name, sizeof n - 1);
		n[sizeof n - 1] = '\0';
		pthread_setname_np(t->th, n);
	}
	*out = t;
	return 0;
}

int
nx__thread_join(struct nx_thread *t)
{
	int rc;

	if (t == NULL)
		return NX_EINVAL;
	rc = pthread_join(t->th, NULL);
	free(t);
	return rc == 0 ? 0 : NX_EIO;
}

int32_t
nx__thread_tid(void)
{
	return (int32_t)syscall(SYS_gettid);
}

void
nx__thread_yield(void)
{
	sched_yield();
}

int
nx__thread_set_rt(int prio)
{
	struct sched_param sp = { .sched_priority = prio };
	int rc;

	rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (rc == EPERM)
		return nx__err(NX_EPERM, "SCHED_FIFO %d: not permitted (needs CAP_SYS_NICE or an rtprio limit)", prio);
	if (rc != 0)
		return nx__err_sys(NX_EIO, rc, "SCHED_FIFO %d", prio);
	return 0;
}
