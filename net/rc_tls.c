/* rc_tls: TLS sessions over caller-owned buffers (rc_tls.h). */
#include "rc_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>

/* AEAD suites only: forward secrecy, no CBC padding oracles, and a bounded record overhead
 * (RC_TLS_RECORD_OVERHEAD). AES-GCM first for TLS 1.3 (the usual client preference, and the fast
 * one where the library uses AES-NI), ChaCha20-Poly1305 for clients without AES hardware. */
static const char CIPHERS[] = "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
                              "TLS13-CHACHA20-POLY1305-SHA256:"
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static const unsigned char ALPN_HTTP11[] = "http/1.1";

struct rc_tls_ctx {
	WOLFSSL_CTX *ssl_ctx;
};

struct rc_tls {
	WOLFSSL *ssl;
	const uint8_t *in; /* fed ciphertext not yet taken */
	size_t in_len;
	uint8_t *out; /* where ciphertext goes */
	size_t out_len, out_cap;
	bool want_out; /* the send callback refused a record for lack of room */
	bool established;
	int err; /* wolfSSL's error code after RC_TLS_FAIL */
};

/* ---- tickets --------------------------------------------------------------------------------- */

/* key_name: this magic, then the key's period number, big-endian. */
static const uint8_t TICKET_MAGIC[8] = { 'r', 'c', 't', 'i', 'c', 'k', 'e', 't' };

int rc_tls_tickets_init(rc_tls_tickets *t, uint32_t lifetime_s)
{
	if (lifetime_s == 0)
		return -EINVAL;
	size_t got = 0;
	while (got < sizeof t->secret) {
		ssize_t n = getrandom(t->secret + got, sizeof t->secret - got, 0);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	t->lifetime_s = lifetime_s;
	return 0;
}

/* The key of period p: HMAC-SHA256(secret, magic || p). */
static int ticket_key(const rc_tls_tickets *t, uint64_t p, uint8_t key[32])
{
	uint8_t msg[16];
	memcpy(msg, TICKET_MAGIC, 8);
	for (int i = 0; i < 8; i++)
		msg[8 + i] = (uint8_t)(p >> (56 - 8 * i));
	Hmac h;
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -1;
	int r = wc_HmacSetKey(&h, WC_SHA256, t->secret, sizeof t->secret);
	if (r == 0)
		r = wc_HmacUpdate(&h, msg, sizeof msg);
	if (r == 0)
		r = wc_HmacFinal(&h, key);
	wc_HmacFree(&h);
	return r == 0 ? 0 : -1;
}

/* wolfSSL's SessionTicketEncCb: seal (enc) or open a ticket in place with ChaCha20-Poly1305 under
 * the key of the current period; the key name carries the period. A ticket of the previous period
 * is accepted and replaced (RET_CREATE); an older or foreign one is refused (a full handshake,
 * not an error). */
static int ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                     int in_len, int *out_len, void *ctx)
{
	(void)ssl;
	const rc_tls_tickets *t = ctx;
	uint64_t now = (uint64_t)time(NULL) / t->lifetime_s, p = now;
	uint8_t key[32];
	int ret = WOLFSSL_TICKET_RET_OK;
	if (in_len < 0)
		return WOLFSSL_TICKET_RET_FATAL;
	if (enc) {
		memcpy(key_name, TICKET_MAGIC, 8);
		for (int i = 0; i < 8; i++)
			key_name[8 + i] = (uint8_t)(p >> (56 - 8 * i));
		if (getrandom(iv, CHACHA20_POLY1305_AEAD_IV_SIZE, 0) != CHACHA20_POLY1305_AEAD_IV_SIZE)
			return WOLFSSL_TICKET_RET_FATAL;
	} else {
		if (memcmp(key_name, TICKET_MAGIC, 8) != 0)
			return WOLFSSL_TICKET_RET_REJECT;
		p = 0;
		for (int i = 0; i < 8; i++)
			p = p << 8 | key_name[8 + i];
		if (p != now && p + 1 != now)
			return WOLFSSL_TICKET_RET_REJECT;
		if (p != now)
			ret = WOLFSSL_TICKET_RET_CREATE;
	}
	if (ticket_key(t, p, key) != 0)
		return WOLFSSL_TICKET_RET_FATAL;
	int r = enc ? wc_ChaCha20Poly1305_Encrypt(key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
	                                          (word32)in_len, ticket, mac)
	            : wc_ChaCha20Poly1305_Decrypt(key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
	                                          (word32)in_len, mac, ticket);
	memset(key, 0, sizeof key);
	if (r != 0)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	*out_len = in_len;
	return ret;
}

/* ---- I/O callbacks --------------------------------------------------------------------------- */

