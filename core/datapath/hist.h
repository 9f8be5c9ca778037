/*
 * hist.h - log-linear latency histogram with a fixed memory layout.
 *
 * HdrHistogram's bucketing over uint64 values (nanoseconds), laid out so
 * that it can live in shared memory: fixed-width fields only, no pointer,
 * no allocation, one writer, any number of readers in other threads or
 * processes.
 *
 * Buckets. Values below 2^(S+1) get one bucket each (exact). A larger
 * value v, with its most significant bit at m (2^m <= v < 2^(m+1)), keeps
 * its top S+1 bits: with k = m - S and s = v >> k, 2^S <= s < 2^(S+1), it
 * lands in the bucket [s * 2^k, (s+1) * 2^k - 1], 2^k values wide. Each
 * power of two above 2^(S+1) thus gets 2^S buckets.
 *
 * Error bound. A bucket reports its highest value, hi = (s+1) * 2^k - 1
 * (nx__hist_value_at), so a report is never below the truth. For every v
 * in the bucket:
 *
 *   0 <= hi - v <= 2^k - 1 < 2^k   and   v >= s * 2^k >= 2^S * 2^k,
 *   so  (hi - v) / v < 2^k / (2^S * 2^k) = 2^-S.
 *
 * With S = 7 the relative error is below 1/128 = 0.78% for every value
 * from 1 to NX_HIST_VALUE_MAX (0 and everything below 256 are exact).
 * S = 6 would allow 1/64 = 1.56%, over the 1% we promise: 7 is the
 * smallest S that keeps it.
 *
 * Range. Values up to NX_HIST_VALUE_MAX = 2^41 - 1 ns (36.6 minutes) are
 * tracked; larger ones are clamped into the top bucket and counted in
 * `overflow` (and min, max and sum see the clamped value, so every field
 * agrees with the buckets; overflow > 0 says that max is a lower bound).
 * Bucket count: 2^(S+1) exact buckets plus 2^S per power of two from
 * 2^(S+1) to 2^(B-1): (B - S + 1) * 2^S = 35 * 128 = 4480.
 *
 * Layout (all uint64_t, 35904 bytes, a multiple of 64):
 *
 *   0    count     records so far; stored last by each record
 *   8    sum       sum of the recorded (clamped) values
 *   16   min       smallest value; UINT64_MAX while empty
 *   24   max       largest value; 0 while empty
 *   32   overflow  values above NX_HIST_VALUE_MAX (clamped)
 *   40   reserved[3]  zero
 *   64   buckets[NX_HIST_BUCKETS]
 *
 * Concurrency. One thread records (nx__hist_record, nx__hist_merge into it,
 * nx__hist_reset). Readers use nx__hist_snapshot, nx__hist_percentile and
 * nx__hist_mean concurrently: every field is loaded and stored whole with
 * ck_pr_load_64/ck_pr_store_64, so no value is torn, and no reader ever
 * slows the writer (no atomic read-modify-write, no shared lock). A
 * snapshot is not atomic as a whole: it may hold a record in its bucket
 * but not yet in count (never the reverse: the writer stores count last
 * and the reader loads it first). Where fields must agree exactly, the
 * health segment wraps the snapshot in its ck_sequence.
 *
 *   operation       may run with
 *   record          snapshot, percentile, mean (any reader)
 *   merge(dst,.)    readers of dst; it is a write to dst: dst's writer only
 *   reset           readers (they may see a half-reset histogram)
 *   init            nothing: the memory is not shared yet
 */
#ifndef NX_CORE_HIST_H
#define NX_CORE_HIST_H

#include <stdint.h>

#include <ck_cc.h>
#include <ck_pr.h>

#include "shm/abi/health.h" /* struct nx_lhist: the health segment's histograms */

#define NX_HIST_SUB_BITS 7   /* relative error < 2^-NX_HIST_SUB_BITS */
#define NX_HIST_VALUE_BITS 41 /* values below 2^41 ns are tracked */
#define NX_HIST_SUB_COUNT (1u << NX_HIST_SUB_BITS)
#define NX_HIST_VALUE_MAX ((UINT64_C(1) << NX_HIST_VALUE_BITS) - 1)
#define NX_HIST_BUCKETS ((NX_HIST_VALUE_BITS - NX_HIST_SUB_BITS + 1) * NX_HIST_SUB_COUNT)
#define NX_HIST_SIZE (64u + 8u * NX_HIST_BUCKETS)

