/* Tests of rc_jwt, the JSON Web Token parser, and of rc_base64's two decoders it stands on.
 *
 * Every token goes through rc_guard_copy, so reading one byte past it faults; every prefix of the
 * valid tokens is parsed too. Tokens are built here from their JSON texts with a base64url encoder
 * of the test's own (rc_base64_encode with the alphabet swapped and the padding cut), so that each
 * rule of rc_jwt.h can be broken on its own. Covered: the base64 decoders (RFC 4648 vectors,
 * padding, alphabets, non-canonical bits, room, round trips), the token's shape and limits, every
 * header rule, strict JSON (duplicates also through escapes, nesting, numbers, strings), every
 * claim, topic patterns and rc_jwt_allows, the time checks with leeway, and the RFC 7515 appendix
 * A examples (A.1 HS256, A.2 RS256, A.3 ES256), whose header and claims must parse. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_base64.h"
#include "rc_jwt.h"
#include "rc_test.h"

/* ---- helpers ------------------------------------------------------------------------------- */

#define GUARDS_MAX 64
static rc_guard guards[GUARDS_MAX];
static size_t guards_len;

static uint8_t *guarded(const void *p, size_t n)
{
	if (guards_len == GUARDS_MAX) {
		/* long loops: recycle, nothing keeps pointers across iterations */
		while (guards_len)
			rc_guard_free(&guards[--guards_len]);
	}
	guards[guards_len] = rc_guard_copy(p, n);
	return guards[guards_len++].data;
}

static void free_guards(void)
{
	while (guards_len)
		rc_guard_free(&guards[--guards_len]);
}

TestSuite(jwt, .fini = free_guards);

/* base64url without padding of p[0..n), appended to out (NUL-terminated). */
static void b64url_cat(char *out, size_t cap, const void *p, size_t n)
{
	char tmp[8192];
	cr_assert(rc_base64_encode(tmp, sizeof tmp, p, n) > 0 || n == 0);
	for (char *c = tmp; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	tmp[strcspn(tmp, "=")] = '\0';
	cr_assert_lt(strlen(out) + strlen(tmp), cap);
	strcat(out, tmp);
}

#define TOK_CAP 16384
static const char SIG[] = "c2lnbmF0dXJl"; /* "signature" */

/* A token of header and payload JSON texts, and a signature already in base64url. */
static const char *mk3(const char *header, const char *payload, const char *sig)
{
	static char t[4][TOK_CAP];
	static int k;
	k = (k + 1) % 4;
	t[k][0] = '\0';
	b64url_cat(t[k], TOK_CAP, header, strlen(header));
	strcat(t[k], ".");
	b64url_cat(t[k], TOK_CAP, payload, strlen(payload));
	strcat(t[k], ".");
	cr_assert_lt(strlen(t[k]) + strlen(sig), TOK_CAP);
	strcat(t[k], sig);
	return t[k];
}

static const char *mk(const char *header, const char *payload)
{
	return mk3(header, payload, SIG);
}

/* A token whose header is {"alg":"HS256"} and whose payload is the given claims. */
static const char *claims(const char *payload)
{
	return mk("{\"alg\":\"HS256\"}", payload);
}

static rc_jwt J;

/* Parse t (guarded) into J; an error must come with a reason, OK without one. */
static enum rc_jwt_error parse_n(const void *t, size_t n)
{
	uint8_t *g = guarded(t, n);
	memset(&J, 0xa5, sizeof J);
	enum rc_jwt_error e = rc_jwt_parse(g, n, &J);
	if (e == RC_JWT_OK) {
		cr_assert_null(J.why);
		cr_assert(J.signed_part == g);
		cr_assert_lt(J.signed_len, n);
		cr_assert_eq(g[J.signed_len], '.');
		cr_assert(J.sig_len >= 1 && J.sig_len <= RC_JWT_SIG_MAX);
		cr_assert(J.alg >= RC_JWT_HS256 && J.alg <= RC_JWT_RS256);
		cr_assert_eq(strlen(J.kid), J.kid_len);
		cr_assert_eq(strlen(J.grant.sub), J.grant.sub_len);
	} else {
		cr_assert_not_null(J.why, "error %d without a reason", e);
		cr_assert(e == RC_JWT_MALFORMED || e == RC_JWT_ALG || e == RC_JWT_CLAIMS);
	}
	return e;
}

static enum rc_jwt_error parse(const char *t)
{
	return parse_n(t, strlen(t));
}

/* Expect error e for token t, and a reason containing `why` (NULL: any). */
static void refused(const char *t, enum rc_jwt_error e, const char *why)
{
	enum rc_jwt_error got = parse(t);
	cr_assert_eq(got, e, "%s: got %d (%s), want %d", t, got, J.why ? J.why : "-", e);
	if (why)
		cr_assert(strstr(J.why, why), "%s: reason \"%s\", want \"%s\"", t, J.why, why);
}

static void accepted(const char *t)
{
	enum rc_jwt_error got = parse(t);
	cr_assert_eq(got, RC_JWT_OK, "%s: got %d (%s)", t, got, J.why ? J.why : "-");
}

/* n copies of byte b, NUL-terminated, in a static buffer (one per slot). */
static const char *repeat(int slot, char b, size_t n)
{
	static char buf[4][8192];
	cr_assert_lt(n, sizeof buf[0]);
	memset(buf[slot], b, n);
	buf[slot][n] = 0;
	return buf[slot];
}

static bool allows(const rc_jwt_grant *g, enum rc_jwt_op op, const char *topic)
{
	size_t n = strlen(topic);
	return rc_jwt_allows(g, op, guarded(topic, n), n);
}

/* ---- base64 decoders ----------------------------------------------------------------------- */

static ptrdiff_t url(uint8_t *out, size_t cap, const char *s)
{
	return rc_base64url_decode(out, cap, guarded(s, strlen(s)), strlen(s));
}

static ptrdiff_t std64(uint8_t *out, size_t cap, const char *s)
{
	return rc_base64_decode(out, cap, guarded(s, strlen(s)), strlen(s));
}

Test(jwt, base64url_rfc4648_vectors)
{
	static const char *const v[][2] = {
		{ "", "" },           { "Zg", "f" },          { "Zm8", "fo" },         { "Zm9v", "foo" },
		{ "Zm9vYg", "foob" }, { "Zm9vYmE", "fooba" }, { "Zm9vYmFy", "foobar" }
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		ptrdiff_t n = url(out, sizeof out, v[i][0]);
		cr_assert_eq(n, (ptrdiff_t)strlen(v[i][1]), "%s", v[i][0]);
		cr_assert_eq(memcmp(out, v[i][1], (size_t)n), 0, "%s", v[i][0]);
		cr_assert_eq((size_t)n, RC_BASE64URL_DECODED_LEN(strlen(v[i][0])));
	}
	cr_assert_eq(rc_base64url_decode(NULL, 0, NULL, 0), 0);
	/* the two characters that differ from the standard alphabet */
	cr_assert_eq(url(out, sizeof out, "-_8"), 2);
	cr_assert_eq(out[0], 0xfb);
	cr_assert_eq(out[1], 0xff);
}

Test(jwt, base64url_refusals)
{
	static const char *const bad[] = {
		"Zg==", "Zg=", "Zm8=",   "Z",      "Zm9vY", /* padding; 4k+1 characters */
		"Zh",   "Zm9", "Zm9vYh",                    /* bits left over in the last character */
		"+_8",  "-/8", "Zm 9v",  "Zm9v\n", " Zm9v", "Zm9v.", "Zm\0v", "Zm9v=",
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = i == 14 ? 4 : strlen(bad[i]);
		cr_assert_eq(rc_base64url_decode(out, sizeof out, guarded(bad[i], n), n), RC_BASE64_INVALID,
		             "\"%s\"", bad[i]);
	}
	/* every byte outside the alphabet, in every position of a group */
	for (int b = 0; b < 256; b++) {
		bool in = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
		          b == '-' || b == '_';
		for (int pos = 0; pos < 4; pos++) {
			char s[5] = "AAAA";
			s[pos] = (char)b;
			ptrdiff_t n = rc_base64url_decode(out, sizeof out, guarded(s, 4), 4);
			cr_assert_eq(n >= 0, in, "byte 0x%02x at %d", b, pos);
		}
	}
	/* no room: decided before writing */
	cr_assert_eq(url(out, 5, "Zm9vYmFy"), RC_BASE64_NO_ROOM);
	cr_assert_eq(url(out, 6, "Zm9vYmFy"), 6);
	cr_assert_eq(url(out, 1, "Zm8"), RC_BASE64_NO_ROOM);
}

Test(jwt, base64_standard_decoder)
{
	static const char *const v[][2] = { { "", "" },
		                                { "Zg==", "f" },
		                                { "Zm8=", "fo" },
		                                { "Zm9v", "foo" },
		                                { "Zm9vYg==", "foob" },
		                                { "Zm9vYmE=", "fooba" },
		                                { "Zm9vYmFy", "foobar" },
		                                { "+/8=", "\xfb\xff" } };
	uint8_t out[16];
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		ptrdiff_t n = std64(out, sizeof out, v[i][0]);
		cr_assert_eq(n, (ptrdiff_t)strlen(v[i][1]), "%s", v[i][0]);
		cr_assert_eq(memcmp(out, v[i][1], (size_t)n), 0, "%s", v[i][0]);
	}
	static const char *const bad[] = { "Zg",     "Zg=",  "Zg===",    "Z===", "====",
		                               "Zh==",   "Zm9=", "Zg==Zg==", "Z=g=", "-_8=",
		                               "Zm9v\n", "Zm 9", "=Zm9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(std64(out, sizeof out, bad[i]), RC_BASE64_INVALID, "\"%s\"", bad[i]);
	cr_assert_eq(std64(out, 3, "Zm9vYg=="), RC_BASE64_NO_ROOM);
	cr_assert_eq(std64(out, 4, "Zm9vYg=="), 4);
}

