/* Tests of rc_ws_client: the key, the request, the check of the server's answer and ws:// URLs.
 *
 * Every answer is checked every way (check_every_way): whole, truncated at every length (NEED_MORE
 * until the head is complete: the check keeps no state, so this is also the answer arriving byte by
 * byte), and followed by the frames a server may send at once (the same result and head_len).
 * Each call gets a guarded copy that ends where a PROT_NONE page begins, so reading one byte past
 * the answer faults. The good answers are the exact 101 heads real servers send: ringcast
 * (rc_ws_response_101), Python websockets 10.4 and Node ws 8.23, captured from those servers for
 * the RFC 6455 §1.3 key. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_test.h"
#include "rc_ws_client.h"

/* RFC 6455 §1.3: the sample nonce, its key and the key's accept value. */
#define NONCE "the sample nonce"
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define V1 "ringcast.v1"

/* The heads, as captured. */
#define RINGCAST_101 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"\r\n"
#define RINGCAST_101_V1 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"Sec-WebSocket-Protocol: ringcast.v1\r\n" \
	"\r\n"
#define PYTHON_101 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"Date: Fri, 04 Dec 2026 04:37:17 GMT\r\n" \
	"Server: Python/3.11 websockets/10.4\r\n" \
	"\r\n"
#define PYTHON_101_V1 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"Sec-WebSocket-Protocol: ringcast.v1\r\n" \
	"Date: Fri, 04 Dec 2026 04:37:18 GMT\r\n" \
	"Server: Python/3.11 websockets/10.4\r\n" \
	"\r\n"
#define NODE_101 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"\r\n"
#define NODE_101_V1 \
	"HTTP/1.1 101 Switching Protocols\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Accept: " ACCEPT "\r\n" \
	"Sec-WebSocket-Protocol: ringcast.v1\r\n" \
	"\r\n"

/* The start of a 101 and its usual fields, for hand-built answers. */
#define STATUS_101 "HTTP/1.1 101 Switching Protocols\r\n"
#define UPGRADE "Upgrade: websocket\r\n"
#define CONNECTION "Connection: Upgrade\r\n"
#define ACCEPT_LINE "Sec-WebSocket-Accept: " ACCEPT "\r\n"
#define GOOD_FIELDS UPGRADE CONNECTION ACCEPT_LINE

/* An output buffer of cap bytes that ends where a PROT_NONE page begins: a write past cap faults. */
static rc_guard guard_out(size_t cap)
{
	static const uint8_t zeros[4096];
	cr_assert_leq(cap, sizeof zeros);
	return rc_guard_copy(zeros, cap);
}

/* ---- checking an answer every way ---- */

static enum rc_ws_client_status check_guarded(const char *in, size_t n, const char *sub,
                                              rc_ws_client_result *res)
{
	rc_guard g = rc_guard_copy(in, n);
	enum rc_ws_client_status s = rc_ws_client_check(g.data, g.len, KEY, sub, res);
	rc_guard_free(&g);
	cr_assert_not_null(res->reason);
	cr_assert_neq(res->reason[0], '\0');
	cr_assert_not_null(rc_ws_client_status_name(s));
	return s;
}

static void expect_same(enum rc_ws_client_status a, const rc_ws_client_result *ra,
                        enum rc_ws_client_status b, const rc_ws_client_result *rb, const char *what)
{
	cr_assert_eq(a, b, "%s: %s vs %s", what, rc_ws_client_status_name(a),
	             rc_ws_client_status_name(b));
	cr_assert_eq(ra->head_len, rb->head_len, "%s: head_len", what);
	cr_assert_eq(ra->status, rb->status, "%s: status", what);
	cr_assert_eq(ra->retry_after_s, rb->retry_after_s, "%s: retry_after_s", what);
	cr_assert_str_eq(ra->reason, rb->reason, "%s: reason", what);
}

static void expect_need_more(const char *in, size_t k, const char *sub, const char *what)
{
	rc_ws_client_result res;
	enum rc_ws_client_status s = check_guarded(in, k, sub, &res);
	cr_assert_eq(s, RC_WS_CLIENT_NEED_MORE, "%s: %zu bytes: %s", what, k,
	             rc_ws_client_status_name(s));
	cr_assert_eq(res.head_len, 0);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(res.retry_after_s, -1);
}

/* What a server may send right behind its 101: a close, a ping, a text message, or anything. */
#define BYTES(s) s, sizeof(s) - 1 /* a literal and its length, NULs included */
static const struct {
	const char *bytes;
	size_t len;
} trailers[] = {
	{ BYTES("\x88\x02\x03\xe8") },           /* close 1000 */
	{ BYTES("\x89\x00") },                   /* ping */
	{ BYTES("\x81\x05hello") },              /* text "hello" */
	{ BYTES("\r\n\r\nHTTP/1.1 400 X\r\n") }, /* another head: still not ours */
	{ BYTES("\0") },
};

/* head[0..n) is exactly one complete head (its first CR LF CR LF is its end). Check it whole, cut
 * at every length (NEED_MORE), and with each trailer after it (the same result). */
