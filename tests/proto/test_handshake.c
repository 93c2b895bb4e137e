/* Tests of rc_handshake: Sec-WebSocket-Accept, the upgrade check and the responses.
 *
 * Requests are parsed by rc_http from guarded copies (rc_guard_copy), at every split point, and the
 * check must give the same answer whichever way the head arrived. Responses are read back by a
 * small strict response parser (read_response) so that each is checked as HTTP, not only as bytes. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_test.h"

#define LIT(s) s, sizeof(s) - 1

static const rc_http_cfg http_cfg = {
	.header_bytes_max = RC_HTTP_HEADER_BYTES_MAX_DEFAULT,
	.header_fields_max = RC_HTTP_HEADER_FIELDS_MAX_DEFAULT,
};

/* ---- parsing a request and checking it, every way ---- */

typedef struct hs {
	rc_http_parser p;
	rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
	rc_guard g; /* the whole request; the test frees it with hs_free */
	int status;
	rc_ws_handshake_result res;
} hs;

static void hs_free(hs *h)
{
	rc_guard_free(&h->g);
}

static void expect_same_result(const rc_ws_handshake_result *a, const rc_ws_handshake_result *b,
                               int sa, int sb, const char *what)
{
	cr_assert_eq(sa, sb, "%s: status %d vs %d", what, sa, sb);
	cr_assert_str_eq(a->accept, b->accept, "%s: accept", what);
	cr_assert_eq(a->subprotocol, b->subprotocol, "%s: subprotocol", what);
	cr_assert_str_eq(a->reason, b->reason, "%s: reason", what);
}

/* Parse `in` (which must be exactly one complete head) and check it against cfg; then again at
 * every split point of the head and one byte at a time, wanting the same result. */
static int handshake(hs *h, const char *in, size_t n, const rc_ws_handshake_cfg *cfg)
{
	h->g = rc_guard_copy(in, n);
	rc_http_parser_init(&h->p, &http_cfg, h->fields);
	ssize_t r = rc_http_parse(&h->p, h->g.data, h->g.len);
	cr_assert_eq(r, (ssize_t)n, "the request parses whole (got %zd: %s)", r, h->p.reason);
	h->status = rc_ws_handshake_check(&h->p.req, cfg, &h->res);
	cr_assert_not_null(h->res.reason);
	cr_assert_neq(h->res.reason[0], '\0');

	static rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
	for (size_t k = 0; k < n; k++) {
		rc_http_parser p;
		rc_http_parser_init(&p, &http_cfg, fields);
		rc_guard a = rc_guard_copy(in, k);
		cr_assert_eq(rc_http_parse(&p, a.data, a.len), 0, "split %zu", k);
		rc_guard_free(&a);
		a = rc_guard_copy(in, n);
		cr_assert_eq(rc_http_parse(&p, a.data, a.len), (ssize_t)n);
		rc_ws_handshake_result res;
		int status = rc_ws_handshake_check(&p.req, cfg, &res);
		expect_same_result(&res, &h->res, status, h->status, "split");
		rc_guard_free(&a);
	}

	rc_http_parser p;
	rc_http_parser_init(&p, &http_cfg, fields);
	for (size_t k = 1; k <= n; k++) {
		rc_guard a = rc_guard_copy(in, k);
		ssize_t rk = rc_http_parse(&p, a.data, a.len);
		cr_assert_eq(rk, k == n ? (ssize_t)n : 0, "byte by byte, %zu bytes", k);
		if (k == n) {
			rc_ws_handshake_result res;
			int status = rc_ws_handshake_check(&p.req, cfg, &res);
			expect_same_result(&res, &h->res, status, h->status, "byte by byte");
		}
		rc_guard_free(&a);
	}
	return h->status;
}

/* Check a request that must be refused with `status`. */
static void expect_refused(const char *in, size_t n, const rc_ws_handshake_cfg *cfg, int status,
                           const char *what)
{
	hs h;
	int got = handshake(&h, in, n, cfg);
	cr_assert_eq(got, status, "%s: got %d (%s), want %d", what, got, h.res.reason, status);
	cr_assert_str_eq(h.res.accept, "", "%s: no accept value on failure", what);
	hs_free(&h);
}

