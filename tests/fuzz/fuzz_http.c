/* Fuzz target for rc_http and rc_handshake.
 *
 * Each input is parsed whole, then again in pieces whose split points come from the input itself
 * (so libFuzzer explores them too), each piece in its own exact-size heap copy so that ASan catches
 * a read past the bytes fed. Both must give the same result and consumed count, and every prefix
 * must give 0 or (for a refusal) the same refusal. On success every slice lies inside the head,
 * names are tchars and values hold no CR, LF or NUL and no outer OWS; then the handshake check runs
 * and, if it accepts, the accept value is 28 base64 characters equal to rc_ws_accept of the key,
 * and the 101 and error responses can be written. An input starting with LF (an empty line, which
 * the parser skips) is parsed with small limits, so that the 431 paths are reached by short inputs. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_handshake.h"
#include "rc_http.h"

#define FIELDS_CAP RC_HTTP_HEADER_FIELDS_MAX_DEFAULT

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http: %s\n", what);
		abort();
	}
}

static bool is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_b64(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
	       c == '/';
}

static void check_slice(rc_http_str s, const uint8_t *buf, ssize_t consumed)
{
	check(s.ptr == (const char *)buf + s.off, "slice pointer and offset disagree");
	check((size_t)s.off + s.len <= (size_t)consumed, "slice past the head");
}

static void check_request(const rc_http_request *req, const uint8_t *buf, ssize_t consumed)
{
	check(req->method.len == 3 && memcmp(req->method.ptr, "GET", 3) == 0, "method not GET");
	check_slice(req->method, buf, consumed);
	check_slice(req->path, buf, consumed);
	check_slice(req->query, buf, consumed);
	check(req->path.len > 0 && req->path.ptr[0] == '/', "path not origin-form");
	check(req->minor_version <= 1, "minor version");
	check(buf[consumed - 1] == '\n', "head does not end in LF");
	for (uint32_t i = 0; i < req->header_count; i++) {
		const rc_http_header *h = &req->headers[i];
		check_slice(h->name, buf, consumed);
		check_slice(h->value, buf, consumed);
		check(h->name.len > 0, "empty name");
		for (uint32_t j = 0; j < h->name.len; j++)
			check(is_tchar((uint8_t)h->name.ptr[j]), "name byte not a tchar");
		for (uint32_t j = 0; j < h->value.len; j++) {
			uint8_t c = (uint8_t)h->value.ptr[j];
			check(c != '\r' && c != '\n' && c != 0, "CR, LF or NUL in value");
		}
		if (h->value.len) {
			uint8_t first = (uint8_t)h->value.ptr[0];
			uint8_t last = (uint8_t)h->value.ptr[h->value.len - 1];
			check(first != ' ' && first != '\t' && last != ' ' && last != '\t', "OWS kept");
		}
		uint32_t cur = 0;
		rc_http_str item;
		while (rc_http_list_next(h->value, &cur, &item))
			check(item.len > 0 && item.ptr >= h->value.ptr &&
			              item.ptr + item.len <= h->value.ptr + h->value.len,
			      "list item outside");
	}
}

static void check_handshake(const rc_http_request *req)
{
	static const char *const origins[] = { "https://example.com", "http://localhost:8080" };
	static const char *const protos[] = { "chat", "ringcast.v1" };
	const rc_ws_handshake_cfg cfgs[] = {
		RC_WS_HANDSHAKE_CFG_DEFAULT,
		{ .origins = origins,
		  .origin_count = 2,
		  .allow_no_origin = false,
		  .subprotocols = protos,
		  .subprotocol_count = 2 },
	};
	for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
		rc_ws_handshake_result res;
		int status = rc_ws_handshake_check(req, &cfgs[c], &res);
		check(res.reason && res.reason[0], "no reason");
		char out[1024];
		if (status != 0) {
			check(status == 400 || status == 403 || status == 405 || status == 426,
			      "unexpected handshake status");
			check(rc_ws_error_response(out, sizeof out, status, res.reason) > 0,
			      "error response does not fit");
			continue;
		}
		check(strlen(res.accept) == RC_WS_ACCEPT_LEN, "accept length");
		for (size_t i = 0; i < RC_WS_ACCEPT_LEN - 1; i++)
			check(is_b64(res.accept[i]), "accept not base64");
		check(res.accept[RC_WS_ACCEPT_LEN - 1] == '=', "accept padding");
		const rc_http_header *key = rc_http_header_find(req, "sec-websocket-key", NULL);
		check(key != NULL, "accepted without a key");
		char again[RC_WS_ACCEPT_LEN];
		check(rc_ws_accept(key->value.ptr, key->value.len, again) == 0, "rc_ws_accept");
		check(memcmp(again, res.accept, RC_WS_ACCEPT_LEN) == 0, "accept differs");
		check(res.subprotocol >= -1 && res.subprotocol < (int)cfgs[c].subprotocol_count,
		      "subprotocol index");
		check(rc_ws_response_101(out, sizeof out, &res) > 0, "101 does not fit");
	}
}

/* Parse a copy of data[0..n) that ends exactly where the allocation does. */
static ssize_t parse_copy(rc_http_parser *p, const uint8_t *data, size_t n, uint8_t **keep)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL, "malloc");
	if (n)
		memcpy(copy, data, n);
	ssize_t r = rc_http_parse(p, copy, n);
	if (keep)
		*keep = copy;
	else
		free(copy);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rc_http_header fields_whole[FIELDS_CAP], fields_split[FIELDS_CAP];
	rc_http_cfg cfg = RC_HTTP_CFG_DEFAULT;
	if (size && data[0] == '\n') { /* small limits; a leading empty line is still valid */
		cfg.header_bytes_max = 96;
		cfg.header_fields_max = 3;
	}

	rc_http_parser whole;
	rc_http_parser_init(&whole, &cfg, fields_whole);
	uint8_t *buf;
	ssize_t r = parse_copy(&whole, data, size, &buf);
	check(r <= (ssize_t)size, "consumed more than fed");
	if (r < 0) {
		check(r == -400 || r == -405 || r == -431 || r == -505, "unexpected status");
		check(whole.reason[0] != '\0', "refusal without reason");
	}

	/* The same input in pieces: split points stepped by amounts read from the input. */
	rc_http_parser split;
	rc_http_parser_init(&split, &cfg, fields_split);
	size_t k = 0;
	ssize_t rs = 0;
	while (k < size) {
		k += 1 + (data[k] * 7u + k) % 97;
		if (k > size)
			k = size;
		rs = parse_copy(&split, data, k, NULL);
		if (r > 0)
			check(rs == ((ssize_t)k >= r ? r : 0), "prefix result differs");
		else
			check(rs == 0 || rs == r, "prefix result differs from refusal");
	}
	check(rs == r || size == 0, "split result differs");
	check(split.req.header_count == whole.req.header_count || r <= 0, "header count differs");

	if (r > 0) {
		check_request(&whole.req, buf, r);
		check(split.req.path.off == whole.req.path.off, "path differs");
		for (uint32_t i = 0; i < whole.req.header_count; i++)
			check(fields_split[i].value.off == fields_whole[i].value.off &&
			              fields_split[i].value.len == fields_whole[i].value.len,
			      "value differs");
		check_handshake(&whole.req);
	}
	free(buf);
	return 0;
}
