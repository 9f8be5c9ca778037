/*
 * A client that races everything it can write, on a real nxd.
 *
 * A channel is memory its client may rewrite at any moment: request
 * descriptors after they were committed, the extensions and the arena
 * while a stage reads and writes them, both rings' indices, the header's
 * words, and the geometry pages (each side maps a private page over
 * them, so the shared page underneath is for nobody). The hostile client
 * here submits requests through libnx on one thread and, on another,
 * rewrites all of that in tight random loops through a second mapping of
 * its channel, detaching (with requests in flight) and attaching again,
 * while a well-behaved client on its own channel checks every answer it
 * gets, in order, byte for byte. Both ask a cache-degraded slot the same
 * inputs: a cached answer is given to every channel of the worker, so one
 * the hostile client managed to plant would reach the good one (the good
 * client forces the breaker open for a while, so that its answers come
 * from the cache: each must be its own input). The race runs against a
 * worker that spins, and against one that sleeps on the doorbells the
 * hostile client scribbles on.
 *
 * And a storm of attaches and detaches in sleep mode: the worker that
 * goes offline to sleep must not touch, when it wakes, a channel set the
 * control thread freed meanwhile (it did: a use-after-free under ASan).
 *
 * Seeded: NXT_SEED=<n> replays a run's choices (the seed is printed; the
 * threads' interleaving is the machine's). Bounded: a fixed number of
 * requests, sessions and cycles, every wait a condition with
 * nxt_patience_ns(), no sleep as synchronisation, no timing assertion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nx/nx.h>

#include "core/datapath/crc32c.h"
#include "shm/attach.h"
#include "shm/shm_internal.h"
#include "tests/integration/harness/harness.h"

/* ---- seeded randomness ---- */

#define NXT_SEED_DEFAULT 0x6e78686f7374ull /* "nxhost" */

static uint64_t
seed_get(void)
{
	const char *s = getenv("NXT_SEED");

	return s != NULL && s[0] != '\0' ? strtoull(s, NULL, 0) : NXT_SEED_DEFAULT;
}

/* splitmix64: any seed, one stream per purpose (seed ^ a constant) */
static uint64_t
rnd64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
rnd(uint64_t *s)
{
	return (uint32_t)(rnd64(s) >> 32);
}

static uint32_t
below(uint64_t *s, uint32_t n)
{
	return n != 0 ? rnd(s) % n : 0;
}

static void
fill(uint64_t *s, void *p, size_t n)
{
	uint8_t *b = p;

	while (n >= 8) {
		uint64_t v = rnd64(s);

		memcpy(b, &v, 8);
		b += 8;
		n -= 8;
	}
	while (n-- > 0)
		*b++ = (uint8_t)rnd(s);
}

/* ---- the pipelines, and what an honest nxd answers ---- */

enum { P_ECHO, P_SUM, P_NOOP3, P_CACHED, P_SEQ3, P_FAN, P_PICK, NPIPE };
static const char *const pipe_names[NPIPE] = { "echo",	"checksum", "noop3", "cached",
					       "seq3",	"fan",	    "pick" };

/* the cached slot keeps up to 256 bytes (cache-bytes default): keys fit */
#define CACHE_ENTRIES 4096
#define STR_(x) #x
#define STR(x) STR_(x)
static const char conf_text[] =
	"[pipeline.cached]\n"
	"graph = k\n"
	"k.stage = echo\n"
	"k.breaker = count\n"
	"k.degraded = cache\n"
	"k.cache-entries = " STR(CACHE_ENTRIES) "\n"
	"\n"
	"[pipeline.seq3]\n"
	"graph = seq(n1, echo, n2)\n"
	"n1.stage = noop\n"
	"n2.stage = noop\n"
	"\n"
	"[pipeline.fan]\n"
	"graph = fanout(echo, checksum, n3; merge: cat)\n"
	"n3.stage = noop\n"
	"cat.stage = concat\n"
	"cat.sep = |\n"
	"\n"
	"[pipeline.pick]\n"
	"graph = branch(echo, checksum, n4; by: sel)\n"
	"sel.stage = pick\n"
	"n4.stage = noop\n";

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Room for an answer to len bytes on pipe, whatever they are. */
static uint32_t
answer_len(int pipe, uint32_t len)
{
	return pipe == P_SUM ? 4 : pipe == P_FAN ? 2 * len + 6 : pipe == P_PICK && len < 4 ? 4 : len;
}

/* pick's child: the payload's first byte if a digit, else 0; the good
 * clients ask children that exist (0 echo, 1 checksum, 2 noop). */
static void
pick_first(uint64_t *s, uint8_t *in, uint32_t len)
{
	if (len > 0)
		in[0] = (uint8_t)"012x"[below(s, 4)];
}

/* The right answer to in on pipe, into exp. @return its length */
static uint32_t
answer_of(int pipe, const uint8_t *in, uint32_t len, uint8_t *exp)
{
	uint32_t crc = nx__crc32c(0, in, len);

	if (pipe == P_PICK)
		pipe = len > 0 && in[0] == '1' ? P_SUM : P_ECHO;
	switch (pipe) {
	case P_SUM:
		put_le32(exp, crc);
		return 4;
	case P_FAN: /* echo | checksum | noop, joined by the merge's sep */
		memcpy(exp, in, len);
		exp[len] = '|';
		put_le32(exp + len + 1, crc);
		exp[len + 5] = '|';
		memcpy(exp + len + 6, in, len);
		return 2 * len + 6;
	default:
		memcpy(exp, in, len);
		return len;
	}
}

/* The inputs both clients ask the cached pipeline: inline, extension and
 * arena sized, all small enough to be cached. The cache is direct-mapped
 * (an entry per CRC-32C & (entries - 1)): the keys take distinct entries,
 * or one would evict another. */
#define NKEYS 48
#define KEY_MAX 256

struct keys {
	uint32_t len[NKEYS];
	uint8_t b[NKEYS][KEY_MAX];
};

static void
make_keys(struct keys *k, uint64_t seed)
{
	uint64_t s = seed ^ 0x6b657973ull;
	uint32_t entry[NKEYS];
	unsigned i, j;

	for (i = 0; i < NKEYS; i++) {
		switch (i % 3) {
		case 0: k->len[i] = 1 + below(&s, NX_INLINE_MAX); break;
		case 1: k->len[i] = NX_INLINE_MAX + 1 + below(&s, NX_EXT_BYTES - NX_INLINE_MAX); break;
		default: k->len[i] = NX_EXT_BYTES + 1 + below(&s, KEY_MAX - NX_EXT_BYTES); break;
		}
		do {
			fill(&s, k->b[i], k->len[i]);
			k->b[i][0] = (uint8_t)i; /* all different */
			entry[i] = nx__crc32c(0, k->b[i], k->len[i]) & (CACHE_ENTRIES - 1);
			for (j = 0; j < i && entry[j] != entry[i]; j++)
				;
		} while (j < i);
	}
}

/* ---- what the processes tell the test (a shared anonymous mapping) ---- */

enum rw_kind {
	RW_DESC_LAP,
	RW_DESC_PIPELINE,
	RW_DESC_FLAGS,
	RW_DESC_LEN,
	RW_DESC_DEADLINE,
	RW_DESC_DATA,
	RW_DESC_ARENA_WRAP,
	RW_DESC_ARENA_OVERLAP,
	RW_DESC_WHOLE,
	RW_REQ_EXT,
	RW_RESP_EXT,
	RW_ARENA_IN,
	RW_ARENA_OUT,
	RW_ARENA_ANY,
	RW_CACHE_HAMMER,
	RW_REQ_PTAIL_NEAR,
	RW_REQ_CHEAD_NEAR,
	RW_RESP_PTAIL_NEAR,
	RW_RESP_CHEAD_NEAR,
	RW_REQ_PTAIL_FAR,
	RW_REQ_CHEAD_FAR,
	RW_RESP_PTAIL_FAR,
	RW_RESP_CHEAD_FAR,
	RW_P_HEAD,
	RW_RESP_DESC,
	RW_DOORBELL,
	RW_CLIENT_WAITING,
	RW_RESP_BELL,
	RW_HDR_IDENTITY,
	RW_HDR_ANY,
	RW_GEOM_PAGE,
	RW_GEOM_OVERLAY,
	RW_RING_PAD,
	RW_KINDS
};

static const char *const rw_names[RW_KINDS] = {
	"request descriptor: lap (its sequence flag)",
	"request descriptor: pipeline id",
	"request descriptor: flags",
	"request descriptor: length",
	"request descriptor: deadline",
	"request descriptor: inline data",
	"request descriptor: arena refs wrapping 2^32",
	"request descriptor: arena in/out overlapping",
	"request descriptor: all 64 bytes",
	"request extension (in flight)",
	"response extension",
	"arena input region (in flight)",
	"arena output region (in flight)",
	"arena, anywhere",
	"cached request's in/out hammered (in flight)",
	"request p_tail moved (near)",
	"request c_head moved (near)",
	"response p_tail moved (near)",
	"response c_head moved (near)",
	"request p_tail moved far",
	"request c_head moved far",
	"response p_tail moved far",
	"response c_head moved far",
	"p_head of either ring",
	"response descriptor",
	"doorbell (+ futex wake)",
	"client_waiting",
	"resp_bell (+ futex wake)",
	"header identity/geometry word",
	"header, any word",
	"geometry page (shared page under the overlays)",
	"geometry page (libnx's own private overlay)",
	"pages around the ring structures",
};

#define NSTATUS 32 /* statuses by -code; the last one: anything else */

