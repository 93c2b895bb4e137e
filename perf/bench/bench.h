/* ringcast-bench: how the program is cut up (docs/ringcast-bench.md says what it does).
 *
 * The design is being split out of one file; this header will hold the workload table. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#define BENCH_VERSION "0.1"

#endif
