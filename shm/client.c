/*
 * libnx: the client side of a channel.
 *
 * States of a client:
 *
 *   nx_open ──▶ ATTACHED ◀──── reclaim accepted ─────┐
 *                  │ (nxd restarted: new generation)  │
 *                  ├──────────────▶ reclaim ──────────┘
 *                  │                   │ refused
 *                  │                   ▼
 *                  │                 LOST: outstanding requests complete
 *                  │                 NX_ERESTARTED, then attach anew ──▶ ATTACHED
 *                  │                   │ attach fails
 *                  │                   ▼
 *                  │                 CLOSED: every call says NX_ECLOSED
 *                  ├──(nxd stopped for good)──▶ STOPPED: outstanding requests
 *                  │                            complete NX_ESHUTDOWN
 *                  ▼
 *   nx_close ──▶ (freed)
 *
 * A request's life: FREE ─submit─▶ OUTSTANDING ─poll─▶ FREE. Its slot in
 * the client's table is indexed by its sequence number, as its request
 * and response descriptors are in the rings. Requests complete in order;
 * a response whose sequence number is not the next expected one is
 * either an old duplicate (dropped and counted) or a protocol error for
 * the requests it skipped, so no request ever completes twice or never.
 *
 * Payloads up to 56 bytes travel inside the descriptor. Larger ones go
 * through the channel's arena, allocated here as a byte ring: allocation
 * follows submission order and release follows completion order, which
 * are the same.
 */
#include <string.h>

#include "attach.h"
#include "retry.h"
#include "shm_internal.h"
#include "platform/base/rand.h"

enum {
	CLIENT_CLOSED = 0,   /* could not re-attach: every call says NX_ECLOSED */
	CLIENT_ATTACHED = 1,
	CLIENT_LOST = 2,     /* restarted nxd refused the channel: drain, re-attach */
	CLIENT_STOPPED = 3,  /* nxd stopped for good */
};

/* One request in flight, by its sequence number: where its answer goes. */
struct nx_pending {
	uint64_t user_data;
	uint64_t arena_end; /* arena position after this request, if it used the arena */
	void *out;
	uint32_t out_cap;
	uint32_t out_off;
	uint8_t place;   /* where the answer comes: 0 inline, NX_RESP_EXT or NX_RESP_ARENA */
	uint8_t discard; /* an nx_call that timed out: swallow the answer */
};

struct nx_client {
	char instance[NX_INSTANCE_MAX + 1];
	int ctl_fd;
	uint32_t state;
	uint32_t wait_mode;
	uint32_t timeout_ms;
	uint64_t spin_ns;
	struct nx_health_view hv;
	struct nx_chan_view v;
	uint32_t chan_id;
	uint64_t generation;
	bool worker_sleeps;                 /* instance idles by sleeping: ring the doorbell */
	const struct nx_health_worker *hw;  /* our worker's record */
	uint32_t cap;                       /* requests outstanding at most */
	uint32_t mask;
	uint64_t submitted;
	uint64_t completed;
	uint32_t ndiscard;
	uint64_t arena_head;
	uint64_t arena_tail;
	uint32_t idle_polls;
	uint8_t req_ext_lines;              /* the last request extension's lines: the next one's to own */
	uint8_t resp_ext_lines;             /* the last answer extension's lines: the next one's to fetch */
	bool check_index;                   /* next poll: an answer by the index too */
	uint64_t dup_dropped;
	struct nx_rand rng;                 /* retries' jitter */
	struct nx_pending *slots;
	uint64_t short_calls;               /* nx_calls answered the short way */
	uint64_t index_looks;               /* slow looks that read the worker's index */
};

uint64_t
nx_now_ns(void)
{
	return nx__clock_ns();
}

const char *
nx_errmsg(void)
{
	return nx__errmsg();
}

/* ---- control connection ---- */

static int
ctl_connect(struct nx_client *c)
{
	return nx__ctl_connect_verified(c->instance, &c->hv);
}

static void
bind_worker(struct nx_client *c)
{
	uint32_t w = c->v.hdr->worker;

	c->hw = w < c->hv.max_workers ? &c->hv.workers[w] : NULL;
	c->worker_sleeps = c->hv.hdr->idle == NX_WAIT_SLEEP && c->hw != NULL;
}

