/* feed_market: ringcast-feed's synthetic market (see feed.h): a price per topic that walks a
 * basis point at a time, and its quotes as JSON:
 *     {"s":"BTC-USD","n":42,"bid":65012.31,"ask":65018.81,"ts":1763898375123456789}
 * The walk needs no secrecy, only speed and a seed to repeat a run: splitmix64. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"

static uint64_t g_rng;

static uint64_t rng_next(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const struct {
	const char *name;
	uint8_t dp;
	int64_t mid;
} g_known[] = {
	{ "BTC-USD", 2, 6500000 }, { "ETH-USD", 2, 350000 }, { "SOL-USD", 3, 150000 },
	{ "XRP-USD", 4, 6000 },    { "BNB-USD", 2, 58000 },  { "DOGE-USD", 5, 15000 },
	{ "ADA-USD", 4, 4500 },    { "AVAX-USD", 3, 35000 }, { "LINK-USD", 3, 15000 },
	{ "DOT-USD", 3, 7000 },    { "LTC-USD", 2, 8000 },   { "BCH-USD", 2, 45000 },
};
#define KNOWN_COUNT (sizeof g_known / sizeof g_known[0])

struct feed_topic *feed_topics_make(uint32_t n, uint32_t nconn, uint64_t seed)
{
	g_rng = seed;
	struct feed_topic *topics = calloc(n, sizeof *topics);
	if (topics == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct feed_topic *t = &topics[i];
		if (i < KNOWN_COUNT) {
			snprintf(t->name, sizeof t->name, "%s", g_known[i].name);
			t->dp = g_known[i].dp;
			t->mid = g_known[i].mid;
		} else {
			snprintf(t->name, sizeof t->name, "SYM-%u", i + 1);
			t->dp = 2;
			t->mid = 1000 + (int64_t)(rng_next() % 99000); /* 10.00 .. 999.99 */
		}
		t->name_len = (uint8_t)strlen(t->name);
		t->conn = nconn == 1 ? 0 : i;
	}
	return topics;
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (i > 0)
		*p++ = tmp[--i];
	return p;
}

/* v in units of 10^-dp, v >= 0 */
static char *put_price(char *p, int64_t v, unsigned dp)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	uint64_t u = (uint64_t)v, scale = pow10[dp];
	p = put_u64(p, u / scale);
	if (dp > 0) {
		*p++ = '.';
		uint64_t frac = u % scale;
		for (unsigned i = dp; i > 0; i--) {
			p[i - 1] = (char)('0' + frac % 10);
			frac /= 10;
		}
		p += dp;
	}
	return p;
}

size_t feed_quote_json(struct feed_topic *t, uint64_t ts_ns, char *out)
{
	int64_t step = t->mid / 10000 > 0 ? t->mid / 10000 : 1; /* about a basis point */
	switch (rng_next() % 4) {
	case 0:
		t->mid -= step;
		break;
	case 1:
		t->mid += step;
		break;
	default:
		break;
	}
	int64_t half = t->mid / 20000 > 0 ? t->mid / 20000 : 1;
	if (t->mid < 10 * half + 10)
		t->mid = 10 * half + 10;
	t->n++;
	char *p = out;
	p = put_str(p, "{\"s\":\"", 6);
	p = put_str(p, t->name, t->name_len);
	p = put_str(p, "\",\"n\":", 6);
	p = put_u64(p, t->n);
	p = put_str(p, ",\"bid\":", 7);
	p = put_price(p, t->mid - half, t->dp);
	p = put_str(p, ",\"ask\":", 7);
	p = put_price(p, t->mid + half, t->dp);
	p = put_str(p, ",\"ts\":", 6);
	p = put_u64(p, ts_ns);
	*p++ = '}';
	assert(p - out <= FEED_PAYLOAD_MAX);
	return (size_t)(p - out);
}
