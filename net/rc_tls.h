/* rc_tls: TLS for the server's connections, with wolfSSL doing no I/O of its own.
 *
 * wolfSSL is given our own I/O callbacks, so it never touches a socket: the caller hands it the
 * ciphertext an io_uring receive brought in (rc_tls_feed) and tells it where the ciphertext it
 * produces goes (rc_tls_set_out); the caller sends those bytes with its own io_uring sends. So a
 * TLS connection has the same shape as a plain one: one receive armed, one send in flight, the
 * same deadlines, and nothing here ever blocks or makes a syscall.
 *
 *     ciphertext in  --rc_tls_feed-->  [wolfSSL]  --rc_tls_handshake / rc_tls_read-->  plaintext
 *     plaintext      --rc_tls_write-->  [wolfSSL]  --send callback-->  the out buffer (ciphertext)
 *
 * Handshake records, session tickets and alerts go to the out buffer too, whenever wolfSSL makes
 * them: the caller sends whatever is there after each call.
 *
 * Output room. The send callback takes a record whole or not at all. The caller keeps the out
 * buffer large enough for what it asks: a plaintext of n bytes becomes at most rc_tls_sealed_max(n)
 * bytes of ciphertext, and a handshake flight (certificate chain included) must fit
 * RC_TLS_FLIGHT_MAX. If the out buffer is full wolfSSL keeps the rest and the call reports
 * RC_TLS_AGAIN; the same call made again once the buffer has room goes on (rc_tls_want_out).
 *
 * Contexts. An rc_tls_ctx holds a certificate and key, loaded and checked (rc_tls_ctx_new): the
 * files exist and parse, the key matches the certificate, the certificate is not expired. A worker
 * owns its context; a reload makes a new one and frees the old, which lives on until its last
 * session ends (wolfSSL counts references). Session tickets are sealed with keys derived from one
 * secret shared by every context of the process (rc_tls_tickets), so a client that resumes on
 * another worker, or after a reload, resumes; the key changes every ticket lifetime, and a ticket
 * is accepted for two lifetimes.
 *
 * Threads: a context and its sessions belong to one worker's thread; rc_tls_tickets is read-only
 * after rc_tls_tickets_init and shared.
 */
#ifndef RC_TLS_H
#define RC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Ciphertext of one record beyond its plaintext, for the AEAD suites rc_tls allows: TLS 1.3 adds
 * a 5-byte header, the content type and a 16-byte tag (22); TLS 1.2 AES-GCM a header, an 8-byte
 * explicit nonce and the tag (29). */
#define RC_TLS_RECORD_OVERHEAD 32u
#define RC_TLS_RECORD_MAX 16384u /* plaintext bytes per record */
/* The largest handshake flight the server sends in one go: ServerHello to Finished with the
 * certificate chain. A chain that makes it larger is refused at load. */
#define RC_TLS_FLIGHT_MAX 32768u

/* Ticket keys: one secret per process, a key per lifetime derived from it. */
typedef struct rc_tls_tickets {
	uint8_t secret[32];
	uint32_t lifetime_s; /* a key is used for this long, accepted for twice as long */
} rc_tls_tickets;

/* A random secret from getrandom(2). Returns 0 or -errno. */
int rc_tls_tickets_init(rc_tls_tickets *t, uint32_t lifetime_s);

enum rc_tls_version {
	RC_TLS_1_2 = 12,
	RC_TLS_1_3 = 13,
};

typedef struct rc_tls_ctx rc_tls_ctx;

typedef struct rc_tls_ctx_cfg {
	const char *cert_file; /* PEM: the leaf, then its chain */
	const char *key_file;  /* PEM: RSA or ECDSA */
	enum rc_tls_version min_version;
	rc_tls_tickets *tickets; /* NULL: no session tickets (read only, shared) */
	time_t now;              /* the expiry check's "now" (time(NULL) but in tests) */
} rc_tls_ctx_cfg;

/* Load and check a certificate and key. Returns the context, or NULL with one line in err saying
 * which file and what is wrong. *expires_in_s is set to the certificate's remaining life
 * (callers warn below 14 days). */
rc_tls_ctx *rc_tls_ctx_new(const rc_tls_ctx_cfg *cfg, int64_t *expires_in_s, char *err,
                           size_t errlen);

/* Drop the caller's reference: the context goes once its last session is freed. */
void rc_tls_ctx_free(rc_tls_ctx *ctx);

/* Free what wolfSSL keeps per thread (its ECC fixed-point cache): each thread that used a context
 * calls it before it ends. */
