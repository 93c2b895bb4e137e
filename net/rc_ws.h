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

/* The upgrade succeeded: c becomes an open WebSocket (CS_OPEN) of its route (set by the caller). */
void ws_open(rc_worker *w, rc_conn *c);

/* Bytes data[0..len) received on an open or closing WebSocket, inside receive buffer buf (which
 * the caller holds; messages made in place take their own references): parse frames, publish,
 * answer commands and control frames. May close c. */
void ws_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);

/* A message published on another worker at pub_ns, for this worker's subscribers of its topic:
 * numbered in this worker's topic index and built in this worker's memory (core/rc_xmsg.h says
 * why). */
void ws_deliver(rc_worker *w, const uint8_t *topic, size_t tlen, bool text, const rc_span *payload,
                uint64_t pub_ns);

/* count messages of a topic were lost on their way from another worker: they take numbers here and
 * every ringcast.v1 subscriber of the topic is told, in order (docs/protocol.md 6.5). */
void ws_lost(rc_worker *w, const uint8_t *topic, size_t tlen, uint32_t count);

/* The pool is below its reserve: take back the messages queued for subscribers whose send is still
 * in flight, connection by connection, until the reserve is restored (dropping their queues, or
 * closing them under the disconnect policy). Returns the number of connections relieved. */
uint32_t ws_relieve_pressure(rc_worker *w);

#endif
