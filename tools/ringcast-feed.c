/* ringcast-feed: a synthetic market-data publisher for a ringcast server.
 *
 * It connects to a ringcast server and publishes quotes for T topics (BTC-USD, ETH-USD, ... then
 * SYM-13, SYM-14, ...) at R messages per second in total, round-robin over the topics, each a
 * small JSON object whose prices follow a random walk:
 *     {"s":"BTC-USD","n":42,"bid":65012.31,"ask":65018.81,"ts":1763898375123456789}
 * n counts the topic's messages from 1 (a plain subscriber, which gets no sequence numbers, can
 * check it for gaps); ts is the message's intended send time in Unix nanoseconds.
 *
 * Two ways to publish (docs/protocol.md):
 *   default   one connection with the ringcast.v1 subprotocol; every message is a binary PUBLISH
 *             frame (§6.3) naming its topic, flagged as text so that plain subscribers receive a
 *             TEXT message (a browser gets a string);
 *   --plain   one connection per topic, /ws?publish=TOPIC, every message a TEXT frame.
 *
 * Pacing is open loop: message k is due at t0 + k/R. The loop wakes at most once per millisecond
 * (FEED_TICK_NS), builds every message that is due, and writes each connection's batch with one
 * send(), so 100k messages/s is about 100 frames per write: formatting and masking, not system
 * calls, is the cost. Sockets are blocking (with a send timeout): a server that stops reading
 * stalls the feed, which then shows as a lower rate in the per-second line, and a batch not taken
 * within FEED_SEND_TIMEOUT_S makes the feed give up (exit 1).
 *
 * Client frames are masked (RFC 6455 §5.3) with a fresh key per frame from getrandom(2), drawn a
 * few thousand at a time. The server's answer to the upgrade is checked by RFC 6455 §4.1's client
 * rules (proto's rc_ws_client): a 101 with Upgrade: websocket, Connection: upgrade, the right
 * Sec-WebSocket-Accept, no extension and the subprotocol as offered. Pings are answered. If the
 * server closes the connection (close frame or EOF) the feed prints the close code and reason and
 * exits 1; SIGINT, SIGTERM or the end of --duration closes every connection with 1000 and exits 0
 * (a second signal exits at once).
 *
 * This file is the program: options, the publishing loop and the report. The market (topics and
 * quotes) is feed_market.c, a connection feed_conn.c; feed.h describes both.
 *
 * Output: one line per second on stderr (sent, rate over that second, frames per write) and a
 * final summary line. Exit status: 0 done, 1 connection failed or closed by the server, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "feed.h"

/* at most one wake-up (and one write per connection) per millisecond: 1000/s or less goes out
 * message by message, more is batched */
#define FEED_TICK_NS 1000000ull
#define FEED_TOPICS_MAX 100000u
#define FEED_PLAIN_TOPICS_MAX 10000u /* --plain: one descriptor per topic */
#define FEED_RATE_MAX 10000000.0

/* ---- options -------------------------------------------------------------------------------- */

struct options {
	rc_ws_url url;
	/* the request target: the URL's path and query, RC_APP_PATH if it has no path */
	char target[sizeof(((rc_ws_url *)0)->target) + sizeof RC_APP_PATH];
	uint32_t topics;
	double rate;
	double duration; /* seconds; 0 = until a signal */
	bool plain;
	const char *token; /* NULL: none */
	uint64_t seed;
	bool seed_set;
	bool quiet;
};

