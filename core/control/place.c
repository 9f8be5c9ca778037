/*
 * The placement policy: which CPU each worker and the control thread runs
 * on, over the plain topology the platform fills (struct nx__topo). Control
 * path only. No global state: every call has its own topology and CPU sets,
 * and the only thing shared is the thread-local error message.
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
 * SMT siblings of each other. A PU that the topology puts under no core
 * counts as a core of its own (plan->ncores counts it, its core is -1).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/base/buf.h"

#include "core/control/place.h"

/* ---- CPU sets: bitmaps over [0, NX_CPU_LIMIT) ---- */

#define SET_WORDS (NX_CPU_LIMIT / 64)

struct cpuset {
	uint64_t w[SET_WORDS];
};

static void
set_zero(struct cpuset *s)
{
	memset(s, 0, sizeof *s);
}

static void
set_set(struct cpuset *s, int c)
{
	s->w[c / 64] |= UINT64_C(1) << (c % 64);
}

static void
set_clr(struct cpuset *s, int c)
{
	s->w[c / 64] &= ~(UINT64_C(1) << (c % 64));
}

static bool
set_isset(const struct cpuset *s, int c)
{
	return c >= 0 && c < NX_CPU_LIMIT && ((s->w[c / 64] >> (c % 64)) & 1);
}

static void
set_and(struct cpuset *d, const struct cpuset *a, const struct cpuset *b)
{
	for (int i = 0; i < SET_WORDS; i++)
		d->w[i] = a->w[i] & b->w[i];
}

static void
set_andnot(struct cpuset *d, const struct cpuset *a, const struct cpuset *b)
{
	for (int i = 0; i < SET_WORDS; i++)
		d->w[i] = a->w[i] & ~b->w[i];
}

static void
set_or(struct cpuset *d, const struct cpuset *a, const struct cpuset *b)
{
	for (int i = 0; i < SET_WORDS; i++)
		d->w[i] = a->w[i] | b->w[i];
}

static bool
set_iszero(const struct cpuset *s)
{
	for (int i = 0; i < SET_WORDS; i++)
		if (s->w[i] != 0)
			return false;
	return true;
}

/* Every CPU of a is in b. */
static bool
set_isincluded(const struct cpuset *a, const struct cpuset *b)
{
	for (int i = 0; i < SET_WORDS; i++)
		if ((a->w[i] & ~b->w[i]) != 0)
			return false;
	return true;
}

static int
set_weight(const struct cpuset *s)
{
	int n = 0;

	for (int i = 0; i < SET_WORDS; i++)
		n += __builtin_popcountll(s->w[i]);
	return n;
}

/* The lowest CPU above prev (-1: the lowest), or -1. */
static int
set_next(const struct cpuset *s, int prev)
{
	int c = prev + 1;

	while (c < NX_CPU_LIMIT) {
		uint64_t w = s->w[c / 64] >> (c % 64);

		if (w != 0)
			return c + __builtin_ctzll(w);
		c = (c / 64 + 1) * 64;
	}
	return -1;
}

static int
set_first(const struct cpuset *s)
{
	return set_next(s, -1);
}

