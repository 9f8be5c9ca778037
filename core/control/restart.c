/*
 * What a restart needs: the restart log in the health segment, and
 * nxwd's life locks.
 *
 * nxwd tells the nxd it starts why the last one went (shm/abi/wd.h);
 * tools/nxd puts that in conf.wd, core reads no environment.
 */
#include <stdio.h>
#include <string.h>

#include "core/control/life.h"

#include "core/control/restart.h"

/*
 * Log this start in the health segment's restart ring when it follows an
 * nxd that went away. A supervisor (nxwd) says why (conf.wd): the reason,
 * the status (exit code or -signal), when it noticed, the old pid.
 * Without one, the entry says only that the previous nxd vanished.
 */
void
nx__restart_log(struct nx_instance *inst, int32_t old_pid)
{
	const struct nx_instance_wd *wd = &inst->conf.wd;
	struct nx_health_hdr *h = inst->hv.hdr;
	struct nx_health_restart *r;
	uint64_t now = nx__wallclock_ns(), n = h->restarts;

	r = &inst->hv.restarts[n % NX_RESTART_LOG];
	nx__seq_write_begin(&h->ctl_seq);
	memset(r, 0, sizeof *r);
	r->generation = inst->generation;
	r->old_pid = wd->has_old_pid ? wd->old_pid : old_pid;
	r->status = wd->has_status ? wd->status : 0;
	r->wall_ns = wd->has_wall_ns ? wd->wall_ns : now;
	if (r->wall_ns > now)
		r->wall_ns = now;
	snprintf(r->reason, sizeof r->reason, "%s",
		 wd->restart && wd->reason[0] != '\0' ? wd->reason
						       : "previous nxd went away (not supervised)");
	nx__store64(&h->restarts, n + 1);
	nx__seq_write_end(&h->ctl_seq);
	nx__log(NX_LOG_WARN, "restart %llu: generation %llu after pid %d: %s",
	       (unsigned long long)(n + 1), (unsigned long long)inst->generation, r->old_pid,
	       r->reason);
}

void
nx__restart_log_served(struct nx_instance *inst)
{
	struct nx_health_hdr *h = inst->hv.hdr;
	struct nx_health_restart *r;

	if (!inst->logged_restart)
		return;
	r = &inst->hv.restarts[(h->restarts - 1) % NX_RESTART_LOG];
	nx__seq_write_begin(&h->ctl_seq);
	r->down_ns = nx__wallclock_ns() - r->wall_ns;
	nx__seq_write_end(&h->ctl_seq);
}

/*
 * Under nxwd: map its life locks and hold lock 0 on this, the control
 * thread; each worker holds its own, and nx__instance_run arms them.
 */
void
nx__restart_life_open(struct nx_instance *inst)
{
	const int fd = inst->conf.wd.life_fd;

	if (fd < 0)
		return;
	if (nx__life_map(&inst->life, fd) < 0) {
		nx__log(NX_LOG_WARN, "NX_LIFE_FD '%d': not nxwd's life locks: nxwd will notice a "
		       "death by its pidfd alone", fd);
		inst->life = NULL;
		return;
	}
	inst->life_held = nx__life_hold(inst->life, 0);
}

void
nx__restart_life_arm(struct nx_instance *inst)
{
	const uint64_t t0 = nx__clock_ns();
	unsigned i;

	if (inst->life == NULL || !inst->life_held || inst->nworkers + 1 > NX_LIFE_LOCKS)
		return;
	for (i = 0; i < inst->nworkers; i++)
		while (ck_pr_load_32(&inst->workers[i].life_held) == 0) {
			if (nx__clock_ns() - t0 > 1000000000ull) {
				nx__log(NX_LOG_WARN, "worker %u holds no life lock: nxwd will notice a "
				       "death by its pidfd alone", i);
				return;
			}
			nx__sleep_ns(20000);
		}
	nx__life_arm(inst->life, 1 + inst->nworkers, nx__process_id());
}

void
nx__restart_life_close(struct nx_instance *inst)
{
	if (inst->life_held)
		nx__life_release(inst->life, 0);
	nx__life_unmap(inst->life);
}
