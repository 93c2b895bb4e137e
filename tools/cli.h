/* cli: the parts of ringcast-cli (tools/ringcast-cli.c is the program; docs/cli.md the user's
 * guide). tools/CMakeLists.txt links the cli_*.c files into ringcast-cli only.
 *
 *   ringcast-cli.c  the command line, --help, the URL, exit statuses
 *   cli_sys.c       clock, randomness (masking keys, backoff jitter), signals and the one wait
 *                   every blocking step goes through (cli_poll)
 *   cli_conn.c      one WebSocket connection, ws:// or wss://, with error returns: connect, the
 *                   opening handshake (proto's rc_ws_client), masked frames out, whole messages
 *                   in, pings both ways, the closing handshake
 *   cli_tls.c       wss://: a wolfSSL client on the connection's own socket
 *   cli_sub.c       `sub`: subscribe (resuming where it was), print, reconnect with backoff
 *   cli_out.c       what `sub` prints: a message or a notice, as a text line or a JSON line
 *   cli_state.c     the topics followed and their positions (epoch, last number), the --state file
 *   cli_pub.c       `pub`: lines in, PUBLISH frames out, then the closing handshake
 *
 * Why its own connection layer and not ringcast-feed's (feed_conn.c): the feed exits on any
 * failure to connect, which is right for a load source and wrong here, where a refused or lost
 * connection is a decision to take (retry or stop, and with which exit status). So every function
 * here that can fail returns -1 and describes the failure in a struct cli_err: one line for the
 * user, and whether retrying can help.
 *
 * One thread, one connection at a time, non-blocking sockets, and every wait in cli_poll (ppoll
 * with SIGINT and SIGTERM unblocked only there), so a signal always interrupts a wait and never
 * a write half done.
 */
#ifndef CLI_H
#define CLI_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_app.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_ws_client.h"

#define CLI_VERSION "0.1.0"

/* Exit statuses (docs/cli.md, "Exit status"). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	/* the connection failed or ended and was not retried (--no-reconnect, pub), an error notice,
	 * stdout or the state file could not be written */
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2, /* bad option, URL or topic */
	/* refused for good: a handshake refused with 4xx, close 4001/4002/1008 and the like, an
	 * error notice answering a subscribe, a TLS certificate not trusted */
	CLI_EXIT_REFUSED = 3,
	CLI_EXIT_TIMEOUT = 4, /* --timeout-ms passed before --count messages, or before pub ended */
};

#define CLI_HEAD_MAX 8192          /* longest answer head to the upgrade request */
#define CLI_IN_CAP (64u << 10)     /* bytes read from the socket at a time */
#define CLI_MESSAGE_MAX (1u << 30) /* longest message accepted: the server's own ceiling */
#define CLI_SEND_STALL_MS 10000    /* the server takes nothing of a write this long: give up */
#define CLI_PING_IDLE_MS 15000     /* nothing from the server this long: ping it */
#define CLI_PONG_WAIT_MS 10000     /* and nothing at all this long after the ping: it is gone */
#define CLI_CLOSE_WAIT_MS 3000     /* wait for the server's close frame after ours */

/* ---- cli_sys.c ---- */

/* Set by SIGINT and SIGTERM: 1 after the first (stop cleanly), 2 after the next (stop now). */
extern volatile sig_atomic_t cli_stop;

/* Block SIGINT and SIGTERM everywhere but in cli_poll, ignore SIGPIPE. */
void cli_signals_init(void);

/* ppoll with SIGINT and SIGTERM deliverable: returns what ppoll returns (-1 with EINTR after a
 * signal). timeout_ms < 0: no timeout. */
int cli_poll(struct pollfd *pfd, nfds_t n, int timeout_ms);

/* Sleep ms milliseconds or until a signal. */
void cli_sleep_ms(uint32_t ms);

uint64_t cli_now_ns(void); /* CLOCK_MONOTONIC */

/* Milliseconds from now until deadline_ns (0 if passed), capped at cap_ms; deadline 0 = none. */
int cli_ms_until(uint64_t deadline_ns, int cap_ms);

/* A fresh masking key (RFC 6455 §5.3), from getrandom(2), drawn a few thousand at a time. */
void cli_mask_key(uint8_t key[4]);

/* A uniform random number in [0, n] (n + 1 values), for backoff jitter. */
uint64_t cli_random_upto(uint64_t n);

/* ---- errors ---- */

struct cli_err {
	bool fatal;              /* retrying cannot fix it */
	int http_status;         /* a refused handshake's status, else 0 */
	uint16_t close_code;     /* the server's close code; RC_CLOSE_ABNORMAL for none; 0 never open */
	uint32_t retry_after_ms; /* a refusal's Retry-After, 0 if none */
	char msg[640];           /* one line for the user (no "ringcast-cli: " prefix, no newline) */
};

