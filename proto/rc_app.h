/* rc_app: ringcast's application protocol, as bytes. docs/protocol.md is the user's description of
 * it (byte layouts, examples, semantics); this header is the codec's contract.
 *
 * What it covers:
 *   - topic names: 1..RC_APP_TOPIC_MAX bytes of [A-Za-z0-9] and . _ - : / @, case-sensitive
 *   - the connect parameters of GET /ws?topics=a,b&publish=T&token=..., and the bearer token of an
 *     Authorization header; errors are the reasons of an HTTP 400 at the handshake
 *   - the "ringcast.v1" subprotocol: JSON commands from the client (TEXT frames), binary PUBLISH
 *     frames from the client and the identical MESSAGE frames to subscribers (BINARY), and JSON
 *     notices from the server (TEXT)
 *
 * One header for the whole codec, because its parts share the topic alphabet, the slice type, the
 * limits and the error codes, and each user (the server, ringcast-feed, ringcast-bench) needs
 * several parts at once. The code is split by part: rc_app.c (topic names, error codes, the binary
 * envelope), rc_app_query.c (connect parameters), rc_app_cmd.c (commands), rc_app_notice.c
 * (notices), and rc_app_text.h / rc_app_text.c for what they share (a bounded output writer, the
 * JSON scanner), which nothing outside proto/rc_app*.c includes.
 *
 * Everything is pure and bounded: no allocation, no I/O, no global state. Decoders read exactly the
 * n bytes they are given (never one more), and every slice they return points into their input or
 * into storage the caller provided. Encoders write into a caller buffer with a capacity and never
 * produce anything the matching decoder would refuse: they return 0 instead (does not fit, or an
 * argument outside the protocol, e.g. an invalid topic).
 *
 * The JSON decoders are not general JSON parsers. They are small scanners for exactly the objects
 * of the protocol (one level, known keys, strings, one array of strings, one integer), that stop at
 * the first problem found reading left to right and report it as the protocol's error code:
 *   RC_APP_ERR_BAD_JSON     the bytes cannot continue any JSON text here (missing ':', unterminated
 *                           string, trailing bytes, a control byte inside a string, ...)
 *   RC_APP_ERR_BAD_COMMAND  JSON so far, but not the expected shape: unknown or duplicate key,
 *                           missing field, a value of the wrong type (recognised by its first
 *                           byte: a nested object or array is refused there, never descended into),
 *                           unknown op
 *   RC_APP_ERR_BAD_TOPIC, RC_APP_ERR_TOO_MANY_TOPICS  a topic string or the topics array
 * Topic names never need JSON escaping, so a backslash inside a topic string is simply a byte
 * outside the topic alphabet (bad_topic); keys and words (op, type, code) are compared raw, so an
 * escaped key is an unknown key.
 */
#ifndef RC_APP_H
#define RC_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_close.h"

#define RC_APP_PATH "/ws" /* the WebSocket endpoint */
/* Sec-WebSocket-Protocol value that enables commands, envelopes and notices */
#define RC_APP_SUBPROTOCOL "ringcast.v1"

#define RC_APP_TOPIC_MAX 128 /* longest topic name, bytes */
/* most topics in one command or notice (and, as the server passes it, in the connect URL) */
#define RC_APP_TOPICS_MAX 64
#define RC_APP_TOKEN_MAX 4096 /* longest token, bytes: a JSON Web Token with a few claims */
/* an error notice's message is cut to this many bytes (at a UTF-8 character boundary) before
 * escaping */
#define RC_APP_MESSAGE_MAX 200
/* longest command or notice text the decoders accept: the encoders write at most ~8.4 KB
 * (RC_APP_CMD_MAX, RC_APP_NOTICE_MAX); the rest is room for whitespace */
#define RC_APP_JSON_LEN_MAX 16384

/* longest conflation interval a client may ask for ("interval_ms" of a subscribe, interval_ms=) */
#define RC_APP_INTERVAL_MAX_MS 60000u