static int
attach_channel(struct nx_client *c, uint32_t abi)
{
	const uint64_t timeout_ns = (uint64_t)c->timeout_ms * 1000000ull;
	struct nx_ctl_msg m;
	int fd, chan_fd = -1, rc;

	fd = ctl_connect(c);
	if (fd < 0)
		return fd;
	/* a refusal (uid) may already be waiting, the socket closed: read it anyway */
	(void)nx__ctl_send_request(fd, NX_CTL_ATTACH, abi, c->wait_mode, 0, -1);
	rc = nx__ctl_read_reply(fd, &m, &chan_fd, timeout_ns);
	if (rc == 0 && chan_fd < 0)
		rc = nx__err(NX_EPROTO, "nxd accepted but sent no channel");
	if (rc == 0)
		rc = nx__chan_map(&c->v, chan_fd);
	if (rc == 0 && c->v.hdr->chan_id != m.chan_id) {
		nx__chan_unmap(&c->v);
		chan_fd = -1;
		rc = nx__err(NX_EPROTO, "channel says id %u, nxd said %u", c->v.hdr->chan_id,
			     m.chan_id);
	}
	if (rc < 0) {
		if (c->v.base == NULL)
			nx__fd_close(chan_fd);
		nx__fd_close(fd);
		return rc;
	}
	c->ctl_fd = fd;
	c->chan_id = m.chan_id;
	c->generation = m.generation;
	c->cap = c->v.g.ring_size - 1;
	c->mask = c->v.g.ring_size - 1;
	c->submitted = c->completed = 0;
	c->arena_head = c->arena_tail = 0;
	c->ndiscard = 0;
	bind_worker(c);
	return 0;
}

int
nx_open(struct nx_client **out, const char *instance, const struct nx_open_opts *opts)
{
	struct nx_open_opts def = { 0 };
	struct nx_client *c;
	uint32_t abi;
	int rc;

	if (out == NULL)
		return nx__err(NX_EINVAL, "nx_open: out is NULL");
	*out = NULL;
	if (opts == NULL)
		opts = &def;
	rc = nx__instance_check(instance);
	if (rc < 0)
		return rc;
	if (opts->wait > NX_WAIT_SLEEP)
		return nx__err(NX_EINVAL, "nx_open: unknown wait mode %u", opts->wait);
	/* opts->abi_version is the libnx interface the caller was built for;
	 * this library's speaks NX_CTL_VERSION to nxd. Another is passed on
	 * as is, for nxd to refuse with its reason. */
	abi = opts->abi_version == 0 || opts->abi_version == NX_ABI_VERSION ? NX_CTL_VERSION
									  : opts->abi_version;
	c = nx__mem_zalloc(1, sizeof *c);
	if (c == NULL)
		return nx__err(NX_ENOMEM, "nx_open");
	strcpy(c->instance, instance);
	c->ctl_fd = -1;
	c->v.fd = -1;
	c->wait_mode = opts->wait;
	c->spin_ns = opts->spin_ns != 0 ? opts->spin_ns : 20000;
	c->timeout_ms = opts->timeout_ms != 0 ? opts->timeout_ms : 5000;
	rc = nx__health_map_ro(&c->hv, instance);
	if (rc < 0)
		goto err;
	if (nx__load32(&c->hv.hdr->state) == NX_INST_STOPPED) {
		rc = nx__err(NX_ENOINST, "instance '%s' is not running (nxd pid %d stopped)",
			     instance, c->hv.hdr->pid);
		goto err;
	}
	rc = attach_channel(c, abi);
	if (rc < 0)
		goto err;
	c->slots = nx__mem_zalloc(c->v.g.ring_size, sizeof *c->slots);
	if (c->slots == NULL) {
		rc = nx__err(NX_ENOMEM, "nx_open: request table");
		goto err;
	}
	c->state = CLIENT_ATTACHED;
	*out = c;
	return 0;

err:
	nx__err_ctx(rc, "attach to '%s'", instance);
	nx_close(c);
	return rc;
}

int
nx_close(struct nx_client *c)
{
	if (c == NULL)
		return NX_EINVAL;
	nx__fd_close(c->ctl_fd);
	nx__chan_unmap(&c->v);
	nx__health_unmap(&c->hv);
	nx__mem_free(c->slots);
	nx__mem_free(c);
	return 0;
}

int
nx_pipeline_id(struct nx_client *c, const char *name)
{
	uint32_t i;

	if (c == NULL || name == NULL)
		return nx__err(NX_EINVAL, "nx_pipeline_id: NULL argument");
	for (i = 0; i < c->hv.max_pipelines; i++) {
		const struct nx_health_pipe *p = &c->hv.pipes[i];

		if (nx__load32(&p->active) && strncmp(p->name, name, sizeof p->name) == 0)
			return (int)i;
	}
	return nx__err(NX_ENOPIPE, "instance '%s' has no pipeline '%s'", c->instance, name);
}

unsigned
nx_outstanding(const struct nx_client *c)
{
	return (unsigned)(c->submitted - c->completed);
}

unsigned
nx_capacity(const struct nx_client *c)
{
	return c->cap;
}

