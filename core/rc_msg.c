/* rc_msg: message descriptors, their per-buffer chains, and promotion. The contract is in rc_msg.h.
 *
 * A descriptor is either free (refs 0, on the slab's free list through next_in_buf) or live
 * (refs > 0, on the chain of the buffer holding its frame, which links through next_in_buf and
 * prev_in_buf and starts at buf_head[buf]). New messages go to the front of their chain: O(1) link
 * and unlink, and the order inside a chain means nothing.
 */
#include "rc_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_check.h"

int rc_msgs_init(rc_msgs *s, rc_pool *pool, uint32_t count)
{
	assert(s != NULL && pool != NULL && pool->count > 0);
	memset(s, 0, sizeof *s);
	if (count == 0)
		return -EINVAL;
	s->pool = pool;
	s->count = count;
	s->slab = calloc(count, sizeof *s->slab);
	if (s->slab == NULL)
		goto err;
	s->buf_head = calloc(pool->count, sizeof *s->buf_head);
	if (s->buf_head == NULL)
		goto err_slab;
	/* Threaded front to back, so the first descriptors handed out are the first in memory. */
	for (uint32_t i = 0; i < count; i++)
		s->slab[i].next_in_buf = i + 1 < count ? &s->slab[i + 1] : NULL;
	s->free = &s->slab[0];
	return 0;

err_slab:
	free(s->slab);
err:
	memset(s, 0, sizeof *s);
	return -ENOMEM;
}

void rc_msgs_fini(rc_msgs *s)
{
	assert(s != NULL);
	free(s->buf_head);
	free(s->slab);
	memset(s, 0, sizeof *s);
}

static inline void chain_link(rc_msgs *s, rc_msg *m, uint32_t buf)
{
	assert(buf < s->pool->count && m->refs > 0);
	rc_msg *head = s->buf_head[buf];
	m->buf = buf;
	m->prev_in_buf = NULL;
	m->next_in_buf = head;
	if (head != NULL)
		head->prev_in_buf = m;
	s->buf_head[buf] = m;
}

static inline void chain_unlink(rc_msgs *s, rc_msg *m)
{
	if (m->prev_in_buf != NULL) {
		assert(m->prev_in_buf->next_in_buf == m);
		m->prev_in_buf->next_in_buf = m->next_in_buf;
	} else {
		assert(s->buf_head[m->buf] == m);
		s->buf_head[m->buf] = m->next_in_buf;
	}
	if (m->next_in_buf != NULL) {
		assert(m->next_in_buf->prev_in_buf == m);
		m->next_in_buf->prev_in_buf = m->prev_in_buf;
	}
	m->next_in_buf = m->prev_in_buf = NULL;
}

/* Do the buffers of buf's chain (rc_pool.h; just buf if it heads none) hold bytes
 * [frame, frame + len)? */
static bool chain_holds(const rc_pool *pool, uint32_t buf, const uint8_t *frame, size_t len)
{
	size_t end = (size_t)(frame - rc_pool_data(pool, buf)) + len, room = pool->buf_size;
	for (uint32_t b = rc_pool_chain_next(pool, buf); b != RC_POOL_NONE && room < end;
	     b = rc_pool_chain_next(pool, b))
		room += pool->buf_size;
	return end <= room;
}

/* Index of the buffer holding the first byte of [frame, frame + len), asserting that it, or the
 * chain it heads, holds them all. */
static inline uint32_t frame_buffer(const rc_pool *pool, const uint8_t *frame, uint32_t len)
{
	assert(frame != NULL && len > 0);
	uint32_t buf = rc_pool_index_of(pool, frame);
	assert(chain_holds(pool, buf, frame, len));
	return buf;
}

