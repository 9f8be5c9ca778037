/*
 * The control socket, on the control thread: nxd's listening socket, the
 * peers that have not attached (nxctl, or a client before ATTACH), the
 * attach and reclaim handshakes that give a client its channel, nxctl's
 * commands (cmd.c) and their replies, and the attached clients' sockets,
 * whose close is their detach. Once a second, a sweep.
 *
 * Holding the instance: a lock in the runtime directory, beside the
 * control socket (platform/linux/ctl.c). The kernel releases it when nxd
 * dies, however it dies, so a restarted nxd takes over at once, and a
 * second nxd on a live instance is refused.
 */
#include <stddef.h>
#include <string.h>

#include "shm/ctl_frame.h"

#include "core/control/chantab.h"
#include "core/control/cmd.h"
#include "core/control/ctl_msg.h"
#include "core/control/ctl_server.h"
#include "core/control/pipetab.h"
#include "core/control/segment.h"

enum { KEY_LISTEN = 1, KEY_NOTIFY, KEY_PEER, KEY_CHAN };
#define KEY(type, idx) (((uint64_t)(type) << 32) | (uint32_t)(idx))

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
	nx__evloop_del(inst->ev, p->fd);
	nx__fd_close(p->fd);
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
	if (c->uid == nx__process_uid() ||
	    (inst->conf.admin_gid >= 0 && nx__ctl_peer_in_group(fd, c, (uint32_t)inst->conf.admin_gid)))
		return ROLE_ADMIN;
	if (inst->conf.allow_gid >= 0 && nx__ctl_peer_in_group(fd, c, (uint32_t)inst->conf.allow_gid))
		return ROLE_CLIENT;
	return ROLE_NONE;
}

/*
 * Quotas hold for every uid but nxd's own (which is as trusted as nxd:
 * it could stop it): so many connections pending (here), so many channels
 * per uid and per process (chantab.c). Other clients are unaffected by one
 * at its quota.
 */
static int
pending_quota(const struct nx_instance *inst, const struct nx_peer_cred *c)
{
	unsigned i, n = 0;

	if (c->uid == nx__process_uid())
		return 0;
	for (i = 0; i < NX_MAX_PEERS; i++)
		n += inst->peers[i].fd >= 0 && inst->peers[i].cred.uid == c->uid;
	if (n >= inst->conf.uid_pending)
		return nx__err(NX_EQUOTA, "uid %u has %u connections pending on instance '%s': "
			       "its quota (uid_pending)", c->uid, inst->conf.uid_pending,
			       inst->conf.instance);
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

		fd = nx__ctl_accept(inst->lfd, &cred);
		if (fd == NX_EAGAIN)
			return;
		if (fd < 0) {
			/* out of descriptors, say: the connection stays queued and
			 * the socket readable, so stop watching it (no busy loop)
			 * and look again at the next sweep */
			nx__log(NX_LOG_WARN, "accept: %s: not listening for a second", nx__errmsg());
			nx__evloop_del(inst->ev, inst->lfd);
			inst->listen_paused = true;
			return;
		}
		role = peer_role(inst, fd, &cred);
		if (role == ROLE_NONE) {
			char who[48];

			nx__log(NX_LOG_WARN, "refused %s: uid %u not allowed",
			       nx__peer_who(cred.pid, who, sizeof who), cred.uid);
			nx__ctl_reply_error(fd, NX_EPERM,
					    "uid %u may not attach to instance '%s' (nxd runs as uid %u%s)",
					    cred.uid, inst->conf.instance, nx__process_uid(),
					    inst->conf.allow_gid >= 0 || inst->conf.admin_gid >= 0
						    ? ", or its allowed or admin group" : "");
			nx__fd_close(fd);
			continue;
		}
		if (pending_quota(inst, &cred) < 0) {
			nx__ctl_reply_error(fd, NX_EQUOTA, "%s", nx__errmsg());
			nx__fd_close(fd);
			continue;
		}
		for (i = 0; i < NX_MAX_PEERS && inst->peers[i].fd >= 0; i++)
			;
		if (i == NX_MAX_PEERS || nx__evloop_add(inst->ev, fd, KEY(KEY_PEER, i)) < 0) {
			nx__ctl_reply_error(fd, NX_EBUSY, "too many connections pending; retry");
			nx__fd_close(fd);
			continue;
		}
		inst->peers[i].fd = fd;
		inst->peers[i].cred = cred;
		inst->peers[i].admin = role == ROLE_ADMIN;
		inst->peers[i].since_ns = nx__clock_ns();
	}
}

