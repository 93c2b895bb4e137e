/* Tests of rc_topic: init limits; subscribe / unsubscribe / unsubscribe_all over many topics and
 * subscribers; filling topics_max and subs_max exactly, -ENOSPC, and recovery; backward-shift
 * deletion checked exhaustively on a table of 8 slots (every pattern of home slots, every deletion
 * order, compared with a table built fresh); hash spread and seeding; per-topic sequence numbers
 * with pins; iteration that removes the current subscriber; missed accounting and the pending list;
 * invalid names; that validate catches corruption; and a randomized model test (fixed seed, 200k
 * operations) against a plain reference of arrays. rc_topics_validate runs after every
 * operation. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_topic.h"

#define SEED 0x5eedull
#define S(str) (const uint8_t *)(str), strlen(str)

#define VALID(t) cr_assert(rc_topics_validate(t), "rc_topics_validate failed (see stderr)")

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/* A distinct valid name for every i: "i:" then padding up to a length that varies with i over
 * 1..128, so every branch of the hash's tail handling is used. */
static size_t name_of(char *buf, uint32_t i)
{
	size_t want = 1 + (i * 37u) % RC_APP_TOPIC_MAX;
	int n = snprintf(buf, RC_APP_TOPIC_MAX + 1, "%u:", i);
	size_t len = (size_t)n;
	static const char pad[] = "abcXYZ09._-:/@";
	while (len < want) {
		buf[len] = pad[(i + len) % (sizeof pad - 1)];
		len++;
	}
	buf[len] = '\0';
	return len;
}

static void init(rc_topics *t, uint32_t topics_max, uint32_t subs_max)
{
	cr_assert_eq(rc_topics_init(t, topics_max, subs_max, SEED), 0);
	VALID(t);
}

static rc_topic *topic_named(rc_topics *t, const char *name)
{
	int id = rc_topic_find(t, S(name));
	cr_assert_geq(id, 0, "topic %s not found", name);
	rc_topic *tp = rc_topic_get(t, (uint32_t)id);
	cr_assert_not_null(tp);
	cr_assert_eq(tp->name_len, strlen(name));
	cr_assert_arr_eq(tp->name, name, tp->name_len);
	return tp;
}

/* ---- init ------------------------------------------------------------------------------------ */

Test(topic, init_limits)
{
	rc_topics t;
	cr_assert_eq(rc_topics_init(&t, 0, 10, SEED), -EINVAL);
	cr_assert_eq(rc_topics_init(&t, 10, 0, SEED), -EINVAL);
	cr_assert_eq(rc_topics_init(&t, RC_TOPICS_MAX_LIMIT + 1, 10, SEED), -EINVAL);
	static const struct {
		uint32_t max, cap;
	} caps[] = {
		{ 1, 2 }, { 2, 4 }, { 3, 8 }, { 4, 8 }, { 5, 16 }, { 1000, 2048 }, { 1024, 2048 },
	};
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		init(&t, caps[i].max, 1);
		cr_assert_eq(t.mask + 1, caps[i].cap, "topics_max %u: capacity %u", caps[i].max,
		             t.mask + 1);
		cr_assert_eq(t.topics_live + t.subs_live + t.topics_hwm + t.subs_hwm, 0);
		rc_topics_fini(&t);
		rc_topics_fini(&t); /* a finished index can be finished again */
	}
}

/* ---- basics ---------------------------------------------------------------------------------- */

Test(topic, subscribe_find_unsubscribe)
{
	rc_topics t;
	init(&t, 8, 8);
	rc_subscriber a, b;
	rc_subscriber_init(&a, false);
	rc_subscriber_init(&b, true);

	cr_assert_eq(rc_topic_find(&t, S("BTC-USD")), RC_TOPIC_NONE);
	cr_assert_eq(rc_subscribe(&t, &a, S("BTC-USD")), 0);
	VALID(&t);
	rc_topic *tp = topic_named(&t, "BTC-USD");
	cr_assert_eq(tp->subs_plain, 1);
	cr_assert_eq(tp->subs_v1, 0);
	cr_assert_eq(tp->next_seq, 1);
	cr_assert_eq(tp->pins, 0);
	cr_assert_eq(rc_subscribe(&t, &b, S("BTC-USD")), 0);
	VALID(&t);
	cr_assert_eq(tp->subs_plain, 1);
	cr_assert_eq(tp->subs_v1, 1);
	cr_assert_eq(rc_subscribe(&t, &b, S("ETH-USD")), 0);
	VALID(&t);
	cr_assert_eq(t.topics_live, 2);
	cr_assert_eq(t.subs_live, 3);
	cr_assert_eq(a.subs_len, 1);
	cr_assert_eq(b.subs_len, 2);
	/* names are case-sensitive */
	cr_assert_eq(rc_topic_find(&t, S("btc-usd")), RC_TOPIC_NONE);
	cr_assert_eq(rc_topic_find(&t, S("BTC-US")), RC_TOPIC_NONE);

	cr_assert_eq(rc_subscribe(&t, &a, S("BTC-USD")), -EEXIST);
	cr_assert_eq(rc_subscribe(&t, &b, S("ETH-USD")), -EEXIST);
	VALID(&t);
	cr_assert_eq(t.subs_live, 3);
	cr_assert_eq(rc_unsubscribe(&t, &a, S("ETH-USD")), -ENOENT); /* topic live, not a's */
	cr_assert_eq(rc_unsubscribe(&t, &a, S("SOL-USD")), -ENOENT); /* no such topic */
	VALID(&t);

	uint32_t btc = tp->id;
	cr_assert_eq(rc_unsubscribe(&t, &a, S("BTC-USD")), 0);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("BTC-USD")), (int)btc); /* b still holds it */
	cr_assert_eq(tp->subs_plain, 0);
	cr_assert_eq(rc_unsubscribe(&t, &a, S("BTC-USD")), -ENOENT);
	cr_assert_eq(rc_unsubscribe(&t, &b, S("BTC-USD")), 0);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("BTC-USD")), RC_TOPIC_NONE);
	cr_assert_null(rc_topic_get(&t, btc));
	cr_assert_eq(t.topics_live, 1);
	cr_assert_eq(rc_unsubscribe_all(&t, &b), 1);
	cr_assert_eq(rc_unsubscribe_all(&t, &b), 0);
	VALID(&t);
	cr_assert_eq(t.topics_live, 0);
	cr_assert_eq(t.subs_live, 0);
	cr_assert_eq(t.topics_hwm, 2);
	cr_assert_eq(t.subs_hwm, 3);
	cr_assert_null(a.subs);
	cr_assert_null(b.subs);
	rc_topics_fini(&t);
}

