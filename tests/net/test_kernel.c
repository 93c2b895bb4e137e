/* The kernel behaviours net/ relies on, checked on the running kernel (docs/facts.md has each one,
 * what the code does because of it, and where).
 *
 * One Test per fact, each on small real rings (rc_uring_init: the flags the server asks for) and
 * real TCP sockets on 127.0.0.1. A failure names the fact and what the code would get wrong if it no
 * longer holds. A kernel without the feature is reported as skipped, never as a pass. No timing is
 * asserted: every wait has a generous limit and only says "it never came". The two report-only
 * tests (RLIMIT_NOFILE, the MSG_RING round trip) print what they found with cr_log_info; run the
 * binary with --verbose to see it:
 *
 *   build/release/tests/test_net_kernel --verbose
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rc_uring.h"

/* How long a wait may take before it counts as "never came". Far above anything loopback needs, so
 * a slow machine or a sanitizer build does not fail a test. */
#define WAIT_MS 3000

/* ---- helpers --------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A ring as the server makes it (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them), or the
 * test is skipped where io_uring is unavailable. */
static bool ring_or_skip(struct io_uring *ring, rc_uring_info *info)
{
	rc_uring_info scratch;
	int r = rc_uring_init(ring, 64, info != NULL ? info : &scratch);
	if (r == -ENOSYS || r == -EPERM) {
		cr_skip_test("io_uring unavailable here (%s)", strerror(-r));
		return false;
	}
	cr_assert_eq(r, 0, "rc_uring_init: %s", strerror(-r));
	return true;
}

/* The next completion within ms milliseconds, or NULL. Submits what is prepared first. */
static struct io_uring_cqe *wait_cqe_ms(struct io_uring *ring, unsigned ms)
{
	io_uring_submit(ring);
	struct __kernel_timespec ts = { .tv_sec = ms / 1000,
		                            .tv_nsec = (long long)(ms % 1000) * 1000000 };
	struct io_uring_cqe *cqe = NULL;
	int r = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	return r == 0 ? cqe : NULL;
}

/* A listening TCP socket on 127.0.0.1 and a free port; rcvbuf > 0 sets SO_RCVBUF, which accepted
 * sockets inherit (it must be set before the handshake to size the window). */
static int listener(uint16_t *port, int rcvbuf, bool nodelay)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	int one = 1;
	if (rcvbuf > 0)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	if (nodelay)
		cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A connected client socket; sndbuf > 0 sets SO_SNDBUF (which turns off send buffer autotuning). */
static int connect_to(uint16_t port, int sndbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	if (sndbuf > 0)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
		                     .sin_port = htons(port),
		                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
	return fd;
}

/* A connected pair over loopback: *tx (client side, SO_SNDBUF sndbuf) and *rx (accepted side,
 * SO_RCVBUF rcvbuf); 0 leaves a size as the kernel chooses. */
static void tcp_pair(int *tx, int *rx, int sndbuf, int rcvbuf)
{
	uint16_t port;
	int l = listener(&port, rcvbuf, false);
	*tx = connect_to(port, sndbuf);
	*rx = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(*rx, 0, "accept: %s", strerror(errno));
	close(l);
}

/* Send with MSG_DONTWAIT until the socket takes no more. Returns the bytes it took. */
static size_t fill_socket(int fd)
{
	static char junk[16384];
	size_t total = 0;
	for (;;) {
		ssize_t n = send(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s", strerror(errno));
			return total;
		}
		total += (size_t)n;
	}
}

/* Read what arrives on fd, until nothing more comes for quiet_ms. Returns the bytes read. */
static size_t drain_socket(int fd, unsigned quiet_ms)
{
	static char sink[65536];
	size_t total = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, (int)quiet_ms) == 1) {
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return total;
}

/* ---- ring set-up ----------------------------------------------------------------------------- */

