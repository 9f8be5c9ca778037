/*
 * place.h - the placement policy: which CPU each worker and the control
 * thread runs on, why (place.c), and the plan as text or JSON
 * (place_report.c). It decides over the plain topology the platform fills
 * (struct nx__topo, platform/nx_platform.h). Control path only.
 */
#ifndef NX_CORE_PLACE_H
#define NX_CORE_PLACE_H

#include <stdbool.h>
#include <stddef.h>

#include "platform/nx_platform.h"

#define NX_PLACE_MAX_WORKERS 64
#define NX_PLACE_REASON_LEN 160

struct nx_place_req {
	int workers;               /**< how many workers; 0 = one per usable core */
	const int *cpus;           /**< explicit worker CPUs (nworker_cpus), or NULL */
	int ncpus;                 /**< length of cpus */
	const char *isolated;      /**< cpulist of isolated CPUs; NULL = the kernel's */
	const char *synthetic;     /**< synthetic topology in the platform's syntax
				    *   (tests); NULL = this machine */
	const char *allowed;       /**< cpulist the process may use; NULL = its affinity mask */
	int numa_node;             /**< NUMA node holding the segments; -1 = any */
};

struct nx_place_cpu {
	int cpu;                          /**< OS index of the PU */
	int core;                         /**< logical index of its core */
	int numa;                         /**< NUMA node OS index, -1 when unknown */
	bool isolated;                    /**< in the isolated list */
	char reason[NX_PLACE_REASON_LEN]; /**< why this CPU was chosen */
};

struct nx_place_plan {
	int nworkers;
	struct nx_place_cpu worker[NX_PLACE_MAX_WORKERS];
	struct nx_place_cpu control;      /**< the control thread's CPU */
	bool control_shares_worker_core;  /**< only when there was no other core */
	int ncores, npus;                 /**< what the topology had */
	char notes[512];                  /**< warnings: e.g. fewer cores than asked */
};

/**
 * Plan where workers and the control thread run: one worker per
 * physical core, never two on SMT siblings, isolated CPUs first, the NUMA
 * node of the segments preferred, the control thread on another CPU.
 * Loads the topology (nx__topo_load) and plans over it.
 * @return 0, NX_EINVAL (an explicit CPU is unknown, duplicate, an SMT
 *   sibling of another worker, or too many workers), NX_ENOMEM, NX_EIO
 *   (the topology could not be read)
 */
int nx__place_plan(struct nx_place_plan *plan, const struct nx_place_req *req);
/**
 * The same over a topology the caller has (req->synthetic is ignored;
 * req->allowed and req->isolated, when set, still replace the topology's
 * affine and isolated flags). @return as nx__place_plan
 */
int nx__place_plan_topo(struct nx_place_plan *plan, const struct nx_place_req *req,
			const struct nx__topo *topo);

/* ---- the report (place_report.c) ---- */

struct nx_buf;
struct nx_json;

/** Append the plan as readable text, one line per thread and per note. */
void nx__place_report(const struct nx_place_plan *plan, struct nx_buf *b);
/** Write the plan as one JSON object: a value where j expects one. */
void nx__place_report_json(const struct nx_place_plan *plan, struct nx_json *j);
/** nx__place_report into buf[len]. @return the report's length (snprintf
 *  rules: what does not fit is cut), or NX_EINVAL, NX_ENOMEM */
int nx__place_format(const struct nx_place_plan *plan, char *buf, size_t len);
/** nx__place_report_json into buf[len], as nx__place_format. */
int nx__place_format_json(const struct nx_place_plan *plan, char *buf, size_t len);

#endif /* NX_CORE_PLACE_H */