/* A run of bytes inside someone else's buffer. Not NUL-terminated. */
typedef struct rc_app_slice {
	const uint8_t *ptr;
	size_t len;
} rc_app_slice;

/* One byte of a topic name: [A-Za-z0-9] and . _ - : / @ */
static inline bool rc_app_topic_char(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '.' ||
	       b == '_' || b == '-' || b == ':' || b == '/' || b == '@';
}

/* True if p[0..n) is a valid topic name. */
bool rc_app_topic_valid(const uint8_t *p, size_t n);

/* ---- Error codes: the "code" of an error notice ------------------------------------------- */

enum rc_app_error {
	RC_APP_OK = 0,
	RC_APP_ERR_BAD_JSON,        /* "bad_json": a command that is not JSON */
	RC_APP_ERR_BAD_COMMAND,     /* "bad_command": JSON, but no command (unknown op or key, ...) */
	RC_APP_ERR_BAD_TOPIC,       /* "bad_topic": a topic name outside the alphabet or length */
	RC_APP_ERR_TOO_MANY_TOPICS, /* "too_many_topics": more than RC_APP_TOPICS_MAX in a command */
	RC_APP_ERR_UNKNOWN_KIND,    /* "unknown_kind": a binary command whose first byte is not 0x01 */
	/* "bad_publish": a PUBLISH frame too short, with reserved flags, a bad topic length, or a
	 * text payload that is not UTF-8 */
	RC_APP_ERR_BAD_PUBLISH,
	RC_APP_ERR_UNAUTHORIZED,   /* "unauthorized": publishing without a valid token */
	RC_APP_ERR_NOT_SUBSCRIBED, /* "not_subscribed": unsubscribe of a topic not subscribed */
	/* "busy": the server has too many subscribes waiting for other workers; send it again */
	RC_APP_ERR_BUSY,
	/* "forbidden": the connection's token does not allow that topic (subscribe, publish), or an
	 * auth command's token was refused (the message says why: expired, bad signature, ...) */
	RC_APP_ERR_FORBIDDEN,
};
#define RC_APP_ERR_COUNT 11 /* RC_APP_OK included */

/* The wire name of an error code ("bad_json", ...); "ok" for RC_APP_OK; NULL for a value outside
 * the enum. */
const char *rc_app_error_name(enum rc_app_error e);

/* What the server does after sending the error notice for `e`: the close code to close with
 * (RC_CLOSE_UNAUTHORIZED for unauthorized), or 0 if the error is only a notice and the connection
 * stays open (every other code: the command or message is refused as a whole and nothing
 * changes). 0 for RC_APP_OK and values outside the enum. */
uint16_t rc_app_error_close(enum rc_app_error e);

/* Refused commands and PUBLISHes in a row (none accepted in between) after which the server closes
 * the connection with RC_CLOSE_BAD_COMMAND: a client that keeps sending what it cannot send. */
#define RC_APP_REFUSED_MAX 16

/* ---- Connect parameters: GET /ws?<query> ---------------------------------------------------- */

