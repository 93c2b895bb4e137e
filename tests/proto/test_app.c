/* Tests of rc_app, ringcast's application protocol codec.
 *
 * Every parser input goes through rc_guard_copy, so reading one byte past it faults. The parsers
 * are whole-message parsers, not incremental ones: instead of every split point, every PREFIX of a
 * valid input is parsed too, and must give a clean error (or, where the prefix is itself a valid
 * message, the right result), never a read past its end.
 *
 * The topic alphabet and the byte example of docs/protocol.md are written out again here,
 * independently of rc_app.c. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_app.h"
#include "rc_test.h"
#include "rc_utf8.h"

/* ---- Helpers ------------------------------------------------------------------------------- */

#define GUARDS_MAX 64
static rc_guard guards[GUARDS_MAX];
static size_t guards_len;

/* A guarded copy of p[0..n) that lives until the end of the test. */
static uint8_t *guarded(const void *p, size_t n)
{
	cr_assert_lt(guards_len, GUARDS_MAX);
	guards[guards_len] = rc_guard_copy(p, n);
	return guards[guards_len++].data;
}

static uint8_t *guarded_str(const char *s)
{
	return guarded(s, strlen(s));
}

static void free_guards(void)
{
	while (guards_len)
		rc_guard_free(&guards[--guards_len]);
}

TestSuite(app, .fini = free_guards);

static bool slice_is(rc_app_slice s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

static bool within(rc_app_slice s, const uint8_t *base, size_t n)
{
	return s.len == 0 || (s.ptr >= base && s.len <= n && s.ptr - base <= (ptrdiff_t)(n - s.len));
}

static rc_app_slice sl(const char *z)
{
	return (rc_app_slice){ .ptr = (const uint8_t *)z, .len = strlen(z) };
}

/* n copies of byte b, NUL-terminated, in a static buffer (one per slot). */
static const char *repeat(int slot, char b, size_t n)
{
	static char buf[4][RC_APP_TOKEN_MAX + 64];
	cr_assert_lt(n, sizeof buf[0]);
	memset(buf[slot], b, n);
	buf[slot][n] = 0;
	return buf[slot];
}

/* ---- Topic names --------------------------------------------------------------------------- */

static bool spec_topic_char(int b)
{
	return b > 0 && strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/@",
	                       b) != NULL;
}

Test(app, topic_alphabet_every_byte)
{
	size_t n_valid = 0;
	for (int b = 0; b < 256; b++) {
		uint8_t one[3] = { 'a', (uint8_t)b, 'z' };
		cr_assert_eq(rc_app_topic_valid(guarded(one + 1, 1), 1), spec_topic_char(b), "0x%02x", b);
		cr_assert_eq(rc_app_topic_valid(guarded(one, 3), 3), spec_topic_char(b), "0x%02x in", b);
		n_valid += spec_topic_char(b);
		free_guards();
	}
	cr_assert_eq(n_valid, 26 + 26 + 10 + 6);
}

Test(app, topic_table)
{
	static const struct {
		const char *t;
		bool ok;
	} v[] = {
		{ "a", true },         { "BTC-USD", true }, { "x.y_z-w:v/u@t", true },
		{ "0", true },         { "/", true },       { "trades/BTC-USD@binance", true },
		{ "", false },         { "a b", false },    { "a,b", false },
		{ "a\"b", false },     { "a\\b", false },   { "a%2Cb", false },
		{ "a+b", false },      { "a#", false },     { "a?b", false },
		{ "a=b", false },      { "a&b", false },    { "a~", false },
		{ "\xc3\xa9", false }, { "a\tb", false },   { "a*", false },
		{ "a'b", false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint8_t *g = guarded_str(v[i].t);
		cr_assert_eq(rc_app_topic_valid(g, strlen(v[i].t)), v[i].ok, "\"%s\"", v[i].t);
	}
	cr_assert(rc_app_topic_valid(guarded_str(repeat(0, 'a', 128)), 128));
	cr_assert_not(rc_app_topic_valid(guarded_str(repeat(0, 'a', 129)), 129));
	cr_assert_not(rc_app_topic_valid(NULL, 0));
	/* Case-sensitive: two different, both valid. */
	cr_assert(rc_app_topic_valid((const uint8_t *)"Btc", 3));
}

/* ---- Error codes --------------------------------------------------------------------------- */

Test(app, error_names_and_close_codes)
{
	static const struct {
		enum rc_app_error e;
		const char *name;
		uint16_t close;
	} v[] = {
		{ RC_APP_OK, "ok", 0 },
		{ RC_APP_ERR_BAD_JSON, "bad_json", 0 },
		{ RC_APP_ERR_BAD_COMMAND, "bad_command", 0 },
		{ RC_APP_ERR_BAD_TOPIC, "bad_topic", 0 },
		{ RC_APP_ERR_TOO_MANY_TOPICS, "too_many_topics", 0 },
		{ RC_APP_ERR_UNKNOWN_KIND, "unknown_kind", 0 },
		{ RC_APP_ERR_BAD_PUBLISH, "bad_publish", 0 },
		{ RC_APP_ERR_UNAUTHORIZED, "unauthorized", RC_CLOSE_UNAUTHORIZED },
		{ RC_APP_ERR_NOT_SUBSCRIBED, "not_subscribed", 0 },
		{ RC_APP_ERR_BUSY, "busy", 0 },
		{ RC_APP_ERR_FORBIDDEN, "forbidden", 0 },
	};
	cr_assert_eq(sizeof v / sizeof v[0], RC_APP_ERR_COUNT);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		cr_assert_str_eq(rc_app_error_name(v[i].e), v[i].name);
		cr_assert_eq(rc_app_error_close(v[i].e), v[i].close, "%s", v[i].name);
	}
	cr_assert_null(rc_app_error_name((enum rc_app_error)RC_APP_ERR_COUNT));
	cr_assert_eq(rc_app_error_close((enum rc_app_error)99), 0);
	cr_assert_eq(RC_CLOSE_BAD_COMMAND, 4002);
	cr_assert_eq(RC_CLOSE_UNAUTHORIZED, 4001);
}

/* ---- Connect parameters -------------------------------------------------------------------- */

typedef struct qres {
	rc_app_connect c;
	rc_app_slice topics[RC_APP_TOPICS_MAX + 8];
	uint8_t store[8192];
} qres;

static enum rc_app_query_error qparse_cap(qres *r, const char *q, size_t topics_cap)
{
	cr_assert_leq(topics_cap, RC_APP_TOPICS_MAX + 8);
	rc_app_connect_init(&r->c, r->topics, topics_cap, r->store, sizeof r->store);
	size_t n = strlen(q);
	uint8_t *g = guarded(q, n);
	enum rc_app_query_error e = rc_app_query_parse(&r->c, g, n);
	cr_assert_leq(r->c.store_len, r->c.store_cap);
	cr_assert(within(r->c.publish, r->store, r->c.store_len));
	cr_assert(within(r->c.token, r->store, r->c.store_len));
	for (size_t i = 0; i < r->c.topics_len; i++)
		cr_assert(within(r->c.topics[i], r->store, r->c.store_len));
	return e;
}

static enum rc_app_query_error qparse(qres *r, const char *q)
{
	return qparse_cap(r, q, RC_APP_TOPICS_MAX);
}

Test(app, query_basic)
{
	qres r;
	cr_assert_eq(qparse(&r, "topics=a,b&publish=T&token=abc"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 2);
	cr_assert(slice_is(r.c.topics[0], "a"));
	cr_assert(slice_is(r.c.topics[1], "b"));
	cr_assert(slice_is(r.c.publish, "T"));
	cr_assert(slice_is(r.c.token, "abc"));

	cr_assert_eq(qparse(&r, ""), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 0);
	cr_assert_eq(r.c.publish.len, 0);
	cr_assert_eq(r.c.token.len, 0);

	cr_assert_eq(qparse(&r, "topics=BTC-USD"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 1);
	cr_assert(slice_is(r.c.topics[0], "BTC-USD"));
}

Test(app, query_percent_decoding)
{
	qres r;
	cr_assert_eq(qparse(&r, "topics=%41%62,a%2fb,x%2Fy&publish=%40x"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 3);
	cr_assert(slice_is(r.c.topics[0], "Ab"));
	cr_assert(slice_is(r.c.topics[1], "a/b"));
	cr_assert(slice_is(r.c.topics[2], "x/y"));
	cr_assert(slice_is(r.c.publish, "@x"));
	/* Keys are decoded too. */
	cr_assert_eq(qparse(&r, "%74opics=a&p%75blish=b"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 1);
	cr_assert(slice_is(r.c.publish, "b"));
	/* '+' is a plus, not a space. */
	cr_assert_eq(qparse(&r, "token=a+b%2Bc%3D%3d"), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "a+b+c=="));
	/* Splitting happens on the commas as sent: an escaped comma stays in its topic, invalid. */
	cr_assert_eq(qparse(&r, "topics=a%2Cb"), RC_APP_QUERY_BAD_TOPIC);
	cr_assert_eq(qparse(&r, "topics=a%2cb"), RC_APP_QUERY_BAD_TOPIC);
	/* Decoded bytes outside the alphabet. */
	cr_assert_eq(qparse(&r, "topics=a%20b"), RC_APP_QUERY_BAD_TOPIC);
	cr_assert_eq(qparse(&r, "topics=a%00"), RC_APP_QUERY_BAD_TOPIC);
	cr_assert_eq(qparse(&r, "topics=%25"), RC_APP_QUERY_BAD_TOPIC);
	cr_assert_eq(qparse(&r, "topics=%C3%A9"), RC_APP_QUERY_BAD_TOPIC);
	cr_assert_eq(qparse(&r, "publish=a%2Cb"), RC_APP_QUERY_BAD_PUBLISH);
	/* What URLSearchParams writes (docs/protocol.md §3): append works, a comma list does not. */
	cr_assert_eq(qparse(&r, "topics=BTC-USD&topics=trades%2FETH-USD%40x&token=a%2Bb%2Fc%3D%3D"),
	             RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 2);
	cr_assert(slice_is(r.c.topics[0], "BTC-USD"));
	cr_assert(slice_is(r.c.topics[1], "trades/ETH-USD@x"));
	cr_assert(slice_is(r.c.token, "a+b/c=="));
	cr_assert_eq(qparse(&r, "topics=a%2Cb"), RC_APP_QUERY_BAD_TOPIC);
}

Test(app, query_bad_escapes_and_bytes)
{
	qres r;
	static const char *const escapes[] = {
		"topics=a%", "topics=a%4", "topics=%zz",    "topics=%4g", "x=%G1",
		"_=%",       "%=1",        "topics=a&_=1%", "token=%%41",
	};
	for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++)
		cr_assert_eq(qparse(&r, escapes[i]), RC_APP_QUERY_BAD_ESCAPE, "%s", escapes[i]);
	static const char *const malformed[] = {
		"topics=a b", "topics=a#b", "topics=a\x7f", "topics=\xc3\xa9", "topics=a\tb", "_=\x01", " ",
	};
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
		cr_assert_eq(qparse(&r, malformed[i]), RC_APP_QUERY_MALFORMED, "%s", malformed[i]);
}

Test(app, query_empty_topics)
{
	qres r;
	static const char *const v[] = {
		"topics=",   "topics",   "topics=a,,b",      "topics=,a",
		"topics=a,", "topics=,", "topics=a&topics=",
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_assert_eq(qparse(&r, v[i]), RC_APP_QUERY_BAD_TOPIC, "%s", v[i]);
	cr_assert_eq(qparse(&r, "publish="), RC_APP_QUERY_BAD_PUBLISH);
	cr_assert_eq(qparse(&r, "publish"), RC_APP_QUERY_BAD_PUBLISH);
	cr_assert_eq(qparse(&r, "token="), RC_APP_QUERY_BAD_TOKEN);
	cr_assert_eq(qparse(&r, "token"), RC_APP_QUERY_BAD_TOKEN);
}

Test(app, query_repeats_and_limits)
{
	qres r;
	cr_assert_eq(qparse(&r, "topics=a&topics=b,c&topics=a"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 4);
	cr_assert(slice_is(r.c.topics[0], "a"));
	cr_assert(slice_is(r.c.topics[1], "b"));
	cr_assert(slice_is(r.c.topics[2], "c"));
	cr_assert(slice_is(r.c.topics[3], "a")); /* duplicates are kept */

	cr_assert_eq(qparse_cap(&r, "topics=a,b", 2), RC_APP_QUERY_OK);
	cr_assert_eq(qparse_cap(&r, "topics=a,b,c", 2), RC_APP_QUERY_TOO_MANY_TOPICS);
	cr_assert_eq(qparse_cap(&r, "topics=a&topics=b&topics=c", 2), RC_APP_QUERY_TOO_MANY_TOPICS);
	cr_assert_eq(qparse_cap(&r, "topics=a", 0), RC_APP_QUERY_TOO_MANY_TOPICS);

	/* 64 fit the server's array, 65 do not. */
	char q[1024] = "topics=t0";
	for (int i = 1; i < RC_APP_TOPICS_MAX; i++)
		sprintf(q + strlen(q), ",t%d", i);
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, RC_APP_TOPICS_MAX);
	cr_assert(slice_is(r.c.topics[63], "t63"));
	strcat(q, ",t64");
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_TOO_MANY_TOPICS);

	/* The longest topic, raw and fully escaped. */
	char big[600];
	sprintf(big, "topics=%s", repeat(0, 'a', 128));
	cr_assert_eq(qparse(&r, big), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics[0].len, 128);
	sprintf(big, "topics=%s", repeat(0, 'a', 129));
	cr_assert_eq(qparse(&r, big), RC_APP_QUERY_BAD_TOPIC);
	strcpy(big, "publish=");
	for (int i = 0; i < 128; i++)
		strcat(big, "%41");
	cr_assert_eq(qparse(&r, big), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.publish, repeat(0, 'A', 128)));

	cr_assert_eq(qparse(&r, "publish=a&publish=a"), RC_APP_QUERY_DUP_PUBLISH);
	cr_assert_eq(qparse(&r, "publish=a&publish=b"), RC_APP_QUERY_DUP_PUBLISH);
	cr_assert_eq(qparse(&r, "publish=a,b"), RC_APP_QUERY_BAD_PUBLISH);
	cr_assert_eq(qparse(&r, "token=a&token=a"), RC_APP_QUERY_DUP_TOKEN);
}

Test(app, query_unknown_keys_and_empty_pairs)
{
	qres r;
	cr_assert_eq(qparse(&r, "_=1712345&topics=a&foo&bar=baz=&=x&&"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 1);
	cr_assert(slice_is(r.c.topics[0], "a"));
	cr_assert_eq(qparse(&r, "&&topics=a&"), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 1);
	/* Keys are case-sensitive: these are unknown, hence ignored, whatever their values. */
	cr_assert_eq(qparse(&r, "Topics=a%2Cb&PUBLISH=&Token="), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 0);
	cr_assert_eq(r.c.publish.len, 0);
	/* A value holding '=' is all value. */
	cr_assert_eq(qparse(&r, "token=a=b"), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "a=b"));
	cr_assert_eq(qparse(&r, "topics=a=b"), RC_APP_QUERY_BAD_TOPIC);
}

Test(app, query_tokens)
{
	qres r;
	char q[RC_APP_TOKEN_MAX + 64];
	sprintf(q, "token=%s", repeat(0, 'k', RC_APP_TOKEN_MAX));
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.token.len, RC_APP_TOKEN_MAX);
	sprintf(q, "token=%s", repeat(0, 'k', RC_APP_TOKEN_MAX + 1));
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_BAD_TOKEN);
	cr_assert_eq(qparse(&r, "token=a%20b"), RC_APP_QUERY_BAD_TOKEN);
	cr_assert_eq(qparse(&r, "token=a%7Fb"), RC_APP_QUERY_BAD_TOKEN);
	cr_assert_eq(qparse(&r, "token=a%C3%A9"), RC_APP_QUERY_BAD_TOKEN);
	cr_assert_eq(qparse(&r, "token=%22%2C%5C"), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "\",\\"));
}

