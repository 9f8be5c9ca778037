/*
 * Pipelines: built on the control thread (may allocate), run on workers
 * (must not). A sequence passes each stage's output to the next through
 * two per-worker scratch buffers; the last stage writes the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

int
nx__pipeline_create(struct nx_pipeline **out, const char *name,
		    const struct nx_stage_ops *const *stages, unsigned nstages,
		    const struct nx_stage_conf *conf)
{
	struct nx_pipeline *p;
	unsigned i;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) >= NX_PIPE_NAME_MAX)
		return nx__err(NX_EINVAL, "pipeline name must be 1 to %d characters",
			       NX_PIPE_NAME_MAX - 1);
	if (nstages == 0 || nstages > NX_MAX_STAGES)
		return nx__err(NX_EINVAL, "pipeline %s: %u stages (1 to %d allowed)", name, nstages,
			       NX_MAX_STAGES);
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return nx__err(NX_ENOMEM, "pipeline %s", name);
	strcpy(p->name, name);
	p->version = 1;
	for (i = 0; i < nstages; i++) {
		const struct nx_stage_ops *ops = stages[i];

		if (ops == NULL || ops->process == NULL || ops->abi != NX_STAGE_ABI) {
			rc = nx__err(NX_EINVAL, "pipeline %s: stage %u is not a valid stage", name, i);
			goto err_fini;
		}
		p->stages[i].ops = ops;
		if (ops->init != NULL) {
			rc = ops->init(&p->stages[i].state, conf);
			if (rc < 0) {
				rc = nx__err(rc, "pipeline %s: stage %s init failed: %s", name,
					     ops->name, nx_strerror(rc));
				goto err_fini;
			}
		}
		p->nstages = i + 1;
	}
	*out = p;
	return 0;

err_fini:
	nx__pipeline_destroy(p);
	return rc;
}

void
nx__pipeline_destroy(struct nx_pipeline *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nstages; i++)
		if (p->stages[i].ops->fini != NULL)
			p->stages[i].ops->fini(p->stages[i].state);
	free(p);
}

int
nx__pipeline_run(const struct nx_pipeline *p, struct nx_msg *msg, struct nx_ctx *ctx,
		 uint8_t *const scratch[2], uint32_t scratch_cap)
{
	const uint32_t last = p->nstages - 1;
	struct nx_msg m = *msg;
	uint32_t i;
	int rc;

	for (i = 0; i <= last; i++) {
		const struct nx_stage_inst *s = &p->stages[i];

		if (i != last) {
			m.out = scratch[i & 1];
			m.out_cap = scratch_cap;
		} else {
			m.out = msg->out;
			m.out_cap = msg->out_cap;
		}
		m.out_len = 0;
		if (ctx->nroute < NX_CTX_ROUTE_MAX)
			ctx->route[ctx->nroute++] = (uint16_t)i;
		rc = s->ops->process(s->state, &m, ctx);
		if (rc < 0)
			return rc;
		if (m.out_len > m.out_cap)
			return NX_EOVERFLOW;
		if (i != last) {
			m.in = m.out;
			m.in_len = m.out_len;
		}
	}
	msg->out_len = m.out_len;
	return 0;
}
