/* Tests of rc_xmsg (hand-offs between workers) and rc_interest (which workers want a topic).
 *
 * Single thread: layout (topic, payload, alignment, sizes), the arena rolling over buffers, holds
 * and the pool reference (a buffer goes home exactly when the arena has moved on and every holder
 * released), FORWARD records and the fields a hand-off carries, a message too long for a buffer (alone in a buffer, on over its chain,
 * released locally and remotely, refused over the chains' cap), an exhausted pool; interest bits set
 * and cleared on the 0 <-> 1 transitions of each bucket, per worker.
 *
 * The hammer, the way the server uses them: one owner thread builds rc_xmsgs for R receiver threads
 * (2, 3 and 7 on this 2-CPU machine, oversubscribed) and pushes each to every receiver through its
 * own SPSC mailbox; receivers check each message's bytes against a checksum, and release their
 * holds remotely, batched per buffer like net/rc_xfer.c; the owner collects the buffers that come
 * home and keeps building (the pool is small, so every buffer goes round many times). At the end,
 * after the owner drops the arena: every buffer is free again, the pool validates, each receiver
 * saw every message once and in order, and the remote frees add up. Every 1000th message is large:
 * its chain goes home through the remote path with its head. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_interest.h"
#include "rc_mailbox.h"
#include "rc_pool.h"
#include "rc_xmsg.h"

#define BUF 4096u

static uint8_t *region_map(size_t len)
{
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	return m;
}

typedef struct fixture {
	uint8_t *region;
	rc_pool pool;
	rc_xarena a;
	uint32_t count;
} fixture;

static void fx_init(fixture *f, uint32_t count)
{
	f->count = count;
	f->region = region_map((size_t)count * BUF);
	cr_assert_eq(rc_pool_init(&f->pool, f->region, BUF, count), 0);
	cr_assert_eq(rc_xarena_init(&f->a, &f->pool), 0);
}

static void fx_fini(fixture *f)
{
	rc_xarena_fini(&f->a);
	cr_assert(rc_pool_validate(&f->pool));
	cr_assert_eq(rc_pool_free_count(&f->pool), f->count, "every buffer home: %u of %u",
	             rc_pool_free_count(&f->pool), f->count);
	rc_pool_fini(&f->pool);
	munmap(f->region, (size_t)f->count * BUF);
}

static const uint8_t TOPIC[] = "ticks.AAPL";
#define TLEN (sizeof TOPIC - 1)

/* A PUBLISH of n bytes at p (plain memory) for `holders` receivers. */
static rc_xmsg *xpub(rc_xarena *a, bool text, const uint8_t *p, size_t n, uint32_t holders)
{
	rc_span payload = rc_span_bytes(p, n);
	return rc_xmsg_new(a, RC_XMSG_PUBLISH, text, TOPIC, TLEN, &payload, holders);
}

Test(xmsg, layout_and_content)
{
	fixture f;
	fx_init(&f, 4);
	uint8_t payload[100];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7);
	rc_xmsg *x = xpub(&f.a, true, payload, sizeof payload, 2);
	cr_assert_not_null(x);
	cr_assert_eq((uintptr_t)x % 8, 0);
	cr_assert_eq(x->kind, RC_XMSG_PUBLISH);
	cr_assert_eq(x->text, 1);
	cr_assert_eq(x->topic_len, TLEN);
	cr_assert_eq(x->len, sizeof payload);
	cr_assert_eq(x->seq, 0);
	cr_assert_eq(x->epoch, 0);
	cr_assert_eq(x->origin, RC_XMSG_NO_ORIGIN);
	cr_assert_eq(x->pub_ns, 0);
	cr_assert_arr_eq(rc_xmsg_topic(x), TOPIC, TLEN);
	cr_assert_arr_eq(rc_xmsg_payload(x), payload, sizeof payload);
	cr_assert_eq(rc_pool_kind(&f.pool, x->buf), RC_BUF_POOL);
	cr_assert_eq(rc_pool_refs(&f.pool, x->buf), 1, "one pool reference whatever the holds");
	cr_assert_eq(atomic_load(&f.a.holds[x->buf]), 3, "the arena's hold and two receivers'");
	rc_span empty = rc_span_bytes(payload, 0);
	rc_xmsg *y = rc_xmsg_new(&f.a, RC_XMSG_FORWARD, false, TOPIC, TLEN, &empty, 1);
	cr_assert_not_null(y);
	cr_assert_eq(y->buf, x->buf);
	cr_assert_eq((uint8_t *)y - (uint8_t *)x, (ptrdiff_t)rc_xmsg_size(TLEN, sizeof payload));
	cr_assert_eq(y->kind, RC_XMSG_FORWARD);
	cr_assert_eq(y->text, 0);
	cr_assert_eq(y->len, 0, "an empty payload is a message too");
	cr_assert_arr_eq(rc_xmsg_topic(y), TOPIC, TLEN);
	rc_xmsg_release(&f.a, x->buf, 2, true);
	rc_xmsg_release(&f.a, y->buf, 1, true);
	cr_assert_eq(rc_pool_kind(&f.pool, x->buf), RC_BUF_POOL, "the arena still holds it");
	fx_fini(&f);
}

