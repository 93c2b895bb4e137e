/* rc_msg: a refcounted broadcast message: one complete server frame, encoded once, shared by every
 * subscriber's outbound queue.
 *
 * The frame lives in a pool buffer (rc_pool.h): in place in the receive buffer it arrived in (the
 * zero-copy path), or copied once into a POOL buffer (the slow paths, and "promotion", below). A
 * frame longer than a buffer (a large message) starts in a POOL buffer and goes on over the
 * buffer's chain (rc_pool.h, "Chains"): m->buf is the chain's head, its reference holds the whole
 * chain, and the bytes are read through rc_msg_span (rc_span.h). Such a frame is never in a receive
 * buffer, so never promoted. The descriptor itself comes from a slab sized at init, so publishing
 * never calls malloc. (The "chain" of messages per buffer below, next_in_buf, is another list: the
 * messages whose frame starts in that buffer.)
 *
 * Ownership: every outbound-queue entry holds one reference, and so does whoever is dispatching the
 * message. The last rc_msg_unref() returns the descriptor to the slab and drops the descriptor's
 * reference on its pool buffer (rc_pool_unref), which sends the buffer home when that was the last
 * (to the provided-buffer ring for a RECV buffer, to the free list for a POOL buffer). A shared
 * frame is never written after it is published.
 *
 * Promotion: the descriptors of one buffer are chained (next_in_buf), so the worker can move every
 * still-referenced message out of a receive buffer into a POOL buffer at the end of a loop
 * iteration (rc_msg_promote_buffer) and give the receive buffer back to the kernel at once: a slow
 * consumer can pin POOL memory up to its queue's byte cap, but never a receive buffer
 * (docs/architecture.md).
 * The POOL memory comes from an arena (rc_arena): bump allocation inside one POOL buffer at a time,
 * each frame copied whole into one buffer. An arena buffer is refcounted like any other: one
 * reference per message copied into it plus the arena's own hold while it is the current one, so it
 * goes back to the free stack when the arena has moved on and its last message dies.
 *
 * Buffer references, in one line: a buffer's refcount >= the number of live messages in it, and the
 * difference is held by someone else (net/ while parsing a receive buffer, the arena, a builder).
 *
 * The slab (rc_msgs) belongs to one worker, like its pool; nothing here is thread-safe. A message
 * never crosses to another worker: a hand-off copies it into an rc_xmsg (rc_xmsg.h), whose buffer
 * comes home through the pool's remote path.
 *
 * Errors are negative errno values; each function says which.
 */
#ifndef RC_MSG_H
#define RC_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rc_pool.h"
#include "rc_span.h"

/* Which subscribers a frame is for. */
enum rc_msg_kind {
	RC_MSG_PLAIN = 0, /* the published payload as is (subscribers without a subprotocol) */
	RC_MSG_V1 = 1,    /* the ringcast.v1 MESSAGE envelope (docs/protocol.md) */
	/* a ringcast.v1 `missed` notice queued in order like a message: `seq` holds its count (net/:
	 * messages lost on their way from another worker) */
	RC_MSG_MISSED = 2,
};

typedef struct rc_msg {
	uint8_t *frame; /* the complete server frame: header, then payload */
	uint32_t len;   /* bytes of frame */
	uint32_t refs;  /* > 0 while the descriptor is in use */
	uint32_t buf;   /* index of the pool buffer holding the frame (its start, for a large one) */
	uint32_t topic; /* id of the topic it was published on (rc_topic.h) */
	uint64_t seq;   /* per-topic sequence number */
	/* CLOCK_MONOTONIC ns when it was published: the loop turn that read it, on the worker that read
	 * it (a hand-off carries its origin's time); 0 if not set. For the publish-to-send histogram. */
	uint64_t pub_ns;
	struct rc_msg *next_in_buf; /* next live message in the same buffer; NULL ends the chain */
	struct rc_msg *prev_in_buf;
	uint8_t kind; /* enum rc_msg_kind */
} rc_msg;

/* The descriptor slab of one worker, and the chains of live messages per pool buffer. */
struct rc_msgs_stats {
	uint32_t count;          /* descriptors in the slab */
	uint32_t live;           /* descriptors in use */
	uint64_t slab_empty;     /* rc_msg_new calls that returned NULL */
	uint64_t promoted_msgs;  /* messages moved by rc_msg_promote_buffer */
	uint64_t promoted_bytes; /* frame bytes they copied */
};

typedef struct rc_msgs {
	rc_pool *pool;
	rc_msg *slab; /* [count] */
	uint32_t count;
	uint32_t live;
	rc_msg *free;      /* unused descriptors, linked through next_in_buf, refs 0 */
	rc_msg **buf_head; /* [pool->count] first live message of each buffer, or NULL */
	uint64_t slab_empty;
	uint64_t promoted_msgs;
	uint64_t promoted_bytes;
} rc_msgs;

/* Bump allocator for promoted frames: the POOL buffer being filled and how much of it is used.
 * While cur != RC_POOL_NONE the arena holds one reference on it of its own. */
typedef struct rc_arena {
	rc_pool *pool;
	uint32_t cur;  /* current POOL buffer, or RC_POOL_NONE */
	uint32_t used; /* bytes of cur handed out */
} rc_arena;

