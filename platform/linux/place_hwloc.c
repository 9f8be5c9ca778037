/*
 * Placement with hwloc: which CPU each worker and the control thread runs
 * on. Control path only: it loads the topology, decides, and lets go of
 * it. No global state: every call has its own topology and bitmaps, and
 * the only thing shared is the thread-local error message.
 *
 * What a worker gets, best first:
 *
 *   1. an isolated core on the segments' NUMA node
 *   2. an isolated core on another node
 *   3. a non-isolated core on the segments' node
 *   4. a non-isolated core on another node
 *
 * and within each class, fully isolated cores (every SMT sibling isolated)
 * before cores whose siblings still run OS work, the core holding CPU 0
 * last (the kernel's housekeeping CPU: unaffined IRQs, timekeeping), then
 * topology order so that workers pack into as few caches as possible.
 *
 * Isolation comes before NUMA locality because the two costs differ in
 * kind. A remote node adds a bounded, steady cost to every cache-line
 * transfer (some 50-150 ns): it moves the median, it shows in every
 * benchmark, and the operator can remove it by placing the segments on
 * the workers' node. OS noise on a non-isolated CPU is unbounded: a tick,
 * a kworker, an IRQ or another task preempting a busy-polling worker costs
 * from microseconds to milliseconds, and it lands on the tail that a
 * real-time system is judged by. isolcpus is also an explicit statement
 * by the operator about which CPUs are for this work; the segments' node
 * is a hint. When isolation wins over locality the plan says so in a note.
 *
 * Auto worker count (req->workers == 0, no explicit CPUs): one worker per
 * isolated usable core when there are isolated cores, else one per usable
 * core; in both cases at most usable cores - 1 so that a core remains for
 * the control thread, and at least 1. A worker busy-polls at 100%: putting
 * extra workers on non-isolated cores would give the pipeline noisy
 * workers and take the OS its housekeeping cores.
 *
 * The control thread goes on a core without a worker: a non-isolated CPU
 * first (housekeeping), then the segments' NUMA node (the control thread
 * initialises channel segments, and first touch puts their pages on its
 * node), then the lowest OS index. Only when every usable core has a
 * worker does it share one: on a free SMT sibling of a worker core if
 * there is one, else on a worker's CPU; it takes the last worker's core,
 * the least preferred placement, and the plan says so.
 *
 * Explicit CPUs (req->cpus) are taken as given, in order, and override
 * req->workers; they are refused when unknown, not allowed, repeated, or
 * SMT siblings of each other. A PU that hwloc puts under no Core object
 * counts as a core of its own (plan->ncores counts it, its core is -1).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>

#include "../nx_platform.h"

/* CPU numbers a cpulist may name: [0, NX__CPU_LIMIT); Linux NR_CPUS <= 8192. */
#define NX__CPU_LIMIT 65536
#define NX__ISOLATED_PATH "/sys/devices/system/cpu/isolated"

/* ---- cpulist ---- */

/* Length for "%.*s" of at most max characters. */
static int
clip(size_t len, int max)
{
	return len > (size_t)max ? max : (int)len;
}

static int
cpulist_bad(const char *s, size_t slen, const char *tok, size_t toklen, const char *why)
{
	return nx__err(NX_EINVAL, "cpulist \"%.*s\": %s \"%.*s\"", clip(slen, 128), s, why,
		       clip(toklen, 64), tok);
}

/* Parse a decimal CPU number at *p (before end); 1 on success, 0 when absent. */
static int
cpulist_num(const char **p, const char *end, long *out, bool *too_big)
{
	const char *q = *p;
	long v = 0;

	if (q == end || !isdigit((unsigned char)*q))
		return 0;
	for (; q < end && isdigit((unsigned char)*q); q++) {
		if (v < NX__CPU_LIMIT)
			v = v * 10 + (*q - '0');
		if (v >= NX__CPU_LIMIT)
			*too_big = true;
	}
	*p = q;
	*out = v;
	return 1;
}

/*
 * Parse a Linux cpulist into cpus[] (at most max, in the given order,
 * duplicates kept) or, when set is given, into set. Blanks around the
 * list and around each entry are ignored; an empty list is 0 CPUs.
 */
