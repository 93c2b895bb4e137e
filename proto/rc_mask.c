/* rc_mask: the RFC 6455 §5.3 masking transform. The contract is in rc_mask.h.
 *
 * Byte j of a payload is XORed with key[j % 4]. Here p may start at any payload offset (`phase`)
 * and at any address, so: bytes one at a time up to the next 8-byte boundary of the address, then
 * whole 64-bit words with the key rotated to the phase reached there and repeated twice, then the
 * last bytes one at a time. A word spans 8 bytes, a multiple of the key's period, so the word key
 * never changes inside the word loop. Loads and stores go through memcpy (no aliasing or alignment
 * UB; each compiles to one instruction), and the main loop is written so that the compiler may turn
 * it into vector code (clang and gcc -O2 do).
 */
#include "rc_mask.h"

#include <assert.h>
#include <string.h>

/* Words per iteration of the main loop: 32 bytes, enough to keep loads and stores in flight. */
#define MASK_UNROLL 4

static inline unsigned mask_bytes(uint8_t *p, size_t n, const uint8_t key[4], unsigned phase)
{
	for (size_t i = 0; i < n; i++) {
		p[i] ^= key[phase];
		phase = (phase + 1) & 3;
	}
	return phase;
}

/* XOR n8 whole words at p (8-byte aligned) with k. */
static inline void mask_words(uint8_t *p, size_t n8, uint64_t k)
{
	size_t w = 0;
	for (; n8 - w >= MASK_UNROLL; w += MASK_UNROLL) {
		uint64_t x[MASK_UNROLL];
		memcpy(x, p + 8 * w, sizeof x);
		for (size_t j = 0; j < MASK_UNROLL; j++)
			x[j] ^= k;
		memcpy(p + 8 * w, x, sizeof x);
	}
	for (; w < n8; w++) {
		uint64_t x;
		memcpy(&x, p + 8 * w, sizeof x);
		x ^= k;
		memcpy(p + 8 * w, &x, sizeof x);
	}
}

unsigned rc_mask_apply(uint8_t *p, size_t n, const uint8_t key[4], unsigned phase)
{
	assert(key != NULL);
	assert(phase < 4);
	assert(p != NULL || n == 0);
	if (n == 0)
		return phase;
	const unsigned end_phase = (unsigned)((phase + n) & 3);

	size_t head = (size_t)(-(uintptr_t)p & 7); /* bytes up to the next 8-byte boundary */
	if (head > n)
		head = n;
	phase = mask_bytes(p, head, key, phase);
	p += head;
	n -= head;

	size_t n8 = n / 8;
	if (n8 > 0) {
		/* The key as it lines up with a word starting at this phase, in memory order, so the
		 * same code is right on either byte order. */
		uint8_t k8[8];
		for (unsigned j = 0; j < 8; j++)
			k8[j] = key[(phase + j) & 3];
		uint64_t k;
		memcpy(&k, k8, sizeof k);
		mask_words(p, n8, k);
		p += 8 * n8;
		n -= 8 * n8;
	}

	phase = mask_bytes(p, n, key, phase);
	assert(phase == end_phase);
	return phase;
}
