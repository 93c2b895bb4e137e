/* rc_send.c: the send path (rc_send.h). */
#define _GNU_SOURCE
#include "rc_send.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "rc_clock.h"
#include "rc_conn.h"
#include "rc_pace.h"
#include "rc_log.h"
#include "rc_wss.h"

#define FLUSH_BATCH 64 /* queued messages taken from a queue at a time */

/* A send in two tries (rc_send.h). The first has no linked timeout: with one on every send, the
 * same CPU did a quarter of the sends (docs/benchmarks.md), for a timer armed and cancelled per
 * send that a consumer keeping up never needs. */
static void submit_send(rc_worker *w, rc_conn *c, const uint8_t *p, uint32_t len, bool deadline)
{
	assert(!(c->flags & F_SEND) && len > 0);
	uint32_t slot = conn_slot(w, c);
	rc_uring_reserve(&w->io.ring, 2);
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_send(sqe, (int)slot, p, len,
	                   (deadline ? MSG_WAITALL : MSG_DONTWAIT) | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SEND, c->gen, slot));
	if (deadline) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = rc_uring_sqe(&w->io.ring);
		io_uring_prep_link_timeout(sqe, &w->time.write, 0);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SEND_TIMEOUT, c->gen, slot));
		c->flags |= F_SEND_DEADLINE;
	}
	c->inflight++; /* the send: a linked timeout is not counted (rc_worker.c, dispatch) */
	c->flags |= F_SEND;
}

/* ---- filling a chunk ------------------------------------------------------------------------- */

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

/* The missed notices c is owed, into buf[len..cap): they go ahead of queued messages. */
static uint32_t fill_missed(rc_worker *w, rc_conn *c, uint8_t *buf, uint32_t len, uint32_t cap)
{
	uint32_t topic, count;
	while (rc_subscriber_missed_pending(&c->sub) && len <= cap &&
	       cap - len >= RC_APP_NOTICE_MISSED_MAX + 4 &&
	       rc_subscriber_pop_missed(&w->topics, &c->sub, &topic, &count))
		len += (uint32_t)missed_frame(w, buf + len, topic, count);
	assert(len <= RC_CHUNK_BYTES);
	return len;
}

/* Is m of a topic c still subscribes to? Only asked after an unsubscribe left messages queued. */
static bool still_subscribed(rc_worker *w, rc_conn *c, const rc_msg *m)
{
	return rc_sub_find(&w->topics, &c->sub, m->topic) != NULL;
}

/* A message goes into a send now: how long after its publication. */
static void observe_delivery(rc_worker *w, const rc_msg *m)
{
	if (m->pub_ns != 0 && w->time.flush_ns > m->pub_ns)
		rc_hist_observe(&w->hist.publish_send, w->time.flush_ns - m->pub_ns);
	else
		rc_hist_observe(&w->hist.publish_send, 0);
}

/* Copy queued frames into buf[len..cap) until it is full or the queue empty, releasing each
 * one copied (64 bytes cost nanoseconds to copy; one contiguous send beats many iovecs). Adds the
 * messages copied to *msgs. */
static uint32_t fill_queued(rc_worker *w, rc_conn *c, uint8_t *buf, uint32_t len, uint32_t cap,
                            uint32_t *msgs)
{
	struct rc_msg *done[FLUSH_BATCH];
	for (;;) {
		uint32_t n = 0, qn = rc_outq_count(&c->q);
		uint32_t off = rc_outq_head_offset(&c->q);
		while (n < qn && n < FLUSH_BATCH) {
			rc_msg *m = rc_outq_peek(&c->q, &w->mem.qcfg, n);
			uint32_t skip = n == 0 ? off : 0;
			if ((c->flags & F_PURGE) && !still_subscribed(w, c, m)) {
				n++;
				continue;
			}
			if (len > cap || m->len - skip > cap - len)
				break;
			rc_msg_copy(&w->mem.msgs, m, skip, buf + len, m->len - skip);
			len += m->len - skip;
			n++;
			if (m->kind != RC_MSG_MISSED) {
				rc_metric_inc(&w->metrics, RC_M_DELIVERED);
				if (skip == 0) /* else its first send, by reference, was observed */
					observe_delivery(w, m);
				(*msgs)++;
			}
		}
		if (n == 0)
			break;
		rc_outq_consume(&c->q, &w->mem.qcfg, &w->mem.qalloc, n, done);
		for (uint32_t i = 0; i < n; i++)
			rc_msg_unref(&w->mem.msgs, done[i]);
		if (n < FLUSH_BATCH)
			break;
	}
	if (rc_outq_empty(&c->q))
		c->flags &= ~F_PURGE;
	return len;
}

