/* The health segment's reader library (health_read.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/datapath/hist.h"
#include "shm/monitor/health_read.h"

/* Window history: one sample every window / NX_HR_STEPS, NX_HR_KEEP kept. */
#define NX_HR_STEPS 16
#define NX_HR_KEEP (NX_HR_STEPS + 4)

struct nx_hr_sample {
	uint64_t at_ns;
	uint64_t generation;
	uint64_t *calls;    /* [max_slots] */
	uint64_t *failures; /* [max_slots] */
};

struct nx_hr {
	char instance[NX_INSTANCE_MAX + 1];
	struct nx_hr_conf conf;
	struct nx_health_view hv;       /* base == NULL: not mapped */
	uint32_t max_workers, max_slots, max_channels, max_pipelines;
	struct nx_hr_snap snap;
	struct nx_health_hdr last_hdr;  /* the last header seen */
	uint64_t last_alive_wall_ns;
	bool seen;
	/* the previous snapshot, for rates */
	uint64_t prev_at_ns, prev_generation;
	struct nx_health_worker *prev_workers;
	struct nx_lhist *prev_whist, *cur_whist, *tmp_hist;
	uint64_t *prev_slot_calls, *prev_chan_answered;
	uint32_t *prev_chan_attach;
	struct nx_lhist *prev_shist, *cur_shist; /* merged per slot */
	struct nx_health_slot_stats *sum_stats;  /* per slot, over workers */
	uint64_t *max_consec;
	struct nx_hr_sample hist[NX_HR_KEEP];
	unsigned nhist, hist_head;
};

const char *
nx__hstate_name(enum nx_hstate s)
{
	switch (s) {
	case NX_H_HEALTHY: return "healthy";
	case NX_H_DEGRADED: return "degraded";
	case NX_H_UNHEALTHY: return "unhealthy";
	case NX_H_DOWN: return "down";
	}
	return "?";
}

static void
free_tables(struct nx_hr *r)
{
	unsigned i;

	nx__mem_free(r->snap.workers);
	nx__mem_free(r->snap.slots);
	nx__mem_free(r->snap.chans);
	nx__mem_free(r->snap.pipes);
	nx__mem_free(r->prev_workers);
	nx__mem_free(r->prev_whist);
	nx__mem_free(r->cur_whist);
	nx__mem_free(r->tmp_hist);
	nx__mem_free(r->prev_slot_calls);
	nx__mem_free(r->prev_chan_answered);
	nx__mem_free(r->prev_chan_attach);
	nx__mem_free(r->prev_shist);
	nx__mem_free(r->cur_shist);
	nx__mem_free(r->sum_stats);
	nx__mem_free(r->max_consec);
	for (i = 0; i < NX_HR_KEEP; i++) {
		nx__mem_free(r->hist[i].calls);
		nx__mem_free(r->hist[i].failures);
	}
	r->snap.workers = NULL;
	r->snap.slots = NULL;
	r->snap.chans = NULL;
	r->snap.pipes = NULL;
	r->prev_workers = NULL;
	r->prev_whist = r->cur_whist = r->tmp_hist = NULL;
	r->prev_slot_calls = r->prev_chan_answered = NULL;
	r->prev_chan_attach = NULL;
	r->prev_shist = r->cur_shist = NULL;
	r->sum_stats = NULL;
	r->max_consec = NULL;
	memset(r->hist, 0, sizeof r->hist);
	r->nhist = r->hist_head = 0;
	r->max_workers = r->max_slots = r->max_channels = r->max_pipelines = 0;
}

