/* Tests of rc_span: bytes over a pool buffer and on over its chain.
 *
 * Writing: rc_span_append of an object of 3.5 buffers in pieces of 1, 2, 3, 7, B - 1, B and B + 1
 * bytes (and all of them in turn), the object starting at every offset 0..B of its head (the room
 * a frame header leaves), the chain growing exactly as the bytes need it, each buffer's bytes
 * checked by walking the chain by hand; rc_span_append_span from chained spans into chains of the
 * same pool and of a pool with another buffer size, and from plain memory; appends refused by the
 * chains' cap or by the reserve keeping what fitted, the pool valid, the head's unref freeing all.
 *
 * Reading: rc_span_copy from every offset, over lengths that end just before, at and after each
 * boundary, into a destination whose next byte is checked untouched; rc_span_piece walks from
 * every offset, each piece exactly up to the end of its buffer and never across it;
 * rc_span_chained at the exact boundary; rc_span_bytes spans (no pool).
 *
 * UTF-8: every multi-byte sequence split across a buffer boundary at every split (valid), an
 * invalid byte right after a boundary, a sequence left open at the end of the span even when the
 * bytes that would close it follow in the chain (invalid), and a random comparison with the
 * contiguous validator.
 *
 * And contract violations abort: reading past a span's end or its chain's, appending past the
 * chain's end.
 *
 * Buffers are RC_POOL_BUF_MIN bytes, so every boundary is near; the pool hands them out in a
 * scrambled order, so no chain is contiguous in memory (a reader that runs on in memory instead of
 * following the chain reads wrong bytes), and its region ends at a PROT_NONE page. The pool
 * validates after every append. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_pool.h"
#include "rc_span.h"
#include "rc_test.h"
#include "rc_utf8.h"

#define B RC_POOL_BUF_MIN     /* the buffer size of most tests */
#define TOTAL (3 * B + B / 2) /* the object they write: 3.5 buffers */

#define VALID(p) cr_assert(rc_pool_validate(p), "rc_pool_validate failed (line %d)", __LINE__)

/* Hand the buffers out in an order where no buffer is followed by the one after it in memory (a
 * stride of 3, 5 or 7 through the indices), so that a chain is never contiguous and a reader that
 * runs on in memory instead of following the chain reads wrong bytes. */
static void scramble(rc_pool *p)
{
	uint32_t n = p->count, stride = n % 3 ? 3 : n % 5 ? 5 : 7;
	cr_assert(n % stride != 0 && n > stride + 1);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_geq(rc_pool_alloc(p), 0);
	/* the free stack is LIFO: push the last wanted first */
	for (uint32_t k = n; k-- > 0;)
		rc_pool_unref(p, (uint32_t)(((uint64_t)k * stride) % n));
	VALID(p);
}

/* A pool whose region ends where a PROT_NONE page begins, its buffers scrambled. */
typedef struct fixture {
	uint8_t *map;
	size_t map_len;
	rc_pool pool;
} fixture;

static void fx_init(fixture *f, size_t buf_size, uint32_t nbufs)
{
	size_t body = (buf_size * nbufs + 4095) & ~(size_t)4095;
	f->map_len = body + 4096;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(f->map, MAP_FAILED);
	cr_assert_eq(mprotect(f->map + body, 4096, PROT_NONE), 0);
	uint8_t *base = f->map + body - buf_size * nbufs;
	cr_assert_eq(rc_pool_init(&f->pool, base, buf_size, nbufs), 0);
	scramble(&f->pool);
}

static void fx_fini(fixture *f)
{
	rc_pool_fini(&f->pool);
	cr_assert_eq(munmap(f->map, f->map_len), 0);
}

/* The object's bytes: no period of 256 or 512, so a byte read from the wrong buffer, or from the
 * right buffer at the wrong place, differs. */
static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 8) * 17u + 3u);
}

static uint8_t want[8 * B];

static void init_want(void)
{
	for (size_t i = 0; i < sizeof want; i++)
		want[i] = pat(i);
}

#define ROOM 0xA5 /* what the head holds before the object: the header room, never written */

/* A fresh POOL buffer, its header room marked. */
static uint32_t new_head(rc_pool *p)
{
	int32_t h = rc_pool_alloc(p);
	cr_assert_geq(h, 0, "no buffer for a head");
	memset(rc_pool_data(p, (uint32_t)h), ROOM, p->buf_size);
	return (uint32_t)h;
}

/* The buffers of head's chain, head first; returns how many. */
static uint32_t chain_of(const rc_pool *p, uint32_t head, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t b = head; b != RC_POOL_NONE; b = rc_pool_chain_next(p, b)) {
		cr_assert_lt(n, max, "chain of %u longer than %u", head, max);
		out[n++] = b;
	}
	return n;
}

/* Buffers that positions [0, end) need: at least the head. */
static uint32_t bufs_for(const rc_pool *p, size_t end)
{
	return end <= p->buf_size ? 1 : (uint32_t)((end + p->buf_size - 1) / p->buf_size);
}