static struct options g_opt = {
	.topics = 8,
	.rate = 1000.0,
};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: ringcast-feed [OPTION]...\n"
	        "Publish synthetic market data (JSON quotes, a random walk) to a ringcast server.\n"
	        "\n"
	        "  --url URL        ws://HOST:PORT[/PATH] (default ws://127.0.0.1:8080; PATH default "
	        "/ws)\n"
	        "  --topics N       topics: BTC-USD, ETH-USD, ... then SYM-13, SYM-14, ... (default "
	        "8,\n"
	        "                   1..%u; with --plain at most %u)\n"
	        "  --rate R         messages per second, all topics together, round-robin (default\n"
	        "                   1000; up to %.0f)\n"
	        "  --duration S     seconds to run; 0 = until SIGINT or SIGTERM (default 0)\n"
	        "  --plain          one plain connection per topic (/ws?publish=TOPIC, TEXT frames)\n"
	        "                   instead of one ringcast.v1 connection with binary PUBLISH frames\n"
	        "  --token T        send Authorization: Bearer T (the server's --publish-token)\n"
	        "  --seed N         seed of the random walk (default: random)\n"
	        "  --quiet          no per-second lines, only the final one\n"
	        "  -h, --help       this text\n"
	        "\n"
	        "Every second a line on stderr: messages sent, rate over that second, frames per\n"
	        "write. Exit status: 0 done (duration over, or SIGINT/SIGTERM: closed with 1000),\n"
	        "1 connection refused or closed by the server (its close code is printed), 2 usage.\n",
	        FEED_TOPICS_MAX, FEED_PLAIN_TOPICS_MAX, FEED_RATE_MAX);
}

static _Noreturn void die_usage(const char *what, const char *arg)
{
	fprintf(stderr, "ringcast-feed: %s: %s\n(try ringcast-feed --help)\n", what, arg);
	exit(2);
}

static uint64_t parse_u64(const char *s, const char *flag, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		die_usage(flag, "expected a decimal integer");
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		char msg[96];
		snprintf(msg, sizeof msg, "expected an integer %llu..%llu, got '%s'",
		         (unsigned long long)lo, (unsigned long long)hi, s);
		die_usage(flag, msg);
	}
	return v;
}

static double parse_double(const char *s, const char *flag, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
		char msg[96];
		snprintf(msg, sizeof msg, "expected a number %g..%g, got '%s'", lo, hi, s);
		die_usage(flag, msg);
	}
	return v;
}

/* --url: ws://HOST[:PORT][/PATH][?QUERY]. Without a path the target is ringcast's endpoint, any
 * query kept: "ws://h:8080?x=1" publishes to /ws?x=1. */
static void set_url(const char *url)
{
	const char *why;
	if (rc_ws_url_parse(url, &g_opt.url, &why) < 0) {
		if (strncasecmp(url, "wss://", 6) == 0)
			why = "wss:// (TLS) is not supported by ringcast-feed; use ws://";
		die_usage("--url", why);
	}
	/* Without a path the URL's target is "/" or "/?QUERY": RC_APP_PATH takes the '/'. */
	const char *t = g_opt.url.target;
	size_t n = strlen(t), at = 0;
	_Static_assert(sizeof g_opt.target >= sizeof g_opt.url.target + sizeof RC_APP_PATH - 2,
	               "room for RC_APP_PATH in place of the '/'");
	if (!g_opt.url.has_path) {
		memcpy(g_opt.target, RC_APP_PATH, sizeof RC_APP_PATH - 1);
		at = sizeof RC_APP_PATH - 1;
		t++, n--;
	}
	memcpy(g_opt.target + at, t, n + 1);
}

/* --token: what the server's --publish-token accepts. */
static void set_token(const char *token)
{
	size_t n = strlen(token);
	bool ok = n >= 1 && n <= RC_APP_TOKEN_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = token[i] >= 0x21 && token[i] <= 0x7e;
	if (!ok)
		die_usage("--token", "1-256 bytes of printable ASCII, no space");
	g_opt.token = token;
}

