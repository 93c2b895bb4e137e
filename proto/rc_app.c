/* rc_app: topic names, error codes and the binary PUBLISH/MESSAGE envelope: the parts of the
 * application protocol codec that the server's message path uses on every message. The contract
 * is rc_app.h; the user's description is docs/protocol.md. The other parts are rc_app_query.c
 * (connect parameters), rc_app_cmd.c (commands), rc_app_notice.c (notices) and rc_app_text.c
 * (what those share). */
#include "rc_app.h"

#include <assert.h>
#include <string.h>

#include "rc_utf8.h"

/* ---- Topic names ------------------------------------------------------------------------- */

bool rc_app_topic_valid(const uint8_t *p, size_t n)
{
	if (n == 0 || n > RC_APP_TOPIC_MAX)
		return false;
	assert(p);
	for (size_t i = 0; i < n; i++)
		if (!rc_app_topic_char(p[i]))
			return false;
	return true;
}

/* ---- Error codes ------------------------------------------------------------------------- */

_Static_assert(RC_APP_ERR_FORBIDDEN + 1 == RC_APP_ERR_COUNT, "RC_APP_ERR_COUNT is stale");

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
	[RC_APP_ERR_BUSY] = "busy",
	[RC_APP_ERR_FORBIDDEN] = "forbidden",
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
	case RC_APP_ERR_UNAUTHORIZED:
		/* Publishing is the server's to allow; a client without the right has nothing to retry
		 * on this connection. */
		return RC_CLOSE_UNAUTHORIZED;
	case RC_APP_OK:
	case RC_APP_ERR_BAD_JSON:
	case RC_APP_ERR_BAD_COMMAND:
	case RC_APP_ERR_UNKNOWN_KIND:
	case RC_APP_ERR_BAD_PUBLISH:
	case RC_APP_ERR_BAD_TOPIC:
	case RC_APP_ERR_TOO_MANY_TOPICS:
	case RC_APP_ERR_NOT_SUBSCRIBED:
	case RC_APP_ERR_BUSY:
	case RC_APP_ERR_FORBIDDEN:
		/* Each message stands alone in its WebSocket frame: a bad one is refused whole and the
		 * next one read as if it had not come (a run of them is abuse: RC_APP_REFUSED_MAX). */
		break;
	}
	return 0;
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
	enum rc_app_error e = rc_app_pub_parse_head(p, n, n, out);
	if (e == RC_APP_OK && (out->flags & RC_APP_FLAG_TEXT) &&
	    !rc_utf8_valid(out->payload.ptr, out->payload.len)) {
		*out = (rc_app_pub){ 0 };
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "text payload is not valid UTF-8");
	}
	return e;
}

enum rc_app_error rc_app_pub_parse_head(uint8_t *p, size_t have, size_t n, rc_app_pub *out)
{
	assert(p || n == 0);
	assert(out && have <= n && have >= (n < RC_APP_PUB_HEADER_MAX ? n : RC_APP_PUB_HEADER_MAX));
	*out = (rc_app_pub){ 0 };
	if (n == 0)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "empty binary message");
	if (p[0] != RC_APP_KIND_PUBLISH)
		return pub_fail(out, RC_APP_ERR_UNKNOWN_KIND, "unknown kind (first byte)");
	if (n < 3)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "publish shorter than its header");
	uint8_t flags = p[1];
	size_t topic_len = p[2];
	if (flags & ~(RC_APP_FLAG_TEXT | RC_APP_FLAG_RETAINED))
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "reserved flag bits set");
	if (topic_len == 0 || topic_len > RC_APP_TOPIC_MAX)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "topic length not 1..128");
	size_t hdr = rc_app_pub_header_len(topic_len);
	if (n < hdr)
		return pub_fail(out, RC_APP_ERR_BAD_PUBLISH, "publish shorter than its header");
	if (!rc_app_topic_valid(p + 3, topic_len))
		return pub_fail(out, RC_APP_ERR_BAD_TOPIC,
		                "topic with a byte outside A-Z a-z 0-9 . _ - : / @");
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
	if ((flags & ~(RC_APP_FLAG_TEXT | RC_APP_FLAG_RETAINED)) ||
	    !rc_app_topic_valid(topic, topic_len))
		return 0;
	out[0] = RC_APP_KIND_PUBLISH;
	out[1] = flags;
	out[2] = (uint8_t)topic_len;
	memcpy(out + 3, topic, topic_len);
	rc_app_seq_write(out + 3 + topic_len, seq);
	return rc_app_pub_header_len(topic_len);
}
