/*
 * The worker: a pinned thread that polls its channels, takes bursts of
 * requests, runs each one's pipeline to completion and answers in place.
 *
 * Per loop: read the channel set and the pipeline table (RCU), visit each
 * channel, store the loop count, mark a quiescent state. Per request: one
 * 64-byte copy out of the request ring, checks on that copy, the
 * pipeline, the answer written straight into the reserved response slot.
 * No allocation, no lock, no system call unless a peer asked to be woken.
 *
 * Ordering against a client (each side's ring operations are ck's):
 *   - reserve the response slot before taking the request, so a client
 *     that stopped reading its answers only stops its own channel;
 *   - a sleeping client is woken after the burst (Dekker with its
 *     client_waiting store, see wake_client);
 *   - the worker sleeps only after announcing it and re-checking every
 *     ring (Dekker with the client's doorbell, see worker_sleep).
 */
#include <string.h>

#include "platform/nx_rcu.h"
#include "core/control/life.h"

#include "core/datapath/dlq.h"
#include "core/datapath/pipe_run.h"
#include "core/datapath/worker.h"

static int
fail(struct nx_worker *w, int kind, int status)
{
	w->errors[kind]++;
	w->errors_dirty = true;
	return status;
}

/* An answer's status, with no payload yet (the seq is the caller's to
 * write, last: nx__resp_publish). */
static inline void
answer_status(struct nx_resp_desc *rs, int status)
{
	rs->status = (int16_t)status;
	rs->flags = 0;
	rs->len = 0;
}

/*
 * CLOCK_MONOTONIC from the TSC: the worker reads the TSC once a loop, and
 * the clock once a heartbeat (1 ms); between, the clock is the last
 * heartbeat's plus the ticks since. Deadlines are in microseconds: this
 * is exact enough, and a request's deadline check costs a multiply, not
 * a clock read.
 */
static inline uint64_t
worker_now_ns(const struct nx_worker *w, uint64_t ticks)
{
	return w->now_ns + nx__ticks_to_ns(ticks - w->now_ticks);
}

/* A request that failed after its policies goes to the worker's
 * dead-letter ring, with its reason (off the fast path: failures only). */
static __attribute__((noinline, cold)) void
dead_letter(struct nx_worker *w, const struct nx_wchan *ch, const struct nx_pipeline *p,
	    const struct nx_req_desc *rq, const struct nx_msg *msg, int status)
{
	if (w->dlq == NULL)
		return;
	nx__dlq_put(w->dlq, w->dlq_entries, status, w->now_ns, w->generation, ch->pid, ch->id,
		    (rq->flags & NX_DESC_IDEMPOTENT) ? NX_DLQ_F_IDEMPOTENT : 0,
		    w->ctx.nroute != 0 ? w->ctx.route[w->ctx.nroute - 1] : 0xffff, p->name,
		    msg->in, msg->in_len, &w->dlq_written, &w->dlq_dropped);
}

/* What every run of this worker's pipelines gets, set once rather than
 * built on every request: none of it changes while the worker runs. */
static void
exec_init(struct nx_worker *w)
{
	w->exec = (struct nx_exec){ .ctx = &w->ctx, .scratch = w->scratch,
				    .scratch_cap = w->scratch_cap, .max_payload = w->max_payload,
				    .rr = w->rr, .stats = w->stats, .hists = w->slot_hist,
				    .pol = w->slot_pol, .nstats = w->nstats, .worker = w->idx };
}

