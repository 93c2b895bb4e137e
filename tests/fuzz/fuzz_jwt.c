/* Fuzz target for rc_jwt, the JSON Web Token parser, and rc_base64's decoders.
 *
 * Two shapes of input, so that the fuzzer reaches the JSON scanner without having to find
 * base64url first:
 *   - an input starting with '{' is "HEADER\nPAYLOAD": the two JSON texts are base64url-encoded
 *     here and joined with a fixed signature into a token;
 *   - anything else is a token as is.
 * Each token is parsed from an allocation of exactly its length (ASan catches a read past it).
 * Checked:
 *   - no crash, no sanitizer report; an error is MALFORMED, ALG or CLAIMS, with a reason; OK has
 *     none, and parsing the same bytes again gives the same answer and the same grant;
 *   - after OK: alg is one of the three, signed_part is the token up to its second '.', the
 *     signature is 1..512 bytes, kid is 0..64 bytes NUL-terminated without control characters;
 *     the grant's invariants hold (at most 16 patterns per list, 384 bytes in all, each pattern a
 *     topic name or a prefix of topic bytes and a final '*', sub 0..64 bytes NUL-terminated, exp
 *     INT64_MAX or 0..2^53-1, nbf 0..2^53-1);
 *   - rc_jwt_allows agrees with a matcher written here for topics made from every pattern (the
 *     pattern itself, its prefix, the prefix and one more byte), in both lists;
 *   - the whole input as base64url and as padded base64: whatever a decoder accepts encodes back
 *     to exactly the input (one spelling per byte string).
 * Seeds (tests/fuzz/seeds/jwt/) are the RFC 7515 examples and the unit tests' shapes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_base64.h"
#include "rc_jwt.h"

#define CHECK(x) \
	do { \
		if (!(x)) { \
			fprintf(stderr, "fuzz_jwt: check failed: %s (%s:%d)\n", #x, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the grant ---------------------------------------------------------------------------- */

static const uint8_t *pattern_at(const rc_jwt_grant *g, size_t i)
{
	size_t off = 0;
	for (size_t k = 0; k < i; k++)
		off += g->pattern_len[k];
	return g->patterns + off;
}

/* The matcher of rc_jwt.h, written again. */
static bool ref_allows(const rc_jwt_grant *g, enum rc_jwt_op op, const uint8_t *t, size_t n)
{
	size_t first = op == RC_JWT_SUBSCRIBE ? 0 : g->n_subscribe;
	size_t count = op == RC_JWT_SUBSCRIBE ? g->n_subscribe : g->n_publish;
	for (size_t i = first; i < first + count; i++) {
		const uint8_t *p = pattern_at(g, i);
		size_t pl = g->pattern_len[i];
		bool prefix = p[pl - 1] == '*';
		size_t want = prefix ? pl - 1 : pl;
		if (prefix ? n >= want && memcmp(p, t, want) == 0 : n == want && memcmp(p, t, n) == 0)
			return true;
	}
	return false;
}

static void check_grant(const rc_jwt_grant *g)
{
	CHECK(g->n_subscribe <= RC_JWT_PATTERNS_MAX && g->n_publish <= RC_JWT_PATTERNS_MAX);
	CHECK(g->sub_len <= RC_JWT_SUB_MAX && strlen(g->sub) == g->sub_len);
	for (size_t i = 0; i < g->sub_len; i++)
		CHECK((uint8_t)g->sub[i] >= 0x20 && (uint8_t)g->sub[i] != 0x7f);
	CHECK(g->exp == INT64_MAX || (g->exp >= 0 && g->exp <= RC_JWT_TIME_MAX));
	CHECK(g->nbf >= 0 && g->nbf <= RC_JWT_TIME_MAX);
	size_t total = 0, n = (size_t)g->n_subscribe + g->n_publish;
	for (size_t i = 0; i < n; i++) {
		size_t pl = g->pattern_len[i];
		const uint8_t *p = pattern_at(g, i);
		CHECK(pl >= 1 && pl <= RC_APP_TOPIC_MAX + 1);
		total += pl;
		CHECK(total <= RC_JWT_PATTERN_BYTES);
		bool prefix = p[pl - 1] == '*';
		CHECK(prefix || pl <= RC_APP_TOPIC_MAX);
		for (size_t k = 0; k + (prefix ? 1 : 0) < pl; k++)
			CHECK(rc_app_topic_char(p[k]));
	}
	/* rc_jwt_allows against the matcher above, on topics made from every pattern */
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = pattern_at(g, i);
		size_t pl = g->pattern_len[i], stem = p[pl - 1] == '*' ? pl - 1 : pl;
		uint8_t t[RC_APP_TOPIC_MAX + 1];
		memcpy(t, p, stem);
		t[stem] = 'x';
		size_t lens[3] = { stem, stem ? stem - 1 : 0, stem + 1 };
		for (int k = 0; k < 3; k++) {
			if (lens[k] == 0 || lens[k] > RC_APP_TOPIC_MAX)
				continue;
			for (int op = RC_JWT_SUBSCRIBE; op <= RC_JWT_PUBLISH; op++) {
				bool got = rc_jwt_allows(g, (enum rc_jwt_op)op, t, lens[k]);
				CHECK(got == ref_allows(g, (enum rc_jwt_op)op, t, lens[k]));
			}
		}
		/* a pattern always matches the topic it names */
		if (stem > 0 || p[pl - 1] != '*')
			CHECK(rc_jwt_allows(g, i < g->n_subscribe ? RC_JWT_SUBSCRIBE : RC_JWT_PUBLISH, t,
			                    stem));
	}
}

