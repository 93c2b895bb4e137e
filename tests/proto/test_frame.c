/* Tests of rc_frame: the RFC 6455 §5 frame parser and the header and frame encoders.
 *
 * Every parser input goes through check(): it is fed whole, in two pieces at every split point
 * (large inputs: every point near either end and a stride in between) and one byte at a time,
 * each piece in its own guarded buffer (rc_guard_copy) so that a read past the bytes fed faults.
 * Each run collects the events into a list of frames (DATA chunks concatenated per frame), checks
 * what the contract says of every single event on the way (a DATA chunk is exactly the bytes the
 * call consumed, never past its frame, frame_end exactly when the frame is complete, ...), and
 * the list and the error code are compared with the expected ones.
 *
 * reject() adds the position at which an error must be decided: the input cut just before that
 * byte must parse without error, and cut just after it must already fail. That is how "refused
 * from the header, before the payload" and "invalid UTF-8 found at the first bad byte, before the
 * message ends" are tested.
 *
 * Inputs are built by put_frame() below, written independently of the encoder under test, so that
 * the parser tests do not lean on it and the encoder is checked against literal bytes. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_close.h"
#include "rc_frame.h"
#include "rc_mask.h"
#include "rc_test.h"

#define FIN 0x80u
#define RSV1 0x40u
#define RSV2 0x20u
#define RSV3 0x10u

static const uint8_t KEY[4] = { 0x37, 0xfa, 0x21, 0x3d }; /* the key of the §5.7 examples */

/* --- building inputs -------------------------------------------------------------------------- */

typedef struct bytes {
	uint8_t *p;
	size_t len;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	cr_assert_not_null(b->p);
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

enum form {
	FORM_SHORTEST,
	FORM_7,
	FORM_16,
	FORM_64
};

/* Append a frame header: b0 is FIN | RSV | opcode as on the wire; key NULL for no mask bit. */
static void put_header(bytes *b, unsigned b0, const uint8_t *key, uint64_t len, enum form form)
{
	uint8_t h[14];
	size_t n = 0;
	uint8_t m = key ? 0x80 : 0;
	if (form == FORM_SHORTEST)
		form = len < 126 ? FORM_7 : len <= 0xFFFF ? FORM_16 : FORM_64;
	h[n++] = (uint8_t)b0;
	if (form == FORM_7) {
		h[n++] = (uint8_t)(m | len);
	} else if (form == FORM_16) {
		h[n++] = m | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)(len >> (8 * i));
	}
	if (key) {
		memcpy(h + n, key, 4);
		n += 4;
	}
	put(b, h, n);
}

/* Append a whole frame, masking the payload with key (a plain XOR, not rc_mask_apply). */
static void put_frame(bytes *b, unsigned b0, const uint8_t *key, const void *payload, size_t len,
                      enum form form)
{
	put_header(b, b0, key, len, form);
	size_t at = b->len;
	put(b, payload, len);
	for (size_t i = 0; key && i < len; i++)
		b->p[at + i] ^= key[i % 4];
}

/* Append a frame as the peer of a `role` parser sends it: masked to a server, plain to a client. */
static void put_as(bytes *b, enum rc_frame_role role, unsigned b0, const void *payload, size_t len)
{
	put_frame(b, b0, role == RC_FRAME_SERVER ? KEY : NULL, payload, len, FORM_SHORTEST);
}

/* The header length of a frame under 126 bytes sent to a parser of `role`. */
static size_t small_header_len(enum rc_frame_role role)
{
	return role == RC_FRAME_SERVER ? 6 : 2;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n + 1);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
	return p;
}

static rc_frame_cfg cfg_of(enum rc_frame_role role, uint64_t message_max)
{
	return (rc_frame_cfg){ .role = role, .message_max = message_max };
}

static const enum rc_frame_role ROLES[] = { RC_FRAME_SERVER, RC_FRAME_CLIENT };

/* --- what a run should produce ---------------------------------------------------------------- */

typedef struct want {
	enum rc_frame_event_type type; /* RC_FRAME_DATA_START for a data frame, or RC_FRAME_CONTROL */
	uint8_t opcode, msg_opcode;
	bool fin;
	uint64_t frame_len;
	const void *data;    /* the whole payload; NULL: not compared */
	bool partial;        /* the input, or an error, ends inside this frame */
	uint16_t close_code; /* close frames */
	const char *reason;
} want;

#define W_DATA(op, mop, fin_, p, n) \
	{ \
		.type = RC_FRAME_DATA_START, .opcode = (op), .msg_opcode = (mop), .fin = (fin_), \
		.frame_len = (n), .data = (p) \
	}
#define W_PARTIAL(op, mop, fin_, n) \
	{ \
		.type = RC_FRAME_DATA_START, .opcode = (op), .msg_opcode = (mop), .fin = (fin_), \
		.frame_len = (n), .partial = true \
	}
#define W_CTL(op, p, n) \
	{ \
		.type = RC_FRAME_CONTROL, .opcode = (op), .msg_opcode = (op), .fin = true, \
		.frame_len = (n), .data = (p) \
	}
#define W_CLOSE(code, why, n) \
	{ \
		.type = RC_FRAME_CONTROL, .opcode = RC_OPCODE_CLOSE, .msg_opcode = RC_OPCODE_CLOSE, \
		.fin = true, .frame_len = (n), .close_code = (code), .reason = (why) \
	}
#define W_TEXT(s) W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, true, s, sizeof(s) - 1)
#define NW(w) (sizeof(w) / sizeof((w)[0]))

/* --- what a run produced ---------------------------------------------------------------------- */

#define MAX_FRAMES 16

typedef struct got_frame {
	enum rc_frame_event_type type;
	uint8_t opcode, msg_opcode;
	bool fin, complete, msg_end;
	uint64_t frame_len;
	uint8_t *data; /* DATA chunks concatenated, or the control payload */
	size_t data_len;
	uint16_t close_code;
	uint8_t reason[RC_FRAME_CONTROL_MAX];
	size_t reason_len;
} got_frame;

typedef struct got {
	got_frame f[MAX_FRAMES];
	size_t n;
	size_t consumed;
	uint16_t err;
	const char *err_reason;
	uint8_t *ctl; /* storage lent to the parser on RC_FRAME_NEED_CTL, taken back after CONTROL */
	size_t lends; /* how many times it was lent */
} got;

static void got_free(got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->f[i].data);
	free(g->ctl);
	g->ctl = NULL;
}

static got_frame *got_push(got *g, const rc_frame_event *ev, const char *label)
{
	cr_assert_lt(g->n, MAX_FRAMES, "%s: too many frames", label);
	cr_assert(g->n == 0 || g->f[g->n - 1].complete, "%s: a frame starts inside frame %zu", label,
	          g->n - 1);
	got_frame *f = &g->f[g->n++];
	*f = (got_frame){ .type = ev->type,
		              .opcode = ev->opcode,
		              .msg_opcode = ev->msg_opcode,
		              .fin = ev->fin,
		              .frame_len = ev->frame_len };
	return f;
}

static void got_append(got_frame *f, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	f->data = realloc(f->data, f->data_len + n);
	cr_assert_not_null(f->data);
	memcpy(f->data + f->data_len, p, n);
	f->data_len += n;
}

/* Record the event of a call given buf[0..len) that consumed n bytes, checking what the contract
 * promises about any one event. */
