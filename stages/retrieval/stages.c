/*
 * The retrieval stages but the cache (cache.c): router, preprocess, the
 * engines (search, bm25, phrase, prefix, fuzzy), fusion, rerank, answer.
 *
 * Every stage reads its input once into the stack (it may be a client's
 * memory), passes an NXR_ANSWER through untouched (a cache hit flows
 * through the rest of a sequence for free), and answers a malformed
 * NXR1 message, or raw text where NXR1 is expected, with NX_EINVAL.
 */
#include <stdlib.h>
#include <string.h>

#include "stages/retrieval/nxr.h"

static const char *const route_names[] = { "lookup", "keyword", "phrase", "complex" };

/* A request's query: the parsed message, its text, its words. */
struct req {
	struct nxr_view v;
	char q[NXR_Q_MAX + 1];     /* as received, for the output */
	char words[NXR_Q_MAX + 1]; /* split copy */
	const char *w[NXR_TERMS_MAX];
	uint32_t wlen[NXR_TERMS_MAX];
	uint32_t nw;
};

/* @return 0, NX_STAGE_PASS (an answer), or NX_EINVAL */
static int
req_parse(struct req *r, const struct nx_msg *m)
{
	if (nxr_parse(&r->v, m->in, m->in_len) < 0)
		return NX_EINVAL;
	if (r->v.kind == NXR_ANSWER)
		return NX_STAGE_PASS;
	if (nxr_parse_q(&r->v, r->q, sizeof r->q) < 0)
		return NX_EINVAL;
	memcpy(r->words, r->q, (size_t)r->v.qlen + 1);
	r->nw = nxr_split(r->words, r->v.qlen, r->w, r->wlen, NXR_TERMS_MAX);
	return 0;
}

static int
out_hits(struct nx_msg *m, const struct req *r, uint16_t flags, const struct nxr_hit *hits,
	 uint32_t n)
{
	int len = nxr_write(m->out, m->out_cap, NXR_HITS, r->v.route, flags, r->q, r->v.qlen,
			    hits, n);

	if (len < 0)
		return NX_EOVERFLOW;
	m->out_len = (uint32_t)len;
	return 0;
}

static int
param_u32(const struct nx_stage_conf *conf, const char *key, uint32_t def, uint32_t min,
	  uint32_t max, uint32_t *v)
{
	const char *s = nx_stage_conf_get(conf, key, NULL);
	unsigned long x;
	char *end;

	if (s == NULL) {
		*v = def;
		return 0;
	}
	x = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || x < min || x > max)
		return NX_EINVAL;
	*v = (uint32_t)x;
	return 0;
}

/* ---- router ---- */

struct router {
	uint32_t busy;
};

static int
router_init(void **state, const struct nx_stage_conf *conf)
{
	struct router *r = *state;

	return param_u32(conf, "busy", 16, 1, UINT32_MAX, &r->busy);
}

static int
router_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct router *r = state;
	struct nxr_view v;
	uint8_t cls;
	int idx;

	if (nxr_is_msg(m->in, m->in_len)) {
		if (nxr_parse(&v, m->in, m->in_len) < 0)
			return NX_EINVAL;
		if (v.kind == NXR_ANSWER)
			return m->out_cap == 0 ? 0 : NX_STAGE_PASS; /* a cache hit */
		if (v.route <= NXR_ROUTE_COMPLEX) {
			cls = v.route;
		} else {
			char q[NXR_Q_MAX + 1];
			const char *w[NXR_TERMS_MAX];
			uint32_t wl[NXR_TERMS_MAX];

			nxr_parse_q(&v, q, sizeof q);
			cls = nxr_classify_terms(nxr_split(q, v.qlen, w, wl, NXR_TERMS_MAX));
		}
	} else {
		cls = nxr_classify_raw(m->in, m->in_len < NXR_Q_MAX ? m->in_len : NXR_Q_MAX);
	}
	if (m->out_cap != 0) {
		/* in a sequence: tell the later stages, change nothing */
		nx_ctx_set(ctx, NXR_META_ROUTE, route_names[cls], (uint32_t)strlen(route_names[cls]));
		return NX_STAGE_PASS;
	}
	/* a selector: child 0 is for cache hits, so a miss goes to 1 at least;
	 * a loaded worker takes the next cheaper route */
	idx = cls;
	if (nxr_ctx_backlog(ctx) >= r->busy)
		idx--;
	return idx < 1 ? 1 : idx;
}

const struct nx_stage_ops nxr_router_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "router",
	.description = "classifies a query (lookup, keyword, phrase, complex); a branch's selector",
	.init = router_init,
	.process = router_process,
	.state_bytes = sizeof(struct router),
};