/* Allocate count descriptors (count >= 1) and a chain head per buffer of pool, which must be
 * initialised and must outlive the slab. Returns 0, -EINVAL (count 0), or -ENOMEM (then *s holds
 * nothing to free). */
int rc_msgs_init(rc_msgs *s, rc_pool *pool, uint32_t count);

/* Free the slab. Messages still live are not released (their buffer references die with the pool
 * at shutdown); call it before rc_pool_fini. */
void rc_msgs_fini(rc_msgs *s);

/* A descriptor for the frame [frame, frame + len) (len >= 1), which must lie inside one pool
 * buffer, or start in the head of a chain whose buffers hold the rest, that the caller already
 * holds a reference on (asserted: the message takes a reference of its own, rc_pool_ref, and never
 * the caller's). Returns the message with refs = 1, linked into the
 * buffer's chain, or NULL if the slab is empty (counted in stats.slab_empty; the caller drops the
 * message). */
rc_msg *rc_msg_new(rc_msgs *s, uint8_t *frame, uint32_t len, uint32_t topic, uint64_t seq,
                   uint8_t kind);

/* The frame's bytes, which go on over its buffer's chain for a large message. */
static inline rc_span rc_msg_span(const rc_msgs *s, const rc_msg *m)
{
	return rc_span_of(s->pool, m->buf, m->frame, m->len);
}

/* Copy n bytes of m's frame from offset off (off + n <= m->len) to dst: one memcpy while they are
 * in its first buffer, over the chain for a large message. */
static inline void rc_msg_copy(const rc_msgs *s, const rc_msg *m, uint32_t off, uint8_t *dst,
                               uint32_t n)
{
	assert(off <= m->len && n <= m->len - off);
	size_t at = (size_t)(m->frame - rc_pool_data(s->pool, m->buf)) + off;
	if (at + n <= s->pool->buf_size) {
		memcpy(dst, m->frame + off, n);
		return;
	}
	rc_span sp = rc_msg_span(s, m);
	rc_span_copy(&sp, off, dst, n);
}

/* One more reference (asserts the message is live). */
static inline void rc_msg_ref(rc_msg *m)
{
	assert(m->refs > 0 && m->refs < UINT32_MAX);
	m->refs++;
}

/* Drop one reference (asserts there was one). The last one unlinks the message from its buffer,
 * drops its buffer reference (which may send the buffer home) and returns the descriptor to the
 * slab. */
void rc_msg_unref(rc_msgs *s, rc_msg *m);

/* Start an empty arena on pool: it holds no buffer until the first frame is copied in. */
void rc_arena_init(rc_arena *a, rc_pool *pool);

/* Drop the arena's own hold on its current buffer (the messages in it keep theirs) and start
 * afresh. Call at shutdown, or to let a mostly dead arena buffer go home. */
void rc_arena_release(rc_arena *a);

/* If the arena's current buffer holds no live message any more, release it (rc_arena_release), so
 * that an idle worker keeps no POOL buffer. Returns true if it did. */
bool rc_arena_idle(rc_arena *a);

/* len bytes (1 .. buffer size) of POOL memory for a frame built by copying (a re-encoded or
 * assembled message, a control frame): they lie in the arena's current buffer, on which the arena
 * holds a reference, so rc_msg_new may be called on them at once. Returns NULL if the pool has no
 * free buffer (counted in the pool's alloc_failed). */
uint8_t *rc_arena_alloc(rc_arena *a, uint32_t len);

/* Move every live message of RECV buffer buf into POOL memory from the arena: copy each frame,
 * repoint m->frame and m->buf, move the message's buffer reference from buf to the arena buffer and
 * relink the chains. Descriptors, refcounts, topics and sequence numbers are unchanged, so queues
 * holding the messages notice nothing. The arena rolls over to a fresh POOL buffer when a frame
 * does not fit in what is left (a frame never straddles buffers). When the last message leaves buf
 * and nobody else holds it, buf goes to the returned list at once.
 * Returns the number of messages moved (0 if none was live), or -ENOBUFS if the pool ran out of
 * buffers for the arena: then the messages already moved stay moved, the rest stay in buf, and
 * everything is consistent (the caller can retry later or apply the slow-consumer policy). */
int rc_msg_promote_buffer(rc_msgs *s, uint32_t buf, rc_arena *a);

/* Does buffer buf hold a live message (so promoting it would do something)? */
static inline bool rc_msgs_buffer_live(const rc_msgs *s, uint32_t buf)
{
	assert(buf < s->pool->count);
	return s->buf_head[buf] != NULL;
}

/* A copy of the slab's counters. For tests and debugging: the server reports none of them. */
void rc_msgs_stats(const rc_msgs *s, struct rc_msgs_stats *out);

/* Check every invariant: each chain is doubly linked correctly, without a cycle, and holds only
 * live descriptors of the slab whose m->buf is that buffer and whose frame lies inside it; every
 * live descriptor is on exactly one chain; every chained buffer is referenced at least once per
 * message in it; the free list holds exactly the unused descriptors; live + free == count; and the
 * pool itself validates. O(count + pool count); for tests and debug checks. Returns true if all
 * hold (and says what failed on stderr otherwise). */
bool rc_msgs_validate(const rc_msgs *s);

#endif
