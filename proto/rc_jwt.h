/* rc_jwt: JSON Web Tokens (RFC 7519) in the JWS compact form (RFC 7515), parsed: the header's
 * algorithm and key id, the signing input and the signature, and the claims ringcast grants by.
 * No cryptography (net/rc_auth verifies the signature with a configured key), no I/O, no
 * allocation, no global state: every function may be called from any thread. rc_jwt_parse takes
 * about 5 KB of stack (the decoded JSON, and the keys of the objects open, for the duplicate
 * check) besides the caller's rc_jwt.
 *
 * The token: HEADER.PAYLOAD.SIGNATURE, three parts of unpadded base64url (rc_base64.h: '=' and
 * every byte outside A-Z a-z 0-9 - _ refused, non-canonical trailing bits refused), exactly two
 * '.', 1..RC_JWT_MAX bytes in all. HEADER and PAYLOAD decode to JSON objects (RFC 8259, strictly:
 * UTF-8, no trailing commas, no leading zeros, no comments, nothing but whitespace after the
 * object, at most RC_JWT_DEPTH_MAX levels of nesting, no key twice in any object; keys and strings
 * are compared after their escapes are decoded, so "\u0061lg" is "alg"). SIGNATURE decodes to
 * 1..RC_JWT_SIG_MAX bytes; whether its length suits the algorithm is rc_auth's to say.
 *
 * The header:
 *   "alg"  required: "HS256", "ES256" or "RS256" (exact case). "none", any other algorithm, and a
 *          value that is not a string are RC_JWT_ALG: a token is never accepted unsigned.
 *   "kid"  optional string, 1..RC_JWT_KID_MAX bytes once unescaped, no control characters
 *          (U+0000..U+001F, U+007F: it goes into logs); kept.
 *   "typ"  optional; if present a string equal to "JWT" in any case.
 *   "crit" refused: it names extensions the recipient must understand, and we support none.
 *   Any other member ("cty", "jku", "jwk", "x5u", "x5c", ...) is ignored: keys come only from the
 *   keys file, never from the token.
 *
 * The claims (the payload):
 *   "exp", "nbf"  optional NumericDate: a number of seconds since the epoch, 0..RC_JWT_TIME_MAX;
 *                 a fraction is truncated, an exponent or a '-' (even "-0") is refused.
 *   "sub"         optional string, at most RC_JWT_SUB_MAX bytes once unescaped, no control
 *                 characters; kept for logs.
 *   "subscribe", "publish"  optional arrays of topic patterns, what the token grants. A pattern is
 *                 a topic name (rc_app.h: 1..RC_APP_TOPIC_MAX bytes of A-Z a-z 0-9 . _ - : / @),
 *                 which matches that topic exactly, or a prefix of 0..RC_APP_TOPIC_MAX such bytes
 *                 followed by '*', which matches every topic that begins with the prefix
 *                 ("prices.*" matches "prices.eur" and "prices."; "*" matches every topic). '*'
 *                 anywhere but last, an empty pattern, or another byte is malformed. JSON escapes
 *                 are decoded first ("a\/b" is "a/b"). An absent or empty list grants nothing.
 *   Any other claim ("iss", "aud", "iat", "jti", ...) is ignored, but must be valid JSON.
 *
 * Limits on the grant, so that it is a fixed-size copyable value (the server keeps one per
 * connection): at most RC_JWT_PATTERNS_MAX patterns per list, and all patterns of both lists
 * together at most RC_JWT_PATTERN_BYTES bytes; beyond either, RC_JWT_CLAIMS.
 *
 * Errors (enum rc_jwt_error). rc_jwt_parse reports the first problem found, reading the header,
 * then the payload, then the signature, and sets rc_jwt.why to a static phrase saying what it was
 * (for logs; rc_jwt_error_text is the short phrase of the class):
 *   RC_JWT_MALFORMED  anything above not as described, but for
 *   RC_JWT_ALG        an "alg" other than HS256, ES256 and RS256
 *   RC_JWT_CLAIMS     more topic patterns than the grant holds
 * The other errors are rc_jwt_check_time's (EXPIRED, NOT_YET_VALID) and rc_auth's (NO_KEY,
 * SIGNATURE).
 *
 * Time: rc_jwt_check_time(g, now, leeway) says EXPIRED if now >= exp + leeway, else NOT_YET_VALID
 * if now + leeway < nbf, else OK (sums saturate; a grant without "exp" never expires).
 */
#ifndef RC_JWT_H
#define RC_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_app.h"

#define RC_JWT_MAX 4096 /* longest token, bytes */
/* the longest header or payload JSON: what RC_JWT_MAX characters of base64url decode to */
#define RC_JWT_JSON_MAX (RC_JWT_MAX / 4 * 3)
#define RC_JWT_SIG_MAX 512     /* longest signature, bytes: RSA-4096 */
#define RC_JWT_KID_MAX 64      /* longest "kid", bytes, unescaped */
#define RC_JWT_SUB_MAX 64      /* longest "sub", bytes, unescaped */
#define RC_JWT_DEPTH_MAX 16    /* deepest nesting of objects and arrays, the top object included */
#define RC_JWT_PATTERNS_MAX 16 /* most topic patterns in "subscribe", and in "publish" */
/* most bytes of all topic patterns together ('*' included): what fills rc_jwt_grant to 504 bytes */
#define RC_JWT_PATTERN_BYTES 384
/* latest "exp" or "nbf" accepted, seconds: 2^53 - 1, the largest integer every JSON parser reads
 * exactly (RFC 7493 §2.2); far enough that a sum with a leeway never nears INT64_MAX */
