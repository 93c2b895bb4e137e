/* fanout_int.h: the fan-out engine's insides, shared by its three files (fanout.h is its contract).
 *
 *   fanout.c       the run: set-up, the threads' loop and its phases (setup, run, slow readers,
 *                  drain, close), what is counted at the end
 *   fanout_conn.c  one connection's life: connect, handshake, send, receive, close, reconnect
 *   fanout_msg.c   the messages: the head, publishing (pacing, the --max window), and receiving
 *                  (parsing frames, checking sequence numbers, latency): the hot path
 *   fanout_tls.c   wss://: the TLS handshake before the WebSocket one, sealing what a connection
 *                  sends and opening what it receives (tls.h)
 *
 * How it works. One thread per --cpus entry, each pinned, with its own io_uring and its own share
 * of the connections (round robin). Receiving is one multishot recv per connection over a provided
 * buffer ring (set up by hand: liburing 2.3 has no io_uring_setup_buf_ring), so a receive costs no
 * system call and a recv completion carries whatever frames had arrived; frames are parsed in
 * place with proto's rc_frame parser (client role) and only the head of a message is looked at,
 * copied only when a frame is split across buffers. Each connection has one send in flight at most
 * (several unlinked sends on one socket can complete out of order: docs/facts.md); a publisher puts
 * every frame that is due into one send. With --max the window is shared between threads: each
 * publisher has a ring of slots, one per message in flight, holding (sequence tag, receivers still
 * to pass); each thread batches its decrements per loop turn, so a message costs one atomic per
 * thread, not one per delivery.
 *
 * wss:// changes the bytes, not the shape: a connection's receive is armed from its connect on and
 * the ciphertext it brings is fed to the connection's TLS session, read out at once (into the
 * handshake's buffer until the 101, then through conn_feed, as a ws connection's bytes); its one
 * send in flight carries the session's out buffer, into which a whole send buffer of frames is
 * encrypted at once (as few records as it fills).
 *
 * Pacing: --rate R is open loop: message k is due at t0 + k/R (the publishers take turns) and
 * carries that intended time; latency is measured from it, so a publisher held up by a stalled
 * server (or by this bench) shows the stall as latency instead of quietly sending less (no
 * coordinated omission). --max is closed loop: at most --window messages in flight.
 *
 * Ownership: struct fan is shared by the threads; what is not atomic in it is set before they
 * start and read-only after. A struct worker and its connections belong to its thread. */
#ifndef BENCH_FANOUT_INT_H
#define BENCH_FANOUT_INT_H

#include <assert.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"
#include "handshake.h"
#include "options.h"
#include "rc_frame.h"
#include "stats.h"
#include "tls.h"

#define BGID 1           /* the provided buffer group of every worker's ring */
#define WIN_TAG_SHIFT 24 /* --max slot: tag << 24 | receivers left (< 2^24 > 20k fds) */
/* v1: the bytes of a message collected when it is split across receive buffers: the MESSAGE
 * envelope (11 + 128) and the head (48), or a whole notice short enough to parse (`missed` is at
 * most 190 bytes; a longer notice is a `subscribed` list, which needs no parsing). */
#define MHEAD_MAX 256

/* ---- what the threads share ------------------------------------------------------------------- */

enum phase {
	PH_SETUP,      /* workers connect and handshake */
	PH_SETUP_STOP, /* main gave up waiting: workers abandon unfinished setups, then ack */
	PH_RUN,        /* tl is set: workers run the timeline by themselves */
};

/* One per publisher. `seq` is written by the publisher's thread only; the rest by anyone. */
struct pub_shared {
	_Atomic uint64_t seq;       /* last sequence number sent (0: none) */
	_Atomic uint32_t live;      /* receivers each new message is expected at */
	_Atomic uint32_t live_slow; /* slow: how many of them are slow */
	_Atomic bool stopped;       /* the publisher is done: seq is final */
	_Atomic uint64_t *slot;     /* --max: `slots` slots, tag << WIN_TAG_SHIFT | receivers left */
} __attribute__((aligned(64)));

