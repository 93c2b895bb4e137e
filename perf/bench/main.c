/* ringcast-bench: ringcast's load generator.
 *
 *   ringcast-bench [--workload NAME] [options] ws://HOST:PORT/PATH[?QUERY]
 *
 * Workloads (docs/ringcast-bench.md has every flag and JSON field):
 *   fanout  (default) N subscribers and P publishers on one topic; every subscriber should receive
 *           every message.
 *   market  market data over ringcast.v1: T topics, each subscriber on k of them and publishers on
 *           topics drawn from one Zipf distribution, sizes uniform in a range, open loop.
 *   slow    fan-out (ringcast.v1 by default) where a fraction of the subscribers stops reading after
 *           the warmup (or reads at --slow-rate bytes/s); the fast and the slow are reported apart.
 *   echo    C connections to an echo URL, each its own publisher and receiver: latency is the round
 *           trip (one message in flight per connection, or --rate in all).
 *   idle    C connections held open for --duration; with --server-pid the server's memory and
 *           descriptors before and after, and per connection.
 *   churn   connections opened at --rate per second (open loop), held briefly, closed with a close
 *           frame or a reset; handshake latency, failures and ends by kind (own engine: below).
 *   storm   handshakes as fast as the server takes them, --inflight in progress (same engine).
 * --reconnect (fanout, market, slow, echo, idle): what the server closes or refuses is opened
 * again after an exponential backoff with full jitter (retry_schedule).
 *
 * The fan-out engine below runs all of them. Publishers send messages of S bytes; two ways to pace:
 *   --rate R   open loop: message k of the run is due at t0 + k/R (spread over the publishers) and
 *              carries that intended time; latency is measured from it, so a publisher held up by
 *              a stalled server (or by this bench) shows the stall as latency instead of quietly
 *              sending less (no coordinated omission).
 *   --max      closed loop: at most --window messages in flight (published, not yet received by
 *              every receiver), to find the peak delivery rate. Latency is from the actual send.
 * Three ways to connect (--proto):
 *   plain      ringcast's /ws: subscribers connect to URL?topics=T, publishers to URL?publish=T;
 *              a message is expected at every subscriber (never at its publisher).
 *   v1         ringcast's /ws with the ringcast.v1 subprotocol: subscribers connect to
 *              URL?topics=a,b,c, publishers send binary PUBLISH frames naming the topic of each
 *              message; receivers also check the server's per-topic sequence numbers against its
 *              `missed` notices (docs/protocol.md 6.5).
 *   generic    any broadcast server: every client connects to URL as given, and a message from a
 *              publisher is expected at every other client (publishers included).
 *
 * Every payload starts with a 24-byte head: intended send time (CLOCK_MONOTONIC ns; the server and
 * the bench share the machine), sequence number (per publisher, from 1; with v1 per publisher and
 * topic, so that a receiver can tell a gap on one topic from messages sent on others), publisher id
 * and a random nonce of this run (so messages of anyone else on a shared broadcast server are
 * recognised and counted as foreign). With --text the payload is TEXT and the head is 48 hex
 * digits. Receivers track, per publisher (and topic), the next sequence number they expect: a
 * jump is a gap (messages missed), a step back a duplicate or out-of-order delivery. Latency goes into a log-linear histogram (128
 * sub-buckets per power of two: under 0.8% error, 0 to 137 s).
 *
 * Timeline: connect everything (in batches of --connect-batch per thread, so 10,000 connections
 * do not overrun the server's accept queue), then t0; --warmup seconds whose messages are not
 * counted; the measured --duration; then the publishers stop and the receivers get up to --drain
 * seconds to catch up; then every connection is closed with 1000. Counted over the measured
 * interval: messages whose intended time falls in it (published, delivered, latency), deliveries
 * that arrive in it (deliveries/s), this process's CPU time (getrusage) and, with --server-pid, the
 * server's (utime + stime from /proc/PID/stat). Gaps and duplicates are counted over the whole run.
 *
 * Output: a table on stderr, one JSON object on stdout (fields: see print_json).
 *
 * Design: one thread per --cpus entry, each pinned, with its own io_uring and its own share of the
 * connections (round robin). Receiving is one multishot recv per connection over a provided buffer
 * ring (set up by hand: liburing 2.3 lacks io_uring_setup_buf_ring, FACTS.md), so a receive costs
 * no system call and a recv completion carries whatever frames had arrived; frames are parsed in
 * place with proto's rc_frame parser (client role) and only the 24 or 48 bytes of the head are
 * looked at, copied only when a frame is split across buffers. Each connection has one send in
 * flight at most (FACTS.md: unlinked sends on one socket can complete out of order); a publisher
 * puts every frame that is due into one send. With --max the window is shared between threads: each
 * publisher has a ring of slots, one per message in flight, holding (sequence tag, receivers still
 * to pass); each thread batches its decrements per loop turn, so a message costs one atomic per
 * thread, not one per delivery. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_app.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_handshake.h"
#include "rc_http.h"
#include "rc_mask.h"

#include "bench.h"
#include "churn.h"
#include "fanout.h"
#include "handshake.h"
#include "options.h"
#include "report.h"
#include "stats.h"
#include "sys.h"
#include "topics.h"

/* ---- limits and constants ----------------------------------------------------------------- */

#define BGID 1           /* the provided buffer group of every worker's ring */
#define SUB_TX_MIN 512   /* subscriber send buffer: a pong (131 B) and a close (8 B) */
#define WIN_TAG_SHIFT 24 /* --max slot: tag << 24 | receivers left (< 2^24 > 20k fds) */
#define WIN_LEFT_MASK ((1ull << WIN_TAG_SHIFT) - 1)
#define WIN_TAG_MASK ((1ull << (64 - WIN_TAG_SHIFT)) - 1)
#define CLOSE_GRACE_NS (1000ull * 1000 * 1000) /* how long our closing 1000s may take */
#define DRAIN_CHECK_NS (10ull * 1000 * 1000)   /* how often a thread checks it has caught up */
#define IDLE_WAIT_NS (10ull * 1000 * 1000)     /* longest wait: phase changes are seen this fast */
/* v1: the bytes of a message collected when it is split across receive buffers: the MESSAGE
 * envelope (11 + 128) and the head (48), or a whole notice short enough to parse (`missed` is at
 * most 190 bytes; a longer notice is a `subscribed` list, which needs no parsing). */
#define MHEAD_MAX 256
#define SLOW_READ_TICK_NS (10ull * 1000 * 1000) /* --slow-rate: one read per 10 ms at most */

/* ---- options ------------------------------------------------------------------------------ */

static struct opts g_o;
static struct bench gb; /* main's set-up: the server, the requests, the topics, the nonce */

const struct workload *const workloads[] = { &wl_fanout, &wl_market, &wl_slow,  &wl_echo,
	                                         &wl_idle,   &wl_churn,  &wl_storm, NULL };

/* ---- state shared by the threads ------------------------------------------------------------ */

enum phase {
	PH_SETUP,      /* workers connect and handshake */
	PH_SETUP_STOP, /* main gave up waiting: workers abandon unfinished setups, then ack */
	PH_RUN,        /* g.t0 .. g.t_drain are set: workers run the timeline by themselves */
};

/* One per publisher. `seq` is written by the publisher's thread only; the rest by anyone. */
struct pub_shared {
	_Atomic uint64_t seq;       /* last sequence number sent (0: none) */
	_Atomic uint32_t live;      /* receivers each new message is expected at */
	_Atomic uint32_t live_slow; /* --workload slow: how many of them are slow */
	_Atomic bool stopped;       /* the publisher is done: seq is final */
	_Atomic uint64_t *slot;     /* --max: g.slots slots, tag << WIN_TAG_SHIFT | receivers left */
} __attribute__((aligned(64)));

static struct {
	_Atomic int phase;
	_Atomic uint32_t settled; /* connections whose setup ended, open or failed */
	_Atomic uint32_t open_subs, open_pubs;
	_Atomic uint32_t acks;
	uint64_t t0, t_measure, t_end, t_drain; /* set before phase PH_RUN (release) */
	struct pub_shared *pub;
	uint32_t total; /* connections: publishers are 0 .. P-1 */
	uint32_t threads;
	uint32_t win; /* --max: window per publisher (messages in flight) */
	/* --max: slot ring size, win rounded up to a power of two so that the per-delivery slot
	 * index is a mask, not a division (perf: win_pass fell from 8.5% to ~2% of the bench's CPU) */
	uint32_t slots;
	uint32_t head_len;            /* 24, or 48 with --text */
	uint32_t frame_len;           /* a whole masked client frame of --size bytes */
	uint32_t frame_max;           /* the longest frame a publisher may put in a send */
	bool v1, echo;                /* --proto v1; --workload echo (receive own messages only) */
	uint32_t kmax;                /* topics per receiver row (v1: --per-sub, else 1) */
	_Atomic uint32_t *topic_live; /* v1: open subscribers of each topic */
	_Atomic uint32_t *topic_live_slow;
	_Atomic uint64_t *stream_seq; /* v1: P x T, last sequence number sent per publisher, topic */
	uint32_t slow_total;          /* --workload slow: subscribers that are slow */
	uint8_t opcode;
	double period_ns; /* --rate: ns between two messages, all publishers together */
	uint64_t stall_ns;
	uint8_t *fill; /* --size bytes of payload filler */
} g;

/* ---- connections ---------------------------------------------------------------------------- */

enum conn_state {
	CS_IDLE,       /* not started */
	CS_CONNECTING, /* connect in flight */
	CS_HANDSHAKE,  /* request being sent, then the response being read */
	CS_OPEN,
	CS_CLOSING, /* shut down, waiting for its operations to complete */
	CS_CLOSED,  /* descriptor closed */
};

