/* Tests of rc_close: the validity of every code against the ranges of RFC 6455 §7.4 and the IANA
 * registry (written out again here, independently of rc_close.c), close payload parsing on guarded
 * inputs, and rc_close_payload's round trip and truncation at a UTF-8 character boundary. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rc_close.h"
#include "rc_test.h"
#include "rc_utf8.h"

/* RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011 for use on the wire (1004 reserved; 1005, 1006,
 * 1015 reporting only); the IANA registry adds 1012 (service restart), 1013 (try again later) and
 * 1014 (bad gateway); §7.4.2 opens 3000-3999 (registered) and 4000-4999 (private). */
static bool spec_valid(uint32_t code)
{
	static const uint16_t listed[] = { 1000, 1001, 1002, 1003, 1007, 1008,
		                               1009, 1010, 1011, 1012, 1013, 1014 };
	for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) {
		if (code == listed[i])
			return true;
	}
	return code / 1000 == 3 || code / 1000 == 4;
}

Test(close, validity_of_every_code)
{
	size_t n_valid = 0;
	for (uint32_t c = 0; c <= 0xFFFF; c++) {
		cr_assert_eq(rc_close_code_valid((uint16_t)c), spec_valid(c), "code %u", c);
		n_valid += spec_valid(c);
	}
	cr_assert_eq(n_valid, 12 + 2000);
}

Test(close, names_never_null)
{
	for (uint32_t c = 0; c <= 0xFFFF; c++) {
		const char *name = rc_close_code_name((uint16_t)c);
		cr_assert_not_null(name, "code %u", c);
		cr_assert_gt(strlen(name), 0, "code %u", c);
	}
	static const uint16_t named[] = { 1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010,
		                              1011, 1012, 1013, 1014, 4000, 4001, 4002, 4003, 4004 };
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		cr_assert_str_neq(rc_close_code_name(named[i]), "unknown", "code %u", named[i]);
	cr_assert_str_eq(rc_close_code_name(1000), "normal");
	cr_assert_str_eq(rc_close_code_name(1002), "protocol error");
	cr_assert_str_eq(rc_close_code_name(999), "unknown");
	cr_assert_str_eq(rc_close_code_name(65535), "unknown");
}

/* ---- rc_close_parse ------------------------------------------------------------------------- */

#define SENTINEL_CODE 0xBEEF

struct parsed {
	uint16_t ret;
	uint16_t code;
	size_t reason_off; /* reason - p */
	size_t reason_len;
};

/* Parse p[0..n) from a guarded copy. On failure the outputs must be untouched. */
static struct parsed parse(const void *p, size_t n)
{
	rc_guard g = rc_guard_copy(p, n);
	uint16_t code = SENTINEL_CODE;
	const uint8_t *reason = (const uint8_t *)&code;
	size_t reason_len = 12345;
	struct parsed r = { .ret = rc_close_parse(g.data, n, &code, &reason, &reason_len) };
	if (r.ret != 0) {
		cr_assert_eq(code, SENTINEL_CODE, "code written on failure");
		cr_assert_eq(reason, (const uint8_t *)&code, "reason written on failure");
		cr_assert_eq(reason_len, 12345, "reason_len written on failure");
	} else {
		cr_assert_leq(reason_len, n);
		if (n > 0) {
			cr_assert(reason >= g.data && reason + reason_len == g.data + n,
			          "the reason must be the rest of the payload, in place");
		}
		r.code = code;
		r.reason_off = n > 0 ? (size_t)(reason - g.data) : 0;
		r.reason_len = reason_len;
	}
	rc_guard_free(&g);
	return r;
}

Test(close, parse_empty)
{
	struct parsed r = parse(NULL, 0);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.code, RC_CLOSE_NO_STATUS);
	cr_assert_eq(r.reason_len, 0);
}

Test(close, parse_one_byte)
{
	for (unsigned b = 0; b < 256; b++) {
		uint8_t one = (uint8_t)b;
		cr_assert_eq(parse(&one, 1).ret, RC_CLOSE_PROTOCOL, "byte %u", b);
	}
}

Test(close, parse_code_only)
{
	struct parsed r = parse("\x03\xe8", 2);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.code, 1000);
	cr_assert_eq(r.reason_off, 2);
	cr_assert_eq(r.reason_len, 0);
	r = parse("\x0f\xa0", 2);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.code, 4000);
}

