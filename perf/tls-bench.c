/* tls-bench: what TLS costs a server on this machine, with the wolfSSL this program is linked
 * with (Debian's, or tools/wolfssl-build.sh's with assembly: CMake's RC_WOLFSSL).
 *
 * One thread, no sockets: a server and a client WOLFSSL talk through two memory pipes, wolfSSL's
 * custom I/O callbacks, non-blocking (an empty pipe is WANT_READ). Two measurements:
 *   handshakes  TLS 1.3 full handshakes with an ECDSA P-256 certificate (key share X25519, then
 *               P-256) and with an RSA-2048 certificate (X25519), then handshakes resumed with a
 *               session ticket (ECDSA certificate, X25519). Each side's time is its own
 *               wolfSSL_new, its wolfSSL_accept (or wolfSSL_connect) calls and its wolfSSL_free;
 *               the client's also has the wolfSSL_read that takes the ticket, and its check of the
 *               server's certificate. Printed per side: handshakes per CPU-second, us each.
 *   records     the server sealing application data with wolfSSL_write: plaintexts of 70 B (one
 *               market-data frame), 1 KiB and 16 KiB (a full record), each in one record, with
 *               TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256
 *               (TLS 1.3). Printed: MB/s of plaintext and ns per record. The ciphertext is copied
 *               into the pipe and dropped, as a server copies it into its send buffer.
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID): another process on the same CPU
 * makes a run take longer but hardly changes its figures (caches aside). The certificates and
 * keys are made at start with wolfCrypt, in memory; nothing is read or written.
 *
 * Pin it: taskset -c 1 build/release/perf/tls-bench
 * Options: --seconds S (each measurement, default 1), --cipher aes128|aes256|chacha20 and
 * --size N (1..16384) to measure one of each, --only handshakes|records, --json (one JSON object
 * on stdout; the table is always on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PIPE_BYTES (256 * 1024) /* a handshake flight or one record, with room to spare */
#define RECORD_MAX 16384
#define BATCH 32 /* records between two looks at the clock */

#if defined(WOLFSSL_AESNI) || defined(USE_INTEL_SPEEDUP) || defined(WOLFSSL_SP_X86_64_ASM)
#define BUILD_ASM true
#else
#define BUILD_ASM false
#endif

/* What the wolfSSL headers say was built in. */
static const char *build_desc(void)
{
	static char s[128];
	s[0] = '\0';
#ifdef WOLFSSL_AESNI
	strcat(s, "aesni ");
#endif
#ifdef USE_INTEL_SPEEDUP
	strcat(s, "intel-speedup ");
#endif
#ifdef WOLFSSL_SP_X86_64_ASM
	strcat(s, "sp-x86_64-asm ");
#endif
	if (s[0] == '\0')
		return "no assembly";
	s[strlen(s) - 1] = '\0';
	return s;
}

/* --- clocks -------------------------------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static uint64_t wall_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* --- the pipes: wolfSSL's I/O callbacks ----------------------------------------------------------- */

struct pipe {
	uint8_t *buf;
	size_t len, off; /* bytes [off, len) wait to be read */
};

static int pipe_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct pipe *p = ctx;
	if (sz < 0 || p->len + (size_t)sz > PIPE_BYTES)
		return WOLFSSL_CBIO_ERR_GENERAL;
	memcpy(p->buf + p->len, buf, (size_t)sz);
	p->len += (size_t)sz;
	return sz;
}

static int pipe_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct pipe *p = ctx;
	size_t n = p->len - p->off;
	if (n == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (sz >= 0 && n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, p->buf + p->off, n);
	p->off += n;
	if (p->off == p->len)
		p->off = p->len = 0;
	return (int)n;
}

static void pipe_clear(struct pipe *p)
{
	p->len = p->off = 0;
}

/* --- certificates and contexts --------------------------------------------------------------------- */

enum {
	CERT_ECDSA,
	CERT_RSA,
	CERT_KINDS
};
static const char *const cert_names[] = { "ECDSA P-256", "RSA-2048" };

struct cred {
	uint8_t cert[4096], key[4096];
	int cert_len, key_len;
};

/* The bench: one server context per certificate, a client context trusting each, the pipes. */
struct bench {
	WOLFSSL_CTX *server[CERT_KINDS], *client[CERT_KINDS];
	struct pipe c2s, s2c;
	double seconds;
};

static void fail_wc(const char *what, int r)
{
	fprintf(stderr, "tls-bench: %s failed: %d (%s)\n", what, r, wc_GetErrorString(r));
	exit(1);
}

