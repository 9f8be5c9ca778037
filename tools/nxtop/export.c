/*
 * nxtop's batch output: one snapshot as JSON (--once --json) or in the
 * Prometheus text exposition format (--prometheus).
 */
#include <stdio.h>
#include <string.h>

#include "core/breaker.h"
#include "nxtop.h"

/* The worker error counters' names, by NX_WERR_* index. */
static const char *const werr_names[] = {
	[NX_WERR_BADDESC] = "baddesc", [NX_WERR_NOPIPE] = "nopipe",
	[NX_WERR_STAGE] = "stage",     [NX_WERR_OVERFLOW] = "overflow",
	[NX_WERR_OTHER] = "other",
};
#define NWERR_NAMED (sizeof werr_names / sizeof werr_names[0])

/* ---- JSON ---- */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* "key":"value" */
static void
json_kstr(FILE *f, const char *key, const char *val)
{
	fprintf(f, "\"%s\":", key);
	json_str(f, val);
}

static void
json_header(FILE *f, const char *instance, const struct nx_hr_snap *s, double interval_s)
{
	char when[32];

	fputc('{', f);
	json_kstr(f, "instance", instance);
	fprintf(f, ",\"generation\":%llu,\"pid\":%d,", (unsigned long long)s->hdr.generation,
		s->hdr.pid);
	json_kstr(f, "state", nxtop_snap_state(s));
	fprintf(f, ",\"up\":%s,\"segment\":%s,", s->up ? "true" : "false",
		s->mapped ? "true" : "false");
	json_kstr(f, "health", nx_hstate_name(s->health));
	fputc(',', f);
	json_kstr(f, "why", s->why);
	fprintf(f, ",\"uptime_s\":%.3f,\"start_wall_ns\":%llu,\"interval_s\":%.3f",
		(double)s->uptime_ns / 1e9, (unsigned long long)s->hdr.start_wall_ns, interval_s);
	if (s->up || s->down_since_wall_ns == 0) {
		fprintf(f, ",\"down_since_wall_ns\":null,\"down_since\":null");
	} else {
		nxtop_fmt_wall(when, sizeof when, s->down_since_wall_ns);
		fprintf(f, ",\"down_since_wall_ns\":%llu,", (unsigned long long)s->down_since_wall_ns);
		json_kstr(f, "down_since", when);
	}
}

static void
json_restarts(FILE *f, const struct nx_hr_snap *s)
{
	char when[32];
	unsigned i;

	fprintf(f, ",\"restarts\":%llu,\"restart_log\":[", (unsigned long long)s->hdr.restarts);
	for (i = 0; i < s->nrestarts; i++) {
		const struct nx_health_restart *r = &s->restarts[i];

		nxtop_fmt_wall(when, sizeof when, r->wall_ns);
		fprintf(f, "%s{\"wall_ns\":%llu,", i ? "," : "", (unsigned long long)r->wall_ns);
		json_kstr(f, "time", when);
		fprintf(f, ",\"down_ns\":%llu,\"generation\":%llu,\"old_pid\":%d,\"status\":%d,",
			(unsigned long long)r->down_ns, (unsigned long long)r->generation, r->old_pid,
			r->status);
		json_kstr(f, "reason", r->reason);
		fputc('}', f);
	}
	fputc(']', f);
}

