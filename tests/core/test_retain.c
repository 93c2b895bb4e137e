/* Tests of rc_retain: config checks at init; the snapshot (newest) and the replay after every
 * sequence number in and around the window; the per-topic message and byte caps; payloads too
 * large for the topic or for a segment; many topics interleaved across segment boundaries; the
 * log's wrap compacting quiet topics' last values while a busy topic churns, and refusing to when
 * last values take more than half the log (each topic emptied exactly once); forget; shrink to zero
 * giving every segment back and shrink keeping the newest; an exhausted pool (-ENOMEM, or the log
 * recycling its own tail), the pool's reserve, and an append that loses its own topic's messages;
 * a pool reference keeping a payload past its eviction; a payload over a pool chain; a seq that
 * does not grow aborting; and a randomized model test (fixed seed) of appends, forgets, shrinks
 * and pool exhaustion over 50 topics. rc_retain_validate runs after every operation, and every
 * test keeps the caller's pins as net/ does: one per topic with something retained, taken when an
 * append returns 1, dropped by `emptied` or with a forget. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_pool.h"
#include "rc_retain.h"
#include "rc_span.h"

#define SEG 16384u /* pool buffer size: one segment */
#define TOPICS 64u
#define NBUFS 16u

#define VALID(f) \
	cr_assert(rc_retain_validate(&(f)->r), "rc_retain_validate failed (line %d)", __LINE__)

/* A pool over a page-aligned region followed by a PROT_NONE page, a history on it, and what the
 * caller sees: emptied calls per topic and its pins. */
typedef struct fixture {
	uint8_t *map;
	size_t map_len;
	rc_pool pool;
	rc_retain r;
	uint32_t emptied[TOPICS];
	uint32_t emptied_total;
	bool pinned[TOPICS];
	uint32_t hog[NBUFS]; /* buffers taken from the pool by the test */
	uint32_t nhog;
} fixture;

static void on_emptied(void *ctx, uint32_t topic)
{
	fixture *f = ctx;
	cr_assert_lt(topic, TOPICS);
	uint32_t count;
	rc_retain_range(&f->r, topic, &count, NULL, NULL);
	cr_assert_eq(count, 0, "emptied(%u) while it holds %u", topic, count);
	cr_assert(f->pinned[topic], "emptied(%u) without a pin", topic);
	f->pinned[topic] = false;
	f->emptied[topic]++;
	f->emptied_total++;
}

static void fx_map(fixture *f, uint32_t nbufs)
{
	memset(f, 0, sizeof *f);
	size_t body = ((size_t)SEG * nbufs + 4095) & ~(size_t)4095;
	f->map_len = body + 4096;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(f->map, MAP_FAILED);
	cr_assert_eq(mprotect(f->map + body, 4096, PROT_NONE), 0);
	cr_assert_eq(rc_pool_init(&f->pool, f->map + body - (size_t)SEG * nbufs, SEG, nbufs), 0);
}

static void fx_init(fixture *f, uint32_t msgs, uint32_t bytes, uint32_t segments)
{
	fx_map(f, NBUFS);
	rc_retain_cfg cfg = { .msgs_per_topic = msgs,
		                  .bytes_per_topic = bytes,
		                  .bytes_total = (uint64_t)segments * SEG };
	cr_assert_eq(rc_retain_init(&f->r, &f->pool, TOPICS, &cfg, on_emptied, f), 0);
	VALID(f);
}

static void fx_fini(fixture *f)
{
	while (f->nhog > 0)
		rc_pool_unref(&f->pool, f->hog[--f->nhog]);
	rc_retain_fini(&f->r);
	cr_assert_eq(rc_pool_free_count(&f->pool), f->pool.count, "fini gives every segment back");
	cr_assert(rc_pool_validate(&f->pool));
	rc_pool_fini(&f->pool);
	cr_assert_eq(munmap(f->map, f->map_len), 0);
}

/* Take every free buffer of the pool but `leave`. */
static void hog(fixture *f, uint32_t leave)
{
	while (rc_pool_free_count(&f->pool) > leave) {
		int32_t b = rc_pool_alloc(&f->pool);
		cr_assert_geq(b, 0);
		f->hog[f->nhog++] = (uint32_t)b;
	}
}

static void unhog(fixture *f)
{
	while (f->nhog > 0)
		rc_pool_unref(&f->pool, f->hog[--f->nhog]);
}

/* Payload bytes derived from (topic, seq), so any retained message can be checked. */
static uint8_t pbyte(uint32_t topic, uint64_t seq, uint32_t i)
{
	return (uint8_t)(topic * 31u + seq * 131u + i * 7u + (i >> 8) + 1u);
}

static uint8_t scratch[SEG + 64];

static uint64_t pub_ns_of(uint64_t seq)
{
	return seq * 1000u + 7u;
}

/* Every topic pinned exactly while it holds something. */
static void check_pins(fixture *f)
{
	for (uint32_t t = 0; t < TOPICS; t++) {
		uint32_t count;
		rc_retain_range(&f->r, t, &count, NULL, NULL);
		cr_assert_eq(f->pinned[t], count > 0, "topic %u: pinned %d, holds %u", t, f->pinned[t],
		             count);
	}
}