Test(app, query_store_too_small)
{
	rc_app_slice topics[4];
	uint8_t store[4];
	rc_app_connect c;
	const char *q = "topics=abcd,e";
	rc_app_connect_init(&c, topics, 4, store, sizeof store);
	cr_assert_eq(rc_app_query_parse(&c, guarded_str(q), strlen(q)), RC_APP_QUERY_TOO_LONG);
	/* A store as long as the query always suffices. */
	uint8_t exact[13];
	cr_assert_eq(strlen(q), sizeof exact);
	rc_app_connect_init(&c, topics, 4, exact, sizeof exact);
	cr_assert_eq(rc_app_query_parse(&c, guarded_str(q), strlen(q)), RC_APP_QUERY_OK);
	cr_assert_eq(c.topics_len, 2);
}

Test(app, query_every_prefix)
{
	const char *q = "topics=a%41,b&_=1&publish=T%2Fx&token=t%2Bk";
	size_t n = strlen(q);
	for (size_t k = 0; k <= n; k++) {
		rc_guard g = rc_guard_copy(q, k);
		rc_app_slice topics[RC_APP_TOPICS_MAX];
		uint8_t store[128];
		rc_app_connect c;
		rc_app_connect_init(&c, topics, RC_APP_TOPICS_MAX, store, sizeof store);
		enum rc_app_query_error e = rc_app_query_parse(&c, g.data, k);
		cr_assert_lt((unsigned)e, (unsigned)RC_APP_QUERY_TOO_LONG + 1, "prefix %zu", k);
		if (e == RC_APP_QUERY_OK) {
			for (size_t i = 0; i < c.topics_len; i++)
				cr_assert(rc_app_topic_valid(topics[i].ptr, topics[i].len));
		}
		rc_guard_free(&g);
	}
	qres r;
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.topics[0], "aA"));
	cr_assert(slice_is(r.c.publish, "T/x"));
	cr_assert(slice_is(r.c.token, "t+k"));
}

Test(app, query_reasons)
{
	for (unsigned e = 0; e <= RC_APP_QUERY_TOO_LONG; e++) {
		const char *why = rc_app_query_reason((enum rc_app_query_error)e);
		cr_assert_not_null(why);
		cr_assert_gt(strlen(why), 1);
		cr_assert_null(strchr(why, '\n'), "one line");
		for (unsigned f = 0; f < e; f++)
			cr_assert_str_neq(why, rc_app_query_reason((enum rc_app_query_error)f));
	}
	cr_assert_str_eq(rc_app_query_reason((enum rc_app_query_error)999), "unknown");
}

static enum rc_app_query_error bearer(const char *v, rc_app_slice *t)
{
	uint8_t *g = guarded_str(v);
	enum rc_app_query_error e = rc_app_bearer_parse(g, strlen(v), t);
	cr_assert(within(*t, g, strlen(v)));
	return e;
}

Test(app, bearer_header)
{
	rc_app_slice t;
	static const char *const ok[] = {
		"Bearer abc", "bearer abc", "BEARER  abc ", "\tBearer\tabc\t", " BeArEr abc",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		cr_assert_eq(bearer(ok[i], &t), RC_APP_QUERY_OK, "%s", ok[i]);
		cr_assert(slice_is(t, "abc"), "%s", ok[i]);
	}
	cr_assert_eq(bearer("Bearer a+b/c==", &t), RC_APP_QUERY_OK);
	cr_assert(slice_is(t, "a+b/c=="));
	static const char *const ignored[] = { "",     "  ",       "Basic dXNlcjpwYXNz", "Bearerx abc",
		                                   "Bear", "Token abc" };
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		cr_assert_eq(bearer(ignored[i], &t), RC_APP_QUERY_OK, "%s", ignored[i]);
		cr_assert_eq(t.len, 0, "%s", ignored[i]);
	}
	static const char *const bad[] = { "Bearer",     "Bearer ",      "Bearer  \t",
		                               "Bearer a b", "Bearer a\x01", "Bearer \xc3\xa9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(bearer(bad[i], &t), RC_APP_QUERY_BAD_TOKEN, "%s", bad[i]);
	char v[RC_APP_TOKEN_MAX + 64];
	sprintf(v, "Bearer %s", repeat(0, 'x', RC_APP_TOKEN_MAX));
	cr_assert_eq(bearer(v, &t), RC_APP_QUERY_OK);
	cr_assert_eq(t.len, RC_APP_TOKEN_MAX);
	sprintf(v, "Bearer %s", repeat(0, 'x', RC_APP_TOKEN_MAX + 1));
	cr_assert_eq(bearer(v, &t), RC_APP_QUERY_BAD_TOKEN);
}

Test(app, token_in_query_and_header)
{
	qres r;
	const char *h = "Bearer abc";
	uint8_t *g = guarded_str(h);

	cr_assert_eq(qparse(&r, "token=abc"), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_authorization(&r.c, g, strlen(h)), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "abc"));

	cr_assert_eq(qparse(&r, "token=abd"), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_authorization(&r.c, g, strlen(h)), RC_APP_QUERY_TOKEN_CONFLICT);

	cr_assert_eq(qparse(&r, "topics=a"), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_authorization(&r.c, g, strlen(h)), RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "abc"));
	cr_assert_eq(r.c.token.ptr, g + 7); /* points into the header value */

	/* Another scheme leaves the query's token alone; a broken Bearer is refused. */
	cr_assert_eq(qparse(&r, "token=abd"), RC_APP_QUERY_OK);
	const char *basic = "Basic Zm9v";
	cr_assert_eq(rc_app_connect_authorization(&r.c, guarded_str(basic), strlen(basic)),
	             RC_APP_QUERY_OK);
	cr_assert(slice_is(r.c.token, "abd"));
	cr_assert_eq(rc_app_connect_authorization(&r.c, guarded_str("Bearer"), 6),
	             RC_APP_QUERY_BAD_TOKEN);
}

Test(app, connect_check_subprotocol)
{
	qres r;
	cr_assert_eq(qparse(&r, "topics=a&publish=T"), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_check(&r.c, false), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_check(&r.c, true), RC_APP_QUERY_PUBLISH_V1);
	cr_assert_eq(qparse(&r, "topics=a&token=x"), RC_APP_QUERY_OK);
	cr_assert_eq(rc_app_connect_check(&r.c, true), RC_APP_QUERY_OK);
}

Test(app, target_encode_round_trip)
{
	rc_app_slice topics[2] = { sl("BTC-USD"), sl("a/b@c:d") };
	rc_app_connect c = { .topics = topics,
		                 .topics_len = 2,
		                 .topics_cap = 2,
		                 .publish = sl("T"),
		                 .token = sl("a&b=c%d+e~") };
	uint8_t out[256];
	const char *want = "/ws?topics=BTC-USD,a/b@c:d&publish=T&token=a%26b%3Dc%25d%2Be~";
	size_t n = rc_app_target_encode(out, sizeof out, &c);
	cr_assert_eq(n, strlen(want));
	cr_assert(memcmp(out, want, n) == 0);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_target_encode(out, cap, &c), 0, "cap %zu", cap);
	cr_assert_eq(rc_app_target_encode(out, n, &c), n);

	qres r;
	char q[256];
	memcpy(q, want + 4, n - 4);
	q[n - 4] = 0;
	cr_assert_eq(qparse(&r, q), RC_APP_QUERY_OK);
	cr_assert_eq(r.c.topics_len, 2);
	cr_assert(slice_is(r.c.topics[0], "BTC-USD"));
	cr_assert(slice_is(r.c.topics[1], "a/b@c:d"));
	cr_assert(slice_is(r.c.publish, "T"));
	cr_assert(slice_is(r.c.token, "a&b=c%d+e~"));

	rc_app_connect none = { 0 };
	cr_assert_eq(rc_app_target_encode(out, sizeof out, &none), 3);
	cr_assert(memcmp(out, "/ws", 3) == 0);
	rc_app_connect only_token = { .token = sl("x") };
	cr_assert_eq(rc_app_target_encode(out, sizeof out, &only_token), strlen("/ws?token=x"));
	cr_assert(memcmp(out, "/ws?token=x", 11) == 0);

	rc_app_slice bad[1] = { sl("a,b") };
	rc_app_connect c_bad = { .topics = bad, .topics_len = 1 };
	cr_assert_eq(rc_app_target_encode(out, sizeof out, &c_bad), 0);
	rc_app_connect bad_tok = { .token = sl("a b") };
	cr_assert_eq(rc_app_target_encode(out, sizeof out, &bad_tok), 0);
}

