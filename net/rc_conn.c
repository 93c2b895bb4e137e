/* rc_conn.c: the life of one connection (rc_conn.h has the states and transitions). */
#define _GNU_SOURCE
#include "rc_conn.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "rc_log.h"

/* ---- control output -------------------------------------------------------------------------- */

void conn_dirty(rc_worker *w, rc_conn *c)
{
	assert(c->state != CS_FREE);
	if (c->flags & F_DIRTY)
		return;
	c->flags |= F_DIRTY;
	c->dirty_next = w->conns.dirty;
	w->conns.dirty = c;
}

static uint32_t ctl_room(const rc_conn *c)
{
	assert(c->ctl_len <= RC_CHUNK_BYTES);
	return c->ctl == NULL ? RC_CHUNK_BYTES : RC_CHUNK_BYTES - c->ctl_len;
}

bool conn_ctl_append(rc_worker *w, rc_conn *c, const void *p, size_t n)
{
	assert(c->state != CS_FREE && p != NULL);
	if (n + RC_CLOSE_FRAME_MAX > ctl_room(c))
		return false;
	if (c->ctl == NULL) {
		c->ctl = rc_chunk_get(&w->mem.chunks);
		if (c->ctl == NULL)
			return false;
		c->ctl_len = 0;
	}
	memcpy(c->ctl + c->ctl_len, p, n);
	c->ctl_len += (uint32_t)n;
	conn_dirty(w, c);
	return true;
}

bool conn_ctl_frame(rc_worker *w, rc_conn *c, uint8_t opcode, const void *p, size_t n)
{
	assert(n == 0 || p != NULL);
	if (c->close != CLOSE_NONE)
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
	assert(h + n <= RC_CLOSE_FRAME_MAX);
	return h + n;
}

/* ---- releasing ------------------------------------------------------------------------------- */

void conn_release_asm(rc_worker *w, rc_conn *c)
{
	if (c->asm_buf != RC_POOL_NONE) {
		rc_pool_unref(&w->mem.pool, c->asm_buf);
		c->asm_buf = RC_POOL_NONE;
		c->asm_len = 0;
	}
	assert(c->asm_len == 0);
}

static void release_msg(void *ctx, struct rc_msg *m)
{
	rc_worker *w = ctx;
	rc_msg_unref(&w->mem.msgs, m);
}

/* release_msg, counting the messages (not the queued notices) as slow-consumer drops. */
static void release_dropped(void *ctx, struct rc_msg *m)
{
	rc_worker *w = ctx;
	if (m->kind != RC_MSG_MISSED)
		rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_SLOW_DISCONNECT));
	rc_msg_unref(&w->mem.msgs, m);
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
	assert(c->sub.subs_len == 0);
}

void conn_drop_queue(rc_worker *w, rc_conn *c)
{
	assert(!(c->flags & F_SEND) || !(c->flags & F_PINNED));
	if (rc_outq_empty(&c->q))
		return;
	bool slow = c->why == RC_CLOSED_SLOW_CONSUMER || c->why == RC_CLOSED_WRITE_TIMEOUT;
	rc_outq_drain(&c->q, &w->mem.qcfg, &w->mem.qalloc, slow ? release_dropped : release_msg, w);
	assert(rc_outq_empty(&c->q));
}

void conn_head_release(rc_worker *w, rc_conn *c)
{
	if (c->head != NULL) {
		rc_chunk_put(&w->mem.heads, c->head);
		c->head = NULL;
	}
}

void conn_ctl_store_release(rc_worker *w, rc_conn *c)
{
	if (c->fp.ctl != NULL) {
		rc_chunk_put(&w->mem.ctls, c->fp.ctl);
		c->fp.ctl = NULL;
	}
}

