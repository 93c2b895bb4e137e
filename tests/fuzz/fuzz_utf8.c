/* Fuzz target for rc_utf8 (and the UTF-8 side of rc_close). Invariants, each checked on every input:
 *
 *   1. rc_utf8_feed over the whole input returns the same first-invalid index, and rc_utf8_complete
 *      / rc_utf8_valid the same verdict, as a reference decoder written here from a different
 *      principle (code point ranges rather than Unicode Table 3-7);
 *   2. feeding the input in pieces (cut points derived from its first bytes, each piece in its own
 *      exact-size heap copy so ASan sees any over-read) gives the same result, the first short
 *      return at the same place, and 0 from every later call;
 *   3. rc_close_parse on the input accepts and rejects exactly what the rules say, and
 *      rc_close_payload with the input as a reason writes the longest complete, valid prefix of at
 *      most 123 bytes, which parses back.
 * A broken invariant aborts, which libFuzzer reports as a crash with the input saved.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_close.h"
#include "rc_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz_utf8: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

/* The reference: the length of a sequence from its lead byte's bit pattern; after each byte, is
 * any code point that begins with the bits read so far encodable in that length (not overlong, at
 * most U+10FFFF, not only surrogates)? The first byte after which none is, is the invalid one. */
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
			return i;
		}
		for (unsigned k = 0;; k++) {
			if (!ref_possible(cp, 6 * (len - 1 - k), len))
				return i + k;
			if (k == len - 1)
				break;
			if (i + k + 1 == n)
				return n;
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

static bool ref_valid(const uint8_t *s, size_t n)
{
	bool complete;
	ref_check(s, n, &complete);
	return complete;
}

/* A copy of p[0..n) in a heap block of exactly n bytes, so that ASan flags a read past it. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	if (n == 0)
		return NULL;
	uint8_t *c = malloc(n);
	CHECK(c != NULL, "out of memory");
	memcpy(c, p, n);
	return c;
}

static void check_whole(const uint8_t *data, size_t size, size_t ref_ok, bool ref_complete)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	size_t ok = rc_utf8_feed(&v, data, size);
	CHECK(ok == ref_ok, "feed %zu, reference %zu (size %zu)", ok, ref_ok, size);
	CHECK(rc_utf8_complete(&v) == ref_complete, "complete %d", rc_utf8_complete(&v));
	CHECK(rc_utf8_valid(data, size) == ref_complete, "valid");
}

/* Piece lengths: the first byte picks how many distinct lengths (1..8) there are, the next bytes
 * the lengths themselves (0..31, so empty pieces happen too), used in turn until the input is cut. */
static void check_pieces(const uint8_t *data, size_t size, size_t ref_ok, bool ref_complete)
{
	size_t npat = size > 0 ? 1 + data[0] % 8 : 1;
	uint8_t pat[8];
	bool progress = false;
	for (size_t k = 0; k < npat; k++) {
		pat[k] = (uint8_t)(1 + k < size ? data[1 + k] % 32 : 1 + k);
		progress |= pat[k] != 0;
	}
	if (!progress)
		pat[0] = 1; /* so that every round of the pattern moves on */

	rc_utf8 v;
	rc_utf8_init(&v);
	size_t start = 0, result = size, k = 0;
	bool failed = false;
	do {
		size_t len = pat[k++ % npat];
		if (len > size - start)
			len = size - start;
		uint8_t *piece = exact_copy(data + start, len);
		size_t r = rc_utf8_feed(&v, piece, len);
		free(piece);
		CHECK(r <= len, "piece of %zu: %zu", len, r);
		if (failed) {
			CHECK(r == 0, "after a failure: %zu", r);
		} else if (r < len) {
			failed = true;
			result = start + r;
		}
		start += len;
	} while (start < size);
	CHECK(result == ref_ok, "in pieces %zu, reference %zu", result, ref_ok);
	CHECK(rc_utf8_complete(&v) == ref_complete, "in pieces: complete");
}

static void check_close_parse(const uint8_t *data, size_t size)
{
	uint16_t want;
	if (size > 125 || size == 1)
		want = RC_CLOSE_PROTOCOL;
	else if (size == 0)
		want = 0;
	else if (!rc_close_code_valid((uint16_t)(data[0] << 8 | data[1])))
		want = RC_CLOSE_PROTOCOL;
	else if (!ref_valid(data + 2, size - 2))
		want = RC_CLOSE_INVALID_DATA;
	else
		want = 0;
	uint16_t code = 0;
	const uint8_t *reason = NULL;
	size_t reason_len = 0;
	uint16_t got = rc_close_parse(data, size, &code, &reason, &reason_len);
	CHECK(got == want, "rc_close_parse %u, expected %u", got, want);
	if (got == 0 && size >= 2) {
		CHECK(code == (data[0] << 8 | data[1]), "code");
		CHECK(reason == data + 2 && reason_len == size - 2, "reason");
	} else if (got == 0) {
		CHECK(code == RC_CLOSE_NO_STATUS && reason_len == 0, "empty");
	}
}

static void check_close_payload(const uint8_t *data, size_t size)
{
	char reason[RC_CLOSE_REASON_MAX + 1];
	size_t n = size < RC_CLOSE_REASON_MAX ? size : RC_CLOSE_REASON_MAX;
	memcpy(reason, data, n);
	reason[n] = '\0';
	n = strlen(reason);
	size_t want = n;
	while (!ref_valid((const uint8_t *)reason, want))
		want--;
	uint8_t out[2 + RC_CLOSE_REASON_MAX];
	size_t len = rc_close_payload(out, RC_CLOSE_GOING_AWAY, reason);
	CHECK(len == 2 + want, "payload %zu, expected %zu", len, 2 + want);
	CHECK(memcmp(out + 2, reason, want) == 0, "reason bytes");
	uint16_t code;
	const uint8_t *r;
	size_t rlen;
	CHECK(rc_close_parse(out, len, &code, &r, &rlen) == 0, "own payload rejected");
	CHECK(code == RC_CLOSE_GOING_AWAY && rlen == want, "own payload parsed back wrong");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool ref_complete;
	size_t ref_ok = ref_check(data, size, &ref_complete);
	check_whole(data, size, ref_ok, ref_complete);
	check_pieces(data, size, ref_ok, ref_complete);
	check_close_parse(data, size);
	check_close_payload(data, size);
	return 0;
}
