/* options: the flag table, parsing and the checks every workload shares (options.h). */
#define _GNU_SOURCE
#include "options.h"

#include <assert.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"
#include "rc_app.h"
#include "topics.h"

static const struct opts opts_default = {
	.wl = &wl_fanout,
	.proto = PROTO_PLAIN,
	.subs = 1000,
	.pubs = 1,
	.size = 64,
	.topics = 1,
	.per_sub = 1,
	.zipf = 1.0,
	.slow_fraction = 0.1,
	.topic = "bench",
	.max = true,
	/* 256: on the 2-vCPU dev VM a window of 64 left ringcast idle half the time (each round trip
	 * between the vCPUs is ~100 us) at 3.7M deliveries/s; 256 gave 9-13M, 512 10-16M at twice the
	 * latency (1000 subscribers, 64 B). 256 also stays below the per-subscriber queues of servers
	 * (ringcast: 1024 messages), so the default does not provoke drops. */
	.window = 256,
	.duration_s = 10,
	.warmup_s = 2,
	.drain_s = 2,
	.connect_timeout_s = 30,
	.connect_batch = 256,
	.recv_buf_bytes = 16384,
	.send_batch_bytes = 65536,
	.stall_ms = 1000,
	.reset_fraction = 0.2,
	.hold_ms = 50,
	.inflight = 256,
	.backoff_base_ms = 100,
	.backoff_cap_ms = 10000,
};

/* ---- the flag table --------------------------------------------------------------------------- */

enum kind {
	K_U32,    /* a number in [lo, hi] into a uint32_t */
	K_LONG,   /* a number in [lo, hi] into a long */
	K_DOUBLE, /* a number in [lo, hi] into a double */
	K_STR,    /* the argument itself */
	K_TRUE,   /* no argument: the bool is set (none: only `given`) */
	K_CALL,   /* parsed by call() */
	K_HELP,   /* no argument: the usage on stdout, exit status 0 */
};

struct flag {
	const char *name;
	char short_name; /* 0: none */
	enum kind kind;
	int field; /* offsetof(struct opts, x) + 1; 0: none */
	int given; /* offsetof(struct given, x) + 1; 0: not tracked */
	double lo, hi;
	const char *what; /* how "bad ...: VALUE" names it, if not --name */
	void (*call)(struct opts *o, const char *arg);
};

#define F(x) ((int)offsetof(struct opts, x) + 1)
#define G(x) ((int)offsetof(struct given, x) + 1)

static void set_workload(struct opts *o, const char *arg);
static void set_proto(struct opts *o, const char *arg);
static void set_cpus(struct opts *o, const char *arg);
static void set_tls_version(struct opts *o, const char *arg);

