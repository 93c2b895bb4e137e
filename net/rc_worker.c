/* rc_worker.c: one worker's event loop, its I/O and the life of a connection.
 *
 * The loop (rc_worker_run) is five phases, one iteration at a time:
 *   1. submit what the last iteration prepared and wait for at least one completion (with other
 *      workers: only if no mailbox holds anything, after arming the wake flag; rc_xfer.c);
 *   2. reap every completion and dispatch it (accepts, receives -> parsing, publishing and
 *      fan-out into subscribers' queues, hand-offs to other workers, send completions,
 *      deadlines), then take what other workers handed over and fan it out too;
 *   3. flush: one send per dirty connection, carrying its control output and as many queued
 *      frames as fit in one chunk;
 *   4. promote: messages still queued in a receive buffer move to POOL memory, so every receive
 *      buffer can go back to the kernel;
 *   5. give returned receive buffers back to the provided ring and re-arm receives that found it
 *      empty.
 * docs/architecture.md tells the same story with the reasons.
 */
#define _GNU_SOURCE
#include "rc_worker_int.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RC_WHY_UNSET 0xff

uint64_t rc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An absolute CLOCK_MONOTONIC deadline for a LINK_TIMEOUT. The kernel reads the timespec when the
 * SQE is submitted, so it must stay put until then: they live in an array that is reset after each
 * submit. */
static struct __kernel_timespec *ts_abs(rc_worker *w, uint64_t ns)
{
	if (w->ts_abs_used == w->ts_abs_cap) {
		io_uring_submit(&w->ring);
		w->ts_abs_used = 0;
	}
	struct __kernel_timespec *ts = &w->ts_abs[w->ts_abs_used++];
	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
	return ts;
}

/* Room for a linked pair: submitting between the two halves would break the link. */
static void sq_reserve(rc_worker *w, unsigned n)
{
	if (io_uring_sq_space_left(&w->ring) < n)
		io_uring_submit(&w->ring);
}

/* ---- connections: small helpers ----------------------------------------------------------- */

void conn_dirty(rc_worker *w, rc_conn *c)
{
	if (c->flags & F_DIRTY)
		return;
	c->flags |= F_DIRTY;
	c->dirty_next = w->dirty;
	w->dirty = c;
}

static uint32_t ctl_room(const rc_conn *c)
{
	return c->ctl == NULL ? RC_CHUNK_BYTES : RC_CHUNK_BYTES - c->ctl_len;
}

/* Append raw bytes to the control output, keeping room for a close frame. False if they do not
 * fit or no chunk is free. */
bool conn_ctl_append(rc_worker *w, rc_conn *c, const void *p, size_t n)
{
	if (n + RC_CLOSE_FRAME_MAX > ctl_room(c))
		return false;
	if (c->ctl == NULL) {
		c->ctl = rc_chunk_get(&w->chunks);
		if (c->ctl == NULL)
			return false;
		c->ctl_len = 0;
	}
	memcpy(c->ctl + c->ctl_len, p, n);
	c->ctl_len += (uint32_t)n;
	conn_dirty(w, c);
	return true;
}

/* Append one server frame (FIN) to the control output. */
bool conn_ctl_frame(rc_worker *w, rc_conn *c, uint8_t opcode, const void *p, size_t n)
{
	if (c->flags & (F_CLOSE_QUEUED | F_CLOSE_IN_OUT | F_CLOSE_SENT | F_DRAIN_CLOSE))
		return false; /* nothing follows a close frame */
	uint8_t hdr[RC_FRAME_HEADER_MAX];
	size_t h = rc_frame_header_encode(hdr, opcode, true, n, NULL);
	if (h + n + RC_CLOSE_FRAME_MAX > ctl_room(c))
		return false;
	return conn_ctl_append(w, c, hdr, h) && (n == 0 || conn_ctl_append(w, c, p, n));
}

/* Write the close frame into buf (RC_CLOSE_FRAME_MAX bytes). */
static size_t close_frame(uint8_t *buf, uint16_t code, const char *reason)
{
	uint8_t payload[2 + RC_CLOSE_REASON_MAX];
	size_t n = rc_close_payload(payload, code, reason);
	size_t h = rc_frame_header_encode(buf, RC_OPCODE_CLOSE, true, n, NULL);
	memcpy(buf + h, payload, n);
	return h + n;
}

void conn_release_asm(rc_worker *w, rc_conn *c)
{
	if (c->asm_buf != RC_POOL_NONE) {
		rc_pool_unref(&w->pool, c->asm_buf);
		c->asm_buf = RC_POOL_NONE;
		c->asm_len = 0;
	}
}

static void release_msg(void *ctx, struct rc_msg *m)
{
	rc_worker *w = ctx;
	rc_msg_unref(&w->msgs, m);
}

/* release_msg, counting the messages (not the queued notices) as slow-consumer drops. */
static void release_dropped(void *ctx, struct rc_msg *m)
{
	rc_worker *w = ctx;
	if (m->kind != RC_MSG_MISSED)
		rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_SLOW_DISCONNECT));
	rc_msg_unref(&w->msgs, m);
}

/* No more deliveries to or from c: its subscriptions, its publish topic, a half-assembled
 * message. The first step of every close. */
static void conn_stop(rc_worker *w, rc_conn *c)
{
	if (c->sub.subs_len > 0)
		rc_unsubscribe_all(&w->topics, &c->sub);
	if (c->pub_topic >= 0) {
		rc_topic_unpin(&w->topics, (uint32_t)c->pub_topic);
		c->pub_topic = -1;
	}
	conn_release_asm(w, c);
}

