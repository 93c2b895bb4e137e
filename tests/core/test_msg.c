/* Tests of rc_msg: descriptor lifetimes and the buffer references they hold, the chains of live
 * messages per buffer, slab exhaustion, promotion out of receive buffers (dead messages skipped,
 * frames byte-identical after the move, the arena rolling over, -ENOBUFS midway leaving everything
 * consistent), contract violations aborting, and a random sequence checked against a model of every
 * message's bytes and every buffer's refcount. rc_msgs_validate (which also validates the pool)
 * runs after every operation.
 *
 * Large messages, whose frame starts in a chain's head and goes on over its chain (rc_pool.h,
 * "Chains"): from every offset of the head over 1 to 4 buffers, the reference on the head only,
 * rc_msg_copy of every length from every offset, two messages on one chain keeping it until both
 * are gone, validate holding a frame to its chain, and frames past their chain aborting. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_msg.h"
#include "rc_pool.h"

#define VALID(s) cr_assert(rc_msgs_validate(s), "rc_msgs_validate failed (line %d)", __LINE__)

/* A pool over a page-aligned region followed by a PROT_NONE page, and a slab on it. */
typedef struct fixture {
	uint8_t *map;
	size_t map_len;
	rc_pool pool;
	rc_msgs msgs;
} fixture;

static void fx_init(fixture *f, size_t buf_size, uint32_t nbufs, uint32_t nmsgs)
{
	size_t body = (buf_size * nbufs + 4095) & ~(size_t)4095;
	f->map_len = body + 4096;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(f->map, MAP_FAILED);
	cr_assert_eq(mprotect(f->map + body, 4096, PROT_NONE), 0);
	/* the region ends at the guard page, so a copy that runs past the last buffer faults */
	uint8_t *base = f->map + body - buf_size * nbufs;
	cr_assert_eq(rc_pool_init(&f->pool, base, buf_size, nbufs), 0);
	cr_assert_eq(rc_msgs_init(&f->msgs, &f->pool, nmsgs), 0);
	VALID(&f->msgs);
}

static void fx_fini(fixture *f)
{
	rc_msgs_fini(&f->msgs);
	rc_pool_fini(&f->pool);
	cr_assert_eq(munmap(f->map, f->map_len), 0);
}

/* Frame contents derived from a tag, so any message's bytes can be checked at any time. */
static uint8_t frame_byte(uint32_t tag, uint32_t i)
{
	return (uint8_t)(tag * 131u + i * 7u + (i >> 8) + 1u);
}

static void fill_frame(uint8_t *p, uint32_t len, uint32_t tag)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = frame_byte(tag, i);
}

static bool frame_is(const rc_msg *m, uint32_t tag)
{
	for (uint32_t i = 0; i < m->len; i++)
		if (m->frame[i] != frame_byte(tag, i))
			return false;
	return true;
}

/* A receive buffer as net/ has it after a recv: filled, one reference held by net/. */
static uint32_t recv_one(rc_pool *p)
{
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_recv_filled(p, b);
	return b;
}

static uint32_t chain_len(const rc_msgs *s, uint32_t buf)
{
	uint32_t n = 0;
	for (const rc_msg *m = s->buf_head[buf]; m != NULL; m = m->next_in_buf)
		n++;
	return n;
}

Test(msg, init_rejects_empty_slab)
{
	static uint8_t mem[4 * 256] __attribute__((aligned(256)));
	rc_pool p;
	rc_msgs s;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 4), 0);
	cr_assert_eq(rc_msgs_init(&s, &p, 0), -EINVAL);
	rc_msgs_fini(&s); /* harmless after a failed init */
	cr_assert_eq(rc_msgs_init(&s, &p, 1), 0);
	cr_assert(rc_msgs_validate(&s));
	rc_msgs_fini(&s);
	rc_pool_fini(&p);
}

Test(msg, new_ref_unref_lifetime)
{
	fixture f;
	fx_init(&f, 1024, 4, 8);
	uint32_t b = (uint32_t)rc_pool_alloc(&f.pool); /* a builder's buffer, refs 1 */
	uint8_t *frame = rc_pool_data(&f.pool, b) + 10;
	fill_frame(frame, 20, 5);
	rc_msg *m = rc_msg_new(&f.msgs, frame, 20, 7, 42, RC_MSG_V1);
	cr_assert_not_null(m);
	VALID(&f.msgs);
	cr_assert_eq(m->frame, frame);
	cr_assert_eq(m->len, 20);
	cr_assert_eq(m->refs, 1);
	cr_assert_eq(m->buf, b);
	cr_assert_eq(m->topic, 7);
	cr_assert_eq(m->seq, 42);
	cr_assert_eq(m->kind, RC_MSG_V1);
	cr_assert_eq(rc_pool_refs(&f.pool, b), 2);
	cr_assert(rc_msgs_buffer_live(&f.msgs, b));
	struct rc_msgs_stats st;
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.count, 8);
	cr_assert_eq(st.live, 1);

	rc_msg_ref(m); /* two queues */
	rc_msg_ref(m);
	cr_assert_eq(m->refs, 3);
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, m);
	rc_msg_unref(&f.msgs, m);
	cr_assert_eq(m->refs, 1);
	cr_assert_eq(rc_pool_refs(&f.pool, b), 2, "a message reference is not a buffer reference");
	cr_assert(frame_is(m, 5));
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, m);
	VALID(&f.msgs);
	cr_assert(!rc_msgs_buffer_live(&f.msgs, b));
	cr_assert_eq(rc_pool_refs(&f.pool, b), 1);
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.live, 0);
	rc_pool_unref(&f.pool, b);
	cr_assert_eq(rc_pool_kind(&f.pool, b), RC_BUF_FREE);
	VALID(&f.msgs);
	fx_fini(&f);
}

Test(msg, frames_at_the_edges_of_a_buffer)
{
	fixture f;
	fx_init(&f, 256, 3, 8);
	uint32_t b = (uint32_t)rc_pool_alloc(&f.pool);
	uint8_t *d = rc_pool_data(&f.pool, b);
	rc_msg *whole = rc_msg_new(&f.msgs, d, 256, 1, 1, RC_MSG_PLAIN);
	rc_msg *first = rc_msg_new(&f.msgs, d, 1, 1, 2, RC_MSG_PLAIN);
	rc_msg *last = rc_msg_new(&f.msgs, d + 255, 1, 1, 3, RC_MSG_PLAIN);
	cr_assert(whole && first && last);
	cr_assert_eq(chain_len(&f.msgs, b), 3);
	cr_assert_eq(rc_pool_refs(&f.pool, b), 4);
	VALID(&f.msgs);
	/* unlink from the middle, the head and the tail of the chain */
	rc_msg_unref(&f.msgs, first);
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, last);
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, whole);
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_refs(&f.pool, b), 1);
	rc_pool_unref(&f.pool, b);
	VALID(&f.msgs);
	fx_fini(&f);
}

