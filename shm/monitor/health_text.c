/*
 * A health snapshot as text for machines (health_text.h): nxtop's JSON
 * object and the Prometheus text exposition format, moved here from nxtop
 * so that nxexport serves the same bytes; and the state names they use.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/datapath/breaker.h"
#include "platform/base/json.h"
#include "shm/monitor/health_text.h"

const char *
nx__hr_inst_state_name(uint32_t state)
{
	switch (state) {
	case NX_INST_STARTING: return "starting";
	case NX_INST_RUNNING: return "running";
	case NX_INST_STOPPING: return "stopping";
	case NX_INST_STOPPED: return "stopped";
	}
	return "unknown";
}

const char *
nx__hr_snap_state(const struct nx_hr_snap *s)
{
	if (s->up)
		return nx__hr_inst_state_name(s->hdr.state);
	if (!s->mapped)
		return s->hdr.generation != 0 ? "removed" : "absent";
	/* the header still says it serves, but its pid is gone */
	if (s->hdr.state == NX_INST_STARTING || s->hdr.state == NX_INST_RUNNING)
		return "gone";
	return nx__hr_inst_state_name(s->hdr.state);
}

const char *
nx__hr_worker_state_name(uint32_t state)
{
	switch (state) {
	case NX_WORKER_OFF: return "off";
	case NX_WORKER_RUNNING: return "running";
	case NX_WORKER_IDLE: return "idle";
	case NX_WORKER_SLEEPING: return "sleeping";
	}
	return "unknown";
}

const char *
nx__hr_chan_state_name(uint32_t state)
{
	switch (state) {
	case NX_CHAN_FREE: return "free";
	case NX_CHAN_ATTACHED: return "attached";
	case NX_CHAN_ORPHANED: return "orphaned";
	}
	return "unknown";
}

