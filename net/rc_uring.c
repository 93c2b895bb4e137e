#include "rc_uring.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int rc_uring_init(struct io_uring *ring, unsigned sq_entries, rc_uring_info *info)
{
	struct io_uring_params p;
	memset(info, 0, sizeof *info);

	/* The flags, best first:
	 *  SINGLE_ISSUER (6.0): only this worker's thread submits, so the kernel skips the locking
	 *    that guards against concurrent submitters.
	 *  DEFER_TASKRUN (6.1, needs SINGLE_ISSUER): completions are run only when we enter the
	 *    kernel to wait for them, never by interrupting the worker mid-loop; this is what makes a
	 *    loop iteration's work batch up, and it is the mode MSG_RING wake-ups are measured in
	 *    (docs/facts.md).
	 *  COOP_TASKRUN (5.19): the fallback when DEFER_TASKRUN is refused: task work still runs on
	 *    any kernel entry, but without an IPI to interrupt the worker.
	 *  CQSIZE: four completions per submission slot; one recv or send SQE pair gives two CQEs and
	 *    multishot accept gives many, and the CQ must never overflow.
	 *  SUBMIT_ALL: one bad SQE (a stale slot) must not stop the rest of the batch. */
	const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	const unsigned tries[] = {
		base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
		base | IORING_SETUP_COOP_TASKRUN,
		base,
	};
	int r = -EINVAL;
	for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
		memset(&p, 0, sizeof p);
		p.flags = tries[i];
		p.cq_entries = sq_entries * 4;
		r = io_uring_queue_init_params(sq_entries, ring, &p);
		if (r == 0)
			break;
		if (r != -EINVAL)
			return r;
	}
	if (r < 0)
		return r;
	info->single_issuer = p.flags & IORING_SETUP_SINGLE_ISSUER;
	info->defer_taskrun = p.flags & IORING_SETUP_DEFER_TASKRUN;
	info->coop_taskrun = p.flags & IORING_SETUP_COOP_TASKRUN;
	info->sq_entries = p.sq_entries;
	info->cq_entries = p.cq_entries;
	return 0;
}

int rc_bufring_init(struct io_uring *ring, rc_bufring *b, unsigned entries, uint16_t bgid)
{
	assert(entries > 0 && (entries & (entries - 1)) == 0 && entries <= 32768);
	memset(b, 0, sizeof *b);
	size_t len = (size_t)entries * sizeof(struct io_uring_buf);
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	b->br = m;
	b->entries = entries;
	b->mask = (unsigned)io_uring_buf_ring_mask(entries);
	b->bgid = bgid;
	io_uring_buf_ring_init(b->br);
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)m,
		.ring_entries = entries,
		.bgid = bgid,
	};
	int r = io_uring_register_buf_ring(ring, &reg, 0);
	if (r < 0) {
		munmap(m, len);
		memset(b, 0, sizeof *b);
		return r;
	}
	return 0;
}

void rc_bufring_fini(struct io_uring *ring, rc_bufring *b)
{
	if (b->br == NULL)
		return;
	io_uring_unregister_buf_ring(ring, b->bgid);
	munmap(b->br, (size_t)b->entries * sizeof(struct io_uring_buf));
	memset(b, 0, sizeof *b);
}

struct io_uring_sqe *rc_uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (sqe == NULL) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	assert(sqe != NULL);
	return sqe;
}

int rc_uring_ts_init(rc_uring_ts *t, uint32_t cap)
{
	assert(cap > 0);
	t->ts = calloc(cap, sizeof *t->ts);
	t->used = 0;
	t->cap = t->ts != NULL ? cap : 0;
	return t->ts != NULL ? 0 : -ENOMEM;
}

void rc_uring_ts_fini(rc_uring_ts *t)
{
	free(t->ts);
	*t = (rc_uring_ts){ 0 };
}

struct __kernel_timespec *rc_uring_ts_abs(struct io_uring *ring, rc_uring_ts *t, uint64_t ns)
{
	assert(t->cap > 0 && t->used <= t->cap);
	if (t->used == t->cap) {
		io_uring_submit(ring);
		t->used = 0;
	}
	struct __kernel_timespec *ts = &t->ts[t->used++];
	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
	return ts;
}
