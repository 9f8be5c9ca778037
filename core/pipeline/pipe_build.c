/*
 * Building a pipeline on the control path: from a finished spec, every
 * slot's stage instance (stage.c) and policies, its round-robin counters
 * and health slots taken from the instance; torn down after its grace
 * period. Nothing here runs on a worker.
 */
#include <string.h>

#include "core/pipeline/pipe.h"
#include "platform/nx_platform.h"
#include "core/pipeline/pool.h"

/* Scratch one node needs, its children's included (they run above it). */
static uint64_t
need(const struct nx_node *nodes, const uint16_t *children, uint16_t n, uint32_t cap,
     unsigned depth)
{
	const struct nx_node *nd = &nodes[n];
	uint64_t mine = 0, most = 0, c;
	unsigned i;

	if (depth > NX_MAX_DEPTH)
		return UINT64_MAX / 2;
	if (nd->kind == NX_NODE_SEQ)
		mine = (uint64_t)(nd->nchild > 2 ? 2 : nd->nchild > 1 ? 1 : 0) * cap;
	else if (nd->kind == NX_NODE_FANOUT)
		mine = (uint64_t)nd->nchild * (cap + 4);
	if (nd->kind != NX_NODE_STAGE)
		for (i = 0; i < nd->nchild; i++) {
			c = need(nodes, children, children[nd->child0 + i], cap, depth + 1);
			if (c > most)
				most = c;
		}
	return mine + most;
}

uint64_t
nx__graph_scratch_need(const struct nx_node *nodes, const uint16_t *children, uint32_t max_payload)
{
	return need(nodes, children, 0, max_payload, 0);
}

/* ---- slot policies ---- */

/* Build a slot's policies from its spec, after its stage was created. */
int
nx__policy_build(struct nx_slot *s, const struct nx_policy_spec *ps, const char *pipe,
		 const struct nx_build_env *env)
{
	struct nx_slot_policy *pol = &s->pol;
	int rc;

	memset(pol, 0, sizeof *pol);
	if (!ps->set)
		return 0;
	rc = nx__policy_check(ps, pipe, s->name);
	if (rc < 0)
		return rc;
	pol->breaker = ps->breaker;
	pol->budget_fails = ps->budget_fails;
	pol->contain = ps->contain;
	pol->degraded = ps->degraded;
	pol->budget = ps->budget_ns != 0 ? nx__ns_to_ticks(ps->budget_ns) : 0;
	if (pol->budget == 0 && ps->budget_ns != 0)
		pol->budget = 1;
	if (ps->breaker) {
		pol->brk = ps->brk;
		pol->brk.slow_ns = nx__ns_to_ticks(ps->brk.slow_ns);
		pol->brk.wait_open_ns = nx__ns_to_ticks(ps->brk.wait_open_ns);
		pol->brk.second = nx__ns_to_ticks(1000000000ull);
	}
	pol->nworkers = env != NULL && env->nworkers != 0 ? env->nworkers : 1;
	if (ps->degraded == NX_DEG_FALLBACK) {
		struct nx_slot_spec fs;

		memset(&fs, 0, sizeof fs);
		strcpy(fs.name, s->name);
		strcpy(fs.stage, ps->fallback);
		strcpy(fs.plugin, ps->fallback_plugin);
		rc = nx__stage_inst_create(&pol->fallback, &fs, 1, env);
		if (rc < 0)
			return nx__err_ctx(rc, "pipeline %s: slot %s: fallback", pipe, s->name);
	}
	if (ps->degraded == NX_DEG_CACHE) {
		uint64_t bytes;

		pol->cache_entries = ps->cache_entries != 0 ? ps->cache_entries : 256;
		pol->cache_bytes = ps->cache_bytes != 0 ? ps->cache_bytes : 256;
		pol->stage_out_cap = env != NULL && env->max_payload != 0 ? env->max_payload : 65536;
		if (pol->cache_bytes > pol->stage_out_cap)
			return nx__err(NX_EINVAL, "pipeline %s: slot %s: cache-bytes = %u is more than "
				       "the largest payload (%u)", pipe, s->name, pol->cache_bytes,
				       pol->stage_out_cap);
		/* an entry: input length, answer length, hash, then both payloads */
		pol->cache_entry_bytes = (uint32_t)((16 + 2 * pol->cache_bytes + 63) / 64 * 64);
		pol->stage_bytes = (pol->cache_bytes + 63) / 64 * 64 +
				   (pol->stage_out_cap + 63) / 64 * 64;
		bytes = (uint64_t)pol->nworkers *
			((uint64_t)pol->cache_entries * pol->cache_entry_bytes + pol->stage_bytes);
		pol->cache = nx__mem_aligned(64, bytes);
		if (pol->cache == NULL) {
			nx__policy_destroy(s);
			return nx__err(NX_ENOMEM, "pipeline %s: slot %s: a cache of %llu bytes", pipe,
				       s->name, (unsigned long long)bytes);
		}
		memset(pol->cache, 0, bytes);
	}
	pol->on = true;
	return 0;
}

