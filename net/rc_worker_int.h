/* rc_worker_int: the data of one worker and of its connections, shared by the files of net/ that
 * implement the worker. Types and constants only: every function lives in the module that owns it
 * and is declared in that module's header, so the headers a file includes are exactly the modules
 * it calls (tests/include_cycles.sh checks that they form no cycle):
 *
 *   rc_worker.c        the loop, dispatch of completions, accept, signals and draining
 *     rc_route.h       the request head and the HTTP routes (-> rc_ws, rc_conn, rc_gauges)
 *     rc_ws.h          frames, publishing, fan-out, commands (-> rc_xfer, rc_conn)
 *     rc_send.h        the send path: flush, partial sends (-> rc_conn)
 *     rc_xfer.h        hand-offs between workers (-> rc_uring)
 *     rc_gauges.h      the gauges /metrics adds up
 *     rc_admin.h       the admin view's questions, answered here (-> rc_view)
 *     rc_conn.h        a connection's life, its close handshake, control output, reads
 *   rc_worker_setup.c  creating and destroying a worker
 * Around them: rc_server.c (start-up checks, listening sockets) runs rc_threads.c (one pinned
 * thread per worker) over rc_group.h (what the workers share), and rc_uring.h is the ring plumbing.
 *
 * Not a public header: nothing outside net/ includes it.
 */
#ifndef RC_WORKER_INT_H
#define RC_WORKER_INT_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "rc_app.h"
#include "rc_cfg.h"
#include "rc_chunks.h"
#include "rc_due.h"
#include "rc_close.h"
#include "rc_frame.h"
#include "rc_group.h"
#include "rc_handshake.h"
#include "rc_hist.h"
#include "rc_http.h"
#include "rc_interest.h"
#include "rc_jwt.h"
#include "rc_metrics.h"
#include "rc_msg.h"
#include "rc_outq.h"
#include "rc_pool.h"
#include "rc_retain.h"
#include "rc_span.h"
#include "rc_topic.h"
#include "rc_tls.h"
#include "rc_uring.h"
#include "rc_xmsg.h"

#define RC_BGID 0 /* the provided buffer ring's group id */
/* Accepts in flight per listener: a burst of new connections is taken this many per loop turn
 * and listener, the rest wait in the listen backlog for the next turn. */
#define RC_ACCEPTS 16
/* Staging and control chunk. As large as a receive buffer, so that one send per subscriber per
 * iteration can carry everything one receive from a publisher brought in (with 16 KiB, a
 * publisher filling 64 KiB reads outran its subscribers' sends 4 to 1 and their queues
 * overflowed). Only the pages a send actually fills become resident. */
#define RC_CHUNK_BYTES (64u << 10)
#define RC_CLOSE_FRAME_MAX (2 + 2 + RC_CLOSE_REASON_MAX) /* a close frame's header and payload */
#define RC_WHY_UNSET 0xff                                /* rc_conn.why before a reason is known */

typedef struct rc_worker rc_worker; /* as in rc_worker.h, which this header does not need */

/* ---- a connection ---------------------------------------------------------------------------- */

/* Where a connection is in its life. Every state but CS_FREE may have operations in flight; the
 * slot is reused only after CS_CLOSED's close completes (rc_conn.h has the transitions). */
enum conn_state {
	CS_FREE = 0,
	CS_HTTP,    /* reading the request head */
	CS_OPEN,    /* a WebSocket */
	CS_CLOSING, /* our close frame (or an HTTP response) is on its way out: see enum conn_close */
	CS_ABORT,   /* cancelling what is in flight; the descriptor is closed once nothing is */
	CS_CLOSED,  /* the close of the descriptor is in flight: the slot is freed at its CQE */
};

/* How far our side of the closing handshake has come (CS_CLOSING, and kept through CS_ABORT and
 * CS_CLOSED for the record). Only rc_conn.c changes it. The peer's close frame is a separate flag,
 * F_PEER_CLOSED, because it can arrive at any of these points and changes what happens at only two
 * of them (our close frame sent: close TCP; a read: ignore what follows). */