/* ---- preprocess ---- */

static int
pre_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	uint8_t raw[NXR_Q_MAX];
	char q[NXR_Q_MAX];
	const void *val;
	uint32_t qlen, vlen, len = m->in_len, i;
	uint8_t cls = NXR_ROUTE_UNKNOWN;
	int n;

	(void)state;
	if (nxr_is_msg(m->in, m->in_len)) {
		struct nxr_view v;

		/*
		 * Bytes a client sent, not a stage's: only a query is taken,
		 * and it goes on as a fresh query, normalized again, no flags,
		 * no hits. An answer or a ranked list from a client must never
		 * reach the cache's store as if the stages had made it.
		 */
		if (nxr_parse(&v, m->in, m->in_len) < 0 || v.kind != NXR_QUERY)
			return NX_EINVAL;
		len = v.qlen;
		memcpy(raw, v.q, len);
	} else {
		if (len > NXR_Q_MAX)
			return NX_E2BIG;
		memcpy(raw, m->in, len);
	}
	qlen = nxr_normalize(raw, len, q, sizeof q);
	if (nx_ctx_get(ctx, NXR_META_ROUTE, &val, &vlen) == 0) {
		for (i = 0; i <= NXR_ROUTE_COMPLEX; i++)
			if (strlen(route_names[i]) == vlen && memcmp(val, route_names[i], vlen) == 0)
				cls = (uint8_t)i;
	}
	if (cls == NXR_ROUTE_UNKNOWN)
		cls = nxr_classify_raw(raw, len);
	n = nxr_write(m->out, m->out_cap, NXR_QUERY, cls, 0, q, qlen, NULL, 0);
	if (n < 0)
		return NX_EOVERFLOW;
	m->out_len = (uint32_t)n;
	return 0;
}

const struct nx_stage_ops nxr_preprocess_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "preprocess",
	.description = "raw text -> NXR1 query: lowercase words, punctuation and stop words gone",
	.process = pre_process,
};

/* ---- the engines ---- */

struct eng {
	const struct nxr_index *idx;
	uint32_t n;
	float weight;
};

static int
eng_init(void **state, const struct nx_stage_conf *conf, const char *key, uint32_t def)
{
	struct eng *e = calloc(1, sizeof *e);
	int rc;

	if (e == NULL)
		return NX_ENOMEM;
	rc = param_u32(conf, key, def, 1, NXR_K_MAX, &e->n);
	if (rc == 0) {
		const char *w = nx_stage_conf_get(conf, "weight", "1");
		char *end;

		e->weight = strtof(w, &end);
		if (end == w || *end != '\0' || !(e->weight >= 0 && e->weight <= 100))
			rc = NX_EINVAL;
	}
	if (rc == 0)
		rc = nxr_index_get(&e->idx, nx_stage_conf_get(conf, "corpus", NXR_CORPUS_DEFAULT));
	if (rc < 0) {
		free(e);
		return rc;
	}
	*state = e;
	return 0;
}

static void
eng_fini(void *state)
{
	struct eng *e = state;

	if (e == NULL)
		return;
	nxr_index_put(e->idx);
	free(e);
}

static int
search_init(void **state, const struct nx_stage_conf *conf)
{
	return eng_init(state, conf, "k", 10);
}

static int
fanout_init(void **state, const struct nx_stage_conf *conf)
{
	return eng_init(state, conf, "n", NXR_K_MAX);
}

static int
bm25_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	struct nxr_qterm qt[NXR_TERMS_MAX];
	struct nxr_hit hits[NXR_K_MAX];
	struct req r;
	uint32_t i, nh;
	int rc;

	(void)ctx;
	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	for (i = 0; i < r.nw; i++) {
		qt[i].term = nxr_term_find(e->idx, r.w[i], r.wlen[i]);
		qt[i].weight = 1.0f;
	}
	nh = nxr_bm25(e->idx, qt, r.nw, hits, e->n);
	return out_hits(m, &r, r.v.flags, hits, nh);
}

const struct nx_stage_ops nxr_search_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "search",
	.description = "BM25 over the inverted index: the top k (k=10)",
	.init = search_init,
	.process = bm25_process,
	.fini = eng_fini,
};

const struct nx_stage_ops nxr_bm25_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "bm25",
	.description = "BM25 as a fan-out engine: the top n (n=32)",
	.init = fanout_init,
	.process = bm25_process,
	.fini = eng_fini,
};

static int
phrase_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	struct nxr_hit hits[NXR_K_MAX];
	uint32_t terms[NXR_TERMS_MAX], i, nh;
	struct req r;
	int rc;

	(void)ctx;
	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	for (i = 0; i < r.nw; i++)
		terms[i] = nxr_term_find(e->idx, r.w[i], r.wlen[i]);
	nh = nxr_phrase(e->idx, terms, r.nw, hits, e->n);
	return out_hits(m, &r, r.v.flags, hits, nh);
}

