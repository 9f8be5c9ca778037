/*
 * Fault containment: a fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL) raised by
 * code running inside nx__fault_call, on that thread, returns there as an
 * error instead of killing the process.
 *
 * How: the handler is installed once for the process, with SA_NODEFER
 * (the signal is not blocked while it runs, so leaving it by siglongjmp
 * leaves nothing blocked) and SA_ONSTACK (a stack overflow still has a
 * stack to run the handler on). nx__fault_call arms a thread-local jump
 * buffer with sigsetjmp(env, 0): no signal mask is saved, so arming costs
 * no system call. A fault anywhere else finds the buffer unarmed: the
 * handler puts back the default action and returns, the instruction
 * faults again, and the process dies with its core dump as it would
 * have without us.
 *
 * What this cannot promise: memory the code wrote before it faulted stays
 * written (its state may be corrupt: that is why the caller quarantines
 * it); locks it held stay held; a fault in another thread, an abort(), an
 * infinite loop or a corrupted heap are not contained (the watchdog
 * restarts nxd for those).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "platform/nx_platform.h"

static __thread sigjmp_buf *fault_env;
static __thread volatile sig_atomic_t fault_armed;
static __thread void *alt_stack;

static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };

static void
on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (fault_armed) {
		fault_armed = 0;
		siglongjmp(*fault_env, sig);
	}
	/* not ours: the default action, when the instruction runs again */
	signal(sig, SIG_DFL);
}

int
nx__fault_install(void)
{
	struct sigaction sa;
	unsigned i;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof fault_signals / sizeof fault_signals[0]; i++)
		if (sigaction(fault_signals[i], &sa, NULL) != 0)
			return nx__err_sys(NX_EIO, errno, "sigaction(%d)", fault_signals[i]);
	return 0;
}

int
nx__fault_thread_init(void)
{
	sigset_t faults;
	stack_t ss;
	unsigned i;

	/* Threads start with every signal blocked (nx__thread_create); a fault
	 * that is blocked kills the process without a handler: unblock them. */
	sigemptyset(&faults);
	for (i = 0; i < sizeof fault_signals / sizeof fault_signals[0]; i++)
		sigaddset(&faults, fault_signals[i]);
	pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
	if (alt_stack != NULL)
		return 0;
	ss.ss_size = 64 * 1024;
	ss.ss_sp = alt_stack = malloc(ss.ss_size);
	ss.ss_flags = 0;
	if (ss.ss_sp == NULL)
		return nx__err(NX_ENOMEM, "alternate signal stack");
	if (sigaltstack(&ss, NULL) != 0) {
		free(alt_stack);
		alt_stack = NULL;
		return nx__err_sys(NX_EIO, errno, "sigaltstack");
	}
	return 0;
}

void
nx__fault_thread_fini(void)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (alt_stack == NULL)
		return;
	sigaltstack(&ss, NULL);
	free(alt_stack);
	alt_stack = NULL;
}

int
nx__fault_call(int (*fn)(void *), void *arg, int *sig)
{
	sigjmp_buf env;
	sigjmp_buf *volatile saved = fault_env;
	volatile int rc = 0;
	int s;

	*sig = 0;
	s = sigsetjmp(env, 0);
	if (s != 0) {
		fault_env = saved;
		*sig = s;
		return 0;
	}
	fault_env = &env;
	fault_armed = 1;
	rc = fn(arg);
	fault_armed = 0;
	fault_env = saved;
	return rc;
}
