/* sys: the clock, memory, threads, io_uring set-up and /proc readers of ringcast-bench (sys.h). */
#define _GNU_SOURCE
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / NS_PER_S), .tv_nsec = (long)(t % NS_PER_S) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void die(const char *what, int err)
{
	fprintf(stderr, "ringcast-bench: %s%s%s\n", what, err ? ": " : "", err ? strerror(err) : "");
	exit(1);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		die("out of memory", 0);
	return p;
}

uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "EUNKNOWN";
}

void thread_setup(uint32_t id, int cpu)
{
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
		if (r != 0)
			fprintf(stderr, "ringcast-bench: cannot pin thread %u to CPU %d: %s\n", id, cpu,
			        strerror(r));
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}

int ring_init(struct io_uring *ring, uint32_t cq_entries)
{
	struct io_uring_params p = { 0 };
	/* SINGLE_ISSUER (6.0): only this thread submits, so the kernel skips submission locking; the
	 * ring is created here, on its thread (a SINGLE_ISSUER ring used from a thread other than its
	 * creator gives -EEXIST). DEFER_TASKRUN (6.1): completion work runs when we ask for
	 * completions, once per loop turn in a batch, instead of interrupting the loop at every
	 * packet; it needs SINGLE_ISSUER. CQSIZE: every connection may complete a recv in the same
	 * turn; a CQ that holds them all keeps off the overflow list. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = cq_entries;
	int r = io_uring_queue_init_params(SQ_ENTRIES, ring, &p);
	if (r == -EINVAL) { /* kernel before 6.1: COOP_TASKRUN (5.19) at least avoids the IPIs */
		p = (struct io_uring_params){ .flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE,
			                          .cq_entries = cq_entries };
		r = io_uring_queue_init_params(SQ_ENTRIES, ring, &p);
	}
	if (r == -EINVAL) {
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE, .cq_entries = cq_entries };
		r = io_uring_queue_init_params(SQ_ENTRIES, ring, &p);
	}
	return r;
}

double cpu_s_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The command name (field 2) is in parentheses and may hold spaces, so fields are counted after
 * the last ')': utime and stime are fields 14 and 15. */
double cpu_s_pid(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	unsigned long long ut, st;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct proc_mem proc_mem_read(long pid)
{
	struct proc_mem m = { -1, -1 };
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "VmRSS: %ld kB", &m.rss_kib) == 1)
				break;
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (d != NULL) {
		m.fds = 0;
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			if (e->d_name[0] != '.')
				m.fds++;
		closedir(d);
	}
	return m;
}

void raise_nofile(uint32_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)need + 64)
		fprintf(stderr,
		        "ringcast-bench: warning: %u connections but the descriptor limit is %llu\n", need,
		        (unsigned long long)rl.rlim_cur);
}
