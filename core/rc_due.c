/* rc_due.c: an indexed binary min-heap of due times (rc_due.h). */
#include "rc_due.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

static bool before(const rc_due_entry *a, const rc_due_entry *b)
{
	return (int32_t)(a->due_ms - b->due_ms) < 0;
}

int rc_due_init(rc_due *d, uint32_t nslots)
{
	*d = (rc_due){ .nslots = nslots };
	d->heap = calloc(nslots > 0 ? nslots : 1, sizeof *d->heap);
	d->pos = malloc((nslots > 0 ? nslots : 1) * sizeof *d->pos);
	if (d->heap == NULL || d->pos == NULL) {
		rc_due_fini(d);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nslots; i++)
		d->pos[i] = RC_DUE_NONE;
	return 0;
}

void rc_due_fini(rc_due *d)
{
	free(d->heap);
	free(d->pos);
	*d = (rc_due){ 0 };
}

static void place(rc_due *d, uint32_t i, rc_due_entry e)
{
	d->heap[i] = e;
	d->pos[e.slot] = i;
}

/* e goes to index i or above it. */
static void sift_up(rc_due *d, uint32_t i, rc_due_entry e)
{
	while (i > 0) {
		uint32_t up = (i - 1) / 2;
		if (!before(&e, &d->heap[up]))
			break;
		place(d, i, d->heap[up]);
		i = up;
	}
	place(d, i, e);
}

/* e goes to index i or below it. */
static void sift_down(rc_due *d, uint32_t i, rc_due_entry e)
{
	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= d->len)
			break;
		if (k + 1 < d->len && before(&d->heap[k + 1], &d->heap[k]))
			k++;
		if (!before(&d->heap[k], &e))
			break;
		place(d, i, d->heap[k]);
		i = k;
	}
	place(d, i, e);
}

void rc_due_set(rc_due *d, rc_due_entry e)
{
	assert(e.slot < d->nslots);
	uint32_t i = d->pos[e.slot];
	if (i == RC_DUE_NONE) {
		assert(d->len < d->nslots);
		sift_up(d, d->len++, e);
		return;
	}
	bool earlier = before(&e, &d->heap[i]);
	if (earlier)
		sift_up(d, i, e);
	else
		sift_down(d, i, e);
}

bool rc_due_pop(rc_due *d, uint32_t now_ms, rc_due_entry *out)
{
	if (d->len == 0 || (int32_t)(now_ms - d->heap[0].due_ms) < 0)
		return false;
	*out = d->heap[0];
	d->pos[out->slot] = RC_DUE_NONE;
	rc_due_entry last = d->heap[--d->len];
	if (d->len > 0)
		sift_down(d, 0, last);
	return true;
}
