/* cli_pub: `ringcast-cli pub URL TOPIC` (cli.h; docs/cli.md is the user's side).
 *
 * Each line of the input (stdin, or --file) becomes one message on TOPIC: a binary PUBLISH frame
 * of ringcast.v1 (docs/protocol.md 6.3) flagged as text, so that plain subscribers get a TEXT
 * message; with --binary the same bytes unflagged. The line is the bytes before its "\n" (and a
 * "\r" just before that); a last line without "\n" counts too. A text line that is not UTF-8 is
 * not sent: the server would refuse it (bad_publish), so the program stops there and says which
 * line it was.
 *
 * Everything a read of the input brings is framed and written at once (one write per read: lines
 * typed by hand leave one by one, a file leaves in large writes). Meanwhile the connection is
 * read too: pings are answered, and an error notice is printed (the server's unauthorized, then
 * its close 4001, ends the run at once). At the end of the input it closes with 1000 and waits
 * for the server's answer to that close: the server handles a connection's messages in order, so
 * once it answers, every message before the close has been taken. Only then is it a success.
 *
 * No reconnecting: after a connection is lost it cannot be known which of the last messages the
 * server took, and sending them again could publish them twice. The run fails instead (exit 1),
 * saying how many lines were sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rc_utf8.h"

#define READ_CHUNK (64u << 10)
#define PUB_CLOSE_WAIT_MS 10000 /* the server's answer to our close, after the input's end */
#define PUB_CLOSE_GRACE_MS 1000 /* the same after --timeout-ms passed */

struct pub {
	const struct cli_opts *o;
	struct cli_conn c;
	const char *in_name; /* for messages: the --file, or "stdin" */
	int in_fd;
	uint8_t *buf; /* input read and not yet published: [0, len) */
	size_t len, cap;
	uint8_t header[RC_APP_PUB_HEADER_MAX]; /* every PUBLISH's: the topic, sequence 0 */
	size_t header_len;
	uint64_t lines;   /* lines read (for messages) */
	uint64_t sent;    /* messages written to the connection */
	unsigned errors;  /* error notices */
	bool fatal_error; /* one of them is fatal (unauthorized): the close that follows is too */
};

/* ---- the input ---- */