Test(msg, buffer_goes_home_with_its_last_message)
{
	fixture f;
	fx_init(&f, 4096, 4, 16);
	/* a receive buffer: 6 messages, net/ lets go after parsing, then they die in a scrambled
	 * order; the buffer must stay held until exactly the last, then go back to the ring */
	uint32_t rb = recv_one(&f.pool);
	uint8_t *d = rc_pool_data(&f.pool, rb);
	rc_msg *m[6];
	for (uint32_t i = 0; i < 6; i++) {
		fill_frame(d + 100 * i, 90, i);
		m[i] = rc_msg_new(&f.msgs, d + 100 * i, 90, 3, i, RC_MSG_PLAIN);
		cr_assert_not_null(m[i]);
		VALID(&f.msgs);
	}
	cr_assert_eq(rc_pool_refs(&f.pool, rb), 7);
	rc_pool_unref(&f.pool, rb);
	VALID(&f.msgs);
	static const int order[6] = { 3, 0, 5, 1, 4, 2 };
	for (int k = 0; k < 6; k++) {
		struct rc_pool_stats st;
		rc_pool_stats(&f.pool, &st);
		cr_assert_eq(st.recv_held, 1);
		cr_assert_eq(st.recv_returned, 0, "went home with %d messages left", 6 - k);
		rc_msg_unref(&f.msgs, m[order[k]]);
		cr_assert_eq(rc_pool_refs(&f.pool, rb), (uint32_t)(5 - k));
		VALID(&f.msgs);
	}
	struct rc_pool_stats st;
	rc_pool_stats(&f.pool, &st);
	cr_assert_eq(st.recv_held, 0);
	cr_assert_eq(st.recv_returned, 1);
	uint32_t out[2];
	cr_assert_eq(rc_pool_take_returned_recv(&f.pool, out, 2), 1);
	cr_assert_eq(out[0], rb);

	/* a POOL buffer: the builder drops its hold first, the last message sends it home */
	uint32_t pb = (uint32_t)rc_pool_alloc(&f.pool);
	d = rc_pool_data(&f.pool, pb);
	for (uint32_t i = 0; i < 3; i++)
		m[i] = rc_msg_new(&f.msgs, d + 50 * i, 50, 1, i, RC_MSG_V1);
	rc_pool_unref(&f.pool, pb);
	rc_msg_ref(m[1]);
	rc_msg_unref(&f.msgs, m[0]);
	rc_msg_unref(&f.msgs, m[1]);
	rc_msg_unref(&f.msgs, m[2]);
	cr_assert_eq(rc_pool_kind(&f.pool, pb), RC_BUF_POOL, "freed under a live message");
	cr_assert_eq(rc_pool_refs(&f.pool, pb), 1);
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, m[1]);
	cr_assert_eq(rc_pool_kind(&f.pool, pb), RC_BUF_FREE);
	cr_assert_eq(rc_pool_free_count(&f.pool), 3);
	VALID(&f.msgs);
	fx_fini(&f);
}

Test(msg, slab_exhaustion_returns_null)
{
	fixture f;
	fx_init(&f, 256, 2, 8);
	uint32_t b = (uint32_t)rc_pool_alloc(&f.pool);
	uint8_t *d = rc_pool_data(&f.pool, b);
	rc_msg *m[8];
	for (uint32_t i = 0; i < 8; i++) {
		m[i] = rc_msg_new(&f.msgs, d + i, 1, 0, i, RC_MSG_PLAIN);
		cr_assert_not_null(m[i]);
		for (uint32_t j = 0; j < i; j++)
			cr_assert_neq(m[i], m[j]);
	}
	cr_assert_null(rc_msg_new(&f.msgs, d, 1, 0, 8, RC_MSG_PLAIN));
	cr_assert_null(rc_msg_new(&f.msgs, d, 1, 0, 9, RC_MSG_PLAIN));
	cr_assert_eq(rc_pool_refs(&f.pool, b), 9, "a failed new took a buffer reference");
	VALID(&f.msgs);
	struct rc_msgs_stats st;
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.slab_empty, 2);
	cr_assert_eq(st.live, 8);
	rc_msg_unref(&f.msgs, m[4]);
	rc_msg *again = rc_msg_new(&f.msgs, d + 100, 3, 0, 10, RC_MSG_PLAIN);
	cr_assert_eq(again, m[4], "the freed descriptor is the one reused");
	cr_assert_null(rc_msg_new(&f.msgs, d, 1, 0, 11, RC_MSG_PLAIN));
	VALID(&f.msgs);
	for (uint32_t i = 0; i < 8; i++)
		rc_msg_unref(&f.msgs, m[i]);
	rc_pool_unref(&f.pool, b);
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_free_count(&f.pool), 2);
	fx_fini(&f);
}

/* Lay out a receive buffer: n frames of varied lengths packed from the start, tags base + i. */
static uint32_t fill_recv(fixture *f, uint32_t rb, rc_msg **m, uint32_t n, uint32_t base_tag,
                          uint32_t (*len_of)(uint32_t))
{
	uint8_t *d = rc_pool_data(&f->pool, rb);
	uint32_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = len_of(i);
		cr_assert(off + len <= f->pool.buf_size, "fixture overflows the buffer");
		fill_frame(d + off, len, base_tag + i);
		m[i] = rc_msg_new(&f->msgs, d + off, len, 100 + i % 3, base_tag + i, (uint8_t)(i & 1));
		cr_assert_not_null(m[i]);
		off += len;
	}
	return off;
}

static uint32_t len_varied(uint32_t i)
{
	return 20 + (i * 37) % 180; /* 20..199 */
}

