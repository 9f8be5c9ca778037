/*
 * dlq.h - the dead-letter rings, nxd's side (core/dlq.c; layout in
 * shm/shm_abi.h).
 */
#ifndef NX_CORE_DLQ_H
#define NX_CORE_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/shm_internal.h"

struct nx_dlq {
	uint8_t *base;
	size_t len;
	int fd;
	uint32_t nrings;
	uint32_t entries;   /* per ring */
	bool reattached;    /* a previous nxd's entries are in it */
};

/** "/nx.<instance>.dlq" */
void nx__dlq_name(char *buf, size_t len, const char *instance);

/**
 * Create the segment, or re-attach the one a previous nxd left when its
 * geometry is the same. @return 0, NX_EINVAL, NX_EIO
 */
int nx__dlq_open(struct nx_dlq *d, const char *instance, uint32_t nrings, uint32_t entries);
/** Unmap; remove the segment when remove is true. */
void nx__dlq_close(struct nx_dlq *d, const char *instance, bool remove);

static inline struct nx_dlq_ring *
nx__dlq_ring(const struct nx_dlq *d, uint32_t i)
{
	const struct nx_dlq_hdr *h = (const struct nx_dlq_hdr *)(const void *)d->base;

	return (struct nx_dlq_ring *)(void *)(d->base + h->rings_off + (size_t)i * h->ring_bytes);
}

static inline struct nx_dlq_entry *
nx__dlq_entry(struct nx_dlq_ring *r, uint32_t entries, uint64_t n)
{
	return (struct nx_dlq_entry *)(void *)((uint8_t *)(r + 1) +
					       (size_t)(n & (entries - 1)) * sizeof(struct nx_dlq_entry));
}

/**
 * Worker: copy a failed request into its ring, in place. Counts into
 * *written, and into *dropped when the oldest undrained entry had to go.
 */
void nx__dlq_put(struct nx_dlq_ring *r, uint32_t entries, int32_t status, uint64_t at_ns,
		 uint64_t generation, int32_t pid, uint32_t channel, uint16_t flags, uint16_t slot,
		 const char *pipeline, const void *payload, uint32_t len, uint64_t *written,
		 uint64_t *dropped);

/** Control thread: the oldest entry still held. */
uint64_t nx__dlq_first(const struct nx_dlq_ring *r, uint32_t entries);

/** Control thread: a consistent copy of entry n. @return false when it is gone */
bool nx__dlq_read(const struct nx_dlq_ring *r, uint32_t entries, uint64_t n,
		  struct nx_dlq_entry *out);

#endif /* NX_CORE_DLQ_H */