/* Discard c's queue (no send may be using it), counting the messages as slow-consumer drops when
 * that is why c is closing. */
static void conn_drop_queue(rc_worker *w, rc_conn *c)
{
	if (rc_outq_empty(&c->q))
		return;
	bool slow = c->why == RC_CLOSED_SLOW_CONSUMER || c->why == RC_CLOSED_WRITE_TIMEOUT;
	rc_outq_drain(&c->q, &w->qcfg, &w->qalloc, slow ? release_dropped : release_msg, w);
}

/* Everything a connection holds that the kernel is not using. Called on every way out, and again
 * when a send in flight comes back. */
static void conn_release(rc_worker *w, rc_conn *c)
{
	conn_stop(w, c);
	if (c->head != NULL) {
		rc_chunk_put(&w->heads, c->head);
		c->head = NULL;
	}
	if (c->ctl != NULL) {
		rc_chunk_put(&w->chunks, c->ctl);
		c->ctl = NULL;
		c->ctl_len = 0;
	}
	if (!(c->flags & F_SEND)) {
		if (c->out != NULL) {
			rc_chunk_put(&w->chunks, c->out);
			c->out = NULL;
		}
		conn_drop_queue(w, c);
	}
}

static void conn_closefd(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_ABORT && c->inflight == 0);
	conn_release(w, c);
	c->state = CS_CLOSED;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_close_direct(sqe, conn_slot(w, c));
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CLOSEFD, c->gen, conn_slot(w, c)));
	c->inflight++;
}

static void arm_accept(rc_worker *w);

static void conn_free(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_CLOSED && c->inflight == 0);
	assert(rc_outq_empty(&c->q) && c->sub.subs_len == 0 && c->out == NULL && c->ctl == NULL);
	unsigned why = c->why == RC_WHY_UNSET ? RC_CLOSED_EOF : c->why;
	rc_metric_inc(&w->metrics, RC_M_CLOSED(why));
	if (c->route != ROUTE_NONE)
		w->ws_open--;
	if (rc_log_enabled(RC_LOG_DEBUG)) {
		rc_metric_info mi;
		rc_metric_describe(RC_M_CLOSED(why), &mi);
		rc_log(RC_LOG_DEBUG, "conn_closed", "conn=%u reason=%s code=%u", c->id, mi.value,
		       c->close_code);
	}
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof *c);
	c->gen = gen;
	c->state = CS_FREE;
	w->open--;
	atomic_fetch_sub_explicit(&w->group->open, 1, memory_order_relaxed);
	if (w->accept_paused && !w->drain_expired) {
		w->accept_paused = false;
		arm_accept(w);
	}
}

void conn_abort(rc_worker *w, rc_conn *c, enum rc_close_reason why)
{
	if (c->state >= CS_ABORT || c->state == CS_FREE)
		return;
	if (c->why == RC_WHY_UNSET)
		c->why = (uint8_t)why;
	c->state = CS_ABORT;
	conn_release(w, c);
	if (c->inflight > 0) {
		/* Cancel, then close once nothing is in flight: a close_direct with a recv pending
		 * returns 0 but leaves the socket open (FACTS.md). */
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
		io_uring_prep_cancel_fd(sqe, (int)conn_slot(w, c),
		                        IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CANCEL, c->gen, conn_slot(w, c)));
		c->inflight++;
	} else {
		conn_closefd(w, c);
	}
}

static void cancel_recv_for_rearm(rc_worker *w, rc_conn *c)
{
	if (!(c->flags & F_RECV) || (c->flags & F_RX_REARM))
		return;
	c->flags |= F_RX_REARM;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_cancel64(sqe, rc_ud(RC_IO_RECV, c->gen, conn_slot(w, c)), 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CANCEL, c->gen, conn_slot(w, c)));
	c->inflight++;
}

/* The one way from any state to closed (see rc_worker_int.h): code 0 drops the TCP connection at
 * once (EOF, I/O error, write deadline, anything before the upgrade); a close code sends a close
 * frame first and waits for the peer's, at most close-timeout-ms. 1001 (shutdown) sends what is
 * queued before the close frame; every other code discards the queue. */
void conn_close(rc_worker *w, rc_conn *c, uint16_t code, enum rc_close_reason why,
                const char *reason)
{
	if (c->state == CS_FREE || c->state >= CS_ABORT)
		return;
	if (c->state != CS_OPEN || code == 0) {
		conn_abort(w, c, why);
		return;
	}
	c->why = (uint8_t)why;
	c->close_code = code;
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "conn_closing", "conn=%u code=%u reason=\"%s\"", c->id, code,
		       reason ? reason : "");
	conn_stop(w, c);
	c->state = CS_CLOSING;
	c->deadline_ms = conn_deadline_in(w, w->cfg->close_timeout_ms);
	if (code == RC_CLOSE_GOING_AWAY) {
		c->flags |= F_DRAIN_CLOSE;
	} else {
		if (!(c->flags & F_SEND))
			conn_drop_queue(w, c); /* else when the send comes back (on_send) */
		uint8_t f[RC_CLOSE_FRAME_MAX];
		size_t n = close_frame(f, code, reason);
		/* ctl always keeps RC_CLOSE_FRAME_MAX bytes free for this. */
		if (c->ctl == NULL && (c->ctl = rc_chunk_get(&w->chunks)) == NULL) {
			conn_abort(w, c, why);
			return;
		}
		memcpy(c->ctl + c->ctl_len, f, n);
		c->ctl_len += (uint32_t)n;
		c->flags |= F_CLOSE_QUEUED;
	}
	conn_dirty(w, c);
	if (!(c->flags & F_CLOSE_RCVD)) {
		/* Read the peer's close frame under the close deadline: re-arm the read that is in
		 * flight with it, or arm one if none is (closing from a read's own deadline). */
		if (c->flags & F_RECV)
			cancel_recv_for_rearm(w, c);
		else
			conn_start_recv(w, c);
	}
}

