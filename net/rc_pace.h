/* rc_pace: connections that asked for at most one message per topic every N milliseconds
 * (interval_ms, docs/protocol.md 6.7): a browser ticker that wants the latest price four times a
 * second, not every one of a thousand updates.
 *
 * Two parts make it. Conflation: a message for a paced connection takes the place of the queued,
 * not yet sent, message of its topic (rc_outq_replace, in rc_fanout.c), and the one it replaces is
 * a drop like any other (counted as conflated, told in a missed notice). Pacing: a paced
 * connection is sent to at most once per interval; when it is dirty before its time, the flush
 * leaves it (pace_hold) and a heap of due times brings it back (pace_due). Together, each send
 * carries at most one message per topic, the latest, and sends are at least an interval apart.
 *
 * The interval belongs to the connection (one per connection, set by the connect URL or by a
 * subscribe command that gives one) and applies to every topic it subscribes to. Memory: 6 bytes
 * per connection slot, and 16 more for the due times (core/rc_due.h), allocated at start.
 */
#ifndef RC_PACE_H
#define RC_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* c's interval: 0 = every message as it comes (the default). */
void pace_set(rc_worker *w, rc_conn *c, uint32_t ms);
static inline uint32_t pace_interval(const rc_worker *w, const rc_conn *c)
{
	return w->pace.ms[c - w->conns.slots];
}

/* The flush is about to send to c: true if c is paced and its time has not come (then it is
 * scheduled, and must not be sent to now); false if it may send (its next time is set). */
bool pace_hold(rc_worker *w, rc_conn *c);

/* Loop phase: the paced connections whose time has come are dirty again. */
void pace_due(rc_worker *w, uint64_t now_ns);

/* When the earliest paced connection is due (CLOCK_MONOTONIC ns), or 0 if none waits. */
uint64_t pace_next_ns(const rc_worker *w);

int pace_init(rc_worker *w);
void pace_fini(rc_worker *w);

#endif