static void expect_accepted(const char *in, size_t n, const rc_ws_handshake_cfg *cfg,
                            const char *accept, const char *what)
{
	hs h;
	int got = handshake(&h, in, n, cfg);
	cr_assert_eq(got, 0, "%s: got %d (%s)", what, got, h.res.reason);
	cr_assert_str_eq(h.res.accept, accept, "%s", what);
	hs_free(&h);
}

/* ---- reading a response back ---- */

typedef struct response {
	int status;
	char reason[64];
	const char *head; /* the header lines, each ending in CRLF */
	size_t head_len;
	const char *body;
	size_t body_len;
} response;

static bool tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The value of field `name` (exact case, as we write them), or NULL; into buf. */
static const char *field(const response *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);
	const char *s = r->head, *end = r->head + r->head_len;
	while (s < end) {
		const char *eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		cr_assert_not_null(eol);
		if ((size_t)(eol - s) > nl + 2 && memcmp(s, name, nl) == 0 && s[nl] == ':' &&
		    s[nl + 1] == ' ') {
			size_t vl = (size_t)(eol - s) - nl - 2;
			cr_assert_lt(vl, cap);
			memcpy(buf, s + nl + 2, vl);
			buf[vl] = '\0';
			return buf;
		}
		s = eol + 2;
	}
	return NULL;
}

/* Read a response strictly: status line, "Name: value" lines (tchar names, no controls), the empty
 * line, and a body whose length is exactly Content-Length. */
static void read_response(const char *out, size_t n, response *r)
{
	cr_assert_gt(n, 17);
	cr_assert_eq(memcmp(out, "HTTP/1.1 ", 9), 0);
	cr_assert(out[9] >= '1' && out[9] <= '5' && out[10] >= '0' && out[10] <= '9' &&
	          out[11] >= '0' && out[11] <= '9' && out[12] == ' ');
	r->status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
	const char *eol = memmem(out, n, "\r\n", 2);
	cr_assert_not_null(eol);
	size_t rl = (size_t)(eol - (out + 13));
	cr_assert_lt(rl, sizeof r->reason);
	memcpy(r->reason, out + 13, rl);
	r->reason[rl] = '\0';

	r->head = eol + 2;
	const char *s = r->head, *end = out + n;
	for (;;) {
		eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		cr_assert_not_null(eol, "unterminated head");
		if (eol == s)
			break;
		const char *c = s;
		while (c < eol && tchar(*c))
			c++;
		cr_assert(c > s && c + 1 < eol && c[0] == ':' && c[1] == ' ', "bad field line");
		for (c += 2; c < eol; c++)
			cr_assert((unsigned char)*c >= 0x20 && *c != 0x7f, "control in value");
		s = eol + 2;
	}
	r->head_len = (size_t)(s - r->head);
	r->body = s + 2;
	r->body_len = (size_t)(end - r->body);

	char buf[32];
	if (r->status >= 200 && r->status != 204 && r->status != 304) {
		const char *cl = field(r, "Content-Length", buf, sizeof buf);
		cr_assert_not_null(cl, "no Content-Length");
		cr_assert_eq(strtoul(cl, NULL, 10), r->body_len, "Content-Length %s", cl);
	}
}

/* ---- Sec-WebSocket-Accept ---- */

