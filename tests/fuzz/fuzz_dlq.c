/*
 * fuzz_dlq - the readers of the dead-letter segment: nxd re-attaching one
 * a previous nxd left (nx__dlq_open), and nxctl's dlq commands formatting
 * what it holds (nx__cmd_run, core/control/cmd_dlq.c: list, show,
 * export, drain; text and JSON), which read entries with nx__dlq_first
 * and nx__dlq_read. The segment outlives nxd and anything of nxd's uid
 * can write it: none of its bytes is trusted.
 *
 * Input:
 *   byte 0   geometry: nrings = 1 + (b & 3), entries = 1 << ((b >> 2) & 3)
 *   byte 1   flags: 0x01 keep the input's header as it is (else the header
 *            is made to match the geometry, so that nxd re-attaches and the
 *            rest of the input is what the commands read); 0x02 show and
 *            drain the ID bytes 2..10 name instead of each ring's oldest
 *   2..10    an ID: ring (byte 2), number (bytes 3..10, little-endian)
 *   the rest the segment from offset 0 (the header first), as long as the
 *            geometry's layout; missing bytes are zero
 *
 * The segment is written to /dev/shm/nx.nxfz-<pid>-<nonce>d.dlq and opened
 * with nx__dlq_open (re-attach when the header matches, else replaced);
 * the commands then run on a heap copy of exactly the mapped length (a
 * read past it meets a redzone) through a zeroed struct nx_instance whose
 * dlq describes it and whose health view has no slots.
 *
 * Found here and fixed: an entry whose seq is odd (a worker killed while
 * it wrote the entry leaves it so) made nx__dlq_read spin forever, and
 * `nxctl dlq list` with it nxd's control thread; it is now read as
 * damaged, and nxd closes such entries when it re-attaches the segment.
 * tests/fuzz/regressions/dlq/hang-odd-entry-seq is its regression.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/control/cmd.h"
#include "core/control/instance.h"
#include "fuzz_common.h"

static char inst_name[NX_INSTANCE_MAX + 1];
static char shm_path[128];
static struct nx_instance inst;

static void
cleanup(void)
{
	nx__dlq_unlink(inst_name);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	fz_sweep_stale();
	fz_instance_name(inst_name, sizeof inst_name, "d");
	snprintf(shm_path, sizeof shm_path, "/dev/shm/nx.%s.dlq", inst_name);
	atexit(cleanup);
	return 0;
}

/* core/datapath/dlq.c: layout() */
static uint64_t
layout(uint32_t nrings, uint32_t entries, uint32_t *ring_bytes)
{
	*ring_bytes = (uint32_t)(sizeof(struct nx_dlq_ring) + (size_t)entries * sizeof(struct nx_dlq_entry));
	return (sizeof(struct nx_dlq_hdr) + (uint64_t)nrings * *ring_bytes + 4095) / 4096 * 4096;
}

static void
command(bool json, int argc, const char *const *args)
{
	struct nx_buf out = { 0 };
	char *argv[8];
	int i, rc;

	for (i = 0; i < argc; i++)
		argv[i] = (char *)(uintptr_t)args[i];
	out.max = NX_CTL_REPLY_MAX;
	nx__err_clear();
	rc = nx__cmd_run(&inst, argc, argv, json, &out);
	FZ_CHECK(rc <= 0, "%s %s: positive %d", args[0], args[1], rc);
	FZ_CHECK(out.len <= out.cap, "%s %s: length %zu over capacity %zu", args[0], args[1],
		 out.len, out.cap);
	FZ_CHECK(out.p == NULL || out.len < out.cap, "%s %s: no room for a NUL", args[0],
		 args[1]);
	if (rc == 0 && out.p != NULL && !out.failed)
		FZ_CHECK(strlen(out.p) == out.len, "%s %s: %zu bytes, NUL at %zu", args[0], args[1],
			 out.len, strlen(out.p));
	nx__buf_free(&out);
}

static void
commands(bool json, const char *id)
{
	command(json, 2, (const char *const[]){ "dlq", "list" });
	command(json, 3, (const char *const[]){ "dlq", "show", id });
	command(json, 2, (const char *const[]){ "dlq", "export" });
	command(json, 3, (const char *const[]){ "dlq", "export", id });
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t geom = fz_u8(&in), flags = fz_u8(&in), id_ring = fz_u8(&in);
	uint64_t id_n = fz_u64(&in);
	uint32_t nrings = 1 + (geom & 3u), entries = 1u << ((geom >> 2) & 3u), ring_bytes;
	uint64_t len = layout(nrings, entries, &ring_bytes);
	struct nx_dlq d;
	uint8_t *seg, *copy;
	char id[48], first_id[48];
	size_t got;
	const uint8_t *body = fz_bytes(&in, len, &got);
	int fd, rc;

	/* the segment a previous nxd left */
	seg = calloc(1, len);
	FZ_CHECK(seg != NULL, "calloc");
	memcpy(seg, body, got);
	if (!(flags & 0x01)) {
		struct nx_dlq_hdr *h = (struct nx_dlq_hdr *)(void *)seg;

		h->magic = NX_DLQ_MAGIC;
		h->abi_version = NX_SHM_VERSION;
		h->layout_bytes = len;
		h->nrings = nrings;
		h->entries = entries;
		h->ring_bytes = ring_bytes;
		h->rings_off = sizeof *h;
	}
	fd = open(shm_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FZ_CHECK(fd >= 0, "open %s", shm_path);
	FZ_CHECK(pwrite(fd, seg, len, 0) == (ssize_t)len, "pwrite %s", shm_path);
	close(fd);
	free(seg);

	rc = nx__dlq_open(&d, inst_name, nrings, entries);
	FZ_CHECK(rc == 0, "nx__dlq_open: %s", nx__errmsg());
	FZ_CHECK(d.base != NULL && d.len == len && d.nrings == nrings && d.entries == entries,
		 "geometry");
	FZ_CHECK(!(flags & 0x01) ? d.reattached : true, "a matching header was not re-attached");

	/* the commands, on an exact heap copy */
	copy = malloc(d.len);
	FZ_CHECK(copy != NULL, "malloc");
	memcpy(copy, d.base, d.len);
	memset(&inst, 0, sizeof inst);
	inst.dlq = d;
	inst.dlq.base = copy;
	inst.dlq.fd = -1;
	inst.hv.max_slots = 0;

	snprintf(id, sizeof id, "%u.%" PRIu64, id_ring, id_n);
	snprintf(first_id, sizeof first_id, "%u.%" PRIu64, id_ring % nrings,
		 nx__dlq_first(nx__dlq_ring(&inst.dlq, id_ring % nrings), entries));
	if (!(flags & 0x02))
		snprintf(id, sizeof id, "%s", first_id);
	commands(false, id);
	commands(true, id);
	/* IDs a hand could type wrong */
	command(false, 3, (const char *const[]){ "dlq", "show", "0." });
	command(true, 3, (const char *const[]){ "dlq", "show", "0.18446744073709551616" });
	command(false, 3, (const char *const[]){ "dlq", "show", "-1.0" });
	/* drain one, then the rest, and what is left */
	command(false, 3, (const char *const[]){ "dlq", "drain", id });
	commands(true, first_id);
	command(true, 2, (const char *const[]){ "dlq", "drain" });
	command(false, 2, (const char *const[]){ "dlq", "list" });

	free(copy);
	nx__dlq_close(&d, inst_name, true);
	return 0;
}