Test(jwt, base64_round_trips_every_length)
{
	uint8_t in[96], out[96];
	char text[160];
	srand(7);
	for (size_t n = 0; n <= sizeof in; n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rand();
		size_t len = rc_base64_encode(text, sizeof text, in, n);
		cr_assert_eq(std64(out, sizeof out, text), (ptrdiff_t)n, "std n %zu", n);
		cr_assert_eq(memcmp(in, out, n), 0);
		cr_assert(len == 0 || out[0] == in[0]);
		text[0] = '\0';
		b64url_cat(text, sizeof text, in, n);
		cr_assert_eq(url(out, n, text), (ptrdiff_t)n, "url n %zu", n);
		cr_assert_eq(memcmp(in, out, n), 0);
		if (n > 0)
			cr_assert_eq(url(out, n - 1, text), RC_BASE64_NO_ROOM);
	}
}

/* ---- errors and limits --------------------------------------------------------------------- */

Test(jwt, error_texts)
{
	static const char *const want[] = { "ok",
		                                "malformed token",
		                                "unsupported algorithm",
		                                "too many topic patterns",
		                                "no key for the token",
		                                "bad signature",
		                                "token expired",
		                                "token not yet valid" };
	cr_assert_eq(sizeof want / sizeof want[0], RC_JWT_ERROR_COUNT);
	for (int e = 0; e < RC_JWT_ERROR_COUNT; e++)
		cr_assert_str_eq(rc_jwt_error_text((enum rc_jwt_error)e), want[e]);
	cr_assert_str_eq(rc_jwt_error_text((enum rc_jwt_error)RC_JWT_ERROR_COUNT), "unknown error");
	cr_assert_str_eq(rc_jwt_error_text((enum rc_jwt_error) - 1), "unknown error");
}