int rc_tls_take_fed(const uint8_t **in, size_t *in_len, char *buf, int sz)
{
	if (*in_len == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = (size_t)sz < *in_len ? (size_t)sz : *in_len;
	memcpy(buf, *in, n);
	*in += n;
	*in_len -= n;
	return (int)n;
}

bool rc_tls_client_init(void)
{
	static bool inited;
	if (!inited)
		inited = wolfSSL_Init() == WOLFSSL_SUCCESS;
	return inited;
}

bool rc_tls_is_address(const char *host)
{
	uint8_t a[16];
	char h[256];
	snprintf(h, sizeof h, "%s", host);
	h[strcspn(h, "%")] = 0; /* an IPv6 zone */
	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

bool rc_tls_client_names(WOLFSSL *ssl, const char *host, bool verify)
{
	static char alpn[] = "http/1.1";
	bool ip = rc_tls_is_address(host);
	if (!ip && wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, host, (unsigned short)strlen(host)) !=
	                   WOLFSSL_SUCCESS)
		return false;
	if (wolfSSL_UseALPN(ssl, alpn, sizeof alpn - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) !=
	    WOLFSSL_SUCCESS)
		return false;
	if (!verify)
		return true;
	int r = ip ? wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(wolfSSL_get0_param(ssl), host)
	           : wolfSSL_check_domain_name(ssl, host);
	return r == WOLFSSL_SUCCESS;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	rc_tls *t = ctx;
	return rc_tls_take_fed(&t->in, &t->in_len, buf, sz);
}

/* A record goes whole into the out buffer, or waits in wolfSSL. */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	rc_tls *t = ctx;
	if (t->out == NULL || (size_t)sz > t->out_cap - t->out_len) {
		t->want_out = true;
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	}
	memcpy(t->out + t->out_len, buf, (size_t)sz);
	t->out_len += (size_t)sz;
	return sz;
}

/* ALPN: http/1.1 when the client offers it; else no ALPN (not a failure: a client that offers
 * only h2 learns from the missing answer). */
static int alpn_select(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == sizeof ALPN_HTTP11 - 1 && memcmp(in + i + 1, ALPN_HTTP11, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return 0; /* SSL_TLSEXT_ERR_OK */
		}
		i += 1 + n;
	}
	return noack_return; /* SSL_TLSEXT_ERR_NOACK */
}

/* ---- contexts -------------------------------------------------------------------------------- */

const char *rc_tls_reason(int code)
{
	const char *s = wolfSSL_ERR_reason_error_string((unsigned long)(code < 0 ? -code : code));
	return s != NULL ? s : "unknown error";
}

/* The file must exist, be readable and be a regular file of sane size. */
static bool check_file(const char *what, const char *path, size_t max, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = path != NULL ? fopen(path, "r") : NULL;
	if (f == NULL) {
		snprintf(err, errlen, "%s %s: %s", what, path != NULL ? path : "(none)",
		         path != NULL ? strerror(errno) : "not given");
		return false;
	}
	bool ok = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max;
	fclose(f);
	if (!ok)
		snprintf(err, errlen, "%s %s: not a regular file of at most %zu bytes", what, path, max);
	return ok;
}

/* The certificate's notAfter, as seconds from now (negative: expired). */
static bool cert_remaining(const char *path, time_t now, int64_t *left, char *err, size_t errlen)
{
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
	struct tm tm;
	bool ok = x != NULL && wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notAfter(x), &tm) == 1;
	if (x != NULL)
		wolfSSL_X509_free(x);
	if (!ok) {
		snprintf(err, errlen, "tls-cert %s: no PEM certificate with a readable expiry date", path);
		return false;
	}
	*left = (int64_t)(timegm(&tm) - now);
	return true;
}

static bool configure(WOLFSSL_CTX *c, const rc_tls_ctx_cfg *cfg, char *err, size_t errlen)
{
	int r = wolfSSL_CTX_use_certificate_chain_file(c, cfg->cert_file);
	if (r != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls-cert %s: cannot load the certificate chain (%s)", cfg->cert_file,
		         rc_tls_reason(r));
		return false;
	}
	r = wolfSSL_CTX_use_PrivateKey_file(c, cfg->key_file, WOLFSSL_FILETYPE_PEM);
	if (r != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls-key %s: cannot load the private key (%s)", cfg->key_file,
		         rc_tls_reason(r));
		return false;
	}
	if (wolfSSL_CTX_check_private_key(c) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls-key %s does not match the certificate in %s", cfg->key_file,
		         cfg->cert_file);
		return false;
	}
	int v = cfg->min_version == RC_TLS_1_3 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
	if (wolfSSL_CTX_SetMinVersion(c, v) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_cipher_list(c, CIPHERS) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "tls: wolfSSL refused the minimum version or the cipher list");
		return false;
	}
	wolfSSL_CTX_SetIORecv(c, io_recv);
	wolfSSL_CTX_SetIOSend(c, io_send);
	wolfSSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
	/* No server-side session cache: resumption is by ticket only, so no memory grows with
	 * clients and no lock is shared by the workers. A full handshake still gets a fresh session
	 * ID, which tells a TLS 1.2 client whose ticket was refused that it is not resuming. */
	wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_NO_INTERNAL);
	if (cfg->tickets != NULL) {
		wolfSSL_CTX_set_TicketEncCb(c, ticket_cb);
		wolfSSL_CTX_set_TicketEncCtx(c, cfg->tickets);
		wolfSSL_CTX_set_TicketHint(c, (int)cfg->tickets->lifetime_s);
	} else {
		wolfSSL_CTX_NoTicketTLSv12(c);
		wolfSSL_CTX_no_ticket_TLSv13(c);
	}
	return true;
}