static void parse_args(int argc, char **argv)
{
	enum {
		O_URL = 256,
		O_TOPICS,
		O_RATE,
		O_DURATION,
		O_PLAIN,
		O_TOKEN,
		O_SEED,
		O_QUIET
	};
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "topics", required_argument, NULL, O_TOPICS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "seed", required_argument, NULL, O_SEED },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	set_url("ws://127.0.0.1:8080");
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_URL:
			set_url(optarg);
			break;
		case O_TOPICS:
			g_opt.topics = (uint32_t)parse_u64(optarg, "--topics", 1, FEED_TOPICS_MAX);
			break;
		case O_RATE:
			g_opt.rate = parse_double(optarg, "--rate", 0.001, FEED_RATE_MAX);
			break;
		case O_DURATION:
			g_opt.duration = parse_double(optarg, "--duration", 0, 1e9);
			break;
		case O_PLAIN:
			g_opt.plain = true;
			break;
		case O_TOKEN:
			set_token(optarg);
			break;
		case O_SEED:
			g_opt.seed = parse_u64(optarg, "--seed", 0, UINT64_MAX);
			g_opt.seed_set = true;
			break;
		case O_QUIET:
			g_opt.quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "(try ringcast-feed --help)\n");
			exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (g_opt.plain && g_opt.topics > FEED_PLAIN_TOPICS_MAX)
		die_usage("--topics", "at most 10000 with --plain (one connection each)");
}

/* ---- setting up ------------------------------------------------------------------------------ */

static struct feed_topic *g_topics;
static struct feed_conn *g_conns;
static uint32_t g_nconns;
static struct pollfd *g_pfd; /* one per connection, for the loop's waits */

volatile sig_atomic_t feed_stop; /* feed.h */

static void on_signal(int sig)
{
	(void)sig;
	feed_stop++;
	if (feed_stop >= 2)
		_exit(1); /* a second signal: leave now */
}

static void *alloc_or_die(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		exit(1);
	}
	return p;
}

/* The topics, and their connections opened: one ringcast.v1 connection, or one plain connection
 * per topic. A connection refused, or closed by the server at once, ends the program (exit 1). */
static void set_up(void)
{
	if (!g_opt.seed_set)
		feed_random(&g_opt.seed, sizeof g_opt.seed);
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: waits wake up */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	g_nconns = g_opt.plain ? g_opt.topics : 1;
	g_conns = alloc_or_die(g_nconns, sizeof *g_conns);
	g_topics = feed_topics_make(g_opt.topics, g_nconns, g_opt.seed);
	const struct feed_dest dest = { .url = &g_opt.url,
		                            .target = g_opt.target,
		                            .token = g_opt.token };
	for (uint32_t i = 0; i < g_nconns; i++) {
		struct feed_conn *c = &g_conns[i];
		c->label = g_opt.plain ? g_topics[i].name : RC_APP_SUBPROTOCOL;
		feed_conn_open(c, &dest, g_opt.plain ? g_topics[i].name : NULL);
		if (c->close_rcvd) {
			feed_conn_report_close(c);
			exit(1);
		}
		if (c->eof || feed_stop) /* eof: a bad frame came with the 101 (already said) */
			exit(1);
	}
	g_pfd = alloc_or_die(g_nconns, sizeof *g_pfd);
	for (uint32_t i = 0; i < g_nconns; i++) {
		g_pfd[i].fd = g_conns[i].fd;
		g_pfd[i].events = POLLIN;
	}
	fprintf(stderr,
	        "ringcast-feed: publishing %u topic%s at %.10g msg/s to ws://%s%s over %u %s "
	        "connection%s%s\n",
	        g_opt.topics, g_opt.topics == 1 ? "" : "s", g_opt.rate, g_opt.url.hostport,
	        g_opt.target, g_nconns, g_opt.plain ? "plain" : RC_APP_SUBPROTOCOL,
	        g_nconns == 1 ? "" : "s", g_opt.duration > 0 ? "" : " (Ctrl-C to stop)");
}

/* ---- the publishing loop ---------------------------------------------------------------------- */

/* Open-loop pacing: message k is due at t0 + k * period_ns. */
struct pace {
	double period_ns;
	uint64_t t0, wall0; /* monotonic and Unix time of message 0 */
	uint64_t total;     /* messages to send: ceil(duration * rate), or UINT64_MAX */
	uint64_t t_end;     /* when --duration is over, or UINT64_MAX */
	uint64_t k;         /* next message to build */
	uint64_t sent;      /* messages built */
	uint64_t next_report, last_report, last_sent, last_writes;
};

