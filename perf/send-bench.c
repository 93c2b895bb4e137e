/* send-bench: how should the server hand bytes to the kernel? A loopback io_uring benchmark.
 *
 * The server sends, per subscriber per loop iteration, one send carrying every small WebSocket
 * frame queued for that subscriber; each frame is a shared, refcounted buffer in one registered
 * region. This program measures the choices behind that send, outside the server:
 *
 *   1. batching  (--matrix batching): small frames (32-512 B), 1-128 per send, sent either
 *      as IORING_OP_SENDMSG with one iovec per frame pointing at the shared frames where they lie
 *      (scattered over a 16 MiB region), or copied into a per-connection 64 KiB staging buffer
 *      and sent with one IORING_OP_SEND (--mode iovec | staging).
 *   2. zero copy (--matrix zc): one large contiguous buffer per send, 1 KiB to 1 MiB, with
 *      IORING_OP_SEND or IORING_OP_SEND_ZC (--mode send | zc). A zero-copy send posts its result
 *      (IORING_CQE_F_MORE) and later a notification (IORING_CQE_F_NOTIF); the notification is
 *      where the server would drop its reference to the frame. The buffer is never written (shared
 *      frames are immutable while referenced), so the next send on the connection goes out at the
 *      result; the run ends only when every notification is in. Notifications report whether the
 *      kernel copied the data anyway (IORING_SEND_ZC_REPORT_USAGE).
 *   3. registered resources (--matrix registered): direct descriptors (io_uring_register_files
 *      + IOSQE_FIXED_FILE) against plain fds (--plain-fds), and registered buffers
 *      (IORING_RECVSEND_FIXED_BUF, --fixed-buf) against plain addresses, for send, zc and staging.
 *
 * Set-up: --conns TCP connections over 127.0.0.1. The sender (this thread, pinned to --cpu) owns
 * one io_uring and keeps exactly one send in flight per connection, re-submitting when it
 * completes and resuming the rest of a short send itself. A receiver thread pinned to --rx-cpu
 * drains every connection with epoll and 1 MiB reads and discards the bytes. Nagle stays on, as
 * on the server's sockets. After --warmup seconds the counters and the sender thread's CPU time
 * (getrusage RUSAGE_THREAD: with DEFER_TASKRUN the completion work runs in this thread, and on
 * loopback so does the receiving side's TCP processing) are read, and again --duration seconds
 * later. A send counts when all its bytes are taken.
 *
 * Output: one line per configuration on stderr, one JSON object per configuration on stdout.
 * Build and run (the machine has 2 CPUs; keep other load off them):
 *   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release && cmake --build build/release
 *   build/release/perf/send-bench --mode staging --frame-size 64 --batch 32
 *   build/release/perf/send-bench --matrix batching > batching.json     # or zc, registered
 *   build/release/perf/send-bench --all > all.json                      # all three matrices
 * Results and decisions: docs/benchmarks.md, "Measured decisions: how the server sends". */
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

/* Newer than the liburing 2.3 headers; the values are the kernel's ABI. */
#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF (1U << 2) /* send/recv: addr lies in registered buf_index */
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3) /* the notification says if the data was copied */
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

/* Frames live in FRAME_SLOTS slots of FRAME_SLOT_BYTES; frame j of the broadcast sequence sits in
 * slot (j * FRAME_SLOT_STEP) mod FRAME_SLOTS (odd step: a permutation), so consecutive frames are
 * megabytes apart, never contiguous, as frames taken from a shared pool can be. */
#define FRAME_SLOT_BYTES 1024u
#define FRAME_SLOTS 16384u /* 16 MiB */
#define FRAME_SLOT_STEP 4099u
#define STAGING_BYTES (64u * 1024u) /* the server's staging chunk */
#define BATCH_MAX 1024u             /* UIO_MAXIOV */
#define SEND_BYTES_MAX (16u << 20)
#define CONNS_MAX 4096u
#define RX_BUF_BYTES (1u << 20)
#define DRAIN_TIMEOUT_S 10.0

enum mode {
	MODE_IOVEC,
	MODE_STAGING,
	MODE_SEND,
	MODE_ZC
};
static const char *const mode_names[] = { "iovec", "staging", "send", "zc" };

/* Indexes of the registered buffers when --fixed-buf is on. */
enum {
	BUF_PAYLOAD,
	BUF_STAGING,
	BUF_COUNT
};