void rc_tls_thread_done(void);

/* ---- sessions -------------------------------------------------------------------------------- */

enum rc_tls_status {
	RC_TLS_OK = 0,      /* done */
	RC_TLS_AGAIN = -1,  /* needs more ciphertext in, or room in the out buffer */
	RC_TLS_CLOSED = -2, /* the peer sent close_notify */
	RC_TLS_FAIL = -3,   /* a fatal error: an alert may be in the out buffer; rc_tls_error says */
};

typedef struct rc_tls rc_tls;

/* A server session of ctx, or NULL if out of memory. */
rc_tls *rc_tls_new(rc_tls_ctx *ctx);
void rc_tls_free(rc_tls *t);

/* Ciphertext for the next calls to read. wolfSSL takes what it needs, copying partial records into
 * its own buffer, so by the time a call returns RC_TLS_AGAIN for input every byte has been taken
 * and the caller may reuse its buffer. */
void rc_tls_feed(rc_tls *t, const uint8_t *cipher, size_t len);

/* Bytes fed and not yet taken by wolfSSL. */
size_t rc_tls_unread(const rc_tls *t);

/* Where ciphertext goes: len bytes of buf[0..cap) are already used. Returns nothing; after each
 * call below, rc_tls_out_len says how far the buffer is filled. buf NULL: no room at all. */
void rc_tls_set_out(rc_tls *t, uint8_t *buf, size_t len, size_t cap);
size_t rc_tls_out_len(const rc_tls *t);

/* Does wolfSSL hold output that did not fit? (then the call that made it must be repeated once
 * the out buffer has room) */
bool rc_tls_want_out(const rc_tls *t);

/* Go on with the handshake: RC_TLS_OK once it is complete, RC_TLS_AGAIN, RC_TLS_FAIL. */
int rc_tls_handshake(rc_tls *t);
bool rc_tls_established(const rc_tls *t);

/* Decrypted bytes into dst[0..cap): how many (> 0), or RC_TLS_AGAIN (nothing buffered and no
 * complete record fed), RC_TLS_CLOSED, RC_TLS_FAIL. */
ssize_t rc_tls_read(rc_tls *t, uint8_t *dst, size_t cap);

/* Encrypt len bytes into the out buffer, as few records as the length needs. The out buffer must
 * have rc_tls_sealed_max(len) bytes free. Returns RC_TLS_OK, or RC_TLS_FAIL. */
int rc_tls_write(rc_tls *t, const uint8_t *src, size_t len);

/* The most ciphertext that len bytes of plaintext become. */
static inline size_t rc_tls_sealed_max(size_t len)
{
	return len + (len / RC_TLS_RECORD_MAX + 1) * RC_TLS_RECORD_OVERHEAD;
}

/* Send close_notify (into the out buffer). */
void rc_tls_close(rc_tls *t);

/* What went wrong, after RC_TLS_FAIL: a short phrase for a log line. */
const char *rc_tls_error(const rc_tls *t);

/* After the handshake: the version ("TLSv1.3"), cipher suite, and whether it resumed a session. */
const char *rc_tls_version_name(rc_tls *t);
const char *rc_tls_cipher_name(rc_tls *t);
bool rc_tls_resumed(rc_tls *t);

/* ---- for other wolfSSL users (the load generator's client) ------------------------------------ */

/* The words of one of wolfSSL's error codes ("unknown error" if it has none). */
const char *rc_tls_reason(int code);

/* The body of a wolfSSL receive callback over ciphertext fed from memory: moves up to sz bytes of
 * [*in, *in + *in_len) into buf and returns how many, or WOLFSSL_CBIO_ERR_WANT_READ if none is
 * left. */
int rc_tls_take_fed(const uint8_t **in, size_t *in_len, char *buf, int sz);

/* wolfSSL_Init, once per process (call it before starting threads). False if it failed. */
bool rc_tls_client_init(void);

/* Is host a literal IPv4 or IPv6 address (an IPv6 zone after '%' ignored)? A client checks such a
 * host against the certificate's addresses and sends no SNI for it. */
bool rc_tls_is_address(const char *host);

/* What a client session says of itself, for host: SNI (a name, not an address), ALPN
 * "http/1.1" (a server that knows none goes on), and with verify, the name or address the
 * certificate must carry. ssl is the session's WOLFSSL. False if wolfSSL refused one of them. */
struct WOLFSSL;
bool rc_tls_client_names(struct WOLFSSL *ssl, const char *host, bool verify);

#endif
