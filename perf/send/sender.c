/* send-bench sender: the sending thread's ring and memory, its sends (one in flight per
 * connection, short sends resumed here) and the run of one configuration (send.h). */
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

static const uint8_t *frame_at(const struct sender *s, uint64_t j)
{
	uint64_t slot = (j * FRAME_SLOT_STEP) & (FRAME_SLOTS - 1);
	return s->frames + slot * FRAME_SLOT_BYTES;
}

/* --- sender: ring and memory ------------------------------------------------------------------ */

/* One ring for the sender thread, created on it. Flags, best first:
 *   SINGLE_ISSUER | DEFER_TASKRUN: completion work runs only when this thread waits for it, in
 *     one batch, with no interrupting task work (6.1+; DEFER_TASKRUN needs SINGLE_ISSUER);
 *   SINGLE_ISSUER | COOP_TASKRUN: no IPI to run task work (6.0 / 5.19);
 *   none.
 * CQSIZE: at most two CQEs per connection are outstanding (a zero-copy result and its
 * notification), so 4 per connection never overflows. Returns 0 or -errno. */
static int ring_init(struct sender *s)
{
	static const struct {
		unsigned flags;
		const char *name;
	} tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single_issuer|defer_taskrun" },
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "single_issuer|coop_taskrun" },
		{ 0, "none" },
	};
	int err = -EINVAL;
	for (size_t i = 0; i < sizeof tries / sizeof tries[0] && err == -EINVAL; i++) {
		struct io_uring_params p = { .flags = tries[i].flags | IORING_SETUP_CQSIZE,
			                         .cq_entries = 4 * s->cfg->conns };
		err = io_uring_queue_init_params(s->cfg->conns, &s->ring, &p);
		if (!err)
			s->ring_flags = tries[i].name;
	}
	s->ring_ok = err == 0;
	return err;
}

static int alloc_memory(struct sender *s)
{
	const struct config *cfg = s->cfg;
	s->frames = region_alloc((size_t)FRAME_SLOTS * FRAME_SLOT_BYTES);
	s->payload = region_alloc(cfg->send_bytes);
	s->staging_bytes = (size_t)cfg->conns * STAGING_BYTES;
	s->staging = region_alloc(s->staging_bytes);
	s->conns = calloc(cfg->conns, sizeof *s->conns);
	s->iovs = calloc((size_t)cfg->conns * cfg->batch, sizeof *s->iovs);
	if (!s->frames || !s->payload || !s->staging || !s->conns || !s->iovs)
		return -ENOMEM;
	for (size_t i = 0; i < (size_t)FRAME_SLOTS * FRAME_SLOT_BYTES; i++)
		s->frames[i] = (uint8_t)(i * 31u + 7u);
	memset(s->payload, 'x', cfg->send_bytes);
	for (unsigned i = 0; i < cfg->conns; i++) {
		s->conns[i].staging = s->staging + (size_t)i * STAGING_BYTES;
		s->conns[i].iov = s->iovs + (size_t)i * cfg->batch;
	}
	return 0;
}

static void free_memory(struct sender *s)
{
	region_free(s->frames, (size_t)FRAME_SLOTS * FRAME_SLOT_BYTES);
	region_free(s->payload, s->cfg->send_bytes);
	region_free(s->staging, s->staging_bytes);
	free(s->conns);
	free(s->iovs);
}

/* Registers the sockets as direct descriptors 0..conns-1 and/or the payload and staging regions
 * as buffers BUF_PAYLOAD and BUF_STAGING, as configured. Returns 0 or -errno. */
static int register_resources(struct sender *s, const int *tx, const char **what)
{
	const struct config *cfg = s->cfg;
	if (cfg->fixed_files) {
		int err = io_uring_register_files(&s->ring, tx, cfg->conns);
		if (err) {
			*what = "io_uring_register_files";
			return err;
		}
	}
	if (cfg->fixed_buf) {
		const struct iovec bufs[BUF_COUNT] = {
			[BUF_PAYLOAD] = { s->payload, cfg->send_bytes },
			[BUF_STAGING] = { s->staging, s->staging_bytes },
		};
		int err = io_uring_register_buffers(&s->ring, bufs, BUF_COUNT);
		if (err) {
			*what = "io_uring_register_buffers";
			return err;
		}
	}
	return 0;
}

/* --- sender: sends ---------------------------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct sender *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	if (!sqe) { /* full: cannot happen with one send per connection, but stay correct */
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

/* Queues the untaken rest of connection i's current send. user_data is the connection index:
 * sends are the only requests, and a notification carries its send's user_data. */
