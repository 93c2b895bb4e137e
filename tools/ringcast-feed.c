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
 * few thousand at a time. The handshake's Sec-WebSocket-Accept is checked with rc_ws_accept.
 * Pings are answered. If the server closes the connection (close frame or EOF) the feed prints
 * the close code and reason and exits 1; SIGINT, SIGTERM or the end of --duration closes every
 * connection with 1000 and exits 0 (a second signal exits at once).
 *
 * Output: one line per second on stderr (sent, rate over that second, frames per write) and a
 * final summary line. Exit status: 0 done, 1 connection failed or closed by the server, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_app.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_handshake.h"
#include "rc_mask.h"

/* at most one wake-up (and one write per connection) per millisecond: 1000/s or less goes out
 * message by message, more is batched */
#define FEED_TICK_NS 1000000ull
/* a connection's batch buffer; a fuller tick sends several times */
#define FEED_OUT_CAP (256u << 10)
#define FEED_IN_CAP (16u << 10) /* read buffer */
#define FEED_NOTICE_MAX (RC_APP_JSON_LEN_MAX + 1)
#define FEED_PAYLOAD_MAX 256 /* a quote's JSON is under 160 bytes */
#define FEED_FRAME_MAX (RC_FRAME_HEADER_MAX + RC_APP_PUB_HEADER_MAX + FEED_PAYLOAD_MAX)
#define FEED_KEYS 4096         /* masking keys drawn per getrandom call */
#define FEED_SEND_TIMEOUT_S 10 /* one batch not taken in this long: give up */
#define FEED_HANDSHAKE_TIMEOUT_S 10
#define FEED_CLOSE_WAIT_MS 3000 /* wait for the server's close frame after ours */
#define FEED_TOPICS_MAX 100000u
#define FEED_PLAIN_TOPICS_MAX 10000u /* --plain: one descriptor per topic */
#define FEED_RATE_MAX 10000000.0
#define FEED_NAME_MAX 24

/* ---- options -------------------------------------------------------------------------------- */

struct options {
	char host[256]; /* as in the URL, without brackets */
	char port[8];
	char hostport[300]; /* for the Host header: as written in the URL */
	char path[1024];    /* path and query of the URL, "/ws" if none */
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

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop++;
	if (g_stop >= 2)
		_exit(1); /* a second signal: leave now */
}

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

