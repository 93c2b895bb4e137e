/* rc_handshake: see rc_handshake.h for the contract. */
#include "rc_handshake.h"

#include <assert.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "rc_base64.h"

/* RFC 6455 §1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int rc_ws_accept(const char *key, size_t key_len, char out[RC_WS_ACCEPT_LEN])
{
	assert((key || key_len == 0) && out);
	if (key_len > UINT32_MAX)
		return -1;
	wc_Sha sha;
	uint8_t digest[WC_SHA_DIGEST_SIZE];
	if (wc_InitSha(&sha) != 0)
		return -1;
	int rc = wc_ShaUpdate(&sha, (const uint8_t *)key, (uint32_t)key_len);
	if (rc == 0)
		rc = wc_ShaUpdate(&sha, (const uint8_t *)ws_guid, sizeof ws_guid - 1);
	if (rc == 0)
		rc = wc_ShaFinal(&sha, digest);
	wc_ShaFree(&sha);
	if (rc != 0)
		return -1;
	char text[RC_BASE64_LEN(WC_SHA_DIGEST_SIZE) + 1];
	_Static_assert(RC_BASE64_LEN(WC_SHA_DIGEST_SIZE) == RC_WS_ACCEPT_LEN, "SHA-1 is 20 bytes");
	size_t n = rc_base64_encode(text, sizeof text, digest, sizeof digest);
	assert(n == RC_WS_ACCEPT_LEN);
	(void)n;
	memcpy(out, text, RC_WS_ACCEPT_LEN);
	return 0;
}

/* ---- the check ---- */

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

/* The key is the base64 of 16 bytes (§4.1): 16 = 5 * 3 + 1, so 20 characters for 15 bytes, then
 * 2 for the last byte and "==". Anything else decodes to another length or not at all. */
static bool key_valid(rc_http_str key)
{
	if (key.len != RC_WS_KEY_LEN || key.ptr[22] != '=' || key.ptr[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!is_b64_char(key.ptr[i]))
			return false;
	return true;
}

static int refuse(rc_ws_handshake_result *res, int status, const char *reason)
{
	res->reason = reason;
	return status;
}

/* 0 if the Origin is acceptable, else the status. */
static int check_origin(const rc_http_request *req, const rc_ws_handshake_cfg *cfg,
                        rc_ws_handshake_result *res)
{
	const rc_http_header *origin = rc_http_header_find(req, "origin", NULL);
	if (!origin)
		return cfg->allow_no_origin ? 0 : refuse(res, 403, "Origin required");
	if (rc_http_header_find(req, "origin", origin))
		return refuse(res, 400, "duplicate Origin");
	if (cfg->origin_count == 0)
		return 0;
	for (size_t i = 0; i < cfg->origin_count; i++)
		if (rc_http_str_eq_nocase(origin->value, cfg->origins[i]))
			return 0;
	return refuse(res, 403, "Origin not allowed");
}

static bool offered(const rc_http_request *req, const char *proto)
{
	size_t n = strlen(proto);
	for (const rc_http_header *h = rc_http_header_find(req, "sec-websocket-protocol", NULL); h;
	     h = rc_http_header_find(req, "sec-websocket-protocol", h)) {
		uint32_t cur = 0;
		rc_http_str item;
		while (rc_http_list_next(h->value, &cur, &item))
			if (item.len == n && memcmp(item.ptr, proto, n) == 0)
				return true;
	}
	return false;
}

static void select_subprotocol(const rc_http_request *req, const rc_ws_handshake_cfg *cfg,
                               rc_ws_handshake_result *res)
{
	for (size_t i = 0; i < cfg->subprotocol_count; i++) {
		if (offered(req, cfg->subprotocols[i])) {
			res->subprotocol = (int)i;
			res->subprotocol_name = cfg->subprotocols[i];
			return;
		}
	}
}

/* The upgrade fields proper: Upgrade, Connection, the key and the version. */
static int check_upgrade(const rc_http_request *req, rc_ws_handshake_result *res,
                         const rc_http_header **key)
{
	if (!rc_http_header_find(req, "upgrade", NULL))
		return refuse(res, 426, "WebSocket upgrade required");
	if (!rc_http_header_has_token(req, "upgrade", "websocket"))
		return refuse(res, 400, "Upgrade is not websocket");
	if (!rc_http_header_has_token(req, "connection", "upgrade"))
		return refuse(res, 400, "Connection does not contain upgrade");

	*key = rc_http_header_find(req, "sec-websocket-key", NULL);
	if (!*key)
		return refuse(res, 400, "missing Sec-WebSocket-Key");
	if (rc_http_header_find(req, "sec-websocket-key", *key))
		return refuse(res, 400, "duplicate Sec-WebSocket-Key");
	if (!key_valid((*key)->value))
		return refuse(res, 400, "Sec-WebSocket-Key is not base64 of 16 bytes");

	const rc_http_header *version = rc_http_header_find(req, "sec-websocket-version", NULL);
	if (!version || rc_http_header_find(req, "sec-websocket-version", version) ||
	    version->value.len != 2 || memcmp(version->value.ptr, "13", 2) != 0)
		return refuse(res, 426, "Sec-WebSocket-Version must be 13");
	return 0;
}

int rc_ws_handshake_check(const rc_http_request *req, const rc_ws_handshake_cfg *cfg,
                          rc_ws_handshake_result *res)
{
	assert(req && cfg && res);
	assert(cfg->origins || cfg->origin_count == 0);
	assert(cfg->subprotocols || cfg->subprotocol_count == 0);
	*res = (rc_ws_handshake_result){ .subprotocol = -1, .reason = "ok" };

	if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0)
		return refuse(res, 405, "method not allowed: only GET is served");
	if (req->minor_version != 1)
		return refuse(res, 400, "WebSocket upgrade needs HTTP/1.1");
	if (!rc_http_header_find(req, "host", NULL))
		return refuse(res, 400, "missing Host");

	const rc_http_header *key = NULL;
	int status = check_upgrade(req, res, &key);
	if (status == 0)
		status = check_origin(req, cfg, res);
	if (status != 0)
		return status;

	assert(key && key->value.len == RC_WS_KEY_LEN);
	if (rc_ws_accept(key->value.ptr, key->value.len, res->accept) != 0)
		return refuse(res, 500, "cannot compute Sec-WebSocket-Accept");
	res->accept[RC_WS_ACCEPT_LEN] = '\0';
	select_subprotocol(req, cfg, res);
	return 0;
}

/* ---- responses ---- */

size_t rc_ws_response_101(char *out, size_t cap, const rc_ws_handshake_result *res)
{
	assert((out || cap == 0) && res);
	assert(strlen(res->accept) == RC_WS_ACCEPT_LEN);
	/* Assembled from pieces: the fixed head, the accept value, the optional subprotocol. */
	const char *parts[] = {
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: ",
		res->accept,
		"\r\n",
		res->subprotocol_name ? "Sec-WebSocket-Protocol: " : "",
		res->subprotocol_name ? res->subprotocol_name : "",
		res->subprotocol_name ? "\r\n" : "",
		"\r\n",
	};
	return rc_http_join(out, cap, parts, sizeof parts / sizeof parts[0]);
}

size_t rc_ws_error_response(char *out, size_t cap, int status, const char *reason)
{
	/* §4.2.2: a server refusing the version answers with the versions it speaks; 426 with
	 * Upgrade also tells a plain HTTP client how to upgrade (RFC 9110 §15.5.22). */
	const char *extra =
	        status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : NULL;
	return rc_http_error_response(out, cap, status, extra, reason);
}
