/* churn: the engine of the workloads whose connections come and go (churn, storm).
 *
 * Each connection: connect, handshake, (churn) hold, end with a close frame answered by the
 * server's or with a reset; what it measures is handshake latency, failures by kind and how the
 * connections ended.
 *
 * Use: the workloads' defaults and check hooks call churn_presets and churn_refuse for what the
 * engine needs of the options. */
#ifndef BENCH_CHURN_H
#define BENCH_CHURN_H

#include <stdio.h>

struct bench;
struct opts;
struct given;
struct report;

/* Run the workload of b->o (churn, or storm when the options are closed loop): the run hook of
 * both. Returns the exit status. */
int churn_run(const struct bench *b);

/* The presets of both workloads: v1 refused, no subscribers or publishers, no warmup unless
 * given, a 5 s handshake timeout unless given. */
void churn_presets(struct opts *o, struct given *gv);

/* Refuse the flags of long-lived connections (-n, -p, --connections, --size, --topics, --text). */
void churn_refuse(const struct opts *o, const struct given *gv);

/* The report hooks of both: the object named after the workload (what happened to the
 * connections) and the server's memory; the body of the table. */
void churn_json(const struct opts *o, const struct report *r);
void churn_table(FILE *f, const struct opts *o, const struct report *r);

#endif