/* rc_retain_append as net/ calls it; returns its result, with validate and the pins checked. */
static int app_span(fixture *f, uint32_t topic, uint64_t seq, bool text, const rc_span *sp)
{
	int rc = rc_retain_append(&f->r, topic, seq, pub_ns_of(seq), text, sp);
	VALID(f);
	if (rc == 1) {
		cr_assert(!f->pinned[topic], "append returned 1 on pinned topic %u", topic);
		f->pinned[topic] = true;
	} else if (rc == 0) {
		cr_assert(f->pinned[topic], "append returned 0 on unpinned topic %u", topic);
	}
	check_pins(f);
	return rc;
}

static int app(fixture *f, uint32_t topic, uint64_t seq, uint32_t len)
{
	cr_assert_leq(len, sizeof scratch);
	for (uint32_t i = 0; i < len; i++)
		scratch[i] = pbyte(topic, seq, i);
	rc_span sp = rc_span_bytes(scratch, len);
	return app_span(f, topic, seq, (seq & 1) != 0, &sp);
}

static void app_ok(fixture *f, uint32_t topic, uint64_t seq, uint32_t len)
{
	int rc = app(f, topic, seq, len);
	cr_assert_geq(rc, 0, "append topic %u seq %llu len %u: %d", topic, (unsigned long long)seq, len,
	              rc);
}

static void forget(fixture *f, uint32_t topic)
{
	uint32_t count;
	rc_retain_range(&f->r, topic, &count, NULL, NULL);
	rc_retain_forget(&f->r, topic);
	VALID(f);
	if (count > 0) {
		cr_assert(f->pinned[topic]);
		f->pinned[topic] = false;
	}
	check_pins(f);
}

/* The entry is message seq of topic, len bytes (len UINT32_MAX: any), intact. */
static void check_entry(const rc_retain_entry *e, uint32_t topic, uint64_t seq, uint32_t len)
{
	cr_assert_eq(e->seq, seq, "topic %u: seq %llu, expected %llu", topic,
	             (unsigned long long)e->seq, (unsigned long long)seq);
	if (len != UINT32_MAX)
		cr_assert_eq(e->len, len, "topic %u seq %llu: len %u, expected %u", topic,
		             (unsigned long long)seq, e->len, len);
	cr_assert_eq(e->pub_ns, pub_ns_of(seq));
	cr_assert_eq(e->text, (seq & 1) != 0);
	for (uint32_t i = 0; i < e->len; i++)
		cr_assert_eq(e->payload[i], pbyte(topic, seq, i), "topic %u seq %llu: byte %u", topic,
		             (unsigned long long)seq, i);
}

/* The topic holds exactly the messages first..last (count 0 if first > last), intact, and the
 * readers agree with rc_retain_range. len_of(topic, seq) gives lengths, or NULL for any. */
static void check_holds(fixture *f, uint32_t topic, uint64_t first, uint64_t last,
                        uint32_t (*len_of)(uint32_t, uint64_t))
{
	uint32_t count;
	uint64_t oldest, newest;
	rc_retain_range(&f->r, topic, &count, &oldest, &newest);
	rc_retain_entry e;
	if (first > last) {
		cr_assert_eq(count, 0, "topic %u holds %u, expected none", topic, count);
		cr_assert_eq(oldest + newest, 0);
		cr_assert_not(rc_retain_newest(&f->r, topic, &e));
		cr_assert_not(rc_retain_first_after(&f->r, topic, 0, &e));
		cr_assert_eq(rc_retain_topic_bytes(&f->r, topic), 0);
		return;
	}
	cr_assert_eq(count, last - first + 1, "topic %u holds %u (%llu..%llu), expected %llu..%llu",
	             topic, count, (unsigned long long)oldest, (unsigned long long)newest,
	             (unsigned long long)first, (unsigned long long)last);
	cr_assert_eq(oldest, first);
	cr_assert_eq(newest, last);
	cr_assert(rc_retain_newest(&f->r, topic, &e));
	check_entry(&e, topic, last, len_of ? len_of(topic, last) : UINT32_MAX);
	cr_assert(rc_retain_first_after(&f->r, topic, first - 1, &e));
	uint64_t bytes = 0;
	for (uint64_t s = first;; s++) {
		check_entry(&e, topic, s, len_of ? len_of(topic, s) : UINT32_MAX);
		bytes += e.len;
		if (s == last)
			break;
		cr_assert(rc_retain_next(&f->r, &e), "topic %u: no entry after %llu", topic,
		          (unsigned long long)s);
	}
	cr_assert_not(rc_retain_next(&f->r, &e));
	cr_assert_eq(e.seq, last, "a failed next leaves the entry as it was");
	cr_assert_eq(rc_retain_topic_bytes(&f->r, topic), bytes);
}

/* ---- init ------------------------------------------------------------------------------------ */

