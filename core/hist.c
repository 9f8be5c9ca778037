/*
 * Log-linear latency histogram: the slow path (init, reports, merge).
 * Recording is inline in hist.h; the bucketing and its error bound are
 * explained there.
 */
#include "core/hist.h"

void
nx_hist_init(struct nx_hist *h)
{
	unsigned i;

	h->count = 0;
	h->sum = 0;
	h->min = UINT64_MAX;
	h->max = 0;
	h->overflow = 0;
	for (i = 0; i < 3; i++)
		h->reserved[i] = 0;
	for (i = 0; i < NX_HIST_BUCKETS; i++)
		h->buckets[i] = 0;
}

void
nx_hist_reset(struct nx_hist *h)
{
	unsigned i;

	/* count first: a reader that sees count 0 reports an empty one */
	ck_pr_store_64(&h->count, 0);
	ck_pr_fence_store();
	for (i = 0; i < NX_HIST_BUCKETS; i++)
		ck_pr_store_64(&h->buckets[i], 0);
	ck_pr_store_64(&h->sum, 0);
	ck_pr_store_64(&h->min, UINT64_MAX);
	ck_pr_store_64(&h->max, 0);
	ck_pr_store_64(&h->overflow, 0);
}

uint64_t
nx_hist_value_at(unsigned index)
{
	unsigned shift, sub;

	if (index >= NX_HIST_BUCKETS)
		return NX_HIST_VALUE_MAX;
	if (index < 2 * NX_HIST_SUB_COUNT)
		return index;
	/* inverse of nx_hist_index: index = (shift << S) + sub, 2^S <= sub < 2^(S+1) */
	shift = (index >> NX_HIST_SUB_BITS) - 1;
	sub = index - (shift << NX_HIST_SUB_BITS);
	return ((uint64_t)(sub + 1) << shift) - 1;
}

uint64_t
nx_hist_percentile(const struct nx_hist *h, double pct)
{
	uint64_t total = 0, rank, seen = 0, lo, hi, v;
	double want;
	unsigned i;

	if (ck_pr_load_64(&h->count) == 0)
		return 0;
	lo = ck_pr_load_64(&h->min);
	hi = ck_pr_load_64(&h->max);
	if (!(pct > 0.0)) /* also NaN */
		return lo;
	if (pct >= 100.0)
		return hi;

	/* The buckets themselves are the population: a live histogram's
	 * count may lag them by the record in flight. */
	for (i = 0; i < NX_HIST_BUCKETS; i++)
		total += ck_pr_load_64(&h->buckets[i]);
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

	for (i = 0; i < NX_HIST_BUCKETS; i++) {
		seen += ck_pr_load_64(&h->buckets[i]);
		if (seen >= rank)
			break;
	}
	v = nx_hist_value_at(i);
	/* never report more than was seen, nor less (a racing reader only) */
	if (v > hi)
		v = hi;
	if (v < lo)
		v = lo;
	return v;
}

double
nx_hist_mean(const struct nx_hist *h)
{
	uint64_t n = ck_pr_load_64(&h->count);

	if (n == 0)
		return 0.0;
	return (double)ck_pr_load_64(&h->sum) / (double)n;
}

void
nx_hist_snapshot(struct nx_hist *dst, const struct nx_hist *src)
{
	unsigned i;

	dst->count = ck_pr_load_64(&src->count);
	/* Pairs with the ck_pr_fence_store in nx_hist_record: every record
	 * counted above is in the buckets read below. */
	ck_pr_fence_load();
	dst->sum = ck_pr_load_64(&src->sum);
	dst->min = ck_pr_load_64(&src->min);
	dst->max = ck_pr_load_64(&src->max);
	dst->overflow = ck_pr_load_64(&src->overflow);
	for (i = 0; i < 3; i++)
		dst->reserved[i] = ck_pr_load_64(&src->reserved[i]);
	for (i = 0; i < NX_HIST_BUCKETS; i++)
		dst->buckets[i] = ck_pr_load_64(&src->buckets[i]);
}

void
nx_hist_merge(struct nx_hist *dst, const struct nx_hist *src)
{
	uint64_t n, v;
	unsigned i;

	n = ck_pr_load_64(&src->count);
	ck_pr_fence_load(); /* as in nx_hist_snapshot */
	for (i = 0; i < NX_HIST_BUCKETS; i++) {
		v = ck_pr_load_64(&src->buckets[i]);
		if (v != 0)
			ck_pr_store_64(&dst->buckets[i], ck_pr_load_64(&dst->buckets[i]) + v);
	}
	ck_pr_store_64(&dst->sum, ck_pr_load_64(&dst->sum) + ck_pr_load_64(&src->sum));
	ck_pr_store_64(&dst->overflow,
		       ck_pr_load_64(&dst->overflow) + ck_pr_load_64(&src->overflow));
	v = ck_pr_load_64(&src->min);
	if (v < ck_pr_load_64(&dst->min))
		ck_pr_store_64(&dst->min, v);
	v = ck_pr_load_64(&src->max);
	if (v > ck_pr_load_64(&dst->max))
		ck_pr_store_64(&dst->max, v);
	ck_pr_fence_store(); /* as in nx_hist_record: count last */
	ck_pr_store_64(&dst->count, ck_pr_load_64(&dst->count) + n);
}