/* In this order getopt_long lists the candidates of an ambiguous abbreviation. */
static const struct flag flags[] = {
	{ "subscribers", 'n', K_U32, F(subs), G(subs), 0, 1000000, NULL, NULL },
	{ "publishers", 'p', K_U32, F(pubs), G(pubs), 1, 100000, NULL, NULL },
	{ "size", 's', K_U32, F(size), G(size), 0, 64 << 20, NULL, NULL },
	{ "topic", 0, K_STR, F(topic), 0, 0, 0, NULL, NULL },
	{ "proto", 0, K_CALL, 0, G(proto), 0, 0, NULL, set_proto },
	{ "rate", 'r', K_DOUBLE, F(rate), G(rate), 1e-3, 1e9, NULL, NULL },
	{ "max", 0, K_TRUE, 0, G(max), 0, 0, NULL, NULL },
	{ "window", 'w', K_U32, F(window), G(window), 1, 1 << 20, NULL, NULL },
	{ "duration", 'd', K_DOUBLE, F(duration_s), 0, 0.01, 1e6, NULL, NULL },
	{ "warmup", 0, K_DOUBLE, F(warmup_s), G(warmup), 0, 1e6, NULL, NULL },
	{ "drain", 0, K_DOUBLE, F(drain_s), G(drain), 0, 1e6, NULL, NULL },
	{ "cpus", 0, K_CALL, 0, 0, 0, 0, NULL, set_cpus },
	{ "server-pid", 0, K_LONG, F(server_pid), 0, 1, 1 << 30, NULL, NULL },
	{ "text", 0, K_TRUE, F(text), 0, 0, 0, NULL, NULL },
	{ "connect-batch", 0, K_U32, F(connect_batch), 0, 1, 1e6, NULL, NULL },
	{ "connect-timeout", 0, K_DOUBLE, F(connect_timeout_s), G(ctimeout), 0.1, 1e6, NULL, NULL },
	{ "source-addrs", 0, K_U32, F(source_addrs), 0, 0, 254, NULL, NULL },
	{ "recv-buf", 0, K_U32, F(recv_buf_bytes), 0, 256, 1 << 24, NULL, NULL },
	{ "recv-bufs", 0, K_U32, F(recv_bufs), 0, 1, 32768, NULL, NULL },
	{ "send-batch", 0, K_U32, F(send_batch_bytes), 0, 64, 1 << 26, NULL, NULL },
	{ "stall-ms", 0, K_U32, F(stall_ms), 0, 1, 1e7, NULL, NULL },
	{ "busy-poll", 0, K_TRUE, F(busy_poll), 0, 0, 0, NULL, NULL },
	{ "workload", 0, K_CALL, 0, 0, 0, 0, NULL, set_workload },
	{ "topics", 0, K_U32, F(topics), G(topics), 1, TOPICS_MAX, NULL, NULL },
	{ "per-sub", 0, K_U32, F(per_sub), G(per_sub), 1, RC_APP_TOPICS_MAX, NULL, NULL },
	{ "zipf", 0, K_DOUBLE, F(zipf), G(zipf), 0, 10, NULL, NULL },
	{ "size-min", 0, K_U32, F(size_min), G(size_min), 0, 64 << 20, NULL, NULL },
	{ "size-max", 0, K_U32, F(size_max), G(size_max), 0, 64 << 20, NULL, NULL },
	{ "slow-fraction", 0, K_DOUBLE, F(slow_fraction), G(slow), 1e-9, 1,
	  "--slow-fraction (0 < F <= 1)", NULL },
	{ "slow-rate", 0, K_DOUBLE, F(slow_rate), G(slow), 1, 1e12, "--slow-rate (bytes/s)", NULL },
	{ "connections", 'c', K_U32, F(connections), G(connections), 1, 1000000, NULL, NULL },
	{ "percentiles", 0, K_STR, F(percentiles), 0, 0, 0, NULL, NULL },
	{ "reset-fraction", 0, K_DOUBLE, F(reset_fraction), G(churn), 0, 1,
	  "--reset-fraction (0 <= F <= 1)", NULL },
	{ "hold-ms", 0, K_U32, F(hold_ms), G(churn), 0, 3600000, NULL, NULL },
	{ "inflight", 0, K_U32, F(inflight), G(inflight), 1, 100000, NULL, NULL },
	{ "reconnect", 0, K_TRUE, F(reconnect), 0, 0, 0, NULL, NULL },
	{ "backoff-base-ms", 0, K_U32, F(backoff_base_ms), G(backoff), 1, 3600000, NULL, NULL },
	{ "backoff-cap-ms", 0, K_U32, F(backoff_cap_ms), G(backoff), 1, 3600000, NULL, NULL },
	{ "tls-ca", 0, K_STR, F(tls_ca), G(tls), 0, 0, NULL, NULL },
	{ "tls-version", 0, K_CALL, 0, G(tls), 0, 0, NULL, set_tls_version },
	{ "tls-resume", 0, K_TRUE, F(tls_resume), G(tls), 0, 0, NULL, NULL },
	{ "quiet", 'q', K_TRUE, F(quiet), 0, 0, 0, NULL, NULL },
	{ "help", 'h', K_HELP, 0, 0, 0, 0, NULL, NULL },
};
#define NFLAGS (sizeof flags / sizeof flags[0])

/* ---- usage ------------------------------------------------------------------------------------ */