struct config {
	enum mode mode;
	unsigned frame_bytes; /* iovec, staging: bytes per frame */
	unsigned batch;       /* iovec, staging: frames per send */
	size_t send_bytes;    /* send, zc: bytes per send (one frame) */
	unsigned conns;
	double duration_s;
	double warmup_s;
	int cpu;
	int rx_cpu;
	bool fixed_files; /* direct descriptors (the server's choice) */
	bool fixed_buf;
};

struct counters {
	uint64_t frames;
	uint64_t bytes;
	uint64_t sends;       /* sends whose bytes were all taken */
	uint64_t short_sends; /* completions that took only part of what was asked */
	uint64_t notifs;
	uint64_t zc_copied; /* notifications saying the kernel copied after all */
};

/* One connection, sender side. Exactly one send is in flight while `len` > `off`. */
struct conn {
	int fd;
	const uint8_t *buf; /* send, staging, zc: the contiguous bytes of the current send */
	size_t len;         /* bytes in the current send */
	size_t off;         /* bytes of it the kernel has taken */
	unsigned frames;    /* frames in the current send */
	uint64_t cursor;    /* next frame of the broadcast sequence */
	uint8_t *staging;   /* staging: this connection's 64 KiB in the staging region */
	struct iovec *iov;  /* iovec: one per frame of the current send */
	unsigned iov_first; /* iovec: first iovec not wholly taken */
	struct msghdr msg;
};

struct sender {
	const struct config *cfg;
	struct io_uring ring;
	bool ring_ok;
	const char *ring_flags;
	struct conn *conns;
	struct iovec *iovs; /* conns * batch, for iovec mode */
	uint8_t *frames;    /* FRAME_SLOTS * FRAME_SLOT_BYTES */
	uint8_t *payload;   /* send_bytes, shared by every connection (a broadcast frame) */
	uint8_t *staging;   /* conns * STAGING_BYTES */
	size_t staging_bytes;
	unsigned inflight;
	unsigned notifs_pending;
	bool stopping;
	struct counters ctr;
};

enum phase {
	PHASE_WARMUP,
	PHASE_MEASURE,
	PHASE_DRAIN,
	PHASE_STOP
};

struct receiver {
	int *fds;
	unsigned n;
	_Atomic int phase;
	int err; /* negative errno, set by the thread */
	uint64_t bytes;
	uint64_t bytes_at[2]; /* at PHASE_MEASURE and PHASE_DRAIN */
	double cpu_at[2];
};

struct result {
	struct counters ctr;
	double wall_s;
	double user_s;
	double sys_s;
	double cpu_busy_s; /* the sender's CPU, everything that ran on it */
	double rx_cpu_s;
	uint64_t rx_bytes;
	int err;          /* negative errno, 0 when the run completed */
	const char *what; /* which step failed */
	const char *ring_flags;
};

/* --- small helpers ---------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void thread_cpu(double *user_s, double *sys_s)
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
static double cpu_busy_s(int cpu)
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

static int pin_thread(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof set, &set);
}

/* Anonymous memory, faulted in now so the measurement does not pay for it. NULL on failure. */
static void *region_alloc(size_t bytes)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void region_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

