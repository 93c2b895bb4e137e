/* rc_metrics: the server's counters and gauges, and their Prometheus text exposition (/metrics).
 *
 * One rc_metrics per worker, written only by that worker's thread. Every metric is one uint64_t
 * slot named by an id (enum rc_metric); a metric with a label (a reason, a state) is a family of
 * consecutive ids, addressed with the RC_M_<FAMILY>(label) macros:
 *     rc_metric_inc(&w->metrics, RC_M_ACCEPTED);
 *     rc_metric_add(&w->metrics, RC_M_BYTES_IN, n);
 *     rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_QUEUE_FULL_OLDEST));
 *     rc_metric_set(&w->metrics, RC_M_CONNECTIONS, open);         (gauges only)
 * One table in rc_metrics.c names every id (metric name, type, help, label), so the ids, the
 * rendering and rc_metrics_add cannot disagree.
 *
 * Threads. Slots are _Atomic but updated with a relaxed load and a relaxed store, not a locked
 * read-modify-write: the single writer makes that exact, it costs the same as a plain increment on
 * x86-64, and a reader on another thread (the /metrics route, which sums every worker's struct
 * with rc_metrics_add) sees whole values without a data race. A reader sees each slot at
 * some recent point, not all slots at one instant; scrapes do not need more.
 *
 * Counters only go up; their names end in _total. Gauges (connections, descriptors, buffers,
 * topics, subscriptions, queued bytes) go both ways and are the worker's current figures, so the
 * sum over workers is the server's figure too.
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rc_pool_stats;

/* Why a connection was refused before (or instead of) becoming a WebSocket: the HTTP status
 * sent. */
enum rc_reject_reason {
	RC_REJECT_OVER_LIMIT,       /* 503: max-connections reached */
	RC_REJECT_BAD_REQUEST,      /* 400: malformed request, bad key, refused query */
	RC_REJECT_FORBIDDEN,        /* 403: Origin not allowed */
	RC_REJECT_NOT_FOUND,        /* 404: unknown path */
	RC_REJECT_METHOD,           /* 405: not GET */
	RC_REJECT_UPGRADE_REQUIRED, /* 426: no Upgrade, or a WebSocket version other than 13 */
	RC_REJECT_TOO_LARGE,        /* 431: request head over header-bytes-max / header-fields-max */
	RC_REJECT_HTTP_VERSION,     /* 505: neither HTTP/1.0 nor HTTP/1.1 */
	RC_REJECT_DRAINING,         /* 503: shutting down */
	RC_REJECT_UNAUTHORIZED,     /* 401: a token the keys refuse (bad, expired, not yet valid) */
	RC_REJECT_FORBIDDEN_TOPIC,  /* 403: a topic of the URL that needs a token granting it */
	RC_REJECT_COUNT
};

/* Why a message was not delivered to one subscriber (counted once per subscriber it missed). */
enum rc_drop_reason {
	RC_DROP_QUEUE_FULL_OLDEST, /* drop-oldest: a queued message made room for a newer one */
	RC_DROP_QUEUE_FULL_NEWEST, /* drop-newest: the new message was not queued */
	RC_DROP_CONFLATED,         /* conflate: replaced by a newer message of its topic */
	RC_DROP_SLOW_DISCONNECT,   /* still queued when its subscriber was closed as a slow consumer */
	RC_DROP_NO_MEMORY,         /* no pool buffer to hold it (queue storage or a copy) */
	/* published on another worker and lost on the way to this one (its mailbox was full, or the
	 * sender had no memory) */
	RC_DROP_HANDOFF_LOST,
	RC_DROP_COUNT
};

/* Why a message was copied once instead of broadcast from its receive buffer (the normal path
 * sends every subscriber the frame where it was received; these are the exceptions). */
enum rc_copy_reason {
	RC_COPY_SPANNING,   /* the frame spanned two receive buffers */
	RC_COPY_FRAGMENTED, /* the message came in several frames */
	/* encoded a second time for the other kind of subscriber: a plain publisher's message
	 * wrapped for ringcast.v1, or a PUBLISH unwrapped for plain ones */
	RC_COPY_REENCODE,
	RC_COPY_HANDOFF, /* built from a message handed over by another worker */
	RC_COPY_COUNT
};

