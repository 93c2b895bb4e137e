/* Tests of rc_cfg: defaults; every key from each of the three sources and every combination of
 * them (precedence); strict values at their boundaries (malformed, negative, overflowing, trailing
 * junk, empty); listen addresses (IPv4, IPv6 with RFC 5952 round trips, localhost, bad ports);
 * CPU lists; origins and tokens; every cross-field rule of rc_cfg_validate and its message; the
 * command line (getopt_long forms, --help/--version, unknown flags, positional arguments); config
 * files with errors reported as FILE:LINE; the usage text against the key table; rc_cfg_get's
 * values as a config file that loads back to the same settings. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc_cfg.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static char tmpdir[64];

/* After each test: remove what write_file made (the names it uses). */
static void remove_tmpdir(void)
{
	if (tmpdir[0] == '\0')
		return;
	static const char *const names[] = { "ringcast.conf", "bad.conf" };
	for (size_t i = 0; i < 2; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

TestSuite(cfg, .fini = remove_tmpdir);

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/rc_cfg_test.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

/* Write text to a new file in tmpdir; returns its path (static storage, one per name). */
static const char *write_file(const char *name, const char *text, size_t len)
{
	static char path[8][128];
	static int next;
	char *p = path[next++ % 8];
	if (tmpdir[0] == '\0')
		make_tmpdir();
	snprintf(p, 128, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	return p;
}

static const char *conf(const char *text)
{
	return write_file("ringcast.conf", text, strlen(text));
}

static void get(const rc_cfg *c, const char *key, char *out, size_t cap)
{
	int n = rc_cfg_get(c, key, out, cap);
	cr_assert_geq(n, 0, "get %s", key);
	cr_assert_eq((size_t)n, strlen(out));
}

/* rc_cfg_load on fresh defaults with argv given as a NULL-terminated list after prog. */
static int load(rc_cfg *c, char *const *envp, char *err, size_t errlen, ...)
{
	char *argv[64];
	int argc = 0;
	argv[argc++] = (char *)"ringcast";
	va_list ap;
	va_start(ap, errlen);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
		cr_assert_lt(argc, 63);
		argv[argc++] = strdup(a); /* getopt may permute argv; the strings stay ours */
	}
	va_end(ap);
	argv[argc] = NULL;
	rc_cfg_defaults(c);
	int r = rc_cfg_load(c, argc, argv, envp, err, errlen);
	for (int i = 1; i < argc; i++)
		free(argv[i]);
	return r;
}

#define LOAD(c, envp, err, ...) \
	load((c), (envp), (err), sizeof(err), __VA_ARGS__, (const char *)NULL)

static void assert_set_fails(const char *key, const char *value, const char *want_err)
{
	rc_cfg c, before;
	rc_cfg_defaults(&c);
	before = c;
	char err[RC_CFG_ERR_MAX];
	int r = rc_cfg_set(&c, key, value, err, sizeof err);
	cr_assert_eq(r, -EINVAL, "%s = '%s' accepted", key, value);
	cr_assert_eq(memcmp(&c, &before, sizeof c), 0, "%s = '%s': unchanged on error", key, value);
	cr_assert_eq(strchr(err, '\n'), NULL, "one line");
	char prefix[80];
	snprintf(prefix, sizeof prefix, "%s: ", key);
	cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "names the key: '%s'", err);
	cr_assert_not_null(strstr(err, "expected"), "says what is allowed: '%s'", err);
	if (want_err != NULL)
		cr_assert_str_eq(err, want_err);
}

static void assert_set_ok(const char *key, const char *value, const char *want)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX] = "x", out[4096];
	int r = rc_cfg_set(&c, key, value, err, sizeof err);
	cr_assert_eq(r, 0, "%s = '%s': %s", key, value, err);
	cr_assert_str_eq(err, "");
	get(&c, key, out, sizeof out);
	cr_assert_str_eq(out, want, "%s = '%s'", key, value);
}

/* ---- defaults -------------------------------------------------------------------------------- */

Test(cfg, defaults_are_the_documented_ones_and_valid)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_validate(&c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.listen.family, RC_ADDR_IPV4);
	cr_assert_eq(c.listen.port, 8080);
	cr_assert_eq(memcmp(c.listen.addr, (uint8_t[16]){ 127, 0, 0, 1 }, 16), 0);
	cr_assert_eq(c.max_connections, 10000);
	cr_assert_eq(c.handshake_timeout_ms, 10000);
	cr_assert_eq(c.idle_timeout_ms, 30000);
	cr_assert_eq(c.write_timeout_ms, 5000);
	cr_assert_eq(c.close_timeout_ms, 3000);
	cr_assert_eq(c.drain_timeout_ms, 10000);
	cr_assert_eq(c.buffer_size_bytes, 65536);
	cr_assert_eq(c.message_max_bytes, 1u << 20);
	cr_assert_eq(c.large_bytes_max, 64u << 20);
	cr_assert_eq(c.recv_buffers, 1024);
	cr_assert_eq(c.pool_buffers, 2048);
	cr_assert_eq(c.queue_msgs_max, 1024);
	cr_assert_eq(c.queue_bytes_max, 4u << 20);
	cr_assert_eq(c.slow_policy, RC_OUTQ_DROP_OLDEST);
	cr_assert_eq(c.header_bytes_max, 8192);
	cr_assert_eq(c.header_fields_max, 100);
	cr_assert_eq(c.topics_max, 65536);
	cr_assert_eq(c.subscriptions_max, 1000000);
	cr_assert_eq(c.topics_per_connection_max, 64);
	cr_assert_str_eq(c.publish_token, "");
	cr_assert_eq(c.origin_count, 0);
	cr_assert(c.allow_no_origin);
	cr_assert_eq(c.log_level, RC_LOG_INFO);
	cr_assert_eq(c.workers, 0);
	cr_assert_eq(c.cpu_count, 0);
}

Test(cfg, no_arguments_gives_defaults)
{
	rc_cfg c, d;
	char err[RC_CFG_ERR_MAX];
	char *envp[] = { (char *)"PATH=/bin", (char *)"HOME=/root", NULL };
	cr_assert_eq(LOAD(&c, envp, err, NULL), RC_CFG_RUN, "%s", err);
	rc_cfg_defaults(&d);
	cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
	cr_assert_eq(load(&c, NULL, err, sizeof err, (const char *)NULL), RC_CFG_RUN,
	             "a NULL envp is an empty one");
}

/* ---- every key from every source ------------------------------------------------------------- */

/* Three valid values per key (for the file, the environment and the flags), each with the form
 * rc_cfg_get gives back, all distinct from each other's neighbour and from the default, and each
 * valid together with the other defaults and with_flag(key). */