struct shared {
	/* parent -> children */
	uint32_t stop;
	uint32_t g_nrounds, g_nmixed; /* the good client's work */
	pid_t hostile_pid;
	/* hostile */
	uint32_t hostile_up;
	uint64_t rw[RW_KINDS];
	uint64_t h_sessions, h_open_failed, h_submitted, h_completed, h_calls;
	uint64_t h_detach_inflight, h_drained, h_stuck, h_far_endgame, h_wait_sleep;
	uint64_t h_submit_rc[NSTATUS];
	uint64_t h_status[NSTATUS];
	uint64_t h_degraded;
	uint64_t h_reclaim[NSTATUS]; /* RECLAIMs of a live channel, by nxd's answer */
	/* good */
	uint64_t g_done, g_sent, g_by_pipe[NPIPE];
	uint64_t g_cached_ok, g_cached_degraded, g_cached_breaker;
	uint64_t g_primed, g_open_asked, g_open_hits, g_open_misses, g_rounds;
	uint64_t g_phases, g_phases_raced; /* phases, and those that began after a new hostile session */
	char why[1024];
};

static unsigned
status_idx(int st)
{
	return st <= 0 && st > -(NSTATUS - 1) ? (unsigned)-st : NSTATUS - 1;
}

__attribute__((format(printf, 3, 4))) static int
say(struct shared *sh, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof sh->why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", sh->why);
	return code;
}

static struct shared *
shared_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* One request, its answer and its completion flags: submit and wait
 * (nx_call says no flags). @return the status, or the wait's error */
static int
call1(struct nx_client *c, int pipeline, const void *in, uint32_t len, void *out, uint32_t cap,
      uint32_t *out_len, uint32_t *flags)
{
	struct nx_req r = { .in = in, .in_len = len, .out = out, .out_cap = cap,
			    .pipeline = (uint16_t)pipeline };
	struct nx_completion comp;
	int rc = nx_submit(c, &r);

	if (rc < 0)
		return rc;
	rc = nx_wait(c, &comp, 1, nxt_patience_ns());
	if (rc < 0)
		return rc;
	*out_len = comp.out_len;
	*flags = comp.flags;
	return comp.status;
}

static int
pipeline_ids(struct nx_client *c, int *ids)
{
	for (int p = 0; p < NPIPE; p++)
		if ((ids[p] = nx_pipeline_id(c, pipe_names[p])) < 0)
			return -1;
	return 0;
}

/* ---- the well-behaved client ---- */

#define GW 16          /* requests in flight */
#define GIN_MAX 4096   /* arena-sized payloads */
#define GOUT_MAX (2 * GIN_MAX + 6 + 64)
#define G_OPEN (NKEYS * 6) /* requests in a window with the breaker forced open */

enum gmode {
	G_AUTO,   /* the breaker decides (the hostile client's failures may open it) */
	G_CLOSED, /* forced closed: the stage answers */
	G_OPEN_M, /* forced open: answers come from the cache, or none (EBREAKER) */
};

struct gq {
	int pipe;
	int key;
	uint32_t len, out_cap;
	uint8_t in[GIN_MAX];
	uint8_t out[GOUT_MAX];
};

struct good {
	const char *inst;
	struct shared *sh;
	const struct keys *keys;
	struct nx_client *c;
	int ids[NPIPE];
	uint64_t rng;
	uint64_t sent, done; /* ids: requests complete in this order */
	struct gq q[GW];
	uint8_t exp[GOUT_MAX];
};

static void
good_fill(struct good *g, struct gq *q, enum gmode mode)
{
	uint32_t r = rnd(&g->rng);

	if (mode == G_OPEN_M)
		q->pipe = (r & 1) ? P_CACHED : (int)(r >> 1) % 2 == 0 ? P_FAN : (int)(r >> 2) % NPIPE;
	else
		q->pipe = (int)(r % NPIPE);
	q->key = -1;
	if (q->pipe == P_CACHED && (mode == G_OPEN_M || ((r >> 8) & 1))) {
		q->key = (int)below(&g->rng, NKEYS);
		q->len = g->keys->len[q->key];
		memcpy(q->in, g->keys->b[q->key], q->len);
	} else {
		switch ((r >> 16) % 3) {
		case 0: q->len = below(&g->rng, NX_INLINE_MAX + 1); break;
		case 1: q->len = 120 + below(&g->rng, NX_EXT_BYTES - 120 + 1); break; /* ~150 */
		default: q->len = GIN_MAX - below(&g->rng, 1024); break;             /* ~4 KiB */
		}
		fill(&g->rng, q->in, q->len);
		if (q->pipe == P_PICK)
			pick_first(&g->rng, q->in, q->len);
	}
	q->out_cap = answer_of(q->pipe, q->in, q->len, g->exp);
	if ((r >> 24) % 4 == 0)
		q->out_cap += below(&g->rng, 64); /* room to spare: another answer placement */
}

static int
good_check(struct good *g, const struct gq *q, const struct nx_completion *cp, enum gmode mode)
{
	struct shared *sh = g->sh;
	const bool cached = q->pipe == P_CACHED;
	uint32_t n, i;

	sh->g_by_pipe[q->pipe]++;
	if (cached && mode == G_OPEN_M)
		sh->g_open_asked++;
	if (cached && mode != G_CLOSED && cp->status == NX_EBREAKER) {
		/* refused, and nothing cached for it: no answer is a right answer */
		sh->g_cached_breaker++;
		if (mode == G_OPEN_M)
			sh->g_open_misses++;
		return 0;
	}
	if (cp->status != 0)
		return say(sh, 40, "good client: request %llu on %s (%u bytes, key %d, mode %d) failed: %s",
			   (unsigned long long)cp->user_data, pipe_names[q->pipe], q->len, q->key, mode,
			   nx_strerror(cp->status));
	if (cached && mode == G_OPEN_M && !(cp->flags & NX_COMP_DEGRADED))
		return say(sh, 41, "good client: request %llu on cached answered with the breaker "
			   "forced open, not degraded", (unsigned long long)cp->user_data);
	if ((cp->flags & NX_COMP_DEGRADED) && (!cached || mode == G_CLOSED))
		return say(sh, 42, "good client: request %llu on %s degraded (mode %d)",
			   (unsigned long long)cp->user_data, pipe_names[q->pipe], mode);
	n = answer_of(q->pipe, q->in, q->len, g->exp);
	if (cp->out_len != n || memcmp(q->out, g->exp, n) != 0) {
		for (i = 0; i < n && i < cp->out_len && q->out[i] == g->exp[i]; i++)
			;
		return say(sh, 43, "good client: WRONG ANSWER to request %llu on %s (%u bytes, key %d, "
			   "mode %d, %s): %u bytes, expected %u, first difference at byte %u",
			   (unsigned long long)cp->user_data, pipe_names[q->pipe], q->len, q->key, mode,
			   (cp->flags & NX_COMP_DEGRADED) ? "degraded: from the cache" : "not degraded",
			   cp->out_len, n, i);
	}
	if (cached) {
		sh->g_cached_ok++;
		if (cp->flags & NX_COMP_DEGRADED)
			sh->g_cached_degraded++;
		if (mode == G_OPEN_M)
			sh->g_open_hits++;
	}
	return 0;
}

/* n requests, GW in flight, every answer checked in order. */
static int
good_window(struct good *g, unsigned n, enum gmode mode)
{
	struct nx_completion comps[GW];
	const uint64_t end = g->sent + n;
	int rc, i;

	while (g->done < end) {
		while (g->sent < end && g->sent - g->done < GW) {
			struct gq *q = &g->q[g->sent % GW];
			struct nx_req r;

			good_fill(g, q, mode);
			r = (struct nx_req){ .in = q->in, .in_len = q->len, .out = q->out,
					     .out_cap = q->out_cap, .user_data = g->sent,
					     .pipeline = (uint16_t)g->ids[q->pipe] };
			rc = nx_submit(g->c, &r);
			if (rc == NX_EAGAIN)
				break;
			if (rc < 0)
				return say(g->sh, 44, "good client: submit %llu: %s",
					   (unsigned long long)g->sent, nx_strerror(rc));
			g->sent++;
			g->sh->g_sent = g->sent;
		}
		/* no answer at all for this long: lost */
		rc = nx_wait(g->c, comps, GW, nxt_patience_ns());
		if (rc < 0)
			return say(g->sh, 45, "good client: no answer after %llu of %llu: %s (LOST)",
				   (unsigned long long)g->done, (unsigned long long)g->sent,
				   nx_strerror(rc));
		for (i = 0; i < rc; i++) {
			if (comps[i].user_data != g->done)
				return say(g->sh, 46, "good client: answer for %llu, expected %llu",
					   (unsigned long long)comps[i].user_data,
					   (unsigned long long)g->done);
			if (good_check(g, &g->q[g->done % GW], &comps[i], mode) != 0)
				return 47;
			g->done++;
			g->sh->g_done = g->done;
		}
	}
	return 0;
}

/*
 * Each phase races a new session of the hostile client (a new channel, a
 * detach, an endgame): wait until it begins one, unless it is gone. Shapes
 * the race only: nothing is asserted of it, and after one wait in vain
 * the good client waits no more.
 */
static void
good_awaits_a_new_session(struct good *g, bool *in_vain)
{
	struct shared *sh = g->sh;
	const uint64_t s0 = __atomic_load_n(&sh->h_sessions, __ATOMIC_RELAXED);

	sh->g_phases++;
	if (*in_vain)
		return;
	if (NXT_WAIT_UNTIL(__atomic_load_n(&sh->h_sessions, __ATOMIC_RELAXED) != s0 ||
			   nxt_pid_gone(sh->hostile_pid), nxt_patience_ns()) &&
	    __atomic_load_n(&sh->h_sessions, __ATOMIC_RELAXED) != s0)
		sh->g_phases_raced++;
	else
		*in_vain = true;
}

