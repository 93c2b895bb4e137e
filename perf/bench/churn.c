/* churn: the engine of connections that come and go (churn.h).
 *
 * churn opens connections at --rate per second, open loop: connection k is due at t0 + k/R and its
 * handshake latency is measured from then, so a server that stalls its accepts shows the stall as
 * latency, not as fewer attempts. Each connects, shakes hands (subscribing with URL?topics=T under
 * --proto plain; generic: the URL as given), holds for a random 0..--hold-ms, then ends with a
 * close frame answered by the server's, or, for --reset-fraction of them, with a reset (SO_LINGER
 * 0, then close: the kernel sends RST instead of FIN). storm keeps --inflight connections in
 * progress, each closed (cleanly) as soon as its handshake is done: the rate at which the server
 * takes handshakes.
 *
 * A slot holds one connection from socket() to close() and has at most one operation in flight
 * (connect, send, recv, in turn), so a completion finds its slot by index and a slot is reused
 * only after its last completion: no generation is needed. Deadlines (the handshake's
 * --connect-timeout, the end of the hold, the close's answer) are checked by a scan every
 * CHURN_SCAN_NS; an operation past its deadline is cancelled and its completion ends the slot.
 *
 * wss:// keeps that shape. After the connect the TLS handshake runs (CC_TLS: its flights sent,
 * the server's received, in turn), then the same steps as ws, with their I/O turned into
 * ciphertext: a send encrypts what the state sends into the session's out buffer and sends that;
 * a receive takes ciphertext into the slot's own buffer and the state's handler gets the
 * plaintext read out of it, as it would get a plain receive's bytes (cc_pump). A clean end sends
 * close_notify after the closing handshake (CC_BYE). With --tls-resume a connection resumes the
 * session of the latest one of its thread that got a ticket. */
#define _GNU_SOURCE
#include "churn.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "handshake.h"
#include "options.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_mask.h"
#include "report.h"
#include "stats.h"
#include "sys.h"
#include "tls.h"

/* What the threads share: set before they start, read-only after. */
struct churn {
	const struct bench *b;
	const struct opts *o;
	uint32_t threads;
	bool paced;       /* churn: connections due at t0 + k/rate; storm: as slots free up */
	bool hold;        /* churn: hold, then end some by a reset (WF_HOLD) */
	double period_ns; /* paced: ns between two connections, all threads together */
	struct timeline tl;
};

#define CHURN_SCAN_NS (2ull * 1000 * 1000)
#define CHURN_CLOSE_TIMEOUT_NS (2ull * NS_PER_S) /* for the server's answer to our close frame */
#define CHURN_TX_MAX HS_REQ_MAX
#define CHURN_CIN 8192 /* wss: a slot's ciphertext receive buffer */

enum cc_state {
	CC_FREE,
	CC_CONNECT,
	CC_HS_SEND,
	CC_HS_RECV,
	CC_HOLD,
	CC_CLOSE_SEND,
	CC_CLOSE_WAIT,
	CC_TLS, /* wss: the TLS handshake */
	CC_BYE, /* wss: close_notify going out after the closing handshake */
};
enum {
	CO_IO = 1,
	CO_CANCEL
};

struct cconn {
	int fd;
	uint8_t state;
	bool busy;         /* an operation is in flight */
	bool expired;      /* its deadline passed: that operation was cancelled */
	bool measured;     /* its start is in the measured interval: it is counted */
	bool reset;        /* ends with a reset instead of a close frame */
	uint64_t t_start;  /* intended (churn) or actual (storm) start */
	uint64_t deadline; /* of the handshake, the hold or the close */
	uint32_t len;      /* bytes in buf */
	uint32_t tx_len, tx_off;
	bool recv_io;    /* the operation in flight is a receive */
	struct tls *tls; /* wss: the session, from the connect to the release */
	uint8_t *cin;    /* wss: CHURN_CIN bytes of ciphertext receive buffer */
	uint32_t at;     /* wss: where the next read's plaintext goes in buf */
	bool want_read;  /* wss: the state's handler asked for more plaintext */
	bool pumping;    /* wss: in cc_pump (a handler's cc_recv only sets want_read) */
	char how[24];    /* wss: how it ended, counted once close_notify is out */
	char key[RC_WS_KEY_LEN + 1];
	rc_frame_parser fp;
	uint8_t fp_ctl[RC_FRAME_CONTROL_MAX]; /* lent to fp for split control frames */
	uint8_t tx[CHURN_TX_MAX];
	uint8_t buf[HS_RESP_MAX];
};

