/* rc_route: the request head and the routes of ringcast's one port.
 *
 *   /ws       the pub/sub WebSocket (docs/protocol.md)
 *   /echo     an RFC 6455 echo WebSocket, for conformance testing
 *   /healthz  200 while the process serves
 *   /readyz   200, or 503 while draining
 *   /metrics  Prometheus text format
 * Anything else is 404. Each plain HTTP request gets one response and the connection closes.
 *
 * The head is read into a chunk of its own (parser state, fields and bytes), so a slow client
 * costs at most header-bytes-max and never holds a receive buffer between reads. Bytes that
 * follow the head in the same read (a client's first frames) are parsed in place in the receive
 * buffer.
 */
#ifndef RC_ROUTE_H
#define RC_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* Bytes data[0..len) received on a connection still reading its request head (CS_HTTP), inside
 * receive buffer buf (which the caller holds): gather the head, and once it is complete route it:
 * upgrade to a WebSocket (the bytes after the head go to ws_feed), answer a plain request, or
 * refuse with the status docs/protocol.md gives. */
void http_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);

#endif
