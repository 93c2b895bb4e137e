/* rc_http: the HTTP/1.1 request head parser for ringcast's one port, and response writers.
 *
 * The port serves GET only: the WebSocket upgrade (rc_handshake.h) and a few plain routes
 * (/healthz, /readyz, /metrics, the demo page). The parser reads a request line and header fields
 * up to the empty line that ends the head, and no body: a body is never accepted.
 *
 * Incremental over one growing buffer, like picohttpparser's phr_parse_request with last_len, but
 * without rescanning: the caller appends every received byte to one contiguous buffer and calls
 * rc_http_parse() with the whole buffer so far after each read; the parser resumes at the byte where
 * it stopped, so the total work is linear in the request length. It keeps offsets, not pointers,
 * until the head is complete, so the buffer may move between calls (be copied or reallocated) as
 * long as the bytes already fed are the same; pointers are set from the buffer of the final call.
 * It allocates nothing: the caller provides the array of header fields.
 *
 *   rc_http_header fields[RC_HTTP_HEADER_FIELDS_MAX_DEFAULT];
 *   rc_http_cfg cfg = RC_HTTP_CFG_DEFAULT;
 *   rc_http_parser p; rc_http_parser_init(&p, &cfg, fields);
 *   on every read:  append to buf; ssize_t r = rc_http_parse(&p, buf, len);
 *       r > 0   the head is complete and is buf[0..r); p.req describes it. buf[r..len) are not
 *               part of it (on an upgrade: the client's first WebSocket frames; keep them).
 *       r == 0  need more bytes
 *       r < 0   -r is the HTTP status to answer with (then close); p.reason says why, for logs
 *
 * Statuses:
 *   400  bad syntax: a NUL byte anywhere; a CR not followed by LF; obs-fold (a field line starting
 *        with SP or HT); whitespace between a field name and its colon; an empty field name or one
 *        with a byte that is not a tchar (RFC 9110 §5.6.2); a control byte other than HT in a
 *        value; a request-target that is not origin-form (does not start with '/') or holds a
 *        byte outside 0x21-0x7E; a malformed HTTP-version; Content-Length or Transfer-Encoding
 *        present (no request has a body here, and an upgrade must not); Host,
 *        Sec-WebSocket-Key or Sec-WebSocket-Version present twice
 *   405  the method is not GET (methods are case-sensitive: "get" is not GET). Decided as soon as
 *        the method ends, before the rest of the head: a POST with a body gets 405, not 400.
 *   431  the head is longer than cfg.header_bytes_max bytes (the request line, the fields and the
 *        final empty line all count), or has more than cfg.header_fields_max fields. Decided as
 *        soon as the limit is crossed, so an endless header costs at most header_bytes_max bytes.
 *   505  an HTTP-version other than HTTP/1.0 and HTTP/1.1 (well-formed, e.g. HTTP/2.0 or HTTP/1.2)
 * A result, once returned, is sticky: every later call returns it again.
 *
 * Accepted leniently, because real clients send it: names in any case; any OWS (SP, HT) around a
 * value, trimmed; one or more SP or HT between the parts of the request line, and before its line
 * end; LF alone as a line end (RFC 9112 §2.2); empty lines before the request line (ibid.); bytes
 * 0x80-0xFF in values (obs-text, e.g. UTF-8 in a User-Agent); HTTP/1.0 (the handshake then refuses
 * it, but a plain GET of /healthz over 1.0 is fine).
 */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RC_HTTP_HEADER_BYTES_MAX_DEFAULT 8192
#define RC_HTTP_HEADER_FIELDS_MAX_DEFAULT 100

typedef struct rc_http_cfg {
	uint32_t header_bytes_max; /* longest head accepted, in bytes; > 0, <= INT32_MAX */
	/* most header fields accepted; > 0; the caller's array holds this many */
	uint32_t header_fields_max;
} rc_http_cfg;

#define RC_HTTP_CFG_DEFAULT \
	((rc_http_cfg){ .header_bytes_max = RC_HTTP_HEADER_BYTES_MAX_DEFAULT, \
	                .header_fields_max = RC_HTTP_HEADER_FIELDS_MAX_DEFAULT })

/* A slice of the request buffer. Not NUL-terminated. */
typedef struct rc_http_str {
	const char *ptr; /* == buf + off for the buf of the last rc_http_parse call */
	uint32_t off;    /* offset in that buffer */
	uint32_t len;
} rc_http_str;

typedef struct rc_http_header {
	rc_http_str name;  /* as sent (compare case-insensitively) */
	rc_http_str value; /* leading and trailing OWS removed; may be empty */
} rc_http_header;