struct fan {
	const struct bench *b;
	const struct opts *o;
	_Atomic int phase;
	_Atomic uint32_t settled; /* connections whose setup ended, open or failed */
	_Atomic uint32_t open_subs, open_pubs;
	_Atomic uint32_t acks;
	struct timeline tl; /* set before phase PH_RUN (release) */
	struct pub_shared *pub;
	uint32_t total; /* connections: publishers are 0 .. P-1 */
	uint32_t threads;
	uint32_t source_addrs; /* --source-addrs, or as many as that many connections need */
	uint32_t win;          /* --max: window per publisher (messages in flight) */
	/* --max: slot ring size, win rounded up to a power of two so that the per-delivery slot
	 * index is a mask, not a division (perf: win_pass fell from 8.5% to ~2% of the bench's CPU) */
	uint32_t slots;
	uint32_t head_len;            /* 24, or 48 with --text */
	uint32_t frame_max;           /* the longest frame a publisher may put in a send */
	bool v1;                      /* --proto v1 */
	bool echo;                    /* WF_ECHO: a connection receives its own messages only */
	bool slow;                    /* WF_SLOW: some subscribers stop reading */
	uint32_t kmax;                /* topics per receiver row (v1: --per-sub, else 1) */
	_Atomic uint32_t *topic_live; /* v1: open subscribers of each topic */
	_Atomic uint32_t *topic_live_slow;
	_Atomic uint64_t *stream_seq; /* v1: P x T, last sequence number sent per publisher, topic */
	uint32_t slow_total;          /* slow: subscribers that are slow */
	uint8_t opcode;
	double period_ns; /* --rate: ns between two messages, all publishers together */
	uint64_t stall_ns;
	/* --max: when a receiver last got a piece of a message that had not ended (one split across
	 * receive buffers: always, when longer than one). Progress for the stall detector: a large
	 * message may take longer than --stall-ms to reach every receiver while its bytes flow. */
	_Atomic uint64_t rx_piece_ns;
	uint8_t *fill; /* --size bytes of payload filler */
};

/* ---- a connection ----------------------------------------------------------------------------- */

enum conn_state {
	CS_IDLE,       /* not started */
	CS_CONNECTING, /* connect in flight */
	CS_HANDSHAKE,  /* (wss: the TLS handshake,) the request being sent, the response being read */
	CS_OPEN,
	CS_CLOSING, /* shut down, waiting for its operations to complete */
	CS_CLOSED,  /* descriptor closed */
};

struct handshake {
	char key[RC_WS_KEY_LEN + 1];
	uint32_t len;
	uint8_t buf[HS_RESP_MAX];
};

struct conn {
	int fd;
	uint32_t idx;   /* in its worker's array */
	int32_t pub_id; /* publisher number, -1 for a subscriber */
	int32_t rx_row; /* row of w->seq_next, -1 if no message is expected here */
	uint8_t state;
	uint8_t ops; /* operations in flight: the descriptor is closed at 0 */
	bool recv_armed, send_inflight, dirty, rearm, gone, was_open;
	bool pong_pending, close_pending, close_sent, close_rcvd, proto_err;
	uint16_t close_code_out;
	uint8_t pong_len;
	uint16_t mhave; /* bytes of the message in progress collected in mhead */
	uint64_t mlen;  /* bytes of the message in progress so far */
	uint8_t *tx;
	uint32_t tx_cap, tx_len, tx_off;
	struct handshake *hs; /* during the handshake only */
	struct tls *tls;      /* wss://: the TLS session, from the connect to the close */
	bool bye;             /* wss://: our close_notify is queued (the last thing sent) */
	/* publisher */
	uint64_t seq_sent; /* last sequence number put in a send */
	uint64_t win_base; /* --max: oldest sequence number not yet passed by every receiver */
	uint64_t win_moved_ns;
	bool stopped;
	bool slow;       /* slow: stops reading at the end of the warmup */
	bool paused;     /* slow, in the measured interval: multishot recv cancelled */
	uint8_t ntopics; /* v1 subscriber: topics, sorted */
	uint32_t *topics;
	uint64_t *tseq;        /* v1 publisher: last sequence number sent per topic */
	uint64_t next_read_ns; /* --slow-rate: when the next read may start */
	/* --reconnect */
	bool want_retry;   /* reconnect once the descriptor is closed */
	bool retrying;     /* waiting for retry_at */
	bool rejoining;    /* the setup in progress is a reconnect */
	uint32_t attempt;  /* failed attempts in a row: the backoff's exponent */
	uint32_t floor_ms; /* the server asked for at least this wait (Retry-After, 1012/1013) */
	uint64_t retry_at;
	uint64_t rejoin_ns; /* when it last rejoined: older messages are not expected here */
	rc_frame_parser fp;
	uint8_t fp_ctl[RC_FRAME_CONTROL_MAX]; /* lent to fp for split control frames */
	uint8_t mhead[MHEAD_MAX];
	uint8_t pong[RC_FRAME_CONTROL_MAX];
};