/* The head frame's bytes from where its last send stopped to the end of the buffer they are in:
 * all of the rest, unless it is a large frame, which goes a buffer of its chain at a time. The walk
 * goes on from c->out_at, which send_head_by_reference sets at the frame's first send. */
static uint32_t head_piece(rc_worker *w, rc_conn *c, const uint8_t **p)
{
	rc_msg *m = rc_outq_peek(&c->q, &w->mem.qcfg, 0);
	rc_span sp = rc_msg_span(&w->mem.msgs, m);
	return (uint32_t)rc_span_piece_at(&sp, rc_outq_head_offset(&c->q), &c->out_at, p);
}

/* The head frame is larger than a chunk: it goes alone, by reference (F_PINNED), one buffer of it
 * per send. */
static void send_head_by_reference(rc_worker *w, rc_conn *c)
{
	assert(!rc_outq_empty(&c->q));
	rc_msg *m = rc_outq_peek(&c->q, &w->mem.qcfg, 0);
	uint32_t off = rc_outq_head_offset(&c->q);
	rc_outq_pin(&c->q, 1);
	c->flags |= F_PINNED;
	if (off == 0) { /* the frame's first send */
		rc_span sp = rc_msg_span(&w->mem.msgs, m);
		c->out_at = rc_span_cursor_start(&sp);
		if (m->kind != RC_MSG_MISSED) {
			observe_delivery(w, m);
			rc_hist_observe(&w->hist.frames, 1);
		}
	}
	const uint8_t *p;
	uint32_t n = head_piece(w, c, &p);
	submit_send(w, c, p, n, false);
}

/* ---- flushing -------------------------------------------------------------------------------- */

/* Whether queued messages may still go out: open, or closing for shutdown (1001 sends what is
 * queued first). */
static bool sends_data(const rc_conn *c)
{
	return c->state == CS_OPEN || c->close == CLOSE_DRAIN;
}

/* ---- flushing over TLS ---------------------------------------------------------------------- */

/* The head frame's next bytes, copied into buf[len..cap): over TLS a frame larger than a flush
 * goes in slices (each subscriber's bytes are encrypted apart, so there is no sending by
 * reference), walking its chain on from the last slice (wss_conn.at). The queue counts the
 * bytes as sent once they are sealed. */
static uint32_t fill_slice(rc_worker *w, rc_conn *c, uint8_t *buf, uint32_t len, uint32_t cap)
{
	wss_conn *t = &w->tls.conns[conn_slot(w, c)];
	rc_msg *m = rc_outq_peek(&c->q, &w->mem.qcfg, 0);
	uint32_t off = rc_outq_head_offset(&c->q);
	rc_span sp = rc_msg_span(&w->mem.msgs, m);
	if (off == 0) {
		t->at = rc_span_cursor_start(&sp);
		if (m->kind != RC_MSG_MISSED) {
			observe_delivery(w, m);
			rc_hist_observe(&w->hist.frames, 1);
		}
	}
	uint32_t n = 0, want = cap - len;
	while (n < want && off + n < sp.len) {
		const uint8_t *p;
		size_t k = rc_span_piece_at(&sp, off + n, &t->at, &p);
		if (k > want - n)
			k = want - n;
		memcpy(buf + len + n, p, k);
		n += (uint32_t)k;
	}
	struct rc_msg *done[1];
	if (rc_outq_sent(&c->q, &w->mem.qcfg, &w->mem.qalloc, n, done, 1) == 1) {
		rc_metric_inc(&w->metrics, RC_M_DELIVERED);
		rc_msg_unref(&w->mem.msgs, done[0]);
	}
	return len + n;
}

