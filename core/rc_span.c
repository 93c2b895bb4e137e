/* rc_span: bytes over a pool buffer and its chain (rc_span.h). */
#include "rc_span.h"

#include <string.h>

#include "rc_utf8.h"

/* The buffer holding position pos of the chain headed by head. */
static uint32_t walk(const rc_pool *pool, uint32_t head, size_t pos)
{
	uint32_t idx = head;
	for (size_t k = pos >> pool->shift; k > 0; k--) {
		idx = rc_pool_chain_next(pool, idx);
		assert(idx != RC_POOL_NONE); /* the position lies inside the chain */
	}
	return idx;
}

size_t rc_span_piece_at(const rc_span *s, size_t off, rc_span_cursor *cur, const uint8_t **p)
{
	assert(off < s->len);
	const rc_pool *pool = s->pool;
	if (pool == NULL) {
		*p = s->at + off;
		return s->len - off;
	}
	size_t pos = (size_t)(s->at - rc_pool_data(pool, s->buf)) + off;
	size_t in = pos & (pool->buf_size - 1);
	size_t want = pos >> pool->shift;
	if (cur->index > want)
		*cur = rc_span_cursor_start(s);
	/* walk() from the cursor: the positions before its buffer are behind it */
	cur->buf = walk(pool, cur->buf, (want - cur->index) << pool->shift);
	cur->index = (uint32_t)want;
	*p = rc_pool_data(pool, cur->buf) + in;
	size_t n = pool->buf_size - in;
	return n < s->len - off ? n : s->len - off;
}

size_t rc_span_piece(const rc_span *s, size_t off, const uint8_t **p)
{
	rc_span_cursor cur = rc_span_cursor_start(s);
	return rc_span_piece_at(s, off, &cur, p);
}

void rc_span_copy(const rc_span *s, size_t off, uint8_t *dst, size_t n)
{
	assert(off <= s->len && n <= s->len - off);
	if (n == 0)
		return;
	const rc_pool *pool = s->pool;
	if (pool == NULL) {
		memcpy(dst, s->at + off, n);
		return;
	}
	size_t pos = (size_t)(s->at - rc_pool_data(pool, s->buf)) + off;
	size_t in = pos & (pool->buf_size - 1);
	uint32_t idx = walk(pool, s->buf, pos);
	for (;;) {
		size_t k = pool->buf_size - in < n ? pool->buf_size - in : n;
		memcpy(dst, rc_pool_data(pool, idx) + in, k);
		dst += k;
		n -= k;
		if (n == 0)
			return;
		idx = rc_pool_chain_next(pool, idx);
		assert(idx != RC_POOL_NONE);
		in = 0;
	}
}

int rc_span_append(rc_pool *pool, uint32_t head, size_t pos, const uint8_t *src, size_t n)
{
	assert(src != NULL || n == 0);
	size_t mask = pool->buf_size - 1;
	/* The buffer the next byte goes into: the head while pos is in it, else the tail, or a new
	 * buffer when the tail is full. */
	uint32_t idx = pos < pool->buf_size ? head : rc_pool_chain_tail(pool, head);
	assert(pos < pool->buf_size || (pos & mask) == 0 || idx != head);
	while (n > 0) {
		if (pos >= pool->buf_size && (pos & mask) == 0) {
			int32_t next = rc_pool_chain_extend(pool, head);
			if (next < 0)
				return next;
			idx = (uint32_t)next;
		}
		size_t in = pos & mask;
		size_t k = pool->buf_size - in < n ? pool->buf_size - in : n;
		memcpy(rc_pool_data(pool, idx) + in, src, k);
		src += k;
		n -= k;
		pos += k;
	}
	return 0;
}

int rc_span_append_span(rc_pool *pool, uint32_t head, size_t pos, const rc_span *src)
{
	rc_span_cursor cur = rc_span_cursor_start(src);
	for (size_t off = 0; off < src->len;) {
		const uint8_t *p;
		size_t n = rc_span_piece_at(src, off, &cur, &p);
		int r = rc_span_append(pool, head, pos, p, n);
		if (r < 0)
			return r;
		pos += n;
		off += n;
	}
	return 0;
}

bool rc_span_utf8_valid(const rc_span *s)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	rc_span_cursor cur = rc_span_cursor_start(s);
	for (size_t off = 0; off < s->len;) {
		const uint8_t *p;
		size_t n = rc_span_piece_at(s, off, &cur, &p);
		if (rc_utf8_feed(&v, p, n) != n)
			return false;
		off += n;
	}
	return rc_utf8_complete(&v);
}