static const struct {
	const char *key;
	const char *v[3];
	const char *canon[3];
} values[] = {
	{ "listen",
	  { "10.0.0.1:1", "[::1]:2", "localhost:0" },
	  { "10.0.0.1:1", "[::1]:2", "127.0.0.1:0" } },
	{ "tls-listen", { "0.0.0.0:8443", "off", "[::]:443" }, { "0.0.0.0:8443", "off", "[::]:443" } },
	{ "tls-cert",
	  { "/etc/rc/cert.pem", "c.pem", "/a b/#c.pem" },
	  { "/etc/rc/cert.pem", "c.pem", "/a b/#c.pem" } },
	{ "tls-key", { "/etc/rc/key.pem", "", "k.pem" }, { "/etc/rc/key.pem", "", "k.pem" } },
	{ "tls-min-version", { "1.3", "1.2", "1.3" }, { "1.3", "1.2", "1.3" } },
	{ "max-connections", { "1", "2", "1048576" }, { "1", "2", "1048576" } },
	{ "handshake-timeout-ms", { "1", "2", "86400000" }, { "1", "2", "86400000" } },
	{ "idle-timeout-ms", { "1", "2", "3" }, { "1", "2", "3" } },
	{ "write-timeout-ms", { "1", "2", "3" }, { "1", "2", "3" } },
	{ "close-timeout-ms", { "1", "2", "3" }, { "1", "2", "3" } },
	{ "drain-timeout-ms", { "1", "2", "3" }, { "1", "2", "3" } },
	{ "message-max-bytes", { "1000", "2K", "1" }, { "1000", "2048", "1" } },
	{ "large-bytes-max", { "2M", "1G", "2G" }, { "2097152", "1073741824", "2147483648" } },
	{ "buffer-size-bytes", { "128K", "262144", "16M" }, { "131072", "262144", "16777216" } },
	{ "recv-buffers", { "1", "2", "32768" }, { "1", "2", "32768" } },
	{ "pool-buffers", { "100", "200", "300" }, { "100", "200", "300" } },
	{ "queue-msgs-max", { "1", "2", "8192" }, { "1", "2", "8192" } },
	{ "queue-bytes-max", { "1100000", "2m", "3M" }, { "1100000", "2097152", "3145728" } },
	{ "slow-policy",
	  { "conflate", "disconnect", "drop-newest" },
	  { "conflate", "disconnect", "drop-newest" } },
	{ "header-bytes-max", { "256", "1k", "65536" }, { "256", "1024", "65536" } },
	{ "header-fields-max", { "8", "9", "1000" }, { "8", "9", "1000" } },
	{ "topics-max", { "1", "2", "16777216" }, { "1", "2", "16777216" } },
	{ "subscriptions-max", { "1", "2", "268435456" }, { "1", "2", "268435456" } },
	{ "topics-per-connection-max", { "1", "2", "63" }, { "1", "2", "63" } },
	{ "history-messages", { "0", "2", "1000" }, { "0", "2", "1000" } },
	{ "history-topic-bytes", { "1", "4K", "1M" }, { "1", "4096", "1048576" } },
	{ "history-bytes", { "256K", "128K", "1M" }, { "262144", "131072", "1048576" } },
	{ "publish-token", { "a", "b#c", "~tok=en!" }, { "a", "b#c", "~tok=en!" } },
	{ "origins",
	  { "null", " https://a.example , http://b.example:8080 ", "https://c.example" },
	  { "null", "https://a.example,http://b.example:8080", "https://c.example" } },
	{ "allow-no-origin", { "false", "yes", "0" }, { "false", "true", "false" } },
	{ "rate-msgs-per-s", { "10", "0", "100000000" }, { "10", "0", "100000000" } },
	{ "rate-bytes-per-s", { "1K", "0", "64M" }, { "1024", "0", "67108864" } },
	{ "rate-commands-per-s", { "0", "5", "1000000" }, { "0", "5", "1000000" } },
	{ "rate-burst-ms", { "1", "250", "60000" }, { "1", "250", "60000" } },
	{ "rate-close-after-ms", { "0", "500", "86400000" }, { "0", "500", "86400000" } },
	{ "max-lifetime-ms", { "1000", "0", "1728000000" }, { "1000", "0", "1728000000" } },
	{ "handshakes-max", { "1", "64", "1048576" }, { "1", "64", "1048576" } },
	{ "accept-per-s", { "100", "0", "10000000" }, { "100", "0", "10000000" } },
	{ "ip-connections-max", { "0", "50", "1048576" }, { "0", "50", "1048576" } },
	{ "ip-connects-per-s", { "20", "0", "1000000" }, { "20", "0", "1000000" } },
	{ "ip-limits-loopback", { "true", "no", "1" }, { "true", "false", "true" } },
	{ "jwt-keys",
	  { "keys.txt", "/etc/ringcast/keys", "k" },
	  { "keys.txt", "/etc/ringcast/keys", "k" } },
	{ "subscribe-token-topics", { "*", "a,prices.*", "x" }, { "*", "a,prices.*", "x" } },
	{ "log-level", { "error", "debug", "warn" }, { "error", "debug", "warn" } },
	{ "workers", { "1", "2", "1024" }, { "1", "2", "1024" } },
	{ "cpus", { "0", "1-2", "6,0-3" }, { "0", "1-2", "0-3,6" } },
	{ "steer-by-cpu", { "true", "false", "yes" }, { "true", "false", "true" } },
	{ "mailbox-records", { "64", "8192", "1048576" }, { "64", "8192", "1048576" } },
	{ "idle-spin-us", { "1", "50", "1000000" }, { "1", "50", "1000000" } },
	{ "admin-listen",
	  { "127.0.0.1:9091", "[::1]:0", "localhost:9" },
	  { "127.0.0.1:9091", "[::1]:0", "127.0.0.1:9" } },
	{ "admin-token", { "a", "b#c", "~adm=in!" }, { "a", "b#c", "~adm=in!" } },
	{ "takeover-socket",
	  { "/run/ringcast/takeover.sock", "t.sock", "/a b/#t" },
	  { "/run/ringcast/takeover.sock", "t.sock", "/a b/#t" } },
	{ "takeover", { "true", "no", "yes" }, { "true", "false", "true" } },
	{ "takeover-timeout-ms", { "100", "2000", "3600000" }, { "100", "2000", "3600000" } },
};
#define VALUES (sizeof values / sizeof values[0])

Test(cfg, value_table_covers_every_key)
{
	cr_assert_eq(rc_cfg_key_count(), VALUES);
	for (size_t i = 0; i < rc_cfg_key_count(); i++) {
		bool found = false;
		for (size_t j = 0; j < VALUES; j++)
			found |= strcmp(values[j].key, rc_cfg_key_name(i)) == 0;
		cr_assert(found, "key %s has test values", rc_cfg_key_name(i));
	}
}

static void env_name(const char *key, char *out)
{
	strcpy(out, "RINGCAST_");
	size_t o = strlen(out);
	for (const char *p = key; *p; p++)
		out[o++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	out[o] = '\0';
}

/* The flag a key's test values need besides the defaults to be valid, or NULL. */
static const char *with_flag(const char *key)
{
	return strcmp(key, "takeover") == 0 ? "--takeover-socket=t.sock" : NULL;
}

/* All 8 combinations of the three sources for every key: the highest source present wins. */
Test(cfg, every_key_from_every_source_with_precedence)
{
	for (size_t i = 0; i < VALUES; i++) {
		const char *key = values[i].key;
		char line[256], envvar[300], flag[300], name[80], def[4096], out[4096];
		snprintf(line, sizeof line, "# set by the file\n%s = %s\n", key, values[i].v[0]);
		const char *path = conf(line);
		env_name(key, name);
		snprintf(envvar, sizeof envvar, "%s=%s", name, values[i].v[1]);
		snprintf(flag, sizeof flag, "--%s=%s", key, values[i].v[2]);
		rc_cfg d;
		rc_cfg_defaults(&d);
		get(&d, key, def, sizeof def);
		for (int mask = 0; mask < 8; mask++) {
			bool file = mask & 1, env = mask & 2, cli = mask & 4;
			char *envp[] = { (char *)"OTHER=1", env ? envvar : NULL, NULL };
			char err[RC_CFG_ERR_MAX];
			rc_cfg c;
			int r;
			const char *with = with_flag(key); /* NULL ends the list early: none */
			if (file && cli)
				r = LOAD(&c, envp, err, "--config", path, flag, with);
			else if (file)
				r = LOAD(&c, envp, err, "--config", path, with);
			else if (cli)
				r = LOAD(&c, envp, err, flag, with);
			else
				r = LOAD(&c, envp, err, with);
			cr_assert_eq(r, RC_CFG_RUN, "%s mask %d: %s", key, mask, err);
			get(&c, key, out, sizeof out);
			const char *want = cli    ? values[i].canon[2]
			                   : env  ? values[i].canon[1]
			                   : file ? values[i].canon[0]
			                          : def;
			cr_assert_str_eq(out, want, "%s with file=%d env=%d cli=%d", key, file, env, cli);
			cr_assert_str_neq(values[i].canon[1], values[i].canon[0], "%s: test values", key);
			cr_assert_str_neq(values[i].canon[2], values[i].canon[1], "%s: test values", key);
			cr_assert_str_neq(values[i].canon[0], def, "%s: test values", key);
		}
	}
}

/* Either listener may be off; TLS settings refuse what they cannot take, in one line. */
Test(cfg, listeners_off_and_tls_values)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX], out[64];
	rc_cfg_defaults(&c);
	cr_assert_eq(c.tls_listen.family, RC_ADDR_NONE, "TLS is off by default");
	cr_assert_eq(c.tls_min_version, 12);
	cr_assert_eq(rc_cfg_set(&c, "listen", "off", err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.listen.family, RC_ADDR_NONE);
	cr_assert_eq(rc_cfg_get(&c, "listen", out, sizeof out), 3);
	cr_assert_str_eq(out, "off");
	cr_assert_eq(rc_cfg_set(&c, "tls-listen", "127.0.0.1:8443", err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.tls_listen.family, RC_ADDR_IPV4);
	cr_assert_eq(c.tls_listen.port, 8443);
	const char *bad_versions[] = { "1.1", "1.0", "13", "1.3 ", "TLSv1.3", "" };
	for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
		cr_assert_eq(rc_cfg_set(&c, "tls-min-version", bad_versions[i], err, sizeof err), -EINVAL);
		cr_assert_not_null(strstr(err, "expected 1.2 or 1.3"), "%s", err);
	}
	cr_assert_eq(rc_cfg_set(&c, "tls-cert", "a\nb", err, sizeof err), -EINVAL);
	cr_assert_not_null(strstr(err, "control characters"), "%s", err);
	static char longest[RC_CFG_PATH_MAX + 2];
	memset(longest, 'p', RC_CFG_PATH_MAX);
	cr_assert_eq(rc_cfg_set(&c, "tls-key", longest, err, sizeof err), 0, "%s", err);
	longest[RC_CFG_PATH_MAX] = 'p';
	cr_assert_eq(rc_cfg_set(&c, "tls-key", longest, err, sizeof err), -EINVAL);
	cr_assert_eq(strlen(c.tls_key), RC_CFG_PATH_MAX, "unchanged on error");
	cr_assert_eq(rc_cfg_set(&c, "tls-listen", "localhost", err, sizeof err), -EINVAL);
	cr_assert_not_null(strstr(err, "or off"), "%s", err);
}

