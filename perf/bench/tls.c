/* tls: the bench's TLS client over its own buffers (tls.h). */
#define _GNU_SOURCE
#include "tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "rc_tls.h"
#include "sys.h"

/* AEAD suites only, as the server offers them (net/rc_tls.c), so that a record's overhead is
 * bounded (TLS_RECORD_OVERHEAD). AES-GCM first, as most clients ask. */
static const char CIPHERS[] = "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
                              "TLS13-CHACHA20-POLY1305-SHA256:"
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";


struct tls_ctx {
	WOLFSSL_CTX *ssl_ctx;
	bool verify;
	bool ip;        /* the host is an address literal: checked as such, no SNI */
	char host[256]; /* the URL's host */
};

struct tls_ticket {
	WOLFSSL_SESSION *sess;
};

struct tls {
	WOLFSSL *ssl;
	struct tls_counts *cnt;
	const uint8_t *in; /* fed ciphertext not yet taken */
	size_t in_len;
	uint8_t *out; /* [off, len): made, not yet sent */
	size_t out_off, out_len, out_cap;
	bool established;
	bool writing; /* in tls_write: the send callback counts application records */
	int err;      /* wolfSSL's error after TLS_FAIL */
};

/* ---- the I/O callbacks ----------------------------------------------------------------------- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct tls *t = ctx;
	return rc_tls_take_fed(&t->in, &t->in_len, buf, sz);
}

/* A record goes whole into the out buffer, or waits in wolfSSL (then the call fails: the callers
 * keep the room, tls.h). */
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct tls *t = ctx;
	if ((size_t)sz > t->out_cap - t->out_len)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(t->out + t->out_len, buf, (size_t)sz);
	t->out_len += (size_t)sz;
	if (t->writing)
		t->cnt->records++;
	return sz;
}

/* ---- the context ----------------------------------------------------------------------------- */

static WOLFSSL_METHOD *method_of(unsigned version)
{
	return version == 12   ? wolfTLSv1_2_client_method()
	       : version == 13 ? wolfTLSv1_3_client_method()
	                       : wolfSSLv23_client_method();
}

static bool configure(struct tls_ctx *ctx, const struct tls_cfg *cfg, char *err, size_t errlen)
{
	WOLFSSL_CTX *c = ctx->ssl_ctx;
	if (wolfSSL_CTX_set_cipher_list(c, CIPHERS) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "TLS: wolfSSL refused the cipher list");
		return false;
	}
	if (cfg->ca_file != NULL) {
		int r = wolfSSL_CTX_load_verify_locations(c, cfg->ca_file, NULL);
		if (r != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "--tls-ca %s: cannot load it as PEM certificates (%s)",
			         cfg->ca_file, rc_tls_reason(r));
			return false;
		}
		wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_PEER, NULL);
	} else {
		wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, NULL);
	}
	wolfSSL_CTX_SetIORecv(c, io_recv);
	wolfSSL_CTX_SetIOSend(c, io_send);
	/* Sessions are resumed from the tickets the engines keep, not from wolfSSL's global cache
	 * (a lock shared by the threads, and memory that grows with connections). */
	wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_NO_INTERNAL);
	if (cfg->resume && wolfSSL_CTX_UseSessionTicket(c) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "--tls-resume: wolfSSL refused session tickets");
		return false;
	}
	return true;
}

