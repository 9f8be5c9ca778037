/*
 * dlq.h - the dead-letter rings, nxd's side (core/datapath/dlq.c; layout in
 * shm/abi/dlq.h).
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
	uint32_t rings_off; /* nxd's own copies of the layout: never read back */
	uint32_t ring_bytes;
	bool reattached;    /* a previous nxd's entries are in it */
};

/** "/nx.<instance>.dlq" */
void nx__dlq_name(char *buf, size_t len, const char *instance);

/**
 * Create the segment, or re-attach the one a previous nxd left when its
 * geometry is the same. @return 0, NX_EINVAL, NX_EIO
 */
int nx__dlq_open(struct nx_dlq *d, const char *instance, uint32_t nrings, uint32_t entries);
/** Remove the segment's name (async-signal-safe: one unlink). */
void nx__dlq_unlink(const char *instance);
/** Unmap; remove the segment when remove is true. */
void nx__dlq_close(struct nx_dlq *d, const char *instance, bool remove);

/* Ring i (< nrings), from the layout nxd computed, not the segment's header. */
static inline struct nx_dlq_ring *
nx__dlq_ring(const struct nx_dlq *d, uint32_t i)
{
	return (struct nx_dlq_ring *)(void *)(d->base + d->rings_off + (size_t)i * d->ring_bytes);
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

enum nx_dlq_got {
	NX_DLQ_GONE = 0,    /* overwritten, or being written */
	NX_DLQ_OK = 1,      /* a consistent copy of a well-formed entry */
	NX_DLQ_CORRUPT = 2, /* the copy's fields do not hold together: not used */
};

/**
 * Control thread: a consistent copy of entry n, its fields checked (the
 * segment outlives nxd, and anything of nxd's uid can write it): its
 * number, its length against its truncation flag, its flags, a NUL in
 * its pipeline name, a negative status. Only an NX_DLQ_OK copy is used.
 */
enum nx_dlq_got nx__dlq_read(const struct nx_dlq_ring *r, uint32_t entries, uint64_t n,
			     struct nx_dlq_entry *out);

/** Payload bytes held by a checked entry (at most NX_DLQ_PAYLOAD). */
static inline uint32_t
nx__dlq_kept(const struct nx_dlq_entry *e)
{
	return e->len < NX_DLQ_PAYLOAD ? e->len : NX_DLQ_PAYLOAD;
}

#endif /* NX_CORE_DLQ_H */
