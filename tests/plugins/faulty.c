/*
 * A stage that misbehaves on demand, for the fault-containment tests:
 *   "segv"  writes through a null pointer
 *   "fpe"   divides by zero
 *   "slow"  spins slow_us microseconds (parameter, default 1000), then passes
 *   "fail"  returns NX_ESTAGE
 * anything else passes through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nx/nx_stage.h>

struct faulty {
	uint64_t slow_ns;
};

static int
faulty_init(void **state, const struct nx_stage_conf *conf)
{
	struct faulty *f = *state;

	f->slow_ns = strtoull(nx_stage_conf_get(conf, "slow_us", "1000"), NULL, 10) * 1000;
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
is(const struct nx_msg *m, const char *word)
{
	size_t n = strlen(word);

	return m->in_len == n && memcmp(m->in, word, n) == 0;
}

static int
faulty_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct faulty *f = state;

	(void)ctx;
	/* Real faults, in assembly: the sanitizer builds would stop a C null
	 * store or a C division by zero before the CPU faulted. */
	if (is(m, "segv")) {
#if defined(__x86_64__)
		__asm__ volatile("movl $1, (%0)" : : "r"((long)8) : "memory");
#else
		*(volatile int *)8 = 1;
#endif
	} else if (is(m, "fpe")) {
#if defined(__x86_64__)
		__asm__ volatile("xorl %%edx, %%edx\n\tmovl $1, %%eax\n\txorl %%ecx, %%ecx\n\tdivl %%ecx"
				 : : : "eax", "ecx", "edx");
#else
		volatile int zero = 0, one = 1;

		return one / zero;
#endif
	} else if (is(m, "slow")) {
		uint64_t t0 = now_ns();

		while (now_ns() - t0 < f->slow_ns)
			;
	} else if (is(m, "fail")) {
		return NX_ESTAGE;
	}
	return NX_STAGE_PASS;
}

static const struct nx_stage_ops faulty_ops = {
	.abi = NX_STAGE_ABI,
	.name = "faulty",
	.version = 1,
	.description = "faults, fails or spins on demand (tests)",
	.init = faulty_init,
	.process = faulty_process,
	.state_bytes = sizeof(struct faulty),
};

NX_PLUGIN("faulty", &faulty_ops);
