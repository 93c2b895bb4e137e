/* rc_frame: the RFC 6455 §5 frame layer: an incremental parser and header and frame encoders.
 *
 * The parser is an explicit state machine fed with whatever bytes arrived, split anywhere. It never
 * copies a data payload: it unmasks it in place in the caller's buffer and hands back a pointer, so
 * a receive buffer can itself become the message broadcast to every subscriber, the payload never
 * copied. The only bytes it keeps are a frame header that is split across feeds (at most 14) and,
 * in storage the caller lends it (p.ctl), a control frame payload split across feeds (at most
 * 125), because a control frame is only useful whole (a pong echoes the ping; a close is
 * validated). A control payload that arrives whole is unmasked in place like data and needs no
 * storage; a server with 10,000 idle connections does not pay 125 bytes for each.
 *
 * What it enforces, each failure naming the close code to send (§7.4.1):
 *   1002  RSV bits not negotiated; reserved opcodes (3-7, 11-15); a client frame without mask (or a
 *         server frame with one, for the client side); a control frame over 125 bytes or not FIN;
 *         a continuation with no message started; a new data frame inside a fragmented message;
 *         a 64-bit length with the top bit set; a non-minimal length encoding is accepted (the RFC
 *         says "must" of the sender but a receiver gains nothing by refusing it); a close payload of
 *         1 byte or with a code that must not be sent
 *   1007  a text message (or a close reason) that is not UTF-8: found at the first invalid byte,
 *         across frames and fragments, and before the message ends
 *   1009  a message longer than cfg.message_max: decided from the frame header, before any payload
 *         of that frame is accepted
 *
 * Use: call until RC_FRAME_NEED_MORE, even when len has reached 0. An event can be due with no
 * byte left to consume (the DATA event of an empty frame comes after its DATA_START, from the same
 * bytes), so a loop that stops when len reaches 0 would hold that event back until the peer sends
 * something else.
 *   rc_frame_parser p; rc_frame_parser_init(&p, &cfg);
 *   for (;;) {
 *       rc_frame_event ev;
 *       ssize_t n = rc_frame_parse(&p, buf, len, &ev);
 *       if (n < 0) -> fail the connection with rc_frame_error(&p, &reason) (code) / reason
 *       buf += n; len -= n;
 *       if (ev.type == RC_FRAME_NEED_MORE) break;   // len is 0 now: wait for more bytes
 *       if (ev.type == RC_FRAME_NEED_CTL) { p.ctl = storage; continue; }
 *       handle ev
 *   }
 * A caller with memory to spare points p.ctl at RC_FRAME_CONTROL_MAX bytes of its own once, after
 * init, and never sees RC_FRAME_NEED_CTL.
 *
 * Events, in order, for each frame:
 *   data frames (text, binary, continuation):
 *       RC_FRAME_DATA_START once the header is complete (opcode, fin, frame length; msg_opcode is
 *       the opcode of the message this frame belongs to), then
 *       RC_FRAME_DATA one or more times: a chunk of payload, unmasked in place, pointing into the
 *       buffer just fed; for text the chunk is already validated as UTF-8. The last chunk of the
 *       frame has frame_end set (an empty frame gives one empty chunk), and also msg_end if the
 *       frame was FIN (and then a text message was checked complete).
 *       A chunk never reaches past its frame, and a DATA call consumes exactly its chunk: data is
 *       the buf passed in and data_len the return value. So when a whole frame is in one buffer,
 *       the event after DATA_START is a single DATA with frame_end set, pointing at the payload in
 *       place (what the zero-copy broadcast relies on). DATA events repeat opcode, msg_opcode,
 *       fin and frame_len from DATA_START.
 *   control frames (close, ping, pong):
 *       RC_FRAME_CONTROL once, with the whole payload, unmasked (pointing into the buffer just fed
 *       when it arrived whole, else into p.ctl; valid until the next call), and for close the
 *       parsed code and reason. After it, storage lent for this frame may be taken back (p.ctl =
 *       NULL) until the next RC_FRAME_NEED_CTL.
 *       RC_FRAME_NEED_CTL before that when the payload is split across feeds and p.ctl is NULL:
 *       nothing of the payload was consumed; point p.ctl at RC_FRAME_CONTROL_MAX bytes that stay
 *       the parser's until this frame's RC_FRAME_CONTROL (or the parser is dropped) and call again
 *       with the bytes not consumed.
 * A control frame may arrive between the frames of a fragmented message (§5.4).
 */
#ifndef RC_FRAME_H
#define RC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rc_utf8.h"

enum rc_opcode {
	RC_OPCODE_CONT = 0x0,
	RC_OPCODE_TEXT = 0x1,
	RC_OPCODE_BINARY = 0x2,
	RC_OPCODE_CLOSE = 0x8,
	RC_OPCODE_PING = 0x9,
	RC_OPCODE_PONG = 0xA,
};

#define RC_FRAME_HEADER_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask key) */
#define RC_FRAME_CONTROL_MAX 125

/* Which side of the connection the parser is on, i.e. what the peer's frames must look like. */
enum rc_frame_role {
	RC_FRAME_SERVER, /* parsing a client's frames: every frame must be masked */
	RC_FRAME_CLIENT, /* parsing a server's frames: no frame may be masked */
};

