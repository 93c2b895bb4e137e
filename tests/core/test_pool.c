/* Tests of rc_pool: argument checks at init, alloc/ref/unref and the free stack, the life of a
 * receive buffer (lend, filled, released to the returned list, taken back), kinds never mixing,
 * index <-> pointer at the edges of every buffer, the low-water reserve, contract violations
 * aborting, and a long random sequence checked against a model. rc_pool_validate runs after every
 * operation.
 *
 * Chains: growth in order with the tail tracked, the cap (-ENOSPC, heads counted) and the reserve
 * (-ENOBUFS, never below it) refusing without changing anything, the head's last release (local or
 * remote) sending the whole chain home, LINK buffers never referenced directly, validate catching
 * every corruption of a chain, and a random sequence of chains checked against a model. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_pool.h"

/* A page-aligned region (what net/ will pass) followed by a PROT_NONE page. */
typedef struct region {
	uint8_t *base;
	size_t len;
} region;

static region region_map(size_t buf_size, uint32_t count)
{
	size_t body = (buf_size * count + 4095) & ~(size_t)4095;
	uint8_t *m =
	        mmap(NULL, body + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	cr_assert_eq(mprotect(m + body, 4096, PROT_NONE), 0);
	return (region){ .base = m, .len = body + 4096 };
}

static void region_unmap(region *r)
{
	cr_assert_eq(munmap(r->base, r->len), 0);
}

#define VALID(p) cr_assert(rc_pool_validate(p), "rc_pool_validate failed (line %d)", __LINE__)

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull); /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void shuffle(uint32_t *a, uint32_t n)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)(rng() % i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

Test(pool, init_rejects_bad_arguments)
{
	region r = region_map(4096, 8);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, NULL, 4096, 8), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base, 4096, 0), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base, 256, (uint32_t)INT32_MAX + 1), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base, 256, UINT32_MAX), -EINVAL);
	size_t bad_sizes[] = { 0, 1, 128, 255, 257, 300, 3000, 4097, 6144 };
	for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
		cr_assert_eq(rc_pool_init(&p, r.base, bad_sizes[i], 8), -EINVAL, "buf_size %zu",
		             bad_sizes[i]);
	/* the region's size would not fit in size_t */
	cr_assert_eq(rc_pool_init(&p, r.base, (size_t)1 << 62, 8), -EINVAL);
	/* more than 4 GiB per buffer: stats report buf_size as 32 bits */
	cr_assert_eq(rc_pool_init(&p, r.base, (size_t)1 << 32, 1), -EINVAL);
	/* alignment: min(buf_size, 4096) */
	cr_assert_eq(rc_pool_init(&p, r.base + 256, 4096, 4), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base + 2048, 8192, 2), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base + 128, 256, 4), -EINVAL);
	cr_assert_eq(rc_pool_init(&p, r.base + 1, 256, 4), -EINVAL);
	/* a failed init leaves nothing to free; fini on it is harmless */
	rc_pool_fini(&p);

	/* the accepted edges */
	cr_assert_eq(rc_pool_init(&p, r.base + 256, 256, 4), 0);
	VALID(&p);
	rc_pool_fini(&p);
	cr_assert_eq(rc_pool_init(&p, r.base + 4096, 8192, 1), 0); /* page aligned is enough */
	VALID(&p);
	rc_pool_fini(&p);
	cr_assert_eq(rc_pool_init(&p, r.base, 4096, 1), 0);
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, fresh_pool_is_all_free)
{
	region r = region_map(1024, 10);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 1024, 10), 0);
	VALID(&p);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.count, 10);
	cr_assert_eq(st.buf_size, 1024);
	cr_assert_eq(st.free, 10);
	cr_assert_eq(st.pool_used + st.recv_kernel + st.recv_held + st.recv_returned, 0);
	cr_assert_eq(st.reserve, 0);
	cr_assert_eq(st.alloc_failed, 0);
	cr_assert_eq(rc_pool_free_count(&p), 10);
	cr_assert(!rc_pool_low(&p));
	for (uint32_t i = 0; i < 10; i++) {
		cr_assert_eq(rc_pool_kind(&p, i), RC_BUF_FREE);
		cr_assert_eq(rc_pool_refs(&p, i), 0);
		cr_assert_eq(rc_pool_data(&p, i), r.base + 1024 * i);
	}
	/* a fresh pool hands out 0, 1, 2, ... */
	for (int32_t i = 0; i < 10; i++)
		cr_assert_eq(rc_pool_alloc(&p), i);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, alloc_all_then_enobufs)
{
	enum {
		N = 64
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	bool seen[N] = { false };
	for (uint32_t i = 0; i < N; i++) {
		int32_t idx = rc_pool_alloc(&p);
		cr_assert(idx >= 0 && idx < N, "alloc %u gave %d", i, idx);
		cr_assert(!seen[idx], "buffer %d handed out twice", idx);
		seen[idx] = true;
		cr_assert_eq(rc_pool_kind(&p, (uint32_t)idx), RC_BUF_POOL);
		cr_assert_eq(rc_pool_refs(&p, (uint32_t)idx), 1);
		cr_assert_eq(rc_pool_free_count(&p), N - 1 - i);
		VALID(&p);
	}
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	VALID(&p);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.alloc_failed, 2);
	cr_assert_eq(st.pool_used, N);
	cr_assert_eq(st.free, 0);
	/* one back, and that is the one the next alloc gets */
	rc_pool_unref(&p, 17);
	VALID(&p);
	cr_assert_eq(rc_pool_kind(&p, 17), RC_BUF_FREE);
	cr_assert_eq(rc_pool_alloc(&p), 17);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, free_order_is_irrelevant)
{
	enum {
		N = 50
	};
	region r = region_map(512, N);
	rng_state = 11;
	for (int round = 0; round < 20; round++) {
		rc_pool p;
		cr_assert_eq(rc_pool_init(&p, r.base, 512, N), 0);
		uint32_t idx[N];
		for (uint32_t i = 0; i < N; i++)
			idx[i] = (uint32_t)rc_pool_alloc(&p);
		if (round == 1) {
			/* reverse */
			for (uint32_t i = 0; i < N / 2; i++) {
				uint32_t t = idx[i];
				idx[i] = idx[N - 1 - i];
				idx[N - 1 - i] = t;
			}
		} else if (round > 1) {
			shuffle(idx, N);
		}
		for (uint32_t i = 0; i < N; i++) {
			rc_pool_unref(&p, idx[i]);
			cr_assert_eq(rc_pool_free_count(&p), i + 1);
			VALID(&p);
		}
		/* all of them come back, each once, whatever order they went in */
		bool seen[N] = { false };
		for (uint32_t i = 0; i < N; i++) {
			int32_t b = rc_pool_alloc(&p);
			cr_assert(b >= 0 && !seen[b], "round %d: alloc gave %d", round, b);
			seen[b] = true;
		}
		cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
		VALID(&p);
		rc_pool_fini(&p);
	}
	region_unmap(&r);
}

