/* rc_server: the process around the workers: start-up checks (descriptor and locked-memory
 * limits), the listening sockets (rc_listen.h: bound, passed by systemd, or taken over from a
 * running server), signal handling (SIGTERM and SIGINT drain, SIGHUP reloads, SIGUSR2 drains as
 * for a restart, SIGUSR1 re-arms the accepts), the takeover thread (rc_handover.h), and the
 * workers' run. tools/ringcast is this plus argument parsing.
 */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include "rc_cfg.h"

/* Serve with cfg until SIGTERM, SIGINT or SIGUSR2 (a takeover) has drained every client. Logs
 * what it does. Returns the process exit status: 0 after a clean drain, 1 if the server could not
 * start or failed, or if it was a successor whose takeover failed after it started. */
int rc_server_run(const rc_cfg *cfg);

/* Where SIGHUP reads the configuration again (net/rc_reload.h): the command line the server was
 * started with (argv must live as long as the process) and the configuration it gave. Call before
 * rc_server_run; without it, SIGHUP reloads the TLS certificate only. It also loads the JWT keys
 * (jwt-keys): returns 0, or -EINVAL with err if they do not load. */
int rc_server_reload_source(const rc_cfg *configured, int argc, char **argv, char *err,
                            size_t errlen);

#endif
