/* rc_metrics: counters, gauges and their Prometheus rendering. The contract is in rc_metrics.h.
 *
 * The family table below is the one place that names a slot: rendering, rc_metric_describe and the
 * gauge checks all read it. Its families must tile [0, RC_M_COUNT) in id order, each id exactly
 * once; the static asserts and the unit test hold it to that.
 */
#include "rc_metrics.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rc_pool.h"

static const char *const buf_states[RC_BUFS_COUNT] = {
	[RC_BUFS_FREE] = "free",
	[RC_BUFS_POOL] = "pool",
	[RC_BUFS_RECV_KERNEL] = "recv_kernel",
	[RC_BUFS_RECV_HELD] = "recv_held",
	[RC_BUFS_RECV_RETURNED] = "recv_returned",
	[RC_BUFS_CHAIN] = "chain",
};

static const char *const reject_reasons[RC_REJECT_COUNT] = {
	[RC_REJECT_OVER_LIMIT] = "over_limit",
	[RC_REJECT_BAD_REQUEST] = "bad_request",
	[RC_REJECT_FORBIDDEN] = "forbidden",
	[RC_REJECT_NOT_FOUND] = "not_found",
	[RC_REJECT_METHOD] = "method",
	[RC_REJECT_UPGRADE_REQUIRED] = "upgrade_required",
	[RC_REJECT_TOO_LARGE] = "too_large",
	[RC_REJECT_HTTP_VERSION] = "http_version",
	[RC_REJECT_DRAINING] = "draining",
	[RC_REJECT_UNAUTHORIZED] = "unauthorized",
	[RC_REJECT_FORBIDDEN_TOPIC] = "forbidden_topic",
};