enum conn_close {
	CLOSE_NONE = 0, /* not closing (CS_HTTP, CS_OPEN) */
	CLOSE_DRAIN,    /* shutdown (1001): what is queued goes out first, then our close frame */
	CLOSE_QUEUED,   /* our close frame is in the control output, not yet in a send */
	CLOSE_SENDING,  /* our close frame is in the send in flight */
	CLOSE_SENT,     /* our close frame went out: waiting for the peer's, until the deadline */
	CLOSE_HTTP,     /* a plain HTTP response is on its way out: close TCP once it is sent */
};

enum conn_route {
	ROUTE_NONE = 0,
	ROUTE_WS,   /* /ws: pub/sub */
	ROUTE_ECHO, /* /echo: every message back */
};

enum conn_flag {
	F_DIRTY = 1u << 0,          /* on the dirty list: flush this iteration */
	F_RECV = 1u << 1,           /* a recv is in flight */
	F_SEND = 1u << 2,           /* a send is in flight */
	F_PINNED = 1u << 3,         /* that send carries the queue's head frame by reference */
	F_V1 = 1u << 4,             /* negotiated ringcast.v1 */
	F_AUTH = 1u << 5,           /* may publish */
	F_PINGED = 1u << 6,         /* an idle deadline passed: we pinged, the next one closes */
	F_STARVED = 1u << 7,        /* the recv found no buffer: re-arm when buffers are back */
	F_PEER_CLOSED = 1u << 8,    /* the peer's close frame came in */
	F_RX_REARM = 1u << 9,       /* we cancelled the recv to re-arm it with another deadline */
	F_COUNTED = 1u << 10,       /* counted in group->open (max-connections) */
	F_SEND_DEADLINE = 1u << 11, /* the send in flight is the second try, with the write deadline */
	/* an unsubscribe happened with messages queued: the flush skips messages of topics no longer
	 * subscribed */
	F_PURGE = 1u << 12,
	F_TLS = 1u << 13, /* accepted on the TLS listener: w->tls.conns[slot] holds its session */
	/* a TLS connection waiting for its first receive to be armed (rc_wss.h, admission) */
	F_TLS_WAIT = 1u << 14,
	/* a subscribe waits for other workers' answers (rc_owner.h): input and output pause */
	F_JOINING = 1u << 15,
	F_PACED = 1u << 16, /* a paced connection waits for its time in the heap (rc_pace.h) */
	F_THROTTLED =
	        1u << 17,  /* over a rate: no read is armed until w->limit.wake says (rc_limit.h) */
	F_OVER = 1u << 18, /* the last read was over a rate (since w->limit.conn[slot].over_ms) */
	F_HANDSHAKE = 1u << 19, /* counted in w->limit.handshaking (CS_HTTP only) */
	F_PEER = 1u << 20,      /* counted in group->peers under w->limit.conn[slot].peer */
	/* bits 24..28 are not flags but a count: commands and PUBLISHes refused in a row (rc_ws.c
	 * refuse), kept here because the struct has no byte to spare */
	F_REFUSED_ONE = 1u << 24,
	F_REFUSED_MASK = 31u << 24,
};

/* A connection. Its slot in w->conns.slots is its direct descriptor index. An idle WebSocket holds
 * nothing but this struct: no receive buffer (the provided ring serves all connections), no chunk
 * and no queue storage until something is queued (docs/architecture.md, the 400-byte budget). */
