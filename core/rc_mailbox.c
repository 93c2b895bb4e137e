/* rc_mailbox: see rc_mailbox.h for the contract, the memory orders and the wake-up argument. */
#include "rc_mailbox.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_check.h"

static_assert(sizeof(rc_mail) == 16, "a record is 16 bytes");

int rc_mailbox_init(rc_mailbox *mb, uint32_t capacity)
{
	assert(mb != NULL);
	if (capacity == 0 || capacity > RC_MAILBOX_CAPACITY_MAX || (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	memset(mb, 0, sizeof *mb);
	/* Slots aligned to the line: a record never straddles two lines, and the slots share no line
	 * with the allocator's neighbours. C11 wants the size a multiple of the alignment. */
	size_t bytes = (size_t)capacity * sizeof(rc_mail);
	bytes = (bytes + RC_MAILBOX_LINE - 1) & ~(size_t)(RC_MAILBOX_LINE - 1);
	rc_mail *slots = aligned_alloc(RC_MAILBOX_LINE, bytes);
	if (slots == NULL)
		return -ENOMEM;
	rc_wakeflag_init(&mb->own_wake);
	atomic_init(&mb->tail, 0);
	atomic_init(&mb->head, 0);
	mb->p_slots = mb->c_slots = slots;
	mb->p_mask = mb->c_mask = capacity - 1;
	mb->p_wake = mb->c_wake = &mb->own_wake;
	return 0;
}

void rc_mailbox_fini(rc_mailbox *mb)
{
	assert(mb != NULL);
	free(mb->p_slots);
	mb->p_slots = mb->c_slots = NULL;
}

void rc_mailbox_use_wakeflag(rc_mailbox *mb, rc_wakeflag *wf)
{
	assert(wf != NULL);
	mb->p_wake = mb->c_wake = wf;
}

/* ---- producer ---- */

/* Is a slot free at tail? Reloads head (acquire: the consumer's reads of the slot happened
 * before) only when the cached copy says the ring is full. */
static bool has_room(rc_mailbox *mb, uint32_t tail)
{
	uint32_t cap = mb->p_mask + 1;
	if (tail - mb->head_cache == cap)
		mb->head_cache = atomic_load_explicit(&mb->head, memory_order_acquire);
	assert(tail - mb->head_cache <= cap);
	return tail - mb->head_cache < cap;
}

bool rc_mailbox_push(rc_mailbox *mb, const rc_mail *m)
{
	assert(m != NULL);
	uint32_t tail = atomic_load_explicit(&mb->tail, memory_order_relaxed);
	if (!has_room(mb, tail))
		return false;
	mb->p_slots[tail & mb->p_mask] = *m;
	atomic_store_explicit(&mb->tail, tail + 1, memory_order_release);
	return true;
}

uint32_t rc_mailbox_room(rc_mailbox *mb, uint32_t want)
{
	uint32_t cap = mb->p_mask + 1;
	uint32_t tail = atomic_load_explicit(&mb->tail, memory_order_relaxed);
	if (cap - (tail - mb->head_cache) < want)
		mb->head_cache = atomic_load_explicit(&mb->head, memory_order_acquire);
	assert(tail - mb->head_cache <= cap);
	return cap - (tail - mb->head_cache);
}

bool rc_mailbox_notify(rc_mailbox *mb)
{
	assert(mb->p_slots != NULL && mb->p_wake != NULL);
	/* R of the argument in rc_mailbox.h: a seq_cst RMW that leaves tail unchanged. Only the
	 * producer writes tail, so adding 0 cannot lose anyone's update. */
	atomic_fetch_add_explicit(&mb->tail, 0, memory_order_seq_cst);
	/* L: the common case (consumer awake) only reads the flag's line, which stays shared. */
	if (atomic_load_explicit(&mb->p_wake->sleeping, memory_order_seq_cst) == 0)
		return false;
	/* Several producers may see the 1; the exchange gives the wake-up to exactly one of them. */
	return atomic_exchange_explicit(&mb->p_wake->sleeping, 0, memory_order_seq_cst) != 0;
}

/* ---- consumer ---- */

uint32_t rc_mailbox_pop_many(rc_mailbox *mb, rc_mail *out, uint32_t max)
{
	assert(out != NULL || max == 0);
	uint32_t head = atomic_load_explicit(&mb->head, memory_order_relaxed);
	uint32_t avail = mb->tail_cache - head;
	if (avail < max) {
		/* Acquire: the producer's slot writes before its release store of tail are visible. */
		mb->tail_cache = atomic_load_explicit(&mb->tail, memory_order_acquire);
		avail = mb->tail_cache - head;
	}
	assert(avail <= mb->c_mask + 1);
	uint32_t n = avail < max ? avail : max;
	if (n == 0)
		return 0;
	uint32_t at = head & mb->c_mask;
	uint32_t first = mb->c_mask + 1 - at;
	if (first > n)
		first = n;
	memcpy(out, &mb->c_slots[at], (size_t)first * sizeof *out);
	memcpy(out + first, &mb->c_slots[0], (size_t)(n - first) * sizeof *out);
	/* Release: our reads of the slots happen before the producer, after its acquire of head,
	 * overwrites them. */
	atomic_store_explicit(&mb->head, head + n, memory_order_release);
	return n;
}

bool rc_mailbox_empty(rc_mailbox *mb)
{
	assert(mb->c_slots != NULL);
	/* T of the argument in rc_mailbox.h: seq_cst, so it is ordered in S against the producer's
	 * RMW on tail (a seq_cst load is also an acquire load, so the cache may keep it). */
	mb->tail_cache = atomic_load_explicit(&mb->tail, memory_order_seq_cst);
	return mb->tail_cache == atomic_load_explicit(&mb->head, memory_order_relaxed);
}

/* ---- the wake flag ---- */

void rc_wakeflag_init(rc_wakeflag *wf)
{
	assert(wf != NULL);
	atomic_init(&wf->sleeping, 0);
}

void rc_wakeflag_arm(rc_wakeflag *wf)
{
	/* E of the argument: an RMW rather than a store so that it also reads the latest value of
	 * the flag (a stale wake taken by a producer after our last disarm cannot be reordered
	 * after it). */
	uint32_t was = atomic_exchange_explicit(&wf->sleeping, 1, memory_order_seq_cst);
	/* Only the consumer sets the flag, and it disarms after every sleep before it arms again. */
	assert(was == 0);
	(void)was;
}

bool rc_wakeflag_disarm(rc_wakeflag *wf)
{
	return atomic_exchange_explicit(&wf->sleeping, 0, memory_order_seq_cst) == 0;
}

bool rc_mailbox_validate(const rc_mailbox *mb)
{
	uint32_t cap = mb->p_mask + 1;
	uint32_t tail = atomic_load_explicit(&mb->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&mb->head, memory_order_relaxed);
	RC_CHECK(mb->p_slots != NULL);
	RC_CHECK(mb->p_slots == mb->c_slots && mb->p_mask == mb->c_mask && mb->p_wake == mb->c_wake);
	RC_CHECK(cap != 0 && cap <= RC_MAILBOX_CAPACITY_MAX && (cap & (cap - 1)) == 0);
	/* Free-running indices: each comparison is of distances mod 2^32 (see the header). */
	RC_CHECKF(tail - head <= cap, "head %u, tail %u, capacity %u", head, tail, cap);
	RC_CHECKF(head - mb->head_cache <= tail - mb->head_cache, /* head_cache <= head <= tail */
	          "head_cache %u, head %u, tail %u", mb->head_cache, head, tail);
	RC_CHECKF(tail - mb->head_cache <= cap, "head_cache %u, tail %u, capacity %u", mb->head_cache,
	          tail, cap);
	RC_CHECKF(mb->tail_cache - head <= tail - head, /* head <= tail_cache <= tail */
	          "head %u, tail_cache %u, tail %u", head, mb->tail_cache, tail);
	uint32_t s = atomic_load_explicit(&mb->p_wake->sleeping, memory_order_relaxed);
	RC_CHECKF(s == 0 || s == 1, "wake flag %u", s);
	return true;
}
