/* rc_worker_int: what the worker's three files share (rc_worker.c: the loop, I/O and lifecycle;
 * rc_ws.c: WebSocket frames, publishing, fan-out and commands; rc_route.c: the HTTP routes and the
 * opening handshake). Not a public header: nothing outside net/ includes it.
 */
#ifndef RC_WORKER_INT_H
#define RC_WORKER_INT_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_app.h"
#include "rc_cfg.h"
#include "rc_chunks.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_group.h"
#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_log.h"
#include "rc_metrics.h"
#include "rc_msg.h"
#include "rc_outq.h"
#include "rc_pool.h"
#include "rc_topic.h"
#include "rc_uring.h"
#include "rc_worker.h"
#include "rc_xmsg.h"

#define RC_BGID 0 /* the provided buffer ring's group id */
/* Staging and control chunk. As large as a receive buffer, so that one send per subscriber per
 * iteration can carry everything one receive from a publisher brought in (with 16 KiB, a
 * publisher filling 64 KiB reads outran its subscribers' sends 4 to 1 and their queues
 * overflowed). Only the pages a send actually fills become resident. */
#define RC_CHUNK_BYTES (64u << 10)
#define RC_CLOSE_FRAME_MAX (2 + 2 + RC_CLOSE_REASON_MAX) /* a close frame's header and payload */
/* descriptor slots beyond max-connections, so that a client over the limit can still be told 503 */
#define RC_SLOT_RESERVE 64

enum conn_state {
	CS_FREE = 0,
	CS_HTTP, /* reading the request head */
	CS_OPEN, /* a WebSocket */
	/* our close frame (or an HTTP response) is queued or sent: waiting for it to go out and for
	 * the peer's close frame, until the close deadline */
	CS_CLOSING,
	CS_ABORT,  /* cancelling what is in flight; the descriptor is closed once nothing is */
	CS_CLOSED, /* the close of the descriptor is in flight: the slot is freed at its CQE */
};

enum conn_route {
	ROUTE_NONE = 0,
	ROUTE_WS,   /* /ws: pub/sub */
	ROUTE_ECHO, /* /echo: every message back */
};

enum conn_flag {
	F_DIRTY = 1u << 0,        /* on the dirty list: flush this iteration */
	F_RECV = 1u << 1,         /* a recv is in flight */
	F_SEND = 1u << 2,         /* a send is in flight */
	F_PINNED = 1u << 3,       /* that send carries the queue's head frame by reference */
	F_V1 = 1u << 4,           /* negotiated ringcast.v1 */
	F_AUTH = 1u << 5,         /* may publish */
	F_PINGED = 1u << 6,       /* an idle deadline passed: we pinged, the next one closes */
	F_STARVED = 1u << 7,      /* the recv found no buffer: re-arm when buffers are back */
	F_CLOSE_QUEUED = 1u << 8, /* our close frame is in ctl (or will be, after the queue drains) */
	F_CLOSE_IN_OUT = 1u << 9, /* our close frame is in the send in flight */
	F_CLOSE_SENT = 1u << 10,  /* our close frame went out */
	F_CLOSE_RCVD = 1u << 11,  /* the peer's close frame came in */
	F_DRAIN_CLOSE = 1u << 12, /* send what is queued before the close frame (shutdown) */
	F_HTTP_DONE = 1u << 13,   /* a plain HTTP response is queued: close once it is sent */
	F_RX_REARM = 1u << 14,    /* we cancelled the recv to re-arm it with another deadline */
	F_OVER_LIMIT = 1u << 15,  /* accepted beyond max-connections: an upgrade gets 503 */
	/* an unsubscribe happened with messages queued: the flush skips messages of topics no longer
	 * subscribed */
	F_PURGE = 1u << 16,
	F_SEND_DEADLINE = 1u << 18, /* the send in flight is the second try, with the write deadline */
};

/* A connection. Its slot in w->conns is its direct descriptor index. An idle WebSocket holds
 * nothing but this struct: no receive buffer (the provided ring serves all connections), no chunk
 * and no queue storage until something is queued (docs/architecture.md, the 400-byte budget). */
