/* Tests of rc_http: the request head parser, its helpers and the response writers.
 *
 * Every input goes through rc_guard_copy, so that reading one byte past it faults, and through
 * check_parse, which feeds it three ways and wants the same answer each time: whole; at every split
 * point (the first k bytes, then the whole, each in its own guarded copy, so the buffer also moves
 * between calls as the contract allows); and one byte at a time. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_http.h"
#include "rc_test.h"

#define FIELDS_CAP 128

/* A string literal and its length (literals may hold NUL bytes). */
#define LIT(s) s, sizeof(s) - 1

/* A masked text frame "Hello" (RFC 6455 §5.7): the bytes a client sends right after its head. */
#define FRAME "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"

static const rc_http_cfg default_cfg = {
	.header_bytes_max = RC_HTTP_HEADER_BYTES_MAX_DEFAULT,
	.header_fields_max = RC_HTTP_HEADER_FIELDS_MAX_DEFAULT,
};

/* ---- feeding helpers ---- */

/* What a prefix of k bytes may give: for a request that completes, 0 until the head is there, then
 * the head's length; for a refused one, 0 or the refusal (it may be decided before the end). */
static void expect_prefix(ssize_t got, size_t k, ssize_t want, const char *what)
{
	if (want > 0) {
		ssize_t w = (ssize_t)k >= want ? want : 0;
		cr_assert_eq(got, w, "%s: %zu bytes gave %zd, want %zd", what, k, got, w);
	} else {
		cr_assert(got == 0 || got == want, "%s: %zu bytes gave %zd, want 0 or %zd", what, k, got,
		          want);
	}
}

static void expect_same_str(rc_http_str a, rc_http_str b, const char *what, const char *field)
{
	cr_assert(a.off == b.off && a.len == b.len, "%s: %s differs (%u+%u vs %u+%u)", what, field,
	          a.off, a.len, b.off, b.len);
}

/* Two parses of the same input must describe the same request. */
static void expect_same_request(const rc_http_request *a, const rc_http_request *b,
                                const char *what)
{
	expect_same_str(a->method, b->method, what, "method");
	expect_same_str(a->path, b->path, what, "path");
	expect_same_str(a->query, b->query, what, "query");
	cr_assert_eq(a->minor_version, b->minor_version, "%s: minor version", what);
	cr_assert_eq(a->header_count, b->header_count, "%s: header count", what);
	for (uint32_t i = 0; i < a->header_count; i++) {
		expect_same_str(a->headers[i].name, b->headers[i].name, what, "name");
		expect_same_str(a->headers[i].value, b->headers[i].value, what, "value");
	}
}

/* Every slice of a complete request points into buf[0..consumed) at its offset. */
static void expect_slices_inside(const rc_http_request *req, const uint8_t *buf, ssize_t consumed,
                                 const char *what)
{
	const rc_http_str *s[] = { &req->method, &req->path, &req->query };
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq((const void *)s[i]->ptr, (const void *)(buf + s[i]->off), "%s: ptr", what);
		cr_assert_leq(s[i]->off + s[i]->len, (size_t)consumed, "%s: slice outside", what);
	}
	for (uint32_t i = 0; i < req->header_count; i++) {
		const rc_http_header *h = &req->headers[i];
		cr_assert_eq((const void *)h->name.ptr, (const void *)(buf + h->name.off), "%s", what);
		cr_assert_eq((const void *)h->value.ptr, (const void *)(buf + h->value.off), "%s", what);
		cr_assert_leq(h->value.off + h->value.len, (size_t)consumed, "%s", what);
		cr_assert_gt(h->name.len, 0, "%s: empty name", what);
	}
}

/* Feed `in` whole, at every split point and one byte at a time; each must end in `want`. */
static void check_parse(const void *in, size_t n, const rc_http_cfg *cfg, ssize_t want,
                        const char *what)
{
	cr_assert_leq(cfg->header_fields_max, FIELDS_CAP);
	static rc_http_header ref_fields[FIELDS_CAP], fields[FIELDS_CAP];
	rc_http_parser ref, p;

	rc_guard whole = rc_guard_copy(in, n);
	rc_http_parser_init(&ref, cfg, ref_fields);
	ssize_t r = rc_http_parse(&ref, whole.data, whole.len);
	cr_assert_eq(r, want, "%s: whole input gave %zd (%s), want %zd", what, r, ref.reason, want);
	if (want < 0)
		cr_assert_neq(ref.reason[0], '\0', "%s: a refusal without a reason", what);
	else
		expect_slices_inside(&ref.req, whole.data, r, what);
	rc_guard_free(&whole);

	for (size_t k = 0; k < n; k++) {
		rc_http_parser_init(&p, cfg, fields);
		rc_guard g = rc_guard_copy(in, k);
		expect_prefix(rc_http_parse(&p, g.data, g.len), k, want, what);
		rc_guard_free(&g);
		g = rc_guard_copy(in, n);
		r = rc_http_parse(&p, g.data, g.len);
		cr_assert_eq(r, want, "%s: split at %zu gave %zd, want %zd", what, k, r, want);
		if (want > 0) {
			expect_same_request(&p.req, &ref.req, what);
			expect_slices_inside(&p.req, g.data, r, what);
		}
		rc_guard_free(&g);
	}

	rc_http_parser_init(&p, cfg, fields);
	for (size_t k = 1; k <= n; k++) {
		rc_guard g = rc_guard_copy(in, k);
		r = rc_http_parse(&p, g.data, g.len);
		expect_prefix(r, k, want, what);
		if (k == n && want > 0) {
			expect_same_request(&p.req, &ref.req, what);
			expect_slices_inside(&p.req, g.data, r, what);
		}
		rc_guard_free(&g);
	}
	cr_assert_eq(r, want, "%s: byte by byte gave %zd, want %zd", what, r, want);
}