/* ---- Commands ------------------------------------------------------------------------------ */

static enum rc_app_error cmd_n(const void *s, size_t n, rc_app_cmd *out)
{
	uint8_t *g = guarded(s, n);
	enum rc_app_error e = rc_app_cmd_parse(g, n, out);
	if (e == RC_APP_OK) {
		cr_assert_geq(out->topics_len, 1);
		cr_assert_leq(out->topics_len, RC_APP_TOPICS_MAX);
		for (size_t i = 0; i < out->topics_len; i++) {
			cr_assert(within(out->topics[i], g, n));
			cr_assert(rc_app_topic_valid(out->topics[i].ptr, out->topics[i].len));
		}
	} else {
		cr_assert_not_null(out->reason);
	}
	return e;
}

static enum rc_app_error cmd(const char *s, rc_app_cmd *out)
{
	return cmd_n(s, strlen(s), out);
}

Test(app, cmd_valid_variants)
{
	rc_app_cmd c;
	cr_assert_eq(cmd("{\"op\":\"subscribe\",\"topics\":[\"a\",\"b\"]}", &c), RC_APP_OK);
	cr_assert_eq(c.op, RC_APP_OP_SUBSCRIBE);
	cr_assert_eq(c.topics_len, 2);
	cr_assert(slice_is(c.topics[0], "a"));
	cr_assert(slice_is(c.topics[1], "b"));

	cr_assert_eq(cmd("{\"topics\":[\"BTC-USD\"],\"op\":\"unsubscribe\"}", &c), RC_APP_OK);
	cr_assert_eq(c.op, RC_APP_OP_UNSUBSCRIBE);
	cr_assert_eq(c.topics_len, 1);
	cr_assert(slice_is(c.topics[0], "BTC-USD"));

	cr_assert_eq(cmd(" \t\r\n{\n  \"topics\" : [ \"x.y\" ,\t\"a/b@c:d_e-f\" ] ,\r\n  \"op\" :"
	                 "\"subscribe\"\n}\n\n ",
	                 &c),
	             RC_APP_OK);
	cr_assert_eq(c.op, RC_APP_OP_SUBSCRIBE);
	cr_assert_eq(c.topics_len, 2);
	cr_assert(slice_is(c.topics[1], "a/b@c:d_e-f"));

	/* Python's json.dumps style. */
	cr_assert_eq(cmd("{\"op\": \"subscribe\", \"topics\": [\"a\", \"a\"]}", &c), RC_APP_OK);
	cr_assert_eq(c.topics_len, 2); /* duplicates are kept, as sent */

	char s[600];
	sprintf(s, "{\"op\":\"subscribe\",\"topics\":[\"%s\"]}", repeat(0, 'Z', 128));
	cr_assert_eq(cmd(s, &c), RC_APP_OK);
	cr_assert_eq(c.topics[0].len, 128);
	cr_assert_eq(c.id.len, 0, "no id");
}

/* A request id: kept as sent, for the answer to echo; read even when the command then fails. */
Test(app, cmd_request_id)
{
	rc_app_cmd c;
	cr_assert_eq(cmd("{\"op\":\"subscribe\",\"topics\":[\"a\"],\"id\":0}", &c), RC_APP_OK);
	cr_assert(slice_is(c.id, "0"));
	cr_assert_eq(cmd("{\"id\": 9007199254740991 ,\"op\":\"subscribe\",\"topics\":[\"a\"]}", &c),
	             RC_APP_OK);
	cr_assert(slice_is(c.id, "9007199254740991"));
	cr_assert_eq(cmd("{\"id\":\"~ !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}\",\"op\":\"unsubscribe\","
	                 "\"topics\":[\"a\"]}",
	                 &c),
	             RC_APP_OK);
	cr_assert(slice_is(c.id, "\"~ !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}\""), "with its quotes");
	char s[200];
	sprintf(s, "{\"id\":\"%s\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", repeat(0, 'i', 64));
	cr_assert_eq(cmd(s, &c), RC_APP_OK);
	cr_assert_eq(c.id.len, 66);
	/* An error after the id: the id is known to answer with. Before it: not. */
	cr_assert_eq(cmd("{\"id\":7,\"op\":\"nope\",\"topics\":[\"a\"]}", &c), RC_APP_ERR_BAD_COMMAND);
	cr_assert(slice_is(c.id, "7"));
	cr_assert_eq(cmd("{\"op\":\"subscribe\",\"topics\":[\"a b\"],\"id\":7}", &c),
	             RC_APP_ERR_BAD_TOPIC);
	cr_assert_eq(c.id.len, 0);
}

static void expect_out(const uint8_t *out, size_t n, const char *want);

/* The id goes into a notice before its closing brace, verbatim; the notice parser reads it back. */
Test(app, notice_request_id)
{
	uint8_t out[RC_APP_NOTICE_MAX + RC_APP_ID_NOTICE_EXTRA];
	rc_app_slice t[1] = { { (const uint8_t *)"a", 1 } };
	rc_app_slice id = { (const uint8_t *)"\"r1\"", 4 };
	size_t n = rc_app_notice_subscribed(out, sizeof out, t, 1);
	n = rc_app_notice_add_id(out, n, sizeof out, id);
	expect_out(out, n, "{\"type\":\"subscribed\",\"topics\":[\"a\"],\"id\":\"r1\"}");
	rc_app_notice nt;
	cr_assert_eq(rc_app_notice_parse(out, n, &nt), RC_APP_OK);
	cr_assert(slice_is(nt.id, "\"r1\""));
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_TOPIC, "x", 1);
	size_t before = n;
	cr_assert_eq(rc_app_notice_add_id(out, n, sizeof out, (rc_app_slice){ 0 }), before, "no id");
	rc_app_slice num = { (const uint8_t *)"42", 2 };
	n = rc_app_notice_add_id(out, n, sizeof out, num);
	expect_out(out, n, "{\"type\":\"error\",\"code\":\"bad_topic\",\"message\":\"x\",\"id\":42}");
	cr_assert_eq(rc_app_notice_parse(out, n, &nt), RC_APP_OK);
	cr_assert(slice_is(nt.id, "42"));
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_TOPIC, "x", 1);
	cr_assert_eq(rc_app_notice_add_id(out, n, n + 5, num), 0, "does not fit");
	/* the biggest notice with the longest id fits the documented room */
	rc_app_slice many[RC_APP_TOPICS_MAX];
	for (size_t i = 0; i < RC_APP_TOPICS_MAX; i++)
		many[i] = (rc_app_slice){ (const uint8_t *)repeat(1, 'T', RC_APP_TOPIC_MAX),
			                      RC_APP_TOPIC_MAX };
	char longid[RC_APP_ID_RAW_MAX + 1];
	sprintf(longid, "\"%s\"", repeat(2, 'i', RC_APP_ID_STR_MAX));
	rc_app_pos far[RC_APP_TOPICS_MAX];
	for (size_t i = 0; i < RC_APP_TOPICS_MAX; i++)
		far[i] = (rc_app_pos){ UINT64_MAX, UINT64_MAX };
	n = rc_app_notice_subscribed_at(out, sizeof out, many, far, RC_APP_TOPICS_MAX);
	n = rc_app_notice_add_id(out, n, sizeof out,
	                         (rc_app_slice){ (const uint8_t *)longid, RC_APP_ID_RAW_MAX });
	cr_assert_eq(n, sizeof out, "RC_APP_NOTICE_MAX + RC_APP_ID_NOTICE_EXTRA, exactly");
	cr_assert_eq(rc_app_notice_parse(out, n, &nt), RC_APP_OK);
	/* a missed notice answers no command: an id there is not a notice */
	static const char missed[] = "{\"type\":\"missed\",\"topic\":\"a\",\"count\":1,\"id\":1}";
	cr_assert_eq(rc_app_notice_parse((const uint8_t *)missed, sizeof missed - 1, &nt),
	             RC_APP_ERR_BAD_COMMAND);
}

#define CMD_PREFIX "{\"op\":\"subscribe\",\"topics\":["

/* <prefix>"t0",...,"t<n-1>"]} in a malloc'd string */
static char *many_topics_after(const char *prefix, size_t n, size_t *len)
{
	size_t cap = 64 + n * 12;
	char *s = malloc(cap);
	cr_assert_not_null(s);
	size_t at = (size_t)sprintf(s, "%s", prefix);
	for (size_t i = 0; i < n; i++)
		at += (size_t)sprintf(s + at, "%s\"t%zu\"", i ? "," : "", i);
	at += (size_t)sprintf(s + at, "]}");
	*len = at;
	return s;
}

static char *many_topics(size_t n, size_t *len)
{
	return many_topics_after(CMD_PREFIX, n, len);
}

Test(app, cmd_topic_count_limits)
{
	rc_app_cmd c;
	size_t len;
	char *s = many_topics(RC_APP_TOPICS_MAX, &len);
	cr_assert_eq(cmd_n(s, len, &c), RC_APP_OK);
	cr_assert_eq(c.topics_len, RC_APP_TOPICS_MAX);
	cr_assert(slice_is(c.topics[63], "t63"));
	free(s);

	s = many_topics(RC_APP_TOPICS_MAX + 1, &len);
	cr_assert_eq(cmd_n(s, len, &c), RC_APP_ERR_TOO_MANY_TOPICS);
	free(s);

	/* Thousands of topics within the length limit: refused at the 65th, nothing overflows. */
	s = many_topics(1300, &len);
	cr_assert_leq(len, RC_APP_JSON_LEN_MAX);
	cr_assert_eq(cmd_n(s, len, &c), RC_APP_ERR_TOO_MANY_TOPICS);
	free(s);

	/* Beyond the length limit: refused before reading. */
	s = many_topics(100000, &len);
	cr_assert_gt(len, RC_APP_JSON_LEN_MAX);
	cr_assert_eq(cmd_n(s, len, &c), RC_APP_ERR_BAD_COMMAND);
	free(s);

	/* The limit itself: exactly RC_APP_JSON_LEN_MAX bytes (padded with whitespace) is read. */
	s = malloc(RC_APP_JSON_LEN_MAX + 1);
	cr_assert_not_null(s);
	const char *body = "{\"op\":\"subscribe\",\"topics\":[\"a\"]}";
	memset(s, ' ', RC_APP_JSON_LEN_MAX + 1);
	memcpy(s, body, strlen(body));
	cr_assert_eq(cmd_n(s, RC_APP_JSON_LEN_MAX, &c), RC_APP_OK);
	cr_assert_eq(cmd_n(s, RC_APP_JSON_LEN_MAX + 1, &c), RC_APP_ERR_BAD_COMMAND);
	free(s);
}

struct cmd_vec {
	const char *in;
	enum rc_app_error want;
};

