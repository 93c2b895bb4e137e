/* rc_worker_setup.c: creating and destroying a worker: the ring, the registered buffer region,
 * the provided buffer ring, the descriptor table, and every table sized from the configuration.
 * Each step that can fail says what failed and what to do about it. */
#define _GNU_SOURCE
#include "rc_worker_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define RC_SQ_ENTRIES 4096u
#define RC_TS_ABS_MAX 1024u

static void ts_set_ms(struct __kernel_timespec *ts, uint32_t ms)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

/* ---- set-up --------------------------------------------------------------------------------- */

static void *qstore_get(void *ctx, size_t size)
{
	rc_worker *w = ctx;
	assert(size <= w->chunks.size);
	(void)size;
	return rc_chunk_get(&w->chunks);
}

static void qstore_put(void *ctx, void *p, size_t size)
{
	rc_worker *w = ctx;
	(void)size;
	rc_chunk_put(&w->chunks, p);
}

static int register_region(rc_worker *w)
{
	const size_t span = 1u << 30; /* one registered buffer covers at most 1 GiB */
	size_t n = (w->region_len + span - 1) / span;
	struct iovec iov[64];
	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = w->region + i * span;
		iov[i].iov_len = i + 1 < n ? span : w->region_len - i * span;
	}
	return io_uring_register_buffers(&w->ring, iov, (unsigned)n);
}

/* A topic on this worker gained its first subscriber or lost its last: tell the other workers. */
static void topic_watch(void *ctx, uint32_t hash, bool has_subscribers)
{
	rc_worker *w = ctx;
	if (has_subscribers)
		rc_interest_add(&w->interest, hash);
	else
		rc_interest_del(&w->interest, hash);
}