/* ---- receiving ------------------------------------------------------------------------------ */

void conn_start_recv(rc_worker *w, rc_conn *c)
{
	if (c->flags & (F_RECV | F_STARVED))
		return;
	struct __kernel_timespec *ts;
	unsigned tflags = 0;
	switch (c->state) {
	case CS_HTTP:
	case CS_CLOSING:
		ts = ts_abs(w, conn_deadline_ns(w, c->deadline_ms));
		tflags = IORING_TIMEOUT_ABS;
		break;
	case CS_OPEN:
		ts = &w->ts_idle;
		break;
	default:
		return;
	}
	uint32_t slot = conn_slot(w, c);
	sq_reserve(w, 2);
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_recv(sqe, (int)slot, NULL, (size_t)w->pool.buf_size, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT | IOSQE_IO_LINK;
	sqe->buf_group = RC_BGID;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_RECV, c->gen, slot));
	sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_link_timeout(sqe, ts, tflags);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_RECV_TIMEOUT, c->gen, slot));
	c->inflight++; /* the recv: its linked timeout is not counted (see dispatch) */
	c->flags |= F_RECV;
}

static void read_deadline(rc_worker *w, rc_conn *c)
{
	switch (c->state) {
	case CS_HTTP:
		conn_abort(w, c, RC_CLOSED_HANDSHAKE_TIMEOUT);
		return;
	case CS_OPEN:
		if (c->flags & F_PINGED) {
			conn_close(w, c, RC_CLOSE_IDLE_TIMEOUT, RC_CLOSED_IDLE_TIMEOUT, "idle timeout");
			return;
		}
		c->flags |= F_PINGED;
		if (!conn_ctl_frame(w, c, RC_OPCODE_PING, NULL, 0)) {
			conn_close(w, c, RC_CLOSE_IDLE_TIMEOUT, RC_CLOSED_IDLE_TIMEOUT, "idle timeout");
			return;
		}
		conn_start_recv(w, c);
		return;
	case CS_CLOSING:
		conn_abort(w, c, (enum rc_close_reason)c->why);
		return;
	default:
		return;
	}
}

static void on_recv(rc_worker *w, rc_conn *c, int res, uint32_t cflags)
{
	uint32_t buf = RC_POOL_NONE;
	if (cflags & IORING_CQE_F_BUFFER) {
		buf = cflags >> IORING_CQE_BUFFER_SHIFT;
		rc_pool_recv_filled(&w->pool, buf);
	}
	c->flags &= ~F_RECV;
	if (res > 0 && buf != RC_POOL_NONE &&
	    (c->state == CS_HTTP || c->state == CS_OPEN || c->state == CS_CLOSING)) {
		rc_metric_add(&w->metrics, RC_M_BYTES_IN, (uint64_t)res);
		c->flags &= ~F_PINGED;
		uint8_t *data = rc_pool_data(&w->pool, buf);
		if (c->state == CS_HTTP)
			http_feed(w, c, data, (size_t)res, buf);
		else if (c->route != ROUTE_NONE)
			ws_feed(w, c, data, (size_t)res, buf);
		/* else: bytes after a plain HTTP request: ignored, the response closes */
		rc_pool_unref(&w->pool, buf);
		/* A buffer is filled at most once per iteration (it goes back to the ring only in
		 * phase 5), so the ring's size bounds the list. */
		if (rc_msgs_buffer_live(&w->msgs, buf) && w->ntouched < w->bufring.entries)
			w->touched[w->ntouched++] = buf;
		if (c->flags & F_RX_REARM)
			c->flags &= ~F_RX_REARM; /* the cancel found nothing: re-arm here */
		conn_start_recv(w, c);
		return;
	}
	if (buf != RC_POOL_NONE)
		rc_pool_unref(&w->pool, buf);
	if (c->state >= CS_ABORT)
		return;
	if (res == 0) {
		conn_abort(w, c, c->state == CS_CLOSING ? (enum rc_close_reason)c->why : RC_CLOSED_EOF);
	} else if (res == -ENOBUFS) {
		/* The provided ring is empty: wait for buffers to come back (loop phase 5). */
		c->flags |= F_STARVED;
		c->list_next = w->starved;
		w->starved = c;
	} else if (res == -ECANCELED) {
		if (c->flags & F_RX_REARM) {
			c->flags &= ~F_RX_REARM;
			conn_start_recv(w, c);
		} else {
			read_deadline(w, c);
		}
	} else if (res > 0) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR); /* data without a buffer: cannot happen */
	} else {
		conn_abort(w, c, res == -ECONNRESET || res == -EPIPE ? RC_CLOSED_EOF : RC_CLOSED_IO_ERROR);
	}
}

/* ---- sending -------------------------------------------------------------------------------- */

/* A send in two tries. The first is MSG_DONTWAIT with no deadline: when the socket has room (a
 * consumer that keeps up, nearly always) it completes at once, and a linked timeout would only
 * cost a timer armed and cancelled per send (measured: with one on every send, the same CPU did a
 * quarter of the sends; docs/benchmarks.md). When the socket is full (-EAGAIN) or takes only part
 * (a short send), the rest goes again with MSG_WAITALL and the write deadline linked to it: it
 * completes when the consumer has taken the whole batch, or fails at the deadline, and a consumer
 * that cannot take one batch in time is a slow consumer. */