struct handshake {
	char key[RC_WS_KEY_LEN];
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
	/* publisher */
	uint64_t seq_sent; /* last sequence number put in a send */
	uint64_t win_base; /* --max: oldest sequence number not yet passed by every receiver */
	uint64_t win_moved_ns;
	bool stopped;
	bool slow;       /* --workload slow: stops reading at the end of the warmup */
	bool paused;     /* slow, in the measured interval: multishot recv cancelled */
	uint8_t mop;     /* opcode of the message in progress */
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

struct worker {
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
	bool acked, closing, stopped_all;
	uint32_t nretry; /* --reconnect: connections waiting for their retry_at */
	uint64_t next_retry_scan;
	uint64_t next_drain_check, close_deadline;
	uint64_t rng;
	uint8_t *tx_arena;
	struct stats st;
	struct stats st_slow; /* --workload slow: what the slow receivers saw */
};

/* ---- user_data ------------------------------------------------------------------------------ */

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

static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) {
		io_uring_submit(&w->ring); /* SQ full: hand it to the kernel and take a fresh one */
		sqe = io_uring_get_sqe(&w->ring);
		assert(sqe != NULL);
	}
	return sqe;
}

/* ---- the payload head ----------------------------------------------------------------------- */

struct head {
	uint64_t ts_ns, seq;
	uint32_t pub, nonce;
};

static void head_encode(uint8_t *out, const struct head *h)
{
	uint8_t b[HEAD_BIN_LEN];
	memcpy(b, &h->ts_ns, 8);
	memcpy(b + 8, &h->seq, 8);
	memcpy(b + 16, &h->pub, 4);
	memcpy(b + 20, &h->nonce, 4);
	if (!g_o.text) {
		memcpy(out, b, sizeof b);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof b; i++) {
		out[2 * i] = (uint8_t)hex[b[i] >> 4];
		out[2 * i + 1] = (uint8_t)hex[b[i] & 15];
	}
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a head and check it is ours. False for anything else (a foreign message). */
static bool head_decode(const uint8_t *in, struct head *h)
{
	uint8_t b[HEAD_BIN_LEN];
	if (g_o.text) {
		for (size_t i = 0; i < sizeof b; i++) {
			int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return false;
			b[i] = (uint8_t)(hi << 4 | lo);
		}
		in = b;
	}
	memcpy(&h->ts_ns, in, 8);
	memcpy(&h->seq, in + 8, 8);
	memcpy(&h->pub, in + 16, 4);
	memcpy(&h->nonce, in + 20, 4);
	return h->nonce == gb.nonce && h->pub < g_o.pubs && h->seq != 0;
}

/* ---- receiver streams ------------------------------------------------------------------------ */

/* A receiver expects one stream of sequence numbers per (topic it subscribes to, publisher): one
 * topic but v1, and with echo only its own publisher's. */
static bool rx_expects(const struct conn *c, uint32_t pub)
{
	return g.echo ? (int32_t)pub == c->pub_id : (int32_t)pub != c->pub_id;
}

static uint64_t *rx_next(struct worker *w, const struct conn *c, uint32_t slot, uint32_t pub)
{
	assert(c->rx_row >= 0 && slot < g.kmax && pub < g_o.pubs);
	if (g.echo)
		return &w->seq_next[c->rx_row];
	return &w->seq_next[((size_t)c->rx_row * g.kmax + slot) * g_o.pubs + pub];
}

static uint32_t rx_slots(const struct conn *c)
{
	return g.v1 ? c->ntopics : 1;
}

/* The topic of slot `slot` of receiver c (0 unless v1). */
static uint32_t rx_topic(const struct conn *c, uint32_t slot)
{
	return g.v1 ? c->topics[slot] : 0;
}

/* The last sequence number publisher `pub` sent on `topic`. */
static uint64_t stream_last(uint32_t pub, uint32_t topic)
{
	if (g.v1)
		return atomic_load_explicit(&g.stream_seq[(size_t)pub * g_o.topics + topic],
		                            memory_order_acquire);
	return atomic_load_explicit(&g.pub[pub].seq, memory_order_acquire);
}

/* Where a receiver's counts go: the slow subscribers of --workload slow have their own. */
static struct stats *stats_of(struct worker *w, const struct conn *c)
{
	return c->slow ? &w->st_slow : &w->st;
}

/* ---- the --max window ----------------------------------------------------------------------- */

static void win_flush_slot(struct worker *w, uint32_t pub, uint32_t i)
{
	struct winloc *wl = &w->win[pub];
	uint32_t k = wl->cnt[i];
	if (k == 0)
		return;
	wl->cnt[i] = 0;
	uint64_t tag = wl->seq[i] & WIN_TAG_MASK;
	_Atomic uint64_t *a = &g.pub[pub].slot[i];
	uint64_t v = atomic_load_explicit(a, memory_order_relaxed), nv;
	do {
		if (v >> WIN_TAG_SHIFT != tag)
			return; /* the slot moved on (a stall gave up on it): the decrement is stale */
		uint64_t left = v & WIN_LEFT_MASK;
		nv = v - (k < left ? k : left);
	} while (!atomic_compare_exchange_weak_explicit(a, &v, nv, memory_order_release,
	                                                memory_order_relaxed));
}

/* A receiver moved past sequence numbers from..to of publisher `pub` (delivered, or skipped over
 * in a gap): count it off their window slots. Only the last g.win numbers can still be in flight,
 * and a slot is reused only once its previous number left the window (win <= slots). */
static void win_pass(struct worker *w, uint32_t pub, uint64_t from, uint64_t to)
{
	if (!g_o.max || from > to)
		return;
	if (to - from >= g.win)
		from = to - g.win + 1;
	struct winloc *wl = &w->win[pub];
	for (uint64_t s = from; s <= to; s++) {
		uint32_t i = (uint32_t)s & (g.slots - 1);
		if (wl->cnt[i] != 0 && wl->seq[i] != s)
			win_flush_slot(w, pub, i);
		wl->seq[i] = s;
		wl->cnt[i]++;
		if (!wl->listed[i]) {
			wl->listed[i] = 1;
			wl->touched[wl->ntouched++] = i;
		}
	}
}

static void win_flush(struct worker *w)
{
	if (!g_o.max)
		return;
	for (uint32_t p = 0; p < g_o.pubs; p++) {
		struct winloc *wl = &w->win[p];
		for (uint32_t j = 0; j < wl->ntouched; j++) {
			uint32_t i = wl->touched[j];
			win_flush_slot(w, p, i);
			wl->listed[i] = 0;
		}
		wl->ntouched = 0;
	}
}

/* ---- connection lifecycle ------------------------------------------------------------------- */

/* --reconnect: the next attempt after `attempt` failures in a row, exponential backoff with full
 * jitter (a uniform draw in [0, min(cap, base x 2^attempt)], so that connections the server shed
 * together do not come back together), but never sooner than the server asked (floor_ms). */
static void retry_schedule(struct worker *w, struct conn *c)
{
	assert(c->state == CS_CLOSED && !c->retrying);
	c->want_retry = false;
	uint64_t ceil_ms = g_o.backoff_cap_ms;
	if (c->attempt < 32 && ((uint64_t)g_o.backoff_base_ms << c->attempt) < ceil_ms)
		ceil_ms = (uint64_t)g_o.backoff_base_ms << c->attempt;
	uint64_t ns = xorshift64(&w->rng) % (ceil_ms * 1000000u + 1);
	if (c->floor_ms && ns < (uint64_t)c->floor_ms * 1000000u) {
		ns = (uint64_t)c->floor_ms * 1000000u;
		w->st.waits_told++;
	}
	c->floor_ms = 0;
	if (c->attempt < 64)
		c->attempt++;
	c->retry_at = mono_ns() + ns;
	c->retrying = true;
	w->nretry++;
}

static void conn_maybe_finish(struct worker *w, struct conn *c)
{
	if (c->state != CS_CLOSING || c->ops != 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->state = CS_CLOSED;
	assert(w->open > 0);
	w->open--;
	if (c->want_retry && !w->closing)
		retry_schedule(w, c);
}

/* An open connection ended (the server closed it, a protocol or I/O error) before the end of the
 * run: messages are no longer expected at it, and a publisher is done. */
static void conn_gone(struct worker *w, struct conn *c)
{
	if (c->gone)
		return;
	c->gone = true;
	c->want_retry = g_o.reconnect && !w->closing;
	if (atomic_load_explicit(&g.phase, memory_order_acquire) != PH_RUN) {
		atomic_fetch_sub(c->pub_id >= 0 ? &g.open_pubs : &g.open_subs, 1);
		return;
	}
	if (w->closing)
		return; /* our own close at the end */
	stats_of(w, c)->closed_in_run++;
	if (c->pub_id >= 0)
		atomic_store_explicit(&g.pub[c->pub_id].stopped, true, memory_order_release);
	if (c->rx_row < 0)
		return;
	for (uint32_t k = 0; g.v1 && k < c->ntopics; k++) {
		atomic_fetch_sub(&g.topic_live[c->topics[k]], 1);
		if (c->slow)
			atomic_fetch_sub(&g.topic_live_slow[c->topics[k]], 1);
	}
	for (uint32_t p = 0; p < g_o.pubs; p++) {
		if (!rx_expects(c, p))
			continue;
		atomic_fetch_sub(&g.pub[p].live, 1);
		if (c->slow)
			atomic_fetch_sub(&g.pub[p].live_slow, 1);
		/* The window (--max) is per publisher, with one topic: slot 0. */
		if (g_o.max)
			win_pass(w, p, *rx_next(w, c, 0, p), stream_last(p, 0));
	}
}

/* Close: shut the socket down so that the operations in flight complete, and close the descriptor
 * when the last one has (a pending recv holds the socket open, FACTS.md). */
static void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CS_CLOSING) {
		conn_maybe_finish(w, c);
		return;
	}
	if (c->state == CS_CLOSED)
		return;
	if (c->state == CS_OPEN)
		conn_gone(w, c);
	c->state = CS_CLOSING;
	free(c->hs);
	c->hs = NULL;
	if (c->ops != 0)
		shutdown(c->fd, SHUT_RDWR);
	conn_maybe_finish(w, c);
}

