/* fanout: the engine of the workloads with long-lived connections (fanout, market, slow, echo,
 * idle): publishers and receivers over one io_uring per thread. */
#ifndef BENCH_FANOUT_H
#define BENCH_FANOUT_H

struct bench;

/* Run the workload of b->o. Returns the exit status. */
int fanout_run(const struct bench *b);

#endif