#define RC_JWT_TIME_MAX 9007199254740991LL

enum rc_jwt_alg {
	RC_JWT_HS256 = 1, /* HMAC with SHA-256 (RFC 7518 §3.2) */
	RC_JWT_ES256,     /* ECDSA on P-256 with SHA-256, signature r || s (RFC 7518 §3.4) */
	RC_JWT_RS256,     /* RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3) */
};

enum rc_jwt_error {
	RC_JWT_OK = 0,
	RC_JWT_MALFORMED,     /* "malformed token": not a token as described above */
	RC_JWT_ALG,           /* "unsupported algorithm": "alg" not HS256, ES256 or RS256 */
	RC_JWT_CLAIMS,        /* "too many topic patterns": the grant cannot hold them */
	RC_JWT_NO_KEY,        /* "no key for the token": no configured key may verify it */
	RC_JWT_SIGNATURE,     /* "bad signature": no key that could verify it did */
	RC_JWT_EXPIRED,       /* "token expired" */
	RC_JWT_NOT_YET_VALID, /* "token not yet valid" */
};
#define RC_JWT_ERROR_COUNT 8 /* RC_JWT_OK included */

/* One short phrase per error, e.g. "token expired"; "ok" for RC_JWT_OK; "unknown error" outside
 * the enum. Never NULL. */
const char *rc_jwt_error_text(enum rc_jwt_error e);

/* What a verified token grants: fixed size, no pointers, copyable. Patterns are packed: the
 * subscribe patterns first, then the publish patterns, each pattern_len[i] bytes of patterns[],
 * one after the other, '*' kept as the last byte of a prefix pattern. Read it through
 * rc_jwt_allows and rc_jwt_check_time rather than field by field. An all-zero grant grants
 * nothing (but its exp of 0 has expired); any other must come from rc_jwt_parse, whose invariants
 * rc_jwt_allows asserts. */
typedef struct rc_jwt_grant {
	int64_t exp;                                  /* "exp", or INT64_MAX without one */
	int64_t nbf;                                  /* "nbf", or 0 without one */
	uint8_t n_subscribe;                          /* 0..RC_JWT_PATTERNS_MAX */
	uint8_t n_publish;                            /* 0..RC_JWT_PATTERNS_MAX */
	uint8_t sub_len;                              /* 0..RC_JWT_SUB_MAX: 0 without "sub" */
	char sub[RC_JWT_SUB_MAX + 1];                 /* "sub", NUL-terminated ("" without one) */
	uint8_t pattern_len[2 * RC_JWT_PATTERNS_MAX]; /* 1..RC_APP_TOPIC_MAX + 1 each */
	uint8_t patterns[RC_JWT_PATTERN_BYTES];
} rc_jwt_grant;

enum rc_jwt_op {
	RC_JWT_SUBSCRIBE, /* the "subscribe" list */
	RC_JWT_PUBLISH,   /* the "publish" list */
};

/* True if a pattern of g's list for op matches topic[0..len), a valid topic name (the caller has
 * checked it: rc_app_topic_valid). */
bool rc_jwt_allows(const rc_jwt_grant *g, enum rc_jwt_op op, const uint8_t *topic, size_t len);

/* RC_JWT_EXPIRED, RC_JWT_NOT_YET_VALID or RC_JWT_OK for a clock reading now_s (seconds since the
 * epoch) with leeway_s seconds of tolerance for clock skew either way (see the top). */
enum rc_jwt_error rc_jwt_check_time(const rc_jwt_grant *g, int64_t now_s, uint32_t leeway_s);

/* A parsed token: what a verifier needs, and the grant it would give. */
typedef struct rc_jwt {
	enum rc_jwt_alg alg;
	char kid[RC_JWT_KID_MAX + 1]; /* "kid", NUL-terminated ("" without one) */
	size_t kid_len;               /* 0 without "kid" (a present kid is never empty) */
	const uint8_t *signed_part;   /* HEADER.PAYLOAD as sent, the JWS signing input: in the token */
	size_t signed_len;
	uint8_t sig[RC_JWT_SIG_MAX]; /* SIGNATURE, decoded */
	size_t sig_len;              /* 1..RC_JWT_SIG_MAX */
	rc_jwt_grant grant;
	const char *why; /* after an error: a static phrase saying what was wrong; NULL after OK */
} rc_jwt;

/* Parse tok[0..len) into *out. Returns RC_JWT_OK, or RC_JWT_MALFORMED, RC_JWT_ALG or RC_JWT_CLAIMS
 * with out->why set (the rest of *out is then unspecified). Reads exactly len bytes; out->
 * signed_part points into tok. Checks no signature and no time. */
enum rc_jwt_error rc_jwt_parse(const uint8_t *tok, size_t len, rc_jwt *out);

#endif