uint32_t
nx_max_payload(const struct nx_client *c)
{
	return c->v.g.max_payload;
}

uint64_t
nx_generation(const struct nx_client *c)
{
	return c->generation;
}

/* ---- arena: a byte ring, allocated in submission order ---- */

static int
arena_alloc(struct nx_client *c, uint32_t n, uint32_t *off)
{
	const uint64_t size = c->v.g.arena_bytes;
	uint64_t pos, need = n;

	/* Nothing outstanding in the arena: start over at its beginning, so
	 * that a client with few requests in flight keeps reusing the same
	 * few lines instead of walking the whole arena through the caches. */
	if (c->arena_head == c->arena_tail)
		c->arena_head = c->arena_tail = 0;
	pos = c->arena_head % size;

	if (pos + n > size)
		need += size - pos; /* skip the tail end, start at 0 */
	if (c->arena_head + need - c->arena_tail > size)
		return NX_EAGAIN;
	*off = pos + n > size ? 0 : (uint32_t)pos;
	c->arena_head += need;
	return 0;
}

static uint32_t
round_line(uint32_t n)
{
	return (n + NX_CACHELINE - 1) & ~(uint32_t)(NX_CACHELINE - 1);
}

/* ---- submit ---- */

/* The worker may be asleep: it announced it (sleeping = 1, fence, then
 * checked the rings). Our enqueue, fence, check: one of us sees the other. */
static void
ring_doorbell(struct nx_client *c)
{
	struct nx_chan_hdr *h = c->v.hdr;

	ck_pr_fence_store_load(); /* pairs with the fence in worker_sleep() */
	if (nx__load32(&c->hw->sleeping) != 0) {
		nx__store32(&h->doorbell, nx__load32(&h->doorbell) + 1);
		nx__futex_wake(&h->doorbell, 1, true);
	}
}

/* A descriptor's pipeline byte: an id past it is no pipeline, as 255 is
 * none (an instance has at most 64): nxd answers NX_ENOPIPE, as for any. */
static inline uint8_t
desc_pipeline(uint16_t id)
{
	return id > UINT8_MAX ? UINT8_MAX : (uint8_t)id;
}

/* Where a request's answer goes, kept by its sequence number. */
static inline void
pending_set(struct nx_pending *s, uint64_t user_data, void *out, uint32_t out_cap)
{
	s->user_data = user_data;
	s->out = out;
	s->out_cap = out_cap;
	s->discard = 0;
}

/* A request whose payload and answer fit the slot's extension (192
 * bytes): the payload into the descriptor (up to 56 bytes) or the
 * extension, and where its answer will come. The descriptor's header is
 * the caller's to write, once, with the flags returned: a read-modify-
 * write of a line the worker polls waits for that line. */
static inline __attribute__((always_inline)) uint8_t
put_small(struct nx_client *c, struct nx_req_desc *d, struct nx_pending *s, const void *in,
	  uint32_t in_len, uint32_t out_cap)
{
	uint8_t flags = 0;

	s->place = 0;
	if (in_len <= NX_INLINE_MAX) {
		nx__copy_small(d->data, in, in_len);
	} else {
		uint32_t slot = (uint32_t)(d - c->v.req_slots);

		nx__copy_small(c->v.req_ext + (size_t)slot * NX_EXT_BYTES, in, in_len);
		flags = NX_DESC_EXT;
		c->req_ext_lines = (uint8_t)nx__ext_lines(in_len);
	}
	if (out_cap > NX_INLINE_MAX) {
		flags |= NX_DESC_OUT_EXT;
		s->place = NX_RESP_EXT;
	}
	return flags;
}

/* A descriptor's header but its lap (nx__req_publish writes that, last). */
static inline void
put_header(struct nx_req_desc *d, uint16_t pipeline, uint8_t flags, uint32_t len)
{
	d->pipeline = desc_pipeline(pipeline);
	d->flags = flags;
	d->len = (uint8_t)len;
}

/* @param bell ring the doorbell if the worker sleeps (a batch rings once,
 * after its last request) */