static void mark_dirty(struct worker *w, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	w->dirty[w->ndirty++] = c->idx;
}

/* Queue a close frame (sent by the next flush); the connection is closed once it is out. */
static void conn_send_close(struct worker *w, struct conn *c, uint16_t code)
{
	if (c->close_pending || c->close_sent || c->state != CS_OPEN)
		return;
	c->close_pending = true;
	c->close_code_out = code;
	mark_dirty(w, c);
}

static void setup_end(struct worker *w, struct conn *c, const char *fail)
{
	assert(w->setting_up > 0);
	w->setting_up--;
	atomic_fetch_add_explicit(&g.settled, 1, memory_order_release);
	if (fail == NULL) {
		c->was_open = true;
		atomic_fetch_add(c->pub_id >= 0 ? &g.open_pubs : &g.open_subs, 1);
		return;
	}
	tally_add(&w->st.errors, fail, 1);
	if (c->rejoining) {
		c->rejoining = false;
		w->st.reconnect_failed++;
	}
	c->want_retry = g_o.reconnect && !w->closing;
	conn_close(w, c);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void conn_submit_send(struct worker *w, struct conn *c)
{
	assert(c->tx_off < c->tx_len);
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->idx));
	c->send_inflight = true;
	c->ops++;
}

/* Append one masked client frame to c's send buffer (the caller checked it fits). */
static void put_frame(struct worker *w, struct conn *c, uint8_t opcode, const uint8_t *payload,
                      uint32_t len)
{
	uint64_t r = xorshift64(&w->rng);
	uint8_t key[4];
	memcpy(key, &r, 4);
	uint8_t *out = c->tx + c->tx_len;
	size_t h = rc_frame_header_encode(out, opcode, true, len, key);
	if (len)
		memcpy(out + h, payload, len);
	rc_mask_apply(out + h, len, key, 0);
	c->tx_len += (uint32_t)(h + len);
	assert(c->tx_len <= c->tx_cap);
}

/* The control frames owed: a pong for the last ping, a close. */
static void put_ctl(struct worker *w, struct conn *c)
{
	assert(!c->send_inflight);
	if (c->pong_pending && !c->close_sent) {
		put_frame(w, c, RC_OPCODE_PONG, c->pong, c->pong_len);
		c->pong_pending = false;
	}
	if (c->close_pending) {
		uint8_t p[2 + RC_CLOSE_REASON_MAX];
		uint32_t n = 0;
		if (rc_close_code_valid(c->close_code_out))
			n = (uint32_t)rc_close_payload(p, c->close_code_out, NULL);
		put_frame(w, c, RC_OPCODE_CLOSE, p, n);
		c->close_pending = false;
		c->close_sent = true;
	}
}

/* ---- publishing ----------------------------------------------------------------------------- */

/* --rate: when message `index` (0-based) of publisher `pub` is due. Publishers take turns, so the
 * aggregate stream is evenly spaced at 1/rate. */
static uint64_t intended_ns(uint32_t pub, uint64_t index)
{
	return g.t0 + (uint64_t)(((double)index * g_o.pubs + pub) * g.period_ns);
}

