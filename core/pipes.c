/*
 * The instance's pipelines, on the control thread: the table workers
 * read through RCU, the health segment's directory and stage slot table,
 * and the operations nxctl drives: list, swap a stage, swap a pipeline,
 * roll a slot back, show the placement.
 *
 * Every change is built and checked first (init, self-test, probe), then
 * published with one pointer store, and what it replaced is destroyed
 * (fini, plugin closed) only after a grace period: no worker can still
 * be running it. A change that fails to build changes nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/nx_rcu.h"

#include "instance_internal.h"

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
			nx_lhist_init(&inst->workers[w].slot_hist[i]);
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
nx__pipes_env(struct nx_instance *inst, struct nx_build_env *env)
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
 * refused before anything is built (gone_room), and the operator retries
 * once the grace thread has caught up.
 */
enum { GONE_INST = 1, GONE_PIPE, GONE_TABLE };

static int
gone_room(struct nx_instance *inst, unsigned n)
{
	if (inst->ngone + n > NX_MAX_GONE)
		nx__pipes_reclaim(inst, true);
	if (inst->ngone + n > NX_MAX_GONE && !inst->workers_started)
		nx__pipes_reclaim(inst, false); /* no worker has run: nothing to wait for */
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
	if (gone_room(inst, 1) < 0) {
		/* callers make room first: this is a bug, and leaking beats
		 * freeing what a worker may still read */
		nx_log(NX_LOG_ERR, "reclamation queue full: one object leaked");
		return;
	}
	g = &inst->gone[inst->ngone++];
	g->kind = kind;
	g->obj = obj;
	g->ticket = nx__grace_request(&inst->grace);
}

