/* rc_owner: what the owner of a topic does (numbering, history) and the joint of a new subscription
 * with the topic's numbering, wherever its owner is.
 *
 * Numbering. Every topic is numbered by one worker, its owner (rc_xfer.h). The owner gives a topic
 * an epoch when it starts numbering it (own_epoch), numbers each message (own_number) and, with
 * history on, keeps a copy of it in its history (core/rc_retain.h): the last history-messages
 * messages of each topic, within history-topic-bytes per topic and history-bytes per worker, in
 * pool buffers. A topic with history stays alive (a pin) so that its numbering and its last value
 * outlive its subscribers; the pin goes with its last retained message.
 *
 * The joint. A subscription takes effect at one point of its topic's numbering: the last number
 * the topic had then (the position the subscribed notice tells, docs/protocol.md 6.6). Messages
 * numbered after it are delivered live; a snapshot or a resume sends retained messages numbered at
 * or before it first, marked retained. On the owner this is one step. Elsewhere the subscription
 * waits (rc_sub.pending: fan-out skips it) while the worker asks the owner (a JOIN hand-off); the
 * owner answers, in one go through its first-in first-out mailbox to that worker, with the
 * retained messages asked for (REPLAYs) and then the position (JOINED). Every live message the
 * owner numbered before answering went into the same mailbox before the answer, and every later
 * one after it, so the joint is exact with no lock: the subscription skips what comes before the
 * answer, receives the REPLAYs, and is live from the JOINED on.
 *
 * While a connection's subscribe waits for answers (F_JOINING), it neither reads (the rest of its
 * input is held in the record and parsed when the answers are in, so its commands are answered in
 * order) nor sends (so that no retained message overtakes the subscribed notice). It lasts one
 * mailbox round trip. At most RC_OWN_JOINS_MAX subscribes per worker wait at once, and at most
 * RC_OWN_ASKS_MAX topics are asked of one other worker at once; a subscribe over either limit is
 * refused as busy (an error notice, or 503 at the handshake).
 */
#ifndef RC_OWNER_H
#define RC_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"
#include "rc_xmsg.h"

/* ---- numbering ------------------------------------------------------------------------------- */

/* The origin of a message published by c on this worker (rc_xmsg.origin): the worker, the slot
 * and its generation, so that the copy coming back from the owner skips c and nobody else. */
uint64_t own_origin(const rc_worker *w, const rc_conn *c);

/* The connection of this worker an origin names, if it is still that connection; else NULL. */
rc_conn *own_origin_conn(rc_worker *w, uint64_t origin);

/* On the owner: the topic called name[0..len) (hash: its name hash; id: its id here, or -1), which
 * must be numbered here. Held (rc_topic_hold) while another worker subscribes to it or history is
 * on, so that its numbering does not restart between messages; created then if it does not exist
 * here. Returns its id, or -1 if nobody anywhere subscribes to it and it keeps no history (nothing
 * to number: no subscriber can tell) or no topic is left (counted). */
int own_topic(rc_worker *w, const uint8_t *name, size_t len, uint32_t hash, int id);

/* On the owner: number a message of topic tid (payload: the bare payload), keep it in the history,
 * and hand it to the other workers with subscribers. Returns its number. */
uint64_t own_number(rc_worker *w, uint32_t tid, bool text, const rc_span *payload, uint64_t origin,
                    uint64_t pub_ns);

/* ---- the joint of new subscriptions ------------------------------------------------------------ */

/* A subscribe, after its topics were subscribed (rc_subscribe): the topics as sent (duplicates
 * kept), which of them this subscribe added (the others were subscribed before: they get this
 * worker's view of their position and nothing retained), what it asks of history, and how it is
 * answered. */
typedef struct own_req {
	const rc_app_slice *topics;
	size_t n;
	const bool *added;
	size_t resume_from;       /* topics[resume_from..n) resume from resume[i] */
	const rc_app_pos *resume; /* may be NULL if resume_from == n */
	bool snapshot;
	bool notice;     /* answer with a subscribed notice (ringcast.v1) */
	rc_app_slice id; /* its request id, echoed in the notice */
} own_req;

/* Can a subscribe of these topics start its joint now? False if it needs a record and none is
 * free, or it would ask another worker more than RC_OWN_ASKS_MAX topics at once (counted as busy):
 * the caller refuses it before subscribing anything. */
bool own_can_join(rc_worker *w, const rc_app_slice *topics, size_t n);

/* Make the joint of a subscribe (own_can_join said yes). Retained messages of topics owned here are
 * queued for c at once; for the others, JOINs go to their owners and c waits (F_JOINING) until
 * the answers are in. Then the subscribed notice (and a reset notice per topic whose resume could
 * not continue) goes to c if req->notice, and c resumes (own_next_resumed). */
void own_join(rc_worker *w, rc_conn *c, const own_req *req);

/* c, joining, stopped parsing with data[0..len) of buffer buf not yet parsed: hold it (a reference
 * on buf) until the joint is made. */
void own_hold_input(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf);

/* Input held by a connection whose joint is made. */
typedef struct own_input {
	uint32_t buf; /* RC_POOL_NONE if none; else a reference the caller drops after parsing */
	uint8_t *at;
	uint32_t len;
} own_input;

/* Loop phase: the next connection whose joint was made, with the input it held; *c is NULL if the
 * connection went away meanwhile (the input is only to be released). False when there is none. */
bool own_next_resumed(rc_worker *w, rc_conn **c, own_input *in);

/* Hand-offs: a JOIN from worker `from` (this worker owns its topic), a REPLAY or a JOINED for a
 * joint this worker waits for. */
void own_on_join(rc_worker *w, uint32_t from, const rc_xmsg *x);
void own_on_replay(rc_worker *w, const rc_xmsg *x, const rc_span *payload);
void own_on_joined(rc_worker *w, uint32_t from, const rc_xmsg *x);

/* Loop phase, with several workers: send the JOINs and the answers that found a full mailbox. */
void own_flush(rc_worker *w);

/* The pool is below its reserve: history gives way first, halved until the pool is not low or
 * history is empty (the evicted messages counted, a warn line logged). Returns the buffers it
 * gave back. */
uint32_t own_relieve(rc_worker *w);

/* Set up and tear down w->own (rc_worker_setup.c). Returns 0 or a negative errno. */
int own_init(rc_worker *w);
void own_fini(rc_worker *w);

#endif