/* --rate: the first message index of publisher `pub` due at or after t. */
static uint64_t first_index_due(int32_t pub, uint64_t t)
{
	uint64_t lo = 0, hi = 1;
	while (intended_ns((uint32_t)pub, hi) < t)
		hi *= 2;
	while (lo < hi) { /* the answer is in [lo, hi] */
		uint64_t mid = lo + (hi - lo) / 2;
		if (intended_ns((uint32_t)pub, mid) < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint32_t size_pick(struct worker *w)
{
	if (g_o.size_min == g_o.size_max)
		return g_o.size_min;
	return g_o.size_min + (uint32_t)(xorshift64(&w->rng) % (g_o.size_max - g_o.size_min + 1));
}

/* Append one message of publisher c: a plain frame, or with v1 a PUBLISH on a Zipf-drawn topic
 * whose head carries the publisher's sequence number on that topic instead of `seq`. */
static void put_message(struct worker *w, struct conn *c, uint64_t seq, uint64_t ts, uint64_t now)
{
	uint32_t topic = g.v1 ? topics_pick(&gb.topics, &w->rng) : 0, size = size_pick(w);
	uint32_t env = g.v1 ? (uint32_t)rc_app_pub_header_len(gb.topics.name_len[topic]) : 0;
	uint32_t len = env + size;
	uint8_t *out = c->tx + c->tx_len;
	size_t h = rc_frame_header_len(len, true);
	uint64_t r = xorshift64(&w->rng);
	uint8_t key[4];
	memcpy(key, &r, 4);
	rc_frame_header_encode(out, g.opcode, true, len, key);
	uint8_t *pl = out + h;
	uint32_t live, live_slow;
	if (g.v1) {
		rc_app_pub_encode_header(pl, g_o.text ? RC_APP_FLAG_TEXT : 0,
		                         (const uint8_t *)gb.topics.name[topic], gb.topics.name_len[topic],
		                         0);
		seq = ++c->tseq[topic];
		atomic_store_explicit(&g.stream_seq[(size_t)c->pub_id * g_o.topics + topic], seq,
		                      memory_order_release);
		live = atomic_load_explicit(&g.topic_live[topic], memory_order_relaxed);
		live_slow = atomic_load_explicit(&g.topic_live_slow[topic], memory_order_relaxed);
	} else {
		live = atomic_load_explicit(&g.pub[c->pub_id].live, memory_order_relaxed);
		live_slow = atomic_load_explicit(&g.pub[c->pub_id].live_slow, memory_order_relaxed);
	}
	memcpy(pl + env, g.fill, size);
	struct head hd = { .ts_ns = ts, .seq = seq, .pub = (uint32_t)c->pub_id, .nonce = gb.nonce };
	head_encode(pl + env, &hd);
	rc_mask_apply(pl, len, key, 0);
	c->tx_len += (uint32_t)(h + len);
	assert(c->tx_len <= c->tx_cap);
	w->st.published_total++;
	if (ts >= g.t_measure && ts < g.t_end) {
		w->st.published++;
		w->st.expected += live - live_slow;
		w->st_slow.expected += live_slow;
		/* Send lag: the bench's own lateness (its loop, or a send held up by the server). It is
		 * inside the latency already; reported apart to tell whose it is. */
		uint64_t lag = now > ts ? now - ts : 0;
		w->st.lag_sum_ns += lag;
		if (lag > w->st.lag_max_ns)
			w->st.lag_max_ns = lag;
	}
}

static void pub_stop(struct conn *c)
{
	if (c->stopped)
		return;
	c->stopped = true;
	atomic_store_explicit(&g.pub[c->pub_id].stopped, true, memory_order_release);
}

/* --max: move the window base past every message all receivers have passed; give up on the oldest
 * one after --stall-ms without progress (a receiver the server dropped without a close). */
static void win_advance(struct worker *w, struct conn *c, uint64_t now)
{
	struct pub_shared *ps = &g.pub[c->pub_id];
	uint64_t base0 = c->win_base;
	while (c->win_base <= c->seq_sent) {
		uint64_t v =
		        atomic_load_explicit(&ps->slot[c->win_base & (g.slots - 1)], memory_order_acquire);
		if (v != (c->win_base & WIN_TAG_MASK) << WIN_TAG_SHIFT)
			break;
		c->win_base++;
	}
	if (c->win_base != base0 || c->win_base > c->seq_sent) {
		c->win_moved_ns = now;
	} else if (now - c->win_moved_ns > g.stall_ns) {
		c->win_base++;
		c->win_moved_ns = now;
		w->st.stalls++;
	}
}

/* Put every message due on publisher c into one send. */
static void pub_fill(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->send_inflight || c->state != CS_OPEN)
		return;
	put_ctl(w, c);
	struct pub_shared *ps = &g.pub[c->pub_id];
	uint64_t seq = c->seq_sent;
	bool stop = false;
	if (!c->close_sent && !c->stopped && now >= g.t0) {
		uint32_t live = atomic_load_explicit(&ps->live, memory_order_relaxed);
		if (!g_o.max) {
			for (;;) {
				uint64_t t = intended_ns((uint32_t)c->pub_id, seq);
				if (t >= g.t_end) {
					stop = true;
					break;
				}
				if (t > now || c->tx_len + g.frame_max > c->tx_cap)
					break;
				put_message(w, c, seq + 1, t, now);
				seq++;
			}
		} else if (now >= g.t_end) {
			stop = true;
		} else {
			win_advance(w, c, now);
			while (seq + 1 - c->win_base < g.win && c->tx_len + g.frame_max <= c->tx_cap) {
				seq++;
				/* The slot is set before the message can be received: the send comes later. */
				atomic_store_explicit(&ps->slot[seq & (g.slots - 1)],
				                      (seq & WIN_TAG_MASK) << WIN_TAG_SHIFT | live,
				                      memory_order_release);
				put_message(w, c, seq, now, now);
			}
		}
	}
	if (seq != c->seq_sent) {
		c->seq_sent = seq;
		atomic_store_explicit(&ps->seq, seq, memory_order_release);
	}
	if (stop)
		pub_stop(c); /* after the store above: a reader that sees stopped sees the final seq */
	if (c->tx_len != 0)
		conn_submit_send(w, c);
}

/* ---- receiving ------------------------------------------------------------------------------ */

/* One of our messages reached receiver c on the stream whose next expected number is *next. */
static void stream_recv(struct worker *w, struct conn *c, uint64_t *next, const struct head *h,
                        uint64_t now)
{
	struct stats *s = stats_of(w, c);
	if (h->seq < *next) {
		/* --reconnect: sent before this connection rejoined, not expected here */
		if (c->rejoin_ns == 0 || h->ts_ns >= c->rejoin_ns)
			s->dups++;
		return;
	}
	if (h->seq > *next)
		s->gaps += h->seq - *next;
	win_pass(w, h->pub, *next, h->seq);
	*next = h->seq + 1;
	s->delivered_total++;
	if (now >= g.t_measure && now < g.t_end)
		s->arrivals++;
	if (h->ts_ns >= g.t_measure && h->ts_ns < g.t_end) {
		s->delivered++;
		stats_latency(s, now > h->ts_ns ? now - h->ts_ns : 0);
	}
}

/* plain, generic, echo: the payload starts with the head. */
static void on_message(struct worker *w, struct conn *c, const uint8_t *head, uint64_t now)
{
	struct stats *s = stats_of(w, c);
	struct head h;
	if (!head_decode(head, &h)) {
		s->foreign++;
		return;
	}
	if (c->rx_row < 0) {
		s->unexpected++;
		return;
	}
	if (!rx_expects(c, h.pub)) {
		if ((int32_t)h.pub == c->pub_id)
			s->self++;
		else
			s->unexpected++; /* echo: another connection's message came back here */
		return;
	}
	stream_recv(w, c, rx_next(w, c, 0, h.pub), &h, now);
}

/* v1: the slot of topic name p[0..n) in subscriber c's list, or -1 if c does not subscribe to it.
 * Names are ours ("T", or "T.<k>" with several topics), so the index is read from the name. */
static int topic_slot(const struct conn *c, const uint8_t *p, size_t n)
{
	int t = topics_index(&gb.topics, p, n);
	for (uint32_t k = 0; t >= 0 && k < c->ntopics; k++)
		if (c->topics[k] == (uint32_t)t)
			return (int)k;
	return -1;
}

/* v1: the server numbered this MESSAGE n on slot k. A gap since the previous one must be covered
 * by `missed` counts received meanwhile (docs/protocol.md 6.5); under drop-newest and conflate a
 * notice may count drops ahead of messages still queued, so unused counts carry over. */
static void srv_seq_check(struct worker *w, struct conn *c, uint32_t k, uint64_t n)
{
	struct stats *s = stats_of(w, c);
	size_t i = (size_t)c->rx_row * g.kmax + k;
	uint64_t last = w->srv_last[i];
	if (last == 0) { /* the first: the topic may have any number (no history) */
		w->srv_credit[i] = 0;
		w->srv_last[i] = n;
		return;
	}
	if (n <= last) {
		s->seq_back++;
		return;
	}
	uint64_t gap = n - last - 1, credit = w->srv_credit[i];
	uint64_t cover = gap < credit ? gap : credit;
	w->srv_credit[i] = credit - cover;
	s->unexplained += gap - cover;
	w->srv_last[i] = n;
}

/* v1: a MESSAGE; p[0..have) is its start (envelope and head at least, when it is ours). */
static void on_v1_message(struct worker *w, struct conn *c, const uint8_t *p, size_t have,
                          uint64_t now)
{
	struct stats *s = stats_of(w, c);
	struct head h;
	size_t env = have >= 3 ? rc_app_pub_header_len(p[2]) : SIZE_MAX;
	if (p[0] != RC_APP_KIND_MESSAGE || env > have || have - env < g.head_len ||
	    !head_decode(p + env, &h)) {
		s->foreign++;
		return;
	}
	int k = c->rx_row >= 0 ? topic_slot(c, p + 3, p[2]) : -1;
	if (k < 0) {
		s->unexpected++; /* a topic this connection did not subscribe to */
		return;
	}
	srv_seq_check(w, c, (uint32_t)k, rc_app_seq_read(p + 3 + p[2]));
	stream_recv(w, c, rx_next(w, c, (uint32_t)k, h.pub), &h, now);
}

/* v1: a notice, p[0..have) of its len bytes. Only `missed` matters for the accounting; a notice
 * longer than MHEAD_MAX is a long `subscribed` list. */
static void on_notice(struct worker *w, struct conn *c, const uint8_t *p, size_t have, uint64_t len)
{
	struct stats *s = stats_of(w, c);
	s->notices++;
	if (have < len)
		return;
	rc_app_notice nt;
	if (rc_app_notice_parse(p, have, &nt) != RC_APP_OK) {
		tally_add(&s->errors, "bad_notice", 1);
		return;
	}
	if (nt.type == RC_APP_NOTICE_MISSED) {
		s->missed += nt.count;
		int k = c->rx_row >= 0 ? topic_slot(c, nt.topics[0].ptr, nt.topics[0].len) : -1;
		if (k >= 0)
			w->srv_credit[(size_t)c->rx_row * g.kmax + (uint32_t)k] += nt.count;
	} else if (nt.type == RC_APP_NOTICE_ERROR) {
		char key[40];
		snprintf(key, sizeof key, "notice_%s", rc_app_error_name(nt.code));
		tally_add(&s->errors, key, 1);
	}
}

/* A whole message: p[0..have) of its len bytes (have is less when it was split across buffers:
 * what was collected in c->mhead). */
static void on_whole(struct worker *w, struct conn *c, uint8_t opcode, const uint8_t *p,
                     size_t have, uint64_t len, uint64_t now)
{
	if (!g.v1) {
		if (have >= g.head_len)
			on_message(w, c, p, now);
		else
			stats_of(w, c)->foreign++;
	} else if (opcode == RC_OPCODE_TEXT) {
		on_notice(w, c, p, have, len);
	} else if (have > 0) {
		on_v1_message(w, c, p, have, now);
	} else {
		stats_of(w, c)->foreign++;
	}
}

/* A chunk of a data message: the message is read where it lies when it is whole in the chunk (the
 * common case), else its first bytes are collected across chunks. */
static void on_data(struct worker *w, struct conn *c, const rc_frame_event *ev, uint64_t now)
{
	uint32_t need = g.v1 ? MHEAD_MAX : g.head_len;
	if (c->mlen == 0 && ev->msg_end) {
		on_whole(w, c, ev->msg_opcode, ev->data, ev->data_len, ev->data_len, now);
		return;
	}
	if (c->mhave < need) {
		size_t k = need - c->mhave;
		if (k > ev->data_len)
			k = ev->data_len;
		memcpy(c->mhead + c->mhave, ev->data, k);
		c->mhave = (uint16_t)(c->mhave + k);
	}
	c->mlen += ev->data_len;
	if (!ev->msg_end)
		return;
	on_whole(w, c, ev->msg_opcode, c->mhead, c->mhave, c->mlen, now);
	c->mhave = 0;
	c->mlen = 0;
}

static void on_control(struct worker *w, struct conn *c, const rc_frame_event *ev)
{
	switch (ev->opcode) {
	case RC_OPCODE_PING:
		if (c->close_sent || c->close_pending)
			break;
		memcpy(c->pong, ev->data, ev->data_len);
		c->pong_len = (uint8_t)ev->data_len;
		c->pong_pending = true;
		mark_dirty(w, c);
		break;
	case RC_OPCODE_CLOSE:
		c->close_rcvd = true;
		if (c->close_sent) { /* the answer to ours: done */
			conn_close(w, c);
			break;
		}
		if (!w->closing) {
			char k[16];
			snprintf(k, sizeof k, "%u", ev->close_code);
			tally_add(&stats_of(w, c)->closes, k, 1);
			/* 1012 service restart, 1013 try again later: not before 5 backoff bases. */
			if (ev->close_code == 1012 || ev->close_code == 1013)
				c->floor_ms = 5 * g_o.backoff_base_ms;
		}
		conn_gone(w, c);
		/* Echo the code (RFC 6455 §5.5.1); a close without one is answered without one. */
		conn_send_close(w, c, ev->close_code);
		break;
	default: /* pong */
		break;
	}
}

/* Feed received bytes to c's frame parser and act on every event: the receive hot path. */
static void conn_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n, uint64_t now)
{
	while (!c->proto_err && !c->close_rcvd) {
		rc_frame_event ev;
		ssize_t k = rc_frame_parse(&c->fp, p, n, &ev);
		if (k < 0) {
			const char *why;
			uint16_t code = rc_frame_error(&c->fp, &why);
			char key[40];
			snprintf(key, sizeof key, "protocol_%u", code);
			tally_add(&w->st.errors, key, 1);
			c->proto_err = true;
			conn_gone(w, c);
			conn_send_close(w, c, code);
			return;
		}
		p += k;
		n -= (size_t)k;
		switch (ev.type) {
		case RC_FRAME_NEED_MORE:
			return;
		case RC_FRAME_DATA_START:
			break;
		case RC_FRAME_DATA:
			on_data(w, c, &ev, now);
			break;
		case RC_FRAME_CONTROL:
			on_control(w, c, &ev);
			break;
		}
	}
}

/* A recv into the provided buffer ring: multishot (len 0), or one of at most len bytes. */
static void arm_recv_len(struct worker *w, struct conn *c, size_t len)
{
	assert(!c->recv_armed);
	struct io_uring_sqe *sqe = get_sqe(w);
	if (len == 0)
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, c->fd, NULL, len, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, c->idx));
	c->recv_armed = true;
	c->ops++;
}

static void arm_recv(struct worker *w, struct conn *c)
{
	arm_recv_len(w, c, 0);
}