typedef struct rc_conn {
	rc_outq q;         /* outbound messages (by reference) */
	rc_subscriber sub; /* its subscriptions */
	struct rc_conn *dirty_next;
	struct rc_conn *list_next; /* the starved list */
	uint8_t *out;              /* chunk of the send in flight, NULL if none or by reference */
	/* chunk of control output waiting to be sent: HTTP response, notices, pongs, pings, close
	 * frame */
	uint8_t *ctl;
	uint8_t *head; /* request head chunk while CS_HTTP (parser, fields, bytes) */
	/* handshake deadline (CS_HTTP) or close deadline (CS_CLOSING), in ms of CLOCK_MONOTONIC since
	 * the worker started (w->time.t0_ns): 32 bits where a nanosecond time would take 64, for the
	 * 400-byte budget; wraps after 49 days, far beyond any deadline */
	uint32_t deadline_ms;
	union {
		struct { /* a chunk send (out != NULL) */
			uint32_t out_len;
			uint32_t out_done; /* bytes of out already sent by an earlier try */
		};
		/* the head frame sent by reference (F_PINNED, and between its sends while the frame is
		 * half sent): the buffer of its chain that the next piece is in, so that each send walks
		 * on from the last instead of from the head */
		rc_span_cursor out_at;
	};
	uint32_t ctl_len;
	uint32_t flags;      /* enum conn_flag */
	uint32_t gen;        /* bumped when the slot is reused (user_data) */
	uint32_t id;         /* connection id for logs */
	uint32_t asm_buf;    /* POOL buffer assembling a message, RC_POOL_NONE if none */
	uint32_t asm_len;    /* payload bytes in it (after RC_CFG_HEADROOM_BYTES) */
	int32_t pub_topic;   /* plain publisher's topic (pinned), -1 if none */
	uint16_t close_code; /* the code of our close frame */
	uint8_t state;       /* enum conn_state */
	uint8_t close;       /* enum conn_close */
	uint8_t route;       /* enum conn_route */
	uint8_t inflight;    /* SQEs whose CQE has not come back */
	uint8_t why;         /* enum rc_close_reason, once decided (RC_WHY_UNSET before) */
	uint8_t asm_op;      /* opcode of the message in asm_buf */
	rc_frame_parser fp;
} rc_conn;

/* The budget of an idle connection is 400 bytes of user-space memory, measured by
 * perf/ringcast-bench's idle workload (docs/benchmarks.md); this struct is all of it. */
_Static_assert(sizeof(rc_conn) <= 256,
               "rc_conn outgrew the idle-connection budget: with 368 bytes an idle subscriber "
               "measured 456 bytes of RSS (docs/benchmarks.md), over the 400-byte goal");

/* The request head chunk: parser state and fields, then the bytes. */
typedef struct rc_head {
	rc_http_parser parser;
	uint32_t len; /* bytes received so far */
	uint32_t cap;
	rc_http_header *fields; /* header_fields_max of them, after this struct */
	uint8_t *bytes;         /* cap bytes */
} rc_head;

/* A TLS connection's state beside its rc_conn (rc_wss.h), in w->tls.conns[slot]. */
typedef struct wss_conn {
	rc_tls *s;
	uint8_t *raw; /* chunk of ciphertext to send before anything else, or NULL */
	uint32_t raw_len;
	rc_span_cursor at; /* where the head frame's next slice is in its chain (rc_send.c) */
	/* F_TLS_WAIT: the slots before and after it in the admission queue (RC_POOL_NONE: none) */
	uint32_t wait_prev, wait_next;
} wss_conn;

/* ---- hand-offs to other workers (rc_xfer.c) -------------------------------------------------- */

/* Numbered messages lost on their way to a worker (a full mailbox, no memory for the copy) are
 * remembered per topic, the last number lost, until the mailbox has room for a SKIP record, so that
 * the receiving worker can tell its subscribers what they missed without waiting for the topic's
 * next message (docs/protocol.md 6.5). Topics with losses remembered per receiver; more are told
 * only by the gap the next message shows (a log line and lost_untold). */
#define RC_XFER_LOSS_MAX 16
typedef struct xfer_loss {
	uint64_t seq, epoch; /* the last number lost, and its numbering */
	uint8_t len;
	uint8_t name[RC_APP_TOPIC_MAX];
} xfer_loss;