static void got_event(got *g, const rc_frame_event *ev, const uint8_t *buf, size_t len, size_t n,
                      const char *label)
{
	got_frame *f = g->n ? &g->f[g->n - 1] : NULL;
	switch (ev->type) {
	case RC_FRAME_NEED_MORE:
		cr_assert_eq(n, len, "%s: NEED_MORE left %zu bytes unconsumed", label, len - n);
		break;
	case RC_FRAME_NEED_CTL: /* feed() lends the storage and never passes this on */
		cr_assert_fail("%s: NEED_CTL reached got_event", label);
		break;
	case RC_FRAME_DATA_START:
		f = got_push(g, ev, label);
		cr_assert(ev->opcode <= RC_OPCODE_BINARY, "%s: DATA_START opcode %u", label, ev->opcode);
		cr_assert(ev->msg_opcode == RC_OPCODE_TEXT || ev->msg_opcode == RC_OPCODE_BINARY,
		          "%s: msg_opcode %u", label, ev->msg_opcode);
		cr_assert(ev->opcode == RC_OPCODE_CONT || ev->opcode == ev->msg_opcode, "%s", label);
		break;
	case RC_FRAME_DATA:
		cr_assert(f && f->type == RC_FRAME_DATA_START && !f->complete,
		          "%s: DATA outside a data frame", label);
		cr_assert(ev->opcode == f->opcode && ev->msg_opcode == f->msg_opcode && ev->fin == f->fin &&
		                  ev->frame_len == f->frame_len,
		          "%s: DATA does not repeat its DATA_START", label);
		/* Zero copy: the chunk is the bytes this call consumed, in the caller's buffer. */
		cr_assert_eq(ev->data, buf, "%s: DATA chunk does not start at buf", label);
		cr_assert_eq(ev->data_len, n, "%s: DATA chunk %zu bytes, consumed %zu", label, ev->data_len,
		             n);
		/* All of the frame that is there: a frame whole in the buffer is one chunk. */
		uint64_t rest = f->frame_len - f->data_len;
		cr_assert_eq(n, len < rest ? len : rest, "%s: DATA chunk of %zu bytes, %zu fed", label, n,
		             len);
		got_append(f, ev->data, ev->data_len);
		cr_assert_leq(f->data_len, f->frame_len, "%s: chunks run past the frame", label);
		cr_assert_eq(ev->frame_end, f->data_len == f->frame_len, "%s: frame_end", label);
		cr_assert_eq(ev->msg_end, ev->frame_end && ev->fin, "%s: msg_end", label);
		f->complete = ev->frame_end;
		f->msg_end = ev->msg_end;
		break;
	case RC_FRAME_CONTROL:
		f = got_push(g, ev, label);
		cr_assert(ev->opcode >= RC_OPCODE_CLOSE && ev->opcode <= RC_OPCODE_PONG && ev->fin, "%s",
		          label);
		cr_assert_eq(ev->data_len, ev->frame_len, "%s: control payload not whole", label);
		got_append(f, ev->data, ev->data_len);
		f->complete = true;
		if (ev->opcode == RC_OPCODE_CLOSE) {
			f->close_code = ev->close_code;
			f->reason_len = ev->close_reason_len;
			cr_assert_leq(f->reason_len, sizeof f->reason, "%s", label);
			if (f->reason_len)
				memcpy(f->reason, ev->close_reason, f->reason_len);
		}
		break;
	}
}

/* Feed one piece, in a guarded copy of its own, until the parser wants more or fails. */
static void feed(rc_frame_parser *p, got *g, const uint8_t *src, size_t len, const char *label)
{
	rc_guard gd = rc_guard_copy(src, len);
	uint8_t *buf = gd.data;
	size_t left = len;
	for (;;) {
		rc_frame_event ev;
		ssize_t n = rc_frame_parse(p, buf, left, &ev);
		if (n < 0) {
			g->err = rc_frame_error(p, &g->err_reason);
			cr_assert_neq(g->err, 0, "%s: -1 without an error code", label);
			cr_assert_not_null(g->err_reason, "%s", label);
			break;
		}
		cr_assert_leq((size_t)n, left, "%s: consumed more than fed", label);
		if (ev.type == RC_FRAME_NEED_CTL) {
			/* lend storage only when asked, as the server does (exact size: a write past
			 * RC_FRAME_CONTROL_MAX is an ASan report) */
			cr_assert_null(p->ctl, "%s: NEED_CTL with storage lent", label);
			cr_assert_lt((size_t)n, left, "%s: NEED_CTL with nothing left to gather", label);
			g->ctl = malloc(RC_FRAME_CONTROL_MAX);
			cr_assert_not_null(g->ctl);
			p->ctl = g->ctl;
			g->lends++;
			buf += n;
			left -= (size_t)n;
			g->consumed += (size_t)n;
			continue;
		}
		got_event(g, &ev, buf, left, (size_t)n, label);
		if (ev.type == RC_FRAME_CONTROL && p->ctl != NULL) {
			free(g->ctl);
			p->ctl = g->ctl = NULL;
		}
		buf += n;
		left -= (size_t)n;
		g->consumed += (size_t)n;
		if (ev.type == RC_FRAME_NEED_MORE)
			break;
	}
	rc_guard_free(&gd);
}

/* Parse in[0..len) cut at cuts[0..ncuts) (ascending) into g. */
static void run(rc_frame_cfg cfg, const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
                got *g, const char *label)
{
	rc_frame_parser p;
	rc_frame_parser_init(&p, &cfg);
	cr_assert_eq(rc_frame_error(&p, NULL), 0, "%s", label);
	size_t start = 0;
	for (size_t i = 0; i <= ncuts && !g->err; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		feed(&p, g, in + start, end - start, label);
		start = end;
	}
	if (!g->err)
		return;
	/* Sticky: whatever comes next, with the same code. */
	rc_frame_event ev;
	static const uint8_t more[2] = { 0x81, 0x00 };
	rc_guard gd = rc_guard_copy(more, sizeof more);
	cr_assert_eq(rc_frame_parse(&p, gd.data, gd.len, &ev), -1, "%s: not sticky", label);
	cr_assert_eq(rc_frame_parse(&p, gd.data, 0, &ev), -1, "%s: not sticky", label);
	rc_guard_free(&gd);
	cr_assert_eq(rc_frame_error(&p, NULL), g->err, "%s: error code changed", label);
}

static void compare(const got *g, size_t len, const want *w, size_t nw, uint16_t err,
                    const char *label)
{
	cr_assert_eq(g->err, err, "%s: error %u (%s), want %u", label, g->err,
	             g->err ? g->err_reason : "none", err);
	if (!err)
		cr_assert_eq(g->consumed, len, "%s: consumed %zu of %zu", label, g->consumed, len);
	cr_assert_eq(g->n, nw, "%s: %zu frames, want %zu", label, g->n, nw);
	for (size_t i = 0; i < nw; i++) {
		const got_frame *f = &g->f[i];
		const want *x = &w[i];
		cr_assert_eq(f->type, x->type, "%s: frame %zu: event type", label, i);
		cr_assert_eq(f->opcode, x->opcode, "%s: frame %zu: opcode %u", label, i, f->opcode);
		cr_assert_eq(f->msg_opcode, x->msg_opcode, "%s: frame %zu: msg_opcode", label, i);
		cr_assert_eq(f->fin, x->fin, "%s: frame %zu: fin", label, i);
		cr_assert_eq(f->frame_len, x->frame_len, "%s: frame %zu: length %llu", label, i,
		             (unsigned long long)f->frame_len);
		cr_assert_eq(f->complete, !x->partial, "%s: frame %zu: complete", label, i);
		if (x->partial)
			continue;
		cr_assert_eq(f->data_len, x->frame_len, "%s: frame %zu: payload bytes", label, i);
		if (x->data && x->frame_len)
			cr_assert(memcmp(f->data, x->data, f->data_len) == 0, "%s: frame %zu: payload differs",
			          label, i);
		if (x->opcode != RC_OPCODE_CLOSE)
			continue;
		cr_assert_eq(f->close_code, x->close_code, "%s: frame %zu: close code %u", label, i,
		             f->close_code);
		size_t rl = x->reason ? strlen(x->reason) : 0;
		cr_assert_eq(f->reason_len, rl, "%s: frame %zu: reason length", label, i);
		cr_assert(rl == 0 || memcmp(f->reason, x->reason, rl) == 0, "%s: reason", label);
	}
}

static void run_compare(rc_frame_cfg cfg, const uint8_t *in, size_t len, const size_t *cuts,
                        size_t ncuts, const want *w, size_t nw, uint16_t err, const char *label)
{
	got g = { 0 };
	run(cfg, in, len, cuts, ncuts, &g, label);
	compare(&g, len, w, nw, err, label);
	got_free(&g);
}

/* Two-piece split points: all of them, except in a large input, where the header and the end are
 * covered byte by byte and the middle of the payload with a stride. */
static size_t next_split(size_t at, size_t len)
{
	if (len <= 4096 || at < 64 || at + 64 >= len)
		return at + 1;
	return at + 997 < len - 64 ? at + 997 : len - 64;
}

