/*
 * shm_internal.h - segments and channels as each process sees them: the
 * layouts of shm/abi/ with this process's pointers and ck's code over
 * them. Shared between nxd (core/), libnx and the monitors; not installed.
 */
#ifndef NX_SHM_INTERNAL_H
#define NX_SHM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ck_pr.h>
#include <ck_ring.h>
#include <ck_sequence.h>

#include <nx/nx.h>

#include "platform/nx_platform.h"
#include "shm/abi/channel.h"
#include "shm/abi/ctl.h"
#include "shm/abi/dlq.h"
#include "shm/abi/health.h"
#include "shm/abi/version.h"

/* ---- the ABI against ck and the public header ---- */

/* ck typed rings over the descriptors (nxd and client use the same ones). */
CK_RING_PROTOTYPE(nx_req, nx_req_desc)
CK_RING_PROTOTYPE(nx_resp, nx_resp_desc)

/* The ring header in the segment is struct nx_ring_hdr; ck's code works on
 * struct ck_ring. The geometry trick (shm/abi/channel.h) depends on the
 * two being one layout: fail the build if ck ever changes its own. */
_Static_assert(sizeof(unsigned int) == sizeof(uint32_t), "ck_ring's indices are 32-bit");
_Static_assert(offsetof(struct ck_ring, c_head) == offsetof(struct nx_ring_hdr, c_head),
	       "ck_ring: c_head");
_Static_assert(offsetof(struct ck_ring, p_tail) == offsetof(struct nx_ring_hdr, p_tail),
	       "ck_ring: p_tail");
_Static_assert(offsetof(struct ck_ring, p_head) == offsetof(struct nx_ring_hdr, p_head),
	       "ck_ring: p_head");
_Static_assert(offsetof(struct ck_ring, size) == offsetof(struct nx_ring_hdr, size),
	       "ck_ring: size");
_Static_assert(offsetof(struct ck_ring, mask) == offsetof(struct nx_ring_hdr, mask),
	       "ck_ring: mask");
_Static_assert(sizeof(struct ck_ring) == sizeof(struct nx_ring_hdr), "ck_ring: size of the whole");

/* The inline payload the public header promises is the descriptor's. */
_Static_assert(NX_INLINE_MAX == NX_DESC_INLINE, "nx.h's NX_INLINE_MAX is the descriptor's");

/* ---- names ---- */

#define NX_INSTANCE_MAX 40
#define NX_SHM_NAME_MAX 64

/** Check an instance name: 1..40 of [A-Za-z0-9_.-]. @return 0 or NX_EINVAL */
int nx__instance_check(const char *instance);
/** "/nx.<instance>.health" into buf. */
void nx__health_name(char *buf, size_t len, const char *instance);

/* ---- channel geometry ---- */

struct nx_chan_geom {
	uint32_t page_bytes;
	uint32_t ring_size;
	uint32_t arena_bytes;
	uint32_t max_payload;
	uint32_t req_ctl_off;
	uint32_t resp_ctl_off;
	uint32_t req_slots_off;
	uint32_t resp_slots_off;
	uint32_t req_ext_off;
	uint32_t resp_ext_off;
	uint32_t arena_off;
	uint64_t layout_bytes;
};

/**
 * Compute a channel's layout. @return 0, or NX_EINVAL (ring_size not a
 * power of two in [NX_RING_MIN, NX_RING_MAX], arena too large, payload
 * larger than half the arena)
 */
int nx__chan_geom(struct nx_chan_geom *g, uint32_t page_bytes, uint32_t ring_size,
		  uint32_t arena_bytes, uint32_t max_payload);

/* One process's view of a channel segment. Pointers are this process's. */
struct nx_chan_view {
	uint8_t *base;
	int fd;
	struct nx_chan_geom g;
	struct nx_chan_hdr *hdr;
	struct ck_ring *req;            /* request ring (geometry page private) */
	struct nx_req_desc *req_slots;
	struct ck_ring *resp;           /* response ring (geometry page private) */
	struct nx_resp_desc *resp_slots;
	uint8_t *req_ext;               /* NX_EXT_BYTES per request slot */
	uint8_t *resp_ext;              /* NX_EXT_BYTES per response slot */
	uint8_t *arena;
	uint32_t ring_shift;            /* log2(ring_size): a request's lap */
	uint32_t resp_c_seen;           /* nxd: its last copy of the client's
					 * response c_head (nx__resp_reserve) */
};