static const struct cmd_vec cmd_errors[] = {
	/* not JSON */
	{ "", RC_APP_ERR_BAD_JSON },
	{ "   ", RC_APP_ERR_BAD_JSON },
	{ "x", RC_APP_ERR_BAD_JSON },
	{ "{", RC_APP_ERR_BAD_JSON },
	{ "{\"op\"", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\"", RC_APP_ERR_BAD_JSON },
	{ "{\"op\" \"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\";\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"]}x", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"]}}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"]}{}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\",]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\" \"b\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"]", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a", RC_APP_ERR_BAD_JSON },
	{ "{op:\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{'op':'subscribe','topics':['a']}", RC_APP_ERR_BAD_JSON },
	{ "\xef\xbb\xbf{\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":subscribe,\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\",\"topics\":[a]}", RC_APP_ERR_BAD_JSON },
	{ "{\"op\":\"subscribe\"\x0b,\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	/* JSON, but not a command */
	{ "{}", RC_APP_ERR_BAD_COMMAND },
	{ " { } ", RC_APP_ERR_BAD_COMMAND },
	{ "[1]", RC_APP_ERR_BAD_COMMAND },
	{ "\"subscribe\"", RC_APP_ERR_BAD_COMMAND },
	{ "42", RC_APP_ERR_BAD_COMMAND },
	{ "null", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"publish\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"Subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe \",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribesubscribesubscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"x\":1}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":-1,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":1.5,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":1e3,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":9007199254740992,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":99999999999999999999999,\"op\":\"subscribe\",\"topics\":[\"a\"]}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":01,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"id\":\"\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":\"a\\\"b\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":\"\xc3\xa9\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":\"a\tb\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":\"abc,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_JSON },
	{ "{\"id\":null,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":true,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":[1],\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":{},\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":1,\"id\":2,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"ID\":1,\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"id\":\"12345678901234567890123456789012345678901234567890123456789012345\",\"op\":"
	  "\"subscribe\",\"topics\":[\"a\"]}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"Op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"topicsandmore\":[\"a\"],\"op\":\"subscribe\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"op\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"topics\":[\"b\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":1,\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":null,\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":true,\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":[\"subscribe\"],\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":{\"x\":1},\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":\"a\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[ \n ]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[[\"a\"]]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[{\"a\":1}]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[1]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\",null]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"subscribe\",\"topics\":{\"a\":\"b\"}}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"o\\u0070\":\"subscribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"op\":\"sub\\u0073cribe\",\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	/* topic strings */
	{ "{\"op\":\"subscribe\",\"topics\":[\"a b\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\\u0062\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"\\u0061\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\\\\\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\\/b\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\",\"\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"\xc3\xa9\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a,b\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a\tb\"]}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"op\":\"subscribe\",\"topics\":[\"a%2Cb\"]}", RC_APP_ERR_BAD_TOPIC },
	/* first problem wins, left to right */
	{ "{\"op\":\"nope\",\"topics\":[\"a b\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"topics\":[\"a b\"],\"op\":\"nope\"}", RC_APP_ERR_BAD_TOPIC },
};

Test(app, cmd_every_error)
{
	rc_app_cmd c;
	for (size_t i = 0; i < sizeof cmd_errors / sizeof cmd_errors[0]; i++) {
		enum rc_app_error e = cmd(cmd_errors[i].in, &c);
		cr_assert_eq(e, cmd_errors[i].want, "#%zu %s: got %s (%s)", i, cmd_errors[i].in,
		             rc_app_error_name(e), c.reason ? c.reason : "-");
		free_guards();
	}
	char s[600];
	sprintf(s, "{\"op\":\"subscribe\",\"topics\":[\"%s\"]}", repeat(0, 'Z', 129));
	cr_assert_eq(cmd(s, &c), RC_APP_ERR_BAD_TOPIC);
	sprintf(s, "{\"op\":\"subscribe\",\"topics\":[\"%s", repeat(0, 'Z', 500));
	cr_assert_eq(cmd(s, &c), RC_APP_ERR_BAD_TOPIC); /* decided at byte 129, not at the end */
	cr_assert_eq(cmd_n(NULL, 0, &c), RC_APP_ERR_BAD_JSON);
	/* A NUL byte is not whitespace. */
	static const char nul[] = "{\"op\":\"subscribe\",\"topics\":[\"a\"]}\0";
	cr_assert_eq(cmd_n(nul, sizeof nul - 2, &c), RC_APP_OK);
	cr_assert_eq(cmd_n(nul, sizeof nul - 1, &c), RC_APP_ERR_BAD_JSON);
}

static const char *const cmd_valid[] = {
	"{\"op\":\"subscribe\",\"topics\":[\"a\",\"b\"]}",
	" {\"topics\" : [\"BTC-USD\" , \"x\"], \"op\": \"unsubscribe\" }\n\t",
	"{\"id\":9007199254740991,\"op\":\"subscribe\",\"topics\":[\"a\"]}",
	"{\"op\":\"subscribe\",\"id\" : \"req-7 {x}\",\"topics\":[\"a\"]}",
};

/* Every prefix of a valid command is an error, except those holding its closing brace (the rest
 * is whitespace). */
Test(app, cmd_every_prefix)
{
	for (size_t i = 0; i < sizeof cmd_valid / sizeof cmd_valid[0]; i++) {
		const char *s = cmd_valid[i];
		size_t n = strlen(s), close = (size_t)(strrchr(s, '}') - s);
		for (size_t k = 0; k <= n; k++) {
			rc_guard g = rc_guard_copy(s, k);
			rc_app_cmd c;
			enum rc_app_error e = rc_app_cmd_parse(g.data, k, &c);
			if (k > close) {
				cr_assert_eq(e, RC_APP_OK, "#%zu prefix %zu", i, k);
			} else {
				cr_assert(e == RC_APP_ERR_BAD_JSON || e == RC_APP_ERR_BAD_COMMAND,
				          "#%zu prefix %zu: %d", i, k, e);
				cr_assert_not_null(c.reason);
			}
			rc_guard_free(&g);
		}
	}
	/* And every prefix of every error vector: a clean result (a prefix may even be a valid
	 * command), never a read past the end. */
	for (size_t i = 0; i < sizeof cmd_errors / sizeof cmd_errors[0]; i++) {
		const char *s = cmd_errors[i].in;
		for (size_t k = 0; k <= strlen(s); k++) {
			rc_guard g = rc_guard_copy(s, k);
			rc_app_cmd c;
			enum rc_app_error e = rc_app_cmd_parse(g.data, k, &c);
			cr_assert(e <= RC_APP_ERR_TOO_MANY_TOPICS, "#%zu/%zu", i, k);
			rc_guard_free(&g);
		}
	}
}

Test(app, cmd_encode_round_trip)
{
	rc_app_slice t[3] = { sl("a"), sl("BTC-USD"), sl("x/y@z:w") };
	uint8_t out[RC_APP_CMD_MAX];
	size_t n = rc_app_cmd_encode(out, sizeof out, RC_APP_OP_SUBSCRIBE, t, 3);
	const char *want = "{\"op\":\"subscribe\",\"topics\":[\"a\",\"BTC-USD\",\"x/y@z:w\"]}";
	cr_assert_eq(n, strlen(want));
	cr_assert(memcmp(out, want, n) == 0);
	rc_app_cmd c;
	cr_assert_eq(cmd_n(out, n, &c), RC_APP_OK);
	cr_assert_eq(c.op, RC_APP_OP_SUBSCRIBE);
	cr_assert_eq(c.topics_len, 3);
	for (int i = 0; i < 3; i++)
		cr_assert(c.topics[i].len == t[i].len && memcmp(c.topics[i].ptr, t[i].ptr, t[i].len) == 0);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_cmd_encode(out, cap, RC_APP_OP_SUBSCRIBE, t, 3), 0, "cap %zu", cap);

	n = rc_app_cmd_encode(out, sizeof out, RC_APP_OP_UNSUBSCRIBE, t, 1);
	cr_assert_eq(cmd_n(out, n, &c), RC_APP_OK);
	cr_assert_eq(c.op, RC_APP_OP_UNSUBSCRIBE);

	/* Refused: no topics, too many, invalid topic, unknown op. */
	cr_assert_eq(rc_app_cmd_encode(out, sizeof out, RC_APP_OP_SUBSCRIBE, t, 0), 0);
	rc_app_slice many[RC_APP_TOPICS_MAX + 1];
	for (int i = 0; i <= RC_APP_TOPICS_MAX; i++)
		many[i] = sl(repeat(0, 'q', RC_APP_TOPIC_MAX));
	cr_assert_eq(
	        rc_app_cmd_encode(out, sizeof out, RC_APP_OP_SUBSCRIBE, many, RC_APP_TOPICS_MAX + 1),
	        0);
	rc_app_slice bad[1] = { sl("a b") };
	cr_assert_eq(rc_app_cmd_encode(out, sizeof out, RC_APP_OP_SUBSCRIBE, bad, 1), 0);
	cr_assert_eq(rc_app_cmd_encode(out, sizeof out, (enum rc_app_op)3, t, 1), 0);

	/* The worst case is exactly RC_APP_CMD_MAX, and parses. */
	n = rc_app_cmd_encode(out, sizeof out, RC_APP_OP_UNSUBSCRIBE, many, RC_APP_TOPICS_MAX);
	cr_assert_eq(n, RC_APP_CMD_MAX);
	cr_assert_eq(cmd_n(out, n, &c), RC_APP_OK);
	cr_assert_eq(c.topics_len, RC_APP_TOPICS_MAX);
}

/* ---- Binary publish / message -------------------------------------------------------------- */

/* The worked example of docs/protocol.md, byte for byte. */
static const uint8_t doc_publish[] = {
	0x01,                                                       /* kind PUBLISH */
	0x01,                                                       /* flags: text */
	0x07,                                                       /* topic length */
	0x42, 0x54, 0x43, 0x2d, 0x55, 0x53, 0x44,                   /* "BTC-USD" */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             /* sequence 0 */
	0x7b, 0x22, 0x62, 0x69, 0x64, 0x22, 0x3a, 0x34, 0x32, 0x7d, /* {"bid":42} */
};
static const uint8_t doc_message[] = {
	0x01, 0x01, 0x07, 0x42, 0x54, 0x43, 0x2d, 0x55, 0x53, 0x44,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, /* sequence 258 */
	0x7b, 0x22, 0x62, 0x69, 0x64, 0x22, 0x3a, 0x34, 0x32, 0x7d,
};

static enum rc_app_error pub(const void *p, size_t n, rc_app_pub *out, uint8_t **g_out)
{
	uint8_t *g = guarded(p, n);
	enum rc_app_error e = rc_app_pub_parse(g, n, out);
	if (e == RC_APP_OK) {
		cr_assert(within(out->topic, g, n));
		cr_assert(within(out->payload, g, n));
		cr_assert(out->seq_slot >= g && out->seq_slot + 8 <= g + n);
		cr_assert_eq(out->seq_slot + 8, out->payload.ptr);
		cr_assert_eq(out->payload.ptr + out->payload.len, g + n);
	} else {
		cr_assert_not_null(out->reason);
	}
	if (g_out)
		*g_out = g;
	return e;
}

Test(app, pub_documented_example)
{
	cr_assert_eq(sizeof doc_publish, 28);
	rc_app_pub p;
	uint8_t *g;
	cr_assert_eq(pub(doc_publish, sizeof doc_publish, &p, &g), RC_APP_OK);
	cr_assert_eq(p.flags, RC_APP_FLAG_TEXT);
	cr_assert(slice_is(p.topic, "BTC-USD"));
	cr_assert_eq(p.seq, 0);
	cr_assert(slice_is(p.payload, "{\"bid\":42}"));
	cr_assert_eq(p.seq_slot, g + 10);

	/* The server turns it into the delivered MESSAGE by writing 8 bytes in place. */
	rc_app_seq_write(p.seq_slot, 258);
	cr_assert(memcmp(g, doc_message, sizeof doc_message) == 0);
	cr_assert_eq(pub(doc_message, sizeof doc_message, &p, NULL), RC_APP_OK);
	cr_assert_eq(p.seq, 258);

	/* And a client builds it from the header encoder plus the payload. */
	uint8_t built[64];
	size_t h = rc_app_pub_encode_header(built, RC_APP_FLAG_TEXT, (const uint8_t *)"BTC-USD", 7, 0);
	cr_assert_eq(h, rc_app_pub_header_len(7));
	cr_assert_eq(h, 18);
	memcpy(built + h, "{\"bid\":42}", 10);
	cr_assert(memcmp(built, doc_publish, sizeof doc_publish) == 0);
}

Test(app, pub_minimum_and_maximum)
{
	rc_app_pub p;
	const uint8_t min[12] = { 0x01, 0x00, 0x01, 'a', 0, 0, 0, 0, 0, 0, 0, 0 };
	cr_assert_eq(pub(min, sizeof min, &p, NULL), RC_APP_OK);
	cr_assert_eq(p.flags, 0);
	cr_assert(slice_is(p.topic, "a"));
	cr_assert_eq(p.payload.len, 0);
	/* An empty text payload is valid UTF-8. */
	uint8_t min_text[12];
	memcpy(min_text, min, 12);
	min_text[1] = RC_APP_FLAG_TEXT;
	cr_assert_eq(pub(min_text, sizeof min_text, &p, NULL), RC_APP_OK);

	uint8_t max[RC_APP_PUB_HEADER_MAX + 3];
	size_t h =
	        rc_app_pub_encode_header(max, 0, (const uint8_t *)repeat(0, 'T', 128), 128, UINT64_MAX);
	cr_assert_eq(h, RC_APP_PUB_HEADER_MAX);
	memcpy(max + h, "\x00\xff\x80", 3); /* binary payload: any bytes */
	cr_assert_eq(pub(max, sizeof max, &p, NULL), RC_APP_OK);
	cr_assert_eq(p.topic.len, 128);
	cr_assert_eq(p.seq, UINT64_MAX);
	cr_assert_eq(p.payload.len, 3);
	/* A MESSAGE's sequence number is not checked: it can be published again as is. */
	cr_assert_eq(pub(doc_message, sizeof doc_message, &p, NULL), RC_APP_OK);
}

Test(app, pub_malformed)
{
	rc_app_pub p;
	uint8_t f[64] = { 0 };

	cr_assert_eq(pub(f, 0, &p, NULL), RC_APP_ERR_BAD_PUBLISH);
	cr_assert_eq(rc_app_pub_parse(NULL, 0, &p), RC_APP_ERR_BAD_PUBLISH);
	for (int kind = 0; kind < 256; kind++) {
		memcpy(f, doc_publish, sizeof doc_publish);
		f[0] = (uint8_t)kind;
		enum rc_app_error want = kind == 1 ? RC_APP_OK : RC_APP_ERR_UNKNOWN_KIND;
		cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), want, "kind %d", kind);
		cr_assert_eq(pub(f, 1, &p, NULL), kind == 1 ? RC_APP_ERR_BAD_PUBLISH : want);
		free_guards();
	}
	for (int flags = 0; flags < 256; flags++) {
		memcpy(f, doc_publish, sizeof doc_publish);
		f[1] = (uint8_t)flags;
		/* text and retained are the two flags */
		enum rc_app_error want = flags <= 3 ? RC_APP_OK : RC_APP_ERR_BAD_PUBLISH;
		cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), want, "flags %d", flags);
		free_guards();
	}
	/* Every topic length that does not match the frame. */
	for (int L = 0; L < 256; L++) {
		uint8_t big[300] = { 0x01, 0x00, (uint8_t)L };
		memset(big + 3, 'a', 255);
		memset(big + 3 + L, 0, 8);
		size_t n = 11 + (size_t)L;
		enum rc_app_error want = (L >= 1 && L <= 128) ? RC_APP_OK : RC_APP_ERR_BAD_PUBLISH;
		cr_assert_eq(pub(big, n, &p, NULL), want, "L %d", L);
		cr_assert_eq(pub(big, n - 1, &p, NULL), RC_APP_ERR_BAD_PUBLISH, "L %d short", L);
		cr_assert_eq(pub(big, 2, &p, NULL), RC_APP_ERR_BAD_PUBLISH);
		free_guards();
	}
	/* The topic bytes. */
	memcpy(f, doc_publish, sizeof doc_publish);
	f[5] = ' ';
	cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), RC_APP_ERR_BAD_TOPIC);
	f[5] = ',';
	cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), RC_APP_ERR_BAD_TOPIC);
	f[5] = 0;
	cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), RC_APP_ERR_BAD_TOPIC);
	/* A text payload must be UTF-8; a binary one is anything. */
	memcpy(f, doc_publish, sizeof doc_publish);
	f[sizeof doc_publish - 1] = 0xff;
	cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), RC_APP_ERR_BAD_PUBLISH);
	f[1] = 0;
	cr_assert_eq(pub(f, sizeof doc_publish, &p, NULL), RC_APP_OK);
	static const uint8_t split_char[] = { 0x01, 0x01, 0x01, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0xc3 };
	cr_assert_eq(pub(split_char, sizeof split_char, &p, NULL), RC_APP_ERR_BAD_PUBLISH);
}