/* Tables sized for the mapped segment's limits (again when they change). */
static int
size_tables(struct nx_hr *r)
{
	const struct nx_health_view *hv = &r->hv;
	unsigned i;

	if (hv->max_workers == r->max_workers && hv->max_slots == r->max_slots &&
	    hv->max_channels == r->max_channels && hv->max_pipelines == r->max_pipelines)
		return 0;
	free_tables(r);
	r->max_workers = hv->max_workers;
	r->max_slots = hv->max_slots;
	r->max_channels = hv->max_channels;
	r->max_pipelines = hv->max_pipelines;
	r->snap.workers = nx__mem_zalloc(r->max_workers + 1, sizeof *r->snap.workers);
	r->snap.slots = nx__mem_zalloc(r->max_slots + 1, sizeof *r->snap.slots);
	r->snap.chans = nx__mem_zalloc(r->max_channels + 1, sizeof *r->snap.chans);
	r->snap.pipes = nx__mem_zalloc(r->max_pipelines + 1, sizeof *r->snap.pipes);
	r->prev_workers = nx__mem_zalloc(r->max_workers + 1, sizeof *r->prev_workers);
	r->prev_whist = nx__mem_zalloc(r->max_workers + 1, sizeof *r->prev_whist);
	r->cur_whist = nx__mem_zalloc(r->max_workers + 1, sizeof *r->cur_whist);
	r->tmp_hist = nx__mem_zalloc(1, sizeof *r->tmp_hist);
	r->prev_slot_calls = nx__mem_zalloc(r->max_slots + 1, sizeof *r->prev_slot_calls);
	r->prev_chan_answered = nx__mem_zalloc(r->max_channels + 1, sizeof *r->prev_chan_answered);
	r->prev_chan_attach = nx__mem_zalloc(r->max_channels + 1, sizeof *r->prev_chan_attach);
	r->prev_shist = nx__mem_zalloc(r->max_slots + 1, sizeof *r->prev_shist);
	r->cur_shist = nx__mem_zalloc(r->max_slots + 1, sizeof *r->cur_shist);
	r->sum_stats = nx__mem_zalloc(r->max_slots + 1, sizeof *r->sum_stats);
	r->max_consec = nx__mem_zalloc(r->max_slots + 1, sizeof *r->max_consec);
	if (r->snap.workers == NULL || r->snap.slots == NULL || r->snap.chans == NULL ||
	    r->snap.pipes == NULL || r->prev_workers == NULL || r->prev_whist == NULL ||
	    r->cur_whist == NULL || r->tmp_hist == NULL || r->prev_slot_calls == NULL ||
	    r->prev_chan_answered == NULL || r->prev_chan_attach == NULL ||
	    r->prev_shist == NULL || r->cur_shist == NULL || r->sum_stats == NULL ||
	    r->max_consec == NULL)
		goto nomem;
	for (i = 0; i < NX_HR_KEEP; i++) {
		r->hist[i].calls = nx__mem_zalloc(r->max_slots + 1, sizeof(uint64_t));
		r->hist[i].failures = nx__mem_zalloc(r->max_slots + 1, sizeof(uint64_t));
		if (r->hist[i].calls == NULL || r->hist[i].failures == NULL)
			goto nomem;
	}
	for (i = 0; i < r->max_workers; i++)
		nx__lhist_init(&r->prev_whist[i]);
	for (i = 0; i < r->max_slots; i++)
		nx__lhist_init(&r->prev_shist[i]);
	r->prev_at_ns = 0;
	return 0;
nomem:
	free_tables(r);
	return nx__err(NX_ENOMEM, "health reader tables");
}

int
nx__hr_open(struct nx_hr **out, const char *instance, const struct nx_hr_conf *conf)
{
	struct nx_hr *r;
	int rc = nx__instance_check(instance);

	if (rc < 0)
		return rc;
	r = nx__mem_zalloc(1, sizeof *r);
	if (r == NULL)
		return nx__err(NX_ENOMEM, "health reader");
	snprintf(r->instance, sizeof r->instance, "%s", instance);
	r->conf = conf != NULL ? *conf : NX_HR_CONF_DEFAULT;
	r->hv.fd = -1;
	*out = r;
	return 0;
}

void
nx__hr_close(struct nx_hr *r)
{
	if (r == NULL)
		return;
	if (r->hv.base != NULL)
		nx__health_unmap(&r->hv);
	free_tables(r);
	nx__mem_free(r);
}

const struct nx_health_view *
nx__hr_view(const struct nx_hr *r)
{
	return r->hv.base != NULL ? &r->hv : NULL;
}

/* Map the segment if there is one; drop a mapping whose name was removed
 * (nxd stopped for good, or a new nxd made a new one). */
static int
ensure_mapped(struct nx_hr *r)
{
	int rc;

	if (r->hv.base != NULL && nx__shm_unlinked(r->hv.fd))
		nx__health_unmap(&r->hv);
	if (r->hv.base != NULL)
		return 0;
	rc = nx__health_map_ro(&r->hv, r->instance);
	if (rc < 0) {
		r->hv.base = NULL;
		return rc;
	}
	rc = size_tables(r);
	if (rc < 0)
		nx__health_unmap(&r->hv); /* no tables: map again, and size them, next time */
	return rc;
}

