/* rc_cfg: the server's configuration: every setting, its default, its limits, and the three
 * places it can come from.
 *
 * Sources, later ones winning: defaults < config file (--config FILE) < environment
 * (RINGCAST_<KEY>) < command line (--key VALUE or --key=VALUE). One key table in rc_cfg.c drives
 * all of them, the --help text, rc_cfg_get and rc_cfg_validate, so they cannot disagree. A key is
 * the long flag without its dashes ("write-timeout-ms"); its environment name is RINGCAST_ and the
 * key in upper case with '-' as '_' (RINGCAST_WRITE_TIMEOUT_MS). The program does
 *     rc_cfg cfg; char err[RC_CFG_ERR_MAX];
 *     rc_cfg_defaults(&cfg);
 *     int r = rc_cfg_parse_args(&cfg, argc, argv, err, sizeof err);
 *     r < 0: print err, exit 2; RC_CFG_HELP: rc_cfg_usage(stdout, argv[0]), exit 0;
 *     RC_CFG_VERSION: print the version, exit 0; RC_CFG_RUN: cfg is complete and validated.
 *
 * Values, parsed strictly (an error names the key and says what is allowed, in one line; the
 * parsers and the limits are rc_cfg_value.h's):
 *   integers   decimal digits only: no sign, no space, no 0x, no exponent, no unit; leading zeros
 *              are decimal; each key has a range (rc_cfg_usage shows it)
 *   sizes      the *-bytes keys: an integer with an optional K, M or G suffix (either case), binary
 *              multiples (64K = 65536); no other key takes a suffix, because a count or a number
 *              of milliseconds with K would be a guess
 *   booleans   true/false, 1/0, yes/no, on/off (lower case)
 *   listen     IPv4:PORT, [IPv6]:PORT or localhost:PORT (= 127.0.0.1); literal addresses only
 *              (no name lookup, no IPv6 zone), port 0..65535 (0: the kernel picks one); or
 *              "off" (listen, tls-listen and admin-listen: no such listener)
 *   cpus       a CPU list as in taskset -c: N or N-M items joined by ',' ("0-3,6"); CPU numbers
 *              below RC_CFG_CPUS_MAX; empty: the process's affinity mask
 *   origins    serialized origins joined by ',' ("https://a.example,http://localhost:8080"),
 *              spaces around items ignored; each "null" or scheme://host[:port] with no path (a
 *              browser's Origin never has one, so one with a path could never match); empty: any
 *   strings    publish-token, admin-token: 1..256 bytes of printable ASCII without space, or
 *              empty
 *   paths      tls-cert, tls-key, jwt-keys, takeover-socket: a file name of 1..1023 bytes
 *              without control characters, or empty (none); the first three are read at start
 *              and on SIGHUP; takeover-socket is at most 107 bytes (rc_cfg_validate)
 *   tls-min-version  1.2 or 1.3
 *   enums      slow-policy, log-level: one of the names listed by --help
 *
 * Config file: one "key = value" per line; spaces around key and value are ignored; '#' starts a
 * comment only as the first non-space byte of a line (a token may contain '#'); blank lines are
 * skipped; the value is the rest of the line, unquoted. A key may appear once per file. Errors
 * say FILE:LINE.
 *
 * Environment: every variable starting RINGCAST_ must name a key: an unknown one is an error, so a
 * typo (RINGCAST_WRITE_TIMEOUT=...) does not silently fall back to the default.
 *
 * Nothing here allocates after rc_cfg_parse_args returns, and an rc_cfg holds no pointers: it can
 * be copied, and strings live in fixed arrays inside it.
 *
 * Errors: negative errno values; each function says which. err (may be NULL when errlen is 0)
 * always gets a NUL-terminated one-line message on failure, "" on success.
 */
#ifndef RC_CFG_H
#define RC_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rc_cfg_value.h"
#include "rc_log.h"
#include "rc_outq.h"

#define RC_CFG_ERR_MAX 256 /* a size for err that holds every message */

/* Bytes of every pool buffer kept for what goes in front of a payload: the server frame header
 * (at most 10 bytes; 14 counted, the client form) and, for a plain publisher's message copied into
 * the ringcast.v1 envelope, the envelope header (at most 139 bytes). 153 rounded up to 256 so that
 * message-max-bytes can be a round figure and the payload starts aligned. */
