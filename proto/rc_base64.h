/* rc_base64: base64 encoding (RFC 4648 §4: the standard alphabet, '=' padding, no line breaks).
 *
 * The WebSocket opening handshake is its user: Sec-WebSocket-Key is the base64 of a 16-byte nonce
 * (rc_ws_client_key) and Sec-WebSocket-Accept the base64 of a SHA-1 digest (rc_ws_accept). Only
 * encoding is needed: neither side ever decodes those values (the key is hashed as text, the accept
 * value compared as text). Our own dozen lines rather than wolfCrypt's Base64_Encode_NoNl, whose
 * availability depends on how the library was configured (WOLFSSL_BASE64_ENCODE).
 *
 *   char key[RC_BASE64_LEN(16) + 1];
 *   size_t n = rc_base64_encode(key, sizeof key, nonce, 16); // n == 24, key NUL-terminated
 */
#ifndef RC_BASE64_H
#define RC_BASE64_H

#include <stddef.h>

/* Characters of the base64 of n bytes: 4 * ceil(n / 3), the NUL not included. */
#define RC_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* base64 (RFC 4648 §4, '=' padding) of in[0..n): writes 4*ceil(n/3) characters and a NUL to
 * out; returns the number of characters (without the NUL), or 0 if cap is too small (then out is
 * left as it was). in may be NULL when n is 0; the base64 of nothing is "" (returns 0 too, with
 * out[0] set to NUL if cap >= 1). */
size_t rc_base64_encode(char *out, size_t cap, const void *in, size_t n);

#endif
