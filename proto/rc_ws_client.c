/* rc_ws_client: see rc_ws_client.h for the contract. Sections: the key and the request, the check
 * of the answer (head end, status line, field lines, the upgrade checks, Retry-After), the URL. */
#include "rc_ws_client.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "rc_base64.h"
#include "rc_http.h"

/* ---- the key and the request ---- */

void rc_ws_client_key(const uint8_t nonce[RC_WS_NONCE_LEN], char key[RC_WS_KEY_LEN + 1])
{
	assert(nonce && key);
	_Static_assert(RC_BASE64_LEN(RC_WS_NONCE_LEN) == RC_WS_KEY_LEN, "the key is 24 characters");
	size_t n = rc_base64_encode(key, RC_WS_KEY_LEN + 1, nonce, RC_WS_NONCE_LEN);
	assert(n == RC_WS_KEY_LEN);
	(void)n;
}

/* A field value goes into the request verbatim: a CR or LF in it would end the line early and let
 * the rest pose as another field. */
static bool one_line(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") == NULL;
}

size_t rc_ws_client_request(char *out, size_t cap, const rc_ws_client_req *req)
{
	assert(out || cap == 0);
	assert(req && req->host && req->target && req->key);
	assert(req->target[0] == '/' && strlen(req->key) == RC_WS_KEY_LEN);
	assert(one_line(req->host) && one_line(req->target) && one_line(req->key));
	assert(one_line(req->subprotocol) && one_line(req->origin));
	const char *sub = req->subprotocol, *origin = req->origin;
	const char *parts[] = {
		"GET ",
		req->target,
		" HTTP/1.1\r\nHost: ",
		req->host,
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
		req->key,
		"\r\nSec-WebSocket-Version: 13\r\n",
		sub ? "Sec-WebSocket-Protocol: " : "",
		sub ? sub : "",
		sub ? "\r\n" : "",
		origin ? "Origin: " : "",
		origin ? origin : "",
		origin ? "\r\n" : "",
		req->extra ? req->extra : "",
		"\r\n",
	};
	return rc_http_join(out, cap, parts, sizeof parts / sizeof parts[0]);
}

/* ---- the check ---- */

_Static_assert(RC_WS_CLIENT_FIELDS_MAX == 64, "the reason of TOO_MANY_FIELDS says 64");

static const struct {
	const char *name, *reason;
} statuses[RC_WS_CLIENT_STATUS_COUNT] = {
	[RC_WS_CLIENT_OK] = { "ok", "ok" },
	[RC_WS_CLIENT_NEED_MORE] = { "need_more", "the answer's head is not complete yet" },
	[RC_WS_CLIENT_BAD_STATUS_LINE] = { "bad_status_line", "not an HTTP/1.x status line" },
	[RC_WS_CLIENT_STATUS] = { "status", "the server refused the upgrade (status other than 101)" },
	[RC_WS_CLIENT_BAD_FIELD] = { "bad_field", "a field line without a colon or a name" },
	[RC_WS_CLIENT_TOO_MANY_FIELDS] = { "too_many_fields", "more than 64 field lines" },
	[RC_WS_CLIENT_NO_UPGRADE] = { "no_upgrade", "no Upgrade: websocket in the 101" },
	[RC_WS_CLIENT_NO_CONNECTION_UPGRADE] = { "no_connection_upgrade",
	                                         "no Connection: upgrade in the 101" },
	[RC_WS_CLIENT_NO_ACCEPT] = { "no_accept",
	                             "Sec-WebSocket-Accept missing or repeated in the 101" },
	[RC_WS_CLIENT_ACCEPT_FAILED] = { "accept_failed", "cannot compute Sec-WebSocket-Accept" },
	[RC_WS_CLIENT_WRONG_ACCEPT] = { "wrong_accept", "wrong Sec-WebSocket-Accept in the 101" },
	[RC_WS_CLIENT_UNREQUESTED_EXTENSION] = { "unrequested_extension",
	                                         "the server chose an extension nobody asked for" },
	[RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL] = { "unrequested_subprotocol",
	                                           "the server chose a subprotocol nobody asked for" },
	[RC_WS_CLIENT_NO_SUBPROTOCOL] = { "no_subprotocol",
	                                  "the server did not select the subprotocol offered" },
	[RC_WS_CLIENT_WRONG_SUBPROTOCOL] = { "wrong_subprotocol",
	                                     "the server selected another subprotocol than offered" },
};