/* Which limit bit (net/rc_limit.h): counted each time a connection is slowed down by a rate, or
 * closed or refused by a limit. */
enum rc_limit_reason {
	RC_LIMIT_MSGS,           /* reads paused: over rate-msgs-per-s */
	RC_LIMIT_BYTES,          /* reads paused: over rate-bytes-per-s */
	RC_LIMIT_COMMANDS,       /* reads paused: over rate-commands-per-s */
	RC_LIMIT_RATE_CLOSED,    /* closed 4005: over a rate for rate-close-after-ms */
	RC_LIMIT_LIFETIME,       /* closed 1012: max-lifetime-ms */
	RC_LIMIT_ACCEPT_RATE,    /* closed at accept: over accept-per-s */
	RC_LIMIT_IP_CONNECTIONS, /* closed at accept: over ip-connections-max */
	RC_LIMIT_IP_RATE,        /* closed at accept: over ip-connects-per-s */
	RC_LIMIT_HANDSHAKES,     /* the oldest handshake closed: over handshakes-max */
	RC_LIMIT_COUNT
};

/* What became of a message handed to another worker (counted per receiving worker). */
enum rc_handoff_result {
	RC_HANDOFF_SENT,         /* in the receiver's mailbox */
	RC_HANDOFF_MAILBOX_FULL, /* lost: the mailbox was full (the receiver is told how many) */
	RC_HANDOFF_NO_MEMORY,    /* lost: no pool buffer to copy it into (the receiver is told) */
	RC_HANDOFF_COUNT
};

/* Where a pool buffer is; the six states of rc_pool_stats, which add up to the pool's count. */
enum rc_buf_state {
	RC_BUFS_FREE,
	RC_BUFS_POOL,          /* handed out: arenas, staging, slow-path copies, queue storage */
	RC_BUFS_RECV_KERNEL,   /* lent to the provided-buffer ring, with the kernel */
	RC_BUFS_RECV_HELD,     /* filled by the kernel, still referenced */
	RC_BUFS_RECV_RETURNED, /* released, waiting to be given back to the ring */
	RC_BUFS_CHAIN,         /* in a chain after its head: the rest of a large message */
	RC_BUFS_COUNT
};

/* Why a connection ended: every accepted connection is counted here exactly once when its
 * descriptor is closed, so accepted_total - sum(closed_total) = connections. */
enum rc_close_reason {
	RC_CLOSED_CLIENT,            /* the client sent a close frame (we answered it) */
	RC_CLOSED_EOF,               /* the peer went away without a close frame (EOF, reset) */
	RC_CLOSED_IO_ERROR,          /* a recv or send failed otherwise */
	RC_CLOSED_HTTP_DONE,         /* a plain HTTP request (/metrics, /healthz, ...) was answered */
	RC_CLOSED_REJECTED,          /* the handshake was refused (see rejected_total) */
	RC_CLOSED_HANDSHAKE_TIMEOUT, /* no complete request within handshake-timeout-ms */
	RC_CLOSED_SHUTDOWN,          /* 1001: drained at shutdown */
	RC_CLOSED_PROTOCOL_ERROR,    /* 1002 */
	RC_CLOSED_INVALID_DATA,      /* 1007 */
	RC_CLOSED_TOO_BIG,           /* 1009 */
	RC_CLOSED_SLOW_CONSUMER,     /* 4000: queue full under the disconnect policy */
	RC_CLOSED_WRITE_TIMEOUT,     /* 4000: a send missed write-timeout-ms */
	RC_CLOSED_UNAUTHORIZED,      /* 4001 */
	RC_CLOSED_BAD_COMMAND,       /* 4002 */
	RC_CLOSED_IDLE_TIMEOUT,      /* 4003 */
	RC_CLOSED_PING_FLOOD,        /* 4004 */
	RC_CLOSED_RATE_LIMITED,      /* 4005: over a rate limit for rate-close-after-ms */
	RC_CLOSED_LIFETIME,          /* 1012: max-lifetime-ms reached */
	RC_CLOSED_LIMITED,           /* closed at accept, before any HTTP: a limit (limited_total) */
	RC_CLOSED_HANDSHAKE_EVICTED, /* the oldest handshake, closed for a new one (handshakes-max) */
	RC_CLOSED_TOKEN_EXPIRED,     /* 4006: the connection's token expired */
	RC_CLOSED_COUNT
};