/* Parse in[0..len) whole, in two pieces at every split point and a byte at a time, as a parser
 * of cfg; each run must give exactly the frames w[0..nw) and the error err (0: none). */
static void check(rc_frame_cfg cfg, const uint8_t *in, size_t len, const want *w, size_t nw,
                  uint16_t err)
{
	char label[96];
	const char *role = cfg.role == RC_FRAME_SERVER ? "server" : "client";
	snprintf(label, sizeof label, "%s, %zu bytes whole", role, len);
	run_compare(cfg, in, len, NULL, 0, w, nw, err, label);
	for (size_t at = 1; at < len; at = next_split(at, len)) {
		snprintf(label, sizeof label, "%s, %zu bytes split at %zu", role, len, at);
		run_compare(cfg, in, len, &at, 1, w, nw, err, label);
	}
	if (len < 2)
		return;
	size_t *cuts = malloc((len - 1) * sizeof *cuts);
	cr_assert_not_null(cuts);
	for (size_t i = 0; i < len - 1; i++)
		cuts[i] = i + 1;
	snprintf(label, sizeof label, "%s, %zu bytes one at a time", role, len);
	run_compare(cfg, in, len, cuts, len - 1, w, nw, err, label);
	free(cuts);
}

/* The error err must be decided by byte at-1 (at bytes fed) and not before: the input cut at
 * at-1 parses with no error. w lists the frames reported either way. */
static void reject(rc_frame_cfg cfg, const uint8_t *in, size_t len, const want *w, size_t nw,
                   uint16_t err, size_t at)
{
	cr_assert(at >= 1 && at <= len);
	check(cfg, in, len, w, nw, err);
	if (at < len)
		check(cfg, in, at, w, nw, err);
	check(cfg, in, at - 1, w, nw, 0);
}

/* --- RFC 6455 §5.7 examples ------------------------------------------------------------------- */

static const uint8_t HELLO_TEXT[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t HELLO_TEXT_MASKED[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                         0x7f, 0x9f, 0x4d, 0x51, 0x58 };
static const uint8_t HEL_LO[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
static const uint8_t PING_HELLO[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t PONG_HELLO_MASKED[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                         0x7f, 0x9f, 0x4d, 0x51, 0x58 };

Test(rfc_examples, single_frame_unmasked_text)
{
	const want w[] = { W_TEXT("Hello") };
	check(cfg_of(RC_FRAME_CLIENT, 0), HELLO_TEXT, sizeof HELLO_TEXT, w, NW(w), 0);
}

Test(rfc_examples, single_frame_masked_text)
{
	const want w[] = { W_TEXT("Hello") };
	check(cfg_of(RC_FRAME_SERVER, 0), HELLO_TEXT_MASKED, sizeof HELLO_TEXT_MASKED, w, NW(w), 0);
}

Test(rfc_examples, fragmented_unmasked_text)
{
	const want w[] = {
		W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "Hel", 3),
		W_DATA(RC_OPCODE_CONT, RC_OPCODE_TEXT, true, "lo", 2),
	};
	check(cfg_of(RC_FRAME_CLIENT, 0), HEL_LO, sizeof HEL_LO, w, NW(w), 0);
}

Test(rfc_examples, unmasked_ping)
{
	const want w[] = { W_CTL(RC_OPCODE_PING, "Hello", 5) };
	check(cfg_of(RC_FRAME_CLIENT, 0), PING_HELLO, sizeof PING_HELLO, w, NW(w), 0);
}

Test(rfc_examples, masked_pong)
{
	const want w[] = { W_CTL(RC_OPCODE_PONG, "Hello", 5) };
	check(cfg_of(RC_FRAME_SERVER, 0), PONG_HELLO_MASKED, sizeof PONG_HELLO_MASKED, w, NW(w), 0);
}

/* 82 7E 0100 + 256 bytes, and 82 7F 0000000000010000 + 65536 bytes. */
static void check_rfc_binary(size_t n, const uint8_t *head, size_t head_len)
{
	uint8_t *payload = pattern(n, 3);
	bytes in = { 0 };
	put(&in, head, head_len);
	put(&in, payload, n);
	const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, payload, n) };
	check(cfg_of(RC_FRAME_CLIENT, 0), in.p, in.len, w, NW(w), 0);

	uint8_t out[RC_FRAME_HEADER_MAX];
	cr_assert_eq(rc_frame_header_encode(out, RC_OPCODE_BINARY, true, n, NULL), head_len);
	cr_assert(memcmp(out, head, head_len) == 0);
	free(payload);
	free(in.p);
}

Test(rfc_examples, binary_256_bytes)
{
	static const uint8_t head[] = { 0x82, 0x7E, 0x01, 0x00 };
	check_rfc_binary(256, head, sizeof head);
}

Test(rfc_examples, binary_64_kib)
{
	static const uint8_t head[] = { 0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 };
	check_rfc_binary(65536, head, sizeof head);
}

/* Encode header + payload (masked with rc_mask_apply when key is given) and compare with the
 * example byte for byte. */
static void check_encoding(const uint8_t *example, size_t example_len, uint8_t opcode, bool fin,
                           const char *payload, const uint8_t *key)
{
	uint8_t out[64];
	size_t n = strlen(payload);
	size_t h = rc_frame_header_encode(out, opcode, fin, n, key);
	cr_assert_eq(h, rc_frame_header_len(n, key != NULL));
	memcpy(out + h, payload, n);
	if (key)
		cr_assert_eq(rc_mask_apply(out + h, n, key, 0), n % 4);
	cr_assert_eq(h + n, example_len);
	cr_assert(memcmp(out, example, example_len) == 0, "encoding of the %zu-byte example differs",
	          example_len);
}

Test(rfc_examples, encoding)
{
	check_encoding(HELLO_TEXT, sizeof HELLO_TEXT, RC_OPCODE_TEXT, true, "Hello", NULL);
	check_encoding(HELLO_TEXT_MASKED, sizeof HELLO_TEXT_MASKED, RC_OPCODE_TEXT, true, "Hello", KEY);
	check_encoding(HEL_LO, 5, RC_OPCODE_TEXT, false, "Hel", NULL);
	check_encoding(HEL_LO + 5, 4, RC_OPCODE_CONT, true, "lo", NULL);
	check_encoding(PING_HELLO, sizeof PING_HELLO, RC_OPCODE_PING, true, "Hello", NULL);
	check_encoding(PONG_HELLO_MASKED, sizeof PONG_HELLO_MASKED, RC_OPCODE_PONG, true, "Hello", KEY);
}

/* --- lengths ---------------------------------------------------------------------------------- */

static const uint64_t BOUNDARY_LENGTHS[] = { 0, 1, 125, 126, 127, 65535, 65536 };

Test(lengths, every_boundary_both_roles)
{
	for (size_t i = 0; i < NW(BOUNDARY_LENGTHS); i++) {
		size_t n = (size_t)BOUNDARY_LENGTHS[i];
		uint8_t *payload = pattern(n, (unsigned)i);
		for (size_t r = 0; r < NW(ROLES); r++) {
			bytes in = { 0 };
			put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, payload, n);
			const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, payload, n) };
			check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
			free(in.p);
		}
		free(payload);
	}
}

