/* rc_uring on a real ring: user_data packing, the flags the ring got, and a provided buffer ring
 * set up by hand serving a real recv on a socketpair (skipped, not passed, where the kernel lacks
 * io_uring). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_uring.h"

Test(uring, user_data_round_trips)
{
	const enum rc_io ops[] = { RC_IO_ACCEPT, RC_IO_RECV, RC_IO_SEND_TIMEOUT, RC_IO_PEER };
	const uint32_t gens[] = { 0, 1, RC_GEN_MASK, RC_GEN_MASK + 5 };
	const uint32_t slots[] = { 0, 7, 65535, RC_UD_WORKER };
	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 4; j++)
			for (size_t k = 0; k < 4; k++) {
				uint64_t ud = rc_ud(ops[i], gens[j], slots[k]);
				cr_expect_eq(rc_ud_op(ud), ops[i]);
				cr_expect_eq(rc_ud_gen(ud), gens[j] & RC_GEN_MASK,
				             "the generation wraps within its 24 bits");
				cr_expect_eq(rc_ud_slot(ud), slots[k]);
			}
}

static bool ring_or_skip(struct io_uring *ring, rc_uring_info *info)
{
	int r = rc_uring_init(ring, 64, info);
	if (r == -ENOSYS || r == -EPERM) {
		cr_skip_test("io_uring unavailable here (%s)", strerror(-r));
		return false;
	}
	cr_assert_eq(r, 0, "rc_uring_init: %s", strerror(-r));
	return true;
}

Test(uring, ring_flags_and_sizes)
{
	struct io_uring ring;
	rc_uring_info info;
	if (!ring_or_skip(&ring, &info))
		return;
	cr_expect_geq(info.sq_entries, 64);
	cr_expect_geq(info.cq_entries, 4 * info.sq_entries, "CQ is 4x SQ so it cannot overflow");
	cr_expect(!info.defer_taskrun || info.single_issuer, "DEFER_TASKRUN needs SINGLE_ISSUER");
	io_uring_queue_exit(&ring);
}

Test(uring, provided_buffers_serve_a_recv_and_run_out)
{
	struct io_uring ring;
	rc_uring_info info;
	if (!ring_or_skip(&ring, &info))
		return;
	rc_bufring br;
	cr_assert_eq(rc_bufring_init(&ring, &br, 2, 7), 0);
	static char bufs[2][64];
	rc_bufring_add(&br, bufs[0], sizeof bufs[0], 10);
	rc_bufring_publish(&br);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(write(sv[1], "hello", 5), 5);
	for (int round = 0; round < 2; round++) {
		struct io_uring_sqe *sqe = rc_uring_sqe(&ring);
		io_uring_prep_recv(sqe, sv[0], NULL, 64, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 7;
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_RECV, 3, 42));
		cr_assert_eq(io_uring_submit(&ring), 1);
		struct io_uring_cqe *cqe;
		cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		cr_expect_eq(rc_ud_slot(cqe->user_data), 42);
		if (round == 0) {
			cr_expect_eq(cqe->res, 5);
			cr_assert(cqe->flags & IORING_CQE_F_BUFFER);
			cr_expect_eq(cqe->flags >> IORING_CQE_BUFFER_SHIFT, 10, "our buffer id");
			cr_expect_eq(memcmp(bufs[0], "hello", 5), 0);
			cr_assert_eq(write(sv[1], "again", 5), 5);
		} else {
			cr_expect_eq(cqe->res, -ENOBUFS, "the ring is empty: no buffer, no data lost");
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	char rest[8];
	cr_expect_eq(read(sv[0], rest, sizeof rest), 5, "the unread data waits in the socket");
	close(sv[0]);
	close(sv[1]);
	rc_bufring_fini(&ring, &br);
	io_uring_queue_exit(&ring);
}