Test(app, pub_every_prefix)
{
	for (size_t k = 0; k <= sizeof doc_message; k++) {
		rc_guard g = rc_guard_copy(doc_message, k);
		rc_app_pub p;
		enum rc_app_error e = rc_app_pub_parse(g.data, k, &p);
		if (k >= 18) {
			cr_assert_eq(e, RC_APP_OK, "prefix %zu", k); /* ASCII payload: any cut is UTF-8 */
			cr_assert_eq(p.payload.len, k - 18);
			cr_assert_eq(p.seq, 258);
		} else {
			cr_assert_eq(e, RC_APP_ERR_BAD_PUBLISH, "prefix %zu", k);
		}
		rc_guard_free(&g);
	}
}

Test(app, pub_round_trip_and_seq)
{
	uint8_t slot[9] = { 0 };
	rc_app_seq_write(slot + 1, 0x0102030405060708ull); /* unaligned on purpose */
	static const uint8_t be[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	cr_assert(memcmp(slot + 1, be, 8) == 0);
	cr_assert_eq(rc_app_seq_read(slot + 1), 0x0102030405060708ull);
	rc_app_seq_write(slot, 1);
	cr_assert_eq(rc_app_seq_read(slot), 1);
	cr_assert_eq(slot[7], 1);

	uint8_t f[RC_APP_PUB_HEADER_MAX + 16];
	const char *topics[] = { "a", "trades/BTC-USD@x", repeat(0, '9', 128) };
	for (size_t i = 0; i < 3; i++) {
		for (uint8_t flags = 0; flags <= 1; flags++) {
			size_t tl = strlen(topics[i]);
			size_t h = rc_app_pub_encode_header(f, flags, (const uint8_t *)topics[i], tl, 42 + i);
			cr_assert_eq(h, 11 + tl);
			memcpy(f + h, "payload\xe2\x82\xac", 10);
			rc_app_pub p;
			cr_assert_eq(pub(f, h + 10, &p, NULL), RC_APP_OK);
			cr_assert_eq(p.flags, flags);
			cr_assert(p.topic.len == tl && memcmp(p.topic.ptr, topics[i], tl) == 0);
			cr_assert_eq(p.seq, 42 + i);
			cr_assert(slice_is(p.payload, "payload\xe2\x82\xac"));
			free_guards();
		}
	}
	cr_assert_eq(rc_app_pub_encode_header(f, 4, (const uint8_t *)"a", 1, 0), 0);
	cr_assert_eq(rc_app_pub_encode_header(f, RC_APP_FLAG_RETAINED, (const uint8_t *)"a", 1, 0), 12);
	cr_assert_eq(rc_app_pub_encode_header(f, 0, (const uint8_t *)"a b", 3, 0), 0);
	cr_assert_eq(rc_app_pub_encode_header(f, 0, (const uint8_t *)"", 0, 0), 0);
	cr_assert_eq(rc_app_pub_encode_header(f, 0, (const uint8_t *)repeat(0, 'a', 129), 129, 0), 0);
}

/* ---- Notices ------------------------------------------------------------------------------- */

static enum rc_app_error notice_n(const void *s, size_t n, rc_app_notice *out)
{
	uint8_t *g = guarded(s, n);
	enum rc_app_error e = rc_app_notice_parse(g, n, out);
	if (e == RC_APP_OK) {
		for (size_t i = 0; i < out->topics_len; i++)
			cr_assert(within(out->topics[i], g, n));
		cr_assert(within(out->message, g, n));
	} else {
		cr_assert_not_null(out->reason);
	}
	return e;
}

static enum rc_app_error notice(const char *s, rc_app_notice *out)
{
	return notice_n(s, strlen(s), out);
}

static void expect_out(const uint8_t *out, size_t n, const char *want)
{
	cr_assert_eq(n, strlen(want), "got %zu bytes \"%.*s\", want \"%s\"", n, (int)n, out, want);
	cr_assert(memcmp(out, want, n) == 0, "got \"%.*s\", want \"%s\"", (int)n, out, want);
}

Test(app, notice_encoders)
{
	uint8_t out[RC_APP_NOTICE_MAX];
	rc_app_slice t[2] = { sl("a"), sl("b") };
	expect_out(out, rc_app_notice_subscribed(out, sizeof out, t, 2),
	           "{\"type\":\"subscribed\",\"topics\":[\"a\",\"b\"]}");
	expect_out(out, rc_app_notice_unsubscribed(out, sizeof out, t, 1),
	           "{\"type\":\"unsubscribed\",\"topics\":[\"a\"]}");
	expect_out(out, rc_app_notice_missed(out, sizeof out, (const uint8_t *)"a", 1, 17),
	           "{\"type\":\"missed\",\"topic\":\"a\",\"count\":17}");
	expect_out(out, rc_app_notice_missed(out, sizeof out, (const uint8_t *)"a", 1, UINT64_MAX),
	           "{\"type\":\"missed\",\"topic\":\"a\",\"count\":18446744073709551615}");
	expect_out(out, rc_app_notice_missed(out, sizeof out, (const uint8_t *)"a", 1, 1),
	           "{\"type\":\"missed\",\"topic\":\"a\",\"count\":1}");
	const char *m = "topic must be 1-128 bytes";
	expect_out(out, rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_TOPIC, m, strlen(m)),
	           "{\"type\":\"error\",\"code\":\"bad_topic\",\"message\":\"topic must be 1-128 "
	           "bytes\"}");
	expect_out(out, rc_app_notice_error(out, sizeof out, RC_APP_ERR_UNAUTHORIZED, NULL, 0),
	           "{\"type\":\"error\",\"code\":\"unauthorized\",\"message\":\"\"}");

	/* Refusals. */
	cr_assert_eq(rc_app_notice_subscribed(out, sizeof out, t, 0), 0);
	rc_app_slice bad[1] = { sl("") };
	cr_assert_eq(rc_app_notice_unsubscribed(out, sizeof out, bad, 1), 0);
	cr_assert_eq(rc_app_notice_missed(out, sizeof out, (const uint8_t *)"a", 1, 0), 0);
	cr_assert_eq(rc_app_notice_missed(out, sizeof out, (const uint8_t *)"a,b", 3, 1), 0);
	cr_assert_eq(rc_app_notice_error(out, sizeof out, RC_APP_OK, "x", 1), 0);
	cr_assert_eq(rc_app_notice_error(out, sizeof out, (enum rc_app_error)42, "x", 1), 0);

	/* Every capacity short of the length gives 0; the exact length fits. */
	size_t n = rc_app_notice_missed(out, sizeof out, (const uint8_t *)"abc", 3, 12345);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_notice_missed(out, cap, (const uint8_t *)"abc", 3, 12345), 0);
	cr_assert_eq(rc_app_notice_missed(out, n, (const uint8_t *)"abc", 3, 12345), n);
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_JSON, "a\"b", 3);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_notice_error(out, cap, RC_APP_ERR_BAD_JSON, "a\"b", 3), 0);
	n = rc_app_notice_subscribed(out, sizeof out, t, 2);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_notice_subscribed(out, cap, t, 2), 0);
}

