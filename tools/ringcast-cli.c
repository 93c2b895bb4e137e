/* ringcast-cli: subscribe to and publish on a ringcast server from a shell.
 *
 *   ringcast-cli sub URL TOPIC...   print every message of the topics, one line each
 *   ringcast-cli pub URL TOPIC      publish each line of stdin (or --file) as one message
 *
 * It speaks the ringcast.v1 subprotocol (docs/protocol.md §6) over ws:// or wss://: JSON commands
 * and notices, binary PUBLISH and MESSAGE envelopes with sequence numbers. `sub` resumes where it
 * was after a lost connection (exponential backoff with full jitter, then a subscribe that asks
 * the server's history for what was missed) and, with --state FILE, across runs, so that a cron
 * job run twice in a row misses nothing its server still holds. docs/cli.md is the user's guide
 * (examples, output formats, the state file, exit statuses); --help shows the common uses.
 *
 * This file is the command line: options, the URL, the topics, and the exit status. The work is
 * in cli_sub.c and cli_pub.c over one connection layer (cli_conn.c, cli_tls.c); cli.h says how
 * the parts fit.
 *
 * Exit status: 0 done, 1 failed (a connection lost and not retried, an error notice, stdout or
 * the state file), 2 usage, 3 refused for good (a 4xx at the handshake, close 4001/4002/1008, a
 * certificate not trusted), 4 --timeout-ms passed first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define CONNECT_TIMEOUT_MS 10000
#define TIMEOUT_MAX_MS (1000ull * 86400 * 365) /* a year */

static const char USAGE[] =
        "Usage: ringcast-cli sub URL TOPIC... [OPTION]...\n"
        "       ringcast-cli pub URL TOPIC [OPTION]...\n"
        "Subscribe to and publish on a ringcast server (the ringcast.v1 subprotocol).\n"
        "\n"
        "URL is ws://HOST[:PORT][/PATH] or wss://... (PATH default /ws; port 80 or 443).\n"
        "\n"
        "sub (or subscribe): print each message of the TOPICs as one line on stdout:\n"
        "      TOPIC SEQ PAYLOAD\n"
        "  text payloads as they are (a newline written \\n, a CR \\r), binary ones as\n"
        "  base64:DATA. Notices (missed messages, resets, errors) go to stderr. When the\n"
        "  connection is lost it reconnects (backoff with jitter) and resumes where it was:\n"
        "  what the server's history still holds is replayed.\n"
        "  --json              one JSON object a line instead: {\"type\":\"message\",\"topic\",\n"
        "                      \"seq\",\"epoch\",\"retained\",\"payload\" or \"payload_b64\"};\n"
        "                      notices as {\"type\":\"missed\"|\"reset\"|\"error\",...} too\n"
        "  --count N           exit after N messages\n"
        "  --snapshot          first the latest retained message of each topic\n"
        "  --state FILE        resume from FILE's positions, and keep them there (written\n"
        "                      atomically): the next run starts where this one stopped\n"
        "  --no-reconnect      exit 1 when the connection is lost\n"
        "  --backoff-base-ms MS, --backoff-max-ms MS\n"
        "                      reconnect after a random delay in [0, min(MAX, BASE*2^n)]\n"
        "                      (defaults 100 and 10000)\n"
        "\n"
        "pub (or publish): publish each line of stdin as one text message on TOPIC, then\n"
        "  close and wait until the server has taken them all.\n"
        "  --file FILE         read FILE instead of stdin\n"
        "  --token T           the server's publish token (default: $RINGCAST_TOKEN)\n"
        "  --binary            send the lines as binary messages (any bytes)\n"
        "\n"
        "Both:\n"
        "  --timeout-ms MS     stop after MS milliseconds (sub: exit 0, or 4 if --count\n"
        "                      was not reached; pub: exit 4)\n"
        "  --ca FILE           wss://: trust the CA certificates in FILE (PEM) instead of\n"
        "                      the system's (a self-signed certificate is its own CA)\n"
        "  --insecure          wss://: do not check the server's certificate\n"
        "  --origin ORIGIN     send this Origin (for a server with an --origins list)\n"
        "  --connect-timeout-ms MS  TCP, TLS and the upgrade together (default 10000)\n"
        "  -q, --quiet         no 'connected' / 'subscribed' / 'published' lines on stderr\n"
        "  -h, --help          this text;  -V, --version\n"
        "\n"
        "Examples:\n"
        "  ringcast-cli sub ws://127.0.0.1:8080 BTC-USD ETH-USD\n"
        "  ringcast-cli sub ws://127.0.0.1:8080 BTC-USD --json --count 10\n"
        "  ringcast-cli sub wss://feed.example.com BTC-USD --snapshot --count 1 --json\n"
        "  ringcast-cli sub ws://127.0.0.1:8080 orders --state orders.state --timeout-ms 60000\n"
        "                      (from cron: each run prints what came since the last one)\n"
        "  echo '{\"bid\":42}' | ringcast-cli pub ws://127.0.0.1:8080 BTC-USD --token s3cret\n"
        "  ringcast-cli pub wss://127.0.0.1:8443 news --file headlines.txt --ca cert.pem\n"
        "\n"
        "Exit status: 0 done; 1 failed (connection lost with --no-reconnect, an error notice,\n"
        "stdout or the state file); 2 usage; 3 refused for good (HTTP 4xx at the handshake,\n"
        "close 4001/4002/1008, an untrusted certificate); 4 --timeout-ms passed first.\n"
        "docs/cli.md has the details.\n";

