/* rc_span: bytes that live in a pool buffer and, for an object longer than one buffer, on through
 * the buffer's chain (rc_pool.h, "Chains").
 *
 * A span is len bytes starting at `at` inside buffer `buf` of `pool`. When they do not end inside
 * buf, they go on at the first byte of the next buffer of buf's chain, and so on: the bytes of one
 * buffer are always contiguous, the buffers are not. A message of one buffer is a span whose chain
 * is just its buffer, so every reader here serves both, and the first piece of a span is all of it
 * unless the span is chained.
 *
 * Position: a place in a chain is named by its offset from the first byte of the head buffer (its
 * "position"), so position pos is in the (pos / buf_size)-th buffer of the chain, at pos % buf_size.
 * Reaching it walks the chain, one load per buffer. A reader that goes through a span piece by
 * piece, in calls of its own (a send per piece), keeps an rc_span_cursor so that each step walks on
 * from the last piece instead of from the head: the whole span then costs one load per buffer,
 * not one per buffer per piece.
 *
 * Threads: a span may be read on any thread that holds a reference to it (a hand-off's receiver
 * reads its sender's chain: rc_xmsg.h); rc_span_append writes, on the pool's owner only.
 */
#ifndef RC_SPAN_H
#define RC_SPAN_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_pool.h"

typedef struct rc_span {
	const rc_pool *pool; /* NULL: plain memory, all contiguous (rc_span_bytes) */
	const uint8_t *at;   /* first byte, inside buf */
	size_t len;
	uint32_t buf; /* the buffer holding `at`: a chain's head when the span is chained */
} rc_span;

/* The span of len bytes at `at`, inside buffer buf (asserted; an empty span may start at its
 * end). */
static inline rc_span rc_span_of(const rc_pool *pool, uint32_t buf, const uint8_t *at, size_t len)
{
	assert(at >= rc_pool_data(pool, buf) &&
	       (size_t)(at - rc_pool_data(pool, buf)) + (len > 0) <= pool->buf_size);
	return (rc_span){ .pool = pool, .at = at, .len = len, .buf = buf };
}

/* len contiguous bytes at `at`, in no pool (a test's payload, a stack buffer). */
static inline rc_span rc_span_bytes(const uint8_t *at, size_t len)
{
	assert(at != NULL || len == 0);
	return (rc_span){ .pool = NULL, .at = at, .len = len, .buf = RC_POOL_NONE };
}

/* Does the span go on past its first buffer? */
static inline bool rc_span_chained(const rc_span *s)
{
	return s->pool != NULL &&
	       (size_t)(s->at - rc_pool_data(s->pool, s->buf)) + s->len > s->pool->buf_size;
}

/* The contiguous bytes at offset off (< len) of the span: *p points at them; returns how many
 * (1 .. len - off, up to the end of the buffer they are in). Walks from the head. */
size_t rc_span_piece(const rc_span *s, size_t off, const uint8_t **p);

/* Where a walk along a span's chain got to: buffer buf is the index-th of the chain (the span's own
 * buffer is the 0th). It belongs to one span; a walk only goes forward from it. */
typedef struct rc_span_cursor {
	uint32_t buf;
	uint32_t index;
} rc_span_cursor;

/* A cursor at the span's first buffer. */
static inline rc_span_cursor rc_span_cursor_start(const rc_span *s)
{
	return (rc_span_cursor){ .buf = s->buf, .index = 0 };
}

/* rc_span_piece, walking from *cur and leaving *cur on the piece's buffer. A cursor past the piece
 * (the piece is in an earlier buffer) is restarted from the head. */
size_t rc_span_piece_at(const rc_span *s, size_t off, rc_span_cursor *cur, const uint8_t **p);

/* Copy n bytes from offset off of the span (off + n <= len) to dst. */
void rc_span_copy(const rc_span *s, size_t off, uint8_t *dst, size_t n);

/* Owner only: write n bytes at position pos of the chain headed by POOL buffer head, where pos is
 * the end of what the chain holds so far (the chain has exactly the buffers that positions
 * [0, pos) need, and at least the head), extending the chain as the bytes need. Returns 0, or the
 * error of rc_pool_chain_extend (-ENOSPC over the chains' cap, -ENOBUFS at the reserve): then the
 * bytes that fitted are written, the chain holds them, and the caller drops the object. */
int rc_span_append(rc_pool *pool, uint32_t head, size_t pos, const uint8_t *src, size_t n);

/* rc_span_append of every byte of src (any pool, or none) at position pos. */
int rc_span_append_span(rc_pool *pool, uint32_t head, size_t pos, const rc_span *src);

/* Is every byte of the span valid UTF-8, with no sequence left open at its end? */
bool rc_span_utf8_valid(const rc_span *s);

#endif
