/*
 * shm/abi/channel.h - the channel segment: every byte a client and nxd
 * agree on. Fixed-width types only, no pointers (each process maps at its
 * own address: offsets instead), explicit reserved space, producer and
 * consumer fields on separate cache lines, every size and offset pinned.
 * Each field says who writes it and who reads it. The other layouts are
 * beside it: health.h, dlq.h, life.h, ctl.h; versions in version.h.
 *
 * Two kinds of segment:
 *
 *   /dev/shm/nx.<instance>.health     named, created by nxd (mode 0644),
 *                                     written by nxd only, mapped read-only
 *                                     by clients, nxtop, nxwd, nxctl.
 *   channel                           anonymous (memfd), one per client
 *                                     thread, sealed against resizing, handed
 *                                     to its client over the control socket.
 *
 * Channel segment (offsets in the header; P = page_bytes):
 *
 *   0      +-----------------------------+
 *          | struct nx_chan_hdr          |  identity and geometry (nxd, at create)
 *          |   doorbell line             |  client -> worker wake-up
 *          |   client_waiting line       |  client says it sleeps
 *          |   resp_bell line            |  worker -> client wake-up
 *   P      +-----------------------------+
 *          |            (unused)         |
 *   2P-128 | nx_ring_hdr: c_head line    |  request ring: worker writes c_head
 *          |        p_tail/p_head line   |                client writes p_tail
 *   2P     +-----------------------------+
 *          | ring size, mask             |  GEOMETRY PAGE: every process maps
 *          |                             |  its own private copy over it
 *   3P     +-----------------------------+
 *          |            (unused)         |
 *   4P-128 | nx_ring_hdr (responses)     |  client writes c_head, worker p_tail
 *   4P     +-----------------------------+
 *          | ring size, mask             |  GEOMETRY PAGE (private copy)
 *   5P     +-----------------------------+
 *          | request slots               |  ring_size x struct nx_req_desc
 *          +-----------------------------+
 *          | response slots              |  ring_size x struct nx_resp_desc
 *          +-----------------------------+
 *          | request extensions          |  ring_size x NX_EXT_BYTES: payloads of
 *          +-----------------------------+  57..192 bytes, at the slot's index
 *          | response extensions         |  ring_size x NX_EXT_BYTES: answers of
 *          +-----------------------------+  57..192 bytes, at the slot's index
 *          | arena                       |  larger payloads; the client
 *          |                             |  allocates, the worker reads input
 *          |                             |  and writes output where told
 *          +-----------------------------+  layout_bytes
 *
 * Why the geometry page: ck_ring indexes its buffer with ring->mask, read
 * from the ring structure on every call. A client that rewrote the mask
 * in shared memory would make nxd index outside the ring. ck's struct puts
 * size and mask at offset 128; placing the structure 128 bytes before a
 * page boundary puts them alone on the next page, which each process
 * replaces with a private page holding the true values. The indices a
 * client can rewrite (c_head, p_tail) are always masked with nxd's mask,
 * so every slot nxd touches is inside the ring, whatever the client
 * writes. No copy of ck_ring's code, no check on the data path.
 *
 * Why extensions: a payload just over 56 bytes would otherwise sit in
 * the arena, at an offset the worker learns only by reading the
 * descriptor: a second cache-line transfer after the first. An extension
 * sits at the descriptor's own index, an address both sides know before
 * reading anything, so its lines (as many as the payload covers, one to
 * three) travel alongside the descriptor's.
 *
 * Sequence numbers: the request ring's c_head is the number of requests
 * the worker has taken; the response ring's p_tail is the number it has
 * answered. Requests are answered in order, so request n is answered by
 * response n. A restarted nxd answers [answered, taken) explicitly.
 *
 * The hand-off: each descriptor carries its sequence number, written
 * last, and each consumer polls the slot it expects next, not the
 * producer's index. A hop then costs one line transfer on its critical
 * path (the slot's), as in the two-line floor nxbench measures, where
 * reading the index first and the slot second costs two, one after the
 * other. The indices still move, as ck_ring moves them, off that path:
 * depth, sleeping, restarts and a stuck client's diagnosis read them.
 *
 *   request n    the client writes the payload and header, then (store
 *                fence) lap = (n >> log2(ring_size)) + 1, truncated to
 *                8 bits, then advances p_tail. The slot index gives n's
 *                low bits and the lap the next eight: the slot's previous
 *                occupant, n - ring_size, has another lap. Zeroed memory
 *                has lap 0, which no first-lap request has. The worker
 *                polls slot c_head for the lap it expects.
 *   response n   the worker writes the answer, then (store fence) seq =
 *                n, then advances p_tail. nxd starts slot i at seq
 *                i - ring_size. The client polls slot c_head for seq ==
 *                c_head.
 *
 * Room needs no look at the other side's line either: the client has
 * room for request n when fewer than ring_size - 1 of its requests are
 * unanswered (an answer means the worker copied the request out); the
 * worker re-reads the client's response c_head only when its last copy
 * of it says the ring is full.
 *
 * A client that breaks this (a lap ahead, behind or random, p_tail moved
 * past a slot without its lap) affects only its own channel: a slot
 * without the expected lap is not taken, so the channel looks idle,
 * until the worker's heartbeat (every millisecond) compares p_tail: a
 * request published by the index but not by its lap is taken and
 * answered NX_EBADDESC. (A lap one ahead is the lap of the slot's next
 * pass: it publishes whatever the slot then holds, the client's own
 * bytes, checked like any request.)
 */