struct nx_hist {
	uint64_t count;       /* writer stores last; readers load first */
	uint64_t sum;         /* of clamped values */
	uint64_t min;         /* UINT64_MAX while empty */
	uint64_t max;         /* 0 while empty */
	uint64_t overflow;    /* values above NX_HIST_VALUE_MAX */
	uint64_t reserved[3]; /* zero */
	uint64_t buckets[NX_HIST_BUCKETS];
};

_Static_assert(NX_HIST_BUCKETS == 4480, "NX_HIST_BUCKETS follows from the bit parameters");
_Static_assert(sizeof(struct nx_hist) == NX_HIST_SIZE, "struct nx_hist layout is fixed");
_Static_assert(NX_HIST_SIZE % 64 == 0, "struct nx_hist is whole cache lines");
_Static_assert(__builtin_offsetof(struct nx_hist, buckets) == 64, "header is one cache line");

/*
 * The same bucketing in other sizes. Every histogram is a run of uint64_t
 * words: count, sum, min, max, overflow, three reserved, then its buckets;
 * a shape says how many sub-bucket bits and value bits it has. nx_hist
 * (S = 7, < 0.78% error, 2^41 ns) is for benchmarks; nx_lhist (S = 5,
 * < 3.2% error, 2^36 ns, 1,024 buckets, 8,256 bytes) is what the health
 * segment holds per worker and stage slot. Both record inline with their
 * shape's constants; the slow path (reports, merge) is shared.
 */
struct nx_hist_shape {
	unsigned sub_bits;
	unsigned value_bits;
	unsigned nbuckets;
};

#define NX_HIST_SHAPE ((struct nx_hist_shape){ NX_HIST_SUB_BITS, NX_HIST_VALUE_BITS, NX_HIST_BUCKETS })

/* The health segment's histogram: fewer, wider buckets (its layout,
 * struct nx_lhist, is shm/abi/health.h's). */
#define NX_LHIST_SHAPE ((struct nx_hist_shape){ NX_LHIST_SUB_BITS, NX_LHIST_VALUE_BITS, NX_LHIST_BUCKETS })

/* The words of a histogram, whichever its size (all fields are uint64_t). */
#define NX__HW(h) ((uint64_t *)(void *)(h))
#define NX__HWC(h) ((const uint64_t *)(const void *)(h))
enum { NX__H_COUNT, NX__H_SUM, NX__H_MIN, NX__H_MAX, NX__H_OVERFLOW, NX__H_BUCKETS = 8 };

static inline unsigned
nx__hshape_index(uint64_t v, unsigned S)
{
	/* OR-ing in 2^(S+1) - 1 puts the top bit of every value below
	 * 2^(S+1) at S, so they get shift 0 (exact), and clz never sees 0. */
	unsigned shift = (63 - S) - (unsigned)__builtin_clzll(v | ((UINT64_C(2) << S) - 1));

	return (shift << S) + (unsigned)(v >> shift);
}

/* Single writer, no atomic read-modify-write: every field is loaded and
 * stored whole so that readers never see a torn one. */
static inline void
nx__hshape_record(uint64_t *w, struct nx_hist_shape sh, uint64_t v)
{
	const uint64_t vmax = (UINT64_C(1) << sh.value_bits) - 1;
	uint64_t *b;

	if (CK_CC_UNLIKELY(v > vmax)) {
		ck_pr_store_64(&w[NX__H_OVERFLOW], ck_pr_load_64(&w[NX__H_OVERFLOW]) + 1);
		v = vmax;
	}
	b = &w[NX__H_BUCKETS + nx__hshape_index(v, sh.sub_bits)];
	ck_pr_store_64(b, ck_pr_load_64(b) + 1);
	ck_pr_store_64(&w[NX__H_SUM], ck_pr_load_64(&w[NX__H_SUM]) + v);
	if (v < ck_pr_load_64(&w[NX__H_MIN]))
		ck_pr_store_64(&w[NX__H_MIN], v);
	if (v > ck_pr_load_64(&w[NX__H_MAX]))
		ck_pr_store_64(&w[NX__H_MAX], v);
	/* Pairs with the ck_pr_fence_load in nx__hshape_snapshot: a reader that
	 * sees this count sees the bucket above. */
	ck_pr_fence_store();
	ck_pr_store_64(&w[NX__H_COUNT], ck_pr_load_64(&w[NX__H_COUNT]) + 1);
}