static int
breaker(struct good *g, const char *what)
{
	int rc = nxt_ctl(g->inst, NULL, 0, "breaker", "cached", "k", what, NULL);

	return rc == 0 ? 0 : say(g->sh, 48, "nxctl breaker cached k %s: %s", what, nx_strerror(rc));
}

/* The cache gets the keys' answers: the breaker is forced closed. */
static int
good_prime(struct good *g)
{
	uint32_t len, flags;

	for (int k = 0; k < NKEYS; k++) {
		int rc = call1(g->c, g->ids[P_CACHED], g->keys->b[k], g->keys->len[k], g->q[0].out,
			       KEY_MAX, &len, &flags);

		if (rc != 0 || len != g->keys->len[k] || memcmp(g->q[0].out, g->keys->b[k], len) != 0 ||
		    (flags & NX_COMP_DEGRADED))
			return say(g->sh, 49, "good client: priming key %d: %s, %u bytes, flags %#x", k,
				   nx_strerror(rc), len, flags);
		g->sh->g_primed++;
	}
	return 0;
}

static int
run_good(const char *inst, struct shared *sh, const struct keys *keys, uint64_t seed)
{
	struct nx_open_opts o = { .wait = NX_WAIT_SLEEP };
	struct good *g = calloc(1, sizeof *g);
	bool in_vain = false;
	int rc;

	if (g == NULL)
		return say(sh, 30, "good client: no memory");
	*g = (struct good){ .inst = inst, .sh = sh, .keys = keys, .rng = seed ^ 0x676f6f64ull };
	if (nxt_open_with(&g->c, inst, &o) < 0)
		return say(sh, 31, "good client: nx_open: %s", nx_errmsg());
	if (pipeline_ids(g->c, g->ids) < 0)
		return say(sh, 32, "good client: %s", nx_errmsg());
	/* the point is to be served while the other client races */
	if (!NXT_WAIT_UNTIL(__atomic_load_n(&sh->hostile_up, __ATOMIC_ACQUIRE) != 0,
			    nxt_patience_ns()))
		return say(sh, 33, "good client: the hostile client never came up");
	/* rounds of: a mixed window, the cache primed, a window with the
	 * breaker forced closed (the hostile client's keys are cached too), a
	 * window with the breaker forced open (answers from the cache) */
	for (unsigned round = 0; round < sh->g_nrounds; round++) {
		good_awaits_a_new_session(g, &in_vain);
		if ((rc = good_window(g, sh->g_nmixed, G_AUTO)) != 0 || (rc = breaker(g, "close")) != 0 ||
		    (rc = good_prime(g)) != 0)
			return rc;
		good_awaits_a_new_session(g, &in_vain);
		if ((rc = good_window(g, sh->g_nmixed / 4, G_CLOSED)) != 0 ||
		    (rc = breaker(g, "open")) != 0)
			return rc;
		good_awaits_a_new_session(g, &in_vain);
		if ((rc = good_window(g, G_OPEN, G_OPEN_M)) != 0 || (rc = breaker(g, "auto")) != 0)
			return rc;
		sh->g_rounds++;
	}
	good_awaits_a_new_session(g, &in_vain);
	if ((rc = good_window(g, sh->g_nmixed, G_AUTO)) != 0)
		return rc;
	if (nx_outstanding(g->c) != 0 || g->sent != g->done)
		return say(sh, 34, "good client: %u outstanding at the end (LOST)", nx_outstanding(g->c));
	nx_close(g->c);
	free(g);
	return 0;
}

/* ---- the hostile client ---- */

#define H_OUT_MAX (8192 + 256)
#define H_IN_MAX (NX_PAYLOAD_MAX_DEFAULT + 256)
#define H_SESSIONS_MAX 5000 /* attach, race, detach: at most this many */
#define H_STUCK_WAITS 25    /* 2 ms waits with nothing answered: the channel is wrecked */

/* The hostile thread's second, plain mapping of a channel: no private
 * geometry pages, so it reaches the shared ones too. */
struct rawview {
	uint8_t *base;
	size_t len;
	struct nx_chan_geom g;
	uint32_t indices_ok; /* libnx no longer reads this channel: its indices may move */
	uint32_t chan_id;
	int cached_id;
	uint16_t ids[NPIPE];
};

struct hostile {
	const char *inst;
	struct shared *sh;
	const struct keys *keys;
	uint64_t rng, wrng;
	int ids[NPIPE];
	uint32_t done; /* the submitter is finished: the rewriter stops */
	pthread_mutex_t mu;
	struct rawview *cur; /* under mu: the channel the rewriter scribbles on */
	uint8_t in[H_IN_MAX];
	uint8_t out[256][H_OUT_MAX];
};

static uint32_t
ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* An index move: near (within two rings), or anywhere. */
static uint32_t
index_delta(uint64_t *s, uint32_t ring, bool far)
{
	static const int32_t near_k[] = { 1, -1, 2, -2, 0 };

	if (!far) {
		switch (below(s, 6)) {
		case 0: return (uint32_t)(ring / 2);
		case 1: return (uint32_t)-(int32_t)(ring / 2);
		case 2: return ring;
		case 3: return (uint32_t)-(int32_t)ring;
		case 4: return 2 * ring;
		default: return (uint32_t)near_k[below(s, 5)] + below(s, 3);
		}
	}
	switch (below(s, 6)) {
	case 0: return 0x7fffffffu;
	case 1: return 0x80000000u;
	case 2: return ring * 1000u;
	case 3: return (uint32_t)-(int32_t)(ring * 1000u);
	case 4: return 0x80000000u + ring - 1;
	default: return rnd(s);
	}
}

/* A 32-bit value for an arena field: near the edges, wrapping, or random. */
static uint32_t
arena_word(uint64_t *s, uint32_t arena)
{
	switch (below(s, 8)) {
	case 0: return 0xffffffffu - below(s, 4096);
	case 1: return arena - below(s, 256);
	case 2: return arena + below(s, 256);
	case 3: return 0x80000000u + below(s, 64);
	case 4: return below(s, 65536 + 2);
	case 5: return 0;
	case 6: return 0xfffff000u;
	default: return rnd(s);
	}
}

/* Scribble the bytes [p, p+n) of a region inside the mapping. */
static void
scribble(uint64_t *s, uint8_t *p, uint32_t n, const struct keys *keys)
{
	if (n == 0)
		return;
	if (below(s, 3) == 0) {
		/* another key's bytes: a plausible answer, for the cache to keep */
		int k = (int)below(s, NKEYS);
		uint32_t m = keys->len[k] < n ? keys->len[k] : n;

		memcpy(p, keys->b[k], m);
	} else {
		fill(s, p, n > 512 ? 512 + below(s, n - 512) : n);
	}
}

/* An arena request's regions, from a descriptor copy, if inside the arena. */
static bool
arena_refs(const struct nx_req_desc *d, uint32_t arena, struct nx_req_arena *ar)
{
	if (!(d->flags & NX_DESC_ARENA))
		return false;
	memcpy(ar, d->data, sizeof *ar);
	return (uint64_t)ar->in_off + ar->in_len <= arena && (uint64_t)ar->out_off + ar->out_cap <= arena;
}

/* Hammer a request on the cached pipeline, in flight or being served: its
 * input and output, over and over while the worker copies, runs, caches
 * and answers it. */
static bool
hammer_cached(struct hostile *h, struct rawview *v, struct nx_req_desc *slots, uint32_t head,
	      uint32_t fly)
{
	const struct nx_chan_geom *g = &v->g;
	const uint32_t mask = g->ring_size - 1;
	uint8_t *req_ext = v->base + g->req_ext_off, *resp_ext = v->base + g->resp_ext_off;
	uint8_t *arena = v->base + g->arena_off;
	uint64_t *s = &h->wrng;

	for (uint32_t k = 0; k < fly && k < g->ring_size; k++) {
		const uint32_t slot = (head + k) & mask;
		struct nx_req_desc d;
		struct nx_req_arena ar;
		uint8_t *in = NULL, *out = NULL;
		uint32_t in_n = 0, out_n = 0;

		memcpy(&d, &slots[slot], sizeof d);
		if (d.pipeline != v->cached_id)
			continue;
		if (arena_refs(&d, g->arena_bytes, &ar)) {
			in = arena + ar.in_off;
			in_n = ar.in_len;
			out = arena + ar.out_off;
			out_n = ar.out_cap;
		} else {
			if (d.flags & NX_DESC_EXT) {
				in = req_ext + (size_t)slot * NX_EXT_BYTES;
				in_n = NX_EXT_BYTES;
			}
			if (d.flags & NX_DESC_OUT_EXT) {
				out = resp_ext + (size_t)slot * NX_EXT_BYTES;
				out_n = NX_EXT_BYTES;
			}
		}
		if (in == NULL && out == NULL)
			continue;
		for (int i = 0; i < 64; i++) {
			if (out != NULL)
				scribble(s, out, out_n < 256 ? out_n : 256, h->keys);
			if (in != NULL && (i & 3) == 0)
				scribble(s, in, in_n < 256 ? in_n : 256, h->keys);
		}
		return true;
	}
	return false;
}