/**
 * Point the view into its mapping (v->base, v->g set) and give this
 * process its own ring geometry pages. Both sides: nxd at create
 * (core/control/segment.h), the client at map. @return 0, NX_EIO
 */
int nx__chan_view_setup(struct nx_chan_view *v);

/**
 * Map a channel segment received over the control socket and check it:
 * sealed, size matches the header, magic, ABI, page size, and a geometry
 * that nx__chan_geom() reproduces exactly. Takes ownership of fd on
 * success. @return 0, NX_EPROTO (not a valid channel), NX_EABI, NX_EIO
 */
int nx__chan_map(struct nx_chan_view *v, int fd);

/** Unmap and close. */
void nx__chan_unmap(struct nx_chan_view *v);

/* ---- health segment ---- */

struct nx_health_geom {
	uint32_t max_workers;
	uint32_t max_channels;
	uint32_t max_pipelines;
	uint32_t max_slots;
	uint32_t workers_off;
	uint32_t channels_off;
	uint32_t pipelines_off;
	uint32_t slots_off;
	uint32_t slot_stats_off;
	uint32_t worker_hist_off;
	uint32_t slot_hist_off;
	uint32_t restarts_off;
	uint64_t layout_bytes;
};

void nx__health_geom(struct nx_health_geom *g, uint32_t max_workers, uint32_t max_channels,
		     uint32_t max_pipelines, uint32_t max_slots);

/* A mapping of the health segment. */
struct nx_health_view {
	uint8_t *base;
	size_t len;
	int fd;
	bool writable;
	struct nx_health_hdr *hdr;
	struct nx_health_worker *workers;
	struct nx_health_chan *chans;
	struct nx_health_pipe *pipes;
	struct nx_health_slot *slots;
	struct nx_health_slot_stats *slot_stats; /* [max_workers][max_slots] */
	struct nx_lhist *worker_hist;            /* [max_workers] */
	struct nx_lhist *slot_hist;              /* [max_workers][max_slots] */
	struct nx_health_restart *restarts;      /* [NX_RESTART_LOG] */
	uint32_t max_workers, max_channels, max_pipelines, max_slots;
};

/**
 * Map an instance's health segment read-only and check its header
 * against the mapping's size before trusting any offset.
 * @return 0, NX_ENOINST (no segment), NX_EABI, NX_EPROTO, NX_EPERM, NX_EIO
 */
int nx__health_map_ro(struct nx_health_view *hv, const char *instance);
/** Check a mapped header and fill the table pointers. */
int nx__health_check(struct nx_health_view *hv);
void nx__health_unmap(struct nx_health_view *hv);

/* A typed pointer at byte offset off of a mapping. Offsets are checked
 * (and aligned) by the layout functions before anyone forms one. */
#define NX_AT(type, base, off) ((type *)(void *)((uint8_t *)(base) + (off)))

/* ---- helpers on shared words ---- */

/*
 * A sequence lock on a shared uint32_t (ck_sequence's protocol): the
 * control thread makes it odd, rewrites, makes it even; a reader copies
 * and retries while it was odd or changed. Never on the data path.
 */
static inline void
nx__seq_write_begin(uint32_t *seq)
{
	ck_sequence_write_begin((ck_sequence_t *)(void *)seq);
}

static inline void
nx__seq_write_end(uint32_t *seq)
{
	ck_sequence_write_end((ck_sequence_t *)(void *)seq);
}

#define NX_SEQ_SPINS (1u << 16) /* a writer's section is microseconds; this is milliseconds */

