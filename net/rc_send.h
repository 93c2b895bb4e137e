/* rc_send: the send path of a worker: one send per dirty connection per loop turn, carrying its
 * control output and as many queued frames as fit in one chunk; partial sends resumed by us.
 *
 * One send in flight per connection (several unlinked sends on one socket can complete out of
 * order, and a short send does not break an IO_LINK chain: docs/facts.md). A send goes in two
 * tries: the first with MSG_DONTWAIT and no deadline, which completes at once when the socket has
 * room (a consumer that keeps up, nearly always); when it comes back short or with -EAGAIN, the
 * rest goes with MSG_WAITALL and the write deadline linked to it, and a consumer that cannot take
 * one batch in time is a slow consumer: dropped (a frame may be cut, so no close frame can
 * follow). docs/architecture.md, "The send path", has the measurements behind these choices.
 */
#ifndef RC_SEND_H
#define RC_SEND_H

#include "rc_worker_int.h"

/* The flush phase, in two steps: take the list of connections marked dirty (rc_conn.h conn_dirty;
 * the worker's list is empty afterwards, and the time of the flush is stamped), then prepare one
 * send for each that has anything to say and no send in flight, a slice at a time: stopping once
 * `slice` requests wait in the submission queue, and returning the rest of the list (NULL when
 * done). A connection dropped while it was on the list has its descriptor closed then (conn_reap
 * waits for it to be off every list). */
rc_conn *send_take_dirty(rc_worker *w);
rc_conn *send_flush_slice(rc_worker *w, rc_conn *list, uint32_t slice);

/* The completion of c's send (res: bytes sent, or -errno): resume a partial send, release what it
 * carried, move the close handshake on, or drop a slow consumer. */
void send_complete(rc_worker *w, rc_conn *c, int res);

#endif