Test(msg, promote_moves_live_messages_byte_identical)
{
	enum {
		N = 30
	};
	fixture f;
	fx_init(&f, 4096, 16, 64);
	rc_arena a;
	rc_arena_init(&a, &f.pool);
	uint32_t rb = recv_one(&f.pool);
	rc_msg *m[N];
	fill_recv(&f, rb, m, N, 1000, len_varied);
	VALID(&f.msgs);
	/* every third message already dead (its subscribers took it) */
	bool dead[N] = { false };
	uint32_t live = 0, live_bytes = 0;
	for (uint32_t i = 0; i < N; i++) {
		if (i % 3 == 0) {
			rc_msg_unref(&f.msgs, m[i]);
			dead[i] = true;
		} else {
			rc_msg_ref(m[i]); /* a slow queue holds it too */
			live++;
			live_bytes += m[i]->len;
		}
	}
	rc_pool_unref(&f.pool, rb); /* net/ is done parsing */
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_refs(&f.pool, rb), live);

	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), (int)live);
	VALID(&f.msgs);
	/* the receive buffer is free of messages and back on the ring's list at once */
	cr_assert(!rc_msgs_buffer_live(&f.msgs, rb));
	cr_assert_eq(rc_pool_refs(&f.pool, rb), 0);
	uint32_t out[4];
	cr_assert_eq(rc_pool_take_returned_recv(&f.pool, out, 4), 1);
	cr_assert_eq(out[0], rb);
	/* the kernel reuses it: nothing may still point there */
	memset(rc_pool_data(&f.pool, rb), 0xEE, f.pool.buf_size);
	rc_pool_recv_filled(&f.pool, rb);

	for (uint32_t i = 0; i < N; i++) {
		if (dead[i])
			continue;
		cr_assert_eq(m[i]->refs, 2, "message %u refs changed", i);
		cr_assert_eq(m[i]->seq, 1000 + i);
		cr_assert_eq(m[i]->topic, 100 + i % 3);
		cr_assert_eq(m[i]->kind, i & 1);
		cr_assert_eq(m[i]->len, len_varied(i));
		cr_assert_neq(m[i]->buf, rb);
		cr_assert_eq(m[i]->buf, a.cur, "all fit in one arena buffer");
		cr_assert_eq(rc_pool_kind(&f.pool, m[i]->buf), RC_BUF_POOL);
		cr_assert(frame_is(m[i], 1000 + i), "message %u bytes differ after the move", i);
	}
	/* arena buffer: one reference per message plus the arena's own hold */
	cr_assert_eq(rc_pool_refs(&f.pool, a.cur), live + 1);
	cr_assert_eq(a.used, live_bytes);
	struct rc_msgs_stats st;
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.promoted_msgs, live);
	cr_assert_eq(st.promoted_bytes, live_bytes);

	/* promoting an empty buffer does nothing */
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), 0);
	VALID(&f.msgs);

	/* teardown: the arena buffer goes home when the arena and the last message let go */
	uint32_t ab = a.cur;
	rc_arena_release(&a);
	cr_assert_eq(a.cur, RC_POOL_NONE);
	VALID(&f.msgs);
	for (uint32_t i = 0; i < N; i++) {
		if (dead[i])
			continue;
		cr_assert_eq(rc_pool_kind(&f.pool, ab), RC_BUF_POOL);
		rc_msg_unref(&f.msgs, m[i]);
		rc_msg_unref(&f.msgs, m[i]);
		VALID(&f.msgs);
	}
	cr_assert_eq(rc_pool_kind(&f.pool, ab), RC_BUF_FREE);
	rc_pool_unref(&f.pool, rb);
	struct rc_pool_stats ps;
	rc_pool_stats(&f.pool, &ps);
	cr_assert_eq(ps.free, 15);
	cr_assert_eq(ps.recv_returned, 1);
	fx_fini(&f);
}

Test(msg, promote_while_net_still_holds_the_buffer)
{
	fixture f;
	fx_init(&f, 1024, 4, 16);
	rc_arena a;
	rc_arena_init(&a, &f.pool);
	uint32_t rb = recv_one(&f.pool);
	rc_msg *m[4];
	fill_recv(&f, rb, m, 4, 7, len_varied);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), 4);
	VALID(&f.msgs);
	/* net/'s own reference keeps it held; it goes back when net/ lets go */
	cr_assert_eq(rc_pool_refs(&f.pool, rb), 1);
	struct rc_pool_stats ps;
	rc_pool_stats(&f.pool, &ps);
	cr_assert_eq(ps.recv_held, 1);
	rc_pool_unref(&f.pool, rb);
	rc_pool_stats(&f.pool, &ps);
	cr_assert_eq(ps.recv_returned, 1);
	for (uint32_t i = 0; i < 4; i++) {
		cr_assert(frame_is(m[i], 7 + i));
		rc_msg_unref(&f.msgs, m[i]);
	}
	rc_arena_release(&a);
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_free_count(&f.pool), 3);
	fx_fini(&f);
}

static uint32_t len_100(uint32_t i)
{
	(void)i;
	return 100;
}

static uint32_t len_128(uint32_t i)
{
	(void)i;
	return 128;
}

Test(msg, arena_rolls_over)
{
	/* 256-byte buffers, 100-byte frames: two per arena buffer (56 bytes left, too few), so
	 * 5 frames need 3 arena buffers */
	fixture f;
	fx_init(&f, 256, 16, 32);
	rc_arena a;
	rc_arena_init(&a, &f.pool);
	rc_msg *m[8];
	uint32_t rb[3];
	for (int k = 0; k < 3; k++) {
		rb[k] = recv_one(&f.pool);
		fill_recv(&f, rb[k], m + 2 * k, k < 2 ? 2 : 1, 10 * (uint32_t)k, len_100);
		rc_pool_unref(&f.pool, rb[k]);
	}
	VALID(&f.msgs);
	uint32_t arena_bufs[3];
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb[k], &a), k < 2 ? 2 : 1);
		VALID(&f.msgs);
		arena_bufs[k] = a.cur;
		cr_assert_eq(a.used, k < 2 ? 200 : 100);
		cr_assert_eq(chain_len(&f.msgs, a.cur), k < 2 ? 2 : 1);
	}
	cr_assert(arena_bufs[0] != arena_bufs[1] && arena_bufs[1] != arena_bufs[2] &&
	          arena_bufs[0] != arena_bufs[2]);
	/* the arena has let go of the full ones: only their messages hold them */
	cr_assert_eq(rc_pool_refs(&f.pool, arena_bufs[0]), 2);
	cr_assert_eq(rc_pool_refs(&f.pool, arena_bufs[1]), 2);
	cr_assert_eq(rc_pool_refs(&f.pool, arena_bufs[2]), 2);
	for (int i = 0; i < 5; i++)
		cr_assert(frame_is(m[i], 10 * (uint32_t)(i / 2) + (uint32_t)(i % 2)), "message %d", i);

	/* frames that fill the rest of the arena buffer exactly stay in it */
	rc_arena_release(&a);
	uint32_t rhalf = recv_one(&f.pool);
	rc_msg *half[2];
	fill_recv(&f, rhalf, half, 2, 40, len_128);
	rc_pool_unref(&f.pool, rhalf);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rhalf, &a), 2);
	VALID(&f.msgs);
	cr_assert_eq(half[0]->buf, half[1]->buf, "an exact fit rolled over");
	cr_assert_eq(a.used, 256);
	cr_assert(frame_is(half[0], 40) && frame_is(half[1], 41));
	rc_msg_unref(&f.msgs, half[0]);
	rc_msg_unref(&f.msgs, half[1]);
	VALID(&f.msgs);

	/* a frame as large as a buffer fits a fresh one, nothing less */
	uint32_t rbig = recv_one(&f.pool);
	fill_frame(rc_pool_data(&f.pool, rbig), 256, 77);
	rc_msg *big = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, rbig), 256, 0, 0, RC_MSG_PLAIN);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rbig, &a), 1);
	VALID(&f.msgs);
	cr_assert_neq(big->buf, arena_bufs[2]);
	cr_assert_eq(big->frame, rc_pool_data(&f.pool, big->buf));
	cr_assert_eq(a.used, 256);
	cr_assert(frame_is(big, 77));
	/* a full arena rolls over on the next frame, however small */
	rc_pool_unref(&f.pool, rbig);
	uint32_t rsmall = recv_one(&f.pool);
	fill_frame(rc_pool_data(&f.pool, rsmall), 1, 78);
	rc_msg *small = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, rsmall), 1, 0, 0, RC_MSG_PLAIN);
	rc_pool_unref(&f.pool, rsmall);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rsmall, &a), 1);
	cr_assert_neq(small->buf, big->buf);
	cr_assert(frame_is(small, 78) && frame_is(big, 77));
	VALID(&f.msgs);

	rc_msg_unref(&f.msgs, big);
	rc_msg_unref(&f.msgs, small);
	for (int i = 0; i < 5; i++)
		rc_msg_unref(&f.msgs, m[i]);
	rc_arena_release(&a);
	VALID(&f.msgs);
	struct rc_pool_stats ps;
	rc_pool_stats(&f.pool, &ps);
	cr_assert_eq(ps.free, 10);
	cr_assert_eq(ps.pool_used, 0);
	cr_assert_eq(ps.recv_returned, 6);
	fx_fini(&f);
}

