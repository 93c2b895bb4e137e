/* rc_app: ringcast's application protocol codec. The contract is rc_app.h; the user's description
 * is docs/protocol.md. Sections: topic names, error codes, connect parameters, an output writer,
 * a JSON scanner shared by the command and notice decoders, commands, binary publish/message,
 * notices. */
#include "rc_app.h"

#include <assert.h>
#include <string.h>

#include "rc_utf8.h"

/* ---- Topic names ------------------------------------------------------------------------- */

static bool topic_char(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '.' ||
	       b == '_' || b == '-' || b == ':' || b == '/' || b == '@';
}

bool rc_app_topic_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > RC_APP_TOPIC_MAX)
		return false;
	assert(p);
	for (size_t i = 0; i < n; i++)
		if (!topic_char(p[i]))
			return false;
	return true;
}

static bool slice_eq(rc_app_slice a, rc_app_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ---- Error codes ------------------------------------------------------------------------- */

_Static_assert(RC_APP_ERR_NOT_SUBSCRIBED + 1 == RC_APP_ERR_COUNT, "RC_APP_ERR_COUNT is stale");

static const char *const error_names[RC_APP_ERR_COUNT] = {
	[RC_APP_OK] = "ok",
	[RC_APP_ERR_BAD_JSON] = "bad_json",
	[RC_APP_ERR_BAD_COMMAND] = "bad_command",
	[RC_APP_ERR_BAD_TOPIC] = "bad_topic",
	[RC_APP_ERR_TOO_MANY_TOPICS] = "too_many_topics",
	[RC_APP_ERR_UNKNOWN_KIND] = "unknown_kind",
	[RC_APP_ERR_BAD_PUBLISH] = "bad_publish",
	[RC_APP_ERR_UNAUTHORIZED] = "unauthorized",
	[RC_APP_ERR_NOT_SUBSCRIBED] = "not_subscribed",
};

const char *rc_app_error_name(enum rc_app_error e)
{
	if ((unsigned)e >= RC_APP_ERR_COUNT)
		return NULL;
	return error_names[e];
}

uint16_t rc_app_error_close(enum rc_app_error e)
{
	switch (e) {
	case RC_APP_ERR_BAD_JSON:
	case RC_APP_ERR_BAD_COMMAND:
	case RC_APP_ERR_UNKNOWN_KIND:
	case RC_APP_ERR_BAD_PUBLISH:
		/* The peer does not speak the protocol; going on would be guessing. */
		return RC_CLOSE_BAD_COMMAND;
	case RC_APP_ERR_UNAUTHORIZED:
		return RC_CLOSE_UNAUTHORIZED;
	case RC_APP_OK:
	case RC_APP_ERR_BAD_TOPIC:
	case RC_APP_ERR_TOO_MANY_TOPICS:
	case RC_APP_ERR_NOT_SUBSCRIBED:
		break;
	}
	return 0;
}

/* ---- Connect parameters ------------------------------------------------------------------ */

static const char *const query_reasons[] = {
	[RC_APP_QUERY_OK] = "ok",
	[RC_APP_QUERY_MALFORMED] = "malformed query: a byte that is not printable ASCII, or '#'",
	[RC_APP_QUERY_BAD_ESCAPE] = "bad percent-escape in the query: '%' must be followed by two "
	                            "hex digits",
	[RC_APP_QUERY_BAD_TOPIC] = "bad topic in topics=: each comma-separated item must be 1-128 "
	                           "bytes of A-Z a-z 0-9 . _ - : / @",
	[RC_APP_QUERY_TOO_MANY_TOPICS] = "too many topics in topics=",
	[RC_APP_QUERY_BAD_PUBLISH] = "bad topic in publish=: 1-128 bytes of A-Z a-z 0-9 . _ - : / @",
	[RC_APP_QUERY_DUP_PUBLISH] = "publish= given more than once",
	[RC_APP_QUERY_BAD_TOKEN] = "bad token: 1-256 bytes of printable ASCII, no space",
	[RC_APP_QUERY_DUP_TOKEN] = "token= given more than once",
	[RC_APP_QUERY_TOKEN_CONFLICT] = "token= and the Authorization header carry different tokens",
	[RC_APP_QUERY_PUBLISH_V1] = "publish= is not allowed with the ringcast.v1 subprotocol: send "
	                            "binary PUBLISH frames",
	[RC_APP_QUERY_TOO_LONG] = "query too long",
};

const char *rc_app_query_reason(enum rc_app_query_error e)
{
	if ((unsigned)e >= sizeof query_reasons / sizeof query_reasons[0])
		return "unknown";
	return query_reasons[e];
}

void rc_app_connect_init(rc_app_connect *c, rc_app_slice *topics, size_t topics_cap, uint8_t *store,
                         size_t store_cap)
{
	assert(c);
	assert(topics || topics_cap == 0);
	assert(store || store_cap == 0);
	*c = (rc_app_connect){
		.topics = topics, .topics_cap = topics_cap, .store = store, .store_cap = store_cap
	};
}

static int hex_value(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

/* Check the whole query once, so that the pair-by-pair pass can decode without re-checking and an
 * ignored key is held to the same syntax as a known one. */
static enum rc_app_query_error query_scan(const uint8_t *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = q[i];
		if (b < 0x21 || b > 0x7e || b == '#')
			return RC_APP_QUERY_MALFORMED;
		if (b != '%')
			continue;
		if (n - i < 3 || hex_value(q[i + 1]) < 0 || hex_value(q[i + 2]) < 0)
			return RC_APP_QUERY_BAD_ESCAPE;
		i += 2;
	}
	return RC_APP_QUERY_OK;
}

/* Percent-decode src[0..n), whose escapes query_scan checked, into dst; returns the length. */
static size_t pct_decode(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (src[i] == '%') {
			assert(n - i >= 3);
			dst[o++] = (uint8_t)(hex_value(src[i + 1]) << 4 | hex_value(src[i + 2]));
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	return o;
}

/* True if the percent-decoded src[0..n) equals the NUL-terminated lit. Keys are short; decoding
 * into a small local buffer bounds the work, and a longer key is no key of ours anyway. */
static bool key_is(const uint8_t *src, size_t n, const char *lit)
{
	uint8_t key[16];
	size_t lit_len = strlen(lit);
	assert(lit_len <= sizeof key);
	if (n > 3 * sizeof key)
		return false;
	size_t raw = 0, k = 0;
	while (raw < n && k < sizeof key) {
		if (src[raw] == '%') {
			key[k++] = (uint8_t)(hex_value(src[raw + 1]) << 4 | hex_value(src[raw + 2]));
			raw += 3;
		} else {
			key[k++] = src[raw++];
		}
	}
	return raw == n && k == lit_len && memcmp(key, lit, k) == 0;
}

/* Decode src[0..n) into the connect store and point *out at the copy. */
static enum rc_app_query_error store_decoded(rc_app_connect *c, const uint8_t *src, size_t n,
                                             rc_app_slice *out)
{
	assert(c->store_len <= c->store_cap);
	if (c->store_cap - c->store_len < n)
		return RC_APP_QUERY_TOO_LONG;
	*out = (rc_app_slice){ 0 };
	if (n == 0)
		return RC_APP_QUERY_OK;
	uint8_t *dst = c->store + c->store_len;
	size_t len = pct_decode(dst, src, n);
	c->store_len += len;
	*out = (rc_app_slice){ .ptr = dst, .len = len };
	return RC_APP_QUERY_OK;
}

static bool token_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > RC_APP_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

/* topics=v: the items are split on the commas as sent, so an escaped comma stays inside its item
 * (RFC 3986: an escaped delimiter is data) and then makes that item invalid. */
static enum rc_app_query_error query_topics(rc_app_connect *c, const uint8_t *v, size_t n)
{
	size_t start = 0;
	for (;;) {
		const uint8_t *comma = n > start ? memchr(v + start, ',', n - start) : NULL;
		size_t end = comma ? (size_t)(comma - v) : n;
		rc_app_slice t;
		enum rc_app_query_error e = store_decoded(c, v + start, end - start, &t);
		if (e)
			return e;
		if (!rc_app_topic_valid(t.ptr, t.len))
			return RC_APP_QUERY_BAD_TOPIC;
		if (c->topics_len == c->topics_cap)
			return RC_APP_QUERY_TOO_MANY_TOPICS;
		c->topics[c->topics_len++] = t;
		if (!comma)
			return RC_APP_QUERY_OK;
		start = end + 1;
	}
}

static enum rc_app_query_error query_pair(rc_app_connect *c, const uint8_t *p, size_t n)
{
	if (n == 0)
		return RC_APP_QUERY_OK; /* "a&&b", a trailing '&': nothing there */
	const uint8_t *eq = memchr(p, '=', n);
	size_t key_len = eq ? (size_t)(eq - p) : n;
	const uint8_t *v = p + key_len + (eq != NULL);
	size_t v_len = n - key_len - (eq != NULL);
	enum rc_app_query_error e;

	if (key_is(p, key_len, "topics"))
		return query_topics(c, v, v_len);
	if (key_is(p, key_len, "publish")) {
		if (c->publish.len)
			return RC_APP_QUERY_DUP_PUBLISH;
		if ((e = store_decoded(c, v, v_len, &c->publish)))
			return e;
		return rc_app_topic_valid(c->publish.ptr, c->publish.len) ? RC_APP_QUERY_OK
		                                                          : RC_APP_QUERY_BAD_PUBLISH;
	}
	if (key_is(p, key_len, "token")) {
		if (c->token.len)
			return RC_APP_QUERY_DUP_TOKEN;
		if ((e = store_decoded(c, v, v_len, &c->token)))
			return e;
		return token_valid(c->token.ptr, c->token.len) ? RC_APP_QUERY_OK : RC_APP_QUERY_BAD_TOKEN;
	}
	return RC_APP_QUERY_OK; /* not ours: cache busters and the like */
}

enum rc_app_query_error rc_app_query_parse(rc_app_connect *c, const uint8_t *q, size_t n)
{
	assert(c);
	assert(q || n == 0);
	enum rc_app_query_error e = query_scan(q, n);
	size_t at = 0;
	while (!e && at < n) {
		const uint8_t *amp = memchr(q + at, '&', n - at);
		size_t end = amp ? (size_t)(amp - q) : n;
		e = query_pair(c, q + at, end - at);
		at = end + 1; /* past the '&', or past n when this was the last pair */
	}
	assert(c->topics_len <= c->topics_cap && c->store_len <= c->store_cap);
	return e;
}

static bool is_ows(uint8_t b)
{
	return b == ' ' || b == '\t';
}

enum rc_app_query_error rc_app_bearer_parse(const uint8_t *v, size_t n, rc_app_slice *token)
{
	assert(v || n == 0);
	assert(token);
	*token = (rc_app_slice){ 0 };
	while (n && is_ows(v[0]))
		v++, n--;
	while (n && is_ows(v[n - 1]))
		n--;
	static const char scheme[] = "bearer";
	size_t s = sizeof scheme - 1;
	if (n < s)
		return RC_APP_QUERY_OK;
	for (size_t i = 0; i < s; i++)
		if ((v[i] | 0x20) != scheme[i])
			return RC_APP_QUERY_OK; /* another scheme: not ours */
	if (n == s)
		return RC_APP_QUERY_BAD_TOKEN;
	if (!is_ows(v[s]))
		return RC_APP_QUERY_OK; /* "Bearerish ...": another scheme */
	while (s < n && is_ows(v[s]))
		s++;
	assert(s < n); /* trailing OWS was trimmed, so a non-OWS byte ends the value */
	if (!token_valid(v + s, n - s))
		return RC_APP_QUERY_BAD_TOKEN;
	*token = (rc_app_slice){ .ptr = v + s, .len = n - s };
	return RC_APP_QUERY_OK;
}

enum rc_app_query_error rc_app_connect_authorization(rc_app_connect *c, const uint8_t *v, size_t n)
{
	assert(c);
	rc_app_slice t;
	enum rc_app_query_error e = rc_app_bearer_parse(v, n, &t);
	if (e || t.len == 0)
		return e;
	if (c->token.len && !slice_eq(c->token, t))
		return RC_APP_QUERY_TOKEN_CONFLICT;
	c->token = t;
	return RC_APP_QUERY_OK;
}

enum rc_app_query_error rc_app_connect_check(const rc_app_connect *c, bool subprotocol_v1)
{
	assert(c);
	if (subprotocol_v1 && c->publish.len)
		return RC_APP_QUERY_PUBLISH_V1;
	return RC_APP_QUERY_OK;
}

/* ---- Output writer: a buffer with a capacity that remembers overflowing ------------------ */

typedef struct wr {
	uint8_t *p;
	size_t cap, len;
	bool full; /* something did not fit: the result is 0 */
} wr;

static wr wr_make(uint8_t *out, size_t cap)
{
	assert(out || cap == 0);
	return (wr){ .p = out, .cap = cap };
}

static void put(wr *w, const void *s, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void put_c(wr *w, uint8_t b)
{
	put(w, &b, 1);
}

static void put_s(wr *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_u64(wr *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, d + i, sizeof d - i);
}

static size_t wr_done(const wr *w)
{
	assert(w->len <= w->cap);
	return w->full ? 0 : w->len;
}

/* Upper case in URLs (RFC 3986 §2.1 says producers should), lower case in JSON (as JSON.stringify
 * and Python's json write \u001f). */
static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

size_t rc_app_target_encode(uint8_t *out, size_t cap, const rc_app_connect *c)
{
	assert(c);
	wr w = wr_make(out, cap);
	put_s(&w, RC_APP_PATH);
	char sep = '?';
	if (c->topics_len) {
		put_c(&w, (uint8_t)sep);
		put_s(&w, "topics=");
		for (size_t i = 0; i < c->topics_len; i++) {
			/* The topic alphabet is all allowed raw in a query (RFC 3986 pchar and '/'). */
			if (!rc_app_topic_valid(c->topics[i].ptr, c->topics[i].len))
				return 0;
			if (i)
				put_c(&w, ',');
			put(&w, c->topics[i].ptr, c->topics[i].len);
		}
		sep = '&';
	}
	if (c->publish.len) {
		if (!rc_app_topic_valid(c->publish.ptr, c->publish.len))
			return 0;
		put_c(&w, (uint8_t)sep);
		put_s(&w, "publish=");
		put(&w, c->publish.ptr, c->publish.len);
		sep = '&';
	}
	if (c->token.len) {
		if (!token_valid(c->token.ptr, c->token.len))
			return 0;
		put_c(&w, (uint8_t)sep);
		put_s(&w, "token=");
		for (size_t i = 0; i < c->token.len; i++) {
			uint8_t b = c->token.ptr[i];
			bool unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
			                  (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' ||
			                  b == '~';
			if (unreserved) {
				put_c(&w, b);
			} else {
				uint8_t e[3] = { '%', (uint8_t)hex_upper[b >> 4], (uint8_t)hex_upper[b & 15] };
				put(&w, e, 3);
			}
		}
	}
	return wr_done(&w);
}

/* ---- JSON scanner ------------------------------------------------------------------------ */
/*
 * A cursor over the input and the first error found. Every read checks the cursor against `end`
 * first; that is the whole defence against over-reading, so no helper reads ahead. Helpers return
 * false after recording an error, and the first error recorded is the one reported.
 */

static const uint8_t empty[1];

typedef struct jcur {
	const uint8_t *p, *end;
	enum rc_app_error err;
	const char *why;
} jcur;

static bool jfail(jcur *c, enum rc_app_error e, const char *why)
{
	assert(e != RC_APP_OK);
	if (c->err == RC_APP_OK) {
		c->err = e;
		c->why = why;
	}
	return false;
}

static void jws(jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool jpeek(jcur *c, uint8_t b)
{
	return c->p < c->end && *c->p == b;
}

/* Where a value of some type was expected and this is not it: if the byte can begin another JSON
 * value the text may still be JSON, so the shape is wrong (BAD_COMMAND, `why`); otherwise it is
 * not JSON. We never descend into the other value: nesting is refused here. */
static bool jwrong_type(jcur *c, const char *why)
{
	if (c->p == c->end)
		return jfail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
	uint8_t b = *c->p;
	if (b == '{' || b == '[' || b == '"' || b == '-' || (b >= '0' && b <= '9') || b == 't' ||
	    b == 'f' || b == 'n')
		return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
	return jfail(c, RC_APP_ERR_BAD_JSON, "not a JSON value");
}

/* A string of bytes from [a-z_], at most max of them, between quotes: keys and the words of op,
 * type and code. Anything else inside is not one of our words (BAD_COMMAND, `why`), unless the
 * text ends first (BAD_JSON). */
static bool jword(jcur *c, size_t max, rc_app_slice *out, const char *type_why, const char *why)
{
	if (!jpeek(c, '"'))
		return jwrong_type(c, type_why);
	const uint8_t *s = ++c->p;
	while (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || *c->p == '_') &&
	       (size_t)(c->p - s) < max)
		c->p++;
	if (c->p == c->end)
		return jfail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
	if (*c->p != '"')
		return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
	*out = (rc_app_slice){ .ptr = s, .len = (size_t)(c->p - s) };
	c->p++;
	return true;
}

static bool slice_is(rc_app_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* A topic name between quotes. The scan stops at the first byte outside the alphabet (a closing
 * quote ends it; anything else, a backslash included, is BAD_TOPIC) or past RC_APP_TOPIC_MAX
 * bytes, so its work is bounded whatever follows. */
static bool jtopic(jcur *c, rc_app_slice *out)
{
	if (!jpeek(c, '"'))
		return jwrong_type(c, "a topic must be a string");
	const uint8_t *s = ++c->p;
	while (c->p < c->end && topic_char(*c->p) && (size_t)(c->p - s) <= RC_APP_TOPIC_MAX)
		c->p++;
	size_t len = (size_t)(c->p - s);
	if (len > RC_APP_TOPIC_MAX)
		return jfail(c, RC_APP_ERR_BAD_TOPIC, "topic longer than 128 bytes");
	if (c->p == c->end)
		return jfail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
	if (*c->p != '"')
		return jfail(
		        c, RC_APP_ERR_BAD_TOPIC,
		        "topic with a byte outside A-Z a-z 0-9 . _ - : / @ (topics are never escaped)");
	if (len == 0)
		return jfail(c, RC_APP_ERR_BAD_TOPIC, "empty topic");
	*out = (rc_app_slice){ .ptr = s, .len = len };
	c->p++;
	return true;
}

/* ["topic", ...]: 1..RC_APP_TOPICS_MAX topics. Refused at the 65th item, before reading it, so a
 * huge array costs no more than 64 topics. */
static bool jtopics(jcur *c, rc_app_slice *topics, size_t *count)
{
	if (!jpeek(c, '['))
		return jwrong_type(c, "\"topics\" must be an array of strings");
	c->p++;
	jws(c);
	if (jpeek(c, ']'))
		return jfail(c, RC_APP_ERR_BAD_COMMAND, "\"topics\" is empty");
	size_t n = 0;
	for (;;) {
		if (n == RC_APP_TOPICS_MAX)
			return jfail(c, RC_APP_ERR_TOO_MANY_TOPICS, "more than 64 topics");
		if (!jtopic(c, &topics[n]))
			return false;
		n++;
		jws(c);
		if (c->p == c->end)
			return jfail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
		if (*c->p == ']')
			break;
		if (*c->p != ',')
			return jfail(c, RC_APP_ERR_BAD_JSON, "expected ',' or ']' in the array");
		c->p++;
		jws(c);
		if (jpeek(c, ']'))
			return jfail(c, RC_APP_ERR_BAD_JSON, "trailing comma in the array");
	}
	c->p++;
	*count = n;
	return true;
}

/* A decimal integer 1..UINT64_MAX (the count of a missed notice). JSON number syntax is followed
 * as far as telling BAD_JSON (a leading zero, a lone '-') from a number we refuse (BAD_COMMAND). */
static bool juint(jcur *c, uint64_t *out)
{
	static const char *const why = "\"count\" must be an integer from 1 to 2^64-1";
	if (jpeek(c, '-'))
		return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
	if (c->p == c->end || *c->p < '0' || *c->p > '9')
		return jwrong_type(c, why);
	if (*c->p == '0') {
		c->p++;
		if (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			return jfail(c, RC_APP_ERR_BAD_JSON, "number with a leading zero");
		return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
	}
	uint64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
		v = v * 10 + d;
		c->p++;
	}
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
		return jfail(c, RC_APP_ERR_BAD_COMMAND, why);
	*out = v;
	return true;
}

/* The code point of the four hex digits at p (the caller checked there are four), or -1. */
static long hex4(const uint8_t *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_value(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A general JSON string (the message of an error notice), at most max bytes as sent. Escapes are
 * checked here so that rc_app_notice_message can unescape without checking; \u escapes of
 * surrogates are refused (our encoder writes none, and a lone one has no UTF-8 form). */
static bool jtext(jcur *c, size_t max, rc_app_slice *out)
{
	if (!jpeek(c, '"'))
		return jwrong_type(c, "\"message\" must be a string");
	const uint8_t *s = ++c->p;
	for (;;) {
		if (c->p == c->end)
			return jfail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
		if ((size_t)(c->p - s) > max)
			return jfail(c, RC_APP_ERR_BAD_COMMAND, "\"message\" too long");
		uint8_t b = *c->p;
		if (b == '"')
			break;
		if (b < 0x20)
			return jfail(c, RC_APP_ERR_BAD_JSON, "control byte in a string");
		if (b != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			return jfail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
		uint8_t e = c->p[1];
		if (e == 'u') {
			if (c->end - c->p < 6)
				return jfail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
			long cp = hex4(c->p + 2);
			if (cp < 0)
				return jfail(c, RC_APP_ERR_BAD_JSON, "bad \\u escape");
			if (cp >= 0xd800 && cp <= 0xdfff)
				return jfail(c, RC_APP_ERR_BAD_COMMAND, "surrogate \\u escape");
			c->p += 6;
		} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
		           e == 'r' || e == 't') {
			c->p += 2;
		} else {
			return jfail(c, RC_APP_ERR_BAD_JSON, "bad escape");
		}
	}
	*out = (rc_app_slice){ .ptr = s, .len = (size_t)(c->p - s) };
	c->p++;
	return true;
}

/* The members of one object: { "key": value, ... }. keys[] are the keys of the message; each one's
 * value is read by member(c, index, ctx), and *seen collects a bit per key read. Duplicate and
 * unknown keys are BAD_COMMAND. Returns true at the closing brace; the caller then checks which
 * keys are required and that only whitespace follows. */
typedef bool jmember_fn(jcur *c, unsigned key, void *ctx);

static bool jobject(jcur *c, const char *const *keys, unsigned nkeys, jmember_fn *member, void *ctx,
                    uint32_t *seen, const char *what)
{
	assert(nkeys <= 32);
	*seen = 0;
	jws(c);
	if (!jpeek(c, '{'))
		return jwrong_type(c, what);
	c->p++;
	jws(c);
	if (jpeek(c, '}')) {
		c->p++;
		return true;
	}
	for (;;) {
		rc_app_slice k;
		if (!jpeek(c, '"'))
			return jfail(c, RC_APP_ERR_BAD_JSON,
			             c->p == c->end ? "unexpected end of text" : "expected a key string");
		if (!jword(c, 8, &k, "expected a key string", "unknown key"))
			return false;
		unsigned i = 0;
		while (i < nkeys && !slice_is(k, keys[i]))
			i++;
		if (i == nkeys)
			return jfail(c, RC_APP_ERR_BAD_COMMAND, "unknown key");
		if (*seen & (1u << i))
			return jfail(c, RC_APP_ERR_BAD_COMMAND, "duplicate key");
		*seen |= 1u << i;
		jws(c);
		if (!jpeek(c, ':'))
			return jfail(c, RC_APP_ERR_BAD_JSON, "expected ':' after a key");
		c->p++;
		jws(c);
		if (!member(c, i, ctx))
			return false;
		jws(c);
		if (c->p == c->end)
			return jfail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
		if (*c->p == '}')
			break;
		if (*c->p != ',')
			return jfail(c, RC_APP_ERR_BAD_JSON, "expected ',' or '}' in the object");
		c->p++;
		jws(c);
	}
	c->p++;
	return true;
}

static bool jend(jcur *c)
{
	jws(c);
	return c->p == c->end || jfail(c, RC_APP_ERR_BAD_JSON, "bytes after the object");
}

/* ---- Commands ---------------------------------------------------------------------------- */

enum {
	CMD_KEY_OP,
	CMD_KEY_TOPICS
};
static const char *const cmd_keys[] = { [CMD_KEY_OP] = "op", [CMD_KEY_TOPICS] = "topics" };

static bool cmd_member(jcur *c, unsigned key, void *ctx)
{
	rc_app_cmd *cmd = ctx;
	if (key == CMD_KEY_TOPICS)
		return jtopics(c, cmd->topics, &cmd->topics_len);
	assert(key == CMD_KEY_OP);
	rc_app_slice op;
	if (!jword(c, 16, &op, "\"op\" must be a string", "unknown op"))
		return false;
	if (slice_is(op, "subscribe"))
		cmd->op = RC_APP_OP_SUBSCRIBE;
	else if (slice_is(op, "unsubscribe"))
		cmd->op = RC_APP_OP_UNSUBSCRIBE;
	else
		return jfail(c, RC_APP_ERR_BAD_COMMAND, "unknown op");
	return true;
}

enum rc_app_error rc_app_cmd_parse(const uint8_t *p, size_t n, rc_app_cmd *out)
{
	assert(p || n == 0);
	assert(out);
	out->op = 0;
	out->topics_len = 0;
	out->reason = NULL;
	if (n > RC_APP_JSON_LEN_MAX) {
		out->reason = "command longer than 16384 bytes";
		return RC_APP_ERR_BAD_COMMAND;
	}
	if (n == 0)
		p = empty; /* p may be NULL, and NULL + 0 is not a pointer sum C allows */
	jcur c = { .p = p, .end = p + n };
	uint32_t seen;
	if (jobject(&c, cmd_keys, 2, cmd_member, out, &seen, "a command is a JSON object")) {
		if (!(seen & 1u << CMD_KEY_OP))
			jfail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"op\"");
		else if (!(seen & 1u << CMD_KEY_TOPICS))
			jfail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"topics\"");
		else
			jend(&c);
	}
	if (c.err) {
		out->reason = c.why;
		return c.err;
	}
	assert(out->op == RC_APP_OP_SUBSCRIBE || out->op == RC_APP_OP_UNSUBSCRIBE);
	assert(out->topics_len >= 1 && out->topics_len <= RC_APP_TOPICS_MAX);
	return RC_APP_OK;
}

/* "prefix":["a","b",...]} with every topic checked; false if one is invalid. */
static bool put_topic_list(wr *w, const rc_app_slice *topics, size_t n)
{
	if (n == 0 || n > RC_APP_TOPICS_MAX)
		return false;
	assert(topics);
	put_c(w, '[');
	for (size_t i = 0; i < n; i++) {
		if (!rc_app_topic_valid(topics[i].ptr, topics[i].len))
			return false;
		if (i)
			put_c(w, ',');
		put_c(w, '"');
		put(w, topics[i].ptr, topics[i].len);
		put_c(w, '"');
	}
	put_s(w, "]}");
	return true;
}

size_t rc_app_cmd_encode(uint8_t *out, size_t cap, enum rc_app_op op, const rc_app_slice *topics,
                         size_t n)
{
	wr w = wr_make(out, cap);
	if (op == RC_APP_OP_SUBSCRIBE)
		put_s(&w, "{\"op\":\"subscribe\",\"topics\":");
	else if (op == RC_APP_OP_UNSUBSCRIBE)
		put_s(&w, "{\"op\":\"unsubscribe\",\"topics\":");
	else
		return 0;
	if (!put_topic_list(&w, topics, n))
		return 0;
	assert(w.full || w.len <= RC_APP_CMD_MAX);
	return wr_done(&w);
}

/* ---- Binary publish / message ------------------------------------------------------------ */

void rc_app_seq_write(uint8_t *slot, uint64_t seq)
{
	assert(slot);
	for (int i = 7; i >= 0; i--) {
		slot[i] = (uint8_t)seq;
		seq >>= 8;
	}
}

uint64_t rc_app_seq_read(const uint8_t *slot)
{
	assert(slot);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | slot[i];
	return v;
}

static enum rc_app_error pub_fail(rc_app_pub *out, enum rc_app_error e, const char *why)
{
	out->reason = why;
	return e;
}

enum rc_app_error rc_app_pub_parse(uint8_t *p, size_t n, rc_app_pub *out)
{
	assert(p || n == 0);
	assert(out);
	*out = (rc_app_pub){ 0 };
	if (n == 0)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "empty binary message");
	if (p[0] != RC_APP_KIND_PUBLISH)
		return pub_fail(out, RC_APP_ERR_UNKNOWN_KIND, "unknown kind (first byte)");
	if (n < 3)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "publish shorter than its header");
	uint8_t flags = p[1];
	size_t topic_len = p[2];
	if (flags & ~RC_APP_FLAG_TEXT)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "reserved flag bits set");
	if (topic_len == 0 || topic_len > RC_APP_TOPIC_MAX)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "topic length not 1..128");
	size_t hdr = rc_app_pub_header_len(topic_len);
	if (n < hdr)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "publish shorter than its header");
	if (!rc_app_topic_valid(p + 3, topic_len))
		return pub_fail(out, RC_APP_ERR_BAD_TOPIC,
		                "topic with a byte outside A-Z a-z 0-9 . _ - : / @");
	if ((flags & RC_APP_FLAG_TEXT) && !rc_utf8_valid(p + hdr, n - hdr))
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "text payload is not valid UTF-8");
	out->flags = flags;
	out->topic = (rc_app_slice){ .ptr = p + 3, .len = topic_len };
	out->seq_slot = p + 3 + topic_len;
	out->seq = rc_app_seq_read(out->seq_slot);
	out->payload = (rc_app_slice){ .ptr = p + hdr, .len = n - hdr };
	return RC_APP_OK;
}

