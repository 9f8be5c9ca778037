/*
 * The instance's lifecycle: create (take the instance, map or re-attach
 * its health segment, plan placement, build the pipelines, start the
 * pinned workers), run (the control loop, on the calling thread), stop,
 * destroy. Its parts are the control socket (ctl_server.c), the channel
 * table (chantab.c), the pipeline table (pipetab.c), the restart log and
 * life locks (restart.c) and the grace thread (grace.c).
 */
#include <stdio.h>
#include <string.h>

#include "core/control/chantab.h"
#include "core/control/ctl_server.h"
#include "core/control/instance.h"
#include "core/control/pipetab.h"
#include "core/datapath/policy.h"
#include "core/pipeline/pool.h"
#include "core/control/restart.h"
#include "core/control/segment.h"
#include "core/datapath/worker.h"

void
nx__instance_conf_default(struct nx_instance_conf *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->instance, sizeof c->instance, "default");
	c->idle = NX_WAIT_SPIN;
	c->max_channels = 64;
	c->ring_size = 256;
	c->arena_bytes = 1u << 20;
	c->max_payload = NX_PAYLOAD_MAX_DEFAULT;
	c->allow_gid = -1;
	c->admin_gid = -1;
	c->uid_channels = 16;
	c->pid_channels = 8;
	c->uid_pending = 8;
	c->max_slots = 256;
	c->scratch_bytes = 1u << 20;
	c->stage_state = 4096;
	c->stage_timing = 16;
	c->dlq_entries = 1024;
	c->stop_timeout_s = 10;
	c->orphan_hold_s = 60;
	c->reply_max = NX_CTL_REPLY_MAX;
	c->wd.life_fd = -1;
}

void
nx__instance_health_name(char *buf, size_t len, const char *instance)
{
	nx__health_name(buf, len, instance);
}

const struct nx_place_plan *
nx__instance_plan(const struct nx_instance *inst)
{
	return &inst->plan;
}

uint64_t
nx__instance_generation(const struct nx_instance *inst)
{
	return inst->generation;
}

static struct nx_health_hdr *
hdr(struct nx_instance *inst)
{
	return inst->hv.hdr;
}

static void
set_inst_state(struct nx_instance *inst, uint32_t state)
{
	nx__store32(&hdr(inst)->state, state);
}

static int
workers_init(struct nx_instance *inst)
{
	unsigned i, j;

	inst->nworkers = (unsigned)inst->plan.nworkers;
	inst->workers = nx__mem_aligned(NX_CACHELINE, sizeof(struct nx_worker) * inst->nworkers);
	if (inst->workers == NULL)
		return nx__err(NX_ENOMEM, "workers");
	memset(inst->workers, 0, sizeof(struct nx_worker) * inst->nworkers);
	for (i = 0; i < inst->nworkers; i++) {
		struct nx_worker *w = &inst->workers[i];

		w->inst = inst;
		w->idx = i;
		w->cpu = inst->plan.worker[i].cpu;
		w->hw = &inst->hv.workers[i];
		w->pipes = &inst->pipes;
		w->may_sleep = inst->conf.idle == NX_WAIT_SLEEP;
		w->scratch_cap = inst->conf.scratch_bytes;
		w->max_payload = inst->conf.max_payload;
		w->timing_on = inst->conf.stage_timing != 0;
		w->timing_mask = inst->conf.stage_timing != 0 ? inst->conf.stage_timing - 1 : 0;
		w->scratch = nx__mem_zalloc(1, w->scratch_cap); /* zero: see pipe_run.c scratch_clear */
		w->chans = nx__mem_zalloc(1, sizeof(struct nx_chanset));
		w->slot_pol = nx__mem_zalloc(inst->hv.max_slots, sizeof *w->slot_pol);
		w->generation = inst->generation;
		w->life = inst->life;
		if (inst->dlq.base != NULL) {
			w->dlq = nx__dlq_ring(&inst->dlq, i);
			w->dlq_entries = inst->dlq.entries;
		}
		w->stats = &inst->hv.slot_stats[(size_t)i * inst->hv.max_slots];
		w->slot_hist = &inst->hv.slot_hist[(size_t)i * inst->hv.max_slots];
		w->hist = &inst->hv.worker_hist[i];
		w->nstats = inst->hv.max_slots;
		if (w->scratch == NULL || w->chans == NULL || w->slot_pol == NULL)
			return nx__err(NX_ENOMEM, "worker %u buffers", i);
		memset(w->hw, 0, sizeof *w->hw);
		w->hw->cpu = w->cpu;
		/* This generation's counters start from zero. */
		nx__lhist_init(w->hist);
		memset(w->stats, 0, sizeof *w->stats * w->nstats);
		for (j = 0; j < w->nstats; j++)
			nx__lhist_init(&w->slot_hist[j]);
	}
	return 0;
}

