/*
 * Placement: cpulist parsing, the planner on synthetic hwloc topologies
 * (isolation first, NUMA next, never two workers on SMT siblings, a core
 * kept for the control thread), the refusals, and the text and JSON
 * renderings; the planner over hand-built topologies (struct nx__topo),
 * and the topology hwloc fills. One test runs on this machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/control/place.h"

/*
 * Synthetic topologies spell their NUMA level: when hwloc 2.9 inserts the
 * implicit one itself, its memmove of the level table shows up under
 * valgrind as an overlapping __memcpy_chk (glibc shares the two
 * implementations), which would fail a valgrind run for nothing.
 */
/* 2 packages x 4 cores x 2 PUs: cores 0-7, core k holds cpus 2k and 2k+1 */
#define TOPO_SMT "numa:1 pack:2 core:4 pu:2"
/* the same with one NUMA node per package: node 0 = cpus 0-7, node 1 = 8-15 */
#define TOPO_NUMA "pack:2 numa:1 core:4 pu:2"

static struct nx_place_req
req_syn(const char *synthetic, const char *isolated, int workers)
{
	struct nx_place_req r;

	memset(&r, 0, sizeof r);
	r.synthetic = synthetic;
	r.isolated = isolated;
	r.workers = workers;
	r.numa_node = -1;
	return r;
}

static void
plan_ok(struct nx_place_plan *p, const struct nx_place_req *r)
{
	int rc = nx__place_plan(p, r);

	if (rc != 0)
		print_error("nx_place_plan: %d: %s\n", rc, nx__errmsg());
	assert_int_equal(rc, 0);
}

static void
plan_fails(const struct nx_place_req *r, const char *msg)
{
	struct nx_place_plan p;
	int rc = nx__place_plan(&p, r);

	assert_int_equal(rc, NX_EINVAL);
	if (strstr(nx__errmsg(), msg) == NULL)
		print_error("message \"%s\" lacks \"%s\"\n", nx__errmsg(), msg);
	assert_non_null(strstr(nx__errmsg(), msg));
}

static bool
core_has_worker(const struct nx_place_plan *p, int core)
{
	for (int i = 0; i < p->nworkers; i++)
		if (p->worker[i].core == core)
			return true;
	return false;
}

/* No two workers on one core: on TOPO_SMT/TOPO_NUMA cpu/2 is the core. */
static void
assert_one_worker_per_core(const struct nx_place_plan *p)
{
	for (int i = 0; i < p->nworkers; i++) {
		assert_true(p->worker[i].core >= 0);
		for (int j = 0; j < i; j++) {
			assert_int_not_equal(p->worker[i].core, p->worker[j].core);
			assert_int_not_equal(p->worker[i].cpu, p->worker[j].cpu);
		}
	}
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		print_error("\"%s\" lacks \"%s\"\n", hay, needle);
	assert_non_null(strstr(hay, needle));
}

/* ---- nx__cpulist_parse ---- */

static void
test_cpulist_parses_single_cpus_and_ranges(void **state)
{
	static const int want[] = { 0, 1, 2, 3, 6, 8, 9 };
	int cpus[16];

	(void)state;
	assert_int_equal(nx__cpulist_parse("0-3,6,8-9", cpus, 16), 7);
	assert_memory_equal(cpus, want, sizeof want);
	assert_int_equal(nx__cpulist_parse("5", cpus, 16), 1);
	assert_int_equal(cpus[0], 5);
	assert_int_equal(nx__cpulist_parse("4-4", cpus, 16), 1);
	assert_int_equal(cpus[0], 4);
}

static void
test_cpulist_tolerates_newline_and_blanks(void **state)
{
	int cpus[16];

	(void)state;
	assert_int_equal(nx__cpulist_parse("1-2\n", cpus, 16), 2);
	assert_int_equal(cpus[0], 1);
	assert_int_equal(cpus[1], 2);
	assert_int_equal(nx__cpulist_parse("  5 , 7 \t\n", cpus, 16), 2);
	assert_int_equal(cpus[0], 5);
	assert_int_equal(cpus[1], 7);
}

static void
test_cpulist_empty_string_is_zero_cpus(void **state)
{
	int cpus[4];

	(void)state;
	assert_int_equal(nx__cpulist_parse("", cpus, 4), 0);
	assert_int_equal(nx__cpulist_parse("\n", cpus, 4), 0);
	assert_int_equal(nx__cpulist_parse(" ", NULL, 0), 0);
}

static void
test_cpulist_keeps_the_given_order(void **state)
{
	static const int want[] = { 3, 1, 2 };
	int cpus[4];

	(void)state;
	assert_int_equal(nx__cpulist_parse("3,1,2", cpus, 4), 3);
	assert_memory_equal(cpus, want, sizeof want);
}

static void
test_cpulist_rejects_backward_range_naming_it(void **state)
{
	int cpus[8];

	(void)state;
	assert_int_equal(nx__cpulist_parse("0,3-1", cpus, 8), NX_EINVAL);
	assert_contains(nx__errmsg(), "\"3-1\"");
	assert_contains(nx__errmsg(), "backwards");
}

static void
test_cpulist_rejects_non_numbers_naming_the_token(void **state)
{
	static const struct {
		const char *list, *token;
	} bad[] = {
		{ "a", "\"a\"" },     { "1,x2", "\"x2\"" }, { "1-", "\"1-\"" },
		{ "-1", "\"-1\"" },   { "1 2", "\"1 2\"" }, { "0-3:2", "\"0-3:2\"" },
		{ "1-b", "\"1-b\"" },
	};
	int cpus[8];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(nx__cpulist_parse(bad[i].list, cpus, 8), NX_EINVAL);
		assert_contains(nx__errmsg(), bad[i].token);
	}
}

