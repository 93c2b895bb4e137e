/* options: ringcast-bench's command line, parsed once into a struct opts that is read-only after.
 *
 * Every flag is one row of the flag table in options.c (name, short name, type, range, field);
 * the chosen workload's `defaults` hook fills in its presets for what the command line left out
 * and its `check` hook refuses the combinations it cannot run (bench.h).
 *
 * Use: opts_parse(&o, argc, argv) at start-up. It returns only if the command line is good: a bad
 * one ends the process with status 2 and a message on stderr that names the option (nothing on
 * stdout); --help prints the usage on stdout and ends it with status 0. */
#ifndef BENCH_OPTIONS_H
#define BENCH_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#define CPUS_MAX 64

struct workload;

/* --proto */
enum proto_mode {
	PROTO_PLAIN,
	PROTO_GENERIC,
	PROTO_V1
};

struct opts {
	const char *url;
	const struct workload *wl; /* --workload */
	enum proto_mode proto;
	uint32_t subs, pubs, size;
	uint32_t size_min, size_max; /* payload sizes, uniform; both --size unless the workload says */
	uint32_t topics, per_sub;    /* v1: topics in all, topics per subscriber */
	double zipf;                 /* v1: popularity exponent of topic k is 1/(k+1)^zipf */
	double slow_fraction;        /* slow: share of the subscribers that stop reading */
	double slow_rate;            /* slow: bytes/s a slow subscriber reads (0: nothing) */
	uint32_t connections;        /* echo, idle: --connections (0: not given) */
	const char *percentiles;     /* write the latency distribution to this file */
	const char *topic;
	bool max;        /* --max (the default unless --rate is given) */
	double rate;     /* --rate: messages per second, all publishers together */
	uint32_t window; /* --max: messages in flight, all publishers together */
	double duration_s, warmup_s, drain_s, connect_timeout_s;
	int cpus[CPUS_MAX];
	uint32_t ncpus; /* 0: one thread, not pinned */
	char cpus_text[128];
	long server_pid; /* 0: none */
	bool text;
	uint32_t connect_batch;
	uint32_t source_addrs; /* 0: let the kernel choose; n: 127.0.0.1 .. 127.0.0.n */
	uint32_t recv_buf_bytes, recv_bufs, send_batch_bytes, stall_ms;
	bool busy_poll; /* never sleep in the kernel: poll the rings */
	bool quiet;
	double reset_fraction; /* churn: share of connections ended by a reset */
	uint32_t hold_ms;      /* churn: a connection stays open 0..hold_ms after its handshake */
	uint32_t inflight;     /* churn, storm: connections in progress at once, at most */
	bool reconnect;        /* long-lived workloads: reconnect after a close or a refusal */
	uint32_t backoff_base_ms, backoff_cap_ms;
	bool tls;             /* the URL is wss:// */
	const char *tls_ca;   /* --tls-ca: verify the server with these CAs (NULL: no verification) */
	unsigned tls_version; /* --tls-version: 12 or 13 (0: negotiate) */
	bool tls_resume;      /* --tls-resume: new connections resume an earlier one's session */
};

/* Which options the command line gave. A workload's preset that must not be overridden by the
 * generic rules (the sizes: --size for both ends of the range) marks itself given too. */
struct given {
	bool subs, pubs, size, size_min, size_max, topics, per_sub, zipf, slow, proto, window;
	bool warmup, drain, rate, max;
	bool churn, inflight, ctimeout, backoff, connections, tls;
};

void opts_parse(struct opts *o, int argc, char **argv);

/* The phases of a run (CLOCK_MONOTONIC ns): t0, then --warmup, the measured --duration from
 * t_measure to t_end, then --drain until t_drain. */
struct timeline {
	uint64_t t0, t_measure, t_end, t_drain;
};

/* The timeline of o starting at t0. */
struct timeline opts_timeline(const struct opts *o, uint64_t t0);

/* "ringcast-bench: MESSAGE (--help lists the options)" on stderr, exit status 2: for the
 * workloads' check hooks. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* "plain", "v1" or "generic". */
const char *proto_name(enum proto_mode p);

#endif
