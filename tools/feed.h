/* feed: the parts of ringcast-feed that tools/ringcast-feed.c (options, the publishing loop, the
 * report) builds on. tools/CMakeLists.txt links the feed_*.c files into ringcast-feed only.
 *
 *   feed_market.c  the synthetic market: topic names and each one's quotes, a random walk written
 *                  as small JSON objects
 *   feed_conn.c    one WebSocket connection to the server: connect, the opening handshake (with
 *                  proto's rc_ws_client), batches of masked frames, reading what the server says
 *                  (pings, error notices, its close), and our side of the closing handshake
 *
 * Connections are blocking sockets with a send timeout; every failure to set one up is reported on
 * stderr and exits 1 (nothing to clean up that the kernel does not). Functions that can fail later
 * return 0 or -errno (or -1 where the details are left in the connection).
 */
#ifndef FEED_H
#define FEED_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rc_app.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_ws_client.h"

/* a connection's batch buffer; a fuller tick sends several times */
#define FEED_OUT_CAP (256u << 10)
#define FEED_IN_CAP (16u << 10) /* read buffer */
#define FEED_NOTICE_MAX (RC_APP_JSON_LEN_MAX + 1)
#define FEED_PAYLOAD_MAX 256 /* a quote's JSON is under 160 bytes */
#define FEED_FRAME_MAX (RC_FRAME_HEADER_MAX + RC_APP_PUB_HEADER_MAX + FEED_PAYLOAD_MAX)
#define FEED_SEND_TIMEOUT_S 10 /* one batch not taken in this long: give up */
#define FEED_HANDSHAKE_TIMEOUT_S 10
#define FEED_HEAD_MAX 8192      /* longest answer head to the upgrade request */
#define FEED_CLOSE_WAIT_MS 3000 /* wait for the server's close frame after ours */
#define FEED_NAME_MAX 24

/* Set by SIGINT and SIGTERM (ringcast-feed.c): stop publishing; a wait it interrupts gives up. */
extern volatile sig_atomic_t feed_stop;

static inline uint64_t feed_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Fill p[0..n) from getrandom(2); exits 1 if the kernel refuses. */
void feed_random(void *p, size_t n);

/* ---- the market (feed_market.c) ---- */

struct feed_topic {
	char name[FEED_NAME_MAX];
	uint8_t name_len;
	uint8_t dp;    /* decimals of the price */
	int64_t mid;   /* in units of 10^-dp */
	uint64_t n;    /* messages published on it */
	uint32_t conn; /* index of the connection that publishes it */
};

/* n topics (BTC-USD, ETH-USD, ... then SYM-13, SYM-14, ...), published over one connection
 * (nconn == 1) or one each; their walks start from seed. Exits 1 if out of memory. Free with
 * free(). */
struct feed_topic *feed_topics_make(uint32_t n, uint32_t nconn, uint64_t seed);

/* Step t's walk and write its next quote, stamped ts_ns (Unix nanoseconds), at out
 * (FEED_PAYLOAD_MAX bytes). Returns the length. */
size_t feed_quote_json(struct feed_topic *t, uint64_t ts_ns, char *out);

/* ---- connections (feed_conn.c) ---- */

/* Where to connect: the parsed --url, the request target (path and query, without publish=), and
 * the bearer token (NULL: none). */
struct feed_dest {
	const rc_ws_url *url;
	const char *target;
	const char *token;
};

struct feed_conn {
	int fd;
	const char *label; /* "ringcast.v1" or the topic, for messages */
	rc_frame_parser fp;
	uint8_t fp_ctl[RC_FRAME_CONTROL_MAX]; /* lent to fp for split control frames */
	uint8_t *out;                         /* frames waiting to be sent */
	size_t out_len;
	uint8_t *in;     /* FEED_IN_CAP */
	uint8_t *notice; /* a TEXT message being assembled (ringcast.v1 notices) */
	size_t notice_len;
	bool notice_skip; /* too long: ignored */
	bool in_text;
	bool close_sent;
	bool close_rcvd;
	bool eof;
	int send_err; /* errno of a failed send, 0 if none */
	uint16_t close_code;
	char close_reason[RC_CLOSE_REASON_MAX + 1];
};

/* Counters for the report, over every connection. */
struct feed_counts {
	uint64_t sent_bytes, writes, error_notices;
};
extern struct feed_counts feed_counts;

/* Open c (label already set): connect to d, upgrade (ringcast.v1 when publish is NULL, else a plain
 * connection publishing to that topic), check the answer. Frames that came with the 101 are read
 * (a close among them sets c->close_rcvd). Exits 1 on any failure. */
void feed_conn_open(struct feed_conn *c, const struct feed_dest *d, const char *publish);

/* Append one masked frame to c's batch: prefix[0..plen) then payload[0..len) as its payload. The
 * caller made room (c->out_len + FEED_FRAME_MAX <= FEED_OUT_CAP, or flushed). */
void feed_conn_frame(struct feed_conn *c, uint8_t opcode, const uint8_t *prefix, size_t plen,
                     const void *payload, size_t len);

/* Send c's batch. Returns 0, or -errno (-ETIMEDOUT: not taken within FEED_SEND_TIMEOUT_S), the
 * first failure kept in c->send_err. */
int feed_conn_flush(struct feed_conn *c);

/* Read what the server sent, without blocking: answer pings, count and show error notices.
 * Returns 0, or -1 if the connection is finished (EOF, reset, protocol error, or its close frame
 * came in: then our answer is sent); details are in c. */
int feed_conn_read(struct feed_conn *c);

/* The line saying why c ended: the server's close code and reason, a send timeout, a send error,
 * or a close without a close frame. */
void feed_conn_report_close(const struct feed_conn *c);

/* Our side of the closing handshake on every connection still up: close 1000, then wait up to
 * FEED_CLOSE_WAIT_MS for the servers' answers so that they see a clean close; then close every
 * socket. */
void feed_conns_close_all(struct feed_conn *conns, uint32_t n);

/* Free c's buffers (the socket is closed by feed_conns_close_all). */
void feed_conn_free(struct feed_conn *c);

#endif
