/*
 * A slot's policies on the data path: the circuit breaker, the time
 * budget, fault containment, and the degraded answer when the stage
 * cannot give one.
 *
 *   quarantined? ──yes──▶ EQUARANTINE ─┐
 *   breaker allows? ──no──▶ EBREAKER ──┤
 *   run process (contained if asked)   │
 *   fault ──▶ quarantine, EFAULT ──────┤
 *   over budget ──▶ slow, or EOVERBUDGET
 *   breaker records the outcome        │
 *   success ──▶ the answer (cached)    ▼
 *                           degraded: skip | fallback | cache | fail
 *
 * Everything here is the running worker's own: its breaker for the slot
 * (x->pol), its counters (x->stats), its row of the slot's cache. Two
 * words are shared: the instance's quarantine flag (set here, cleared
 * by nxctl release) and the slot's forced breaker state (set by nxctl
 * breaker); both are single stores, read once per call.
 *
 * A cache slot runs its stage on the worker's private copy of the
 * request, and its answer lands in private memory too before it is
 * copied out: a slot's input and output may be a client's shared
 * memory, which that client can rewrite at any moment, and a cached
 * answer is given to every channel of the worker. What the cache keeps
 * is what the stage read and wrote, never what a client left behind.
 */
#include <string.h>

#include "core/datapath/crc32c.h"
#include "platform/nx_platform.h"
#include "core/datapath/policy.h"

/* ---- the last good answers (degraded = cache) ---- */

struct cache_entry {
	uint32_t hash;
	uint32_t in_len;  /* 0 with hash 0: empty */
	uint32_t out_len;
	uint32_t used;
	uint8_t data[];   /* input, then the answer, cache_bytes each */
};

/* The worker's private copy of a request (input, then room for the answer). */
static uint8_t *
cache_stage_buf(const struct nx_slot_policy *pol, uint32_t worker)
{
	return pol->cache + (size_t)pol->nworkers * pol->cache_entries * pol->cache_entry_bytes +
	       (size_t)(worker % pol->nworkers) * pol->stage_bytes;
}

static struct cache_entry *
cache_slot(const struct nx_slot_policy *pol, uint32_t worker, uint32_t hash)
{
	size_t i = (size_t)(worker % pol->nworkers) * pol->cache_entries +
		   (hash & (pol->cache_entries - 1));

	return (struct cache_entry *)(void *)(pol->cache + i * pol->cache_entry_bytes);
}

/* m is the worker's private copy (cache_stage_buf): input and answer. */
static void
cache_put(const struct nx_slot_policy *pol, uint32_t worker, const struct nx_msg *m, int rc)
{
	const uint8_t *out = rc == NX_STAGE_PASS ? m->in : m->out;
	uint32_t out_len = rc == NX_STAGE_PASS ? m->in_len : m->out_len;
	struct cache_entry *e;
	uint32_t hash;

	if (m->in_len > pol->cache_bytes || out_len > pol->cache_bytes ||
	    (rc != NX_STAGE_PASS && out_len > m->out_cap))
		return;
	hash = nx__crc32c(0, m->in, m->in_len);
	e = cache_slot(pol, worker, hash);
	e->hash = hash;
	e->in_len = m->in_len;
	e->out_len = out_len;
	e->used = 1;
	memcpy(e->data, m->in, m->in_len);
	memcpy(e->data + pol->cache_bytes, out, out_len);
}

static bool
cache_get(const struct nx_slot_policy *pol, uint32_t worker, struct nx_msg *m)
{
	const struct cache_entry *e;
	uint32_t hash;

	if (m->in_len > pol->cache_bytes)
		return false;
	hash = nx__crc32c(0, m->in, m->in_len);
	e = cache_slot(pol, worker, hash);
	if (!e->used || e->hash != hash || e->in_len != m->in_len || e->out_len > m->out_cap ||
	    memcmp(e->data, m->in, m->in_len) != 0)
		return false;
	memcpy(m->out, e->data + pol->cache_bytes, e->out_len);
	m->out_len = e->out_len;
	return true;
}

/* ---- running ---- */

struct call {
	const struct nx_stage_inst *si;
	struct nx_msg *m;
	struct nx_ctx *ctx;
};

static int
call_process(void *arg)
{
	struct call *c = arg;

	return c->si->ops->process(c->si->state, c->m, c->ctx);
}