typedef struct rc_frame_cfg {
	enum rc_frame_role role;
	uint64_t message_max; /* longest message (sum of its fragments) accepted; 0 means no limit */
	/* RSV bits an extension negotiated, as in the header (0x40, 0x20, 0x10); 0 when no extension
	 * was negotiated, which is ringcast's case. The bits are only let through: text is still
	 * validated as it arrives, which a compressing extension would have to change */
	uint8_t rsv_allowed;
} rc_frame_cfg;

enum rc_frame_event_type {
	RC_FRAME_NEED_MORE, /* everything fed was consumed; feed more bytes */
	RC_FRAME_DATA_START,
	RC_FRAME_DATA,
	RC_FRAME_CONTROL,
	RC_FRAME_NEED_CTL, /* a split control payload: lend the parser storage (p.ctl), call again */
};

typedef struct rc_frame_event {
	enum rc_frame_event_type type;
	uint8_t opcode;     /* this frame's opcode (RC_OPCODE_CONT for a continuation) */
	uint8_t msg_opcode; /* the message's opcode: TEXT or BINARY for data, else == opcode */
	bool fin;
	bool frame_end;     /* DATA: last chunk of this frame */
	bool msg_end;       /* DATA: last chunk of the message */
	uint64_t frame_len; /* DATA_START, DATA, CONTROL: payload length of the frame */
	uint8_t *data;      /* DATA, CONTROL: the (unmasked) payload chunk */
	size_t data_len;
	uint16_t close_code; /* CONTROL close: code received, RC_CLOSE_NO_STATUS if none */
	const uint8_t *close_reason;
	size_t close_reason_len;
} rc_frame_event;

typedef struct rc_frame_parser {
	rc_frame_cfg cfg;
	uint8_t state; /* enum in rc_frame.c */
	uint8_t hdr[RC_FRAME_HEADER_MAX];
	uint8_t hdr_have, hdr_need;
	uint8_t opcode, fin, masked;
	uint8_t key[4];
	uint8_t phase; /* masking phase within the current payload */
	/* opcode of the message in progress (from its first frame's header to the end of its FIN
	 * frame), RC_OPCODE_CONT if none */
	uint8_t msg_opcode;
	uint64_t frame_len, frame_left;
	uint64_t msg_len;       /* bytes of the current message so far, including this frame */
	rc_utf8 utf8;           /* validator of the current text message */
	uint16_t err_code;      /* after an error: the close code to send */
	const char *err_reason; /* after an error: a static, human description */
	uint8_t ctl_len;        /* bytes of a split control payload gathered in ctl */
	/* RC_FRAME_CONTROL_MAX bytes lent by the caller for a split control payload, or NULL */
	uint8_t *ctl;
} rc_frame_parser;

void rc_frame_parser_init(rc_frame_parser *p, const rc_frame_cfg *cfg);

/* Consume bytes from buf[0..len) up to and including the next event. Returns the number of bytes
 * consumed (0 <= n <= len) and fills *ev; RC_FRAME_NEED_MORE means all len bytes were consumed with
 * no event to report. Payload bytes are unmasked in place in buf. Returns -1 on a protocol error;
 * then rc_frame_error() gives the close code and reason, and every later call returns -1. */
ssize_t rc_frame_parse(rc_frame_parser *p, uint8_t *buf, size_t len, rc_frame_event *ev);

/* After rc_frame_parse returned -1: the close code to fail the connection with (1002, 1007 or
 * 1009) and, if reason is not NULL, a short static description for logs and the close reason
 * ("reserved opcode", "unmasked client frame", ...). Before any error: 0 and "no error". */
uint16_t rc_frame_error(const rc_frame_parser *p, const char **reason);

/* The length of a header for a payload of `len` bytes: 2, 4 or 10 bytes, plus 4 if masked. */
size_t rc_frame_header_len(uint64_t len, bool masked);

/* Write a frame header into out (RC_FRAME_HEADER_MAX bytes) and return its length. mask_key is
 * NULL for a server frame; for a client frame it is the 4-byte key, and the caller masks the payload
 * with rc_mask_apply. Uses the shortest length encoding. It does not police the rules of §5.5
 * (control frames FIN and at most 125 bytes) or the opcode's meaning: that is the caller's job, and
 * a test may want to send a bad frame on purpose. len must be below 2^63. */
size_t rc_frame_header_encode(uint8_t *out, uint8_t opcode, bool fin, uint64_t len,
                              const uint8_t *mask_key);

/* Write one whole client frame at out: the header (FIN set, masked with mask_key), then
 * payload[0..len) masked. out has room for rc_frame_header_len(len, true) + len bytes. The payload
 * may already sit where the frame's payload goes, at out + rc_frame_header_len(len, true) (a
 * caller that builds it in place passes that pointer, and nothing is copied); otherwise it is
 * copied there first, so it may be anywhere, even overlapping out. The key must be new and
 * unpredictable for every frame (RFC 6455 §5.3: getrandom, or a generator seeded from it).
 * Returns the frame's length. */
size_t rc_frame_encode_masked(uint8_t *out, uint8_t opcode, const void *payload, size_t len,
                              const uint8_t mask_key[4]);

/* Write an unmasked (server) header so that it ends exactly at `payload`, i.e. in the bytes just
 * before it, and return where the frame now starts. The caller guarantees those bytes are its own
 * (in a receive buffer they are the client's header, always at least 4 bytes longer than ours). */
uint8_t *rc_frame_header_prepend(uint8_t *payload, uint8_t opcode, bool fin, uint64_t len);

#endif
