/* cli_sub: `ringcast-cli sub URL TOPIC...` (cli.h; docs/cli.md is the user's side).
 *
 * One connection at a time (a session): open it, subscribe to the topics, print what comes, until
 * --count messages, --timeout-ms, a signal, or the connection's end. A session that ends for a
 * reason retrying can fix (the server went away, restarted, was overloaded, the network broke) is
 * followed by another after a pause (exponential backoff with full jitter: a random delay in
 * [0, min(max, base * 2^attempt)], so that a thousand clients of a restarted server do not come
 * back in step); the attempt count starts again after a session that was worth it (it lasted
 * HEALTHY_MS or delivered a live message). One retrying cannot fix (refused at the handshake,
 * closed with 4001/4002/1008, an error notice, a certificate not trusted) ends the program.
 *
 * Positions. Each topic's position (cli_state.c) is the epoch of its numbering and the last number
 * delivered. Every session's subscribe asks to resume the topics whose position is known
 * ("resume":[{topic, epoch, seq}]), so that what the server's history holds of the time between
 * two sessions (or two runs, with --state) is replayed before the live messages, marked retained;
 * the rest are subscribed afresh, with "snapshot":true for --snapshot. The server's subscribed
 * notice gives each topic's epoch and the number it had reached when the subscription took
 * effect (positions): a fresh topic's position is that joint. A resumed topic keeps its own: the
 * replayed messages move it. A reset notice says a resume could not continue where it was (the
 * history no longer holds it, or the numbering changed): it is printed, and the position moves to
 * just before the first number the server will send.
 *
 * A server without history sends no positions: then nothing can be resumed (the epoch stays
 * unknown), numbers still come from the messages, and the program says so once.
 *
 * --state FILE is written (cli_state_save) at most every STATE_SAVE_MS while positions change,
 * before each reconnect and at the end, always right after stdout was flushed: the file never
 * counts a message that has not been written out. A crash can make the next run print again the
 * messages of the last STATE_SAVE_MS (at least once, never lost, as far as history holds them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define STATE_SAVE_MS 1000
#define HEALTHY_MS 5000 /* a session this long resets the backoff */
#define SUBSCRIBED_LINE_MAX 200

/* How a session ended. */
enum end {
	END_NONE = 0,
	END_DONE,    /* --count messages delivered */
	END_STOP,    /* SIGINT or SIGTERM */
	END_TIMEOUT, /* --timeout-ms */
	END_LOST,    /* the connection failed or ended: e says why and whether to retry */
	END_REFUSED, /* an error notice: the server refused the subscription */
	END_BUSY,    /* a busy notice: the server asks to subscribe again later */
	END_FAIL,    /* stdout, the state file, memory: said on stderr already */
};

struct sub {
	const struct cli_opts *o;
	struct cli_dest dest; /* o->dest with the connect timeout cut to --timeout-ms */
	struct cli_conn c;
	struct cli_topics ts;
	uint64_t delivered;   /* messages printed */
	uint64_t live;        /* live (not retained) ones in this session */
	uint64_t deadline_ns; /* --timeout-ms, 0: none */
	uint64_t save_due_ns;
	unsigned sessions;
	bool warned_no_positions;
};

/* ---- the state ---- */

/* Flush stdout, then write the state file if it changed. Returns 0, or -1 said. */
static int save(struct sub *s)
{
	int r = cli_out_flush();
	if (r < 0) {
		if (r != -EPIPE) /* the reader went away (head, a closed pipe): nothing to say */
			fprintf(stderr, "ringcast-cli: writing stdout: %s\n", strerror(-r));
		return -1;
	}
	if (s->o->state == NULL || !s->ts.dirty)
		return 0;
	char err[512];
	if (cli_state_save(&s->ts, s->o->state, err, sizeof err) < 0) {
		fprintf(stderr, "ringcast-cli: %s\n", err);
		return -1;
	}
	s->save_due_ns = cli_now_ns() + STATE_SAVE_MS * 1000000ull;
	return 0;
}

static int maybe_save(struct sub *s)
{
	if (s->o->state == NULL || !s->ts.dirty || cli_now_ns() < s->save_due_ns)
		return 0;
	return save(s);
}

/* ---- subscribing ---- */

static bool resumable(const struct cli_topic *t)
{
	return t->has_seq && t->has_epoch;
}

