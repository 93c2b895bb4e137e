/* Tests of rc_pool: argument checks at init, alloc/ref/unref and the free stack, the life of a
 * receive buffer (lend, filled, released to the returned list, taken back), kinds never mixing,
 * index <-> pointer at the edges of every buffer, the low-water reserve, contract violations
 * aborting, and a long random sequence checked against a model. rc_pool_validate runs after every
 * operation. */
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
