/* Fuzz target for rc_app, the application protocol codec.
 *
 * Every input goes to every decoder (query, Authorization value, command, publish, notice), each
 * from an allocation of exactly its length so ASan catches a read past the end. Checked:
 *   - no crash, no sanitizer report; errors come with a reason and are codes the decoder may return
 *   - every slice a decoder returns lies within its input (or within the caller's storage)
 *   - round trip of what a decoder accepts: re-encoded by the matching encoder and parsed again,
 *     it gives the same result (commands, publishes, notices, connect parameters)
 *   - round trip of what an encoder writes: valid fields derived from the input bytes, encoded,
 *     then parsed, give the same fields back
 * Seeds (tests/fuzz/seeds/app/) are the unit tests' vectors. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_app.h"
#include "rc_utf8.h"

#define CHECK(x) \
	do { \
		if (!(x)) { \
			fprintf(stderr, "fuzz_app: check failed: %s (%s:%d)\n", #x, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool within(rc_app_slice s, const uint8_t *base, size_t n)
{
	return s.len == 0 || (s.ptr >= base && s.len <= n && (size_t)(s.ptr - base) <= n - s.len);
}

static bool same(rc_app_slice a, rc_app_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool token_ok(rc_app_slice t)
{
	if (t.len == 0 || t.len > RC_APP_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if (t.ptr[i] < 0x21 || t.ptr[i] > 0x7e)
			return false;
	return true;
}

/* Worst case of rc_app_target_encode: "/ws?topics=" 64 topics, publish, token fully escaped. */
#define TARGET_MAX \
	(64 + RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 1) + RC_APP_TOPIC_MAX + 3 * RC_APP_TOKEN_MAX)

/* Encode c as a target, parse its query back, compare. */
static void connect_round_trip(const rc_app_connect *c)
{
	static uint8_t target[TARGET_MAX];
	size_t n = rc_app_target_encode(target, sizeof target, c);
	CHECK(n >= 3 && memcmp(target, "/ws", 3) == 0);
	size_t qn = n > 3 ? n - 4 : 0;
	CHECK(n == 3 || target[3] == '?');
	uint8_t *q = malloc(qn ? qn : 1);
	CHECK(q);
	memcpy(q, target + (n > 3 ? 4 : 3), qn);
	rc_app_slice topics[RC_APP_TOPICS_MAX];
	uint8_t *store = malloc(qn ? qn : 1);
	CHECK(store);
	rc_app_connect back;
	rc_app_connect_init(&back, topics, RC_APP_TOPICS_MAX, store, qn);
	CHECK(rc_app_query_parse(&back, q, qn) == RC_APP_QUERY_OK);
	CHECK(back.topics_len == c->topics_len);
	for (size_t i = 0; i < c->topics_len; i++)
		CHECK(same(back.topics[i], c->topics[i]));
	CHECK(same(back.publish, c->publish));
	CHECK(same(back.token, c->token));
	CHECK(back.snapshot == c->snapshot && back.interval_ms == c->interval_ms);
	free(store);
	free(q);
}

static void fuzz_query(const uint8_t *d, size_t n)
{
	rc_app_slice topics[RC_APP_TOPICS_MAX];
	uint8_t *store = malloc(n + 1);
	CHECK(store);
	rc_app_connect c;
	rc_app_connect_init(&c, topics, RC_APP_TOPICS_MAX, store, n);
	enum rc_app_query_error e = rc_app_query_parse(&c, d, n);
	CHECK(e <= RC_APP_QUERY_BAD_INTERVAL);
	CHECK(e != RC_APP_QUERY_TOO_LONG); /* a store as long as the query always suffices */
	CHECK(e != RC_APP_QUERY_TOKEN_CONFLICT && e != RC_APP_QUERY_PUBLISH_V1);
	CHECK(c.store_len <= n && c.topics_len <= RC_APP_TOPICS_MAX);
	CHECK(within(c.publish, store, c.store_len));
	CHECK(within(c.token, store, c.store_len));
	for (size_t i = 0; i < c.topics_len; i++)
		CHECK(within(c.topics[i], store, c.store_len));
	if (e == RC_APP_QUERY_OK) {
		for (size_t i = 0; i < c.topics_len; i++)
			CHECK(rc_app_topic_valid(c.topics[i].ptr, c.topics[i].len));
		CHECK(c.publish.len == 0 || rc_app_topic_valid(c.publish.ptr, c.publish.len));
		CHECK(c.token.len == 0 || token_ok(c.token));
		CHECK(rc_app_connect_check(&c, true) ==
		      (c.publish.len ? RC_APP_QUERY_PUBLISH_V1 : RC_APP_QUERY_OK));
		connect_round_trip(&c);
		/* The same bytes as an Authorization value, merged into the parsed query. */
		rc_app_slice had = c.token;
		e = rc_app_connect_authorization(&c, d, n);
		CHECK(e == RC_APP_QUERY_OK || e == RC_APP_QUERY_BAD_TOKEN ||
		      e == RC_APP_QUERY_TOKEN_CONFLICT);
		if (e == RC_APP_QUERY_OK && had.len)
			CHECK(same(c.token, had));
	}
	rc_app_slice t;
	e = rc_app_bearer_parse(d, n, &t);
	CHECK(e == RC_APP_QUERY_OK || e == RC_APP_QUERY_BAD_TOKEN);
	CHECK(within(t, d, n));
	CHECK(t.len == 0 || (e == RC_APP_QUERY_OK && token_ok(t)));
	free(store);
}