/* One subscribe of batch[0..n): the fresh topics as "topics", the others as "resume". */
static int subscribe(struct sub *s, struct cli_topic **batch, size_t n, struct cli_err *e)
{
	rc_app_cmd cmd;
	memset(&cmd, 0, sizeof cmd);
	cmd.op = RC_APP_OP_SUBSCRIBE;
	cmd.snapshot = s->o->snapshot;
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			cmd.resume_from = k;
		for (size_t i = 0; i < n; i++) {
			struct cli_topic *t = batch[i];
			if (resumable(t) != (pass == 1))
				continue;
			t->resuming = pass == 1;
			cmd.resume[k] = (rc_app_pos){ .epoch = t->epoch, .seq = t->seq };
			cmd.topics[k++] = (rc_app_slice){ (const uint8_t *)t->name, t->len };
		}
	}
	cmd.topics_len = k;
	static uint8_t buf[RC_APP_CMD_FULL_MAX];
	size_t len = rc_app_cmd_write(buf, sizeof buf, &cmd);
	if (len == 0)
		return cli_fail(e, true, "the subscribe command could not be written");
	return cli_conn_queue(&s->c, RC_OPCODE_TEXT, NULL, 0, buf, len, e);
}

/* Subscribe to every wanted topic, RC_APP_TOPICS_MAX a command. */
static int subscribe_all(struct sub *s, struct cli_err *e)
{
	struct cli_topic *batch[RC_APP_TOPICS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < s->ts.n; i++) {
		if (!s->ts.v[i].wanted)
			continue;
		batch[n++] = &s->ts.v[i];
		if (n == RC_APP_TOPICS_MAX) {
			if (subscribe(s, batch, n, e) < 0)
				return -1;
			n = 0;
		}
	}
	if (n > 0 && subscribe(s, batch, n, e) < 0)
		return -1;
	return cli_conn_flush(&s->c, e);
}

/* ---- what the server says ---- */

static void warn_no_positions(struct sub *s)
{
	if (s->warned_no_positions || (s->o->state == NULL && !s->o->snapshot && s->sessions < 2))
		return;
	s->warned_no_positions = true;
	fprintf(stderr, "ringcast-cli: the server's subscribed notice has no positions (a server "
	                "without history): what was published while this client was not connected "
	                "cannot be replayed, and --snapshot does nothing\n");
}

/* The topics took effect: a fresh topic is now at the joint; a resumed one stays where it was
 * (its replay follows, or a reset notice). */
static void on_subscribed(struct sub *s, const rc_app_notice *nt)
{
	char line[SUBSCRIBED_LINE_MAX + 1] = "";
	size_t ll = 0;
	for (size_t i = 0; i < nt->topics_len; i++) {
		const rc_app_slice *n = &nt->topics[i];
		if (ll < SUBSCRIBED_LINE_MAX)
			ll += (size_t)snprintf(line + ll, sizeof line - ll, "%s%.*s", i ? ", " : "",
			                       (int)n->len, (const char *)n->ptr);
		struct cli_topic *t = cli_topics_find(&s->ts, n->ptr, n->len);
		if (t == NULL)
			continue;
		if (nt->positions_len == 0) {
			t->has_epoch = false; /* the numbering may not be the one we had */
			continue;
		}
		const rc_app_pos *p = &nt->positions[i];
		if (t->resuming)
			continue;
		t->has_epoch = t->has_seq = true;
		t->epoch = p->epoch;
		t->seq = p->seq;
		s->ts.dirty = true;
	}
	if (!s->o->quiet)
		fprintf(stderr, "ringcast-cli: subscribed to %s%s\n", line,
		        ll >= SUBSCRIBED_LINE_MAX ? "..." : "");
	if (nt->positions_len == 0)
		warn_no_positions(s);
}

static void on_reset(struct sub *s, const rc_app_notice *nt)
{
	struct cli_topic *t = cli_topics_find(&s->ts, nt->topics[0].ptr, nt->topics[0].len);
	cli_out_reset(nt, t, s->o->json);
	if (t == NULL)
		return;
	t->has_epoch = t->has_seq = true;
	t->epoch = nt->epoch;
	t->seq = nt->first > 0 ? nt->first - 1 : 0;
	t->resuming = false;
	s->ts.dirty = true;
}

