/* rc_pool: fixed-size buffers over a caller's region. The contract is in rc_pool.h.
 *
 * Per buffer the pool keeps a refcount and a state byte (below); the FREE buffers are a stack of
 * indices (LIFO, so the buffer freed last, still warm in cache, is the next one handed out), and
 * the returned RECV buffers are a singly linked list threaded through a per-buffer `next` array: a
 * buffer is on at most one list, so pushing costs one store and never allocates. The remote stack
 * (rc_pool.h) threads through the same `next`: it holds only referenced buffers (refs 1), the
 * returned list only unreferenced ones, so the two never share a buffer.
 *
 * Invariant tying the two together (rc_pool_validate checks it):
 *     refs == 0  <=>  state is FREE, RECV_KERNEL or RECV_RETURNED
 * and each state has its counter (free_top for FREE). next[] is RC_POOL_NONE for FREE and
 * RECV_KERNEL buffers, a link for RECV_RETURNED ones, and for POOL / RECV_HELD buffers either
 * RC_POOL_NONE or, while one sits on the remote stack, the pusher's link (not checked: it may be
 * being written by another thread).
 */
#include "rc_pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rc_check.h"

/* The state byte: the kind and, for RECV, where the buffer is. */
enum pool_state {
	ST_FREE = 0,      /* on the free stack, refs 0 */
	ST_POOL,          /* handed out by rc_pool_alloc, refs > 0 */
	ST_RECV_KERNEL,   /* in the provided-buffer ring, refs 0 */
	ST_RECV_HELD,     /* filled by the kernel, refs > 0 */
	ST_RECV_RETURNED, /* released, on the returned list, refs 0 */
	ST_LINK           /* in a chain after its head, refs 0 (the head's count covers it) */
};

int rc_pool_init(rc_pool *p, void *base, size_t buf_size, uint32_t count)
{
	assert(p != NULL);
	memset(p, 0, sizeof *p);
	p->returned_head = RC_POOL_NONE;
	if (base == NULL || count == 0 || count > INT32_MAX)
		return -EINVAL;
	if (buf_size < RC_POOL_BUF_MIN || (buf_size & (buf_size - 1)) != 0)
		return -EINVAL;
	if (buf_size > SIZE_MAX / count || buf_size > UINT32_MAX)
		return -EINVAL;
	size_t align = buf_size < RC_POOL_ALIGN_MAX ? buf_size : RC_POOL_ALIGN_MAX;
	if (((uintptr_t)base & (align - 1)) != 0)
		return -EINVAL;

	p->base = base;
	p->buf_size = buf_size;
	p->shift = (unsigned)__builtin_ctzll(buf_size);
	p->count = count;
	p->refs = calloc(count, sizeof *p->refs);
	if (p->refs == NULL)
		goto err;
	p->state = calloc(count, sizeof *p->state);
	if (p->state == NULL)
		goto err_refs;
	p->free_stack = calloc(count, sizeof *p->free_stack);
	if (p->free_stack == NULL)
		goto err_state;
	p->next = calloc(count, sizeof *p->next);
	if (p->next == NULL)
		goto err_stack;
	p->link = calloc(count, sizeof *p->link);
	if (p->link == NULL)
		goto err_next;
	p->tail = calloc(count, sizeof *p->tail);
	if (p->tail == NULL)
		goto err_link;
	p->mark = calloc((count + 63) / 64, sizeof *p->mark);
	if (p->mark == NULL)
		goto err_tail;
	static_assert(sizeof(struct rc_pool_remote) <= RC_POOL_REMOTE_LINE, "head fits its line");
	p->remote = aligned_alloc(RC_POOL_REMOTE_LINE, RC_POOL_REMOTE_LINE);
	if (p->remote == NULL)
		goto err_mark;
	atomic_init(&p->remote->head, RC_POOL_NONE);

	/* Pushed in reverse, so a fresh pool hands out 0, 1, 2, ... (easier to read in a debugger). */
	for (uint32_t i = 0; i < count; i++) {
		p->state[i] = ST_FREE;
		p->next[i] = RC_POOL_NONE;
		p->link[i] = RC_POOL_NONE;
		p->tail[i] = RC_POOL_NONE;
		p->free_stack[i] = count - 1 - i;
	}
	p->free_top = count;
	p->chain_max = count;
	return 0;

err_mark:
	free(p->mark);
err_tail:
	free(p->tail);
err_link:
	free(p->link);
err_next:
	free(p->next);
err_stack:
	free(p->free_stack);
err_state:
	free(p->state);
err_refs:
	free(p->refs);
err:
	memset(p, 0, sizeof *p);
	p->returned_head = RC_POOL_NONE;
	return -ENOMEM;
}