static enum rw_kind
pick_kind(uint64_t *s, bool indices_ok)
{
	/* in-flight payload races weigh more: they race stages and the cache */
	static const uint8_t weight[RW_KINDS] = {
		[RW_DESC_LAP] = 3, [RW_DESC_PIPELINE] = 3, [RW_DESC_FLAGS] = 3, [RW_DESC_LEN] = 3, [RW_DESC_DEADLINE] = 2,
		[RW_DESC_DATA] = 2, [RW_DESC_ARENA_WRAP] = 4, [RW_DESC_ARENA_OVERLAP] = 4,
		[RW_DESC_WHOLE] = 2, [RW_REQ_EXT] = 6, [RW_RESP_EXT] = 4, [RW_ARENA_IN] = 6,
		[RW_ARENA_OUT] = 6, [RW_ARENA_ANY] = 3, [RW_CACHE_HAMMER] = 12,
		[RW_REQ_PTAIL_NEAR] = 1, [RW_REQ_CHEAD_NEAR] = 1, [RW_RESP_PTAIL_NEAR] = 1,
		[RW_RESP_CHEAD_NEAR] = 1, [RW_REQ_PTAIL_FAR] = 1, [RW_REQ_CHEAD_FAR] = 1,
		[RW_RESP_PTAIL_FAR] = 1, [RW_RESP_CHEAD_FAR] = 1, [RW_P_HEAD] = 1, [RW_RESP_DESC] = 2,
		[RW_DOORBELL] = 2, [RW_CLIENT_WAITING] = 2, [RW_RESP_BELL] = 1, [RW_HDR_IDENTITY] = 2,
		[RW_HDR_ANY] = 2, [RW_GEOM_PAGE] = 2, [RW_RING_PAD] = 1,
		[RW_GEOM_OVERLAY] = 0, /* the submitter's, in the endgame */
	};
	unsigned total = 0, k, r;

	for (k = 0; k < RW_KINDS; k++)
		total += weight[k];
	/* An index moved while libnx still reads the ring (even near: p_tail
	 * left behind c_head) makes libnx's poll loop, and the worker, chew
	 * through up to 2^32 garbage entries: the hostile client would stall
	 * in its own library. Indices move once libnx is done with the
	 * channel: while nxd still serves it (the endgame), and after. */
	do {
		r = below(s, total);
		for (k = 0; r >= weight[k]; k++)
			r -= weight[k];
	} while (!indices_ok && k >= RW_REQ_PTAIL_NEAR && k <= RW_RESP_CHEAD_FAR);
	return (enum rw_kind)k;
}

static void
rewrite_one(struct hostile *h, struct rawview *v)
{
	uint64_t *s = &h->wrng;
	const struct nx_chan_geom *g = &v->g;
	const uint32_t ring = g->ring_size, mask = ring - 1, P = g->page_bytes;
	const bool indices_ok = ld32(&v->indices_ok) != 0;
	struct nx_chan_hdr *hdr = NX_AT(struct nx_chan_hdr, v->base, 0);
	struct ck_ring *rq = NX_AT(struct ck_ring, v->base, g->req_ctl_off);
	struct ck_ring *rp = NX_AT(struct ck_ring, v->base, g->resp_ctl_off);
	struct nx_req_desc *slots = NX_AT(struct nx_req_desc, v->base, g->req_slots_off);
	struct nx_resp_desc *rslots = NX_AT(struct nx_resp_desc, v->base, g->resp_slots_off);
	uint8_t *req_ext = v->base + g->req_ext_off, *resp_ext = v->base + g->resp_ext_off;
	uint8_t *arena = v->base + g->arena_off;
	const uint32_t tail = ld32(&rq->p_tail), head = ld32(&rq->c_head), fly = tail - head;
	const uint32_t answered = ld32(&rp->p_tail), busy = tail - answered;
	/* a descriptor in flight (committed, not yet taken) when there is one */
	const uint32_t slot = fly != 0 && fly <= ring ? (head + below(s, fly)) & mask : below(s, ring);
	/* a payload in flight: not taken yet, or taken and not answered (a
	 * stage reads the extension and the arena in place) */
	const uint32_t pslot = busy != 0 && busy <= ring ? (answered + below(s, busy)) & mask : slot;
	struct nx_req_desc *d = &slots[slot];
	enum rw_kind kind = pick_kind(s, indices_ok);
	struct nx_req_arena ar;
	struct nx_req_desc copy;

	switch (kind) {
	case RW_DESC_LAP: {
		/* a slot's sequence flag: a lap ahead, behind, or anything */
		const uint32_t seq = head + ((slot - head) & mask);
		const uint8_t want = (uint8_t)((seq >> __builtin_ctz(ring)) + 1);
		const uint8_t laps[3] = { (uint8_t)(want + 1), (uint8_t)(want - 1), (uint8_t)rnd(s) };

		ck_pr_store_8(&d->lap, laps[below(s, 3)]);
		break;
	}
	case RW_DESC_PIPELINE: {
		static const uint16_t odd[] = { 0xffff, 0x8000, 60000, NPIPE + 3, 255, 256 };

		d->pipeline = below(s, 2) ? v->ids[below(s, NPIPE)] : odd[below(s, 6)];
		break;
	}
	case RW_DESC_FLAGS: {
		static const uint8_t combos[] = { NX_DESC_ARENA | NX_DESC_EXT, NX_DESC_EXT | NX_DESC_OUT_EXT,
						  NX_DESC_ARENA | NX_DESC_OUT_EXT, NX_DESC_DEADLINE,
						  NX_DESC_ARENA, NX_DESC_EXT, 0x20, 0x80, 0xff, 0 };

		d->flags = below(s, 2) ? combos[below(s, 10)] : (uint8_t)rnd(s);
		break;
	}
	case RW_DESC_LEN: {
		static const uint8_t lens[] = { 0, 55, 56, 57, 191, 192, 193, 255 };

		d->len = below(s, 2) ? lens[below(s, 8)] : (uint8_t)rnd(s);
		break;
	}
	case RW_DESC_DEADLINE:
		d->deadline_us = below(s, 2) ? (uint32_t)(nx_now_ns() / 1000) + below(s, 2000) - 1000
					    : rnd(s);
		d->flags |= NX_DESC_DEADLINE;
		break;
	case RW_DESC_DATA:
		fill(s, d->data + below(s, NX_INLINE_MAX), 1 + below(s, 8));
		break;
	case RW_DESC_ARENA_WRAP:
		/* offsets and lengths whose sums pass 2^32, or the arena's end */
		ar.in_off = arena_word(s, g->arena_bytes);
		ar.in_len = arena_word(s, g->arena_bytes);
		ar.out_off = arena_word(s, g->arena_bytes);
		ar.out_cap = arena_word(s, g->arena_bytes);
		if (below(s, 2))
			ar.in_len = 0u - ar.in_off + below(s, 64); /* in_off + in_len wraps */
		else
			ar.out_cap = 0u - ar.out_off + below(s, 64);
		memcpy(d->data, &ar, sizeof ar);
		if (below(s, 2)) {
			d->flags = NX_DESC_ARENA;
			d->len = 0;
		}
		break;
	case RW_DESC_ARENA_OVERLAP: {
		const uint32_t l = 1 + below(s, 8192);

		ar.in_off = below(s, 65536);
		ar.in_len = l;
		ar.out_off = below(s, 2) ? ar.in_off + below(s, l) : ar.in_off - below(s, 64);
		ar.out_cap = 1 + below(s, 8192);
		memcpy(d->data, &ar, sizeof ar);
		d->flags = NX_DESC_ARENA;
		d->len = 0;
		break;
	}
	case RW_DESC_WHOLE:
		fill(s, d, sizeof *d);
		break;
	case RW_REQ_EXT:
		scribble(s, req_ext + (size_t)pslot * NX_EXT_BYTES, 1 + below(s, NX_EXT_BYTES), h->keys);
		break;
	case RW_RESP_EXT:
		scribble(s, resp_ext + (size_t)((ld32(&rp->p_tail) + below(s, 3)) & mask) * NX_EXT_BYTES,
			 1 + below(s, NX_EXT_BYTES), h->keys);
		break;
	case RW_ARENA_IN:
	case RW_ARENA_OUT:
		memcpy(&copy, &slots[pslot], sizeof copy);
		if (arena_refs(&copy, g->arena_bytes, &ar)) {
			if (kind == RW_ARENA_IN)
				scribble(s, arena + ar.in_off, ar.in_len, h->keys);
			else
				scribble(s, arena + ar.out_off, ar.out_cap, h->keys);
		} else {
			scribble(s, arena + below(s, 65536), 1 + below(s, 4096), h->keys);
		}
		break;
	case RW_ARENA_ANY: {
		/* libnx allocates from the arena's start when nothing is in flight */
		const uint32_t off = below(s, 4) ? below(s, 65536) : below(s, g->arena_bytes - 4096);

		scribble(s, arena + off, 1 + below(s, 4096), h->keys);
		break;
	}
	case RW_CACHE_HAMMER:
		if (!hammer_cached(h, v, slots, answered, busy <= ring ? busy : 0))
			return; /* nothing of the cached pipeline in flight: not counted */
		break;
	case RW_REQ_PTAIL_NEAR:
	case RW_REQ_PTAIL_FAR:
		st32(&rq->p_tail, ld32(&rq->p_tail) + index_delta(s, ring, kind == RW_REQ_PTAIL_FAR));
		break;
	case RW_REQ_CHEAD_NEAR:
	case RW_REQ_CHEAD_FAR:
		st32(&rq->c_head, ld32(&rq->c_head) + index_delta(s, ring, kind == RW_REQ_CHEAD_FAR));
		break;
	case RW_RESP_PTAIL_NEAR:
	case RW_RESP_PTAIL_FAR:
		st32(&rp->p_tail, ld32(&rp->p_tail) + index_delta(s, ring, kind == RW_RESP_PTAIL_FAR));
		break;
	case RW_RESP_CHEAD_NEAR:
	case RW_RESP_CHEAD_FAR:
		st32(&rp->c_head, ld32(&rp->c_head) + index_delta(s, ring, kind == RW_RESP_CHEAD_FAR));
		break;
	case RW_P_HEAD:
		st32(below(s, 2) ? &rq->p_head : &rp->p_head, rnd(s));
		break;
	case RW_RESP_DESC: {
		struct nx_resp_desc *r = &rslots[below(s, 2) ? (ld32(&rp->p_tail) + below(s, 4)) & mask
							     : below(s, ring)];

		switch (below(s, 5)) {
		case 0: r->seq = rnd(s); break;
		case 1: r->status = (int16_t)rnd(s); break;
		case 2: r->flags = (uint8_t)rnd(s); break;
		case 3: r->len = (uint8_t)rnd(s); break;
		default: fill(s, r, sizeof *r); break;
		}
		break;
	}
	case RW_DOORBELL:
		st32(&hdr->doorbell, below(s, 2) ? ld32(&hdr->doorbell) + 1 : rnd(s));
		nx__futex_wake(&hdr->doorbell, INT_MAX, true);
		break;
	case RW_CLIENT_WAITING:
		st32(&hdr->client_waiting, below(s, 3) ? below(s, 2) : rnd(s));
		break;
	case RW_RESP_BELL:
		st32(&hdr->resp_bell, ld32(&hdr->resp_bell) + 1 + below(s, 2) * rnd(s));
		nx__futex_wake(&hdr->resp_bell, INT_MAX, true);
		break;
	case RW_HDR_IDENTITY: {
		/* the identity and geometry words nxd wrote at create */
		static const size_t words[] = {
			offsetof(struct nx_chan_hdr, magic), offsetof(struct nx_chan_hdr, abi_version),
			offsetof(struct nx_chan_hdr, layout_bytes),
			offsetof(struct nx_chan_hdr, layout_bytes) + 4,
			offsetof(struct nx_chan_hdr, generation), offsetof(struct nx_chan_hdr, page_bytes),
			offsetof(struct nx_chan_hdr, ring_size), offsetof(struct nx_chan_hdr, arena_bytes),
			offsetof(struct nx_chan_hdr, max_payload), offsetof(struct nx_chan_hdr, chan_id),
			offsetof(struct nx_chan_hdr, worker), offsetof(struct nx_chan_hdr, wait_mode),
			offsetof(struct nx_chan_hdr, req_ctl_off), offsetof(struct nx_chan_hdr, resp_ctl_off),
			offsetof(struct nx_chan_hdr, req_slots_off),
			offsetof(struct nx_chan_hdr, resp_slots_off),
			offsetof(struct nx_chan_hdr, arena_off), offsetof(struct nx_chan_hdr, req_ext_off),
			offsetof(struct nx_chan_hdr, resp_ext_off),
		};
		static const uint32_t vals[] = { 0, 0xffffffffu, 1, 0x7fffffffu, 64, 4096 };
		const size_t off = words[below(s, sizeof words / sizeof words[0])];

		st32(NX_AT(uint32_t, v->base, off), below(s, 2) ? vals[below(s, 6)] : rnd(s));
		break;
	}
	case RW_HDR_ANY:
		st32(NX_AT(uint32_t, v->base, 4 * below(s, sizeof(struct nx_chan_hdr) / 4)), rnd(s));
		break;
	case RW_GEOM_PAGE: {
		/* the page holding size and mask: each side has its own copy over
		 * it; this is the shared one underneath */
		uint8_t *page = v->base + (below(s, 2) ? g->req_ctl_off : g->resp_ctl_off) + NX_RING_GEOM_OFF;

		if (below(s, 2)) {
			st32(NX_AT(uint32_t, page, 0), below(s, 2) ? 0xffffffffu : rnd(s)); /* size */
			st32(NX_AT(uint32_t, page, 4), below(s, 2) ? 0xffffffffu : rnd(s)); /* mask */
		} else {
			st32(NX_AT(uint32_t, page, 4 * below(s, P / 4)), rnd(s));
		}
		break;
	}
	case RW_GEOM_OVERLAY: /* not the rewriter's (see libnx_overlay) */
		return;
	case RW_RING_PAD: {
		/* the unused pages before each ring structure, and its pad lines */
		uint8_t *r = (uint8_t *)(below(s, 2) ? rq : rp);

		switch (below(s, 3)) {
		case 0: st32(NX_AT(uint32_t, r, 4 + 4 * below(s, 15)), rnd(s)); break;  /* after c_head */
		case 1: st32(NX_AT(uint32_t, r, 72 + 4 * below(s, 14)), rnd(s)); break; /* after p_head */
		default:
			st32(NX_AT(uint32_t, r + 128 - P, 4 * below(s, (P - 128) / 4)), rnd(s));
			break;
		}
		break;
	}
	case RW_KINDS:
		return;
	}
	__atomic_fetch_add(&h->sh->rw[kind], 1, __ATOMIC_RELAXED); /* read by the main thread */
}