static void submit_send(rc_worker *w, rc_conn *c, const uint8_t *p, uint32_t len, bool deadline)
{
	uint32_t slot = conn_slot(w, c);
	sq_reserve(w, 2);
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_send(sqe, (int)slot, p, len,
	                   (deadline ? MSG_WAITALL : MSG_DONTWAIT) | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SEND, c->gen, slot));
	if (deadline) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = rc_uring_sqe(&w->ring);
		io_uring_prep_link_timeout(sqe, &w->ts_write, 0);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SEND_TIMEOUT, c->gen, slot));
		c->flags |= F_SEND_DEADLINE;
	}
	c->inflight++; /* the send: a linked timeout is not counted (see dispatch) */
	c->flags |= F_SEND;
}

/* A missed notice as a frame at dst (room for RC_APP_NOTICE_MISSED_MAX + 4 bytes). */
static size_t missed_frame(rc_worker *w, uint8_t *dst, uint32_t topic_id, uint32_t count)
{
	rc_topic *t = rc_topic_get(&w->topics, topic_id);
	if (t == NULL)
		return 0;
	uint8_t body[RC_APP_NOTICE_MISSED_MAX];
	size_t n = rc_app_notice_missed(body, sizeof body, t->name, t->name_len, count);
	if (n == 0)
		return 0;
	size_t h = rc_frame_header_encode(dst, RC_OPCODE_TEXT, true, n, NULL);
	memcpy(dst + h, body, n);
	return h + n;
}

/* Is m of a topic c still subscribes to? Only asked after an unsubscribe left messages queued. */
static bool still_subscribed(rc_worker *w, rc_conn *c, const rc_msg *m)
{
	return rc_sub_find(&w->topics, &c->sub, m->topic) != NULL;
}

#define FLUSH_BATCH 64

/* One send for c, if it has anything to say and no send in flight: its control output first
 * (pongs ahead of data), then missed notices, then queued frames copied until the chunk is full.
 * A head frame too large for an empty chunk goes alone, by reference. */
static void flush_conn(rc_worker *w, rc_conn *c)
{
	if ((c->flags & F_SEND) || (c->state != CS_OPEN && c->state != CS_CLOSING))
		return;
	uint8_t *buf = c->ctl;
	uint32_t len = c->ctl_len;
	c->ctl = NULL;
	c->ctl_len = 0;
	bool data = c->state == CS_OPEN || (c->flags & F_DRAIN_CLOSE);
	if (data && (!rc_outq_empty(&c->q) || rc_subscriber_missed_pending(&c->sub))) {
		if (buf == NULL) {
			buf = rc_chunk_get(&w->chunks);
			len = 0;
			if (buf == NULL)
				return; /* cannot happen: 3 chunks per slot, a connection uses 3 */
		}
		uint32_t topic, count;
		while (rc_subscriber_missed_pending(&c->sub) &&
		       RC_CHUNK_BYTES - len >= RC_APP_NOTICE_MISSED_MAX + 4 &&
		       rc_subscriber_pop_missed(&w->topics, &c->sub, &topic, &count))
			len += (uint32_t)missed_frame(w, buf + len, topic, count);
		if (!rc_subscriber_missed_pending(&c->sub)) {
			struct rc_msg *done[FLUSH_BATCH];
			for (;;) {
				uint32_t n = 0, qn = rc_outq_count(&c->q);
				uint32_t off = rc_outq_head_offset(&c->q);
				while (n < qn && n < FLUSH_BATCH) {
					rc_msg *m = rc_outq_peek(&c->q, &w->qcfg, n);
					uint32_t skip = n == 0 ? off : 0;
					if ((c->flags & F_PURGE) && !still_subscribed(w, c, m)) {
						n++;
						continue;
					}
					if (m->len - skip > RC_CHUNK_BYTES - len)
						break;
					memcpy(buf + len, m->frame + skip, m->len - skip);
					len += m->len - skip;
					n++;
					if (m->kind != RC_MSG_MISSED)
						rc_metric_inc(&w->metrics, RC_M_DELIVERED);
				}
				if (n == 0)
					break;
				rc_outq_consume(&c->q, &w->qcfg, &w->qalloc, n, done);
				for (uint32_t i = 0; i < n; i++)
					rc_msg_unref(&w->msgs, done[i]);
				if (n < FLUSH_BATCH)
					break;
			}
			if (rc_outq_empty(&c->q))
				c->flags &= ~F_PURGE;
			if (len == 0 && !rc_outq_empty(&c->q)) {
				/* The head frame is larger than a chunk: send it by reference. */
				rc_chunk_put(&w->chunks, buf);
				rc_msg *m = rc_outq_peek(&c->q, &w->qcfg, 0);
				uint32_t off = rc_outq_head_offset(&c->q);
				rc_outq_pin(&c->q, 1);
				c->flags |= F_PINNED;
				submit_send(w, c, m->frame + off, m->len - off, false);
				return;
			}
		}
	}
	if ((c->flags & F_DRAIN_CLOSE) && rc_outq_empty(&c->q)) {
		if (buf == NULL) {
			buf = rc_chunk_get(&w->chunks);
			len = 0;
		}
		if (buf != NULL && RC_CHUNK_BYTES - len >= RC_CLOSE_FRAME_MAX) {
			len += (uint32_t)close_frame(buf + len, c->close_code, "server shutting down");
			c->flags = (c->flags & ~F_DRAIN_CLOSE) | F_CLOSE_QUEUED;
		}
	}
	if (buf == NULL)
		return;
	if (len == 0) {
		rc_chunk_put(&w->chunks, buf);
		return;
	}
	if (c->flags & F_CLOSE_QUEUED)
		c->flags = (c->flags & ~F_CLOSE_QUEUED) | F_CLOSE_IN_OUT;
	c->out = buf;
	c->out_len = len;
	c->out_done = 0;
	submit_send(w, c, buf, len, false);
}