/* Without rc_span: the chain of head has exactly the buffers positions [0, at + len) need, its
 * header room [0, at) is untouched, and positions [at, at + len) hold src, walked buffer by buffer
 * by hand. */
static void expect_raw(const rc_pool *p, uint32_t head, size_t at, const uint8_t *src, size_t len,
                       int line)
{
	uint32_t bufs[16];
	uint32_t n = chain_of(p, head, bufs, 16);
	cr_assert_eq(n, bufs_for(p, at + len), "line %d: at %zu len %zu: %u buffers", line, at, len, n);
	cr_assert_eq(rc_pool_chain_tail(p, head), bufs[n - 1], "line %d: tail", line);
	for (size_t pos = 0; pos < at + len; pos++) {
		uint8_t got = rc_pool_data(p, bufs[pos / p->buf_size])[pos % p->buf_size];
		uint8_t exp = pos < at ? ROOM : src[pos - at];
		cr_assert_eq(got, exp, "line %d: at %zu len %zu: position %zu holds %#x, not %#x", line, at,
		             len, pos, got, exp);
	}
}
#define RAW(p, h, at, src, len) expect_raw(p, h, at, src, len, __LINE__)

/* Send head and its chain home: the free stack gains exactly its buffers, which are free and in
 * no chain, and the chain counters lose them. */
static void drop(rc_pool *p, uint32_t head)
{
	uint32_t bufs[16], n = chain_of(p, head, bufs, 16), free = rc_pool_free_count(p);
	struct rc_pool_stats before, after;
	rc_pool_stats(p, &before);
	cr_assert_eq(rc_pool_refs(p, head), 1);
	rc_pool_unref(p, head);
	VALID(p);
	rc_pool_stats(p, &after);
	cr_assert_eq(after.free, free + n, "%u buffers went home, not %u", after.free - free, n);
	cr_assert_eq(after.linked, before.linked - (n - 1));
	cr_assert_eq(after.chained, before.chained - (n > 1 ? n : 0));
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(rc_pool_kind(p, bufs[i]), RC_BUF_FREE, "buffer %u of the chain", i);
		cr_assert_eq(rc_pool_chain_next(p, bufs[i]), RC_POOL_NONE, "buffer %u still linked", i);
	}
}

/* The piece sizes of the first test; 0 means "each in turn". */
static const size_t pieces[] = { 1, 2, 3, 7, B - 1, B, B + 1, 0 };
#define NPIECES (sizeof pieces / sizeof pieces[0])

/* Write TOTAL bytes of want at position at of a new chain, piece bytes per append (0: cycling
 * through the sizes), checking after each append that the chain holds exactly the buffers the
 * bytes so far need, that an empty append changes nothing, and that the pool validates. */
static uint32_t write_object(rc_pool *p, size_t at, size_t piece)
{
	uint32_t head = new_head(p), bufs[16];
	size_t pos = at, off = 0;
	for (unsigned k = 0; off < TOTAL; k++) {
		size_t n = piece ? piece : pieces[k % (NPIECES - 1)];
		if (n > TOTAL - off)
			n = TOTAL - off;
		cr_assert_eq(rc_span_append(p, head, pos, want + off, n), 0, "at %zu piece %zu: off %zu",
		             at, piece, off);
		pos += n;
		off += n;
		cr_assert_eq(chain_of(p, head, bufs, 16), bufs_for(p, pos),
		             "at %zu piece %zu: chain after position %zu", at, piece, pos);
		cr_assert_eq(rc_span_append(p, head, pos, NULL, 0), 0);
		cr_assert_eq(chain_of(p, head, bufs, 16), bufs_for(p, pos),
		             "at %zu piece %zu: an empty append at %zu grew the chain", at, piece, pos);
		VALID(p);
	}
	return head;
}

/* Every piece size, every start in the head, the start at the very end of the head included (the
 * object then begins in the first LINK buffer). */
Test(span, append_every_piece_size_at_every_start)
{
	init_want();
	fixture f;
	fx_init(&f, B, 8);
	for (size_t k = 0; k < NPIECES; k++) {
		for (size_t at = 0; at <= B; at++) {
			uint32_t head = write_object(&f.pool, at, pieces[k]);
			RAW(&f.pool, head, at, want, TOTAL);
			drop(&f.pool, head);
		}
	}
	fx_fini(&f);
}

/* The lengths read from each offset: nothing, a little, up to and past a buffer, the rest. */
static const size_t lens[] = { 0, 1, 2, 3, 7, B - 1, B, B + 1, 2 * B + 5, SIZE_MAX };

/* Read the object at every offset: rc_span_copy of each length into a destination whose next byte
 * must stay untouched, and an rc_span_piece walk to the end, each piece exactly the rest of its
 * buffer (or of the span), at the right address, never across a buffer's end. */