static int
cpulist_scan(const char *s, int *cpus, int max, hwloc_bitmap_t set)
{
	const char *p, *end, *list, *comma;
	size_t listlen;
	int n = 0;

	list = s;
	while (isspace((unsigned char)*list))
		list++;
	end = list + strlen(list);
	while (end > list && isspace((unsigned char)end[-1]))
		end--;
	listlen = (size_t)(end - list);
	if (listlen == 0)
		return 0;
	for (p = list;; p = comma + 1) {
		const char *tok, *tend, *q;
		bool too_big = false;
		long lo, hi;

		comma = memchr(p, ',', (size_t)(end - p));
		tend = comma != NULL ? comma : end;
		tok = p;
		while (tok < tend && (*tok == ' ' || *tok == '\t'))
			tok++;
		while (tend > tok && (tend[-1] == ' ' || tend[-1] == '\t'))
			tend--;
		if (tok == tend)
			return nx__err(NX_EINVAL, "cpulist \"%.*s\": empty entry at offset %d",
				       clip(listlen, 128), list, (int)(p - list));
		q = tok;
		if (!cpulist_num(&q, tend, &lo, &too_big))
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok), "bad entry");
		hi = lo;
		if (q < tend && *q == '-') {
			q++;
			if (!cpulist_num(&q, tend, &hi, &too_big))
				return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
						   "bad range");
		}
		if (q != tend)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok), "bad entry");
		if (too_big)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
					   "cpu number above 65535 in");
		if (hi < lo)
			return cpulist_bad(list, listlen, tok, (size_t)(tend - tok),
					   "range goes backwards:");
		if (set == NULL) {
			if (hi - lo + 1 > (long)max - n)
				return nx__err(NX_EINVAL,
					       "cpulist \"%.*s\": more than %d CPUs (at \"%.*s\")",
					       clip(listlen, 128), list, max,
					       clip((size_t)(tend - tok), 64), tok);
			for (long c = lo; c <= hi; c++)
				cpus[n++] = (int)c;
		} else if (hwloc_bitmap_set_range(set, (unsigned)lo, (int)hi) < 0) {
			return nx__err(NX_ENOMEM, "cpulist: out of memory");
		}
		if (comma == NULL)
			break;
	}
	return set == NULL ? n : hwloc_bitmap_weight(set);
}

int
nx_cpulist_parse(const char *s, int *cpus, int max)
{
	if (s == NULL)
		return nx__err(NX_EINVAL, "cpulist: NULL");
	if (max < 0 || (cpus == NULL && max > 0))
		return nx__err(NX_EINVAL, "cpulist: no room for the CPUs");
	return cpulist_scan(s, cpus, max, NULL);
}

/* ---- text output with snprintf rules ---- */

