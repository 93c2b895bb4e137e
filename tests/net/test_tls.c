/* rc_tls: server sessions against a real wolfSSL client, in memory.
 *
 * The client is a plain wolfSSL client whose I/O callbacks read and write two byte pipes; the
 * server is an rc_tls session fed from one pipe and writing into the other through
 * rc_tls_set_out, as the worker does with its receive buffers and send chunks. Certificates come
 * from tools/gen-cert.sh (the openssl command), made once per test into a fresh directory.
 *
 * Covered: start-up refusals (missing files, not PEM, a key of another certificate, expired, the
 * expiry reported), handshakes at TLS 1.3 and 1.2 with ALPN, data both ways at every size up to
 * several records with the sealed length bound checked, ciphertext fed one byte at a time (every
 * split point of the handshake and of records), an out buffer too small for a flight (the call
 * waits, then goes on), resumption by ticket on another context sharing the ticket secret (another
 * worker) and not on one without it, garbage instead of a ClientHello, a record over the
 * maximum, close_notify.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "rc_tls.h"

#ifndef RC_SOURCE_DIR
#error "RC_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

#define PIPE_CAP (1u << 20)

/* ---- certificates ---------------------------------------------------------------------------- */

static char dir[64];

/* A fresh directory with a pair made by tools/gen-cert.sh in dir/NAME/{cert,key}.pem. */
static void make_pair(const char *name, const char *args)
{
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/rc-test-tls-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	char cmd[512];
	snprintf(cmd, sizeof cmd, "sh %s/tools/gen-cert.sh %s/%s %s >/dev/null", RC_SOURCE_DIR, dir,
	         name, args);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static const char *path(const char *name, const char *file)
{
	static char p[32][128]; /* enough for every path in one array initializer */
	static int k;
	k = (k + 1) % 32;
	snprintf(p[k], sizeof p[k], "%s/%s/%s", dir, name, file);
	return p[k];
}

static void cleanup(void)
{
	if (dir[0] != '\0') {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)system(cmd);
	}
}

static rc_tls_tickets tickets;

static rc_tls_ctx *server_ctx(const char *name, enum rc_tls_version min, rc_tls_tickets *tk)
{
	char err[256] = "";
	int64_t left = 0;
	rc_tls_ctx_cfg cfg = { .cert_file = path(name, "cert.pem"),
		                   .key_file = path(name, "key.pem"),
		                   .min_version = min,
		                   .tickets = tk,
		                   .now = time(NULL) };
	rc_tls_ctx *c = rc_tls_ctx_new(&cfg, &left, err, sizeof err);
	cr_assert_not_null(c, "%s", err);
	return c;
}

/* ---- the client and the pipes ---------------------------------------------------------------- */

typedef struct pipe_ {
	uint8_t *b;
	size_t len, off;
} pipe_;

typedef struct peer {
	WOLFSSL_CTX *cctx;
	WOLFSSL *cl;
	rc_tls *sv;
	pipe_ to_server, to_client;
	uint8_t *out; /* the server's out buffer */
	size_t out_cap;
	size_t feed_step; /* ciphertext per rc_tls_feed: SIZE_MAX = all at once */
} peer;

static int cl_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	pipe_ *p = &((peer *)ctx)->to_client;
	if (p->off == p->len)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = (size_t)sz < p->len - p->off ? (size_t)sz : p->len - p->off;
	memcpy(buf, p->b + p->off, n);
	p->off += n;
	return (int)n;
}

static int cl_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	pipe_ *p = &((peer *)ctx)->to_server;
	cr_assert_leq(p->len + (size_t)sz, PIPE_CAP);
	memcpy(p->b + p->len, buf, (size_t)sz);
	p->len += (size_t)sz;
	return sz;
}