static void read_everywhere(const rc_pool *p, uint32_t head, size_t at)
{
	rc_span s = rc_span_of(p, head, rc_pool_data(p, head) + at, TOTAL);
	cr_assert(rc_span_chained(&s));
	uint32_t bufs[16];
	chain_of(p, head, bufs, 16);
	static uint8_t dst[TOTAL + 1];
	for (size_t off = 0; off <= TOTAL; off++) {
		for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			size_t n = lens[i] == SIZE_MAX ? TOTAL - off : lens[i];
			if (n > TOTAL - off)
				continue;
			memset(dst, 0x5A, n + 1);
			rc_span_copy(&s, off, dst, n);
			cr_assert(memcmp(dst, want + off, n) == 0, "at %zu: copy of %zu from %zu differs", at,
			          n, off);
			cr_assert_eq(dst[n], 0x5A, "at %zu: copy of %zu from %zu wrote past", at, n, off);
		}
	}
	for (size_t start = 0; start < TOTAL; start++) {
		size_t off = start;
		rc_span_cursor cur = rc_span_cursor_start(&s);
		while (off < TOTAL) {
			const uint8_t *q = NULL, *qc = NULL;
			size_t n = rc_span_piece(&s, off, &q);
			size_t pos = at + off, in = pos % B;
			size_t exp = B - in < TOTAL - off ? B - in : TOTAL - off;
			cr_assert_eq(n, exp, "at %zu: piece at %zu is %zu bytes, not %zu", at, off, n, exp);
			cr_assert_eq(q, rc_pool_data(p, bufs[pos / B]) + in, "at %zu: piece at %zu", at, off);
			/* the same piece from the cursor the previous piece left, which is now on its buffer */
			cr_assert_eq(rc_span_piece_at(&s, off, &cur, &qc), n, "at %zu: cursor at %zu", at, off);
			cr_assert_eq(qc, q, "at %zu: cursor's piece at %zu", at, off);
			cr_assert(cur.index == pos / B && cur.buf == bufs[pos / B], "at %zu: cursor at %zu", at,
			          off);
			cr_assert_eq(rc_pool_index_of(p, q), rc_pool_index_of(p, q + n - 1),
			             "at %zu: piece at %zu crosses a buffer's end", at, off);
			cr_assert(memcmp(q, want + off, n) == 0, "at %zu: piece at %zu differs", at, off);
			off += n;
		}
	}
}

Test(span, read_back_from_every_offset)
{
	init_want();
	fixture f;
	fx_init(&f, B, 8);
	for (size_t at = 0; at < B; at++) {
		uint32_t head = write_object(&f.pool, at, 7);
		read_everywhere(&f.pool, head, at);
		VALID(&f.pool);
		drop(&f.pool, head);
	}
	fx_fini(&f);
}

/* A span ending at the last byte of its buffer is not chained, and its one piece is all of it;
 * one byte more is chained and its second piece is that byte, at the start of the next buffer. An
 * empty span is never chained, even one that starts at the end of its buffer. */
Test(span, chained_exactly_past_the_end_of_the_first_buffer)
{
	init_want();
	fixture f;
	fx_init(&f, B, 8);
	uint32_t head = new_head(&f.pool);
	cr_assert_eq(rc_span_append(&f.pool, head, 0, want, B + 1), 0);
	uint32_t link = rc_pool_chain_next(&f.pool, head);
	cr_assert_neq(link, RC_POOL_NONE);
	const uint8_t *d = rc_pool_data(&f.pool, head), *q;
	for (size_t at = 0; at < B; at++) {
		rc_span s = rc_span_of(&f.pool, head, d + at, B - at);
		cr_assert(!rc_span_chained(&s), "at %zu: %zu bytes to the end", at, B - at);
		cr_assert_eq(rc_span_piece(&s, 0, &q), B - at, "at %zu", at);
		cr_assert_eq(q, d + at);
		s = rc_span_of(&f.pool, head, d + at, B - at + 1);
		cr_assert(rc_span_chained(&s), "at %zu: %zu bytes, one past the end", at, B - at + 1);
		cr_assert_eq(rc_span_piece(&s, 0, &q), B - at, "at %zu", at);
		cr_assert_eq(rc_span_piece(&s, B - at, &q), 1, "at %zu", at);
		cr_assert_eq(q, rc_pool_data(&f.pool, link));
		cr_assert_eq(*q, want[B]);
		s = rc_span_of(&f.pool, head, d + at, 0);
		cr_assert(!rc_span_chained(&s));
		s = rc_span_of(&f.pool, head, d + at, 1);
		cr_assert(!rc_span_chained(&s));
	}
	rc_span end = rc_span_of(&f.pool, head, d + B, 0);
	cr_assert(!rc_span_chained(&end));
	uint8_t none;
	rc_span_copy(&end, 0, &none, 0);
	cr_assert(rc_span_utf8_valid(&end));
	drop(&f.pool, head);
	fx_fini(&f);
}

/* No pool: plain memory, all contiguous. Never chained; a piece is the whole rest from any offset;
 * copies read exactly the bytes asked for (the memory ends at a guard page). */