Test(cfg, flag_with_separate_value_and_last_wins)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(LOAD(&c, NULL, err, "--idle-timeout-ms", "7", "--listen", "[::]:9",
	                  "--idle-timeout-ms=8", "--slow-policy", "conflate"),
	             RC_CFG_RUN, "%s", err);
	cr_assert_eq(c.idle_timeout_ms, 8);
	cr_assert_eq(c.listen.family, RC_ADDR_IPV6);
	cr_assert_eq(c.listen.port, 9);
	cr_assert_eq(c.slow_policy, RC_OUTQ_CONFLATE);
	/* a unique prefix is getopt_long's abbreviation; -c is --config */
	const char *path = conf("max-connections = 5\n");
	cr_assert_eq(LOAD(&c, NULL, err, "--max-conn=6", "-c", path, "--", NULL), RC_CFG_RUN, "%s",
	             err);
	cr_assert_eq(c.max_connections, 6, "the flag is above the file whatever the order");
	cr_assert_eq(LOAD(&c, NULL, err, "-c", path), RC_CFG_RUN, "%s", err);
	cr_assert_eq(c.max_connections, 5);
	/* an empty value is a value (here: no token) */
	cr_assert_eq(LOAD(&c, NULL, err, "--publish-token=s3cret", "--publish-token="), RC_CFG_RUN);
	cr_assert_str_eq(c.publish_token, "");
}

/* ---- the command line ------------------------------------------------------------------------ */

Test(cfg, help_and_version)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(LOAD(&c, NULL, err, "--help"), RC_CFG_HELP);
	cr_assert_eq(LOAD(&c, NULL, err, "-h"), RC_CFG_HELP);
	cr_assert_eq(LOAD(&c, NULL, err, "--version"), RC_CFG_VERSION);
	cr_assert_eq(LOAD(&c, NULL, err, "-V"), RC_CFG_VERSION);
	/* help works whatever else is wrong: nothing else is read */
	char *bad_env[] = { (char *)"RINGCAST_NOPE=1", NULL };
	cr_assert_eq(LOAD(&c, bad_env, err, "--bogus", "--config", "/nonexistent/x",
	                  "--idle-timeout-ms=x", "extra", "--help"),
	             RC_CFG_HELP);
	cr_assert_eq(LOAD(&c, bad_env, err, "--version", "--config", "/nonexistent/x"), RC_CFG_VERSION);
	cr_assert_eq(LOAD(&c, NULL, err, "--help", "--version"), RC_CFG_HELP);
}

static void assert_load_fails(int want_r, const char *want_err, ...)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = (char *)"ringcast";
	va_list ap;
	va_start(ap, want_err);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
		argv[argc++] = strdup(a);
	va_end(ap);
	argv[argc] = NULL;
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX];
	int r = rc_cfg_load(&c, argc, argv, NULL, err, sizeof err);
	cr_assert_eq(r, want_r, "argv[1] '%s': %d (%s)", argv[1], r, err);
	cr_assert_str_eq(err, want_err);
	for (int i = 1; i < argc; i++)
		free(argv[i]);
}

#define FAILS(r, msg, ...) assert_load_fails((r), (msg), __VA_ARGS__, (const char *)NULL)

Test(cfg, command_line_errors)
{
	FAILS(-EINVAL, "unknown or ambiguous option '--bogus' (see --help)", "--bogus");
	FAILS(-EINVAL, "unknown or ambiguous option '--bogus=1' (see --help)", "--bogus=1");
	FAILS(-EINVAL, "unknown or ambiguous option '--topics=5' (see --help)", "--topics=5");
	FAILS(-EINVAL, "unknown option '-x' (see --help)", "-x");
	FAILS(-EINVAL, "--listen needs a value (see --help)", "--listen");
	FAILS(-EINVAL, "--config needs a file name", "--config");
	FAILS(-EINVAL, "--help takes no value", "--help=yes");
	FAILS(-EINVAL, "unexpected argument 'serve' (every setting is --key VALUE)", "serve");
	FAILS(-EINVAL, "unexpected argument 'x' (every setting is --key VALUE)", "--", "x");
	FAILS(-EINVAL, "unexpected argument 'a' (every setting is --key VALUE)", "--workers", "1", "a",
	      "b");
	FAILS(-EINVAL,
	      "--idle-timeout-ms: 'abc' is not a number: expected an integer 1..86400000 "
	      "(milliseconds)",
	      "--idle-timeout-ms=abc");
	FAILS(-EINVAL,
	      "--idle-timeout-ms: 'abc' is not a number: expected an integer 1..86400000 "
	      "(milliseconds)",
	      "--idle-timeout-ms", "abc");
	FAILS(-ENOENT, "config file /nonexistent/ringcast.conf: No such file or directory", "--config",
	      "/nonexistent/ringcast.conf");
	/* values are all checked before validation; validation comes last */
	FAILS(-EINVAL,
	      "message-max-bytes 1048576 takes 17 buffers of 65536 bytes with its header room, more "
	      "than large-bytes-max 1048576 holds (16): raise large-bytes-max to at least 1114112 or "
	      "lower message-max-bytes",
	      "--large-bytes-max=1M");
}

/* getopt's state is global: a second call in the same process starts from scratch. */
Test(cfg, load_twice_in_one_process)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(LOAD(&c, NULL, err, "--workers", "3", "--bogus"), -EINVAL);
	cr_assert_eq(LOAD(&c, NULL, err, "--workers", "3"), RC_CFG_RUN, "%s", err);
	cr_assert_eq(c.workers, 3);
	cr_assert_eq(LOAD(&c, NULL, err, "--workers=4", "--cpus=0-1"), RC_CFG_RUN, "%s", err);
	cr_assert_eq(c.workers, 4);
	cr_assert_eq(c.cpu_count, 2);
}

Test(cfg, parse_args_uses_the_process_environment)
{
	cr_assert_eq(setenv("RINGCAST_WRITE_TIMEOUT_MS", "1234", 1), 0);
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX];
	char *argv[] = { (char *)"ringcast", NULL };
	cr_assert_eq(rc_cfg_parse_args(&c, 1, argv, err, sizeof err), RC_CFG_RUN, "%s", err);
	cr_assert_eq(c.write_timeout_ms, 1234);
}

/* ---- the environment ------------------------------------------------------------------------- */

Test(cfg, environment)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	rc_cfg_defaults(&c);
	char *ok[] = { (char *)"PATH=/usr/bin",
		           (char *)"RINGCAST",
		           (char *)"XRINGCAST_FOO=1",
		           (char *)"RINGCAST_WORKERS=2",
		           (char *)"RINGCAST_PUBLISH_TOKEN=",
		           (char *)"RINGCAST_ORIGINS=https://a.example",
		           NULL };
	cr_assert_eq(rc_cfg_load_env(&c, ok, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.workers, 2);
	cr_assert_eq(c.origin_count, 1);
	cr_assert_eq(rc_cfg_load_env(&c, NULL, err, sizeof err), 0);

	static const struct {
		const char *var, *msg;
	} bad[] = {
		{ "RINGCAST_NOPE=1",
		  "environment variable RINGCAST_NOPE does not name a setting (see --help)" },
		{ "RINGCAST_WRITE_TIMEOUT=1",
		  "environment variable RINGCAST_WRITE_TIMEOUT does not name a setting (see --help)" },
		{ "RINGCAST_write_timeout_ms=1",
		  "environment variable RINGCAST_write_timeout_ms does not name a setting (see --help)" },
		{ "RINGCAST_WRITE-TIMEOUT-MS=1",
		  "environment variable RINGCAST_WRITE-TIMEOUT-MS does not name a setting (see --help)" },
		{ "RINGCAST_=1", "environment variable RINGCAST_ does not name a setting (see --help)" },
		{ "RINGCAST_CONFIG=/etc/ringcast.conf",
		  "environment variable RINGCAST_CONFIG does not name a setting (see --help)" },
		{ "RINGCAST_IDLE_TIMEOUT_MS=30s", "RINGCAST_IDLE_TIMEOUT_MS: '30s' is not a number: "
		                                  "expected an integer 1..86400000 (milliseconds)" },
		{ "RINGCAST_IDLE_TIMEOUT_MS=", "RINGCAST_IDLE_TIMEOUT_MS: '' is not a number: "
		                               "expected an integer 1..86400000 (milliseconds)" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char var[128];
		snprintf(var, sizeof var, "%s", bad[i].var);
		char *envp[] = { (char *)"RINGCAST_WORKERS=5", var, NULL };
		cr_assert_eq(rc_cfg_load_env(&c, envp, err, sizeof err), -EINVAL, "%s", bad[i].var);
		cr_assert_str_eq(err, bad[i].msg);
	}
	/* a very long name is refused, not overflowed */
	char longvar[300];
	memset(longvar, 'A', sizeof longvar);
	memcpy(longvar, "RINGCAST_", 9);
	strcpy(longvar + sizeof longvar - 3, "=1");
	char *envp[] = { longvar, NULL };
	cr_assert_eq(rc_cfg_load_env(&c, envp, err, sizeof err), -EINVAL);
	cr_assert_not_null(strstr(err, "does not name a setting"));
}

/* ---- config files ---------------------------------------------------------------------------- */

Test(cfg, config_file_syntax)
{
	static const char text[] = "# ringcast.conf\n"
	                           "\n"
	                           "   # an indented comment\n"
	                           "listen=0.0.0.0:80\n"
	                           "\tidle-timeout-ms\t=\t45000\t\n"
	                           "publish-token = s3#cr=t\r\n"
	                           "origins = https://a.example, https://b.example\n"
	                           "allow-no-origin = off\n"
	                           "  \t \n"
	                           "cpus = 0-1"; /* no newline at the end */
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX] = "x";
	cr_assert_eq(rc_cfg_load_file(&c, conf(text), err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(err, "");
	char out[256];
	get(&c, "listen", out, sizeof out);
	cr_assert_str_eq(out, "0.0.0.0:80");
	cr_assert_eq(c.idle_timeout_ms, 45000);
	cr_assert_str_eq(c.publish_token, "s3#cr=t", "'#' and '=' inside a value are data");
	cr_assert_eq(c.origin_count, 2);
	cr_assert_not(c.allow_no_origin);
	cr_assert_eq(c.cpu_count, 2);

	rc_cfg_defaults(&c);
	cr_assert_eq(rc_cfg_load_file(&c, conf(""), err, sizeof err), 0, "an empty file");
	rc_cfg d;
	rc_cfg_defaults(&d);
	cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
}

static void assert_file_fails(const char *text, size_t len, int want_r, const char *want_tail)
{
	const char *path = write_file("bad.conf", text, len);
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX], want[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_load_file(&c, path, err, sizeof err), want_r, "'%s': %s", text, err);
	snprintf(want, sizeof want, "%s:%s", path, want_tail);
	cr_assert_str_eq(err, want);
}

#define FILE_FAILS(text, tail) assert_file_fails((text), sizeof(text) - 1, -EINVAL, (tail))

Test(cfg, config_file_errors_say_file_and_line)
{
	FILE_FAILS("listen 127.0.0.1:1\n", "1: expected 'key = value', got 'listen 127.0.0.1:1'");
	FILE_FAILS("# c\n\nworkers = 1\nbogus = 1\n", "4: unknown key 'bogus' (see --help)");
	FILE_FAILS("= 1\n", "1: unknown key '' (see --help)");
	FILE_FAILS("--workers = 1\n", "1: unknown key '--workers' (see --help)");
	FILE_FAILS("write_timeout_ms = 1\n", "1: unknown key 'write_timeout_ms' (see --help)");
	FILE_FAILS("workers = 1\nlisten = 1.2.3.4:5\nworkers = 2\n",
	           "3: workers: already set on line 1");
	FILE_FAILS("\n\n\n\nidle-timeout-ms = 0\n", "5: idle-timeout-ms: 0 is out of range: expected "
	                                            "an integer 1..86400000 (milliseconds)");
	FILE_FAILS("idle-timeout-ms = \n", "1: idle-timeout-ms: '' is not a number: expected an "
	                                   "integer 1..86400000 (milliseconds)");
	FILE_FAILS("idle-timeout-ms = 5 # five\n", "1: idle-timeout-ms: '5 # five' is not a number: "
	                                           "expected an integer 1..86400000 (milliseconds)");
	FILE_FAILS("workers = 1\nlisten = \"127.0.0.1:80\"\n",
	           "2: listen: '\"127.0.0.1:80\"' is not "
	           "allowed: expected IPv4:PORT, [IPv6]:PORT or localhost:PORT, literal addresses "
	           "only, port 0..65535 (0: any free port), or off");
	FILE_FAILS("workers = 1\nwor\0kers = 2\n", "2: a NUL byte (not a text file?)");
	/* an error on the last line without a newline */
	FILE_FAILS("workers = 1\ncpus = x", "2: cpus: 'x' is not allowed: expected a CPU list like "
	                                    "0-3,6 (CPUs 0..1023), or empty (the affinity mask)");

	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_load_file(&c, "/nonexistent/ringcast.conf", err, sizeof err), -ENOENT);
	cr_assert_str_eq(err, "config file /nonexistent/ringcast.conf: No such file or directory");
	remove_tmpdir();
	make_tmpdir();
	cr_assert_eq(rc_cfg_load_file(&c, tmpdir, err, sizeof err), -EIO, "a directory: %s", err);
	cr_assert_str_eq(strstr(err, ": read error"), ": read error");
}