static int
submit_one(struct nx_client *c, const struct nx_req *r, bool bell)
{
	struct nx_req_desc *d;
	struct nx_pending *s;
	uint8_t flags;

	if (c->state != CLIENT_ATTACHED)
		return c->state == CLIENT_STOPPED ? NX_ESHUTDOWN :
		       c->state == CLIENT_LOST ? NX_EAGAIN : NX_ECLOSED;
	if (c->submitted - c->completed >= c->cap)
		return NX_EAGAIN;
	if (r->in_len > c->v.g.max_payload || r->out_cap > c->v.g.max_payload)
		return NX_E2BIG;
	if ((r->in_len != 0 && r->in == NULL) || (r->out_cap != 0 && r->out == NULL) ||
	    (r->flags & ~NX_REQ_IDEMPOTENT) != 0)
		return NX_EINVAL;
	/* Room: fewer than ring_size - 1 unanswered, checked above. */
	d = nx__req_slot(&c->v);
	s = &c->slots[c->submitted & c->mask];
	flags = (r->flags & NX_REQ_IDEMPOTENT) ? NX_DESC_IDEMPOTENT : 0;
	if (r->deadline_ns != 0) {
		flags |= NX_DESC_DEADLINE;
		d->deadline_us = (uint32_t)(r->deadline_ns / 1000);
	}
	/* The payload: in the descriptor up to 56 bytes, in the slot's
	 * extension up to 192, else in the arena (so is the answer). */
	if (r->in_len <= NX_EXT_BYTES && r->out_cap <= NX_EXT_BYTES) {
		flags |= put_small(c, d, s, r->in, r->in_len, r->out_cap);
		put_header(d, r->pipeline, flags, r->in_len);
	} else {
		uint32_t in_bytes = round_line(r->in_len), off;
		struct nx_req_arena ar;

		if (arena_alloc(c, in_bytes + round_line(r->out_cap), &off) < 0)
			return NX_EAGAIN; /* the slot is simply not published */
		memcpy(c->v.arena + off, r->in, r->in_len);
		ar.in_off = off;
		ar.in_len = r->in_len;
		ar.out_off = off + in_bytes;
		ar.out_cap = r->out_cap;
		put_header(d, r->pipeline, flags | NX_DESC_ARENA, 0);
		memcpy(d->data, &ar, sizeof ar);
		s->place = NX_RESP_ARENA;
		s->arena_end = c->arena_head;
		s->out_off = ar.out_off;
	}
	pending_set(s, r->user_data, r->out, r->out_cap);
	nx__req_publish(&c->v, d);
	c->submitted++;
	if (bell && c->worker_sleeps)
		ring_doorbell(c);
	return 0;
}

int
nx_submit(struct nx_client *c, const struct nx_req *req)
{
	if (c == NULL || req == NULL)
		return NX_EINVAL;
	return submit_one(c, req, true);
}

int
nx_submit_batch(struct nx_client *c, const struct nx_req *reqs, unsigned n, unsigned *submitted)
{
	unsigned i;
	int rc = 0;

	if (c == NULL || (reqs == NULL && n != 0))
		return NX_EINVAL;
	for (i = 0; i < n; i++) {
		rc = submit_one(c, &reqs[i], false);
		if (rc < 0)
			break;
	}
	/* one fence and one look at the worker for the batch, not one each */
	if (i != 0 && c->worker_sleeps)
		ring_doorbell(c);
	if (submitted != NULL)
		*submitted = i;
	return rc;
}

/* ---- completions ---- */

/* Complete the oldest outstanding request. @return true when it is to be
 * reported (not an abandoned nx_call). */
static inline __attribute__((always_inline)) bool
complete(struct nx_client *c, const struct nx_resp_desc *rd, uint32_t rslot, int status,
	 struct nx_completion *comp)
{
	struct nx_pending *s = &c->slots[c->completed & c->mask];
	uint32_t out_len = 0;
	bool report = !s->discard;

	if (status == 0 && rd != NULL) {
		const uint8_t *src = rd->data;
		uint32_t room = NX_INLINE_MAX;

		out_len = rd->len;
		if (rd->flags & NX_RESP_ARENA) {
			memcpy(&out_len, rd->data, sizeof out_len);
			src = c->v.arena + s->out_off;
			room = s->out_cap;
		} else if (rd->flags & NX_RESP_EXT) {
			src = c->v.resp_ext + (size_t)rslot * NX_EXT_BYTES;
			room = NX_EXT_BYTES;
		}
		/* The answer must come where we said it may. */
		if ((rd->flags & (NX_RESP_ARENA | NX_RESP_EXT)) != 0 &&
		    (rd->flags & (NX_RESP_ARENA | NX_RESP_EXT)) != s->place)
			status = NX_EPROTO;
		else if (out_len > room)
			status = NX_EPROTO;
		else if (out_len > s->out_cap)
			status = NX_EOVERFLOW;
		else if (report)
			memcpy(s->out, src, out_len);
		if (rd->flags & NX_RESP_EXT)
			c->resp_ext_lines = (uint8_t)nx__ext_lines(out_len);
	}
	if (s->place == NX_RESP_ARENA)
		c->arena_tail = s->arena_end;
	if (s->discard)
		c->ndiscard--;
	c->completed++;
	if (report) {
		comp->user_data = s->user_data;
		comp->status = status;
		comp->out_len = status == 0 || status == NX_EOVERFLOW ? out_len : 0;
		comp->flags = (rd != NULL && (rd->flags & NX_RESP_DEGRADED)) ? NX_COMP_DEGRADED : 0;
		comp->reserved = 0;
	}
	return report;
}

