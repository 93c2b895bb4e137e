/* rc_group: the workers of one server process and what they share.
 *
 * One worker per CPU, each a thread pinned to its CPU with its own io_uring, listener, buffers,
 * connections and topic index (rc_worker.h). What they share is only this:
 *   - mail[from * n + to]: a lock-free SPSC mailbox per ordered worker pair (core/rc_mailbox.h),
 *     carrying pointers to rc_xmsgs (core/rc_xmsg.h) from the worker a message was published on
 *     to each worker that has subscribers for its topic;
 *   - wake[to]: the "asleep in io_uring_enter" flag of each worker, shared by its incoming
 *     mailboxes, and ring_fd[to], where a sender aims IORING_OP_MSG_RING to wake it;
 *   - interest: which workers have subscribers for which topic hashes (core/rc_interest.h);
 *   - open: connections open on all workers, against --max-connections;
 *   - the topic hash seed (the same on every worker, so that interest buckets agree).
 * docs/architecture.md draws the threads, mailboxes and memory ownership.
 *
 * rc_threads.h runs the workers of a group, one pinned thread each.
 */
#ifndef RC_GROUP_H
#define RC_GROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rc_cfg.h"
#include "rc_peers.h"
#include "rc_interest.h"
#include "rc_mailbox.h"
#include "rc_tls.h"

typedef struct rc_worker rc_worker;

#define RC_GROUP_TICKET_PERIOD_S 3600 /* a session ticket key's life (rc_tls_tickets) */

typedef struct rc_group {
	const rc_cfg *cfg;
	uint32_t n;          /* workers */
	rc_worker **workers; /* [n], set before any worker runs */
	int *ring_fd;        /* [n] */
	rc_mailbox *mail;    /* [n * n]; mail[i * n + i] unused */
	rc_wakeflag *wake;   /* [n] */
	rc_interest interest;
	/* WebSockets (and upgrades under way) on all workers, against max-connections: a
	 * connection is counted when its upgrade request comes (F_COUNTED), not at accept, so
	 * that connections still in their handshake cannot fill it (handshakes-max bounds those) */
	_Atomic uint32_t open;
	rc_peers peers; /* connections per source address (ip-connections-max, ip-connects-per-s) */
	uint64_t seed;  /* topic hash seed */
	rc_tls_tickets tickets; /* session ticket keys of every worker's TLS context */
	pthread_barrier_t barrier;
	_Atomic bool failed; /* a worker could not start: every thread gives up */
} rc_group;

static inline rc_mailbox *rc_group_mail(rc_group *g, uint32_t from, uint32_t to)
{
	return &g->mail[(size_t)from * g->n + to];
}

/* Set up what n workers (1 .. RC_INTEREST_WORKERS_MAX) share: mailboxes of cfg->mailbox_records,
 * wake flags, the interest table, the topic hash seed. Returns 0 or -ENOMEM (or a mailbox's
 * error); rc_group_fini undoes a partial set-up too. */
int rc_group_init(rc_group *g, const rc_cfg *cfg, uint32_t n);
void rc_group_fini(rc_group *g);

#endif
