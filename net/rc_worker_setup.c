/* rc_worker_setup.c: creating and destroying a worker: the ring, the registered buffer region,
 * the provided buffer ring, the descriptor table, and every table sized from the configuration.
 * Each step that can fail says what failed and what to do about it. */
#define _GNU_SOURCE
#include "rc_worker.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rc_admin.h"
#include "rc_clock.h"
#include "rc_log.h"
#include "rc_view.h"
#include "rc_worker_int.h"
#include "rc_owner.h"
#include "rc_pace.h"
#include "rc_access.h"
#include "rc_limit.h"
#include "rc_reload.h"
#include "rc_wss.h"

#define RC_SQ_ENTRIES 4096u
#define RC_TS_ABS_MAX 1024u

/* ---- set-up --------------------------------------------------------------------------------- */

static void *qstore_get(void *ctx, size_t size)
{
	rc_worker *w = ctx;
	assert(size <= w->mem.chunks.size);
	(void)size;
	return rc_chunk_get(&w->mem.chunks);
}

static void qstore_put(void *ctx, void *p, size_t size)
{
	rc_worker *w = ctx;
	(void)size;
	rc_chunk_put(&w->mem.chunks, p);
}

static int register_region(rc_worker *w)
{
	assert(w->io.region != NULL && w->io.region_len > 0);
	const size_t span = 1u << 30; /* one registered buffer covers at most 1 GiB */
	size_t n = (w->io.region_len + span - 1) / span;
	struct iovec iov[64];
	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = w->io.region + i * span;
		iov[i].iov_len = i + 1 < n ? span : w->io.region_len - i * span;
	}
	return io_uring_register_buffers(&w->io.ring, iov, (unsigned)n);
}

/* A topic on this worker gained its first subscriber or lost its last: tell the other workers. */
static void topic_watch(void *ctx, uint32_t hash, bool has_subscribers)
{
	rc_worker *w = ctx;
	if (has_subscribers)
		rc_interest_add(&w->xfer.interest, hash);
	else
		rc_interest_del(&w->xfer.interest, hash);
}

/* The ring, on the calling thread (SINGLE_ISSUER ties it to the thread that submits). */
static int setup_ring(rc_worker *w)
{
	int r = rc_uring_init(&w->io.ring, RC_SQ_ENTRIES, &w->io.info);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "ring_setup",
		       "error=\"%s\" hint=\"is io_uring enabled? "
		       "(sysctl kernel.io_uring_disabled=0)\"",
		       strerror(-r));
		return r;
	}
	w->group->ring_fd[w->index] = w->io.ring.ring_fd;
	admin_ring(w->index, w->io.ring.ring_fd); /* the admin view asks here too (rc_admin.h) */
	const rc_uring_info *i = &w->io.info;
	rc_log(RC_LOG_INFO, "ring",
	       "sq_entries=%u cq_entries=%u single_issuer=%d defer_taskrun=%d coop_taskrun=%d",
	       i->sq_entries, i->cq_entries, i->single_issuer, i->defer_taskrun, i->coop_taskrun);
	if (!i->defer_taskrun)
		rc_log(RC_LOG_WARN, "ring_fallback",
		       "missing=DEFER_TASKRUN fallback=%s "
		       "effect=\"completions may interrupt the loop (kernel < 6.1?)\"",
		       i->coop_taskrun ? "COOP_TASKRUN" : "none");
	return 0;
}

static int setup_bufring(rc_worker *w, uint32_t ring_entries);

/* The buffer region: mapped, carved into the pool, its receive buffers lent to the kernel's
 * provided ring, and registered with the ring. */
static int setup_region(rc_worker *w)
{
	const rc_cfg *cfg = w->cfg;
	uint32_t nbuf = cfg->recv_buffers + cfg->pool_buffers;
	w->io.region_len = (size_t)nbuf * cfg->buffer_size_bytes;
	w->io.region = mmap(NULL, w->io.region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                    -1, 0);
	if (w->io.region == MAP_FAILED) {
		int r = -errno;
		w->io.region = NULL;
		rc_log(RC_LOG_ERROR, "region_map", "bytes=%zu error=\"%s\"", w->io.region_len,
		       strerror(-r));
		return r;
	}
	int r = rc_pool_init(&w->mem.pool, w->io.region, cfg->buffer_size_bytes, nbuf);
	if (r < 0)
		return r;
	rc_pool_set_reserve(&w->mem.pool, rc_cfg_pool_reserve(cfg));
	uint32_t chains = rc_cfg_large_buffers(cfg);
	rc_pool_set_chain_max(&w->mem.pool, chains < cfg->pool_buffers ? chains : cfg->pool_buffers);
	uint32_t ring_entries = 1;
	while (ring_entries < cfg->recv_buffers)
		ring_entries <<= 1;
	w->mem.returned = malloc(ring_entries * sizeof *w->mem.returned);
	w->mem.touched = malloc(ring_entries * sizeof *w->mem.touched);
	if (w->mem.returned == NULL || w->mem.touched == NULL)
		return -ENOMEM;
	r = rc_pool_lend_recv(&w->mem.pool, cfg->recv_buffers, w->mem.returned);
	if (r < 0)
		return r;
	r = register_region(w);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "register_buffers",
		       "bytes=%zu error=\"%s\" hint=\"registering "
		       "the buffer region locks it in memory: raise RLIMIT_MEMLOCK to at least %zu KiB "
		       "(ulimit -l %zu, or LimitMEMLOCK= in a systemd unit), run with CAP_IPC_LOCK, or "
		       "lower --recv-buffers, --pool-buffers or --buffer-size-bytes\"",
		       w->io.region_len, strerror(-r), w->io.region_len / 1024, w->io.region_len / 1024);
		return r;
	}
	w->io.region_registered = true;
	return setup_bufring(w, ring_entries);
}