Test(pool, ref_unref_counts)
{
	region r = region_map(256, 4);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, 4), 0);
	uint32_t b = (uint32_t)rc_pool_alloc(&p);
	for (uint32_t i = 2; i <= 5; i++) {
		rc_pool_ref(&p, b);
		cr_assert_eq(rc_pool_refs(&p, b), i);
		VALID(&p);
	}
	for (uint32_t i = 5; i > 1; i--) {
		rc_pool_unref(&p, b);
		cr_assert_eq(rc_pool_refs(&p, b), i - 1);
		cr_assert_eq(rc_pool_kind(&p, b), RC_BUF_POOL, "went home with %u references", i - 1);
		cr_assert_eq(rc_pool_free_count(&p), 3);
		VALID(&p);
	}
	rc_pool_unref(&p, b);
	cr_assert_eq(rc_pool_refs(&p, b), 0);
	cr_assert_eq(rc_pool_kind(&p, b), RC_BUF_FREE);
	cr_assert_eq(rc_pool_free_count(&p), 4);
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

static void expect_stats(const rc_pool *p, uint32_t free, uint32_t pool_used, uint32_t kernel,
                         uint32_t held, uint32_t returned, int line)
{
	struct rc_pool_stats st;
	rc_pool_stats(p, &st);
	cr_assert(st.free == free && st.pool_used == pool_used && st.recv_kernel == kernel &&
	                  st.recv_held == held && st.recv_returned == returned,
	          "line %d: free %u pool %u kernel %u held %u returned %u, expected %u %u %u %u %u",
	          line, st.free, st.pool_used, st.recv_kernel, st.recv_held, st.recv_returned, free,
	          pool_used, kernel, held, returned);
	cr_assert_eq(rc_pool_free_count(p), free);
	cr_assert(rc_pool_validate(p), "line %d: rc_pool_validate failed", line);
}
#define STATS(p, f, u, k, h, r) expect_stats(p, f, u, k, h, r, __LINE__)

Test(pool, recv_buffer_life)
{
	region r = region_map(2048, 8);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 2048, 8), 0);
	uint32_t ring[4];
	cr_assert_eq(rc_pool_lend_recv(&p, 4, ring), 0);
	STATS(&p, 4, 0, 4, 0, 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rc_pool_kind(&p, ring[i]), RC_BUF_RECV);
		cr_assert_eq(rc_pool_refs(&p, ring[i]), 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(ring[i], ring[j]);
	}

	/* the kernel fills one: net/ holds it, a message takes another reference */
	rc_pool_recv_filled(&p, ring[2]);
	cr_assert_eq(rc_pool_refs(&p, ring[2]), 1);
	STATS(&p, 4, 0, 3, 1, 0);
	rc_pool_ref(&p, ring[2]);
	STATS(&p, 4, 0, 3, 1, 0);
	rc_pool_unref(&p, ring[2]); /* net/ is done parsing */
	STATS(&p, 4, 0, 3, 1, 0);
	cr_assert_eq(rc_pool_take_returned_recv(&p, ring, 4), 0, "taken while still referenced");
	rc_pool_unref(&p, ring[2]); /* the message dies: back to the ring, not the free stack */
	STATS(&p, 4, 0, 3, 0, 1);
	cr_assert_eq(rc_pool_kind(&p, ring[2]), RC_BUF_RECV);

	uint32_t out[8];
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 0), 0);
	STATS(&p, 4, 0, 3, 0, 1);
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 8), 1);
	cr_assert_eq(out[0], ring[2]);
	STATS(&p, 4, 0, 4, 0, 0);
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 8), 0);

	/* several at once, taken a few at a time */
	for (int i = 0; i < 4; i++)
		rc_pool_recv_filled(&p, ring[i]);
	STATS(&p, 4, 0, 0, 4, 0);
	for (int i = 0; i < 4; i++)
		rc_pool_unref(&p, ring[i]);
	STATS(&p, 4, 0, 0, 0, 4);
	bool seen[8] = { false };
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, 3), 3);
	STATS(&p, 4, 0, 3, 0, 1);
	cr_assert_eq(rc_pool_take_returned_recv(&p, out + 3, 3), 1);
	STATS(&p, 4, 0, 4, 0, 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rc_pool_kind(&p, out[i]), RC_BUF_RECV);
		cr_assert(!seen[out[i]], "buffer %u taken twice", out[i]);
		seen[out[i]] = true;
	}
	for (int i = 0; i < 4; i++)
		cr_assert(seen[ring[i]], "buffer %u never came back", ring[i]);

	/* and round again: a re-provided buffer can be filled */
	rc_pool_recv_filled(&p, out[0]);
	STATS(&p, 4, 0, 3, 1, 0);
	rc_pool_unref(&p, out[0]);
	STATS(&p, 4, 0, 3, 0, 1);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, lend_is_all_or_nothing)
{
	region r = region_map(256, 6);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, 6), 0);
	uint32_t out[8];
	cr_assert_eq(rc_pool_lend_recv(&p, 7, out), -ENOBUFS);
	STATS(&p, 6, 0, 0, 0, 0);
	cr_assert_eq(rc_pool_lend_recv(&p, 0, NULL), 0);
	STATS(&p, 6, 0, 0, 0, 0);
	cr_assert_eq(rc_pool_alloc(&p), 0);
	cr_assert_eq(rc_pool_lend_recv(&p, 6, out), -ENOBUFS);
	STATS(&p, 5, 1, 0, 0, 0);
	cr_assert_eq(rc_pool_lend_recv(&p, 5, out), 0);
	STATS(&p, 0, 1, 5, 0, 0);
	cr_assert_eq(rc_pool_lend_recv(&p, 1, out), -ENOBUFS);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	STATS(&p, 0, 1, 5, 0, 0);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, kinds_never_mix)
{
	enum {
		N = 16
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	uint32_t ring[N / 2];
	cr_assert_eq(rc_pool_lend_recv(&p, N / 2, ring), 0);
	uint32_t pool_bufs[N / 2];
	for (int i = 0; i < N / 2; i++)
		pool_bufs[i] = (uint32_t)rc_pool_alloc(&p);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	for (int i = 0; i < N / 2; i++) {
		rc_pool_recv_filled(&p, ring[i]);
		rc_pool_ref(&p, ring[i]);
		rc_pool_ref(&p, pool_bufs[i]);
	}
	STATS(&p, 0, N / 2, 0, N / 2, 0);
	/* release everything, interleaved */
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < N / 2; i++) {
			rc_pool_unref(&p, ring[i]);
			rc_pool_unref(&p, pool_bufs[i]);
			VALID(&p);
		}
	}
	STATS(&p, N / 2, 0, 0, 0, N / 2);
	/* the free stack holds exactly the POOL buffers: alloc all gives those, then nothing,
	 * though 8 receive buffers sit on the returned list */
	bool is_pool[N] = { false };
	for (int i = 0; i < N / 2; i++)
		is_pool[pool_bufs[i]] = true;
	for (int i = 0; i < N / 2; i++) {
		int32_t b = rc_pool_alloc(&p);
		cr_assert(b >= 0 && is_pool[b], "alloc handed out %d, a receive buffer", b);
	}
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	/* the returned list holds exactly the RECV buffers */
	uint32_t out[N];
	cr_assert_eq(rc_pool_take_returned_recv(&p, out, N), N / 2);
	for (int i = 0; i < N / 2; i++)
		cr_assert(!is_pool[out[i]], "returned list held POOL buffer %u", out[i]);
	STATS(&p, 0, N / 2, N / 2, 0, 0);
	rc_pool_fini(&p);
	region_unmap(&r);
}