Test(jwt, grant_is_small_and_flat)
{
	cr_assert_leq(sizeof(rc_jwt_grant), 512);
	/* copyable: a copy answers the same */
	accepted(claims("{\"subscribe\":[\"a.*\"],\"publish\":[\"b\"],\"sub\":\"u\",\"exp\":9}"));
	rc_jwt_grant copy;
	memcpy(&copy, &J.grant, sizeof copy);
	memset(&J, 0, sizeof J);
	cr_assert(allows(&copy, RC_JWT_SUBSCRIBE, "a.x"));
	cr_assert(allows(&copy, RC_JWT_PUBLISH, "b"));
	cr_assert_str_eq(copy.sub, "u");
	cr_assert_eq(copy.exp, 9);
}

/* ---- RFC 7515 appendix A ------------------------------------------------------------------- */

/* A.1: {"typ":"JWT",\r\n "alg":"HS256"} . {"iss":"joe",\r\n "exp":1300819380,\r\n
 * "http://example.com/is_root":true} . HMAC-SHA256 */
static const char A1[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                         "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                         "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
                         "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char A_PAYLOAD[] = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
                                "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char A2_SIG[] = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__"
                             "dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
                             "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
                             "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1"
                             "L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
                             "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEU"
                             "ipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
static const char A3_SIG[] =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

Test(jwt, rfc7515_a1_hs256_example)
{
	static const uint8_t sig[32] = { 116, 24,  223, 180, 151, 153, 224, 37,  79,  250, 96,
		                             125, 216, 173, 187, 186, 22,  212, 37,  77,  105, 214,
		                             191, 240, 91,  88,  5,   88,  83,  132, 141, 121 };
	accepted(A1);
	cr_assert_eq(J.alg, RC_JWT_HS256);
	cr_assert_eq(J.kid_len, 0);
	cr_assert_str_eq(J.kid, "");
	cr_assert_eq(J.signed_len,
	             strlen(A1) - strlen("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") - 1);
	cr_assert_eq(J.sig_len, 32);
	cr_assert_eq(memcmp(J.sig, sig, 32), 0);
	cr_assert_eq(J.grant.exp, 1300819380);
	cr_assert_eq(J.grant.nbf, 0);
	cr_assert_eq(J.grant.sub_len, 0);
	cr_assert_eq(J.grant.n_subscribe, 0);
	cr_assert_eq(J.grant.n_publish, 0);
	cr_assert_not(allows(&J.grant, RC_JWT_SUBSCRIBE, "a"));
	cr_assert_not(allows(&J.grant, RC_JWT_PUBLISH, "a"));
}

Test(jwt, rfc7515_a2_a3_examples)
{
	char t[1024];
	snprintf(t, sizeof t, "eyJhbGciOiJSUzI1NiJ9.%s.%s", A_PAYLOAD, A2_SIG);
	accepted(t);
	cr_assert_eq(J.alg, RC_JWT_RS256);
	cr_assert_eq(J.sig_len, 256);
	cr_assert_eq(J.grant.exp, 1300819380);
	cr_assert_eq(J.signed_len, strlen("eyJhbGciOiJSUzI1NiJ9.") + strlen(A_PAYLOAD));
	snprintf(t, sizeof t, "eyJhbGciOiJFUzI1NiJ9.%s.%s", A_PAYLOAD, A3_SIG);
	accepted(t);
	cr_assert_eq(J.alg, RC_JWT_ES256);
	cr_assert_eq(J.sig_len, 64);
	cr_assert_eq(J.sig[0], 14);
	cr_assert_eq(J.sig[63], 213);
}

Test(jwt, every_prefix_of_a_token)
{
	/* a prefix is refused, or (cut inside the signature) accepted with a shorter signature */
	const char *full = claims("{\"sub\":\"x\",\"subscribe\":[\"a.*\",\"b\"],\"exp\":1}");
	char t[TOK_CAP];
	snprintf(t, sizeof t, "%s", full);
	size_t n = strlen(t);
	for (size_t k = 0; k < n; k++) {
		enum rc_jwt_error e = parse_n(t, k);
		if (e == RC_JWT_OK)
			cr_assert(J.sig_len < 9 && J.grant.n_subscribe == 2, "prefix %zu", k);
	}
	cr_assert_eq(parse_n(t, n), RC_JWT_OK);
	cr_assert_eq(J.sig_len, 9);
}

/* ---- the token's shape --------------------------------------------------------------------- */

Test(jwt, shape)
{
	refused("", RC_JWT_MALFORMED, "empty");
	refused("abc", RC_JWT_MALFORMED, "three parts");
	refused("eyJhbGciOiJIUzI1NiJ9.e30", RC_JWT_MALFORMED, "three parts");
	char t[TOK_CAP];
	snprintf(t, sizeof t, "%s.", claims("{}"));
	refused(t, RC_JWT_MALFORMED, "three parts");
	snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9.e30.%s", SIG);
	accepted(t); /* {"alg":"HS256"} . {} */
	snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9.e30.");
	refused(t, RC_JWT_MALFORMED, "no signature");
	snprintf(t, sizeof t, ".e30.%s", SIG);
	refused(t, RC_JWT_MALFORMED, "header is not a JSON object");
	snprintf(t, sizeof t, "eyJhbGciOiJIUzI1NiJ9..%s", SIG);
	refused(t, RC_JWT_MALFORMED, "payload is not a JSON object");
	/* padding, whitespace, the other alphabet, non-canonical bits: in each part */
	refused("eyJhbGciOiJIUzI1NiJ9.e30=.c2ln", RC_JWT_MALFORMED, "payload is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl=", RC_JWT_MALFORMED, "signature");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJ=", RC_JWT_MALFORMED, "signature");
	refused("eyJhbGciOiJIUzI1NiJ9 .e30.c2ln", RC_JWT_MALFORMED, "header is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2l+", RC_JWT_MALFORMED, "signature is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2l/", RC_JWT_MALFORMED, "signature is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e31.c2ln", RC_JWT_MALFORMED, "payload is not base64url");
	refused("e31.e30.c2ln", RC_JWT_MALFORMED, "header is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbh", RC_JWT_MALFORMED, "signature is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c", RC_JWT_MALFORMED, "signature is not base64url");
	refused("eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n", RC_JWT_MALFORMED, "signature is not base64url");
	/* a NUL inside */
	static const char nul[] = "eyJhbGciOiJIUzI1NiJ9.e30.c2\0n";
	cr_assert_eq(parse_n(nul, sizeof nul - 1), RC_JWT_MALFORMED);
}

Test(jwt, length_limits)
{
	/* a token of exactly RC_JWT_MAX bytes is accepted, one more is refused: grow an ignored
	 * claim until the token has the length wanted */
	bool at_max = false, over_max = false;
	for (size_t want = RC_JWT_MAX - 3; want <= RC_JWT_MAX + 3; want++) {
		const char *t = NULL;
		for (size_t pad = 2900; pad < 3200; pad++) {
			char payload[4096];
			snprintf(payload, sizeof payload, "{\"x\":\"%s\"}", repeat(0, 'a', pad));
			t = claims(payload);
			if (strlen(t) >= want)
				break;
		}
		if (strlen(t) != want)
			continue; /* not every length is reachable by whole base64 characters */
		if (want <= RC_JWT_MAX)
			accepted(t);
		else
			refused(t, RC_JWT_MALFORMED, "longer than 4096 bytes");
		at_max |= want == RC_JWT_MAX;
		over_max |= want == RC_JWT_MAX + 1;
	}
	cr_assert(at_max && over_max, "lengths 4096 and 4097 were both tried");
	char big[RC_JWT_MAX + 2];
	memset(big, 'A', sizeof big);
	cr_assert_eq(parse_n(big, RC_JWT_MAX + 1), RC_JWT_MALFORMED);
	cr_assert_str_eq(J.why, "token longer than 4096 bytes");
	/* the signature: 512 bytes accepted, 513 refused */
	uint8_t sig[513];
	memset(sig, 0x5a, sizeof sig);
	char s512[1024] = "", s513[1024] = "";
	b64url_cat(s512, sizeof s512, sig, 512);
	b64url_cat(s513, sizeof s513, sig, 513);
	accepted(mk3("{\"alg\":\"RS256\"}", "{}", s512));
	cr_assert_eq(J.sig_len, 512);
	refused(mk3("{\"alg\":\"RS256\"}", "{}", s513), RC_JWT_MALFORMED, "longer than 512");
}

/* ---- the header ---------------------------------------------------------------------------- */

Test(jwt, header_alg)
{
	accepted(mk("{\"alg\":\"HS256\"}", "{}"));
	cr_assert_eq(J.alg, RC_JWT_HS256);
	accepted(mk("{\"alg\":\"ES256\"}", "{}"));
	cr_assert_eq(J.alg, RC_JWT_ES256);
	accepted(mk("{\"alg\":\"RS256\"}", "{}"));
	cr_assert_eq(J.alg, RC_JWT_RS256);
	accepted(mk("{\"alg\":\"\\u0048S256\"}", "{}")); /* escapes are decoded before comparing */
	cr_assert_eq(J.alg, RC_JWT_HS256);
	static const char *const unsupported[] = {
		"{\"alg\":\"none\"}",  "{\"alg\":\"None\"}",   "{\"alg\":\"NONE\"}",
		"{\"alg\":\"hs256\"}", "{\"alg\":\"HS384\"}",  "{\"alg\":\"HS512\"}",
		"{\"alg\":\"PS256\"}", "{\"alg\":\"ES384\"}",  "{\"alg\":\"EdDSA\"}",
		"{\"alg\":\"\"}",      "{\"alg\":\"HS256 \"}", "{\"alg\":\"HS2560\"}",
		"{\"alg\":5}",         "{\"alg\":null}",       "{\"alg\":[\"HS256\"]}",
		"{\"alg\":{\"a\":1}}", "{\"alg\":\"HS25\"}",   "{\"alg\":\"RS256xxxxxxxxxx\"}",
	};
	for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
		refused(mk(unsupported[i], "{}"), RC_JWT_ALG, NULL);
	refused(mk("{\"typ\":\"JWT\"}", "{}"), RC_JWT_MALFORMED, "no \"alg\"");
	refused(mk("{}", "{}"), RC_JWT_MALFORMED, "no \"alg\"");
	/* alg none with an empty signature, the classic */
	char t[256] = "";
	b64url_cat(t, sizeof t, "{\"alg\":\"none\"}", 14);
	strcat(t, ".e30.");
	refused(t, RC_JWT_ALG, NULL);
	/* a non-string alg that is not JSON either is malformed */
	refused(mk("{\"alg\":tru}", "{}"), RC_JWT_MALFORMED, NULL);
}

Test(jwt, header_kid)
{
	accepted(mk("{\"alg\":\"HS256\",\"kid\":\"k1\"}", "{}"));
	cr_assert_str_eq(J.kid, "k1");
	cr_assert_eq(J.kid_len, 2);
	char h[512];
	snprintf(h, sizeof h, "{\"kid\":\"%s\",\"alg\":\"ES256\"}", repeat(0, 'k', 64));
	accepted(mk(h, "{}"));
	cr_assert_eq(J.kid_len, 64);
	cr_assert_str_eq(J.kid, repeat(1, 'k', 64));
	snprintf(h, sizeof h, "{\"kid\":\"%s\",\"alg\":\"ES256\"}", repeat(0, 'k', 65));
	refused(mk(h, "{}"), RC_JWT_MALFORMED, "longer than 64");
	/* 64 bytes once unescaped, more as sent */
	snprintf(h, sizeof h, "{\"kid\":\"\\u00e9%s\",\"alg\":\"ES256\"}", repeat(0, 'k', 62));
	accepted(mk(h, "{}"));
	cr_assert_eq(J.kid_len, 64);
	cr_assert_eq((uint8_t)J.kid[0], 0xc3);
	cr_assert_eq((uint8_t)J.kid[1], 0xa9);
	accepted(mk("{\"alg\":\"HS256\",\"kid\":\"a\\/b\\\"c\"}", "{}"));
	cr_assert_str_eq(J.kid, "a/b\"c");
	refused(mk("{\"alg\":\"HS256\",\"kid\":\"\"}", "{}"), RC_JWT_MALFORMED, "empty \"kid\"");
	refused(mk("{\"alg\":\"HS256\",\"kid\":\"a\\u0000b\"}", "{}"), RC_JWT_MALFORMED, "control");
	refused(mk("{\"alg\":\"HS256\",\"kid\":\"a\\nb\"}", "{}"), RC_JWT_MALFORMED, "control");
	refused(mk("{\"alg\":\"HS256\",\"kid\":\"a\\u007fb\"}", "{}"), RC_JWT_MALFORMED, "control");
	refused(mk("{\"alg\":\"HS256\",\"kid\":7}", "{}"), RC_JWT_MALFORMED, "not a string");
	refused(mk("{\"alg\":\"HS256\",\"kid\":null}", "{}"), RC_JWT_MALFORMED, "not a string");
}

Test(jwt, header_typ_crit_and_others)
{
	static const char *const ok[] = { "JWT", "jwt", "Jwt", "jWt" };
	char h[256];
	for (size_t i = 0; i < 4; i++) {
		snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"typ\":\"%s\"}", ok[i]);
		accepted(mk(h, "{}"));
	}
	accepted(mk("{\"alg\":\"HS256\",\"typ\":\"\\u004aWT\"}", "{}"));
	static const char *const bad[] = { "\"JOSE\"",   "\"JWTX\"", "\"JW\"", "\"\"",
		                               "\"at+jwt\"", "1",        "null",   "[\"JWT\"]" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(h, sizeof h, "{\"alg\":\"HS256\",\"typ\":%s}", bad[i]);
		refused(mk(h, "{}"), RC_JWT_MALFORMED, "typ");
	}
	refused(mk("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}"), RC_JWT_MALFORMED, "crit");
	refused(mk("{\"crit\":[],\"alg\":\"HS256\"}", "{}"), RC_JWT_MALFORMED, "crit");
	refused(mk("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", "{}"), RC_JWT_MALFORMED,
	        "crit");
	/* keys embedded in the token are ignored (never used), whatever they hold */
	accepted(mk("{\"alg\":\"RS256\",\"jku\":\"https://evil/\",\"jwk\":{\"kty\":\"oct\",\"k\":"
	            "\"AAAA\"},\"x5c\":[\"MIIB\"],\"x5u\":null,\"cty\":\"JWT\",\"n\":1.5e3}",
	            "{}"));
	cr_assert_eq(J.alg, RC_JWT_RS256);
	cr_assert_eq(J.kid_len, 0);
}