Test(xmsg, sizes)
{
	cr_assert_eq(rc_xmsg_size(1, 0), 56);
	cr_assert_eq(rc_xmsg_size(8, 0), 56);
	cr_assert_eq(rc_xmsg_size(9, 0), 64);
	cr_assert_eq(rc_xmsg_size(3, 5), 56);
	cr_assert_eq(sizeof(rc_xmsg), 48);
}

Test(xmsg, rolls_over_and_buffers_go_home)
{
	fixture f;
	fx_init(&f, 4);
	uint8_t payload[1000] = { 0 };
	uint32_t first = RC_POOL_NONE, bufs[8];
	size_t per = BUF / rc_xmsg_size(TLEN, sizeof payload);
	for (size_t i = 0; i < per * 3; i++) {
		rc_xmsg *x = xpub(&f.a, false, payload, sizeof payload, 1);
		cr_assert_not_null(x, "message %zu", i);
		if (first == RC_POOL_NONE)
			first = x->buf;
		bufs[i / per] = x->buf;
		cr_assert_eq(x->buf, bufs[i / per], "a frame never straddles buffers");
		cr_assert_leq((uint8_t *)x + rc_xmsg_size(TLEN, sizeof payload),
		              rc_pool_data(&f.pool, x->buf) + BUF);
	}
	cr_assert_eq(rc_pool_free_count(&f.pool), 1);
	/* Release the first buffer's messages one by one: it goes home with the last. */
	for (size_t i = 0; i < per; i++) {
		cr_assert_eq(rc_pool_kind(&f.pool, bufs[0]), RC_BUF_POOL);
		rc_xmsg_release(&f.a, bufs[0], 1, true);
	}
	cr_assert_eq(rc_pool_kind(&f.pool, bufs[0]), RC_BUF_FREE);
	rc_xmsg_release(&f.a, bufs[1], (uint32_t)per, true);
	cr_assert_eq(rc_pool_kind(&f.pool, bufs[1]), RC_BUF_FREE);
	rc_xmsg_release(&f.a, bufs[2], (uint32_t)per, true);
	cr_assert_eq(rc_pool_kind(&f.pool, bufs[2]), RC_BUF_POOL, "current: the arena holds it");
	fx_fini(&f);
}

Test(xmsg, pool_empty)
{
	fixture f;
	fx_init(&f, 2);
	static uint8_t big[3000];
	uint32_t a = xpub(&f.a, false, big, sizeof big, 1)->buf;
	uint32_t b = xpub(&f.a, false, big, sizeof big, 1)->buf;
	cr_assert_neq(a, b);
	cr_assert_null(xpub(&f.a, false, big, sizeof big, 1), "no buffer left");
	struct rc_pool_stats st;
	rc_pool_stats(&f.pool, &st);
	cr_assert_eq(st.alloc_failed, 1);
	rc_xmsg_release(&f.a, a, 1, true);
	rc_xmsg_release(&f.a, b, 1, true);
	fx_fini(&f);
}