/* Every outstanding request completes with status: nxd will not answer. */
static unsigned
complete_all(struct nx_client *c, int status, struct nx_completion *comps, unsigned max)
{
	unsigned n = 0;

	while (n < max && c->completed != c->submitted)
		if (complete(c, NULL, 0, status, &comps[n]))
			n++;
	return n;
}

static int reclaim(struct nx_client *c);

/* The slow look at the instance, between empty polls: did nxd stop for
 * good, or restart (new generation) so that we must reclaim? */
static void
check_instance(struct nx_client *c)
{
	const struct nx_health_hdr *h = c->hv.hdr;

	if (nx__load64(&h->generation) != c->generation &&
	    nx__load32(&h->state) == NX_INST_RUNNING) {
		reclaim(c);
		return;
	}
	if (nx__load32(&h->state) == NX_INST_STOPPED && !(nx__load32(&h->flags) & NX_HEALTH_F_KEPT) &&
	    nx__ring_pending(c->v.resp) == 0)
		c->state = CLIENT_STOPPED;
}

static void reattach(struct nx_client *c);

/*
 * Own the next request's lines before it is written, after an answer
 * came: the worker read them a ring ago and holds them shared, so each
 * store to them would first wait for the worker's copy to go, and the
 * lap, stored last, for all of them. PREFETCHW asks for them now, while
 * the caller is busy with the answer. Between cores that wait was a
 * third of a 64-byte round trip (README, "Where the time goes").
 */
static inline __attribute__((always_inline)) void
own_next_req(struct nx_client *c)
{
	const uint32_t next = c->v.req->p_tail & c->mask;

	nx__prefetch_w(&c->v.req_slots[next]);
	nx__ext_own(c->v.req_ext + (size_t)next * NX_EXT_BYTES, c->req_ext_lines);
}

/* An answer outside the descriptor, in rslot, for the oldest request
 * outstanding: fetch its lines alongside the descriptor's copy, as many
 * as the last such answer took. Not before the seq says it is there: the
 * worker would have to take those lines back to write them. */
static inline void
fetch_answer(const struct nx_client *c, uint32_t rslot)
{
	const struct nx_pending *next = &c->slots[c->completed & c->mask];

	if (next->place == NX_RESP_EXT)
		nx__ext_fetch(c->v.resp_ext + (size_t)rslot * NX_EXT_BYTES,
			      c->resp_ext_lines != 0 ? c->resp_ext_lines : 1);
	else if (next->place == NX_RESP_ARENA)
		__builtin_prefetch(c->v.arena + next->out_off, 0);
}

/* nx_poll's body, inlined into the waiting loops of nx_wait and nx_call. */
static inline __attribute__((always_inline)) int
poll_some(struct nx_client *c, struct nx_completion *comps, unsigned max)
{
	unsigned n = 0, seen = 0;

	/* at most a ring's worth of descriptors a call: indices damaged in our
	 * own memory would otherwise feed this loop 2^32 stale ones */
	while (c->state == CLIENT_ATTACHED && n < max && seen++ <= c->mask) {
		struct nx_resp_desc rd;
		uint32_t expect, rslot;

		const uint32_t head = c->v.resp->c_head;

		rslot = head & c->mask;
		/* The slot's own seq says the answer is there: one line. Only
		 * on the slow look (check_index) does the index count, for an
		 * answer published without its seq: taken as it is, and checked
		 * below like any other. The slow look reads the index once,
		 * whatever it finds: the index is the worker's line, and a look
		 * left armed would fetch it on every empty poll after, each
		 * fetch in the way of the answer's own line. */
		if (!nx__resp_ready(&c->v, head)) {
			if (!c->check_index)
				break;
			c->check_index = false;
			c->index_looks++;
			if (nx__ring_pending(c->v.resp) == 0)
				break;
		}
		if (c->completed != c->submitted)
			fetch_answer(c, rslot);
		nx__resp_take(&c->v, head, &rd);
		expect = (uint32_t)c->completed;
		if (rd.seq != expect) {
			uint32_t ahead = rd.seq - expect;

			if ((int32_t)ahead < 0 || ahead >= c->submitted - c->completed) {
				c->dup_dropped++; /* already completed, or never asked */
				continue;
			}
			/* Answers for earlier requests were skipped: they failed. */
			while ((uint32_t)c->completed != rd.seq && n < max)
				if (complete(c, NULL, 0, NX_EPROTO, &comps[n]))
					n++;
			if ((uint32_t)c->completed != rd.seq || n == max) {
				/* no room: rd is for a later call; it is lost, so say so */
				c->dup_dropped++;
				break;
			}
		}
		if (c->completed == c->submitted) {
			c->dup_dropped++;
			continue;
		}
		if (complete(c, &rd, rslot, rd.status, &comps[n]))
			n++;
	}
	if (n != 0)
		own_next_req(c);
	if (n == 0 && ++c->idle_polls >= NX_CHECK_EVERY) {
		c->idle_polls = 0;
		c->check_index = true; /* the next poll compares the index too */
		check_instance(c);
	}
	if (c->state == CLIENT_STOPPED || c->state == CLIENT_LOST) {
		n += complete_all(c, c->state == CLIENT_LOST ? NX_ERESTARTED : NX_ESHUTDOWN,
				  comps + n, max - n);
		if (c->state == CLIENT_LOST && c->completed == c->submitted)
			reattach(c);
	}
	return (int)n;
}

