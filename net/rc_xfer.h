/* rc_xfer: messages between workers.
 *
 * Sending. A publish on this worker is delivered here by rc_ws.c and, when other workers have
 * subscribers for its topic (the interest table), copied once into an rc_xmsg in this worker's
 * memory, a pointer to which goes into the mailbox of each of those workers. Nothing blocks:
 * a full mailbox loses the message for that worker (counted in handoffs_total{result=
 * "mailbox_full"}); so does a pool with no free buffer for the copy ({result="no_memory"}). A loss
 * is remembered per topic and, as soon as the mailbox has room, sent as a LOSS record ahead of
 * anything newer, so that the receiving worker skips the numbers and owes each subscriber a missed
 * notice (docs/protocol.md 6.5: the client is told exactly what it missed).
 *
 * Waking. Right after each push, rc_mailbox_notify (a locked add on our own tail and a read of
 * the receiver's wake flag, whose line stays shared while the receiver is awake); if the receiver
 * had armed its wake flag (it is asleep, or about to be), one IORING_OP_MSG_RING from this
 * worker's ring posts a CQE to its ring, which ends its io_uring_enter: at most one per sleep of
 * the receiver, never one per message. No eventfd, no syscall of our own: the MSG_RING goes with
 * the loop's next submit, the first slice of the flush at the latest.
 *
 * Receiving. Once per loop turn the loop takes what each incoming mailbox holds (xfer_take, at
 * most RC_XFER_BUDGET records per mailbox per turn), delivers each rc_xmsg (rc_ws.h ws_deliver,
 * ws_lost: numbered and built in this worker's own memory) and gives them back at once
 * (xfer_release: their holds returned in one atomic per run of records from the same buffer). The
 * last release sends the buffer home through the owner pool's lock-free remote-free path
 * (core/rc_xmsg.h).
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

/* A message published on this worker: hand it to every other worker with subscribers for its topic
 * (hash: the topic's hash in the group's seed). The payload is copied (a large one over a chain of
 * this worker's pool, core/rc_xmsg.h). Never blocks; losses are counted and told later. */
void xfer_publish(rc_worker *w, const uint8_t *topic, size_t tlen, uint32_t hash, bool text,
                  const rc_span *payload);

/* Loop phase, after the turn's publishes: tell remembered losses where there is room now. */
void xfer_flush(rc_worker *w);

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