/* Inlined into the poll loop: a call less on every request. */
static inline __attribute__((always_inline)) int
serve_one(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes,
	  const struct nx_req_desc *rq, struct nx_resp_desc *rs, uint32_t seq, uint32_t rslot,
	  uint64_t ticks, bool first, uint32_t backlog)
{
	const struct nx_chan_geom *g = &ch->v.g;
	const struct nx_pipeline *p = NULL;
	struct nx_ctx *ctx = &w->ctx;
	struct nx_msg msg;
	uint8_t where = 0; /* where the answer goes: 0 inline, or NX_RESP_ARENA / _EXT */
	int status;

	if (rq->flags & ~NX_DESC_KNOWN) {
		status = fail(w, NX_WERR_BADDESC, NX_EBADDESC);
		goto answer;
	}
	if (rq->pipeline >= pipes->n || (p = pipes->p[rq->pipeline]) == NULL) {
		status = fail(w, NX_WERR_NOPIPE, NX_ENOPIPE);
		goto answer;
	}
	if (rq->flags & NX_DESC_ARENA) {
		struct nx_req_arena ar;

		memcpy(&ar, rq->data, sizeof ar);
		if (rq->len != 0 || (rq->flags & (NX_DESC_EXT | NX_DESC_OUT_EXT)) ||
		    ar.in_len > g->max_payload || ar.out_cap > g->max_payload ||
		    (uint64_t)ar.in_off + ar.in_len > g->arena_bytes ||
		    (uint64_t)ar.out_off + ar.out_cap > g->arena_bytes ||
		    /* a stage's input and output never overlap (nx_stage.h) */
		    (ar.in_len != 0 && ar.out_cap != 0 && ar.in_off < ar.out_off + ar.out_cap &&
		     ar.out_off < ar.in_off + ar.in_len)) {
			status = fail(w, NX_WERR_BADDESC, NX_EBADDESC);
			goto answer;
		}
		msg.in = ch->v.arena + ar.in_off;
		msg.in_len = ar.in_len;
		msg.out = ch->v.arena + ar.out_off;
		msg.out_cap = ar.out_cap;
		where = NX_RESP_ARENA;
	} else {
		if (rq->flags & NX_DESC_EXT) {
			if (rq->len > NX_EXT_BYTES) {
				status = fail(w, NX_WERR_BADDESC, NX_EBADDESC);
				goto answer;
			}
			msg.in = ch->v.req_ext + (size_t)(seq & (g->ring_size - 1)) * NX_EXT_BYTES;
		} else {
			if (rq->len > NX_INLINE_MAX) {
				status = fail(w, NX_WERR_BADDESC, NX_EBADDESC);
				goto answer;
			}
			msg.in = rq->data;
		}
		msg.in_len = rq->len;
		if (rq->flags & NX_DESC_OUT_EXT) {
			msg.out = ch->v.resp_ext + (size_t)(rslot & (g->ring_size - 1)) * NX_EXT_BYTES;
			msg.out_cap = NX_EXT_BYTES;
			where = NX_RESP_EXT;
		} else {
			msg.out = rs->data;
			msg.out_cap = NX_INLINE_MAX;
		}
	}
	/* Own the answer's lines while the stage reads the input: as many
	 * as the channel's last answer took (one at first). */
	if (where == NX_RESP_EXT)
		nx__ext_own(msg.out, ch->resp_ext_lines != 0 ? ch->resp_ext_lines : 1);
	else if (where != 0)
		nx__prefetch_w(msg.out);
	msg.out_len = 0;

	ctx->deadline_ns = 0;
	ctx->seq = seq;
	ctx->channel = ch->id;
	ctx->backlog = backlog;
	ctx->flags = (rq->flags & NX_DESC_IDEMPOTENT) ? NX_CTX_IDEMPOTENT : 0;
	/* 1 request in stage_timing has its stages timed */
	if (!NX_NO_COUNTERS && (++w->timing_count & w->timing_mask) == 0 && w->timing_on)
		ctx->flags |= NX_CTX_TIMED;
	ctx->nmeta = 0;
	ctx->nroute = 0;
	ctx->start_ns = 0;
	if (rq->flags & NX_DESC_DEADLINE) {
		uint64_t now = worker_now_ns(w, ticks);
		int32_t left_us = (int32_t)(rq->deadline_us - (uint32_t)(now / 1000));

		if (left_us <= 0) {
			status = NX_EEXPIRED;
			ch->expired++;
			dead_letter(w, ch, p, rq, &msg, status);
			goto answer;
		}
		ctx->start_ns = now;
		ctx->deadline_ns = now + (uint64_t)left_us * 1000;
	}

	/* The loop's TSC read is this request's start if it is the burst's
	 * first: the rest came after others ran. */
	w->exec.t_start = ticks;
	w->exec.t_route = first ? 0 : UINT32_MAX;
	if (__builtin_expect(ctx->flags & NX_CTX_TIMED, 0)) {
		/* a sampled request: its service time, for the worker's histogram */
		uint64_t t0 = nx__ticks();

		status = nx__pipeline_run(p, &msg, &w->exec);
		nx__lhist_record(w->hist, nx__ticks_to_ns(nx__ticks() - t0));
	} else {
		status = nx__pipeline_run(p, &msg, &w->exec);
	}
	if (status == 0 && msg.out_len > msg.out_cap)
		status = NX_EOVERFLOW; /* a stage lied about its output */
	if (status < 0) {
		if (status < NX_ERRNO_MIN)
			status = NX_ESTAGE; /* a code nexus does not have: the stage failed */
		fail(w, status == NX_EOVERFLOW ? NX_WERR_OVERFLOW : NX_WERR_STAGE, status);
		if (status != NX_EOVERFLOW)
			dead_letter(w, ch, p, rq, &msg, status);
	}

answer: /* the seq is the caller's to write, last (nx__resp_publish) */
	answer_status(rs, status);
	if (status == 0) {
		rs->flags = where | ((ctx->flags & NX_CTX_DEGRADED) ? NX_RESP_DEGRADED : 0);
		if (where == NX_RESP_ARENA)
			memcpy(rs->data, &msg.out_len, sizeof msg.out_len);
		else
			rs->len = (uint8_t)msg.out_len;
		ch->resp_ext_lines = where == NX_RESP_EXT ? (uint8_t)nx__ext_lines(msg.out_len) : 0;
	}
	return status;
}