size_t rc_app_pub_encode_header(uint8_t *out, uint8_t flags, const uint8_t *topic, size_t topic_len,
                                uint64_t seq)
{
	assert(out);
	if ((flags & ~RC_APP_FLAG_TEXT) || !rc_app_topic_valid(topic, topic_len))
		return 0;
	out[0] = RC_APP_KIND_PUBLISH;
	out[1] = flags;
	out[2] = (uint8_t)topic_len;
	memcpy(out + 3, topic, topic_len);
	rc_app_seq_write(out + 3 + topic_len, seq);
	return rc_app_pub_header_len(topic_len);
}

/* ---- Notices: encoders ------------------------------------------------------------------- */

size_t rc_app_notice_subscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n)
{
	wr w = wr_make(out, cap);
	put_s(&w, "{\"type\":\"subscribed\",\"topics\":");
	if (!put_topic_list(&w, topics, n))
		return 0;
	assert(w.full || w.len <= RC_APP_NOTICE_TOPICS_MAX);
	return wr_done(&w);
}

size_t rc_app_notice_unsubscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n)
{
	wr w = wr_make(out, cap);
	put_s(&w, "{\"type\":\"unsubscribed\",\"topics\":");
	if (!put_topic_list(&w, topics, n))
		return 0;
	assert(w.full || w.len <= RC_APP_NOTICE_TOPICS_MAX);
	return wr_done(&w);
}