static void peer_init(peer *p, rc_tls_ctx *sctx, int client_version, WOLFSSL_SESSION *resume)
{
	memset(p, 0, sizeof *p);
	p->to_server.b = malloc(PIPE_CAP);
	p->to_client.b = malloc(PIPE_CAP);
	p->out_cap = 65536;
	p->out = malloc(p->out_cap);
	p->feed_step = SIZE_MAX;
	WOLFSSL_METHOD *m = client_version == 12   ? wolfTLSv1_2_client_method()
	                    : client_version == 13 ? wolfTLSv1_3_client_method()
	                                           : wolfSSLv23_client_method();
	p->cctx = wolfSSL_CTX_new(m);
	cr_assert_not_null(p->cctx);
	wolfSSL_CTX_set_verify(p->cctx, WOLFSSL_VERIFY_NONE, NULL);
	wolfSSL_CTX_SetIORecv(p->cctx, cl_recv);
	wolfSSL_CTX_SetIOSend(p->cctx, cl_send);
	p->cl = wolfSSL_new(p->cctx);
	wolfSSL_SetIOReadCtx(p->cl, p);
	wolfSSL_SetIOWriteCtx(p->cl, p);
	char alpn[] = "h2,http/1.1";
	cr_assert_eq(wolfSSL_UseALPN(p->cl, alpn, sizeof alpn - 1, WOLFSSL_ALPN_FAILED_ON_MISMATCH),
	             WOLFSSL_SUCCESS);
	wolfSSL_UseSessionTicket(p->cl);
	if (resume != NULL)
		cr_assert_eq(wolfSSL_set_session(p->cl, resume), WOLFSSL_SUCCESS);
	p->sv = rc_tls_new(sctx);
	cr_assert_not_null(p->sv);
}

static void peer_fini(peer *p)
{
	rc_tls_free(p->sv);
	wolfSSL_free(p->cl);
	wolfSSL_CTX_free(p->cctx);
	free(p->to_server.b);
	free(p->to_client.b);
	free(p->out);
}

/* The server takes what the client wrote, feed_step bytes at a time, calling step after each
 * feed; its output goes to the client. Returns the last status of step. */
static int server_pump(peer *p, int (*step)(peer *))
{
	pipe_ *in = &p->to_server;
	int r = RC_TLS_AGAIN;
	do {
		size_t n = in->len - in->off;
		if (n > p->feed_step)
			n = p->feed_step;
		rc_tls_feed(p->sv, in->b + in->off, n);
		rc_tls_set_out(p->sv, p->out, 0, p->out_cap);
		r = step(p);
		cr_assert_eq(rc_tls_unread(p->sv) == 0 || r != RC_TLS_AGAIN, true,
		             "AGAIN with %zu bytes fed and not taken", rc_tls_unread(p->sv));
		in->off += n - rc_tls_unread(p->sv);
		size_t out = rc_tls_out_len(p->sv);
		cr_assert_leq(p->to_client.len + out, PIPE_CAP);
		memcpy(p->to_client.b + p->to_client.len, p->out, out);
		p->to_client.len += out;
	} while (r == RC_TLS_AGAIN && in->off < in->len);
	return r;
}

static int step_handshake(peer *p)
{
	return rc_tls_handshake(p->sv);
}

/* Both sides to the end of the handshake. */
static void handshake(peer *p)
{
	int c = WOLFSSL_FATAL_ERROR, s = RC_TLS_AGAIN;
	for (int round = 0; round < 20 && (c != WOLFSSL_SUCCESS || s != RC_TLS_OK); round++) {
		if (c != WOLFSSL_SUCCESS) {
			c = wolfSSL_connect(p->cl);
			int e = wolfSSL_get_error(p->cl, c);
			cr_assert(c == WOLFSSL_SUCCESS || e == WOLFSSL_ERROR_WANT_READ, "client: error %d", e);
		}
		if (s != RC_TLS_OK) {
			s = server_pump(p, step_handshake);
			cr_assert(s == RC_TLS_OK || s == RC_TLS_AGAIN, "server: %s", rc_tls_error(p->sv));
		}
	}
	cr_assert_eq(c, WOLFSSL_SUCCESS);
	cr_assert_eq(s, RC_TLS_OK);
	cr_assert(rc_tls_established(p->sv));
	char *proto = NULL;
	unsigned short plen = 0;
	cr_assert_eq(wolfSSL_ALPN_GetProtocol(p->cl, &proto, &plen), WOLFSSL_SUCCESS);
	cr_assert(plen == 8 && memcmp(proto, "http/1.1", 8) == 0, "ALPN: %.*s", plen, proto);
}

