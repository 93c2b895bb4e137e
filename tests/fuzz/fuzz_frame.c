/* fuzz_frame: libFuzzer target for the rc_frame parser and header encoder.
 *
 * Input: byte 0 configures the parser, the rest is used twice.
 *
 * (1) As raw wire bytes, parsed by a server and by a client parser, once in one feed and once in
 *     pieces whose sizes come from a hash of the input, each piece in its own exact-size heap copy
 *     (ASan then catches a read past the bytes fed). Both runs must give the same transcript (every
 *     frame header, every complete frame's payload, every control frame, close code and reason)
 *     and the same error code. Each run also checks, event by event: a DATA chunk is exactly the
 *     bytes its call consumed, all of its frame that was fed and never more (so a frame whole in
 *     one buffer comes as one chunk); the chunks of a frame add up to frame_len; frame_end and
 *     msg_end are set exactly when due; no message grows past message_max (checked from the
 *     header: the frame must fit before it starts); a text message that ends is valid UTF-8; a
 *     close code is one allowed on the wire or NO_STATUS; the bytes consumed add up to at
 *     most the input (exactly it without an error); after an error every call returns -1.
 *
 * (2) As a script of frames: opcodes in a legal order, FIN bits, lengths (including every length
 *     form boundary), mask keys and payloads taken from the input. Text messages are valid UTF-8
 *     cut at arbitrary byte positions into fragments, close frames carry allowed codes. The frames
 *     are encoded with rc_frame_header_encode and masked with rc_mask_apply, parsed back (whole and
 *     in pieces) and must give exactly the frames the script made, without an error.
 *
 * Byte 0: bits 0-1 scale and bits 2-6 mantissa of message_max (scale 0: no limit), bit 7 allows
 * RSV1 (as an extension would). The seeds in seeds/frame/ are a config byte then wire bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_close.h"
#include "rc_frame.h"
#include "rc_mask.h"
#include "rc_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort(); \
		} \
	} while (0)

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	CHECK(p != NULL);
	return p;
}

/* --- a growable byte string ------------------------------------------------------------------- */

typedef struct str {
	uint8_t *p;
	size_t len, cap;
} str;

static void str_put(str *s, const void *src, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + n)
			cap *= 2;
		s->p = realloc(s->p, cap);
		CHECK(s->p != NULL);
		s->cap = cap;
	}
	if (n)
		memcpy(s->p + s->len, src, n);
	s->len += n;
}

static void str_u64(str *s, uint64_t v)
{
	str_put(s, &v, sizeof v);
}

static void str_u8(str *s, uint8_t v)
{
	str_put(s, &v, 1);
}

/* --- transcripts: what a parse produced, in a form that does not depend on chunking ----------- */

static void tr_start(str *t, uint8_t op, uint8_t msg_op, bool fin, uint64_t frame_len)
{
	str_u8(t, 'S');
	str_u8(t, op);
	str_u8(t, msg_op);
	str_u8(t, fin);
	str_u64(t, frame_len);
}

static void tr_end(str *t, bool msg_end, const uint8_t *payload, size_t n)
{
	str_u8(t, 'E');
	str_u8(t, msg_end);
	str_u64(t, n);
	str_put(t, payload, n);
}

static void tr_control(str *t, uint8_t op, const uint8_t *payload, size_t n, uint16_t code,
                       const uint8_t *reason, size_t reason_len)
{
	str_u8(t, 'C');
	str_u8(t, op);
	str_u64(t, n);
	str_put(t, payload, n);
	str_u64(t, code);
	str_u64(t, reason_len);
	str_put(t, reason, reason_len);
}

/* --- (1) parsing with invariants ------------------------------------------------------------- */

typedef struct sink {
	str tr;
	uint8_t *msg; /* payload of the message in progress, all its frames so far */
	size_t msg_len;
	size_t frame_at; /* where the open frame's payload starts in msg */
	bool in_frame;
	uint8_t opcode, msg_opcode;
	bool fin;
	uint64_t frame_len, frame_got;
	uint64_t message_max;
	size_t consumed;
	uint16_t err;
	uint8_t *ctl; /* storage lent to the parser on RC_FRAME_NEED_CTL, taken back after CONTROL */
} sink;

