/* rc_handover: a restart that refuses no connection attempt (takeover). The running server hands
 * its listening sockets to a successor over a Unix socket (takeover-socket); the successor serves
 * on those very sockets, and only once it is ready does the running server stop accepting and
 * drain its clients with 1012 (service restart), which reconnect to the successor. No listening
 * socket is closed on the way (both processes hold it; a listening socket closed with connections
 * in its accept queue resets them), so nothing queued is lost and no SYN finds the port closed.
 * For a moment both processes accept on the same sockets: the kernel gives each connection to
 * one accept.
 *
 * The running server listens on takeover-socket (mode 0600; a peer whose SO_PEERCRED uid is not
 * ours nor root is refused) from its "listening" line on, one successor at a time, in a small
 * blocking thread of its own (started and stopped by rc_server). A successor is a second ringcast
 * started with takeover=true and the same takeover-socket.
 *
 * The protocol: every message is one rc_handover_msg (fixed size, this host's byte order: both
 * ends are on one machine), magic and version first; each read waits at most
 * takeover-timeout-ms.
 *   successor -> server   REQUEST  its pid and worker count
 *   server -> successor   SOCKETS  its worker count, how many plain and TLS listening sockets and
 *                                  their addresses; SCM_RIGHTS carries the descriptors, the plain
 *                                  ones first, then the TLS ones, each in worker order (worker i's
 *                                  at i): 0 or `workers` of each
 *                      or REFUSED  why: another worker count, a version it does not speak
 *   successor -> server   READY    its workers run on those sockets (its "listening" line)
 *                      or ABANDON  why: they are not what its configuration says (listen and
 *                                  tls-listen must be the same addresses, a configured port 0
 *                                  matching any, and the worker counts equal)
 *   server -> successor   DONE     the server stops accepting and drains: the successor is it now
 * Then the successor binds takeover-socket itself (unlink and bind) for the next takeover, and the
 * server closes the connection once none of its workers accepts any more (or after
 * takeover-timeout-ms); at that EOF the successor re-arms its own accepts (SIGUSR1 to itself). An
 * accept in io_uring waits with an exclusive wake-up (one waiter woken per new connection): one of
 * the server's that was woken and then cancelled takes that wake-up with it, and the connection
 * would wait in the queue until the next one arrives. A re-armed accept tries the queue first.
 *
 * Whatever goes wrong, the running server keeps serving untouched: a successor that times out,
 * hangs up, sends anything else or abandons is logged (takeover_failed with a reason) and the
 * server waits for the next one. It raises SIGUSR2 (its restart drain, net/rc_worker.c) only after
 * DONE went out. A successor that gets no DONE after READY stops itself (SIGTERM, exit 1), so that
 * two servers do not go on sharing the sockets; one refused before READY exits 1 at once. Lines on
 * both sides: takeover_offered, takeover_done, takeover_failed (role=server or role=successor).
 *
 * What survives: the listening sockets and their queues, nothing else. Connections, topics,
 * history and epochs are the old process's memory: the successor starts every topic under a new
 * epoch, and a ringcast.v1 client resuming after the 1012 gets a reset notice with reason epoch.
 */
#ifndef RC_HANDOVER_H
#define RC_HANDOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "rc_cfg.h"
#include "rc_interest.h"

#define RC_HANDOVER_MAGIC 0x72636b74u /* "rckt" as a big-endian number; sent as is */
#define RC_HANDOVER_VERSION 1u
#define RC_HANDOVER_WHY_MAX 128

enum rc_handover_kind {
	RC_HANDOVER_REQUEST = 1,
	RC_HANDOVER_SOCKETS = 2,
	RC_HANDOVER_REFUSED = 3,
	RC_HANDOVER_READY = 4,
	RC_HANDOVER_ABANDON = 5,
	RC_HANDOVER_DONE = 6,
};

/* One message, 264 bytes: tests/integration/test_takeover.py packs it as "<IHHIIII56s56s128s". */
typedef struct rc_handover_msg {
	uint32_t magic;   /* RC_HANDOVER_MAGIC */
	uint16_t version; /* RC_HANDOVER_VERSION */
	uint16_t kind;    /* enum rc_handover_kind */
	uint32_t pid;     /* the sender's */
	uint32_t workers; /* REQUEST, READY: the successor's; SOCKETS, REFUSED: the server's */
	uint32_t plain;   /* SOCKETS: plain listening descriptors passed (0 or workers) */
	uint32_t tls;     /* SOCKETS: TLS ones (0 or workers) */
	char listen[RC_CFG_ADDR_TEXT_MAX];     /* SOCKETS: their address, "off" if none */
	char tls_listen[RC_CFG_ADDR_TEXT_MAX]; /* SOCKETS */
	char why[RC_HANDOVER_WHY_MAX];         /* REFUSED, ABANDON: one line, printable ASCII */
} rc_handover_msg;

/* What a successor took over (rc_handover_take). */
typedef struct rc_handover_taken {
	int conn;            /* the connection to the server, for READY (rc_handover_start) */
	uint32_t server_pid; /* the server taken over from */
	int listen_fd[RC_INTEREST_WORKERS_MAX]; /* worker i's plain listening socket, -1 if off */
	int tls_fd[RC_INTEREST_WORKERS_MAX];    /* worker i's TLS one, -1 if off */
	char listen[RC_CFG_ADDR_TEXT_MAX];      /* their address ("off"), with the real port */
	char tls_listen[RC_CFG_ADDR_TEXT_MAX];
} rc_handover_taken;

/* A successor's start (cfg->takeover): ask the server on cfg->takeover_socket for its listening
 * sockets and check them against cfg and `workers`. Returns 1 (out filled, out->conn open), 0 if
 * no server is there (no such socket, or nothing listening on it: a warning, and the caller binds
 * as usual), or -1 after logging why (refused, a mismatch told to the server with ABANDON, a
 * timeout): the successor exits 1, the server keeps serving. */
int rc_handover_take(const rc_cfg *cfg, uint32_t workers, rc_handover_taken *out);

/* The listening sockets this server offers to a successor. */
typedef struct rc_handover_offer {
	uint32_t workers;
	const int *listen_fd; /* [workers], -1 if off */
	const int *tls_fd;    /* [workers], -1 if off */
	const char *listen;   /* their address as text, "off" */
	const char *tls_listen;
} rc_handover_offer;

/* Start the takeover thread if cfg->takeover_socket is set: as a successor (conn >= 0, from
 * rc_handover_take; taken over from the server of pid server_pid) it says READY at
 * rc_handover_ready, and binds takeover-socket once DONE came; otherwise it binds takeover-socket
 * now (refusing to start if a server answers there: that one is to be taken over, with
 * takeover=true). Then it offers `what` to successors from rc_handover_ready on. Takes conn (closed
 * on every path). The descriptors of `what` stay the caller's and must stay open until
 * rc_handover_stop. Returns 0, or -1 (logged): the server does not start. */
int rc_handover_start(const rc_cfg *cfg, const rc_handover_offer *what, int conn,
                      uint32_t server_pid);

/* The server is up (its "listening" line): go on. Any thread; never blocks. */
void rc_handover_ready(void);

/* A worker of this server stopped accepting for good (its restart drain): once every worker has,
 * the successor is told by EOF. Any thread; never blocks; nothing without a takeover. */
void rc_handover_accepts_stopped(void);

/* Stop the thread (the server has drained) and wait for it; remove takeover-socket if it is still
 * ours. Returns true if this server was a successor whose takeover failed after its start (no
 * DONE): its exit status is then 1. */
bool rc_handover_stop(void);

#endif