Test(ws_accept, rfc_example_and_more)
{
	/* RFC 6455 §1.3 (and §4.2.2 step 5.4), then keys checked with Python's hashlib + base64. */
	static const struct {
		const char *key, *accept;
	} v[] = {
		{ "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
		{ "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
		{ "6nHdaTUmbBUBSl84+w9Lxg==", "6WKFfWLO5cDICzpfIYLpyMrgYjM=" },
		{ "Jv2WqQ6LyPZSz0w0VbT/0A==", "95oqrmXn3RYB69jCk5zecXYgRkg=" },
		{ "b9Vn+ZRXtfUMtB3zEY2Nrg==", "C3eZpBkzX43OTVnMBXwVZibVS5c=" },
		{ "AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		rc_guard g = rc_guard_copy(v[i].key, strlen(v[i].key));
		char out[RC_WS_ACCEPT_LEN + 1];
		memset(out, 0, sizeof out);
		cr_assert_eq(rc_ws_accept((const char *)g.data, g.len, out), 0);
		cr_assert_str_eq(out, v[i].accept, "key %s", v[i].key);
		rc_guard_free(&g);
	}
}

/* ---- the RFC's example, end to end ---- */

#define RFC_REQUEST \
	"GET /chat HTTP/1.1\r\n" \
	"Host: server.example.com\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Origin: http://example.com\r\n" \
	"Sec-WebSocket-Protocol: chat, superchat\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"\r\n"

Test(ws_handshake, rfc_example_101_byte_for_byte)
{
	static const char *const protos[] = { "chat" };
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	cfg.subprotocols = protos;
	cfg.subprotocol_count = 1;
	hs h;
	cr_assert_eq(handshake(&h, LIT(RFC_REQUEST), &cfg), 0, "%s", h.res.reason);
	cr_assert_eq(h.res.subprotocol, 0);
	cr_assert_str_eq(h.res.subprotocol_name, "chat");
	cr_assert_str_eq(h.res.reason, "ok");

	static const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
	                           "Upgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "Sec-WebSocket-Protocol: chat\r\n"
	                           "\r\n";
	char out[512];
	size_t n = rc_ws_response_101(out, sizeof out, &h.res);
	cr_assert_eq(n, sizeof want - 1, "got %.*s", (int)n, out);
	cr_assert_eq(memcmp(out, want, n), 0, "got %.*s", (int)n, out);
	for (size_t cap = 0; cap < n; cap++)
		cr_assert_eq(rc_ws_response_101(out, cap, &h.res), 0, "cap %zu", cap);
	hs_free(&h);

	/* Without a subprotocol in common the 101 has no Sec-WebSocket-Protocol. */
	cfg.subprotocol_count = 0;
	cr_assert_eq(handshake(&h, LIT(RFC_REQUEST), &cfg), 0);
	cr_assert_eq(h.res.subprotocol, -1);
	cr_assert_null(h.res.subprotocol_name);
	n = rc_ws_response_101(out, sizeof out, &h.res);
	static const char bare[] = "HTTP/1.1 101 Switching Protocols\r\n"
	                           "Upgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "\r\n";
	cr_assert_eq(n, sizeof bare - 1);
	cr_assert_eq(memcmp(out, bare, n), 0, "got %.*s", (int)n, out);
	hs_free(&h);
}

/* ---- real clients ---- */

#define CHROMIUM \
	"GET /chat HTTP/1.1\r\n" \
	"Host: localhost:8080\r\n" \
	"Connection: Upgrade\r\n" \
	"Pragma: no-cache\r\n" \
	"Cache-Control: no-cache\r\n" \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " \
	"Chrome/120.0.0.0 Safari/537.36\r\n" \
	"Upgrade: websocket\r\n" \
	"Origin: http://localhost:8080\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Accept-Encoding: gzip, deflate, br\r\n" \
	"Accept-Language: en-US,en;q=0.9\r\n" \
	"Cookie: session=4f1c2a; theme=dark\r\n" \
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" \
	"Sec-WebSocket-Protocol: ringcast.v1\r\n" \
	"\r\n"

#define FIREFOX \
	"GET /ws?topic=btc-usd HTTP/1.1\r\n" \
	"Host: localhost:8080\r\n" \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n" \
	"Accept: */*\r\n" \
	"Accept-Language: en-US,en;q=0.5\r\n" \
	"Accept-Encoding: gzip, deflate, br\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Origin: http://localhost:8080\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate\r\n" \
	"Sec-WebSocket-Key: 6nHdaTUmbBUBSl84+w9Lxg==\r\n" \
	"DNT: 1\r\n" \
	"Connection: keep-alive, Upgrade\r\n" \
	"Cookie: session=4f1c2a\r\n" \
	"Sec-Fetch-Dest: empty\r\n" \
	"Sec-Fetch-Mode: websocket\r\n" \
	"Sec-Fetch-Site: same-origin\r\n" \
	"Pragma: no-cache\r\n" \
	"Cache-Control: no-cache\r\n" \
	"Upgrade: websocket\r\n" \
	"\r\n"

#define PYTHON \
	"GET /feed HTTP/1.1\r\n" \
	"Host: 127.0.0.1:8080\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: Jv2WqQ6LyPZSz0w0VbT/0A==\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" \
	"User-Agent: Python/3.11 websockets/12.0\r\n" \
	"\r\n"

#define NODE \
	"GET / HTTP/1.1\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Key: b9Vn+ZRXtfUMtB3zEY2Nrg==\r\n" \
	"Connection: Upgrade\r\n" \
	"Upgrade: websocket\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" \
	"Host: localhost:8080\r\n" \
	"\r\n"

#define CURL \
	"GET /ws HTTP/1.1\r\n" \
	"Host: localhost:8080\r\n" \
	"User-Agent: curl/8.5.0\r\n" \
	"Accept: */*\r\n" \
	"Upgrade: websocket\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" \
	"Connection: Upgrade\r\n" \
	"\r\n"

Test(ws_handshake, real_clients)
{
	static const char *const origins[] = { "http://localhost:8080" };
	static const char *const protos[] = { "ringcast.v1" };
	rc_ws_handshake_cfg cfg = {
		.origins = origins,
		.origin_count = 1,
		.allow_no_origin = true,
		.subprotocols = protos,
		.subprotocol_count = 1,
	};
	expect_accepted(LIT(CHROMIUM), &cfg, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", "chromium");
	expect_accepted(LIT(FIREFOX), &cfg, "6WKFfWLO5cDICzpfIYLpyMrgYjM=", "firefox");
	expect_accepted(LIT(PYTHON), &cfg, "95oqrmXn3RYB69jCk5zecXYgRkg=", "python");
	expect_accepted(LIT(NODE), &cfg, "C3eZpBkzX43OTVnMBXwVZibVS5c=", "node");
	expect_accepted(LIT(CURL), &cfg, "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=", "curl");

	/* Chromium offered our subprotocol and permessage-deflate: the first is selected, the second
	 * ignored, so the 101 names the one and not the other. */
	hs h;
	cr_assert_eq(handshake(&h, LIT(CHROMIUM), &cfg), 0);
	cr_assert_eq(h.res.subprotocol, 0);
	char out[512];
	size_t n = rc_ws_response_101(out, sizeof out, &h.res);
	response r;
	read_response(out, n, &r);
	cr_assert_eq(r.status, 101);
	cr_assert_str_eq(r.reason, "Switching Protocols");
	char buf[64];
	cr_assert_str_eq(field(&r, "Sec-WebSocket-Protocol", buf, sizeof buf), "ringcast.v1");
	cr_assert_str_eq(field(&r, "Sec-WebSocket-Accept", buf, sizeof buf),
	                 "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	cr_assert_str_eq(field(&r, "Upgrade", buf, sizeof buf), "websocket");
	cr_assert_str_eq(field(&r, "Connection", buf, sizeof buf), "Upgrade");
	cr_assert_null(field(&r, "Sec-WebSocket-Extensions", buf, sizeof buf));
	cr_assert_eq(r.body_len, 0);
	hs_free(&h);
}

/* ---- refusals of the upgrade fields ---- */

#define LINE "GET /chat HTTP/1.1\r\n"
#define HOST "Host: server.example.com\r\n"
#define UPGRADE "Upgrade: websocket\r\n"
#define CONNECTION "Connection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VERSION "Sec-WebSocket-Version: 13\r\n"
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

Test(ws_handshake, request_line_and_upgrade_fields)
{
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	expect_accepted(LIT(LINE HOST UPGRADE CONNECTION KEY VERSION "\r\n"), &cfg, RFC_ACCEPT,
	                "minimal");
	expect_refused(LIT("GET /chat HTTP/1.0\r\n" HOST UPGRADE CONNECTION KEY VERSION "\r\n"), &cfg,
	               400, "HTTP/1.0");
	expect_refused(LIT(LINE UPGRADE CONNECTION KEY VERSION "\r\n"), &cfg, 400, "no Host");

	/* A plain GET on the WebSocket route: 426, saying how to upgrade. */
	expect_refused(LIT(LINE HOST "\r\n"), &cfg, 426, "plain GET");
	expect_refused(LIT(LINE HOST CONNECTION KEY VERSION "\r\n"), &cfg, 426, "no Upgrade");

	expect_refused(LIT(LINE HOST "Upgrade: h2c\r\n" CONNECTION KEY VERSION "\r\n"), &cfg, 400,
	               "Upgrade: h2c");
	expect_refused(LIT(LINE HOST "Upgrade:\r\n" CONNECTION KEY VERSION "\r\n"), &cfg, 400,
	               "empty Upgrade");
	expect_refused(LIT(LINE HOST "Upgrade: websockets\r\n" CONNECTION KEY VERSION "\r\n"), &cfg,
	               400, "Upgrade: websockets");
	expect_accepted(LIT(LINE HOST "Upgrade: WebSocket\r\n" CONNECTION KEY VERSION "\r\n"), &cfg,
	                RFC_ACCEPT, "Upgrade: WebSocket");
	expect_accepted(LIT(LINE HOST "Upgrade: h2c, websocket\r\n" CONNECTION KEY VERSION "\r\n"),
	                &cfg, RFC_ACCEPT, "Upgrade list");

	expect_refused(LIT(LINE HOST UPGRADE KEY VERSION "\r\n"), &cfg, 400, "no Connection");
	expect_refused(LIT(LINE HOST UPGRADE "Connection: keep-alive\r\n" KEY VERSION "\r\n"), &cfg,
	               400, "Connection: keep-alive");
	expect_refused(LIT(LINE HOST UPGRADE "Connection: upgraded\r\n" KEY VERSION "\r\n"), &cfg, 400,
	               "Connection: upgraded");
	expect_accepted(LIT(LINE HOST UPGRADE "Connection: keep-alive, Upgrade\r\n" KEY VERSION "\r\n"),
	                &cfg, RFC_ACCEPT, "keep-alive, Upgrade");
	expect_accepted(LIT(LINE HOST UPGRADE
	                    "Connection: keep-alive\r\nConnection: UPGRADE\r\n" KEY VERSION "\r\n"),
	                &cfg, RFC_ACCEPT, "Connection on two lines");
}

Test(ws_handshake, keys)
{
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
#define WITH_KEY(k) LINE HOST UPGRADE CONNECTION "Sec-WebSocket-Key: " k "\r\n" VERSION "\r\n"
	expect_refused(LIT(LINE HOST UPGRADE CONNECTION VERSION "\r\n"), &cfg, 400, "no key");
	expect_refused(LIT(WITH_KEY("")), &cfg, 400, "empty key");
	expect_refused(LIT(WITH_KEY("AQIDBAUGBwgJCgsMDQ4P")), &cfg, 400, "15 bytes");
	expect_refused(LIT(WITH_KEY("AQIDBAUGBwgJCgsMDQ4PEBE=")), &cfg, 400, "17 bytes");
	expect_refused(LIT(WITH_KEY("AQIDBAUGBwgJCgsMDQ4PEBES")), &cfg, 400, "18 bytes");
	expect_refused(LIT(WITH_KEY("AQIDBAUGBwgJCgsMDQ4PEBESEw==")), &cfg, 400, "19 bytes");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub25jZQ")), &cfg, 400, "missing padding");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub25jZQ=")), &cfg, 400, "half padding");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub2*jZQ==")), &cfg, 400, "bad character");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub2-jZQ==")), &cfg, 400, "base64url character");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBs ZSBub25jZQ==")), &cfg, 400, "space inside");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub25j=Q==")), &cfg, 400, "= inside");
	expect_refused(LIT(WITH_KEY("dGhlIHNhbXBsZSBub25jZQ===")), &cfg, 400, "three =");
	/* Surrounding OWS is not part of the value, and unused bits are not checked. */
	expect_accepted(LIT(WITH_KEY("\t dGhlIHNhbXBsZSBub25jZQ== ")), &cfg, RFC_ACCEPT, "OWS");
	expect_accepted(LIT(WITH_KEY("dGhlIHNhbXBsZSBub25jZR==")), &cfg,
	                "Zgw8jYXtqX5qJr7MJ1Q/MqzeSRI=", "unused bits set");