static void fuzz_cmd(const uint8_t *d, size_t n)
{
	rc_app_cmd c;
	enum rc_app_error e = rc_app_cmd_parse(d, n, &c);
	if (e != RC_APP_OK) {
		CHECK(e == RC_APP_ERR_BAD_JSON || e == RC_APP_ERR_BAD_COMMAND ||
		      e == RC_APP_ERR_BAD_TOPIC || e == RC_APP_ERR_TOO_MANY_TOPICS);
		CHECK(c.reason != NULL);
		return;
	}
	CHECK(within(c.id, d, n) && c.id.len <= RC_APP_ID_RAW_MAX);
	if (c.op == RC_APP_OP_AUTH) { /* a token, written back and read back the same */
		CHECK(c.topics_len == 0 && within(c.token, d, n));
		CHECK(c.token.len >= 1 && c.token.len <= RC_APP_TOKEN_MAX);
		for (size_t i = 0; i < c.token.len; i++)
			CHECK(c.token.ptr[i] >= 0x21 && c.token.ptr[i] <= 0x7e && c.token.ptr[i] != '\\');
		static uint8_t tw[RC_APP_CMD_FULL_MAX];
		size_t m = rc_app_cmd_write(tw, sizeof tw, &c);
		CHECK(m > 0 || memchr(c.token.ptr, '"', c.token.len) != NULL);
		static rc_app_cmd c3;
		CHECK(m == 0 || (rc_app_cmd_parse(tw, m, &c3) == RC_APP_OK && same(c3.token, c.token) &&
		                 same(c3.id, c.id)));
		return;
	}
	CHECK(c.op == RC_APP_OP_SUBSCRIBE || c.op == RC_APP_OP_UNSUBSCRIBE);
	CHECK(c.topics_len >= 1 && c.topics_len <= RC_APP_TOPICS_MAX);
	if (c.id.len > 0) { /* echoed in a notice, it reads back the same */
		static uint8_t note[RC_APP_NOTICE_MAX + RC_APP_ID_NOTICE_EXTRA];
		size_t k = rc_app_notice_subscribed(note, sizeof note, c.topics, c.topics_len);
		k = rc_app_notice_add_id(note, k, sizeof note, c.id);
		CHECK(k > 0);
		static rc_app_notice nt;
		CHECK(rc_app_notice_parse(note, k, &nt) == RC_APP_OK);
		CHECK(same(nt.id, c.id));
	}
	for (size_t i = 0; i < c.topics_len; i++) {
		CHECK(within(c.topics[i], d, n));
		CHECK(rc_app_topic_valid(c.topics[i].ptr, c.topics[i].len));
	}
	CHECK(c.resume_from <= c.topics_len);
	CHECK(c.op == RC_APP_OP_SUBSCRIBE ||
	      (c.resume_from == c.topics_len && !c.snapshot && c.interval_ms == 0));
	CHECK(c.interval_ms <= RC_APP_INTERVAL_MAX_MS);
	/* Every field written back reads back the same. */
	static uint8_t out[RC_APP_CMD_FULL_MAX];
	size_t m = rc_app_cmd_write(out, sizeof out, &c);
	CHECK(m > 0);
	uint8_t *again = malloc(m);
	CHECK(again);
	memcpy(again, out, m);
	static rc_app_cmd c2;
	CHECK(rc_app_cmd_parse(again, m, &c2) == RC_APP_OK);
	CHECK(c2.op == c.op && c2.topics_len == c.topics_len && c2.resume_from == c.resume_from);
	CHECK(c2.snapshot == c.snapshot && c2.interval_ms == c.interval_ms && same(c2.id, c.id));
	for (size_t i = 0; i < c.topics_len; i++) {
		CHECK(same(c2.topics[i], c.topics[i]));
		if (i >= c.resume_from)
			CHECK(c2.resume[i].epoch == c.resume[i].epoch && c2.resume[i].seq == c.resume[i].seq);
	}
	free(again);
	/* A subscribed notice with positions (the resume's, or zeros) reads back the same. */
	static rc_app_pos pos[RC_APP_TOPICS_MAX];
	for (size_t i = 0; i < c.topics_len; i++)
		pos[i] = i >= c.resume_from ? c.resume[i] : (rc_app_pos){ 0, 0 };
	static uint8_t note[RC_APP_NOTICE_MAX];
	size_t k = rc_app_notice_subscribed_at(note, sizeof note, c.topics, pos, c.topics_len);
	CHECK(k > 0);
	static rc_app_notice nt;
	CHECK(rc_app_notice_parse(note, k, &nt) == RC_APP_OK);
	CHECK(nt.positions_len == c.topics_len);
	for (size_t i = 0; i < c.topics_len; i++)
		CHECK(nt.positions[i].epoch == pos[i].epoch && nt.positions[i].seq == pos[i].seq);
}

