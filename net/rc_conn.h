/* rc_conn: the life of one connection: its states and close handshake, its control output, the
 * arming of its reads and their deadlines, and the checks of what each state implies.
 *
 *   accept            conn_accepted: CS_HTTP, reading the request head under the handshake
 *                     deadline
 *   upgrade           (rc_ws.c ws_open) CS_OPEN; reads are armed with the idle timeout
 *   HTTP answer       conn_respond: CS_CLOSING, CLOSE_HTTP; TCP closes once it is sent
 *   close code        conn_close: CS_CLOSING, our close frame queued (CLOSE_QUEUED), or after what
 *                     is queued for 1001 (CLOSE_DRAIN); the peer's close frame is awaited under the
 *                     close deadline; once both have crossed, TCP closes
 *   drop              conn_abort (or conn_close with code 0): CS_ABORT, everything in flight
 *                     cancelled; conn_reap then closes the descriptor (CS_CLOSED) once nothing is
 *                     in flight, and conn_free empties the slot when that close completes
 *
 * Every way out goes through conn_abort, which releases what the connection holds (subscriptions,
 * its publish topic, queued messages, chunks) except what a send in flight still uses; that is
 * released when the send comes back. A slot is reused only when no operation is in flight for it,
 * so a completion always finds its connection (or, for a late linked timeout, an old generation).
 *
 * The control output (c->ctl) is one chunk of bytes that goes out ahead of queued messages:
 * the 101, notices, pongs, pings and the close frame. It always keeps room for a close frame.
 *
 * conn_check asserts every invariant of a connection; the loop calls it after each dispatch in
 * builds with RC_CHECKS (Debug, Asan, Tsan).
 */
#ifndef RC_CONN_H
#define RC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_clock.h"
#include "rc_worker_int.h"

static inline uint32_t conn_slot(const rc_worker *w, const rc_conn *c)
{
	return (uint32_t)(c - w->conns.slots);
}

/* A deadline ms milliseconds from now, in the worker's 32-bit milliseconds, and back to
 * CLOCK_MONOTONIC nanoseconds. */
static inline uint32_t conn_deadline_in(const rc_worker *w, uint32_t ms)
{
	return (uint32_t)((rc_now_ns() - w->time.t0_ns) / RC_NS_PER_MS) + ms;
}
static inline uint64_t conn_deadline_ns(const rc_worker *w, uint32_t deadline_ms)
{
	return w->time.t0_ns + (uint64_t)deadline_ms * RC_NS_PER_MS;
}
/* A CLOCK_MONOTONIC time in the worker's 32-bit milliseconds (as deadlines and core/rc_due.h). */
static inline uint32_t conn_ms(const rc_worker *w, uint64_t ns)
{
	return (uint32_t)((ns - w->time.t0_ns) / RC_NS_PER_MS);
}

/* States in which a completed read is parsed (and a read may be armed). */
static inline bool conn_reading(const rc_conn *c)
{
	return c->state == CS_HTTP || c->state == CS_OPEN || c->state == CS_CLOSING;
}

/* Has part of the queue's head frame gone out, and not all of it? Then nothing else may go on the
 * wire before the rest: no pong, no notice, no close frame (a large frame goes a buffer per send,
 * and between two of its sends the connection is in this state). */
static inline bool conn_mid_frame(const rc_conn *c)
{
	return !rc_outq_empty(&c->q) && rc_outq_head_offset(&c->q) > 0;
}

/* ---- life ------------------------------------------------------------------------------------ */

/* A new connection in the free slot c (the kernel chose it at accept): CS_HTTP, counted, no read
 * armed yet (the accept path arms it once the limits let it in, rc_limit.h; a TLS connection's is
 * armed by wss_start, on admission). */
void conn_accepted(rc_worker *w, rc_conn *c);

/* c leaves its handshake (upgraded, answered or dropped): no longer counted against
 * handshakes-max (rc_limit.h). Every way out of CS_HTTP calls it. */
void conn_handshake_done(rc_worker *w, rc_conn *c);

/* The one way from any state to closed. code 0 drops the TCP connection at once (EOF, I/O error,
 * write deadline, anything before the upgrade); a close code sends a close frame first and waits
 * for the peer's, at most close-timeout-ms. 1001 (shutdown) sends what is queued before the close
 * frame; every other code discards the queue. reason: the close frame's reason, or NULL. Does
 * nothing if c is already closing with a code or being dropped. */
void conn_close(rc_worker *w, rc_conn *c, uint16_t code, enum rc_close_reason why,
                const char *reason);