/* The set as a cpulist ("0-3,6"), "none" when empty; truncated as snprintf. */
static const char *
set_list(const struct cpuset *s, char *buf, size_t len)
{
	size_t pos = 0;
	int c = set_first(s);

	if (c < 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	if (len > 0)
		buf[0] = '\0';
	while (c >= 0) {
		int end = c, n;

		while (set_isset(s, end + 1))
			end++;
		if (end > c)
			n = snprintf(pos < len ? buf + pos : NULL, pos < len ? len - pos : 0,
				     "%s%d-%d", pos > 0 ? "," : "", c, end);
		else
			n = snprintf(pos < len ? buf + pos : NULL, pos < len ? len - pos : 0,
				     "%s%d", pos > 0 ? "," : "", c);
		if (n > 0)
			pos += (size_t)n;
		c = set_next(s, end);
	}
	return buf;
}

/* ---- text: built in an nx_buf, copied into the plan's fixed fields ---- */

/* b's text into dst[len], cut as snprintf cuts. */
static void
copy_text(char *dst, size_t len, const struct nx_buf *b)
{
	size_t n = b->len < len - 1 ? b->len : len - 1;

	if (n > 0)
		memcpy(dst, b->p, n);
	dst[n] = '\0';
}

static const char *
plural(int n)
{
	return n == 1 ? "" : "s";
}

/* ---- planner ---- */

enum { ISO_NONE = 0, ISO_PART = 1, ISO_FULL = 2 };
enum { CTL_FREE = 0, CTL_SIBLING = 1, CTL_SAME = 2 };

/* A physical core, or a PU for which the topology knows no core (its own core). */
struct unit {
	int pu0, npu;    /* its PUs: topo->pu[pu0 .. pu0 + npu) */
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
	const struct nx__topo *topo;
	struct cpuset all;       /* the topology's PUs */
	struct cpuset avail;     /* the PUs the OS allows */
	struct cpuset allowed;   /* usable PUs */
	struct cpuset isolated;  /* isolated PUs */
	struct cpuset tmp, tmp2, ucpus;
	struct unit *units;      /* usable units, best for a worker first */
	int nunits;
	int nusable_pus;
	int niso_units;          /* usable units that offer an isolated PU */
	bool iso_anywhere;       /* some PU of the topology is isolated */
	bool auto_iso;           /* the auto count followed the isolated cores */
	int auto_capped;         /* usable cores when the auto count hit the maximum */
	struct unit *wunit[NX_PLACE_MAX_WORKERS];
	struct unit *ctl_unit;
	int ctl_mode;            /* CTL_* */
	int ctl_worker;          /* the worker whose core control shares */
	struct nx_buf text;      /* a reason being written */
	struct nx_buf notes;     /* every note; plan->notes gets what fits */
};

static void note(struct planner *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add one line to the notes (at most what plan->notes holds). */
static void
note(struct planner *pl, const char *fmt, ...)
{
	char line[sizeof pl->plan->notes];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (pl->notes.len > 0)
		nx__buf_put(&pl->notes, "\n", 1);
	nx__buf_put(&pl->notes, line, strlen(line));
}

/* The notes into plan->notes; notes that do not fit end in "...". */
static void
copy_notes(struct planner *pl)
{
	char *d = pl->plan->notes;
	const size_t cap = sizeof pl->plan->notes;

	copy_text(d, cap, &pl->notes);
	if (pl->notes.len >= cap)
		memcpy(d + cap - 4, "...", 4);
}

static const struct nx__topo_pu *
topo_pu(const struct planner *pl, int cpu)
{
	for (int i = 0; i < pl->topo->npus; i++)
		if (pl->topo->pu[i].cpu == cpu)
			return &pl->topo->pu[i];
	return NULL;
}

static int
pu_numa(const struct nx__topo_pu *pu)
{
	if (pu == NULL || pu->nnuma == 0)
		return -1;
	return pu->numa[0];
}

static bool
pu_local(const struct planner *pl, int cpu)
{
	const struct nx__topo_pu *pu;

	if (pl->req->numa_node < 0)
		return false;
	pu = topo_pu(pl, cpu);
	if (pu == NULL)
		return false;
	for (int i = 0; i < pu->nnuma; i++)
		if (pu->numa[i] == pl->req->numa_node)
			return true;
	return false;
}

static bool
cpu_isolated(const struct planner *pl, int cpu)
{
	return set_isset(&pl->isolated, cpu);
}

/* The PUs of u into s. */
static struct cpuset *
unit_cpus(const struct planner *pl, const struct unit *u, struct cpuset *s)
{
	set_zero(s);
	for (int i = 0; i < u->npu; i++)
		set_set(s, pl->topo->pu[u->pu0 + i].cpu);
	return s;
}

static bool
unit_has_cpu(const struct planner *pl, const struct unit *u, int cpu)
{
	for (int i = 0; i < u->npu; i++)
		if (pl->topo->pu[u->pu0 + i].cpu == cpu)
			return true;
	return false;
}

/* Put the worker PU of u at cpu and rate it. */
static void
unit_set_pu(struct planner *pl, struct unit *u, int cpu)
{
	u->pu = cpu;
	u->local = pu_local(pl, cpu);
	if (!cpu_isolated(pl, cpu))
		u->iso = ISO_NONE;
	else if (set_isincluded(unit_cpus(pl, u, &pl->ucpus), &pl->isolated))
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
		if (unit_has_cpu(pl, &pl->units[i], cpu))
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

/* The topology's PUs, those the OS allows, those this process is affine to. */
static void
topo_sets(struct planner *pl)
{
	for (int i = 0; i < pl->topo->npus; i++) {
		const struct nx__topo_pu *pu = &pl->topo->pu[i];

		if (pu->cpu < 0 || pu->cpu >= NX_CPU_LIMIT)
			continue;
		set_set(&pl->all, pu->cpu);
		if (pu->allowed)
			set_set(&pl->avail, pu->cpu);
	}
}

static bool
topo_has_numa(const struct nx__topo *topo, int node)
{
	for (int i = 0; i < topo->nnuma; i++)
		if (topo->numa[i] == node)
			return true;
	return false;
}

static int
usable_cpus(struct planner *pl)
{
	char a[128], b[128];
	int rc;

	if (pl->req->allowed != NULL) {
		rc = nx__cpulist_bits(pl->req->allowed, pl->tmp.w);
		if (rc < 0)
			return nx__err_ctx(rc, "allowed CPUs");
	} else {
		for (int i = 0; i < pl->topo->npus; i++)
			if (pl->topo->pu[i].affine)
				set_set(&pl->tmp, pl->topo->pu[i].cpu);
	}
	set_and(&pl->allowed, &pl->tmp, &pl->avail);
	if (set_iszero(&pl->allowed))
		return nx__err(NX_EINVAL, "no usable CPU: allowed %s, the topology has PUs %s",
			       set_list(&pl->tmp, a, sizeof a), set_list(&pl->avail, b, sizeof b));
	pl->nusable_pus = set_weight(&pl->allowed);
	return 0;
}

static int
isolated_cpus(struct planner *pl)
{
	int rc;

	if (pl->req->isolated != NULL) {
		rc = nx__cpulist_bits(pl->req->isolated, pl->isolated.w);
		return rc < 0 ? nx__err_ctx(rc, "isolated CPUs") : 0;
	}
	for (int i = 0; i < pl->topo->npus; i++)
		if (pl->topo->pu[i].isolated)
			set_set(&pl->isolated, pl->topo->pu[i].cpu);
	return 0;
}

/* Group the PUs into units (cores) and keep the usable ones, best first. */
static int
build_units(struct planner *pl)
{
	const struct nx__topo *topo = pl->topo;
	int npus = topo->npus;
	int n = 0, nusable = 0;

	pl->plan->npus = npus;
	pl->units = nx__mem_zalloc(npus > 0 ? (size_t)npus : 1, sizeof *pl->units);
	if (pl->units == NULL)
		return nx__err(NX_ENOMEM, "placement: %d PUs", npus);
	for (int i = 0; i < npus; i++) {
		const struct nx__topo_pu *pu = &topo->pu[i];
		struct unit *u;

		/* Topology order: the PUs of a core are adjacent. */
		if (n > 0 && pu->core >= 0 && pl->units[n - 1].core == pu->core) {
			pl->units[n - 1].npu++;
			if (pu->cpu == 0)
				pl->units[n - 1].cpu0 = true;
			continue;
		}
		u = &pl->units[n];
		u->pu0 = i;
		u->npu = 1;
		u->core = pu->core;
		u->order = n;
		u->worker = -1;
		u->cpu0 = pu->cpu == 0;
		n++;
	}
	pl->plan->ncores = n;
	for (int i = 0; i < n; i++) {
		struct unit *u = &pl->units[i];
		int cpu;

		set_and(&pl->tmp, unit_cpus(pl, u, &pl->ucpus), &pl->allowed);
		if (set_iszero(&pl->tmp))
			continue;
		/* The lowest usable PU, isolated if the core has one. */
		set_and(&pl->tmp2, &pl->tmp, &pl->isolated);
		cpu = set_first(set_iszero(&pl->tmp2) ? &pl->tmp : &pl->tmp2);
		unit_set_pu(pl, u, cpu);
		if (u->iso != ISO_NONE)
			pl->niso_units++;
		pl->units[nusable++] = *u;
	}
	pl->nunits = nusable;
	qsort(pl->units, (size_t)nusable, sizeof *pl->units, unit_cmp);
	set_and(&pl->tmp, &pl->isolated, &pl->all);
	pl->iso_anywhere = !set_iszero(&pl->tmp);
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

		if (cpu < 0 || topo_pu(pl, cpu) == NULL) {
			set_list(&pl->all, a, sizeof a);
			return nx__err(NX_EINVAL, "worker cpu %d does not exist (PUs: %s)", cpu,
				       a);
		}
		if (!set_isset(&pl->allowed, cpu))
			return nx__err(NX_EINVAL,
				       "worker cpu %d is not usable: allowed CPUs are %s", cpu,
				       set_list(&pl->allowed, a, sizeof a));
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
	struct cpuset *set = &pl->tmp;

	for (int i = 0; i < pl->nunits; i++) {
		struct unit *u = &pl->units[i];

		if (u->worker >= 0)
			continue;
		set_and(set, unit_cpus(pl, u, &pl->ucpus), &pl->allowed);
		for (int c = set_first(set); c >= 0; c = set_next(set, c)) {
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

			set_and(set, unit_cpus(pl, u, &pl->ucpus), &pl->allowed);
			set_clr(set, u->pu);
			for (int c = set_first(set); c >= 0 && bu == NULL; c = set_next(set, c)) {
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
	pc->numa = pu_numa(topo_pu(pl, cpu));
	pc->isolated = cpu_isolated(pl, cpu);
}

static void
reason_numa(struct planner *pl, struct nx_buf *o, int numa, bool local)
{
	int want = pl->req->numa_node;

	if (numa < 0)
		nx__buf_printf(o, ", NUMA node unknown");
	else if (want < 0)
		nx__buf_printf(o, ", NUMA node %d", numa);
	else if (local)
		nx__buf_printf(o, ", NUMA node %d (holds the segments)", numa);
	else
		nx__buf_printf(o, ", NUMA node %d (remote: the segments are on node %d)", numa, want);
}

static void
reason_worker(struct planner *pl, int w, struct nx_buf *o)
{
	struct nx_place_cpu *pc = &pl->plan->worker[w];
	const struct unit *u = pl->wunit[w];
	char l[64];

	if (pl->req->ncpus > 0)
		nx__buf_printf(o, "given in cpus, ");
	if (u->iso == ISO_FULL) {
		nx__buf_printf(o, "isolated");
	} else if (u->iso == ISO_PART) {
		set_andnot(&pl->tmp, unit_cpus(pl, u, &pl->ucpus), &pl->isolated);
		nx__buf_printf(o, "isolated, but SMT sibling %s is not (OS work shares the core)",
			   set_list(&pl->tmp, l, sizeof l));
	} else if (!pl->iso_anywhere) {
		nx__buf_printf(o, "not isolated (no isolated CPUs on this machine)");
	} else if (pl->niso_units == 0) {
		nx__buf_printf(o, "not isolated (no usable isolated CPU)");
	} else if (pl->req->ncpus > 0) {
		nx__buf_printf(o, "not isolated");
	} else {
		nx__buf_printf(o, "not isolated (only %d isolated core%s, all with workers)",
			   pl->niso_units, plural(pl->niso_units));
	}
	reason_numa(pl, o, pc->numa, u->local);
	if (u->core < 0) {
		nx__buf_printf(o, ", no core in the topology: the PU counts as one");
		return;
	}
	unit_cpus(pl, u, &pl->tmp);
	set_clr(&pl->tmp, u->pu);
	if (u->iso == ISO_PART) /* already named */
		set_and(&pl->tmp, &pl->tmp, &pl->isolated);
	if (pl->ctl_unit == u && pl->ctl_mode == CTL_SIBLING) {
		nx__buf_printf(o, ", SMT sibling %d runs the control thread", pl->plan->control.cpu);
		set_clr(&pl->tmp, pl->plan->control.cpu);
	}
	if (!set_iszero(&pl->tmp))
		nx__buf_printf(o, ", SMT sibling%s %s left idle", set_weight(&pl->tmp) > 1 ? "s" : "",
			   set_list(&pl->tmp, l, sizeof l));
}

static void
reason_control(struct planner *pl, struct nx_buf *o)
{
	struct nx_place_cpu *pc = &pl->plan->control;
	char name[32];

	unit_name(pl->ctl_unit, name, sizeof name);
	switch (pl->ctl_mode) {
	case CTL_FREE:
		if (pc->isolated)
			nx__buf_printf(o, "isolated (no non-isolated CPU on a core without a worker), "
				       "%s has no worker",
				   name);
		else
			nx__buf_printf(o, "housekeeping: not isolated, %s has no worker", name);
		break;
	case CTL_SIBLING:
		nx__buf_printf(o, "shares %s with worker %d on its SMT sibling: only %d usable core%s",
			   name, pl->ctl_worker, pl->nunits, plural(pl->nunits));
		break;
	default:
		nx__buf_printf(o, "shares cpu %d with worker %d: only %d usable core%s, no free SMT "
			       "sibling",
			   pc->cpu, pl->ctl_worker, pl->nunits, plural(pl->nunits));
		break;
	}
	reason_numa(pl, o, pc->numa, pu_local(pl, pc->cpu));
}

/* Plan-wide warnings, the most important first (notes[] is bounded). */
static void
write_notes(struct planner *pl)
{
	const struct nx_place_req *req = pl->req;
	struct nx_place_plan *plan = pl->plan;
	int n = plan->nworkers, noiso = 0, part = 0, remote = 0, remote_iso = 0;
	char l[128], m[128];
	struct cpuset *cores = &pl->tmp2;

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

	set_zero(&pl->tmp);
	set_zero(cores);
	for (int w = 0; w < n; w++) {
		const struct unit *u = pl->wunit[w];

		if (u->iso == ISO_NONE) {
			noiso++;
			set_set(&pl->tmp, u->pu);
		}
		if (u->iso == ISO_PART)
			part++;
		if (req->numa_node >= 0 && !u->local) {
			remote++;
			remote_iso += u->iso != ISO_NONE;
		}
		set_or(cores, cores, unit_cpus(pl, u, &pl->ucpus));
	}
	if (pl->req->isolated == NULL && pl->topo->isolated_unread[0] != '\0')
		note(pl, "%.*s: planned as if no CPU were isolated",
		     (int)strnlen(pl->topo->isolated_unread, sizeof pl->topo->isolated_unread),
		     pl->topo->isolated_unread);
	if (noiso == n && pl->niso_units == 0 && pl->iso_anywhere) {
		set_and(&pl->tmp, &pl->isolated, &pl->all);
		note(pl, "isolated cpus %s are outside the allowed CPUs: workers will see OS noise",
		     set_list(&pl->tmp, l, sizeof l));
	} else if (noiso == n && pl->niso_units == 0 && pl->ctl_mode != CTL_FREE) {
		note(pl, "no isolated CPUs: workers will see OS noise, and there is no core to "
			 "spare for isolation");
	} else if (noiso == n && pl->niso_units == 0) {
		set_list(cores, l, sizeof l);
		note(pl, "no isolated CPUs: workers will see OS noise; boot with isolcpus=%s "
			 "nohz_full=%s rcu_nocbs=%s for real-time use",
		     l, l, l);
	} else if (noiso > 0) {
		note(pl, "%d of %d workers on non-isolated CPUs (%s): isolate more cores or ask "
			 "for fewer workers",
		     noiso, n, set_list(&pl->tmp, l, sizeof l));
	}
	if (part > 0) {
		set_zero(&pl->tmp);
		set_zero(cores);
		for (int w = 0; w < n; w++) {
			if (pl->wunit[w]->iso != ISO_PART)
				continue;
			set_set(&pl->tmp, pl->wunit[w]->pu);
			set_or(cores, cores, unit_cpus(pl, pl->wunit[w], &pl->ucpus));
		}
		set_andnot(cores, cores, &pl->isolated);
		note(pl, "SMT siblings %s of workers (cpus %s) are not isolated: isolate whole "
			 "cores",
		     set_list(cores, m, sizeof m), set_list(&pl->tmp, l, sizeof l));
	}
	if (remote > 0) {
		set_zero(&pl->tmp);
		for (int w = 0; w < n; w++)
			if (!pl->wunit[w]->local)
				set_set(&pl->tmp, pl->wunit[w]->pu);
		note(pl, "workers on cpus %s are not on NUMA node %d with the segments: every ring "
			 "access crosses nodes%s",
		     set_list(&pl->tmp, l, sizeof l), req->numa_node,
		     remote_iso > 0 ? " (isolated CPUs come first)" : "");
	}
	if (req->ncpus > 0 && req->workers != 0 && req->workers != req->ncpus)
		note(pl, "workers=%d ignored: %d cpus given", req->workers, req->ncpus);
	if (pl->auto_capped > 0)
		note(pl, "auto: %d usable cores, but at most %d workers", pl->auto_capped,
		     NX_PLACE_MAX_WORKERS);
	if (pl->auto_iso) {
		set_andnot(&pl->tmp, &pl->allowed, &pl->isolated);
		note(pl, "auto: one worker per isolated core; non-isolated cpus %s are left to the "
			 "OS and the control thread",
		     set_list(&pl->tmp, m, sizeof m));
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
nx__place_plan_topo(struct nx_place_plan *plan, const struct nx_place_req *req,
		    const struct nx__topo *topo)
{
	struct planner *pl;
	char l[64];
	int rc;

	if (plan == NULL || req == NULL || topo == NULL)
		return nx__err(NX_EINVAL, "placement: NULL %s",
			       plan == NULL ? "plan" : req == NULL ? "request" : "topology");
	rc = check_req(req);
	if (rc < 0)
		return rc;
	memset(plan, 0, sizeof *plan);
	plan->control.cpu = -1;
	/* 7 CPU sets of 8 KiB: on the heap, not the control thread's stack */
	pl = nx__mem_zalloc(1, sizeof *pl);
	if (pl == NULL) {
		rc = nx__err(NX_ENOMEM, "placement: CPU sets");
		goto err;
	}
	pl->req = req;
	pl->plan = plan;
	pl->topo = topo;
	topo_sets(pl);
	if (req->numa_node >= 0 && !topo_has_numa(topo, req->numa_node)) {
		set_zero(&pl->tmp);
		for (int i = 0; i < topo->nnuma; i++)
			if (topo->numa[i] >= 0 && topo->numa[i] < NX_CPU_LIMIT)
				set_set(&pl->tmp, topo->numa[i]);
		set_list(&pl->tmp, l, sizeof l);
		rc = nx__err(NX_EINVAL, "NUMA node %d does not exist (the topology has nodes %s)",
			     req->numa_node, l);
		goto err;
	}
	rc = usable_cpus(pl);
	if (rc < 0)
		goto err;
	rc = isolated_cpus(pl);
	if (rc < 0)
		goto err;
	rc = build_units(pl);
	if (rc < 0)
		goto err;
	rc = pick_workers(pl);
	if (rc < 0)
		goto err;
	pick_control(pl);
	for (int w = 0; w < plan->nworkers; w++)
		fill_cpu(pl, &plan->worker[w], pl->wunit[w], pl->wunit[w]->pu);
	fill_cpu(pl, &plan->control, pl->ctl_unit, plan->control.cpu);
	for (int w = 0; w < plan->nworkers && !pl->text.failed; w++) {
		reason_worker(pl, w, &pl->text);
		copy_text(plan->worker[w].reason, sizeof plan->worker[w].reason, &pl->text);
		if (!pl->text.failed)
			nx__buf_reset(&pl->text);
	}
	reason_control(pl, &pl->text);
	copy_text(plan->control.reason, sizeof plan->control.reason, &pl->text);
	write_notes(pl);
	copy_notes(pl);
	rc = 0;
	if (pl->text.failed || pl->notes.failed)
		rc = nx__err(NX_ENOMEM, "placement: reasons and notes");
err:
	if (pl != NULL) {
		nx__mem_free(pl->units);
		nx__buf_free(&pl->text);
		nx__buf_free(&pl->notes);
	}
	nx__mem_free(pl);
	if (rc < 0) {
		memset(plan, 0, sizeof *plan);
		plan->control.cpu = -1;
	}
	return rc;
}

int
nx__place_plan(struct nx_place_plan *plan, const struct nx_place_req *req)
{
	struct nx__topo topo;
	unsigned what = 0;
	int rc;

	if (plan == NULL || req == NULL)
		return nx__err(NX_EINVAL, "placement: NULL %s", plan == NULL ? "plan" : "request");
	rc = check_req(req);
	if (rc < 0)
		return rc;
	if (req->allowed == NULL)
		what |= NX_TOPO_AFFINITY;
	if (req->isolated == NULL)
		what |= NX_TOPO_ISOLATED;
	rc = nx__topo_load(&topo, req->synthetic, what);
	if (rc < 0)
		goto err;
	rc = nx__place_plan_topo(plan, req, &topo);
	nx__topo_free(&topo);
	return rc;
err:
	memset(plan, 0, sizeof *plan);
	plan->control.cpu = -1;
	return rc;
}