Test(topic, invalid_names)
{
	rc_topics t;
	init(&t, 8, 8);
	rc_subscriber a;
	rc_subscriber_init(&a, true);
	char longest[RC_APP_TOPIC_MAX + 2];
	memset(longest, 'a', sizeof longest);
	static const char *const bad[] = { "",     "a b",   "a,b",         "a%2Cb",
		                               "a\\b", "\"a\"", "caf\xc3\xa9", "a\nb",
		                               "#a",   "a?",    "a*" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(rc_subscribe(&t, &a, S(bad[i])), -EINVAL, "%s", bad[i]);
		cr_assert_eq(rc_topic_pin(&t, S(bad[i])), -EINVAL, "%s", bad[i]);
		cr_assert_eq(rc_topic_find(&t, S(bad[i])), RC_TOPIC_NONE);
		cr_assert_eq(rc_unsubscribe(&t, &a, S(bad[i])), -ENOENT);
		VALID(&t);
	}
	/* a NUL inside the name */
	cr_assert_eq(rc_subscribe(&t, &a, (const uint8_t *)"a\0b", 3), -EINVAL);
	/* 129 bytes: too long; 128: the longest name */
	cr_assert_eq(rc_subscribe(&t, &a, (const uint8_t *)longest, RC_APP_TOPIC_MAX + 1), -EINVAL);
	cr_assert_eq(rc_topic_find(&t, (const uint8_t *)longest, RC_APP_TOPIC_MAX + 1), RC_TOPIC_NONE);
	cr_assert_eq(t.topics_live, 0);
	cr_assert_eq(rc_subscribe(&t, &a, (const uint8_t *)longest, RC_APP_TOPIC_MAX), 0);
	cr_assert_eq(rc_subscribe(&t, &a, S("AZaz09._-:/@")), 0);
	cr_assert_eq(rc_subscribe(&t, &a, S("x")), 0);
	VALID(&t);
	cr_assert_geq(rc_topic_find(&t, (const uint8_t *)longest, RC_APP_TOPIC_MAX), 0);
	cr_assert_eq(rc_topic_find(&t, (const uint8_t *)longest, RC_APP_TOPIC_MAX - 1), RC_TOPIC_NONE);
	cr_assert_eq(t.topics_live, 3);
	cr_assert_eq(rc_unsubscribe_all(&t, &a), 3);
	VALID(&t);
	rc_topics_fini(&t);
}

/* ---- limits ---------------------------------------------------------------------------------- */

Test(topic, fill_topics_max_exactly)
{
	enum {
		TOPICS = 16
	};
	rc_topics t;
	init(&t, TOPICS, 100);
	rc_subscriber a, b;
	rc_subscriber_init(&a, false);
	rc_subscriber_init(&b, true);
	char name[RC_APP_TOPIC_MAX + 1];
	for (uint32_t i = 0; i < TOPICS; i++) {
		size_t n = name_of(name, i);
		cr_assert_eq(rc_subscribe(&t, &a, (const uint8_t *)name, n), 0, "topic %u", i);
		VALID(&t);
	}
	cr_assert_eq(t.topics_live, TOPICS);
	size_t n = name_of(name, TOPICS);
	cr_assert_eq(rc_subscribe(&t, &a, (const uint8_t *)name, n), -ENOSPC);
	cr_assert_eq(rc_subscribe(&t, &b, (const uint8_t *)name, n), -ENOSPC);
	cr_assert_eq(rc_topic_pin(&t, (const uint8_t *)name, n), -ENOSPC);
	VALID(&t);
	cr_assert_eq(t.topics_live, TOPICS);
	cr_assert_eq(t.subs_live, TOPICS);
	cr_assert_eq(rc_topic_find(&t, (const uint8_t *)name, n), RC_TOPIC_NONE);
	/* an existing topic still takes subscribers */
	size_t n0 = name_of(name, 0);
	cr_assert_eq(rc_subscribe(&t, &b, (const uint8_t *)name, n0), 0);
	cr_assert_geq(rc_topic_pin(&t, (const uint8_t *)name, n0), 0);
	VALID(&t);

	/* deleting one topic makes room for exactly one */
	size_t n5 = name_of(name, 5);
	cr_assert_eq(rc_unsubscribe(&t, &a, (const uint8_t *)name, n5), 0);
	VALID(&t);
	cr_assert_eq(t.topics_live, TOPICS - 1);
	n = name_of(name, TOPICS);
	cr_assert_eq(rc_subscribe(&t, &b, (const uint8_t *)name, n), 0);
	VALID(&t);
	n = name_of(name, TOPICS + 1);
	cr_assert_eq(rc_subscribe(&t, &b, (const uint8_t *)name, n), -ENOSPC);
	cr_assert_eq(t.topics_hwm, TOPICS);
	/* every topic still findable */
	for (uint32_t i = 0; i <= TOPICS; i++) {
		n = name_of(name, i);
		cr_assert_eq(rc_topic_find(&t, (const uint8_t *)name, n) >= 0, i != 5, "topic %u", i);
	}
	rc_unsubscribe_all(&t, &a);
	rc_unsubscribe_all(&t, &b);
	VALID(&t);
	cr_assert_eq(t.topics_live, 1); /* topic 0 is pinned */
	rc_topics_fini(&t);
}

Test(topic, fill_subs_max_exactly)
{
	enum {
		SUBS = 10
	};
	rc_topics t;
	init(&t, 100, SUBS);
	rc_subscriber sr[SUBS + 2];
	for (uint32_t i = 0; i < SUBS + 2; i++)
		rc_subscriber_init(&sr[i], i % 2);
	for (uint32_t i = 0; i < SUBS; i++) {
		cr_assert_eq(rc_subscribe(&t, &sr[i], S(i < 5 ? "shared" : "other")), 0);
		VALID(&t);
	}
	cr_assert_eq(t.subs_live, SUBS);
	cr_assert_eq(t.topics_live, 2);
	/* no subscription left: refused for an existing topic and for a new one, which is not
	 * created */
	cr_assert_eq(rc_subscribe(&t, &sr[SUBS], S("shared")), -ENOSPC);
	cr_assert_eq(rc_subscribe(&t, &sr[SUBS], S("fresh")), -ENOSPC);
	cr_assert_eq(rc_subscribe(&t, &sr[0], S("fresh")), -ENOSPC);
	/* -EEXIST is still told apart when full */
	cr_assert_eq(rc_subscribe(&t, &sr[0], S("shared")), -EEXIST);
	VALID(&t);
	cr_assert_eq(t.topics_live, 2);
	cr_assert_eq(rc_topic_find(&t, S("fresh")), RC_TOPIC_NONE);
	cr_assert_eq(sr[SUBS].subs_len, 0);

	cr_assert_eq(rc_unsubscribe_all(&t, &sr[3]), 1);
	VALID(&t);
	cr_assert_eq(rc_subscribe(&t, &sr[SUBS], S("fresh")), 0);
	VALID(&t);
	cr_assert_eq(rc_subscribe(&t, &sr[SUBS + 1], S("fresh")), -ENOSPC);
	cr_assert_eq(t.subs_hwm, SUBS);
	cr_assert_eq(t.topics_hwm, 3);
	for (uint32_t i = 0; i < SUBS + 2; i++) {
		rc_unsubscribe_all(&t, &sr[i]);
		VALID(&t);
	}
	cr_assert_eq(t.subs_live + t.topics_live, 0);
	rc_topics_fini(&t);
}