struct out {
	char *buf;
	size_t len;
	size_t pos; /* what would have been written */
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (o->pos < o->len)
		n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

static bool
out_truncated(const struct out *o)
{
	return o->pos >= o->len;
}

static int
out_result(const struct out *o)
{
	return o->pos > INT_MAX ? INT_MAX : (int)o->pos;
}

static const char *
plural(int n)
{
	return n == 1 ? "" : "s";
}

/* ---- planner ---- */

enum { ISO_NONE = 0, ISO_PART = 1, ISO_FULL = 2 };
enum { CTL_FREE = 0, CTL_SIBLING = 1, CTL_SAME = 2 };

/* A physical core, or a PU for which hwloc knows no core (its own core). */
struct unit {
	hwloc_obj_t obj; /* the Core, or the bare PU */
	int core;        /* logical index of the core; -1 for a bare PU */
	int order;       /* position in topology order */
	int pu;          /* OS index of the PU a worker takes here */
	int iso;         /* ISO_* of that PU and its SMT siblings */
	bool local;      /* that PU is on the segments' NUMA node */
	bool cpu0;       /* the unit holds CPU 0 */
	int worker;      /* index of the worker on this unit, or -1 */
};

struct planner {
	const struct nx_place_req *req;
	struct nx_place_plan *plan;
	hwloc_topology_t topo;
	hwloc_bitmap_t allowed;  /* usable PUs */
	hwloc_bitmap_t isolated; /* isolated PUs */
	hwloc_bitmap_t tmp, tmp2;
	struct unit *units;      /* usable units, best for a worker first */
	int nunits;
	int nusable_pus;
	int niso_units;          /* usable units that offer an isolated PU */
	bool iso_anywhere;       /* some PU of the topology is isolated */
	int iso_read_errno;      /* could not read the isolated list (0 = fine) */
	bool auto_iso;           /* the auto count followed the isolated cores */
	int auto_capped;         /* usable cores when the auto count hit the maximum */
	struct unit *wunit[NX_PLACE_MAX_WORKERS];
	struct unit *ctl_unit;
	int ctl_mode;            /* CTL_* */
	int ctl_worker;          /* the worker whose core control shares */
	struct out notes;
};

static void note(struct planner *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add one line to plan->notes; a note that does not fit ends in "...". */
static void
note(struct planner *pl, const char *fmt, ...)
{
	struct out *o = &pl->notes;
	char line[sizeof pl->plan->notes];
	va_list ap;

	if (out_truncated(o) && o->pos > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	out_printf(o, "%s%s", o->pos > 0 ? "\n" : "", line);
	if (out_truncated(o))
		memcpy(o->buf + o->len - 4, "...", 4);
}

static int
pu_numa(hwloc_obj_t pu)
{
	if (pu == NULL || pu->nodeset == NULL)
		return -1;
	return hwloc_bitmap_first(pu->nodeset);
}

static bool
pu_local(const struct planner *pl, int cpu)
{
	hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(pl->topo, (unsigned)cpu);

	return pl->req->numa_node >= 0 && pu != NULL && pu->nodeset != NULL &&
	       hwloc_bitmap_isset(pu->nodeset, (unsigned)pl->req->numa_node);
}

static bool
cpu_isolated(const struct planner *pl, int cpu)
{
	return hwloc_bitmap_isset(pl->isolated, (unsigned)cpu);
}

/* Put the worker PU of u at cpu and rate it. */
static void
unit_set_pu(struct planner *pl, struct unit *u, int cpu)
{
	u->pu = cpu;
	u->local = pu_local(pl, cpu);
	if (!cpu_isolated(pl, cpu))
		u->iso = ISO_NONE;
	else if (hwloc_bitmap_isincluded(u->obj->cpuset, pl->isolated))
		u->iso = ISO_FULL;
	else
		u->iso = ISO_PART;
}

static int
unit_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;

	if (x->iso != y->iso)
		return y->iso - x->iso;
	if (x->local != y->local)
		return (int)y->local - (int)x->local;
	if (x->cpu0 != y->cpu0)
		return (int)x->cpu0 - (int)y->cpu0;
	return x->order - y->order;
}

static struct unit *
unit_of_cpu(struct planner *pl, int cpu)
{
	for (int i = 0; i < pl->nunits; i++)
		if (hwloc_bitmap_isset(pl->units[i].obj->cpuset, (unsigned)cpu))
			return &pl->units[i];
	return NULL;
}

/* "core 3", or "cpu 3" for a PU without a core. */
static const char *
unit_name(const struct unit *u, char *buf, size_t len)
{
	if (u->core >= 0)
		snprintf(buf, len, "core %d", u->core);
	else
		snprintf(buf, len, "cpu %d", u->pu);
	return buf;
}

static const char *
bitmap_list(hwloc_const_bitmap_t set, char *buf, size_t len)
{
	if (hwloc_bitmap_iszero(set))
		snprintf(buf, len, "none");
	else
		hwloc_bitmap_list_snprintf(buf, len, set);
	return buf;
}

static int
load_topology(struct planner *pl)
{
	const char *syn = pl->req->synthetic;

	if (hwloc_topology_init(&pl->topo) < 0) {
		pl->topo = NULL;
		return nx__err_sys(NX_EIO, errno, "hwloc: init");
	}
	/* Placement needs cores, PUs and NUMA nodes: skip caches and I/O. */
	hwloc_topology_set_cache_types_filter(pl->topo, HWLOC_TYPE_FILTER_KEEP_NONE);
	hwloc_topology_set_icache_types_filter(pl->topo, HWLOC_TYPE_FILTER_KEEP_NONE);
	if (syn != NULL && hwloc_topology_set_synthetic(pl->topo, syn) < 0)
		return nx__err(NX_EINVAL, "hwloc: bad synthetic topology \"%.128s\"", syn);
	if (hwloc_topology_load(pl->topo) < 0)
		return nx__err_sys(NX_EIO, errno, "hwloc: load topology");
	return 0;
}

static int
affinity_get(hwloc_bitmap_t set)
{
	for (int ncpu = 1024; ncpu <= NX__CPU_LIMIT; ncpu *= 2) {
		size_t sz = CPU_ALLOC_SIZE(ncpu);
		cpu_set_t *cs = CPU_ALLOC(ncpu);
		int err;

		if (cs == NULL)
			return nx__err(NX_ENOMEM, "affinity mask");
		CPU_ZERO_S(sz, cs);
		if (sched_getaffinity(0, sz, cs) == 0) {
			for (int c = 0; c < ncpu; c++)
				if (CPU_ISSET_S(c, sz, cs))
					hwloc_bitmap_set(set, (unsigned)c);
			CPU_FREE(cs);
			return 0;
		}
		err = errno;
		CPU_FREE(cs);
		if (err != EINVAL)
			return nx__err_sys(NX_EIO, err, "sched_getaffinity");
	}
	return nx__err(NX_EIO, "sched_getaffinity: mask wider than %d CPUs", NX__CPU_LIMIT);
}

static int
usable_cpus(struct planner *pl)
{
	hwloc_const_cpuset_t avail = hwloc_topology_get_allowed_cpuset(pl->topo);
	char a[128], b[128];
	int rc;

	if (pl->req->allowed != NULL) {
		rc = cpulist_scan(pl->req->allowed, NULL, 0, pl->tmp);
		if (rc < 0)
			return nx__err_ctx(rc, "allowed CPUs");
	} else if (pl->req->synthetic == NULL) {
		rc = affinity_get(pl->tmp);
		if (rc < 0)
			return rc;
	} else {
		hwloc_bitmap_copy(pl->tmp, avail);
	}
	hwloc_bitmap_and(pl->allowed, pl->tmp, avail);
	if (hwloc_bitmap_iszero(pl->allowed))
		return nx__err(NX_EINVAL, "no usable CPU: allowed %s, the topology has PUs %s",
			       bitmap_list(pl->tmp, a, sizeof a), bitmap_list(avail, b, sizeof b));
	pl->nusable_pus = hwloc_bitmap_weight(pl->allowed);
	return 0;
}

static int
isolated_cpus(struct planner *pl)
{
	char buf[4096];
	ssize_t n;
	int fd, rc;

	if (pl->req->isolated != NULL) {
		rc = cpulist_scan(pl->req->isolated, NULL, 0, pl->isolated);
		return rc < 0 ? nx__err_ctx(rc, "isolated CPUs") : 0;
	}
	if (pl->req->synthetic != NULL)
		return 0;
	/* Missing: a kernel without isolation, none isolated. Unreadable:
	 * plan without isolation and say so rather than refuse to start. */
	fd = open(NX__ISOLATED_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			pl->iso_read_errno = errno;
		return 0;
	}
	n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		pl->iso_read_errno = errno;
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	rc = cpulist_scan(buf, NULL, 0, pl->isolated);
	return rc < 0 ? nx__err_ctx(rc, "%s", NX__ISOLATED_PATH) : 0;
}

/* Group the PUs into units (cores) and keep the usable ones, best first. */
static int
build_units(struct planner *pl)
{
	hwloc_topology_t topo = pl->topo;
	int npus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	hwloc_obj_t pu = NULL;
	int n = 0, nusable = 0;

	pl->plan->npus = npus;
	pl->units = calloc(npus > 0 ? (size_t)npus : 1, sizeof *pl->units);
	if (pl->units == NULL)
		return nx__err(NX_ENOMEM, "placement: %d PUs", npus);
	while ((pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu)) != NULL) {
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
		hwloc_obj_t obj = core != NULL ? core : pu;
		struct unit *u;

		/* Logical order follows the tree: the PUs of a core are adjacent. */
		if (n > 0 && pl->units[n - 1].obj == obj)
			continue;
		u = &pl->units[n];
		u->obj = obj;
		u->core = core != NULL ? (int)core->logical_index : -1;
		u->order = n;
		u->worker = -1;
		u->cpu0 = hwloc_bitmap_isset(obj->cpuset, 0);
		n++;
	}
	pl->plan->ncores = n;
	for (int i = 0; i < n; i++) {
		struct unit *u = &pl->units[i];
		int cpu;

		hwloc_bitmap_and(pl->tmp, u->obj->cpuset, pl->allowed);
		if (hwloc_bitmap_iszero(pl->tmp))
			continue;
		/* The lowest usable PU, isolated if the core has one. */
		hwloc_bitmap_and(pl->tmp2, pl->tmp, pl->isolated);
		cpu = hwloc_bitmap_first(hwloc_bitmap_iszero(pl->tmp2) ? pl->tmp : pl->tmp2);
		unit_set_pu(pl, u, cpu);
		if (u->iso != ISO_NONE)
			pl->niso_units++;
		pl->units[nusable++] = *u;
	}
	pl->nunits = nusable;
	qsort(pl->units, (size_t)nusable, sizeof *pl->units, unit_cmp);
	hwloc_bitmap_and(pl->tmp, pl->isolated, hwloc_topology_get_topology_cpuset(topo));
	pl->iso_anywhere = !hwloc_bitmap_iszero(pl->tmp);
	return 0;
}

static int
too_many_workers(struct planner *pl, int n)
{
	return nx__err(NX_EINVAL,
		       "asked for %d workers but only %d usable cores (%d PUs, SMT siblings never "
		       "share a worker)",
		       n, pl->nunits, pl->nusable_pus);
}

static int
pick_workers_explicit(struct planner *pl)
{
	const struct nx_place_req *req = pl->req;
	char a[128], b[32];

	for (int i = 0; i < req->ncpus; i++) {
		int cpu = req->cpus[i];
		struct unit *u;

		if (cpu < 0 || hwloc_get_pu_obj_by_os_index(pl->topo, (unsigned)cpu) == NULL) {
			bitmap_list(hwloc_topology_get_topology_cpuset(pl->topo), a, sizeof a);
			return nx__err(NX_EINVAL, "worker cpu %d does not exist (PUs: %s)", cpu,
				       a);
		}
		if (!hwloc_bitmap_isset(pl->allowed, (unsigned)cpu))
			return nx__err(NX_EINVAL,
				       "worker cpu %d is not usable: allowed CPUs are %s", cpu,
				       bitmap_list(pl->allowed, a, sizeof a));
		for (int j = 0; j < i; j++)
			if (req->cpus[j] == cpu)
				return nx__err(NX_EINVAL,
					       "worker cpu %d given twice (workers %d and %d)", cpu,
					       j, i);
		u = unit_of_cpu(pl, cpu);
		if (u == NULL) /* cannot happen: an allowed PU is in a usable unit */
			return nx__err(NX_EIO, "worker cpu %d: no core found", cpu);
		if (u->worker >= 0)
			return nx__err(NX_EINVAL,
				       "worker cpus %d and %d are SMT siblings on %s: one worker "
				       "per physical core",
				       u->pu, cpu, unit_name(u, b, sizeof b));
		u->worker = i;
		unit_set_pu(pl, u, cpu);
		pl->wunit[i] = u;
	}
	pl->plan->nworkers = req->ncpus;
	return 0;
}

static int
pick_workers(struct planner *pl)
{
	const struct nx_place_req *req = pl->req;
	int n = req->workers;

	if (req->ncpus > 0)
		return pick_workers_explicit(pl);
	if (n > pl->nunits)
		return too_many_workers(pl, n);
	if (n == 0) {
		pl->auto_iso = pl->niso_units > 0 && pl->niso_units < pl->nunits;
		n = pl->niso_units > 0 ? pl->niso_units : pl->nunits;
		if (n > pl->nunits - 1)
			n = pl->nunits - 1;
		if (n < 1)
			n = 1;
		if (n > NX_PLACE_MAX_WORKERS) {
			pl->auto_capped = n;
			n = NX_PLACE_MAX_WORKERS;
		}
	}
	for (int i = 0; i < n; i++) {
		pl->units[i].worker = i;
		pl->wunit[i] = &pl->units[i];
	}
	pl->plan->nworkers = n;
	return 0;
}

/*
 * The control thread: a core without a worker, non-isolated first, then
 * the segments' node, then the lowest CPU. Failing that, a free SMT
 * sibling of a worker core (non-isolated first, the last worker's core
 * first), else the last worker's own CPU.
 */
static void
pick_control(struct planner *pl)
{
	struct nx_place_plan *plan = pl->plan;
	int best = -1, best_score = -1;
	struct unit *bu = NULL;
	hwloc_bitmap_t set = pl->tmp;

	for (int i = 0; i < pl->nunits; i++) {
		struct unit *u = &pl->units[i];

		if (u->worker >= 0)
			continue;
		hwloc_bitmap_and(set, u->obj->cpuset, pl->allowed);
		for (int c = hwloc_bitmap_first(set); c >= 0; c = hwloc_bitmap_next(set, c)) {
			int score = (cpu_isolated(pl, c) ? 0 : 2) + (pu_local(pl, c) ? 1 : 0);

			if (score > best_score || (score == best_score && c < best)) {
				best_score = score;
				best = c;
				bu = u;
			}
		}
	}
	if (bu != NULL) {
		pl->ctl_mode = CTL_FREE;
		goto done;
	}
	for (int pass = 0; pass < 2 && bu == NULL; pass++) {
		for (int w = plan->nworkers - 1; w >= 0 && bu == NULL; w--) {
			struct unit *u = pl->wunit[w];

			hwloc_bitmap_and(set, u->obj->cpuset, pl->allowed);
			hwloc_bitmap_clr(set, (unsigned)u->pu);
			for (int c = hwloc_bitmap_first(set); c >= 0 && bu == NULL;
			     c = hwloc_bitmap_next(set, c)) {
				if (pass == 1 || !cpu_isolated(pl, c)) {
					best = c;
					bu = u;
					pl->ctl_worker = w;
				}
			}
		}
	}
	if (bu != NULL) {
		pl->ctl_mode = CTL_SIBLING;
		goto done;
	}
	pl->ctl_mode = CTL_SAME;
	pl->ctl_worker = plan->nworkers - 1;
	bu = pl->wunit[pl->ctl_worker];
	best = bu->pu;
done:
	pl->ctl_unit = bu;
	plan->control.cpu = best;
	plan->control_shares_worker_core = pl->ctl_mode != CTL_FREE;
}

static void
fill_cpu(struct planner *pl, struct nx_place_cpu *pc, const struct unit *u, int cpu)
{
	pc->cpu = cpu;
	pc->core = u->core;
	pc->numa = pu_numa(hwloc_get_pu_obj_by_os_index(pl->topo, (unsigned)cpu));
	pc->isolated = cpu_isolated(pl, cpu);
}

static void
reason_numa(struct planner *pl, struct out *o, int numa, bool local)
{
	int want = pl->req->numa_node;

	if (numa < 0)
		out_printf(o, ", NUMA node unknown");
	else if (want < 0)
		out_printf(o, ", NUMA node %d", numa);
	else if (local)
		out_printf(o, ", NUMA node %d (holds the segments)", numa);
	else
		out_printf(o, ", NUMA node %d (remote: the segments are on node %d)", numa, want);
}

static void
reason_worker(struct planner *pl, int w)
{
	struct nx_place_cpu *pc = &pl->plan->worker[w];
	const struct unit *u = pl->wunit[w];
	struct out o = { pc->reason, sizeof pc->reason, 0 };
	char l[64];

	if (pl->req->ncpus > 0)
		out_printf(&o, "given in cpus, ");
	if (u->iso == ISO_FULL) {
		out_printf(&o, "isolated");
	} else if (u->iso == ISO_PART) {
		hwloc_bitmap_andnot(pl->tmp, u->obj->cpuset, pl->isolated);
		out_printf(&o, "isolated, but SMT sibling %s is not (OS work shares the core)",
			   bitmap_list(pl->tmp, l, sizeof l));
	} else if (!pl->iso_anywhere) {
		out_printf(&o, "not isolated (no isolated CPUs on this machine)");
	} else if (pl->niso_units == 0) {
		out_printf(&o, "not isolated (no usable isolated CPU)");
	} else if (pl->req->ncpus > 0) {
		out_printf(&o, "not isolated");
	} else {
		out_printf(&o, "not isolated (only %d isolated core%s, all with workers)",
			   pl->niso_units, plural(pl->niso_units));
	}
	reason_numa(pl, &o, pc->numa, u->local);
	if (u->core < 0) {
		out_printf(&o, ", no core in the topology: the PU counts as one");
		return;
	}
	hwloc_bitmap_copy(pl->tmp, u->obj->cpuset);
	hwloc_bitmap_clr(pl->tmp, (unsigned)u->pu);
	if (u->iso == ISO_PART) /* already named */
		hwloc_bitmap_and(pl->tmp, pl->tmp, pl->isolated);
	if (pl->ctl_unit == u && pl->ctl_mode == CTL_SIBLING) {
		out_printf(&o, ", SMT sibling %d runs the control thread", pl->plan->control.cpu);
		hwloc_bitmap_clr(pl->tmp, (unsigned)pl->plan->control.cpu);
	}
	if (!hwloc_bitmap_iszero(pl->tmp))
		out_printf(&o, ", SMT sibling%s %s left idle",
			   hwloc_bitmap_weight(pl->tmp) > 1 ? "s" : "",
			   bitmap_list(pl->tmp, l, sizeof l));
}

static void
reason_control(struct planner *pl)
{
	struct nx_place_cpu *pc = &pl->plan->control;
	struct out o = { pc->reason, sizeof pc->reason, 0 };
	char name[32];

	unit_name(pl->ctl_unit, name, sizeof name);
	switch (pl->ctl_mode) {
	case CTL_FREE:
		if (pc->isolated)
			out_printf(&o, "isolated (no non-isolated CPU on a core without a worker), "
				       "%s has no worker",
				   name);
		else
			out_printf(&o, "housekeeping: not isolated, %s has no worker", name);
		break;
	case CTL_SIBLING:
		out_printf(&o, "shares %s with worker %d on its SMT sibling: only %d usable core%s",
			   name, pl->ctl_worker, pl->nunits, plural(pl->nunits));
		break;
	default:
		out_printf(&o, "shares cpu %d with worker %d: only %d usable core%s, no free SMT "
			       "sibling",
			   pc->cpu, pl->ctl_worker, pl->nunits, plural(pl->nunits));
		break;
	}
	reason_numa(pl, &o, pc->numa, pu_local(pl, pc->cpu));
}

/* Plan-wide warnings, the most important first (notes[] is bounded). */
static void
write_notes(struct planner *pl)
{
	const struct nx_place_req *req = pl->req;
	struct nx_place_plan *plan = pl->plan;
	int n = plan->nworkers, noiso = 0, part = 0, remote = 0, remote_iso = 0;
	char l[128], m[128];
	hwloc_bitmap_t cores = pl->tmp2;

	if (pl->ctl_mode == CTL_SIBLING)
		note(pl, "control thread shares core %d with worker %d (on SMT sibling cpu %d): "
			 "only %d usable core%s",
		     pl->ctl_unit->core, pl->ctl_worker, plan->control.cpu, pl->nunits,
		     plural(pl->nunits));
	else if (pl->ctl_mode == CTL_SAME)
		note(pl, "control thread shares cpu %d with worker %d: only %d usable core%s; "
			 "workers must sleep when idle (idle=sleep) or the control thread starves",
		     plan->control.cpu, pl->ctl_worker, pl->nunits, plural(pl->nunits));
	else if (plan->control.isolated)
		note(pl, "control thread on isolated cpu %d: no non-isolated CPU on a core without "
			 "a worker",
		     plan->control.cpu);

	hwloc_bitmap_zero(pl->tmp);
	hwloc_bitmap_zero(cores);
	for (int w = 0; w < n; w++) {
		const struct unit *u = pl->wunit[w];

		if (u->iso == ISO_NONE) {
			noiso++;
			hwloc_bitmap_set(pl->tmp, (unsigned)u->pu);
		}
		if (u->iso == ISO_PART)
			part++;
		if (req->numa_node >= 0 && !u->local) {
			remote++;
			remote_iso += u->iso != ISO_NONE;
		}
		hwloc_bitmap_or(cores, cores, u->obj->cpuset);
	}
	if (pl->iso_read_errno != 0)
		note(pl, "cannot read %s (%s): planned as if no CPU were isolated",
		     NX__ISOLATED_PATH, strerror(pl->iso_read_errno));
	if (noiso == n && pl->niso_units == 0 && pl->iso_anywhere) {
		hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(pl->topo);

		hwloc_bitmap_and(pl->tmp, pl->isolated, all);
		note(pl, "isolated cpus %s are outside the allowed CPUs: workers will see OS noise",
		     bitmap_list(pl->tmp, l, sizeof l));
	} else if (noiso == n && pl->niso_units == 0 && pl->ctl_mode != CTL_FREE) {
		note(pl, "no isolated CPUs: workers will see OS noise, and there is no core to "
			 "spare for isolation");
	} else if (noiso == n && pl->niso_units == 0) {
		bitmap_list(cores, l, sizeof l);
		note(pl, "no isolated CPUs: workers will see OS noise; boot with isolcpus=%s "
			 "nohz_full=%s rcu_nocbs=%s for real-time use",
		     l, l, l);
	} else if (noiso > 0) {
		note(pl, "%d of %d workers on non-isolated CPUs (%s): isolate more cores or ask "
			 "for fewer workers",
		     noiso, n, bitmap_list(pl->tmp, l, sizeof l));
	}
	if (part > 0) {
		hwloc_bitmap_zero(pl->tmp);
		hwloc_bitmap_zero(cores);
		for (int w = 0; w < n; w++) {
			if (pl->wunit[w]->iso != ISO_PART)
				continue;
			hwloc_bitmap_set(pl->tmp, (unsigned)pl->wunit[w]->pu);
			hwloc_bitmap_or(cores, cores, pl->wunit[w]->obj->cpuset);
		}
		hwloc_bitmap_andnot(cores, cores, pl->isolated);
		note(pl, "SMT siblings %s of workers (cpus %s) are not isolated: isolate whole "
			 "cores",
		     bitmap_list(cores, m, sizeof m), bitmap_list(pl->tmp, l, sizeof l));
	}
	if (remote > 0) {
		hwloc_bitmap_zero(pl->tmp);
		for (int w = 0; w < n; w++)
			if (!pl->wunit[w]->local)
				hwloc_bitmap_set(pl->tmp, (unsigned)pl->wunit[w]->pu);
		note(pl, "workers on cpus %s are not on NUMA node %d with the segments: every ring "
			 "access crosses nodes%s",
		     bitmap_list(pl->tmp, l, sizeof l), req->numa_node,
		     remote_iso > 0 ? " (isolated CPUs come first)" : "");
	}
	if (req->ncpus > 0 && req->workers != 0 && req->workers != req->ncpus)
		note(pl, "workers=%d ignored: %d cpus given", req->workers, req->ncpus);
	if (pl->auto_capped > 0)
		note(pl, "auto: %d usable cores, but at most %d workers", pl->auto_capped,
		     NX_PLACE_MAX_WORKERS);
	if (pl->auto_iso) {
		hwloc_bitmap_andnot(pl->tmp, pl->allowed, pl->isolated);
		note(pl, "auto: one worker per isolated core; non-isolated cpus %s are left to the "
			 "OS and the control thread",
		     bitmap_list(pl->tmp, m, sizeof m));
	}
}

static int
check_req(const struct nx_place_req *req)
{
	if (req->workers < 0 || req->workers > NX_PLACE_MAX_WORKERS)
		return nx__err(NX_EINVAL, "workers %d: must be 0 (auto) to %d", req->workers,
			       NX_PLACE_MAX_WORKERS);
	if (req->ncpus < 0 || req->ncpus > NX_PLACE_MAX_WORKERS)
		return nx__err(NX_EINVAL, "%d worker cpus: at most %d", req->ncpus,
			       NX_PLACE_MAX_WORKERS);
	if (req->ncpus > 0 && req->cpus == NULL)
		return nx__err(NX_EINVAL, "%d worker cpus but no list", req->ncpus);
	return 0;
}

int
nx_place_plan(struct nx_place_plan *plan, const struct nx_place_req *req)
{
	struct planner pl;
	char l[64];
	int rc;

	if (plan == NULL || req == NULL)
		return nx__err(NX_EINVAL, "placement: NULL %s", plan == NULL ? "plan" : "request");
	rc = check_req(req);
	if (rc < 0)
		return rc;
	memset(plan, 0, sizeof *plan);
	plan->control.cpu = -1;
	memset(&pl, 0, sizeof pl);
	pl.req = req;
	pl.plan = plan;
	pl.notes.buf = plan->notes;
	pl.notes.len = sizeof plan->notes;
	pl.allowed = hwloc_bitmap_alloc();
	pl.isolated = hwloc_bitmap_alloc();
	pl.tmp = hwloc_bitmap_alloc();
	pl.tmp2 = hwloc_bitmap_alloc();
	if (pl.allowed == NULL || pl.isolated == NULL || pl.tmp == NULL || pl.tmp2 == NULL) {
		rc = nx__err(NX_ENOMEM, "placement: bitmaps");
		goto err_free;
	}
	rc = load_topology(&pl);
	if (rc < 0)
		goto err_topo;
	if (req->numa_node >= 0 &&
	    hwloc_get_numanode_obj_by_os_index(pl.topo, (unsigned)req->numa_node) == NULL) {
		bitmap_list(hwloc_topology_get_topology_nodeset(pl.topo), l, sizeof l);
		rc = nx__err(NX_EINVAL, "NUMA node %d does not exist (the topology has nodes %s)",
			     req->numa_node, l);
		goto err_topo;
	}
	rc = usable_cpus(&pl);
	if (rc < 0)
		goto err_topo;
	rc = isolated_cpus(&pl);
	if (rc < 0)
		goto err_topo;
	rc = build_units(&pl);
	if (rc < 0)
		goto err_topo;
	rc = pick_workers(&pl);
	if (rc < 0)
		goto err_units;
	pick_control(&pl);
	for (int w = 0; w < plan->nworkers; w++)
		fill_cpu(&pl, &plan->worker[w], pl.wunit[w], pl.wunit[w]->pu);
	fill_cpu(&pl, &plan->control, pl.ctl_unit, plan->control.cpu);
	for (int w = 0; w < plan->nworkers; w++)
		reason_worker(&pl, w);
	reason_control(&pl);
	write_notes(&pl);
	rc = 0;
err_units:
	free(pl.units);
err_topo:
	if (pl.topo != NULL)
		hwloc_topology_destroy(pl.topo);
err_free:
	hwloc_bitmap_free(pl.allowed);
	hwloc_bitmap_free(pl.isolated);
	hwloc_bitmap_free(pl.tmp);
	hwloc_bitmap_free(pl.tmp2);
	if (rc < 0) {
		memset(plan, 0, sizeof *plan);
		plan->control.cpu = -1;
	}
	return rc;
}

/* ---- output ---- */

/*
 * Length of the note line at *off (skipping empty lines), 0 at the end.
 * Bounded by notes[] even when a caller's plan is not terminated.
 */
static size_t
note_line(const struct nx_place_plan *plan, size_t *off)
{
	const size_t cap = sizeof plan->notes;
	size_t n = 0;

	while (*off < cap && plan->notes[*off] == '\n')
		(*off)++;
	while (*off + n < cap && plan->notes[*off + n] != '\0' && plan->notes[*off + n] != '\n')
		n++;
	return n;
}

static const char *
int_or_dash(int v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%d", v);
	return buf;
}

static void
format_row(struct out *o, const char *who, const struct nx_place_cpu *pc)
{
	char core[16], numa[16];

	int_or_dash(pc->core, core, sizeof core);
	int_or_dash(pc->numa, numa, sizeof numa);
	out_printf(o, "  %-10s cpu %-4d core %-4s numa %-3s %.*s\n", who, pc->cpu, core, numa,
		   (int)strnlen(pc->reason, sizeof pc->reason), pc->reason);
}

int
nx_place_format(const struct nx_place_plan *plan, char *buf, size_t len)
{
	struct out o = { buf, buf == NULL ? 0 : len, 0 };
	int niso = 0;

	if (plan == NULL)
		return nx__err(NX_EINVAL, "placement: NULL plan");
	for (int w = 0; w < plan->nworkers; w++)
		niso += plan->worker[w].isolated;
	out_printf(&o, "placement: %d core%s, %d PU%s; %d worker%s, %d on isolated CPUs%s\n",
		   plan->ncores, plural(plan->ncores), plan->npus, plural(plan->npus),
		   plan->nworkers, plural(plan->nworkers), niso,
		   plan->control_shares_worker_core ? "; control shares a worker's core" : "");
	for (int w = 0; w < plan->nworkers && w < NX_PLACE_MAX_WORKERS; w++) {
		char who[16];

		snprintf(who, sizeof who, "worker %d", w);
		format_row(&o, who, &plan->worker[w]);
	}
	format_row(&o, "control", &plan->control);
	for (size_t off = 0, n; (n = note_line(plan, &off)) != 0; off += n + 1)
		out_printf(&o, "  note: %.*s\n", (int)n, plan->notes + off);
	return out_result(&o);
}

static void
json_str(struct out *o, const char *s, size_t n)
{
	out_printf(o, "\"");
	for (size_t i = 0; i < n && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			out_printf(o, "\\%c", c);
		else if (c == '\n')
			out_printf(o, "\\n");
		else if (c == '\t')
			out_printf(o, "\\t");
		else if (c < 0x20 || c == 0x7f)
			out_printf(o, "\\u%04x", c);
		else
			out_printf(o, "%c", c);
	}
	out_printf(o, "\"");
}

static void
json_cpu(struct out *o, const struct nx_place_cpu *pc)
{
	out_printf(o, "\"cpu\":%d,\"core\":%d,\"numa\":%d,\"isolated\":%s,\"reason\":", pc->cpu,
		   pc->core, pc->numa, pc->isolated ? "true" : "false");
	json_str(o, pc->reason, sizeof pc->reason);
	out_printf(o, "}");
}

int
nx_place_format_json(const struct nx_place_plan *plan, char *buf, size_t len)
{
	struct out o = { buf, buf == NULL ? 0 : len, 0 };
	bool first = true;

	if (plan == NULL)
		return nx__err(NX_EINVAL, "placement: NULL plan");
	out_printf(&o, "{\"cores\":%d,\"pus\":%d,\"workers\":[", plan->ncores, plan->npus);
	for (int w = 0; w < plan->nworkers && w < NX_PLACE_MAX_WORKERS; w++) {
		out_printf(&o, "%s{\"worker\":%d,", w > 0 ? "," : "", w);
		json_cpu(&o, &plan->worker[w]);
	}
	out_printf(&o, "],\"control\":{");
	json_cpu(&o, &plan->control);
	out_printf(&o, ",\"control_shares_worker_core\":%s,\"notes\":[",
		   plan->control_shares_worker_core ? "true" : "false");
	for (size_t off = 0, n; (n = note_line(plan, &off)) != 0; off += n + 1) {
		out_printf(&o, "%s", first ? "" : ",");
		json_str(&o, plan->notes + off, n);
		first = false;
	}
	out_printf(&o, "]}");
	return out_result(&o);
}
