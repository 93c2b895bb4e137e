#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rc_chunks.h"

Test(chunks, rejects_bad_arguments)
{
	rc_chunks c;
	cr_expect_eq(rc_chunks_init(&c, 0, 4), -EINVAL);
	cr_expect_eq(rc_chunks_init(&c, 64, 0), -EINVAL);
	cr_expect_eq(rc_chunks_init(&c, SIZE_MAX / 2, 4), -EINVAL);
	rc_chunks_fini(&c);
}

Test(chunks, hands_out_every_chunk_once_then_null)
{
	rc_chunks c;
	cr_assert_eq(rc_chunks_init(&c, 100, 8), 0);
	cr_expect_eq(c.size, 128, "size rounds up to a multiple of 64");
	uint8_t *got[8];
	for (int i = 0; i < 8; i++) {
		got[i] = rc_chunk_get(&c);
		cr_assert_not_null(got[i]);
		cr_expect_eq((uintptr_t)got[i] % 64, 0);
		memset(got[i], i, c.size); /* every byte writable */
		for (int j = 0; j < i; j++)
			cr_expect_neq(got[i], got[j]);
	}
	cr_expect_null(rc_chunk_get(&c));
	cr_expect_eq(rc_chunks_used(&c), 8);
	cr_expect_eq(c.used_hwm, 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(got[i][c.size - 1], i, "chunks do not overlap");
	for (int i = 7; i >= 0; i--)
		rc_chunk_put(&c, got[i]);
	cr_expect(rc_chunks_validate(&c));
	cr_expect_eq(rc_chunks_used(&c), 0);
	rc_chunks_fini(&c);
}

Test(chunks, reuses_the_last_chunk_put_first)
{
	rc_chunks c;
	cr_assert_eq(rc_chunks_init(&c, 4096, 1000), 0);
	void *a = rc_chunk_get(&c);
	void *b = rc_chunk_get(&c);
	rc_chunk_put(&c, a);
	cr_expect_eq(rc_chunk_get(&c), a, "a stack keeps the working set small");
	rc_chunk_put(&c, a);
	rc_chunk_put(&c, b);
	cr_expect_eq(c.used_hwm, 2);
	cr_expect(rc_chunks_validate(&c));
	rc_chunks_fini(&c);
}

Test(chunks, trim_zeroes_cold_chunks_and_keeps_the_warm_ones)
{
	rc_chunks c;
	cr_assert_eq(rc_chunks_init(&c, 4096, 64), 0);
	uint8_t *got[32];
	for (int i = 0; i < 32; i++) {
		got[i] = rc_chunk_get(&c);
		memset(got[i], 0xAB, c.size);
	}
	uint8_t *held = got[0]; /* still in use: never trimmed */
	for (int i = 31; i >= 1; i--)
		rc_chunk_put(&c, got[i]);
	/* the stack top is now got[1] (put last), then got[2], ... */
	cr_expect_eq(rc_chunks_trim(&c, 4), 0, "32 were in use at once in this window: all stay warm");
	cr_expect(rc_chunks_trim_due(&c, 4));
	cr_expect_eq(rc_chunks_trim(&c, 4), 27, "a window with 1 in use: 31 used since, 4 kept warm");
	cr_expect_eq(rc_chunks_trim(&c, 4), 0, "nothing new to trim");
	cr_expect(!rc_chunks_trim_due(&c, 4));
	for (int i = 1; i <= 4; i++)
		cr_expect_eq(got[i][100], 0xAB, "the warm ones keep their bytes");
	for (int i = 5; i < 32; i++)
		cr_expect_eq(got[i][100], 0, "a trimmed chunk reads as zero again");
	cr_expect_eq(held[100], 0xAB);
	cr_expect(rc_chunks_validate(&c));
	rc_chunks_fini(&c);
}

/* Steady load: every "message", all 100 chunks are taken and given back (a fan-out to 100
 * subscribers). Trimming between messages must release nothing: each fan-out would fault its
 * pages back in. */
Test(chunks, trim_keeps_a_steady_working_set)
{
	rc_chunks c;
	cr_assert_eq(rc_chunks_init(&c, 4096, 256), 0);
	uint8_t *got[100];
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 100; i++) {
			got[i] = rc_chunk_get(&c);
			got[i][0] = 0xCD;
		}
		for (int i = 0; i < 100; i++)
			rc_chunk_put(&c, got[i]);
		cr_expect_eq(rc_chunks_trim(&c, 4), 0, "round %d: the working set stays warm", round);
		cr_expect(rc_chunks_validate(&c));
	}
	for (int i = 0; i < 100; i++)
		cr_expect_eq(got[i][0], 0xCD, "never released, so never zeroed");
	/* The load stops: one quiet window later, all but 4 go. */
	cr_expect_eq(rc_chunks_trim(&c, 4), 96);
	cr_expect_eq(c.touched, 4);
	cr_expect(rc_chunks_validate(&c));
	rc_chunks_fini(&c);
}

/* Released chunks read as zero whatever order the free stack holds them in (they are sorted into
 * runs for madvise), and the ones in use or kept warm are untouched. */
Test(chunks, trim_releases_scattered_chunks_in_runs)
{
	rc_chunks c;
	cr_assert_eq(rc_chunks_init(&c, 4096, 64), 0);
	uint8_t *got[40];
	for (int i = 0; i < 40; i++) {
		got[i] = rc_chunk_get(&c);
		memset(got[i], 0x5A, c.size);
	}
	/* give back in a scrambled order, keeping every 7th in use */
	for (int k = 0; k < 40; k++) {
		int i = (k * 17) % 40;
		if (i % 7 != 0)
			rc_chunk_put(&c, got[i]);
	}
	uint32_t used = rc_chunks_used(&c);
	cr_expect_eq(used, 6);
	cr_expect_eq(rc_chunks_trim(&c, 2), 0, "first window: peak 40");
	cr_expect_eq(rc_chunks_trim(&c, 2), 32, "second: 34 free since, 2 kept warm");
	cr_expect(rc_chunks_validate(&c));
	int zero = 0, kept = 0;
	for (int i = 0; i < 40; i++) {
		if (i % 7 == 0)
			cr_expect_eq(got[i][4095], 0x5A, "chunk %d in use is untouched", i);
		else if (got[i][0] == 0 && got[i][4095] == 0)
			zero++;
		else if (got[i][0] == 0x5A && got[i][4095] == 0x5A)
			kept++;
	}
	cr_expect_eq(zero, 32);
	cr_expect_eq(kept, 2);
	/* what was released is handed out again, zeroed, and the stack is still whole */
	for (int i = 0; i < 34; i++)
		cr_expect_not_null(rc_chunk_get(&c));
	cr_expect(rc_chunks_validate(&c));
	rc_chunks_fini(&c);
}