static enum rc_ws_client_status check_every_way(const char *head, size_t n, const char *sub,
                                                rc_ws_client_result *res, const char *what)
{
	const char *end = memmem(head, n, "\r\n\r\n", 4);
	cr_assert(end != NULL && (size_t)(end - head) + 4 == n, "%s: not one complete head", what);
	enum rc_ws_client_status s = check_guarded(head, n, sub, res);
	cr_assert_neq(s, RC_WS_CLIENT_NEED_MORE, "%s", what);
	cr_assert_eq(res->head_len, n, "%s: head_len %zu of %zu", what, res->head_len, n);

	for (size_t k = 0; k < n; k++)
		expect_need_more(head, k, sub, what);
	for (size_t t = 0; t < sizeof trailers / sizeof trailers[0]; t++) {
		char buf[4096];
		cr_assert_lt(n + trailers[t].len, sizeof buf);
		memcpy(buf, head, n);
		memcpy(buf + n, trailers[t].bytes, trailers[t].len);
		rc_ws_client_result r2;
		enum rc_ws_client_status s2 = check_guarded(buf, n + trailers[t].len, sub, &r2);
		expect_same(s2, &r2, s, res, what);
	}
	return s;
}

static void expect(const char *head, const char *sub, enum rc_ws_client_status want,
                   const char *what)
{
	rc_ws_client_result res;
	enum rc_ws_client_status s = check_every_way(head, strlen(head), sub, &res, what);
	cr_assert_eq(s, want, "%s: got %s (%s), want %s", what, rc_ws_client_status_name(s), res.reason,
	             rc_ws_client_status_name(want));
	if (want >= RC_WS_CLIENT_BAD_FIELD)
		cr_assert_eq(res.status, 101, "%s: status", what);
}

/* ---- the key ---- */

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

Test(ws_client_key, from_nonce)
{
	static const struct {
		uint8_t nonce[RC_WS_NONCE_LEN];
		const char *key;
	} v[] = {
		{ NONCE, KEY },
		{ { 0 }, "AAAAAAAAAAAAAAAAAAAAAA==" },
		{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff },
		  "/////////////////////w==" },
		{ { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, "AQIDBAUGBwgJCgsMDQ4PEA==" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		rc_guard g = rc_guard_copy(v[i].nonce, RC_WS_NONCE_LEN);
		rc_guard k = guard_out(RC_WS_KEY_LEN + 1);
		rc_ws_client_key(g.data, (char *)k.data);
		cr_assert_str_eq((char *)k.data, v[i].key);
		rc_guard_free(&g);
		rc_guard_free(&k);
	}
}

Test(ws_client_key, the_server_accepts_every_key)
{
	/* The server's rule: 22 base64 characters and "==". Random nonces, and every value of the
	 * last byte (whose low 4 bits fall into the padding). */
	srand(7);
	for (int i = 0; i < 512; i++) {
		uint8_t nonce[RC_WS_NONCE_LEN];
		for (size_t j = 0; j < sizeof nonce; j++)
			nonce[j] = (uint8_t)rand();
		if (i < 256)
			nonce[15] = (uint8_t)i;
		char key[RC_WS_KEY_LEN + 1];
		rc_ws_client_key(nonce, key);
		cr_assert_eq(strlen(key), RC_WS_KEY_LEN);
		cr_assert(key[22] == '=' && key[23] == '=');
		for (size_t j = 0; j < 22; j++)
			cr_assert(b64_char(key[j]), "key %s", key);
		cr_assert_not_null(strchr("AQgw", key[21]), "key %s: the 4 unused bits are 0", key);
	}
}

/* ---- the request ---- */

static size_t request_guarded(char *out, size_t cap, const rc_ws_client_req *rq)
{
	rc_guard g = guard_out(cap);
	size_t n = rc_ws_client_request((char *)g.data, cap, rq);
	memcpy(out, g.data, n);
	out[n] = '\0';
	rc_guard_free(&g);
	return n;
}

#define REQ_HEAD \
	"GET /ws?topics=a,b HTTP/1.1\r\n" \
	"Host: 127.0.0.1:8080\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: " KEY "\r\n" \
	"Sec-WebSocket-Version: 13\r\n"

static const struct {
	rc_ws_client_req rq;
	const char *bytes;
} requests[] = {
	{ { "127.0.0.1:8080", "/ws?topics=a,b", KEY, NULL, NULL, NULL }, REQ_HEAD "\r\n" },
	{ { "127.0.0.1:8080", "/ws?topics=a,b", KEY, V1, NULL, NULL },
	  REQ_HEAD "Sec-WebSocket-Protocol: ringcast.v1\r\n\r\n" },
	{ { "127.0.0.1:8080", "/ws?topics=a,b", KEY, NULL, "http://localhost:8080", NULL },
	  REQ_HEAD "Origin: http://localhost:8080\r\n\r\n" },
	{ { "127.0.0.1:8080", "/ws?topics=a,b", KEY, NULL, NULL, "User-Agent: test\r\n" },
	  REQ_HEAD "User-Agent: test\r\n\r\n" },
	{ { "127.0.0.1:8080", "/ws?topics=a,b", KEY, V1, "null",
	    "Authorization: Bearer t0k\r\nUser-Agent: ringcast-feed\r\n" },
	  REQ_HEAD "Sec-WebSocket-Protocol: ringcast.v1\r\nOrigin: null\r\n"
	           "Authorization: Bearer t0k\r\nUser-Agent: ringcast-feed\r\n\r\n" },
	{ { "[::1]:80", "/", KEY, NULL, NULL, "" },
	  "GET / HTTP/1.1\r\nHost: [::1]:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n" },
};

Test(ws_client_request, exact_bytes)
{
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		char out[1024];
		size_t want = strlen(requests[i].bytes);
		size_t n = request_guarded(out, want, &requests[i].rq);
		cr_assert_eq(n, want, "request %zu: %zu bytes, want %zu", i, n, want);
		cr_assert_str_eq(out, requests[i].bytes, "request %zu", i);
	}
}

