/* rc_cfg: settings, their sources and their checks. The contract is in rc_cfg.h.
 *
 * The key table (`keys` below) is the single description of every setting: name, kind, field,
 * limits, value form and meaning. Parsing from all three sources, rc_cfg_get, the range checks of
 * rc_cfg_validate and every line of --help come from it; the only other place that names a
 * setting is rc_cfg_defaults, and the usage text shows defaults by formatting a defaulted struct
 * with the same getter, so a default cannot be documented wrong. How each kind of value is spelled
 * (numbers, addresses, CPU lists, origins) is rc_cfg_value's business.
 *
 * Error text is built in two layers: the value checkers write what is wrong with a value ("'5s' is
 * not a number: expected ..."), and each source prefixes where it came from ("--idle-timeout-ms: ",
 * "RINGCAST_IDLE_TIMEOUT_MS: ", "ringcast.conf:7: idle-timeout-ms: ").
 */
#include "rc_cfg.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rc_app.h"
#include "rc_frame.h"

static_assert(RC_CFG_TOKEN_MAX <= RC_APP_TOKEN_MAX, "a publish-token fits the protocol's token");
static_assert(RC_FRAME_HEADER_MAX + RC_APP_PUB_HEADER_MAX <= RC_CFG_HEADROOM_BYTES,
              "header room holds a frame header and a v1 envelope header");
static_assert(RC_CFG_QUEUE_ENTRY_BYTES == sizeof(struct rc_msg *), "a ring entry is a pointer");

extern char **environ;

enum kind {
	K_COUNT,       /* uint32_t, plain integer */
	K_MS,          /* uint32_t, plain integer, milliseconds */
	K_BYTES,       /* uint32_t, integer with optional K/M/G suffix */
	K_BOOL,        /* bool */
	K_LISTEN,      /* rc_cfg_addr */
	K_PATH,        /* char[RC_CFG_PATH_MAX + 1] */
	K_TLS_VERSION, /* uint32_t: 12 or 13 */
	K_POLICY,      /* enum rc_outq_policy */
	K_LOG_LEVEL,   /* enum rc_log_level */
	K_TOKEN,       /* char[RC_CFG_TOKEN_MAX + 1] */
	K_ORIGINS,     /* origins + origin_count */
	K_CPUS,        /* cpus + cpu_count */
	K_TOPIC_LIST,  /* char[RC_CFG_TOPIC_LIST_MAX + 1]: topic patterns joined by ',' */
};

struct key {
	const char *name; /* flag without dashes, file key, and (upper-cased) the environment name */
	enum kind kind;
	size_t off;        /* offset of the field, for the integer kinds and K_BOOL */
	uint32_t min, max; /* integer kinds: the range, inclusive */
	bool pow2;         /* integer kinds: must be a power of two */
	const char *arg;   /* the value's placeholder in --help */
	const char *help;  /* one or two sentences */
};

#define DAY_MS 86400000u
#define MIB (1u << 20)
#define GIB (1u << 30)
/* Smallest buffer: a ringcast.v1 command may be 16384 bytes (RC_APP_JSON_LEN_MAX) and is parsed
 * whole from one buffer, and the longest notice (RC_APP_NOTICE_MAX, 8418 bytes) is written into
 * one; 16 KiB is the least power of two that takes both. */
#define BUFFER_MIN 16384u
/* Largest buffer: a frame of more than 16 MiB is not what a broadcast server is for, and the cap
 * catches a slip of suffix ("64M" meant as "64K"). */
#define BUFFER_MAX (16u * MIB)

static_assert(RC_APP_JSON_LEN_MAX <= BUFFER_MIN, "a command fits the smallest buffer");
static_assert(RC_APP_NOTICE_MAX + RC_FRAME_HEADER_MAX <= BUFFER_MIN,
              "a notice fits the smallest buffer");

#define U32(field) offsetof(rc_cfg, field)

static bool topic_list_ok(const char *v); /* the value of a K_TOPIC_LIST key */

