/* rc_activate: listening sockets passed by systemd at start (socket activation, sd_listen_fds(3)):
 * the server listens on them instead of binding its own.
 *
 * systemd (or systemd-socket-activate) passes LISTEN_PID (this process), LISTEN_FDS (how many
 * descriptors, from 3 on) and optionally LISTEN_FDNAMES (their names, ':'-separated, from each
 * .socket unit's FileDescriptorName=). Each descriptor must be a listening TCP socket (IPv4 or
 * IPv6). It serves `listen` if it is named "ws", `tls-listen` if named "wss"; without a name (or
 * with systemd's default name, the unit's), the one whose address (getsockname) is a configured
 * address: the same IP, and the same port unless the configured one is 0. A descriptor that is
 * none of these, a second one for the same listener, or one for a listener configured `off`, is
 * refused with one line saying which and why. A configured listener that was not passed is bound
 * as usual. The variables are removed once read, so nothing started later takes them.
 *
 * Several sockets may be passed for one listener (several .socket units with ReusePort=yes on the
 * same address, the same name): worker i takes socket i modulo their number. One socket for
 * several workers works (each worker arms its accepts on it and the kernel hands each connection
 * to one of them), but the kernel does not spread them: measured, one worker took all 14 of 14
 * connections (tests/integration/test_systemd.py). So one socket per worker is what spreads
 * connections as the server's own SO_REUSEPORT listeners do; with fewer, the server says so at
 * start. --steer-by-cpu does not apply to activated listeners. Each descriptor gets TCP_NODELAY
 * (accepted sockets inherit it) and close-on-exec.
 */
#ifndef RC_ACTIVATE_H
#define RC_ACTIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "rc_cfg.h"

#define RC_ACTIVATE_MAX 16 /* descriptors taken */

typedef struct rc_activated {
	int ws_fd[RC_ACTIVATE_MAX]; /* for listen: ws_n of them */
	int tls_fd[RC_ACTIVATE_MAX];
	unsigned ws_n, tls_n;
	char ws_text[RC_CFG_ADDR_TEXT_MAX]; /* their address */
	char tls_text[RC_CFG_ADDR_TEXT_MAX];
	unsigned count; /* descriptors passed */
} rc_activated;

/* fd's address as a configured address (family, address, port), if it is a listening TCP socket
 * (IPv4 or IPv6); false otherwise. Also what a takeover checks (rc_handover.h). */
bool rc_activate_listener_addr(int fd, rc_cfg_addr *a);

/* Is got (a socket's address) the configured address want: the same family and IP, and the same
 * port unless want's is 0 (any)? */
bool rc_activate_addr_matches(const rc_cfg_addr *want, const rc_cfg_addr *got);

/* Take what systemd passed, if anything was passed to this process. Returns 0 (out filled; ws_n
 * and tls_n 0 when nothing was passed), or -1 after logging why the passed descriptors cannot be
 * used (those taken so far are closed). */
int rc_activate_take(const rc_cfg *cfg, rc_activated *out);

#endif