Test(span, plain_bytes)
{
	init_want();
	rc_guard g = rc_guard_copy(want, TOTAL);
	const uint8_t *mem = g.data;
	rc_span s = rc_span_bytes(mem, TOTAL);
	cr_assert_null(s.pool);
	cr_assert_eq(s.buf, RC_POOL_NONE);
	cr_assert(!rc_span_chained(&s), "plain memory of %u bytes", (unsigned)TOTAL);
	static uint8_t dst[TOTAL + 1];
	for (size_t off = 0; off < TOTAL; off++) {
		const uint8_t *q;
		cr_assert_eq(rc_span_piece(&s, off, &q), TOTAL - off);
		cr_assert_eq(q, mem + off);
		for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			size_t n = lens[i] == SIZE_MAX ? TOTAL - off : lens[i];
			if (n > TOTAL - off)
				continue;
			dst[n] = 0x5A;
			rc_span_copy(&s, off, dst, n);
			cr_assert(memcmp(dst, want + off, n) == 0, "copy of %zu from %zu", n, off);
			cr_assert_eq(dst[n], 0x5A);
		}
	}
	rc_span_copy(&s, TOTAL, dst, 0);
	rc_span empty = rc_span_bytes(NULL, 0);
	cr_assert(!rc_span_chained(&empty));
	rc_span_copy(&empty, 0, NULL, 0);
	cr_assert(rc_span_utf8_valid(&empty));
	rc_guard_free(&g);
}

/* Copy a chained span into chains: of the same pool, of a pool with twice the buffer size (the
 * source's pieces then land across the destination's boundaries, and the other way round), and
 * from plain memory; at every start in the destination's head, twice in a row, so that the second
 * copy starts wherever the first ended. An empty source changes nothing. */
static void append_span_everywhere(rc_pool *dp, const rc_span *src)
{
	for (size_t at = 0; at <= dp->buf_size; at++) {
		uint32_t head = new_head(dp);
		cr_assert_eq(rc_span_append_span(dp, head, at, src), 0, "at %zu", at);
		VALID(dp);
		RAW(dp, head, at, want, src->len);
		rc_span empty = rc_span_bytes(NULL, 0);
		cr_assert_eq(rc_span_append_span(dp, head, at + src->len, &empty), 0);
		RAW(dp, head, at, want, src->len);
		cr_assert_eq(rc_span_append_span(dp, head, at + src->len, src), 0, "at %zu, again", at);
		VALID(dp);
		static uint8_t twice[2 * TOTAL];
		memcpy(twice, want, src->len);
		memcpy(twice + src->len, want, src->len);
		RAW(dp, head, at, twice, 2 * src->len);
		drop(dp, head);
	}
}

Test(span, append_span_between_chains_and_pools)
{
	init_want();
	fixture small, big;
	fx_init(&small, B, 32);
	fx_init(&big, 2 * B, 12);
	/* sources that stay put while the destinations come and go: chains in each pool, one whose
	 * first piece is a single byte (it starts at its head's last byte), one whose last piece is
	 * (it ends 1 byte into a buffer); and plain memory */
	static const size_t small_at[] = { 100, B - 1, (4 * B + 1 - TOTAL) % B };
	uint32_t hs[3];
	rc_span from_small[3];
	for (size_t i = 0; i < 3; i++) {
		hs[i] = new_head(&small.pool);
		cr_assert_eq(rc_span_append(&small.pool, hs[i], small_at[i], want, TOTAL), 0);
		from_small[i] = rc_span_of(&small.pool, hs[i],
		                           rc_pool_data(&small.pool, hs[i]) + small_at[i], TOTAL);
		cr_assert(rc_span_chained(&from_small[i]));
	}
	const uint8_t *q;
	cr_assert_eq(rc_span_piece(&from_small[1], 0, &q), 1);
	cr_assert_eq(rc_span_piece(&from_small[2], TOTAL - 1, &q), 1);
	uint32_t hb = new_head(&big.pool);
	cr_assert_eq(rc_span_append(&big.pool, hb, 333, want, TOTAL), 0);
	rc_span from_big = rc_span_of(&big.pool, hb, rc_pool_data(&big.pool, hb) + 333, TOTAL);
	cr_assert(rc_span_chained(&from_big));
	rc_span from_bytes = rc_span_bytes(want, TOTAL);
	const rc_span *srcs[] = { &from_small[0], &from_small[1], &from_small[2], &from_big,
		                      &from_bytes };
	for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
		append_span_everywhere(&small.pool, srcs[i]);
		append_span_everywhere(&big.pool, srcs[i]);
	}
	/* reading never wrote */
	for (size_t i = 0; i < 3; i++) {
		RAW(&small.pool, hs[i], small_at[i], want, TOTAL);
		drop(&small.pool, hs[i]);
	}
	RAW(&big.pool, hb, 333, want, TOTAL);
	drop(&big.pool, hb);
	cr_assert_eq(rc_pool_free_count(&small.pool), 32);
	cr_assert_eq(rc_pool_free_count(&big.pool), 12);
	fx_fini(&small);
	fx_fini(&big);
}