/* A hand-off too long for a buffer: alone in a buffer of its own, its payload on over the
 * buffer's chain, read back whole through the span; the last release (local or remote) sends the
 * whole chain home; no room in the chains' cap: NULL, nothing held. */
static void large_round(bool remote)
{
	fixture f;
	fx_init(&f, 6);
	static uint8_t big[2 * BUF + 777], back[sizeof big];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 13 + 5);
	rc_xmsg *small = xpub(&f.a, false, big, 100, 1); /* the arena's current buffer */
	rc_xmsg *x = xpub(&f.a, true, big, sizeof big, 2);
	cr_assert_not_null(x);
	cr_assert_neq(x->buf, small->buf, "not in the arena's buffer");
	cr_assert_eq((uint8_t *)x, rc_pool_data(&f.pool, x->buf), "at the start of its buffer");
	cr_assert_eq(x->len, sizeof big);
	cr_assert_eq(x->text, 1);
	cr_assert_arr_eq(rc_xmsg_topic(x), TOPIC, TLEN);
	rc_span sp = rc_xmsg_payload_span(&f.a, x);
	cr_assert(rc_span_chained(&sp));
	rc_span_copy(&sp, 0, back, sizeof back);
	cr_assert_arr_eq(back, big, sizeof big);
	struct rc_pool_stats st;
	rc_pool_stats(&f.pool, &st);
	cr_assert_eq(st.chained, 3, "head and two more for %zu bytes", sizeof big);
	cr_assert_eq(atomic_load(&f.a.holds[x->buf]), 2, "two receivers, no arena hold");
	rc_xmsg_release(&f.a, x->buf, 1, !remote);
	cr_assert_eq(rc_pool_free_count(&f.pool), 2);
	rc_xmsg_release(&f.a, x->buf, 1, !remote);
	if (remote)
		cr_assert_eq(rc_pool_collect_remote(&f.pool), 1, "the head comes home, with its chain");
	cr_assert_eq(rc_pool_free_count(&f.pool), 5);
	rc_pool_stats(&f.pool, &st);
	cr_assert_eq(st.chained, 0);
	rc_pool_set_chain_max(&f.pool, 2);
	cr_assert_null(xpub(&f.a, false, big, sizeof big, 1), "over the cap");
	cr_assert_eq(rc_pool_free_count(&f.pool), 5, "what it took went back");
	rc_xmsg_release(&f.a, small->buf, 1, true);
	fx_fini(&f);
}

Test(xmsg, large_goes_over_a_chain)
{
	large_round(false);
}

Test(xmsg, large_released_remotely)
{
	large_round(true);
}

Test(xmsg, remote_release_goes_through_the_remote_stack)
{
	fixture f;
	fx_init(&f, 2);
	static uint8_t big[3000];
	rc_xmsg *x = xpub(&f.a, false, big, sizeof big, 2);
	uint32_t buf = x->buf;
	/* The next one does not fit: the arena moves on, two receivers hold the first buffer. */
	rc_xmsg *y = xpub(&f.a, false, big, sizeof big, 1);
	cr_assert_neq(y->buf, buf);
	rc_xmsg_release(&f.a, y->buf, 1, true);
	rc_xmsg_release(&f.a, buf, 1, false);
	cr_assert_eq(rc_pool_collect_remote(&f.pool), 0, "one holder left");
	rc_xmsg_release(&f.a, buf, 1, false);
	cr_assert_eq(rc_pool_kind(&f.pool, buf), RC_BUF_POOL, "pending on the remote stack");
	cr_assert_eq(rc_pool_collect_remote(&f.pool), 1);
	cr_assert_eq(rc_pool_kind(&f.pool, buf), RC_BUF_FREE);
	fx_fini(&f);
}

/* --- interest ----------------------------------------------------------------------------- */

