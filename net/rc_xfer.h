/* rc_xfer: messages between workers.
 *
 * Owners. Every topic is numbered by one worker, its owner, chosen from the topic name's hash
 * (xfer_owner: the same on every worker), so that every subscriber of a topic sees the same number
 * on the same message whatever worker it is on (docs/protocol.md 6.5). A publish read on another
 * worker is copied to the owner (xfer_forward, an rc_xmsg FORWARD), which numbers it as it numbers
 * the publishes read on itself, in the order its mailbox from that worker brings them (so one
 * publisher's messages keep their order). The owner then delivers the message to its own
 * subscribers and hands it, numbered (xfer_publish, an rc_xmsg PUBLISH with the topic's sequence
 * number and epoch), to every other worker that has subscribers for the topic (the interest
 * table), the publishing worker included. A worker receives one topic's numbered messages from one
 * worker only, through one first-in first-out mailbox, so in order.
 *
 * Losses. Nothing blocks: a full mailbox or a pool with no free buffer for the copy loses the
 * message for that worker (counted in handoffs_total{result="mailbox_full"|"no_memory"}). A
 * numbered message lost on its way to a worker shows there as a gap in the topic's numbers: the
 * receiving worker owes every ringcast.v1 subscriber of the topic a `missed` notice for it, queued
 * ahead of the next message (rc_ws.c ws_deliver). So that a loss at the end of a burst is told
 * without waiting for a next message, the owner remembers the last number lost per receiver and
 * topic and sends it as a SKIP record once the mailbox has room (xfer_flush). A publish lost on
 * its way to the owner was never numbered: no subscriber misses a number, and the loss is counted
 * there only.
 *
 * Waking. Right after each push, rc_mailbox_notify (a locked add on our own tail and a read of
 * the receiver's wake flag, whose line stays shared while the receiver is awake); if the receiver
 * had armed its wake flag (it is asleep, or about to be), one IORING_OP_MSG_RING from this
 * worker's ring posts a CQE to its ring, which ends its io_uring_enter: at most one per sleep of
 * the receiver, never one per message. No eventfd, no syscall of our own: the MSG_RING goes with
 * the loop's next submit, the first slice of the flush at the latest.
 *
 * Receiving. Once per loop turn the loop takes what each incoming mailbox holds (xfer_take, at
 * most RC_XFER_BUDGET records per mailbox per turn), handles each rc_xmsg (rc_ws.h ws_forwarded,
 * ws_deliver: built in this worker's own memory) and gives them back at once (xfer_release: their
 * holds returned in one atomic per run of records from the same buffer). The last release sends
 * the buffer home through the owner pool's lock-free remote-free path (core/rc_xmsg.h).
 */
#ifndef RC_XFER_H
#define RC_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"

#define RC_XFER_POP 64u /* records taken from a mailbox at a time */
/* records taken per mailbox per loop turn: a flood from one worker cannot starve this worker's own
 * connections */
#define RC_XFER_BUDGET 4096u

/* The worker that numbers the topics of this name hash (rc_topics_hash: the same seed on every
 * worker): a multiply-shift of the hash onto 0..n-1. */
static inline uint32_t xfer_owner(const rc_group *g, uint32_t hash)
{
	return (uint32_t)(((uint64_t)hash * g->n) >> 32);
}

/* A message for other workers: the topic, its payload (copied: a large one over a chain of this
 * worker's pool, core/rc_xmsg.h) and what the rc_xmsg carries with it. */
typedef struct xfer_msg {
	const uint8_t *topic;
	size_t tlen;
	uint32_t hash; /* the topic's name hash */
	bool text;
	const rc_span *payload;
	uint64_t seq, epoch; /* a numbered message's number and epoch; 0 for a forward */
	uint64_t origin;     /* the publishing connection (rc_xmsg.origin) */
	uint64_t pub_ns;     /* when the publishing worker read it */
} xfer_msg;

/* A publish read on this worker for a topic owned by another: copy it to the owner, which numbers
 * and delivers it. Never blocks; a loss is counted. */
void xfer_forward(rc_worker *w, const xfer_msg *m);

/* A message this worker, the topic's owner, has numbered: hand it to every other worker with
 * subscribers for its topic. Never blocks; a loss is counted, and seen by the receiver as a gap. */
void xfer_publish(rc_worker *w, const xfer_msg *m);

/* Push x (built for one holder) into the mailbox to worker `to` and wake it if it sleeps. False if
 * the mailbox is full: x is still the caller's to release. */
bool xfer_push(rc_worker *w, uint32_t to, rc_xmsg *x);

/* Free records in the mailbox to worker `to` (at least `want` if there are that many): that many
 * xfer_push in a row cannot fail. */
uint32_t xfer_room(rc_worker *w, uint32_t to, uint32_t want);

/* Loop phase, after the turn's publishes: tell remembered losses where there is room now. */
void xfer_flush(rc_worker *w);

/* True if some other worker has subscribers for topics of this hash (a bucket of the interest
 * table: false positives possible, never a false negative for a subscription in place). */
bool xfer_watched(const rc_worker *w, uint32_t hash);

/* Take up to cap (<= RC_XFER_POP) records from the mailbox of worker `from` into x[]; they must be
 * given back with xfer_release once delivered. Returns how many were taken. */
uint32_t xfer_take(rc_worker *w, uint32_t from, const rc_xmsg **x, uint32_t cap);

/* Give back n records taken from worker `from`. */
void xfer_release(rc_worker *w, uint32_t from, const rc_xmsg *const *x, uint32_t n);

/* True if no incoming mailbox holds anything (the re-check before sleeping). */
bool xfer_idle(rc_worker *w);

/* Post an IORING_OP_MSG_RING CQE to worker `to`'s ring (user_data what, res arg): a wake-up, or a
 * signal relayed by worker 0. Goes with the next submit. */
void xfer_wake(rc_worker *w, uint32_t to, uint64_t what, uint32_t arg);

#endif