const struct nx_stage_ops nxr_phrase_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "phrase",
	.description = "exact phrase: documents with the words in a row, BM25 order",
	.init = fanout_init,
	.process = phrase_process,
	.fini = eng_fini,
};

static int
prefix_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	struct nxr_qterm qt[NXR_TERMS_MAX + NXR_PREFIX_EXPAND];
	struct nxr_hit hits[NXR_K_MAX];
	uint32_t i, nq = 0, nh;
	struct req r;
	int rc;

	(void)ctx;
	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	/* the words before the last as they are; the last one, as typed so far */
	for (i = 0; i + 1 < r.nw; i++) {
		qt[nq].term = nxr_term_find(e->idx, r.w[i], r.wlen[i]);
		qt[nq++].weight = 1.0f;
	}
	if (r.nw != 0)
		nq += nxr_prefix_terms(e->idx, r.w[r.nw - 1], r.wlen[r.nw - 1], qt + nq,
				       NXR_PREFIX_EXPAND);
	nh = nxr_bm25(e->idx, qt, nq, hits, e->n);
	return out_hits(m, &r, r.v.flags, hits, nh);
}

const struct nx_stage_ops nxr_prefix_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "prefix",
	.description = "the last word as a prefix (its 8 most frequent completions), BM25",
	.init = fanout_init,
	.process = prefix_process,
	.fini = eng_fini,
};

static int
fuzzy_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	struct nxr_qterm qt[NXR_CURSORS_MAX];
	struct nxr_hit hits[NXR_K_MAX];
	uint32_t i, nq = 0, nh;
	struct req r;
	int rc;

	(void)ctx;
	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	for (i = 0; i < r.nw && nq + NXR_FUZZY_PER_TERM <= NXR_CURSORS_MAX; i++)
		nq += nxr_fuzzy_terms(e->idx, r.w[i], r.wlen[i], qt + nq, NXR_FUZZY_PER_TERM);
	nh = nxr_bm25(e->idx, qt, nq, hits, e->n);
	return out_hits(m, &r, r.v.flags, hits, nh);
}

const struct nx_stage_ops nxr_fuzzy_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "fuzzy",
	.description = "trigram similarity (Jaccard >= 0.4) to vocabulary words, similarity x BM25",
	.init = fanout_init,
	.process = fuzzy_process,
	.fini = eng_fini,
};

/* ---- fusion ---- */

#define FUSE_PARTS 8
#define FUSE_SLOTS 512 /* > 2 * FUSE_PARTS * NXR_K_MAX */

struct fusion {
	uint32_t k;
	uint32_t rrf_k;
};

static int
fusion_init(void **state, const struct nx_stage_conf *conf)
{
	struct fusion *f = *state;
	int rc = param_u32(conf, "k", 10, 1, NXR_K_MAX, &f->k);

	return rc < 0 ? rc : param_u32(conf, "rrf", 60, 1, 100000, &f->rrf_k);
}

static inline int
better(const struct nxr_hit *a, const struct nxr_hit *b)
{
	return a->score > b->score || (a->score == b->score && a->doc < b->doc);
}

/* Insert x into best[*nb <= k], kept best first. */
static void
best_put(struct nxr_hit *best, uint32_t *nb, uint32_t k, struct nxr_hit x)
{
	uint32_t j;

	if (*nb == k && !better(&x, &best[k - 1]))
		return;
	j = *nb < k ? (*nb)++ : k - 1;
	for (; j > 0 && better(&x, &best[j - 1]); j--)
		best[j] = best[j - 1];
	best[j] = x;
}

