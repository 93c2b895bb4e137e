/* rc_close: WebSocket close codes (RFC 6455 §7.4) and close frame payloads (§5.5.1).
 *
 * The codes a peer may put on the wire are 1000-1003, 1007-1014 (the IANA registry adds
 * 1012-1014 to the RFC's list) and 3000-4999; everything else (0-999, 1004-1006, 1015-2999,
 * 5000 and up) must not be sent, and receiving it is a protocol error (1002). 1005 and 1006 exist
 * only for reporting ("no status" and "abnormal closure") and are never sent. ringcast's own codes
 * are in the 4000 range; docs/protocol.md has the table. */
#ifndef RC_CLOSE_H
#define RC_CLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rc_close_code {
	RC_CLOSE_NORMAL = 1000,
	RC_CLOSE_GOING_AWAY = 1001,
	RC_CLOSE_PROTOCOL = 1002,
	RC_CLOSE_UNSUPPORTED = 1003,
	RC_CLOSE_NO_STATUS = 1005,    /* reporting only: the close frame had no code */
	RC_CLOSE_ABNORMAL = 1006,     /* reporting only: no close frame at all */
	RC_CLOSE_INVALID_DATA = 1007, /* e.g. a text message that is not UTF-8 */
	RC_CLOSE_POLICY = 1008,
	RC_CLOSE_TOO_BIG = 1009,
	RC_CLOSE_EXTENSION = 1010,
	RC_CLOSE_INTERNAL = 1011,
	/* service restart: reconnect (shortly) and resume. Sent when a connection reaches
	 * max-lifetime-ms, and by a server taken over by a successor (or sent SIGUSR2) */
	RC_CLOSE_RESTART = 1012,
	RC_CLOSE_TRY_AGAIN = 1013,
	RC_CLOSE_BAD_GATEWAY = 1014,
	/* ringcast's application codes (docs/protocol.md) */
	/* outbound queue full under the disconnect policy, or a send missed the write deadline */
	RC_CLOSE_SLOW_CONSUMER = 4000,
	RC_CLOSE_UNAUTHORIZED = 4001, /* publishing without a valid token */
	RC_CLOSE_BAD_COMMAND = 4002,  /* a ringcast.v1 command that cannot be parsed */
	RC_CLOSE_IDLE_TIMEOUT = 4003, /* no frame from the client within two idle deadlines */
	RC_CLOSE_PING_FLOOD = 4004,   /* control frames arriving faster than they can be answered */
	/* over rate-msgs-per-s, rate-bytes-per-s or rate-commands-per-s for rate-close-after-ms */
	RC_CLOSE_RATE_LIMITED = 4005,
	/* the connection's token expired and no fresh one came (an auth command, ringcast.v1) */
	RC_CLOSE_TOKEN_EXPIRED = 4006,
};

/* The longest close payload: control frames carry at most 125 bytes (§5.5), 2 of them the code. */
#define RC_CLOSE_REASON_MAX 123

/* True if `code` may appear in a close frame on the wire (in either direction). */
bool rc_close_code_valid(uint16_t code);

/* A short static description of a code, for logs ("normal", "protocol error", ...); "unknown" if
 * the code has none. Never NULL. */
const char *rc_close_code_name(uint16_t code);

/* Parse a received close payload. An empty payload is valid and yields RC_CLOSE_NO_STATUS.
 * Returns 0 and sets *code, *reason, *reason_len (pointing into p) if the payload is valid;
 * otherwise returns the close code to fail the connection with: RC_CLOSE_PROTOCOL for a 1-byte
 * payload, a payload over 125 bytes or a code that must not be sent, RC_CLOSE_INVALID_DATA for a
 * reason that is not valid UTF-8. On failure *code, *reason and *reason_len are left untouched.
 * The reason is checked with rc_utf8_valid, i.e. it must also be complete (no truncated sequence). */
uint16_t rc_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
                        size_t *reason_len);

/* Write a close payload (code, big-endian, then the reason truncated to RC_CLOSE_REASON_MAX bytes
 * at a UTF-8 character boundary) into out, which must hold 2 + RC_CLOSE_REASON_MAX bytes. code must
 * satisfy rc_close_code_valid; reason is a NUL-terminated UTF-8 string, or NULL for none. A character
 * that would cross the limit is dropped whole, and so is everything from an invalid UTF-8 byte on,
 * so the payload always passes rc_close_parse. Returns the payload length (2..125). */
size_t rc_close_payload(uint8_t *out, uint16_t code, const char *reason);

#endif