static const struct key keys[] = {
	{ "listen", K_LISTEN, offsetof(rc_cfg, listen), 0, 0, false, "ADDR",
	  "Address to listen on for ws:// and http:// (TCP), or off." },
	{ "tls-listen", K_LISTEN, offsetof(rc_cfg, tls_listen), 0, 0, false, "ADDR",
	  "Address to listen on for wss:// and https:// (TLS), or off; needs tls-cert and tls-key." },
	{ "tls-cert", K_PATH, offsetof(rc_cfg, tls_cert), 0, 0, false, "FILE",
	  "TLS certificate, PEM: the server's certificate, then its chain. Read at start and on "
	  "SIGHUP." },
	{ "tls-key", K_PATH, offsetof(rc_cfg, tls_key), 0, 0, false, "FILE",
	  "TLS private key of tls-cert, PEM (RSA or ECDSA). Read at start and on SIGHUP." },
	{ "tls-min-version", K_TLS_VERSION, offsetof(rc_cfg, tls_min_version), 0, 0, false, "VER",
	  "Oldest TLS version accepted: 1.2 or 1.3." },
	{ "max-connections", K_COUNT, U32(max_connections), 1, 1u << 20, false, "N",
	  "Connections open at once; more are refused with 503. The server checks it against "
	  "RLIMIT_NOFILE at start. 1M is the io_uring fixed-file table's limit." },
	{ "handshake-timeout-ms", K_MS, U32(handshake_timeout_ms), 1, DAY_MS, false, "MS",
	  "Time from accept to a complete HTTP request head; then the connection is closed." },
	{ "idle-timeout-ms", K_MS, U32(idle_timeout_ms), 1, DAY_MS, false, "MS",
	  "After this long without a frame from a client the server pings it; after twice this long "
	  "it closes the connection with 4003." },
	{ "write-timeout-ms", K_MS, U32(write_timeout_ms), 1, DAY_MS, false, "MS",
	  "A send (one batch, up to 64 KiB) the client has not taken within this long: it is a slow "
	  "consumer and is disconnected at once (no close frame can follow a cut batch)." },
	{ "close-timeout-ms", K_MS, U32(close_timeout_ms), 1, DAY_MS, false, "MS",
	  "After sending a close frame, wait this long for the client's before closing the socket." },
	{ "drain-timeout-ms", K_MS, U32(drain_timeout_ms), 1, DAY_MS, false, "MS",
	  "On SIGTERM, wait at most this long for clients to take their queued messages and close." },
	{ "message-max-bytes", K_BYTES, U32(message_max_bytes), 1, GIB, false, "BYTES",
	  "Longest message payload a client may send; a longer one closes it with 1009. A message "
	  "longer than one buffer (with 256 bytes of header room) is held in a chain of pool buffers, "
	  "within large-bytes-max." },
	{ "large-bytes-max", K_BYTES, U32(large_bytes_max), 1, 2 * GIB, false, "BYTES",
	  "Pool memory per worker that messages longer than one buffer may hold at once (being "
	  "received, queued for subscribers, handed to other workers). A message that would go over "
	  "it closes its publisher with 1009." },
	{ "buffer-size-bytes", K_BYTES, U32(buffer_size_bytes), BUFFER_MIN, BUFFER_MAX, true, "BYTES",
	  "Size of every pool buffer: receive buffers and message copies (arena, assembly of "
	  "fragmented messages)." },
	{ "recv-buffers", K_COUNT, U32(recv_buffers), 1, 32768, true, "N",
	  "Buffers per worker lent to the kernel's receive ring (io_uring allows a power of two up to "
	  "32768)." },
	{ "pool-buffers", K_COUNT, U32(pool_buffers), 1, 1u << 24, false, "N",
	  "Buffers per worker for message copies: messages still queued for slow subscribers, "
	  "re-encodings, assembled messages." },
	{ "queue-msgs-max", K_COUNT, U32(queue_msgs_max), 1, 1u << 20, true, "N",
	  "Messages queued per subscriber before the slow-consumer policy applies." },
	{ "queue-bytes-max", K_BYTES, U32(queue_bytes_max), 1, GIB, false, "BYTES",
	  "Bytes queued per subscriber before the slow-consumer policy applies; an empty queue always "
	  "takes one message, even a longer one." },
	{ "slow-policy", K_POLICY, 0, 0, 0, false, "POLICY",
	  "What to do when a subscriber's queue is full: drop its oldest queued message, drop the "
	  "new one, replace the queued message of the same topic, or close it with 4000." },
	{ "header-bytes-max", K_BYTES, U32(header_bytes_max), 256, MIB, false, "BYTES",
	  "Longest HTTP request head; a longer one is refused with 431." },
	{ "header-fields-max", K_COUNT, U32(header_fields_max), 8, 1000, false, "N",
	  "Most header fields in an HTTP request; more are refused with 431 (a browser's handshake "
	  "sends about 12)." },
	{ "topics-max", K_COUNT, U32(topics_max), 1, 1u << 24, false, "N",
	  "Topics that may exist at once, per worker." },
	{ "subscriptions-max", K_COUNT, U32(subscriptions_max), 1, 1u << 28, false, "N",
	  "Subscriptions at once, per worker (64 bytes each, touched only as used)." },
	{ "topics-per-connection-max", K_COUNT, U32(topics_per_connection_max), 1, RC_APP_TOPICS_MAX,
	  false, "N", "Most topics in a connect URL (topics=); the protocol's limit is 64." },
	{ "history-messages", K_COUNT, U32(history_messages), 0, 1u << 20, false, "N",
	  "Messages kept per topic for snapshots and resumes (docs/protocol.md 6.6); older ones are "
	  "evicted. 0 turns history off." },
	{ "history-topic-bytes", K_BYTES, U32(history_topic_bytes), 1, GIB, false, "BYTES",
	  "Payload bytes kept per topic; a message longer than this is not kept." },
	{ "history-bytes", K_BYTES, U32(history_bytes), 0, 2 * GIB, false, "BYTES",
	  "Pool memory per worker for the history of the topics it numbers (the server's total is "
	  "this times the workers); 0 = a quarter of the pool. When it is full the oldest messages "
	  "go, each topic's latest kept while the latest values fit in half of it." },
	{ "publish-token", K_TOKEN, offsetof(rc_cfg, publish_token), 0, 0, false, "TOKEN",
	  "Token a client must present (token= or Authorization: Bearer) to publish." },
	{ "jwt-keys", K_PATH, offsetof(rc_cfg, jwt_keys), 0, 0, false, "FILE",
	  "Keys that verify JSON Web Tokens (docs/operations.md, \"Tokens\"): one per line, KID ALG "
	  "SOURCE. With it, a client's token may be a JWT granting topics to subscribe to and publish "
	  "on, and publishing needs publish-token or such a grant. Read at start and on SIGHUP." },
	{ "subscribe-token-topics", K_TOPIC_LIST, offsetof(rc_cfg, subscribe_token_topics), 0, 0, false,
	  "LIST",
	  "Topics a client may subscribe to only with a token that grants them (or publish-token): "
	  "names, or prefixes ending in *. Empty: subscribing is open." },
	{ "origins", K_ORIGINS, 0, 0, 0, false, "LIST",
	  "Origins allowed to open a WebSocket (browsers send Origin); others get 403." },
	{ "allow-no-origin", K_BOOL, offsetof(rc_cfg, allow_no_origin), 0, 0, false, "BOOL",
	  "Accept a handshake without an Origin header (non-browser clients)." },
	{ "rate-msgs-per-s", K_COUNT, U32(rate_msgs_per_s), 0, 100000000, false, "N",
	  "Messages (data and control frames) a connection may send per second, on average over "
	  "rate-burst-ms; over it the server stops reading from it until it is back within (TCP "
	  "pushes back on the sender). 0 = no limit." },
	{ "rate-bytes-per-s", K_BYTES, U32(rate_bytes_per_s), 0, UINT32_MAX, false, "BYTES",
	  "Bytes a connection may send per second, as rate-msgs-per-s. 0 = no limit." },
	{ "rate-commands-per-s", K_COUNT, U32(rate_commands_per_s), 0, 1000000, false, "N",
	  "ringcast.v1 commands (subscribe, unsubscribe) a connection may send per second, as "
	  "rate-msgs-per-s: a subscribe costs far more than a publish. 0 = no limit." },
	{ "rate-burst-ms", K_MS, U32(rate_burst_ms), 1, 60000, false, "MS",
	  "How far ahead of its rates a connection may get: a burst of this many milliseconds' worth "
	  "of messages, bytes or commands is taken at once." },
	{ "rate-close-after-ms", K_MS, U32(rate_close_after_ms), 0, DAY_MS, false, "MS",
	  "A connection that is still over a rate limit after this long (every read over it) is "
	  "closed with 4005. 0 = never: it is only slowed down." },
	{ "max-lifetime-ms", K_MS, U32(max_lifetime_ms), 0, 20 * DAY_MS, false, "MS",
	  "Close every WebSocket after at most this long, with 1012 (reconnect and resume); each "
	  "connection's lifetime is drawn between 90% and 100% of it, so that clients that connected "
	  "together do not all reconnect together. 0 = no limit." },
	{ "handshakes-max", K_COUNT, U32(handshakes_max), 1, 1u << 20, false, "N",
	  "Connections that have not finished their handshake (TCP accepted, no complete WebSocket "
	  "upgrade yet), server-wide; a new one beyond it closes the oldest of them. They do not "
	  "count against max-connections." },
	{ "accept-per-s", K_COUNT, U32(accept_per_s), 0, 10000000, false, "N",
	  "New connections accepted per second, server-wide (a burst of rate-burst-ms' worth is "
	  "taken at once); beyond it a new connection is closed at once, before any HTTP. 0 = no "
	  "limit." },
	{ "ip-connections-max", K_COUNT, U32(ip_connections_max), 0, 1u << 20, false, "N",
	  "Connections at once from one IP address (IPv6: one /64); beyond it a new one is closed "
	  "at once, before any HTTP. 0 = no limit." },
	{ "ip-connects-per-s", K_COUNT, U32(ip_connects_per_s), 0, 1000000, false, "N",
	  "New connections per second from one IP address (IPv6: one /64), with a burst of "
	  "rate-burst-ms' worth; beyond it a new one is closed at once. 0 = no limit." },
	{ "ip-limits-loopback", K_BOOL, offsetof(rc_cfg, ip_limits_loopback), 0, 0, false, "BOOL",
	  "Apply ip-connections-max and ip-connects-per-s to loopback addresses too (off: a local "
	  "proxy or load generator is not limited by address)." },
	{ "log-level", K_LOG_LEVEL, 0, 0, 0, false, "LEVEL", "Most verbose level logged." },
	{ "workers", K_COUNT, U32(workers), 0, RC_CFG_CPUS_MAX, false, "N",
	  "Worker threads, one io_uring each; 0 = one per CPU of the CPU list (or of the affinity "
	  "mask)." },
	{ "cpus", K_CPUS, 0, 0, 0, false, "LIST", "CPUs to pin workers to, in order." },
	{ "steer-by-cpu", K_BOOL, offsetof(rc_cfg, steer_by_cpu), 0, 0, false, "BOOL",
	  "Hand a new connection to the worker pinned to the CPU that received it (a reuseport BPF "
	  "program), instead of spreading connections by a hash of their addresses." },
	{ "mailbox-records", K_COUNT, U32(mailbox_records), 64, 1u << 20, true, "N",
	  "Messages in flight from one worker to another (16 bytes each, one mailbox per ordered "
	  "worker pair); past that, hand-offs are dropped and the receivers' subscribers told." },
	{ "idle-spin-us", K_COUNT, U32(idle_spin_us), 0, 1000000, false, "US",
	  "How long an idle worker polls its completion queue (and, with several workers, its "
	  "mailboxes) before it sleeps in the kernel: waking a sleeping CPU costs tens of us. "
	  "Spends the CPU's time while idle." },
	{ "admin-listen", K_LISTEN, offsetof(rc_cfg, admin_listen), 0, 0, false, "ADDR",
	  "Address of the admin view (every connection, the last closes, the slowest consumers, "
	  "topics; JSON over HTTP), or off. Anything but a loopback address needs admin-token: "
	  "127.0.0.1:9091 is the place for it." },
	{ "admin-token", K_TOKEN, offsetof(rc_cfg, admin_token), 0, 0, false, "TOKEN",
	  "Token the admin view asks for (Authorization: Bearer, or token=); empty: none, for a "
	  "loopback admin-listen only." },
	{ "takeover-socket", K_PATH, offsetof(rc_cfg, takeover_socket), 0, 0, false, "PATH",
	  "Unix socket (mode 0600, same user or root) on which this server hands its listening "
	  "sockets to a successor started with takeover. Empty: none." },
	{ "takeover", K_BOOL, offsetof(rc_cfg, takeover), 0, 0, false, "BOOL",
	  "At start, take the listening sockets over from the server on takeover-socket instead of "
	  "binding; once this one is ready that one drains with 1012. With no server there, bind." },
	{ "takeover-timeout-ms", K_MS, U32(takeover_timeout_ms), 100, 3600000, false, "MS",
	  "How long each step of a takeover may take (the request, the successor's start until it is "
	  "ready, the answer); past it the running server keeps serving." },
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])