/* Why a handshake is refused with 400. rc_app_query_reason() gives the text for the response. */
enum rc_app_query_error {
	RC_APP_QUERY_OK = 0,
	RC_APP_QUERY_MALFORMED,       /* a byte outside 0x21..0x7E, or '#' */
	RC_APP_QUERY_BAD_ESCAPE,      /* '%' not followed by two hex digits (anywhere in the query) */
	RC_APP_QUERY_BAD_TOPIC,       /* a topics= item that is not a topic name once decoded */
	RC_APP_QUERY_TOO_MANY_TOPICS, /* more topics= items than the caller's array holds */
	RC_APP_QUERY_BAD_PUBLISH,     /* publish= value that is not a topic name once decoded */
	RC_APP_QUERY_DUP_PUBLISH,     /* publish= more than once */
	/* token= (decoded) or bearer token empty, too long, or with a byte outside 0x21..0x7E */
	RC_APP_QUERY_BAD_TOKEN,
	RC_APP_QUERY_DUP_TOKEN,      /* token= more than once */
	RC_APP_QUERY_TOKEN_CONFLICT, /* token= and Authorization: Bearer both present and different */
	RC_APP_QUERY_PUBLISH_V1,     /* publish= on a connection that negotiated ringcast.v1 */
	RC_APP_QUERY_TOO_LONG,       /* the caller's storage cannot hold the decoded values */
	RC_APP_QUERY_BAD_SNAPSHOT,   /* snapshot= other than 0 or 1, or twice */
	RC_APP_QUERY_BAD_INTERVAL, /* interval_ms= not an integer 0..RC_APP_INTERVAL_MAX_MS, or twice */
};

/* A static one-line reason for the 400 response body; never NULL ("ok" for RC_APP_QUERY_OK,
 * "unknown" outside the enum). */
const char *rc_app_query_reason(enum rc_app_query_error e);

/* What a connection asked for. Every slice points into the caller's `store` (percent-decoded
 * copies), except a token taken from an Authorization header, which points into that header value.
 * A slice of length 0 means "absent" (a present value is never empty). */
typedef struct rc_app_connect {
	rc_app_slice publish; /* publish=T */
	rc_app_slice token;   /* token=... or Authorization: Bearer ... */
	rc_app_slice *topics; /* topics=: the caller's array, in order; duplicates kept */
	size_t topics_len;
	size_t topics_cap;
	uint8_t *store; /* the caller's storage for decoded values */
	size_t store_len;
	size_t store_cap;
	bool snapshot;        /* snapshot=1: each topic's latest retained message first */
	uint32_t interval_ms; /* interval_ms=N: at most one message per topic every N ms (0: all) */
	bool seen_snapshot, seen_interval;
} rc_app_connect;

/* Start an empty rc_app_connect. topics has room for topics_cap slices (the server passes
 * RC_APP_TOPICS_MAX); store has store_cap bytes, and a store as long as the query always suffices
 * (decoding never lengthens). */
void rc_app_connect_init(rc_app_connect *c, rc_app_slice *topics, size_t topics_cap, uint8_t *store,
                         size_t store_cap);

/* Parse q[0..n), the query component of the request target (after '?', without it), into c, which
 * rc_app_connect_init prepared. Pairs are separated by '&' (empty pairs are skipped), key from value
 * by the first '='; keys and values are percent-decoded (RFC 3986: '+' is a plus, not a space).
 * topics= is split on the commas as sent, then each item is decoded and must be a topic name (so
 * %2C is a comma inside one topic, which is invalid); topics= may repeat and the items accumulate.
 * publish= and token= may appear once each. Unknown keys are ignored; a known key without '=' has an
 * empty value. Returns RC_APP_QUERY_OK, or the first error found (c is then partly filled: discard
 * it). */
enum rc_app_query_error rc_app_query_parse(rc_app_connect *c, const uint8_t *q, size_t n);

/* Take the token out of an Authorization header value v[0..n): "Bearer" (any case), one or more
 * SP/HTAB, the token (1..RC_APP_TOKEN_MAX bytes of 0x21..0x7E); surrounding SP/HTAB ignored.
 * Returns RC_APP_QUERY_OK with *token pointing into v, or with token->len == 0 if the value is
 * empty or names another scheme (not ours: ignored); RC_APP_QUERY_BAD_TOKEN for a Bearer value
 * without a valid token. */
enum rc_app_query_error rc_app_bearer_parse(const uint8_t *v, size_t n, rc_app_slice *token);

/* rc_app_bearer_parse, then merge its token into c: RC_APP_QUERY_TOKEN_CONFLICT if c already holds
 * a different token= value. c->token may then point into v, which must outlive its use. */