struct tls_ctx *tls_ctx_new(const struct tls_cfg *cfg, char *err, size_t errlen)
{
	if (!rc_tls_client_init()) {
		snprintf(err, errlen, "TLS: wolfSSL_Init failed");
		return NULL;
	}
	struct tls_ctx *ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL || (ctx->ssl_ctx = wolfSSL_CTX_new(method_of(cfg->version))) == NULL) {
		free(ctx);
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	ctx->verify = cfg->ca_file != NULL;
	ctx->ip = rc_tls_is_address(cfg->host);
	snprintf(ctx->host, sizeof ctx->host, "%s", cfg->host);
	if (!configure(ctx, cfg, err, errlen)) {
		tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	wolfSSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

const char *tls_ctx_sni(const struct tls_ctx *ctx)
{
	return ctx->ip ? NULL : ctx->host;
}

void tls_thread_done(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}

/* ---- tickets --------------------------------------------------------------------------------- */

void tls_ticket_keep(struct tls_ticket **slot, struct tls *t)
{
	WOLFSSL_SESSION *s = wolfSSL_get_session(t->ssl);
	if (s == NULL || wolfSSL_SESSION_has_ticket(s) != 1)
		return;
	if (*slot == NULL && (*slot = calloc(1, sizeof **slot)) == NULL)
		return;
	WOLFSSL_SESSION *k = wolfSSL_get1_session(t->ssl);
	if (k == NULL)
		return;
	if ((*slot)->sess != NULL)
		wolfSSL_SESSION_free((*slot)->sess);
	(*slot)->sess = k;
}

void tls_ticket_free(struct tls_ticket *k)
{
	if (k == NULL)
		return;
	if (k->sess != NULL)
		wolfSSL_SESSION_free(k->sess);
	free(k);
}

/* ---- sessions -------------------------------------------------------------------------------- */

/* What a session says of itself: SNI and ALPN, the name to check, the ticket to resume. */
static bool session_setup(struct tls *t, const struct tls_ctx *ctx, const struct tls_ticket *k)
{
	if (!rc_tls_client_names(t->ssl, ctx->host, ctx->verify))
		return false;
	if (k != NULL && k->sess != NULL)
		(void)wolfSSL_set_session(t->ssl, k->sess); /* a stale ticket: a full handshake */
	return true;
}

struct tls *tls_new(struct tls_ctx *ctx, size_t out_cap, const struct tls_ticket *resume,
                    struct tls_counts *cnt)
{
	struct tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->out = malloc(out_cap);
	t->ssl = t->out != NULL ? wolfSSL_new(ctx->ssl_ctx) : NULL;
	if (t->ssl == NULL) {
		free(t->out);
		free(t);
		return NULL;
	}
	t->out_cap = out_cap;
	t->cnt = cnt;
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	if (!session_setup(t, ctx, resume)) {
		tls_free(t);
		return NULL;
	}
	return t;
}

void tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	wolfSSL_free(t->ssl);
	free(t->out);
	free(t);
}

void tls_feed(struct tls *t, const uint8_t *cipher, size_t len)
{
	t->in = cipher;
	t->in_len = len;
}

void tls_feed_drop(struct tls *t)
{
	t->in = NULL;
	t->in_len = 0;
}

/* This thread's CPU time (ns). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* A call's timing (stats.h, struct tls_counts): a handshake's by the CPU clock, the others by
 * the wall clock within the thread's turn. */
struct timing {
	uint64_t wall0, cpu0;
};

static struct timing timing_start(struct tls *t, enum tls_call k)
{
	struct tls_counts *c = t->cnt;
	struct timing tm = { 0 };
	if (!c->turn_open) {
		c->turn_open = true;
		c->turn_cpu0 = thread_cpu_ns();
		c->turn_wall0 = mono_ns();
	}
	if (k == TLS_CALL_HANDSHAKE)
		tm.cpu0 = thread_cpu_ns();
	tm.wall0 = mono_ns();
	return tm;
}

static void timing_end(struct tls *t, enum tls_call k, const struct timing *tm)
{
	struct tls_counts *c = t->cnt;
	uint64_t wall = mono_ns() - tm->wall0;
	int in = tm->wall0 >= c->from_ns && tm->wall0 < c->to_ns;
	c->calls[k]++;
	c->wall[0][k] += wall;
	c->wall[1][k] += in ? wall : 0;
	if (k == TLS_CALL_HANDSHAKE) {
		uint64_t cpu = thread_cpu_ns() - tm->cpu0;
		c->ns[0][k] += cpu;
		c->ns[1][k] += in ? cpu : 0;
		return;
	}
	c->turn_ns[0][k] += wall;
	c->turn_ns[1][k] += in ? wall : 0;
}

void tls_turn_end(struct tls_counts *c)
{
	if (!c->turn_open)
		return;
	c->turn_open = false;
	uint64_t wall = mono_ns() - c->turn_wall0, cpu = thread_cpu_ns() - c->turn_cpu0;
	/* The share of the turn on a CPU; the clock's own cost makes it look a little higher than
	 * it is, and it cannot be above 1. */
	double on = wall > 0 && cpu < wall ? (double)cpu / (double)wall : 1.0;
	for (int in = 0; in < 2; in++)
		for (int k = 0; k < TLS_CALLS; k++) {
			c->ns[in][k] += (uint64_t)((double)c->turn_ns[in][k] * on);
			c->turn_ns[in][k] = 0;
		}
}

/* A wolfSSL call returned r (<= 0): what it means. A failure's words are kept once. */
static int status(struct tls *t, int r)
{
	int e = wolfSSL_get_error(t->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return TLS_AGAIN;
	if (e == WOLFSSL_ERROR_ZERO_RETURN)
		return TLS_CLOSED;
	t->err = e;
	if (t->cnt->first_error[0] == 0)
		snprintf(t->cnt->first_error, sizeof t->cnt->first_error, "%s (%d)", rc_tls_reason(e), e);
	return TLS_FAIL;
}

/* The session's version, cipher and protocol into the counts: one name, or "mixed". */
static void note(char *to, size_t cap, const char *s)
{
	if (s == NULL)
		s = "";
	if (to[0] == 0)
		snprintf(to, cap, "%s", s[0] ? s : "-");
	else if (strcmp(to, s[0] ? s : "-") != 0)
		snprintf(to, cap, "mixed");
}

static void established(struct tls *t)
{
	struct tls_counts *c = t->cnt;
	t->established = true;
	c->handshakes++;
	if (wolfSSL_session_reused(t->ssl) == 1)
		c->resumed++;
	note(c->version, sizeof c->version, wolfSSL_get_version(t->ssl));
	note(c->cipher, sizeof c->cipher, wolfSSL_get_cipher_name(t->ssl));
	char *p = NULL;
	unsigned short n = 0;
	char alpn[16] = "";
	if (wolfSSL_ALPN_GetProtocol(t->ssl, &p, &n) == WOLFSSL_SUCCESS && p != NULL && n < sizeof alpn)
		memcpy(alpn, p, n);
	note(c->alpn, sizeof c->alpn, alpn);
}

int tls_handshake(struct tls *t)
{
	if (t->established)
		return TLS_OK;
	struct timing tm = timing_start(t, TLS_CALL_HANDSHAKE);
	int r = wolfSSL_connect(t->ssl);
	timing_end(t, TLS_CALL_HANDSHAKE, &tm);
	if (r != WOLFSSL_SUCCESS)
		return status(t, r);
	established(t);
	return TLS_OK;
}

bool tls_established(const struct tls *t)
{
	return t->established;
}

ssize_t tls_read(struct tls *t, uint8_t *dst, size_t cap)
{
	struct timing tm = timing_start(t, TLS_CALL_READ);
	int n = wolfSSL_read(t->ssl, dst, cap > INT_MAX ? INT_MAX : (int)cap);
	timing_end(t, TLS_CALL_READ, &tm);
	if (n > 0) {
		t->cnt->plain_in += (uint64_t)n;
		return n;
	}
	return status(t, n);
}

int tls_write(struct tls *t, const uint8_t *src, size_t len)
{
	if (len == 0)
		return TLS_OK;
	if (len > INT_MAX || tls_sealed_max(len) > t->out_cap - t->out_len) {
		t->err = BUFFER_E;
		snprintf(t->cnt->first_error, sizeof t->cnt->first_error, "no room to encrypt %zu bytes",
		         len);
		return TLS_FAIL;
	}
	t->writing = true;
	struct timing tm = timing_start(t, TLS_CALL_WRITE);
	int n = wolfSSL_write(t->ssl, src, (int)len);
	timing_end(t, TLS_CALL_WRITE, &tm);
	t->writing = false;
	t->cnt->writes++;
	if (n == (int)len) {
		t->cnt->plain_out += len;
		return TLS_OK;
	}
	/* a short write or a wait cannot happen with the room checked above: fatal */
	if (n > 0 || status(t, n) != TLS_FAIL)
		t->err = BUFFER_E;
	return TLS_FAIL;
}

void tls_close(struct tls *t)
{
	struct timing tm = timing_start(t, TLS_CALL_WRITE);
	(void)wolfSSL_shutdown(t->ssl);
	timing_end(t, TLS_CALL_WRITE, &tm);
}

size_t tls_out(const struct tls *t, const uint8_t **p)
{
	*p = t->out + t->out_off;
	return t->out_len - t->out_off;
}

void tls_out_sent(struct tls *t, size_t n)
{
	t->out_off += n;
	if (t->out_off >= t->out_len)
		t->out_off = t->out_len = 0;
}

const char *tls_error_kind(const struct tls *t)
{
	switch (t->err) {
	case ASN_NO_SIGNER_E:
	case ASN_SELF_SIGNED_E:
	case ASN_SIG_CONFIRM_E:
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
	case VERIFY_CERT_ERROR:
		return "tls_verify";
	case FATAL_ERROR:
		return "tls_alert"; /* the server sent a fatal alert */
	case VERSION_ERROR:
		return "tls_version";
	case MATCH_SUITE_ERROR:
	case UNSUPPORTED_SUITE:
		return "tls_cipher";
	case BUFFER_E:
		return "tls_no_room";
	default:
		return "tls_error";
	}
}
