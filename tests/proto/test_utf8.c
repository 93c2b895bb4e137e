/* Tests of rc_utf8: named vectors (Unicode Table 3-7 edges, every overlong and surrogate form, the
 * Autobahn section 6 cases), each fed whole, at every split point and byte by byte; a randomized
 * comparison with a reference decoder written here from a different principle; and the boundaries
 * of the word-at-a-time ASCII scan at every alignment. Every input goes through rc_guard_copy, each
 * piece on its own, so reading one byte past a piece faults; and because a guarded copy always ends
 * on a page (so 8-byte) boundary, inputs are also fed from exact-size heap blocks ending at every
 * alignment, where ASan catches an over-read inside the last word. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rc_test.h"
#include "rc_utf8.h"

/* A guarded copy always ends on a page boundary, so its end is 8-byte aligned and a word loop
 * never needs its bytewise tail there. These copies end anywhere: s[0..n) at s + align in a heap
 * block of exactly align + n bytes, so ASan reports a read of even one byte past the end. */
static size_t feed_heap(const void *s, size_t n, size_t align, bool *complete)
{
	uint8_t *block = malloc(align + n + (align + n == 0));
	cr_assert_not_null(block);
	memcpy(block + align, s, n);
	rc_utf8 v;
	rc_utf8_init(&v);
	size_t r = rc_utf8_feed(&v, block + align, n);
	*complete = rc_utf8_complete(&v);
	cr_assert_eq(rc_utf8_valid(block + align, n), *complete);
	free(block);
	return r;
}

/* ---- named vectors ---------------------------------------------------------------------------- */

struct utf8_case {
	const char *name;
	const char *bytes;
	size_t len;
	size_t ok; /* expected rc_utf8_feed result on the whole input: len, or the first bad index */
	bool complete; /* expected rc_utf8_complete afterwards (== rc_utf8_valid) */
};

#define CASE(name, lit, ok, complete) \
	{ \
		name, lit, sizeof(lit) - 1, ok, complete \
	}
#define VALID(name, lit) CASE(name, lit, sizeof(lit) - 1, true)
#define OPEN(name, lit) CASE(name, lit, sizeof(lit) - 1, false) /* valid so far, not complete */
#define BAD(name, lit, at) CASE(name, lit, at, false)

/* Literals are split after a hex escape ("\xb5" "e") so that a following hex letter is not read
 * as part of the escape. */
#define KOSME "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" /* κόσμε, 11 bytes */

