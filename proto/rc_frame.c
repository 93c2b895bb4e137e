/* rc_frame: the RFC 6455 §5 frame parser and header encoder. The contract is in rc_frame.h.
 *
 * The parser's states follow the layout of a frame (§5.2):
 *
 *     +-> HEAD --2 bytes--> HEAD_EXT --length, mask key--> DATA      text, binary, continuation
 *     |                                              `--> CONTROL   close, ping, pong
 *     `------------------ payload consumed ---------------------'
 *     any state --protocol error--> ERROR (sticky)
 *
 * HEAD waits for the first two bytes because they decide almost every rule (RSV bits, opcode,
 * mask bit, control frame limits, fragmentation order) and how long the rest of the header is;
 * checking them there rejects a bad frame before its length or payload arrives. HEAD_EXT collects
 * the rest (extended length, mask key); at its end the length rules are checked (top bit, the
 * message limit), so a frame is refused before any of its payload is consumed.
 *
 * Every check runs at a fixed byte position of the frame, in a fixed order, so an input yields the
 * same error however it is split; the fuzzer relies on that.
 *
 * A header split across feeds is collected in p->hdr; when a feed holds at least
 * RC_FRAME_HEADER_MAX bytes at a frame boundary (the common case) the header is decoded where it
 * is. Both go through the same two checking functions, so they cannot disagree.
 */
#include "rc_frame.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include "rc_close.h"
#include "rc_mask.h"
#include "rc_utf8.h"

enum frame_state {
	ST_HEAD,     /* a frame boundary: collecting the first 2 header bytes into p->hdr */
	ST_HEAD_EXT, /* collecting the rest of the header: p->hdr_need bytes in all */
	ST_DATA,     /* a data frame's payload: p->frame_left bytes, handed out in place */
	ST_CONTROL, /* a control frame's payload: p->frame_left bytes, whole in buf or gathered in p->ctl */
	ST_ERROR, /* a protocol error was found: p->err_code, p->err_reason */
};

/* §5.2: byte 0 is FIN, RSV1-3, opcode; byte 1 is MASK, payload length (7 bits). */
#define B0_FIN 0x80u
#define B0_RSV 0x70u
#define B0_OPCODE 0x0Fu
#define B1_MASK 0x80u
#define B1_LEN 0x7Fu
#define LEN7_EXT16 126u /* a 16-bit length follows */
#define LEN7_EXT64 127u /* a 64-bit length follows */
#define MASK_KEY_LEN 4u

static bool op_is_control(unsigned op)
{
	return (op & 0x8u) != 0;
}