/* ---- strict JSON --------------------------------------------------------------------------- */

Test(jwt, duplicate_keys)
{
	refused(mk("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", "{}"), RC_JWT_MALFORMED, "duplicate");
	refused(mk("{\"alg\":\"HS256\",\"\\u0061lg\":\"none\"}", "{}"), RC_JWT_MALFORMED, "duplicate");
	refused(mk("{\"alg\":\"HS256\",\"kid\":\"a\",\"k\\u0069d\":\"b\"}", "{}"), RC_JWT_MALFORMED,
	        "duplicate");
	refused(claims("{\"exp\":1,\"exp\":2}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"e\\u0078p\":1,\"exp\":2}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"subscribe\":[],\"subscribe\":[\"a\"]}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"x\":1,\"y\":2,\"x\":3}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"x\":{\"a\":1,\"a\":2}}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"x\":[{\"a\":1},{\"b\":1,\"b\":1}]}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"), RC_JWT_MALFORMED, "duplicate");
	refused(claims("{\"\\/\":1,\"/\":2}"), RC_JWT_MALFORMED, "duplicate");
	/* the same key in different objects is no duplicate; keys differing in length or case are
	 * different */
	accepted(claims("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":2}]}"));
	accepted(claims("{\"ab\":1,\"a\":2,\"abc\":3,\"A\":4,\"\":5,\"\\u0000\":6}"));
	accepted(claims("{\"exp\":1,\"exp \":2,\"Exp\":3}"));
	cr_assert_eq(J.grant.exp, 1);
}