static const struct utf8_case cases[] = {
	/* ASCII and the code point boundaries of each length */
	VALID("empty", ""),
	VALID("ascii", "Hello, ringcast!"),
	VALID("ascii NUL", "\x00"),
	VALID("ascii DEL U+007F", "\x7f"),
	VALID("2-byte min U+0080", "\xc2\x80"),
	VALID("2-byte max U+07FF", "\xdf\xbf"),
	VALID("3-byte min U+0800", "\xe0\xa0\x80"),
	VALID("U+0FFF (E0 max)", "\xe0\xbf\xbf"),
	VALID("U+1000 (E1 min)", "\xe1\x80\x80"),
	VALID("U+D7FF before surrogates", "\xed\x9f\xbf"),
	VALID("U+E000 after surrogates", "\xee\x80\x80"),
	VALID("U+FFFD", "\xef\xbf\xbd"),
	VALID("U+FFFE noncharacter", "\xef\xbf\xbe"),
	VALID("3-byte max U+FFFF", "\xef\xbf\xbf"),
	VALID("4-byte min U+10000", "\xf0\x90\x80\x80"),
	VALID("U+3FFFF (F0 max)", "\xf0\xbf\xbf\xbf"),
	VALID("U+40000 (F1 min)", "\xf1\x80\x80\x80"),
	VALID("U+FFFFF (F3 max)", "\xf3\xbf\xbf\xbf"),
	VALID("U+100000 (F4 min)", "\xf4\x80\x80\x80"),
	VALID("4-byte max U+10FFFF", "\xf4\x8f\xbf\xbf"),
	VALID("mixed lengths", "a\xc3\xa9z\xe2\x82\xac!\xf0\x9f\x98\x80."),
	/* above U+10FFFF: found at the second byte, or at the lead when no completion is possible */
	BAD("U+110000", "\xf4\x90\x80\x80", 1),
	BAD("F4 90 truncated", "\xf4\x90", 1),
	BAD("F4 BF", "\xf4\xbf\xbf\xbf", 1),
	BAD("F5 lead", "\xf5\x80\x80\x80", 0),
	BAD("F7 BF BF BF (U+1FFFFF)", "\xf7\xbf\xbf\xbf", 0),
	BAD("F8 5-byte form", "\xf8\x88\x80\x80\x80", 0),
	BAD("FB 5-byte max", "\xfb\xbf\xbf\xbf\xbf", 0),
	BAD("FC 6-byte form", "\xfc\x84\x80\x80\x80\x80", 0),
	BAD("FD 6-byte max", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
	BAD("FE", "\xfe", 0),
	BAD("FF", "\xff", 0),
	BAD("FE FE FF FF", "\xfe\xfe\xff\xff", 0),
	BAD("ascii then FF", "abc\xff", 3),
	/* overlong forms: C0 and C1 at once, E0 and F0 at the second byte */
	BAD("overlong NUL 2 bytes", "\xc0\x80", 0),
	BAD("overlong NUL 3 bytes", "\xe0\x80\x80", 1),
	BAD("overlong NUL 4 bytes", "\xf0\x80\x80\x80", 1),
	BAD("overlong '/' 2 bytes", "\xc0\xaf", 0),
	BAD("overlong '/' 3 bytes", "\xe0\x80\xaf", 1),
	BAD("overlong '/' 4 bytes", "\xf0\x80\x80\xaf", 1),
	BAD("overlong '/' 5 bytes", "\xf8\x80\x80\x80\xaf", 0),
	BAD("overlong '/' 6 bytes", "\xfc\x80\x80\x80\x80\xaf", 0),
	BAD("overlong U+007F 2 bytes", "\xc1\xbf", 0),
	BAD("overlong U+07FF 3 bytes", "\xe0\x9f\xbf", 1),
	BAD("overlong U+FFFF 4 bytes", "\xf0\x8f\xbf\xbf", 1),
	BAD("C0 alone", "\xc0", 0),
	BAD("C1 alone", "\xc1", 0),
	BAD("E0 80 truncated", "\xe0\x80", 1),
	BAD("F0 8F truncated", "\xf0\x8f", 1),
	/* UTF-16 surrogates: found at the second byte */
	BAD("surrogate U+D800", "\xed\xa0\x80", 1),
	BAD("surrogate U+DB7F", "\xed\xad\xbf", 1),
	BAD("surrogate U+DB80", "\xed\xae\x80", 1),
	BAD("surrogate U+DBFF", "\xed\xaf\xbf", 1),
	BAD("surrogate U+DC00", "\xed\xb0\x80", 1),
	BAD("surrogate U+DF80", "\xed\xbe\x80", 1),
	BAD("surrogate U+DFFF", "\xed\xbf\xbf", 1),
	BAD("surrogate pair D800 DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
	BAD("surrogate pair DBFF DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
	BAD("ED A0 truncated", "\xed\xa0", 1),
	BAD("surrogate after ascii", "ok\xed\xa0\x80", 3),
	/* continuation bytes where a lead or ASCII is due */
	BAD("lone 80", "\x80", 0),
	BAD("lone BF", "\xbf", 0),
	BAD("80 BF", "\x80\xbf", 0),
	BAD("ascii then 80", "ab\x80", 2),
	BAD("extra continuation after 2-byte", "\xc3\xa9\xa9", 2),
	BAD("extra continuation after 4-byte", "\xf0\x9f\x98\x80\x80", 4),
	/* a sequence interrupted */
	BAD("2-byte lead then ASCII", "\xc3(", 1),
	BAD("2-byte lead then space", "\xc2 ", 1),
	BAD("3-byte cut by ASCII", "\xe2\x82(", 2),
	BAD("4-byte cut by ASCII", "\xf0\x90\x80(", 3),
	BAD("3-byte cut by a new lead", "\xe2\xc3\xa9", 1),
	BAD("4-byte cut by C0", "\xf0\x90\x80\xc0", 3),
	BAD("valid then FF", "\xe2\x82\xac\xff", 3),
	/* truncated: valid so far, not complete */
	OPEN("2-byte lead only", "\xc3"),
	OPEN("DF only", "\xdf"),
	OPEN("3-byte, 1 of 3", "\xe2"),
	OPEN("3-byte, 2 of 3", "\xe2\x82"),
	OPEN("EF BF", "\xef\xbf"),
	OPEN("ED 9F (U+D7C0.. so far)", "\xed\x9f"),
	OPEN("4-byte, 1 of 4", "\xf0"),
	OPEN("4-byte, 2 of 4", "\xf0\x9f"),
	OPEN("4-byte, 3 of 4", "\xf0\x9f\x98"),
	OPEN("F4 8F BF", "\xf4\x8f\xbf"),
	OPEN("ascii then open", "abc\xf0\x9f"),
	/* Autobahn TestSuite section 6 */
	VALID("6.2.1 kosme", KOSME),
	BAD("6.3.1 kosme + surrogate + edited",
	    KOSME "\xed\xa0\x80"
	          "edited",
	    12),
	BAD("6.4.1 kosme + U+110000 + edited",
	    KOSME "\xf4\x90\x80\x80"
	          "edited",
	    12),
	BAD("6.4.x kosme + F4 90, fail before the sequence ends", KOSME "\xf4\x90", 12),
	VALID("6.6.1 progressive 1", "\xce\xba"),
	OPEN("6.6.2 progressive 2", "\xce\xba\xe1"),
	OPEN("6.6.3 progressive 3", "\xce\xba\xe1\xbd"),
	VALID("6.6.4 progressive 4", "\xce\xba\xe1\xbd\xb9"),
	OPEN("6.6.5 progressive 5", "\xce\xba\xe1\xbd\xb9\xcf"),
	VALID("6.7.1 U+0000", "\x00"),
	VALID("6.7.2 U+0080", "\xc2\x80"),
	VALID("6.7.3 U+0800", "\xe0\xa0\x80"),
	VALID("6.7.4 U+10000", "\xf0\x90\x80\x80"),
	VALID("6.9.3 U+FFFF", "\xef\xbf\xbf"),
	VALID("6.9.4 U+10FFFF", "\xf4\x8f\xbf\xbf"),
	VALID("6.11.5 U+10FFFF again", "\xf4\x8f\xbf\xbf"),
	BAD("6.13.1 lonely C0 + space", "\xc0\x20\xc1\x20", 0),
	BAD("6.13.2 lonely E0 + space", "\xe0\x20", 1),
	BAD("6.13.3 lonely F0 + space", "\xf0\x20", 1),
	BAD("6.14.10 last byte missing, concatenated", "\xc0\xe0\x80\xf0\x80\x80", 0),
	VALID("6.22.x noncharacter U+1FFFE", "\xf0\x9f\xbf\xbe"),
	VALID("6.22.x noncharacter U+10FFFE", "\xf4\x8f\xbf\xbe"),
	VALID("6.22.x noncharacter U+FDD0", "\xef\xb7\x90"),
	VALID("6.23.1 U+FFFD", "\xef\xbf\xbd"),
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* Feed s[0..n) cut at cuts[0..ncuts) (ascending), each piece in its own guarded copy, and check
 * that the calls are consistent with each other: while valid a piece is consumed whole, the first
 * short return marks the bad byte, every later call returns 0. Returns what a single feed of the
 * whole input must return, and sets *complete. */
static size_t feed_pieces(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
                          bool *complete)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	size_t start = 0;
	size_t result = n;
	bool failed = false;
	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : n;
		cr_assert(start <= end && end <= n, "bad cut list");
		size_t len = end - start;
		rc_guard g = rc_guard_copy(s + start, len);
		size_t r = rc_utf8_feed(&v, g.data, len);
		rc_guard_free(&g);
		cr_assert_leq(r, len, "feed returned %zu for a piece of %zu bytes", r, len);
		if (failed) {
			cr_assert_eq(r, 0, "feed after a failure returned %zu, not 0", r);
		} else if (r < len) {
			failed = true;
			result = start + r;
		}
		if (failed)
			cr_assert(!rc_utf8_complete(&v), "complete after a failure");
		start = end;
	}
	*complete = rc_utf8_complete(&v);
	cr_assert(!(*complete && failed));
	return result;
}

static void check_case(const struct utf8_case *tc, const size_t *cuts, size_t ncuts)
{
	bool complete;
	size_t ok = feed_pieces((const uint8_t *)tc->bytes, tc->len, cuts, ncuts, &complete);
	cr_assert_eq(ok, tc->ok, "%s (%zu cuts, first at %zu): feed gave %zu, expected %zu", tc->name,
	             ncuts, ncuts ? cuts[0] : 0, ok, tc->ok);
	cr_assert_eq(complete, tc->complete, "%s (%zu cuts, first at %zu): complete %d, expected %d",
	             tc->name, ncuts, ncuts ? cuts[0] : 0, complete, tc->complete);
}

Test(utf8, table_whole)
{
	for (size_t c = 0; c < N_CASES; c++) {
		const struct utf8_case *tc = &cases[c];
		cr_assert(tc->ok <= tc->len && (!tc->complete || tc->ok == tc->len), "bad case %s",
		          tc->name);
		check_case(tc, NULL, 0);
		rc_guard g = rc_guard_copy(tc->bytes, tc->len);
		cr_assert_eq(rc_utf8_valid(g.data, tc->len), tc->complete, "%s: rc_utf8_valid", tc->name);
		rc_guard_free(&g);
		for (size_t align = 0; align < 16; align++) {
			bool complete;
			cr_assert_eq(feed_heap(tc->bytes, tc->len, align, &complete), tc->ok,
			             "%s: heap copy at alignment %zu", tc->name, align);
			cr_assert_eq(complete, tc->complete, "%s: heap copy at alignment %zu", tc->name, align);
		}
	}
}

Test(utf8, table_split_once)
{
	for (size_t c = 0; c < N_CASES; c++) {
		for (size_t i = 0; i <= cases[c].len; i++)
			check_case(&cases[c], &i, 1);
	}
}

Test(utf8, table_split_twice)
{
	for (size_t c = 0; c < N_CASES; c++) {
		for (size_t i = 0; i <= cases[c].len; i++) {
			for (size_t j = i; j <= cases[c].len; j++) {
				size_t cuts[2] = { i, j };
				check_case(&cases[c], cuts, 2);
			}
		}
	}
}

Test(utf8, table_single_bytes)
{
	for (size_t c = 0; c < N_CASES; c++) {
		size_t cuts[64];
		cr_assert_lt(cases[c].len, 64);
		for (size_t i = 0; i < cases[c].len; i++)
			cuts[i] = i + 1;
		check_case(&cases[c], cuts, cases[c].len);
	}
}

/* ---- state edges ------------------------------------------------------------------------------ */

Test(utf8, empty_feeds)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	cr_assert(rc_utf8_complete(&v));
	cr_assert_eq(rc_utf8_feed(&v, NULL, 0), 0);
	cr_assert(rc_utf8_complete(&v));
	cr_assert(rc_utf8_valid(NULL, 0));

	/* an empty feed in the middle of a sequence leaves it open and unchanged */
	rc_guard a = rc_guard_copy("\xe2", 1), b = rc_guard_copy("\x82\xac", 2);
	cr_assert_eq(rc_utf8_feed(&v, a.data, 1), 1);
	cr_assert(!rc_utf8_complete(&v));
	cr_assert_eq(rc_utf8_feed(&v, NULL, 0), 0);
	cr_assert(!rc_utf8_complete(&v));
	cr_assert_eq(rc_utf8_feed(&v, b.data, 2), 2);
	cr_assert(rc_utf8_complete(&v));
	rc_guard_free(&a);
	rc_guard_free(&b);
}

Test(utf8, failure_is_sticky)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	rc_guard bad = rc_guard_copy("ab\xff", 3), good = rc_guard_copy("hello", 5);
	cr_assert_eq(rc_utf8_feed(&v, bad.data, 3), 2);
	cr_assert(!rc_utf8_complete(&v));
	cr_assert_eq(rc_utf8_feed(&v, good.data, 5), 0, "valid bytes after a failure are not accepted");
	cr_assert_eq(rc_utf8_feed(&v, NULL, 0), 0);
	cr_assert(!rc_utf8_complete(&v));
	/* init resets */
	rc_utf8_init(&v);
	cr_assert_eq(rc_utf8_feed(&v, good.data, 5), 5);
	cr_assert(rc_utf8_complete(&v));
	rc_guard_free(&bad);
	rc_guard_free(&good);
}