rc_msg *rc_msg_new(rc_msgs *s, uint8_t *frame, uint32_t len, uint32_t topic, uint64_t seq,
                   uint8_t kind)
{
	assert(kind == RC_MSG_PLAIN || kind == RC_MSG_V1 || kind == RC_MSG_MISSED);
	uint32_t buf = frame_buffer(s->pool, frame, len);
	rc_msg *m = s->free;
	if (m == NULL) {
		s->slab_empty++;
		return NULL;
	}
	assert(m->refs == 0);
	s->free = m->next_in_buf;
	rc_pool_ref(s->pool, buf); /* asserts the caller holds the buffer */
	*m = (rc_msg){
		.frame = frame, .len = len, .refs = 1, .topic = topic, .seq = seq, .kind = kind
	};
	chain_link(s, m, buf);
	s->live++;
	return m;
}

void rc_msg_unref(rc_msgs *s, rc_msg *m)
{
	assert(m >= s->slab && m < s->slab + s->count);
	assert(m->refs > 0);
	if (--m->refs > 0)
		return;
	uint32_t buf = m->buf;
	chain_unlink(s, m);
	m->frame = NULL; /* a use after the last unref then faults rather than reading stale data */
	m->next_in_buf = s->free;
	s->free = m;
	assert(s->live > 0);
	s->live--;
	rc_pool_unref(s->pool, buf); /* last: it may send the buffer home */
}

void rc_arena_init(rc_arena *a, rc_pool *pool)
{
	assert(a != NULL && pool != NULL);
	*a = (rc_arena){ .pool = pool, .cur = RC_POOL_NONE, .used = 0 };
}

void rc_arena_release(rc_arena *a)
{
	assert(a->cur == RC_POOL_NONE || a->used <= a->pool->buf_size);
	if (a->cur != RC_POOL_NONE)
		rc_pool_unref(a->pool, a->cur);
	a->cur = RC_POOL_NONE;
	a->used = 0;
}

/* Room for len bytes in one arena buffer: where they go, or NULL if the pool is out of buffers
 * (the arena is then left empty, holding nothing). */
static uint8_t *arena_take(rc_arena *a, uint32_t len)
{
	assert(len > 0 && len <= a->pool->buf_size);
	if (a->cur == RC_POOL_NONE || a->pool->buf_size - a->used < len) {
		/* Roll over: the old buffer lives on as long as the messages in it. The tail it
		 * leaves unused is at most one frame's length. */
		rc_arena_release(a);
		int32_t idx = rc_pool_alloc(a->pool);
		if (idx < 0)
			return NULL;
		a->cur = (uint32_t)idx;
	}
	uint8_t *dst = rc_pool_data(a->pool, a->cur) + a->used;
	a->used += len;
	return dst;
}

bool rc_arena_idle(rc_arena *a)
{
	assert(a->pool != NULL);
	if (a->cur == RC_POOL_NONE || rc_pool_refs(a->pool, a->cur) != 1)
		return false;
	rc_arena_release(a);
	return true;
}

uint8_t *rc_arena_alloc(rc_arena *a, uint32_t len)
{
	return arena_take(a, len);
}

int rc_msg_promote_buffer(rc_msgs *s, uint32_t buf, rc_arena *a)
{
	rc_pool *pool = s->pool;
	assert(a->pool == pool);
	assert(buf < pool->count);
	assert(rc_pool_kind(pool, buf) == RC_BUF_RECV);
	int moved = 0;
	rc_msg *m = s->buf_head[buf];
	while (m != NULL) {
		rc_msg *next = m->next_in_buf; /* m leaves this chain below */
		assert(m->refs > 0 && m->buf == buf);
		uint8_t *dst = arena_take(a, m->len);
		if (dst == NULL)
			return -ENOBUFS; /* m and the rest stay in buf, untouched */
		memcpy(dst, m->frame, m->len);
		chain_unlink(s, m);
		rc_pool_ref(pool, a->cur); /* the arena's hold keeps cur referenced: ref is legal */
		chain_link(s, m, a->cur);
		m->frame = dst;
		s->promoted_msgs++;
		s->promoted_bytes += m->len;
		moved++;
		rc_pool_unref(pool, buf); /* the last one returns buf to the ring */
		m = next;
	}
	return moved;
}