Test(ws_client_request, cap_too_small_at_every_length)
{
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		size_t want = strlen(requests[i].bytes);
		for (size_t cap = 0; cap < want; cap++) {
			rc_guard g = guard_out(cap); /* a write past cap faults */
			cr_assert_eq(rc_ws_client_request((char *)g.data, cap, &requests[i].rq), 0,
			             "request %zu, cap %zu", i, cap);
			rc_guard_free(&g);
		}
		char big[1024];
		cr_assert_eq(rc_ws_client_request(big, sizeof big, &requests[i].rq), want);
	}
}

/* The request goes through the server half (rc_http, rc_ws_handshake_check), whose 101 goes
 * through the check: the two halves agree, for fresh keys, with and without a subprotocol. */
Test(ws_client_request, round_trip_through_the_server_half)
{
	static const char *const protos[] = { V1 };
	for (int i = 0; i < 64; i++) {
		uint8_t nonce[RC_WS_NONCE_LEN];
		for (size_t j = 0; j < sizeof nonce; j++)
			nonce[j] = (uint8_t)(i * 31 + j * 7);
		char key[RC_WS_KEY_LEN + 1];
		rc_ws_client_key(nonce, key);
		const char *sub = i % 2 ? V1 : NULL;
		rc_ws_client_req rq = { .host = "localhost:8080",
			                    .target = "/ws",
			                    .key = key,
			                    .subprotocol = sub,
			                    .extra = "User-Agent: t\r\n" };
		char req[512];
		size_t n = rc_ws_client_request(req, sizeof req, &rq);
		cr_assert_gt(n, 0);

		rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
		rc_http_cfg cfg = RC_HTTP_CFG_DEFAULT;
		rc_http_parser p;
		rc_http_parser_init(&p, &cfg, fields);
		rc_guard g = rc_guard_copy(req, n);
		cr_assert_eq(rc_http_parse(&p, g.data, g.len), (ssize_t)n, "%s", p.reason);
		rc_ws_handshake_cfg hc = RC_WS_HANDSHAKE_CFG_DEFAULT;
		hc.subprotocols = protos;
		hc.subprotocol_count = 1;
		rc_ws_handshake_result hr;
		cr_assert_eq(rc_ws_handshake_check(&p.req, &hc, &hr), 0, "%s", hr.reason);
		rc_guard_free(&g);

		char resp[512];
		size_t rn = rc_ws_response_101(resp, sizeof resp, &hr);
		cr_assert_gt(rn, 0);
		rc_guard r = rc_guard_copy(resp, rn);
		rc_ws_client_result res;
		cr_assert_eq(rc_ws_client_check(r.data, r.len, key, sub, &res), RC_WS_CLIENT_OK, "%s",
		             res.reason);
		cr_assert_eq(res.head_len, rn);
		rc_guard_free(&r);
	}
}

/* ---- good answers ---- */

Test(ws_client_check, real_servers)
{
	expect(RINGCAST_101, NULL, RC_WS_CLIENT_OK, "ringcast");
	expect(RINGCAST_101_V1, V1, RC_WS_CLIENT_OK, "ringcast, ringcast.v1");
	expect(PYTHON_101, NULL, RC_WS_CLIENT_OK, "Python websockets");
	expect(PYTHON_101_V1, V1, RC_WS_CLIENT_OK, "Python websockets, ringcast.v1");
	expect(NODE_101, NULL, RC_WS_CLIENT_OK, "Node ws");
	expect(NODE_101_V1, V1, RC_WS_CLIENT_OK, "Node ws, ringcast.v1");
	/* and the other way round: what each offers matters */
	expect(RINGCAST_101, V1, RC_WS_CLIENT_NO_SUBPROTOCOL, "not selected");
	expect(PYTHON_101_V1, NULL, RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL, "not offered");
}

Test(ws_client_check, ringcast_heads_are_what_the_server_writes)
{
	rc_ws_handshake_result hr = { .accept = ACCEPT, .subprotocol = -1 };
	char out[256];
	size_t n = rc_ws_response_101(out, sizeof out, &hr);
	cr_assert_eq(n, strlen(RINGCAST_101));
	cr_assert_arr_eq(out, RINGCAST_101, n);
	hr.subprotocol = 0;
	hr.subprotocol_name = V1;
	n = rc_ws_response_101(out, sizeof out, &hr);
	cr_assert_eq(n, strlen(RINGCAST_101_V1));
	cr_assert_arr_eq(out, RINGCAST_101_V1, n);
}