#ifndef NX_SHM_ABI_CHANNEL_H
#define NX_SHM_ABI_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

/* ---- limits ---- */
#define NX_RING_MIN 8u
#define NX_RING_MAX 65536u
#define NX_ARENA_MAX (1u << 30)
#define NX_PAYLOAD_MAX_DEFAULT (64u * 1024u)

/* ---- descriptors: one cache line each ---- */

/* Payload bytes inside a descriptor (nx.h's NX_INLINE_MAX, which
 * shm/shm_internal.h checks against this). */
#define NX_DESC_INLINE 56

/* Request flags (client writes; nxd rejects unknown bits). */
#define NX_DESC_ARENA 0x01u      /* payload in the arena: data holds nx_req_arena */
#define NX_DESC_IDEMPOTENT 0x02u /* may run again after an nxd restart */
#define NX_DESC_DEADLINE 0x04u   /* deadline_us is set */
#define NX_DESC_EXT 0x08u        /* payload (len <= NX_EXT_BYTES) in the request
				  * extension at this slot's index */
#define NX_DESC_OUT_EXT 0x10u    /* the answer may take the response extension
				  * (up to NX_EXT_BYTES) at its slot's index */
#define NX_DESC_KNOWN 0x1fu

#define NX_EXT_BYTES 192u /* per slot and direction: three cache lines */

/* Request descriptor: written by the client into a request slot, copied
 * once by the worker, validated on the copy. */
struct nx_req_desc {
	uint8_t lap;          /* written last: the flag the worker polls (above) */
	uint8_t pipeline;     /* index in the health pipeline directory */
	uint8_t flags;        /* NX_DESC_* */
	uint8_t len;          /* payload length: 0..56 inline, 0..192 with EXT,
			       * 0 with ARENA */
	uint32_t deadline_us; /* low 32 bits of the absolute deadline in us,
			       * CLOCK_MONOTONIC; compared modulo 2^32, so a
			       * deadline must lie within 35 minutes */
	uint8_t data[NX_DESC_INLINE]; /* inline payload, or struct nx_req_arena */
};

/* Where an arena request's payloads are, inside the channel's arena. */
struct nx_req_arena {
	uint32_t in_off;  /* input at arena + in_off */
	uint32_t in_len;
	uint32_t out_off; /* the answer goes to arena + out_off */
	uint32_t out_cap; /* at most this many bytes */
};

/* Response flags (worker writes). */
#define NX_RESP_ARENA 0x01u    /* answer in the arena at the request's out_off */
#define NX_RESP_DEGRADED 0x02u /* answered by a degraded strategy */
#define NX_RESP_EXT 0x04u      /* answer (len bytes) in the response extension */

/* Response descriptor: written by the worker, read by the client. */
struct nx_resp_desc {
	uint32_t seq;   /* the request's sequence number (low 32 bits), written
			 * last: the flag the client polls (above) */
	int16_t status; /* 0 or a negative NX_E* code */
	uint8_t flags;  /* NX_RESP_* */
	uint8_t len;    /* answer length: 0..56 inline, 0..192 with EXT */
	uint8_t data[NX_DESC_INLINE]; /* inline answer, or uint32 out_len when ARENA */
};

_Static_assert(sizeof(struct nx_req_desc) == NX_CACHELINE, "request descriptor is one line");
_Static_assert(sizeof(struct nx_resp_desc) == NX_CACHELINE, "response descriptor is one line");
_Static_assert(offsetof(struct nx_req_desc, data) == 8, "8-byte request header");
_Static_assert(offsetof(struct nx_req_desc, lap) == 0, "the lap: its own byte");
_Static_assert(offsetof(struct nx_resp_desc, seq) == 0, "the response's seq: its own word");
_Static_assert(offsetof(struct nx_resp_desc, data) == 8, "8-byte response header");
_Static_assert(sizeof(struct nx_req_arena) <= NX_DESC_INLINE, "arena refs fit inline");