static void pace_start(struct pace *p)
{
	*p = (struct pace){ .period_ns = 1e9 / g_opt.rate, .total = UINT64_MAX, .t_end = UINT64_MAX };
	p->t0 = feed_clock_ns(CLOCK_MONOTONIC);
	p->wall0 = feed_clock_ns(CLOCK_REALTIME);
	if (g_opt.duration > 0) {
		/* Messages whose intended time falls inside --duration: ceil(duration * rate). */
		double want = g_opt.duration * g_opt.rate;
		p->total = (uint64_t)want;
		if ((double)p->total < want)
			p->total++;
		p->t_end = p->t0 + (uint64_t)(g_opt.duration * 1e9);
	}
	p->next_report = p->t0 + 1000000000u;
	p->last_report = p->t0;
}

/* Build every message due by now into its connection's batch. Returns the connection whose send
 * failed (a full batch is sent on the way), or NULL. */
static struct feed_conn *build_due(struct pace *p, uint64_t now)
{
	uint8_t pubhdr[RC_APP_PUB_HEADER_MAX];
	char json[FEED_PAYLOAD_MAX];
	uint64_t due = (uint64_t)((double)(now - p->t0) / p->period_ns) + 1;
	if (due > p->total)
		due = p->total;
	for (; p->k < due; p->k++) {
		struct feed_topic *t = &g_topics[p->k % g_opt.topics];
		struct feed_conn *c = &g_conns[t->conn];
		if (c->out_len + FEED_FRAME_MAX > FEED_OUT_CAP && feed_conn_flush(c) < 0)
			return c;
		uint64_t ts = p->wall0 + (uint64_t)((double)p->k * p->period_ns);
		size_t jl = feed_quote_json(t, ts, json);
		if (g_opt.plain) {
			feed_conn_frame(c, RC_OPCODE_TEXT, NULL, 0, json, jl);
		} else {
			size_t hl = rc_app_pub_encode_header(pubhdr, RC_APP_FLAG_TEXT, (const uint8_t *)t->name,
			                                     t->name_len, 0);
			feed_conn_frame(c, RC_OPCODE_BINARY, pubhdr, hl, json, jl);
		}
		p->sent++;
	}
	return NULL;
}

static struct feed_conn *flush_all(void)
{
	for (uint32_t i = 0; i < g_nconns; i++)
		if (feed_conn_flush(&g_conns[i]) < 0)
			return &g_conns[i];
	return NULL;
}

/* Once a second: messages sent, the rate over that second, frames per write. */
static void report_second(struct pace *p, uint64_t now)
{
	if (now < p->next_report)
		return;
	double secs = (double)(now - p->last_report) / 1e9;
	uint64_t dw = feed_counts.writes - p->last_writes;
	if (!g_opt.quiet)
		fprintf(stderr, "ringcast-feed: %.0fs sent=%llu rate=%.0f/s frames/write=%.1f\n",
		        (double)(now - p->t0) / 1e9, (unsigned long long)p->sent,
		        (double)(p->sent - p->last_sent) / secs,
		        dw ? (double)(p->sent - p->last_sent) / (double)dw : 0.0);
	p->last_sent = p->sent;
	p->last_writes = feed_counts.writes;
	p->last_report = now;
	while (p->next_report <= now)
		p->next_report += 1000000000u;
}

/* Sleep until the next message is due, but at least a tick, and not past the next report or the
 * end; meanwhile read what the server says. Returns 0, or -1 if ppoll failed; *failed is set to a
 * connection that is finished. */
