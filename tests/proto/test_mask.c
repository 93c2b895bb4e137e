/* Tests of rc_mask_apply: the RFC 6455 example, every alignment x phase x length against a bytewise
 * reference (with sentinels around the range, so a stray write shows), guarded copies (so a read or
 * write past the end faults), chunked application threading the returned phase, and involution. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "rc_mask.h"
#include "rc_test.h"

static void ref_mask(uint8_t *p, size_t n, const uint8_t key[4], unsigned phase)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= key[(phase + i) % 4];
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
}

Test(mask, rfc6455_hello)
{
	/* RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d */
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	static const uint8_t masked[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	rc_guard g = rc_guard_copy("Hello", 5);
	cr_assert_eq(rc_mask_apply(g.data, 5, key, 0), 1);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(g.data[i], masked[i], "byte %zu: %02x, expected %02x", i, g.data[i],
		             masked[i]);
	cr_assert_eq(rc_mask_apply(g.data, 5, key, 0), 1);
	cr_assert_arr_eq(g.data, "Hello", 5);
	rc_guard_free(&g);
}

Test(mask, empty)
{
	static const uint8_t key[4] = { 1, 2, 3, 4 };
	for (unsigned phase = 0; phase < 4; phase++)
		cr_assert_eq(rc_mask_apply(NULL, 0, key, phase), phase);
}

#define MAX_LEN 300
#define PAD 32

Test(mask, every_alignment_phase_length)
{
	rng_state = 42;
	_Alignas(64) uint8_t buf[PAD + 16 + MAX_LEN + PAD];
	uint8_t want[sizeof buf];
	uint8_t key[4];
	for (unsigned align = 0; align < 16; align++) {
		for (unsigned phase = 0; phase < 4; phase++) {
			for (size_t n = 0; n <= MAX_LEN; n++) {
				fill_random(key, 4);
				fill_random(buf, sizeof buf);
				memcpy(want, buf, sizeof buf);
				uint8_t *p = buf + PAD + align;
				ref_mask(want + PAD + align, n, key, phase);
				unsigned end = rc_mask_apply(p, n, key, phase);
				cr_assert_eq(end, (phase + n) % 4, "align %u phase %u len %zu: returned %u", align,
				             phase, n, end);
				/* the whole buffer, so a byte written outside p[0..n) fails too */
				if (memcmp(buf, want, sizeof buf) != 0) {
					size_t i = 0;
					while (buf[i] == want[i])
						i++;
					cr_assert_fail("align %u phase %u len %zu: byte %zd (from p) differs", align,
					               phase, n, (ssize_t)i - (ssize_t)(PAD + align));
				}
			}
		}
	}
}

Test(mask, guarded_every_length_phase)
{
	/* the copy ends at a PROT_NONE page, so touching p[n] faults; lengths 0..300 give every
	 * start alignment mod 16 */
	rng_state = 7;
	uint8_t src[MAX_LEN], want[MAX_LEN];
	uint8_t key[4];
	for (unsigned phase = 0; phase < 4; phase++) {
		for (size_t n = 0; n <= MAX_LEN; n++) {
			fill_random(key, 4);
			fill_random(src, n);
			memcpy(want, src, n);
			ref_mask(want, n, key, phase);
			rc_guard g = rc_guard_copy(src, n);
			cr_assert_eq(rc_mask_apply(g.data, n, key, phase), (phase + n) % 4);
			cr_assert_arr_eq(g.data, want, n, "phase %u len %zu", phase, n);
			rc_guard_free(&g);
		}
	}
}

Test(mask, random_chunks_equal_whole)
{
	rng_state = 1234;
	enum {
		N = 4096 + 77
	};
	static uint8_t src[N], whole[N], chunked[N];
	uint8_t key[4];
	for (int round = 0; round < 200; round++) {
		fill_random(key, 4);
		size_t skip = (size_t)(rng() % 8); /* so the payload does not start aligned */
		size_t len = (size_t)(rng() % (N - 8));
		fill_random(src, N);
		memcpy(whole, src, N);
		memcpy(chunked, src, N);
		unsigned start_phase = (unsigned)(rng() % 4);
		cr_assert_eq(rc_mask_apply(whole + skip, len, key, start_phase), (start_phase + len) % 4);
		unsigned phase = start_phase;
		size_t done = 0;
		while (done < len) {
			/* mostly short chunks, sometimes long: both halves of the code get split */
			size_t c = (size_t)(rng() % 4 == 0 ? rng() % 600 : rng() % 13);
			if (c > len - done)
				c = len - done;
			unsigned next = rc_mask_apply(chunked + skip + done, c, key, phase);
			cr_assert_eq(next, (phase + c) % 4);
			phase = next;
			done += c;
		}
		cr_assert_eq(phase, (start_phase + len) % 4);
		cr_assert_arr_eq(chunked, whole, N, "round %d: chunked differs from whole", round);
		ref_mask(src + skip, len, key, start_phase);
		cr_assert_arr_eq(whole, src, N, "round %d: whole differs from the reference", round);
	}
}

Test(mask, twice_is_identity)
{
	rng_state = 99;
	uint8_t src[1000];
	uint8_t key[4];
	for (int round = 0; round < 100; round++) {
		size_t n = (size_t)(rng() % sizeof src);
		unsigned phase = (unsigned)(rng() % 4);
		fill_random(key, 4);
		fill_random(src, n);
		rc_guard g = rc_guard_copy(src, n);
		rc_mask_apply(g.data, n, key, phase);
		if (n >= 8 && (key[0] | key[1] | key[2] | key[3]) != 0)
			cr_assert(memcmp(g.data, src, n) != 0, "masking changed nothing");
		rc_mask_apply(g.data, n, key, phase);
		cr_assert_arr_eq(g.data, src, n, "round %d", round);
		rc_guard_free(&g);
	}
}

Test(mask, zero_key_is_identity)
{
	static const uint8_t key[4] = { 0, 0, 0, 0 };
	uint8_t src[100];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (uint8_t)i;
	rc_guard g = rc_guard_copy(src, sizeof src);
	cr_assert_eq(rc_mask_apply(g.data, sizeof src, key, 3), (3 + sizeof src) % 4);
	cr_assert_arr_eq(g.data, src, sizeof src);
	rc_guard_free(&g);
}
