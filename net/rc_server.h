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

#endif