enum rc_app_query_error rc_app_connect_authorization(rc_app_connect *c, const uint8_t *v, size_t n);

/* The checks that need the negotiated subprotocol: RC_APP_QUERY_PUBLISH_V1 if subprotocol_v1 and
 * publish= was given (on ringcast.v1 every message is a command). RC_APP_QUERY_OK otherwise. */
enum rc_app_query_error rc_app_connect_check(const rc_app_connect *c, bool subprotocol_v1);

/* For clients: write the request target for c (its topics, publish and token; store is not used):
 * "/ws" alone, or "/ws?topics=a,b&publish=T&token=..." with the parts present, the token
 * percent-encoded (every byte but A-Z a-z 0-9 - . _ ~). Returns the length (no NUL written), or 0
 * if it does not fit in cap or a value is invalid. rc_app_query_parse of the part after '?' gives
 * back c. */
size_t rc_app_target_encode(uint8_t *out, size_t cap, const rc_app_connect *c);

/* ---- ringcast.v1 commands: TEXT frames from the client ------------------------------------- */

enum rc_app_op {
	RC_APP_OP_SUBSCRIBE = 1,   /* {"op":"subscribe","topics":[...]} */
	RC_APP_OP_UNSUBSCRIBE = 2, /* {"op":"unsubscribe","topics":[...]} */
	RC_APP_OP_AUTH = 3,        /* {"op":"auth","token":"..."}: a fresh token for the connection */
};

/* A request id: what a command's "id" may be, echoed in the notices that answer it. */
#define RC_APP_ID_INT_MAX 9007199254740991ull /* 2^53-1: exact in every JSON implementation */
#define RC_APP_ID_STR_MAX 64                  /* bytes of a string id, without the quotes */
#define RC_APP_ID_RAW_MAX (RC_APP_ID_STR_MAX + 2)

/* A place in a topic's numbering: the epoch (which numbering, docs/protocol.md 6.5) and a sequence
 * number in it. On the wire an epoch is a string of RC_APP_EPOCH_HEX lowercase hex digits. */
typedef struct rc_app_pos {
	uint64_t epoch;
	uint64_t seq;
} rc_app_pos;
#define RC_APP_EPOCH_HEX 16

typedef struct rc_app_cmd {
	enum rc_app_op op;
	/* the "id" as sent (a string with its quotes), or len 0 if the command has none; set as soon as
	 * it is read, so an error later in the command can still be answered with it */
	rc_app_slice id;
	/* 1..RC_APP_TOPICS_MAX: the "topics" in order, then the topics of "resume" in order (their
	 * positions in resume[]); duplicates kept */
	size_t topics_len;
	rc_app_slice topics[RC_APP_TOPICS_MAX]; /* into the parsed text */
	/* subscribe only: topics[resume_from..topics_len) came with a position, resume[i] being that
	 * of topics[i] (resume_from == topics_len: none did) */
	size_t resume_from;
	rc_app_pos resume[RC_APP_TOPICS_MAX];
	bool snapshot;        /* subscribe: "snapshot":true */
	uint32_t interval_ms; /* subscribe: "interval_ms", 0 if absent (every message) */
	rc_app_slice token; /* auth: the token (1..RC_APP_TOKEN_MAX bytes of 0x21..0x7E, no escapes) */
	const char *reason; /* after an error: static, for the notice message */
} rc_app_cmd;

/* The longest command rc_app_cmd_encode writes: unsubscribe, 64 topics of 128 bytes. */
#define RC_APP_CMD_MAX \
	(sizeof("{\"op\":\"unsubscribe\",\"topics\":[") - 1 + \
	 RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 3) - 1 + 2)