/* flush_conn for a TLS connection: what `raw` holds (handshake records), then one plaintext chunk
 * built as a plain flush builds it, within what one send chunk can carry sealed
 * (wss_plain_room): the rest of a half-sent frame alone; else control output, then missed
 * notices and queued frames, and the first slice of a frame larger than the room. */
static void flush_tls(rc_worker *w, rc_conn *c)
{
	if (conn_mid_frame(c) && !sends_data(c)) { /* as in flush_conn: a close cannot follow */
		conn_abort(w, c, (enum rc_close_reason)c->why);
		return;
	}
	uint32_t room = sends_data(c) || c->ctl != NULL ? wss_plain_room(w, c) : 0;
	uint8_t *buf = NULL;
	uint32_t len = 0, msgs = 0;
	if (room > 0 && conn_mid_frame(c)) {
		/* the rest of a half-sent frame goes first, alone: a pong waiting in the control output
		 * may only follow the frame's last byte (RFC 6455 5.4) */
		if ((buf = rc_chunk_get(&w->mem.chunks)) != NULL)
			len = fill_slice(w, c, buf, 0, room);
	} else if (room > 0) {
		buf = c->ctl;
		len = c->ctl_len;
		c->ctl = NULL;
		c->ctl_len = 0;
		if (len > room) { /* the rest of the control output waits for the next send */
			c->ctl = rc_chunk_get(&w->mem.chunks);
			if (c->ctl == NULL) {
				c->ctl = buf;
				c->ctl_len = len;
				return;
			}
			c->ctl_len = len - room;
			memcpy(c->ctl, buf + room, c->ctl_len);
			len = room;
		}
		bool pending = !rc_outq_empty(&c->q) || rc_subscriber_missed_pending(&c->sub);
		if (sends_data(c) && pending && len < room &&
		    (buf != NULL || (buf = rc_chunk_get(&w->mem.chunks)) != NULL)) {
			len = fill_missed(w, c, buf, len, room);
			if (!rc_subscriber_missed_pending(&c->sub))
				len = fill_queued(w, c, buf, len, room, &msgs);
			/* a head frame larger than the room left: its first slice */
			if (!rc_outq_empty(&c->q) && !rc_subscriber_missed_pending(&c->sub) && len < room &&
			    msgs == 0)
				len = fill_slice(w, c, buf, len, room);
		}
		if (c->close == CLOSE_DRAIN && rc_outq_empty(&c->q) && c->ctl == NULL &&
		    (buf != NULL || (buf = rc_chunk_get(&w->mem.chunks)) != NULL))
			len = conn_drain_close_frame(c, buf, len, room);
	}
	/* An HTTP response (a plain one, or a refused upgrade) ends the connection: close_notify. */
	bool notify = c->close == CLOSE_HTTP && c->ctl == NULL && len > 0;
	uint32_t out_len = 0;
	uint8_t *out = wss_seal(w, c, buf, len, notify, &out_len);
	if (buf != NULL)
		rc_chunk_put(&w->mem.chunks, buf);
	if (out == NULL)
		return;
	if (msgs > 0)
		rc_hist_observe(&w->hist.frames, msgs);
	if (c->ctl == NULL)
		conn_ctl_taken(c);
	c->out = out;
	c->out_len = out_len;
	c->out_done = 0;
	submit_send(w, c, out, out_len, false);
}

