/* Tests of rc_outq: the handle's size budget; config and policy names; storage taken on the first
 * push and returned exactly when the queue empties (allocator calls counted); every policy at the
 * message cap and at the byte cap with mixed sizes, including evictions that need several push
 * calls (res.more); protection of pinned and partly sent messages; a message longer than the byte
 * cap (taken by an empty queue, alone; evicting a whole queue; dropped when it meets a protected
 * one); FIFO order across wraparound; partial-send accounting; drain; validate catching a
 * corrupted queue; and a randomized test (fixed seeds, 200k operations) against a plain reference
 * model written from the header's contract, comparing the queue and the exact sequence of messages
 * handed back after every operation.
 *
 * Messages are plain rc_msg structs (refs 1, seq = a unique id): the queue never touches
 * refcounts. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rc_msg.h"
#include "rc_outq.h"

/* ---- a counting allocator: one outstanding block per queue, poisoned so stale reads show ---- */

typedef struct talloc {
	unsigned gets; /* successful get calls */
	unsigned puts;
	unsigned failed; /* get calls refused */
	bool fail_next;  /* refuse the next get */
	size_t size;     /* the size every call must use */
	void *live[8];   /* blocks handed out and not yet put */
	unsigned nlive;
} talloc;

static void *t_get(void *ctx, size_t size)
{
	talloc *a = ctx;
	cr_assert_eq(size, a->size, "get size %zu, expected %zu", size, a->size);
	if (a->fail_next) {
		a->fail_next = false;
		a->failed++;
		return NULL;
	}
	cr_assert_lt(a->nlive, 8u);
	void *p = malloc(size);
	cr_assert_not_null(p);
	memset(p, 0xA5, size);
	a->live[a->nlive++] = p;
	a->gets++;
	return p;
}

static void t_put(void *ctx, void *p, size_t size)
{
	talloc *a = ctx;
	cr_assert_eq(size, a->size, "put size %zu, expected %zu", size, a->size);
	for (unsigned i = 0; i < a->nlive; i++) {
		if (a->live[i] == p) {
			a->live[i] = a->live[--a->nlive];
			memset(p, 0x5A, size);
			free(p);
			a->puts++;
			return;
		}
	}
	cr_assert_fail("put of a block that was not handed out: %p", p);
}

static rc_outq_alloc talloc_make(talloc *a, const rc_outq_cfg *cfg)
{
	memset(a, 0, sizeof *a);
	a->size = rc_outq_storage_bytes(cfg);
	return (rc_outq_alloc){ .get = t_get, .put = t_put, .ctx = a };
}

/* ---- messages ---- */

static void mk(rc_msg *m, uint64_t id, uint32_t len, uint32_t topic)
{
	memset(m, 0, sizeof *m);
	m->len = len;
	m->refs = 1;
	m->topic = topic;
	m->seq = id;
}

static rc_outq_cfg cfg_of(uint32_t msgs_max, uint32_t bytes_max, enum rc_outq_policy policy)
{
	rc_outq_cfg c = { .msgs_max = msgs_max, .bytes_max = bytes_max, .policy = policy };
	cr_assert_eq(rc_outq_cfg_check(&c), 0);
	return c;
}

#define VALID(q, cfg) \
	cr_assert(rc_outq_validate((q), (cfg)), "rc_outq_validate failed (line %d)", __LINE__)

/* What the server does before freeing a connection: the queue is empty and holds no storage
 * (anything else would leak message references or a buffer). */
static void assert_drained(const rc_outq *q)
{
	cr_assert(q->count == 0 && q->ring == NULL, "%u messages, storage %p", q->count,
	          (void *)q->ring);
	cr_assert(q->bytes == 0 && q->head_offset == 0 && q->pinned == 0);
}

/* Names for failure messages. */
static const char *status_name(enum rc_outq_status s)
{
	static const char *const names[RC_OUTQ_STATUS_COUNT] = {
		[RC_OUTQ_QUEUED] = "queued",
		[RC_OUTQ_DROPPED_NEWEST] = "dropped-newest",
		[RC_OUTQ_DROPPED_OLDEST] = "dropped-oldest",
		[RC_OUTQ_CONFLATED] = "conflated",
		[RC_OUTQ_OVERFLOW] = "overflow",
		[RC_OUTQ_NOMEM] = "nomem",
	};
	return (unsigned)s < RC_OUTQ_STATUS_COUNT ? names[s] : "unknown";
}

/* The queue holds exactly want[0..n), head first. */
static void expect_contents(const rc_outq *q, const rc_outq_cfg *cfg, rc_msg *const *want,
                            uint32_t n)
{
	cr_assert(rc_outq_validate(q, cfg));
	cr_assert_eq(rc_outq_count(q), n, "count %u, expected %u", rc_outq_count(q), n);
	uint32_t bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		rc_msg *m = rc_outq_peek(q, cfg, i);
		cr_assert_eq(m, want[i], "position %u holds id %llu, expected id %llu", i,
		             (unsigned long long)m->seq, (unsigned long long)want[i]->seq);
		bytes += want[i]->len;
	}
	cr_assert_eq(rc_outq_bytes(q), bytes);
}

/* Push, looping on res.more; collects every dropped message in *dropped (which must hold them). */
static rc_outq_result push_all(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *al,
                               rc_msg *m, rc_msg **dropped, uint32_t *ndropped, unsigned *calls)
{
	rc_outq_result r;
	*ndropped = 0;
	*calls = 0;
	do {
		rc_outq_push(q, cfg, al, m, &r);
		(*calls)++;
		cr_assert(rc_outq_validate(q, cfg));
		cr_assert_leq(r.ndropped, RC_OUTQ_DROPPED_MAX);
		cr_assert(!r.more || (r.ndropped == RC_OUTQ_DROPPED_MAX && !r.queued));
		for (uint32_t i = 0; i < r.ndropped; i++)
			dropped[(*ndropped)++] = r.dropped[i];
	} while (r.more);
	return r;
}

/* Push that must end with `status` after one call, dropping exactly want[0..nwant). */
static void push_expect(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *al, rc_msg *m,
                        enum rc_outq_status status, rc_msg *const *want, uint32_t nwant)
{
	rc_outq_result r;
	rc_outq_push(q, cfg, al, m, &r);
	VALID(q, cfg);
	cr_assert_eq(r.status, status, "status %s, expected %s", status_name(r.status),
	             status_name(status));
	cr_assert(!r.more);
	bool queued = status == RC_OUTQ_QUEUED || status == RC_OUTQ_DROPPED_OLDEST ||
	              status == RC_OUTQ_CONFLATED;
	cr_assert_eq(r.queued, queued);
	cr_assert_eq(r.ndropped, nwant, "%u dropped, expected %u", r.ndropped, nwant);
	for (uint32_t i = 0; i < nwant; i++)
		cr_assert_eq(r.dropped[i], want[i], "dropped[%u] is id %llu, expected id %llu", i,
		             (unsigned long long)r.dropped[i]->seq, (unsigned long long)want[i]->seq);
}

static void noop_release(void *ctx, rc_msg *m)
{
	(void)ctx;
	(void)m;
}

/* ---- size, config, names ---- */

Test(outq, handle_fits_budget)
{
	/* the per-connection budget is 400 bytes; the queue's share is 24 */
	cr_assert(sizeof(rc_outq) <= 24, "sizeof(rc_outq) is %zu bytes, budget 24", sizeof(rc_outq));
	/* zero-initialised is empty */
	rc_outq q = { 0 };
	rc_outq_cfg cfg = cfg_of(1024, 1u << 20, RC_OUTQ_DROP_OLDEST);
	cr_assert(rc_outq_validate(&q, &cfg));
	assert_drained(&q);
}

Test(outq, cfg_check)
{
	rc_outq_cfg c = cfg_of(1024, 1u << 20, RC_OUTQ_DROP_OLDEST);
	cr_assert_eq(rc_outq_storage_bytes(&c), 1024 * sizeof(void *));

	static const uint32_t good[] = { 1, 2, 4, 1024, RC_OUTQ_MSGS_MAX_LIMIT };
	static const uint32_t bad[] = { 0, 3, 6, 1000, 1025, RC_OUTQ_MSGS_MAX_LIMIT * 2, UINT32_MAX };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		c.msgs_max = good[i];
		cr_assert_eq(rc_outq_cfg_check(&c), 0, "msgs_max %u refused", good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c.msgs_max = bad[i];
		cr_assert_eq(rc_outq_cfg_check(&c), -EINVAL, "msgs_max %u accepted", bad[i]);
	}
	c = cfg_of(1024, 1u << 20, RC_OUTQ_DROP_OLDEST);
	c.bytes_max = 0;
	cr_assert_eq(rc_outq_cfg_check(&c), -EINVAL);
	c = cfg_of(1024, 1u << 20, RC_OUTQ_DROP_OLDEST);
	c.policy = (enum rc_outq_policy)RC_OUTQ_POLICY_COUNT;
	cr_assert_eq(rc_outq_cfg_check(&c), -EINVAL);
}

