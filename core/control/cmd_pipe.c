/*
 * nxctl's pipeline commands, on nxd's control thread:
 *
 *   list                                     the pipelines, their slots and stages
 *   swap PIPELINE SLOT STAGE [--plugin F] [--set k=v] [--probe TEXT]
 *                                            a new stage in a slot
 *   swap-pipeline NAME --config FILE         a pipeline from a [pipeline.NAME] section
 *   rollback PIPELINE SLOT                   the slot's previous stage back
 *   placement                                where the workers and control thread run
 *
 * The changes themselves are pipetab.c's; here, their arguments and answers.
 */
#include <stdio.h>
#include <string.h>

#include "platform/base/json.h"

#include "core/control/cmd.h"
#include "core/control/pipetab.h"

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
list_json(const struct nx_pipetab *tab, struct nx_buf *out)
{
	struct nx_json j;
	uint32_t i, k;

	nx__cmd_json_open(&j, out, NULL, NULL);
	nx__json_key(&j, "pipelines");
	nx__json_arr_open(&j);
	for (i = 0; i < tab->n; i++) {
		const struct nx_pipeline *p = tab->p[i];

		nx__json_obj_open(&j);
		nx__json_kuint(&j, "id", p->id);
		nx__json_kstr(&j, "name", p->name);
		nx__json_kuint(&j, "version", p->version);
		nx__json_kstr(&j, "root", kind_name(p->nodes[0].kind));
		nx__json_kstr(&j, "graph", p->graph);
		nx__json_key(&j, "slots");
		nx__json_arr_open(&j);
		for (k = 0; k < p->nslots; k++) {
			const struct nx_slot *s = &p->slots[k];
			const struct nx_stage_inst *c = s->cur;

			nx__json_obj_open(&j);
			nx__json_kstr(&j, "slot", s->name);
			nx__json_kstr(&j, "stage", c->spec.stage);
			nx__json_kuint(&j, "stage_version", c->ops->version);
			nx__json_kuint(&j, "version", c->version);
			nx__json_kuint(&j, "swaps", s->swaps);
			nx__json_kstr(&j, "plugin", c->spec.plugin);
			nx__json_kuint(&j, "previous", s->prev ? s->prev->version : 0);
			nx__json_kuint(&j, "health_index", s->hidx);
			nx__json_obj_close(&j);
		}
		nx__json_arr_close(&j);
		nx__json_obj_close(&j);
	}
	nx__json_arr_close(&j);
	nx__cmd_json_close(&j);
}

static int
cmd_list(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const struct nx_pipetab *tab = inst->pipes;
	uint32_t i, k;

	(void)argc;
	(void)argv;
	if (json) {
		list_json(tab, out);
		return 0;
	}
	for (i = 0; i < tab->n; i++) {
		const struct nx_pipeline *p = tab->p[i];

		nx__buf_printf(out, "%-16s id %-3u version %-4llu graph = %s\n", p->name, p->id,
			       (unsigned long long)p->version, p->graph);
		for (k = 0; k < p->nslots; k++) {
			const struct nx_slot *s = &p->slots[k];
			const struct nx_stage_inst *c = s->cur;

			nx__buf_printf(out, "  slot %-12s %-12s v%-3u version %-4llu swaps %-4llu%s%s\n",
				       s->name, c->spec.stage, c->ops->version,
				       (unsigned long long)c->version,
				       (unsigned long long)s->swaps,
				       c->spec.plugin[0] ? "  plugin " : "", c->spec.plugin);
		}
	}
	return 0;
}

static int
cmd_placement(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	(void)argc;
	(void)argv;
	if (json) {
		struct nx_json j;

		nx__json_init(&j, out);
		nx__place_report_json(&inst->plan, &j);
		nx__buf_put(out, "\n", 1);
	} else {
		nx__place_report(&inst->plan, out);
	}
	return 0;
}

/* ---- swaps ---- */

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

