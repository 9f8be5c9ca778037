/*
 * The channel table and the workers' channel sets, on the control thread.
 *
 * Each worker serves the channels of its set, which it reads through
 * RCU. A change publishes a new set (the old one plus or minus one
 * channel), wakes the worker so a sleeping one re-reads it, and retires
 * the old set, with a channel detached by the change, to free after a
 * grace period: then no worker can touch the channel's mapping. The
 * control thread never touches a ring a worker serves, except to reclaim
 * a channel after a restart, before any worker sees it.
 */
#include <stdio.h>
#include <string.h>

#include "platform/nx_rcu.h"

#include "core/control/chantab.h"

const char *
nx__peer_who(int32_t pid, char *buf, size_t len)
{
	if (pid > 0)
		snprintf(buf, len, "pid %d", (int)pid);
	else
		snprintf(buf, len, "a pid outside nxd's namespace");
	return buf;
}

/* ---- channel sets (RCU) ---- */

void
nx__chantab_reclaim(struct nx_instance *inst, bool passed_only)
{
	unsigned i, kept = 0;

	for (i = 0; i < inst->nretired; i++) {
		struct nx_retired *r = &inst->retired[i];

		if (passed_only && !nx__grace_passed(&inst->grace, r->ticket)) {
			inst->retired[kept++] = *r;
			continue;
		}
		nx__mem_free(r->set);
		if (r->release != NULL) {
			struct nx_wchan *ch = r->release;

			char who[48];

			if (!inst->conf.quiet)
				nx__log(NX_LOG_INFO, "channel %u (%s) detached: %s; %llu requests "
				       "answered", ch->id, nx__peer_who(ch->pid, who, sizeof who),
				       ch->detach_why, (unsigned long long)ch->answered);
			nx__chan_release(inst, ch);
			nx__store64(&inst->hv.hdr->chans_detached, inst->hv.hdr->chans_detached + 1);
		}
	}
	inst->nretired = kept;
}

/*
 * Room to retire one more channel set. The control thread never waits
 * for a grace period itself (a worker stuck in a stage would hold it
 * there, and with it every client and SIGTERM): when 64 changes wait for
 * one, the next is refused, or deferred, until the grace thread rings.
 */
bool
nx__chantab_room(struct nx_instance *inst)
{
	if (inst->nretired == NX_MAX_RETIRED)
		nx__chantab_reclaim(inst, true);
	return inst->nretired < NX_MAX_RETIRED;
}

/*
 * Give worker w a new channel set: the old one plus add, minus remove.
 * Publish, wake the worker so a sleeping one re-reads it, and retire the
 * old set: after a grace period no worker can see remove.
 */
static int
chanset_publish(struct nx_instance *inst, struct nx_worker *w, struct nx_wchan *add,
		struct nx_wchan *remove)
{
	struct nx_chanset *old = w->chans, *set;
	uint32_t i, n = 0;

	if (!nx__chantab_room(inst))
		return nx__err(NX_EBUSY, "%u channel changes wait for a grace period (is a worker "
			       "stuck in a stage?)", NX_MAX_RETIRED);
	set = nx__mem_alloc(sizeof *set + (old->n + 1) * sizeof set->ch[0]);
	if (set == NULL)
		return nx__err(NX_ENOMEM, "channel set");
	for (i = 0; i < old->n; i++)
		if (old->ch[i] != remove)
			set->ch[n++] = old->ch[i];
	if (add != NULL)
		set->ch[n++] = add;
	set->n = n;
	nx__rcu_assign(w->chans, set);
	nx__worker_kick(w);
	w->nchans = n;
	nx__store32(&w->hw->nchannels, n);
	/* The old set, and a removed channel's mapping, go after a grace
	 * period: the grace thread waits for it, not this one. */
	inst->retired[inst->nretired++] = (struct nx_retired){
		.set = old, .release = remove, .ticket = nx__grace_request(&inst->grace)
	};
	return 0;
}

struct nx_worker *
nx__chantab_least_loaded(struct nx_instance *inst)
{
	struct nx_worker *best = &inst->workers[0];
	unsigned i;

	for (i = 1; i < inst->nworkers; i++)
		if (inst->workers[i].nchans < best->nchans)
			best = &inst->workers[i];
	return best;
}

/* ---- the table ---- */

/*
 * Quotas hold for every uid but nxd's own (which is as trusted as nxd:
 * it could stop it): so many channels per uid and per process. Other
 * clients are unaffected by one at its quota.
 */