/* Parse one command, the whole payload p[0..n) of a TEXT message: one JSON object with the keys
 * "op" (a string, "subscribe" or "unsubscribe") and "topics" (an array of 1..RC_APP_TOPICS_MAX
 * topic-name strings), and optionally "id" (rc_json_id), in any order, JSON whitespace anywhere
 * between tokens. A subscribe may also have "snapshot" (true or false), "interval_ms" (an integer
 * 0..RC_APP_INTERVAL_MAX_MS) and "resume" (an array of {"topic":T,"epoch":E,"seq":N} objects, N
 * 0..2^64-1), and then "topics" may be absent; the two lists together hold 1..RC_APP_TOPICS_MAX
 * topics (TOO_MANY_TOPICS beyond). An auth command has "op":"auth", "token" (a string of
 * 1..RC_APP_TOKEN_MAX bytes 0x21..0x7E, no escapes) and optionally "id", nothing else; its
 * topics_len is 0. Returns RC_APP_OK and
 * fills *out, or the error code to answer with (BAD_JSON, BAD_COMMAND, BAD_TOPIC,
 * TOO_MANY_TOPICS; see the top of this file) with out->reason set. An input longer than
 * RC_APP_JSON_LEN_MAX is BAD_COMMAND. */
enum rc_app_error rc_app_cmd_parse(const uint8_t *p, size_t n, rc_app_cmd *out);

/* For clients: write {"op":"...","topics":["a",...]} (no whitespace). Returns the length, or 0 if
 * it does not fit, op is not an rc_app_op, n is not 1..RC_APP_TOPICS_MAX or a topic is invalid.
 * RC_APP_CMD_MAX bytes always fit. */
size_t rc_app_cmd_encode(uint8_t *out, size_t cap, enum rc_app_op op, const rc_app_slice *topics,
                         size_t n);

/* For clients: write any command as rc_app_cmd_parse reads it: op, the topics before resume_from as
 * "topics" (left out if there are none), the others as "resume" with their positions, "snapshot"
 * if set, "interval_ms" if not 0, and "id" (as raw JSON) if it has one; an auth command as its
 * token and id. Returns the length, or 0 if it does not fit or a field is outside the protocol.
 * RC_APP_CMD_FULL_MAX bytes always fit. */
#define RC_APP_CMD_FULL_MAX \
	(RC_APP_CMD_MAX + \
	 RC_APP_TOPICS_MAX * \
	         (sizeof("{\"topic\":\"\",\"epoch\":\"\",\"seq\":},") + RC_APP_EPOCH_HEX + 20) + \
	 128 + RC_APP_ID_RAW_MAX)
size_t rc_app_cmd_write(uint8_t *out, size_t cap, const rc_app_cmd *cmd);

/* ---- Binary PUBLISH (client -> server) and MESSAGE (server -> subscriber) ------------------ */
/*
 *   offset 0     u8   kind: 0x01 (PUBLISH from a client, MESSAGE to a subscriber)
 *   offset 1     u8   flags: bit 0 = the payload is text (UTF-8); bit 1 (MESSAGE only) = retained,
 *                     sent from the topic's history (a snapshot or a replay); other bits 0
 *   offset 2     u8   L = topic length, 1..RC_APP_TOPIC_MAX
 *   offset 3     L    topic
 *   offset 3+L   u64  sequence number, big-endian (0 from a publisher; the server writes it)
 *   offset 11+L  ...  payload, possibly empty
 */
#define RC_APP_KIND_PUBLISH 0x01
#define RC_APP_KIND_MESSAGE 0x01
#define RC_APP_FLAG_TEXT 0x01
#define RC_APP_FLAG_RETAINED 0x02 /* MESSAGE only: from history, not live */
#define RC_APP_PUB_FIXED_LEN 11   /* kind, flags, L and the sequence number */
#define RC_APP_PUB_HEADER_MAX (RC_APP_PUB_FIXED_LEN + RC_APP_TOPIC_MAX)