struct cworker {
	const struct churn *ch;
	uint32_t id;
	int cpu;
	pthread_t thread;
	struct io_uring ring;
	bool ring_ok;
	struct cconn *slot;
	uint32_t nslots, nbusy;
	uint32_t *free_list, nfree;
	uint64_t next_k; /* churn: this thread's next connection number */
	uint64_t next_scan;
	uint64_t rng;
	uint8_t *cin_arena;        /* wss: the slots' ciphertext receive buffers */
	struct tls_ticket *ticket; /* --tls-resume: the latest session with a ticket */
	struct stats st;           /* handshake latency, failures (errors), server closes, TLS */
	struct cstats cs;
};

static struct io_uring_sqe *cc_sqe(struct cworker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
		assert(sqe != NULL);
	}
	return sqe;
}

/* Release the slot: close (with a reset if asked: linger 0 makes close send RST). Nothing may be
 * in flight on it: an operation in flight holds a reference to the socket, so close() alone would
 * not end the connection (docs/facts.md). */
static void cc_release(struct cworker *w, struct cconn *c, bool reset)
{
	assert(!c->busy && c->state != CC_FREE);
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(c->fd);
	c->fd = -1;
	c->state = CC_FREE;
	tls_free(c->tls);
	c->tls = NULL;
	c->want_read = false;
	w->free_list[w->nfree++] = (uint32_t)(c - w->slot);
	assert(w->nbusy > 0);
	w->nbusy--;
}

static void cc_fail(struct cworker *w, struct cconn *c, const char *kind)
{
	if (c->measured) {
		w->cs.failed++;
		tally_add(&w->st.errors, kind, 1);
	}
	cc_release(w, c, false);
}

static void cc_ended(struct cworker *w, struct cconn *c, const char *how, bool reset)
{
	if (c->measured)
		tally_add(&w->cs.ends, how, 1);
	cc_release(w, c, reset);
}

/* A failure's kind from an errno: the names the report promises for the common ones. */
static const char *cc_errno_kind(const char *what, int err, char *buf, size_t cap)
{
	if (err == ECONNREFUSED)
		return "refused";
	if (err == ECONNRESET || err == EPIPE)
		return "reset";
	if (err == ETIMEDOUT)
		return "timeout";
	snprintf(buf, cap, "%s_%s", what, errno_name(err));
	return buf;
}

static void cc_submit(struct cworker *w, struct cconn *c, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)CO_IO << 56 | (uint32_t)(c - w->slot));
	c->busy = true;
}

/* wss: send the session's out buffer. */
static void cc_send_out(struct cworker *w, struct cconn *c)
{
	const uint8_t *p;
	size_t n = tls_out(c->tls, &p);
	assert(n > 0);
	struct io_uring_sqe *sqe = cc_sqe(w);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	c->recv_io = false;
	cc_submit(w, c, sqe);
}

/* wss: receive ciphertext (every byte fed before was taken: the buffer is free). */
static void cc_recv_cipher(struct cworker *w, struct cconn *c)
{
	struct io_uring_sqe *sqe = cc_sqe(w);
	io_uring_prep_recv(sqe, c->fd, c->cin, CHURN_CIN, 0);
	c->recv_io = true;
	cc_submit(w, c, sqe);
}

/* Send tx[tx_off..tx_len) (wss: encrypted, then the out buffer). */
static void cc_send(struct cworker *w, struct cconn *c)
{
	if (c->tls != NULL) {
		if (tls_write(c->tls, c->tx + c->tx_off, c->tx_len - c->tx_off) != TLS_OK) {
			if (c->state == CC_HS_SEND)
				cc_fail(w, c, tls_error_kind(c->tls));
			else
				cc_ended(w, c, tls_error_kind(c->tls), true);
			return;
		}
		cc_send_out(w, c);
		return;
	}
	struct io_uring_sqe *sqe = cc_sqe(w);
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);
	c->recv_io = false;
	cc_submit(w, c, sqe);
}

static void cc_pump(struct cworker *w, struct cconn *c);

/* Receive into buf + at (wss: the plaintext read out of the ciphertext received, cc_pump). */
static void cc_recv(struct cworker *w, struct cconn *c, uint32_t at)
{
	c->at = at;
	if (c->tls != NULL) {
		c->want_read = true;
		if (!c->pumping)
			cc_pump(w, c);
		return;
	}
	struct io_uring_sqe *sqe = cc_sqe(w);
	io_uring_prep_recv(sqe, c->fd, c->buf + at, sizeof c->buf - at, 0);
	c->recv_io = true;
	cc_submit(w, c, sqe);
}