Test(utf8, open_sequence_then_bad_byte_in_next_feed)
{
	/* the range of the byte after the lead survives the feed boundary */
	static const struct {
		const char *lead, *next;
		size_t ok;
	} t[] = {
		{ "\xe0", "\x9f\xbf", 0 }, { "\xe0", "\xa0\x80", 2 }, { "\xed", "\xa0\x80", 0 },
		{ "\xed", "\x9f\xbf", 2 }, { "\xf0", "\x8f\xbf", 0 }, { "\xf0", "\x90\x80", 2 },
		{ "\xf4", "\x90\x80", 0 }, { "\xf4", "\x8f\xbf", 2 }, { "\xf1\x80", "\x80\x7f", 1 },
		{ "\xc2", "\xc2\xa9", 0 },
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		rc_utf8 v;
		rc_utf8_init(&v);
		size_t la = strlen(t[k].lead);
		rc_guard a = rc_guard_copy(t[k].lead, la), b = rc_guard_copy(t[k].next, 2);
		cr_assert_eq(rc_utf8_feed(&v, a.data, la), la);
		cr_assert_eq(rc_utf8_feed(&v, b.data, 2), t[k].ok, "case %zu", k);
		rc_guard_free(&a);
		rc_guard_free(&b);
	}
}

/* ---- randomized comparison with a reference ----------------------------------------------------- */

