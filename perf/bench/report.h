/* report: what a run prints: a table on stderr (unless --quiet), one JSON object on stdout, and
 * with --percentiles the latency distribution in a file.
 *
 * An engine fills a struct report (report_init first: the fields it does not measure stay "not
 * measured") and calls report_finish. The report prints what every workload has and calls the
 * workload's hooks (bench.h) for the rest: `json` for its fields between "opcode" and "mode",
 * `table` for the body of the table (the message traffic if NULL) and `table_more` for its lines
 * after the errors. The helpers below are for those hooks. Field names and formats are an
 * interface: scripts parse them (docs/ringcast-bench.md lists the fields). */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "stats.h"
#include "sys.h"

struct opts;
struct timeline;

struct report {
	struct stats st;
	struct stats st_slow;                   /* slow: what the slow subscribers saw */
	uint32_t slow_total, open_slow;         /* slow: slow subscribers, those connected */
	struct proc_mem mem_before, mem_loaded; /* --server-pid: before the run, at the end */
	struct proc_mem mem_after;              /* churn, storm: once every connection ended */
	double settle_s;                        /* churn, storm: how long until mem_after */
	struct cstats cs;                       /* churn, storm */
	uint32_t open_subs, open_pubs, threads;
	double measured_s, bench_cpu_s, server_cpu_s; /* server_cpu_s < 0: not measured */
	double bench_util;                            /* bench_cpu_s / (measured_s x threads) */
	const char *error;                            /* NULL: the run worked */
	const char *sni;                              /* wss:// to a host name: the SNI sent */
};

/* An empty report: no memory figures, no server CPU. */
void report_init(struct report *r);

/* Sleep through the measured interval of tl (from t_measure to t_end), reading this process's
 * CPU time at both ends, and with --server-pid the server's, and its memory at the end. Sets
 * measured_s, bench_cpu_s, bench_util (r->threads must be set), server_cpu_s and mem_loaded. */
void report_measure(struct report *r, const struct opts *o, const struct timeline *tl);

/* Print the table (unless --quiet), the JSON object and the --percentiles file. Returns the exit
 * status: 0 if the run worked, 1 if not (r->error). */
int report_finish(const struct opts *o, const struct report *r);

/* ---- for the workloads' hooks ----------------------------------------------------------------- */

/* JSON: {"key":count,...} */
void report_json_tally(const struct tally *t);
/* JSON: {"count":..,"mean":..,"p50":.., ... "max":..} in microseconds */
void report_json_latency(const struct stats *s);
/* JSON: "size_min":..,"size_max":.., and with v1 "topics":..,"per_sub":..,"zipf":.., */
void report_json_sizes(const struct opts *o);
/* Table: "p50 .. p90 .. p99 .. p99.9 .. p99.99 .. max ..\n" */
void report_table_latency(FILE *f, const struct stats *s);
/* Table: LABEL key xN key xN ...\n, nothing if the tally is empty. */
void report_table_tally(FILE *f, const char *label, const struct tally *t);
/* (after - before) / n, 0 if n is 0. */
double report_per_conn(long after, long before, uint32_t n);

#endif