int
nx_poll(struct nx_client *c, struct nx_completion *comps, unsigned max)
{
	if (c == NULL || (comps == NULL && max != 0))
		return NX_EINVAL;
	return poll_some(c, comps, max);
}

/* Sleep until the worker rings resp_bell: client_waiting = 1, fence, look
 * at the ring once more, then wait. The worker answers, fences, and reads
 * client_waiting. */
static void
client_sleep(struct nx_client *c, uint64_t max_ns)
{
	struct nx_chan_hdr *h = c->v.hdr;
	uint32_t bell = nx__load32(&h->resp_bell);

	nx__store32(&h->client_waiting, 1);
	ck_pr_fence_store_load(); /* pairs with the fence in wake_client() (worker) */
	if (nx__ring_pending(c->v.resp) == 0)
		nx__futex_wait(&h->resp_bell, bell, max_ns < 100000000 ? max_ns : 100000000, true);
	nx__store32(&h->client_waiting, 0);
}

/* nx_wait's body, inlined into nx_call. */
static inline __attribute__((always_inline)) int
wait_some(struct nx_client *c, struct nx_completion *comps, unsigned max, uint64_t timeout_ns)
{
	uint64_t start = 0, now;
	unsigned spins;
	int n;

	/* Spin without reading the clock: a fast answer costs no clock read.
	 * The clock starts at the first check, so the timeout may run up to
	 * one check interval (a few microseconds) long. */
	for (spins = 1;; spins++) {
		n = poll_some(c, comps, max);
		if (n != 0)
			return n;
		if (timeout_ns == 0)
			return NX_ETIMEDOUT;
		if ((spins & 255) != 0) {
			/* Nothing yet: watch the one word the answer sets (its
			 * slot's seq) until it changes or 256 looks have passed,
			 * without poll_some's bookkeeping between looks. */
			const uint32_t head = c->v.resp->c_head;

			do
				nx__cpu_relax();
			while ((++spins & 255) != 0 && !nx__resp_ready(&c->v, head));
			if ((spins & 255) != 0)
				continue; /* there: poll it */
			/* 256 looks, as many as NX_CHECK_EVERY empty polls: the
			 * next empty poll looks at the instance */
			c->idle_polls = NX_CHECK_EVERY - 1;
		}
		now = nx__clock_ns();
		if (start == 0)
			start = now;
		else if (now - start >= timeout_ns)
			return NX_ETIMEDOUT;
		if (c->wait_mode == NX_WAIT_SLEEP && now - start >= c->spin_ns)
			client_sleep(c, timeout_ns - (now - start));
	}
}

int
nx_wait(struct nx_client *c, struct nx_completion *comps, unsigned max, uint64_t timeout_ns)
{
	if (c == NULL || comps == NULL || max == 0)
		return NX_EINVAL;
	return wait_some(c, comps, max, timeout_ns);
}

/*
 * nx_call's short way, for the call a latency-bound client makes most:
 * none outstanding, payload and answer within the slot's extension. The
 * same descriptor as submit_one writes, published the same way; then a
 * watch of the answer's seq alone, and the answer completed by
 * complete(), as a poll completes it. What the short way does not do,
 * the long way does: a call that does not qualify, or whose answer has
 * not come within NX_CALL_WATCH looks (microseconds), goes on through
 * wait_some as any call, with its timeout, restarts and sleep.
 *
 * Why: the client's half of a round trip runs from an answer's seq to
 * the next request's lap. Through submit_one, wait_some and poll_some it
 * carried checks and bookkeeping for many requests in flight, and
 * poll_some fetched the answer's extension before the answer was there,
 * taking the line from the worker about to write it (README, "Where the
 * time goes").
 *
 * Every empty look is followed by a PAUSE, as in every other loop of
 * nexus. The first 16 looks once had none, to see an answer that comes
 * within a few looks without the PAUSE's tens of nanoseconds (27 on the
 * machine the README measures). Between cores that made the round trip
 * slower, not faster: in some runs a 64-byte p50 of 0.61 us where with a
 * PAUSE after every look it was 0.48 (the floor's 0.40), in the same
 * minutes. With the vCPUs on one core the looks without PAUSE gained at
 * most one 10-ns clock step, in some runs (README, "Where the time goes").
 *
 * @return true when the request was published (c->submitted counts it)
 */