static void *
rewriter_main(void *arg)
{
	struct hostile *h = arg;

	while (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&h->mu);
		if (h->cur != NULL)
			for (int i = 0; i < 256; i++)
				rewrite_one(h, h->cur);
		pthread_mutex_unlock(&h->mu);
		sched_yield(); /* two CPUs, shared: let the others run */
	}
	return NULL;
}

/* libnx's channel fd: the one memfd this process has open. */
static int
channel_fd(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1, n = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		char path[300], link[256];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "/memfd:nx-channel", 17) == 0) {
			found = atoi(e->d_name);
			n++;
		}
	}
	closedir(dir);
	return n == 1 ? found : -1;
}

static struct rawview *
raw_map(struct hostile *h)
{
	struct rawview *v = calloc(1, sizeof *v);
	struct nx_chan_hdr hdr;
	int fd = channel_fd();
	int64_t size;
	void *base;

	if (v == NULL || fd < 0 || (size = nx__shm_size(fd)) < (int64_t)sizeof hdr ||
	    nx__shm_map(&base, fd, (size_t)size, true) < 0) {
		free(v);
		return NULL;
	}
	memcpy(&hdr, base, sizeof hdr); /* nobody has scribbled on this one yet */
	if (nx__chan_geom(&v->g, hdr.page_bytes, hdr.ring_size, hdr.arena_bytes, hdr.max_payload) < 0 ||
	    v->g.layout_bytes != (uint64_t)size) {
		nx__shm_unmap(base, (size_t)size);
		free(v);
		return NULL;
	}
	v->base = base;
	v->len = (size_t)size;
	v->chan_id = hdr.chan_id;
	v->cached_id = h->ids[P_CACHED];
	for (int p = 0; p < NPIPE; p++)
		v->ids[p] = (uint16_t)h->ids[p];
	return v;
}

static void
raw_unmap(struct rawview *v)
{
	if (v != NULL) {
		nx__shm_unmap(v->base, v->len);
		free(v);
	}
}

/* What the submitter asks: every pipeline, every placement, the keys, and
 * what libnx refuses itself. */
static void
hostile_submit(struct hostile *h, struct nx_client *c, uint64_t id)
{
	uint64_t *s = &h->rng;
	struct shared *sh = h->sh;
	const int pipe = (int)below(s, NPIPE);
	struct nx_req r = { .pipeline = (uint16_t)h->ids[pipe], .user_data = id };
	uint32_t len;
	int rc;

	if (below(s, 32) == 0) {
		static const uint16_t bad[] = { 0xffff, 60000, NPIPE + 1, 255 };

		r.pipeline = bad[below(s, 4)];
	}
	switch (below(s, 6)) {
	case 0: len = below(s, NX_INLINE_MAX + 1); break;
	case 1: len = NX_INLINE_MAX + 1 + below(s, NX_EXT_BYTES - NX_INLINE_MAX); break;
	case 2: len = NX_EXT_BYTES + 1 + below(s, 8192 - NX_EXT_BYTES); break;
	case 5:
		if (below(s, 8) == 0) {
			len = NX_PAYLOAD_MAX_DEFAULT + 1 + below(s, 200); /* E2BIG at libnx */
			break;
		}
		/* fall through */
	default: {
		/* a key, mostly on the cached pipeline: the inputs the good client asks */
		const int k = (int)below(s, NKEYS);

		len = h->keys->len[k];
		memcpy(h->in, h->keys->b[k], len);
		if (below(s, 4) != 0)
			r.pipeline = (uint16_t)h->ids[P_CACHED];
		r.in = h->in;
		break;
	}
	}
	if (r.in == NULL) {
		const uint32_t at = below(s, (uint32_t)sizeof h->in - len);

		fill(s, h->in + at, len < 64 ? len : 64);
		if (len > 0 && below(s, 2))
			h->in[at] = (uint8_t)('0' + below(s, 10)); /* pick: a child, or none */
		r.in = h->in + at;
	}
	r.in_len = len;
	switch (below(s, 5)) {
	case 0: r.out_cap = len < 4 ? len : below(s, len); break; /* too small: EOVERFLOW */
	case 1: r.out_cap = 0; break;
	case 2: r.out_cap = len + below(s, 4096); break;
	default: r.out_cap = answer_len(pipe, len); break;
	}
	if (r.out_cap > H_OUT_MAX)
		r.out_cap = H_OUT_MAX;
	r.out = h->out[id & 255];
	if (below(s, 8) == 0)
		r.flags = NX_REQ_IDEMPOTENT;
	if (below(s, 8) == 0) /* expired already, or soon, or much later */
		r.deadline_ns = nx_now_ns() + below(s, 3) * 500000000ull - 400000000ull + below(s, 1000);
	if (below(s, 64) == 0)
		r.flags = 0x8000; /* libnx says EINVAL */
	rc = nx_submit(c, &r);
	sh->h_submit_rc[status_idx(rc)]++;
	if (rc == 0)
		sh->h_submitted++;
}