typedef struct rc_app_pub {
	uint8_t flags;
	rc_app_slice topic;   /* into the frame */
	uint8_t *seq_slot;    /* the 8 sequence bytes, inside the frame (for rc_app_seq_write) */
	uint64_t seq;         /* their value as received */
	rc_app_slice payload; /* into the frame; may be empty */
	const char *reason;   /* after an error: static, for the notice message */
} rc_app_pub;

/* Parse a PUBLISH or MESSAGE frame, the whole payload p[0..n) of a BINARY message. The sequence
 * number is not checked (the server overwrites it, so a received MESSAGE can be published again
 * as is). With RC_APP_FLAG_TEXT the payload must be valid UTF-8 (subscribers without the
 * subprotocol receive it as a TEXT message). Returns RC_APP_OK and fills *out, or:
 *   RC_APP_ERR_UNKNOWN_KIND  p[0] is not 0x01
 *   RC_APP_ERR_BAD_PUBLISH   n == 0; n < 11 + L; reserved flag bits (RC_APP_FLAG_RETAINED is not
 *                            one: the server refuses it in a PUBLISH itself); L == 0 or L > 128; a text
 *                            payload that is not UTF-8
 *   RC_APP_ERR_BAD_TOPIC     the topic bytes are not a topic name
 * p is not const because out->seq_slot points into it; the parser writes nothing. */
enum rc_app_error rc_app_pub_parse(uint8_t *p, size_t n, rc_app_pub *out);

/* rc_app_pub_parse for a message of n bytes of which only the first `have` are at p (have >=
 * min(n, RC_APP_PUB_HEADER_MAX)): the rest is elsewhere (a large message in pieces). Parses and
 * checks the header the same way; the payload's UTF-8 is NOT checked: the caller checks the
 * n - 11 - L payload bytes (out->payload.len) where they are. out->payload.ptr points at its
 * first byte, of which have - 11 - L are at p. */
enum rc_app_error rc_app_pub_parse_head(uint8_t *p, size_t have, size_t n, rc_app_pub *out);

/* The length of the header (everything before the payload) for a topic of topic_len bytes. */
static inline size_t rc_app_pub_header_len(size_t topic_len)
{
	return RC_APP_PUB_FIXED_LEN + topic_len;
}

/* Write a PUBLISH/MESSAGE header into out (rc_app_pub_header_len(topic_len) bytes, at most
 * RC_APP_PUB_HEADER_MAX); the payload follows it. Returns the header length, or 0 if flags has a
 * reserved bit or the topic is invalid. (UTF-8 of a text payload is the caller's to ensure.) */
size_t rc_app_pub_encode_header(uint8_t *out, uint8_t flags, const uint8_t *topic, size_t topic_len,
                                uint64_t seq);

/* The sequence number slot, big-endian, at any alignment. The server turns a received PUBLISH into
 * the MESSAGE every subscriber shares by rc_app_seq_write(pub.seq_slot, seq), in place. */
void rc_app_seq_write(uint8_t *slot, uint64_t seq);
uint64_t rc_app_seq_read(const uint8_t *slot);

/* ---- ringcast.v1 notices: TEXT frames from the server -------------------------------------- */

enum rc_app_notice_type {
	RC_APP_NOTICE_SUBSCRIBED = 1,   /* {"type":"subscribed","topics":[...]} */
	RC_APP_NOTICE_UNSUBSCRIBED = 2, /* {"type":"unsubscribed","topics":[...]} */
	RC_APP_NOTICE_MISSED = 3,       /* {"type":"missed","topic":"a","count":17} */
	RC_APP_NOTICE_ERROR = 4,        /* {"type":"error","code":"bad_topic","message":"..."} */
	/* {"type":"reset","topic":"a","reason":"history","epoch":"...","first":N,"snapshot":false} */
	RC_APP_NOTICE_RESET = 5,
	/* {"type":"authorized","exp":1767225600}: the answer to an auth command; "exp" (seconds since
	 * the epoch) only if the token expires */
	RC_APP_NOTICE_AUTHORIZED = 6,
};

