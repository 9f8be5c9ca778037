/*
 * The instance: what one nxd owns, and its control thread.
 *
 * The control thread accepts clients, creates and reclaims their
 * channels, hands channels to workers through RCU-published channel sets,
 * notices clients that are gone (their control socket closes) and
 * reclaims their channels after a grace period. It never touches a ring
 * a worker serves, except to reclaim a channel after a restart, before
 * any worker sees it.
 *
 * Holding the instance: a lock in the runtime directory, beside the
 * control socket (platform/linux/ctl.c). The kernel releases it when nxd
 * dies, however it dies, so a restarted nxd takes over at once, and a
 * second nxd on a live instance is refused.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/nx_rcu.h"
#include "shm/attach.h"
#include "core/life.h"
#include "core/segment.h"

#include "core_internal.h"
#include "graph.h"
#include "dlq.h"
#include "instance_internal.h"
#include "nxd.h"

void
nx_instance_conf_default(struct nx_instance_conf *c)
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
	c->reply_max = NX_CTL_REPLY_MAX;
}

void
nx_instance_health_name(char *buf, size_t len, const char *instance)
{
	nx__health_name(buf, len, instance);
}

const struct nx_place_plan *
nx_instance_plan(const struct nx_instance *inst)
{
	return &inst->plan;
}

uint64_t
nx_instance_generation(const struct nx_instance *inst)
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

/* What the control thread is in, for the signal guard's message. */
static void
doing(struct nx_instance *inst, const char *what)
{
	ck_pr_store_ptr(&inst->doing, (void *)(uintptr_t)what);
}

/* ---- channel sets (RCU) ---- */

/*
 * Give worker w a new channel set: the old one plus add, minus remove.
 * Publish, wake the worker so a sleeping one re-reads it, wait a grace
 * period, free the old set. After return, no worker can see remove.
 */
static void chan_release(struct nx_instance *inst, struct nx_wchan *ch);

/* Free the channel sets and release the channels retired before a grace
 * period that has passed (passed_only), or all of them (no worker reads). */