Test(topic, many_topics_and_subscribers)
{
	enum {
		TOPICS = 300,
		SUBSCRIBERS = 40,
		SUBS = 2000,
		OPS = 8000
	};
	rng_state = 7;
	rc_topics t;
	init(&t, TOPICS, SUBS);
	static rc_subscriber sr[SUBSCRIBERS];
	static bool on[SUBSCRIBERS][TOPICS];
	for (uint32_t i = 0; i < SUBSCRIBERS; i++)
		rc_subscriber_init(&sr[i], i % 3 == 0);
	char name[RC_APP_TOPIC_MAX + 1];
	uint32_t live_subs = 0;
	for (uint32_t op = 0; op < OPS; op++) {
		uint32_t s = below(SUBSCRIBERS), k = below(TOPICS);
		size_t n = name_of(name, k);
		uint32_t r = below(1000);
		if (r < 650) {
			int rc = rc_subscribe(&t, &sr[s], (const uint8_t *)name, n);
			if (on[s][k]) {
				cr_assert_eq(rc, -EEXIST);
			} else if (live_subs == SUBS) {
				cr_assert_eq(rc, -ENOSPC);
			} else {
				cr_assert_eq(rc, 0);
				on[s][k] = true;
				live_subs++;
			}
		} else if (r < 995) {
			int rc = rc_unsubscribe(&t, &sr[s], (const uint8_t *)name, n);
			cr_assert_eq(rc, on[s][k] ? 0 : -ENOENT);
			live_subs -= on[s][k];
			on[s][k] = false;
		} else {
			uint32_t had = 0;
			for (uint32_t j = 0; j < TOPICS; j++) {
				had += on[s][j];
				on[s][j] = false;
			}
			cr_assert_eq(rc_unsubscribe_all(&t, &sr[s]), had);
			live_subs -= had;
		}
		VALID(&t);
		cr_assert_eq(t.subs_live, live_subs);
	}
	/* every topic with a subscriber is findable and counts them right */
	uint32_t live_topics = 0;
	for (uint32_t k = 0; k < TOPICS; k++) {
		uint32_t plain = 0, v1 = 0;
		for (uint32_t s = 0; s < SUBSCRIBERS; s++)
			if (on[s][k])
				*(sr[s].v1 ? &v1 : &plain) += 1;
		size_t n = name_of(name, k);
		int id = rc_topic_find(&t, (const uint8_t *)name, n);
		if (plain + v1 == 0) {
			cr_assert_eq(id, RC_TOPIC_NONE);
			continue;
		}
		live_topics++;
		cr_assert_geq(id, 0);
		rc_topic *tp = rc_topic_get(&t, (uint32_t)id);
		cr_assert_eq(tp->subs_plain, plain);
		cr_assert_eq(tp->subs_v1, v1);
		for (uint32_t s = 0; s < SUBSCRIBERS; s++)
			cr_assert_eq(rc_sub_find(&t, &sr[s], (uint32_t)id) != NULL, on[s][k]);
	}
	cr_assert_eq(t.topics_live, live_topics);
	cr_assert_gt(live_subs, SUBS / 2, "the test should run near the limit");
	for (uint32_t s = 0; s < SUBSCRIBERS; s++) {
		rc_unsubscribe_all(&t, &sr[s]);
		VALID(&t);
	}
	cr_assert_eq(t.topics_live + t.subs_live, 0);
	cr_assert_eq(t.subs_hwm, SUBS);
	rc_topics_fini(&t);
}

/* ---- the hash table: backward-shift deletion ------------------------------------------------- */

enum {
	BS_TOPICS = 4,
	BS_CAP = 8,
	BS_PER_HOME = BS_TOPICS
};

/* Names sorted by home slot in a table of 8 slots: pool[h][k] is the k-th name found with home
 * h. */
static char bs_pool[BS_CAP][BS_PER_HOME][16];

static void bs_fill_pool(const rc_topics *t)
{
	uint32_t have[BS_CAP] = { 0 };
	uint32_t full = 0;
	for (uint32_t i = 0; full < BS_CAP; i++) {
		char name[16];
		snprintf(name, sizeof name, "n%u", i);
		uint32_t h = rc_topics_home(t, S(name));
		cr_assert_lt(h, BS_CAP);
		if (have[h] == BS_PER_HOME)
			continue;
		strcpy(bs_pool[h][have[h]++], name);
		full += have[h] == BS_PER_HOME;
	}
}

/* The table must be exactly the one obtained by inserting the live names, in their original
 * order, into an empty table: what Algorithm R promises, and the strongest check of it. */
static void bs_assert_as_fresh(rc_topics *t, const char *const *names, const bool *live, int n)
{
	rc_topics fresh;
	init(&fresh, BS_TOPICS, 1);
	for (int i = 0; i < n; i++)
		if (live[i])
			cr_assert_geq(rc_topic_pin(&fresh, S(names[i])), 0);
	for (uint32_t i = 0; i < BS_CAP; i++) {
		uint32_t a = t->slots[i].id, b = fresh.slots[i].id;
		cr_assert_eq(a == RC_TOPIC_SLOT_EMPTY, b == RC_TOPIC_SLOT_EMPTY, "slot %u", i);
		if (a == RC_TOPIC_SLOT_EMPTY)
			continue;
		const rc_topic *x = &t->topics[a], *y = &fresh.topics[b];
		cr_assert(x->name_len == y->name_len && memcmp(x->name, y->name, x->name_len) == 0,
		          "slot %u holds %.*s, a fresh table %.*s", i, x->name_len, x->name, y->name_len,
		          y->name);
	}
	rc_topics_fini(&fresh);
}

Test(topic, backward_shift_exhaustive)
{
	rc_topics t;
	init(&t, BS_TOPICS, 1);
	cr_assert_eq(t.mask + 1, BS_CAP);
	bs_fill_pool(&t);
	rc_topics_fini(&t);

	/* every 4-tuple of home slots (clusters, wrap-around at slot 7 -> 0), every deletion order */
	static const int perms[24][4] = {
		{ 0, 1, 2, 3 }, { 0, 1, 3, 2 }, { 0, 2, 1, 3 }, { 0, 2, 3, 1 }, { 0, 3, 1, 2 },
		{ 0, 3, 2, 1 }, { 1, 0, 2, 3 }, { 1, 0, 3, 2 }, { 1, 2, 0, 3 }, { 1, 2, 3, 0 },
		{ 1, 3, 0, 2 }, { 1, 3, 2, 0 }, { 2, 0, 1, 3 }, { 2, 0, 3, 1 }, { 2, 1, 0, 3 },
		{ 2, 1, 3, 0 }, { 2, 3, 0, 1 }, { 2, 3, 1, 0 }, { 3, 0, 1, 2 }, { 3, 0, 2, 1 },
		{ 3, 1, 0, 2 }, { 3, 1, 2, 0 }, { 3, 2, 0, 1 }, { 3, 2, 1, 0 },
	};
	for (uint32_t homes = 0; homes < BS_CAP * BS_CAP * BS_CAP * BS_CAP; homes++) {
		const char *names[BS_TOPICS];
		for (int k = 0; k < BS_TOPICS; k++)
			names[k] = bs_pool[(homes >> (3 * k)) & 7][k];
		for (int p = 0; p < 24; p++) {
			init(&t, BS_TOPICS, 1);
			int ids[BS_TOPICS];
			bool live[BS_TOPICS] = { true, true, true, true };
			for (int k = 0; k < BS_TOPICS; k++) {
				ids[k] = rc_topic_pin(&t, S(names[k]));
				cr_assert_geq(ids[k], 0);
				VALID(&t);
			}
			for (int d = 0; d < BS_TOPICS; d++) {
				int victim = perms[p][d];
				rc_topic_unpin(&t, (uint32_t)ids[victim]);
				live[victim] = false;
				VALID(&t); /* every live topic found from its home */
				for (int k = 0; k < BS_TOPICS; k++)
					cr_assert_eq(rc_topic_find(&t, S(names[k])), live[k] ? ids[k] : RC_TOPIC_NONE,
					             "homes %o, order %d, after %d deletions: %s", homes, p, d + 1,
					             names[k]);
				bs_assert_as_fresh(&t, names, live, BS_TOPICS);
			}
			cr_assert_eq(t.topics_live, 0);
			rc_topics_fini(&t);
		}
	}
}

