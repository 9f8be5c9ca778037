/*
 * The answer cache: a statically sized, direct-mapped table of answers
 * keyed by the normalized query, built in init and shared by name.
 *
 * Shared, not per worker: one worker's answer serves the next request on
 * any worker, and the memory is paid once. Each entry has a sequence
 * lock: a writer that finds it taken skips its store (never waits), a
 * reader that finds it changing retries a few times, then calls it a
 * miss. Entries are read and written with relaxed atomics, so a torn
 * read is detected, never acted upon.
 *
 * Correct under swaps: slots with one table name (and size) share one
 * table by reference count, so a swapped-in cache stage keeps the warm
 * entries and a new size starts empty. An answer depends on the corpus
 * (read-only, one per process) and on the engines' ranking: a swap of
 * an engine or rerank lets answers of the old version be served until
 * they are replaced, which is what a cache is for; name a new table
 * (table=NAME) to start from cold instead.
 *
 * What goes in: only an answer the answer stage built in this request
 * (ctx meta NXR_META_ANSWERED) from lists the engines made (preprocess
 * lets no client's answer or list past it), and never a degraded one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/retrieval/nxr.h"

#define CACHE_VAL_MAX 8192 /* bytes of an answer, at most (read through the stack) */
#define CACHE_READ_TRIES 4

struct entry {
	uint32_t seq;  /* odd: being written */
	uint32_t len;  /* bytes of the answer */
	uint64_t hash; /* of the query */
	uint64_t data[];
};

struct table {
	struct table *next;
	char name[32];
	uint32_t entries, value_max, stride; /* stride: bytes per entry */
	unsigned refs;
	uint8_t *mem;
};

/* the tables by name: control thread only (init, fini) */
static struct table *tables;

struct cache {
	struct table *t;
	int put;
	int mark_miss;
};

static inline struct entry *
entry_at(const struct table *t, uint64_t hash)
{
	/* each entry starts on a 64-byte line: mem is aligned, stride a multiple */
	return (struct entry *)(void *)(t->mem + (size_t)(hash & (t->entries - 1)) * t->stride);
}

static int
table_get(struct table **out, const char *name, uint32_t entries, uint32_t value_max)
{
	struct table *t;

	for (t = tables; t != NULL; t = t->next) {
		if (strcmp(t->name, name) == 0 && t->entries == entries &&
		    t->value_max == value_max) {
			t->refs++;
			*out = t;
			return 0;
		}
	}
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return NX_ENOMEM;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->entries = entries;
	t->value_max = value_max;
	t->stride = (uint32_t)((sizeof(struct entry) + value_max + 63) / 64 * 64);
	t->mem = aligned_alloc(64, (size_t)t->stride * entries);
	if (t->mem == NULL) {
		free(t);
		return NX_ENOMEM;
	}
	memset(t->mem, 0, (size_t)t->stride * entries);
	t->refs = 1;
	t->next = tables;
	tables = t;
	*out = t;
	return 0;
}

static void
table_put(struct table *t)
{
	struct table **pp;

	if (--t->refs != 0)
		return;
	for (pp = &tables; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	free(t->mem);
	free(t);
}

static int
cache_init(void **state, const struct nx_stage_conf *conf)
{
	const char *mode = nx_stage_conf_get(conf, "mode", "get");
	const char *name = nx_stage_conf_get(conf, "table", "main");
	const char *miss = nx_stage_conf_get(conf, "miss", "pass");
	const char *s;
	unsigned long entries = 4096, value_max = 2048;
	struct cache *c;
	char *end;
	int rc;

	if ((s = nx_stage_conf_get(conf, "entries", NULL)) != NULL) {
		entries = strtoul(s, &end, 10);
		if (end == s || *end != '\0' || entries == 0 || entries > (1ul << 20) ||
		    (entries & (entries - 1)) != 0)
			return NX_EINVAL; /* a power of two, up to 2^20 */
	}
	if ((s = nx_stage_conf_get(conf, "value_max", NULL)) != NULL) {
		value_max = strtoul(s, &end, 10);
		if (end == s || *end != '\0' || value_max < 64 || value_max > CACHE_VAL_MAX)
			return NX_EINVAL;
		value_max = (value_max + 7) / 8 * 8;
	}
	if ((strcmp(mode, "get") != 0 && strcmp(mode, "put") != 0) ||
	    (strcmp(miss, "pass") != 0 && strcmp(miss, "mark") != 0) || name[0] == '\0' ||
	    strlen(name) >= sizeof ((struct table *)0)->name)
		return NX_EINVAL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NX_ENOMEM;
	c->put = strcmp(mode, "put") == 0;
	c->mark_miss = strcmp(miss, "mark") == 0;
	rc = table_get(&c->t, name, (uint32_t)entries, (uint32_t)value_max);
	if (rc < 0) {
		free(c);
		return rc;
	}
	*state = c;
	return 0;
}

static void
cache_fini(void *state)
{
	struct cache *c = state;

	if (c == NULL)
		return;
	table_put(c->t);
	free(c);
}

/* Copy an entry's answer out under its sequence lock. @return its length,
 * or 0 (a miss: empty, another query, or changing under us) */
static uint32_t
entry_read(const struct table *t, struct entry *e, uint64_t hash, uint64_t *buf)
{
	unsigned tries;

	for (tries = 0; tries < CACHE_READ_TRIES; tries++) {
		uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE), len, i;

		if (s1 & 1u)
			continue;
		/* each load acquires, so the second look at seq below cannot
		 * move before any of them (a fence would do as well, but TSan
		 * does not model fences; on x86 both are plain loads) */
		if (__atomic_load_n(&e->hash, __ATOMIC_ACQUIRE) != hash)
			return 0;
		len = __atomic_load_n(&e->len, __ATOMIC_ACQUIRE);
		if (len == 0 || len > t->value_max)
			return 0;
		for (i = 0; i < (len + 7) / 8; i++)
			buf[i] = __atomic_load_n(&e->data[i], __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) == s1)
			return len;
	}
	return 0;
}

