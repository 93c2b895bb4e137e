/* rc_threads.c: one pinned thread per worker (rc_threads.h). */
#define _GNU_SOURCE
#include "rc_threads.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_group.h"
#include "rc_log.h"
#include "rc_worker.h"

typedef struct worker_arg {
	rc_group *g;
	uint32_t index;
	int listen_fd, tls_fd;
	int cpu;
	int signal_fd;
	uint32_t slots;
	void (*ready)(void *ctx);
	void *ready_ctx;
	int result;
} worker_arg;

static void *worker_main(void *p)
{
	worker_arg *a = p;
	rc_group *g = a->g;
	assert(a->index < g->n && a->index < RC_INTEREST_WORKERS_MAX);
	char name[16];
	snprintf(name, sizeof name, "ringcast-w%u", a->index);
	pthread_setname_np(pthread_self(), name);
	rc_log_set_worker((int)a->index);
	if (a->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((unsigned)a->cpu, &set);
		int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
		if (r != 0) {
			rc_log(RC_LOG_ERROR, "pin",
			       "cpu=%d error=\"%s\" hint=\"is the CPU online and in "
			       "the process's affinity mask (taskset)?\"",
			       a->cpu, strerror(r));
			a->result = -r;
			atomic_store(&g->failed, true);
		}
	}
	rc_worker *w = NULL;
	if (!atomic_load(&g->failed)) {
		a->result = rc_worker_create(&w, g->cfg, g, a->index, a->listen_fd, a->tls_fd,
		                             a->index == 0 ? a->signal_fd : -1, a->slots);
		if (a->result < 0)
			atomic_store(&g->failed, true);
		else
			g->workers[a->index] = w;
	}
	pthread_barrier_wait(&g->barrier); /* every worker exists (or one failed) */
	if (!atomic_load(&g->failed)) {
		if (a->index == 0 && a->ready != NULL) {
			rc_log_set_worker(-1); /* a line about the whole server */
			a->ready(a->ready_ctx);
			rc_log_set_worker(0);
		}
		a->result = rc_worker_run(w);
	}
	pthread_barrier_wait(&g->barrier); /* nobody touches another worker any more */
	rc_worker_destroy(w);
	return NULL;
}

int rc_threads_run(const rc_cfg *cfg, uint32_t n, const int *listen_fd, const int *tls_fd,
                   const int *cpu, int signal_fd, uint32_t slots, void (*ready)(void *ctx),
                   void *ready_ctx)
{
	if (n == 0 || n > RC_INTEREST_WORKERS_MAX)
		return -EINVAL;
	rc_group g;
	int r = rc_group_init(&g, cfg, n);
	worker_arg *args = calloc(n, sizeof *args);
	pthread_t *threads = calloc(n, sizeof *threads);
	if (r < 0 || args == NULL || threads == NULL) {
		rc_log(RC_LOG_ERROR, "workers", "error=\"out of memory setting up %u workers\"", n);
		free(args);
		free(threads);
		rc_group_fini(&g);
		return r < 0 ? r : -ENOMEM;
	}
	pthread_barrier_init(&g.barrier, NULL, n);
	uint32_t started = 0;
	for (uint32_t i = 0; i < n; i++) {
		args[i] = (worker_arg){ .g = &g,
			                    .index = i,
			                    .listen_fd = listen_fd[i],
			                    .tls_fd = tls_fd[i],
			                    .cpu = cpu[i],
			                    .signal_fd = signal_fd,
			                    .slots = slots,
			                    .ready = ready,
			                    .ready_ctx = ready_ctx };
		int e = pthread_create(&threads[i], NULL, worker_main, &args[i]);
		if (e != 0) {
			rc_log(RC_LOG_ERROR, "workers", "error=\"pthread_create: %s\"", strerror(e));
			break;
		}
		started++;
	}
	if (started < n) {
		/* The started threads wait at a barrier for n: they can never pass it. This happens
		 * only when the system is out of threads; exit without waiting for them. */
		return -EAGAIN;
	}
	r = 0;
	for (uint32_t i = 0; i < n; i++) {
		pthread_join(threads[i], NULL);
		if (args[i].result < 0 && r == 0)
			r = args[i].result;
	}
	if (r == 0 && atomic_load(&g.failed))
		r = -ECANCELED; /* cannot happen: whoever set it also set its result */
	pthread_barrier_destroy(&g.barrier);
	free(args);
	free(threads);
	rc_group_fini(&g);
	return r;
}
