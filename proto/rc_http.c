/* rc_http: see rc_http.h for the contract.
 *
 * The parser is one state machine stepped a byte at a time (http_step). It never looks back at a
 * byte it has passed except to compare a complete method or field name, whose bytes are still in
 * the buffer at the same offsets; everything it remembers between calls is in rc_http_parser. */
#include "rc_http.h"

#include <assert.h>
#include <string.h>

enum http_state {
	ST_START,    /* before the request line; empty lines are skipped (RFC 9112 §2.2) */
	ST_START_LF, /* a CR before the request line: LF must follow */
	ST_METHOD,
	ST_BEFORE_TARGET, /* whitespace after the method */
	ST_PATH,
	ST_QUERY,
	ST_BEFORE_VERSION, /* whitespace after the target */
	ST_VERSION_NAME,   /* inside "HTTP/" */
	ST_VERSION_MAJOR,
	ST_VERSION_DOT,
	ST_VERSION_MINOR,
	ST_VERSION_END, /* after the minor digit: whitespace or the line end must follow */
	ST_LINE_END_WS, /* whitespace after the version */
	ST_LINE_LF,     /* a CR ending the request line or a field line: LF must follow */
	ST_FIELD_START, /* start of a field line, or of the empty line ending the head */
	ST_END_LF,      /* the CR of the empty line: LF must follow */
	ST_NAME,
	ST_VALUE_OWS, /* OWS between the colon and the value */
	ST_VALUE,
	ST_DONE,   /* p->result holds the head's length */
	ST_FAILED, /* p->result holds -(status) */
};

/* A step of the machine: keep going, the head is complete, or -(status). */
enum {
	STEP_MORE = 0,
	STEP_DONE = 1
};

/* Fields that may appear only once (bits of rc_http_parser.seen). */
enum {
	SEEN_HOST = 1 << 0,
	SEEN_WS_KEY = 1 << 1,
	SEEN_WS_VERSION = 1 << 2,
};

static const char http_name[] = "HTTP/";

/* ---- byte classes ---- */

static uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* tchar (RFC 9110 §5.6.2): the bytes of a method and a field name. */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~':
		return true;
	default:
		return false;
	}
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* A visible byte of a value: VCHAR or obs-text (RFC 9110 §5.5). Controls and DEL are not. */
static bool is_value_char(uint8_t c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

/* A byte of an origin-form request-target. Stricter than RFC 3986 needs in one way (no obs-text:
 * clients percent-encode), looser in another (the few delimiters browsers leave unescaped, such as
 * '|' or '{', are let through: the routes compare the path, they do not interpret it). */
static bool is_target_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

/* ---- the machine ---- */

static ssize_t fail(rc_http_parser *p, int status, const char *reason)
{
	assert(status >= 400 && status <= 599);
	p->reason = reason;
	return -(ssize_t)status;
}

static bool name_is(const uint8_t *buf, uint32_t off, uint32_t len, const char *z)
{
	size_t n = strlen(z);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(buf[off + i]) != ascii_lower((uint8_t)z[i]))
			return false;
	return true;
}

/* Sets `bit` in p->seen, or fails if it was already set: a repeated Host or WebSocket key/version
 * is ambiguous (which one would the handshake answer?), so the request is refused. */
static ssize_t once(rc_http_parser *p, unsigned bit, const char *reason)
{
	if (p->seen & bit)
		return fail(p, 400, reason);
	p->seen = (uint8_t)(p->seen | bit);
	return STEP_MORE;
}

/* A field name ends at its colon: buf[p->mark .. p->pos) is the name. Record it and refuse the
 * fields ringcast never accepts, as early as their name is known. */
static ssize_t name_complete(rc_http_parser *p, const uint8_t *buf)
{
	uint32_t off = p->mark, len = p->pos - p->mark;
	assert(len > 0);
	assert(p->req.header_count < p->cfg.header_fields_max);
	rc_http_header *h = &p->req.headers[p->req.header_count];
	h->name = (rc_http_str){ .ptr = NULL, .off = off, .len = len };
	h->value = (rc_http_str){ .ptr = NULL, .off = 0, .len = 0 };

	/* No body: a GET has none that means anything (RFC 9110 §9.3.1), and bytes after an upgrade
	 * request's head are WebSocket frames, so a declared body could only be smuggling. */
	if (name_is(buf, off, len, "content-length"))
		return fail(p, 400, "request body not accepted (Content-Length)");
	if (name_is(buf, off, len, "transfer-encoding"))
		return fail(p, 400, "request body not accepted (Transfer-Encoding)");
	if (name_is(buf, off, len, "host"))
		return once(p, SEEN_HOST, "duplicate Host");
	if (name_is(buf, off, len, "sec-websocket-key"))
		return once(p, SEEN_WS_KEY, "duplicate Sec-WebSocket-Key");
	if (name_is(buf, off, len, "sec-websocket-version"))
		return once(p, SEEN_WS_VERSION, "duplicate Sec-WebSocket-Version");
	return STEP_MORE;
}