Test(topic, one_home_for_all)
{
	/* 8 names with one home (the last slot: the cluster wraps), deleted from the middle out */
	rc_topics t;
	init(&t, 8, 1);
	uint32_t last = t.mask;
	char names[8][16];
	int ids[8];
	int have = 0;
	for (uint32_t i = 0; have < 8; i++) {
		snprintf(names[have], sizeof names[have], "c%u", i);
		if (rc_topics_home(&t, S(names[have])) == last)
			have++;
	}
	for (int k = 0; k < 8; k++) {
		ids[k] = rc_topic_pin(&t, S(names[k]));
		cr_assert_geq(ids[k], 0);
		VALID(&t);
	}
	static const int order[8] = { 3, 4, 0, 7, 1, 6, 2, 5 };
	bool live[8] = { true, true, true, true, true, true, true, true };
	for (int d = 0; d < 8; d++) {
		rc_topic_unpin(&t, (uint32_t)ids[order[d]]);
		live[order[d]] = false;
		VALID(&t);
		for (int k = 0; k < 8; k++)
			cr_assert_eq(rc_topic_find(&t, S(names[k])), live[k] ? ids[k] : RC_TOPIC_NONE);
	}
	rc_topics_fini(&t);
}

/* At load 1/2 linear probing averages ~0.5 slots of displacement from the home slot when the hash
 * is uniform; a weak hash (names that share a home) shows here first. */
static void assert_spread(const rc_topics *t)
{
	uint64_t total = 0;
	uint32_t worst = 0;
	for (uint32_t i = 0; i <= t->mask; i++) {
		if (t->slots[i].id == RC_TOPIC_SLOT_EMPTY)
			continue;
		uint32_t d = (i - (t->slots[i].hash & t->mask)) & t->mask;
		total += d;
		worst = d > worst ? d : worst;
	}
	double avg = (double)total / t->topics_live;
	cr_assert_lt(avg, 1.0, "average displacement %.3f", avg);
	cr_assert_lt(worst, 64, "worst displacement %u", worst);
}

Test(topic, hash_spread_and_seed)
{
	enum {
		TOPICS = 1 << 16
	};
	rc_topics t;
	init(&t, TOPICS, 1);
	char name[RC_APP_TOPIC_MAX + 1];
	for (uint32_t i = 0; i < TOPICS; i++) {
		size_t n = name_of(name, i);
		cr_assert_eq(rc_topic_pin(&t, (const uint8_t *)name, n), (int)i);
	}
	VALID(&t);
	assert_spread(&t);
	/* short names of one or two characters are distinct too (the small-tail branch) */
	rc_topics u, v;
	init(&u, 8192, 1);
	cr_assert_eq(rc_topics_init(&v, 8192, 1, SEED + 1), 0);
	static const char alpha[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/@";
	enum {
		A = sizeof alpha - 1
	};
	uint32_t created = 0, same_home = 0;
	for (size_t a = 0; a < A; a++) {
		for (size_t b = 0; b <= A; b++) {
			uint8_t nm[2] = { (uint8_t)alpha[a], (uint8_t)alpha[b % A] };
			size_t n = b == A ? 1 : 2;
			cr_assert_eq(rc_topic_pin(&u, nm, n), (int)created++);
			same_home += rc_topics_home(&u, nm, n) == rc_topics_home(&v, nm, n);
		}
	}
	VALID(&u);
	assert_spread(&u);
	/* another seed, other homes: 16384 slots, so a home in common is a 1-in-16384 accident */
	cr_assert_lt(same_home, 10, "%u of %u names keep their home under another seed", same_home,
	             created);
	rc_topics_fini(&u);
	rc_topics_fini(&v);
	rc_topics_fini(&t);
}

/* ---- sequence numbers and pins --------------------------------------------------------------- */

Test(topic, sequence_numbers_and_pins)
{
	rc_topics t;
	init(&t, 8, 8);
	rc_subscriber a;
	rc_subscriber_init(&a, true);
	cr_assert_eq(rc_subscribe(&t, &a, S("A")), 0);
	cr_assert_eq(rc_subscribe(&t, &a, S("B")), 0);
	uint32_t ta = topic_named(&t, "A")->id, tb = topic_named(&t, "B")->id;
	for (uint64_t i = 1; i <= 5; i++)
		cr_assert_eq(rc_topic_next_seq(&t, ta), i);
	cr_assert_eq(rc_topic_next_seq(&t, tb), 1); /* per topic */
	VALID(&t);

	/* a pinned topic keeps its numbers with no subscriber */
	cr_assert_eq(rc_topic_pin(&t, S("A")), (int)ta);
	cr_assert_eq(rc_unsubscribe(&t, &a, S("A")), 0);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("A")), (int)ta);
	cr_assert_eq(rc_topic_next_seq(&t, ta), 6);
	rc_topic_pin_id(&t, ta); /* two pins */
	rc_topic_unpin(&t, ta);
	VALID(&t);
	cr_assert_eq(rc_topic_next_seq(&t, ta), 7);
	cr_assert_eq(rc_subscribe(&t, &a, S("A")), 0);
	rc_topic_unpin(&t, ta); /* the subscriber still holds it */
	VALID(&t);
	cr_assert_eq(rc_topic_next_seq(&t, ta), 8);
	cr_assert_eq(rc_unsubscribe(&t, &a, S("A")), 0); /* nothing holds it: deleted */
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("A")), RC_TOPIC_NONE);
	cr_assert_null(rc_topic_get(&t, ta));

	/* created again: numbers restart */
	int pa = rc_topic_pin(&t, S("A"));
	cr_assert_geq(pa, 0);
	VALID(&t);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)pa)->pins, 1);
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)pa), 1);
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)pa), 2);
	rc_topic_unpin(&t, (uint32_t)pa);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("A")), RC_TOPIC_NONE);
	cr_assert_eq(rc_topic_next_seq(&t, tb), 2); /* B untouched throughout */
	rc_unsubscribe_all(&t, &a);
	VALID(&t);
	cr_assert_eq(t.topics_live, 0);
	rc_topics_fini(&t);
}

/* ---- iteration ------------------------------------------------------------------------------- */