/* The first, deadline-free try of a send came back short or with -EAGAIN: send the rest with the
 * write deadline (see submit_send). Returns false if this was not such a case. */
static bool send_rest(rc_worker *w, rc_conn *c, int res, bool had_deadline)
{
	if (had_deadline || c->state >= CS_ABORT || (res < 0 && res != -EAGAIN))
		return false;
	uint32_t sent = res > 0 ? (uint32_t)res : 0;
	if (c->flags & F_PINNED) {
		rc_msg *m = rc_outq_peek(&c->q, &w->qcfg, 0);
		uint32_t off = rc_outq_head_offset(&c->q);
		if (sent >= m->len - off)
			return false; /* complete */
		if (sent > 0) {
			struct rc_msg *done[1];
			rc_outq_sent(&c->q, &w->qcfg, &w->qalloc, sent, done, 1); /* pops nothing */
			rc_outq_pin(&c->q, 1);
			off = rc_outq_head_offset(&c->q);
		}
		submit_send(w, c, m->frame + off, m->len - off, true);
	} else {
		if (c->out_done + sent >= c->out_len)
			return false; /* complete */
		c->out_done += sent;
		submit_send(w, c, c->out + c->out_done, c->out_len - c->out_done, true);
	}
	if (sent > 0)
		rc_metric_add(&w->metrics, RC_M_BYTES_OUT, sent);
	return true;
}

static void on_send(rc_worker *w, rc_conn *c, int res)
{
	bool had_deadline = c->flags & F_SEND_DEADLINE;
	c->flags &= ~(F_SEND | F_SEND_DEADLINE);
	if (send_rest(w, c, res, had_deadline))
		return;
	uint32_t want;
	if (c->flags & F_PINNED) {
		c->flags &= ~F_PINNED;
		rc_msg *m = rc_outq_peek(&c->q, &w->qcfg, 0);
		want = m->len - rc_outq_head_offset(&c->q);
		struct rc_msg *done[1];
		uint32_t n = rc_outq_sent(&c->q, &w->qcfg, &w->qalloc, res > 0 ? (size_t)res : 0, done, 1);
		if (n == 1) {
			rc_metric_inc(&w->metrics, RC_M_DELIVERED);
			rc_msg_unref(&w->msgs, done[0]);
		}
	} else {
		want = c->out_len - c->out_done;
		rc_chunk_put(&w->chunks, c->out);
		c->out = NULL;
		c->out_len = 0;
	}
	rc_metric_inc(&w->metrics, RC_M_SENDS);
	if (res > 0)
		rc_metric_add(&w->metrics, RC_M_BYTES_OUT, (uint64_t)res);
	if (c->state >= CS_ABORT) {
		conn_release(w, c); /* what the send held can go now */
		return;
	}
	if (res == -ECANCELED || (res >= 0 && (uint32_t)res < want)) {
		/* The write deadline passed with the batch not taken: a slow consumer. A frame may be
		 * cut in the middle, so no close frame can follow: drop the connection. */
		if (c->state == CS_OPEN)
			rc_metric_inc(&w->metrics, RC_M_SLOW_DISCONNECTS);
		if (rc_log_enabled(RC_LOG_DEBUG))
			rc_log(RC_LOG_DEBUG, "slow_consumer", "conn=%u write_timeout_ms=%u", c->id,
			       w->cfg->write_timeout_ms);
		conn_abort(w, c,
		           c->state == CS_OPEN ? RC_CLOSED_WRITE_TIMEOUT : (enum rc_close_reason)c->why);
		return;
	}
	if (res < 0) {
		conn_abort(w, c, res == -EPIPE || res == -ECONNRESET ? RC_CLOSED_EOF : RC_CLOSED_IO_ERROR);
		return;
	}
	if (c->flags & F_HTTP_DONE) {
		conn_abort(w, c, (enum rc_close_reason)c->why);
		return;
	}
	if (c->flags & F_CLOSE_IN_OUT) {
		c->flags = (c->flags & ~F_CLOSE_IN_OUT) | F_CLOSE_SENT;
		if (c->flags & F_CLOSE_RCVD) {
			/* Both close frames have crossed: the server closes TCP first (RFC 6455 §7.1.1). */
			conn_abort(w, c, (enum rc_close_reason)c->why);
			return;
		}
	}
	if (c->state == CS_CLOSING && !(c->flags & (F_DRAIN_CLOSE | F_CLOSE_QUEUED)) &&
	    !rc_outq_empty(&c->q))
		conn_drop_queue(w, c);
	if (c->ctl_len > 0 || !rc_outq_empty(&c->q) || (c->flags & F_DRAIN_CLOSE) ||
	    rc_subscriber_missed_pending(&c->sub))
		conn_dirty(w, c);
}

/* ---- accepting ------------------------------------------------------------------------------ */

static void arm_accept(rc_worker *w)
{
	if (w->accept_armed)
		return;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_multishot_accept_direct(sqe, w->listen_fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_ACCEPT, 0, RC_UD_WORKER));
	w->accept_armed = true;
}

