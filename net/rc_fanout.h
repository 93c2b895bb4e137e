/* rc_fanout: a message's frames and the subscribers' queues: building a frame (encoded once, by
 * copying into the arena or in place in the buffer it arrived in), queueing it for one subscriber
 * under the slow-consumer policy (rc_outq.h: drops counted and owed to ringcast.v1 clients as
 * missed notices), the fan-out to every subscriber of a topic on this worker, and notices. Used by
 * the publishing path (rc_ws.c) and by the joint of a new subscription (rc_owner.c: retained
 * messages for one subscriber).
 */
#ifndef RC_FANOUT_H
#define RC_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* Count a message dropped for c and owe it a missed notice on the message's topic (s: c's
 * subscription on it if the caller has it, else NULL). */
void fan_count_drop(rc_worker *w, rc_conn *c, const rc_msg *m, enum rc_drop_reason reason,
                    rc_sub *s);

/* Queue m for c (which takes its own reference), applying the slow-consumer policy. s: c's
 * subscription on m's topic, or NULL. */
void fan_push(rc_worker *w, rc_conn *c, rc_msg *m, rc_sub *s);

/* Drop the creator's reference on m, if any. */
void fan_msg_done(rc_worker *w, rc_msg *m);

/* Deliver to every subscriber of topic tid but pub (and but those whose joint is pending,
 * rc_owner.h): mplain to plain subscribers, mv1 to ringcast.v1 ones (either may be NULL when
 * nobody of that kind subscribes, or no memory was left), stamped as published at pub_ns, then
 * drop the creator's reference on both: the queues hold their own. */
void fan_out(rc_worker *w, rc_conn *pub, uint32_t tid, rc_msg *mplain, rc_msg *mv1,
             uint64_t pub_ns);

/* A message dropped for want of memory, before any queue (counted). */
void fan_no_memory(rc_worker *w);

/* A frame built by copying into the arena: header, then prefix (plen bytes, may be 0), then the
 * payload; a frame longer than a buffer goes on over a chain. NULL (counted as a no_memory drop)
 * when the pool, the chains' cap or the descriptor slab is exhausted; why < RC_COPY_COUNT counts
 * the copy under that reason. */
rc_msg *fan_copy(rc_worker *w, uint8_t opcode, const uint8_t *prefix, size_t plen,
                 const rc_span *payload, uint32_t tid, uint64_t seq, uint8_t kind,
                 enum rc_copy_reason why);

/* A frame in place: the server header written just before payload, inside a buffer the caller
 * holds (the payload may go on over the buffer's chain). NULL (counted) if the slab is empty. */
rc_msg *fan_in_place(rc_worker *w, uint8_t opcode, uint8_t *payload, size_t len, uint32_t tid,
                     uint64_t seq, uint8_t kind);

/* A notice to a ringcast.v1 client, n bytes of w->scratch (n 0: it did not fit, nothing is sent),
 * with the request id of the command it answers (len 0: none), in the control output (ahead of
 * queued messages). A client that does not read its notices is a slow consumer. */
void fan_notice(rc_worker *w, rc_conn *c, size_t n, rc_app_slice id);

#endif
