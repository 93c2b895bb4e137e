/* Tests of rc_pool's remote-free path (rc_pool_remote_put / rc_pool_collect_remote).
 *
 * Single-thread semantics first: a pending buffer counts as in use, collect sends POOL home to the
 * free stack and RECV to the returned list, links are reset so a buffer can go round again, and
 * every misuse aborts (a buffer pushed twice, free, with the kernel, returned, shared, or also
 * released locally).
 *
 * Then the hammer: N threads (2, 3, 4, and 8 on this 2-CPU machine: oversubscribed, so pushes are
 * preempted between their load and their CAS) each own a disjoint set of 2,048 buffer indices.
 * The owner (the test's thread) hands buffers out, one flag per buffer, release/acquire, like the
 * mailbox will; a thread checks the token the owner wrote in the buffer, writes its answer into the
 * buffer, and remote_puts it; the owner collects in a loop, validates every 64 iterations, and
 * hands out 1 to 256 buffers per iteration (varying) as the pool gives them back, plus a share of
 * buffers it releases locally so that the returned list mixes local and remote releases. 1,000,000
 * remote frees per test, for POOL and for RECV buffers. At the end every buffer is back exactly
 * once: validate, counts, every index seen once, per-index hand-outs == per-index remote puts, and
 * the token sums match. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rc_pool.h"

#define VALID(p) cr_assert(rc_pool_validate(p), "rc_pool_validate failed (line %d)", __LINE__)

static uint8_t *region_map(size_t len)
{
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	return m;
}

static void expect_stats(const rc_pool *p, uint32_t free, uint32_t pool_used, uint32_t kernel,
                         uint32_t held, uint32_t returned, uint64_t remote, int line)
{
	struct rc_pool_stats st;
	rc_pool_stats(p, &st);
	cr_assert(st.free == free && st.pool_used == pool_used && st.recv_kernel == kernel &&
	                  st.recv_held == held && st.recv_returned == returned &&
	                  st.remote_frees == remote,
	          "line %d: free %u pool %u kernel %u held %u returned %u remote %lu, expected "
	          "%u %u %u %u %u %lu",
	          line, st.free, st.pool_used, st.recv_kernel, st.recv_held, st.recv_returned,
	          (unsigned long)st.remote_frees, free, pool_used, kernel, held, returned,
	          (unsigned long)remote);
	cr_assert(rc_pool_validate(p), "line %d: rc_pool_validate failed", line);
}
#define STATS(p, f, u, k, h, r, rem) expect_stats(p, f, u, k, h, r, rem, __LINE__)

/* --- single thread ------------------------------------------------------------------------ */

Test(pool_remote, pending_counts_as_in_use)
{
	uint8_t *mem = region_map(8 * 256);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 8), 0);
	uint32_t ring[2];
	cr_assert_eq(rc_pool_lend_recv(&p, 2, ring), 0);
	uint32_t a = (uint32_t)rc_pool_alloc(&p), b = (uint32_t)rc_pool_alloc(&p);
	rc_pool_recv_filled(&p, ring[0]);
	STATS(&p, 4, 2, 1, 1, 0, 0);
	cr_assert_eq(rc_pool_collect_remote(&p), 0, "nothing pushed yet");

	rc_pool_remote_put(&p, a);
	rc_pool_remote_put(&p, ring[0]);
	/* still POOL / RECV held with their one reference, in every count; validate holds with the
	 * links of the remote stack in next[] */
	STATS(&p, 4, 2, 1, 1, 0, 0);
	cr_assert_eq(rc_pool_kind(&p, a), RC_BUF_POOL);
	cr_assert_eq(rc_pool_refs(&p, a), 1);
	cr_assert_eq(rc_pool_kind(&p, ring[0]), RC_BUF_RECV);
	cr_assert_eq(rc_pool_refs(&p, ring[0]), 1);
	uint32_t out[8];
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 8), 0, "not returned before collect");
	for (int i = 0; i < 4; i++) /* alloc never hands out a pending buffer */
		cr_assert_neq(rc_pool_alloc(&p), (int32_t)a);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	STATS(&p, 0, 6, 1, 1, 0, 0);

	/* collect: POOL to the free stack, RECV to the returned list */
	cr_assert_eq(rc_pool_collect_remote(&p), 2);
	STATS(&p, 1, 5, 1, 0, 1, 2);
	cr_assert_eq(rc_pool_kind(&p, a), RC_BUF_FREE);
	cr_assert_eq(rc_pool_refs(&p, a), 0);
	cr_assert_eq(rc_pool_refs(&p, ring[0]), 0);
	cr_assert_eq(rc_pool_collect_remote(&p), 0);
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 8), 1);
	cr_assert_eq(out[0], ring[0]);
	STATS(&p, 1, 5, 2, 0, 0, 2);
	cr_assert_eq(rc_pool_alloc(&p), (int32_t)a, "the collected buffer is the next one out");

	/* round again, the same buffers: collect reset their links */
	rc_pool_recv_filled(&p, ring[0]);
	rc_pool_remote_put(&p, b);
	rc_pool_remote_put(&p, a);
	rc_pool_remote_put(&p, ring[0]);
	STATS(&p, 0, 6, 1, 1, 0, 2);
	cr_assert_eq(rc_pool_collect_remote(&p), 3);
	STATS(&p, 2, 4, 1, 0, 1, 5);
	rc_pool_fini(&p);
	munmap(mem, 8 * 256);
}

