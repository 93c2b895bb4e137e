/* rc_base64: base64 encoding (RFC 4648 §4: the standard alphabet, '=' padding, no line breaks),
 * and strict decoding of that form and of unpadded base64url (RFC 4648 §5).
 *
 * Encoding: the WebSocket opening handshake is its user: Sec-WebSocket-Key is the base64 of a
 * 16-byte nonce (rc_ws_client_key) and Sec-WebSocket-Accept the base64 of a SHA-1 digest
 * (rc_ws_accept); neither side ever decodes those values (the key is hashed as text, the accept
 * value compared as text). Our own dozen lines rather than wolfCrypt's Base64_Encode_NoNl, whose
 * availability depends on how the library was configured (WOLFSSL_BASE64_ENCODE).
 *
 *   char key[RC_BASE64_LEN(16) + 1];
 *   size_t n = rc_base64_encode(key, sizeof key, nonce, 16); // n == 24, key NUL-terminated
 *
 * Decoding: JSON Web Tokens are three base64url parts without padding (rc_jwt), and HS256 secrets
 * in the keys file may be written in standard base64 (net/rc_auth). Both decoders accept exactly
 * one spelling of each byte string, the one the encoder writes, because a token is compared and
 * logged as text as well as decoded: any byte outside the alphabet (whitespace and line breaks
 * included) is refused, and so are non-zero bits left over in the last character (RFC 4648 §3.5:
 * "QQ" is "A", "QR" is refused). The base64url decoder refuses '=' altogether (RFC 7515 §2), and a
 * length of 4k+1 characters, which no byte string encodes to; the base64 decoder wants the padding,
 * '=' only at the end and a length that is a multiple of 4.
 *
 *   uint8_t raw[RC_BASE64URL_DECODED_LEN(43)];
 *   ptrdiff_t n = rc_base64url_decode(raw, sizeof raw, text, 43); // 32, or < 0
 */
#ifndef RC_BASE64_H
#define RC_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters of the base64 of n bytes: 4 * ceil(n / 3), the NUL not included. */
#define RC_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/* base64 (RFC 4648 §4, '=' padding) of in[0..n): writes 4*ceil(n/3) characters and a NUL to
 * out; returns the number of characters (without the NUL), or 0 if cap is too small (then out is
 * left as it was). in may be NULL when n is 0; the base64 of nothing is "" (returns 0 too, with
 * out[0] set to NUL if cap >= 1). */
size_t rc_base64_encode(char *out, size_t cap, const void *in, size_t n);

/* Bytes that n characters of unpadded base64url decode to (n % 4 == 1 cannot occur in valid input;
 * the value is then an upper bound). */
#define RC_BASE64URL_DECODED_LEN(n) ((n) / 4 * 3 + ((n) % 4 > 1 ? (n) % 4 - 1 : 0))
/* At most this many bytes come from n characters of padded base64. */
#define RC_BASE64_DECODED_MAX(n) ((n) / 4 * 3)

/* What a decoder returns instead of a length. */
enum rc_base64_error {
	RC_BASE64_INVALID = -1, /* not the canonical encoding of any byte string (see above) */
	RC_BASE64_NO_ROOM = -2, /* the decoded bytes do not fit in cap */
};

/* Unpadded base64url (RFC 4648 §5, RFC 7515 §2) of in[0..n) into out[0..cap): returns the number
 * of bytes written, RC_BASE64URL_DECODED_LEN(n) (0 for empty input), or a negative enum
 * rc_base64_error. NO_ROOM is decided from n before anything is written; after INVALID, out may
 * hold the bytes decoded before the fault. in may be NULL when n is 0, out when cap is 0. */
ptrdiff_t rc_base64url_decode(uint8_t *out, size_t cap, const void *in, size_t n);

/* Padded standard base64 (RFC 4648 §4), as rc_base64_encode writes it, of in[0..n) into
 * out[0..cap): returns the number of bytes written, or a negative enum rc_base64_error, as
 * rc_base64url_decode. NO_ROOM is decided from n and the padding. */
ptrdiff_t rc_base64_decode(uint8_t *out, size_t cap, const void *in, size_t n);

#endif
