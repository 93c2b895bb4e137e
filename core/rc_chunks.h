/* rc_chunks: a slab of equal-sized chunks of memory, for what a connection holds only while it is
 * busy: its outbound queue's ring, its send staging buffer, its pending control frames, a request
 * head that did not arrive in one read.
 *
 * Why not the pool (rc_pool.h)? Pool buffers are the size of the largest message (64 KiB by
 * default) and live in memory registered with the kernel; these are a few KiB each and there can be
 * one per connection, so they come from their own mapping. The mapping reserves address space for
 * every chunk at init (MAP_NORESERVE) but the kernel gives a page real memory only when it is first
 * written, and the free list is a stack, so the chunks in use are always the same few: resident
 * memory follows the peak number of busy connections, never the configured maximum.
 *
 * One slab belongs to one worker: no locks, no atomics. Chunks are named by pointer.
 */
#ifndef RC_CHUNKS_H
#define RC_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rc_chunks {
	uint8_t *base; /* the mapping: count * size bytes */
	size_t size;   /* bytes per chunk, a multiple of 64 */
	uint32_t count;
	uint32_t free_top; /* free[0..free_top) are free chunk indices; the top is reused first */
	uint32_t *free;
	uint32_t used_hwm; /* most chunks ever in use at once */
	/* free[free_top - (touched - used) .. free_top) may hold resident pages: the chunks used
	 * since the last trim */
	uint32_t touched;
	uint32_t window_peak; /* most chunks in use at once since the last rc_chunks_trim */
} rc_chunks;

/* Map count chunks of size bytes (size rounded up to a multiple of 64, count >= 1). Returns 0,
 * -EINVAL (a zero argument, or a size that overflows), or -ENOMEM. */
int rc_chunks_init(rc_chunks *c, size_t size, uint32_t count);

/* Unmap everything; chunks still in use are gone with it. Safe on a zeroed struct. */
void rc_chunks_fini(rc_chunks *c);

/* A free chunk (size bytes, 64-byte aligned), or NULL if all are in use. */
void *rc_chunk_get(rc_chunks *c);

/* Give back a chunk rc_chunk_get returned (asserted to be one of ours, at a chunk boundary). */
void rc_chunk_put(rc_chunks *c, void *p);

static inline uint32_t rc_chunks_used(const rc_chunks *c)
{
	return c->count - c->free_top;
}

/* Give back to the kernel the memory of free chunks that the working set no longer needs (madvise
 * MADV_DONTNEED: their pages read as zero again and stop counting as resident). Called
 * periodically, it keeps resident as many chunks as were in use at once since the previous call
 * (the last window's peak), and at least `keep` more than are in use now; it releases the rest of
 * what was used since. So steady load keeps its chunks warm, however bursty within a window (1,000
 * subscribers all flushing once per message take 1,000 chunks at once, then none: trimming those
 * between messages made every fan-out fault its pages back in), and a burst that ended is given
 * back one window later.
 *
 * Each madvise flushes the TLB, which costs tens of microseconds on a virtual machine, so the
 * chunks to release are sorted and released in runs of adjacent chunks: a call per run, not per
 * chunk. Returns the number of chunks released. */
uint32_t rc_chunks_trim(rc_chunks *c, uint32_t keep);

/* Whether a later rc_chunks_trim could release anything: more chunks may be resident than are in
 * use plus keep. */
static inline bool rc_chunks_trim_due(const rc_chunks *c, uint32_t keep)
{
	return c->touched > rc_chunks_used(c) + keep;
}

/* Check every invariant: the counts in range (used <= high-water mark <= count, used <= touched
 * <= count, used <= window peak <= touched) and every free index in range and listed once. Prints the first broken one to stderr
 * (rc_check.h) and returns false; true if all hold. O(count), allocates scratch; for tests. */
bool rc_chunks_validate(const rc_chunks *c);

#endif