Test(lengths, encoder_uses_the_shortest_form)
{
	for (size_t i = 0; i < NW(BOUNDARY_LENGTHS); i++) {
		uint64_t n = BOUNDARY_LENGTHS[i];
		size_t form_len = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
		for (int masked = 0; masked <= 1; masked++) {
			bytes ref = { 0 };
			put_header(&ref, FIN | RC_OPCODE_TEXT, masked ? KEY : NULL, n, FORM_SHORTEST);
			uint8_t out[RC_FRAME_HEADER_MAX];
			size_t h = rc_frame_header_encode(out, RC_OPCODE_TEXT, true, n, masked ? KEY : NULL);
			cr_assert_eq(h, form_len + (masked ? 4 : 0), "length %llu", (unsigned long long)n);
			cr_assert_eq(rc_frame_header_len(n, masked), h);
			cr_assert_eq(ref.len, h);
			cr_assert(memcmp(out, ref.p, h) == 0, "header for length %llu", (unsigned long long)n);
			free(ref.p);
		}
	}
	/* The largest length there is, and the 64-bit form with every byte in use. */
	uint8_t out[RC_FRAME_HEADER_MAX];
	static const uint8_t big[] = { 0x02, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	cr_assert_eq(rc_frame_header_encode(out, RC_OPCODE_BINARY, false, INT64_MAX, NULL), 10);
	cr_assert(memcmp(out, big, sizeof big) == 0);
	static const uint8_t odd[] = { 0x82, 0x7F, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF };
	cr_assert_eq(rc_frame_header_encode(out, RC_OPCODE_BINARY, true, 0x0123456789ABCDEFull, NULL),
	             10);
	cr_assert(memcmp(out, odd, sizeof odd) == 0);
}

Test(lengths, non_minimal_encodings_accepted)
{
	static const struct {
		uint64_t len;
		enum form form;
	} cases[] = {
		{ 0, FORM_16 }, { 5, FORM_16 },   { 125, FORM_16 },   { 0, FORM_64 },
		{ 5, FORM_64 }, { 126, FORM_64 }, { 65535, FORM_64 },
	};
	for (size_t i = 0; i < NW(cases); i++) {
		size_t n = (size_t)cases[i].len;
		uint8_t *payload = pattern(n, 9);
		for (size_t r = 0; r < NW(ROLES); r++) {
			bytes in = { 0 };
			const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
			put_frame(&in, FIN | RC_OPCODE_BINARY, key, payload, n, cases[i].form);
			const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, payload, n) };
			check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
			free(in.p);
		}
		free(payload);
	}
}

/* --- rejections ------------------------------------------------------------------------------- */

/* A frame the first two bytes of which are enough to refuse: the error comes at byte 2. */
static void reject_head(rc_frame_cfg cfg, unsigned b0, const uint8_t *key, size_t len, uint16_t err)
{
	uint8_t *payload = pattern(len, 1);
	bytes in = { 0 };
	put_frame(&in, b0, key, payload, len, FORM_SHORTEST);
	reject(cfg, in.p, in.len, NULL, 0, err, 2);
	free(payload);
	free(in.p);
}

Test(reject, masked_frame_to_client)
{
	reject_head(cfg_of(RC_FRAME_CLIENT, 0), FIN | RC_OPCODE_TEXT, KEY, 5, RC_CLOSE_PROTOCOL);
	check(cfg_of(RC_FRAME_CLIENT, 0), PONG_HELLO_MASKED, sizeof PONG_HELLO_MASKED, NULL, 0,
	      RC_CLOSE_PROTOCOL);
}

Test(reject, unmasked_frame_to_server)
{
	reject_head(cfg_of(RC_FRAME_SERVER, 0), FIN | RC_OPCODE_TEXT, NULL, 5, RC_CLOSE_PROTOCOL);
	reject_head(cfg_of(RC_FRAME_SERVER, 0), FIN | RC_OPCODE_PING, NULL, 0, RC_CLOSE_PROTOCOL);
	check(cfg_of(RC_FRAME_SERVER, 0), HELLO_TEXT, sizeof HELLO_TEXT, NULL, 0, RC_CLOSE_PROTOCOL);
}

Test(reject, rsv_bits)
{
	static const unsigned rsv[] = { RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3 };
	for (size_t i = 0; i < NW(rsv); i++)
		for (size_t r = 0; r < NW(ROLES); r++) {
			const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
			reject_head(cfg_of(ROLES[r], 0), FIN | rsv[i] | RC_OPCODE_BINARY, key, 3,
			            RC_CLOSE_PROTOCOL);
			reject_head(cfg_of(ROLES[r], 0), FIN | rsv[i] | RC_OPCODE_PING, key, 3,
			            RC_CLOSE_PROTOCOL);
		}
}

Test(reject, rsv_bit_allowed_by_an_extension)
{
	rc_frame_cfg cfg = { .role = RC_FRAME_CLIENT, .rsv_allowed = RSV1 };
	bytes in = { 0 };
	put_frame(&in, FIN | RSV1 | RC_OPCODE_BINARY, NULL, "abc", 3, FORM_SHORTEST);
	const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, "abc", 3) };
	check(cfg, in.p, in.len, w, NW(w), 0);
	free(in.p);
	reject_head(cfg, FIN | RSV2 | RC_OPCODE_BINARY, NULL, 3, RC_CLOSE_PROTOCOL);
	reject_head(cfg, FIN | RSV1 | RSV3 | RC_OPCODE_BINARY, NULL, 3, RC_CLOSE_PROTOCOL);
}

Test(reject, every_reserved_opcode)
{
	static const unsigned ops[] = { 3, 4, 5, 6, 7, 11, 12, 13, 14, 15 };
	for (size_t i = 0; i < NW(ops); i++)
		for (size_t r = 0; r < NW(ROLES); r++) {
			const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
			reject_head(cfg_of(ROLES[r], 0), FIN | ops[i], key, 4, RC_CLOSE_PROTOCOL);
			reject_head(cfg_of(ROLES[r], 0), ops[i], key, 0, RC_CLOSE_PROTOCOL);
		}
}

Test(reject, control_frame_over_125_bytes)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
		reject_head(cfg_of(ROLES[r], 0), FIN | RC_OPCODE_PING, key, 126, RC_CLOSE_PROTOCOL);
		reject_head(cfg_of(ROLES[r], 0), FIN | RC_OPCODE_PONG, key, 127, RC_CLOSE_PROTOCOL);
		reject_head(cfg_of(ROLES[r], 0), FIN | RC_OPCODE_CLOSE, key, 65536, RC_CLOSE_PROTOCOL);
		/* 125 is the most a control frame may carry. */
		uint8_t *payload = pattern(125, 2);
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PING, payload, 125);
		const want w[] = { W_CTL(RC_OPCODE_PING, payload, 125) };
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
		free(payload);
	}
}

Test(reject, fragmented_control_frame)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
		reject_head(cfg_of(ROLES[r], 0), RC_OPCODE_PING, key, 2, RC_CLOSE_PROTOCOL);
		reject_head(cfg_of(ROLES[r], 0), RC_OPCODE_CLOSE, key, 0, RC_CLOSE_PROTOCOL);
	}
}

Test(reject, continuation_first)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
		reject_head(cfg_of(ROLES[r], 0), FIN | RC_OPCODE_CONT, key, 3, RC_CLOSE_PROTOCOL);
		reject_head(cfg_of(ROLES[r], 0), RC_OPCODE_CONT, key, 0, RC_CLOSE_PROTOCOL);
		/* ... and a continuation after a message that ended. */
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "ab", 2);
		size_t at = in.len + 2;
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "cd", 2);
		const want w[] = { W_TEXT("ab") };
		reject(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), RC_CLOSE_PROTOCOL, at);
		free(in.p);
	}
}

Test(reject, new_message_inside_fragmented_one)
{
	static const unsigned second[] = { RC_OPCODE_TEXT, FIN | RC_OPCODE_TEXT,
		                               FIN | RC_OPCODE_BINARY };
	for (size_t r = 0; r < NW(ROLES); r++)
		for (size_t i = 0; i < NW(second); i++) {
			bytes in = { 0 };
			put_as(&in, ROLES[r], RC_OPCODE_TEXT, "Hel", 3);
			size_t at = in.len + 2;
			put_as(&in, ROLES[r], second[i], "lo", 2);
			const want w[] = { W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "Hel", 3) };
			reject(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), RC_CLOSE_PROTOCOL, at);
			free(in.p);
		}
}

Test(reject, length_with_top_bit_set)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
		bytes in = { 0 };
		put_header(&in, FIN | RC_OPCODE_BINARY, key, 0x8000000000000000ull, FORM_64);
		put(&in, "abcd", 4);
		reject(cfg_of(ROLES[r], 0), in.p, in.len, NULL, 0, RC_CLOSE_PROTOCOL, in.len - 4);
		free(in.p);
		/* The largest legal length is only a header: no error, a frame that never ends. */
		in = (bytes){ 0 };
		put_header(&in, FIN | RC_OPCODE_BINARY, key, INT64_MAX, FORM_64);
		const want w[] = { W_PARTIAL(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, INT64_MAX) };
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
	}
}

