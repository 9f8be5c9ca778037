/*
 * policy.h - data path: a slot's policies as one worker runs them
 * (policy_run.c): its breaker, time budget, fault containment and
 * degraded answer. How a slot's policies are configured and built is
 * the control path's (pipe.h: nx__policy_set, nx__policy_build).
 */
#ifndef NX_CORE_POLICY_H
#define NX_CORE_POLICY_H

#include <stdint.h>

#include <nx/nx_stage.h>

#include "core/datapath/breaker.h"
#include "core/pipeline/pipe.h"
#include "core/datapath/pipe_exec.h"

/* One worker's policy state for one slot, in the worker's row indexed by
 * the slot's health index (nx_worker.slot_pol, nx_exec.pol). */
struct nx_slot_pol {
	uint64_t owner;                /* serial of the instance it was for: another resets it */
	uint32_t force_seen;
	uint32_t pad;
	struct nx_breaker brk;
};

/* A slot with policies: breaker, budget, containment, degraded
 * strategies. si is the instance nx__run_slot read. */
int nx__run_slot_policy(const struct nx_slot *s, const struct nx_stage_inst *si, struct nx_msg *m,
			struct nx_exec *x);

#endif /* NX_CORE_POLICY_H */