int
nx__worker_serve(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes,
		 const struct nx_req_desc *rq, struct nx_resp_desc *rs, uint32_t seq,
		 uint32_t rslot)
{
	/* as the loop does: a time base, then the TSC */
	exec_init(w);
	w->now_ns = nx__clock_ns();
	w->now_ticks = nx__ticks();
	int rc = serve_one(w, ch, pipes, rq, rs, seq, rslot, w->now_ticks, true, 0);

	rs->seq = seq;
	return rc;
}

/* Wake the client if it sleeps. Its side: client_waiting = 1, fence, check
 * the response ring, sleep on resp_bell. Ours: answers published, fence,
 * read client_waiting. One of us sees the other. */
static void
wake_client(struct nx_chan_hdr *h)
{
	ck_pr_fence_store_load(); /* pairs with the fence in client_sleep() (libnx) */
	if (nx__load32(&h->client_waiting) != 0) {
		nx__store32(&h->resp_bell, nx__load32(&h->resp_bell) + 1);
		nx__futex_wake(&h->resp_bell, 1, true);
	}
}

/*
 * After a restart: the next request the dead nxd took and did not
 * answer, [answered, taken). It is read in place, at the answer's
 * sequence (answers go in order), and c_head stays at taken: if this nxd
 * dies too before answering them all, the next one finds the rest still
 * in [answered, taken) and refuses them as well, never running one as new.
 * @return false when none is left
 */
static bool
replay_take(struct nx_wchan *ch, struct nx_req_desc *rq, uint32_t *seq)
{
	const struct nx_chan_view *v = &ch->v;
	const uint32_t s = v->resp->p_tail;

	if ((int32_t)(s - ch->replay_until) >= 0) {
		ch->replay = false;
		return false;
	}
	*rq = v->req_slots[s & (v->g.ring_size - 1)]; /* our copy, checked like any other */
	*seq = s;
	return true;
}

/* A replayed request may have run: run it again only when the client
 * marked it idempotent. */
static bool
replay_refuses(const struct nx_req_desc *rq, struct nx_resp_desc *rs)
{
	if (rq->flags & NX_DESC_IDEMPOTENT)
		return false;
	answer_status(rs, NX_ERESTARTED);
	return true;
}

/* A channel's counters, to its health record, after each burst. The
 * rest of its record (depth, outstanding, last activity) is for people
 * and watchdogs: it waits for the heartbeat (heartbeat_chans). */
static void
publish_chan(struct nx_wchan *ch)
{
	struct nx_health_chan *hc = ch->hc;

	if (NX_NO_COUNTERS)
		return;
	nx__store64(&hc->taken, ch->taken);
	nx__store64(&hc->answered, ch->answered);
	nx__store64(&hc->errors, ch->errors);
}

