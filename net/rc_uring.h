/* rc_uring: the io_uring plumbing of one worker: ring setup with the flags chosen on purpose,
 * the provided buffer ring set up by hand (liburing 2.3 has no io_uring_setup_buf_ring), and the
 * typed user_data every SQE carries.
 *
 * user_data is 64 bits: | op (8) | generation (24) | slot (32) |. The slot is the connection's
 * direct descriptor index (the kernel picks it at accept), the generation is bumped every time a
 * slot is reused, so a completion that arrives for a connection that has since been replaced is
 * recognised (generation mismatch) and dropped. Worker-level operations (accept, signals, the
 * drain timer) use slot RC_UD_WORKER.
 */
#ifndef RC_URING_H
#define RC_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/* Operations, the first byte of user_data. */
enum rc_io {
	RC_IO_NONE = 0,
	RC_IO_ACCEPT,       /* multishot accept into direct descriptors (worker) */
	RC_IO_SIGNAL,       /* read of the signalfd (worker) */
	RC_IO_DRAIN,        /* the drain deadline timeout (worker) */
	RC_IO_RECV,         /* a connection's read, with a buffer from the provided ring */
	RC_IO_RECV_TIMEOUT, /* the LINK_TIMEOUT linked to that read */
	RC_IO_SEND,         /* a connection's one send in flight */
	RC_IO_SEND_TIMEOUT, /* the LINK_TIMEOUT linked to it */
	RC_IO_CANCEL,       /* cancel of everything in flight on a descriptor */
	RC_IO_CLOSEFD,      /* close of the direct descriptor: the last operation of a connection */
	RC_IO_PEER,         /* install of the direct descriptor as a plain one, to read the peer */
	RC_IO_WAKE,         /* posted by another worker's MSG_RING: mail is waiting (worker) */
	RC_IO_STOP,         /* posted by worker 0's MSG_RING: a signal came; res = signals so far */
	RC_IO_RELOAD,       /* posted by worker 0's MSG_RING: SIGHUP, take the new configuration */
	RC_IO_MSG_RING,     /* our MSG_RING to another worker (its CQE comes only on failure) */
	RC_IO_ADMIN,        /* posted by the admin thread's MSG_RING: answer it (rc_admin.h) */
};

#define RC_UD_WORKER UINT32_MAX
#define RC_GEN_MASK 0xffffffu

static inline uint64_t rc_ud(enum rc_io op, uint32_t gen, uint32_t slot)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & RC_GEN_MASK) << 32 | slot;
}
static inline enum rc_io rc_ud_op(uint64_t ud)
{
	return (enum rc_io)(ud >> 56);
}
static inline uint32_t rc_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & RC_GEN_MASK;
}
static inline uint32_t rc_ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

/* Newer than the liburing 2.3 headers, present in kernel 6.18. */
#ifndef IORING_OP_FIXED_FD_INSTALL
#define IORING_OP_FIXED_FD_INSTALL 54 /* 6.8: install a direct descriptor in the file table */
#endif

/* What rc_uring_init managed to get: for the start-up log. */
typedef struct rc_uring_info {
	bool single_issuer;
	bool defer_taskrun;
	bool coop_taskrun;
	unsigned sq_entries;
	unsigned cq_entries;
} rc_uring_info;

/* Create the ring on the calling thread (SINGLE_ISSUER ties it to this thread) with sq_entries
 * submission slots and a completion queue 4 times larger, choosing the best flags the kernel takes
 * (see rc_uring.c). Returns 0 or -errno. */
int rc_uring_init(struct io_uring *ring, unsigned sq_entries, rc_uring_info *info);

/* A provided buffer ring (IORING_REGISTER_PBUF_RING) of `entries` slots (a power of two). */
typedef struct rc_bufring {
	struct io_uring_buf_ring *br;
	unsigned entries;
	unsigned mask;
	uint16_t bgid;
	unsigned pending; /* buffers added since the last publish */
} rc_bufring;

/* Map and register the ring memory. Returns 0 or -errno (-EINVAL: the kernel lacks provided
 * buffer rings, 5.19+). */
int rc_bufring_init(struct io_uring *ring, rc_bufring *b, unsigned entries, uint16_t bgid);
void rc_bufring_fini(struct io_uring *ring, rc_bufring *b);

/* Queue a buffer for the kernel; it becomes visible at rc_bufring_publish. */
static inline void rc_bufring_add(rc_bufring *b, void *addr, unsigned len, uint16_t bid)
{
	io_uring_buf_ring_add(b->br, addr, len, bid, (int)b->mask, (int)b->pending);
	b->pending++;
}

static inline void rc_bufring_publish(rc_bufring *b)
{
	if (b->pending) {
		io_uring_buf_ring_advance(b->br, (int)b->pending);
		b->pending = 0;
	}
}

/* An SQE, flushing the submission queue to the kernel once if it is full. Never NULL: the queue is
 * sized so that one flush always frees room (asserted). */
struct io_uring_sqe *rc_uring_sqe(struct io_uring *ring);

/* Make sure n SQEs can be taken in a row without a submit in between (a request and its linked
 * timeout must reach the kernel in the same submit, or the link is lost): submits first if fewer
 * than n slots are free. */
static inline void rc_uring_reserve(struct io_uring *ring, unsigned n)
{
	if (io_uring_sq_space_left(ring) < n)
		io_uring_submit(ring);
}

/* Storage for the absolute deadlines of LINK_TIMEOUTs. The kernel reads a timeout's timespec when
 * the SQE is submitted, not when it is prepared, so each must stay put until the next submit: they
 * are taken from this array, which the loop empties (rc_uring_ts_reset) after each submit. */
typedef struct rc_uring_ts {
	struct __kernel_timespec *ts;
	uint32_t used;
	uint32_t cap;
} rc_uring_ts;

/* Room for cap deadlines between two submits. Returns 0 or -ENOMEM. */
int rc_uring_ts_init(rc_uring_ts *t, uint32_t cap);
void rc_uring_ts_fini(rc_uring_ts *t);

/* A timespec holding ns (CLOCK_MONOTONIC), valid until the next submit. When the array is full it
 * submits what is prepared (their timespecs are read then) and starts over. Never NULL. */
struct __kernel_timespec *rc_uring_ts_abs(struct io_uring *ring, rc_uring_ts *t, uint64_t ns);

/* Everything prepared was submitted: the timespecs may be reused. */
static inline void rc_uring_ts_reset(rc_uring_ts *t)
{
	t->used = 0;
}

#endif