/* A TLS connection's session and the ciphertext waiting to be sent (rc_wss.h). */
static void release_tls(rc_worker *w, rc_conn *c)
{
	if (!(c->flags & F_TLS))
		return;
	wss_conn *t = &w->tls.conns[conn_slot(w, c)];
	if (c->flags & F_TLS_WAIT) { /* out of the admission queue */
		c->flags &= ~F_TLS_WAIT;
		if (t->wait_prev != RC_POOL_NONE)
			w->tls.conns[t->wait_prev].wait_next = t->wait_next;
		else
			w->tls.wait_head = t->wait_next;
		if (t->wait_next != RC_POOL_NONE)
			w->tls.conns[t->wait_next].wait_prev = t->wait_prev;
		else
			w->tls.wait_tail = t->wait_prev;
		assert(w->tls.waiting > 0);
		w->tls.waiting--;
	}
	if (t->raw != NULL) {
		rc_chunk_put(&w->mem.chunks, t->raw);
		t->raw = NULL;
		t->raw_len = 0;
	}
	if (t->s != NULL) {
		rc_tls_free(t->s);
		t->s = NULL;
		assert(w->tls.live > 0);
		w->tls.live--;
	}
}

void conn_release(rc_worker *w, rc_conn *c)
{
	assert(c->state >= CS_ABORT); /* parsing is over */
	conn_stop(w, c);
	conn_head_release(w, c);
	conn_ctl_store_release(w, c);
	if (c->ctl != NULL) {
		rc_chunk_put(&w->mem.chunks, c->ctl);
		c->ctl = NULL;
		c->ctl_len = 0;
	}
	if (!(c->flags & F_SEND)) {
		if (c->out != NULL) {
			rc_chunk_put(&w->mem.chunks, c->out);
			c->out = NULL;
		}
		conn_drop_queue(w, c);
	}
	release_tls(w, c); /* the send in flight, if any, holds its own chunk (c->out) */
}

/* ---- life ------------------------------------------------------------------------------------ */

void conn_accepted(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_FREE && c->inflight == 0 && c->flags == 0);
	c->id = ++w->conns.next_id;
	c->state = CS_HTTP;
	c->why = RC_WHY_UNSET;
	c->asm_buf = RC_POOL_NONE;
	c->pub_topic = -1;
	c->deadline_ms = conn_deadline_in(w, w->cfg->handshake_timeout_ms);
	w->view.conn[conn_slot(w, c)] =
	        (view_conn){ .accept_ns = w->time.turn_ns, .recv_ns = w->time.turn_ns };
	w->conns.open++;
}

void conn_handshake_done(rc_worker *w, rc_conn *c)
{
	if (c->flags & F_HANDSHAKE) {
		assert(w->limit.handshaking > 0);
		w->limit.handshaking--;
		c->flags &= ~F_HANDSHAKE;
	}
}

/* Close the descriptor of a dropped connection with nothing in flight (CS_CLOSED until it is done).
 * A close_direct with a recv pending returns 0 but leaves the socket open (docs/facts.md): that
 * is why everything in flight is cancelled and waited for first. */
static void conn_closefd(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_ABORT && c->inflight == 0);
	conn_release(w, c);
	c->state = CS_CLOSED;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_close_direct(sqe, conn_slot(w, c));
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CLOSEFD, c->gen, conn_slot(w, c)));
	c->inflight++;
}

void conn_reap(rc_worker *w, rc_conn *c)
{
	/* Not while on the dirty list: the slot could be freed and reused under the flush. */
	if (c->state == CS_ABORT && c->inflight == 0 && !(c->flags & F_DIRTY))
		conn_closefd(w, c);
}

/* The admin view's ring of the last closes (rc_view.h): what is known of c before its slot is
 * cleared. */
static void note_close(rc_worker *w, const rc_conn *c, unsigned why)
{
	uint32_t slot = conn_slot(w, c);
	const view_conn *v = &w->view.conn[slot];
	const limit_conn *lc = &w->limit.conn[slot];
	uint64_t now = w->time.turn_ns;
	view_close *r = &w->view.closes[w->view.closes_total++ % RC_VIEW_CLOSES];
	*r = (view_close){ .closed_ns = now,
		               .age_ns = now > v->accept_ns ? now - v->accept_ns : 0,
		               .bytes_in = v->bytes_in,
		               .bytes_out = v->bytes_out,
		               .id = c->id,
		               .port = lc->port,
		               .code = c->close_code,
		               .family = lc->family,
		               .reason = (uint8_t)why,
		               .route = c->route };
	memcpy(r->peer, lc->peer, sizeof r->peer);
}

