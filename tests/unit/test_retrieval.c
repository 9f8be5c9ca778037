/*
 * The retrieval stages (stages/retrieval/) on known inputs, over the real
 * WordNet corpus: answers known in the corpus, fusion's arithmetic, the
 * cache's bound, the router's classes, hostile bytes into every stage,
 * and the full pipeline built from text with the stages as built-ins.
 * Each stage runs through its process with a real nx_msg and nx_ctx.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/datapath/pipe_run.h"
#include "core/datapath/worker.h"
#include "core/pipeline/stages.h"
#include "stages/retrieval/nxr.h"

#define CAP 16384
#define CORPUS "/usr/share/wordnet"

static const struct nxr_index *idx;

/* A stage instance: its ops and state. */
struct inst {
	const struct nx_stage_ops *ops;
	void *state;
};

static struct inst
make_inst(const struct nx_stage_ops *ops, const char *const *kv)
{
	const char *keys[8], *vals[8];
	struct nx_stage_conf conf = { 0, keys, vals };
	struct inst in = { ops, NULL };

	for (; kv != NULL && kv[0] != NULL && conf.n < 8; kv += 2, conf.n++) {
		keys[conf.n] = kv[0];
		vals[conf.n] = kv[1];
	}
	if (ops->state_bytes != 0)
		in.state = calloc(1, ops->state_bytes);
	if (ops->init != NULL)
		assert_int_equal(ops->init(&in.state, &conf), 0);
	return in;
}

static void
drop_inst(struct inst *in)
{
	if (in->ops->fini != NULL)
		in->ops->fini(in->state);
	else if (in->ops->state_bytes != 0)
		free(in->state);
}

/* Run one stage: in -> out; on NX_STAGE_PASS the output is the input. */
static int
run(const struct inst *in, const void *src, uint32_t len, uint8_t *out, uint32_t *out_len,
    struct nx_ctx *ctx)
{
	struct nx_msg m = { .in = src, .in_len = len, .out = out, .out_cap = CAP };
	int rc = in->ops->process(in->state, &m, ctx);

	if (rc == 0) {
		assert_true(m.out_len <= CAP);
		*out_len = m.out_len;
	} else if (rc == NX_STAGE_PASS) {
		memmove(out, src, len);
		*out_len = len;
	}
	return rc;
}

/* raw text -> preprocess -> stages... ; the last output in out */
static int
chain(const char *text, struct inst *const *st, unsigned n, uint8_t *out, uint32_t *len,
      struct nx_ctx *ctx)
{
	static uint8_t a[CAP], b[CAP];
	struct inst pre = make_inst(&nxr_preprocess_stage, NULL);
	uint8_t *cur = a, *nxt = b;
	unsigned i;
	int rc;

	rc = run(&pre, text, (uint32_t)strlen(text), cur, len, ctx);
	drop_inst(&pre);
	for (i = 0; i < n && rc >= 0; i++) {
		uint8_t *t;

		rc = run(st[i], cur, *len, nxt, len, ctx);
		t = cur;
		cur = nxt;
		nxt = t;
	}
	memcpy(out, cur, *len);
	return rc < 0 ? rc : 0;
}

static const char *
title_of(uint32_t doc)
{
	static char t[NXR_TITLE_MAX + 1];
	uint32_t n = idx->title_off[doc + 1] - idx->title_off[doc];

	memcpy(t, idx->titles + idx->title_off[doc], n);
	t[n] = '\0';
	return t;
}