typedef struct rc_conn {
	rc_outq q;         /* outbound messages (by reference) */
	rc_subscriber sub; /* its subscriptions */
	struct rc_conn *dirty_next;
	struct rc_conn *list_next; /* the starved list */
	uint8_t *out;              /* chunk of the send in flight, NULL if none or by reference */
	/* chunk of control output waiting to be sent: HTTP response, notices, pongs, pings, close
	 * frame */
	uint8_t *ctl;
	uint8_t *head; /* request head chunk while CS_HTTP (parser, fields, bytes) */
	/* handshake deadline (CS_HTTP) or close deadline (CS_CLOSING), in ms of CLOCK_MONOTONIC
	 * since the worker started (w->t0_ns): 32 bits where a nanosecond time would take 64, for
	 * the 400-byte budget; wraps after 49 days, far beyond any deadline */
	uint32_t deadline_ms;
	uint32_t out_len;
	uint32_t out_done; /* bytes of out already sent by an earlier try */
	uint32_t ctl_len;
	uint32_t flags;      /* enum conn_flag */
	uint32_t gen;        /* bumped when the slot is reused (user_data) */
	uint32_t id;         /* connection id for logs */
	uint32_t asm_buf;    /* POOL buffer assembling a message, RC_POOL_NONE if none */
	uint32_t asm_len;    /* payload bytes in it (after RC_CFG_HEADROOM_BYTES) */
	int32_t pub_topic;   /* plain publisher's topic (pinned), -1 if none */
	uint16_t close_code; /* the code of our close frame */
	uint8_t state;       /* enum conn_state */
	uint8_t route;       /* enum conn_route */
	uint8_t inflight;    /* SQEs whose CQE has not come back */
	uint8_t why;         /* enum rc_close_reason, once decided */
	uint8_t asm_op;      /* opcode of the message in asm_buf */
	rc_frame_parser fp;
} rc_conn;

/* The per-connection budget of an idle connection is 400 bytes of user-space memory (issue 3,
 * measured by perf/ringcast-bench's idle workload); this struct is all of it. */
_Static_assert(
        sizeof(rc_conn) <= 368,
        "rc_conn outgrew the idle-connection budget: 368 bytes "
        "measured 394 bytes of RSS per idle connection (docs/benchmarks.md), 376 measured 402");

/* Hand-offs to one other worker (rc_xfer.c). Losses (a full mailbox, no memory for the copy) are
 * remembered per topic until the mailbox has room to carry a LOSS record, so that the receiving
 * worker can tell its subscribers exactly what they missed (docs/protocol.md 6.5). */
/* topics with losses remembered per receiver; more are counted in lost_untold (a log line and a
 * metric) */
#define RC_XFER_LOSS_MAX 16
typedef struct xfer_loss {
	uint32_t count;
	uint8_t len;
	uint8_t name[RC_APP_TOPIC_MAX];
} xfer_loss;

typedef struct xfer_out {
	bool notify;    /* pushed since the last rc_mailbox_notify */
	uint32_t nloss; /* entries of loss[] in use */
	xfer_loss loss[RC_XFER_LOSS_MAX];
} xfer_out;

#define RC_XFER_POP 64u /* records taken from a mailbox at a time */
/* records taken per mailbox per loop turn: a flood from one worker cannot starve this worker's
 * own connections */
#define RC_XFER_BUDGET 4096u

/* The request head chunk: parser state and fields, then the bytes. */
typedef struct rc_head {
	rc_http_parser parser;
	uint32_t len; /* bytes received so far */
	uint32_t cap;
	rc_http_header *fields; /* header_fields_max of them, after this struct */
	uint8_t *bytes;         /* cap bytes */
} rc_head;

struct rc_worker {
	const rc_cfg *cfg;
	rc_group *group;
	uint32_t index; /* in the group */
	rc_interest_local interest;
	rc_xarena xarena; /* hand-offs built here for other workers */
	xfer_out *xout;   /* [group->n]: per receiving worker */
	bool xin_more;    /* a mailbox still held records after its budget: do not sleep */
	bool xloss;       /* some xout has losses to tell */
	/* the last wait ended by its RC_MAIL_CHECK_NS timeout with the wake flag still armed (no
	 * producer took the wake-up) */
	bool mail_check;
	bool gauges_stale;    /* gauges not refreshed since something changed */
	uint64_t gauges_ns;   /* last gauge refresh */
	uint64_t spin_ns;     /* idle spin before sleeping */
	uint64_t lost_untold; /* losses that found no room in xout[].loss */
	struct io_uring ring;
	rc_uring_info uinfo;
	rc_bufring bufring;
	int listen_fd;
	int signal_fd;
	uint8_t *region;
	size_t region_len;
	bool region_registered;
	rc_pool pool;
	rc_msgs msgs;
	rc_arena arena;
	rc_topics topics;
	rc_chunks chunks; /* RC_CHUNK_BYTES: staging, control output, queue storage */
	rc_chunks heads;  /* request heads */
	rc_outq_cfg qcfg;
	rc_outq_alloc qalloc;
	rc_metrics metrics;
	rc_conn *conns;
	uint32_t nslots;
	uint32_t open;    /* connections not CS_FREE */
	uint32_t ws_open; /* of which WebSockets (CS_OPEN or CS_CLOSING with a route) */
	uint32_t next_id;
	rc_conn *dirty;    /* flush list */
	rc_conn *starved;  /* recvs waiting for buffers */
	uint32_t *touched; /* recv buffers parsed this iteration that still hold messages */
	uint32_t ntouched;
	uint32_t *returned; /* scratch for rc_pool_take_returned_recv */
	bool accept_armed;
	bool accept_paused; /* the descriptor table was full: re-arm when a slot frees */
	bool draining;
	bool drain_expired;
	uint8_t signals; /* SIGTERM/SIGINT seen */
	struct signalfd_siginfo *siginfo;
	struct __kernel_timespec ts_idle, ts_write, ts_drain;
	struct __kernel_timespec *ts_abs; /* absolute deadlines prepared since the last submit */
	uint32_t ts_abs_used, ts_abs_cap;
	const char *origins[RC_CFG_ORIGINS_MAX];
	const char *subprotocols[1];
	rc_ws_handshake_cfg hs_ws;
	rc_ws_handshake_cfg hs_echo;
	rc_frame_cfg frame_cfg;
	uint64_t t0_ns;          /* CLOCK_MONOTONIC at start: the origin of conn deadlines */
	uint64_t next_relief_ns; /* pressure relief found nothing: not again before this */
	uint64_t next_trim_ns;   /* earliest time for the next rc_chunks_trim */
	uint8_t *scratch;        /* RC_SCRATCH_BYTES: query decoding, metrics rendering */
};