/*
 * A request's backlog (nx_ctx.backlog): the requests after it up to the
 * producer index, as last read. Reading that index is a line transfer
 * the hand-off otherwise avoids, so it is read only where a queue has
 * been seen: from a burst's second request on, and at the start of a
 * burst after one that took more than one. A lone request after a quiet
 * spell therefore sees 0, as a request in ping-pong should. A request
 * that came after the read (at or past that index) gets 0. The index is
 * the client's to write: anything not below twice the ring (a
 * "negative" distance included) is 0 too.
 */
static inline uint32_t
backlog_of(uint32_t tail, uint32_t seq, uint32_t ring_size)
{
	const uint32_t d = tail - seq - 1;

	return d < 2 * ring_size ? d : 0;
}

/* A request the index published without its lap: answered, not run. */
static void
answer_bad(struct nx_worker *w, struct nx_wchan *ch, struct nx_resp_desc *rs)
{
	fail(w, NX_WERR_BADDESC, NX_EBADDESC);
	ch->errors++;
	answer_status(rs, NX_EBADDESC);
}

/* @param tp the loop's TSC read: 0 until a channel has work, then read
 * once for the whole loop (an idle loop reads no clock) */
static unsigned
serve_channel(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes,
	      uint64_t *tp)
{
	struct nx_chan_view *v = &ch->v;
	/* Taken by the index up to here, lap or not: see below. */
	uint32_t by_index = v->req->c_head, tail = by_index;
	bool limited, queue = ch->queued;
	uint64_t ticks;
	unsigned n;

	/* Cheap emptiness test first: an idle channel costs one read, of the
	 * slot it expects next. */
	if (!nx__req_ready(v, by_index) && !ch->replay) {
		if (!ch->check_index)
			return 0;
		/* Once a heartbeat, the index too: what it published without a
		 * lap is taken, and refused (shm/abi/channel.h). */
		ch->check_index = false;
		by_index = ck_pr_load_uint(&v->req->p_tail);
		if (nx__ring_ahead(by_index, v->req->c_head) - 1 >= v->g.ring_size)
			return 0; /* none, or more than a ring: not believed */
		tail = by_index;
	}
	if (queue)
		tail = ck_pr_load_uint(&v->req->p_tail);
	if (*tp == 0)
		*tp = nx__ticks();
	ticks = *tp;
	/* A rate limit costs one clock read a burst; none without one. */
	if (__builtin_expect(ck_pr_load_32(&ch->rl_gen) != ch->rl_seen, 0)) {
		ch->rl_seen = ck_pr_load_32(&ch->rl_gen);
		ck_pr_fence_load(); /* rate and burst were stored before rl_gen */
		nx__bkt_init(&ch->bkt, ck_pr_load_32(&ch->rl_rate), ck_pr_load_32(&ch->rl_burst),
			    nx__ns_to_ticks(1000000000ull), nx__ticks());
	}
	limited = ch->bkt.rate != 0; /* the loop's TSC read dates the burst */
	for (n = 0; n < NX_BURST; n++) {
		struct nx_resp_desc *rs;
		struct nx_req_desc rq;
		uint32_t seq = v->req->c_head;
		bool replayed, bad = false;

		rs = nx__resp_reserve(v);
		if (rs == NULL)
			break; /* the client is not reading its answers */
		if (ck_pr_load_32(&w->stop) != 0)
			break; /* stopping: take nothing more */
		replayed = __builtin_expect(ch->replay, 0) && replay_take(ch, &rq, &seq);
		if (!replayed) {
			if (!nx__req_ready(v, seq)) {
				if ((int32_t)(by_index - seq) <= 0)
					break;
				bad = true; /* published by the index, not by its lap */
			}
			/* An extension sits at the slot's index: fetch its lines
			 * alongside the descriptor, as many as this channel's last
			 * request's took (none when it had none). Not before the
			 * lap says the request is there: the client would have to
			 * take those lines back to write them. */
			nx__ext_fetch(v->req_ext + (size_t)(seq & (v->g.ring_size - 1)) * NX_EXT_BYTES,
				      ch->req_ext_lines);
			nx__req_take(v, seq, &rq);
			if (n == 1 && !queue) {
				queue = true; /* a queue: its length is worth a read */
				tail = ck_pr_load_uint(&v->req->p_tail);
			}
		}
		ch->req_ext_lines = (rq.flags & NX_DESC_EXT) ? (uint8_t)nx__ext_lines(rq.len) : 0;
		if (__builtin_expect(bad, 0)) {
			answer_bad(w, ch, rs);
		} else if (__builtin_expect(replayed, 0) && replay_refuses(&rq, rs)) {
			ch->errors++;
		} else if (__builtin_expect(limited, 0) && !nx__bkt_take(&ch->bkt, ticks)) {
			/* over the channel's rate: answered at once, nothing run */
			ch->errors++;
			ch->rate_limited++;
			answer_status(rs, NX_ERATELIMIT);
		} else if (serve_one(w, ch, pipes, &rq, rs, seq, (uint32_t)(rs - v->resp_slots),
				     ticks, n == 0, backlog_of(tail, seq, v->g.ring_size)) < 0) {
			ch->errors++;
		}
		nx__resp_publish(v, rs, seq);
	}
	ch->queued = n > 1;
	if (n != 0) {
		/* Own the next answer's lines before it is due: the client read
		 * them a ring ago, so our stores would wait for them then. */
		uint32_t next = v->resp->p_tail & (v->g.ring_size - 1);

		nx__prefetch_w(&v->resp_slots[next]);
		nx__ext_own(v->resp_ext + (size_t)next * NX_EXT_BYTES, ch->resp_ext_lines);
		ch->taken += n;
		ch->answered += n;
		if (ch->sleep_client)
			wake_client(v->hdr);
		publish_chan(ch);
	}
	return n;
}