Test(outq, policy_names)
{
	static const char *const names[] = { "drop-oldest", "drop-newest", "conflate", "disconnect" };
	static const enum rc_outq_policy vals[] = { RC_OUTQ_DROP_OLDEST, RC_OUTQ_DROP_NEWEST,
		                                        RC_OUTQ_CONFLATE, RC_OUTQ_DISCONNECT };
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rc_outq_policy_parse(names[i]), (int)vals[i], "%s", names[i]);
		cr_assert_str_eq(rc_outq_policy_name(vals[i]), names[i]);
	}
	static const char *const bad[] = { "",          "drop",        "DROP-OLDEST", "drop_oldest",
		                               "conflate ", "drop-oldestx" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(rc_outq_policy_parse(bad[i]), -EINVAL, "\"%s\" accepted", bad[i]);
	cr_assert_str_eq(rc_outq_policy_name((enum rc_outq_policy)99), "unknown");
}

/* ---- storage ---- */

Test(outq, storage_taken_on_first_push_returned_when_empty)
{
	rc_outq_cfg cfg = cfg_of(8, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[10], *out[10];
	for (int i = 0; i < 10; i++)
		mk(&m[i], (uint64_t)i, 10, 0);

	push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(a.gets, 1u);
	for (int i = 1; i < 8; i++)
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(a.gets, 1u, "storage taken again on a non-empty queue");
	cr_assert_eq(a.puts, 0u);

	rc_outq_consume(&q, &cfg, &al, 7, out);
	VALID(&q, &cfg);
	cr_assert_eq(a.puts, 0u, "storage returned with a message still queued");
	rc_outq_consume(&q, &cfg, &al, 0, out);
	cr_assert_eq(a.puts, 0u);
	rc_outq_consume(&q, &cfg, &al, 1, out);
	VALID(&q, &cfg);
	cr_assert_eq(a.puts, 1u, "storage kept by an empty queue");
	cr_assert_null(q.ring);

	/* empty -> non-empty again: a new get; emptied by rc_outq_sent: a put */
	push_expect(&q, &cfg, &al, &m[8], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(a.gets, 2u);
	rc_outq_pin(&q, 1);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 0, out, 1), 0u);
	cr_assert_eq(a.puts, 1u);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 10, out, 1), 1u);
	VALID(&q, &cfg);
	cr_assert_eq(a.puts, 2u);

	/* emptied by drain: a put */
	push_expect(&q, &cfg, &al, &m[9], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(rc_outq_drain(&q, &cfg, &al, noop_release, NULL), 1u);
	cr_assert_eq(a.gets, 3u);
	cr_assert_eq(a.puts, 3u);
	cr_assert_eq(rc_outq_drain(&q, &cfg, &al, noop_release, NULL), 0u);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 0, out, 0), 0u);
	cr_assert_eq(a.puts, 3u, "an empty queue put storage it did not hold");
	VALID(&q, &cfg);
	assert_drained(&q);
	cr_assert_eq(a.nlive, 0u);
}