/* ---- the token ---------------------------------------------------------------------------- */

static void fuzz_token(const uint8_t *tok, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	CHECK(copy);
	if (n)
		memcpy(copy, tok, n);
	static rc_jwt j, again;
	enum rc_jwt_error e = rc_jwt_parse(copy, n, &j);
	enum rc_jwt_error e2 = rc_jwt_parse(copy, n, &again);
	CHECK(e == e2);
	if (e != RC_JWT_OK) {
		CHECK(e == RC_JWT_MALFORMED || e == RC_JWT_ALG || e == RC_JWT_CLAIMS);
		CHECK(j.why != NULL && strcmp(j.why, again.why) == 0);
		free(copy);
		return;
	}
	CHECK(j.why == NULL);
	CHECK(j.alg == RC_JWT_HS256 || j.alg == RC_JWT_ES256 || j.alg == RC_JWT_RS256);
	CHECK(n <= RC_JWT_MAX);
	CHECK(j.signed_part == copy && j.signed_len < n && copy[j.signed_len] == '.');
	size_t dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += copy[i] == '.';
	CHECK(dots == 2 && memchr(copy, '.', j.signed_len) != NULL);
	CHECK(j.sig_len >= 1 && j.sig_len <= RC_JWT_SIG_MAX);
	CHECK(j.kid_len <= RC_JWT_KID_MAX && strlen(j.kid) == j.kid_len);
	for (size_t i = 0; i < j.kid_len; i++)
		CHECK((uint8_t)j.kid[i] >= 0x20 && (uint8_t)j.kid[i] != 0x7f);
	check_grant(&j.grant);
	CHECK(memcmp(&j.grant, &again.grant, sizeof j.grant) == 0); /* zeroed first, so exact */
	CHECK(j.alg == again.alg && strcmp(j.kid, again.kid) == 0);
	CHECK(j.sig_len == again.sig_len && memcmp(j.sig, again.sig, j.sig_len) == 0);
	free(copy);
}

/* Unpadded base64url of p[0..n) at out; returns its length. */
static size_t b64url(char *out, size_t cap, const uint8_t *p, size_t n)
{
	if (rc_base64_encode(out, cap, p, n) == 0 && n > 0)
		return 0;
	size_t k = 0;
	for (; out[k] && out[k] != '='; k++)
		out[k] = out[k] == '+' ? '-' : out[k] == '/' ? '_' : out[k];
	out[k] = '\0';
	return k;
}

/* "HEADER\nPAYLOAD" as a token with a fixed signature. */
static void fuzz_json(const uint8_t *d, size_t n)
{
	const uint8_t *nl = memchr(d, '\n', n);
	size_t hn = nl ? (size_t)(nl - d) : n;
	const uint8_t *payload = nl ? nl + 1 : d + n;
	size_t pn = nl ? n - hn - 1 : 0;
	static char tok[2 * RC_JWT_MAX + 64];
	size_t a = b64url(tok, sizeof tok, d, hn);
	if (a == 0 && hn > 0)
		return; /* too long to encode here */
	tok[a++] = '.';
	size_t b = b64url(tok + a, sizeof tok - a, payload, pn);
	if (b == 0 && pn > 0)
		return;
	a += b;
	memcpy(tok + a, ".c2lnbmF0dXJl", 13);
	fuzz_token((const uint8_t *)tok, a + 13);
}

/* ---- base64 --------------------------------------------------------------------------------- */

static void fuzz_base64(const uint8_t *d, size_t n)
{
	if (n > 8192)
		return;
	static uint8_t out[8192];
	static char back[16384];
	ptrdiff_t k = rc_base64url_decode(out, sizeof out, d, n);
	CHECK(k >= RC_BASE64_INVALID);
	CHECK(k != RC_BASE64_NO_ROOM);
	if (k >= 0) {
		CHECK((size_t)k == RC_BASE64URL_DECODED_LEN(n));
		size_t m = b64url(back, sizeof back, out, (size_t)k);
		CHECK(m == n && memcmp(back, d, n) == 0);
	}
	k = rc_base64_decode(out, sizeof out, d, n);
	CHECK(k >= RC_BASE64_INVALID && k != RC_BASE64_NO_ROOM);
	if (k >= 0) {
		size_t m = rc_base64_encode(back, sizeof back, out, (size_t)k);
		CHECK(m == n && memcmp(back, d, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '{')
		fuzz_json(data, size);
	else
		fuzz_token(data, size);
	fuzz_base64(data, size);
	return 0;
}