static void
test_cpulist_rejects_empty_entries(void **state)
{
	int cpus[8];

	(void)state;
	assert_int_equal(nx__cpulist_parse("1,,2", cpus, 8), NX_EINVAL);
	assert_contains(nx__errmsg(), "empty entry at offset 2");
	assert_int_equal(nx__cpulist_parse("1,", cpus, 8), NX_EINVAL);
	assert_contains(nx__errmsg(), "empty entry");
	assert_int_equal(nx__cpulist_parse(",1", cpus, 8), NX_EINVAL);
	assert_contains(nx__errmsg(), "empty entry at offset 0");
}

static void
test_cpulist_rejects_more_cpus_than_room(void **state)
{
	int cpus[4] = { -1, -1, -1, -1 };

	(void)state;
	assert_int_equal(nx__cpulist_parse("0-3", cpus, 4), 4);
	assert_int_equal(nx__cpulist_parse("0-4", cpus, 4), NX_EINVAL);
	assert_contains(nx__errmsg(), "more than 4 CPUs");
	assert_contains(nx__errmsg(), "\"0-4\"");
	assert_int_equal(nx__cpulist_parse("0,1,2,3,4", cpus, 4), NX_EINVAL);
	assert_int_equal(nx__cpulist_parse("0-1000000", cpus, 4), NX_EINVAL);
}

static void
test_cpulist_rejects_cpu_numbers_that_overflow(void **state)
{
	int cpus[4];

	(void)state;
	assert_int_equal(nx__cpulist_parse("99999999999999999999", cpus, 4), NX_EINVAL);
	assert_contains(nx__errmsg(), "above 65535");
	assert_int_equal(nx__cpulist_parse("0-65536", cpus, 4), NX_EINVAL);
	assert_contains(nx__errmsg(), "\"0-65536\"");
}

static void
test_cpulist_rejects_null_and_missing_room(void **state)
{
	int cpus[1];

	(void)state;
	assert_int_equal(nx__cpulist_parse(NULL, cpus, 1), NX_EINVAL);
	assert_int_equal(nx__cpulist_parse("1", NULL, 1), NX_EINVAL);
	assert_int_equal(nx__cpulist_parse("1", cpus, -1), NX_EINVAL);
}

/* ---- planner: isolation, SMT, control ---- */

static void
test_plan_puts_workers_on_isolated_cores_first(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, "8-15", 6);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.ncores, 8);
	assert_int_equal(p.npus, 16);
	assert_int_equal(p.nworkers, 6);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p.worker[i].cpu, 8 + 2 * i);
		assert_int_equal(p.worker[i].core, 4 + i);
		assert_true(p.worker[i].isolated);
		assert_contains(p.worker[i].reason, "isolated");
	}
	/* then non-isolated cores, keeping the core of CPU 0 for last */
	assert_int_equal(p.worker[4].cpu, 2);
	assert_int_equal(p.worker[5].cpu, 4);
	assert_false(p.worker[4].isolated);
	assert_contains(p.worker[4].reason, "not isolated (only 4 isolated cores");
	assert_one_worker_per_core(&p);
	assert_contains(p.notes, "2 of 6 workers on non-isolated CPUs (2,4)");
	/* control: housekeeping CPU on a core without a worker */
	assert_false(p.control.isolated);
	assert_false(core_has_worker(&p, p.control.core));
	assert_int_equal(p.control.cpu, 0);
	assert_false(p.control_shares_worker_core);
	assert_contains(p.control.reason, "housekeeping");
}

static void
test_plan_auto_takes_one_worker_per_isolated_core(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, "8-15", 0);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p.worker[i].cpu, 8 + 2 * i);
		assert_true(p.worker[i].isolated);
	}
	assert_int_equal(p.control.cpu, 0);
	assert_false(p.control.isolated);
	assert_contains(p.notes, "one worker per isolated core");
}

static void
test_plan_auto_without_isolation_keeps_one_core_for_control(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 7);
	assert_one_worker_per_core(&p);
	for (int i = 0; i < p.nworkers; i++) {
		assert_int_equal(p.worker[i].cpu % 2, 0); /* first PU of its core */
		assert_int_equal(p.worker[i].cpu / 2, p.worker[i].core);
		assert_contains(p.worker[i].reason, "not isolated (no isolated CPUs");
		assert_contains(p.worker[i].reason, "left idle");
	}
	assert_false(core_has_worker(&p, p.control.core));
	assert_int_equal(p.control.cpu, 0);
	assert_false(p.control_shares_worker_core);
	assert_contains(p.notes, "no isolated CPUs: workers will see OS noise");
	assert_contains(p.notes, "isolcpus=2-15");
}

static void
test_plan_never_puts_workers_on_smt_siblings_even_when_isolated(void **state)
{
	/* every PU isolated: still one worker per core, siblings left idle */
	struct nx_place_req r = req_syn(TOPO_SMT, "0-15", 8);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 8);
	assert_one_worker_per_core(&p);
	for (int i = 0; i < p.nworkers; i++)
		assert_int_equal(p.worker[i].cpu % 2, 0);
	/* all cores have a worker: control goes on a sibling */
	assert_true(p.control_shares_worker_core);
	assert_int_equal(p.control.cpu % 2, 1);
}