static _Noreturn void die_usage(const char *what, const char *arg)
{
	fprintf(stderr, "ringcast-cli: %s%s%s\n(try ringcast-cli --help)\n", what, arg ? ": " : "",
	        arg ? arg : "");
	exit(CLI_EXIT_USAGE);
}

static uint64_t parse_u64(const char *s, const char *flag, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' || v < lo || v > hi) {
		char msg[128];
		snprintf(msg, sizeof msg, "expected an integer %llu..%llu, got '%s'",
		         (unsigned long long)lo, (unsigned long long)hi, s);
		die_usage(flag, msg);
	}
	return v;
}

/* URL: ws:// or wss://. Without a path (or with "/" alone) the target is RC_APP_PATH, any query
 * kept: "ws://h:8080?x=1" opens /ws?x=1. */
static void set_url(struct cli_dest *d, const char *url)
{
	const char *why;
	d->tls = strncasecmp(url, "wss://", 6) == 0;
	char ws[4096];
	if ((size_t)snprintf(ws, sizeof ws, "ws://%s", url + (d->tls ? 6 : 0)) >= sizeof ws)
		die_usage("the URL is too long", NULL);
	if (rc_ws_url_parse(d->tls ? ws : url, &d->url, &why) < 0)
		die_usage(url, why);
	if (d->tls) { /* no port given: 443 */
		const char *a = url + 6, *colon = NULL;
		size_t an = strcspn(a, "/?#");
		for (size_t i = 0; i < an; i++) /* a port's ':' comes after any ']' of an IPv6 host */
			colon = a[i] == ':' ? a + i : a[i] == ']' ? NULL : colon;
		if (colon == NULL || colon + 1 == a + an)
			memcpy(d->url.port, "443", 4);
	}
	const char *t = d->url.target;
	if (t[1] == 0 || t[1] == '?') /* "/" or "/?QUERY": ringcast's endpoint */
		snprintf(d->target, sizeof d->target, "%s%s", RC_APP_PATH, t + 1);
	else
		snprintf(d->target, sizeof d->target, "%s", t);
}

/* A header value we put on the wire: printable ASCII (and spaces where allowed). */
static void check_value(const char *flag, const char *v, size_t max, bool spaces)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= max;
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] > 0x20 || (spaces && v[i] == ' ')) && v[i] < 0x7f;
	if (!ok)
		die_usage(flag, spaces ? "expected printable ASCII"
		                       : "expected 1-256 bytes of printable "
		                         "ASCII, no space");
}