/* One send for c, if it has anything to say and no send in flight: the rest of a half-sent frame
 * first, alone; else its control output (pongs ahead of data), then missed notices, then queued
 * frames copied until the chunk is full. A head frame too large for an empty chunk goes alone, by
 * reference. */
static void flush_conn(rc_worker *w, rc_conn *c)
{
	/* A subscribe waits for other workers: nothing goes out before its notice (rc_owner.h); the
	 * joint dirties the connection again when it is made. */
	if ((c->flags & F_JOINING) && c->state == CS_OPEN)
		return;
	/* A paced connection before its time: the heap brings it back (rc_pace.h). */
	if (!(c->flags & F_SEND) && pace_hold(w, c))
		return;
	if (c->flags & F_TLS) {
		if (!(c->flags & F_SEND) && c->state < CS_ABORT)
			flush_tls(w, c);
		return;
	}
	if ((c->flags & F_SEND) || (c->state != CS_OPEN && c->state != CS_CLOSING))
		return;
	if (conn_mid_frame(c)) {
		/* A large frame is half sent: its next buffer goes before anything else. Closing with a
		 * close frame queued behind it (the close came while its last send was in flight): the
		 * frame can neither be finished (the queue is being discarded) nor be followed by a close
		 * frame, so the connection is dropped. */
		if (sends_data(c))
			send_head_by_reference(w, c);
		else
			conn_abort(w, c, (enum rc_close_reason)c->why);
		return;
	}
	uint8_t *buf = c->ctl;
	uint32_t len = c->ctl_len, msgs = 0;
	c->ctl = NULL;
	c->ctl_len = 0;
	bool pending = !rc_outq_empty(&c->q) || rc_subscriber_missed_pending(&c->sub);
	if (sends_data(c) && pending) {
		if (buf == NULL && (buf = rc_chunk_get(&w->mem.chunks)) == NULL)
			return; /* cannot happen: 3 chunks per slot, a connection uses 3 */
		len = fill_missed(w, c, buf, len, RC_CHUNK_BYTES);
		if (!rc_subscriber_missed_pending(&c->sub)) {
			len = fill_queued(w, c, buf, len, RC_CHUNK_BYTES, &msgs);
			if (len == 0 && !rc_outq_empty(&c->q)) {
				rc_chunk_put(&w->mem.chunks, buf);
				send_head_by_reference(w, c);
				return;
			}
		}
	}
	if (c->close == CLOSE_DRAIN && rc_outq_empty(&c->q)) {
		if (buf == NULL) {
			buf = rc_chunk_get(&w->mem.chunks);
			len = 0;
		}
		if (buf != NULL)
			len = conn_drain_close_frame(c, buf, len, RC_CHUNK_BYTES);
	}
	if (buf == NULL)
		return;
	if (len == 0) {
		rc_chunk_put(&w->mem.chunks, buf);
		return;
	}
	if (msgs > 0)
		rc_hist_observe(&w->hist.frames, msgs);
	conn_ctl_taken(c);
	c->out = buf;
	c->out_len = len;
	c->out_done = 0;
	submit_send(w, c, buf, len, false);
}

rc_conn *send_take_dirty(rc_worker *w)
{
	rc_conn *list = w->conns.dirty;
	w->conns.dirty = NULL;
	if (list != NULL)
		w->time.flush_ns = rc_now_ns();
	return list;
}

rc_conn *send_flush_slice(rc_worker *w, rc_conn *list, uint32_t slice)
{
	while (list != NULL && io_uring_sq_ready(&w->io.ring) < slice) {
		rc_conn *c = list;
		list = c->dirty_next;
		assert(c->flags & F_DIRTY);
		c->flags &= ~F_DIRTY;
		flush_conn(w, c);
		conn_reap(w, c); /* a connection dropped while on the list is closed once off it */
#ifdef RC_CHECKS
		conn_check(w, c);
#endif
	}
	return list;
}

/* ---- completions ----------------------------------------------------------------------------- */