/* ---- integers -------------------------------------------------------------------------------- */

Test(cfg, integers_strict)
{
	const char *k = "write-timeout-ms";
	const char *range = "expected an integer 1..86400000 (milliseconds)";
	static const char *const malformed[] = {
		"",      "-1", "+1",  " 1",  "1 ", "1x",  "0x10", "1e3", "1.5", "1,000",
		"1_000", "5s", "5ms", "\t7", "1K", "one", "--1",  "1-",  "\n1",
	};
	char want[RC_CFG_ERR_MAX];
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		char shown[64];
		snprintf(shown, sizeof shown, "%s", malformed[i]);
		for (char *p = shown; *p; p++)
			if (*p < 0x20)
				*p = '?';
		snprintf(want, sizeof want, "%s: '%s' is not a number: %s", k, shown, range);
		assert_set_fails(k, malformed[i], want);
	}
	static const char *const out_of_range[] = {
		"0",
		"00",
		"86400001",
		"4294967295",
		"4294967296",
		"18446744073709551615",
		"18446744073709551616",
		"99999999999999999999999999999",
	};
	for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
		snprintf(want, sizeof want, "%s: %s is out of range: %s", k, out_of_range[i], range);
		assert_set_fails(k, out_of_range[i], want);
	}
	assert_set_ok(k, "1", "1");
	assert_set_ok(k, "86400000", "86400000");
	assert_set_ok(k, "0007", "7");
	/* every integer key at both ends of its range, and one past each */
	static const struct {
		const char *key;
		uint32_t min, max;
	} r[] = {
		{ "max-connections", 1, 1u << 20 },     { "handshake-timeout-ms", 1, 86400000 },
		{ "idle-timeout-ms", 1, 86400000 },     { "close-timeout-ms", 1, 86400000 },
		{ "drain-timeout-ms", 1, 86400000 },    { "message-max-bytes", 1, 1u << 30 },
		{ "pool-buffers", 1, 1u << 24 },        { "queue-bytes-max", 1, 1u << 30 },
		{ "header-bytes-max", 256, 1u << 20 },  { "header-fields-max", 8, 1000 },
		{ "topics-max", 1, 1u << 24 },          { "subscriptions-max", 1, 1u << 28 },
		{ "topics-per-connection-max", 1, 64 }, { "workers", 0, 1024 },
		{ "large-bytes-max", 1, 2u << 30 },
	};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
		char v[32];
		snprintf(v, sizeof v, "%u", r[i].min);
		assert_set_ok(r[i].key, v, v);
		snprintf(v, sizeof v, "%u", r[i].max);
		assert_set_ok(r[i].key, v, v);
		snprintf(v, sizeof v, "%llu", (unsigned long long)r[i].max + 1);
		assert_set_fails(r[i].key, v, NULL);
		if (r[i].min > 0) {
			snprintf(v, sizeof v, "%u", r[i].min - 1);
			assert_set_fails(r[i].key, v, NULL);
		}
	}
}

Test(cfg, sizes_and_powers_of_two)
{
	assert_set_ok("queue-bytes-max", "1K", "1024");
	assert_set_ok("queue-bytes-max", "1k", "1024");
	assert_set_ok("queue-bytes-max", "3m", "3145728");
	assert_set_ok("queue-bytes-max", "1G", "1073741824");
	assert_set_ok("queue-bytes-max", "1g", "1073741824");
	assert_set_ok("queue-bytes-max", "0001K", "1024");
	const char *qa = "expected an integer 1..1073741824 (bytes; suffix K, M or G allowed)";
	char want[RC_CFG_ERR_MAX];
	static const char *const malformed[] = { "K",   "1KB", "1KiB", "1 K", "1T",
		                                     "1Kk", "-1K", "1.5M", "k1" };
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		snprintf(want, sizeof want, "queue-bytes-max: '%s' is not a number: %s", malformed[i], qa);
		assert_set_fails("queue-bytes-max", malformed[i], want);
	}
	static const char *const big[] = { "2G",           "1048577K",
		                               "0K",           "18014398509481984K",
		                               "17179869184G", "99999999999999999999K" };
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		snprintf(want, sizeof want, "queue-bytes-max: %s is out of range: %s", big[i], qa);
		assert_set_fails("queue-bytes-max", big[i], want);
	}
	/* counts take no suffix */
	assert_set_fails("max-connections", "1K",
	                 "max-connections: '1K' is not a number: expected "
	                 "an integer 1..1048576");
	assert_set_fails("idle-timeout-ms", "1K", NULL);

	const char *ba = "expected a power of two 16384..16777216 (bytes; suffix K, M or G allowed)";
	assert_set_ok("buffer-size-bytes", "16K", "16384");
	assert_set_ok("buffer-size-bytes", "16M", "16777216");
	snprintf(want, sizeof want, "buffer-size-bytes: 24576 is not a power of two: %s", ba);
	assert_set_fails("buffer-size-bytes", "24576", want);
	snprintf(want, sizeof want, "buffer-size-bytes: 24K is not a power of two: %s", ba);
	assert_set_fails("buffer-size-bytes", "24K", want);
	snprintf(want, sizeof want, "buffer-size-bytes: 8K is out of range: %s", ba);
	assert_set_fails("buffer-size-bytes", "8K", want);
	snprintf(want, sizeof want, "buffer-size-bytes: 32M is out of range: %s", ba);
	assert_set_fails("buffer-size-bytes", "32M", want);
	assert_set_ok("recv-buffers", "1", "1");
	assert_set_ok("recv-buffers", "32768", "32768");
	assert_set_fails("recv-buffers", "3",
	                 "recv-buffers: 3 is not a power of two: expected a "
	                 "power of two 1..32768");
	assert_set_fails("recv-buffers", "65536", NULL);
	assert_set_fails("recv-buffers", "0", NULL);
	assert_set_ok("queue-msgs-max", "1048576", "1048576");
	assert_set_fails("queue-msgs-max", "1000", NULL);
	/* every power of two in range is accepted, every other value between them refused */
	for (uint32_t v = 1; v <= 32768; v++) {
		rc_cfg c;
		rc_cfg_defaults(&c);
		char s[16];
		snprintf(s, sizeof s, "%u", v);
		bool p2 = (v & (v - 1)) == 0;
		cr_assert_eq(rc_cfg_set(&c, "recv-buffers", s, NULL, 0), p2 ? 0 : -EINVAL, "%u", v);
	}
}