static void on_event(sink *s, const rc_frame_event *ev, const uint8_t *buf, size_t len, size_t n)
{
	switch (ev->type) {
	case RC_FRAME_NEED_MORE:
		CHECK(n == len);
		break;
	case RC_FRAME_NEED_CTL: /* feed() lends the storage and never passes this on */
		CHECK(!"NEED_CTL reached on_event");
		break;
	case RC_FRAME_DATA_START:
		CHECK(!s->in_frame);
		CHECK(n <= RC_FRAME_HEADER_MAX); /* a start event consumes at most one header */
		CHECK(ev->opcode <= RC_OPCODE_BINARY);
		CHECK(ev->msg_opcode == RC_OPCODE_TEXT || ev->msg_opcode == RC_OPCODE_BINARY);
		CHECK(ev->opcode == RC_OPCODE_CONT || ev->opcode == ev->msg_opcode);
		CHECK(ev->frame_len >> 63 == 0);
		if (ev->opcode != RC_OPCODE_CONT)
			CHECK(s->msg_len == 0);
		else
			CHECK(ev->msg_opcode == s->msg_opcode);
		/* The whole frame must fit in the message limit before any of it is accepted. */
		if (s->message_max)
			CHECK(s->msg_len + ev->frame_len <= s->message_max);
		s->in_frame = true;
		s->opcode = ev->opcode;
		s->msg_opcode = ev->msg_opcode;
		s->fin = ev->fin;
		s->frame_len = ev->frame_len;
		s->frame_got = 0;
		s->frame_at = s->msg_len;
		tr_start(&s->tr, ev->opcode, ev->msg_opcode, ev->fin, ev->frame_len);
		break;
	case RC_FRAME_DATA:
		CHECK(s->in_frame);
		CHECK(ev->opcode == s->opcode && ev->msg_opcode == s->msg_opcode);
		CHECK(ev->fin == s->fin && ev->frame_len == s->frame_len);
		CHECK(ev->data == buf && ev->data_len == n); /* in place, exactly what was consumed */
		/* As much as there is: a frame whole in the buffer comes as one chunk (zero copy). */
		CHECK(n == (len < s->frame_len - s->frame_got ? len : s->frame_len - s->frame_got));
		s->frame_got += n;
		CHECK(s->frame_got <= s->frame_len);
		CHECK(ev->frame_end == (s->frame_got == s->frame_len));
		CHECK(ev->msg_end == (ev->frame_end && ev->fin));
		if (n)
			memcpy(s->msg + s->msg_len, ev->data, n);
		s->msg_len += n;
		if (s->message_max)
			CHECK(s->msg_len <= s->message_max);
		if (!ev->frame_end)
			break;
		tr_end(&s->tr, ev->msg_end, s->msg + s->frame_at, s->msg_len - s->frame_at);
		s->in_frame = false;
		if (!ev->msg_end)
			break;
		if (s->msg_opcode == RC_OPCODE_TEXT)
			CHECK(rc_utf8_valid(s->msg, s->msg_len));
		s->msg_len = 0;
		break;
	case RC_FRAME_CONTROL:
		CHECK(!s->in_frame);
		CHECK(ev->opcode >= RC_OPCODE_CLOSE && ev->opcode <= RC_OPCODE_PONG);
		CHECK(ev->msg_opcode == ev->opcode && ev->fin);
		CHECK(ev->frame_len <= RC_FRAME_CONTROL_MAX && ev->data_len == ev->frame_len);
		if (ev->opcode == RC_OPCODE_CLOSE) {
			CHECK(ev->close_code == RC_CLOSE_NO_STATUS || rc_close_code_valid(ev->close_code));
			CHECK((ev->close_code == RC_CLOSE_NO_STATUS) == (ev->data_len == 0));
			CHECK(ev->close_reason_len + (ev->data_len ? 2 : 0) == ev->data_len);
			CHECK(ev->close_reason_len == 0 ||
			      rc_utf8_valid(ev->close_reason, ev->close_reason_len));
		}
		tr_control(&s->tr, ev->opcode, ev->data, ev->data_len, ev->close_code, ev->close_reason,
		           ev->close_reason_len);
		break;
	}
}