#undef WITH_KEY

	/* Two keys: the parser refuses them, and so does the check given such a request. */
	static const char two[] = LINE HOST UPGRADE CONNECTION KEY KEY VERSION "\r\n";
	rc_http_header fields[16];
	rc_http_parser p;
	rc_http_cfg small = { .header_bytes_max = 8192, .header_fields_max = 16 };
	rc_http_parser_init(&p, &small, fields);
	rc_guard g = rc_guard_copy(LIT(two));
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), -400);
	rc_guard_free(&g);
}

/* A request built by hand, for what the parser would never let through. */
static rc_http_str s(const char *z)
{
	return (rc_http_str){ .ptr = z, .len = (uint32_t)strlen(z) };
}

Test(ws_handshake, hand_built_requests)
{
	rc_http_header h[] = {
		{ s("Host"), s("a") },
		{ s("Upgrade"), s("websocket") },
		{ s("Connection"), s("Upgrade") },
		{ s("Sec-WebSocket-Version"), s("13") },
		{ s("Sec-WebSocket-Key"), s("dGhlIHNhbXBsZSBub25jZQ==") },
		{ s("Sec-WebSocket-Key"), s("AQIDBAUGBwgJCgsMDQ4PEA==") },
	};
	rc_http_request req = { .method = s("GET"),
		                    .path = s("/"),
		                    .query = s(""),
		                    .minor_version = 1,
		                    .headers = h,
		                    .header_count = 5 };
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	rc_ws_handshake_result res;
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 0, "%s", res.reason);
	cr_assert_str_eq(res.accept, RFC_ACCEPT);

	req.header_count = 6;
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 400, "two keys");
	cr_assert_str_eq(res.reason, "duplicate Sec-WebSocket-Key");

	req.header_count = 5;
	h[4].name = s("Sec-WebSocket-Version");
	h[4].value = s("13");
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 400, "no key (two versions)");
	h[4] = h[5];
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 0);
	cr_assert_str_eq(res.accept, "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");

	req.method = s("POST");
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 405);
	req.method = s("GET");
	h[3].value = s("8");
	cr_assert_eq(rc_ws_handshake_check(&req, &cfg, &res), 426);
}

