/* fanout_conn.c: one connection's life in the fan-out engine (fanout_int.h): connect (from a
 * chosen source address if asked), the opening handshake, sending (one send in flight, resumed
 * after a short one), receiving over the worker's buffer ring, the control frames, closing only
 * when nothing is in flight, and --reconnect's backoff. What a connection's messages mean is
 * fanout_msg.c's business. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fanout_int.h"
#include "rc_close.h"
#include "rc_mask.h"
#include "sys.h"

/* --reconnect: the next attempt after `attempt` failures in a row, exponential backoff with full
 * jitter (a uniform draw in [0, min(cap, base x 2^attempt)], so that connections the server shed
 * together do not come back together), but never sooner than the server asked (floor_ms). */
static void retry_schedule(struct worker *w, struct conn *c)
{
	const struct opts *o = w->f->o;
	assert(c->state == CS_CLOSED && !c->retrying);
	c->want_retry = false;
	uint64_t ceil_ms = o->backoff_cap_ms;
	if (c->attempt < 32 && ((uint64_t)o->backoff_base_ms << c->attempt) < ceil_ms)
		ceil_ms = (uint64_t)o->backoff_base_ms << c->attempt;
	uint64_t ns = xorshift64(&w->rng) % (ceil_ms * 1000000u + 1);
	if (c->floor_ms && ns < (uint64_t)c->floor_ms * 1000000u) {
		ns = (uint64_t)c->floor_ms * 1000000u;
		w->st.waits_told++;
	}
	c->floor_ms = 0;
	if (c->attempt < 64)
		c->attempt++;
	c->retry_at = mono_ns() + ns;
	c->retrying = true;
	w->nretry++;
}

void conn_maybe_finish(struct worker *w, struct conn *c)
{
	if (c->state != CS_CLOSING || c->ops != 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->state = CS_CLOSED;
	tls_free(c->tls);
	c->tls = NULL;
	assert(w->open > 0);
	w->open--;
	if (c->want_retry && !w->closing)
		retry_schedule(w, c);
}

/* An open connection ended (the server closed it, a protocol or I/O error) before the end of the
 * run: messages are no longer expected at it, and a publisher is done. */
void conn_gone(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	if (c->gone)
		return;
	c->gone = true;
	c->want_retry = o->reconnect && !w->closing;
	if (atomic_load_explicit(&f->phase, memory_order_acquire) != PH_RUN) {
		atomic_fetch_sub(c->pub_id >= 0 ? &f->open_pubs : &f->open_subs, 1);
		return;
	}
	if (w->closing)
		return; /* our own close at the end */
	rx_leave(w, c);
}

/* Close: shut the socket down so that the operations in flight complete, and close the descriptor
 * when the last one has (a pending recv holds the socket open past close: docs/facts.md). */
void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CS_CLOSING) {
		conn_maybe_finish(w, c);
		return;
	}
	if (c->state == CS_CLOSED)
		return;
	if (c->state == CS_OPEN)
		conn_gone(w, c);
	c->state = CS_CLOSING;
	free(c->hs);
	c->hs = NULL;
	if (c->ops != 0)
		shutdown(c->fd, SHUT_RDWR);
	conn_maybe_finish(w, c);
}

void mark_dirty(struct worker *w, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	w->dirty[w->ndirty++] = c->idx;
}

/* Queue a close frame (sent by the next flush); the connection is closed once it is out. */
void conn_send_close(struct worker *w, struct conn *c, uint16_t code)
{
	if (c->close_pending || c->close_sent || c->state != CS_OPEN)
		return;
	c->close_pending = true;
	c->close_code_out = code;
	mark_dirty(w, c);
}

void setup_end(struct worker *w, struct conn *c, const char *fail)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	assert(w->setting_up > 0);
	w->setting_up--;
	atomic_fetch_add_explicit(&f->settled, 1, memory_order_release);
	if (fail == NULL) {
		c->was_open = true;
		atomic_fetch_add(c->pub_id >= 0 ? &f->open_pubs : &f->open_subs, 1);
		return;
	}
	tally_add(&w->st.errors, fail, 1);
	if (c->rejoining) {
		c->rejoining = false;
		w->st.reconnect_failed++;
	}
	c->want_retry = o->reconnect && !w->closing;
	conn_close(w, c);
}

