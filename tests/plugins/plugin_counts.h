/* What the test plugin counts, in a shared segment the test reads. */
#ifndef NX_TEST_PLUGIN_COUNTS_H
#define NX_TEST_PLUGIN_COUNTS_H

#include <stdint.h>

struct plugin_counts {
	uint64_t inits;
	uint64_t finis;
	uint64_t double_finis;   /* fini on a state already finalised */
	uint64_t use_after_fini; /* process on a finalised (or recycled) state */
	uint64_t calls;
};

/* The answer of stage "versioned": which instance made it, and the work. */
struct versioned_answer {
	uint64_t slot_version;  /* ctx->stage_version: the slot's version */
	uint64_t param_version; /* its `version` parameter */
	uint32_t crc;           /* CRC-32C of the input */
	uint32_t magic;         /* the state's magic when it answered */
};

#define VERSIONED_ALIVE 0xa11fe5edu
#define VERSIONED_DEAD 0xdeadbeefu

#endif
