/* send-bench: how should the server hand bytes to the kernel? A loopback io_uring benchmark.
 *
 * The program is the folder perf/send/: send.h (this: what is measured, and the types), harness.c
 * (the clock and CPU time, loopback connection pairs, the receiver thread), sender.c (the sending
 * thread's ring, sends and loop: one configuration), main.c (the command line, the matrices, the
 * output).
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
#ifndef SEND_SEND_H
#define SEND_SEND_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

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

extern const char *const mode_names[]; /* by enum mode */

/* ---- harness.c -------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* The calling thread's user and system CPU time in seconds. */
void thread_cpu(double *user_s, double *sys_s);
/* Seconds CPU `cpu` was busy since boot (/proc/stat), or -1. */
double cpu_busy_s(int cpu);
/* Pin thread t to cpu. Returns 0 or -errno. */
int pin_thread(pthread_t t, int cpu);
/* Anonymous memory, faulted in now; NULL on failure. region_free(NULL, n) does nothing. */
void *region_alloc(size_t bytes);
void region_free(void *p, size_t bytes);
/* Connect n pairs over 127.0.0.1: tx[i] the sender's end, rx[i] the receiver's (non-blocking).
 * Returns 0 or -errno (then every fd is -1). */
int connect_pairs(unsigned n, int *tx, int *rx);
/* Close the fds that are >= 0. */
void close_all(int *fds, unsigned n);
/* The receiver thread (arg: struct receiver): drains every connection until PHASE_STOP. */
void *rx_main(void *arg);

/* ---- sender.c --------------------------------------------------------------------------------- */

/* Run one configuration with fresh connections and a fresh ring; the result (r->err < 0 and
 * r->what say what failed) goes to r. */
void run_config(const struct config *cfg, struct result *r);

#endif