static void
own_reset(struct nx_slot_pol *own, uint64_t owner)
{
	own->owner = owner;
	own->force_seen = NX_BRK_FORCE_AUTO;
	nx__brk_init(&own->brk);
}

static inline void
bump(uint64_t *counter)
{
	nx__store64(counter, *counter + 1);
}

/* The breaker's state and transitions, to the health segment, when they
 * changed. */
static void
publish_breaker(struct nx_health_slot_stats *st, const struct nx_breaker *b)
{
	if (st->breaker != b->state)
		nx__store32(&st->breaker, b->state);
	if (st->rejected != b->rejected)
		nx__store64(&st->rejected, b->rejected);
	if (st->opened != b->opened)
		nx__store64(&st->opened, b->opened);
	if (st->half_opened != b->half_opened)
		nx__store64(&st->half_opened, b->half_opened);
	if (st->closed != b->closed)
		nx__store64(&st->closed, b->closed);
}

/* The stage did not answer (rc): the slot's degraded strategy, if it has one. */
static int
degrade(const struct nx_slot_policy *pol, struct nx_msg *m, struct nx_exec *x,
	struct nx_health_slot_stats *st, int rc, bool cached)
{
	switch (pol->degraded) {
	case NX_DEG_SKIP:
		rc = NX_STAGE_PASS;
		break;
	case NX_DEG_FALLBACK: {
		const struct nx_stage_inst *fb = pol->fallback;
		int frc;

		m->out_len = 0;
		frc = fb->ops->process(fb->state, m, x->ctx);
		if (frc < 0)
			return rc; /* the fallback failed too: the first error stands */
		rc = frc;
		break;
	}
	case NX_DEG_CACHE:
		/* only a private copy is looked up: a client's memory could
		 * change between the hash and the comparison */
		if (!cached || !cache_get(pol, x->worker, m))
			return rc;
		rc = 0;
		break;
	default:
		return rc;
	}
	x->ctx->flags |= NX_CTX_DEGRADED;
	if (st != NULL)
		bump(&st->degraded);
	return rc;
}

/*
 * A cache slot's request, copied into the worker's private buffer: the
 * stage, the cache and the degraded answer all see this copy. @return
 * false when it does not fit (then nothing is cached or looked up)
 */
static bool
cache_stage(const struct nx_slot_policy *pol, uint32_t worker, const struct nx_msg *m,
	    struct nx_msg *priv)
{
	uint8_t *buf;

	/* out_cap 0: a selector, whose return value is a child (no answer
	 * to keep, and NX_STAGE_PASS would read as child 1) */
	if (pol->degraded != NX_DEG_CACHE || m->in_len > pol->cache_bytes || m->out_cap == 0 ||
	    m->out_cap > pol->stage_out_cap)
		return false;
	buf = cache_stage_buf(pol, worker);
	memcpy(buf, m->in, m->in_len);
	*priv = (struct nx_msg){ .in = buf, .in_len = m->in_len,
				 .out = buf + (pol->cache_bytes + 63) / 64 * 64,
				 .out_cap = m->out_cap };
	return true;
}

/* The answer the private copy holds, to where the caller wants it. */
static int
cache_unstage(struct nx_msg *m, const struct nx_msg *priv, int rc)
{
	if (rc == NX_STAGE_PASS) {
		/* what passes is the copy the stage saw, not what the client
		 * holds now */
		memcpy(m->out, priv->in, priv->in_len);
		m->out_len = priv->in_len;
		return 0;
	}
	if (rc == 0) {
		m->out_len = priv->out_len;
		if (priv->out_len <= m->out_cap)
			memcpy(m->out, priv->out, priv->out_len);
		/* else the caller finds out_len past out_cap: NX_EOVERFLOW */
	}
	return rc;
}

static int run_slot_policy(const struct nx_slot *s, const struct nx_stage_inst *si,
			   struct nx_msg *m, struct nx_exec *x, bool cached);

int
nx__run_slot_policy(const struct nx_slot *s, const struct nx_stage_inst *si, struct nx_msg *m,
		    struct nx_exec *x)
{
	struct nx_msg priv;

