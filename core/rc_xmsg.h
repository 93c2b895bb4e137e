/* rc_xmsg: a message on its way from one worker to another, and the arena the sending worker
 * builds them in.
 *
 * What travels. Every topic has one owning worker, which numbers its messages (net/rc_xfer.h): a
 * publish read on another worker A goes to the owner O as a FORWARD, and O sends the numbered
 * message, as a PUBLISH carrying the topic's sequence number and epoch, to every other worker B
 * with subscribers for the topic (A included). Each is one copy, whatever the number of workers it
 * goes to: the topic name, text-or-binary, the payload. A pointer to it goes into the mailbox of
 * each receiver (rc_mailbox.h, one per ordered worker pair, first in first out). B reads it,
 * builds its own frames from it in its own memory, fans them out to its subscribers and releases
 * the rc_xmsg at once. So B's queues never hold O's memory: a slow consumer on B pins only B's
 * pool, where B's slow-consumer policy and pressure relief can reach it, and O's memory comes home
 * within one loop turn of every receiver.
 *
 * Memory. rc_xmsgs are bump-allocated in POOL buffers of A's pool (rc_xarena), never straddling
 * two; one too long for a buffer (a large message) has a buffer of its own, whose chain holds the
 * rest of its payload and goes home with it. The pool buffer is held by ONE pool reference, and
 * the sharing across threads is counted in an atomic per-buffer count of holds, in an array beside
 * the pool (holds[buf]):
 *   - the arena holds 1 while the buffer is its current one;
 *   - each rc_xmsg in it holds 1 per receiver it was pushed to (rc_xmsg_new takes that many, the
 *     publisher gives back the holds of pushes that failed).
 * Whoever drops holds[buf] to zero releases the pool reference: rc_pool_unref when that is A
 * itself, rc_pool_remote_put from any other worker (the pool's lock-free remote-free path), and A
 * collects it in its loop (rc_pool_collect_remote). Nothing is written into a buffer after it was
 * handed out, and each receiver only reads.
 *
 * Memory orders. A writes an rc_xmsg with plain stores and takes its holds with a relaxed add;
 * the mailbox push (a release store) publishes both, and B's pop (acquire) sees them. B's reads of
 * the rc_xmsg happen before its release of the hold (fetch_sub with release); the thread whose
 * fetch_sub reaches zero uses acquire too, so every other holder's reads happen before the buffer
 * goes home (the fetch_subs on one counter form a release sequence), and the remote push (release)
 * orders that before A's collect (acquire) and A's reuse of the buffer.
 *
 * Errors are negative errno values, or NULL, as each function says.
 */
#ifndef RC_XMSG_H
#define RC_XMSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_pool.h"
#include "rc_span.h"

enum rc_xmsg_kind {
	/* a publish on its way to the topic's owner, which numbers it (not numbered yet) */
	RC_XMSG_FORWARD = 1,
	/* a message numbered by its topic's owner: deliver it to this worker's subscribers */
	RC_XMSG_PUBLISH = 2,
	/* no payload: the owner's messages of the topic up to `seq` that were lost on their way here
	 * (a full mailbox), told when there is room again, so that a loss at the end of a burst is
	 * told without waiting for the next message */
	RC_XMSG_SKIP = 3,
	/* no payload: a subscriber's worker asks the topic's owner where the topic stands (and, per
	 * `ask`, for its latest retained message or those after epoch/seq); the owner answers with a
	 * JOINED, then the REPLAYs it asked for, pushed together (net/rc_join.h) */
	RC_XMSG_JOIN = 4,
	/* no payload: the owner's answer to a JOIN: the topic's epoch and last number `seq` then,
	 * `outcome` and whether a snapshot follows */
	RC_XMSG_JOINED = 5,
	/* one retained message of the topic (seq, pub_ns, text, payload) for the JOIN's subscriber */
	RC_XMSG_REPLAY = 6,
};

#define RC_XMSG_NO_ORIGIN UINT64_MAX /* origin: no connection of any worker published it here */