Test(jwt, many_keys_in_one_object)
{
	/* as many members as the payload holds: the duplicate check keeps up, and finds the last */
	char payload[RC_JWT_JSON_MAX + 64];
	size_t n = 0;
	payload[n++] = '{';
	for (int i = 0; n < 2900; i++)
		n += (size_t)snprintf(payload + n, sizeof payload - n, "\"%x\":0,", i);
	size_t keep = n;
	snprintf(payload + n, sizeof payload - n, "\"z\":0}");
	accepted(claims(payload));
	snprintf(payload + keep, sizeof payload - keep, "\"1f\":0}");
	refused(claims(payload), RC_JWT_MALFORMED, "duplicate");
}

Test(jwt, nesting_depth)
{
	char payload[512];
	/* the top object and 15 more levels: 16 */
	snprintf(payload, sizeof payload, "{\"x\":%s1%s}", repeat(0, '[', 15), repeat(1, ']', 15));
	accepted(claims(payload));
	snprintf(payload, sizeof payload, "{\"x\":%s1%s}", repeat(0, '[', 16), repeat(1, ']', 16));
	refused(claims(payload), RC_JWT_MALFORMED, "nested too deeply");
	char deep[4096] = "{";
	for (int i = 0; i < 15; i++)
		strcat(deep, "\"a\":{");
	strcat(deep, "\"b\":1");
	for (int i = 0; i < 16; i++)
		strcat(deep, "}");
	accepted(claims(deep));
	deep[0] = '\0';
	strcat(deep, "{");
	for (int i = 0; i < 16; i++)
		strcat(deep, "\"a\":{");
	for (int i = 0; i < 17; i++)
		strcat(deep, "}");
	refused(claims(deep), RC_JWT_MALFORMED, "nested too deeply");
	/* far deeper than the limit: refused, not a stack overflow */
	snprintf(payload, sizeof payload, "{\"x\":%s}", repeat(0, '[', 400));
	refused(claims(payload), RC_JWT_MALFORMED, "nested too deeply");
}