	if (__builtin_expect(s->pol.degraded == NX_DEG_CACHE, 0)) {
		if (cache_stage(&s->pol, x->worker, m, &priv)) {
			int rc = run_slot_policy(s, si, &priv, x, true);

			if (rc == NX_STAGE_PASS && priv.in_len > m->out_cap)
				rc = NX_EOVERFLOW;
			else
				rc = cache_unstage(m, &priv, rc);
			/* the copy is the worker's for every channel: nothing of
			 * this request stays for the next (a stage that claims
			 * more than it wrote finds zeros) */
			memset((uint8_t *)(uintptr_t)priv.in, 0, priv.in_len);
			memset(priv.out, 0, priv.out_len < priv.out_cap ? priv.out_len : priv.out_cap);
			return rc;
		}
	}
	return run_slot_policy(s, si, m, x, false);
}

static int
run_slot_policy(const struct nx_slot *s, const struct nx_stage_inst *si, struct nx_msg *m,
		struct nx_exec *x, bool cached)
{
	const struct nx_slot_policy *pol = &s->pol;
	struct nx_ctx *ctx = x->ctx;
	struct nx_health_slot_stats *st = NULL;
	struct nx_slot_pol *own = NULL; /* the worker's own state for the slot */
	const uint32_t r = ctx->nroute - 1; /* nx__run_slot recorded this slot */
	/* one TSC read a call where the worker or the slot before knows the time */
	uint64_t start = x->t_route == r && r < NX_CTX_ROUTE_MAX - 1 ? x->t_start : nx__ticks();
	uint64_t end, dur, as_dur;
	bool failed;
	int rc, sig = 0;

	if (x->stats != NULL && s->hidx < x->nstats)
		st = &x->stats[s->hidx];
	if (x->pol != NULL && s->hidx < x->nstats) {
		uint32_t force = ck_pr_load_32(&pol->force);

		own = &x->pol[s->hidx];
		if (own->owner != si->serial)
			own_reset(own, si->serial); /* a new stage in the slot starts a new breaker */
		if (force != own->force_seen) {
			nx__brk_force(&own->brk, force, start);
			own->force_seen = force;
		}
	}
	{
		uint32_t q = ck_pr_load_32(&si->quarantined);

		if (st != NULL && st->quarantined != q)
			nx__store32(&st->quarantined, q); /* the worker's own copy, for readers */
		if (q != 0) {
			rc = NX_EQUARANTINE;
			goto refused;
		}
	}
	if (pol->breaker && own != NULL && !nx__brk_allow(&own->brk, &pol->brk, start)) {
		rc = NX_EBREAKER;
		goto refused;
	}

	if (pol->contain) {
		struct call c = { .si = si, .m = m, .ctx = ctx };

		rc = nx__fault_call(call_process, &c, &sig);
	} else {
		rc = si->ops->process(si->state, m, ctx);
	}
	end = nx__ticks();
	dur = end - start;
	x->t_start = end;
	x->t_route = ctx->nroute;
	if (sig != 0) {
		/* its state may be corrupt: out of service until swapped or released */
		ck_pr_store_32((uint32_t *)&si->quarantined, 1);
		if (st != NULL) {
			bump(&st->faults);
			nx__store32(&st->quarantined, 1);
		}
		rc = NX_EFAULT;
	}
	failed = rc < 0;
	as_dur = dur;
	if (pol->budget != 0 && dur > pol->budget) {
		if (st != NULL)
			bump(&st->overruns);
		if (pol->budget_fails && !failed) {
			rc = NX_EOVERBUDGET;
			failed = true;
		} else if (as_dur <= pol->brk.slow_ns) {
			as_dur = pol->brk.slow_ns + 1; /* an overrun is a slow call */
		}
	}
	if (pol->breaker && own != NULL) {
		nx__brk_record(&own->brk, &pol->brk, end, failed, as_dur);
		if (st != NULL && as_dur > pol->brk.slow_ns)
			bump(&st->slow);
	}
	if (__builtin_expect(ctx->flags & NX_CTX_TIMED, 0)) {
		uint64_t ns = nx__ticks_to_ns(dur);

		if (r < NX_CTX_ROUTE_MAX)
			ctx->route_ns[r] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
		nx__slot_time(x, s->hidx, ns);
	}
	nx__slot_count(x, s->hidx, failed ? -1 : 0);
	if (st != NULL && own != NULL)
		publish_breaker(st, &own->brk);
	if (!failed) {
		if (cached)
			cache_put(pol, x->worker, m, rc);
		return rc;
	}
	return degrade(pol, m, x, st, rc, cached);

refused:
	if (st != NULL && own != NULL)
		publish_breaker(st, &own->brk);
	return degrade(pol, m, x, st, rc, cached);
}