static void
test_plan_auto_on_two_cores_keeps_the_other_for_control(void **state)
{
	struct nx_place_req r = req_syn("numa:1 core:2 pu:1", NULL, 0);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.ncores, 2);
	assert_int_equal(p.npus, 2);
	assert_int_equal(p.nworkers, 1);
	assert_int_equal(p.worker[0].cpu, 1);
	assert_int_equal(p.worker[0].core, 1);
	assert_int_equal(p.control.cpu, 0);
	assert_int_equal(p.control.core, 0);
	assert_false(p.control_shares_worker_core);
}

static void
test_plan_auto_on_one_smt_core_puts_control_on_the_sibling(void **state)
{
	struct nx_place_req r = req_syn("numa:1 core:1 pu:2", NULL, 0);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 1);
	assert_int_equal(p.worker[0].cpu, 0);
	assert_int_equal(p.control.cpu, 1);
	assert_int_equal(p.control.core, 0);
	assert_true(p.control_shares_worker_core);
	assert_contains(p.control.reason, "shares core 0 with worker 0 on its SMT sibling");
	assert_contains(p.worker[0].reason, "SMT sibling 1 runs the control thread");
	assert_contains(p.notes, "control thread shares core 0 with worker 0");
	assert_contains(p.notes, "no core to spare");
}

static void
test_plan_workers_on_every_core_share_a_cpu_with_control(void **state)
{
	struct nx_place_req r = req_syn("numa:1 core:2 pu:1", NULL, 2);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 2);
	assert_one_worker_per_core(&p);
	assert_true(p.control_shares_worker_core);
	/* the last worker, on CPU 0's core, shares its CPU with control */
	assert_int_equal(p.worker[1].cpu, 0);
	assert_int_equal(p.control.cpu, 0);
	assert_contains(p.control.reason, "shares cpu 0 with worker 1: only 2 usable cores");
	assert_contains(p.notes, "control thread shares cpu 0 with worker 1");
	assert_contains(p.notes, "idle=sleep");
}

static void
test_plan_single_pu_without_core_counts_as_a_core(void **state)
{
	struct nx_place_req r = req_syn("numa:1 pu:1", NULL, 0);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.ncores, 1);
	assert_int_equal(p.nworkers, 1);
	assert_int_equal(p.worker[0].cpu, 0);
	assert_int_equal(p.worker[0].core, -1);
	assert_int_equal(p.control.cpu, 0);
	assert_true(p.control_shares_worker_core);
}

static void
test_plan_ranks_fully_isolated_cores_above_half_isolated_ones(void **state)
{
	/* core 2 has cpu 4 isolated but its sibling 5 not; core 3 fully isolated */
	struct nx_place_req r = req_syn(TOPO_SMT, "4,6-7", 2);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.worker[0].cpu, 6);
	assert_int_equal(p.worker[1].cpu, 4);
	assert_true(p.worker[1].isolated);
	assert_contains(p.worker[1].reason, "SMT sibling 5 is not");
	assert_contains(p.notes, "SMT siblings 5 of workers (cpus 4) are not isolated");
}

static void
test_plan_takes_the_isolated_pu_of_a_half_isolated_core(void **state)
{
	/* only the second PU of core 1 is isolated: the worker takes it */
	struct nx_place_req r = req_syn(TOPO_SMT, "3", 1);
	struct nx_place_plan p;

	(void)state;
	plan_ok(&p, &r);
	assert_int_equal(p.worker[0].cpu, 3);
	assert_int_equal(p.worker[0].core, 1);
	assert_true(p.worker[0].isolated);
}

static void
test_plan_keeps_to_the_allowed_cpus(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);
	struct nx_place_plan p;

	(void)state;
	r.allowed = "4-7";
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 1); /* 2 usable cores: 1 worker + control */
	assert_int_equal(p.worker[0].cpu, 4);
	assert_int_equal(p.control.cpu, 6);
	assert_false(p.control_shares_worker_core);
}

static void
test_plan_says_when_the_isolated_cpus_are_not_allowed(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, "8-15", 0);
	struct nx_place_plan p;

	(void)state;
	r.allowed = "0-7";
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 3);
	for (int i = 0; i < p.nworkers; i++)
		assert_true(p.worker[i].cpu < 8);
	assert_contains(p.worker[0].reason, "not isolated (no usable isolated CPU)");
	assert_contains(p.notes, "isolated cpus 8-15 are outside the allowed CPUs");
}

/* ---- planner: NUMA ---- */

static void
test_plan_prefers_the_segments_numa_node(void **state)
{
	struct nx_place_req r = req_syn(TOPO_NUMA, NULL, 3);
	struct nx_place_plan p;

	(void)state;
	r.numa_node = 1;
	plan_ok(&p, &r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p.worker[i].cpu, 8 + 2 * i);
		assert_int_equal(p.worker[i].numa, 1);
		assert_contains(p.worker[i].reason, "NUMA node 1 (holds the segments)");
	}
	/* control: non-isolated, on the segments' node (first touch), free core */
	assert_int_equal(p.control.numa, 1);
	assert_int_equal(p.control.cpu, 14);
	assert_false(core_has_worker(&p, p.control.core));
	assert_null(strstr(p.notes, "NUMA"));
}

