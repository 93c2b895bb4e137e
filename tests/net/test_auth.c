/* rc_auth: keys files and token verification, against keys and signatures made here.
 *
 * Known answers first: the three examples of RFC 7515 appendix A (HS256 with its JWK secret,
 * RS256 and ES256 with their public keys as PEM, checked once with `openssl dgst -verify`) verify
 * before their "exp" and are expired after it. Then keys made in each test with wolfCrypt (P-256,
 * P-384, RSA-2048 and RSA-1024 by wc_ecc_make_key_ex and wc_MakeRsaKey), their public halves
 * written as PEM into a fresh directory (mkdtemp), and tokens signed here: a bit flipped anywhere
 * in a signature, another key, a signature of the wrong length or in DER, an unknown kid, the kid
 * of a key of another algorithm, the key-confusion attack (HS256 with the RSA or EC public key's
 * PEM text or DER as the HMAC secret, with and without the kid), "alg":"none", expiry and
 * not-before with leeway (and a forged expired token, which must say "bad signature"), every
 * keys-file error, and four threads verifying at once on one rc_auth. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include "rc_auth.h"
#include "rc_base64.h"
#include "rc_test.h"

#define NOW 1700000000LL

/* ---- the directory, files, keys files ------------------------------------------------------ */

static char dir[64];
static WC_RNG rng;

