/* feed_conn: one WebSocket connection of ringcast-feed (see feed.h). Sections: randomness, sending,
 * reading, opening (connect, then the handshake), closing.
 *
 * Client frames are masked (RFC 6455 §5.3) with a fresh key per frame from getrandom(2), drawn a
 * few thousand at a time. Pings are answered; a TEXT message on ringcast.v1 is a notice, and an
 * error notice is worth a line. The handshake is proto's rc_ws_client: the request, then the
 * server's answer checked by RFC 6455 §4.1's client rules. */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "feed.h"
#include "rc_handshake.h"

#define FEED_KEYS 4096 /* masking keys drawn per getrandom call */

struct feed_counts feed_counts;

/* ---- randomness ---- */

void feed_random(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("ringcast-feed: getrandom");
			exit(1);
		}
		b += r;
		n -= (size_t)r;
	}
}

/* Masking keys come from the kernel's generator (RFC 6455 §5.3 wants them unpredictable), a few
 * thousand per system call. */
static uint8_t g_keys[FEED_KEYS][4];
static uint32_t g_keys_left;

static const uint8_t *next_key(void)
{
	if (g_keys_left == 0) {
		feed_random(g_keys, sizeof g_keys);
		g_keys_left = FEED_KEYS;
	}
	return g_keys[--g_keys_left];
}

/* ---- sending ---- */

/* Write all of p[0..n) or fail. A signal does not cut a frame: the send is retried (a second
 * signal exits). The socket's send timeout (1 s) hands control back now and then; the whole call
 * may take FEED_SEND_TIMEOUT_S, which is ample for a batch of at most FEED_OUT_CAP bytes unless
 * the server has stopped reading (a trickle of window probes would defeat a per-call timeout).
 * Returns 0, or -errno: -ETIMEDOUT when the deadline passed. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
	uint64_t deadline = feed_clock_ns(CLOCK_MONOTONIC) + FEED_SEND_TIMEOUT_S * 1000000000ull;
	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			feed_counts.writes++;
		} else if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			return -errno;
		}
		if (n > 0 && feed_clock_ns(CLOCK_MONOTONIC) >= deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

void feed_conn_frame(struct feed_conn *c, uint8_t opcode, const uint8_t *prefix, size_t plen,
                     const void *payload, size_t len)
{
	size_t h = rc_frame_header_len(plen + len, true);
	assert(c->out_len + h + plen + len <= FEED_OUT_CAP);
	uint8_t *f = c->out + c->out_len;
	/* The payload is put together where it goes in the frame, then masked there. */
	if (plen > 0)
		memcpy(f + h, prefix, plen);
	if (len > 0)
		memcpy(f + h + plen, payload, len);
	c->out_len += rc_frame_encode_masked(f, opcode, f + h, plen + len, next_key());
}

int feed_conn_flush(struct feed_conn *c)
{
	if (c->out_len == 0)
		return 0;
	int r = send_all(c->fd, c->out, c->out_len);
	if (r == 0)
		feed_counts.sent_bytes += c->out_len;
	else if (c->send_err == 0)
		c->send_err = -r;
	c->out_len = 0;
	return r;
}

/* A control frame, sent at once (it goes behind the batch already written). */
static int conn_control(struct feed_conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	int r = feed_conn_flush(c);
	if (r < 0)
		return r;
	feed_conn_frame(c, opcode, NULL, 0, p, n);
	return feed_conn_flush(c);
}

static int conn_send_close(struct feed_conn *c, uint16_t code, const char *reason)
{
	if (c->close_sent)
		return 0;
	uint8_t payload[2 + RC_CLOSE_REASON_MAX];
	size_t n = rc_close_payload(payload, code, reason);
	c->close_sent = true;
	return conn_control(c, RC_OPCODE_CLOSE, payload, n);
}

/* ---- reading ---- */

/* A complete TEXT message from the server: on ringcast.v1, a notice. Errors are worth a line
 * (the first few of them); the rest (subscribed, missed) do not concern a publisher. */