/* Feed buf[0..len) until the parser wants more; false once it failed. */
static bool feed(rc_frame_parser *p, sink *s, uint8_t *buf, size_t len)
{
	for (;;) {
		rc_frame_event ev;
		ssize_t n = rc_frame_parse(p, buf, len, &ev);
		if (n < 0) {
			const char *why = NULL;
			s->err = rc_frame_error(p, &why);
			CHECK(s->err == RC_CLOSE_PROTOCOL || s->err == RC_CLOSE_INVALID_DATA ||
			      s->err == RC_CLOSE_TOO_BIG);
			CHECK(why != NULL && why[0] != '\0');
			CHECK(rc_frame_parse(p, buf, len, &ev) == -1);
			return false;
		}
		CHECK((size_t)n <= len);
		if (ev.type == RC_FRAME_NEED_CTL) {
			/* lent only when needed, as the server does; an exact-size heap block so that
			 * ASan sees any write past RC_FRAME_CONTROL_MAX */
			CHECK(p->ctl == NULL && n < (ssize_t)len);
			p->ctl = s->ctl = xmalloc(RC_FRAME_CONTROL_MAX);
			buf += n;
			len -= (size_t)n;
			s->consumed += (size_t)n;
			continue;
		}
		on_event(s, &ev, buf, len, (size_t)n);
		if (ev.type == RC_FRAME_CONTROL && p->ctl != NULL) {
			free(s->ctl); /* the event is handled: the storage goes back */
			p->ctl = s->ctl = NULL;
		}
		buf += n;
		len -= (size_t)n;
		s->consumed += (size_t)n;
		if (ev.type == RC_FRAME_NEED_MORE)
			return true;
	}
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Parse in[0..len) whole (seed 0) or in pieces drawn from seed, each an exact-size heap copy. */
static void parse(const rc_frame_cfg *cfg, const uint8_t *in, size_t len, uint64_t seed, sink *s)
{
	rc_frame_parser p;
	rc_frame_parser_init(&p, cfg);
	*s = (sink){ .msg = xmalloc(len), .message_max = cfg->message_max };
	size_t off = 0;
	do {
		size_t n = len - off;
		if (seed) {
			uint64_t r = rng_next(&seed);
			size_t lim = (r & 3) == 0 ? 1 : (r & 3) == 1 ? 16 : (r & 3) == 2 ? 300 : n;
			size_t k = 1 + (size_t)(r >> 8) % (lim ? lim : 1);
			n = k < n ? k : n;
		}
		uint8_t *piece = xmalloc(n);
		if (n)
			memcpy(piece, in + off, n);
		bool ok = feed(&p, s, piece, n);
		free(piece);
		off += n;
		if (!ok)
			break;
	} while (off < len);
	CHECK(s->consumed <= len);
	if (s->err == 0)
		CHECK(s->consumed == len);
	free(s->msg);
	s->msg = NULL;
	free(s->ctl); /* lent for a control frame the input ended inside */
	s->ctl = NULL;
}

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h | 1; /* nonzero: a valid xorshift state */
}

static void raw_round(const rc_frame_cfg *cfg, const uint8_t *in, size_t len, uint64_t seed)
{
	sink whole, pieces;
	parse(cfg, in, len, 0, &whole);
	parse(cfg, in, len, seed, &pieces);
	CHECK(whole.err == pieces.err);
	CHECK(whole.tr.len == pieces.tr.len);
	CHECK(whole.tr.len == 0 || memcmp(whole.tr.p, pieces.tr.p, whole.tr.len) == 0);
	free(whole.tr.p);
	free(pieces.tr.p);
}

/* --- (2) scripts of frames ------------------------------------------------------------------- */

typedef struct script {
	const uint8_t *in;
	size_t left;
	uint64_t rng;
	bool masked;
	bool msg_open;
	uint8_t msg_op;
	uint8_t pend[4]; /* UTF-8 bytes of a character not yet all in a frame */
	size_t pend_len, pend_at;
	str wire; /* the encoded frames */
	str want; /* the transcript they must parse into */
} script;

/* The next input byte; once the input runs out, pseudo-random bytes. */
static uint8_t take(script *g)
{
	if (g->left) {
		g->left--;
		return *g->in++;
	}
	return (uint8_t)(rng_next(&g->rng) >> 24);
}

static size_t utf8_encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* The next byte of valid UTF-8 text: characters at the edges of every range of Table 3-7. */
static uint8_t text_byte(script *g)
{
	static const uint32_t cps[] = { 0x00,    0x7F,    0x80,    0x7FF,    0x800,    0xFFF,  0x1000,
		                            0xCFFF,  0xD000,  0xD7FF,  0xE000,   0xFFFD,   0xFFFF, 0x10000,
		                            0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF, 0x1F600 };
	if (g->pend_at == g->pend_len) {
		uint8_t b = take(g);
		uint32_t cp = b < 0x80 ? b : cps[b % (sizeof cps / sizeof cps[0])];
		g->pend_len = utf8_encode(cp, g->pend);
		g->pend_at = 0;
	}
	return g->pend[g->pend_at++];
}