/* The control thread's tables, copied under its sequence lock. */
static void
copy_ctl_tables(struct nx_hr *r, struct nx_hr_snap *s)
{
	const struct nx_health_view *hv = &r->hv;
	const struct nx_health_hdr *h = hv->hdr;
	unsigned i, tries;
	uint32_t v;

	for (tries = 0; tries < 1000; tries++) {
		/* stuck odd (nxd died rewriting them): one copy as they are, the
		 * strings cut below like any other */
		bool steady = nx__seq_read_begin(&h->ctl_seq, &v);

		s->nslots = 0;
		for (i = 0; i < hv->max_slots; i++) {
			const struct nx_health_slot *hs = &hv->slots[i];

			if (nx__load32(&hs->state) == 0)
				continue;
			memcpy(&s->slots[s->nslots].meta, hs, sizeof *hs);
			s->slots[s->nslots].index = i;
			s->nslots++;
		}
		s->npipes = 0;
		for (i = 0; i < hv->max_pipelines; i++)
			if (nx__load32(&hv->pipes[i].active) != 0)
				memcpy(&s->pipes[s->npipes++], &hv->pipes[i], sizeof hv->pipes[i]);
		s->nrestarts = 0;
		{
			uint64_t n = nx__load64(&h->restarts), k;
			uint64_t first = n > NX_RESTART_LOG ? n - NX_RESTART_LOG : 0;

			for (k = first; k < n; k++)
				memcpy(&s->restarts[s->nrestarts++], &hv->restarts[k % NX_RESTART_LOG],
				       sizeof s->restarts[0]);
		}
		if (!steady || !nx__seq_read_retry(&h->ctl_seq, v))
			break;
	}
	for (i = 0; i < s->nslots; i++) {
		struct nx_health_slot *m = &s->slots[i].meta;

		m->name[sizeof m->name - 1] = '\0';
		m->pipe[sizeof m->pipe - 1] = '\0';
		m->stage[sizeof m->stage - 1] = '\0';
		m->plugin[sizeof m->plugin - 1] = '\0';
	}
	for (i = 0; i < s->npipes; i++)
		s->pipes[i].name[sizeof s->pipes[i].name - 1] = '\0';
	for (i = 0; i < s->nrestarts; i++)
		s->restarts[i].reason[NX_RESTART_REASON_MAX - 1] = '\0';
}

/* Every field of a worker record, loaded whole. */
static void
copy_worker(struct nx_health_worker *d, const struct nx_health_worker *w)
{
	unsigned k;

	memset(d, 0, sizeof *d);
	d->heartbeat_ns = nx__load64(&w->heartbeat_ns);
	d->loops = nx__load64(&w->loops);
	d->taken = nx__load64(&w->taken);
	d->answered = nx__load64(&w->answered);
	d->busy_ns = nx__load64(&w->busy_ns);
	d->sleeps = nx__load64(&w->sleeps);
	d->dlq_written = nx__load64(&w->dlq_written);
	d->dlq_dropped = nx__load64(&w->dlq_dropped);
	for (k = 0; k < NX_WERR_KINDS; k++)
		d->errors[k] = nx__load64(&w->errors[k]);
	d->state = nx__load32(&w->state);
	d->cpu = (int32_t)nx__load32((const uint32_t *)&w->cpu);
	d->tid = (int32_t)nx__load32((const uint32_t *)&w->tid);
	d->nchannels = nx__load32(&w->nchannels);
	d->sleeping = nx__load32(&w->sleeping);
}

static void
copy_chan(struct nx_health_chan *d, const struct nx_health_chan *c)
{
	memcpy(d, c, NX_CACHELINE); /* line 0: the control thread's, settled at attach */
	d->state = nx__load32(&c->state);
	d->taken = nx__load64(&c->taken);
	d->answered = nx__load64(&c->answered);
	d->errors = nx__load64(&c->errors);
	d->last_ns = nx__load64(&c->last_ns);
	d->depth = nx__load32(&c->depth);
	d->outstanding = nx__load32(&c->outstanding);
	d->rate_limited = nx__load64(&c->rate_limited);
	d->rate = nx__load32(&c->rate);
	d->burst = nx__load32(&c->burst);
	d->expired = nx__load64(&c->expired);
}

