/* rc_view: what a worker tells the admin view (rc_admin.h) about itself, as fixed-size binary
 * records written into memory the admin thread owns.
 *
 * The admin thread never reads a worker's memory. It allocates a view_ask per worker with room for
 * conns_cap connections and topics_cap topics, and asks the worker with a MSG_RING; the worker,
 * on its own thread, between two completions, fills it (view_fill): one record per connection
 * (its address, state, age, idle time, subscriptions as topic ids, queue depth, bytes, drops), one
 * per topic (name, subscribers of each kind, the messages numbered), and the last RC_VIEW_CLOSES
 * closes. A list longer than the room is cut and says so (conns_total > conns_n). No text is
 * made on the worker: the admin thread turns the records into JSON (rc_admin_json.h).
 *
 * Where the figures come from: the connection's rc_conn and rc_outq, w->limit.conn[slot] (the
 * peer), and w->view (rc_worker_int.h), which the I/O paths keep: accept and last-read times, bytes
 * in and out, drops, and the ring of closes conn_free writes. 40 bytes per descriptor slot and 4
 * KiB per worker, allocated at start.
 *
 * The ask's state says who may touch it (rc_admin.c has the protocol): the admin posts it
 * (VIEW_POSTED); the worker that takes it marks it VIEW_FILLING, fills it and marks it VIEW_DONE.
 * An admin that stops waiting marks it VIEW_ABANDONED instead, and a worker that then finds it so
 * leaves it as VIEW_RELEASED without writing: only then, or once the workers are gone, is it freed.
 */
#ifndef RC_VIEW_H
#define RC_VIEW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* A connection as its worker reports it. */
typedef struct view_conn_rec {
	uint64_t age_ns;  /* since accept */
	uint64_t idle_ns; /* since its last read that brought bytes (or accept) */
	uint64_t bytes_in, bytes_out, dropped;
	uint32_t id;          /* rc_conn.id: unique on its worker, the conn= of its log lines */
	uint32_t queue_msgs;  /* queued for it now (rc_outq) */
	uint32_t queue_bytes; /* their frames' bytes */
	uint32_t subs;        /* its subscriptions */
	int32_t publish;      /* the topic id of its publish=, -1 if none */
	uint16_t port;        /* the peer's, 0 if unknown */
	uint8_t family;       /* AF_INET, AF_INET6, 0 if unknown */
	uint8_t state;        /* enum conn_state */
	uint8_t route;        /* enum conn_route */
	uint8_t listed;       /* topic ids in topic[] (subs, or RC_APP_TOPICS_MAX if more) */
	bool v1, tls;
	uint8_t peer[16];                  /* as limit_conn.peer (IPv4 mapped) */
	uint32_t topic[RC_APP_TOPICS_MAX]; /* its subscriptions' topic ids, newest first */
} view_conn_rec;

/* A topic as one worker has it. */
typedef struct view_topic_rec {
	uint64_t messages; /* numbered in its numbering (next_seq - 1) */
	uint64_t epoch;    /* that numbering, 0 if none yet */
	uint32_t id;       /* rc_topic.id: what view_conn_rec.topic[] holds */
	uint32_t subs_plain, subs_v1;
	bool owner;       /* this worker numbers it (xfer_owner) */
	uint8_t name_len; /* 1..RC_APP_TOPIC_MAX */
	uint8_t name[RC_APP_TOPIC_MAX];
} view_topic_rec;

enum view_ask_state {
	VIEW_POSTED,    /* waiting for its worker */
	VIEW_FILLING,   /* the worker writes it */
	VIEW_DONE,      /* written: the admin's alone again */
	VIEW_ABANDONED, /* the admin stopped waiting: the worker must not write it */
	VIEW_RELEASED,  /* a worker found it abandoned and let go: the admin may free it */
};

/* One question to one worker, and its answer. */
typedef struct view_ask {
	_Atomic uint32_t state; /* enum view_ask_state */
	uint32_t conns_cap, topics_cap;
	view_conn_rec *conns;   /* [conns_cap], after the struct */
	view_topic_rec *topics; /* [topics_cap], after them */
	struct view_ask *next;  /* the asker's list of abandoned asks */
	/* the answer */
	uint32_t worker;
	uint64_t now_ns;      /* CLOCK_MONOTONIC when it was written */
	uint32_t conns_n;     /* records in conns[] */
	uint32_t conns_total; /* connections the worker had: more than conns_n if cut */
	uint32_t topics_n;    /* records in topics[], by increasing id */
	uint32_t topics_total;
	uint32_t closes_n;     /* in closes[], oldest first */
	uint64_t closes_total; /* closes since the worker started */
	view_close closes[RC_VIEW_CLOSES];
} view_ask;

/* The per-slot figures (w->view.conn), at worker start. Returns 0 or -ENOMEM. */
int view_init(rc_worker *w);
void view_fini(rc_worker *w);

/* An ask with room for conns_cap connections and topics_cap topics, VIEW_POSTED; NULL if out of
 * memory. Its pages are touched only as far as an answer fills them. */
view_ask *view_ask_new(uint32_t conns_cap, uint32_t topics_cap);
void view_ask_free(view_ask *a);

/* Touch the pages of a's first `conns` and `topics` records, on the asker's thread: the worker
 * that fills them then takes no page fault there (a fault costs its loop, not the asker). */
void view_ask_touch(view_ask *a, uint32_t conns, uint32_t topics);

/* On w's thread: write w's answer into a (its state is the caller's business). A walk of every
 * descriptor slot and of the topic ids in use: measured 0.5-1.2 ms with 15,000 connections on
 * the worker, once its memory is warm. */
void view_fill(rc_worker *w, view_ask *a);

#endif
