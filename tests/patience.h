/*
 * How long a test binary without the integration harness (unit and
 * stress tests running a whole instance in one process) waits for
 * something that must come: 60 s, five times that in a sanitized build,
 * as the harness's nxt_patience_ns. Never a measure of speed.
 */
#ifndef NX_TESTS_PATIENCE_H
#define NX_TESTS_PATIENCE_H

#include <stdint.h>
#include <stdlib.h>

static inline uint64_t
patience_ns(void)
{
	const char *san = getenv("NX_SAN");

	return (san != NULL && san[0] != '\0' ? 5 : 1) * 60000000000ull;
}

#endif