static bool op_is_defined(unsigned op)
{
	return op <= RC_OPCODE_BINARY || (op >= RC_OPCODE_CLOSE && op <= RC_OPCODE_PONG);
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* Enter the sticky error state; reason is a static string. Returns false: `return fail(...)`. */
static bool fail(rc_frame_parser *p, uint16_t code, const char *reason)
{
	assert(code == RC_CLOSE_PROTOCOL || code == RC_CLOSE_INVALID_DATA || code == RC_CLOSE_TOO_BIG);
	p->state = ST_ERROR;
	p->err_code = code;
	p->err_reason = reason;
	return false;
}

/* No message in progress: the next data frame must be TEXT or BINARY. */
static void message_reset(rc_frame_parser *p)
{
	p->msg_opcode = RC_OPCODE_CONT;
	p->msg_len = 0;
	rc_utf8_init(&p->utf8);
}

void rc_frame_parser_init(rc_frame_parser *p, const rc_frame_cfg *cfg)
{
	assert(p != NULL && cfg != NULL);
	assert(cfg->role == RC_FRAME_SERVER || cfg->role == RC_FRAME_CLIENT);
	assert((cfg->rsv_allowed & ~B0_RSV) == 0);
	*p = (rc_frame_parser){ .cfg = *cfg, .state = ST_HEAD, .hdr_need = 2 };
	message_reset(p);
}

/* Move header bytes from buf[*off..len) into p->hdr until it holds `need`. */
static void hdr_take(rc_frame_parser *p, const uint8_t *buf, size_t len, size_t *off, size_t need)
{
	assert(p->hdr_have <= need && need <= RC_FRAME_HEADER_MAX && *off <= len);
	size_t n = need - p->hdr_have;
	if (n > len - *off)
		n = len - *off;
	if (n == 0)
		return; /* buf may be NULL when len is 0 */
	memcpy(p->hdr + p->hdr_have, buf + *off, n);
	p->hdr_have = (uint8_t)(p->hdr_have + n);
	*off += n;
}

/* The first two header bytes are at h: check every rule they decide and work out how long the
 * header is. Returns false after fail(). */
static bool head_start(rc_frame_parser *p, const uint8_t *h)
{
	unsigned b0 = h[0], b1 = h[1];
	unsigned op = b0 & B0_OPCODE, len7 = b1 & B1_LEN;
	p->opcode = (uint8_t)op;
	p->fin = (b0 & B0_FIN) != 0;
	p->masked = (b1 & B1_MASK) != 0;

	if (b0 & B0_RSV & ~(unsigned)p->cfg.rsv_allowed)
		return fail(p, RC_CLOSE_PROTOCOL, "reserved bits set");
	if (!op_is_defined(op))
		return fail(p, RC_CLOSE_PROTOCOL, "reserved opcode");
	/* §5.1: a client masks every frame, a server none. */
	if (p->cfg.role == RC_FRAME_SERVER && !p->masked)
		return fail(p, RC_CLOSE_PROTOCOL, "unmasked client frame");
	if (p->cfg.role == RC_FRAME_CLIENT && p->masked)
		return fail(p, RC_CLOSE_PROTOCOL, "masked server frame");
	if (op_is_control(op)) {
		/* §5.5: control frames are short and never fragmented. */
		if (!p->fin)
			return fail(p, RC_CLOSE_PROTOCOL, "fragmented control frame");
		if (len7 > RC_FRAME_CONTROL_MAX)
			return fail(p, RC_CLOSE_PROTOCOL, "control frame too long");
	} else if (op == RC_OPCODE_CONT) {
		if (p->msg_opcode == RC_OPCODE_CONT)
			return fail(p, RC_CLOSE_PROTOCOL, "continuation without a message");
	} else if (p->msg_opcode != RC_OPCODE_CONT) {
		return fail(p, RC_CLOSE_PROTOCOL, "new message inside a fragmented one");
	}

	size_t ext = len7 == LEN7_EXT16 ? 2 : len7 == LEN7_EXT64 ? 8 : 0;
	p->hdr_need = (uint8_t)(2 + ext + (p->masked ? MASK_KEY_LEN : 0));
	return true;
}

/* The whole header (p->hdr_need bytes) is at hdr: decode the length and mask key, check the length
 * rules and start the frame (and, for TEXT or BINARY, the message). Returns false after fail(). */
static bool head_finish(rc_frame_parser *p, const uint8_t *hdr)
{
	assert(p->hdr_need >= 2);
	const uint8_t *h = hdr + 2;
	uint64_t len = hdr[1] & B1_LEN;
	if (len == LEN7_EXT16) {
		len = load_be(h, 2);
		h += 2;
	} else if (len == LEN7_EXT64) {
		len = load_be(h, 8);
		h += 8;
		if (len >> 63) /* §5.2: "the most significant bit MUST be 0" */
			return fail(p, RC_CLOSE_PROTOCOL, "64-bit length with the top bit set");
	}
	/* Non-minimal length encodings are accepted on purpose (rc_frame.h). */
	if (p->masked)
		memcpy(p->key, h, MASK_KEY_LEN);
	assert(h + (p->masked ? MASK_KEY_LEN : 0) == hdr + p->hdr_need);

	p->frame_len = len;
	p->frame_left = len;
	p->phase = 0;
	p->hdr_have = 0;
	p->hdr_need = 2;
	if (op_is_control(p->opcode)) {
		assert(len <= RC_FRAME_CONTROL_MAX);
		p->ctl_len = 0;
		return true;
	}

	if (p->opcode != RC_OPCODE_CONT) {
		assert(p->msg_opcode == RC_OPCODE_CONT && p->msg_len == 0);
		p->msg_opcode = p->opcode;
	}
	/* msg_len <= message_max holds between frames, so the subtraction cannot wrap. */
	uint64_t max = p->cfg.message_max;
	assert(max == 0 || p->msg_len <= max);
	if (max != 0 && len > max - p->msg_len)
		return fail(p, RC_CLOSE_TOO_BIG, "message too big");
	p->msg_len += len;
	return true;
}

/* Fill the fields every frame event carries. */
static void event_frame(const rc_frame_parser *p, rc_frame_event *ev, enum rc_frame_event_type type)
{
	ev->type = type;
	ev->opcode = p->opcode;
	ev->msg_opcode = op_is_control(p->opcode) ? p->opcode : p->msg_opcode;
	ev->fin = p->fin;
	ev->frame_len = p->frame_len;
}

/* ST_DATA: hand out the payload in buf, up to the end of the frame, unmasked and (for text)
 * validated in place. This is the receive hot path: no copy, one pass of each transform. */
static void data_chunk(rc_frame_parser *p, uint8_t *buf, size_t len, size_t *off,
                       rc_frame_event *ev)
{
	assert(*off == 0); /* DATA_START ended the previous call, so a chunk starts a call */
	size_t n = p->frame_left < len ? (size_t)p->frame_left : len;
	if (n == 0 && p->frame_left != 0)
		return; /* len == 0: need more */
	if (n != 0) {
		if (p->masked)
			p->phase = (uint8_t)rc_mask_apply(buf, n, p->key, p->phase);
		if (p->msg_opcode == RC_OPCODE_TEXT && rc_utf8_feed(&p->utf8, buf, n) != n) {
			fail(p, RC_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
			return;
		}
	}
	p->frame_left -= n;
	*off = n;
	event_frame(p, ev, RC_FRAME_DATA);
	ev->data = buf;
	ev->data_len = n;
	if (p->frame_left != 0)
		return;

	ev->frame_end = true;
	p->state = ST_HEAD;
	if (!p->fin)
		return; /* the message goes on in a continuation frame */
	ev->msg_end = true;
	if (p->msg_opcode == RC_OPCODE_TEXT && !rc_utf8_complete(&p->utf8)) {
		fail(p, RC_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 character");
		return;
	}
	message_reset(p);
}

/* The whole control payload pl[0..n), unmasked: check a close payload and report the frame. */
static void control_event(rc_frame_parser *p, uint8_t *pl, size_t n, rc_frame_event *ev)
{
	assert(n == p->frame_len && n <= RC_FRAME_CONTROL_MAX && (pl != NULL || n == 0));
	event_frame(p, ev, RC_FRAME_CONTROL);
	ev->data = pl;
	ev->data_len = n;
	p->ctl_len = 0;
	if (p->opcode == RC_OPCODE_CLOSE) {
		uint16_t bad =
		        rc_close_parse(pl, n, &ev->close_code, &ev->close_reason, &ev->close_reason_len);
		if (bad != 0) {
			const char *why = bad == RC_CLOSE_INVALID_DATA ? "invalid UTF-8 in close reason"
			                  : n == 1                     ? "close payload of 1 byte"
			                                               : "close code not allowed on the wire";
			fail(p, bad, why);
			return;
		}
	}
	p->state = ST_HEAD;
}

/* ST_CONTROL: a payload whole in buf is unmasked there; a split one is gathered in the storage the
 * caller lends (RC_FRAME_NEED_CTL asks for it), then unmasked there. */
static void control_take(rc_frame_parser *p, uint8_t *buf, size_t len, size_t *off,
                         rc_frame_event *ev)
{
	assert(p->ctl_len + p->frame_left == p->frame_len && p->frame_len <= RC_FRAME_CONTROL_MAX);
	size_t n = len - *off;
	if (p->ctl_len == 0 && n >= p->frame_left) {
		uint8_t *pl = n > 0 ? buf + *off : NULL;
		size_t plen = (size_t)p->frame_left;
		*off += plen;
		p->frame_left = 0;
		if (p->masked)
			rc_mask_apply(pl, plen, p->key, 0);
		control_event(p, pl, plen, ev);
		return;
	}
	if (n == 0)
		return; /* need more */
	if (p->ctl == NULL) {
		ev->type = RC_FRAME_NEED_CTL; /* nothing of the payload consumed */
		return;
	}
	if (n > p->frame_left)
		n = (size_t)p->frame_left;
	memcpy(p->ctl + p->ctl_len, buf + *off, n);
	p->ctl_len = (uint8_t)(p->ctl_len + n);
	p->frame_left -= n;
	*off += n;
	if (p->frame_left != 0)
		return; /* need more */
	if (p->masked)
		rc_mask_apply(p->ctl, p->ctl_len, p->key, 0);
	control_event(p, p->ctl, p->ctl_len, ev);
}

ssize_t rc_frame_parse(rc_frame_parser *p, uint8_t *buf, size_t len, rc_frame_event *ev)
{
	assert(p != NULL && ev != NULL && (buf != NULL || len == 0));
	assert(len <= SSIZE_MAX);
	size_t off = 0;
	const uint8_t *h = p->hdr; /* where the header is decoded from */
	*ev = (rc_frame_event){ .type = RC_FRAME_NEED_MORE };

	switch ((enum frame_state)p->state) {
	case ST_HEAD:
		if (p->hdr_have == 0 && len >= RC_FRAME_HEADER_MAX) {
			/* The whole header is surely in buf: decode it there instead of collecting it
			 * (perf/proto-bench "frame 64": 33 -> 44 Mframes/s on the 2-vCPU dev VM). */
			h = buf;
			if (!head_start(p, h))
				break;
			off = p->hdr_need;
		} else {
			hdr_take(p, buf, len, &off, 2);
			if (p->hdr_have < 2 || !head_start(p, h))
				break;
		}
		p->state = ST_HEAD_EXT;
		/* The rest of the header may be in this buffer too. */
		/* fall through */
	case ST_HEAD_EXT:
		if (h == p->hdr) {
			hdr_take(p, buf, len, &off, p->hdr_need);
			if (p->hdr_have < p->hdr_need)
				break;
		}
		if (!head_finish(p, h))
			break;
		if (!op_is_control(p->opcode)) {
			p->state = ST_DATA;
			event_frame(p, ev, RC_FRAME_DATA_START);
			break;
		}
		p->state = ST_CONTROL;
		/* A control frame has no start event, and its payload may be in this buffer too. */
		/* fall through */
	case ST_CONTROL:
		control_take(p, buf, len, &off, ev);
		break;
	case ST_DATA:
		data_chunk(p, buf, len, &off, ev);
		break;
	case ST_ERROR:
		break;
	}

	assert(off <= len);
	assert(ev->type != RC_FRAME_NEED_MORE || off == len || p->state == ST_ERROR);
	assert(ev->type != RC_FRAME_NEED_CTL || (off < len && p->ctl == NULL));
	return p->state == ST_ERROR ? -1 : (ssize_t)off;
}

uint16_t rc_frame_error(const rc_frame_parser *p, const char **reason)
{
	assert(p != NULL);
	bool failed = p->state == ST_ERROR;
	if (reason != NULL)
		*reason = failed ? p->err_reason : "no error";
	return failed ? p->err_code : 0;
}

size_t rc_frame_header_len(uint64_t len, bool masked)
{
	assert(len >> 63 == 0);
	size_t n = len < LEN7_EXT16 ? 2 : len <= UINT16_MAX ? 4 : 10;
	return n + (masked ? MASK_KEY_LEN : 0);
}

/* Write exactly rc_frame_header_len(len, key != NULL) bytes at out. */
static size_t header_write(uint8_t *out, uint8_t opcode, bool fin, uint64_t len, const uint8_t *key)
{
	assert(opcode <= B0_OPCODE && len >> 63 == 0);
	uint8_t mask = key != NULL ? B1_MASK : 0;
	size_t n = 2;
	out[0] = (uint8_t)((fin ? B0_FIN : 0) | opcode);
	if (len < LEN7_EXT16) {
		out[1] = (uint8_t)(mask | len);
	} else if (len <= UINT16_MAX) {
		out[1] = (uint8_t)(mask | LEN7_EXT16);
		store_be(out + 2, len, 2);
		n = 4;
	} else {
		out[1] = (uint8_t)(mask | LEN7_EXT64);
		store_be(out + 2, len, 8);
		n = 10;
	}
	if (key != NULL) {
		memcpy(out + n, key, MASK_KEY_LEN);
		n += MASK_KEY_LEN;
	}
	assert(n == rc_frame_header_len(len, key != NULL));
	return n;
}

size_t rc_frame_header_encode(uint8_t *out, uint8_t opcode, bool fin, uint64_t len,
                              const uint8_t *mask_key)
{
	assert(out != NULL);
	return header_write(out, opcode, fin, len, mask_key);
}

size_t rc_frame_encode_masked(uint8_t *out, uint8_t opcode, const void *payload, size_t len,
                              const uint8_t mask_key[4])
{
	assert(out != NULL && mask_key != NULL && (payload != NULL || len == 0));
	size_t h = rc_frame_header_len(len, true);
	/* The payload first: it may lie where the header goes. */
	if (len > 0 && payload != out + h)
		memmove(out + h, payload, len);
	size_t n = header_write(out, opcode, true, len, mask_key);
	assert(n == h);
	rc_mask_apply(out + h, len, mask_key, 0);
	return h + len;
}

uint8_t *rc_frame_header_prepend(uint8_t *payload, uint8_t opcode, bool fin, uint64_t len)
{
	assert(payload != NULL);
	uint8_t *start = payload - rc_frame_header_len(len, false);
	size_t n = header_write(start, opcode, fin, len, NULL);
	assert(start + n == payload);
	(void)n;
	return start;
}