Test(cfg, booleans_and_enums)
{
	static const char *const t[] = { "true", "1", "yes", "on" };
	static const char *const f[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < 4; i++) {
		assert_set_ok("allow-no-origin", t[i], "true");
		assert_set_ok("allow-no-origin", f[i], "false");
	}
	static const char *const bad[] = { "", "TRUE", "True", "2", "y", "n", "enable", " true" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_set_fails("allow-no-origin", bad[i], NULL);
	assert_set_fails("allow-no-origin", "maybe",
	                 "allow-no-origin: 'maybe' is not allowed: "
	                 "expected true or false (also 1/0, yes/no, on/off)");

	static const char *const pol[] = { "drop-oldest", "drop-newest", "conflate", "disconnect" };
	for (int i = 0; i < RC_OUTQ_POLICY_COUNT; i++) {
		assert_set_ok("slow-policy", pol[i], pol[i]);
		cr_assert_str_eq(rc_outq_policy_name((enum rc_outq_policy)i), pol[i]);
		cr_assert_eq(rc_outq_policy_parse(pol[i]), i);
	}
	assert_set_fails("slow-policy", "drop_oldest",
	                 "slow-policy: 'drop_oldest' is not allowed: "
	                 "expected drop-oldest, drop-newest, conflate or disconnect");
	assert_set_fails("slow-policy", "DROP-OLDEST", NULL);
	assert_set_fails("slow-policy", "", NULL);
	assert_set_ok("log-level", "debug", "debug");
	assert_set_fails("log-level", "verbose",
	                 "log-level: 'verbose' is not allowed: expected "
	                 "error, warn, info or debug");
}

Test(cfg, unknown_key_and_get)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX], out[64];
	cr_assert_eq(rc_cfg_set(&c, "nope", "1", err, sizeof err), -ENOENT);
	cr_assert_str_eq(err, "unknown setting 'nope' (see --help)");
	cr_assert_eq(rc_cfg_set(&c, "--workers", "1", err, sizeof err), -ENOENT);
	cr_assert_eq(rc_cfg_set(&c, "workers", "1", NULL, 0), 0, "err may be NULL");
	cr_assert_eq(rc_cfg_get(&c, "nope", out, sizeof out), -ENOENT);
	cr_assert_eq(rc_cfg_get(&c, "listen", out, 14), -ENOSPC, "127.0.0.1:8080 needs 15");
	cr_assert_eq(rc_cfg_get(&c, "listen", out, 15), 14);
	cr_assert_eq(rc_cfg_get(&c, "max-connections", out, 5), -ENOSPC);
	cr_assert_eq(rc_cfg_set(&c, "cpus", "0-3,6", NULL, 0), 0);
	cr_assert_eq(rc_cfg_get(&c, "cpus", out, 5), -ENOSPC);
	cr_assert_eq(rc_cfg_get(&c, "cpus", out, 6), 5);
	cr_assert_eq(rc_cfg_set(&c, "origins", "null,null", NULL, 0), 0);
	cr_assert_eq(rc_cfg_get(&c, "origins", out, 9), -ENOSPC);
	cr_assert_eq(rc_cfg_get(&c, "origins", out, 10), 9);
	/* a long value in a message is cut, and control bytes do not reach the terminal */
	char longv[200];
	memset(longv, '9', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	longv[3] = '\x1b';
	cr_assert_eq(rc_cfg_set(&c, "workers", longv, err, sizeof err), -EINVAL);
	cr_assert_not_null(strstr(err, "'999?99999"));
	cr_assert_not_null(strstr(err, "...'"));
	cr_assert_null(strchr(err, '\x1b'));
	/* a small err buffer is cut, never overrun */
	char tiny[8];
	cr_assert_eq(rc_cfg_set(&c, "workers", "x", tiny, sizeof tiny), -EINVAL);
	cr_assert_eq(strlen(tiny), 7);
}

/* ---- listen addresses ------------------------------------------------------------------------ */

static void addr_ok(const char *text, uint8_t family, const uint8_t *bytes, uint16_t port,
                    const char *canon)
{
	rc_cfg_addr a;
	memset(&a, 0xAA, sizeof a);
	cr_assert_eq(rc_cfg_addr_parse(text, &a), 0, "'%s'", text);
	cr_assert_eq(a.family, family, "'%s'", text);
	cr_assert_eq(a.port, port, "'%s'", text);
	uint8_t want[16] = { 0 };
	memcpy(want, bytes, family == RC_ADDR_IPV4 ? 4 : 16);
	cr_assert_eq(memcmp(a.addr, want, 16), 0, "'%s'", text);
	char out[RC_CFG_ADDR_TEXT_MAX];
	size_t n = rc_cfg_addr_format(&a, out, sizeof out);
	cr_assert_gt(n, 0);
	cr_assert_str_eq(out, canon, "'%s'", text);
	assert_set_ok("listen", text, canon);
}

