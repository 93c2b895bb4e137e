/* rc_gauges: the gauges of one worker that /metrics adds up across workers (connections, topics,
 * subscriptions, buffers, queued bytes).
 *
 * Each worker sets only its own (no worker reads another's state), so a /metrics answer served by
 * whichever worker the request lands on is at most one loop turn old for the cheap gauges and at
 * most RC_GAUGES_NS old for queued bytes, which walks every slot.
 */
#ifndef RC_GAUGES_H
#define RC_GAUGES_H

#include <stdint.h>

#include "rc_worker_int.h"

/* With several workers, the gauge that walks every slot (queued bytes) is refreshed this often
 * while anything happens. */
#define RC_GAUGES_NS 250000000u

/* The cheap gauges (a dozen plain stores): connections, topics, subscriptions, buffers. */
void gauges_set_cheap(rc_worker *w);

/* Every gauge, queued bytes included (walks every slot): for /metrics on this worker. */
void gauges_refresh_all(rc_worker *w);

/* Loop phase, with several workers: the cheap gauges every turn, all of them at most every
 * RC_GAUGES_NS while anything happens (busy: this turn dispatched completions). */
void gauges_refresh(rc_worker *w, bool busy, uint64_t now_ns);

#endif