/* The provided buffer ring, filled with the receive buffers the pool lent (in mem.returned). */
static int setup_bufring(rc_worker *w, uint32_t ring_entries)
{
	assert((ring_entries & (ring_entries - 1)) == 0 && ring_entries >= w->cfg->recv_buffers);
	int r = rc_bufring_init(&w->io.ring, &w->io.bufring, ring_entries, RC_BGID);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "buffer_ring",
		       "error=\"%s\" hint=\"provided buffer rings need "
		       "Linux 5.19 or later\"",
		       strerror(-r));
		return r;
	}
	for (uint32_t i = 0; i < w->cfg->recv_buffers; i++) {
		uint32_t idx = w->mem.returned[i];
		if (idx > UINT16_MAX) {
			rc_log(RC_LOG_ERROR, "buffer_ring",
			       "error=\"buffer id %u over 65535\" "
			       "hint=\"at most 65536 buffers in all\"",
			       idx);
			return -EINVAL;
		}
		rc_bufring_add(&w->io.bufring, rc_pool_data(&w->mem.pool, idx), w->cfg->buffer_size_bytes,
		               (uint16_t)idx);
	}
	rc_bufring_publish(&w->io.bufring);
	return 0;
}

/* The direct descriptor table, message descriptors, the topic index and the hand-off state. */
static int setup_tables(rc_worker *w, uint32_t slots)
{
	assert(slots > 0 && w->mem.pool.count > 0);
	const rc_cfg *cfg = w->cfg;
	rc_group *g = w->group;
	int r = io_uring_register_files_sparse(&w->io.ring, slots);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "register_files",
		       "slots=%u error=\"%s\" hint=\"the descriptor "
		       "table is limited by RLIMIT_NOFILE\"",
		       slots, strerror(-r));
		return r;
	}
	uint32_t nbuf = cfg->recv_buffers + cfg->pool_buffers;
	uint32_t descs = nbuf * 16 > 65536 ? nbuf * 16 : 65536;
	r = rc_msgs_init(&w->mem.msgs, &w->mem.pool, descs);
	if (r < 0)
		return r;
	rc_arena_init(&w->mem.arena, &w->mem.pool);
	/* Every worker hashes topic names with the group's seed, so that the interest buckets
	 * (rc_interest.h) agree. */
	r = rc_topics_init(&w->topics, cfg->topics_max, cfg->subscriptions_max, g->seed);
	if (r < 0)
		return r;
	r = rc_interest_local_init(&w->xfer.interest, &g->interest, w->index);
	if (r < 0)
		return r;
	rc_topics_watch(&w->topics, topic_watch, w);
	r = rc_xarena_init(&w->xfer.xarena, &w->mem.pool);
	if (r < 0)
		return r;
	w->xfer.out = calloc(g->n, sizeof *w->xfer.out);
	return w->xfer.out != NULL ? 0 : -ENOMEM;
}

/* Outbound queues and the chunks that stage sends, hold control output and queue rings, and the
 * request-head chunks. */
static int setup_queues(rc_worker *w, uint32_t slots)
{
	assert(slots > 0);
	const rc_cfg *cfg = w->cfg;
	w->mem.qcfg = (rc_outq_cfg){ .msgs_max = cfg->queue_msgs_max,
		                         .bytes_max = cfg->queue_bytes_max,
		                         .policy = cfg->slow_policy };
	int r = rc_outq_cfg_check(&w->mem.qcfg);
	if (r < 0) {
		rc_log(RC_LOG_ERROR, "config", "error=\"queue-msgs-max must be a power of two\"");
		return r;
	}
	/* One chunk serves as staging (RC_CHUNK_BYTES used), control output or a queue's ring. */
	size_t chunk = RC_CHUNK_BYTES;
	if (rc_outq_storage_bytes(&w->mem.qcfg) > chunk)
		chunk = rc_outq_storage_bytes(&w->mem.qcfg);
	w->mem.qalloc = (rc_outq_alloc){ .get = qstore_get, .put = qstore_put, .ctx = w };
	/* Per connection: the send in flight, control output, a queue's ring; with TLS two more: the
	 * ciphertext waiting behind the send in flight, and a flush's plaintext while it is sealed.
	 * Only the pages used become resident. */
	r = rc_chunks_init(&w->mem.chunks, chunk, slots * (w->accept.tls_fd >= 0 ? 5 : 3));
	if (r < 0)
		return r;
	size_t head = sizeof(rc_head) + (size_t)cfg->header_fields_max * sizeof(rc_http_header) +
	              cfg->header_bytes_max + 1;
	r = rc_chunks_init(&w->mem.heads, head, slots);
	if (r < 0)
		return r;
	/* At most one per connection, and only while a control frame arrives in pieces. */
	return rc_chunks_init(&w->mem.ctls, RC_FRAME_CONTROL_MAX, slots);
}

