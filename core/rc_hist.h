/* rc_hist: a histogram with power-of-two buckets, for what a worker measures on its data path
 * (publish-to-send latency, frames per send), and its Prometheus text rendering.
 *
 * Bucket i (0 <= i < finite) counts the values v with v <= unit << i that no smaller bucket took;
 * one more bucket counts what is larger (+Inf). unit is a power of two (1 << shift), so the bucket
 * of a value is one shift and one count-leading-zeros: cheap enough to observe every delivery.
 * The rendered upper bounds (`le`) are unit << i times a scale (1e-9 turns nanoseconds into the
 * seconds Prometheus expects): not round numbers, like any exponential buckets.
 *
 * Threads, as for rc_metrics (rc_metrics.h): one writer (the worker that owns the histogram), slots
 * updated with relaxed loads and stores, read whole by the thread that renders /metrics. A reader
 * may see a bucket and the count from slightly different moments.
 */
#ifndef RC_HIST_H
#define RC_HIST_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RC_HIST_FINITE_MAX 31 /* finite buckets at most */

typedef struct rc_hist {
	unsigned shift;                             /* unit = 1 << shift */
	unsigned finite;                            /* finite buckets, 1 .. RC_HIST_FINITE_MAX */
	_Atomic uint64_t n[RC_HIST_FINITE_MAX + 1]; /* per bucket, not cumulative; [finite] = +Inf */
	_Atomic uint64_t sum;                       /* of the values observed, in their own units */
} rc_hist;

/* Zero h and set its buckets: upper bounds 1 << shift, 2 << shift, ..., (1 << (finite - 1)) <<
 * shift, then +Inf. Returns 0, or -EINVAL (finite out of range, or a bound that overflows). */
int rc_hist_init(rc_hist *h, unsigned shift, unsigned finite);

/* The bucket v falls in: the smallest i with v <= unit << i, or finite for +Inf. */
static inline unsigned rc_hist_bucket(const rc_hist *h, uint64_t v)
{
	uint64_t q = v == 0 ? 0 : (v - 1) >> h->shift;
	unsigned i = q == 0 ? 0 : 64u - (unsigned)__builtin_clzll(q);
	return i < h->finite ? i : h->finite;
}

/* Count weight observations of value v (weight >= 1; the sum grows by v * weight). Owner only. */
static inline void rc_hist_observe_n(rc_hist *h, uint64_t v, uint64_t weight)
{
	unsigned i = rc_hist_bucket(h, v);
	uint64_t cur = atomic_load_explicit(&h->n[i], memory_order_relaxed);
	atomic_store_explicit(&h->n[i], cur + weight, memory_order_relaxed);
	cur = atomic_load_explicit(&h->sum, memory_order_relaxed);
	atomic_store_explicit(&h->sum, cur + v * weight, memory_order_relaxed);
}

static inline void rc_hist_observe(rc_hist *h, uint64_t v)
{
	rc_hist_observe_n(h, v, 1);
}

/* dst += src, bucket by bucket (same shape asserted). src may be live on another thread. */
void rc_hist_add(rc_hist *dst, const rc_hist *src);

/* Observations so far (the sum over buckets). */
uint64_t rc_hist_count(const rc_hist *h);

/* One histogram in the Prometheus text format (0.0.4) into out[0..cap): "# HELP" and "# TYPE"
 * lines first when help is not NULL (once per metric name, so only for the first of several
 * labelled series), then ringcast_<name>_bucket lines with cumulative counts (the label
 * label="value" when label is not NULL, then le), ringcast_<name>_sum (scaled) and
 * ringcast_<name>_count. scale turns a value into the unit of the metric (1e-9: nanoseconds into
 * seconds; 1: none). Returns the length written (a NUL follows), or 0 if it did not fit. */
size_t rc_hist_render(const rc_hist *h, const char *name, const char *help, double scale,
                      const char *label, const char *value, char *out, size_t cap);

#endif