#define NX_CALL_WATCH 256u

static inline __attribute__((always_inline)) bool
call_submit_short(struct nx_client *c, uint16_t pipeline, const void *in, uint32_t in_len,
		  void *out, uint32_t out_cap)
{
	struct nx_req_desc *d;
	struct nx_pending *s;

	if (c->state != CLIENT_ATTACHED || c->submitted != c->completed ||
	    in_len > NX_EXT_BYTES || out_cap > NX_EXT_BYTES || in_len > c->v.g.max_payload ||
	    out_cap > c->v.g.max_payload || (in_len != 0 && in == NULL) ||
	    (out_cap != 0 && out == NULL) ||
	    /* answers come to the slot of the one we expect next */
	    c->v.resp->c_head != (uint32_t)c->completed)
		return false;
	d = nx__req_slot(&c->v);
	s = &c->slots[c->submitted & c->mask];
	put_header(d, pipeline, put_small(c, d, s, in, in_len, out_cap), in_len);
	pending_set(s, 0, out, out_cap);
	nx__req_publish(&c->v, d);
	c->submitted++;
	if (c->worker_sleeps)
		ring_doorbell(c);
	return true;
}

/*
 * Where nx_call's code sits is chosen, not left to what is linked before
 * it. Between cores on the machine the README measures (AMD EPYC, vCPUs
 * on separate cores), the same code at an address 16, 32 or 48 bytes past
 * a 64-byte boundary made a 64-byte round trip in 0.47 to 0.48 us, and
 * exactly at one in 0.54 to 0.64 us, with the floor at 0.38 to 0.41 us in
 * each run: a change to nxbench's own code once moved libnx's after it by
 * 112 bytes, onto a boundary, and the round trip with it. The machine
 * shows no performance counters, so which instruction's place is the
 * cause is not known (README, "Where the time goes"). So: the function
 * starts on a 64-byte boundary, and a 16-byte NOP at its top puts the rest
 * where it measured fast. A change to nx_call's own code moves its inside
 * anyway: measure the round trip after one.
 */
#if defined(__x86_64__)
#define NX_CALL_ALIGN __attribute__((aligned(64)))
/* two NOPs, 11 and 5 bytes (the assembler's own forms of them) */
#define NX_CALL_PAD()                                                                            \
	__asm__ __volatile__(".byte 0x66,0x66,0x2e,0x0f,0x1f,0x84,0x00,0x00,0x00,0x00,0x00\n\t" \
			     ".byte 0x0f,0x1f,0x44,0x00,0x00")
#else
#define NX_CALL_ALIGN
#define NX_CALL_PAD() ((void)0)
#endif