Test(outq, nomem_leaves_queue_empty)
{
	rc_outq_cfg cfg = cfg_of(4, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m;
	mk(&m, 1, 10, 0);
	a.fail_next = true;
	push_expect(&q, &cfg, &al, &m, RC_OUTQ_NOMEM, NULL, 0);
	cr_assert(rc_outq_empty(&q));
	cr_assert_eq(a.failed, 1u);
	cr_assert_eq(a.gets, 0u);
	push_expect(&q, &cfg, &al, &m, RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(a.gets, 1u);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	assert_drained(&q);
	cr_assert_eq(a.nlive, 0u);
}

/* ---- policies at the message cap ---- */

/* q holds m[0..4) (10 bytes each, topics 0..3) in a cap-4 queue with plenty of bytes. */
static void fill4(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *al, rc_msg *m)
{
	*q = (rc_outq){ 0 };
	for (uint32_t i = 0; i < 4; i++) {
		mk(&m[i], i, 10, i);
		push_expect(q, cfg, al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
}

Test(outq, msg_cap_drop_oldest)
{
	rc_outq_cfg cfg = cfg_of(4, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[8];
	fill4(&q, &cfg, &al, m);
	for (uint32_t i = 4; i < 8; i++) {
		mk(&m[i], i, 10, 0);
		rc_msg *want[1] = { &m[i - 4] };
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_DROPPED_OLDEST, want, 1);
		rc_msg *left[4] = { &m[i - 3], &m[i - 2], &m[i - 1], &m[i] };
		expect_contents(&q, &cfg, left, 4);
	}
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	cr_assert_eq(a.gets, 1u);
	cr_assert_eq(a.puts, 1u);
}

Test(outq, msg_cap_drop_newest_and_disconnect)
{
	static const enum rc_outq_policy pol[2] = { RC_OUTQ_DROP_NEWEST, RC_OUTQ_DISCONNECT };
	static const enum rc_outq_status st[2] = { RC_OUTQ_DROPPED_NEWEST, RC_OUTQ_OVERFLOW };
	for (int k = 0; k < 2; k++) {
		rc_outq_cfg cfg = cfg_of(4, 1000, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q;
		rc_msg m[5];
		fill4(&q, &cfg, &al, m);
		mk(&m[4], 4, 10, 0);
		push_expect(&q, &cfg, &al, &m[4], st[k], NULL, 0);
		rc_msg *left[4] = { &m[0], &m[1], &m[2], &m[3] };
		expect_contents(&q, &cfg, left, 4);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	}
}

Test(outq, msg_cap_conflate)
{
	rc_outq_cfg cfg = cfg_of(4, 1000, RC_OUTQ_CONFLATE);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[8];
	fill4(&q, &cfg, &al, m);

	/* same topic as m[2]: replaced where it stood */
	mk(&m[4], 4, 10, 2);
	rc_msg *want[1] = { &m[2] };
	push_expect(&q, &cfg, &al, &m[4], RC_OUTQ_CONFLATED, want, 1);
	rc_msg *left[4] = { &m[0], &m[1], &m[4], &m[3] };
	expect_contents(&q, &cfg, left, 4);

	/* the newest of two with the topic is the one replaced */
	mk(&m[5], 5, 10, 1);
	want[0] = &m[0];
	cfg.policy = RC_OUTQ_DROP_OLDEST;
	push_expect(&q, &cfg, &al, &m[5], RC_OUTQ_DROPPED_OLDEST, want, 1); /* q: 1 4 3 5 */
	cfg.policy = RC_OUTQ_CONFLATE;
	mk(&m[6], 6, 10, 1);
	want[0] = &m[5];
	push_expect(&q, &cfg, &al, &m[6], RC_OUTQ_CONFLATED, want, 1);
	rc_msg *left2[4] = { &m[1], &m[4], &m[3], &m[6] };
	expect_contents(&q, &cfg, left2, 4);

	/* no message of the topic: drop-oldest */
	mk(&m[7], 7, 10, 77);
	want[0] = &m[1];
	push_expect(&q, &cfg, &al, &m[7], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_msg *left3[4] = { &m[4], &m[3], &m[6], &m[7] };
	expect_contents(&q, &cfg, left3, 4);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

/* ---- policies at the byte cap, mixed sizes ---- */

/* q holds 10, 20, 30, 40 bytes (topics 0..3) = exactly bytes_max 100, 4 of 16 slots. */
static void fill_bytes(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *al, rc_msg *m)
{
	*q = (rc_outq){ 0 };
	for (uint32_t i = 0; i < 4; i++) {
		mk(&m[i], i, 10 * (i + 1), i);
		push_expect(q, cfg, al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	cr_assert_eq(rc_outq_bytes(q), 100u);
}

Test(outq, byte_cap_drop_oldest_evicts_as_many_as_needed)
{
	rc_outq_cfg cfg = cfg_of(16, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[6];
	fill_bytes(&q, &cfg, &al, m);
	/* 25 bytes: dropping 10 leaves 90 + 25 > 100, dropping 20 too leaves 70 + 25 = 95 */
	mk(&m[4], 4, 25, 9);
	rc_msg *want[2] = { &m[0], &m[1] };
	push_expect(&q, &cfg, &al, &m[4], RC_OUTQ_DROPPED_OLDEST, want, 2);
	rc_msg *left[3] = { &m[2], &m[3], &m[4] };
	expect_contents(&q, &cfg, left, 3);
	/* 5 bytes fits exactly (100) */
	mk(&m[5], 5, 5, 9);
	push_expect(&q, &cfg, &al, &m[5], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(rc_outq_bytes(&q), 100u);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

Test(outq, byte_cap_drop_newest_and_disconnect)
{
	static const enum rc_outq_policy pol[2] = { RC_OUTQ_DROP_NEWEST, RC_OUTQ_DISCONNECT };
	static const enum rc_outq_status st[2] = { RC_OUTQ_DROPPED_NEWEST, RC_OUTQ_OVERFLOW };
	for (int k = 0; k < 2; k++) {
		rc_outq_cfg cfg = cfg_of(16, 100, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q;
		rc_msg m[6];
		fill_bytes(&q, &cfg, &al, m);
		mk(&m[4], 4, 1, 0);
		push_expect(&q, &cfg, &al, &m[4], st[k], NULL, 0);
		/* longer than the cap, meeting a non-empty queue: the policy, like any that does not
		 * fit */
		mk(&m[5], 5, 101, 0);
		push_expect(&q, &cfg, &al, &m[5], st[k], NULL, 0);
		rc_msg *left[4] = { &m[0], &m[1], &m[2], &m[3] };
		expect_contents(&q, &cfg, left, 4);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	}
}

Test(outq, byte_cap_conflate)
{
	rc_outq_cfg cfg = cfg_of(16, 100, RC_OUTQ_CONFLATE);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[10];
	fill_bytes(&q, &cfg, &al, m);

	/* smaller replacement of the 40-byte topic-3 message: in place, 95 bytes */
	mk(&m[4], 4, 35, 3);
	rc_msg *want[3] = { &m[3] };
	push_expect(&q, &cfg, &al, &m[4], RC_OUTQ_CONFLATED, want, 1);
	rc_msg *left[4] = { &m[0], &m[1], &m[2], &m[4] };
	expect_contents(&q, &cfg, left, 4);

	/* 50 bytes for topic 2 (30 queued): 95-30+50 > 100; evict 10: 85-30+50 > 100; evict 20:
	 * 65-30+50 = 85 fits before appending would (65+50 > 100): evictions, then the replacement */
	mk(&m[5], 5, 50, 2);
	want[0] = &m[0];
	want[1] = &m[1];
	want[2] = &m[2];
	push_expect(&q, &cfg, &al, &m[5], RC_OUTQ_CONFLATED, want, 3);
	rc_msg *left2[2] = { &m[5], &m[4] };
	expect_contents(&q, &cfg, left2, 2);

	/* 60 bytes for topic 3 (35 queued, at position 1): appending never fits (85+60), replacing
	 * needs the 50 to go first; when the oldest goes, 35 + 60 fits appended before the replacement
	 * is tried again: so an append, and the topic-3 message stays */
	mk(&m[6], 6, 60, 3);
	want[0] = &m[5];
	push_expect(&q, &cfg, &al, &m[6], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_msg *left3[2] = { &m[4], &m[6] };
	expect_contents(&q, &cfg, left3, 2);

	/* the replaced message is the NEWEST of the topic (m[6]), after evicting the older m[4] */
	mk(&m[7], 7, 90, 3);
	want[0] = &m[4];
	want[1] = &m[6];
	push_expect(&q, &cfg, &al, &m[7], RC_OUTQ_CONFLATED, want, 2);
	rc_msg *left4[1] = { &m[7] };
	expect_contents(&q, &cfg, left4, 1);

	/* the target is the oldest and must itself go before anything fits: plain drop-oldest */
	mk(&m[8], 8, 10, 5);
	push_expect(&q, &cfg, &al, &m[8], RC_OUTQ_QUEUED, NULL, 0);
	mk(&m[9], 9, 95, 3);
	want[0] = &m[7];
	want[1] = &m[8];
	push_expect(&q, &cfg, &al, &m[9], RC_OUTQ_DROPPED_OLDEST, want, 2);
	rc_msg *left5[1] = { &m[9] };
	expect_contents(&q, &cfg, left5, 1);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

Test(outq, many_evictions_take_several_calls)
{
	/* 50 messages of 20 bytes fill 1000 bytes; a 1000-byte message needs all 50 gone: 16 + 16 +
	 * 16 with res.more, then 2 and the message queued */
	rc_outq_cfg cfg = cfg_of(64, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[51];
	for (uint32_t i = 0; i < 50; i++) {
		mk(&m[i], i, 20, i % 3);
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	mk(&m[50], 50, 1000, 1);
	for (int call = 0; call < 3; call++) {
		rc_outq_result r;
		rc_outq_push(&q, &cfg, &al, &m[50], &r);
		VALID(&q, &cfg);
		cr_assert(r.more, "call %d: more not set", call);
		cr_assert(!r.queued);
		cr_assert_eq(r.status, RC_OUTQ_DROPPED_OLDEST);
		cr_assert_eq(r.ndropped, RC_OUTQ_DROPPED_MAX);
		for (uint32_t i = 0; i < r.ndropped; i++)
			cr_assert_eq(r.dropped[i], &m[call * 16 + i]);
		cr_assert_eq(rc_outq_count(&q), 50u - 16 * (call + 1));
	}
	rc_msg *want[2] = { &m[48], &m[49] };
	push_expect(&q, &cfg, &al, &m[50], RC_OUTQ_DROPPED_OLDEST, want, 2);
	rc_msg *left[1] = { &m[50] };
	expect_contents(&q, &cfg, left, 1);
	cr_assert_eq(a.gets, 1u, "storage must be kept while a push empties and refills the queue");
	cr_assert_eq(a.puts, 0u);

	/* under CONFLATE the same, with the target (topic 1, the newest) reached last */
	cfg.policy = RC_OUTQ_CONFLATE;
	rc_outq_consume(&q, &cfg, &al, 1, (rc_msg *[1]){ NULL });
	for (uint32_t i = 0; i < 50; i++)
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	rc_msg *dropped[64];
	uint32_t nd;
	unsigned calls;
	/* 980 bytes replace topic 1's newest (m[49], 20 bytes): 1000-20+980 fits once 980-20 bytes of
	 * other messages have gone, i.e. 48 evictions */
	mk(&m[50], 50, 980, 1);
	rc_outq_result r = push_all(&q, &cfg, &al, &m[50], dropped, &nd, &calls);
	cr_assert_eq(r.status, RC_OUTQ_CONFLATED);
	cr_assert_eq(calls, 4u);
	cr_assert_eq(nd, 49u);
	for (uint32_t i = 0; i < 48; i++)
		cr_assert_eq(dropped[i], &m[i]);
	cr_assert_eq(dropped[48], &m[49]);
	rc_msg *left2[2] = { &m[48], &m[50] };
	expect_contents(&q, &cfg, left2, 2);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	cr_assert_eq(a.gets, 2u);
	cr_assert_eq(a.puts, 2u);
}

/* ---- protection of pinned and partly sent messages ---- */

Test(outq, partly_sent_head_is_never_evicted)
{
	rc_outq_cfg cfg = cfg_of(4, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[8], *out[4];
	fill4(&q, &cfg, &al, m);
	rc_outq_pin(&q, 1);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 3, out, 4), 0u);
	cr_assert_eq(rc_outq_head_offset(&q), 3u);
	cr_assert_eq(q.pinned, 0u);

	/* drop-oldest skips the head: m[1], then m[2] go */
	mk(&m[4], 4, 10, 0);
	rc_msg *want[1] = { &m[1] };
	push_expect(&q, &cfg, &al, &m[4], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_msg *left[4] = { &m[0], &m[2], &m[3], &m[4] };
	expect_contents(&q, &cfg, left, 4);
	cr_assert_eq(rc_outq_head_offset(&q), 3u, "the offset must stay with the head");

	/* conflate never replaces it either: its topic (0) has a newer message, m[4], replaced
	 * instead */
	cfg.policy = RC_OUTQ_CONFLATE;
	mk(&m[5], 5, 10, 0);
	want[0] = &m[4];
	push_expect(&q, &cfg, &al, &m[5], RC_OUTQ_CONFLATED, want, 1);
	mk(&m[6], 6, 10, 0);
	want[0] = &m[5];
	push_expect(&q, &cfg, &al, &m[6], RC_OUTQ_CONFLATED, want, 1);
	/* consuming nothing keeps the offset */
	rc_outq_consume(&q, &cfg, &al, 0, out);
	cr_assert_eq(rc_outq_head_offset(&q), 3u);
	/* a topic behind the head conflates as usual */
	mk(&m[7], 7, 10, 2);
	want[0] = &m[2];
	push_expect(&q, &cfg, &al, &m[7], RC_OUTQ_CONFLATED, want, 1);
	rc_msg *left2[4] = { &m[0], &m[7], &m[3], &m[6] };
	expect_contents(&q, &cfg, left2, 4);
	cr_assert_eq(rc_outq_head_offset(&q), 3u);

	/* the rest of the head goes: offset cleared, m[0] popped */
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 7, out, 4), 1u);
	cr_assert_eq(out[0], &m[0]);
	cr_assert_eq(rc_outq_head_offset(&q), 0u);
	VALID(&q, &cfg);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

Test(outq, conflate_skips_head_with_its_topic)
{
	rc_outq_cfg cfg = cfg_of(4, 1000, RC_OUTQ_CONFLATE);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q;
	rc_msg m[5], *out[4];
	fill4(&q, &cfg, &al, m);
	rc_outq_pin(&q, 1);
	rc_outq_sent(&q, &cfg, &al, 1, out, 4);
	/* only the head has topic 0: conflate finds no target, so drop-oldest after the head */
	mk(&m[4], 4, 10, 0);
	rc_msg *want[1] = { &m[1] };
	push_expect(&q, &cfg, &al, &m[4], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_msg *left[4] = { &m[0], &m[2], &m[3], &m[4] };
	expect_contents(&q, &cfg, left, 4);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

Test(outq, pinned_messages_are_never_evicted)
{
	rc_outq_cfg cfg = cfg_of(8, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[12], *out[8];
	for (uint32_t i = 0; i < 8; i++) {
		mk(&m[i], i, 10, i);
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	/* wrap the ring so the shifting crosses the end of the storage */
	rc_outq_consume(&q, &cfg, &al, 6, out);
	for (uint32_t i = 0; i < 6; i++)
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0); /* q: 6 7 0 1 2 3 4 5 */
	rc_outq_pin(&q, 3);
	for (uint32_t i = 8; i < 12; i++) {
		mk(&m[i], i, 10, 3);
		rc_msg *want[1] = { &m[i - 7] };
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_DROPPED_OLDEST, want, 1);
	}
	/* pinned 6 7 0 stay; 1 2 3 4 went: 6 7 0 5 8 9 10 11 */
	rc_msg *want_left[8] = { &m[6], &m[7], &m[0], &m[5], &m[8], &m[9], &m[10], &m[11] };
	expect_contents(&q, &cfg, want_left, 8);
	cr_assert_eq(q.pinned, 3u);

	/* conflate must not replace a pinned message: topic 7 is only in m[7] (pinned) */
	cfg.policy = RC_OUTQ_CONFLATE;
	rc_msg x;
	mk(&x, 100, 10, 7);
	rc_msg *want[1] = { &m[5] };
	push_expect(&q, &cfg, &al, &x, RC_OUTQ_DROPPED_OLDEST, want, 1);

	/* everything pinned: no room can be made, the new message is dropped */
	rc_outq_sent(&q, &cfg, &al, 0, out, 8);
	rc_outq_pin(&q, 8);
	rc_msg y;
	mk(&y, 101, 10, 0);
	push_expect(&q, &cfg, &al, &y, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
	cr_assert_eq(rc_outq_count(&q), 8u);
	rc_outq_sent(&q, &cfg, &al, 0, out, 8);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

Test(outq, no_room_without_dropping_protected_bytes)
{
	/* the partly sent head is 80 of 100 bytes: a 30-byte message cannot fit even if the 15-byte
	 * message behind it goes, so nothing is evicted and the new one is dropped */
	static const enum rc_outq_policy pol[2] = { RC_OUTQ_DROP_OLDEST, RC_OUTQ_CONFLATE };
	for (int k = 0; k < 2; k++) {
		rc_outq_cfg cfg = cfg_of(8, 100, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q = { 0 };
		rc_msg m[3], *out[2];
		mk(&m[0], 0, 80, 1);
		mk(&m[1], 1, 15, 1);
		mk(&m[2], 2, 30, 1);
		push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_QUEUED, NULL, 0);
		push_expect(&q, &cfg, &al, &m[1], RC_OUTQ_QUEUED, NULL, 0);
		rc_outq_pin(&q, 2);
		rc_outq_sent(&q, &cfg, &al, 40, out, 2);
		push_expect(&q, &cfg, &al, &m[2], RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		rc_msg *left[2] = { &m[0], &m[1] };
		expect_contents(&q, &cfg, left, 2);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	}
	/* one slot and a partly sent head: likewise */
	rc_outq_cfg cfg = cfg_of(1, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[3], *out[1];
	mk(&m[0], 0, 10, 1);
	mk(&m[1], 1, 10, 1);
	push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_QUEUED, NULL, 0);
	rc_msg *want[1] = { &m[0] };
	push_expect(&q, &cfg, &al, &m[1], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_outq_pin(&q, 1);
	rc_outq_sent(&q, &cfg, &al, 1, out, 1);
	push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_DROPPED_NEWEST, NULL, 0);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

/* ---- a message longer than bytes_max ---- */

/* An empty queue takes it whatever the policy; the next message meets the policy. */
Test(outq, long_message_into_empty_queue)
{
	static const enum rc_outq_policy pol[4] = { RC_OUTQ_DROP_OLDEST, RC_OUTQ_CONFLATE,
		                                        RC_OUTQ_DROP_NEWEST, RC_OUTQ_DISCONNECT };
	for (int k = 0; k < 4; k++) {
		rc_outq_cfg cfg = cfg_of(8, 100, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q = { 0 };
		rc_msg big, small, big2;
		mk(&big, 0, 150, 1);
		mk(&small, 1, 10, 2);
		mk(&big2, 2, 200, 1);

		/* no storage: NOMEM, as for any message; then queued, alone, over the byte cap */
		a.fail_next = true;
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_NOMEM, NULL, 0);
		cr_assert(rc_outq_empty(&q));
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_QUEUED, NULL, 0);
		rc_msg *only_big[1] = { &big };
		expect_contents(&q, &cfg, only_big, 1);
		cr_assert_eq(rc_outq_bytes(&q), 150u);
		cr_assert_eq(a.gets, 1u);

		/* a second message, of any length, does not fit beside it */
		if (pol[k] == RC_OUTQ_DROP_NEWEST || pol[k] == RC_OUTQ_DISCONNECT) {
			enum rc_outq_status st =
			        pol[k] == RC_OUTQ_DROP_NEWEST ? RC_OUTQ_DROPPED_NEWEST : RC_OUTQ_OVERFLOW;
			push_expect(&q, &cfg, &al, &small, st, NULL, 0);
			push_expect(&q, &cfg, &al, &big2, st, NULL, 0);
			expect_contents(&q, &cfg, only_big, 1);
		} else {
			/* unprotected: the long one is evicted (a different topic: no conflation) */
			rc_msg *want[1] = { &big };
			push_expect(&q, &cfg, &al, &small, RC_OUTQ_DROPPED_OLDEST, want, 1);
			rc_msg *only_small[1] = { &small };
			expect_contents(&q, &cfg, only_small, 1);
			/* and a long one evicts what is queued, to go in alone */
			want[0] = &small;
			push_expect(&q, &cfg, &al, &big2, RC_OUTQ_DROPPED_OLDEST, want, 1);
			rc_msg *only_big2[1] = { &big2 };
			expect_contents(&q, &cfg, only_big2, 1);
			cr_assert_eq(rc_outq_bytes(&q), 200u);
		}
		cr_assert_eq(a.gets, 1u, "storage must be kept while a push empties and refills the queue");
		cr_assert_eq(a.puts, 0u);
		cr_assert_eq(rc_outq_drain(&q, &cfg, &al, noop_release, NULL), 1u);
		assert_drained(&q);
		cr_assert_eq(a.nlive, 0u);
	}

	/* one slot: likewise */
	rc_outq_cfg cfg = cfg_of(1, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[2];
	mk(&m[0], 0, 1000, 1);
	mk(&m[1], 1, 101, 1);
	push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_QUEUED, NULL, 0);
	rc_msg *want[1] = { &m[0] };
	push_expect(&q, &cfg, &al, &m[1], RC_OUTQ_DROPPED_OLDEST, want, 1);
	rc_msg *left[1] = { &m[1] };
	expect_contents(&q, &cfg, left, 1);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

/* A long message that is pinned or partly sent is protected: what comes next is dropped. */
Test(outq, long_message_protected)
{
	static const enum rc_outq_policy pol[2] = { RC_OUTQ_DROP_OLDEST, RC_OUTQ_CONFLATE };
	for (int k = 0; k < 2; k++) {
		rc_outq_cfg cfg = cfg_of(8, 100, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q = { 0 };
		rc_msg big, small, big2, *out[1];
		mk(&big, 0, 150, 1);
		mk(&small, 1, 10, 1); /* big's topic: conflate must not replace it either */
		mk(&big2, 2, 150, 1);
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_QUEUED, NULL, 0);
		rc_msg *only_big[1] = { &big };

		/* pinned by a send in flight */
		rc_outq_pin(&q, 1);
		push_expect(&q, &cfg, &al, &small, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		push_expect(&q, &cfg, &al, &big2, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		expect_contents(&q, &cfg, only_big, 1);

		/* partly sent, nothing in flight */
		cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 64, out, 1), 0u);
		cr_assert_eq(rc_outq_head_offset(&q), 64u);
		push_expect(&q, &cfg, &al, &small, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		push_expect(&q, &cfg, &al, &big2, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		expect_contents(&q, &cfg, only_big, 1);
		cr_assert_eq(rc_outq_head_offset(&q), 64u);

		/* the rest goes: empty again, and the next long message is taken */
		cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 86, out, 1), 1u);
		cr_assert_eq(out[0], &big);
		assert_drained(&q);
		push_expect(&q, &cfg, &al, &big2, RC_OUTQ_QUEUED, NULL, 0);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
		cr_assert_eq(a.gets, 2u);
		cr_assert_eq(a.puts, 2u);
	}
}

/* A long message meeting a non-empty queue: drop-oldest and conflate evict every unprotected
 * message, unless a protected one is left, when the long one is dropped. */
Test(outq, long_message_evicts_everything_unprotected)
{
	static const enum rc_outq_policy pol[2] = { RC_OUTQ_DROP_OLDEST, RC_OUTQ_CONFLATE };
	for (int k = 0; k < 2; k++) {
		rc_outq_cfg cfg = cfg_of(16, 100, pol[k]);
		talloc a;
		rc_outq_alloc al = talloc_make(&a, &cfg);
		rc_outq q;
		rc_msg m[4], big, *out[4];
		/* topic 3, like m[3]: under conflate the replacement never fits (150 > 100) */
		mk(&big, 9, 150, 3);

		/* m[0] partly sent: 10 + 150 > 100, nothing evicted, the long one dropped */
		fill_bytes(&q, &cfg, &al, m);
		rc_outq_pin(&q, 1);
		rc_outq_sent(&q, &cfg, &al, 5, out, 1);
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		rc_msg *all4[4] = { &m[0], &m[1], &m[2], &m[3] };
		expect_contents(&q, &cfg, all4, 4);
		/* pinned: likewise */
		rc_outq_pin(&q, 2);
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_DROPPED_NEWEST, NULL, 0);
		expect_contents(&q, &cfg, all4, 4);
		rc_outq_sent(&q, &cfg, &al, 0, out, 2);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);

		/* nothing protected: all four go, oldest first, and the long one is queued alone */
		fill_bytes(&q, &cfg, &al, m);
		push_expect(&q, &cfg, &al, &big, RC_OUTQ_DROPPED_OLDEST, all4, 4);
		rc_msg *only_big[1] = { &big };
		expect_contents(&q, &cfg, only_big, 1);
		cr_assert_eq(rc_outq_bytes(&q), 150u);
		cr_assert_eq(a.gets, 2u);
		cr_assert_eq(a.puts, 1u);
		rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	}

	/* under conflate, a replacement that fits within the cap replaces the long message in place;
	 * a longer one never replaces anything */
	rc_outq_cfg cfg = cfg_of(16, 100, RC_OUTQ_CONFLATE);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg big, fit, big2, small;
	mk(&big, 0, 150, 3);
	mk(&fit, 1, 90, 3);
	mk(&small, 2, 5, 4);
	mk(&big2, 3, 120, 3);
	push_expect(&q, &cfg, &al, &big, RC_OUTQ_QUEUED, NULL, 0);
	rc_msg *want[2] = { &big };
	push_expect(&q, &cfg, &al, &fit, RC_OUTQ_CONFLATED, want, 1); /* 150 - 150 + 90 */
	push_expect(&q, &cfg, &al, &small, RC_OUTQ_QUEUED, NULL, 0);  /* 95 */
	want[0] = &fit;
	want[1] = &small;
	push_expect(&q, &cfg, &al, &big2, RC_OUTQ_DROPPED_OLDEST, want, 2);
	rc_msg *left[1] = { &big2 };
	expect_contents(&q, &cfg, left, 1);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	cr_assert_eq(a.gets, a.puts);
}

/* Evicting a full queue of small messages for a long one takes several calls. */
Test(outq, long_message_after_many_evictions)
{
	rc_outq_cfg cfg = cfg_of(64, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[51], *dropped[64];
	for (uint32_t i = 0; i < 50; i++) {
		mk(&m[i], i, 20, i % 3);
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	mk(&m[50], 50, 1500, 1);
	uint32_t nd;
	unsigned calls;
	rc_outq_result r = push_all(&q, &cfg, &al, &m[50], dropped, &nd, &calls);
	cr_assert(r.queued);
	cr_assert_eq(r.status, RC_OUTQ_DROPPED_OLDEST);
	cr_assert_eq(calls, 4u); /* 16 + 16 + 16 with res.more, then 2 */
	cr_assert_eq(nd, 50u);
	for (uint32_t i = 0; i < 50; i++)
		cr_assert_eq(dropped[i], &m[i]);
	rc_msg *left[1] = { &m[50] };
	expect_contents(&q, &cfg, left, 1);
	cr_assert_eq(a.gets, 1u);
	cr_assert_eq(a.puts, 0u);
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
}

/* ---- order, partial sends, drain ---- */

Test(outq, fifo_across_wraparound)
{
	rc_outq_cfg cfg = cfg_of(8, 1u << 20, RC_OUTQ_DISCONNECT);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	enum {
		N = 100000
	};
	rc_msg *m = calloc(N, sizeof *m);
	cr_assert_not_null(m);
	uint64_t next_in = 0, next_out = 0;
	unsigned step = 0;
	rc_msg *out[8];
	while (next_out < N) {
		/* batch sizes cycle through 1..8 on both sides, out of phase, so head crosses every slot */
		uint32_t in = 1 + step % 8, take = 1 + (step * 5 + 3) % 8;
		for (uint32_t i = 0; i < in && next_in < N && rc_outq_count(&q) < 8; i++) {
			mk(&m[next_in], next_in, 1 + (uint32_t)(next_in % 97), 0);
			push_expect(&q, &cfg, &al, &m[next_in], RC_OUTQ_QUEUED, NULL, 0);
			next_in++;
		}
		if (take > rc_outq_count(&q))
			take = rc_outq_count(&q);
		for (uint32_t i = 0; i < take; i++)
			cr_assert_eq(rc_outq_peek(&q, &cfg, i), &m[next_out + i]);
		rc_outq_consume(&q, &cfg, &al, take, out);
		VALID(&q, &cfg);
		for (uint32_t i = 0; i < take; i++)
			cr_assert_eq(out[i]->seq, next_out + i, "got id %llu, expected %llu",
			             (unsigned long long)out[i]->seq, (unsigned long long)(next_out + i));
		next_out += take;
		cr_assert_eq((a.gets - a.puts), rc_outq_empty(&q) ? 0u : 1u);
		step++;
	}
	cr_assert(rc_outq_empty(&q));
	cr_assert_gt(a.gets, 1000u, "the test should empty the queue often");
	cr_assert_eq(a.gets, a.puts);
	free(m);
}

Test(outq, partial_sends)
{
	rc_outq_cfg cfg = cfg_of(8, 1000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[5], *out[8];
	for (uint32_t i = 0; i < 5; i++) {
		mk(&m[i], i, 100 + i, 0); /* 100 101 102 103 104 */
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	/* a send of the first three, 150 bytes taken: m[0] done, 50 of m[1] */
	rc_outq_pin(&q, 3);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 150, out, 3), 1u);
	cr_assert_eq(out[0], &m[0]);
	cr_assert_eq(rc_outq_head_offset(&q), 50u);
	cr_assert_eq(q.pinned, 0u);
	VALID(&q, &cfg);
	/* resumed: 51 (the rest of m[1]) + 102 (m[2]) + 3 of m[3] */
	rc_outq_pin(&q, 2);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 51 + 102, out, 2), 2u);
	cr_assert_eq(out[0], &m[1]);
	cr_assert_eq(out[1], &m[2]);
	cr_assert_eq(rc_outq_head_offset(&q), 0u, "an exact end of message leaves no offset");
	rc_outq_pin(&q, 2);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 3, out, 2), 0u);
	cr_assert_eq(rc_outq_head_offset(&q), 3u);
	/* a failed send changes nothing but the pin */
	rc_outq_pin(&q, 1);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 0, out, 1), 0u);
	cr_assert_eq(rc_outq_head_offset(&q), 3u);
	/* offset advances within the head, one byte short of its end */
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 99, out, 1), 0u);
	cr_assert_eq(rc_outq_head_offset(&q), 102u);
	VALID(&q, &cfg);
	/* the staged rest of the head, then consume clears the offset */
	rc_outq_consume(&q, &cfg, &al, 1, out);
	cr_assert_eq(out[0], &m[3]);
	cr_assert_eq(rc_outq_head_offset(&q), 0u);
	/* unpinned sent may span the whole queue */
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 104, out, 1), 1u);
	cr_assert_eq(out[0], &m[4]);
	cr_assert(rc_outq_empty(&q));
	VALID(&q, &cfg);
	cr_assert_eq(a.gets, 1u);
	cr_assert_eq(a.puts, 1u);
}

typedef struct drained {
	unsigned seen[64];
	uint64_t order[64];
	unsigned n;
} drained;

static void record_release(void *ctx, rc_msg *m)
{
	drained *d = ctx;
	cr_assert_lt(m->seq, 64u);
	d->seen[m->seq]++;
	d->order[d->n++] = m->seq;
}

Test(outq, drain_returns_every_message_once)
{
	rc_outq_cfg cfg = cfg_of(16, 10000, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[40], *out[16];
	for (uint32_t i = 0; i < 40; i++)
		mk(&m[i], i, 1 + i, i % 4);
	/* 0..15, consume 10, 16..25 (wraps), a partly sent head */
	for (uint32_t i = 0; i < 16; i++)
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	rc_outq_consume(&q, &cfg, &al, 10, out);
	for (uint32_t i = 16; i < 26; i++)
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	rc_outq_pin(&q, 1);
	rc_outq_sent(&q, &cfg, &al, 2, out, 1);
	drained d;
	memset(&d, 0, sizeof d);
	cr_assert_eq(rc_outq_drain(&q, &cfg, &al, record_release, &d), 16u);
	cr_assert_eq(d.n, 16u);
	for (unsigned i = 0; i < 16; i++)
		cr_assert_eq(d.order[i], 10u + i, "drain position %u gave id %llu", i,
		             (unsigned long long)d.order[i]);
	for (unsigned i = 0; i < 40; i++)
		cr_assert_eq(d.seen[i], (i >= 10 && i < 26) ? 1u : 0u, "id %u released %u times", i,
		             d.seen[i]);
	cr_assert(rc_outq_empty(&q));
	cr_assert_eq(rc_outq_head_offset(&q), 0u);
	VALID(&q, &cfg);
	cr_assert_eq(a.gets, a.puts);
	cr_assert_eq(a.nlive, 0u);
	assert_drained(&q);
}

Test(outq, validate_catches_corruption)
{
	rc_outq_cfg cfg = cfg_of(4, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[3];
	for (uint32_t i = 0; i < 3; i++) {
		mk(&m[i], i, 10, 0);
		push_expect(&q, &cfg, &al, &m[i], RC_OUTQ_QUEUED, NULL, 0);
	}
	rc_outq good = q;
	q.bytes++;
	cr_assert(!rc_outq_validate(&q, &cfg), "bytes off by one accepted");
	q = good;
	q.head_offset = 10;
	cr_assert(!rc_outq_validate(&q, &cfg), "offset == head len accepted");
	q = good;
	q.pinned = 4;
	cr_assert(!rc_outq_validate(&q, &cfg), "pinned > count accepted");
	q = good;
	q.count = 5;
	cr_assert(!rc_outq_validate(&q, &cfg), "count > msgs_max accepted");
	q = good;
	q.head = 4;
	cr_assert(!rc_outq_validate(&q, &cfg), "head out of range accepted");
	q = good;
	m[1].refs = 0;
	cr_assert(!rc_outq_validate(&q, &cfg), "a dead message accepted");
	m[1].refs = 1;
	/* longer than bytes_max, or over it in total, only alone */
	q = good;
	m[1].len = 101;
	q.bytes += 91;
	cr_assert(!rc_outq_validate(&q, &cfg), "a long message among others accepted");
	m[1].len = 10;
	q = good;
	m[1].len = 85;
	q.bytes += 75;
	cr_assert(!rc_outq_validate(&q, &cfg), "bytes over bytes_max with 3 messages accepted");
	m[1].len = 10;
	q = good;
	rc_outq empty = { 0 };
	empty.ring = q.ring;
	cr_assert(!rc_outq_validate(&empty, &cfg), "storage held by an empty queue accepted");
	cr_assert(rc_outq_validate(&q, &cfg));
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);

	/* a single message longer than bytes_max is a valid queue; its counter is still checked */
	rc_msg big;
	mk(&big, 9, 1u << 20, 0);
	push_expect(&q, &cfg, &al, &big, RC_OUTQ_QUEUED, NULL, 0);
	cr_assert(rc_outq_validate(&q, &cfg));
	good = q;
	q.bytes--;
	cr_assert(!rc_outq_validate(&q, &cfg), "bytes off by one accepted");
	q = good;
	q.head_offset = 1u << 20;
	cr_assert(!rc_outq_validate(&q, &cfg), "offset == head len accepted");
	q = good;
	rc_outq_drain(&q, &cfg, &al, noop_release, NULL);
	assert_drained(&q);
}

/* ---- randomized test against a reference model ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n) /* [0, n) */
{
	return (uint32_t)(rng() % n);
}

/* The model: a plain array, everything recomputed from scratch, written from the header's contract
 * rather than from rc_outq.c (no ring, no incremental conflation target, no chunking). */
typedef struct model {
	rc_msg **q;
	uint32_t n, offset, pinned;
	uint64_t bytes;
	uint32_t msgs_max, bytes_max;
	rc_msg **log; /* messages handed back by the operation in progress, in order */
	uint32_t nlog;
} model;

static void model_remove(model *md, uint32_t i)
{
	md->log[md->nlog++] = md->q[i];
	md->bytes -= md->q[i]->len;
	memmove(&md->q[i], &md->q[i + 1], (md->n - i - 1) * sizeof md->q[0]);
	md->n--;
}

/* An empty queue takes any message; a non-empty one only within both caps. */
static bool model_fits(const model *md, uint32_t len)
{
	return md->n == 0 || (md->n < md->msgs_max && md->bytes + len <= md->bytes_max);
}

static void model_append(model *md, rc_msg *m)
{
	md->q[md->n++] = m;
	md->bytes += m->len;
}

/* Returns the status; *queued says whether m went in. */
static enum rc_outq_status model_push(model *md, enum rc_outq_policy pol, rc_msg *m,
                                      bool alloc_fails, bool *queued)
{
	*queued = false;
	if (model_fits(md, m->len)) {
		if (md->n == 0 && alloc_fails)
			return RC_OUTQ_NOMEM;
		model_append(md, m);
		*queued = true;
		return RC_OUTQ_QUEUED;
	}
	if (pol == RC_OUTQ_DROP_NEWEST)
		return RC_OUTQ_DROPPED_NEWEST;
	if (pol == RC_OUTQ_DISCONNECT)
		return RC_OUTQ_OVERFLOW;
	uint32_t p = md->pinned > 0 ? md->pinned : (md->offset > 0 ? 1 : 0);
	uint64_t pb = 0;
	for (uint32_t i = 0; i < p; i++)
		pb += md->q[i]->len;
	/* room needs a protected message to go: with none protected, evicting all leaves an empty
	 * queue, which takes m */
	if (p + 1 > md->msgs_max || (p > 0 && pb + m->len > md->bytes_max))
		return RC_OUTQ_DROPPED_NEWEST;
	for (;;) {
		if (model_fits(md, m->len)) {
			model_append(md, m);
			*queued = true;
			return RC_OUTQ_DROPPED_OLDEST;
		}
		if (pol == RC_OUTQ_CONFLATE) {
			for (uint32_t j = md->n; j-- > p;) {
				if (md->q[j]->topic != m->topic)
					continue;
				if (md->bytes - md->q[j]->len + m->len <= md->bytes_max) {
					md->log[md->nlog++] = md->q[j];
					md->bytes = md->bytes - md->q[j]->len + m->len;
					md->q[j] = m;
					*queued = true;
					return RC_OUTQ_CONFLATED;
				}
				break; /* only the newest of the topic is a candidate */
			}
		}
		cr_assert_lt(p, md->n, "model: no progress possible");
		model_remove(md, p);
	}
}

static void model_pop_head(model *md)
{
	model_remove(md, 0);
	md->offset = 0;
}

static void check_same(const rc_outq *q, const rc_outq_cfg *cfg, const model *md, const talloc *a,
                       rc_msg *const *got, uint32_t ngot, uint64_t op)
{
	cr_assert(rc_outq_validate(q, cfg), "op %llu: validate", (unsigned long long)op);
	cr_assert_eq(ngot, md->nlog, "op %llu: %u messages handed back, model %u",
	             (unsigned long long)op, ngot, md->nlog);
	for (uint32_t i = 0; i < ngot; i++)
		cr_assert_eq(got[i], md->log[i], "op %llu: handed back #%u is id %llu, model id %llu",
		             (unsigned long long)op, i, (unsigned long long)got[i]->seq,
		             (unsigned long long)md->log[i]->seq);
	cr_assert_eq(rc_outq_count(q), md->n, "op %llu: count %u, model %u", (unsigned long long)op,
	             rc_outq_count(q), md->n);
	cr_assert_eq(rc_outq_bytes(q), md->bytes, "op %llu", (unsigned long long)op);
	cr_assert_eq(rc_outq_head_offset(q), md->offset, "op %llu: offset %u, model %u",
	             (unsigned long long)op, rc_outq_head_offset(q), md->offset);
	cr_assert_eq(q->pinned, md->pinned, "op %llu", (unsigned long long)op);
	for (uint32_t i = 0; i < md->n; i++)
		cr_assert_eq(rc_outq_peek(q, cfg, i), md->q[i], "op %llu: position %u",
		             (unsigned long long)op, i);
	cr_assert_eq(a->gets - a->puts, md->n > 0 ? 1u : 0u, "op %llu: storage held %u, queue %s",
	             (unsigned long long)op, a->gets - a->puts, md->n > 0 ? "non-empty" : "empty");
}

typedef struct collector {
	rc_msg **got;
	uint32_t n;
} collector;

static void collect_release(void *ctx, rc_msg *m)
{
	collector *c = ctx;
	c->got[c->n++] = m;
}

typedef struct model_stats {
	uint64_t status[RC_OUTQ_STATUS_COUNT];
	uint64_t more, pins, partial, drains;
	uint64_t at_msg_cap, at_byte_cap; /* pushes onto a queue full by count, by bytes */
	uint64_t fallback;                /* DROP_OLDEST / CONFLATE that had to drop the new message */
	uint64_t evict_conflate;          /* CONFLATED after evicting older messages first */
	/* messages longer than bytes_max: queued into an empty queue, queued after evicting every
	 * queued message, dropped by DROP_OLDEST / CONFLATE because a protected message was left */
	uint64_t long_empty, long_evict, long_fallback;
} model_stats;

/* One randomized run: the queue under test, the model, and what they handed back. */
typedef struct run {
	rc_outq_cfg cfg;
	talloc a;
	rc_outq_alloc al;
	rc_outq q;
	model md;
	rc_msg **got; /* what the queue handed back in the operation in progress */
	uint32_t ngot;
	rc_msg *msgs; /* every message ever pushed, msgs[id].seq == id */
	uint32_t nmsgs;
	uint8_t *returned;    /* times each message was handed back */
	uint8_t *queued_ever; /* whether each message went in */
	bool backlog;         /* the phase fills the queue to its caps */
	model_stats st;
} run;

static void run_init(run *R, uint64_t seed, uint32_t msgs_max, uint32_t bytes_max, uint32_t ops)
{
	memset(R, 0, sizeof *R);
	rng_state = seed;
	R->cfg = cfg_of(msgs_max, bytes_max, RC_OUTQ_DROP_OLDEST);
	R->al = talloc_make(&R->a, &R->cfg);
	R->md = (model){ .msgs_max = msgs_max, .bytes_max = bytes_max };
	R->md.q = calloc(msgs_max, sizeof *R->md.q);
	R->md.log = calloc(msgs_max + 1, sizeof *R->md.log);
	R->got = calloc(msgs_max + 1, sizeof *R->got);
	R->msgs = calloc(ops, sizeof *R->msgs);
	R->returned = calloc(ops, 1);
	R->queued_ever = calloc(ops, 1);
	cr_assert(R->md.q && R->md.log && R->got && R->msgs && R->returned && R->queued_ever);
}

static void run_free(run *R)
{
	free(R->md.q);
	free(R->md.log);
	free(R->got);
	free(R->msgs);
	free(R->returned);
	free(R->queued_ever);
}

/* The length of the next message: mostly small, some large, 1% longer than the byte cap (which an
 * empty queue takes, and a non-empty one may make room for by evicting all). Every third phase of
 * 5000 operations sends only tiny messages, so that a ring with a large byte cap fills up by count
 * too (a long message now and then would empty it under drop-oldest and conflate). */
static uint32_t push_len(uint64_t op, uint32_t bytes_max)
{
	uint32_t kind = rnd(100);
	bool tiny = (op / 5000) % 3 == 2;
	if (tiny)
		return 1 + rnd(8);
	if (kind < 1)
		return bytes_max + 1 + rnd(10);
	if (kind < 10)
		return 1 + rnd(bytes_max);
	if (kind < 50)
		return 1 + rnd(8);
	return 1 + rnd(bytes_max / 8 + 1);
}

/* Push one new message (few topics, a random policy, sometimes a failing allocator) into both. */
static void step_push(run *R, uint64_t op)
{
	model_stats *st = &R->st;
	uint32_t len = push_len(op, R->cfg.bytes_max);
	rc_msg *m = &R->msgs[R->nmsgs];
	mk(m, R->nmsgs, len, rnd(5));
	R->nmsgs++;
	R->cfg.policy = (enum rc_outq_policy)rnd(RC_OUTQ_POLICY_COUNT);
	if (R->md.n == R->cfg.msgs_max)
		st->at_msg_cap++;
	else if (R->md.bytes + len > R->cfg.bytes_max && len <= R->cfg.bytes_max)
		st->at_byte_cap++;
	bool fail = rnd(50) == 0;
	R->a.fail_next = fail;
	bool mq;
	enum rc_outq_status want = model_push(&R->md, R->cfg.policy, m, fail, &mq);
	unsigned calls;
	rc_outq_result res = push_all(&R->q, &R->cfg, &R->al, m, R->got, &R->ngot, &calls);
	R->queued_ever[m->seq] = res.queued;
	R->a.fail_next = false;
	cr_assert_eq(res.queued, mq, "op %llu: queued %d, model %d", (unsigned long long)op, res.queued,
	             mq);
	if (calls > 1) {
		st->more++;
		cr_assert(want == RC_OUTQ_DROPPED_OLDEST || want == RC_OUTQ_CONFLATED);
		cr_assert(res.status == want ||
		                  (want == RC_OUTQ_DROPPED_OLDEST && res.status == RC_OUTQ_QUEUED),
		          "op %llu: last status %s, model %s", (unsigned long long)op,
		          status_name(res.status), status_name(want));
	} else {
		cr_assert_eq(res.status, want, "op %llu: status %s, model %s", (unsigned long long)op,
		             status_name(res.status), status_name(want));
	}
	st->status[want]++;
	if (want == RC_OUTQ_DROPPED_NEWEST && R->cfg.policy != RC_OUTQ_DROP_NEWEST)
		st->fallback++;
	if (want == RC_OUTQ_CONFLATED && R->ngot > 1)
		st->evict_conflate++;
	if (len > R->cfg.bytes_max) {
		if (want == RC_OUTQ_QUEUED)
			st->long_empty++;
		else if (want == RC_OUTQ_DROPPED_OLDEST)
			st->long_evict++;
		else if (want == RC_OUTQ_DROPPED_NEWEST && R->cfg.policy != RC_OUTQ_DROP_NEWEST)
			st->long_fallback++;
	}
}

/* Copy out (consume) a few messages from the head, when no send is in flight. */
static void step_consume(run *R)
{
	model *md = &R->md;
	if (md->pinned != 0)
		return;
	uint32_t n = md->n ? rnd((R->backlog && md->n > 4 ? 4 : md->n) + 1) : 0;
	rc_outq_consume(&R->q, &R->cfg, &R->al, n, R->got);
	R->ngot = n;
	for (uint32_t i = 0; i < n; i++)
		model_pop_head(md);
}

/* Start a send by reference of up to 6 messages, when none is in flight. */
static void step_pin(run *R)
{
	model *md = &R->md;
	if (md->pinned != 0 || md->n == 0)
		return;
	uint32_t n = 1 + rnd(md->n < 6 ? md->n : 6);
	rc_outq_pin(&R->q, n);
	md->pinned = n;
	R->st.pins++;
}

/* A send completes: any byte count up to what it carried, often a whole number of messages,
 * sometimes 0. */
static void step_sent(run *R)
{
	model *md = &R->md;
	uint32_t lim = md->pinned > 0 ? md->pinned : md->n;
	if (R->backlog && lim > 6)
		lim = 6;
	uint64_t unsent = 0;
	for (uint32_t i = 0; i < lim; i++)
		unsent += md->q[i]->len;
	unsent -= md->offset;
	uint64_t sent;
	uint32_t how = rnd(4);
	if (how == 0 || unsent == 0)
		sent = 0;
	else if (how == 1)
		sent = unsent;
	else
		sent = rng() % (unsent + 1);
	R->ngot = rc_outq_sent(&R->q, &R->cfg, &R->al, sent, R->got, lim);
	uint64_t left = sent;
	while (left > 0) {
		uint32_t rest = md->q[0]->len - md->offset;
		if (left < rest) {
			md->offset += (uint32_t)left;
			R->st.partial++;
			break;
		}
		left -= rest;
		model_pop_head(md);
	}
	md->pinned = 0;
}

/* Close: hand everything back, when no send is in flight. */
static void step_drain(run *R)
{
	if (R->md.pinned != 0)
		return;
	collector c = { R->got, 0 };
	uint32_t n = rc_outq_drain(&R->q, &R->cfg, &R->al, collect_release, &c);
	cr_assert_eq(n, c.n);
	R->ngot = c.n;
	while (R->md.n > 0)
		model_pop_head(&R->md);
	R->st.drains++;
}

/* What the operation handed back: each message at most once, ever. */
static void record_returned(run *R, uint64_t op)
{
	for (uint32_t i = 0; i < R->ngot; i++) {
		uint64_t id = R->got[i]->seq;
		cr_assert_lt(id, R->nmsgs);
		cr_assert_eq(R->returned[id], 0, "op %llu: id %llu handed back twice",
		             (unsigned long long)op, (unsigned long long)id);
		R->returned[id] = 1;
	}
}

/* One random operation. Phases of 2000 operations alternate between a balanced mix and a backlog
 * that fills the queue up to its caps (few, small consumes; rare drains). */
static void run_step(run *R, uint64_t op)
{
	static const uint32_t mix[2][4] = { { 550, 700, 820, 995 }, { 900, 920, 960, 999 } };
	R->ngot = 0;
	R->md.nlog = 0;
	R->backlog = (op / 2000) % 2 == 1;
	const uint32_t *cut = mix[R->backlog];
	uint32_t r = rnd(1000);
	if (r < cut[0])
		step_push(R, op);
	else if (r < cut[1])
		step_consume(R);
	else if (r < cut[2])
		step_pin(R);
	else if (r < cut[3])
		step_sent(R);
	else
		step_drain(R);
	record_returned(R, op);
	check_same(&R->q, &R->cfg, &R->md, &R->a, R->got, R->ngot, op);
}

/* Close the queue: everything left comes back once, and then every message that was ever queued
 * has been handed back exactly once, and no other. */
static void run_close(run *R)
{
	if (R->md.pinned > 0)
		rc_outq_sent(&R->q, &R->cfg, &R->al, 0, R->got, R->md.pinned);
	collector c = { R->got, 0 };
	rc_outq_drain(&R->q, &R->cfg, &R->al, collect_release, &c);
	cr_assert_eq(c.n, R->md.n);
	for (uint32_t i = 0; i < c.n; i++) {
		cr_assert_eq(R->got[i], R->md.q[i]);
		cr_assert_eq(R->returned[R->got[i]->seq], 0);
		R->returned[R->got[i]->seq] = 1;
	}
	for (uint32_t id = 0; id < R->nmsgs; id++)
		cr_assert_eq(R->returned[id], R->queued_ever[id], "id %u: queued %d, handed back %d", id,
		             R->queued_ever[id], R->returned[id]);
	cr_assert(rc_outq_empty(&R->q));
	cr_assert_eq(R->a.gets, R->a.puts);
	cr_assert_eq(R->a.nlive, 0u);
	assert_drained(&R->q);
}

/* Each shape must reach both caps, or it proves less than it claims; then add its counts. */
static void run_account(const run *R, model_stats *all)
{
	const model_stats *st = &R->st;
	uint32_t msgs_max = R->cfg.msgs_max, bytes_max = R->cfg.bytes_max;
	cr_assert_gt(st->at_msg_cap, 0u, "msgs_max %u bytes_max %u: message cap never reached",
	             msgs_max, bytes_max);
	/* (with one slot the byte cap can never be the one that binds: an empty queue always fits) */
	cr_assert(msgs_max == 1 || st->at_byte_cap > 0,
	          "msgs_max %u bytes_max %u: byte cap never reached", msgs_max, bytes_max);
	cr_log_info("shape %u/%u: pushes at message cap %llu, at byte cap %llu", msgs_max, bytes_max,
	            (unsigned long long)st->at_msg_cap, (unsigned long long)st->at_byte_cap);
	for (int i = 0; i < RC_OUTQ_STATUS_COUNT; i++)
		all->status[i] += st->status[i];
	all->more += st->more;
	all->pins += st->pins;
	all->partial += st->partial;
	all->drains += st->drains;
	all->fallback += st->fallback;
	all->evict_conflate += st->evict_conflate;
	all->long_empty += st->long_empty;
	all->long_evict += st->long_evict;
	all->long_fallback += st->long_fallback;
}

static void model_run(uint64_t seed, uint32_t msgs_max, uint32_t bytes_max, uint32_t ops,
                      model_stats *all)
{
	run R;
	run_init(&R, seed, msgs_max, bytes_max, ops);
	for (uint64_t op = 0; op < ops; op++)
		run_step(&R, op);
	run_close(&R);
	run_account(&R, all);
	run_free(&R);
}

Test(outq, randomized_against_model, .timeout = 240)
{
	/* 5 shapes x 40k operations: a single slot, a small ring where the message cap rules, two
	 * byte-capped rings (the second holds enough tiny messages that one push often needs more than
	 * RC_OUTQ_DROPPED_MAX evictions), and the default message cap */
	static const struct {
		uint32_t msgs_max, bytes_max;
	} shapes[] = { { 1, 64 }, { 8, 4096 }, { 64, 300 }, { 256, 2048 }, { 1024, 1u << 14 } };
	model_stats st;
	memset(&st, 0, sizeof st);
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		model_run(0xC0FFEE + s, shapes[s].msgs_max, shapes[s].bytes_max, 40000, &st);
	/* the run must have reached every outcome, or it proves less than it claims */
	for (int i = 0; i < RC_OUTQ_STATUS_COUNT; i++)
		cr_assert_gt(st.status[i], 0u, "status %s never happened", status_name(i));
	cr_assert_gt(st.more, 0u, "no push needed several calls");
	cr_assert_gt(st.partial, 0u, "no partial send");
	cr_assert_gt(st.drains, 0u);
	cr_assert_gt(st.fallback, 0u, "protection never forced a drop of the new message");
	cr_assert_gt(st.evict_conflate, 0u, "no conflation needed evictions first");
	cr_assert_gt(st.long_empty, 0u, "no message longer than bytes_max found an empty queue");
	cr_assert_gt(st.long_evict, 0u, "no message longer than bytes_max evicted a whole queue");
	cr_assert_gt(st.long_fallback, 0u, "no message longer than bytes_max met a protected one");
	cr_log_info(
	        "model: queued %llu newest %llu oldest %llu conflated %llu overflow %llu nomem %llu "
	        "more %llu partial %llu fallback %llu evict+conflate %llu long: into empty %llu, "
	        "after evictions %llu, dropped by protection %llu",
	        (unsigned long long)st.status[0], (unsigned long long)st.status[1],
	        (unsigned long long)st.status[2], (unsigned long long)st.status[3],
	        (unsigned long long)st.status[4], (unsigned long long)st.status[5],
	        (unsigned long long)st.more, (unsigned long long)st.partial,
	        (unsigned long long)st.fallback, (unsigned long long)st.evict_conflate,
	        (unsigned long long)st.long_empty, (unsigned long long)st.long_evict,
	        (unsigned long long)st.long_fallback);
}

/* Conflation on demand: the newest unprotected message of the topic is replaced in place; a
 * protected one (in a send) is not, and neither is one whose replacement would break the byte cap.
 */
Test(outq, replace_on_demand)
{
	rc_outq_cfg cfg = cfg_of(8, 100, RC_OUTQ_DROP_OLDEST);
	talloc a;
	rc_outq_alloc al = talloc_make(&a, &cfg);
	rc_outq q = { 0 };
	rc_msg m[8], *out[8];
	mk(&m[0], 0, 10, 1);
	mk(&m[1], 1, 10, 2);
	mk(&m[2], 2, 10, 1);
	mk(&m[3], 3, 20, 1); /* replaces m[2] */
	mk(&m[4], 4, 10, 3); /* no topic 3 queued */
	mk(&m[5], 5, 80, 2); /* would make 130 bytes: not in place of m[1] */
	push_expect(&q, &cfg, &al, &m[0], RC_OUTQ_QUEUED, NULL, 0);
	push_expect(&q, &cfg, &al, &m[1], RC_OUTQ_QUEUED, NULL, 0);
	push_expect(&q, &cfg, &al, &m[2], RC_OUTQ_QUEUED, NULL, 0);
	cr_assert_eq(rc_outq_replace(&q, &cfg, &m[3]), &m[2], "the newest of topic 1");
	expect_contents(&q, &cfg, (rc_msg *[]){ &m[0], &m[1], &m[3] }, 3);
	cr_assert_null(rc_outq_replace(&q, &cfg, &m[4]));
	cr_assert_null(rc_outq_replace(&q, &cfg, &m[5]));
	expect_contents(&q, &cfg, (rc_msg *[]){ &m[0], &m[1], &m[3] }, 3);
	/* in a send: m[0] and m[1] are protected, m[3] is not */
	rc_outq_pin(&q, 2);
	mk(&m[6], 6, 5, 2);
	cr_assert_null(rc_outq_replace(&q, &cfg, &m[6]), "m[1] is in the send");
	mk(&m[7], 7, 5, 1);
	cr_assert_eq(rc_outq_replace(&q, &cfg, &m[7]), &m[3]);
	expect_contents(&q, &cfg, (rc_msg *[]){ &m[0], &m[1], &m[7] }, 3);
	cr_assert_eq(rc_outq_sent(&q, &cfg, &al, 20, out, 8), 2u);
	rc_outq_consume(&q, &cfg, &al, 1, out);
	assert_drained(&q);
	cr_assert_eq(a.nlive, 0u);
}
