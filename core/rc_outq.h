/* rc_outq: one subscriber's bounded outbound queue of message references, and the slow-consumer
 * policy that applies when it is full.
 *
 * A queue is a FIFO ring of `rc_msg *` capped both in messages (cfg->msgs_max, a power of two) and
 * in bytes (cfg->bytes_max, counting every queued frame whole), with one exception: an empty queue
 * always takes a message, whatever its length, so a message longer than bytes_max is queued when
 * it finds the queue empty (and then alone: the byte cap bounds what a queue holds beyond that one
 * message, as a consumer fetch returns at least one message). The handle is 24 bytes and embedded
 * in the connection; the ring's slots (msgs_max pointers) are NOT: they come from a caller-provided
 * allocator (rc_outq_alloc; the server backs it with its chunk slab, rc_chunks.h, tests with
 * malloc) on the push that makes the queue non-empty, and go back the moment it is empty again, so
 * an idle connection holds no buffer at all.
 *
 * The configuration (caps and policy) is shared by every queue of a worker, so it is not stored per
 * queue: every operation that needs it takes a `const rc_outq_cfg *`, and it must be the same caps
 * for the whole life of a queue (the policy may change between calls).
 *
 * Reference counts. The queue never writes m->refs (rc_outq_validate reads it): it stores and
 * returns pointers. The convention is:
 *   - a message the queue stores owns one reference; the caller takes it (rc_msg_ref) when
 *     rc_outq_push reports res.queued, and only then;
 *   - every message the queue hands back (res.dropped[] of a push, the out[] of rc_outq_consume and
 *     rc_outq_sent, the callback of rc_outq_drain) leaves the queue with that reference, and the
 *     caller releases it (rc_msg_unref) once it has counted it.
 * That keeps this module free of the slab and testable with plain rc_msg structs.
 *
 * Fitting. An empty queue takes any message (msgs_max >= 1). A non-empty queue takes a message
 * only if count < msgs_max and bytes + len <= bytes_max; so bytes > bytes_max only while the queue
 * holds exactly one message, longer than bytes_max. A message that does not fit meets the policy:
 *   DROP_NEWEST  the new message is not queued (RC_OUTQ_DROPPED_NEWEST).
 *   DISCONNECT   nothing is queued (RC_OUTQ_OVERFLOW); the caller closes the client with 4000
 *                (RC_CLOSE_SLOW_CONSUMER) and drains the queue.
 *   DROP_OLDEST  the oldest unprotected messages are evicted until the new one fits
 *                (RC_OUTQ_DROPPED_OLDEST): one under the message cap, possibly many under the
 *                byte cap, and every queued message for one longer than bytes_max (the queue is
 *                then empty, and an empty queue takes it).
 *   CONFLATE     as DROP_OLDEST, but before each eviction: if the newest unprotected queued message
 *                with the same m->topic can be replaced by the new one within the byte cap
 *                (bytes - old len + new len <= bytes_max, so never by a message longer than
 *                bytes_max), it is replaced in place (RC_OUTQ_CONFLATED) and nothing more is
 *                evicted. With no such message, CONFLATE is exactly DROP_OLDEST.
 *   The replaced entry keeps its queue position: the new value of the topic goes out as early as
 *   the old one would have (what a market-data consumer wants: fresh data, sooner), at the price
 *   that the relative order of messages of DIFFERENT topics is no longer their publication order.
 *   Within one topic order is kept, since the replaced message was the newest of its topic.
 *   Finding it is a linear scan from the tail, up to msgs_max descriptor loads (a cache miss each:
 *   on the order of 100 us at 1024 in the worst case, a full queue with no message of that topic);
 *   it runs only when the queue is full, and stops at the first match, which in a conflating feed
 *   is usually near the tail. Not measured yet; a per-queue topic index is the fix if it shows.
 *
 * Protected messages are never evicted or replaced: the first `pinned` messages (a send that
 * carries them by reference is in flight: the kernel may be reading their bytes and rc_outq_sent
 * will pop them) and a head message that is partly sent (head_offset > 0: dropping it would cut a
 * frame in the middle of the stream). Evicting behind protected messages shifts them forward one
 * slot each (O(pinned) per eviction; pinned is the number of frames in one send). When even
 * evicting every unprotected message could not make room, DROP_OLDEST and CONFLATE fall back to
 * dropping the new message (RC_OUTQ_DROPPED_NEWEST) and evict nothing: that is when the protected
 * messages fill the message cap, or when some are protected and their bytes plus the new
 * message's are over bytes_max. With nothing protected room can always be made, since evicting
 * every message leaves an empty queue; a message longer than bytes_max that meets a protected one
 * (a long message half sent, say) is dropped.
 *
 * Evictions are returned through a fixed array (res.dropped, RC_OUTQ_DROPPED_MAX entries) rather
 * than a callback, so the push hot path makes no indirect calls and the caller sees them in order.
 * When one push needs more evictions than the array holds, it stops with res.more set and the new
 * message not yet queued; the caller releases what it got and pushes the same message again. The
 * queue is valid between the calls, and the outcome is the same as one call with an unbounded
 * array (each call re-runs the same tests in the same order: fits, conflate target, evict one);
 * only the last call's status may then read QUEUED where one call would have said DROPPED_OLDEST.
 * The fan-out loop:
 *
 *     rc_outq_result r;
 *     do {
 *             rc_outq_push(&c->q, cfg, alloc, m, &r);
 *             for (uint32_t i = 0; i < r.ndropped; i++) {
 *                     count_drop(c, r.dropped[i]);     // by topic, for "missed" notices
 *                     rc_msg_unref(r.dropped[i]);
 *             }
 *     } while (r.more);
 *     if (r.queued)
 *             rc_msg_ref(m);
 *     else if (r.status == RC_OUTQ_OVERFLOW)
 *             close_client(c, RC_CLOSE_SLOW_CONSUMER);
 *     else
 *             count_drop(c, m);                        // DROPPED_NEWEST, NOMEM
 *
 * Sending. The flush phase reads the first messages with rc_outq_peek, starting
 * rc_outq_head_offset() bytes into the head. Frames it copies into a staging buffer it pops at once
 * with rc_outq_consume. Frames it sends by reference it marks with rc_outq_pin before submitting,
 * and when the send completes it calls rc_outq_sent with the byte count the kernel reported (0 for
 * a failed or cancelled send): complete messages are popped, a partly sent head keeps its offset,
 * and the pin is released. One send in flight per connection, so at most one pin at a time.
 *
 * Closing: rc_outq_drain hands every message back, after the send in flight (if any) has completed
 * and been reported with rc_outq_sent (nothing is released while the kernel may still read it).
 *
 * Nothing here allocates except through the allocator, which is called at most once per push (on
 * the empty -> non-empty transition) and put back at most once per operation. Not thread-safe: a
 * queue belongs to its connection's worker.
 */