static void cc_start(struct cworker *w, uint64_t t_start, uint64_t now)
{
	const struct opts *o = w->ch->o;
	assert(w->nfree > 0);
	struct cconn *c = &w->slot[w->free_list[--w->nfree]];
	w->nbusy++;
	if (w->nbusy > w->cs.inflight_max)
		w->cs.inflight_max = w->nbusy;
	c->measured = t_start >= w->ch->tl.t_measure && t_start < w->ch->tl.t_end;
	c->t_start = t_start;
	c->deadline = now + (uint64_t)(o->connect_timeout_s * 1e9);
	c->expired = false;
	c->len = 0;
	c->reset = w->ch->hold && o->reset_fraction > 0 &&
	           (double)(xorshift64(&w->rng) >> 11) * 0x1.0p-53 < o->reset_fraction;
	if (c->measured)
		w->cs.attempted++;
	c->fd = socket(w->ch->b->addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		char k[40];
		snprintf(k, sizeof k, "socket_%s", errno_name(errno));
		if (c->measured) {
			w->cs.failed++;
			tally_add(&w->st.errors, k, 1);
		}
		c->state = CC_FREE;
		w->free_list[w->nfree++] = (uint32_t)(c - w->slot);
		w->nbusy--;
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->state = CC_CONNECT;
	struct io_uring_sqe *sqe = cc_sqe(w);
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&w->ch->b->addr.ss,
	                      w->ch->b->addr.len);
	cc_submit(w, c, sqe);
}

/* The handshake is done: hold, or end at once. */
static void cc_end(struct cworker *w, struct cconn *c, uint64_t now);

static void cc_opened(struct cworker *w, struct cconn *c, uint32_t head_end, uint64_t now)
{
	const struct opts *o = w->ch->o;
	if (c->measured) {
		w->cs.completed++;
		stats_latency(&w->st, now > c->t_start ? now - c->t_start : 0);
	}
	if (c->tls != NULL && o->tls_resume) /* its tickets came before the 101 */
		tls_ticket_keep(&w->ticket, c->tls);
	/* Bytes after the 101 are the server's first frames: kept for the close's reading. */
	memmove(c->buf, c->buf + head_end, c->len - head_end);
	c->len -= head_end;
	rc_frame_cfg fcfg = { .role = RC_FRAME_CLIENT };
	rc_frame_parser_init(&c->fp, &fcfg);
	c->fp.ctl = c->fp_ctl;
	uint64_t hold = 0;
	if (w->ch->hold && o->hold_ms > 0)
		hold = xorshift64(&w->rng) % ((uint64_t)o->hold_ms * 1000000u + 1);
	if (hold == 0) {
		cc_end(w, c, now);
		return;
	}
	c->state = CC_HOLD;
	c->deadline = now + hold;
}

/* The closing handshake is over: the connection ended so (wss: once close_notify is out). */
static void cc_closed(struct cworker *w, struct cconn *c, const char *how)
{
	if (c->tls == NULL) {
		cc_ended(w, c, how, false);
		return;
	}
	snprintf(c->how, sizeof c->how, "%s", how);
	tls_close(c->tls);
	c->state = CC_BYE;
	cc_send_out(w, c);
}

/* Read frames until the server's close: 1 when the connection ended, 0 for more. */
static int cc_feed(struct cworker *w, struct cconn *c, uint8_t *p, size_t n)
{
	for (;;) {
		rc_frame_event ev;
		ssize_t k = rc_frame_parse(&c->fp, p, n, &ev);
		if (k < 0) {
			cc_ended(w, c, "protocol_error", true);
			return 1;
		}
		p += k;
		n -= (size_t)k;
		if (ev.type == RC_FRAME_NEED_MORE)
			return 0;
		if (ev.type != RC_FRAME_CONTROL || ev.opcode != RC_OPCODE_CLOSE)
			continue; /* data (a notice) and pings: not answered, we are leaving */
		if (ev.close_code == RC_CLOSE_NORMAL) {
			cc_closed(w, c, "clean");
			return 1;
		}
		/* The server closed first (or answered with another code): say which. */
		char k2[24];
		snprintf(k2, sizeof k2, "%u", ev.close_code);
		if (c->measured)
			tally_add(&w->st.closes, k2, 1);
		snprintf(k2, sizeof k2, "server_%u", ev.close_code);
		cc_closed(w, c, k2);
		return 1;
	}
}