static void
set_health(enum nx_hstate *h, char *why, size_t len, enum nx_hstate to, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
set_health(enum nx_hstate *h, char *why, size_t len, enum nx_hstate to, const char *fmt, ...)
{
	va_list ap;

	if (to <= *h)
		return;
	*h = to;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The p50 and p99 of the last interval (cur - prev), or of everything
 * when the interval has no sample. */
static void
interval_pcts(struct nx_lhist *tmp, const struct nx_lhist *cur, const struct nx_lhist *prev,
	      uint64_t *p50, uint64_t *p99)
{
	const struct nx_lhist *use = cur;
	unsigned b;

	if (prev->count < cur->count) {
		memset(tmp, 0, sizeof *tmp);
		tmp->min = 0;
		tmp->max = cur->max;
		tmp->count = cur->count - prev->count;
		for (b = 0; b < NX_LHIST_BUCKETS; b++)
			tmp->buckets[b] = cur->buckets[b] >= prev->buckets[b]
						  ? cur->buckets[b] - prev->buckets[b] : 0;
		use = tmp;
	}
	*p50 = nx__lhist_percentile(use, 50.0);
	*p99 = nx__lhist_percentile(use, 99.0);
}

/* Calls and failures of slot i over the window: against the oldest sample
 * still in it. */
static void
window_of(const struct nx_hr *r, uint32_t i, uint64_t now, uint64_t calls, uint64_t failures,
	  uint64_t *wc, uint64_t *wf)
{
	unsigned k;

	*wc = calls;
	*wf = failures;
	for (k = 0; k < r->nhist; k++) {
		/* oldest first */
		const struct nx_hr_sample *sm =
			&r->hist[(r->hist_head + NX_HR_KEEP - r->nhist + k) % NX_HR_KEEP];

		if (sm->generation != r->snap.hdr.generation || now - sm->at_ns > r->conf.window_ns)
			continue;
		if (sm->calls[i] <= calls && sm->failures[i] <= failures) {
			*wc = calls - sm->calls[i];
			*wf = failures - sm->failures[i];
		}
		return;
	}
}

static void
keep_sample(struct nx_hr *r, uint64_t now)
{
	struct nx_hr_sample *last = r->nhist != 0
		? &r->hist[(r->hist_head + NX_HR_KEEP - 1) % NX_HR_KEEP] : NULL;
	struct nx_hr_sample *sm;
	unsigned i;

	if (last != NULL && last->generation == r->snap.hdr.generation &&
	    now - last->at_ns < r->conf.window_ns / NX_HR_STEPS)
		return;
	sm = &r->hist[r->hist_head];
	r->hist_head = (r->hist_head + 1) % NX_HR_KEEP;
	if (r->nhist < NX_HR_KEEP)
		r->nhist++;
	sm->at_ns = now;
	sm->generation = r->snap.hdr.generation;
	memset(sm->calls, 0, sizeof(uint64_t) * r->max_slots);
	memset(sm->failures, 0, sizeof(uint64_t) * r->max_slots);
	for (i = 0; i < r->snap.nslots; i++) {
		const struct nx_hr_slot *sl = &r->snap.slots[i];

		sm->calls[sl->index] = sl->calls;
		sm->failures[sl->index] = sl->failures;
	}
}

static void
read_workers(struct nx_hr *r, struct nx_hr_snap *s, double dt_s, bool fresh)
{
	const struct nx_health_view *hv = &r->hv;
	const struct nx_hr_conf *cf = &r->conf;
	unsigned i, n = nx__load32(&hv->hdr->nworkers);

	if (n > hv->max_workers)
		n = hv->max_workers;
	s->nworkers = n;
	for (i = 0; i < n; i++) {
		struct nx_hr_worker *w = &s->workers[i];
		const struct nx_health_worker *pw = &r->prev_workers[i];

		memset(w, 0, sizeof *w);
		copy_worker(&w->raw, &hv->workers[i]);
		nx__lhist_snapshot(&r->cur_whist[i], &hv->worker_hist[i]);
		w->samples = r->cur_whist[i].count;
		w->hb_age_ns = s->at_ns > w->raw.heartbeat_ns ? s->at_ns - w->raw.heartbeat_ns : 0;
		if (!fresh && dt_s > 0 && w->raw.answered >= pw->answered) {
			w->req_per_s = (double)(w->raw.answered - pw->answered) / dt_s;
			if (w->raw.busy_ns >= pw->busy_ns)
				w->busy_pct = 100.0 * (double)(w->raw.busy_ns - pw->busy_ns) /
					      (dt_s * 1e9);
			if (w->busy_pct > 100.0)
				w->busy_pct = 100.0;
		}
		interval_pcts(r->tmp_hist, &r->cur_whist[i], fresh ? &r->cur_whist[i] : &r->prev_whist[i],
			      &w->p50_ns, &w->p99_ns);
		if (fresh && w->samples != 0) {
			w->p50_ns = nx__lhist_percentile(&r->cur_whist[i], 50.0);
			w->p99_ns = nx__lhist_percentile(&r->cur_whist[i], 99.0);
		}
		w->health = NX_H_HEALTHY;
		if (!s->up) {
			w->health = NX_H_DOWN;
			snprintf(w->why, sizeof w->why, "nxd is down");
		} else if (w->raw.state != NX_WORKER_OFF) {
			if (w->hb_age_ns > cf->stale_ns)
				set_health(&w->health, w->why, sizeof w->why, NX_H_UNHEALTHY,
					   "heartbeat %llu ms old",
					   (unsigned long long)(w->hb_age_ns / 1000000));
			else if (w->hb_age_ns > cf->stale_ns / 4)
				set_health(&w->health, w->why, sizeof w->why, NX_H_DEGRADED,
					   "heartbeat %llu ms old",
					   (unsigned long long)(w->hb_age_ns / 1000000));
		}
	}
	for (i = 0; i < n; i++) {
		r->prev_workers[i] = s->workers[i].raw;
		r->prev_whist[i] = r->cur_whist[i];
	}
}

static void
read_slots(struct nx_hr *r, struct nx_hr_snap *s, double dt_s, bool fresh)
{
	const struct nx_health_view *hv = &r->hv;
	const struct nx_hr_conf *cf = &r->conf;
	unsigned i, k, nw = s->nworkers;

	for (i = 0; i < s->nslots; i++) {
		struct nx_hr_slot *sl = &s->slots[i];
		const uint32_t x = sl->index;
		uint64_t wc, wf;

		sl->calls = sl->failures = sl->consec_failures = sl->timed = 0;
		sl->breaker = sl->quarantined = 0;
		sl->rejected = sl->opened = sl->half_opened = sl->closed = 0;
		sl->slow = sl->overruns = sl->faults = sl->degraded = 0;
		nx__lhist_init(&r->cur_shist[x]);
		for (k = 0; k < nw; k++) {
			const struct nx_health_slot_stats *st = &hv->slot_stats[(size_t)k * hv->max_slots + x];
			uint64_t consec = nx__load64(&st->consec_failures);
			uint32_t brk = nx__load32(&st->breaker);

			/* open is worst, then half-open, then closed */
			if (brk == 1 || (brk == 2 && sl->breaker == 0))
				sl->breaker = brk;
			sl->quarantined |= nx__load32(&st->quarantined);
			sl->rejected += nx__load64(&st->rejected);
			sl->opened += nx__load64(&st->opened);
			sl->half_opened += nx__load64(&st->half_opened);
			sl->closed += nx__load64(&st->closed);
			sl->slow += nx__load64(&st->slow);
			sl->overruns += nx__load64(&st->overruns);
			sl->faults += nx__load64(&st->faults);
			sl->degraded += nx__load64(&st->degraded);
			sl->calls += nx__load64(&st->calls);
			sl->failures += nx__load64(&st->failures);
			sl->timed += nx__load64(&st->timed);
			if (consec > sl->consec_failures)
				sl->consec_failures = consec;
			nx__lhist_snapshot(r->tmp_hist, &hv->slot_hist[(size_t)k * hv->max_slots + x]);
			nx__lhist_merge(&r->cur_shist[x], r->tmp_hist);
		}
		if (!fresh && dt_s > 0 && sl->calls >= r->prev_slot_calls[x])
			sl->calls_per_s = (double)(sl->calls - r->prev_slot_calls[x]) / dt_s;
		if (fresh || r->prev_shist[x].count > r->cur_shist[x].count)
			nx__lhist_init(&r->prev_shist[x]); /* a new slot in this entry */
		interval_pcts(r->tmp_hist, &r->cur_shist[x], &r->prev_shist[x], &sl->p50_ns, &sl->p99_ns);
		window_of(r, x, s->at_ns, sl->calls, sl->failures, &wc, &wf);
		sl->win_calls = wc;
		sl->fail_pct = wc >= cf->min_calls && wc != 0 ? 100.0 * (double)wf / (double)wc : 0.0;
		sl->health = NX_H_HEALTHY;
		if (!s->up) {
			sl->health = NX_H_DOWN;
			snprintf(sl->why, sizeof sl->why, "nxd is down");
			continue;
		}
		if (sl->quarantined)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_UNHEALTHY,
				   "quarantined after a fault");
		if (sl->breaker == 1)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_UNHEALTHY, "breaker open");
		if (sl->breaker == 2)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_DEGRADED,
				   "breaker half-open");
		if (sl->consec_failures >= cf->unhealthy_consec)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_UNHEALTHY,
				   "%llu failures in a row", (unsigned long long)sl->consec_failures);
		if (wc >= cf->min_calls && wc != 0 && (double)wf >= cf->unhealthy_rate * (double)wc)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_UNHEALTHY,
				   "%.1f%% failed in the window", sl->fail_pct);
		if (sl->consec_failures >= cf->degraded_consec)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_DEGRADED,
				   "%llu failures in a row", (unsigned long long)sl->consec_failures);
		if (wc >= cf->min_calls && wc != 0 && (double)wf >= cf->degraded_rate * (double)wc)
			set_health(&sl->health, sl->why, sizeof sl->why, NX_H_DEGRADED,
				   "%.1f%% failed in the window", sl->fail_pct);
	}
	for (i = 0; i < s->nslots; i++) {
		const uint32_t x = s->slots[i].index;

		r->prev_slot_calls[x] = s->slots[i].calls;
		r->prev_shist[x] = r->cur_shist[x];
	}
}