typedef struct xfer_out {
	uint32_t nloss; /* entries of loss[] in use */
	xfer_loss loss[RC_XFER_LOSS_MAX];
} xfer_out;

/* ---- the joint of new subscriptions (rc_owner.c) ---------------------------------------------- */

/* Subscribes whose joint is being made at once, per worker; more are refused as busy. */
#define RC_OWN_JOINS_MAX 1024u
/* Topics asked of one other worker at once (JOIN records not yet answered); the owner keeps that
 * many answers it could not send yet. */
#define RC_OWN_ASKS_MAX 1024u

/* A subscribe command (or a connect URL) while its topics' owners answer: what its subscribed
 * notice and its connection need. In a chunk of w->own.recs; the names are packed, so only the
 * pages a record uses become resident. */
typedef struct own_rec {
	uint32_t slot, gen;  /* the connection */
	uint32_t index;      /* in w->own.rec */
	uint32_t waiting;    /* answers still to come */
	uint32_t unsent;     /* JOINs not pushed yet (a full mailbox): own_flush sends them */
	uint32_t next;       /* the resume list */
	uint32_t next_retry; /* the retry list */
	bool notice;         /* a ringcast.v1 connection: answer with a subscribed notice */
	bool on_retry;
	uint8_t ntopics;
	uint8_t id_len;
	uint8_t id[RC_APP_ID_RAW_MAX];
	uint8_t ask[RC_APP_TOPICS_MAX];      /* per topic: what its JOIN asks (rc_owner.c) */
	uint8_t state[RC_APP_TOPICS_MAX];    /* per topic: rc_owner.c's enum topic_state */
	uint8_t reset[RC_APP_TOPICS_MAX];    /* per topic: enum rc_app_reset_reason, 0 if none */
	uint8_t snapshot[RC_APP_TOPICS_MAX]; /* per topic: a snapshot follows the reset */
	int8_t dup_of[RC_APP_TOPICS_MAX];    /* a repeat of an earlier topic of the command, or -1 */
	rc_app_pos pos[RC_APP_TOPICS_MAX];   /* per topic: the resume's from, then where it stood */
	uint64_t first[RC_APP_TOPICS_MAX];   /* per topic: the first number a reset tells */
	uint32_t in_buf;                     /* input held while joining, RC_POOL_NONE if none */
	uint32_t in_len;
	uint8_t *in_at;
	uint8_t name_len[RC_APP_TOPICS_MAX];
	uint16_t name_at[RC_APP_TOPICS_MAX];
	uint8_t names[RC_APP_TOPICS_MAX * RC_APP_TOPIC_MAX];
} own_rec;

/* An answer the owner could not push yet (the mailbox to its asker was full). */
typedef struct own_ask {
	uint64_t route;  /* the JOIN's origin: the asker's record and topic */
	rc_app_pos from; /* a resume's position */
	uint8_t ask;     /* what it asked */
	uint8_t len;     /* the topic */
	uint8_t name[RC_APP_TOPIC_MAX];
} own_ask;

typedef struct own_deferred {
	uint32_t head, len; /* a ring of RC_OWN_ASKS_MAX */
	own_ask *asks;
} own_deferred;

/* A connection's limits (rc_limit.c): its rates and where it comes from. */
typedef struct limit_conn {
	uint64_t tat[3];  /* messages, bytes, commands: theoretical arrival times, ns (GCRA) */
	uint32_t over_ms; /* F_OVER: when its reads went over (the worker's ms) */
	uint16_t port;    /* the peer's port, host order; 0 if unknown */
	uint8_t family;   /* AF_INET, AF_INET6, or 0 if unknown */
	uint8_t pad;
	uint8_t peer[16]; /* the peer's address (IPv4-mapped for IPv4), all of it */
} limit_conn;

/* ---- what the admin view shows (rc_view.h) --------------------------------------------------- */

/* A connection's figures beyond its rc_conn (which is at its 256-byte budget), in
 * w->view.conn[slot]: reset at accept (conn_accepted), counted where its bytes come in (rc_worker.c
 * on_recv) and go out (rc_send.c) and where messages are dropped for it (rc_fanout.c). */