Test(close, parse_every_code)
{
	/* one guarded 2-byte input, rewritten for each code */
	rc_guard g = rc_guard_copy("\0\0", 2);
	for (uint32_t c = 0; c <= 0xFFFF; c++) {
		g.data[0] = (uint8_t)(c >> 8);
		g.data[1] = (uint8_t)c;
		uint16_t code = SENTINEL_CODE;
		const uint8_t *reason = NULL;
		size_t reason_len = 99;
		uint16_t ret = rc_close_parse(g.data, 2, &code, &reason, &reason_len);
		if (spec_valid(c)) {
			cr_assert_eq(ret, 0, "code %u", c);
			cr_assert_eq(code, c);
			cr_assert_eq(reason_len, 0);
		} else {
			cr_assert_eq(ret, RC_CLOSE_PROTOCOL, "code %u gave %u", c, ret);
			cr_assert_eq(code, SENTINEL_CODE);
		}
	}
	rc_guard_free(&g);
}

Test(close, parse_ascii_reason)
{
	struct parsed r = parse("\x03\xe9going away now", 16);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.code, 1001);
	cr_assert_eq(r.reason_off, 2);
	cr_assert_eq(r.reason_len, 14);
}

Test(close, parse_multibyte_reason)
{
	/* 1000, "κόσμε €😀" */
	static const char p[] = "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xe2\x82\xac"
	                        "\xf0\x9f\x98\x80";
	struct parsed r = parse(p, sizeof p - 1);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.code, 1000);
	cr_assert_eq(r.reason_len, sizeof p - 1 - 2);
}

Test(close, parse_length_limit)
{
	uint8_t p[200];
	p[0] = 0x03;
	p[1] = 0xe8;
	memset(p + 2, 'a', sizeof p - 2);
	struct parsed r = parse(p, 125);
	cr_assert_eq(r.ret, 0, "125 bytes is the longest control payload");
	cr_assert_eq(r.reason_len, 123);
	cr_assert_eq(parse(p, 126).ret, RC_CLOSE_PROTOCOL);
	cr_assert_eq(parse(p, 200).ret, RC_CLOSE_PROTOCOL);
	/* 125 bytes of multi-byte reason: 41 x "€" */
	for (size_t i = 0; i < 41; i++)
		memcpy(p + 2 + 3 * i, "\xe2\x82\xac", 3);
	r = parse(p, 125);
	cr_assert_eq(r.ret, 0);
	cr_assert_eq(r.reason_len, 123);
	/* too long is a protocol error even if the reason is also bad UTF-8 */
	p[125] = 0xff;
	cr_assert_eq(parse(p, 126).ret, RC_CLOSE_PROTOCOL);
}

Test(close, parse_invalid_codes)
{
	static const uint16_t bad[] = { 0,    1,    999,  1004, 1005, 1006,   1015, 1016,
		                            1999, 2000, 2999, 5000, 5001, 0x8000, 65535 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t p[6] = { (uint8_t)(bad[i] >> 8), (uint8_t)bad[i], 'x', 'y', 'z', '!' };
		cr_assert_eq(parse(p, 2).ret, RC_CLOSE_PROTOCOL, "code %u", bad[i]);
		cr_assert_eq(parse(p, 6).ret, RC_CLOSE_PROTOCOL, "code %u with a reason", bad[i]);
		p[2] = 0xff; /* a bad code is reported before a bad reason */
		cr_assert_eq(parse(p, 6).ret, RC_CLOSE_PROTOCOL, "code %u with a bad reason", bad[i]);
	}
	/* and the edges just inside */
	static const uint16_t good[] = { 1000, 1003, 1007, 1011, 1012, 1014, 3000, 3999, 4000, 4999 };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		uint8_t p[2] = { (uint8_t)(good[i] >> 8), (uint8_t)good[i] };
		struct parsed r = parse(p, 2);
		cr_assert_eq(r.ret, 0, "code %u", good[i]);
		cr_assert_eq(r.code, good[i]);
	}
}