Test(interest, bits_follow_bucket_counts)
{
	rc_interest ix;
	rc_interest_local w0, w5;
	cr_assert_eq(rc_interest_init(&ix), 0);
	cr_assert_eq(rc_interest_local_init(&w0, &ix, 0), 0);
	cr_assert_eq(rc_interest_local_init(&w5, &ix, 5), 0);
	rc_interest_local bad;
	cr_assert_eq(rc_interest_local_init(&bad, &ix, RC_INTEREST_WORKERS_MAX), -EINVAL);
	uint32_t h = 0xabcd1234, same_bucket = 0xabcd0001, other = 0x12340000;
	cr_assert_eq(rc_interest_get(&ix, h), 0);
	rc_interest_add(&w0, h);
	cr_assert_eq(rc_interest_get(&ix, h), 1);
	cr_assert_eq(rc_interest_get(&ix, same_bucket), 1, "a bucket is the hash's high bits");
	cr_assert_eq(rc_interest_get(&ix, other), 0);
	rc_interest_add(&w0, same_bucket);
	rc_interest_add(&w5, h);
	cr_assert_eq(rc_interest_get(&ix, h), 1 | 1u << 5);
	rc_interest_del(&w0, h);
	cr_assert_eq(rc_interest_get(&ix, h), 1 | 1u << 5, "w0 still has a topic in the bucket");
	rc_interest_del(&w0, same_bucket);
	cr_assert_eq(rc_interest_get(&ix, h), 1u << 5);
	rc_interest_del(&w5, h);
	cr_assert_eq(rc_interest_get(&ix, h), 0);
	rc_interest_local_fini(&w0);
	rc_interest_local_fini(&w5);
	rc_interest_fini(&ix);
}

/* --- the hammer --------------------------------------------------------------------------- */

#define HAMMER_MSGS 200000u
#define RECV_MAX 8

typedef struct hammer {
	fixture f;
	uint32_t nrecv;
	rc_mailbox mb[RECV_MAX];
	_Atomic uint32_t done;  /* receivers finished */
	uint64_t sum[RECV_MAX]; /* checksums the receivers computed */
	uint64_t seen[RECV_MAX];
	bool in_order[RECV_MAX];
} hammer;

typedef struct rarg {
	hammer *h;
	uint32_t r;
} rarg;

/* Payload length of message seq: 8..207 bytes, and every 1000th one over two buffers long (a
 * large message, over a chain). */
#define HAMMER_LEN_MAX (2 * BUF + 300)
static uint32_t hammer_len(uint64_t seq)
{
	return seq % 1000 == 999 ? HAMMER_LEN_MAX : 8 + (uint32_t)(seq % 200);
}

static uint64_t mix(uint64_t seq)
{
	uint64_t z = seq * 0x9e3779b97f4a7c15u;
	return z ^ z >> 29;
}

static void *receiver(void *p)
{
	rarg *ra = p;
	hammer *h = ra->h;
	rc_mail recs[64];
	uint8_t body[HAMMER_LEN_MAX];
	uint64_t expect = 0, sum = 0;
	bool ok = true;
	while (expect < HAMMER_MSGS) {
		uint32_t k = rc_mailbox_pop_many(&h->mb[ra->r], recs, 64);
		if (k == 0) {
			sched_yield();
			continue;
		}
		uint32_t buf = RC_POOL_NONE, holds = 0;
		for (uint32_t i = 0; i < k; i++) {
			const rc_xmsg *x = (const rc_xmsg *)(uintptr_t)recs[i].a;
			uint64_t seq;
			rc_span sp = rc_xmsg_payload_span(&h->f.a, x);
			ok = ok && x->len <= sizeof body;
			if (!ok)
				break;
			rc_span_copy(&sp, 0, body, x->len);
			memcpy(&seq, body, sizeof seq);
			ok = ok && seq == expect && x->len == hammer_len(seq) && x->topic_len == TLEN &&
			     memcmp(rc_xmsg_topic(x), TOPIC, TLEN) == 0;
			for (uint32_t j = 8; j < x->len; j++)
				ok = ok && body[j] == (uint8_t)(seq + j);
			sum += mix(seq);
			expect++;
			if (x->buf != buf && holds > 0) {
				rc_xmsg_release(&h->f.a, buf, holds, false);
				holds = 0;
			}
			buf = x->buf;
			holds++;
		}
		rc_xmsg_release(&h->f.a, buf, holds, false);
	}
	h->sum[ra->r] = sum;
	h->seen[ra->r] = expect;
	h->in_order[ra->r] = ok;
	atomic_fetch_add(&h->done, 1);
	return NULL;
}

