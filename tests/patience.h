/*
 * How long a test waits for something that must come: 60 s, five times
 * that in a sanitized build (NX_SAN set). Never a measure of speed. The
 * integration harness's nxt_sanitized, nxt_budget_ns and nxt_patience_ns
 * are these; unit and stress tests, which run a whole instance in one
 * process without the harness, include this alone.
 */
#ifndef NX_TESTS_PATIENCE_H
#define NX_TESTS_PATIENCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static inline bool
tests_sanitized(void)
{
	const char *san = getenv("NX_SAN");

	return san != NULL && san[0] != '\0';
}

/* a time budget, scaled for slow (sanitized) builds */
static inline uint64_t
tests_budget_ns(uint64_t ns)
{
	return tests_sanitized() ? ns * 5 : ns;
}

static inline uint64_t
patience_ns(void)
{
	return tests_budget_ns(60000000000ull);
}

#endif