Test(ws_client_check, whitespace_case_and_line_ends)
{
	expect("HTTP/1.1 101 Switching Protocols\r\n"
	       "upgrade:websocket\r\n"
	       "CONNECTION: \t UPGRADE \t \r\n"
	       "sec-websocket-accept:   " ACCEPT "\t\r\n\r\n",
	       NULL, RC_WS_CLIENT_OK, "no OWS, odd OWS, any case");
	expect("HTTP/1.1 101 Switching Protocols\r\n" GOOD_FIELDS "Sec-WebSocket-Protocol:" V1
	       "  \r\n\r\n",
	       V1, RC_WS_CLIENT_OK, "subprotocol value trimmed");
	expect("HTTP/1.1 101 Switching Protocols\n"
	       "Upgrade: websocket\n"
	       "Connection: Upgrade\n"
	       "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
	       NULL, RC_WS_CLIENT_OK, "bare LF inside the head");
	expect("HTTP/1.0 101 Whatever\r\n" GOOD_FIELDS "\r\n", NULL, RC_WS_CLIENT_OK,
	       "HTTP/1.0, another reason phrase");
	expect("HTTP/1.1 101\r\n" GOOD_FIELDS "\r\n", NULL, RC_WS_CLIENT_OK, "no reason phrase");
	expect(STATUS_101 "Upgrade: h2c, WebSocket\r\n" CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_OK, "websocket among other Upgrade tokens");
	expect(STATUS_101 UPGRADE "Connection: keep-alive, ,Upgrade\r\n" ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_OK, "upgrade among other Connection tokens");
	expect(STATUS_101 UPGRADE "Connection: keep-alive\r\nConnection: upgrade\r\n" ACCEPT_LINE
	                          "\r\n",
	       NULL, RC_WS_CLIENT_OK, "Connection on two lines");
	expect(STATUS_101 UPGRADE UPGRADE CONNECTION CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_OK, "Upgrade and Connection repeated");
	expect(STATUS_101 GOOD_FIELDS "X-Empty:\r\nX-Colons: a:b:c\r\nX bad name: fine\r\n\r\n", NULL,
	       RC_WS_CLIENT_OK, "names and values of other fields are not checked");
}

/* ---- refusals ---- */

Test(ws_client_check, status_line)
{
	static const char *const bad[] = {
		"HTTP/2 101 Switching Protocols\r\n" GOOD_FIELDS "\r\n",
		"http/1.1 101 Switching Protocols\r\n" GOOD_FIELDS "\r\n",
		"HTTP/1.1  101 Switching Protocols\r\n" GOOD_FIELDS "\r\n",
		"HTTP/1.1 1O1 Switching Protocols\r\n" GOOD_FIELDS "\r\n",
		"HTTP/1.1 10\r\n" GOOD_FIELDS "\r\n",
		" HTTP/1.1 101 Switching Protocols\r\n" GOOD_FIELDS "\r\n",
		"HTTP/1.1\r\n\r\n", /* 12 bytes: shorter than any status line */
		"\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		expect(bad[i], NULL, RC_WS_CLIENT_BAD_STATUS_LINE, bad[i]);
		rc_ws_client_result res;
		check_guarded(bad[i], strlen(bad[i]), NULL, &res);
		cr_assert_eq(res.status, 0, "%s", bad[i]);
	}
	/* Only "HTTP/1.", one byte, SP and three digits are looked at. */
	expect("HTTP/1.x 1010 nonsense\r\n" GOOD_FIELDS "\r\n", NULL, RC_WS_CLIENT_OK,
	       "the rest of the status line is not examined");
}

Test(ws_client_check, refusals)
{
	static const struct {
		const char *head;
		int status;
		int64_t retry_after_s;
	} v[] = {
		{ "HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\n", 400, -1 },
		{ "HTTP/1.1 403 Forbidden\r\n\r\n", 403, -1 },
		{ "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n", 404, -1 },
		{ "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n", 426, -1 },
		{ "HTTP/1.1 200 OK\r\n" GOOD_FIELDS "\r\n", 200, -1 },
		{ "HTTP/1.1 503 Service Unavailable\r\n\r\n", 503, -1 },
		{ "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n\r\n", 503, 7 },
		{ "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n\r\n", 429, 30 },
		{ "HTTP/1.1 999 Odd\r\n\r\n", 999, -1 },
		{ "HTTP/1.1 000 Odd\r\n\r\n", 0, -1 },
		/* A refusal is a refusal whatever its fields: they are not read. */
		{ "HTTP/1.1 500 Oops\r\nno colon here\r\n\r\n", 500, -1 },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		rc_ws_client_result res;
		enum rc_ws_client_status s =
		        check_every_way(v[i].head, strlen(v[i].head), NULL, &res, v[i].head);
		cr_assert_eq(s, RC_WS_CLIENT_STATUS, "%s: %s", v[i].head, rc_ws_client_status_name(s));
		cr_assert_eq(res.status, v[i].status, "%s", v[i].head);
		cr_assert_eq(res.retry_after_s, v[i].retry_after_s, "%s", v[i].head);
	}
}

