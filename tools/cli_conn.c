/* cli_conn: one WebSocket connection of ringcast-cli, ws:// or wss:// (cli.h). Sections: the
 * socket (plain or TLS, never blocking), connecting, the opening handshake, frames out, frames in,
 * closing.
 *
 * Everything that can fail returns -1 with a struct cli_err: one line for the user and whether
 * retrying can help. The socket is non-blocking; a read or write that cannot go on records what it
 * waits for (c->want: POLLIN, or POLLOUT when TLS needs to write to read) and the caller waits in
 * cli_poll, bounded by a deadline: the connect timeout while opening, CLI_SEND_STALL_MS without
 * progress while sending, the caller's timeout while receiving.
 *
 * The opening handshake is proto's rc_ws_client (the request; the answer checked by RFC 6455
 * §4.1's client rules, the subprotocol ringcast.v1 included). Incoming frames go through proto's
 * rc_frame parser (client role: nothing masked); a message is put together in c->msg, whatever
 * its fragments. Pings are answered at once. A connection can die without a word (a cable pulled,
 * a NAT that forgot it): after CLI_PING_IDLE_MS of silence the server is pinged, and if nothing
 * at all comes back within CLI_PONG_WAIT_MS the connection is given up as dead (1006), which the
 * server's own idle pings do not tell a client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define IO_AGAIN (-1)     /* nothing now: wait for c->want */
#define IO_ERR (-2)       /* failed: e filled */
#define BODY_WAIT_MS 1000 /* after a refusal, wait this long for its one-line reason */

/* ---- the socket, plain or TLS ---- */

/* Read up to cap bytes without waiting: > 0, 0 at the end of the stream, IO_AGAIN, IO_ERR. */
static ssize_t io_read(struct cli_conn *c, uint8_t *buf, size_t cap, struct cli_err *e)
{
	if (c->tls != NULL) {
		ssize_t n = cli_tls_read(c->tls, buf, cap);
		if (n >= 0)
			return n;
		if (n != CLI_TLS_FAIL) {
			c->want = n == CLI_TLS_WANT_WRITE ? POLLOUT : POLLIN;
			return IO_AGAIN;
		}
		bool cert;
		cli_fail(e, false, "connection lost: TLS: %s", cli_tls_error(c->tls, &cert));
		return IO_ERR;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->want = POLLIN;
			return IO_AGAIN;
		}
		cli_fail(e, false, "connection lost: %s", strerror(errno));
		return IO_ERR;
	}
}

/* Write some of p[0..n) without waiting: how much (> 0), IO_AGAIN, IO_ERR. */
static ssize_t io_write(struct cli_conn *c, const uint8_t *p, size_t n, short *want,
                        struct cli_err *e)
{
	if (c->tls != NULL) {
		ssize_t r = cli_tls_write(c->tls, p, n);
		if (r > 0)
			return r;
		if (r != CLI_TLS_FAIL) {
			*want = r == CLI_TLS_WANT_READ ? POLLIN : POLLOUT;
			return IO_AGAIN;
		}
		bool cert;
		cli_fail(e, false, "connection lost while sending: TLS: %s", cli_tls_error(c->tls, &cert));
		return IO_ERR;
	}
	for (;;) {
		ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLOUT;
			return IO_AGAIN;
		}
		cli_fail(e, false, "connection lost while sending: %s", strerror(errno));
		return IO_ERR;
	}
}

/* Wait for events on c's socket, at most timeout_ms. */
static void conn_wait(const struct cli_conn *c, short events, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	(void)cli_poll(&p, 1, timeout_ms);
}

/* Read into buf[0..cap), waiting until deadline_ns: > 0 bytes, 0 at the end of the stream, -1
 * (e filled, `what` saying what was waited for) on an error, a timeout or a signal. */
static ssize_t read_wait(struct cli_conn *c, uint8_t *buf, size_t cap, uint64_t deadline_ns,
                         const char *what, struct cli_err *e)
{
	for (;;) {
		ssize_t n = io_read(c, buf, cap, e);
		if (n >= 0)
			return n;
		if (n == IO_ERR)
			return -1;
		if (cli_stop)
			return cli_fail(e, false, "interrupted %s", what);
		int ms = cli_ms_until(deadline_ns, INT_MAX);
		if (ms == 0)
			return cli_fail(e, false, "%s: timed out after %u ms (--connect-timeout-ms)", what,
			                c->dest->connect_timeout_ms);
		conn_wait(c, c->want, ms);
	}
}

