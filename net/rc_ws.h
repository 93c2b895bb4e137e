/* rc_ws: a WebSocket connection's input and the fan-out: frames, messages, publishing, ringcast.v1
 * commands, the echo route, and the messages other workers hand over.
 *
 * The zero-copy path: a data frame whose whole payload arrived in one receive buffer is unmasked
 * there by the parser; the server header is written in the bytes just before the payload (the
 * client's header, always at least 4 bytes longer), and that receive buffer becomes the message
 * every subscriber's queue points at. Anything else (a fragmented message, a frame split over two
 * reads) is assembled once in a POOL buffer, with the same headroom in front, and from there takes
 * the same path. A second encoding for the other kind of subscriber (the ringcast.v1 envelope
 * around a plain publisher's payload, or the bare payload of a PUBLISH) is copied into the
 * worker's arena. docs/architecture.md has the whole path.
 */
#ifndef RC_WS_H
#define RC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"
#include "rc_xmsg.h"

/* The upgrade succeeded: c becomes an open WebSocket (CS_OPEN) of its route (set by the caller). */
void ws_open(rc_worker *w, rc_conn *c);

/* Bytes data[0..len) received on an open or closing WebSocket, inside receive buffer buf (which
 * the caller holds; messages made in place take their own references): parse frames, publish,
 * answer commands and control frames. May close c. */
void ws_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);

/* A publish read on another worker for a topic this worker owns (rc_xfer.h): number it, deliver it
 * here and hand it to the other workers with subscribers, as a publish read here. */
void ws_forwarded(rc_worker *w, const rc_xmsg *x, const rc_span *payload);

/* A message numbered by its topic's owner, for this worker's subscribers of the topic: built in
 * this worker's memory (core/rc_xmsg.h says why), after a missed notice for any numbers that did
 * not arrive. */
void ws_deliver(rc_worker *w, const rc_xmsg *x, const rc_span *payload);

/* Loop phase, with several workers, every RC_GAUGES_NS at most: release the holds (rc_topic_hold)
 * of a slice of the topics this worker owns that no other worker subscribes to any more. */
void ws_sweep_holds(rc_worker *w, uint64_t now_ns);

/* The pool is below its reserve: take back the messages queued for subscribers whose send is still
 * in flight, connection by connection, until the reserve is restored (dropping their queues, or
 * closing them under the disconnect policy). Returns the number of connections relieved. */
uint32_t ws_relieve_pressure(rc_worker *w);

#endif