Test(retain, init_rejects_bad_config)
{
	fixture f;
	fx_map(&f, NBUFS);
	rc_retain_cfg ok = { .msgs_per_topic = 4, .bytes_per_topic = 1000, .bytes_total = 2 * SEG };
	rc_retain_cfg c = ok;
	c.msgs_per_topic = 0;
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &c, on_emptied, &f), -EINVAL);
	rc_retain_fini(&f.r); /* harmless after a failed init */
	c = ok;
	c.bytes_per_topic = 0;
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &c, on_emptied, &f), -EINVAL);
	c = ok;
	c.bytes_total = 0;
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &c, on_emptied, &f), -EINVAL);
	c.bytes_total = 2 * SEG - 1; /* one segment: no room to compact into */
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &c, on_emptied, &f), -EINVAL);
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, 0, &ok, on_emptied, &f), -EINVAL);
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &ok, on_emptied, &f), 0);
	cr_assert(rc_retain_validate(&f.r));
	cr_assert_eq(f.r.seg_cap, 2);
	cr_assert_eq(rc_retain_payload_max(&f.r), 1000);
	rc_retain_fini(&f.r);
	rc_retain_fini(&f.r); /* a finished history can be finished again */
	/* more than the pool holds: capped at the pool's buffers */
	c = ok;
	c.bytes_total = UINT64_MAX;
	c.bytes_per_topic = UINT32_MAX;
	cr_assert_eq(rc_retain_init(&f.r, &f.pool, TOPICS, &c, on_emptied, &f), 0);
	cr_assert_eq(f.r.seg_cap, NBUFS);
	cr_assert_eq(rc_retain_payload_max(&f.r), SEG - RC_RETAIN_HDR_SIZE);
	cr_assert(rc_retain_validate(&f.r));
	fx_fini(&f);

	/* a pool of one buffer cannot hold two segments */
	static uint8_t mem[256] __attribute__((aligned(256)));
	rc_pool p;
	rc_retain r;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 1), 0);
	c = ok;
	c.bytes_total = 1u << 20;
	cr_assert_eq(rc_retain_init(&r, &p, TOPICS, &c, on_emptied, NULL), -EINVAL);
	rc_pool_fini(&p);
}

/* ---- reading --------------------------------------------------------------------------------- */

static uint32_t len_mod(uint32_t topic, uint64_t seq)
{
	return (uint32_t)((topic * 37u + seq * 101u) % 700u);
}

Test(retain, snapshot_is_the_newest)
{
	fixture f;
	fx_init(&f, 8, 100000, 4);
	rc_retain_entry e;
	cr_assert_not(rc_retain_newest(&f.r, 3, &e));
	cr_assert_eq(app(&f, 3, 1, len_mod(3, 1)), 1);
	cr_assert(rc_retain_newest(&f.r, 3, &e));
	check_entry(&e, 3, 1, len_mod(3, 1));
	cr_assert_eq(e.buf, rc_pool_index_of(&f.pool, e.payload));
	for (uint64_t s = 2; s <= 5; s++) {
		cr_assert_eq(app(&f, 3, s, len_mod(3, s)), 0);
		cr_assert(rc_retain_newest(&f.r, 3, &e));
		check_entry(&e, 3, s, len_mod(3, s));
	}
	cr_assert_eq(app(&f, 4, 1, 0), 1); /* an empty payload is a message too */
	cr_assert(rc_retain_newest(&f.r, 4, &e));
	check_entry(&e, 4, 1, 0);
	check_holds(&f, 3, 1, 5, len_mod);
	check_holds(&f, 5, 1, 0, NULL);
	cr_assert_eq(f.r.retained, 6);
	cr_assert_eq(f.r.live_msgs, 6);
	cr_assert_eq(f.r.segments, 1);
	cr_assert_eq(f.emptied_total, 0);
	fx_fini(&f);
}

Test(retain, replay_after_every_seq)
{
	fixture f;
	fx_init(&f, 11, 100000, 4);
	for (uint64_t s = 1; s <= 20; s++)
		app_ok(&f, 7, s, len_mod(7, s));
	check_holds(&f, 7, 10, 20, len_mod); /* the cap keeps 11 */
	for (uint64_t after = 0; after <= 25; after++) {
		rc_retain_entry e;
		bool got = rc_retain_first_after(&f.r, 7, after, &e);
		if (after >= 20) {
			cr_assert_not(got, "nothing after %llu", (unsigned long long)after);
			continue;
		}
		cr_assert(got, "replay after %llu", (unsigned long long)after);
		uint64_t s = after + 1 < 10 ? 10 : after + 1;
		for (;; s++) {
			check_entry(&e, 7, s, len_mod(7, s));
			if (!rc_retain_next(&f.r, &e))
				break;
		}
		cr_assert_eq(s, 20);
	}
	/* numbers with gaps (a topic whose messages were not all retained) */
	app_ok(&f, 8, 5, 10);
	app_ok(&f, 8, 10, 10);
	app_ok(&f, 8, 15, 10);
	static const struct {
		uint64_t after, first;
	} gaps[] = { { 0, 5 }, { 4, 5 }, { 5, 10 }, { 7, 10 }, { 9, 10 }, { 10, 15 }, { 14, 15 } };
	for (size_t i = 0; i < sizeof gaps / sizeof gaps[0]; i++) {
		rc_retain_entry e;
		cr_assert(rc_retain_first_after(&f.r, 8, gaps[i].after, &e));
		check_entry(&e, 8, gaps[i].first, 10);
	}
	rc_retain_entry e;
	cr_assert_not(rc_retain_first_after(&f.r, 8, 15, &e));
	cr_assert_not(rc_retain_first_after(&f.r, 8, UINT64_MAX, &e));
	cr_assert_not(rc_retain_first_after(&f.r, 9, 0, &e));
	fx_fini(&f);
}