#ifndef RC_OUTQ_H
#define RC_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_msg;

/* The largest msgs_max: head, count and pinned are 16-bit to keep the handle at 24 bytes (the whole
 * per-connection budget is 400 bytes). 32768 slots are 256 KiB of storage, far more than a pool
 * buffer, so the real bound is rc_outq_storage_bytes() <= the pool's buffer size. */
#define RC_OUTQ_MSGS_MAX_LIMIT 32768u
/* Evictions one rc_outq_push call can return; more set res.more. 16 covers the message cap (one
 * eviction) and a byte-cap eviction of up to 16 messages per call. */
#define RC_OUTQ_DROPPED_MAX 16u

/* The slow-consumer policy (above), which is also the server's slow-policy setting: rc_cfg parses
 * and prints it with rc_outq_policy_parse and rc_outq_policy_name, so the names exist only once,
 * in rc_outq.c. */
enum rc_outq_policy {
	RC_OUTQ_DROP_OLDEST = 0, /* "drop-oldest": make room by dropping the oldest queued message */
	RC_OUTQ_DROP_NEWEST = 1, /* "drop-newest": do not queue the new message */
	RC_OUTQ_CONFLATE = 2,    /* "conflate": replace the queued message of the same topic */
	RC_OUTQ_DISCONNECT = 3,  /* "disconnect": close the subscriber with 4000 */
};
#define RC_OUTQ_POLICY_COUNT 4