static void *submit_from_other_thread(void *arg)
{
	struct io_uring *ring = arg;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_nop(sqe);
	return (void *)(intptr_t)io_uring_submit(ring);
}

Test(kernel, single_issuer_ring_refuses_another_thread)
{
	struct io_uring ring;
	rc_uring_info info;
	if (!ring_or_skip(&ring, &info))
		return;
	if (!info.single_issuer) {
		io_uring_queue_exit(&ring);
		cr_skip_test("the kernel has no IORING_SETUP_SINGLE_ISSUER (6.0)");
		return;
	}
	pthread_t t;
	void *res;
	cr_assert_eq(pthread_create(&t, NULL, submit_from_other_thread, &ring), 0);
	pthread_join(t, &res);
	cr_expect_eq((int)(intptr_t)res, -EEXIST,
	             "FACT: a SINGLE_ISSUER ring submitted to from a thread other than its creator "
	             "gives -EEXIST; got %d. net/rc_threads.c creates each worker's ring on the "
	             "worker's own thread because of it.",
	             (int)(intptr_t)res);
	io_uring_queue_exit(&ring);
}

Test(kernel, defer_taskrun_needs_single_issuer)
{
	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int r = io_uring_queue_init_params(8, &ring, &p);
	if (r == -ENOSYS || r == -EPERM) {
		cr_skip_test("io_uring unavailable here (%s)", strerror(-r));
		return;
	}
	if (r == -EINVAL) {
		cr_skip_test("the kernel has no IORING_SETUP_DEFER_TASKRUN (6.1)");
		return;
	}
	cr_assert_eq(r, 0, "SINGLE_ISSUER | DEFER_TASKRUN: %s", strerror(-r));
	io_uring_queue_exit(&ring);
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_DEFER_TASKRUN;
	r = io_uring_queue_init_params(8, &ring, &p);
	if (r == 0)
		io_uring_queue_exit(&ring);
	cr_expect_eq(r, -EINVAL,
	             "FACT: DEFER_TASKRUN is refused without SINGLE_ISSUER (-EINVAL); got %d. "
	             "net/rc_uring.c rc_uring_init only ever asks for the two together.",
	             r);
}

/* The kernel reads a LINK_TIMEOUT's timespec when the SQE is submitted: the memory may be reused
 * after the submit, and not before (net/rc_uring.h, rc_uring_ts). */
Test(kernel, link_timeout_reads_its_timespec_at_submit)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int tx, rx;
	tcp_pair(&tx, &rx, 0, 0);
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000000 };
	char buf[16];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, rx, buf, sizeof buf, 0);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, 2);
	cr_assert_eq(io_uring_submit(&ring), 2);
	ts.tv_sec = 100000; /* too late to matter, if the kernel read it at submit */
	bool recv_done = false;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		recv_done |= cqe->user_data == 1;
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_expect(recv_done,
	          "FACT: a LINK_TIMEOUT's timespec is read at submit; a timespec changed after the "
	          "submit changed the deadline here. net/rc_uring.c rc_uring_ts_reset reuses the "
	          "deadline storage right after each submit, which would corrupt pending deadlines.");
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
}

/* ---- accepting ------------------------------------------------------------------------------- */