/* ---- caps ------------------------------------------------------------------------------------ */

Test(retain, message_cap_evicts_oldest)
{
	fixture f;
	fx_init(&f, 4, 100000, 4);
	for (uint64_t s = 1; s <= 10; s++) {
		app_ok(&f, 1, s, 50);
		check_holds(&f, 1, s > 4 ? s - 3 : 1, s, NULL);
	}
	cr_assert_eq(f.r.evicted, 6);
	cr_assert_eq(f.r.retained, 10);
	cr_assert_eq(f.r.live_msgs, 4);
	cr_assert_eq(f.emptied_total, 0, "a cap eviction never empties a topic");
	fx_fini(&f);
}

Test(retain, byte_cap_evicts_oldest)
{
	fixture f;
	fx_init(&f, 64, 1000, 4);
	for (uint64_t s = 1; s <= 3; s++)
		app_ok(&f, 2, s, 300);
	check_holds(&f, 2, 1, 3, NULL);
	cr_assert_eq(rc_retain_topic_bytes(&f.r, 2), 900);
	app_ok(&f, 2, 4, 300); /* 1200 > 1000: the oldest goes */
	check_holds(&f, 2, 2, 4, NULL);
	cr_assert_eq(f.r.evicted, 1);
	app_ok(&f, 2, 5, 1000); /* exactly the cap: every older one goes */
	check_holds(&f, 2, 5, 5, NULL);
	cr_assert_eq(f.r.evicted, 4);
	cr_assert_eq(app(&f, 2, 6, 1001), -E2BIG); /* over the cap: refused, the topic untouched */
	cr_assert_eq(f.r.too_large, 1);
	check_holds(&f, 2, 5, 5, NULL);
	app_ok(&f, 2, 6, 0); /* 6 was not retained, so it may come again; 0 bytes fit the cap */
	check_holds(&f, 2, 5, 6, NULL);
	fx_fini(&f);
}

Test(retain, too_large_for_a_segment)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 4);
	uint32_t max = SEG - RC_RETAIN_HDR_SIZE;
	cr_assert_eq(rc_retain_payload_max(&f.r), max);
	cr_assert_eq(app(&f, 0, 1, max + 1), -E2BIG);
	cr_assert_eq(f.r.too_large, 1);
	check_holds(&f, 0, 1, 0, NULL);
	cr_assert_eq(f.r.segments, 0);
	app_ok(&f, 0, 2, max); /* a whole segment */
	app_ok(&f, 0, 3, 1);   /* starts the next */
	cr_assert_eq(f.r.segments, 2);
	check_holds(&f, 0, 2, 3, NULL);
	cr_assert_eq(app(&f, 0, 4, SEG), -E2BIG);
	cr_assert_eq(f.r.too_large, 2);
	check_holds(&f, 0, 2, 3, NULL);
	fx_fini(&f);
}

/* ---- the log --------------------------------------------------------------------------------- */

Test(retain, topics_interleaved_across_segments)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, NBUFS);
	for (uint64_t s = 1; s <= 20; s++)
		for (uint32_t t = 0; t < 20; t++)
			app_ok(&f, t, s, len_mod(t, s));
	cr_assert_gt(f.r.segments, 5);
	cr_assert_eq(f.r.evicted + f.r.compacted, 0, "the log did not wrap");
	for (uint32_t t = 0; t < 20; t++)
		check_holds(&f, t, 1, 20, len_mod);
	cr_assert_eq(f.r.live_msgs, 400);
	cr_assert_eq(f.pool.pool_used, f.r.segments);
	fx_fini(&f);
}

/* Quiet topics publish once, then a busy one goes round the log a hundred times: every quiet
 * topic keeps its last value (copied forward again and again), nobody is emptied, and the log
 * never takes more than its segments. */
Test(retain, wrap_compacts_quiet_last_values)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	for (uint32_t t = 1; t <= 10; t++)
		app_ok(&f, t, 1, 100);
	for (uint64_t s = 1; s <= 2000; s++) {
		app_ok(&f, 0, s, 1000);
		cr_assert_leq(f.r.segments, 4);
		cr_assert_eq(f.pool.pool_used, f.r.segments);
	}
	for (uint32_t t = 1; t <= 10; t++)
		check_holds(&f, t, 1, 1, NULL);
	check_holds(&f, 0, 1993, 2000, NULL);
	cr_assert_eq(f.emptied_total, 0);
	cr_assert_geq(f.r.compacted, 10 * 50, "copied forward on every wrap: %llu",
	              (unsigned long long)f.r.compacted);
	cr_assert_eq(f.r.evicted, 2000 - 8);
	fx_fini(&f);
}

/* Last values of 12 * 3048 bytes are more than half of a log of 4 segments (32 KiB): some are
 * evicted rather than copied, each of those topics emptied exactly once; the others keep theirs. */
