/*
 * fuzz_health - the readers of the health segment, which anyone of nxd's
 * uid can write and every reader maps: the reader library
 * (shm/monitor/health_read.h: nx__hr_open by instance name, nx__hr_snapshot
 * twice, nx__hr_heartbeats), nx__health_map_ro and nx__health_check
 * (shm/health_map.c), and nxtop's
 * batch writers on each snapshot (tools/nxtop/export.c: JSON, Prometheus).
 *
 * Input:
 *   byte 0   mode: bits 0-1 how the segment is made (below);
 *            0x04 keep the header's limits and table offsets as the input
 *                 has them (else they are made to match the geometry);
 *            0x08 the header's pid is this process (an nxd that is alive);
 *            0x10 between the snapshots the segment is removed and made
 *                 anew (a restarted nxd: the reader maps the new one);
 *            0x20 and a snapshot is taken while there is none;
 *            0x40 the new one has geometry B (the reader's tables resize)
 *   mode 0   raw: the rest of the input is the segment, byte for byte
 *   mode 1   linear: byte 1 geometry A, byte 2 pipelines, byte 3
 *            geometry B; the segment is the geometry's layout (zeros),
 *            with the rest of the input over it from offset 0; then the
 *            header's magic, ABI, size (and limits, offsets) are fixed up
 *   mode 2,3 patches: bytes 1-3 as for mode 1; then records
 *            [table u8][offset u16][len u8][len bytes] written into that
 *            table (0 header, 1 workers, 2 channels, 3 pipelines, 4 slots,
 *            5 slot stats, 6 worker histograms, 7 slot histograms,
 *            8 restart log; offsets wrap, lengths clip), then the fix-up;
 *            a record of table 0xff ends the first snapshot's patches: the
 *            rest apply before the second
 *   geometry byte: workers 1 + (b & 3), slots (b >> 2) & 7, channels b >> 5
 *
 * The segment is /dev/shm/nx.nxfz-<pid>-<nonce>h.health, removed at exit.
 *
 * Found here and fixed: a header whose ctl_seq is odd (an nxd killed
 * inside a slot-table update leaves it so) made nx__hr_snapshot spin
 * forever; readers now wait a bounded while, and nxd makes it even when
 * it re-attaches the segment.
 * tests/fuzz/regressions/health/hang-odd-ctl-seq is its regression.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/control/segment.h"
#include "shm/monitor/health_read.h"
#include "tools/nxtop/nxtop.h"
#include "fuzz_common.h"

static char inst_name[NX_INSTANCE_MAX + 1];
static char shm_path[128];

static void
cleanup(void)
{
	nx__health_remove(inst_name);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	fz_sweep_stale();
	fz_instance_name(inst_name, sizeof inst_name, "h");
	snprintf(shm_path, sizeof shm_path, "/dev/shm/nx.%s.health", inst_name);
	atexit(cleanup);
	return 0;
}

struct seg {
	uint8_t *p;
	size_t len;
	struct nx_health_geom g;
};

static void
geom_of(struct nx_health_geom *g, uint8_t b, uint8_t pipes)
{
	nx__health_geom(g, 1 + (b & 3u), b >> 5, pipes & 7u, (b >> 2) & 7u);
}

/* The header's geometry as nxd writes it (core/control/health_seg.c: init_header). */
static void
fix_header(struct seg *s, bool keep_tables)
{
	struct nx_health_hdr *h = (struct nx_health_hdr *)(void *)s->p;
	const struct nx_health_geom *g = &s->g;

	h->magic = NX_HEALTH_MAGIC;
	h->abi_version = NX_SHM_VERSION;
	h->layout_bytes = g->layout_bytes;
	if (keep_tables)
		return;
	h->max_workers = g->max_workers;
	h->max_channels = g->max_channels;
	h->max_pipelines = g->max_pipelines;
	h->max_slots = g->max_slots;
	h->workers_off = g->workers_off;
	h->channels_off = g->channels_off;
	h->pipelines_off = g->pipelines_off;
	h->slots_off = g->slots_off;
	h->slot_stats_off = g->slot_stats_off;
	h->worker_hist_off = g->worker_hist_off;
	h->slot_hist_off = g->slot_hist_off;
	h->restarts_off = g->restarts_off;
}

static void
seg_alloc(struct seg *s, uint8_t geom, uint8_t pipes)
{
	geom_of(&s->g, geom, pipes);
	s->len = s->g.layout_bytes;
	s->p = calloc(1, s->len);
	FZ_CHECK(s->p != NULL, "calloc %zu", s->len);
}

/* Patch records until the input ends or a 0xff record. */
static void
patch(struct seg *s, struct fz_in *in)
{
	const struct nx_health_geom *g = &s->g;
	const uint64_t starts[9] = {
		0, g->workers_off, g->channels_off, g->pipelines_off, g->slots_off,
		g->slot_stats_off, g->worker_hist_off, g->slot_hist_off, g->restarts_off,
	};
	const uint64_t ends[9] = {
		sizeof(struct nx_health_hdr), g->channels_off, g->pipelines_off, g->slots_off,
		g->slot_stats_off, g->worker_hist_off, g->slot_hist_off, g->restarts_off,
		g->restarts_off + NX_RESTART_LOG * sizeof(struct nx_health_restart),
	};

	while (in->left > 0) {
		uint8_t t = fz_u8(in);
		uint16_t off = fz_u16(in);
		uint8_t n = fz_u8(in);
		const uint8_t *b;
		uint64_t size, at;
		size_t got;

		if (t == 0xff)
			return;
		b = fz_bytes(in, n, &got);
		t %= 9;
		size = ends[t] - starts[t];
		if (size == 0)
			continue;
		at = starts[t] + off % size;
		if (got > ends[t] - at)
			got = (size_t)(ends[t] - at);
		memcpy(s->p + at, b, got);
	}
}