static enum end on_notice(struct sub *s, const struct cli_msg *m, struct cli_err *e)
{
	static rc_app_notice nt; /* 2.6 KB: kept off the stack */
	if (rc_app_notice_parse(m->data, m->len, &nt) != RC_APP_OK) {
		fprintf(stderr, "ringcast-cli: unexpected text from the server (%s): %.*s\n", nt.reason,
		        (int)(m->len < 120 ? m->len : 120), (const char *)m->data);
		return END_NONE;
	}
	switch (nt.type) {
	case RC_APP_NOTICE_SUBSCRIBED:
		on_subscribed(s, &nt);
		break;
	case RC_APP_NOTICE_RESET:
		on_reset(s, &nt);
		break;
	case RC_APP_NOTICE_MISSED:
		cli_out_missed(&nt, s->o->json);
		break;
	case RC_APP_NOTICE_ERROR:
		/* busy: too many subscribes wait for other workers there; another try will do (by
		 * name: the code is newer than some servers, docs/protocol.md §7) */
		if (strcmp(rc_app_error_name(nt.code), "busy") == 0) {
			cli_fail(e, false, "the server is busy (too many subscribes waiting)");
			return END_BUSY;
		}
		cli_out_error(&nt, s->o->json);
		cli_fail(e, true, "stopping: the server refused the subscription%s",
		         nt.code == RC_APP_ERR_BAD_COMMAND
		                 ? " (a server older than \"snapshot\" and \"resume\", docs/protocol.md "
		                   "6.6, refuses them)"
		                 : "");
		return END_REFUSED;
	default:
		break;
	}
	return END_NONE;
}

static enum end on_publication(struct sub *s, const struct cli_msg *m)
{
	rc_app_pub pub;
	if (rc_app_pub_parse(m->data, m->len, &pub) != RC_APP_OK) {
		fprintf(stderr, "ringcast-cli: a binary message that is not a MESSAGE (%s), %zu bytes\n",
		        pub.reason, m->len);
		return END_NONE;
	}
	bool retained = pub.flags & RC_APP_FLAG_RETAINED;
	struct cli_topic *t = cli_topics_find(&s->ts, pub.topic.ptr, pub.topic.len);
	if (t != NULL) {
		/* a snapshot may be older than the joint: it does not move the position back */
		if (!retained || !t->has_seq || pub.seq > t->seq)
			t->seq = pub.seq;
		t->has_seq = true;
		s->ts.dirty = true;
	}
	cli_out_message(&pub, t, s->o->json);
	s->delivered++;
	s->live += !retained;
	if (s->o->count > 0 && s->delivered >= s->o->count)
		return END_DONE;
	return END_NONE;
}

/* ---- a session ---- */

/* How long to wait for the next message: until the deadline or the next state write. */
static int wait_ms(const struct sub *s)
{
	int ms = cli_ms_until(s->deadline_ns, INT_MAX);
	if (s->o->state != NULL && s->ts.dirty) {
		int save_ms = cli_ms_until(s->save_due_ns, INT_MAX);
		ms = save_ms < ms ? save_ms : ms;
	}
	return s->deadline_ns == 0 && ms == INT_MAX ? -1 : ms;
}

static enum end receive(struct sub *s, struct cli_err *e)
{
	for (;;) {
		if (cli_stop)
			return END_STOP;
		if (s->deadline_ns && cli_now_ns() >= s->deadline_ns)
			return END_TIMEOUT;
		if (maybe_save(s) < 0)
			return END_FAIL;
		struct cli_msg m;
		int r = cli_conn_recv(&s->c, 0, &m, e);
		if (r == 0) { /* nothing waiting: what is printed goes out before we sleep */
			if (save(s) < 0)
				return END_FAIL;
			r = cli_conn_recv(&s->c, wait_ms(s), &m, e);
		}
		if (r < 0)
			return END_LOST;
		enum end x = END_NONE;
		if (r > 0)
			x = m.opcode == RC_OPCODE_TEXT ? on_notice(s, &m, e) : on_publication(s, &m);
		if (x == END_NONE && cli_out_status() < 0) {
			(void)save(s); /* stdout failed: save says so, and writes no state */
			x = END_FAIL;
		}
		if (x != END_NONE)
			return x;
	}
}

static enum end session(struct sub *s, struct cli_err *e)
{
	s->sessions++;
	s->live = 0;
	s->dest = s->o->dest;
	if (s->deadline_ns) {
		int left = cli_ms_until(s->deadline_ns, INT_MAX);
		if (left == 0)
			return END_TIMEOUT;
		if ((uint32_t)left < s->dest.connect_timeout_ms)
			s->dest.connect_timeout_ms = (uint32_t)left;
	}
	if (cli_conn_open(&s->c, &s->dest, e) < 0)
		return cli_stop ? END_STOP : END_LOST;
	if (!s->o->quiet)
		fprintf(stderr, "ringcast-cli: connected to %s%s%s\n", s->dest.url.hostport,
		        s->c.tls ? " over " : "", s->c.tls ? cli_tls_version(s->c.tls) : "");
	if (subscribe_all(s, e) < 0)
		return END_LOST;
	return receive(s, e);
}