Test(retain, compaction_refused_over_half_the_log)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	for (uint32_t t = 1; t <= 12; t++)
		app_ok(&f, t, 1, 3000);
	for (uint64_t s = 1; s <= 2000; s++)
		app_ok(&f, 0, s, 1000);
	uint32_t lost = 0, kept = 0;
	for (uint32_t t = 1; t <= 12; t++) {
		uint32_t count;
		rc_retain_range(&f.r, t, &count, NULL, NULL);
		cr_assert_eq(f.emptied[t], count == 0 ? 1 : 0, "topic %u holds %u, emptied %u times", t,
		             count, f.emptied[t]);
		if (count == 0) {
			lost++;
		} else {
			check_holds(&f, t, 1, 1, NULL);
			kept++;
		}
	}
	cr_assert_gt(lost, 0);
	cr_assert_gt(kept, 0);
	cr_assert_eq(f.emptied[0], 0, "the busy topic always holds its newest");
	cr_assert_eq(f.emptied_total, lost);
	check_holds(&f, 0, 1993, 2000, NULL);
	cr_assert_leq(kept * (3000 + RC_RETAIN_HDR_SIZE), f.r.compact_max);
	fx_fini(&f);
}

/* ---- forget and shrink ----------------------------------------------------------------------- */

Test(retain, forget_drops_without_callback)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	for (uint64_t s = 1; s <= 6; s++)
		app_ok(&f, 5, s, 200);
	for (uint64_t s = 1; s <= 3; s++)
		app_ok(&f, 6, s, 200);
	forget(&f, 5);
	check_holds(&f, 5, 1, 0, NULL);
	check_holds(&f, 6, 1, 3, NULL);
	cr_assert_eq(f.r.forgotten, 6);
	cr_assert_eq(f.emptied_total, 0);
	forget(&f, 5); /* nothing to forget */
	cr_assert_eq(f.r.forgotten, 6);
	cr_assert_eq(app(&f, 5, 1, 10), 1, "its numbering restarts after a forget");
	check_holds(&f, 5, 1, 1, NULL);
	forget(&f, 5);
	forget(&f, 6);
	cr_assert_eq(f.r.live_msgs + f.r.live_bytes, 0);
	cr_assert_eq(f.r.segments, 1, "dead entries stay until their segment goes");
	cr_assert_eq(rc_retain_shrink(&f.r, 0), 1);
	VALID(&f);
	cr_assert_eq(f.emptied_total, 0);
	cr_assert_eq(f.r.evicted, 0);
	fx_fini(&f);
}

Test(retain, shrink_to_zero_frees_every_segment)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	uint32_t free0 = rc_pool_free_count(&f.pool);
	for (uint64_t s = 1; s <= 8; s++)
		for (uint32_t t = 0; t < 10; t++)
			app_ok(&f, t, s, 1200);
	uint32_t segs = f.r.segments;
	cr_assert_geq(segs, 6);
	cr_assert_eq(rc_retain_shrink(&f.r, segs), 0);
	cr_assert_eq(rc_retain_shrink(&f.r, 0), segs);
	VALID(&f);
	check_pins(&f);
	cr_assert_eq(f.r.segments, 0);
	cr_assert_eq(rc_pool_free_count(&f.pool), free0);
	for (uint32_t t = 0; t < 10; t++) {
		check_holds(&f, t, 1, 0, NULL);
		cr_assert_eq(f.emptied[t], 1);
	}
	cr_assert_eq(f.r.live_msgs + f.r.live_bytes, 0);
	cr_assert_eq(f.r.evicted, 80);
	cr_assert_eq(rc_retain_shrink(&f.r, 0), 0);
	cr_assert_eq(app(&f, 0, 9, 10), 1, "usable again");
	check_holds(&f, 0, 9, 9, NULL);
	fx_fini(&f);
}

/* A shrink that keeps segments copies the tail's last values into the head's room, and never takes
 * a buffer; to zero, nothing is kept. */
Test(retain, shrink_keeps_the_newest)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	app_ok(&f, 1, 1, 100);
	for (uint64_t s = 1; s <= 55; s++)
		app_ok(&f, 0, s, 1000);
	cr_assert_eq(f.r.segments, 4);
	uint32_t free0 = rc_pool_free_count(&f.pool);
	cr_assert_eq(rc_retain_shrink(&f.r, 1), 3);
	VALID(&f);
	check_pins(&f);
	cr_assert_eq(rc_pool_free_count(&f.pool), free0 + 3);
	check_holds(&f, 1, 1, 1, NULL);
	cr_assert_eq(f.r.compacted, 1);
	uint32_t count;
	rc_retain_range(&f.r, 0, &count, NULL, NULL);
	cr_assert_gt(count, 0);
	check_holds(&f, 0, 56 - count, 55, NULL);
	cr_assert_eq(f.emptied_total, 0);
	cr_assert_eq(rc_retain_shrink(&f.r, 0), 1);
	VALID(&f);
	check_pins(&f);
	cr_assert_eq(f.emptied[0] + f.emptied[1], 2);
	cr_assert_eq(f.r.compacted, 1);
	fx_fini(&f);
}

/* ---- the pool -------------------------------------------------------------------------------- */

Test(retain, pool_exhausted_fails_and_recovers)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	hog(&f, 0);
	cr_assert_eq(app(&f, 0, 1, 100), -ENOMEM);
	cr_assert_eq(f.r.failed, 1);
	cr_assert_eq(f.r.segments, 0);
	check_holds(&f, 0, 1, 0, NULL);
	cr_assert_eq(f.emptied_total, 0);
	unhog(&f);
	cr_assert_eq(app(&f, 0, 2, 100), 1);
	check_holds(&f, 0, 2, 2, NULL);
	fx_fini(&f);
}