Test(pool_remote, local_and_remote_releases_share_the_returned_list)
{
	enum {
		N = 16
	};
	uint8_t *mem = region_map(N * 256);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, N), 0);
	uint32_t ring[N];
	cr_assert_eq(rc_pool_lend_recv(&p, N, ring), 0);
	for (int i = 0; i < N; i++) {
		rc_pool_recv_filled(&p, ring[i]);
		rc_pool_ref(&p, ring[i]); /* the parser and a message */
	}
	/* the parser lets go of all; then even buffers die on the owner, odd ones remotely */
	for (int i = 0; i < N; i++)
		rc_pool_unref(&p, ring[i]);
	for (int i = 0; i < N; i += 2)
		rc_pool_unref(&p, ring[i]);
	for (int i = 1; i < N; i += 2)
		rc_pool_remote_put(&p, ring[i]);
	STATS(&p, 0, 0, 0, N / 2, N / 2, 0);
	cr_assert_eq(rc_pool_collect_remote(&p), N / 2);
	STATS(&p, 0, 0, 0, 0, N, N / 2);
	uint32_t out[N];
	bool seen[N] = { false };
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, N), N);
	for (int i = 0; i < N; i++) {
		cr_assert(!seen[out[i]], "buffer %u returned twice", out[i]);
		seen[out[i]] = true;
	}
	STATS(&p, 0, 0, N, 0, 0, N / 2);
	rc_pool_fini(&p);
	munmap(mem, N * 256);
}

Test(pool_remote, whole_pool_in_one_collect)
{
	enum {
		N = 4096
	};
	uint8_t *mem = region_map((size_t)N * 256);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, N), 0);
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < N; i++)
			cr_assert_geq(rc_pool_alloc(&p), 0);
		/* every other one remotely, the rest later, in a different order each round */
		for (uint32_t i = 0; i < N; i++) {
			uint32_t idx = round == 1 ? N - 1 - i : (i * 2 + (i >= N / 2)) % N;
			rc_pool_remote_put(&p, idx);
		}
		VALID(&p);
		cr_assert_eq(rc_pool_collect_remote(&p), N);
		STATS(&p, N, 0, 0, 0, 0, (uint64_t)N * (round + 1));
	}
	rc_pool_fini(&p);
	munmap(mem, (size_t)N * 256);
}

/* Contract violations abort (assertions stay on in every build type). */
static rc_pool *death_pool(void)
{
	static uint8_t mem[4 * 256] __attribute__((aligned(256)));
	static rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 4), 0);
	return &p;
}

Test(pool_remote, put_of_free_buffer_aborts, .signal = SIGABRT)
{
	rc_pool_remote_put(death_pool(), 1);
}