/* The reference knows nothing of Table 3-7. It takes the length of a sequence from its lead byte's
 * bit pattern, and after each byte asks whether any code point beginning with the bits read so far
 * could be encoded in that length: at least the length's minimum (not overlong), at most U+10FFFF,
 * and not only surrogates. The first byte after which none is left is the first invalid byte. */
static bool ref_possible(uint32_t prefix, unsigned unknown_bits, unsigned len)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t lo = prefix << unknown_bits;
	uint32_t hi = lo | ((1u << unknown_bits) - 1);
	if (lo < min_cp[len])
		lo = min_cp[len];
	if (hi > 0x10FFFF)
		hi = 0x10FFFF;
	if (lo > hi)
		return false;
	return !(lo >= 0xD800 && hi <= 0xDFFF);
}

static size_t ref_check(const uint8_t *s, size_t n, bool *complete)
{
	*complete = false;
	size_t i = 0;
	while (i < n) {
		uint8_t b = s[i];
		unsigned len;
		uint32_t cp;
		if (b < 0x80) {
			i++;
			continue;
		} else if ((b & 0xE0) == 0xC0) {
			len = 2, cp = b & 0x1F;
		} else if ((b & 0xF0) == 0xE0) {
			len = 3, cp = b & 0x0F;
		} else if ((b & 0xF8) == 0xF0) {
			len = 4, cp = b & 0x07;
		} else {
			return i; /* a continuation byte, or F8..FF */
		}
		for (unsigned k = 0;; k++) { /* k continuation bytes read */
			if (!ref_possible(cp, 6 * (len - 1 - k), len))
				return i + k;
			if (k == len - 1)
				break;
			if (i + k + 1 == n)
				return n; /* truncated: valid so far */
			uint8_t c = s[i + k + 1];
			if ((c & 0xC0) != 0x80)
				return i + k + 1;
			cp = cp << 6 | (c & 0x3F);
		}
		i += len;
	}
	*complete = true;
	return n;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng() % n);
}