Test(kernel, multishot_accept_direct_ends_with_enfile_on_a_full_table)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	cr_assert_eq(io_uring_register_files_sparse(&ring, 1), 0);
	uint16_t port;
	int l = listener(&port, 0, false);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_multishot_accept_direct(sqe, l, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, 7);
	int c1 = connect_to(port, 0);
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert_not_null(cqe, "multishot accept into direct descriptors: no completion");
	if (cqe->res == -EINVAL) {
		cr_skip_test("the kernel has no multishot accept into direct descriptors (5.19)");
		return;
	}
	cr_assert_eq(cqe->res, 0, "first accept: expected slot 0 (the only one), got %d", cqe->res);
	cr_assert(cqe->flags & IORING_CQE_F_MORE, "first accept: the multishot should go on");
	io_uring_cqe_seen(&ring, cqe);

	int c2 = connect_to(port, 0);
	cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert_not_null(cqe, "second accept: no completion at all");
	cr_expect_eq(cqe->res, -ENFILE,
	             "FACT: multishot accept into a full fixed-file table gives -ENFILE; got %d. "
	             "net/rc_worker.c accept_failed keys the pause on it.",
	             cqe->res);
	cr_expect(!(cqe->flags & IORING_CQE_F_MORE),
	          "FACT: the -ENFILE ends the multishot accept (no IORING_CQE_F_MORE); it had F_MORE "
	          "here. net/rc_worker.c on_accept would believe the accept still armed and never "
	          "re-arm it, or re-arm one too many.");
	io_uring_cqe_seen(&ring, cqe);
	/* The kernel took c2 off the backlog before it found the table full, and closed it: reported,
	 * not asserted (nothing in the code depends on it, but the client that meets a full table is
	 * dropped rather than kept waiting; docs/facts.md). */
	struct pollfd pc = { .fd = c2, .events = POLLIN | POLLRDHUP };
	char ch;
	bool c2_closed = poll(&pc, 1, 200) == 1 && recv(c2, &ch, 1, MSG_DONTWAIT) == 0;
	cr_log_info("the client whose accept met the full table was %s",
	            c2_closed ? "closed by the kernel (EOF)" : "left open");

	/* A client that connects while no accept is armed waits in the listen backlog: freeing the
	 * slot and re-arming accepts it. */
	int c3 = connect_to(port, 0);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_close_direct(sqe, 0);
	io_uring_sqe_set_data64(sqe, 8);
	cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert(cqe != NULL && cqe->res == 0, "close_direct of slot 0");
	io_uring_cqe_seen(&ring, cqe);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_multishot_accept_direct(sqe, l, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, 9);
	cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_expect(cqe != NULL && cqe->res == 0,
	          "FACT: a client that connects while the accept is paused waits in the listen "
	          "backlog and is accepted once a slot frees and the accept is re-armed "
	          "(net/rc_worker.c accept_slot_freed); got %s %d",
	          cqe ? "res" : "no completion", cqe ? cqe->res : 0);
	close(c1);
	close(c2);
	close(c3);
	close(l);
	io_uring_queue_exit(&ring);
}

/* The server's listeners set TCP_NODELAY because a direct descriptor takes no setsockopt: the
 * accepted socket must inherit it (net/rc_server.c listen_socket). */