/* Append until the cap or the reserve refuses, in one call or in pieces: the error is
 * rc_pool_chain_extend's, counted once per refused call; the bytes that fitted are written and the
 * chain holds exactly the buffers they fill; later appends at the end are refused too, having
 * written nothing; the pool validates, and the head's unref sends everything home. */
static void fill_until_refused(rc_pool *p, size_t at, size_t piece, int err, size_t fits)
{
	struct rc_pool_stats st;
	rc_pool_stats(p, &st);
	uint64_t refused = st.chain_refused;
	uint32_t free = rc_pool_free_count(p);
	uint32_t head = new_head(p);
	size_t pos = at, off = 0;
	int r = 0;
	while (off < 6 * B) {
		size_t n = piece < 6 * B - off ? piece : 6 * B - off;
		r = rc_span_append(p, head, pos, want + off, n);
		if (r < 0)
			break;
		pos += n;
		off += n;
	}
	cr_assert_eq(r, err, "at %zu piece %zu: %d", at, piece, r);
	rc_pool_stats(p, &st);
	cr_assert_eq(st.chain_refused, refused + 1, "at %zu piece %zu", at, piece);
	VALID(p);
	/* the refused call wrote its piece up to the end of the last buffer it could have */
	RAW(p, head, at, want, fits);
	cr_assert_eq(rc_span_append(p, head, at + fits, want + fits, 1), err);
	cr_assert_eq(rc_span_append(p, head, at + fits, NULL, 0), 0, "nothing to write, nothing asked");
	RAW(p, head, at, want, fits);
	drop(p, head);
	cr_assert_eq(rc_pool_free_count(p), free);
}

Test(span, append_refused_by_the_cap_keeps_what_fitted)
{
	init_want();
	fixture f;
	fx_init(&f, B, 16);
	rc_pool_set_chain_max(&f.pool, 3);
	static const size_t ats[] = { 0, 1, 100, B - 1, B };
	static const size_t ps[] = { 6 * B, 7, 1, B, B + 1 };
	for (size_t i = 0; i < sizeof ats / sizeof ats[0]; i++)
		for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++)
			fill_until_refused(&f.pool, ats[i], ps[k], -ENOSPC, 3 * B - ats[i]);
	/* another chain holding 2 of the cap of 3 leaves too little for a new chain, which needs 2 to
	 * start (itself and its first LINK buffer) */
	uint32_t other = new_head(&f.pool);
	cr_assert_eq(rc_span_append(&f.pool, other, 0, want, B + 1), 0);
	fill_until_refused(&f.pool, 5, 7, -ENOSPC, B - 5);
	drop(&f.pool, other);
	fx_fini(&f);
}

Test(span, append_refused_by_the_reserve_keeps_what_fitted)
{
	init_want();
	fixture f;
	fx_init(&f, B, 16);
	/* 16 buffers, a reserve of 12: the head and 3 LINK buffers, then -ENOBUFS */
	rc_pool_set_reserve(&f.pool, 12);
	static const size_t ats[] = { 0, 1, 100, B - 1, B };
	static const size_t ps[] = { 6 * B, 7, 1, B, B + 1 };
	for (size_t i = 0; i < sizeof ats / sizeof ats[0]; i++)
		for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++)
			fill_until_refused(&f.pool, ats[i], ps[k], -ENOBUFS, 4 * B - ats[i]);
	/* no reserve, but every other buffer in use: the head alone */
	rc_pool_set_reserve(&f.pool, 0);
	int32_t held[15];
	for (int i = 0; i < 15; i++)
		held[i] = rc_pool_alloc(&f.pool);
	fill_until_refused(&f.pool, 3, B + 1, -ENOBUFS, B - 3);
	for (int i = 0; i < 15; i++)
		rc_pool_unref(&f.pool, (uint32_t)held[i]);
	VALID(&f.pool);
	cr_assert_eq(rc_pool_free_count(&f.pool), 16);
	fx_fini(&f);
}

/* rc_span_append_span stops at the same refusal, with the same error. */
Test(span, append_span_refused_midway)
{
	init_want();
	fixture f;
	fx_init(&f, B, 16);
	uint32_t src = new_head(&f.pool);
	cr_assert_eq(rc_span_append(&f.pool, src, 50, want, TOTAL), 0);
	rc_span s = rc_span_of(&f.pool, src, rc_pool_data(&f.pool, src) + 50, TOTAL);
	rc_pool_set_chain_max(&f.pool, 4 + 3); /* the source's 4 and 3 more */
	uint32_t dst = new_head(&f.pool);
	cr_assert_eq(rc_span_append_span(&f.pool, dst, 10, &s), -ENOSPC);
	VALID(&f.pool);
	RAW(&f.pool, dst, 10, want, 3 * B - 10);
	RAW(&f.pool, src, 50, want, TOTAL);
	drop(&f.pool, dst);
	drop(&f.pool, src);
	fx_fini(&f);
}

