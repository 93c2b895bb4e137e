/* rc_retain: one worker's bounded history of the messages published on its topics ("retained
 * messages"), for "the last value on subscribe" (a snapshot: the newest message of a topic) and
 * "resume after sequence number s" (a replay: the messages numbered after s, oldest first).
 *
 * One rc_retain belongs to one worker and is used only from its thread: no locks, no atomics. Its
 * memory is whole buffers of the worker's pool (rc_pool.h), here called segments; the only
 * allocations are the two arrays of rc_retain_init (one record per topic id, one ring of segment
 * slots), so appending, evicting and replaying never call malloc.
 *
 * Why a log. A per-topic ring of fixed slots would need topics_max * msgs_per_topic slots of the
 * largest payload, nearly all of it idle; per-message allocation would need an allocator. A log
 * packs what is actually published, whatever its mix of topics and sizes, into as many segments as
 * the history budget allows, and gives memory back a whole pool buffer at a time, the only unit
 * the pool has.
 *
 * The log. Positions are byte offsets (uint64) that only grow: segment k covers positions
 * [k * S, (k + 1) * S), S = the pool's buf_size, and the ring maps segment k to its pool buffer.
 * The log holds [tail, head): tail is the first byte of its oldest segment, head is where the next
 * entry goes. An entry is a header (rc_retain.c, 48 bytes: seq, pub_ns, the positions of the
 * previous and next entry of the same topic, topic id, payload length, flags, live) followed by
 * the payload, padded to 8 bytes. An entry never straddles two segments: one that does not fit in
 * the rest of the head segment starts the next, and the rest is dead. So a payload longer than
 * S - RC_RETAIN_HDR_SIZE is never retained. Each topic's entries form a doubly linked list, oldest
 * first, in increasing position and increasing seq; its record holds the oldest and newest
 * positions, the count and the payload bytes. Entries that are no longer part of their topic
 * (evicted or forgotten) stay where they are, marked dead, until their segment goes.
 *
 * Caps, per topic (rc_retain_cfg): at most msgs_per_topic messages and bytes_per_topic payload
 * bytes: appending a message evicts the topic's oldest ones until it fits (counted `evicted`). A
 * payload longer than bytes_per_topic (or than a segment holds) is refused with -E2BIG (counted
 * `too_large`) and the topic keeps what it had.
 *
 * Cap, per worker: the log holds at most seg_cap = bytes_total / S segments (at least 2), and
 * that bounds the pool buffers it takes at any moment. One of them is the landing room for
 * compaction (below): a new head segment is opened for an appended message only while the log
 * holds fewer than seg_cap - 1 segments; at seg_cap - 1, a full head segment means the tail
 * segment is evicted first. So the history proper is seg_cap - 1 segments, and the last one is
 * taken only by the copies of an eviction, for as long as the eviction lasts. A segment is also not taken from a pool at
 * or below its reserve (rc_pool_set_reserve: that is for messages in flight), except to replace
 * one that the same append gave back; so under memory pressure, as when the pool has no buffer at
 * all, the log recycles its own tail instead of growing. An append that finds no segment at all
 * (the log is empty and the pool has none to give) fails with -ENOMEM (counted `failed`).
 *
 * Evicting the tail segment, the only way segments go back to the pool, walks its entries in
 * order. A dead one is skipped. A live one is the oldest of its topic (the tail holds the lowest
 * positions). If it is also its topic's only entry (the topic's last value) it is copied forward
 * to the head (counted `compacted`; seq, pub_ns and flags kept, its position new), so a quiet topic
 * keeps its last value while busy ones churn through the log. Otherwise it is evicted (counted
 * `evicted`), and if that was the topic's last message the `emptied` callback runs. A copy is made
 * only when all of these hold, else the entry is evicted:
 *   - the live entries (headers included) take at most half of the log (seg_cap * S / 2): with at
 *     most half of the log live, a pass over it frees at least as much as it copies forward, on
 *     average, and a set of last values larger than that is better dropped than copied forever;
 *   - the copy lands in room the head segment already has, or in a new segment that the cap and
 *     the pool allow; never in the segment being evicted (when the tail is also the head segment
 *     it is closed first), and never by taking a segment past seg_cap, so the head cannot run into
 *     the tail in the ring;
 *   - the entry was not itself copied during the same append (a pass copies each entry at most
 *     once, so an append always ends); rc_retain_shrink copies only into room the head segment
 *     already has.
 * Then the segment's buffer is given back (rc_pool_unref).
 *
 * Topic lifetime. The caller keeps a topic alive (a pin in rc_topic.h) while it has retained
 * messages, since topic ids are reused after a topic dies. rc_retain_append returns 1 when the
 * topic had nothing retained before (take the pin then), and `emptied(ctx, topic)` is called when
 * an eviction takes a topic's last message (drop the pin then). It is not called by
 * rc_retain_forget (the caller knows), nor for the topic being appended to while the append
 * succeeds: an append that evicts all of its own topic's older messages keeps the pin and returns
 * 0; an append that fails after that calls emptied for it before returning. emptied may call into
 * the caller's topic table but never into this rc_retain (it runs in the middle of an eviction).
 *
 * Reading. rc_retain_newest, rc_retain_first_after and rc_retain_next fill an rc_retain_entry
 * whose payload points into a segment. It is valid until the next append, forget or shrink on
 * this rc_retain (any of them may evict). A caller that needs the bytes longer copies them, or
 * takes rc_pool_ref on e.buf and drops it when done: nothing writes a payload after it is
 * appended, and an evicted segment still referenced stays allocated until that reference goes.
 *
 * Numbers. Within a topic, seqs only grow; they need not be consecutive (the readers compare, they
 * do not count). A caller that promises a gapless replay forgets the topic when an append of it
 * fails, as net/ does.
 *
 * Errors are negative errno values, stated per function. Misuse (a topic id out of range, a seq
 * that does not grow, an entry that is not a live one of this rc_retain) is an assertion.
 */