Test(kernel, accepted_socket_inherits_tcp_nodelay)
{
	uint16_t port;
	int l = listener(&port, 0, true);
	int c = connect_to(port, 0);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(a, 0, "accept: %s", strerror(errno));
	int v = 0;
	socklen_t len = sizeof v;
	cr_assert_eq(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	cr_expect_neq(v, 0,
	              "FACT: an accepted socket inherits TCP_NODELAY from its listener; it did not "
	              "here. net/rc_server.c listen_socket sets it only on the listener, so every "
	              "connection would run with Nagle (a send waits for the client's delayed ACK).");
	close(a);
	close(c);
	close(l);
}

/* ---- reading --------------------------------------------------------------------------------- */

Test(kernel, multishot_recv_ends_with_enobufs_when_the_ring_is_empty)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	rc_bufring br;
	int r = rc_bufring_init(&ring, &br, 1, 3);
	if (r == -EINVAL) {
		cr_skip_test("the kernel has no provided buffer rings (5.19)");
		return;
	}
	cr_assert_eq(r, 0, "rc_bufring_init: %s", strerror(-r));
	static char buf[64];
	rc_bufring_add(&br, buf, sizeof buf, 0);
	rc_bufring_publish(&br);
	int tx, rx;
	tcp_pair(&tx, &rx, 0, 0);
	char msg[100];
	memset(msg, 'x', sizeof msg);
	cr_assert_eq(send(tx, msg, sizeof msg, 0), (ssize_t)sizeof msg);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv_multishot(sqe, rx, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 3;
	io_uring_sqe_set_data64(sqe, 1);
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert_not_null(cqe, "multishot recv: no completion");
	if (cqe->res == -EINVAL) {
		cr_skip_test("the kernel has no multishot recv (6.0)");
		return;
	}
	cr_assert_eq(cqe->res, 64, "the one 64-byte buffer is filled first (got %d)", cqe->res);
	cr_assert(cqe->flags & IORING_CQE_F_BUFFER);
	io_uring_cqe_seen(&ring, cqe);
	cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert_not_null(cqe,
	                   "FACT: a multishot recv that finds the provided ring empty completes with "
	                   "-ENOBUFS; nothing came here. perf/ringcast-bench would wait forever for "
	                   "data that sits in the socket.");
	cr_expect_eq(cqe->res, -ENOBUFS,
	             "FACT: a multishot recv with an empty provided ring gives -ENOBUFS; got %d. "
	             "perf/ringcast-bench re-arms its recv on -ENOBUFS only.",
	             cqe->res);
	cr_expect(!(cqe->flags & IORING_CQE_F_MORE),
	          "FACT: the -ENOBUFS ends the multishot (no IORING_CQE_F_MORE); it had F_MORE. "
	          "perf/ringcast-bench would not re-arm the recv, or would arm a second one.");
	io_uring_cqe_seen(&ring, cqe);
	char rest[64];
	cr_expect_eq(recv(rx, rest, sizeof rest, MSG_DONTWAIT), 36,
	             "FACT: the unread bytes wait in the socket until the recv is re-armed");
	close(tx);
	close(rx);
	rc_bufring_fini(&ring, &br);
	io_uring_queue_exit(&ring);
}

Test(kernel, linked_timeout_cancels_a_recv)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int tx, rx;
	tcp_pair(&tx, &rx, 0, 0);
	static struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000000 };
	char buf[16];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, rx, buf, sizeof buf, 0);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, 2);
	int recv_res = 1, tmo_res = 1;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		if (cqe->user_data == 1)
			recv_res = cqe->res;
		else
			tmo_res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_expect_eq(recv_res, -ECANCELED,
	             "FACT: a recv whose linked timeout expires completes with -ECANCELED; got %d "
	             "(1: never). net/rc_conn.c conn_recv_failed reads -ECANCELED as a deadline "
	             "(handshake, idle ping, close) and would miss every one.",
	             recv_res);
	cr_expect_eq(tmo_res, -ETIME,
	             "FACT: the expired linked timeout itself completes with -ETIME; got %d (1: never)",
	             tmo_res);
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
}

/* ---- closing --------------------------------------------------------------------------------- */

/* A TCP pair whose accepted side is direct descriptor 0 of ring, with a recv pending on it
 * (user_data 1). *peer is the other side. */
static void direct_socket_with_pending_recv(struct io_uring *ring, int *peer, char *buf, size_t len)
{
	int rx;
	tcp_pair(peer, &rx, 0, 0);
	cr_assert_eq(io_uring_register_files(ring, &rx, 1), 0);
	close(rx); /* the table's reference is the only one now, as with an accepted connection */
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_recv(sqe, 0, buf, len, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, 1);
	cr_assert_eq(io_uring_submit(ring), 1);
}

/* The peer sees EOF within ms milliseconds. */
static bool peer_sees_eof(int peer, unsigned ms)
{
	struct pollfd p = { .fd = peer, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, (int)ms) != 1)
		return false;
	char c;
	return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