void rc_cfg_defaults(rc_cfg *c)
{
	assert(c != NULL);
	memset(c, 0, sizeof *c);
	c->listen = (rc_cfg_addr){ .family = RC_ADDR_IPV4, .port = 8080, .addr = { 127, 0, 0, 1 } };
	c->tls_min_version = 12;
	c->max_connections = 10000;
	c->handshake_timeout_ms = 10000;
	c->idle_timeout_ms = 30000;
	c->write_timeout_ms = 5000;
	c->close_timeout_ms = 3000;
	c->drain_timeout_ms = 10000;
	/* 64 KiB buffers: the largest default message fits one with its header room, so a slow-path
	 * copy is one buffer, and a send staged from one carries hundreds of small frames, well past
	 * the 64 frames per send at which loopback sends stop gaining (docs/facts.md; measured with
	 * perf/send-bench --matrix batching). */
	c->buffer_size_bytes = 64u << 10;
	/* 1 MiB: an order-book snapshot or a news item, in a chain of 17 buffers; 64 of them at once
	 * per worker within large-bytes-max. */
	c->message_max_bytes = MIB;
	c->large_bytes_max = 64 * MIB;
	c->recv_buffers = 1024;
	c->pool_buffers = 2048;
	c->queue_msgs_max = 1024;
	/* 4 MiB: a queue holds the largest default message with its headers (a queue cannot be
	 * smaller); for small messages queue-msgs-max binds first. */
	c->queue_bytes_max = 4 * MIB;
	c->slow_policy = RC_OUTQ_DROP_OLDEST;
	c->header_bytes_max = 8192;
	c->header_fields_max = 100;
	c->topics_max = 65536;
	/* max-connections * 64 topics at connect = 640,000, rounded up: every client can subscribe
	 * its URL's topics with room for commands, for ~46 MiB of slab at ~48 bytes each. */
	c->subscriptions_max = 1000000;
	c->topics_per_connection_max = RC_APP_TOPICS_MAX;
	/* A quote feed: a few seconds of a busy topic to resume over a reconnect, and every topic's
	 * last value for a snapshot, in a quarter of the pool (rc_cfg_history_bytes). */
	c->history_messages = 256;
	c->history_topic_bytes = 256 * 1024;
	c->history_bytes = 0;
	c->allow_no_origin = true;
	/* Rates per connection. A feed handler publishes as fast as a worker takes it on one
	 * connection (ringcast-bench --max: about a million small messages a second with one
	 * publisher, as fast as one worker reads), so no message or byte rate is a default that
	 * stops abuse without slowing a real feed: they are off, and docs/operations.md says what a
	 * public endpoint where anyone may publish should set. 20 commands a second stop a subscribe
	 * storm without slowing any client that means well. */
	c->rate_msgs_per_s = 0;
	c->rate_bytes_per_s = 0;
	c->rate_commands_per_s = 20;
	c->rate_burst_ms = 1000;
	c->rate_close_after_ms = 10000;
	c->max_lifetime_ms = 0;
	c->handshakes_max = 1024;
	c->accept_per_s = 0;
	/* Many clients behind one NAT are normal; thousands of connections from one address are
	 * not. A restart or takeover reconnects everyone at once, so no per-address rate by default. */
	c->ip_connections_max = 1000;
	c->ip_connects_per_s = 0;
	c->ip_limits_loopback = false;
	c->log_level = RC_LOG_INFO;
	c->workers = 0;
	c->mailbox_records = 4096;
	c->idle_spin_us = 0;
	c->takeover_timeout_ms = 30000; /* a successor registers its buffers before it is ready */
}