Test(app, notice_worst_case_sizes)
{
	static uint8_t out[RC_APP_NOTICE_MAX + 64];
	rc_app_slice many[RC_APP_TOPICS_MAX];
	for (int i = 0; i < RC_APP_TOPICS_MAX; i++)
		many[i] = sl(repeat(0, 'q', RC_APP_TOPIC_MAX));
	cr_assert_eq(rc_app_notice_unsubscribed(out, sizeof out, many, RC_APP_TOPICS_MAX),
	             RC_APP_NOTICE_TOPICS_MAX);
	cr_assert_eq(rc_app_notice_subscribed(out, RC_APP_NOTICE_MAX, many, RC_APP_TOPICS_MAX),
	             RC_APP_NOTICE_TOPICS_MAX - 2);
	cr_assert_eq(rc_app_notice_missed(out, sizeof out, (const uint8_t *)repeat(0, 'q', 128), 128,
	                                  UINT64_MAX),
	             RC_APP_NOTICE_MISSED_MAX);
	/* Control bytes are the longest escapes (6 bytes each). */
	char ctl[RC_APP_MESSAGE_MAX + 50];
	memset(ctl, 0x01, sizeof ctl);
	cr_assert_eq(rc_app_notice_error(out, sizeof out, RC_APP_ERR_TOO_MANY_TOPICS, ctl, sizeof ctl),
	             RC_APP_NOTICE_ERROR_MAX);
	/* As are invalid bytes (\ufffd). */
	memset(ctl, 0xff, sizeof ctl);
	cr_assert_eq(rc_app_notice_error(out, sizeof out, RC_APP_ERR_TOO_MANY_TOPICS, ctl, sizeof ctl),
	             RC_APP_NOTICE_ERROR_MAX);
	rc_app_pos far[RC_APP_TOPICS_MAX];
	for (size_t i = 0; i < RC_APP_TOPICS_MAX; i++)
		far[i] = (rc_app_pos){ UINT64_MAX, UINT64_MAX };
	cr_assert_eq(rc_app_notice_subscribed_at(out, sizeof out, many, far, RC_APP_TOPICS_MAX),
	             RC_APP_NOTICE_MAX);
	cr_assert_eq(rc_app_notice_reset(out, sizeof out, (const uint8_t *)repeat(0, 'q', 128), 128,
	                                 RC_APP_RESET_HISTORY, UINT64_MAX, UINT64_MAX, false),
	             RC_APP_NOTICE_RESET_MAX);
	cr_assert_eq(RC_APP_NOTICE_MAX, 12014); /* the figure in docs/protocol.md §9 */
	cr_assert_leq(RC_APP_NOTICE_ERROR_MAX, RC_APP_NOTICE_MAX);
	cr_assert_leq(RC_APP_NOTICE_MISSED_MAX, RC_APP_NOTICE_MAX);
	cr_assert_lt(RC_APP_NOTICE_MAX + 4096, RC_APP_JSON_LEN_MAX);
	cr_assert_lt(RC_APP_CMD_MAX + 4096, RC_APP_JSON_LEN_MAX);
}

Test(app, error_message_escaping)
{
	uint8_t out[RC_APP_NOTICE_ERROR_MAX];
	/* quote, backslash, the short escapes, other controls, DEL (left as is), a valid 2- and
	 * 3-byte character, an invalid byte, a truncated sequence and a stray continuation byte. */
	static const char msg[] = "say \"hi\"\\ back\n\x01\x7f\xc3\xa9\xff\xe2\x82\xac\xe2\x82\t\r\b\f"
	                          "\x1f"
	                          "end";
	const char *want =
	        "{\"type\":\"error\",\"code\":\"bad_topic\",\"message\":\"say \\\"hi\\\"\\\\ "
	        "back\\n\\u0001\x7f\xc3\xa9\\ufffd\xe2\x82\xac\\ufffd\\ufffd\\t\\r\\b\\f"
	        "\\u001fend\"}";
	size_t n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_TOPIC, msg, sizeof msg - 1);
	expect_out(out, n, want);
	cr_assert(rc_utf8_valid(out, n), "a notice is always valid UTF-8");

	/* Read back: the unescaped message is the input with each invalid byte as U+FFFD. */
	rc_app_notice nt;
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_ERROR);
	cr_assert_eq(nt.code, RC_APP_ERR_BAD_TOPIC);
	char back[RC_APP_NOTICE_ERROR_MAX];
	size_t bn = rc_app_notice_message(&nt, back, sizeof back);
	static const char unescaped[] = "say \"hi\"\\ back\n\x01\x7f\xc3\xa9\xef\xbf\xbd\xe2\x82\xac"
	                                "\xef\xbf\xbd\xef\xbf\xbd\t\r\b\f\x1f"
	                                "end";
	cr_assert_eq(bn, sizeof unescaped - 1);
	cr_assert(memcmp(back, unescaped, bn) == 0);

	/* Cut at RC_APP_MESSAGE_MAX bytes, never inside a character. */
	char longm[300];
	memset(longm, 'a', sizeof longm);
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_JSON, longm, sizeof longm);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.message.len, RC_APP_MESSAGE_MAX);
	memcpy(longm + RC_APP_MESSAGE_MAX - 1, "\xc3\xa9", 2); /* é straddles the limit */
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_JSON, longm, sizeof longm);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.message.len, RC_APP_MESSAGE_MAX - 1);
	cr_assert(rc_utf8_valid(out, n));
	memcpy(longm + RC_APP_MESSAGE_MAX - 2, "\xc3\xa9", 2); /* é ends at the limit */
	n = rc_app_notice_error(out, sizeof out, RC_APP_ERR_BAD_JSON, longm, sizeof longm);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.message.len, RC_APP_MESSAGE_MAX);
}

Test(app, notice_parse_round_trips)
{
	uint8_t out[RC_APP_NOTICE_MAX];
	rc_app_notice nt;
	rc_app_slice t[3] = { sl("a"), sl("BTC-USD"), sl("x/y") };

	size_t n = rc_app_notice_subscribed(out, sizeof out, t, 3);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_SUBSCRIBED);
	cr_assert_eq(nt.topics_len, 3);
	cr_assert(slice_is(nt.topics[1], "BTC-USD"));

	n = rc_app_notice_unsubscribed(out, sizeof out, t, 1);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_UNSUBSCRIBED);
	cr_assert_eq(nt.topics_len, 1);

	n = rc_app_notice_missed(out, sizeof out, (const uint8_t *)"BTC-USD", 7, UINT64_MAX);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_MISSED);
	cr_assert(slice_is(nt.topics[0], "BTC-USD"));
	cr_assert_eq(nt.count, UINT64_MAX);

	for (unsigned e = RC_APP_ERR_BAD_JSON; e < RC_APP_ERR_COUNT; e++) {
		n = rc_app_notice_error(out, sizeof out, (enum rc_app_error)e, "why", 3);
		cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
		cr_assert_eq(nt.type, RC_APP_NOTICE_ERROR);
		cr_assert_eq(nt.code, e);
		cr_assert(slice_is(nt.message, "why"));
		free_guards();
	}

	/* Whitespace and key order, as another server or a pretty-printer might send. */
	cr_assert_eq(notice("\n{ \"count\" : 5 ,\n \"topic\":\"a\", \"type\" : \"missed\" }\n", &nt),
	             RC_APP_OK);
	cr_assert_eq(nt.count, 5);
	cr_assert_eq(notice("{\"message\":\"caf\\u00e9 \\u20ac \\/ \\ufffd\",\"code\":\"bad_json\","
	                    "\"type\":\"error\"}",
	                    &nt),
	             RC_APP_OK);
	char back[64];
	size_t bn = rc_app_notice_message(&nt, back, sizeof back);
	const char *want = "caf\xc3\xa9 \xe2\x82\xac / \xef\xbf\xbd";
	cr_assert_eq(bn, strlen(want));
	cr_assert(memcmp(back, want, bn) == 0);
	cr_assert_eq(notice("{\"message\":\"\\u0000\\u007F\",\"code\":\"bad_json\",\"type\":\"error\"}",
	                    &nt),
	             RC_APP_OK);
	bn = rc_app_notice_message(&nt, back, sizeof back);
	cr_assert_eq(bn, 2);
	cr_assert(back[0] == 0 && back[1] == 0x7f);
}

static const struct cmd_vec notice_errors[] = {
	{ "", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":01}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"a\nb\"}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\\x\"}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\\u12\"}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\\u12g4\"}", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\\", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"abc", RC_APP_ERR_BAD_JSON },
	{ "{\"type\":\"subscribed\",\"topics\":[\"a\"]} x", RC_APP_ERR_BAD_JSON },
	{ "{}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"hello\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"topics\":[\"a\"]}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"subscribed\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"subscribed\",\"topics\":[\"a\"],\"count\":1}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"subscribed\",\"topic\":\"a\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":0}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":-1}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":1.5}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":1e3}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":\"1\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":18446744073709551616}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a\",\"count\":99999999999999999999999999}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"code\":\"ok\",\"message\":\"\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"code\":\"nope\",\"message\":\"\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\\ud800\"}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":1}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"code\":\"bad_json\"}", RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"error\",\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"\"}",
	  RC_APP_ERR_BAD_COMMAND },
	{ "{\"type\":\"missed\",\"topic\":\"a b\",\"count\":1}", RC_APP_ERR_BAD_TOPIC },
	{ "{\"type\":\"subscribed\",\"topics\":[\"\"]}", RC_APP_ERR_BAD_TOPIC },
};