Test(topic, foreach_removing_current)
{
	enum {
		N = 10
	};
	rc_topics t;
	init(&t, 8, 64);
	rc_subscriber sr[N + 1];
	for (int i = 0; i <= N; i++) {
		rc_subscriber_init(&sr[i], i % 2);
		cr_assert_eq(rc_subscribe(&t, &sr[i], S("other")), 0);
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(rc_subscribe(&t, &sr[i], S("hot")), 0);
	VALID(&t);

	/* visit all; every third is "disconnected" (all its subscriptions go) or unsubscribes from
	 * this topic only; a newcomer subscribing during the loop is not visited */
	rc_topic *tp = topic_named(&t, "hot");
	int seen[N + 1] = { 0 };
	int visits = 0;
	rc_sub *s, *nx;
	RC_TOPIC_FOREACH_SUB (tp, s, nx) {
		int i = (int)(s->subscriber - sr);
		cr_assert(i >= 0 && i < N);
		seen[i]++;
		visits++;
		if (i % 3 == 0)
			cr_assert_eq(rc_unsubscribe_all(&t, &sr[i]), 2);
		else if (i % 3 == 1)
			cr_assert_eq(rc_unsubscribe(&t, &sr[i], S("hot")), 0);
		if (visits == 2)
			cr_assert_eq(rc_subscribe(&t, &sr[N], S("hot")), 0);
		VALID(&t);
	}
	cr_assert_eq(visits, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "subscriber %d visited %d times", i, seen[i]);
	cr_assert_eq(seen[N], 0);
	uint32_t left = tp->subs_plain + tp->subs_v1;
	cr_assert_eq(left, 3 + 1, "subscribers 2, 5, 8 and the newcomer remain, not %u", left);

	/* remove every subscriber of an unpinned topic during the loop: the topic dies under it */
	uint32_t hot = tp->id;
	visits = 0;
	RC_TOPIC_FOREACH_SUB (tp, s, nx) {
		visits++;
		rc_unsubscribe_all(&t, s->subscriber);
		VALID(&t);
	}
	cr_assert_eq(visits, 4);
	cr_assert_null(rc_topic_get(&t, hot));
	cr_assert_eq(rc_topic_find(&t, S("hot")), RC_TOPIC_NONE);

	/* pinned around the loop, the topic survives it */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc_subscribe(&t, &sr[i], S("hot")), 0);
	tp = topic_named(&t, "hot");
	rc_topic_pin_id(&t, tp->id);
	visits = 0;
	RC_TOPIC_FOREACH_SUB (tp, s, nx) {
		visits++;
		cr_assert_eq(rc_unsubscribe(&t, s->subscriber, S("hot")), 0);
	}
	cr_assert_eq(visits, 3);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("hot")), (int)tp->id);
	cr_assert_null(tp->subs);
	rc_topic_unpin(&t, tp->id);
	VALID(&t);
	cr_assert_eq(rc_topic_find(&t, S("hot")), RC_TOPIC_NONE);
	for (int i = 0; i <= N; i++)
		rc_unsubscribe_all(&t, &sr[i]);
	VALID(&t);
	cr_assert_eq(t.subs_live, 0);
	rc_topics_fini(&t);
}

/* ---- missed accounting ----------------------------------------------------------------------- */