Test(jwt, json_syntax)
{
	static const char *const ok[] = {
		"{}",
		" \t\r\n{ \"a\" : 1 , \"b\" : [ 1 , 2 ] } \r\n\t ",
		"{\"a\":true,\"b\":false,\"c\":null,\"d\":\"\",\"e\":[],\"f\":{}}",
		"{\"n\":[0,-0,1,-1,0.5,-0.5,1e5,1E+5,1e-5,123456789012345678901234567890,1.0e0]}",
		"{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u20ac \\ud83d\\ude00\"}",
		"{\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
		"{\"iss\":\"joe\",\"aud\":[\"a\",\"b\"],\"iat\":1,\"jti\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		accepted(claims(ok[i]));
	static const char *const bad[] = {
		"",
		"[]",
		"\"x\"",
		"1",
		"{",
		"}",
		"{\"a\":1,}",
		"{\"a\":[1,]}",
		"{\"a\":[,1]}",
		"{\"a\" 1}",
		"{\"a\":1 \"b\":2}",
		"{a:1}",
		"{'a':1}",
		"{\"a\":01}",
		"{\"a\":-}",
		"{\"a\":.5}",
		"{\"a\":1.}",
		"{\"a\":1e}",
		"{\"a\":+1}",
		"{\"a\":0x1}",
		"{\"a\":NaN}",
		"{\"a\":Infinity}",
		"{\"a\":tru}",
		"{\"a\":nul}",
		"{\"a\":True}",
		"{\"a\":\"x}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}",
		"{\"a\":\"\\u12g4\"}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800\\u0041\"}",
		"{\"a\":\"\\ud800x\"}",
		"{\"a\":\"\t\"}",
		"{\"a\":\"\n\"}",
		"{\"a\":\"\\",
		"{\"a\":1} x",
		"{\"a\":1}{}",
		"{\"a\":1} //",
		"{/* c */\"a\":1}",
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\xc3\"}",
		"{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xc0\xaf\"}",
		"{\"a\":1}\xc3",
		"{\"a\":[1 2]}",
		"{\"a\"::1}",
		"{,}",
		"{\"a\":}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused(claims(bad[i]), RC_JWT_MALFORMED, NULL);
	/* the header is held to the same rules */
	refused(mk("{\"alg\":\"HS256\",}", "{}"), RC_JWT_MALFORMED, NULL);
	refused(mk("{\"alg\":\"HS256\"} x", "{}"), RC_JWT_MALFORMED, "after the JSON object");
	refused(mk("[\"alg\",\"HS256\"]", "{}"), RC_JWT_MALFORMED, "header is not a JSON object");
	refused(mk("{\"alg\":\"HS256\",\"x\":\"\xff\"}", "{}"), RC_JWT_MALFORMED, "UTF-8");
}

/* ---- claims -------------------------------------------------------------------------------- */

Test(jwt, claim_times)
{
	accepted(claims("{}"));
	cr_assert_eq(J.grant.exp, INT64_MAX);
	cr_assert_eq(J.grant.nbf, 0);
	accepted(claims("{\"exp\":1300819380,\"nbf\":1300819000}"));
	cr_assert_eq(J.grant.exp, 1300819380);
	cr_assert_eq(J.grant.nbf, 1300819000);
	accepted(claims("{\"exp\":0,\"nbf\":0}"));
	cr_assert_eq(J.grant.exp, 0);
	accepted(claims("{\"exp\":1300819380.999,\"nbf\":7.5}"));
	cr_assert_eq(J.grant.exp, 1300819380);
	cr_assert_eq(J.grant.nbf, 7);
	accepted(claims("{\"exp\":9007199254740991,\"nbf\":9007199254740991}"));
	cr_assert_eq(J.grant.exp, RC_JWT_TIME_MAX);
	cr_assert_eq(J.grant.nbf, RC_JWT_TIME_MAX);
	static const char *const bad[][2] = {
		{ "{\"exp\":9007199254740992}", "after 2^53" },
		{ "{\"exp\":99999999999999999999999}", "after 2^53" },
		{ "{\"exp\":-1}", "negative" },
		{ "{\"exp\":-0}", "negative" },
		{ "{\"exp\":1.3e9}", "exponent" },
		{ "{\"exp\":13E8}", "exponent" },
		{ "{\"exp\":\"1300819380\"}", "not a number" },
		{ "{\"exp\":null}", "not a number" },
		{ "{\"exp\":true}", "not a number" },
		{ "{\"exp\":[1]}", "not a number" },
		{ "{\"nbf\":-5}", "negative" },
		{ "{\"nbf\":\"5\"}", "not a number" },
		{ "{\"nbf\":5e0}", "exponent" },
		{ "{\"nbf\":9007199254740992}", "after 2^53" },
		{ "{\"exp\":01}", "leading zero" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused(claims(bad[i][0]), RC_JWT_MALFORMED, bad[i][1]);
}

Test(jwt, claim_sub)
{
	accepted(claims("{\"sub\":\"alice\"}"));
	cr_assert_str_eq(J.grant.sub, "alice");
	cr_assert_eq(J.grant.sub_len, 5);
	accepted(claims("{\"sub\":\"\"}"));
	cr_assert_eq(J.grant.sub_len, 0);
	char p[512];
	snprintf(p, sizeof p, "{\"sub\":\"%s\"}", repeat(0, 's', 64));
	accepted(claims(p));
	cr_assert_eq(J.grant.sub_len, 64);
	snprintf(p, sizeof p, "{\"sub\":\"%s\"}", repeat(0, 's', 65));
	refused(claims(p), RC_JWT_MALFORMED, "\"sub\" longer than 64");
	accepted(claims("{\"sub\":\"caf\\u00e9 \\\"x\\\"\"}"));
	cr_assert_str_eq(J.grant.sub, "caf\xc3\xa9 \"x\"");
	refused(claims("{\"sub\":\"a\\tb\"}"), RC_JWT_MALFORMED, "control");
	refused(claims("{\"sub\":42}"), RC_JWT_MALFORMED, "not a string");
}

Test(jwt, patterns_parse)
{
	accepted(claims("{\"subscribe\":[\"prices.*\",\"news\",\"*\"],\"publish\":[\"orders.eu\"]}"));
	cr_assert_eq(J.grant.n_subscribe, 3);
	cr_assert_eq(J.grant.n_publish, 1);
	/* escapes decoded: a topic never needs them, but encoders write "\/" */
	accepted(claims("{\"subscribe\":[\"a\\/b\",\"\\u0078.*\"]}"));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, "a/b"));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, "x.y"));
	/* the whole topic alphabet */
	accepted(claims("{\"publish\":[\"AZaz09._-:/@\",\"AZaz09._-:/@*\"]}"));
	static const char *const bad[][2] = {
		{ "{\"subscribe\":[\"\"]}", "empty topic pattern" },
		{ "{\"subscribe\":[\"a*b\"]}", "'*' not at the end" },
		{ "{\"subscribe\":[\"**\"]}", "'*' not at the end" },
		{ "{\"subscribe\":[\"*a\"]}", "'*' not at the end" },
		{ "{\"publish\":[\"a b\"]}", "outside" },
		{ "{\"publish\":[\"a,b\"]}", "outside" },
		{ "{\"publish\":[\"a?\"]}", "outside" },
		{ "{\"publish\":[\"caf\\u00e9\"]}", "outside" },
		{ "{\"publish\":[\"a\\u0000\"]}", "outside" },
		{ "{\"publish\":[\"a\\\\b\"]}", "outside" },
		{ "{\"subscribe\":\"a\"}", "\"subscribe\" is not an array" },
		{ "{\"publish\":{\"a\":1}}", "\"publish\" is not an array" },
		{ "{\"publish\":null}", "\"publish\" is not an array" },
		{ "{\"subscribe\":[1]}", "not a string" },
		{ "{\"subscribe\":[[\"a\"]]}", "not a string" },
		{ "{\"subscribe\":[\"a\",null]}", "not a string" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused(claims(bad[i][0]), RC_JWT_MALFORMED, bad[i][1]);
}

Test(jwt, pattern_lengths)
{
	char p[1024];
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s\"]}", repeat(0, 't', 128));
	accepted(claims(p));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, repeat(1, 't', 128)));
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s*\"]}", repeat(0, 't', 128));
	accepted(claims(p));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, repeat(1, 't', 128)));
	cr_assert_not(allows(&J.grant, RC_JWT_SUBSCRIBE, repeat(1, 't', 127)));
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s\"]}", repeat(0, 't', 129));
	refused(claims(p), RC_JWT_MALFORMED, "longer than 128");
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s*\"]}", repeat(0, 't', 129));
	refused(claims(p), RC_JWT_MALFORMED, "longer than 128");
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s\"]}", repeat(0, 't', 500));
	refused(claims(p), RC_JWT_MALFORMED, "longer than 128");
	/* 128 bytes once unescaped */
	snprintf(p, sizeof p, "{\"subscribe\":[\"\\u0074%s\"]}", repeat(0, 't', 127));
	accepted(claims(p));
}