/* The header alone, from a copy of only the bytes rc_app_pub_parse_head may read (min(n, header
 * max): ASan flags a read past them), as a large message's first piece: the same verdict and
 * fields as the whole parse e / *pb, except that the payload's UTF-8 is not its to check. */
static void fuzz_pub_head(const uint8_t *p, size_t n, enum rc_app_error e, const rc_app_pub *pb)
{
	size_t have = n < RC_APP_PUB_HEADER_MAX ? n : RC_APP_PUB_HEADER_MAX;
	uint8_t *h = malloc(have ? have : 1);
	CHECK(h);
	memcpy(h, p, have);
	rc_app_pub ph;
	enum rc_app_error eh = rc_app_pub_parse_head(h, have, n, &ph);
	if (e == RC_APP_OK) {
		CHECK(eh == RC_APP_OK && ph.flags == pb->flags && ph.seq == pb->seq &&
		      ph.topic.len == pb->topic.len && ph.payload.len == pb->payload.len &&
		      memcmp(ph.topic.ptr, pb->topic.ptr, ph.topic.len) == 0);
		CHECK(ph.payload.ptr == h + (pb->payload.ptr - p));
	} else {
		/* Only a text payload that is not UTF-8 passes the header check. */
		CHECK(eh == e ||
		      (eh == RC_APP_OK && (ph.flags & RC_APP_FLAG_TEXT) && e == RC_APP_ERR_BAD_PUBLISH));
	}
	free(h);
}

/* Parse p[0..n) as a PUBLISH; if valid, rebuild it from the parsed fields and compare. */
static void fuzz_pub(const uint8_t *d, size_t n)
{
	uint8_t *p = malloc(n ? n : 1); /* exact size: ASan flags a read past the end */
	CHECK(p);
	memcpy(p, d, n);
	rc_app_pub pb;
	enum rc_app_error e = rc_app_pub_parse(p, n, &pb);
	fuzz_pub_head(p, n, e, &pb);
	if (e != RC_APP_OK) {
		CHECK(e == RC_APP_ERR_UNKNOWN_KIND || e == RC_APP_ERR_BAD_PUBLISH ||
		      e == RC_APP_ERR_BAD_TOPIC);
		CHECK(pb.reason != NULL);
		free(p);
		return;
	}
	CHECK(within(pb.topic, p, n) && within(pb.payload, p, n));
	CHECK(pb.seq_slot == p + 3 + pb.topic.len && pb.seq_slot + 8 == pb.payload.ptr);
	CHECK(pb.payload.ptr + pb.payload.len == p + n);
	CHECK(pb.flags <= (RC_APP_FLAG_TEXT | RC_APP_FLAG_RETAINED));
	uint8_t *q = malloc(n); /* n >= 12 here */
	CHECK(q);
	size_t h = rc_app_pub_encode_header(q, pb.flags, pb.topic.ptr, pb.topic.len, pb.seq);
	CHECK(h == rc_app_pub_header_len(pb.topic.len) && h + pb.payload.len == n);
	if (pb.payload.len)
		memcpy(q + h, pb.payload.ptr, pb.payload.len);
	CHECK(memcmp(q, p, n) == 0); /* the layout has one encoding only */
	rc_app_pub pb2;
	CHECK(rc_app_pub_parse(q, n, &pb2) == RC_APP_OK);
	CHECK(pb2.flags == pb.flags && pb2.seq == pb.seq && same(pb2.topic, pb.topic) &&
	      same(pb2.payload, pb.payload));
	/* The server's in-place sequence write changes those 8 bytes and nothing else. */
	uint64_t seq = pb.seq ^ 0x8000000000000001ull;
	rc_app_seq_write(pb2.seq_slot, seq);
	CHECK(rc_app_seq_read(pb2.seq_slot) == seq);
	CHECK(memcmp(q, p, h - 8) == 0 && memcmp(q + h, p + h, n - h) == 0);
	free(q);
	free(p);
}