static void on_notice(struct feed_conn *c)
{
	rc_app_notice nt;
	if (rc_app_notice_parse(c->notice, c->notice_len, &nt) != RC_APP_OK) {
		fprintf(stderr, "ringcast-feed: %s: unexpected text from the server (%zu bytes)\n",
		        c->label, c->notice_len);
		return;
	}
	if (nt.type != RC_APP_NOTICE_ERROR)
		return;
	feed_counts.error_notices++;
	if (feed_counts.error_notices <= 5) {
		char msg[6 * RC_APP_MESSAGE_MAX + 1];
		size_t n = rc_app_notice_message(&nt, msg, sizeof msg - 1);
		msg[n] = '\0';
		fprintf(stderr, "ringcast-feed: %s: server error notice: %s: %s%s\n", c->label,
		        rc_app_error_name(nt.code), msg,
		        feed_counts.error_notices == 5 ? " (further notices are only counted)" : "");
	}
}

/* The server's close frame: keep its code and reason, answer with the same code (RFC 6455
 * §5.5.1) unless it was the answer to ours. */
static void on_close(struct feed_conn *c, const rc_frame_event *ev)
{
	c->close_rcvd = true;
	c->close_code = ev->close_code;
	size_t rl =
	        ev->close_reason_len < RC_CLOSE_REASON_MAX ? ev->close_reason_len : RC_CLOSE_REASON_MAX;
	memcpy(c->close_reason, ev->close_reason, rl);
	c->close_reason[rl] = '\0';
	uint16_t echo = ev->close_code == RC_CLOSE_NO_STATUS ? RC_CLOSE_NORMAL : ev->close_code;
	(void)conn_send_close(c, echo, NULL);
}

/* One event of the frame parser. Returns 0, or -1 if the connection is finished. */
static int on_event(struct feed_conn *c, const rc_frame_event *ev)
{
	if (ev->type == RC_FRAME_DATA_START) {
		if (ev->opcode != RC_OPCODE_CONT) {
			c->in_text = ev->msg_opcode == RC_OPCODE_TEXT;
			c->notice_len = 0;
			c->notice_skip = false;
		}
	} else if (ev->type == RC_FRAME_DATA && c->in_text) {
		if (c->notice_len + ev->data_len > FEED_NOTICE_MAX)
			c->notice_skip = true;
		else
			memcpy(c->notice + c->notice_len, ev->data, ev->data_len);
		c->notice_len += ev->data_len;
		if (ev->msg_end && !c->notice_skip)
			on_notice(c);
	} else if (ev->type == RC_FRAME_CONTROL) {
		if (ev->opcode == RC_OPCODE_PING && !c->close_sent) {
			if (conn_control(c, RC_OPCODE_PONG, ev->data, ev->data_len) < 0) {
				c->eof = true;
				return -1;
			}
		} else if (ev->opcode == RC_OPCODE_CLOSE) {
			on_close(c, ev);
			return -1;
		}
	}
	return 0;
}

/* Run p[0..len) through c's frame parser. Returns 0, or -1 if the connection is finished. */
static int conn_parse(struct feed_conn *c, uint8_t *p, size_t len)
{
	for (;;) {
		rc_frame_event ev;
		ssize_t used = rc_frame_parse(&c->fp, p, len, &ev);
		if (used < 0) {
			const char *why;
			uint16_t code = rc_frame_error(&c->fp, &why);
			fprintf(stderr, "ringcast-feed: %s: bad frame from the server: %s\n", c->label, why);
			(void)conn_send_close(c, code, why);
			c->eof = true;
			return -1;
		}
		p += used;
		len -= (size_t)used;
		if (ev.type == RC_FRAME_NEED_MORE)
			return 0;
		if (on_event(c, &ev) < 0)
			return -1;
	}
}