void conn_submit_send(struct worker *w, struct conn *c)
{
	if (c->tls != NULL) {
		tls_conn_send(w, c);
		return;
	}
	assert(c->tx_off < c->tx_len);
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->idx));
	c->send_inflight = true;
	c->ops++;
}

/* Append one masked client frame to c's send buffer (the caller checked it fits). */
static void put_frame(struct worker *w, struct conn *c, uint8_t opcode, const uint8_t *payload,
                      uint32_t len)
{
	uint64_t r = xorshift64(&w->rng);
	uint8_t key[4];
	memcpy(key, &r, 4);
	c->tx_len += (uint32_t)rc_frame_encode_masked(c->tx + c->tx_len, opcode, payload, len, key);
	assert(c->tx_len <= c->tx_cap);
}

/* The control frames owed: a pong for the last ping, a close. */
void put_ctl(struct worker *w, struct conn *c)
{
	assert(!c->send_inflight);
	if (c->pong_pending && !c->close_sent) {
		put_frame(w, c, RC_OPCODE_PONG, c->pong, c->pong_len);
		c->pong_pending = false;
	}
	if (c->close_pending) {
		uint8_t p[2 + RC_CLOSE_REASON_MAX];
		uint32_t n = 0;
		if (rc_close_code_valid(c->close_code_out))
			n = (uint32_t)rc_close_payload(p, c->close_code_out, NULL);
		put_frame(w, c, RC_OPCODE_CLOSE, p, n);
		c->close_pending = false;
		c->close_sent = true;
	}
}

void conn_bye(struct worker *w, struct conn *c)
{
	if (c->tls != NULL && !c->bye && c->state == CS_OPEN) {
		c->bye = true;
		tls_close(c->tls);
		if (!c->send_inflight)
			conn_submit_send(w, c);
		return; /* its send's completion comes back here */
	}
	if (c->tls != NULL && c->send_inflight && c->state == CS_OPEN)
		return; /* close_notify still going out */
	conn_close(w, c);
}

void on_control(struct worker *w, struct conn *c, const rc_frame_event *ev)
{
	const struct opts *o = w->f->o;
	switch (ev->opcode) {
	case RC_OPCODE_PING:
		if (c->close_sent || c->close_pending)
			break;
		memcpy(c->pong, ev->data, ev->data_len);
		c->pong_len = (uint8_t)ev->data_len;
		c->pong_pending = true;
		mark_dirty(w, c);
		break;
	case RC_OPCODE_CLOSE:
		c->close_rcvd = true;
		if (c->close_sent) { /* the answer to ours: done */
			conn_bye(w, c);
			break;
		}
		if (!w->closing) {
			char k[16];
			snprintf(k, sizeof k, "%u", ev->close_code);
			tally_add(&stats_of(w, c)->closes, k, 1);
			/* 1012 service restart, 1013 try again later: not before 5 backoff bases. */
			if (ev->close_code == 1012 || ev->close_code == 1013)
				c->floor_ms = 5 * o->backoff_base_ms;
		}
		conn_gone(w, c);
		/* Echo the code (RFC 6455 §5.5.1); a close without one is answered without one. */
		conn_send_close(w, c, ev->close_code);
		break;
	default: /* pong */
		break;
	}
}

/* A recv into the provided buffer ring: multishot (len 0), or one of at most len bytes. */
void arm_recv_len(struct worker *w, struct conn *c, size_t len)
{
	assert(!c->recv_armed);
	struct io_uring_sqe *sqe = get_sqe(w);
	if (len == 0)
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, c->fd, NULL, len, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, c->idx));
	c->recv_armed = true;
	c->ops++;
}

void arm_recv(struct worker *w, struct conn *c)
{
	arm_recv_len(w, c, 0);
}

