/* rc_auth: the keys that sign clients' tokens, loaded from a keys file, and the verification of a
 * token's signature with them (wolfCrypt). The token's format, its claims and what they grant are
 * rc_jwt's (proto/rc_jwt.h); this module adds keys, signatures and the clock.
 *
 * The keys file: one key per line, three fields separated by spaces or tabs,
 *
 *     KID ALG SOURCE
 *
 * Blank lines, and lines whose first non-blank character is '#', are ignored; a line may end in
 * CRLF. At most RC_AUTH_KEYS_MAX keys, at least one; the file at most RC_AUTH_FILE_MAX bytes.
 *   KID     1..RC_JWT_KID_MAX bytes of printable ASCII other than space ('!'..'~'), unique in the
 *           file: the "kid" a token names its key by.
 *   ALG     HS256, ES256 or RS256 (exact case): the one algorithm this key verifies.
 *   SOURCE  for HS256, the shared secret, RC_AUTH_SECRET_MIN..RC_AUTH_SECRET_MAX bytes:
 *             base64:TEXT  standard base64 with its '=' padding (`openssl rand -base64 32`)
 *             hex:DIGITS   an even number of hex digits, any case
 *             file:PATH    every byte of the file, a trailing newline included
 *           for ES256 and RS256, PATH (or file:PATH) of a PEM file holding the public key:
 *           "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo, `openssl pkey -pubout`), or for RSA also
 *           "BEGIN RSA PUBLIC KEY" (PKCS #1). ES256 needs a key on P-256; RS256 an RSA key of
 *           RC_AUTH_RSA_MIN_BITS..4096 bits.
 *           A relative PATH is taken from the keys file's directory. A PATH cannot hold a blank.
 * Every error is one line naming the file and the line, "FILE:LINE: what is wrong" ("FILE: ..."
 * for the file as a whole).
 *
 * Which key verifies a token (what stops key confusion). A key has exactly one algorithm, fixed
 * by the file, and the token's "alg" only ever selects among keys of that algorithm:
 *   - a token with a "kid" is verified by the key with that KID alone; if there is none, or its
 *     ALG is not the token's "alg", the answer is RC_JWT_NO_KEY, whatever the signature;
 *   - a token without "kid" is tried against every key whose ALG is the token's "alg", in file
 *     order; the first that verifies it wins; none at all is RC_JWT_NO_KEY, none verifying is
 *     RC_JWT_SIGNATURE.
 * So an RSA or EC public key (public text, anyone can read it) is never used as an HMAC secret,
 * "alg":"none" and every other algorithm never get past rc_jwt_parse, and keys embedded in the
 * token ("jwk", "jku", "x5c", ...) are never looked at.
 *
 * Verification, in this order, the first failure being the answer: the token's form
 * (rc_jwt_parse: MALFORMED, ALG, CLAIMS), the key (NO_KEY), the signature (SIGNATURE: a forged
 * expired token says "bad signature", not "token expired"), then the time (rc_jwt_check_time:
 * EXPIRED, NOT_YET_VALID).
 *   HS256  HMAC-SHA-256 of HEADER.PAYLOAD, compared in constant time with the 32-byte signature.
 *   ES256  ECDSA P-256 over SHA-256 of HEADER.PAYLOAD; the JWS signature is r || s, 32 bytes each
 *          (RFC 7518 §3.4), not DER.
 *   RS256  RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2.2): the signature is exactly the
 *          modulus' length, and what it opens to is exactly the DigestInfo of the hash.
 *
 * Threads. rc_auth_load calls wolfCrypt_Init and rc_auth_free wolfCrypt_Cleanup: both are
 * reference-counted, but the count is a plain int in wolfSSL 5.5.4, so call them where no other
 * thread initialises or cleans up wolfSSL (at start and at exit, or from the one thread that
 * does). Between the two, an rc_auth is read-only, and rc_auth_verify may run on it from any
 * number of threads at once: a wolfCrypt key object (RsaKey, ecc_key) carries state that
 * operations write, so rc_auth keeps each key as bytes (a secret, or a public key's DER) and every
 * call decodes its own key object on its stack (8.7 KB for RSA), with its own Hmac and hashes.
 * Decoding a public key costs a few microseconds, against tens for a signature check. wolfCrypt
 * keeps one thing per thread here: with FP_ECC (Debian's options) an ECC verification fills a
 * thread-local fixed-point cache, so each thread that called rc_auth_verify calls
 * rc_auth_thread_done before it ends (rc_tls_thread_done does the same; either is enough).
 */
#ifndef RC_AUTH_H
#define RC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "rc_jwt.h"

#define RC_AUTH_KEYS_MAX 32
#define RC_AUTH_FILE_MAX 65536 /* longest keys file, bytes */
/* HS256 secrets: RFC 7518 §3.2 wants a key at least as long as the hash's output */
#define RC_AUTH_SECRET_MIN 32
#define RC_AUTH_SECRET_MAX 1024
#define RC_AUTH_RSA_MIN_BITS 2048

typedef struct rc_auth rc_auth;

/* Load and check the keys file at path. Returns the keys, or NULL with one line in err[0..errlen)
 * saying which file and line and what is wrong. */
rc_auth *rc_auth_load(const char *path, char *err, size_t errlen);

/* Free the keys (secrets are zeroed first). NULL is allowed. */
void rc_auth_free(rc_auth *a);

/* How many keys were loaded (1..RC_AUTH_KEYS_MAX). */
uint32_t rc_auth_count(const rc_auth *a);

/* Verify tok[0..len) at clock reading now_s (seconds since the epoch) with leeway_s seconds of
 * tolerance for clock skew. Returns RC_JWT_OK and the token's grant in *out; or the error (see the
 * top), *out untouched. If kid_used is not NULL it is set to the KID of the key whose signature
 * check passed (OK, EXPIRED, NOT_YET_VALID; a string inside a, NUL-terminated), else to NULL.
 * Safe to call from several threads at once on the same rc_auth. */
enum rc_jwt_error rc_auth_verify(const rc_auth *a, const uint8_t *tok, size_t len, int64_t now_s,
                                 uint32_t leeway_s, rc_jwt_grant *out, const char **kid_used);

/* Free what wolfCrypt keeps for the calling thread (the ECC fixed-point cache, with FP_ECC): each
 * thread that called rc_auth_verify calls it before it ends. Harmless when there is nothing. */
void rc_auth_thread_done(void);

#endif
