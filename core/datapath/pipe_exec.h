/*
 * pipe_exec.h - data path: what a worker brings to a run of a pipeline
 * (struct nx_exec), and the per-slot counters every slot's run keeps.
 * Below both runners: pipe_run.h (the graph) and policy.h (a slot's
 * policies) include it, neither includes the other's code.
 */
#ifndef NX_CORE_PIPE_EXEC_H
#define NX_CORE_PIPE_EXEC_H

#include <stdint.h>

#include <nx/nx_stage.h>

#include "shm/shm_internal.h"

/* Built with -DNX_NO_COUNTERS=1 (build/bin/nxd-nocounters), the data
 * path keeps no counters: only to measure what they cost. */
#ifndef NX_NO_COUNTERS
#define NX_NO_COUNTERS 0
#endif

struct nx_slot_pol;

/* What a worker brings to a run. */
struct nx_exec {
	struct nx_ctx *ctx;
	uint8_t *scratch;              /* per worker */
	uint32_t scratch_cap;
	uint32_t top;                  /* scratch in use */
	uint32_t max_payload;
	uint32_t *rr;                  /* the worker's turn counters */
	struct nx_health_slot_stats *stats; /* the worker's per-slot counters, by hidx; may be NULL */
	struct nx_lhist *hists;        /* the worker's per-slot histograms, by hidx; may be NULL */
	struct nx_slot_pol *pol;       /* the worker's per-slot policy state, by hidx; may be NULL */
	uint32_t nstats;
	uint32_t worker;               /* the worker's index (its row of slot caches) */
	/* A TSC value a policy slot may take as its start instead of reading
	 * the TSC again: valid while no slot ran since (ctx->nroute equals
	 * t_route). The worker sets it from its loop's read for the first
	 * request of a burst; each policy slot leaves its end for the next. */
	uint64_t t_start;
	uint32_t t_route;
};

/* A sampled stage time, to the slot's counters and histogram. */
static inline void
nx__slot_time(struct nx_exec *x, uint32_t hidx, uint64_t ns)
{
	struct nx_health_slot_stats *s;

	if (x->stats == NULL || hidx >= x->nstats)
		return;
	s = &x->stats[hidx];
	nx__store64(&s->timed, s->timed + 1);
	nx__store64(&s->time_ns, s->time_ns + ns);
	if (x->hists != NULL)
		nx__lhist_record(&x->hists[hidx], ns);
}

static inline void
nx__slot_count(struct nx_exec *x, uint32_t hidx, int status)
{
	struct nx_health_slot_stats *s;

	if (NX_NO_COUNTERS || x->stats == NULL || hidx >= x->nstats)
		return;
	s = &x->stats[hidx];
	nx__store64(&s->calls, s->calls + 1);
	if (status < 0) {
		nx__store64(&s->failures, s->failures + 1);
		nx__store64(&s->consec_failures, s->consec_failures + 1);
	} else if (s->consec_failures != 0) {
		nx__store64(&s->consec_failures, 0);
	}
}

#endif /* NX_CORE_PIPE_EXEC_H */