size_t rc_app_notice_missed(uint8_t *out, size_t cap, const uint8_t *topic, size_t topic_len,
                            uint64_t count)
{
	if (count == 0 || !rc_app_topic_valid(topic, topic_len))
		return 0;
	wr w = wr_make(out, cap);
	put_s(&w, "{\"type\":\"missed\",\"topic\":\"");
	put(&w, topic, topic_len);
	put_s(&w, "\",\"count\":");
	put_u64(&w, count);
	put_c(&w, '}');
	assert(w.full || w.len <= RC_APP_NOTICE_MISSED_MAX);
	return wr_done(&w);
}

/* The length of the valid UTF-8 character that starts p[0..n), or 0 if p[0] does not begin one.
 * Uses the shared validator, a byte at a time: this runs on error messages only. */
static size_t utf8_char_len(const uint8_t *p, size_t n)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	for (size_t k = 1; k <= 4 && k <= n; k++) {
		if (rc_utf8_feed(&v, p + k - 1, 1) != 1)
			return 0;
		if (rc_utf8_complete(&v))
			return k;
	}
	return 0;
}

/* Write m[0..n) escaped as the content of a JSON string, cut at RC_APP_MESSAGE_MAX input bytes. */
static void put_escaped(wr *w, const uint8_t *m, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t b = m[i];
		size_t len = b < 0x80 ? 1 : utf8_char_len(m + i, n - i);
		if (i + (len ? len : 1) > RC_APP_MESSAGE_MAX)
			break; /* cut before a character that would cross the limit */
		if (len == 0) {
			put_s(w, "\\ufffd");
			i++;
			continue;
		}
		if (len > 1) {
			put(w, m + i, len);
		} else if (b == '"' || b == '\\') {
			uint8_t e[2] = { '\\', b };
			put(w, e, 2);
		} else if (b >= 0x20) {
			put_c(w, b);
		} else if (b == '\n') {
			put_s(w, "\\n");
		} else if (b == '\r') {
			put_s(w, "\\r");
		} else if (b == '\t') {
			put_s(w, "\\t");
		} else if (b == '\b') {
			put_s(w, "\\b");
		} else if (b == '\f') {
			put_s(w, "\\f");
		} else {
			uint8_t e[6] = {
				'\\', 'u', '0', '0', (uint8_t)hex_lower[b >> 4], (uint8_t)hex_lower[b & 15]
			};
			put(w, e, 6);
		}
		i += len;
	}
}