static void on_accept(rc_worker *w, int res, uint32_t cflags)
{
	if (!(cflags & IORING_CQE_F_MORE))
		w->accept_armed = false;
	if (res < 0) {
		if (res == -ENFILE || res == -EMFILE || res == -ENOMEM) {
			/* The descriptor table is full: the kernel keeps new clients in the listen
			 * backlog until a connection closes (conn_free re-arms). No spinning. */
			if (!w->accept_paused)
				rc_log(RC_LOG_WARN, "accept_paused", "error=%s open=%u slots=%u", strerror(-res),
				       w->open, w->nslots);
			w->accept_paused = true;
			if (w->open == 0)
				w->accept_paused = false; /* nothing will free a slot: try again */
		}
		if (!w->accept_armed && !w->accept_paused)
			arm_accept(w);
		return;
	}
	uint32_t slot = (uint32_t)res;
	if (!w->accept_armed)
		arm_accept(w);
	if (slot >= w->nslots || w->conns[slot].state != CS_FREE) {
		rc_log(RC_LOG_ERROR, "accept_bad_slot", "slot=%u", slot);
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
		io_uring_prep_close_direct(sqe, slot);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_NONE, 0, RC_UD_WORKER));
		return;
	}
	rc_conn *c = &w->conns[slot];
	c->id = ++w->next_id;
	c->state = CS_HTTP;
	c->why = RC_WHY_UNSET;
	c->asm_buf = RC_POOL_NONE;
	c->pub_topic = -1;
	c->deadline_ms = conn_deadline_in(w, w->cfg->handshake_timeout_ms);
	w->open++;
	/* --max-connections counts every worker's connections. */
	if (atomic_fetch_add_explicit(&w->group->open, 1, memory_order_relaxed) >=
	    w->cfg->max_connections)
		c->flags |= F_OVER_LIMIT;
	rc_metric_inc(&w->metrics, RC_M_ACCEPTED);
	if (rc_log_enabled(RC_LOG_DEBUG)) {
		/* A direct descriptor has no getpeername: install it as a plain descriptor for a
		 * moment to ask (6.8+). Only at debug level, where conn_open is logged at all. */
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
		io_uring_prep_rw(IORING_OP_FIXED_FD_INSTALL, sqe, (int)slot, NULL, 0, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_PEER, c->gen, slot));
		c->inflight++;
	}
	conn_start_recv(w, c);
}

static void on_peer(rc_worker *w, rc_conn *c, int res)
{
	char text[80] = "unknown";
	if (res >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (getpeername(res, (struct sockaddr *)&ss, &len) == 0) {
			char host[INET6_ADDRSTRLEN];
			if (ss.ss_family == AF_INET6) {
				const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
				snprintf(text, sizeof text, "[%s]:%u", host, ntohs(a->sin6_port));
			} else if (ss.ss_family == AF_INET) {
				const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
				snprintf(text, sizeof text, "%s:%u", host, ntohs(a->sin_port));
			}
		}
		close(res);
	}
	rc_log(RC_LOG_DEBUG, "conn_open", "conn=%u peer=%s slot=%u open=%u", c->id, text,
	       conn_slot(w, c), w->open);
}

/* ---- signals and draining ------------------------------------------------------------------ */

static void arm_signal(rc_worker *w)
{
	if (w->signal_fd < 0)
		return;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_read(sqe, w->signal_fd, w->siginfo, sizeof *w->siginfo, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SIGNAL, 0, RC_UD_WORKER));
}

static void abort_all(rc_worker *w)
{
	for (uint32_t i = 0; i < w->nslots; i++)
		if (w->conns[i].state != CS_FREE)
			conn_abort(w, &w->conns[i], RC_CLOSED_SHUTDOWN);
}

static void start_drain(rc_worker *w)
{
	w->draining = true;
	rc_log(RC_LOG_INFO, "draining", "connections=%u websockets=%u drain_timeout_ms=%u", w->open,
	       w->ws_open, w->cfg->drain_timeout_ms);
	for (uint32_t i = 0; i < w->nslots; i++) {
		rc_conn *c = &w->conns[i];
		if (c->state == CS_OPEN)
			conn_close(w, c, RC_CLOSE_GOING_AWAY, RC_CLOSED_SHUTDOWN, "server shutting down");
	}
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_timeout(sqe, &w->ts_drain, 0, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_DRAIN, 0, RC_UD_WORKER));
}

/* The count-th SIGTERM/SIGINT (signo, or 0 when worker 0 relays it): the first drains, the
 * second closes everything at once. */
void worker_signal(rc_worker *w, uint32_t signo, uint32_t count)
{
	if (count <= w->signals)
		return;
	w->signals = count > UINT8_MAX ? UINT8_MAX : (uint8_t)count;
	if (!w->draining) {
		if (signo != 0)
			rc_log(RC_LOG_INFO, "signal", "signo=%u action=drain", signo);
		start_drain(w);
	}
	if (count >= 2 && !w->drain_expired) {
		if (signo != 0)
			rc_log(RC_LOG_WARN, "signal", "signo=%u action=exit_now", signo);
		w->drain_expired = true;
		abort_all(w);
	}
}

/* Only worker 0 reads the signalfd; it tells the others with a MSG_RING each. */
static void on_signal(rc_worker *w, int res)
{
	if (res != (int)sizeof *w->siginfo) {
		rc_log(RC_LOG_ERROR, "signal_read", "res=%d", res);
		return;
	}
	uint32_t count = (uint32_t)w->signals + 1;
	worker_signal(w, w->siginfo->ssi_signo, count);
	for (uint32_t to = 0; to < w->group->n; to++)
		if (to != w->index)
			xfer_wake(w, to, rc_ud(RC_IO_STOP, 0, RC_UD_WORKER), count);
	arm_signal(w);
}

/* ---- the loop ------------------------------------------------------------------------------- */