/* The connection slots, scratch space, deadlines, and what handshakes and frames are checked
 * against. */
static int setup_conns(rc_worker *w, uint32_t slots)
{
	assert(slots > 0 && w->conns.slots == NULL);
	w->conns.slots = calloc(slots, sizeof *w->conns.slots);
	w->scratch = malloc(RC_SCRATCH_BYTES);
	w->life.siginfo = calloc(1, sizeof *w->life.siginfo);
	if (w->conns.slots == NULL || w->scratch == NULL || w->life.siginfo == NULL ||
	    rc_uring_ts_init(&w->io.ts, RC_TS_ABS_MAX) < 0)
		return -ENOMEM;
	w->conns.nslots = slots;
	w->time.t0_ns = rc_now_ns();
	reload_derive(w); /* deadlines, origins, the frame parser's limits */
	return 0;
}

int rc_worker_create(rc_worker **out, const rc_cfg *cfg, rc_group *g, uint32_t index, int listen_fd,
                     int tls_fd, int signal_fd, uint32_t slots)
{
	assert(index < g->n && slots > 0);
	rc_worker *w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->cfg = cfg;
	w->group = g;
	w->index = index;
	w->xfer.spin_ns = (uint64_t)cfg->idle_spin_us * 1000u;
	w->accept.listen_fd = listen_fd;
	w->accept.tls_fd = tls_fd;
	w->life.signal_fd = signal_fd;
	rc_metrics_init(&w->metrics);
	w->conns.fanned_max =
	        cfg->queue_bytes_max / 2 < RC_CHUNK_BYTES ? cfg->queue_bytes_max / 2 : RC_CHUNK_BYTES;
	w->conns.fanned_msgs_max = cfg->queue_msgs_max / 2 > 0 ? cfg->queue_msgs_max / 2 : 1;
	w->xfer.in_len_last = (uint32_t)cfg->buffer_size_bytes; /* nothing seen yet: the largest */
	int hr = rc_hist_init(&w->hist.publish_send, RC_HIST_LATENCY_SHIFT, RC_HIST_LATENCY_FINITE);
	hr |= rc_hist_init(&w->hist.frames, 0, RC_HIST_FRAMES_FINITE);
	assert(hr == 0); /* constant shapes */
	(void)hr;
	int r = setup_ring(w);
	if (r == 0)
		r = setup_region(w);
	if (r == 0)
		r = setup_tables(w, slots);
	if (r == 0)
		r = setup_queues(w, slots);
	if (r == 0)
		r = setup_conns(w, slots);
	if (r == 0)
		r = own_init(w);
	if (r == 0)
		r = pace_init(w);
	if (r == 0)
		r = limit_init(w);
	if (r == 0)
		r = access_init(w);
	if (r == 0)
		r = view_init(w);
	w->access.keys = reload_keys(); /* the start's; a reload switches them (rc_reload.h) */
	if (r == 0)
		r = wss_setup(w);
	if (r < 0) {
		rc_worker_destroy(w);
		return r;
	}
	*out = w;
	return 0;
}

void rc_worker_destroy(rc_worker *w)
{
	if (w == NULL)
		return;
	if (w->io.ring.ring_fd > 0) {
		rc_bufring_fini(&w->io.ring, &w->io.bufring);
		io_uring_queue_exit(&w->io.ring);
	}
	wss_teardown(w);
	own_fini(w);
	pace_fini(w);
	limit_fini(w);
	access_fini(w);
	view_fini(w);
	if (w->mem.arena.pool != NULL)
		rc_arena_release(&w->mem.arena);
	rc_xarena_fini(&w->xfer.xarena);
	rc_interest_local_fini(&w->xfer.interest);
	free(w->xfer.out);
	if (w->mem.msgs.slab != NULL)
		rc_msgs_fini(&w->mem.msgs);
	rc_topics_fini(&w->topics);
	rc_chunks_fini(&w->mem.chunks);
	rc_chunks_fini(&w->mem.heads);
	rc_chunks_fini(&w->mem.ctls);
	if (w->mem.pool.refs != NULL)
		rc_pool_fini(&w->mem.pool);
	if (w->io.region != NULL)
		munmap(w->io.region, w->io.region_len);
	free(w->conns.slots);
	rc_uring_ts_fini(&w->io.ts);
	free(w->scratch);
	free(w->life.siginfo);
	free(w->mem.returned);
	free(w->mem.touched);
	free(w);
}