/* Drop c now: cancel what is in flight, release what it holds, close the descriptor once nothing
 * is in flight. why is kept only if no reason was recorded before. */
void conn_abort(rc_worker *w, rc_conn *c, enum rc_close_reason why);

/* Answer a plain HTTP request (or refuse an upgrade) with resp[0..n), a whole response, then close
 * TCP once it is sent (CLOSE_HTTP). Drops c if the response does not fit. */
void conn_respond(rc_worker *w, rc_conn *c, const void *resp, size_t n, enum rc_close_reason why);

/* The peer's close frame came in, with code (RC_CLOSE_NO_STATUS if it had none): an open
 * connection answers it (conn_close); one whose close frame already went out closes TCP. */
void conn_peer_closed(rc_worker *w, rc_conn *c, uint16_t code);

/* After a dispatch, and when the flush takes c off the dirty list: a dropped connection with
 * nothing left in flight and on no list gets its descriptor closed. */
void conn_reap(rc_worker *w, rc_conn *c);

/* The close of c's descriptor completed: count the close, empty the slot for reuse. */
void conn_free(rc_worker *w, rc_conn *c);

/* ---- what the send path asks (rc_send.c) ----------------------------------------------------- */

/* Release what c holds that no send in flight uses (after its send came back on a dropped
 * connection). */
void conn_release(rc_worker *w, rc_conn *c);

/* Discard c's queue (no send may be using it), counting the messages as slow-consumer drops when
 * that is why c is closing. */
void conn_drop_queue(rc_worker *w, rc_conn *c);

/* Shutdown: c's queue is empty, so its close frame may follow. Appends it to buf[len..cap) and
 * moves CLOSE_DRAIN to CLOSE_QUEUED; returns the new length (len if it does not fit yet). */
uint32_t conn_drain_close_frame(rc_conn *c, uint8_t *buf, uint32_t len, uint32_t cap);

/* The control output is being put into a send: a queued close frame is now in flight. */
void conn_ctl_taken(rc_conn *c);

/* A send of c completed in full. Moves the close handshake on: an HTTP answer or a close frame
 * that crossed the peer's drops the connection; a sent close frame waits for the peer's. Returns
 * false if c was dropped. */
bool conn_sent(rc_worker *w, rc_conn *c);

/* ---- control output -------------------------------------------------------------------------- */

/* Mark c for the flush of this loop turn (at most once). */
void conn_dirty(rc_worker *w, rc_conn *c);

/* Append raw bytes to the control output, keeping room for a close frame. False if they do not fit
 * or no chunk is free. */
bool conn_ctl_append(rc_worker *w, rc_conn *c, const void *p, size_t n);

/* Append one server frame (FIN) to the control output. False once a close frame is on its way
 * (nothing may follow it), or if it does not fit. */
bool conn_ctl_frame(rc_worker *w, rc_conn *c, uint8_t opcode, const void *p, size_t n);

/* ---- reading --------------------------------------------------------------------------------- */

/* Arm a read if none is in flight: under the handshake or close deadline (CS_HTTP, CS_CLOSING) or
 * the idle timeout (CS_OPEN). */
void conn_start_recv(rc_worker *w, rc_conn *c);

/* A read completed without data to parse (res <= 0, or no buffer): end of stream, an error, the
 * provided ring empty (-ENOBUFS: wait for buffers), or -ECANCELED: its deadline passed or we
 * cancelled it to re-arm it. */
void conn_recv_failed(rc_worker *w, rc_conn *c, int res);

/* A read completed with data (already parsed): it counts as activity for the idle timeout, and the
 * next read is armed if parsing did not arm one. */
void conn_recv_done(rc_worker *w, rc_conn *c);

/* Give back the request head chunk (the upgrade is done, or the request refused). */
void conn_head_release(rc_worker *w, rc_conn *c);

/* Give back the POOL buffer of a half-assembled message. */
void conn_release_asm(rc_worker *w, rc_conn *c);

/* Take back the room lent to c's frame parser for a split control frame (RC_FRAME_NEED_CTL), if
 * any: after the frame's event, and when parsing is over. */
void conn_ctl_store_release(rc_worker *w, rc_conn *c);

/* ---- checks ---------------------------------------------------------------------------------- */

/* Assert every invariant of c: what its state implies about operations in flight, queued output,
 * control output, subscriptions and the close handshake. Aborts on the first one broken. */
void conn_check(const rc_worker *w, const rc_conn *c);

#endif