/* Is w one of the doc's lemmas (the title before " (")? */
static int
has_lemma(uint32_t doc, const char *w)
{
	char t[NXR_TITLE_MAX + 1], *p, *save = NULL;

	snprintf(t, sizeof t, "%s", title_of(doc));
	if ((p = strstr(t, " (")) != NULL)
		*p = '\0';
	for (p = strtok_r(t, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		if (strcasecmp(p, w) == 0)
			return 1;
	}
	return 0;
}

static struct nxr_view
view(const uint8_t *buf, uint32_t len)
{
	struct nxr_view v;

	assert_int_equal(nxr_parse(&v, buf, len), 0);
	return v;
}

static struct nxr_view
query(const struct nx_stage_ops *ops, const char *const *kv, const char *text)
{
	static uint8_t out[CAP];
	struct inst e = make_inst(ops, kv);
	struct inst *st[] = { &e };
	struct nx_ctx ctx = { 0 };
	uint32_t len;
	struct nxr_view v;

	assert_int_equal(chain(text, st, 1, out, &len, &ctx), 0);
	v = view(out, len);
	drop_inst(&e);
	return v;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long
rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
setup(void **state)
{
	long before = rss_kib();
	int rc;

	(void)state;
	if (access(CORPUS "/data.noun", R_OK) != 0) {
		printf("skipped: no WordNet corpus in %s (scripts/install-deps.sh installs "
		       "wordnet-base)\n", CORPUS);
		return 0;
	}
	rc = nxr_index_get(&idx, CORPUS);
	if (rc < 0)
		return -1;
	printf("index: %u documents, %u terms, %.0f ms to build, %zu MiB of index, rss +%ld MiB\n",
	       idx->ndocs, idx->nterms, (double)idx->build_ns / 1e6, idx->bytes >> 20,
	       (rss_kib() - before) / 1024);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (idx != NULL)
		nxr_index_put(idx);
	idx = NULL;
	return 0;
}

#define NEED_CORPUS()                                                          \
	do {                                                                   \
		(void)state;                                                   \
		if (idx == NULL)                                               \
			skip();                                                \
	} while (0)

/* ---- text and router ---- */

static void
test_normalizer_drops_case_punctuation_and_stop_words(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "The Dog's BARKING!", "dog barking" },
		{ "  what is a   dog?  ", "dog" },
		{ "well-known (a) caf\xc3\xa9 X1", "well known caf x1" },
		{ "", "" },
		{ "the of and", "" },
	};
	char out[128];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t n = nxr_normalize((const uint8_t *)cases[i].in,
					   (uint32_t)strlen(cases[i].in), out, sizeof out);

		out[n] = '\0';
		assert_string_equal(out, cases[i].out);
	}
	/* never more than cap */
	assert_true(nxr_normalize((const uint8_t *)"alpha beta gamma", 16, out, 7) <= 7);
}

static void
test_router_classes_and_selector_rules(void **state)
{
	static const struct {
		const char *q;
		uint8_t cls;
		int child;
	} cases[] = {
		{ "dog", NXR_ROUTE_LOOKUP, 1 },
		{ "domestic dog", NXR_ROUTE_KEYWORD, 1 },
		{ "common wolf species", NXR_ROUTE_KEYWORD, 1 },
		{ "\"the dog barked\"", NXR_ROUTE_PHRASE, 2 },
		{ "member of the genus canis", NXR_ROUTE_PHRASE, 2 },
		{ "what is a dog", NXR_ROUTE_COMPLEX, 3 },
		{ "dog?", NXR_ROUTE_COMPLEX, 3 },
		{ "one two three four five six seven eight", NXR_ROUTE_COMPLEX, 3 },
	};
	struct inst r = make_inst(&nxr_router_stage, NULL);
	uint8_t out[CAP], q[256];
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct nx_msg m = { .in = (const uint8_t *)cases[i].q,
				    .in_len = (uint32_t)strlen(cases[i].q) };
		struct nx_ctx ctx = { 0 };
		const void *val;
		uint32_t vlen, len;

		assert_int_equal(nxr_classify_raw(m.in, m.in_len), cases[i].cls);
		/* a selector (out_cap 0): the child index */
		assert_int_equal(r.ops->process(r.state, &m, &ctx), cases[i].child);
		/* in a sequence: passes, and says the route in ctx */
		assert_int_equal(run(&r, cases[i].q, m.in_len, out, &len, &ctx), NX_STAGE_PASS);
		assert_int_equal(nx_ctx_get(&ctx, NXR_META_ROUTE, &val, &vlen), 0);
		/* preprocess keeps the class in the header */
		{
			struct inst pre = make_inst(&nxr_preprocess_stage, NULL);

			assert_int_equal(run(&pre, cases[i].q, m.in_len, out, &len, &ctx), 0);
			assert_int_equal(view(out, len).route, cases[i].cls);
			/* and the router reads it back from an NXR1 query */
			m = (struct nx_msg){ .in = out, .in_len = len };
			assert_int_equal(r.ops->process(r.state, &m, &ctx), cases[i].child);
			drop_inst(&pre);
		}
	}
	/* an answer (a cache hit) selects child 0 */
	{
		int n = nxr_write(q, sizeof q, NXR_ANSWER, NXR_ROUTE_COMPLEX, NXR_F_CACHED, "dog", 3,
				  NULL, 0);
		struct nx_msg m = { .in = q, .in_len = (uint32_t)n };
		struct nx_ctx ctx = { 0 };

		assert_int_equal(r.ops->process(r.state, &m, &ctx), 0);
	}
	/* a query without a route: classified by its number of words */
	{
		int n = nxr_write_query(q, sizeof q, "aa bb cc dd ee", 14);
		struct nx_msg m = { .in = q, .in_len = (uint32_t)n };
		struct nx_ctx ctx = { 0 };

		assert_int_equal(r.ops->process(r.state, &m, &ctx), 2);
	}
	drop_inst(&r);
}