typedef struct rc_http_request {
	rc_http_str method;      /* always "GET" in a request the parser accepted */
	rc_http_str path;        /* from the leading '/' up to '?' or the end of the target */
	rc_http_str query;       /* after the first '?' (not included); empty if none */
	uint8_t minor_version;   /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	rc_http_header *headers; /* the caller's array, in the order received */
	uint32_t header_count;
} rc_http_request;

typedef struct rc_http_parser {
	rc_http_cfg cfg;
	rc_http_request req; /* complete once rc_http_parse returned > 0 */
	const char *reason;  /* static: why, after an error; "" otherwise */
	ssize_t result;      /* sticky result once decided, 0 while parsing */
	uint32_t pos;        /* bytes examined so far: the next call resumes here */
	uint32_t mark;       /* start of the token in progress */
	uint32_t value_end;  /* end of the value in progress, trailing OWS excluded */
	uint8_t state;       /* enum in rc_http.c */
	uint8_t matched;     /* bytes of "HTTP/" matched so far */
	uint8_t major;       /* HTTP-version digits */
	uint8_t minor;
	uint8_t seen; /* fields that may appear only once, already seen (bits in rc_http.c) */
} rc_http_parser;

/* Start parsing a new request. headers has room for cfg->header_fields_max fields and must outlive
 * the parser's use; the cfg is copied. */
void rc_http_parser_init(rc_http_parser *p, const rc_http_cfg *cfg, rc_http_header *headers);

/* Parse buf[0..len), the whole request buffer so far (len never shrinks between calls, and the
 * first bytes are the ones fed before). Returns the length of the complete head (> 0), 0 if more
 * bytes are needed, or -(HTTP status) for a request to refuse: see the top of this file. */
ssize_t rc_http_parse(rc_http_parser *p, const uint8_t *buf, size_t len);

/* The first header field named `name` (case-insensitive) after `prev`, or from the start if prev
 * is NULL; NULL if there is none. Iterate all with h = find(r, n, NULL); h; h = find(r, n, h). */
const rc_http_header *rc_http_header_find(const rc_http_request *req, const char *name,
                                          const rc_http_header *prev);

/* How many fields are named `name` (case-insensitive). */
uint32_t rc_http_header_count(const rc_http_request *req, const char *name);

/* The next item of a comma-separated list (RFC 9110 §5.6.1): skips empty items and OWS around
 * items. *cursor starts at 0. Returns false when there are no more items. Quoted strings are not
 * understood (none of the lists the handshake reads may hold one). item->off is list.off plus the
 * item's position in the list. */
bool rc_http_list_next(rc_http_str list, uint32_t *cursor, rc_http_str *item);

/* True if a field named `name` holds `token` as one of its comma-separated items, compared
 * case-insensitively, in any of the lines with that name ("Connection: keep-alive, Upgrade" holds
 * "upgrade"; so do "Connection: keep-alive" and "Connection: upgrade" on two lines). */
bool rc_http_header_has_token(const rc_http_request *req, const char *name, const char *token);

/* True if s equals the NUL-terminated string z, ASCII case-insensitively. */
bool rc_http_str_eq_nocase(rc_http_str s, const char *z);

/* The reason phrase of a status code ("Not Found"); "Unknown" for a code it does not know. */
const char *rc_http_status_text(int status);

/* The NUL-terminated strings parts[0..n) one after the other into out[0..cap), no terminator
 * written: how the handshake request and the 101 are assembled. Returns the length, or 0 if it
 * does not fit. */
size_t rc_http_join(char *out, size_t cap, const char *const *parts, size_t n);

/* Write a complete response into out[0..cap): the status line, Content-Type (when content_type is
 * not NULL), Content-Length (not for 204 and 304, which have no body), Connection: close (ringcast
 * answers one plain request per connection, then closes), extra_headers verbatim (NULL, or complete
 * lines each ending in CRLF), the empty line and the body. Returns the length written, or 0 if it
 * does not fit (then out holds garbage). status is 200..599. No Date header: proto has no clock;
 * pass one in extra_headers if the route wants it. */
size_t rc_http_response(char *out, size_t cap, int status, const char *content_type,
                        const char *extra_headers, const void *body, size_t body_len);

/* An error response: Content-Type: text/plain, a one-line body (reason, or the status text if
 * reason is NULL, then LF), Connection: close, and the headers the status needs: 405 Allow: GET,
 * 503 Retry-After: 1; then extra_headers (NULL or CRLF-terminated lines). Returns the length or 0 as
 * rc_http_response. For a failed WebSocket handshake use rc_ws_error_response (rc_handshake.h). */
size_t rc_http_error_response(char *out, size_t cap, int status, const char *extra_headers,
                              const char *reason);

#endif