int
nx__chantab_quota(const struct nx_instance *inst, const struct nx_peer_cred *c)
{
	unsigned i, by_uid = 0, by_pid = 0;

	if (c->uid == nx__process_uid())
		return 0;
	for (i = 0; i < inst->conf.max_channels; i++) {
		const struct nx_wchan *ch = &inst->chans[i];

		if (!ch->in_use || ch->uid != c->uid)
			continue;
		by_uid++;
		by_pid += ch->pid == c->pid;
	}
	if (by_uid >= inst->conf.uid_channels)
		return nx__err(NX_EQUOTA, "uid %u holds %u channels of instance '%s': its quota "
			       "(uid_channels)", c->uid, by_uid, inst->conf.instance);
	if (c->pid > 0 && by_pid >= inst->conf.pid_channels)
		return nx__err(NX_EQUOTA, "pid %d holds %u channels of instance '%s': its quota "
			       "(pid_channels)", c->pid, by_pid, inst->conf.instance);
	return 0;
}

int
nx__chantab_free_slot(struct nx_instance *inst)
{
	uint32_t i;

	for (i = 0; i < inst->conf.max_channels; i++)
		if (!inst->chans[i].in_use && inst->hv.chans[i].state == NX_CHAN_FREE)
			return (int)i;
	return -1;
}

void
nx__chan_record(struct nx_instance *inst, struct nx_wchan *ch, const struct nx_peer_cred *cred,
		uint32_t wait_mode)
{
	struct nx_health_chan *hc = ch->hc;

	hc->worker = ch->worker;
	hc->pid = cred->pid;
	hc->uid = cred->uid;
	/* pid 0: a process in a PID namespace nxd cannot see, which has no
	 * /proc entry here (nor is /proc/0 anyone's): no start time */
	hc->pid_start = cred->pid > 0 ? nx__process_start_time(cred->pid) : 0;
	hc->attach_ns = nx__clock_ns();
	hc->ring_size = inst->cgeom.ring_size;
	hc->arena_bytes = inst->cgeom.arena_bytes;
	hc->wait_mode = wait_mode;
	hc->attach_count++;
	nx__store32(&hc->state, NX_CHAN_ATTACHED);
}

void
nx__chan_release(struct nx_instance *inst, struct nx_wchan *ch)
{
	struct nx_health_chan *hc = ch->hc;

	if (ch->ctl_fd >= 0) {
		nx__evloop_del(inst->ev, ch->ctl_fd);
		nx__fd_close(ch->ctl_fd);
		ch->ctl_fd = -1;
	}
	nx__chan_unmap(&ch->v);
	ch->in_use = false;
	ch->detaching = false;
	ch->detach_pending = false;
	nx__store32(&hc->state, NX_CHAN_FREE);
	hc->pid = 0;
	hc->uid = 0;
	hc->pid_start = 0;
	hc->seg_dev = 0;
	hc->seg_ino = 0;
	nx__store64(&hc->taken, 0);
	nx__store64(&hc->answered, 0);
	nx__store64(&hc->errors, 0);
	nx__store64(&hc->last_ns, 0);
	nx__store32(&hc->depth, 0);
	nx__store32(&hc->outstanding, 0);
	nx__store64(&hc->rate_limited, 0);
	nx__store64(&hc->expired, 0);
}

/* (the worker re-reads its bucket when rl_gen moves) */
void
nx__chan_limits(struct nx_instance *inst, struct nx_wchan *ch)
{
	uint32_t rate = inst->conf.rate_limit, burst = inst->conf.rate_burst;

	if (rate != 0 && burst == 0)
		burst = rate / 10 != 0 ? rate / 10 : 1;
	ch->rate_limited = ch->expired = ch->hb_taken = 0;
	nx__chan_set_limit(ch, rate, burst);
}

void
nx__chan_set_limit(struct nx_wchan *ch, uint32_t rate, uint32_t burst)
{
	ck_pr_store_32(&ch->rl_rate, rate);
	ck_pr_store_32(&ch->rl_burst, burst);
	ck_pr_fence_store(); /* pairs with the worker's fence after it reads rl_gen */
	ck_pr_store_32(&ch->rl_gen, ck_pr_load_32(&ch->rl_gen) + 1);
}

int
nx__chan_serve(struct nx_instance *inst, struct nx_wchan *ch)
{
	return chanset_publish(inst, &inst->workers[ch->worker], ch, NULL);
}

void
nx__chan_detach(struct nx_instance *inst, struct nx_wchan *ch, const char *why)
{
	struct nx_worker *w = &inst->workers[ch->worker];

	if (!ch->in_use || ch->detaching)
		return;
	/* The client is gone: nothing more to hear from its socket. */
	if (ch->ctl_fd >= 0) {
		nx__evloop_del(inst->ev, ch->ctl_fd);
		nx__fd_close(ch->ctl_fd);
		ch->ctl_fd = -1;
	}
	ch->detach_why = why; /* said at the release: the worker writes ch->answered till then */
	/* Released after the grace period: then no worker can touch the mapping. */
	if (chanset_publish(inst, w, NULL, ch) < 0) {
		/* no room (or memory) for the change now: the worker keeps
		 * serving it, and it is retried when a grace period passes */
		if (!ch->detach_pending)
			nx__log(NX_LOG_WARN, "channel %u: detach deferred: %s", ch->id, nx__errmsg());
		ch->detach_pending = true;
		return;
	}
	ch->detach_pending = false;
	ch->detaching = true;
}