#ifndef RC_RETAIN_H
#define RC_RETAIN_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_pool.h"
#include "rc_span.h"

#define RC_RETAIN_NONE UINT64_MAX /* "no position" */
#define RC_RETAIN_HDR_SIZE 48u    /* bytes of an entry's header (rc_retain.c) */

/* The caps (above). All must be > 0, and bytes_total at least two segments. bytes_per_topic may
 * exceed what the log can hold: the log's size bounds a topic too. */
typedef struct rc_retain_cfg {
	uint32_t msgs_per_topic;  /* messages retained per topic */
	uint32_t bytes_per_topic; /* payload bytes retained per topic */
	uint64_t bytes_total;     /* pool memory for the whole log (rounded down to segments) */
} rc_retain_cfg;

/* A retained message, as the readers hand it out. */
typedef struct rc_retain_entry {
	uint64_t seq;
	uint64_t pub_ns;
	const uint8_t *payload; /* len bytes, contiguous, inside pool buffer buf */
	uint32_t len;
	bool text;
	uint32_t buf; /* the segment's pool buffer, for rc_span_of or rc_pool_ref */
	uint64_t pos; /* its position in the log (for rc_retain_next) */
} rc_retain_entry;

/* What one topic holds. count 0: nothing, and both positions 0 (a zeroed record, so that the array
 * can come from calloc and only the records of topics ever retained are touched). */
typedef struct rc_retain_topic {
	uint64_t oldest; /* position of its oldest entry */
	uint64_t newest; /* position of its newest entry */
	uint32_t count;  /* messages */
	uint32_t bytes;  /* payload bytes */
} rc_retain_topic;

/* A slot of the segment ring. */
typedef struct rc_retain_seg {
	uint32_t buf; /* pool buffer */
	uint32_t end; /* bytes at its start that hold entries; the rest is dead */
} rc_retain_seg;

/* The history. The counters and gauges are for /metrics and may be read directly; everything else
 * is private to rc_retain.c. */
typedef struct rc_retain {
	rc_pool *pool;
	rc_retain_topic *topics; /* [topics_max] */
	rc_retain_seg *ring;     /* [seg_cap]: segment k is ring[(first + k - tail / S) % seg_cap] */
	void (*emptied)(void *ctx, uint32_t topic);
	void *ctx;
	rc_retain_cfg cfg;
	uint32_t topics_max;
	uint32_t seg_cap;     /* most segments held at once */
	uint32_t first;       /* ring slot of the tail segment */
	uint64_t tail;        /* first position held (a segment's first byte) */
	uint64_t head;        /* where the next entry goes */
	uint64_t compact_max; /* live bytes above which nothing is copied forward */
	uint32_t busy;        /* topic being appended to (its emptied is deferred), or UINT32_MAX */
	bool busy_emptied;    /* ... and an eviction took its last message */
	uint32_t credit;      /* buffers this append gave back, which it may take below the reserve */
	/* counters */
	uint64_t retained;  /* messages appended */
	uint64_t evicted;   /* messages lost to a cap, the log's wrap or a shrink (each once) */
	uint64_t compacted; /* copies forward of a topic's last value */
	uint64_t too_large; /* appends refused with -E2BIG */
	uint64_t failed;    /* appends refused with -ENOMEM */
	uint64_t forgotten; /* messages dropped by rc_retain_forget */
	/* gauges */
	uint32_t segments;   /* segments held (pool buffers) */
	uint64_t live_msgs;  /* messages retained */
	uint64_t live_bytes; /* bytes of their entries, headers and padding included */
} rc_retain;