/* ---- small helpers --------------------------------------------------------------------------- */

static void say(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct key *key_find(const char *name)
{
	assert(name != NULL);
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool is_u32_kind(enum kind kind)
{
	return kind == K_COUNT || kind == K_MS || kind == K_BYTES;
}

static uint32_t *u32_field(rc_cfg *c, const struct key *k)
{
	assert(is_u32_kind(k->kind) && k->off + sizeof(uint32_t) <= sizeof *c);
	return (uint32_t *)((char *)c + k->off);
}

static uint32_t u32_value(const rc_cfg *c, const struct key *k)
{
	assert(is_u32_kind(k->kind) && k->off + sizeof(uint32_t) <= sizeof *c);
	uint32_t v;
	memcpy(&v, (const char *)c + k->off, sizeof v);
	return v;
}

static bool is_pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* A file name a K_PATH key takes: no control character (a newline would split a log line),
 * RC_CFG_PATH_MAX bytes at most; "" is none. */
static bool path_ok(const char *v)
{
	size_t n = 0;
	for (; v[n] != '\0'; n++)
		if ((unsigned char)v[n] < 0x20 || v[n] == 0x7f || n == RC_CFG_PATH_MAX)
			return false;
	return true;
}

static bool family_ok(uint8_t f)
{
	return f == RC_ADDR_NONE || f == RC_ADDR_IPV4 || f == RC_ADDR_IPV6;
}

/* What a key accepts, as a phrase for messages and --help. */
static void allowed(const struct key *k, char *out, size_t cap)
{
	assert(k != NULL && out != NULL && cap > 0);
	const char *p2 = k->pow2 ? "a power of two" : "an integer";
	switch (k->kind) {
	case K_COUNT:
		snprintf(out, cap, "%s %u..%u", p2, k->min, k->max);
		break;
	case K_MS:
		snprintf(out, cap, "%s %u..%u (milliseconds)", p2, k->min, k->max);
		break;
	case K_BYTES:
		snprintf(out, cap, "%s %u..%u (bytes; suffix K, M or G allowed)", p2, k->min, k->max);
		break;
	case K_BOOL:
		snprintf(out, cap, "true or false (also 1/0, yes/no, on/off)");
		break;
	case K_LISTEN:
		snprintf(out, cap,
		         "IPv4:PORT, [IPv6]:PORT or localhost:PORT, literal addresses only, "
		         "port 0..65535 (0: any free port), or off");
		break;
	case K_PATH:
		snprintf(out, cap, "a file name of 1..%d bytes without control characters, or empty",
		         RC_CFG_PATH_MAX);
		break;
	case K_TLS_VERSION:
		snprintf(out, cap, "1.2 or 1.3");
		break;
	case K_POLICY: /* "drop-oldest, drop-newest, conflate or disconnect", from rc_outq's names */
		for (int p = 0, o = 0; p < RC_OUTQ_POLICY_COUNT && (size_t)o < cap; p++) {
			const char *sep = p == 0 ? "" : p + 1 < RC_OUTQ_POLICY_COUNT ? ", " : " or ";
			o += snprintf(out + o, cap - (size_t)o, "%s%s", sep,
			              rc_outq_policy_name((enum rc_outq_policy)p));
		}
		break;
	case K_LOG_LEVEL:
		snprintf(out, cap, "error, warn, info or debug");
		break;
	case K_TOKEN:
		snprintf(out, cap, "1..%d bytes of printable ASCII without space, or empty (%s)",
		         RC_CFG_TOKEN_MAX,
		         k->off == offsetof(rc_cfg, publish_token) ? "anyone may publish"
		                                                   : "a loopback admin-listen only");
		break;
	case K_ORIGINS:
		snprintf(out, cap,
		         "comma-separated origins, each scheme://host[:port] without a path "
		         "or null, at most %d, or empty (any origin)",
		         RC_CFG_ORIGINS_MAX);
		break;
	case K_CPUS:
		snprintf(out, cap, "a CPU list like 0-3,6 (CPUs 0..%d), or empty (the affinity mask)",
		         RC_CFG_CPUS_MAX - 1);
		break;
	case K_TOPIC_LIST:
		snprintf(out, cap,
		         "comma-separated topics, each a topic name or a prefix ending in * (\"*\" alone: "
		         "every topic), at most %d bytes in all, or empty",
		         RC_CFG_TOPIC_LIST_MAX);
		break;
	}
}

/* Range and power-of-two checks shared by the setter and rc_cfg_validate. */
static int check_u32(const struct key *k, uint64_t v, const char *text, char *msg, size_t cap)
{
	assert(is_u32_kind(k->kind) && k->min <= k->max && text != NULL);
	char a[160];
	if (v < k->min || v > k->max) {
		allowed(k, a, sizeof a);
		say(msg, cap, "%s is out of range: expected %s", text, a);
		return -EINVAL;
	}
	if (k->pow2 && !is_pow2((uint32_t)v)) {
		allowed(k, a, sizeof a);
		say(msg, cap, "%s is not a power of two: expected %s", text, a);
		return -EINVAL;
	}
	return 0;
}

/* ---- set and get ----------------------------------------------------------------------------- */

/* set_value for the integer kinds. */
static int set_u32(rc_cfg *c, const struct key *k, const char *value, char *msg, size_t cap)
{
	assert(is_u32_kind(k->kind));
	char a[200], sh[RC_CFG_SHOWN_MAX];
	uint64_t v;
	int r = rc_cfg_u64_parse(value, k->kind == K_BYTES, &v);
	if (r == -EINVAL) {
		allowed(k, a, sizeof a);
		say(msg, cap, "'%s' is not a number: expected %s", rc_cfg_shown(sh, value), a);
		return -EINVAL;
	}
	if (r == -ERANGE)
		v = UINT64_MAX; /* out of range below, with the text as written */
	if (check_u32(k, v, rc_cfg_shown(sh, value), msg, cap) < 0)
		return -EINVAL;
	*u32_field(c, k) = (uint32_t)v;
	return 0;
}

/* Set k from value; on error write the message without the key (the caller says where) and leave
 * c unchanged. */
static int set_value(rc_cfg *c, const struct key *k, const char *value, char *msg, size_t cap)
{
	assert(c != NULL && k != NULL && value != NULL);
	char a[200], sh[RC_CFG_SHOWN_MAX];
	allowed(k, a, sizeof a);
	switch (k->kind) {
	case K_COUNT:
	case K_MS:
	case K_BYTES:
		return set_u32(c, k, value, msg, cap);
	case K_BOOL: {
		bool b;
		if (rc_cfg_bool_parse(value, &b) < 0)
			break;
		*(bool *)((char *)c + k->off) = b;
		return 0;
	}
	case K_LISTEN: {
		rc_cfg_addr addr = { .family = RC_ADDR_NONE };
		if (strcmp(value, "off") != 0 && rc_cfg_addr_parse(value, &addr) < 0)
			break;
		memcpy((char *)c + k->off, &addr, sizeof addr);
		return 0;
	}
	case K_PATH:
		if (!path_ok(value))
			break;
		strcpy((char *)c + k->off, value); /* length checked by path_ok */
		return 0;
	case K_TLS_VERSION: {
		uint32_t v = strcmp(value, "1.2") == 0 ? 12 : strcmp(value, "1.3") == 0 ? 13 : 0;
		if (v == 0)
			break;
		memcpy((char *)c + k->off, &v, sizeof v);
		return 0;
	}
	case K_POLICY: {
		int p = rc_outq_policy_parse(value);
		if (p < 0)
			break;
		c->slow_policy = (enum rc_outq_policy)p;
		return 0;
	}
	case K_LOG_LEVEL:
		if (rc_log_level_parse(value, &c->log_level) < 0)
			break;
		return 0;
	case K_TOKEN:
		if (!rc_cfg_token_ok(value))
			break;
		strcpy((char *)c + k->off, value); /* length checked by token_ok */
		return 0;
	case K_ORIGINS: {
		char m[160];
		if (rc_cfg_origins_parse(value, c->origins, &c->origin_count, m, sizeof m) < 0) {
			say(msg, cap, "%s: expected %s", m, a);
			return -EINVAL;
		}
		return 0;
	}
	case K_CPUS:
		if (rc_cfg_cpus_parse(value, c->cpus, &c->cpu_count) < 0)
			break;
		return 0;
	case K_TOPIC_LIST:
		if (!topic_list_ok(value))
			break;
		strcpy((char *)c + k->off, value); /* length checked by topic_list_ok */
		return 0;
	}
	if (k->kind == K_TOKEN) /* a secret: an error does not echo it */
		say(msg, cap, "the value given is not allowed: expected %s", a);
	else
		say(msg, cap, "'%s' is not allowed: expected %s", rc_cfg_shown(sh, value), a);
	return -EINVAL;
}

int rc_cfg_set(rc_cfg *c, const char *key, const char *value, char *err, size_t errlen)
{
	assert(c != NULL && key != NULL && value != NULL);
	char sh[RC_CFG_SHOWN_MAX], msg[RC_CFG_ERR_MAX];
	const struct key *k = key_find(key);
	if (k == NULL) {
		say(err, errlen, "unknown setting '%s' (see --help)", rc_cfg_shown(sh, key));
		return -ENOENT;
	}
	int r = set_value(c, k, value, msg, sizeof msg);
	if (r < 0) {
		say(err, errlen, "%s: %s", k->name, msg);
		return r;
	}
	say(err, errlen, "%s", "");
	return 0;
}

static int get_value(const rc_cfg *c, const struct key *k, char *out, size_t cap)
{
	int n = 0;
	switch (k->kind) {
	case K_COUNT:
	case K_MS:
	case K_BYTES:
		n = snprintf(out, cap, "%u", u32_value(c, k));
		break;
	case K_BOOL: {
		bool b;
		memcpy(&b, (const char *)c + k->off, sizeof b);
		n = snprintf(out, cap, "%s", b ? "true" : "false");
		break;
	}
	case K_LISTEN: {
		rc_cfg_addr a;
		memcpy(&a, (const char *)c + k->off, sizeof a);
		char t[RC_CFG_ADDR_TEXT_MAX] = "off";
		if (a.family != RC_ADDR_NONE && rc_cfg_addr_format(&a, t, sizeof t) == 0)
			return -EINVAL;
		n = snprintf(out, cap, "%s", t);
		break;
	}
	case K_PATH:
	case K_TOPIC_LIST:
		n = snprintf(out, cap, "%s", (const char *)c + k->off);
		break;
	case K_TLS_VERSION: {
		uint32_t v;
		memcpy(&v, (const char *)c + k->off, sizeof v);
		n = snprintf(out, cap, "%s", v == 13 ? "1.3" : "1.2");
		break;
	}
	case K_POLICY:
		n = snprintf(out, cap, "%s", rc_outq_policy_name(c->slow_policy));
		break;
	case K_LOG_LEVEL:
		n = snprintf(out, cap, "%s", rc_log_level_name(c->log_level));
		break;
	case K_TOKEN:
		n = snprintf(out, cap, "%s", (const char *)c + k->off);
		break;
	case K_ORIGINS: {
		const char *p = c->origins;
		size_t o = 0;
		if (cap > 0)
			out[0] = '\0';
		for (uint32_t i = 0; i < c->origin_count; i++) {
			int m = snprintf(out + o, cap > o ? cap - o : 0, "%s%s", i ? "," : "", p);
			if (m < 0 || o + (size_t)m >= cap)
				return -ENOSPC;
			o += (size_t)m;
			p += strlen(p) + 1;
		}
		return (int)o;
	}
	case K_CPUS:
		if (cap == 0)
			return -ENOSPC;
		return rc_cfg_cpus_format(c->cpus, out, cap);
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int rc_cfg_get(const rc_cfg *c, const char *key, char *out, size_t cap)
{
	assert(c != NULL && key != NULL && (out != NULL || cap == 0));
	const struct key *k = key_find(key);
	if (k == NULL)
		return -ENOENT;
	return get_value(c, k, out, cap);
}

size_t rc_cfg_key_count(void)
{
	return KEY_COUNT;
}

const char *rc_cfg_key_name(size_t i)
{
	assert(i < KEY_COUNT);
	return keys[i].name;
}

/* ---- lists in the struct ------------------------------------------------------------------- */

bool rc_cfg_cpu_isset(const rc_cfg *c, uint32_t cpu)
{
	assert(c != NULL);
	return rc_cfg_cpus_isset(c->cpus, cpu);
}

size_t rc_cfg_origins(const rc_cfg *c, const char **out, size_t cap)
{
	assert(c != NULL && (out != NULL || cap == 0));
	const char *p = c->origins;
	for (uint32_t i = 0; i < c->origin_count; i++) {
		if (i < cap)
			out[i] = p;
		p += strlen(p) + 1;
	}
	return c->origin_count;
}

/* ---- validation ------------------------------------------------------------------------------ */

/* Every integer key within its range, and the other fields holding values a setting can give. */
static int validate_values(const rc_cfg *c, char *err, size_t errlen)
{
	char msg[RC_CFG_ERR_MAX], num[24];
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct key *k = &keys[i];
		if (!is_u32_kind(k->kind))
			continue;
		uint32_t v = u32_value(c, k);
		snprintf(num, sizeof num, "%u", v);
		if (check_u32(k, v, num, msg, sizeof msg) < 0) {
			say(err, errlen, "%s: %s", k->name, msg);
			return -EINVAL;
		}
	}
	/* The rest of the fields can only be wrong if set by hand, not through rc_cfg_set. */
	if (!family_ok(c->listen.family) || !family_ok(c->tls_listen.family) ||
	    (c->tls_min_version != 12 && c->tls_min_version != 13) ||
	    memchr(c->tls_cert, '\0', sizeof c->tls_cert) == NULL || !path_ok(c->tls_cert) ||
	    memchr(c->tls_key, '\0', sizeof c->tls_key) == NULL || !path_ok(c->tls_key) ||
	    (unsigned)c->slow_policy >= RC_OUTQ_POLICY_COUNT ||
	    (unsigned)c->log_level >= RC_LOG_LEVEL_COUNT || c->origin_count > RC_CFG_ORIGINS_MAX ||
	    memchr(c->publish_token, '\0', sizeof c->publish_token) == NULL ||
	    !rc_cfg_token_ok(c->publish_token) || !family_ok(c->admin_listen.family) ||
	    memchr(c->admin_token, '\0', sizeof c->admin_token) == NULL ||
	    !rc_cfg_token_ok(c->admin_token)) {
		say(err, errlen, "%s",
		    "a listen, tls, slow-policy, log-level, origins or publish-token "
		    "field holds a value no setting can produce");
		return -EINVAL;
	}
	return 0;
}

/* 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
static bool addr_loopback(const rc_cfg_addr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (a->family == RC_ADDR_IPV4)
		return a->addr[0] == 127;
	return memcmp(a->addr, v6_loopback, 16) == 0 ||
	       (memcmp(a->addr, v4_mapped, 12) == 0 && a->addr[12] == 127);
}

/* The relations between keys (rc_cfg.h lists them). */
static int validate_relations(const rc_cfg *c, char *err, size_t errlen)
{
	uint64_t buf = c->buffer_size_bytes;
	uint64_t frame = (uint64_t)c->message_max_bytes + RC_CFG_HEADROOM_BYTES;
	uint64_t chain = (frame + buf - 1) / buf; /* buffers the largest message takes */
	if (chain > 1 && chain > rc_cfg_large_buffers(c)) {
		say(err, errlen,
		    "message-max-bytes %u takes %llu buffers of %u bytes with its header room, more than "
		    "large-bytes-max %u holds (%u): raise large-bytes-max to at least %llu or lower "
		    "message-max-bytes",
		    c->message_max_bytes, (unsigned long long)chain, c->buffer_size_bytes,
		    c->large_bytes_max, rc_cfg_large_buffers(c), (unsigned long long)(chain * buf));
		return -EINVAL;
	}
	if (chain > 1 && chain > c->pool_buffers - rc_cfg_pool_reserve(c)) {
		say(err, errlen,
		    "message-max-bytes %u takes %llu buffers of %u bytes with its header room, more than "
		    "the %u that pool-buffers %u leaves above its reserve of one eighth: raise "
		    "pool-buffers or lower message-max-bytes",
		    c->message_max_bytes, (unsigned long long)chain, c->buffer_size_bytes,
		    c->pool_buffers - rc_cfg_pool_reserve(c), c->pool_buffers);
		return -EINVAL;
	}
	if (c->queue_bytes_max > (uint64_t)c->pool_buffers * buf) {
		say(err, errlen,
		    "queue-bytes-max %u is more than the whole pool (pool-buffers %u * "
		    "buffer-size-bytes %u)",
		    c->queue_bytes_max, c->pool_buffers, c->buffer_size_bytes);
		return -EINVAL;
	}
	if ((uint64_t)c->queue_msgs_max * RC_CFG_QUEUE_ENTRY_BYTES > buf) {
		say(err, errlen,
		    "queue-msgs-max %u needs %llu bytes of ring, more than one buffer "
		    "(buffer-size-bytes %u): at most %u",
		    c->queue_msgs_max, (unsigned long long)c->queue_msgs_max * RC_CFG_QUEUE_ENTRY_BYTES,
		    c->buffer_size_bytes, c->buffer_size_bytes / RC_CFG_QUEUE_ENTRY_BYTES);
		return -EINVAL;
	}
	if (c->header_bytes_max > buf) {
		say(err, errlen,
		    "header-bytes-max %u is more than one buffer (buffer-size-bytes %u), "
		    "where a request head is read",
		    c->header_bytes_max, c->buffer_size_bytes);
		return -EINVAL;
	}
	uint64_t hist = rc_cfg_history_bytes(c);
	if (c->history_messages > 0 && (hist < 2 * buf || hist > (uint64_t)c->pool_buffers * buf / 2)) {
		say(err, errlen,
		    "history-bytes %llu must be between two buffers (%llu) and half the pool (pool-buffers "
		    "%u * buffer-size-bytes %u / 2 = %llu), or history-messages 0 turns history off",
		    (unsigned long long)hist, (unsigned long long)(2 * buf), c->pool_buffers,
		    c->buffer_size_bytes, (unsigned long long)((uint64_t)c->pool_buffers * buf / 2));
		return -EINVAL;
	}
	uint64_t region = ((uint64_t)c->recv_buffers + c->pool_buffers) * buf;
	if (region > RC_CFG_REGION_BYTES_MAX) {
		say(err, errlen,
		    "(recv-buffers %u + pool-buffers %u) * buffer-size-bytes %u = %llu "
		    "bytes per worker, more than %llu",
		    c->recv_buffers, c->pool_buffers, c->buffer_size_bytes, (unsigned long long)region,
		    RC_CFG_REGION_BYTES_MAX);
		return -EINVAL;
	}
	/* The admin view shows every client's address and traffic: off the machine, only with a
	 * token. */
	if (c->admin_listen.family != RC_ADDR_NONE && c->admin_token[0] == '\0' &&
	    !addr_loopback(&c->admin_listen)) {
		char a[RC_CFG_ADDR_TEXT_MAX];
		rc_cfg_addr_format(&c->admin_listen, a, sizeof a);
		say(err, errlen,
		    "admin-listen %s is not a loopback address: set admin-token too, or listen on "
		    "127.0.0.1",
		    a);
		return -EINVAL;
	}
	size_t tl = strnlen(c->takeover_socket, sizeof c->takeover_socket);
	if (tl > RC_CFG_UNIX_PATH_MAX || !path_ok(c->takeover_socket)) {
		say(err, errlen, "takeover-socket is %zu bytes long: a Unix socket's path takes at most %d",
		    tl, RC_CFG_UNIX_PATH_MAX);
		return -EINVAL;
	}
	if (c->takeover && tl == 0) {
		say(err, errlen, "%s", "takeover needs takeover-socket: where the running server is asked");
		return -EINVAL;
	}
	return 0;
}

int rc_cfg_validate(const rc_cfg *c, char *err, size_t errlen)
{
	assert(c != NULL && (err != NULL || errlen == 0));
	if (validate_values(c, err, errlen) < 0 || validate_relations(c, err, errlen) < 0)
		return -EINVAL;
	say(err, errlen, "%s", "");
	return 0;
}

/* ---- topic lists ---- */

/* One item of a topic list: a topic name, or a prefix of one ending in '*', or '*'. */
static bool topic_item_ok(const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '*')
		n--;
	else if (n == 0)
		return false;
	return n == 0 || rc_app_topic_valid((const uint8_t *)s, n);
}

static bool topic_list_ok(const char *v)
{
	size_t len = strlen(v);
	if (len > RC_CFG_TOPIC_LIST_MAX)
		return false;
	if (len == 0)
		return true;
	for (const char *p = v;;) {
		size_t n = strcspn(p, ",");
		if (!topic_item_ok(p, n))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

bool rc_cfg_topic_listed(const char *list, const uint8_t *topic, size_t len)
{
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		bool prefix = n > 0 && p[n - 1] == '*';
		size_t m = prefix ? n - 1 : n;
		if (prefix ? len >= m && memcmp(p, topic, m) == 0 : len == m && memcmp(p, topic, m) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/* ---- the three sources ----------------------------------------------------------------------- */

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char *trim(char *s)
{
	assert(s != NULL);
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* One line of a config file (newline removed). Returns 0, or -EINVAL with msg. */
static int file_line(rc_cfg *c, char *line, uint32_t lineno, uint32_t seen[KEY_COUNT], char *msg,
                     size_t cap)
{
	assert(lineno >= 1 && seen != NULL);
	char sh[RC_CFG_SHOWN_MAX], m[RC_CFG_ERR_MAX];
	char *s = trim(line);
	if (*s == '\0' || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		say(msg, cap, "expected 'key = value', got '%s'", rc_cfg_shown(sh, s));
		return -EINVAL;
	}
	*eq = '\0';
	char *name = trim(s), *value = trim(eq + 1);
	const struct key *k = key_find(name);
	if (k == NULL) {
		say(msg, cap, "unknown key '%s' (see --help)", rc_cfg_shown(sh, name));
		return -EINVAL;
	}
	size_t ki = (size_t)(k - keys);
	if (seen[ki] != 0) {
		say(msg, cap, "%s: already set on line %u", k->name, seen[ki]);
		return -EINVAL;
	}
	seen[ki] = lineno;
	if (set_value(c, k, value, m, sizeof m) < 0) {
		say(msg, cap, "%s: %s", k->name, m);
		return -EINVAL;
	}
	return 0;
}

int rc_cfg_load_file(rc_cfg *c, const char *path, char *err, size_t errlen)
{
	assert(c != NULL && path != NULL);
	char sh[RC_CFG_SHOWN_MAX], msg[RC_CFG_ERR_MAX];
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		int e = errno;
		say(err, errlen, "config file %s: %s", rc_cfg_shown(sh, path), strerror(e));
		return -e;
	}
	uint32_t seen[KEY_COUNT] = { 0 };
	char *line = NULL; /* getline's buffer: start-up only, freed below */
	size_t linecap = 0;
	uint32_t lineno = 0;
	int r = 0;
	ssize_t n;
	while ((n = getline(&line, &linecap, f)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			say(err, errlen, "%s:%u: a NUL byte (not a text file?)", rc_cfg_shown(sh, path),
			    lineno);
			r = -EINVAL;
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (file_line(c, line, lineno, seen, msg, sizeof msg) < 0) {
			say(err, errlen, "%s:%u: %s", rc_cfg_shown(sh, path), lineno, msg);
			r = -EINVAL;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		say(err, errlen, "config file %s: read error", rc_cfg_shown(sh, path));
	}
	free(line);
	fclose(f);
	if (r == 0)
		say(err, errlen, "%s", "");
	return r;
}

#define ENV_PREFIX "RINGCAST_"

int rc_cfg_load_env(rc_cfg *c, char *const *envp, char *err, size_t errlen)
{
	assert(c != NULL);
	char sh[RC_CFG_SHOWN_MAX], msg[RC_CFG_ERR_MAX];
	const size_t plen = sizeof ENV_PREFIX - 1;
	for (char *const *e = envp; e != NULL && *e != NULL; e++) {
		const char *var = *e;
		if (strncmp(var, ENV_PREFIX, plen) != 0)
			continue;
		const char *eq = strchr(var, '=');
		if (eq == NULL)
			continue;
		/* RINGCAST_WRITE_TIMEOUT_MS -> write-timeout-ms; anything but A-Z 0-9 _ cannot map. */
		char name[64], key[64];
		size_t n = (size_t)(eq - var);
		bool ok = n - plen > 0 && n - plen < sizeof key;
		for (size_t i = plen; ok && i < n; i++) {
			char ch = var[i];
			if (ch >= 'A' && ch <= 'Z')
				key[i - plen] = (char)(ch - 'A' + 'a');
			else if (ch >= '0' && ch <= '9')
				key[i - plen] = ch;
			else if (ch == '_')
				key[i - plen] = '-';
			else
				ok = false;
		}
		size_t nn = n < sizeof name - 1 ? n : sizeof name - 1;
		memcpy(name, var, nn);
		name[nn] = '\0';
		const struct key *k = NULL;
		if (ok) {
			key[n - plen] = '\0';
			k = key_find(key);
		}
		if (k == NULL) {
			say(err, errlen, "environment variable %s does not name a setting (see --help)",
			    rc_cfg_shown(sh, name));
			return -EINVAL;
		}
		if (set_value(c, k, eq + 1, msg, sizeof msg) < 0) {
			say(err, errlen, "%s: %s", name, msg);
			return -EINVAL;
		}
	}
	say(err, errlen, "%s", "");
	return 0;
}

/* getopt_long's val for key i; below it, the short options. */
#define OPT_KEY_BASE 256

/* The option table: every key, then --config, --help, --version, then the terminator. */
static void build_options(struct option *opts)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		opts[i] = (struct option){ keys[i].name,
			                       keys[i].kind == K_BOOL ? optional_argument : required_argument,
			                       NULL, OPT_KEY_BASE + (int)i };
	opts[KEY_COUNT + 0] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[KEY_COUNT + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[KEY_COUNT + 2] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[KEY_COUNT + 3] = (struct option){ NULL, 0, NULL, 0 };
}

/* A boolean's value: --key=VALUE, --key VALUE when the next word is a boolean (true, false, ...;
 * taken from argv), or nothing: --key alone means true. Other keys always take the next word. */
static const char *bool_value(int argc, char **argv)
{
	bool b;
	if (optarg != NULL)
		return optarg;
	if (optind < argc && rc_cfg_bool_parse(argv[optind], &b) == 0)
		return argv[optind++];
	return "true";
}

/* ':' first: a missing value comes back as ':', apart from an unknown option ('?'). */
static const char shortopts[] = ":c:hV";

/* The message for getopt's '?' or ':' at this point of argv. */
static void getopt_error(int o, char **argv, char *err, size_t errlen)
{
	assert(o == ':' || o == '?');
	char sh[RC_CFG_SHOWN_MAX];
	int opt = optopt;
	if (o == ':') {
		if (opt >= OPT_KEY_BASE)
			say(err, errlen, "--%s needs a value (see --help)", keys[opt - OPT_KEY_BASE].name);
		else
			say(err, errlen, "--config needs a file name");
		return;
	}
	if (opt == 'h' || opt == 'V')
		say(err, errlen, "--%s takes no value", opt == 'h' ? "help" : "version");
	else if (opt > 0 && opt < OPT_KEY_BASE)
		say(err, errlen, "unknown option '-%c' (see --help)", opt);
	else /* an unknown or ambiguous long option: getopt has stepped past it */
		say(err, errlen, "unknown or ambiguous option '%s' (see --help)",
		    rc_cfg_shown(sh, argv[optind - 1]));
}

int rc_cfg_load(rc_cfg *c, int argc, char **argv, char *const *envp, char *err, size_t errlen)
{
	assert(c != NULL && argc >= 1 && argv != NULL);
	struct option opts[KEY_COUNT + 4];
	build_options(opts);
	char sh[RC_CFG_SHOWN_MAX], msg[RC_CFG_ERR_MAX];

	/* Pass 1: the shape of the command line, --help, --version, --config. Values wait for
	 * pass 2, so that the file and the environment go under them. */
	const char *config = NULL;
	bool help = false, version = false, failed = false;
	int o;
	opterr = 0;
	optind = 0; /* glibc: 0 restarts the scan from scratch, also after an earlier call */
	while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (o == 'c') {
			config = optarg;
		} else if (o >= OPT_KEY_BASE && keys[o - OPT_KEY_BASE].kind == K_BOOL) {
			bool_value(argc, argv); /* steps past a separate value */
		} else if (o == 'h') {
			help = true;
		} else if (o == 'V') {
			version = true;
		} else if ((o == '?' || o == ':') && !failed) {
			getopt_error(o, argv, err, errlen);
			failed = true;
		}
	}
	if (help)
		return RC_CFG_HELP;
	if (version)
		return RC_CFG_VERSION;
	if (failed)
		return -EINVAL;
	if (optind < argc) {
		say(err, errlen, "unexpected argument '%s' (every setting is --key VALUE)",
		    rc_cfg_shown(sh, argv[optind]));
		return -EINVAL;
	}

	int r;
	if (config != NULL && (r = rc_cfg_load_file(c, config, err, errlen)) < 0)
		return r;
	if ((r = rc_cfg_load_env(c, envp, err, errlen)) < 0)
		return r;

	/* Pass 2: the values, in order. */
	optind = 0;
	while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (o < OPT_KEY_BASE)
			continue;
		const struct key *k = &keys[o - OPT_KEY_BASE];
		const char *v = k->kind == K_BOOL ? bool_value(argc, argv) : optarg;
		if (set_value(c, k, v, msg, sizeof msg) < 0) {
			say(err, errlen, "--%s: %s", k->name, msg);
			return -EINVAL;
		}
	}
	return rc_cfg_validate(c, err, errlen);
}

int rc_cfg_parse_args(rc_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	assert(c != NULL && argc >= 1 && argv != NULL);
	return rc_cfg_load(c, argc, argv, environ, err, errlen);
}

/* ---- output ---------------------------------------------------------------------------------- */

/* Print text wrapped at 100 columns, every line indented by `indent` spaces. */
static void wrapped(FILE *out, const char *text, int indent)
{
	const int width = 100;
	assert(out != NULL && text != NULL && indent >= 0 && indent < width / 2);
	int col = 0;
	const char *p = text;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		size_t w = strcspn(p, " ");
		if (w == 0)
			break;
		if (col > 0 && col + 1 + (int)w > width) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0)
			col = fprintf(out, "%*s", indent, "");
		else
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", (int)w, p);
		p += w;
	}
	if (col > 0)
		fputc('\n', out);
}

void rc_cfg_usage(FILE *out, const char *prog)
{
	assert(out != NULL);
	rc_cfg d;
	rc_cfg_defaults(&d);
	fprintf(out, "Usage: %s [OPTION]...\n", prog != NULL ? prog : "ringcast");
	fprintf(out, "WebSocket broadcast (pub/sub) server.\n\n");
	wrapped(out,
	        "Every option is also a config file key (\"key = value\", one per line, # "
	        "comments) and an environment variable RINGCAST_KEY (the key in upper case, '-' "
	        "as '_'). Later sources win: defaults, then --config FILE, then the "
	        "environment, then the command line.",
	        0);
	fputc('\n', out);
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct key *k = &keys[i];
		char a[200], v[2 * RC_CFG_ORIGINS_BYTES], line[512];
		allowed(k, a, sizeof a);
		int n = get_value(&d, k, v, sizeof v);
		assert(n >= 0);
		fprintf(out, "  --%s %s\n", k->name, k->arg);
		wrapped(out, k->help, 8);
		snprintf(line, sizeof line, "Allowed: %s.", a);
		wrapped(out, line, 8);
		fprintf(out, "        Default: %s\n", n > 0 ? v : "(empty)");
	}
	fprintf(out, "  -c, --config FILE\n");
	wrapped(out, "Read settings from FILE (under the environment and the command line).", 8);
	fprintf(out, "  -h, --help\n        Print this help and exit.\n");
	fprintf(out, "  -V, --version\n        Print the version and exit.\n");
}