int
nx__instance_create(struct nx_instance **out, const struct nx_instance_conf *conf)
{
	struct nx_health_geom hg;
	struct nx_instance *inst;
	struct nx_health_hdr *h;
	unsigned i;
	int rc;

	rc = nx__instance_check(conf->instance);
	if (rc < 0)
		return rc;
	if (conf->max_channels == 0 || conf->max_channels > 65536)
		return nx__err(NX_EINVAL, "max_channels %u: must be 1 to 65536", conf->max_channels);
	if (conf->idle > NX_WAIT_SLEEP)
		return nx__err(NX_EINVAL, "idle mode %u unknown", conf->idle);
	/* Channels are reachable by their client alone, nxd's own uid included:
	 * a dumpable nxd would let any process of its uid open another
	 * client's memfd through /proc/<nxd>/fd. */
	if (!conf->dumpable) {
		rc = nx__process_set_dumpable(false);
		if (rc < 0)
			return rc;
	}
	if (conf->runtime_dir[0] != '\0') {
		rc = nx__runtime_dir_set(conf->runtime_dir);
		if (rc < 0)
			return rc;
	}
	inst = nx__mem_zalloc(1, sizeof *inst);
	if (inst == NULL)
		return nx__err(NX_ENOMEM, "instance");
	inst->conf = *conf;
	inst->lfd = inst->notefd = inst->lock_fd = -1;
	inst->hv.fd = -1;
	for (i = 0; i < NX_MAX_PEERS; i++)
		inst->peers[i].fd = -1;
	rc = nx__chan_geom(&inst->cgeom, (uint32_t)nx__page_size(), conf->ring_size,
			   conf->arena_bytes, conf->max_payload);
	if (rc < 0)
		goto err;

	rc = nx__ctl_server_listen(inst);
	if (rc < 0)
		goto err;

	if (conf->plan != NULL) {
		inst->plan = *conf->plan;
	} else {
		rc = nx__instance_conf_plan(conf, &inst->plan);
		if (rc < 0) {
			rc = nx__err_ctx(rc, "placement");
			goto err;
		}
	}
	inst->conf.plan = NULL;

	nx__health_geom(&hg, (uint32_t)inst->plan.nworkers, conf->max_channels, NX_MAX_PIPELINES,
			conf->max_slots);
	if (hg.layout_bytes >= (1ull << 32)) {
		rc = nx__err(NX_EINVAL, "the health segment would be %llu MiB (%u workers x %u "
			     "slots of counters and histograms): lower max_slots",
			     (unsigned long long)(hg.layout_bytes >> 20), inst->plan.nworkers,
			     conf->max_slots);
		goto err;
	}
	rc = nx__health_create(&inst->hv, conf->instance, &hg, &inst->reattached);
	if (rc < 0)
		goto err;
	/* Populate the mapping in one call: below, each worker's counters and
	 * histograms (2 MiB with 256 slots) are reset page by page, and a page
	 * fault each cost a restart 6 to 8 ms here, populating 0.5 ms. */
	nx__mem_prefault(inst->hv.base, inst->hv.len, true);
	h = inst->hv.hdr;
	/* Policies are built in ticks. The segment lives in /dev/shm, so it
	 * is from this boot: its calibration holds, and a restart need not
	 * spin 2 ms to measure it again. */
	if (!inst->reattached || !nx__ticks_adopt(h->tick_calibration)) {
		nx__ticks_calibrate();
		h->tick_calibration = nx__ticks_calibration();
	}
	inst->generation = (inst->reattached ? h->generation : 0) + 1;
	if (inst->reattached &&
	    (nx__load32(&h->state) != NX_INST_STOPPED || conf->wd.restart)) {
		/* the previous nxd did not stop: it died, or was killed */
		nx__restart_log(inst, h->pid);
		inst->logged_restart = true;
	}
	h->stop_wall_ns = 0;
	{
		/* the pids in the channel table are of the PID namespace the
		 * nxd that wrote them ran in: a restart in another (a new
		 * container) cannot use them (chantab.c) */
		uint64_t ns = nx__pid_ns_id();

		inst->pids_foreign = inst->reattached && (ns == 0 || h->pid_ns != ns);
		h->pid_ns = ns;
	}
	h->pid = nx__process_id();
	h->uid = nx__process_uid();
	h->start_ns = nx__clock_ns();
	h->start_wall_ns = nx__wallclock_ns();
	h->idle = conf->idle;
	h->nworkers = 0;
	h->ring_size = inst->cgeom.ring_size;
	h->arena_bytes = inst->cgeom.arena_bytes;
	h->max_payload = inst->cgeom.max_payload;
	nx__store32(&h->flags, 0);
	nx__store64(&h->generation, inst->generation);
	set_inst_state(inst, NX_INST_STARTING);

	rc = nx__chantab_create(inst);
	if (rc < 0)
		goto err;

	rc = nx__pool_init(&inst->pipe_pool, sizeof(struct nx_pipeline), 2 * NX_MAX_PIPELINES + 2,
			   "pipelines");
	if (rc == 0)
		rc = nx__pool_init(&inst->inst_pool, sizeof(struct nx_stage_inst) + conf->stage_state,
				   3 * conf->max_slots + 2, "stage instances");
	if (rc == 0 && conf->dlq_entries != 0) {
		rc = nx__dlq_open(&inst->dlq, conf->instance, inst->plan.nworkers, conf->dlq_entries);
		if (rc == 0 && inst->dlq.reattached)
			nx__log(NX_LOG_INFO, "dead-letter rings of the previous nxd re-attached");
	}
	if (rc == 0)
		rc = nx__fault_install();
	if (rc == 0) {
		inst->notefd = nx__notify_create();
		rc = inst->notefd < 0 ? inst->notefd : 0;
	}
	if (rc == 0)
		rc = nx__grace_start(&inst->grace, inst->notefd, inst->plan.control.cpu,
				     &h->grace_requested, &h->grace_completed);
	if (rc == 0)
		nx__restart_life_open(inst);
	if (rc == 0)
		rc = workers_init(inst);
	if (rc == 0)
		rc = nx__pipetab_start(inst);
	inst->conf.specs = NULL; /* the caller's, read while building only */
	inst->conf.nspecs = 0;
	if (rc < 0)
		goto err;

	if (conf->mlock) {
		rc = nx__mem_lock_all();
		if (rc < 0)
			nx__log(NX_LOG_WARN, "memory not locked: %s", nx__errmsg());
		nx__mem_prefault(inst->hv.base, inst->hv.len, true);
	}

	rc = nx__ctl_server_start(inst);
	if (rc < 0)
		goto err;

	for (i = 0; i < inst->nworkers; i++) {
		struct nx_worker *w = &inst->workers[i];
		char name[16];

		snprintf(name, sizeof name, "nx-worker-%u", i % 100000);
		rc = nx__thread_create(&w->thread, name, w->cpu, nx__worker_main, w);
		if (rc < 0) {
			rc = nx__err_ctx(rc, "worker %u", i);
			goto err; /* those started are stopped and joined there */
		}
		inst->nstarted = i + 1;
		inst->workers_started = true;
	}
	h->nworkers = inst->nworkers;
	set_inst_state(inst, NX_INST_RUNNING);
	nx__restart_log_served(inst);
	*out = inst;
	return 0;

err:
	/* A failed restart leaves the segments as it found them (bar its
	 * generation and restart log entry), not stopped: the clients and the
	 * channels they wait to reclaim are the next nxd's. */
	if (inst->reattached) {
		inst->conf.keep = true;
		inst->stopped = true;
	}
	nx__instance_destroy(inst);
	return rc;
}