static void
seg_write(const struct seg *s)
{
	int fd;

	fd = open(shm_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	FZ_CHECK(fd >= 0, "open %s", shm_path);
	FZ_CHECK(ftruncate(fd, (off_t)s->len) == 0, "ftruncate %s", shm_path);
	FZ_CHECK(s->len == 0 || pwrite(fd, s->p, s->len, 0) == (ssize_t)s->len, "pwrite %s",
		 shm_path);
	close(fd);
}

static void
export(const struct nx_hr_snap *snap)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	FZ_CHECK(f != NULL, "open_memstream");
	FZ_CHECK(nxtop_write_json(f, inst_name, snap, 1.0) == 0, "json");
	FZ_CHECK(nxtop_write_prometheus(f, inst_name, snap) == 0, "prometheus");
	fclose(f);
	free(buf);
}

static void
snapshot(struct nx_hr *r)
{
	const struct nx_hr_snap *snap;
	uint64_t ages[8], gen;
	unsigned n;
	int32_t pid;
	int rc;

	rc = nx__hr_snapshot(r, &snap);
	FZ_CHECK(rc <= 0, "positive %d", rc);
	if (rc == 0) {
		FZ_CHECK(snap->nworkers <= snap->hdr.max_workers || !snap->mapped,
			 "%u workers of %u", snap->nworkers, snap->hdr.max_workers);
		export(snap);
	}
	rc = nx__hr_heartbeats(r, ages, 8, &n, &gen, &pid);
	FZ_CHECK(rc <= 0 && n <= 8, "heartbeats %d, %u", rc, n);
}

/* The library's own check, on a heap copy of exactly the segment. */
static void
check_copy(const struct seg *s)
{
	struct nx_health_view hv;

	memset(&hv, 0, sizeof hv);
	hv.fd = -1;
	hv.len = s->len;
	hv.base = malloc(s->len ? s->len : 1);
	FZ_CHECK(hv.base != NULL, "malloc");
	memcpy(hv.base, s->p, s->len);
	if (nx__health_check(&hv) == 0) {
		FZ_CHECK((uint8_t *)(hv.restarts + NX_RESTART_LOG) <= hv.base + hv.len,
			 "restart log past the end");
		FZ_CHECK((uint8_t *)(hv.slot_hist + (size_t)hv.max_slots * hv.max_workers) <=
				 hv.base + hv.len, "slot histograms past the end");
	}
	free(hv.base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t mode = fz_u8(&in), kind = mode & 3u, ga = 0, pipes = 0, gb = 0;
	const struct nx_hr_conf conf = NX_HR_CONF_DEFAULT;
	struct nx_health_view hv;
	struct nx_hr *r;
	struct seg s;
	size_t got;

	if (kind == 0) {
		const uint8_t *b = fz_bytes(&in, in.left, &got);

		s.len = got;
		s.p = malloc(got ? got : 1);
		FZ_CHECK(s.p != NULL, "malloc");
		memcpy(s.p, b, got);
	} else {
		ga = fz_u8(&in);
		pipes = fz_u8(&in);
		gb = fz_u8(&in);
		seg_alloc(&s, ga, pipes);
		if (kind == 1) {
			const uint8_t *b = fz_bytes(&in, s.len, &got);

			memcpy(s.p, b, got);
		} else {
			patch(&s, &in);
		}
		fix_header(&s, mode & 0x04);
	}
	if (kind != 0 && (mode & 0x08))
		((struct nx_health_hdr *)(void *)s.p)->pid = (int32_t)getpid();
	unlink(shm_path);
	seg_write(&s);
	check_copy(&s);

	FZ_CHECK(nx__hr_open(&r, inst_name, &conf) == 0, "nx__hr_open: %s", nx__errmsg());
	snapshot(r);

	/* what changed before the second look */
	if (mode & (0x10 | 0x20 | 0x40))
		unlink(shm_path);
	if (mode & 0x20)
		snapshot(r);
	if (kind != 0 && (mode & 0x40)) {
		struct seg b;

		seg_alloc(&b, gb, pipes);
		memcpy(b.p, s.p, b.len < s.len ? b.len : s.len);
		free(s.p);
		s = b;
	}
	if (kind >= 2)
		patch(&s, &in);
	if (kind != 0) {
		fix_header(&s, mode & 0x04);
		if (mode & 0x08)
			((struct nx_health_hdr *)(void *)s.p)->pid = (int32_t)getpid();
	}
	seg_write(&s);
	snapshot(r);
	nx__hr_close(r);

	if (nx__health_map_ro(&hv, inst_name) == 0)
		nx__health_unmap(&hv);
	free(s.p);
	return 0;
}