void rc_pool_fini(rc_pool *p)
{
	assert(p != NULL);
	free(p->remote);
	free(p->mark);
	free(p->tail);
	free(p->link);
	free(p->next);
	free(p->free_stack);
	free(p->state);
	free(p->refs);
	memset(p, 0, sizeof *p);
	p->returned_head = RC_POOL_NONE;
}

static inline void free_push(rc_pool *p, uint32_t idx)
{
	assert(p->free_top < p->count);
	p->state[idx] = ST_FREE;
	p->free_stack[p->free_top++] = idx;
}

static inline uint32_t free_pop(rc_pool *p)
{
	assert(p->free_top > 0);
	uint32_t idx = p->free_stack[--p->free_top];
	assert(idx < p->count && p->state[idx] == ST_FREE && p->refs[idx] == 0);
	return idx;
}

/* A chain's head goes home: every buffer after it goes too. */
static void chain_put(rc_pool *p, uint32_t head)
{
	uint32_t n = 1;
	for (uint32_t idx = p->link[head]; idx != RC_POOL_NONE; n++) {
		assert(p->state[idx] == ST_LINK && p->refs[idx] == 0 && p->linked > 0);
		uint32_t next = p->link[idx];
		p->link[idx] = RC_POOL_NONE;
		p->linked--;
		free_push(p, idx);
		idx = next;
	}
	assert(p->chained >= n);
	p->chained -= n;
	p->link[head] = RC_POOL_NONE;
	p->tail[head] = RC_POOL_NONE;
}

/* The one place a buffer whose last reference went goes home, on the owner's thread: from a local
 * last rc_pool_unref, or from rc_pool_collect_remote for a buffer released on another worker. */
static void pool_put(rc_pool *p, uint32_t idx)
{
	assert(p->refs[idx] == 0);
	/* On no list: the remote stack's link was cleared when the stack was taken. */
	assert(p->next[idx] == RC_POOL_NONE);
	switch ((enum pool_state)p->state[idx]) {
	case ST_POOL:
		assert(p->pool_used > 0);
		if (p->link[idx] != RC_POOL_NONE)
			chain_put(p, idx);
		p->pool_used--;
		free_push(p, idx);
		break;
	case ST_RECV_HELD:
		/* It belongs to the ring: queue it for net/ to re-provide, never to the free stack. */
		assert(p->recv_held > 0);
		p->recv_held--;
		p->state[idx] = ST_RECV_RETURNED;
		p->next[idx] = p->returned_head;
		p->returned_head = idx;
		p->recv_returned++;
		break;
	case ST_FREE:
	case ST_RECV_KERNEL:
	case ST_RECV_RETURNED:
	case ST_LINK:
	default:
		assert(!"pool_put: buffer was not referenced");
	}
}

int32_t rc_pool_alloc(rc_pool *p)
{
	assert(p->free_top <= p->count);
	if (p->free_top == 0) {
		p->alloc_failed++;
		return -ENOBUFS;
	}
	uint32_t idx = free_pop(p);
	p->state[idx] = ST_POOL;
	p->refs[idx] = 1;
	p->pool_used++;
	return (int32_t)idx;
}

void rc_pool_ref(rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	assert(p->state[idx] == ST_POOL || p->state[idx] == ST_RECV_HELD);
	assert(p->refs[idx] > 0 && p->refs[idx] < UINT32_MAX);
	p->refs[idx]++;
}

void rc_pool_unref(rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	assert(p->refs[idx] > 0);
	assert(p->state[idx] == ST_POOL || p->state[idx] == ST_RECV_HELD);
	if (--p->refs[idx] == 0)
		pool_put(p, idx);
}