static void dispatch(rc_worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum rc_io op = rc_ud_op(ud);
	uint32_t slot = rc_ud_slot(ud);
	if (slot == RC_UD_WORKER) {
		switch (op) {
		case RC_IO_ACCEPT:
			on_accept(w, cqe->res, cqe->flags);
			break;
		case RC_IO_SIGNAL:
			on_signal(w, cqe->res);
			break;
		case RC_IO_WAKE: /* its only job was to end the wait: the mailboxes are read below */
			break;
		case RC_IO_STOP:
			worker_signal(w, 0, (uint32_t)cqe->res);
			break;
		case RC_IO_MSG_RING:
			rc_log(RC_LOG_ERROR, "msg_ring", "error=\"%s\"", strerror(-cqe->res));
			break;
		case RC_IO_DRAIN:
			if (cqe->res == -ETIME && !w->drain_expired) {
				rc_log(RC_LOG_WARN, "drain_timeout", "websockets=%u", w->ws_open);
				w->drain_expired = true;
				abort_all(w);
			}
			break;
		default:
			break;
		}
		return;
	}
	assert(slot < w->nslots);
	if (op == RC_IO_RECV_TIMEOUT || op == RC_IO_SEND_TIMEOUT) {
		/* Not counted in flight: the kernel (6.18, DEFER_TASKRUN) posts the completion of a
		 * linked timeout whose request finished first from deferred task work, sometimes
		 * hundreds of loop turns later, and at exit sometimes never (measured: 407 of 1.16M
		 * send timeouts never came). Its request's own completion says everything, and a late
		 * timeout completion for a reused slot carries an old generation. */
		return;
	}
	rc_conn *c = &w->conns[slot];
	if ((c->gen & RC_GEN_MASK) != rc_ud_gen(ud) || c->state == CS_FREE) {
		/* A completion for a connection that no longer exists: only a buffer matters. */
		if (op == RC_IO_RECV && (cqe->flags & IORING_CQE_F_BUFFER)) {
			uint32_t buf = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			rc_pool_recv_filled(&w->pool, buf);
			rc_pool_unref(&w->pool, buf);
		}
		rc_log(RC_LOG_WARN, "stale_completion", "op=%u slot=%u", op, slot);
		return;
	}
	assert(c->inflight > 0);
	c->inflight--;
	switch (op) {
	case RC_IO_RECV:
		on_recv(w, c, cqe->res, cqe->flags);
		break;
	case RC_IO_SEND:
		on_send(w, c, cqe->res);
		break;
	case RC_IO_PEER:
		on_peer(w, c, cqe->res);
		break;
	case RC_IO_CLOSEFD:
		assert(c->state == CS_CLOSED);
		if (c->inflight == 0)
			conn_free(w, c);
		return;
	default: /* linked timeouts and cancels: their operation's CQE tells what happened */
		break;
	}
	if (c->state == CS_ABORT && c->inflight == 0)
		conn_closefd(w, c);
}

static void flush_dirty(rc_worker *w)
{
	while (w->dirty != NULL) {
		rc_conn *list = w->dirty;
		w->dirty = NULL;
		while (list != NULL) {
			rc_conn *c = list;
			list = c->dirty_next;
			c->flags &= ~F_DIRTY;
			flush_conn(w, c);
		}
	}
}

static void promote_touched(rc_worker *w)
{
	for (uint32_t i = 0; i < w->ntouched; i++) {
		uint32_t buf = w->touched[i];
		if (rc_pool_kind(&w->pool, buf) != RC_BUF_RECV || !rc_msgs_buffer_live(&w->msgs, buf))
			continue;
		int n = rc_msg_promote_buffer(&w->msgs, buf, &w->arena);
		if (n > 0)
			rc_metric_add(&w->metrics, RC_M_PROMOTIONS, (uint64_t)n);
	}
	w->ntouched = 0;
}

static void reprovide(rc_worker *w)
{
	uint32_t n = rc_pool_take_returned_recv(&w->pool, w->returned, w->bufring.entries);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = w->returned[i];
		rc_bufring_add(&w->bufring, rc_pool_data(&w->pool, idx), (unsigned)w->pool.buf_size,
		               (uint16_t)idx);
	}
	rc_bufring_publish(&w->bufring);
	/* Re-arm starved receives, no more than there are buffers, so that an empty ring never
	 * makes the loop spin on -ENOBUFS. */
	uint32_t avail = w->pool.recv_kernel;
	while (w->starved != NULL && avail > 0) {
		rc_conn *c = w->starved;
		w->starved = c->list_next;
		c->flags &= ~F_STARVED;
		if (c->state == CS_HTTP || c->state == CS_OPEN || c->state == CS_CLOSING) {
			conn_start_recv(w, c);
			avail--;
		}
	}
}

#define RC_TRIM_KEEP 16 /* chunks per slab kept warm when trimming */

static bool trim_due(const rc_worker *w)
{
	return w->chunks.touched > rc_chunks_used(&w->chunks) + RC_TRIM_KEEP ||
	       w->heads.touched > rc_chunks_used(&w->heads) + RC_TRIM_KEEP;
}

/* The cheap gauges, set at the end of every loop turn (a dozen plain stores): connections, topics,
 * subscriptions, buffers. So a /metrics answer served by another worker adds up figures at most
 * one loop turn old. */
static void gauges_cheap(rc_worker *w)
{
	rc_metrics *m = &w->metrics;
	struct rc_pool_stats ps;
	rc_pool_stats(&w->pool, &ps);
	rc_metrics_set_pool(m, &ps);
	rc_metric_set(m, RC_M_CONNECTIONS, w->open);
	rc_metric_set(m, RC_M_TOPICS, w->topics.topics_live);
	rc_metric_set(m, RC_M_SUBSCRIPTIONS, w->topics.subs_live);
}