static int queue_send(struct sender *s, unsigned i)
{
	const struct config *cfg = s->cfg;
	struct conn *c = &s->conns[i];
	struct io_uring_sqe *sqe = get_sqe(s);
	int fd = cfg->fixed_files ? (int)i : c->fd;
	if (!sqe)
		return -EBUSY;
	if (cfg->mode == MODE_IOVEC)
		io_uring_prep_sendmsg(sqe, fd, &c->msg, 0);
	else if (cfg->mode == MODE_ZC)
		io_uring_prep_send_zc(sqe, fd, c->buf + c->off, c->len - c->off, 0,
		                      IORING_SEND_ZC_REPORT_USAGE);
	else
		io_uring_prep_send(sqe, fd, c->buf + c->off, c->len - c->off, 0);
	if (cfg->fixed_buf) {
		sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
		sqe->buf_index = cfg->mode == MODE_STAGING ? BUF_STAGING : BUF_PAYLOAD;
	}
	if (cfg->fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, i);
	s->inflight++;
	return 0;
}

/* Fills connection c's next send from the broadcast sequence: the next `batch` frames by
 * reference (iovec) or copied (staging), or the one shared payload (send, zc). */
static void fill_next(struct sender *s, struct conn *c)
{
	const struct config *cfg = s->cfg;
	c->off = 0;
	if (cfg->mode == MODE_SEND || cfg->mode == MODE_ZC) {
		c->buf = s->payload;
		c->len = cfg->send_bytes;
		c->frames = 1;
		return;
	}
	for (unsigned b = 0; b < cfg->batch; b++) {
		const uint8_t *f = frame_at(s, c->cursor + b);
		if (cfg->mode == MODE_STAGING)
			memcpy(c->staging + (size_t)b * cfg->frame_bytes, f, cfg->frame_bytes);
		else
			c->iov[b] = (struct iovec){ (void *)(uintptr_t)f, /* only read */
				                        cfg->frame_bytes };
	}
	c->cursor += cfg->batch;
	c->frames = cfg->batch;
	c->len = (size_t)cfg->batch * cfg->frame_bytes;
	c->buf = c->staging;
	if (cfg->mode == MODE_IOVEC) {
		c->iov_first = 0;
		c->msg = (struct msghdr){ .msg_iov = c->iov, .msg_iovlen = cfg->batch };
	}
}

/* Marks n more bytes of c's current send as taken; for iovec mode, moves the msghdr past them. */
static void advance(struct conn *c, size_t n, unsigned batch)
{
	c->off += n;
	if (!c->msg.msg_iov)
		return;
	while (n > 0) {
		struct iovec *v = &c->iov[c->iov_first];
		if (n >= v->iov_len) {
			n -= v->iov_len;
			c->iov_first++;
		} else {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
	}
	c->msg.msg_iov = c->iov + c->iov_first;
	c->msg.msg_iovlen = batch - c->iov_first;
}

/* A send completed (fully or in part). Returns 0 or the send's negative error. */
static int on_send(struct sender *s, unsigned i, int res)
{
	struct conn *c = &s->conns[i];
	s->inflight--;
	if (res <= 0)
		return res < 0 ? res : -EPIPE; /* 0 bytes taken of a non-empty send: peer gone */
	advance(c, (size_t)res, s->cfg->batch);
	if (c->off < c->len) {
		s->ctr.short_sends++;
		return queue_send(s, i);
	}
	s->ctr.frames += c->frames;
	s->ctr.bytes += c->len;
	s->ctr.sends++;
	if (s->stopping)
		return 0;
	fill_next(s, c);
	return queue_send(s, i);
}

static int on_cqe(struct sender *s, const struct io_uring_cqe *cqe)
{
	unsigned i = (unsigned)cqe->user_data;
	if (i >= s->cfg->conns)
		return -EPROTO;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		s->notifs_pending--;
		s->ctr.notifs++;
		if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
			s->ctr.zc_copied++;
		return 0;
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		s->notifs_pending++;
	return on_send(s, i, cqe->res);
}

/* Submits, waits for at least one completion and handles all there are. Returns 0 or -errno; on a
 * send's error the sender stops submitting and the error is returned once. */
static int reap(struct sender *s)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int err = io_uring_submit_and_wait(&s->ring, 1), first = 0;
	if (err < 0 && err != -EINTR && err != -ETIME)
		return err;
	io_uring_for_each_cqe (&s->ring, head, cqe) {
		int e = on_cqe(s, cqe);
		if (e && !first)
			first = e;
		seen++;
	}
	io_uring_cq_advance(&s->ring, seen);
	if (first)
		s->stopping = true;
	return first;
}

/* --- one configuration ------------------------------------------------------------------------ */

struct snapshot {
	struct counters ctr;
	double t;
	double user_s;
	double sys_s;
	double cpu_busy_s;
};

static void take_snapshot(const struct sender *s, struct snapshot *snap)
{
	snap->ctr = s->ctr;
	snap->t = now_s();
	thread_cpu(&snap->user_s, &snap->sys_s);
	snap->cpu_busy_s = cpu_busy_s(s->cfg->cpu);
}