/* The first, deadline-free try of a send came back short or with -EAGAIN: send the rest with the
 * write deadline (rc_send.h). Returns false if this was not such a case. */
static bool send_rest(rc_worker *w, rc_conn *c, int res, bool had_deadline)
{
	if (had_deadline || c->state >= CS_ABORT || (res < 0 && res != -EAGAIN))
		return false;
	uint32_t sent = res > 0 ? (uint32_t)res : 0;
	if (c->flags & F_PINNED) {
		const uint8_t *p;
		if (sent >= head_piece(w, c, &p))
			return false; /* complete */
		if (sent > 0) {
			struct rc_msg *done[1];
			/* pops nothing: the head frame is not complete */
			rc_outq_sent(&c->q, &w->mem.qcfg, &w->mem.qalloc, sent, done, 1);
			rc_outq_pin(&c->q, 1);
		}
		uint32_t n = head_piece(w, c, &p);
		submit_send(w, c, p, n, true);
	} else {
		assert(c->out != NULL);
		if (c->out_done + sent >= c->out_len)
			return false; /* complete */
		c->out_done += sent;
		submit_send(w, c, c->out + c->out_done, c->out_len - c->out_done, true);
	}
	if (sent > 0) {
		rc_metric_add(&w->metrics, RC_M_BYTES_OUT, sent);
		w->view.conn[conn_slot(w, c)].bytes_out += sent;
	}
	return true;
}

/* Release what the completed send carried: the pinned head frame (delivered if it went out whole)
 * or the chunk. Returns the bytes that this try meant to send. */
static uint32_t release_sent(rc_worker *w, rc_conn *c, int res)
{
	if (c->flags & F_PINNED) {
		c->flags &= ~F_PINNED;
		const uint8_t *p;
		uint32_t want = head_piece(w, c, &p);
		struct rc_msg *done[1];
		uint32_t n = rc_outq_sent(&c->q, &w->mem.qcfg, &w->mem.qalloc, res > 0 ? (size_t)res : 0,
		                          done, 1);
		if (n == 1) {
			rc_metric_inc(&w->metrics, RC_M_DELIVERED);
			rc_msg_unref(&w->mem.msgs, done[0]);
		}
		return want;
	}
	assert(c->out != NULL);
	uint32_t want = c->out_len - c->out_done;
	rc_chunk_put(&w->mem.chunks, c->out);
	c->out = NULL;
	c->out_len = 0;
	c->out_done = 0;
	return want;
}

void send_complete(rc_worker *w, rc_conn *c, int res)
{
	assert(c->flags & F_SEND);
	bool had_deadline = c->flags & F_SEND_DEADLINE;
	c->flags &= ~(F_SEND | F_SEND_DEADLINE);
	if (send_rest(w, c, res, had_deadline))
		return;
	uint32_t want = release_sent(w, c, res);
	rc_metric_inc(&w->metrics, RC_M_SENDS);
	if (res > 0) {
		rc_metric_add(&w->metrics, RC_M_BYTES_OUT, (uint64_t)res);
		w->view.conn[conn_slot(w, c)].bytes_out += (uint64_t)res;
	}
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
	bool tls_more = (c->flags & F_TLS) && wss_pending(w, c);
	if (c->state == CS_HTTP ||
	    ((c->flags & F_TLS) && c->close == CLOSE_HTTP && (c->ctl != NULL || tls_more))) {
		/* A TLS handshake flight went out; the HTTP answer, if any, has not yet (it came in
		 * while the flight was in flight). */
		assert(c->flags & F_TLS);
		if (tls_more || c->ctl != NULL)
			conn_dirty(w, c);
		return;
	}
	if (!conn_sent(w, c))
		return;
	if (c->ctl_len > 0 || !rc_outq_empty(&c->q) || c->close == CLOSE_DRAIN ||
	    rc_subscriber_missed_pending(&c->sub) || tls_more)
		conn_dirty(w, c);
}