Test(kernel, close_direct_with_a_pending_recv_leaves_the_socket_open)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int peer;
	char buf[16];
	direct_socket_with_pending_recv(&ring, &peer, buf, sizeof buf);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_close_direct(sqe, 0);
	io_uring_sqe_set_data64(sqe, 2);
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert_not_null(cqe, "close_direct: no completion");
	cr_assert_eq(cqe->user_data, 2, "the recv completed on its own (res %d)", cqe->res);
	cr_expect_eq(cqe->res, 0, "close_direct returns 0 (got %d)", cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	bool eof = peer_sees_eof(peer, 200);
	/* Cancel the recv by its user_data (the slot is empty now: a cancel by descriptor would not
	 * find it). Its -ECANCELED proves it was still pending after the close. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_cancel64(sqe, 1, 0);
	io_uring_sqe_set_data64(sqe, 3);
	int recv_res = 1;
	for (int i = 0; i < 2; i++) {
		cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		if (cqe->user_data == 1)
			recv_res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	if (!eof && recv_res != -ECANCELED)
		cr_log_warn("the pending recv ended with %d", recv_res);
	cr_expect(!eof && recv_res == -ECANCELED,
	          "FACT: io_uring_prep_close_direct on a descriptor with a recv pending returns 0 "
	          "but the recv stays pending and the socket stays open (peer saw EOF: %s; recv "
	          "after the close: %d, expected -ECANCELED from our cancel). net/rc_conn.c "
	          "conn_abort cancels first and closes only when nothing is in flight; if this "
	          "changed, that order is merely cautious, not wrong: update docs/facts.md.",
	          eof ? "yes" : "no", recv_res);
	cr_expect(peer_sees_eof(peer, WAIT_MS),
	          "once the recv is cancelled the socket closes and the peer sees EOF");
	close(peer);
	io_uring_queue_exit(&ring);
}

/* What the server does instead (net/rc_conn.c conn_abort, then conn_closefd): cancel everything on
 * the direct descriptor, then close it; the peer sees EOF. */
Test(kernel, cancel_by_direct_descriptor_then_close_closes_the_socket)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int peer;
	char buf[16];
	direct_socket_with_pending_recv(&ring, &peer, buf, sizeof buf);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
	io_uring_sqe_set_data64(sqe, 2);
	int recv_res = 1, cancel_res = 1;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		if (cqe->user_data == 1)
			recv_res = cqe->res;
		else
			cancel_res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	if (cancel_res == -EINVAL) {
		cr_skip_test("the kernel has no IORING_ASYNC_CANCEL_FD_FIXED (6.0)");
		return;
	}
	cr_expect_eq(cancel_res, 1,
	             "FACT: a cancel with IORING_ASYNC_CANCEL_FD_FIXED | ALL finds every request on "
	             "the direct descriptor and returns how many (1 here); got %d. net/rc_conn.c "
	             "conn_abort relies on it to empty a connection before closing it.",
	             cancel_res);
	cr_expect_eq(recv_res, -ECANCELED, "the cancelled recv completes with -ECANCELED (got %d)",
	             recv_res);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_close_direct(sqe, 0);
	io_uring_sqe_set_data64(sqe, 3);
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_assert(cqe != NULL && cqe->res == 0, "close_direct after the cancel");
	io_uring_cqe_seen(&ring, cqe);
	cr_expect(peer_sees_eof(peer, WAIT_MS),
	          "FACT: with nothing in flight, close_direct closes the socket and the peer sees "
	          "EOF; it did not here, so every connection the server closes would stay open.");
	close(peer);
	io_uring_queue_exit(&ring);
}

/* ---- sending --------------------------------------------------------------------------------- */

Test(kernel, dontwait_send_on_a_full_socket_returns_eagain_at_once)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int tx, rx;
	tcp_pair(&tx, &rx, 16384, 16384);
	fill_socket(tx);
	static char data[4096];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, tx, data, sizeof data, MSG_DONTWAIT | MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, 1);
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
	cr_expect(cqe != NULL && cqe->res == -EAGAIN,
	          "FACT: an io_uring send with MSG_DONTWAIT on a full socket completes at once with "
	          "-EAGAIN instead of waiting for room; got %s %d. net/rc_send.c sends its first try "
	          "without a deadline on that promise: a send that could wait would have no timeout.",
	          cqe ? "res" : "no completion in 3 s,", cqe ? cqe->res : 0);
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
}

