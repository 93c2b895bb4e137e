/* rc_cfg_value: the text forms of configuration values, parsed strictly and written canonically.
 *
 * rc_cfg (rc_cfg.h) knows the settings: which key takes which kind of value, its range, its
 * default and its place in rc_cfg. This module knows only how each kind of value is spelled, one
 * pure conversion per kind, with no state, no I/O and no allocation. rc_cfg.h includes this
 * header, so the limits and types below come with it. Of the functions, the server uses
 * rc_cfg_addr_format (the listening address in its logs); rc_cfg uses the rest.
 *
 * The forms (rc_cfg.h's top comment says which setting takes which):
 *   integers  decimal digits only; with a suffix allowed, one K, M or G (either case) after them
 *   booleans  true/false, 1/0, yes/no, on/off (lower case)
 *   addresses IPv4:PORT, [IPv6]:PORT or localhost:PORT (= 127.0.0.1); literal addresses only,
 *             as inet_pton reads them (dotted quads without leading zeros, RFC 4291 text; no
 *             name lookup, no IPv6 zone), port 0..65535 as 1 to 5 decimal digits
 *   CPU lists N or N-M items joined by ',' ("0-3,6"), CPU numbers below RC_CFG_CPUS_MAX
 *   tokens    printable ASCII without space
 *   origins   serialized origins joined by ',', spaces around items ignored
 *
 * Parsers return 0 or a negative errno and leave their outputs unchanged on error.
 */
#ifndef RC_CFG_VALUE_H
#define RC_CFG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_CFG_CPUS_MAX 1024       /* CPU numbers are below this (glibc's CPU_SETSIZE) */
#define RC_CFG_ORIGINS_MAX 32      /* most origins in the allowed list */
#define RC_CFG_ORIGINS_BYTES 2048  /* their total length, a NUL after each */
#define RC_CFG_TOKEN_MAX 256       /* longest publish token (RC_APP_TOKEN_MAX) */
#define RC_CFG_SHOWN_MAX 64        /* a buffer for rc_cfg_shown */
#define RC_CFG_TOPIC_LIST_MAX 1024 /* longest subscribe-token-topics */
#define RC_CFG_PATH_MAX 1023       /* longest file name a setting takes (tls-cert, tls-key) */

/* A listening address, resolved from literals only. family is not an AF_ constant, so that
 * users of rc_cfg need no socket headers; net/ maps it. */
enum rc_addr_family {
	RC_ADDR_NONE = 0, /* "off": no listener */
	RC_ADDR_IPV4 = 4,
	RC_ADDR_IPV6 = 6,
};

typedef struct rc_cfg_addr {
	uint8_t family;   /* enum rc_addr_family */
	uint16_t port;    /* host byte order; 0: the kernel picks */
	uint8_t addr[16]; /* network byte order; IPv4 uses addr[0..4), the rest is 0 */
} rc_cfg_addr;

/* Longest text of an address: "[" 45-byte IPv6 "]:" 5-digit port and a NUL. */
#define RC_CFG_ADDR_TEXT_MAX 56

/* Decimal digits into *out; with suffix, an optional K, M or G after them (binary multiples).
 * Returns 0, -EINVAL for a malformed text (anything else, even a sign or a space), -ERANGE for a
 * well-formed number beyond uint64_t. */
int rc_cfg_u64_parse(const char *s, bool suffix, uint64_t *out);

/* true/1/yes/on or false/0/no/off. Returns 0 or -EINVAL. */
int rc_cfg_bool_parse(const char *s, bool *out);

/* A listen address (above). Returns 0 or -EINVAL. */
int rc_cfg_addr_parse(const char *s, rc_cfg_addr *out);

/* Write a as text: a.b.c.d:port, or [v6]:port in RFC 5952 form (lower case, the longest run of
 * two or more zero groups as ::, ::ffff:a.b.c.d for IPv4-mapped). Returns the length, or 0 if it
 * does not fit in cap (RC_CFG_ADDR_TEXT_MAX always does). */
size_t rc_cfg_addr_format(const rc_cfg_addr *a, char *out, size_t cap);

/* A CPU list into a mask of RC_CFG_CPUS_MAX bits, and how many are set. "" is the empty list. */
int rc_cfg_cpus_parse(const char *s, uint64_t mask[RC_CFG_CPUS_MAX / 64], uint32_t *count);

/* Is cpu in mask? false for cpu >= RC_CFG_CPUS_MAX. */
bool rc_cfg_cpus_isset(const uint64_t mask[RC_CFG_CPUS_MAX / 64], uint32_t cpu);

/* The canonical list: ascending, runs of two or more as N-M ("" for none). cap >= 1. Returns the
 * length, or -ENOSPC if it does not fit. */
int rc_cfg_cpus_format(const uint64_t mask[RC_CFG_CPUS_MAX / 64], char *out, size_t cap);

/* Is s a publish token: at most RC_CFG_TOKEN_MAX bytes of printable ASCII without space? "" is. */
bool rc_cfg_token_ok(const char *s);

/* Split s into its origins, stored end to end in store, each NUL-terminated, and count them (a
 * blank s: none). Returns 0, or -EINVAL with what is wrong in msg ("'x' is not an origin", "'x'
 * has an empty item", "too many origins (...)"), which the caller completes with what is
 * allowed. */
int rc_cfg_origins_parse(const char *s, char store[RC_CFG_ORIGINS_BYTES], uint32_t *count,
                         char *msg, size_t cap);

/* s as it may appear in a message, in buf: printable ASCII only (anything else as '?'), cut at
 * 48 bytes with "..." after. The text came from the operator, but it goes to a terminal: no
 * escape sequence gets through. Returns buf. */
const char *rc_cfg_shown(char buf[RC_CFG_SHOWN_MAX], const char *s);

#endif
