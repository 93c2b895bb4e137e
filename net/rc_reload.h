/* rc_reload: SIGHUP, the configuration read again and taken by every worker (docs/operations.md,
 * "Reload").
 *
 * Worker 0 reads the signal. It reads the sources again (core/rc_cfg_reload.h: keys that need a
 * restart keep their old value and are named in a `reload_refused` line), loads the TLS
 * certificate and key (the files may have been replaced under the same names: a renewal), and
 * builds the new running configuration in one of two slots of the group. Then it takes it itself
 * and tells every other worker with a MSG_RING; each switches w->cfg to the slot at its next loop
 * turn and derives again what it keeps from the configuration (deadlines, origins, rates, its TLS
 * context if worker 0's load succeeded). A configuration is read by its workers without a lock
 * because no slot is written while a worker may still read it: a reload waits until every worker
 * has taken the one before (a SIGHUP that comes sooner is refused with `reload_busy`), and the
 * slot it fills is the one nobody uses since then. That state is the process's (one server per
 * process): reload_source sets it before the server starts.
 */
#ifndef RC_RELOAD_H
#define RC_RELOAD_H

#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* Where a reload reads the configuration again: the command line the server was started with
 * (argv must live as long as the process; getopt may permute it), and what its sources said then
 * (before start-up adjustments). Without this call, a SIGHUP only reloads the TLS certificate. */
int reload_source(const rc_cfg *configured, int argc, char **argv, char *err, size_t errlen);

/* The JWT keys of the start (jwt-keys; NULL if none): every worker's until a reload. reload_source
 * loads them (returning -EINVAL with err if the file does not load); reload_release frees every
 * key set at exit, once no worker runs. */
struct rc_auth;
const struct rc_auth *reload_keys(void);
void reload_release(void);

/* What every worker derives from its configuration: at start (rc_worker_setup.c) and after a
 * reload. */
void reload_derive(rc_worker *w);

/* Worker 0, at SIGHUP. */
void reload_begin(rc_worker *w);

/* Another worker, at worker 0's MSG_RING (arg: what reload_begin sent). */
void reload_take(rc_worker *w, uint32_t arg);

#endif