Test(close, parse_invalid_utf8_reason)
{
	static const struct {
		const char *p;
		size_t n;
	} t[] = {
		{ "\x03\xe8\xff", 3 },
		{ "\x03\xe8\x80", 3 },
		{ "\x03\xe8"
		  "abc\xc0\xaf",
		  7 }, /* overlong */
		{ "\x03\xe8"
		  "ok\xed\xa0\x80",
		  7 },                             /* surrogate */
		{ "\x03\xe8\xf4\x90\x80\x80", 6 }, /* above U+10FFFF */
		{ "\x0f\xa0\xce\xba\xce", 5 },     /* truncated at the end */
		{ "\x03\xe8"
		  "abc\xe2\x82",
		  7 },                         /* truncated at the end */
		{ "\x03\xe8\xf0\x9f\x98", 5 }, /* truncated at the end */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_assert_eq(parse(t[i].p, t[i].n).ret, RC_CLOSE_INVALID_DATA, "case %zu", i);
}

/* ---- rc_close_payload ------------------------------------------------------------------------ */

#define PAYLOAD_MAX (2 + RC_CLOSE_REASON_MAX)

/* Build a payload into a guarded buffer of exactly PAYLOAD_MAX bytes (a write past it faults),
 * check that it parses back to code and a prefix of reason, and return that prefix's length. */
static size_t payload_round_trip(uint16_t code, const char *reason)
{
	uint8_t zero[PAYLOAD_MAX] = { 0 };
	rc_guard out = rc_guard_copy(zero, sizeof zero);
	size_t n = rc_close_payload(out.data, code, reason);
	cr_assert(n >= 2 && n <= PAYLOAD_MAX, "payload length %zu", n);
	cr_assert_eq(out.data[0], code >> 8);
	cr_assert_eq(out.data[1], code & 0xFF);
	size_t len = n - 2;
	if (reason != NULL)
		cr_assert_arr_eq(out.data + 2, reason, len, "the reason is copied as is");
	else
		cr_assert_eq(len, 0);
	for (size_t i = n; i < PAYLOAD_MAX; i++)
		cr_assert_eq(out.data[i], 0, "byte %zu after the payload was written", i);

	struct parsed r = parse(out.data, n);
	cr_assert_eq(r.ret, 0, "our own payload must parse (code %u)", code);
	cr_assert_eq(r.code, code);
	cr_assert_eq(r.reason_len, len);
	rc_guard_free(&out);
	return len;
}

Test(close, payload_round_trip)
{
	cr_assert_eq(payload_round_trip(1000, "bye"), 3);
	cr_assert_eq(payload_round_trip(1001, ""), 0);
	cr_assert_eq(payload_round_trip(1002, NULL), 0);
	cr_assert_eq(payload_round_trip(4000, "slow consumer: 17 messages dropped"), 34);
	cr_assert_eq(payload_round_trip(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 11);
	for (uint32_t c = 0; c <= 0xFFFF; c++) {
		if (rc_close_code_valid((uint16_t)c))
			cr_assert_eq(payload_round_trip((uint16_t)c, "r"), 1);
	}
}

Test(close, payload_truncates_ascii)
{
	char reason[300];
	for (size_t len = 120; len < sizeof reason; len++) {
		memset(reason, 'x', len);
		reason[len] = '\0';
		size_t want = len < RC_CLOSE_REASON_MAX ? len : RC_CLOSE_REASON_MAX;
		cr_assert_eq(payload_round_trip(1000, reason), want, "reason of %zu bytes", len);
	}
}

Test(close, payload_truncates_at_character_boundary)
{
	/* k ASCII bytes, then characters of w bytes: the cut must fall at the last whole character
	 * that fits, for every offset of the limit inside a character */
	static const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	for (size_t ci = 0; ci < 3; ci++) {
		size_t w = strlen(chars[ci]);
		for (size_t k = 0; k < 8; k++) {
			char reason[400];
			memset(reason, 'a', k);
			size_t n = k;
			while (n + w < sizeof reason - 1) {
				memcpy(reason + n, chars[ci], w);
				n += w;
			}
			reason[n] = '\0';
			size_t want = k + (RC_CLOSE_REASON_MAX - k) / w * w;
			size_t got = payload_round_trip(1000, reason);
			cr_assert_eq(got, want, "width %zu, %zu ASCII first: %zu bytes, expected %zu", w, k,
			             got, want);
			cr_assert(rc_utf8_valid((const uint8_t *)reason, got));
		}
	}
}

Test(close, payload_drops_invalid_utf8)
{
	/* a reason is ours, so this is a bug elsewhere; the frame sent must still be valid */
	cr_assert_eq(payload_round_trip(1011, "ok\xff"
	                                      "after"),
	             2);
	cr_assert_eq(payload_round_trip(1011, "ok\xed\xa0\x80"), 2);
	cr_assert_eq(payload_round_trip(1011, "abc\xe2\x82"), 3);
	cr_assert_eq(payload_round_trip(1011, "\x80"), 0);
}

Test(close, payload_reads_no_further_than_the_limit)
{
	/* a reason of 123 bytes followed by an unmapped page and no terminator: only the bytes that
	 * can go on the wire are read */
	char big[RC_CLOSE_REASON_MAX];
	memset(big, 'q', sizeof big);
	rc_guard in = rc_guard_copy(big, sizeof big);
	cr_assert_eq(payload_round_trip(1000, (const char *)in.data), RC_CLOSE_REASON_MAX);
	rc_guard_free(&in);
}
