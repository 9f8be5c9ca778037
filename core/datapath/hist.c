/*
 * Log-linear latency histograms: the slow path (init, reports, merge),
 * shared by every size. Recording is inline in hist.h; the bucketing and
 * its error bound are explained there.
 */
#include "core/datapath/hist.h"

void
nx__hshape_init(uint64_t *w, struct nx_hist_shape sh)
{
	unsigned i;

	for (i = 0; i < NX__H_BUCKETS + sh.nbuckets; i++)
		w[i] = 0;
	w[NX__H_MIN] = UINT64_MAX;
}

void
nx__hshape_reset(uint64_t *w, struct nx_hist_shape sh)
{
	unsigned i;

	/* count first: a reader that sees count 0 reports an empty one */
	ck_pr_store_64(&w[NX__H_COUNT], 0);
	ck_pr_fence_store();
	for (i = 0; i < sh.nbuckets; i++)
		ck_pr_store_64(&w[NX__H_BUCKETS + i], 0);
	ck_pr_store_64(&w[NX__H_SUM], 0);
	ck_pr_store_64(&w[NX__H_MIN], UINT64_MAX);
	ck_pr_store_64(&w[NX__H_MAX], 0);
	ck_pr_store_64(&w[NX__H_OVERFLOW], 0);
}

uint64_t
nx__hshape_value_at(struct nx_hist_shape sh, unsigned index)
{
	const unsigned S = sh.sub_bits;
	unsigned shift, sub;

	if (index >= sh.nbuckets)
		return (UINT64_C(1) << sh.value_bits) - 1;
	if (index < (2u << S))
		return index;
	/* inverse of nx__hshape_index: index = (shift << S) + sub, 2^S <= sub < 2^(S+1) */
	shift = (index >> S) - 1;
	sub = index - (shift << S);
	return ((uint64_t)(sub + 1) << shift) - 1;
}

uint64_t
nx__hshape_percentile(const uint64_t *w, struct nx_hist_shape sh, double pct)
{
	uint64_t total = 0, rank, seen = 0, lo, hi, v;
	double want;
	unsigned i;

	if (ck_pr_load_64(&w[NX__H_COUNT]) == 0)
		return 0;
	lo = ck_pr_load_64(&w[NX__H_MIN]);
	hi = ck_pr_load_64(&w[NX__H_MAX]);
	if (!(pct > 0.0)) /* also NaN */
		return lo;
	if (pct >= 100.0)
		return hi;

	/* The buckets themselves are the population: a live histogram's
	 * count may lag them by the record in flight. */
	for (i = 0; i < sh.nbuckets; i++)
		total += ck_pr_load_64(&w[NX__H_BUCKETS + i]);
	if (total == 0)
		return 0;
	want = pct / 100.0 * (double)total;
	rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > total)
		rank = total;

	for (i = 0; i < sh.nbuckets; i++) {
		seen += ck_pr_load_64(&w[NX__H_BUCKETS + i]);
		if (seen >= rank)
			break;
	}
	v = nx__hshape_value_at(sh, i);
	/* never report more than was seen, nor less (a racing reader only) */
	if (v > hi)
		v = hi;
	if (v < lo)
		v = lo;
	return v;
}

double
nx__hshape_mean(const uint64_t *w)
{
	uint64_t n = ck_pr_load_64(&w[NX__H_COUNT]);

	if (n == 0)
		return 0.0;
	return (double)ck_pr_load_64(&w[NX__H_SUM]) / (double)n;
}

void
nx__hshape_snapshot(uint64_t *dst, const uint64_t *src, struct nx_hist_shape sh)
{
	unsigned i;

	dst[NX__H_COUNT] = ck_pr_load_64(&src[NX__H_COUNT]);
	/* Pairs with the ck_pr_fence_store in nx__hshape_record: every record
	 * counted above is in the buckets read below. */
	ck_pr_fence_load();
	for (i = 1; i < NX__H_BUCKETS + sh.nbuckets; i++)
		dst[i] = ck_pr_load_64(&src[i]);
}

void
nx__hshape_merge(uint64_t *dst, const uint64_t *src, struct nx_hist_shape sh)
{
	uint64_t n, v;
	unsigned i;

	n = ck_pr_load_64(&src[NX__H_COUNT]);
	ck_pr_fence_load(); /* as in nx__hshape_snapshot */
	for (i = 0; i < sh.nbuckets; i++) {
		v = ck_pr_load_64(&src[NX__H_BUCKETS + i]);
		if (v != 0)
			ck_pr_store_64(&dst[NX__H_BUCKETS + i],
				       ck_pr_load_64(&dst[NX__H_BUCKETS + i]) + v);
	}
	ck_pr_store_64(&dst[NX__H_SUM], ck_pr_load_64(&dst[NX__H_SUM]) + ck_pr_load_64(&src[NX__H_SUM]));
	ck_pr_store_64(&dst[NX__H_OVERFLOW],
		       ck_pr_load_64(&dst[NX__H_OVERFLOW]) + ck_pr_load_64(&src[NX__H_OVERFLOW]));
	v = ck_pr_load_64(&src[NX__H_MIN]);
	if (v < ck_pr_load_64(&dst[NX__H_MIN]))
		ck_pr_store_64(&dst[NX__H_MIN], v);
	v = ck_pr_load_64(&src[NX__H_MAX]);
	if (v > ck_pr_load_64(&dst[NX__H_MAX]))
		ck_pr_store_64(&dst[NX__H_MAX], v);
	ck_pr_fence_store(); /* as in nx__hshape_record: count last */
	ck_pr_store_64(&dst[NX__H_COUNT], ck_pr_load_64(&dst[NX__H_COUNT]) + n);
}

/* ---- nx_hist ---- */

void
nx__hist_init(struct nx_hist *h)
{
	nx__hshape_init(NX__HW(h), NX_HIST_SHAPE);
}

void
nx__hist_reset(struct nx_hist *h)
{
	nx__hshape_reset(NX__HW(h), NX_HIST_SHAPE);
}

uint64_t
nx__hist_value_at(unsigned index)
{
	return nx__hshape_value_at(NX_HIST_SHAPE, index);
}

uint64_t
nx__hist_percentile(const struct nx_hist *h, double pct)
{
	return nx__hshape_percentile(NX__HWC(h), NX_HIST_SHAPE, pct);
}

double
nx__hist_mean(const struct nx_hist *h)
{
	return nx__hshape_mean(NX__HWC(h));
}

void
nx__hist_snapshot(struct nx_hist *dst, const struct nx_hist *src)
{
	nx__hshape_snapshot(NX__HW(dst), NX__HWC(src), NX_HIST_SHAPE);
}

void
nx__hist_merge(struct nx_hist *dst, const struct nx_hist *src)
{
	nx__hshape_merge(NX__HW(dst), NX__HWC(src), NX_HIST_SHAPE);
}