static void
json_workers(FILE *f, const struct nx_hr_snap *s)
{
	unsigned i, k;

	fprintf(f, ",\"workers\":[");
	for (i = 0; i < s->nworkers; i++) {
		const struct nx_hr_worker *w = &s->workers[i];
		const struct nx_health_worker *raw = &w->raw;

		fprintf(f, "%s{\"worker\":%u,\"cpu\":%d,\"tid\":%d,", i ? "," : "", i, raw->cpu,
			raw->tid);
		json_kstr(f, "state", nxtop_worker_state_name(raw->state));
		fprintf(f, ",\"channels\":%u,\"loops\":%llu,\"taken\":%llu,\"answered\":%llu,"
			   "\"busy_ns\":%llu,\"sleeps\":%llu,\"errors\":{",
			raw->nchannels, (unsigned long long)raw->loops,
			(unsigned long long)raw->taken, (unsigned long long)raw->answered,
			(unsigned long long)raw->busy_ns, (unsigned long long)raw->sleeps);
		for (k = 0; k < NWERR_NAMED; k++)
			fprintf(f, "%s\"%s\":%llu", k ? "," : "", werr_names[k],
				(unsigned long long)raw->errors[k]);
		fprintf(f, "},\"req_per_s\":%.1f,\"busy_pct\":%.2f,\"p50_ns\":%llu,\"p99_ns\":%llu,"
			   "\"samples\":%llu,\"heartbeat_age_ns\":%llu,\"dlq_written\":%llu,"
			   "\"dlq_dropped\":%llu,",
			w->req_per_s, w->busy_pct, (unsigned long long)w->p50_ns,
			(unsigned long long)w->p99_ns, (unsigned long long)w->samples,
			(unsigned long long)w->hb_age_ns, (unsigned long long)raw->dlq_written,
			(unsigned long long)raw->dlq_dropped);
		json_kstr(f, "health", nx_hstate_name(w->health));
		fputc(',', f);
		json_kstr(f, "why", w->why);
		fputc('}', f);
	}
	fputc(']', f);
}

static void
json_stages(FILE *f, const struct nx_hr_snap *s)
{
	unsigned i;

	fprintf(f, ",\"stages\":[");
	for (i = 0; i < s->nslots; i++) {
		const struct nx_hr_slot *sl = &s->slots[i];

		fprintf(f, "%s{", i ? "," : "");
		json_kstr(f, "pipeline", sl->meta.pipe);
		fputc(',', f);
		json_kstr(f, "slot", sl->meta.name);
		fputc(',', f);
		json_kstr(f, "stage", sl->meta.stage);
		fputc(',', f);
		json_kstr(f, "plugin", sl->meta.plugin);
		fprintf(f, ",\"index\":%u,\"pipeline_id\":%u,\"version\":%llu,\"swaps\":%llu,"
			   "\"calls\":%llu,\"failures\":%llu,\"consec_failures\":%llu,\"timed\":%llu,"
			   "\"calls_per_s\":%.1f,\"fail_pct\":%.2f,\"window_calls\":%llu,"
			   "\"p50_ns\":%llu,\"p99_ns\":%llu,",
			sl->index, sl->meta.pipeline, (unsigned long long)sl->meta.version,
			(unsigned long long)sl->meta.swaps, (unsigned long long)sl->calls,
			(unsigned long long)sl->failures, (unsigned long long)sl->consec_failures,
			(unsigned long long)sl->timed, sl->calls_per_s, sl->fail_pct,
			(unsigned long long)sl->win_calls, (unsigned long long)sl->p50_ns,
			(unsigned long long)sl->p99_ns);
		json_kstr(f, "breaker", nx_brk_state_name(sl->breaker));
		fprintf(f, ",\"breaker_opened\":%llu,\"breaker_half_opened\":%llu,"
			   "\"breaker_closed\":%llu,\"breaker_rejected\":%llu,\"slow\":%llu,"
			   "\"overruns\":%llu,\"faults\":%llu,\"quarantined\":%s,\"degraded\":%llu,",
			(unsigned long long)sl->opened, (unsigned long long)sl->half_opened,
			(unsigned long long)sl->closed, (unsigned long long)sl->rejected,
			(unsigned long long)sl->slow, (unsigned long long)sl->overruns,
			(unsigned long long)sl->faults, sl->quarantined ? "true" : "false",
			(unsigned long long)sl->degraded);
		json_kstr(f, "health", nx_hstate_name(sl->health));
		fputc(',', f);
		json_kstr(f, "why", sl->why);
		fputc('}', f);
	}
	fputc(']', f);
}

