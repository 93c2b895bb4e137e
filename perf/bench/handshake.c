/* handshake: URL, address, requests and the checks of the 101 (handshake.h). */
#define _GNU_SOURCE
#include "handshake.h"

#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bench.h"
#include "rc_http.h"

#define HS_FIELDS_MAX 64

int hs_url_parse(const char *url, struct hs_url *u)
{
	if (strncmp(url, "wss://", 6) == 0) {
		fprintf(stderr, "ringcast-bench: wss:// is not supported yet\n");
		return -1;
	}
	if (strncmp(url, "ws://", 5) != 0)
		return -1;
	const char *h = url + 5, *e;
	if (*h == '[') {
		e = strchr(h, ']');
		if (e == NULL)
			return -1;
		snprintf(u->host, sizeof u->host, "%.*s", (int)(e - h - 1), h + 1);
		e++;
	} else {
		e = h + strcspn(h, ":/?");
		snprintf(u->host, sizeof u->host, "%.*s", (int)(e - h), h);
	}
	if (u->host[0] == 0)
		return -1;
	snprintf(u->port, sizeof u->port, "80");
	if (*e == ':') {
		const char *pe = e + 1 + strcspn(e + 1, "/?");
		if (pe == e + 1 || pe - e - 1 >= (long)sizeof u->port)
			return -1;
		snprintf(u->port, sizeof u->port, "%.*s", (int)(pe - e - 1), e + 1);
		e = pe;
	}
	snprintf(u->hostport, sizeof u->hostport, "%.*s", (int)(e - h), h);
	if (*e == 0)
		snprintf(u->path, sizeof u->path, "/");
	else if (*e == '?')
		snprintf(u->path, sizeof u->path, "/%s", e);
	else
		snprintf(u->path, sizeof u->path, "%s", e);
	for (const char *p = u->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return -1;
	return 0;
}

int hs_resolve(const struct hs_url *u, struct hs_addr *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int r = getaddrinfo(u->host, u->port, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "ringcast-bench: cannot resolve %s: %s\n", u->host, gai_strerror(r));
		return -1;
	}
	memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
	a->len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* A request head for target, up to the key. Returns its length, or 0 if it does not fit. */
static size_t head_write(char *out, size_t cap, const char *target, const char *hostport,
                         enum hs_mode mode)
{
	int n = snprintf(out, cap,
	                 "GET %s HTTP/1.1\r\n"
	                 "Host: %s\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Version: 13\r\n"
	                 "User-Agent: ringcast-bench/" BENCH_VERSION "\r\n"
	                 "%s"
	                 "Sec-WebSocket-Key: ",
	                 target, hostport,
	                 mode == HS_V1 ? "Sec-WebSocket-Protocol: " HS_SUBPROTOCOL_V1 "\r\n" : "");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* v1: publishers connect to the URL as given (each PUBLISH names its topic); a subscriber's head
 * is written per connection (hs_request_v1_sub): "GET " URL "?topics=" its topics, then tail. */
static int requests_build_v1(struct hs_requests *rq, const struct hs_url *u, const struct topics *t,
                             uint32_t per_sub)
{
	rq->pub_len = head_write(rq->pub, sizeof rq->pub, u->path, u->hostport, HS_V1);
	if (rq->pub_len == 0)
		return -1;
	const char *tail = strstr(rq->pub, " HTTP/1.1\r\n");
	assert(tail != NULL);
	rq->tail_len = strlen(tail);
	memcpy(rq->tail, tail, rq->tail_len + 1);
	rq->sub_max = 4 + strlen(rq->path) + 8 + per_sub * (t->name_max + 1) + rq->tail_len;
	return 0;
}

int hs_requests_build(struct hs_requests *rq, const struct hs_url *u, enum hs_mode mode,
                      const char *topic, const struct topics *t, uint32_t per_sub)
{
	rq->mode = mode;
	snprintf(rq->path, sizeof rq->path, "%s", u->path);
	if (mode == HS_V1)
		return requests_build_v1(rq, u, t, per_sub);
	char target_sub[1024], target_pub[1024];
	if (mode == HS_GENERIC) {
		snprintf(target_sub, sizeof target_sub, "%s", u->path);
		snprintf(target_pub, sizeof target_pub, "%s", u->path);
	} else {
		const char *sep = strchr(u->path, '?') ? "&" : "?";
		int a = snprintf(target_sub, sizeof target_sub, "%s%stopics=%s", u->path, sep, topic);
		int b = snprintf(target_pub, sizeof target_pub, "%s%spublish=%s", u->path, sep, topic);
		if (a < 0 || b < 0 || (size_t)a >= sizeof target_sub || (size_t)b >= sizeof target_pub)
			return -1;
	}
	rq->sub_len = head_write(rq->sub, sizeof rq->sub, target_sub, u->hostport, mode);
	rq->pub_len = head_write(rq->pub, sizeof rq->pub, target_pub, u->hostport, mode);
	return rq->sub_len == 0 || rq->pub_len == 0 ? -1 : 0;
}

size_t hs_request_v1_sub(const struct hs_requests *rq, const struct topics *t,
                         const uint32_t *topics, uint32_t n, char *out, size_t cap)
{
	assert(rq->mode == HS_V1);
	size_t len = (size_t)snprintf(out, cap, "GET %s%stopics=", rq->path,
	                              strchr(rq->path, '?') ? "&" : "?");
	for (uint32_t k = 0; k < n; k++) {
		uint32_t x = topics[k];
		if (k)
			out[len++] = ',';
		memcpy(out + len, t->name[x], t->name_len[x]);
		len += t->name_len[x];
	}
	memcpy(out + len, rq->tail, rq->tail_len);
	len += rq->tail_len;
	assert(len <= rq->sub_max && len < cap);
	return len;
}

size_t hs_request_finish(uint8_t *out, size_t n, const char key[RC_WS_KEY_LEN])
{
	memcpy(out + n, key, RC_WS_KEY_LEN);
	memcpy(out + n + RC_WS_KEY_LEN, "\r\n\r\n", 4);
	return n + HS_KEY_TAIL;
}

void hs_key(const uint8_t nonce[16], char key[RC_WS_KEY_LEN])
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)nonce[i] << 16 | (uint32_t)nonce[i + 1] << 8 | nonce[i + 2];
		key[o++] = a[v >> 18 & 63];
		key[o++] = a[v >> 12 & 63];
		key[o++] = a[v >> 6 & 63];
		key[o++] = a[v & 63];
	}
	uint32_t v = (uint32_t)nonce[15] << 16;
	key[o++] = a[v >> 18 & 63];
	key[o++] = a[v >> 12 & 63];
	key[o++] = '=';
	key[o++] = '=';
	assert(o == RC_WS_KEY_LEN);
}

