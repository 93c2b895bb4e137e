/* rc_app_query: the connect parameters of GET /ws?topics=a,b&publish=T&token=... and the bearer
 * token of an Authorization header, read by the server at the handshake, and the request target a
 * client writes. The contract is rc_app.h (its "Connect parameters" section). */
#include "rc_app.h"

#include <assert.h>
#include <string.h>

#include "rc_app_text.h"

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
	[RC_APP_QUERY_BAD_SNAPSHOT] = "bad snapshot=: 0 or 1, at most once",
	[RC_APP_QUERY_BAD_INTERVAL] = "bad interval_ms=: an integer from 0 to 60000, at most once",
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
		if (n - i < 3 || rc_app_hex_value(q[i + 1]) < 0 || rc_app_hex_value(q[i + 2]) < 0)
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
			dst[o++] = (uint8_t)(rc_app_hex_value(src[i + 1]) << 4 | rc_app_hex_value(src[i + 2]));
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
			key[k++] =
			        (uint8_t)(rc_app_hex_value(src[raw + 1]) << 4 | rc_app_hex_value(src[raw + 2]));
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

/* interval_ms=N: decimal digits as sent, 0..RC_APP_INTERVAL_MAX_MS, once. */
static enum rc_app_query_error query_interval(rc_app_connect *c, const uint8_t *v, size_t n)
{
	if (c->seen_interval || n == 0 || n > 5)
		return RC_APP_QUERY_BAD_INTERVAL;
	uint32_t ms = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return RC_APP_QUERY_BAD_INTERVAL;
		ms = ms * 10 + (uint32_t)(v[i] - '0');
	}
	if (ms > RC_APP_INTERVAL_MAX_MS)
		return RC_APP_QUERY_BAD_INTERVAL;
	c->seen_interval = true;
	c->interval_ms = ms;
	return RC_APP_QUERY_OK;
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
	if (key_is(p, key_len, "snapshot")) {
		/* decoded "0" and "1" have no escape worth sending: compared as sent */
		if (c->seen_snapshot || v_len != 1 || (v[0] != '0' && v[0] != '1'))
			return RC_APP_QUERY_BAD_SNAPSHOT;
		c->seen_snapshot = true;
		c->snapshot = v[0] == '1';
		return RC_APP_QUERY_OK;
	}
	if (key_is(p, key_len, "interval_ms"))
		return query_interval(c, v, v_len);
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

static bool slice_eq(rc_app_slice a, rc_app_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
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

/* ---- the request target, for clients ---- */

/* Upper case in URLs: RFC 3986 §2.1 says producers should use it. */
static const char hex_upper[] = "0123456789ABCDEF";

size_t rc_app_target_encode(uint8_t *out, size_t cap, const rc_app_connect *c)
{
	assert(c);
	wr w = wr_make(out, cap);
	wr_put_s(&w, RC_APP_PATH);
	char sep = '?';
	if (c->topics_len) {
		wr_put_c(&w, (uint8_t)sep);
		wr_put_s(&w, "topics=");
		for (size_t i = 0; i < c->topics_len; i++) {
			/* The topic alphabet is all allowed raw in a query (RFC 3986 pchar and '/'). */
			if (!rc_app_topic_valid(c->topics[i].ptr, c->topics[i].len))
				return 0;
			if (i)
				wr_put_c(&w, ',');
			wr_put(&w, c->topics[i].ptr, c->topics[i].len);
		}
		sep = '&';
	}
	if (c->publish.len) {
		if (!rc_app_topic_valid(c->publish.ptr, c->publish.len))
			return 0;
		wr_put_c(&w, (uint8_t)sep);
		wr_put_s(&w, "publish=");
		wr_put(&w, c->publish.ptr, c->publish.len);
		sep = '&';
	}
	if (c->snapshot) {
		wr_put_c(&w, (uint8_t)sep);
		wr_put_s(&w, "snapshot=1");
		sep = '&';
	}
	if (c->interval_ms > 0) {
		if (c->interval_ms > RC_APP_INTERVAL_MAX_MS)
			return 0;
		wr_put_c(&w, (uint8_t)sep);
		wr_put_s(&w, "interval_ms=");
		wr_put_u64(&w, c->interval_ms);
		sep = '&';
	}
	if (c->token.len) {
		if (!token_valid(c->token.ptr, c->token.len))
			return 0;
		wr_put_c(&w, (uint8_t)sep);
		wr_put_s(&w, "token=");
		for (size_t i = 0; i < c->token.len; i++) {
			uint8_t b = c->token.ptr[i];
			bool unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
			                  (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' ||
			                  b == '~';
			if (unreserved) {
				wr_put_c(&w, b);
			} else {
				uint8_t e[3] = { '%', (uint8_t)hex_upper[b >> 4], (uint8_t)hex_upper[b & 15] };
				wr_put(&w, e, 3);
			}
		}
	}
	return wr_done(&w);
}
