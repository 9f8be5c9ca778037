/*
 * The placement plan as a report: readable text (nxd's start-up log,
 * nxctl placement) and one JSON object (nxctl placement --json). The
 * policy that makes the plan is place.c's; this file only reads it.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "platform/base/buf.h"
#include "platform/base/json.h"

#include "core/control/place.h"

static const char *
plural(int n)
{
	return n == 1 ? "" : "s";
}

/*
 * Length of the note line at *off (skipping empty lines), 0 at the end.
 * Bounded by notes[] even when a caller's plan is not terminated.
 */
static size_t
note_line(const struct nx_place_plan *plan, size_t *off)
{
	const size_t cap = sizeof plan->notes;
	size_t n = 0;

	while (*off < cap && plan->notes[*off] == '\n')
		(*off)++;
	while (*off + n < cap && plan->notes[*off + n] != '\0' && plan->notes[*off + n] != '\n')
		n++;
	return n;
}

static const char *
int_or_dash(int v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%d", v);
	return buf;
}

static void
format_row(struct nx_buf *o, const char *who, const struct nx_place_cpu *pc)
{
	char core[16], numa[16];

	int_or_dash(pc->core, core, sizeof core);
	int_or_dash(pc->numa, numa, sizeof numa);
	nx__buf_printf(o, "  %-10s cpu %-4d core %-4s numa %-3s %.*s\n", who, pc->cpu, core, numa,
		       (int)strnlen(pc->reason, sizeof pc->reason), pc->reason);
}

void
nx__place_report(const struct nx_place_plan *plan, struct nx_buf *o)
{
	int niso = 0;

	for (int w = 0; w < plan->nworkers; w++)
		niso += plan->worker[w].isolated;
	nx__buf_printf(o, "placement: %d core%s, %d PU%s; %d worker%s, %d on isolated CPUs%s\n",
		       plan->ncores, plural(plan->ncores), plan->npus, plural(plan->npus),
		       plan->nworkers, plural(plan->nworkers), niso,
		       plan->control_shares_worker_core ? "; control shares a worker's core" : "");
	for (int w = 0; w < plan->nworkers && w < NX_PLACE_MAX_WORKERS; w++) {
		char who[16];

		snprintf(who, sizeof who, "worker %d", w);
		format_row(o, who, &plan->worker[w]);
	}
	format_row(o, "control", &plan->control);
	for (size_t off = 0, n; (n = note_line(plan, &off)) != 0; off += n + 1)
		nx__buf_printf(o, "  note: %.*s\n", (int)n, plan->notes + off);
}

/* A CPU's members, into the object j has open. */
static void
json_cpu(struct nx_json *j, const struct nx_place_cpu *pc)
{
	nx__json_kint(j, "cpu", pc->cpu);
	nx__json_kint(j, "core", pc->core);
	nx__json_kint(j, "numa", pc->numa);
	nx__json_kbool(j, "isolated", pc->isolated);
	nx__json_key(j, "reason");
	nx__json_strn(j, pc->reason, sizeof pc->reason);
}

void
nx__place_report_json(const struct nx_place_plan *plan, struct nx_json *j)
{
	nx__json_obj_open(j);
	nx__json_kint(j, "cores", plan->ncores);
	nx__json_kint(j, "pus", plan->npus);
	nx__json_key(j, "workers");
	nx__json_arr_open(j);
	for (int w = 0; w < plan->nworkers && w < NX_PLACE_MAX_WORKERS; w++) {
		nx__json_obj_open(j);
		nx__json_kint(j, "worker", w);
		json_cpu(j, &plan->worker[w]);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
	nx__json_key(j, "control");
	nx__json_obj_open(j);
	json_cpu(j, &plan->control);
	nx__json_obj_close(j);
	nx__json_kbool(j, "control_shares_worker_core", plan->control_shares_worker_core);
	nx__json_key(j, "notes");
	nx__json_arr_open(j);
	for (size_t off = 0, n; (n = note_line(plan, &off)) != 0; off += n + 1)
		nx__json_strn(j, plan->notes + off, n);
	nx__json_arr_close(j);
	nx__json_obj_close(j);
}

/* The report in b into buf[len] with snprintf's rules: cut to fit, NUL-terminated,
 * the length it would have. */
static int
copy_out(struct nx_buf *b, char *buf, size_t len)
{
	size_t n = b->len;

	if (b->failed) {
		nx__buf_free(b);
		return nx__err(NX_ENOMEM, "placement: the report");
	}
	if (buf != NULL && len > 0) {
		size_t k = n < len - 1 ? n : len - 1;

		if (k > 0)
			memcpy(buf, b->p, k);
		buf[k] = '\0';
	}
	nx__buf_free(b);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int
nx__place_format(const struct nx_place_plan *plan, char *buf, size_t len)
{
	struct nx_buf b = { 0 };

	if (plan == NULL)
		return nx__err(NX_EINVAL, "placement: NULL plan");
	nx__place_report(plan, &b);
	return copy_out(&b, buf, len);
}

int
nx__place_format_json(const struct nx_place_plan *plan, char *buf, size_t len)
{
	struct nx_buf b = { 0 };
	struct nx_json j;

	if (plan == NULL)
		return nx__err(NX_EINVAL, "placement: NULL plan");
	nx__json_init(&j, &b);
	nx__place_report_json(plan, &j);
	if (!nx__json_done(&j))
		b.failed = true;
	return copy_out(&b, buf, len);
}