static void
tally(struct shared *sh, const struct nx_completion *comps, int n)
{
	for (int i = 0; i < n; i++) {
		sh->h_status[status_idx(comps[i].status)]++;
		sh->h_degraded += (comps[i].flags & NX_COMP_DEGRADED) != 0;
	}
	sh->h_completed += (uint64_t)n;
}

/* libnx's own mapping of the channel (not ours at skip): the memfd mapped
 * at offset 0 elsewhere. */
static uint8_t *
libnx_base(const uint8_t *skip)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint8_t *found = NULL;

	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, off;

		if (strstr(line, "/memfd:nx-channel") == NULL ||
		    sscanf(line, "%lx-%*x %*s %lx", &lo, &off) != 2 || off != 0 ||
		    (const uint8_t *)lo == skip)
			continue;
		found = (uint8_t *)lo;
	}
	fclose(f);
	return found;
}

/* The geometry pages as libnx sees them: private to this process. Only
 * when libnx will not use this channel's rings again (its own indexing
 * goes by them): nxd has its own copy, and never sees these. */
static void
libnx_overlay(struct hostile *h, const struct rawview *v)
{
	uint8_t *base = libnx_base(v->base);
	uint64_t *s = &h->rng;

	if (base == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		uint8_t *geom = base + (i ? v->g.resp_ctl_off : v->g.req_ctl_off) + NX_RING_GEOM_OFF;

		st32(NX_AT(uint32_t, geom, 0), below(s, 2) ? 0xffffffffu : rnd(s)); /* size */
		st32(NX_AT(uint32_t, geom, 4), below(s, 2) ? 0xffffffffu : rnd(s)); /* mask */
		h->sh->rw[RW_GEOM_OVERLAY]++;
	}
}

/* Ask nxd to take back a channel that is no orphan: this one (its fd, the
 * id nxd gave it, or another), as if nxd had restarted. It must say no. */
static void
hostile_reclaim(struct hostile *h, const struct rawview *v)
{
	uint64_t *s = &h->rng;
	const uint32_t id = below(s, 2) ? v->chan_id : below(s, 80);
	struct nx_ctl_msg m;
	int fd = nx__ctl_connect(h->inst), rc = fd;

	if (fd >= 0) {
		rc = nx__ctl_send_request(fd, NX_CTL_RECLAIM,
					  below(s, 8) ? NX_CTL_VERSION : NX_CTL_VERSION + 1,
					  below(s, 2) ? NX_WAIT_SLEEP : NX_WAIT_SPIN, id, channel_fd());
		if (rc == 0)
			rc = nx__ctl_read_reply(fd, &m, NULL, nxt_patience_ns());
		nx__fd_close(fd);
	}
	h->sh->h_reclaim[status_idx(rc)]++;
}

static uint64_t
index_moves(const struct shared *sh)
{
	uint64_t n = 0;

	for (int k = RW_REQ_PTAIL_NEAR; k <= RW_RESP_CHEAD_FAR; k++)
		n += __atomic_load_n(&sh->rw[k], __ATOMIC_RELAXED);
	return n;
}

/* Attach, submit and race, detach (mostly with requests in flight). */
static void
hostile_session(struct hostile *h, unsigned sess)
{
	struct shared *sh = h->sh;
	uint64_t *s = &h->rng;
	struct nx_open_opts o = { .wait = (sess & 1) ? NX_WAIT_SLEEP : NX_WAIT_SPIN,
				  .spin_ns = (sess & 2) ? 1000 : 0 };
	struct nx_completion comps[64];
	struct rawview *v, *old;
	struct nx_client *c;
	unsigned idle = 0, nreq, i;
	int rc;

	rc = nxt_open_with(&c, h->inst, &o);
	if (rc < 0) {
		sh->h_open_failed++;
		return;
	}
	sh->h_sessions++;
	sh->h_wait_sleep += o.wait == NX_WAIT_SLEEP;
	if (pipeline_ids(c, h->ids) < 0 || (v = raw_map(h)) == NULL) {
		sh->h_open_failed++;
		nx_close(c);
		return;
	}
	pthread_mutex_lock(&h->mu);
	old = h->cur;
	h->cur = v;
	pthread_mutex_unlock(&h->mu);
	raw_unmap(old); /* the last channel, scribbled on till now, detached or not */
	__atomic_store_n(&sh->hostile_up, 1, __ATOMIC_RELEASE);

	if (below(s, 4) == 0)
		hostile_reclaim(h, v);
	/* a few synchronous calls, bounded: whatever they answer */
	for (i = 0; i < 3; i++) {
		uint32_t len;
		const int k = (int)below(s, NKEYS);

		rc = nx_call(c, (uint16_t)h->ids[i == 0 ? P_CACHED : (int)below(s, NPIPE)], h->keys->b[k],
			     h->keys->len[k], h->out[0], KEY_MAX, &len, 20000000);
		sh->h_status[status_idx(rc)]++;
		sh->h_calls++;
	}
	nreq = 20 + below(s, 400);
	for (i = 0; i < nreq && idle < H_STUCK_WAITS && !__atomic_load_n(&sh->stop, __ATOMIC_RELAXED);) {
		unsigned burst = 1 + below(s, 32);

		while (burst-- > 0 && i < nreq && nx_outstanding(c) < nx_capacity(c)) {
			hostile_submit(h, c, i);
			i++;
		}
		rc = nx_outstanding(c) != 0 ? nx_wait(c, comps, 64, 2000000) : nx_poll(c, comps, 64);
		if (rc > 0) {
			tally(sh, comps, rc);
			idle = 0;
		} else if (nx_outstanding(c) != 0) {
			idle++; /* nothing answered: a wrecked channel, or a busy worker */
		}
	}
	if (idle >= H_STUCK_WAITS)
		sh->h_stuck++;
	switch (below(s, 4)) {
	case 0: /* drain what still comes, then detach */
		for (idle = 0; nx_outstanding(c) != 0 && idle < H_STUCK_WAITS;) {
			rc = nx_wait(c, comps, 64, 2000000);
			if (rc > 0) {
				tally(sh, comps, rc);
				idle = 0;
			} else {
				idle++;
			}
		}
		sh->h_drained += nx_outstanding(c) == 0;
		break;
	case 1:
	case 2: /* the indices near and far while nxd still serves, then detach */
		if (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
			const uint64_t moved0 = index_moves(sh);

			st32(&v->indices_ok, 1); /* libnx is not called again on this channel */
			libnx_overlay(h, v);
			NXT_WAIT_UNTIL(index_moves(sh) >= moved0 + 64, nxt_patience_ns());
			sh->h_far_endgame++;
		}
		break;
	default:
		break;
	}
	sh->h_detach_inflight += nx_outstanding(c) != 0;
	nx_close(c); /* the rewriter keeps at it until the next channel */
	st32(&v->indices_ok, 1);
}

static int
run_hostile(const char *inst, struct shared *sh, const struct keys *keys, uint64_t seed)
{
	struct hostile *h = calloc(1, sizeof *h);
	const uint64_t t0 = nxt_now_ns(), budget = nxt_patience_ns();
	pthread_t t;
	unsigned sess;

	if (h == NULL)
		return say(sh, 20, "hostile client: no memory");
	h->inst = inst;
	h->sh = sh;
	h->keys = keys;
	h->rng = seed ^ 0x686f7374ull;
	h->wrng = seed ^ 0x77726974ull;
	pthread_mutex_init(&h->mu, NULL);
	if (pthread_create(&t, NULL, rewriter_main, h) != 0)
		return say(sh, 21, "hostile client: pthread_create");
	/* until the good client is done; bounded by count and time anyway */
	for (sess = 0; sess < H_SESSIONS_MAX && !__atomic_load_n(&sh->stop, __ATOMIC_RELAXED) &&
		       nxt_now_ns() - t0 < budget; sess++)
		hostile_session(h, sess);
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	raw_unmap(h->cur);
	if (sh->h_sessions == 0)
		return say(sh, 22, "hostile client: never attached (%llu failures)",
			   (unsigned long long)sh->h_open_failed);
	free(h);
	return 0;
}

/* ---- the test ---- */

static struct nxt_nxd nxd = { .pid = -1 };

#define check(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			nxt_nxd_dump_log(&nxd);                                         \
			fail_msg(__VA_ARGS__);                                          \
		}                                                                       \
	} while (0)

static unsigned
chans_in_use(const char *inst)
{
	struct nx_health_view hv;
	unsigned used = 0;

	if (nx__health_map_ro(&hv, inst) != 0)
		return ~0u;
	for (uint32_t i = 0; i < hv.max_channels; i++)
		used += nx__load32(&hv.chans[i].state) != NX_CHAN_FREE;
	nx__health_unmap(&hv);
	return used;
}

