/* handshake: what the bench adds to proto's WebSocket client (rc_ws_client.h) to open its
 * connections: the server's address, the requests of its subscribers and publishers, and the
 * check of the server's answer turned into the key of the bench's error tally.
 *
 * Use: main resolves the URL (hs_url_parse, then hs_resolve) and builds the requests once
 * (hs_requests_build); a connection then writes its request (hs_request_sub or hs_request_pub,
 * with a key from rc_ws_client_key) and, after every read, checks the answer so far
 * (hs_answer). Nothing here does I/O but hs_resolve (getaddrinfo). The error names are the keys
 * of the bench's JSON: "handshake_" + rc_ws_client_status_name, or "http_<status>". */
#ifndef BENCH_HANDSHAKE_H
#define BENCH_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rc_app.h"
#include "rc_ws_client.h"
#include "topics.h"

#define HS_RESP_MAX 8192 /* longest 101 response we accept (rc_http's request limit) */
/* A target: the URL's (under 2048 bytes), then "?topics=" or "?publish=" and a topic. */
#define HS_TARGET_MAX (sizeof((rc_ws_url *)0)->target + 16 + RC_APP_TOPIC_MAX)
/* A request with such a target: the rest (Host, the fixed fields, the key, the subprotocol, the
 * User-Agent) is under 600 bytes. */
#define HS_REQ_MAX (HS_TARGET_MAX + 1024)

/* The server's address. */
struct hs_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Parse url, ws:// or wss:// (case-insensitive; rc_ws_url_parse's rules for the rest): *tls says
 * which, and wss:// without a port is port 443. Returns 0, or -1 with *why (static text). */
int hs_url_parse(const char *url, rc_ws_url *u, bool *tls, const char **why);

/* Resolve u's host and port. Returns 0, or -1 after saying why on stderr. */
int hs_resolve(const rc_ws_url *u, struct hs_addr *a);

/* How the clients connect (--proto): ringcast's /ws with ?topics= and ?publish=, the URL as
 * given, or ringcast.v1 (the subprotocol; a subscriber's topics in its target). */
enum hs_mode {
	HS_PLAIN,
	HS_GENERIC,
	HS_V1
};

/* What the connections send, but their keys. */
struct hs_requests {
	enum hs_mode mode;
	rc_ws_url url;
	const char *subprotocol; /* v1: RC_APP_SUBPROTOCOL, else NULL */
	char target_sub[HS_TARGET_MAX], target_pub[HS_TARGET_MAX]; /* v1: subscribers' per connection */
	size_t sub_max, pub_max; /* the longest request of a subscriber, of a publisher */
	uint32_t per_sub;        /* v1: topics per subscriber */
	size_t topic_name_max;   /* v1: the longest topic name */
};

/* Build the requests for URL u. plain: subscribers TARGET?topics=TOPIC, publishers
 * TARGET?publish=TOPIC; generic: TARGET for both; v1: TARGET for publishers, and per_sub topics
 * of t per subscriber. Returns 0, or -1 if the URL is too long. */
int hs_requests_build(struct hs_requests *rq, const rc_ws_url *u, enum hs_mode mode,
                      const char *topic, const struct topics *t, uint32_t per_sub);

/* A subscriber's request with key (v1: its n topics, indices into t, in the target; otherwise
 * t, topics and n are not used) into out. Returns its length, at most rq->sub_max (<= cap). */
size_t hs_request_sub(const struct hs_requests *rq, const struct topics *t, const uint32_t *topics,
                      uint32_t n, const char *key, uint8_t *out, size_t cap);

/* A publisher's request with key into out. Returns its length, at most rq->pub_max (<= cap). */
size_t hs_request_pub(const struct hs_requests *rq, const char *key, uint8_t *out, size_t cap);

/* What the answer so far says. */
enum hs_verdict {
	HS_MORE,   /* the head is not complete: read more */
	HS_OPEN,   /* a valid 101: the connection is open; its head is head_len bytes */
	HS_FAILED, /* refused or not a valid 101: err names it */
};

struct hs_answer {
	size_t head_len;       /* HS_OPEN: bytes of the head (after them: the server's frames) */
	const char *err;       /* HS_FAILED: the tally key, "http_503", "handshake_no_upgrade", ... */
	int64_t retry_after_s; /* HS_FAILED with a status: its Retry-After, else -1 */
	char scratch[40];      /* where err is written (a tally key has at most 39 bytes) */
};

/* Check buf[0..len), the answer so far to a request with key that offered subprotocol (NULL:
 * none), by RFC 6455 §4.1 (rc_ws_client_check). */
enum hs_verdict hs_answer(const uint8_t *buf, size_t len, const char *key, const char *subprotocol,
                          struct hs_answer *a);

#endif