/*
 * Begin a read under a sequence word. The segment outlives its writer,
 * which may have died mid-write, and anything of its uid can write the
 * word: an odd value is waited for a bounded while, not forever
 * (ck_sequence_read_begin would spin as long as it stays odd).
 * @return false when it stayed odd: the caller takes the data as damaged
 */
static inline bool
nx__seq_read_begin(const uint32_t *seq, uint32_t *v)
{
	unsigned spins;

	for (spins = 0; spins < NX_SEQ_SPINS; spins++) {
		*v = ck_pr_load_32(seq);
		if ((*v & 1) == 0) {
			ck_pr_fence_load(); /* as ck_sequence_read_begin: the data after the word */
			return true;
		}
		ck_pr_stall();
	}
	return false;
}

static inline bool
nx__seq_read_retry(const uint32_t *seq, uint32_t v)
{
	return ck_sequence_read_retry((const ck_sequence_t *)(const void *)seq, v);
}

static inline uint32_t
nx__load32(const uint32_t *p)
{
	return ck_pr_load_32(p);
}

static inline void
nx__store32(uint32_t *p, uint32_t v)
{
	ck_pr_store_32(p, v);
}

static inline uint64_t
nx__load64(const uint64_t *p)
{
	return ck_pr_load_64(p);
}

static inline void
nx__store64(uint64_t *p, uint64_t v)
{
	ck_pr_store_64(p, v);
}

/* Requests waiting in a ring: p_tail - c_head as the consumer sees it.
 * The consumer may be ahead of the index it sees by a few: it takes a
 * slot by the slot's own flag, and the producer's store to p_tail comes
 * after (the hand-off, below). That reads as none waiting. */
static inline uint32_t
nx__ring_ahead(uint32_t p, uint32_t c)
{
	const uint32_t d = p - c;

	return (int32_t)d > 0 ? d : 0;
}

static inline unsigned
nx__ring_pending(const struct ck_ring *r)
{
	return nx__ring_ahead(ck_pr_load_uint(&r->p_tail), ck_pr_load_uint(&r->c_head));
}

/*
 * The hand-off (shm/abi/channel.h, "The hand-off"): each descriptor
 * carries its sequence number, written last; the consumer polls the slot
 * it expects. ck_ring's indices move as ck moves them (the commit below
 * is ck's), after the slot: a consumer reads them only off its critical
 * path. Each function's fences say what they order; on x86 (TSO) all of
 * them are compiler barriers.
 */

/* One descriptor, 64 bytes, copied as four 16-byte moves: a struct
 * assignment of this size compiles to rep movsq, whose start-up alone
 * costs more than the copy. */
static inline void
nx__copy_line(void *restrict dst, const void *restrict src)
{
	typedef uint8_t v16 __attribute__((vector_size(16), aligned(1), may_alias));
	const v16 *s = src;
	v16 *d = dst;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
	d[3] = s[3];
}

/*
 * A payload of n <= 192 bytes (NX_EXT_BYTES) into a slot: whole lines
 * and 16-, 8-, 4- and 1-byte moves, the last of each size overlapping
 * the one before, as libc's small copies do. A memcpy whose length the
 * compiler knows to be bounded compiles to rep movsq here too (and a
 * loop of moves back into a call), and that start-up cost more than the
 * copy: submits spent most of their time in it (README, "Measured here").
 */
