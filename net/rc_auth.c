/* rc_auth: token keys and signature verification (rc_auth.h). */
#include "rc_auth.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include "rc_base64.h"

/* A key's bytes: an HS256 secret, or the DER of a public key (an RSA-4096 SubjectPublicKeyInfo
 * is 550 bytes). */
#define KEY_BYTES_MAX RC_AUTH_SECRET_MAX
#define PEM_FILE_MAX 16384 /* longest PEM file read */

typedef struct auth_key {
	char kid[RC_JWT_KID_MAX + 1];
	size_t kid_len;
	enum rc_jwt_alg alg;
	uint32_t line; /* where the keys file names it */
	size_t len;
	uint8_t bytes[KEY_BYTES_MAX];
} auth_key;

struct rc_auth {
	uint32_t n;
	auth_key keys[RC_AUTH_KEYS_MAX];
};

/* The DigestInfo of a SHA-256 hash, before the hash (RFC 8017 §9.2, note 1). */
static const uint8_t SHA256_DIGEST_INFO[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
	                                            0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	                                            0x01, 0x05, 0x00, 0x04, 0x20 };

/* ---- loading ------------------------------------------------------------------------------- */

typedef struct load_ctx {
	const char *path; /* the keys file */
	uint32_t line;
	char dir[PATH_MAX]; /* its directory, for relative paths */
	char *err;
	size_t errlen;
} load_ctx;

/* "FILE:LINE: " and the message into err; returns false. */
__attribute__((format(printf, 2, 3))) static bool load_fail(load_ctx *x, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->line)
		snprintf(x->err, x->errlen, "%s:%u: %s", x->path, x->line, msg);
	else
		snprintf(x->err, x->errlen, "%s: %s", x->path, msg);
	return false;
}

/* The whole of a file into buf[0..cap): 0 and *len, -EFBIG if it holds more than cap bytes, or
 * -errno. */
static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	size_t n = 0;
	int r = 0;
	for (;;) {
		uint8_t extra;
		size_t room = cap - n;
		size_t got = fread(room ? buf + n : &extra, 1, room ? room : 1, f);
		if (got == 0)
			break;
		if (room == 0) {
			r = -EFBIG;
			break;
		}
		n += got;
	}
	if (r == 0 && ferror(f))
		r = errno ? -errno : -EIO;
	fclose(f);
	*len = n;
	return r;
}

static const char *read_error(int r)
{
	return r == -EFBIG ? "too long" : strerror(-r);
}