NX_CALL_ALIGN int
nx_call(struct nx_client *c, uint16_t pipeline, const void *in, uint32_t in_len, void *out,
	uint32_t out_cap, uint32_t *out_len, uint64_t timeout_ns)
{
	struct nx_completion comp;
	uint64_t seq;
	int rc;

	NX_CALL_PAD();
	if (c == NULL)
		return NX_EINVAL;
	if (c->submitted - c->completed != c->ndiscard)
		return NX_EINVAL; /* requests of nx_submit outstanding: poll them first */
	if (call_submit_short(c, pipeline, in, in_len, out, out_cap)) {
		const uint32_t head = (uint32_t)c->completed;
		const unsigned looks = timeout_ns != 0 ? NX_CALL_WATCH : 1;
		unsigned k;

		for (k = 0; k < looks; k++) {
			struct nx_resp_desc rd;

			if (!nx__resp_ready(&c->v, head)) {
				nx__cpu_relax();
				continue;
			}
			nx__resp_take(&c->v, head, &rd);
			complete(c, &rd, head & c->mask, rd.status, &comp);
			own_next_req(c);
			c->short_calls++;
			if (out_len != NULL)
				*out_len = comp.out_len;
			return comp.status;
		}
		/* not yet: wait as any call waits (timeouts, restarts, sleep) */
	} else {
		const struct nx_req r = { .in = in, .in_len = in_len, .out = out,
					  .out_cap = out_cap, .pipeline = pipeline };

		rc = submit_one(c, &r, true);
		if (rc < 0)
			return rc;
	}
	seq = c->submitted - 1;
	rc = wait_some(c, &comp, 1, timeout_ns);
	if (rc == NX_ETIMEDOUT) {
		c->slots[seq & c->mask].discard = 1;
		c->ndiscard++;
		return NX_ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	if (out_len != NULL)
		*out_len = comp.out_len;
	return comp.status;
}

uint64_t
nx__client_short_calls(const struct nx_client *c)
{
	return c->short_calls;
}

uint64_t
nx__client_index_looks(const struct nx_client *c)
{
	return c->index_looks;
}

void
nx__client_ext_lines(const struct nx_client *c, unsigned *own, unsigned *fetch)
{
	*own = c->req_ext_lines;
	*fetch = c->resp_ext_lines;
}

int
nx_call_retry(struct nx_client *c, uint16_t pipeline, const void *in, uint32_t in_len, void *out,
	      uint32_t out_cap, uint32_t *out_len, struct nx_retry *rp)
{
	struct nx_req r = { .in = in, .in_len = in_len, .out = out, .out_cap = out_cap,
			    .pipeline = pipeline };
	struct nx_completion comp;
	uint64_t timeout, delay;
	int rc;

	if (c == NULL || rp == NULL || (rp->flags & ~NX_REQ_IDEMPOTENT) != 0)
		return NX_EINVAL;
	if (c->submitted - c->completed != c->ndiscard)
		return NX_EINVAL; /* requests of nx_submit outstanding: poll them first */
	r.flags = (uint16_t)rp->flags;
	r.deadline_ns = rp->deadline_ns;
	timeout = rp->timeout_ns != 0 ? rp->timeout_ns : 1000000000ull;
	rp->tried = 0;
	rp->first_error = 0;
	if (c->rng.s == 0)
		nx__rand_seed(&c->rng, nx__random_seed());
	for (;;) {
		rc = submit_one(c, &r, true);
		if (rc == 0) {
			uint64_t seq = c->submitted - 1;

			rc = wait_some(c, &comp, 1, timeout);
			if (rc == NX_ETIMEDOUT) {
				/* it may still run: its answer, if it comes, is swallowed */
				c->slots[seq & c->mask].discard = 1;
				c->ndiscard++;
			} else if (rc > 0) {
				rc = comp.status;
			}
		}
		if (rp->tried++ == 0)
			rp->first_error = rc;
		if (rc == 0) {
			if (out_len != NULL)
				*out_len = comp.out_len;
			return 0;
		}
		delay = nx__retry_next(rp, rc, rp->tried, nx__clock_ns(), nx__rand_next(&c->rng));
		if (delay == NX_RETRY_STOP)
			return rc;
		if (delay != 0)
			nx__sleep_ns(delay);
	}
}

/* ---- after an nxd restart ---- */

/*
 * Hand our channel to the new nxd. It answers what the old one took and
 * did not answer (idempotent requests run again, others NX_ERESTARTED)
 * and serves what is still in the ring. If it refuses, no answer will
 * come for what is outstanding: those complete NX_ERESTARTED (LOST), and
 * then the client attaches anew.
 */
static int
reclaim(struct nx_client *c)
{
	struct nx_ctl_msg m;
	int fd, rc;

	fd = ctl_connect(c);
	if (fd < 0)
		return fd; /* not listening yet: try again at the next check */
	rc = nx__ctl_send_request(fd, NX_CTL_RECLAIM, NX_CTL_VERSION, c->wait_mode, c->chan_id,
				  c->v.fd);
	if (rc == 0)
		rc = nx__ctl_read_reply(fd, &m, NULL, 2000000000ull);
	if (rc == 0) {
		nx__fd_close(c->ctl_fd);
		c->ctl_fd = fd;
		c->generation = m.generation;
		bind_worker(c);
		return 0;
	}
	nx__fd_close(fd);
	if (rc == NX_ETIMEDOUT || rc == NX_ECLOSED || rc == NX_EIO)
		return rc; /* the new nxd is not ready: try again later */
	c->state = CLIENT_LOST;
	return rc;
}

static void
reattach(struct nx_client *c)
{
	uint32_t ring = c->v.g.ring_size;

	nx__fd_close(c->ctl_fd);
	c->ctl_fd = -1;
	nx__chan_unmap(&c->v);
	if (attach_channel(c, NX_CTL_VERSION) < 0 || c->v.g.ring_size != ring) {
		nx__chan_unmap(&c->v);
		c->state = CLIENT_CLOSED;
		return;
	}
	c->state = CLIENT_ATTACHED;
}