void cancel_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_cancel64(sqe, ud_make(OP_RECV, c->idx), 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, c->idx));
}

static void buf_recycle(struct worker *w, uint32_t bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * w->buf_size, w->buf_size,
	                      (unsigned short)bid, io_uring_buf_ring_mask(w->nbufs), (int)w->br_added);
	w->br_added++;
}

/* The provided buffer ring, by hand (liburing 2.3 has no io_uring_setup_buf_ring): page-aligned
 * memory for the ring, registered, then every buffer added. */
int bufring_init(struct worker *w)
{
	w->br_bytes = (size_t)w->nbufs * sizeof(struct io_uring_buf);
	void *ring =
	        mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring == MAP_FAILED)
		return -errno;
	w->br = ring;
	io_uring_buf_ring_init(w->br);
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)ring,
		                            .ring_entries = w->nbufs,
		                            .bgid = BGID };
	int r = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (r < 0)
		return r;
	w->bufs_bytes = (size_t)w->nbufs * w->buf_size;
	void *bufs =
	        mmap(NULL, w->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		return -errno;
	w->bufs = bufs;
	for (uint32_t i = 0; i < w->nbufs; i++)
		buf_recycle(w, i);
	io_uring_buf_ring_advance(w->br, (int)w->br_added);
	w->br_added = 0;
	return 0;
}

void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (res > 0) {
		assert(cqe->flags & IORING_CQE_F_BUFFER);
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		w->st.recv_cqes++;
		w->st.recv_bytes += (uint64_t)res;
		uint8_t *p = w->bufs + (size_t)bid * w->buf_size;
		if (c->tls != NULL)
			tls_conn_recv(w, c, p, (size_t)res, mono_ns());
		else if (c->state == CS_OPEN)
			conn_feed(w, c, p, (size_t)res, mono_ns());
		buf_recycle(w, bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = false;
	c->ops--;
	if (conn_reading(c) && !c->close_rcvd &&
	    (res > 0 || res == -ENOBUFS || (res == -ECANCELED && c->paused))) {
		/* The multishot ended with the connection alive (-ENOBUFS: the buffer ring ran dry; the
		 * data waits in the socket). Re-arm after this batch's buffers are back in the ring (not
		 * while a slow subscriber is paused: its recv was cancelled on purpose, or was one read of
		 * --slow-rate). */
		if (res == -ENOBUFS)
			w->st.enobufs++;
		c->rearm = true;
		w->rearm[w->nrearm++] = c->idx;
		return;
	}
	if (c->state == CS_HANDSHAKE && c->tls != NULL) { /* wss: the server went away in the setup */
		char k[40];
		snprintf(k, sizeof k, "%s_%s", tls_established(c->tls) ? "handshake_recv" : "tls_recv",
		         res == 0 ? "eof" : errno_name(-res));
		setup_end(w, c, k);
		return;
	}
	if (c->state == CS_OPEN && !c->close_rcvd && !c->close_sent && !w->closing) {
		/* The server went away without a close frame. */
		tally_add(&stats_of(w, c)->closes, "1006", 1);
		if (res < 0) {
			char k[40];
			snprintf(k, sizeof k, "recv_%s", errno_name(-res));
			tally_add(&w->st.errors, k, 1);
		}
	}
	conn_close(w, c);
}

void on_send(struct worker *w, struct conn *c, int res)
{
	c->ops--;
	c->send_inflight = false;
	if (res <= 0) {
		if (c->state == CS_OPEN && !w->closing) {
			char k[40];
			snprintf(k, sizeof k, "send_%s", res == 0 ? "zero" : errno_name(-res));
			tally_add(&w->st.errors, k, 1);
		}
		if (c->state == CS_HANDSHAKE) {
			setup_end(w, c, "handshake_send");
			return;
		}
		conn_close(w, c);
		return;
	}
	w->st.send_bytes += (uint64_t)res;
	bool more;
	if (c->tls != NULL) {
		more = tls_conn_sent(c, res);
	} else {
		c->tx_off += (uint32_t)res;
		more = c->tx_off < c->tx_len;
	}
	if (more) { /* a short send, or wss bytes made meanwhile: resume it (docs/facts.md) */
		if (c->state == CS_OPEN || c->state == CS_HANDSHAKE)
			conn_submit_send(w, c);
		else
			conn_maybe_finish(w, c);
		return;
	}
	w->st.sends++;
	c->tx_len = c->tx_off = 0;
	if (c->state == CS_HANDSHAKE) {
		if (c->tls != NULL)
			return; /* its receive is armed since the connect */
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_recv(sqe, c->fd, c->hs->buf, sizeof c->hs->buf, 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_HS_RECV, c->idx));
		c->ops++;
		return;
	}
	if (c->state != CS_OPEN) {
		conn_maybe_finish(w, c);
		return;
	}
	if (c->close_sent && (c->close_rcvd || c->proto_err)) {
		conn_bye(w, c); /* our answer to the server's close, or our protocol error close */
		return;
	}
	if (c->pong_pending || c->close_pending)
		mark_dirty(w, c);
}