Test(kernel, short_send_does_not_break_a_link_chain)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int tx, rx;
	tcp_pair(&tx, &rx, 16384, 16384);
	static char big[1 << 20], tail[4] = "tail";
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, tx, big, sizeof big, MSG_DONTWAIT | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, tx, tail, sizeof tail, MSG_DONTWAIT | MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, 2);
	int first = 1, second = 1;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		if (cqe->user_data == 1)
			first = cqe->res;
		else
			second = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_assert(first > 0 && first < (int)sizeof big,
	          "the first send should be short on a socket with a small buffer (got %d)", first);
	cr_expect_neq(second, -ECANCELED,
	              "FACT: a short send does not break an IO_LINK chain: the next send still runs "
	              "(res %d, from a stream the first left incomplete). Here it was cancelled, "
	              "which would make linked sends usable; docs/facts.md and net/rc_send.h say "
	              "why the server keeps one send in flight and resumes short sends itself.",
	              second);
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
}

Test(kernel, waitall_send_cancelled_by_its_timeout_returns_the_bytes_sent)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	int tx, rx;
	tcp_pair(&tx, &rx, 16384, 16384);
	size_t before = fill_socket(tx); /* bytes ahead of the io_uring send in the stream */
	static char big[4 << 20];        /* far more than both socket buffers hold */
	static struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 500 * 1000000 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, tx, big, sizeof big, MSG_WAITALL | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, 2);
	cr_assert_eq(io_uring_submit(&ring), 2);
	/* Make room: read until some bytes of the io_uring send have arrived, then stop reading, so
	 * that the send fills the socket again and waits until its deadline. With DEFER_TASKRUN the
	 * send resumes only when this thread enters the ring (io_uring_get_events), as the server's
	 * loop does at its wait. */
	size_t got = 0;
	static char sink[65536];
	struct pollfd p = { .fd = rx, .events = POLLIN };
	uint64_t until = now_ns() + (uint64_t)WAIT_MS * 1000000u;
	while (got <= before && now_ns() < until) {
		io_uring_get_events(&ring);
		if (poll(&p, 1, 5) != 1)
			continue;
		ssize_t n = recv(rx, sink, sizeof sink, MSG_DONTWAIT);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	int send_res = 1, tmo_res = 1;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe = wait_cqe_ms(&ring, WAIT_MS);
		if (cqe == NULL)
			break;
		if (cqe->user_data == 1)
			send_res = cqe->res;
		else
			tmo_res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	got += drain_socket(rx, 300);
	cr_assert_gt(got, before, "the send made no progress after room was made");
	size_t sent = got - before;
	cr_expect_eq(send_res, (int)sent,
	             "FACT: a MSG_WAITALL send cancelled by its linked timeout after partial progress "
	             "returns the bytes it sent (%zu here), not -ECANCELED; got %d. net/rc_send.c "
	             "send_complete counts a short result as a missed write deadline; with "
	             "-ECANCELED it would still drop the client, but the byte counts would be wrong.",
	             sent, send_res);
	cr_expect_eq(tmo_res, -ETIME, "the linked timeout fired: -ETIME (got %d)", tmo_res);
	close(tx);
	close(rx);
	io_uring_queue_exit(&ring);
}

/* ---- waking another worker ------------------------------------------------------------------- */

struct sleeper {
	int ring_fd;
	_Atomic int state; /* 0 starting, 1 about to wait, 2 done */
	int res;           /* of the wait */
	uint64_t user_data;
	int cqe_res;
	bool defer_taskrun;
};