static void buf_recycle(struct worker *w, uint32_t bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * w->buf_size, w->buf_size,
	                      (unsigned short)bid, io_uring_buf_ring_mask(w->nbufs), (int)w->br_added);
	w->br_added++;
}

static void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (res > 0) {
		assert(cqe->flags & IORING_CQE_F_BUFFER);
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		w->st.recv_cqes++;
		w->st.recv_bytes += (uint64_t)res;
		if (c->state == CS_OPEN)
			conn_feed(w, c, w->bufs + (size_t)bid * w->buf_size, (size_t)res, mono_ns());
		buf_recycle(w, bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = false;
	c->ops--;
	if (c->state == CS_OPEN && !c->close_rcvd &&
	    (res > 0 || res == -ENOBUFS || (res == -ECANCELED && c->paused))) {
		/* The multishot ended with the connection alive (-ENOBUFS: the buffer ring ran dry; the
		 * data waits in the socket). Re-arm after this batch's buffers are back in the ring (not
		 * while a slow subscriber is paused: its recv was cancelled on purpose, or was one read of
		 * --slow-rate). */
		if (res == -ENOBUFS)
			w->st.enobufs++;
		c->rearm = true;
		w->rearm[w->nrearm++] = c->idx;
		return;
	}
	if (c->state == CS_OPEN && !c->close_rcvd && !c->close_sent && !w->closing) {
		/* The server went away without a close frame. */
		tally_add(&stats_of(w, c)->closes, "1006", 1);
		if (res < 0) {
			char k[40];
			snprintf(k, sizeof k, "recv_%s", errno_name(-res));
			tally_add(&w->st.errors, k, 1);
		}
	}
	conn_close(w, c);
}

static void on_send(struct worker *w, struct conn *c, int res)
{
	c->ops--;
	c->send_inflight = false;
	if (res <= 0) {
		if (c->state == CS_OPEN && !w->closing) {
			char k[40];
			snprintf(k, sizeof k, "send_%s", res == 0 ? "zero" : errno_name(-res));
			tally_add(&w->st.errors, k, 1);
		}
		if (c->state == CS_HANDSHAKE) {
			setup_end(w, c, "handshake_send");
			return;
		}
		conn_close(w, c);
		return;
	}
	w->st.send_bytes += (uint64_t)res;
	c->tx_off += (uint32_t)res;
	if (c->tx_off < c->tx_len) { /* a short send: resume it ourselves (FACTS.md) */
		if (c->state == CS_OPEN || c->state == CS_HANDSHAKE)
			conn_submit_send(w, c);
		else
			conn_maybe_finish(w, c);
		return;
	}
	w->st.sends++;
	c->tx_len = c->tx_off = 0;
	if (c->state == CS_HANDSHAKE) {
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_recv(sqe, c->fd, c->hs->buf, sizeof c->hs->buf, 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_HS_RECV, c->idx));
		c->ops++;
		return;
	}
	if (c->state != CS_OPEN) {
		conn_maybe_finish(w, c);
		return;
	}
	if (c->close_sent && (c->close_rcvd || c->proto_err)) {
		conn_close(w, c); /* our answer to the server's close, or our protocol error close */
		return;
	}
	if (c->pong_pending || c->close_pending)
		mark_dirty(w, c);
}

/* ---- connecting and the opening handshake --------------------------------------------------- */

static void conn_start(struct worker *w, struct conn *c)
{
	assert(c->state == CS_IDLE);
	w->setting_up++;
	c->state = CS_CONNECTING;
	c->fd = socket(gb.addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		char k[40];
		snprintf(k, sizeof k, "socket_%s", errno_name(errno));
		c->state = CS_CLOSED;
		w->setting_up--;
		atomic_fetch_add_explicit(&g.settled, 1, memory_order_release);
		tally_add(&w->st.errors, k, 1);
		return;
	}
	w->open++;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (g_o.source_addrs > 0 && gb.addr.ss.ss_family == AF_INET) {
		/* Spread the source address over 127.0.0.1..n: each gives another ~28k ports towards the
		 * server (FACTS.md). NO_PORT defers the port choice to connect, where the kernel picks it
		 * for the full 4-tuple instead of reserving it per source address. */
		uint32_t global = c->idx * g.threads + w->id;
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(0x7f000001u + global % g_o.source_addrs);
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
			char k[40];
			snprintf(k, sizeof k, "bind_%s", errno_name(errno));
			c->state = CS_HANDSHAKE; /* so that setup_end closes it */
			setup_end(w, c, k);
			return;
		}
	}
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&gb.addr.ss, gb.addr.len);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CONNECT, c->idx));
	c->ops++;
}

static void on_connect(struct worker *w, struct conn *c, int res)
{
	c->ops--;
	if (c->state != CS_CONNECTING) { /* abandoned at the setup timeout */
		conn_maybe_finish(w, c);
		return;
	}
	c->state = CS_HANDSHAKE;
	if (res < 0) {
		char k[40];
		snprintf(k, sizeof k, "connect_%s", errno_name(-res));
		setup_end(w, c, k);
		return;
	}
	c->hs = malloc(sizeof *c->hs);
	if (c->hs == NULL) {
		setup_end(w, c, "out_of_memory");
		return;
	}
	c->hs->len = 0;
	uint8_t nonce[16];
	if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
		for (size_t i = 0; i < sizeof nonce; i++)
			nonce[i] = (uint8_t)xorshift64(&w->rng);
	}
	hs_key(nonce, c->hs->key);
	size_t n;
	if (g.v1 && c->ntopics > 0) {
		n = hs_request_v1_sub(&gb.rq, &gb.topics, c->topics, c->ntopics, (char *)c->tx, c->tx_cap);
	} else {
		const char *req = c->pub_id >= 0 ? gb.rq.pub : gb.rq.sub;
		n = c->pub_id >= 0 ? gb.rq.pub_len : gb.rq.sub_len;
		memcpy(c->tx, req, n);
	}
	assert(n + HS_KEY_TAIL <= c->tx_cap);
	c->tx_len = (uint32_t)hs_request_finish(c->tx, n, c->hs->key);
	c->tx_off = 0;
	conn_submit_send(w, c);
}

/* --reconnect: a connection of the run is open again. Messages are expected at it from now on:
 * the publishers count it again, and each of its streams starts after the last message sent so
 * far (what was sent meanwhile is not expected here; what was sent before this point and still
 * arrives is ignored, not counted as a duplicate: see stream_recv). */
static void rejoin(struct worker *w, struct conn *c)
{
	w->st.reconnected++;
	c->attempt = 0;
	c->rejoin_ns = mono_ns();
	if (c->pub_id >= 0 && !c->stopped)
		atomic_store_explicit(&g.pub[c->pub_id].stopped, false, memory_order_release);
	if (c->rx_row < 0)
		return;
	for (uint32_t k = 0; g.v1 && k < c->ntopics; k++) {
		atomic_fetch_add(&g.topic_live[c->topics[k]], 1);
		if (c->slow)
			atomic_fetch_add(&g.topic_live_slow[c->topics[k]], 1);
		w->srv_last[(size_t)c->rx_row * g.kmax + k] = 0; /* a new subscription: any number */
		w->srv_credit[(size_t)c->rx_row * g.kmax + k] = 0;
	}
	for (uint32_t p = 0; p < g_o.pubs; p++) {
		if (!rx_expects(c, p))
			continue;
		if (!g.v1) {
			atomic_fetch_add(&g.pub[p].live, 1);
			if (c->slow)
				atomic_fetch_add(&g.pub[p].live_slow, 1);
		}
		/* After the count went up: whatever is sent from now on counted this receiver. */
		for (uint32_t k = 0; k < rx_slots(c); k++)
			*rx_next(w, c, k, p) = stream_last(p, rx_topic(c, k)) + 1;
	}
}

static void on_hs_recv(struct worker *w, struct conn *c, int res)
{
	c->ops--;
	if (c->state != CS_HANDSHAKE) {
		conn_maybe_finish(w, c);
		return;
	}
	struct handshake *hs = c->hs;
	if (res <= 0) {
		char k[40];
		snprintf(k, sizeof k, "handshake_recv_%s", res == 0 ? "eof" : errno_name(-res));
		setup_end(w, c, k);
		return;
	}
	size_t old = hs->len;
	hs->len += (uint32_t)res;
	size_t from = old > 3 ? old - 3 : 0;
	size_t end = hs_head_end(hs->buf + from, hs->len - from);
	if (end == 0) {
		if (hs->len == sizeof hs->buf) {
			setup_end(w, c, "handshake_too_long");
			return;
		}
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_recv(sqe, c->fd, hs->buf + hs->len, sizeof hs->buf - hs->len, 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_HS_RECV, c->idx));
		c->ops++;
		return;
	}
	end += from;
	char scratch[40];
	const char *bad = hs_check(hs->buf, end, hs->key, g.v1 ? HS_SUBPROTOCOL_V1 : NULL, scratch,
	                           sizeof scratch);
	if (bad != NULL) {
		long ra = strcmp(bad, "http_503") == 0 ? hs_retry_after_s(hs->buf, end) : -1;
		if (ra >= 0) /* the server said when to come back */
			c->floor_ms = (uint32_t)ra * 1000;
		setup_end(w, c, bad);
		return;
	}
	c->state = CS_OPEN;
	c->hs = NULL; /* detached first: feeding may close the connection, which frees c->hs */
	setup_end(w, c, NULL);
	if (c->rejoining) {
		c->rejoining = false;
		if (w->closing) { /* too late: the run is over */
			free(hs);
			conn_send_close(w, c, RC_CLOSE_NORMAL);
			return;
		}
		rejoin(w, c);
		c->paused = c->slow && w->slow_paused && !w->slow_resumed;
	}
	if (!c->paused)
		arm_recv(w, c);
	/* Frames that came with the 101 belong to the connection. */
	if (end < hs->len)
		conn_feed(w, c, hs->buf + end, hs->len - end, mono_ns());
	free(hs);
}