void conn_start(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	assert(c->state == CS_IDLE);
	w->setting_up++;
	c->state = CS_CONNECTING;
	c->fd = socket(f->b->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		char k[40];
		snprintf(k, sizeof k, "socket_%s", errno_name(errno));
		c->state = CS_CLOSED;
		w->setting_up--;
		atomic_fetch_add_explicit(&f->settled, 1, memory_order_release);
		tally_add(&w->st.errors, k, 1);
		return;
	}
	w->open++;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (f->source_addrs > 0 && f->b->addr.ss.ss_family == AF_INET) {
		/* Spread the source address over 127.0.0.1..n: each gives another ~28k ports towards the
		 * server (the local port range: docs/facts.md). NO_PORT defers the port choice to connect, where the kernel picks it
		 * for the full 4-tuple instead of reserving it per source address. */
		uint32_t global = c->idx * f->threads + w->id;
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(0x7f000001u + global % f->source_addrs);
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
			char k[40];
			snprintf(k, sizeof k, "bind_%s", errno_name(errno));
			c->state = CS_HANDSHAKE; /* so that setup_end closes it */
			setup_end(w, c, k);
			return;
		}
	}
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&f->b->addr.ss, f->b->addr.len);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CONNECT, c->idx));
	c->ops++;
}

void on_connect(struct worker *w, struct conn *c, int res)
{
	struct fan *f = w->f;
	c->ops--;
	if (c->state != CS_CONNECTING) { /* abandoned at the setup timeout */
		conn_maybe_finish(w, c);
		return;
	}
	c->state = CS_HANDSHAKE;
	if (res < 0) {
		char k[40];
		snprintf(k, sizeof k, "connect_%s", errno_name(-res));
		setup_end(w, c, k);
		return;
	}
	if (f->b->tls != NULL) {
		tls_conn_start(w, c); /* the request follows the TLS handshake */
		return;
	}
	if (hs_request(w, c))
		conn_submit_send(w, c);
}

bool hs_request(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	c->hs = malloc(sizeof *c->hs);
	if (c->hs == NULL) {
		setup_end(w, c, "out_of_memory");
		return false;
	}
	c->hs->len = 0;
	uint8_t nonce[RC_WS_NONCE_LEN];
	if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
		for (size_t i = 0; i < sizeof nonce; i++)
			nonce[i] = (uint8_t)xorshift64(&w->rng);
	}
	rc_ws_client_key(nonce, c->hs->key);
	const struct hs_requests *rq = &f->b->rq;
	size_t n = c->pub_id >= 0 ? hs_request_pub(rq, c->hs->key, c->tx, c->tx_cap)
	                          : hs_request_sub(rq, &f->b->topics, c->topics, c->ntopics, c->hs->key,
	                                           c->tx, c->tx_cap);
	assert(n > 0 && n <= c->tx_cap && c->tx_len == 0);
	c->tx_len = (uint32_t)n;
	c->tx_off = 0;
	return true;
}

