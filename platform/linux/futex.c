/*
 * Futex wait and wake, across processes. FUTEX_WAKE needs only read
 * access to the word, so a client can wake a worker through the health
 * segment it maps read-only, and a worker sleeps on many channels' words
 * at once with futex_waitv (Linux 5.16).
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../nx_platform.h"

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE FUTEX_PRIVATE_FLAG
#endif
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

int
nx__futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns, bool shared)
{
	struct timespec ts, *tsp = NULL;
	int op = FUTEX_WAIT | (shared ? 0 : FUTEX_PRIVATE_FLAG);
	long rc;

	if (timeout_ns != 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tsp = &ts;
	}
	rc = syscall(SYS_futex, word, op, expected, tsp, NULL, 0);
	if (rc != 0 && errno == ETIMEDOUT)
		return NX_ETIMEDOUT;
	return 0;
}

void
nx__futex_wake(const uint32_t *word, int n, bool shared)
{
	int op = FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG);

	syscall(SYS_futex, word, op, n, NULL, NULL, 0);
}

static int waitv_unsupported;

int
nx__futex_waitv(const struct nx_futex_waiter *w, unsigned n, uint64_t timeout_ns)
{
	struct futex_waitv v[NX_FUTEX_WAITV_MAX];
	struct timespec ts, *tsp = NULL;
	unsigned i;
	long rc;

	if (n == 0 || n > NX_FUTEX_WAITV_MAX || __atomic_load_n(&waitv_unsupported, __ATOMIC_RELAXED)) {
		/* No words to wait on (or no futex_waitv): a bounded nap. */
		nx__sleep_ns(timeout_ns != 0 && timeout_ns < 50000 ? timeout_ns : 50000);
		return 0;
	}
	if (n == 1)
		return nx__futex_wait(w[0].word, w[0].expected, timeout_ns, w[0].shared);
	for (i = 0; i < n; i++) {
		v[i].val = w[i].expected;
		v[i].uaddr = (uint64_t)(uintptr_t)w[i].word;
		v[i].flags = FUTEX2_SIZE_U32 | (w[i].shared ? 0 : FUTEX2_PRIVATE);
		v[i].__reserved = 0;
	}
	if (timeout_ns != 0) {
		/* futex_waitv takes an absolute timeout on the given clock */
		uint64_t abs = nx__clock_ns() + timeout_ns;

		ts.tv_sec = (time_t)(abs / 1000000000ull);
		ts.tv_nsec = (long)(abs % 1000000000ull);
		tsp = &ts;
	}
	rc = syscall(SYS_futex_waitv, v, n, 0, tsp, CLOCK_MONOTONIC);
	if (rc < 0 && errno == ENOSYS) {
		__atomic_store_n(&waitv_unsupported, 1, __ATOMIC_RELAXED);
		nx__log(NX_LOG_WARN, "futex_waitv unsupported: workers nap 50 us when idle");
		return 0;
	}
	if (rc < 0 && errno == ETIMEDOUT)
		return NX_ETIMEDOUT;
	return 0;
}