/* ---- the engines on known answers ---- */

static void
test_search_and_bm25_find_the_dog(void **state)
{
	const char *const k10[] = { "k", "10", NULL };
	struct nxr_view v;
	uint32_t i;

	NEED_CORPUS();
	v = query(&nxr_search_stage, k10, "dog");
	assert_int_equal(v.kind, NXR_HITS);
	assert_int_equal(v.nhits, 10);
	assert_true(has_lemma(v.hits[0].doc, "dog"));
	for (i = 1; i < v.nhits; i++)
		assert_true(v.hits[i].score <= v.hits[i - 1].score);
	v = query(&nxr_bm25_stage, NULL, "Dog");
	assert_int_equal(v.nhits, NXR_K_MAX);
	assert_true(has_lemma(v.hits[0].doc, "dog"));
	/* two words: the synset with both */
	v = query(&nxr_search_stage, NULL, "domestic dog");
	assert_true(has_lemma(v.hits[0].doc, "domestic dog"));
	/* nothing known: no hits, still an answer */
	v = query(&nxr_search_stage, NULL, "xqzzyv the");
	assert_int_equal(v.nhits, 0);
}

static void
test_phrase_finds_a_gloss_at_rank_one(void **state)
{
	struct nxr_view v;

	NEED_CORPUS();
	v = query(&nxr_phrase_stage, NULL,
		  "descended from the common wolf) that has been domesticated by man");
	assert_true(v.nhits >= 1);
	assert_true(has_lemma(v.hits[0].doc, "Canis familiaris"));
	/* the same words out of order are no phrase */
	v = query(&nxr_phrase_stage, NULL, "wolf common descended");
	assert_int_equal(v.nhits, 0);
}

static void
test_prefix_completes_the_last_word(void **state)
{
	struct nxr_view v;
	uint32_t i;
	int found = 0;

	NEED_CORPUS();
	v = query(&nxr_prefix_stage, NULL, "domest");
	assert_true(v.nhits >= 1);
	for (i = 0; i < 5 && i < v.nhits; i++)
		found |= strstr(title_of(v.hits[i].doc), "domestic") != NULL;
	assert_true(found);
	{
		struct nxr_qterm qt[NXR_PREFIX_EXPAND];
		uint32_t n = nxr_prefix_terms(idx, "domest", 6, qt, NXR_PREFIX_EXPAND);

		assert_true(n >= 2);
		for (i = 0; i < n; i++)
			assert_memory_equal(idx->term_text + idx->term_off[qt[i].term], "domest", 6);
	}
}

static void
test_fuzzy_forgives_misspellings(void **state)
{
	struct nxr_view v;

	NEED_CORPUS();
	assert_true(nxr_trigram_sim("domestc", 7, "domestic", 8) >= 0.4f);
	v = query(&nxr_fuzzy_stage, NULL, "dgo");
	assert_true(v.nhits >= 1);
	assert_true(has_lemma(v.hits[0].doc, "dog"));
	v = query(&nxr_fuzzy_stage, NULL, "domestc");
	assert_true(v.nhits >= 1);
	assert_non_null(strstr(title_of(v.hits[0].doc), "domestic"));
}

/* ---- fusion ---- */

static uint32_t
part(uint8_t *p, const uint8_t *msg, uint32_t len)
{
	nxr_put32(p, len);
	memcpy(p + 4, msg, len);
	return 4 + len;
}