void conn_free(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_CLOSED && c->inflight == 0);
	assert(rc_outq_empty(&c->q) && c->sub.subs_len == 0 && c->out == NULL && c->ctl == NULL);
	assert(c->head == NULL && c->asm_buf == RC_POOL_NONE && c->fp.ctl == NULL &&
	       !(c->flags & (F_SEND | F_RECV | F_DIRTY)));
	assert(w->conns.open > 0);
	unsigned why = c->why == RC_WHY_UNSET ? RC_CLOSED_EOF : c->why;
	rc_metric_inc(&w->metrics, RC_M_CLOSED(why));
	if (c->route != ROUTE_NONE) {
		assert(w->conns.ws_open > 0);
		w->conns.ws_open--;
	}
	if (rc_log_enabled(RC_LOG_DEBUG)) {
		rc_metric_info mi;
		rc_metric_describe(RC_M_CLOSED(why), &mi);
		rc_log(RC_LOG_DEBUG, "conn_closed", "conn=%u reason=%s code=%u", c->id, mi.value,
		       c->close_code);
	}
	if (c->flags & F_COUNTED)
		atomic_fetch_sub_explicit(&w->group->open, 1, memory_order_relaxed);
	rc_jwt_grant **grant = &w->access.grant[conn_slot(w, c)];
	if (*grant != NULL) { /* rc_access.h */
		rc_chunk_put(&w->access.grants, *grant);
		*grant = NULL;
	}
	if (c->flags & F_PEER) {
		uint8_t key[RC_PEER_ADDR_BYTES];
		rc_peer_key(w->limit.conn[conn_slot(w, c)].peer, key);
		rc_peers_release(&w->group->peers, key, rc_now_ns());
	}
	note_close(w, c, why);
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof *c);
	c->gen = gen;
	c->state = CS_FREE;
	w->conns.open--;
}

void conn_abort(rc_worker *w, rc_conn *c, enum rc_close_reason why)
{
	if (c->state >= CS_ABORT || c->state == CS_FREE)
		return;
	if (c->why == RC_WHY_UNSET)
		c->why = (uint8_t)why;
	conn_handshake_done(w, c);
	c->state = CS_ABORT;
	conn_release(w, c);
	if (c->inflight > 0) {
		/* Cancel, then close once nothing is in flight (conn_reap). */
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
		io_uring_prep_cancel_fd(sqe, (int)conn_slot(w, c),
		                        IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CANCEL, c->gen, conn_slot(w, c)));
		c->inflight++;
	} else {
		/* On the dirty list, the flush closes it once it is off (conn_reap): closed now, its
		 * close could complete and free the slot while the flush still holds it. */
		conn_reap(w, c);
	}
}

/* Re-arm the read in flight with the deadline of c's new state: cancel it, and arm a new one when
 * its completion comes back (conn_recv_failed, conn_recv_done). */
static void cancel_recv_for_rearm(rc_worker *w, rc_conn *c)
{
	if (!(c->flags & F_RECV) || (c->flags & F_RX_REARM))
		return;
	c->flags |= F_RX_REARM;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_cancel64(sqe, rc_ud(RC_IO_RECV, c->gen, conn_slot(w, c)), 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_CANCEL, c->gen, conn_slot(w, c)));
	c->inflight++;
}

/* Our close frame for a code other than 1001: what is queued is discarded (now, or when the send
 * in flight comes back), the frame goes into the control output. False if no chunk was free, or
 * if a frame is half sent (a large one between two of its sends): no close frame can follow it. */
static bool queue_close_frame(rc_worker *w, rc_conn *c, uint16_t code, const char *reason)
{
	if (!(c->flags & F_SEND)) {
		if (conn_mid_frame(c))
			return false;
		conn_drop_queue(w, c); /* else when the send comes back (conn_sent) */
	}
	uint8_t f[RC_CLOSE_FRAME_MAX];
	size_t n = close_frame(f, code, reason);
	/* ctl always keeps RC_CLOSE_FRAME_MAX bytes free for this. */
	if (c->ctl == NULL && (c->ctl = rc_chunk_get(&w->mem.chunks)) == NULL)
		return false;
	assert(c->ctl_len + n <= RC_CHUNK_BYTES);
	memcpy(c->ctl + c->ctl_len, f, n);
	c->ctl_len += (uint32_t)n;
	c->close = CLOSE_QUEUED;
	return true;
}