Test(pool_remote, put_out_of_range_aborts, .signal = SIGABRT)
{
	rc_pool_remote_put(death_pool(), 4);
}

Test(pool_remote, put_of_recv_with_kernel_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_remote_put(p, b);
}

Test(pool_remote, put_of_returned_recv_aborts, .signal = SIGABRT)
{
	/* on the returned list: its next[] is taken, it must not go on the remote stack too */
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_recv_filled(p, b);
	rc_pool_unref(p, b);
	rc_pool_remote_put(p, b);
}

Test(pool_remote, put_while_shared_aborts, .signal = SIGABRT)
{
	/* two pool references: this is not the last one */
	rc_pool *p = death_pool();
	uint32_t b = (uint32_t)rc_pool_alloc(p);
	rc_pool_ref(p, b);
	rc_pool_remote_put(p, b);
}

Test(pool_remote, double_put_aborts_at_collect, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b = (uint32_t)rc_pool_alloc(p);
	rc_pool_remote_put(p, b);
	rc_pool_remote_put(p, b); /* a cycle b -> b: collect must stop, not spin */
	(void)rc_pool_collect_remote(p);
}

Test(pool_remote, remote_then_local_release_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t a = (uint32_t)rc_pool_alloc(p), b = (uint32_t)rc_pool_alloc(p);
	rc_pool_remote_put(p, a);
	rc_pool_remote_put(p, b);
	rc_pool_unref(p, b); /* b is linked on the remote stack: pool_put refuses it */
}

Test(pool_remote, local_release_then_collect_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b = (uint32_t)rc_pool_alloc(p);
	rc_pool_remote_put(p, b);
	rc_pool_unref(p, b); /* first on the stack: its link is NONE, so only collect can tell */
	(void)rc_pool_collect_remote(p);
}

Test(pool_remote, validate_catches_a_linked_free_buffer)
{
	uint8_t *mem = region_map(4 * 256);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 4), 0);
	uint32_t a = (uint32_t)rc_pool_alloc(&p), b = (uint32_t)rc_pool_alloc(&p);
	rc_pool_remote_put(&p, a);
	rc_pool_remote_put(&p, b); /* b links to a */
	VALID(&p);
	cr_assert_eq(rc_pool_collect_remote(&p), 2);
	VALID(&p);
	p.next[b] = a; /* a FREE buffer still linked: collect forgot to reset it */
	cr_assert(!rc_pool_validate(&p));
	p.next[b] = RC_POOL_NONE;
	VALID(&p);
	rc_pool_fini(&p);
	munmap(mem, 4 * 256);
}

/* --- the hammer --------------------------------------------------------------------------- */

/* 1,000,000 remote frees per test: about 0.1 s in release, 0.5 s under ASan, 2 s under TSan
 * (measured on the 2-CPU CI machine). */
#define HAMMER_OPS 1000000u
#define PER_THREAD 2048u
#define THREADS_MAX 8u

struct hammer;

struct remote_thread {
	pthread_t tid;
	struct hammer *h;
	uint32_t id;
	uint64_t puts;
	uint64_t sum; /* of the tokens it took */
	uint32_t bad; /* a token that did not name its buffer (index + 1), 0 if none */
};

/* Index i belongs to thread i % stride when that is < nthreads, else to the owner (released
 * locally). granted[i] is the hand-over: the owner sets it (release) after writing the token;
 * the thread clears it before pushing, so the owner can check that the pool never hands out a
 * buffer a thread still holds. */
struct hammer {
	rc_pool pool;
	uint8_t *mem;
	size_t mem_len;
	uint32_t count, nthreads, stride;
	_Atomic uint8_t *granted;
	uint32_t *grants; /* [count] hand-outs per index (owner) */
	uint32_t *puts;   /* [count] remote puts per index (written by the index's thread only) */
	uint64_t *last;   /* [count] last token handed out per index (owner) */
	atomic_bool stop;
	struct remote_thread t[THREADS_MAX];
};

#define BUF 256u