void
nx__chantab_detach_retry(struct nx_instance *inst)
{
	uint32_t i;

	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_wchan *ch = &inst->chans[i];

		if (ch->detach_pending)
			nx__chan_detach(inst, ch, ch->detach_why);
	}
}

/*
 * Is an orphan's client gone? With a pid nxd can see: that process has
 * exited (or its pid is another's now). With pid 0 (a client in a PID
 * namespace nxd cannot see, a container's) nothing tells: the dead nxd's
 * socket was the only thing nxd held of it, so the orphan waits
 * orphan_hold for a reclaim, then goes. A live client that comes later
 * is refused, completes what it had outstanding NX_ERESTARTED and
 * attaches anew: nothing runs twice, nothing is lost silently.
 */
static bool
orphan_gone(const struct nx_instance *inst, const struct nx_health_chan *hc, uint64_t now)
{
	if (hc->pid > 0)
		return !nx__process_alive(hc->pid) ||
		       nx__process_start_time(hc->pid) != hc->pid_start;
	return now >= inst->orphan_until_ns;
}

static void
orphan_free(struct nx_instance *inst, uint32_t i, const char *why)
{
	struct nx_health_chan *hc = &inst->hv.chans[i];
	char who[48];

	nx__log(NX_LOG_INFO, "channel %u: client (%s, uid %u) %s; freed", i,
	       nx__peer_who(hc->pid, who, sizeof who), hc->uid, why);
	nx__chan_release(inst, &inst->chans[i]);
	nx__store64(&inst->hv.hdr->orphans_freed, inst->hv.hdr->orphans_freed + 1);
}

void
nx__chantab_sweep_orphans(struct nx_instance *inst)
{
	const uint64_t now = nx__clock_ns();
	uint32_t i;

	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_health_chan *hc = &inst->hv.chans[i];

		if (hc->state == NX_CHAN_ORPHANED && !inst->chans[i].in_use &&
		    orphan_gone(inst, hc, now))
			orphan_free(inst, i, hc->pid > 0 ? "is gone"
					     : "did not reclaim it within orphan_hold");
	}
}

/* After a restart: the channels of clients still alive wait for them to
 * reclaim them (ctl_server.c); the others are freed now. */
static void
orphan_channels(struct nx_instance *inst)
{
	const uint64_t now = nx__clock_ns();
	uint32_t i, n = 0, hidden = 0;

	inst->orphan_until_ns = now + (uint64_t)inst->conf.orphan_hold_s * 1000000000ull;
	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_health_chan *hc = &inst->hv.chans[i];

		if (hc->state == NX_CHAN_FREE)
			continue;
		/* pids the dead nxd recorded in another PID namespace than
		 * ours name other processes here, or none: not to be trusted */
		if (inst->pids_foreign && hc->pid != 0) {
			hc->pid = 0;
			hc->pid_start = 0;
		}
		if (hc->pid > 0 && orphan_gone(inst, hc, now)) {
			orphan_free(inst, i, "is gone");
			continue;
		}
		nx__store32(&hc->state, NX_CHAN_ORPHANED);
		n++;
		hidden += hc->pid == 0;
	}
	if (n != 0)
		nx__log(NX_LOG_INFO, "%u channels wait for their clients to reclaim them "
		       "(%u of pids nxd cannot see: at most %u s)", n, hidden,
		       inst->conf.orphan_hold_s);
}

int
nx__chantab_create(struct nx_instance *inst)
{
	const uint32_t n = inst->conf.max_channels;
	uint32_t i;

	inst->chans = nx__mem_zalloc(n, sizeof *inst->chans);
	if (inst->chans == NULL)
		return nx__err(NX_ENOMEM, "channel table");
	for (i = 0; i < n; i++) {
		inst->chans[i].id = i;
		inst->chans[i].hc = &inst->hv.chans[i];
		inst->chans[i].ctl_fd = -1;
		inst->chans[i].v.fd = -1;
	}
	if (inst->reattached)
		orphan_channels(inst);
	else
		for (i = 0; i < n; i++)
			memset(&inst->hv.chans[i], 0, sizeof inst->hv.chans[i]);
	return 0;
}

void
nx__chantab_destroy(struct nx_instance *inst)
{
	uint32_t i;

	if (inst->chans == NULL)
		return;
	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_wchan *ch = &inst->chans[i];

		nx__fd_close(ch->ctl_fd);
		nx__chan_unmap(&ch->v);
	}
	nx__mem_free(inst->chans);
	inst->chans = NULL;
}
