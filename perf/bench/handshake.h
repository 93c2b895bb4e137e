/* handshake: the client half of the WebSocket opening handshake, as the bench does it: the ws://
 * URL, the server's address, the request heads, the key, and the checks of the server's answer.
 *
 * Everything here is pure text work but hs_resolve (getaddrinfo); no connection state. Both
 * engines use it: a connection writes its request with hs_request_finish (after the head built
 * once by hs_requests_build, or per subscriber by hs_request_v1_sub), reads until hs_head_end
 * finds the end of the answer's head, then hs_check says whether the answer opens the connection.
 *
 * Kept in one file on purpose: this is what proto's WebSocket client module (rc_ws_client.h,
 * rc_base64.h) will provide, and swapping it in should be a change of this file and its callers
 * only. The error names (hs_check) are the keys of the bench's error tally: they must not change. */
#ifndef BENCH_HANDSHAKE_H
#define BENCH_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rc_handshake.h"
#include "topics.h"

#define HS_RESP_MAX 8192 /* longest 101 response we accept (rc_http's request limit) */
#define HS_SUBPROTOCOL_V1 "ringcast.v1"
#define HS_KEY_TAIL (RC_WS_KEY_LEN + 4) /* what hs_request_finish appends: the key, CRLF CRLF */

/* ws://HOST[:PORT][/PATH][?QUERY]; HOST may be [IPv6]. */
struct hs_url {
	char host[256], port[16], hostport[300];
	char path[1024]; /* PATH?QUERY, "/" if none */
};

/* Parse url into u. Returns 0, or -1 if it is not a ws:// URL this bench can use (wss:// is said
 * on stderr: not supported yet). */
int hs_url_parse(const char *url, struct hs_url *u);

/* The server's address. */
struct hs_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Resolve u's host and port. Returns 0, or -1 after saying why on stderr. */
int hs_resolve(const struct hs_url *u, struct hs_addr *a);

/* How the clients connect (--proto): ringcast's /ws with ?topics= and ?publish=, the URL as
 * given, or ringcast.v1 (the subprotocol; a subscriber's topics in its target). */
enum hs_mode {
	HS_PLAIN,
	HS_GENERIC,
	HS_V1
};

/* The request heads, each up to and including "Sec-WebSocket-Key: ". */
struct hs_requests {
	enum hs_mode mode;
	char path[1024];           /* the URL's PATH?QUERY */
	char sub[2048], pub[2048]; /* subscribers' and publishers' heads (v1: publishers only) */
	size_t sub_len, pub_len;
	char tail[1024]; /* v1: what follows a subscriber's target (" HTTP/1.1\r\n...") */
	size_t tail_len;
	size_t sub_max; /* v1: the longest head hs_request_v1_sub can write */
};

/* Build the heads for URL u. plain: subscribers PATH?topics=TOPIC, publishers PATH?publish=TOPIC;
 * generic: PATH for both; v1: PATH for publishers, and per_sub topics of t per subscriber.
 * Returns 0, or -1 if the URL is too long. */
int hs_requests_build(struct hs_requests *rq, const struct hs_url *u, enum hs_mode mode,
                      const char *topic, const struct topics *t, uint32_t per_sub);

/* v1 subscriber: its head up to the key, with its n topics (indices into t) in the target
 * (?topics=a,b,c). Returns the length written (at most rq->sub_max, less than cap). */
size_t hs_request_v1_sub(const struct hs_requests *rq, const struct topics *t,
                         const uint32_t *topics, uint32_t n, char *out, size_t cap);

/* Complete the request whose head is out[0..n): append the key and the empty line. out must hold
 * HS_KEY_TAIL more bytes. Returns the request's length. */
size_t hs_request_finish(uint8_t *out, size_t n, const char key[RC_WS_KEY_LEN]);

/* The Sec-WebSocket-Key of a 16-byte nonce (base64, 24 characters, not NUL-terminated). */
void hs_key(const uint8_t nonce[16], char key[RC_WS_KEY_LEN]);

/* The length of the response head in p[0..n) up to and including its empty line, or 0 if the
 * head is not complete yet. */
size_t hs_head_end(const uint8_t *p, size_t n);

/* The client's checks of the server's answer (RFC 6455 §4.1): status 101, Upgrade: websocket,
 * Connection: upgrade, exactly one Sec-WebSocket-Accept equal to that of our key, no extension,
 * and the subprotocol we offered (subprotocol, or none if NULL). buf[0..n) is the head. Returns
 * NULL if the answer is acceptable, else a name for the error tally: "http_<status>" (written in
 * scratch) for another status, "handshake_<what>" for the rest. */
const char *hs_check(const uint8_t *buf, size_t n, const char key[RC_WS_KEY_LEN],
                     const char *subprotocol, char *scratch, size_t scratch_cap);

/* The seconds of a Retry-After field (delta-seconds form) in response head buf[0..n), or -1. */
long hs_retry_after_s(const uint8_t *buf, size_t n);

#endif