static bool notice_same(const rc_app_notice *a, const rc_app_notice *b)
{
	if (a->type != b->type || a->topics_len != b->topics_len)
		return false;
	for (size_t i = 0; i < a->topics_len; i++)
		if (!same(a->topics[i], b->topics[i]))
			return false;
	if (!same(a->id, b->id))
		return false;
	if (a->type == RC_APP_NOTICE_MISSED)
		return a->count == b->count;
	if (a->type == RC_APP_NOTICE_ERROR)
		return a->code == b->code; /* messages are compared unescaped by the caller */
	if (a->type == RC_APP_NOTICE_RESET)
		return a->reset == b->reset && a->epoch == b->epoch && a->first == b->first &&
		       a->snapshot == b->snapshot;
	if (a->type == RC_APP_NOTICE_AUTHORIZED)
		return a->has_exp == b->has_exp && a->exp == b->exp;
	if (a->positions_len != b->positions_len)
		return false;
	for (size_t i = 0; i < a->positions_len; i++)
		if (a->positions[i].epoch != b->positions[i].epoch ||
		    a->positions[i].seq != b->positions[i].seq)
			return false;
	return true;
}

static void notice_check(const rc_app_notice *nt, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < nt->topics_len; i++) {
		CHECK(within(nt->topics[i], d, n));
		CHECK(rc_app_topic_valid(nt->topics[i].ptr, nt->topics[i].len));
	}
	CHECK(within(nt->message, d, n));
	CHECK(within(nt->id, d, n) && nt->id.len <= RC_APP_ID_RAW_MAX);
	CHECK(nt->id.len == 0 || (nt->type != RC_APP_NOTICE_MISSED && nt->type != RC_APP_NOTICE_RESET));
	CHECK(nt->positions_len == 0 ||
	      (nt->type == RC_APP_NOTICE_SUBSCRIBED && nt->positions_len == nt->topics_len));
	switch (nt->type) {
	case RC_APP_NOTICE_SUBSCRIBED:
	case RC_APP_NOTICE_UNSUBSCRIBED:
		CHECK(nt->topics_len >= 1 && nt->topics_len <= RC_APP_TOPICS_MAX);
		break;
	case RC_APP_NOTICE_RESET:
		CHECK(nt->topics_len == 1 && nt->first >= 1);
		CHECK(nt->reset == RC_APP_RESET_EPOCH || nt->reset == RC_APP_RESET_HISTORY);
		break;
	case RC_APP_NOTICE_MISSED:
		CHECK(nt->topics_len == 1 && nt->count >= 1);
		break;
	case RC_APP_NOTICE_ERROR:
		CHECK(nt->code > RC_APP_OK && nt->code < RC_APP_ERR_COUNT);
		CHECK(nt->message.len <= 6 * RC_APP_MESSAGE_MAX);
		break;
	case RC_APP_NOTICE_AUTHORIZED:
		CHECK(nt->topics_len == 0 && (nt->has_exp || nt->exp == 0));
		break;
	default:
		CHECK(!"notice type");
	}
}