/* Hand a mapped channel to its worker and keep the client's socket to
 * notice when it goes. The peer slot is consumed. */
static int
chan_serve(struct nx_instance *inst, struct nx_wchan *ch, struct nx_peer *p)
{
	int rc;

	rc = nx__chan_serve(inst, ch);
	if (rc < 0)
		return rc;
	nx__evloop_del(inst->ev, p->fd);
	ch->ctl_fd = p->fd;
	p->fd = -1;
	if (nx__evloop_add(inst->ev, ch->ctl_fd, KEY(KEY_CHAN, ch->id)) < 0) {
		nx__log(NX_LOG_ERR, "channel %u: cannot watch its client: %s", ch->id, nx__errmsg());
		return NX_EIO;
	}
	return 0;
}

static void
peer_attach(struct nx_instance *inst, struct nx_peer *p, const struct nx_ctl_msg *m)
{
	struct nx_wchan *ch;
	int id, rc;

	if (m->abi_version != NX_CTL_VERSION) {
		nx__ctl_reply_error(p->fd, NX_EABI,
				    "client speaks ABI %u but nxd of instance '%s' speaks ABI %u: "
				    "rebuild the client against the installed libnx",
				    m->abi_version, inst->conf.instance, NX_CTL_VERSION);
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
	if (!nx__chantab_room(inst)) {
		nx__ctl_reply_error(p->fd, NX_EBUSY, "instance '%s' has %u channel changes waiting "
				    "for a grace period: retry", inst->conf.instance, NX_MAX_RETIRED);
		goto drop;
	}
	rc = nx__chantab_quota(inst, &p->cred);
	if (rc < 0) {
		nx__ctl_reply_error(p->fd, rc, "%s", nx__errmsg());
		goto drop;
	}
	id = nx__chantab_free_slot(inst);
	if (id < 0) {
		nx__ctl_reply_error(p->fd, NX_ENOSPC,
				    "all %u channels of instance '%s' are in use (max_channels)",
				    inst->conf.max_channels, inst->conf.instance);
		goto drop;
	}
	ch = &inst->chans[id];
	ch->worker = nx__chantab_least_loaded(inst)->idx;
	rc = nx__chan_create(&ch->v, &inst->cgeom, (uint32_t)id, ch->worker, m->wait_mode,
			     inst->generation);
	if (rc < 0) {
		nx__ctl_reply_error(p->fd, rc, "cannot create a channel: %s", nx__errmsg());
		goto drop;
	}
	/* which file it is: a reclaim must hand this one back (peer_reclaim) */
	rc = nx__fd_ident(ch->v.fd, &ch->hc->seg_dev, &ch->hc->seg_ino);
	if (rc < 0) {
		nx__chan_unmap(&ch->v);
		nx__ctl_reply_error(p->fd, rc, "cannot create a channel: %s", nx__errmsg());
		goto drop;
	}
	if (inst->conf.mlock)
		nx__mem_prefault(ch->v.base, ch->v.g.layout_bytes, true);
	ch->in_use = true;
	ch->sleep_client = m->wait_mode == NX_WAIT_SLEEP;
	ch->pid = p->cred.pid;
	ch->uid = p->cred.uid;
	ch->taken = ch->answered = ch->errors = 0;
	ch->replay_until = 0;
	ch->replay = false;
	nx__chan_limits(inst, ch);
	nx__chan_record(inst, ch, &p->cred, m->wait_mode);
	rc = nx__ctl_reply_ok(p->fd, (uint32_t)id, inst->generation, ch->v.fd);
	/* handed over: nxd keeps the mapping, not the descriptor (no other
	 * process can be given it, and a restart gets it back from the client) */
	nx__fd_close(ch->v.fd);
	ch->v.fd = -1;
	if (rc == 0)
		rc = chan_serve(inst, ch, p);
	if (rc < 0) {
		if (p->fd >= 0)
			peer_drop(inst, p);
		nx__chan_detach(inst, ch, "attach failed");
		return;
	}
	if (!inst->conf.quiet) {
		char who[48];

		nx__log(NX_LOG_INFO, "channel %d attached: %s uid %u, worker %u, %s", id,
		       nx__peer_who(ch->pid, who, sizeof who), p->cred.uid, ch->worker,
		       ch->sleep_client ? "client sleeps" : "client spins");
	}
	return;
drop:
	peer_drop(inst, p);
}

/*
 * Is the peer the client of orphan hc, handing over fd? It must hand over
 * the very file the channel is (proof of possession: only its client, and
 * what it chose to share it with, holds that memfd; a header it rewrote
 * to name another channel does not make it that channel), under the same
 * uid; and when the dead nxd could see its pid, be that process still
 * (pid and start time). A pid of 0 (a client in a PID namespace nxd
 * cannot see, or a record from another namespace) proves nothing and is
 * never looked up: the file is the proof.
 */
static bool
orphan_of(const struct nx_health_chan *hc, const struct nx_peer_cred *cred, int fd)
{
	uint64_t dev, ino;

	if (hc->uid != cred->uid || hc->seg_ino == 0)
		return false;
	if (hc->pid > 0 && (hc->pid != cred->pid ||
			    hc->pid_start != nx__process_start_time(cred->pid)))
		return false;
	return nx__fd_ident(fd, &dev, &ino) == 0 && dev == hc->seg_dev && ino == hc->seg_ino;
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

	if (m->abi_version != NX_CTL_VERSION) {
		nx__ctl_reply_error(p->fd, NX_EABI, "client speaks ABI %u, nxd speaks ABI %u",
				    m->abi_version, NX_CTL_VERSION);
		goto drop;
	}
	if (fd < 0 || m->chan_id >= inst->conf.max_channels) {
		nx__ctl_reply_error(p->fd, NX_EINVAL, "reclaim needs a channel id and its segment");
		goto drop;
	}
	if (!nx__chantab_room(inst)) {
		nx__ctl_reply_error(p->fd, NX_EBUSY, "%u channel changes wait for a grace period: "
				    "retry", NX_MAX_RETIRED);
		goto drop;
	}
	ch = &inst->chans[m->chan_id];
	hc = ch->hc;
	if (ch->in_use || hc->state != NX_CHAN_ORPHANED || !orphan_of(hc, &p->cred, fd)) {
		char who[48];

		nx__peer_who(p->cred.pid, who, sizeof who);
		/* a client whose orphan was freed meanwhile, or one after another's */
		nx__log(NX_LOG_WARN, "reclaim of channel %u refused: %s, uid %u, is not its "
		       "client", m->chan_id, who, p->cred.uid);
		nx__ctl_reply_error(p->fd, NX_ENOENT,
				    "channel %u is not an orphan of this client (%s, uid %u, with "
				    "its segment): attach anew", m->chan_id, who, p->cred.uid);
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
	nx__fd_close(ch->v.fd); /* the mapping is all nxd keeps */
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
	/* An answer the dead nxd wrote in full (its seq, written last) but did
	 * not count (killed before its p_tail store) is answered: the client
	 * may have taken it by its seq already. Run again, it would run twice
	 * and write its output over whatever the client has put in the arena
	 * since. A client that forged a seq there skips a replay of its own. */
	while (answered != taken && nx__resp_ready(&ch->v, answered))
		answered++;
	ck_pr_store_uint(&ch->v.resp->p_tail, answered);
	/* What was taken and not answered is replayed in place, with the
	 * replay rule (worker.c: replay_take); c_head stays at taken, so that
	 * a restart before the replay ends still knows what may have run. */
	ch->replay_until = taken;
	ch->replay = taken != answered;
	ch->in_use = true;
	ch->worker = nx__chantab_least_loaded(inst)->idx;
	ch->v.hdr->worker = ch->worker;
	ch->sleep_client = hc->wait_mode == NX_WAIT_SLEEP;
	ch->pid = p->cred.pid;
	ch->uid = p->cred.uid;
	/* who holds it now, as this nxd sees it */
	hc->pid = p->cred.pid;
	hc->pid_start = p->cred.pid > 0 ? nx__process_start_time(p->cred.pid) : 0;
	ch->taken = ch->answered = answered;
	ch->errors = 0;
	nx__chan_limits(inst, ch);
	hc->worker = ch->worker;
	nx__store32(&hc->state, NX_CHAN_ATTACHED);
	rc = nx__ctl_reply_ok(p->fd, m->chan_id, inst->generation, -1);
	if (rc == 0)
		rc = chan_serve(inst, ch, p);
	if (rc < 0) {
		if (p->fd >= 0)
			peer_drop(inst, p);
		nx__chan_detach(inst, ch, "reclaim failed");
		return;
	}
	nx__store64(&inst->hv.hdr->orphans_reclaimed, inst->hv.hdr->orphans_reclaimed + 1);
	{
		char who[48];

		nx__log(NX_LOG_INFO, "channel %u reclaimed by %s: %u in flight at the restart, "
		       "%u waiting", m->chan_id, nx__peer_who(ch->pid, who, sizeof who),
		       taken - answered, submitted - taken);
	}
	return;
drop:
	nx__fd_close(fd);
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
		r->hdr.abi_version = NX_CTL_VERSION;
		r->hdr.status = p->reply_status;
		r->len = (uint32_t)n;
		r->more = !last;
		if (n != 0)
			memcpy(r->text, b->p + p->reply_off, n);
		rc = nx__ctl_send(p->fd, r, offsetof(struct nx_ctl_reply, text) + n, -1);
		if (rc == NX_EAGAIN) {
			if (!p->replying && nx__evloop_mod(inst->ev, p->fd, KEY(KEY_PEER, idx),
							  NX_EV_OUT) < 0) {
				peer_drop(inst, p);
				return;
			}
			p->replying = true;
			return;
		}
		if (rc < 0) {
			char who[48];

			if (rc != NX_ECLOSED)
				nx__log(NX_LOG_WARN, "nxctl (%s): reply not sent: %s",
				       nx__peer_who(p->cred.pid, who, sizeof who), nx__errmsg());
			peer_drop(inst, p);
			return;
		}
		p->since_ns = nx__clock_ns(); /* progress */
		p->reply_off += n;
		if (last)
			break;
	}
	if (p->replying && nx__evloop_mod(inst->ev, p->fd, KEY(KEY_PEER, idx), NX_EV_IN) < 0) {
		peer_drop(inst, p);
		return;
	}
	reply_forget(inst, p); /* whole: it may send another command */
}

/* An nxctl command: argc NUL-terminated strings, checked before use. */
static void
peer_command(struct nx_instance *inst, struct nx_peer *p, struct nx_ctl_cmd *c, size_t got)
{
	char *argv[64], who[48];
	struct nx_buf out = { 0 };
	int rc, argc;

	if (!p->admin) {
		/* refused before anything of it is read: no file opened, no plugin loaded */
		nx__log(NX_LOG_WARN, "refused a command from %s: uid %u may attach, not administer",
		       nx__peer_who(p->cred.pid, who, sizeof who), p->cred.uid);
		nx__ctl_reply_error(p->fd, NX_EPERM, "control commands need the admin role (nxd's "
				    "uid %u%s); uid %u may only attach", nx__process_uid(),
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
	nx__instance_doing(inst, "an nxctl command (a stage's init, self-test, probe or fini, or a plugin's "
	      "constructor)");
	rc = nx__cmd_run(inst, argc, argv, (c->hdr.wait_mode & NX_CTL_CMD_JSON) != 0, &out);
	nx__instance_doing(inst, NULL);
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
		nx__log(rc < 0 ? NX_LOG_WARN : NX_LOG_INFO, "nxctl (%s) %s: %s",
		       nx__peer_who(p->cred.pid, who, sizeof who), argv[0], rc < 0 ? nx__errmsg() : "done");
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
	p->since_ns = nx__clock_ns(); /* it may send another */
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

	n = nx__ctl_recv(p->fd, c, sizeof *c, &fd, 0);
	if (n == NX_EAGAIN)
		return;
	if (n < 0 || (size_t)n < sizeof c->hdr) {
		if (n != NX_ECLOSED)
			nx__ctl_reply_error(p->fd, n < 0 ? n : NX_EPROTO, "%s",
					    n < 0 ? nx__errmsg() : "message too short");
		nx__fd_close(fd);
		peer_drop(inst, p);
		return;
	}
	switch (c->hdr.type) {
	case NX_CTL_ATTACH:
	case NX_CTL_RECLAIM:
		if ((size_t)n != sizeof c->hdr) {
			nx__fd_close(fd);
			nx__ctl_reply_error(p->fd, NX_EPROTO, "malformed control message");
			peer_drop(inst, p);
		} else if (c->hdr.type == NX_CTL_ATTACH) {
			nx__fd_close(fd);
			peer_attach(inst, p, &c->hdr);
		} else {
			peer_reclaim(inst, p, &c->hdr, fd);
		}
		break;
	case NX_CTL_COMMAND:
		nx__fd_close(fd);
		peer_command(inst, p, c, (size_t)n);
		break;
	default:
		nx__fd_close(fd);
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
	nx__fd_close(fd);
	if (rc == NX_EAGAIN && !(flags & NX_EV_HUP))
		return;
	/* Clients say nothing once attached: any message or a close ends it. */
	nx__chan_detach(inst, ch, rc == NX_ECLOSED || rc == NX_EAGAIN ? "client closed" : "protocol error");
}

/* Once a second: drop silent connections, free orphans whose client died,
 * destroy what swaps replaced. */
static void
sweep(struct nx_instance *inst, uint64_t now)
{
	uint32_t i;

	nx__pipetab_reclaim(inst, true);
	nx__chantab_reclaim(inst, true);
	nx__chantab_detach_retry(inst);
	if (inst->listen_paused && nx__evloop_add(inst->ev, inst->lfd, KEY(KEY_LISTEN, 0)) == 0)
		inst->listen_paused = false;
	for (i = 0; i < NX_MAX_PEERS; i++) {
		struct nx_peer *p = &inst->peers[i];

		if (p->fd >= 0 && now - p->since_ns > NX_PEER_TIMEOUT_NS) {
			char who[48];

			if (p->replying)
				nx__log(NX_LOG_WARN, "nxctl (%s) read none of its answer for 5 s: "
				       "dropped", nx__peer_who(p->cred.pid, who, sizeof who));
			else
				nx__ctl_reply_error(p->fd, NX_ETIMEDOUT, "no request within 5 s");
			peer_drop(inst, p);
		}
	}
	nx__chantab_sweep_orphans(inst);
}

/* ---- the server's life ---- */

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

int
nx__ctl_server_listen(struct nx_instance *inst)
{
	inst->lfd = nx__ctl_listen(inst->conf.instance, &inst->lock_fd);
	if (inst->lfd == NX_EBUSY) {
		say_busy(inst->conf.instance);
		return NX_EBUSY;
	}
	return inst->lfd < 0 ? inst->lfd : 0;
}

int
nx__ctl_server_start(struct nx_instance *inst)
{
	int rc;

	inst->cmd = nx__mem_alloc(sizeof *inst->cmd);
	inst->reply = nx__mem_alloc(sizeof *inst->reply);
	if (inst->cmd == NULL || inst->reply == NULL)
		return nx__err(NX_ENOMEM, "control buffers");
	rc = nx__evloop_create(&inst->ev);
	if (rc < 0)
		return rc;
	rc = nx__evloop_add(inst->ev, inst->lfd, KEY(KEY_LISTEN, 0));
	if (rc == 0)
		rc = nx__evloop_add(inst->ev, inst->notefd, KEY(KEY_NOTIFY, 0));
	return rc;
}

int
nx__ctl_server_poll(struct nx_instance *inst)
{
	uint64_t keys[64];
	uint32_t flags[64];
	int i, n = nx__evloop_wait(inst->ev, keys, flags, 64, 1000000000ull);
	uint64_t now;

	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		uint32_t type = (uint32_t)(keys[i] >> 32), idx = (uint32_t)keys[i];

		switch (type) {
		case KEY_LISTEN:
			on_listen(inst);
			break;
		case KEY_NOTIFY: /* a stop, or the grace thread */
			nx__notify_drain(inst->notefd);
			nx__pipetab_reclaim(inst, true);
			nx__chantab_reclaim(inst, true);
			nx__chantab_detach_retry(inst);
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
	now = nx__clock_ns();
	if (now - inst->last_sweep_ns > 1000000000ull) {
		sweep(inst, now);
		inst->last_sweep_ns = now;
	}
	return 0;
}

void
nx__ctl_server_stop_listening(struct nx_instance *inst)
{
	if (!inst->listen_paused)
		nx__evloop_del(inst->ev, inst->lfd);
	nx__fd_close(inst->lfd);
	inst->lfd = -1;
}

void
nx__ctl_server_drop_peers(struct nx_instance *inst)
{
	unsigned i;

	for (i = 0; i < NX_MAX_PEERS; i++) {
		nx__fd_close(inst->peers[i].fd);
		nx__buf_free(&inst->peers[i].reply);
	}
}

void
nx__ctl_server_fini(struct nx_instance *inst)
{
	nx__evloop_destroy(inst->ev);
	inst->ev = NULL;
	nx__mem_free(inst->cmd);
	nx__mem_free(inst->reply);
	inst->cmd = NULL;
	inst->reply = NULL;
}

void
nx__ctl_server_unlisten(struct nx_instance *inst)
{
	nx__ctl_unlisten(inst->conf.instance, inst->lfd, inst->lock_fd);
}
