/* rc_app_notice: ringcast.v1's notices, the JSON text frames the server sends (subscribed,
 * unsubscribed, missed, error): the server's encoders and the clients' parser. The contract is
 * rc_app.h (its "ringcast.v1 notices" section); the JSON scanner is rc_app_text.h's. */
#include "rc_app.h"

#include <assert.h>
#include <string.h>

#include "rc_app_text.h"
#include "rc_utf8.h"

/* ---- encoders ---- */

/* Lower case in JSON, as JSON.stringify and Python's json write \u001f. */
static const char hex_lower[] = "0123456789abcdef";

/* {"type":"<type>","topics":[...]} */
static size_t topics_notice(uint8_t *out, size_t cap, const char *head, const rc_app_slice *topics,
                            size_t n)
{
	wr w = wr_make(out, cap);
	wr_put_s(&w, head);
	if (!rc_app_put_topic_list(&w, topics, n))
		return 0;
	assert(w.full || w.len <= RC_APP_NOTICE_TOPICS_MAX);
	return wr_done(&w);
}

size_t rc_app_notice_subscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n)
{
	return topics_notice(out, cap, "{\"type\":\"subscribed\",\"topics\":", topics, n);
}

size_t rc_app_notice_unsubscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n)
{
	return topics_notice(out, cap, "{\"type\":\"unsubscribed\",\"topics\":", topics, n);
}

size_t rc_app_notice_subscribed_at(uint8_t *out, size_t cap, const rc_app_slice *topics,
                                   const rc_app_pos *pos, size_t n)
{
	size_t len = rc_app_notice_subscribed(out, cap, topics, n);
	if (len == 0)
		return 0;
	assert(pos);
	wr w = wr_make(out, cap);
	w.len = len - 1; /* over the closing brace */
	wr_put_s(&w, ",\"positions\":[");
	for (size_t i = 0; i < n; i++) {
		wr_put_s(&w, i ? ",{\"epoch\":" : "{\"epoch\":");
		rc_app_put_epoch(&w, pos[i].epoch);
		wr_put_s(&w, ",\"seq\":");
		wr_put_u64(&w, pos[i].seq);
		wr_put_c(&w, '}');
	}
	wr_put_s(&w, "]}");
	assert(w.full || w.len <= RC_APP_NOTICE_SUBSCRIBED_AT_MAX);
	return wr_done(&w);
}

static const char *reset_reason_name(enum rc_app_reset_reason r)
{
	switch (r) {
	case RC_APP_RESET_EPOCH:
		return "epoch";
	case RC_APP_RESET_HISTORY:
		return "history";
	}
	return NULL;
}

size_t rc_app_notice_reset(uint8_t *out, size_t cap, const uint8_t *topic, size_t topic_len,
                           enum rc_app_reset_reason reason, uint64_t epoch, uint64_t first,
                           bool snapshot)
{
	const char *why = reset_reason_name(reason);
	if (why == NULL || first == 0 || !rc_app_topic_valid(topic, topic_len))
		return 0;
	wr w = wr_make(out, cap);
	wr_put_s(&w, "{\"type\":\"reset\",\"topic\":\"");
	wr_put(&w, topic, topic_len);
	wr_put_s(&w, "\",\"reason\":\"");
	wr_put_s(&w, why);
	wr_put_s(&w, "\",\"epoch\":");
	rc_app_put_epoch(&w, epoch);
	wr_put_s(&w, ",\"first\":");
	wr_put_u64(&w, first);
	wr_put_s(&w, snapshot ? ",\"snapshot\":true}" : ",\"snapshot\":false}");
	assert(w.full || w.len <= RC_APP_NOTICE_RESET_MAX);
	return wr_done(&w);
}

size_t rc_app_notice_add_id(uint8_t *out, size_t len, size_t cap, rc_app_slice id)
{
	if (id.len == 0)
		return len;
	assert(id.len <= RC_APP_ID_RAW_MAX && len >= 2 && out[len - 1] == '}');
	static const char key[] = ",\"id\":";
	size_t n = len - 1 + sizeof key - 1 + id.len + 1;
	if (n > cap)
		return 0;
	memcpy(out + len - 1, key, sizeof key - 1);
	memcpy(out + len - 1 + sizeof key - 1, id.ptr, id.len);
	out[n - 1] = '}';
	return n;
}

size_t rc_app_notice_missed(uint8_t *out, size_t cap, const uint8_t *topic, size_t topic_len,
                            uint64_t count)
{
	if (count == 0 || !rc_app_topic_valid(topic, topic_len))
		return 0;
	wr w = wr_make(out, cap);
	wr_put_s(&w, "{\"type\":\"missed\",\"topic\":\"");
	wr_put(&w, topic, topic_len);
	wr_put_s(&w, "\",\"count\":");
	wr_put_u64(&w, count);
	wr_put_c(&w, '}');
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
			wr_put_s(w, "\\ufffd");
			i++;
			continue;
		}
		if (len > 1) {
			wr_put(w, m + i, len);
		} else if (b == '"' || b == '\\') {
			uint8_t e[2] = { '\\', b };
			wr_put(w, e, 2);
		} else if (b >= 0x20) {
			wr_put_c(w, b);
		} else if (b == '\n') {
			wr_put_s(w, "\\n");
		} else if (b == '\r') {
			wr_put_s(w, "\\r");
		} else if (b == '\t') {
			wr_put_s(w, "\\t");
		} else if (b == '\b') {
			wr_put_s(w, "\\b");
		} else if (b == '\f') {
			wr_put_s(w, "\\f");
		} else {
			uint8_t e[6] = {
				'\\', 'u', '0', '0', (uint8_t)hex_lower[b >> 4], (uint8_t)hex_lower[b & 15]
			};
			wr_put(w, e, 6);
		}
		i += len;
	}
}