size_t rc_app_notice_error(uint8_t *out, size_t cap, enum rc_app_error code, const char *message,
                           size_t len)
{
	assert(message || len == 0);
	if (code == RC_APP_OK || rc_app_error_name(code) == NULL)
		return 0;
	wr w = wr_make(out, cap);
	put_s(&w, "{\"type\":\"error\",\"code\":\"");
	put_s(&w, rc_app_error_name(code));
	put_s(&w, "\",\"message\":\"");
	put_escaped(&w, (const uint8_t *)message, len);
	put_s(&w, "\"}");
	assert(w.full || w.len <= RC_APP_NOTICE_ERROR_MAX);
	return wr_done(&w);
}

/* ---- Notices: decoder -------------------------------------------------------------------- */

enum {
	NT_TYPE,
	NT_TOPICS,
	NT_TOPIC,
	NT_COUNT,
	NT_CODE,
	NT_MESSAGE,
	NT_KEYS
};
static const char *const notice_keys[NT_KEYS] = {
	[NT_TYPE] = "type",   [NT_TOPICS] = "topics", [NT_TOPIC] = "topic",
	[NT_COUNT] = "count", [NT_CODE] = "code",     [NT_MESSAGE] = "message",
};

/* The keys each type has, exactly. */
static uint32_t notice_required(enum rc_app_notice_type t)
{
	switch (t) {
	case RC_APP_NOTICE_SUBSCRIBED:
	case RC_APP_NOTICE_UNSUBSCRIBED:
		return 1u << NT_TYPE | 1u << NT_TOPICS;
	case RC_APP_NOTICE_MISSED:
		return 1u << NT_TYPE | 1u << NT_TOPIC | 1u << NT_COUNT;
	case RC_APP_NOTICE_ERROR:
		return 1u << NT_TYPE | 1u << NT_CODE | 1u << NT_MESSAGE;
	}
	return 0;
}