void conn_close(rc_worker *w, rc_conn *c, uint16_t code, enum rc_close_reason why,
                const char *reason)
{
	if (c->state == CS_FREE || c->state >= CS_ABORT)
		return;
	if (c->state != CS_OPEN || code == 0) {
		conn_abort(w, c, why);
		return;
	}
	assert(c->close == CLOSE_NONE && c->route != ROUTE_NONE);
	c->why = (uint8_t)why;
	c->close_code = code;
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "conn_closing", "conn=%u code=%u reason=\"%s\"", c->id, code,
		       reason ? reason : "");
	conn_stop(w, c);
	c->state = CS_CLOSING;
	c->deadline_ms = conn_deadline_in(w, w->cfg->close_timeout_ms);
	if (code == RC_CLOSE_GOING_AWAY) {
		c->close = CLOSE_DRAIN;
	} else if (!queue_close_frame(w, c, code, reason)) {
		conn_abort(w, c, why); /* dropped without a close frame: the client sees 1006 */
		return;
	}
	conn_dirty(w, c);
	if (!(c->flags & F_PEER_CLOSED)) {
		/* Read the peer's close frame under the close deadline: re-arm the read that is in
		 * flight with it, or arm one if none is (closing from a read's own deadline). */
		if (c->flags & F_RECV)
			cancel_recv_for_rearm(w, c);
		else
			conn_start_recv(w, c);
	}
}

void conn_respond(rc_worker *w, rc_conn *c, const void *resp, size_t n, enum rc_close_reason why)
{
	assert(c->state == CS_HTTP && c->close == CLOSE_NONE && c->route == ROUTE_NONE);
	conn_head_release(w, c);
	conn_handshake_done(w, c);
	c->why = (uint8_t)why;
	c->state = CS_CLOSING;
	c->close = CLOSE_HTTP;
	c->deadline_ms = conn_deadline_in(w, w->cfg->close_timeout_ms);
	if (n == 0 || !conn_ctl_append(w, c, resp, n))
		conn_abort(w, c, why);
}

void conn_peer_closed(rc_worker *w, rc_conn *c, uint16_t code)
{
	assert(c->route != ROUTE_NONE);
	c->flags |= F_PEER_CLOSED;
	if (c->state == CS_OPEN)
		conn_close(w, c, code == RC_CLOSE_NO_STATUS ? RC_CLOSE_NORMAL : code, RC_CLOSED_CLIENT,
		           NULL);
	else if (c->close == CLOSE_SENT)
		conn_abort(w, c, (enum rc_close_reason)c->why);
}

/* ---- the send path's steps of the close handshake ------------------------------------------- */

uint32_t conn_drain_close_frame(rc_conn *c, uint8_t *buf, uint32_t len, uint32_t cap)
{
	assert(c->close == CLOSE_DRAIN && rc_outq_empty(&c->q) && len <= cap);
	if (cap - len < RC_CLOSE_FRAME_MAX)
		return len;
	len += (uint32_t)close_frame(buf + len, c->close_code, "server shutting down");
	c->close = CLOSE_QUEUED;
	return len;
}

void conn_ctl_taken(rc_conn *c)
{
	if (c->close == CLOSE_QUEUED)
		c->close = CLOSE_SENDING;
}

bool conn_sent(rc_worker *w, rc_conn *c)
{
	assert(c->state == CS_OPEN || c->state == CS_CLOSING);
	assert(!(c->flags & F_SEND));
	if (c->close == CLOSE_HTTP) {
		conn_abort(w, c, (enum rc_close_reason)c->why);
		return false;
	}
	if (c->close == CLOSE_SENDING) {
		c->close = CLOSE_SENT;
		if (c->flags & F_PEER_CLOSED) {
			/* Both close frames have crossed: the server closes TCP first (RFC 6455 §7.1.1). */
			conn_abort(w, c, (enum rc_close_reason)c->why);
			return false;
		}
	}
	/* Closing with a code other than 1001: messages queued while the last send was in flight go
	 * no further. */
	if (c->state == CS_CLOSING && c->close != CLOSE_DRAIN && c->close != CLOSE_QUEUED)
		conn_drop_queue(w, c);
	return true;
}