#define RC_CFG_HEADROOM_BYTES 256

/* Bytes an outbound queue's ring spends per message (one pointer: rc_outq_storage_bytes).
 * rc_cfg_validate keeps a ring of queue-msgs-max entries within one buffer-size-bytes, which bounds
 * what one subscriber's queue can take besides its messages. */
#define RC_CFG_QUEUE_ENTRY_BYTES 8

/* The longest takeover-socket: a Unix socket's path (sun_path) holds 108 bytes with its NUL. */
#define RC_CFG_UNIX_PATH_MAX 107

typedef struct rc_cfg {
	rc_cfg_addr listen;                 /* listen: 127.0.0.1:8080 */
	rc_cfg_addr tls_listen;             /* tls-listen: off (family RC_ADDR_NONE) */
	char tls_cert[RC_CFG_PATH_MAX + 1]; /* PEM: leaf then chain; "" = none */
	char tls_key[RC_CFG_PATH_MAX + 1];  /* PEM: RSA or ECDSA; "" = none */
	uint32_t tls_min_version;           /* 12 (TLS 1.2) or 13 */
	uint32_t max_connections;           /* connections at once; the server checks RLIMIT_NOFILE */
	uint32_t handshake_timeout_ms;      /* accept to complete request head */
	uint32_t idle_timeout_ms;           /* no frame for this long: ping; again: close 4003 */
	uint32_t write_timeout_ms;          /* a send that makes no progress this long: close 4000 */
	uint32_t close_timeout_ms;          /* wait for the peer's close frame after ours */
	uint32_t drain_timeout_ms;          /* at SIGTERM, wait at most this long for clients to go */
	uint32_t message_max_bytes;         /* longest message payload accepted (else close 1009) */
	/* pool memory per worker that messages longer than a buffer (chains) may hold at once */
	uint32_t large_bytes_max;
	/* size of every pool buffer (receive and POOL alike); the defaults make a region of (1024 +
	 * 2048) * 64 KiB = 192 MiB per worker */
	uint32_t buffer_size_bytes;
	uint32_t recv_buffers;              /* buffers lent to the kernel's receive ring, per worker */
	uint32_t pool_buffers;              /* POOL buffers (message arena, assembly), per worker */
	uint32_t queue_msgs_max;            /* per subscriber queue, messages */
	uint32_t queue_bytes_max;           /* per subscriber queue, bytes */
	enum rc_outq_policy slow_policy;    /* when a subscriber's queue is full (rc_outq.h) */
	uint32_t header_bytes_max;          /* longest HTTP request head (else 431) */
	uint32_t header_fields_max;         /* most request header fields (else 431) */
	uint32_t topics_max;                /* topics that may exist at once, per worker */
	uint32_t subscriptions_max;         /* subscriptions at once, per worker */
	uint32_t topics_per_connection_max; /* topics in the connect URL */
	uint32_t history_messages;          /* retained per topic; 0 = no history */
	uint32_t history_topic_bytes;       /* payload bytes retained per topic */
	uint32_t history_bytes;             /* pool memory per worker for history */
	char publish_token[RC_CFG_TOKEN_MAX + 1]; /* "" = anyone may publish */
	char jwt_keys[RC_CFG_PATH_MAX + 1];       /* keys file for JWTs (net/rc_auth.h); "" = none */
	/* topic patterns ("a,prices.*") subscribing to which needs a token; "" = none */
	char subscribe_token_topics[RC_CFG_TOPIC_LIST_MAX + 1];
	char origins[RC_CFG_ORIGINS_BYTES]; /* origin_count strings, each NUL-terminated, end to end */
	uint32_t origin_count;              /* 0 = any origin */
	bool allow_no_origin;         /* accept a handshake without Origin (non-browser clients) */
	uint32_t rate_msgs_per_s;     /* per connection, inbound; 0 = no limit (net/rc_limit.h) */
	uint32_t rate_bytes_per_s;    /* per connection, inbound; 0 = no limit */
	uint32_t rate_commands_per_s; /* per connection, ringcast.v1 commands; 0 = no limit */
	uint32_t rate_burst_ms;       /* the burst every rate allows, in ms of that rate */
	uint32_t rate_close_after_ms; /* over a rate this long: closed 4005; 0 = never */
	uint32_t max_lifetime_ms;     /* a WebSocket's longest life (less jitter); 0 = none */
	uint32_t handshakes_max;      /* connections not yet upgraded, server-wide */
	uint32_t accept_per_s;        /* new connections per second, server-wide; 0 = no limit */
	uint32_t ip_connections_max;  /* per address (IPv6 /64); 0 = no limit */
	uint32_t ip_connects_per_s;   /* per address; 0 = no limit */
	bool ip_limits_loopback;      /* the two above apply to loopback addresses too */
	enum rc_log_level log_level;
	uint32_t workers;                    /* 0 = one per CPU of the mask */
	uint32_t cpu_count;                  /* CPUs set in cpus; 0 = use the process's affinity mask */
	uint64_t cpus[RC_CFG_CPUS_MAX / 64]; /* bit n of word n / 64: CPU n */
	bool steer_by_cpu;                   /* reuseport BPF: a connection goes to its CPU's worker */
	uint32_t mailbox_records;            /* records per worker-pair mailbox (power of two) */
	uint32_t idle_spin_us;               /* poll this long before sleeping (several workers only) */
	/* the admin view (net/rc_admin.h): its listener, off by default; and the token it asks for,
	 * "" = none, which only a loopback admin-listen may go without (rc_cfg_validate) */
	rc_cfg_addr admin_listen;
	char admin_token[RC_CFG_TOKEN_MAX + 1];
	/* takeover (net/rc_handover.h): the Unix socket on which a successor asks for the listening
	 * sockets, "" = none; whether to take them over from the server there at start instead of
	 * binding; how long each step of a takeover may take */
	char takeover_socket[RC_CFG_PATH_MAX + 1];
	bool takeover;
	uint32_t takeover_timeout_ms;
} rc_cfg;