/* Topic 1's last value, then topic 2's messages fill segment 0 up to 512 bytes from its end. */
static void fill_first_segment(fixture *f)
{
	app_ok(f, 1, 1, 100);
	for (uint64_t s = 1; s <= 15; s++)
		app_ok(f, 2, s, 1000);
	cr_assert_eq(f->r.segments, 1);
	cr_assert_eq(f->r.head, 152 + 15 * 1048);
}

/* With the pool empty, a full log recycles its own tail: nothing can be copied (no room), so the
 * tail's messages go. Topic 1, being appended to, loses its older message without an emptied call
 * (it keeps its pin: the append returns 0); topic 2 is emptied. */
Test(retain, pool_exhausted_recycles_the_tail)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	fill_first_segment(&f);
	hog(&f, 0);
	cr_assert_eq(app(&f, 1, 2, 1000), 0);
	cr_assert_eq(f.emptied[1], 0);
	cr_assert_eq(f.emptied[2], 1);
	check_holds(&f, 1, 2, 2, NULL);
	check_holds(&f, 2, 1, 0, NULL);
	cr_assert_eq(f.r.segments, 1);
	cr_assert_eq(f.r.evicted, 16);
	cr_assert_eq(f.r.compacted, 0);
	cr_assert_eq(f.r.failed, 0);
	cr_assert_eq(rc_pool_free_count(&f.pool), 0);
	fx_fini(&f);
}

/* The same, but the caller holds a reference on the segment (rc_retain.h, "Reading"), so evicting
 * it gives no buffer back: the append fails after its topic lost everything, and emptied is then
 * called for it. The referenced payload stays intact after its eviction. */
Test(retain, failed_append_after_losing_its_own_messages)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	fill_first_segment(&f);
	rc_retain_entry e;
	cr_assert(rc_retain_newest(&f.r, 1, &e));
	rc_pool_ref(&f.pool, e.buf);
	hog(&f, 0);
	cr_assert_eq(app(&f, 1, 2, 1000), -ENOMEM);
	cr_assert_eq(f.emptied[1], 1);
	cr_assert_eq(f.emptied[2], 1);
	cr_assert_eq(f.r.failed, 1);
	cr_assert_eq(f.r.segments, 0);
	check_holds(&f, 1, 1, 0, NULL);
	cr_assert_eq(rc_pool_kind(&f.pool, e.buf), RC_BUF_POOL);
	cr_assert_eq(rc_pool_refs(&f.pool, e.buf), 1);
	check_entry(&e, 1, 1, 100);
	rc_pool_unref(&f.pool, e.buf);
	cr_assert_eq(rc_pool_free_count(&f.pool), 1);
	cr_assert_eq(app(&f, 1, 3, 10), 1);
	check_holds(&f, 1, 3, 3, NULL);
	fx_fini(&f);
}

/* Below the reserve, an append may take back only a buffer its evictions really gave back: one the
 * caller still references does not count, so the reserve stays untouched and the append fails. */
Test(retain, referenced_segment_gives_no_credit)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	fill_first_segment(&f);
	rc_retain_entry e;
	cr_assert(rc_retain_newest(&f.r, 2, &e));
	rc_pool_ref(&f.pool, e.buf);
	rc_pool_set_reserve(&f.pool, 1);
	hog(&f, 1);
	cr_assert_eq(app(&f, 1, 2, 1000), -ENOMEM);
	cr_assert_eq(rc_pool_free_count(&f.pool), 1);
	cr_assert_eq(f.r.segments, 0);
	cr_assert_eq(f.emptied[1] + f.emptied[2], 2);
	rc_pool_unref(&f.pool, e.buf); /* now it is back: the next append may take it */
	cr_assert_eq(app(&f, 1, 3, 1000), 1);
	cr_assert_eq(rc_pool_free_count(&f.pool), 1);
	fx_fini(&f);
}

/* The pool's reserve is not the history's: it grows only while the pool stays above it, then
 * recycles its own segments, and no append fails. */
Test(retain, pool_reserve_respected)
{
	fixture f;
	fx_init(&f, 64, 1u << 20, 8);
	rc_pool_set_reserve(&f.pool, NBUFS - 2);
	for (uint64_t s = 1; s <= 300; s++) {
		for (uint32_t t = 0; t < 5; t++) {
			app_ok(&f, t, s, 1000);
			cr_assert_geq(rc_pool_free_count(&f.pool), NBUFS - 2);
			cr_assert_leq(f.r.segments, 2);
			uint32_t count;
			uint64_t newest;
			rc_retain_range(&f.r, t, &count, NULL, &newest);
			cr_assert(count > 0 && newest == s);
		}
	}
	cr_assert_eq(f.r.segments, 2);
	/* Below the reserve (others took buffers), the log keeps its size by taking back the buffer
	 * each eviction gives, and goes no lower. */
	hog(&f, NBUFS - 6);
	for (uint64_t s = 301; s <= 400; s++) {
		for (uint32_t t = 0; t < 5; t++) {
			app_ok(&f, t, s, 1000);
			cr_assert_eq(rc_pool_free_count(&f.pool), NBUFS - 6);
			cr_assert_eq(f.r.segments, 2);
		}
	}
	cr_assert_eq(f.r.failed, 0);
	fx_fini(&f);
}