uint32_t rc_pool_refs(const rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	return p->refs[idx];
}

enum rc_buf_kind rc_pool_kind(const rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	switch ((enum pool_state)p->state[idx]) {
	case ST_FREE:
		return RC_BUF_FREE;
	case ST_POOL:
		return RC_BUF_POOL;
	case ST_RECV_KERNEL:
	case ST_RECV_HELD:
	case ST_RECV_RETURNED:
		return RC_BUF_RECV;
	case ST_LINK:
		return RC_BUF_LINK;
	}
	assert(!"rc_pool_kind: corrupt state");
	return RC_BUF_FREE;
}

int rc_pool_lend_recv(rc_pool *p, uint32_t n, uint32_t *out_idx)
{
	assert(out_idx != NULL || n == 0);
	if (n > p->free_top)
		return -ENOBUFS;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = free_pop(p);
		p->state[idx] = ST_RECV_KERNEL;
		out_idx[i] = idx;
	}
	p->recv_kernel += n;
	return 0;
}

void rc_pool_recv_filled(rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	assert(p->state[idx] == ST_RECV_KERNEL && p->refs[idx] == 0);
	assert(p->recv_kernel > 0);
	p->recv_kernel--;
	p->recv_held++;
	p->state[idx] = ST_RECV_HELD;
	p->refs[idx] = 1;
}

uint32_t rc_pool_take_returned_recv(rc_pool *p, uint32_t *out_idx, uint32_t max)
{
	assert(out_idx != NULL || max == 0);
	uint32_t n = 0;
	while (n < max && p->returned_head != RC_POOL_NONE) {
		uint32_t idx = p->returned_head;
		assert(idx < p->count && p->state[idx] == ST_RECV_RETURNED && p->refs[idx] == 0);
		p->returned_head = p->next[idx];
		p->next[idx] = RC_POOL_NONE;
		p->state[idx] = ST_RECV_KERNEL;
		out_idx[n++] = idx;
	}
	assert(p->recv_returned >= n);
	p->recv_returned -= n;
	p->recv_kernel += n;
	return n;
}

void rc_pool_remote_put(rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	/* Reading the owner's arrays is safe here (rc_pool.h): the owner does not write them for idx
	 * while the last reference is out of its hands. A buffer on the returned list (RECV_RETURNED)
	 * or free fails here, so next[] never serves both lists. */
	assert(p->state[idx] == ST_POOL || p->state[idx] == ST_RECV_HELD);
	assert(p->refs[idx] == 1);
	_Atomic uint32_t *head = &p->remote->head;
	/* Relaxed: the value of head is only stored into our own link, never followed. */
	uint32_t old = atomic_load_explicit(head, memory_order_relaxed);
	do {
		p->next[idx] = old;
	} while (!atomic_compare_exchange_weak_explicit(head, &old, idx, memory_order_release,
	                                                memory_order_relaxed));
}

uint32_t rc_pool_collect_remote(rc_pool *p)
{
	_Atomic uint32_t *head = &p->remote->head;
	/* The common case is an empty stack: a plain load keeps the line shared instead of taking it
	 * exclusive every iteration. A push it misses is collected next iteration. */
	if (atomic_load_explicit(head, memory_order_relaxed) == RC_POOL_NONE)
		return 0;
	uint32_t idx = atomic_exchange_explicit(head, RC_POOL_NONE, memory_order_acquire);
	uint32_t n = 0;
	while (idx != RC_POOL_NONE) {
		assert(idx < p->count);
		/* Still referenced in our books, so neither free nor on the returned list; a buffer pushed
		 * twice, or also released locally, is FREE or RETURNED by its second visit and stops
		 * here (which also ends the cycle a double push makes). */
		assert(p->state[idx] == ST_POOL || p->state[idx] == ST_RECV_HELD);
		assert(p->refs[idx] == 1);
		uint32_t next = p->next[idx];
		p->next[idx] = RC_POOL_NONE;
		p->refs[idx] = 0;
		pool_put(p, idx);
		idx = next;
		n++;
	}
	p->remote_frees += n;
	return n;
}

