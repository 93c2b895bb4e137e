/* rc_cfg_value: text forms of configuration values. The contract is in rc_cfg_value.h.
 *
 * Addresses go through the C library's inet_pton and inet_ntop, which are pure conversions (no
 * name lookup, no socket, no system call): the one reason core/ includes <arpa/inet.h>, and only
 * here (tests/layering.sh). inet_pton is strict where a guess would hurt: it refuses a dotted quad
 * with a leading zero (other tools read "010" as octal 8) and the short forms inet_aton takes
 * ("127.1"), which is why it and not getaddrinfo(AI_NUMERICHOST) reads them.
 */
#include "rc_cfg_value.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- integers and booleans ------------------------------------------------------------------- */

/* The shift of a size suffix, or -1 for a byte that is not one. */
static int suffix_shift(char ch)
{
	switch (ch) {
	case 'K':
	case 'k':
		return 10;
	case 'M':
	case 'm':
		return 20;
	case 'G':
	case 'g':
		return 30;
	default:
		return -1;
	}
}

int rc_cfg_u64_parse(const char *s, bool suffix, uint64_t *out)
{
	assert(s != NULL && out != NULL);
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	bool overflow = false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true; /* keep scanning: "99999999999999999999x" is malformed first */
		else
			v = v * 10 + d;
	}
	int shift = 0;
	if (suffix && *p != '\0') {
		shift = suffix_shift(*p++);
		if (shift < 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (overflow || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int rc_cfg_bool_parse(const char *s, bool *out)
{
	assert(s != NULL && out != NULL);
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- listen addresses ------------------------------------------------------------------------ */

/* 1 to 5 decimal digits, at most 65535. Not rc_cfg_u64_parse: a port has a length limit too. */
static bool parse_port(const char *p, uint16_t *out)
{
	assert(p != NULL && out != NULL);
	size_t n = strlen(p);
	if (n == 0 || n > 5)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* The n bytes at p as a host of family af, into addr. "localhost" is 127.0.0.1. */
static bool parse_host(int af, const char *p, size_t n, uint8_t addr[16])
{
	char host[RC_CFG_ADDR_TEXT_MAX];
	assert(n < sizeof host);
	memcpy(host, p, n);
	host[n] = '\0';
	if (af == AF_INET && strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", sizeof "127.0.0.1");
	return inet_pton(af, host, addr) == 1;
}

int rc_cfg_addr_parse(const char *s, rc_cfg_addr *out)
{
	assert(s != NULL && out != NULL);
	rc_cfg_addr a = { 0 };
	const char *port;
	size_t n = strlen(s);
	if (n == 0 || n >= RC_CFG_ADDR_TEXT_MAX)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		if (!parse_host(AF_INET6, s + 1, (size_t)(close - s - 1), a.addr))
			return -EINVAL;
		a.family = RC_ADDR_IPV6;
		port = close + 2;
	} else {
		/* An unbracketed IPv6 address ends up here too, and fails as IPv4. */
		const char *colon = strrchr(s, ':');
		if (colon == NULL || !parse_host(AF_INET, s, (size_t)(colon - s), a.addr))
			return -EINVAL;
		a.family = RC_ADDR_IPV4;
		port = colon + 1;
	}
	if (!parse_port(port, &a.port))
		return -EINVAL;
	*out = a;
	return 0;
}

/* An IPv6 address whose first 96 bits are zero, in RFC 5952 form. inet_ntop writes these (the
 * deprecated IPv4-compatible addresses, RFC 4291 §2.5.5.1) as ::a.b.c.d, which RFC 5952 keeps for
 * IPv4-mapped addresses only; so does this module, as it always has. */
static int format_v4_compatible(const uint8_t addr[16], char *host, size_t cap)
{
	assert(cap >= sizeof "::ffff:ffff");
	unsigned g6 = (unsigned)addr[12] << 8 | addr[13], g7 = (unsigned)addr[14] << 8 | addr[15];
	if (g6 == 0)
		return g7 == 0 ? snprintf(host, cap, "::") : snprintf(host, cap, "::%x", g7);
	return snprintf(host, cap, "::%x:%x", g6, g7);
}

size_t rc_cfg_addr_format(const rc_cfg_addr *a, char *out, size_t cap)
{
	assert(a != NULL && out != NULL);
	assert(a->family == RC_ADDR_IPV4 || a->family == RC_ADDR_IPV6);
	static const uint8_t zero[12] = { 0 };
	char host[INET6_ADDRSTRLEN];
	int n;
	if (a->family == RC_ADDR_IPV6 && memcmp(a->addr, zero, sizeof zero) == 0) {
		format_v4_compatible(a->addr, host, sizeof host);
	} else {
		/* inet_ntop fails only for a buffer too small or an unknown family: neither here. */
		const char *h = inet_ntop(a->family == RC_ADDR_IPV4 ? AF_INET : AF_INET6, a->addr, host,
		                          sizeof host);
		assert(h != NULL);
		(void)h;
	}
	n = snprintf(out, cap, a->family == RC_ADDR_IPV6 ? "[%s]:%u" : "%s:%u", host, a->port);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

/* ---- CPU lists ------------------------------------------------------------------------------- */

/* A CPU number at *pp, below RC_CFG_CPUS_MAX; advances *pp past it. */
static bool parse_cpu(const char **pp, uint32_t *out)
{
	assert(pp != NULL && *pp != NULL && out != NULL);
	const char *p = *pp;
	uint32_t v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v >= RC_CFG_CPUS_MAX)
			return false;
	}
	*pp = p;
	*out = v;
	return true;
}

int rc_cfg_cpus_parse(const char *s, uint64_t mask[RC_CFG_CPUS_MAX / 64], uint32_t *count)
{
	assert(s != NULL && mask != NULL && count != NULL);
	uint64_t m[RC_CFG_CPUS_MAX / 64] = { 0 };
	const char *p = s;
	while (*p != '\0') {
		uint32_t lo, hi;
		if (!parse_cpu(&p, &lo))
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p++;
			if (!parse_cpu(&p, &hi) || hi < lo)
				return -EINVAL;
		}
		for (uint32_t c = lo; c <= hi; c++)
			m[c / 64] |= 1ull << (c % 64);
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return -EINVAL; /* a trailing comma: an empty item */
		} else if (*p != '\0') {
			return -EINVAL;
		}
	}
	uint32_t n = 0;
	for (size_t i = 0; i < RC_CFG_CPUS_MAX / 64; i++)
		n += (uint32_t)__builtin_popcountll(m[i]);
	memcpy(mask, m, sizeof m);
	*count = n;
	return 0;
}

bool rc_cfg_cpus_isset(const uint64_t mask[RC_CFG_CPUS_MAX / 64], uint32_t cpu)
{
	assert(mask != NULL);
	return cpu < RC_CFG_CPUS_MAX && (mask[cpu / 64] >> (cpu % 64) & 1) != 0;
}

int rc_cfg_cpus_format(const uint64_t mask[RC_CFG_CPUS_MAX / 64], char *out, size_t cap)
{
	assert(mask != NULL && out != NULL && cap >= 1);
	size_t o = 0;
	out[0] = '\0';
	for (uint32_t c = 0; c < RC_CFG_CPUS_MAX; c++) {
		if (!rc_cfg_cpus_isset(mask, c))
			continue;
		uint32_t end = c;
		while (end + 1 < RC_CFG_CPUS_MAX && rc_cfg_cpus_isset(mask, end + 1))
			end++;
		int n = end == c ? snprintf(out + o, cap - o, "%s%u", o ? "," : "", c)
		                 : snprintf(out + o, cap - o, "%s%u-%u", o ? "," : "", c, end);
		if (n < 0 || (size_t)n >= cap - o)
			return -ENOSPC;
		o += (size_t)n;
		c = end;
	}
	return (int)o;
}

/* ---- tokens and origins ---------------------------------------------------------------------- */

bool rc_cfg_token_ok(const char *s)
{
	assert(s != NULL);
	size_t n = strlen(s);
	if (n > RC_CFG_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7E)
			return false;
	}
	return true;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* A serialized origin (RFC 6454 §6.2): "null", or scheme "://" host [":" port], nothing after
 * (a browser's Origin never has a path, so an entry with one could never match). */
static bool origin_ok(const char *p, size_t n)
{
	assert(p != NULL);
	if (n == 4 && memcmp(p, "null", 4) == 0)
		return true;
	size_t i = 0;
	if (n == 0 || !is_alpha(p[0]))
		return false;
	while (i < n && (is_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '-' ||
	                 p[i] == '.'))
		i++;
	if (n - i < 4 || memcmp(p + i, "://", 3) != 0)
		return false;
	for (i += 3; i < n; i++) {
		if (p[i] < 0x21 || p[i] > 0x7E || p[i] == '/' || p[i] == '?' || p[i] == '#' ||
		    p[i] == ',' || p[i] == '"' || p[i] == '\\')
			return false;
	}
	return true;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Check the item [a, b) (spaces trimmed) of s and append it to store. */
static int origin_add(const char *s, const char *a, const char *b, char *store, size_t *used,
                      uint32_t n, char *msg, size_t cap)
{
	assert(s <= a && a <= b && *used <= RC_CFG_ORIGINS_BYTES);
	char sh[RC_CFG_SHOWN_MAX];
	size_t len = (size_t)(b - a);
	if (len == 0) {
		snprintf(msg, cap, "'%s' has an empty item", rc_cfg_shown(sh, s));
		return -EINVAL;
	}
	if (!origin_ok(a, len)) {
		char item[64];
		size_t k = len < 48 ? len : 48;
		memcpy(item, a, k);
		item[k] = '\0';
		snprintf(msg, cap, "'%s' is not an origin", rc_cfg_shown(sh, item));
		return -EINVAL;
	}
	if (n == RC_CFG_ORIGINS_MAX || *used + len + 1 > RC_CFG_ORIGINS_BYTES) {
		snprintf(msg, cap, "too many origins (at most %d, %d bytes in all)", RC_CFG_ORIGINS_MAX,
		         RC_CFG_ORIGINS_BYTES);
		return -EINVAL;
	}
	memcpy(store + *used, a, len);
	store[*used + len] = '\0';
	*used += len + 1;
	return 0;
}

int rc_cfg_origins_parse(const char *s, char store[RC_CFG_ORIGINS_BYTES], uint32_t *count,
                         char *msg, size_t cap)
{
	assert(s != NULL && store != NULL && count != NULL && msg != NULL && cap > 0);
	char tmp[RC_CFG_ORIGINS_BYTES] = { 0 }; /* zeroed: a copied rc_cfg compares equal */
	size_t used = 0;
	uint32_t n = 0;
	const char *p = s;
	while (is_space(*p))
		p++;
	bool more = *p != '\0'; /* blank: no origins */
	while (more) {
		const char *end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		const char *a = p, *b = end;
		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if (origin_add(s, a, b, tmp, &used, n, msg, cap) < 0)
			return -EINVAL;
		n++;
		more = *end == ',';
		p = end + 1;
	}
	memcpy(store, tmp, sizeof tmp);
	*count = n;
	return 0;
}

const char *rc_cfg_shown(char buf[RC_CFG_SHOWN_MAX], const char *s)
{
	assert(buf != NULL && s != NULL);
	size_t o = 0;
	for (; s[o] != '\0' && o < 48; o++)
		buf[o] = (s[o] >= 0x20 && s[o] < 0x7F) ? s[o] : '?';
	if (s[o] != '\0') {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}