static size_t script_len(script *g)
{
	static const size_t edges[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
	uint8_t b = take(g);
	if (b < 192)
		return b & 31;
	if (b < 248)
		return (size_t)(b - 192) * 37;
	return edges[b - 248];
}

/* Encode one frame, as a client would (masked) or a server (not), onto the wire. */
static void emit(script *g, uint8_t op, bool fin, const uint8_t *payload, size_t n)
{
	uint8_t key[4] = { 0 };
	if (g->masked)
		for (int i = 0; i < 4; i++)
			key[i] = take(g);
	uint8_t h[RC_FRAME_HEADER_MAX];
	size_t hl = rc_frame_header_encode(h, op, fin, n, g->masked ? key : NULL);
	CHECK(hl == rc_frame_header_len(n, g->masked));
	str_put(&g->wire, h, hl);
	size_t at = g->wire.len;
	str_put(&g->wire, payload, n);
	if (!g->masked)
		return;
	/* Mask in two pieces: the phase carried between them must make it one transform. */
	size_t cut = n ? key[0] % (n + 1) : 0;
	unsigned phase = rc_mask_apply(g->wire.p + at, cut, key, 0);
	CHECK(phase == cut % 4);
	CHECK(rc_mask_apply(g->wire.p + at + cut, n - cut, key, phase) == n % 4);
}

static void script_data(script *g, uint8_t cmd, uint8_t *buf)
{
	uint8_t op = RC_OPCODE_CONT;
	if (!g->msg_open) {
		op = cmd & 8 ? RC_OPCODE_TEXT : RC_OPCODE_BINARY;
		g->msg_open = true;
		g->msg_op = op;
		g->pend_len = g->pend_at = 0;
	}
	bool fin = (cmd & 0x10) != 0;
	size_t n = script_len(g);
	for (size_t i = 0; i < n; i++)
		buf[i] = g->msg_op == RC_OPCODE_TEXT ? text_byte(g) : take(g);
	while (fin && g->pend_at < g->pend_len) /* a text message ends on a character boundary */
		buf[n++] = g->pend[g->pend_at++];
	emit(g, op, fin, buf, n);
	tr_start(&g->want, op, g->msg_op, fin, n);
	tr_end(&g->want, fin, buf, n);
	if (fin)
		g->msg_open = false;
}

static void script_control(script *g, uint8_t cmd, uint8_t *buf)
{
	static const uint16_t codes[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
		                              1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	uint8_t op = (cmd & 7) == 5   ? RC_OPCODE_PING
	             : (cmd & 7) == 6 ? RC_OPCODE_PONG
	                              : RC_OPCODE_CLOSE;
	size_t n = take(g) % (RC_FRAME_CONTROL_MAX + 1);
	uint16_t code = 0;
	if (op == RC_OPCODE_CLOSE) {
		code = RC_CLOSE_NO_STATUS;
		if (n == 1)
			n = 0;
		if (n) {
			code = codes[take(g) % (sizeof codes / sizeof codes[0])];
			buf[0] = (uint8_t)(code >> 8);
			buf[1] = (uint8_t)code;
			for (size_t i = 2; i < n; i++)
				buf[i] = (uint8_t)(0x20 + take(g) % 0x5F); /* printable ASCII */
		}
	} else {
		for (size_t i = 0; i < n; i++)
			buf[i] = take(g);
	}
	emit(g, op, true, buf, n);
	tr_control(&g->want, op, buf, n, code, op == RC_OPCODE_CLOSE && n ? buf + 2 : NULL,
	           op == RC_OPCODE_CLOSE && n ? n - 2 : 0);
}

static void script_round(const uint8_t *in, size_t len, uint64_t seed)
{
	if (len == 0)
		return;
	script g = { .in = in + 1, .left = len - 1, .rng = seed, .masked = in[0] & 1 };
	uint8_t *buf = xmalloc(70000 + 4);
	for (int frames = 0; frames < 64 && g.left && g.wire.len < (256u << 10); frames++) {
		uint8_t cmd = take(&g);
		if ((cmd & 7) < 5)
			script_data(&g, cmd, buf);
		else
			script_control(&g, cmd, buf);
	}
	free(buf);

	rc_frame_cfg cfg = { .role = g.masked ? RC_FRAME_SERVER : RC_FRAME_CLIENT };
	for (int split = 0; split <= 1; split++) {
		sink s;
		parse(&cfg, g.wire.p, g.wire.len, split ? seed : 0, &s);
		CHECK(s.err == 0);
		CHECK(s.tr.len == g.want.len);
		CHECK(s.tr.len == 0 || memcmp(s.tr.p, g.want.p, s.tr.len) == 0);
		free(s.tr.p);
	}
	free(g.wire.p);
	free(g.want.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t conf = data[0];
	unsigned scale = conf & 3, mantissa = conf >> 2 & 0x1F;
	uint64_t max = scale == 0 ? 0 : (uint64_t)mantissa << (4 * (scale - 1)); /* up to 7936 */
	uint64_t seed = hash(data, size);
	for (int r = 0; r < 2; r++) {
		rc_frame_cfg cfg = { .role = r ? RC_FRAME_CLIENT : RC_FRAME_SERVER,
			                 .message_max = max,
			                 .rsv_allowed = conf & 0x80 ? 0x40 : 0 };
		raw_round(&cfg, data + 1, size - 1, seed);
	}
	script_round(data + 1, size - 1, seed);
	return 0;
}
