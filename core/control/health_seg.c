/* The health segment, nxd's side: create it, or re-attach what a previous
 * nxd of the same instance left. */
#include <string.h>

#include "core/control/segment.h"

static int
map_rw(struct nx_health_view *hv, int fd, size_t len)
{
	int rc = nx__shm_map((void **)&hv->base, fd, len, true);

	if (rc < 0)
		return rc;
	hv->fd = fd;
	hv->len = len;
	hv->writable = true;
	return 0;
}

static void
init_header(struct nx_health_view *hv, const struct nx_health_geom *g)
{
	struct nx_health_hdr *h = NX_AT(struct nx_health_hdr, hv->base, 0);

	h->abi_version = NX_SHM_VERSION;
	h->layout_bytes = g->layout_bytes;
	h->max_workers = g->max_workers;
	h->max_channels = g->max_channels;
	h->max_pipelines = g->max_pipelines;
	h->workers_off = g->workers_off;
	h->channels_off = g->channels_off;
	h->pipelines_off = g->pipelines_off;
	h->max_slots = g->max_slots;
	h->slots_off = g->slots_off;
	h->slot_stats_off = g->slot_stats_off;
	h->worker_hist_off = g->worker_hist_off;
	h->slot_hist_off = g->slot_hist_off;
	h->restarts_off = g->restarts_off;
	/* The magic last: a reader that sees it sees a complete header. */
	ck_pr_fence_store();
	nx__store32(&h->magic, NX_HEALTH_MAGIC);
}

static unsigned
channels_in_use(const struct nx_health_view *hv)
{
	unsigned i, n = 0;

	for (i = 0; i < hv->max_channels; i++)
		if (hv->chans[i].state != NX_CHAN_FREE)
			n++;
	return n;
}

int
nx__health_create(struct nx_health_view *hv, const char *instance,
		  const struct nx_health_geom *g, bool *reattached)
{
	char name[NX_SHM_NAME_MAX];
	int64_t size;
	int fd, rc;

	memset(hv, 0, sizeof *hv);
	hv->fd = -1;
	*reattached = false;
	nx__health_name(name, sizeof name, instance);
	fd = nx__shm_create(name, g->layout_bytes, 0644);
	if (fd >= 0) {
		rc = map_rw(hv, fd, g->layout_bytes);
		if (rc < 0)
			goto err_unlink;
		init_header(hv, g);
		return nx__health_check(hv);
	}
	if (fd != NX_EBUSY)
		return nx__err_ctx(fd, "health segment %s", name);

	/* Left by an nxd that is gone (we hold the instance's lock), if it is
	 * ours: one another uid planted is refused, never adopted. */
	fd = nx__shm_open(name, true);
	if (fd < 0)
		return nx__err_ctx(fd, "re-attach %s", name);
	rc = nx__shm_own(fd, name, 0644);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	size = nx__shm_size(fd);
	if (size < (int64_t)sizeof(struct nx_health_hdr) || (uint64_t)size > (1ull << 32)) {
		nx__fd_close(fd);
		goto recreate;
	}
	rc = map_rw(hv, fd, (size_t)size);
	if (rc < 0) {
		nx__fd_close(fd);
		return rc;
	}
	rc = nx__health_check(hv);
	if (rc == 0 && hv->max_workers == g->max_workers && hv->max_channels == g->max_channels &&
	    hv->max_pipelines == g->max_pipelines && hv->max_slots == g->max_slots) {
		uint32_t seq = nx__load32(&hv->hdr->ctl_seq);

		/* an nxd that died rewriting its tables left the lock held (odd):
		 * readers would take every table as damaged from then on */
		if (seq & 1)
			nx__store32(&hv->hdr->ctl_seq, seq + 1);
		*reattached = true;
		return 0;
	}
	if (rc == 0 && channels_in_use(hv) != 0) {
		unsigned n = channels_in_use(hv);

		nx__health_unmap(hv);
		return nx__err(NX_EBUSY, "%s holds %u channels of a previous nxd with another "
			       "layout; start with the same limits, or remove it", name, n);
	}
	nx__health_unmap(hv);
recreate:
	nx__log(NX_LOG_WARN, "replacing stale health segment %s", name);
	nx__shm_unlink(name);
	fd = nx__shm_create(name, g->layout_bytes, 0644);
	if (fd < 0)
		return nx__err_ctx(fd, "health segment %s", name);
	rc = map_rw(hv, fd, g->layout_bytes);
	if (rc < 0)
		goto err_unlink;
	init_header(hv, g);
	return nx__health_check(hv);

err_unlink:
	nx__fd_close(fd);
	nx__shm_unlink(name);
	return rc;
}

void
nx__health_remove(const char *instance)
{
	char name[NX_SHM_NAME_MAX];

	nx__health_name(name, sizeof name, instance);
	nx__shm_unlink(name);
}