static const uint8_t *frame_at(const struct sender *s, uint64_t j)
{
	uint64_t slot = (j * FRAME_SLOT_STEP) & (FRAME_SLOTS - 1);
	return s->frames + slot * FRAME_SLOT_BYTES;
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
static int connect_pairs(unsigned n, int *tx, int *rx)
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

static void close_all(int *fds, unsigned n)
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

static void *rx_main(void *arg)
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
static void run_config(const struct config *cfg, struct result *r)
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

/* --- output ----------------------------------------------------------------------------------- */

static double per(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void print_human(const struct config *cfg, const struct result *r)
{
	double cpu = r->user_s + r->sys_s;
	char what[64];
	if (cfg->mode == MODE_IOVEC || cfg->mode == MODE_STAGING)
		snprintf(what, sizeof what, "%u B x %u", cfg->frame_bytes, cfg->batch);
	else
		snprintf(what, sizeof what, "%zu B", cfg->send_bytes);
	fprintf(stderr, "%-7s %-12s conns %u %s%s: ", mode_names[cfg->mode], what, cfg->conns,
	        cfg->fixed_files ? "direct-fds" : "plain-fds", cfg->fixed_buf ? " fixed-buf" : "");
	if (r->err) {
		fprintf(stderr, "FAILED in %s: %s\n", r->what ? r->what : "?", strerror(-r->err));
		return;
	}
	fprintf(stderr,
	        "%7.3fM frames/s, %7.3fM frames/CPU-s, %8.1f MB/s, %8.1f MB/CPU-s, "
	        "cpu %.2f/%.2f s, "
	        "cpu%d busy %.2f s, rx cpu %.2f s, %llu short%s\n",
	        per(r->ctr.frames, r->wall_s) / 1e6, per(r->ctr.frames, cpu) / 1e6,
	        per(r->ctr.bytes, r->wall_s) / 1e6, per(r->ctr.bytes, cpu) / 1e6, cpu, r->wall_s,
	        cfg->cpu, r->cpu_busy_s, r->rx_cpu_s, (unsigned long long)r->ctr.short_sends,
	        cfg->mode == MODE_ZC ? (r->ctr.zc_copied == r->ctr.notifs ? ", zc: all copied"
	                                                                  : ", zc: not all copied")
	                             : "");
}

static void print_json(const struct config *cfg, const struct result *r)
{
	double cpu = r->user_s + r->sys_s;
	printf("{\"mode\":\"%s\",\"frame_bytes\":%u,\"batch\":%u,\"send_bytes\":%zu,\"conns\":%u,"
	       "\"fixed_files\":%s,\"fixed_buf\":%s,\"ring\":\"%s\",\"cpu\":%d,\"rx_cpu\":%d,",
	       mode_names[cfg->mode], cfg->mode <= MODE_STAGING ? cfg->frame_bytes : 0,
	       cfg->mode <= MODE_STAGING ? cfg->batch : 1,
	       cfg->mode <= MODE_STAGING ? (size_t)cfg->batch * cfg->frame_bytes : cfg->send_bytes,
	       cfg->conns, cfg->fixed_files ? "true" : "false", cfg->fixed_buf ? "true" : "false",
	       r->ring_flags ? r->ring_flags : "", cfg->cpu, cfg->rx_cpu);
	if (r->err) {
		printf("\"error\":\"%s: %s\",\"errno\":%d}\n", r->what ? r->what : "?", strerror(-r->err),
		       -r->err);
		fflush(stdout);
		return;
	}
	printf("\"wall_s\":%.4f,\"sender_cpu_s\":%.4f,\"sender_user_s\":%.4f,\"sender_sys_s\":%.4f,"
	       "\"cpu_busy_s\":%.2f,\"rx_cpu_s\":%.4f,\"frames\":%llu,\"sends\":%llu,"
	       "\"short_sends\":%llu,\"bytes\":%llu,"
	       "\"rx_bytes\":%llu,\"zc_notifs\":%llu,\"zc_copied\":%llu,"
	       "\"frames_per_s\":%.0f,\"frames_per_cpu_s\":%.0f,\"bytes_per_s\":%.0f,"
	       "\"bytes_per_cpu_s\":%.0f,\"error\":null}\n",
	       r->wall_s, cpu, r->user_s, r->sys_s, r->cpu_busy_s, r->rx_cpu_s,
	       (unsigned long long)r->ctr.frames, (unsigned long long)r->ctr.sends,
	       (unsigned long long)r->ctr.short_sends, (unsigned long long)r->ctr.bytes,
	       (unsigned long long)r->rx_bytes, (unsigned long long)r->ctr.notifs,
	       (unsigned long long)r->ctr.zc_copied, per(r->ctr.frames, r->wall_s),
	       per(r->ctr.frames, cpu), per(r->ctr.bytes, r->wall_s), per(r->ctr.bytes, cpu));
	fflush(stdout);
}

/* --- the matrices ----------------------------------------------------------------------------- */

/* Runs cfg, prints it, and returns 1 if it failed. */
static int run_and_print(const struct config *cfg)
{
	struct result r;
	run_config(cfg, &r);
	print_human(cfg, &r);
	print_json(cfg, &r);
	return r.err != 0;
}

static const unsigned batching_sizes[] = { 32, 64, 128, 256, 512 };
static const unsigned batching_batches[] = { 1, 8, 32, 128 };
static const size_t zc_sizes[] = { 1024, 4096, 16384, 65536, 262144, 1048576 };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Question 1. For each point the two modes run back to back, so drifting load hits both. */
static int matrix_batching(struct config base)
{
	int failed = 0;
	for (size_t i = 0; i < COUNT(batching_sizes); i++) {
		for (size_t j = 0; j < COUNT(batching_batches); j++) {
			struct config c = base;
			c.frame_bytes = batching_sizes[i];
			c.batch = batching_batches[j];
			c.mode = MODE_STAGING;
			failed += run_and_print(&c);
			c.mode = MODE_IOVEC;
			failed += run_and_print(&c);
		}
	}
	return failed;
}

/* Question 2. */
static int matrix_zc(struct config base)
{
	int failed = 0;
	for (size_t i = 0; i < COUNT(zc_sizes); i++) {
		struct config c = base;
		c.send_bytes = zc_sizes[i];
		c.mode = MODE_SEND;
		failed += run_and_print(&c);
		c.mode = MODE_ZC;
		failed += run_and_print(&c);
	}
	return failed;
}

/* Question 3: each point with and without the registered resource, back to back. */
static int matrix_registered(struct config base)
{
	static const struct {
		enum mode mode;
		unsigned frame_bytes, batch;
		size_t send_bytes;
		bool buf; /* also compare registered buffers */
	} points[] = {
		{ MODE_STAGING, 64, 1, 0, false },  { MODE_STAGING, 64, 32, 0, true },
		{ MODE_SEND, 0, 0, 4096, true },    { MODE_SEND, 0, 0, 65536, true },
		{ MODE_SEND, 0, 0, 1048576, true }, { MODE_ZC, 0, 0, 4096, true },
		{ MODE_ZC, 0, 0, 65536, true },     { MODE_ZC, 0, 0, 1048576, true },
	};
	int failed = 0;
	for (size_t i = 0; i < COUNT(points); i++) {
		struct config c = base;
		c.mode = points[i].mode;
		if (points[i].batch) {
			c.frame_bytes = points[i].frame_bytes;
			c.batch = points[i].batch;
		} else {
			c.send_bytes = points[i].send_bytes;
		}
		c.fixed_buf = false;
		c.fixed_files = true;
		failed += run_and_print(&c);
		c.fixed_files = false;
		failed += run_and_print(&c);
		if (points[i].buf) {
			c.fixed_files = true;
			c.fixed_buf = true;
			failed += run_and_print(&c);
		}
	}
	return failed;
}

/* --- command line ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: send-bench [options]\n"
	        "  --mode iovec|staging|send|zc  what one send is (default staging)\n"
	        "  --frame-size N    bytes per frame, iovec and staging (default 64, at most %u)\n"
	        "  --batch N         frames per send, iovec and staging (default 32, at most %u)\n"
	        "  --size N[k|m]     bytes per send, send and zc (default 64k, at most 16m)\n"
	        "  -c, --conns N     loopback TCP connections (default 64)\n"
	        "  -d, --duration S  measured seconds (default 3)\n"
	        "  --warmup S        seconds before measuring (default 0.5)\n"
	        "  --cpu N           CPU of the sender (default 0)\n"
	        "  --rx-cpu N        CPU of the receiver (default 1)\n"
	        "  --plain-fds       plain fds instead of direct descriptors\n"
	        "  --fixed-buf       registered buffers (RECVSEND_FIXED_BUF), not with iovec\n"
	        "  --matrix batching|zc|registered|all   run a question's whole matrix\n"
	        "  --all             the same as --matrix all\n"
	        "One line per configuration on stderr, one JSON object per configuration on\n"
	        "stdout.\n",
	        FRAME_SLOT_BYTES / 2, BATCH_MAX);
}

/* Parses an unsigned number with an optional k or m suffix (powers of 1024) into *out, if it is
 * within [min, max]. Returns 0 or -EINVAL. */
static int parse_size(const char *arg, size_t min, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end || v < min || v > max)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_unsigned(const char *arg, unsigned min, unsigned max, unsigned *out)
{
	size_t v;
	int err = parse_size(arg, min, max, &v);
	if (!err)
		*out = (unsigned)v;
	return err;
}

static int parse_seconds(const char *arg, double min, double *out)
{
	char *end;
	double v = strtod(arg, &end);
	if (end == arg || *end || !(v >= min) || v > 3600)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_mode(const char *arg, enum mode *out)
{
	for (size_t i = 0; i < COUNT(mode_names); i++) {
		if (!strcmp(arg, mode_names[i])) {
			*out = (enum mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Checks what a single configuration needs. Returns NULL or what is wrong. */
static const char *config_check(const struct config *cfg)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (cfg->cpu >= ncpu || cfg->rx_cpu >= ncpu)
		return "--cpu and --rx-cpu must name online CPUs";
	if (cfg->mode <= MODE_STAGING && (size_t)cfg->batch * cfg->frame_bytes > STAGING_BYTES)
		return "--batch x --frame-size must fit the 64 KiB staging buffer";
	if (cfg->mode == MODE_IOVEC && cfg->fixed_buf)
		return "--fixed-buf does not apply to sendmsg (--mode iovec)";
	return NULL;
}

enum {
	OPT_MODE = 256,
	OPT_FRAME,
	OPT_BATCH,
	OPT_SIZE,
	OPT_CONNS,
	OPT_DURATION,
	OPT_WARMUP,
	OPT_CPU,
	OPT_RX_CPU,
	OPT_PLAIN_FDS,
	OPT_FIXED_BUF,
	OPT_MATRIX,
	OPT_ALL,
	OPT_HELP
};

static const struct option long_opts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "frame-size", required_argument, NULL, OPT_FRAME },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "conns", required_argument, NULL, OPT_CONNS },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "rx-cpu", required_argument, NULL, OPT_RX_CPU },
	{ "plain-fds", no_argument, NULL, OPT_PLAIN_FDS },
	{ "fixed-buf", no_argument, NULL, OPT_FIXED_BUF },
	{ "matrix", required_argument, NULL, OPT_MATRIX },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_cpu(const char *arg, int *out)
{
	unsigned v;
	int err = parse_unsigned(arg, 0, CPU_SETSIZE - 1, &v);
	if (!err)
		*out = (int)v;
	return err;
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* Applies one option to cfg (or *matrix). Returns 0 or -EINVAL. */
static int apply_option(int opt, const char *arg, struct config *cfg, const char **matrix)
{
	switch (opt) {
	case OPT_MODE:
		return parse_mode(arg, &cfg->mode);
	case OPT_FRAME:
		return parse_unsigned(arg, 1, FRAME_SLOT_BYTES / 2, &cfg->frame_bytes);
	case OPT_BATCH:
		return parse_unsigned(arg, 1, BATCH_MAX, &cfg->batch);
	case OPT_SIZE:
		return parse_size(arg, 1, SEND_BYTES_MAX, &cfg->send_bytes);
	case OPT_CONNS:
		return parse_unsigned(arg, 1, CONNS_MAX, &cfg->conns);
	case OPT_DURATION:
		return parse_seconds(arg, 0.1, &cfg->duration_s);
	case OPT_WARMUP:
		return parse_seconds(arg, 0, &cfg->warmup_s);
	case OPT_CPU:
		return parse_cpu(arg, &cfg->cpu);
	case OPT_RX_CPU:
		return parse_cpu(arg, &cfg->rx_cpu);
	case OPT_PLAIN_FDS:
		cfg->fixed_files = false;
		return 0;
	case OPT_FIXED_BUF:
		cfg->fixed_buf = true;
		return 0;
	case OPT_MATRIX:
		*matrix = arg;
		return 0;
	case OPT_ALL:
		*matrix = "all";
		return 0;
	default:
		return -EINVAL;
	}
}

static int run_matrix(const char *name, const struct config *base)
{
	bool all = !strcmp(name, "all");
	int failed = 0;
	if (all || !strcmp(name, "batching"))
		failed += matrix_batching(*base);
	if (all || !strcmp(name, "zc"))
		failed += matrix_zc(*base);
	if (all || !strcmp(name, "registered"))
		failed += matrix_registered(*base);
	return failed;
}

int main(int argc, char **argv)
{
	struct config cfg = { .mode = MODE_STAGING,
		                  .frame_bytes = 64,
		                  .batch = 32,
		                  .send_bytes = 64 * 1024,
		                  .conns = 64,
		                  .duration_s = 3.0,
		                  .warmup_s = 0.5,
		                  .cpu = 0,
		                  .rx_cpu = 1,
		                  .fixed_files = true };
	const char *matrix = NULL, *bad;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:d:", long_opts, NULL)) != -1) {
		opt = opt == 'c' ? OPT_CONNS : opt == 'd' ? OPT_DURATION : opt;
		if (opt == OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (opt == '?' || apply_option(opt, optarg, &cfg, &matrix)) {
			if (opt != '?')
				fprintf(stderr, "send-bench: bad value '%s' for --%s\n", optarg, option_name(opt));
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || (matrix && strcmp(matrix, "all") && strcmp(matrix, "batching") &&
	                      strcmp(matrix, "zc") && strcmp(matrix, "registered"))) {
		usage(stderr);
		return 2;
	}
	if ((bad = config_check(&cfg))) {
		fprintf(stderr, "send-bench: %s\n", bad);
		return 2;
	}
	/* The sender is this thread: pin it before any ring is made, so its owner never moves. */
	if (pin_thread(pthread_self(), cfg.cpu) < 0)
		fprintf(stderr, "send-bench: cannot pin the sender to CPU %d\n", cfg.cpu);
	if (matrix)
		return run_matrix(matrix, &cfg) ? 1 : 0;
	return run_and_print(&cfg);
}