Test(ws_handshake, versions)
{
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
#define WITH_VERSION(v) \
	LINE HOST UPGRADE CONNECTION KEY "Sec-WebSocket-Version: " v "\r\n" \
	                                 "\r\n"
	static const char *const refused[] = {
		WITH_VERSION("8"),     WITH_VERSION("12"),
		WITH_VERSION("14"),    WITH_VERSION("013"),
		WITH_VERSION("13, 8"), WITH_VERSION(""),
		WITH_VERSION("1 3"),   LINE HOST UPGRADE CONNECTION KEY "\r\n",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		hs h;
		cr_assert_eq(handshake(&h, refused[i], strlen(refused[i]), &cfg), 426, "%s", refused[i]);
		char out[512];
		size_t n = rc_ws_error_response(out, sizeof out, h.status, h.res.reason);
		response r;
		read_response(out, n, &r);
		char buf[64];
		cr_assert_eq(r.status, 426);
		cr_assert_str_eq(field(&r, "Sec-WebSocket-Version", buf, sizeof buf), "13");
		cr_assert_str_eq(field(&r, "Upgrade", buf, sizeof buf), "websocket");
		hs_free(&h);
	}
	expect_accepted(LIT(WITH_VERSION(" 13\t")), &cfg, RFC_ACCEPT, "13 with OWS");
#undef WITH_VERSION
}