static const char *const close_reasons[RC_CLOSED_COUNT] = {
	[RC_CLOSED_CLIENT] = "client",
	[RC_CLOSED_EOF] = "eof",
	[RC_CLOSED_IO_ERROR] = "io_error",
	[RC_CLOSED_HTTP_DONE] = "http_done",
	[RC_CLOSED_REJECTED] = "rejected",
	[RC_CLOSED_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[RC_CLOSED_SHUTDOWN] = "shutdown",
	[RC_CLOSED_PROTOCOL_ERROR] = "protocol_error",
	[RC_CLOSED_INVALID_DATA] = "invalid_data",
	[RC_CLOSED_TOO_BIG] = "too_big",
	[RC_CLOSED_SLOW_CONSUMER] = "slow_consumer",
	[RC_CLOSED_WRITE_TIMEOUT] = "write_timeout",
	[RC_CLOSED_UNAUTHORIZED] = "unauthorized",
	[RC_CLOSED_BAD_COMMAND] = "bad_command",
	[RC_CLOSED_IDLE_TIMEOUT] = "idle_timeout",
	[RC_CLOSED_PING_FLOOD] = "ping_flood",
	[RC_CLOSED_RATE_LIMITED] = "rate_limited",
	[RC_CLOSED_LIFETIME] = "lifetime",
	[RC_CLOSED_LIMITED] = "limited",
	[RC_CLOSED_HANDSHAKE_EVICTED] = "handshake_evicted",
	[RC_CLOSED_TOKEN_EXPIRED] = "token_expired",
};

static const char *const drop_reasons[RC_DROP_COUNT] = {
	[RC_DROP_QUEUE_FULL_OLDEST] = "queue_full_oldest",
	[RC_DROP_QUEUE_FULL_NEWEST] = "queue_full_newest",
	[RC_DROP_CONFLATED] = "conflated",
	[RC_DROP_SLOW_DISCONNECT] = "slow_disconnect",
	[RC_DROP_NO_MEMORY] = "no_memory",
	[RC_DROP_HANDOFF_LOST] = "handoff_lost",
};

static const char *const copy_reasons[RC_COPY_COUNT] = {
	[RC_COPY_SPANNING] = "spanning",
	[RC_COPY_FRAGMENTED] = "fragmented",
	[RC_COPY_REENCODE] = "reencode",
	[RC_COPY_HANDOFF] = "handoff",
};

static const char *const handoff_results[RC_HANDOFF_COUNT] = {
	[RC_HANDOFF_SENT] = "sent",
	[RC_HANDOFF_MAILBOX_FULL] = "mailbox_full",
	[RC_HANDOFF_NO_MEMORY] = "no_memory",
};

static const char *const limit_reasons[RC_LIMIT_COUNT] = {
	[RC_LIMIT_MSGS] = "msgs",
	[RC_LIMIT_BYTES] = "bytes",
	[RC_LIMIT_COMMANDS] = "commands",
	[RC_LIMIT_RATE_CLOSED] = "rate_closed",
	[RC_LIMIT_LIFETIME] = "lifetime",
	[RC_LIMIT_ACCEPT_RATE] = "accept_rate",
	[RC_LIMIT_IP_CONNECTIONS] = "ip_connections",
	[RC_LIMIT_IP_RATE] = "ip_rate",
	[RC_LIMIT_HANDSHAKES] = "handshakes",
};

struct family {
	unsigned base; /* first id */
	unsigned n;    /* ids in the family: 1, or the number of label values */
	bool gauge;
	const char *name; /* without the ringcast_ prefix */
	const char *help;
	const char *label;         /* NULL when n == 1 and there is no label */
	const char *const *values; /* [n] label values */
};

#define ONE(id, g, nm, hp) \
	{ \
		(id), 1, (g), (nm), (hp), NULL, NULL \
	}
#define FAM(id, cnt, g, nm, hp, lb, vals) \
	{ \
		(id), (cnt), (g), (nm), (hp), (lb), (vals) \
	}

/* In id order (rc_metric_describe and the tiling check rely on it). */
static const struct family families[] = {
	ONE(RC_M_CONNECTIONS, true, "connections",
	    "Open connections, in any state (handshake, open, closing)."),
	ONE(RC_M_FDS_OPEN, true, "open_fds", "File descriptors open (connections, listeners)."),
	ONE(RC_M_TOPICS, true, "topics", "Topics that exist."),
	ONE(RC_M_SUBSCRIPTIONS, true, "subscriptions", "Subscriptions (connection, topic pairs)."),
	ONE(RC_M_QUEUED_BYTES, true, "queued_bytes", "Bytes waiting in outbound queues."),
	ONE(RC_M_LARGE_BYTES, true, "large_message_bytes",
	    "Pool bytes held by messages longer than one buffer (their chains), at most "
	    "large-bytes-max per worker."),
	FAM(RC_M_BUFFERS_BASE, RC_BUFS_COUNT, true, "buffers",
	    "Pool buffers by state; the states add up to the pool's size.", "state", buf_states),
	ONE(RC_M_ACCEPTED, false, "connections_accepted_total", "Connections accepted."),
	FAM(RC_M_REJECTED_BASE, RC_REJECT_COUNT, false, "connections_rejected_total",
	    "Connections refused with an HTTP error instead of a WebSocket, by reason.", "reason",
	    reject_reasons),
	FAM(RC_M_CLOSED_BASE, RC_CLOSED_COUNT, false, "connections_closed_total",
	    "Connections closed, by reason; each accepted connection is counted once.", "reason",
	    close_reasons),
	ONE(RC_M_SLOW_DISCONNECTS, false, "slow_consumer_disconnects_total",
	    "Connections closed with 4000: queue full under the disconnect policy, or write deadline."),
	ONE(RC_M_PUBLISHED, false, "messages_published_total", "Messages accepted from publishers."),
	ONE(RC_M_DELIVERED, false, "messages_delivered_total",
	    "Messages handed to the kernel, counted once per subscriber."),
	FAM(RC_M_DROPPED_BASE, RC_DROP_COUNT, false, "messages_dropped_total",
	    "Messages not delivered to a subscriber, by reason; counted once per subscriber.", "reason",
	    drop_reasons),
	ONE(RC_M_BYTES_IN, false, "bytes_received_total", "Bytes received on all connections."),
	ONE(RC_M_BYTES_OUT, false, "bytes_sent_total", "Bytes sent on all connections."),
	ONE(RC_M_SENDS, false, "sends_total",
	    "Send requests completed; messages_delivered_total / sends_total is frames per send."),
	FAM(RC_M_COPIES_BASE, RC_COPY_COUNT, false, "slow_path_copies_total",
	    "Messages copied once instead of broadcast from their receive buffer, by reason.", "reason",
	    copy_reasons),
	ONE(RC_M_PROMOTIONS, false, "promotions_total",
	    "Messages moved out of a receive buffer into a pool arena at the end of an iteration."),
	ONE(RC_M_BUFFER_ALLOC_FAILURES, false, "buffer_alloc_failures_total",
	    "Pool buffer allocations that found no free buffer."),
	ONE(RC_M_LARGE_REFUSALS, false, "large_message_refusals_total",
	    "Buffers a message longer than one buffer needed and did not get: over large-bytes-max, "
	    "or the pool at its reserve."),
	FAM(RC_M_HANDOFFS_BASE, RC_HANDOFF_COUNT, false, "handoffs_total",
	    "Messages handed to another worker, once per receiving worker, by result.", "result",
	    handoff_results),
	ONE(RC_M_HANDOFFS_RECEIVED, false, "handoffs_received_total",
	    "Messages taken from other workers' mailboxes."),
	ONE(RC_M_WAKEUPS, false, "wakeups_sent_total",
	    "IORING_OP_MSG_RING sent to wake a worker asleep in the kernel."),
	ONE(RC_M_MAIL_LATE, false, "handoffs_found_by_check_total",
	    "Loop turns in which a sleeping worker found hand-offs at its 100 ms check before any "
	    "wake-up: rare by timing; a steady rate means lost wake-ups."),
	ONE(RC_M_TLS_SESSIONS, true, "tls_sessions",
	    "TLS sessions alive: connections accepted on the TLS listener and not yet closed."),
	ONE(RC_M_TLS_HANDSHAKES, false, "tls_handshakes_total", "TLS handshakes completed."),
	ONE(RC_M_TLS_RESUMED, false, "tls_handshakes_resumed_total",
	    "TLS handshakes that resumed a session with a ticket (no certificate sent)."),
	ONE(RC_M_TLS_FAILURES, false, "tls_failures_total",
	    "TLS handshakes or records that failed: the connection was dropped."),
	ONE(RC_M_TLS_QUEUED, false, "tls_admissions_queued_total",
	    "TLS connections whose handshake waited for a later loop turn (at most 16 start per "
	    "turn per worker)."),
	ONE(RC_M_HISTORY_MESSAGES, true, "history_messages",
	    "Messages kept in history for snapshots and resumes."),
	ONE(RC_M_HISTORY_BUFFERS, true, "history_buffers",
	    "Pool buffers history holds (counted in buffers{state=\"pool\"} too), within "
	    "history-bytes per worker."),
	ONE(RC_M_HISTORY_EVICTED, false, "history_evicted_total",
	    "Messages evicted from history: a topic over its caps, or the oldest when history-bytes "
	    "is full."),
	ONE(RC_M_HISTORY_NOT_KEPT, false, "history_not_kept_total",
	    "Messages history could not keep (longer than history-topic-bytes or a buffer, or no "
	    "memory); what it held of their topic was dropped with them."),
	ONE(RC_M_RETAINED_SENT, false, "retained_sent_total",
	    "Retained messages queued for subscribers: snapshots and resumes."),
	ONE(RC_M_JOINS_WAITED, false, "subscribe_joins_waited_total",
	    "Subscribes that waited for another worker, the owner of a topic, to answer."),
	ONE(RC_M_JOINS_BUSY, false, "subscribe_busy_total",
	    "Subscribes refused as busy: too many waiting for other workers at once."),
	FAM(RC_M_LIMITED_BASE, RC_LIMIT_COUNT, false, "limited_total",
	    "Limits that bit, by reason: reads paused by a rate, connections closed by a rate or their "
	    "lifetime, new connections closed by an accept or per-address limit, handshakes evicted.",
	    "reason", limit_reasons),
};

#define FAMILY_COUNT (sizeof families / sizeof families[0])

/* The families tile the ids: the last one ends exactly at RC_M_COUNT (each start is checked
 * against the previous end at run time by family_of and by the unit test). */
static_assert(RC_M_LIMITED_BASE + RC_LIMIT_COUNT == RC_M_COUNT, "a new slot needs a family entry");

static const struct family *family_of(unsigned id)
{
	assert(id < RC_M_COUNT);
	for (size_t i = 0; i < FAMILY_COUNT; i++) {
		const struct family *f = &families[i];
		if (id >= f->base && id < f->base + f->n)
			return f;
	}
	assert(!"every id belongs to a family");
	return NULL;
}

void rc_metrics_init(rc_metrics *m)
{
	assert(m != NULL);
	for (unsigned i = 0; i < RC_M_COUNT; i++)
		atomic_init(&m->v[i], 0);
}

void rc_metric_set(rc_metrics *m, unsigned id, uint64_t value)
{
	assert(family_of(id)->gauge);
	atomic_store_explicit(&m->v[id], value, memory_order_relaxed);
}

void rc_metrics_set_pool(rc_metrics *m, const struct rc_pool_stats *s)
{
	assert(m != NULL && s != NULL);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_FREE), s->free);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_POOL), s->pool_used);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_RECV_KERNEL), s->recv_kernel);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_RECV_HELD), s->recv_held);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_RECV_RETURNED), s->recv_returned);
	rc_metric_set(m, RC_M_BUFFERS(RC_BUFS_CHAIN), s->linked);
	rc_metric_set(m, RC_M_LARGE_BYTES, (uint64_t)s->chained * s->buf_size);
	/* Counters, but the pool keeps them: copy its running totals rather than counting twice. */
	atomic_store_explicit(&m->v[RC_M_BUFFER_ALLOC_FAILURES], s->alloc_failed, memory_order_relaxed);
	atomic_store_explicit(&m->v[RC_M_LARGE_REFUSALS], s->chain_refused, memory_order_relaxed);
}