static void *sleep_in_wait(void *arg)
{
	struct sleeper *s = arg;
	struct io_uring ring;
	rc_uring_info info;
	int r = rc_uring_init(&ring, 8, &info); /* on this thread, as a worker does */
	s->ring_fd = r == 0 ? ring.ring_fd : -1;
	s->defer_taskrun = r == 0 && info.defer_taskrun;
	atomic_store(&s->state, 1);
	if (r != 0) {
		s->res = r;
		return NULL;
	}
	struct __kernel_timespec ts = { .tv_sec = WAIT_MS / 1000, .tv_nsec = 0 };
	struct io_uring_cqe *cqe = NULL;
	s->res = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
	if (s->res == 0) {
		s->user_data = cqe->user_data;
		s->cqe_res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	atomic_store(&s->state, 2);
	io_uring_queue_exit(&ring);
	return NULL;
}

Test(kernel, msg_ring_wakes_a_defer_taskrun_ring_blocked_in_a_wait)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	struct sleeper s = { .ring_fd = -1 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, sleep_in_wait, &s), 0);
	while (atomic_load(&s.state) == 0)
		sched_yield();
	cr_assert_geq(s.ring_fd, 0, "the sleeper's ring: %s", strerror(-s.res));
	usleep(20000); /* let it reach io_uring_enter: the point is to wake a sleeping ring */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_msg_ring(sqe, s.ring_fd, 42, 0xfeed, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, 1);
	cr_assert_eq(io_uring_submit(&ring), 1);
	pthread_join(t, NULL);
	/* IOSQE_CQE_SKIP_SUCCESS: the sender gets a completion only when the MSG_RING failed
	 * (net/rc_xfer.c logs it). */
	struct io_uring_cqe *cqe = wait_cqe_ms(&ring, 50);
	if (cqe != NULL && cqe->res == -EINVAL) {
		cr_skip_test("the kernel has no IORING_OP_MSG_RING (5.18)");
		return;
	}
	cr_expect_null(cqe,
	               "a MSG_RING with IOSQE_CQE_SKIP_SUCCESS posts nothing on the sender's ring "
	               "when it works (got res %d)",
	               cqe ? cqe->res : 0);
	cr_expect(s.res == 0 && s.user_data == 0xfeed && s.cqe_res == 42,
	          "FACT: IORING_OP_MSG_RING posts a CQE (our user_data and res) to a "
	          "SINGLE_ISSUER%s ring blocked in a wait, which ends the wait; got wait %d, "
	          "user_data %#llx, res %d. net/rc_xfer.c xfer_wake wakes a sleeping worker this "
	          "way; without it hand-offs would wait for the 100 ms mail check.",
	          s.defer_taskrun ? "|DEFER_TASKRUN" : "", s.res, (unsigned long long)s.user_data,
	          s.cqe_res);
	io_uring_queue_exit(&ring);
}

/* ---- reports: limits and costs of this machine ----------------------------------------------- */

Test(kernel, fixed_file_table_is_capped_by_rlimit_nofile)
{
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Criterion runs this test in a child of its own: lowering the limit stays here. The hard
	 * limit too: on -EMFILE, liburing 2.3's register functions raise the soft limit (up to the
	 * hard one) and try again. */
	struct rlimit low = { .rlim_cur = 256, .rlim_max = 256 };
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int over = io_uring_register_files_sparse(&ring, 257);
	if (over == 0)
		io_uring_unregister_files(&ring);
	int at = io_uring_register_files_sparse(&ring, 256);
	cr_expect_eq(over, -EMFILE,
	             "FACT: a direct descriptor table larger than RLIMIT_NOFILE is refused (-EMFILE); "
	             "got %d with a limit of 256 and 257 slots. net/rc_server.c "
	             "descriptor_slots sizes the table from the limit for that reason.",
	             over);
	cr_expect_eq(at, 0, "a table of exactly RLIMIT_NOFILE slots is taken (got %d)", at);
	io_uring_queue_exit(&ring);
}

