/* rc_jwt: see rc_jwt.h for the contract.
 *
 * The JSON scanner here is not rc_app_text.h's: that one reads the protocol's own objects, whose
 * keys are all known and whose values are never nested, and reports rc_app's error codes. A
 * token's JSON is written by anyone's library: members we do not know must be skipped whatever
 * they hold, duplicate keys must be found among them too, and strings may carry any escape (many
 * encoders write "/" as "\/"). So: a small strict recursive scanner, bounded by RC_JWT_DEPTH_MAX,
 * that reports the first problem, and decodes escapes only where a value is kept or compared.
 */
#include "rc_jwt.h"

#include <assert.h>
#include <string.h>

#include "rc_base64.h"
#include "rc_utf8.h"

_Static_assert(sizeof(rc_jwt_grant) <= 512, "the server keeps one grant per connection");
_Static_assert(RC_APP_TOPIC_MAX + 1 <= UINT8_MAX, "pattern_len holds a pattern and its '*'");
_Static_assert(2 * RC_JWT_PATTERNS_MAX <= UINT8_MAX, "n_subscribe + n_publish fit a byte");

const char *rc_jwt_error_text(enum rc_jwt_error e)
{
	static const char *const text[RC_JWT_ERROR_COUNT] = {
		[RC_JWT_OK] = "ok",
		[RC_JWT_MALFORMED] = "malformed token",
		[RC_JWT_ALG] = "unsupported algorithm",
		[RC_JWT_CLAIMS] = "too many topic patterns",
		[RC_JWT_NO_KEY] = "no key for the token",
		[RC_JWT_SIGNATURE] = "bad signature",
		[RC_JWT_EXPIRED] = "token expired",
		[RC_JWT_NOT_YET_VALID] = "token not yet valid",
	};
	if ((unsigned)e >= RC_JWT_ERROR_COUNT)
		return "unknown error";
	return text[e];
}

/* ---- grants ------------------------------------------------------------------------------- */

bool rc_jwt_allows(const rc_jwt_grant *g, enum rc_jwt_op op, const uint8_t *topic, size_t len)
{
	assert(g);
	assert(topic || len == 0);
	assert(g->n_subscribe <= RC_JWT_PATTERNS_MAX && g->n_publish <= RC_JWT_PATTERNS_MAX);
	size_t first, n;
	if (op == RC_JWT_SUBSCRIBE) {
		first = 0;
		n = g->n_subscribe;
	} else if (op == RC_JWT_PUBLISH) {
		first = g->n_subscribe;
		n = g->n_publish;
	} else {
		return false;
	}
	if (len == 0)
		return false; /* never a topic; "*" would match it */
	size_t off = 0;
	for (size_t i = 0; i < first; i++)
		off += g->pattern_len[i];
	for (size_t i = first; i < first + n; i++) {
		size_t pl = g->pattern_len[i];
		const uint8_t *p = g->patterns + off;
		assert(pl >= 1 && off + pl <= RC_JWT_PATTERN_BYTES);
		off += pl;
		if (p[pl - 1] == '*') {
			if (len >= pl - 1 && memcmp(p, topic, pl - 1) == 0)
				return true;
		} else if (len == pl && memcmp(p, topic, len) == 0) {
			return true;
		}
	}
	return false;
}

/* a + b, or INT64_MAX if that overflows */
static int64_t sat_add(int64_t a, uint32_t b)
{
	return a > INT64_MAX - (int64_t)b ? INT64_MAX : a + (int64_t)b;
}

enum rc_jwt_error rc_jwt_check_time(const rc_jwt_grant *g, int64_t now_s, uint32_t leeway_s)
{
	assert(g);
	if (g->exp != INT64_MAX && now_s >= sat_add(g->exp, leeway_s))
		return RC_JWT_EXPIRED;
	if (sat_add(now_s, leeway_s) < g->nbf)
		return RC_JWT_NOT_YET_VALID;
	return RC_JWT_OK;
}

/* ---- the JSON scanner ---------------------------------------------------------------------- */

/* The keys of every object open at once, for the duplicate check. A key takes at least four bytes
 * of JSON ("":0 or "":{), so a text of RC_JWT_JSON_MAX bytes never has more open at once. */