/* ringcast's own refusals, as its server writes them, with their bodies behind the head. */
Test(ws_client_check, ringcast_refusals)
{
	static const int statuses[] = { 400, 403, 404, 405, 426, 431, 503, 505 };
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
		char out[512];
		size_t n = rc_ws_error_response(out, sizeof out, statuses[i], "a reason");
		cr_assert_gt(n, 0);
		const char *end = memmem(out, n, "\r\n\r\n", 4);
		cr_assert_not_null(end);
		size_t head = (size_t)(end - out) + 4;
		rc_ws_client_result res;
		cr_assert_eq(check_guarded(out, n, NULL, &res), RC_WS_CLIENT_STATUS);
		cr_assert_eq(res.status, statuses[i]);
		cr_assert_eq(res.head_len, head);
		cr_assert_eq(n - head, strlen("a reason\n"), "the body follows the head");
		cr_assert_eq(res.retry_after_s, statuses[i] == 503 ? 1 : -1, "%d", statuses[i]);
		check_every_way(out, head, NULL, &res, "ringcast refusal head");
	}
}

Test(ws_client_check, retry_after_forms)
{
	static const struct {
		const char *field;
		int64_t want;
	} v[] = {
		{ "Retry-After: 1\r\n", 1 },
		{ "Retry-After: 0\r\n", 0 },
		{ "retry-after:5\r\n", 5 },
		{ "RETRY-AFTER: \t 120 \r\n", 120 },
		{ "Retry-After: 86399\r\n", 86399 },
		{ "Retry-After: 86400\r\n", 86400 },
		/* digits are read while the value is below a day, so a huge value stays bounded */
		{ "Retry-After: 864000\r\n", 86400 },
		{ "Retry-After: 99999999999999999999999\r\n", 99999 },
		{ "Retry-After: 5x\r\n", 5 },
		{ "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n", -1 }, /* HTTP-date: not understood */
		{ "Retry-After:\r\n", -1 },
		{ "Retry-After: -1\r\n", -1 },
		{ "Retry-After : 5\r\n", -1 }, /* not the field's name */
		{ "X-Retry-After: 5\r\n", -1 },
		{ "Retry-After: 3\r\nRetry-After: 9\r\n", 3 }, /* the first one */
		{ "Retry-After: soon\r\nRetry-After: 9\r\n", -1 },
		{ "Retry-After: 2\nX: y\r\n", 2 }, /* bare LF line end */
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char head[256];
		snprintf(head, sizeof head, "HTTP/1.1 503 Service Unavailable\r\n%s\r\n", v[i].field);
		rc_ws_client_result res;
		cr_assert_eq(check_every_way(head, strlen(head), NULL, &res, head), RC_WS_CLIENT_STATUS);
		cr_assert_eq(res.retry_after_s, v[i].want, "%s: got %lld", v[i].field,
		             (long long)res.retry_after_s);
	}
	/* Only a refusal's is read. */
	rc_ws_client_result res;
	const char *ok = STATUS_101 "Retry-After: 5\r\n" GOOD_FIELDS "\r\n";
	cr_assert_eq(check_guarded(ok, strlen(ok), NULL, &res), RC_WS_CLIENT_OK);
	cr_assert_eq(res.retry_after_s, -1);
}

Test(ws_client_check, field_lines)
{
	expect(STATUS_101 GOOD_FIELDS "no colon\r\n\r\n", NULL, RC_WS_CLIENT_BAD_FIELD, "no colon");
	expect(STATUS_101 ": empty name\r\n" GOOD_FIELDS "\r\n", NULL, RC_WS_CLIENT_BAD_FIELD,
	       "empty name");
	expect(STATUS_101 UPGRADE "Connection: keep-alive,\r\n Upgrade\r\n" ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_BAD_FIELD, "obs-fold without a colon");
	expect(STATUS_101 "Upgrade:\r\n\twebsocket:\r\n" CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_UPGRADE, "obs-fold with a colon: its name is no field we read");
	/* An empty line ending in a bare LF ends the fields, before the CR LF CR LF ends the head. */
	expect(STATUS_101 UPGRADE CONNECTION "\n" ACCEPT_LINE "\r\n", NULL, RC_WS_CLIENT_NO_ACCEPT,
	       "bare-LF empty line");

	/* RC_WS_CLIENT_FIELDS_MAX fields are fine, one more is not. */
	char head[4096];
	size_t n = (size_t)snprintf(head, sizeof head, "%s", STATUS_101 GOOD_FIELDS);
	for (int i = 3; i < RC_WS_CLIENT_FIELDS_MAX; i++)
		n += (size_t)snprintf(head + n, sizeof head - n, "X-%d: %d\r\n", i, i);
	snprintf(head + n, sizeof head - n, "\r\n");
	expect(head, NULL, RC_WS_CLIENT_OK, "64 fields");
	snprintf(head + n, sizeof head - n, "X-65: 65\r\n\r\n");
	expect(head, NULL, RC_WS_CLIENT_TOO_MANY_FIELDS, "65 fields");
}

Test(ws_client_check, upgrade_and_connection)
{
	expect(STATUS_101 CONNECTION ACCEPT_LINE "\r\n", NULL, RC_WS_CLIENT_NO_UPGRADE, "no Upgrade");
	expect(STATUS_101 "Upgrade: h2c\r\n" CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_UPGRADE, "Upgrade: h2c");
	expect(STATUS_101 "Upgrade: websocketx\r\n" CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_UPGRADE, "Upgrade: websocketx");
	expect(STATUS_101 "Upgrade: web socket\r\n" CONNECTION ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_UPGRADE, "Upgrade: web socket");
	expect(STATUS_101 UPGRADE ACCEPT_LINE "\r\n", NULL, RC_WS_CLIENT_NO_CONNECTION_UPGRADE,
	       "no Connection");
	expect(STATUS_101 UPGRADE "Connection: keep-alive\r\n" ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_CONNECTION_UPGRADE, "Connection: keep-alive");
	expect(STATUS_101 UPGRADE "Connection: close\r\n" ACCEPT_LINE "\r\n", NULL,
	       RC_WS_CLIENT_NO_CONNECTION_UPGRADE, "Connection: close");
}