Test(topic, missed_pending_list)
{
	rc_topics t;
	init(&t, 8, 16);
	rc_subscriber v, p;
	rc_subscriber_init(&v, true);
	rc_subscriber_init(&p, false);
	static const char *const names[] = { "A", "B", "C" };
	uint32_t id[3];
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rc_subscribe(&t, &v, S(names[i])), 0);
		cr_assert_eq(rc_subscribe(&t, &p, S(names[i])), 0);
		id[i] = topic_named(&t, names[i])->id;
	}
	rc_sub *va = rc_sub_find(&t, &v, id[0]), *vb = rc_sub_find(&t, &v, id[1]);
	rc_sub *vc = rc_sub_find(&t, &v, id[2]), *pa = rc_sub_find(&t, &p, id[0]);
	cr_assert(va && vb && vc && pa);
	cr_assert_eq(va->subscriber, &v);
	cr_assert_eq(va->topic, id[0]);
	cr_assert_eq(pa->subscriber, &p);
	cr_assert(!rc_subscriber_missed_pending(&v));

	uint32_t tid, count;
	cr_assert(!rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert(rc_sub_add_missed(&t, vb, 1)); /* B first */
	VALID(&t);
	cr_assert(rc_sub_add_missed(&t, va, 3));
	cr_assert(!rc_sub_add_missed(&t, vb, 1)); /* already pending: only counted */
	cr_assert(!rc_sub_add_missed(&t, pa, 5)); /* plain: no notices, nothing recorded */
	VALID(&t);
	cr_assert_eq(pa->missed, 0);
	cr_assert(!rc_subscriber_missed_pending(&p));
	cr_assert(rc_subscriber_missed_pending(&v));
	cr_assert_eq(vb->missed, 2);

	/* oldest first, counts reset */
	cr_assert(rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert_eq(tid, id[1]);
	cr_assert_eq(count, 2);
	cr_assert_eq(vb->missed, 0);
	VALID(&t);
	cr_assert(rc_sub_add_missed(&t, vb, 4)); /* pending again: goes behind A */
	cr_assert(rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert_eq(tid, id[0]);
	cr_assert_eq(count, 3);
	cr_assert(rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert_eq(tid, id[1]);
	cr_assert_eq(count, 4);
	cr_assert(!rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert(!rc_subscriber_missed_pending(&v));
	VALID(&t);

	/* saturation */
	cr_assert(rc_sub_add_missed(&t, vc, UINT32_MAX - 1));
	cr_assert(!rc_sub_add_missed(&t, vc, 5));
	cr_assert_eq(vc->missed, UINT32_MAX);
	cr_assert(!rc_sub_add_missed(&t, vc, UINT32_MAX));
	cr_assert_eq(vc->missed, UINT32_MAX);
	VALID(&t);

	/* unsubscribing discards a pending notice, from the head, middle and tail of the list */
	cr_assert(rc_sub_add_missed(&t, va, 1));
	cr_assert(rc_sub_add_missed(&t, vb, 1)); /* list: C, A, B */
	cr_assert_eq(rc_unsubscribe(&t, &v, S("A")), 0);
	VALID(&t);
	cr_assert_eq(rc_unsubscribe(&t, &v, S("C")), 0);
	VALID(&t);
	cr_assert(rc_subscriber_pop_missed(&t, &v, &tid, &count));
	cr_assert_eq(tid, id[1]);
	cr_assert_eq(count, 1);
	cr_assert(rc_sub_add_missed(&t, vb, 9));
	cr_assert_eq(rc_unsubscribe_all(&t, &v), 1);
	VALID(&t);
	cr_assert(!rc_subscriber_missed_pending(&v));
	cr_assert(!rc_subscriber_pop_missed(&t, &v, &tid, &count));

	/* rc_sub_find both ways: a subscriber with fewer subscriptions than the topic has subscribers,
	 * and the reverse */
	rc_subscriber many;
	rc_subscriber_init(&many, true);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc_subscribe(&t, &many, S(names[i])), 0);
	cr_assert_eq(rc_subscribe(&t, &many, S("D")), 0);
	uint32_t d = topic_named(&t, "D")->id;
	cr_assert_not_null(rc_sub_find(&t, &many, d)); /* topic list is the shorter */
	cr_assert_null(rc_sub_find(&t, &p, d));
	cr_assert_not_null(rc_sub_find(&t, &p, id[0])); /* subscriber list is the shorter */
	cr_assert_null(rc_sub_find(&t, &v, id[0]));
	cr_assert_null(rc_sub_find(&t, &v, 7)); /* a dead id */
	rc_unsubscribe_all(&t, &many);
	rc_unsubscribe_all(&t, &p);
	VALID(&t);
	cr_assert_eq(t.subs_live + t.topics_live, 0);
	rc_topics_fini(&t);
}

/* ---- validate can fail ----------------------------------------------------------------------- */

static void corrupt_setup(rc_topics *t, rc_subscriber sr[3])
{
	init(t, 8, 16);
	for (int i = 0; i < 3; i++) {
		rc_subscriber_init(&sr[i], i == 2);
		cr_assert_eq(rc_subscribe(t, &sr[i], S("A")), 0);
		cr_assert_eq(rc_subscribe(t, &sr[i], S("B")), 0);
	}
	cr_assert(rc_sub_add_missed(t, rc_sub_find(t, &sr[2], topic_named(t, "A")->id), 1));
	VALID(t);
}

Test(topic, validate_detects_corruption)
{
	rc_topics t;
	rc_subscriber sr[3];
	enum {
		CASES = 10
	};
	for (int c = 0; c < CASES; c++) {
		corrupt_setup(&t, sr);
		rc_topic *a = topic_named(&t, "A");
		rc_sub *s = a->subs;
		switch (c) {
		case 0: /* a topic out of its probe sequence */
			t.slots[(a->hash + 1) & t.mask] = t.slots[a->hash & t.mask];
			t.slots[a->hash & t.mask].id = RC_TOPIC_SLOT_EMPTY;
			break;
		case 1:
			a->subs_plain++;
			break;
		case 2:
			s->topic_next->topic_prev = NULL;
			break;
		case 3:
			s->sub_prev = NULL;
			break; /* s is last in sr[2]'s list: B, A */
		case 4:
			t.subs_live--;
			break;
		case 5: /* pending, but not on the list */
			rc_sub_find(&t, &sr[2], topic_named(&t, "B")->id)->missed = 3;
			break;
		case 6:
			sr[2].missed_head = NULL;
			break;
		case 7:
			a->next_seq = 0;
			break;
		case 8:
			t.subs_fresh++;
			break; /* a subscription lost: neither live nor free */
		case 9:
			a->name[0] = 'Z';
			break; /* no longer found under its hash */
		}
		cr_assert(!rc_topics_validate(&t), "case %d not detected", c);
		/* t is inconsistent: free it without unsubscribing */
		rc_topics_fini(&t);
	}
}

/* ---- randomized model test ------------------------------------------------------------------- */

enum {
	M_NAMES = 48,
	M_SUBSCRIBERS = 12,
	M_TOPICS_MAX = 24,
	M_SUBS_MAX = 80,
	M_OPS = 200000,
};

/* The reference: plain arrays indexed by name number and subscriber number, linear scans. */
typedef struct model {
	bool live[M_NAMES];
	uint64_t next_seq[M_NAMES];
	uint32_t pins[M_NAMES];
	bool on[M_SUBSCRIBERS][M_NAMES];
	uint32_t missed[M_SUBSCRIBERS][M_NAMES];
	uint32_t fifo[M_SUBSCRIBERS][M_NAMES]; /* pending notices, oldest first */
	uint32_t fifo_len[M_SUBSCRIBERS];
	uint32_t topics, subs, topics_hwm, subs_hwm;
} model;

static char m_names[M_NAMES][RC_APP_TOPIC_MAX + 1];
static size_t m_len[M_NAMES];

#define MN(k) (const uint8_t *)m_names[k], m_len[k]

static bool m_v1(uint32_t s)
{
	return s % 2 == 1;
}

static void m_hold(model *m, uint32_t k)
{
	if (!m->live[k]) {
		m->live[k] = true;
		m->next_seq[k] = 1;
		m->topics++;
		m->topics_hwm = m->topics > m->topics_hwm ? m->topics : m->topics_hwm;
	}
}

static void m_release(model *m, uint32_t k)
{
	uint32_t subs = 0;
	for (uint32_t s = 0; s < M_SUBSCRIBERS; s++)
		subs += m->on[s][k];
	if (subs == 0 && m->pins[k] == 0) {
		m->live[k] = false;
		m->topics--;
	}
}

static void m_unsub(model *m, uint32_t s, uint32_t k)
{
	m->on[s][k] = false;
	m->subs--;
	if (m->missed[s][k] > 0) {
		uint32_t i = 0;
		while (m->fifo[s][i] != k)
			i++;
		memmove(&m->fifo[s][i], &m->fifo[s][i + 1], (m->fifo_len[s] - i - 1) * sizeof(uint32_t));
		m->fifo_len[s]--;
		m->missed[s][k] = 0;
	}
	m_release(m, k);
}

/* A random name k that subscriber s is on, or any name when it has none. */
static uint32_t m_pick_on(const model *m, uint32_t s)
{
	uint32_t start = below(M_NAMES);
	for (uint32_t i = 0; i < M_NAMES; i++) {
		uint32_t k = (start + i) % M_NAMES;
		if (m->on[s][k])
			return k;
	}
	return start;
}

static void m_compare(rc_topics *t, const model *m, rc_subscriber *sr)
{
	cr_assert_eq(t->topics_live, m->topics);
	cr_assert_eq(t->subs_live, m->subs);
	cr_assert_eq(t->topics_hwm, m->topics_hwm);
	cr_assert_eq(t->subs_hwm, m->subs_hwm);
	for (uint32_t k = 0; k < M_NAMES; k++) {
		int id = rc_topic_find(t, MN(k));
		cr_assert_eq(id >= 0, m->live[k], "name %u", k);
		if (id < 0)
			continue;
		const rc_topic *tp = rc_topic_get(t, (uint32_t)id);
		uint32_t plain = 0, v1 = 0;
		for (uint32_t s = 0; s < M_SUBSCRIBERS; s++) {
			if (m->on[s][k])
				*(m_v1(s) ? &v1 : &plain) += 1;
			const rc_sub *sub = rc_sub_find(t, &sr[s], (uint32_t)id);
			cr_assert_eq(sub != NULL, m->on[s][k]);
			if (sub != NULL)
				cr_assert_eq(sub->missed, m->missed[s][k]);
		}
		cr_assert_eq(tp->subs_plain, plain);
		cr_assert_eq(tp->subs_v1, v1);
		cr_assert_eq(tp->pins, m->pins[k]);
		cr_assert_eq(tp->next_seq, m->next_seq[k]);
	}
	for (uint32_t s = 0; s < M_SUBSCRIBERS; s++) {
		uint32_t n = 0;
		for (uint32_t k = 0; k < M_NAMES; k++)
			n += m->on[s][k];
		cr_assert_eq(sr[s].subs_len, n);
		/* the pending list, in order */
		const rc_sub *p = sr[s].missed_head;
		for (uint32_t i = 0; i < m->fifo_len[s]; i++, p = p->missed_next) {
			cr_assert_not_null(p);
			cr_assert_eq(p->topic, (uint32_t)rc_topic_find(t, MN(m->fifo[s][i])));
		}
		cr_assert_null(p);
	}
}

/* The randomized run: the index under test, the model, the subscribers, and how often each
 * interesting outcome happened. */
typedef struct mrun {
	rc_topics t;
	model m;
	rc_subscriber sr[M_SUBSCRIBERS];
	uint32_t enospc, eexist, enoent, deaths, pops;
} mrun;

static void m_step_subscribe(mrun *R, uint32_t s, uint32_t k)
{
	model *m = &R->m;
	int rc = rc_subscribe(&R->t, &R->sr[s], MN(k));
	if (m->on[s][k]) {
		cr_assert_eq(rc, -EEXIST);
		R->eexist++;
	} else if (m->subs == M_SUBS_MAX || (!m->live[k] && m->topics == M_TOPICS_MAX)) {
		cr_assert_eq(rc, -ENOSPC);
		R->enospc++;
	} else {
		cr_assert_eq(rc, 0);
		m_hold(m, k);
		m->on[s][k] = true;
		m->subs++;
		m->subs_hwm = m->subs > m->subs_hwm ? m->subs : m->subs_hwm;
	}
}

/* Unsubscribe, mostly from a topic s is on. */
static void m_step_unsubscribe(mrun *R, uint32_t s, uint32_t k)
{
	if (below(5) != 0)
		k = m_pick_on(&R->m, s);
	int rc = rc_unsubscribe(&R->t, &R->sr[s], MN(k));
	if (R->m.on[s][k]) {
		cr_assert_eq(rc, 0);
		m_unsub(&R->m, s, k);
	} else {
		cr_assert_eq(rc, -ENOENT);
		R->enoent++;
	}
}

/* The subscriber's connection closes. */
static void m_step_close(mrun *R, uint32_t s)
{
	uint32_t had = 0;
	for (uint32_t j = 0; j < M_NAMES; j++)
		if (R->m.on[s][j]) {
			m_unsub(&R->m, s, j);
			had++;
		}
	cr_assert_eq(rc_unsubscribe_all(&R->t, &R->sr[s]), had);
}

static void m_step_pin(mrun *R, uint32_t k)
{
	int rc = rc_topic_pin(&R->t, MN(k));
	if (!R->m.live[k] && R->m.topics == M_TOPICS_MAX) {
		cr_assert_eq(rc, -ENOSPC);
		R->enospc++;
	} else {
		cr_assert_geq(rc, 0);
		m_hold(&R->m, k);
		R->m.pins[k]++;
	}
}

/* Unpin a pinned topic: the first from k on. */
static void m_step_unpin(mrun *R, uint32_t k)
{
	uint32_t start = k;
	while (R->m.pins[k] == 0 && (k = (k + 1) % M_NAMES) != start)
		;
	if (R->m.pins[k] == 0)
		return;
	int rc = rc_topic_find(&R->t, MN(k));
	cr_assert_geq(rc, 0);
	rc_topic_unpin(&R->t, (uint32_t)rc);
	R->m.pins[k]--;
	m_release(&R->m, k);
}

static void m_step_publish(mrun *R, uint32_t k)
{
	int rc = rc_topic_find(&R->t, MN(k));
	cr_assert_eq(rc >= 0, R->m.live[k]);
	if (rc >= 0)
		cr_assert_eq(rc_topic_next_seq(&R->t, (uint32_t)rc), R->m.next_seq[k]++);
}

/* Messages for subscriber s were dropped: count them as missed (v1 subscribers only). */
static void m_step_drop(mrun *R, uint32_t s)
{
	model *m = &R->m;
	uint32_t k = m_pick_on(m, s);
	if (!m->on[s][k])
		return;
	int rc = rc_topic_find(&R->t, MN(k));
	rc_sub *sub = rc_sub_find(&R->t, &R->sr[s], (uint32_t)rc);
	cr_assert_not_null(sub);
	uint32_t n = below(50) == 0 ? UINT32_MAX - below(3) : 1 + below(3);
	bool queued = rc_sub_add_missed(&R->t, sub, n);
	bool want = m_v1(s) && m->missed[s][k] == 0;
	cr_assert_eq(queued, want);
	if (m_v1(s)) {
		if (want)
			m->fifo[s][m->fifo_len[s]++] = k;
		uint32_t old = m->missed[s][k];
		m->missed[s][k] = n > UINT32_MAX - old ? UINT32_MAX : old + n;
	}
}

/* The flush pops one "missed" notice of subscriber s. */
static void m_step_pop(mrun *R, uint32_t s)
{
	model *m = &R->m;
	uint32_t tid, count;
	bool got = rc_subscriber_pop_missed(&R->t, &R->sr[s], &tid, &count);
	cr_assert_eq(got, m->fifo_len[s] > 0);
	if (!got)
		return;
	uint32_t want = m->fifo[s][0];
	cr_assert_eq(tid, (uint32_t)rc_topic_find(&R->t, MN(want)));
	cr_assert_eq(count, m->missed[s][want]);
	m->missed[s][want] = 0;
	memmove(&m->fifo[s][0], &m->fifo[s][1], (m->fifo_len[s] - 1) * sizeof(uint32_t));
	m->fifo_len[s]--;
	R->pops++;
}

static void m_step(mrun *R)
{
	uint32_t s = below(M_SUBSCRIBERS), k = below(M_NAMES);
	uint32_t r = below(1000);
	uint32_t topics_before = R->m.topics;
	if (r < 380) {
		m_step_subscribe(R, s, k);
	} else if (r < 500) {
		m_step_unsubscribe(R, s, k);
	} else if (r < 505) {
		m_step_close(R, s);
	} else if (r < 565) {
		m_step_pin(R, k);
	} else if (r < 625) {
		m_step_unpin(R, k);
	} else if (r < 765) {
		m_step_publish(R, k);
	} else if (r < 895) {
		m_step_drop(R, s);
	} else if (r < 970) {
		m_step_pop(R, s);
	} else { /* an invalid name */
		static const char *const bad[] = { "", "a b", "x,y", "\xff" };
		const char *b = bad[below(4)];
		cr_assert_eq(rc_subscribe(&R->t, &R->sr[s], S(b)), -EINVAL);
	}
	R->deaths += R->m.topics < topics_before;
	VALID(&R->t);
	m_compare(&R->t, &R->m, R->sr);
}

Test(topic, model_randomized, .timeout = 240)
{
	static mrun R; /* the model is large: not on the stack */
	memset(&R, 0, sizeof R);
	rng_state = 20240601;
	for (uint32_t k = 0; k < M_NAMES; k++)
		m_len[k] = name_of(m_names[k], k * 7919u);
	init(&R.t, M_TOPICS_MAX, M_SUBS_MAX);
	for (uint32_t s = 0; s < M_SUBSCRIBERS; s++)
		rc_subscriber_init(&R.sr[s], m_v1(s));
	for (uint32_t op = 0; op < M_OPS; op++)
		m_step(&R);
	cr_log_info("model: enospc %u eexist %u enoent %u deaths %u pops %u", R.enospc, R.eexist,
	            R.enoent, R.deaths, R.pops);
	/* the run must have reached every interesting state */
	cr_assert_gt(R.enospc, 1000, "enospc %u", R.enospc);
	cr_assert_gt(R.eexist, 1000, "eexist %u", R.eexist);
	cr_assert_gt(R.enoent, 1000, "enoent %u", R.enoent);
	cr_assert_gt(R.deaths, 1000, "deaths %u", R.deaths);
	cr_assert_gt(R.pops, 1000, "pops %u", R.pops);
	cr_assert_eq(R.m.topics_hwm, M_TOPICS_MAX);
	cr_assert_eq(R.m.subs_hwm, M_SUBS_MAX);
	for (uint32_t s = 0; s < M_SUBSCRIBERS; s++)
		rc_unsubscribe_all(&R.t, &R.sr[s]);
	for (uint32_t k = 0; k < M_NAMES; k++)
		while (R.m.pins[k]-- > 0)
			rc_topic_unpin(&R.t, (uint32_t)rc_topic_find(&R.t, MN(k)));
	VALID(&R.t);
	cr_assert_eq(R.t.topics_live + R.t.subs_live, 0);
	rc_topics_fini(&R.t);
}

/* The hook a worker uses to advertise its topics to the others (rc_interest.h). */
struct watch_log {
	uint32_t hash[16];
	bool live[16];
	int n;
};

static void watch_cb(void *ctx, uint32_t hash, bool has_subscribers)
{
	struct watch_log *l = ctx;
	cr_assert_lt(l->n, 16);
	l->hash[l->n] = hash;
	l->live[l->n] = has_subscribers;
	l->n++;
}

Test(topic, watch_reports_first_and_last_subscriber_only)
{
	rc_topics t;
	init(&t, 8, 16);
	struct watch_log log = { .n = 0 };
	rc_topics_watch(&t, watch_cb, &log);
	rc_subscriber a, b;
	rc_subscriber_init(&a, true);
	rc_subscriber_init(&b, false);
	uint32_t h = rc_topics_hash(&t, S("ticks"));
	int pin = rc_topic_pin(&t, S("ticks"));
	cr_assert_geq(pin, 0);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)pin)->hash, h, "rc_topics_hash is the topic's hash");
	cr_assert_eq(log.n, 0, "a pin is not a subscriber");
	cr_assert_eq(rc_subscribe(&t, &a, S("ticks")), 0);
	cr_assert_eq(log.n, 1);
	cr_assert(log.live[0] && log.hash[0] == h);
	cr_assert_eq(rc_subscribe(&t, &b, S("ticks")), 0);
	cr_assert_eq(rc_subscribe(&t, &a, S("ticks")), -EEXIST);
	cr_assert_eq(log.n, 1, "second subscriber: no call");
	cr_assert_eq(rc_unsubscribe(&t, &a, S("ticks")), 0);
	cr_assert_eq(log.n, 1);
	cr_assert_eq(rc_unsubscribe_all(&t, &b), 1);
	cr_assert_eq(log.n, 2);
	cr_assert(!log.live[1] && log.hash[1] == h);
	cr_assert_eq(rc_topic_find(&t, S("ticks")), pin, "the pin keeps the topic");
	cr_assert_eq(rc_subscribe(&t, &b, S("quotes")), 0);
	cr_assert_eq(log.n, 3);
	cr_assert(log.live[2] && log.hash[2] == rc_topics_hash(&t, S("quotes")));
	rc_topics_watch(&t, NULL, NULL);
	rc_unsubscribe_all(&t, &b);
	cr_assert_eq(log.n, 3, "watch off");
	rc_topic_unpin(&t, (uint32_t)pin);
	VALID(&t);
	rc_topics_fini(&t);
}