static void
test_fusion_is_reciprocal_rank_fusion(void **state)
{
	const struct nxr_hit a[] = { { 1, 9 }, { 2, 8 }, { 3, 7 } }, b[] = { { 3, 5 }, { 1, 4 } };
	struct inst f = make_inst(&nxr_fusion_stage, NULL);
	uint8_t in[4096], msg[512], out[CAP];
	struct nx_ctx ctx = { 0 };
	uint32_t n = 0, len;
	struct nxr_view v;
	int ml;

	(void)state;
	ml = nxr_write(msg, sizeof msg, NXR_HITS, 1, 0, "dog", 3, a, 3);
	n += part(in + n, msg, (uint32_t)ml);
	ml = nxr_write_query(msg, sizeof msg, "dog", 3); /* a skipped engine */
	n += part(in + n, msg, (uint32_t)ml);
	n += part(in + n, (const uint8_t *)"garbage", 7); /* a broken one */
	ml = nxr_write(msg, sizeof msg, NXR_HITS, 1, 0, "dog", 3, b, 2);
	n += part(in + n, msg, (uint32_t)ml);
	assert_int_equal(run(&f, in, n, out, &len, &ctx), 0);
	v = view(out, len);
	assert_int_equal(v.kind, NXR_HITS);
	assert_true(v.flags & NXR_F_FUSED);
	assert_int_equal(v.nhits, 3);
	/* 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62 */
	assert_int_equal(v.hits[0].doc, 1);
	assert_int_equal(v.hits[1].doc, 3);
	assert_int_equal(v.hits[2].doc, 2);
	assert_float_equal(v.hits[0].score, 1.0 / 61 + 1.0 / 62, 1e-6);
	assert_float_equal(v.hits[1].score, 1.0 / 63 + 1.0 / 61, 1e-6);
	assert_float_equal(v.hits[2].score, 1.0 / 62, 1e-6);
	assert_memory_equal(v.q, "dog", 3);
	/* nothing but garbage: an error */
	n = part(in, (const uint8_t *)"garbage", 7);
	assert_int_equal(run(&f, in, n, out, &len, &ctx), NX_EINVAL);
	drop_inst(&f);
}

/* ---- cache ---- */

/* The answer of the smart path for text, with the ctx that built it. */
static uint32_t
answer_for(const char *text, uint8_t *out, struct nx_ctx *ctx)
{
	struct inst s = make_inst(&nxr_search_stage, NULL), a = make_inst(&nxr_answer_stage, NULL);
	struct inst *st[] = { &s, &a };
	uint32_t len;

	memset(ctx, 0, sizeof *ctx);
	assert_int_equal(chain(text, st, 2, out, &len, ctx), 0);
	drop_inst(&s);
	drop_inst(&a);
	return len;
}

static int
cache_get(struct inst *get, const char *text, uint8_t *out, uint32_t *len)
{
	struct inst *st[] = { get };
	struct nx_ctx ctx = { 0 };

	return chain(text, st, 1, out, len, &ctx);
}