rc_tls_ctx *rc_tls_ctx_new(const rc_tls_ctx_cfg *cfg, int64_t *expires_in_s, char *err,
                           size_t errlen)
{
	static bool inited;
	if (!inited) {
		if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "tls: wolfSSL_Init failed");
			return NULL;
		}
		inited = true;
	}
	if (!check_file("tls-cert", cfg->cert_file, RC_TLS_FLIGHT_MAX, err, errlen) ||
	    !check_file("tls-key", cfg->key_file, 1u << 16, err, errlen) ||
	    !cert_remaining(cfg->cert_file, cfg->now, expires_in_s, err, errlen))
		return NULL;
	if (*expires_in_s <= 0) {
		snprintf(err, errlen, "tls-cert %s: the certificate expired %lld s ago", cfg->cert_file,
		         (long long)-*expires_in_s);
		return NULL;
	}
	rc_tls_ctx *ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL || (ctx->ssl_ctx = wolfSSL_CTX_new(wolfSSLv23_server_method())) == NULL) {
		free(ctx);
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	if (!configure(ctx->ssl_ctx, cfg, err, errlen)) {
		rc_tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void rc_tls_thread_done(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}

void rc_tls_ctx_free(rc_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	wolfSSL_CTX_free(ctx->ssl_ctx); /* sessions hold references of their own */
	free(ctx);
}

/* ---- sessions -------------------------------------------------------------------------------- */

rc_tls *rc_tls_new(rc_tls_ctx *ctx)
{
	rc_tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->ssl = wolfSSL_new(ctx->ssl_ctx);
	if (t->ssl == NULL) {
		free(t);
		return NULL;
	}
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	return t;
}

void rc_tls_free(rc_tls *t)
{
	if (t == NULL)
		return;
	wolfSSL_free(t->ssl);
	free(t);
}

void rc_tls_feed(rc_tls *t, const uint8_t *cipher, size_t len)
{
	t->in = cipher;
	t->in_len = len;
}

size_t rc_tls_unread(const rc_tls *t)
{
	return t->in_len;
}

void rc_tls_set_out(rc_tls *t, uint8_t *buf, size_t len, size_t cap)
{
	t->out = buf;
	t->out_len = buf != NULL ? len : 0;
	t->out_cap = buf != NULL ? cap : 0;
	t->want_out = false;
}

size_t rc_tls_out_len(const rc_tls *t)
{
	return t->out_len;
}

bool rc_tls_want_out(const rc_tls *t)
{
	return t->want_out;
}

/* A wolfSSL call returned r (<= 0): what it means for us. */
static int status(rc_tls *t, int r)
{
	int e = wolfSSL_get_error(t->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return RC_TLS_AGAIN;
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return RC_TLS_CLOSED;
	t->err = e;
	return RC_TLS_FAIL;
}

int rc_tls_handshake(rc_tls *t)
{
	if (t->established)
		return RC_TLS_OK;
	int r = wolfSSL_accept(t->ssl);
	if (r == WOLFSSL_SUCCESS) {
		t->established = true;
		return RC_TLS_OK;
	}
	return status(t, r);
}

bool rc_tls_established(const rc_tls *t)
{
	return t->established;
}

ssize_t rc_tls_read(rc_tls *t, uint8_t *dst, size_t cap)
{
	int n = wolfSSL_read(t->ssl, dst, cap > INT_MAX ? INT_MAX : (int)cap);
	return n > 0 ? n : status(t, n);
}

int rc_tls_write(rc_tls *t, const uint8_t *src, size_t len)
{
	if (len == 0)
		return RC_TLS_OK;
	if (len > INT_MAX || rc_tls_sealed_max(len) > t->out_cap - t->out_len) {
		t->err = BUFFER_E;
		return RC_TLS_FAIL;
	}
	int n = wolfSSL_write(t->ssl, src, (int)len);
	if (n == (int)len)
		return RC_TLS_OK;
	/* a short write or a wait cannot happen with the room checked above: treated as fatal */
	if (n > 0 || status(t, n) != RC_TLS_FAIL)
		t->err = BUFFER_E;
	return RC_TLS_FAIL;
}

void rc_tls_close(rc_tls *t)
{
	(void)wolfSSL_shutdown(t->ssl);
}

const char *rc_tls_error(const rc_tls *t)
{
	return rc_tls_reason(t->err);
}

const char *rc_tls_version_name(rc_tls *t)
{
	return wolfSSL_get_version(t->ssl);
}

const char *rc_tls_cipher_name(rc_tls *t)
{
	return wolfSSL_get_cipher_name(t->ssl);
}

bool rc_tls_resumed(rc_tls *t)
{
	return wolfSSL_session_reused(t->ssl) == 1;
}
