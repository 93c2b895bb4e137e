/* rc_handshake: the server side of the WebSocket opening handshake (RFC 6455 §4.2.1, §4.2.2).
 *
 * Given a request head that rc_http_parse accepted, rc_ws_handshake_check decides whether it is a
 * valid upgrade this route accepts and, if so, computes Sec-WebSocket-Accept and picks the
 * subprotocol; rc_ws_response_101 then writes the answer, or rc_ws_error_response the refusal.
 *
 *   rc_ws_handshake_result res;
 *   int status = rc_ws_handshake_check(&parser.req, &route_cfg, &res);
 *   n = status == 0 ? rc_ws_response_101(out, cap, &res)
 *                   : rc_ws_error_response(out, cap, status, res.reason);
 *
 * The client side (key, request, checking the 101) is rc_ws_client.h.
 *
 * What is checked, in this order (the first failure decides):
 *   405  the method is not GET
 *   400  not HTTP/1.1 (a 1.0 client cannot upgrade)
 *   400  no Host
 *   426  no Upgrade field at all: a plain GET of a WebSocket route; the answer says how to upgrade
 *   400  Upgrade present but without the token "websocket" (case-insensitive, any of its items)
 *   400  Connection without the token "upgrade" (case-insensitive; "keep-alive, Upgrade" is fine)
 *   400  Sec-WebSocket-Key missing, repeated, or not the base64 of exactly 16 bytes: 24 characters,
 *        22 of the base64 alphabet then "==" (the 4 unused bits of the last character are not
 *        checked, as most base64 decoders ignore them: the key is only ever hashed as text)
 *   426  Sec-WebSocket-Version missing, repeated, or other than exactly "13"; the 426 carries
 *        Sec-WebSocket-Version: 13 (§4.4)
 *   400  Origin repeated
 *   403  Origin not in cfg->origins (when the list is not empty), or absent while
 *        cfg->allow_no_origin is false
 * Then the subprotocol: the first of cfg->subprotocols (server preference) that the client offered
 * in Sec-WebSocket-Protocol (a comma list, possibly on several lines); none if there is no match,
 * which is not a failure: the client decides whether to go on without one (§4.1). Subprotocol names
 * are compared exactly, case included (they are tokens the server echoes back).
 * Sec-WebSocket-Extensions is ignored: ringcast implements no extension (permessage-deflate would
 * cost a compressor per connection and defeat encode-once broadcast), so it accepts none and the 101
 * carries no Sec-WebSocket-Extensions; a client must then not set RSV bits.
 *
 * Origin: only browsers send it, and it is the only defence against another site's page opening a
 * WebSocket to this server with the user's cookies. So a browser-facing route lists its origins.
 * allow_no_origin is true by default because non-browser clients (Python websockets, Node ws, curl,
 * ringcast-bench) send no Origin and a request without one cannot come from a browser page; set it
 * false only to keep such clients out.
 */
#ifndef RC_HANDSHAKE_H
#define RC_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_http.h"

#define RC_WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */
#define RC_WS_KEY_LEN 24    /* base64 of the 16-byte nonce */

typedef struct rc_ws_handshake_cfg {
	/* Serialized origins allowed ("https://example.com", "http://localhost:8080"), compared
	 * exactly but case-insensitively with the request's Origin. origin_count == 0: any origin. */
	const char *const *origins;
	size_t origin_count;
	/* Whether a request without Origin is accepted (default true: see above). */
	bool allow_no_origin;
	/* The subprotocols this route speaks, in the server's order of preference; may be empty. */
	const char *const *subprotocols;
	size_t subprotocol_count;
} rc_ws_handshake_cfg;

/* Any origin, requests without Origin accepted, no subprotocol. */
#define RC_WS_HANDSHAKE_CFG_DEFAULT ((rc_ws_handshake_cfg){ .allow_no_origin = true })

typedef struct rc_ws_handshake_result {
	char accept[RC_WS_ACCEPT_LEN + 1]; /* Sec-WebSocket-Accept, NUL-terminated; "" on failure */
	int subprotocol;                   /* index into cfg->subprotocols, -1 if none selected */
	const char *subprotocol_name;      /* cfg->subprotocols[subprotocol], or NULL */
	const char *reason;                /* static, one line: "ok" or why the check failed */
} rc_ws_handshake_result;

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")),
 * written to out[0..28) (not NUL-terminated). The key is hashed as given, not decoded. Returns 0, or
 * -1 if wolfCrypt failed (it does not, short of a broken build). */
int rc_ws_accept(const char *key, size_t key_len, char out[RC_WS_ACCEPT_LEN]);

/* Check an upgrade request against a route's config (see the top of this file). Returns 0 and fills
 * res->accept and the subprotocol when the upgrade is accepted, otherwise the HTTP status to answer
 * with (400, 403, 405, 426, or 500 if the accept value could not be computed); res->reason says why
 * in either case. */
int rc_ws_handshake_check(const rc_http_request *req, const rc_ws_handshake_cfg *cfg,
                          rc_ws_handshake_result *res);

/* The 101 Switching Protocols response for an accepted check. Returns its length, or 0 if it does
 * not fit in cap bytes. */
size_t rc_ws_response_101(char *out, size_t cap, const rc_ws_handshake_result *res);

/* An error response for any status on the WebSocket port (the parser's 400/405/431/505, the
 * handshake's 400/403/405/426, the router's 404, 503 when full): rc_http_error_response (text/plain,
 * the reason as a one-line body, Connection: close, 405 Allow: GET, 503 Retry-After: 1) plus, for
 * 426, Upgrade: websocket and Sec-WebSocket-Version: 13. reason NULL means the status text. Returns
 * its length, or 0 if it does not fit. */
size_t rc_ws_error_response(char *out, size_t cap, int status, const char *reason);

#endif
