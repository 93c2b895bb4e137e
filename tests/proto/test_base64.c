/* Tests of rc_base64_encode: the RFC 4648 §10 vectors, every length 0..64 of random bytes against
 * a reference written another way (bit by bit) and decoded back, every byte value in every
 * position of a group, and every capacity too small by one or more (the output in front of a guard
 * page, so a write past cap faults). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "rc_base64.h"
#include "rc_test.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The reference: take the input as a bit string, 6 bits at a time, zero-fill the last group, and
 * pad with '=' to a multiple of 4 characters. */
static size_t ref_encode(char *out, const uint8_t *in, size_t n)
{
	size_t o = 0, bits = 8 * n;
	for (size_t b = 0; b < bits; b += 6) {
		unsigned v = 0;
		for (size_t k = 0; k < 6; k++) {
			size_t bit = b + k;
			unsigned x = bit < bits ? (in[bit / 8] >> (7 - bit % 8)) & 1 : 0;
			v = v << 1 | x;
		}
		out[o++] = alphabet[v];
	}
	while (o % 4)
		out[o++] = '=';
	out[o] = '\0';
	return o;
}

/* The reverse, for round trips: returns the decoded length. */
static size_t ref_decode(uint8_t *out, const char *in, size_t n)
{
	uint32_t acc = 0;
	unsigned have = 0;
	size_t o = 0;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *at = strchr(alphabet, in[i]);
		cr_assert(at != NULL && in[i] != '\0', "character %zu (%c) outside the alphabet", i, in[i]);
		acc = acc << 6 | (uint32_t)(at - alphabet);
		have += 6;
		if (have >= 8) {
			have -= 8;
			out[o++] = (uint8_t)(acc >> have);
		}
	}
	return o;
}

/* An output buffer of cap bytes that ends where a PROT_NONE page begins: a write past cap faults. */
static rc_guard guard_out(size_t cap)
{
	static const uint8_t zeros[4096];
	cr_assert_leq(cap, sizeof zeros);
	return rc_guard_copy(zeros, cap);
}

static uint64_t rng_state = 42;

static uint8_t rng_byte(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (uint8_t)(z ^ (z >> 31));
}

/* Encode in[0..n) from a guarded copy into an output that ends at a guard page, exactly
 * RC_BASE64_LEN(n) + 1 bytes long. */
static size_t encode_guarded(char *text, const uint8_t *in, size_t n)
{
	size_t cap = RC_BASE64_LEN(n) + 1;
	rc_guard src = rc_guard_copy(in, n);
	rc_guard dst = guard_out(cap);
	size_t r = rc_base64_encode((char *)dst.data, cap, n ? src.data : NULL, n);
	memcpy(text, dst.data, cap);
	rc_guard_free(&src);
	rc_guard_free(&dst);
	return r;
}

Test(base64, rfc4648_vectors)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" },
		{ "f", "Zg==" },
		{ "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char text[16];
		size_t n = strlen(v[i].in);
		size_t r = encode_guarded(text, (const uint8_t *)v[i].in, n);
		cr_assert_eq(r, strlen(v[i].out), "\"%s\": length %zu", v[i].in, r);
		cr_assert_str_eq(text, v[i].out, "\"%s\"", v[i].in);
	}
}

Test(base64, handshake_values)
{
	/* RFC 6455 §1.3: the sample nonce and its key. */
	char text[32];
	cr_assert_eq(encode_guarded(text, (const uint8_t *)"the sample nonce", 16), 24);
	cr_assert_str_eq(text, "dGhlIHNhbXBsZSBub25jZQ==");
	/* and the SHA-1 of key + GUID, the accept value of the same example */
	static const uint8_t sha1[20] = { 0xb3, 0x7a, 0x4f, 0x2c, 0xc0, 0x62, 0x4f, 0x16, 0x90, 0xf6,
		                              0x46, 0x06, 0xcf, 0x38, 0x59, 0x45, 0xb2, 0xbe, 0xc4, 0xea };
	cr_assert_eq(encode_guarded(text, sha1, 20), 28);
	cr_assert_str_eq(text, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(base64, every_length_against_reference)
{
	for (int round = 0; round < 20; round++) {
		for (size_t n = 0; n <= 64; n++) {
			uint8_t in[64], back[64];
			for (size_t i = 0; i < n; i++)
				in[i] = rng_byte();
			char want[RC_BASE64_LEN(64) + 1], got[RC_BASE64_LEN(64) + 1];
			size_t wn = ref_encode(want, in, n);
			cr_assert_eq(wn, RC_BASE64_LEN(n));
			size_t r = encode_guarded(got, in, n);
			cr_assert_eq(r, wn, "length %zu: returned %zu, want %zu", n, r, wn);
			cr_assert_str_eq(got, want, "length %zu", n);
			cr_assert_eq(ref_decode(back, got, r), n, "length %zu decodes back", n);
			cr_assert_arr_eq(back, in, n, "length %zu round trip", n);
		}
	}
}

Test(base64, every_byte_in_every_position)
{
	for (unsigned pos = 0; pos < 3; pos++) {
		for (unsigned b = 0; b < 256; b++) {
			uint8_t in[3] = { 0x5a, 0xa5, 0x3c };
			in[pos] = (uint8_t)b;
			for (size_t n = pos + 1; n <= 3; n++) {
				char want[8], got[8];
				ref_encode(want, in, n);
				cr_assert_eq(encode_guarded(got, in, n), 4);
				cr_assert_str_eq(got, want, "byte %02x at %u of %zu", b, pos, n);
			}
		}
	}
}

Test(base64, cap_too_small)
{
	for (size_t n = 0; n <= 40; n++) {
		uint8_t in[40];
		for (size_t i = 0; i < n; i++)
			in[i] = rng_byte();
		size_t need = RC_BASE64_LEN(n) + 1; /* the NUL included */
		for (size_t cap = 0; cap < need; cap++) {
			/* Filled with a sentinel: a refused call writes nothing. */
			char fill[RC_BASE64_LEN(40) + 1];
			memset(fill, '#', sizeof fill);
			rc_guard dst = rc_guard_copy(fill, cap);
			cr_assert_eq(rc_base64_encode((char *)dst.data, cap, in, n), 0, "n %zu cap %zu", n,
			             cap);
			for (size_t i = 0; i < cap; i++)
				cr_assert_eq(dst.data[i], '#', "n %zu cap %zu: byte %zu written", n, cap, i);
			rc_guard_free(&dst);
		}
		char big[RC_BASE64_LEN(40) + 8];
		cr_assert_eq(rc_base64_encode(big, sizeof big, in, n), need - 1, "n %zu, room to spare", n);
	}
}

Test(base64, empty_input)
{
	char out[4] = "xyz";
	cr_assert_eq(rc_base64_encode(out, sizeof out, NULL, 0), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(rc_base64_encode(NULL, 0, NULL, 0), 0);
}

Test(base64, huge_length_does_not_overflow)
{
	/* A length whose 4/3 would wrap around must be refused by the capacity check, not wrap to
	 * something small that fits. Nothing is read: the check comes first. */
	static const uint8_t one = 0;
	char out[64];
	cr_assert_eq(rc_base64_encode(out, sizeof out, &one, SIZE_MAX), 0);
	cr_assert_eq(rc_base64_encode(out, sizeof out, &one, SIZE_MAX / 4 * 3 + 3), 0);
}