static void
json_channels(FILE *f, const struct nx_hr_snap *s)
{
	unsigned i;

	fprintf(f, ",\"channels\":[");
	for (i = 0; i < s->nchans; i++) {
		const struct nx_hr_chan *c = &s->chans[i];
		const struct nx_health_chan *raw = &c->raw;

		fprintf(f, "%s{\"channel\":%u,\"pid\":%d,\"uid\":%u,", i ? "," : "", c->index,
			raw->pid, raw->uid);
		json_kstr(f, "state", nxtop_chan_state_name(raw->state));
		fprintf(f, ",\"worker\":%u,\"ring_size\":%u,\"attach_count\":%u,\"taken\":%llu,"
			   "\"answered\":%llu,\"errors\":%llu,\"depth\":%u,\"outstanding\":%u,"
			   "\"req_per_s\":%.1f,\"idle_ns\":%llu,\"rate_limit\":%u,\"rate_burst\":%u,"
			   "\"rate_limited\":%llu,\"expired\":%llu}",
			raw->worker, raw->ring_size, raw->attach_count,
			(unsigned long long)raw->taken, (unsigned long long)raw->answered,
			(unsigned long long)raw->errors, raw->depth, raw->outstanding, c->req_per_s,
			(unsigned long long)c->idle_ns, raw->rate, raw->burst,
			(unsigned long long)raw->rate_limited, (unsigned long long)raw->expired);
	}
	fputc(']', f);
}

static void
json_pipelines(FILE *f, const struct nx_hr_snap *s)
{
	unsigned i;

	fprintf(f, ",\"pipelines\":[");
	for (i = 0; i < s->npipes; i++) {
		const struct nx_health_pipe *p = &s->pipes[i];

		fprintf(f, "%s{", i ? "," : "");
		json_kstr(f, "name", p->name);
		fprintf(f, ",\"version\":%llu,\"stages\":%u}", (unsigned long long)p->version,
			p->nstages);
	}
	fputc(']', f);
}

