/* rc_admin_json: the admin view's answers as JSON (the shapes are in docs/operations.md, "The
 * admin view"), made from the records the workers wrote (rc_view.h): every connection with its
 * topics' names, the last closes of every worker merged by time, the slowest consumers, and the
 * topics summed over workers with a rate from the previous answer.
 *
 * Pure: records in, text out through a json_out, which hands its buffer to plain blocking write()
 * calls each time it fills (the admin thread writes straight into the client's socket). Allocates
 * only the sorting arrays of one answer and the table of message counts kept for the next one's
 * rates.
 */
#ifndef RC_ADMIN_JSON_H
#define RC_ADMIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_view.h"

#define JSON_OUT_BYTES (64u << 10)

typedef struct json_out {
	int fd;         /* where full buffers go; -1: nowhere (what does not fit is counted, dropped) */
	bool failed;    /* a write failed: the rest goes nowhere */
	uint32_t len;   /* bytes in buf */
	uint64_t total; /* bytes produced */
	char buf[JSON_OUT_BYTES];
} json_out;

void json_out_init(json_out *o, int fd);
void json_put(json_out *o, const void *p, size_t n);
void json_puts(json_out *o, const char *s);
void json_printf(json_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* n bytes as a JSON string, quotes included: '"' and '\' escaped, control bytes as \n, \t... or
 * \u00XX, and every byte outside printable ASCII as \u00XX. Topic names are printable ASCII
 * (docs/protocol.md); bytes that are not are shown, not passed on. */
void json_string(json_out *o, const uint8_t *s, size_t n);

/* Write what buf holds. Returns false if this or an earlier write failed. */
bool json_flush(json_out *o);

/* The workers' answers to one question. */
typedef struct json_answers {
	uint32_t n;             /* workers */
	view_ask *const *ask;   /* [n]: each worker's answer, NULL if it gave none */
	const char *const *why; /* [n]: for a NULL ask, why ("did not answer") */
	uint64_t mono_ns;       /* when they were all in, CLOCK_MONOTONIC */
	int64_t real_ms;        /* the same moment by the wall clock (ms since the epoch) */
} json_answers;

/* Each topic's message count in the last answer that listed topics, for the next one's rates. */
typedef struct json_rate {
	uint64_t messages, epoch;
	uint8_t len;
	uint8_t name[RC_APP_TOPIC_MAX];
} json_rate;

typedef struct json_rates {
	uint64_t at_ns; /* when those counts were taken; 0: never */
	uint32_t n;
	json_rate *r; /* [n], by name */
} json_rates;

void json_rates_fini(json_rates *r);

enum json_part {
	JSON_CONNECTIONS = 1u << 0, /* "connections" and "closes" */
	JSON_SLOW = 1u << 1,        /* "slow" */
	JSON_TOPICS = 1u << 2,      /* "rate_seconds" and "topics"; rates taken for the next */
	JSON_ALL = 7u,
};

/* The answer as one JSON object: "time", "workers", "errors", "truncated", then the parts asked
 * for (enum json_part). */
void json_answer(json_out *o, const json_answers *a, unsigned parts, json_rates *rates);

/* A connection and the answer it came in. */
typedef struct json_conn_ref {
	const view_conn_rec *c;
	const view_ask *a;
} json_conn_ref;

/* The slowest consumers, at most max of them into out, slowest first: most bytes queued, then
 * most messages dropped, then most messages queued; only connections with something queued or
 * dropped. Returns how many. */
#define JSON_SLOW_MAX 10
uint32_t json_slowest(const json_answers *a, json_conn_ref *out, uint32_t max);

#endif
