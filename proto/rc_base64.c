/* rc_base64: see rc_base64.h for the contract. */
#include "rc_base64.h"

#include <assert.h>
#include <stdbool.h>
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

/* The 6-bit value of character c in the standard (url false) or the url alphabet, or -1. The two
 * alphabets differ only in the last two characters: "+/" against "-_". */
static int b64_value(uint8_t c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode n characters, n % 4 != 1, with no padding among them, into exactly
 * RC_BASE64URL_DECODED_LEN(n) bytes (the caller checked the room). Returns that length or
 * RC_BASE64_INVALID: a character outside the alphabet, or bits left over in the last character of
 * a short group (non-canonical). */
static ptrdiff_t decode_groups(uint8_t *out, const uint8_t *in, size_t n, bool url)
{
	assert(n % 4 != 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		size_t k = n - i < 4 ? n - i : 4; /* characters in this group: 2, 3 or 4 */
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = j < k ? b64_value(in[i + j], url) : 0;
			if (d < 0)
				return RC_BASE64_INVALID;
			v = v << 6 | (uint32_t)d;
		}
		/* k characters carry 6k bits, of which 8(k-1) are bytes: the rest must be zero */
		if ((k == 2 && (v & 0xffff)) || (k == 3 && (v & 0xff)))
			return RC_BASE64_INVALID;
		out[o++] = (uint8_t)(v >> 16);
		if (k > 2)
			out[o++] = (uint8_t)(v >> 8);
		if (k > 3)
			out[o++] = (uint8_t)v;
	}
	assert(o == RC_BASE64URL_DECODED_LEN(n));
	return (ptrdiff_t)o;
}

ptrdiff_t rc_base64url_decode(uint8_t *out, size_t cap, const void *in, size_t n)
{
	assert(in || n == 0);
	assert(out || cap == 0);
	if (n % 4 == 1)
		return RC_BASE64_INVALID;
	if (RC_BASE64URL_DECODED_LEN(n) > cap)
		return RC_BASE64_NO_ROOM;
	return n ? decode_groups(out, in, n, true) : 0;
}

ptrdiff_t rc_base64_decode(uint8_t *out, size_t cap, const void *in, size_t n)
{
	assert(in || n == 0);
	assert(out || cap == 0);
	const uint8_t *p = in;
	if (n % 4 != 0)
		return RC_BASE64_INVALID;
	/* the padding: at most two '=', at the end; what precedes it is the unpadded form, in which a
	 * third '=' is a byte outside the alphabet */
	size_t body = n;
	while (body > 0 && n - body < 2 && p[body - 1] == '=')
		body--;
	if (RC_BASE64URL_DECODED_LEN(body) > cap)
		return RC_BASE64_NO_ROOM;
	return body ? decode_groups(out, p, body, false) : 0;
}
