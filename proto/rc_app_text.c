/* rc_app_text: the JSON scanner and the topic list writer the rc_app codec's files share (see
 * rc_app_text.h). */
#include "rc_app_text.h"

#include <assert.h>
#include <string.h>

/* rc_app_put_topic_list: see rc_app_text.h. */
bool rc_app_put_topic_list(wr *w, const rc_app_slice *topics, size_t n)
{
	if (n == 0 || n > RC_APP_TOPICS_MAX)
		return false;
	assert(topics);
	wr_put_c(w, '[');
	for (size_t i = 0; i < n; i++) {
		if (!rc_app_topic_valid(topics[i].ptr, topics[i].len))
			return false;
		if (i)
			wr_put_c(w, ',');
		wr_put_c(w, '"');
		wr_put(w, topics[i].ptr, topics[i].len);
		wr_put_c(w, '"');
	}
	wr_put_s(w, "]}");
	return true;
}

/* ---- the JSON scanner ---- */

rc_json rc_json_start(const uint8_t *p, size_t n)
{
	static const uint8_t empty[1];
	assert(p || n == 0);
	if (n == 0)
		p = empty; /* p may be NULL, and NULL + 0 is not a pointer sum C allows */
	return (rc_json){ .p = p, .end = p + n };
}

bool rc_json_fail(rc_json *c, enum rc_app_error e, const char *why)
{
	assert(e != RC_APP_OK);
	if (c->err == RC_APP_OK) {
		c->err = e;
		c->why = why;
	}
	return false;
}

void rc_json_ws(rc_json *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Where a value of some type was expected and this is not it: if the byte can begin another JSON
 * value the text may still be JSON, so the shape is wrong (BAD_COMMAND, `why`); otherwise it is
 * not JSON. We never descend into the other value: nesting is refused here. */
static bool wrong_type(rc_json *c, const char *why)
{
	if (c->p == c->end)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
	uint8_t b = *c->p;
	if (b == '{' || b == '[' || b == '"' || b == '-' || (b >= '0' && b <= '9') || b == 't' ||
	    b == 'f' || b == 'n')
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "not a JSON value");
}

/* A string of bytes from [a-z_], at most max of them, between quotes: keys and the words of op,
 * type and code. Anything else inside is not one of our words (BAD_COMMAND, `why`), unless the
 * text ends first (BAD_JSON). */
bool rc_json_word(rc_json *c, size_t max, rc_app_slice *out, const char *type_why, const char *why)
{
	if (!rc_json_peek(c, '"'))
		return wrong_type(c, type_why);
	const uint8_t *s = ++c->p;
	while (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || *c->p == '_') &&
	       (size_t)(c->p - s) < max)
		c->p++;
	if (c->p == c->end)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
	if (*c->p != '"')
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	*out = (rc_app_slice){ .ptr = s, .len = (size_t)(c->p - s) };
	c->p++;
	return true;
}

/* A topic name between quotes. The scan stops at the first byte outside the alphabet (a closing
 * quote ends it; anything else, a backslash included, is BAD_TOPIC) or past RC_APP_TOPIC_MAX
 * bytes, so its work is bounded whatever follows. */
bool rc_json_topic(rc_json *c, rc_app_slice *out)
{
	if (!rc_json_peek(c, '"'))
		return wrong_type(c, "a topic must be a string");
	const uint8_t *s = ++c->p;
	while (c->p < c->end && rc_app_topic_char(*c->p) && (size_t)(c->p - s) <= RC_APP_TOPIC_MAX)
		c->p++;
	size_t len = (size_t)(c->p - s);
	if (len > RC_APP_TOPIC_MAX)
		return rc_json_fail(c, RC_APP_ERR_BAD_TOPIC, "topic longer than 128 bytes");
	if (c->p == c->end)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
	if (*c->p != '"')
		return rc_json_fail(
		        c, RC_APP_ERR_BAD_TOPIC,
		        "topic with a byte outside A-Z a-z 0-9 . _ - : / @ (topics are never escaped)");
	if (len == 0)
		return rc_json_fail(c, RC_APP_ERR_BAD_TOPIC, "empty topic");
	*out = (rc_app_slice){ .ptr = s, .len = len };
	c->p++;
	return true;
}

static bool topic_item(rc_json *c, size_t i, void *ctx)
{
	return rc_json_topic(c, (rc_app_slice *)ctx + i);
}