Test(ws_handshake, origins)
{
	static const char *const allowed[] = { "https://example.com", "http://localhost:8080" };
	rc_ws_handshake_cfg list = { .origins = allowed, .origin_count = 2, .allow_no_origin = true };
	rc_ws_handshake_cfg any = RC_WS_HANDSHAKE_CFG_DEFAULT;
#define BASE LINE HOST UPGRADE CONNECTION KEY VERSION
#define WITH_ORIGIN(o) \
	BASE "Origin: " o "\r\n" \
	     "\r\n"
	expect_accepted(LIT(WITH_ORIGIN("https://example.com")), &list, RFC_ACCEPT, "listed");
	expect_accepted(LIT(WITH_ORIGIN("HTTPS://Example.COM")), &list, RFC_ACCEPT, "any case");
	expect_accepted(LIT(WITH_ORIGIN("http://localhost:8080")), &list, RFC_ACCEPT, "second");
	expect_refused(LIT(WITH_ORIGIN("https://example.com.evil.net")), &list, 403, "suffix");
	expect_refused(LIT(WITH_ORIGIN("https://example.co")), &list, 403, "prefix");
	expect_refused(LIT(WITH_ORIGIN("http://example.com")), &list, 403, "other scheme");
	expect_refused(LIT(WITH_ORIGIN("https://example.com:443")), &list, 403, "explicit port");
	expect_refused(LIT(WITH_ORIGIN("null")), &list, 403, "opaque origin");
	expect_refused(LIT(WITH_ORIGIN("")), &list, 403, "empty");
	expect_refused(LIT(BASE "Origin: https://example.com\r\nOrigin: https://evil.net\r\n"
	                        "\r\n"),
	               &list, 400, "two Origin lines");

	/* Absent: depends on allow_no_origin, whatever the list. */
	expect_accepted(LIT(BASE "\r\n"), &list, RFC_ACCEPT, "absent, allowed");
	list.allow_no_origin = false;
	expect_refused(LIT(BASE "\r\n"), &list, 403, "absent, refused");
	expect_accepted(LIT(WITH_ORIGIN("https://example.com")), &list, RFC_ACCEPT, "listed still");

	/* An empty list allows any origin. */
	expect_accepted(LIT(WITH_ORIGIN("https://anything.example")), &any, RFC_ACCEPT, "any");
	expect_accepted(LIT(WITH_ORIGIN("null")), &any, RFC_ACCEPT, "any, null");
	expect_accepted(LIT(BASE "\r\n"), &any, RFC_ACCEPT, "any, absent");
	any.allow_no_origin = false;
	expect_refused(LIT(BASE "\r\n"), &any, 403, "any, absent refused");
	expect_accepted(LIT(WITH_ORIGIN("https://anything.example")), &any, RFC_ACCEPT, "any still");
#undef WITH_ORIGIN
}

