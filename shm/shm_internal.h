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

/* Requests waiting in a ring: p_tail - c_head as the consumer sees it. */
static inline unsigned
nx__ring_pending(const struct ck_ring *r)
{
	return ck_pr_load_uint(&r->p_tail) - ck_pr_load_uint(&r->c_head);
}

#endif /* NX_SHM_INTERNAL_H */