/* ["topic", ...]: 1..RC_APP_TOPICS_MAX topics. Refused at the 65th item, before reading it, so a
 * huge array costs no more than 64 topics. */
bool rc_json_topics(rc_json *c, rc_app_slice *topics, size_t *count)
{
	if (!rc_json_array(c, RC_APP_TOPICS_MAX, topic_item, topics, count,
	                   "\"topics\" must be an array of strings"))
		return false;
	return *count > 0 || rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "\"topics\" is empty");
}

/* A decimal integer min..max. JSON number syntax is followed as far as telling BAD_JSON (a leading
 * zero, a lone '-') from a number we refuse (BAD_COMMAND, why). */
bool rc_json_u64(rc_json *c, uint64_t min, uint64_t max, uint64_t *out, const char *why)
{
	assert(min <= max);
	if (rc_json_peek(c, '-'))
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	if (c->p == c->end || *c->p < '0' || *c->p > '9')
		return wrong_type(c, why);
	const uint8_t *s = c->p;
	uint64_t v = 0;
	bool over = false;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
		c->p++;
	}
	if (*s == '0' && c->p - s > 1)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "number with a leading zero");
	if (over || v < min || v > max ||
	    (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')))
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	*out = v;
	return true;
}

bool rc_json_uint(rc_json *c, uint64_t *out)
{
	return rc_json_u64(c, 1, UINT64_MAX, out, "\"count\" must be an integer from 1 to 2^64-1");
}

bool rc_json_bool(rc_json *c, bool *out, const char *why)
{
	static const char t[] = "true", f[] = "false";
	size_t left = (size_t)(c->end - c->p);
	if (left >= 4 && memcmp(c->p, t, 4) == 0) {
		c->p += 4;
		*out = true;
		return true;
	}
	if (left >= 5 && memcmp(c->p, f, 5) == 0) {
		c->p += 5;
		*out = false;
		return true;
	}
	return wrong_type(c, why);
}

bool rc_json_epoch(rc_json *c, uint64_t *out)
{
	static const char *const why = "an epoch is a string of 16 lowercase hex digits";
	if (!rc_json_peek(c, '"'))
		return wrong_type(c, why);
	if (c->end - c->p < RC_APP_EPOCH_HEX + 2)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
	uint64_t v = 0;
	for (int i = 1; i <= RC_APP_EPOCH_HEX; i++) {
		uint8_t b = c->p[i];
		int h = (b >= 'A' && b <= 'F') ? -1 : rc_app_hex_value(b);
		if (h < 0)
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
		v = v << 4 | (uint64_t)h;
	}
	if (c->p[RC_APP_EPOCH_HEX + 1] != '"')
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	c->p += RC_APP_EPOCH_HEX + 2;
	*out = v;
	return true;
}

bool rc_json_array(rc_json *c, size_t max, rc_json_item_fn *item, void *ctx, size_t *count,
                   const char *what)
{
	if (!rc_json_peek(c, '['))
		return wrong_type(c, what);
	c->p++;
	rc_json_ws(c);
	size_t n = 0;
	if (rc_json_peek(c, ']')) {
		c->p++;
		*count = 0;
		return true;
	}
	for (;;) {
		if (n == max)
			return rc_json_fail(c, RC_APP_ERR_TOO_MANY_TOPICS, "more than 64 topics");
		if (!item(c, n, ctx))
			return false;
		n++;
		rc_json_ws(c);
		if (c->p == c->end)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
		if (*c->p == ']')
			break;
		if (*c->p != ',')
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "expected ',' or ']' in the array");
		c->p++;
		rc_json_ws(c);
		if (rc_json_peek(c, ']'))
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "trailing comma in the array");
	}
	c->p++;
	*count = n;
	return true;
}

void rc_app_put_epoch(wr *w, uint64_t epoch)
{
	static const char hex[] = "0123456789abcdef";
	char d[RC_APP_EPOCH_HEX + 2];
	d[0] = d[RC_APP_EPOCH_HEX + 1] = '"';
	for (int i = 0; i < RC_APP_EPOCH_HEX; i++)
		d[1 + i] = hex[(epoch >> (60 - 4 * i)) & 15];
	wr_put(w, d, sizeof d);
}