/* ws://HOST:PORT[/PATH[?QUERY]], HOST a name, an IPv4 literal or [IPv6]. */
static void parse_url(const char *url, struct options *o)
{
	const char *p;
	if (strncasecmp(url, "ws://", 5) == 0)
		p = url + 5;
	else if (strncasecmp(url, "wss://", 6) == 0)
		die_usage("--url", "wss:// (TLS) is not supported by ringcast-feed; use ws://");
	else
		die_usage("--url", "must start with ws://");
	const char *auth_end = p + strcspn(p, "/?");
	size_t alen = (size_t)(auth_end - p);
	if (alen == 0 || alen >= sizeof o->hostport)
		die_usage("--url", "missing or overlong HOST:PORT");
	memcpy(o->hostport, p, alen);
	o->hostport[alen] = '\0';
	const char *port = NULL;
	if (o->hostport[0] == '[') {
		const char *close = strchr(o->hostport, ']');
		if (close == NULL)
			die_usage("--url", "unterminated [IPv6] address");
		size_t hl = (size_t)(close - o->hostport - 1);
		memcpy(o->host, o->hostport + 1, hl);
		o->host[hl] = '\0';
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			die_usage("--url", "expected :PORT after the [IPv6] address");
	} else {
		const char *colon = strrchr(o->hostport, ':');
		size_t hl = colon ? (size_t)(colon - o->hostport) : alen;
		memcpy(o->host, o->hostport, hl);
		o->host[hl] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (o->host[0] == '\0')
		die_usage("--url", "missing host");
	if (port == NULL || *port == '\0')
		port = "80"; /* ws:// without a port is port 80 (RFC 6455 §3) */
	(void)parse_u64(port, "--url port", 1, 65535);
	snprintf(o->port, sizeof o->port, "%s", port);
	if (*auth_end == '\0')
		snprintf(o->path, sizeof o->path, "%s", RC_APP_PATH);
	else if (*auth_end == '?')
		snprintf(o->path, sizeof o->path, "%s%s", RC_APP_PATH, auth_end);
	else if (strlen(auth_end) < sizeof o->path)
		snprintf(o->path, sizeof o->path, "%s", auth_end);
	else
		die_usage("--url", "path too long");
	for (const char *c = o->path; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '#')
			die_usage("--url", "the path must be printable ASCII without spaces or '#'");
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
	parse_url("ws://127.0.0.1:8080", &g_opt);
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_URL:
			parse_url(optarg, &g_opt);
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
		case O_TOKEN: {
			size_t n = strlen(optarg);
			bool ok = n >= 1 && n <= RC_APP_TOKEN_MAX;
			for (size_t i = 0; ok && i < n; i++)
				ok = optarg[i] >= 0x21 && optarg[i] <= 0x7e;
			if (!ok)
				die_usage("--token", "1-256 bytes of printable ASCII, no space");
			g_opt.token = optarg;
			break;
		}
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

/* ---- clocks, randomness ----------------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fill_random(void *p, size_t n)
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
		fill_random(g_keys, sizeof g_keys);
		g_keys_left = FEED_KEYS;
	}
	return g_keys[--g_keys_left];
}

/* The random walk needs no secrecy: splitmix64. */
static uint64_t g_rng;

static uint64_t rng_next(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- the market ------------------------------------------------------------------------------- */

struct topic {
	char name[FEED_NAME_MAX];
	uint8_t name_len;
	uint8_t dp;    /* decimals of the price */
	int64_t mid;   /* in units of 10^-dp */
	uint64_t n;    /* messages published on it */
	uint32_t conn; /* index of the connection that publishes it */
};

static const struct {
	const char *name;
	uint8_t dp;
	int64_t mid;
} g_known[] = {
	{ "BTC-USD", 2, 6500000 }, { "ETH-USD", 2, 350000 }, { "SOL-USD", 3, 150000 },
	{ "XRP-USD", 4, 6000 },    { "BNB-USD", 2, 58000 },  { "DOGE-USD", 5, 15000 },
	{ "ADA-USD", 4, 4500 },    { "AVAX-USD", 3, 35000 }, { "LINK-USD", 3, 15000 },
	{ "DOT-USD", 3, 7000 },    { "LTC-USD", 2, 8000 },   { "BCH-USD", 2, 45000 },
};
#define KNOWN_COUNT (sizeof g_known / sizeof g_known[0])

static struct topic *g_topics;

static void topics_init(uint32_t n, uint32_t nconn)
{
	g_topics = calloc(n, sizeof *g_topics);
	if (g_topics == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct topic *t = &g_topics[i];
		if (i < KNOWN_COUNT) {
			snprintf(t->name, sizeof t->name, "%s", g_known[i].name);
			t->dp = g_known[i].dp;
			t->mid = g_known[i].mid;
		} else {
			snprintf(t->name, sizeof t->name, "SYM-%u", i + 1);
			t->dp = 2;
			t->mid = 1000 + (int64_t)(rng_next() % 99000); /* 10.00 .. 999.99 */
		}
		t->name_len = (uint8_t)strlen(t->name);
		t->conn = nconn == 1 ? 0 : i;
	}
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (i > 0)
		*p++ = tmp[--i];
	return p;
}

/* v in units of 10^-dp, v >= 0 */
static char *put_price(char *p, int64_t v, unsigned dp)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	uint64_t u = (uint64_t)v, scale = pow10[dp];
	p = put_u64(p, u / scale);
	if (dp > 0) {
		*p++ = '.';
		uint64_t frac = u % scale;
		for (unsigned i = dp; i > 0; i--) {
			p[i - 1] = (char)('0' + frac % 10);
			frac /= 10;
		}
		p += dp;
	}
	return p;
}

/* Step topic t's walk and write its next quote at out. Returns the length. */
static size_t quote_json(struct topic *t, uint64_t ts_ns, char *out)
{
	int64_t step = t->mid / 10000 > 0 ? t->mid / 10000 : 1; /* about a basis point */
	switch (rng_next() % 4) {
	case 0:
		t->mid -= step;
		break;
	case 1:
		t->mid += step;
		break;
	default:
		break;
	}
	int64_t half = t->mid / 20000 > 0 ? t->mid / 20000 : 1;
	if (t->mid < 10 * half + 10)
		t->mid = 10 * half + 10;
	t->n++;
	char *p = out;
	p = put_str(p, "{\"s\":\"", 6);
	p = put_str(p, t->name, t->name_len);
	p = put_str(p, "\",\"n\":", 6);
	p = put_u64(p, t->n);
	p = put_str(p, ",\"bid\":", 7);
	p = put_price(p, t->mid - half, t->dp);
	p = put_str(p, ",\"ask\":", 7);
	p = put_price(p, t->mid + half, t->dp);
	p = put_str(p, ",\"ts\":", 6);
	p = put_u64(p, ts_ns);
	*p++ = '}';
	return (size_t)(p - out);
}

/* ---- connections ------------------------------------------------------------------------------ */

struct conn {
	int fd;
	const char *label; /* "ringcast.v1" or the topic, for messages */
	rc_frame_parser fp;
	uint8_t *out; /* frames waiting to be sent */
	size_t out_len;
	uint8_t *in;     /* FEED_IN_CAP */
	uint8_t *notice; /* a TEXT message being assembled (ringcast.v1 notices) */
	size_t notice_len;
	bool notice_skip; /* too long: ignored */
	bool in_text;
	bool close_sent;
	bool close_rcvd;
	bool eof;
	int send_err; /* errno of a failed send, 0 if none */
	uint16_t close_code;
	char close_reason[RC_CLOSE_REASON_MAX + 1];
};

static struct conn *g_conns;
static uint32_t g_nconns;

/* Counters for the report. */
static uint64_t g_sent_msgs, g_sent_bytes, g_writes, g_error_notices;

static const char *conn_label(const struct conn *c)
{
	return c->label;
}

/* Write all of p[0..n) or fail. A signal does not cut a frame: the send is retried (a second
 * signal exits). The socket's send timeout (1 s) hands control back now and then; the whole call
 * may take FEED_SEND_TIMEOUT_S, which is ample for a batch of at most FEED_OUT_CAP bytes unless
 * the server has stopped reading (a trickle of window probes would defeat a per-call timeout).
 * Returns 0, or -errno: -ETIMEDOUT when the deadline passed. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + FEED_SEND_TIMEOUT_S * 1000000000ull;
	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			g_writes++;
		} else if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			return -errno;
		}
		if (n > 0 && clock_ns(CLOCK_MONOTONIC) >= deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Append one client frame (masked with a fresh key) to c's batch. The caller made room. */
static void frame_append(struct conn *c, uint8_t opcode, const uint8_t *prefix, size_t plen,
                         const void *payload, size_t len)
{
	const uint8_t *key = next_key();
	uint8_t *f = c->out + c->out_len;
	size_t h = rc_frame_header_encode(f, opcode, true, plen + len, key);
	if (plen > 0)
		memcpy(f + h, prefix, plen);
	if (len > 0)
		memcpy(f + h + plen, payload, len);
	rc_mask_apply(f + h, plen + len, key, 0);
	c->out_len += h + plen + len;
}

static int conn_flush(struct conn *c)
{
	if (c->out_len == 0)
		return 0;
	int r = send_all(c->fd, c->out, c->out_len);
	if (r == 0)
		g_sent_bytes += c->out_len;
	else if (c->send_err == 0)
		c->send_err = -r;
	c->out_len = 0;
	return r;
}

/* A control frame, sent at once (it goes behind the batch already written). */
static int conn_control(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
	int r = conn_flush(c);
	if (r < 0)
		return r;
	frame_append(c, opcode, NULL, 0, p, n);
	return conn_flush(c);
}

static int conn_send_close(struct conn *c, uint16_t code, const char *reason)
{
	if (c->close_sent)
		return 0;
	uint8_t payload[2 + RC_CLOSE_REASON_MAX];
	size_t n = rc_close_payload(payload, code, reason);
	c->close_sent = true;
	return conn_control(c, RC_OPCODE_CLOSE, payload, n);
}

/* A complete TEXT message from the server: on ringcast.v1, a notice. Errors are worth a line
 * (the first few of them); the rest (subscribed, missed) do not concern a publisher. */
static void on_notice(struct conn *c)
{
	rc_app_notice nt;
	if (rc_app_notice_parse(c->notice, c->notice_len, &nt) != RC_APP_OK) {
		fprintf(stderr, "ringcast-feed: %s: unexpected text from the server (%zu bytes)\n",
		        conn_label(c), c->notice_len);
		return;
	}
	if (nt.type != RC_APP_NOTICE_ERROR)
		return;
	g_error_notices++;
	if (g_error_notices <= 5) {
		char msg[6 * RC_APP_MESSAGE_MAX + 1];
		size_t n = rc_app_notice_message(&nt, msg, sizeof msg - 1);
		msg[n] = '\0';
		fprintf(stderr, "ringcast-feed: %s: server error notice: %s: %s%s\n", conn_label(c),
		        rc_app_error_name(nt.code), msg,
		        g_error_notices == 5 ? " (further notices are only counted)" : "");
	}
}

/* Read what the server sent, without blocking. Returns 0, or -1 if the connection is finished
 * (EOF, reset, protocol error, or its close frame came in); details are in c. */
static int conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in, FEED_IN_CAP, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fprintf(stderr, "ringcast-feed: %s: recv: %s\n", conn_label(c), strerror(errno));
			c->eof = true;
			return -1;
		}
		if (n == 0) {
			c->eof = true;
			return -1;
		}
		uint8_t *p = c->in;
		size_t len = (size_t)n;
		for (;;) {
			rc_frame_event ev;
			ssize_t used = rc_frame_parse(&c->fp, p, len, &ev);
			if (used < 0) {
				const char *why;
				uint16_t code = rc_frame_error(&c->fp, &why);
				fprintf(stderr, "ringcast-feed: %s: bad frame from the server: %s\n", conn_label(c),
				        why);
				(void)conn_send_close(c, code, why);
				c->eof = true;
				return -1;
			}
			p += used;
			len -= (size_t)used;
			if (ev.type == RC_FRAME_NEED_MORE)
				break;
			if (ev.type == RC_FRAME_DATA_START) {
				if (ev.opcode != RC_OPCODE_CONT) {
					c->in_text = ev.msg_opcode == RC_OPCODE_TEXT;
					c->notice_len = 0;
					c->notice_skip = false;
				}
			} else if (ev.type == RC_FRAME_DATA && c->in_text) {
				if (c->notice_len + ev.data_len > FEED_NOTICE_MAX)
					c->notice_skip = true;
				else
					memcpy(c->notice + c->notice_len, ev.data, ev.data_len);
				c->notice_len += ev.data_len;
				if (ev.msg_end && !c->notice_skip)
					on_notice(c);
			} else if (ev.type == RC_FRAME_CONTROL) {
				if (ev.opcode == RC_OPCODE_PING && !c->close_sent) {
					if (conn_control(c, RC_OPCODE_PONG, ev.data, ev.data_len) < 0) {
						c->eof = true;
						return -1;
					}
				} else if (ev.opcode == RC_OPCODE_CLOSE) {
					c->close_rcvd = true;
					c->close_code = ev.close_code;
					size_t rl = ev.close_reason_len < RC_CLOSE_REASON_MAX ? ev.close_reason_len
					                                                      : RC_CLOSE_REASON_MAX;
					memcpy(c->close_reason, ev.close_reason, rl);
					c->close_reason[rl] = '\0';
					/* Answer with the same code (RFC 6455 §5.5.1), unless it was the
					 * answer to ours. */
					uint16_t echo =
					        ev.close_code == RC_CLOSE_NO_STATUS ? RC_CLOSE_NORMAL : ev.close_code;
					(void)conn_send_close(c, echo, NULL);
					return -1;
				}
			}
		}
	}
}

