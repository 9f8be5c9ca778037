/* The table the alloccount interposer fills and the tests read. */
#ifndef NX_ALLOCCOUNT_H
#define NX_ALLOCCOUNT_H

#include <stdint.h>

#define NX_ALLOCCOUNT_ROWS 256

struct nx_alloccount_row {
	int32_t tid;    /* the thread, set at its first allocation */
	uint32_t pad;
	uint64_t count; /* its allocations and frees so far */
};

struct nx_alloccount_table {
	uint32_t nrows;
	uint32_t pad;
	struct nx_alloccount_row rows[NX_ALLOCCOUNT_ROWS];
};

#endif