/* Set up an empty history for topic ids 0..topics_max-1 in pool's buffers, under cfg's caps.
 * emptied (not NULL) is called with ctx when an eviction takes a topic's last message (above).
 * The log's cap is bytes_total / S segments, lowered to the pool's buffer count if larger. Returns
 * 0; -EINVAL for topics_max 0, a cap of 0, or fewer than two segments (bytes_total < 2 * S, or a
 * pool of one buffer); -ENOMEM if the arrays could not be allocated. On error nothing is held,
 * and fini is harmless. */
int rc_retain_init(rc_retain *r, rc_pool *pool, uint32_t topics_max, const rc_retain_cfg *cfg,
                   void (*emptied)(void *ctx, uint32_t topic), void *ctx);

/* Give every segment back to the pool and free the arrays; no callback. Safe on a zeroed or
 * already finished rc_retain. */
void rc_retain_fini(rc_retain *r);

/* Retain a copy of payload (a span: it may go on over a pool chain; it must not point into this
 * history's own segments) as topic's message seq, published at pub_ns, text or binary. seq must be
 * greater than the topic's newest retained seq (asserted) when it holds any; after
 * rc_retain_forget, or once an eviction emptied it, any seq starts it again. May evict: the
 * topic's oldest messages (its caps), then whole tail segments (the log's cap, the pool), with
 * emptied called for other topics that lose their last message. Returns 1 if the topic held
 * nothing before (take its pin), 0 if it held something (it still does), -E2BIG if the payload is
 * longer than bytes_per_topic or than a segment holds (the topic is untouched), -ENOMEM if no
 * segment could be had (what the topic held may have been evicted meanwhile: emptied was then
 * called). */
int rc_retain_append(rc_retain *r, uint32_t topic, uint64_t seq, uint64_t pub_ns, bool text,
                     const rc_span *payload);

/* Drop everything retained for topic (it is being deleted, or its numbering restarts). No
 * callback; counted in `forgotten`. O(the topic's count). */
void rc_retain_forget(rc_retain *r, uint32_t topic);

/* What topic holds: *count messages, numbered *oldest to *newest (both 0 when it holds none).
 * Any pointer may be NULL. */
void rc_retain_range(const rc_retain *r, uint32_t topic, uint32_t *count, uint64_t *oldest,
                     uint64_t *newest);

/* The payload bytes topic holds. */
static inline uint32_t rc_retain_topic_bytes(const rc_retain *r, uint32_t topic)
{
	assert(topic < r->topics_max);
	return r->topics[topic].bytes;
}

/* The longest payload rc_retain_append takes. */
static inline uint32_t rc_retain_payload_max(const rc_retain *r)
{
	uint64_t seg = (uint64_t)r->pool->buf_size - RC_RETAIN_HDR_SIZE;
	return seg < r->cfg.bytes_per_topic ? (uint32_t)seg : r->cfg.bytes_per_topic;
}

/* The topic's newest message (a snapshot) in *e; false if it holds none. */
bool rc_retain_newest(const rc_retain *r, uint32_t topic, rc_retain_entry *e);

/* The topic's oldest message numbered after `after` (a replay starts there) in *e; false if it
 * holds none. Walks back from the newest: O(messages after `after`). */
bool rc_retain_first_after(const rc_retain *r, uint32_t topic, uint64_t after, rc_retain_entry *e);

/* The message after *e of the same topic, in *e (which must have been filled by one of these
 * readers since the last change); false if *e is the newest (then *e is unchanged). */
bool rc_retain_next(const rc_retain *r, rc_retain_entry *e);

/* Evict tail segments until the log holds at most keep_segments (memory pressure: history goes
 * before messages in flight). Last values are copied forward only into room the head segment
 * already has, so this never takes a buffer; emptied is called as for any eviction. Returns the
 * number of segments released (each rc_pool_unref'd: a buffer the caller still references goes
 * back to the pool with that reference). keep_segments 0 empties the history. */
uint32_t rc_retain_shrink(rc_retain *r, uint32_t keep_segments);

/* Check every invariant: the ring's segments distinct POOL buffers held, the log's bounds, every
 * entry of every segment well formed and inside its segment, each topic's list linked both ways
 * through live entries of that topic in increasing position and seq, its count, bytes and caps,
 * the live entries found by walking the segments exactly those of the lists, and the counters and
 * gauges. Prints the first broken one to stderr (rc_check.h) and returns false; true if all hold.
 * O(log size + topics_max), allocates scratch; for tests. */
bool rc_retain_validate(const rc_retain *r);

#endif