int32_t rc_pool_chain_extend(rc_pool *p, uint32_t head)
{
	assert(head < p->count && p->state[head] == ST_POOL && p->refs[head] > 0);
	bool first = p->link[head] == RC_POOL_NONE;
	if (p->chained + (first ? 2u : 1u) > p->chain_max) {
		p->chain_refused++;
		return -ENOSPC;
	}
	if (p->free_top == 0 || p->free_top <= p->reserve) {
		p->chain_refused++;
		return -ENOBUFS;
	}
	uint32_t idx = free_pop(p);
	p->state[idx] = ST_LINK;
	p->linked++;
	p->chained += first ? 2u : 1u;
	if (first)
		p->link[head] = idx;
	else
		p->link[p->tail[head]] = idx;
	p->tail[head] = idx;
	return (int32_t)idx;
}

void rc_pool_set_chain_max(rc_pool *p, uint32_t max)
{
	assert(max <= p->count);
	p->chain_max = max;
}

void rc_pool_set_reserve(rc_pool *p, uint32_t reserve)
{
	assert(reserve <= p->count);
	p->reserve = reserve;
}

void rc_pool_stats(const rc_pool *p, struct rc_pool_stats *out)
{
	assert(p != NULL && out != NULL);
	*out = (struct rc_pool_stats){
		.count = p->count,
		.buf_size = (uint32_t)p->buf_size,
		.free = p->free_top,
		.pool_used = p->pool_used,
		.recv_kernel = p->recv_kernel,
		.recv_held = p->recv_held,
		.recv_returned = p->recv_returned,
		.linked = p->linked,
		.chained = p->chained,
		.chain_max = p->chain_max,
		.reserve = p->reserve,
		.alloc_failed = p->alloc_failed,
		.remote_frees = p->remote_frees,
		.chain_refused = p->chain_refused,
	};
}

/* The mark bits are scratch owned by the pool (allocated at init, so validate never allocates);
 * writing them through a const pool is fine: the pool's observable state does not change. */
static bool mark_test_and_set(const rc_pool *p, uint32_t idx)
{
	uint64_t bit = 1ull << (idx & 63);
	bool was = (p->mark[idx >> 6] & bit) != 0;
	p->mark[idx >> 6] |= bit;
	return was;
}

/* Every chain: a POOL head, LINK buffers each in one chain only, tail[] its last buffer, and the
 * counters. Marks from the free stack and the returned list cannot collide: those are not LINK. */
static bool validate_chains(const rc_pool *p)
{
	uint32_t chained = 0, linked = 0;
	for (uint32_t head = 0; head < p->count; head++) {
		if (p->state[head] == ST_LINK || p->link[head] == RC_POOL_NONE)
			continue;
		RC_CHECKF(p->state[head] == ST_POOL, "buffer %u heads a chain in state %u", head,
		          p->state[head]);
		uint32_t last = head;
		for (uint32_t idx = p->link[head]; idx != RC_POOL_NONE; idx = p->link[idx]) {
			RC_CHECKF(idx < p->count, "chain of %u holds %u, out of range", head, idx);
			RC_CHECKF(p->state[idx] == ST_LINK, "chain of %u holds %u in state %u", head, idx,
			          p->state[idx]);
			RC_CHECKF(!mark_test_and_set(p, idx), "buffer %u in two chains, or twice", idx);
			last = idx;
			linked++;
		}
		RC_CHECKF(p->tail[head] == last, "chain of %u ends at %u, tail says %u", head, last,
		          p->tail[head]);
		chained++; /* the head */
	}
	chained += linked;
	RC_CHECKF(linked == p->linked, "%u buffers in chains after heads, counter %u", linked,
	          p->linked);
	RC_CHECKF(chained == p->chained, "%u buffers in chains, counter %u", chained, p->chained);
	RC_CHECKF(p->chained <= p->chain_max, "%u buffers in chains, more than %u", p->chained,
	          p->chain_max);
	for (uint32_t i = 0; i < p->count; i++)
		RC_CHECKF(p->state[i] == ST_POOL || p->link[i] == RC_POOL_NONE || p->state[i] == ST_LINK,
		          "buffer %u in state %u has a chain link", i, p->state[i]);
	return true;
}