/* A self-signed CA certificate (the client trusts it as its CA) for the key in *key of type
 * key_type (ECC_TYPE or RSA_TYPE), signed with sig_type, into out->cert. */
static void make_cert(struct cred *out, int key_type, void *key, int sig_type, WC_RNG *rng)
{
	static Cert cert; /* large; static keeps it off the stack */
	int r = wc_InitCert(&cert);
	if (r != 0)
		fail_wc("wc_InitCert", r);
	snprintf(cert.subject.commonName, CTC_NAME_SIZE, "localhost");
	snprintf(cert.subject.org, CTC_NAME_SIZE, "ringcast tls-bench");
	cert.sigType = sig_type;
	cert.isCA = 1;
	cert.daysValid = 30;
	r = wc_MakeCert_ex(&cert, out->cert, sizeof out->cert, key_type, key, rng);
	if (r < 0)
		fail_wc("wc_MakeCert_ex", r);
	r = wc_SignCert_ex(cert.bodySz, cert.sigType, out->cert, sizeof out->cert, key_type, key, rng);
	if (r < 0)
		fail_wc("wc_SignCert_ex", r);
	out->cert_len = r;
}

static void make_ecdsa(struct cred *out, WC_RNG *rng)
{
	ecc_key key;
	int r = wc_ecc_init(&key);
	if (r == 0)
		r = wc_ecc_make_key_ex(rng, 32, &key, ECC_SECP256R1);
	if (r != 0)
		fail_wc("wc_ecc_make_key_ex (P-256)", r);
	out->key_len = wc_EccKeyToDer(&key, out->key, sizeof out->key);
	if (out->key_len < 0)
		fail_wc("wc_EccKeyToDer", out->key_len);
	make_cert(out, ECC_TYPE, &key, CTC_SHA256wECDSA, rng);
	wc_ecc_free(&key);
}

static void make_rsa(struct cred *out, WC_RNG *rng)
{
	RsaKey key;
	int r = wc_InitRsaKey(&key, NULL);
	if (r == 0)
		r = wc_MakeRsaKey(&key, 2048, WC_RSA_EXPONENT, rng);
	if (r != 0)
		fail_wc("wc_MakeRsaKey (2048)", r);
	out->key_len = wc_RsaKeyToDer(&key, out->key, sizeof out->key);
	if (out->key_len < 0)
		fail_wc("wc_RsaKeyToDer", out->key_len);
	make_cert(out, RSA_TYPE, &key, CTC_SHA256wRSA, rng);
	wc_FreeRsaKey(&key);
}

static void fail_ssl(const char *what, WOLFSSL *ssl, int r)
{
	int err = ssl ? wolfSSL_get_error(ssl, r) : r;
	char s[WOLFSSL_MAX_ERROR_SZ];
	wolfSSL_ERR_error_string_n((unsigned long)(err < 0 ? -err : err), s, sizeof s);
	fprintf(stderr, "tls-bench: %s failed: %d (%s)\n", what, err, s);
	exit(1);
}

/* A TLS 1.3 server context with this certificate, as a ringcast worker has: no internal session
 * cache (tickets only), wolfSSL's own ticket keys. */
