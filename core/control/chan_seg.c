/* Channel segments, nxd's side: create one for a client (the layout and
 * the mapping are shm/channel.c's, shared with the client). */
#include <string.h>

#include "core/control/segment.h"

int
nx__chan_create(struct nx_chan_view *v, const struct nx_chan_geom *g, uint32_t chan_id,
		uint32_t worker, uint32_t wait_mode, uint64_t generation)
{
	struct nx_chan_hdr *h;
	uint32_t i;
	int fd, rc;

	memset(v, 0, sizeof *v);
	v->fd = -1;
	fd = nx__shm_create_anon("nx-channel", g->layout_bytes);
	if (fd < 0)
		return fd;
	rc = nx__shm_map((void **)&v->base, fd, g->layout_bytes, true);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	v->fd = fd;
	v->g = *g;
	rc = nx__chan_view_setup(v);
	if (rc < 0) {
		nx__chan_unmap(v);
		return rc;
	}
	h = v->hdr;
	h->magic = NX_CHAN_MAGIC;
	h->abi_version = NX_SHM_VERSION;
	h->layout_bytes = g->layout_bytes;
	h->generation = generation;
	h->page_bytes = g->page_bytes;
	h->ring_size = g->ring_size;
	h->arena_bytes = g->arena_bytes;
	h->max_payload = g->max_payload;
	h->chan_id = chan_id;
	h->worker = worker;
	h->wait_mode = wait_mode;
	h->req_ctl_off = g->req_ctl_off;
	h->resp_ctl_off = g->resp_ctl_off;
	h->req_slots_off = g->req_slots_off;
	h->resp_slots_off = g->resp_slots_off;
	h->arena_off = g->arena_off;
	h->req_ext_off = g->req_ext_off;
	h->resp_ext_off = g->resp_ext_off;
	/* the memfd is zeroed: indices and wake words start at 0, and every
	 * request slot at lap 0, which no request has. A response slot starts
	 * a lap behind, so that seq 0 is not taken for answered. */
	for (i = 0; i < g->ring_size; i++)
		v->resp_slots[i].seq = i - g->ring_size;
	return 0;
}