static int wait_and_read(const struct pace *p, uint64_t now, struct feed_conn **failed)
{
	uint64_t wake = p->k < p->total ? p->t0 + (uint64_t)((double)p->k * p->period_ns) : p->t_end;
	if (wake < now + FEED_TICK_NS)
		wake = now + FEED_TICK_NS;
	if (wake > p->next_report)
		wake = p->next_report;
	if (wake > p->t_end)
		wake = p->t_end;
	uint64_t wait = wake > now ? wake - now : 0;
	struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000u),
		                   .tv_nsec = (long)(wait % 1000000000u) };
	int r = ppoll(g_pfd, g_nconns, &ts, NULL);
	if (r < 0 && errno != EINTR) {
		perror("ringcast-feed: ppoll");
		return -1;
	}
	for (uint32_t i = 0; r > 0 && i < g_nconns; i++) {
		if (g_pfd[i].revents != 0 && feed_conn_read(&g_conns[i]) < 0) {
			*failed = &g_conns[i];
			break;
		}
	}
	return 0;
}

/* Publish until --duration is over, a signal, or a connection fails (*failed). Returns the exit
 * status so far: 0, or 1 if ppoll failed. */
static int publish(struct pace *p, struct feed_conn **failed)
{
	*failed = NULL;
	while (!feed_stop && *failed == NULL) {
		uint64_t now = feed_clock_ns(CLOCK_MONOTONIC);
		if (p->k >= p->total && now >= p->t_end)
			break;
		*failed = build_due(p, now);
		if (*failed == NULL)
			*failed = flush_all();
		if (*failed != NULL)
			break;
		now = feed_clock_ns(CLOCK_MONOTONIC);
		report_second(p, now);
		if (wait_and_read(p, now, failed) < 0)
			return 1;
	}
	return 0;
}

/* ---- shutting down ---------------------------------------------------------------------------- */

/* A connection failed: its close frame may still be on the way (a failed send usually means the
 * server closed), so wait for it up to a second, then say why it ended. */
static void report_failure(struct feed_conn *failed)
{
	if (!failed->close_rcvd && !failed->eof) {
		struct pollfd one = { .fd = failed->fd, .events = POLLIN };
		uint64_t until = feed_clock_ns(CLOCK_MONOTONIC) + 1000000000u;
		while (!failed->close_rcvd && !failed->eof) {
			uint64_t now = feed_clock_ns(CLOCK_MONOTONIC);
			if (now >= until || poll(&one, 1, (int)((until - now) / 1000000u) + 1) <= 0)
				break;
			(void)feed_conn_read(failed);
		}
	}
	feed_conn_report_close(failed);
	if (failed->send_err != 0)
		failed->eof = true; /* no close frame through a socket that takes nothing */
}

static void report_final(int status, const struct pace *p)
{
	double secs = (double)(feed_clock_ns(CLOCK_MONOTONIC) - p->t0) / 1e9;
	const struct feed_counts *n = &feed_counts;
	fprintf(stderr,
	        "ringcast-feed: %s: sent %llu messages in %.1f s (%.0f/s) on %u topic%s, "
	        "%llu bytes in %llu writes (%.1f frames/write)%s%llu error notice%s\n",
	        status == 0 ? "done" : "stopped", (unsigned long long)p->sent, secs,
	        secs > 0 ? (double)p->sent / secs : 0.0, g_opt.topics, g_opt.topics == 1 ? "" : "s",
	        (unsigned long long)n->sent_bytes, (unsigned long long)n->writes,
	        n->writes ? (double)p->sent / (double)n->writes : 0.0, ", ",
	        (unsigned long long)n->error_notices, n->error_notices == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	set_up();

	struct pace pace;
	pace_start(&pace);
	struct feed_conn *failed;
	int status = publish(&pace, &failed);
	if (failed != NULL) {
		report_failure(failed);
		status = 1;
	}

	feed_conns_close_all(g_conns, g_nconns);
	report_final(status, &pace);
	for (uint32_t i = 0; i < g_nconns; i++)
		feed_conn_free(&g_conns[i]);
	free(g_pfd);
	free(g_conns);
	free(g_topics);
	return status;
}