typedef struct view_conn {
	uint64_t accept_ns; /* CLOCK_MONOTONIC of the loop turn that accepted it */
	uint64_t recv_ns;   /* of its last read that brought bytes (accept_ns before any) */
	uint64_t bytes_in;  /* on the wire (TLS: ciphertext), as ringcast_bytes_received_total */
	uint64_t bytes_out;
	uint64_t dropped; /* messages its queue dropped or did not take (the slow-consumer policy) */
} view_conn;

/* One close, as conn_free writes it into the worker's ring of the last RC_VIEW_CLOSES. */
#define RC_VIEW_CLOSES 64
typedef struct view_close {
	uint64_t closed_ns; /* CLOCK_MONOTONIC */
	uint64_t age_ns;    /* since accept */
	uint64_t bytes_in, bytes_out;
	uint32_t id;
	uint16_t port;  /* the peer's (limit_conn), 0 if unknown */
	uint16_t code;  /* our close frame's code (the client's echoed), 0 if none was sent */
	uint8_t family; /* AF_INET, AF_INET6, 0 if unknown */
	uint8_t reason; /* enum rc_close_reason */
	uint8_t route;  /* enum conn_route */
	uint8_t pad;
	uint8_t peer[16]; /* as limit_conn.peer */
} view_close;

/* ---- the worker ------------------------------------------------------------------------------ */

/* Scratch space of the worker for what is built and copied at once: the first half for the
 * metrics text, decoded connect parameters and notices; the second half for whole HTTP responses
 * (which may embed the first half). */
#define RC_SCRATCH_BYTES (128u << 10)

/* The buckets of the histograms in struct worker_hist: publish-to-send from 4.096 us (1 << 12 ns)
 * to 1.07 s in powers of two; messages per send from 1 to 4,096. */
#define RC_HIST_LATENCY_SHIFT 12
#define RC_HIST_LATENCY_FINITE 19
#define RC_HIST_FRAMES_FINITE 13

/* Everything one worker owns, grouped by who uses it. Nothing here is touched by another thread
 * except through group (rc_group.h: mailboxes, wake flags, interest, the connection count) and the
 * metrics, which other workers read when they answer /metrics. */
struct rc_worker {
	const rc_cfg *cfg;
	rc_group *group;
	uint32_t index; /* in the group */
	rc_metrics metrics;
	/* Where a delivery's time goes (rc_send.c observes, /metrics renders each worker's) */
	struct worker_hist {
		rc_hist publish_send; /* ns from publish (turn_ns) to the send that carries it */
		rc_hist frames;       /* messages per send, for sends that carry any */
	} hist;
	uint8_t *scratch; /* RC_SCRATCH_BYTES: query decoding, notices, metrics rendering */

	/* The ring and what is registered with it (rc_worker_setup.c). */
	struct worker_io {
		struct io_uring ring;
		rc_uring_info info;
		rc_bufring bufring;
		rc_uring_ts ts; /* absolute deadlines prepared since the last submit */
		uint8_t *region;
		size_t region_len;
		bool region_registered;
	} io;

	/* Buffers and what is carved out of them (core/). */
	struct worker_mem {
		rc_pool pool;
		rc_msgs msgs;
		rc_arena arena;
		rc_chunks chunks; /* RC_CHUNK_BYTES: staging, control output, queue storage */
		rc_chunks heads;  /* request heads */
		rc_chunks ctls;   /* RC_FRAME_CONTROL_MAX: lent to a parser for a split control frame */
		rc_outq_cfg qcfg;
		rc_outq_alloc qalloc;
		uint32_t *touched; /* recv buffers parsed this iteration that still hold messages */
		uint32_t ntouched;
		uint32_t *returned;      /* scratch for rc_pool_take_returned_recv */
		uint64_t next_relief_ns; /* pressure relief found nothing: not again before this */
		uint64_t next_trim_ns;   /* earliest time for the next rc_chunks_trim */
	} mem;