enum {
	O_JSON = 256,
	O_COUNT,
	O_TIMEOUT,
	O_SNAPSHOT,
	O_STATE,
	O_NO_RECONNECT,
	O_BACKOFF_BASE,
	O_BACKOFF_MAX,
	O_TOKEN,
	O_FILE,
	O_BINARY,
	O_CA,
	O_INSECURE,
	O_ORIGIN,
	O_CONNECT_TIMEOUT,
};

static const struct option LONGOPTS[] = {
	{ "json", no_argument, NULL, O_JSON },
	{ "count", required_argument, NULL, O_COUNT },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "snapshot", no_argument, NULL, O_SNAPSHOT },
	{ "state", required_argument, NULL, O_STATE },
	{ "no-reconnect", no_argument, NULL, O_NO_RECONNECT },
	{ "backoff-base-ms", required_argument, NULL, O_BACKOFF_BASE },
	{ "backoff-max-ms", required_argument, NULL, O_BACKOFF_MAX },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "file", required_argument, NULL, O_FILE },
	{ "binary", no_argument, NULL, O_BINARY },
	{ "ca", required_argument, NULL, O_CA },
	{ "insecure", no_argument, NULL, O_INSECURE },
	{ "origin", required_argument, NULL, O_ORIGIN },
	{ "connect-timeout-ms", required_argument, NULL, O_CONNECT_TIMEOUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* What the command line says besides the options struct: TLS settings and which options were
 * given (an option of the other command is a mistake worth saying). */
struct extra {
	const char *ca;
	bool insecure;
	int sub_opt, pub_opt; /* an option of one command that was given (its O_ value), or 0 */
};

/* "--name" of an option, for a message. */
static const char *option_name(int c)
{
	static char name[40];
	snprintf(name, sizeof name, "--?");
	for (const struct option *lo = LONGOPTS; lo->name != NULL; lo++)
		if (lo->val == c)
			snprintf(name, sizeof name, "--%s", lo->name);
	return name;
}

/* An option of one command: sub's, or pub's (--token, --file, --binary). */
static void one_option(struct cli_opts *o, struct extra *x, int c)
{
	switch (c) {
	case O_JSON:
		o->json = true;
		break;
	case O_COUNT:
		o->count = parse_u64(optarg, "--count", 1, UINT64_MAX);
		break;
	case O_SNAPSHOT:
		o->snapshot = true;
		break;
	case O_STATE:
		o->state = optarg;
		break;
	case O_NO_RECONNECT:
		o->reconnect = false;
		break;
	case O_BACKOFF_BASE:
		o->backoff_base_ms = (uint32_t)parse_u64(optarg, "--backoff-base-ms", 1, 3600000);
		break;
	case O_BACKOFF_MAX:
		o->backoff_max_ms = (uint32_t)parse_u64(optarg, "--backoff-max-ms", 1, 3600000);
		break;
	case O_TOKEN:
		check_value("--token", optarg, RC_APP_TOKEN_MAX, false);
		o->dest.token = optarg;
		break;
	case O_FILE:
		o->file = optarg;
		break;
	case O_BINARY:
		o->binary = true;
		break;
	default:
		die_usage("unknown option", NULL);
	}
	if (c == O_TOKEN || c == O_FILE || c == O_BINARY) {
		x->pub_opt = c;
	} else {
		x->sub_opt = c;
	}
}

static void parse_options(int argc, char **argv, struct cli_opts *o, struct extra *x)
{
	int c;
	while ((c = getopt_long(argc, argv, "qhV", LONGOPTS, NULL)) != -1) {
		switch (c) {
		case O_TIMEOUT:
			o->timeout_ms = parse_u64(optarg, "--timeout-ms", 1, TIMEOUT_MAX_MS);
			break;
		case O_CA:
			x->ca = optarg;
			break;
		case O_INSECURE:
			x->insecure = true;
			break;
		case O_ORIGIN:
			check_value("--origin", optarg, 1024, false);
			o->dest.origin = optarg;
			break;
		case O_CONNECT_TIMEOUT:
			o->dest.connect_timeout_ms =
			        (uint32_t)parse_u64(optarg, "--connect-timeout-ms", 1, 3600000);
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(USAGE, stdout);
			exit(CLI_EXIT_OK);
		case 'V':
			printf("ringcast-cli %s\n", CLI_VERSION);
			exit(CLI_EXIT_OK);
		case '?':
			fprintf(stderr, "(try ringcast-cli --help)\n");
			exit(CLI_EXIT_USAGE);
		default:
			one_option(o, x, c);
			break;
		}
	}
}

/* The command, URL and topics after the options; the checks between options. Returns whether
 * the command is sub. */
static bool parse_operands(int argc, char **argv, struct cli_opts *o, const struct extra *x)
{
	if (optind >= argc)
		die_usage("missing the command: sub or pub", NULL);
	const char *cmd = argv[optind++];
	bool sub = strcmp(cmd, "sub") == 0 || strcmp(cmd, "subscribe") == 0;
	if (!sub && strcmp(cmd, "pub") != 0 && strcmp(cmd, "publish") != 0)
		die_usage("unknown command (expected sub or pub)", cmd);
	if (optind >= argc)
		die_usage("missing the URL", NULL);
	set_url(&o->dest, argv[optind++]);
	o->topics = (const char *const *)argv + optind;
	o->topics_len = (size_t)(argc - optind);
	if (o->topics_len == 0)
		die_usage(sub ? "missing the TOPIC(s) to subscribe to" : "missing the TOPIC to publish on",
		          NULL);
	if (!sub && o->topics_len > 1)
		die_usage("pub publishes on one TOPIC; unexpected", o->topics[1]);
	for (size_t i = 0; i < o->topics_len; i++)
		if (!rc_app_topic_valid((const uint8_t *)o->topics[i], strlen(o->topics[i])))
			die_usage("not a topic name (1-128 bytes of A-Z a-z 0-9 . _ - : / @)", o->topics[i]);
	if (sub && x->pub_opt)
		die_usage("an option of pub, not of sub", option_name(x->pub_opt));
	if (!sub && x->sub_opt)
		die_usage("an option of sub, not of pub", option_name(x->sub_opt));
	if (o->backoff_base_ms > o->backoff_max_ms)
		die_usage("--backoff-base-ms is above --backoff-max-ms", NULL);
	if ((x->ca || x->insecure) && !o->dest.tls)
		die_usage(x->ca ? "--ca" : "--insecure", "only for a wss:// URL");
	if (x->ca && x->insecure)
		die_usage("--ca and --insecure", "choose one");
	return sub;
}

int main(int argc, char **argv)
{
	struct cli_opts o = {
		.reconnect = true,
		.backoff_base_ms = 100,
		.backoff_max_ms = 10000,
		.dest.connect_timeout_ms = CONNECT_TIMEOUT_MS,
	};
	struct extra x = { 0 };
	parse_options(argc, argv, &o, &x);
	bool sub = parse_operands(argc, argv, &o, &x);
	if (!sub && o.dest.token == NULL && getenv("RINGCAST_TOKEN") != NULL &&
	    getenv("RINGCAST_TOKEN")[0] != 0) {
		check_value("RINGCAST_TOKEN", getenv("RINGCAST_TOKEN"), RC_APP_TOKEN_MAX, false);
		o.dest.token = getenv("RINGCAST_TOKEN");
	}
	if (o.dest.tls) {
		char err[512];
		o.dest.tls_ctx = cli_tls_ctx_new(x.ca, x.insecure, err, sizeof err);
		if (o.dest.tls_ctx == NULL) {
			fprintf(stderr, "ringcast-cli: %s\n", err);
			return x.ca ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
		}
	}
	cli_signals_init();
	int status = sub ? cli_sub_run(&o) : cli_pub_run(&o);
	cli_tls_ctx_free(o.dest.tls_ctx);
	return status;
}