/* End a connection that is open: a reset, or a close frame 1000 and the wait for the answer. */
static void cc_end(struct cworker *w, struct cconn *c, uint64_t now)
{
	if (c->reset) {
		cc_ended(w, c, "reset", true);
		return;
	}
	uint8_t p[2 + RC_CLOSE_REASON_MAX];
	size_t n = rc_close_payload(p, RC_CLOSE_NORMAL, NULL);
	uint64_t r = xorshift64(&w->rng);
	uint8_t key[4];
	memcpy(key, &r, 4);
	c->tx_len = (uint32_t)rc_frame_encode_masked(c->tx, RC_OPCODE_CLOSE, p, n, key);
	c->tx_off = 0;
	c->state = CC_CLOSE_SEND;
	c->deadline = now + CHURN_CLOSE_TIMEOUT_NS;
	cc_send(w, c);
}

static void cc_hs_send(struct cworker *w, struct cconn *c)
{
	uint8_t nonce[RC_WS_NONCE_LEN];
	for (size_t i = 0; i < sizeof nonce; i += 8) {
		uint64_t r = xorshift64(&w->rng);
		memcpy(nonce + i, &r, 8);
	}
	rc_ws_client_key(nonce, c->key);
	c->tx_len = (uint32_t)hs_request_sub(&w->ch->b->rq, NULL, NULL, 0, c->key, c->tx, sizeof c->tx);
	c->tx_off = 0;
	c->state = CC_HS_SEND;
	cc_send(w, c);
}

/* A deadline passed with an operation in flight: what it was waiting for. */
static void cc_expired(struct cworker *w, struct cconn *c)
{
	if (c->state == CC_CLOSE_SEND || c->state == CC_CLOSE_WAIT)
		cc_ended(w, c, "close_timeout", true);
	else if (c->state == CC_BYE) /* the closing handshake was done: close_notify is extra */
		cc_ended(w, c, c->how, true);
	else
		cc_fail(w, c, "timeout");
}

/* A send of the request or of our close frame completed. */
static void cc_on_send(struct cworker *w, struct cconn *c, int res)
{
	char k[40];
	if (res <= 0) {
		const char *kind = res == 0 ? "send_zero" : cc_errno_kind("send", -res, k, sizeof k);
		if (c->state == CC_HS_SEND)
			cc_fail(w, c, kind);
		else
			cc_ended(w, c, strcmp(kind, "reset") == 0 ? "reset_by_server" : kind, true);
		return;
	}
	c->tx_off += (uint32_t)res;
	if (c->tx_off < c->tx_len) {
		cc_send(w, c);
	} else if (c->state == CC_HS_SEND) {
		c->state = CC_HS_RECV;
		cc_recv(w, c, 0);
	} else {
		c->state = CC_CLOSE_WAIT;
		uint32_t n = c->len;
		c->len = 0;
		if (cc_feed(w, c, c->buf, n) == 0)
			cc_recv(w, c, 0);
	}
}

/* A part of the server's answer to the request arrived. */
static void cc_on_hs_recv(struct cworker *w, struct cconn *c, int res, uint64_t now)
{
	char k[40];
	if (res <= 0) {
		cc_fail(w, c, res == 0 ? "eof" : cc_errno_kind("recv", -res, k, sizeof k));
		return;
	}
	c->len += (uint32_t)res;
	struct hs_answer a;
	switch (hs_answer(c->buf, c->len, c->key, w->ch->b->rq.subprotocol, &a)) {
	case HS_MORE:
		if (c->len == sizeof c->buf)
			cc_fail(w, c, "handshake_too_long");
		else
			cc_recv(w, c, c->len);
		return;
	case HS_FAILED:
		cc_fail(w, c, a.err);
		return;
	case HS_OPEN:
		cc_opened(w, c, (uint32_t)a.head_len, now);
		return;
	}
}

/* After our close frame: what the server sent, until its close. */
static void cc_on_close_recv(struct cworker *w, struct cconn *c, int res)
{
	char k[40];
	if (res == 0) {
		cc_ended(w, c, "no_close_frame", false);
		return;
	}
	if (res < 0) {
		const char *kind = cc_errno_kind("recv", -res, k, sizeof k);
		cc_ended(w, c, strcmp(kind, "reset") == 0 ? "reset_by_server" : kind, true);
		return;
	}
	if (cc_feed(w, c, c->buf, (size_t)res) == 0)
		cc_recv(w, c, 0);
}

/* ---- wss ------------------------------------------------------------------------------------- */