static void *remote_main(void *arg)
{
	struct remote_thread *rt = arg;
	struct hammer *h = rt->h;
	while (!atomic_load_explicit(&h->stop, memory_order_acquire)) {
		bool any = false;
		for (uint32_t idx = rt->id; idx < h->count; idx += h->stride) {
			if (!atomic_load_explicit(&h->granted[idx], memory_order_acquire))
				continue;
			uint8_t *d = rc_pool_data(&h->pool, idx);
			uint64_t tok;
			memcpy(&tok, d, sizeof tok);
			if (tok >> 32 != idx && rt->bad == 0)
				rt->bad = idx + 1;
			rt->sum += tok;
			tok = ~tok; /* the answer, which the owner checks when the buffer comes back */
			memcpy(d + 8, &tok, sizeof tok);
			h->puts[idx]++;
			rt->puts++;
			/* relaxed: the push's release orders it before the owner's collect */
			atomic_store_explicit(&h->granted[idx], 0, memory_order_relaxed);
			rc_pool_remote_put(&h->pool, idx);
			any = true;
		}
		if (!any)
			sched_yield();
	}
	return NULL;
}

static void hammer_init(struct hammer *h, uint32_t nthreads)
{
	memset(h, 0, sizeof *h);
	cr_assert(nthreads >= 1 && nthreads <= THREADS_MAX);
	h->nthreads = nthreads;
	h->stride = nthreads + 1;
	h->count = PER_THREAD * h->stride;
	h->mem_len = (size_t)h->count * BUF;
	h->mem = region_map(h->mem_len);
	cr_assert_eq(rc_pool_init(&h->pool, h->mem, BUF, h->count), 0);
	h->granted = calloc(h->count, sizeof *h->granted);
	h->grants = calloc(h->count, sizeof *h->grants);
	h->puts = calloc(h->count, sizeof *h->puts);
	h->last = calloc(h->count, sizeof *h->last);
	cr_assert(h->granted && h->grants && h->puts && h->last);
	for (uint32_t i = 0; i < h->count; i++)
		atomic_init(&h->granted[i], 0);
	atomic_init(&h->stop, false);
	for (uint32_t i = 0; i < nthreads; i++) {
		h->t[i] = (struct remote_thread){ .h = h, .id = i };
		cr_assert_eq(pthread_create(&h->t[i].tid, NULL, remote_main, &h->t[i]), 0);
	}
}

/* Hand buffer idx (referenced once, ours) to its thread, or keep it for a local release. Returns
 * the token handed out, 0 for a local one. */
static uint64_t hand_out(struct hammer *h, uint32_t idx, uint32_t *local, uint32_t *nlocal,
                         uint64_t serial)
{
	cr_assert_eq(atomic_load_explicit(&h->granted[idx], memory_order_relaxed), 0,
	             "buffer %u handed out again while its thread still holds it", idx);
	uint8_t *d = rc_pool_data(&h->pool, idx);
	if (h->grants[idx] > 0) {
		/* the thread's answer is visible: its writes came before its push */
		uint64_t ans;
		memcpy(&ans, d + 8, sizeof ans);
		cr_assert_eq(ans, ~h->last[idx], "buffer %u came back without the thread's answer", idx);
	}
	if (idx % h->stride == h->nthreads) {
		local[(*nlocal)++] = idx;
		return 0;
	}
	uint64_t tok = (uint64_t)idx << 32 | (uint32_t)(serial + 1); /* never 0 */
	memcpy(d, &tok, sizeof tok);
	h->last[idx] = tok;
	h->grants[idx]++;
	atomic_store_explicit(&h->granted[idx], 1, memory_order_release);
	return tok;
}

/* The threads are done: every index handed out as often as it was put, the token sums match,
 * and the counters say every remote free came home. */