static void
report(const char *inst, const struct shared *sh)
{
	struct nx_health_view hv;
	unsigned k;

	print_message("hostile client: %llu sessions (%llu waiting by sleep; %llu failed to "
		      "attach), %llu detached with requests in flight, %llu drained first, %llu "
		      "with indices moved while still served, %llu given up as wrecked\n",
		      (unsigned long long)sh->h_sessions, (unsigned long long)sh->h_wait_sleep,
		      (unsigned long long)sh->h_open_failed, (unsigned long long)sh->h_detach_inflight,
		      (unsigned long long)sh->h_drained, (unsigned long long)sh->h_far_endgame,
		      (unsigned long long)sh->h_stuck);
	print_message("hostile client: %llu requests submitted, %llu calls, %llu completions "
		      "(%llu degraded)\n", (unsigned long long)sh->h_submitted,
		      (unsigned long long)sh->h_calls, (unsigned long long)sh->h_completed,
		      (unsigned long long)sh->h_degraded);
	for (k = 0; k < NSTATUS; k++)
		if (sh->h_status[k] != 0)
			print_message("  answered %-12s %10llu\n",
				      k == NSTATUS - 1 ? "(other)" : k == 0 ? "ok" : nx_err_name(-(int)k),
				      (unsigned long long)sh->h_status[k]);
	for (k = 0; k < NSTATUS; k++)
		if (sh->h_reclaim[k] != 0)
			print_message("  RECLAIM of a live channel: %-10s %6llu\n",
				      k == NSTATUS - 1 ? "(other)" : k == 0 ? "ACCEPTED" : nx_err_name(-(int)k),
				      (unsigned long long)sh->h_reclaim[k]);
	for (k = 1; k < NSTATUS; k++)
		if (sh->h_submit_rc[k] != 0)
			print_message("  submit refused %-8s %8llu\n",
				      k == NSTATUS - 1 ? "(other)" : nx_err_name(-(int)k),
				      (unsigned long long)sh->h_submit_rc[k]);
	print_message("rewrites:\n");
	for (k = 0; k < RW_KINDS; k++)
		print_message("  %-48s %10llu\n", rw_names[k], (unsigned long long)sh->rw[k]);
	print_message("good client: %llu requests sent, %llu answered right and in order "
		      "(echo %llu, checksum %llu, noop3 %llu, cached %llu, seq3 %llu, fan %llu, "
		      "pick %llu), "
		      "%llu rounds, %llu of %llu phases begun after a new hostile session\n",
		      (unsigned long long)sh->g_sent, (unsigned long long)sh->g_done,
		      (unsigned long long)sh->g_by_pipe[P_ECHO], (unsigned long long)sh->g_by_pipe[P_SUM],
		      (unsigned long long)sh->g_by_pipe[P_NOOP3],
		      (unsigned long long)sh->g_by_pipe[P_CACHED],
		      (unsigned long long)sh->g_by_pipe[P_SEQ3], (unsigned long long)sh->g_by_pipe[P_FAN],
		      (unsigned long long)sh->g_by_pipe[P_PICK], (unsigned long long)sh->g_rounds, (unsigned long long)sh->g_phases_raced,
		      (unsigned long long)sh->g_phases);
	print_message("good client, cached: %llu answers equal to their input (%llu from the "
		      "cache), %llu refused by the breaker; %llu keys primed; breaker forced open: "
		      "%llu asked, %llu answered from the cache, %llu not cached\n",
		      (unsigned long long)sh->g_cached_ok, (unsigned long long)sh->g_cached_degraded,
		      (unsigned long long)sh->g_cached_breaker, (unsigned long long)sh->g_primed,
		      (unsigned long long)sh->g_open_asked, (unsigned long long)sh->g_open_hits,
		      (unsigned long long)sh->g_open_misses);
	if (nx__health_map_ro(&hv, inst) == 0) {
		const struct nx_health_worker *w = &hv.workers[0];

		print_message("worker 0: taken %llu, answered %llu; errors: malformed %llu, unknown "
			      "pipeline %llu, stage %llu, overflow %llu, other %llu\n",
			      (unsigned long long)nx__load64(&w->taken),
			      (unsigned long long)nx__load64(&w->answered),
			      (unsigned long long)nx__load64(&w->errors[NX_WERR_BADDESC]),
			      (unsigned long long)nx__load64(&w->errors[NX_WERR_NOPIPE]),
			      (unsigned long long)nx__load64(&w->errors[NX_WERR_STAGE]),
			      (unsigned long long)nx__load64(&w->errors[NX_WERR_OVERFLOW]),
			      (unsigned long long)nx__load64(&w->errors[NX_WERR_OTHER]));
		for (uint32_t i = 0; i < hv.max_slots; i++) {
			const struct nx_health_slot_stats *st = &hv.slot_stats[i];

			if (nx__load32(&hv.slots[i].state) == 0 || strcmp(hv.slots[i].pipe, "cached") != 0)
				continue;
			print_message("cached/k on worker 0: %llu calls, %llu failures, %llu refused by "
				      "the breaker, opened %llu times, %llu degraded answers\n",
				      (unsigned long long)nx__load64(&st->calls),
				      (unsigned long long)nx__load64(&st->failures),
				      (unsigned long long)nx__load64(&st->rejected),
				      (unsigned long long)nx__load64(&st->opened),
				      (unsigned long long)nx__load64(&st->degraded));
		}
		nx__health_unmap(&hv);
	}
}

/* After the race: a new client attaches, every pipeline answers right,
 * and the cache answers the keys with their own input. */
static void
fresh_client(const char *inst, const struct keys *keys, uint64_t seed)
{
	static uint8_t in[GIN_MAX], out[GOUT_MAX], exp[GOUT_MAX];
	static const uint32_t lens[] = { 0, 5, 56, 57, 150, 192, 193, 1000, GIN_MAX };
	uint64_t s = seed ^ 0x6e6577ull;
	struct nx_client *c;
	int ids[NPIPE], rc;
	uint32_t len, flags;

	/* a channel just closed waits for a grace period: none free is no error */
	NXT_WAIT_UNTIL((rc = nxt_open(&c, inst)) != NX_ENOSPC, nxt_patience_ns());
	check(rc == 0, "fresh client: nx_open: %s", nx_errmsg());
	check(pipeline_ids(c, ids) == 0, "fresh client: %s", nx_errmsg());
	check(nxt_ctl(inst, NULL, 0, "breaker", "cached", "k", "close", NULL) == 0, "breaker close");
	for (int p = 0; p < NPIPE; p++)
		for (unsigned i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			uint32_t n;

			fill(&s, in, lens[i]);
			if (p == P_PICK)
				pick_first(&s, in, lens[i]);
			n = answer_of(p, in, lens[i], exp);
			rc = call1(c, ids[p], in, lens[i], out, n, &len, &flags);
			check(rc == 0 && len == n && memcmp(out, exp, n) == 0 && flags == 0,
			      "fresh client: %s, %u bytes: %s, %u bytes (expected %u), flags %#x",
			      pipe_names[p], lens[i], nx_strerror(rc), len, n, flags);
		}
	/* the cache, alone: keys answered while closed, then from the cache */
	for (int k = 0; k < NKEYS; k++) {
		rc = call1(c, ids[P_CACHED], keys->b[k], keys->len[k], out, KEY_MAX, &len, &flags);
		check(rc == 0 && len == keys->len[k] && memcmp(out, keys->b[k], len) == 0,
		      "fresh client: key %d: %s", k, nx_strerror(rc));
	}
	check(nxt_ctl(inst, NULL, 0, "breaker", "cached", "k", "open", NULL) == 0, "breaker open");
	for (int k = 0; k < NKEYS; k++) {
		rc = call1(c, ids[P_CACHED], keys->b[k], keys->len[k], out, KEY_MAX, &len, &flags);
		check(rc == 0 && (flags & NX_COMP_DEGRADED) && len == keys->len[k] &&
			      memcmp(out, keys->b[k], len) == 0,
		      "fresh client: key %d with the breaker open: %s, flags %#x, %u bytes", k,
		      nx_strerror(rc), flags, len);
	}
	check(nxt_ctl(inst, NULL, 0, "breaker", "cached", "k", "auto", NULL) == 0, "breaker auto");
	nx_close(c);
}