Test(ws_client_check, accept)
{
	expect(STATUS_101 UPGRADE CONNECTION "\r\n", NULL, RC_WS_CLIENT_NO_ACCEPT, "no accept");
	expect(STATUS_101 GOOD_FIELDS ACCEPT_LINE "\r\n", NULL, RC_WS_CLIENT_NO_ACCEPT,
	       "the right accept twice");
	static const char *const wrong[] = {
		"s3pPLMBiTxaQ9kYGzzhZRbK+xOo",    /* one character short */
		"s3pPLMBiTxaQ9kYGzzhZRbK+xOo==",  /* one too many */
		"S3PPLMBITXAQ9KYGZZHZRBK+XOO=",   /* another case */
		"HSmrc0sMlYUkAGmm5OPpG2HaGWk=",   /* another key's */
		"s3pPLMBiTxaQ9kYGzzhZRbK+xOo= x", /* a second token */
		"",
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		char head[256];
		snprintf(head, sizeof head,
		         STATUS_101 UPGRADE CONNECTION "Sec-WebSocket-Accept: %s\r\n\r\n", wrong[i]);
		expect(head, NULL, RC_WS_CLIENT_WRONG_ACCEPT, wrong[i]);
	}
}

Test(ws_client_check, extensions_and_subprotocols)
{
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", NULL,
	       RC_WS_CLIENT_UNREQUESTED_EXTENSION, "permessage-deflate");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Extensions:\r\n\r\n", V1,
	       RC_WS_CLIENT_UNREQUESTED_EXTENSION, "an empty Extensions field is still one");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol: " V1 "\r\n\r\n", NULL,
	       RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL, "not offered");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol:\r\n\r\n", NULL,
	       RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL, "not offered, empty");
	expect(STATUS_101 GOOD_FIELDS "\r\n", V1, RC_WS_CLIENT_NO_SUBPROTOCOL, "offered, none");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol: " V1 "\r\nSec-WebSocket-Protocol: " V1
	                              "\r\n\r\n",
	       V1, RC_WS_CLIENT_NO_SUBPROTOCOL, "offered, two");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol: ringcast.v2\r\n\r\n", V1,
	       RC_WS_CLIENT_WRONG_SUBPROTOCOL, "another");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol: RINGCAST.V1\r\n\r\n", V1,
	       RC_WS_CLIENT_WRONG_SUBPROTOCOL, "another case");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol: " V1 ", chat\r\n\r\n", V1,
	       RC_WS_CLIENT_WRONG_SUBPROTOCOL, "a list");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Protocol:\r\n\r\n", V1,
	       RC_WS_CLIENT_WRONG_SUBPROTOCOL, "empty");
}

/* With several faults, the first in the contract's order decides. */
Test(ws_client_check, order_of_checks)
{
	expect(STATUS_101 "junk\r\n\r\n", V1, RC_WS_CLIENT_BAD_FIELD, "bad field first");
	expect(STATUS_101 "Sec-WebSocket-Extensions: x\r\n\r\n", V1, RC_WS_CLIENT_NO_UPGRADE,
	       "Upgrade before Connection and the rest");
	expect(STATUS_101 UPGRADE "Sec-WebSocket-Accept: x\r\n\r\n", V1,
	       RC_WS_CLIENT_NO_CONNECTION_UPGRADE, "Connection before the accept");
	expect(STATUS_101 UPGRADE CONNECTION "Sec-WebSocket-Extensions: x\r\n\r\n", V1,
	       RC_WS_CLIENT_NO_ACCEPT, "the accept before extensions");
	expect(STATUS_101 UPGRADE CONNECTION "Sec-WebSocket-Accept: x\r\n"
	                                     "Sec-WebSocket-Extensions: x\r\n\r\n",
	       V1, RC_WS_CLIENT_WRONG_ACCEPT, "the accept's value before extensions");
	expect(STATUS_101 GOOD_FIELDS "Sec-WebSocket-Extensions: x\r\n"
	                              "Sec-WebSocket-Protocol: y\r\n\r\n",
	       NULL, RC_WS_CLIENT_UNREQUESTED_EXTENSION, "extensions before the subprotocol");
	expect("HTTP/1.1 404 Not Found\r\njunk\r\n\r\n", V1, RC_WS_CLIENT_STATUS,
	       "the status before the fields");
}