/* ---- the worker ----------------------------------------------------------------------------- */

/* The provided buffer ring, by hand (liburing 2.3 has no io_uring_setup_buf_ring): page-aligned
 * memory for the ring, registered, then every buffer added. */
static int bufring_init(struct worker *w)
{
	w->br_bytes = (size_t)w->nbufs * sizeof(struct io_uring_buf);
	void *ring =
	        mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring == MAP_FAILED)
		return -errno;
	w->br = ring;
	io_uring_buf_ring_init(w->br);
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)ring,
		                            .ring_entries = w->nbufs,
		                            .bgid = BGID };
	int r = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (r < 0)
		return r;
	w->bufs_bytes = (size_t)w->nbufs * w->buf_size;
	void *bufs =
	        mmap(NULL, w->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		return -errno;
	w->bufs = bufs;
	for (uint32_t i = 0; i < w->nbufs; i++)
		buf_recycle(w, i);
	io_uring_buf_ring_advance(w->br, (int)w->br_added);
	w->br_added = 0;
	return 0;
}

static void setup_start_more(struct worker *w)
{
	while (w->setting_up < g_o.connect_batch && w->next_connect < w->nconns)
		conn_start(w, &w->conns[w->next_connect++]);
}

/* Main gave up waiting for the setup: what is still connecting fails. */
static void setup_abandon(struct worker *w)
{
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
			setup_end(w, c, "connect_timeout");
		} else if (c->state == CS_IDLE) {
			c->state = CS_CLOSED;
			atomic_fetch_add_explicit(&g.settled, 1, memory_order_release);
			tally_add(&w->st.errors, "connect_timeout", 1);
		}
	}
	w->next_connect = w->nconns;
}

/* The run is over for this thread: count what never arrived, then close every connection with
 * 1000 (the server answers and closes). */
static void begin_close(struct worker *w, uint64_t now)
{
	w->closing = true;
	w->close_deadline = now + CLOSE_GRACE_NS;
	for (uint32_t j = 0; j < w->npubs && !g_o.max; j++) {
		/* A publisher held up until now (or cut off by the server) never sent some messages that
		 * were due: they are not in `published`, so say how many. */
		struct conn *c = &w->conns[w->pubs[j]];
		if (!c->was_open)
			continue;
		uint64_t lo = first_index_due(c->pub_id, g.t_measure);
		uint64_t hi = first_index_due(c->pub_id, g.t_end);
		if (c->seq_sent > lo)
			lo = c->seq_sent;
		if (hi > lo)
			w->st.unsent += hi - lo;
	}
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CS_OPEN || c->rx_row < 0 || c->gone)
			continue;
		for (uint32_t k = 0; k < rx_slots(c); k++)
			for (uint32_t p = 0; p < g_o.pubs; p++) {
				if (!rx_expects(c, p))
					continue;
				uint64_t last = stream_last(p, rx_topic(c, k));
				uint64_t next = *rx_next(w, c, k, p);
				if (last >= next)
					stats_of(w, c)->lost_tail += last - next + 1;
			}
	}
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CS_OPEN)
			conn_send_close(w, c, RC_CLOSE_NORMAL);
		else if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE)
			conn_close(w, c);
	}
}

/* --reconnect: a connection whose retry time has come starts again, from a clean state. Not
 * after the measured interval: nothing would be measured. */
static void conn_reset(struct conn *c)
{
	assert(c->state == CS_CLOSED && c->ops == 0 && c->hs == NULL);
	c->state = CS_IDLE;
	c->recv_armed = c->send_inflight = c->gone = false;
	c->pong_pending = c->close_pending = c->close_sent = c->close_rcvd = c->proto_err = false;
	c->paused = false;
	c->mhave = 0;
	c->mlen = 0;
	c->tx_len = c->tx_off = 0;
	rc_frame_cfg fcfg = { .role = RC_FRAME_CLIENT };
	rc_frame_parser_init(&c->fp, &fcfg);
}

static void retry_due(struct worker *w, uint64_t now)
{
	if (w->nretry == 0 || now < w->next_retry_scan)
		return;
	w->next_retry_scan = now + 1000 * 1000; /* a scan per ms at most */
	for (uint32_t i = 0; i < w->nconns && now < g.t_end; i++) {
		struct conn *c = &w->conns[i];
		if (!c->retrying || now < c->retry_at)
			continue;
		c->retrying = false;
		w->nretry--;
		conn_reset(c);
		c->rejoining = true;
		w->st.reconnects++;
		conn_start(w, c);
	}
}

/* Drain: has every receiver of this thread got everything every publisher sent? */
static bool caught_up(struct worker *w)
{
	for (uint32_t p = 0; p < g_o.pubs; p++)
		if (!atomic_load_explicit(&g.pub[p].stopped, memory_order_acquire))
			return false;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CS_OPEN || c->rx_row < 0 || c->gone)
			continue;
		for (uint32_t k = 0; k < rx_slots(c); k++)
			for (uint32_t p = 0; p < g_o.pubs; p++)
				if (rx_expects(c, p) && *rx_next(w, c, k, p) <= stream_last(p, rx_topic(c, k)))
					return false;
	}
	return true;
}

/* --workload slow: at the end of the warmup the slow subscribers stop reading: their multishot
 * recv is cancelled, so what the server sends backs up in their sockets and then in its queues. */
static void slow_pause(struct worker *w)
{
	w->slow_paused = true;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->slow || c->state != CS_OPEN)
			continue;
		c->paused = true;
		if (!c->recv_armed)
			continue;
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_cancel64(sqe, ud_make(OP_RECV, c->idx), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, c->idx));
	}
}

/* --slow-rate: a paused subscriber reads at most rate x tick bytes per tick, one plain recv from
 * the buffer ring (its length caps what the kernel copies out). */
static void slow_read(struct worker *w, uint64_t now)
{
	uint64_t len = (uint64_t)(g_o.slow_rate * (double)SLOW_READ_TICK_NS / 1e9);
	if (len < 1)
		len = 1;
	if (len > w->buf_size)
		len = w->buf_size;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->paused || c->state != CS_OPEN || c->recv_armed || c->close_rcvd ||
		    now < c->next_read_ns)
			continue;
		c->next_read_ns = now + SLOW_READ_TICK_NS;
		arm_recv_len(w, c, (size_t)len);
	}
}

/* At the end of the measured interval the slow subscribers read again, to learn what the server
 * told them meanwhile (`missed` notices, a close) and so that the drain can catch up. */
static void slow_resume(struct worker *w)
{
	w->slow_resumed = true;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->paused)
			continue;
		c->paused = false;
		if (c->state == CS_OPEN && !c->recv_armed && !c->close_rcvd)
			arm_recv(w, c);
	}
}

static void slow_phase(struct worker *w, uint64_t now)
{
	if (g.slow_total == 0)
		return;
	if (!w->slow_paused && now >= g.t_measure)
		slow_pause(w);
	if (!w->slow_resumed && now >= g.t_end)
		slow_resume(w);
	else if (w->slow_paused && !w->slow_resumed && g_o.slow_rate > 0 && now >= w->next_slow_ns) {
		w->next_slow_ns = now + SLOW_READ_TICK_NS / 10; /* a scan per ms, not per loop turn */
		slow_read(w, now);
	}
}

static void flush_dirty(struct worker *w, uint64_t now)
{
	for (uint32_t j = 0; j < w->ndirty; j++) {
		struct conn *c = &w->conns[w->dirty[j]];
		c->dirty = false;
		if (c->send_inflight || c->state != CS_OPEN)
			continue; /* a send completion marks it again if it still owes something */
		if (c->pub_id >= 0 && atomic_load_explicit(&g.phase, memory_order_relaxed) == PH_RUN) {
			pub_fill(w, c, now);
			continue;
		}
		put_ctl(w, c);
		if (c->tx_len != 0)
			conn_submit_send(w, c);
	}
	w->ndirty = 0;
}

/* How long the loop may sleep: until the next message is due (--rate), else until something
 * completes, but never past IDLE_WAIT_NS so that phase changes and deadlines are seen. */
static uint64_t wait_ns(struct worker *w, int ph, uint64_t now)
{
	uint64_t until = now + IDLE_WAIT_NS;
	if (ph != PH_RUN)
		return IDLE_WAIT_NS;
	if (now < g.t0 && g.t0 < until)
		until = g.t0;
	for (uint32_t j = 0; j < w->npubs; j++) {
		struct conn *c = &w->conns[w->pubs[j]];
		if (c->state != CS_OPEN || c->send_inflight || c->stopped || now < g.t0)
			continue;
		uint64_t due = g_o.max ? now + 1000 * 1000 /* window freed by another thread */
		                       : intended_ns((uint32_t)c->pub_id, c->seq_sent);
		if (due < until)
			until = due;
	}
	if (now < g.t_end && g.t_end < until)
		until = g.t_end;
	return until > now ? until - now : 0;
}