Test(pool, index_of_every_byte_edge)
{
	size_t sizes[] = { 256, 4096, 65536 };
	for (size_t s = 0; s < 3; s++) {
		size_t bs = sizes[s];
		uint32_t n = 7;
		region r = region_map(bs, n);
		rc_pool p;
		cr_assert_eq(rc_pool_init(&p, r.base, bs, n), 0);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *d = rc_pool_data(&p, i);
			cr_assert_eq(d, r.base + bs * i);
			cr_assert_eq(rc_pool_index_of(&p, d), i);
			cr_assert_eq(rc_pool_index_of(&p, d + 1), i);
			cr_assert_eq(rc_pool_index_of(&p, d + bs / 2), i);
			cr_assert_eq(rc_pool_index_of(&p, d + bs - 1), i, "last byte of %u", i);
			cr_assert(rc_pool_contains(&p, d) && rc_pool_contains(&p, d + bs - 1));
		}
		cr_assert(!rc_pool_contains(&p, r.base - 1));
		cr_assert(!rc_pool_contains(&p, r.base + bs * n));
		cr_assert(rc_pool_contains(&p, r.base + bs * n - 1));
		rc_pool_fini(&p);
		region_unmap(&r);
	}
}

Test(pool, index_of_past_the_end_aborts, .signal = SIGABRT)
{
	static uint8_t mem[4 * 256] __attribute__((aligned(256)));
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 4), 0);
	(void)rc_pool_index_of(&p, mem + sizeof mem);
}

Test(pool, index_of_before_the_start_aborts, .signal = SIGABRT)
{
	static uint8_t mem[5 * 256] __attribute__((aligned(256)));
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem + 256, 256, 4), 0);
	(void)rc_pool_index_of(&p, mem + 255);
}

Test(pool, low_water)
{
	region r = region_map(256, 8);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, 8), 0);
	int32_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = rc_pool_alloc(&p);
	cr_assert(!rc_pool_low(&p), "reserve 0 is never low");
	for (int i = 0; i < 8; i++)
		rc_pool_unref(&p, (uint32_t)b[i]);
	rc_pool_set_reserve(&p, 3);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.reserve, 3);
	/* free 8..3: not low; 2, 1, 0: low */
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(rc_pool_low(&p), rc_pool_free_count(&p) < 3, "free %u",
		             rc_pool_free_count(&p));
		b[i] = rc_pool_alloc(&p);
		VALID(&p);
	}
	cr_assert(rc_pool_low(&p));
	rc_pool_unref(&p, (uint32_t)b[0]);
	rc_pool_unref(&p, (uint32_t)b[1]);
	cr_assert(rc_pool_low(&p));
	rc_pool_unref(&p, (uint32_t)b[2]);
	cr_assert(!rc_pool_low(&p), "3 free is not below a reserve of 3");
	/* lending receive buffers eats into the reserve too */
	uint32_t ring[1];
	cr_assert_eq(rc_pool_lend_recv(&p, 1, ring), 0);
	cr_assert(rc_pool_low(&p));
	rc_pool_set_reserve(&p, 0);
	cr_assert(!rc_pool_low(&p));
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* Contract violations abort (assertions stay on in every build type). */
static rc_pool *death_pool(void)
{
	static uint8_t mem[4 * 256] __attribute__((aligned(256)));
	static rc_pool p;
	cr_assert_eq(rc_pool_init(&p, mem, 256, 4), 0);
	return &p;
}

Test(pool, unref_of_free_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	rc_pool_unref(p, 2);
}

Test(pool, unref_after_last_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b = (uint32_t)rc_pool_alloc(p);
	rc_pool_unref(p, b);
	rc_pool_unref(p, b);
}

Test(pool, ref_of_free_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	rc_pool_ref(p, 0);
}

Test(pool, ref_of_recv_with_kernel_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_ref(p, b);
}

Test(pool, recv_filled_on_pool_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b = (uint32_t)rc_pool_alloc(p);
	rc_pool_recv_filled(p, b);
}

Test(pool, recv_filled_twice_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_recv_filled(p, b);
	rc_pool_recv_filled(p, b);
}

Test(pool, recv_filled_on_returned_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_recv_filled(p, b);
	rc_pool_unref(p, b);
	rc_pool_recv_filled(p, b); /* not re-provided yet: the kernel cannot have filled it */
}

/* validate must notice corruption, or it proves nothing. */
Test(pool, validate_catches_corruption)
{
	region r = region_map(256, 8);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, 8), 0);
	uint32_t ring[2];
	cr_assert_eq(rc_pool_lend_recv(&p, 2, ring), 0);
	rc_pool_recv_filled(&p, ring[0]);
	rc_pool_unref(&p, ring[0]);
	uint32_t a = (uint32_t)rc_pool_alloc(&p);
	VALID(&p);

	uint32_t saved = p.free_stack[0];
	p.free_stack[0] = p.free_stack[1]; /* duplicate on the free stack */
	cr_assert(!rc_pool_validate(&p));
	p.free_stack[0] = saved;
	VALID(&p);

	p.refs[a] = 0; /* referenced state with no reference */
	cr_assert(!rc_pool_validate(&p));
	p.refs[a] = 1;
	p.refs[ring[1]] = 1; /* with the kernel but referenced */
	cr_assert(!rc_pool_validate(&p));
	p.refs[ring[1]] = 0;
	VALID(&p);

	p.pool_used++; /* a counter off */
	cr_assert(!rc_pool_validate(&p));
	p.pool_used--;
	p.next[ring[0]] = ring[0]; /* a cycle on the returned list */
	cr_assert(!rc_pool_validate(&p));
	p.next[ring[0]] = RC_POOL_NONE;
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* The model: what each buffer should be, in the pool's own terms. */
enum m_state {
	M_FREE,
	M_POOL,
	M_KERNEL,
	M_HELD,
	M_RETURNED,
	M_NSTATES
};

static uint32_t pick(const uint8_t *state, uint32_t n, enum m_state want)
{
	uint32_t cand[256], k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (state[i] == want)
			cand[k++] = i;
	return k ? cand[rng() % k] : UINT32_MAX;
}