/* The value of the current field ends at p->pos (a CR or LF). */
static void value_complete(rc_http_parser *p)
{
	rc_http_header *h = &p->req.headers[p->req.header_count];
	assert(p->value_end >= p->mark && p->value_end <= p->pos);
	h->value.off = p->mark;
	h->value.len = p->value_end - p->mark;
	p->req.header_count++;
}

/* The method ends at p->pos. Only GET is served; everything else is refused here, before the rest
 * of the head is read (a POST's body is not our problem once we answer 405 and close). */
static ssize_t method_complete(rc_http_parser *p, const uint8_t *buf)
{
	uint32_t len = p->pos - p->mark;
	p->req.method = (rc_http_str){ .off = p->mark, .len = len };
	if (len != 3 || memcmp(buf + p->mark, "GET", 3) != 0)
		return fail(p, 405, "method not allowed: only GET is served");
	return STEP_MORE;
}

/* The path or query ends at p->pos. */
static void target_complete(rc_http_parser *p)
{
	rc_http_str *s = p->state == ST_PATH ? &p->req.path : &p->req.query;
	s->off = p->mark;
	s->len = p->pos - p->mark;
	if (p->state == ST_PATH)
		p->req.query = (rc_http_str){ .off = p->pos, .len = 0 };
}

static ssize_t version_complete(rc_http_parser *p)
{
	if (p->major != 1 || p->minor > 1)
		return fail(p, 505, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1");
	p->req.minor_version = p->minor;
	return STEP_MORE;
}

/* The end of the request line (c is CR or LF, or the first whitespace after the version). */
static ssize_t after_version(rc_http_parser *p, uint8_t c)
{
	ssize_t r = version_complete(p);
	if (r != STEP_MORE)
		return r;
	p->state = c == '\r' ? ST_LINE_LF : c == '\n' ? ST_FIELD_START : ST_LINE_END_WS;
	return STEP_MORE;
}

/* Steps of the request line. */
static ssize_t step_request_line(rc_http_parser *p, const uint8_t *buf, uint8_t c)
{
	switch (p->state) {
	case ST_START:
		if (c == '\r') {
			p->state = ST_START_LF;
		} else if (c == '\n') {
			/* an empty line before the request: skip it */
		} else if (is_tchar(c)) {
			p->mark = p->pos;
			p->state = ST_METHOD;
		} else {
			return fail(p, 400, "invalid request line");
		}
		return STEP_MORE;
	case ST_START_LF:
		if (c != '\n')
			return fail(p, 400, "CR not followed by LF");
		p->state = ST_START;
		return STEP_MORE;
	case ST_METHOD:
		if (is_tchar(c))
			return STEP_MORE;
		if (!is_ows(c))
			return fail(p, 400, "invalid method");
		p->state = ST_BEFORE_TARGET;
		return method_complete(p, buf);
	case ST_BEFORE_TARGET:
		if (is_ows(c))
			return STEP_MORE;
		if (c != '/')
			return fail(p, 400, "request-target is not origin-form");
		p->mark = p->pos;
		p->state = ST_PATH;
		return STEP_MORE;
	case ST_PATH:
	case ST_QUERY:
		if (c == '?' && p->state == ST_PATH) {
			target_complete(p);
			p->mark = p->pos + 1;
			p->state = ST_QUERY;
		} else if (is_ows(c)) {
			target_complete(p);
			p->state = ST_BEFORE_VERSION;
		} else if (!is_target_char(c)) {
			return fail(p, 400,
			            c == '\r' || c == '\n' ? "no HTTP version"
			                                   : "invalid byte in request-target");
		}
		return STEP_MORE;
	case ST_BEFORE_VERSION:
		if (is_ows(c))
			return STEP_MORE;
		p->matched = 0;
		p->state = ST_VERSION_NAME;
		__attribute__((fallthrough)); /* c is the first byte of the version */
	case ST_VERSION_NAME:
		if (c != (uint8_t)http_name[p->matched])
			return fail(p, 400, "invalid HTTP version");
		if (++p->matched == sizeof http_name - 1)
			p->state = ST_VERSION_MAJOR;
		return STEP_MORE;
	case ST_VERSION_MAJOR:
	case ST_VERSION_MINOR:
		if (c < '0' || c > '9')
			return fail(p, 400, "invalid HTTP version");
		if (p->state == ST_VERSION_MAJOR) {
			p->major = (uint8_t)(c - '0');
			p->state = ST_VERSION_DOT;
		} else {
			p->minor = (uint8_t)(c - '0');
			p->state = ST_VERSION_END;
		}
		return STEP_MORE;
	case ST_VERSION_DOT:
		if (c != '.')
			return fail(p, 400, "invalid HTTP version");
		p->state = ST_VERSION_MINOR;
		return STEP_MORE;
	case ST_VERSION_END:
		if (!is_ows(c) && c != '\r' && c != '\n')
			return fail(p, 400, "invalid HTTP version");
		return after_version(p, c);
	case ST_LINE_END_WS:
		if (c == '\r')
			p->state = ST_LINE_LF;
		else if (c == '\n')
			p->state = ST_FIELD_START;
		else if (!is_ows(c))
			return fail(p, 400, "junk after HTTP version");
		return STEP_MORE;
	default:
		assert(!"not a request-line state");
		return fail(p, 400, "internal error");
	}
}

/* Steps of the field lines and the final empty line. */
static ssize_t step_field(rc_http_parser *p, const uint8_t *buf, uint8_t c)
{
	switch (p->state) {
	case ST_LINE_LF:
		if (c != '\n')
			return fail(p, 400, "CR not followed by LF");
		p->state = ST_FIELD_START;
		return STEP_MORE;
	case ST_FIELD_START:
		if (c == '\r') {
			p->state = ST_END_LF;
			return STEP_MORE;
		}
		if (c == '\n')
			return STEP_DONE;
		if (is_ows(c))
			return fail(p, 400, "obs-fold (a field line starting with whitespace)");
		if (!is_tchar(c))
			return fail(p, 400, c == ':' ? "empty field name" : "invalid field name");
		if (p->req.header_count == p->cfg.header_fields_max)
			return fail(p, 431, "too many header fields");
		p->mark = p->pos;
		p->state = ST_NAME;
		return STEP_MORE;
	case ST_END_LF:
		if (c != '\n')
			return fail(p, 400, "CR not followed by LF");
		return STEP_DONE;
	case ST_NAME:
		if (is_tchar(c))
			return STEP_MORE;
		if (c != ':')
			return fail(p, 400,
			            is_ows(c) ? "whitespace between field name and colon"
			                      : "invalid field name");
		p->state = ST_VALUE_OWS;
		return name_complete(p, buf);
	case ST_VALUE_OWS:
	case ST_VALUE:
		if (is_ows(c))
			return STEP_MORE;
		if (is_value_char(c)) {
			if (p->state == ST_VALUE_OWS)
				p->mark = p->pos;
			p->value_end = p->pos + 1;
			p->state = ST_VALUE;
			return STEP_MORE;
		}
		if (c != '\r' && c != '\n')
			return fail(p, 400, "control character in field value");
		if (p->state == ST_VALUE_OWS)
			p->mark = p->value_end = p->pos; /* an empty value */
		value_complete(p);
		p->state = c == '\r' ? ST_LINE_LF : ST_FIELD_START;
		return STEP_MORE;
	default:
		assert(!"not a field state");
		return fail(p, 400, "internal error");
	}
}

/* Byte classes for the runs skipped by skip_run(): C_TCHAR is is_tchar, C_VALUE is_value_char,
 * C_QUERY is_target_char, C_PATH is_target_char but '?'. Written out (test_http checks it against
 * those functions' definitions byte by byte through the parser's results). */
enum {
	C_TCHAR = 1,
	C_VALUE = 2,
	C_PATH = 4,
	C_QUERY = 8
};

static const uint8_t byte_class[256] = {
	0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 00 */
	0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
	0,  15, 14, 15, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 14, /* 20 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 14, 14, 14, 10, /* 30 */
	14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 40 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 14, 15, 15, /* 50 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 60 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 15, 14, 15, 0,  /* 70 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 80 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 90 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* A0 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* B0 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* C0 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* D0 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* E0 */
	2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* F0 */
};

/* Skip the run of bytes from p->pos that leaves the state as it is (the inside of a field name,
 * a value, a path or a query), with one table lookup a byte instead of a trip through the machine.
 * Measured with perf/proto-bench (handshake): most of a request's bytes are in such runs. Stops
 * at `limit`, and at the first byte the machine must see, which http_step then handles. */
static void skip_run(rc_http_parser *p, const uint8_t *buf, size_t limit)
{
	static const uint8_t run_class[] = {
		[ST_NAME] = C_TCHAR,
		[ST_VALUE] = C_VALUE,
		[ST_PATH] = C_PATH,
		[ST_QUERY] = C_QUERY,
	};
	if (p->state >= sizeof run_class || run_class[p->state] == 0)
		return;
	const uint8_t *cls = byte_class;
	uint8_t want = run_class[p->state];
	size_t i = p->pos;
	if (p->state == ST_VALUE) {
		/* OWS inside a value ("keep-alive, Upgrade", a User-Agent) stays in the run; the value
		 * ends after its last visible byte, so trailing OWS is trimmed. */
		for (; i < limit; i++) {
			uint8_t c = buf[i];
			if (cls[c] & C_VALUE)
				p->value_end = (uint32_t)i + 1;
			else if (!is_ows(c))
				break;
		}
	} else {
		while (i < limit && (cls[buf[i]] & want))
			i++;
	}
	p->pos = (uint32_t)i;
}

/* Advance over buf[p->pos]. */
static ssize_t http_step(rc_http_parser *p, const uint8_t *buf)
{
	uint8_t c = buf[p->pos];
	/* A NUL is refused wherever it is: every state would refuse it anyway (it is no tchar, target
	 * or value byte), but this says so plainly in the log. */
	if (c == 0)
		return fail(p, 400, "NUL byte");
	if (p->state < ST_LINE_LF)
		return step_request_line(p, buf, c);
	return step_field(p, buf, c);
}

/* The head is complete: turn every offset into a pointer into buf. */
static void set_pointers(rc_http_request *req, const uint8_t *buf)
{
	const char *base = (const char *)buf;
	req->method.ptr = base + req->method.off;
	req->path.ptr = base + req->path.off;
	req->query.ptr = base + req->query.off;
	for (uint32_t i = 0; i < req->header_count; i++) {
		rc_http_header *h = &req->headers[i];
		h->name.ptr = base + h->name.off;
		h->value.ptr = base + h->value.off;
	}
}

void rc_http_parser_init(rc_http_parser *p, const rc_http_cfg *cfg, rc_http_header *headers)
{
	assert(p && cfg && headers);
	assert(cfg->header_bytes_max > 0 && cfg->header_bytes_max <= INT32_MAX);
	assert(cfg->header_fields_max > 0);
	*p = (rc_http_parser){
		.cfg = *cfg,
		.req = { .headers = headers },
		.reason = "",
		.state = ST_START,
	};
}

ssize_t rc_http_parse(rc_http_parser *p, const uint8_t *buf, size_t len)
{
	assert(p && (buf || len == 0));
	if (p->state == ST_DONE) {
		assert(len >= (size_t)p->result);
		set_pointers(&p->req, buf); /* the buffer may have moved since */
		return p->result;
	}
	if (p->state == ST_FAILED)
		return p->result;
	assert(len >= p->pos); /* the buffer only grows */

	/* Never look past the limit: a head that has not ended within header_bytes_max bytes is
	 * refused as soon as one more byte is there, without reading it. */
	size_t limit = len < p->cfg.header_bytes_max ? len : p->cfg.header_bytes_max;
	ssize_t r = STEP_MORE;
	while (p->pos < limit) {
		skip_run(p, buf, limit);
		if (p->pos == limit)
			break;
		r = http_step(p, buf);
		if (r != STEP_MORE)
			break;
		p->pos++;
	}

	if (r == STEP_MORE) {
		assert(p->pos == limit);
		if (len <= p->cfg.header_bytes_max)
			return 0;
		r = fail(p, 431, "header block too large");
	}
	if (r == STEP_DONE) {
		p->result = (ssize_t)p->pos + 1; /* the head's final LF is included */
		p->state = ST_DONE;
		set_pointers(&p->req, buf);
	} else {
		assert(r < 0);
		p->result = r;
		p->state = ST_FAILED;
	}
	return p->result;
}

/* ---- helpers on a parsed request ---- */

bool rc_http_str_eq_nocase(rc_http_str s, const char *z)
{
	assert(z && (s.ptr || s.len == 0));
	size_t n = strlen(z);
	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower((uint8_t)s.ptr[i]) != ascii_lower((uint8_t)z[i]))
			return false;
	return true;
}