static uint8_t got[PIPE_CAP];
static size_t got_len;

static int step_read(peer *p)
{
	for (;;) {
		ssize_t n = rc_tls_read(p->sv, got + got_len, sizeof got - got_len);
		if (n <= 0)
			return (int)n;
		got_len += (size_t)n;
	}
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 31u + seed);
	return b;
}

/* len bytes from the client to the server and back. */
static void round_trip(peer *p, size_t len)
{
	uint8_t *src = pattern(len, (unsigned)len);
	cr_assert_eq(wolfSSL_write(p->cl, src, (int)len), (int)len);
	got_len = 0;
	cr_assert_eq(server_pump(p, step_read), RC_TLS_AGAIN);
	cr_assert_eq(got_len, len);
	cr_assert(memcmp(got, src, len) == 0);

	rc_tls_set_out(p->sv, p->out, 0, p->out_cap);
	cr_assert_eq(rc_tls_write(p->sv, src, len), RC_TLS_OK, "%s", rc_tls_error(p->sv));
	size_t out = rc_tls_out_len(p->sv);
	cr_assert_leq(out, rc_tls_sealed_max(len), "%zu plaintext bytes sealed into %zu", len, out);
	memcpy(p->to_client.b + p->to_client.len, p->out, out);
	p->to_client.len += out;
	uint8_t *back = malloc(len + 1);
	size_t have = 0;
	while (have < len) {
		int n = wolfSSL_read(p->cl, back + have, (int)(len - have));
		cr_assert_gt(n, 0, "client read: error %d", wolfSSL_get_error(p->cl, n));
		have += (size_t)n;
	}
	cr_assert(memcmp(back, src, len) == 0);
	free(back);
	free(src);
}

/* ---- tests ----------------------------------------------------------------------------------- */

TestSuite(tls, .fini = cleanup);