/* Shared by all queues of a worker. Check it once with rc_outq_cfg_check. */
typedef struct rc_outq_cfg {
	uint32_t msgs_max; /* power of two, 1 .. RC_OUTQ_MSGS_MAX_LIMIT */
	/* >= 1; what a non-empty queue may hold: a longer message is queued only into an empty queue,
	 * and alone */
	uint32_t bytes_max;
	enum rc_outq_policy policy;
} rc_outq_cfg;

/* Where ring storage comes from. get returns `size` bytes aligned for pointers, or NULL when none
 * is available (the push then reports RC_OUTQ_NOMEM); put takes back exactly what get returned,
 * with the same size. size is always rc_outq_storage_bytes(cfg). */
typedef struct rc_outq_alloc {
	void *(*get)(void *ctx, size_t size);
	void (*put)(void *ctx, void *p, size_t size);
	void *ctx;
} rc_outq_alloc;

/* The handle. Public so it can be embedded; use the functions. There is no init: a zeroed handle
 * is an empty queue. Before the handle goes away the queue must be empty (rc_outq_drain), or the
 * references and the storage it holds leak. */
typedef struct rc_outq {
	struct rc_msg **ring; /* msgs_max slots from the allocator; NULL iff count == 0 */
	uint32_t bytes;       /* sum of len over queued messages, the head counted whole */
	uint32_t head_offset; /* bytes of the head message already sent; < its len; 0 when empty */
	uint16_t head;        /* slot of the oldest message, < msgs_max */
	uint16_t count;       /* messages queued, <= msgs_max */
	uint16_t pinned;      /* the first `pinned` messages are in a send in flight; <= count */
} rc_outq;

enum rc_outq_status {
	RC_OUTQ_QUEUED = 0,         /* queued, nothing dropped */
	RC_OUTQ_DROPPED_NEWEST = 1, /* not queued (DROP_NEWEST, or no room even after evicting all) */
	RC_OUTQ_DROPPED_OLDEST = 2, /* dropped[] were evicted; queued unless res.more */
	/* queued in place of dropped[ndropped - 1]; any earlier dropped[] were evicted oldest-first
	 * to make the replacement fit */
	RC_OUTQ_CONFLATED = 3,
	RC_OUTQ_OVERFLOW = 4, /* DISCONNECT: not queued, close the client with 4000 */
	RC_OUTQ_NOMEM = 5,    /* not queued: the allocator had no storage (queue was empty) */
};
#define RC_OUTQ_STATUS_COUNT 6

typedef struct rc_outq_result {
	enum rc_outq_status status;
	bool queued; /* msg is in the queue now: the caller takes one reference for it */
	/* push unfinished (status DROPPED_OLDEST, queued false): release dropped[], then push the
	 * same msg again */
	bool more;
	uint32_t ndropped;
	struct rc_msg *dropped[RC_OUTQ_DROPPED_MAX]; /* oldest first; each leaves with its reference */
} rc_outq_result;

/* 0 if cfg is usable, -EINVAL if msgs_max is not a power of two in 1..RC_OUTQ_MSGS_MAX_LIMIT,
 * bytes_max is 0, or the policy is unknown. */
int rc_outq_cfg_check(const rc_outq_cfg *cfg);

/* Bytes of ring storage one non-empty queue holds: msgs_max pointers. */
size_t rc_outq_storage_bytes(const rc_outq_cfg *cfg);