static uint32_t len_60(uint32_t i)
{
	(void)i;
	return 60;
}

Test(msg, promote_out_of_buffers_midway_stays_consistent)
{
	/* 8 buffers of 256: one receive buffer with 4 frames of 60 bytes; the arena already has 76
	 * bytes left (one frame) and no POOL buffer is free, so one message moves, then -ENOBUFS */
	fixture f;
	fx_init(&f, 256, 8, 32);
	rc_arena a;
	rc_arena_init(&a, &f.pool);
	/* an earlier promotion left the arena with 180 of 256 used */
	uint32_t r0 = recv_one(&f.pool);
	uint8_t *d0 = rc_pool_data(&f.pool, r0);
	fill_frame(d0, 180, 1);
	rc_msg *old = rc_msg_new(&f.msgs, d0, 180, 0, 0, RC_MSG_PLAIN);
	rc_pool_unref(&f.pool, r0);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, r0, &a), 1);
	cr_assert_eq(a.used, 180);
	uint32_t arena0 = a.cur;

	uint32_t rb = recv_one(&f.pool);
	rc_msg *m[4];
	fill_recv(&f, rb, m, 4, 50, len_60);
	rc_pool_unref(&f.pool, rb);
	int32_t held[8];
	uint32_t nheld = 0;
	for (int32_t b; (b = rc_pool_alloc(&f.pool)) >= 0;)
		held[nheld++] = b;
	cr_assert_eq(rc_pool_free_count(&f.pool), 0);
	VALID(&f.msgs);

	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), -ENOBUFS);
	VALID(&f.msgs);
	/* which message moved is the chain's business; exactly one did, into arena0 */
	uint32_t moved = 0, stayed = 0;
	for (int i = 0; i < 4; i++) {
		cr_assert(frame_is(m[i], 50 + (uint32_t)i), "message %d bytes", i);
		cr_assert_eq(m[i]->refs, 1);
		if (m[i]->buf == arena0)
			moved++;
		else if (m[i]->buf == rb)
			stayed++;
	}
	cr_assert_eq(moved, 1);
	cr_assert_eq(stayed, 3);
	cr_assert_eq(chain_len(&f.msgs, rb), 3);
	cr_assert_eq(rc_pool_refs(&f.pool, rb), 3);
	cr_assert_eq(a.cur, RC_POOL_NONE, "a failed roll-over leaves the arena empty");
	cr_assert_eq(rc_pool_refs(&f.pool, arena0), 2, "old + the moved one, no arena hold");
	struct rc_msgs_stats st;
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.promoted_msgs, 2);
	cr_assert_eq(st.promoted_bytes, 240);

	/* again with nothing free and an empty arena: nothing moves */
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), -ENOBUFS);
	VALID(&f.msgs);
	cr_assert_eq(chain_len(&f.msgs, rb), 3);

	/* memory comes back (the slow-consumer policy freed some): the rest moves */
	rc_pool_unref(&f.pool, (uint32_t)held[0]);
	cr_assert_eq(rc_msg_promote_buffer(&f.msgs, rb, &a), 3);
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_refs(&f.pool, rb), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert(frame_is(m[i], 50 + (uint32_t)i), "message %d bytes", i);
		cr_assert_neq(m[i]->buf, rb);
	}
	cr_assert(frame_is(old, 1));

	for (int i = 0; i < 4; i++)
		rc_msg_unref(&f.msgs, m[i]);
	rc_msg_unref(&f.msgs, old);
	rc_arena_release(&a);
	for (uint32_t i = 1; i < nheld; i++)
		rc_pool_unref(&f.pool, (uint32_t)held[i]);
	VALID(&f.msgs);
	cr_assert_eq(rc_pool_free_count(&f.pool), 6);
	fx_fini(&f);
}

/* Contract violations abort. */
static fixture death_fx;

Test(msg, frame_straddling_two_buffers_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	(void)rc_pool_alloc(&death_fx.pool);
	(void)rc_pool_alloc(&death_fx.pool);
	(void)rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, 0) + 200, 57, 0, 0, 0);
}

Test(msg, frame_past_the_region_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	(void)rc_pool_alloc(&death_fx.pool);
	(void)rc_pool_alloc(&death_fx.pool);
	(void)rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, 1) + 255, 2, 0, 0, 0);
}

Test(msg, frame_in_unheld_buffer_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	(void)rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, 1), 10, 0, 0, 0);
}

Test(msg, unref_of_dead_message_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	uint32_t b = (uint32_t)rc_pool_alloc(&death_fx.pool);
	rc_msg *m = rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, b), 10, 0, 0, 0);
	rc_msg_unref(&death_fx.msgs, m);
	rc_msg_unref(&death_fx.msgs, m);
}

Test(msg, ref_of_dead_message_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	uint32_t b = (uint32_t)rc_pool_alloc(&death_fx.pool);
	rc_msg *m = rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, b), 10, 0, 0, 0);
	rc_msg_unref(&death_fx.msgs, m);
	rc_msg_ref(m);
}