static void worker_loop(struct worker *w)
{
	for (;;) {
		/* 1. phase: the timeline */
		uint64_t now = mono_ns();
		int ph = atomic_load_explicit(&g.phase, memory_order_acquire);
		if (ph == PH_SETUP) {
			setup_start_more(w);
		} else if (!w->acked) {
			setup_abandon(w);
			w->acked = true;
			atomic_fetch_add_explicit(&g.acks, 1, memory_order_release);
		}
		if (ph == PH_RUN && !w->closing && now >= g.t_end && now >= w->next_drain_check) {
			w->next_drain_check = now + DRAIN_CHECK_NS;
			if (now >= g.t_drain || caught_up(w))
				begin_close(w, now);
		}
		if (w->closing && (w->open == 0 || now >= w->close_deadline))
			return;
		if (ph == PH_RUN && !w->closing) {
			slow_phase(w, now);
			retry_due(w, now);
		}
		/* 2. publish: every publisher puts what is due into one send */
		if (ph == PH_RUN && !w->closing)
			for (uint32_t j = 0; j < w->npubs; j++)
				pub_fill(w, &w->conns[w->pubs[j]], now);
		/* 3. flush: control frames owed */
		flush_dirty(w, now);
		/* 4. submit and wait. A sleeping vCPU here wakes ~50-150 us after its timer or its
		 * packet (clock_nanosleep is 113 us late on average on the 2-vCPU dev VM), which would
		 * land in send times and receive timestamps: --busy-poll trades the CPU for it. */
		uint64_t wait = g_o.busy_poll ? 0 : wait_ns(w, ph, now);
		if (wait == 0) {
			io_uring_submit_and_get_events(&w->ring);
		} else {
			struct __kernel_timespec ts = { .tv_sec = (long long)(wait / NS_PER_S),
				                            .tv_nsec = (long long)(wait % NS_PER_S) };
			struct io_uring_cqe *cqe;
			io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		}
		/* 5. reap the completions in a batch */
		unsigned head, seen = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe (&w->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			struct conn *c = &w->conns[ud_idx(ud)];
			switch (ud_op(ud)) {
			case OP_CONNECT:
				on_connect(w, c, cqe->res);
				break;
			case OP_SEND:
				on_send(w, c, cqe->res);
				break;
			case OP_HS_RECV:
				on_hs_recv(w, c, cqe->res);
				break;
			case OP_RECV:
				on_recv(w, c, cqe);
				break;
			case OP_CANCEL: /* the recv it cancelled reports on its own */
				break;
			}
			seen++;
		}
		io_uring_cq_advance(&w->ring, seen);
		/* 6. give the buffers back, re-arm what ran dry, publish the window progress */
		if (w->br_added) {
			io_uring_buf_ring_advance(w->br, (int)w->br_added);
			w->br_added = 0;
		}
		for (uint32_t j = 0; j < w->nrearm; j++) {
			struct conn *c = &w->conns[w->rearm[j]];
			c->rearm = false;
			if (c->state == CS_OPEN && !c->recv_armed && !c->paused) {
				w->st.rearms++;
				arm_recv(w, c);
			} else {
				conn_maybe_finish(w, c);
			}
		}
		w->nrearm = 0;
		win_flush(w);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	thread_setup(w->id, w->cpu);
	uint32_t cq = pow2_at_least(2 * w->nconns + 1024);
	if (cq > 65536)
		cq = 65536;
	int r = ring_init(&w->ring, cq);
	if (r == 0) {
		w->ring_ok = true;
		r = bufring_init(w);
	}
	if (r < 0) {
		fprintf(stderr, "ringcast-bench: thread %u: io_uring setup failed: %s\n", w->id,
		        strerror(-r));
		for (uint32_t i = 0; i < w->nconns; i++)
			tally_add(&w->st.errors, "io_uring_setup", 1);
		atomic_fetch_add(&g.settled, w->nconns);
		while (atomic_load(&g.phase) == PH_SETUP)
			usleep(1000);
		atomic_fetch_add(&g.acks, 1);
		return NULL;
	}
	worker_loop(w);
	return NULL;
}

static void worker_fini(struct worker *w)
{
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring); /* cancels what is still in flight */
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->fd >= 0 && c->state != CS_CLOSED && c->state != CS_IDLE)
			close(c->fd);
		free(c->hs);
	}
	if (w->bufs)
		munmap(w->bufs, w->bufs_bytes);
	if (w->br)
		munmap(w->br, w->br_bytes);
	if (w->win) {
		for (uint32_t p = 0; p < g_o.pubs; p++) {
			free(w->win[p].seq);
			free(w->win[p].cnt);
			free(w->win[p].listed);
			free(w->win[p].touched);
		}
		free(w->win);
	}
	free(w->conns);
	free(w->dirty);
	free(w->rearm);
	free(w->pubs);
	free(w->seq_next);
	free(w->srv_last);
	free(w->srv_credit);
	free(w->topic_arena);
	free(w->tseq_arena);
	free(w->tx_arena);
}

/* --workload slow: subscriber j (0-based) is slow when the running count floor(j x F) steps up at
 * it, which spreads the slow ones evenly over the subscribers (and the threads). */
static bool is_slow(uint32_t j)
{
	if (g_o.wl != &wl_slow)
		return false;
	double f = g_o.slow_fraction;
	return (uint64_t)((double)(j + 1) * f) > (uint64_t)((double)j * f);
}

/* v1: each subscriber's topics, each publisher's per-topic sequence numbers, and the server
 * sequence state of every (receiver, topic). */
static void worker_prepare_v1(struct worker *w)
{
	uint32_t nsubs = w->nconns - w->npubs;
	w->topic_arena = xcalloc((size_t)nsubs * g.kmax, sizeof *w->topic_arena);
	w->tseq_arena = xcalloc((size_t)w->npubs * g_o.topics, sizeof *w->tseq_arena);
	w->srv_last = xcalloc((size_t)w->nrx * g.kmax, sizeof *w->srv_last);
	w->srv_credit = xcalloc((size_t)w->nrx * g.kmax, sizeof *w->srv_credit);
	uint32_t *tp = w->topic_arena;
	uint64_t *sp = w->tseq_arena;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->pub_id >= 0) {
			c->tseq = sp;
			sp += g_o.topics;
			continue;
		}
		c->topics = tp;
		c->ntopics = (uint8_t)g_o.per_sub;
		topics_draw(&gb.topics, &w->rng, tp, g_o.per_sub);
		tp += g.kmax;
	}
}

/* Connections are dealt round robin: global number k goes to worker k % T as its local k / T;
 * numbers 0 .. P-1 are the publishers. */
static void worker_prepare(struct worker *w, uint32_t id)
{
	w->id = id;
	w->cpu = g_o.ncpus ? g_o.cpus[id] : -1;
	w->nconns = g.total / g.threads + (id < g.total % g.threads ? 1 : 0);
	w->conns = xcalloc(w->nconns, sizeof *w->conns);
	w->dirty = xcalloc(w->nconns, sizeof *w->dirty);
	w->rearm = xcalloc(w->nconns, sizeof *w->rearm);
	w->pubs = xcalloc(w->nconns, sizeof *w->pubs);
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)gb.nonce << 20) ^ (id + 1);
	uint32_t sub_tx = SUB_TX_MIN;
	size_t req_max = (gb.rq.sub_len > gb.rq.pub_len ? gb.rq.sub_len : gb.rq.pub_len);
	if (req_max < gb.rq.sub_max)
		req_max = gb.rq.sub_max;
	req_max += HS_KEY_TAIL;
	if (sub_tx < req_max)
		sub_tx = (uint32_t)req_max;
	uint32_t pub_tx = g_o.send_batch_bytes;
	if (pub_tx < g.frame_max + SUB_TX_MIN)
		pub_tx = g.frame_max + SUB_TX_MIN;
	if (pub_tx < sub_tx)
		pub_tx = sub_tx;
	size_t arena = 0;
	for (uint32_t i = 0; i < w->nconns; i++) {
		uint32_t global = i * g.threads + id;
		arena += global < g_o.pubs ? pub_tx : sub_tx;
	}
	w->tx_arena = xcalloc(arena, 1);
	rc_frame_cfg fcfg = { .role = RC_FRAME_CLIENT };
	uint8_t *tx = w->tx_arena;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		uint32_t global = i * g.threads + id;
		c->fd = -1;
		c->idx = i;
		c->pub_id = global < g_o.pubs ? (int32_t)global : -1;
		c->tx = tx;
		c->tx_cap = c->pub_id >= 0 ? pub_tx : sub_tx;
		tx += c->tx_cap;
		c->win_base = 1;
		rc_frame_parser_init(&c->fp, &fcfg);
		bool rx = g_o.proto == PROTO_GENERIC || g.echo || c->pub_id < 0;
		c->rx_row = rx ? (int32_t)w->nrx++ : -1;
		if (c->pub_id >= 0)
			w->pubs[w->npubs++] = i;
		else
			c->slow = is_slow(global - g_o.pubs);
	}
	size_t rows = (size_t)w->nrx * (g.echo ? 1 : (size_t)g.kmax * g_o.pubs);
	w->seq_next = xcalloc(rows, sizeof *w->seq_next);
	for (size_t i = 0; i < rows; i++)
		w->seq_next[i] = 1;
	if (g.v1)
		worker_prepare_v1(w);
	if (g_o.max) {
		w->win = xcalloc(g_o.pubs, sizeof *w->win);
		for (uint32_t p = 0; p < g_o.pubs; p++) {
			w->win[p].seq = xcalloc(g.slots, sizeof(uint64_t));
			w->win[p].cnt = xcalloc(g.slots, sizeof(uint32_t));
			w->win[p].listed = xcalloc(g.slots, 1);
			w->win[p].touched = xcalloc(g.slots, sizeof(uint32_t));
		}
	}
	uint32_t per = pow2_at_least(w->nconns);
	/* One buffer per connection (256..4096): a turn can then take a completion from each. */
	w->nbufs = g_o.recv_bufs ? pow2_at_least(g_o.recv_bufs)
	           : per < 256   ? 256
	           : per > 4096  ? 4096
	                         : per;
	if (w->nbufs > 32768)
		w->nbufs = 32768;
	w->buf_size = g_o.recv_buf_bytes;
}