int rc_worker_create(rc_worker **out, const rc_cfg *cfg, rc_group *g, uint32_t index, int listen_fd,
                     int signal_fd, uint32_t slots)
{
	int r;
	rc_worker *w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->cfg = cfg;
	w->group = g;
	w->index = index;
	w->spin_ns = (uint64_t)cfg->idle_spin_us * 1000u;
	w->listen_fd = listen_fd;
	w->signal_fd = signal_fd;
	w->nslots = slots;
	rc_metrics_init(&w->metrics);

	r = rc_uring_init(&w->ring, RC_SQ_ENTRIES, &w->uinfo);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "ring_setup",
		       "error=\"%s\" hint=\"is io_uring enabled? "
		       "(sysctl kernel.io_uring_disabled=0)\"",
		       strerror(-r));
		free(w);
		return r;
	}
	g->ring_fd[index] = w->ring.ring_fd;
	rc_log(RC_LOG_INFO, "ring",
	       "sq_entries=%u cq_entries=%u single_issuer=%d defer_taskrun=%d "
	       "coop_taskrun=%d",
	       w->uinfo.sq_entries, w->uinfo.cq_entries, w->uinfo.single_issuer, w->uinfo.defer_taskrun,
	       w->uinfo.coop_taskrun);
	if (!w->uinfo.defer_taskrun)
		rc_log(RC_LOG_WARN, "ring_fallback",
		       "missing=DEFER_TASKRUN fallback=%s "
		       "effect=\"completions may interrupt the loop (kernel < 6.1?)\"",
		       w->uinfo.coop_taskrun ? "COOP_TASKRUN" : "none");

	uint32_t nbuf = cfg->recv_buffers + cfg->pool_buffers;
	w->region_len = (size_t)nbuf * cfg->buffer_size_bytes;
	w->region =
	        mmap(NULL, w->region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->region == MAP_FAILED) {
		r = -errno;
		w->region = NULL;
		rc_log(RC_LOG_ERROR, "region_map", "bytes=%zu error=\"%s\"", w->region_len, strerror(-r));
		goto err;
	}
	r = rc_pool_init(&w->pool, w->region, cfg->buffer_size_bytes, nbuf);
	if (r < 0)
		goto err;
	rc_pool_set_reserve(&w->pool, cfg->pool_buffers / 8);
	uint32_t ring_entries = 1;
	while (ring_entries < cfg->recv_buffers)
		ring_entries <<= 1;
	w->returned = malloc(ring_entries * sizeof *w->returned);
	w->touched = malloc(ring_entries * sizeof *w->touched);
	if (w->returned == NULL || w->touched == NULL) {
		r = -ENOMEM;
		goto err;
	}
	r = rc_pool_lend_recv(&w->pool, cfg->recv_buffers, w->returned);
	if (r < 0)
		goto err;
	r = register_region(w);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "register_buffers",
		       "bytes=%zu error=\"%s\" hint=\"registering "
		       "the buffer region locks it in memory: raise RLIMIT_MEMLOCK to at least %zu KiB "
		       "(ulimit -l %zu, or LimitMEMLOCK= in a systemd unit), run with CAP_IPC_LOCK, or "
		       "lower --recv-buffers, --pool-buffers or --buffer-size-bytes\"",
		       w->region_len, strerror(-r), w->region_len / 1024, w->region_len / 1024);
		goto err;
	}
	w->region_registered = true;
	r = rc_bufring_init(&w->ring, &w->bufring, ring_entries, RC_BGID);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "buffer_ring",
		       "error=\"%s\" hint=\"provided buffer rings need "
		       "Linux 5.19 or later\"",
		       strerror(-r));
		goto err;
	}
	for (uint32_t i = 0; i < cfg->recv_buffers; i++) {
		uint32_t idx = w->returned[i];
		if (idx > UINT16_MAX) {
			rc_log(RC_LOG_ERROR, "buffer_ring",
			       "error=\"buffer id %u over 65535\" "
			       "hint=\"at most 65536 buffers in all\"",
			       idx);
			r = -EINVAL;
			goto err;
		}
		rc_bufring_add(&w->bufring, rc_pool_data(&w->pool, idx), cfg->buffer_size_bytes,
		               (uint16_t)idx);
	}
	rc_bufring_publish(&w->bufring);
	r = io_uring_register_files_sparse(&w->ring, slots);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "register_files",
		       "slots=%u error=\"%s\" hint=\"the descriptor "
		       "table is limited by RLIMIT_NOFILE\"",
		       slots, strerror(-r));
		goto err;
	}
	uint32_t descs = nbuf * 16 > 65536 ? nbuf * 16 : 65536;
	r = rc_msgs_init(&w->msgs, &w->pool, descs);
	if (r < 0)
		goto err;
	rc_arena_init(&w->arena, &w->pool);
	/* Every worker hashes topic names with the group's seed, so that the interest buckets
	 * (rc_interest.h) agree. */
	r = rc_topics_init(&w->topics, cfg->topics_max, cfg->subscriptions_max, g->seed);
	if (r < 0)
		goto err;
	r = rc_interest_local_init(&w->interest, &g->interest, index);
	if (r < 0)
		goto err;
	rc_topics_watch(&w->topics, topic_watch, w);
	r = rc_xarena_init(&w->xarena, &w->pool);
	if (r < 0)
		goto err;
	w->xout = calloc(g->n, sizeof *w->xout);
	if (w->xout == NULL) {
		r = -ENOMEM;
		goto err;
	}
	w->qcfg = (rc_outq_cfg){ .msgs_max = cfg->queue_msgs_max,
		                     .bytes_max = cfg->queue_bytes_max,
		                     .policy = cfg->slow_policy };
	r = rc_outq_cfg_check(&w->qcfg);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "config", "error=\"queue-msgs-max must be a power of two\"");
		goto err;
	}
	/* One chunk serves as staging (RC_CHUNK_BYTES used), control output or a queue's ring. */
	size_t chunk = RC_CHUNK_BYTES;
	if (rc_outq_storage_bytes(&w->qcfg) > chunk)
		chunk = rc_outq_storage_bytes(&w->qcfg);
	w->qalloc = (rc_outq_alloc){ .get = qstore_get, .put = qstore_put, .ctx = w };
	r = rc_chunks_init(&w->chunks, chunk, slots * 3);
	if (r < 0)
		goto err;
	size_t head = sizeof(rc_head) + (size_t)cfg->header_fields_max * sizeof(rc_http_header) +
	              cfg->header_bytes_max + 1;
	r = rc_chunks_init(&w->heads, head, slots);
	if (r < 0)
		goto err;
	w->conns = calloc(slots, sizeof *w->conns);
	w->ts_abs = calloc(RC_TS_ABS_MAX, sizeof *w->ts_abs);
	w->scratch = malloc(RC_SCRATCH_BYTES);
	w->siginfo = calloc(1, sizeof *w->siginfo);
	if (w->conns == NULL || w->ts_abs == NULL || w->scratch == NULL || w->siginfo == NULL) {
		r = -ENOMEM;
		goto err;
	}
	w->ts_abs_cap = RC_TS_ABS_MAX;
	w->t0_ns = rc_now_ns();
	ts_set_ms(&w->ts_idle, cfg->idle_timeout_ms);
	ts_set_ms(&w->ts_write, cfg->write_timeout_ms);
	ts_set_ms(&w->ts_drain, cfg->drain_timeout_ms);

	size_t no = rc_cfg_origins(cfg, w->origins, RC_CFG_ORIGINS_MAX);
	w->subprotocols[0] = RC_APP_SUBPROTOCOL;
	w->hs_ws = (rc_ws_handshake_cfg){ .origins = w->origins,
		                              .origin_count = no,
		                              .allow_no_origin = cfg->allow_no_origin,
		                              .subprotocols = w->subprotocols,
		                              .subprotocol_count = 1 };
	w->hs_echo = w->hs_ws;
	w->hs_echo.subprotocols = NULL;
	w->hs_echo.subprotocol_count = 0;
	w->frame_cfg = (rc_frame_cfg){ .role = RC_FRAME_SERVER,
		                           .message_max = cfg->message_max_bytes,
		                           .rsv_allowed = 0 };
	*out = w;
	return 0;
err:
	rc_worker_destroy(w);
	return r < 0 ? r : -EINVAL;
}

void rc_worker_destroy(rc_worker *w)
{
	if (w == NULL)
		return;
	if (w->ring.ring_fd > 0) {
		rc_bufring_fini(&w->ring, &w->bufring);
		io_uring_queue_exit(&w->ring);
	}
	if (w->arena.pool != NULL)
		rc_arena_release(&w->arena);
	rc_xarena_fini(&w->xarena);
	rc_interest_local_fini(&w->interest);
	free(w->xout);
	if (w->msgs.slab != NULL)
		rc_msgs_fini(&w->msgs);
	rc_topics_fini(&w->topics);
	rc_chunks_fini(&w->chunks);
	rc_chunks_fini(&w->heads);
	if (w->pool.refs != NULL)
		rc_pool_fini(&w->pool);
	if (w->region != NULL)
		munmap(w->region, w->region_len);
	free(w->conns);
	free(w->ts_abs);
	free(w->scratch);
	free(w->siginfo);
	free(w->returned);
	free(w->touched);
	free(w);
}

const rc_metrics *rc_worker_metrics(const rc_worker *w)
{
	return &w->metrics;
}