Test(msg, promote_of_pool_buffer_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 2, 4);
	rc_arena a;
	rc_arena_init(&a, &death_fx.pool);
	uint32_t b = (uint32_t)rc_pool_alloc(&death_fx.pool);
	(void)rc_msg_promote_buffer(&death_fx.msgs, b, &a);
}

Test(msg, validate_catches_corruption)
{
	fixture f;
	fx_init(&f, 256, 4, 8);
	uint32_t b = (uint32_t)rc_pool_alloc(&f.pool);
	uint8_t *d = rc_pool_data(&f.pool, b);
	rc_msg *m1 = rc_msg_new(&f.msgs, d, 10, 0, 0, 0);
	rc_msg *m2 = rc_msg_new(&f.msgs, d + 10, 10, 0, 1, 0);
	VALID(&f.msgs);

	m1->frame = d + 250; /* frame runs past its buffer */
	cr_assert(!rc_msgs_validate(&f.msgs));
	m1->frame = d;
	m2->prev_in_buf = m2; /* broken back link */
	cr_assert(!rc_msgs_validate(&f.msgs));
	m2->prev_in_buf = NULL;
	VALID(&f.msgs);
	f.pool.refs[b] = 1; /* fewer buffer references than messages (and the pool is fine) */
	cr_assert(rc_pool_validate(&f.pool));
	cr_assert(!rc_msgs_validate(&f.msgs));
	f.pool.refs[b] = 3;
	m1->buf = b + 1; /* on the wrong chain */
	cr_assert(!rc_msgs_validate(&f.msgs));
	m1->buf = b;
	f.msgs.live++;
	cr_assert(!rc_msgs_validate(&f.msgs));
	f.msgs.live--;
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, m1);
	rc_msg_unref(&f.msgs, m2);
	rc_pool_unref(&f.pool, b);
	VALID(&f.msgs);
	fx_fini(&f);
}

/* The random test's model: every live message's tag (its bytes) and refs; per buffer the reference
 * net/ holds while parsing a receive buffer. A buffer's refcount must then be exactly its live
 * messages + net/'s hold + the arena's hold, and an unreferenced POOL buffer must be free. */
enum {
	R_BUFS = 56,
	R_BUF_SIZE = 512,
	R_RING = 10,
	R_MSGS = 128,
	R_OPS = 100000
};

typedef struct model_msg {
	rc_msg *m;
	uint32_t tag;
	uint32_t refs;
} model_msg;

static model_msg live_msgs[R_MSGS];
static uint32_t n_live;
static uint32_t holds[R_BUFS]; /* 1 while net/ holds a receive buffer */

