/* stats: what a bench thread counts, and how the threads' counts add up.
 *
 *   struct tally   a small name -> count map for the rare events worth naming in the report
 *                  (close codes, connect and handshake failures by cause, send/receive errors)
 *   histogram      log-linear latency buckets (HDR style): under 0.8% error from 0 to 137 s
 *   struct stats   one thread's counts of the fan-out engine (and the churn engine's latency,
 *                  failures and server closes), merged into one for the report
 *   struct cstats  what happened to the connections of the churn engine
 *   struct tls_counts  wss://: handshakes, resumptions, the time spent in wolfSSL (tls.c counts)
 *
 * Use: zero-initialise (no init/fini, nothing allocated); each thread counts into its own, the
 * main thread merges them once the threads are done (stats_merge, cstats_merge). */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- tally ---------------------------------------------------------------------------------- */

#define TALLY_MAX 32
struct tally {
	uint32_t n;
	struct {
		char key[40];
		uint64_t count;
	} e[TALLY_MAX];
};

/* Add k to key's count (a new key is added; once the tally is full its last entry, "other",
 * absorbs every new key). */
void tally_add(struct tally *t, const char *key, uint64_t k);

/* ---- latency histogram ---------------------------------------------------------------------- */

/* Values below 256 ns have their own bucket; above, each power of two is cut in 128 equal
 * sub-buckets, so a bucket is at most 1/128 (0.8%) of its value wide. Up to 2^37 ns (137 s):
 * 3968 buckets, 31 KiB per thread. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_TOP_BITS 37
#define HIST_MAX_NS ((1ull << HIST_TOP_BITS) - 1)
#define HIST_BUCKETS (HIST_SUB * (HIST_TOP_BITS - HIST_SUB_BITS + 1))

/* The bucket of value v (ns); values above HIST_MAX_NS go to the last. */
static inline uint32_t hist_index(uint64_t v)
{
	if (v > HIST_MAX_NS)
		v = HIST_MAX_NS;
	if (v < HIST_SUB)
		return (uint32_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	return HIST_SUB * (e - HIST_SUB_BITS + 1) + (uint32_t)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* The highest value that lands in bucket i (what HdrHistogram reports: never optimistic). */
uint64_t hist_value(uint32_t i);

/* ---- TLS ------------------------------------------------------------------------------------ */

/* The wolfSSL calls a thread makes (tls.c times each one). */
enum tls_call {
	TLS_CALL_HANDSHAKE, /* wolfSSL_connect */
	TLS_CALL_READ,      /* wolfSSL_read: decrypting */
	TLS_CALL_WRITE,     /* wolfSSL_write, wolfSSL_shutdown: encrypting */
	TLS_CALLS
};

/* wss://: one thread's TLS sessions, and its CPU time inside wolfSSL's calls (which do no I/O and
 * never block). The thread's CPU clock is a system call (~1.6 us on the dev VM, give or take a
 * microsecond): exact around a handshake's calls (milliseconds of public-key work each), too dear
 * and too coarse around each of the many small reads and writes. Those are timed with
 * CLOCK_MONOTONIC, which on a busy machine also counts the time the thread was preempted; so the
 * engine closes a "turn" (tls_turn_end) before each of its waits, and the reads' and writes' wall
 * time of the turn is converted at the share of the turn the thread was on a CPU (its CPU clock
 * read at the turn's first TLS call and at its end: two system calls per turn that did TLS).
 * Index 0 of the [2] arrays is the whole run, 1 the calls that started in the measured interval
 * [from_ns, to_ns), which the engine sets once it knows it (0, 0: none yet). */
struct tls_counts {
	uint64_t handshakes; /* completed */
	uint64_t resumed;    /* of them, by a session ticket */
	uint64_t calls[TLS_CALLS];
	uint64_t ns[2][TLS_CALLS];    /* CPU ns in the calls (converted at the ends of turns) */
	uint64_t wall[2][TLS_CALLS];  /* CLOCK_MONOTONIC ns inside the calls */
	uint64_t writes, records;     /* tls_write calls and the application data records they made */
	uint64_t plain_out, plain_in; /* application bytes encrypted, decrypted */
	uint64_t from_ns, to_ns;
	/* the turn in progress: since when, and the reads' and writes' wall ns not converted yet */
	bool turn_open;
	uint64_t turn_cpu0, turn_wall0;
	uint64_t turn_ns[2][TLS_CALLS];
	char version[16]; /* of the sessions: "TLSv1.3", or "mixed" */
	char cipher[48];
	char alpn[16];        /* the protocol the server chose, "-" if none */
	char first_error[96]; /* the first failure in wolfSSL's words, "" if none */
};

/* The CPU seconds spent in calls of kind k (TLS_CALLS: all kinds), in the whole run (in 0) or the
 * measured interval (in 1). */
double tls_cpu_s(const struct tls_counts *t, int k, int in);

/* ---- one thread's counts -------------------------------------------------------------------- */

struct stats {
	uint64_t published;        /* messages with their intended time in the measured interval */
	uint64_t published_total;  /* all messages sent, warmup included */
	uint64_t unsent;           /* --rate: messages due in the measured interval never sent */
	uint64_t expected;         /* sum over measured messages of the receivers expecting each */
	uint64_t delivered;        /* deliveries of measured messages (new sequence numbers only) */
	uint64_t delivered_total;  /* deliveries of any message, warmup and drain included */
	uint64_t arrivals;         /* deliveries that arrived within the measured interval */
	uint64_t gaps;             /* sequence numbers skipped over, whole run */
	uint64_t lost_tail;        /* at the end: sent but never received (after the last received) */
	uint64_t dups;             /* a sequence number at or below one already received */
	uint64_t self;             /* generic: own messages echoed back (not expected, not counted) */
	uint64_t foreign;          /* data messages without our head or nonce */
	uint64_t unexpected;       /* plain: data at a connection that subscribes to nothing */
	uint64_t stalls;           /* --max: window slots given up on after --stall-ms */
	uint64_t closed_in_run;    /* connections that ended during the run, not by us */
	uint64_t missed;           /* v1: messages the server said it dropped (`missed` counts) */
	uint64_t unexplained;      /* v1: server sequence numbers skipped that no `missed` explains */
	uint64_t seq_back;         /* v1: a server sequence number at or below the previous one */
	uint64_t notices;          /* v1: notices received (subscribed, missed, ...) */
	uint64_t reconnects;       /* --reconnect: attempts started */
	uint64_t reconnected;      /* --reconnect: attempts that completed the handshake */
	uint64_t reconnect_failed; /* --reconnect: attempts that did not open (errors says why) */
	uint64_t waits_told;       /* --reconnect: waits lengthened by Retry-After, 1012 or 1013 */
	uint64_t sends, send_bytes, recv_cqes, recv_bytes, enobufs, rearms;
	uint64_t lat_count, lat_sum_ns, lat_max_ns;
	uint64_t lag_sum_ns, lag_max_ns; /* --rate: how late this bench sent measured messages */
	uint64_t hist[HIST_BUCKETS];
	struct tally closes;   /* close codes the server sent first (1006: no close frame) */
	struct tally errors;   /* connect, handshake, protocol, send and receive failures */
	struct tls_counts tls; /* wss:// */
};

/* One latency sample (ns). */
static inline void stats_latency(struct stats *s, uint64_t lat)
{
	s->lat_count++;
	s->lat_sum_ns += lat;
	if (lat > s->lat_max_ns)
		s->lat_max_ns = lat;
	s->hist[hist_index(lat)]++;
}

/* Add `from` to `to`: counts add up, maxima are the larger. */
void stats_merge(struct stats *to, const struct stats *from);

/* The latency at quantile q (0..1) in microseconds, never above the largest value recorded; 0
 * without samples. */
double hist_quantile_us(const struct stats *s, double q);

/* ---- the churn engine's connections --------------------------------------------------------- */

/* What happened to the connections started in the measured interval. */
struct cstats {
	uint64_t attempted; /* started (socket and connect) */
	uint64_t completed; /* got a valid 101 */
	uint64_t failed;    /* did not: by kind in stats.errors */
	uint64_t unstarted; /* churn: due in the interval, never started (no free slot) */
	uint64_t abandoned; /* still in progress at the end of the drain */
	uint64_t inflight_max;
	struct tally ends; /* how the completed ones ended: clean, reset, server_<code>, ... */
};

/* Add `from` to `to`; inflight_max adds up too (a bound: the threads' peaks need not coincide). */
void cstats_merge(struct cstats *to, const struct cstats *from);

#endif