static void hammer_join(struct hammer *h, uint64_t handed, uint64_t sum, uint64_t collected)
{
	atomic_store_explicit(&h->stop, true, memory_order_release);
	uint64_t puts = 0, tsum = 0;
	for (uint32_t i = 0; i < h->nthreads; i++) {
		cr_assert_eq(pthread_join(h->t[i].tid, NULL), 0);
		cr_assert_eq(h->t[i].bad, 0, "thread %u read a token not meant for buffer %u", i,
		             h->t[i].bad - 1);
		puts += h->t[i].puts;
		tsum += h->t[i].sum;
	}
	cr_assert_eq(rc_pool_collect_remote(&h->pool), 0, "a push after the last collect");
	cr_assert_eq(handed, HAMMER_OPS);
	cr_assert_eq(puts, HAMMER_OPS, "threads put %lu, handed out %lu", (unsigned long)puts,
	             (unsigned long)handed);
	cr_assert_eq(collected, HAMMER_OPS);
	cr_assert_eq(tsum, sum, "token checksum differs");
	for (uint32_t i = 0; i < h->count; i++)
		cr_assert_eq(h->grants[i], h->puts[i], "buffer %u: handed out %u, put %u", i, h->grants[i],
		             h->puts[i]);
	struct rc_pool_stats st;
	rc_pool_stats(&h->pool, &st);
	cr_assert_eq(st.remote_frees, HAMMER_OPS);
}