unsigned
nx__worker_poll(struct nx_worker *w, struct nx_wchan *ch, const struct nx_pipetab *pipes)
{
	uint64_t t;

	exec_init(w);
	w->now_ns = nx__clock_ns();
	w->now_ticks = nx__ticks();
	t = w->now_ticks;
	return serve_channel(w, ch, pipes, &t);
}

/* The worker's counters, to the health segment (one writer, plain
 * stores to lines only this worker writes). After each burst only what
 * a burst changes; everything at each heartbeat. */
static void
publish_burst(struct nx_worker *w)
{
	struct nx_health_worker *hw = w->hw;
	unsigned k;

	if (NX_NO_COUNTERS)
		return;
	nx__store64(&hw->taken, w->taken);
	nx__store64(&hw->answered, w->answered);
	if (w->errors_dirty) {
		for (k = 0; k < NX_WERR_KINDS; k++)
			nx__store64(&hw->errors[k], w->errors[k]);
		w->errors_dirty = false;
	}
}

static void
publish(struct nx_worker *w)
{
	struct nx_health_worker *hw = w->hw;

	w->errors_dirty = true;
	publish_burst(w);
	nx__store64(&hw->loops, w->loops);
	nx__store64(&hw->busy_ns, w->busy_ns);
	nx__store64(&hw->sleeps, w->sleeps);
	nx__store64(&hw->dlq_written, w->dlq_written);
	nx__store64(&hw->dlq_dropped, w->dlq_dropped);
}

static void
heartbeat(struct nx_worker *w, uint64_t now)
{
	w->now_ticks = nx__ticks();
	w->now_ns = now;
	nx__store64(&w->hw->heartbeat_ns, now);
}

/* At each heartbeat (1 ms): each channel's depth, outstanding and last
 * activity, where anything changed. Both differences are of indices a
 * client may rewrite: masked to twice the ring, they cannot mislead
 * anyone by more than a ring. */
