/* rc_app_text: what the rc_app codec's source files share. Internal to proto/rc_app*.c: nothing
 * else includes it, and rc_app.h is the codec's contract.
 *
 *   - hex digits, byte by byte (rc_app_hex_value; the topic alphabet is rc_app.h's
 *     rc_app_topic_char);
 *   - wr, a writer into a caller's buffer with a capacity that remembers overflowing, so that an
 *     encoder writes its pieces without checking each one and returns wr_done(): the length, or
 *     0 if anything did not fit (the encoders' contract);
 *   - rc_app_put_topic_list, the ["a","b"] array of commands and notices;
 *   - the JSON scanner of the command and notice decoders (rc_app_text.c), below.
 *
 * The JSON scanner is a cursor over the input and the first error found. Every read checks the
 * cursor against `end` first; that is the whole defence against over-reading, so no helper reads
 * ahead. Helpers return false after recording an error, and the first error recorded is the one
 * reported (rc_app.h, at the top, says how errors are classed: BAD_JSON, BAD_COMMAND, BAD_TOPIC,
 * TOO_MANY_TOPICS).
 */
#ifndef RC_APP_TEXT_H
#define RC_APP_TEXT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rc_app.h"

/* ---- bytes ---- */

/* The value of a hex digit, or -1. */
static inline int rc_app_hex_value(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

/* True if s holds exactly the NUL-terminated lit. */
static inline bool rc_app_slice_is(rc_app_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- output writer: a buffer with a capacity that remembers overflowing ---- */

typedef struct wr {
	uint8_t *p;
	size_t cap, len;
	bool full; /* something did not fit: the result is 0 */
} wr;

static inline wr wr_make(uint8_t *out, size_t cap)
{
	assert(out || cap == 0);
	return (wr){ .p = out, .cap = cap };
}

static inline void wr_put(wr *w, const void *s, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, s, n);
	w->len += n;
}

static inline void wr_put_c(wr *w, uint8_t b)
{
	wr_put(w, &b, 1);
}

static inline void wr_put_s(wr *w, const char *s)
{
	wr_put(w, s, strlen(s));
}

static inline void wr_put_u64(wr *w, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wr_put(w, d + i, sizeof d - i);
}

/* The encoder's result: the length written, or 0 if anything did not fit. */
static inline size_t wr_done(const wr *w)
{
	assert(w->len <= w->cap);
	return w->full ? 0 : w->len;
}

/* ["a","b",...]} with every topic checked; false if n is not 1..RC_APP_TOPICS_MAX or a topic is
 * invalid (the encoder then returns 0). */
bool rc_app_put_topic_list(wr *w, const rc_app_slice *topics, size_t n);

/* ---- the JSON scanner ---- */

typedef struct rc_json {
	const uint8_t *p, *end;
	enum rc_app_error err; /* the first error found, RC_APP_OK until then */
	const char *why;       /* its static description */
} rc_json;

/* Start scanning p[0..n) (p may be NULL when n is 0). */
rc_json rc_json_start(const uint8_t *p, size_t n);

/* Record error e (if it is the first) and return false. */
bool rc_json_fail(rc_json *c, enum rc_app_error e, const char *why);

/* Skip JSON whitespace. */
void rc_json_ws(rc_json *c);

/* True if the next byte is b (false at the end). */
static inline bool rc_json_peek(const rc_json *c, uint8_t b)
{
	return c->p < c->end && *c->p == b;
}

/* A string of bytes from [a-z_], at most max of them, between quotes: keys and the words of op,
 * type and code. type_why is the error if the value is not a string at all, why if it holds
 * anything else (BAD_COMMAND), unless the text ends first (BAD_JSON). */
bool rc_json_word(rc_json *c, size_t max, rc_app_slice *out, const char *type_why, const char *why);

/* A topic name between quotes (BAD_TOPIC for anything outside the alphabet or the length). */
bool rc_json_topic(rc_json *c, rc_app_slice *out);

/* ["topic", ...]: 1..RC_APP_TOPICS_MAX topics into topics[], their number into *count. */
bool rc_json_topics(rc_json *c, rc_app_slice *topics, size_t *count);

/* A decimal integer 1..UINT64_MAX (the count of a missed notice). */
bool rc_json_uint(rc_json *c, uint64_t *out);

/* A decimal integer min..max; BAD_COMMAND with `why` for any other number. */
bool rc_json_u64(rc_json *c, uint64_t min, uint64_t max, uint64_t *out, const char *why);

/* true or false; `why` if the value is of another type. */
bool rc_json_bool(rc_json *c, bool *out, const char *why);

/* An epoch: a string of exactly RC_APP_EPOCH_HEX lowercase hex digits. */
bool rc_json_epoch(rc_json *c, uint64_t *out);

/* [item, ...]: 0..max items, each read by item(c, index, ctx); the max+1-th is TOO_MANY_TOPICS (the
 * arrays of the protocol are per topic). `what` is the error if the value is not an array. */
typedef bool rc_json_item_fn(rc_json *c, size_t index, void *ctx);
bool rc_json_array(rc_json *c, size_t max, rc_json_item_fn *item, void *ctx, size_t *count,
                   const char *what);

/* An epoch as a JSON string: RC_APP_EPOCH_HEX lowercase hex digits between quotes. */
void rc_app_put_epoch(wr *w, uint64_t epoch);

/* A general JSON string of at most max bytes as sent, still escaped; its escapes are checked (so
 * that rc_app_notice_message can unescape without checking), \u escapes of surrogates refused. */
bool rc_json_text(rc_json *c, size_t max, rc_app_slice *out);

/* A request id (rc_app.h): an integer 0..RC_APP_ID_INT_MAX, or a string of 1..RC_APP_ID_STR_MAX
 * bytes of printable ASCII without '"' or '\'. *raw is the value as sent (a string with its
 * quotes), to be echoed verbatim. */
bool rc_json_id(rc_json *c, rc_app_slice *raw);

/* The code point of the four hex digits at p (the caller checked there are four), or -1. */
long rc_json_hex4(const uint8_t *p);

/* The members of one object: { "key": value, ... }. keys[] are the keys of the message; each one's
 * value is read by member(c, index, ctx), and *seen collects a bit per key read. Duplicate and
 * unknown keys are BAD_COMMAND; `what` is the error if the text is not an object. Returns true at
 * the closing brace; the caller then checks which keys are required and calls rc_json_end. */
typedef bool rc_json_member_fn(rc_json *c, unsigned key, void *ctx);
bool rc_json_object(rc_json *c, const char *const *keys, unsigned nkeys, rc_json_member_fn *member,
                    void *ctx, uint32_t *seen, const char *what);

/* Only whitespace may follow the object. */
bool rc_json_end(rc_json *c);

#endif