static void
entry_write(struct entry *e, uint64_t hash, const uint8_t *msg, uint32_t len)
{
	uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED), i;

	/* taken (odd), or taken and released meanwhile (the CAS fails): skip */
	if ((s & 1u) || !__atomic_compare_exchange_n(&e->seq, &s, s + 1, 0, __ATOMIC_ACQUIRE,
						      __ATOMIC_RELAXED))
		return;
	/* each store releases, so none can be seen before the odd seq
	 * (pairs with the reader's acquiring loads; TSan models these, not
	 * fences; on x86 they are plain stores) */
	__atomic_store_n(&e->hash, hash, __ATOMIC_RELEASE);
	__atomic_store_n(&e->len, len, __ATOMIC_RELEASE);
	for (i = 0; i < (len + 7) / 8; i++) {
		uint64_t w = 0;
		uint32_t n = len - i * 8 < 8 ? len - i * 8 : 8;

		memcpy(&w, msg + i * 8, n);
		__atomic_store_n(&e->data[i], w, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

static int
cache_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct cache *c = state;
	uint64_t buf[CACHE_VAL_MAX / 8];
	char q[NXR_Q_MAX + 1];
	struct nxr_view v, a;
	uint32_t len;
	uint64_t h;

	if (nxr_parse(&v, m->in, m->in_len) < 0 || nxr_parse_q(&v, q, sizeof q) < 0)
		return NX_EINVAL;
	h = nxr_hash64(q, v.qlen);
	if (c->put) {
		const void *val;
		uint32_t vlen;

		/* an answer this request built, not one from the cache or a
		 * client, and not a degraded one (an engine skipped or replaced:
		 * served as it is now, never remembered as the answer) */
		if (v.kind != NXR_ANSWER || (v.flags & NXR_F_CACHED) || v.len > c->t->value_max ||
		    (ctx->flags & NX_CTX_DEGRADED) ||
		    nx_ctx_get(ctx, NXR_META_ANSWERED, &val, &vlen) != 0)
			return NX_STAGE_PASS;
		/* copy first: the stored bytes are the ones parsed */
		memcpy(buf, m->in, v.len);
		if (nxr_parse(&a, (const uint8_t *)buf, v.len) < 0 || a.qlen != v.qlen ||
		    memcmp(a.q, q, v.qlen) != 0)
			return NX_STAGE_PASS;
		entry_write(entry_at(c->t, h), h, (const uint8_t *)buf, v.len);
		return NX_STAGE_PASS;
	}
	if (v.kind == NXR_ANSWER)
		return NX_STAGE_PASS;
	len = entry_read(c->t, entry_at(c->t, h), h, buf);
	/* a hash is not the query: compare what was stored */
	if (len == 0 || nxr_parse(&a, (const uint8_t *)buf, len) < 0 || a.kind != NXR_ANSWER ||
	    a.qlen != v.qlen || memcmp(a.q, q, v.qlen) != 0) {
		int n;

		if (!c->mark_miss)
			return NX_STAGE_PASS;
		n = nxr_write(m->out, m->out_cap, v.kind, v.route, (uint16_t)(v.flags | NXR_F_MISS),
			      q, v.qlen, v.hits, v.nhits);
		if (n < 0)
			return NX_EOVERFLOW;
		m->out_len = (uint32_t)n;
		return 0;
	}
	if (a.len > m->out_cap)
		return NX_EOVERFLOW;
	memcpy(m->out, buf, a.len);
	/* this request's route, and where the answer came from */
	m->out[5] = v.route;
	nxr_put16(m->out + 6, (uint16_t)(a.flags | NXR_F_CACHED));
	m->out_len = a.len;
	return 0;
}

const struct nx_stage_ops nxr_cache_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "cache",
	.description = "answers by normalized query: mode=get|put, table=main, entries=4096",
	.init = cache_init,
	.process = cache_process,
	.fini = cache_fini,
};