Test(cfg, listen_forms)
{
	addr_ok("127.0.0.1:8080", RC_ADDR_IPV4, (uint8_t[]){ 127, 0, 0, 1 }, 8080, "127.0.0.1:8080");
	addr_ok("0.0.0.0:0", RC_ADDR_IPV4, (uint8_t[]){ 0, 0, 0, 0 }, 0, "0.0.0.0:0");
	addr_ok("255.255.255.255:65535", RC_ADDR_IPV4, (uint8_t[]){ 255, 255, 255, 255 }, 65535,
	        "255.255.255.255:65535");
	addr_ok("localhost:0", RC_ADDR_IPV4, (uint8_t[]){ 127, 0, 0, 1 }, 0, "127.0.0.1:0");
	addr_ok("10.0.0.1:00080", RC_ADDR_IPV4, (uint8_t[]){ 10, 0, 0, 1 }, 80, "10.0.0.1:80");
	static const uint8_t loop6[16] = { [15] = 1 };
	addr_ok("[::1]:8080", RC_ADDR_IPV6, loop6, 8080, "[::1]:8080");
	addr_ok("[0:0:0:0:0:0:0:1]:1", RC_ADDR_IPV6, loop6, 1, "[::1]:1");
	static const uint8_t any6[16] = { 0 };
	addr_ok("[::]:0", RC_ADDR_IPV6, any6, 0, "[::]:0");
	static const uint8_t doc[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	addr_ok("[2001:DB8::0001]:443", RC_ADDR_IPV6, doc, 443, "[2001:db8::1]:443");
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	addr_ok("[::ffff:127.0.0.1]:1", RC_ADDR_IPV6, mapped, 1, "[::ffff:127.0.0.1]:1");
	addr_ok("[::FFFF:7f00:1]:1", RC_ADDR_IPV6, mapped, 1, "[::ffff:127.0.0.1]:1");
	static const uint8_t full[16] = { 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8 };
	addr_ok("[1:2:3:4:5:6:7:8]:9", RC_ADDR_IPV6, full, 9, "[1:2:3:4:5:6:7:8]:9");
	static const uint8_t last0[16] = { 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0 };
	addr_ok("[1:2:3:4:5:6:7::]:9", RC_ADDR_IPV6, last0, 9, "[1:2:3:4:5:6:7:0]:9");
	static const uint8_t first0[16] = { 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8 };
	addr_ok("[::2:3:4:5:6:7:8]:9", RC_ADDR_IPV6, first0, 9, "[0:2:3:4:5:6:7:8]:9");
	/* RFC 5952 §4.2.3: the first of two equally long runs */
	static const uint8_t tie[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
	addr_ok("[2001:db8:0:0:1:0:0:1]:1", RC_ADDR_IPV6, tie, 1, "[2001:db8::1:0:0:1]:1");
	/* §4.2.3: the longer run wins over an earlier shorter one */
	static const uint8_t longer[16] = { 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	addr_ok("[1:0:0:1:0:0:0:1]:1", RC_ADDR_IPV6, longer, 1, "[1:0:0:1::1]:1");
	static const uint8_t compat[16] = { [12] = 1, 2, 3, 4 };
	addr_ok("[::1.2.3.4]:5", RC_ADDR_IPV6, compat, 5, "[::102:304]:5");
}

Test(cfg, listen_bad)
{
	static const char *const bad[] = {
		"",
		":8080",
		"8080",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:+1",
		"127.0.0.1:123456",
		"127.0.0.1:80x",
		"127.0.0.1: 80",
		" 127.0.0.1:80",
		"256.0.0.1:1",
		"1.2.3:1",
		"1.2.3.4.5:1",
		"01.2.3.4:1",
		"1.2.3.04:1",
		"1.2.3.4 :1",
		"1..3.4:1",
		"1.2.3.1234:1",
		"example.com:80",
		"LOCALHOST:1",
		"localhost.:1",
		"*:80",
		"::1:8080",
		"::1",
		"[::1]",
		"[::1]8080",
		"[::1:8080",
		"::]:1",
		"[]:1",
		"[1:2:3:4:5:6:7:8:9]:1",
		"[1::2::3]:1",
		"[12345::]:1",
		"[:1]:1",
		"[1:]:1",
		"[:::]:1",
		"[1:2:3:4:5:6:7:8::]:1",
		"[::1:2:3:4:5:6:7:8]:1",
		"[fe80::1%eth0]:1",
		"[1.2.3.4]:1",
		"[::ffff:1.2.3]:1",
		"[::ffff:1.2.3.4.5]:1",
		"[::1.2.3.4:5]:1",
		"[g::]:1",
		"[1:2:3:4:5:6:1.2.3.4:1]:1",
		"[::1]:65536",
		"[0000000000000000000000000000000000000000000000000000000000::]:1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rc_cfg_addr a, before;
		memset(&a, 0x55, sizeof a);
		before = a;
		cr_assert_eq(rc_cfg_addr_parse(bad[i], &a), -EINVAL, "'%s' accepted", bad[i]);
		cr_assert_eq(memcmp(&a, &before, sizeof a), 0, "'%s': unchanged", bad[i]);
		assert_set_fails("listen", bad[i], NULL);
	}
	char want[RC_CFG_ERR_MAX];
	snprintf(want, sizeof want,
	         "listen: '::1:8080' is not allowed: expected IPv4:PORT, "
	         "[IPv6]:PORT or localhost:PORT, literal addresses only, port 0..65535 (0: any free "
	         "port), or off");
	assert_set_fails("listen", "::1:8080", want);
}

/* Random addresses with runs of zeros: format, parse back, same bytes; and the text is RFC 5952's
 * (lower case, no leading zeros, :: only for two or more groups). */
Test(cfg, ipv6_round_trip_random)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int iter = 0; iter < 20000; iter++) {
		rc_cfg_addr a = { .family = RC_ADDR_IPV6 };
		for (int g = 0; g < 8; g++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			unsigned v = (x % 3 == 0) ? 0 : (unsigned)(x >> 20) & (x % 5 == 0 ? 0xF : 0xFFFF);
			a.addr[2 * g] = (uint8_t)(v >> 8);
			a.addr[2 * g + 1] = (uint8_t)v;
		}
		a.port = (uint16_t)(x >> 40);
		char text[RC_CFG_ADDR_TEXT_MAX];
		cr_assert_gt(rc_cfg_addr_format(&a, text, sizeof text), 0);
		rc_cfg_addr b;
		cr_assert_eq(rc_cfg_addr_parse(text, &b), 0, "'%s'", text);
		cr_assert_eq(b.family, RC_ADDR_IPV6);
		cr_assert_eq(b.port, a.port);
		cr_assert_eq(memcmp(a.addr, b.addr, 16), 0, "'%s'", text);
		for (const char *p = text; *p; p++)
			cr_assert(!(*p >= 'A' && *p <= 'F'), "lower case: '%s'", text);
		cr_assert_null(strstr(text, ":::"));
		const char *gap = strstr(text, "::");
		cr_assert(gap == NULL || strstr(gap + 1, "::") == NULL, "one '::' at most: '%s'", text);
		/* no leading zeros; a lone zero group only where no run of two or more is left */
		bool has_zero_run = false;
		for (int g = 0; g + 1 < 8; g++)
			has_zero_run |= a.addr[2 * g] == 0 && a.addr[2 * g + 1] == 0 &&
			                a.addr[2 * g + 2] == 0 && a.addr[2 * g + 3] == 0;
		cr_assert_eq(gap != NULL, has_zero_run, "'::' exactly when two zero groups meet: '%s'",
		             text);
		for (const char *t = text + 1; *t && *t != ']';) {
			size_t w = strcspn(t, ":]");
			cr_assert(w <= 4 && (w <= 1 || t[0] != '0'), "group in '%s'", text);
			t += w;
			if (*t == ':')
				t++;
		}
	}
	/* the longest forms fit RC_CFG_ADDR_TEXT_MAX exactly enough */
	rc_cfg_addr a = { .family = RC_ADDR_IPV6, .port = 65535 };
	memset(a.addr, 0xff, 16);
	char text[RC_CFG_ADDR_TEXT_MAX];
	cr_assert_gt(rc_cfg_addr_format(&a, text, sizeof text), 0);
	cr_assert_str_eq(text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	cr_assert_eq(
	        rc_cfg_addr_format(&a, text, strlen("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")),
	        0, "does not fit: 0");
	static const uint8_t m[16] = { [10] = 0xff, [11] = 0xff, 255, 255, 255, 255 };
	memcpy(a.addr, m, 16);
	cr_assert_gt(rc_cfg_addr_format(&a, text, sizeof text), 0);
	cr_assert_str_eq(text, "[::ffff:255.255.255.255]:65535");
}

/* ---- CPU lists ------------------------------------------------------------------------------- */

Test(cfg, cpu_lists)
{
	uint64_t mask[RC_CFG_CPUS_MAX / 64];
	uint32_t n;
	cr_assert_eq(rc_cfg_cpus_parse("0-3,6", mask, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(mask[0], 0x4Full);
	for (size_t i = 1; i < RC_CFG_CPUS_MAX / 64; i++)
		cr_assert_eq(mask[i], 0);
	cr_assert_eq(rc_cfg_cpus_parse("", mask, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(rc_cfg_cpus_parse("1023", mask, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(mask[15], 1ull << 63);
	cr_assert_eq(rc_cfg_cpus_parse("0-1023", mask, &n), 0);
	cr_assert_eq(n, 1024);
	cr_assert_eq(rc_cfg_cpus_parse("5-5,0-3,2", mask, &n), 0, "overlaps are a set");
	cr_assert_eq(n, 5);

	static const char *const bad[] = { "1024",
		                               "0-1024",
		                               "3-0",
		                               "0-",
		                               "-1",
		                               "0,,1",
		                               "0,",
		                               ",0",
		                               " 0",
		                               "0 ",
		                               "a",
		                               "0-3-5",
		                               "0x1",
		                               "1;2",
		                               "+1",
		                               "0-3,",
		                               "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t m2[RC_CFG_CPUS_MAX / 64] = { 7 };
		uint32_t n2 = 99;
		cr_assert_eq(rc_cfg_cpus_parse(bad[i], m2, &n2), -EINVAL, "'%s'", bad[i]);
		cr_assert_eq(n2, 99);
		cr_assert_eq(m2[0], 7);
		assert_set_fails("cpus", bad[i], NULL);
	}
	assert_set_fails("cpus", "3-0",
	                 "cpus: '3-0' is not allowed: expected a CPU list like 0-3,6 "
	                 "(CPUs 0..1023), or empty (the affinity mask)");

	assert_set_ok("cpus", "6,3,2,1,0", "0-3,6");
	assert_set_ok("cpus", "1,3,5", "1,3,5");
	assert_set_ok("cpus", "0-1023", "0-1023");
	assert_set_ok("cpus", "", "");
	rc_cfg c;
	rc_cfg_defaults(&c);
	cr_assert_eq(rc_cfg_set(&c, "cpus", "2,7-8", NULL, 0), 0);
	cr_assert_eq(c.cpu_count, 3);
	for (uint32_t cpu = 0; cpu < RC_CFG_CPUS_MAX + 5; cpu++)
		cr_assert_eq(rc_cfg_cpu_isset(&c, cpu), cpu == 2 || cpu == 7 || cpu == 8, "cpu %u", cpu);
	/* every other CPU: the longest canonical text */
	char list[4096] = "";
	for (uint32_t cpu = 0; cpu < RC_CFG_CPUS_MAX; cpu += 2)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%u", cpu ? "," : "", cpu);
	assert_set_ok("cpus", list, list);
}

/* ---- tokens and origins ---------------------------------------------------------------------- */

Test(cfg, publish_token)
{
	char tok[RC_CFG_TOKEN_MAX + 2];
	memset(tok, 'a', sizeof tok);
	tok[RC_CFG_TOKEN_MAX] = '\0';
	assert_set_ok("publish-token", tok, tok);
	tok[RC_CFG_TOKEN_MAX] = 'a';
	tok[RC_CFG_TOKEN_MAX + 1] = '\0';
	assert_set_fails("publish-token", tok, NULL);
	assert_set_ok("publish-token", "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
	              "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}");
	static const char *const bad[] = { "a b", "tab\there", "del\x7f", "caf\xc3\xa9", "nl\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_set_fails("publish-token", bad[i],
		                 "publish-token: the value given is not "
		                 "allowed: expected 1..256 bytes of printable ASCII without space, or "
		                 "empty (anyone may publish)");
}

Test(cfg, origins)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_set(&c, "origins",
	                        " https://a.example ,http://localhost:8080,null,"
	                        "chrome-extension://abc,http://[::1]:9",
	                        err, sizeof err),
	             0, "%s", err);
	cr_assert_eq(c.origin_count, 5);
	const char *list[8];
	cr_assert_eq(rc_cfg_origins(&c, list, 8), 5);
	cr_assert_str_eq(list[0], "https://a.example");
	cr_assert_str_eq(list[1], "http://localhost:8080");
	cr_assert_str_eq(list[2], "null");
	cr_assert_str_eq(list[3], "chrome-extension://abc");
	cr_assert_str_eq(list[4], "http://[::1]:9");
	const char *two[2] = { NULL, NULL };
	cr_assert_eq(rc_cfg_origins(&c, two, 2), 5, "the count even when cap is smaller");
	cr_assert_str_eq(two[1], "http://localhost:8080");
	cr_assert_eq(rc_cfg_set(&c, "origins", "  ", err, sizeof err), 0, "blank: any origin");
	cr_assert_eq(c.origin_count, 0);
	cr_assert_eq(rc_cfg_origins(&c, list, 8), 0);

	const char *a = "expected comma-separated origins, each scheme://host[:port] without a path "
	                "or null, at most 32, or empty (any origin)";
	char want[RC_CFG_ERR_MAX];
	static const char *const bad[] = {
		"https://a.example/", "a.example", "https://",   "http://a?x",
		"http://a#f",         "1http://a", "://a",       "https:/a",
		"https://a b",        "NULL",      "http://a\"b"
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(want, sizeof want, "origins: '%s' is not an origin: %s", bad[i], a);
		assert_set_fails("origins", bad[i], want);
	}
	snprintf(want, sizeof want, "origins: 'null,,null' has an empty item: %s", a);
	assert_set_fails("origins", "null,,null", want);
	snprintf(want, sizeof want, "origins: 'null,' has an empty item: %s", a);
	assert_set_fails("origins", "null,", want);
	assert_set_fails("origins", ",", NULL);

	char many[4096] = "";
	for (int i = 0; i < RC_CFG_ORIGINS_MAX; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%shttp://h%d", i ? "," : "", i);
	rc_cfg_defaults(&c);
	cr_assert_eq(rc_cfg_set(&c, "origins", many, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.origin_count, RC_CFG_ORIGINS_MAX);
	strcat(many, ",null");
	snprintf(want, sizeof want, "origins: too many origins (at most 32, 2048 bytes in all): %s", a);
	assert_set_fails("origins", many, want);
	/* the byte budget: 31 long origins */
	char longs[8192] = "";
	for (int i = 0; i < 31; i++) {
		snprintf(longs + strlen(longs), sizeof longs - strlen(longs), "%shttps://", i ? "," : "");
		size_t l = strlen(longs);
		memset(longs + l, 'h', 80);
		longs[l + 80] = '\0';
	}
	assert_set_fails("origins", longs, want);
}

/* ---- validation ------------------------------------------------------------------------------ */

static void assert_invalid(const rc_cfg *c, const char *want)
{
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(rc_cfg_validate(c, err, sizeof err), -EINVAL, "expected: %s", want);
	cr_assert_str_eq(err, want);
}

static void assert_valid(const rc_cfg *c)
{
	char err[RC_CFG_ERR_MAX] = "x";
	cr_assert_eq(rc_cfg_validate(c, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(err, "");
}

Test(cfg, validate_every_relation_at_its_boundary)
{
	rc_cfg c;

	/* the largest message with its header room: in one buffer, or in a chain within
	 * large-bytes-max */
	rc_cfg_defaults(&c);
	c.message_max_bytes = (64u << 20) - 256;
	assert_valid(&c);
	c.message_max_bytes++;
	assert_invalid(&c, "message-max-bytes 67108609 takes 1025 buffers of 65536 bytes with its "
	                   "header room, more than large-bytes-max 67108864 holds (1024): raise "
	                   "large-bytes-max to at least 67174400 or lower message-max-bytes");
	/* one buffer needs no large-message memory at all */
	rc_cfg_defaults(&c);
	c.large_bytes_max = 1;
	c.message_max_bytes = 65280;
	assert_valid(&c);

	/* ... and within the pool above its reserve (2048 - 256 buffers) */
	rc_cfg_defaults(&c);
	c.large_bytes_max = 1u << 30;
	c.message_max_bytes = 1792u * 65536 - 256;
	assert_valid(&c);
	c.message_max_bytes++;
	assert_invalid(&c, "message-max-bytes 117440257 takes 1793 buffers of 65536 bytes with its "
	                   "header room, more than the 1792 that pool-buffers 2048 leaves above its "
	                   "reserve of one eighth: raise pool-buffers or lower message-max-bytes");

	/* queue-bytes-max need not hold the largest message (an empty queue takes any message):
	 * 16 MiB messages with the default 4 MiB queues, a chain of 257 buffers within large-bytes-max
	 * (1024) and the pool above its reserve (1792) */
	rc_cfg_defaults(&c);
	cr_assert_eq(c.queue_bytes_max, 4u << 20);
	c.message_max_bytes = 16u << 20;
	assert_valid(&c);
	c.queue_bytes_max = 1;
	assert_valid(&c);

	/* the pool holds one full queue */
	rc_cfg_defaults(&c);
	c.message_max_bytes = 65280;
	c.pool_buffers = 16;
	c.queue_bytes_max = 16 * 65536;
	assert_valid(&c);
	c.queue_bytes_max++;
	assert_invalid(&c, "queue-bytes-max 1048577 is more than the whole pool (pool-buffers 16 * "
	                   "buffer-size-bytes 65536)");

	/* a queue's ring fits one buffer */
	rc_cfg_defaults(&c);
	c.queue_msgs_max = 8192;
	assert_valid(&c);
	c.queue_msgs_max = 16384;
	assert_invalid(&c, "queue-msgs-max 16384 needs 131072 bytes of ring, more than one buffer "
	                   "(buffer-size-bytes 65536): at most 8192");

	/* a request head fits one buffer */
	rc_cfg_defaults(&c);
	c.buffer_size_bytes = 16384;
	c.message_max_bytes = 1000;
	c.header_bytes_max = 16384;
	assert_valid(&c);
	c.header_bytes_max = 16385;
	assert_invalid(&c, "header-bytes-max 16385 is more than one buffer (buffer-size-bytes 16384), "
	                   "where a request head is read");

	/* one worker's region */
	rc_cfg_defaults(&c);
	c.buffer_size_bytes = 16u << 20;
	c.recv_buffers = 2048;
	c.pool_buffers = 2048;
	assert_valid(&c);
	c.pool_buffers = 2049;
	assert_invalid(&c, "(recv-buffers 2048 + pool-buffers 2049) * buffer-size-bytes 16777216 = "
	                   "68736253952 bytes per worker, more than 68719476736");
}

/* Every range again, for a struct filled by hand: timeouts > 0, powers of two; and the fields no
 * setting can get wrong. */
Test(cfg, validate_ranges_and_fields_filled_by_hand)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	c.idle_timeout_ms = 0;
	assert_invalid(&c, "idle-timeout-ms: 0 is out of range: expected an integer 1..86400000 "
	                   "(milliseconds)");
	rc_cfg_defaults(&c);
	c.drain_timeout_ms = 0;
	assert_invalid(&c, "drain-timeout-ms: 0 is out of range: expected an integer 1..86400000 "
	                   "(milliseconds)");
	rc_cfg_defaults(&c);
	c.buffer_size_bytes = 65536 + 4096;
	assert_invalid(&c, "buffer-size-bytes: 69632 is not a power of two: expected a power of two "
	                   "16384..16777216 (bytes; suffix K, M or G allowed)");
	rc_cfg_defaults(&c);
	c.queue_msgs_max = 1000;
	assert_invalid(&c, "queue-msgs-max: 1000 is not a power of two: expected a power of two "
	                   "1..1048576");
	rc_cfg_defaults(&c);
	c.recv_buffers = 0;
	assert_invalid(&c, "recv-buffers: 0 is out of range: expected a power of two 1..32768");
	rc_cfg_defaults(&c);
	c.topics_per_connection_max = 65;
	assert_invalid(&c, "topics-per-connection-max: 65 is out of range: expected an integer 1..64");

	const char *fields =
	        "a listen, tls, slow-policy, log-level, origins or publish-token field holds "
	        "a value no setting can produce";
	rc_cfg_defaults(&c);
	c.listen.family = 5;
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	c.slow_policy = (enum rc_outq_policy)RC_OUTQ_POLICY_COUNT;
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	c.log_level = (enum rc_log_level)RC_LOG_LEVEL_COUNT;
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	c.origin_count = RC_CFG_ORIGINS_MAX + 1;
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	strcpy(c.publish_token, "a b");
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	memset(c.publish_token, 'a', sizeof c.publish_token);
	assert_invalid(&c, fields);
	rc_cfg_defaults(&c);
	memset(c.admin_token, 'a', sizeof c.admin_token);
	assert_invalid(&c, fields);
}

/* The admin view shows every client: anywhere but loopback, only behind a token. */
Test(cfg, admin_listen_off_loopback_needs_a_token)
{
	static const char *const loopback[] = {
		"127.0.0.1:9091",          "127.1.2.3:0", "localhost:1", "[::1]:9091",
		"[::ffff:127.0.0.1]:9091", "off"
	};
	for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
		rc_cfg c;
		rc_cfg_defaults(&c);
		char err[RC_CFG_ERR_MAX];
		cr_assert_eq(rc_cfg_set(&c, "admin-listen", loopback[i], err, sizeof err), 0, "%s", err);
		assert_valid(&c);
	}
	static const char *const open[] = { "0.0.0.0:9091", "10.1.2.3:1", "[::]:9091",
		                                "[2001:db8::1]:80", "[::ffff:10.0.0.1]:1" };
	for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
		rc_cfg c;
		rc_cfg_defaults(&c);
		char err[RC_CFG_ERR_MAX], want[RC_CFG_ERR_MAX];
		cr_assert_eq(rc_cfg_set(&c, "admin-listen", open[i], err, sizeof err), 0, "%s", err);
		char canon[RC_CFG_ADDR_TEXT_MAX];
		get(&c, "admin-listen", canon, sizeof canon);
		snprintf(want, sizeof want,
		         "admin-listen %s is not a loopback address: set admin-token too, or listen on "
		         "127.0.0.1",
		         canon);
		assert_invalid(&c, want);
		cr_assert_eq(rc_cfg_set(&c, "admin-token", "s3cret", err, sizeof err), 0, "%s", err);
		assert_valid(&c);
	}
	/* from the command line, the way the server is started */
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(LOAD(&c, NULL, err, "--admin-listen=0.0.0.0:9091"), -EINVAL);
	cr_assert(strstr(err, "admin-listen") != NULL && strstr(err, "admin-token") != NULL, "%s", err);
	cr_assert_eq(LOAD(&c, NULL, err, "--admin-listen=0.0.0.0:9091", "--admin-token=t"), RC_CFG_RUN,
	             "%s", err);
	assert_set_fails("admin-token", "a b",
	                 "admin-token: the value given is not allowed: expected 1..256 bytes of "
	                 "printable ASCII without space, or empty (a loopback admin-listen only)");
}

/* A takeover needs the running server's socket, and a Unix socket's path is short. */
Test(cfg, takeover_needs_its_socket)
{
	rc_cfg c;
	rc_cfg_defaults(&c);
	cr_assert_str_eq(c.takeover_socket, "");
	cr_assert(!c.takeover);
	cr_assert_eq(c.takeover_timeout_ms, 30000);
	char err[RC_CFG_ERR_MAX];
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover=true"), -EINVAL);
	cr_assert_str_eq(err, "takeover needs takeover-socket: where the running server is asked");
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover=true", "--takeover-socket=/run/rc.sock"),
	             RC_CFG_RUN, "%s", err);
	cr_assert(c.takeover);
	cr_assert_str_eq(c.takeover_socket, "/run/rc.sock");
	/* a boolean alone is true; the next word is its value only if it is a boolean */
	rc_cfg_defaults(&c);
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover", "--takeover-socket", "/run/rc.sock"), RC_CFG_RUN,
	             "%s", err);
	cr_assert(c.takeover);
	cr_assert_str_eq(c.takeover_socket, "/run/rc.sock");
	rc_cfg_defaults(&c);
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover-socket", "/run/rc.sock", "--takeover"), RC_CFG_RUN,
	             "%s", err);
	cr_assert(c.takeover, "--takeover last, with no word after it");
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover-socket", "t.sock", "--takeover", "no"), RC_CFG_RUN,
	             "%s", err);
	cr_assert(!c.takeover, "--takeover no");
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover", "t.sock"), -EINVAL);
	cr_assert_str_eq(err, "unexpected argument 't.sock' (every setting is --key VALUE)");
	cr_assert_eq(LOAD(&c, NULL, err, "--takeover-socket=/run/rc.sock"), RC_CFG_RUN, "%s", err);
	char path[RC_CFG_UNIX_PATH_MAX + 2];
	memset(path, 'p', sizeof path);
	path[RC_CFG_UNIX_PATH_MAX] = '\0'; /* 107 bytes: the longest */
	rc_cfg_defaults(&c);
	cr_assert_eq(rc_cfg_set(&c, "takeover-socket", path, err, sizeof err), 0, "%s", err);
	assert_valid(&c);
	path[RC_CFG_UNIX_PATH_MAX] = 'p';
	path[RC_CFG_UNIX_PATH_MAX + 1] = '\0'; /* 108 */
	cr_assert_eq(rc_cfg_set(&c, "takeover-socket", path, err, sizeof err), 0, "%s", err);
	assert_invalid(&c, "takeover-socket is 108 bytes long: a Unix socket's path takes at most 107");
	assert_set_fails("takeover-socket", "a\nb", NULL);
	assert_set_fails("takeover-timeout-ms", "99",
	                 "takeover-timeout-ms: 99 is out of range: expected an integer 100..3600000 "
	                 "(milliseconds)");
}

/* ---- usage and print ------------------------------------------------------------------------- */

static char *capture(void (*fn)(FILE *, const void *), const void *arg, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	cr_assert_not_null(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void usage_fn(FILE *f, const void *arg)
{
	rc_cfg_usage(f, arg);
}


Test(cfg, usage_lists_every_key_with_its_default)
{
	size_t len;
	char *u = capture(usage_fn, "ringcast", &len);
	cr_assert_eq(strncmp(u, "Usage: ringcast [OPTION]...\n", 28), 0);
	rc_cfg d;
	rc_cfg_defaults(&d);
	for (size_t i = 0; i < rc_cfg_key_count(); i++) {
		const char *key = rc_cfg_key_name(i);
		char head[96];
		snprintf(head, sizeof head, "\n  --%s ", key);
		const char *block = strstr(u, head);
		cr_assert_not_null(block, "--%s in usage", key);
		const char *end = strstr(block + 1, "\n  -");
		cr_assert_not_null(end);
		char v[4096], want[4200];
		get(&d, key, v, sizeof v);
		snprintf(want, sizeof want, "\n        Default: %s\n", v[0] ? v : "(empty)");
		const char *dflt = strstr(block, want);
		cr_assert(dflt != NULL && dflt < end + 1, "--%s shows '%s'", key, want + 1);
		const char *allowed = strstr(block, "\n        Allowed: ");
		cr_assert(allowed != NULL && allowed < end, "--%s says what is allowed", key);
	}
	cr_assert_not_null(strstr(u, "\n  -c, --config FILE\n"));
	cr_assert_not_null(strstr(u, "\n  -h, --help\n"));
	cr_assert_not_null(strstr(u, "\n  -V, --version\n"));
	cr_assert_not_null(strstr(u, "RINGCAST_KEY"));
	cr_assert_not_null(strstr(u, "Default: 127.0.0.1:8080\n"));
	cr_assert_not_null(strstr(u, "Default: drop-oldest\n"));
	/* lines stay readable */
	for (const char *p = u; *p;) {
		const char *nl = strchr(p, '\n');
		cr_assert_not_null(nl);
		cr_assert_leq(nl - p, 100, "line '%.*s'", (int)(nl - p), p);
		p = nl + 1;
	}
	free(u);
	u = capture(usage_fn, NULL, &len);
	cr_assert_eq(strncmp(u, "Usage: ringcast [OPTION]...\n", 28), 0);
	free(u);
}

/* Every key's value as rc_cfg_get gives it, written as a config file, loads back to the same
 * settings. */
Test(cfg, get_of_every_key_loads_back)
{
	rc_cfg c;
	char err[RC_CFG_ERR_MAX];
	char *envp[] = { (char *)"RINGCAST_PUBLISH_TOKEN=hunter2", NULL };
	cr_assert_eq(LOAD(&c, envp, err, "--listen=[2001:db8::7]:99", "--origins=null,http://x:1",
	                  "--cpus=1,3", "--slow-policy=disconnect", "--allow-no-origin=no",
	                  "--queue-bytes-max=2M", "--log-level=debug", "--workers=2"),
	             RC_CFG_RUN, "%s", err);
	static char file[64 * 1024];
	size_t len = 0;
	for (size_t i = 0; i < rc_cfg_key_count(); i++) {
		char v[2 * RC_CFG_ORIGINS_BYTES];
		get(&c, rc_cfg_key_name(i), v, sizeof v);
		len += (size_t)snprintf(file + len, sizeof file - len, "%s=%s\n", rc_cfg_key_name(i), v);
		cr_assert_lt(len, sizeof file);
	}
	cr_assert_eq(strncmp(file, "listen=[2001:db8::7]:99\n", 24), 0);
	cr_assert_not_null(strstr(file, "\nqueue-bytes-max=2097152\n"));
	cr_assert_not_null(strstr(file, "\npublish-token=hunter2\n"));
	rc_cfg back;
	rc_cfg_defaults(&back);
	cr_assert_eq(rc_cfg_load_file(&back, conf(file), err, sizeof err), 0, "%s", err);
	cr_assert_eq(memcmp(&back, &c, sizeof c), 0);

	/* empty values come back empty */
	rc_cfg_defaults(&c);
	char v[64];
	get(&c, "publish-token", v, sizeof v);
	cr_assert_str_eq(v, "");
	get(&c, "origins", v, sizeof v);
	cr_assert_str_eq(v, "");
	get(&c, "cpus", v, sizeof v);
	cr_assert_str_eq(v, "");
}

/* subscribe-token-topics: names and prefixes, and what matches them. */
Test(cfg, topic_lists)
{
	const char *ok[] = { "", "*", "a", "a,b", "prices.*", "a,prices.*,*", "x:y/z@w" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_set_ok("subscribe-token-topics", ok[i], ok[i]);
	const char *bad[] = { ",", "a,", ",a", "a,,b", "a*b", "**", "a b", "caf\xc3\xa9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_set_fails("subscribe-token-topics", bad[i], NULL);
	const struct {
		const char *list, *topic;
		bool in;
	} v[] = {
		{ "", "a", false },
		{ "*", "anything", true },
		{ "a", "a", true },
		{ "a", "ab", false },
		{ "a*", "ab", true },
		{ "a*", "a", true },
		{ "x,prices.*", "prices.BTC", true },
		{ "x,prices.*", "prices", false },
		{ "x,prices.*", "x", true },
		{ "x,prices.*", "y", false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_assert_eq(
		        rc_cfg_topic_listed(v[i].list, (const uint8_t *)v[i].topic, strlen(v[i].topic)),
		        v[i].in, "%s in %s", v[i].topic, v[i].list);
}
