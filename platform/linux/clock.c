/* Clocks, sleeping, CPU queries, random seeds, process facts. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../nx_platform.h"
#include "nx_sanitizer.h"

void
nx_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* 1 tick = 1 ns until calibrated (exact where ticks are the clock) */
uint64_t nx__tick_mult = 1ull << 32;

void
nx_ticks_calibrate(void)
{
#if defined(__x86_64__)
	uint64_t t0, c0, t1, c1;

	/* The TSC is constant and non-stop on the CPUs nexus targets; where it
	 * is not, busy-time figures are approximate, never the heartbeat. */
	t0 = nx_clock_ns();
	c0 = nx_ticks();
	nx_sleep_ns(10000000);
	t1 = nx_clock_ns();
	c1 = nx_ticks();
	if (c1 > c0 && t1 > t0)
		__atomic_store_n(&nx__tick_mult,
				 (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (c1 - c0)),
				 __ATOMIC_RELAXED);
#endif
}

uint64_t
nx_wallclock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
nx_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? (int)n : 1;
}

int
nx_cpu_current(void)
{
	return sched_getcpu();
}

int32_t
nx_process_id(void)
{
	return (int32_t)getpid();
}

uint32_t
nx_process_uid(void)
{
	return (uint32_t)getuid();
}

bool
nx_process_alive(int32_t pid)
{
	if (pid <= 0)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

uint64_t
nx_process_start_time(int32_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	const char *p;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')' */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	/* field 3 (state) follows; starttime is field 22 */
	for (field = 2; field < 22 && *p != '\0'; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

uint64_t
nx_random_seed(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = nx_wallclock_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

bool
nx_built_with_sanitizer(void)
{
	return NX_TSAN || NX_ASAN;
}