static void model_check(const fixture *f, const rc_arena *a, int op)
{
	cr_assert(rc_msgs_validate(&f->msgs), "op %d: rc_msgs_validate failed", op);
	uint32_t in_buf[R_BUFS] = { 0 };
	for (uint32_t i = 0; i < n_live; i++) {
		const model_msg *mm = &live_msgs[i];
		cr_assert_eq(mm->m->refs, mm->refs, "op %d: refs of tag %u", op, mm->tag);
		cr_assert(frame_is(mm->m, mm->tag), "op %d: bytes of tag %u", op, mm->tag);
		in_buf[mm->m->buf]++;
	}
	for (uint32_t b = 0; b < R_BUFS; b++) {
		uint32_t want = in_buf[b] + holds[b] + (b == a->cur);
		cr_assert_eq(rc_pool_refs(&f->pool, b), want, "op %d: buffer %u refs", op, b);
		cr_assert_eq(chain_len(&f->msgs, b), in_buf[b], "op %d: buffer %u chain", op, b);
		cr_assert_eq(rc_msgs_buffer_live(&f->msgs, b), in_buf[b] > 0);
		enum rc_buf_kind k = rc_pool_kind(&f->pool, b);
		if (want == 0)
			cr_assert_neq(k, RC_BUF_POOL, "op %d: unreferenced POOL buffer %u not freed", op, b);
		else
			cr_assert_neq(k, RC_BUF_FREE, "op %d: referenced buffer %u is free", op, b);
	}
	struct rc_msgs_stats st;
	rc_msgs_stats(&f->msgs, &st);
	cr_assert_eq(st.live, n_live, "op %d", op);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The kernel takes back every released receive buffer (and scribbles on it, so a message still
 * pointing there would show). */
static void reprovide(fixture *f, uint32_t max)
{
	uint32_t got[R_RING];
	uint32_t n = rc_pool_take_returned_recv(&f->pool, got, max);
	for (uint32_t j = 0; j < n; j++)
		memset(rc_pool_data(&f->pool, got[j]), 0xEE, R_BUF_SIZE);
}

/* The random test's state besides the model above. */
typedef struct rstate {
	fixture f;
	rc_arena a;
	uint32_t next_tag;
	uint64_t promoted, promote_failed;
} rstate;

/* A new message of len bytes at d, tagged, unless the slab is full (then rc_msg_new must fail). */
static void add_msg(rstate *R, uint8_t *d, uint32_t len, bool recv, int op)
{
	uint32_t tag = R->next_tag++;
	fill_frame(d, len, tag);
	rc_msg *m = rc_msg_new(&R->f.msgs, d, len, tag % 7, tag, recv ? (uint8_t)(tag & 1) : 0);
	if (n_live == R_MSGS) {
		cr_assert_null(m, "op %d", op);
	} else {
		cr_assert_not_null(m, "op %d", op);
		live_msgs[n_live++] = (model_msg){ .m = m, .tag = tag, .refs = 1 };
	}
}

/* A recv completes: net/ holds the buffer and parses messages out of it. */
static void step_recv(rstate *R, int op)
{
	fixture *f = &R->f;
	reprovide(f, R_RING);
	/* now every unreferenced receive buffer is with the kernel */
	uint32_t b = RC_POOL_NONE;
	for (uint32_t i = 0, start = (uint32_t)(rng() % R_BUFS); i < R_BUFS; i++) {
		uint32_t c = (start + i) % R_BUFS;
		if (rc_pool_kind(&f->pool, c) == RC_BUF_RECV && rc_pool_refs(&f->pool, c) == 0) {
			b = c;
			break;
		}
	}
	if (b == RC_POOL_NONE)
		return;
	rc_pool_recv_filled(&f->pool, b);
	holds[b] = 1;
	/* frames packed one after another, like a stream of small publishes */
	uint8_t *d = rc_pool_data(&f->pool, b);
	uint32_t off = 0, k = 1 + (uint32_t)(rng() % 6);
	for (uint32_t j = 0; j < k && off < R_BUF_SIZE; j++) {
		uint32_t room = R_BUF_SIZE - off;
		uint32_t len = 1 + (uint32_t)(rng() % (rng() % 4 ? 80 : R_BUF_SIZE));
		if (len > room)
			len = room;
		add_msg(R, d + off, len, true, op);
		off += len;
	}
	if (rng() % 2) { /* half the time net/ lets go at once */
		rc_pool_unref(&f->pool, b);
		holds[b] = 0;
	}
}

/* A slow path builds messages in a POOL buffer. */
static void step_slow_path(rstate *R, int op)
{
	int32_t bi = rc_pool_alloc(&R->f.pool);
	if (bi < 0)
		return;
	uint32_t b = (uint32_t)bi;
	uint8_t *d = rc_pool_data(&R->f.pool, b);
	uint32_t off = 0, k = 1 + (uint32_t)(rng() % 4);
	for (uint32_t j = 0; j < k && off < R_BUF_SIZE; j++) {
		uint32_t len = 1 + (uint32_t)(rng() % (R_BUF_SIZE - off));
		add_msg(R, d + off, len, false, op);
		off += len;
	}
	rc_pool_unref(&R->f.pool, b);
}

/* A queue takes one more reference to a live message. */
static void step_ref(void)
{
	if (n_live == 0)
		return;
	model_msg *mm = &live_msgs[rng() % n_live];
	rc_msg_ref(mm->m);
	mm->refs++;
}

/* A queue lets go of a message. */
static void step_unref(rstate *R)
{
	if (n_live == 0)
		return;
	uint32_t i = (uint32_t)(rng() % n_live);
	rc_msg_unref(&R->f.msgs, live_msgs[i].m);
	if (--live_msgs[i].refs == 0)
		live_msgs[i] = live_msgs[--n_live];
}

/* End of a loop iteration: net/ lets go of what it held, and promotes the messages still in
 * receive buffers. */
static void step_loop_end(rstate *R, int op)
{
	fixture *f = &R->f;
	for (uint32_t b = 0; b < R_BUFS; b++) {
		if (holds[b] && rng() % 2) {
			rc_pool_unref(&f->pool, b);
			holds[b] = 0;
		}
	}
	for (uint32_t b = 0; b < R_BUFS; b++) {
		if (rc_pool_kind(&f->pool, b) != RC_BUF_RECV || !rc_msgs_buffer_live(&f->msgs, b))
			continue;
		uint32_t before = chain_len(&f->msgs, b);
		int rc = rc_msg_promote_buffer(&f->msgs, b, &R->a);
		uint32_t after = chain_len(&f->msgs, b);
		if (rc >= 0) {
			cr_assert_eq((uint32_t)rc, before, "op %d", op);
			cr_assert_eq(after, 0);
			R->promoted += (uint32_t)rc;
		} else {
			cr_assert_eq(rc, -ENOBUFS, "op %d", op);
			R->promote_failed++;
			cr_assert_eq(rc_pool_free_count(&f->pool), 0, "op %d: -ENOBUFS with free buffers", op);
			R->promoted += before - after;
		}
		model_check(f, &R->a, op);
	}
}

static void random_step(rstate *R, int op)
{
	switch (rng() % 12) {
	case 0:
	case 1:
		step_recv(R, op);
		break;
	case 2:
		step_slow_path(R, op);
		break;
	case 3:
		step_ref();
		break;
	case 4:
	case 5:
	case 6:
	case 10:
	case 11:
		step_unref(R);
		break;
	case 7:
		step_loop_end(R, op);
		break;
	case 8: /* the kernel's buffers come back to the ring, a few at a time */
		reprovide(&R->f, (uint32_t)(rng() % R_RING));
		break;
	case 9:
		if (rng() % 16 == 0)
			rc_arena_release(&R->a);
		break;
	}
	model_check(&R->f, &R->a, op);
}

/* Drop everything: all POOL memory comes back, every receive buffer to the ring. */
static void random_drain(rstate *R)
{
	fixture *f = &R->f;
	while (n_live) {
		rc_msg_unref(&f->msgs, live_msgs[n_live - 1].m);
		if (--live_msgs[n_live - 1].refs == 0)
			n_live--;
	}
	for (uint32_t b = 0; b < R_BUFS; b++) {
		if (holds[b]) {
			rc_pool_unref(&f->pool, b);
			holds[b] = 0;
		}
	}
	rc_arena_release(&R->a);
	model_check(f, &R->a, R_OPS);
	uint32_t got[R_RING];
	(void)rc_pool_take_returned_recv(&f->pool, got, R_RING);
	struct rc_pool_stats ps;
	rc_pool_stats(&f->pool, &ps);
	cr_assert_eq(ps.free, R_BUFS - R_RING);
	cr_assert_eq(ps.recv_kernel, R_RING);
}

Test(msg, random_against_model)
{
	static rstate R;
	memset(&R, 0, sizeof R);
	fx_init(&R.f, R_BUF_SIZE, R_BUFS, R_MSGS);
	rc_arena_init(&R.a, &R.f.pool);
	uint32_t ring[R_RING];
	cr_assert_eq(rc_pool_lend_recv(&R.f.pool, R_RING, ring), 0);
	n_live = 0;
	memset(holds, 0, sizeof holds);
	rng_state = 31337;
	R.next_tag = 1;
	for (int op = 0; op < R_OPS; op++)
		random_step(&R, op);
	struct rc_msgs_stats st;
	rc_msgs_stats(&R.f.msgs, &st);
	cr_assert_eq(st.promoted_msgs, R.promoted);
	/* the mix is tuned so that the sequence runs through every path: promotions that succeed,
	 * the pool running dry midway, and the slab running out */
	cr_assert_gt(R.promote_failed, 100, "-ENOBUFS during promotion hit %llu times",
	             (unsigned long long)R.promote_failed);
	cr_assert_gt(st.slab_empty, 100, "slab empty %llu times", (unsigned long long)st.slab_empty);
	cr_assert_gt(R.promoted, 1000, "the sequence promoted only %llu messages",
	             (unsigned long long)R.promoted);
	random_drain(&R);
	fx_fini(&R.f);
}

Test(msg, arena_idle_lets_go_only_of_an_empty_buffer)
{
	fixture f;
	fx_init(&f, 256, 4, 8);
	rc_arena a;
	rc_arena_init(&a, &f.pool);
	cr_assert_not(rc_arena_idle(&a), "no buffer yet");
	uint8_t *p = rc_arena_alloc(&a, 100);
	cr_assert_not_null(p);
	uint32_t buf = a.cur;
	fill_frame(p, 100, 7);
	rc_msg *m = rc_msg_new(&f.msgs, p, 100, 0, 1, RC_MSG_PLAIN);
	cr_assert_not_null(m);
	cr_assert_not(rc_arena_idle(&a), "a live message is in it");
	cr_assert_eq(a.cur, buf);
	rc_msg_unref(&f.msgs, m);
	cr_assert(rc_arena_idle(&a), "only the arena holds it now");
	cr_assert_eq(a.cur, RC_POOL_NONE);
	cr_assert_eq(rc_pool_kind(&f.pool, buf), RC_BUF_FREE, "gone home");
	cr_assert_eq(rc_pool_free_count(&f.pool), 4);
	VALID(&f.msgs);
	/* and the arena starts afresh */
	cr_assert_not_null(rc_arena_alloc(&a, 10));
	rc_arena_release(&a);
	cr_assert_eq(rc_pool_free_count(&f.pool), 4);
	fx_fini(&f);
}

/* --- messages over chains ------------------------------------------------------------------- */

/* Hand the buffers out in an order where no buffer is followed by the one after it in memory, so
 * that a chain is never contiguous and a reader that runs on in memory instead of following the
 * chain reads wrong bytes (the stride must not divide the count). */
static void scramble(rc_pool *p)
{
	uint32_t n = p->count, stride = n % 3 ? 3 : 5;
	cr_assert(n % stride != 0 && n > stride + 1);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_geq(rc_pool_alloc(p), 0);
	for (uint32_t k = n; k-- > 0;) /* LIFO: the last wanted first */
		rc_pool_unref(p, (uint32_t)(((uint64_t)k * stride) % n));
	cr_assert(rc_pool_validate(p));
}

/* A large frame as net/ assembles one: len bytes (tag) at offset at of a fresh POOL buffer, on over
 * the chain rc_span_append grows for them. The builder holds the head's one reference. */
static uint32_t build_chained(fixture *f, uint32_t at, uint32_t len, uint32_t tag)
{
	static uint8_t bytes[16 * 1024];
	cr_assert_leq(len, sizeof bytes);
	int32_t h = rc_pool_alloc(&f->pool);
	cr_assert_geq(h, 0, "no buffer for a head");
	fill_frame(bytes, len, tag);
	cr_assert_eq(rc_span_append(&f->pool, (uint32_t)h, at, bytes, len), 0);
	return (uint32_t)h;
}

/* The frame of m, read through rc_msg_copy, is the one of this tag (frame_is reads m->frame as one
 * array, which a chained frame is not). */
static bool chained_frame_is(const fixture *f, const rc_msg *m, uint32_t tag)
{
	static uint8_t got[16 * 1024], exp[16 * 1024];
	cr_assert_leq(m->len, sizeof got);
	rc_msg_copy(&f->msgs, m, 0, got, m->len);
	fill_frame(exp, m->len, tag);
	return memcmp(got, exp, m->len) == 0;
}

static uint32_t chain_buffers(const rc_pool *p, uint32_t head)
{
	uint32_t n = 0;
	for (uint32_t b = head; b != RC_POOL_NONE; b = rc_pool_chain_next(p, b))
		n++;
	return n;
}

static void expect_no_chains(const fixture *f, int line)
{
	struct rc_pool_stats st;
	rc_pool_stats(&f->pool, &st);
	cr_assert(st.linked == 0 && st.chained == 0 && st.free == st.count,
	          "line %d: linked %u chained %u free %u of %u", line, st.linked, st.chained, st.free,
	          st.count);
	cr_assert(rc_msgs_validate(&f->msgs), "line %d: rc_msgs_validate failed", line);
}
#define NO_CHAINS(f) expect_no_chains(f, __LINE__)

/* A frame starting anywhere in its head and going on over 1 to 4 buffers: rc_msg_new takes a
 * reference on the head (the buffer of its first byte) and on nothing else; validate accepts it;
 * its span is chained exactly when it leaves the head; the builder lets go first and the chain
 * stays; the message's last unref sends the head and the whole chain home. */
Test(msg, chained_frame_from_every_offset)
{
	enum {
		B = 256
	};
	fixture f;
	fx_init(&f, B, 8, 8);
	scramble(&f.pool);
	for (uint32_t at = 0; at < B; at++) {
		/* ending at the head's last byte, one past, at the next buffer's end, one past, later */
		const uint32_t lens[] = { B - at, B - at + 1, 2 * B - at, 2 * B - at + 1, 3 * B + 17 };
		for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
			uint32_t len = lens[k], tag = at * 8 + (uint32_t)k;
			uint32_t head = build_chained(&f, at, len, tag);
			uint32_t nbufs = (at + len + B - 1) / B;
			cr_assert_eq(chain_buffers(&f.pool, head), nbufs, "at %u len %u", at, len);
			rc_msg *m = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head) + at, len, 3, tag,
			                       RC_MSG_PLAIN);
			cr_assert_not_null(m);
			VALID(&f.msgs);
			cr_assert_eq(m->buf, head, "at %u len %u: buffer %u", at, len, m->buf);
			cr_assert_eq(rc_pool_refs(&f.pool, head), 2);
			cr_assert(rc_msgs_buffer_live(&f.msgs, head));
			for (uint32_t b = rc_pool_chain_next(&f.pool, head); b != RC_POOL_NONE;
			     b = rc_pool_chain_next(&f.pool, b)) {
				cr_assert_eq(rc_pool_refs(&f.pool, b), 0, "a LINK buffer got a reference");
				cr_assert(!rc_msgs_buffer_live(&f.msgs, b), "a message on a LINK buffer");
			}
			rc_span s = rc_msg_span(&f.msgs, m);
			cr_assert_eq(rc_span_chained(&s), at + len > B, "at %u len %u", at, len);
			cr_assert_eq(s.len, len);
			cr_assert(chained_frame_is(&f, m, tag), "at %u len %u: bytes", at, len);

			rc_pool_unref(&f.pool, head); /* the builder is done */
			VALID(&f.msgs);
			cr_assert_eq(chain_buffers(&f.pool, head), nbufs, "the chain went with the builder");
			cr_assert_eq(rc_pool_free_count(&f.pool), 8 - nbufs);
			cr_assert(chained_frame_is(&f, m, tag));
			rc_msg_unref(&f.msgs, m);
			NO_CHAINS(&f);
		}
	}
	fx_fini(&f);
}