/* What rc_cfg_parse_args asks the program to do (>= 0; errors are negative). */
enum rc_cfg_action {
	RC_CFG_RUN = 0,     /* cfg is complete and valid: serve */
	RC_CFG_HELP = 1,    /* --help: print rc_cfg_usage to stdout, exit 0 */
	RC_CFG_VERSION = 2, /* --version: print the version, exit 0 */
};

/* Every setting at its default (the usage text lists them). */
void rc_cfg_defaults(rc_cfg *c);

/* The program needs only rc_cfg_defaults, rc_cfg_parse_args and rc_cfg_usage (above and below).
 * rc_cfg_set, rc_cfg_get, rc_cfg_load_file, rc_cfg_load_env, rc_cfg_load and rc_cfg_validate are
 * the steps rc_cfg_parse_args is made of, public so that tests can drive each one on its own. */

/* Is topic[0..len) in a topic list (subscribe-token-topics): equal to one of its names, or
 * beginning with one of its prefixes (an item ending in '*'; "*" alone matches every topic)? */
bool rc_cfg_topic_listed(const char *list, const uint8_t *topic, size_t len);

/* Set one key from its text. The one setter behind the file, the environment and the flags.
 * Returns 0, -ENOENT for an unknown key, -EINVAL for a value the key does not accept. Checks the
 * value alone; relations between keys are rc_cfg_validate's. On error c is unchanged. */
int rc_cfg_set(rc_cfg *c, const char *key, const char *value, char *err, size_t errlen);

/* The value of a key as text, in the form rc_cfg_set accepts back (sizes as plain numbers, the
 * listen address canonical, the token unmasked). Returns its length, -ENOENT for an unknown key,
 * -ENOSPC if it does not fit in cap (a size of 2 * RC_CFG_ORIGINS_BYTES always suffices). */
int rc_cfg_get(const rc_cfg *c, const char *key, char *out, size_t cap);

/* Apply a config file on top of c (see the top of this file). Returns 0; -errno if it cannot be
 * opened (err: "config file PATH: strerror"); -EIO if reading fails (a directory, say); -EINVAL for
 * a bad line (err: "PATH:LINE: what"). On error c may hold the lines before the bad one. */
int rc_cfg_load_file(rc_cfg *c, const char *path, char *err, size_t errlen);

