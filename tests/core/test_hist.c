#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rc_hist.h"

Test(hist, rejects_bad_shapes)
{
	rc_hist h;
	cr_expect_eq(rc_hist_init(&h, 0, 0), -EINVAL);
	cr_expect_eq(rc_hist_init(&h, 0, RC_HIST_FINITE_MAX + 1), -EINVAL);
	cr_expect_eq(rc_hist_init(&h, 40, 25), -EINVAL, "a bound past 2^64");
	cr_expect_eq(rc_hist_init(&h, 33, RC_HIST_FINITE_MAX), 0);
}

/* Every bucket edge: unit << i goes in bucket i, one more in bucket i + 1. */
Test(hist, buckets_have_inclusive_power_of_two_bounds)
{
	rc_hist h;
	cr_assert_eq(rc_hist_init(&h, 4, 6), 0); /* 16, 32, 64, 128, 256, 512, +Inf */
	cr_expect_eq(rc_hist_bucket(&h, 0), 0);
	cr_expect_eq(rc_hist_bucket(&h, 1), 0);
	for (unsigned i = 0; i < 6; i++) {
		uint64_t bound = (uint64_t)16 << i;
		cr_expect_eq(rc_hist_bucket(&h, bound), i, "%llu", (unsigned long long)bound);
		cr_expect_eq(rc_hist_bucket(&h, bound + 1), i + 1, "%llu", (unsigned long long)bound + 1);
		if (i > 0)
			cr_expect_eq(rc_hist_bucket(&h, bound / 2 + 1), i);
	}
	cr_expect_eq(rc_hist_bucket(&h, UINT64_MAX), 6, "+Inf");
	rc_hist one;
	cr_assert_eq(rc_hist_init(&one, 0, 4), 0); /* 1, 2, 4, 8, +Inf: frames per send */
	cr_expect_eq(rc_hist_bucket(&one, 1), 0);
	cr_expect_eq(rc_hist_bucket(&one, 2), 1);
	cr_expect_eq(rc_hist_bucket(&one, 3), 2);
	cr_expect_eq(rc_hist_bucket(&one, 8), 3);
	cr_expect_eq(rc_hist_bucket(&one, 9), 4);
}

Test(hist, renders_cumulative_prometheus_buckets)
{
	rc_hist h;
	cr_assert_eq(rc_hist_init(&h, 10, 3), 0); /* 1024, 2048, 4096 ns, +Inf */
	rc_hist_observe(&h, 1000);
	rc_hist_observe_n(&h, 3000, 2);
	rc_hist_observe(&h, 1u << 20);
	cr_expect_eq(rc_hist_count(&h), 4);
	char out[2048];
	size_t n = rc_hist_render(&h, "x_seconds", "Help text.", 1e-9, "worker", "3", out, sizeof out);
	cr_assert_gt(n, 0);
	cr_expect_eq(strlen(out), n);
	const char *want = "# HELP ringcast_x_seconds Help text.\n"
	                   "# TYPE ringcast_x_seconds histogram\n"
	                   "ringcast_x_seconds_bucket{worker=\"3\",le=\"1.024e-06\"} 1\n"
	                   "ringcast_x_seconds_bucket{worker=\"3\",le=\"2.048e-06\"} 1\n"
	                   "ringcast_x_seconds_bucket{worker=\"3\",le=\"4.096e-06\"} 3\n"
	                   "ringcast_x_seconds_bucket{worker=\"3\",le=\"+Inf\"} 4\n"
	                   "ringcast_x_seconds_sum{worker=\"3\"} 0.001055576\n"
	                   "ringcast_x_seconds_count{worker=\"3\"} 4\n";
	cr_expect_str_eq(out, want);
	/* without help or label */
	n = rc_hist_render(&h, "x_seconds", NULL, 1e-9, NULL, NULL, out, sizeof out);
	cr_assert_gt(n, 0);
	cr_expect(strncmp(out, "ringcast_x_seconds_bucket{le=\"1.024e-06\"} 1\n", 44) == 0, "%s", out);
	cr_expect_not_null(strstr(out, "ringcast_x_seconds_count 4\n"));
}

Test(hist, render_reports_what_does_not_fit)
{
	rc_hist h;
	cr_assert_eq(rc_hist_init(&h, 0, 8), 0);
	char out[2048];
	size_t full = rc_hist_render(&h, "f", "h", 1, NULL, NULL, out, sizeof out);
	cr_assert_gt(full, 0);
	for (size_t cap = 0; cap <= full; cap++) {
		memset(out, 'x', sizeof out);
		cr_expect_eq(rc_hist_render(&h, "f", "h", 1, NULL, NULL, out, cap), 0, "cap %zu", cap);
		if (cap > 0)
			cr_expect_eq(out[0], '\0');
	}
	cr_expect_eq(rc_hist_render(&h, "f", "h", 1, NULL, NULL, out, full + 1), full);
}