/* A payload that starts near the end of a pool buffer and goes on over its chain. */
Test(retain, payload_over_a_chain)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	int32_t h = rc_pool_alloc(&f.pool);
	cr_assert_geq(h, 0);
	for (uint32_t i = 0; i < 5000; i++)
		scratch[i] = pbyte(3, 1, i);
	cr_assert_eq(rc_span_append(&f.pool, (uint32_t)h, SEG - 100, scratch, 5000), 0);
	memset(scratch, 0, 5000);
	rc_span sp =
	        rc_span_of(&f.pool, (uint32_t)h, rc_pool_data(&f.pool, (uint32_t)h) + SEG - 100, 5000);
	cr_assert(rc_span_chained(&sp));
	cr_assert_eq(app_span(&f, 3, 1, true, &sp), 1);
	rc_pool_unref(&f.pool, (uint32_t)h); /* the chain goes; the copy stays */
	check_holds(&f, 3, 1, 1, NULL);
	fx_fini(&f);
}

/* ---- validate -------------------------------------------------------------------------------- */

/* The header of e's entry, for corrupting it (rc_retain.c's layout: seq, pub_ns, prev, next,
 * topic, len, flags, live). */
static uint8_t *hdr_of(const rc_retain_entry *e)
{
	return (uint8_t *)(uintptr_t)(e->payload - RC_RETAIN_HDR_SIZE);
}

#define BROKEN(f, what) cr_assert_not(rc_retain_validate(&(f)->r), "validate missed: %s", what)

Test(retain, validate_catches_corruption)
{
	fixture f;
	fx_init(&f, 8, 1u << 20, 4);
	for (uint64_t s = 1; s <= 3; s++)
		app_ok(&f, 1, s, 100);
	app_ok(&f, 2, 1, 100);
	rc_retain_entry e;
	cr_assert(rc_retain_first_after(&f.r, 1, 1, &e)); /* seq 2, in the middle of topic 1 */
	uint8_t *h = hdr_of(&e);
	uint8_t save[RC_RETAIN_HDR_SIZE];
	memcpy(save, h, sizeof save);

	h[41] = 0; /* live */
	BROKEN(&f, "a listed entry not live");
	memcpy(h, save, sizeof save);
	h[0] ^= 0xff; /* seq: now above seq 3 */
	BROKEN(&f, "seqs out of order");
	memcpy(h, save, sizeof save);
	h[32] = 2; /* topic */
	BROKEN(&f, "an entry of another topic in the list");
	memcpy(h, save, sizeof save);
	h[36] += 8; /* len */
	BROKEN(&f, "bytes not matching the lengths");
	memcpy(h, save, sizeof save);
	h[16] ^= 8; /* prev */
	BROKEN(&f, "a prev link not matching");
	memcpy(h, save, sizeof save);
	h[40] = 0x80; /* flags */
	BROKEN(&f, "an unknown flag");
	memcpy(h, save, sizeof save);
	VALID(&f);

	f.r.topics[1].count++;
	BROKEN(&f, "a count too high");
	f.r.topics[1].count--;
	f.r.topics[3].bytes = 1;
	BROKEN(&f, "bytes on an empty topic");
	f.r.topics[3].bytes = 0;
	f.r.live_bytes += 8;
	BROKEN(&f, "live_bytes");
	f.r.live_bytes -= 8;
	f.r.evicted++;
	BROKEN(&f, "the counters not adding up");
	f.r.evicted--;
	f.r.ring[f.r.first].end += 8;
	BROKEN(&f, "the head segment's end");
	f.r.ring[f.r.first].end -= 8;
	f.r.head += 8;
	BROKEN(&f, "the head");
	f.r.head -= 8;
	VALID(&f);

	/* a second segment that names the first one's buffer */
	while (f.r.segments < 2)
		app_ok(&f, 2, 2 + f.r.retained, 5000);
	uint32_t slot = (f.r.first + 1) % f.r.seg_cap, buf = f.r.ring[slot].buf;
	f.r.ring[slot].buf = f.r.ring[f.r.first].buf;
	BROKEN(&f, "a buffer held twice");
	f.r.ring[slot].buf = buf;
	VALID(&f);
	fx_fini(&f);
}

/* ---- contract violations --------------------------------------------------------------------- */

static fixture death_fx;

Test(retain, seq_not_growing_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 8, 1000, 4);
	app_ok(&death_fx, 1, 5, 10);
	rc_span sp = rc_span_bytes(scratch, 10);
	(void)rc_retain_append(&death_fx.r, 1, 5, 0, false, &sp);
}

Test(retain, next_of_a_forgotten_entry_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 8, 1000, 4);
	app_ok(&death_fx, 1, 1, 10);
	app_ok(&death_fx, 1, 2, 10);
	rc_retain_entry e;
	cr_assert(rc_retain_first_after(&death_fx.r, 1, 0, &e));
	forget(&death_fx, 1);
	(void)rc_retain_next(&death_fx.r, &e);
}

