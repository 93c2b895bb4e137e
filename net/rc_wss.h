/* rc_wss: a worker's TLS connections: rc_tls (rc_tls.h) between a connection's receives and its
 * sends.
 *
 * A connection accepted on the TLS listener carries F_TLS and a wss_conn in w->tls.conns[slot]:
 * its session and `raw`, a chunk of ciphertext waiting to be sent (handshake records, tickets,
 * alerts). Everything else is the plain connection's: the same receive armed from the provided
 * ring, the same single send in flight, the same deadlines (the TLS handshake runs in CS_HTTP,
 * under --handshake-timeout-ms).
 *
 *   in:  a receive's ciphertext --wss_recv--> rc_tls --> plaintext in a POOL buffer --> the HTTP
 *        parser or the frame parser, exactly as a plain receive buffer (rc_worker.c, on_recv)
 *   out: the flush fills a plaintext chunk (control output, then frames) within wss_plain_room,
 *        wss_seal makes it records after what `raw` holds, and that chunk is the send
 *        (rc_send.c, flush_tls)
 *
 * conn_release frees the session and `raw` (rc_conn.c, release_tls).
 *
 * A handshake that fails, a record that does not decrypt, or the peer's close_notify end the
 * connection at once (conn_abort): no WebSocket close frame can be trusted to arrive after them.
 */
#ifndef RC_WSS_H
#define RC_WSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_worker_int.h"

/* The worker's TLS context and per-slot table, if it has a TLS listener. Returns 0 or -errno
 * (logged). */
int wss_setup(rc_worker *w);
void wss_teardown(rc_worker *w);

/* SIGHUP: load tls-cert and tls-key again into a new context for new handshakes; sessions of the
 * old one go on with it (wolfSSL counts its references). A pair that does not load is refused
 * with a log line and the old context kept. Returns true if the new pair is in use (or there is
 * no TLS listener: nothing to do, said once by worker 0). */
bool wss_reload(rc_worker *w);

/* Admission. The first step of a full handshake (ECDHE and a signature) is what a TLS
 * connection costs most, and a burst of ClientHellos processed in one loop turn would hold every
 * established connection back for as long. So a worker arms the first receive of at most
 * RC_TLS_ADMIT_PER_TURN new TLS connections per loop turn; the others wait in a FIFO queue,
 * their bytes in the kernel's socket buffer, their handshake deadline running (one that passes
 * while queued closes the connection as a handshake timeout when its turn comes), and the loop
 * does not sleep while the queue is not empty. */
#define RC_TLS_ADMIT_PER_TURN 16

/* A connection accepted on the TLS listener (recv not armed): its session, and its first receive
 * armed now or queued. False if there is no memory for the session. */
bool wss_start(rc_worker *w, rc_conn *c);

/* A loop turn begins: admit queued connections up to the turn's allowance. */
void wss_turn(rc_worker *w);

/* Are connections waiting for admission? (the loop must not sleep) */
static inline bool wss_waiting(const rc_worker *w)
{
	return w->tls.waiting > 0;
}

/* Ciphertext from a receive: handshake, or decrypt and parse. Every byte is taken. */
void wss_recv(rc_worker *w, rc_conn *c, const uint8_t *data, size_t len);

/* Is ciphertext waiting to be sent (`raw`)? */
bool wss_pending(rc_worker *w, const rc_conn *c);

/* Plaintext bytes this flush may seal: 0 while the handshake runs (only `raw` goes out). */
uint32_t wss_plain_room(rc_worker *w, const rc_conn *c);

/* What the send carries: `raw`, then plain[0..len) sealed (len <= wss_plain_room), then
 * close_notify if close is set, in one chunk whose length goes to *out_len; NULL if there is
 * nothing to send (or no chunk, or the seal failed: then c is aborted). */
uint8_t *wss_seal(rc_worker *w, rc_conn *c, const uint8_t *plain, uint32_t len, bool close,
                  uint32_t *out_len);


/* c's joint is made (rc_owner.h): parse what the session holds decrypted, as wss_recv would have. */
void wss_resume(rc_worker *w, rc_conn *c);

#endif