static void hammer_fini(struct hammer *h)
{
	rc_pool_fini(&h->pool);
	free(h->granted);
	free(h->grants);
	free(h->puts);
	free(h->last);
	munmap(h->mem, h->mem_len);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nothing came back this iteration: yield, and fail (rather than spin until the timeout) once
 * nothing has come back for 10 s while buffers are out: a push was lost. */
static void stalled(struct hammer *h, uint64_t *since, uint64_t handed, uint64_t collected)
{
	sched_yield();
	uint64_t t = now_ns();
	if (*since == 0)
		*since = t;
	cr_assert(t - *since < 10000000000u,
	          "nothing collected for 10 s with %lu remote frees outstanding (%u threads)",
	          (unsigned long)(handed - collected), h->nthreads);
}

/* How many buffers the owner hands out in iteration it: 1 to 256, changing every iteration, so
 * that collects meet pushes in flight at every rate, not only whole rounds (with no cap the
 * owner hands out everything at once and a run is a few hundred collects of thousands each). */
static uint32_t batch(uint32_t it)
{
	return 1 + ((it * 2654435761u) >> 24);
}

static void release_local(struct hammer *h, uint32_t *local, uint32_t *nlocal)
{
	for (uint32_t i = 0; i < *nlocal; i++)
		rc_pool_unref(&h->pool, local[i]);
	*nlocal = 0;
}

/* POOL buffers: alloc everything free, hand it out, collect, again. */
static void hammer_pool(uint32_t nthreads)
{
	struct hammer h;
	hammer_init(&h, nthreads);
	uint32_t *local = calloc(h.count, sizeof *local), nlocal = 0;
	cr_assert(local != NULL);
	uint64_t handed = 0, sum = 0, collected = 0, since = 0;
	for (uint32_t it = 0; collected < HAMMER_OPS; it++) {
		uint32_t n = rc_pool_collect_remote(&h.pool);
		collected += n;
		release_local(&h, local, &nlocal);
		if (it % 64 == 0)
			VALID(&h.pool);
		int32_t b;
		uint64_t until = handed + batch(it);
		while (handed < HAMMER_OPS && handed < until && (b = rc_pool_alloc(&h.pool)) >= 0) {
			uint64_t tok = hand_out(&h, (uint32_t)b, local, &nlocal, handed);
			if (tok != 0) {
				handed++;
				sum += tok;
			}
		}
		if (n == 0)
			stalled(&h, &since, handed, collected);
		else
			since = 0;
	}
	release_local(&h, local, &nlocal);
	hammer_join(&h, handed, sum, collected);
	/* every buffer back on the free stack, each once */
	struct rc_pool_stats st;
	rc_pool_stats(&h.pool, &st);
	cr_assert_eq(st.free, h.count);
	cr_assert_eq(st.pool_used, 0);
	VALID(&h.pool);
	bool *seen = calloc(h.count, sizeof *seen);
	cr_assert(seen != NULL);
	for (uint32_t i = 0; i < h.count; i++) {
		int32_t b = rc_pool_alloc(&h.pool);
		cr_assert(b >= 0 && !seen[b], "alloc %u gave %d", i, b);
		seen[b] = true;
	}
	cr_assert_eq(rc_pool_alloc(&h.pool), -ENOBUFS);
	free(seen);
	free(local);
	hammer_fini(&h);
}

/* RECV buffers: the whole pool is the ring; fill what the kernel has, hand out, collect, take the
 * returned ones back, again. The owner plays parser and message (ref, unref) on each. */
static void hammer_recv(uint32_t nthreads)
{
	struct hammer h;
	hammer_init(&h, nthreads);
	uint32_t *local = calloc(h.count, sizeof *local), nlocal = 0;
	uint32_t *kernel = calloc(h.count, sizeof *kernel), nkernel = h.count;
	cr_assert(local != NULL && kernel != NULL);
	cr_assert_eq(rc_pool_lend_recv(&h.pool, h.count, kernel), 0);
	uint64_t handed = 0, sum = 0, collected = 0, since = 0;
	for (uint32_t it = 0; collected < HAMMER_OPS; it++) {
		uint32_t n = rc_pool_collect_remote(&h.pool);
		collected += n;
		release_local(&h, local, &nlocal);
		if (it % 64 == 0)
			VALID(&h.pool);
		nkernel += rc_pool_take_returned_recv(&h.pool, kernel + nkernel, h.count - nkernel);
		uint64_t until = handed + batch(it);
		while (handed < HAMMER_OPS && handed < until && nkernel > 0) {
			uint32_t b = kernel[--nkernel];
			rc_pool_recv_filled(&h.pool, b);
			rc_pool_ref(&h.pool, b);   /* a message in it */
			rc_pool_unref(&h.pool, b); /* the parser is done */
			uint64_t tok = hand_out(&h, b, local, &nlocal, handed);
			if (tok != 0) {
				handed++;
				sum += tok;
			}
		}
		if (n == 0)
			stalled(&h, &since, handed, collected);
		else
			since = 0;
	}
	release_local(&h, local, &nlocal);
	hammer_join(&h, handed, sum, collected);
	/* every buffer back in the ring, each once */
	nkernel += rc_pool_take_returned_recv(&h.pool, kernel + nkernel, h.count - nkernel);
	cr_assert_eq(nkernel, h.count);
	struct rc_pool_stats st;
	rc_pool_stats(&h.pool, &st);
	cr_assert(st.recv_kernel == h.count && st.recv_held == 0 && st.recv_returned == 0 &&
	          st.free == 0 && st.pool_used == 0);
	VALID(&h.pool);
	bool *seen = calloc(h.count, sizeof *seen);
	cr_assert(seen != NULL);
	for (uint32_t i = 0; i < h.count; i++) {
		cr_assert(kernel[i] < h.count && !seen[kernel[i]], "buffer %u twice in the ring",
		          kernel[i]);
		seen[kernel[i]] = true;
	}
	free(seen);
	free(kernel);
	free(local);
	hammer_fini(&h);
}

Test(pool_remote, hammer_pool_2_threads, .timeout = 120)
{
	hammer_pool(2);
}

Test(pool_remote, hammer_pool_3_threads, .timeout = 120)
{
	hammer_pool(3);
}

Test(pool_remote, hammer_pool_4_threads, .timeout = 120)
{
	hammer_pool(4);
}

Test(pool_remote, hammer_pool_8_threads_oversubscribed, .timeout = 120)
{
	hammer_pool(8);
}

Test(pool_remote, hammer_recv_2_threads, .timeout = 120)
{
	hammer_recv(2);
}

Test(pool_remote, hammer_recv_3_threads, .timeout = 120)
{
	hammer_recv(3);
}

Test(pool_remote, hammer_recv_4_threads, .timeout = 120)
{
	hammer_recv(4);
}

Test(pool_remote, hammer_recv_8_threads_oversubscribed, .timeout = 120)
{
	hammer_recv(8);
}