/* Go on with the TLS handshake: its flight out, or the server's in; once done, the request. */
static void cc_tls_step(struct cworker *w, struct cconn *c)
{
	const uint8_t *p;
	int r = tls_handshake(c->tls);
	if (r == TLS_FAIL)
		cc_fail(w, c, tls_error_kind(c->tls));
	else if (r == TLS_OK)
		cc_hs_send(w, c); /* the request goes behind the last flight */
	else if (tls_out(c->tls, &p) > 0)
		cc_send_out(w, c);
	else
		cc_recv_cipher(w, c);
}

/* The connect completed: start the TLS session. */
static void cc_tls_start(struct cworker *w, struct cconn *c)
{
	const struct opts *o = w->ch->o;
	size_t cap = tls_sealed_max(CHURN_TX_MAX) + TLS_FLIGHT_MAX;
	c->tls = tls_new(w->ch->b->tls, cap, o->tls_resume ? w->ticket : NULL, &w->st.tls);
	if (c->tls == NULL) {
		cc_fail(w, c, "out_of_memory");
		return;
	}
	c->state = CC_TLS;
	cc_tls_step(w, c);
}

/* Hand the plaintext the state's handler asked for (cc_recv) to it, as a plain receive's
 * completion would, while it asks for more; receive ciphertext when none is left. */
static void cc_pump(struct cworker *w, struct cconn *c)
{
	c->pumping = true;
	while (c->want_read) {
		ssize_t n = tls_read(c->tls, c->buf + c->at, sizeof c->buf - c->at);
		if (n == TLS_AGAIN) {
			cc_recv_cipher(w, c); /* want_read stays: its completion pumps again */
			break;
		}
		c->want_read = false;
		if (n == TLS_FAIL) {
			if (c->state == CC_HS_RECV)
				cc_fail(w, c, tls_error_kind(c->tls));
			else
				cc_ended(w, c, tls_error_kind(c->tls), true);
			break;
		}
		int res = n == TLS_CLOSED ? 0 : (int)n; /* close_notify: as an EOF */
		if (c->state == CC_HS_RECV)
			cc_on_hs_recv(w, c, res, mono_ns());
		else
			cc_on_close_recv(w, c, res);
	}
	c->pumping = false;
}

static void cc_on_io(struct cworker *w, struct cconn *c, int res, uint64_t now);

/* A completion of slot c's ciphertext I/O, turned into what the states expect. */
static void cc_tls_cqe(struct cworker *w, struct cconn *c, int res, uint64_t now)
{
	char k[40];
	const uint8_t *p;
	if (res <= 0) {
		if (c->state == CC_BYE)
			cc_ended(w, c, c->how, false);
		else if (c->state == CC_TLS)
			cc_fail(w, c,
			        res == 0 ? "eof"
			                 : cc_errno_kind(c->recv_io ? "recv" : "send", -res, k, sizeof k));
		else
			cc_on_io(w, c, res, now); /* the states report it as they do for ws */
		return;
	}
	if (!c->recv_io) {
		tls_out_sent(c->tls, (size_t)res);
		if (tls_out(c->tls, &p) > 0)
			cc_send_out(w, c);
		else if (c->state == CC_TLS)
			cc_tls_step(w, c);
		else if (c->state == CC_BYE)
			cc_ended(w, c, c->how, false);
		else
			cc_on_io(w, c, (int)(c->tx_len - c->tx_off), now); /* the plaintext is out */
		return;
	}
	tls_feed(c->tls, c->cin, (size_t)res);
	if (c->state == CC_TLS)
		cc_tls_step(w, c);
	else
		cc_pump(w, c);
}

/* ---- completions ------------------------------------------------------------------------------ */

/* The completion of slot c's one operation: what it means depends on the slot's state. */
static void cc_on_cqe(struct cworker *w, struct cconn *c, int res, uint64_t now)
{
	char k[40];
	assert(c->busy);
	c->busy = false;
	if (c->expired) {
		cc_expired(w, c);
		return;
	}
	if (c->state == CC_CONNECT) {
		if (res < 0)
			cc_fail(w, c, cc_errno_kind("connect", -res, k, sizeof k));
		else if (w->ch->b->tls != NULL)
			cc_tls_start(w, c);
		else
			cc_hs_send(w, c);
		return;
	}
	if (c->tls != NULL)
		cc_tls_cqe(w, c, res, now);
	else
		cc_on_io(w, c, res, now);
}

/* A send or receive of a connection past its connect completed (wss: its plaintext's part). */
static void cc_on_io(struct cworker *w, struct cconn *c, int res, uint64_t now)
{
	switch (c->state) {
	case CC_HS_SEND:
	case CC_CLOSE_SEND:
		cc_on_send(w, c, res);
		return;
	case CC_HS_RECV:
		cc_on_hs_recv(w, c, res, now);
		return;
	case CC_CLOSE_WAIT:
		cc_on_close_recv(w, c, res);
		return;
	default:
		assert(0 && "completion on a slot without an operation");
	}
}

