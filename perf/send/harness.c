/* send-bench harness: the clock and CPU time, memory, loopback connections and the receiver
 * thread (send.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "send.h"

/* --- small helpers ---------------------------------------------------------------------------- */

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void thread_cpu(double *user_s, double *sys_s)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	*user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
	*sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double thread_cpu_total(void)
{
	double u, s;
	thread_cpu(&u, &s);
	return u + s;
}

/* Seconds CPU `cpu` was busy (not idle or iowait) since boot, from /proc/stat, in ticks of
 * 10 ms: what the sender's CPU did in all, including softirq work that ran outside the sender
 * (ksoftirqd) and whatever else the machine ran there. -1 if unreadable. */
double cpu_busy_s(int cpu)
{
	char name[32], line[512];
	unsigned long long v[8] = { 0 };
	double busy = -1;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	snprintf(name, sizeof name, "cpu%d ", cpu);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, name, strlen(name)))
			continue;
		/* user nice system idle iowait irq softirq steal */
		if (sscanf(line + strlen(name), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
		break;
	}
	fclose(f);
	return busy;
}

int pin_thread(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof set, &set);
}

/* Anonymous memory, faulted in now so the measurement does not pay for it. NULL on failure. */
void *region_alloc(size_t bytes)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void region_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}


/* --- connections ------------------------------------------------------------------------------ */

static int listen_loopback(struct sockaddr_in *addr, unsigned backlog)
{
	socklen_t alen = sizeof *addr;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(fd, (int)backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &alen) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Connects `n` pairs: tx[i] is the sender's end, rx[i] the receiver's (non-blocking). On failure
 * every socket made so far is closed and the fds are set to -1. Returns 0 or -errno. */
int connect_pairs(unsigned n, int *tx, int *rx)
{
	struct sockaddr_in addr;
	int lfd = listen_loopback(&addr, n), err = 0;
	if (lfd < 0)
		return lfd;
	for (unsigned i = 0; i < n; i++)
		tx[i] = rx[i] = -1;
	for (unsigned i = 0; i < n && !err; i++) {
		tx[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (tx[i] < 0 || connect(tx[i], (struct sockaddr *)&addr, sizeof addr) < 0)
			err = -errno;
		else if ((rx[i] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
			err = -errno;
	}
	close(lfd);
	if (err) {
		for (unsigned i = 0; i < n; i++) {
			if (tx[i] >= 0)
				close(tx[i]);
			if (rx[i] >= 0)
				close(rx[i]);
			tx[i] = rx[i] = -1;
		}
	}
	return err;
}

void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* --- receiver thread -------------------------------------------------------------------------- */

/* Reads until the socket is empty. Returns 0 or -errno (a closed peer is an error here). */
static int drain_socket(int fd, uint8_t *buf, uint64_t *bytes)
{
	for (;;) {
		ssize_t n = recv(fd, buf, RX_BUF_BYTES, MSG_DONTWAIT);
		if (n > 0) {
			*bytes += (uint64_t)n;
			if ((size_t)n < RX_BUF_BYTES)
				return 0;
		} else if (n == 0) {
			return -ECONNRESET;
		} else if (errno == EAGAIN || errno == EINTR) {
			return 0;
		} else {
			return -errno;
		}
	}
}

/* Records bytes and CPU when the sender moves to the next phase; true once told to stop. */
static bool rx_observe_phase(struct receiver *r, int *seen)
{
	int p = atomic_load_explicit(&r->phase, memory_order_acquire);
	while (*seen < p) {
		(*seen)++;
		if (*seen == PHASE_MEASURE || *seen == PHASE_DRAIN) {
			r->bytes_at[*seen - PHASE_MEASURE] = r->bytes;
			r->cpu_at[*seen - PHASE_MEASURE] = thread_cpu_total();
		}
	}
	return p == PHASE_STOP;
}

static int rx_loop(struct receiver *r, int ep, uint8_t *buf)
{
	struct epoll_event ev[256];
	int seen = PHASE_WARMUP;
	while (!rx_observe_phase(r, &seen)) {
		/* The 2 ms timeout bounds how late a phase change is seen. */
		int n = epoll_wait(ep, ev, 256, 2);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			int err = drain_socket(r->fds[ev[i].data.u32], buf, &r->bytes);
			if (err)
				return err;
		}
	}
	return 0;
}

void *rx_main(void *arg)
{
	struct receiver *r = arg;
	uint8_t *buf = malloc(RX_BUF_BYTES);
	int ep = epoll_create1(EPOLL_CLOEXEC), err = 0;
	if (!buf || ep < 0)
		err = buf ? -errno : -ENOMEM;
	for (unsigned i = 0; i < r->n && !err; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, r->fds[i], &ev) < 0)
			err = -errno;
	}
	if (!err)
		err = rx_loop(r, ep, buf);
	r->err = err;
	if (ep >= 0)
		close(ep);
	free(buf);
	return NULL;
}