const rc_http_header *rc_http_header_find(const rc_http_request *req, const char *name,
                                          const rc_http_header *prev)
{
	assert(req && name);
	uint32_t i = 0;
	if (prev) {
		assert(prev >= req->headers && prev < req->headers + req->header_count);
		i = (uint32_t)(prev - req->headers) + 1;
	}
	for (; i < req->header_count; i++)
		if (rc_http_str_eq_nocase(req->headers[i].name, name))
			return &req->headers[i];
	return NULL;
}

uint32_t rc_http_header_count(const rc_http_request *req, const char *name)
{
	uint32_t n = 0;
	for (const rc_http_header *h = rc_http_header_find(req, name, NULL); h;
	     h = rc_http_header_find(req, name, h))
		n++;
	return n;
}

bool rc_http_list_next(rc_http_str list, uint32_t *cursor, rc_http_str *item)
{
	assert(cursor && item && *cursor <= list.len);
	const uint8_t *s = (const uint8_t *)list.ptr;
	uint32_t i = *cursor;
	while (i < list.len && (s[i] == ',' || is_ows(s[i])))
		i++; /* empty items ("a,,b", RFC 9110 §5.6.1) and the OWS before an item */
	if (i == list.len) {
		*cursor = i;
		return false;
	}
	uint32_t start = i, end = i;
	for (; i < list.len && s[i] != ','; i++)
		if (!is_ows(s[i]))
			end = i + 1;
	assert(end > start);
	*item = (rc_http_str){ .ptr = list.ptr + start, .off = list.off + start, .len = end - start };
	*cursor = i;
	return true;
}