Test(topic, sync_and_hold)
{
	rc_topics t;
	init(&t, 4, 4);
	int id = rc_topic_pin(&t, S("a"));
	rc_topic *tp = rc_topic_get(&t, (uint32_t)id);
	cr_assert_eq(tp->epoch, 0, "a new topic is not numbered yet");
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)id), 1);
	rc_topic_sync(&t, (uint32_t)id, 77, 19);
	cr_assert_eq(tp->epoch, 77);
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)id), 19, "numbered elsewhere: goes on from there");
	rc_topic_hold(&t, (uint32_t)id);
	rc_topic_hold(&t, (uint32_t)id);
	cr_assert(tp->held);
	cr_assert_eq(tp->pins, 2, "the pin and one hold, however often taken");
	VALID(&t);
	rc_topic_unpin(&t, (uint32_t)id);
	cr_assert_eq(rc_topic_find(&t, S("a")), id, "the hold keeps it");
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)id), 20, "and its numbering");
	VALID(&t);
	rc_topic_release_hold(&t, (uint32_t)id);
	cr_assert_eq(rc_topic_find(&t, S("a")), RC_TOPIC_NONE, "nothing holds it any more");
	int again = rc_topic_pin(&t, S("a"));
	tp = rc_topic_get(&t, (uint32_t)again);
	cr_assert_eq(tp->epoch, 0, "created again: a new numbering");
	cr_assert(!tp->held);
	cr_assert_eq(rc_topic_next_seq(&t, (uint32_t)again), 1);
	rc_topic_release_hold(&t, (uint32_t)again); /* no hold: nothing happens */
	cr_assert_eq(rc_topic_find(&t, S("a")), again);
	rc_topic_unpin(&t, (uint32_t)again);
	VALID(&t);
	rc_topics_fini(&t);
}

