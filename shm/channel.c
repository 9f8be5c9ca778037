/*
 * Channel segments: layout, and mapping and validation (the client; nxd
 * creates them in core/control/chan_seg.c). See shm/abi/channel.h for the picture
 * and for why the two ring geometry pages are private to each process.
 */
#include <string.h>

#include "shm_internal.h"

static uint64_t
round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static bool
is_pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int
nx__chan_geom(struct nx_chan_geom *g, uint32_t page_bytes, uint32_t ring_size,
	      uint32_t arena_bytes, uint32_t max_payload)
{
	uint64_t slots, ext, off;

	memset(g, 0, sizeof *g);
	if (!is_pow2(page_bytes) || page_bytes < 4096 || page_bytes > (1u << 20))
		return nx__err(NX_EINVAL, "page size %u unsupported", page_bytes);
	if (!is_pow2(ring_size) || ring_size < NX_RING_MIN || ring_size > NX_RING_MAX)
		return nx__err(NX_EINVAL, "ring size %u: must be a power of two in [%u, %u]",
			       ring_size, NX_RING_MIN, NX_RING_MAX);
	if (arena_bytes > NX_ARENA_MAX)
		return nx__err(NX_EINVAL, "arena of %u bytes exceeds %u", arena_bytes, NX_ARENA_MAX);
	if (max_payload > arena_bytes / 2)
		return nx__err(NX_EINVAL, "max payload %u needs an arena of at least %u bytes (have %u)",
			       max_payload, max_payload * 2, arena_bytes);
	slots = round_up((uint64_t)ring_size * NX_CACHELINE, page_bytes);
	ext = round_up((uint64_t)ring_size * NX_EXT_BYTES, page_bytes);
	g->page_bytes = page_bytes;
	g->ring_size = ring_size;
	g->arena_bytes = arena_bytes;
	g->max_payload = max_payload;
	g->req_ctl_off = 2 * page_bytes - NX_RING_GEOM_OFF;
	g->resp_ctl_off = 4 * page_bytes - NX_RING_GEOM_OFF;
	off = 5 * (uint64_t)page_bytes;
	g->req_slots_off = (uint32_t)off;
	off += slots;
	g->resp_slots_off = (uint32_t)off;
	off += slots;
	g->req_ext_off = (uint32_t)off;
	off += ext;
	g->resp_ext_off = (uint32_t)off;
	off += ext;
	g->arena_off = (uint32_t)off;
	off += round_up(arena_bytes, page_bytes);
	g->layout_bytes = off;
	return 0;
}

/* Point the view into the mapping and give this process its own ring
 * geometry: size and mask live alone on a page we replace privately. */
int
nx__chan_view_setup(struct nx_chan_view *v)
{
	const struct nx_chan_geom *g = &v->g;
	int rc;

	v->hdr = NX_AT(struct nx_chan_hdr, v->base, 0);
	v->req = NX_AT(struct ck_ring, v->base, g->req_ctl_off);
	v->resp = NX_AT(struct ck_ring, v->base, g->resp_ctl_off);
	v->req_slots = NX_AT(struct nx_req_desc, v->base, g->req_slots_off);
	v->resp_slots = NX_AT(struct nx_resp_desc, v->base, g->resp_slots_off);
	v->req_ext = v->base + g->req_ext_off;
	v->resp_ext = v->base + g->resp_ext_off;
	v->arena = v->base + g->arena_off;
	rc = nx__shm_overlay_private(v->base + g->req_ctl_off + NX_RING_GEOM_OFF);
	if (rc == 0)
		rc = nx__shm_overlay_private(v->base + g->resp_ctl_off + NX_RING_GEOM_OFF);
	if (rc < 0)
		return rc;
	v->req->size = g->ring_size;
	v->req->mask = g->ring_size - 1;
	v->resp->size = g->ring_size;
	v->resp->mask = g->ring_size - 1;
	v->ring_shift = (uint32_t)__builtin_ctz(g->ring_size);
	v->resp_c_seen = ck_pr_load_uint(&v->resp->c_head);
	return 0;
}

int
nx__chan_map(struct nx_chan_view *v, int fd)
{
	struct nx_chan_hdr h;
	struct nx_chan_geom g;
	int64_t size;
	void *base;
	int rc;

	memset(v, 0, sizeof *v);
	v->fd = -1;
	if (!nx__shm_is_sealed(fd))
		return nx__err(NX_EPROTO, "channel segment is not sealed against resizing");
	size = nx__shm_size(fd);
	if (size < 0)
		return (int)size;
	if ((uint64_t)size < sizeof h)
		return nx__err(NX_EPROTO, "channel segment of %lld bytes is too small", (long long)size);
	rc = nx__shm_map(&base, fd, (size_t)size, true);
	if (rc < 0)
		return rc;
	/* Copy the header once; check the copy. */
	memcpy(&h, base, sizeof h);
	if (h.magic != NX_CHAN_MAGIC) {
		rc = nx__err(NX_EPROTO, "not a channel segment (magic %#x)", h.magic);
		goto err_unmap;
	}
	if (h.abi_version != NX_SHM_VERSION) {
		rc = nx__err(NX_EABI, "channel ABI %u, this library speaks ABI %u", h.abi_version,
			     NX_SHM_VERSION);
		goto err_unmap;
	}
	if (h.layout_bytes != (uint64_t)size) {
		rc = nx__err(NX_EPROTO, "channel header says %llu bytes, segment has %lld",
			     (unsigned long long)h.layout_bytes, (long long)size);
		goto err_unmap;
	}
	if (h.page_bytes != nx__page_size()) {
		rc = nx__err(NX_EPROTO, "channel laid out for %u-byte pages, this system has %zu",
			     h.page_bytes, nx__page_size());
		goto err_unmap;
	}
	rc = nx__chan_geom(&g, h.page_bytes, h.ring_size, h.arena_bytes, h.max_payload);
	if (rc < 0) {
		rc = nx__err_ctx(NX_EPROTO, "channel geometry");
		goto err_unmap;
	}
	if (g.layout_bytes != h.layout_bytes || g.req_ctl_off != h.req_ctl_off ||
	    g.resp_ctl_off != h.resp_ctl_off || g.req_slots_off != h.req_slots_off ||
	    g.resp_slots_off != h.resp_slots_off || g.req_ext_off != h.req_ext_off ||
	    g.resp_ext_off != h.resp_ext_off || g.arena_off != h.arena_off) {
		rc = nx__err(NX_EPROTO, "channel offsets do not match its geometry");
		goto err_unmap;
	}
	v->base = base;
	v->g = g;
	rc = nx__chan_view_setup(v);
	if (rc < 0)
		goto err_unmap;
	v->fd = fd;
	return 0;

err_unmap:
	nx__shm_unmap(base, (size_t)size);
	v->base = NULL;
	return rc;
}

void
nx__chan_unmap(struct nx_chan_view *v)
{
	if (v->base != NULL)
		nx__shm_unmap(v->base, v->g.layout_bytes);
	nx__fd_close(v->fd);
	v->base = NULL;
	v->fd = -1;
}
