/*
 * pipe_run.h - data path: running a built pipeline on one request, the
 * worker's inline fast path. The control API that builds what this runs
 * is pipe.h; the graph walker behind nx__pipeline_run is pipe_run.c.
 * Nothing here allocates, locks or makes a system call.
 */
#ifndef NX_CORE_PIPE_RUN_H
#define NX_CORE_PIPE_RUN_H

#include <stdint.h>
#include <string.h>

#include <nx/nx_stage.h>

#include "platform/nx_platform.h"
#include "platform/nx_rcu.h"
#include "core/pipeline/pipe.h"
#include "core/datapath/pipe_exec.h"
#include "core/datapath/policy.h"

/* The whole graph (pipe_run.c); nx__pipeline_run below is the entry. */
int nx__pipeline_run_graph(const struct nx_pipeline *p, struct nx_msg *msg, struct nx_exec *x);

/*
 * Run a slot's stage: read its instance once (RCU), record the route.
 * Returns what process returned: 0, NX_STAGE_PASS, a child index for a
 * selector, or a negative error. Always inlined: a call less on every
 * stage a request runs.
 */
static inline __attribute__((always_inline)) int
nx__run_slot(const struct nx_pipeline *p, uint16_t slot, struct nx_msg *m, struct nx_exec *x)
{
	const struct nx_slot *s = &p->slots[slot];
	const struct nx_stage_inst *si = nx__rcu_deref(s->cur);
	struct nx_ctx *ctx = x->ctx;
	int rc;

	const uint32_t r = ctx->nroute;

	if (r < NX_CTX_ROUTE_MAX)
		ctx->route[ctx->nroute++] = (uint16_t)s->hidx;
	ctx->stage_version = si->version;
	m->out_len = 0;
	if (__builtin_expect(s->pol.on, 0))
		return nx__run_slot_policy(s, si, m, x); /* counts for itself */
	if (__builtin_expect(ctx->flags & NX_CTX_TIMED, 0)) {
		/* a sampled request: each stage's own time, for the context and
		 * the slot's latency histogram */
		uint64_t t0 = nx__ticks(), ns;

		rc = si->ops->process(si->state, m, ctx);
		ns = nx__ticks_to_ns(nx__ticks() - t0);
		if (r < NX_CTX_ROUTE_MAX)
			ctx->route_ns[r] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
		nx__slot_time(x, s->hidx, ns);
	} else {
		rc = si->ops->process(si->state, m, ctx);
	}
	nx__slot_count(x, s->hidx, rc);
	return rc;
}


/* A stage as a node: its output lands in m->out, or is its input (PASS). */
static inline int
nx__node_stage(const struct nx_pipeline *p, const struct nx_node *nd, struct nx_msg *m,
	   struct nx_exec *x)
{
	int rc = nx__run_slot(p, nd->slot, m, x);

	if (rc == NX_STAGE_PASS) {
		if (m->in_len > m->out_cap)
			return NX_EOVERFLOW;
		if (m->out != m->in)
			memmove(m->out, m->in, m->in_len);
		m->out_len = m->in_len;
		return 0;
	}
	if (rc > 0)
		return NX_ESTAGE; /* only selectors return a positive value */
	if (rc == 0 && m->out_len > m->out_cap)
		return NX_EOVERFLOW;
	return rc;
}

/**
 * Run a pipeline on one message (worker). msg->out is where the answer
 * goes (msg->out_cap bytes). A one-stage pipeline runs inline, without a
 * call into the graph walker. @return 0 or a negative NX_E* code
 */
static inline int
nx__pipeline_run(const struct nx_pipeline *p, struct nx_msg *msg, struct nx_exec *x)
{
	if (p->nnodes == 1)
		return nx__node_stage(p, &p->nodes[0], msg, x);
	return nx__pipeline_run_graph(p, msg, x);
}


#endif /* NX_CORE_PIPE_RUN_H */