/* A hand-off, 8-byte aligned, followed by the topic name and then the payload. */
typedef struct rc_xmsg {
	uint64_t pub_ns; /* CLOCK_MONOTONIC ns when the publishing worker read it (0 if not set) */
	uint64_t seq;    /* PUBLISH: the topic's sequence number; SKIP: the last one lost; FORWARD: 0 */
	uint64_t epoch;  /* PUBLISH, SKIP: the epoch of the topic's numbering; FORWARD: 0 */
	/* the publishing connection (net/ packs its worker, slot and generation), which must not
	 * receive its own message, or RC_XMSG_NO_ORIGIN */
	uint64_t origin;
	uint32_t len;      /* payload bytes */
	uint32_t buf;      /* the owner's pool buffer holding it */
	uint8_t kind;      /* enum rc_xmsg_kind */
	uint8_t text;      /* the payload is text (opcode 1), else binary */
	uint8_t topic_len; /* 1 .. RC_APP_TOPIC_MAX */
	uint8_t ask;       /* JOIN: what it asks for (net/rc_join.c); JOINED: the outcome */
	uint8_t snapshot;  /* JOINED: a snapshot (one REPLAY) follows */
	uint8_t reserved[3];
	uint8_t data[]; /* topic_len bytes of name, then len bytes of payload */
} rc_xmsg;

static inline const uint8_t *rc_xmsg_topic(const rc_xmsg *x)
{
	return x->data;
}
static inline const uint8_t *rc_xmsg_payload(const rc_xmsg *x)
{
	return x->data + x->topic_len;
}

/* Bytes an rc_xmsg with this topic and payload takes in a buffer. */
static inline size_t rc_xmsg_size(size_t topic_len, size_t len)
{
	return (sizeof(rc_xmsg) + topic_len + len + 7) & ~(size_t)7;
}

/* The publishing worker's arena. */
typedef struct rc_xarena {
	rc_pool *pool;
	_Atomic uint32_t *holds; /* [pool->count]: holds per buffer (see above); 0 unless in use */
	uint32_t cur;            /* current buffer, or RC_POOL_NONE */
	uint32_t used;           /* bytes of cur handed out */
	uint64_t built;          /* rc_xmsgs built, for metrics */
} rc_xarena;

/* An empty arena over pool (which must outlive it). Returns 0 or -ENOMEM. */
int rc_xarena_init(rc_xarena *a, rc_pool *pool);

/* Drop the arena's hold on its current buffer (the buffer goes home when its rc_xmsgs are all
 * released) and free the holds array. Owner thread, after every receiver has stopped. */
void rc_xarena_fini(rc_xarena *a);

/* Owner thread: if every rc_xmsg of the current buffer has been released, let the buffer go home
 * now rather than keep it for the next hand-off (the worker calls it before sleeping, so an idle
 * worker holds no hand-off buffer). Returns true if it did. */
bool rc_xarena_idle(rc_xarena *a);

/* Owner thread: build an rc_xmsg for `holders` receivers (>= 1), copying the payload from a span
 * (of any pool: rc_span.h); seq, epoch and pub_ns are 0 and origin RC_XMSG_NO_ORIGIN, for the
 * caller to set before the push. One too long for one buffer is built alone in a buffer of its
 * own, its payload going on over the buffer's chain (rc_pool.h), which its receivers read with
 * rc_xmsg_payload_span. Returns it, or NULL if the pool has no free buffer (the pool counts the
 * failed allocation) or the chains have no room. */
rc_xmsg *rc_xmsg_new(rc_xarena *a, enum rc_xmsg_kind kind, bool text, const uint8_t *topic,
                     size_t topic_len, const rc_span *payload, uint32_t holders);

/* The payload of a PUBLISH, which goes on over its buffer's chain when it is large. */
static inline rc_span rc_xmsg_payload_span(const rc_xarena *a, const rc_xmsg *x)
{
	return rc_span_of(a->pool, x->buf, rc_xmsg_payload(x), x->len);
}

/* Any thread: give back n holds on buffer buf of the arena's pool. `owner` says whether the caller
 * is the arena's own worker (its pool may be touched directly) or another one (the buffer goes home
 * through rc_pool_remote_put). */
void rc_xmsg_release(rc_xarena *a, uint32_t buf, uint32_t n, bool owner);

#endif
