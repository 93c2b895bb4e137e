/* topics: names and Zipf popularity of the v1 topics (topics.h). */
#include "topics.h"

#include <assert.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void topics_init(struct topics *t, const char *prefix, uint32_t n, double zipf)
{
	assert(n >= 1 && n <= TOPICS_MAX);
	t->n = n;
	t->prefix = prefix;
	t->prefix_len = strlen(prefix);
	t->name = xcalloc(n, sizeof *t->name);
	t->name_len = xcalloc(n, 1);
	t->zipf_cdf = xcalloc(n, sizeof *t->zipf_cdf);
	t->name_max = 0;
	double sum = 0;
	for (uint32_t k = 0; k < n; k++) {
		int len = n == 1 ? snprintf(t->name[k], TOPIC_NAME_MAX, "%s", prefix)
		                 : snprintf(t->name[k], TOPIC_NAME_MAX, "%s.%u", prefix, k);
		assert(len > 0 && len <= RC_APP_TOPIC_MAX);
		t->name_len[k] = (uint8_t)len;
		if ((size_t)len > t->name_max)
			t->name_max = (size_t)len;
		sum += pow(k + 1.0, -zipf);
		t->zipf_cdf[k] = sum;
	}
	for (uint32_t k = 0; k < n; k++)
		t->zipf_cdf[k] /= sum;
	t->zipf_cdf[n - 1] = 1.0; /* no rounding gap above the last topic */
}

void topics_fini(struct topics *t)
{
	free(t->name);
	free(t->name_len);
	free(t->zipf_cdf);
	*t = (struct topics){ 0 };
}

static bool has(const uint32_t *list, uint32_t n, uint32_t x)
{
	for (uint32_t j = 0; j < n; j++)
		if (list[j] == x)
			return true;
	return false;
}

void topics_draw(const struct topics *t, uint64_t *rng, uint32_t *out, uint32_t k)
{
	assert(k <= t->n);
	uint32_t n = 0;
	for (uint32_t tries = 0; n < k && tries < 64 * k; tries++) {
		uint32_t x = topics_pick(t, rng);
		if (!has(out, n, x))
			out[n++] = x;
	}
	for (uint32_t x = 0; n < k; x++)
		if (!has(out, n, x))
			out[n++] = x;
	for (uint32_t i = 1; i < n; i++) /* insertion sort: k <= 64 */
		for (uint32_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint32_t y = out[j];
			out[j] = out[j - 1];
			out[j - 1] = y;
		}
}