static void
test_plan_numa_node_zero_keeps_cpu0_core_last(void **state)
{
	struct nx_place_req r = req_syn(TOPO_NUMA, NULL, 4);
	struct nx_place_plan p;

	(void)state;
	r.numa_node = 0;
	plan_ok(&p, &r);
	/* node 0 has 4 cores; CPU 0's core is its last choice but still on node 0 */
	assert_int_equal(p.worker[0].cpu, 2);
	assert_int_equal(p.worker[1].cpu, 4);
	assert_int_equal(p.worker[2].cpu, 6);
	assert_int_equal(p.worker[3].cpu, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(p.worker[i].numa, 0);
	/* node 0 is full: control goes to the remote node's first free CPU */
	assert_int_equal(p.control.cpu, 8);
	assert_int_equal(p.control.numa, 1);
}

static void
test_plan_prefers_isolation_over_numa_locality(void **state)
{
	/* isolated CPUs only on node 0, segments on node 1 */
	struct nx_place_req r = req_syn(TOPO_NUMA, "0-7", 3);
	struct nx_place_plan p;

	(void)state;
	r.numa_node = 1;
	plan_ok(&p, &r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p.worker[i].cpu, 2 + 2 * i);
		assert_true(p.worker[i].isolated);
		assert_int_equal(p.worker[i].numa, 0);
		assert_contains(p.worker[i].reason, "remote: the segments are on node 1");
	}
	assert_contains(p.notes, "workers on cpus 2,4,6 are not on NUMA node 1");
	assert_int_equal(p.control.cpu, 8);
	assert_false(p.control.isolated);
}

static void
test_plan_fills_local_isolated_cores_before_remote_isolated_ones(void **state)
{
	struct nx_place_req r = req_syn(TOPO_NUMA, "4-15", 5);
	struct nx_place_plan p;

	(void)state;
	r.numa_node = 1;
	plan_ok(&p, &r);
	assert_int_equal(p.worker[0].cpu, 8);
	assert_int_equal(p.worker[1].cpu, 10);
	assert_int_equal(p.worker[2].cpu, 12);
	assert_int_equal(p.worker[3].cpu, 14);
	assert_int_equal(p.worker[4].cpu, 4);
	assert_int_equal(p.worker[4].numa, 0);
	assert_true(p.worker[4].isolated);
	assert_contains(p.notes, "workers on cpus 4 are not on NUMA node 1");
	assert_int_equal(p.control.cpu, 0);
}

static void
test_plan_rejects_unknown_numa_node(void **state)
{
	struct nx_place_req r = req_syn(TOPO_NUMA, NULL, 1);

	(void)state;
	r.numa_node = 3;
	plan_fails(&r, "NUMA node 3 does not exist (the topology has nodes 0-1)");
}

/* ---- planner: explicit CPUs and refusals ---- */

static void
test_plan_uses_explicit_cpus_in_the_given_order(void **state)
{
	static const int cpus[] = { 10, 2, 8 };
	struct nx_place_req r = req_syn(TOPO_SMT, "8-15", 0);
	struct nx_place_plan p;

	(void)state;
	r.cpus = cpus;
	r.ncpus = 3;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 3);
	assert_int_equal(p.worker[0].cpu, 10);
	assert_int_equal(p.worker[1].cpu, 2);
	assert_int_equal(p.worker[2].cpu, 8);
	assert_true(p.worker[0].isolated);
	assert_false(p.worker[1].isolated);
	assert_contains(p.worker[1].reason, "given in cpus");
	assert_int_equal(p.control.cpu, 0);
}

static void
test_plan_explicit_cpus_override_the_worker_count(void **state)
{
	static const int cpus[] = { 2, 4 };
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 5);
	struct nx_place_plan p;

	(void)state;
	r.cpus = cpus;
	r.ncpus = 2;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 2);
	assert_contains(p.notes, "workers=5 ignored: 2 cpus given");
}

static void
test_plan_rejects_duplicate_cpus(void **state)
{
	static const int cpus[] = { 2, 4, 2 };
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);

	(void)state;
	r.cpus = cpus;
	r.ncpus = 3;
	plan_fails(&r, "worker cpu 2 given twice (workers 0 and 2)");
}

static void
test_plan_rejects_smt_siblings_naming_both_cpus_and_the_core(void **state)
{
	static const int cpus[] = { 0, 3, 2 };
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);

	(void)state;
	r.cpus = cpus;
	r.ncpus = 3;
	plan_fails(&r, "worker cpus 3 and 2 are SMT siblings on core 1");
}

static void
test_plan_rejects_unknown_cpu(void **state)
{
	static const int cpus[] = { 2, 99 };
	static const int neg[] = { -1 };
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);

	(void)state;
	r.cpus = cpus;
	r.ncpus = 2;
	plan_fails(&r, "worker cpu 99 does not exist (PUs: 0-15)");
	r.cpus = neg;
	r.ncpus = 1;
	plan_fails(&r, "worker cpu -1 does not exist");
}

static void
test_plan_rejects_cpu_outside_the_allowed_set(void **state)
{
	static const int cpus[] = { 8 };
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);

	(void)state;
	r.cpus = cpus;
	r.ncpus = 1;
	r.allowed = "0-7";
	plan_fails(&r, "worker cpu 8 is not usable: allowed CPUs are 0-7");
}

static void
test_plan_rejects_more_workers_than_usable_cores(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 9);

	(void)state;
	plan_fails(&r, "asked for 9 workers but only 8 usable cores (16 PUs, SMT siblings never "
		       "share a worker)");
	r.workers = 5;
	r.allowed = "0-7";
	plan_fails(&r, "asked for 5 workers but only 4 usable cores (8 PUs");
	r = req_syn("numa:1 core:1 pu:2", NULL, 2);
	plan_fails(&r, "asked for 2 workers but only 1 usable cores (2 PUs");
}