void rc_metrics_add(rc_metrics *dst, const rc_metrics *src)
{
	assert(dst != NULL && src != NULL && dst != src);
	for (unsigned i = 0; i < RC_M_COUNT; i++) {
		uint64_t v = rc_metric_get(dst, i) + rc_metric_get(src, i);
		atomic_store_explicit(&dst->v[i], v, memory_order_relaxed);
	}
}

int rc_metric_describe(unsigned id, rc_metric_info *out)
{
	assert(out != NULL);
	if (id >= RC_M_COUNT)
		return -EINVAL;
	const struct family *f = family_of(id);
	out->name = f->name;
	out->type = f->gauge ? "gauge" : "counter";
	out->help = f->help;
	out->label = f->label;
	out->value = f->values != NULL ? f->values[id - f->base] : NULL;
	return 0;
}

/* ---- rendering ------------------------------------------------------------------------------- */

/* An append-only cursor over the caller's buffer; once something did not fit it stays failed. */
struct out {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

size_t rc_metrics_render(const rc_metrics *m, char *out, size_t cap)
{
	assert(m != NULL && (out != NULL || cap == 0));
	if (cap == 0)
		return 0;
	struct out o = { .p = out, .len = 0, .cap = cap, .overflow = false };
	out[0] = '\0';
	for (size_t i = 0; i < FAMILY_COUNT; i++) {
		const struct family *f = &families[i];
		/* Help texts are ours and hold neither '\\' nor a newline, the two bytes the format
		 * would have us escape there; label values are ours too (snake_case). */
		put(&o, "# HELP ringcast_%s %s\n# TYPE ringcast_%s %s\n", f->name, f->help, f->name,
		    f->gauge ? "gauge" : "counter");
		for (unsigned k = 0; k < f->n; k++) {
			unsigned long long v = rc_metric_get(m, f->base + k);
			if (f->label != NULL)
				put(&o, "ringcast_%s{%s=\"%s\"} %llu\n", f->name, f->label, f->values[k], v);
			else
				put(&o, "ringcast_%s %llu\n", f->name, v);
		}
	}
	if (o.overflow)
		return 0;
	return o.len;
}