static int
fusion_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct fusion *f = state;
	struct nxr_hit slot[FUSE_SLOTS], best[NXR_K_MAX];
	uint32_t used[FUSE_SLOTS / 32], parts = 0, lists = 0, i, nb = 0;
	struct nx_merge_iter it;
	const uint8_t *part;
	struct req r;
	uint32_t len;
	int have_q = 0;

	(void)ctx;
	memset(used, 0, sizeof used);
	nx_merge_begin(&it, m);
	while (parts < FUSE_PARTS && nx_merge_next(&it, &part, &len)) {
		struct nxr_view v;

		parts++;
		/* a part that is not NXR1 (a failed engine's) is an empty list */
		if (nxr_parse(&v, part, len) < 0)
			continue;
		if (v.kind == NXR_ANSWER) {
			/* a cache hit the engines passed through: it is the answer */
			if (v.len > m->out_cap)
				return NX_EOVERFLOW;
			memcpy(m->out, part, v.len);
			m->out_len = v.len;
			return 0;
		}
		if (!have_q) {
			r.v = v;
			if (nxr_parse_q(&v, r.q, sizeof r.q) < 0)
				continue;
			have_q = 1;
		}
		if (v.kind == NXR_QUERY)
			continue; /* a skipped engine passed the query through */
		lists++;
		for (i = 0; i < v.nhits; i++) {
			uint32_t d = v.hits[i].doc, h = (d * 2654435761u) >> 23; /* 9 bits */

			while ((used[h / 32] >> (h % 32) & 1u) && slot[h].doc != d)
				h = (h + 1) % FUSE_SLOTS;
			if (!(used[h / 32] >> (h % 32) & 1u)) {
				used[h / 32] |= 1u << (h % 32);
				slot[h].doc = d;
				slot[h].score = 0;
			}
			slot[h].score += 1.0f / (float)(f->rrf_k + i + 1);
		}
	}
	if (!have_q)
		return NX_EINVAL;
	for (i = 0; i < FUSE_SLOTS; i++)
		if (used[i / 32] >> (i % 32) & 1u)
			best_put(best, &nb, f->k, slot[i]);
	return out_hits(m, &r, (uint16_t)(r.v.flags | NXR_F_FUSED), best, nb);
}

const struct nx_stage_ops nxr_fusion_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "fusion",
	.description = "a fan-out's merge: reciprocal rank fusion (k=60) of the engines' lists",
	.init = fusion_init,
	.process = fusion_process,
	.state_bytes = sizeof(struct fusion),
};

/* ---- rerank ---- */

static int
rerank_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	struct nxr_hit hits[NXR_K_MAX];
	uint32_t terms[NXR_TERMS_MAX], i, n = 0;
	struct req r;
	int rc;

	(void)ctx;
	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	if (r.v.kind != NXR_HITS)
		return NX_STAGE_PASS;
	for (i = 0; i < r.nw; i++)
		terms[i] = nxr_term_find(e->idx, r.w[i], r.wlen[i]);
	for (i = 0; i < r.v.nhits; i++) {
		struct nxr_hit x = r.v.hits[i];

		if (x.doc >= e->idx->ndocs)
			return NX_EINVAL;
		x.score *= 1.0f + e->weight * nxr_proximity(e->idx, x.doc, terms, r.nw);
		best_put(hits, &n, NXR_K_MAX, x);
	}
	return out_hits(m, &r, (uint16_t)(r.v.flags | NXR_F_RERANKED), hits, n);
}

const struct nx_stage_ops nxr_rerank_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "rerank",
	.description = "term proximity over the top hits, blended with their score (weight=1)",
	.init = fanout_init,
	.process = rerank_process,
	.fini = eng_fini,
};

/* ---- answer ---- */

static int
answer_process(void *state, struct nx_msg *m, struct nx_ctx *ctx)
{
	const struct eng *e = state;
	const struct nxr_index *x = e->idx;
	uint32_t i, off;
	struct req r;
	uint8_t one = 1;
	int rc, len;

	if ((rc = req_parse(&r, m)) != 0)
		return rc;
	for (i = 0; i < r.v.nhits; i++)
		if (r.v.hits[i].doc >= x->ndocs)
			return NX_EINVAL;
	len = nxr_write(m->out, m->out_cap, NXR_ANSWER, r.v.route, r.v.flags, r.q, r.v.qlen,
			r.v.hits, r.v.nhits);
	if (len < 0)
		return NX_EOVERFLOW;
	off = (uint32_t)len;
	for (i = 0; i < r.v.nhits; i++) {
		uint32_t d = r.v.hits[i].doc, tl = x->title_off[d + 1] - x->title_off[d];

		if (off + 2 + tl + 1 > m->out_cap)
			return NX_EOVERFLOW;
		nxr_put16(m->out + off, (uint16_t)tl);
		memcpy(m->out + off + 2, x->titles + x->title_off[d], tl);
		off += 2 + tl;
	}
	if (off & 1u) {
		if (off + 1 > m->out_cap)
			return NX_EOVERFLOW;
		m->out[off++] = 0;
	}
	m->out_len = off;
	/* what a cache may keep: an answer this request built */
	nx_ctx_set(ctx, NXR_META_ANSWERED, &one, 1);
	return 0;
}

const struct nx_stage_ops nxr_answer_stage = {
	.abi = NX_STAGE_ABI,
	.version = 1,
	.name = "answer",
	.description = "ranked hits -> the answer: each hit's title",
	.init = fanout_init,
	.process = answer_process,
	.fini = eng_fini,
};