const char *rc_ws_client_status_name(enum rc_ws_client_status s)
{
	if ((unsigned)s >= RC_WS_CLIENT_STATUS_COUNT)
		return NULL;
	return statuses[s].name;
}

static enum rc_ws_client_status result(rc_ws_client_result *res, enum rc_ws_client_status s)
{
	assert((unsigned)s < RC_WS_CLIENT_STATUS_COUNT);
	res->reason = statuses[s].reason;
	return s;
}

/* The length of the head through its first CR LF CR LF, or 0 if there is none yet. */
static size_t head_end(const uint8_t *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* "HTTP/1." any byte, SP, three digits: the status, or -1. */
static int status_line(const uint8_t *p, size_t n)
{
	if (n < 13 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -1;
	int status = 0;
	for (size_t i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		status = status * 10 + (p[i] - '0');
	}
	return status;
}

/* Retry-After in delta-seconds (RFC 9110 §10.2.3) from the head p[0..n), or -1. The HTTP-date
 * form is not understood (ringcast sends seconds). */
static int64_t retry_after_s(const uint8_t *p, size_t n)
{
	static const char name[] = "retry-after:";
	const size_t nl = sizeof name - 1;
	for (size_t i = 0; i + 1 + nl < n; i++) {
		if (p[i] != '\n')
			continue;
		size_t k = 0;
		while (k < nl && (p[i + 1 + k] | 0x20) == (uint8_t)name[k])
			k++; /* | 0x20 lowers letters and leaves '-' and ':' as they are */
		if (k < nl)
			continue;
		size_t j = i + 1 + nl;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		int64_t v = 0;
		size_t digits = j;
		while (j < n && p[j] >= '0' && p[j] <= '9' && v < 86400)
			v = v * 10 + (p[j++] - '0');
		return j > digits ? v : -1;
	}
	return -1;
}

/* The field lines of the head p[0..n), after the status line and up to the first empty line,
 * into fields[] (RC_WS_CLIENT_FIELDS_MAX of them) as rc_http would have them, so that its lookup
 * and token helpers can read them. Returns OK, BAD_FIELD or TOO_MANY_FIELDS. */
static enum rc_ws_client_status read_fields(const uint8_t *p, size_t n, rc_http_request *req)
{
	const char *base = (const char *)p;
	size_t i = 0;
	while (i < n && p[i] != '\n') /* skip the status line */
		i++;
	for (i++; i < n;) {
		size_t eol = i;
		while (eol < n && p[eol] != '\n')
			eol++;
		size_t end = eol > i && p[eol - 1] == '\r' ? eol - 1 : eol;
		if (end == i)
			break; /* the empty line */
		size_t colon = i;
		while (colon < end && p[colon] != ':')
			colon++;
		if (colon == end || colon == i)
			return RC_WS_CLIENT_BAD_FIELD;
		if (req->header_count == RC_WS_CLIENT_FIELDS_MAX)
			return RC_WS_CLIENT_TOO_MANY_FIELDS;
		size_t vs = colon + 1, ve = end;
		while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
			vs++;
		while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
			ve--;
		req->headers[req->header_count++] = (rc_http_header){
			.name = { .ptr = base + i, .off = (uint32_t)i, .len = (uint32_t)(colon - i) },
			.value = { .ptr = base + vs, .off = (uint32_t)vs, .len = (uint32_t)(ve - vs) },
		};
		i = eol + 1;
	}
	return RC_WS_CLIENT_OK;
}

static bool value_is(const rc_http_header *h, const char *z)
{
	size_t n = strlen(z);
	return h->value.len == n && memcmp(h->value.ptr, z, n) == 0;
}

/* The checks of a 101 once its fields are read, in the order of the contract. */
static enum rc_ws_client_status check_upgrade(const rc_http_request *req, const char *key,
                                              const char *subprotocol)
{
	if (!rc_http_header_has_token(req, "Upgrade", "websocket"))
		return RC_WS_CLIENT_NO_UPGRADE;
	if (!rc_http_header_has_token(req, "Connection", "upgrade"))
		return RC_WS_CLIENT_NO_CONNECTION_UPGRADE;
	if (rc_http_header_count(req, "Sec-WebSocket-Accept") != 1)
		return RC_WS_CLIENT_NO_ACCEPT;
	const rc_http_header *accept = rc_http_header_find(req, "Sec-WebSocket-Accept", NULL);
	char want[RC_WS_ACCEPT_LEN + 1];
	if (rc_ws_accept(key, RC_WS_KEY_LEN, want) != 0)
		return RC_WS_CLIENT_ACCEPT_FAILED;
	want[RC_WS_ACCEPT_LEN] = '\0';
	if (!value_is(accept, want))
		return RC_WS_CLIENT_WRONG_ACCEPT;
	if (rc_http_header_find(req, "Sec-WebSocket-Extensions", NULL) != NULL)
		return RC_WS_CLIENT_UNREQUESTED_EXTENSION;
	const rc_http_header *proto = rc_http_header_find(req, "Sec-WebSocket-Protocol", NULL);
	if (subprotocol == NULL)
		return proto != NULL ? RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL : RC_WS_CLIENT_OK;
	if (proto == NULL || rc_http_header_count(req, "Sec-WebSocket-Protocol") != 1)
		return RC_WS_CLIENT_NO_SUBPROTOCOL;
	if (!value_is(proto, subprotocol))
		return RC_WS_CLIENT_WRONG_SUBPROTOCOL;
	return RC_WS_CLIENT_OK;
}

enum rc_ws_client_status rc_ws_client_check(const uint8_t *buf, size_t len, const char *key,
                                            const char *subprotocol, rc_ws_client_result *res)
{
	assert(buf || len == 0);
	/* key needs no NUL: only its RC_WS_KEY_LEN characters are read */
	assert(key && memchr(key, '\0', RC_WS_KEY_LEN) == NULL && res);
	*res = (rc_ws_client_result){ .retry_after_s = -1 };
	size_t n = head_end(buf, len);
	if (n == 0)
		return result(res, RC_WS_CLIENT_NEED_MORE);
	res->head_len = n;
	int status = status_line(buf, n);
	if (status < 0)
		return result(res, RC_WS_CLIENT_BAD_STATUS_LINE);
	res->status = status;
	if (status != 101) {
		res->retry_after_s = retry_after_s(buf, n);
		return result(res, RC_WS_CLIENT_STATUS);
	}
	rc_http_header fields[RC_WS_CLIENT_FIELDS_MAX];
	rc_http_request req = { .headers = fields };
	enum rc_ws_client_status s = read_fields(buf, n, &req);
	if (s == RC_WS_CLIENT_OK)
		s = check_upgrade(&req, key, subprotocol);
	return result(res, s);
}

/* ---- the URL ---- */

static int url_fail(const char **reason, const char *why)
{
	*reason = why;
	return -EINVAL;
}

static bool prefix_nocase(const char *s, const char *lower)
{
	for (; *lower; s++, lower++)
		if (*s == '\0' || (*s | 0x20) != *lower)
			return false;
	return true;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 3986 §3.2.2 reg-name: unreserved, pct-encoded (the '%' let through as is), sub-delims. */
static bool is_name_char(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("-._~%!$&'()*+,;=", c) != NULL);
}

static bool is_ipv6_char(char c, bool in_zone)
{
	if (in_zone)
		return is_alnum(c) || (c != '\0' && strchr("-._~%", c) != NULL);
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') || c == ':' ||
	       c == '.';
}

/* HOST of a[0..n) (the authority up to any ":PORT") into u->host. Sets *port_at to the byte
 * after HOST (':' or n). Returns 0 or -EINVAL. */
static int url_host(const char *a, size_t n, rc_ws_url *u, size_t *port_at, const char **reason)
{
	size_t h0 = 0, hn; /* the host's bytes are a[h0 .. h0 + hn) */
	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (close == NULL)
			return url_fail(reason, "unterminated [IPv6] address");
		h0 = 1;
		hn = (size_t)(close - a) - 1;
		*port_at = hn + 2;
		if (*port_at < n && a[*port_at] != ':')
			return url_fail(reason, "expected :PORT after the [IPv6] address");
		bool zone = false;
		for (size_t i = 0; i < hn; i++) {
			zone = zone || a[1 + i] == '%';
			if (!is_ipv6_char(a[1 + i], zone))
				return url_fail(reason, "bad [IPv6] address");
		}
		if (hn == 0 || memchr(a + 1, ':', hn) == NULL)
			return url_fail(reason, "bad [IPv6] address");
	} else {
		const char *colon = memchr(a, ':', n);
		hn = colon ? (size_t)(colon - a) : n;
		*port_at = hn;
		if (colon && memchr(colon + 1, ':', n - hn - 1) != NULL)
			return url_fail(reason, "an IPv6 address must be in brackets: ws://[::1]:8080");
		for (size_t i = 0; i < hn; i++)
			if (!is_name_char(a[i]))
				return url_fail(reason, "bad character in the host name");
	}
	if (hn == 0)
		return url_fail(reason, "missing host");
	if (hn >= sizeof u->host)
		return url_fail(reason, "host name longer than 255 bytes");
	memcpy(u->host, a + h0, hn);
	u->host[hn] = '\0';
	return 0;
}

/* The authority a[0..n): HOST[:PORT] into u->host, u->port and u->hostport. */
static int url_authority(const char *a, size_t n, rc_ws_url *u, const char **reason)
{
	if (memchr(a, '@', n) != NULL)
		return url_fail(reason, "user info (USER@HOST) is not supported");
	size_t port_at;
	int r = url_host(a, n, u, &port_at, reason);
	if (r < 0)
		return r;
	assert(port_at == n || a[port_at] == ':');
	const char *digits = a + port_at + 1;
	size_t dn = port_at < n ? n - port_at - 1 : 0;
	unsigned long v = 0;
	for (size_t i = 0; i < dn; i++) {
		if (digits[i] < '0' || digits[i] > '9' || dn >= sizeof u->port)
			return url_fail(reason, "PORT must be a number from 1 to 65535");
		v = v * 10 + (unsigned long)(digits[i] - '0');
	}
	if (dn > 0 && (v == 0 || v > 65535))
		return url_fail(reason, "PORT must be a number from 1 to 65535");
	if (dn == 0) {
		memcpy(u->port, "80", 3); /* ws:// without a port is port 80 (RFC 6455 §3) */
	} else {
		memcpy(u->port, digits, dn);
		u->port[dn] = '\0';
	}
	assert(n < sizeof u->hostport); /* host <= 255, brackets, ':' and <= 5 digits */
	memcpy(u->hostport, a, n);
	u->hostport[n] = '\0';
	return 0;
}

/* The path and query t (from the first '/' or '?' after the authority, or "") into u->target. */
static int url_target(const char *t, rc_ws_url *u, const char **reason)
{
	u->has_path = t[0] == '/';
	size_t n = strlen(t);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f || t[i] == '#')
			return url_fail(reason, "the path must be printable ASCII without spaces or '#'");
	size_t lead = u->has_path ? 0 : 1; /* "?q" becomes "/?q", "" becomes "/" */
	if (lead + n >= sizeof u->target)
		return url_fail(reason, "path too long");
	u->target[0] = '/';
	memcpy(u->target + lead, t, n + 1);
	return 0;
}

int rc_ws_url_parse(const char *url, rc_ws_url *u, const char **reason)
{
	assert(url && u && reason);
	memset(u, 0, sizeof *u);
	*reason = "ok";
	if (prefix_nocase(url, "wss://"))
		return url_fail(reason, "wss:// (TLS) is not supported");
	if (!prefix_nocase(url, "ws://"))
		return url_fail(reason, "must start with ws://");
	const char *a = url + 5;
	size_t n = strcspn(a, "/?#");
	int r = url_authority(a, n, u, reason);
	if (r == 0)
		r = url_target(a + n, u, reason);
	return r;
}