/* rc_msg_copy of every length from every offset of a chained frame (and of a frame that ends at
 * the last byte of its buffer, the fast path's edge) gives the frame's bytes, and writes nothing
 * past them. */
static void copy_everything(const fixture *f, const rc_msg *m, uint32_t tag)
{
	static uint8_t exp[4096], dst[4096 + 1];
	cr_assert_lt(m->len, sizeof exp);
	fill_frame(exp, m->len, tag);
	for (uint32_t off = 0; off <= m->len; off++) {
		for (uint32_t n = 0; n <= m->len - off; n++) {
			dst[n] = 0x5A;
			rc_msg_copy(&f->msgs, m, off, dst, n);
			cr_assert(memcmp(dst, exp + off, n) == 0, "copy of %u from %u differs", n, off);
			cr_assert_eq(dst[n], 0x5A, "copy of %u from %u wrote past", n, off);
		}
	}
}

Test(msg, chained_copy_every_offset_and_length)
{
	enum {
		B = 256
	};
	fixture f;
	fx_init(&f, B, 8, 8);
	scramble(&f.pool);
	/* from 200 in the head over 3 more buffers: boundaries at offsets 56, 312, 568 */
	uint32_t head = build_chained(&f, 200, 2 * B + 150, 11);
	rc_msg *m = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head) + 200, 2 * B + 150, 0, 0, 0);
	cr_assert_not_null(m);
	rc_pool_unref(&f.pool, head);
	cr_assert_eq(chain_buffers(&f.pool, head), 4);
	copy_everything(&f, m, 11);
	VALID(&f.msgs);
	rc_msg_unref(&f.msgs, m);
	NO_CHAINS(&f);

	/* one buffer, the frame ending at its last byte */
	head = build_chained(&f, 56, 200, 12);
	cr_assert_eq(chain_buffers(&f.pool, head), 1);
	m = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head) + 56, 200, 0, 0, 0);
	cr_assert_not_null(m);
	rc_pool_unref(&f.pool, head);
	copy_everything(&f, m, 12);
	cr_assert(frame_is(m, 12));
	rc_msg_unref(&f.msgs, m);
	NO_CHAINS(&f);
	fx_fini(&f);
}

