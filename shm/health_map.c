/* The health segment: layout, and read-only mapping for readers. */
#include <string.h>

#include "shm_internal.h"

void
nx__health_geom(struct nx_health_geom *g, uint32_t max_workers, uint32_t max_channels,
		uint32_t max_pipelines, uint32_t max_slots)
{
	uint64_t off = sizeof(struct nx_health_hdr);

	g->max_workers = max_workers;
	g->max_channels = max_channels;
	g->max_pipelines = max_pipelines;
	g->max_slots = max_slots;
	g->workers_off = (uint32_t)off;
	off += (uint64_t)max_workers * sizeof(struct nx_health_worker);
	g->channels_off = (uint32_t)off;
	off += (uint64_t)max_channels * sizeof(struct nx_health_chan);
	g->pipelines_off = (uint32_t)off;
	off += (uint64_t)max_pipelines * sizeof(struct nx_health_pipe);
	g->slots_off = (uint32_t)off;
	off += (uint64_t)max_slots * sizeof(struct nx_health_slot);
	g->slot_stats_off = (uint32_t)off;
	off += (uint64_t)max_workers * max_slots * sizeof(struct nx_health_slot_stats);
	g->worker_hist_off = (uint32_t)off;
	off += (uint64_t)max_workers * sizeof(struct nx_lhist);
	g->slot_hist_off = (uint32_t)off;
	off += (uint64_t)max_workers * max_slots * sizeof(struct nx_lhist);
	g->restarts_off = (uint32_t)off;
	off += (uint64_t)NX_RESTART_LOG * sizeof(struct nx_health_restart);
	g->layout_bytes = (off + 4095) / 4096 * 4096;
}

static bool
table_fits(uint64_t off, uint64_t n, uint64_t each, uint64_t len)
{
	return off >= sizeof(struct nx_health_hdr) && n <= (1u << 24) && off + n * each <= len;
}

int
nx__health_check(struct nx_health_view *hv)
{
	const struct nx_health_hdr *h = NX_AT(const struct nx_health_hdr, hv->base, 0);
	struct nx_health_geom g;

	if (hv->len < sizeof *h)
		return nx__err(NX_EPROTO, "health segment of %zu bytes is too small", hv->len);
	if (nx__load32(&h->magic) == 0)
		return nx__err(NX_ENOINST, "instance is starting (health segment not written yet)");
	if (h->magic != NX_HEALTH_MAGIC)
		return nx__err(NX_EPROTO, "not a health segment (magic %#x)", h->magic);
	ck_pr_fence_load(); /* pairs with the fence before nxd stores the magic */
	if (h->abi_version != NX_SHM_VERSION)
		return nx__err(NX_EABI, "instance runs ABI %u, this library speaks ABI %u",
			       h->abi_version, NX_SHM_VERSION);
	if (h->layout_bytes != hv->len)
		return nx__err(NX_EPROTO, "health header says %llu bytes, segment has %zu",
			       (unsigned long long)h->layout_bytes, hv->len);
	if (!table_fits(h->workers_off, h->max_workers, sizeof(struct nx_health_worker), hv->len) ||
	    !table_fits(h->channels_off, h->max_channels, sizeof(struct nx_health_chan), hv->len) ||
	    !table_fits(h->pipelines_off, h->max_pipelines, sizeof(struct nx_health_pipe), hv->len) ||
	    !table_fits(h->slots_off, h->max_slots, sizeof(struct nx_health_slot), hv->len) ||
	    !table_fits(h->slot_stats_off, (uint64_t)h->max_slots * h->max_workers,
			sizeof(struct nx_health_slot_stats), hv->len) ||
	    !table_fits(h->worker_hist_off, h->max_workers, sizeof(struct nx_lhist), hv->len) ||
	    !table_fits(h->slot_hist_off, (uint64_t)h->max_slots * h->max_workers,
			sizeof(struct nx_lhist), hv->len) ||
	    !table_fits(h->restarts_off, NX_RESTART_LOG, sizeof(struct nx_health_restart), hv->len))
		return nx__err(NX_EPROTO, "health tables lie outside the segment");
	nx__health_geom(&g, h->max_workers, h->max_channels, h->max_pipelines, h->max_slots);
	if (g.workers_off != h->workers_off || g.channels_off != h->channels_off ||
	    g.pipelines_off != h->pipelines_off || g.slots_off != h->slots_off ||
	    g.slot_stats_off != h->slot_stats_off || g.worker_hist_off != h->worker_hist_off ||
	    g.slot_hist_off != h->slot_hist_off || g.restarts_off != h->restarts_off ||
	    g.layout_bytes != h->layout_bytes)
		return nx__err(NX_EPROTO, "health table offsets do not match the layout");
	hv->hdr = NX_AT(struct nx_health_hdr, hv->base, 0);
	hv->workers = NX_AT(struct nx_health_worker, hv->base, h->workers_off);
	hv->chans = NX_AT(struct nx_health_chan, hv->base, h->channels_off);
	hv->pipes = NX_AT(struct nx_health_pipe, hv->base, h->pipelines_off);
	hv->slots = NX_AT(struct nx_health_slot, hv->base, h->slots_off);
	hv->slot_stats = NX_AT(struct nx_health_slot_stats, hv->base, h->slot_stats_off);
	hv->worker_hist = NX_AT(struct nx_lhist, hv->base, h->worker_hist_off);
	hv->slot_hist = NX_AT(struct nx_lhist, hv->base, h->slot_hist_off);
	hv->restarts = NX_AT(struct nx_health_restart, hv->base, h->restarts_off);
	hv->max_workers = h->max_workers;
	hv->max_channels = h->max_channels;
	hv->max_pipelines = h->max_pipelines;
	hv->max_slots = h->max_slots;
	return 0;
}

