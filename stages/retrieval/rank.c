/*
 * The ranking engines over the shared index: data path only. Everything
 * lives on the stack (cursors, a top-k heap); every loop is bounded by
 * an NXR_*_MAX of nxr.h, whatever the query.
 */
#include <math.h>
#include <string.h>

#include "stages/retrieval/nxr.h"

#define BM25_K1 1.2f

static inline const char *
term_str(const struct nxr_index *idx, uint32_t t)
{
	return idx->term_text + idx->term_off[t];
}

uint32_t
nxr_term_find(const struct nxr_index *idx, const char *w, uint32_t n)
{
	uint32_t i, t;

	if (n == 0 || n > NXR_TERM_MAX)
		return UINT32_MAX;
	i = nxr_hash32(w, n) & idx->hash_mask;
	while ((t = idx->hash[i]) != 0) {
		if (idx->term_len[t - 1] == n && memcmp(term_str(idx, t - 1), w, n) == 0)
			return t - 1;
		i = (i + 1) & idx->hash_mask;
	}
	return UINT32_MAX;
}

/* ---- top k ---- */

struct topk {
	struct nxr_hit h[NXR_K_MAX];
	uint32_t n, k;
};

/* a ranks before b: higher score, then lower doc id (deterministic) */
static inline int
better(const struct nxr_hit *a, const struct nxr_hit *b)
{
	return a->score > b->score || (a->score == b->score && a->doc < b->doc);
}

/* A min-heap on "better": the root is the worst kept. */
static void
topk_push(struct topk *tk, uint32_t doc, float score)
{
	struct nxr_hit x = { doc, score };
	uint32_t i;

	if (tk->n < tk->k) {
		i = tk->n++;
		while (i > 0 && better(&tk->h[(i - 1) / 2], &x)) {
			tk->h[i] = tk->h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		tk->h[i] = x;
		return;
	}
	if (tk->k == 0 || !better(&x, &tk->h[0]))
		return;
	i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= tk->n)
			break;
		if (c + 1 < tk->n && better(&tk->h[c], &tk->h[c + 1]))
			c++;
		if (!better(&x, &tk->h[c]))
			break;
		tk->h[i] = tk->h[c];
		i = c;
	}
	tk->h[i] = x;
}

/* Best first into out. @return count */
static uint32_t
topk_done(struct topk *tk, struct nxr_hit *out)
{
	uint32_t i, j;

	for (i = 0; i < tk->n; i++) {
		struct nxr_hit x = tk->h[i];

		for (j = i; j > 0 && better(&x, &out[j - 1]); j--)
			out[j] = out[j - 1];
		out[j] = x;
	}
	return tk->n;
}

/* ---- BM25, document at a time ---- */

struct cursor {
	const uint32_t *doc, *end;
	const uint8_t *tf;
	float w; /* idf * (k1 + 1) * weight */
};

static inline void
heap_down(struct cursor *c, uint8_t *h, uint32_t n, uint32_t i)
{
	uint8_t x = h[i];

	for (;;) {
		uint32_t k = 2 * i + 1;

		if (k >= n)
			break;
		if (k + 1 < n && *c[h[k + 1]].doc < *c[h[k]].doc)
			k++;
		if (*c[h[k]].doc >= *c[x].doc)
			break;
		h[i] = h[k];
		i = k;
	}
	h[i] = x;
}

static uint32_t
cursors_init(const struct nxr_index *idx, const struct nxr_qterm *qt, uint32_t nqt,
	     struct cursor *c)
{
	uint32_t i, n = 0, rare = 0;

	for (i = 0; i < nqt; i++)
		if (qt[i].term < idx->nterms && nxr_df(idx, qt[i].term) <= idx->near_stop_df)
			rare++;
	for (i = 0; i < nqt && n < NXR_CURSORS_MAX; i++) {
		uint32_t t = qt[i].term, df;

		if (t >= idx->nterms)
			continue;
		df = nxr_df(idx, t);
		/* a near-stop word only matters when it is all there is */
		if (df == 0 || (rare != 0 && df > idx->near_stop_df))
			continue;
		c[n].doc = idx->post_doc + idx->post_off[t];
		c[n].end = c[n].doc + (df < NXR_SCAN_MAX ? df : NXR_SCAN_MAX);
		c[n].tf = idx->post_tf + idx->post_off[t];
		c[n].w = idx->idf[t] * (BM25_K1 + 1.0f) * qt[i].weight;
		n++;
	}
	return n;
}

