/* fanout_tls.c: a fan-out connection over TLS, wss:// (fanout_int.h, tls.h).
 *
 * After the connect, the connection's receive is armed (multishot over the worker's buffer ring,
 * as an open ws connection's) and its TLS session makes its first flight. Each receive's
 * ciphertext is fed to the session and read out before the buffer goes back to the ring: while
 * the TLS handshake runs it drives the handshake; once that is done the WebSocket request follows
 * (in the same send as the last flight), and the plaintext goes into the handshake's buffer until
 * the 101 passed its checks, then through conn_feed like a ws connection's bytes. A send encrypts
 * everything the connection owes (a publisher's frames of a turn, its control frames) in one
 * call, so a turn's frames become as few records as they fill, and sends the session's out
 * buffer: one send in flight, as ever; what the session makes meanwhile (an alert, a
 * close_notify) waits behind it and goes next. */
#include <assert.h>
#include <stdio.h>

#include "fanout_int.h"
#include "sys.h"

/* The session's out buffer: what the send buffer's plaintext can become, and a flight. */
static size_t out_cap(const struct conn *c)
{
	return tls_sealed_max(c->tx_cap) + TLS_FLIGHT_MAX;
}

/* Go on with the TLS handshake; once it is done the request follows its last flight. Returns
 * false if the setup failed (it has ended). */
static bool tls_drive(struct worker *w, struct conn *c)
{
	int r = tls_handshake(c->tls);
	if (r == TLS_FAIL) {
		setup_end(w, c, tls_error_kind(c->tls));
		return false;
	}
	if (r == TLS_OK && !hs_request(w, c))
		return false;
	if (!c->send_inflight && conn_owes(c))
		conn_submit_send(w, c);
	return c->state == CS_HANDSHAKE;
}

void tls_conn_start(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	assert(c->state == CS_HANDSHAKE && c->tls == NULL);
	const struct tls_ticket *k = f->o->tls_resume ? w->ticket : NULL;
	c->tls = tls_new(f->b->tls, out_cap(c), k, &w->st.tls);
	if (c->tls == NULL) {
		setup_end(w, c, "out_of_memory");
		return;
	}
	arm_recv(w, c);
	tls_drive(w, c);
}

void tls_conn_send(struct worker *w, struct conn *c)
{
	assert(!c->send_inflight);
	if (c->tx_off < c->tx_len) {
		if (tls_write(c->tls, c->tx + c->tx_off, c->tx_len - c->tx_off) != TLS_OK) {
			const char *k = tls_error_kind(c->tls);
			if (c->state == CS_HANDSHAKE) {
				setup_end(w, c, k);
				return;
			}
			if (!w->closing)
				tally_add(&w->st.errors, k, 1);
			conn_close(w, c);
			return;
		}
		c->tx_off = c->tx_len; /* sealed: the send buffer is free once this send completes */
	}
	const uint8_t *p;
	size_t n = tls_out(c->tls, &p);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->idx));
	c->send_inflight = true;
	c->ops++;
}

bool tls_conn_sent(struct conn *c, int res)
{
	tls_out_sent(c->tls, (size_t)res);
	/* Bytes the session made meanwhile, or plaintext written while the send was in flight (the
	 * request, when the handshake ended then): the next send takes them. */
	return conn_owes(c);
}

/* The session ended (close_notify) or failed while reading (r: TLS_CLOSED or TLS_FAIL). */
static void tls_read_end(struct worker *w, struct conn *c, ssize_t r)
{
	char k[40];
	if (c->state == CS_HANDSHAKE) {
		setup_end(w, c, r == TLS_CLOSED ? "handshake_recv_eof" : tls_error_kind(c->tls));
		return;
	}
	if (!c->close_rcvd && !c->close_sent && !w->closing) {
		if (r == TLS_CLOSED) { /* the server closed without a close frame */
			tally_add(&stats_of(w, c)->closes, "1006", 1);
		} else {
			snprintf(k, sizeof k, "%s", tls_error_kind(c->tls));
			tally_add(&w->st.errors, k, 1);
		}
	}
	conn_close(w, c);
}

/* Read out what the fed ciphertext holds: the answer to the request, then frames. Stops when
 * nothing complete is left, or the connection is done with reading. */
static void tls_read_all(struct worker *w, struct conn *c, uint64_t now)
{
	while (c->state == CS_HANDSHAKE || (c->state == CS_OPEN && !c->close_rcvd && !c->proto_err)) {
		struct handshake *hs = c->state == CS_HANDSHAKE ? c->hs : NULL;
		if (hs == NULL && c->state == CS_HANDSHAKE)
			return; /* the request is not written yet: nothing can be read */
		uint8_t *dst = hs != NULL ? hs->buf + hs->len : w->plain;
		size_t cap = hs != NULL ? sizeof hs->buf - hs->len : TLS_RECORD_MAX;
		ssize_t n = tls_read(c->tls, dst, cap);
		if (n == TLS_AGAIN)
			return;
		if (n < 0) {
			tls_read_end(w, c, n);
			return;
		}
		if (hs == NULL) {
			conn_feed(w, c, dst, (size_t)n, now);
			continue;
		}
		hs->len += (uint32_t)n;
		(void)hs_progress(w, c); /* HS_MORE leaves room (else it failed): read on */
	}
}

void tls_conn_recv(struct worker *w, struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if (c->state != CS_HANDSHAKE && c->state != CS_OPEN)
		return;
	tls_feed(c->tls, p, n);
	if (c->state == CS_HANDSHAKE && !tls_established(c->tls) && !tls_drive(w, c))
		goto out;
	if (tls_established(c->tls))
		tls_read_all(w, c, now);
	/* Reading may have made bytes to send (an alert, a key update's answer). */
	if (c->state == CS_OPEN && !c->send_inflight && conn_owes(c))
		mark_dirty(w, c);
out:
	if (c->tls != NULL)
		tls_feed_drop(c->tls); /* p goes back to the ring */
}