static void
read_chans(struct nx_hr *r, struct nx_hr_snap *s, double dt_s, bool fresh)
{
	const struct nx_health_view *hv = &r->hv;
	unsigned i;

	s->nchans = 0;
	for (i = 0; i < hv->max_channels; i++) {
		struct nx_hr_chan *c = &s->chans[s->nchans];

		if (nx__load32(&hv->chans[i].state) == NX_CHAN_FREE)
			continue;
		memset(c, 0, sizeof *c);
		copy_chan(&c->raw, &hv->chans[i]);
		c->index = i;
		if (!fresh && dt_s > 0 && c->raw.attach_count == r->prev_chan_attach[i] &&
		    c->raw.answered >= r->prev_chan_answered[i])
			c->req_per_s = (double)(c->raw.answered - r->prev_chan_answered[i]) / dt_s;
		c->idle_ns = c->raw.last_ns != 0 && s->at_ns > c->raw.last_ns ? s->at_ns - c->raw.last_ns
									       : 0;
		r->prev_chan_answered[i] = c->raw.answered;
		r->prev_chan_attach[i] = c->raw.attach_count;
		s->nchans++;
	}
}

/* Is an nxd serving? Its state, and its pid. */
static bool
nxd_up(const struct nx_health_hdr *h)
{
	uint32_t st = nx__load32(&h->state);

	if (st != NX_INST_RUNNING && st != NX_INST_STARTING)
		return false;
	return nx__process_alive(h->pid);
}

