/* tls: the bench's TLS client (wss://), wolfSSL over the bench's own buffers and io_uring.
 *
 * wolfSSL never touches a socket: it is given I/O callbacks that read the ciphertext the caller
 * fed (tls_feed: what a receive of the bench brought, in the bench's own buffer) and write the
 * ciphertext it makes into the session's out buffer, which the caller sends with its own sends
 * (tls_out, then tls_out_sent once a send completed). So a wss connection keeps the shape of a
 * ws one: one receive armed, one send in flight, the same ring, buffers and batching.
 *
 *     ciphertext in  --tls_feed-->  [wolfSSL]  --tls_handshake / tls_read-->  plaintext
 *     plaintext      --tls_write-->  [wolfSSL]  --send callback-->  out buffer  --> io_uring send
 *
 * Input: wolfSSL takes what it needs of the fed bytes, copying partial records into its own
 * buffer. After a call returns TLS_AGAIN for input every fed byte is taken; a caller that stops
 * reading earlier calls tls_feed_drop before it reuses its buffer (nothing then points into it).
 *
 * Output: the out buffer (out_cap bytes, the session's) holds what was made and not yet sent;
 * bytes made while a send of the front is in flight are appended behind it, nothing is moved
 * until that send completed. tls_write encrypts a whole batch in one call, so what a caller
 * gathered in a turn becomes as few records as fit (TLS_RECORD_MAX plaintext bytes each); it
 * needs tls_sealed_max(len) bytes free, the rest of the room is for handshake flights and alerts.
 *
 * Accounting: every wolfSSL call is counted and timed into the thread's struct tls_counts, so
 * that the report can say how much of the bench's CPU went to TLS (stats.h says how; the engines'
 * part is to call tls_turn_end before each wait of their loop).
 *
 * Threads: the context is made once (main) and shared, read-only; a session, its ticket and its
 * counts belong to one thread, which calls tls_thread_done before it ends. */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

#define TLS_RECORD_MAX 16384u /* plaintext bytes per record */
/* Ciphertext of a record beyond its plaintext with the AEAD suites offered: at most 29 bytes
 * (TLS 1.2 AES-GCM: header, explicit nonce, tag). */
#define TLS_RECORD_OVERHEAD 32u
/* Out buffer room beyond tls_sealed_max of the largest write: a client flight (ClientHello, or
 * Finished), an alert, a close_notify. */
#define TLS_FLIGHT_MAX 4096u

/* The most ciphertext len bytes of plaintext become. */
static inline size_t tls_sealed_max(size_t len)
{
	return len + (len / TLS_RECORD_MAX + 1) * TLS_RECORD_OVERHEAD;
}

struct tls_cfg {
	const char *ca_file; /* PEM CAs to verify the server with; NULL: no verification */
	unsigned version;    /* 12 or 13: only that version; 0: negotiate (1.2 or 1.3) */
	bool resume;         /* offer session tickets (TLS 1.2 needs to ask for them) */
	const char *host;    /* the URL's host: SNI when a name, the name checked with ca_file */
};

struct tls_ctx;
struct tls;

/* A client context for cfg (wolfSSL is initialised on the first call). Returns it, or NULL with
 * one line in err naming the option and what is wrong (--tls-ca FILE: cannot load it). */
struct tls_ctx *tls_ctx_new(const struct tls_cfg *cfg, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* The name sent as SNI: the host when it is a name, NULL for an address. */
const char *tls_ctx_sni(const struct tls_ctx *ctx);

/* Free what wolfSSL keeps per thread (its ECC cache): a thread that made sessions calls it last. */
void tls_thread_done(void);

/* The end of a turn of the thread's loop: it calls this before each wait, and before it ends, so
 * that the time of its reads and writes is counted as CPU time (stats.h, struct tls_counts). */
void tls_turn_end(struct tls_counts *c);

/* ---- session tickets (--tls-resume) ---------------------------------------------------------- */

/* A session an earlier connection got a ticket for, to resume with. Owned by one thread. */
struct tls_ticket;

/* Keep t's session in *slot if it holds a ticket (replacing and freeing the one there). */
void tls_ticket_keep(struct tls_ticket **slot, struct tls *t);
void tls_ticket_free(struct tls_ticket *k);

/* ---- sessions -------------------------------------------------------------------------------- */

enum tls_status {
	TLS_OK = 0,      /* done */
	TLS_AGAIN = -1,  /* needs more ciphertext in (every fed byte is taken) */
	TLS_CLOSED = -2, /* the server sent close_notify */
	TLS_FAIL = -3,   /* fatal: tls_error_kind says what */
};

/* A client session with an out buffer of out_cap bytes, resuming `resume` if not NULL, counting
 * into cnt. Returns NULL if out of memory. */
struct tls *tls_new(struct tls_ctx *ctx, size_t out_cap, const struct tls_ticket *resume,
                    struct tls_counts *cnt);
void tls_free(struct tls *t);

/* Ciphertext for the next calls; tls_feed_drop forgets what was not taken. */
void tls_feed(struct tls *t, const uint8_t *cipher, size_t len);
void tls_feed_drop(struct tls *t);

/* Go on with the handshake: TLS_OK once complete (counted, with its version and cipher),
 * TLS_AGAIN, TLS_FAIL. Its flights go to the out buffer. */
int tls_handshake(struct tls *t);
bool tls_established(const struct tls *t);

/* Decrypted bytes into dst[0..cap), cap > 0: how many (> 0), or TLS_AGAIN (no complete record
 * left), TLS_CLOSED, TLS_FAIL. */
ssize_t tls_read(struct tls *t, uint8_t *dst, size_t cap);

/* Encrypt len bytes into the out buffer, as few records as they fill. TLS_OK, or TLS_FAIL (no
 * room for tls_sealed_max(len), or wolfSSL refused). */
int tls_write(struct tls *t, const uint8_t *src, size_t len);

/* Append close_notify to the out buffer. */
void tls_close(struct tls *t);

/* The out buffer's bytes not yet sent: *p and the length (0: nothing). */
size_t tls_out(const struct tls *t, const uint8_t **p);
/* n bytes of the front were sent; once everything is, the buffer starts over empty. */
void tls_out_sent(struct tls *t, size_t n);

/* After TLS_FAIL: the error tally's key ("tls_verify", "tls_alert", "tls_version", ...). The
 * first failure's words are kept in the counts (tls_counts.first_error). */
const char *tls_error_kind(const struct tls *t);

#endif