/* ---- the report ----------------------------------------------------------------------------- */

/* ---- setup: URL, requests, options ---------------------------------------------------------- */

/* v1: topic names and popularity, and the shared per-topic counters. */
static void topics_build(void)
{
	uint32_t n = g_o.topics;
	topics_init(&gb.topics, g_o.topic, n, g_o.zipf);
	g.topic_live = xcalloc(n, sizeof *g.topic_live);
	g.topic_live_slow = xcalloc(n, sizeof *g.topic_live_slow);
	g.stream_seq = xcalloc((size_t)n * (g_o.pubs ? g_o.pubs : 1), sizeof *g.stream_seq);
}

static void topics_free(void)
{
	topics_fini(&gb.topics);
	free(g.topic_live);
	free(g.topic_live_slow);
	free(g.stream_seq);
}

/* The payload after the head: printable, so that it is also valid text. */
static void fill_build(void)
{
	g.fill = xcalloc(g_o.size, 1);
	for (uint32_t i = 0; i < g_o.size; i++)
		g.fill[i] = (uint8_t)('a' + i % 26);
}

/* After the setup: how many receivers each message will have. Plain and v1 with one topic:
 * every open subscriber (pub.live); v1: the open subscribers of each topic (topic_live); echo: the
 * publisher itself; generic: every other client. Slow subscribers are counted apart as well. */
static uint32_t live_counts(struct worker *ws, uint32_t open_subs, uint32_t open_pubs)
{
	uint32_t open_slow = 0;
	for (uint32_t i = 0; i < g.threads; i++)
		for (uint32_t j = 0; j < ws[i].nconns; j++) {
			const struct conn *c = &ws[i].conns[j];
			if (!c->was_open || c->pub_id >= 0)
				continue;
			open_slow += c->slow;
			for (uint32_t k = 0; g.v1 && k < c->ntopics; k++) {
				atomic_fetch_add(&g.topic_live[c->topics[k]], 1);
				if (c->slow)
					atomic_fetch_add(&g.topic_live_slow[c->topics[k]], 1);
			}
		}
	for (uint32_t p = 0; p < g_o.pubs; p++) {
		uint32_t live = g.echo                       ? 1
		                : g_o.proto != PROTO_GENERIC ? open_subs
		                                             : open_subs + open_pubs - (open_pubs ? 1 : 0);
		atomic_store(&g.pub[p].live, live);
		atomic_store(&g.pub[p].live_slow, g.echo ? 0 : open_slow);
	}
	return open_slow;
}

int main(int argc, char **argv)
{
	opts_parse(&g_o, argc, argv);
	g.v1 = g_o.proto == PROTO_V1;
	g.echo = g_o.wl == &wl_echo;
	g.kmax = g.v1 ? g_o.per_sub : 1;
	if (g.v1)
		topics_build();
	struct hs_url u;
	if (hs_url_parse(g_o.url, &u) < 0) {
		fprintf(stderr, "ringcast-bench: bad URL (ws://HOST:PORT/PATH[?QUERY]): %s\n", g_o.url);
		return 2;
	}
	if (hs_resolve(&u, &gb.addr) < 0)
		return 2;
	enum hs_mode mode = g_o.proto == PROTO_V1        ? HS_V1
	                    : g_o.proto == PROTO_GENERIC ? HS_GENERIC
	                                                 : HS_PLAIN;
	if (hs_requests_build(&gb.rq, &u, mode, g_o.topic, &gb.topics, g_o.per_sub) < 0)
		die("URL too long", 0);
	signal(SIGPIPE, SIG_IGN);
	if (getrandom(&gb.nonce, sizeof gb.nonce, 0) != (ssize_t)sizeof gb.nonce)
		gb.nonce = (uint32_t)mono_ns() ^ (uint32_t)getpid();
	gb.o = &g_o;
	return g_o.wl->run(&gb);
}

int fanout_run(const struct bench *b)
{
	(void)b;
	g.total = g_o.subs + g_o.pubs;
	g.threads = g_o.ncpus ? g_o.ncpus : 1;
	if (g.threads > g.total)
		g.threads = g.total;
	g.head_len = g_o.text ? HEAD_TEXT_LEN : HEAD_BIN_LEN;
	/* v1: PUBLISH is always BINARY; a text payload is told by its flag. */
	g.opcode = g_o.text && !g.v1 ? RC_OPCODE_TEXT : RC_OPCODE_BINARY;
	g.frame_len = (uint32_t)(rc_frame_header_len(g_o.size, true) + g_o.size);
	g.frame_max = g.frame_len;
	if (g.v1) {
		size_t len = g_o.size_max + RC_APP_PUB_HEADER_MAX;
		g.frame_max = (uint32_t)(rc_frame_header_len(len, true) + len);
	}
	for (uint32_t j = 0; j < g_o.subs; j++)
		g.slow_total += is_slow(j);
	g.win = g_o.pubs && g_o.window / g_o.pubs ? g_o.window / g_o.pubs : 1;
	g.slots = pow2_at_least(g.win);
	g.stall_ns = (uint64_t)g_o.stall_ms * 1000000u;
	g.period_ns = g_o.max ? 0 : 1e9 / g_o.rate;
	if (g_o.source_addrs == 0 && g.total > 25000 && gb.addr.ss.ss_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)&gb.addr.ss)->sin_addr.s_addr) >> 24) == 127)
		g_o.source_addrs = g.total / 25000 + 1;
	fill_build();
	raise_nofile(g.total);

	g.pub = aligned_alloc(64, sizeof *g.pub * (g_o.pubs ? g_o.pubs : 1));
	if (g.pub == NULL)
		die("out of memory", 0);
	memset(g.pub, 0, sizeof *g.pub * (g_o.pubs ? g_o.pubs : 1));
	for (uint32_t p = 0; p < g_o.pubs; p++)
		if (g_o.max)
			g.pub[p].slot = xcalloc(g.slots, sizeof(uint64_t));

	struct report r;
	report_init(&r);
	r.slow_total = g.slow_total;
	if (g_o.server_pid)
		r.mem_before = proc_mem_read(g_o.server_pid);
	struct worker *ws = xcalloc(g.threads, sizeof *ws);
	for (uint32_t i = 0; i < g.threads; i++)
		worker_prepare(&ws[i], i);
	atomic_store(&g.phase, PH_SETUP);
	for (uint32_t i = 0; i < g.threads; i++) {
		int err = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
		if (err != 0)
			die("pthread_create", err);
	}

	/* Setup: wait for every connection to be open or failed, or for the timeout. */
	uint64_t t_setup = mono_ns();
	uint64_t setup_deadline = t_setup + (uint64_t)(g_o.connect_timeout_s * 1e9);
	while (atomic_load_explicit(&g.settled, memory_order_acquire) < g.total &&
	       mono_ns() < setup_deadline)
		usleep(2000);
	atomic_store_explicit(&g.phase, PH_SETUP_STOP, memory_order_release);
	while (atomic_load_explicit(&g.acks, memory_order_acquire) < g.threads)
		usleep(1000);
	uint32_t open_subs = atomic_load(&g.open_subs), open_pubs = atomic_load(&g.open_pubs);
	if (!g_o.quiet)
		fprintf(stderr, "ringcast-bench: %u/%u subscribers, %u/%u publishers connected in %.2f s\n",
		        open_subs, g_o.subs, open_pubs, g_o.pubs, (double)(mono_ns() - t_setup) / 1e9);
	/* A publisher that did not connect publishes nothing, so its counts do not matter. */
	r.open_slow = live_counts(ws, open_subs, open_pubs);

	/* The timeline. t0 leaves the workers time to see the phase change. */
	struct timeline tl = opts_timeline(&g_o, mono_ns() + 50 * 1000 * 1000);
	g.t0 = tl.t0;
	g.t_measure = tl.t_measure;
	g.t_end = tl.t_end;
	g.t_drain = tl.t_drain;
	/* Publishers that never connected publish nothing and are done from the start. */
	for (uint32_t i = 0; i < g.threads; i++)
		for (uint32_t j = 0; j < ws[i].npubs; j++) {
			struct conn *c = &ws[i].conns[ws[i].pubs[j]];
			if (!c->was_open)
				atomic_store(&g.pub[c->pub_id].stopped, true);
		}
	atomic_store_explicit(&g.phase, PH_RUN, memory_order_release);

	r.threads = g.threads;
	report_measure(&r, &g_o, &tl);
	for (uint32_t i = 0; i < g.threads; i++)
		pthread_join(ws[i].thread, NULL);

	r.open_subs = open_subs;
	r.open_pubs = open_pubs;
	for (uint32_t i = 0; i < g.threads; i++) {
		stats_merge(&r.st, &ws[i].st);
		stats_merge(&r.st_slow, &ws[i].st_slow);
	}
	if (g_o.server_pid && r.server_cpu_s < 0)
		fprintf(stderr, "ringcast-bench: warning: cannot read /proc/%ld/stat\n", g_o.server_pid);
	if (open_subs + open_pubs == 0)
		r.error = "no connection could be opened";
	else if (open_pubs == 0 && g_o.pubs > 0)
		r.error = "no publisher could connect";
	else if (r.st.closed_in_run >= open_subs + open_pubs + r.st.reconnected)
		r.error = "the server closed every connection during the run";
	int status = report_finish(&g_o, &r);
	for (uint32_t i = 0; i < g.threads; i++)
		worker_fini(&ws[i]);
	free(ws);
	for (uint32_t p = 0; p < g_o.pubs; p++)
		free(g.pub[p].slot);
	free(g.pub);
	free(g.fill);
	if (g.v1)
		topics_free();
	return status;
}