/* Deadlines: holds that are over end; operations past theirs are cancelled. After the drain
 * (abandon), everything in progress is given up. */
static void cc_scan(struct cworker *w, uint64_t now, bool abandon)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct cconn *c = &w->slot[i];
		if (c->state == CC_FREE || c->expired || (now < c->deadline && !abandon))
			continue;
		if (abandon && c->measured) {
			w->cs.abandoned++;
			c->measured = false; /* counted as abandoned, not as a failure too */
		}
		if (c->state == CC_HOLD) {
			if (abandon)
				cc_release(w, c, true);
			else
				cc_end(w, c, now);
			continue;
		}
		c->expired = true;
		struct io_uring_sqe *sqe = cc_sqe(w);
		io_uring_prep_cancel64(sqe, (uint64_t)CO_IO << 56 | i, 0);
		io_uring_sqe_set_data64(sqe, (uint64_t)CO_CANCEL << 56 | i);
	}
}

/* Start what is due: churn, every connection whose intended time has come (while slots last);
 * storm, as many as there are free slots. Nothing starts at or after t_end. */
/* churn: when connection k (of all threads) is due. */
static uint64_t cc_due(const struct churn *ch, uint64_t k)
{
	return ch->tl.t0 + (uint64_t)((double)k * ch->period_ns);
}

static void cc_start_due(struct cworker *w, uint64_t now)
{
	if (now < w->ch->tl.t0 || now >= w->ch->tl.t_end)
		return;
	if (!w->ch->paced) {
		while (w->nfree > 0)
			cc_start(w, now, now);
		return;
	}
	for (;;) {
		uint64_t t = cc_due(w->ch, w->next_k * w->ch->threads + w->id);
		if (t > now || t >= w->ch->tl.t_end || w->nfree == 0)
			return;
		cc_start(w, t, now);
		w->next_k++;
	}
}

static void cworker_loop(struct cworker *w)
{
	const struct opts *o = w->ch->o;
	uint64_t hard_end = w->ch->tl.t_drain + CHURN_CLOSE_TIMEOUT_NS;
	bool abandoned = false;
	for (;;) {
		uint64_t now = mono_ns();
		cc_start_due(w, now);
		if (now >= w->ch->tl.t_end && w->nbusy == 0)
			break;
		if (now >= w->next_scan || (now >= w->ch->tl.t_drain && !abandoned)) {
			w->next_scan = now + CHURN_SCAN_NS;
			cc_scan(w, now, now >= w->ch->tl.t_drain && !abandoned);
			abandoned = now >= w->ch->tl.t_drain;
		}
		if (now >= hard_end)
			break; /* cancelled operations that never completed: io_uring_queue_exit reaps them */
		uint64_t wait = CHURN_SCAN_NS;
		if (w->ch->paced && now < w->ch->tl.t_end && w->nfree > 0) {
			uint64_t t = cc_due(w->ch, w->next_k * w->ch->threads + w->id);
			wait = t > now ? t - now : 0;
			if (wait > CHURN_SCAN_NS)
				wait = CHURN_SCAN_NS;
		}
		tls_turn_end(&w->st.tls);
		if (wait == 0 || o->busy_poll) {
			io_uring_submit_and_get_events(&w->ring);
		} else {
			struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = (long long)wait };
			struct io_uring_cqe *cqe;
			io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		}
		now = mono_ns();
		unsigned head, seen = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe (&w->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			if (ud >> 56 == CO_IO)
				cc_on_cqe(w, &w->slot[(uint32_t)ud], cqe->res, now);
			seen++;
		}
		io_uring_cq_advance(&w->ring, seen);
	}
	/* Due in the measured interval, never started: the open loop fell behind. */
	if (w->ch->paced)
		for (uint64_t k = w->next_k;; k++) {
			uint64_t t = cc_due(w->ch, k * w->ch->threads + w->id);
			if (t >= w->ch->tl.t_end)
				break;
			if (t >= w->ch->tl.t_measure)
				w->cs.unstarted++;
		}
}

