/*
 * segment.h - the shared-memory segments nxd alone creates: the health
 * segment and the clients' channels (layouts in shm/abi/; the views and
 * the read-side checks, which libnx shares, in shm/shm_internal.h).
 */
#ifndef NX_CORE_SEGMENT_H
#define NX_CORE_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/shm_internal.h"

/**
 * Create a channel segment: a sealed memfd laid out per g, header and
 * rings initialised, mapped with private geometry pages.
 * @return 0, NX_EIO, NX_ENOMEM
 */
int nx__chan_create(struct nx_chan_view *v, const struct nx_chan_geom *g, uint32_t chan_id,
		    uint32_t worker, uint32_t wait_mode, uint64_t generation);

/**
 * Create the instance's health segment, or re-attach the one a previous
 * nxd left when its layout matches g (*reattached = true). The caller
 * must hold the instance (its control socket).
 * @return 0, NX_EBUSY (a different layout still holding channels), NX_EIO
 */
int nx__health_create(struct nx_health_view *hv, const char *instance,
		      const struct nx_health_geom *g, bool *reattached);

/** Remove the instance's health segment. */
void nx__health_remove(const char *instance);

#endif /* NX_CORE_SEGMENT_H */