Test(jwt, pattern_limits)
{
	char p[4096];
	/* 16 per list, in both lists */
	size_t n = (size_t)snprintf(p, sizeof p, "{\"subscribe\":[");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(p + n, sizeof p - n, "%s\"s%d\"", i ? "," : "", i);
	n += (size_t)snprintf(p + n, sizeof p - n, "],\"publish\":[");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(p + n, sizeof p - n, "%s\"p%d.*\"", i ? "," : "", i);
	snprintf(p + n, sizeof p - n, "]}");
	accepted(claims(p));
	cr_assert_eq(J.grant.n_subscribe, 16);
	cr_assert_eq(J.grant.n_publish, 16);
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, "s15"));
	cr_assert(allows(&J.grant, RC_JWT_PUBLISH, "p15.x"));
	cr_assert_not(allows(&J.grant, RC_JWT_PUBLISH, "s15"));
	/* the 17th */
	n = (size_t)snprintf(p, sizeof p, "{\"subscribe\":[");
	for (int i = 0; i < 17; i++)
		n += (size_t)snprintf(p + n, sizeof p - n, "%s\"s%d\"", i ? "," : "", i);
	snprintf(p + n, sizeof p - n, "]}");
	refused(claims(p), RC_JWT_CLAIMS, "more than 16");
	cr_assert_str_eq(rc_jwt_error_text(RC_JWT_CLAIMS), "too many topic patterns");
	/* the byte store: 3 x 128 = 384 fills it exactly, one byte more is refused */
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s\",\"%s\"],\"publish\":[\"%s\"]}",
	         repeat(0, 'a', 128), repeat(1, 'b', 128), repeat(2, 'c', 128));
	accepted(claims(p));
	cr_assert(allows(&J.grant, RC_JWT_PUBLISH, repeat(0, 'c', 128)));
	snprintf(p, sizeof p, "{\"subscribe\":[\"%s\",\"%s\"],\"publish\":[\"%s\",\"d\"]}",
	         repeat(0, 'a', 128), repeat(1, 'b', 128), repeat(2, 'c', 128));
	refused(claims(p), RC_JWT_CLAIMS, "384 bytes");
	/* an empty array in a list of 17 places is fine: the limit counts patterns */
	accepted(claims("{\"subscribe\":[],\"publish\":[]}"));
	cr_assert_eq(J.grant.n_subscribe + J.grant.n_publish, 0);
}