/* A chain holding `len` bytes of text at position at of its head; the span over them. */
static rc_span text_span(rc_pool *p, uint32_t *head, size_t at, const uint8_t *text, size_t len)
{
	*head = new_head(p);
	cr_assert_eq(rc_span_append(p, *head, at, text, len), 0);
	return rc_span_of(p, *head, rc_pool_data(p, *head) + at, len);
}

static const struct {
	const char *s;
	size_t len;
} seqs[] = {
	{ "\xC2\x80", 2 },         /* U+0080, the first two-byte one */
	{ "\xC3\xA9", 2 },         /* é */
	{ "\xDF\xBF", 2 },         /* U+07FF */
	{ "\xE0\xA0\x80", 3 },     /* U+0800, the first three-byte one */
	{ "\xE2\x82\xAC", 3 },     /* € */
	{ "\xED\x9F\xBF", 3 },     /* U+D7FF, just below the surrogates */
	{ "\xEE\x80\x80", 3 },     /* U+E000, just above them */
	{ "\xEF\xBF\xBF", 3 },     /* U+FFFF */
	{ "\xF0\x90\x80\x80", 4 }, /* U+10000, the first four-byte one */
	{ "\xF0\x9D\x84\x9E", 4 }, /* 𝄞 */
	{ "\xF4\x8F\xBF\xBF", 4 }, /* U+10FFFF, the last */
};

/* Text that puts seq across the boundary after buffer `nth` of the chain (1: the head's end) with
 * `split` of its bytes before it: ASCII up to there, the sequence, more ASCII after. The span
 * starts at `at` in the head. Returns the text's length. */
static size_t split_text(uint8_t *t, size_t at, unsigned nth, const uint8_t *seq, size_t len,
                         size_t split)
{
	size_t before = nth * B - split - at, n = 0;
	for (size_t i = 0; i < before; i++)
		t[n++] = (uint8_t)('a' + i % 26);
	memcpy(t + n, seq, len);
	n += len;
	for (size_t i = 0; i < 9; i++)
		t[n++] = (uint8_t)('A' + i);
	return n;
}

/* Every sequence split across a boundary at every split point (0 and len: not split), the first
 * and the second boundary of the chain, the span starting at several places in the head, among
 * them right on the sequence's first byte: valid every time. */
Test(span, utf8_valid_across_every_split)
{
	fixture f;
	fx_init(&f, B, 8);
	static uint8_t t[4 * B];
	for (size_t q = 0; q < sizeof seqs / sizeof seqs[0]; q++) {
		const uint8_t *seq = (const uint8_t *)seqs[q].s;
		size_t len = seqs[q].len;
		cr_assert(rc_utf8_valid(seq, len), "sequence %zu is not valid UTF-8", q);
		for (unsigned nth = 1; nth <= 2; nth++) {
			for (size_t split = 0; split <= len; split++) {
				size_t starts[] = { 0, 1, 101, B - split - 1, B - split };
				for (size_t k = 0; k < 5; k++) {
					size_t at = starts[k];
					if (at >= B || at + split > nth * B)
						continue;
					size_t n = split_text(t, at, nth, seq, len, split);
					uint32_t head;
					rc_span s = text_span(&f.pool, &head, at, t, n);
					cr_assert(rc_span_utf8_valid(&s),
					          "sequence %zu split %zu/%zu at boundary %u, "
					          "span at %zu: rejected",
					          q, split, len, nth, at);
					/* the same with the span ending right after the sequence */
					s.len = nth * B - at - split + len;
					cr_assert(rc_span_utf8_valid(&s), "sequence %zu split %zu ending the span", q,
					          split);
					/* and cut inside it: left open */
					for (size_t cut = 1; cut < len; cut++) {
						s.len = nth * B - at - split + cut;
						cr_assert(!rc_span_utf8_valid(&s),
						          "sequence %zu split %zu cut after %zu bytes: accepted", q, split,
						          cut);
					}
					drop(&f.pool, head);
				}
			}
		}
	}
	fx_fini(&f);
}

/* One bad byte right after a boundary (the first byte of the next buffer), after ASCII or inside a
 * sequence the previous buffer began: rejected, whichever boundary, whichever start. */
