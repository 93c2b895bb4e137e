#include "rc_chunks.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rc_check.h"

int rc_chunks_init(rc_chunks *c, size_t size, uint32_t count)
{
	assert(c != NULL);
	memset(c, 0, sizeof *c);
	if (size == 0 || count == 0 || size > SIZE_MAX / 2)
		return -EINVAL;
	size = (size + 63) & ~(size_t)63;
	if (size > SIZE_MAX / count)
		return -EINVAL;
	c->free = malloc((size_t)count * sizeof *c->free);
	if (c->free == NULL)
		return -ENOMEM;
	void *m = mmap(NULL, size * count, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		free(c->free);
		c->free = NULL;
		return -ENOMEM;
	}
	/* Page granularity on purpose: with transparent huge pages, the first byte written to a
	 * chunk could make 2 MiB resident, and the point of this slab is that only the pages in use
	 * are. Advisory: a kernel without THP ignores it. */
	(void)madvise(m, size * count, MADV_NOHUGEPAGE);
	c->base = m;
	c->size = size;
	c->count = count;
	/* Lowest index on top, so a fresh slab hands out its first pages first. */
	for (uint32_t i = 0; i < count; i++)
		c->free[i] = count - 1 - i;
	c->free_top = count;
	return 0;
}

void rc_chunks_fini(rc_chunks *c)
{
	assert(c != NULL);
	if (c->base != NULL)
		munmap(c->base, c->size * c->count);
	free(c->free);
	memset(c, 0, sizeof *c);
}

void *rc_chunk_get(rc_chunks *c)
{
	assert(c->free != NULL && c->free_top <= c->count);
	if (c->free_top == 0)
		return NULL;
	uint32_t i = c->free[--c->free_top];
	uint32_t used = c->count - c->free_top;
	if (used > c->used_hwm)
		c->used_hwm = used;
	if (used > c->touched)
		c->touched = used;
	if (used > c->window_peak)
		c->window_peak = used;
	return c->base + (size_t)i * c->size;
}

void rc_chunk_put(rc_chunks *c, void *p)
{
	size_t off = (size_t)((uint8_t *)p - c->base);
	assert((uint8_t *)p >= c->base && off < c->size * c->count && off % c->size == 0);
	assert(c->free_top < c->count);
	c->free[c->free_top++] = (uint32_t)(off / c->size);
}

static int index_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Release the chunks free[lo..hi), sorted so that adjacent chunks go in one call. */
static void release(rc_chunks *c, uint32_t lo, uint32_t hi)
{
	qsort(c->free + lo, hi - lo, sizeof *c->free, index_cmp);
	for (uint32_t k = lo; k < hi;) {
		uint32_t run = 1;
		while (k + run < hi && c->free[k + run] == c->free[k] + run)
			run++;
		(void)madvise(c->base + (size_t)c->free[k] * c->size, (size_t)run * c->size, MADV_DONTNEED);
		k += run;
	}
}

uint32_t rc_chunks_trim(rc_chunks *c, uint32_t keep)
{
	assert(c->free_top <= c->count);
	uint32_t used = c->count - c->free_top;
	assert(c->touched >= used && c->touched <= c->count); /* touched covers every chunk in use */
	assert(c->window_peak >= used && c->window_peak <= c->touched);
	uint32_t warm = c->window_peak > used + keep ? c->window_peak : used + keep;
	c->window_peak = used; /* the next window starts */
	if (c->touched <= warm)
		return 0;
	/* Chunks leave and return at the top of the stack, so the ones used since the last trim are
	 * the top (touched - used) free entries; the top (warm - used) of them stay warm. */
	uint32_t lo = c->free_top - (c->touched - used), hi = c->free_top - (warm - used);
	release(c, lo, hi);
	c->touched = warm;
	return hi - lo;
}

/* Every entry of the free stack in range and none twice; seen has count zeroed bytes. */
static bool validate_free(const rc_chunks *c, uint8_t *seen)
{
	for (uint32_t k = 0; k < c->free_top; k++) {
		uint32_t i = c->free[k];
		RC_CHECKF(i < c->count, "free[%u] = %u, count %u", k, i, c->count);
		RC_CHECKF(!seen[i], "free[%u] = %u is listed twice", k, i);
		seen[i] = 1;
	}
	return true;
}

bool rc_chunks_validate(const rc_chunks *c)
{
	RC_CHECK(c->base != NULL && c->free != NULL && c->count > 0);
	RC_CHECK(c->size > 0 && c->size % 64 == 0);
	RC_CHECKF(c->free_top <= c->count, "free_top %u, count %u", c->free_top, c->count);
	RC_CHECKF(rc_chunks_used(c) <= c->used_hwm && c->used_hwm <= c->count,
	          "used %u, high-water mark %u, count %u", rc_chunks_used(c), c->used_hwm, c->count);
	RC_CHECKF(c->touched >= rc_chunks_used(c) && c->touched <= c->count,
	          "touched %u, used %u, count %u", c->touched, rc_chunks_used(c), c->count);
	RC_CHECKF(c->window_peak >= rc_chunks_used(c) && c->window_peak <= c->touched,
	          "window peak %u, used %u, touched %u", c->window_peak, rc_chunks_used(c), c->touched);
	/* Scratch for spotting an index listed twice: validation is for tests, and a byte per chunk
	 * on the side is what keeps it O(count). */
	uint8_t *seen = calloc(c->count, 1);
	RC_CHECK(seen != NULL);
	bool ok = validate_free(c, seen);
	free(seen);
	return ok;
}
