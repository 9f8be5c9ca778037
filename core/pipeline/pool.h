/*
 * pool.h - fixed-size objects reserved at start-up (control thread):
 * pipelines and stage instances come from pools, so a swap allocates
 * nothing once nxd runs.
 */
#ifndef NX_CORE_POOL_H
#define NX_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct nx_pool {
	uint8_t *base;
	uint32_t *next;   /* free list, index + 1, 0 ends it */
	size_t size;
	uint32_t count;
	uint32_t head;
	uint32_t used;
	const char *what;
};

int nx__pool_init(struct nx_pool *p, size_t size, uint32_t count, const char *what);
void nx__pool_fini(struct nx_pool *p);
/** A zeroed object, or NULL with an NX_ENOSPC message naming the pool. */
void *nx__pool_get(struct nx_pool *p);
void nx__pool_put(struct nx_pool *p, void *obj);

#endif /* NX_CORE_POOL_H */