/* Two messages on one chain (the plain payload and the v1 envelope of one publish, say, both
 * starting in the head and going on over its chain) hold it until both are gone, whichever goes
 * first; the chain's bytes stay as they were meanwhile. */
Test(msg, two_messages_share_one_chain)
{
	enum {
		B = 256
	};
	fixture f;
	fx_init(&f, B, 8, 8);
	scramble(&f.pool);
	for (int order = 0; order < 2; order++) {
		/* positions 10 .. 10 + 700 over 3 buffers; the second frame lies inside the first */
		uint32_t head = build_chained(&f, 10, 700, 21);
		uint8_t *d = rc_pool_data(&f.pool, head);
		rc_msg *a = rc_msg_new(&f.msgs, d + 10, 700, 1, 1, RC_MSG_V1);
		rc_msg *b = rc_msg_new(&f.msgs, d + 100, 600, 1, 1, RC_MSG_PLAIN);
		cr_assert(a && b);
		cr_assert_eq(a->buf, head);
		cr_assert_eq(b->buf, head);
		cr_assert_eq(chain_len(&f.msgs, head), 2);
		cr_assert_eq(rc_pool_refs(&f.pool, head), 3);
		VALID(&f.msgs);
		rc_pool_unref(&f.pool, head);
		rc_msg_ref(b); /* a queue holds b twice */
		static uint8_t exp[700], got[700];
		fill_frame(exp, 700, 21);

		rc_msg *first = order ? b : a, *second = order ? a : b;
		for (int i = 0; i < (first == b ? 2 : 1); i++)
			rc_msg_unref(&f.msgs, first);
		VALID(&f.msgs);
		cr_assert_eq(rc_pool_refs(&f.pool, head), 1);
		cr_assert_eq(chain_buffers(&f.pool, head), 3, "order %d: the chain went early", order);
		struct rc_pool_stats st;
		rc_pool_stats(&f.pool, &st);
		cr_assert_eq(st.linked, 2);
		cr_assert_eq(st.chained, 3);
		cr_assert_eq(chain_len(&f.msgs, head), 1);
		rc_msg_copy(&f.msgs, second, 0, got, second->len);
		cr_assert(memcmp(got, exp + (second == a ? 0 : 90), second->len) == 0, "order %d", order);

		for (int i = 0; i < (second == b ? 2 : 1); i++)
			rc_msg_unref(&f.msgs, second);
		NO_CHAINS(&f);
	}
	fx_fini(&f);
}

/* An empty slab refuses a chained frame as any other, taking no reference on the head. */
Test(msg, chained_frame_on_an_empty_slab)
{
	fixture f;
	fx_init(&f, 256, 8, 1);
	scramble(&f.pool);
	uint32_t head = build_chained(&f, 0, 1000, 5);
	rc_msg *m = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head), 1000, 0, 0, 0);
	cr_assert_not_null(m);
	cr_assert_null(rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head) + 1, 999, 0, 0, 0));
	cr_assert_eq(rc_pool_refs(&f.pool, head), 2);
	struct rc_msgs_stats st;
	rc_msgs_stats(&f.msgs, &st);
	cr_assert_eq(st.slab_empty, 1);
	VALID(&f.msgs);
	rc_pool_unref(&f.pool, head);
	rc_msg_unref(&f.msgs, m);
	NO_CHAINS(&f);
	fx_fini(&f);
}

/* validate holds a chained frame to its chain: a frame ending at the chain's last byte is fine,
 * one byte more is not. */
Test(msg, validate_catches_a_frame_past_its_chain)
{
	fixture f;
	fx_init(&f, 256, 8, 4);
	scramble(&f.pool);
	uint32_t head = build_chained(&f, 30, 600, 6); /* positions 30 .. 630 of 768 */
	rc_msg *m = rc_msg_new(&f.msgs, rc_pool_data(&f.pool, head) + 30, 600, 0, 0, 0);
	VALID(&f.msgs);
	m->len = 768 - 30;
	VALID(&f.msgs);
	m->len++;
	cr_assert(!rc_msgs_validate(&f.msgs), "a frame one byte past its chain");
	m->len = 600;
	m->frame = rc_pool_data(&f.pool, rc_pool_chain_next(&f.pool, head)) + 30;
	cr_assert(!rc_msgs_validate(&f.msgs), "a frame starting in a LINK buffer");
	m->frame = rc_pool_data(&f.pool, head) + 30;
	VALID(&f.msgs);
	rc_pool_unref(&f.pool, head);
	rc_msg_unref(&f.msgs, m);
	NO_CHAINS(&f);
	fx_fini(&f);
}

/* A frame longer than its chain, or starting in a LINK buffer (whose references are its head's),
 * aborts. */
Test(msg, chained_frame_longer_than_its_chain_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 8, 4);
	scramble(&death_fx.pool);
	uint32_t head = build_chained(&death_fx, 30, 600, 1); /* 3 buffers: up to 768 */
	(void)rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, head) + 30, 768 - 30 + 1, 0, 0,
	                 0);
}

Test(msg, frame_in_a_link_buffer_aborts, .signal = SIGABRT)
{
	fx_init(&death_fx, 256, 8, 4);
	scramble(&death_fx.pool);
	uint32_t head = build_chained(&death_fx, 0, 600, 1);
	uint32_t link = rc_pool_chain_next(&death_fx.pool, head);
	(void)rc_msg_new(&death_fx.msgs, rc_pool_data(&death_fx.pool, link), 10, 0, 0, 0);
}