/* The --workload lines: each workload's help, the first line after the flag. */
static void usage_workloads(FILE *f)
{
	const char *lead = "      --workload NAME     ";
	for (const struct workload *const *w = workloads; *w != NULL; w++)
		for (const char *s = (*w)->help; *s;) {
			size_t n = strcspn(s, "\n");
			fprintf(f, "%s%.*s\n", lead, (int)n, s);
			lead = "                          ";
			s += n + (s[n] == '\n');
		}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ringcast-bench [--workload NAME] [options] ws[s]://HOST:PORT/PATH[?QUERY]\n"
	           "\n"
	           "A table goes to stderr, one JSON object to stdout (docs/ringcast-bench.md).\n"
	           "\n");
	usage_workloads(f);
	fprintf(f,
	        "  -n, --subscribers N     subscribers (default 1000)\n"
	        "  -p, --publishers P      publishers (default 1)\n"
	        "  -s, --size BYTES        payload size (default 64; at least 24, 48 with --text)\n"
	        "      --topic T           topic for --proto plain (default bench)\n"
	        "      --proto plain       ringcast /ws: subscribers URL?topics=T, publishers\n"
	        "                          URL?publish=T (default)\n"
	        "      --proto generic     every client connects to URL as given; a message is\n"
	        "                          expected at every client but its publisher\n"
	        "      --proto v1          ringcast.v1: URL?topics=a,b and PUBLISH frames; server\n"
	        "                          sequence numbers checked against `missed` notices\n"
	        "      --topics T          v1: topics, named TOPIC.0 .. TOPIC.T-1 if T > 1 (market: "
	        "100)\n"
	        "      --per-sub K         v1: topics per subscriber, 1..64 (market: 5)\n"
	        "      --zipf S            v1: topic k has popularity 1/(k+1)^S (default 1.0)\n"
	        "      --size-min BYTES    payload sizes uniform in [min, max] (default: --size)\n"
	        "      --size-max BYTES\n"
	        "      --slow-fraction F   slow: share of subscribers that are slow (default 0.1)\n"
	        "      --slow-rate BYTES   slow: they read BYTES/s instead of nothing\n"
	        "  -c, --connections C     echo, idle: connections (default 100, 1000)\n"
	        "      --percentiles FILE  write the latency distribution: value_us percentile count\n"
	        "  -r, --rate R            open loop: R messages/s in all, paced by intended send\n"
	        "                          times; latency is measured from them\n"
	        "      --max               closed loop, peak throughput (default)\n"
	        "  -w, --window N          --max: messages in flight, all publishers (default 256)\n"
	        "  -d, --duration SEC      measured interval (default 10)\n"
	        "      --warmup SEC        before it, not counted (default 2)\n"
	        "      --drain SEC         after it, to let deliveries arrive (default 2)\n"
	        "      --cpus LIST         one pinned thread per CPU, e.g. 1 or 2-3 (default: one\n"
	        "                          thread, not pinned)\n"
	        "      --server-pid PID    also report the server's CPU time (/proc/PID/stat)\n"
	        "      --text              send TEXT frames (head as hex) instead of BINARY\n"
	        "      --connect-batch N   connections being set up at once per thread (default 256)\n"
	        "      --connect-timeout S give up on connections not open after S s (default 30)\n"
	        "      --source-addrs N    bind sources to 127.0.0.1..N (more than ~28k connections)\n"
	        "      --recv-buf BYTES    size of each receive buffer (default 16384)\n"
	        "      --recv-bufs N       receive buffers per thread (default: connections, "
	        "256..4096)\n"
	        "      --send-batch BYTES  a publisher's send buffer (default 65536)\n"
	        "      --stall-ms MS       --max: give up on a message after MS ms without progress\n"
	        "                          (no message done, no piece of one) (default 1000)\n"
	        "      --busy-poll         never sleep: poll for completions (takes whole CPUs; keeps\n"
	        "                          the ~100 us wake-up delay of an idle vCPU out of the\n"
	        "                          send times and receive timestamps)\n"
	        "      --reset-fraction F  churn: share of connections ended by a reset (default 0.2)\n"
	        "      --hold-ms MS        churn: hold each connection 0..MS ms, uniform (default 50)\n"
	        "      --inflight N        churn, storm: connections in progress at once (default "
	        "256)\n"
	        "      --reconnect         fanout, market, slow, echo, idle: reconnect what the "
	        "server\n"
	        "                          closes or refuses, exponential backoff with full jitter\n"
	        "      --backoff-base-ms MS  first backoff (default 100)\n"
	        "      --backoff-cap-ms MS   longest backoff (default 10000)\n"
	        "      --tls-ca FILE       wss://: verify the server with these PEM CAs, and its name\n"
	        "                          (default: no verification)\n"
	        "      --tls-version V     wss://: 1.2 or 1.3 only (default: negotiate)\n"
	        "      --tls-resume        wss://: a new connection resumes the session of the\n"
	        "                          latest one of its thread (session ticket)\n"
	        "  -q, --quiet             no table on stderr\n"
	        "  -h, --help\n");
}

void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ringcast-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (--help lists the options)\n", stderr);
	va_end(ap);
	exit(2);
}

/* ---- the flags that need more than a number --------------------------------------------------- */

static void set_workload(struct opts *o, const char *arg)
{
	for (const struct workload *const *w = workloads; *w != NULL; w++)
		if (strcmp(arg, (*w)->name) == 0) {
			o->wl = *w;
			return;
		}
	char names[256];
	size_t n = 0;
	for (const struct workload *const *w = workloads; *w != NULL; w++)
		n += (size_t)snprintf(names + n, sizeof names - n, "%s%s",
		                      w == workloads ? ""
		                      : w[1] == NULL ? " or "
		                                     : ", ",
		                      (*w)->name);
	assert(n < sizeof names);
	usage_error("unknown --workload '%s' (%s)", arg, names);
}

