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
	cr_expect_eq(rc_chunks_trim(&c, 4), 27, "31 used since, 4 kept warm");
	cr_expect_eq(rc_chunks_trim(&c, 4), 0, "nothing new to trim");
	for (int i = 1; i <= 4; i++)
		cr_expect_eq(got[i][100], 0xAB, "the warm ones keep their bytes");
	for (int i = 5; i < 32; i++)
		cr_expect_eq(got[i][100], 0, "a trimmed chunk reads as zero again");
	cr_expect_eq(held[100], 0xAB);
	cr_expect(rc_chunks_validate(&c));
	rc_chunks_fini(&c);
}