Test(pool, random_against_model)
{
	enum {
		N = 64,
		OPS = 100000
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	rc_pool_set_reserve(&p, 5);
	uint8_t state[N] = { 0 }; /* enum m_state */
	uint32_t refs[N] = { 0 };
	uint64_t failed = 0;
	rng_state = 20240601;
	for (int op = 0; op < OPS; op++) {
		uint32_t cnt[M_NSTATES] = { 0 };
		for (uint32_t i = 0; i < N; i++)
			cnt[state[i]]++;
		uint32_t b, out[8];
		switch (rng() % 7) {
		case 0: { /* alloc */
			int32_t got = rc_pool_alloc(&p);
			if (cnt[M_FREE] == 0) {
				cr_assert_eq(got, -ENOBUFS, "op %d", op);
				failed++;
			} else {
				cr_assert(got >= 0 && state[got] == M_FREE, "op %d: alloc gave %d", op, got);
				state[got] = M_POOL;
				refs[got] = 1;
			}
			break;
		}
		case 1: /* ref something referenced */
			b = pick(state, N, rng() % 2 ? M_POOL : M_HELD);
			if (b != UINT32_MAX) {
				rc_pool_ref(&p, b);
				refs[b]++;
			}
			break;
		case 2:
		case 3: /* unref something referenced */
			b = pick(state, N, rng() % 2 ? M_POOL : M_HELD);
			if (b != UINT32_MAX) {
				rc_pool_unref(&p, b);
				if (--refs[b] == 0)
					state[b] = state[b] == M_POOL ? M_FREE : M_RETURNED;
			}
			break;
		case 4: { /* lend, up to a ring of N / 2 (RECV buffers stay RECV, as in net/) */
			uint32_t n = (uint32_t)(rng() % 4);
			if (cnt[M_KERNEL] + cnt[M_HELD] + cnt[M_RETURNED] + n > N / 2)
				break;
			int rc = rc_pool_lend_recv(&p, n, out);
			if (n > cnt[M_FREE]) {
				cr_assert_eq(rc, -ENOBUFS, "op %d", op);
			} else {
				cr_assert_eq(rc, 0, "op %d", op);
				for (uint32_t i = 0; i < n; i++) {
					cr_assert_eq(state[out[i]], M_FREE, "op %d: lent %u", op, out[i]);
					state[out[i]] = M_KERNEL;
				}
			}
			break;
		}
		case 5: /* the kernel fills one */
			b = pick(state, N, M_KERNEL);
			if (b != UINT32_MAX) {
				rc_pool_recv_filled(&p, b);
				state[b] = M_HELD;
				refs[b] = 1;
			}
			break;
		case 6: { /* net/ drains the returned list */
			uint32_t max = (uint32_t)(rng() % 6);
			uint32_t n = rc_pool_take_returned_recv(&p, out, max);
			cr_assert_eq(n, cnt[M_RETURNED] < max ? cnt[M_RETURNED] : max, "op %d", op);
			for (uint32_t i = 0; i < n; i++) {
				cr_assert_eq(state[out[i]], M_RETURNED, "op %d: took %u", op, out[i]);
				state[out[i]] = M_KERNEL;
			}
			break;
		}
		}

		cr_assert(rc_pool_validate(&p), "op %d: rc_pool_validate failed", op);
		static const enum rc_buf_kind kind_of[M_NSTATES] = { RC_BUF_FREE, RC_BUF_POOL, RC_BUF_RECV,
			                                                 RC_BUF_RECV, RC_BUF_RECV };
		for (uint32_t i = 0; i < N; i++) {
			cr_assert_eq(rc_pool_kind(&p, i), kind_of[state[i]], "op %d: buffer %u kind", op, i);
			cr_assert_eq(rc_pool_refs(&p, i), refs[i], "op %d: buffer %u refs", op, i);
		}
		for (uint32_t i = 0; i < M_NSTATES; i++)
			cnt[i] = 0;
		for (uint32_t i = 0; i < N; i++)
			cnt[state[i]]++;
		struct rc_pool_stats st;
		rc_pool_stats(&p, &st);
		cr_assert(st.free == cnt[M_FREE] && st.pool_used == cnt[M_POOL] &&
		                  st.recv_kernel == cnt[M_KERNEL] && st.recv_held == cnt[M_HELD] &&
		                  st.recv_returned == cnt[M_RETURNED] && st.alloc_failed == failed,
		          "op %d: stats differ from the model", op);
		cr_assert_eq(rc_pool_low(&p), cnt[M_FREE] < 5, "op %d", op);
	}
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* --- chains --------------------------------------------------------------------------------- */

/* The chain counters, the six buffer counts adding up, and validate, all at the caller's line. */
static void expect_chains(const rc_pool *p, uint32_t linked, uint32_t chained, uint64_t refused,
                          int line)
{
	struct rc_pool_stats st;
	rc_pool_stats(p, &st);
	cr_assert(st.linked == linked && st.chained == chained && st.chain_refused == refused,
	          "line %d: linked %u chained %u refused %llu, expected %u %u %llu", line, st.linked,
	          st.chained, (unsigned long long)st.chain_refused, linked, chained,
	          (unsigned long long)refused);
	cr_assert_eq(st.free + st.pool_used + st.recv_kernel + st.recv_held + st.recv_returned +
	                     st.linked,
	             st.count, "line %d: the buffer counts do not add up", line);
	cr_assert(rc_pool_validate(p), "line %d: rc_pool_validate failed", line);
}
#define CHAINS(p, l, c, r) expect_chains(p, l, c, r, __LINE__)

/* Walk head's chain: exactly want[0..n), in order, each LINK with no reference, then the end, and
 * rc_pool_chain_tail names the last one (head itself for no chain). */
static void expect_chain(const rc_pool *p, uint32_t head, const uint32_t *want, uint32_t n,
                         int line)
{
	cr_assert_eq(rc_pool_kind(p, head), RC_BUF_POOL, "line %d: head %u", line, head);
	uint32_t idx = head;
	for (uint32_t i = 0; i < n; i++) {
		idx = rc_pool_chain_next(p, idx);
		cr_assert_eq(idx, want[i], "line %d: link %u of head %u is %u, expected %u", line, i, head,
		             idx, want[i]);
		cr_assert_eq(rc_pool_kind(p, idx), RC_BUF_LINK, "line %d: link %u kind", line, idx);
		cr_assert_eq(rc_pool_refs(p, idx), 0, "line %d: link %u referenced", line, idx);
	}
	cr_assert_eq(rc_pool_chain_next(p, idx), RC_POOL_NONE, "line %d: chain of %u goes on", line,
	             head);
	cr_assert_eq(rc_pool_chain_tail(p, head), n ? want[n - 1] : head, "line %d: tail of %u", line,
	             head);
}
#define CHAIN(p, h, w, n) expect_chain(p, h, w, n, __LINE__)

/* Every buffer FREE and in no chain: what a pool looks like once every chain went home. */
static void expect_all_free(const rc_pool *p, int line)
{
	cr_assert_eq(rc_pool_free_count(p), p->count, "line %d: %u of %u free", line,
	             rc_pool_free_count(p), p->count);
	for (uint32_t i = 0; i < p->count; i++) {
		cr_assert_eq(rc_pool_kind(p, i), RC_BUF_FREE, "line %d: buffer %u", line, i);
		cr_assert_eq(rc_pool_chain_next(p, i), RC_POOL_NONE, "line %d: buffer %u linked", line, i);
		cr_assert_eq(rc_pool_chain_tail(p, i), i, "line %d: buffer %u has a tail", line, i);
	}
}
#define ALL_FREE(p) expect_all_free(p, __LINE__)

/* A chain grows one buffer at a time at its end, each a fresh LINK buffer; extra references on the
 * head keep it; the head's last unref sends every buffer home at once and leaves no trace (links,
 * tail, counters), so the same head can start a new chain. */
Test(pool, chain_grows_in_order_and_goes_home_with_its_head)
{
	enum {
		N = 12
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.chain_max, N, "the cap starts at the whole pool");
	for (int round = 0; round < 2; round++) {
		uint32_t head = (uint32_t)rc_pool_alloc(&p);
		CHAIN(&p, head, NULL, 0);
		CHAINS(&p, 0, 0, 0);
		uint32_t links[N];
		bool used[N] = { false };
		used[head] = true;
		for (uint32_t i = 0; i < N - 1; i++) {
			int32_t idx = rc_pool_chain_extend(&p, head);
			cr_assert(idx >= 0 && idx < N, "round %d extension %u gave %d", round, i, idx);
			cr_assert(!used[idx], "buffer %d handed out twice", idx);
			used[idx] = true;
			links[i] = (uint32_t)idx;
			cr_assert_eq(rc_pool_free_count(&p), N - 2 - i);
			CHAIN(&p, head, links, i + 1);
			/* the first extension makes the head count too */
			CHAINS(&p, i + 1, i + 2, 0);
		}
		cr_assert_eq(rc_pool_free_count(&p), 0);
		/* the head's count covers the chain: extra references keep all of it */
		rc_pool_ref(&p, head);
		rc_pool_ref(&p, head);
		rc_pool_unref(&p, head);
		rc_pool_unref(&p, head);
		CHAIN(&p, head, links, N - 1);
		CHAINS(&p, N - 1, N, 0);
		rc_pool_unref(&p, head);
		ALL_FREE(&p);
		CHAINS(&p, 0, 0, 0);
		rc_pool_stats(&p, &st);
		cr_assert_eq(st.pool_used, 0);
		cr_assert_eq(st.alloc_failed, 0, "extensions are not allocations");
	}
	/* every buffer came back once: all of them can be allocated again, and no more */
	for (int i = 0; i < N; i++)
		cr_assert_geq(rc_pool_alloc(&p), 0);
	cr_assert_eq(rc_pool_alloc(&p), -ENOBUFS);
	VALID(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* Two chains growing in turns stay apart; one going home leaves the other whole, and the buffers
 * it gave back serve the other. */
Test(pool, two_chains_interleaved_stay_apart)
{
	enum {
		N = 16
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	uint32_t a = (uint32_t)rc_pool_alloc(&p), b = (uint32_t)rc_pool_alloc(&p);
	uint32_t la[N], lb[N], na = 0, nb = 0;
	for (int i = 0; i < 9; i++) {
		bool to_a = i % 3 != 2; /* a, a, b, a, a, b, ... */
		int32_t idx = rc_pool_chain_extend(&p, to_a ? a : b);
		cr_assert_geq(idx, 0);
		if (to_a)
			la[na++] = (uint32_t)idx;
		else
			lb[nb++] = (uint32_t)idx;
		CHAIN(&p, a, la, na);
		CHAIN(&p, b, lb, nb);
		CHAINS(&p, na + nb, na + nb + (na > 0) + (nb > 0), 0);
	}
	rc_pool_unref(&p, a);
	CHAIN(&p, b, lb, nb);
	CHAINS(&p, nb, nb + 1, 0);
	cr_assert_eq(rc_pool_free_count(&p), N - 1 - nb);
	for (uint32_t i = 0; i < na; i++)
		cr_assert_eq(rc_pool_kind(&p, la[i]), RC_BUF_FREE, "a's link %u", la[i]);
	while (rc_pool_free_count(&p) > 0) {
		int32_t idx = rc_pool_chain_extend(&p, b);
		cr_assert_geq(idx, 0);
		lb[nb++] = (uint32_t)idx;
	}
	CHAIN(&p, b, lb, nb);
	CHAINS(&p, N - 1, N, 0);
	rc_pool_unref(&p, b);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, 0);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* The cap counts every buffer in chains, heads included: under a cap of c one chain gets c - 1
 * LINK buffers (none at all under a cap of 0 or 1), then -ENOSPC, counted, with nothing changed:
 * not the chain, not the free stack, not the head, which stays in no chain after a refused first
 * extension. */
Test(pool, chain_cap_refuses_with_enospc)
{
	enum {
		N = 16
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	uint64_t refused = 0;
	for (uint32_t cap = 0; cap < N; cap++) {
		rc_pool_set_chain_max(&p, cap);
		struct rc_pool_stats st;
		rc_pool_stats(&p, &st);
		cr_assert_eq(st.chain_max, cap);
		uint32_t head = (uint32_t)rc_pool_alloc(&p), links[N], n = 0;
		int32_t idx;
		while ((idx = rc_pool_chain_extend(&p, head)) >= 0) {
			links[n++] = (uint32_t)idx;
			cr_assert_leq(n + 1, cap, "cap %u: chain of %u buffers", cap, n + 1);
		}
		refused++;
		uint32_t want = cap >= 2 ? cap - 1 : 0;
		cr_assert_eq(n, want, "cap %u: %u links", cap, n);
		cr_assert_eq(idx, -ENOSPC, "cap %u: %d", cap, idx);
		cr_assert_eq(rc_pool_free_count(&p), N - 1 - n);
		CHAIN(&p, head, links, n);
		CHAINS(&p, n, n ? n + 1 : 0, refused);
		cr_assert_eq(rc_pool_chain_extend(&p, head), idx, "cap %u: refused again", cap);
		refused++;
		CHAINS(&p, n, n ? n + 1 : 0, refused);
		rc_pool_unref(&p, head);
		ALL_FREE(&p);
		CHAINS(&p, 0, 0, refused);
	}

	/* Chains share the cap. With 5 of 6 held by one chain, a second head cannot start (it needs
	 * 2: itself and its first link), but the first chain can still take the 6th. */
	rc_pool_set_chain_max(&p, 6);
	uint32_t h1 = (uint32_t)rc_pool_alloc(&p), h2 = (uint32_t)rc_pool_alloc(&p), l1[8];
	for (int i = 0; i < 4; i++)
		l1[i] = (uint32_t)rc_pool_chain_extend(&p, h1);
	CHAINS(&p, 4, 5, refused);
	cr_assert_eq(rc_pool_chain_extend(&p, h2), -ENOSPC);
	refused++;
	CHAIN(&p, h2, NULL, 0);
	CHAINS(&p, 4, 5, refused);
	l1[4] = (uint32_t)rc_pool_chain_extend(&p, h1);
	cr_assert_lt(l1[4], N);
	CHAIN(&p, h1, l1, 5);
	CHAINS(&p, 5, 6, refused);
	/* the first chain goes home: the second may now take all of the cap */
	rc_pool_unref(&p, h1);
	CHAINS(&p, 0, 0, refused);
	for (int i = 0; i < 5; i++)
		cr_assert_geq(rc_pool_chain_extend(&p, h2), 0, "extension %d", i);
	cr_assert_eq(rc_pool_chain_extend(&p, h2), -ENOSPC);
	refused++;
	CHAINS(&p, 5, 6, refused);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.alloc_failed, 0, "a refused extension is not a failed allocation");
	rc_pool_unref(&p, h2);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, refused);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* The reserve: a chain takes buffers while more than `reserve` are free, so it may bring the free
 * stack down to the reserve but never below it (rc_pool_low stays false all along); then -ENOBUFS,
 * counted, nothing changed. The reserve is still there for single-buffer allocations. With a
 * reserve of 0 a chain may take the last free buffer, and is refused when none is left. */
Test(pool, chain_stops_at_the_reserve_with_enobufs)
{
	enum {
		N = 16,
		RESERVE = 4
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	rc_pool_set_reserve(&p, RESERVE);
	uint32_t head = (uint32_t)rc_pool_alloc(&p), links[N], n = 0;
	int32_t idx;
	while ((idx = rc_pool_chain_extend(&p, head)) >= 0) {
		links[n++] = (uint32_t)idx;
		cr_assert_geq(rc_pool_free_count(&p), RESERVE, "extension %u went below the reserve", n);
		cr_assert(!rc_pool_low(&p), "extension %u left the pool low", n);
		CHAIN(&p, head, links, n);
		CHAINS(&p, n, n + 1, 0);
	}
	cr_assert_eq(idx, -ENOBUFS);
	cr_assert_eq(n, N - 1 - RESERVE, "stopped with %u free", rc_pool_free_count(&p));
	cr_assert_eq(rc_pool_free_count(&p), RESERVE, "the free stack ends at the reserve");
	CHAIN(&p, head, links, n);
	CHAINS(&p, n, n + 1, 1);

	/* single buffers may take the reserve; chains still may not grow */
	int32_t single[RESERVE];
	for (int i = 0; i < RESERVE; i++) {
		single[i] = rc_pool_alloc(&p);
		cr_assert_geq(single[i], 0, "the reserve is for single buffers");
		cr_assert_eq(rc_pool_chain_extend(&p, head), -ENOBUFS);
	}
	cr_assert(rc_pool_low(&p));
	CHAINS(&p, n, n + 1, 1 + RESERVE);
	for (int i = 0; i < RESERVE; i++)
		rc_pool_unref(&p, (uint32_t)single[i]);

	/* no reserve: the chain may take the last free buffer, and is refused once none is left (a
	 * buffer held aside keeps it under the cap, which is the whole pool) */
	rc_pool_set_reserve(&p, 0);
	uint32_t aside = (uint32_t)rc_pool_alloc(&p);
	while ((idx = rc_pool_chain_extend(&p, head)) >= 0)
		links[n++] = (uint32_t)idx;
	cr_assert_eq(idx, -ENOBUFS);
	cr_assert_eq(n, N - 2);
	cr_assert_eq(rc_pool_free_count(&p), 0);
	CHAIN(&p, head, links, n);
	CHAINS(&p, N - 2, N - 1, 2 + RESERVE);

	/* the last buffer fills the cap and empties the pool at once; the next extension has both
	 * against it and is refused once, with one of the two */
	rc_pool_unref(&p, aside);
	idx = rc_pool_chain_extend(&p, head);
	cr_assert_geq(idx, 0);
	links[n++] = (uint32_t)idx;
	CHAINS(&p, N - 1, N, 2 + RESERVE);
	idx = rc_pool_chain_extend(&p, head);
	cr_assert(idx == -ENOSPC || idx == -ENOBUFS, "%d", idx);
	CHAIN(&p, head, links, n);
	CHAINS(&p, N - 1, N, 3 + RESERVE);

	rc_pool_unref(&p, head);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, 3 + RESERVE);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* A chain's head released on another worker (rc_pool_remote_put of its one reference) stays in use,
 * chain and all, until the owner collects it; then the whole chain goes home at once, as a local
 * last unref would. Counted once per buffer pushed (the head), not per buffer in its chain. */
Test(pool, chain_released_remotely_goes_home_whole)
{
	enum {
		N = 16
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	uint32_t h1 = (uint32_t)rc_pool_alloc(&p), h2 = (uint32_t)rc_pool_alloc(&p);
	uint32_t plain = (uint32_t)rc_pool_alloc(&p), l1[3], l2[5];
	for (int i = 0; i < 5; i++) {
		if (i < 3)
			l1[i] = (uint32_t)rc_pool_chain_extend(&p, h1);
		l2[i] = (uint32_t)rc_pool_chain_extend(&p, h2);
	}
	/* the message layer shared h1 and dropped all but its one pool reference */
	rc_pool_ref(&p, h1);
	rc_pool_unref(&p, h1);
	CHAINS(&p, 8, 10, 0);
	cr_assert_eq(rc_pool_free_count(&p), N - 11);

	rc_pool_remote_put(&p, h1);
	rc_pool_remote_put(&p, plain);
	rc_pool_remote_put(&p, h2);
	/* pending: every count as before, the chains whole, validate holds */
	CHAIN(&p, h1, l1, 3);
	CHAIN(&p, h2, l2, 5);
	CHAINS(&p, 8, 10, 0);
	cr_assert_eq(rc_pool_free_count(&p), N - 11);
	cr_assert_eq(rc_pool_refs(&p, h1), 1);

	cr_assert_eq(rc_pool_collect_remote(&p), 3);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, 0);
	struct rc_pool_stats st;
	rc_pool_stats(&p, &st);
	cr_assert_eq(st.remote_frees, 3);
	cr_assert_eq(st.pool_used, 0);
	cr_assert_eq(rc_pool_collect_remote(&p), 0);

	/* and round again: the buffers serve a new chain released the same way */
	uint32_t h = (uint32_t)rc_pool_alloc(&p);
	for (int i = 0; i < N - 1; i++)
		cr_assert_geq(rc_pool_chain_extend(&p, h), 0);
	CHAINS(&p, N - 1, N, 0);
	rc_pool_remote_put(&p, h);
	CHAINS(&p, N - 1, N, 0);
	cr_assert_eq(rc_pool_collect_remote(&p), 1);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, 0);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* A chain is built on a POOL buffer someone holds; a LINK buffer is held only through its head.
 * Anything else aborts. */
Test(pool, chain_extend_of_free_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	(void)rc_pool_chain_extend(p, 1);
}

Test(pool, chain_extend_of_link_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t head = (uint32_t)rc_pool_alloc(p);
	int32_t link = rc_pool_chain_extend(p, head);
	cr_assert_geq(link, 0);
	(void)rc_pool_chain_extend(p, (uint32_t)link);
}

Test(pool, chain_extend_of_recv_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t b;
	cr_assert_eq(rc_pool_lend_recv(p, 1, &b), 0);
	rc_pool_recv_filled(p, b);
	(void)rc_pool_chain_extend(p, b);
}

Test(pool, chain_extend_after_the_head_went_home_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t head = (uint32_t)rc_pool_alloc(p);
	cr_assert_geq(rc_pool_chain_extend(p, head), 0);
	rc_pool_unref(p, head);
	(void)rc_pool_chain_extend(p, head);
}

Test(pool, ref_of_link_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t head = (uint32_t)rc_pool_alloc(p);
	int32_t link = rc_pool_chain_extend(p, head);
	cr_assert_geq(link, 0);
	rc_pool_ref(p, (uint32_t)link);
}

Test(pool, unref_of_link_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t head = (uint32_t)rc_pool_alloc(p);
	int32_t link = rc_pool_chain_extend(p, head);
	cr_assert_geq(link, 0);
	rc_pool_unref(p, (uint32_t)link);
}

Test(pool, remote_put_of_link_buffer_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	uint32_t head = (uint32_t)rc_pool_alloc(p);
	int32_t link = rc_pool_chain_extend(p, head);
	cr_assert_geq(link, 0);
	rc_pool_remote_put(p, (uint32_t)link);
}

Test(pool, chain_max_above_count_aborts, .signal = SIGABRT)
{
	rc_pool *p = death_pool();
	rc_pool_set_chain_max(p, 5);
}

/* validate must notice every way a chain can be wrong. Two chains, a -> a1 a2 a3 and
 * b -> b1 b2, and a free buffer; each corruption is undone before the next. */
Test(pool, validate_catches_chain_corruption)
{
	enum {
		N = 10
	};
	region r = region_map(256, N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, N), 0);
	uint32_t a = (uint32_t)rc_pool_alloc(&p), b = (uint32_t)rc_pool_alloc(&p), la[3], lb[2];
	for (int i = 0; i < 3; i++)
		la[i] = (uint32_t)rc_pool_chain_extend(&p, a);
	for (int i = 0; i < 2; i++)
		lb[i] = (uint32_t)rc_pool_chain_extend(&p, b);
	uint32_t free_buf = p.free_stack[0];
	CHAINS(&p, 5, 7, 0);

	/* one LINK buffer in two chains: b's last link goes on into a's second */
	p.link[lb[1]] = la[1];
	cr_assert(!rc_pool_validate(&p), "a buffer in two chains");
	p.tail[b] = la[2]; /* even with b's tail agreeing */
	cr_assert(!rc_pool_validate(&p), "a buffer in two chains, tails consistent");
	p.link[lb[1]] = RC_POOL_NONE;
	p.tail[b] = lb[1];
	VALID(&p);

	/* tail[] wrong: the middle, the head, nothing */
	p.tail[a] = la[1];
	cr_assert(!rc_pool_validate(&p), "tail in the middle");
	p.tail[a] = a;
	cr_assert(!rc_pool_validate(&p), "tail at the head");
	p.tail[a] = RC_POOL_NONE;
	cr_assert(!rc_pool_validate(&p), "no tail");
	p.tail[a] = la[2];
	VALID(&p);

	/* a chain cut short: its last LINK buffer in no chain at all */
	p.link[la[1]] = RC_POOL_NONE;
	p.tail[a] = la[1];
	cr_assert(!rc_pool_validate(&p), "an orphan LINK buffer");
	p.link[la[1]] = la[2];
	p.tail[a] = la[2];
	VALID(&p);

	/* cycles: back to an earlier link, back to the head, onto itself */
	p.link[la[2]] = la[0];
	cr_assert(!rc_pool_validate(&p), "a cycle in a chain");
	p.link[la[2]] = a;
	cr_assert(!rc_pool_validate(&p), "a chain back to its head");
	p.link[la[2]] = la[2];
	cr_assert(!rc_pool_validate(&p), "a buffer linked to itself");
	/* on into another head, into a free buffer, out of range */
	p.link[la[2]] = b;
	cr_assert(!rc_pool_validate(&p), "a chain into another head");
	p.link[la[2]] = free_buf;
	cr_assert(!rc_pool_validate(&p), "a chain into a free buffer");
	p.link[la[2]] = N + 3;
	cr_assert(!rc_pool_validate(&p), "a link out of range");
	p.link[la[2]] = RC_POOL_NONE;
	VALID(&p);

	/* a free buffer that says it heads a chain */
	p.link[free_buf] = la[0];
	cr_assert(!rc_pool_validate(&p), "a free buffer with a chain");
	p.link[free_buf] = RC_POOL_NONE;
	VALID(&p);

	/* a referenced LINK buffer */
	p.refs[la[0]] = 1;
	cr_assert(!rc_pool_validate(&p), "a LINK buffer with a reference");
	p.refs[la[0]] = 0;
	VALID(&p);

	/* counters off, each way */
	p.linked++;
	cr_assert(!rc_pool_validate(&p), "linked one too many");
	p.linked -= 2;
	cr_assert(!rc_pool_validate(&p), "linked one too few");
	p.linked++;
	p.chained++;
	cr_assert(!rc_pool_validate(&p), "chained one too many");
	p.chained -= 2;
	cr_assert(!rc_pool_validate(&p), "chained one too few");
	p.chained++;
	VALID(&p);
	/* more in chains than the cap allows */
	p.chain_max = p.chained - 1;
	cr_assert(!rc_pool_validate(&p), "over the cap");
	p.chain_max = p.chained;
	VALID(&p);

	rc_pool_unref(&p, a);
	rc_pool_unref(&p, b);
	ALL_FREE(&p);
	CHAINS(&p, 0, 0, 0);
	rc_pool_fini(&p);
	region_unmap(&r);
}

/* The chains' model: each live head, its references and its links in order; every buffer's kind.
 * A random sequence of allocations, extensions, references and releases (local and remote) under
 * a cap and a reserve, checked against it after every operation, and the outcome of every
 * extension predicted from the model alone. */
enum {
	CM_N = 48,
	CM_CAP = 30,
	CM_RESERVE = 6,
	CM_OPS = 60000
};

typedef struct cm_head {
	uint32_t head, refs, n;
	uint32_t links[CM_N];
} cm_head;

typedef struct cm {
	cm_head heads[CM_N];
	uint32_t nheads;
	enum rc_buf_kind kind[CM_N];
	uint64_t refused, alloc_failed, remote;
} cm;

static uint32_t cm_count(const cm *m, enum rc_buf_kind k)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < CM_N; i++)
		n += m->kind[i] == k;
	return n;
}

static uint32_t cm_chained(const cm *m)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->nheads; i++)
		n += m->heads[i].n ? m->heads[i].n + 1 : 0;
	return n;
}

/* A head's last reference went: it and its chain are free, and it leaves the model. */
static void cm_gone(cm *m, uint32_t i)
{
	cm_head *h = &m->heads[i];
	m->kind[h->head] = RC_BUF_FREE;
	for (uint32_t k = 0; k < h->n; k++)
		m->kind[h->links[k]] = RC_BUF_FREE;
	*h = m->heads[--m->nheads];
}

/* Extend a random head; returns the error the model predicted and the pool gave, or 0. */
static int32_t cm_extend(rc_pool *p, cm *m, int op)
{
	if (m->nheads == 0)
		return 0;
	cm_head *h = &m->heads[rng() % m->nheads];
	uint32_t free = cm_count(m, RC_BUF_FREE), need = h->n ? 1 : 2;
	int32_t want = 0;
	if (cm_chained(m) + need > CM_CAP)
		want = -ENOSPC;
	else if (free == 0 || free <= CM_RESERVE)
		want = -ENOBUFS;
	int32_t got = rc_pool_chain_extend(p, h->head);
	if (want < 0) {
		cr_assert_eq(got, want, "op %d: extension of %u gave %d", op, h->head, got);
		m->refused++;
		return want;
	}
	cr_assert(got >= 0 && got < CM_N && m->kind[got] == RC_BUF_FREE, "op %d: extension gave %d", op,
	          got);
	m->kind[got] = RC_BUF_LINK;
	h->links[h->n++] = (uint32_t)got;
	return 0;
}

/* Release the one reference of a few heads on "another worker", then collect. */
static void cm_remote(rc_pool *p, cm *m, int op)
{
	uint32_t pushed[CM_N], n = 0, want = 1 + (uint32_t)(rng() % 3);
	for (uint32_t i = 0; i < m->nheads && n < want; i++) {
		if (m->heads[i].refs == 1 && rng() % 2) {
			rc_pool_remote_put(p, m->heads[i].head);
			pushed[n++] = m->heads[i].head;
		}
	}
	cr_assert(rc_pool_validate(p), "op %d: validate with %u pending", op, n);
	cr_assert_eq(rc_pool_collect_remote(p), n, "op %d", op);
	m->remote += n;
	for (uint32_t k = 0; k < n; k++)
		for (uint32_t i = 0; i < m->nheads; i++)
			if (m->heads[i].head == pushed[k]) {
				cm_gone(m, i);
				break;
			}
}

static void cm_check(const rc_pool *p, const cm *m, int op)
{
	cr_assert(rc_pool_validate(p), "op %d: rc_pool_validate failed", op);
	for (uint32_t i = 0; i < CM_N; i++)
		cr_assert_eq(rc_pool_kind(p, i), m->kind[i], "op %d: buffer %u kind", op, i);
	for (uint32_t i = 0; i < m->nheads; i++) {
		const cm_head *h = &m->heads[i];
		cr_assert_eq(rc_pool_refs(p, h->head), h->refs, "op %d: head %u refs", op, h->head);
		uint32_t idx = h->head;
		for (uint32_t k = 0; k < h->n; k++) {
			idx = rc_pool_chain_next(p, idx);
			cr_assert_eq(idx, h->links[k], "op %d: head %u link %u", op, h->head, k);
		}
		cr_assert_eq(rc_pool_chain_next(p, idx), RC_POOL_NONE, "op %d: head %u", op, h->head);
		cr_assert_eq(rc_pool_chain_tail(p, h->head), idx, "op %d: head %u tail", op, h->head);
	}
	struct rc_pool_stats st;
	rc_pool_stats(p, &st);
	cr_assert(st.free == cm_count(m, RC_BUF_FREE) && st.pool_used == cm_count(m, RC_BUF_POOL) &&
	                  st.linked == cm_count(m, RC_BUF_LINK) && st.chained == cm_chained(m) &&
	                  st.chain_refused == m->refused && st.alloc_failed == m->alloc_failed &&
	                  st.remote_frees == m->remote,
	          "op %d: stats differ from the model", op);
	cr_assert_geq(st.chain_max, st.chained, "op %d", op);
}

Test(pool, chain_random_against_model)
{
	region r = region_map(256, CM_N);
	rc_pool p;
	cr_assert_eq(rc_pool_init(&p, r.base, 256, CM_N), 0);
	rc_pool_set_chain_max(&p, CM_CAP);
	rc_pool_set_reserve(&p, CM_RESERVE);
	static cm m;
	memset(&m, 0, sizeof m);
	rng_state = 4242;
	uint64_t enospc = 0, enobufs = 0;
	for (int op = 0; op < CM_OPS; op++) {
		/* phases of 500 operations that mostly grow, then mostly shrink, so that the pool runs
		 * into the cap, the reserve and the end of its buffers, and comes back */
		bool grow = (op / 500) % 2 == 0;
		static const uint8_t ops[2][10] = {
			{ 0, 1, 1, 1, 2, 3, 3, 3, 3,
			  4 }, /* shrink: 0 alloc, 1 extend, 2 ref, 3 unref, 4 remote */
			{ 0, 0, 0, 1, 1, 1, 1, 2, 3, 4 }, /* grow */
		};
		switch (ops[grow][rng() % 10]) {
		case 0: { /* a new buffer, a head to be */
			int32_t got = rc_pool_alloc(&p);
			if (cm_count(&m, RC_BUF_FREE) == 0) {
				cr_assert_eq(got, -ENOBUFS, "op %d", op);
				m.alloc_failed++;
			} else {
				cr_assert(got >= 0 && m.kind[got] == RC_BUF_FREE, "op %d: alloc gave %d", op, got);
				m.kind[got] = RC_BUF_POOL;
				m.heads[m.nheads++] = (cm_head){ .head = (uint32_t)got, .refs = 1 };
			}
			break;
		}
		case 1: {
			int32_t err = cm_extend(&p, &m, op);
			enospc += err == -ENOSPC;
			enobufs += err == -ENOBUFS;
			break;
		}
		case 2: /* share a head */
			if (m.nheads) {
				cm_head *h = &m.heads[rng() % m.nheads];
				rc_pool_ref(&p, h->head);
				h->refs++;
			}
			break;
		case 3: /* release a head locally */
			if (m.nheads) {
				uint32_t i = (uint32_t)(rng() % m.nheads);
				rc_pool_unref(&p, m.heads[i].head);
				if (--m.heads[i].refs == 0)
					cm_gone(&m, i);
			}
			break;
		case 4:
			cm_remote(&p, &m, op);
			break;
		}
		cm_check(&p, &m, op);
	}
	/* the sequence went through both refusals and the pool running dry */
	cr_assert_gt(enospc, 1000, "cap reached %llu times", (unsigned long long)enospc);
	cr_assert_gt(enobufs, 1000, "reserve reached %llu times", (unsigned long long)enobufs);
	cr_assert_gt(m.alloc_failed, 100, "pool empty %llu times", (unsigned long long)m.alloc_failed);
	cr_assert_gt(m.remote, 1000, "remote frees %llu", (unsigned long long)m.remote);
	while (m.nheads) {
		rc_pool_unref(&p, m.heads[0].head);
		if (--m.heads[0].refs == 0)
			cm_gone(&m, 0);
	}
	cm_check(&p, &m, CM_OPS);
	ALL_FREE(&p);
	rc_pool_fini(&p);
	region_unmap(&r);
}
