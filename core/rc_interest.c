#include "rc_interest.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

int rc_interest_init(rc_interest *ix)
{
	assert(ix != NULL);
	ix->mask = calloc(RC_INTEREST_BUCKETS, sizeof *ix->mask);
	return ix->mask != NULL ? 0 : -ENOMEM;
}

void rc_interest_fini(rc_interest *ix)
{
	assert(ix != NULL);
	free(ix->mask);
	ix->mask = NULL;
}

int rc_interest_local_init(rc_interest_local *l, rc_interest *ix, uint32_t worker)
{
	assert(l != NULL && ix != NULL && ix->mask != NULL);
	if (worker >= RC_INTEREST_WORKERS_MAX)
		return -EINVAL;
	l->count = calloc(RC_INTEREST_BUCKETS, sizeof *l->count);
	if (l->count == NULL)
		return -ENOMEM;
	l->shared = ix;
	l->bit = (uint64_t)1 << worker;
	return 0;
}

void rc_interest_local_fini(rc_interest_local *l)
{
	assert(l != NULL);
	free(l->count);
	l->count = NULL;
}

void rc_interest_add(rc_interest_local *l, uint32_t hash)
{
	uint32_t b = rc_interest_bucket(hash);
	assert(l->count[b] < UINT32_MAX);
	if (l->count[b]++ == 0)
		atomic_fetch_or_explicit(&l->shared->mask[b], l->bit, memory_order_release);
}

void rc_interest_del(rc_interest_local *l, uint32_t hash)
{
	uint32_t b = rc_interest_bucket(hash);
	assert(l->count[b] > 0);
	if (--l->count[b] == 0)
		atomic_fetch_and_explicit(&l->shared->mask[b], ~l->bit, memory_order_release);
}