static void set_proto(struct opts *o, const char *arg)
{
	if (strcmp(arg, "plain") == 0)
		o->proto = PROTO_PLAIN;
	else if (strcmp(arg, "generic") == 0)
		o->proto = PROTO_GENERIC;
	else if (strcmp(arg, "v1") == 0)
		o->proto = PROTO_V1;
	else
		usage_error("--proto is plain, v1 or generic, not '%s'", arg);
}

static void set_tls_version(struct opts *o, const char *arg)
{
	if (strcmp(arg, "1.2") == 0)
		o->tls_version = 12;
	else if (strcmp(arg, "1.3") == 0)
		o->tls_version = 13;
	else
		usage_error("--tls-version is 1.2 or 1.3, not '%s'", arg);
}

/* "1", "0-3", "1,3,5-6". Returns 0 or -1. */
static int cpus_parse(struct opts *o, const char *s)
{
	snprintf(o->cpus_text, sizeof o->cpus_text, "%s", s);
	o->ncpus = 0;
	while (*s) {
		char *e;
		long a = strtol(s, &e, 10), b = a;
		if (e == s || a < 0 || a >= CPU_SETSIZE)
			return -1;
		if (*e == '-') {
			s = e + 1;
			b = strtol(s, &e, 10);
			if (e == s || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long c = a; c <= b; c++) {
			if (o->ncpus == CPUS_MAX)
				return -1;
			o->cpus[o->ncpus++] = (int)c;
		}
		if (*e == ',')
			e++;
		else if (*e != 0)
			return -1;
		s = e;
	}
	return o->ncpus ? 0 : -1;
}

static void set_cpus(struct opts *o, const char *arg)
{
	if (cpus_parse(o, arg) < 0) {
		fprintf(stderr, "ringcast-bench: bad --cpus: %s\n", arg);
		exit(2);
	}
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static double parse_num(const char *s, const char *what, double lo, double hi)
{
	char *e;
	double v = strtod(s, &e);
	if (e == s || *e != 0 || !(v >= lo && v <= hi)) {
		fprintf(stderr, "ringcast-bench: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* Apply flag f with argument arg (NULL for K_TRUE). */
static void flag_apply(const struct flag *f, const char *arg, struct opts *o, struct given *gv)
{
	char what[64];
	snprintf(what, sizeof what, "--%s", f->name);
	if (f->what != NULL)
		snprintf(what, sizeof what, "%s", f->what);
	void *field = f->field ? (char *)o + f->field - 1 : NULL;
	switch (f->kind) {
	case K_U32:
		*(uint32_t *)field = (uint32_t)parse_num(arg, what, f->lo, f->hi);
		break;
	case K_LONG:
		*(long *)field = (long)parse_num(arg, what, f->lo, f->hi);
		break;
	case K_DOUBLE:
		*(double *)field = parse_num(arg, what, f->lo, f->hi);
		break;
	case K_STR:
		*(const char **)field = arg;
		break;
	case K_TRUE:
		if (field != NULL)
			*(bool *)field = true;
		break;
	case K_CALL:
		f->call(o, arg);
		break;
	case K_HELP:
		usage(stdout);
		exit(0);
	}
	if (f->given)
		*(bool *)((char *)gv + f->given - 1) = true;
}

/* getopt_long's tables, from the flag table: a flag with a short name answers with it, the others
 * with 256 + their row. */
static void getopt_tables(struct option *lo, char *shorts)
{
	size_t ns = 0;
	for (size_t i = 0; i < NFLAGS; i++) {
		const struct flag *f = &flags[i];
		bool arg = f->kind != K_TRUE && f->kind != K_HELP;
		lo[i] = (struct option){ f->name, arg ? required_argument : no_argument, NULL,
			                     f->short_name ? f->short_name : 256 + (int)i };
		if (f->short_name) {
			shorts[ns++] = f->short_name;
			if (arg)
				shorts[ns++] = ':';
		}
	}
	lo[NFLAGS] = (struct option){ 0 };
	shorts[ns] = 0;
}

static const struct flag *flag_of(int ch)
{
	if (ch >= 256 && ch < 256 + (int)NFLAGS)
		return &flags[ch - 256];
	for (size_t i = 0; i < NFLAGS; i++)
		if (flags[i].short_name && flags[i].short_name == ch)
			return &flags[i];
	return NULL;
}

/* The workload's presets, then the sizes: --size-min/--size-max, else --size for both. */
static void workload_apply(struct opts *o, struct given *gv)
{
	if (o->wl->defaults != NULL)
		o->wl->defaults(o, gv);
	if (!gv->size_min)
		o->size_min = o->size;
	if (!gv->size_max)
		o->size_max = o->size;
}

/* The combinations that cannot work, each said in words. */
static void opts_check(struct opts *o, const struct given *gv)
{
	const struct workload *wl = o->wl;
	bool v1 = o->proto == PROTO_V1;
	if (gv->rate && gv->max)
		usage_error("--rate and --max exclude each other");
	if (!v1 && (gv->topics || gv->per_sub || gv->zipf))
		usage_error("--topics, --per-sub and --zipf need ringcast.v1 (--proto v1 or --workload "
		            "market)");
	if (gv->slow && !(wl->flags & WF_SLOW))
		usage_error("--slow-fraction and --slow-rate belong to --workload slow");
	if (gv->churn && !(wl->flags & WF_HOLD))
		usage_error("--reset-fraction and --hold-ms belong to --workload churn");
	if (gv->inflight && !(wl->flags & WF_CHURN))
		usage_error("--inflight belongs to --workload churn and storm");
	if (wl->check != NULL)
		wl->check(o, gv);
	if (o->reconnect && (wl->flags & WF_CHURN))
		usage_error("--reconnect is for the workloads with long-lived connections, not %s",
		            wl->name);
	if (gv->backoff && !o->reconnect)
		usage_error("--backoff-base-ms and --backoff-cap-ms need --reconnect");
	if (o->backoff_base_ms > o->backoff_cap_ms)
		usage_error("--backoff-base-ms %u is above --backoff-cap-ms %u", o->backoff_base_ms,
		            o->backoff_cap_ms);
	if (gv->tls && !o->tls)
		usage_error("--tls-ca, --tls-version and --tls-resume need a wss:// URL");
	if (gv->connections && !(wl->flags & WF_CONNECTIONS))
		usage_error("--connections belongs to --workload echo and idle (fanout: -n and -p)");
	if (v1 && o->max && o->topics > 1)
		usage_error("--max needs one topic (its window counts per publisher): use --rate");
	if (v1 && o->per_sub > o->topics)
		usage_error("--per-sub %u is more than the %u --topics", o->per_sub, o->topics);
	uint32_t head = o->text ? HEAD_TEXT_LEN : HEAD_BIN_LEN;
	if (o->size_min > o->size_max)
		usage_error("--size-min %u is above --size-max %u", o->size_min, o->size_max);
	if (o->size_min < head)
		usage_error("message sizes must be at least %u bytes (the head%s): --size or --size-min",
		            head, o->text ? " in hex, --text" : "");
	o->size = o->size_max;
	const uint8_t *topic = (const uint8_t *)o->topic;
	size_t tl = strlen(o->topic);
	if (o->proto != PROTO_GENERIC && !rc_app_topic_valid(topic, tl))
		usage_error("bad --topic (1-128 bytes of A-Z a-z 0-9 . _ - : / @)");
	if (v1 && o->topics > 1 && tl + 6 > RC_APP_TOPIC_MAX)
		usage_error("--topic is too long for the names TOPIC.<k> (at most %d bytes)",
		            RC_APP_TOPIC_MAX - 6);
}

void opts_parse(struct opts *o, int argc, char **argv)
{
	static struct option lo[NFLAGS + 1];
	static char shorts[2 * NFLAGS + 1];
	getopt_tables(lo, shorts);
	*o = opts_default;
	struct given gv = { 0 };
	int ch;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct flag *f = flag_of(ch);
		if (f == NULL) {
			usage(stderr);
			exit(2);
		}
		flag_apply(f, optarg, o, &gv);
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	o->url = argv[optind];
	o->tls = strncasecmp(o->url, "wss://", 6) == 0;
	if (gv.rate && gv.max) {
		fprintf(stderr, "ringcast-bench: --rate and --max exclude each other\n");
		exit(2);
	}
	workload_apply(o, &gv);
	o->max = !gv.rate;
	opts_check(o, &gv);
}

const char *proto_name(enum proto_mode p)
{
	return p == PROTO_PLAIN ? "plain" : p == PROTO_V1 ? "v1" : "generic";
}

struct timeline opts_timeline(const struct opts *o, uint64_t t0)
{
	struct timeline tl = { .t0 = t0 };
	tl.t_measure = t0 + (uint64_t)(o->warmup_s * 1e9);
	tl.t_end = tl.t_measure + (uint64_t)(o->duration_s * 1e9);
	tl.t_drain = tl.t_end + (uint64_t)(o->drain_s * 1e9);
	return tl;
}