Test(app, notice_errors)
{
	rc_app_notice nt;
	for (size_t i = 0; i < sizeof notice_errors / sizeof notice_errors[0]; i++) {
		enum rc_app_error e = notice(notice_errors[i].in, &nt);
		cr_assert_eq(e, notice_errors[i].want, "#%zu %s: got %s (%s)", i, notice_errors[i].in,
		             rc_app_error_name(e), nt.reason ? nt.reason : "-");
		free_guards();
	}
	/* The message length limit, as sent. */
	char *s = malloc(2000);
	cr_assert_not_null(s);
	int at = sprintf(s, "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"");
	memset(s + at, 'm', 6 * RC_APP_MESSAGE_MAX);
	strcpy(s + at + 6 * RC_APP_MESSAGE_MAX, "\"}");
	cr_assert_eq(notice(s, &nt), RC_APP_OK);
	strcpy(s + at + 6 * RC_APP_MESSAGE_MAX, "m\"}");
	cr_assert_eq(notice(s, &nt), RC_APP_ERR_BAD_COMMAND);
	free(s);
	/* A topics array too long. */
	size_t len;
	char *many =
	        many_topics_after("{\"type\":\"subscribed\",\"topics\":[", RC_APP_TOPICS_MAX, &len);
	cr_assert_eq(notice_n(many, len, &nt), RC_APP_OK);
	cr_assert_eq(nt.topics_len, RC_APP_TOPICS_MAX);
	free(many);
	many = many_topics_after("{\"type\":\"subscribed\",\"topics\":[", RC_APP_TOPICS_MAX + 1, &len);
	cr_assert_eq(notice_n(many, len, &nt), RC_APP_ERR_TOO_MANY_TOPICS);
	free(many);
}

Test(app, notice_every_prefix)
{
	rc_app_slice t[2] = { sl("a"), sl("b") };
	size_t lens[4];
	static uint8_t bufs[4][512];
	lens[0] = rc_app_notice_subscribed(bufs[0], sizeof bufs[0], t, 2);
	lens[1] = rc_app_notice_missed(bufs[1], sizeof bufs[1], (const uint8_t *)"a", 1, 1234);
	lens[2] = rc_app_notice_error(bufs[2], sizeof bufs[2], RC_APP_ERR_BAD_TOPIC, "x\"\n\xff", 4);
	const char *pretty = " { \"type\" : \"unsubscribed\" , \"topics\" : [ \"a\" ] } \n";
	lens[3] = strlen(pretty);
	memcpy(bufs[3], pretty, lens[3]);
	for (int i = 0; i < 4; i++) {
		cr_assert_gt(lens[i], 0);
		size_t close = 0;
		for (size_t j = 0; j < lens[i]; j++)
			if (bufs[i][j] == '}')
				close = j;
		for (size_t k = 0; k <= lens[i]; k++) {
			rc_guard g = rc_guard_copy(bufs[i], k);
			rc_app_notice nt;
			enum rc_app_error e = rc_app_notice_parse(g.data, k, &nt);
			/* "count":1234 cut after a digit is still a number: the object is unclosed. */
			if (k > close)
				cr_assert_eq(e, RC_APP_OK, "#%d prefix %zu", i, k);
			else
				cr_assert(e == RC_APP_ERR_BAD_JSON || e == RC_APP_ERR_BAD_COMMAND,
				          "#%d prefix %zu: %d", i, k, e);
			rc_guard_free(&g);
		}
	}
	for (size_t i = 0; i < sizeof notice_errors / sizeof notice_errors[0]; i++) {
		const char *s = notice_errors[i].in;
		for (size_t k = 0; k <= strlen(s); k++) {
			rc_guard g = rc_guard_copy(s, k);
			rc_app_notice nt;
			enum rc_app_error e = rc_app_notice_parse(g.data, k, &nt);
			cr_assert(e <= RC_APP_ERR_TOO_MANY_TOPICS, "#%zu/%zu", i, k);
			rc_guard_free(&g);
		}
	}
}

/* rc_app_pub_parse_head: the header of a large PUBLISH whose payload is elsewhere. Given only the
 * bytes it may read (a malloc of exactly that many, so ASan sees a read past them), it parses the
 * header as the whole parse does and leaves the payload's UTF-8 to the caller. */
Test(app, pub_parse_head_reads_only_the_header)
{
	static const uint8_t topic[] = "book.BTC-USD";
	size_t tl = sizeof topic - 1, n = 1u << 20;
	uint8_t head[RC_APP_PUB_HEADER_MAX];
	size_t h = rc_app_pub_encode_header(head, RC_APP_FLAG_TEXT, topic, tl, 42);
	cr_assert_eq(h, rc_app_pub_header_len(tl));
	uint8_t *have = malloc(RC_APP_PUB_HEADER_MAX);
	cr_assert_not_null(have);
	memcpy(have, head, h);
	memset(have + h, 0xff, RC_APP_PUB_HEADER_MAX - h); /* not UTF-8: not its to check */
	rc_app_pub p;
	cr_assert_eq(rc_app_pub_parse_head(have, RC_APP_PUB_HEADER_MAX, n, &p), RC_APP_OK);
	cr_assert_eq(p.flags, RC_APP_FLAG_TEXT);
	cr_assert_eq(p.seq, 42);
	cr_assert_eq(p.topic.len, tl);
	cr_assert_arr_eq(p.topic.ptr, topic, tl);
	cr_assert_eq(p.seq_slot, have + 3 + tl);
	cr_assert_eq(p.payload.ptr, have + h);
	cr_assert_eq(p.payload.len, n - h);
	/* The same header errors as the whole parse. */
	have[1] = 0x80;
	cr_assert_eq(rc_app_pub_parse_head(have, RC_APP_PUB_HEADER_MAX, n, &p), RC_APP_ERR_BAD_PUBLISH);
	have[1] = RC_APP_FLAG_TEXT;
	have[3] = ' ';
	cr_assert_eq(rc_app_pub_parse_head(have, RC_APP_PUB_HEADER_MAX, n, &p), RC_APP_ERR_BAD_TOPIC);
	have[3] = 'b';
	have[0] = 2;
	cr_assert_eq(rc_app_pub_parse_head(have, RC_APP_PUB_HEADER_MAX, n, &p),
	             RC_APP_ERR_UNKNOWN_KIND);
	free(have);
	/* A message shorter than the header room: have == n, the whole message, as rc_app_pub_parse
	 * (which is rc_app_pub_parse_head plus the UTF-8 check) sees it. */
	uint8_t *small = malloc(h + 3);
	cr_assert_not_null(small);
	memcpy(small, head, h);
	memcpy(small + h, "a\xc3\xa9", 3);
	cr_assert_eq(rc_app_pub_parse_head(small, h + 3, h + 3, &p), RC_APP_OK);
	cr_assert_eq(rc_app_pub_parse(small, h + 3, &p), RC_APP_OK);
	small[h + 2] = 'x'; /* a sequence cut short */
	cr_assert_eq(rc_app_pub_parse_head(small, h + 3, h + 3, &p), RC_APP_OK);
	cr_assert_eq(rc_app_pub_parse(small, h + 3, &p), RC_APP_ERR_BAD_PUBLISH);
	cr_assert_str_eq(p.reason, "text payload is not valid UTF-8");
	cr_assert_null(p.topic.ptr, "a refused publish leaves no slice behind");
	free(small);
}

/* ---- Snapshot, resume, conflation, positions ------------------------------------------------ */

Test(app, cmd_subscribe_options)
{
	rc_app_cmd c;
	cr_assert_eq(
	        cmd("{\"op\":\"subscribe\",\"topics\":[\"a\"],\"snapshot\":true,\"interval_ms\":250}",
	            &c),
	        RC_APP_OK);
	cr_assert(c.snapshot);
	cr_assert_eq(c.interval_ms, 250);
	cr_assert_eq(c.resume_from, 1, "no resume: resume_from is topics_len");
	/* resume before topics: the resumed topics still come after the others */
	cr_assert_eq(
	        cmd("{\"op\":\"subscribe\",\"resume\":[{\"seq\":0,\"topic\":\"r\",\"epoch\":"
	            "\"00000000000000ff\"},{\"topic\":\"s\",\"epoch\":\"ffffffffffffffff\",\"seq\":"
	            "18446744073709551615}],\"topics\":[\"a\",\"b\"],\"snapshot\":false}",
	            &c),
	        RC_APP_OK);
	cr_assert_eq(c.topics_len, 4);
	cr_assert_eq(c.resume_from, 2);
	cr_assert(slice_is(c.topics[2], "r") && slice_is(c.topics[3], "s"));
	cr_assert_eq(c.resume[2].epoch, 0xff);
	cr_assert_eq(c.resume[2].seq, 0);
	cr_assert_eq(c.resume[3].epoch, UINT64_MAX);
	cr_assert_eq(c.resume[3].seq, UINT64_MAX);
	cr_assert_not(c.snapshot);
	/* resume alone */
	cr_assert_eq(cmd("{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"r\",\"epoch\":"
	                 "\"0123456789abcdef\",\"seq\":5}]}",
	                 &c),
	             RC_APP_OK);
	cr_assert_eq(c.topics_len, 1);
	cr_assert_eq(c.resume_from, 0);
	cr_assert_eq(c.resume[0].epoch, 0x0123456789abcdefull);
}

Test(app, cmd_subscribe_option_errors)
{
	rc_app_cmd c;
	static const struct {
		const char *s;
		enum rc_app_error e;
	} cases[] = {
		{ "{\"op\":\"unsubscribe\",\"topics\":[\"a\"],\"snapshot\":true}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"unsubscribe\",\"topics\":[\"a\"],\"interval_ms\":1}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"snapshot\":1}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"snapshot\":x}", RC_APP_ERR_BAD_JSON },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"interval_ms\":60001}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"interval_ms\":-1}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"interval_ms\":1.5}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"interval_ms\":01}", RC_APP_ERR_BAD_JSON },
		{ "{\"op\":\"subscribe\",\"resume\":[]}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\"}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"seq\":1}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789ABCDEF\","
		  "\"seq\":1}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789abcde\","
		  "\"seq\":1}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789abcdef0\","
		  "\"seq\":1}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a b\",\"epoch\":\"0123456789abcdef\","
		  "\"seq\":1}]}",
		  RC_APP_ERR_BAD_TOPIC },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789abcdef\","
		  "\"seq\":18446744073709551616}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789abcdef\","
		  "\"seq\":1,\"x\":1}]}",
		  RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[[\"a\"]]}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":{}}", RC_APP_ERR_BAD_COMMAND },
		{ "{\"op\":\"subscribe\",\"resume\":[{\"topic\":\"a\",\"epoch\":\"0123456789abcdef\","
		  "\"seq\":1},]}",
		  RC_APP_ERR_BAD_JSON },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_assert_eq(cmd(cases[i].s, &c), cases[i].e, "%s: %s", cases[i].s, c.reason);
	/* 64 topics in all, counted across the two lists */
	char s[8192];
	int n = sprintf(s, "{\"op\":\"subscribe\",\"topics\":[");
	for (int i = 0; i < 60; i++)
		n += sprintf(s + n, "%s\"t%d\"", i ? "," : "", i);
	n += sprintf(s + n, "],\"resume\":[");
	for (int i = 0; i < 5; i++)
		n += sprintf(s + n, "%s{\"topic\":\"r%d\",\"epoch\":\"0000000000000001\",\"seq\":1}",
		             i ? "," : "", i);
	sprintf(s + n, "]}");
	cr_assert_eq(cmd(s, &c), RC_APP_ERR_TOO_MANY_TOPICS);
}

Test(app, cmd_write_round_trip)
{
	rc_app_cmd c = { .op = RC_APP_OP_SUBSCRIBE,
		             .topics_len = 3,
		             .resume_from = 1,
		             .snapshot = true,
		             .interval_ms = 100,
		             .id = sl("\"q\"") };
	c.topics[0] = sl("a");
	c.topics[1] = sl("b/c");
	c.topics[2] = sl(repeat(0, 'z', 128));
	c.resume[1] = (rc_app_pos){ 0xabcdef, 7 };
	c.resume[2] = (rc_app_pos){ UINT64_MAX, UINT64_MAX };
	uint8_t out[RC_APP_CMD_FULL_MAX];
	size_t n = rc_app_cmd_write(out, sizeof out, &c);
	cr_assert_gt(n, 0);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_cmd_write(out, cap, &c), 0, "cap %zu", cap);
	rc_app_cmd back;
	cr_assert_eq(cmd_n(out, n, &back), RC_APP_OK, "%.*s", (int)n, out);
	cr_assert_eq(back.topics_len, 3);
	cr_assert_eq(back.resume_from, 1);
	cr_assert(slice_is(back.topics[1], "b/c"));
	cr_assert_eq(back.resume[1].epoch, 0xabcdef);
	cr_assert_eq(back.resume[2].seq, UINT64_MAX);
	cr_assert(back.snapshot && back.interval_ms == 100 && slice_is(back.id, "\"q\""));
	/* only resume; then an unsubscribe, which has none of the options */
	c.resume_from = 0;
	cr_assert_eq(cmd_n(out, rc_app_cmd_write(out, sizeof out, &c), &back), RC_APP_OK);
	cr_assert_eq(back.resume_from, 0);
	c.op = RC_APP_OP_UNSUBSCRIBE;
	cr_assert_eq(rc_app_cmd_write(out, sizeof out, &c), 0, "an unsubscribe has no snapshot");
	c.snapshot = false;
	c.interval_ms = 0;
	n = rc_app_cmd_write(out, sizeof out, &c);
	expect_out(
	        out, n,
	        "{\"op\":\"unsubscribe\",\"topics\":[\"a\",\"b/c\",\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	        "zzzzzzzzzzzzz\"],\"id\":\"q\"}");
}

Test(app, notice_positions_and_reset)
{
	uint8_t out[RC_APP_NOTICE_MAX];
	rc_app_slice t[2] = { sl("a"), sl("b") };
	rc_app_pos pos[2] = { { 0x9f3a0c1d2e4b5a69ull, 1234 }, { 1, 0 } };
	size_t n = rc_app_notice_subscribed_at(out, sizeof out, t, pos, 2);
	expect_out(out, n,
	           "{\"type\":\"subscribed\",\"topics\":[\"a\",\"b\"],\"positions\":[{\"epoch\":"
	           "\"9f3a0c1d2e4b5a69\",\"seq\":1234},{\"epoch\":\"0000000000000001\",\"seq\":0}]}");
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_app_notice_subscribed_at(out, cap, t, pos, 2), 0);
	rc_app_notice nt;
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.positions_len, 2);
	cr_assert_eq(nt.positions[0].epoch, 0x9f3a0c1d2e4b5a69ull);
	cr_assert_eq(nt.positions[0].seq, 1234);
	cr_assert_eq(nt.positions[1].seq, 0);
	/* a subscribed notice without positions is still one (older servers) */
	cr_assert_eq(notice("{\"type\":\"subscribed\",\"topics\":[\"a\"]}", &nt), RC_APP_OK);
	cr_assert_eq(nt.positions_len, 0);
	cr_assert_eq(notice("{\"type\":\"subscribed\",\"topics\":[\"a\"],\"positions\":[]}", &nt),
	             RC_APP_ERR_BAD_COMMAND, "not one position per topic");
	cr_assert_eq(notice("{\"type\":\"missed\",\"topic\":\"a\",\"count\":1,\"positions\":[]}", &nt),
	             RC_APP_ERR_BAD_COMMAND);

	n = rc_app_notice_reset(out, sizeof out, (const uint8_t *)"BTC-USD", 7, RC_APP_RESET_HISTORY,
	                        0xab, 1201, true);
	expect_out(out, n,
	           "{\"type\":\"reset\",\"topic\":\"BTC-USD\",\"reason\":\"history\",\"epoch\":"
	           "\"00000000000000ab\",\"first\":1201,\"snapshot\":true}");
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_RESET);
	cr_assert(slice_is(nt.topics[0], "BTC-USD"));
	cr_assert_eq(nt.reset, RC_APP_RESET_HISTORY);
	cr_assert_eq(nt.epoch, 0xab);
	cr_assert_eq(nt.first, 1201);
	cr_assert(nt.snapshot);
	n = rc_app_notice_reset(out, sizeof out, (const uint8_t *)"a", 1, RC_APP_RESET_EPOCH, 1, 1,
	                        false);
	cr_assert_eq(notice_n(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.reset, RC_APP_RESET_EPOCH);
	cr_assert_not(nt.snapshot);
	cr_assert_eq(rc_app_notice_reset(out, sizeof out, (const uint8_t *)"a", 1, 0, 1, 1, false), 0);
	cr_assert_eq(rc_app_notice_reset(out, sizeof out, (const uint8_t *)"a", 1, RC_APP_RESET_EPOCH,
	                                 1, 0, false),
	             0, "first is at least 1");
	cr_assert_eq(notice("{\"type\":\"reset\",\"topic\":\"a\",\"reason\":\"other\",\"epoch\":"
	                    "\"0000000000000001\",\"first\":1,\"snapshot\":false}",
	                    &nt),
	             RC_APP_ERR_BAD_COMMAND);
	cr_assert_eq(notice("{\"type\":\"reset\",\"topic\":\"a\",\"reason\":\"epoch\",\"epoch\":"
	                    "\"0000000000000001\",\"first\":1,\"snapshot\":false,\"id\":1}",
	                    &nt),
	             RC_APP_ERR_BAD_COMMAND, "a reset answers no command");
	cr_assert_eq(notice("{\"type\":\"reset\",\"topic\":\"a\",\"reason\":\"epoch\",\"epoch\":"
	                    "\"0000000000000001\",\"first\":1}",
	                    &nt),
	             RC_APP_ERR_BAD_COMMAND, "snapshot is required");
}