static void
retired_finish(struct nx_instance *inst, bool passed_only)
{
	unsigned i, kept = 0;

	for (i = 0; i < inst->nretired; i++) {
		struct nx_retired *r = &inst->retired[i];

		if (passed_only && !nx__grace_passed(&inst->grace, r->ticket)) {
			inst->retired[kept++] = *r;
			continue;
		}
		free(r->set);
		if (r->release != NULL) {
			struct nx_wchan *ch = r->release;

			if (!inst->conf.quiet)
				nx_log(NX_LOG_INFO, "channel %u (pid %d) detached: %s; %llu requests "
				       "answered", ch->id, ch->pid, ch->detach_why,
				       (unsigned long long)ch->answered);
			chan_release(inst, ch);
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
static bool
retired_room(struct nx_instance *inst)
{
	if (inst->nretired == NX_MAX_RETIRED)
		retired_finish(inst, true);
	return inst->nretired < NX_MAX_RETIRED;
}

static int
chanset_publish(struct nx_instance *inst, struct nx_worker *w, struct nx_wchan *add,
		struct nx_wchan *remove)
{
	struct nx_chanset *old = w->chans, *set;
	uint32_t i, n = 0;

	if (!retired_room(inst))
		return nx__err(NX_EBUSY, "%u channel changes wait for a grace period (is a worker "
			       "stuck in a stage?)", NX_MAX_RETIRED);
	set = malloc(sizeof *set + (old->n + 1) * sizeof set->ch[0]);
	if (set == NULL)
		return nx__err(NX_ENOMEM, "channel set");
	for (i = 0; i < old->n; i++)
		if (old->ch[i] != remove)
			set->ch[n++] = old->ch[i];
	if (add != NULL)
		set->ch[n++] = add;
	set->n = n;
	nx_rcu_assign(w->chans, set);
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

static struct nx_worker *
least_loaded(struct nx_instance *inst)
{
	struct nx_worker *best = &inst->workers[0];
	unsigned i;

	for (i = 1; i < inst->nworkers; i++)
		if (inst->workers[i].nchans < best->nchans)
			best = &inst->workers[i];
	return best;
}

/* ---- peers: connections that have not attached yet ---- */

static void
reply_forget(struct nx_instance *inst, struct nx_peer *p)
{
	inst->reply_bytes -= p->reply.len;
	nx__buf_free(&p->reply);
	p->reply_off = 0;
	p->replying = false;
}

static void
peer_drop(struct nx_instance *inst, struct nx_peer *p)
{
	reply_forget(inst, p);
	nx_evloop_del(inst->ev, p->fd);
	nx_fd_close(p->fd);
	p->fd = -1;
}

/*
 * Who may do what. Administer (control commands: swaps, plugins, dead
 * letters, breakers, rate limits): nxd's own uid and members of
 * admin_gid. Attach (and use only the channel it gets): those, and
 * members of allow_gid. Nobody else, not even root: root can become
 * nxd's uid if it must. Groups count as the peer had them when it
 * connected, supplementary ones included (SO_PEERGROUPS).
 */
enum peer_role { ROLE_NONE, ROLE_CLIENT, ROLE_ADMIN };

static enum peer_role
peer_role(const struct nx_instance *inst, int fd, const struct nx_peer_cred *c)
{
	if (c->uid == nx_process_uid() ||
	    (inst->conf.admin_gid >= 0 && nx_ctl_peer_in_group(fd, c, (uint32_t)inst->conf.admin_gid)))
		return ROLE_ADMIN;
	if (inst->conf.allow_gid >= 0 && nx_ctl_peer_in_group(fd, c, (uint32_t)inst->conf.allow_gid))
		return ROLE_CLIENT;
	return ROLE_NONE;
}

/*
 * Quotas hold for every uid but nxd's own (which is as trusted as nxd:
 * it could stop it): so many connections pending, so many channels per
 * uid and per process. Other clients are unaffected by one at its quota.
 */
static int
pending_quota(const struct nx_instance *inst, const struct nx_peer_cred *c)
{
	unsigned i, n = 0;

	if (c->uid == nx_process_uid())
		return 0;
	for (i = 0; i < NX_MAX_PEERS; i++)
		n += inst->peers[i].fd >= 0 && inst->peers[i].cred.uid == c->uid;
	if (n >= inst->conf.uid_pending)
		return nx__err(NX_EQUOTA, "uid %u has %u connections pending on instance '%s': "
			       "its quota (uid_pending)", c->uid, inst->conf.uid_pending,
			       inst->conf.instance);
	return 0;
}

static int
channel_quota(const struct nx_instance *inst, const struct nx_peer_cred *c)
{
	unsigned i, by_uid = 0, by_pid = 0;

	if (c->uid == nx_process_uid())
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

static void
on_listen(struct nx_instance *inst)
{
	for (;;) {
		struct nx_peer_cred cred;
		enum peer_role role;
		unsigned i;
		int fd;

		fd = nx_ctl_accept(inst->lfd, &cred);
		if (fd == NX_EAGAIN)
			return;
		if (fd < 0) {
			/* out of descriptors, say: the connection stays queued and
			 * the socket readable, so stop watching it (no busy loop)
			 * and look again at the next sweep */
			nx_log(NX_LOG_WARN, "accept: %s: not listening for a second", nx__errmsg());
			nx_evloop_del(inst->ev, inst->lfd);
			inst->listen_paused = true;
			return;
		}
		role = peer_role(inst, fd, &cred);
		if (role == ROLE_NONE) {
			nx_log(NX_LOG_WARN, "refused pid %d: uid %u not allowed", cred.pid, cred.uid);
			nx__ctl_reply_error(fd, NX_EPERM,
					    "uid %u may not attach to instance '%s' (nxd runs as uid %u%s)",
					    cred.uid, inst->conf.instance, nx_process_uid(),
					    inst->conf.allow_gid >= 0 || inst->conf.admin_gid >= 0
						    ? ", or its allowed or admin group" : "");
			nx_fd_close(fd);
			continue;
		}
		if (pending_quota(inst, &cred) < 0) {
			nx__ctl_reply_error(fd, NX_EQUOTA, "%s", nx__errmsg());
			nx_fd_close(fd);
			continue;
		}
		for (i = 0; i < NX_MAX_PEERS && inst->peers[i].fd >= 0; i++)
			;
		if (i == NX_MAX_PEERS || nx_evloop_add(inst->ev, fd, KEY(KEY_PEER, i)) < 0) {
			nx__ctl_reply_error(fd, NX_EBUSY, "too many connections pending; retry");
			nx_fd_close(fd);
			continue;
		}
		inst->peers[i].fd = fd;
		inst->peers[i].cred = cred;
		inst->peers[i].admin = role == ROLE_ADMIN;
		inst->peers[i].since_ns = nx_clock_ns();
	}
}

static int
chan_free_slot(struct nx_instance *inst)
{
	uint32_t i;

	for (i = 0; i < inst->conf.max_channels; i++)
		if (!inst->chans[i].in_use && inst->hv.chans[i].state == NX_CHAN_FREE)
			return (int)i;
	return -1;
}

static void
chan_record(struct nx_instance *inst, struct nx_wchan *ch, const struct nx_peer_cred *cred,
	    uint32_t wait_mode)
{
	struct nx_health_chan *hc = ch->hc;

	hc->worker = ch->worker;
	hc->pid = cred->pid;
	hc->uid = cred->uid;
	hc->pid_start = nx_process_start_time(cred->pid);
	hc->attach_ns = nx_clock_ns();
	hc->ring_size = inst->cgeom.ring_size;
	hc->arena_bytes = inst->cgeom.arena_bytes;
	hc->wait_mode = wait_mode;
	hc->attach_count++;
	nx__store32(&hc->state, NX_CHAN_ATTACHED);
}

static void
chan_release(struct nx_instance *inst, struct nx_wchan *ch)
{
	struct nx_health_chan *hc = ch->hc;

	if (ch->ctl_fd >= 0) {
		nx_evloop_del(inst->ev, ch->ctl_fd);
		nx_fd_close(ch->ctl_fd);
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
	nx__store64(&hc->taken, 0);
	nx__store64(&hc->answered, 0);
	nx__store64(&hc->errors, 0);
	nx__store64(&hc->last_ns, 0);
	nx__store32(&hc->depth, 0);
	nx__store32(&hc->outstanding, 0);
	nx__store64(&hc->rate_limited, 0);
	nx__store64(&hc->expired, 0);
}

/* A channel's rate limit from the configuration, before a worker serves
 * it (the worker re-reads its bucket when rl_gen moves). */
static void
chan_limits(struct nx_instance *inst, struct nx_wchan *ch)
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

/* Hand a mapped channel to a worker and keep the client's socket to
 * notice when it goes. The peer slot is consumed. */
static int
chan_serve(struct nx_instance *inst, struct nx_wchan *ch, struct nx_peer *p)
{
	struct nx_worker *w = &inst->workers[ch->worker];
	int rc;

	rc = chanset_publish(inst, w, ch, NULL);
	if (rc < 0)
		return rc;
	nx_evloop_del(inst->ev, p->fd);
	ch->ctl_fd = p->fd;
	p->fd = -1;
	if (nx_evloop_add(inst->ev, ch->ctl_fd, KEY(KEY_CHAN, ch->id)) < 0) {
		nx_log(NX_LOG_ERR, "channel %u: cannot watch its client: %s", ch->id, nx__errmsg());
		return NX_EIO;
	}
	return 0;
}

static void
chan_detach(struct nx_instance *inst, struct nx_wchan *ch, const char *why)
{
	struct nx_worker *w = &inst->workers[ch->worker];

	if (!ch->in_use || ch->detaching)
		return;
	/* The client is gone: nothing more to hear from its socket. */
	if (ch->ctl_fd >= 0) {
		nx_evloop_del(inst->ev, ch->ctl_fd);
		nx_fd_close(ch->ctl_fd);
		ch->ctl_fd = -1;
	}
	ch->detach_why = why; /* said at the release: the worker writes ch->answered till then */
	/* Released after the grace period: then no worker can touch the mapping. */
	if (chanset_publish(inst, w, NULL, ch) < 0) {
		/* no room (or memory) for the change now: the worker keeps
		 * serving it, and it is retried when a grace period passes */
		if (!ch->detach_pending)
			nx_log(NX_LOG_WARN, "channel %u: detach deferred: %s", ch->id, nx__errmsg());
		ch->detach_pending = true;
		return;
	}
	ch->detach_pending = false;
	ch->detaching = true;
}

/* Detaches deferred for want of room: again, now that some may be free. */
static void
detach_retry(struct nx_instance *inst)
{
	uint32_t i;

	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_wchan *ch = &inst->chans[i];

		if (ch->detach_pending)
			chan_detach(inst, ch, ch->detach_why);
	}
}

static void
peer_attach(struct nx_instance *inst, struct nx_peer *p, const struct nx_ctl_msg *m)
{
	struct nx_wchan *ch;
	int id, rc;

	if (m->abi_version != NX_ABI_VERSION) {
		nx__ctl_reply_error(p->fd, NX_EABI,
				    "client speaks ABI %u but nxd of instance '%s' speaks ABI %u: "
				    "rebuild the client against the installed libnx",
				    m->abi_version, inst->conf.instance, NX_ABI_VERSION);
		goto drop;
	}
	if (m->wait_mode > NX_WAIT_SLEEP) {
		nx__ctl_reply_error(p->fd, NX_EINVAL, "unknown wait mode %u", m->wait_mode);
		goto drop;
	}
	if (ck_pr_load_32(&inst->stop) != 0) {
		nx__ctl_reply_error(p->fd, NX_ESHUTDOWN, "instance '%s' is shutting down",
				    inst->conf.instance);
		goto drop;
	}
	if (!retired_room(inst)) {
		nx__ctl_reply_error(p->fd, NX_EBUSY, "instance '%s' has %u channel changes waiting "
				    "for a grace period: retry", inst->conf.instance, NX_MAX_RETIRED);
		goto drop;
	}
	rc = channel_quota(inst, &p->cred);
	if (rc < 0) {
		nx__ctl_reply_error(p->fd, rc, "%s", nx__errmsg());
		goto drop;
	}
	id = chan_free_slot(inst);
	if (id < 0) {
		nx__ctl_reply_error(p->fd, NX_ENOSPC,
				    "all %u channels of instance '%s' are in use (max_channels)",
				    inst->conf.max_channels, inst->conf.instance);
		goto drop;
	}
	ch = &inst->chans[id];
	ch->worker = least_loaded(inst)->idx;
	rc = nx__chan_create(&ch->v, &inst->cgeom, (uint32_t)id, ch->worker, m->wait_mode,
			     inst->generation);
	if (rc < 0) {
		nx__ctl_reply_error(p->fd, rc, "cannot create a channel: %s", nx__errmsg());
		goto drop;
	}
	if (inst->conf.mlock)
		nx_mem_prefault(ch->v.base, ch->v.g.layout_bytes, true);
	ch->in_use = true;
	ch->sleep_client = m->wait_mode == NX_WAIT_SLEEP;
	ch->pid = p->cred.pid;
	ch->uid = p->cred.uid;
	ch->taken = ch->answered = ch->errors = 0;
	ch->replay_until = 0;
	ch->replay = false;
	chan_limits(inst, ch);
	chan_record(inst, ch, &p->cred, m->wait_mode);
	rc = nx__ctl_reply_ok(p->fd, (uint32_t)id, inst->generation, ch->v.fd);
	/* handed over: nxd keeps the mapping, not the descriptor (no other
	 * process can be given it, and a restart gets it back from the client) */
	nx_fd_close(ch->v.fd);
	ch->v.fd = -1;
	if (rc == 0)
		rc = chan_serve(inst, ch, p);
	if (rc < 0) {
		if (p->fd >= 0)
			peer_drop(inst, p);
		chan_detach(inst, ch, "attach failed");
		return;
	}
	if (!inst->conf.quiet)
		nx_log(NX_LOG_INFO, "channel %d attached: pid %d uid %u, worker %u, %s", id,
		       ch->pid, p->cred.uid, ch->worker,
		       ch->sleep_client ? "client sleeps" : "client spins");
	return;
drop:
	peer_drop(inst, p);
}

/*
 * A client takes its channel back after nxd restarted. What the dead nxd
 * took and did not answer, [answered, taken), is replayed by the worker
 * before anything new: it re-runs idempotent requests and answers the
 * others NX_ERESTARTED. Everything after that was never taken and runs
 * normally. The indices come from the client's memory: a client that
 * damaged them only confuses its own channel, and they are bounded here.
 */
static void
peer_reclaim(struct nx_instance *inst, struct nx_peer *p, const struct nx_ctl_msg *m, int fd)
{
	struct nx_health_chan *hc;
	struct nx_wchan *ch;
	uint32_t taken, answered, submitted;
	int rc;

	if (m->abi_version != NX_ABI_VERSION) {
		nx__ctl_reply_error(p->fd, NX_EABI, "client speaks ABI %u, nxd speaks ABI %u",
				    m->abi_version, NX_ABI_VERSION);
		goto drop;
	}
	if (fd < 0 || m->chan_id >= inst->conf.max_channels) {
		nx__ctl_reply_error(p->fd, NX_EINVAL, "reclaim needs a channel id and its segment");
		goto drop;
	}
	if (!retired_room(inst)) {
		nx__ctl_reply_error(p->fd, NX_EBUSY, "%u channel changes wait for a grace period: "
				    "retry", NX_MAX_RETIRED);
		goto drop;
	}
	ch = &inst->chans[m->chan_id];
	hc = ch->hc;
	if (ch->in_use || hc->state != NX_CHAN_ORPHANED || hc->pid != p->cred.pid ||
	    hc->uid != p->cred.uid || hc->pid_start != nx_process_start_time(p->cred.pid)) {
		nx__ctl_reply_error(p->fd, NX_ENOENT,
				    "channel %u is not an orphan of pid %d: attach anew", m->chan_id,
				    p->cred.pid);
		goto drop;
	}
	rc = nx__chan_map(&ch->v, fd);
	if (rc < 0) {
		nx__ctl_reply_error(p->fd, rc, "channel %u: %s", m->chan_id, nx__errmsg());
		goto drop;
	}
	fd = -1; /* owned by the view now */
	if (ch->v.hdr->chan_id != m->chan_id || ch->v.g.layout_bytes != inst->cgeom.layout_bytes ||
	    ch->v.g.ring_size != inst->cgeom.ring_size ||
	    ch->v.g.arena_bytes != inst->cgeom.arena_bytes ||
	    ch->v.g.max_payload != inst->cgeom.max_payload) {
		nx__chan_unmap(&ch->v);
		nx__ctl_reply_error(p->fd, NX_EPROTO, "segment is not channel %u of this instance",
				    m->chan_id);
		goto drop;
	}
	nx_fd_close(ch->v.fd); /* the mapping is all nxd keeps */
	ch->v.fd = -1;
	taken = ch->v.req->c_head;
	answered = ch->v.resp->p_tail;
	submitted = ck_pr_load_uint(&ch->v.req->p_tail);
	if (taken - answered > ch->v.g.ring_size || submitted - taken > ch->v.g.ring_size) {
		nx__chan_unmap(&ch->v);
		nx__ctl_reply_error(p->fd, NX_EPROTO,
				    "channel %u: ring indices are inconsistent (taken %u, answered "
				    "%u, submitted %u)", m->chan_id, taken, answered, submitted);
		goto drop;
	}
	/* What was taken and not answered is replayed in place, with the
	 * replay rule (worker.c: replay_take); c_head stays at taken, so that
	 * a restart before the replay ends still knows what may have run. */
	ch->replay_until = taken;
	ch->replay = taken != answered;
	ch->in_use = true;
	ch->worker = least_loaded(inst)->idx;
	ch->v.hdr->worker = ch->worker;
	ch->sleep_client = hc->wait_mode == NX_WAIT_SLEEP;
	ch->pid = p->cred.pid;
	ch->uid = p->cred.uid;
	ch->taken = ch->answered = answered;
	ch->errors = 0;
	chan_limits(inst, ch);
	hc->worker = ch->worker;
	nx__store32(&hc->state, NX_CHAN_ATTACHED);
	rc = nx__ctl_reply_ok(p->fd, m->chan_id, inst->generation, -1);
	if (rc == 0)
		rc = chan_serve(inst, ch, p);
	if (rc < 0) {
		if (p->fd >= 0)
			peer_drop(inst, p);
		chan_detach(inst, ch, "reclaim failed");
		return;
	}
	nx_log(NX_LOG_INFO, "channel %u reclaimed by pid %d: %u in flight at the restart, %u waiting",
	       m->chan_id, ch->pid, taken - answered, submitted - taken);
	return;
drop:
	nx_fd_close(fd);
	peer_drop(inst, p);
}

/*
 * Send what the socket takes of a peer's queued reply, in chunks (the
 * last one says no more follow). When the socket is full, wait for room
 * (NX_EV_OUT) and read nothing more from this peer meanwhile; a reader
 * that takes nothing for NX_PEER_TIMEOUT_NS is dropped by the sweep.
 */
static void
reply_flush(struct nx_instance *inst, struct nx_peer *p, uint32_t idx)
{
	struct nx_ctl_reply *r = inst->reply;
	const struct nx_buf *b = &p->reply;

	for (;;) {
		size_t n = b->len - p->reply_off < NX_CTL_REPLY_CHUNK ? b->len - p->reply_off
								       : NX_CTL_REPLY_CHUNK;
		bool last = p->reply_off + n == b->len;
		int rc;

		memset(&r->hdr, 0, sizeof r->hdr);
		r->hdr.type = NX_CTL_REPLY;
		r->hdr.abi_version = NX_ABI_VERSION;
		r->hdr.status = p->reply_status;
		r->len = (uint32_t)n;
		r->more = !last;
		if (n != 0)
			memcpy(r->text, b->p + p->reply_off, n);
		rc = nx_ctl_send(p->fd, r, offsetof(struct nx_ctl_reply, text) + n, -1);
		if (rc == NX_EAGAIN) {
			if (!p->replying && nx_evloop_mod(inst->ev, p->fd, KEY(KEY_PEER, idx),
							  NX_EV_OUT) < 0) {
				peer_drop(inst, p);
				return;
			}
			p->replying = true;
			return;
		}
		if (rc < 0) {
			if (rc != NX_ECLOSED)
				nx_log(NX_LOG_WARN, "nxctl (pid %d): reply not sent: %s", p->cred.pid,
				       nx__errmsg());
			peer_drop(inst, p);
			return;
		}
		p->since_ns = nx_clock_ns(); /* progress */
		p->reply_off += n;
		if (last)
			break;
	}
	if (p->replying && nx_evloop_mod(inst->ev, p->fd, KEY(KEY_PEER, idx), NX_EV_IN) < 0) {
		peer_drop(inst, p);
		return;
	}
	reply_forget(inst, p); /* whole: it may send another command */
}

/* An nxctl command: argc NUL-terminated strings, checked before use. */
static void
peer_command(struct nx_instance *inst, struct nx_peer *p, struct nx_ctl_cmd *c, size_t got)
{
	char *argv[64];
	struct nx_buf out = { 0 };
	int rc, argc;

	if (!p->admin) {
		/* refused before anything of it is read: no file opened, no plugin loaded */
		nx_log(NX_LOG_WARN, "refused a command from pid %d: uid %u may attach, not administer",
		       p->cred.pid, p->cred.uid);
		nx__ctl_reply_error(p->fd, NX_EPERM, "control commands need the admin role (nxd's "
				    "uid %u%s); uid %u may only attach", nx_process_uid(),
				    inst->conf.admin_gid >= 0 ? " or the admin group" : "",
				    p->cred.uid);
		peer_drop(inst, p);
		return;
	}
	argc = nx__ctl_parse_command(c, got, argv, 64);
	if (argc < 0) {
		nx__ctl_reply_error(p->fd, NX_EPROTO, "%s", nx__errmsg());
		peer_drop(inst, p);
		return;
	}
	nx__err_clear();
	out.max = inst->conf.reply_max;
	doing(inst, "an nxctl command (a stage's init, self-test, probe or fini, or a plugin's "
	      "constructor)");
	rc = nx__control_command(inst, argc, argv, (c->hdr.wait_mode & NX_CTL_CMD_JSON) != 0, &out);
	doing(inst, NULL);
	if (rc == 0 && out.too_big)
		rc = nx__err(NX_E2BIG, "%s: the answer would be more than %u bytes (reply_max): "
			     "ask for less (dlq export and dlq show take IDs; dlq drain frees the "
			     "rings)", argv[0], inst->conf.reply_max);
	else if (rc == 0 && out.failed)
		rc = nx__err(NX_ENOMEM, "%s: no memory for the answer", argv[0]);
	else if (rc == 0 && inst->reply_bytes + out.len > NX_CTL_REPLIES_MAX)
		rc = nx__err(NX_EBUSY, "%s: %zu MiB of answers wait for their readers: retry",
			     argv[0], inst->reply_bytes >> 20);
	if (!inst->conf.quiet || rc < 0)
		nx_log(rc < 0 ? NX_LOG_WARN : NX_LOG_INFO, "nxctl (pid %d) %s: %s", p->cred.pid,
		       argv[0], rc < 0 ? nx__errmsg() : "done");
	if (rc < 0) {
		/* what was built is dropped whole: an error is never cut short */
		nx__buf_free(&out);
		nx__buf_printf(&out, "%s", nx__errmsg());
		if (out.failed) {
			nx__buf_free(&out);
			nx__ctl_reply_error(p->fd, NX_ENOMEM, "no memory for the answer");
			peer_drop(inst, p);
			return;
		}
	}
	p->since_ns = nx_clock_ns(); /* it may send another */
	p->reply = out;
	p->reply_status = rc;
	p->reply_off = 0;
	inst->reply_bytes += out.len;
	reply_flush(inst, p, (uint32_t)(p - inst->peers));
}

static void
on_peer(struct nx_instance *inst, struct nx_peer *p)
{
	struct nx_ctl_cmd *c = inst->cmd;
	int fd = -1, n;

	n = nx_ctl_recv(p->fd, c, sizeof *c, &fd, 0);
	if (n == NX_EAGAIN)
		return;
	if (n < 0 || (size_t)n < sizeof c->hdr) {
		if (n != NX_ECLOSED)
			nx__ctl_reply_error(p->fd, n < 0 ? n : NX_EPROTO, "%s",
					    n < 0 ? nx__errmsg() : "message too short");
		nx_fd_close(fd);
		peer_drop(inst, p);
		return;
	}
	switch (c->hdr.type) {
	case NX_CTL_ATTACH:
	case NX_CTL_RECLAIM:
		if ((size_t)n != sizeof c->hdr) {
			nx_fd_close(fd);
			nx__ctl_reply_error(p->fd, NX_EPROTO, "malformed control message");
			peer_drop(inst, p);
		} else if (c->hdr.type == NX_CTL_ATTACH) {
			nx_fd_close(fd);
			peer_attach(inst, p, &c->hdr);
		} else {
			peer_reclaim(inst, p, &c->hdr, fd);
		}
		break;
	case NX_CTL_COMMAND:
		nx_fd_close(fd);
		peer_command(inst, p, c, (size_t)n);
		break;
	default:
		nx_fd_close(fd);
		nx__ctl_reply_error(p->fd, NX_EPROTO, "unexpected message type %u", c->hdr.type);
		peer_drop(inst, p);
		break;
	}
}

static void
on_chan(struct nx_instance *inst, uint32_t id, uint32_t flags)
{
	struct nx_wchan *ch = &inst->chans[id];
	struct nx_ctl_msg m;
	int fd = -1, rc;

	if (!ch->in_use)
		return;
	rc = nx__ctl_recv_msg(ch->ctl_fd, &m, &fd, 0);
	nx_fd_close(fd);
	if (rc == NX_EAGAIN && !(flags & NX_EV_HUP))
		return;
	/* Clients say nothing once attached: any message or a close ends it. */
	chan_detach(inst, ch, rc == NX_ECLOSED || rc == NX_EAGAIN ? "client closed" : "protocol error");
}

/* Once a second: drop silent connections, free orphans whose client died,
 * destroy what swaps replaced. */
static void
sweep(struct nx_instance *inst, uint64_t now)
{
	uint32_t i;

	nx__pipes_reclaim(inst, true);
	retired_finish(inst, true);
	detach_retry(inst);
	if (inst->listen_paused && nx_evloop_add(inst->ev, inst->lfd, KEY(KEY_LISTEN, 0)) == 0)
		inst->listen_paused = false;
	for (i = 0; i < NX_MAX_PEERS; i++) {
		struct nx_peer *p = &inst->peers[i];

		if (p->fd >= 0 && now - p->since_ns > NX_PEER_TIMEOUT_NS) {
			if (p->replying)
				nx_log(NX_LOG_WARN, "nxctl (pid %d) read none of its answer for 5 s: "
				       "dropped", p->cred.pid);
			else
				nx__ctl_reply_error(p->fd, NX_ETIMEDOUT, "no request within 5 s");
			peer_drop(inst, p);
		}
	}
	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_health_chan *hc = &inst->hv.chans[i];

		if (hc->state == NX_CHAN_ORPHANED &&
		    (!nx_process_alive(hc->pid) || nx_process_start_time(hc->pid) != hc->pid_start)) {
			nx_log(NX_LOG_INFO, "channel %u: client pid %d is gone; freed", i, hc->pid);
			chan_release(inst, &inst->chans[i]);
		}
	}
}

/* ---- create / run / destroy ---- */

static void
say_busy(const char *instance)
{
	struct nx_health_view hv;

	if (nx__health_map_ro(&hv, instance) == 0) {
		nx__err(NX_EBUSY, "instance '%s' is already served by nxd pid %d (generation %llu)",
			instance, hv.hdr->pid, (unsigned long long)hv.hdr->generation);
		nx__health_unmap(&hv);
	} else {
		nx__err(NX_EBUSY, "instance '%s' is already served by another nxd", instance);
	}
}

static int
workers_init(struct nx_instance *inst)
{
	unsigned i, j;

	inst->nworkers = (unsigned)inst->plan.nworkers;
	inst->workers = aligned_alloc(NX_CACHELINE, sizeof(struct nx_worker) * inst->nworkers);
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
		w->scratch = calloc(1, w->scratch_cap); /* zero: see graph.c scratch_clear */
		w->chans = calloc(1, sizeof(struct nx_chanset));
		w->rt = calloc(inst->hv.max_slots, sizeof *w->rt);
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
		if (w->scratch == NULL || w->chans == NULL || w->rt == NULL)
			return nx__err(NX_ENOMEM, "worker %u buffers", i);
		memset(w->hw, 0, sizeof *w->hw);
		w->hw->cpu = w->cpu;
		/* This generation's counters start from zero. */
		nx_lhist_init(w->hist);
		memset(w->stats, 0, sizeof *w->stats * w->nstats);
		for (j = 0; j < w->nstats; j++)
			nx_lhist_init(&w->slot_hist[j]);
	}
	return 0;
}

/*
 * Log this start in the health segment's restart ring when it follows an
 * nxd that went away. A supervisor (nxwd) says why in the environment:
 * NX_RESTART_REASON, NX_RESTART_STATUS (exit code or -signal),
 * NX_RESTART_WALL_NS (when it noticed), NX_RESTART_OLD_PID. Without one,
 * the entry says only that the previous nxd vanished.
 */
static void
log_restart(struct nx_instance *inst, int32_t old_pid)
{
	struct nx_health_hdr *h = inst->hv.hdr;
	struct nx_health_restart *r;
	const char *reason = getenv("NX_RESTART_REASON");
	const char *status = getenv("NX_RESTART_STATUS");
	const char *wall = getenv("NX_RESTART_WALL_NS");
	const char *pid = getenv("NX_RESTART_OLD_PID");
	uint64_t now = nx_wallclock_ns(), n = h->restarts;

	r = &inst->hv.restarts[n % NX_RESTART_LOG];
	nx__seq_write_begin(&h->ctl_seq);
	memset(r, 0, sizeof *r);
	r->generation = inst->generation;
	r->old_pid = pid != NULL ? (int32_t)strtol(pid, NULL, 10) : old_pid;
	r->status = status != NULL ? (int32_t)strtol(status, NULL, 10) : 0;
	r->wall_ns = wall != NULL ? strtoull(wall, NULL, 10) : now;
	if (r->wall_ns > now)
		r->wall_ns = now;
	snprintf(r->reason, sizeof r->reason, "%s",
		 reason != NULL && reason[0] != '\0' ? reason : "previous nxd went away (not supervised)");
	nx__store64(&h->restarts, n + 1);
	nx__seq_write_end(&h->ctl_seq);
	nx_log(NX_LOG_WARN, "restart %llu: generation %llu after pid %d: %s",
	       (unsigned long long)(n + 1), (unsigned long long)inst->generation, r->old_pid,
	       r->reason);
}

/* The restart is complete when workers serve: say how long it was down. */
static void
log_restart_served(struct nx_instance *inst)
{
	struct nx_health_hdr *h = inst->hv.hdr;
	struct nx_health_restart *r;

	if (!inst->logged_restart)
		return;
	r = &inst->hv.restarts[(h->restarts - 1) % NX_RESTART_LOG];
	nx__seq_write_begin(&h->ctl_seq);
	r->down_ns = nx_wallclock_ns() - r->wall_ns;
	nx__seq_write_end(&h->ctl_seq);
}

/*
 * Under nxwd: map its life locks (NX_LIFE_FD) and hold lock 0 on this,
 * the control thread; each worker holds its own, and nx_instance_run
 * arms them. Without them nxwd still has the pidfd: a warning, no more.
 */
static void
life_open(struct nx_instance *inst)
{
	const char *fd = getenv("NX_LIFE_FD");
	char *end;
	long v;

	if (fd == NULL)
		return;
	v = strtol(fd, &end, 10);
	if (*fd == '\0' || *end != '\0' || v < 0 || v > 65535 ||
	    nx_life_map(&inst->life, (int)v) < 0) {
		nx_log(NX_LOG_WARN, "NX_LIFE_FD '%s': not nxwd's life locks: nxwd will notice a "
		       "death by its pidfd alone", fd);
		inst->life = NULL;
		return;
	}
	inst->life_held = nx_life_hold(inst->life, 0);
}

/* Every thread holds its life lock: nxwd may watch them. */
static void
life_arm(struct nx_instance *inst)
{
	const uint64_t t0 = nx_clock_ns();
	unsigned i;

	if (inst->life == NULL || !inst->life_held || inst->nworkers + 1 > NX_LIFE_LOCKS)
		return;
	for (i = 0; i < inst->nworkers; i++)
		while (ck_pr_load_32(&inst->workers[i].life_held) == 0) {
			if (nx_clock_ns() - t0 > 1000000000ull) {
				nx_log(NX_LOG_WARN, "worker %u holds no life lock: nxwd will notice a "
				       "death by its pidfd alone", i);
				return;
			}
			nx_sleep_ns(20000);
		}
	nx_life_arm(inst->life, 1 + inst->nworkers, nx_process_id());
}

static void
orphan_channels(struct nx_instance *inst)
{
	uint32_t i, n = 0;

	for (i = 0; i < inst->conf.max_channels; i++) {
		struct nx_health_chan *hc = &inst->hv.chans[i];

		if (hc->state == NX_CHAN_FREE)
			continue;
		if (!nx_process_alive(hc->pid) || nx_process_start_time(hc->pid) != hc->pid_start) {
			chan_release(inst, &inst->chans[i]);
			continue;
		}
		nx__store32(&hc->state, NX_CHAN_ORPHANED);
		n++;
	}
	if (n != 0)
		nx_log(NX_LOG_INFO, "%u channels wait for their clients to reclaim them", n);
}

int
nx_instance_create(struct nx_instance **out, const struct nx_instance_conf *conf)
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
		rc = nx_process_set_dumpable(false);
		if (rc < 0)
			return rc;
	}
	if (conf->runtime_dir[0] != '\0') {
		rc = nx_runtime_dir_set(conf->runtime_dir);
		if (rc < 0)
			return rc;
	}
	inst = calloc(1, sizeof *inst);
	if (inst == NULL)
		return nx__err(NX_ENOMEM, "instance");
	inst->conf = *conf;
	inst->lfd = inst->notefd = inst->lock_fd = -1;
	inst->hv.fd = -1;
	for (i = 0; i < NX_MAX_PEERS; i++)
		inst->peers[i].fd = -1;
	rc = nx__chan_geom(&inst->cgeom, (uint32_t)nx_page_size(), conf->ring_size,
			   conf->arena_bytes, conf->max_payload);
	if (rc < 0)
		goto err;

	inst->lfd = nx_ctl_listen(conf->instance, &inst->lock_fd);
	if (inst->lfd == NX_EBUSY) {
		say_busy(conf->instance);
		rc = NX_EBUSY;
		goto err;
	}
	if (inst->lfd < 0) {
		rc = inst->lfd;
		goto err;
	}

	if (conf->plan != NULL) {
		inst->plan = *conf->plan;
	} else {
		rc = nx_instance_conf_plan(conf, &inst->plan);
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
	nx_mem_prefault(inst->hv.base, inst->hv.len, true);
	h = inst->hv.hdr;
	/* Policies are built in ticks. The segment lives in /dev/shm, so it
	 * is from this boot: its calibration holds, and a restart need not
	 * spin 2 ms to measure it again. */
	if (!inst->reattached || !nx_ticks_adopt(h->tick_calibration)) {
		nx_ticks_calibrate();
		h->tick_calibration = nx_ticks_calibration();
	}
	inst->generation = (inst->reattached ? h->generation : 0) + 1;
	if (inst->reattached &&
	    (nx__load32(&h->state) != NX_INST_STOPPED || getenv("NX_RESTART_REASON") != NULL)) {
		/* the previous nxd did not stop: it died, or was killed */
		log_restart(inst, h->pid);
		inst->logged_restart = true;
	}
	h->stop_wall_ns = 0;
	h->pid = nx_process_id();
	h->uid = nx_process_uid();
	h->start_ns = nx_clock_ns();
	h->start_wall_ns = nx_wallclock_ns();
	h->idle = conf->idle;
	h->nworkers = 0;
	h->ring_size = inst->cgeom.ring_size;
	h->arena_bytes = inst->cgeom.arena_bytes;
	h->max_payload = inst->cgeom.max_payload;
	nx__store32(&h->flags, 0);
	nx__store64(&h->generation, inst->generation);
	set_inst_state(inst, NX_INST_STARTING);

	inst->chans = calloc(conf->max_channels, sizeof *inst->chans);
	if (inst->chans == NULL) {
		rc = nx__err(NX_ENOMEM, "channel table");
		goto err;
	}
	for (i = 0; i < conf->max_channels; i++) {
		inst->chans[i].id = i;
		inst->chans[i].hc = &inst->hv.chans[i];
		inst->chans[i].ctl_fd = -1;
		inst->chans[i].v.fd = -1;
	}
	if (inst->reattached)
		orphan_channels(inst);
	else
		for (i = 0; i < conf->max_channels; i++)
			memset(&inst->hv.chans[i], 0, sizeof inst->hv.chans[i]);

	rc = nx__pool_init(&inst->pipe_pool, sizeof(struct nx_pipeline), 2 * NX_MAX_PIPELINES + 2,
			   "pipelines");
	if (rc == 0)
		rc = nx__pool_init(&inst->inst_pool, sizeof(struct nx_stage_inst) + conf->stage_state,
				   3 * conf->max_slots + 2, "stage instances");
	if (rc == 0 && conf->dlq_entries != 0) {
		rc = nx__dlq_open(&inst->dlq, conf->instance, inst->plan.nworkers, conf->dlq_entries);
		if (rc == 0 && inst->dlq.reattached)
			nx_log(NX_LOG_INFO, "dead-letter rings of the previous nxd re-attached");
	}
	if (rc == 0)
		rc = nx_fault_install();
	if (rc == 0) {
		inst->notefd = nx_notify_create();
		rc = inst->notefd < 0 ? inst->notefd : 0;
	}
	if (rc == 0)
		rc = nx__grace_start(&inst->grace, inst->notefd, inst->plan.control.cpu,
				     &h->grace_requested, &h->grace_completed);
	if (rc == 0)
		life_open(inst);
	if (rc == 0)
		rc = workers_init(inst);
	if (rc == 0)
		rc = nx__pipes_start(inst);
	inst->conf.specs = NULL; /* the caller's, read while building only */
	inst->conf.nspecs = 0;
	if (rc < 0)
		goto err;

	if (conf->mlock) {
		rc = nx_mem_lock_all();
		if (rc < 0)
			nx_log(NX_LOG_WARN, "memory not locked: %s", nx__errmsg());
		nx_mem_prefault(inst->hv.base, inst->hv.len, true);
	}

	inst->cmd = malloc(sizeof *inst->cmd);
	inst->reply = malloc(sizeof *inst->reply);
	if (inst->cmd == NULL || inst->reply == NULL) {
		rc = nx__err(NX_ENOMEM, "control buffers");
		goto err;
	}
	rc = nx_evloop_create(&inst->ev);
	if (rc < 0)
		goto err;
	rc = nx_evloop_add(inst->ev, inst->lfd, KEY(KEY_LISTEN, 0));
	if (rc == 0)
		rc = nx_evloop_add(inst->ev, inst->notefd, KEY(KEY_NOTIFY, 0));
	if (rc < 0)
		goto err;

	for (i = 0; i < inst->nworkers; i++) {
		struct nx_worker *w = &inst->workers[i];
		char name[16];

		snprintf(name, sizeof name, "nx-worker-%u", i % 100000);
		rc = nx_thread_create(&w->thread, name, w->cpu, nx__worker_main, w);
		if (rc < 0) {
			rc = nx__err_ctx(rc, "worker %u", i);
			goto err; /* those started are stopped and joined there */
		}
		inst->nstarted = i + 1;
		inst->workers_started = true;
	}
	h->nworkers = inst->nworkers;
	set_inst_state(inst, NX_INST_RUNNING);
	log_restart_served(inst);
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
	nx_instance_destroy(inst);
	return rc;
}

void
nx_instance_stop(struct nx_instance *inst)
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
		nx_notify_signal(inst->notefd);
}

/* The signal guard's thread: SIGTERM or SIGINT. Two stores and a
 * write: the control thread does the rest when it sees them. */
static void
on_stop_signal(void *arg, int sig)
{
	struct nx_instance *inst = arg;

	ck_pr_store_32(&inst->stop_sig, (uint32_t)sig);
	ck_pr_store_32(&inst->stop, 1);
	nx_notify_signal(inst->notefd);
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

	nx_log_last_words("%s: not stopped %s (busy: %s): exiting now%s",
			  sig != 0 ? nx_signal_name(sig) : "stop",
			  sig != 0 ? "yet, and asked again" : "within stop_timeout",
			  what != NULL ? what : "the control loop",
			  inst->conf.keep ? "; segments kept" : "");
	if (inst->hv.hdr != NULL) {
		if (inst->conf.keep)
			nx__store32(&hdr(inst)->flags, NX_HEALTH_F_KEPT);
		nx__store64(&hdr(inst)->stop_wall_ns, nx_wallclock_ns());
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
	doing(inst, "stopping the workers (one may be stuck in a stage)");
	for (i = 0; i < inst->nworkers; i++) {
		ck_pr_store_32(&inst->workers[i].stop, 1);
		nx__worker_kick(&inst->workers[i]);
	}
	for (i = 0; i < inst->nstarted; i++)
		nx_thread_join(inst->workers[i].thread);
	inst->nstarted = 0;
	inst->workers_started = false;
}

int
nx_instance_run(struct nx_instance *inst, bool handle_signals)
{
	uint64_t keys[64];
	uint32_t flags[64];
	int rc = 0;

	if (inst->plan.control.cpu >= 0 && nx_thread_pin_self(inst->plan.control.cpu) < 0)
		nx_log(NX_LOG_WARN, "control thread not pinned: %s", nx__errmsg());
	life_arm(inst);
	if (handle_signals) {
		rc = nx_signal_guard_start(&inst->guard, (uint64_t)inst->conf.stop_timeout_s * 1000000000ull,
					   on_stop_signal, on_stop_timeout, inst);
		if (rc < 0)
			return nx__err_ctx(rc, "signals");
	}
	while (ck_pr_load_32(&inst->stop) == 0) {
		int i, n = nx_evloop_wait(inst->ev, keys, flags, 64, 1000000000ull);
		uint64_t now;

		if (n < 0) {
			rc = n;
			break;
		}
		for (i = 0; i < n; i++) {
			uint32_t type = (uint32_t)(keys[i] >> 32), idx = (uint32_t)keys[i];

			switch (type) {
			case KEY_LISTEN:
				on_listen(inst);
				break;
			case KEY_NOTIFY: /* a stop, or the grace thread */
				nx_notify_drain(inst->notefd);
				nx__pipes_reclaim(inst, true);
				retired_finish(inst, true);
				detach_retry(inst);
				break;
			case KEY_PEER: {
				struct nx_peer *p = idx < NX_MAX_PEERS ? &inst->peers[idx] : NULL;

				if (p == NULL || p->fd < 0)
					break;
				if (p->replying)
					reply_flush(inst, p, idx); /* room, or the peer hung up */
				else
					on_peer(inst, p);
				break;
			}
			case KEY_CHAN:
				if (idx < inst->conf.max_channels)
					on_chan(inst, idx, flags[i]);
				break;
			}
		}
		now = nx_clock_ns();
		if (now - inst->last_sweep_ns > 1000000000ull) {
			sweep(inst, now);
			inst->last_sweep_ns = now;
		}
	}
	if (ck_pr_load_32(&inst->stop_sig) != 0 && !inst->conf.quiet)
		nx_log(NX_LOG_INFO, "%s: stopping",
		       nx_signal_name((int)ck_pr_load_32(&inst->stop_sig)));
	/* Stop taking requests; each worker finishes the loop it is in, so
	 * everything it took is answered. */
	set_inst_state(inst, NX_INST_STOPPING);
	if (!inst->listen_paused)
		nx_evloop_del(inst->ev, inst->lfd);
	nx_fd_close(inst->lfd);
	inst->lfd = -1;
	workers_stop(inst);
	if (inst->conf.keep)
		nx__store32(&hdr(inst)->flags, NX_HEALTH_F_KEPT);
	nx__store64(&hdr(inst)->stop_wall_ns, nx_wallclock_ns());
	set_inst_state(inst, NX_INST_STOPPED);
	inst->stopped = true;
	return rc;
}

void
nx_instance_destroy(struct nx_instance *inst)
{
	unsigned i;

	if (inst == NULL)
		return;
	workers_stop(inst);
	doing(inst, "waiting for the grace thread");
	nx__grace_stop(&inst->grace);
	retired_finish(inst, false); /* no worker reads any set now */
	if (inst->hv.base != NULL && !inst->stopped)
		set_inst_state(inst, NX_INST_STOPPED);
	for (i = 0; i < NX_MAX_PEERS; i++) {
		nx_fd_close(inst->peers[i].fd);
		nx__buf_free(&inst->peers[i].reply);
	}
	if (inst->chans != NULL) {
		for (i = 0; i < inst->conf.max_channels; i++) {
			struct nx_wchan *ch = &inst->chans[i];

			nx_fd_close(ch->ctl_fd);
			nx__chan_unmap(&ch->v);
		}
		free(inst->chans);
	}
	doing(inst, "finishing the stages (their fini)");
	if (inst->workers != NULL) {
		nx__pipes_stop(inst);
		for (i = 0; i < inst->nworkers; i++) {
			free(inst->workers[i].scratch);
			free(inst->workers[i].chans);
			free(inst->workers[i].rt);
		}
		free(inst->workers);
	}
	nx__pipes_stop(inst);
	/* nothing below can block: the guard has done its job */
	nx_signal_guard_stop(inst->guard);
	inst->guard = NULL;
	if (inst->life_held)
		nx_life_release(inst->life, 0);
	nx_life_unmap(inst->life);
	nx__pool_fini(&inst->pipe_pool);
	nx__pool_fini(&inst->inst_pool);
	nx_evloop_destroy(inst->ev);
	free(inst->cmd);
	free(inst->reply);
	nx_fd_close(inst->notefd);
	if (inst->dlq.base != NULL)
		nx__dlq_close(&inst->dlq, inst->conf.instance, !inst->conf.keep);
	if (inst->hv.base != NULL) {
		bool remove = !inst->conf.keep;

		nx__health_unmap(&inst->hv);
		if (remove)
			nx__health_remove(inst->conf.instance);
	}
	/* the instance is let go last: its socket and lock go with it */
	nx_ctl_unlisten(inst->conf.instance, inst->lfd, inst->lock_fd);
	free(inst);
}