static void expect_subprotocol(const char *in, size_t n, const rc_ws_handshake_cfg *cfg, int index,
                               const char *what)
{
	hs h;
	cr_assert_eq(handshake(&h, in, n, cfg), 0, "%s: %s", what, h.res.reason);
	cr_assert_eq(h.res.subprotocol, index, "%s: got %d, want %d", what, h.res.subprotocol, index);
	if (index < 0)
		cr_assert_null(h.res.subprotocol_name, "%s", what);
	else
		cr_assert_str_eq(h.res.subprotocol_name, cfg->subprotocols[index], "%s", what);

	char out[512], buf[64];
	response r;
	read_response(out, rc_ws_response_101(out, sizeof out, &h.res), &r);
	const char *sel = field(&r, "Sec-WebSocket-Protocol", buf, sizeof buf);
	if (index < 0)
		cr_assert_null(sel, "%s: no protocol in the 101", what);
	else
		cr_assert_str_eq(sel, cfg->subprotocols[index], "%s", what);
	hs_free(&h);
}

Test(ws_handshake, subprotocols)
{
	static const char *const protos[] = { "ringcast.v2", "ringcast.v1" };
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	cfg.subprotocols = protos;
	cfg.subprotocol_count = 2;
#define WITH_PROTO(p) \
	BASE "Sec-WebSocket-Protocol: " p "\r\n" \
	     "\r\n"
	expect_subprotocol(LIT(WITH_PROTO("ringcast.v1")), &cfg, 1, "one offered");
	expect_subprotocol(LIT(WITH_PROTO("ringcast.v1, ringcast.v2")), &cfg, 0,
	                   "server preference wins");
	expect_subprotocol(LIT(BASE "Sec-WebSocket-Protocol: chat\r\n"
	                            "Sec-WebSocket-Protocol: ringcast.v1\r\n\r\n"),
	                   &cfg, 1, "two lines");
	expect_subprotocol(LIT(BASE "Sec-WebSocket-Protocol: ringcast.v1\r\n"
	                            "sec-websocket-protocol: ringcast.v2\r\n\r\n"),
	                   &cfg, 0, "two lines, preference");
	expect_subprotocol(LIT(WITH_PROTO("\t ,ringcast.v1 ,, \t")), &cfg, 1, "odd whitespace");
	expect_subprotocol(LIT(WITH_PROTO("chat,superchat")), &cfg, -1, "none supported");
	expect_subprotocol(LIT(WITH_PROTO("RINGCAST.V1")), &cfg, -1, "case matters");
	expect_subprotocol(LIT(WITH_PROTO("ringcast.v1x, ringcast")), &cfg, -1, "whole items only");
	expect_subprotocol(LIT(WITH_PROTO("")), &cfg, -1, "empty");
	expect_subprotocol(LIT(BASE "\r\n"), &cfg, -1, "none offered");
	cfg.subprotocol_count = 0;
	expect_subprotocol(LIT(WITH_PROTO("ringcast.v1")), &cfg, -1, "route has none");
#undef WITH_PROTO

	/* Extensions are ignored, whatever is offered. */
	cfg.subprotocol_count = 2;
	expect_subprotocol(LIT(BASE "Sec-WebSocket-Extensions: permessage-deflate; "
	                            "client_max_window_bits, x-webkit-deflate-frame\r\n\r\n"),
	                   &cfg, -1, "extensions offered");
#undef BASE
}