size_t rc_app_notice_authorized(uint8_t *out, size_t cap, bool has_exp, uint64_t exp)
{
	wr w = wr_make(out, cap);
	wr_put_s(&w, "{\"type\":\"authorized\"");
	if (has_exp) {
		wr_put_s(&w, ",\"exp\":");
		wr_put_u64(&w, exp);
	}
	wr_put_c(&w, '}');
	assert(w.full || w.len <= RC_APP_NOTICE_AUTHORIZED_MAX);
	return wr_done(&w);
}

size_t rc_app_notice_error(uint8_t *out, size_t cap, enum rc_app_error code, const char *message,
                           size_t len)
{
	assert(message || len == 0);
	if (code == RC_APP_OK || rc_app_error_name(code) == NULL)
		return 0;
	wr w = wr_make(out, cap);
	wr_put_s(&w, "{\"type\":\"error\",\"code\":\"");
	wr_put_s(&w, rc_app_error_name(code));
	wr_put_s(&w, "\",\"message\":\"");
	put_escaped(&w, (const uint8_t *)message, len);
	wr_put_s(&w, "\"}");
	assert(w.full || w.len <= RC_APP_NOTICE_ERROR_MAX);
	return wr_done(&w);
}

/* ---- decoder ---- */

enum {
	NT_TYPE,
	NT_TOPICS,
	NT_TOPIC,
	NT_COUNT,
	NT_CODE,
	NT_MESSAGE,
	NT_ID,
	NT_POSITIONS,
	NT_REASON,
	NT_EPOCH,
	NT_FIRST,
	NT_SNAPSHOT,
	NT_EXP,
	NT_KEYS
};
static const char *const notice_keys[NT_KEYS] = {
	[NT_TYPE] = "type",   [NT_TOPICS] = "topics",       [NT_TOPIC] = "topic",
	[NT_COUNT] = "count", [NT_CODE] = "code",           [NT_MESSAGE] = "message",
	[NT_ID] = "id",       [NT_POSITIONS] = "positions", [NT_REASON] = "reason",
	[NT_EPOCH] = "epoch", [NT_FIRST] = "first",         [NT_SNAPSHOT] = "snapshot",
	[NT_EXP] = "exp",
};

enum {
	POS_EPOCH,
	POS_SEQ,
	POS_KEYS
};
static const char *const pos_keys[POS_KEYS] = { [POS_EPOCH] = "epoch", [POS_SEQ] = "seq" };

static bool pos_member(rc_json *c, unsigned key, void *ctx)
{
	rc_app_pos *pos = ctx;
	if (key == POS_EPOCH)
		return rc_json_epoch(c, &pos->epoch);
	return rc_json_u64(c, 0, UINT64_MAX, &pos->seq, "\"seq\" must be an integer from 0 to 2^64-1");
}

/* One {"epoch":E,"seq":N} of "positions". */
static bool position_item(rc_json *c, size_t i, void *ctx)
{
	rc_app_notice *nt = ctx;
	uint32_t seen;
	if (!rc_json_object(c, pos_keys, POS_KEYS, pos_member, &nt->positions[i], &seen,
	                    "each position must be an object"))
		return false;
	if (seen != (1u << POS_KEYS) - 1)
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "a position needs \"epoch\" and \"seq\"");
	return true;
}

static bool reset_reason(rc_json *c, rc_app_notice *nt)
{
	rc_app_slice s;
	if (!rc_json_word(c, 16, &s, "\"reason\" must be a string", "unknown reason"))
		return false;
	for (unsigned r = RC_APP_RESET_EPOCH; r <= RC_APP_RESET_HISTORY; r++) {
		if (rc_app_slice_is(s, reset_reason_name((enum rc_app_reset_reason)r))) {
			nt->reset = (enum rc_app_reset_reason)r;
			return true;
		}
	}
	return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown reason");
}

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
	case RC_APP_NOTICE_RESET:
		return 1u << NT_TYPE | 1u << NT_TOPIC | 1u << NT_REASON | 1u << NT_EPOCH | 1u << NT_FIRST |
		       1u << NT_SNAPSHOT;
	case RC_APP_NOTICE_AUTHORIZED:
		return 1u << NT_TYPE;
	}
	return 0;
}