/* Encode the low bits of x in a `len`-byte sequence (1..4) whatever x is: overlong, surrogate and
 * out-of-range forms come out of this as readily as valid ones. */
static size_t put_seq(uint8_t *out, uint32_t x, unsigned len)
{
	static const uint8_t lead_bits[5] = { 0, 0x00, 0xC0, 0xE0, 0xF0 };
	static const uint32_t lead_mask[5] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	out[0] = (uint8_t)(lead_bits[len] | ((x >> (6 * (len - 1))) & lead_mask[len]));
	for (unsigned k = 1; k < len; k++)
		out[k] = (uint8_t)(0x80 | ((x >> (6 * (len - 1 - k))) & 0x3F));
	return len;
}

static uint32_t interesting_cp(void)
{
	static const uint32_t edges[] = {
		0x00,    0x7F,    0x80,    0x7FF,    0x800,    0xFFF,    0x1000,   0xCFFF,   0xD000,
		0xD7FF,  0xD800,  0xDBFF,  0xDC00,   0xDFFF,   0xE000,   0xFFFD,   0xFFFF,   0x10000,
		0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF, 0x110000, 0x13FFFF, 0x140000, 0x1FFFFF,
	};
	if (rng_below(2))
		return edges[rng_below(sizeof edges / sizeof edges[0])];
	return rng_below(0x110000);
}