/* ---- error responses ---- */

Test(ws_response, errors_parse_as_http)
{
	static const struct {
		int status;
		const char *reason;
	} v[] = {
		{ 400, "Sec-WebSocket-Key is not base64 of 16 bytes" },
		{ 403, "Origin not allowed" },
		{ 404, "no such route" },
		{ 405, "method not allowed: only GET is served" },
		{ 426, "Sec-WebSocket-Version must be 13" },
		{ 431, "header block too large" },
		{ 503, "server full" },
		{ 505, "HTTP version not supported" },
		{ 400, NULL },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[512], buf[64];
		size_t n = rc_ws_error_response(out, sizeof out, v[i].status, v[i].reason);
		cr_assert_gt(n, 0);
		response r;
		read_response(out, n, &r);
		cr_assert_eq(r.status, v[i].status);
		cr_assert_str_eq(r.reason, rc_http_status_text(v[i].status));
		cr_assert_str_eq(field(&r, "Content-Type", buf, sizeof buf), "text/plain");
		cr_assert_str_eq(field(&r, "Connection", buf, sizeof buf), "close");

		const char *reason = v[i].reason ? v[i].reason : rc_http_status_text(v[i].status);
		cr_assert_eq(r.body_len, strlen(reason) + 1);
		cr_assert_eq(memcmp(r.body, reason, strlen(reason)), 0);
		cr_assert_eq(r.body[r.body_len - 1], '\n');
		cr_assert_null(memchr(r.body, '\n', r.body_len - 1), "one line");

		const char *allow = field(&r, "Allow", buf, sizeof buf);
		if (v[i].status == 405)
			cr_assert_str_eq(allow, "GET");
		else
			cr_assert_null(allow);
		const char *retry = field(&r, "Retry-After", buf, sizeof buf);
		if (v[i].status == 503)
			cr_assert_str_eq(retry, "1");
		else
			cr_assert_null(retry);
		const char *version = field(&r, "Sec-WebSocket-Version", buf, sizeof buf);
		const char *upgrade = field(&r, "Upgrade", buf + 32, sizeof buf - 32);
		if (v[i].status == 426) {
			cr_assert_str_eq(version, "13");
			cr_assert_str_eq(upgrade, "websocket");
		} else {
			cr_assert_null(version);
			cr_assert_null(upgrade);
		}

		for (size_t cap = 0; cap < n; cap++)
			cr_assert_eq(rc_ws_error_response(out, cap, v[i].status, v[i].reason), 0);
	}
}

/* Every refusal of the check comes with a response that names it. */
Test(ws_response, refusal_to_response)
{
	rc_ws_handshake_cfg cfg = RC_WS_HANDSHAKE_CFG_DEFAULT;
	hs h;
	cr_assert_eq(
	        handshake(&h, LIT(LINE HOST UPGRADE "Connection: close\r\n" KEY VERSION "\r\n"), &cfg),
	        400);
	char out[512];
	size_t n = rc_ws_error_response(out, sizeof out, h.status, h.res.reason);
	response r;
	read_response(out, n, &r);
	cr_assert_eq(r.status, 400);
	cr_assert_eq(r.body_len, strlen(h.res.reason) + 1);
	cr_assert_eq(memcmp(r.body, h.res.reason, r.body_len - 1), 0);
	hs_free(&h);
}
