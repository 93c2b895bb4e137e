/* rc_worker: one worker: one thread, one io_uring, its own connections, buffers and topic index.
 *
 * The server runs one worker per CPU (rc_group.h); everything a worker owns hangs off its rc_worker
 * and nothing is global, so a second worker is a second rc_worker on another thread.
 * docs/architecture.md has the loop's phases, who owns what, and how a connection ends.
 *
 *   rc_worker *w;
 *   rc_worker_create(&w, &cfg, group, i, listen_fd, tls_fd, signal_fd, slots)   on its thread
 *   rc_worker_run(w)                                   until drained
 *   rc_worker_destroy(w)
 */
#ifndef RC_WORKER_H
#define RC_WORKER_H

#include "rc_cfg.h"

typedef struct rc_worker rc_worker;

/* Descriptor slots a worker keeps beyond its share of --max-connections, so that a client over the
 * limit can still be accepted and told 503. */
#define RC_SLOT_RESERVE 64

/* Set up worker `index` of group g (net/rc_group.h) on the calling thread: ring, registered
 * buffer region, provided buffer ring, direct descriptor table of `slots` entries, pools and
 * tables sized from cfg (which must outlive the worker); it records its ring descriptor in g.
 * listen_fd and tls_fd are bound, listening TCP sockets the worker accepts plain and TLS
 * connections from (either may be -1: none); signal_fd a signalfd for
 * SIGTERM and SIGINT (or -1). Returns 0 or -errno, having logged what failed and what to do about
 * it. */
struct rc_group;
int rc_worker_create(rc_worker **out, const rc_cfg *cfg, struct rc_group *g, uint32_t index,
                     int listen_fd, int tls_fd, int signal_fd, uint32_t slots);

/* Serve until a signal drains the worker (or a fatal ring error). Returns 0 after a drain, or
 * -errno. */
int rc_worker_run(rc_worker *w);

/* Free everything. The listen and signal descriptors stay the caller's. */
void rc_worker_destroy(rc_worker *w);

#endif