	rc_topics topics;

	/* Paced connections (rc_pace.c). */
	struct worker_pace {
		uint16_t *ms;      /* [conns.nslots] interval, 0 = not paced */
		uint32_t *next_ms; /* [conns.nslots] the earliest time of its next send */
		rc_due due;        /* the paced connections waiting */
	} pace;

	/* Limits (rc_limit.c). */
	struct worker_limit {
		limit_conn *conn;     /* [conns.nslots] */
		rc_due wake;          /* throttled connections: when they may read again */
		rc_due life;          /* WebSockets: when their lifetime ends */
		rc_due hs;            /* connections in their handshake, by deadline: the oldest first */
		uint32_t handshaking; /* F_HANDSHAKE connections */
		uint32_t handshakes_cap;
		uint64_t rate[3];    /* per second: messages, bytes, commands (0 = none) */
		uint64_t cost_ns[3]; /* 1/rate of messages and commands (0 = none) */
		uint64_t burst_ns;
		uint64_t accept_tat, accept_cost_ns; /* this worker's share of accept-per-s */
		uint64_t rng;                        /* lifetimes' jitter */
	} limit;

	/* Tokens and grants (rc_access.c). */
	struct worker_access {
		const struct rc_auth *keys; /* JWT keys of the running configuration; NULL: none */
		rc_chunks grants;           /* rc_jwt_grant, one per connection that showed a JWT */
		rc_jwt_grant **grant;       /* [conns.nslots] its grant, NULL if none */
		rc_due expiry;              /* connections whose grant expires */
	} access;

	/* History and the joint of new subscriptions (rc_owner.c). */
	struct worker_own {
		bool history;       /* history-messages > 0 */
		rc_retain retain;   /* the history of the topics this worker numbers */
		rc_chunks chunks;   /* own_rec storage, RC_OWN_JOINS_MAX */
		own_rec **rec;      /* [RC_OWN_JOINS_MAX] by index, NULL while free */
		uint32_t *rec_gen;  /* [RC_OWN_JOINS_MAX] the generation of each index's last use */
		uint32_t *free_idx; /* [RC_OWN_JOINS_MAX] a stack of free indexes */
		uint32_t nfree;
		uint32_t resume_head; /* completed records whose connection resumes, by next; or NONE */
		uint32_t resume_tail;
		uint32_t retry;         /* records with unsent JOINs (own_flush), by next_retry; or NONE */
		uint16_t *rec_of;       /* [conns.nslots] the record of a F_JOINING connection */
		uint32_t *asks_out;     /* [group->n] JOINs to each worker not answered yet */
		own_deferred *deferred; /* [group->n] answers to each worker not pushed yet */
		bool any_deferred;
		uint64_t evicted_told, not_kept_told; /* retain's counters already in the metrics */
	} own;

	/* Connections (rc_conn.c) and the lists the loop walks. */
	struct worker_conns {
		rc_conn *slots; /* [nslots], indexed by direct descriptor */
		uint32_t nslots;
		uint32_t open;    /* connections not CS_FREE */
		uint32_t ws_open; /* of which WebSockets (CS_OPEN, or closing with a route) */
		uint32_t next_id;
		rc_conn *dirty; /* flush list */
		/* Messages and bytes fanned out into queues since the last flush, and the most that may
		 * be before the next one: what one send carries (a chunk), and half a queue's caps, so
		 * a subscriber that keeps up never has its queue overflow from what the loop takes in
		 * (rc_worker.c, intake_full). */
		uint64_t fanned;
		uint64_t fanned_max;
		uint32_t fanned_msgs;
		uint32_t fanned_msgs_max;
		rc_conn *starved; /* recvs waiting for buffers */
	} conns;