int
nxtop_write_json(FILE *f, const char *instance, const struct nx_hr_snap *s, double interval_s)
{
	json_header(f, instance, s, interval_s);
	json_restarts(f, s);
	json_workers(f, s);
	json_stages(f, s);
	json_channels(f, s);
	json_pipelines(f, s);
	fprintf(f, "}\n");
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- Prometheus text exposition ---- */

/* A label value: backslash, double quote and newline escaped. */
static void
prom_label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{instance="..." (then the caller's labels and value) */
static void
prom_start(FILE *f, const char *name, const char *instance)
{
	fprintf(f, "%s{instance=", name);
	prom_label(f, instance);
}

static void
prom_instance(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "nx_up", "gauge", "1 when an nxd serves the instance, else 0" },
		{ "nx_generation", "gauge", "the instance's generation (last one seen when down)" },
		{ "nx_pid", "gauge", "pid of the instance's nxd (last one seen when down)" },
		{ "nx_uptime_seconds", "gauge", "time since this generation started (0 when down)" },
		{ "nx_restarts_total", "counter", "restarts logged in the health segment" },
		{ "nx_health", "gauge",
		  "overall health: 0 healthy, 1 degraded, 2 unhealthy, 3 down" },
	};
	const double val[] = {
		s->up ? 1 : 0, (double)s->hdr.generation, (double)s->hdr.pid,
		(double)s->uptime_ns / 1e9, (double)s->hdr.restarts, (double)s->health,
	};
	unsigned i;

	for (i = 0; i < sizeof fam / sizeof fam[0]; i++) {
		prom_family(f, fam[i].name, fam[i].type, fam[i].help);
		prom_start(f, fam[i].name, instance);
		fprintf(f, "} %.15g\n", val[i]);
	}
}

/* One family over the workers: value(w) for each. */
static void
prom_worker_family(FILE *f, const char *instance, const struct nx_hr_snap *s, const char *name,
		   const char *type, const char *help, double (*value)(const struct nx_hr_worker *))
{
	unsigned i;

	prom_family(f, name, type, help);
	for (i = 0; i < s->nworkers; i++) {
		prom_start(f, name, instance);
		fprintf(f, ",worker=\"%u\"} %.15g\n", i, value(&s->workers[i]));
	}
}

static double w_answered(const struct nx_hr_worker *w) { return (double)w->raw.answered; }
static double w_taken(const struct nx_hr_worker *w) { return (double)w->raw.taken; }
static double w_busy(const struct nx_hr_worker *w) { return (double)w->raw.busy_ns / 1e9; }
static double w_hb(const struct nx_hr_worker *w) { return (double)w->hb_age_ns / 1e9; }
static double w_health(const struct nx_hr_worker *w) { return (double)w->health; }
static double w_chans(const struct nx_hr_worker *w) { return (double)w->raw.nchannels; }
static double w_dlq(const struct nx_hr_worker *w) { return (double)w->raw.dlq_written; }
static double w_dlq_dropped(const struct nx_hr_worker *w) { return (double)w->raw.dlq_dropped; }

static void
prom_workers(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	unsigned i, k;

	prom_worker_family(f, instance, s, "nx_worker_requests_total", "counter",
			   "requests a worker answered", w_answered);
	prom_worker_family(f, instance, s, "nx_worker_taken_total", "counter",
			   "requests a worker took from its rings", w_taken);
	prom_worker_family(f, instance, s, "nx_worker_busy_seconds_total", "counter",
			   "time a worker spent running requests", w_busy);
	prom_worker_family(f, instance, s, "nx_worker_heartbeat_age_seconds", "gauge",
			   "age of a worker's heartbeat when read", w_hb);
	prom_worker_family(f, instance, s, "nx_worker_channels", "gauge",
			   "channels a worker serves", w_chans);
	prom_worker_family(f, instance, s, "nx_worker_health", "gauge",
			   "0 healthy, 1 degraded, 2 unhealthy, 3 down", w_health);
	prom_worker_family(f, instance, s, "nx_worker_dead_letters_total", "counter",
			   "failed requests a worker copied to its dead-letter ring", w_dlq);
	prom_worker_family(f, instance, s, "nx_worker_dead_letters_dropped_total", "counter",
			   "dead letters overwritten undrained because the ring was full", w_dlq_dropped);
	prom_family(f, "nx_worker_errors_total", "counter", "error answers a worker gave, by kind");
	for (i = 0; i < s->nworkers; i++)
		for (k = 0; k < NWERR_NAMED; k++) {
			prom_start(f, "nx_worker_errors_total", instance);
			fprintf(f, ",worker=\"%u\",kind=\"%s\"} %llu\n", i, werr_names[k],
				(unsigned long long)s->workers[i].raw.errors[k]);
		}
	prom_family(f, "nx_worker_service_seconds", "gauge",
		    "sampled service time of a request, by quantile");
	for (i = 0; i < s->nworkers; i++) {
		prom_start(f, "nx_worker_service_seconds", instance);
		fprintf(f, ",worker=\"%u\",quantile=\"0.5\"} %.9f\n", i,
			(double)s->workers[i].p50_ns / 1e9);
		prom_start(f, "nx_worker_service_seconds", instance);
		fprintf(f, ",worker=\"%u\",quantile=\"0.99\"} %.9f\n", i,
			(double)s->workers[i].p99_ns / 1e9);
	}
}

/* name{instance,pipeline,slot,stage (the caller adds the rest) */
static void
prom_slot_start(FILE *f, const char *name, const char *instance, const struct nx_hr_slot *sl)
{
	prom_start(f, name, instance);
	fputs(",pipeline=", f);
	prom_label(f, sl->meta.pipe);
	fputs(",slot=", f);
	prom_label(f, sl->meta.name);
	fputs(",stage=", f);
	prom_label(f, sl->meta.stage);
}

static void
prom_stages(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "nx_stage_calls_total", "counter", "calls of a stage slot, all workers" },
		{ "nx_stage_failures_total", "counter", "failed calls of a stage slot" },
		{ "nx_stage_consecutive_failures", "gauge",
		  "the longest current run of failures of a slot on one worker" },
		{ "nx_stage_version", "gauge", "version of the stage in a slot" },
		{ "nx_stage_swaps_total", "counter", "swaps and rollbacks of a slot" },
		{ "nx_stage_health", "gauge", "0 healthy, 1 degraded, 2 unhealthy, 3 down" },
		{ "nx_stage_breaker_state", "gauge", "0 closed, 1 open, 2 half-open (the worst worker's)" },
		{ "nx_stage_breaker_opened_total", "counter", "breaker transitions into open" },
		{ "nx_stage_breaker_rejected_total", "counter", "calls an open breaker refused" },
		{ "nx_stage_slow_total", "counter", "calls slower than the breaker's slow-call duration" },
		{ "nx_stage_overruns_total", "counter", "calls over the slot's time budget" },
		{ "nx_stage_faults_total", "counter", "faults contained in the slot's stage" },
		{ "nx_stage_quarantined", "gauge", "1 while the stage is out of service after a fault" },
		{ "nx_stage_degraded_total", "counter", "answers from the slot's degraded strategy" },
	};
	unsigned i, k;

	for (k = 0; k < sizeof fam / sizeof fam[0]; k++) {
		prom_family(f, fam[k].name, fam[k].type, fam[k].help);
		for (i = 0; i < s->nslots; i++) {
			const struct nx_hr_slot *sl = &s->slots[i];
			const uint64_t v[] = { sl->calls, sl->failures, sl->consec_failures,
					       sl->meta.version, sl->meta.swaps,
					       (uint64_t)sl->health, sl->breaker, sl->opened,
					       sl->rejected, sl->slow, sl->overruns, sl->faults,
					       sl->quarantined, sl->degraded };

			prom_slot_start(f, fam[k].name, instance, sl);
			fprintf(f, "} %llu\n", (unsigned long long)v[k]);
		}
	}
	prom_family(f, "nx_stage_seconds", "gauge", "sampled time of a stage slot, by quantile");
	for (i = 0; i < s->nslots; i++) {
		prom_slot_start(f, "nx_stage_seconds", instance, &s->slots[i]);
		fprintf(f, ",quantile=\"0.5\"} %.9f\n", (double)s->slots[i].p50_ns / 1e9);
		prom_slot_start(f, "nx_stage_seconds", instance, &s->slots[i]);
		fprintf(f, ",quantile=\"0.99\"} %.9f\n", (double)s->slots[i].p99_ns / 1e9);
	}
}