Test(tls, refuses_bad_files_with_one_line)
{
	make_pair("a", "");
	make_pair("b", "--rsa");
	char junk[128];
	snprintf(junk, sizeof junk, "%s/junk.pem", dir);
	FILE *f = fopen(junk, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	struct {
		const char *cert, *key, *says;
		time_t now;
	} cases[] = {
		{ path("a", "none.pem"), path("a", "key.pem"), "No such file", 0 },
		{ path("a", "cert.pem"), path("a", "none.pem"), "tls-key", 0 },
		{ junk, path("a", "key.pem"), "no PEM certificate", 0 },
		{ path("a", "cert.pem"), junk, "cannot load the private key", 0 },
		{ path("a", "cert.pem"), path("b", "key.pem"), "does not match", 0 },
		{ path("b", "cert.pem"), path("a", "key.pem"), "does not match", 0 },
		{ path("a", "cert.pem"), path("a", "key.pem"), "expired", 31 * 86400 },
		{ dir, path("a", "key.pem"), "not a regular file", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		int64_t left = 0;
		rc_tls_ctx_cfg cfg = { .cert_file = cases[i].cert,
			                   .key_file = cases[i].key,
			                   .min_version = RC_TLS_1_2,
			                   .now = time(NULL) + cases[i].now };
		cr_assert_null(rc_tls_ctx_new(&cfg, &left, err, sizeof err), "case %zu", i);
		cr_assert_not_null(strstr(err, cases[i].says), "case %zu: \"%s\"", i, err);
		cr_assert_null(strchr(err, '\n'), "case %zu: one line", i);
	}
}

Test(tls, reports_the_time_left)
{
	make_pair("a", "--days 10");
	char err[256] = "";
	int64_t left = 0;
	rc_tls_ctx_cfg cfg = { .cert_file = path("a", "cert.pem"),
		                   .key_file = path("a", "key.pem"),
		                   .min_version = RC_TLS_1_2,
		                   .now = time(NULL) };
	rc_tls_ctx *c = rc_tls_ctx_new(&cfg, &left, err, sizeof err);
	cr_assert_not_null(c, "%s", err);
	cr_assert(left > 10 * 86400 - 600 && left <= 10 * 86400, "%lld s left", (long long)left);
	rc_tls_ctx_free(c);
}

static void data_both_ways(const char *pair_args, int client_version, const char *want_version)
{
	make_pair("a", pair_args);
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_2, NULL);
	peer p;
	peer_init(&p, sctx, client_version, NULL);
	handshake(&p);
	cr_assert_str_eq(rc_tls_version_name(p.sv), want_version);
	const size_t sizes[] = { 1, 70, 1000, 16383, 16384, 16385, 40000, 65536 - 4 * 32 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		round_trip(&p, sizes[i]);
	peer_fini(&p);
	rc_tls_ctx_free(sctx);
}

Test(tls, tls13_ecdsa_data_both_ways)
{
	data_both_ways("", 13, "TLSv1.3");
}

Test(tls, tls12_rsa_data_both_ways)
{
	data_both_ways("--rsa", 12, "TLSv1.2");
}

Test(tls, min_version_13_refuses_a_12_client)
{
	make_pair("a", "");
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_3, NULL);
	peer p;
	peer_init(&p, sctx, 12, NULL);
	(void)wolfSSL_connect(p.cl);
	cr_assert_eq(server_pump(&p, step_handshake), RC_TLS_FAIL);
	cr_assert_gt(rc_tls_out_len(p.sv) + p.to_client.len, 0, "an alert goes back");
	peer_fini(&p);
	rc_tls_ctx_free(sctx);
}

/* Every split point: the server is fed one byte at a time through the handshake and a record. */
Test(tls, one_byte_at_a_time)
{
	make_pair("a", "");
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_2, NULL);
	for (int v = 12; v <= 13; v++) {
		peer p;
		peer_init(&p, sctx, v, NULL);
		p.feed_step = 1;
		handshake(&p);
		round_trip(&p, 3000);
		peer_fini(&p);
	}
	rc_tls_ctx_free(sctx);
}

/* An out buffer too small for the server's flight: the handshake waits (want_out), and goes on
 * when given room. */
Test(tls, flight_waits_for_room)
{
	make_pair("a", "--rsa");
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_2, NULL);
	peer p;
	peer_init(&p, sctx, 13, NULL);
	(void)wolfSSL_connect(p.cl);
	rc_tls_feed(p.sv, p.to_server.b, p.to_server.len);
	p.to_server.off = p.to_server.len;
	rc_tls_set_out(p.sv, p.out, 0, 100);
	cr_assert_eq(rc_tls_handshake(p.sv), RC_TLS_AGAIN);
	cr_assert(rc_tls_want_out(p.sv));
	size_t first = rc_tls_out_len(p.sv);
	memcpy(p.to_client.b, p.out, first);
	p.to_client.len = first;
	rc_tls_set_out(p.sv, p.out, 0, p.out_cap);
	cr_assert_eq(rc_tls_handshake(p.sv), RC_TLS_AGAIN); /* now waiting for the client */
	cr_assert(!rc_tls_want_out(p.sv));
	memcpy(p.to_client.b + p.to_client.len, p.out, rc_tls_out_len(p.sv));
	p.to_client.len += rc_tls_out_len(p.sv);
	handshake(&p);
	round_trip(&p, 100);
	peer_fini(&p);
	rc_tls_ctx_free(sctx);
}