void rc_msgs_stats(const rc_msgs *s, struct rc_msgs_stats *out)
{
	assert(s != NULL && out != NULL);
	*out = (struct rc_msgs_stats){
		.count = s->count,
		.live = s->live,
		.slab_empty = s->slab_empty,
		.promoted_msgs = s->promoted_msgs,
		.promoted_bytes = s->promoted_bytes,
	};
}

static bool in_slab(const rc_msgs *s, const rc_msg *m)
{
	return m >= s->slab && m < s->slab + s->count;
}

bool rc_msgs_validate(const rc_msgs *s)
{
	const rc_pool *pool = s->pool;
	RC_CHECKF(pool != NULL && s->slab != NULL && s->buf_head != NULL, "slab not initialised");
	if (!rc_pool_validate(pool))
		return false;
	RC_CHECKF(s->live <= s->count, "live %u > count %u", s->live, s->count);

	/* Chains. A chain whose head has no predecessor and whose every link is mirrored by the next
	 * node's prev cannot loop back (the node it looped to would have two predecessors), and the
	 * walk is bounded by count anyway. */
	uint64_t chained = 0;
	for (uint32_t b = 0; b < pool->count; b++) {
		const rc_msg *prev = NULL;
		uint32_t n = 0;
		for (const rc_msg *m = s->buf_head[b]; m != NULL; m = m->next_in_buf) {
			RC_CHECKF(in_slab(s, m), "buffer %u: chain points outside the slab", b);
			RC_CHECKF(++n <= s->count, "buffer %u: chain longer than the slab", b);
			RC_CHECKF(m->refs > 0, "buffer %u: dead message %td on its chain", b, m - s->slab);
			RC_CHECKF(m->buf == b, "message %td on chain %u says buffer %u", m - s->slab, b,
			          m->buf);
			RC_CHECKF(m->prev_in_buf == prev, "message %td: prev link broken", m - s->slab);
			RC_CHECKF(m->frame != NULL && m->len > 0, "message %td: no frame", m - s->slab);
			RC_CHECKF(rc_pool_contains(pool, m->frame) && rc_pool_index_of(pool, m->frame) == b &&
			                  chain_holds(pool, b, m->frame, m->len),
			          "message %td: frame not inside buffer %u and its chain", m - s->slab, b);
			prev = m;
		}
		RC_CHECKF(rc_pool_refs(pool, b) >= n, "buffer %u: %u messages but refcount %u", b, n,
		          rc_pool_refs(pool, b));
		chained += n;
	}

	uint32_t live = 0;
	for (uint32_t i = 0; i < s->count; i++)
		live += s->slab[i].refs > 0;
	RC_CHECKF(live == s->live, "%u descriptors with refs, counter %u", live, s->live);
	/* Every chained message is live and names its chain's buffer, so it is on one chain only;
	 * equal totals mean every live descriptor is on a chain. */
	RC_CHECKF(chained == live, "%llu messages on chains, %u live", (unsigned long long)chained,
	          live);

	uint32_t nfree = 0;
	for (const rc_msg *m = s->free; m != NULL; m = m->next_in_buf) {
		RC_CHECKF(in_slab(s, m), "free list points outside the slab");
		RC_CHECKF(++nfree <= s->count, "free list longer than the slab");
		RC_CHECKF(m->refs == 0, "descriptor %td on the free list has refs %u", m - s->slab,
		          m->refs);
	}
	/* A descriptor twice on a singly linked list means a cycle, which the bound above catches;
	 * so with every entry unused and as many entries as unused descriptors, all of them are on
	 * it. */
	RC_CHECKF(nfree == s->count - live, "free list has %u, %u unused", nfree, s->count - live);
	return true;
}