/* The 101 passed its checks: the connection is open. hs->buf[end..len) is what came after it. */
static void hs_opened(struct worker *w, struct conn *c, struct handshake *hs, size_t end)
{
	c->state = CS_OPEN;
	c->hs = NULL; /* detached first: feeding may close the connection, which frees c->hs */
	setup_end(w, c, NULL);
	if (c->rejoining) {
		c->rejoining = false;
		if (w->closing) { /* too late: the run is over */
			free(hs);
			conn_send_close(w, c, RC_CLOSE_NORMAL);
			return;
		}
		rx_rejoin(w, c);
		c->paused = c->slow && w->slow_paused && !w->slow_resumed;
	}
	if (c->tls != NULL && w->f->o->tls_resume)
		tls_ticket_keep(&w->ticket, c->tls);
	if (!c->paused && !c->recv_armed)
		arm_recv(w, c);
	else if (c->paused && c->recv_armed) /* wss: armed since the connect */
		cancel_recv(w, c);
	/* Frames that came with the 101 belong to the connection. */
	if (end < hs->len)
		conn_feed(w, c, hs->buf + end, hs->len - end, mono_ns());
	free(hs);
}

void on_hs_recv(struct worker *w, struct conn *c, int res)
{
	c->ops--;
	if (c->state != CS_HANDSHAKE) {
		conn_maybe_finish(w, c);
		return;
	}
	struct handshake *hs = c->hs;
	if (res <= 0) {
		char k[40];
		snprintf(k, sizeof k, "handshake_recv_%s", res == 0 ? "eof" : errno_name(-res));
		setup_end(w, c, k);
		return;
	}
	hs->len += (uint32_t)res;
	if (!hs_progress(w, c))
		return;
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_recv(sqe, c->fd, hs->buf + hs->len, sizeof hs->buf - hs->len, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_HS_RECV, c->idx));
	c->ops++;
}

bool hs_progress(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	struct handshake *hs = c->hs;
	struct hs_answer a;
	switch (hs_answer(hs->buf, hs->len, hs->key, f->b->rq.subprotocol, &a)) {
	case HS_MORE:
		if (hs->len == sizeof hs->buf) {
			setup_end(w, c, "handshake_too_long");
			return false;
		}
		return true;
	case HS_FAILED:
		if (strcmp(a.err, "http_503") == 0 && a.retry_after_s >= 0) /* when to come back */
			c->floor_ms = (uint32_t)a.retry_after_s * 1000;
		setup_end(w, c, a.err);
		return false;
	case HS_OPEN:
		hs_opened(w, c, hs, a.head_len);
		return false;
	}
	return false;
}

/* --reconnect: a connection whose retry time has come starts again, from a clean state. Not
 * after the measured interval: nothing would be measured. */
static void conn_reset(struct conn *c)
{
	assert(c->state == CS_CLOSED && c->ops == 0 && c->hs == NULL && c->tls == NULL);
	c->state = CS_IDLE;
	c->recv_armed = c->send_inflight = c->gone = c->bye = false;
	c->pong_pending = c->close_pending = c->close_sent = c->close_rcvd = c->proto_err = false;
	c->paused = false;
	c->mhave = 0;
	c->mlen = 0;
	c->tx_len = c->tx_off = 0;
	rc_frame_cfg fcfg = { .role = RC_FRAME_CLIENT };
	rc_frame_parser_init(&c->fp, &fcfg);
	c->fp.ctl = c->fp_ctl;
}

void retry_due(struct worker *w, uint64_t now)
{
	struct fan *f = w->f;
	if (w->nretry == 0 || now < w->next_retry_scan)
		return;
	w->next_retry_scan = now + 1000 * 1000; /* a scan per ms at most */
	for (uint32_t i = 0; i < w->nconns && now < f->tl.t_end; i++) {
		struct conn *c = &w->conns[i];
		if (!c->retrying || now < c->retry_at)
			continue;
		c->retrying = false;
		w->nretry--;
		conn_reset(c);
		c->rejoining = true;
		w->st.reconnects++;
		conn_start(w, c);
	}
}