/* Every gauge, queued bytes included, which walks every slot: on /metrics for this worker, and for
 * the others at most every RC_GAUGES_NS while anything happens. */
void worker_gauges(rc_worker *w)
{
	rc_metrics *m = &w->metrics;
	gauges_cheap(w);
	uint64_t queued = 0;
	for (uint32_t i = 0; i < w->nslots; i++)
		if (w->conns[i].state != CS_FREE)
			queued += rc_outq_bytes(&w->conns[i].q);
	rc_metric_set(m, RC_M_QUEUED_BYTES, queued);
	w->gauges_ns = rc_now_ns();
	w->gauges_stale = false;
}

/* Poll the completion queue and the mailboxes for up to spin_ns before sleeping: waking a sleeping
 * CPU costs tens of microseconds here (FACTS.md). Returns true if something came. */
static bool idle_spin(rc_worker *w)
{
	uint64_t until = rc_now_ns() + w->spin_ns;
	do {
		io_uring_submit_and_get_events(&w->ring);
		if (io_uring_cq_ready(&w->ring) > 0 || !xfer_idle(w))
			return true;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	} while (rc_now_ns() < until);
	return false;
}

/* Phase 1: submit, and wait for a completion unless another worker's mail is waiting. */
static int wait_for_work(rc_worker *w)
{
	rc_group *g = w->group;
	bool sleep = !w->xin_more;
	bool armed = false;
	if (sleep) {
		/* About to go idle: arena buffers whose messages are all gone go home. */
		bool freed = rc_arena_idle(&w->arena);
		freed |= rc_xarena_idle(&w->xarena);
		if (freed && g->n > 1)
			gauges_cheap(w);
	}
	if (sleep && g->n > 1) {
		if (w->spin_ns > 0 && idle_spin(w))
			sleep = false;
		if (sleep) {
			/* The wake protocol of core/rc_mailbox.h: arm, re-check, sleep. */
			rc_wakeflag_arm(&g->wake[w->index]);
			armed = true;
			sleep = xfer_idle(w);
		}
	}
	int r;
	if (!sleep) {
		r = io_uring_submit_and_get_events(&w->ring);
	} else if (trim_due(w) || (w->gauges_stale && g->n > 1) || w->xloss) {
		/* Wake up after a while even if nothing happens: losses to tell another worker wait
		 * for room in its mailbox (1 ms), the gauges other workers read are refreshed
		 * (RC_GAUGES_NS), and chunk memory a burst made resident goes back to the kernel
		 * once things calm down (1 s). */
		struct io_uring_cqe *first;
		struct __kernel_timespec ts = { .tv_sec = 1 };
		if (w->xloss)
			ts = (struct __kernel_timespec){ .tv_nsec = 1000000 };
		else if (w->gauges_stale && g->n > 1)
			ts = (struct __kernel_timespec){ .tv_nsec = RC_GAUGES_NS };
		r = io_uring_submit_and_wait_timeout(&w->ring, &first, 1, &ts, NULL);
	} else if (g->n > 1) {
		struct io_uring_cqe *first;
		struct __kernel_timespec ts = { .tv_nsec = RC_MAIL_CHECK_NS };
		r = io_uring_submit_and_wait_timeout(&w->ring, &first, 1, &ts, NULL);
	} else {
		r = io_uring_submit_and_wait(&w->ring, 1);
	}
	/* disarm says whether a producer took the wake-up; if none did and the wait ran out, any
	 * mail found next was found by the check. */
	bool taken = armed && rc_wakeflag_disarm(&g->wake[w->index]);
	w->mail_check = armed && !taken && r == -ETIME;
	return r;
}

int rc_worker_run(rc_worker *w)
{
	arm_accept(w);
	arm_signal(w);
	for (;;) {
		if (w->draining && (w->drain_expired || w->ws_open == 0)) {
			if (!w->drain_expired) {
				w->drain_expired = true;
				abort_all(w);
			}
			if (w->open == 0)
				break;
		}
		int r = wait_for_work(w);
		w->ts_abs_used = 0;
		uint64_t now = rc_now_ns();
		if (now >= w->next_trim_ns && trim_due(w)) {
			rc_chunks_trim(&w->chunks, RC_TRIM_KEEP);
			rc_chunks_trim(&w->heads, RC_TRIM_KEEP);
			w->next_trim_ns = now + 1000000000u;
		}
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME) {
			rc_log(RC_LOG_ERROR, "ring_wait", "error=%s", strerror(-r));
			return r;
		}
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe (&w->ring, head, cqe) {
			dispatch(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		if (xfer_receive(w) > 0 && w->mail_check && n == 0)
			rc_metric_inc(&w->metrics, RC_M_MAIL_LATE);
		w->mail_check = false;
		rc_pool_collect_remote(&w->pool);
		flush_dirty(w);
		if (rc_pool_low(&w->pool)) {
			uint64_t t = rc_now_ns();
			if (t >= w->next_relief_ns && ws_relieve_pressure(w) == 0)
				w->next_relief_ns = t + 10000000u;
		}
		promote_touched(w);
		reprovide(w);
		xfer_flush(w);
		if (w->group->n > 1) {
			gauges_cheap(w);
			if (n > 0)
				w->gauges_stale = true;
			if (w->gauges_stale && now - w->gauges_ns >= RC_GAUGES_NS)
				worker_gauges(w);
		}
	}
	io_uring_submit(&w->ring); /* what the last turn prepared: a STOP for the other workers */
	rc_log(RC_LOG_INFO, "drained", "accepted=%llu",
	       (unsigned long long)rc_metric_get(&w->metrics, RC_M_ACCEPTED));
	return 0;
}