Test(span, utf8_invalid_right_after_a_boundary)
{
	fixture f;
	fx_init(&f, B, 8);
	static const struct {
		const char *tail; /* the last bytes of the buffer before the boundary */
		size_t ntail;
		uint8_t bad; /* the first byte after it */
		const char *why;
	} cases[] = {
		{ "a", 1, 0x80, "a stray continuation byte" },
		{ "a", 1, 0xBF, "a stray continuation byte" },
		{ "a", 1, 0xC0, "0xC0 (overlong lead), not closed either" },
		{ "a", 1, 0xFF, "0xFF" },
		{ "a", 1, 0xF5, "0xF5 (above U+10FFFF)" },
		{ "\xC3", 1, 'A', "ASCII where a continuation byte was due" },
		{ "\xC3", 1, 0xC3, "a lead where a continuation byte was due" },
		{ "\xE0", 1, 0x80, "an overlong three-byte form" },
		{ "\xE0", 1, 0x9F, "an overlong three-byte form" },
		{ "\xED", 1, 0xA0, "a surrogate" },
		{ "\xED", 1, 0xBF, "a surrogate" },
		{ "\xF0", 1, 0x8F, "an overlong four-byte form" },
		{ "\xF4", 1, 0x90, "above U+10FFFF" },
		{ "\xE2\x82", 2, 'x', "ASCII as the third byte of three" },
		{ "\xF0\x9D\x84", 3, 0xC3, "a lead as the fourth byte of four" },
	};
	static uint8_t t[4 * B];
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		for (unsigned nth = 1; nth <= 3; nth++) {
			static const size_t starts[] = { 0, 7, B - 4 };
			for (size_t k = 0; k < 3; k++) {
				size_t at = starts[k], n = 0;
				for (; n < nth * B - at - cases[c].ntail; n++)
					t[n] = (uint8_t)('a' + n % 26);
				memcpy(t + n, cases[c].tail, cases[c].ntail);
				n += cases[c].ntail;
				t[n++] = cases[c].bad;
				for (size_t i = 0; i < 5; i++)
					t[n++] = 'z';
				uint32_t head;
				rc_span s = text_span(&f.pool, &head, at, t, n);
				cr_assert(!rc_span_utf8_valid(&s), "%s after boundary %u, span at %zu: accepted",
				          cases[c].why, nth, at);
				/* without the bad byte, what comes before it is fine (but for an open
				 * sequence) */
				s.len = n - 6;
				cr_assert_eq(rc_span_utf8_valid(&s), cases[c].tail[0] == 'a',
				             "%s: the bytes before it, boundary %u", cases[c].why, nth);
				drop(&f.pool, head);
			}
		}
	}
	fx_fini(&f);
}

/* A sequence left open at the end of the span is invalid even when the bytes that would close it
 * are in the chain right after the span's end: at the end of a buffer (the closing bytes in the
 * next one), in the middle of one, and as the single byte of a span that starts a buffer. */
