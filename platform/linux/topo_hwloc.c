/*
 * The machine's topology from hwloc, as plain data (struct nx__topo) for
 * the placement policy in core/control/place.c: every PU with its core and NUMA
 * nodes, which PUs this process may use, which the kernel isolated. No
 * policy here. Control path only: it loads hwloc's topology, copies what
 * placement needs and lets go of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>

#include "../nx_platform.h"

#define NX__ISOLATED_PATH "/sys/devices/system/cpu/isolated"

static bool
bit_isset(const uint64_t *bits, int c)
{
	return (bits[c / 64] >> (c % 64)) & 1;
}

/* This process's affinity mask into bits (NX_CPU_LIMIT bits). */
static int
affinity_get(uint64_t *bits)
{
	for (int ncpu = 1024; ncpu <= NX_CPU_LIMIT; ncpu *= 2) {
		size_t sz = CPU_ALLOC_SIZE(ncpu);
		cpu_set_t *cs = CPU_ALLOC(ncpu);
		int err;

		if (cs == NULL)
			return nx__err(NX_ENOMEM, "affinity mask");
		CPU_ZERO_S(sz, cs);
		if (sched_getaffinity(0, sz, cs) == 0) {
			for (int c = 0; c < ncpu; c++)
				if (CPU_ISSET_S(c, sz, cs))
					bits[c / 64] |= UINT64_C(1) << (c % 64);
			CPU_FREE(cs);
			return 0;
		}
		err = errno;
		CPU_FREE(cs);
		if (err != EINVAL)
			return nx__err_sys(NX_EIO, err, "sched_getaffinity");
	}
	return nx__err(NX_EIO, "sched_getaffinity: mask wider than %d CPUs", NX_CPU_LIMIT);
}

/*
 * The kernel's isolated CPUs into bits. Missing: a kernel without
 * isolation, none isolated. Unreadable: none isolated, and the topology
 * says why, so that nxd plans without isolation rather than refuse to start.
 */
static int
isolated_get(struct nx__topo *topo, uint64_t *bits)
{
	char buf[4096];
	ssize_t n;
	int fd, rc;

	fd = open(NX__ISOLATED_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(topo->isolated_unread, sizeof topo->isolated_unread,
				 "cannot read %s (%s)", NX__ISOLATED_PATH, strerror(errno));
		return 0;
	}
	n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		snprintf(topo->isolated_unread, sizeof topo->isolated_unread,
			 "cannot read %s (%s)", NX__ISOLATED_PATH, strerror(errno));
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	rc = nx__cpulist_bits(buf, bits);
	return rc < 0 ? nx__err_ctx(rc, "%s", NX__ISOLATED_PATH) : 0;
}

static int
load_hwloc(hwloc_topology_t *out, const char *synthetic)
{
	hwloc_topology_t t;

	if (hwloc_topology_init(&t) < 0) {
		*out = NULL;
		return nx__err_sys(NX_EIO, errno, "hwloc: init");
	}
	*out = t;
	/* Placement needs cores, PUs and NUMA nodes: skip caches and I/O. */
	hwloc_topology_set_cache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	if (synthetic != NULL && hwloc_topology_set_synthetic(t, synthetic) < 0)
		return nx__err(NX_EINVAL, "hwloc: bad synthetic topology \"%.128s\"", synthetic);
	if (hwloc_topology_load(t) < 0)
		return nx__err_sys(NX_EIO, errno, "hwloc: load topology");
	return 0;
}

/* Copy PUs and NUMA nodes out of hwloc's tree. */
static int
copy_topology(struct nx__topo *topo, hwloc_topology_t t)
{
	hwloc_const_cpuset_t avail = hwloc_topology_get_allowed_cpuset(t);
	hwloc_const_nodeset_t nodes = hwloc_topology_get_topology_nodeset(t);
	int npus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
	int nnodes = hwloc_bitmap_weight(nodes);
	hwloc_obj_t pu = NULL;
	int n = 0;

	topo->pu = calloc(npus > 0 ? (size_t)npus : 1, sizeof *topo->pu);
	topo->numa = calloc(nnodes > 0 ? (size_t)nnodes : 1, sizeof *topo->numa);
	if (topo->pu == NULL || topo->numa == NULL)
		return nx__err(NX_ENOMEM, "placement: %d PUs", npus);
	for (int i = hwloc_bitmap_first(nodes); i >= 0 && topo->nnuma < nnodes;
	     i = hwloc_bitmap_next(nodes, i))
		topo->numa[topo->nnuma++] = i;
	while ((pu = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_PU, pu)) != NULL && n < npus) {
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_CORE, pu);
		struct nx__topo_pu *p = &topo->pu[n++];

		if (pu->os_index >= NX_CPU_LIMIT)
			return nx__err(NX_EIO, "hwloc: cpu %u above %d", pu->os_index,
				       NX_CPU_LIMIT - 1);
		p->cpu = (int)pu->os_index;
		p->core = core != NULL ? (int)core->logical_index : -1;
		if (pu->nodeset != NULL)
			for (int i = hwloc_bitmap_first(pu->nodeset);
			     i >= 0 && p->nnuma < NX_TOPO_PU_NUMA_MAX;
			     i = hwloc_bitmap_next(pu->nodeset, i))
				p->numa[p->nnuma++] = i;
		p->allowed = hwloc_bitmap_isset(avail, pu->os_index);
		p->affine = p->allowed;
	}
	topo->npus = n;
	return 0;
}

int
nx__topo_load(struct nx__topo *topo, const char *synthetic, unsigned what)
{
	hwloc_topology_t t = NULL;
	uint64_t *bits = NULL;
	int rc;

	memset(topo, 0, sizeof *topo);
	rc = load_hwloc(&t, synthetic);
	if (rc < 0)
		goto out;
	rc = copy_topology(topo, t);
	if (rc < 0 || synthetic != NULL || (what & (NX_TOPO_AFFINITY | NX_TOPO_ISOLATED)) == 0)
		goto out;
	bits = calloc(NX_CPU_LIMIT / 64, sizeof *bits);
	if (bits == NULL) {
		rc = nx__err(NX_ENOMEM, "placement: cpu bitmap");
		goto out;
	}
	if (what & NX_TOPO_AFFINITY) {
		rc = affinity_get(bits);
		if (rc < 0)
			goto out;
		for (int i = 0; i < topo->npus; i++)
			topo->pu[i].affine = bit_isset(bits, topo->pu[i].cpu);
		memset(bits, 0, NX_CPU_LIMIT / 8);
	}
	if (what & NX_TOPO_ISOLATED) {
		rc = isolated_get(topo, bits);
		if (rc < 0)
			goto out;
		for (int i = 0; i < topo->npus; i++)
			topo->pu[i].isolated = bit_isset(bits, topo->pu[i].cpu);
	}
out:
	free(bits);
	if (t != NULL)
		hwloc_topology_destroy(t);
	if (rc < 0)
		nx__topo_free(topo);
	return rc;
}

void
nx__topo_free(struct nx__topo *topo)
{
	free(topo->pu);
	free(topo->numa);
	topo->pu = NULL;
	topo->numa = NULL;
	topo->npus = 0;
	topo->nnuma = 0;
}