/* A topic that follows another index's numbering forgets it when it gains a first subscriber
 * after having none; one numbered here never does. */
Test(topic, follower_forgets_when_it_had_nobody)
{
	rc_topics t;
	init(&t, 4, 4);
	rc_subscriber a, b;
	rc_subscriber_init(&a, true);
	rc_subscriber_init(&b, false);
	int f = rc_topic_pin(&t, S("f")); /* a plain publisher's pin keeps it alive throughout */
	cr_assert_eq(rc_subscribe(&t, &a, S("f")), 0);
	rc_topic_sync(&t, (uint32_t)f, 5, 11);
	cr_assert_eq(rc_subscribe(&t, &b, S("f")), 0);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)f)->epoch, 5, "a second subscriber: still in step");
	rc_unsubscribe_all(&t, &a);
	rc_unsubscribe_all(&t, &b);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)f)->epoch, 5, "nobody now, nothing forgotten yet");
	cr_assert_eq(rc_subscribe(&t, &a, S("f")), 0);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)f)->epoch, 0, "a first subscriber again: forgotten");
	int o = rc_topic_pin(&t, S("o"));
	rc_topic_start(&t, (uint32_t)o, 9);
	cr_assert_eq(rc_subscribe(&t, &b, S("o")), 0);
	rc_unsubscribe_all(&t, &b);
	cr_assert_eq(rc_subscribe(&t, &b, S("o")), 0);
	cr_assert_eq(rc_topic_get(&t, (uint32_t)o)->epoch, 9, "numbered here: kept");
	rc_unsubscribe_all(&t, &a);
	rc_unsubscribe_all(&t, &b);
	rc_topic_unpin(&t, (uint32_t)f);
	rc_topic_unpin(&t, (uint32_t)o);
	VALID(&t);
	rc_topics_fini(&t);
}