/* --max: one thread's pending decrements of one publisher's window, flushed once per loop turn. */
struct winloc {
	uint64_t *seq;
	uint32_t *cnt;
	uint8_t *listed;
	uint32_t *touched;
	uint32_t ntouched;
};

/* ---- a thread --------------------------------------------------------------------------------- */

struct worker {
	struct fan *f;
	uint32_t id;
	int cpu; /* -1: not pinned */
	pthread_t thread;
	struct io_uring ring;
	bool ring_ok;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	uint32_t nbufs, buf_size, br_added;
	struct conn *conns;
	uint32_t nconns;
	uint32_t next_connect, setting_up;
	uint32_t open; /* connections with a descriptor */
	uint32_t *dirty, ndirty;
	uint32_t *rearm, nrearm;
	uint32_t *pubs, npubs; /* local indices of the publishers */
	uint32_t nrx;
	uint64_t *seq_next;    /* nrx x kmax x P: next sequence number expected (rx_next) */
	uint64_t *srv_last;    /* v1, nrx x kmax: last server sequence number per topic */
	uint64_t *srv_credit;  /* v1, nrx x kmax: `missed` counts not yet matched by a gap */
	uint32_t *topic_arena; /* v1: every subscriber's topic list */
	uint64_t *tseq_arena;  /* v1: every publisher's per-topic sequence numbers */
	bool slow_paused, slow_resumed;
	uint64_t next_slow_ns; /* --slow-rate: the next scan for reads due */
	struct winloc *win;    /* P entries with --max */
	bool acked, closing;
	uint32_t nretry; /* --reconnect: connections waiting for their retry_at */
	uint64_t next_retry_scan;
	uint64_t next_drain_check, close_deadline;
	uint64_t piece_ns; /* --max: the last time this thread stored f->rx_piece_ns */
	uint64_t rng;
	uint8_t *tx_arena;
	uint8_t *plain;            /* wss://: a record's plaintext, read out of a session */
	struct tls_ticket *ticket; /* --tls-resume: the latest session with a ticket */
	struct stats st;
	struct stats st_slow; /* slow: what the slow receivers saw */
};

/* Where a receiver's counts go: the slow subscribers have their own. */
static inline struct stats *stats_of(struct worker *w, const struct conn *c)
{
	return c->slow ? &w->st_slow : &w->st;
}

/* ---- user_data -------------------------------------------------------------------------------- */

/* What a completion is for: the operation in the top byte, the connection's index in its worker in
 * the low 32 bits. A connection is used for one connection's life only and its descriptor is closed
 * only when no operation is in flight, so no generation is needed to tell stale completions. */
enum op {
	OP_CONNECT = 1,
	OP_SEND,
	OP_HS_RECV,
	OP_RECV,
	OP_CANCEL
};

static inline uint64_t ud_make(enum op op, uint32_t idx)
{
	return (uint64_t)op << 56 | idx;
}
static inline enum op ud_op(uint64_t ud)
{
	return (enum op)(ud >> 56);
}
static inline uint32_t ud_idx(uint64_t ud)
{
	return (uint32_t)ud;
}

/* Does c owe the server bytes: plaintext not yet sent (ws) or sealed (wss), or ciphertext? */
static inline bool conn_owes(const struct conn *c)
{
	const uint8_t *p;
	return c->tx_off < c->tx_len || (c->tls != NULL && tls_out(c->tls, &p) > 0);
}

/* Is c's receive one to keep armed: open, or (wss) still in its handshake? */
static inline bool conn_reading(const struct conn *c)
{
	return c->state == CS_OPEN || (c->tls != NULL && c->state == CS_HANDSHAKE);
}

/* A submission queue entry; a full SQ is handed to the kernel first. */
static inline struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) {
		io_uring_submit(&w->ring); /* SQ full: hand it to the kernel and take a fresh one */
		sqe = io_uring_get_sqe(&w->ring);
		assert(sqe != NULL);
	}
	return sqe;
}

/* ---- fanout_conn.c: a connection's life ------------------------------------------------------- */