static void
test_plan_rejects_bad_requests(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, -1);
	struct nx_place_plan p;

	(void)state;
	plan_fails(&r, "workers -1");
	r.workers = NX_PLACE_MAX_WORKERS + 1;
	plan_fails(&r, "workers 65");
	r = req_syn(TOPO_SMT, NULL, 0);
	r.ncpus = 2;
	plan_fails(&r, "2 worker cpus but no list");
	r = req_syn("bogus:3", NULL, 0);
	plan_fails(&r, "bad synthetic topology \"bogus:3\"");
	r = req_syn(TOPO_SMT, "1,,2", 0);
	plan_fails(&r, "isolated CPUs: cpulist \"1,,2\": empty entry");
	r = req_syn(TOPO_SMT, NULL, 0);
	r.allowed = "20-30";
	plan_fails(&r, "no usable CPU: allowed 20-30, the topology has PUs 0-15");
	assert_int_equal(nx__place_plan(NULL, &r), NX_EINVAL);
	assert_int_equal(nx__place_plan(&p, NULL), NX_EINVAL);
}

/* ---- formatting ---- */

/* A small JSON validator: enough to prove the output parses. */
struct json {
	const char *p;
};

static bool json_value(struct json *j);

static void
json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool
json_string(struct json *j)
{
	if (*j->p != '"')
		return false;
	for (j->p++; *j->p != '"'; j->p++) {
		if (*j->p == '\0' || (unsigned char)*j->p < 0x20)
			return false;
		if (*j->p == '\\') {
			j->p++;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF", j->p[i]) == NULL ||
					    j->p[i] == '\0')
						return false;
				j->p += 4;
			} else if (*j->p == '\0' || strchr("\"\\/bfnrt", *j->p) == NULL) {
				return false;
			}
		}
	}
	j->p++;
	return true;
}

static bool
json_number(struct json *j)
{
	const char *s = j->p;

	if (*j->p == '-')
		j->p++;
	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s && j->p[-1] != '-';
}