/* "drop-oldest", "drop-newest", "conflate", "disconnect" -> the policy (>= 0), or -EINVAL. */
int rc_outq_policy_parse(const char *name);
/* The name rc_outq_policy_parse accepts; "unknown" for a value out of range. Never NULL. */
const char *rc_outq_policy_name(enum rc_outq_policy policy);

/* Queue msg (len >= 1, any length) at the tail, applying cfg->policy when it does not fit; *res
 * says what happened (above). Never fails otherwise. Storage is taken from alloc only if q was
 * empty. */
void rc_outq_push(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc,
                  struct rc_msg *msg, rc_outq_result *res);

/* Conflation on demand (a subscriber that asked for at most one message per topic per interval):
 * if an unprotected queued message has msg's topic and msg fits in its place within the byte cap,
 * msg takes the newest such message's place and that message is returned (it leaves with its
 * reference; the caller takes one for msg, as for a queued push). Else NULL and nothing changes
 * (push it). One scan from the tail, as CONFLATE's. */
struct rc_msg *rc_outq_replace(rc_outq *q, const rc_outq_cfg *cfg, struct rc_msg *msg);

static inline uint32_t rc_outq_count(const rc_outq *q)
{
	return q->count;
}
static inline uint32_t rc_outq_bytes(const rc_outq *q)
{
	return q->bytes;
}
static inline bool rc_outq_empty(const rc_outq *q)
{
	return q->count == 0;
}
/* Bytes of the head message already sent: the next send starts at peek(q, cfg, 0)->frame + this. */
static inline uint32_t rc_outq_head_offset(const rc_outq *q)
{
	return q->head_offset;
}

/* The i-th queued message, 0 being the head; i < count. The queue keeps it. */
struct rc_msg *rc_outq_peek(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t i);

/* Pop the first n (<= count) messages into out[0..n), oldest first, for the caller to release;
 * clears the head offset (the caller has dealt with the unsent rest of a partly sent head, e.g.
 * copied it into a staging buffer); n == 0 does nothing. No send may be in flight (pinned == 0).
 * Returns the storage when the queue becomes empty. */
void rc_outq_consume(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc, uint32_t n,
                     struct rc_msg **out);

/* The first n (1 <= n <= count) messages are going out by reference in one send: protect them from
 * eviction and conflation until rc_outq_sent. No other send may be in flight (pinned == 0). */
void rc_outq_pin(rc_outq *q, uint32_t n);

/* The send in flight (if any) completed having sent `sent` bytes, starting head_offset bytes into
 * the head (0 for a failed or cancelled send). sent must not exceed the unsent bytes of the pinned
 * messages, or of the whole queue when nothing is pinned. Pops every fully sent message into
 * out[0..returned), oldest first (out_max must cover them: the number pinned is always enough),
 * leaves the offset into a partly sent head, releases the pin, and returns the storage when the
 * queue becomes empty. Returns how many messages were popped. */
uint32_t rc_outq_sent(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc, size_t sent,
                      struct rc_msg **out, uint32_t out_max);

/* Hand every queued message to release(ctx, m), oldest first, and return the storage: q is empty
 * afterwards. No send may be in flight (pinned == 0: report its completion with rc_outq_sent
 * first). Returns the number of messages released. */
uint32_t rc_outq_drain(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc,
                       void (*release)(void *ctx, struct rc_msg *m), void *ctx);

/* Check every invariant: count <= msgs_max, head < msgs_max, storage NULL iff empty, every entry
 * non-NULL with len >= 1 and refs > 0, bytes == the sum of their lengths, bytes <= bytes_max unless
 * the queue holds exactly one message (which may then be longer than bytes_max), head_offset < the
 * head's len (0 when empty), pinned <= count. Prints the first violated invariant to stderr and
 * returns false; O(count). For tests and debug checks. */
bool rc_outq_validate(const rc_outq *q, const rc_outq_cfg *cfg);

#endif