void
nx__instance_stop(struct nx_instance *inst)
{
	unsigned i;

	ck_pr_store_32(&inst->stop, 1);
	/* Workers stop taking requests now, not when the control thread gets
	 * round to it; each finishes (and answers) the one it is running. */
	if (inst->workers_started)
		for (i = 0; i < inst->nworkers; i++) {
			ck_pr_store_32(&inst->workers[i].stop, 1);
			nx__worker_kick(&inst->workers[i]);
		}
	if (inst->notefd >= 0)
		nx__notify_signal(inst->notefd);
}

/* The signal guard's thread: SIGTERM or SIGINT. Two stores and a
 * write: the control thread does the rest when it sees them. */
static void
on_stop_signal(void *arg, int sig)
{
	struct nx_instance *inst = arg;

	ck_pr_store_32(&inst->stop_sig, (uint32_t)sig);
	ck_pr_store_32(&inst->stop, 1);
	nx__notify_signal(inst->notefd);
}

/*
 * The signal guard's thread: nxd did not stop within stop_timeout of the
 * signal (or a second one came). The control thread is stuck somewhere
 * (a stage's init or fini, a worker that never leaves a stage): say
 * where, leave the segments as a stop would, and let the process exit.
 * Only single stores and unlinks here: nothing the stuck thread holds.
 */