int feed_conn_read(struct feed_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in, FEED_IN_CAP, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fprintf(stderr, "ringcast-feed: %s: recv: %s\n", c->label, strerror(errno));
			c->eof = true;
			return -1;
		}
		if (n == 0) {
			c->eof = true;
			return -1;
		}
		if (conn_parse(c, c->in, (size_t)n) < 0)
			return -1;
	}
}

/* ---- opening ---- */

/* A connected TCP socket to d, with the options the feed needs. */
static int conn_connect(const struct feed_dest *d)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(d->url->host, d->url->port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "ringcast-feed: %s: %s\n", d->url->host, gai_strerror(gai));
		exit(1);
	}
	int fd = -1, err = 0;
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "ringcast-feed: cannot connect to %s: %s (is ringcast running?)\n",
		        d->url->hostport, strerror(err));
		exit(1);
	}
	int one = 1;
	/* The feed batches by itself; a batch should leave at once, not wait for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = { .tv_sec = FEED_HANDSHAKE_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	tv.tv_sec = 1; /* send_all's deadline is checked at least this often */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* Send the upgrade request: ringcast.v1 when publish is NULL, else a plain connection with
 * publish=TOPIC added to the target. */
static void send_request(int fd, const struct feed_dest *d, const char *publish, const char *key)
{
	char target[sizeof d->url->target + sizeof RC_APP_PATH + sizeof "&publish=" + FEED_NAME_MAX];
	int tn = snprintf(target, sizeof target, "%s%s%s%s", d->target,
	                  publish ? (strchr(d->target, '?') ? "&" : "?") : "",
	                  publish ? "publish=" : "", publish ? publish : "");
	char extra[sizeof "Authorization: Bearer \r\nUser-Agent: ringcast-feed\r\n" + RC_APP_TOKEN_MAX];
	int en = snprintf(extra, sizeof extra, "%s%s%sUser-Agent: ringcast-feed\r\n",
	                  d->token ? "Authorization: Bearer " : "", d->token ? d->token : "",
	                  d->token ? "\r\n" : "");
	assert(tn > 0 && (size_t)tn < sizeof target && en > 0 && (size_t)en < sizeof extra);
	rc_ws_client_req rq = {
		.host = d->url->hostport,
		.target = target,
		.key = key,
		.subprotocol = publish ? NULL : RC_APP_SUBPROTOCOL,
		.extra = extra,
	};
	char req[sizeof target + sizeof extra + 512];
	size_t n = rc_ws_client_request(req, sizeof req, &rq);
	if (n == 0) {
		fprintf(stderr, "ringcast-feed: request too long\n");
		exit(1);
	}
	if (send_all(fd, (const uint8_t *)req, n) < 0) {
		fprintf(stderr, "ringcast-feed: %s: sending the handshake: %s\n", d->url->hostport,
		        strerror(errno));
		exit(1);
	}
}

/* Read the answer until its head is complete and checked: head[0..*have) holds what came, which
 * may include the server's first frames after the head. Returns the check's status. */
static enum rc_ws_client_status recv_answer(int fd, const char *hostport, const char *key,
                                            const char *sub, uint8_t head[FEED_HEAD_MAX],
                                            size_t *have, rc_ws_client_result *res)
{
	enum rc_ws_client_status st = RC_WS_CLIENT_NEED_MORE;
	*have = 0;
	while (st == RC_WS_CLIENT_NEED_MORE) {
		if (*have == FEED_HEAD_MAX) {
			fprintf(stderr, "ringcast-feed: %s: answer head over 8 KiB\n", hostport);
			exit(1);
		}
		ssize_t r = recv(fd, head + *have, FEED_HEAD_MAX - *have, 0);
		if (r < 0 && errno == EINTR && !feed_stop)
			continue;
		if (r <= 0) {
			fprintf(stderr, "ringcast-feed: %s: no answer to the handshake (%s)\n", hostport,
			        r == 0            ? "connection closed"
			        : errno == EAGAIN ? "timed out"
			                          : strerror(errno));
			exit(1);
		}
		*have += (size_t)r;
		st = rc_ws_client_check(head, *have, key, sub, res);
	}
	return st;
}