static void
heartbeat_chans(struct nx_worker *w, const struct nx_chanset *set)
{
	unsigned i;

	for (i = 0; i < set->n; i++)
		set->ch[i]->check_index = true; /* serve_channel: compare the index once */
	if (NX_NO_COUNTERS)
		return;
	for (i = 0; i < set->n; i++) {
		struct nx_wchan *ch = set->ch[i];
		struct nx_health_chan *hc = ch->hc;
		const struct nx_chan_view *v = &ch->v;
		const uint32_t tail = ck_pr_load_uint(&v->req->p_tail);
		const uint32_t mask = 2 * v->g.ring_size - 1;
		/* c_head may run a little ahead of the p_tail we see (the
		 * hand-off takes a slot by its lap): that is none, not 2^32 */
		const uint32_t depth = nx__ring_ahead(tail, v->req->c_head) & mask;
		const uint32_t outstanding = nx__ring_ahead(tail, ck_pr_load_uint(&v->resp->c_head)) & mask;

		if (ch->taken != ch->hb_taken) {
			ch->hb_taken = ch->taken;
			nx__store64(&hc->last_ns, w->now_ns);
		}
		if (depth != hc->depth)
			nx__store32(&hc->depth, depth);
		if (ch->rate_limited != hc->rate_limited)
			nx__store64(&hc->rate_limited, ch->rate_limited);
		if (ch->expired != hc->expired)
			nx__store64(&hc->expired, ch->expired);
		if (ch->bkt.rate != hc->rate || ch->bkt.burst != hc->burst) {
			nx__store32(&hc->rate, (uint32_t)ch->bkt.rate);
			nx__store32(&hc->burst, (uint32_t)ch->bkt.burst);
		}
		if (outstanding != hc->outstanding)
			nx__store32(&hc->outstanding, outstanding);
	}
}

static void
set_state(struct nx_worker *w, uint32_t state)
{
	if (nx__load32(&w->hw->state) != state)
		nx__store32(&w->hw->state, state);
}

#define NX_IDLE_SPIN_NS 50000u /* sleep idle: spin this long before sleeping */
#define NX_SLEEP_HEARTBEAT_NS 20000000u /* a sleeping worker's heartbeat: 50 a second */

/*
 * Sleep until a client rings a doorbell or the control thread bumps
 * ctl_word. The doorbell values are read before we announce sleeping, so
 * a client that saw sleeping == 1 increments a word we compare against an
 * older value: futex_waitv returns at once instead of missing the wake.
 *
 * @return true when the worker went offline: everything it read through
 * RCU before the call (set, the pipeline table) may have been freed
 * since, and the caller must read them again before any use.
 */
static bool
worker_sleep(struct nx_worker *w, const struct nx_chanset *set)
{
	struct nx_futex_waiter wv[NX_FUTEX_WAITV_MAX];
	unsigned i, n = 0;
	/* More channels than futex_waitv takes: the rest are polled on a timer.
	 * Otherwise wake every NX_SLEEP_HEARTBEAT_NS anyway, so that a sleeping
	 * worker's heartbeat stays fresh for the watchdog. */
	const uint64_t timeout_ns = set->n >= NX_FUTEX_WAITV_MAX - 1 ? 1000000 : NX_SLEEP_HEARTBEAT_NS;

	for (i = 0; i < set->n && n < NX_FUTEX_WAITV_MAX - 1; i++) {
		struct nx_chan_hdr *h = set->ch[i]->v.hdr;

		wv[n].word = &h->doorbell;
		wv[n].expected = nx__load32(&h->doorbell);
		wv[n].shared = true;
		n++;
	}
	wv[n].word = &w->ctl_word;
	wv[n].expected = ck_pr_load_32(&w->ctl_word);
	wv[n].shared = false;
	n++;

	nx__store32(&w->hw->sleeping, 1);
	ck_pr_fence_store_load(); /* pairs with the client's fence after its enqueue */
	for (i = 0; i < set->n; i++) {
		/* requests waiting, by the index (a client's rewritten index
		 * that claims more than a ring waiting is not believed) */
		const unsigned pending = nx__ring_pending(set->ch[i]->v.req);

		if (pending != 0 && pending <= set->ch[i]->v.g.ring_size)
			goto awake;
	}
	if (ck_pr_load_32(&w->stop) != 0)
		goto awake;
	set_state(w, NX_WORKER_SLEEPING);
	w->sleeps++;
	publish(w);
	heartbeat(w, nx__clock_ns());
	/* Offline: grace periods need not wait for a sleeping worker. From
	 * here on, set may be freed: only wv is used (a channel unmapped
	 * meanwhile makes the wait return at once). */
	nx__rcu_offline();
	nx__futex_waitv(wv, n, timeout_ns);
	nx__rcu_online();
	nx__store32(&w->hw->sleeping, 0);
	return true;
awake:
	nx__store32(&w->hw->sleeping, 0);
	return false;
}

