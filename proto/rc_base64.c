/* rc_base64: see rc_base64.h for the contract. */
#include "rc_base64.h"

#include <assert.h>
#include <stdint.h>

static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rc_base64_encode(char *out, size_t cap, const void *in, size_t n)
{
	assert(out || cap == 0);
	assert(in || n == 0);
	/* 4 characters per started group of 3 bytes, then the NUL; n / 3 first so that the sum
	 * cannot overflow. */
	size_t groups = n / 3 + (n % 3 != 0);
	if (cap == 0 || groups > (cap - 1) / 4)
		return 0;
	const uint8_t *p = in;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i; /* 1, 2, or 3 and more */
		uint32_t v = (uint32_t)p[i] << 16;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	assert(o == 4 * groups);
	out[o] = '\0';
	return o;
}
