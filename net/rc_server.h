/* rc_server: the process around the workers: start-up checks (descriptor and locked-memory
 * limits), the listening socket, signal handling, and the worker's run. tools/ringcast is this
 * plus argument parsing.
 */
#ifndef RC_SERVER_H
#define RC_SERVER_H

#include "rc_cfg.h"

/* Serve with cfg until SIGTERM or SIGINT has drained every client. Logs what it does. Returns the
 * process exit status: 0 after a clean drain, 1 if the server could not start or failed. */
int rc_server_run(const rc_cfg *cfg);

/* Where SIGHUP reads the configuration again (net/rc_reload.h): the command line the server was
 * started with (argv must live as long as the process) and the configuration it gave. Call before
 * rc_server_run; without it, SIGHUP reloads the TLS certificate only. It also loads the JWT keys
 * (jwt-keys): returns 0, or -EINVAL with err if they do not load. */
int rc_server_reload_source(const rc_cfg *configured, int argc, char **argv, char *err,
                            size_t errlen);

#endif