uint32_t
nxr_bm25(const struct nxr_index *idx, const struct nxr_qterm *qt, uint32_t nqt,
	 struct nxr_hit *hits, uint32_t n)
{
	struct cursor c[NXR_CURSORS_MAX];
	uint8_t h[NXR_CURSORS_MAX];
	struct topk tk;
	uint32_t nc, i;

	tk.n = 0;
	tk.k = n < NXR_K_MAX ? n : NXR_K_MAX;
	nc = cursors_init(idx, qt, nqt, c);
	for (i = 0; i < nc; i++)
		h[i] = (uint8_t)i;
	for (i = nc / 2; i-- > 0;)
		heap_down(c, h, nc, i);
	while (nc > 0) {
		uint32_t d = *c[h[0]].doc;
		float norm = idx->doc_norm[d], s = 0;

		while (nc > 0 && *c[h[0]].doc == d) {
			struct cursor *cu = &c[h[0]];
			float tf = *cu->tf;

			s += cu->w * tf / (tf + norm);
			cu->doc++;
			cu->tf++;
			if (cu->doc == cu->end)
				h[0] = h[--nc];
			heap_down(c, h, nc, 0);
		}
		topk_push(&tk, d, s);
	}
	return topk_done(&tk, hits);
}

/* ---- phrase ---- */

/* First position in [p, end) with *p >= d (galloping, then binary). */
static const uint32_t *
seek(const uint32_t *p, const uint32_t *end, uint32_t d)
{
	size_t step = 1, lo, hi;

	if (p >= end || *p >= d)
		return p;
	while ((size_t)(end - p) > step && p[step] < d)
		step *= 2;
	lo = step / 2;
	hi = (size_t)(end - p) < step ? (size_t)(end - p) : step;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p[mid] < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p + lo;
}

static int
contiguous(const struct nxr_index *idx, uint32_t doc, const uint32_t *terms, uint32_t n)
{
	const uint32_t *tok = idx->doc_tok + idx->doc_tok_off[doc];
	uint32_t len = idx->doc_tok_off[doc + 1] - idx->doc_tok_off[doc], i, j;

	if (len > NXR_WINDOW_SCAN)
		len = NXR_WINDOW_SCAN;
	for (i = 0; i + n <= len; i++) {
		for (j = 0; j < n && tok[i + j] == terms[j]; j++)
			;
		if (j == n)
			return 1;
	}
	return 0;
}

uint32_t
nxr_phrase(const struct nxr_index *idx, const uint32_t *terms, uint32_t nterms,
	   struct nxr_hit *hits, uint32_t n)
{
	const uint32_t *p[NXR_TERMS_MAX], *e[NXR_TERMS_MAX];
	uint32_t i, drv = 0, verified = 0, nt = nterms < NXR_TERMS_MAX ? nterms : NXR_TERMS_MAX;
	struct topk tk;

	tk.n = 0;
	tk.k = n < NXR_K_MAX ? n : NXR_K_MAX;
	if (nt == 0)
		return 0;
	for (i = 0; i < nt; i++) {
		if (terms[i] >= idx->nterms)
			return 0; /* a word the corpus lacks: no document holds the phrase */
		p[i] = idx->post_doc + idx->post_off[terms[i]];
		e[i] = idx->post_doc + idx->post_off[terms[i] + 1];
		if (e[i] - p[i] < e[drv] - p[drv])
			drv = i;
	}
	if ((size_t)(e[drv] - p[drv]) > NXR_SCAN_MAX)
		e[drv] = p[drv] + NXR_SCAN_MAX;
	for (; p[drv] < e[drv] && verified < NXR_PHRASE_VERIFY; p[drv]++) {
		uint32_t d = *p[drv];
		float s = 0;

		for (i = 0; i < nt; i++) {
			p[i] = i == drv ? p[i] : seek(p[i], e[i], d);
			if (p[i] == e[i])
				goto done;
			if (*p[i] != d)
				break;
		}
		if (i < nt)
			continue;
		verified++;
		if (nt > 1 && !contiguous(idx, d, terms, nt))
			continue;
		for (i = 0; i < nt; i++) {
			float tf = idx->post_tf[p[i] - idx->post_doc];

			s += idx->idf[terms[i]] * (BM25_K1 + 1.0f) * tf / (tf + idx->doc_norm[d]);
		}
		topk_push(&tk, d, s);
	}
done:
	return topk_done(&tk, hits);
}

