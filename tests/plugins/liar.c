/*
 * A test plugin of stages that break their contract: they lie about
 * their output's length, return what they may not, alias their buffers
 * (read their input after writing their output), and fault. nxd answers
 * each with an error (or, for the alias, the right answer: it never gives
 * a stage overlapping buffers) and keeps serving.
 */
#include <stdint.h>
#include <string.h>

#include <nx/nx_stage.h>

static int
overlong(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)ctx;
	m->out_len = m->out_cap + 1; /* wrote nothing, claims more than there is */
	return 0;
}

static int
huge(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)ctx;
	m->out_len = UINT32_MAX;
	return 0;
}

static int
positive(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)m;
	(void)ctx;
	return 7; /* a child index, from a stage that is not a selector */
}

static int
badsel(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)m;
	(void)ctx;
	return 200; /* a selector naming a child that is not there */
}

static int
unknown_code(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)m;
	(void)ctx;
	return -99999; /* no such NX_E* (and not a 16-bit status either) */
}

/* Writes its output while it reads its input: garbled if they overlap. */
static int
aliasup(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)ctx;
	if ((uint64_t)m->in_len + 2 > m->out_cap)
		return NX_EOVERFLOW;
	m->out[0] = '>';
	m->out[1] = '>';
	for (uint32_t i = 0; i < m->in_len; i++) {
		uint8_t c = m->in[i];

		m->out[2 + i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
	}
	m->out_len = m->in_len + 2;
	return 0;
}

/* The faults below are real ones: UBSan builds (which stop at the first
 * report) would otherwise stop nxd at its null or zero check before the
 * instruction faults */
#if defined(__clang__)
#define NOT_UBSAN __attribute__((no_sanitize("undefined", "integer-divide-by-zero")))
#else
#define NOT_UBSAN __attribute__((no_sanitize_undefined))
#endif

static volatile uintptr_t nowhere; /* 0: a load through it faults */

/* a real load through a null pointer */
NOT_UBSAN static int
segv(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	(void)st;
	(void)ctx;
	return *(volatile uint8_t *)(nowhere + m->in_len * 0);
}

/* a real division by zero */
NOT_UBSAN static int
fpe(void *st, struct nx_msg *m, struct nx_ctx *ctx)
{
	volatile int zero = 0, x = (int)m->in_len;

	(void)st;
	(void)ctx;
	return x / zero;
}

#define STAGE(n, f)                                                            \
	static const struct nx_stage_ops n##_ops = {                           \
		.abi = NX_STAGE_ABI, .version = 1, .name = #n, .process = f,   \
	}

STAGE(overlong, overlong);
STAGE(huge, huge);
STAGE(positive, positive);
STAGE(badsel, badsel);
STAGE(unknown, unknown_code);
STAGE(aliasup, aliasup);
STAGE(segv, segv);
STAGE(fpe, fpe);

NX_PLUGIN("liar", &overlong_ops, &huge_ops, &positive_ops, &badsel_ops, &unknown_ops,
	  &aliasup_ops, &segv_ops, &fpe_ops);