Test(jwt, allows)
{
	accepted(claims("{\"subscribe\":[\"prices.*\",\"news\"],\"publish\":[\"orders/eu\",\"x:*\"]}"));
	const rc_jwt_grant *g = &J.grant;
	static const struct {
		enum rc_jwt_op op;
		const char *topic;
		bool ok;
	} v[] = {
		{ RC_JWT_SUBSCRIBE, "prices.eur", true },
		{ RC_JWT_SUBSCRIBE, "prices.", true },
		{ RC_JWT_SUBSCRIBE, "prices", false },
		{ RC_JWT_SUBSCRIBE, "prices.a.b", true },
		{ RC_JWT_SUBSCRIBE, "Prices.eur", false },
		{ RC_JWT_SUBSCRIBE, "xprices.eur", false },
		{ RC_JWT_SUBSCRIBE, "news", true },
		{ RC_JWT_SUBSCRIBE, "news2", false },
		{ RC_JWT_SUBSCRIBE, "new", false },
		{ RC_JWT_SUBSCRIBE, "orders/eu", false },
		{ RC_JWT_PUBLISH, "orders/eu", true },
		{ RC_JWT_PUBLISH, "orders/eu2", false },
		{ RC_JWT_PUBLISH, "x:", true },
		{ RC_JWT_PUBLISH, "x:1", true },
		{ RC_JWT_PUBLISH, "x", false },
		{ RC_JWT_PUBLISH, "news", false },
		{ RC_JWT_PUBLISH, "prices.eur", false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_assert_eq(allows(g, v[i].op, v[i].topic), v[i].ok, "%d %s", v[i].op, v[i].topic);
	cr_assert_not(rc_jwt_allows(g, (enum rc_jwt_op)7, (const uint8_t *)"news", 4));

	accepted(claims("{\"subscribe\":[\"*\"]}"));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, "a"));
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, repeat(0, 'z', 128)));
	cr_assert_not(allows(&J.grant, RC_JWT_PUBLISH, "a"));
	cr_assert_not(rc_jwt_allows(&J.grant, RC_JWT_SUBSCRIBE, (const uint8_t *)"", 0));

	/* lists in either order in the JSON give the same grant */
	accepted(claims("{\"publish\":[\"p\",\"q.*\"],\"x\":1,\"subscribe\":[\"s\"]}"));
	cr_assert_eq(J.grant.n_subscribe, 1);
	cr_assert_eq(J.grant.n_publish, 2);
	cr_assert(allows(&J.grant, RC_JWT_SUBSCRIBE, "s"));
	cr_assert_not(allows(&J.grant, RC_JWT_SUBSCRIBE, "p"));
	cr_assert(allows(&J.grant, RC_JWT_PUBLISH, "p"));
	cr_assert(allows(&J.grant, RC_JWT_PUBLISH, "q.r"));
	cr_assert_not(allows(&J.grant, RC_JWT_PUBLISH, "s"));
	accepted(claims("{\"publish\":[\"p\"],\"subscribe\":[]}"));
	cr_assert(allows(&J.grant, RC_JWT_PUBLISH, "p"));
	cr_assert_not(allows(&J.grant, RC_JWT_SUBSCRIBE, "p"));

	/* empty or absent lists grant nothing */
	static const char *const none[] = { "{}", "{\"subscribe\":[],\"publish\":[]}",
		                                "{\"subscribe\":[]}", "{\"publish\":[]}" };
	for (size_t i = 0; i < 4; i++) {
		accepted(claims(none[i]));
		cr_assert_not(allows(&J.grant, RC_JWT_SUBSCRIBE, "a"));
		cr_assert_not(allows(&J.grant, RC_JWT_PUBLISH, "a"));
	}
}

/* ---- time ---------------------------------------------------------------------------------- */

Test(jwt, check_time)
{
	rc_jwt_grant g = { .exp = 1000, .nbf = 500 };
	static const struct {
		int64_t now;
		uint32_t leeway;
		enum rc_jwt_error want;
	} v[] = {
		{ 999, 0, RC_JWT_OK },
		{ 1000, 0, RC_JWT_EXPIRED },
		{ 1001, 0, RC_JWT_EXPIRED },
		{ 1004, 5, RC_JWT_OK },
		{ 1005, 5, RC_JWT_EXPIRED },
		{ 500, 0, RC_JWT_OK },
		{ 499, 0, RC_JWT_NOT_YET_VALID },
		{ 495, 5, RC_JWT_OK },
		{ 494, 5, RC_JWT_NOT_YET_VALID },
		{ 0, 0, RC_JWT_NOT_YET_VALID },
		{ INT64_MIN, UINT32_MAX, RC_JWT_NOT_YET_VALID },
		{ INT64_MAX, UINT32_MAX, RC_JWT_EXPIRED },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_assert_eq(rc_jwt_check_time(&g, v[i].now, v[i].leeway), v[i].want, "now %lld leeway %u",
		             (long long)v[i].now, v[i].leeway);
	/* no exp: never expires; no nbf: valid from 0 */
	accepted(claims("{}"));
	cr_assert_eq(rc_jwt_check_time(&J.grant, INT64_MAX, 0), RC_JWT_OK);
	cr_assert_eq(rc_jwt_check_time(&J.grant, INT64_MAX, UINT32_MAX), RC_JWT_OK);
	cr_assert_eq(rc_jwt_check_time(&J.grant, 0, 0), RC_JWT_OK);
	/* a leeway can make an expired token good again, and the largest one does not wrap */
	accepted(claims("{\"exp\":9007199254740991}"));
	cr_assert_eq(rc_jwt_check_time(&J.grant, 9007199254740990, UINT32_MAX), RC_JWT_OK);
	cr_assert_eq(rc_jwt_check_time(&J.grant, INT64_MAX, UINT32_MAX), RC_JWT_EXPIRED);
	/* both wrong: expired is said first */
	rc_jwt_grant both = { .exp = 10, .nbf = 100 };
	cr_assert_eq(rc_jwt_check_time(&both, 50, 0), RC_JWT_EXPIRED);
	/* the RFC example's exp */
	accepted(A1);
	cr_assert_eq(rc_jwt_check_time(&J.grant, 1300819379, 0), RC_JWT_OK);
	cr_assert_eq(rc_jwt_check_time(&J.grant, 1300819380, 0), RC_JWT_EXPIRED);
}
