/* rc_ws_client: the client side of the WebSocket opening handshake (RFC 6455 §4.1) and ws:// URLs.
 *
 * Everything a client program (ringcast-feed, ringcast-bench) needs to open a connection except
 * the I/O: parse the URL, make the key, write the request, check the answer. The server side is
 * rc_handshake.h.
 *
 *   rc_ws_url u;
 *   const char *why;
 *   if (rc_ws_url_parse(url, &u, &why) < 0) -> a usage error; why says what is wrong
 *   connect to u.host, u.port (getaddrinfo)
 *   uint8_t nonce[RC_WS_NONCE_LEN];  getrandom(nonce, sizeof nonce, 0)
 *   char key[RC_WS_KEY_LEN + 1];     rc_ws_client_key(nonce, key)
 *   rc_ws_client_req rq = { .host = u.hostport, .target = u.target, .key = key };
 *   n = rc_ws_client_request(out, sizeof out, &rq); send out[0..n)
 *   after every read, with buf[0..len) all of the answer so far:
 *       switch (rc_ws_client_check(buf, len, key, rq.subprotocol, &res))
 *       RC_WS_CLIENT_NEED_MORE  read more (when buf is full, give up: the head is too long)
 *       RC_WS_CLIENT_OK         open; buf[res.head_len..len) are the server's first frames
 *       RC_WS_CLIENT_STATUS     refused with res.status (a 503 may say when to come back:
 *                               res.retry_after_s); the body after the head says why
 *       anything else           not a valid 101: res.reason says why, in words; close
 *
 * The check, in this order (the first failure decides). ringcast-bench reports the outcomes by
 * name in its JSON, so changing what a check accepts, or the order, changes its output:
 *   NEED_MORE            no CR LF CR LF yet: the head ends at the first one. Field lines may end in
 *                        a bare LF, but the head itself must end with CR LF CR LF.
 *   BAD_STATUS_LINE      the head does not start "HTTP/1.", any byte, SP, three digits (the rest
 *                        of the status line is not examined)
 *   STATUS               a status other than 101; res->retry_after_s is read from the head
 *   BAD_FIELD            a field line, up to the first empty line, without a colon or with an
 *                        empty name. Names are not otherwise checked (only the fields named below
 *                        are looked at), values lose their outer SP and HT. obs-fold is not
 *                        understood: a continuation line is a bad field unless it holds a colon,
 *                        and then its name, which starts with whitespace, is no field we read.
 *   TOO_MANY_FIELDS      more than RC_WS_CLIENT_FIELDS_MAX field lines
 *   NO_UPGRADE           no Upgrade field holding the token "websocket"
 *   NO_CONNECTION_UPGRADE no Connection field holding the token "upgrade"
 *                        (tokens: comma-separated items, any case, on any of the field's lines)
 *   NO_ACCEPT            Sec-WebSocket-Accept absent or present more than once
 *   ACCEPT_FAILED        SHA-1 could not be computed (wolfCrypt failed: a broken build)
 *   WRONG_ACCEPT         Sec-WebSocket-Accept is not exactly rc_ws_accept(key)
 *   UNREQUESTED_EXTENSION  any Sec-WebSocket-Extensions field: the client offers none (§4.1:
 *                        the client must fail a connection that uses an extension it did not ask
 *                        for, and ringcast's clients ask for none)
 *   UNREQUESTED_SUBPROTOCOL  none offered, but Sec-WebSocket-Protocol present
 *   NO_SUBPROTOCOL       one offered, but Sec-WebSocket-Protocol absent or present more than once
 *   WRONG_SUBPROTOCOL    one offered, and the server chose another (compared exactly, case
 *                        included: the server echoes the token it was offered)
 * Field names are compared case-insensitively, values as stated.
 *
 * The check is not incremental: it scans buf from its start on every call. A handshake answer is
 * a few hundred bytes and the caller bounds its buffer (8 KiB is ample), so rescanning costs
 * nothing worth keeping state for. It reads buf[0..len) and nothing else, and needs no NUL.
 */
#ifndef RC_WS_CLIENT_H
#define RC_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_handshake.h" /* RC_WS_KEY_LEN, RC_WS_ACCEPT_LEN, rc_ws_accept */

#define RC_WS_NONCE_LEN 16         /* bytes of randomness behind a Sec-WebSocket-Key (§4.1) */
#define RC_WS_CLIENT_FIELDS_MAX 64 /* field lines of an answer; more is TOO_MANY_FIELDS */

/* Sec-WebSocket-Key from a 16-byte nonce the caller draws (getrandom: §4.1 wants it random for
 * each connection): RC_WS_KEY_LEN (24) characters and a NUL. */
void rc_ws_client_key(const uint8_t nonce[RC_WS_NONCE_LEN], char key[RC_WS_KEY_LEN + 1]);

typedef struct rc_ws_client_req {
	const char *host;        /* Host field value, "127.0.0.1:8080" (required) */
	const char *target;      /* request target, path and query: "/ws?topics=a,b" (required) */
	const char *key;         /* from rc_ws_client_key (required) */
	const char *subprotocol; /* Sec-WebSocket-Protocol to offer, or NULL */
	const char *origin;      /* Origin, or NULL */
	const char *extra;       /* more header lines, each ending in "\r\n", or NULL */
} rc_ws_client_req;

