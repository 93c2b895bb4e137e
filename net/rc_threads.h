/* rc_threads: the workers of one server, one thread each.
 *
 * rc_threads_run creates the group (rc_group.h), starts one thread per worker, and each thread pins
 * itself, creates its worker (the ring must be created on the thread that uses it:
 * SINGLE_ISSUER), waits for all the others, runs until drained, waits for all the others again (no
 * worker may touch another's memory after it is destroyed), and destroys its worker.
 */
#ifndef RC_THREADS_H
#define RC_THREADS_H

#include <stdint.h>

#include "rc_cfg.h"

/* Run n workers (1 .. RC_INTEREST_WORKERS_MAX) until a signal drains them all: worker i listens on
 * listen_fd[i] (plain) and tls_fd[i] (TLS), either -1 if off, and, if cpu[i] >= 0, is pinned to
 * that CPU. Worker 0 reads signal_fd and tells the
 * others. slots is each worker's descriptor table size. ready(ready_ctx), if not NULL, is called
 * once every worker exists (its buffers registered), before any serves: the place to say
 * "listening". Returns 0 after a clean drain, -errno if a worker could not start or failed
 * (already logged). */
int rc_threads_run(const rc_cfg *cfg, uint32_t n, const int *listen_fd, const int *tls_fd,
                   const int *cpu, int signal_fd, uint32_t slots, void (*ready)(void *ctx),
                   void *ready_ctx);

#endif