/* A ticket from one context resumes on another sharing the ticket secret (another worker, or the
 * context after a reload), and not on one with another secret (a restarted server): that one
 * makes a full handshake. The last case runs at TLS 1.3 only: wolfSSL 5.5.4's own TLS 1.2 client,
 * having offered a ticket, takes the server's Certificate for an out-of-order message although
 * the ServerHello carries a new session ID, which per RFC 5077 3.4 announces a full handshake;
 * the integration tests check that case against OpenSSL's client. */
static void resume_on(int version)
{
	make_pair("a", "");
	cr_assert_eq(rc_tls_tickets_init(&tickets, 3600), 0);
	rc_tls_tickets other;
	cr_assert_eq(rc_tls_tickets_init(&other, 3600), 0);
	rc_tls_ctx *one = server_ctx("a", RC_TLS_1_2, &tickets);
	rc_tls_ctx *two = server_ctx("a", RC_TLS_1_2, &tickets);
	rc_tls_ctx *three = server_ctx("a", RC_TLS_1_2, &other);
	peer p;
	peer_init(&p, one, version, NULL);
	handshake(&p);
	round_trip(&p, 10); /* a TLS 1.3 ticket comes after the handshake: the client reads it here */
	cr_assert(!rc_tls_resumed(p.sv));
	WOLFSSL_SESSION *s = wolfSSL_get1_session(p.cl);
	cr_assert_not_null(s);
	peer_fini(&p);

	peer q;
	peer_init(&q, two, version, s);
	handshake(&q);
	cr_assert(rc_tls_resumed(q.sv), "TLS 1.%d: not resumed on a context with the same secret",
	          version - 10);
	round_trip(&q, 10);
	peer_fini(&q);

	if (version == 13) {
		peer r;
		peer_init(&r, three, version, s);
		handshake(&r);
		cr_assert(!rc_tls_resumed(r.sv), "resumed with a ticket sealed under another secret");
		round_trip(&r, 10);
		peer_fini(&r);
	}

	wolfSSL_SESSION_free(s);
	rc_tls_ctx_free(one);
	rc_tls_ctx_free(two);
	rc_tls_ctx_free(three);
}

Test(tls, resumes_tls13_on_another_context)
{
	resume_on(13);
}

Test(tls, resumes_tls12_on_another_context)
{
	resume_on(12);
}

static void expect_fail(const uint8_t *bytes, size_t len)
{
	make_pair("a", "");
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_2, NULL);
	rc_tls *t = rc_tls_new(sctx);
	uint8_t out[4096];
	rc_tls_feed(t, bytes, len);
	rc_tls_set_out(t, out, 0, sizeof out);
	cr_assert_eq(rc_tls_handshake(t), RC_TLS_FAIL);
	cr_assert_gt(strlen(rc_tls_error(t)), 0);
	rc_tls_free(t);
	rc_tls_ctx_free(sctx);
}

Test(tls, plain_http_fails)
{
	const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	expect_fail((const uint8_t *)req, sizeof req - 1);
}

Test(tls, record_over_the_maximum_fails)
{
	/* a handshake record that says it is 20,000 bytes long */
	uint8_t rec[5 + 64] = { 22, 3, 1, 20000 >> 8, 20000 & 0xff };
	expect_fail(rec, sizeof rec);
}

Test(tls, close_notify_is_closed)
{
	make_pair("a", "");
	rc_tls_ctx *sctx = server_ctx("a", RC_TLS_1_2, NULL);
	peer p;
	peer_init(&p, sctx, 13, NULL);
	handshake(&p);
	(void)wolfSSL_shutdown(p.cl);
	got_len = 0;
	cr_assert_eq(server_pump(&p, step_read), RC_TLS_CLOSED);
	rc_tls_set_out(p.sv, p.out, 0, p.out_cap);
	rc_tls_close(p.sv);
	cr_assert_gt(rc_tls_out_len(p.sv), 0, "our close_notify");
	peer_fini(&p);
	rc_tls_ctx_free(sctx);
}