bool rc_pool_validate(const rc_pool *p)
{
	RC_CHECKF(p->base != NULL && p->count > 0, "pool not initialised");
	RC_CHECKF(p->buf_size == (size_t)1 << p->shift, "buf_size %zu != 1 << %u", p->buf_size,
	          p->shift);
	RC_CHECKF(p->free_top <= p->count, "free_top %u > count %u", p->free_top, p->count);
	memset(p->mark, 0, (p->count + 63) / 64 * sizeof *p->mark);

	uint32_t n[ST_LINK + 1] = { 0 };
	for (uint32_t i = 0; i < p->count; i++) {
		uint8_t st = p->state[i];
		RC_CHECKF(st <= ST_LINK, "buffer %u: bad state %u", i, st);
		n[st]++;
		bool unreferenced =
		        st == ST_FREE || st == ST_RECV_KERNEL || st == ST_RECV_RETURNED || st == ST_LINK;
		RC_CHECKF(unreferenced == (p->refs[i] == 0), "buffer %u: state %u with refcount %u", i, st,
		          p->refs[i]);
		/* POOL and RECV_HELD may be on the remote stack, their link written by another thread:
		 * not read. */
		RC_CHECKF(st == ST_RECV_RETURNED || st == ST_POOL || st == ST_RECV_HELD ||
		                  p->next[i] == RC_POOL_NONE,
		          "buffer %u: state %u but linked to %u", i, st, p->next[i]);
	}
	RC_CHECKF(n[ST_FREE] == p->free_top, "%u FREE buffers, free stack holds %u", n[ST_FREE],
	          p->free_top);
	RC_CHECKF(n[ST_POOL] == p->pool_used, "%u POOL buffers, counter %u", n[ST_POOL], p->pool_used);
	RC_CHECKF(n[ST_RECV_KERNEL] == p->recv_kernel, "%u RECV with kernel, counter %u",
	          n[ST_RECV_KERNEL], p->recv_kernel);
	RC_CHECKF(n[ST_RECV_HELD] == p->recv_held, "%u RECV held, counter %u", n[ST_RECV_HELD],
	          p->recv_held);
	RC_CHECKF(n[ST_RECV_RETURNED] == p->recv_returned, "%u RECV returned, counter %u",
	          n[ST_RECV_RETURNED], p->recv_returned);
	RC_CHECKF(n[ST_LINK] == p->linked, "%u LINK buffers, counter %u", n[ST_LINK], p->linked);
	/* The per-state counts cover every buffer once, so with the checks above this is the "counts
	 * add up" invariant of the counters themselves. */
	RC_CHECKF((uint64_t)p->free_top + p->pool_used + p->recv_kernel + p->recv_held +
	                          p->recv_returned + p->linked ==
	                  p->count,
	          "counters do not add up to %u", p->count);

	/* Every entry a FREE buffer, none twice: with free_top == number of FREE buffers, that also
	 * means every FREE buffer is on the stack. */
	for (uint32_t i = 0; i < p->free_top; i++) {
		uint32_t idx = p->free_stack[i];
		RC_CHECKF(idx < p->count, "free stack [%u] = %u out of range", i, idx);
		RC_CHECKF(p->state[idx] == ST_FREE, "free stack [%u] = %u is in state %u", i, idx,
		          p->state[idx]);
		RC_CHECKF(!mark_test_and_set(p, idx), "buffer %u twice on the free stack", idx);
	}

	/* The returned list: only RETURNED buffers, none twice (so no cycle), as many as counted.
	 * Marks from the free stack cannot collide: those buffers are FREE. */
	uint32_t len = 0;
	for (uint32_t idx = p->returned_head; idx != RC_POOL_NONE; idx = p->next[idx]) {
		RC_CHECKF(idx < p->count, "returned list holds %u, out of range", idx);
		RC_CHECKF(p->state[idx] == ST_RECV_RETURNED, "returned list holds %u in state %u", idx,
		          p->state[idx]);
		RC_CHECKF(!mark_test_and_set(p, idx), "buffer %u twice on the returned list", idx);
		len++;
	}
	RC_CHECKF(len == p->recv_returned, "returned list has %u, counter %u", len, p->recv_returned);
	return validate_chains(p);
}