/* The race, on an nxd whose worker idles by idle (spin or sleep). */
static void
race(const char *idle, unsigned rounds, unsigned mixed)
{
	const uint64_t seed = seed_get();
	struct shared *sh = shared_map(sizeof *sh);
	struct keys *keys = calloc(1, sizeof *keys);
	char inst[64], conf[256];
	int fds0, fds = -1, maps = -1, rc_g, rc_h, rc;
	unsigned used = ~0u;
	pid_t pg, ph;
	FILE *f;

	assert_non_null(keys);
	make_keys(keys, seed);
	sh->g_nrounds = rounds;
	sh->g_nmixed = mixed;
	print_message("seed %#llx (NXT_SEED=%#llx replays its choices), worker idle %s\n",
		      (unsigned long long)seed, (unsigned long long)seed, idle);
	nxt_instance(inst, sizeof inst, "hcli");
	nxt_tmpfile(conf, sizeof conf, "hostile-client.ini");
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(conf_text, f);
	fclose(f);
	assert_int_equal(nxt_nxd_start(&nxd, inst,
				       (const char *const[]){ "--config", conf, "--workers", "1",
							      "--idle", idle, "--quiet", NULL }),
			 0);
	/* no channel yet: what nxd holds without clients */
	fds0 = nxt_count_fds(nxd.pid);
	assert_true(fds0 > 0);

	ph = nxt_fork();
	if (ph == 0)
		_exit(run_hostile(inst, sh, keys, seed));
	sh->hostile_pid = ph;
	pg = nxt_fork();
	if (pg == 0)
		_exit(run_good(inst, sh, keys, seed));
	assert_true(ph > 0 && pg > 0);
	/* the good client bounds each of its waits; this watches for no work at all */
	rc_g = nxt_wait_progress(pg, inst, nxt_patience_ns());
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	rc_h = nxt_wait(ph, nxt_patience_ns());
	report(inst, sh);
	check(rc_g == 0, "good client exited %d: %s", rc_g, sh->why);
	check(rc_h == 0, "hostile client exited %d: %s", rc_h, sh->why);
	check(sh->g_done == sh->g_sent && sh->g_rounds == rounds, "good client: %llu of %llu",
	      (unsigned long long)sh->g_done, (unsigned long long)sh->g_sent);
	check(sh->h_reclaim[0] == 0, "nxd let a client reclaim a live channel %llu times",
	      (unsigned long long)sh->h_reclaim[0]);

	/* nxd still runs and answers */
	check(!nxt_pid_gone(nxd.pid), "nxd is gone");
	rc = nxt_ctl(inst, NULL, 0, "list", NULL);
	check(rc == 0, "nxctl list: %s", nx_strerror(rc));
	fresh_client(inst, keys, seed);

	/* and holds nothing of the clients once they are gone */
	NXT_WAIT_UNTIL((used = chans_in_use(inst)) == 0 && (fds = nxt_count_fds(nxd.pid)) == fds0 &&
		       (maps = nxt_count_memfd_maps(nxd.pid)) == 0, nxt_patience_ns());
	print_message("nxd after the clients: %u channels in use, %d fds (%d before), %d channel "
		      "mappings\n", used, fds, fds0, maps);
	check(used == 0, "%u channels still in use", used);
	check(fds == fds0, "nxd has %d fds, had %d before the clients", fds, fds0);
	check(maps == 0, "nxd still maps %d channels", maps);
	rc = nxt_nxd_stop(&nxd);
	check(rc == 0, "nxd exited %d on SIGTERM", rc);
	munmap(sh, sizeof *sh);
	free(keys);
}

static void
test_a_client_racing_everything_it_can_write_harms_no_one(void **state)
{
	(void)state;
	race("spin", 6, 60000);
}

/* The same against a worker that sleeps when idle: it waits on the
 * doorbells the hostile client scribbles on, rings and futex-wakes. */
static void
test_the_racing_client_against_a_sleeping_worker_harms_no_one(void **state)
{
	(void)state;
	race("sleep", 3, 20000);
}

/* ---- attach and detach, as fast as it goes, with the worker sleeping ---- */

#define STORM_CYCLES 2000

struct storm {
	uint32_t stop;
	uint64_t cycles[2];
	uint64_t enospc[2];
	uint64_t sleep_opens[2];
	uint64_t keeper_calls;
	char why[512];
};

__attribute__((format(printf, 3, 4))) static int
storm_say(struct storm *sh, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof sh->why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", sh->why);
	return code;
}

/*
 * One echo call that gives up as soon as nxd is gone: the bug this storm
 * hunts kills nxd, and a call waiting out its whole patience on a dead
 * nxd only makes the failure slow. Waits in slices, looking between them.
 */
static int
storm_call(struct nx_client *c, uint32_t v, uint32_t *out, uint32_t *len)
{
	struct nx_req r = { .in = &v, .in_len = 4, .out = out, .out_cap = 4, .user_data = v };
	struct nx_completion comp;
	const uint64_t t0 = nxt_now_ns();
	int rc, echo = nx_pipeline_id(c, "echo");

	if (echo < 0)
		return echo;
	r.pipeline = (uint16_t)echo;
	if ((rc = nx_submit(c, &r)) != 0)
		return rc;
	for (;;) {
		rc = nx_wait(c, &comp, 1, 100000000ull);
		if (rc < 0 && rc != NX_ETIMEDOUT)
			return rc;
		if (rc == 1) {
			*len = comp.out_len;
			return comp.user_data == v ? comp.status : NX_EPROTO;
		}
		if (nxt_pid_gone(nxd.pid) || nxt_now_ns() - t0 > nxt_patience_ns())
			return NX_ETIMEDOUT;
	}
}

static int
run_storm(const char *inst, struct storm *sh, int who, uint64_t budget_ns)
{
	const uint64_t t0 = nxt_now_ns();
	unsigned i;

	for (i = 0; i < STORM_CYCLES && nxt_now_ns() - t0 < budget_ns; i++) {
		struct nx_open_opts o = { .wait = ((i + (unsigned)who) & 1) ? NX_WAIT_SLEEP : NX_WAIT_SPIN };
		struct nx_client *c = NULL;
		uint32_t out = 0, len = 0, v = (uint32_t)who << 24 | i;
		int rc;

		/* a channel released waits for a grace period: none free is no error */
		NXT_WAIT_UNTIL((rc = nxt_open_with(&c, inst, &o)) != NX_ENOSPC || !++sh->enospc[who],
			       nxt_patience_ns());
		if (rc < 0)
			return storm_say(sh, 50, "storm %d, cycle %u: nx_open: %s", who, i, nx_errmsg());
		sh->sleep_opens[who] += o.wait == NX_WAIT_SLEEP;
		rc = storm_call(c, v, &out, &len);
		if (rc != 0 || len != 4 || out != v)
			return storm_say(sh, 51, "storm %d, cycle %u: call: %s, %u bytes%s", who, i,
					 nx_strerror(rc), len,
					 nxt_pid_gone(nxd.pid) ? " (nxd is gone)" : "");
		nx_close(c);
		__atomic_store_n(&sh->cycles[who], (uint64_t)i + 1, __ATOMIC_RELAXED);
	}
	return 0;
}

/* Keeps its channel, and calls each time the storms have gone some cycles on. */
static int
run_keeper(const char *inst, struct storm *sh)
{
	struct nx_open_opts o = { .wait = NX_WAIT_SLEEP };
	struct nx_client *c;
	uint32_t n = 0;

	if (nxt_open_with(&c, inst, &o) < 0)
		return storm_say(sh, 60, "keeper: nx_open: %s", nx_errmsg());
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		uint64_t at = __atomic_load_n(&sh->cycles[0], __ATOMIC_RELAXED) +
			      __atomic_load_n(&sh->cycles[1], __ATOMIC_RELAXED);
		uint32_t out = 0, len = 0;
		int rc = storm_call(c, n, &out, &len);

		if (rc != 0 || len != 4 || out != n)
			return storm_say(sh, 61, "keeper: call %u: %s%s", n, nx_strerror(rc),
					 nxt_pid_gone(nxd.pid) ? " (nxd is gone)" : "");
		n++;
		sh->keeper_calls = n;
		NXT_WAIT_UNTIL(__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) ||
			       __atomic_load_n(&sh->cycles[0], __ATOMIC_RELAXED) +
					       __atomic_load_n(&sh->cycles[1], __ATOMIC_RELAXED) >=
				       at + 25,
			       nxt_patience_ns());
	}
	nx_close(c);
	return 0;
}

static void
test_attach_detach_storm_in_sleep_mode(void **state)
{
	struct storm *sh = (struct storm *)(void *)shared_map(sizeof(struct storm));
	/* a bound on the storm's time, well inside the patience: a slow machine
	 * does fewer cycles, and says how many */
	const uint64_t budget = nxt_budget_ns(40000000000ull);
	char inst[64];
	pid_t keeper, storms[2];
	int rc, st[2];
	unsigned used = ~0u;

	(void)state;
	nxt_instance(inst, sizeof inst, "storm");
	assert_int_equal(nxt_nxd_start(&nxd, inst,
				       (const char *const[]){ "--idle", "sleep", "--quiet", NULL }),
			 0);
	keeper = nxt_fork();
	if (keeper == 0)
		_exit(run_keeper(inst, sh));
	for (int w = 0; w < 2; w++) {
		storms[w] = nxt_fork();
		if (storms[w] == 0)
			_exit(run_storm(inst, sh, w, budget));
	}
	for (int w = 0; w < 2; w++)
		st[w] = nxt_wait(storms[w], budget + nxt_patience_ns());
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	rc = nxt_wait(keeper, nxt_patience_ns());
	print_message("storm: %llu + %llu attach/call/detach cycles (%llu + %llu waiting by sleep, "
		      "%llu + %llu attaches found no free channel and waited), keeper called %llu "
		      "times\n", (unsigned long long)sh->cycles[0], (unsigned long long)sh->cycles[1],
		      (unsigned long long)sh->sleep_opens[0], (unsigned long long)sh->sleep_opens[1],
		      (unsigned long long)sh->enospc[0], (unsigned long long)sh->enospc[1],
		      (unsigned long long)sh->keeper_calls);
	check(st[0] == 0 && st[1] == 0, "storms exited %d and %d: %s", st[0], st[1], sh->why);
	check(rc == 0, "keeper exited %d: %s", rc, sh->why);
	check(!nxt_pid_gone(nxd.pid), "nxd is gone");
	rc = nxt_ctl(inst, NULL, 0, "list", NULL);
	check(rc == 0, "nxctl list: %s", nx_strerror(rc));
	NXT_WAIT_UNTIL((used = chans_in_use(inst)) == 0, nxt_patience_ns());
	check(used == 0, "%u channels not FREE", used);
	rc = nxt_nxd_stop(&nxd);
	check(rc == 0, "nxd exited %d on SIGTERM", rc);
	munmap(sh, sizeof *sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_a_client_racing_everything_it_can_write_harms_no_one,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_the_racing_client_against_a_sleeping_worker_harms_no_one,
					  nxt_teardown),
		cmocka_unit_test_teardown(test_attach_detach_storm_in_sleep_mode, nxt_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hostile client", tests, NULL, NULL);
}
