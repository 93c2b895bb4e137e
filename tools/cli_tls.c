/* cli_tls: wss:// for ringcast-cli (cli.h): a wolfSSL client doing its I/O on the connection's
 * own non-blocking socket (wolfSSL_set_fd), so that a read or write that cannot go on returns
 * WANT_READ / WANT_WRITE and the caller waits in cli_poll like for a plain socket.
 *
 * Trust, as curl does it: the system's CA certificates by default, --ca FILE instead of them (a
 * private CA, or a self-signed certificate that is its own CA, tools/gen-cert.sh), --insecure to
 * check nothing. The certificate must name the URL's host: its name (sent as SNI too), or its
 * address for an address literal. A certificate that fails the check is a fatal error for the
 * caller: connecting again would meet the same certificate.
 *
 * The server (net/rc_tls.c) speaks TLS 1.2 and 1.3 with AEAD suites; the client offers wolfSSL's
 * defaults from 1.2 up, and ALPN http/1.1 (what a WebSocket upgrade is; a proxy in front may
 * care).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "cli.h"
#include "rc_tls.h" /* rc_tls_reason: wolfSSL's error codes in words */


struct cli_tls_ctx {
	WOLFSSL_CTX *ctx;
	bool verify;
};

struct cli_tls {
	WOLFSSL *ssl;
	int err; /* wolfSSL's error after CLI_TLS_FAIL */
	char words[160];
};

/* What to trust: nothing checked, ca_file alone, or the system's store. */
static bool set_trust(WOLFSSL_CTX *c, const char *ca_file, bool insecure, char *err, size_t errlen)
{
	if (insecure) {
		wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, NULL);
		return true;
	}
	if (ca_file != NULL) {
		int r = wolfSSL_CTX_load_verify_locations(c, ca_file, NULL);
		if (r != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "--ca %s: cannot load it as PEM certificates (%s)", ca_file,
			         rc_tls_reason(r));
			return false;
		}
	} else {
#ifdef WOLFSSL_SYS_CA_CERTS
		if (wolfSSL_CTX_load_system_CA_certs(c) != WOLFSSL_SUCCESS) {
			snprintf(err, errlen,
			         "no CA certificates found on this system (install ca-certificates), so "
			         "no server certificate can be checked: pass --ca FILE, or --insecure");
			return false;
		}
#else
		snprintf(err, errlen,
		         "this wolfSSL cannot read the system's CA certificates: pass --ca FILE, or "
		         "--insecure");
		return false;
#endif
	}
	wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_PEER, NULL);
	return true;
}

struct cli_tls_ctx *cli_tls_ctx_new(const char *ca_file, bool insecure, char *err, size_t errlen)
{
	if (!rc_tls_client_init()) {
		snprintf(err, errlen, "TLS: wolfSSL_Init failed");
		return NULL;
	}
	struct cli_tls_ctx *x = calloc(1, sizeof *x);
	if (x == NULL || (x->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method())) == NULL) {
		free(x);
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	if (wolfSSL_CTX_SetMinVersion(x->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "TLS: wolfSSL refused TLS 1.2 as the oldest version");
		cli_tls_ctx_free(x);
		return NULL;
	}
	if (!set_trust(x->ctx, ca_file, insecure, err, errlen)) {
		cli_tls_ctx_free(x);
		return NULL;
	}
	x->verify = !insecure;
	return x;
}

void cli_tls_ctx_free(struct cli_tls_ctx *x)
{
	if (x == NULL)
		return;
	wolfSSL_CTX_free(x->ctx);
	free(x);
}

struct cli_tls *cli_tls_new(struct cli_tls_ctx *x, int fd, const char *host)
{
	struct cli_tls *t = calloc(1, sizeof *t);
	if (t == NULL || (t->ssl = wolfSSL_new(x->ctx)) == NULL) {
		free(t);
		return NULL;
	}
	bool ok = wolfSSL_set_fd(t->ssl, fd) == WOLFSSL_SUCCESS &&
	          rc_tls_client_names(t->ssl, host, x->verify);
	if (!ok) {
		cli_tls_free(t);
		return NULL;
	}
	return t;
}

void cli_tls_free(struct cli_tls *t)
{
	if (t == NULL)
		return;
	(void)wolfSSL_shutdown(t->ssl); /* close_notify, if the socket takes it; no waiting */
	wolfSSL_free(t->ssl);
	free(t);
}

/* A wolfSSL call returned r (<= 0): WANT_*, 0 for the end of the stream, or FAIL. */
static int status(struct cli_tls *t, int r)
{
	int e = wolfSSL_get_error(t->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ)
		return CLI_TLS_WANT_READ;
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		return CLI_TLS_WANT_WRITE;
	if (e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E)
		return 0;
	t->err = e;
	return CLI_TLS_FAIL;
}

int cli_tls_handshake(struct cli_tls *t)
{
	int r = wolfSSL_connect(t->ssl);
	if (r == WOLFSSL_SUCCESS)
		return 0;
	r = status(t, r);
	if (r == 0) { /* the server hung up in the middle of the handshake */
		t->err = SOCKET_PEER_CLOSED_E;
		return CLI_TLS_FAIL;
	}
	return r;
}

ssize_t cli_tls_read(struct cli_tls *t, uint8_t *buf, size_t cap)
{
	int n = wolfSSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	return n > 0 ? n : status(t, n);
}

ssize_t cli_tls_write(struct cli_tls *t, const uint8_t *p, size_t n)
{
	int r = wolfSSL_write(t->ssl, p, n > (1u << 20) ? (1 << 20) : (int)n);
	if (r > 0)
		return r;
	r = status(t, r);
	if (r == 0) {
		t->err = SOCKET_PEER_CLOSED_E;
		return CLI_TLS_FAIL;
	}
	return r;
}

const char *cli_tls_error(struct cli_tls *t, bool *certificate)
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
		*certificate = true;
		break;
	default:
		*certificate = false;
		break;
	}
	snprintf(t->words, sizeof t->words, "%s (wolfSSL error %d)", rc_tls_reason(t->err), t->err);
	return t->words;
}

const char *cli_tls_version(struct cli_tls *t)
{
	return wolfSSL_get_version(t->ssl);
}