static void
test_cache_is_bounded_and_exact(void **state)
{
	const char *const kv1[] = { "table", "t1", "entries", "1", NULL };
	const char *const put1[] = { "mode", "put", "table", "t1", "entries", "1", NULL };
	const char *const mark[] = { "table", "t1", "entries", "1", "miss", "mark", NULL };
	struct inst get = make_inst(&nxr_cache_stage, kv1), put = make_inst(&nxr_cache_stage, put1);
	struct inst getm = make_inst(&nxr_cache_stage, mark);
	uint8_t ans[CAP], out[CAP];
	uint32_t alen, len;
	struct nx_ctx ctx;
	struct nxr_view v;

	NEED_CORPUS();
	/* a miss passes the query through (or marks it) */
	assert_int_equal(cache_get(&get, "dog", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_QUERY);
	assert_int_equal(cache_get(&getm, "dog", out, &len), 0);
	assert_true(view(out, len).flags & NXR_F_MISS);
	/* put, then get: the same answer, marked cached */
	alen = answer_for("dog", ans, &ctx);
	assert_int_equal(run(&put, ans, alen, out, &len, &ctx), NX_STAGE_PASS);
	assert_int_equal(cache_get(&get, "The DOG!", out, &len), 0);
	v = view(out, len);
	assert_int_equal(v.kind, NXR_ANSWER);
	assert_true(v.flags & NXR_F_CACHED);
	assert_int_equal(len, alen);
	assert_memory_equal(out + 8, ans + 8, len - 8);
	/* another query misses */
	assert_int_equal(cache_get(&get, "cat", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_QUERY);
	/* one entry: the next put evicts the first */
	alen = answer_for("cat", ans, &ctx);
	assert_int_equal(run(&put, ans, alen, out, &len, &ctx), NX_STAGE_PASS);
	assert_int_equal(cache_get(&get, "cat", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_ANSWER);
	assert_int_equal(cache_get(&get, "dog", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_QUERY);
	/* an answer this request did not build (a client's) is not stored */
	alen = answer_for("wolf", ans, &ctx);
	memset(&ctx, 0, sizeof ctx);
	assert_int_equal(run(&put, ans, alen, out, &len, &ctx), NX_STAGE_PASS);
	assert_int_equal(cache_get(&get, "wolf", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_QUERY);
	/* short or corrupt input */
	memset(&ctx, 0, sizeof ctx);
	assert_int_equal(run(&get, "NXR1", 4, out, &len, &ctx), NX_EINVAL);
	assert_int_equal(run(&get, "dog", 3, out, &len, &ctx), NX_EINVAL);
	assert_int_equal(run(&put, ans, 20, out, &len, &ctx), NX_EINVAL);
	drop_inst(&getm);
	drop_inst(&get);
	drop_inst(&put);
	/* the table outlives no instance: a new one starts empty */
	get = make_inst(&nxr_cache_stage, kv1);
	assert_int_equal(cache_get(&get, "cat", out, &len), 0);
	assert_int_equal(view(out, len).kind, NXR_QUERY);
	drop_inst(&get);
	/* sizes must be powers of two */
	{
		const char *keys[] = { "entries" }, *vals[] = { "1000" };
		struct nx_stage_conf conf = { 1, keys, vals };
		void *st = NULL;

		assert_int_equal(nxr_cache_stage.init(&st, &conf), NX_EINVAL);
	}
}

/* ---- rerank and answer ---- */

static void
test_rerank_and_answer(void **state)
{
	struct inst s = make_inst(&nxr_bm25_stage, NULL), rr = make_inst(&nxr_rerank_stage, NULL);
	struct inst a = make_inst(&nxr_answer_stage, NULL);
	struct inst *st[] = { &s, &rr, &a };
	const uint8_t *t;
	uint8_t out[CAP];
	struct nx_ctx ctx = { 0 };
	uint32_t len, off = 0, tl = 0, i;
	struct nxr_view v;

	NEED_CORPUS();
	assert_int_equal(chain("common wolf", st, 3, out, &len, &ctx), 0);
	v = view(out, len);
	assert_int_equal(v.kind, NXR_ANSWER);
	assert_true(v.flags & NXR_F_RERANKED);
	assert_int_equal(v.nhits, NXR_K_MAX);
	for (i = 0; i < v.nhits; i++) {
		assert_true(nxr_next_title(&v, &off, &t, &tl));
		assert_true(tl > 0 && tl <= NXR_TITLE_MAX);
		assert_memory_equal(t, title_of(v.hits[i].doc), tl);
		if (i)
			assert_true(v.hits[i].score <= v.hits[i - 1].score);
	}
	assert_false(nxr_next_title(&v, &off, &t, &tl));
	/* adjacent words make a window of 2: proximity 1 */
	{
		uint32_t terms[2] = { nxr_term_find(idx, "common", 6), nxr_term_find(idx, "wolf", 4) };
		uint32_t far[2] = { terms[0], nxr_term_find(idx, "man", 3) };
		struct nxr_hit h[1];

		assert_int_equal(nxr_phrase(idx, terms, 2, h, 1), 1);
		assert_float_equal(nxr_proximity(idx, h[0].doc, terms, 2), 1.0, 1e-6);
		/* "common ... man": 2 of 2 words in a window wider than 2 */
		assert_true(nxr_proximity(idx, h[0].doc, far, 2) < 1.0f);
		assert_true(nxr_proximity(idx, h[0].doc, far, 2) > 0.0f);
	}
	drop_inst(&s);
	drop_inst(&rr);
	drop_inst(&a);
}

/* ---- hostile input ---- */

static void
test_hostile_input_into_every_stage(void **state)
{
	const struct nx_stage_ops *ops[] = {
		&nxr_router_stage, &nxr_preprocess_stage, &nxr_cache_stage, &nxr_search_stage,
		&nxr_bm25_stage, &nxr_phrase_stage, &nxr_prefix_stage, &nxr_fuzzy_stage,
		&nxr_fusion_stage, &nxr_rerank_stage, &nxr_answer_stage,
	};
	const char *const put[] = { "mode", "put", NULL };
	static uint8_t in[8][2048], out[CAP];
	uint32_t ilen[8], i, j, k, len;
	uint32_t seed = 12345;

	NEED_CORPUS();
	ilen[0] = 0;
	for (i = 0; i < 1024; i++) {
		seed = seed * 1103515245u + 12345u;
		in[1][i] = (uint8_t)(seed >> 16);
	}
	ilen[1] = 1024;
	/* NXR1 magic and garbage */
	memcpy(in[2], in[1], 1024);
	memcpy(in[2], "NXR1", 4);
	ilen[2] = 1024;
	/* truncated: a huge nhits */
	ilen[3] = (uint32_t)nxr_write(in[3], 2048, NXR_HITS, 0, 0, "dog", 3, NULL, 0);
	nxr_put16(in[3] + 10, 0xffff);
	/* a huge qlen */
	ilen[4] = (uint32_t)nxr_write_query(in[4], 2048, "dog", 3);
	nxr_put16(in[4] + 8, 0xfff0);
	/* hits past the corpus */
	{
		struct nxr_hit h[2] = { { 0xffffffffu, 1 }, { 7, 0.5f } };

		ilen[5] = (uint32_t)nxr_write(in[5], 2048, NXR_HITS, 0, 0, "dog", 3, h, 2);
	}
	/* an answer whose titles run past the end */
	{
		struct nxr_hit h[1] = { { 1, 1 } };

		ilen[6] = (uint32_t)nxr_write(in[6], 2048, NXR_ANSWER, 0, 0, "dog", 3, h, 1);
		nxr_put16(in[6] + ilen[6], 150);
		ilen[6] += 2;
	}
	/* a query of odd bytes: non-ASCII, NULs, long words */
	{
		char q[600];

		for (k = 0; k < sizeof q; k++)
			q[k] = (char)(k % 7 == 0 ? ' ' : k % 5 == 0 ? 0 : 'a' + k % 26);
		ilen[7] = (uint32_t)nxr_write_query(in[7], 2048, q, sizeof q);
	}
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct inst s = make_inst(ops[i], NULL);
		struct inst p = make_inst(&nxr_cache_stage, put);

		for (j = 0; j < 8; j++) {
			for (k = 0; k < 2; k++) {
				struct nx_ctx ctx = { 0 };
				struct nx_msg m = { .in = in[j], .in_len = ilen[j], .out = out,
						    .out_cap = k ? CAP : 16 };
				int rc = s.ops->process(s.state, &m, &ctx);

				assert_true(rc <= 1);
				if (rc == 0)
					assert_true(m.out_len <= m.out_cap);
				if (ops[i] == &nxr_answer_stage || ops[i] == &nxr_rerank_stage)
					assert_true(j != 5 || rc < 0);
			}
		}
		for (j = 0; j < 8; j++) {
			struct nx_ctx ctx = { 0 };

			(void)run(&p, in[j], ilen[j], out, &len, &ctx);
		}
		drop_inst(&p);
		drop_inst(&s);
	}
	/* a raw query past 1 KiB */
	{
		struct inst pre = make_inst(&nxr_preprocess_stage, NULL);
		struct nx_ctx ctx = { 0 };

		memset(in[1], 'a', 2048);
		assert_int_equal(run(&pre, in[1], 2048, out, &len, &ctx), NX_E2BIG);
		drop_inst(&pre);
	}
}

static void
test_hostile_corpus_paths_are_refused(void **state)
{
	char dir[] = "/tmp/nxr-corpus-XXXXXX", path[256];
	char *buf;
	size_t len;
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	snprintf(path, sizeof path, "%s/data.noun", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(nxr_corpus_read(dfd, dir, "data.noun", &buf, &len), NX_EPERM);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
	chmod(path, 0666);
	assert_int_equal(nxr_corpus_read(dfd, dir, "data.noun", &buf, &len), NX_EPERM);
	chmod(path, 0644);
	assert_int_equal(nxr_corpus_read(dfd, dir, "data.noun", &buf, &len), 0);
	free(buf);
	assert_int_equal(nxr_corpus_read(dfd, dir, ".", &buf, &len), NX_EINVAL);
	assert_int_equal(nxr_corpus_read(dfd, dir, "missing", &buf, &len), NX_EINVAL);
	close(dfd);
	unlink(path);
	/* a directory others may write */
	chmod(dir, 0777);
	assert_int_equal(nxr_corpus_open(dir), NX_EPERM);
	rmdir(dir);
	/* one corpus per process: another path is refused while one is served */
	if (idx != NULL) {
		const struct nxr_index *other;

		assert_int_equal(nxr_index_get(&other, "/tmp"), NX_EINVAL);
	}
}

/* ---- the pipelines, built from text, the stages as built-ins ---- */

static const struct nx_build_env env = { .max_payload = CAP, .scratch_bytes = 1 << 20 };

static int
pipe_run_bytes(struct nx_pipeline *p, const uint8_t *in, uint32_t in_len, uint8_t *out,
	       uint32_t *len, uint8_t *scratch)
{
	struct nx_msg m = { .in = in, .in_len = in_len, .out = out, .out_cap = CAP };
	uint32_t rr[NX_MAX_RR] = { 0 };
	struct nx_ctx ctx = { 0 };
	struct nx_exec x = { .ctx = &ctx, .scratch = scratch, .scratch_cap = 1 << 20,
			     .max_payload = CAP, .rr = rr };
	int rc = nx__pipeline_run(p, &m, &x);

	*len = m.out_len;
	return rc;
}

static int
pipe_run(struct nx_pipeline *p, const char *text, uint8_t *out, uint32_t *len, uint8_t *scratch)
{
	return pipe_run_bytes(p, (const uint8_t *)text, (uint32_t)strlen(text), out, len, scratch);
}

static struct nx_pipeline *
pipe_make(const char *text)
{
	struct nx_pipe_spec *spec = malloc(sizeof *spec);
	struct nx_pipeline *p = NULL;
	int rc;

	assert_non_null(spec);
	rc = nx__spec_init(spec, "t");
	if (rc == 0)
		rc = nx__spec_parse_text(spec, text);
	if (rc == 0)
		rc = nx__spec_finish(spec);
	if (rc == 0)
		rc = nx__pipeline_build(&p, spec, &env);
	free(spec);
	if (rc != 0)
		fail_msg("build failed: %s", nx__errmsg());
	return p;
}

static void
test_pipelines_end_to_end_as_builtins(void **state)
{
	static const char *const graphs[] = {
		/* full, then maximum, then adaptive */
		"graph = seq(router, preprocess, cget, engines, answer, cput)\n",
		"graph = seq(router, preprocess, cget, engines, rerank, answer, cput)\n",
		"graph = seq(preprocess, cget, pick)\n"
		"pick = branch(noop, smart, full, max; by: router)\n"
		"smart = seq(search, answer, cput)\n"
		"full = seq(engines, answer, cput)\n"
		"max = seq(engines, rerank, answer, cput)\n",
	};
	static const char slots[] =
		"engines = fanout(phrase, prefix, fuzzy, bm25; merge: fusion)\n"
		"cget.stage = cache\ncget.table = e2e\n"
		"cput.stage = cache\ncput.mode = put\ncput.table = e2e\n";
	uint8_t *scratch = calloc(1, 1 << 20), out[CAP];
	const struct nx_stage_ops *ops[] = {
		&nxr_router_stage, &nxr_preprocess_stage, &nxr_cache_stage, &nxr_search_stage,
		&nxr_bm25_stage, &nxr_phrase_stage, &nxr_prefix_stage, &nxr_fuzzy_stage,
		&nxr_fusion_stage, &nxr_rerank_stage, &nxr_answer_stage,
	};
	char text[1024];
	uint32_t len, i;
	struct nxr_view v;

	NEED_CORPUS();
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		assert_int_equal(nx__stage_register(ops[i]), 0);
	for (i = 0; i < sizeof graphs / sizeof graphs[0]; i++) {
		struct nx_pipeline *p;

		snprintf(text, sizeof text, "%s%s", graphs[i], slots);
		p = pipe_make(text);
		assert_int_equal(pipe_run(p, "the domestic dog", out, &len, scratch), 0);
		v = view(out, len);
		assert_int_equal(v.kind, NXR_ANSWER);
		assert_true(v.nhits >= 1);
		assert_true(has_lemma(v.hits[0].doc, "domestic dog") ||
			    has_lemma(v.hits[0].doc, "dog"));
		/* the second time from the cache (all three share table e2e) */
		assert_int_equal(pipe_run(p, "Domestic DOG", out, &len, scratch), 0);
		assert_true(view(out, len).flags & NXR_F_CACHED);
		assert_int_equal(pipe_run(p, "what is a \"wolf\" of the genus Canis in the wild", out,
					  &len, scratch), 0);
		assert_int_equal(view(out, len).kind, NXR_ANSWER);
		nx__pipeline_destroy(p, &env);
	}
	free(scratch);
}

/*
 * A client cannot plant an answer or a ranked list for others: whatever
 * NXR1 message it sends in place of a query, full refuses it (only a
 * query passes preprocess), and what the cache then answers for that
 * query is what the engines found, never the client's list.
 */
static void
test_client_cannot_plant_an_answer(void **state)
{
	static const char slots[] =
		"engines = fanout(phrase, prefix, fuzzy, bm25; merge: fusion)\n"
		"cget.stage = cache\ncget.table = plant\n"
		"cput.stage = cache\ncput.mode = put\ncput.table = plant\n";
	uint8_t *scratch = calloc(1, 1 << 20), msg[CAP], out[CAP];
	struct nx_pipeline *full, *only;
	struct nxr_hit forged[3] = { { 7, 9.0f }, { 8, 8.0f }, { 9, 7.0f } };
	uint8_t kinds[] = { NXR_ANSWER, NXR_HITS };
	char text[1024];
	uint32_t len, k;
	int n;

	(void)state;
	NEED_CORPUS();
	snprintf(text, sizeof text, "graph = seq(router, preprocess, cget, engines, answer, cput)\n%s",
		 slots);
	full = pipe_make(text);
	snprintf(text, sizeof text, "graph = seq(router, preprocess, cget)\n"
		 "cget.stage = cache\ncget.table = plant\n");
	only = pipe_make(text);
	for (k = 0; k < sizeof kinds; k++) {
		n = nxr_write(msg, sizeof msg, kinds[k], NXR_ROUTE_LOOKUP, 0, "dog", 3, forged, 3);
		assert_true(n > 0);
		assert_int_equal(pipe_run_bytes(full, msg, (uint32_t)n, out, &len, scratch), NX_EINVAL);
	}
	/* nothing stored: a miss, the query passed on */
	assert_int_equal(pipe_run(only, "dog", out, &len, scratch), 0);
	assert_int_not_equal(view(out, len).kind, NXR_ANSWER);
	/* an honest answer is stored and served, and it is the engines' */
	assert_int_equal(pipe_run(full, "dog", out, &len, scratch), 0);
	assert_int_equal(pipe_run(only, "dog", out, &len, scratch), 0);
	assert_int_equal(view(out, len).kind, NXR_ANSWER);
	assert_true(view(out, len).flags & NXR_F_CACHED);
	assert_int_not_equal(view(out, len).hits[0].doc, 7);
	/* a hit flows through full untouched: the stored answer, not re-fused */
	{
		uint8_t first[CAP];
		uint32_t flen = len;

		memcpy(first, out, len);
		assert_int_equal(pipe_run(full, "dog", out, &len, scratch), 0);
		assert_int_equal(len, flen);
		assert_memory_equal(out, first, len);
	}
	nx__pipeline_destroy(full, &env);
	nx__pipeline_destroy(only, &env);
	free(scratch);
}

/* ---- what a request costs, in process (not a benchmark: printed) ---- */

static void
test_costs_per_stage(void **state)
{
	static const char *const qs[] = { "dog", "domestic dog", "domestc", "member of the genus canis",
					  "what is the common wolf of north america" };
	const struct nx_stage_ops *ops[] = { &nxr_search_stage, &nxr_phrase_stage,
					     &nxr_prefix_stage, &nxr_fuzzy_stage,
					     &nxr_rerank_stage, &nxr_answer_stage };
	static uint8_t q[CAP], hits[CAP], out[CAP];
	unsigned i, j, r;

	NEED_CORPUS();
	for (i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		struct inst pre = make_inst(&nxr_preprocess_stage, NULL);
		struct inst b = make_inst(&nxr_bm25_stage, NULL);
		struct nx_ctx ctx = { 0 };
		uint32_t qlen, hlen, len;

		assert_int_equal(run(&pre, qs[i], (uint32_t)strlen(qs[i]), q, &qlen, &ctx), 0);
		assert_int_equal(run(&b, q, qlen, hits, &hlen, &ctx), 0);
		printf("%-42s", qs[i]);
		for (j = 0; j < sizeof ops / sizeof ops[0]; j++) {
			struct inst s = make_inst(ops[j], NULL);
			int on_hits = ops[j] == &nxr_rerank_stage || ops[j] == &nxr_answer_stage;
			uint64_t t0 = now_ns(), worst = 0;

			for (r = 0; r < 200; r++) {
				uint64_t t1 = now_ns();

				assert_true(run(&s, on_hits ? hits : q, on_hits ? hlen : qlen, out, &len,
						&ctx) >= 0);
				if (now_ns() - t1 > worst)
					worst = now_ns() - t1;
			}
			printf(" %s %.1f/%.1f", s.ops->name, (double)(now_ns() - t0) / 200 / 1000,
			       (double)worst / 1000);
			drop_inst(&s);
		}
		printf(" us (mean/max)\n");
		drop_inst(&pre);
		drop_inst(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalizer_drops_case_punctuation_and_stop_words),
		cmocka_unit_test(test_router_classes_and_selector_rules),
		cmocka_unit_test(test_search_and_bm25_find_the_dog),
		cmocka_unit_test(test_phrase_finds_a_gloss_at_rank_one),
		cmocka_unit_test(test_prefix_completes_the_last_word),
		cmocka_unit_test(test_fuzzy_forgives_misspellings),
		cmocka_unit_test(test_fusion_is_reciprocal_rank_fusion),
		cmocka_unit_test(test_cache_is_bounded_and_exact),
		cmocka_unit_test(test_rerank_and_answer),
		cmocka_unit_test(test_hostile_input_into_every_stage),
		cmocka_unit_test(test_hostile_corpus_paths_are_refused),
		cmocka_unit_test(test_pipelines_end_to_end_as_builtins),
		cmocka_unit_test(test_client_cannot_plant_an_answer),
		cmocka_unit_test(test_costs_per_stage),
	};

	return cmocka_run_group_tests_name("retrieval", tests, setup, teardown);
}
