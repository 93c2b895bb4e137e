/* rc_admin: the admin view: a diagnosis of the running server on a listener of its own
 * (admin-listen, off by default; docs/operations.md, "The admin view"): every connection with its
 * address, worker, state, age, idle time, subscriptions, queue and traffic; the last closes of
 * every worker with their reasons; the slowest consumers; each topic's subscribers and message
 * rate. JSON over HTTP/1.1 GET, one request at a time, each answered and closed:
 *
 *   GET /             everything below in one object
 *   GET /connections  "connections" and "closes"
 *   GET /slow         "slow": the 10 slowest consumers
 *   GET /topics       "topics", with "rate_seconds"
 *
 * 404 for another path, 405 for another method, 401 without the admin-token (Authorization: Bearer
 * TOKEN, or ?token=TOKEN) when one is set: each with a one-line body.
 *
 * One thread, apart from the workers, on blocking sockets: it never reads a worker's memory. For
 * each request it allocates an answer per worker (rc_view.h), asks each worker for it with an
 * IORING_OP_MSG_RING from a small ring of its own (RC_IO_ADMIN; the worker finds the ask in a slot
 * of this module's and fills it between two completions, admin_answer), waits for every worker's
 * "done" (a futex) at most RC_ADMIN_ANSWER_MS, and writes the JSON (rc_admin_json.h) with plain
 * write()s. A worker that does not answer in time (stopped in a long fan-out, or gone: it left its
 * loop at shutdown) is reported as "worker N did not answer", never waited for longer; its ask is
 * taken back, or, if the worker was writing it, left to be freed once the worker let go of it.
 *
 * The process has one admin view, like one signal handler: its state is this module's, set up by
 * the server before the workers start and torn down after they are gone, so a late answer never
 * writes into freed memory and a late ask never reaches a closed ring (the rings' descriptors are
 * duplicated for it).
 *
 *   rc_admin_open(cfg, workers, slots)   main thread, at start: bind (an error stops the server)
 *   admin_ring(i, ring_fd)               each worker, at creation
 *   rc_admin_start()                     once every worker exists
 *   rc_admin_stop()                      after every worker is gone
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include <stdint.h>

#include "rc_cfg.h"
#include "rc_worker_int.h"

#define RC_ADMIN_ANSWER_MS 2000 /* how long a request waits for the workers' answers */
/* The most records of each kind asked of one worker: the list is cut beyond (and says so). */
#define RC_ADMIN_CONNS_MAX 65536u
#define RC_ADMIN_TOPICS_MAX 65536u

/* Bind cfg->admin-listen for `workers` workers of `slots` descriptor slots each, and log
 * admin_listening with the address (the real port, for port 0). Nothing if admin-listen is off.
 * Returns 0, or -1 after logging why (the server does not start). */
int rc_admin_open(const rc_cfg *cfg, uint32_t workers, uint32_t slots);

/* Worker `index`'s ring, where the admin's questions go (duplicated: it outlives the worker). */
void admin_ring(uint32_t index, int ring_fd);

/* Start the admin thread, if rc_admin_open bound a listener. */
void rc_admin_start(void);

/* Stop the thread and free everything; call only when no worker runs any more. */
void rc_admin_stop(void);

/* On worker w's thread (dispatch of RC_IO_ADMIN): fill the ask waiting for w, if any, and say it
 * is done. */
void admin_answer(rc_worker *w);

#endif