/* With several workers, gauges (connections, topics, queued bytes, buffers) are refreshed by their
 * own worker, at most this often while anything happens, so that /metrics, served by whichever
 * worker the request lands on, can add them up without touching another worker's state. */
#define RC_GAUGES_NS 250000000u

/* With several workers a sleeping worker also wakes this often to look at its mailboxes: a
 * safety net under the MSG_RING wake-up that bounds what a lost wake-up could cost and counts
 * what it finds (ringcast_handoffs_found_by_check_total), for ten idle wake-ups a second. */
#define RC_MAIL_CHECK_NS 100000000u

/* Scratch space of the worker for what is built and copied at once: the first half for the
 * metrics text, decoded connect parameters and notices; the second half for whole HTTP responses
 * (which may embed the first half). */
#define RC_SCRATCH_BYTES (128u << 10)

/* A deadline ms milliseconds from now, and back to CLOCK_MONOTONIC nanoseconds. */
uint64_t rc_now_ns(void);
static inline uint32_t conn_deadline_in(const struct rc_worker *w, uint32_t ms)
{
	return (uint32_t)((rc_now_ns() - w->t0_ns) / 1000000u) + ms;
}
static inline uint64_t conn_deadline_ns(const struct rc_worker *w, uint32_t deadline_ms)
{
	return w->t0_ns + (uint64_t)deadline_ms * 1000000u;
}

static inline uint32_t conn_slot(const rc_worker *w, const rc_conn *c)
{
	return (uint32_t)(c - w->conns);
}


/* rc_worker.c */
void conn_dirty(rc_worker *w, rc_conn *c);
void conn_close(rc_worker *w, rc_conn *c, uint16_t code, enum rc_close_reason why,
                const char *reason);
void conn_abort(rc_worker *w, rc_conn *c, enum rc_close_reason why);
bool conn_ctl_append(rc_worker *w, rc_conn *c, const void *p, size_t n);
bool conn_ctl_frame(rc_worker *w, rc_conn *c, uint8_t opcode, const void *p, size_t n);
void conn_start_recv(rc_worker *w, rc_conn *c);
void conn_release_asm(rc_worker *w, rc_conn *c);

/* rc_ws.c */
void ws_open(rc_worker *w, rc_conn *c);
void ws_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);
uint32_t ws_relieve_pressure(rc_worker *w);

/* rc_xfer.c: hand-offs between workers */
void xfer_publish(rc_worker *w, const uint8_t *topic, size_t tlen, uint32_t hash, bool text,
                  const uint8_t *payload, size_t len);
uint32_t xfer_receive(rc_worker *w);
void xfer_flush(rc_worker *w);
bool xfer_idle(rc_worker *w);
void xfer_wake(rc_worker *w, uint32_t to, uint64_t what, uint32_t arg);

/* rc_ws.c, for hand-offs */
void ws_deliver(rc_worker *w, const uint8_t *topic, size_t tlen, bool text, const uint8_t *payload,
                size_t len);
void ws_lost(rc_worker *w, const uint8_t *topic, size_t tlen, uint32_t count);

/* rc_worker.c */
void worker_signal(rc_worker *w, uint32_t signo, uint32_t count);
void worker_gauges(rc_worker *w);

/* rc_route.c */
void http_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);

#endif
