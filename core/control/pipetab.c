/*
 * The instance's pipeline table, on the control thread: the table workers
 * read through RCU, the health segment's pipeline directory and stage
 * slot table, and the changes nxctl drives (cmd_pipe.c): swap a stage,
 * swap a pipeline, roll a slot back.
 *
 * Every change is built and checked first (init, self-test, probe), then
 * published with one pointer store, and what it replaced is destroyed
 * (fini, plugin closed) only after a grace period: no worker can still
 * be running it. A change that fails to build changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "platform/nx_rcu.h"

#include "core/control/pipetab.h"

/* ---- the health segment's stage slot table ---- */

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static void
health_slot_show(struct nx_instance *inst, const struct nx_pipeline *p, const struct nx_slot *s)
{
	struct nx_health_slot *hs;

	if (s->hidx >= inst->hv.max_slots)
		return;
	hs = &inst->hv.slots[s->hidx];
	nx__seq_write_begin(&inst->hv.hdr->ctl_seq);
	hs->pipeline = p->id;
	snprintf(hs->pipe, sizeof hs->pipe, "%s", p->name);
	snprintf(hs->stage, sizeof hs->stage, "%s", s->cur->spec.stage);
	snprintf(hs->plugin, sizeof hs->plugin, "%.127s", base_name(s->cur->spec.plugin));
	nx__store64(&hs->swaps, s->swaps);
	nx__store64(&hs->version, s->cur->version);
	nx__seq_write_end(&inst->hv.hdr->ctl_seq);
}

static int
slot_take(void *arg, const char *pipe, const char *slot)
{
	struct nx_instance *inst = arg;
	uint32_t i, w;

	for (i = 0; i < inst->hv.max_slots; i++) {
		struct nx_health_slot *hs = &inst->hv.slots[i];

		if (nx__load32(&hs->state) != 0)
			continue;
		nx__seq_write_begin(&inst->hv.hdr->ctl_seq);
		memset(hs, 0, sizeof *hs);
		snprintf(hs->name, sizeof hs->name, "%s", slot);
		snprintf(hs->pipe, sizeof hs->pipe, "%s", pipe);
		/* A reused entry starts its counters again. No worker writes
		 * them: the pipeline that had it is gone (after a grace period). */
		for (w = 0; w < inst->nworkers; w++) {
			memset(&inst->workers[w].stats[i], 0, sizeof inst->workers[w].stats[i]);
			nx__lhist_init(&inst->workers[w].slot_hist[i]);
		}
		nx__store32(&hs->state, 1);
		nx__seq_write_end(&inst->hv.hdr->ctl_seq);
		return (int)i;
	}
	return -1;
}

static void
slot_give(void *arg, uint32_t hidx)
{
	struct nx_instance *inst = arg;

	if (hidx < inst->hv.max_slots) {
		nx__seq_write_begin(&inst->hv.hdr->ctl_seq);
		nx__store32(&inst->hv.slots[hidx].state, 0);
		nx__seq_write_end(&inst->hv.hdr->ctl_seq);
	}
}

static int
rr_take(void *arg, uint32_t n)
{
	struct nx_instance *inst = arg;
	uint32_t i, k;

	for (i = 0; i + n <= NX_MAX_RR; i++) {
		for (k = 0; k < n && !inst->rr_used[i + k]; k++)
			;
		if (k == n) {
			memset(&inst->rr_used[i], 1, n);
			return (int)i;
		}
	}
	return -1;
}

static void
rr_give(void *arg, uint32_t base, uint32_t n)
{
	struct nx_instance *inst = arg;

	memset(&inst->rr_used[base], 0, n);
}

void
nx__pipetab_env(struct nx_instance *inst, struct nx_build_env *env)
{
	memset(env, 0, sizeof *env);
	env->max_payload = inst->conf.max_payload;
	env->scratch_bytes = inst->conf.scratch_bytes;
	env->pipe_pool = &inst->pipe_pool;
	env->inst_pool = &inst->inst_pool;
	env->state_bytes = inst->conf.stage_state;
	env->nworkers = inst->nworkers;
	env->plugin_dirs = inst->conf.plugin_dirs;
	env->slot_take = slot_take;
	env->slot_give = slot_give;
	env->rr_take = rr_take;
	env->rr_give = rr_give;
	env->arg = inst;
}

/* ---- reclamation: after a grace period, in batches ---- */

/*
 * What a swap replaced is destroyed only after a grace period, which the
 * grace thread waits for (grace.c): the control thread destroys what has
 * passed when the grace thread rings, at the sweep, and at shutdown. It
 * never waits for one itself: a change that would overfill the queue is
 * refused before anything is built (nx__pipetab_room), and the operator retries
 * once the grace thread has caught up.
 */
enum { GONE_INST = 1, GONE_PIPE, GONE_TABLE };

