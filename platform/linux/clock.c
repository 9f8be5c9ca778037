/* Clocks, sleeping, CPU queries, random seeds, process facts. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../nx_platform.h"
#include "nx_sanitizer.h"

void
nx__sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

bool nx__cpu_prefetchw;

/* Before main (and when libnx is loaded): does this CPU have PREFETCHW? */
static void __attribute__((constructor))
detect_prefetchw(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;

	if (__get_cpuid(0x80000001u, &a, &b, &c, &d))
		nx__cpu_prefetchw = (c >> 8) & 1u;
#endif
}

/* 1 tick = 1 ns until calibrated (exact where ticks are the clock) */
uint64_t nx__tick_mult = 1ull << 32;

void
nx__ticks_calibrate(void)
{
#if defined(__x86_64__)
	uint64_t t0, c0, t1, c1;

	/* The TSC is constant and non-stop on the CPUs nexus targets; where it
	 * is not, busy-time figures are approximate, never the heartbeat. */
	/* 2 ms of spinning: the clocks' read errors (tens of ns) are 1e-5 of
	 * it, and a restarting nxd cannot spare the 10 ms a sleep would take. */
	t0 = nx__clock_ns();
	c0 = nx__ticks();
	do {
		nx__cpu_relax();
		t1 = nx__clock_ns();
	} while (t1 - t0 < 2000000);
	c1 = nx__ticks();
	if (c1 > c0 && t1 > t0)
		__atomic_store_n(&nx__tick_mult,
				 (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (c1 - c0)),
				 __ATOMIC_RELAXED);
#endif
}

uint64_t
nx__ticks_calibration(void)
{
	return __atomic_load_n(&nx__tick_mult, __ATOMIC_RELAXED);
}

bool
nx__ticks_adopt(uint64_t calibration)
{
	if (calibration < (1ull << 32) / 20 || calibration > 20 * (1ull << 32))
		return false;
	__atomic_store_n(&nx__tick_mult, calibration, __ATOMIC_RELAXED);
	return true;
}

uint64_t
nx__wallclock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
nx__cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? (int)n : 1;
}

int
nx__cpu_current(void)
{
	return sched_getcpu();
}

int32_t
nx__process_id(void)
{
	return (int32_t)getpid();
}

int
nx__process_set_dumpable(bool on)
{
	if (prctl(PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0) != 0)
		return nx__err_sys(NX_EIO, errno, "prctl(PR_SET_DUMPABLE)");
	return 0;
}

uint32_t
nx__process_uid(void)
{
	return (uint32_t)getuid();
}

bool
nx__process_alive(int32_t pid)
{
	if (pid <= 0)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Fields of /proc/<pid>/stat from field 3 (state) on, or NULL. comm
 * (field 2) may hold spaces and parentheses: the rest follows the last ')'. */
static const char *
stat_fields(int32_t pid, char *buf, size_t len)
{
	char path[64];
	const char *p;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return NULL; /* 0: a process nxd cannot see; never /proc/0 */
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p + 2 : NULL;
}

uint64_t
nx__process_start_time(int32_t pid)
{
	unsigned long long start = 0;
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof buf);

	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime */
	if (p == NULL || sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				"%*d %*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

uint64_t
nx__process_cpu_ns(int32_t pid)
{
	unsigned long long ut = 0, st = 0;
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof buf);

	if (p == NULL || sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
				&st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

uint64_t
nx__random_seed(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = nx__wallclock_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

bool
nx__built_with_sanitizer(void)
{
	return NX_TSAN || NX_ASAN;
}