static bool notice_member(jcur *c, unsigned key, void *ctx)
{
	rc_app_notice *nt = ctx;
	rc_app_slice s;
	switch (key) {
	case NT_TYPE:
		if (!jword(c, 16, &s, "\"type\" must be a string", "unknown type"))
			return false;
		if (slice_is(s, "subscribed"))
			nt->type = RC_APP_NOTICE_SUBSCRIBED;
		else if (slice_is(s, "unsubscribed"))
			nt->type = RC_APP_NOTICE_UNSUBSCRIBED;
		else if (slice_is(s, "missed"))
			nt->type = RC_APP_NOTICE_MISSED;
		else if (slice_is(s, "error"))
			nt->type = RC_APP_NOTICE_ERROR;
		else
			return jfail(c, RC_APP_ERR_BAD_COMMAND, "unknown type");
		return true;
	case NT_TOPICS:
		return jtopics(c, nt->topics, &nt->topics_len);
	case NT_TOPIC:
		if (!jtopic(c, &nt->topics[0]))
			return false;
		nt->topics_len = 1;
		return true;
	case NT_COUNT:
		return juint(c, &nt->count);
	case NT_CODE:
		if (!jword(c, 16, &s, "\"code\" must be a string", "unknown error code"))
			return false;
		for (unsigned e = RC_APP_ERR_BAD_JSON; e < RC_APP_ERR_COUNT; e++) {
			if (slice_is(s, error_names[e])) {
				nt->code = (enum rc_app_error)e;
				return true;
			}
		}
		return jfail(c, RC_APP_ERR_BAD_COMMAND, "unknown error code");
	case NT_MESSAGE:
		return jtext(c, 6 * RC_APP_MESSAGE_MAX, &nt->message);
	}
	assert(!"notice key out of range");
	return false;
}