static void
on_stop_timeout(void *arg, int sig)
{
	struct nx_instance *inst = arg;
	const char *what = ck_pr_load_ptr(&inst->doing);

	nx__log_last_words("%s: not stopped %s (busy: %s): exiting now%s",
			  sig != 0 ? nx__signal_name(sig) : "stop",
			  sig != 0 ? "yet, and asked again" : "within stop_timeout",
			  what != NULL ? what : "the control loop",
			  inst->conf.keep ? "; segments kept" : "");
	if (inst->hv.hdr != NULL) {
		if (inst->conf.keep)
			nx__store32(&hdr(inst)->flags, NX_HEALTH_F_KEPT);
		nx__store64(&hdr(inst)->stop_wall_ns, nx__wallclock_ns());
		set_inst_state(inst, NX_INST_STOPPED);
	}
	if (!inst->conf.keep) {
		if (inst->dlq.base != NULL)
			nx__dlq_unlink(inst->conf.instance);
		nx__health_remove(inst->conf.instance);
	}
}

static void
workers_stop(struct nx_instance *inst)
{
	unsigned i;

	if (!inst->workers_started)
		return;
	nx__instance_doing(inst, "stopping the workers (one may be stuck in a stage)");
	for (i = 0; i < inst->nworkers; i++) {
		ck_pr_store_32(&inst->workers[i].stop, 1);
		nx__worker_kick(&inst->workers[i]);
	}
	for (i = 0; i < inst->nstarted; i++)
		nx__thread_join(inst->workers[i].thread);
	inst->nstarted = 0;
	inst->workers_started = false;
}

int
nx__instance_run(struct nx_instance *inst, bool handle_signals)
{
	int rc = 0;

	if (inst->plan.control.cpu >= 0 && nx__thread_pin_self(inst->plan.control.cpu) < 0)
		nx__log(NX_LOG_WARN, "control thread not pinned: %s", nx__errmsg());
	nx__restart_life_arm(inst);
	if (handle_signals) {
		rc = nx__signal_guard_start(&inst->guard, (uint64_t)inst->conf.stop_timeout_s * 1000000000ull,
					   on_stop_signal, on_stop_timeout, inst);
		if (rc < 0)
			return nx__err_ctx(rc, "signals");
	}
	while (ck_pr_load_32(&inst->stop) == 0) {
		rc = nx__ctl_server_poll(inst);
		if (rc < 0)
			break;
	}
	if (ck_pr_load_32(&inst->stop_sig) != 0 && !inst->conf.quiet)
		nx__log(NX_LOG_INFO, "%s: stopping",
		       nx__signal_name((int)ck_pr_load_32(&inst->stop_sig)));
	/* Stop taking requests; each worker finishes the loop it is in, so
	 * everything it took is answered. */
	set_inst_state(inst, NX_INST_STOPPING);
	nx__ctl_server_stop_listening(inst);
	workers_stop(inst);
	if (inst->conf.keep)
		nx__store32(&hdr(inst)->flags, NX_HEALTH_F_KEPT);
	nx__store64(&hdr(inst)->stop_wall_ns, nx__wallclock_ns());
	set_inst_state(inst, NX_INST_STOPPED);
	inst->stopped = true;
	return rc;
}

void
nx__instance_destroy(struct nx_instance *inst)
{
	unsigned i;

	if (inst == NULL)
		return;
	workers_stop(inst);
	nx__instance_doing(inst, "waiting for the grace thread");
	nx__grace_stop(&inst->grace);
	nx__chantab_reclaim(inst, false); /* no worker reads any set now */
	if (inst->hv.base != NULL && !inst->stopped)
		set_inst_state(inst, NX_INST_STOPPED);
	nx__ctl_server_drop_peers(inst);
	nx__chantab_destroy(inst);
	nx__instance_doing(inst, "finishing the stages (their fini)");
	if (inst->workers != NULL) {
		nx__pipetab_stop(inst);
		for (i = 0; i < inst->nworkers; i++) {
			nx__mem_free(inst->workers[i].scratch);
			nx__mem_free(inst->workers[i].chans);
			nx__mem_free(inst->workers[i].slot_pol);
		}
		nx__mem_free(inst->workers);
	}
	nx__pipetab_stop(inst);
	/* nothing below can block: the guard has done its job */
	nx__signal_guard_stop(inst->guard);
	inst->guard = NULL;
	nx__restart_life_close(inst);
	nx__pool_fini(&inst->pipe_pool);
	nx__pool_fini(&inst->inst_pool);
	nx__ctl_server_fini(inst);
	nx__fd_close(inst->notefd);
	if (inst->dlq.base != NULL)
		nx__dlq_close(&inst->dlq, inst->conf.instance, !inst->conf.keep);
	if (inst->hv.base != NULL) {
		bool remove = !inst->conf.keep;

		nx__health_unmap(&inst->hv);
		if (remove)
			nx__health_remove(inst->conf.instance);
	}
	/* the instance is let go last: its socket and lock go with it */
	nx__ctl_server_unlisten(inst);
	nx__mem_free(inst);
}