#define JS_KEYS_MAX (RC_JWT_JSON_MAX / 4)
#define JS_KEY_ESC 0x8000u /* flag in keys[]: the key has an escape (offsets are < 0x8000) */
_Static_assert(RC_JWT_JSON_MAX < JS_KEY_ESC, "a key's offset and its flag share 16 bits");

typedef struct js {
	const uint8_t *p, *end, *base;
	enum rc_jwt_error err; /* the first error, RC_JWT_OK until then */
	const char *why;
	unsigned depth;
	unsigned nkeys;
	uint16_t keys[JS_KEYS_MAX]; /* offset of each open key's first byte after its quote */
} js;

static bool fail(js *c, enum rc_jwt_error e, const char *why)
{
	assert(e != RC_JWT_OK);
	if (c->err == RC_JWT_OK) {
		c->err = e;
		c->why = why;
	}
	return false;
}

static bool bad(js *c, const char *why)
{
	return fail(c, RC_JWT_MALFORMED, why);
}

static void js_ws(js *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool js_peek(const js *c, uint8_t b)
{
	return c->p < c->end && *c->p == b;
}

static bool is_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

/* The value of four hex digits at p (the caller checked they are there), or -1. */
static long hex4(const uint8_t *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b = p[i];
		int h = is_digit(b)              ? b - '0'
		        : (b >= 'a' && b <= 'f') ? b - 'a' + 10
		        : (b >= 'A' && b <= 'F') ? b - 'A' + 10
		                                 : -1;
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A \u escape at c->p (the backslash): one code point, or a surrogate pair for one. A lone
 * surrogate has no UTF-8 form, so it is refused rather than passed on. */
static bool js_u_escape(js *c)
{
	if (c->end - c->p < 6 || hex4(c->p + 2) < 0)
		return bad(c, "bad \\u escape in a string");
	long cp = hex4(c->p + 2);
	c->p += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return bad(c, "lone surrogate \\u escape in a string");
	if (cp < 0xd800 || cp > 0xdbff)
		return true;
	if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2) < 0xdc00 ||
	    hex4(c->p + 2) > 0xdfff)
		return bad(c, "lone surrogate \\u escape in a string");
	c->p += 6;
	return true;
}

/* A string at c->p (on its quote): checked, and skipped. *raw is its first byte after the quote,
 * *esc whether it holds an escape. Only its escapes need checking here: the whole text is known to
 * be UTF-8 already. */
static bool js_string(js *c, const uint8_t **raw, bool *esc)
{
	assert(js_peek(c, '"'));
	*raw = ++c->p;
	*esc = false;
	for (;;) {
		if (c->p == c->end)
			return bad(c, "unterminated string");
		uint8_t b = *c->p;
		if (b == '"')
			break;
		if (b < 0x20)
			return bad(c, "control character in a string");
		if (b != '\\') {
			c->p++;
			continue;
		}
		*esc = true;
		if (c->end - c->p < 2)
			return bad(c, "unterminated string");
		uint8_t e = c->p[1];
		if (e == 'u') {
			if (!js_u_escape(c))
				return false;
		} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
		           e == 'r' || e == 't') {
			c->p += 2;
		} else {
			return bad(c, "bad escape in a string");
		}
	}
	c->p++;
	return true;
}

/* Reading a checked string unescaped, a byte at a time: the stream stops at the closing quote. */
typedef struct ustr {
	const uint8_t *p;
	uint8_t buf[4]; /* the UTF-8 bytes of the last \u escape */
	uint8_t n, i;
} ustr;