static size_t random_string(uint8_t *out, size_t cap)
{
	size_t n = 0;
	size_t tokens = rng_below(24);
	for (size_t t = 0; t < tokens && n + 20 <= cap; t++) {
		uint32_t kind = rng_below(100);
		if (kind < 30) { /* an ASCII run */
			size_t run = rng_below(20);
			for (size_t k = 0; k < run; k++)
				out[n++] = (uint8_t)rng_below(0x80);
		} else if (kind < 75) { /* a code point in its shortest form (may be a surrogate etc.) */
			uint32_t cp = interesting_cp();
			unsigned len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
			n += put_seq(out + n, cp, len);
		} else if (kind < 85) { /* any bits in any length: overlong forms */
			n += put_seq(out + n, interesting_cp(), 1 + rng_below(4));
		} else if (kind < 93) { /* any byte */
			out[n++] = (uint8_t)rng();
		} else { /* a lead-ish byte and a few continuation bytes */
			out[n++] = (uint8_t)(0xC0 + rng_below(0x40));
			for (uint32_t k = rng_below(4); k > 0; k--)
				out[n++] = (uint8_t)(0x80 + rng_below(0x40));
		}
	}
	if (n > 0 && rng_below(4) == 0)
		n -= rng_below((uint32_t)n + 1); /* cut anywhere, often inside a sequence */
	return n;
}

Test(utf8, random_against_reference)
{
	rng_state = 0x5EEDC0FFEEull;
	uint8_t buf[512];
	size_t seen_valid = 0, seen_bad = 0, seen_open = 0;
	for (int iter = 0; iter < 100000; iter++) {
		size_t n = random_string(buf, sizeof buf);
		bool ref_complete, complete;
		size_t ref_ok = ref_check(buf, n, &ref_complete);
		seen_valid += ref_complete;
		seen_bad += ref_ok < n;
		seen_open += ref_ok == n && !ref_complete;

		rc_guard g = rc_guard_copy(buf, n);
		rc_utf8 v;
		rc_utf8_init(&v);
		size_t ok = rc_utf8_feed(&v, g.data, n);
		cr_assert_eq(ok, ref_ok, "iteration %d: feed %zu, reference %zu (n %zu)", iter, ok, ref_ok,
		             n);
		cr_assert_eq(rc_utf8_complete(&v), ref_complete, "iteration %d: complete", iter);
		cr_assert_eq(rc_utf8_valid(g.data, n), ref_complete, "iteration %d: valid", iter);
		rc_guard_free(&g);
		ok = feed_heap(buf, n, rng_below(16), &complete);
		cr_assert_eq(ok, ref_ok, "iteration %d: heap copy: %zu, reference %zu", iter, ok, ref_ok);
		cr_assert_eq(complete, ref_complete, "iteration %d: heap copy: complete", iter);

		/* and once more in pieces at two random points */
		size_t cuts[2] = { rng_below((uint32_t)n + 1), 0 };
		cuts[1] = cuts[0] + rng_below((uint32_t)(n - cuts[0]) + 1);
		ok = feed_pieces(buf, n, cuts, 2, &complete);
		cr_assert_eq(ok, ref_ok, "iteration %d: split at %zu,%zu: %zu, reference %zu", iter,
		             cuts[0], cuts[1], ok, ref_ok);
		cr_assert_eq(complete, ref_complete, "iteration %d: split: complete", iter);
	}
	/* the generator must exercise all three outcomes, or this test proves little */
	cr_assert_gt(seen_valid, 10000);
	cr_assert_gt(seen_bad, 10000);
	cr_assert_gt(seen_open, 1000);
}

/* The reference itself, on the named vectors: if the two disagreed, one of them is wrong. */
Test(utf8, reference_agrees_with_table)
{
	for (size_t c = 0; c < N_CASES; c++) {
		bool complete;
		size_t ok = ref_check((const uint8_t *)cases[c].bytes, cases[c].len, &complete);
		cr_assert_eq(ok, cases[c].ok, "%s: reference %zu, table %zu", cases[c].name, ok,
		             cases[c].ok);
		cr_assert_eq(complete, cases[c].complete, "%s: reference complete", cases[c].name);
	}
}