void
nx__pipes_reclaim(struct nx_instance *inst, bool passed_only)
{
	struct nx_build_env env;
	unsigned i, kept = 0;

	if (inst->ngone == 0)
		return;
	nx__pipes_env(inst, &env);
	for (i = 0; i < inst->ngone; i++) {
		struct nx_gone *g = &inst->gone[i];

		if (passed_only && !nx__grace_passed(&inst->grace, g->ticket))
			inst->gone[kept++] = *g;
		else if (g->kind == GONE_INST)
			nx__stage_inst_destroy(g->obj);
		else if (g->kind == GONE_PIPE)
			nx__pipeline_destroy(g->obj, &env);
		else
			free(g->obj);
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
	if (gone_room(inst, 2) < 0)
		return nx__err_ctx(NX_EBUSY, "pipeline %s", p->name);
	tab = calloc(1, sizeof *tab);
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
	nx_rcu_assign(inst->pipes, tab);
	directory_show(inst, p);
	defer(inst, GONE_TABLE, old);
	defer(inst, GONE_PIPE, gone);
	return i;
}

int
nx__pipes_start(struct nx_instance *inst)
{
	struct nx_pipe_spec *spec;
	struct nx_build_env env;
	struct nx_pipeline *p;
	unsigned i;
	int rc = 0;

	spec = malloc(sizeof *spec);
	if (spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	memset(inst->hv.pipes, 0, inst->hv.max_pipelines * sizeof *inst->hv.pipes);
	memset(inst->hv.slots, 0, inst->hv.max_slots * sizeof *inst->hv.slots);
	nx__pipes_env(inst, &env);
	for (i = 0; rc >= 0 && i < nx__builtin_pipes(); i++) {
		rc = nx__builtin_pipe_spec(i, spec);
		if (rc == 0)
			rc = nx__pipeline_build(&p, spec, &env);
		if (rc == 0 && (rc = table_put(inst, p)) < 0)
			nx__pipeline_destroy(p, &env);
	}
	for (i = 0; rc >= 0 && i < inst->conf.nspecs; i++) {
		rc = nx__pipeline_build(&p, &inst->conf.specs[i], &env);
		if (rc == 0 && (rc = table_put(inst, p)) < 0)
			nx__pipeline_destroy(p, &env);
	}
	free(spec);
	return rc < 0 ? rc : 0;
}

void
nx__pipes_stop(struct nx_instance *inst)
{
	struct nx_build_env env;
	uint32_t i;

	nx__pipes_reclaim(inst, false); /* the workers are stopped */
	if (inst->pipes == NULL)
		return;
	nx__pipes_env(inst, &env);
	for (i = 0; i < inst->pipes->n; i++)
		nx__pipeline_destroy(inst->pipes->p[i], &env);
	free(inst->pipes);
	inst->pipes = NULL;
}

int
nx_instance_add_pipeline_text(struct nx_instance *inst, const char *name, const char *text)
{
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	struct nx_build_env env;
	struct nx_pipeline *p;
	int rc;

	if (spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	rc = gone_room(inst, 2);
	if (rc == 0)
		rc = nx__spec_init(spec, name);
	if (rc == 0)
		rc = nx__spec_parse_text(spec, text);
	if (rc == 0)
		rc = nx__spec_finish(spec);
	if (rc == 0) {
		nx__pipes_env(inst, &env);
		rc = nx__pipeline_build(&p, spec, &env);
		if (rc == 0 && (rc = table_put(inst, p)) < 0)
			nx__pipeline_destroy(p, &env);
	}
	free(spec);
	return rc;
}

/* ---- swaps ---- */

int
nx__find_slot(struct nx_instance *inst, const char *pipe, const char *slot,
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

static int
swap_stage(struct nx_instance *inst, const char *pipe, const char *slot,
	   const struct nx_slot_spec *ss, const uint8_t *probe, uint32_t probe_len,
	   struct nx_buf *out, bool json)
{
	struct nx_stage_inst *fresh, *old_prev;
	struct nx_build_env env;
	struct nx_pipeline *p;
	struct nx_slot *s;
	int rc;

	rc = nx__find_slot(inst, pipe, slot, &p, &s);
	if (rc == 0)
		rc = gone_room(inst, 1);
	if (rc < 0)
		return nx__err_ctx(rc, "swap %s/%s refused, nothing changed", pipe, slot);
	nx__pipes_env(inst, &env);
	env.probe = probe;
	env.probe_len = probe_len;
	rc = nx__stage_inst_create(&fresh, ss, s->last_version + 1, &env);
	if (rc < 0)
		return nx__err_ctx(rc, "swap %s/%s refused, nothing changed", pipe, slot);
	old_prev = s->prev;
	s->prev = s->cur;
	s->last_version++;
	s->swaps++;
	nx_rcu_assign(s->cur, fresh);
	health_slot_show(inst, p, s);
	/* the previous one's previous: out of reach since an earlier swap */
	defer(inst, GONE_INST, old_prev);
	if (json) {
		nx__buf_printf(out, "{\"pipeline\":");
		nx__buf_json_str(out, pipe);
		nx__buf_printf(out, ",\"slot\":");
		nx__buf_json_str(out, slot);
		nx__buf_printf(out, ",\"stage\":");
		nx__buf_json_str(out, fresh->spec.stage);
		nx__buf_printf(out, ",\"version\":%llu,\"previous\":%llu,\"swaps\":%llu}\n",
			       (unsigned long long)fresh->version,
			       (unsigned long long)s->prev->version, (unsigned long long)s->swaps);
	} else {
		nx__buf_printf(out, "%s/%s: %s version %llu is live (was %s version %llu)\n", pipe,
			       slot, fresh->spec.stage, (unsigned long long)fresh->version,
			       s->prev->spec.stage, (unsigned long long)s->prev->version);
	}
	return 0;
}

static int
rollback(struct nx_instance *inst, const char *pipe, const char *slot, struct nx_buf *out,
	 bool json)
{
	struct nx_stage_inst *tmp;
	struct nx_pipeline *p;
	struct nx_slot *s;
	int rc;

	rc = nx__find_slot(inst, pipe, slot, &p, &s);
	if (rc < 0)
		return rc;
	if (s->prev == NULL)
		return nx__err(NX_ENOENT, "%s/%s has no previous version to roll back to", pipe,
			       slot);
	tmp = s->cur;
	nx_rcu_assign(s->cur, s->prev);
	s->prev = tmp;
	s->swaps++;
	health_slot_show(inst, p, s);
	if (json)
		nx__buf_printf(out, "{\"pipeline\":\"%s\",\"slot\":\"%s\",\"version\":%llu,"
			       "\"swaps\":%llu}\n", pipe, slot, (unsigned long long)s->cur->version,
			       (unsigned long long)s->swaps);
	else
		nx__buf_printf(out, "%s/%s: back to %s version %llu\n", pipe, slot,
			       s->cur->spec.stage, (unsigned long long)s->cur->version);
	return 0;
}

/* ---- list ---- */

static const char *
kind_name(uint8_t k)
{
	switch (k) {
	case NX_NODE_STAGE: return "stage";
	case NX_NODE_SEQ: return "seq";
	case NX_NODE_BRANCH: return "branch";
	case NX_NODE_FANOUT: return "fanout";
	case NX_NODE_SPLIT: return "split";
	case NX_NODE_RR: return "roundrobin";
	}
	return "?";
}

static void
list(struct nx_instance *inst, struct nx_buf *out, bool json)
{
	const struct nx_pipetab *tab = inst->pipes;
	uint32_t i, k;

	if (json)
		nx__buf_printf(out, "{\"pipelines\":[");
	for (i = 0; i < tab->n; i++) {
		const struct nx_pipeline *p = tab->p[i];

		if (json) {
			nx__buf_printf(out, "%s{\"id\":%u,\"name\":", i ? "," : "", p->id);
			nx__buf_json_str(out, p->name);
			nx__buf_printf(out, ",\"version\":%llu,\"root\":\"%s\",\"graph\":",
				       (unsigned long long)p->version, kind_name(p->nodes[0].kind));
			nx__buf_json_str(out, p->graph);
			nx__buf_printf(out, ",\"slots\":[");
		} else {
			nx__buf_printf(out, "%-16s id %-3u version %-4llu graph = %s\n", p->name, p->id,
				       (unsigned long long)p->version, p->graph);
		}
		for (k = 0; k < p->nslots; k++) {
			const struct nx_slot *s = &p->slots[k];
			const struct nx_stage_inst *c = s->cur;

			if (json) {
				nx__buf_printf(out, "%s{\"slot\":", k ? "," : "");
				nx__buf_json_str(out, s->name);
				nx__buf_printf(out, ",\"stage\":");
				nx__buf_json_str(out, c->spec.stage);
				nx__buf_printf(out, ",\"stage_version\":%u,\"version\":%llu,"
					       "\"swaps\":%llu,\"plugin\":", c->ops->version,
					       (unsigned long long)c->version,
					       (unsigned long long)s->swaps);
				nx__buf_json_str(out, c->spec.plugin);
				nx__buf_printf(out, ",\"previous\":%llu,\"health_index\":%u}",
					       s->prev ? (unsigned long long)s->prev->version : 0ull,
					       s->hidx);
			} else {
				nx__buf_printf(out, "  slot %-12s %-12s v%-3u version %-4llu swaps %-4llu%s%s\n",
					       s->name, c->spec.stage, c->ops->version,
					       (unsigned long long)c->version,
					       (unsigned long long)s->swaps,
					       c->spec.plugin[0] ? "  plugin " : "", c->spec.plugin);
			}
		}
		if (json)
			nx__buf_printf(out, "]}");
	}
	if (json)
		nx__buf_printf(out, "]}\n");
}

/* ---- commands ---- */

/* Parse "--set k=v" and "--plugin F" into a slot spec for stage. */
static int
slot_spec_args(struct nx_slot_spec *ss, const char *slot, const char *stage, int argc,
	       char **argv, const uint8_t **probe, uint32_t *probe_len)
{
	int i;

	memset(ss, 0, sizeof *ss);
	snprintf(ss->name, sizeof ss->name, "%s", slot);
	if (strlen(stage) >= sizeof ss->stage)
		return nx__err(NX_EINVAL, "stage name '%s' is too long", stage);
	strcpy(ss->stage, stage);
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--plugin") == 0 && i + 1 < argc) {
			if (strlen(argv[i + 1]) >= sizeof ss->plugin)
				return nx__err(NX_EINVAL, "plugin path too long");
			strcpy(ss->plugin, argv[++i]);
		} else if (strcmp(a, "--set") == 0 && i + 1 < argc) {
			const char *kv = argv[++i], *eq = strchr(kv, '=');

			if (eq == NULL || eq == kv)
				return nx__err(NX_EINVAL, "--set %s: expected key=value", kv);
			if (ss->nparams == NX_MAX_PARAMS || (size_t)(eq - kv) >= NX_NAME_MAX ||
			    strlen(eq + 1) >= NX_PARAM_MAX)
				return nx__err(NX_EINVAL, "--set %s: too many parameters, or too long", kv);
			memcpy(ss->keys[ss->nparams], kv, (size_t)(eq - kv));
			ss->keys[ss->nparams][eq - kv] = '\0';
			strcpy(ss->vals[ss->nparams], eq + 1);
			ss->nparams++;
		} else if (strcmp(a, "--probe") == 0 && i + 1 < argc) {
			*probe = (const uint8_t *)argv[++i];
			*probe_len = (uint32_t)strlen((const char *)*probe);
		} else {
			return nx__err(NX_EINVAL, "unexpected argument '%s' (swap takes --plugin FILE, "
				       "--set key=value, --probe TEXT)", a);
		}
	}
	return 0;
}

struct section_ctx {
	struct nx_pipe_spec *spec;
	char want[NX_PIPE_NAME_MAX + 16];
	bool seen;
};

static int
on_section(void *user, const char *section, const char *key, const char *value)
{
	struct section_ctx *c = user;

	if (strcmp(section, c->want) != 0)
		return 0;
	c->seen = true;
	return nx__spec_set(c->spec, key, value);
}

static int
swap_pipeline(struct nx_instance *inst, const char *name, const char *file, struct nx_buf *out,
	      bool json)
{
	struct section_ctx c = { 0 };
	struct nx_build_env env;
	struct nx_pipeline *p;
	int rc;

	c.spec = malloc(sizeof *c.spec);
	if (c.spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	snprintf(c.want, sizeof c.want, "pipeline.%s", name);
	rc = gone_room(inst, 2);
	if (rc == 0)
		rc = nx__spec_init(c.spec, name);
	if (rc == 0)
		rc = nx_conf_parse(file, NX_FILE_TRUSTED, on_section, &c);
	if (rc == 0 && !c.seen)
		rc = nx__err(NX_ENOENT, "%s has no [pipeline.%s] section", file, name);
	if (rc == 0)
		rc = nx__spec_finish(c.spec);
	if (rc == 0) {
		nx__pipes_env(inst, &env);
		rc = nx__pipeline_build(&p, c.spec, &env);
		if (rc == 0 && (rc = table_put(inst, p)) < 0)
			nx__pipeline_destroy(p, &env);
	}
	free(c.spec);
	if (rc < 0)
		return nx__err_ctx(rc, "swap-pipeline %s refused, nothing changed", name);
	if (json)
		nx__buf_printf(out, "{\"pipeline\":\"%s\",\"id\":%d,\"version\":%llu,\"slots\":%u}\n",
			       name, rc, (unsigned long long)p->version, p->nslots);
	else
		nx__buf_printf(out, "pipeline %s version %llu is live (id %d, %u slots)\n", name,
			       (unsigned long long)p->version, rc, p->nslots);
	return 0;
}

int
nx__control_command(struct nx_instance *inst, int argc, char **argv, bool json,
		    struct nx_buf *out)
{
	const char *cmd = argc > 0 ? argv[0] : "";

	if (strcmp(cmd, "list") == 0 && argc == 1) {
		list(inst, out, json);
		return 0;
	}
	if (strcmp(cmd, "placement") == 0 && argc == 1) {
		char buf[8192];

		if (json)
			nx_place_format_json(nx_instance_plan(inst), buf, sizeof buf);
		else
			nx_place_format(nx_instance_plan(inst), buf, sizeof buf);
		nx__buf_printf(out, "%s%s", buf, json ? "\n" : "");
		return 0;
	}
	if (strcmp(cmd, "swap") == 0 && argc >= 4) {
		struct nx_slot_spec ss;
		const uint8_t *probe = NULL;
		uint32_t probe_len = 0;
		int rc = slot_spec_args(&ss, argv[2], argv[3], argc - 4, argv + 4, &probe, &probe_len);

		if (rc < 0)
			return rc;
		return swap_stage(inst, argv[1], argv[2], &ss, probe, probe_len, out, json);
	}
	if (strcmp(cmd, "swap-pipeline") == 0 && argc == 4 && strcmp(argv[2], "--config") == 0)
		return swap_pipeline(inst, argv[1], argv[3], out, json);
	if (strcmp(cmd, "rollback") == 0 && argc == 3)
		return rollback(inst, argv[1], argv[2], out, json);
	if (strcmp(cmd, "breaker") == 0 || strcmp(cmd, "release") == 0 ||
	    strcmp(cmd, "ratelimit") == 0 || strcmp(cmd, "dlq") == 0)
		return nx__policy_command(inst, argc, argv, json, out);
	return nx__err(NX_EINVAL, "unknown command or wrong arguments: '%s' (list, swap PIPELINE "
		       "SLOT STAGE [--plugin F] [--set k=v] [--probe TEXT], swap-pipeline NAME "
		       "--config FILE, rollback PIPELINE SLOT, placement, breaker PIPELINE SLOT "
		       "open|close|auto, release PIPELINE SLOT, ratelimit CHANNEL|all RATE [BURST], "
		       "dlq list|show ID|drain [ID...]|export [ID...])", cmd);
}