static void
down_snapshot(struct nx_hr *r, struct nx_hr_snap *s)
{
	s->up = false;
	s->health = NX_H_DOWN;
	s->uptime_ns = 0; /* not the last live snapshot's */
	s->nworkers = s->nslots = s->nchans = s->npipes = 0;
	if (r->seen) {
		s->hdr = r->last_hdr;
		s->down_since_wall_ns = r->last_alive_wall_ns;
		snprintf(s->why, sizeof s->why, "nxd is down (last generation %llu)",
			 (unsigned long long)r->last_hdr.generation);
	} else {
		snprintf(s->why, sizeof s->why, "no nxd has served instance '%s' yet", r->instance);
	}
}

int
nx__hr_snapshot(struct nx_hr *r, const struct nx_hr_snap **out)
{
	struct nx_hr_snap *s = &r->snap;
	const struct nx_health_hdr *h;
	double dt_s;
	bool fresh;
	unsigned i;
	int rc;

	*out = s;
	s->at_ns = nx__clock_ns();
	s->at_wall_ns = nx__wallclock_ns();
	rc = ensure_mapped(r);
	s->mapped = rc == 0;
	if (rc == NX_ENOINST || rc == NX_EPERM || rc == NX_EIO) {
		down_snapshot(r, s);
		/* not simply absent: say why it could not be read (a segment
		 * of an untrusted owner, a read error) */
		if (rc != NX_ENOINST)
			snprintf(s->why, sizeof s->why, "instance '%s' cannot be read: %s", r->instance,
				 nx__errmsg());
		return 0;
	}
	if (rc < 0)
		return rc;
	h = r->hv.hdr;
	s->hdr = *h;
	s->hdr.generation = nx__load64(&h->generation);
	s->hdr.state = nx__load32(&h->state);
	s->up = nxd_up(&s->hdr);
	fresh = r->prev_at_ns == 0 || s->hdr.generation != r->prev_generation;
	dt_s = fresh ? 0 : (double)(s->at_ns - r->prev_at_ns) / 1e9;
	s->uptime_ns = s->up && s->at_ns > s->hdr.start_ns ? s->at_ns - s->hdr.start_ns : 0;
	s->health = NX_H_HEALTHY;
	s->why[0] = '\0';
	copy_ctl_tables(r, s);
	read_workers(r, s, dt_s, fresh);
	read_slots(r, s, dt_s, fresh);
	read_chans(r, s, dt_s, fresh);
	keep_sample(r, s->at_ns);
	r->prev_at_ns = s->at_ns;
	r->prev_generation = s->hdr.generation;
	r->last_hdr = s->hdr;
	r->seen = true;
	if (!s->up) {
		uint64_t last_hb = 0;

		for (i = 0; i < s->nworkers; i++)
			if (s->workers[i].raw.heartbeat_ns > last_hb)
				last_hb = s->workers[i].raw.heartbeat_ns;
		s->health = NX_H_DOWN;
		s->down_since_wall_ns = s->hdr.stop_wall_ns;
		if (s->down_since_wall_ns == 0 && last_hb > s->hdr.start_ns)
			s->down_since_wall_ns = s->hdr.start_wall_ns + (last_hb - s->hdr.start_ns);
		snprintf(s->why, sizeof s->why, "nxd pid %d is %s (generation %llu)", s->hdr.pid,
			 s->hdr.state == NX_INST_STOPPED ? "stopped" : "gone",
			 (unsigned long long)s->hdr.generation);
		return 0;
	}
	r->last_alive_wall_ns = s->at_wall_ns;
	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].health > s->health) {
			s->health = s->workers[i].health;
			snprintf(s->why, sizeof s->why, "worker %u: %s", i, s->workers[i].why);
		}
	for (i = 0; i < s->nslots; i++)
		if (s->slots[i].health > s->health) {
			s->health = s->slots[i].health;
			snprintf(s->why, sizeof s->why, "%s/%s: %s", s->slots[i].meta.pipe,
				 s->slots[i].meta.name, s->slots[i].why);
		}
	return 0;
}

int
nx__hr_heartbeats(struct nx_hr *r, uint64_t *ages, unsigned max, unsigned *n,
		 uint64_t *generation, int32_t *pid)
{
	const struct nx_health_view *hv;
	uint64_t now;
	unsigned i, k = 0, nw;
	int rc = ensure_mapped(r);

	*n = 0;
	if (rc < 0)
		return rc;
	hv = &r->hv;
	now = nx__clock_ns();
	nw = nx__load32(&hv->hdr->nworkers);
	if (nw > hv->max_workers)
		nw = hv->max_workers;
	for (i = 0; i < nw && k < max; i++) {
		uint64_t hb = nx__load64(&hv->workers[i].heartbeat_ns);

		/* a worker that stopped has no heartbeat to keep */
		if (nx__load32(&hv->workers[i].state) == NX_WORKER_OFF)
			ages[k++] = 0;
		else
			ages[k++] = now > hb ? now - hb : 0;
	}
	*n = k;
	if (generation != NULL)
		*generation = nx__load64(&hv->hdr->generation);
	if (pid != NULL)
		*pid = (int32_t)nx__load32((const uint32_t *)&hv->hdr->pid);
	return 0;
}