/* ---- the ASCII word scan --------------------------------------------------------------------- */

/* rc_guard_copy ends the copy at a page boundary, so the start alignment of an n-byte copy is
 * (-n) mod 16: for a start alignment `align`, choose the lengths that give it. */
static size_t len_for_align(size_t min_len, unsigned align)
{
	size_t n = min_len;
	while ((size_t)(-n & 15) != align)
		n++;
	return n;
}

static void check_ascii_with(const uint8_t *ins, size_t ins_len, size_t expect_off, bool expect_ok)
{
	for (unsigned align = 0; align < 16; align++) {
		for (size_t off = 0; off <= 64; off++) {
			for (size_t extra = 0; extra < 3; extra++) {
				size_t n = len_for_align(off + ins_len, align) + 16 * extra;
				uint8_t buf[128];
				cr_assert_leq(n, sizeof buf);
				for (size_t k = 0; k < n; k++)
					buf[k] = (uint8_t)(' ' + (k * 7) % 95);
				memcpy(buf + off, ins, ins_len);
				rc_guard g = rc_guard_copy(buf, n);
				cr_assert_eq((uintptr_t)g.data & 15, align);
				rc_utf8 v;
				rc_utf8_init(&v);
				size_t got = rc_utf8_feed(&v, g.data, n);
				size_t want = expect_ok ? n : off + expect_off;
				cr_assert_eq(got, want, "align %u offset %zu len %zu: %zu, expected %zu", align,
				             off, n, got, want);
				cr_assert_eq(rc_utf8_complete(&v), expect_ok);
				rc_guard_free(&g);
				/* the same bytes ending at every alignment, not only on a page boundary */
				for (size_t end = 0; end < 8; end++) {
					bool complete;
					size_t m = off + ins_len + end;
					want = expect_ok ? m : off + expect_off;
					got = feed_heap(buf, m, align, &complete);
					cr_assert_eq(got, want, "heap: align %u offset %zu len %zu: %zu, expected %zu",
					             align, off, m, got, want);
					cr_assert_eq(complete, expect_ok);
				}
			}
		}
	}
}

Test(utf8, ascii_scan_stray_continuation_at_every_offset)
{
	check_ascii_with((const uint8_t *)"\x80", 1, 0, false);
}

Test(utf8, ascii_scan_ff_at_every_offset)
{
	check_ascii_with((const uint8_t *)"\xff", 1, 0, false);
}

Test(utf8, ascii_scan_valid_sequence_at_every_offset)
{
	check_ascii_with((const uint8_t *)"\xc3\xa9", 2, 0, true);
	check_ascii_with((const uint8_t *)"\xf0\x9f\x98\x80", 4, 0, true);
}

Test(utf8, ascii_scan_bad_second_byte_at_every_offset)
{
	check_ascii_with((const uint8_t *)"\xed\xa0\x80", 3, 1, false);
}

Test(utf8, ascii_only_every_length_and_alignment)
{
	uint8_t buf[96];
	for (size_t k = 0; k < sizeof buf; k++)
		buf[k] = (uint8_t)(k & 0x7F);
	for (size_t n = 0; n <= sizeof buf; n++) {
		rc_guard g = rc_guard_copy(buf, n);
		cr_assert(rc_utf8_valid(g.data, n), "length %zu", n);
		rc_guard_free(&g);
		for (size_t align = 0; align < 16; align++) {
			bool complete;
			cr_assert_eq(feed_heap(buf, n, align, &complete), n, "heap: length %zu align %zu", n,
			             align);
			cr_assert(complete);
		}
	}
	/* the byte at the very end, right before the guard page, is seen */
	for (size_t n = 1; n <= sizeof buf; n++) {
		buf[n - 1] = 0x80;
		rc_guard g = rc_guard_copy(buf, n);
		rc_utf8 v;
		rc_utf8_init(&v);
		cr_assert_eq(rc_utf8_feed(&v, g.data, n), n - 1, "length %zu", n);
		rc_guard_free(&g);
		for (size_t align = 0; align < 16; align++) {
			bool complete;
			cr_assert_eq(feed_heap(buf, n, align, &complete), n - 1, "heap: length %zu", n);
			cr_assert(!complete);
		}
		buf[n - 1] = (uint8_t)((n - 1) & 0x7F);
	}
}