static int
cmd_swap(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const char *pipe = argv[1], *slot = argv[2];
	struct nx_slot_spec ss;
	const uint8_t *probe = NULL;
	uint32_t probe_len = 0;
	struct nx_slot *s;
	int rc = slot_spec_args(&ss, slot, argv[3], argc - 4, argv + 4, &probe, &probe_len);

	if (rc < 0)
		return rc;
	rc = nx__pipetab_swap_stage(inst, pipe, slot, &ss, probe, probe_len, &s);
	if (rc < 0)
		return nx__err_ctx(rc, "swap %s/%s refused, nothing changed", pipe, slot);
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, pipe, slot);
		nx__json_kstr(&j, "stage", s->cur->spec.stage);
		nx__json_kuint(&j, "version", s->cur->version);
		nx__json_kuint(&j, "previous", s->prev->version);
		nx__json_kuint(&j, "swaps", s->swaps);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%s/%s: %s version %llu is live (was %s version %llu)\n", pipe,
			       slot, s->cur->spec.stage, (unsigned long long)s->cur->version,
			       s->prev->spec.stage, (unsigned long long)s->prev->version);
	}
	return 0;
}

static int
cmd_rollback(struct nx_instance *inst, int argc, char **argv, bool json, struct nx_buf *out)
{
	const char *pipe = argv[1], *slot = argv[2];
	struct nx_slot *s;
	int rc;

	(void)argc;
	rc = nx__pipetab_rollback(inst, pipe, slot, &s);
	if (rc < 0)
		return rc;
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, pipe, slot);
		nx__json_kuint(&j, "version", s->cur->version);
		nx__json_kuint(&j, "swaps", s->swaps);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "%s/%s: back to %s version %llu\n", pipe, slot,
			       s->cur->spec.stage, (unsigned long long)s->cur->version);
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
cmd_swap_pipeline(struct nx_instance *inst, int argc, char **argv, bool json,
		  struct nx_buf *out)
{
	const char *name = argv[1], *file = argv[3];
	struct section_ctx c = { 0 };
	struct nx_pipeline *p;
	int rc;

	(void)argc;
	if (strcmp(argv[2], "--config") != 0)
		return nx__err(NX_EINVAL, "%s: wrong arguments (%s NAME --config FILE)", argv[0],
			       argv[0]);
	c.spec = nx__mem_alloc(sizeof *c.spec);
	if (c.spec == NULL)
		return nx__err(NX_ENOMEM, "pipeline spec");
	snprintf(c.want, sizeof c.want, "pipeline.%s", name);
	rc = nx__pipetab_room(inst, 2);
	if (rc == 0)
		rc = nx__spec_init(c.spec, name);
	if (rc == 0)
		rc = nx__conf_parse(file, NX_FILE_TRUSTED, on_section, &c);
	if (rc == 0 && !c.seen)
		rc = nx__err(NX_ENOENT, "%s has no [pipeline.%s] section", file, name);
	if (rc == 0)
		rc = nx__spec_finish(c.spec);
	if (rc == 0)
		rc = nx__pipetab_build(inst, c.spec, &p);
	nx__mem_free(c.spec);
	if (rc < 0)
		return nx__err_ctx(rc, "swap-pipeline %s refused, nothing changed", name);
	if (json) {
		struct nx_json j;

		nx__cmd_json_open(&j, out, name, NULL);
		nx__json_kint(&j, "id", rc);
		nx__json_kuint(&j, "version", p->version);
		nx__json_kuint(&j, "slots", p->nslots);
		nx__cmd_json_close(&j);
	} else {
		nx__buf_printf(out, "pipeline %s version %llu is live (id %d, %u slots)\n", name,
			       (unsigned long long)p->version, rc, p->nslots);
	}
	return 0;
}

const struct nx_cmd nx__cmd_pipe[] = {
	{ "list", "", 0, 0, cmd_list },
	{ "swap", "PIPELINE SLOT STAGE [--plugin F] [--set k=v] [--probe TEXT]", 3,
	  NX_CMD_ARGS_ANY, cmd_swap },
	{ "swap-pipeline", "NAME --config FILE", 3, 3, cmd_swap_pipeline },
	{ "rollback", "PIPELINE SLOT", 2, 2, cmd_rollback },
	{ "placement", "", 0, 0, cmd_placement },
	{ NULL, NULL, 0, 0, NULL },
};