/* Why a resume could not continue where the client was (the "reason" of a reset notice). */
enum rc_app_reset_reason {
	/* the topic's numbering is another one than the client's (the topic was recreated, the server
	 * restarted), or the client's number is beyond the topic's last */
	RC_APP_RESET_EPOCH = 1,
	RC_APP_RESET_HISTORY = 2, /* the history no longer holds the message after the client's */
};

/* Worst-case lengths of what the encoders below write. */
#define RC_APP_NOTICE_TOPICS_MAX \
	(sizeof("{\"type\":\"unsubscribed\",\"topics\":[") - 1 + \
	 RC_APP_TOPICS_MAX * (RC_APP_TOPIC_MAX + 3) - 1 + 2)
#define RC_APP_NOTICE_MISSED_MAX \
	(sizeof("{\"type\":\"missed\",\"topic\":\"") - 1 + RC_APP_TOPIC_MAX + \
	 sizeof("\",\"count\":") - 1 + 20 + 1)
#define RC_APP_NOTICE_ERROR_MAX \
	(sizeof("{\"type\":\"error\",\"code\":\"too_many_topics") - 1 + sizeof("\",\"message\":\"") - \
	 1 + 6 * RC_APP_MESSAGE_MAX + 2)
/* A subscribed notice with a position per topic (rc_app_notice_subscribed_at). */
#define RC_APP_NOTICE_POSITION_MAX \
	(sizeof("{\"epoch\":\"\",\"seq\":},") - 1 + RC_APP_EPOCH_HEX + 20)
#define RC_APP_NOTICE_SUBSCRIBED_AT_MAX \
	(RC_APP_NOTICE_TOPICS_MAX - 2 + sizeof(",\"positions\":[]") - 1 + \
	 RC_APP_TOPICS_MAX * RC_APP_NOTICE_POSITION_MAX - 1)
#define RC_APP_NOTICE_RESET_MAX \
	(sizeof("{\"type\":\"reset\",\"topic\":\"\",\"reason\":\"history\",\"epoch\":\"\",\"first\":," \
	        "\"snapshot\":false}") - \
	 1 + RC_APP_TOPIC_MAX + RC_APP_EPOCH_HEX + 20)
#define RC_APP_NOTICE_AUTHORIZED_MAX (sizeof("{\"type\":\"authorized\",\"exp\":}") - 1 + 20)
/* The longest notice of any type (subscribed with positions). */
#define RC_APP_NOTICE_MAX RC_APP_NOTICE_SUBSCRIBED_AT_MAX

/* Each returns the length written into out[0..cap), or 0 if it does not fit or an argument is
 * outside the protocol. Topic lists: n is 1..RC_APP_TOPICS_MAX, every topic valid. */
size_t rc_app_notice_subscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n);
size_t rc_app_notice_unsubscribed(uint8_t *out, size_t cap, const rc_app_slice *topics, size_t n);

/* {"type":"subscribed","topics":[...],"positions":[{"epoch":E,"seq":N},...]}: pos[i] is where
 * topics[i] stood when the subscription took effect (its epoch and the number of its last message
 * then, 0 if none yet). */
size_t rc_app_notice_subscribed_at(uint8_t *out, size_t cap, const rc_app_slice *topics,
                                   const rc_app_pos *pos, size_t n);

/* A resume of `topic` that could not continue where the client was: why, the topic's epoch, the
 * first number the client will get on it (first), and whether that first message is a snapshot
 * (the topic's latest retained message, RC_APP_FLAG_RETAINED) or a live one. */
size_t rc_app_notice_reset(uint8_t *out, size_t cap, const uint8_t *topic, size_t topic_len,
                           enum rc_app_reset_reason reason, uint64_t epoch, uint64_t first,
                           bool snapshot);