static void *cworker_main(void *arg)
{
	struct cworker *w = arg;
	thread_setup(w->id, w->cpu);
	/* At most two completions per slot at once (an operation and its cancel); the kernel wants a
	 * CQ at least as large as the SQ. */
	int r = ring_init(&w->ring, pow2_at_least(2 * w->nslots + SQ_ENTRIES));
	if (r < 0) {
		fprintf(stderr, "ringcast-bench: thread %u: io_uring setup failed: %s\n", w->id,
		        strerror(-r));
		tally_add(&w->st.errors, "io_uring_setup", 1);
		return NULL;
	}
	w->ring_ok = true;
	w->st.tls.from_ns = w->ch->tl.t_measure; /* wss: the time in TLS of the interval */
	w->st.tls.to_ns = w->ch->tl.t_end;
	cworker_loop(w);
	tls_turn_end(&w->st.tls);
	if (w->ch->b->tls != NULL)
		tls_thread_done();
	return NULL;
}

static void cworker_prepare(struct cworker *w, const struct churn *ch, uint32_t id)
{
	w->ch = ch;
	const struct opts *o = w->ch->o;
	w->id = id;
	w->cpu = o->ncpus ? o->cpus[id] : -1;
	w->nslots = o->inflight / w->ch->threads + (id < o->inflight % w->ch->threads ? 1 : 0);
	if (w->nslots == 0)
		w->nslots = 1;
	w->slot = xcalloc(w->nslots, sizeof *w->slot);
	w->free_list = xcalloc(w->nslots, sizeof *w->free_list);
	if (ch->b->tls != NULL)
		w->cin_arena = xcalloc(w->nslots, CHURN_CIN);
	for (uint32_t i = 0; i < w->nslots; i++) {
		w->slot[i].fd = -1;
		if (w->cin_arena != NULL)
			w->slot[i].cin = w->cin_arena + (size_t)i * CHURN_CIN;
		w->free_list[w->nfree++] = w->nslots - 1 - i; /* slot 0 is taken first */
	}
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)w->ch->b->nonce << 20) ^ (id + 1);
}

static void cworker_fini(struct cworker *w)
{
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring); /* cancels what is still in flight */
	for (uint32_t i = 0; i < w->nslots; i++) {
		if (w->slot[i].state != CC_FREE)
			close(w->slot[i].fd);
		tls_free(w->slot[i].tls);
	}
	free(w->slot);
	free(w->free_list);
	free(w->cin_arena);
	tls_ticket_free(w->ticket);
}


/* churn, storm: the server's descriptors once every connection ended. The server sees a reset or
 * a close some time after this process closed its socket, so wait (up to the drain, at least a
 * second) for its count to come back to where it was before, and say how long that took. */
static struct proc_mem settle_mem(const struct opts *o, const struct report *r, double *waited_s)
{
	uint64_t t = mono_ns(), limit = (uint64_t)((o->drain_s > 1 ? o->drain_s : 1) * 1e9);
	struct proc_mem m = proc_mem_read(o->server_pid);
	while (m.fds > r->mem_before.fds && mono_ns() - t < limit) {
		usleep(10000);
		m = proc_mem_read(o->server_pid);
	}
	*waited_s = (double)(mono_ns() - t) / 1e9;
	return m;
}

/* Start the threads on the timeline, sleep through it, and merge what they counted into r. */
static void churn_threads(struct churn *ch, struct report *r)
{
	struct cworker *ws = xcalloc(ch->threads, sizeof *ws);
	for (uint32_t i = 0; i < ch->threads; i++)
		cworker_prepare(&ws[i], ch, i);
	ch->tl = opts_timeline(ch->o, mono_ns() + 20 * 1000 * 1000);
	for (uint32_t i = 0; i < ch->threads; i++) {
		int err = pthread_create(&ws[i].thread, NULL, cworker_main, &ws[i]);
		if (err != 0)
			die("pthread_create", err);
	}
	report_measure(r, ch->o, &ch->tl);
	for (uint32_t i = 0; i < ch->threads; i++)
		pthread_join(ws[i].thread, NULL);
	for (uint32_t i = 0; i < ch->threads; i++) {
		stats_merge(&r->st, &ws[i].st);
		cstats_merge(&r->cs, &ws[i].cs);
		cworker_fini(&ws[i]);
	}
	free(ws);
}