bool rc_http_header_has_token(const rc_http_request *req, const char *name, const char *token)
{
	for (const rc_http_header *h = rc_http_header_find(req, name, NULL); h;
	     h = rc_http_header_find(req, name, h)) {
		uint32_t cur = 0;
		rc_http_str item;
		while (rc_http_list_next(h->value, &cur, &item))
			if (rc_http_str_eq_nocase(item, token))
				return true;
	}
	return false;
}

/* ---- responses ---- */

const char *rc_http_status_text(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Appends to a fixed buffer; remembers if anything did not fit. */
typedef struct writer {
	char *out;
	size_t cap, len;
	bool full;
} writer;

static void put(writer *w, const void *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->out + w->len, s, n);
	w->len += n;
}

static void put_str(writer *w, const char *z)
{
	put(w, z, strlen(z));
}

static void put_uint(writer *w, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, tmp + sizeof tmp - n, n);
}

/* The status line and the framing headers every response has. */
static void put_head(writer *w, int status, const char *content_type, size_t body_len)
{
	assert(status >= 200 && status <= 599);
	bool bodiless = status == 204 || status == 304;
	assert(!bodiless || body_len == 0);

	put_str(w, "HTTP/1.1 ");
	put_uint(w, (uint64_t)status);
	put_str(w, " ");
	put_str(w, rc_http_status_text(status));
	put_str(w, "\r\n");
	if (content_type) {
		put_str(w, "Content-Type: ");
		put_str(w, content_type);
		put_str(w, "\r\n");
	}
	if (!bodiless) {
		put_str(w, "Content-Length: ");
		put_uint(w, body_len);
		put_str(w, "\r\n");
	}
	put_str(w, "Connection: close\r\n");
}