/* The next byte of the unescaped string, or -1 at its end. */
static int ustr_next(ustr *u)
{
	if (u->i < u->n)
		return u->buf[u->i++];
	uint8_t b = *u->p;
	if (b == '"')
		return -1;
	u->p++;
	if (b != '\\')
		return b;
	uint8_t e = *u->p++;
	switch (e) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		break;
	default:
		return e; /* " \ / */
	}
	unsigned long cp = (unsigned long)hex4(u->p);
	u->p += 4;
	if (cp >= 0xd800 && cp <= 0xdbff) { /* js_string checked that the low half follows */
		cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned long)hex4(u->p + 2) - 0xdc00);
		u->p += 6;
	}
	if (cp < 0x80) {
		u->buf[0] = (uint8_t)cp;
		u->n = 1;
	} else if (cp < 0x800) {
		u->buf[0] = (uint8_t)(0xc0 | cp >> 6);
		u->buf[1] = (uint8_t)(0x80 | (cp & 0x3f));
		u->n = 2;
	} else if (cp < 0x10000) {
		u->buf[0] = (uint8_t)(0xe0 | cp >> 12);
		u->buf[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u->buf[2] = (uint8_t)(0x80 | (cp & 0x3f));
		u->n = 3;
	} else {
		u->buf[0] = (uint8_t)(0xf0 | cp >> 18);
		u->buf[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		u->buf[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u->buf[3] = (uint8_t)(0x80 | (cp & 0x3f));
		u->n = 4;
	}
	u->i = 1;
	return u->buf[0];
}

/* The checked string at raw, unescaped into out[0..cap): its length, or cap + 1 if it is longer. */
static size_t unescape(const uint8_t *raw, uint8_t *out, size_t cap)
{
	ustr u = { .p = raw };
	size_t n = 0;
	for (int b; (b = ustr_next(&u)) >= 0; n++) {
		if (n == cap)
			return cap + 1;
		out[n] = (uint8_t)b;
	}
	return n;
}

/* True if the checked strings at a and b are the same once unescaped. */
static bool same_string(const uint8_t *a, const uint8_t *b)
{
	ustr x = { .p = a }, y = { .p = b };
	for (;;) {
		int u = ustr_next(&x), v = ustr_next(&y);
		if (u != v)
			return false;
		if (u < 0)
			return true;
	}
}

/* True if the checked string at raw is lit once unescaped. */
static bool string_is(const uint8_t *raw, const char *lit)
{
	ustr u = { .p = raw };
	for (size_t i = 0;; i++) {
		int b = ustr_next(&u);
		if (b < 0)
			return lit[i] == '\0';
		if (lit[i] == '\0' || (uint8_t)lit[i] != b)
			return false;
	}
}

/* A new key of the innermost object, at raw: refused if the object already has it (RFC 7519 §4
 * lets a parser take the last of duplicates; refusing them leaves no doubt which one counts). */
static bool js_key(js *c, unsigned first, const uint8_t *raw, bool esc)
{
	size_t len = 0;
	if (!esc)
		while (raw[len] != '"')
			len++;
	for (unsigned i = first; i < c->nkeys; i++) {
		const uint8_t *k = c->base + (c->keys[i] & ~JS_KEY_ESC);
		bool kesc = c->keys[i] & JS_KEY_ESC;
		bool dup = esc || kesc ? same_string(k, raw) : memcmp(k, raw, len) == 0 && k[len] == '"';
		if (dup)
			return bad(c, "duplicate key");
	}
	if (c->nkeys == JS_KEYS_MAX)
		return bad(c, "too many keys"); /* cannot happen: see JS_KEYS_MAX */
	c->keys[c->nkeys++] = (uint16_t)((size_t)(raw - c->base) | (esc ? JS_KEY_ESC : 0));
	return true;
}

/* A number: *neg for a '-', *frac for a fraction, *expo for an exponent, *ip its integer part
 * (UINT64_MAX if larger). */
typedef struct js_num {
	bool neg, frac, expo;
	uint64_t ip;
} js_num;

static void js_digits(js *c)
{
	while (c->p < c->end && is_digit(*c->p))
		c->p++;
}

static bool js_number(js *c, js_num *n)
{
	*n = (js_num){ 0 };
	if (js_peek(c, '-')) {
		n->neg = true;
		c->p++;
	}
	if (c->p == c->end || !is_digit(*c->p))
		return bad(c, "bad number");
	if (*c->p == '0') {
		c->p++;
		if (c->p < c->end && is_digit(*c->p))
			return bad(c, "number with a leading zero");
	}
	for (; c->p < c->end && is_digit(*c->p); c->p++) {
		unsigned d = (unsigned)(*c->p - '0');
		n->ip = n->ip > (UINT64_MAX - d) / 10 ? UINT64_MAX : n->ip * 10 + d;
	}
	if (js_peek(c, '.')) {
		c->p++;
		if (c->p == c->end || !is_digit(*c->p))
			return bad(c, "bad number");
		js_digits(c);
		n->frac = true;
	}
	if (js_peek(c, 'e') || js_peek(c, 'E')) {
		c->p++;
		if (js_peek(c, '+') || js_peek(c, '-'))
			c->p++;
		if (c->p == c->end || !is_digit(*c->p))
			return bad(c, "bad number");
		js_digits(c);
		n->expo = true;
	}
	return true;
}

static bool js_literal(js *c, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return bad(c, "not a JSON value");
	c->p += n;
	return true;
}

/* A member's value: read by the caller's function, which leaves c->p after it. */
typedef bool js_member_fn(js *c, const uint8_t *key, void *ctx);
typedef bool js_item_fn(js *c, size_t index, void *ctx);

static bool js_value(js *c);

static bool skip_member(js *c, const uint8_t *key, void *ctx)
{
	(void)key;
	(void)ctx;
	return js_value(c);
}

static bool skip_item(js *c, size_t index, void *ctx)
{
	(void)index;
	(void)ctx;
	return js_value(c);
}

/* { "key": value, ... } at c->p (on the brace), each value read by member(). */
static bool js_object(js *c, js_member_fn *member, void *ctx)
{
	assert(js_peek(c, '{'));
	if (++c->depth > RC_JWT_DEPTH_MAX)
		return bad(c, "JSON nested too deeply");
	c->p++;
	js_ws(c);
	unsigned first = c->nkeys;
	bool more = !js_peek(c, '}');
	while (more) {
		const uint8_t *key;
		bool esc;
		if (!js_peek(c, '"'))
			return bad(c, c->p == c->end ? "unexpected end of JSON" : "expected a key");
		if (!js_string(c, &key, &esc) || !js_key(c, first, key, esc))
			return false;
		js_ws(c);
		if (!js_peek(c, ':'))
			return bad(c, "expected ':' after a key");
		c->p++;
		js_ws(c);
		if (!member(c, key, ctx))
			return false;
		js_ws(c);
		if (js_peek(c, ',')) {
			c->p++;
			js_ws(c);
		} else if (js_peek(c, '}')) {
			more = false;
		} else {
			return bad(c, "expected ',' or '}' in an object");
		}
	}
	c->p++;
	c->nkeys = first;
	c->depth--;
	return true;
}

/* [ value, ... ] at c->p (on the bracket), each item read by item(). */
static bool js_array(js *c, js_item_fn *item, void *ctx)
{
	assert(js_peek(c, '['));
	if (++c->depth > RC_JWT_DEPTH_MAX)
		return bad(c, "JSON nested too deeply");
	c->p++;
	js_ws(c);
	bool more = !js_peek(c, ']');
	for (size_t i = 0; more; i++) {
		if (js_peek(c, ']'))
			return bad(c, "trailing comma in an array");
		if (!item(c, i, ctx))
			return false;
		js_ws(c);
		if (js_peek(c, ',')) {
			c->p++;
			js_ws(c);
		} else if (js_peek(c, ']')) {
			more = false;
		} else {
			return bad(c, "expected ',' or ']' in an array");
		}
	}
	c->p++;
	c->depth--;
	return true;
}

/* Any value, checked and skipped. */
static bool js_value(js *c)
{
	if (c->p == c->end)
		return bad(c, "unexpected end of JSON");
	const uint8_t *raw;
	bool esc;
	js_num n;
	switch (*c->p) {
	case '{':
		return js_object(c, skip_member, NULL);
	case '[':
		return js_array(c, skip_item, NULL);
	case '"':
		return js_string(c, &raw, &esc);
	case 't':
		return js_literal(c, "true");
	case 'f':
		return js_literal(c, "false");
	case 'n':
		return js_literal(c, "null");
	default:
		if (*c->p == '-' || is_digit(*c->p))
			return js_number(c, &n);
		return bad(c, "not a JSON value");
	}
}

/* A value of the wrong type: it is still checked as JSON first, so that text that is not JSON at
 * all is reported as such, then refused with error e. */
static bool wrong_type(js *c, enum rc_jwt_error e, const char *why)
{
	return js_value(c) && fail(c, e, why);
}

/* A string value unescaped into out[0..cap): *len is its length, or cap + 1 if it is longer. */
static bool js_string_into(js *c, uint8_t *out, size_t cap, size_t *len, const char *type_why)
{
	if (!js_peek(c, '"'))
		return wrong_type(c, RC_JWT_MALFORMED, type_why);
	const uint8_t *raw;
	bool esc;
	if (!js_string(c, &raw, &esc))
		return false;
	*len = unescape(raw, out, cap);
	return true;
}

/* The top-level object of a header or payload: nothing but whitespace around it. The text is
 * UTF-8 (RFC 8259 §8.1), checked here once so that strings need not be. */
static bool js_top(js *c, const uint8_t *p, size_t n, js_member_fn *member, void *ctx,
                   const char *what)
{
	*c = (js){ .p = p, .end = p + n, .base = p };
	if (!rc_utf8_valid(p, n))
		return bad(c, "JSON that is not UTF-8");
	js_ws(c);
	if (!js_peek(c, '{'))
		return bad(c, what);
	if (!js_object(c, member, ctx))
		return false;
	js_ws(c);
	return c->p == c->end || bad(c, "bytes after the JSON object");
}

/* ---- the header ---------------------------------------------------------------------------- */

/* No control character (C0 or DEL) in s[0..n): kid and sub go into logs. */
static bool printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

typedef struct header_ctx {
	rc_jwt *out;
	bool alg_seen;
} header_ctx;

static bool header_alg(js *c, header_ctx *h)
{
	static const char *const names[] = {
		[RC_JWT_HS256] = "HS256", [RC_JWT_ES256] = "ES256", [RC_JWT_RS256] = "RS256"
	};
	uint8_t v[8];
	size_t n;
	if (!js_peek(c, '"'))
		return wrong_type(c, RC_JWT_ALG, "\"alg\" is not a string");
	if (!js_string_into(c, v, sizeof v, &n, NULL))
		return false;
	for (int a = RC_JWT_HS256; a <= RC_JWT_RS256; a++)
		if (n == 5 && memcmp(v, names[a], 5) == 0) {
			h->out->alg = (enum rc_jwt_alg)a;
			h->alg_seen = true;
			return true;
		}
	return fail(c, RC_JWT_ALG, "\"alg\" is not HS256, ES256 or RS256");
}

static bool header_member(js *c, const uint8_t *key, void *ctx)
{
	header_ctx *h = ctx;
	rc_jwt *out = h->out;
	size_t n;
	if (string_is(key, "alg"))
		return header_alg(c, h);
	if (string_is(key, "kid")) {
		if (!js_string_into(c, (uint8_t *)out->kid, RC_JWT_KID_MAX, &n, "\"kid\" is not a string"))
			return false;
		if (n > RC_JWT_KID_MAX)
			return bad(c, "\"kid\" longer than 64 bytes");
		if (n == 0 || !printable((const uint8_t *)out->kid, n))
			return bad(c, n ? "control character in \"kid\"" : "empty \"kid\"");
		out->kid[n] = '\0';
		out->kid_len = n;
		return true;
	}
	if (string_is(key, "typ")) {
		uint8_t v[4];
		if (!js_string_into(c, v, 3, &n, "\"typ\" is not a string"))
			return false;
		if (n != 3 || (v[0] | 0x20) != 'j' || (v[1] | 0x20) != 'w' || (v[2] | 0x20) != 't')
			return bad(c, "\"typ\" is not JWT");
		return true;
	}
	if (string_is(key, "crit"))
		return bad(c, "\"crit\" names extensions, and none is supported");
	return js_value(c);
}

/* ---- the claims ---------------------------------------------------------------------------- */

typedef struct claims_ctx {
	rc_jwt_grant *g;
	bool publish;       /* the list being read */
	bool publish_first; /* "publish" came before "subscribe": the lists need swapping */
	size_t bytes;       /* of patterns[] used */
} claims_ctx;

/* "exp" or "nbf" (why[] has its messages: not a number, negative, exponent, too late). */
static bool claim_time(js *c, int64_t *out, const char *const why[4])
{
	if (c->p == c->end || (*c->p != '-' && !is_digit(*c->p)))
		return wrong_type(c, RC_JWT_MALFORMED, why[0]);
	js_num n;
	if (!js_number(c, &n))
		return false;
	if (n.neg)
		return bad(c, why[1]);
	if (n.expo)
		return bad(c, why[2]);
	if (n.ip > (uint64_t)RC_JWT_TIME_MAX)
		return bad(c, why[3]);
	*out = (int64_t)n.ip; /* a fraction is truncated */
	return true;
}

/* One topic pattern of "subscribe" or "publish", into the grant. */
static bool claim_pattern(js *c, size_t index, void *ctx)
{
	claims_ctx *cc = ctx;
	rc_jwt_grant *g = cc->g;
	uint8_t p[RC_APP_TOPIC_MAX + 1];
	size_t n;
	if (index == RC_JWT_PATTERNS_MAX)
		return fail(c, RC_JWT_CLAIMS, "more than 16 topic patterns in a list");
	if (!js_string_into(c, p, sizeof p, &n, "a topic pattern is not a string"))
		return false;
	if (n == 0)
		return bad(c, "empty topic pattern");
	if (n > sizeof p || (n == sizeof p && p[n - 1] != '*'))
		return bad(c, "topic pattern longer than 128 bytes (and its '*')");
	for (size_t i = 0; i < n; i++)
		if (!rc_app_topic_char(p[i]) && !(p[i] == '*' && i == n - 1))
			return bad(c, p[i] == '*'
			                      ? "'*' not at the end of a topic pattern"
			                      : "topic pattern with a byte outside A-Z a-z 0-9 . _ - : / @");
	if (n > RC_JWT_PATTERN_BYTES - cc->bytes)
		return fail(c, RC_JWT_CLAIMS, "topic patterns longer than 384 bytes together");
	memcpy(g->patterns + cc->bytes, p, n);
	cc->bytes += n;
	g->pattern_len[g->n_subscribe + g->n_publish] = (uint8_t)n;
	if (cc->publish)
		g->n_publish++;
	else
		g->n_subscribe++;
	return true;
}

static bool claim_patterns(js *c, claims_ctx *cc, bool publish)
{
	if (!js_peek(c, '['))
		return wrong_type(c, RC_JWT_MALFORMED,
		                  publish ? "\"publish\" is not an array"
		                          : "\"subscribe\" is not an array");
	cc->publish = publish;
	if (publish && cc->g->n_subscribe == 0)
		cc->publish_first = true; /* "subscribe" may still come, or not at all */
	return js_array(c, claim_pattern, cc);
}

static bool claims_member(js *c, const uint8_t *key, void *ctx)
{
	static const char *const exp_why[4] = { "\"exp\" is not a number", "\"exp\" is negative",
		                                    "\"exp\" has an exponent",
		                                    "\"exp\" is after 2^53 - 1" };
	static const char *const nbf_why[4] = { "\"nbf\" is not a number", "\"nbf\" is negative",
		                                    "\"nbf\" has an exponent",
		                                    "\"nbf\" is after 2^53 - 1" };
	claims_ctx *cc = ctx;
	rc_jwt_grant *g = cc->g;
	if (string_is(key, "exp"))
		return claim_time(c, &g->exp, exp_why);
	if (string_is(key, "nbf"))
		return claim_time(c, &g->nbf, nbf_why);
	if (string_is(key, "subscribe"))
		return claim_patterns(c, cc, false);
	if (string_is(key, "publish"))
		return claim_patterns(c, cc, true);
	if (string_is(key, "sub")) {
		size_t n;
		if (!js_string_into(c, (uint8_t *)g->sub, RC_JWT_SUB_MAX, &n, "\"sub\" is not a string"))
			return false;
		if (n > RC_JWT_SUB_MAX)
			return bad(c, "\"sub\" longer than 64 bytes");
		if (!printable((const uint8_t *)g->sub, n))
			return bad(c, "control character in \"sub\"");
		g->sub[n] = '\0';
		g->sub_len = (uint8_t)n;
		return true;
	}
	return js_value(c);
}

/* The patterns were stored in the order of the lists in the JSON: put "subscribe" first. */
static void swap_lists(rc_jwt_grant *g)
{
	uint8_t np = g->n_publish, ns = g->n_subscribe;
	size_t pub_bytes = 0, all = 0;
	for (size_t i = 0; i < (size_t)np + ns; i++) {
		all += g->pattern_len[i];
		if (i < np)
			pub_bytes += g->pattern_len[i];
	}
	uint8_t bytes[RC_JWT_PATTERN_BYTES], lens[2 * RC_JWT_PATTERNS_MAX];
	memcpy(bytes, g->patterns + pub_bytes, all - pub_bytes);
	memcpy(bytes + all - pub_bytes, g->patterns, pub_bytes);
	memcpy(g->patterns, bytes, all);
	memcpy(lens, g->pattern_len + np, ns);
	memcpy(lens + ns, g->pattern_len, np);
	memcpy(g->pattern_len, lens, (size_t)np + ns);
}

/* ---- the token ----------------------------------------------------------------------------- */

static enum rc_jwt_error refuse(rc_jwt *out, enum rc_jwt_error e, const char *why)
{
	out->why = why;
	return e;
}

/* Decode one base64url part of the token and scan its JSON. */
static enum rc_jwt_error json_part(rc_jwt *out, const uint8_t *b64, size_t n, js_member_fn *member,
                                   void *ctx, const char *const why[2])
{
	uint8_t json[RC_JWT_JSON_MAX];
	js c;
	ptrdiff_t len = rc_base64url_decode(json, sizeof json, b64, n);
	if (len < 0)
		return refuse(out, RC_JWT_MALFORMED, why[0]);
	if (!js_top(&c, json, (size_t)len, member, ctx, why[1]))
		return refuse(out, c.err, c.why);
	return RC_JWT_OK;
}

/* The grant's invariants, as rc_jwt.h states them. */
static bool grant_valid(const rc_jwt_grant *g)
{
	size_t bytes = 0;
	if (g->n_subscribe > RC_JWT_PATTERNS_MAX || g->n_publish > RC_JWT_PATTERNS_MAX ||
	    g->sub_len > RC_JWT_SUB_MAX || g->sub[g->sub_len] != '\0' ||
	    (g->exp != INT64_MAX && (g->exp < 0 || g->exp > RC_JWT_TIME_MAX)) || g->nbf < 0 ||
	    g->nbf > RC_JWT_TIME_MAX)
		return false;
	for (size_t i = 0; i < (size_t)g->n_subscribe + g->n_publish; i++) {
		size_t n = g->pattern_len[i];
		if (n == 0 || n > RC_APP_TOPIC_MAX + 1)
			return false;
		bytes += n;
	}
	return bytes <= RC_JWT_PATTERN_BYTES;
}

enum rc_jwt_error rc_jwt_parse(const uint8_t *tok, size_t len, rc_jwt *out)
{
	assert(tok || len == 0);
	assert(out);
	memset(out, 0, sizeof *out);
	out->grant.exp = INT64_MAX;
	if (len == 0)
		return refuse(out, RC_JWT_MALFORMED, "empty token");
	if (len > RC_JWT_MAX)
		return refuse(out, RC_JWT_MALFORMED, "token longer than 4096 bytes");
	const uint8_t *end = tok + len;
	const uint8_t *d1 = memchr(tok, '.', len);
	const uint8_t *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
	if (d2 == NULL || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL)
		return refuse(out, RC_JWT_MALFORMED, "not three parts separated by '.'");

	static const char *const header_why[2] = { "the header is not base64url",
		                                       "the header is not a JSON object" };
	static const char *const payload_why[2] = { "the payload is not base64url",
		                                        "the payload is not a JSON object" };
	header_ctx h = { .out = out };
	enum rc_jwt_error e = json_part(out, tok, (size_t)(d1 - tok), header_member, &h, header_why);
	if (e != RC_JWT_OK)
		return e;
	if (!h.alg_seen)
		return refuse(out, RC_JWT_MALFORMED, "no \"alg\" in the header");

	claims_ctx cc = { .g = &out->grant };
	e = json_part(out, d1 + 1, (size_t)(d2 - d1 - 1), claims_member, &cc, payload_why);
	if (e != RC_JWT_OK)
		return e;
	if (cc.publish_first && out->grant.n_subscribe > 0)
		swap_lists(&out->grant);

	ptrdiff_t n = rc_base64url_decode(out->sig, sizeof out->sig, d2 + 1, (size_t)(end - d2 - 1));
	if (n == RC_BASE64_NO_ROOM)
		return refuse(out, RC_JWT_MALFORMED, "signature longer than 512 bytes");
	if (n < 0)
		return refuse(out, RC_JWT_MALFORMED, "the signature is not base64url");
	if (n == 0)
		return refuse(out, RC_JWT_MALFORMED, "no signature");
	out->sig_len = (size_t)n;
	out->signed_part = tok;
	out->signed_len = (size_t)(d2 - tok);
	assert(grant_valid(&out->grant));
	assert(out->kid_len <= RC_JWT_KID_MAX && out->kid[out->kid_len] == '\0');
	return RC_JWT_OK;
}
