/* rc_limit: what one client may take of a worker: how fast it may send, how long it may stay, and
 * whether a new connection is let in at all (docs/operations.md, "Running it in public").
 *
 * Rates per connection (rate-msgs-per-s, rate-bytes-per-s, rate-commands-per-s). Each is a token
 * bucket kept as a theoretical arrival time (GCRA): each message and command as rc_ws.c handles it
 * (limit_count), and the bytes of each read, move the time forward by their cost, and a
 * connection more than rate-burst-ms ahead of the clock is over. Counting messages where they are
 * handled, not per read, also charges input a subscribe held while it waited for other workers
 * (rc_owner.h), which is parsed later, outside its read. An over connection is not read from (F_THROTTLED) until it is back within: its data waits
 * in the kernel's socket buffer, then TCP's window closes and the sender blocks. The server holds
 * nothing more for it. A connection whose every read is over for rate-close-after-ms is closed
 * with 4005. Charging after the read, not before, is what lets one read of any size be taken whole
 * (a read cannot be un-read); the debt it leaves is what the pause pays back.
 *
 * Lifetime (max-lifetime-ms): a WebSocket is closed with 1012 at a time drawn between 90% and
 * 100% of it after its upgrade, so that clients that connected together (after a restart) do not
 * come back together.
 *
 * At accept, in this order: the worker's share of accept-per-s; the source address's caps
 * (ip-connections-max, ip-connects-per-s; core/rc_peers.h; loopback exempt unless
 * ip-limits-loopback). Over either, the connection is closed at once, before any HTTP: no slot
 * is held, nothing is parsed, nothing spins (the client sees its connection close and may retry).
 * Then handshakes-max: connections that have not upgraded yet (F_HANDSHAKE, counted per worker
 * against the worker's share) are bounded by closing the oldest one for the new one, so idle
 * connections can never lock new clients out; they do not count against max-connections, which
 * counts upgrades (rc_route.c).
 *
 * Memory: 40 bytes per connection slot, and three due-time heaps (core/rc_due.h), allocated at
 * start.
 */
#ifndef RC_LIMIT_H
#define RC_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_worker_int.h"

int limit_init(rc_worker *w);

/* Take w->cfg's rates (at init, and after a reload switched w->cfg). */
void limit_configure(rc_worker *w);
void limit_fini(rc_worker *w);

/* A connection was accepted into c (CS_HTTP, no read armed yet) from sockaddr (NULL if unknown).
 * Returns true if it may go on; false if a limit closed it (counted, logged at debug). */
bool limit_admit(rc_worker *w, rc_conn *c, const void *sockaddr);

/* c became a WebSocket: its lifetime starts. */
void limit_opened(rc_worker *w, rc_conn *c);

enum limit_bucket {
	LIMIT_MSGS,
	LIMIT_BYTES,
	LIMIT_CMDS
};

/* c is over a rate: stop reading from it until it is back within (limit_count's slow path). */
void limit_throttle(rc_worker *w, rc_conn *c);

/* A message (LIMIT_MSGS: data or control) or a ringcast.v1 command (LIMIT_CMDS) from c. Over the
 * rate, no further read is armed (what is already read is still handled: it cannot be un-read);
 * whether it is closed for it is limit_charge's decision, at the end of the read. */
static inline void limit_count(rc_worker *w, rc_conn *c, enum limit_bucket b)
{
	struct worker_limit *l = &w->limit;
	uint64_t *tat = &l->conn[c - w->conns.slots].tat[b], now = w->time.turn_ns;
	if (l->cost_ns[b] == 0)
		return;
	*tat = (*tat > now ? *tat : now) + l->cost_ns[b];
	if (*tat > now + l->burst_ns && !(c->flags & F_THROTTLED))
		limit_throttle(w, c);
}

/* A read of `bytes` on the open connection c has been handled: charge its bytes, and pause or
 * close c if it is over any rate. Before the next read is armed. */
void limit_charge(rc_worker *w, rc_conn *c, uint32_t bytes);

/* Loop phase: throttled connections whose time has come read again; lifetimes that ended close. */
void limit_due(rc_worker *w, uint64_t now_ns);

/* When the earliest of those is due (CLOCK_MONOTONIC ns), or 0 if none is. */
uint64_t limit_next_ns(const rc_worker *w);

#endif