size_t hs_head_end(const uint8_t *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* The status of the status line, or -1 if it is not "HTTP/1.x NNN". */
static int status_read(const uint8_t *buf, size_t n)
{
	if (n < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return -1;
	int status = 0;
	for (size_t i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		status = status * 10 + (buf[i] - '0');
	}
	return status;
}

/* The header fields after the status line into req (its headers array has HS_FIELDS_MAX
 * entries). Returns NULL or the error's name. */
static const char *fields_read(const uint8_t *buf, size_t n, rc_http_request *req)
{
	size_t i = 0;
	while (i < n && buf[i] != '\n') /* skip the status line */
		i++;
	for (i++; i < n;) {
		size_t eol = i;
		while (eol < n && buf[eol] != '\n')
			eol++;
		size_t end = eol > i && buf[eol - 1] == '\r' ? eol - 1 : eol;
		if (end == i)
			break; /* the empty line */
		size_t colon = i;
		while (colon < end && buf[colon] != ':')
			colon++;
		if (colon == end || colon == i)
			return "handshake_bad_field";
		if (req->header_count == HS_FIELDS_MAX)
			return "handshake_too_many_fields";
		size_t vs = colon + 1, ve = end;
		while (vs < ve && (buf[vs] == ' ' || buf[vs] == '\t'))
			vs++;
		while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
			ve--;
		const char *base = (const char *)buf;
		rc_http_header *h = &req->headers[req->header_count++];
		*h = (rc_http_header){
			.name = { .ptr = base + i, .off = (uint32_t)i, .len = (uint32_t)(colon - i) },
			.value = { .ptr = base + vs, .off = (uint32_t)vs, .len = (uint32_t)(ve - vs) },
		};
		i = eol + 1;
	}
	return NULL;
}

const char *hs_check(const uint8_t *buf, size_t n, const char key[RC_WS_KEY_LEN],
                     const char *subprotocol, char *scratch, size_t scratch_cap)
{
	int status = status_read(buf, n);
	if (status < 0)
		return "handshake_bad_status_line";
	if (status != 101) {
		snprintf(scratch, scratch_cap, "http_%d", status);
		return scratch;
	}
	rc_http_header fields[HS_FIELDS_MAX];
	rc_http_request req = { .headers = fields };
	const char *bad = fields_read(buf, n, &req);
	if (bad != NULL)
		return bad;
	if (!rc_http_header_has_token(&req, "Upgrade", "websocket"))
		return "handshake_no_upgrade";
	if (!rc_http_header_has_token(&req, "Connection", "upgrade"))
		return "handshake_no_connection_upgrade";
	if (rc_http_header_count(&req, "Sec-WebSocket-Accept") != 1)
		return "handshake_no_accept";
	const rc_http_header *acc = rc_http_header_find(&req, "Sec-WebSocket-Accept", NULL);
	char want[RC_WS_ACCEPT_LEN];
	if (rc_ws_accept(key, RC_WS_KEY_LEN, want) != 0)
		return "handshake_accept_failed";
	if (acc->value.len != RC_WS_ACCEPT_LEN || memcmp(acc->value.ptr, want, RC_WS_ACCEPT_LEN) != 0)
		return "handshake_wrong_accept";
	if (rc_http_header_find(&req, "Sec-WebSocket-Extensions", NULL) != NULL)
		return "handshake_unrequested_extension";
	const rc_http_header *proto = rc_http_header_find(&req, "Sec-WebSocket-Protocol", NULL);
	if (subprotocol == NULL)
		return proto != NULL ? "handshake_unrequested_subprotocol" : NULL;
	if (proto == NULL || rc_http_header_count(&req, "Sec-WebSocket-Protocol") != 1)
		return "handshake_no_subprotocol";
	size_t sl = strlen(subprotocol);
	if (proto->value.len != sl || memcmp(proto->value.ptr, subprotocol, sl) != 0)
		return "handshake_wrong_subprotocol";
	return NULL;
}

long hs_retry_after_s(const uint8_t *buf, size_t n)
{
	static const char name[] = "retry-after:";
	for (size_t i = 0; i + sizeof name < n; i++) {
		if (buf[i] != '\n' || strncasecmp((const char *)buf + i + 1, name, sizeof name - 1) != 0)
			continue;
		size_t j = i + sizeof name;
		while (j < n && (buf[j] == ' ' || buf[j] == '\t'))
			j++;
		long v = 0;
		size_t d = j;
		while (j < n && buf[j] >= '0' && buf[j] <= '9' && v < 86400)
			v = v * 10 + (buf[j++] - '0');
		return j > d ? v : -1;
	}
	return -1;
}