/* Make c's socket: connect, upgrade, check the answer. Exits on failure (nothing to clean up
 * that the kernel does not). */
static void conn_open(struct conn *c, const char *publish)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(g_opt.host, g_opt.port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "ringcast-feed: %s: %s\n", g_opt.host, gai_strerror(gai));
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
		        g_opt.hostport, strerror(err));
		exit(1);
	}
	int one = 1;
	/* The feed batches by itself; a batch should leave at once, not wait for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = { .tv_sec = FEED_HANDSHAKE_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	tv.tv_sec = 1; /* send_all's deadline is checked at least this often */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

	/* Sec-WebSocket-Key: base64 of 16 random bytes. */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t nonce[18] = { 0 };
	fill_random(nonce, 16);
	char key[RC_WS_KEY_LEN + 1];
	for (int i = 0, o = 0; i < 18; i += 3) {
		uint32_t v = (uint32_t)nonce[i] << 16 | (uint32_t)nonce[i + 1] << 8 | nonce[i + 2];
		key[o++] = b64[v >> 18 & 63];
		key[o++] = b64[v >> 12 & 63];
		key[o++] = b64[v >> 6 & 63];
		key[o++] = b64[v & 63];
	}
	key[22] = key[23] = '=';
	key[RC_WS_KEY_LEN] = '\0';
	char expect[RC_WS_ACCEPT_LEN + 1];
	if (rc_ws_accept(key, RC_WS_KEY_LEN, expect) != 0) {
		fprintf(stderr, "ringcast-feed: cannot compute Sec-WebSocket-Accept\n");
		exit(1);
	}
	expect[RC_WS_ACCEPT_LEN] = '\0';

	char req[2048 + RC_APP_TOKEN_MAX];
	int n = snprintf(req, sizeof req,
	                 "GET %s%s%s%s HTTP/1.1\r\n"
	                 "Host: %s\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n"
	                 "%s%s%s"
	                 "%s%s%s"
	                 "User-Agent: ringcast-feed\r\n"
	                 "\r\n",
	                 g_opt.path, publish ? (strchr(g_opt.path, '?') ? "&" : "?") : "",
	                 publish ? "publish=" : "", publish ? publish : "", g_opt.hostport, key,
	                 publish ? "" : "Sec-WebSocket-Protocol: ", publish ? "" : RC_APP_SUBPROTOCOL,
	                 publish ? "" : "\r\n", g_opt.token ? "Authorization: Bearer " : "",
	                 g_opt.token ? g_opt.token : "", g_opt.token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof req) {
		fprintf(stderr, "ringcast-feed: request too long\n");
		exit(1);
	}
	if (send_all(fd, (const uint8_t *)req, (size_t)n) < 0) {
		fprintf(stderr, "ringcast-feed: %s: sending the handshake: %s\n", g_opt.hostport,
		        strerror(errno));
		exit(1);
	}

	/* The answer's head, up to the empty line; frames may follow it in the same read. */
	char head[8192 + 1];
	size_t have = 0;
	char *end = NULL;
	while (end == NULL) {
		if (have == sizeof head - 1) {
			fprintf(stderr, "ringcast-feed: %s: answer head over 8 KiB\n", g_opt.hostport);
			exit(1);
		}
		ssize_t r = recv(fd, head + have, sizeof head - 1 - have, 0);
		if (r < 0 && errno == EINTR && !g_stop)
			continue;
		if (r <= 0) {
			fprintf(stderr, "ringcast-feed: %s: no answer to the handshake (%s)\n", g_opt.hostport,
			        r == 0            ? "connection closed"
			        : errno == EAGAIN ? "timed out"
			                          : strerror(errno));
			exit(1);
		}
		have += (size_t)r;
		head[have] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	size_t head_len = (size_t)(end - head) + 4;
	*end = '\0';
	int status = 0;
	if (sscanf(head, "HTTP/1.%*1[01] %3d", &status) != 1) {
		fprintf(stderr, "ringcast-feed: %s: not an HTTP answer\n", g_opt.hostport);
		exit(1);
	}
	if (status != 101) {
		/* The refusal's body is one line saying why (docs/protocol.md §4). */
		const char *line_end = strstr(head, "\r\n");
		int sl = line_end ? (int)(line_end - head) : (int)strlen(head);
		const char *body = end + 4;
		size_t bl = have - head_len;
		while (bl > 0 && (body[bl - 1] == '\n' || body[bl - 1] == '\r'))
			bl--;
		fprintf(stderr, "ringcast-feed: %s refused the WebSocket upgrade: %.*s%s%.*s\n",
		        g_opt.hostport, sl, head, bl ? ": " : "", (int)bl, body);
		exit(1);
	}
	bool accept_ok = false, proto_v1 = false, has_proto = false;
	for (char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
		line += 2;
		char *colon = strchr(line, ':');
		char *eol = strstr(line, "\r\n");
		if (colon == NULL || (eol != NULL && colon > eol))
			continue;
		size_t nl = (size_t)(colon - line);
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = eol ? (size_t)(eol - v) : strlen(v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (nl == 20 && strncasecmp(line, "Sec-WebSocket-Accept", nl) == 0)
			accept_ok = vl == RC_WS_ACCEPT_LEN && memcmp(v, expect, vl) == 0;
		else if (nl == 22 && strncasecmp(line, "Sec-WebSocket-Protocol", nl) == 0) {
			has_proto = true;
			proto_v1 = vl == strlen(RC_APP_SUBPROTOCOL) && memcmp(v, RC_APP_SUBPROTOCOL, vl) == 0;
		}
	}
	if (!accept_ok) {
		fprintf(stderr,
		        "ringcast-feed: %s: missing or wrong Sec-WebSocket-Accept in the "
		        "101 (expected %s)\n",
		        g_opt.hostport, expect);
		exit(1);
	}
	if (publish == NULL && !proto_v1) {
		fprintf(stderr,
		        "ringcast-feed: %s did not accept the %s subprotocol (not ringcast? "
		        "try --plain)\n",
		        g_opt.hostport, RC_APP_SUBPROTOCOL);
		exit(1);
	}
	if (publish != NULL && has_proto) {
		fprintf(stderr, "ringcast-feed: %s chose a subprotocol nobody asked for\n", g_opt.hostport);
		exit(1);
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	c->fd = fd;
	rc_frame_cfg fc = { .role = RC_FRAME_CLIENT, .message_max = 0, .rsv_allowed = 0 };
	rc_frame_parser_init(&c->fp, &fc);
	c->out = malloc(FEED_OUT_CAP);
	c->in = malloc(FEED_IN_CAP);
	c->notice = malloc(FEED_NOTICE_MAX);
	if (c->out == NULL || c->in == NULL || c->notice == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		exit(1);
	}
	/* Frames that came with the 101 (a close, say) go through the parser like any others. */
	size_t extra = have - head_len;
	if (extra > 0) {
		memcpy(c->in, head + head_len, extra);
		uint8_t *p = c->in;
		for (;;) {
			rc_frame_event ev;
			ssize_t used = rc_frame_parse(&c->fp, p, extra, &ev);
			if (used < 0 || ev.type == RC_FRAME_NEED_MORE)
				break;
			if (ev.type == RC_FRAME_CONTROL && ev.opcode == RC_OPCODE_CLOSE) {
				c->close_rcvd = true;
				c->close_code = ev.close_code;
			}
			p += used;
			extra -= (size_t)used;
		}
	}
}

/* ---- reporting -------------------------------------------------------------------------------- */

static void report_close(const struct conn *c)
{
	if (c->close_rcvd) {
		fprintf(stderr, "ringcast-feed: %s: the server closed the connection: %u (%s)%s%s%s\n",
		        conn_label(c), c->close_code, rc_close_code_name(c->close_code),
		        c->close_reason[0] ? " \"" : "", c->close_reason, c->close_reason[0] ? "\"" : "");
	} else if (c->send_err == ETIMEDOUT) {
		fprintf(stderr,
		        "ringcast-feed: %s: the server did not take one batch in %d s "
		        "(stopped reading?): giving up\n",
		        conn_label(c), FEED_SEND_TIMEOUT_S);
	} else if (c->send_err != 0 && c->send_err != EPIPE && c->send_err != ECONNRESET) {
		fprintf(stderr, "ringcast-feed: %s: send: %s\n", conn_label(c), strerror(c->send_err));
	} else {
		fprintf(stderr,
		        "ringcast-feed: %s: the server closed the connection without a close "
		        "frame (1006)\n",
		        conn_label(c));
	}
}

/* Our side of the closing handshake on every connection still up: close 1000, then wait a
 * little for the server's answer so that it sees a clean close. */
static void close_all(void)
{
	for (uint32_t i = 0; i < g_nconns; i++) {
		struct conn *c = &g_conns[i];
		if (!c->eof && !c->close_rcvd && conn_send_close(c, RC_CLOSE_NORMAL, "feed done") < 0)
			c->eof = true;
	}
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + FEED_CLOSE_WAIT_MS * 1000000ull;
	for (;;) {
		uint32_t waiting = 0;
		struct pollfd *pfd = calloc(g_nconns, sizeof *pfd);
		if (pfd == NULL)
			break;
		for (uint32_t i = 0; i < g_nconns; i++) {
			const struct conn *c = &g_conns[i];
			pfd[i].fd = c->eof || c->close_rcvd ? -1 : c->fd;
			pfd[i].events = POLLIN;
			if (pfd[i].fd >= 0)
				waiting++;
		}
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (waiting == 0 || now >= deadline) {
			free(pfd);
			break;
		}
		int r = poll(pfd, g_nconns, (int)((deadline - now) / 1000000u) + 1);
		for (uint32_t i = 0; r > 0 && i < g_nconns; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents)
				(void)conn_read(&g_conns[i]);
		free(pfd);
		if (g_stop >= 2)
			break;
	}
	for (uint32_t i = 0; i < g_nconns; i++)
		close(g_conns[i].fd);
}

/* ---- the loop --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	if (!g_opt.seed_set)
		fill_random(&g_opt.seed, sizeof g_opt.seed);
	g_rng = g_opt.seed;

	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: waits wake up */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	g_nconns = g_opt.plain ? g_opt.topics : 1;
	g_conns = calloc(g_nconns, sizeof *g_conns);
	if (g_conns == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		return 1;
	}
	topics_init(g_opt.topics, g_nconns);
	for (uint32_t i = 0; i < g_nconns; i++) {
		g_conns[i].label = g_opt.plain ? g_topics[i].name : RC_APP_SUBPROTOCOL;
		conn_open(&g_conns[i], g_opt.plain ? g_topics[i].name : NULL);
		if (g_conns[i].close_rcvd) {
			report_close(&g_conns[i]);
			return 1;
		}
		if (g_stop)
			return 1;
	}
	struct pollfd *pfd = calloc(g_nconns, sizeof *pfd);
	if (pfd == NULL) {
		fprintf(stderr, "ringcast-feed: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < g_nconns; i++) {
		pfd[i].fd = g_conns[i].fd;
		pfd[i].events = POLLIN;
	}
	fprintf(stderr,
	        "ringcast-feed: publishing %u topic%s at %.10g msg/s to ws://%s%s over %u %s "
	        "connection%s%s\n",
	        g_opt.topics, g_opt.topics == 1 ? "" : "s", g_opt.rate, g_opt.hostport, g_opt.path,
	        g_nconns, g_opt.plain ? "plain" : RC_APP_SUBPROTOCOL, g_nconns == 1 ? "" : "s",
	        g_opt.duration > 0 ? "" : " (Ctrl-C to stop)");

	const double period_ns = 1e9 / g_opt.rate;
	const uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	const uint64_t wall0 = clock_ns(CLOCK_REALTIME);
	/* Messages whose intended time falls inside --duration: ceil(duration * rate). */
	uint64_t total = UINT64_MAX;
	if (g_opt.duration > 0) {
		double want = g_opt.duration * g_opt.rate;
		total = (uint64_t)want;
		if ((double)total < want)
			total++;
	}
	const uint64_t t_end = g_opt.duration > 0 ? t0 + (uint64_t)(g_opt.duration * 1e9) : UINT64_MAX;
	uint64_t k = 0; /* next message to build */
	uint64_t next_report = t0 + 1000000000u, last_sent = 0, last_writes = 0, last_report = t0;
	int status = 0;
	struct conn *failed = NULL;
	uint8_t pubhdr[RC_APP_PUB_HEADER_MAX];
	char json[FEED_PAYLOAD_MAX];

	while (!g_stop && failed == NULL) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (k >= total && now >= t_end)
			break;
		/* Build every message due by now: message k's intended time is t0 + k * period. */
		uint64_t due = (uint64_t)((double)(now - t0) / period_ns) + 1;
		if (due > total)
			due = total;
		for (; k < due && failed == NULL; k++) {
			struct topic *t = &g_topics[k % g_opt.topics];
			struct conn *c = &g_conns[t->conn];
			if (c->out_len + FEED_FRAME_MAX > FEED_OUT_CAP && conn_flush(c) < 0) {
				failed = c;
				break;
			}
			uint64_t ts = wall0 + (uint64_t)((double)k * period_ns);
			size_t jl = quote_json(t, ts, json);
			if (g_opt.plain) {
				frame_append(c, RC_OPCODE_TEXT, NULL, 0, json, jl);
			} else {
				size_t hl = rc_app_pub_encode_header(pubhdr, RC_APP_FLAG_TEXT,
				                                     (const uint8_t *)t->name, t->name_len, 0);
				frame_append(c, RC_OPCODE_BINARY, pubhdr, hl, json, jl);
			}
			g_sent_msgs++;
		}
		for (uint32_t i = 0; i < g_nconns && failed == NULL; i++)
			if (conn_flush(&g_conns[i]) < 0)
				failed = &g_conns[i];
		if (failed != NULL)
			break;

		now = clock_ns(CLOCK_MONOTONIC);
		if (now >= next_report) {
			double secs = (double)(now - last_report) / 1e9;
			uint64_t dw = g_writes - last_writes;
			if (!g_opt.quiet)
				fprintf(stderr,
				        "ringcast-feed: %.0fs sent=%llu rate=%.0f/s "
				        "frames/write=%.1f\n",
				        (double)(now - t0) / 1e9, (unsigned long long)g_sent_msgs,
				        (double)(g_sent_msgs - last_sent) / secs,
				        dw ? (double)(g_sent_msgs - last_sent) / (double)dw : 0.0);
			last_sent = g_sent_msgs;
			last_writes = g_writes;
			last_report = now;
			while (next_report <= now)
				next_report += 1000000000u;
		}
		/* Sleep until the next message is due, but at least a tick, and not past the next
		 * report or the end; meanwhile read what the server says. */
		uint64_t wake = k < total ? t0 + (uint64_t)((double)k * period_ns) : t_end;
		if (wake < now + FEED_TICK_NS)
			wake = now + FEED_TICK_NS;
		if (wake > next_report)
			wake = next_report;
		if (wake > t_end)
			wake = t_end;
		uint64_t wait = wake > now ? wake - now : 0;
		struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000u),
			                   .tv_nsec = (long)(wait % 1000000000u) };
		int r = ppoll(pfd, g_nconns, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("ringcast-feed: ppoll");
			status = 1;
			break;
		}
		for (uint32_t i = 0; r > 0 && i < g_nconns; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (conn_read(&g_conns[i]) < 0) {
				failed = &g_conns[i];
				break;
			}
		}
	}

	if (failed != NULL) {
		/* A failed send usually means the server closed: its close frame may be waiting. */
		if (!failed->close_rcvd && !failed->eof) {
			struct pollfd one = { .fd = failed->fd, .events = POLLIN };
			uint64_t until = clock_ns(CLOCK_MONOTONIC) + 1000000000u;
			while (!failed->close_rcvd && !failed->eof) {
				uint64_t now = clock_ns(CLOCK_MONOTONIC);
				if (now >= until || poll(&one, 1, (int)((until - now) / 1000000u) + 1) <= 0)
					break;
				(void)conn_read(failed);
			}
		}
		report_close(failed);
		if (failed->send_err != 0)
			failed->eof = true; /* no close frame through a socket that takes nothing */
		status = 1;
	}
	close_all();
	double secs = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
	fprintf(stderr,
	        "ringcast-feed: %s: sent %llu messages in %.1f s (%.0f/s) on %u topic%s, "
	        "%llu bytes in %llu writes (%.1f frames/write)%s%llu error notice%s\n",
	        status == 0 ? "done" : "stopped", (unsigned long long)g_sent_msgs, secs,
	        secs > 0 ? (double)g_sent_msgs / secs : 0.0, g_opt.topics, g_opt.topics == 1 ? "" : "s",
	        (unsigned long long)g_sent_bytes, (unsigned long long)g_writes,
	        g_writes ? (double)g_sent_msgs / (double)g_writes : 0.0, ", ",
	        (unsigned long long)g_error_notices, g_error_notices == 1 ? "" : "s");
	free(pfd);
	for (uint32_t i = 0; i < g_nconns; i++) {
		free(g_conns[i].out);
		free(g_conns[i].in);
		free(g_conns[i].notice);
	}
	free(g_conns);
	free(g_topics);
	return status;
}