/* Read what the input has into p->buf. 1 got bytes, 0 at its end, -1 failed (said). */
static int read_input(struct pub *p)
{
	if (p->cap - p->len < READ_CHUNK) {
		if (p->cap >= CLI_MESSAGE_MAX + (size_t)READ_CHUNK) {
			fprintf(stderr, "ringcast-cli: %s: line %llu is longer than %u bytes\n", p->in_name,
			        (unsigned long long)p->lines + 1, CLI_MESSAGE_MAX);
			return -1;
		}
		size_t cap = p->cap ? p->cap * 2 : 2 * READ_CHUNK;
		uint8_t *b = realloc(p->buf, cap);
		if (b == NULL) {
			fprintf(stderr, "ringcast-cli: out of memory (a line of %zu bytes)\n", p->len);
			return -1;
		}
		p->buf = b;
		p->cap = cap;
	}
	for (;;) {
		ssize_t n = read(p->in_fd, p->buf + p->len, p->cap - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		fprintf(stderr, "ringcast-cli: reading %s: %s\n", p->in_name, strerror(errno));
		return -1;
	}
}

/* One line (without its end) as a PUBLISH. Returns 0, or -1 (said). */
static int publish_line(struct pub *p, const uint8_t *line, size_t n)
{
	p->lines++;
	if (!p->o->binary && !rc_utf8_valid(line, n)) {
		fprintf(stderr,
		        "ringcast-cli: %s:%llu: not valid UTF-8, so not sent (a text message must be); "
		        "--binary sends lines as binary messages\n",
		        p->in_name, (unsigned long long)p->lines);
		return -1;
	}
	struct cli_err e;
	if (cli_conn_queue(&p->c, RC_OPCODE_BINARY, p->header, p->header_len, line, n, &e) < 0) {
		fprintf(stderr, "ringcast-cli: %s\n", e.msg);
		return -1;
	}
	p->sent++;
	return 0;
}

/* Every whole line of p->buf (and the rest too at the input's end) as a PUBLISH. */
static int publish_lines(struct pub *p, bool at_end)
{
	size_t at = 0;
	for (;;) {
		uint8_t *nl = memchr(p->buf + at, '\n', p->len - at);
		if (nl == NULL)
			break;
		size_t n = (size_t)(nl - (p->buf + at));
		if (n > 0 && p->buf[at + n - 1] == '\r')
			n--;
		if (publish_line(p, p->buf + at, n) < 0)
			return -1;
		at = (size_t)(nl - p->buf) + 1;
	}
	if (at_end && at < p->len) {
		if (publish_line(p, p->buf + at, p->len - at) < 0)
			return -1;
		at = p->len;
	}
	memmove(p->buf, p->buf + at, p->len - at);
	p->len -= at;
	return 0;
}

/* ---- the connection ---- */

/* What the server sent, without waiting (or up to timeout_ms): error notices printed and
 * counted. Returns 0, or -1 when the connection is over (e says how). */
static int read_server(struct pub *p, int timeout_ms, struct cli_err *e)
{
	struct cli_msg m;
	int r;
	while ((r = cli_conn_recv(&p->c, timeout_ms, &m, e)) > 0) {
		timeout_ms = 0;
		static rc_app_notice nt;
		if (m.opcode != RC_OPCODE_TEXT || rc_app_notice_parse(m.data, m.len, &nt) != RC_APP_OK)
			continue; /* a publisher subscribes to nothing: no message is expected */
		if (nt.type == RC_APP_NOTICE_ERROR) {
			cli_out_error(&nt, false);
			p->errors++;
			p->fatal_error = p->fatal_error || rc_app_error_close(nt.code) != 0;
		}
	}
	return r;
}

/* Publish the input until its end (1), a signal or the deadline (0), or a failure (-1, said or
 * in e). */
static int pump(struct pub *p, uint64_t deadline_ns, struct cli_err *e)
{
	for (;;) {
		if (cli_stop)
			return 0;
		int ms = cli_ms_until(deadline_ns, CLI_PING_IDLE_MS);
		if (deadline_ns && ms == 0)
			return 0;
		struct pollfd pfd[2] = {
			{ .fd = p->in_fd, .events = POLLIN },
			{ .fd = p->c.fd, .events = p->c.want },
		};
		if (cli_poll(pfd, 2, ms) < 0 && errno != EINTR)
			return cli_fail(e, false, "poll: %s", strerror(errno));
		if (read_server(p, 0, e) < 0)
			return -1;
		if (pfd[0].revents == 0)
			continue;
		int r = read_input(p);
		if (r < 0 || publish_lines(p, r == 0) < 0) {
			e->msg[0] = 0; /* said */
			return -1;
		}
		if (cli_conn_flush(&p->c, e) < 0)
			return -1;
		if (r == 0)
			return 1;
	}
}

/* Close with 1000 and wait up to wait_ms for the server's answer, reading its notices meanwhile.
 * Returns 0 once it answered, -1 otherwise (e says why). */
static int close_and_wait(struct pub *p, uint32_t wait_ms, struct cli_err *e)
{
	if (cli_conn_send_close(&p->c, RC_CLOSE_NORMAL, NULL, e) < 0)
		return -1;
	uint64_t until = cli_now_ns() + (uint64_t)wait_ms * 1000000u;
	while (!p->c.ended) {
		int ms = cli_ms_until(until, INT_MAX);
		if (ms == 0 || cli_stop >= 2)
			return cli_fail(e, false,
			                "no answer from the server to our close within %u ms: "
			                "the last messages may not have been taken",
			                wait_ms);
		(void)read_server(p, ms, e);
	}
	if (cli_conn_closed_cleanly(&p->c))
		return 0;
	return -1; /* closed by the server first (e.g. 4001), or lost: e says which */
}

/* ---- the run ---- */

static int open_input(struct pub *p)
{
	p->in_fd = STDIN_FILENO;
	p->in_name = "stdin";
	if (p->o->file == NULL)
		return 0;
	p->in_name = p->o->file;
	p->in_fd = open(p->o->file, O_RDONLY | O_CLOEXEC);
	if (p->in_fd < 0) {
		fprintf(stderr, "ringcast-cli: --file %s: %s\n", p->o->file, strerror(errno));
		return -1;
	}
	return 0;
}

/* The exit status of a run that ended with r (pump's, then close_and_wait's) and e. */
static int outcome(struct pub *p, int r, bool timed_out, const struct cli_err *e)
{
	const char *topic = p->o->topics[0];
	if (r < 0 && e->msg[0])
		fprintf(stderr, "ringcast-cli: %s\n", e->msg);
	bool refused = r < 0 && (e->fatal || p->fatal_error);
	if (timed_out && !refused) {
		fprintf(stderr, "ringcast-cli: timed out after %llu ms, %llu message(s) sent to %s\n",
		        (unsigned long long)p->o->timeout_ms, (unsigned long long)p->sent, topic);
		return CLI_EXIT_TIMEOUT;
	}
	if (r < 0) {
		fprintf(stderr, "ringcast-cli: stopped after sending %llu message(s) to %s\n",
		        (unsigned long long)p->sent, topic);
		return refused ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
	}
	if (p->errors > 0) {
		fprintf(stderr, "ringcast-cli: the server refused %u of %llu message(s) sent to %s\n",
		        p->errors, (unsigned long long)p->sent, topic);
		return CLI_EXIT_FAIL;
	}
	if (!p->o->quiet)
		fprintf(stderr, "ringcast-cli: published %llu message(s) to %s\n",
		        (unsigned long long)p->sent, topic);
	return CLI_EXIT_OK;
}

int cli_pub_run(const struct cli_opts *o)
{
	struct pub p = { .o = o };
	const char *topic = o->topics[0];
	p.header_len = rc_app_pub_encode_header(p.header, o->binary ? 0 : RC_APP_FLAG_TEXT,
	                                        (const uint8_t *)topic, strlen(topic), 0);
	if (p.header_len == 0 || open_input(&p) < 0)
		return CLI_EXIT_FAIL;
	struct cli_err e;
	if (cli_conn_open(&p.c, &o->dest, &e) < 0) {
		fprintf(stderr, "ringcast-cli: %s\n", e.msg);
		cli_conn_free(&p.c);
		if (p.in_fd != STDIN_FILENO)
			close(p.in_fd);
		return e.fatal ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
	}
	uint64_t deadline = o->timeout_ms ? cli_now_ns() + o->timeout_ms * 1000000u : 0;
	int r = pump(&p, deadline, &e);
	bool timed_out = r == 0 && !cli_stop;
	/* the close's answer, within what is left of --timeout-ms (a moment when nothing is) */
	uint32_t wait = PUB_CLOSE_WAIT_MS;
	if (deadline) {
		int left = cli_ms_until(deadline, PUB_CLOSE_WAIT_MS);
		wait = left > PUB_CLOSE_GRACE_MS ? (uint32_t)left : PUB_CLOSE_GRACE_MS;
	}
	if (r >= 0)
		r = close_and_wait(&p, wait, &e);
	else if (!p.c.ended)
		cli_conn_finish(&p.c);
	int status = outcome(&p, r, timed_out, &e);
	cli_conn_free(&p.c);
	free(p.buf);
	if (p.in_fd != STDIN_FILENO)
		close(p.in_fd);
	return status;
}