size_t rc_http_response(char *out, size_t cap, int status, const char *content_type,
                        const char *extra_headers, const void *body, size_t body_len)
{
	assert(out || cap == 0);
	assert(body || body_len == 0);
	writer w = { .out = out, .cap = cap };
	put_head(&w, status, content_type, body_len);
	if (extra_headers)
		put_str(&w, extra_headers);
	put_str(&w, "\r\n");
	put(&w, body, body_len);
	return w.full ? 0 : w.len;
}

size_t rc_http_error_response(char *out, size_t cap, int status, const char *extra_headers,
                              const char *reason)
{
	assert(out || cap == 0);
	assert(status >= 400 && status <= 599);
	if (!reason)
		reason = rc_http_status_text(status);
	size_t reason_len = strlen(reason);

	writer w = { .out = out, .cap = cap };
	put_head(&w, status, "text/plain", reason_len + 1);
	if (status == 405)
		put_str(&w, "Allow: GET\r\n"); /* RFC 9110 §15.5.6: a 405 must say what is allowed */
	if (status == 503)
		put_str(&w, "Retry-After: 1\r\n");
	if (extra_headers)
		put_str(&w, extra_headers);
	put_str(&w, "\r\n");
	put(&w, reason, reason_len);
	put(&w, "\n", 1);
	return w.full ? 0 : w.len;
}

size_t rc_http_join(char *out, size_t cap, const char *const *parts, size_t n)
{
	assert((out != NULL || cap == 0) && (parts != NULL || n == 0));
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(parts[i]);
		if (k > cap - len)
			return 0;
		memcpy(out + len, parts[i], k);
		len += k;
	}
	return len;
}