/* Encode a notice of nt's type from nt's fields (the message given unescaped). */
static size_t notice_encode(uint8_t *out, size_t cap, const rc_app_notice *nt, const char *msg,
                            size_t msg_len)
{
	switch (nt->type) {
	case RC_APP_NOTICE_SUBSCRIBED:
		if (nt->positions_len > 0)
			return rc_app_notice_subscribed_at(out, cap, nt->topics, nt->positions, nt->topics_len);
		return rc_app_notice_subscribed(out, cap, nt->topics, nt->topics_len);
	case RC_APP_NOTICE_RESET:
		return rc_app_notice_reset(out, cap, nt->topics[0].ptr, nt->topics[0].len, nt->reset,
		                           nt->epoch, nt->first, nt->snapshot);
	case RC_APP_NOTICE_UNSUBSCRIBED:
		return rc_app_notice_unsubscribed(out, cap, nt->topics, nt->topics_len);
	case RC_APP_NOTICE_MISSED:
		return rc_app_notice_missed(out, cap, nt->topics[0].ptr, nt->topics[0].len, nt->count);
	case RC_APP_NOTICE_ERROR:
		return rc_app_notice_error(out, cap, nt->code, msg, msg_len);
	case RC_APP_NOTICE_AUTHORIZED:
		return rc_app_notice_authorized(out, cap, nt->has_exp, nt->exp);
	}
	return 0;
}

/* Encode, parse back (from an exact-size copy) and compare with nt. */
static void notice_round_trip(const rc_app_notice *nt, const char *msg, size_t msg_len)
{
	static uint8_t out[RC_APP_NOTICE_MAX + RC_APP_ID_NOTICE_EXTRA];
	size_t m = notice_encode(out, sizeof out, nt, msg, msg_len);
	CHECK(m > 0);
	m = rc_app_notice_add_id(out, m, sizeof out, nt->id);
	CHECK(m > 0);
	CHECK(rc_utf8_valid(out, m));
	uint8_t *again = malloc(m);
	CHECK(again);
	memcpy(again, out, m);
	static rc_app_notice nt2;
	CHECK(rc_app_notice_parse(again, m, &nt2) == RC_APP_OK);
	notice_check(&nt2, again, m);
	CHECK(notice_same(nt, &nt2));
	if (nt->type == RC_APP_NOTICE_ERROR) {
		static char back[6 * RC_APP_MESSAGE_MAX];
		size_t bn = rc_app_notice_message(&nt2, back, sizeof back);
		CHECK(rc_utf8_valid((const uint8_t *)back, bn));
		if (msg_len <= RC_APP_MESSAGE_MAX && rc_utf8_valid((const uint8_t *)msg, msg_len))
			CHECK(bn == msg_len && (bn == 0 || memcmp(back, msg, bn) == 0));
		else
			CHECK(bn <= 3 * RC_APP_MESSAGE_MAX); /* cut, invalid bytes became U+FFFD */
	}
	free(again);
}

static void fuzz_notice(const uint8_t *d, size_t n)
{
	static rc_app_notice nt;
	enum rc_app_error e = rc_app_notice_parse(d, n, &nt);
	if (e != RC_APP_OK) {
		CHECK(e == RC_APP_ERR_BAD_JSON || e == RC_APP_ERR_BAD_COMMAND ||
		      e == RC_APP_ERR_BAD_TOPIC || e == RC_APP_ERR_TOO_MANY_TOPICS);
		CHECK(nt.reason != NULL);
		return;
	}
	notice_check(&nt, d, n);
	static char msg[6 * RC_APP_MESSAGE_MAX];
	size_t msg_len = 0;
	if (nt.type == RC_APP_NOTICE_ERROR) {
		msg_len = rc_app_notice_message(&nt, msg, sizeof msg);
		CHECK(msg_len <= nt.message.len);
	}
	notice_round_trip(&nt, msg, msg_len);
}

/* ---- Fields derived from the input, encoded, parsed back ----------------------------------- */

typedef struct src {
	const uint8_t *p;
	size_t n;
} src;

static uint8_t next(src *s)
{
	if (s->n == 0)
		return 0;
	s->n--;
	return *s->p++;
}

static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/@";

/* A valid topic into buf (RC_APP_TOPIC_MAX bytes). */
static rc_app_slice make_topic(src *s, uint8_t *buf)
{
	size_t len = 1 + next(s) % RC_APP_TOPIC_MAX;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)alphabet[next(s) % (sizeof alphabet - 1)];
	return (rc_app_slice){ .ptr = buf, .len = len };
}