Test(kernel, rlimit_nofile_report)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	struct rlimit up = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
	bool raised = setrlimit(RLIMIT_NOFILE, &up) == 0;
	struct rlimit more = { .rlim_cur = rl.rlim_max + 1, .rlim_max = rl.rlim_max + 1 };
	bool above = rl.rlim_max != RLIM_INFINITY && setrlimit(RLIMIT_NOFILE, &more) == 0;
	/* The server raises its soft limit to the hard one and can serve about that many connections
	 * per process (net/rc_server.c descriptor_slots); say what that is on this machine. */
	cr_log_info("RLIMIT_NOFILE: soft %llu, hard %llu; soft raised to hard: %s; hard raised: %s "
	            "(needs CAP_SYS_RESOURCE). The server serves at most hard - 128 connections here.",
	            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
	            raised ? "yes" : "no", above ? "yes" : "no");
}

/* The cost of waking a worker asleep in io_uring_enter: a MSG_RING ping-pong between two threads,
 * each with its own SINGLE_ISSUER | DEFER_TASKRUN ring, on two CPUs where there are two. Reported,
 * not asserted (docs/facts.md, "Waking a CPU"). */
#define PINGS 200

struct pinger {
	struct io_uring ring;
	_Atomic int ready;
	_Atomic int peer_fd;
	int cpu;
	int failed;
};

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((unsigned)cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static int wait_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = WAIT_MS / 1000, .tv_nsec = 0 };
	int r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	if (r < 0)
		return r;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static void ping(struct io_uring *ring, int to)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_msg_ring(sqe, to, 0, 1, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void *ponger(void *arg)
{
	struct pinger *p = arg;
	pin(p->cpu);
	rc_uring_info info;
	p->failed = rc_uring_init(&p->ring, 8, &info);
	atomic_store(&p->ready, 1);
	if (p->failed)
		return NULL;
	while (atomic_load(&p->peer_fd) < 0)
		sched_yield();
	for (int i = 0; i < PINGS; i++) {
		if (wait_one(&p->ring) < 0) {
			p->failed = -ETIME;
			break;
		}
		ping(&p->ring, atomic_load(&p->peer_fd));
		io_uring_submit(&p->ring);
	}
	io_uring_queue_exit(&p->ring);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

Test(kernel, msg_ring_round_trip_report)
{
	cpu_set_t set;
	bool two = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
	pin(two ? 0 : -1);
	struct io_uring ring;
	if (!ring_or_skip(&ring, NULL))
		return;
	struct pinger p = { .cpu = two ? 1 : -1, .peer_fd = -1 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, ponger, &p), 0);
	while (!atomic_load(&p.ready))
		sched_yield();
	cr_assert_eq(p.failed, 0, "the other thread's ring: %s", strerror(-p.failed));
	atomic_store(&p.peer_fd, ring.ring_fd);
	static uint64_t rtt[PINGS];
	int done = 0;
	for (; done < PINGS; done++) {
		uint64_t t0 = now_ns();
		ping(&ring, p.ring.ring_fd);
		if (wait_one(&ring) < 0)
			break;
		rtt[done] = now_ns() - t0;
	}
	pthread_join(t, NULL);
	cr_assert_eq(done, PINGS, "a MSG_RING ping got no answer within %d ms", WAIT_MS);
	qsort(rtt, PINGS, sizeof rtt[0], cmp_u64);
	cr_log_info("MSG_RING round trip between two sleeping rings (%s): p50 %.1f us, p90 %.1f us, "
	            "max %.1f us over %d",
	            two ? "CPU 0 <-> CPU 1" : "one CPU", rtt[PINGS / 2] / 1e3,
	            rtt[PINGS * 9 / 10] / 1e3, rtt[PINGS - 1] / 1e3, PINGS);
	io_uring_queue_exit(&ring);
}