int
nx__pipetab_room(struct nx_instance *inst, unsigned n)
{
	if (inst->ngone + n > NX_MAX_GONE)
		nx__pipetab_reclaim(inst, true);
	if (inst->ngone + n > NX_MAX_GONE && !inst->workers_started)
		nx__pipetab_reclaim(inst, false); /* no worker has run: nothing to wait for */
	if (inst->ngone + n > NX_MAX_GONE)
		return nx__err(NX_EBUSY, "%u replaced stages and pipelines wait for a grace period "
			       "(is a worker stuck in a stage?): retry", inst->ngone);
	return 0;
}

static void
defer(struct nx_instance *inst, int kind, void *obj)
{
	struct nx_gone *g;

	if (obj == NULL)
		return;
	if (nx__pipetab_room(inst, 1) < 0) {
		/* callers make room first: this is a bug, and leaking beats
		 * freeing what a worker may still read */
		nx__log(NX_LOG_ERR, "reclamation queue full: one object leaked");
		return;
	}
	g = &inst->gone[inst->ngone++];
	g->kind = kind;
	g->obj = obj;
	g->ticket = nx__grace_request(&inst->grace);
}

void
nx__pipetab_reclaim(struct nx_instance *inst, bool passed_only)
{
	struct nx_build_env env;
	unsigned i, kept = 0;

	if (inst->ngone == 0)
		return;
	nx__pipetab_env(inst, &env);
	for (i = 0; i < inst->ngone; i++) {
		struct nx_gone *g = &inst->gone[i];

		if (passed_only && !nx__grace_passed(&inst->grace, g->ticket))
			inst->gone[kept++] = *g;
		else if (g->kind == GONE_INST)
			nx__stage_inst_destroy(g->obj);
		else if (g->kind == GONE_PIPE)
			nx__pipeline_destroy(g->obj, &env);
		else
			nx__mem_free(g->obj);
	}
	inst->ngone = kept;
}

/* ---- the table ---- */

static void
directory_show(struct nx_instance *inst, const struct nx_pipeline *p)
{
	struct nx_health_pipe *hp = &inst->hv.pipes[p->id];
	uint32_t i;

	nx__seq_write_begin(&inst->hv.hdr->ctl_seq);
	nx__store32(&hp->active, 0);
	ck_pr_fence_store();
	memset(hp->name, 0, sizeof hp->name);
	snprintf(hp->name, sizeof hp->name, "%s", p->name);
	hp->nstages = p->nslots;
	hp->version = p->version;
	ck_pr_fence_store(); /* the name before the flag readers check */
	nx__store32(&hp->active, 1);
	nx__seq_write_end(&inst->hv.hdr->ctl_seq);
	for (i = 0; i < p->nslots; i++)
		health_slot_show(inst, p, &p->slots[i]);
}

