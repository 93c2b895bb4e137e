/* Fuzz target for rc_ws_client: the check of a server's answer, URLs, and the request.
 *
 * Input: one flags byte (bit 0: the client offered ringcast.v1), then two halves. The first half
 * is a server's answer to a request that sent the RFC 6455 §1.3 key (the seeds hold good 101s for
 * it, so the fuzzer starts from answers that pass every check). It is checked from an exact-size
 * heap copy (ASan catches a read past it), and the result must hold together: OK means status 101
 * and a head inside the input; NEED_MORE means there is no CR LF CR LF in the input; any other
 * result has its head end at the first CR LF CR LF, gives the same result for the head alone, and
 * NEED_MORE for the head cut short. The second half, NUL-terminated, is a URL for rc_ws_url_parse,
 * whose fields must all be NUL-terminated inside their arrays (the struct is its own heap block,
 * so a write past it faults) and hold what the contract says. A URL it accepts then makes a
 * request that the server half must parse and accept, and the server's 101 must pass the check:
 * the two halves of the handshake agree on everything the URL parser lets through. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_ws_client.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define V1 "ringcast.v1"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ws_client: %s\n", what);
		abort();
	}
}

static enum rc_ws_client_status check_copy(const uint8_t *data, size_t n, const char *sub,
                                           rc_ws_client_result *res)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL, "malloc");
	if (n)
		memcpy(copy, data, n);
	enum rc_ws_client_status s = rc_ws_client_check(n ? copy : NULL, n, KEY, sub, res);
	free(copy);
	check(rc_ws_client_status_name(s) != NULL, "status outside the enum");
	check(res->reason != NULL && res->reason[0] != '\0', "no reason");
	return s;
}

static void same(enum rc_ws_client_status a, const rc_ws_client_result *ra,
                 enum rc_ws_client_status b, const rc_ws_client_result *rb, const char *what)
{
	check(a == b && ra->head_len == rb->head_len && ra->status == rb->status &&
	              ra->retry_after_s == rb->retry_after_s && strcmp(ra->reason, rb->reason) == 0,
	      what);
}

static void fuzz_check(const uint8_t *data, size_t n, const char *sub, unsigned split)
{
	rc_ws_client_result res;
	enum rc_ws_client_status s = check_copy(data, n, sub, &res);
	const uint8_t *crlf2 = memmem(data, n, "\r\n\r\n", 4);
	if (s == RC_WS_CLIENT_NEED_MORE) {
		check(crlf2 == NULL, "NEED_MORE with a complete head");
		check(res.head_len == 0 && res.status == 0 && res.retry_after_s == -1,
		      "NEED_MORE with a result");
		return;
	}
	check(crlf2 != NULL && res.head_len == (size_t)(crlf2 - data) + 4,
	      "the head does not end at the first CR LF CR LF");
	check(res.head_len <= n, "head_len past the input");
	if (s == RC_WS_CLIENT_OK)
		check(res.status == 101, "OK without 101");
	if (s == RC_WS_CLIENT_BAD_STATUS_LINE)
		check(res.status == 0, "a status without a status line");
	if (s == RC_WS_CLIENT_STATUS)
		check(res.status != 101 && res.status >= 0 && res.status <= 999, "refusal status");
	if (s >= RC_WS_CLIENT_BAD_FIELD)
		check(res.status == 101, "a 101 check without 101");
	if (s == RC_WS_CLIENT_STATUS)
		check(res.retry_after_s >= -1 && res.retry_after_s < 864000, "retry_after_s range");
	else
		check(res.retry_after_s == -1, "retry_after_s outside a refusal");

	/* The bytes after the head do not count: the head alone gives the same. */
	rc_ws_client_result alone;
	enum rc_ws_client_status sa = check_copy(data, res.head_len, sub, &alone);
	same(sa, &alone, s, &res, "the head alone gives another result");
	/* Cut short, at its last byte and at a point the input picks, it is not complete. */
	rc_ws_client_result part;
	check(check_copy(data, res.head_len - 1, sub, &part) == RC_WS_CLIENT_NEED_MORE,
	      "a head without its last byte is complete");
	check(check_copy(data, split % res.head_len, sub, &part) == RC_WS_CLIENT_NEED_MORE,
	      "a cut head is complete");
}

static bool terminated(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

/* The request for a URL the parser accepted goes through the server half, and its 101 through
 * the check. */
static void round_trip(const rc_ws_url *u, const char *sub)
{
	rc_ws_client_req rq = {
		.host = u->hostport, .target = u->target, .key = KEY, .subprotocol = sub
	};
	static char req[4096];
	size_t n = rc_ws_client_request(req, sizeof req, &rq);
	check(n > 0, "the request does not fit");
	check(rc_ws_client_request(req, n - 1, &rq) == 0, "the request fits in less than its length");

	rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
	rc_http_cfg cfg = RC_HTTP_CFG_DEFAULT;
	rc_http_parser p;
	rc_http_parser_init(&p, &cfg, fields);
	check(rc_http_parse(&p, (const uint8_t *)req, n) == (ssize_t)n, "the server refuses it");
	static const char *const protos[] = { V1 };
	rc_ws_handshake_cfg hc = RC_WS_HANDSHAKE_CFG_DEFAULT;
	hc.subprotocols = protos;
	hc.subprotocol_count = 1;
	rc_ws_handshake_result hr;
	check(rc_ws_handshake_check(&p.req, &hc, &hr) == 0, "the handshake refuses it");
	char resp[512];
	size_t rn = rc_ws_response_101(resp, sizeof resp, &hr);
	check(rn > 0, "101 does not fit");
	rc_ws_client_result res;
	check(check_copy((const uint8_t *)resp, rn, sub, &res) == RC_WS_CLIENT_OK,
	      "the client refuses the server's 101");
}

static void fuzz_url(const uint8_t *data, size_t n, const char *sub)
{
	char *url = malloc(n + 1);
	rc_ws_url *u = malloc(sizeof *u);
	check(url != NULL && u != NULL, "malloc");
	if (n)
		memcpy(url, data, n);
	url[n] = '\0';
	const char *why = NULL;
	int r = rc_ws_url_parse(url, u, &why);
	check(why != NULL && why[0] != '\0', "no reason");
	check(r == 0 || r == -EINVAL, "return value");
	if (r == 0) {
		check(terminated(u->host, sizeof u->host) && terminated(u->port, sizeof u->port) &&
		              terminated(u->hostport, sizeof u->hostport) &&
		              terminated(u->target, sizeof u->target),
		      "a field not NUL-terminated");
		check(u->host[0] != '\0' && strstr(u->hostport, u->host) != NULL, "host");
		char *end;
		unsigned long port = strtoul(u->port, &end, 10);
		check(*end == '\0' && u->port[0] && port >= 1 && port <= 65535, "port");
		check(u->target[0] == '/', "target not origin-form");
		for (const char *c = u->target; *c; c++)
			check(*c > 0x20 && *c < 0x7f && *c != '#', "target byte");
		round_trip(u, sub);
	}
	free(url);
	free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *sub = data[0] & 1 ? V1 : NULL;
	unsigned split = data[0];
	data++;
	size--;
	size_t half = size / 2;
	fuzz_check(data, half, sub, split * 7919u);
	fuzz_url(data + half, size - half, sub);
	return 0;
}