Test(app, query_snapshot_and_interval)
{
	rc_app_slice topics[4];
	uint8_t store[256];
	rc_app_connect c;
	static const struct {
		const char *q;
		enum rc_app_query_error e;
		bool snapshot;
		uint32_t interval;
	} cases[] = {
		{ "topics=a&snapshot=1", RC_APP_QUERY_OK, true, 0 },
		{ "snapshot=0&interval_ms=250", RC_APP_QUERY_OK, false, 250 },
		{ "interval_ms=60000", RC_APP_QUERY_OK, false, 60000 },
		{ "interval_ms=0", RC_APP_QUERY_OK, false, 0 },
		{ "snapshot=2", RC_APP_QUERY_BAD_SNAPSHOT, false, 0 },
		{ "snapshot=", RC_APP_QUERY_BAD_SNAPSHOT, false, 0 },
		{ "snapshot", RC_APP_QUERY_BAD_SNAPSHOT, false, 0 },
		{ "snapshot=1&snapshot=1", RC_APP_QUERY_BAD_SNAPSHOT, false, 0 },
		{ "interval_ms=60001", RC_APP_QUERY_BAD_INTERVAL, false, 0 },
		{ "interval_ms=100000", RC_APP_QUERY_BAD_INTERVAL, false, 0 },
		{ "interval_ms=1e3", RC_APP_QUERY_BAD_INTERVAL, false, 0 },
		{ "interval_ms=", RC_APP_QUERY_BAD_INTERVAL, false, 0 },
		{ "interval_ms=5&interval_ms=5", RC_APP_QUERY_BAD_INTERVAL, false, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rc_app_connect_init(&c, topics, 4, store, sizeof store);
		enum rc_app_query_error e =
		        rc_app_query_parse(&c, (const uint8_t *)cases[i].q, strlen(cases[i].q));
		cr_assert_eq(e, cases[i].e, "%s", cases[i].q);
		cr_assert_str_neq(rc_app_query_reason(e), "unknown");
		if (e != RC_APP_QUERY_OK)
			continue;
		cr_assert_eq(c.snapshot, cases[i].snapshot, "%s", cases[i].q);
		cr_assert_eq(c.interval_ms, cases[i].interval, "%s", cases[i].q);
	}
	rc_app_connect w = { .topics = topics, .topics_len = 1, .snapshot = true, .interval_ms = 40 };
	topics[0] = sl("a");
	uint8_t out[128];
	size_t n = rc_app_target_encode(out, sizeof out, &w);
	expect_out(out, n, "/ws?topics=a&snapshot=1&interval_ms=40");
}

/* ---- auth command and authorized notice ---------------------------------------------------- */

Test(app, cmd_auth)
{
	rc_app_cmd cmd;
	const char *ok = "{ \"id\": \"r1\", \"op\": \"auth\", \"token\": \"aaa.bbb.ccc\" }";
	cr_assert_eq(rc_app_cmd_parse((const uint8_t *)ok, strlen(ok), &cmd), RC_APP_OK);
	cr_assert_eq(cmd.op, RC_APP_OP_AUTH);
	cr_assert_eq(cmd.topics_len, 0);
	cr_assert(slice_is(cmd.token, "aaa.bbb.ccc"));
	cr_assert(slice_is(cmd.id, "\"r1\""));
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{\"op\":\"auth\"}", "missing \"token\"" },
		{ "{\"op\":\"auth\",\"token\":\"\"}", "\"token\" is empty" },
		{ "{\"op\":\"auth\",\"token\":\"a b\"}",
		  "\"token\" has a byte outside 0x21..0x7E, or an escape" },
		{ "{\"op\":\"auth\",\"token\":\"a\\u0041\"}",
		  "\"token\" has a byte outside 0x21..0x7E, or an escape" },
		{ "{\"op\":\"auth\",\"token\":\"t\",\"topics\":[\"a\"]}", "a key auth does not have" },
		{ "{\"op\":\"auth\",\"token\":\"t\",\"snapshot\":true}", "a key auth does not have" },
		{ "{\"op\":\"subscribe\",\"topics\":[\"a\"],\"token\":\"t\"}", "a key only auth has" },
		{ "{\"op\":\"auth\",\"token\":7}", NULL },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum rc_app_error e =
		        rc_app_cmd_parse((const uint8_t *)bad[i].text, strlen(bad[i].text), &cmd);
		cr_assert_neq(e, RC_APP_OK, "%s", bad[i].text);
		if (bad[i].why != NULL)
			cr_assert_str_eq(cmd.reason, bad[i].why, "%s", bad[i].text);
	}
	/* the longest token, and one byte more */
	static char big[RC_APP_TOKEN_MAX + 64];
	int n = snprintf(big, sizeof big, "{\"op\":\"auth\",\"token\":\"%s\"}",
	                 repeat(0, 't', RC_APP_TOKEN_MAX));
	cr_assert_eq(rc_app_cmd_parse((const uint8_t *)big, (size_t)n, &cmd), RC_APP_OK);
	cr_assert_eq(cmd.token.len, RC_APP_TOKEN_MAX);
	n = snprintf(big, sizeof big, "{\"op\":\"auth\",\"token\":\"%s\"}",
	             repeat(0, 't', RC_APP_TOKEN_MAX + 1));
	cr_assert_neq(rc_app_cmd_parse((const uint8_t *)big, (size_t)n, &cmd), RC_APP_OK);
	/* written as parsed */
	uint8_t out[RC_APP_CMD_FULL_MAX];
	rc_app_cmd w = { .op = RC_APP_OP_AUTH, .token = sl("x.y.z"), .id = sl("42") };
	size_t len = rc_app_cmd_write(out, sizeof out, &w);
	cr_assert_eq(len, strlen("{\"op\":\"auth\",\"token\":\"x.y.z\",\"id\":42}"));
	cr_assert(memcmp(out, "{\"op\":\"auth\",\"token\":\"x.y.z\",\"id\":42}", len) == 0);
	cr_assert_eq(rc_app_cmd_parse(out, len, &cmd), RC_APP_OK);
	cr_assert(slice_is(cmd.token, "x.y.z"));
	w.token = sl("a\"b");
	cr_assert_eq(rc_app_cmd_write(out, sizeof out, &w), 0, "a token that cannot be sent");
}

Test(app, notice_authorized)
{
	uint8_t out[RC_APP_NOTICE_AUTHORIZED_MAX + RC_APP_ID_NOTICE_EXTRA];
	size_t n = rc_app_notice_authorized(out, sizeof out, true, UINT64_MAX);
	cr_assert_eq(n, RC_APP_NOTICE_AUTHORIZED_MAX, "the worst case is exact");
	n = rc_app_notice_authorized(out, sizeof out, true, 1767225600);
	cr_assert(memcmp(out, "{\"type\":\"authorized\",\"exp\":1767225600}", n) == 0);
	n = rc_app_notice_add_id(out, n, sizeof out, sl("\"r1\""));
	rc_app_notice nt;
	cr_assert_eq(rc_app_notice_parse(out, n, &nt), RC_APP_OK);
	cr_assert_eq(nt.type, RC_APP_NOTICE_AUTHORIZED);
	cr_assert(nt.has_exp && nt.exp == 1767225600);
	cr_assert(slice_is(nt.id, "\"r1\""));
	n = rc_app_notice_authorized(out, sizeof out, false, 0);
	cr_assert(memcmp(out, "{\"type\":\"authorized\"}", n) == 0);
	cr_assert_eq(rc_app_notice_parse(out, n, &nt), RC_APP_OK);
	cr_assert_not(nt.has_exp);
	const char *bad = "{\"type\":\"authorized\",\"topic\":\"a\"}";
	cr_assert_neq(rc_app_notice_parse((const uint8_t *)bad, strlen(bad), &nt), RC_APP_OK);
	const char *forb = "{\"type\":\"error\",\"code\":\"forbidden\",\"message\":\"token expired\"}";
	cr_assert_eq(rc_app_notice_parse((const uint8_t *)forb, strlen(forb), &nt), RC_APP_OK);
	cr_assert_eq(nt.code, RC_APP_ERR_FORBIDDEN);
}