Test(ws_client_check, where_the_head_ends)
{
	rc_ws_client_result res;
	cr_assert_eq(rc_ws_client_check(NULL, 0, KEY, NULL, &res), RC_WS_CLIENT_NEED_MORE);
	/* A head ending in LF LF never completes. */
	const char *lflf = "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n";
	expect_need_more(lflf, strlen(lflf), NULL, "LF LF");
	/* The first CR LF CR LF ends the head, whatever comes after it. */
	const char *two = RINGCAST_101 "HTTP/1.1 400 Bad Request\r\n\r\n";
	cr_assert_eq(check_guarded(two, strlen(two), NULL, &res), RC_WS_CLIENT_OK);
	cr_assert_eq(res.head_len, strlen(RINGCAST_101));
	/* NUL bytes are bytes: in a field we do not read they change nothing. */
	static const char nul[] = STATUS_101 GOOD_FIELDS "X: a\0b\r\n\r\n";
	cr_assert_eq(check_guarded(nul, sizeof nul - 1, NULL, &res), RC_WS_CLIENT_OK);
	cr_assert_eq(res.head_len, sizeof nul - 1);
}

/* The key is read for its 24 characters only: it may sit at the end of a page, without a NUL. */
Test(ws_client_check, key_without_nul)
{
	rc_guard k = rc_guard_copy(KEY, RC_WS_KEY_LEN);
	rc_guard a = rc_guard_copy(RINGCAST_101, strlen(RINGCAST_101));
	rc_ws_client_result res;
	cr_assert_eq(rc_ws_client_check(a.data, a.len, (const char *)k.data, NULL, &res),
	             RC_WS_CLIENT_OK, "%s", res.reason);
	rc_guard_free(&k);
	rc_guard_free(&a);
}

/* The server's first frames arrive with its 101: head_len says where they begin. */
Test(ws_client_check, frames_after_the_head)
{
	char buf[256];
	size_t n = strlen(RINGCAST_101_V1);
	memcpy(buf, RINGCAST_101_V1, n);
	memcpy(buf + n, "\x81\x02hi\x88\x02\x03\xe8", 8);
	for (size_t k = n; k <= n + 8; k++) {
		rc_ws_client_result res;
		cr_assert_eq(check_guarded(buf, k, V1, &res), RC_WS_CLIENT_OK);
		cr_assert_eq(res.head_len, n);
		cr_assert_eq(res.status, 101);
		cr_assert_str_eq(res.reason, "ok");
	}
}

Test(ws_client_status, names)
{
	static const char *const names[RC_WS_CLIENT_STATUS_COUNT] = {
		"ok",
		"need_more",
		"bad_status_line",
		"status",
		"bad_field",
		"too_many_fields",
		"no_upgrade",
		"no_connection_upgrade",
		"no_accept",
		"accept_failed",
		"wrong_accept",
		"unrequested_extension",
		"unrequested_subprotocol",
		"no_subprotocol",
		"wrong_subprotocol",
	};
	for (int s = 0; s < RC_WS_CLIENT_STATUS_COUNT; s++)
		cr_assert_str_eq(rc_ws_client_status_name((enum rc_ws_client_status)s), names[s]);
	cr_assert_null(rc_ws_client_status_name((enum rc_ws_client_status)RC_WS_CLIENT_STATUS_COUNT));
	cr_assert_null(rc_ws_client_status_name((enum rc_ws_client_status) - 1));
}

/* ---- URLs ---- */

static int url_guarded(const char *url, rc_ws_url *u, const char **why)
{
	rc_guard g = rc_guard_copy(url, strlen(url) + 1); /* the NUL is the last byte */
	int r = rc_ws_url_parse((const char *)g.data, u, why);
	rc_guard_free(&g);
	return r;
}