/* Fill e: its message from the format, and whether it is fatal. Returns -1 (for `return
 * cli_fail(...)`). */
int cli_fail(struct cli_err *e, bool fatal, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Whether a connection the server closed with `code` is worth opening again: yes for going
 * away, restarts, overload, slow consumer, idle timeout, no close frame (1006)...; no for what
 * a new connection would get again (4001 unauthorized, 4002 bad command, 1008 policy, 1002,
 * 1003, 1007, 1009, 1010). */
bool cli_close_retryable(uint16_t code);

/* ---- cli_tls.c ---- */

struct cli_tls_ctx;
struct cli_tls;

/* A client context: trust ca_file (PEM) only, or the system's CA certificates when ca_file is
 * NULL, or nothing checked when insecure. NULL with one line in err on failure. */
struct cli_tls_ctx *cli_tls_ctx_new(const char *ca_file, bool insecure, char *err, size_t errlen);
void cli_tls_ctx_free(struct cli_tls_ctx *x);

enum {
	CLI_TLS_WANT_READ = -1,
	CLI_TLS_WANT_WRITE = -2,
	CLI_TLS_FAIL = -3,
};

/* A session on the connected socket fd for host (SNI when a name; the name or address its
 * certificate must carry). NULL if out of memory. */
struct cli_tls *cli_tls_new(struct cli_tls_ctx *x, int fd, const char *host);
void cli_tls_free(struct cli_tls *t); /* sends close_notify if it can, without waiting */

/* 0 when complete, CLI_TLS_WANT_READ / _WANT_WRITE, CLI_TLS_FAIL. */
int cli_tls_handshake(struct cli_tls *t);
/* Decrypted bytes (> 0), 0 at the end (close_notify or EOF), or a CLI_TLS_ status. */
ssize_t cli_tls_read(struct cli_tls *t, uint8_t *buf, size_t cap);
/* Bytes of p taken (> 0), or a CLI_TLS_ status; after WANT_* call again with the same p, n. */
ssize_t cli_tls_write(struct cli_tls *t, const uint8_t *p, size_t n);
/* After CLI_TLS_FAIL: what went wrong, and whether it is the server's certificate. */
const char *cli_tls_error(struct cli_tls *t, bool *certificate);
const char *cli_tls_version(struct cli_tls *t); /* "TLSv1.3" */

/* ---- cli_conn.c ---- */

/* Where to connect and how. */
struct cli_dest {
	rc_ws_url url;                                                      /* host, port, Host value */
	char target[sizeof(((rc_ws_url *)0)->target) + sizeof RC_APP_PATH]; /* path and query */
	bool tls;                                                           /* wss:// */
	struct cli_tls_ctx *tls_ctx;                                        /* wss:// only */
	const char *token;           /* Authorization: Bearer, or NULL */
	const char *origin;          /* Origin, or NULL */
	uint32_t connect_timeout_ms; /* TCP, TLS and the upgrade together */
};

/* A whole message from the server, valid until the next call on the connection. */
struct cli_msg {
	uint8_t opcode; /* RC_OPCODE_TEXT (a notice) or RC_OPCODE_BINARY (a MESSAGE) */
	uint8_t *data;
	size_t len;
};

struct cli_conn {
	int fd;
	struct cli_tls *tls;
	const struct cli_dest *dest;
	rc_frame_parser fp;
	uint8_t fp_ctl[RC_FRAME_CONTROL_MAX];
	uint8_t *in; /* CLI_IN_CAP: bytes received, [in_off, in_len) not parsed yet */
	size_t in_off, in_len;
	uint8_t *msg; /* the message being put together */
	size_t msg_len, msg_cap;
	uint8_t msg_op;
	uint8_t *out; /* bytes to send (frames, or the upgrade request) */
	size_t out_len, out_cap;
	short want; /* POLLIN or POLLOUT: what the last read that got nothing waits for */
	uint64_t opened_ns, last_rx_ns, ping_sent_ns;
	bool close_sent, close_rcvd, ended;
	uint16_t close_code;
	char close_reason[RC_CLOSE_REASON_MAX + 1];
};

/* Open c: TCP, TLS for wss://, the upgrade offering ringcast.v1, checked (rc_ws_client_check).
 * Returns 0, or -1 with e filled (e->fatal for what retrying cannot fix: a 4xx answer, not a
 * WebSocket server, a certificate not trusted, an unknown host). c needs cli_conn_free after
 * either. */
int cli_conn_open(struct cli_conn *c, const struct cli_dest *d, struct cli_err *e);

/* Append one masked frame, prefix[0..plen) then payload[0..len) as its payload, to what is to be
 * sent. Returns 0, or -1 if out of memory (e filled). */
int cli_conn_queue(struct cli_conn *c, uint8_t opcode, const void *prefix, size_t plen,
                   const void *payload, size_t len, struct cli_err *e);

/* Send everything queued. Returns 0, or -1 with e filled (the connection is then over). */
int cli_conn_flush(struct cli_conn *c, struct cli_err *e);

/* The next whole message, waiting at most timeout_ms (< 0: no limit; 0: only what is there
 * already). Pings are answered, and after CLI_PING_IDLE_MS of silence the server is pinged.
 * Returns 1 with *m, 0 if none came in time or a signal arrived, -1 when the connection is over
 * (its close frame came: answered, and e says with which code; EOF; an error; the server silent
 * after a ping), with e filled. */
int cli_conn_recv(struct cli_conn *c, int timeout_ms, struct cli_msg *m, struct cli_err *e);

/* Our close frame. Returns 0 or -1 (e filled); then cli_conn_recv until it returns -1:
 * cli_conn_closed_cleanly once the server answered with 1000 (or no code), and a close with
 * another code (its own, crossing ours) is reported as the server's close. */
int cli_conn_send_close(struct cli_conn *c, uint16_t code, const char *reason, struct cli_err *e);
bool cli_conn_closed_cleanly(const struct cli_conn *c);

/* Close with 1000 and wait up to CLI_CLOSE_WAIT_MS for the answer, dropping any message that
 * comes meanwhile. */
void cli_conn_finish(struct cli_conn *c);

void cli_conn_free(struct cli_conn *c); /* the socket, TLS and buffers; c can be opened again */

/* ---- the options (ringcast-cli.c) ---- */

struct cli_opts {
	struct cli_dest dest;
	const char *const *topics; /* sub: 1 or more; pub: exactly 1 */
	size_t topics_len;
	bool json, snapshot, reconnect, quiet, binary;
	uint64_t count;      /* sub: stop after this many messages; 0 = no limit */
	uint64_t timeout_ms; /* 0 = no limit */
	const char *state;   /* sub: --state FILE, or NULL */
	const char *file;    /* pub: --file FILE, or NULL (stdin) */
	uint32_t backoff_base_ms, backoff_max_ms;
};

int cli_sub_run(const struct cli_opts *o); /* returns the exit status */
int cli_pub_run(const struct cli_opts *o);

/* ---- cli_state.c ---- */

/* A topic `sub` follows (or only carries over in the state file), and where it is. */
struct cli_topic {
	char name[RC_APP_TOPIC_MAX + 1];
	uint8_t len;
	bool wanted;    /* on the command line: subscribed (else only kept in the state file) */
	bool has_seq;   /* seq is a position: the last number delivered, or the joint */
	bool has_epoch; /* epoch is known (the server's subscribed notice had positions) */
	bool resuming;  /* the current connection asked to resume it */
	uint64_t epoch;
	uint64_t seq;
};

/* Sorted by name, no duplicates. */
struct cli_topics {
	struct cli_topic *v;
	size_t n, cap;
	bool dirty; /* changed since the state file was written */
};

/* Add a topic (or mark it wanted if there). Returns it, or NULL if out of memory. */
struct cli_topic *cli_topics_add(struct cli_topics *ts, const char *name, size_t len, bool wanted);
struct cli_topic *cli_topics_find(const struct cli_topics *ts, const uint8_t *name, size_t len);
void cli_topics_free(struct cli_topics *ts);

/* Read path (a missing file is no error: nothing known yet) into ts. Returns 0, or -1 with one
 * line in err (the file, the line number, what is wrong). */
int cli_state_load(struct cli_topics *ts, const char *path, char *err, size_t errlen);

/* Write every topic with a position to path, atomically (a temporary file in the same folder,
 * fsync, rename). Returns 0, or -1 with one line in err. Clears ts->dirty. */
int cli_state_save(struct cli_topics *ts, const char *path, char *err, size_t errlen);

/* ---- cli_out.c ---- */

/* stdout fully buffered (line-buffered on a terminal). */
void cli_out_init(void);

/* Print one MESSAGE: `TOPIC SEQ PAYLOAD` or a JSON line. t may be NULL (a topic not followed). */
void cli_out_message(const rc_app_pub *m, const struct cli_topic *t, bool json);

/* Notices: a line on stderr, and with json a JSON line on stdout. */
void cli_out_missed(const rc_app_notice *nt, bool json);
/* prev: where the topic was before (has_seq false: nowhere) */
void cli_out_reset(const rc_app_notice *nt, const struct cli_topic *prev, bool json);
void cli_out_error(const rc_app_notice *nt, bool json);

/* fflush(stdout): 0, or -errno of the first failure writing stdout (EPIPE: the reader went
 * away). Once stdout failed it stays failed. */
int cli_out_flush(void);
/* The same without flushing: has a line printed so far failed? */
int cli_out_status(void);

#endif