Test(reject, message_over_max_from_the_header)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		const uint8_t *key = ROLES[r] == RC_FRAME_SERVER ? KEY : NULL;
		rc_frame_cfg cfg = cfg_of(ROLES[r], 1000);
		/* Only the header is fed: the error must be there already. */
		bytes in = { 0 };
		put_header(&in, FIN | RC_OPCODE_BINARY, key, 1001, FORM_SHORTEST);
		reject(cfg, in.p, in.len, NULL, 0, RC_CLOSE_TOO_BIG, in.len);
		free(in.p);
		in = (bytes){ 0 };
		put_header(&in, FIN | RC_OPCODE_TEXT, key, 1ull << 40, FORM_SHORTEST);
		reject(cfg, in.p, in.len, NULL, 0, RC_CLOSE_TOO_BIG, in.len);
		free(in.p);
		/* Exactly the maximum is fine. */
		uint8_t *payload = pattern(1000, 5);
		in = (bytes){ 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, payload, 1000);
		const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, payload, 1000) };
		check(cfg, in.p, in.len, w, NW(w), 0);
		free(in.p);
		free(payload);
	}
}

Test(reject, fragmented_message_sum_over_max)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		rc_frame_cfg cfg = cfg_of(ROLES[r], 10);
		/* 6 + 4 = 10 fits, and the next message starts from zero again. */
		bytes in = { 0 };
		put_as(&in, ROLES[r], RC_OPCODE_TEXT, "abcdef", 6);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PING, "p", 1); /* control frames do not count */
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "ghij", 4);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, "0123456789", 10);
		const want ok[] = {
			W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "abcdef", 6),
			W_CTL(RC_OPCODE_PING, "p", 1),
			W_DATA(RC_OPCODE_CONT, RC_OPCODE_TEXT, true, "ghij", 4),
			W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, "0123456789", 10),
		};
		check(cfg, in.p, in.len, ok, NW(ok), 0);
		free(in.p);
		/* 6 + 3 + 2 = 11 does not: refused at the third frame's header. */
		in = (bytes){ 0 };
		put_as(&in, ROLES[r], RC_OPCODE_BINARY, "abcdef", 6);
		put_as(&in, ROLES[r], RC_OPCODE_CONT, "ghi", 3);
		size_t at = in.len + small_header_len(ROLES[r]);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "jk", 2);
		const want w[] = {
			W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, false, "abcdef", 6),
			W_DATA(RC_OPCODE_CONT, RC_OPCODE_BINARY, false, "ghi", 3),
		};
		reject(cfg, in.p, in.len, w, NW(w), RC_CLOSE_TOO_BIG, at);
		free(in.p);
	}
}

static void reject_close_payload(const void *payload, size_t n, uint16_t err)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CLOSE, payload, n);
		reject(cfg_of(ROLES[r], 0), in.p, in.len, NULL, 0, err, in.len);
		free(in.p);
	}
}

Test(reject, close_with_1_byte_payload)
{
	reject_close_payload("\x03", 1, RC_CLOSE_PROTOCOL);
}

Test(reject, close_codes_that_must_not_be_sent)
{
	static const uint16_t codes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
	for (size_t i = 0; i < NW(codes); i++) {
		uint8_t p[5] = { (uint8_t)(codes[i] >> 8), (uint8_t)codes[i], 'b', 'y', 'e' };
		reject_close_payload(p, 2, RC_CLOSE_PROTOCOL);
		reject_close_payload(p, 5, RC_CLOSE_PROTOCOL);
	}
}

Test(reject, close_reason_not_utf8)
{
	reject_close_payload("\x03\xe8"
	                     "ab\xc0\xaf",
	                     6, RC_CLOSE_INVALID_DATA);
	reject_close_payload("\x03\xe8"
	                     "ab\xe2\x82",
	                     6, RC_CLOSE_INVALID_DATA); /* cut short */
}

/* --- UTF-8 ------------------------------------------------------------------------------------ */

/* U+1F600 (F0 9F 98 80) cut into `pieces` frames, with ASCII around it. */
static void check_split_character(size_t pieces)
{
	static const uint8_t text[] = "a\xF0\x9F\x98\x80z";
	size_t cut[5] = { 0 }; /* frame i carries text[cut[i]..cut[i+1]) */
	cut[pieces] = sizeof text - 1;
	for (size_t i = 1; i < pieces; i++)
		cut[i] = 1 + i; /* every cut lands inside the character */
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		want w[4];
		for (size_t i = 0; i < pieces; i++) {
			uint8_t op = i == 0 ? RC_OPCODE_TEXT : RC_OPCODE_CONT;
			bool fin = i + 1 == pieces;
			size_t n = cut[i + 1] - cut[i];
			put_as(&in, ROLES[r], (fin ? FIN : 0) | op, text + cut[i], n);
			w[i] = (want)W_DATA(op, RC_OPCODE_TEXT, fin, text + cut[i], n);
		}
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, pieces, 0);
		free(in.p);
	}
}

Test(utf8, character_split_across_two_three_four_frames)
{
	check_split_character(2);
	check_split_character(3);
	check_split_character(4);
}

Test(utf8, invalid_sequence_across_frames_fails_at_the_first_bad_byte)
{
	/* F0 9F in the first frame is a valid start; the second frame's 0x28 cannot continue it.
	 * The message's FIN frame is never fed: the error must not wait for it. */
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		put_as(&in, ROLES[r], RC_OPCODE_TEXT, "ok\xF0\x9F", 4);
		size_t at = in.len + small_header_len(ROLES[r]) + 1;
		put_as(&in, ROLES[r], RC_OPCODE_CONT, "\x98(x", 3);
		const want w[] = {
			W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "ok\xF0\x9F", 4),
			W_PARTIAL(RC_OPCODE_CONT, RC_OPCODE_TEXT, false, 3),
		};
		reject(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), RC_CLOSE_INVALID_DATA, at + 1);
		free(in.p);
	}
}

Test(utf8, message_ending_inside_a_character)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		/* Split: the FIN frame (here empty) leaves E2 82 open. */
		bytes in = { 0 };
		put_as(&in, ROLES[r], RC_OPCODE_TEXT, "a\xE2\x82", 3);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "", 0);
		const want w[] = {
			W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "a\xE2\x82", 3),
			W_PARTIAL(RC_OPCODE_CONT, RC_OPCODE_TEXT, true, 0),
		};
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), RC_CLOSE_INVALID_DATA);
		free(in.p);
		/* One frame: decided at its last byte. */
		in = (bytes){ 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "ab\xF0\x9F\x98", 5);
		const want w1[] = { W_PARTIAL(RC_OPCODE_TEXT, RC_OPCODE_TEXT, true, 5) };
		reject(cfg_of(ROLES[r], 0), in.p, in.len, w1, NW(w1), RC_CLOSE_INVALID_DATA, in.len);
		free(in.p);
		/* A binary message may end anywhere. */
		in = (bytes){ 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, "ab\xF0\x9F\x98", 5);
		const want w2[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, "ab\xF0\x9F\x98", 5) };
		check(cfg_of(ROLES[r], 0), in.p, in.len, w2, NW(w2), 0);
		free(in.p);
	}
}

Test(utf8, fail_fast_autobahn_6_4)
{
	/* Autobahn 6.4.x: a valid prefix ("κόσμε"), then F4 90 80 80 (above U+10FFFF, invalid at
	 * 0x90), then more text. The frame announces all of it; the input stops right after the bad
	 * byte, and the rest is never needed. */
	static const char prefix[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
	static const char rest[] = "\xf4\x90\x80\x80"
	                           "edited";
	size_t total = sizeof prefix - 1 + sizeof rest - 1;
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes body = { 0 };
		put(&body, prefix, sizeof prefix - 1);
		put(&body, rest, sizeof rest - 1);
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, body.p, body.len);
		size_t bad = in.len - total + sizeof prefix - 1 + 1; /* offset of 0x90 */
		const want w[] = { W_PARTIAL(RC_OPCODE_TEXT, RC_OPCODE_TEXT, true, total) };
		reject(cfg_of(ROLES[r], 0), in.p, bad + 1, w, NW(w), RC_CLOSE_INVALID_DATA, bad + 1);
		free(in.p);
		/* The same as fragments (6.4.1): the error comes in the second one. */
		in = (bytes){ 0 };
		put_as(&in, ROLES[r], RC_OPCODE_TEXT, prefix, sizeof prefix - 1);
		put_as(&in, ROLES[r], RC_OPCODE_CONT, "\xf4\x90\x80\x80", 4);
		bad = in.len - 3;
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "edited", 6);
		const want wf[] = {
			W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, prefix, sizeof prefix - 1),
			W_PARTIAL(RC_OPCODE_CONT, RC_OPCODE_TEXT, false, 4),
		};
		reject(cfg_of(ROLES[r], 0), in.p, in.len, wf, NW(wf), RC_CLOSE_INVALID_DATA, bad + 1);
		free(in.p);
		free(body.p);
	}
}