static bool notice_member(rc_json *c, unsigned key, void *ctx)
{
	rc_app_notice *nt = ctx;
	rc_app_slice s;
	switch (key) {
	case NT_TYPE:
		if (!rc_json_word(c, 16, &s, "\"type\" must be a string", "unknown type"))
			return false;
		if (rc_app_slice_is(s, "subscribed"))
			nt->type = RC_APP_NOTICE_SUBSCRIBED;
		else if (rc_app_slice_is(s, "unsubscribed"))
			nt->type = RC_APP_NOTICE_UNSUBSCRIBED;
		else if (rc_app_slice_is(s, "missed"))
			nt->type = RC_APP_NOTICE_MISSED;
		else if (rc_app_slice_is(s, "error"))
			nt->type = RC_APP_NOTICE_ERROR;
		else if (rc_app_slice_is(s, "reset"))
			nt->type = RC_APP_NOTICE_RESET;
		else if (rc_app_slice_is(s, "authorized"))
			nt->type = RC_APP_NOTICE_AUTHORIZED;
		else
			return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown type");
		return true;
	case NT_TOPICS:
		return rc_json_topics(c, nt->topics, &nt->topics_len);
	case NT_TOPIC:
		if (!rc_json_topic(c, &nt->topics[0]))
			return false;
		nt->topics_len = 1;
		return true;
	case NT_COUNT:
		return rc_json_uint(c, &nt->count);
	case NT_CODE:
		if (!rc_json_word(c, 16, &s, "\"code\" must be a string", "unknown error code"))
			return false;
		for (unsigned e = RC_APP_ERR_BAD_JSON; e < RC_APP_ERR_COUNT; e++) {
			if (rc_app_slice_is(s, rc_app_error_name((enum rc_app_error)e))) {
				nt->code = (enum rc_app_error)e;
				return true;
			}
		}
		return rc_json_fail(c, RC_APP_ERR_BAD_COMMAND, "unknown error code");
	case NT_MESSAGE:
		return rc_json_text(c, 6 * RC_APP_MESSAGE_MAX, &nt->message);
	case NT_ID:
		return rc_json_id(c, &nt->id);
	case NT_POSITIONS:
		return rc_json_array(c, RC_APP_TOPICS_MAX, position_item, nt, &nt->positions_len,
		                     "\"positions\" must be an array of objects");
	case NT_REASON:
		return reset_reason(c, nt);
	case NT_EPOCH:
		return rc_json_epoch(c, &nt->epoch);
	case NT_FIRST:
		return rc_json_u64(c, 1, UINT64_MAX, &nt->first,
		                   "\"first\" must be an integer from 1 to 2^64-1");
	case NT_SNAPSHOT:
		return rc_json_bool(c, &nt->snapshot, "\"snapshot\" must be true or false");
	case NT_EXP:
		nt->has_exp = true;
		return rc_json_u64(c, 0, UINT64_MAX, &nt->exp, "\"exp\" must be an integer");
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
	out->id = (rc_app_slice){ 0 };
	out->positions_len = 0;
	out->reset = 0;
	out->epoch = out->first = 0;
	out->snapshot = false;
	out->has_exp = false;
	out->exp = 0;
	out->reason = NULL;
	if (n > RC_APP_JSON_LEN_MAX) {
		out->reason = "notice longer than 16384 bytes";
		return RC_APP_ERR_BAD_COMMAND;
	}
	rc_json c = rc_json_start(p, n);
	uint32_t seen;
	if (rc_json_object(&c, notice_keys, NT_KEYS, notice_member, out, &seen,
	                   "a notice is a JSON object")) {
		uint32_t need = notice_required(out->type);
		/* an answer to a command may carry its id; missed and reset notices answer none */
		uint32_t may = out->type == RC_APP_NOTICE_MISSED || out->type == RC_APP_NOTICE_RESET
		                       ? need
		                       : need | 1u << NT_ID;
		if (out->type == RC_APP_NOTICE_SUBSCRIBED)
			may |= 1u << NT_POSITIONS;
		if (out->type == RC_APP_NOTICE_AUTHORIZED)
			may |= 1u << NT_EXP;
		if (!(seen & 1u << NT_TYPE))
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "missing \"type\"");
		else if (seen & ~may)
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "a key this type of notice does not have");
		else if ((seen & need) != need)
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "a key this type of notice needs is missing");
		else if ((seen & 1u << NT_POSITIONS) && out->positions_len != out->topics_len)
			rc_json_fail(&c, RC_APP_ERR_BAD_COMMAND, "not one position per topic");
		else
			rc_json_end(&c);
	}
	if (c.err) {
		out->reason = c.why;
		return c.err;
	}
	assert(out->type >= RC_APP_NOTICE_SUBSCRIBED && out->type <= RC_APP_NOTICE_AUTHORIZED);
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
	/* rc_json_text checked every escape: a backslash always has its full escape after it. */
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			dst[o++] = s[i++];
			continue;
		}
		assert(i + 1 < n);
		uint8_t e = s[i + 1];
		if (e == 'u') {
			assert(i + 6 <= n);
			o += utf8_put(dst + o, rc_json_hex4(s + i + 2)); /* 6 bytes in, at most 3 out */
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