Test(span, utf8_open_at_the_end)
{
	fixture f;
	fx_init(&f, B, 8);
	static uint8_t t[4 * B];
	memset(t, 'q', sizeof t);
	uint32_t head;
	/* E2 82 | AC at the end of the second buffer, the span stopping before AC */
	memcpy(t + 2 * B - 2, "\xE2\x82\xAC", 3);
	rc_span s = text_span(&f.pool, &head, 0, t, 2 * B + 10);
	cr_assert(rc_span_utf8_valid(&s));
	s.len = 2 * B;
	cr_assert(!rc_span_utf8_valid(&s), "open at a buffer's end, closed after the span");
	s.len = 2 * B - 1;
	cr_assert(!rc_span_utf8_valid(&s));
	s.len = 2 * B - 2;
	cr_assert(rc_span_utf8_valid(&s));
	drop(&f.pool, head);
	/* F0 9D 84 9E in the middle of the second buffer, from a span starting late in the head */
	memset(t, 'q', sizeof t);
	memcpy(t + 300, "\xF0\x9D\x84\x9E", 4);
	s = text_span(&f.pool, &head, 200, t, 310);
	cr_assert(rc_span_utf8_valid(&s));
	for (size_t cut = 1; cut < 4; cut++) {
		s.len = 300 + cut;
		cr_assert(!rc_span_utf8_valid(&s), "cut after %zu of 4", cut);
	}
	drop(&f.pool, head);
	/* a lead byte as the only byte after a boundary: the first byte of the next buffer */
	memset(t, 'q', sizeof t);
	t[B] = 0xC3;
	t[B + 1] = 0xA9;
	s = text_span(&f.pool, &head, 0, t, B + 2);
	cr_assert(rc_span_utf8_valid(&s));
	s.len = B + 1;
	cr_assert(!rc_span_utf8_valid(&s), "a lead alone after the boundary");
	drop(&f.pool, head);
	fx_fini(&f);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Mostly valid UTF-8 of every length, some of it broken (a random byte anywhere, or the end
 * cut): the span's answer, from any start in the head, is the contiguous validator's on the same
 * bytes. */
Test(span, utf8_agrees_with_the_contiguous_validator)
{
	fixture f;
	fx_init(&f, B, 8);
	static uint8_t t[4 * B];
	rng_state = 8;
	unsigned valid = 0, invalid = 0;
	for (int iter = 0; iter < 10000; iter++) {
		size_t n = 0, max = (size_t)(rng() % (3 * B));
		while (n + 4 <= max) {
			uint32_t cp;
			switch (rng() % 4) {
			case 0:
				cp = (uint32_t)(rng() % 0x80);
				break;
			case 1:
				cp = 0x80 + (uint32_t)(rng() % (0x800 - 0x80));
				break;
			case 2:
				cp = 0x800 + (uint32_t)(rng() % (0x10000 - 0x800));
				break;
			default:
				cp = 0x10000 + (uint32_t)(rng() % (0x110000 - 0x10000));
				break;
			}
			/* a surrogate is invalid: keep one now and then, move the rest above them */
			if (cp >= 0xD800 && cp < 0xE000 && rng() % 64 != 0)
				cp += 0x800;
			if (cp < 0x80) {
				t[n++] = (uint8_t)cp;
			} else if (cp < 0x800) {
				t[n++] = (uint8_t)(0xC0 | cp >> 6);
				t[n++] = (uint8_t)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				t[n++] = (uint8_t)(0xE0 | cp >> 12);
				t[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
				t[n++] = (uint8_t)(0x80 | (cp & 0x3F));
			} else {
				t[n++] = (uint8_t)(0xF0 | cp >> 18);
				t[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
				t[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
				t[n++] = (uint8_t)(0x80 | (cp & 0x3F));
			}
		}
		if (n > 0 && rng() % 4 == 0)
			t[rng() % n] = (uint8_t)rng();
		if (rng() % 4 == 0) {
			size_t cut = (size_t)(rng() % 3);
			n -= cut < n ? cut : n;
		}
		size_t at = (size_t)(rng() % B);
		uint32_t head;
		rc_span s = text_span(&f.pool, &head, at, t, n);
		bool exp = rc_utf8_valid(t, n);
		cr_assert_eq(rc_span_utf8_valid(&s), exp, "iteration %d: %zu bytes at %zu", iter, n, at);
		rc_span plain = rc_span_bytes(t, n);
		cr_assert_eq(rc_span_utf8_valid(&plain), exp, "iteration %d: plain", iter);
		valid += exp;
		invalid += !exp;
		drop(&f.pool, head);
	}
	cr_assert_gt(valid, 2500, "%u valid", valid);
	cr_assert_gt(invalid, 2500, "%u invalid", invalid);
	fx_fini(&f);
}

/* A cursor ahead of the piece asked for (left by a later piece, or by a walk the caller gave up)
 * restarts from the head rather than reading the wrong buffer. */
Test(span, cursor_ahead_restarts_from_the_head)
{
	init_want();
	fixture f;
	fx_init(&f, B, 8);
	uint32_t head = write_object(&f.pool, 10, TOTAL);
	rc_span s = rc_span_of(&f.pool, head, rc_pool_data(&f.pool, head) + 10, TOTAL);
	uint32_t bufs[16];
	size_t nbufs = chain_of(&f.pool, head, bufs, 16);
	rc_span_cursor cur = rc_span_cursor_start(&s);
	const uint8_t *q;
	(void)rc_span_piece_at(&s, TOTAL - 1, &cur, &q);
	cr_assert_eq(cur.index, nbufs - 1);
	cr_assert_eq(rc_span_piece_at(&s, 0, &cur, &q), B - 10);
	cr_assert(q == rc_pool_data(&f.pool, head) + 10 && cur.index == 0 && cur.buf == head);
	cr_assert_eq(rc_span_piece_at(&s, B, &cur, &q), B - 10);
	cr_assert(q == rc_pool_data(&f.pool, bufs[1]) + 10 && cur.index == 1);
	drop(&f.pool, head);
	fx_fini(&f);
}

/* Contract violations abort. */
static fixture death_fx;

static rc_span death_span(size_t at, size_t len)
{
	init_want();
	fx_init(&death_fx, B, 8);
	uint32_t head = new_head(&death_fx.pool);
	cr_assert_eq(rc_span_append(&death_fx.pool, head, at, want, len), 0);
	return rc_span_of(&death_fx.pool, head, rc_pool_data(&death_fx.pool, head) + at, len);
}

Test(span, piece_at_the_end_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(10, 2 * B);
	const uint8_t *q;
	(void)rc_span_piece(&s, 2 * B, &q);
}

Test(span, copy_past_the_end_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(10, 2 * B);
	static uint8_t dst[2 * B + 1];
	rc_span_copy(&s, 1, dst, 2 * B);
}

/* A span that says it is longer than its chain: reading past the chain's last buffer aborts
 * rather than reading whatever buffer follows in memory. */
Test(span, copy_past_the_chain_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(10, B);
	s.len = 2 * B;
	static uint8_t dst[2 * B];
	rc_span_copy(&s, 0, dst, 2 * B);
}

Test(span, piece_past_the_chain_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(10, B);
	s.len = 3 * B;
	const uint8_t *q;
	(void)rc_span_piece(&s, 2 * B, &q);
}

Test(span, span_of_outside_its_buffer_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(0, 10);
	(void)rc_span_of(&death_fx.pool, s.buf, rc_pool_data(&death_fx.pool, s.buf) + B, 1);
}

/* Appending at a position the chain does not reach yet (a gap) would leave bytes unwritten. */
Test(span, append_past_the_chain_aborts, .signal = SIGABRT)
{
	rc_span s = death_span(0, 10);
	(void)rc_span_append(&death_fx.pool, s.buf, 2 * B + 1, want, 1);
}