/* ---- connecting ---- */

/* Wait for a non-blocking connect of fd to finish. Returns 0 or an errno. */
static int connect_wait(int fd, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int ms = cli_ms_until(deadline_ns, INT_MAX);
		if (ms == 0)
			return ETIMEDOUT;
		int r = cli_poll(&p, 1, ms);
		if (r < 0 && errno == EINTR && cli_stop)
			return EINTR;
		if (r > 0) {
			int err = 0;
			socklen_t len = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				return errno;
			return err;
		}
	}
}

/* A connected socket to the first address of d's host that answers. */
static int tcp_connect(struct cli_conn *c, const struct cli_dest *d, uint64_t deadline_ns,
                       struct cli_err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(d->url.host, d->url.port, &hints, &res);
	if (gai != 0) {
		/* a name that does not exist will not exist in a second either; a DNS failure may */
		bool fatal = gai == EAI_NONAME || gai == EAI_SERVICE || gai == EAI_FAMILY;
		return cli_fail(e, fatal, "cannot resolve %s: %s", d->url.host,
		                gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	}
	int err = 0;
	for (struct addrinfo *a = res; a != NULL && c->fd < 0; a = a->ai_next) {
		int fd =
		        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		err = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
		if (err == EINPROGRESS)
			err = connect_wait(fd, deadline_ns);
		if (err == 0)
			c->fd = fd;
		else
			close(fd);
		if (err == ETIMEDOUT || err == EINTR)
			break;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return cli_fail(e, false, "cannot connect to %s: %s%s", d->url.hostport, strerror(err),
		                err == ECONNREFUSED ? " (is ringcast running there?)" : "");
	int one = 1;
	/* frames are whole when written: they should leave at once, not wait for an ACK */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

static int tls_start(struct cli_conn *c, const struct cli_dest *d, uint64_t deadline_ns,
                     struct cli_err *e)
{
	c->tls = cli_tls_new(d->tls_ctx, c->fd, d->url.host);
	if (c->tls == NULL)
		return cli_fail(e, true, "TLS: out of memory, or wolfSSL refused the host name %s",
		                d->url.host);
	for (;;) {
		int r = cli_tls_handshake(c->tls);
		if (r == 0)
			return 0;
		if (r == CLI_TLS_FAIL) {
			bool cert;
			const char *why = cli_tls_error(c->tls, &cert);
			if (cert)
				return cli_fail(e, true,
				                "%s: the server's certificate is not trusted: %s (--ca FILE "
				                "trusts the CA that signed it; --insecure checks nothing)",
				                d->url.hostport, why);
			return cli_fail(e, false, "%s: TLS handshake failed: %s (is it a wss:// port?)",
			                d->url.hostport, why);
		}
		if (cli_stop)
			return cli_fail(e, false, "interrupted during the TLS handshake");
		int ms = cli_ms_until(deadline_ns, INT_MAX);
		if (ms == 0)
			return cli_fail(e, false, "%s: the TLS handshake did not complete within %u ms",
			                d->url.hostport, d->connect_timeout_ms);
		conn_wait(c, r == CLI_TLS_WANT_WRITE ? POLLOUT : POLLIN, ms);
	}
}

/* ---- the opening handshake ---- */

static int send_request(struct cli_conn *c, const struct cli_dest *d, const char *key,
                        struct cli_err *e)
{
	char extra[sizeof "Authorization: Bearer \r\nUser-Agent: ringcast-cli/\r\n" + RC_APP_TOKEN_MAX +
	           sizeof CLI_VERSION];
	snprintf(extra, sizeof extra, "%s%s%sUser-Agent: ringcast-cli/%s\r\n",
	         d->token ? "Authorization: Bearer " : "", d->token ? d->token : "",
	         d->token ? "\r\n" : "", CLI_VERSION);
	rc_ws_client_req rq = {
		.host = d->url.hostport,
		.target = d->target,
		.key = key,
		.subprotocol = RC_APP_SUBPROTOCOL,
		.origin = d->origin,
		.extra = extra,
	};
	c->out_len = rc_ws_client_request((char *)c->out, c->out_cap, &rq);
	if (c->out_len == 0)
		return cli_fail(e, true, "the upgrade request does not fit in %zu bytes", c->out_cap);
	return cli_conn_flush(c, e);
}

/* The server answered with a status other than 101: say which, with the one-line reason of its
 * body (docs/protocol.md §4) as far as it comes within BODY_WAIT_MS. */
static int refused(struct cli_conn *c, uint8_t *head, size_t have, const rc_ws_client_result *res,
                   struct cli_err *e)
{
	uint64_t until = cli_now_ns() + BODY_WAIT_MS * 1000000ull;
	while (have < CLI_HEAD_MAX - 1) {
		struct cli_err ignored;
		ssize_t n = read_wait(c, head + have, CLI_HEAD_MAX - 1 - have, until, "", &ignored);
		if (n <= 0)
			break;
		have += (size_t)n;
		if (memchr(head + res->head_len, '\n', have - res->head_len) != NULL)
			break;
	}
	head[have] = 0;
	const char *h = (const char *)head;
	size_t sl = strcspn(h, "\r\n");
	size_t skip = sizeof "HTTP/1.1 " - 1 < sl ? sizeof "HTTP/1.1 " - 1 : sl;
	const char *body = h + res->head_len;
	size_t bl = 0;
	while (res->head_len + bl < have && body[bl] >= 0x20 && body[bl] < 0x7f)
		bl++;
	int st = res->status;
	/* overloaded or draining (503), a gateway's trouble (5xx), too many requests (429): later
	 * may work. The rest (400, 403, 404, 405, 426, 431, 501, 505) asks for another request. */
	bool fatal = !(st == 429 || st == 408 || (st >= 500 && st != 501 && st != 505));
	e->http_status = st;
	e->retry_after_ms = res->retry_after_s > 0 ? (uint32_t)res->retry_after_s * 1000u : 0;
	return cli_fail(e, fatal, "%s refused the WebSocket upgrade: %.*s%s%.*s", c->dest->url.hostport,
	                (int)(sl - skip), h + skip, bl ? ": " : "", (int)bl, body);
}

/* Read and check the answer to the upgrade; the frames that came with it stay in c->in. */
static int recv_answer(struct cli_conn *c, const char *key, uint64_t deadline_ns, struct cli_err *e)
{
	const char *hp = c->dest->url.hostport;
	uint8_t head[CLI_HEAD_MAX];
	size_t have = 0;
	rc_ws_client_result res;
	enum rc_ws_client_status st = RC_WS_CLIENT_NEED_MORE;
	while (st == RC_WS_CLIENT_NEED_MORE) {
		if (have == sizeof head - 1)
			return cli_fail(e, true, "%s: the answer to the upgrade has a head over %u bytes", hp,
			                CLI_HEAD_MAX);
		ssize_t n = read_wait(c, head + have, sizeof head - 1 - have, deadline_ns,
		                      "waiting for the answer to the WebSocket upgrade", e);
		if (n < 0)
			return -1;
		if (n == 0)
			return cli_fail(e, false, "%s closed the connection before answering the upgrade", hp);
		have += (size_t)n;
		st = rc_ws_client_check(head, have, key, RC_APP_SUBPROTOCOL, &res);
	}
	head[have] = 0;
	switch (st) {
	case RC_WS_CLIENT_OK:
		memcpy(c->in, head + res.head_len, have - res.head_len);
		c->in_len = have - res.head_len;
		return 0;
	case RC_WS_CLIENT_STATUS:
		return refused(c, head, have, &res, e);
	case RC_WS_CLIENT_NO_SUBPROTOCOL:
	case RC_WS_CLIENT_WRONG_SUBPROTOCOL:
		return cli_fail(e, true,
		                "%s accepted the upgrade without the %s subprotocol: not a "
		                "ringcast server?",
		                hp, RC_APP_SUBPROTOCOL);
	case RC_WS_CLIENT_BAD_STATUS_LINE:
		return cli_fail(e, true, "%s: the answer is not HTTP (a wss:// port given as ws://?)", hp);
	default:
		return cli_fail(e, true, "%s: not a valid WebSocket upgrade: %s", hp, res.reason);
	}
}

static void conn_alloc(struct cli_conn *c)
{
	c->in = malloc(CLI_IN_CAP);
	c->out_cap = 16u << 10;
	c->out = malloc(c->out_cap);
	c->msg_cap = 16u << 10;
	c->msg = malloc(c->msg_cap);
}

int cli_conn_open(struct cli_conn *c, const struct cli_dest *d, struct cli_err *e)
{
	memset(c, 0, sizeof *c);
	memset(e, 0, sizeof *e);
	c->fd = -1;
	c->dest = d;
	c->want = POLLIN;
	conn_alloc(c);
	if (c->in == NULL || c->out == NULL || c->msg == NULL)
		return cli_fail(e, true, "out of memory");
	uint64_t deadline = cli_now_ns() + (uint64_t)d->connect_timeout_ms * 1000000u;
	if (tcp_connect(c, d, deadline, e) < 0 || (d->tls && tls_start(c, d, deadline, e) < 0))
		return -1;
	uint8_t nonce[RC_WS_NONCE_LEN];
	for (size_t i = 0; i < sizeof nonce; i += 4)
		cli_mask_key(nonce + i); /* 16 fresh random bytes */
	char key[RC_WS_KEY_LEN + 1];
	rc_ws_client_key(nonce, key);
	if (send_request(c, d, key, e) < 0 || recv_answer(c, key, deadline, e) < 0)
		return -1;
	rc_frame_cfg fc = { .role = RC_FRAME_CLIENT, .message_max = CLI_MESSAGE_MAX };
	rc_frame_parser_init(&c->fp, &fc);
	c->fp.ctl = c->fp_ctl;
	c->opened_ns = c->last_rx_ns = cli_now_ns();
	return 0;
}

/* ---- frames out ---- */

/* Room for n more bytes in c->out. */
static int out_room(struct cli_conn *c, size_t n, struct cli_err *e)
{
	if (c->out_cap - c->out_len >= n)
		return 0;
	size_t cap = c->out_cap;
	while (cap - c->out_len < n) {
		if (cap > SIZE_MAX / 2)
			return cli_fail(e, true, "out of memory");
		cap *= 2;
	}
	uint8_t *p = realloc(c->out, cap);
	if (p == NULL)
		return cli_fail(e, true, "out of memory (%zu bytes to send)", cap);
	c->out = p;
	c->out_cap = cap;
	return 0;
}

int cli_conn_queue(struct cli_conn *c, uint8_t opcode, const void *prefix, size_t plen,
                   const void *payload, size_t len, struct cli_err *e)
{
	size_t n = plen + len;
	size_t h = rc_frame_header_len(n, true);
	if (out_room(c, h + n, e) < 0)
		return -1;
	uint8_t *f = c->out + c->out_len;
	/* the payload is put together where it goes in the frame, then masked there */
	if (plen > 0)
		memcpy(f + h, prefix, plen);
	if (len > 0)
		memcpy(f + h + plen, payload, len);
	uint8_t key[4];
	cli_mask_key(key);
	c->out_len += rc_frame_encode_masked(f, opcode, f + h, n, key);
	return 0;
}

int cli_conn_flush(struct cli_conn *c, struct cli_err *e)
{
	size_t off = 0;
	uint64_t stall = cli_now_ns() + CLI_SEND_STALL_MS * 1000000ull;
	while (off < c->out_len) {
		short want = POLLOUT;
		ssize_t n = io_write(c, c->out + off, c->out_len - off, &want, e);
		if (n > 0) {
			off += (size_t)n;
			stall = cli_now_ns() + CLI_SEND_STALL_MS * 1000000ull;
			continue;
		}
		int ms = cli_ms_until(stall, INT_MAX);
		if (n == IO_ERR || ms == 0 || cli_stop >= 2) {
			c->ended = true;
			e->close_code = c->opened_ns ? RC_CLOSE_ABNORMAL : 0;
			if (n == IO_ERR)
				return -1;
			return cli_fail(e, false, "%s",
			                ms == 0 ? "the server took nothing for 10 s: giving up"
			                        : "interrupted while sending");
		}
		conn_wait(c, want, ms);
	}
	c->out_len = 0;
	return 0;
}

/* ---- frames in ---- */

/* The server's close frame: keep its code and reason, answer it (RFC 6455 §5.5.1) unless it
 * answers ours. The connection is over either way: -1, e saying how. */
static int on_close(struct cli_conn *c, const rc_frame_event *ev, struct cli_err *e)
{
	c->close_rcvd = true;
	c->ended = true;
	c->close_code = ev->close_code;
	size_t rl = 0;
	for (size_t i = 0; i < ev->close_reason_len && rl < RC_CLOSE_REASON_MAX; i++)
		c->close_reason[rl++] = ev->close_reason[i] >= 0x20 ? (char)ev->close_reason[i] : ' ';
	c->close_reason[rl] = 0;
	e->close_code = ev->close_code;
	if (cli_conn_closed_cleanly(c))
		return cli_fail(e, false, "closed");
	struct cli_err ignored;
	uint16_t echo = ev->close_code == RC_CLOSE_NO_STATUS ? RC_CLOSE_NORMAL : ev->close_code;
	(void)cli_conn_send_close(c, echo, NULL, &ignored);
	return cli_fail(e, !cli_close_retryable(ev->close_code),
	                "the server closed the connection: %u (%s)%s%s%s", ev->close_code,
	                rc_close_code_name(ev->close_code), rl ? " \"" : "", c->close_reason,
	                rl ? "\"" : "");
}

static int on_control(struct cli_conn *c, const rc_frame_event *ev, struct cli_err *e)
{
	if (ev->opcode == RC_OPCODE_CLOSE)
		return on_close(c, ev, e);
	if (ev->opcode == RC_OPCODE_PING && !c->close_sent) {
		if (cli_conn_queue(c, RC_OPCODE_PONG, NULL, 0, ev->data, ev->data_len, e) < 0 ||
		    cli_conn_flush(c, e) < 0)
			return -1;
	}
	return 0;
}

/* Append a chunk of the message being received. */
static int msg_append(struct cli_conn *c, const uint8_t *p, size_t n, struct cli_err *e)
{
	if (c->msg_cap - c->msg_len < n) {
		size_t cap = c->msg_cap;
		while (cap - c->msg_len < n)
			cap *= 2; /* bounded: the parser refuses messages over CLI_MESSAGE_MAX */
		uint8_t *q = realloc(c->msg, cap);
		if (q == NULL)
			return cli_fail(e, true, "out of memory for a message of %zu bytes", c->msg_len + n);
		c->msg = q;
		c->msg_cap = cap;
	}
	memcpy(c->msg + c->msg_len, p, n);
	c->msg_len += n;
	return 0;
}

/* One event of the frame parser: 1 with *m when a message is complete, 0 to go on, -1 over. */
static int on_event(struct cli_conn *c, const rc_frame_event *ev, struct cli_msg *m,
                    struct cli_err *e)
{
	switch (ev->type) {
	case RC_FRAME_DATA_START:
		if (ev->opcode != RC_OPCODE_CONT) {
			c->msg_op = ev->msg_opcode;
			c->msg_len = 0;
		}
		return 0;
	case RC_FRAME_DATA:
		if (msg_append(c, ev->data, ev->data_len, e) < 0)
			return -1;
		if (!ev->msg_end)
			return 0;
		m->opcode = c->msg_op;
		m->data = c->msg;
		m->len = c->msg_len;
		return 1;
	case RC_FRAME_CONTROL:
		return on_control(c, ev, e);
	default:
		return 0;
	}
}

/* Run the bytes of c->in through the parser up to the next whole message: 1 with *m, 0 when
 * every byte is used, -1 when the connection is over. */
static int conn_parse(struct cli_conn *c, struct cli_msg *m, struct cli_err *e)
{
	for (;;) {
		rc_frame_event ev;
		ssize_t used = rc_frame_parse(&c->fp, c->in + c->in_off, c->in_len - c->in_off, &ev);
		if (used < 0) {
			const char *why;
			uint16_t code = rc_frame_error(&c->fp, &why);
			struct cli_err ignored;
			(void)cli_conn_send_close(c, code, why, &ignored);
			c->ended = true;
			e->close_code = code;
			return cli_fail(e, !cli_close_retryable(code), "a bad frame from the server: %s", why);
		}
		c->in_off += (size_t)used;
		if (ev.type == RC_FRAME_NEED_MORE) {
			c->in_off = c->in_len = 0;
			return 0;
		}
		int r = on_event(c, &ev, m, e);
		if (r != 0)
			return r;
	}
}

/* Read what is there into c->in (empty). 1 got bytes, 0 nothing now, -1 over. */
static int conn_fill(struct cli_conn *c, struct cli_err *e)
{
	ssize_t n = io_read(c, c->in, CLI_IN_CAP, e);
	if (n > 0) {
		c->in_len = (size_t)n;
		c->last_rx_ns = cli_now_ns();
		c->ping_sent_ns = 0;
		return 1;
	}
	if (n == IO_AGAIN)
		return 0;
	c->ended = true;
	e->close_code = RC_CLOSE_ABNORMAL;
	if (n == 0)
		return cli_fail(e, false, "%s",
		                c->close_sent ? "closed"
		                              : "the server closed the connection without "
		                                "a close frame (1006)");
	return -1;
}

/* Ping a silent server; give it up when even that gets nothing back. */
static int keepalive(struct cli_conn *c, uint64_t now, struct cli_err *e)
{
	if (c->close_sent)
		return 0;
	if (c->ping_sent_ns == 0) {
		if (now - c->last_rx_ns < CLI_PING_IDLE_MS * 1000000ull)
			return 0;
		c->ping_sent_ns = now;
		if (cli_conn_queue(c, RC_OPCODE_PING, NULL, 0, NULL, 0, e) < 0)
			return -1;
		return cli_conn_flush(c, e);
	}
	if (now - c->ping_sent_ns < CLI_PONG_WAIT_MS * 1000000ull)
		return 0;
	c->ended = true;
	e->close_code = RC_CLOSE_ABNORMAL;
	return cli_fail(e, false,
	                "nothing from the server for %u s, not even an answer to a ping: "
	                "the connection is dead",
	                (CLI_PING_IDLE_MS + CLI_PONG_WAIT_MS) / 1000);
}

int cli_conn_recv(struct cli_conn *c, int timeout_ms, struct cli_msg *m, struct cli_err *e)
{
	if (c->ended)
		return cli_fail(e, false, "the connection is over");
	uint64_t until = timeout_ms < 0 ? 0 : cli_now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		int r = conn_parse(c, m, e);
		if (r != 0)
			return r; /* a message, or over */
		r = conn_fill(c, e);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		uint64_t now = cli_now_ns();
		if (keepalive(c, now, e) < 0)
			return -1;
		if (timeout_ms >= 0 && now >= until)
			return 0;
		uint64_t wake = c->ping_sent_ns ? c->ping_sent_ns + CLI_PONG_WAIT_MS * 1000000ull
		                                : c->last_rx_ns + CLI_PING_IDLE_MS * 1000000ull;
		if (c->close_sent || (timeout_ms >= 0 && until < wake))
			wake = timeout_ms >= 0 ? until : 0;
		struct pollfd p = { .fd = c->fd, .events = c->want };
		if (cli_poll(&p, 1, wake ? cli_ms_until(wake, INT_MAX) : -1) < 0 && errno == EINTR)
			return 0; /* a signal: the caller looks at cli_stop */
	}
}

/* ---- closing ---- */

int cli_conn_send_close(struct cli_conn *c, uint16_t code, const char *reason, struct cli_err *e)
{
	if (c->close_sent)
		return 0;
	uint8_t p[2 + RC_CLOSE_REASON_MAX];
	size_t n = rc_close_payload(p, code, reason);
	c->close_sent = true;
	if (cli_conn_queue(c, RC_OPCODE_CLOSE, NULL, 0, p, n, e) < 0)
		return -1;
	return cli_conn_flush(c, e);
}

bool cli_conn_closed_cleanly(const struct cli_conn *c)
{
	/* both closes crossing on the wire is no answer: the server's code says why it closed */
	return c->close_sent && c->close_rcvd &&
	       (c->close_code == RC_CLOSE_NORMAL || c->close_code == RC_CLOSE_NO_STATUS);
}

void cli_conn_finish(struct cli_conn *c)
{
	struct cli_err e;
	if (c->fd < 0 || c->ended || cli_conn_send_close(c, RC_CLOSE_NORMAL, NULL, &e) < 0)
		return;
	uint64_t until = cli_now_ns() + CLI_CLOSE_WAIT_MS * 1000000ull;
	while (cli_stop < 2) {
		struct cli_msg m;
		int ms = cli_ms_until(until, INT_MAX);
		if (ms == 0 || cli_conn_recv(c, ms, &m, &e) < 0)
			return;
	}
}

void cli_conn_free(struct cli_conn *c)
{
	cli_tls_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c->msg);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}