bool rc_json_id(rc_json *c, rc_app_slice *raw)
{
	static const char *const why = "\"id\" must be an integer from 0 to 2^53-1 or a string of 1 "
	                               "to 64 printable ASCII characters without '\"' or '\\'";
	const uint8_t *s = c->p;
	if (rc_json_peek(c, '"')) {
		c->p++;
		while (c->p < c->end && *c->p != '"') {
			if (*c->p < 0x20 || *c->p > 0x7e || *c->p == '\\' || c->p - s > RC_APP_ID_STR_MAX)
				return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
			c->p++;
		}
		if (c->p == c->end)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
		if (c->p - s == 1)
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
		c->p++;
		*raw = (rc_app_slice){ s, (size_t)(c->p - s) };
		return true;
	}
	if (c->p == c->end || *c->p < '0' || *c->p > '9')
		return wrong_type(c, why);
	uint64_t v = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (uint64_t)(*c->p - '0');
		c->p++;
		if (v > RC_APP_ID_INT_MAX)
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	}
	if (*s == '0' && c->p - s > 1)
		return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "number with a leading zero");
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, why);
	*raw = (rc_app_slice){ s, (size_t)(c->p - s) };
	return true;
}

/* The code point of the four hex digits at p (the caller checked there are four), or -1. */
long rc_json_hex4(const uint8_t *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = rc_app_hex_value(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A general JSON string (the message of an error notice), at most max bytes as sent. Escapes are
 * checked here so that rc_app_notice_message can unescape without checking; \u escapes of
 * surrogates are refused (our encoder writes none, and a lone one has no UTF-8 form). */
bool rc_json_text(rc_json *c, size_t max, rc_app_slice *out)
{
	if (!rc_json_peek(c, '"'))
		return wrong_type(c, "\"message\" must be a string");
	const uint8_t *s = ++c->p;
	for (;;) {
		if (c->p == c->end)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
		if ((size_t)(c->p - s) > max)
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "\"message\" too long");
		uint8_t b = *c->p;
		if (b == '"')
			break;
		if (b < 0x20)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "control byte in a string");
		if (b != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
		uint8_t e = c->p[1];
		if (e == 'u') {
			if (c->end - c->p < 6)
				return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unterminated string");
			long cp = rc_json_hex4(c->p + 2);
			if (cp < 0)
				return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "bad \\u escape");
			if (cp >= 0xd800 && cp <= 0xdfff)
				return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "surrogate \\u escape");
			c->p += 6;
		} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
		           e == 'r' || e == 't') {
			c->p += 2;
		} else {
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "bad escape");
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
bool rc_json_object(rc_json *c, const char *const *keys, unsigned nkeys, rc_json_member_fn *member,
                    void *ctx, uint32_t *seen, const char *what)
{
	assert(nkeys <= 32);
	*seen = 0;
	rc_json_ws(c);
	if (!rc_json_peek(c, '{'))
		return wrong_type(c, what);
	c->p++;
	rc_json_ws(c);
	if (rc_json_peek(c, '}')) {
		c->p++;
		return true;
	}
	for (;;) {
		rc_app_slice k;
		if (!rc_json_peek(c, '"'))
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON,
			                    c->p == c->end ? "unexpected end of text"
			                                   : "expected a key string");
		if (!rc_json_word(c, 16, &k, "expected a key string", "unknown key"))
			return false;
		unsigned i = 0;
		while (i < nkeys && !rc_app_slice_is(k, keys[i]))
			i++;
		if (i == nkeys)
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown key");
		if (*seen & (1u << i))
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "duplicate key");
		*seen |= 1u << i;
		rc_json_ws(c);
		if (!rc_json_peek(c, ':'))
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "expected ':' after a key");
		c->p++;
		rc_json_ws(c);
		if (!member(c, i, ctx))
			return false;
		rc_json_ws(c);
		if (c->p == c->end)
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "unexpected end of text");
		if (*c->p == '}')
			break;
		if (*c->p != ',')
			return rc_json_fail(c, RC_APP_ERR_BAD_JSON, "expected ',' or '}' in the object");
		c->p++;
		rc_json_ws(c);
	}
	c->p++;
	return true;
}

bool rc_json_end(rc_json *c)
{
	rc_json_ws(c);
	return c->p == c->end || rc_json_fail(c, RC_APP_ERR_BAD_JSON, "bytes after the object");
}