static bool
json_list(struct json *j, char close, bool members)
{
	j->p++;
	json_ws(j);
	if (*j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		json_ws(j);
		if (members) {
			if (!json_string(j))
				return false;
			json_ws(j);
			if (*j->p++ != ':')
				return false;
		}
		if (!json_value(j))
			return false;
		json_ws(j);
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static bool
json_value(struct json *j)
{
	json_ws(j);
	switch (*j->p) {
	case '{':
		return json_list(j, '}', true);
	case '[':
		return json_list(j, ']', false);
	case '"':
		return json_string(j);
	case 't':
		return strncmp(j->p, "true", 4) == 0 && (j->p += 4);
	case 'f':
		return strncmp(j->p, "false", 5) == 0 && (j->p += 5);
	case 'n':
		return strncmp(j->p, "null", 4) == 0 && (j->p += 4);
	default:
		return json_number(j);
	}
}

static void
assert_json_object(const char *s)
{
	struct json j = { s };

	assert_int_equal(*s, '{');
	if (!json_value(&j) || *j.p != '\0')
		print_error("bad JSON at offset %d: %s\n", (int)(j.p - s), s);
	assert_true(*j.p == '\0');
}

static void
test_format_prints_one_row_per_thread_and_the_notes(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, "8-15", 5);
	struct nx_place_plan p;
	char buf[4096];
	int n;

	(void)state;
	plan_ok(&p, &r);
	n = nx__place_format(&p, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_contains(buf, "placement: 8 cores, 16 PUs; 5 workers, 4 on isolated CPUs\n");
	assert_contains(buf, "  worker 0   cpu 8    core 4    numa 0   isolated");
	assert_contains(buf, "  worker 4   cpu 2    core 1    numa 0   not isolated");
	assert_contains(buf, "  control    cpu 0    core 0    numa 0   housekeeping");
	assert_contains(buf, "  note: 1 of 5 workers on non-isolated CPUs (2)");
	assert_int_equal(buf[n - 1], '\n');
}

static void
test_format_follows_snprintf_rules_when_short(void **state)
{
	struct nx_place_req r = req_syn(TOPO_SMT, NULL, 0);
	struct nx_place_plan p;
	char full[4096], small[16];
	int n;

	(void)state;
	plan_ok(&p, &r);
	n = nx__place_format(&p, full, sizeof full);
	assert_true(n > (int)sizeof small);
	assert_int_equal(nx__place_format(&p, small, sizeof small), n);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_memory_equal(small, full, sizeof small - 1);
	assert_int_equal(nx__place_format(&p, NULL, 0), n);
	n = nx__place_format_json(&p, full, sizeof full);
	assert_int_equal(n, (int)strlen(full));
	assert_int_equal(nx__place_format_json(&p, small, sizeof small), n);
	assert_int_equal(strlen(small), sizeof small - 1);
}

static void
test_format_json_is_one_valid_object_on_one_line(void **state)
{
	struct nx_place_req r = req_syn("numa:1 core:1 pu:2", NULL, 0);
	struct nx_place_plan p;
	char buf[4096];
	int n;

	(void)state;
	plan_ok(&p, &r);
	n = nx__place_format_json(&p, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_null(strchr(buf, '\n'));
	assert_json_object(buf);
	assert_contains(buf, "{\"cores\":1,\"pus\":2,\"workers\":[{\"worker\":0,\"cpu\":0,"
			     "\"core\":0,\"numa\":0,\"isolated\":false,\"reason\":\"");
	assert_contains(buf, "\"control\":{\"cpu\":1,\"core\":0,\"numa\":0,\"isolated\":false,"
			     "\"reason\":\"shares core 0");
	assert_contains(buf, "\"control_shares_worker_core\":true,\"notes\":[\"control thread "
			     "shares core 0");
	assert_contains(buf, "\",\"no isolated CPUs");
	assert_true(strcmp(buf + strlen(buf) - 2, "]}") == 0);

	r = req_syn(TOPO_NUMA, "0-7", 7);
	r.numa_node = 1;
	plan_ok(&p, &r);
	n = nx__place_format_json(&p, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_json_object(buf);
	assert_contains(buf, "\"isolated\":true");
}

static void
test_format_json_escapes_strings(void **state)
{
	struct nx_place_plan p;
	char buf[2048];

	(void)state;
	memset(&p, 0, sizeof p);
	p.nworkers = 1;
	p.ncores = p.npus = 1;
	p.worker[0].numa = -1;
	snprintf(p.worker[0].reason, sizeof p.worker[0].reason, "a \"q\" b\\c\td\x01");
	snprintf(p.control.reason, sizeof p.control.reason, "ctl");
	snprintf(p.notes, sizeof p.notes, "first\nsecond \"2\"\n");
	nx__place_format_json(&p, buf, sizeof buf);
	assert_json_object(buf);
	assert_contains(buf, "\"numa\":-1");
	/* every control character as \u00XX, the tab too (the one JSON escaper) */
	assert_contains(buf, "\"reason\":\"a \\\"q\\\" b\\\\c\\u0009d\\u0001\"");
	assert_contains(buf, "\"notes\":[\"first\",\"second \\\"2\\\"\"]");
	/* a plan whose notes fill the array without a terminator stays in bounds */
	memset(p.notes, 'x', sizeof p.notes);
	nx__place_format_json(&p, buf, sizeof buf);
	assert_json_object(buf);
	nx__place_format(&p, buf, sizeof buf);
	assert_contains(buf, "  note: xxxx");
}

static void
test_plan_cuts_notes_that_overflow_with_an_ellipsis(void **state)
{
	/* 64 cores; odd cpus of package 0 isolated; every odd cpu a worker */
	struct nx_place_req r = req_syn("pack:2 numa:1 core:32 pu:2", NULL, 0);
	struct nx_place_plan p;
	char iso[512];
	int cpus[64];
	size_t len, at = 0;

	(void)state;
	for (int i = 0; i < 64; i++)
		cpus[i] = 2 * i + 1;
	for (int c = 1; c < 64; c += 2)
		at += (size_t)snprintf(iso + at, sizeof iso - at, "%s%d", at ? "," : "", c);
	r.isolated = iso;
	r.numa_node = 1;
	r.cpus = cpus;
	r.ncpus = 64;
	plan_ok(&p, &r);
	assert_int_equal(p.nworkers, 64);
	assert_true(p.control_shares_worker_core);
	len = strlen(p.notes);
	assert_int_equal(len, sizeof p.notes - 1);
	assert_string_equal(p.notes + len - 3, "...");
	/* the most important note comes first and is whole */
	assert_int_equal(strncmp(p.notes, "control thread shares core", 26), 0);
}

/* ---- the policy over hand-built topologies, and the topology from hwloc ---- */

/*
 * ncores cores of smt PUs; core k holds cpus k, k + ncores, ... (the
 * numbering of most x86 servers), NUMA node = core * nnuma / ncores.
 */
static struct nx__topo
topo_hand(struct nx__topo_pu *pu, int *numa, int ncores, int smt, int nnuma)
{
	struct nx__topo t;
	int n = 0;

	memset(&t, 0, sizeof t);
	for (int k = 0; k < ncores; k++)
		for (int s = 0; s < smt; s++, n++) {
			memset(&pu[n], 0, sizeof pu[n]);
			pu[n].cpu = k + s * ncores;
			pu[n].core = k;
			pu[n].numa[0] = k * nnuma / ncores;
			pu[n].nnuma = 1;
			pu[n].allowed = true;
			pu[n].affine = true;
		}
	for (int i = 0; i < nnuma; i++)
		numa[i] = i;
	t.pu = pu;
	t.npus = n;
	t.numa = numa;
	t.nnuma = nnuma;
	return t;
}

static void
test_plan_over_a_hand_built_topology_matches_the_synthetic_one(void **state)
{
	struct nx__topo_pu pu[16];
	int numa[2];
	struct nx__topo t = topo_hand(pu, numa, 8, 2, 2);
	struct nx_place_req r = req_syn(TOPO_NUMA, "4-15", 5);
	struct nx_place_plan a, b;
	char want[4096], got[4096];

	(void)state;
	/* TOPO_NUMA numbers core k's PUs 2k, 2k+1 */
	for (int i = 0; i < 16; i++) {
		pu[i].cpu = i;
		pu[i].core = i / 2;
		pu[i].numa[0] = i / 8;
	}
	r.numa_node = 1;
	plan_ok(&a, &r);
	assert_int_equal(nx__place_plan_topo(&b, &r, &t), 0);
	nx__place_format(&a, want, sizeof want);
	nx__place_format(&b, got, sizeof got);
	assert_string_equal(got, want);
	nx__place_format_json(&a, want, sizeof want);
	nx__place_format_json(&b, got, sizeof got);
	assert_string_equal(got, want);
}

static void
test_plan_takes_isolation_and_affinity_from_the_topology(void **state)
{
	struct nx__topo_pu pu[8];
	int numa[1];
	struct nx__topo t = topo_hand(pu, numa, 4, 2, 1);
	struct nx_place_req r = req_syn(NULL, NULL, 0);
	struct nx_place_plan p;

	(void)state;
	/* cores 2 {2,6} and 3 {3,7} isolated; cpu 7 outside the affinity mask */
	for (int i = 0; i < 8; i++) {
		pu[i].isolated = pu[i].cpu % 4 >= 2;
		pu[i].affine = pu[i].cpu != 7;
	}
	assert_int_equal(nx__place_plan_topo(&p, &r, &t), 0);
	assert_int_equal(p.nworkers, 2);
	assert_int_equal(p.worker[0].cpu, 2);
	assert_int_equal(p.worker[1].cpu, 3);
	assert_true(p.worker[0].isolated && p.worker[1].isolated);
	assert_int_equal(p.control.cpu, 0);
	assert_false(p.control.isolated);
	/* an explicit list replaces what the topology says */
	r.isolated = "";
	r.allowed = "0-7";
	assert_int_equal(nx__place_plan_topo(&p, &r, &t), 0);
	assert_int_equal(p.nworkers, 3);
	assert_false(p.worker[0].isolated);
}

static void
test_plan_says_when_the_isolated_cpus_could_not_be_read(void **state)
{
	struct nx__topo_pu pu[4];
	int numa[1];
	struct nx__topo t = topo_hand(pu, numa, 4, 1, 1);
	struct nx_place_req r = req_syn(NULL, NULL, 0);
	struct nx_place_plan p;

	(void)state;
	snprintf(t.isolated_unread, sizeof t.isolated_unread,
		 "cannot read /sys/devices/system/cpu/isolated (Permission denied)");
	assert_int_equal(nx__place_plan_topo(&p, &r, &t), 0);
	assert_contains(p.notes, "cannot read /sys/devices/system/cpu/isolated (Permission "
				 "denied): planned as if no CPU were isolated");
}

static void
test_plan_over_a_pu_with_two_numa_nodes_counts_it_local_to_both(void **state)
{
	struct nx__topo_pu pu[2];
	int numa[2] = { 0, 1 };
	struct nx__topo t = topo_hand(pu, numa, 2, 1, 2);
	struct nx_place_req r = req_syn(NULL, NULL, 1);
	struct nx_place_plan p;
	char buf[2048];

	(void)state;
	/* cpu 0 on node 0 (DRAM) and node 1 (high-bandwidth memory) */
	pu[0].numa[1] = 1;
	pu[0].nnuma = 2;
	pu[1].numa[0] = 0;
	r.numa_node = 1;
	assert_int_equal(nx__place_plan_topo(&p, &r, &t), 0);
	assert_int_equal(p.worker[0].cpu, 0);
	assert_int_equal(p.worker[0].numa, 0);
	nx__place_format(&p, buf, sizeof buf);
	assert_contains(buf, "NUMA node 0 (holds the segments)");
}

static void
test_topo_load_fills_cores_and_numa_nodes_from_hwloc(void **state)
{
	struct nx__topo t;

	(void)state;
	assert_int_equal(nx__topo_load(&t, TOPO_NUMA, NX_TOPO_AFFINITY | NX_TOPO_ISOLATED), 0);
	assert_int_equal(t.npus, 16);
	assert_int_equal(t.nnuma, 2);
	assert_int_equal(t.numa[0], 0);
	assert_int_equal(t.numa[1], 1);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(t.pu[i].cpu, i);
		assert_int_equal(t.pu[i].core, i / 2);
		assert_int_equal(t.pu[i].nnuma, 1);
		assert_int_equal(t.pu[i].numa[0], i / 8);
		assert_true(t.pu[i].allowed && t.pu[i].affine);
		assert_false(t.pu[i].isolated);
	}
	assert_string_equal(t.isolated_unread, "");
	nx__topo_free(&t);
	assert_int_equal(nx__topo_load(&t, "numa:1 pu:2", 0), 0);
	assert_int_equal(t.npus, 2);
	assert_int_equal(t.pu[1].core, -1);
	nx__topo_free(&t);
	assert_int_equal(nx__topo_load(&t, "bogus:3", 0), NX_EINVAL);
	assert_null(t.pu);
}

/* ---- this machine, and threads ---- */

static void
test_plan_on_this_machine_has_a_worker(void **state)
{
	struct nx_place_req r;
	struct nx_place_plan p;
	cpu_set_t set;
	char buf[8192];

	(void)state;
	memset(&r, 0, sizeof r);
	r.numa_node = -1;
	plan_ok(&p, &r);
	assert_true(p.nworkers >= 1);
	assert_true(p.npus >= 1);
	assert_true(p.ncores >= 1);
	assert_true(p.control.cpu >= 0);
	assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
	for (int i = 0; i < p.nworkers; i++) {
		assert_true(p.worker[i].cpu >= 0);
		if (p.worker[i].cpu < CPU_SETSIZE)
			assert_true(CPU_ISSET(p.worker[i].cpu, &set));
		for (int j = 0; j < i; j++)
			assert_int_not_equal(p.worker[i].cpu, p.worker[j].cpu);
	}
	if (!p.control_shares_worker_core)
		assert_false(core_has_worker(&p, p.control.core));
	assert_true(nx__place_format(&p, buf, sizeof buf) > 0);
	assert_true(nx__place_format_json(&p, buf, sizeof buf) > 0);
	assert_json_object(buf);
}

struct race {
	char want[4096];
	int bad;
};

static void *
race_run(void *arg)
{
	struct race *rc = arg;
	struct nx_place_req r = req_syn(TOPO_NUMA, "4-15", 6);
	struct nx_place_plan p;
	char got[4096];

	r.numa_node = 1;
	for (int i = 0; i < 20; i++) {
		if (nx__place_plan(&p, &r) != 0) {
			rc->bad++;
			continue;
		}
		nx__place_format(&p, got, sizeof got);
		if (strcmp(got, rc->want) != 0)
			rc->bad++;
	}
	return NULL;
}

static void
test_plan_runs_concurrently_without_shared_state(void **state)
{
	struct nx_place_req r = req_syn(TOPO_NUMA, "4-15", 6);
	struct race race[4];
	pthread_t th[4];
	struct nx_place_plan p;

	(void)state;
	r.numa_node = 1;
	plan_ok(&p, &r);
	for (int i = 0; i < 4; i++) {
		race[i].bad = 0;
		nx__place_format(&p, race[i].want, sizeof race[i].want);
		assert_int_equal(pthread_create(&th[i], NULL, race_run, &race[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(race[i].bad, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpulist_parses_single_cpus_and_ranges),
		cmocka_unit_test(test_cpulist_tolerates_newline_and_blanks),
		cmocka_unit_test(test_cpulist_empty_string_is_zero_cpus),
		cmocka_unit_test(test_cpulist_keeps_the_given_order),
		cmocka_unit_test(test_cpulist_rejects_backward_range_naming_it),
		cmocka_unit_test(test_cpulist_rejects_non_numbers_naming_the_token),
		cmocka_unit_test(test_cpulist_rejects_empty_entries),
		cmocka_unit_test(test_cpulist_rejects_more_cpus_than_room),
		cmocka_unit_test(test_cpulist_rejects_cpu_numbers_that_overflow),
		cmocka_unit_test(test_cpulist_rejects_null_and_missing_room),
		cmocka_unit_test(test_plan_puts_workers_on_isolated_cores_first),
		cmocka_unit_test(test_plan_auto_takes_one_worker_per_isolated_core),
		cmocka_unit_test(test_plan_auto_without_isolation_keeps_one_core_for_control),
		cmocka_unit_test(test_plan_never_puts_workers_on_smt_siblings_even_when_isolated),
		cmocka_unit_test(test_plan_auto_on_two_cores_keeps_the_other_for_control),
		cmocka_unit_test(test_plan_auto_on_one_smt_core_puts_control_on_the_sibling),
		cmocka_unit_test(test_plan_workers_on_every_core_share_a_cpu_with_control),
		cmocka_unit_test(test_plan_single_pu_without_core_counts_as_a_core),
		cmocka_unit_test(test_plan_ranks_fully_isolated_cores_above_half_isolated_ones),
		cmocka_unit_test(test_plan_takes_the_isolated_pu_of_a_half_isolated_core),
		cmocka_unit_test(test_plan_keeps_to_the_allowed_cpus),
		cmocka_unit_test(test_plan_says_when_the_isolated_cpus_are_not_allowed),
		cmocka_unit_test(test_plan_prefers_the_segments_numa_node),
		cmocka_unit_test(test_plan_numa_node_zero_keeps_cpu0_core_last),
		cmocka_unit_test(test_plan_prefers_isolation_over_numa_locality),
		cmocka_unit_test(test_plan_fills_local_isolated_cores_before_remote_isolated_ones),
		cmocka_unit_test(test_plan_rejects_unknown_numa_node),
		cmocka_unit_test(test_plan_uses_explicit_cpus_in_the_given_order),
		cmocka_unit_test(test_plan_explicit_cpus_override_the_worker_count),
		cmocka_unit_test(test_plan_rejects_duplicate_cpus),
		cmocka_unit_test(test_plan_rejects_smt_siblings_naming_both_cpus_and_the_core),
		cmocka_unit_test(test_plan_rejects_unknown_cpu),
		cmocka_unit_test(test_plan_rejects_cpu_outside_the_allowed_set),
		cmocka_unit_test(test_plan_rejects_more_workers_than_usable_cores),
		cmocka_unit_test(test_plan_rejects_bad_requests),
		cmocka_unit_test(test_format_prints_one_row_per_thread_and_the_notes),
		cmocka_unit_test(test_format_follows_snprintf_rules_when_short),
		cmocka_unit_test(test_format_json_is_one_valid_object_on_one_line),
		cmocka_unit_test(test_format_json_escapes_strings),
		cmocka_unit_test(test_plan_cuts_notes_that_overflow_with_an_ellipsis),
		cmocka_unit_test(test_plan_over_a_hand_built_topology_matches_the_synthetic_one),
		cmocka_unit_test(test_plan_takes_isolation_and_affinity_from_the_topology),
		cmocka_unit_test(test_plan_says_when_the_isolated_cpus_could_not_be_read),
		cmocka_unit_test(test_plan_over_a_pu_with_two_numa_nodes_counts_it_local_to_both),
		cmocka_unit_test(test_topo_load_fills_cores_and_numa_nodes_from_hwloc),
		cmocka_unit_test(test_plan_on_this_machine_has_a_worker),
		cmocka_unit_test(test_plan_runs_concurrently_without_shared_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