/* A SOURCE path, relative to the keys file's directory unless absolute. */
static bool source_path(load_ctx *x, const char *p, char out[PATH_MAX])
{
	int n = p[0] == '/' ? snprintf(out, PATH_MAX, "%s", p)
	                    : snprintf(out, PATH_MAX, "%s/%s", x->dir, p);
	return (n > 0 && n < PATH_MAX) || load_fail(x, "path too long: %.64s...", p);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* An HS256 SOURCE: base64:, hex: or file:, decoded into k->bytes. */
static bool load_secret(load_ctx *x, auth_key *k, const char *src)
{
	size_t n = 0;
	if (strncmp(src, "base64:", 7) == 0) {
		ptrdiff_t r = rc_base64_decode(k->bytes, sizeof k->bytes, src + 7, strlen(src + 7));
		if (r == RC_BASE64_NO_ROOM)
			return load_fail(x, "HS256 secret longer than %d bytes", RC_AUTH_SECRET_MAX);
		if (r < 0)
			return load_fail(x, "base64: is not standard base64 with '=' padding (RFC 4648 §4)");
		n = (size_t)r;
	} else if (strncmp(src, "hex:", 4) == 0) {
		const char *h = src + 4;
		size_t digits = strlen(h);
		if (digits % 2 != 0)
			return load_fail(x, "hex: has an odd number of digits");
		if (digits / 2 > sizeof k->bytes)
			return load_fail(x, "HS256 secret longer than %d bytes", RC_AUTH_SECRET_MAX);
		for (; n < digits / 2; n++) {
			int hi = hex_value(h[2 * n]), lo = hex_value(h[2 * n + 1]);
			if (hi < 0 || lo < 0)
				return load_fail(x, "hex: has a character that is not a hex digit");
			k->bytes[n] = (uint8_t)(hi << 4 | lo);
		}
	} else if (strncmp(src, "file:", 5) == 0) {
		char p[PATH_MAX];
		if (!source_path(x, src + 5, p))
			return false;
		int r = read_file(p, k->bytes, sizeof k->bytes, &n);
		if (r == -EFBIG)
			return load_fail(x, "%s: HS256 secret longer than %d bytes", p, RC_AUTH_SECRET_MAX);
		if (r < 0)
			return load_fail(x, "%s: %s", p, read_error(r));
	} else {
		return load_fail(x, "an HS256 SOURCE is base64:TEXT, hex:DIGITS or file:PATH");
	}
	if (n < RC_AUTH_SECRET_MIN)
		return load_fail(x,
		                 "HS256 secret of %zu bytes: at least %d are needed (RFC 7518 §3.2: as "
		                 "long as the SHA-256 output; a short one can be guessed offline)",
		                 n, RC_AUTH_SECRET_MIN);
	k->len = n;
	return true;
}

/* Which public key DER holds: 'R' (RSA), 'E' (EC) or 0 (neither), for error messages. */
static char der_kind(const uint8_t *der, size_t len)
{
	char kind = 0;
	word32 idx = 0;
	RsaKey r;
	if (wc_InitRsaKey_ex(&r, NULL, INVALID_DEVID) == 0) {
		if (wc_RsaPublicKeyDecode(der, &idx, &r, (word32)len) == 0)
			kind = 'R';
		wc_FreeRsaKey(&r);
	}
	ecc_key e;
	idx = 0;
	if (kind == 0 && wc_ecc_init_ex(&e, NULL, INVALID_DEVID) == 0) {
		if (wc_EccPublicKeyDecode(der, &idx, &e, (word32)len) == 0)
			kind = 'E';
		wc_ecc_free(&e);
	}
	return kind;
}

/* An RS256 key: RSA, 2048 bits or more. */
static bool check_rsa(load_ctx *x, const char *p, const uint8_t *der, size_t len)
{
	RsaKey r;
	word32 idx = 0;
	if (wc_InitRsaKey_ex(&r, NULL, INVALID_DEVID) != 0)
		return load_fail(x, "wolfCrypt cannot make an RSA key");
	int ret = wc_RsaPublicKeyDecode(der, &idx, &r, (word32)len);
	int bits = ret == 0 ? 8 * wc_RsaEncryptSize(&r) : 0;
	wc_FreeRsaKey(&r);
	if (ret != 0)
		return load_fail(x, "%s: %s", p,
		                 der_kind(der, len) == 'E'
		                         ? "an EC key: RS256 needs an RSA key"
		                         : "not an RSA public key wolfSSL can read (up to 4096 bits)");
	if (bits < RC_AUTH_RSA_MIN_BITS)
		return load_fail(x, "%s: RSA key of %d bits: RS256 needs at least %d", p, bits,
		                 RC_AUTH_RSA_MIN_BITS);
	return true;
}

/* An ES256 key: EC, on P-256, a valid point. */
static bool check_ec(load_ctx *x, const char *p, const uint8_t *der, size_t len)
{
	ecc_key e;
	word32 idx = 0;
	if (wc_ecc_init_ex(&e, NULL, INVALID_DEVID) != 0)
		return load_fail(x, "wolfCrypt cannot make an EC key");
	int ret = wc_EccPublicKeyDecode(der, &idx, &e, (word32)len);
	int curve = ret == 0 ? wc_ecc_get_curve_id(e.idx) : ECC_CURVE_INVALID;
	int valid = ret == 0 && curve == ECC_SECP256R1 ? wc_ecc_check_key(&e) : -1;
	wc_ecc_free(&e);
	if (ret != 0)
		return load_fail(x, "%s: %s", p,
		                 der_kind(der, len) == 'R' ? "an RSA key: ES256 needs an EC key on P-256"
		                                           : "not an EC public key wolfSSL can read");
	if (curve != ECC_SECP256R1) {
		const char *name = wc_ecc_get_name(curve);
		return load_fail(x, "%s: EC key on %s: ES256 needs P-256 (SECP256R1)", p,
		                 name ? name : "another curve");
	}
	if (valid != 0)
		return load_fail(x, "%s: the EC public key is not a valid point of P-256", p);
	return true;
}

/* An ES256 or RS256 SOURCE: a PEM file with a public key, kept as DER in k->bytes. */
static bool load_public(load_ctx *x, auth_key *k, const char *src)
{
	char p[PATH_MAX];
	if (!source_path(x, strncmp(src, "file:", 5) == 0 ? src + 5 : src, p))
		return false;
	uint8_t *pem = malloc(PEM_FILE_MAX + 1);
	if (pem == NULL)
		return load_fail(x, "out of memory");
	size_t n = 0;
	int r = read_file(p, pem, PEM_FILE_MAX, &n);
	int der_len = r == 0 ? wc_PubKeyPemToDer(pem, (int)n, k->bytes, (int)sizeof k->bytes) : 0;
	bool priv = false, cert = false;
	if (r == 0 && der_len <= 0) {
		pem[n] = '\0'; /* for a hint only: a NUL inside would just hide what follows it */
		priv = strstr((char *)pem, "PRIVATE KEY-----") != NULL;
		cert = strstr((char *)pem, "BEGIN CERTIFICATE") != NULL;
	}
	free(pem);
	if (r < 0)
		return load_fail(x, "%s: %s", p, read_error(r));
	if (der_len <= 0)
		return load_fail(x, "%s: %s", p,
		                 priv   ? "holds a private key: give the public key "
		                          "(openssl pkey -in KEY -pubout)"
		                 : cert ? "holds a certificate: give its public key "
		                          "(openssl x509 -in CERT -pubkey -noout)"
		                        : "no PEM public key (-----BEGIN PUBLIC KEY-----)");
	k->len = (size_t)der_len;
	return k->alg == RC_JWT_RS256 ? check_rsa(x, p, k->bytes, k->len)
	                              : check_ec(x, p, k->bytes, k->len);
}

/* One line of the keys file, NUL-terminated, without its line break. */
static bool load_line(load_ctx *x, rc_auth *a, char *line)
{
	char *f[4];
	int nf = 0;
	for (char *s = line; nf < 4;) {
		s += strspn(s, " \t");
		if (*s == '\0')
			break;
		f[nf++] = s;
		s += strcspn(s, " \t");
		if (*s)
			*s++ = '\0';
	}
	if (nf == 0 || f[0][0] == '#')
		return true;
	if (nf != 3)
		return load_fail(x, "expected KID ALG SOURCE, found %s", nf < 3 ? "fewer fields" : "more");
	size_t kid_len = strlen(f[0]);
	if (kid_len > RC_JWT_KID_MAX)
		return load_fail(x, "KID longer than %d bytes", RC_JWT_KID_MAX);
	for (size_t i = 0; i < kid_len; i++)
		if ((uint8_t)f[0][i] < 0x21 || (uint8_t)f[0][i] > 0x7e)
			return load_fail(x, "KID with a byte outside printable ASCII");
	for (uint32_t i = 0; i < a->n; i++)
		if (a->keys[i].kid_len == kid_len && memcmp(a->keys[i].kid, f[0], kid_len) == 0)
			return load_fail(x, "duplicate KID \"%s\" (first on line %u)", f[0], a->keys[i].line);
	if (a->n == RC_AUTH_KEYS_MAX)
		return load_fail(x, "more than %d keys", RC_AUTH_KEYS_MAX);
	auth_key *k = &a->keys[a->n];
	if (strcmp(f[1], "HS256") == 0)
		k->alg = RC_JWT_HS256;
	else if (strcmp(f[1], "ES256") == 0)
		k->alg = RC_JWT_ES256;
	else if (strcmp(f[1], "RS256") == 0)
		k->alg = RC_JWT_RS256;
	else
		return load_fail(x, "unknown ALG \"%.16s\": HS256, ES256 or RS256", f[1]);
	memcpy(k->kid, f[0], kid_len + 1);
	k->kid_len = kid_len;
	k->line = x->line;
	if (!(k->alg == RC_JWT_HS256 ? load_secret(x, k, f[2]) : load_public(x, k, f[2]))) {
		explicit_bzero(k, sizeof *k);
		return false;
	}
	a->n++;
	return true;
}

/* Every line of text[0..n). */
static bool load_text(load_ctx *x, rc_auth *a, char *text, size_t n)
{
	if (memchr(text, '\0', n) != NULL)
		return load_fail(x, "a NUL byte: not a text file");
	text[n] = '\0';
	for (char *s = text; *s;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		size_t len = strlen(s);
		if (len && s[len - 1] == '\r')
			s[len - 1] = '\0';
		x->line++;
		if (!load_line(x, a, s))
			return false;
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	x->line = 0;
	return a->n > 0 || load_fail(x, "no keys");
}

rc_auth *rc_auth_load(const char *path, char *err, size_t errlen)
{
	assert(path);
	assert(err || errlen == 0);
	load_ctx x = { .path = path, .err = err, .errlen = errlen };
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(x.dir, sizeof x.dir, ".");
	else
		snprintf(x.dir, sizeof x.dir, "%.*s", (int)(slash - path + (slash == path)), path);
	/* wolfCrypt_Init once per rc_auth, undone by rc_auth_free (see rc_auth.h, Threads) */
	if (wolfCrypt_Init() != 0) {
		load_fail(&x, "wolfCrypt_Init failed");
		return NULL;
	}
	rc_auth *a = calloc(1, sizeof *a);
	char *text = malloc(RC_AUTH_FILE_MAX + 1);
	if (a == NULL || text == NULL) {
		free(a);
		free(text);
		wolfCrypt_Cleanup();
		load_fail(&x, "out of memory");
		return NULL;
	}
	size_t n = 0;
	int r = read_file(path, (uint8_t *)text, RC_AUTH_FILE_MAX, &n);
	bool ok = r == 0 ? load_text(&x, a, text, n)
	                 : load_fail(&x, "%s", r == -EFBIG ? "longer than 65536 bytes" : strerror(-r));
	explicit_bzero(text, RC_AUTH_FILE_MAX + 1); /* it may hold base64: and hex: secrets */
	free(text);
	rc_auth_thread_done(); /* wc_ecc_check_key may have filled this thread's cache */
	if (!ok) {
		rc_auth_free(a);
		return NULL;
	}
	return a;
}

void rc_auth_free(rc_auth *a)
{
	if (a == NULL)
		return;
	explicit_bzero(a, sizeof *a);
	free(a);
	wolfCrypt_Cleanup();
}

uint32_t rc_auth_count(const rc_auth *a)
{
	assert(a);
	return a->n;
}

void rc_auth_thread_done(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}

/* ---- verifying ----------------------------------------------------------------------------- */

/* a[0..n) == b[0..n), in a time that depends on n only. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static bool verify_hs256(const auth_key *k, const rc_jwt *j)
{
	uint8_t mac[WC_SHA256_DIGEST_SIZE];
	if (j->sig_len != sizeof mac)
		return false;
	Hmac h;
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return false;
	int r = wc_HmacSetKey(&h, WC_SHA256, k->bytes, (word32)k->len);
	if (r == 0)
		r = wc_HmacUpdate(&h, j->signed_part, (word32)j->signed_len);
	if (r == 0)
		r = wc_HmacFinal(&h, mac);
	wc_HmacFree(&h);
	bool ok = r == 0 && same_bytes(mac, j->sig, sizeof mac);
	explicit_bzero(&h, sizeof h); /* it holds the padded key */
	return ok;
}

static bool verify_es256(const auth_key *k, const rc_jwt *j)
{
	uint8_t hash[WC_SHA256_DIGEST_SIZE], der[80]; /* a DER signature of P-256: at most 72 */
	word32 der_len = sizeof der, idx = 0;
	if (j->sig_len != 64 || wc_ecc_rs_raw_to_sig(j->sig, 32, j->sig + 32, 32, der, &der_len) != 0 ||
	    wc_Sha256Hash(j->signed_part, (word32)j->signed_len, hash) != 0)
		return false;
	ecc_key e;
	if (wc_ecc_init_ex(&e, NULL, INVALID_DEVID) != 0)
		return false;
	int res = 0;
	int r = wc_EccPublicKeyDecode(k->bytes, &idx, &e, (word32)k->len);
	if (r == 0)
		r = wc_ecc_verify_hash(der, der_len, hash, sizeof hash, &res, &e);
	wc_ecc_free(&e);
	return r == 0 && res == 1;
}

static bool verify_rs256(const auth_key *k, const rc_jwt *j)
{
	uint8_t want[sizeof SHA256_DIGEST_INFO + WC_SHA256_DIGEST_SIZE], got[RC_JWT_SIG_MAX];
	memcpy(want, SHA256_DIGEST_INFO, sizeof SHA256_DIGEST_INFO);
	if (wc_Sha256Hash(j->signed_part, (word32)j->signed_len, want + sizeof SHA256_DIGEST_INFO) != 0)
		return false;
	RsaKey r;
	word32 idx = 0;
	if (wc_InitRsaKey_ex(&r, NULL, INVALID_DEVID) != 0)
		return false;
	int n = wc_RsaPublicKeyDecode(k->bytes, &idx, &r, (word32)k->len);
	/* RFC 8017 §8.2.2 step 1: a signature of any other length than the modulus is refused */
	if (n == 0 && j->sig_len != (size_t)wc_RsaEncryptSize(&r))
		n = -1;
	if (n == 0)
		n = wc_RsaSSL_Verify(j->sig, (word32)j->sig_len, got, sizeof got, &r);
	wc_FreeRsaKey(&r);
	/* the whole of what the signature opens to is the DigestInfo: no trailing bytes */
	return n == (int)sizeof want && same_bytes(got, want, sizeof want);
}

static bool verify_with(const auth_key *k, const rc_jwt *j)
{
	assert(k->alg == j->alg);
	switch (k->alg) {
	case RC_JWT_HS256:
		return verify_hs256(k, j);
	case RC_JWT_ES256:
		return verify_es256(k, j);
	case RC_JWT_RS256:
		return verify_rs256(k, j);
	}
	return false;
}

enum rc_jwt_error rc_auth_verify(const rc_auth *a, const uint8_t *tok, size_t len, int64_t now_s,
                                 uint32_t leeway_s, rc_jwt_grant *out, const char **kid_used)
{
	assert(a);
	assert(out);
	if (kid_used)
		*kid_used = NULL;
	rc_jwt j;
	enum rc_jwt_error e = rc_jwt_parse(tok, len, &j);
	if (e != RC_JWT_OK)
		return e;
	const auth_key *k = NULL;
	if (j.kid_len > 0) {
		for (uint32_t i = 0; i < a->n && k == NULL; i++)
			if (a->keys[i].kid_len == j.kid_len && memcmp(a->keys[i].kid, j.kid, j.kid_len) == 0)
				k = &a->keys[i];
		/* the key named, with the algorithm it was configured for, or nothing */
		if (k == NULL || k->alg != j.alg)
			return RC_JWT_NO_KEY;
		if (!verify_with(k, &j))
			return RC_JWT_SIGNATURE;
	} else {
		bool tried = false;
		for (uint32_t i = 0; i < a->n && k == NULL; i++) {
			if (a->keys[i].alg != j.alg)
				continue;
			tried = true;
			if (verify_with(&a->keys[i], &j))
				k = &a->keys[i];
		}
		if (k == NULL)
			return tried ? RC_JWT_SIGNATURE : RC_JWT_NO_KEY;
	}
	if (kid_used)
		*kid_used = k->kid;
	e = rc_jwt_check_time(&j.grant, now_s, leeway_s);
	if (e == RC_JWT_OK)
		*out = j.grant;
	return e;
}