/* The server refused the upgrade: its status line, and the one-line body that says why
 * (docs/protocol.md §4), as far as it came with the head. */
static void report_refusal(const char *hostport, const uint8_t *head, size_t have,
                           const rc_ws_client_result *res)
{
	const char *h = (const char *)head;
	const char *line_end = memmem(h, res->head_len, "\r\n", 2);
	int sl = (int)(line_end - h);
	const char *body = h + res->head_len;
	size_t bl = have - res->head_len;
	while (bl > 0 && (body[bl - 1] == '\n' || body[bl - 1] == '\r'))
		bl--;
	fprintf(stderr, "ringcast-feed: %s refused the WebSocket upgrade: %.*s%s%.*s\n", hostport, sl,
	        h, bl ? ": " : "", (int)bl, body);
}

/* A failed check, in the words the feed has always used for each case; exits 1. */
static _Noreturn void handshake_failed(enum rc_ws_client_status st, const char *hostport,
                                       const char *key, const uint8_t *head, size_t have,
                                       const rc_ws_client_result *res)
{
	char expect[RC_WS_ACCEPT_LEN + 1] = "";
	switch (st) {
	case RC_WS_CLIENT_STATUS:
		report_refusal(hostport, head, have, res);
		break;
	case RC_WS_CLIENT_BAD_STATUS_LINE:
		fprintf(stderr, "ringcast-feed: %s: not an HTTP answer\n", hostport);
		break;
	case RC_WS_CLIENT_NO_ACCEPT:
	case RC_WS_CLIENT_WRONG_ACCEPT:
		if (rc_ws_accept(key, RC_WS_KEY_LEN, expect) == 0)
			expect[RC_WS_ACCEPT_LEN] = '\0';
		fprintf(stderr,
		        "ringcast-feed: %s: missing or wrong Sec-WebSocket-Accept in the 101 "
		        "(expected %s)\n",
		        hostport, expect);
		break;
	case RC_WS_CLIENT_ACCEPT_FAILED:
		fprintf(stderr, "ringcast-feed: cannot compute Sec-WebSocket-Accept\n");
		break;
	case RC_WS_CLIENT_NO_SUBPROTOCOL:
	case RC_WS_CLIENT_WRONG_SUBPROTOCOL:
		fprintf(stderr,
		        "ringcast-feed: %s did not accept the %s subprotocol (not ringcast? try --plain)\n",
		        hostport, RC_APP_SUBPROTOCOL);
		break;
	case RC_WS_CLIENT_UNREQUESTED_SUBPROTOCOL:
		fprintf(stderr, "ringcast-feed: %s chose a subprotocol nobody asked for\n", hostport);
		break;
	default:
		fprintf(stderr, "ringcast-feed: %s: not a valid WebSocket upgrade: %s\n", hostport,
		        res->reason);
		break;
	}
	exit(1);
}

/* The connection is open: buffers, the frame parser, and the frames that came with the 101 (a
 * close, say), which go through the parser like any others. */