Test(utf8, text_state_resets_between_messages)
{
	/* Two valid text messages, then binary bytes that are not UTF-8: all accepted. */
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "\xc3\xa9", 2);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, "\xff\xc3", 2);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "x", 1);
		const want w[] = {
			W_TEXT("\xc3\xa9"),
			W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, "\xff\xc3", 2),
			W_TEXT("x"),
		};
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
	}
}

/* --- control frames --------------------------------------------------------------------------- */

Test(control, ping_between_fragments)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		put_as(&in, ROLES[r], RC_OPCODE_TEXT, "Hel", 3);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PING, "are you there", 13);
		put_as(&in, ROLES[r], RC_OPCODE_CONT, "l\xc3", 2);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PONG, "", 0);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "\xa9o", 2);
		const want w[] = {
			W_DATA(RC_OPCODE_TEXT, RC_OPCODE_TEXT, false, "Hel", 3),
			W_CTL(RC_OPCODE_PING, "are you there", 13),
			W_DATA(RC_OPCODE_CONT, RC_OPCODE_TEXT, false, "l\xc3", 2),
			W_CTL(RC_OPCODE_PONG, "", 0),
			W_DATA(RC_OPCODE_CONT, RC_OPCODE_TEXT, true, "\xa9o", 2),
		};
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
	}
}

Test(control, empty_pong_and_empty_close)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PONG, "", 0);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CLOSE, "", 0);
		const want w[] = {
			W_CTL(RC_OPCODE_PONG, "", 0),
			W_CLOSE(RC_CLOSE_NO_STATUS, NULL, 0),
		};
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
	}
}

Test(control, close_with_code_and_reason)
{
	static const uint16_t codes[] = { 1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999 };
	for (size_t i = 0; i < NW(codes); i++)
		for (size_t r = 0; r < NW(ROLES); r++) {
			uint8_t p[] = { (uint8_t)(codes[i] >> 8), (uint8_t)codes[i], 'b', 'y', 0xc3, 0xa9 };
			bytes in = { 0 };
			put_as(&in, ROLES[r], FIN | RC_OPCODE_CLOSE, p, 2);
			put_as(&in, ROLES[r], FIN | RC_OPCODE_CLOSE, p, sizeof p);
			const want w[] = {
				W_CLOSE(codes[i], NULL, 2),
				W_CLOSE(codes[i], "by\xc3\xa9", sizeof p),
			};
			check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
			free(in.p);
		}
}

/* --- streams, zero copy, errors -------------------------------------------------------------- */

Test(stream, frames_back_to_back)
{
	for (size_t r = 0; r < NW(ROLES); r++) {
		uint8_t *big = pattern(300, 4);
		bytes in = { 0 };
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "one", 3);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_BINARY, big, 300);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_TEXT, "", 0);
		put_as(&in, ROLES[r], RC_OPCODE_BINARY, "", 0);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_PING, "x", 1);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CONT, "two", 3);
		put_as(&in, ROLES[r], FIN | RC_OPCODE_CLOSE, "\x03\xe8", 2);
		const want w[] = {
			W_TEXT("one"),
			W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, big, 300),
			W_TEXT(""),
			W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, false, "", 0),
			W_CTL(RC_OPCODE_PING, "x", 1),
			W_DATA(RC_OPCODE_CONT, RC_OPCODE_BINARY, true, "two", 3),
			W_CLOSE(RC_CLOSE_NORMAL, NULL, 2),
		};
		check(cfg_of(ROLES[r], 0), in.p, in.len, w, NW(w), 0);
		free(in.p);
		free(big);
	}
}

Test(stream, empty_frame_event_comes_without_more_bytes)
{
	/* Fed exactly the 2-byte frame: DATA_START consumes both, and the DATA event follows from a
	 * call with nothing left to consume. */
	static const uint8_t empty[] = { 0x81, 0x00 };
	rc_frame_cfg cfg = cfg_of(RC_FRAME_CLIENT, 0);
	rc_frame_parser p;
	rc_frame_parser_init(&p, &cfg);
	rc_guard g = rc_guard_copy(empty, sizeof empty);
	rc_frame_event ev;
	cr_assert_eq(rc_frame_parse(&p, g.data, 2, &ev), 2);
	cr_assert_eq(ev.type, RC_FRAME_DATA_START);
	cr_assert_eq(ev.frame_len, 0);
	cr_assert_eq(rc_frame_parse(&p, g.data + 2, 0, &ev), 0);
	cr_assert_eq(ev.type, RC_FRAME_DATA);
	cr_assert(ev.frame_end && ev.msg_end && ev.fin && ev.data_len == 0);
	cr_assert_eq(rc_frame_parse(&p, g.data + 2, 0, &ev), 0);
	cr_assert_eq(ev.type, RC_FRAME_NEED_MORE);
	rc_guard_free(&g);
}

Test(stream, payload_unmasked_in_place)
{
	/* A whole masked frame in one buffer: after DATA_START comes one DATA with frame_end,
	 * pointing at the payload's place in the caller's buffer, which now holds the plain text. */
	rc_frame_cfg cfg = cfg_of(RC_FRAME_SERVER, 0);
	bytes in = { 0 };
	put_frame(&in, FIN | RC_OPCODE_TEXT, KEY, "Hello", 5, FORM_SHORTEST);
	put_frame(&in, FIN | RC_OPCODE_BINARY, KEY, "abcdefghij", 10, FORM_64);
	rc_guard g = rc_guard_copy(in.p, in.len);
	rc_frame_parser p;
	rc_frame_parser_init(&p, &cfg);
	rc_frame_event ev;
	uint8_t *b = g.data;
	cr_assert_eq(rc_frame_parse(&p, b, g.len, &ev), 6);
	cr_assert_eq(ev.type, RC_FRAME_DATA_START);
	cr_assert_eq(rc_frame_parse(&p, b + 6, g.len - 6, &ev), 5);
	cr_assert(ev.type == RC_FRAME_DATA && ev.frame_end && ev.msg_end);
	cr_assert_eq(ev.data, b + 6);
	cr_assert(memcmp(b + 6, "Hello", 5) == 0);
	cr_assert_eq(rc_frame_parse(&p, b + 11, g.len - 11, &ev), 14);
	cr_assert_eq(ev.type, RC_FRAME_DATA_START);
	cr_assert_eq(rc_frame_parse(&p, b + 25, g.len - 25, &ev), 10);
	cr_assert(ev.type == RC_FRAME_DATA && ev.frame_end && ev.data == b + 25);
	cr_assert(memcmp(b + 25, "abcdefghij", 10) == 0);
	cr_assert_eq(rc_frame_parse(&p, b + 35, 0, &ev), 0);
	cr_assert_eq(ev.type, RC_FRAME_NEED_MORE);
	/* The headers are left as they were. */
	cr_assert(memcmp(b, in.p, 6) == 0 && memcmp(b + 11, in.p + 11, 14) == 0);
	rc_guard_free(&g);
	free(in.p);
}