void nx__hshape_init(uint64_t *w, struct nx_hist_shape sh);
void nx__hshape_reset(uint64_t *w, struct nx_hist_shape sh);
uint64_t nx__hshape_value_at(struct nx_hist_shape sh, unsigned index);
uint64_t nx__hshape_percentile(const uint64_t *w, struct nx_hist_shape sh, double pct);
double nx__hshape_mean(const uint64_t *w);
void nx__hshape_snapshot(uint64_t *dst, const uint64_t *src, struct nx_hist_shape sh);
void nx__hshape_merge(uint64_t *dst, const uint64_t *src, struct nx_hist_shape sh);

/**
 * Bucket index of a value.
 * @param v  a value <= NX_HIST_VALUE_MAX (nx__hist_record clamps first)
 * @return the index, < NX_HIST_BUCKETS
 */
static inline unsigned
nx__hist_index(uint64_t v)
{
	return nx__hshape_index(v, NX_HIST_SUB_BITS);
}

/**
 * Record one value. Single writer; no atomic read-modify-write, every
 * field is loaded and stored whole so that readers never see a torn one.
 * Values above NX_HIST_VALUE_MAX are clamped to it and counted in overflow.
 */
static inline void
nx__hist_record(struct nx_hist *h, uint64_t v)
{
	nx__hshape_record(NX__HW(h), NX_HIST_SHAPE, v);
}

/** Record into a health histogram (nx_lhist); as nx__hist_record. */
static inline void
nx__lhist_record(struct nx_lhist *h, uint64_t v)
{
	nx__hshape_record(NX__HW(h), NX_LHIST_SHAPE, v);
}

/* The nx_lhist slow path: as nx_hist's below. */
static inline void nx__lhist_init(struct nx_lhist *h) { nx__hshape_init(NX__HW(h), NX_LHIST_SHAPE); }
static inline uint64_t
nx__lhist_percentile(const struct nx_lhist *h, double pct)
{
	return nx__hshape_percentile(NX__HWC(h), NX_LHIST_SHAPE, pct);
}
static inline void
nx__lhist_snapshot(struct nx_lhist *dst, const struct nx_lhist *src)
{
	nx__hshape_snapshot(NX__HW(dst), NX__HWC(src), NX_LHIST_SHAPE);
}
static inline void
nx__lhist_merge(struct nx_lhist *dst, const struct nx_lhist *src)
{
	nx__hshape_merge(NX__HW(dst), NX__HWC(src), NX_LHIST_SHAPE);
}

/** Make h an empty histogram (memory not yet shared). Zeroed memory is
 *  not an empty histogram: min must start at UINT64_MAX. */
void nx__hist_init(struct nx_hist *h);

/** Empty h again; by its writer only. */
void nx__hist_reset(struct nx_hist *h);

/**
 * The highest value that maps to a bucket: what a bucket reports.
 * @param index  a bucket index; larger ones report NX_HIST_VALUE_MAX
 * @return a value v with nx__hist_index(v) == index
 */
uint64_t nx__hist_value_at(unsigned index);

/**
 * The value at a percentile: the reported value of the bucket holding
 * rank ceil(pct/100 * n), capped at max (a report never exceeds what was
 * seen); p0 (or below) is min, p100 (or above) is max.
 * @param pct  0..100
 * @return the value, or 0 for an empty histogram
 */
uint64_t nx__hist_percentile(const struct nx_hist *h, double pct);

/** Mean of the recorded values, 0 for an empty histogram. */
double nx__hist_mean(const struct nx_hist *h);

/** Copy src into private memory dst, loading every field whole (readers). */
void nx__hist_snapshot(struct nx_hist *dst, const struct nx_hist *src);

/** Add src's records to dst (by dst's writer; src may be live). */
void nx__hist_merge(struct nx_hist *dst, const struct nx_hist *src);

#endif /* NX_CORE_HIST_H */