/* Add a request id to a notice of len bytes in out[0..cap) (written by one of the encoders here):
 * `,"id":RAW` before its closing brace, RAW as the command sent it (rc_app_cmd.id). Returns the new
 * length, or 0 if it does not fit; id.len 0 returns len unchanged. RC_APP_ID_NOTICE_EXTRA more bytes
 * always fit it. */
#define RC_APP_ID_NOTICE_EXTRA (sizeof(",\"id\":") - 1 + RC_APP_ID_RAW_MAX)
size_t rc_app_notice_add_id(uint8_t *out, size_t len, size_t cap, rc_app_slice id);

/* The answer to an auth command: exp is the token's expiry (seconds since the epoch), if has_exp. */
size_t rc_app_notice_authorized(uint8_t *out, size_t cap, bool has_exp, uint64_t exp);

/* count >= 1: the messages dropped for this client on `topic` since the last missed notice. */
size_t rc_app_notice_missed(uint8_t *out, size_t cap, const uint8_t *topic, size_t topic_len,
                            uint64_t count);

/* code is an error (not RC_APP_OK). message[0..len) is cut to RC_APP_MESSAGE_MAX bytes at a UTF-8
 * character boundary and escaped for a JSON string: '"' and '\' with a backslash, control bytes
 * as \n \r \t \b \f or \u00XX, each byte that does not begin a valid UTF-8 character as \ufffd (so
 * the notice is always valid UTF-8). message may be NULL if len is 0. */
size_t rc_app_notice_error(uint8_t *out, size_t cap, enum rc_app_error code, const char *message,
                           size_t len);

typedef struct rc_app_notice {
	enum rc_app_notice_type type;
	size_t topics_len;                      /* subscribed, unsubscribed: 1..64; missed: 1 */
	rc_app_slice topics[RC_APP_TOPICS_MAX]; /* missed: topics[0] is the topic */
	uint64_t count;                         /* missed: >= 1 */
	enum rc_app_error code;                 /* error */
	/* error: the JSON string's content, still escaped (rc_app_notice_message unescapes it) */
	rc_app_slice message;
	rc_app_slice id; /* subscribed, unsubscribed, error: the request id as sent, or len 0 */
	/* subscribed: positions_len == topics_len and positions[i] that of topics[i], or 0 if the
	 * notice has no "positions" */
	size_t positions_len;
	rc_app_pos positions[RC_APP_TOPICS_MAX];
	/* reset: topics[0] is the topic */
	enum rc_app_reset_reason reset;
	uint64_t epoch, first;
	bool snapshot;
	bool has_exp;       /* authorized: it has "exp" */
	uint64_t exp;       /* authorized: the token's expiry, seconds since the epoch */
	const char *reason; /* after a parse error: static */
} rc_app_notice;

/* For clients: parse one notice, the whole payload p[0..n) of a TEXT message. Strict like
 * rc_app_cmd_parse: keys in any order, whitespace between tokens, each type with exactly its keys
 * (subscribed, unsubscribed and error may also have an "id", read as rc_app_cmd_parse does;
 * subscribed may have "positions", as many as its topics),
 * count a decimal integer 1..2^64-1 without sign, fraction or exponent, code one of the names of
 * rc_app_error_name (not "ok"), message a JSON string (escapes \" \\ \/ \b \f \n \r \t and \uXXXX
 * outside the surrogates; at most 6 * RC_APP_MESSAGE_MAX bytes as sent). Returns RC_APP_OK and
 * fills *out, or BAD_JSON, BAD_COMMAND (not a notice), BAD_TOPIC or TOO_MANY_TOPICS with
 * out->reason set. */
enum rc_app_error rc_app_notice_parse(const uint8_t *p, size_t n, rc_app_notice *out);

/* Unescape the message of a parsed error notice into out, which must hold at least
 * nt->message.len bytes (unescaping never lengthens). Returns the length written (no NUL). */
size_t rc_app_notice_message(const rc_app_notice *nt, char *out, size_t cap);

#endif