Test(stream, errors_are_sticky_and_named)
{
	rc_frame_cfg cfg = cfg_of(RC_FRAME_SERVER, 0);
	rc_frame_parser p;
	rc_frame_parser_init(&p, &cfg);
	const char *why = NULL;
	cr_assert_eq(rc_frame_error(&p, &why), 0);
	rc_guard g = rc_guard_copy(HELLO_TEXT, sizeof HELLO_TEXT);
	rc_frame_event ev;
	cr_assert_eq(rc_frame_parse(&p, g.data, g.len, &ev), -1);
	cr_assert_eq(rc_frame_error(&p, &why), RC_CLOSE_PROTOCOL);
	cr_assert_str_eq(why, "unmasked client frame");
	rc_guard_free(&g);
	g = rc_guard_copy(HELLO_TEXT_MASKED, sizeof HELLO_TEXT_MASKED);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rc_frame_parse(&p, g.data, g.len, &ev), -1);
	cr_assert_eq(rc_frame_error(&p, &why), RC_CLOSE_PROTOCOL);
	rc_guard_free(&g);

	rc_frame_parser_init(&p, &cfg);
	g = rc_guard_copy("\x83\x80", 2);
	cr_assert_eq(rc_frame_parse(&p, g.data, g.len, &ev), -1);
	cr_assert_eq(rc_frame_error(&p, &why), RC_CLOSE_PROTOCOL);
	cr_assert_str_eq(why, "reserved opcode");
	rc_guard_free(&g);
}

Test(stream, reasons_name_the_rule)
{
	static const struct {
		enum rc_frame_role role;
		uint64_t max;
		const char *in;
		size_t len;
		uint16_t code;
		const char *reason;
	} cases[] = {
		{ RC_FRAME_CLIENT, 0, "\xc1\x00", 2, RC_CLOSE_PROTOCOL, "reserved bits set" },
		{ RC_FRAME_CLIENT, 0, "\x8b\x00", 2, RC_CLOSE_PROTOCOL, "reserved opcode" },
		{ RC_FRAME_SERVER, 0, "\x81\x00", 2, RC_CLOSE_PROTOCOL, "unmasked client frame" },
		{ RC_FRAME_CLIENT, 0, "\x81\x80", 2, RC_CLOSE_PROTOCOL, "masked server frame" },
		{ RC_FRAME_CLIENT, 0, "\x09\x00", 2, RC_CLOSE_PROTOCOL, "fragmented control frame" },
		{ RC_FRAME_CLIENT, 0, "\x89\x7e", 2, RC_CLOSE_PROTOCOL, "control frame too long" },
		{ RC_FRAME_CLIENT, 0, "\x80\x00", 2, RC_CLOSE_PROTOCOL, "continuation without a message" },
		{ RC_FRAME_CLIENT, 0, "\x01\x00\x01\x00", 4, RC_CLOSE_PROTOCOL,
		  "new message inside a fragmented one" },
		{ RC_FRAME_CLIENT, 0, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, RC_CLOSE_PROTOCOL,
		  "64-bit length with the top bit set" },
		{ RC_FRAME_CLIENT, 3, "\x82\x04", 2, RC_CLOSE_TOO_BIG, "message too big" },
		{ RC_FRAME_CLIENT, 0, "\x81\x01\xff", 3, RC_CLOSE_INVALID_DATA,
		  "invalid UTF-8 in text message" },
		{ RC_FRAME_CLIENT, 0, "\x81\x01\xc3", 3, RC_CLOSE_INVALID_DATA,
		  "text message ends inside a UTF-8 character" },
		{ RC_FRAME_CLIENT, 0, "\x88\x01\x03", 3, RC_CLOSE_PROTOCOL, "close payload of 1 byte" },
		{ RC_FRAME_CLIENT, 0, "\x88\x02\x03\xed", 4, RC_CLOSE_PROTOCOL,
		  "close code not allowed on the wire" },
		{ RC_FRAME_CLIENT, 0, "\x88\x03\x03\xe8\xff", 5, RC_CLOSE_INVALID_DATA,
		  "invalid UTF-8 in close reason" },
	};
	for (size_t i = 0; i < NW(cases); i++) {
		rc_frame_cfg cfg = cfg_of(cases[i].role, cases[i].max);
		got g = { 0 };
		run(cfg, (const uint8_t *)cases[i].in, cases[i].len, NULL, 0, &g, cases[i].reason);
		cr_assert_eq(g.err, cases[i].code, "case %zu: code %u", i, g.err);
		cr_assert_str_eq(g.err_reason, cases[i].reason, "case %zu", i);
		got_free(&g);
	}
}

/* --- the encoder ------------------------------------------------------------------------------ */

Test(encoder, prepend_writes_exactly_before_the_payload)
{
	static const uint64_t lens[] = { 0, 5, 125, 126, 65535, 65536 };
	for (size_t i = 0; i < NW(lens); i++) {
		size_t n = (size_t)lens[i];
		size_t room = 32;
		uint8_t *mem = malloc(room + n);
		cr_assert_not_null(mem);
		memset(mem, 0xEE, room);
		uint8_t *payload = mem + room;
		for (size_t j = 0; j < n; j++)
			payload[j] = (uint8_t)j;
		uint8_t *start = rc_frame_header_prepend(payload, RC_OPCODE_BINARY, i % 2 == 0, n);
		size_t h = rc_frame_header_len(n, false);
		cr_assert_eq(start, payload - h, "length %zu", n);
		for (uint8_t *q = mem; q < start; q++)
			cr_assert_eq(*q, 0xEE, "length %zu: wrote before the header", n);
		for (size_t j = 0; j < n; j++)
			cr_assert_eq(payload[j], (uint8_t)j, "length %zu: payload touched", n);
		uint8_t ref[RC_FRAME_HEADER_MAX];
		cr_assert_eq(rc_frame_header_encode(ref, RC_OPCODE_BINARY, i % 2 == 0, n, NULL), h);
		cr_assert(memcmp(ref, start, h) == 0);

		/* It parses back, as a client, into the same frame, with the payload in place. */
		rc_frame_cfg cfg = cfg_of(RC_FRAME_CLIENT, 0);
		rc_frame_parser p;
		rc_frame_parser_init(&p, &cfg);
		rc_frame_event ev;
		cr_assert_eq(rc_frame_parse(&p, start, h + n, &ev), (ssize_t)h);
		cr_assert_eq(ev.type, RC_FRAME_DATA_START);
		cr_assert(ev.opcode == RC_OPCODE_BINARY && ev.fin == (i % 2 == 0) && ev.frame_len == n);
		cr_assert_eq(rc_frame_parse(&p, payload, n, &ev), (ssize_t)n);
		cr_assert(ev.type == RC_FRAME_DATA && ev.frame_end && ev.data == payload &&
		          ev.data_len == n);
		free(mem);
	}
}

Test(encoder, prepend_over_a_client_header_in_place)
{
	/* The broadcast path: a masked client frame, unmasked in place, gets a server header written
	 * over the end of its own header and is then a valid server frame. */
	uint8_t *payload_ref = pattern(200, 6);
	bytes in = { 0 };
	put_frame(&in, FIN | RC_OPCODE_BINARY, KEY, payload_ref, 200, FORM_SHORTEST);
	rc_guard g = rc_guard_copy(in.p, in.len);
	rc_frame_cfg srv = cfg_of(RC_FRAME_SERVER, 0);
	rc_frame_parser p;
	rc_frame_parser_init(&p, &srv);
	rc_frame_event ev;
	cr_assert_eq(rc_frame_parse(&p, g.data, g.len, &ev), 8);
	cr_assert_eq(rc_frame_parse(&p, g.data + 8, g.len - 8, &ev), 200);
	cr_assert(ev.frame_end && ev.data == g.data + 8);
	uint8_t *start = rc_frame_header_prepend(ev.data, RC_OPCODE_BINARY, true, ev.data_len);
	cr_assert_eq(start, g.data + 4);
	const want w[] = { W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, true, payload_ref, 200) };
	check(cfg_of(RC_FRAME_CLIENT, 0), start, g.len - 4, w, NW(w), 0);
	rc_guard_free(&g);
	free(in.p);
	free(payload_ref);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