/* Every slot. A family is a run of ids starting at its _BASE; use the macros below for them. */
enum rc_metric {
	/* gauges */
	RC_M_CONNECTIONS,   /* open connections, any state */
	RC_M_FDS_OPEN,      /* descriptors open (connections, listeners, ...) */
	RC_M_TOPICS,        /* topics that exist */
	RC_M_SUBSCRIPTIONS, /* (connection, topic) subscriptions */
	RC_M_QUEUED_BYTES,  /* bytes waiting in outbound queues */
	RC_M_LARGE_BYTES,   /* pool bytes held by large messages (chains, heads included) */
	RC_M_BUFFERS_BASE,  /* family: pool buffers by state (enum rc_buf_state) */
	/* counters */
	RC_M_ACCEPTED = RC_M_BUFFERS_BASE + RC_BUFS_COUNT, /* connections accepted */
	RC_M_REJECTED_BASE, /* family: refused handshakes by reason (enum rc_reject_reason) */
	/* family: connections closed by reason (enum rc_close_reason) */
	RC_M_CLOSED_BASE = RC_M_REJECTED_BASE + RC_REJECT_COUNT,
	/* slow-consumer disconnects (both kinds of 4000) */
	RC_M_SLOW_DISCONNECTS = RC_M_CLOSED_BASE + RC_CLOSED_COUNT,
	RC_M_PUBLISHED,    /* messages accepted from publishers */
	RC_M_DELIVERED,    /* messages handed to the kernel, once per subscriber */
	RC_M_DROPPED_BASE, /* family: messages dropped by reason (enum rc_drop_reason) */
	RC_M_BYTES_IN = RC_M_DROPPED_BASE + RC_DROP_COUNT, /* bytes received on all connections */
	RC_M_BYTES_OUT,                                    /* bytes sent on all connections */
	/* send requests completed: delivered / sends = frames per send, what loopback throughput
	 * depends on most (docs/facts.md; perf/send-bench measures it) */
	RC_M_SENDS,
	RC_M_COPIES_BASE, /* family: slow-path copies by reason (enum rc_copy_reason) */
	/* messages moved out of a receive buffer into a POOL arena */
	RC_M_PROMOTIONS = RC_M_COPIES_BASE + RC_COPY_COUNT,
	RC_M_BUFFER_ALLOC_FAILURES, /* pool allocations that found no free buffer */
	/* buffers a large message needed and did not get (large-bytes-max, or the pool's reserve) */
	RC_M_LARGE_REFUSALS,
	RC_M_HANDOFFS_BASE, /* family: messages handed to other workers (enum rc_handoff_result) */
	/* hand-offs taken from mailboxes */
	RC_M_HANDOFFS_RECEIVED = RC_M_HANDOFFS_BASE + RC_HANDOFF_COUNT,
	RC_M_WAKEUPS, /* IORING_OP_MSG_RING sent to wake a sleeping worker */
	/* mail found by a sleeping worker's periodic check, no wake-up taken: rare by timing (pushed
	 * just before the check, not yet notified); a steady rate would mean lost wake-ups */
	RC_M_MAIL_LATE,
	RC_M_TLS_SESSIONS,     /* gauge: TLS sessions alive (connections on the TLS listener) */
	RC_M_TLS_HANDSHAKES,   /* TLS handshakes completed */
	RC_M_TLS_RESUMED,      /* of which resumed a session (ticket) */
	RC_M_TLS_FAILURES,     /* TLS handshakes or records that failed (the connection dropped) */
	RC_M_TLS_QUEUED,       /* TLS connections whose first receive waited for a later loop turn */
	RC_M_HISTORY_MESSAGES, /* gauge: messages kept in history */
	RC_M_HISTORY_BUFFERS,  /* gauge: pool buffers history holds (in buffers{state="pool"}) */
	RC_M_HISTORY_EVICTED,  /* messages evicted from history (caps, memory) */
	RC_M_HISTORY_NOT_KEPT, /* messages history could not keep (too long, no memory) */
	RC_M_RETAINED_SENT,    /* retained messages queued for subscribers (snapshots, resumes) */
	RC_M_JOINS_WAITED,     /* subscribes that waited for another worker's answer */
	RC_M_JOINS_BUSY,       /* subscribes refused as busy */
	RC_M_LIMITED_BASE,     /* family: limits that bit, by reason (enum rc_limit_reason) */
	RC_M_COUNT = RC_M_LIMITED_BASE + RC_LIMIT_COUNT
};

