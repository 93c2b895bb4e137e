/* rc_clock: the one clock of net/, CLOCK_MONOTONIC in nanoseconds.
 *
 * Every deadline, rate and age in net/ is measured with it: it never jumps with the wall clock, and
 * on Linux x86-64 it is read through the vDSO, without a system call (~20 ns).
 */
#ifndef RC_CLOCK_H
#define RC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define RC_NS_PER_MS 1000000u
#define RC_NS_PER_S 1000000000u

static inline uint64_t rc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RC_NS_PER_S + (uint64_t)ts.tv_nsec;
}

#endif