Test(encoder, masked_round_trip)
{
	/* Encode with a random key and mask with rc_mask_apply, parse as a server: the same frames. */
	static const uint64_t lens[] = { 0, 1, 3, 4, 7, 125, 126, 200, 65535, 65536, 70001 };
	for (size_t i = 0; i < 60; i++) {
		size_t n = i < NW(lens) ? (size_t)lens[i] : (size_t)(rng() % 3000);
		uint8_t key[4];
		uint64_t k = rng();
		memcpy(key, &k, 4);
		uint8_t *plain = malloc(n + 1);
		cr_assert_not_null(plain);
		for (size_t j = 0; j < n; j++)
			plain[j] = (uint8_t)rng();
		uint8_t op = i % 3 == 2 ? RC_OPCODE_PING : RC_OPCODE_BINARY;
		if (op == RC_OPCODE_PING)
			n %= RC_FRAME_CONTROL_MAX + 1;
		bool fin = op == RC_OPCODE_PING || i % 4 != 1;
		uint8_t *frame = malloc(RC_FRAME_HEADER_MAX + n);
		cr_assert_not_null(frame);
		size_t h = rc_frame_header_encode(frame, op, fin, n, key);
		cr_assert_eq(h, rc_frame_header_len(n, true));
		if (n)
			memcpy(frame + h, plain, n);
		/* Masking in two uneven pieces must equal masking at once. */
		unsigned phase = rc_mask_apply(frame + h, n / 3, key, 0);
		cr_assert_eq(rc_mask_apply(frame + h + n / 3, n - n / 3, key, phase), n % 4);
		want w[1];
		if (op == RC_OPCODE_PING)
			w[0] = (want)W_CTL(RC_OPCODE_PING, plain, n);
		else
			w[0] = (want)W_DATA(RC_OPCODE_BINARY, RC_OPCODE_BINARY, fin, plain, n);
		if (n <= 4096)
			check(cfg_of(RC_FRAME_SERVER, 0), frame, h + n, w, 1, 0);
		else
			run_compare(cfg_of(RC_FRAME_SERVER, 0), frame, h + n, NULL, 0, w, 1, 0, "whole");
		free(frame);
		free(plain);
	}
}

Test(encoder, encode_masked_copied_in_place_and_overlapping)
{
	/* rc_frame_encode_masked gives the same bytes as put_frame (independent of the encoder), for
	 * a payload copied from elsewhere, already in place, or overlapping the frame (before and
	 * after where the payload goes), and writes nothing past the frame (guarded). */
	static const size_t lens[] = { 0, 1, 5, 125, 126, 127, 1000, 65535, 65536, 70001 };
	for (size_t i = 0; i < NW(lens); i++) {
		size_t n = lens[i];
		uint8_t key[4];
		uint64_t k = rng();
		memcpy(key, &k, 4);
		uint8_t *plain = pattern(n, (unsigned)i);
		uint8_t op = n <= RC_FRAME_CONTROL_MAX && i % 2 ? RC_OPCODE_PING : RC_OPCODE_TEXT;
		bytes ref = { 0 };
		put_frame(&ref, FIN | op, key, plain, n, FORM_SHORTEST);
		size_t h = rc_frame_header_len(n, true);
		cr_assert_eq(ref.len, h + n);

		for (int way = 0; way < 4; way++) {
			/* 16 spare bytes in front, so that the payload can start before the frame. */
			uint8_t *mem = calloc(1, 16 + ref.len);
			cr_assert_not_null(mem);
			uint8_t *src = way == 0   ? plain
			               : way == 1 ? mem + 16 + h  /* in place */
			               : way == 2 ? mem + 16 - 3  /* overlapping, before */
			                          : mem + 16 + 1; /* overlapping, inside the header */
			if (way > 0 && n)
				memmove(src, plain, n);
			rc_guard g = rc_guard_copy(mem, 16 + ref.len);
			uint8_t *gsrc = way == 0 ? src : g.data + (src - mem);
			size_t flen = rc_frame_encode_masked(g.data + 16, op, gsrc, n, key);
			cr_assert_eq(flen, ref.len, "length %zu, way %d", n, way);
			cr_assert(memcmp(g.data + 16, ref.p, ref.len) == 0, "length %zu, way %d", n, way);
			rc_guard_free(&g);
			free(mem);
		}
		free(ref.p);
		free(plain);
	}
}

/* --- control payloads: in place when whole, lent storage when split -------------------------- */

/* A 125-byte ping cut at every point: whole in one feed, the payload is unmasked in place and no
 * storage is asked for; cut inside the payload, RC_FRAME_NEED_CTL comes exactly once, before any
 * payload byte is consumed, and the payload arrives whole in the lent storage. */
Test(control, storage_is_lent_only_for_a_split_payload)
{
	uint8_t *ping = pattern(RC_FRAME_CONTROL_MAX, 9);
	bytes in = { 0 };
	put_frame(&in, FIN | RC_OPCODE_PING, KEY, ping, RC_FRAME_CONTROL_MAX, FORM_SHORTEST);
	const size_t h = 6;
	for (size_t cut = 0; cut <= in.len; cut++) {
		rc_frame_cfg cfg = cfg_of(RC_FRAME_SERVER, 0);
		rc_frame_parser p;
		rc_frame_parser_init(&p, &cfg);
		cr_assert_null(p.ctl);
		uint8_t *buf = malloc(in.len);
		memcpy(buf, in.p, in.len);
		uint8_t store[RC_FRAME_CONTROL_MAX];
		size_t off = 0, lends = 0, events = 0;
		size_t ends[2] = { cut, in.len };
		for (int piece = 0; piece < 2; piece++) {
			for (;;) {
				rc_frame_event ev;
				ssize_t n = rc_frame_parse(&p, buf + off, ends[piece] - off, &ev);
				cr_assert_geq(n, 0, "cut %zu", cut);
				off += (size_t)n;
				if (ev.type == RC_FRAME_NEED_MORE)
					break;
				if (ev.type == RC_FRAME_NEED_CTL) {
					cr_assert(off >= h && off < ends[piece] && off < in.len, "cut %zu", cut);
					cr_assert_eq(off, h, "cut %zu: payload consumed before storage", cut);
					p.ctl = store;
					lends++;
					continue;
				}
				cr_assert_eq(ev.type, RC_FRAME_CONTROL, "cut %zu", cut);
				cr_assert_eq(ev.data_len, RC_FRAME_CONTROL_MAX);
				cr_assert(memcmp(ev.data, ping, RC_FRAME_CONTROL_MAX) == 0, "cut %zu", cut);
				bool split = cut > h && cut < in.len;
				cr_assert_eq(ev.data == store, split, "cut %zu: payload in the storage", cut);
				if (!split)
					cr_assert_eq(ev.data, buf + h, "cut %zu: payload not in place", cut);
				events++;
				p.ctl = NULL; /* taken back after the event */
			}
		}
		cr_assert_eq(events, 1, "cut %zu", cut);
		cr_assert_eq(lends, cut > h && cut < in.len ? 1 : 0, "cut %zu: storage lent", cut);
		cr_assert_eq(off, in.len);
		free(buf);
	}
	free(in.p);
	free(ping);
}

/* A caller that lends storage once for good never sees RC_FRAME_NEED_CTL, and a split close
 * frame is validated from the storage like a whole one. */
Test(control, storage_lent_for_good_and_a_split_close)
{
	uint8_t payload[] = { 0x03, 0xE8, 'b', 'y', 'e' }; /* 1000 "bye" */
	bytes in = { 0 };
	put_frame(&in, FIN | RC_OPCODE_CLOSE, NULL, payload, sizeof payload, FORM_SHORTEST);
	rc_frame_cfg cfg = cfg_of(RC_FRAME_CLIENT, 0);
	rc_frame_parser p;
	rc_frame_parser_init(&p, &cfg);
	uint8_t store[RC_FRAME_CONTROL_MAX];
	p.ctl = store;
	rc_frame_event ev;
	cr_assert_eq(rc_frame_parse(&p, in.p, 4, &ev), 4);
	cr_assert_eq(ev.type, RC_FRAME_NEED_MORE);
	cr_assert_eq(rc_frame_parse(&p, in.p + 4, in.len - 4, &ev), (ssize_t)(in.len - 4));
	cr_assert_eq(ev.type, RC_FRAME_CONTROL);
	cr_assert(ev.data == store && ev.close_code == 1000 && ev.close_reason_len == 3);
	cr_assert(memcmp(ev.close_reason, "bye", 3) == 0);
	free(in.p);
}