static void fuzz_encoders(const uint8_t *d, size_t n)
{
	src s = { d, n };
	static uint8_t topic_buf[RC_APP_TOPICS_MAX][RC_APP_TOPIC_MAX];
	rc_app_slice topics[RC_APP_TOPICS_MAX];
	size_t nt = 1 + next(&s) % RC_APP_TOPICS_MAX;
	for (size_t i = 0; i < nt; i++)
		topics[i] = make_topic(&s, topic_buf[i]);

	/* Command. */
	enum rc_app_op op = next(&s) & 1 ? RC_APP_OP_UNSUBSCRIBE : RC_APP_OP_SUBSCRIBE;
	static uint8_t out[RC_APP_NOTICE_MAX];
	size_t m = rc_app_cmd_encode(out, sizeof out, op, topics, nt);
	CHECK(m > 0 && m <= RC_APP_CMD_MAX);
	rc_app_cmd c;
	CHECK(rc_app_cmd_parse(out, m, &c) == RC_APP_OK);
	CHECK(c.op == op && c.topics_len == nt);
	for (size_t i = 0; i < nt; i++)
		CHECK(same(c.topics[i], topics[i]));

	/* Notices. */
	static rc_app_notice want;
	want.type = next(&s) & 1 ? RC_APP_NOTICE_SUBSCRIBED : RC_APP_NOTICE_UNSUBSCRIBED;
	want.topics_len = nt;
	memcpy(want.topics, topics, nt * sizeof topics[0]);
	notice_round_trip(&want, NULL, 0);
	want.type = RC_APP_NOTICE_MISSED;
	want.topics_len = 1;
	want.count = 0;
	for (int i = 0; i < 8; i++)
		want.count = want.count << 8 | next(&s);
	if (want.count == 0)
		want.count = 1;
	notice_round_trip(&want, NULL, 0);
	want.type = RC_APP_NOTICE_ERROR;
	want.topics_len = 0;
	want.code = (enum rc_app_error)(1 + next(&s) % (RC_APP_ERR_COUNT - 1));
	size_t msg_len = next(&s);
	if (msg_len > s.n)
		msg_len = s.n;
	notice_round_trip(&want, (const char *)s.p, msg_len); /* any bytes: escaped or U+FFFD */

	/* Publish: the rest of the input is the payload (text only if it is UTF-8). */
	uint8_t flags = next(&s) & 1;
	uint64_t seq = 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | next(&s);
	if (flags && !rc_utf8_valid(s.p, s.n))
		flags = 0;
	size_t h = rc_app_pub_header_len(topics[0].len);
	uint8_t *f = malloc(h + s.n);
	CHECK(f);
	CHECK(rc_app_pub_encode_header(f, flags, topics[0].ptr, topics[0].len, seq) == h);
	if (s.n)
		memcpy(f + h, s.p, s.n);
	rc_app_pub pb;
	CHECK(rc_app_pub_parse(f, h + s.n, &pb) == RC_APP_OK);
	CHECK(pb.flags == flags && pb.seq == seq && same(pb.topic, topics[0]));
	CHECK(pb.payload.len == s.n && (s.n == 0 || memcmp(pb.payload.ptr, s.p, s.n) == 0));
	free(f);

	/* Connect parameters: the topics, maybe a publish topic, maybe a token from the input. */
	uint8_t tok[RC_APP_TOKEN_MAX];
	size_t tl = 0;
	while (tl < sizeof tok && s.n)
		tok[tl++] = (uint8_t)(0x21 + next(&s) % 94);
	rc_app_connect cn = { .topics = topics, .topics_len = nt % 2 ? nt : 0, .topics_cap = nt };
	if (nt % 3 == 0)
		cn.publish = topics[nt - 1];
	if (tl)
		cn.token = (rc_app_slice){ .ptr = tok, .len = tl };
	connect_round_trip(&cn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer passes an exact-size copy already; this one is ours to hand out as mutable. */
	uint8_t *d = malloc(size ? size : 1);
	CHECK(d);
	memcpy(d, data, size);
	fuzz_query(d, size);
	fuzz_cmd(d, size);
	fuzz_pub(d, size);
	fuzz_notice(d, size);
	fuzz_encoders(d, size);
	free(d);
	return 0;
}