/* ---- reading --------------------------------------------------------------------------------- */

void conn_start_recv(rc_worker *w, rc_conn *c)
{
	/* F_JOINING: the input resumes when the joint is made (rc_owner.h); F_THROTTLED: when the
	 * connection is back within its rates (rc_limit.h), unless it is closing */
	if (c->flags & (F_RECV | F_STARVED | F_TLS_WAIT | F_JOINING))
		return;
	if ((c->flags & F_THROTTLED) && c->state == CS_OPEN)
		return;
	struct __kernel_timespec *ts;
	unsigned tflags = 0;
	switch (c->state) {
	case CS_HTTP:
	case CS_CLOSING:
		ts = rc_uring_ts_abs(&w->io.ring, &w->io.ts, conn_deadline_ns(w, c->deadline_ms));
		tflags = IORING_TIMEOUT_ABS;
		break;
	case CS_OPEN:
		ts = &w->time.idle;
		break;
	default:
		return;
	}
	uint32_t slot = conn_slot(w, c);
	rc_uring_reserve(&w->io.ring, 2);
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_recv(sqe, (int)slot, NULL, (size_t)w->mem.pool.buf_size, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT | IOSQE_IO_LINK;
	sqe->buf_group = RC_BGID;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_RECV, c->gen, slot));
	sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_link_timeout(sqe, ts, tflags);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_RECV_TIMEOUT, c->gen, slot));
	c->inflight++; /* the recv: its linked timeout is not counted (rc_worker.c, dispatch) */
	c->flags |= F_RECV;
}

void conn_recv_done(rc_worker *w, rc_conn *c)
{
	/* Parsing may have armed the next read already (a close under the close deadline). */
	c->flags &= ~(F_PINGED | F_RX_REARM); /* a re-arm's cancel found nothing: re-arm here */
	conn_start_recv(w, c);
}

/* A read's deadline passed: the handshake or the close handshake took too long, or an open
 * connection was idle (the first time it is pinged, the second time closed). */
static void read_deadline(rc_worker *w, rc_conn *c)
{
	switch (c->state) {
	case CS_HTTP:
		conn_abort(w, c, RC_CLOSED_HANDSHAKE_TIMEOUT);
		return;
	case CS_OPEN:
		if (!(c->flags & F_PINGED)) {
			c->flags |= F_PINGED;
			if (conn_ctl_frame(w, c, RC_OPCODE_PING, NULL, 0)) {
				conn_start_recv(w, c);
				return;
			}
		}
		conn_close(w, c, RC_CLOSE_IDLE_TIMEOUT, RC_CLOSED_IDLE_TIMEOUT, "idle timeout");
		return;
	case CS_CLOSING:
		conn_abort(w, c, (enum rc_close_reason)c->why);
		return;
	default:
		return;
	}
}

void conn_recv_failed(rc_worker *w, rc_conn *c, int res)
{
	assert(!(c->flags & F_RECV));
	/* The read whose cancel F_RX_REARM was waiting for has come back: the flag is spent. */
	bool rearm = (c->flags & F_RX_REARM) != 0;
	c->flags &= ~F_RX_REARM;
	if (c->state >= CS_ABORT)
		return;
	if (res == 0) {
		conn_abort(w, c, c->state == CS_CLOSING ? (enum rc_close_reason)c->why : RC_CLOSED_EOF);
	} else if (res == -ENOBUFS) {
		/* The provided ring is empty: wait for buffers to come back (rc_worker.c reprovide). */
		c->flags |= F_STARVED;
		c->list_next = w->conns.starved;
		w->conns.starved = c;
	} else if (res == -ECANCELED) {
		if (rearm)
			conn_start_recv(w, c);
		else
			read_deadline(w, c);
	} else if (res > 0) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR); /* data without a buffer: cannot happen */
	} else {
		conn_abort(w, c, res == -ECONNRESET || res == -EPIPE ? RC_CLOSED_EOF : RC_CLOSED_IO_ERROR);
	}
}

/* ---- checks ---------------------------------------------------------------------------------- */

