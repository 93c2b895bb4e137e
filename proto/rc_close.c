/* rc_close: close codes and close payloads. The contract is in rc_close.h.
 *
 * Which codes may be sent (RFC 6455 §7.4.1, §7.4.2 and the IANA "WebSocket Close Code Number
 * Registry"):
 *   0-999        never used
 *   1000-1003    RFC 6455
 *   1004         reserved, meaning not defined
 *   1005, 1006   reporting only ("no status", "abnormal closure"): never on the wire
 *   1007-1011    RFC 6455 (1010 is sent by clients only, but a server cannot tell who sends it: a
 *                server parser accepts it, like every other registered code)
 *   1012-1014    IANA registry: service restart, try again later, bad gateway
 *   1015         reporting only (TLS handshake failure)
 *   1016-2999    reserved for future revisions of the protocol and extensions
 *   3000-3999    registered with IANA by libraries and frameworks
 *   4000-4999    private use (ringcast's own codes live here)
 *   5000-65535   not defined by RFC 6455, so not valid
 */
#include "rc_close.h"

#include "rc_utf8.h"

#include <assert.h>
#include <string.h>

bool rc_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

const char *rc_close_code_name(uint16_t code)
{
	switch (code) {
	case RC_CLOSE_NORMAL:
		return "normal";
	case RC_CLOSE_GOING_AWAY:
		return "going away";
	case RC_CLOSE_PROTOCOL:
		return "protocol error";
	case RC_CLOSE_UNSUPPORTED:
		return "unsupported data";
	case RC_CLOSE_NO_STATUS:
		return "no status";
	case RC_CLOSE_ABNORMAL:
		return "abnormal closure";
	case RC_CLOSE_INVALID_DATA:
		return "invalid payload data";
	case RC_CLOSE_POLICY:
		return "policy violation";
	case RC_CLOSE_TOO_BIG:
		return "message too big";
	case RC_CLOSE_EXTENSION:
		return "mandatory extension";
	case RC_CLOSE_INTERNAL:
		return "internal error";
	case RC_CLOSE_RESTART:
		return "service restart";
	case RC_CLOSE_TRY_AGAIN:
		return "try again later";
	case RC_CLOSE_BAD_GATEWAY:
		return "bad gateway";
	case 1015:
		return "tls handshake failure";
	case RC_CLOSE_SLOW_CONSUMER:
		return "slow consumer";
	case RC_CLOSE_UNAUTHORIZED:
		return "unauthorized";
	case RC_CLOSE_BAD_COMMAND:
		return "bad command";
	case RC_CLOSE_IDLE_TIMEOUT:
		return "idle timeout";
	case RC_CLOSE_PING_FLOOD:
		return "ping flood";
	case RC_CLOSE_RATE_LIMITED:
		return "rate limited";
	case RC_CLOSE_TOKEN_EXPIRED:
		return "token expired";
	default:
		return "unknown";
	}
}

uint16_t rc_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
                        size_t *reason_len)
{
	assert(p != NULL || n == 0);
	assert(code != NULL && reason != NULL && reason_len != NULL);
	if (n > 2 + RC_CLOSE_REASON_MAX || n == 1)
		return RC_CLOSE_PROTOCOL;
	if (n == 0) {
		*code = RC_CLOSE_NO_STATUS;
		*reason = p;
		*reason_len = 0;
		return 0;
	}
	uint16_t c = (uint16_t)((unsigned)p[0] << 8 | p[1]);
	if (!rc_close_code_valid(c))
		return RC_CLOSE_PROTOCOL;
	if (!rc_utf8_valid(p + 2, n - 2))
		return RC_CLOSE_INVALID_DATA;
	*code = c;
	*reason = p + 2;
	*reason_len = n - 2;
	return 0;
}

/* The length of the longest prefix of s[0..n) that is complete, valid UTF-8: a character cut by
 * the length limit is dropped whole, and so is anything from an invalid byte on (a reason is ours,
 * so that is a bug elsewhere, but the frame we send must still be one the peer accepts). At most
 * 123 bytes on a close path, so one byte at a time is plenty. */
static size_t utf8_complete_prefix(const uint8_t *s, size_t n)
{
	rc_utf8 v;
	rc_utf8_init(&v);
	size_t boundary = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc_utf8_feed(&v, s + i, 1) != 1)
			break;
		if (rc_utf8_complete(&v))
			boundary = i + 1;
	}
	return boundary;
}

size_t rc_close_payload(uint8_t *out, uint16_t code, const char *reason)
{
	assert(out != NULL);
	assert(rc_close_code_valid(code));
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)(code & 0xFF);
	size_t len = 0;
	if (reason != NULL) {
		const uint8_t *r = (const uint8_t *)reason;
		len = utf8_complete_prefix(r, strnlen(reason, RC_CLOSE_REASON_MAX));
		memcpy(out + 2, r, len);
	}
	assert(len <= RC_CLOSE_REASON_MAX);
	return 2 + len;
}