#define NX_TIGHT_LOOPS 8 /* empty loops before polling with PAUSE */

/* Heartbeats are taken on the monotonic clock at most this often: the
 * clock costs ~30 ns, the TSC that paces it a third of that. */
#define NX_HEARTBEAT_NS 1000000u

void *
nx__worker_main(void *arg)
{
	struct nx_worker *w = arg;
	const bool may_sleep = w->may_sleep;
	const uint64_t hb_ticks = nx__ns_to_ticks(NX_HEARTBEAT_NS);
	uint64_t idle_loops = 0, idle_since = 0, now, t_hb;

	exec_init(w);
	if (w->life != NULL && nx__life_hold(w->life, 1 + w->idx))
		ck_pr_store_32(&w->life_held, 1);
	nx__rcu_register();
	nx__fault_thread_init(); /* without it, contained faults still work but for stack overflows */
	nx__store32((uint32_t *)&w->hw->tid, (uint32_t)nx__thread_tid());
	nx__store32((uint32_t *)&w->hw->cpu, (uint32_t)nx__cpu_current());
	set_state(w, NX_WORKER_IDLE);
	publish(w);
	heartbeat(w, nx__clock_ns());
	t_hb = nx__ticks();

	while (ck_pr_load_32(&w->stop) == 0) {
		const struct nx_chanset *set = nx__rcu_deref(w->chans);
		const struct nx_pipetab *pipes = nx__rcu_deref(*w->pipes);
		uint64_t t = 0; /* the TSC: read by the first channel with work */
		unsigned i, did = 0;

		for (i = 0; i < set->n; i++)
			did += serve_channel(w, set->ch[i], pipes, &t);
		w->loops++;
		if (did != 0) {
			/* Busy from the work's first TSC read to this one. */
			const uint64_t t_end = nx__ticks();

			w->busy_ns += nx__ticks_to_ns(t_end - t);
			t = t_end;
			w->taken += did;
			w->answered += did;
			idle_loops = 0;
			set_state(w, NX_WORKER_RUNNING);
			publish_burst(w);
		} else if ((++idle_loops & (NX_HEARTBEAT_LOOPS - 1)) != 0) {
			/* Nothing for a while: poll more gently. Reading a line
			 * its writer is waiting to own delays that writer; a PAUSE
			 * between looks lets its store land. The first looks after
			 * work stay tight, for a burst's stragglers. */
			if (idle_loops > NX_TIGHT_LOOPS)
				nx__cpu_relax();
			/* An idle loop is a look at each channel's next slot and
			 * no more: the clock, for the heartbeat, every 16th. */
			if ((idle_loops & 15) != 0) {
				nx__rcu_quiescent();
				continue;
			}
			t = nx__ticks();
		} else {
			set_state(w, NX_WORKER_IDLE);
			publish(w);
			if (may_sleep) {
				now = nx__clock_ns();
				if (idle_loops == NX_HEARTBEAT_LOOPS) {
					idle_since = now;
				} else if (now - idle_since > NX_IDLE_SPIN_NS && worker_sleep(w, set)) {
					/* Offline meanwhile: set and pipes may be freed.
					 * The next loop reads them again, and takes the
					 * channels' heartbeat on the set it reads. */
					continue;
				}
			}
			t = nx__ticks();
		}
		if (t - t_hb > hb_ticks) {
			publish(w);
			heartbeat(w, nx__clock_ns());
			heartbeat_chans(w, set);
			t_hb = t;
		}
		nx__rcu_quiescent();
	}
	set_state(w, NX_WORKER_OFF);
	publish(w);
	heartbeat(w, nx__clock_ns());
	nx__rcu_unregister();
	nx__fault_thread_fini();
	if (ck_pr_load_32(&w->life_held) != 0)
		nx__life_release(w->life, 1 + w->idx); /* a clean stop, not a death */
	return NULL;
}

void
nx__worker_kick(struct nx_worker *w)
{
	ck_pr_store_32(&w->ctl_word, ck_pr_load_32(&w->ctl_word) + 1);
	nx__futex_wake(&w->ctl_word, 1, false);
}