static inline __attribute__((always_inline)) void
nx__copy_small(void *restrict dst, const void *restrict src, uint32_t n)
{
	typedef uint8_t v16 __attribute__((vector_size(16), aligned(1), may_alias));
	typedef uint64_t u64 __attribute__((aligned(1), may_alias));
	typedef uint32_t u32 __attribute__((aligned(1), may_alias));
	const uint8_t *s = src;
	uint8_t *d = dst;

	if (n > 64) {
		nx__copy_line(d, s);
		if (n > 128)
			nx__copy_line(d + 64, s + 64);
		nx__copy_line(d + n - 64, s + n - 64);
	} else if (n > 32) {
		*(v16 *)(void *)d = *(const v16 *)(const void *)s;
		*(v16 *)(void *)(d + 16) = *(const v16 *)(const void *)(s + 16);
		*(v16 *)(void *)(d + n - 32) = *(const v16 *)(const void *)(s + n - 32);
		*(v16 *)(void *)(d + n - 16) = *(const v16 *)(const void *)(s + n - 16);
	} else if (n >= 16) {
		*(v16 *)(void *)d = *(const v16 *)(const void *)s;
		*(v16 *)(void *)(d + n - 16) = *(const v16 *)(const void *)(s + n - 16);
	} else if (n >= 8) {
		*(u64 *)(void *)d = *(const u64 *)(const void *)s;
		*(u64 *)(void *)(d + n - 8) = *(const u64 *)(const void *)(s + n - 8);
	} else if (n >= 4) {
		*(u32 *)(void *)d = *(const u32 *)(const void *)s;
		*(u32 *)(void *)(d + n - 4) = *(const u32 *)(const void *)(s + n - 4);
	} else if (n != 0) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

/* A request's lap: the 8 bits of its sequence number above the slot's. */
static inline uint8_t
nx__req_lap(uint32_t seq, uint32_t shift)
{
	return (uint8_t)((seq >> shift) + 1u);
}

/*
 * A slot's extension is three lines; a payload of 65 to 192 bytes covers
 * two or three of them. Each side keeps how many the last one on a
 * channel took and asks for that many for the next: a value the writer
 * (or a hostile client) chose is bounded to the slot's three lines here.
 */
static inline unsigned
nx__ext_lines(uint32_t len)
{
	return len <= NX_CACHELINE ? 1 : len <= 2 * NX_CACHELINE ? 2 : 3;
}

/* Own the first n lines of the extension at ext before they are written.
 * Stores commit in order (x86): a writer that owned one line of a
 * two-line payload had every store after the first line's wait for the
 * second's transfer, the flag last of all, on the round trip's critical
 * path (README, "Measured here"). */
static inline void
nx__ext_own(const uint8_t *ext, unsigned n)
{
	unsigned i;

	for (i = 0; i < n && i < NX_EXT_BYTES / NX_CACHELINE; i++)
		nx__prefetch_w(ext + (size_t)i * NX_CACHELINE);
}

/* Fetch the first n lines of the extension at ext, together, rather than
 * the first here and the rest when the copy reaches them. */
static inline void
nx__ext_fetch(const uint8_t *ext, unsigned n)
{
	unsigned i;

	for (i = 0; i < n && i < NX_EXT_BYTES / NX_CACHELINE; i++)
		__builtin_prefetch(ext + (size_t)i * NX_CACHELINE, 0);
}

/* Client: the slot for the next request. Room is the caller's to know
 * (fewer than ring_size - 1 unanswered): no read of the worker's line. */
static inline struct nx_req_desc *
nx__req_slot(const struct nx_chan_view *v)
{
	return &v->req_slots[v->req->p_tail & (v->g.ring_size - 1)];
}

/* Client: publish the request written into d, the slot of p_tail. */
static inline void
nx__req_publish(struct nx_chan_view *v, struct nx_req_desc *d)
{
	/* payload and header before the lap that flags them (pairs with the
	 * fence in nx__req_take) */
	ck_pr_fence_store();
	ck_pr_store_8(&d->lap, nx__req_lap(v->req->p_tail, v->ring_shift));
	ck_ring_enqueue_commit_spsc(v->req); /* the index, after the lap */
}

/* Worker: has the client published request seq? One read of its slot. */
static inline bool
nx__req_ready(const struct nx_chan_view *v, uint32_t seq)
{
	return ck_pr_load_8(&v->req_slots[seq & (v->g.ring_size - 1)].lap) ==
	       nx__req_lap(seq, v->ring_shift);
}

/* Either consumer: copy slot seq out (after its flag, or the index,
 * said it is there) and free it by moving the ring's c_head past it. */
static inline void
nx__slot_take(struct ck_ring *r, const void *slot, void *out, uint32_t seq)
{
	ck_pr_fence_load(); /* the flag (or p_tail) before the rest of the slot */
	nx__copy_line(out, slot);
	ck_pr_fence_store(); /* the copy before the index that frees the slot */
	ck_pr_store_uint(&r->c_head, seq + 1);
}

/* Worker: copy request seq out of its slot (after nx__req_ready, or
 * when the index says it is there) and free the slot. */
static inline void
nx__req_take(struct nx_chan_view *v, uint32_t seq, struct nx_req_desc *out)
{
	nx__slot_take(v->req, &v->req_slots[seq & (v->g.ring_size - 1)], out, seq);
}

/* Worker: the slot for the next response, or NULL when the client has
 * not read ring_size - 1 of them. The client's c_head is read only when
 * the last copy of it says full: once a ring, not once a response.
 * Signed: the client may be ahead of p_tail, having taken answers by
 * their seq when an nxd died between a seq and its p_tail (the next nxd
 * starts from that p_tail); those slots are read, so there is room. */
static inline struct nx_resp_desc *
nx__resp_reserve(struct nx_chan_view *v)
{
	const uint32_t p = v->resp->p_tail;
	const int32_t room = (int32_t)v->g.ring_size - 1;

	if ((int32_t)(p - v->resp_c_seen) >= room) {
		/* acquire: the client's copy of the slot before we rewrite it */
		v->resp_c_seen = ck_pr_load_uint(&v->resp->c_head);
		if ((int32_t)(p - v->resp_c_seen) >= room)
			return NULL;
	}
	return &v->resp_slots[p & (v->g.ring_size - 1)];
}

/* Worker: publish the response written into rs (from nx__resp_reserve)
 * as the answer to request seq. */
static inline void
nx__resp_publish(struct nx_chan_view *v, struct nx_resp_desc *rs, uint32_t seq)
{
	ck_pr_fence_store(); /* the answer before the seq that flags it */
	ck_pr_store_32(&rs->seq, seq);
	ck_ring_enqueue_commit_spsc(v->resp); /* the index, after the seq */
}

/* Client: has the worker answered response c_head? One read of its slot. */
static inline bool
nx__resp_ready(const struct nx_chan_view *v, uint32_t seq)
{
	return ck_pr_load_32(&v->resp_slots[seq & (v->g.ring_size - 1)].seq) == seq;
}

/* A producer that keeps no counts of its own (tests; a tool speaking the
 * protocol by hand): ck's room check, which reads the worker's index,
 * then d's header and payload, then its lap. @return false when full */
static inline bool
nx__req_enqueue(struct nx_chan_view *v, const struct nx_req_desc *d)
{
	struct nx_req_desc *slot = ck_ring_enqueue_reserve_spsc_nx_req(v->req, v->req_slots);

	if (slot == NULL)
		return false;
	memcpy((uint8_t *)slot + sizeof slot->lap, (const uint8_t *)d + sizeof d->lap,
	       sizeof *d - sizeof d->lap);
	nx__req_publish(v, slot);
	return true;
}

/* Client: copy response seq out of its slot and free the slot. */
static inline void
nx__resp_take(struct nx_chan_view *v, uint32_t seq, struct nx_resp_desc *out)
{
	nx__slot_take(v->resp, &v->resp_slots[seq & (v->g.ring_size - 1)], out, seq);
}

struct nx_client;

/* How many nx_calls took the short way to their answer (shm/client.c):
 * for the tests, which must know that it was taken. */
uint64_t nx__client_short_calls(const struct nx_client *c);

/* Empty polls between a client's slow looks: at the instance (has nxd
 * stopped or restarted?) and at the worker's response index. */
#define NX_CHECK_EVERY 256

/* How many polls read the worker's response index (shm/client.c): for
 * the tests, which check that it is one slow look in NX_CHECK_EVERY. */
uint64_t nx__client_index_looks(const struct nx_client *c);

/* How many extension lines a client asks for ahead (shm/client.c): own,
 * for its next request's payload; fetch, with its next answer. For the
 * tests, which check that it follows the payloads. */
void nx__client_ext_lines(const struct nx_client *c, unsigned *own, unsigned *fetch);

#endif /* NX_SHM_INTERNAL_H */