	/* Deadlines: the origin of rc_conn.deadline_ms and the relative timeouts of linked waits. */
	struct worker_time {
		uint64_t t0_ns;    /* CLOCK_MONOTONIC at start */
		uint64_t turn_ns;  /* when this loop turn's wait ended: the time of what it publishes */
		uint64_t flush_ns; /* when this turn's flush began: the time its sends are prepared */
		struct __kernel_timespec idle, write, drain;
	} time;

	/* Accepting (rc_worker.c): RC_ACCEPTS single accepts in flight per listener, each with
	 * room for the peer's address (a multishot accept has one address buffer for all of its
	 * completions, overwritten before they are read). */
	struct worker_accept {
		int listen_fd; /* plain; -1 if off */
		int tls_fd;    /* TLS; -1 if off */
		struct accept_req {
			struct sockaddr_storage addr;
			socklen_t len;
			bool armed;       /* in flight */
		} req[2][RC_ACCEPTS]; /* [0] plain, [1] TLS */
		bool paused;          /* the descriptor table was full: re-arm when a slot frees */
	} accept;

	/* TLS (rc_wss.c): NULL ctx and conns when there is no TLS listener. */
	struct worker_tls {
		rc_tls_ctx *ctx;
		wss_conn *conns;    /* [conns.nslots] */
		uint32_t live;      /* sessions */
		uint32_t admitted;  /* first receives armed this loop turn (RC_TLS_ADMIT_PER_TURN) */
		uint32_t wait_head; /* admission queue: oldest slot, RC_POOL_NONE if empty */
		uint32_t wait_tail; /* newest */
		uint32_t waiting;   /* in the queue */
	} tls;

	/* Signals and draining (rc_worker.c). */
	struct worker_life {
		int signal_fd; /* worker 0 only; -1 on the others */
		struct signalfd_siginfo *siginfo;
		uint8_t signals; /* SIGTERM/SIGINT seen */
		uint8_t restart; /* enum restart_state (rc_worker.c): SIGUSR2's drain, after a takeover */
		bool draining;
		bool drain_expired;
	} life;

	/* What the routes check a handshake and frames against (rc_route.c, rc_ws.c). */
	struct worker_http {
		const char *origins[RC_CFG_ORIGINS_MAX];
		const char *subprotocols[1];
		rc_ws_handshake_cfg hs_ws;
		rc_ws_handshake_cfg hs_echo;
		rc_frame_cfg frame;
	} http;

	/* Hand-offs between workers (rc_xfer.c) and the wake-up protocol (rc_worker.c). */
	struct worker_xfer {
		rc_interest_local interest;
		rc_xarena xarena; /* hand-offs built here for other workers */
		bool in_more;     /* a mailbox still held records after its budget: do not sleep */
		/* the largest hand-off taken in this loop turn, and in the last turn that took any
		 * (take_batch) */
		uint32_t in_len_last, in_len_now;
		/* the last wait ended by its mail-check timeout with the wake flag still armed (no
		 * producer took the wake-up) */
		bool mail_check;
		xfer_out *out;        /* [group->n]: per receiving worker */
		bool loss;            /* some out[] has losses to tell */
		uint64_t lost_untold; /* losses that found no room in out[].loss */
		uint64_t epochs;      /* epochs this worker has given its topics (rc_ws.c new_epoch) */
		uint32_t sweep_at;    /* the next topic id the sweep of holds looks at (rc_ws.c) */
		uint64_t sweep_ns;    /* when it last ran */
		uint64_t spin_ns;     /* idle spin before sleeping */
	} xfer;

	/* Gauges other workers add up (rc_gauges.c). */
	struct worker_gauges {
		bool stale;     /* not refreshed since something changed */
		uint64_t at_ns; /* last full refresh */
	} gauges;

	/* What the admin view asks for beyond the connections and topics (rc_view.h). */
	struct worker_view {
		view_conn *conn; /* [conns.nslots] */
		/* the last closes: the next goes to closes[closes_total % RC_VIEW_CLOSES] */
		view_close closes[RC_VIEW_CLOSES];
		uint64_t closes_total;
	} view;
};

#endif