static void
prom_channels(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "nx_channel_requests_total", "counter", "requests answered on a channel" },
		{ "nx_channel_taken_total", "counter", "requests taken from a channel" },
		{ "nx_channel_errors_total", "counter", "error answers on a channel" },
		{ "nx_channel_depth", "gauge", "requests waiting in a channel's request ring" },
		{ "nx_channel_outstanding", "gauge",
		  "requests submitted on a channel and not yet read back" },
		{ "nx_channel_rate_limited_total", "counter",
		  "requests refused by a channel's token bucket" },
		{ "nx_channel_expired_total", "counter", "requests past their deadline when taken" },
	};
	unsigned i, k;

	for (k = 0; k < sizeof fam / sizeof fam[0]; k++) {
		prom_family(f, fam[k].name, fam[k].type, fam[k].help);
		for (i = 0; i < s->nchans; i++) {
			const struct nx_health_chan *c = &s->chans[i].raw;
			const uint64_t v[] = { c->answered, c->taken, c->errors, c->depth,
					       c->outstanding, c->rate_limited, c->expired };

			prom_start(f, fam[k].name, instance);
			fprintf(f, ",channel=\"%u\",pid=\"%d\",state=\"%s\"} %llu\n", s->chans[i].index,
				c->pid, nxtop_chan_state_name(c->state), (unsigned long long)v[k]);
		}
	}
}

static void
prom_pipelines(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	unsigned i;

	prom_family(f, "nx_pipeline_version", "gauge", "version of an active pipeline");
	for (i = 0; i < s->npipes; i++) {
		prom_start(f, "nx_pipeline_version", instance);
		fputs(",pipeline=", f);
		prom_label(f, s->pipes[i].name);
		fprintf(f, "} %llu\n", (unsigned long long)s->pipes[i].version);
	}
}

int
nxtop_write_prometheus(FILE *f, const char *instance, const struct nx_hr_snap *s)
{
	prom_instance(f, instance, s);
	prom_workers(f, instance, s);
	prom_stages(f, instance, s);
	prom_channels(f, instance, s);
	prom_pipelines(f, instance, s);
	return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