void
nx__policy_destroy(struct nx_slot *s)
{
	nx__stage_inst_destroy(s->pol.fallback);
	nx__mem_free(s->pol.cache);
	s->pol.fallback = NULL;
	s->pol.cache = NULL;
	s->pol.on = false;
}

/* ---- pipelines ---- */

int
nx__pipeline_slot(const struct nx_pipeline *p, const char *name)
{
	uint32_t i;

	for (i = 0; i < p->nslots; i++)
		if (strcmp(p->slots[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
give_slots(struct nx_pipeline *p, const struct nx_build_env *env)
{
	uint32_t i;

	for (i = 0; i < p->nslots; i++) {
		nx__policy_destroy(&p->slots[i]);
		nx__stage_inst_destroy(p->slots[i].cur);
		nx__stage_inst_destroy(p->slots[i].prev);
		p->slots[i].cur = p->slots[i].prev = NULL;
		if (env != NULL && env->slot_give != NULL && p->slots[i].hidx != UINT32_MAX)
			env->slot_give(env->arg, p->slots[i].hidx);
	}
	if (p->nrr != 0 && env != NULL && env->rr_give != NULL)
		env->rr_give(env->arg, p->rr_base, p->nrr);
	p->nrr = 0;
}

int
nx__pipeline_build(struct nx_pipeline **out, const struct nx_pipe_spec *spec,
		   const struct nx_build_env *env)
{
	struct nx_pipeline *p;
	uint64_t need;
	uint32_t i, nrr = 0;
	int rc;

	need = nx__graph_scratch_need(spec->nodes, spec->children, env->max_payload);
	if (need > env->scratch_bytes)
		return nx__err(NX_ENOSPC, "pipeline %s needs %llu bytes of scratch per worker at "
			       "most; workers have %u (raise scratch, or lower max_payload)",
			       spec->name, (unsigned long long)need, env->scratch_bytes);
	p = env->pipe_pool != NULL ? nx__pool_get(env->pipe_pool) : nx__mem_zalloc(1, sizeof *p);
	if (p == NULL)
		return env->pipe_pool != NULL ? NX_ENOSPC : nx__err(NX_ENOMEM, "pipeline %s", spec->name);
	p->pool = env->pipe_pool;
	strcpy(p->name, spec->name);
	strcpy(p->graph, spec->graph);
	p->version = 1;
	p->nnodes = spec->nnodes;
	p->nslots = spec->nslots;
	p->nchildren = spec->nchildren;
	p->scratch_bytes = (uint32_t)need;
	memcpy(p->nodes, spec->nodes, sizeof p->nodes);
	memcpy(p->children, spec->children, sizeof p->children);
	memcpy(p->weights, spec->weights, sizeof p->weights);
	for (i = 0; i < p->nslots; i++) {
		strcpy(p->slots[i].name, spec->slots[i].name);
		p->slots[i].hidx = UINT32_MAX;
	}
	for (i = 0; i < p->nnodes; i++)
		if (p->nodes[i].kind == NX_NODE_RR)
			p->nodes[i].rr = nrr++;
	if (nrr != 0) {
		int base = env->rr_take != NULL ? env->rr_take(env->arg, nrr) : 0;

		if (base < 0) {
			rc = nx__err(NX_ENOSPC, "pipeline %s: no room for %u round-robin counters",
				     spec->name, nrr);
			goto err;
		}
		p->rr_base = (uint32_t)base;
		p->nrr = nrr;
		for (i = 0; i < p->nnodes; i++)
			if (p->nodes[i].kind == NX_NODE_RR)
				p->nodes[i].rr += p->rr_base;
	}
	for (i = 0; i < p->nslots; i++) {
		struct nx_slot *s = &p->slots[i];

		if (env->slot_take != NULL) {
			int h = env->slot_take(env->arg, spec->name, s->name);

			if (h < 0) {
				rc = nx__err(NX_ENOSPC, "pipeline %s: the stage slot table is full "
					     "(max_slots)", spec->name);
				goto err;
			}
			s->hidx = (uint32_t)h;
		}
		s->last_version = 1;
		rc = nx__stage_inst_create(&s->cur, &spec->slots[i], 1, env);
		if (rc == 0)
			rc = nx__policy_build(s, &spec->slots[i].pol, spec->name, env);
		if (rc < 0) {
			rc = nx__err_ctx(rc, "pipeline %s, slot %s", spec->name, s->name);
			goto err;
		}
	}
	*out = p;
	return 0;

err:
	nx__pipeline_destroy(p, env);
	return rc;
}

void
nx__pipeline_destroy(struct nx_pipeline *p, const struct nx_build_env *env)
{
	if (p == NULL)
		return;
	give_slots(p, env);
	if (p->pool != NULL)
		nx__pool_put(p->pool, p);
	else
		nx__mem_free(p);
}
