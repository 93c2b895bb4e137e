/* rc_listen: the listening sockets of the workers, from wherever they come: taken over from a
 * running server (takeover=true, rc_handover.h), passed by systemd (socket activation,
 * rc_activate.h), or bound here, in that order of preference; and --steer-by-cpu on them.
 *
 * Bound here, every worker has its own socket on the address (SO_REUSEPORT spreads new connections
 * over them; the first is bound once without it, so that a port another process listens on is
 * refused instead of silently shared). Passed by systemd, worker i takes socket i modulo their
 * number. Taken over, worker i takes the socket the old server's worker i had.
 */
#ifndef RC_LISTEN_H
#define RC_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rc_activate.h"
#include "rc_cfg.h"
#include "rc_interest.h"

typedef struct rc_listeners {
	uint32_t n;                          /* workers */
	int lfd[RC_INTEREST_WORKERS_MAX];    /* worker i's plain listening socket, -1 if off */
	int tfd[RC_INTEREST_WORKERS_MAX];    /* worker i's TLS one, -1 if off */
	char addr[RC_CFG_ADDR_TEXT_MAX];     /* the address with its real port, or "off" */
	char tls_addr[RC_CFG_ADDR_TEXT_MAX]; /* the same for TLS */
	rc_activated act;                    /* what systemd passed (its slots may repeat one) */
	int handover;                        /* taken over: the connection to the old server */
	uint32_t server_pid;                 /* taken over: the old server */
} rc_listeners;

/* a (IPv4 or IPv6) as a socket address in ss; returns its length. */
socklen_t rc_listen_sockaddr(const rc_cfg_addr *a, struct sockaddr_storage *ss);

/* Open the listening sockets of n workers into l, with --steer-by-cpu if cfg asks for it (cpu[i]:
 * worker i's CPU; pinned: the workers are pinned; cfg->steer_by_cpu is turned off, with a warning,
 * for sockets systemd passed). Returns 0, or -1 after logging why (nothing is left open). */
int rc_listen_open(rc_cfg *cfg, uint32_t n, const int *cpu, bool pinned, rc_listeners *l);

/* Close what rc_listen_open opened (l->handover stays: rc_handover_start takes it). */
void rc_listen_close(rc_listeners *l);

#endif