/* Start connecting c (CS_IDLE): socket, optional source address, connect. */
void conn_start(struct worker *w, struct conn *c);
/* The completions of c's operations. */
void on_connect(struct worker *w, struct conn *c, int res);
void on_hs_recv(struct worker *w, struct conn *c, int res);
void on_send(struct worker *w, struct conn *c, int res);
void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe);
/* The setup of c ended: open (fail NULL) or failed (fail: the error tally's key). */
void setup_end(struct worker *w, struct conn *c, const char *fail);
/* An open connection ended before the end of the run (a close, an error). */
void conn_gone(struct worker *w, struct conn *c);
/* Shut c down; its descriptor is closed once nothing is in flight (conn_maybe_finish). */
void conn_close(struct worker *w, struct conn *c);
void conn_maybe_finish(struct worker *w, struct conn *c);
/* Queue a close frame with code (sent by the next flush). */
void conn_send_close(struct worker *w, struct conn *c, uint16_t code);
/* c owes a frame: flush it this loop turn. */
void mark_dirty(struct worker *w, struct conn *c);
/* Send c->tx[tx_off..tx_len) (wss: sealed first, then the session's out buffer). */
void conn_submit_send(struct worker *w, struct conn *c);
/* The closing handshake is over: close c (wss: after sending close_notify). */
void conn_bye(struct worker *w, struct conn *c);
/* The opening handshake's request into c's send buffer (its key in c->hs). Returns false if the
 * setup failed (then it has ended). */
bool hs_request(struct worker *w, struct conn *c);
/* hs->len bytes of the answer are in: act on the verdict (open, or fail). Returns true if more is
 * needed. */
bool hs_progress(struct worker *w, struct conn *c);
/* Append the control frames owed (a pong, a close) to c's send buffer. */
void put_ctl(struct worker *w, struct conn *c);
/* A ping or a close from the server. */
void on_control(struct worker *w, struct conn *c, const rc_frame_event *ev);
/* Receive into the buffer ring: multishot (arm_recv), or one recv of at most len bytes. */
void arm_recv(struct worker *w, struct conn *c);
void arm_recv_len(struct worker *w, struct conn *c, size_t len);
/* Cancel c's armed receive (its completion says -ECANCELED). */
void cancel_recv(struct worker *w, struct conn *c);
/* The worker's provided buffer ring. Returns 0 or a negative errno. */
int bufring_init(struct worker *w);
/* --reconnect: start the connections whose backoff is over. */
void retry_due(struct worker *w, uint64_t now);

/* ---- fanout_tls.c: wss:// ---------------------------------------------------------------------- */

/* c is connected: start its TLS session and handshake (its receive is armed from now on). */
void tls_conn_start(struct worker *w, struct conn *c);
/* n bytes of ciphertext arrived at c (p is the worker's buffer, reused once this returns). */
void tls_conn_recv(struct worker *w, struct conn *c, const uint8_t *p, size_t n, uint64_t now);
/* conn_submit_send for wss: seal the plaintext owed, send the out buffer. */
void tls_conn_send(struct worker *w, struct conn *c);
/* A send of the out buffer completed with res bytes: is there more to send (ciphertext, or
 * plaintext not sealed yet)? */
bool tls_conn_sent(struct conn *c, int res);

/* ---- fanout_msg.c: the messages --------------------------------------------------------------- */

/* Feed received bytes to c's frame parser and act on every frame: the receive hot path. */
void conn_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n, uint64_t now);
/* Put every message due on publisher c into one send (and the control frames it owes). */
void pub_fill(struct worker *w, struct conn *c, uint64_t now);
/* --rate: when message `index` (0-based) of publisher `pub` is due. */
uint64_t intended_ns(const struct fan *f, uint32_t pub, uint64_t index);
/* --max: publish this turn's window progress (one atomic per slot touched). */
void win_flush(struct worker *w);
/* Receiver c leaves the run (it ended during it): no message is expected at it any more. */
void rx_leave(struct worker *w, struct conn *c);
/* --reconnect: receiver c is back: messages sent from now on are expected at it. */
void rx_rejoin(struct worker *w, struct conn *c);
/* Drain: has every receiver of this thread got everything every publisher sent? */
bool rx_caught_up(struct worker *w);
/* The end of the run: count the messages due but never sent and those never received. */
void rx_count_end(struct worker *w);

#endif
