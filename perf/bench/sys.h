/* sys: what every part of ringcast-bench needs from the system: the clock, a fast random number
 * generator, memory that cannot fail, thread pinning, an io_uring set up for a bench thread, and
 * the CPU time, memory and descriptors of a process (/proc).
 *
 * Use: nothing to initialise. die() and xcalloc() end the process (status 1) instead of
 * returning an error: they are for the setup, where the bench cannot go on anyway. The rest
 * return what they say below; the /proc readers return -1 (or fields of -1) for what they cannot
 * read. */
#ifndef BENCH_SYS_H
#define BENCH_SYS_H

#include <liburing.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_S 1000000000ull
#define SQ_ENTRIES 1024 /* a bench ring's submission queue; a full one is submitted and reused */

/* CLOCK_MONOTONIC in ns: the time base of the whole run (and of the heads of the messages, which
 * the server does not touch: sender and receivers share the machine). */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* xorshift64: fast, and good enough for masks, jitter and draws; *s must not be 0. */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Sleep until CLOCK_MONOTONIC reaches t (ns). */
void sleep_until_ns(uint64_t t);

/* "ringcast-bench: WHAT[: strerror(err)]" on stderr, exit status 1. */
void die(const char *what, int err) __attribute__((noreturn));

/* calloc that never returns NULL (dies instead); n or size 0 still gives a valid pointer. */
void *xcalloc(size_t n, size_t size);

/* The smallest power of two >= v (1 for 0). */
uint32_t pow2_at_least(uint32_t v);

/* "ECONNREFUSED" for ECONNREFUSED, "EUNKNOWN" for a number without a name. */
const char *errno_name(int e);

/* A bench thread's start: pinned to cpu (if >= 0; a failure is reported, not fatal) and woken at
 * the intended send times without the default 50 us of timer slack. */
void thread_setup(uint32_t id, int cpu);

/* An io_uring for the calling thread (it must be the only one to submit on it) with a completion
 * queue of cq_entries. Returns 0 or a negative errno. */
int ring_init(struct io_uring *ring, uint32_t cq_entries);

/* This process's CPU time (user + system) in seconds. */
double cpu_s_self(void);

/* Process pid's CPU time (utime + stime of /proc/PID/stat) in seconds, or -1. */
double cpu_s_pid(long pid);

/* A process's resident memory and open descriptors. */
struct proc_mem {
	long rss_kib, fds; /* < 0: could not be read */
};

/* VmRSS of /proc/PID/status and the entries of /proc/PID/fd. */
struct proc_mem proc_mem_read(long pid);

/* Raise RLIMIT_NOFILE's soft limit to the hard one; warn on stderr if `need` descriptors (and a
 * margin) still do not fit. */
void raise_nofile(uint32_t need);

#endif