static void diff_snapshots(const struct snapshot *a, const struct snapshot *b, struct result *r)
{
	r->ctr.frames = b->ctr.frames - a->ctr.frames;
	r->ctr.bytes = b->ctr.bytes - a->ctr.bytes;
	r->ctr.sends = b->ctr.sends - a->ctr.sends;
	r->ctr.short_sends = b->ctr.short_sends - a->ctr.short_sends;
	r->ctr.notifs = b->ctr.notifs - a->ctr.notifs;
	r->ctr.zc_copied = b->ctr.zc_copied - a->ctr.zc_copied;
	r->wall_s = b->t - a->t;
	r->user_s = b->user_s - a->user_s;
	r->sys_s = b->sys_s - a->sys_s;
	r->cpu_busy_s = a->cpu_busy_s < 0 || b->cpu_busy_s < 0 ? -1 : b->cpu_busy_s - a->cpu_busy_s;
}

/* Stops sending and waits until no send and no notification is outstanding, so no buffer is in
 * the kernel's hands when the memory is freed. A send failing now was already counted or is the
 * error being reported. Returns 0 or -ETIMEDOUT. */
static int drain(struct sender *s)
{
	double deadline = now_s() + DRAIN_TIMEOUT_S;
	s->stopping = true;
	while (s->inflight > 0 || s->notifs_pending > 0) {
		(void)reap(s);
		if (now_s() > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Sends on every connection for warmup + duration; fills r. Returns 0 or -errno. */
static int send_loop(struct sender *s, struct receiver *rx, struct result *r)
{
	const struct config *cfg = s->cfg;
	struct snapshot a = { 0 }, b = { 0 };
	double t0 = now_s(), t_measure = t0 + cfg->warmup_s, t_end = t_measure + cfg->duration_s;
	int phase = PHASE_WARMUP, err = 0;
	for (unsigned i = 0; i < cfg->conns && !err; i++) {
		fill_next(s, &s->conns[i]);
		err = queue_send(s, i);
	}
	while (!err && phase != PHASE_DRAIN) {
		double t;
		err = reap(s);
		t = now_s();
		if (phase == PHASE_WARMUP && t >= t_measure) {
			take_snapshot(s, &a);
			phase = PHASE_MEASURE;
			atomic_store_explicit(&rx->phase, PHASE_MEASURE, memory_order_release);
		} else if (phase == PHASE_MEASURE && t >= t_end) {
			take_snapshot(s, &b);
			phase = PHASE_DRAIN;
			atomic_store_explicit(&rx->phase, PHASE_DRAIN, memory_order_release);
		}
	}
	diff_snapshots(&a, &b, r);
	if (err)
		r->what = "send";
	return err;
}

static int sender_setup(struct sender *s, const int *tx, const char **what)
{
	int err = alloc_memory(s);
	if (err) {
		*what = "allocating buffers";
		return err;
	}
	err = ring_init(s);
	if (err) {
		*what = "io_uring_queue_init_params";
		return err;
	}
	for (unsigned i = 0; i < s->cfg->conns; i++)
		s->conns[i].fd = tx[i];
	return register_resources(s, tx, what);
}

/* Runs one configuration with fresh connections and a fresh ring. */
void run_config(const struct config *cfg, struct result *r)
{
	struct sender s = { .cfg = cfg };
	struct receiver rx = { .n = cfg->conns };
	int *tx = calloc(cfg->conns, sizeof *tx), *rxfds = calloc(cfg->conns, sizeof *rxfds);
	pthread_t thread;
	bool started = false;
	memset(r, 0, sizeof *r);
	if (!tx || !rxfds) {
		r->err = -ENOMEM;
		r->what = "allocating fds";
		goto out;
	}
	r->err = connect_pairs(cfg->conns, tx, rxfds); /* on failure, every fd is -1 */
	if (r->err) {
		r->what = "connecting over 127.0.0.1";
		goto out_fds;
	}
	rx.fds = rxfds;
	r->err = sender_setup(&s, tx, &r->what);
	if (r->err)
		goto out_fds;
	r->err = -pthread_create(&thread, NULL, rx_main, &rx);
	if (r->err) {
		r->what = "pthread_create";
		goto out_fds;
	}
	started = true;
	if (pin_thread(thread, cfg->rx_cpu) < 0)
		fprintf(stderr, "send-bench: cannot pin the receiver to CPU %d\n", cfg->rx_cpu);
	r->err = send_loop(&s, &rx, r);
	{
		int derr = drain(&s);
		if (!r->err && derr) {
			r->err = derr;
			r->what = "waiting for the last sends";
		}
	}
out_fds:
	if (started) {
		atomic_store_explicit(&rx.phase, PHASE_STOP, memory_order_release);
		pthread_join(thread, NULL);
		r->rx_bytes = rx.bytes_at[1] - rx.bytes_at[0];
		r->rx_cpu_s = rx.cpu_at[1] - rx.cpu_at[0];
		if (!r->err && rx.err) {
			r->err = rx.err;
			r->what = "receiving";
		}
	}
	r->ring_flags = s.ring_flags;
	if (s.ring_ok)
		io_uring_queue_exit(&s.ring);
	close_all(tx, cfg->conns);
	close_all(rxfds, cfg->conns);
out:
	free_memory(&s);
	free(tx);
	free(rxfds);
}