/* ---- ring header ---- */

/*
 * A ring's indices and geometry, as Concurrency Kit's struct ck_ring lays
 * them out: both sides run ck_ring's code over it (typed over the
 * descriptors above). shm/shm_internal.h checks, field by field, that ck's
 * struct is this one; the geometry trick depends on it.
 */
#define NX_RING_GEOM_OFF 128u /* size and mask: alone on the geometry page */

struct nx_ring_hdr {
	uint32_t c_head;                 /* consumer: requests taken / answers read */
	uint8_t pad0[NX_CACHELINE - 4];
	uint32_t p_tail;                 /* producer: published */
	uint32_t p_head;                 /* producer: reserved (multi-producer only) */
	uint8_t pad1[NX_CACHELINE - 8];
	uint32_t size;                   /* slots: private copy per process */
	uint32_t mask;                   /* size - 1: private copy per process */
};
_Static_assert(offsetof(struct nx_ring_hdr, c_head) == 0, "ring: c_head first");
_Static_assert(offsetof(struct nx_ring_hdr, p_tail) == 64, "ring: p_tail on line 1");
_Static_assert(offsetof(struct nx_ring_hdr, p_head) == 68, "ring: p_head after p_tail");
_Static_assert(offsetof(struct nx_ring_hdr, size) == NX_RING_GEOM_OFF, "ring: size at 128");
_Static_assert(offsetof(struct nx_ring_hdr, mask) == NX_RING_GEOM_OFF + 4, "ring: mask at 132");
_Static_assert(sizeof(struct nx_ring_hdr) == NX_RING_GEOM_OFF + 8, "ring header size");

/* ---- channel header ---- */

struct nx_chan_hdr {
	/* line 0-1: identity and geometry. nxd writes at create; the client
	 * reads at attach. nxd never trusts these after create: it keeps its
	 * own copy and re-validates them against the sealed size on reclaim. */
	uint32_t magic;        /* NX_CHAN_MAGIC */
	uint32_t abi_version;  /* NX_SHM_VERSION */
	uint64_t layout_bytes; /* whole segment */
	uint64_t generation;   /* nxd generation that created the channel */
	uint32_t page_bytes;   /* page size the layout was computed with */
	uint32_t ring_size;    /* slots per ring, power of two */
	uint32_t arena_bytes;
	uint32_t max_payload;  /* largest in_len / out_cap the worker accepts */
	uint32_t chan_id;      /* index in the health channel table */
	uint32_t worker;       /* worker serving this channel */
	uint32_t wait_mode;    /* enum nx_wait the client attached with */
	uint32_t req_ctl_off;  /* struct nx_ring_hdr of the request ring */
	uint32_t resp_ctl_off; /* struct nx_ring_hdr of the response ring */
	uint32_t req_slots_off;
	uint32_t resp_slots_off;
	uint32_t arena_off;
	uint32_t req_ext_off;  /* ring_size x NX_EXT_BYTES */
	uint32_t resp_ext_off;
	uint8_t reserved0[128 - 80];

	/* line 2: client -> worker. The client increments doorbell (then
	 * futex-wakes it) after submitting while its worker sleeps. */
	uint32_t doorbell;
	uint8_t pad2[NX_CACHELINE - 4];

	/* line 3: client writes 1 before it sleeps on resp_bell, 0 after. */
	uint32_t client_waiting;
	uint8_t pad3[NX_CACHELINE - 4];

	/* line 4: worker -> client. The worker increments resp_bell and
	 * futex-wakes it after answering when client_waiting is set. */
	uint32_t resp_bell;
	uint8_t pad4[NX_CACHELINE - 4];

	uint8_t reserved1[1024 - 5 * NX_CACHELINE];
};
_Static_assert(sizeof(struct nx_chan_hdr) == 1024, "channel header size pinned");
_Static_assert(offsetof(struct nx_chan_hdr, generation) == 16, "identity first");
_Static_assert(offsetof(struct nx_chan_hdr, req_ctl_off) == 52, "offsets after the geometry");
_Static_assert(offsetof(struct nx_chan_hdr, resp_ext_off) == 76, "the last offset");
_Static_assert(offsetof(struct nx_chan_hdr, doorbell) == 128, "doorbell on its own line");
_Static_assert(offsetof(struct nx_chan_hdr, client_waiting) == 192, "client_waiting line");
_Static_assert(offsetof(struct nx_chan_hdr, resp_bell) == 256, "resp_bell line");

#endif /* NX_SHM_ABI_CHANNEL_H */