/* ---- term expansions ---- */

/* Keep out[] sorted by weight, then document frequency; at most max. */
static uint32_t
keep(const struct nxr_index *idx, struct nxr_qterm *out, uint32_t n, uint32_t max,
     uint32_t t, float w)
{
	uint32_t i, j, df = nxr_df(idx, t);

	for (i = 0; i < n; i++)
		if (out[i].term == t)
			return n;
	for (i = 0; i < n; i++)
		if (w > out[i].weight || (w == out[i].weight && df > nxr_df(idx, out[i].term)))
			break;
	if (i == max)
		return n;
	if (n == max)
		n--;
	for (j = n; j > i; j--)
		out[j] = out[j - 1];
	out[i].term = t;
	out[i].weight = w;
	return n + 1;
}

uint32_t
nxr_prefix_terms(const struct nxr_index *idx, const char *w, uint32_t n,
		 struct nxr_qterm *out, uint32_t max)
{
	uint32_t lo = 0, hi = idx->nterms, cnt = 0, seen;

	if (n == 0 || n > NXR_TERM_MAX)
		return 0;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (strncmp(term_str(idx, mid), w, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (seen = 0; lo < idx->nterms && seen < NXR_PREFIX_SCAN; lo++, seen++) {
		if (strncmp(term_str(idx, lo), w, n) != 0)
			break;
		cnt = keep(idx, out, cnt, max, lo, 1.0f);
	}
	return cnt;
}

float
nxr_trigram_sim(const char *a, uint32_t an, const char *b, uint32_t bn)
{
	uint32_t ta[NXR_TERM_MAX + 1], tb[NXR_TERM_MAX + 1], na, nb, i = 0, j = 0, c = 0;

	if (an > NXR_TERM_MAX || bn > NXR_TERM_MAX)
		return 0;
	na = nxr_trigrams(a, an, ta);
	nb = nxr_trigrams(b, bn, tb);
	while (i < na && j < nb) {
		if (ta[i] == tb[j]) {
			c++;
			i++;
			j++;
		} else if (ta[i] < tb[j]) {
			i++;
		} else {
			j++;
		}
	}
	return na + nb - c ? (float)c / (float)(na + nb - c) : 0;
}

/* What a similar word weighs: similarity squared (a near miss counts much
 * less than the word), times a prior that a rare word is less likely the
 * one meant: without it, the rarest neighbour's idf wins ("dgo" -> "dg"). */
static float
fuzzy_weight(const struct nxr_index *idx, uint32_t t, float sim)
{
	float prior = 0.5f + 0.1f * logf(1.0f + (float)nxr_df(idx, t));

	return sim * sim * (prior < 1.0f ? prior : 1.0f);
}

uint32_t
nxr_fuzzy_terms(const struct nxr_index *idx, const char *w, uint32_t n,
		struct nxr_qterm *out, uint32_t max)
{
	uint32_t tri[NXR_TERM_MAX + 1], na, need, lists, i, j, cnt = 0, scanned = 0, t;
	const uint32_t *pos[NXR_TERM_MAX + 1], *end[NXR_TERM_MAX + 1];

	if (n == 0 || n > NXR_TERM_MAX || max == 0)
		return 0;
	t = nxr_term_find(idx, w, n);
	if (t != UINT32_MAX)
		cnt = keep(idx, out, cnt, max, t, 1.0f);
	/* a word the corpus knows well is taken as spelt right: the search
	 * for its neighbours is most of this engine's cost */
	if (t != UINT32_MAX && nxr_df(idx, t) >= NXR_FUZZY_KNOWN_DF)
		return cnt;
	na = nxr_trigrams(w, n, tri);
	/* Jaccard >= 0.4 needs at least 0.4 * na shared trigrams, so a match
	 * holds one of the (na - need + 1) rarest: read only those lists */
	need = (2 * na + 4) / 5;
	lists = na - need + 1;
	for (i = 1; i < na; i++) { /* rarest first: a few dozen, insertion sort */
		uint32_t x = tri[i], lx = idx->tri_off[x + 1] - idx->tri_off[x];

		for (j = i; j > 0 && idx->tri_off[tri[j - 1] + 1] - idx->tri_off[tri[j - 1]] > lx;
		     j--)
			tri[j] = tri[j - 1];
		tri[j] = x;
	}
	/* merge the rare lists (each ascending): every candidate once, with
	 * its count there; then count it in the common lists by seeking */
	for (i = 0; i < na; i++) {
		pos[i] = idx->tri_term + idx->tri_off[tri[i]];
		end[i] = idx->tri_term + idx->tri_off[tri[i] + 1];
	}
	while (scanned < NXR_FUZZY_SCAN) {
		uint32_t c = UINT32_MAX, shared = 0, nb;
		float s;

		for (i = 0; i < lists; i++)
			if (pos[i] < end[i] && *pos[i] < c)
				c = *pos[i];
		if (c == UINT32_MAX)
			break;
		scanned++;
		for (i = 0; i < lists; i++)
			if (pos[i] < end[i] && *pos[i] == c) {
				pos[i]++;
				shared++;
			}
		nb = idx->tri_n[c];
		/* the length filter: 0.4 <= |B| / |A| <= 2.5 */
		if (5 * nb < 2 * na || 2 * nb > 5 * na || c == t)
			continue;
		for (i = lists; i < na && shared + (na - i) >= need; i++) {
			pos[i] = seek(pos[i], end[i], c);
			if (pos[i] < end[i] && *pos[i] == c)
				shared++;
		}
		s = (float)shared / (float)(na + nb - shared);
		if (s >= 0.4f)
			cnt = keep(idx, out, cnt, max, c, fuzzy_weight(idx, c, s));
	}
	/* one transposition leaves a short word few trigrams in common ("dgo"):
	 * try the swaps, at a fixed similarity (one edit in a short word) */
	if (n <= 5) {
		char v[5];

		for (i = 0; i + 1 < n; i++) {
			if (w[i] == w[i + 1])
				continue;
			memcpy(v, w, n);
			v[i] = w[i + 1];
			v[i + 1] = w[i];
			t = nxr_term_find(idx, v, n);
			if (t != UINT32_MAX)
				cnt = keep(idx, out, cnt, max, t, fuzzy_weight(idx, t, 0.6f));
		}
	}
	return cnt;
}

/* ---- proximity ---- */

float
nxr_proximity(const struct nxr_index *idx, uint32_t doc, const uint32_t *terms, uint32_t nterms)
{
	uint32_t q[NXR_TERMS_MAX], cnt[NXR_TERMS_MAX], nq = 0, i, j, present = 0, have = 0;
	uint32_t len, left = 0, best = UINT32_MAX, mask = 0;
	const uint32_t *tok;

	if (doc >= idx->ndocs)
		return 0;
	for (i = 0; i < nterms && nq < NXR_TERMS_MAX; i++) {
		for (j = 0; j < nq && q[j] != terms[i]; j++)
			;
		if (j == nq && terms[i] < idx->nterms)
			q[nq++] = terms[i];
	}
	if (nq == 0)
		return 0;
	tok = idx->doc_tok + idx->doc_tok_off[doc];
	len = idx->doc_tok_off[doc + 1] - idx->doc_tok_off[doc];
	if (len > NXR_WINDOW_SCAN)
		len = NXR_WINDOW_SCAN;
	for (i = 0; i < len; i++)
		for (j = 0; j < nq; j++)
			if (tok[i] == q[j] && !(mask & 1u << j)) {
				mask |= 1u << j;
				present++;
			}
	if (present == 0)
		return 0;
	/* the smallest window holding every present term */
	memset(cnt, 0, sizeof cnt);
	for (i = 0; i < len; i++) {
		for (j = 0; j < nq && tok[i] != q[j]; j++)
			;
		if (j == nq)
			continue;
		if (cnt[j]++ == 0)
			have++;
		while (have == present) {
			uint32_t k;

			if (i - left + 1 < best)
				best = i - left + 1;
			for (k = 0; k < nq && tok[left] != q[k]; k++)
				;
			if (k < nq && --cnt[k] == 0)
				have--;
			left++;
		}
	}
	return (float)present / (float)nq * (float)present / (float)best;
}
