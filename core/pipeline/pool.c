/*
 * Fixed-size object pools, reserved once at start-up: pipelines and stage
 * instances come from here, so their storage is sized by the
 * configuration, not by what a swap happens to need. Control thread only.
 */
#include <string.h>

#include "platform/nx_platform.h"
#include "core/pipeline/pool.h"

int
nx__pool_init(struct nx_pool *p, size_t size, uint32_t count, const char *what)
{
	uint32_t i;

	memset(p, 0, sizeof *p);
	p->size = (size + 63) & ~(size_t)63;
	p->count = count;
	p->what = what;
	p->base = nx__mem_aligned(64, p->size * count);
	p->next = nx__mem_zalloc(count, sizeof *p->next);
	if (p->base == NULL || p->next == NULL) {
		nx__pool_fini(p);
		return nx__err(NX_ENOMEM, "%s pool: %u of %zu bytes", what, count, size);
	}
	/* a free list through next[], 0-terminated (index + 1) */
	for (i = 0; i < count; i++)
		p->next[i] = i + 2 <= count ? i + 2 : 0;
	p->head = count > 0 ? 1 : 0;
	return 0;
}

void
nx__pool_fini(struct nx_pool *p)
{
	nx__mem_free(p->base);
	nx__mem_free(p->next);
	p->base = NULL;
	p->next = NULL;
}

void *
nx__pool_get(struct nx_pool *p)
{
	uint32_t i;
	void *obj;

	if (p->head == 0) {
		nx__err(NX_ENOSPC, "all %u %s are in use (raise the limit in the configuration)",
			p->count, p->what);
		return NULL;
	}
	i = p->head - 1;
	p->head = p->next[i];
	p->used++;
	obj = p->base + (size_t)i * p->size;
	memset(obj, 0, p->size);
	return obj;
}

void
nx__pool_put(struct nx_pool *p, void *obj)
{
	uint32_t i;

	if (obj == NULL)
		return;
	i = (uint32_t)(((uint8_t *)obj - p->base) / p->size);
	p->next[i] = p->head;
	p->head = i + 1;
	p->used--;
}
