/* topics: the topic names of a ringcast.v1 run and their Zipf popularity.
 *
 * With one topic its name is --topic; with T > 1 topic k (0-based) is named "TOPIC.k" and has
 * popularity 1/(k+1)^S (--zipf S). Names are computed once, so that a message or a request only
 * copies them, and a received name is turned back into its index by reading the number in it.
 *
 * Use: topics_init(&t, "bench", T, S) ... topics_fini(&t). Read-only after init: the threads share
 * it. topics_pick and topics_index are inline: they are on the per-message path. */
#ifndef BENCH_TOPICS_H
#define BENCH_TOPICS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rc_app.h"
#include "sys.h"

#define TOPICS_MAX 65536 /* --topics: names are precomputed, 136 bytes each */
#define TOPIC_NAME_MAX (RC_APP_TOPIC_MAX + 8)

struct topics {
	uint32_t n;
	const char *prefix;           /* --topic */
	size_t prefix_len;            /* strlen(prefix) */
	char (*name)[TOPIC_NAME_MAX]; /* "T" or "T.<k>" */
	uint8_t *name_len;
	size_t name_max;  /* the longest name's length */
	double *zipf_cdf; /* cumulative popularity of topics 0..k, the last 1.0 */
};

/* n topics (1..TOPICS_MAX) named after prefix (valid, short enough for "prefix.<n-1>": the
 * options checked it), popularity exponent zipf. Dies if out of memory. */
void topics_init(struct topics *t, const char *prefix, uint32_t n, double zipf);
void topics_fini(struct topics *t);

/* A topic drawn from the Zipf popularity (a binary search of its cumulative distribution). */
static inline uint32_t topics_pick(const struct topics *t, uint64_t *rng)
{
	if (t->n == 1)
		return 0;
	double u = (double)(xorshift64(rng) >> 11) * 0x1.0p-53;
	uint32_t lo = 0, hi = t->n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index of topic name p[0..n), or -1 if it is not one of ours. */
static inline int topics_index(const struct topics *t, const uint8_t *p, size_t n)
{
	if (t->n == 1)
		return n == t->name_len[0] && memcmp(p, t->name[0], n) == 0 ? 0 : -1;
	size_t pl = t->prefix_len;
	if (n <= pl + 1 || n > pl + 6 || memcmp(p, t->prefix, pl) != 0 || p[pl] != '.')
		return -1;
	uint32_t k = 0;
	for (size_t i = pl + 1; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		k = k * 10 + (uint32_t)(p[i] - '0');
	}
	return k < t->n ? (int)k : -1;
}

/* k (<= n) distinct topics drawn from the popularity into out[0..k), sorted. Rejection sampling;
 * when the popular topics are all taken after many tries (k close to n with a steep skew), the
 * rest are the most popular ones still free. */
void topics_draw(const struct topics *t, uint64_t *rng, uint32_t *out, uint32_t k);

#endif