int churn_run(const struct bench *b)
{
	const struct opts *o = b->o;
	struct churn ch = { .b = b, .o = o, .threads = o->ncpus ? o->ncpus : 1 };
	if (ch.threads > o->inflight)
		ch.threads = o->inflight;
	ch.paced = !o->max;
	ch.hold = (o->wl->flags & WF_HOLD) != 0;
	ch.period_ns = o->max ? 0 : 1e9 / o->rate;
	raise_nofile(o->inflight);
	struct report r;
	report_init(&r);
	r.threads = ch.threads;
	r.sni = b->sni;
	if (o->server_pid)
		r.mem_before = proc_mem_read(o->server_pid);
	churn_threads(&ch, &r);
	if (o->server_pid)
		r.mem_after = settle_mem(o, &r, &r.settle_s);
	r.st.unsent = r.cs.unstarted;
	if (r.cs.attempted == 0)
		r.error = "no connection was attempted";
	else if (r.cs.completed == 0)
		r.error = "no handshake completed";
	return report_finish(o, &r);
}

/* ---- what the workloads need of the options -------------------------------------------------- */

void churn_presets(struct opts *o, struct given *gv)
{
	if (o->proto == PROTO_V1)
		usage_error("--workload %s connects with --proto plain or generic", o->wl->name);
	o->subs = 0;
	o->pubs = 0;
	if (!gv->warmup)
		o->warmup_s = 0;
	if (!gv->ctimeout) /* a handshake slower than this is a failure (timeout) */
		o->connect_timeout_s = 5;
}

void churn_refuse(const struct opts *o, const struct given *gv)
{
	if (gv->subs || gv->pubs || gv->connections || gv->size || gv->topics || o->text)
		usage_error("--workload %s opens and closes connections: no -n, -p, --connections, "
		            "--size, --topics, --text",
		            o->wl->name);
}

/* ---- the report ------------------------------------------------------------------------------- */

void churn_json(const struct opts *o, const struct report *r)
{
	const struct cstats *cs = &r->cs;
	printf("\"%s\":{\"inflight\":%u,", o->wl->name, o->inflight);
	if (o->wl->flags & WF_HOLD)
		printf("\"hold_ms\":%u,\"reset_fraction\":%.4f,", o->hold_ms, o->reset_fraction);
	printf("\"attempted\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"unstarted\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"inflight_max\":%" PRIu64
	       ",\"handshakes_per_sec\":%.1f,\"failures\":",
	       cs->attempted, cs->completed, cs->failed, cs->unstarted, cs->abandoned, cs->inflight_max,
	       r->measured_s > 0 ? (double)cs->completed / r->measured_s : 0);
	report_json_tally(&r->st.errors);
	printf(",\"ends\":");
	report_json_tally(&cs->ends);
	printf("},");
	const struct proc_mem *a = &r->mem_before, *b = &r->mem_loaded, *c = &r->mem_after;
	if (!o->server_pid || a->rss_kib < 0 || b->rss_kib < 0 || c->rss_kib < 0) {
		printf("\"server_mem\":null,");
		return;
	}
	printf("\"server_mem\":{\"rss_kib_before\":%ld,\"rss_kib_loaded\":%ld,\"rss_kib_after\":%ld,"
	       "\"fds_before\":%ld,\"fds_loaded\":%ld,\"fds_after\":%ld,\"settle_s\":%.3f},",
	       a->rss_kib, b->rss_kib, c->rss_kib, a->fds, b->fds, c->fds, r->settle_s);
}

void churn_table(FILE *f, const struct opts *o, const struct report *r)
{
	const struct cstats *cs = &r->cs;
	double dur = r->measured_s;
	if (!o->max)
		fprintf(f,
		        "  mode             open loop, %.1f connections/s, hold 0..%u ms, %.0f%% reset\n",
		        o->rate, o->hold_ms, 100 * o->reset_fraction);
	else
		fprintf(f, "  mode             storm, %u in progress at most\n", o->inflight);
	fprintf(f,
	        "  connections      %" PRIu64 " attempted, %" PRIu64 " completed (%.1f/s), %" PRIu64
	        " failed, %" PRIu64 " never started, %" PRIu64 " abandoned; %u thread(s)\n",
	        cs->attempted, cs->completed, dur > 0 ? (double)cs->completed / dur : 0, cs->failed,
	        cs->unstarted, cs->abandoned, r->threads);
	fprintf(f, "  handshake us     ");
	report_table_latency(f, &r->st);
	report_table_tally(f, "  ends            ", &cs->ends);
	if (r->mem_before.rss_kib >= 0 && r->mem_after.rss_kib >= 0)
		fprintf(f,
		        "  server memory    RSS %ld -> %ld -> %ld KiB, descriptors %ld -> %ld -> %ld "
		        "(before, at the end, %.2f s after)\n",
		        r->mem_before.rss_kib, r->mem_loaded.rss_kib, r->mem_after.rss_kib,
		        r->mem_before.fds, r->mem_loaded.fds, r->mem_after.fds, r->settle_s);
}