/* One whole, guarded parse whose result the test then inspects; free g afterwards. */
typedef struct parsed {
	rc_http_parser p;
	rc_http_header fields[FIELDS_CAP];
	rc_guard g;
	ssize_t r;
} parsed;

static void parse_whole(parsed *out, const void *in, size_t n)
{
	out->g = rc_guard_copy(in, n);
	rc_http_parser_init(&out->p, &default_cfg, out->fields);
	out->r = rc_http_parse(&out->p, out->g.data, out->g.len);
}

static bool str_is(rc_http_str s, const char *z)
{
	return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

static void expect_str(rc_http_str s, const char *want, const char *what)
{
	cr_assert(str_is(s, want), "%s: got \"%.*s\", want \"%s\"", what, (int)s.len, s.ptr, want);
}

static void expect_header(const rc_http_request *req, const char *name, const char *value)
{
	const rc_http_header *h = rc_http_header_find(req, name, NULL);
	cr_assert_not_null(h, "no %s", name);
	expect_str(h->value, value, name);
}

/* ---- what real clients send ---- */

#define CHROMIUM_HEAD \
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

#define FIREFOX_HEAD \
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

#define PYTHON_HEAD \
	"GET /feed HTTP/1.1\r\n" \
	"Host: 127.0.0.1:8080\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: Jv2WqQ6LyPZSz0w0VbT/0A==\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" \
	"User-Agent: Python/3.11 websockets/12.0\r\n" \
	"\r\n"

#define NODE_HEAD \
	"GET / HTTP/1.1\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Key: b9Vn+ZRXtfUMtB3zEY2Nrg==\r\n" \
	"Connection: Upgrade\r\n" \
	"Upgrade: websocket\r\n" \
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" \
	"Host: localhost:8080\r\n" \
	"\r\n"

#define CURL_WS_HEAD \
	"GET /ws HTTP/1.1\r\n" \
	"Host: localhost:8080\r\n" \
	"User-Agent: curl/8.5.0\r\n" \
	"Accept: */*\r\n" \
	"Upgrade: websocket\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" \
	"Connection: Upgrade\r\n" \
	"\r\n"

#define CURL_HEALTHZ_HEAD \
	"GET /healthz HTTP/1.1\r\n" \
	"Host: localhost:8080\r\n" \
	"User-Agent: curl/7.88.1\r\n" \
	"Accept: */*\r\n" \
	"\r\n"

/* A real request with a frame after it: the consumed count must stop right before the frame. */
static void check_real(const char *head, const char *what)
{
	size_t head_len = strlen(head);
	uint8_t in[2048];
	cr_assert_lt(head_len + sizeof FRAME, sizeof in);
	memcpy(in, head, head_len);
	memcpy(in + head_len, FRAME, sizeof FRAME - 1);
	check_parse(in, head_len + sizeof FRAME - 1, &default_cfg, (ssize_t)head_len, what);
}

Test(http_real, chromium)
{
	check_real(CHROMIUM_HEAD, "chromium");
	parsed x;
	parse_whole(&x, LIT(CHROMIUM_HEAD FRAME));
	const rc_http_request *req = &x.p.req;
	cr_assert_eq(x.r, (ssize_t)strlen(CHROMIUM_HEAD));
	cr_assert_eq(x.g.data[x.r], 0x81, "the frame follows the head");
	expect_str(req->method, "GET", "method");
	expect_str(req->path, "/chat", "path");
	expect_str(req->query, "", "query");
	cr_assert_eq(req->minor_version, 1);
	cr_assert_eq(req->header_count, 14);
	expect_str(req->headers[0].name, "Host", "first name");
	expect_str(req->headers[13].name, "Sec-WebSocket-Protocol", "last name");
	expect_header(req, "sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw==");
	expect_header(req, "SEC-WEBSOCKET-EXTENSIONS", "permessage-deflate; client_max_window_bits");
	expect_header(req, "user-agent",
	              "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
	              "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
	expect_header(req, "cookie", "session=4f1c2a; theme=dark");
	cr_assert(rc_http_header_has_token(req, "connection", "upgrade"));
	cr_assert(rc_http_header_has_token(req, "upgrade", "websocket"));
	rc_guard_free(&x.g);
}

Test(http_real, firefox)
{
	check_real(FIREFOX_HEAD, "firefox");
	parsed x;
	parse_whole(&x, LIT(FIREFOX_HEAD FRAME));
	const rc_http_request *req = &x.p.req;
	cr_assert_eq(x.r, (ssize_t)strlen(FIREFOX_HEAD));
	expect_str(req->path, "/ws", "path");
	expect_str(req->query, "topic=btc-usd", "query");
	cr_assert_eq(req->header_count, 18);
	expect_header(req, "connection", "keep-alive, Upgrade");
	cr_assert(rc_http_header_has_token(req, "Connection", "upgrade"));
	cr_assert(rc_http_header_has_token(req, "Connection", "keep-alive"));
	cr_assert_not(rc_http_header_has_token(req, "Connection", "close"));
	expect_header(req, "sec-fetch-mode", "websocket");
	rc_guard_free(&x.g);
}

Test(http_real, python_websockets)
{
	check_real(PYTHON_HEAD, "python websockets");
	parsed x;
	parse_whole(&x, LIT(PYTHON_HEAD FRAME));
	cr_assert_eq(x.r, (ssize_t)strlen(PYTHON_HEAD));
	expect_str(x.p.req.path, "/feed", "path");
	cr_assert_eq(x.p.req.header_count, 7);
	expect_header(&x.p.req, "host", "127.0.0.1:8080");
	cr_assert_null(rc_http_header_find(&x.p.req, "origin", NULL), "no Origin from Python");
	rc_guard_free(&x.g);
}

Test(http_real, node_ws)
{
	check_real(NODE_HEAD, "node ws");
	parsed x;
	parse_whole(&x, LIT(NODE_HEAD FRAME));
	cr_assert_eq(x.r, (ssize_t)strlen(NODE_HEAD));
	expect_str(x.p.req.path, "/", "path");
	cr_assert_eq(x.p.req.header_count, 6);
	expect_header(&x.p.req, "Host", "localhost:8080");
	rc_guard_free(&x.g);
}

Test(http_real, curl)
{
	check_real(CURL_WS_HEAD, "curl ws");
	check_real(CURL_HEALTHZ_HEAD, "curl healthz");
	parsed x;
	parse_whole(&x, LIT(CURL_HEALTHZ_HEAD));
	cr_assert_eq(x.r, (ssize_t)strlen(CURL_HEALTHZ_HEAD));
	expect_str(x.p.req.path, "/healthz", "path");
	cr_assert_eq(x.p.req.header_count, 3);
	cr_assert_null(rc_http_header_find(&x.p.req, "upgrade", NULL));
	rc_guard_free(&x.g);
}

/* The bytes after the head may be anything, NUL included: they are not the parser's. */
Test(http_real, bytes_after_head_are_not_parsed)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n\0\r\n\x01 junk";
	check_parse(in, sizeof in - 1, &default_cfg, 27, "NUL after head");
}

/* ---- leniency: what the parser accepts although a strict reading would not ---- */

Test(http_accept, lf_only_line_ends)
{
	static const char in[] = "GET /x HTTP/1.1\nHost: a\nUpgrade: websocket\n\n" FRAME;
	check_parse(LIT(in), &default_cfg, 44, "LF only");
	parsed x;
	parse_whole(&x, LIT(in));
	cr_assert_eq(x.p.req.header_count, 2);
	expect_header(&x.p.req, "upgrade", "websocket");
	rc_guard_free(&x.g);
}

Test(http_accept, mixed_line_ends)
{
	static const char in[] = "GET /x HTTP/1.1\r\nHost: a\nX: b\r\n\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "mixed CRLF and LF");
}

Test(http_accept, whitespace_in_request_line)
{
	static const char in[] = "GET  \t /a/b?c=d   HTTP/1.1 \t \r\nHost: a\r\n\r\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "spaces in request line");
	parsed x;
	parse_whole(&x, LIT(in));
	expect_str(x.p.req.path, "/a/b", "path");
	expect_str(x.p.req.query, "c=d", "query");
	rc_guard_free(&x.g);
}

Test(http_accept, ows_around_values_is_trimmed)
{
	static const char in[] = "GET / HTTP/1.1\r\n"
	                         "A:b\r\n"
	                         "B: \t x  y \t \r\n"
	                         "C:\t\r\n"
	                         "D:\r\n"
	                         "E:     \n"
	                         "F: tab\tinside\r\n"
	                         "G: caf\xc3\xa9\r\n"
	                         "\r\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "OWS");
	parsed x;
	parse_whole(&x, LIT(in));
	const rc_http_request *req = &x.p.req;
	cr_assert_eq(req->header_count, 7);
	expect_header(req, "a", "b");
	expect_header(req, "b", "x  y");
	expect_header(req, "c", "");
	expect_header(req, "d", "");
	expect_header(req, "e", "");
	expect_header(req, "f", "tab\tinside");
	expect_header(req, "g", "caf\xc3\xa9");
	rc_guard_free(&x.g);
}

Test(http_accept, names_in_any_case)
{
	static const char in[] = "GET / HTTP/1.1\r\nhOsT: a\r\nX-Odd_Name.~!#$%&'*+^`|: v\r\n\r\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "tchar names");
	parsed x;
	parse_whole(&x, LIT(in));
	expect_header(&x.p.req, "HOST", "a");
	expect_header(&x.p.req, "x-odd_name.~!#$%&'*+^`|", "v");
	expect_str(x.p.req.headers[0].name, "hOsT", "name kept as sent");
	rc_guard_free(&x.g);
}

Test(http_accept, empty_lines_before_request)
{
	static const char in[] = "\r\n\nGET / HTTP/1.1\r\n\r\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "leading empty lines");
	parsed x;
	parse_whole(&x, LIT(in));
	expect_str(x.p.req.method, "GET", "method");
	cr_assert_eq(x.p.req.method.off, 3);
	cr_assert_eq(x.p.req.header_count, 0);
	rc_guard_free(&x.g);
}

Test(http_accept, http_1_0)
{
	static const char in[] = "GET /readyz HTTP/1.0\r\n\r\n";
	check_parse(LIT(in), &default_cfg, sizeof in - 1, "HTTP/1.0");
	parsed x;
	parse_whole(&x, LIT(in));
	cr_assert_eq(x.p.req.minor_version, 0);
	expect_str(x.p.req.path, "/readyz", "path");
	rc_guard_free(&x.g);
}

Test(http_accept, query_forms)
{
	static const struct {
		const char *in, *path, *query;
	} v[] = {
		{ "GET /a? HTTP/1.1\r\n\r\n", "/a", "" },
		{ "GET /a?b?c HTTP/1.1\r\n\r\n", "/a", "b?c" },
		{ "GET /?x=1&y=%20 HTTP/1.1\r\n\r\n", "/", "x=1&y=%20" },
		{ "GET //double HTTP/1.1\r\n\r\n", "//double", "" },
		{ "GET /metrics HTTP/1.1\r\n\r\n", "/metrics", "" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		check_parse(v[i].in, strlen(v[i].in), &default_cfg, (ssize_t)strlen(v[i].in), v[i].in);
		parsed x;
		parse_whole(&x, v[i].in, strlen(v[i].in));
		expect_str(x.p.req.path, v[i].path, v[i].in);
		expect_str(x.p.req.query, v[i].query, v[i].in);
		rc_guard_free(&x.g);
	}
}

/* The result is sticky, and the pointers follow the buffer of the latest call. */
Test(http_accept, result_is_sticky)
{
	static const char in[] = "GET /s HTTP/1.1\r\nHost: a\r\n\r\n" FRAME;
	rc_http_header fields[4];
	rc_http_cfg cfg = { .header_bytes_max = 8192, .header_fields_max = 4 };
	rc_http_parser p;
	rc_http_parser_init(&p, &cfg, fields);
	rc_guard a = rc_guard_copy(in, 28);
	cr_assert_eq(rc_http_parse(&p, a.data, a.len), 28);
	rc_guard b = rc_guard_copy(LIT(in));
	cr_assert_eq(rc_http_parse(&p, b.data, b.len), 28);
	cr_assert_eq((const void *)p.req.path.ptr, (const void *)(b.data + 4));
	cr_assert_eq((const void *)fields[0].value.ptr, (const void *)(b.data + 23));
	rc_guard_free(&a);
	rc_guard_free(&b);

	rc_http_parser_init(&p, &cfg, fields);
	a = rc_guard_copy(LIT("POST / HTTP/1.1\r\n"));
	cr_assert_eq(rc_http_parse(&p, a.data, a.len), -405);
	cr_assert_eq(rc_http_parse(&p, a.data, a.len), -405);
	rc_guard_free(&a);
}

/* ---- refusals ---- */

typedef struct refusal {
	const char *what;
	const char *in;
	size_t len;
	int status;
} refusal;

#define REFUSE(what, lit, status) \
	{ \
		what, lit, sizeof(lit) - 1, status \
	}

static const refusal refusals[] = {
	/* NUL anywhere */
	REFUSE("NUL first", "\0GET / HTTP/1.1\r\n\r\n", 400),
	REFUSE("NUL in method", "GE\0T / HTTP/1.1\r\n\r\n", 400),
	REFUSE("NUL in path", "GET /a\0b HTTP/1.1\r\n\r\n", 400),
	REFUSE("NUL in version", "GET / HTTP/1.1\0\r\n\r\n", 400),
	REFUSE("NUL in name", "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 400),
	REFUSE("NUL in value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400),
	REFUSE("NUL in OWS", "GET / HTTP/1.1\r\nHost: \0\r\n\r\n", 400),
	REFUSE("NUL at line start", "GET / HTTP/1.1\r\nHost: a\r\n\0\r\n", 400),
	/* a CR not followed by LF */
	REFUSE("bare CR before request", "\rGET / HTTP/1.1\r\n\r\n", 400),
	REFUSE("bare CR after version", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
	REFUSE("bare CR in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400),
	REFUSE("CR CR LF", "GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 400),
	REFUSE("bare CR at line start", "GET / HTTP/1.1\r\nX: a\r\n\rY: b\r\n\r\n", 400),
	REFUSE("bare CR in name", "GET / HTTP/1.1\r\nX\r: a\r\n\r\n", 400),
	/* obs-fold */
	REFUSE("obs-fold SP", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
	REFUSE("obs-fold HT", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400),
	REFUSE("whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
	/* field names */
	REFUSE("SP before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	REFUSE("HT before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
	REFUSE("empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
	REFUSE("no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400),
	REFUSE("no colon, LF", "GET / HTTP/1.1\nHost\n\n", 400),
	REFUSE("space in name", "GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400),
	REFUSE("paren in name", "GET / HTTP/1.1\r\nX(y): a\r\n\r\n", 400),
	REFUSE("slash in name", "GET / HTTP/1.1\r\nX/Y: a\r\n\r\n", 400),
	REFUSE("quote in name", "GET / HTTP/1.1\r\nX\"Y: a\r\n\r\n", 400),
	REFUSE("at in name", "GET / HTTP/1.1\r\n@X: a\r\n\r\n", 400),
	REFUSE("UTF-8 in name", "GET / HTTP/1.1\r\nH\xc3\xb6: a\r\n\r\n", 400),
	REFUSE("DEL in name", "GET / HTTP/1.1\r\nX\x7f: a\r\n\r\n", 400),
	/* control characters in values (HT is fine) */
	REFUSE("SOH in value", "GET / HTTP/1.1\r\nX: a\x01 b\r\n\r\n", 400),
	REFUSE("ESC in value", "GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n", 400),
	REFUSE("DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400),
	REFUSE("VT in value", "GET / HTTP/1.1\r\nX: a\x0b b\r\n\r\n", 400),
	REFUSE("FF in value", "GET / HTTP/1.1\r\nX: a\x0c\r\n\r\n", 400),
	/* request-target not origin-form, or bad bytes in it */
	REFUSE("absolute-form", "GET http://a/ HTTP/1.1\r\n\r\n", 400),
	REFUSE("asterisk-form", "GET * HTTP/1.1\r\n\r\n", 400),
	REFUSE("authority-form", "GET a:443 HTTP/1.1\r\n\r\n", 400),
	REFUSE("relative path", "GET a/b HTTP/1.1\r\n\r\n", 400),
	REFUSE("query only", "GET ?a HTTP/1.1\r\n\r\n", 400),
	REFUSE("DEL in path", "GET /a\x7f HTTP/1.1\r\n\r\n", 400),
	REFUSE("UTF-8 in path", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
	REFUSE("control in query", "GET /a?b\x01 HTTP/1.1\r\n\r\n", 400),
	/* bodies */
	REFUSE("Content-Length", "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),
	REFUSE("content-length", "GET / HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello", 400),
	REFUSE("Transfer-Encoding", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	REFUSE("TRANSFER-ENCODING", "GET / HTTP/1.1\r\nTRANSFER-ENCODING: gzip\r\n\r\n", 400),
	/* duplicates */
	REFUSE("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	REFUSE("two host, same value", "GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n", 400),
	REFUSE("two keys",
	       "GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	       "sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n",
	       400),
	REFUSE("two versions",
	       "GET / HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n"
	       "Sec-WebSocket-Version: 13\r\n\r\n",
	       400),
	/* request line syntax */
	REFUSE("no version", "GET /\r\n\r\n", 400),
	REFUSE("no target", "GET\r\n\r\n", 400),
	REFUSE("method then CR", "GET \r\n\r\n", 400),
	REFUSE("leading space", " GET / HTTP/1.1\r\n\r\n", 400),
	REFUSE("junk after version", "GET / HTTP/1.1 x\r\n\r\n", 400),
	REFUSE("version 1.10", "GET / HTTP/1.10\r\n\r\n", 400),
	REFUSE("version 11.1", "GET / HTTP/11.1\r\n\r\n", 400),
	REFUSE("lowercase http", "GET / http/1.1\r\n\r\n", 400),
	REFUSE("HTTP/1", "GET / HTTP/1\r\n\r\n", 400),
	REFUSE("HTTP1.1", "GET / HTTP1.1\r\n\r\n", 400),
	REFUSE("HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", 400),
	REFUSE("HTTP/2", "GET / HTTP/2\r\n\r\n", 400),
	REFUSE("TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
	/* methods */
	REFUSE("POST with body", "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 405),
	REFUSE("HEAD", "HEAD / HTTP/1.1\r\n\r\n", 405),
	REFUSE("lowercase get", "get / HTTP/1.1\r\n\r\n", 405),
	REFUSE("GETS", "GETS / HTTP/1.1\r\n\r\n", 405),
	REFUSE("OPTIONS", "OPTIONS * HTTP/1.1\r\n\r\n", 405),
	REFUSE("CONNECT", "CONNECT a:443 HTTP/1.1\r\n\r\n", 405),
	REFUSE("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 405),
	/* versions */
	REFUSE("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505),
	REFUSE("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	REFUSE("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505),
	REFUSE("HTTP/3.0", "GET / HTTP/3.0 \r\n\r\n", 505),
	REFUSE("HTTP/9.9 LF", "GET / HTTP/9.9\n\n", 505),
};

Test(http_refuse, every_refusal)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const refusal *v = &refusals[i];
		check_parse(v->in, v->len, &default_cfg, -v->status, v->what);
	}
}

/* The method is refused as soon as it ends, before the rest of the head is there. */
Test(http_refuse, method_decided_early)
{
	rc_http_header fields[4];
	rc_http_cfg cfg = { .header_bytes_max = 8192, .header_fields_max = 4 };
	rc_http_parser p;
	rc_http_parser_init(&p, &cfg, fields);
	rc_guard g = rc_guard_copy(LIT("POST"));
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), 0);
	rc_guard_free(&g);
	g = rc_guard_copy(LIT("POST "));
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), -405);
	cr_assert(strstr(p.reason, "GET"), "the reason names the one method served: %s", p.reason);
	rc_guard_free(&g);
}

/* ---- limits ---- */

/* A request of exactly `total` bytes: the request line, Host and one padding field. */
static size_t padded_request(char *out, size_t total)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	static const char tail[] = "\r\n\r\n";
	size_t fixed = sizeof head - 1 + sizeof tail - 1;
	cr_assert_gt(total, fixed);
	memcpy(out, head, sizeof head - 1);
	memset(out + sizeof head - 1, 'p', total - fixed);
	memcpy(out + total - (sizeof tail - 1), tail, sizeof tail - 1);
	return total;
}

Test(http_limits, bytes_default)
{
	static char in[RC_HTTP_HEADER_BYTES_MAX_DEFAULT + 64];
	size_t n = padded_request(in, RC_HTTP_HEADER_BYTES_MAX_DEFAULT);
	check_parse(in, n, &default_cfg, (ssize_t)n, "exactly 8192");

	/* At the limit with frames after it: still fine, the head ended in time. */
	memcpy(in + n, FRAME, sizeof FRAME - 1);
	check_parse(in, n + sizeof FRAME - 1, &default_cfg, (ssize_t)n, "8192 and a frame");

	n = padded_request(in, RC_HTTP_HEADER_BYTES_MAX_DEFAULT + 1);
	check_parse(in, n, &default_cfg, -431, "8193");
}

Test(http_limits, bytes_configured)
{
	rc_http_cfg cfg = { .header_bytes_max = 64, .header_fields_max = 100 };
	char in[128];
	size_t n = padded_request(in, 64);
	check_parse(in, n, &cfg, 64, "exactly 64");
	n = padded_request(in, 65);
	check_parse(in, n, &cfg, -431, "65");

	/* The request line alone can be too long. */
	static const char line[] =
	        "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
	        "HTTP/1.1\r\n\r\n";
	check_parse(LIT(line), &cfg, -431, "long request line");
}

/* "GET / HTTP/1.1\r\n" and `fields` fields of 8 bytes each, then the empty line. */
static size_t many_fields(char *out, size_t fields)
{
	size_t n = 0;
	memcpy(out, "GET / HTTP/1.1\r\n", 16);
	n += 16;
	for (size_t i = 0; i < fields; i++) {
		memcpy(out + n, "X-F: v\r\n", 8);
		n += 8;
	}
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

Test(http_limits, fields_default)
{
	static char in[16 + 8 * 102 + 2];
	size_t n = many_fields(in, 100);
	check_parse(in, n, &default_cfg, (ssize_t)n, "100 fields");
	n = many_fields(in, 101);
	check_parse(in, n, &default_cfg, -431, "101 fields");

	/* Decided when the 101st field starts, not when the head ends. */
	size_t start = 16 + 8 * 100;
	rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
	rc_http_parser p;
	rc_http_parser_init(&p, &default_cfg, fields);
	rc_guard g = rc_guard_copy(in, start);
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), 0);
	rc_guard_free(&g);
	g = rc_guard_copy(in, start + 1);
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), -431);
	rc_guard_free(&g);
}

Test(http_limits, fields_configured)
{
	rc_http_cfg cfg = { .header_bytes_max = 8192, .header_fields_max = 3 };
	char in[64];
	size_t n = many_fields(in, 3);
	check_parse(in, n, &cfg, (ssize_t)n, "3 fields");
	n = many_fields(in, 4);
	check_parse(in, n, &cfg, -431, "4 fields");
}

/* An endless head is refused once it is one byte over the limit, not when (never) it ends. */
Test(http_limits, endless_header)
{
	static char in[100000];
	static const char head[] = "GET / HTTP/1.1\r\nX-Endless: ";
	memcpy(in, head, sizeof head - 1);
	memset(in + sizeof head - 1, 'e', sizeof in - (sizeof head - 1));

	rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
	rc_http_parser p;
	rc_http_parser_init(&p, &default_cfg, fields);
	size_t max = RC_HTTP_HEADER_BYTES_MAX_DEFAULT;
	rc_guard g = rc_guard_copy(in, max);
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), 0, "at the limit: not yet");
	rc_guard_free(&g);
	g = rc_guard_copy(in, max + 1);
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), -431, "one over: refused");
	rc_guard_free(&g);

	check_parse(in, max + 1, &default_cfg, -431, "endless value");
	rc_http_parser_init(&p, &default_cfg, fields);
	g = rc_guard_copy(in, sizeof in);
	cr_assert_eq(rc_http_parse(&p, g.data, g.len), -431, "all at once");
	rc_guard_free(&g);

	/* The same with an endless request-target, and an endless run of empty lines. */
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', max);
	check_parse(in, max + 1, &default_cfg, -431, "endless target");
	memset(in, '\n', max + 1);
	check_parse(in, max + 1, &default_cfg, -431, "endless empty lines");
}

/* ---- helpers ---- */

Test(http_helpers, find_and_count)
{
	static const char in[] = "GET / HTTP/1.1\r\nA: 1\r\nb: 2\r\nA: 3\r\na: 4\r\n\r\n";
	parsed x;
	parse_whole(&x, LIT(in));
	cr_assert_gt(x.r, 0);
	const rc_http_request *req = &x.p.req;
	const char *want[] = { "1", "3", "4" };
	size_t i = 0;
	for (const rc_http_header *h = rc_http_header_find(req, "a", NULL); h;
	     h = rc_http_header_find(req, "a", h))
		expect_str(h->value, want[i++], "A in order");
	cr_assert_eq(i, 3);
	cr_assert_eq(rc_http_header_count(req, "A"), 3);
	cr_assert_eq(rc_http_header_count(req, "B"), 1);
	cr_assert_eq(rc_http_header_count(req, "c"), 0);
	cr_assert_null(rc_http_header_find(req, "ab", NULL));
	cr_assert_null(rc_http_header_find(req, "", NULL));
	rc_guard_free(&x.g);
}

Test(http_helpers, token_lists)
{
	static const char in[] = "GET / HTTP/1.1\r\n"
	                         "Connection: keep-alive, Upgrade\r\n"
	                         "C2: keep-alive\r\n"
	                         "C2: upgrade\r\n"
	                         "C3: ,, \t UPGRADE\t ,\r\n"
	                         "C4: upgrades, up grade, xupgrade,upgrad\r\n"
	                         "C5:\r\n"
	                         "C6: a,b ,  c\t,d\r\n"
	                         "\r\n";
	parsed x;
	parse_whole(&x, LIT(in));
	cr_assert_gt(x.r, 0);
	const rc_http_request *req = &x.p.req;
	cr_assert(rc_http_header_has_token(req, "connection", "upgrade"));
	cr_assert(rc_http_header_has_token(req, "connection", "KEEP-ALIVE"));
	cr_assert(rc_http_header_has_token(req, "c2", "upgrade"), "on the second line");
	cr_assert(rc_http_header_has_token(req, "c2", "keep-alive"));
	cr_assert(rc_http_header_has_token(req, "c3", "upgrade"), "empty items and OWS");
	cr_assert_not(rc_http_header_has_token(req, "c4", "upgrade"), "only whole items");
	cr_assert_not(rc_http_header_has_token(req, "c5", "upgrade"));
	cr_assert_not(rc_http_header_has_token(req, "missing", "upgrade"));

	const rc_http_header *h = rc_http_header_find(req, "c6", NULL);
	const char *want[] = { "a", "b", "c", "d" };
	uint32_t cur = 0;
	rc_http_str item;
	size_t i = 0;
	while (rc_http_list_next(h->value, &cur, &item)) {
		cr_assert_lt(i, 4);
		expect_str(item, want[i], "list item");
		cr_assert_eq((const void *)item.ptr, (const void *)(x.g.data + item.off));
		i++;
	}
	cr_assert_eq(i, 4);
	cr_assert_not(rc_http_list_next(h->value, &cur, &item), "stays at the end");
	rc_guard_free(&x.g);
}

Test(http_helpers, str_eq_nocase)
{
	rc_http_str s = { .ptr = "WebSocket", .len = 9 };
	cr_assert(rc_http_str_eq_nocase(s, "websocket"));
	cr_assert(rc_http_str_eq_nocase(s, "WEBSOCKET"));
	cr_assert_not(rc_http_str_eq_nocase(s, "websockets"));
	cr_assert_not(rc_http_str_eq_nocase(s, "websocke"));
	/* Case folding is ASCII only: '@' (0x40) and '`' (0x60) differ by 0x20 but are not letters. */
	rc_http_str at = { .ptr = "@", .len = 1 };
	cr_assert_not(rc_http_str_eq_nocase(at, "`"));
}

/* ---- responses ---- */

Test(http_response, general)
{
	char out[256];
	static const char body[] = "ok\n";
	size_t n = rc_http_response(out, sizeof out, 200, "text/plain; version=0.0.4",
	                            "Cache-Control: no-store\r\n", body, 3);
	static const char want[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Type: text/plain; version=0.0.4\r\n"
	                           "Content-Length: 3\r\n"
	                           "Connection: close\r\n"
	                           "Cache-Control: no-store\r\n"
	                           "\r\n"
	                           "ok\n";
	cr_assert_eq(n, sizeof want - 1);
	cr_assert_eq(memcmp(out, want, n), 0, "got %.*s", (int)n, out);

	/* Every smaller buffer is refused whole. */
	for (size_t cap = 0; cap < sizeof want - 1; cap++)
		cr_assert_eq(rc_http_response(out, cap, 200, "text/plain; version=0.0.4",
		                              "Cache-Control: no-store\r\n", body, 3),
		             0, "cap %zu", cap);

	n = rc_http_response(out, sizeof out, 204, NULL, NULL, NULL, 0);
	static const char nc[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	cr_assert_eq(n, sizeof nc - 1);
	cr_assert_eq(memcmp(out, nc, n), 0);

	n = rc_http_response(out, sizeof out, 503, NULL, NULL, NULL, 0);
	static const char su[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
	                         "Connection: close\r\n\r\n";
	cr_assert_eq(n, sizeof su - 1);
	cr_assert_eq(memcmp(out, su, n), 0);
}

Test(http_response, errors)
{
	char out[256];
	size_t n = rc_http_error_response(out, sizeof out, 405, NULL, "only GET");
	static const char want[] = "HTTP/1.1 405 Method Not Allowed\r\n"
	                           "Content-Type: text/plain\r\n"
	                           "Content-Length: 9\r\n"
	                           "Connection: close\r\n"
	                           "Allow: GET\r\n"
	                           "\r\n"
	                           "only GET\n";
	cr_assert_eq(n, sizeof want - 1);
	cr_assert_eq(memcmp(out, want, n), 0, "got %.*s", (int)n, out);
	for (size_t cap = 0; cap < sizeof want - 1; cap++)
		cr_assert_eq(rc_http_error_response(out, cap, 405, NULL, "only GET"), 0);

	n = rc_http_error_response(out, sizeof out, 503, "X-A: b\r\n", NULL);
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	                           "Content-Type: text/plain\r\n"
	                           "Content-Length: 20\r\n"
	                           "Connection: close\r\n"
	                           "Retry-After: 1\r\n"
	                           "X-A: b\r\n"
	                           "\r\n"
	                           "Service Unavailable\n";
	cr_assert_eq(n, sizeof busy - 1);
	cr_assert_eq(memcmp(out, busy, n), 0, "got %.*s", (int)n, out);

	n = rc_http_error_response(out, sizeof out, 431, NULL, "header block too large");
	cr_assert_gt(n, 0);
	cr_assert(memmem(out, n, "431 Request Header Fields Too Large\r\n", 37));
	cr_assert_null(memmem(out, n, "Allow:", 6));
	cr_assert_null(memmem(out, n, "Retry-After:", 12));
}

Test(http_response, status_text)
{
	static const struct {
		int status;
		const char *text;
	} v[] = {
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 204, "No Content" },
		{ 400, "Bad Request" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 426, "Upgrade Required" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
		{ 299, "Unknown" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_assert_str_eq(rc_http_status_text(v[i].status), v[i].text);
}

/* ---- byte classes ---- */

/* The parser skips runs of name, value, path and query bytes through a table; each of the 256
 * bytes, put in each of those places, must be accepted or refused as RFC 9110/9112 say, written out
 * here independently of the parser. */
static bool spec_tchar(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", (int)c) != NULL);
}

static ssize_t parse_once(const char *in, size_t n, rc_http_request *out)
{
	rc_http_header fields[8];
	rc_http_cfg cfg = { .header_bytes_max = 8192, .header_fields_max = 8 };
	rc_http_parser p;
	rc_http_parser_init(&p, &cfg, fields);
	rc_guard g = rc_guard_copy(in, n);
	ssize_t r = rc_http_parse(&p, g.data, g.len);
	if (out) {
		*out = p.req;
		out->headers = NULL; /* the fields die with this frame; only counts are compared */
	}
	rc_guard_free(&g);
	return r;
}

Test(http_bytes, every_byte_in_every_run)
{
	char in[128];
	for (unsigned c = 0; c < 256; c++) {
		rc_http_request req;
		int n;
		/* inside a field name */
		n = snprintf(in, sizeof in, "GET / HTTP/1.1\r\nX-A%cB: v\r\n\r\n", c ? (int)c : '@');
		in[19] = (char)c;
		ssize_t r = parse_once(in, (size_t)n, NULL);
		if (spec_tchar(c) || c == ':') /* a ':' ends the name: "X-A" with value "B: v" */
			cr_assert_eq(r, n, "name byte %02x refused (%zd)", c, r);
		else
			cr_assert(r < 0, "name byte %02x accepted", c);

		/* inside a value, between two visible bytes */
		n = snprintf(in, sizeof in, "GET / HTTP/1.1\r\nX-A: a%cb\r\n\r\n", '@');
		in[22] = (char)c;
		r = parse_once(in, (size_t)n, &req);
		bool value_ok = c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
		if (value_ok)
			cr_assert_eq(r, n, "value byte %02x refused (%zd)", c, r);
		else
			cr_assert(r < 0, "value byte %02x accepted", c);

		/* inside the path, and inside the query */
		for (int q = 0; q < 2; q++) {
			n = snprintf(in, sizeof in,
			             q ? "GET /p?a%cb HTTP/1.1\r\n\r\n" : "GET /a%cb HTTP/1.1\r\n\r\n", '@');
			in[q ? 8 : 6] = (char)c;
			r = parse_once(in, (size_t)n, &req);
			if (c > 0x20 && c < 0x7f) {
				cr_assert_eq(r, n, "target byte %02x refused (%zd)", c, r);
				if (c == '?' && !q) {
					cr_assert_eq(req.path.len, 2, "'?' must end the path");
					cr_assert_eq(req.query.len, 1);
				} else {
					cr_assert_eq(req.path.len, q ? 2u : 4u, "path byte %02x", c);
					cr_assert_eq(req.query.len, q ? 3u : 0u, "query byte %02x", c);
				}
			} else if (c != ' ' && c != '\t') {
				cr_assert(r < 0, "target byte %02x accepted", c);
			}
		}
	}
}