void
nx__hr_fmt_wall(char *buf, size_t len, uint64_t wall_ns)
{
	time_t t = (time_t)(wall_ns / 1000000000ull);
	struct tm tm;

	if (wall_ns == 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
}

/* The worker error counters' names, by NX_WERR_* index. */
static const char *const werr_names[] = {
	[NX_WERR_BADDESC] = "baddesc", [NX_WERR_NOPIPE] = "nopipe",
	[NX_WERR_STAGE] = "stage",     [NX_WERR_OVERFLOW] = "overflow",
	[NX_WERR_OTHER] = "other",
};
#define NWERR_NAMED (sizeof werr_names / sizeof werr_names[0])

/* ---- JSON ---- */

static void
json_header(struct nx_json *j, const char *instance, const struct nx_hr_snap *s,
	    double interval_s)
{
	char when[32];

	nx__json_kstr(j, "instance", instance);
	nx__json_kuint(j, "generation", s->hdr.generation);
	nx__json_kint(j, "pid", s->hdr.pid);
	nx__json_kstr(j, "state", nx__hr_snap_state(s));
	nx__json_kbool(j, "up", s->up);
	nx__json_kbool(j, "segment", s->mapped);
	nx__json_kstr(j, "health", nx__hstate_name(s->health));
	nx__json_kstr(j, "why", s->why);
	nx__json_kdouble(j, "uptime_s", (double)s->uptime_ns / 1e9, 3);
	nx__json_kuint(j, "start_wall_ns", s->hdr.start_wall_ns);
	nx__json_kdouble(j, "interval_s", interval_s, 3);
	if (s->up || s->down_since_wall_ns == 0) {
		nx__json_knull(j, "down_since_wall_ns");
		nx__json_knull(j, "down_since");
	} else {
		nx__hr_fmt_wall(when, sizeof when, s->down_since_wall_ns);
		nx__json_kuint(j, "down_since_wall_ns", s->down_since_wall_ns);
		nx__json_kstr(j, "down_since", when);
	}
}

static void
json_restarts(struct nx_json *j, const struct nx_hr_snap *s)
{
	char when[32];
	unsigned i;

	nx__json_kuint(j, "restarts", s->hdr.restarts);
	nx__json_key(j, "restart_log");
	nx__json_arr_open(j);
	for (i = 0; i < s->nrestarts; i++) {
		const struct nx_health_restart *r = &s->restarts[i];

		nx__hr_fmt_wall(when, sizeof when, r->wall_ns);
		nx__json_obj_open(j);
		nx__json_kuint(j, "wall_ns", r->wall_ns);
		nx__json_kstr(j, "time", when);
		nx__json_kuint(j, "down_ns", r->down_ns);
		nx__json_kuint(j, "generation", r->generation);
		nx__json_kint(j, "old_pid", r->old_pid);
		nx__json_kint(j, "status", r->status);
		nx__json_kstr(j, "reason", r->reason);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}

static void
json_workers(struct nx_json *j, const struct nx_hr_snap *s)
{
	unsigned i, k;

	nx__json_key(j, "workers");
	nx__json_arr_open(j);
	for (i = 0; i < s->nworkers; i++) {
		const struct nx_hr_worker *w = &s->workers[i];
		const struct nx_health_worker *raw = &w->raw;

		nx__json_obj_open(j);
		nx__json_kuint(j, "worker", i);
		nx__json_kint(j, "cpu", raw->cpu);
		nx__json_kint(j, "tid", raw->tid);
		nx__json_kstr(j, "state", nx__hr_worker_state_name(raw->state));
		nx__json_kuint(j, "channels", raw->nchannels);
		nx__json_kuint(j, "loops", raw->loops);
		nx__json_kuint(j, "taken", raw->taken);
		nx__json_kuint(j, "answered", raw->answered);
		nx__json_kuint(j, "busy_ns", raw->busy_ns);
		nx__json_kuint(j, "sleeps", raw->sleeps);
		nx__json_key(j, "errors");
		nx__json_obj_open(j);
		for (k = 0; k < NWERR_NAMED; k++)
			nx__json_kuint(j, werr_names[k], raw->errors[k]);
		nx__json_obj_close(j);
		nx__json_kdouble(j, "req_per_s", w->req_per_s, 1);
		nx__json_kdouble(j, "busy_pct", w->busy_pct, 2);
		nx__json_kuint(j, "p50_ns", w->p50_ns);
		nx__json_kuint(j, "p99_ns", w->p99_ns);
		nx__json_kuint(j, "samples", w->samples);
		nx__json_kuint(j, "heartbeat_age_ns", w->hb_age_ns);
		nx__json_kuint(j, "dlq_written", raw->dlq_written);
		nx__json_kuint(j, "dlq_dropped", raw->dlq_dropped);
		nx__json_kstr(j, "health", nx__hstate_name(w->health));
		nx__json_kstr(j, "why", w->why);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}

static void
json_stages(struct nx_json *j, const struct nx_hr_snap *s)
{
	unsigned i;

	nx__json_key(j, "stages");
	nx__json_arr_open(j);
	for (i = 0; i < s->nslots; i++) {
		const struct nx_hr_slot *sl = &s->slots[i];

		nx__json_obj_open(j);
		nx__json_kstr(j, "pipeline", sl->meta.pipe);
		nx__json_kstr(j, "slot", sl->meta.name);
		nx__json_kstr(j, "stage", sl->meta.stage);
		nx__json_kstr(j, "plugin", sl->meta.plugin);
		nx__json_kuint(j, "index", sl->index);
		nx__json_kuint(j, "pipeline_id", sl->meta.pipeline);
		nx__json_kuint(j, "version", sl->meta.version);
		nx__json_kuint(j, "swaps", sl->meta.swaps);
		nx__json_kuint(j, "calls", sl->calls);
		nx__json_kuint(j, "failures", sl->failures);
		nx__json_kuint(j, "consec_failures", sl->consec_failures);
		nx__json_kuint(j, "timed", sl->timed);
		nx__json_kdouble(j, "calls_per_s", sl->calls_per_s, 1);
		nx__json_kdouble(j, "fail_pct", sl->fail_pct, 2);
		nx__json_kuint(j, "window_calls", sl->win_calls);
		nx__json_kuint(j, "p50_ns", sl->p50_ns);
		nx__json_kuint(j, "p99_ns", sl->p99_ns);
		nx__json_kstr(j, "breaker", nx__brk_state_name(sl->breaker));
		nx__json_kuint(j, "breaker_opened", sl->opened);
		nx__json_kuint(j, "breaker_half_opened", sl->half_opened);
		nx__json_kuint(j, "breaker_closed", sl->closed);
		nx__json_kuint(j, "breaker_rejected", sl->rejected);
		nx__json_kuint(j, "slow", sl->slow);
		nx__json_kuint(j, "overruns", sl->overruns);
		nx__json_kuint(j, "faults", sl->faults);
		nx__json_kbool(j, "quarantined", sl->quarantined != 0);
		nx__json_kuint(j, "degraded", sl->degraded);
		nx__json_kstr(j, "health", nx__hstate_name(sl->health));
		nx__json_kstr(j, "why", sl->why);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}

static void
json_channels(struct nx_json *j, const struct nx_hr_snap *s)
{
	unsigned i;

	nx__json_key(j, "channels");
	nx__json_arr_open(j);
	for (i = 0; i < s->nchans; i++) {
		const struct nx_hr_chan *c = &s->chans[i];
		const struct nx_health_chan *raw = &c->raw;

		nx__json_obj_open(j);
		nx__json_kuint(j, "channel", c->index);
		nx__json_kint(j, "pid", raw->pid);
		nx__json_kuint(j, "uid", raw->uid);
		nx__json_kstr(j, "state", nx__hr_chan_state_name(raw->state));
		nx__json_kuint(j, "worker", raw->worker);
		nx__json_kuint(j, "ring_size", raw->ring_size);
		nx__json_kuint(j, "attach_count", raw->attach_count);
		nx__json_kuint(j, "taken", raw->taken);
		nx__json_kuint(j, "answered", raw->answered);
		nx__json_kuint(j, "errors", raw->errors);
		nx__json_kuint(j, "depth", raw->depth);
		nx__json_kuint(j, "outstanding", raw->outstanding);
		nx__json_kdouble(j, "req_per_s", c->req_per_s, 1);
		nx__json_kuint(j, "idle_ns", c->idle_ns);
		nx__json_kuint(j, "rate_limit", raw->rate);
		nx__json_kuint(j, "rate_burst", raw->burst);
		nx__json_kuint(j, "rate_limited", raw->rate_limited);
		nx__json_kuint(j, "expired", raw->expired);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}

static void
json_pipelines(struct nx_json *j, const struct nx_hr_snap *s)
{
	unsigned i;

	nx__json_key(j, "pipelines");
	nx__json_arr_open(j);
	for (i = 0; i < s->npipes; i++) {
		const struct nx_health_pipe *p = &s->pipes[i];

		nx__json_obj_open(j);
		nx__json_kstr(j, "name", p->name);
		nx__json_kuint(j, "version", p->version);
		nx__json_kuint(j, "stages", p->nstages);
		nx__json_obj_close(j);
	}
	nx__json_arr_close(j);
}

void
nx__hr_text_json(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s,
		 double interval_s)
{
	struct nx_json j;

	nx__json_init(&j, b);
	nx__json_obj_open(&j);
	json_header(&j, instance, s, interval_s);
	json_restarts(&j, s);
	json_workers(&j, s);
	json_stages(&j, s);
	json_channels(&j, s);
	json_pipelines(&j, s);
	nx__json_obj_close(&j);
	nx__buf_put(b, "\n", 1);
	if (!nx__json_done(&j))
		b->failed = true;
}

/* ---- Prometheus text exposition ---- */

/* A label value: backslash, double quote and newline escaped (the
 * format's own rule, not JSON's). */
static void
prom_label(struct nx_buf *b, const char *s)
{
	const char *run = s;

	nx__buf_put(b, "\"", 1);
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80) {
			/* label values are UTF-8, and one invalid byte makes
			 * Prometheus refuse the whole scrape: U+FFFD instead */
			size_t k = nx__utf8_seq(s, strnlen(s, 4));

			if (k != 0) {
				s += k - 1;
				continue;
			}
			nx__buf_put(b, run, (size_t)(s - run));
			nx__buf_put(b, "\xef\xbf\xbd", 3);
			run = s + 1;
			continue;
		}
		if (*s != '\\' && *s != '"' && *s != '\n')
			continue;
		nx__buf_put(b, run, (size_t)(s - run));
		nx__buf_put(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		run = s + 1;
	}
	nx__buf_put(b, run, (size_t)(s - run));
	nx__buf_put(b, "\"", 1);
}

static void
prom_family(struct nx_buf *b, const char *name, const char *type, const char *help)
{
	nx__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{instance="..." (then the caller's labels and value) */
static void
prom_start(struct nx_buf *b, const char *name, const char *instance)
{
	nx__buf_printf(b, "%s{instance=", name);
	prom_label(b, instance);
}

static void
prom_instance(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
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
		prom_family(b, fam[i].name, fam[i].type, fam[i].help);
		prom_start(b, fam[i].name, instance);
		nx__buf_printf(b, "} %.15g\n", val[i]);
	}
}

/* One family over the workers: value(w) for each. */
static void
prom_worker_family(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s, const char *name,
		   const char *type, const char *help, double (*value)(const struct nx_hr_worker *))
{
	unsigned i;

	prom_family(b, name, type, help);
	for (i = 0; i < s->nworkers; i++) {
		prom_start(b, name, instance);
		nx__buf_printf(b, ",worker=\"%u\"} %.15g\n", i, value(&s->workers[i]));
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
prom_workers(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
{
	unsigned i, k;

	prom_worker_family(b, instance, s, "nx_worker_requests_total", "counter",
			   "requests a worker answered", w_answered);
	prom_worker_family(b, instance, s, "nx_worker_taken_total", "counter",
			   "requests a worker took from its rings", w_taken);
	prom_worker_family(b, instance, s, "nx_worker_busy_seconds_total", "counter",
			   "time a worker spent running requests", w_busy);
	prom_worker_family(b, instance, s, "nx_worker_heartbeat_age_seconds", "gauge",
			   "age of a worker's heartbeat when read", w_hb);
	prom_worker_family(b, instance, s, "nx_worker_channels", "gauge",
			   "channels a worker serves", w_chans);
	prom_worker_family(b, instance, s, "nx_worker_health", "gauge",
			   "0 healthy, 1 degraded, 2 unhealthy, 3 down", w_health);
	prom_worker_family(b, instance, s, "nx_worker_dead_letters_total", "counter",
			   "failed requests a worker copied to its dead-letter ring", w_dlq);
	prom_worker_family(b, instance, s, "nx_worker_dead_letters_dropped_total", "counter",
			   "dead letters overwritten undrained because the ring was full", w_dlq_dropped);
	prom_family(b, "nx_worker_errors_total", "counter", "error answers a worker gave, by kind");
	for (i = 0; i < s->nworkers; i++)
		for (k = 0; k < NWERR_NAMED; k++) {
			prom_start(b, "nx_worker_errors_total", instance);
			nx__buf_printf(b, ",worker=\"%u\",kind=\"%s\"} %llu\n", i, werr_names[k],
				(unsigned long long)s->workers[i].raw.errors[k]);
		}
	prom_family(b, "nx_worker_service_seconds", "gauge",
		    "sampled service time of a request, by quantile");
	for (i = 0; i < s->nworkers; i++) {
		prom_start(b, "nx_worker_service_seconds", instance);
		nx__buf_printf(b, ",worker=\"%u\",quantile=\"0.5\"} %.9f\n", i,
			(double)s->workers[i].p50_ns / 1e9);
		prom_start(b, "nx_worker_service_seconds", instance);
		nx__buf_printf(b, ",worker=\"%u\",quantile=\"0.99\"} %.9f\n", i,
			(double)s->workers[i].p99_ns / 1e9);
	}
}

/* name{instance,pipeline,slot,stage (the caller adds the rest) */
static void
prom_slot_start(struct nx_buf *b, const char *name, const char *instance, const struct nx_hr_slot *sl)
{
	prom_start(b, name, instance);
	nx__buf_put(b, ",pipeline=", 10);
	prom_label(b, sl->meta.pipe);
	nx__buf_put(b, ",slot=", 6);
	prom_label(b, sl->meta.name);
	nx__buf_put(b, ",stage=", 7);
	prom_label(b, sl->meta.stage);
}

static void
prom_stages(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
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
		prom_family(b, fam[k].name, fam[k].type, fam[k].help);
		for (i = 0; i < s->nslots; i++) {
			const struct nx_hr_slot *sl = &s->slots[i];
			const uint64_t v[] = { sl->calls, sl->failures, sl->consec_failures,
					       sl->meta.version, sl->meta.swaps,
					       (uint64_t)sl->health, sl->breaker, sl->opened,
					       sl->rejected, sl->slow, sl->overruns, sl->faults,
					       sl->quarantined, sl->degraded };

			prom_slot_start(b, fam[k].name, instance, sl);
			nx__buf_printf(b, "} %llu\n", (unsigned long long)v[k]);
		}
	}
	prom_family(b, "nx_stage_seconds", "gauge", "sampled time of a stage slot, by quantile");
	for (i = 0; i < s->nslots; i++) {
		prom_slot_start(b, "nx_stage_seconds", instance, &s->slots[i]);
		nx__buf_printf(b, ",quantile=\"0.5\"} %.9f\n", (double)s->slots[i].p50_ns / 1e9);
		prom_slot_start(b, "nx_stage_seconds", instance, &s->slots[i]);
		nx__buf_printf(b, ",quantile=\"0.99\"} %.9f\n", (double)s->slots[i].p99_ns / 1e9);
	}
}

static void
prom_channels(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
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
		prom_family(b, fam[k].name, fam[k].type, fam[k].help);
		for (i = 0; i < s->nchans; i++) {
			const struct nx_health_chan *c = &s->chans[i].raw;
			const uint64_t v[] = { c->answered, c->taken, c->errors, c->depth,
					       c->outstanding, c->rate_limited, c->expired };

			prom_start(b, fam[k].name, instance);
			nx__buf_printf(b, ",channel=\"%u\",pid=\"%d\",state=\"%s\"} %llu\n", s->chans[i].index,
				c->pid, nx__hr_chan_state_name(c->state), (unsigned long long)v[k]);
		}
	}
}

static void
prom_pipelines(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
{
	unsigned i;

	prom_family(b, "nx_pipeline_version", "gauge", "version of an active pipeline");
	for (i = 0; i < s->npipes; i++) {
		prom_start(b, "nx_pipeline_version", instance);
		nx__buf_put(b, ",pipeline=", 10);
		prom_label(b, s->pipes[i].name);
		nx__buf_printf(b, "} %llu\n", (unsigned long long)s->pipes[i].version);
	}
}

void
nx__hr_text_prometheus(struct nx_buf *b, const char *instance, const struct nx_hr_snap *s)
{
	prom_instance(b, instance, s);
	prom_workers(b, instance, s);
	prom_stages(b, instance, s);
	prom_channels(b, instance, s);
	prom_pipelines(b, instance, s);
}
