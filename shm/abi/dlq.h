/*
 * shm/abi/dlq.h - the dead-letter segment, /dev/shm/nx.<instance>.dlq,
 * mode 0600 (it holds clients' payloads: only nxd reads it, and nxctl
 * through nxd). It outlives nxd like the health segment. One ring per worker, so that
 * each has one writer:
 *
 *   struct nx_dlq_hdr
 *   ring 0: struct nx_dlq_ring, then entries x struct nx_dlq_entry
 *   ring 1: ...
 *
 * The worker writes entry head % entries under the entry's seq (odd while
 * written), then head + 1. The control thread drains by moving tail. A
 * ring holding `entries` undrained entries overwrites the oldest and the
 * worker counts it in dropped: nothing leaves without being counted.
 */
#ifndef NX_SHM_ABI_DLQ_H
#define NX_SHM_ABI_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "health.h" /* NX_PIPE_NAME_MAX */
#include "version.h"

#define NX_DLQ_PAYLOAD 512       /* payload bytes kept; more is truncated */
#define NX_DLQ_F_TRUNCATED 0x1u  /* the payload was longer than NX_DLQ_PAYLOAD */
#define NX_DLQ_F_IDEMPOTENT 0x2u /* the client marked it idempotent */

struct nx_dlq_hdr {
	uint32_t magic;        /* NX_DLQ_MAGIC */
	uint32_t abi_version;  /* NX_SHM_VERSION */
	uint64_t layout_bytes;
	uint32_t nrings;       /* one per worker */
	uint32_t entries;      /* per ring (power of two) */
	uint32_t ring_bytes;   /* header line pair and entries */
	uint32_t rings_off;
	uint8_t reserved[64 - 32];
};
_Static_assert(sizeof(struct nx_dlq_hdr) == NX_CACHELINE, "dlq header size");

struct nx_dlq_entry {
	uint32_t seq;          /* odd while the worker writes it */
	int32_t status;        /* why it failed: the NX_E* code answered */
	uint64_t n;            /* its number in its ring (the head when written) */
	uint64_t at_ns;        /* CLOCK_MONOTONIC when it failed */
	uint64_t generation;   /* nxd generation that failed it */
	int32_t pid;           /* the client */
	uint32_t channel;
	uint32_t len;          /* the whole payload's length */
	uint16_t flags;        /* NX_DLQ_F_* */
	uint16_t slot;         /* health slot index of the stage that failed; 0xffff none */
	char pipeline[NX_PIPE_NAME_MAX];
	uint8_t reserved[128 - 80];
	uint8_t payload[NX_DLQ_PAYLOAD];
};
_Static_assert(offsetof(struct nx_dlq_entry, pipeline) == 48, "pipeline name at 48");
_Static_assert(offsetof(struct nx_dlq_entry, payload) == 128, "payload after two lines");
_Static_assert(sizeof(struct nx_dlq_entry) == 128 + NX_DLQ_PAYLOAD, "dlq entry size");

struct nx_dlq_ring {
	/* line 0: the worker writes */
	uint64_t head;         /* entries written so far */
	uint64_t dropped;      /* undrained entries overwritten */
	uint8_t pad0[NX_CACHELINE - 16];
	/* line 1: the control thread writes */
	uint64_t tail;         /* entries drained (or dropped) so far */
	uint8_t pad1[NX_CACHELINE - 8];
};
_Static_assert(offsetof(struct nx_dlq_ring, tail) == NX_CACHELINE, "tail on its own line");
_Static_assert(sizeof(struct nx_dlq_ring) == 2 * NX_CACHELINE, "dlq ring header size");

#endif /* NX_SHM_ABI_DLQ_H */