static void hammer_run(uint32_t nrecv)
{
	static hammer h;
	memset(&h, 0, sizeof h);
	h.nrecv = nrecv;
	fx_init(&h.f, 16); /* a small pool: every buffer goes round many times */
	for (uint32_t r = 0; r < nrecv; r++)
		cr_assert_eq(rc_mailbox_init(&h.mb[r], 1024), 0);
	pthread_t t[RECV_MAX];
	rarg args[RECV_MAX];
	for (uint32_t r = 0; r < nrecv; r++) {
		args[r] = (rarg){ .h = &h, .r = r };
		cr_assert_eq(pthread_create(&t[r], NULL, receiver, &args[r]), 0);
	}
	static uint8_t payload[HAMMER_LEN_MAX];
	uint64_t collected = 0, expect_sum = 0;
	for (uint64_t seq = 0; seq < HAMMER_MSGS; seq++) {
		uint32_t len = hammer_len(seq);
		memcpy(payload, &seq, 8);
		for (uint32_t j = 8; j < len; j++)
			payload[j] = (uint8_t)(seq + j);
		expect_sum += mix(seq);
		rc_xmsg *x;
		while ((x = xpub(&h.f.a, false, payload, len, nrecv)) == NULL) {
			collected += rc_pool_collect_remote(&h.f.pool);
			sched_yield();
		}
		rc_mail m = { .a = (uint64_t)(uintptr_t)x, .b = seq };
		for (uint32_t r = 0; r < nrecv; r++) {
			while (!rc_mailbox_push(&h.mb[r], &m)) {
				collected += rc_pool_collect_remote(&h.f.pool);
				sched_yield();
			}
		}
		if (seq % 64 == 0)
			collected += rc_pool_collect_remote(&h.f.pool);
	}
	for (uint32_t r = 0; r < nrecv; r++)
		pthread_join(t[r], NULL);
	collected += rc_pool_collect_remote(&h.f.pool);
	for (uint32_t r = 0; r < nrecv; r++) {
		cr_assert(h.in_order[r], "receiver %u saw a wrong or out-of-order message", r);
		cr_assert_eq(h.seen[r], HAMMER_MSGS);
		cr_assert_eq(h.sum[r], expect_sum, "receiver %u checksum", r);
		rc_mailbox_fini(&h.mb[r]);
	}
	struct rc_pool_stats st;
	rc_pool_stats(&h.f.pool, &st);
	cr_assert_eq(st.remote_frees, collected);
	cr_assert_gt(collected, 100, "buffers went round: %lu", (unsigned long)collected);
	fx_fini(&h.f); /* the arena's last buffer goes home; all 16 free */
}

/* One timeout for all three: with different .timeout values in one run, Criterion 2.4.1's runner
 * leaks 48 bytes (LeakSanitizer reports it in the Asan build). */
Test(xmsg_hammer, two_receivers, .timeout = 120)
{
	hammer_run(2);
}
Test(xmsg_hammer, three_receivers, .timeout = 120)
{
	hammer_run(3);
}
Test(xmsg_hammer, seven_receivers, .timeout = 120)
{
	hammer_run(7);
}

Test(xmsg, idle_lets_go_only_when_every_holder_released)
{
	fixture f;
	fx_init(&f, 2);
	cr_assert_not(rc_xarena_idle(&f.a), "no buffer yet");
	rc_xmsg *x = xpub(&f.a, false, NULL, 0, 2);
	uint32_t buf = x->buf;
	cr_assert_not(rc_xarena_idle(&f.a), "two receivers hold it");
	rc_xmsg_release(&f.a, buf, 1, false);
	cr_assert_not(rc_xarena_idle(&f.a), "one receiver holds it");
	rc_xmsg_release(&f.a, buf, 1, false);
	cr_assert_eq(rc_pool_collect_remote(&f.pool), 0, "the arena's hold keeps it");
	cr_assert(rc_xarena_idle(&f.a));
	cr_assert_eq(rc_pool_kind(&f.pool, buf), RC_BUF_FREE);
	cr_assert_eq(f.a.cur, RC_POOL_NONE);
	fx_fini(&f);
}