/* ---- randomized model ------------------------------------------------------------------------ */

#define MT 50u   /* topics used */
#define RING 64u /* lengths remembered per topic (> msgs_per_topic) */
#define M_MSGS 16u
#define M_BYTES 24000u
#define M_SEGS 8u

typedef struct mtopic {
	uint64_t next_seq;   /* the number the next append takes */
	uint64_t lo;         /* every number in [lo, next_seq) was retained by its append */
	uint32_t lens[RING]; /* lens[seq % RING] */
} mtopic;

static mtopic model[MT];

static uint32_t model_len(uint32_t topic, uint64_t seq)
{
	return model[topic].lens[seq % RING];
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* What topic t holds is a contiguous run of what was appended, ending with the last append, within
 * the caps, intact. */
static void check_model(fixture *f, uint32_t t)
{
	const mtopic *m = &model[t];
	uint32_t count;
	uint64_t oldest, newest;
	rc_retain_range(&f->r, t, &count, &oldest, &newest);
	if (count == 0) {
		check_holds(f, t, 1, 0, NULL);
		return;
	}
	cr_assert_eq(newest, m->next_seq - 1, "topic %u: newest %llu, last appended %llu", t,
	             (unsigned long long)newest, (unsigned long long)(m->next_seq - 1));
	cr_assert_geq(oldest, m->lo, "topic %u: oldest %llu, nothing retained before %llu", t,
	              (unsigned long long)oldest, (unsigned long long)m->lo);
	cr_assert_leq(count, M_MSGS);
	cr_assert_leq(rc_retain_topic_bytes(&f->r, t), M_BYTES);
	check_holds(f, t, oldest, newest, model_len);
}

static uint32_t random_len(const fixture *f)
{
	uint32_t k = (uint32_t)(rng() % 100), max = rc_retain_payload_max(&f->r);
	if (k < 70)
		return (uint32_t)(rng() % 200);
	if (k < 95)
		return 200 + (uint32_t)(rng() % 2800);
	if (k < 99)
		return 3000 + (uint32_t)(rng() % (max - 3000 + 1));
	return max + 1 + (uint32_t)(rng() % 100);
}

static void model_append(fixture *f, uint32_t t)
{
	mtopic *m = &model[t];
	uint32_t len = random_len(f);
	uint64_t seq = m->next_seq++;
	int rc = app(f, t, seq, len);
	if (rc >= 0) {
		m->lens[seq % RING] = len;
		return;
	}
	cr_assert(rc == -E2BIG ? len > rc_retain_payload_max(&f->r) : rc == -ENOMEM && f->nhog > 0,
	          "topic %u seq %llu len %u: %d", t, (unsigned long long)seq, len, rc);
	forget(f, t); /* what net/ does: a hole would break a resume */
	m->lo = m->next_seq;
}

static void model_shrink(fixture *f, uint32_t keep)
{
	uint32_t before = f->r.segments;
	uint32_t n = rc_retain_shrink(&f->r, keep);
	VALID(f);
	check_pins(f);
	cr_assert_eq(f->r.segments, before < keep ? before : keep);
	cr_assert_eq(n, before - f->r.segments);
}

static void model_step(fixture *f, uint32_t *touched)
{
	uint32_t k = (uint32_t)(rng() % 1000);
	uint32_t t = rng() % 5 < 2 ? (uint32_t)(rng() % 5) : (uint32_t)(rng() % MT);
	*touched = t;
	if (k < 930) {
		model_append(f, t);
	} else if (k < 950) {
		forget(f, t);
		if (rng() % 2)
			model[t].next_seq = 1 + rng() % 3; /* its numbering restarts */
		model[t].lo = model[t].next_seq;
	} else if (k < 960) {
		model_shrink(f, (uint32_t)(rng() % (M_SEGS + 1)));
	} else if (k < 970) {
		if (f->nhog > 0) {
			unhog(f);
		} else {
			if (rng() % 4 == 0)
				model_shrink(f, 0); /* then the next append finds no segment */
			hog(f, (uint32_t)(rng() % 2));
		}
	} else {
		*touched = UINT32_MAX; /* check them all */
	}
	cr_assert_leq(f->r.segments, M_SEGS);
	cr_assert_eq(f->pool.pool_used, f->r.segments + f->nhog);
}

Test(retain, random_model)
{
	fixture f;
	fx_init(&f, M_MSGS, M_BYTES, M_SEGS);
	rng_state = 0x7e7a1115ull;
	for (uint32_t t = 0; t < MT; t++)
		model[t] = (mtopic){ .next_seq = 1, .lo = 1 };
	for (uint32_t i = 0; i < 30000; i++) {
		uint32_t t;
		model_step(&f, &t);
		if (t != UINT32_MAX && i % 97 != 0) {
			check_model(&f, t);
			continue;
		}
		for (t = 0; t < MT; t++)
			check_model(&f, t);
	}
	/* every path was taken */
	cr_assert_gt(f.r.evicted, 0);
	cr_assert_gt(f.r.compacted, 0);
	cr_assert_gt(f.r.too_large, 0);
	cr_assert_gt(f.r.failed, 0);
	cr_assert_gt(f.r.forgotten, 0);
	cr_assert_gt(f.emptied_total, 0);
	fx_fini(&f);
}