#define RC_M_BUFFERS(state) (RC_M_BUFFERS_BASE + (state))
#define RC_M_REJECTED(reason) (RC_M_REJECTED_BASE + (reason))
#define RC_M_CLOSED(reason) (RC_M_CLOSED_BASE + (reason))
#define RC_M_DROPPED(reason) (RC_M_DROPPED_BASE + (reason))
#define RC_M_COPIES(reason) (RC_M_COPIES_BASE + (reason))
#define RC_M_HANDOFFS(result) (RC_M_HANDOFFS_BASE + (result))
#define RC_M_LIMITED(reason) (RC_M_LIMITED_BASE + (reason))

typedef struct rc_metrics {
	_Atomic uint64_t v[RC_M_COUNT];
} rc_metrics;

/* A size for rc_metrics_render's buffer that always suffices (every slot at UINT64_MAX fits; the
 * unit test checks it). */
#define RC_METRICS_RENDER_MAX 16384

/* All zero. */
void rc_metrics_init(rc_metrics *m);

static inline uint64_t rc_metric_get(const rc_metrics *m, unsigned id)
{
	assert(id < RC_M_COUNT);
	return atomic_load_explicit(&m->v[id], memory_order_relaxed);
}

/* Counters and gauges. Only the struct's owner calls these (see the top of this file). */
static inline void rc_metric_add(rc_metrics *m, unsigned id, uint64_t n)
{
	assert(id < RC_M_COUNT);
	uint64_t cur = atomic_load_explicit(&m->v[id], memory_order_relaxed);
	atomic_store_explicit(&m->v[id], cur + n, memory_order_relaxed);
}

static inline void rc_metric_inc(rc_metrics *m, unsigned id)
{
	rc_metric_add(m, id, 1);
}

/* Gauges only. Out of line and checked (id is a gauge): it runs on state changes, not per
 * message, unlike rc_metric_add. */
void rc_metric_set(rc_metrics *m, unsigned id, uint64_t value);

/* Set the RC_M_BUFFERS family and RC_M_BUFFER_ALLOC_FAILURES from the pool's own counters. */
void rc_metrics_set_pool(rc_metrics *m, const struct rc_pool_stats *s);

/* dst += src, slot by slot (counters and gauges alike: the server's figure is the sum of its
 * workers'). dst is usually a private zeroed struct; src may be live on another thread. */
void rc_metrics_add(rc_metrics *dst, const rc_metrics *src);

/* The Prometheus text exposition format (version 0.0.4) of m into out[0..cap): for each metric
 * "# HELP", "# TYPE" and one line per label value, names prefixed ringcast_. Returns the length
 * written (a NUL follows it), or 0 if it does not fit in cap (out then holds nothing useful).
 * RC_METRICS_RENDER_MAX always suffices. */
size_t rc_metrics_render(const rc_metrics *m, char *out, size_t cap);

/* For tests and tools: the metric family of slot id (name without the ringcast_ prefix, "counter"
 * or "gauge", the label key or NULL, and the label value or NULL). Returns 0, or -EINVAL for an id
 * out of range. */
typedef struct rc_metric_info {
	const char *name; /* e.g. "messages_dropped_total" */
	const char *type; /* "counter" or "gauge" */
	const char *help;
	const char *label; /* e.g. "reason"; NULL for a metric without labels */
	const char *value; /* e.g. "queue_full_oldest"; NULL for a metric without labels */
} rc_metric_info;
int rc_metric_describe(unsigned id, rc_metric_info *out);

#endif
