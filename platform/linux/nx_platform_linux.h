/*
 * Linux inline part of the platform layer: what the data path calls on
 * every loop must not be a function call into libc, let alone a system
 * call. clock_gettime(CLOCK_MONOTONIC) is served by the vDSO.
 */
#ifndef NX_PLATFORM_LINUX_H
#define NX_PLATFORM_LINUX_H

#include <time.h>

static inline uint64_t
nx__clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ticks -> ns: ns = (ticks * nx__tick_mult) >> 32, set by nx__ticks_calibrate() */
extern uint64_t nx__tick_mult;

static inline uint64_t
nx__ticks(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	return nx__clock_ns();
#endif
}

static inline uint64_t
nx__ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * nx__tick_mult) >> 32);
}

static inline uint64_t
nx__ns_to_ticks(uint64_t ns)
{
	return (uint64_t)(((unsigned __int128)ns << 32) / (nx__tick_mult ? nx__tick_mult : 1));
}

/*
 * x86 has PREFETCHW where CPUID 0x80000001 says so in ECX bit 8 (AMD for
 * long, Intel since Broadwell). Compilers emit it for __builtin_prefetch(p,
 * 1) only when built for such a CPU; built for any x86-64, they emit a
 * read prefetch, which brings a line another core wrote shared, and the
 * store after it must ask for the line a second time. So the CPU is asked
 * once, at load (clock.c).
 */
extern bool nx__cpu_prefetchw;

static inline void
nx__prefetch_w(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	if (nx__cpu_prefetchw) {
		__asm__("prefetchw %0" : : "m"(*(const char *)p));
		return;
	}
#endif
	__builtin_prefetch(p, 1);
}

static inline void
nx__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* NX_PLATFORM_LINUX_H */