static void setup(void)
{
	strcpy(dir, "/tmp/rc-test-auth-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(wolfCrypt_Init(), 0);
	cr_assert_eq(wc_InitRng(&rng), 0);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
	wc_FreeRng(&rng);
	rc_auth_thread_done();
	wolfCrypt_Cleanup();
}

TestSuite(auth, .init = setup, .fini = teardown);

static const char *path(const char *name)
{
	static char p[8][128];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static void write_file(const char *name, const void *data, size_t n)
{
	FILE *f = fopen(path(name), "wb");
	cr_assert_not_null(f, "%s", path(name));
	cr_assert_eq(fwrite(data, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

static rc_auth *load(const char *text)
{
	write_file("keys", text, strlen(text));
	char err[512] = "";
	rc_auth *a = rc_auth_load(path("keys"), err, sizeof err);
	cr_assert_not_null(a, "%s", err);
	cr_assert_str_eq(err, "");
	return a;
}

/* The keys file text must be refused with an error starting "DIR/keys:LINE: " (line 0: "DIR/keys:
 * ") and containing want. */
static void load_refused(const char *text, unsigned line, const char *want)
{
	write_file("keys", text, strlen(text));
	char err[512] = "";
	rc_auth *a = rc_auth_load(path("keys"), err, sizeof err);
	cr_assert_null(a, "accepted:\n%s", text);
	char prefix[160];
	if (line)
		snprintf(prefix, sizeof prefix, "%s:%u: ", path("keys"), line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", path("keys"));
	cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "\"%s\" does not start \"%s\"", err,
	             prefix);
	cr_assert(strstr(err, want), "\"%s\" does not say \"%s\"", err, want);
	cr_assert_null(strchr(err, '\n'), "one line: \"%s\"", err);
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* A public key's DER as PEM into NAME: SubjectPublicKeyInfo, or PKCS #1 for type
 * RSA_PUBLICKEY_TYPE. */
static void write_pem(const char *name, const uint8_t *der, int der_len, int type)
{
	cr_assert_gt(der_len, 0);
	uint8_t pem[4096];
	int n = wc_DerToPem(der, (word32)der_len, pem, sizeof pem, type);
	cr_assert_gt(n, 0);
	write_file(name, pem, (size_t)n);
}

static void ec_make(ecc_key *k, int curve, int bytes)
{
	cr_assert_eq(wc_ecc_init(k), 0);
	cr_assert_eq(wc_ecc_make_key_ex(&rng, bytes, k, curve), 0);
}

static int ec_public_der(ecc_key *k, uint8_t *der, size_t cap)
{
	return wc_EccPublicKeyToDer(k, der, (word32)cap, 1);
}

static void ec_write(ecc_key *k, const char *name)
{
	uint8_t der[256];
	write_pem(name, der, ec_public_der(k, der, sizeof der), PUBLICKEY_TYPE);
}

static void rsa_make(RsaKey *k, int bits)
{
	cr_assert_eq(wc_InitRsaKey(k, NULL), 0);
	cr_assert_eq(wc_MakeRsaKey(k, bits, WC_RSA_EXPONENT, &rng), 0);
	cr_assert_eq(wc_RsaSetRNG(k, &rng), 0);
}

static void rsa_write(RsaKey *k, const char *name, bool pkcs1)
{
	uint8_t der[1024];
	int n = wc_RsaKeyToPublicDer_ex(k, der, sizeof der, pkcs1 ? 0 : 1);
	write_pem(name, der, n, pkcs1 ? RSA_PUBLICKEY_TYPE : PUBLICKEY_TYPE);
}

/* ---- tokens -------------------------------------------------------------------------------- */

static void b64url_cat(char *out, size_t cap, const void *p, size_t n)
{
	char tmp[4096];
	cr_assert(rc_base64_encode(tmp, sizeof tmp, p, n) > 0 || n == 0);
	for (char *c = tmp; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	tmp[strcspn(tmp, "=")] = '\0';
	cr_assert_lt(strlen(out) + strlen(tmp), cap);
	strcat(out, tmp);
}

#define TOK_CAP 4200

/* {"alg":ALG} or {"alg":ALG,"kid":KID}, in a rotating static buffer. */
static const char *hdr(const char *alg, const char *kid)
{
	static char h[4][256];
	static int k;
	k = (k + 1) % 4;
	if (kid)
		snprintf(h[k], sizeof h[k], "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
	else
		snprintf(h[k], sizeof h[k], "{\"alg\":\"%s\"}", alg);
	return h[k];
}

/* b64(header) "." b64(payload) into a rotating buffer: the signing input, to which "." and the
 * signature are appended. */
static char *signing_input(const char *header, const char *payload)
{
	static char t[8][TOK_CAP];
	static int k;
	k = (k + 1) % 8;
	t[k][0] = '\0';
	b64url_cat(t[k], TOK_CAP, header, strlen(header));
	strcat(t[k], ".");
	b64url_cat(t[k], TOK_CAP, payload, strlen(payload));
	return t[k];
}

static const char *finish(char *t, const uint8_t *sig, size_t n)
{
	strcat(t, ".");
	b64url_cat(t, TOK_CAP, sig, n);
	return t;
}

static void hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t mac[32])
{
	Hmac h;
	cr_assert_eq(wc_HmacInit(&h, NULL, INVALID_DEVID), 0);
	cr_assert_eq(wc_HmacSetKey(&h, WC_SHA256, key, (word32)key_len), 0);
	cr_assert_eq(wc_HmacUpdate(&h, (const uint8_t *)msg, (word32)strlen(msg)), 0);
	cr_assert_eq(wc_HmacFinal(&h, mac), 0);
	wc_HmacFree(&h);
}

static const char *tok_hs(const char *header, const char *payload, const void *key, size_t n)
{
	char *t = signing_input(header, payload);
	uint8_t mac[32];
	hmac(key, n, t, mac);
	return finish(t, mac, sizeof mac);
}

/* The raw r || s signature of t by k. */
static void es_sign(ecc_key *k, const char *t, uint8_t rs[64])
{
	uint8_t hash[32], der[128], r[32], s[32];
	word32 der_len = sizeof der, rl = sizeof r, sl = sizeof s;
	cr_assert_eq(wc_Sha256Hash((const uint8_t *)t, (word32)strlen(t), hash), 0);
	cr_assert_eq(wc_ecc_sign_hash(hash, sizeof hash, der, &der_len, &rng, k), 0);
	cr_assert_eq(wc_ecc_sig_to_rs(der, der_len, r, &rl, s, &sl), 0);
	memset(rs, 0, 64);
	memcpy(rs + 32 - rl, r, rl); /* r and s are big-endian, left-padded to 32 bytes */
	memcpy(rs + 64 - sl, s, sl);
}

static const char *tok_es(const char *header, const char *payload, ecc_key *k)
{
	char *t = signing_input(header, payload);
	uint8_t rs[64];
	es_sign(k, t, rs);
	return finish(t, rs, sizeof rs);
}

static const uint8_t DIGEST_INFO[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };

/* PKCS #1 v1.5 signature of `what` (the DigestInfo and hash, or something else for the attacks)
 * by k: returns its length. */
static size_t rs_sign_raw(RsaKey *k, const uint8_t *what, size_t n, uint8_t *sig, size_t cap)
{
	int len = wc_RsaSSL_Sign(what, (word32)n, sig, (word32)cap, k, &rng);
	cr_assert_gt(len, 0);
	return (size_t)len;
}

static const char *tok_rs(const char *header, const char *payload, RsaKey *k)
{
	char *t = signing_input(header, payload);
	uint8_t di[51], sig[512];
	memcpy(di, DIGEST_INFO, 19);
	cr_assert_eq(wc_Sha256Hash((const uint8_t *)t, (word32)strlen(t), di + 19), 0);
	return finish(t, sig, rs_sign_raw(k, di, sizeof di, sig, sizeof sig));
}

/* t with bit `bit` of its decoded signature flipped. */
static const char *flip_sig_bit(const char *t, size_t bit)
{
	static char out[TOK_CAP];
	const char *dot = strrchr(t, '.');
	uint8_t sig[512];
	ptrdiff_t n = rc_base64url_decode(sig, sizeof sig, dot + 1, strlen(dot + 1));
	cr_assert_gt(n, 0);
	cr_assert_lt(bit / 8, (size_t)n);
	sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
	snprintf(out, sizeof out, "%.*s", (int)(dot - t), t);
	return finish(out, sig, (size_t)n);
}

/* t with its signature replaced by sig[0..n). */
static const char *with_sig(const char *t, const uint8_t *sig, size_t n)
{
	static char out[TOK_CAP];
	const char *dot = strrchr(t, '.');
	snprintf(out, sizeof out, "%.*s", (int)(dot - t), t);
	return finish(out, sig, n);
}

/* Verify t (from a guarded copy). *grant is filled with 0xa5 first, and must be left so unless
 * the answer is OK; *kid says which key verified (or NULL). */
static enum rc_jwt_error verify_at(const rc_auth *a, const char *t, int64_t now, uint32_t leeway,
                                   rc_jwt_grant *grant, const char **kid)
{
	rc_guard g = rc_guard_copy(t, strlen(t));
	rc_jwt_grant out, pattern;
	memset(&out, 0xa5, sizeof out);
	memset(&pattern, 0xa5, sizeof pattern);
	static const char unset[] = "unset";
	const char *k = unset;
	enum rc_jwt_error e = rc_auth_verify(a, g.data, g.len, now, leeway, &out, &k);
	rc_guard_free(&g);
	if (e != RC_JWT_OK)
		cr_assert_eq(memcmp(&out, &pattern, sizeof out), 0, "grant written on error %d", e);
	bool signed_ok = e == RC_JWT_OK || e == RC_JWT_EXPIRED || e == RC_JWT_NOT_YET_VALID;
	cr_assert_eq(k != NULL, signed_ok, "kid_used %s after %d", k ? "set" : "NULL", e);
	if (grant)
		*grant = out;
	if (kid)
		*kid = k;
	return e;
}

static enum rc_jwt_error verify(const rc_auth *a, const char *t)
{
	return verify_at(a, t, NOW, 0, NULL, NULL);
}

#define EXPECT(a, t, want) \
	do { \
		enum rc_jwt_error got_ = verify(a, t); \
		cr_assert_eq(got_, want, "%s:%d: got %s, want %s", __FILE__, __LINE__, \
		             rc_jwt_error_text(got_), rc_jwt_error_text(want)); \
	} while (0)

/* ---- RFC 7515 appendix A ------------------------------------------------------------------- */

static const char A_PAYLOAD[] = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                                "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
#define A_EXP 1300819380
static const char A1[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                         "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                         "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                         "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/* A.1's JWK "k", as hex */
static const char A1_KEY_HEX[] = "0323354b2b0fa5bc837e0665777ba68f5ab328e6f054c928a90f84b2d2502ebf"
                                 "d3fb5a92d20647ef968ab4c377623d223d2e2172052e4f08c0cd9af567d080a3";
static const char A2_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAofgWCuLjybRlzo0tZWJj\n"
                             "NiuSfb4p4fAkd/wWJcyQoTbji9k0l8W26mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEz\n"
                             "P1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMsD1W/YpRPEwOWvG6b32690r2jZ47soMZo\n"
                             "9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTB\n"
                             "EMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxX\n"
                             "FvUK+DWNmoudF8NAco9/h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp\n"
                             "oQIDAQAB\n"
                             "-----END PUBLIC KEY-----\n";
static const char A2_SIG[] = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__"
                             "dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
                             "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
                             "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1"
                             "L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
                             "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEU"
                             "ipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
/* A.3's JWK x and y as a SubjectPublicKeyInfo */
static const char A3_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
                             "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
                             "-----END PUBLIC KEY-----\n";
static const char A3_SIG[] =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

Test(auth, rfc7515_a1_hs256)
{
	char keys[256];
	snprintf(keys, sizeof keys, "joe HS256 hex:%s\n", A1_KEY_HEX);
	rc_auth *a = load(keys);
	cr_assert_eq(rc_auth_count(a), 1);
	rc_jwt_grant g;
	const char *kid;
	cr_assert_eq(verify_at(a, A1, A_EXP - 1, 0, &g, &kid), RC_JWT_OK);
	cr_assert_str_eq(kid, "joe");
	cr_assert_eq(g.exp, A_EXP);
	cr_assert_eq(g.n_subscribe + g.n_publish, 0); /* it grants nothing */
	cr_assert_eq(verify_at(a, A1, A_EXP, 0, &g, &kid), RC_JWT_EXPIRED);
	cr_assert_str_eq(kid, "joe");
	cr_assert_eq(verify_at(a, A1, A_EXP + 9, 10, NULL, NULL), RC_JWT_OK);
	cr_assert_eq(verify_at(a, A1, A_EXP + 10, 10, NULL, NULL), RC_JWT_EXPIRED);
	/* every bit of the MAC matters, and a forged token is "bad signature" even expired */
	for (size_t bit = 0; bit < 256; bit++) {
		cr_assert_eq(verify_at(a, flip_sig_bit(A1, bit), A_EXP - 1, 0, NULL, NULL),
		             RC_JWT_SIGNATURE, "bit %zu", bit);
		cr_assert_eq(verify_at(a, flip_sig_bit(A1, bit), A_EXP + 1, 0, NULL, NULL),
		             RC_JWT_SIGNATURE, "bit %zu", bit);
	}
	rc_auth_free(a);

	/* the same secret as base64: and as file: */
	uint8_t key[64];
	for (int i = 0; i < 64; i++)
		key[i] = (uint8_t)strtol((char[]){ A1_KEY_HEX[2 * i], A1_KEY_HEX[2 * i + 1], 0 }, NULL, 16);
	char b64[128];
	cr_assert_gt(rc_base64_encode(b64, sizeof b64, key, sizeof key), 0);
	snprintf(keys, sizeof keys, "joe HS256 base64:%s\n", b64);
	a = load(keys);
	cr_assert_eq(verify_at(a, A1, A_EXP - 1, 0, NULL, NULL), RC_JWT_OK);
	rc_auth_free(a);
	write_file("secret.bin", key, sizeof key);
	a = load("joe HS256 file:secret.bin\n");
	cr_assert_eq(verify_at(a, A1, A_EXP - 1, 0, NULL, NULL), RC_JWT_OK);
	rc_auth_free(a);
}

Test(auth, rfc7515_a2_rs256_and_a3_es256)
{
	write_file("a2.pem", A2_PEM, strlen(A2_PEM));
	write_file("a3.pem", A3_PEM, strlen(A3_PEM));
	rc_auth *a = load("rsa RS256 a2.pem\nec ES256 file:a3.pem\n");
	char t[1024];
	snprintf(t, sizeof t, "eyJhbGciOiJSUzI1NiJ9.%s.%s", A_PAYLOAD, A2_SIG);
	const char *kid;
	cr_assert_eq(verify_at(a, t, A_EXP - 1, 0, NULL, &kid), RC_JWT_OK);
	cr_assert_str_eq(kid, "rsa");
	cr_assert_eq(verify_at(a, t, A_EXP, 0, NULL, NULL), RC_JWT_EXPIRED);
	for (size_t bit = 0; bit < 2048; bit += 13)
		cr_assert_eq(verify_at(a, flip_sig_bit(t, bit), A_EXP - 1, 0, NULL, NULL), RC_JWT_SIGNATURE,
		             "bit %zu", bit);
	snprintf(t, sizeof t, "eyJhbGciOiJFUzI1NiJ9.%s.%s", A_PAYLOAD, A3_SIG);
	cr_assert_eq(verify_at(a, t, A_EXP - 1, 0, NULL, &kid), RC_JWT_OK);
	cr_assert_str_eq(kid, "ec");
	cr_assert_eq(verify_at(a, t, A_EXP, 0, NULL, NULL), RC_JWT_EXPIRED);
	for (size_t bit = 0; bit < 512; bit++)
		cr_assert_eq(verify_at(a, flip_sig_bit(t, bit), A_EXP - 1, 0, NULL, NULL), RC_JWT_SIGNATURE,
		             "bit %zu", bit);
	rc_auth_free(a);
}

/* ---- ES256 and RS256 with keys made here --------------------------------------------------- */

static const char CLAIMS[] = "{\"sub\":\"alice\",\"subscribe\":[\"prices.*\"],\"publish\":"
                             "[\"orders\"],\"exp\":1700000060}";

Test(auth, es256)
{
	ecc_key k, other;
	ec_make(&k, ECC_SECP256R1, 32);
	ec_make(&other, ECC_SECP256R1, 32);
	ec_write(&k, "ec1.pem");
	ec_write(&other, "ec2.pem");
	rc_auth *a = load("ec1 ES256 ec1.pem\n");
	rc_jwt_grant g;
	const char *kid;
	cr_assert_eq(verify_at(a, tok_es(hdr("ES256", "ec1"), CLAIMS, &k), NOW, 0, &g, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "ec1");
	cr_assert_str_eq(g.sub, "alice");
	cr_assert(rc_jwt_allows(&g, RC_JWT_SUBSCRIBE, (const uint8_t *)"prices.eur", 10));
	cr_assert(rc_jwt_allows(&g, RC_JWT_PUBLISH, (const uint8_t *)"orders", 6));
	cr_assert_not(rc_jwt_allows(&g, RC_JWT_PUBLISH, (const uint8_t *)"prices.eur", 10));
	EXPECT(a, tok_es(hdr("ES256", NULL), CLAIMS, &k), RC_JWT_OK);
	/* another key's signature: with the kid, and without */
	EXPECT(a, tok_es(hdr("ES256", "ec1"), CLAIMS, &other), RC_JWT_SIGNATURE);
	EXPECT(a, tok_es(hdr("ES256", NULL), CLAIMS, &other), RC_JWT_SIGNATURE);
	/* every bit of r || s */
	const char *t = tok_es(hdr("ES256", "ec1"), CLAIMS, &k);
	char good[TOK_CAP];
	snprintf(good, sizeof good, "%s", t);
	for (size_t bit = 0; bit < 512; bit++)
		cr_assert_eq(verify(a, flip_sig_bit(good, bit)), RC_JWT_SIGNATURE, "bit %zu", bit);
	/* lengths other than 64, the DER form, r or s zero or all ones */
	uint8_t sig[80];
	memset(sig, 0, sizeof sig);
	EXPECT(a, with_sig(good, sig, 64), RC_JWT_SIGNATURE);
	memset(sig, 0xff, sizeof sig);
	EXPECT(a, with_sig(good, sig, 64), RC_JWT_SIGNATURE);
	uint8_t rs[64], der[80];
	es_sign(&k, signing_input(hdr("ES256", "ec1"), CLAIMS), rs);
	word32 der_len = sizeof der;
	cr_assert_eq(wc_ecc_rs_raw_to_sig(rs, 32, rs + 32, 32, der, &der_len), 0);
	EXPECT(a, with_sig(good, der, der_len), RC_JWT_SIGNATURE);
	cr_assert_eq(verify(a, with_sig(good, rs, 64)), RC_JWT_OK);
	EXPECT(a, with_sig(good, rs, 63), RC_JWT_SIGNATURE);
	memcpy(sig, rs, 64);
	sig[64] = 0;
	EXPECT(a, with_sig(good, sig, 65), RC_JWT_SIGNATURE);
	/* the signature covers the header too: the same claims under another header */
	const char *dot = strrchr(good, '.');
	char swapped[TOK_CAP];
	snprintf(swapped, sizeof swapped, "%s%s", signing_input(hdr("ES256", NULL), CLAIMS), dot);
	EXPECT(a, swapped, RC_JWT_SIGNATURE);
	rc_auth_free(a);
	wc_ecc_free(&k);
	wc_ecc_free(&other);
}

Test(auth, rs256)
{
	RsaKey k, other;
	rsa_make(&k, 2048);
	rsa_make(&other, 2048);
	rsa_write(&k, "rsa.pem", false);
	rsa_write(&k, "rsa-pkcs1.pem", true);
	rc_auth *a = load("r1 RS256 rsa.pem\nr2 RS256 rsa-pkcs1.pem\n");
	cr_assert_eq(rc_auth_count(a), 2);
	const char *kid;
	rc_jwt_grant g;
	cr_assert_eq(verify_at(a, tok_rs(hdr("RS256", "r1"), CLAIMS, &k), NOW, 0, &g, &kid), RC_JWT_OK);
	cr_assert_str_eq(kid, "r1");
	cr_assert_str_eq(g.sub, "alice");
	cr_assert_eq(verify_at(a, tok_rs(hdr("RS256", "r2"), CLAIMS, &k), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "r2");
	cr_assert_eq(verify_at(a, tok_rs(hdr("RS256", NULL), CLAIMS, &k), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "r1");
	EXPECT(a, tok_rs(hdr("RS256", "r1"), CLAIMS, &other), RC_JWT_SIGNATURE);
	EXPECT(a, tok_rs(hdr("RS256", NULL), CLAIMS, &other), RC_JWT_SIGNATURE);
	char good[TOK_CAP];
	snprintf(good, sizeof good, "%s", tok_rs(hdr("RS256", "r1"), CLAIMS, &k));
	for (size_t bit = 0; bit < 2048; bit += 7)
		cr_assert_eq(verify(a, flip_sig_bit(good, bit)), RC_JWT_SIGNATURE, "bit %zu", bit);
	/* what is signed must be exactly the DigestInfo of SHA-256: not the bare hash, not with a
	 * byte after it, not another hash's */
	const char *in = signing_input(hdr("RS256", "r1"), CLAIMS);
	uint8_t di[52], sig[512];
	memcpy(di, DIGEST_INFO, 19);
	cr_assert_eq(wc_Sha256Hash((const uint8_t *)in, (word32)strlen(in), di + 19), 0);
	di[51] = 0;
	EXPECT(a, with_sig(good, sig, rs_sign_raw(&k, di + 19, 32, sig, sizeof sig)), RC_JWT_SIGNATURE);
	EXPECT(a, with_sig(good, sig, rs_sign_raw(&k, di, 52, sig, sizeof sig)), RC_JWT_SIGNATURE);
	uint8_t di2[51];
	memcpy(di2, di, 51);
	di2[14] = 0x02; /* SHA-384's OID, SHA-256's length */
	EXPECT(a, with_sig(good, sig, rs_sign_raw(&k, di2, 51, sig, sizeof sig)), RC_JWT_SIGNATURE);
	/* the right one, then lengths other than the modulus' */
	size_t n = rs_sign_raw(&k, di, 51, sig, sizeof sig);
	cr_assert_eq(n, 256);
	EXPECT(a, with_sig(good, sig, n), RC_JWT_OK);
	uint8_t longer[257] = { 0 };
	memcpy(longer + 1, sig, 256);
	EXPECT(a, with_sig(good, longer, 257), RC_JWT_SIGNATURE);
	EXPECT(a, with_sig(good, sig + 1, 255), RC_JWT_SIGNATURE);
	EXPECT(a, with_sig(good, sig, 64), RC_JWT_SIGNATURE);
	rc_auth_free(a);
	wc_FreeRsaKey(&k);
	wc_FreeRsaKey(&other);
}

/* ---- which key ----------------------------------------------------------------------------- */

static const uint8_t S1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t S2[40] = "another secret, forty bytes long........";

static char *hex(const uint8_t *p, size_t n)
{
	static char h[2][128];
	static int k;
	k = (k + 1) % 2;
	for (size_t i = 0; i < n; i++)
		sprintf(h[k] + 2 * i, "%02x", p[i]);
	return h[k];
}

Test(auth, key_selection)
{
	ecc_key ec;
	ec_make(&ec, ECC_SECP256R1, 32);
	ec_write(&ec, "ec.pem");
	char keys[512];
	snprintf(keys, sizeof keys, "hs1 HS256 hex:%s\nec1 ES256 ec.pem\nhs2 HS256 hex:%s\n",
	         hex(S1, sizeof S1), hex(S2, sizeof S2));
	rc_auth *a = load(keys);
	const char *kid;
	/* by kid */
	cr_assert_eq(verify_at(a, tok_hs(hdr("HS256", "hs2"), "{}", S2, sizeof S2), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "hs2");
	EXPECT(a, tok_hs(hdr("HS256", "hs1"), "{}", S2, sizeof S2), RC_JWT_SIGNATURE);
	EXPECT(a, tok_hs(hdr("HS256", "nope"), "{}", S2, sizeof S2), RC_JWT_NO_KEY);
	EXPECT(a, tok_hs(hdr("HS256", "HS1"), "{}", S1, sizeof S1), RC_JWT_NO_KEY); /* exact case */
	EXPECT(a, tok_hs(hdr("HS256", "hs"), "{}", S1, sizeof S1), RC_JWT_NO_KEY);
	EXPECT(a, tok_hs(hdr("HS256", "hs1x"), "{}", S1, sizeof S1), RC_JWT_NO_KEY);
	/* the kid of a key of another algorithm: no key, whatever the signature */
	EXPECT(a, tok_hs(hdr("HS256", "ec1"), "{}", S1, sizeof S1), RC_JWT_NO_KEY);
	EXPECT(a, tok_es(hdr("ES256", "hs1"), "{}", &ec), RC_JWT_NO_KEY);
	EXPECT(a, tok_es(hdr("ES256", "ec1"), "{}", &ec), RC_JWT_OK);
	/* without kid: every key of the token's algorithm, in file order */
	cr_assert_eq(verify_at(a, tok_hs(hdr("HS256", NULL), "{}", S2, sizeof S2), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "hs2");
	cr_assert_eq(verify_at(a, tok_hs(hdr("HS256", NULL), "{}", S1, sizeof S1), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "hs1");
	cr_assert_eq(verify_at(a, tok_es(hdr("ES256", NULL), "{}", &ec), NOW, 0, NULL, &kid),
	             RC_JWT_OK);
	cr_assert_str_eq(kid, "ec1");
	static const uint8_t wrong[32] = "0123456789abcdef0123456789abcdeF";
	EXPECT(a, tok_hs(hdr("HS256", NULL), "{}", wrong, sizeof wrong), RC_JWT_SIGNATURE);
	/* no RS256 key at all */
	RsaKey r;
	rsa_make(&r, 2048);
	EXPECT(a, tok_rs(hdr("RS256", NULL), "{}", &r), RC_JWT_NO_KEY);
	EXPECT(a, tok_rs(hdr("RS256", "hs1"), "{}", &r), RC_JWT_NO_KEY);
	/* the token's form is checked before any key */
	EXPECT(a, "not a token", RC_JWT_MALFORMED);
	EXPECT(a, tok_hs(hdr("HS512", "hs1"), "{}", S1, sizeof S1), RC_JWT_ALG);
	rc_auth_free(a);
	wc_ecc_free(&ec);
	wc_FreeRsaKey(&r);
}

/* The public key's PEM file bytes, as an attacker would use them for an HMAC secret. */
static size_t file_bytes(const char *name, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path(name), "rb");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

Test(auth, key_confusion_refused)
{
	RsaKey r;
	rsa_make(&r, 2048);
	rsa_write(&r, "rsa.pem", false);
	ecc_key ec;
	ec_make(&ec, ECC_SECP256R1, 32);
	ec_write(&ec, "ec.pem");
	uint8_t rsa_pem[2048], ec_pem[1024], rsa_der[1024], ec_der[256];
	size_t rsa_pem_len = file_bytes("rsa.pem", rsa_pem, sizeof rsa_pem);
	size_t ec_pem_len = file_bytes("ec.pem", ec_pem, sizeof ec_pem);
	int rsa_der_len = wc_RsaKeyToPublicDer(&r, rsa_der, sizeof rsa_der);
	int ec_der_len = ec_public_der(&ec, ec_der, sizeof ec_der);
	cr_assert(rsa_der_len > 0 && ec_der_len > 0);
	const struct {
		const uint8_t *secret;
		size_t n;
		const char *kid;
	} forged[] = {
		{ rsa_pem, rsa_pem_len, "rs1" },         { rsa_pem, rsa_pem_len, NULL },
		{ rsa_der, (size_t)rsa_der_len, "rs1" }, { rsa_der, (size_t)rsa_der_len, NULL },
		{ ec_pem, ec_pem_len, "ec1" },           { ec_pem, ec_pem_len, NULL },
		{ ec_der, (size_t)ec_der_len, "ec1" },   { ec_der, (size_t)ec_der_len, NULL },
	};
	/* only public keys: no HS256 key to try, so no key */
	rc_auth *a = load("rs1 RS256 rsa.pem\nec1 ES256 ec.pem\n");
	for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
		EXPECT(a, tok_hs(hdr("HS256", forged[i].kid), CLAIMS, forged[i].secret, forged[i].n),
		       RC_JWT_NO_KEY);
	/* alg none, with the key's kid and without, with a signature and without */
	char t[TOK_CAP];
	snprintf(t, sizeof t, "%s.", signing_input(hdr("none", "rs1"), CLAIMS));
	EXPECT(a, t, RC_JWT_ALG);
	snprintf(t, sizeof t, "%s.", signing_input(hdr("none", NULL), CLAIMS));
	EXPECT(a, t, RC_JWT_ALG);
	snprintf(t, sizeof t, "%s.c2ln", signing_input(hdr("none", NULL), CLAIMS));
	EXPECT(a, t, RC_JWT_ALG);
	/* the genuine tokens still pass */
	EXPECT(a, tok_rs(hdr("RS256", "rs1"), CLAIMS, &r), RC_JWT_OK);
	EXPECT(a, tok_es(hdr("ES256", "ec1"), CLAIMS, &ec), RC_JWT_OK);
	rc_auth_free(a);
	/* with an HS256 key present too: without kid the forgery is tried against that key only */
	char keys[512];
	snprintf(keys, sizeof keys, "rs1 RS256 rsa.pem\nhs1 HS256 hex:%s\nec1 ES256 ec.pem\n",
	         hex(S1, sizeof S1));
	a = load(keys);
	for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
		EXPECT(a, tok_hs(hdr("HS256", forged[i].kid), CLAIMS, forged[i].secret, forged[i].n),
		       forged[i].kid ? RC_JWT_NO_KEY : RC_JWT_SIGNATURE);
	/* and the reverse: an HS256 key's kid on an RS256 or ES256 token */
	EXPECT(a, tok_rs(hdr("RS256", "hs1"), CLAIMS, &r), RC_JWT_NO_KEY);
	EXPECT(a, tok_es(hdr("ES256", "hs1"), CLAIMS, &ec), RC_JWT_NO_KEY);
	rc_auth_free(a);
	wc_FreeRsaKey(&r);
	wc_ecc_free(&ec);
}

/* ---- time ---------------------------------------------------------------------------------- */

Test(auth, time_checks)
{
	char keys[256];
	snprintf(keys, sizeof keys, "hs1 HS256 hex:%s\n", hex(S1, sizeof S1));
	rc_auth *a = load(keys);
	char claims[128];
	snprintf(claims, sizeof claims, "{\"exp\":%lld,\"nbf\":%lld}", NOW + 10, NOW - 10);
	const char *t = tok_hs(hdr("HS256", "hs1"), claims, S1, sizeof S1);
	char good[TOK_CAP];
	snprintf(good, sizeof good, "%s", t);
	static const struct {
		int64_t now;
		uint32_t leeway;
		enum rc_jwt_error want;
	} v[] = {
		{ NOW, 0, RC_JWT_OK },
		{ NOW + 9, 0, RC_JWT_OK },
		{ NOW + 10, 0, RC_JWT_EXPIRED },
		{ NOW + 14, 5, RC_JWT_OK },
		{ NOW + 15, 5, RC_JWT_EXPIRED },
		{ NOW - 10, 0, RC_JWT_OK },
		{ NOW - 11, 0, RC_JWT_NOT_YET_VALID },
		{ NOW - 15, 5, RC_JWT_OK },
		{ NOW - 16, 5, RC_JWT_NOT_YET_VALID },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		const char *kid;
		cr_assert_eq(verify_at(a, good, v[i].now, v[i].leeway, NULL, &kid), v[i].want, "case %zu",
		             i);
		cr_assert_str_eq(kid, "hs1");
		/* forged: the signature is checked first */
		cr_assert_eq(verify_at(a, flip_sig_bit(good, 5), v[i].now, v[i].leeway, NULL, &kid),
		             RC_JWT_SIGNATURE, "case %zu", i);
	}
	rc_auth_free(a);
}

/* ---- the keys file ------------------------------------------------------------------------- */

Test(auth, keys_file_format)
{
	ecc_key ec;
	ec_make(&ec, ECC_SECP256R1, 32);
	ec_write(&ec, "ec.pem");
	mkdir(path("sub"), 0700);
	ec_write(&ec, "sub/ec.pem");
	char keys[4096];
	char kid64[65];
	memset(kid64, 'k', 64);
	kid64[64] = '\0';
	/* comments, blank lines, CRLF, tabs, surrounding blanks, an absolute path, a subdirectory,
	 * every printable byte in a KID */
	snprintf(keys, sizeof keys,
	         "# ringcast token keys\r\n"
	         "\r\n"
	         "   \t\n"
	         "\t  # indented comment\n"
	         "hs1\tHS256\thex:%s\r\n"
	         "  ec1   ES256   %s  \n"
	         "ec2 ES256 file:sub/ec.pem\n"
	         "!\"#$%%&'()*+,-./:;<=>?@[\\]^_`{|}~ HS256 hex:%s\n"
	         "%s HS256 hex:%s",
	         hex(S1, sizeof S1), path("ec.pem"), hex(S2, sizeof S2), kid64, hex(S1, sizeof S1));
	rc_auth *a = load(keys);
	cr_assert_eq(rc_auth_count(a), 5);
	EXPECT(a, tok_es(hdr("ES256", "ec2"), "{}", &ec), RC_JWT_OK);
	EXPECT(a, tok_hs(hdr("HS256", kid64), "{}", S1, sizeof S1), RC_JWT_OK);
	EXPECT(a, tok_hs(hdr("HS256", "!\\\"#$%&'()*+,-./:;<=>?@[\\\\]^_`{|}~"), "{}", S2, sizeof S2),
	       RC_JWT_OK);
	rc_auth_free(a);
	/* 32 keys is the limit; hex: in either case; the shortest secret */
	size_t n = 0;
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(keys + n, sizeof keys - n, "k%d HS256 hex:%s\n", i,
		                      i % 2 ? hex(S1, sizeof S1)
		                            : "4142434445464748494A4B4C4D4E4F50"
		                              "4142434445464748494a4b4c4d4e4f50");
	a = load(keys);
	cr_assert_eq(rc_auth_count(a), 32);
	EXPECT(a, tok_hs(hdr("HS256", "k0"), "{}", "ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP", 32), RC_JWT_OK);
	rc_auth_free(a);
	snprintf(keys + n, sizeof keys - n, "k32 HS256 hex:%s\n", hex(S1, sizeof S1));
	load_refused(keys, 33, "more than 32 keys");
	rc_auth_free(NULL);
	wc_ecc_free(&ec);
}

Test(auth, keys_file_errors)
{
	char keys[4096];
	char s31[80], s1025[2100];
	snprintf(s31, sizeof s31, "%s", hex(S1, 31));
	for (int i = 0; i < 1025; i++)
		memcpy(s1025 + 2 * i, "ab", 2);
	s1025[2050] = '\0';
	snprintf(keys, sizeof keys, "# c\nk HS256 hex:%s\n", s31);
	load_refused(keys, 2, "HS256 secret of 31 bytes: at least 32 are needed");
	snprintf(keys, sizeof keys, "k HS256 hex:%s\n", s1025);
	load_refused(keys, 1, "longer than 1024 bytes");
	load_refused("k HS256 base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\n", 1, "base64:");
	load_refused("k HS256 base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZQ==\n", 1, "31 bytes");
	load_refused("k HS256 hex:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n",
	             1, "not a hex digit");
	load_refused("k HS256 hex:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 1,
	             "odd number");
	load_refused("k HS256 secret\n", 1, "base64:TEXT, hex:DIGITS or file:PATH");
	load_refused("k HS256 file:missing\n", 1, "No such file");
	write_file("short", "0123456789", 10);
	load_refused("k HS256 file:short\n", 1, "10 bytes");
	/* fields */
	load_refused("k HS256\n", 1, "expected KID ALG SOURCE");
	load_refused("k\n", 1, "expected KID ALG SOURCE");
	load_refused("k HS256 hex:00 extra\n", 1, "expected KID ALG SOURCE");
	snprintf(keys, sizeof keys, "%065d HS256 hex:%s\n", 0, hex(S1, 32));
	load_refused(keys, 1, "KID longer than 64 bytes");
	snprintf(keys, sizeof keys, "k\x01 HS256 hex:%s\n", hex(S1, 32));
	load_refused(keys, 1, "KID with a byte outside printable ASCII");
	snprintf(keys, sizeof keys, "k\xc3\xa9 HS256 hex:%s\n", hex(S1, 32));
	load_refused(keys, 1, "KID with a byte outside printable ASCII");
	static const char *const algs[] = { "HS384", "hs256", "none", "RS512", "ES384", "PS256", "" };
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		snprintf(keys, sizeof keys, "\nk %s hex:%s\n", algs[i], hex(S1, 32));
		load_refused(keys, 2, algs[i][0] ? "unknown ALG" : "expected KID ALG SOURCE");
	}
	/* duplicate KIDs */
	snprintf(keys, sizeof keys, "a HS256 hex:%s\nb HS256 hex:%s\n\na HS256 hex:%s\n", hex(S1, 32),
	         hex(S1, 32), hex(S1, 32));
	load_refused(keys, 4, "duplicate KID \"a\" (first on line 1)");
	/* the file as a whole */
	load_refused("", 0, "no keys");
	load_refused("# only a comment\n\n", 0, "no keys");
	char err[256];
	cr_assert_null(rc_auth_load(path("absent"), err, sizeof err));
	cr_assert(strstr(err, "absent: No such file"), "%s", err);
	cr_assert_null(rc_auth_load(dir, err, sizeof err));
	cr_assert(strstr(err, dir), "%s", err);
	write_file("keys", "k HS256 hex:00\0\n", 16);
	cr_assert_null(rc_auth_load(path("keys"), err, sizeof err));
	cr_assert(strstr(err, "NUL"), "%s", err);
	static char big[RC_AUTH_FILE_MAX + 2];
	memset(big, '#', sizeof big);
	write_file("keys", big, sizeof big);
	cr_assert_null(rc_auth_load(path("keys"), err, sizeof err));
	cr_assert(strstr(err, "longer than 65536 bytes"), "%s", err);
	/* a tiny err buffer is cut, not overrun */
	char tiny[8];
	cr_assert_null(rc_auth_load(path("absent"), tiny, sizeof tiny));
	cr_assert_eq(strlen(tiny), 7);
}

Test(auth, public_key_errors)
{
	ecc_key p256, p384;
	ec_make(&p256, ECC_SECP256R1, 32);
	ec_make(&p384, ECC_SECP384R1, 48);
	ec_write(&p256, "p256.pem");
	ec_write(&p384, "p384.pem");
	RsaKey r1024, r2048;
	rsa_make(&r1024, 1024);
	rsa_make(&r2048, 2048);
	rsa_write(&r1024, "r1024.pem", false);
	rsa_write(&r2048, "r2048.pem", false);
	rsa_write(&r1024, "r1024-pkcs1.pem", true);
	load_refused("k ES256 p384.pem\n", 1, "EC key on SECP384R1: ES256 needs P-256");
	load_refused("x RS256 r2048.pem\nk RS256 r1024.pem\n", 2, "RSA key of 1024 bits");
	load_refused("k RS256 r1024-pkcs1.pem\n", 1, "RSA key of 1024 bits");
	load_refused("k ES256 r2048.pem\n", 1, "an RSA key: ES256 needs an EC key on P-256");
	load_refused("k RS256 p256.pem\n", 1, "an EC key: RS256 needs an RSA key");
	load_refused("k RS256 p384.pem\n", 1, "an EC key: RS256 needs an RSA key");
	load_refused("k RS256 missing.pem\n", 1, "missing.pem: No such file");
	write_file("garbage.pem", "hello\n", 6);
	load_refused("k ES256 garbage.pem\n", 1, "garbage.pem: no PEM public key");
	static const char broken[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	write_file("broken.pem", broken, strlen(broken));
	load_refused("k ES256 broken.pem\n", 1, "broken.pem: ");
	load_refused("k RS256 broken.pem\n", 1, "broken.pem: ");
	uint8_t der[512], pem[2048];
	int n = wc_EccKeyToDer(&p256, der, sizeof der);
	cr_assert_gt(n, 0);
	int m = wc_DerToPem(der, (word32)n, pem, sizeof pem, ECC_PRIVATEKEY_TYPE);
	cr_assert_gt(m, 0);
	write_file("private.pem", pem, (size_t)m);
	load_refused("k ES256 private.pem\n", 1, "holds a private key");
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	write_file("cert.pem", cert, strlen(cert));
	load_refused("k RS256 cert.pem\n", 1, "holds a certificate");
	/* an EC point that is not on the curve: the last byte of y changed */
	int len = ec_public_der(&p256, der, sizeof der);
	der[len - 1] ^= 1;
	write_pem("offcurve.pem", der, len, PUBLICKEY_TYPE);
	load_refused("k ES256 offcurve.pem\n", 1, "offcurve.pem: ");
	/* the good ones load */
	rc_auth *a = load("a ES256 p256.pem\nb RS256 r2048.pem\n");
	cr_assert_eq(rc_auth_count(a), 2);
	rc_auth_free(a);
	wc_ecc_free(&p256);
	wc_ecc_free(&p384);
	wc_FreeRsaKey(&r1024);
	wc_FreeRsaKey(&r2048);
}

/* ---- threads ------------------------------------------------------------------------------- */

typedef struct worker {
	const rc_auth *a;
	const char *tokens[6];
	enum rc_jwt_error want[6];
	int rounds;
	int bad; /* answers that were not the expected one */
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	for (int r = 0; r < w->rounds; r++)
		for (int i = 0; i < 6; i++) {
			rc_jwt_grant g;
			const char *t = w->tokens[i];
			enum rc_jwt_error e =
			        rc_auth_verify(w->a, (const uint8_t *)t, strlen(t), NOW, 0, &g, NULL);
			if (e != w->want[i] ||
			    (e == RC_JWT_OK &&
			     !rc_jwt_allows(&g, RC_JWT_SUBSCRIBE, (const uint8_t *)"prices.x", 8)))
				w->bad++;
		}
	rc_auth_thread_done();
	return NULL;
}

Test(auth, concurrent_verification, .timeout = 120)
{
	ecc_key ec;
	ec_make(&ec, ECC_SECP256R1, 32);
	ec_write(&ec, "ec.pem");
	RsaKey r;
	rsa_make(&r, 2048);
	rsa_write(&r, "rsa.pem", false);
	char keys[512];
	snprintf(keys, sizeof keys, "hs1 HS256 hex:%s\nec1 ES256 ec.pem\nrs1 RS256 rsa.pem\n",
	         hex(S1, sizeof S1));
	rc_auth *a = load(keys);
	static char toks[6][TOK_CAP];
	snprintf(toks[0], TOK_CAP, "%s", tok_hs(hdr("HS256", "hs1"), CLAIMS, S1, sizeof S1));
	snprintf(toks[1], TOK_CAP, "%s", tok_es(hdr("ES256", NULL), CLAIMS, &ec));
	snprintf(toks[2], TOK_CAP, "%s", tok_rs(hdr("RS256", "rs1"), CLAIMS, &r));
	snprintf(toks[3], TOK_CAP, "%s", flip_sig_bit(toks[1], 77));
	snprintf(toks[4], TOK_CAP, "%s", flip_sig_bit(toks[2], 1000));
	snprintf(toks[5], TOK_CAP, "%s", tok_hs(hdr("HS256", "ec1"), CLAIMS, S1, sizeof S1));
	worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (worker){ .a = a,
			             .tokens = { toks[0], toks[1], toks[2], toks[3], toks[4], toks[5] },
			             .want = { RC_JWT_OK, RC_JWT_OK, RC_JWT_OK, RC_JWT_SIGNATURE,
			                       RC_JWT_SIGNATURE, RC_JWT_NO_KEY },
			             .rounds = 40 };
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pthread_join(th[i], NULL), 0);
		cr_assert_eq(w[i].bad, 0, "thread %d: %d wrong answers", i, w[i].bad);
	}
	rc_auth_free(a);
	wc_ecc_free(&ec);
	wc_FreeRsaKey(&r);
}