enum rc_app_error rc_app_notice_parse(const uint8_t *p, size_t n, rc_app_notice *out)
{
	assert(p || n == 0);
	assert(out);
	out->type = 0;
	out->topics_len = 0;
	out->count = 0;
	out->code = RC_APP_OK;
	out->message = (rc_app_slice){ 0 };
	out->reason = NULL;
	if (n > RC_APP_JSON_LEN_MAX) {
		out->reason = "notice longer than 16384 bytes";
		return RC_APP_ERR_BAD_COMMAND;
	}
	if (n == 0)
		p = empty; /* p may be NULL, and NULL + 0 is not a pointer sum C allows */
	jcur c = { .p = p, .end = p + n };
	uint32_t seen;
	if (jobject(&c, notice_keys, NT_KEYS, notice_member, out, &seen, "a notice is a JSON object")) {
		uint32_t need = notice_required(out->type);
		if (!(seen & 1u << NT_TYPE))
			jfail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"type\"");
		else if (seen & ~need)
			jfail(&c, RC_APP_ERR_BAD_COMMAND, "a key this type of notice does not have");
		else if (seen != need)
			jfail(&c, RC_APP_ERR_BAD_COMMAND, "a key this type of notice needs is missing");
		else
			jend(&c);
	}
	if (c.err) {
		out->reason = c.why;
		return c.err;
	}
	assert(out->type >= RC_APP_NOTICE_SUBSCRIBED && out->type <= RC_APP_NOTICE_ERROR);
	return RC_APP_OK;
}

/* Write code point cp (< 0x10000, not a surrogate) as UTF-8; returns the length. */
static size_t utf8_put(uint8_t *o, long cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	o[0] = (uint8_t)(0xe0 | cp >> 12);
	o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	o[2] = (uint8_t)(0x80 | (cp & 0x3f));
	return 3;
}

size_t rc_app_notice_message(const rc_app_notice *nt, char *out, size_t cap)
{
	assert(nt);
	assert(out || cap == 0);
	assert(cap >= nt->message.len);
	const uint8_t *s = nt->message.ptr;
	size_t n = nt->message.len, o = 0;
	uint8_t *dst = (uint8_t *)out;
	/* jtext checked every escape: a backslash always has its full escape after it. */
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			dst[o++] = s[i++];
			continue;
		}
		assert(i + 1 < n);
		uint8_t e = s[i + 1];
		if (e == 'u') {
			assert(i + 6 <= n);
			o += utf8_put(dst + o, hex4(s + i + 2)); /* 6 bytes in, at most 3 out */
			i += 6;
			continue;
		}
		static const uint8_t from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const uint8_t *f = memchr(from, e, sizeof from - 1);
		assert(f);
		dst[o++] = to[f - from];
		i += 2;
	}
	assert(o <= n);
	return o;
}