static WOLFSSL_CTX *server_ctx(const struct cred *cr)
{
	WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	if (c == NULL)
		fail_ssl("wolfSSL_CTX_new (server)", NULL, 0);
	int r = wolfSSL_CTX_use_certificate_buffer(c, cr->cert, cr->cert_len, WOLFSSL_FILETYPE_ASN1);
	if (r != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_CTX_use_certificate_buffer", NULL, r);
	r = wolfSSL_CTX_use_PrivateKey_buffer(c, cr->key, cr->key_len, WOLFSSL_FILETYPE_ASN1);
	if (r != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_CTX_use_PrivateKey_buffer", NULL, r);
	wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_NO_INTERNAL);
	wolfSSL_CTX_SetIORecv(c, pipe_recv);
	wolfSSL_CTX_SetIOSend(c, pipe_send);
	return c;
}

/* A TLS 1.3 client context that checks the server's certificate against this one. */
static WOLFSSL_CTX *client_ctx(const struct cred *cr)
{
	WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (c == NULL)
		fail_ssl("wolfSSL_CTX_new (client)", NULL, 0);
	int r = wolfSSL_CTX_load_verify_buffer(c, cr->cert, cr->cert_len, WOLFSSL_FILETYPE_ASN1);
	if (r != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_CTX_load_verify_buffer", NULL, r);
	wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_OFF);
	wolfSSL_CTX_SetIORecv(c, pipe_recv);
	wolfSSL_CTX_SetIOSend(c, pipe_send);
	return c;
}

static void bench_init(struct bench *b)
{
	WC_RNG rng;
	struct cred *cr = calloc(CERT_KINDS, sizeof *cr);
	b->c2s.buf = malloc(PIPE_BYTES);
	b->s2c.buf = malloc(PIPE_BYTES);
	if (cr == NULL || b->c2s.buf == NULL || b->s2c.buf == NULL) {
		fprintf(stderr, "tls-bench: out of memory\n");
		exit(1);
	}
	int r = wc_InitRng(&rng);
	if (r != 0)
		fail_wc("wc_InitRng", r);
	make_ecdsa(&cr[CERT_ECDSA], &rng);
	make_rsa(&cr[CERT_RSA], &rng);
	wc_FreeRng(&rng);
	for (int k = 0; k < CERT_KINDS; k++) {
		b->server[k] = server_ctx(&cr[k]);
		b->client[k] = client_ctx(&cr[k]);
	}
	free(cr);
}

static void bench_free(struct bench *b)
{
	for (int k = 0; k < CERT_KINDS; k++) {
		wolfSSL_CTX_free(b->server[k]);
		wolfSSL_CTX_free(b->client[k]);
	}
	free(b->c2s.buf);
	free(b->s2c.buf);
}

/* --- one connection ------------------------------------------------------------------------------ */

struct conn {
	WOLFSSL *s, *c;
	uint64_t server_ns, client_ns; /* CPU time each side spent */
};

/* What a connection is asked for: certificate, the client's only key share group, a cipher suite
 * (NULL: wolfSSL's default order), a session to resume (NULL: a full handshake). */
struct conn_cfg {
	int cert;
	int group;
	const char *cipher;
	WOLFSSL_SESSION *resume;
};

static void conn_new(struct bench *b, struct conn *cn, const struct conn_cfg *cfg)
{
	uint64_t t0 = cpu_ns();
	cn->s = wolfSSL_new(b->server[cfg->cert]);
	if (cn->s == NULL)
		fail_ssl("wolfSSL_new (server)", NULL, 0);
	wolfSSL_SetIOReadCtx(cn->s, &b->c2s);
	wolfSSL_SetIOWriteCtx(cn->s, &b->s2c);
	if (cfg->cipher && wolfSSL_set_cipher_list(cn->s, cfg->cipher) != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_set_cipher_list (server)", NULL, 0);
	uint64_t t1 = cpu_ns();
	cn->c = wolfSSL_new(b->client[cfg->cert]);
	if (cn->c == NULL)
		fail_ssl("wolfSSL_new (client)", NULL, 0);
	wolfSSL_SetIOReadCtx(cn->c, &b->s2c);
	wolfSSL_SetIOWriteCtx(cn->c, &b->c2s);
	int group = cfg->group;
	if (wolfSSL_set_groups(cn->c, &group, 1) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseKeyShare(cn->c, (word16)group) != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_set_groups / wolfSSL_UseKeyShare", NULL, 0);
	if (cfg->cipher && wolfSSL_set_cipher_list(cn->c, cfg->cipher) != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_set_cipher_list (client)", NULL, 0);
	if (cfg->resume && wolfSSL_set_session(cn->c, cfg->resume) != WOLFSSL_SUCCESS)
		fail_ssl("wolfSSL_set_session", NULL, 0);
	uint64_t t2 = cpu_ns();
	cn->server_ns = t1 - t0;
	cn->client_ns = t2 - t1;
}

/* One wolfSSL_accept (server) or wolfSSL_connect call, its CPU time added to *ns. Returns true
 * once the handshake is done, false while it waits for the other side. */
static bool hs_step(WOLFSSL *ssl, bool server, uint64_t *ns)
{
	uint64_t t0 = cpu_ns();
	int r = server ? wolfSSL_accept(ssl) : wolfSSL_connect(ssl);
	*ns += cpu_ns() - t0;
	if (r == WOLFSSL_SUCCESS)
		return true;
	int err = wolfSSL_get_error(ssl, r);
	if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE)
		fail_ssl(server ? "wolfSSL_accept" : "wolfSSL_connect", ssl, r);
	return false;
}

/* The handshake, then the client's read that takes the server's ticket (NewSessionTicket comes
 * after the server's last handshake step). */
static void conn_handshake(struct conn *cn)
{
	bool s_done = false, c_done = false;
	for (int turn = 0; turn < 8 && !(s_done && c_done); turn++) {
		if (!c_done)
			c_done = hs_step(cn->c, false, &cn->client_ns);
		if (!s_done)
			s_done = hs_step(cn->s, true, &cn->server_ns);
	}
	if (!(s_done && c_done)) {
		fprintf(stderr, "tls-bench: the handshake did not finish in 8 turns\n");
		exit(1);
	}
	char byte;
	uint64_t t0 = cpu_ns();
	int r = wolfSSL_read(cn->c, &byte, 1);
	cn->client_ns += cpu_ns() - t0;
	if (r > 0 || wolfSSL_get_error(cn->c, r) != WOLFSSL_ERROR_WANT_READ)
		fail_ssl("wolfSSL_read (the ticket)", cn->c, r);
}

static void conn_free(struct bench *b, struct conn *cn)
{
	uint64_t t0 = cpu_ns();
	wolfSSL_free(cn->s);
	uint64_t t1 = cpu_ns();
	wolfSSL_free(cn->c);
	cn->server_ns += t1 - t0;
	cn->client_ns += cpu_ns() - t1;
	pipe_clear(&b->c2s);
	pipe_clear(&b->s2c);
}

/* --- handshakes ---------------------------------------------------------------------------------- */

struct hs_case {
	const char *name;
	int cert;
	int group;
	bool resume;
};

static const struct hs_case hs_cases[] = {
	{ "full, ECDSA P-256 cert, X25519", CERT_ECDSA, WOLFSSL_ECC_X25519, false },
	{ "full, ECDSA P-256 cert, P-256", CERT_ECDSA, WOLFSSL_ECC_SECP256R1, false },
	{ "full, RSA-2048 cert, X25519", CERT_RSA, WOLFSSL_ECC_X25519, false },
	{ "resumed (ticket), X25519", CERT_ECDSA, WOLFSSL_ECC_X25519, true },
};

struct hs_result {
	uint64_t n;
	double server_s, client_s; /* CPU seconds of all n */
	const char *cipher;        /* what the handshakes agreed on */
};

/* A full handshake whose ticket the resumed case resumes. */
static WOLFSSL_SESSION *ticket_session(struct bench *b, const struct hs_case *hc)
{
	struct conn cn;
	struct conn_cfg cfg = { .cert = hc->cert, .group = hc->group };
	conn_new(b, &cn, &cfg);
	conn_handshake(&cn);
	WOLFSSL_SESSION *sess = wolfSSL_get1_session(cn.c);
	if (sess == NULL)
		fail_ssl("wolfSSL_get1_session", NULL, 0);
	conn_free(b, &cn);
	return sess;
}

/* One connection of this case, from wolfSSL_new to wolfSSL_free; adds its times to *res
 * when count is set. */
static void one_handshake(struct bench *b, const struct hs_case *hc, const struct conn_cfg *cfg,
                          struct hs_result *res, bool count)
{
	struct conn cn;
	conn_new(b, &cn, cfg);
	conn_handshake(&cn);
	if (wolfSSL_session_reused(cn.s) != (hc->resume ? 1 : 0)) {
		fprintf(stderr, "tls-bench: %s: the server %s the session\n", hc->name,
		        hc->resume ? "did not resume" : "resumed");
		exit(1);
	}
	res->cipher = wolfSSL_get_cipher_name(cn.s);
	conn_free(b, &cn);
	if (count) {
		res->server_s += (double)cn.server_ns / 1e9;
		res->client_s += (double)cn.client_ns / 1e9;
		res->n++;
	}
}

static void measure_handshakes(struct bench *b, const struct hs_case *hc, struct hs_result *res)
{
	struct conn_cfg cfg = { .cert = hc->cert, .group = hc->group };
	if (hc->resume)
		cfg.resume = ticket_session(b, hc);
	memset(res, 0, sizeof *res);
	one_handshake(b, hc, &cfg, res, false); /* warm: caches, wolfSSL's first-use tables */
	uint64_t end = wall_ns() + (uint64_t)(b->seconds * 1e9);
	do
		one_handshake(b, hc, &cfg, res, true);
	while (wall_ns() < end);
	if (cfg.resume)
		wolfSSL_SESSION_free(cfg.resume);
}

/* --- records ------------------------------------------------------------------------------------- */

struct cipher {
	const char *opt, *wolf, *iana;
};

static const struct cipher ciphers[] = {
	{ "aes128", "TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256" },
	{ "aes256", "TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384" },
	{ "chacha20", "TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256" },
};

static const size_t rec_sizes[] = { 70, 1024, 16384 };

struct rec_result {
	uint64_t n;
	double cpu_s;
};

/* The client opens what the server sealed: the cipher works, before it is timed. */
static void check_record(struct conn *cn, const uint8_t *plain, size_t size)
{
	static uint8_t got[RECORD_MAX];
	int r = wolfSSL_write(cn->s, plain, (int)size);
	if (r != (int)size)
		fail_ssl("wolfSSL_write", cn->s, r);
	size_t have = 0;
	while (have < size) {
		r = wolfSSL_read(cn->c, got + have, (int)(size - have));
		if (r <= 0)
			fail_ssl("wolfSSL_read", cn->c, r);
		have += (size_t)r;
	}
	if (memcmp(got, plain, size) != 0) {
		fprintf(stderr, "tls-bench: the client read other bytes than the server wrote\n");
		exit(1);
	}
}

static void measure_records(struct bench *b, struct conn *cn, size_t size, struct rec_result *res)
{
	static uint8_t plain[RECORD_MAX];
	for (size_t i = 0; i < size; i++)
		plain[i] = (uint8_t)(i * 131 + 7);
	check_record(cn, plain, size);
	uint64_t end = wall_ns() + (uint64_t)(b->seconds * 1e9);
	uint64_t n = 0, t0 = cpu_ns();
	do {
		for (int i = 0; i < BATCH; i++) {
			int r = wolfSSL_write(cn->s, plain, (int)size);
			if (r != (int)size)
				fail_ssl("wolfSSL_write", cn->s, r);
			pipe_clear(&b->s2c); /* what a send would take away */
		}
		n += BATCH;
	} while (wall_ns() < end);
	res->cpu_s = (double)(cpu_ns() - t0) / 1e9;
	res->n = n;
}

/* A connection that agreed on this cipher, ready for application data. */
static void cipher_conn(struct bench *b, struct conn *cn, const struct cipher *ci)
{
	struct conn_cfg cfg = { .cert = CERT_ECDSA, .group = WOLFSSL_ECC_X25519, .cipher = ci->wolf };
	conn_new(b, cn, &cfg);
	conn_handshake(cn);
	const char *got = wolfSSL_get_cipher_name(cn->s);
	if (got == NULL || strcmp(got, ci->wolf) != 0) {
		fprintf(stderr, "tls-bench: asked for %s, the handshake agreed on %s\n", ci->wolf,
		        got ? got : "nothing");
		exit(1);
	}
}

/* --- output -------------------------------------------------------------------------------------- */

static double per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void print_header(const struct bench *b)
{
	fprintf(stderr, "tls-bench: wolfSSL %s (%s), %.1f s per measurement, CPU time of this thread\n",
	        wolfSSL_lib_version(), build_desc(), b->seconds);
}

static void print_hs(const struct hs_case *hc, const struct hs_result *r, bool json, bool first)
{
	fprintf(stderr,
	        "handshake %-32s %8.0f/s server (%8.1f us)  %8.0f/s client (%8.1f us)  n %llu\n",
	        hc->name, per_s(r->n, r->server_s), r->server_s * 1e6 / (double)r->n,
	        per_s(r->n, r->client_s), r->client_s * 1e6 / (double)r->n, (unsigned long long)r->n);
	if (json)
		printf("%s{\"case\":\"%s\",\"cert\":\"%s\",\"resumed\":%s,\"cipher\":\"%s\",\"n\":%llu,"
		       "\"server_cpu_s\":%.4f,\"client_cpu_s\":%.4f,\"server_per_s\":%.1f,"
		       "\"client_per_s\":%.1f,\"server_us\":%.2f,\"client_us\":%.2f}",
		       first ? "" : ",", hc->name, cert_names[hc->cert], hc->resume ? "true" : "false",
		       r->cipher ? r->cipher : "", (unsigned long long)r->n, r->server_s, r->client_s,
		       per_s(r->n, r->server_s), per_s(r->n, r->client_s), r->server_s * 1e6 / (double)r->n,
		       r->client_s * 1e6 / (double)r->n);
}

static void print_rec(const struct cipher *ci, size_t size, const struct rec_result *r, bool json,
                      bool first)
{
	double mbs = per_s(r->n, r->cpu_s) * (double)size / 1e6;
	double ns = r->cpu_s * 1e9 / (double)r->n;
	fprintf(stderr, "record %-28s %6zu B %9.1f MB/s %9.0f ns/record  n %llu\n", ci->iana, size, mbs,
	        ns, (unsigned long long)r->n);
	if (json)
		printf("%s{\"cipher\":\"%s\",\"size\":%zu,\"n\":%llu,\"cpu_s\":%.4f,\"mb_per_s\":%.2f,"
		       "\"ns_per_record\":%.1f}",
		       first ? "" : ",", ci->iana, size, (unsigned long long)r->n, r->cpu_s, mbs, ns);
}

/* --- command line -------------------------------------------------------------------------------- */

struct opts {
	double seconds;
	const struct cipher *cipher; /* NULL: all */
	size_t size;                 /* 0: all */
	bool handshakes, records, json;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tls-bench [--seconds S] [--cipher aes128|aes256|chacha20] [--size N]\n"
	           "                 [--only handshakes|records] [--json]\n"
	           "Pin it: taskset -c 1 tls-bench. The table goes to stderr, --json to stdout.\n");
}

/* Applies one option. Returns false if its value is bad. */
static bool apply_opt(int c, const char *arg, struct opts *o)
{
	char *end;
	switch (c) {
	case 's':
		o->seconds = strtod(arg, &end);
		return end != arg && *end == '\0' && o->seconds >= 0.01 && o->seconds <= 3600;
	case 'c':
		for (size_t i = 0; i < COUNT(ciphers); i++)
			if (strcmp(arg, ciphers[i].opt) == 0)
				o->cipher = &ciphers[i];
		return o->cipher != NULL;
	case 'z': {
		errno = 0;
		unsigned long v = strtoul(arg, &end, 10);
		o->size = (size_t)v;
		return errno == 0 && end != arg && *end == '\0' && v >= 1 && v <= RECORD_MAX;
	}
	case 'o':
		o->handshakes = strcmp(arg, "handshakes") == 0;
		o->records = strcmp(arg, "records") == 0;
		return o->handshakes || o->records;
	case 'j':
		o->json = true;
		return true;
	default:
		return false;
	}
}

/* Returns -1 to go on, else the exit status (0 after --help, 2 for a bad command line). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "cipher", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 'z' },
		{ "only", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	*o = (struct opts){ .seconds = 1.0, .handshakes = true, .records = true };
	for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?' || !apply_opt(c, optarg, o)) {
			if (c != '?')
				fprintf(stderr, "tls-bench: bad value '%s'\n", optarg);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

static void run_handshakes(struct bench *b, bool json)
{
	if (json)
		printf(",\"handshakes\":[");
	for (size_t i = 0; i < COUNT(hs_cases); i++) {
		struct hs_result r;
		measure_handshakes(b, &hs_cases[i], &r);
		print_hs(&hs_cases[i], &r, json, i == 0);
	}
	if (json)
		printf("]");
}

static void run_records(struct bench *b, const struct opts *o)
{
	bool first = true;
	if (o->json)
		printf(",\"records\":[");
	for (size_t i = 0; i < COUNT(ciphers); i++) {
		if (o->cipher && o->cipher != &ciphers[i])
			continue;
		for (size_t j = 0; j < COUNT(rec_sizes); j++) {
			/* A connection per run: the client's record numbers stay where the server's
			 * were when check_record ran, so it could not read the next run's check. */
			struct conn cn;
			size_t size = o->size ? o->size : rec_sizes[j];
			struct rec_result r;
			cipher_conn(b, &cn, &ciphers[i]);
			measure_records(b, &cn, size, &r);
			conn_free(b, &cn);
			print_rec(&ciphers[i], size, &r, o->json, first);
			first = false;
			if (o->size)
				break;
		}
	}
	if (o->json)
		printf("]");
}

int main(int argc, char **argv)
{
	struct opts o;
	int status = parse_args(argc, argv, &o);
	if (status >= 0)
		return status;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		fprintf(stderr, "tls-bench: wolfSSL_Init failed\n");
		return 1;
	}
	struct bench b = { .seconds = o.seconds };
	bench_init(&b);
	print_header(&b);
	if (o.json)
		printf("{\"wolfssl\":\"%s\",\"assembly\":%s,\"build\":\"%s\",\"seconds\":%.2f",
		       wolfSSL_lib_version(), BUILD_ASM ? "true" : "false", build_desc(), o.seconds);
	if (o.handshakes)
		run_handshakes(&b, o.json);
	if (o.records)
		run_records(&b, &o);
	if (o.json)
		printf("}\n");
	bench_free(&b);
	wolfSSL_Cleanup();
	return 0;
}