/* ---- reconnecting ---- */

/* The pause before the next attempt: full jitter over the exponential bound, at least what a
 * refusal's Retry-After asked for, at most what is left of --timeout-ms. */
static uint32_t backoff_ms(const struct sub *s, unsigned attempt, const struct cli_err *e)
{
	uint64_t bound = s->o->backoff_base_ms;
	for (unsigned i = 0; i < attempt && bound < s->o->backoff_max_ms; i++)
		bound *= 2;
	if (bound > s->o->backoff_max_ms)
		bound = s->o->backoff_max_ms;
	uint64_t d = cli_random_upto(bound);
	if (d < e->retry_after_ms)
		d = e->retry_after_ms;
	if (s->deadline_ns) {
		uint64_t left = (uint64_t)cli_ms_until(s->deadline_ns, INT_MAX);
		d = d < left ? d : left;
	}
	return (uint32_t)d;
}

/* After a session: the exit status, or -1 to go on with another. */
static int after(struct sub *s, enum end x, const struct cli_err *e, unsigned *attempt)
{
	switch (x) {
	case END_DONE:
	case END_STOP:
		return CLI_EXIT_OK;
	case END_TIMEOUT:
		if (s->o->count == 0)
			return CLI_EXIT_OK;
		fprintf(stderr, "ringcast-cli: timed out after %llu ms with %llu of %llu messages\n",
		        (unsigned long long)s->o->timeout_ms, (unsigned long long)s->delivered,
		        (unsigned long long)s->o->count);
		return CLI_EXIT_TIMEOUT;
	case END_REFUSED:
		fprintf(stderr, "ringcast-cli: %s\n", e->msg);
		return CLI_EXIT_REFUSED;
	case END_FAIL:
		return CLI_EXIT_FAIL;
	default:
		break;
	}
	if (cli_stop)
		return CLI_EXIT_OK;
	/* END_LOST, or END_BUSY: a new session, subscribing again */
	if (e->fatal || !s->o->reconnect) {
		fprintf(stderr, "ringcast-cli: %s\n", e->msg);
		return e->fatal ? CLI_EXIT_REFUSED : CLI_EXIT_FAIL;
	}
	uint32_t d = backoff_ms(s, *attempt, e);
	(*attempt)++;
	fprintf(stderr, "ringcast-cli: %s; reconnecting in %u ms\n", e->msg, d);
	cli_sleep_ms(d);
	return -1;
}

int cli_sub_run(const struct cli_opts *o)
{
	struct sub s = { .o = o };
	s.c.fd = -1;
	for (size_t i = 0; i < o->topics_len; i++)
		if (cli_topics_add(&s.ts, o->topics[i], strlen(o->topics[i]), true) == NULL) {
			fprintf(stderr, "ringcast-cli: out of memory\n");
			return CLI_EXIT_FAIL;
		}
	char err[512];
	/* written once at once too: a file that cannot be written is better known before the first
	 * message than after it */
	if (o->state != NULL && (cli_state_load(&s.ts, o->state, err, sizeof err) < 0 ||
	                         cli_state_save(&s.ts, o->state, err, sizeof err) < 0)) {
		fprintf(stderr, "ringcast-cli: %s\n", err);
		cli_topics_free(&s.ts);
		return CLI_EXIT_FAIL;
	}
	cli_out_init();
	if (o->timeout_ms > 0)
		s.deadline_ns = cli_now_ns() + o->timeout_ms * 1000000u;
	unsigned attempt = 0;
	int status = -1;
	while (status < 0) {
		struct cli_err e;
		memset(&e, 0, sizeof e);
		enum end x = session(&s, &e);
		bool healthy = s.c.opened_ns != 0 &&
		               (cli_now_ns() - s.c.opened_ns >= HEALTHY_MS * 1000000ull || s.live > 0);
		if (x != END_LOST)
			cli_conn_finish(&s.c); /* a clean close: 1000, and the server's answer */
		cli_conn_free(&s.c);
		if (x != END_FAIL && save(&s) < 0)
			x = END_FAIL;
		if (healthy)
			attempt = 0;
		status = after(&s, x, &e, &attempt);
	}
	cli_topics_free(&s.ts);
	return status;
}