/* The GET upgrade request (HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade,
 * Sec-WebSocket-Key, Sec-WebSocket-Version: 13, then the optional fields), ending with the
 * empty line. Returns its length, or 0 if it does not fit in cap (nothing useful written). No NUL
 * is written. The values are the caller's to get right (asserted: no CR or LF in any of them, the
 * target starts with '/', the key is RC_WS_KEY_LEN characters). */
size_t rc_ws_client_request(char *out, size_t cap, const rc_ws_client_req *req);

enum rc_ws_client_status {
	RC_WS_CLIENT_OK = 0,          /* 101 and every check passed */
	RC_WS_CLIENT_NEED_MORE,       /* the head is not complete yet: call again with more */
	RC_WS_CLIENT_BAD_STATUS_LINE, /* "bad_status_line" */
	/* a complete head with a status other than 101: res->status, res->retry_after_s; name
	 * "status" */
	RC_WS_CLIENT_STATUS,
	RC_WS_CLIENT_BAD_FIELD,               /* "bad_field" */
	RC_WS_CLIENT_TOO_MANY_FIELDS,         /* "too_many_fields" */
	RC_WS_CLIENT_NO_UPGRADE,              /* "no_upgrade" */
	RC_WS_CLIENT_NO_CONNECTION_UPGRADE,   /* "no_connection_upgrade" */
	RC_WS_CLIENT_NO_ACCEPT,               /* "no_accept": none, or more than one */
	RC_WS_CLIENT_ACCEPT_FAILED,           /* "accept_failed": SHA-1 could not be computed */
	RC_WS_CLIENT_WRONG_ACCEPT,            /* "wrong_accept" */
	RC_WS_CLIENT_UNREQUESTED_EXTENSION,   /* "unrequested_extension" */
	RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL, /* "unrequested_subprotocol" */
	RC_WS_CLIENT_NO_SUBPROTOCOL,          /* "no_subprotocol": offered, none (or two) selected */
	RC_WS_CLIENT_WRONG_SUBPROTOCOL,       /* "wrong_subprotocol" */
};
#define RC_WS_CLIENT_STATUS_COUNT (RC_WS_CLIENT_WRONG_SUBPROTOCOL + 1)

/* The names in the comments ("bad_status_line", ...; "ok", "need_more", "status"): the bench
 * reports an error as "handshake_" + this name (or "http_<status>" for RC_WS_CLIENT_STATUS),
 * and its JSON output must not change. NULL for a value outside the enum. */
const char *rc_ws_client_status_name(enum rc_ws_client_status s);

typedef struct rc_ws_client_result {
	size_t head_len;       /* bytes of the response head through its empty line, once
	                          complete (else 0); bytes after it are the server's first frames */
	int status;            /* the status code once the head is complete and its status line
	                          valid, else 0 (101 for every result from BAD_FIELD on) */
	int64_t retry_after_s; /* a refusal's Retry-After (delta-seconds form), -1 if absent/bad.
	                          Read for RC_WS_CLIENT_STATUS only: the first field named
	                          Retry-After, OWS, then digits (what follows them is ignored);
	                          digits are read only while the value is below 86400 (a day), so a
	                          huge value stays below 864000 instead of overflowing */
	const char *reason;    /* static one-line text for logs: "ok" or what was wrong */
} rc_ws_client_result;

/* Check the server's answer buf[0..len) to a request that sent key (RC_WS_KEY_LEN characters,
 * no NUL needed after them) and offered subprotocol (NULL: none), by RFC 6455 §4.1's client
 * rules, in the order and with the outcomes listed at the top of this file: status 101, Upgrade:
 * websocket, Connection: upgrade (tokens, case-insensitive), exactly one correct
 * Sec-WebSocket-Accept, no Sec-WebSocket-Extensions, and the subprotocol exactly as offered
 * (present once and equal when offered, absent when not). Never reads past buf[len). Returns the
 * status and fills *res; bytes after the head do not change the result. */
enum rc_ws_client_status rc_ws_client_check(const uint8_t *buf, size_t len, const char *key,
                                            const char *subprotocol, rc_ws_client_result *res);

typedef struct rc_ws_url {
	char host[256];     /* name or literal, IPv6 without its brackets */
	char port[6];       /* "80" when the URL has none (RFC 6455 §3) */
	char hostport[264]; /* the Host field value: host[:port] as written, IPv6 bracketed */
	char target[2048];  /* path and query, "/" when the URL has no path */
	bool has_path;      /* the URL had a /PATH (a client may want its own default otherwise) */
} rc_ws_url;

/* Parse ws://HOST[:PORT][/PATH][?QUERY] (scheme case-insensitive; HOST a name, an IPv4
 * literal or [IPv6]). Returns 0, or -EINVAL with *reason set (static text; "wss:// (TLS) is
 * not supported" for wss://, a message for every other kind of bad URL). What is refused:
 *   HOST    empty; longer than 255 bytes; USER@ before it; a name with a byte outside RFC 3986's
 *           reg-name (letters, digits, "-._~%!$&'()*+,;="); an IPv6 literal not in brackets
 *           (where would its port be?); [IPv6] unterminated, empty, with a byte other than hex
 *           digits, ':', '.' and a zone ("%" then letters, digits, "-._~"), or followed by
 *           anything but ":PORT"
 *   PORT    not 1 to 5 decimal digits, or 0, or over 65535; an empty port ("host:") means 80
 *   target  a byte outside 0x21..0x7E, or '#' (§3: a ws URL has no fragment); 2048 bytes or more
 * On failure *u holds nothing useful. */
int rc_ws_url_parse(const char *url, rc_ws_url *u, const char **reason);

#endif
