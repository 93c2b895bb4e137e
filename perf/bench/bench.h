/* ringcast-bench: how the program is cut up (docs/ringcast-bench.md says what it does, and how to
 * add a workload).
 *
 *   main.c       parse the options, run the workload, exit status
 *   options.c    the flag table, parsing, the checks every workload shares
 *   wl_*.c       one file per workload: its entry of the table below (presets, checks, which
 *                engine runs it, its part of the report)
 *   fanout*.c    the fan-out engine: long-lived connections that publish and receive (fanout,
 *                market, slow, echo, idle)
 *   churn.c      the churn engine: connections that come and go (churn, storm)
 *   handshake.c  the bench's side of the opening handshake over proto's rc_ws_client: the
 *                URL (ws://, wss://), the server's address, the requests, the verdict on the
 *                101 as an error tally key
 *   tls.c        wss://: a wolfSSL client over the bench's own buffers (its io_uring does the
 *                I/O), and what it costs
 *   topics.c     v1 topic names and their Zipf popularity
 *   stats.c      tallies, the latency histogram, the threads' counts
 *   report.c     the table on stderr and the one JSON object on stdout
 *   sys.c        clock, random numbers, memory, threads, io_uring set-up, /proc
 *
 * Ownership: the options are read-only once parsed; each engine owns the state its threads share
 * (set before they start, then atomics only) and each thread its own connections and counts,
 * merged into one report by the main thread once the threads are done.
 *
 * A workload is one entry of the table (workloads[], main.c) and one file. The engines do not
 * name workloads: they read the entry's flags, and call its hooks. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "handshake.h"
#include "topics.h"

#define BENCH_VERSION "0.1"

/* Every payload starts with a head: intended send time, sequence number, publisher, nonce. */
#define HEAD_BIN_LEN 24
#define HEAD_TEXT_LEN (2 * HEAD_BIN_LEN) /* --text: the head in hex */

struct opts;
struct given;
struct report;
struct tls_ctx;

/* What main sets up for a run, the same for every engine; read-only while it runs. */
struct bench {
	const struct opts *o;
	struct hs_addr addr;   /* the server's */
	struct hs_requests rq; /* what the connections send */
	struct topics topics;  /* v1: the topics (empty otherwise) */
	uint32_t nonce;        /* this run's, in every payload */
	struct tls_ctx *tls;   /* wss://: the TLS client context (NULL for ws://) */
	const char *sni;       /* wss:// to a host name: the name sent as SNI (else NULL) */
};

/* What a workload's entry says about it, for the engines and the option checks. */
enum workload_flag {
	WF_ECHO = 1 << 0,        /* each connection is a publisher and its own only receiver */
	WF_SLOW = 1 << 1,        /* some subscribers stop reading (--slow-fraction, --slow-rate) */
	WF_CONNECTIONS = 1 << 2, /* sized by --connections, not -n and -p */
	WF_CHURN = 1 << 3,       /* connections that come and go: the churn engine, --inflight */
	WF_HOLD = 1 << 4,        /* --hold-ms and --reset-fraction */
};

struct workload {
	const char *name;
	const char *help; /* its lines in --help, without indentation */
	unsigned flags;   /* enum workload_flag */
	/* The presets for what the command line left out (may be NULL). */
	void (*defaults)(struct opts *o, struct given *gv);
	/* Refuse, with usage_error, what this workload cannot run (may be NULL). */
	void (*check)(const struct opts *o, const struct given *gv);
	/* Run it; returns the exit status (0 ok, 1 the run did not work). */
	int (*run)(const struct bench *b);
	/* Its JSON fields between "opcode" and "mode" (may be NULL: none). */
	void (*json)(const struct opts *o, const struct report *r);
	/* The body of its table (NULL: the message traffic, report_table_traffic). */
	void (*table)(FILE *f, const struct opts *o, const struct report *r);
	/* Its lines after the errors (may be NULL). */
	void (*table_more)(FILE *f, const struct opts *o, const struct report *r);
};

/* The table, in the order of --help; the first is the default. NULL-terminated. */
extern const struct workload *const workloads[];

extern const struct workload wl_fanout, wl_market, wl_slow, wl_echo, wl_idle, wl_churn, wl_storm;

#endif