Test(ws_url, good)
{
	static const struct {
		const char *url, *host, *port, *hostport, *target;
		bool has_path;
	} v[] = {
		{ "ws://127.0.0.1:8080", "127.0.0.1", "8080", "127.0.0.1:8080", "/", false },
		{ "ws://127.0.0.1:8080/ws", "127.0.0.1", "8080", "127.0.0.1:8080", "/ws", true },
		{ "ws://localhost/ws?topics=a,b", "localhost", "80", "localhost", "/ws?topics=a,b", true },
		{ "WS://Example.COM:80/", "Example.COM", "80", "Example.COM:80", "/", true },
		{ "ws://h?x=1", "h", "80", "h", "/?x=1", false },
		{ "ws://h:/p", "h", "80", "h:", "/p", true },
		{ "ws://h:00080", "h", "00080", "h:00080", "/", false },
		{ "ws://h:65535//a/../b?c=%20&d", "h", "65535", "h:65535", "//a/../b?c=%20&d", true },
		{ "ws://[::1]:9000/ws", "::1", "9000", "[::1]:9000", "/ws", true },
		{ "ws://[::1]", "::1", "80", "[::1]", "/", false },
		{ "ws://[fe80::1%eth0]:1/", "fe80::1%eth0", "1", "[fe80::1%eth0]:1", "/", true },
		{ "ws://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", "80", "[::ffff:127.0.0.1]", "/", true },
		{ "ws://a-b.c_d~e:1", "a-b.c_d~e", "1", "a-b.c_d~e:1", "/", false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		rc_ws_url u;
		const char *why = NULL;
		cr_assert_eq(url_guarded(v[i].url, &u, &why), 0, "%s: %s", v[i].url, why);
		cr_assert_str_eq(u.host, v[i].host, "%s", v[i].url);
		cr_assert_str_eq(u.port, v[i].port, "%s", v[i].url);
		cr_assert_str_eq(u.hostport, v[i].hostport, "%s", v[i].url);
		cr_assert_str_eq(u.target, v[i].target, "%s", v[i].url);
		cr_assert_eq(u.has_path, v[i].has_path, "%s", v[i].url);
	}
}

Test(ws_url, bad)
{
	static const struct {
		const char *url, *why;
	} v[] = {
		{ "wss://h/ws", "wss:// (TLS) is not supported" },
		{ "WSS://h/ws", "wss:// (TLS) is not supported" },
		{ "http://h/ws", "must start with ws://" },
		{ "ws:/h", "must start with ws://" },
		{ "", "must start with ws://" },
		{ "ws://", "missing host" },
		{ "ws:///ws", "missing host" },
		{ "ws://:80/ws", "missing host" },
		{ "ws://?x", "missing host" },
		{ "ws://u@h/ws", "user info (USER@HOST) is not supported" },
		{ "ws://u:p@h:1/ws", "user info (USER@HOST) is not supported" },
		{ "ws://[::1/ws", "unterminated [IPv6] address" },
		{ "ws://[::1]x/ws", "expected :PORT after the [IPv6] address" },
		{ "ws://[]/ws", "bad [IPv6] address" },
		{ "ws://[1.2.3.4]/ws", "bad [IPv6] address" },
		{ "ws://[::g]/ws", "bad [IPv6] address" },
		{ "ws://::1:80/ws", "an IPv6 address must be in brackets: ws://[::1]:8080" },
		{ "ws://h o/ws", "bad character in the host name" },
		{ "ws://h\\x/ws", "bad character in the host name" },
		{ "ws://h]/ws", "bad character in the host name" },
		{ "ws://h:0/ws", "PORT must be a number from 1 to 65535" },
		{ "ws://h:65536/ws", "PORT must be a number from 1 to 65535" },
		{ "ws://h:000080/ws", "PORT must be a number from 1 to 65535" },
		{ "ws://h:8o/ws", "PORT must be a number from 1 to 65535" },
		{ "ws://h:-1/ws", "PORT must be a number from 1 to 65535" },
		{ "ws://h:1/w s", "the path must be printable ASCII without spaces or '#'" },
		{ "ws://h:1/ws#top", "the path must be printable ASCII without spaces or '#'" },
		{ "ws://h#top", "the path must be printable ASCII without spaces or '#'" },
		{ "ws://h:1/\x7f", "the path must be printable ASCII without spaces or '#'" },
		{ "ws://h:1/\xc3\xa9", "the path must be printable ASCII without spaces or '#'" },
		{ "ws://h:1/\t", "the path must be printable ASCII without spaces or '#'" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		rc_ws_url u;
		const char *why = NULL;
		cr_assert_eq(url_guarded(v[i].url, &u, &why), -EINVAL, "%s", v[i].url);
		cr_assert_str_eq(why, v[i].why, "%s", v[i].url);
	}
}

Test(ws_url, limits)
{
	char url[4096];
	rc_ws_url u;
	const char *why;
	/* a host of 255 bytes fits, 256 does not */
	for (size_t hn = 250; hn <= 260; hn++) {
		size_t n = (size_t)snprintf(url, sizeof url, "ws://");
		memset(url + n, 'a', hn);
		snprintf(url + n + hn, sizeof url - n - hn, ":65535/");
		int r = url_guarded(url, &u, &why);
		if (hn <= 255) {
			cr_assert_eq(r, 0, "host of %zu: %s", hn, why);
			cr_assert_eq(strlen(u.host), hn);
			cr_assert_eq(strlen(u.hostport), hn + 6);
		} else {
			cr_assert_eq(r, -EINVAL, "host of %zu", hn);
			cr_assert_str_eq(why, "host name longer than 255 bytes");
		}
	}
	/* an IPv6 literal of 255 bytes, with brackets and the longest port: hostport's 263 */
	size_t n = (size_t)snprintf(url, sizeof url, "ws://[");
	for (size_t i = 0; i < 255; i++)
		url[n++] = i % 5 == 4 ? ':' : 'f';
	snprintf(url + n, sizeof url - n, "]:65535");
	cr_assert_eq(url_guarded(url, &u, &why), 0, "%s", why);
	cr_assert_eq(strlen(u.hostport), 263);
	/* a target of 2047 bytes fits, 2048 does not; without a path the added '/' counts */
	for (size_t tn = 2040; tn <= 2050; tn++) {
		n = (size_t)snprintf(url, sizeof url, "ws://h/");
		memset(url + n, 'p', tn - 1);
		url[n + tn - 1] = '\0';
		int r = url_guarded(url, &u, &why);
		cr_assert_eq(r, tn <= 2047 ? 0 : -EINVAL, "target of %zu", tn);
		if (r == 0)
			cr_assert_eq(strlen(u.target), tn);
		else
			cr_assert_str_eq(why, "path too long");
		/* "ws://h?pp..." with one 'p' less: the same target once '/' is put in front */
		url[6] = '?';
		url[n + tn - 2] = '\0';
		r = url_guarded(url, &u, &why);
		cr_assert_eq(r, tn <= 2047 ? 0 : -EINVAL, "query-only target of %zu", tn);
		if (r == 0)
			cr_assert_eq(strlen(u.target), tn);
	}
}