/* What every state that has given up its deliveries (closing, dropped, closed) no longer holds. */
static void check_stopped(const rc_conn *c)
{
	assert(c->sub.subs_len == 0);
	assert(c->pub_topic == -1);
	assert(c->asm_buf == RC_POOL_NONE && c->asm_len == 0);
	assert(c->head == NULL);
}

/* What holds in every state: flags that imply each other, and operations counted in flight. */
static void check_flags(const rc_worker *w, const rc_conn *c)
{
	uint32_t f = c->flags;
	assert(c->inflight >= !!(f & F_SEND) + !!(f & F_RECV));
	assert(!(f & F_PINNED) || ((f & F_SEND) && c->out == NULL && !rc_outq_empty(&c->q)));
	assert(!(f & F_SEND_DEADLINE) || (f & F_SEND));
	assert(c->out == NULL || (f & F_SEND));
	assert(c->out == NULL || (c->out_done <= c->out_len && c->out_len <= RC_CHUNK_BYTES));
	assert(!((f & F_STARVED) && (f & F_RECV)));
	assert(!(f & F_RX_REARM) || (f & F_RECV));
	assert(!(f & F_PEER_CLOSED) || c->route != ROUTE_NONE);
	assert(c->ctl_len <= RC_CHUNK_BYTES && (c->ctl != NULL || c->ctl_len == 0));
	assert(c->asm_len <= w->cfg->message_max_bytes);
}

void conn_check(const rc_worker *w, const rc_conn *c)
{
	assert(c >= w->conns.slots && c < w->conns.slots + w->conns.nslots);
	if (c->state == CS_FREE) {
		assert(c->inflight == 0 && c->flags == 0 && c->close == CLOSE_NONE);
		assert(rc_outq_empty(&c->q) && c->sub.subs_len == 0);
		assert(c->out == NULL && c->ctl == NULL && c->head == NULL);
		return;
	}
	check_flags(w, c);
	/* a read with its deadline is armed, or waits for buffers or for TLS admission */
	bool reads = (c->flags & (F_RECV | F_STARVED | F_TLS_WAIT | F_JOINING | F_THROTTLED)) != 0;
	switch ((enum conn_state)c->state) {
	case CS_HTTP:
		assert(c->route == ROUTE_NONE && c->close == CLOSE_NONE && reads);
		assert(!(c->flags & (F_COUNTED | F_THROTTLED)));
		assert(rc_outq_empty(&c->q) && c->sub.subs_len == 0 && c->pub_topic == -1);
		assert(!(c->flags & (F_V1 | F_AUTH)));
		assert(!(c->flags & F_SEND) || (c->flags & F_TLS)); /* a TLS handshake flight */
		return;
	case CS_OPEN:
		assert(c->route != ROUTE_NONE && c->close == CLOSE_NONE && reads);
		assert(c->head == NULL && !(c->flags & (F_HANDSHAKE | F_PEER_CLOSED)));
		assert(c->route != ROUTE_WS || c->sub.v1 == ((c->flags & F_V1) != 0));
		assert(c->pub_topic < 0 || (c->route == ROUTE_WS && !(c->flags & F_V1)));
		break;
	case CS_CLOSING:
		check_stopped(c);
		assert(c->close != CLOSE_NONE);
		assert((c->route == ROUTE_NONE) == (c->close == CLOSE_HTTP));
		assert(reads || (c->flags & F_PEER_CLOSED));
		assert(c->close != CLOSE_QUEUED || c->ctl != NULL);
		assert(c->close != CLOSE_SENDING || (c->flags & F_SEND));
		assert(c->close != CLOSE_DRAIN || c->close_code == RC_CLOSE_GOING_AWAY);
		break;
	case CS_ABORT:
		check_stopped(c);
		/* else conn_reap closed the descriptor, or does once the flush takes it off its list */
		assert(c->inflight > 0 || (c->flags & F_DIRTY));
		assert(c->ctl == NULL && ((c->flags & F_SEND) || rc_outq_empty(&c->q)));
		return;
	case CS_CLOSED:
		check_stopped(c);
		assert(c->inflight == 1 && c->ctl == NULL && c->out == NULL && rc_outq_empty(&c->q));
		return;
	default:
		assert(!"a connection state out of range");
		return;
	}
	assert(rc_outq_validate(&c->q, &w->mem.qcfg));
}