static int
find_pipe(const struct nx_pipetab *tab, const char *name)
{
	uint32_t i;

	for (i = 0; i < tab->n; i++)
		if (strcmp(tab->p[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Put a built pipeline in the table, in place of its namesake or at the
 * end: a new table, published, the old one (and the replaced pipeline)
 * destroyed after a grace period.
 */
static int
table_put(struct nx_instance *inst, struct nx_pipeline *p)
{
	struct nx_pipetab *old = inst->pipes, *tab;
	struct nx_pipeline *gone = NULL;
	int i = old != NULL ? find_pipe(old, p->name) : -1;

	if (i < 0 && old != NULL && old->n >= inst->hv.max_pipelines)
		return nx__err(NX_ENOSPC, "pipeline %s: all %u pipelines are in use", p->name,
			       inst->hv.max_pipelines);
	if (nx__pipetab_room(inst, 2) < 0)
		return nx__err_ctx(NX_EBUSY, "pipeline %s", p->name);
	tab = nx__mem_zalloc(1, sizeof *tab);
	if (tab == NULL)
		return nx__err(NX_ENOMEM, "pipeline table");
	if (old != NULL)
		*tab = *old;
	if (i < 0) {
		i = (int)tab->n++;
	} else {
		gone = tab->p[i];
		p->version = gone->version + 1;
	}
	p->id = (uint32_t)i;
	tab->p[i] = p;
	nx__rcu_assign(inst->pipes, tab);
	directory_show(inst, p);
	defer(inst, GONE_TABLE, old);
	defer(inst, GONE_PIPE, gone);
	return i;
}

int
nx__pipetab_build(struct nx_instance *inst, const struct nx_pipe_spec *spec,
		  struct nx_pipeline **pp)
{
	struct nx_build_env env;
	int rc;

	nx__pipetab_env(inst, &env);
	rc = nx__pipeline_build(pp, spec, &env);
	if (rc == 0 && (rc = table_put(inst, *pp)) < 0)
		nx__pipeline_destroy(*pp, &env);
	return rc;
}

int
nx__pipetab_start(struct nx_instance *inst)
{
	struct nx_pipe_spec *spec;
	struct nx_pipeline *p;
	unsigned i;
	int rc = 0;

	spec = nx__mem_alloc(sizeof *spec);
	if (spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	memset(inst->hv.pipes, 0, inst->hv.max_pipelines * sizeof *inst->hv.pipes);
	memset(inst->hv.slots, 0, inst->hv.max_slots * sizeof *inst->hv.slots);
	for (i = 0; rc >= 0 && i < nx__builtin_pipes(); i++) {
		rc = nx__builtin_pipe_spec(i, spec);
		if (rc == 0)
			rc = nx__pipetab_build(inst, spec, &p);
	}
	for (i = 0; rc >= 0 && i < inst->conf.nspecs; i++)
		rc = nx__pipetab_build(inst, &inst->conf.specs[i], &p);
	nx__mem_free(spec);
	return rc < 0 ? rc : 0;
}

void
nx__pipetab_stop(struct nx_instance *inst)
{
	struct nx_build_env env;
	uint32_t i;

	nx__pipetab_reclaim(inst, false); /* the workers are stopped */
	if (inst->pipes == NULL)
		return;
	nx__pipetab_env(inst, &env);
	for (i = 0; i < inst->pipes->n; i++)
		nx__pipeline_destroy(inst->pipes->p[i], &env);
	nx__mem_free(inst->pipes);
	inst->pipes = NULL;
}

int
nx__instance_add_pipeline_text(struct nx_instance *inst, const char *name, const char *text)
{
	struct nx_pipe_spec *spec = nx__mem_alloc(sizeof *spec);
	struct nx_pipeline *p;
	int rc;

	if (spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	rc = nx__pipetab_room(inst, 2);
	if (rc == 0)
		rc = nx__spec_init(spec, name);
	if (rc == 0)
		rc = nx__spec_parse_text(spec, text);
	if (rc == 0)
		rc = nx__spec_finish(spec);
	if (rc == 0)
		rc = nx__pipetab_build(inst, spec, &p);
	nx__mem_free(spec);
	return rc;
}

/* ---- swaps ---- */

int
nx__pipetab_find_slot(struct nx_instance *inst, const char *pipe, const char *slot,
	      struct nx_pipeline **pp, struct nx_slot **sp)
{
	int i = find_pipe(inst->pipes, pipe), k;

	if (i < 0)
		return nx__err(NX_ENOENT, "no pipeline '%s'", pipe);
	*pp = inst->pipes->p[i];
	k = nx__pipeline_slot(*pp, slot);
	if (k < 0)
		return nx__err(NX_ENOENT, "pipeline %s has no slot '%s'", pipe, slot);
	*sp = &(*pp)->slots[k];
	return 0;
}

int
nx__pipetab_swap_stage(struct nx_instance *inst, const char *pipe, const char *slot,
		       const struct nx_slot_spec *ss, const uint8_t *probe, uint32_t probe_len,
		       struct nx_slot **sp)
{
	struct nx_stage_inst *fresh, *old_prev;
	struct nx_build_env env;
	struct nx_pipeline *p;
	struct nx_slot *s;
	int rc;

	rc = nx__pipetab_find_slot(inst, pipe, slot, &p, &s);
	if (rc == 0)
		rc = nx__pipetab_room(inst, 1);
	if (rc < 0)
		return rc;
	nx__pipetab_env(inst, &env);
	env.probe = probe;
	env.probe_len = probe_len;
	rc = nx__stage_inst_create(&fresh, ss, s->last_version + 1, &env);
	if (rc < 0)
		return rc;
	old_prev = s->prev;
	s->prev = s->cur;
	s->last_version++;
	s->swaps++;
	nx__rcu_assign(s->cur, fresh);
	health_slot_show(inst, p, s);
	/* the previous one's previous: out of reach since an earlier swap */
	defer(inst, GONE_INST, old_prev);
	*sp = s;
	return 0;
}

int
nx__pipetab_rollback(struct nx_instance *inst, const char *pipe, const char *slot,
		     struct nx_slot **sp)
{
	struct nx_stage_inst *tmp;
	struct nx_pipeline *p;
	struct nx_slot *s;
	int rc;

	rc = nx__pipetab_find_slot(inst, pipe, slot, &p, &s);
	if (rc < 0)
		return rc;
	if (s->prev == NULL)
		return nx__err(NX_ENOENT, "%s/%s has no previous version to roll back to", pipe,
			       slot);
	tmp = s->cur;
	nx__rcu_assign(s->cur, s->prev);
	s->prev = tmp;
	s->swaps++;
	health_slot_show(inst, p, s);
	*sp = s;
	return 0;
}
