/* rc_utf8: incremental UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires of text messages).
 *
 * A validator is a tiny state (which continuation bytes are still expected, and their allowed
 * range), so a text message can be validated frame by frame, chunk by chunk, across any split, and
 * rejected at the first byte that makes it invalid rather than at the end of the message. Rejected:
 * overlong forms, UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray
 * continuation bytes, 0xC0, 0xC1 and 0xF5..0xFF. ASCII runs are checked a word at a time.
 *
 *   rc_utf8 v; rc_utf8_init(&v);
 *   size_t ok = rc_utf8_feed(&v, p, n);   // ok < n: p[ok] is the first invalid byte
 *   ...
 *   rc_utf8_complete(&v)                  // at the end of the message: no sequence left open
 */
#ifndef RC_UTF8_H
#define RC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rc_utf8 {
	uint8_t need;   /* continuation bytes still expected, 0..3 */
	uint8_t lo, hi; /* allowed range of the next continuation byte */
	uint8_t bad;    /* sticky: an invalid byte was seen */
} rc_utf8;

void rc_utf8_init(rc_utf8 *v);

/* Validate the next n bytes. Returns n if they are valid so far (a sequence may still be open at
 * the end), otherwise the index of the first invalid byte; once a byte was invalid every later call
 * returns 0. */
size_t rc_utf8_feed(rc_utf8 *v, const uint8_t *p, size_t n);

/* True if everything fed so far is valid and no multi-byte sequence is left open. */
bool rc_utf8_complete(const rc_utf8 *v);

/* One-shot: true if p[0..n) is complete, valid UTF-8. */
bool rc_utf8_valid(const uint8_t *p, size_t n);

#endif