int
nx__health_map_ro(struct nx_health_view *hv, const char *instance)
{
	char name[NX_SHM_NAME_MAX];
	int64_t size, owner;
	int fd, rc;

	memset(hv, 0, sizeof *hv);
	hv->fd = -1;
	rc = nx__instance_check(instance);
	if (rc < 0)
		return rc;
	nx__health_name(name, sizeof name, instance);
	fd = nx__shm_open(name, false);
	if (fd == NX_ENOENT)
		return nx__err(NX_ENOINST, "instance '%s' is not running (no segment /dev/shm%s)",
			       instance, name);
	if (fd < 0)
		return fd;
	/* anyone may create a name in /dev/shm: a segment is the instance's
	 * only if a uid this process trusts to be nxd made it */
	owner = nx__shm_owner(fd);
	if (owner < 0 || !nx__uid_trusted((uint32_t)owner)) {
		nx__fd_close(fd);
		return nx__err(NX_EPERM, "health segment /dev/shm%s belongs to uid %lld, which this "
			       "process does not trust to be nxd (root, its own uid, NX_TRUST_UID): "
			       "refusing it", name, (long long)owner);
	}
	size = nx__shm_size(fd);
	if (size < (int64_t)sizeof(struct nx_health_hdr)) {
		nx__fd_close(fd);
		return nx__err(NX_EPROTO, "health segment %s is %lld bytes: not written yet or damaged",
			       name, (long long)size);
	}
	rc = nx__shm_map((void **)&hv->base, fd, (size_t)size, false);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	hv->len = (size_t)size;
	hv->fd = fd;
	rc = nx__health_check(hv);
	if (rc < 0) {
		nx__health_unmap(hv);
		return rc;
	}
	return 0;
}

void
nx__health_unmap(struct nx_health_view *hv)
{
	if (hv->base != NULL)
		nx__shm_unmap(hv->base, hv->len);
	nx__fd_close(hv->fd);
	hv->base = NULL;
	hv->fd = -1;
}