/* Apply every RINGCAST_* variable of envp (a NULL-terminated array of "NAME=value", as environ).
 * Other variables are ignored. Returns 0, or -EINVAL (err names the variable). */
int rc_cfg_load_env(rc_cfg *c, char *const *envp, char *err, size_t errlen);

/* The whole chain on top of c (normally fresh from rc_cfg_defaults): read argv with getopt_long;
 * if it asks for --help or --version, return RC_CFG_HELP or RC_CFG_VERSION at once (nothing else
 * is read or checked, so help works with a broken config); else apply --config FILE, then envp,
 * then the flags in order (the last of a repeated flag wins), then rc_cfg_validate. Flags: every
 * key as --key VALUE or --key=VALUE (a boolean key alone, --takeover, means true; the word after
 * it is its value only if it is a boolean), --config FILE (-c), --help (-h), --version (-V); an
 * unknown flag, a flag without its value, or a positional argument is an error. getopt_long's unique-
 * prefix abbreviations (--max-conn) are accepted. argv may be permuted (GNU getopt). Uses
 * getopt's globals: not thread-safe, call it from main. Returns enum rc_cfg_action, or -EINVAL, or
 * -errno from reading the config file. */
int rc_cfg_load(rc_cfg *c, int argc, char **argv, char *const *envp, char *err, size_t errlen);

/* rc_cfg_load with the process's environment. */
int rc_cfg_parse_args(rc_cfg *c, int argc, char **argv, char *err, size_t errlen);

/* Check every key's range and the relations between keys:
 *   a message of message-max-bytes + RC_CFG_HEADROOM_BYTES fits one buffer, or else the chain of
 *   buffers it takes fits within large-bytes-max and within the pool above its reserve
 *   queue-bytes-max <= pool-buffers * buffer-size-bytes (the pool can hold one full queue)
 *   queue-msgs-max * RC_CFG_QUEUE_ENTRY_BYTES <= buffer-size-bytes (a queue's ring fits a buffer)
 *   header-bytes-max <= buffer-size-bytes (a request head is read into one buffer)
 *   (recv-buffers + pool-buffers) * buffer-size-bytes <= RC_CFG_REGION_BYTES_MAX
 *   an admin-listen that is not a loopback address has an admin-token
 *   takeover has a takeover-socket, which is at most RC_CFG_UNIX_PATH_MAX bytes long
 * Returns 0 or -EINVAL with err saying which rule, with the values. */
int rc_cfg_validate(const rc_cfg *c, char *err, size_t errlen);

/* POOL buffers per worker kept free for messages of one buffer and for promotion: chains (large
 * messages) never take the pool below it, and pressure relief starts when it is reached. */
static inline uint32_t rc_cfg_pool_reserve(const rc_cfg *c)
{
	return c->pool_buffers / 8;
}

/* large-bytes-max in whole buffers: what the chains of one worker may hold (rc_pool_set_chain_max). */
static inline uint32_t rc_cfg_large_buffers(const rc_cfg *c)
{
	return c->large_bytes_max / c->buffer_size_bytes;
}

/* The history memory of one worker: history-bytes, or a quarter of the pool when it is 0. */
static inline uint64_t rc_cfg_history_bytes(const rc_cfg *c)
{
	return c->history_bytes ? c->history_bytes
	                        : (uint64_t)c->pool_buffers * c->buffer_size_bytes / 4;
}

/* One worker's buffer region may not exceed this: a guard against a slip of a suffix (64 GiB). */
#define RC_CFG_REGION_BYTES_MAX (64ull << 30)

/* The --help text: usage line, then every flag with its value form, meaning, allowed values and
 * default (from the same table as parsing), then --config, --help, --version. */
void rc_cfg_usage(FILE *out, const char *prog);

/* Table access, for tests: the number of keys and the name of key i (0 <= i < count). */
size_t rc_cfg_key_count(void);
const char *rc_cfg_key_name(size_t i);

/* Is CPU n in c's list? */
bool rc_cfg_cpu_isset(const rc_cfg *c, uint32_t cpu);

/* The allowed origins as an array of pointers into c (valid while c is unchanged), the form the
 * handshake check takes (rc_ws_handshake_cfg.origins). Returns origin_count; writes at most cap. */
size_t rc_cfg_origins(const rc_cfg *c, const char **out, size_t cap);

#endif