static void conn_ready(struct feed_conn *c, int fd, const uint8_t *extra, size_t extra_len)
{
	struct timeval tv = { 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	c->fd = fd;
	rc_frame_cfg fc = { .role = RC_FRAME_CLIENT, .message_max = 0, .rsv_allowed = 0 };
	rc_frame_parser_init(&c->fp, &fc);
	c->fp.ctl = c->fp_ctl;
	c->out = malloc(FEED_OUT_CAP);
	c->in = malloc(FEED_IN_CAP);
	c->notice = malloc(FEED_NOTICE_MAX);
	if (c->out == NULL || c->in == NULL || c->notice == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		exit(1);
	}
	assert(extra_len <= FEED_IN_CAP);
	if (extra_len > 0) {
		memcpy(c->in, extra, extra_len);
		(void)conn_parse(c, c->in, extra_len);
	}
}

void feed_conn_open(struct feed_conn *c, const struct feed_dest *d, const char *publish)
{
	int fd = conn_connect(d);
	uint8_t nonce[RC_WS_NONCE_LEN];
	feed_random(nonce, sizeof nonce);
	char key[RC_WS_KEY_LEN + 1];
	rc_ws_client_key(nonce, key);
	send_request(fd, d, publish, key);

	const char *sub = publish ? NULL : RC_APP_SUBPROTOCOL;
	static uint8_t head[FEED_HEAD_MAX];
	size_t have;
	rc_ws_client_result res;
	enum rc_ws_client_status st = recv_answer(fd, d->url->hostport, key, sub, head, &have, &res);
	if (st != RC_WS_CLIENT_OK)
		handshake_failed(st, d->url->hostport, key, head, have, &res);
	conn_ready(c, fd, head + res.head_len, have - res.head_len);
}

/* ---- closing ---- */

void feed_conn_report_close(const struct feed_conn *c)
{
	if (c->close_rcvd) {
		fprintf(stderr, "ringcast-feed: %s: the server closed the connection: %u (%s)%s%s%s\n",
		        c->label, c->close_code, rc_close_code_name(c->close_code),
		        c->close_reason[0] ? " \"" : "", c->close_reason, c->close_reason[0] ? "\"" : "");
	} else if (c->send_err == ETIMEDOUT) {
		fprintf(stderr,
		        "ringcast-feed: %s: the server did not take one batch in %d s "
		        "(stopped reading?): giving up\n",
		        c->label, FEED_SEND_TIMEOUT_S);
	} else if (c->send_err != 0 && c->send_err != EPIPE && c->send_err != ECONNRESET) {
		fprintf(stderr, "ringcast-feed: %s: send: %s\n", c->label, strerror(c->send_err));
	} else {
		fprintf(stderr,
		        "ringcast-feed: %s: the server closed the connection without a close "
		        "frame (1006)\n",
		        c->label);
	}
}

/* Wait until every connection in pfd (fd -1: done) has its answer or the deadline passes. */
static void wait_for_closes(struct feed_conn *conns, uint32_t n, struct pollfd *pfd,
                            uint64_t deadline)
{
	for (;;) {
		uint32_t waiting = 0;
		for (uint32_t i = 0; i < n; i++) {
			const struct feed_conn *c = &conns[i];
			pfd[i].fd = c->eof || c->close_rcvd ? -1 : c->fd;
			pfd[i].events = POLLIN;
			if (pfd[i].fd >= 0)
				waiting++;
		}
		uint64_t now = feed_clock_ns(CLOCK_MONOTONIC);
		if (waiting == 0 || now >= deadline)
			return;
		int r = poll(pfd, n, (int)((deadline - now) / 1000000u) + 1);
		for (uint32_t i = 0; r > 0 && i < n; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents)
				(void)feed_conn_read(&conns[i]);
		if (feed_stop >= 2)
			return;
	}
}

void feed_conns_close_all(struct feed_conn *conns, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct feed_conn *c = &conns[i];
		if (!c->eof && !c->close_rcvd && conn_send_close(c, RC_CLOSE_NORMAL, "feed done") < 0)
			c->eof = true;
	}
	uint64_t deadline = feed_clock_ns(CLOCK_MONOTONIC) + FEED_CLOSE_WAIT_MS * 1000000ull;
	struct pollfd *pfd = calloc(n, sizeof *pfd);
	if (pfd != NULL)
		wait_for_closes(conns, n, pfd, deadline);
	free(pfd);
	for (uint32_t i = 0; i < n; i++)
		close(conns[i].fd);
}

void feed_conn_free(struct feed_conn *c)
{
	free(c->out);
	free(c->in);
	free(c->notice);
	c->out = c->in = c->notice = NULL;
}
