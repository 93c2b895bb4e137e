/* rc_pool: fixed-size buffers carved from one region of memory that the caller provides.
 *
 * Each worker maps one region (net/ registers it with io_uring as fixed buffers) and hands it to
 * rc_pool_init, which cuts it into `count` buffers of `buf_size` bytes, each named by a 32-bit
 * index (index i is bytes [i * buf_size, (i + 1) * buf_size) of the region). The pool never
 * touches the bytes of the region; everything it knows lives in metadata arrays allocated at init,
 * so nothing here calls malloc after init and every operation below is O(1) except
 * rc_pool_validate.
 *
 * Kinds. A buffer is FREE (on the owner's free stack), POOL (handed out by rc_pool_alloc: message
 * arenas, staging buffers, slow-path copies) or RECV (lent to the kernel's provided-buffer ring by
 * net/). A RECV buffer is in one of three states:
 *     with the kernel   in the provided-buffer ring, refcount 0; the kernel may write it any time
 *     held              the kernel filled it (rc_pool_recv_filled) and someone holds a reference
 *     returned          its last reference went; it waits on the "returned" list until net/ takes
 *                       it (rc_pool_take_returned_recv) and gives it back to the kernel
 * A RECV buffer never goes to the free stack (it belongs to the ring; the ring's size is fixed when
 * net/ lends the buffers) and a POOL buffer never goes to the returned list. A buffer lent to the
 * ring stays RECV until rc_pool_fini (the ring lives as long as the worker).
 *
 * Lifecycle of the two kinds:
 *     POOL:  FREE --rc_pool_alloc--> POOL (refs 1) --ref/unref...--> last unref --> FREE
 *     RECV:  FREE --rc_pool_lend_recv--> kernel --rc_pool_recv_filled--> held (refs 1)
 *            --ref/unref...--> last unref --> returned --rc_pool_take_returned_recv--> kernel
 *
 * Ownership: a pool belongs to one worker and is used only from its thread: alloc, ref and unref
 * are plain loads and stores, no atomics. The one exception is rc_pool_remote_put, below.
 *
 * Remote free. A message built in this pool may lose its last reference on another worker's
 * thread. That thread must not write the owner's arrays, so it hands the buffer home with
 * rc_pool_remote_put, which pushes the index onto the pool's remote stack, and the owner calls
 * rc_pool_collect_remote once per loop iteration: it takes the whole stack and sends each buffer
 * home exactly as a local last unref does (pool_put in rc_pool.c: POOL to the free stack, RECV to
 * the returned list). No lock anywhere.
 *
 * The remote stack is an intrusive lock-free multi-producer single-consumer stack: a Treiber stack
 * with no single-node pop. Its head is one _Atomic uint32_t (RC_POOL_NONE = empty), alone on a
 * cache line of its own so that pushes from other cores do not bounce the owner's fields; its
 * links are the per-buffer next[] that the returned list also uses.
 *     push (any thread):  old = load(head); do next[idx] = old;
 *                         while (!compare_exchange_weak(head, &old, idx), release on success)
 *     take (owner only):  list = exchange(head, RC_POOL_NONE), acquire; then walk it privately
 * Lock-free: a push's CAS fails only because another push or a take succeeded in between.
 * ABA-safe: ABA breaks a Treiber stack's pop, which reads head A, then A's link B, and CASes head
 * from A to B; if meanwhile A was popped and pushed back with another link, the CAS still succeeds
 * and installs a stale B. Nothing here pops a single node. A push reads no link from shared state,
 * only head's value, and writes only its own node's link: if head went A -> ... -> A between its
 * load and its CAS, linking idx -> A is still exactly right, because head's current value is all
 * the push relied on and the CAS checks it. The take detaches the whole list in one atomic step,
 * so no node is ever unlinked while another thread could be following it. Hence no tag/counter in
 * the head, no hazard pointers, no epochs.
 * Memory order: each push's release CAS publishes its plain write of next[idx] and everything the
 * pusher did with the buffer; the owner's acquire exchange synchronises with every push in the
 * list it takes (a later push's CAS is a read-modify-write, so it continues an earlier push's
 * release sequence), so the owner's plain reads of next[] and of the buffer come after them.
 *
 * What stays owner-only: refs[], state[], the free stack, the returned list and every counter.
 * The remote path never decrements refs[]. The model is that the message layer holds ONE pool
 * reference per buffer (taken by rc_pool_alloc or rc_pool_recv_filled) and counts its own sharing
 * across workers with its own atomic refcount; whichever thread drops that count to zero releases
 * the pool reference: rc_pool_unref on the owner, rc_pool_remote_put anywhere else. So a buffer
 * on the remote stack is still POOL or RECV held with refs 1 until the owner collects it: the
 * owner's accounting counts it in use, rc_pool_validate holds between any two owner operations,
 * and it cannot also be on the returned list (which holds only unreferenced RECV buffers), so
 * next[] serves one list at a time. Both ends assert it.
 *
 * Memory pressure: rc_pool_low() says when the free stack has fallen below a reserve, so the server
 * can apply the slow-consumer policy (which releases POOL memory) before rc_pool_alloc fails.
 *
 * Chains. One object longer than a buffer (a large message) lives in a chain: a POOL buffer, its
 * head, followed by LINK buffers added one at a time (rc_pool_chain_extend), in order. The object's
 * bytes run from somewhere in the head to the end of it, on through each LINK buffer whole, and end
 * somewhere in the last (rc_span.h reads and writes them). Only the head is referenced: its refcount
 * covers the whole chain, and its last release (local, or remote through the head) sends every
 * buffer of the chain home at once, so nothing else changes for the message layer or the remote
 * path. A LINK buffer has refcount 0 and is on no list; link[] and tail[] are owner-only like
 * refs[] (a receiver on another worker may read link[] of a chain it holds through a hand-off: the
 * owner does not write it while the chain is out of its hands). Chains are capped: a chain may not
 * take the free stack below the reserve (that is left for messages of one buffer and for
 * promotion), and all chains together may hold at most chain_max buffers (heads included), so large
 * messages can never take the memory the small ones need.
 *
 * Errors are negative errno values; each function says which.
 */
#ifndef RC_POOL_H
#define RC_POOL_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_POOL_BUF_MIN 256u    /* smallest buf_size rc_pool_init accepts */
#define RC_POOL_ALIGN_MAX 4096u /* base must be aligned to min(buf_size, this) */
#define RC_POOL_NONE UINT32_MAX /* "no buffer" (never a valid index) */
/* The remote stack's head gets this many bytes to itself: two 64-byte lines, because x86's
 * adjacent-line prefetcher fetches lines in pairs (what folly and C++17's
 * hardware_destructive_interference_size use on x86-64). */
#define RC_POOL_REMOTE_LINE 128u

/* What a buffer is used for (rc_pool_kind). */
enum rc_buf_kind {
	RC_BUF_FREE = 0, /* on the free stack */
	RC_BUF_POOL = 1, /* from rc_pool_alloc, refs > 0 */
	RC_BUF_RECV = 2, /* lent to the provided-buffer ring: with the kernel, held or returned */
	RC_BUF_LINK = 3, /* part of a chain after its head (held through the head) */
};

/* Counters for /metrics (rc_pool_stats). The six buffer counts always add up to `count`. A plain
 * struct tag, not a typedef, so that the function can carry the name. */
struct rc_pool_stats {
	uint32_t count;         /* buffers in the pool */
	uint32_t buf_size;      /* bytes per buffer */
	uint32_t free;          /* on the free stack */
	uint32_t pool_used;     /* POOL buffers handed out */
	uint32_t recv_kernel;   /* RECV buffers with the kernel */
	uint32_t recv_held;     /* RECV buffers filled and still referenced (by net/ or messages) */
	uint32_t recv_returned; /* RECV buffers released, waiting for net/ to re-provide them */
	uint32_t linked;        /* LINK buffers: chains after their heads */
	uint32_t chained;       /* buffers in chains, heads included (capped at chain_max) */
	uint32_t chain_max;
	uint32_t reserve;      /* rc_pool_low() threshold */
	uint64_t alloc_failed; /* rc_pool_alloc calls that returned -ENOBUFS */
	uint64_t remote_frees; /* releases that came home through rc_pool_collect_remote (a chain: 1) */
	uint64_t chain_refused; /* rc_pool_chain_extend calls refused (cap or reserve) */
};

/* The remote stack's head (see above), the only pool memory other threads write. */
struct rc_pool_remote {
	_Atomic uint32_t head; /* last buffer pushed, or RC_POOL_NONE */
};

/* The handle. Fields are public only so that rc_pool_data/rc_pool_index_of can be inline and the
 * pool can be embedded in the worker; use the functions. */
typedef struct rc_pool {
	uint8_t *base; /* first byte of the region */
	size_t buf_size;
	unsigned shift; /* log2(buf_size) */
	uint32_t count;
	uint32_t *refs;       /* [count] references per buffer */
	uint8_t *state;       /* [count] enum pool_state (rc_pool.c): kind and RECV sub-state */
	uint32_t *free_stack; /* [count] indices of FREE buffers; [0, free_top) in use */
	uint32_t free_top;
	uint32_t *next;         /* [count] link of the returned list or the remote stack (intrusive) */
	uint32_t *link;         /* [count] next buffer of a chain, RC_POOL_NONE at its end */
	uint32_t *tail;         /* [count] for a chain's head: its last buffer */
	uint32_t returned_head; /* first returned RECV buffer or RC_POOL_NONE */
	/* Head of the remote stack, the only field other threads touch. Allocated at init on its own
	 * RC_POOL_REMOTE_LINE bytes rather than embedded: the pool is embedded in a calloc'd worker, so
	 * an _Alignas member would not be honoured (and would be undefined behaviour). */
	struct rc_pool_remote *remote;
	uint64_t *mark; /* [count / 64 rounded up] scratch bits for rc_pool_validate */
	uint32_t pool_used;
	uint32_t recv_kernel;
	uint32_t recv_held;
	uint32_t recv_returned;
	uint32_t linked;
	uint32_t chained;
	uint32_t chain_max;
	uint32_t reserve;
	uint64_t alloc_failed;
	uint64_t remote_frees;
	uint64_t chain_refused;
} rc_pool;

/* Carve [base, base + buf_size * count) into count buffers, all FREE; the reserve starts at 0
 * (rc_pool_low never true until rc_pool_set_reserve) and chain_max at count (rc_pool_set_chain_max
 * lowers it). The caller keeps ownership of the region and
 * must keep it mapped until rc_pool_fini.
 *   buf_size: a power of two, >= RC_POOL_BUF_MIN.
 *   base: aligned to min(buf_size, 4096), so a buffer of 4 KiB or more starts on a page (what
 *         registering and hugepages want, and what mmap gives); a smaller buffer never straddles
 *         a page.
 *   count: 1 .. INT32_MAX (rc_pool_alloc returns an index as int32_t), and the region's size must
 *         fit in size_t.
 * Returns 0, -EINVAL for an argument outside these rules, -ENOMEM if the metadata could not be
 * allocated (then *p holds nothing to free). */
int rc_pool_init(rc_pool *p, void *base, size_t buf_size, uint32_t count);

/* Free the metadata. Buffers still in use are not checked: at shutdown the messages and the ring
 * that hold them go away with the pool, and so do buffers still on the remote stack (no other
 * thread may push once fini has started). The region itself is the caller's to unmap. */
void rc_pool_fini(rc_pool *p);

/* First byte of buffer idx. */
static inline uint8_t *rc_pool_data(const rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	return p->base + ((size_t)idx << p->shift);
}

/* Does ptr point at a byte of the region? */
static inline bool rc_pool_contains(const rc_pool *p, const void *ptr)
{
	uintptr_t a = (uintptr_t)ptr, b = (uintptr_t)p->base;
	return a >= b && a - b < ((size_t)p->count << p->shift);
}

/* Index of the buffer holding the byte at ptr (any byte of a buffer, first to last). ptr must lie
 * inside the region (asserted). */
static inline uint32_t rc_pool_index_of(const rc_pool *p, const void *ptr)
{
	assert(rc_pool_contains(p, ptr));
	return (uint32_t)(((uintptr_t)ptr - (uintptr_t)p->base) >> p->shift);
}

/* Take a FREE buffer as POOL with refcount 1. Returns its index, or -ENOBUFS if none is free (and
 * counts the failure in stats.alloc_failed). */
int32_t rc_pool_alloc(rc_pool *p);

/* One more reference on buffer idx, which must already be referenced (POOL or RECV held): a
 * reference is only ever copied from another one. */
void rc_pool_ref(rc_pool *p, uint32_t idx);

/* Drop one reference (asserts there was one). The last one sends the buffer home: POOL to the free
 * stack, RECV to the returned list. */
void rc_pool_unref(rc_pool *p, uint32_t idx);

/* References held on buffer idx (0 for FREE, with-kernel and returned buffers). */
uint32_t rc_pool_refs(const rc_pool *p, uint32_t idx);

/* Kind of buffer idx. */
enum rc_buf_kind rc_pool_kind(const rc_pool *p, uint32_t idx);

/* Take n FREE buffers for the provided-buffer ring: they become RECV, with the kernel, and their
 * indices are written to out_idx[0..n). All or nothing: returns 0, or -ENOBUFS (and takes none)
 * if fewer than n are free. */
int rc_pool_lend_recv(rc_pool *p, uint32_t n, uint32_t *out_idx);

/* The kernel completed a recv into RECV buffer idx (it must be with the kernel: asserted). The
 * caller (net/) now holds the single reference and unrefs it when it is done parsing. */
void rc_pool_recv_filled(rc_pool *p, uint32_t idx);

/* Move up to max buffers from the returned list to out_idx[] and mark them with the kernel again:
 * the caller must provide every one of them to the buffer ring. Returns how many it took. net/
 * calls this once per loop iteration. */
uint32_t rc_pool_take_returned_recv(rc_pool *p, uint32_t *out_idx, uint32_t max);

/* Any thread: release the last pool reference on buffer idx, which belongs to this pool's owner.
 * idx must be POOL or RECV held with exactly one reference (the one the message layer holds: see
 * "What stays owner-only" above) and the caller must already own that reference, i.e. have dropped
 * the last reference of its own atomic count, which orders the owner's earlier writes to the
 * buffer's metadata before this call. The push writes only next[idx] and the stack's head; it reads
 * state[idx] and refs[idx] for its assertions, which is race-free because the owner writes neither
 * while the reference is out of its hands. The buffer stays counted as in use until the owner runs
 * rc_pool_collect_remote. Never blocks, never fails; lock-free (a CAS loop). */
void rc_pool_remote_put(rc_pool *p, uint32_t idx);

/* Owner only, once per loop iteration: take every buffer pushed by rc_pool_remote_put so far and
 * send each home as a last rc_pool_unref would (POOL to the free stack, RECV to the returned list
 * for rc_pool_take_returned_recv). Counts them in stats.remote_frees and returns how many. An empty
 * stack costs one relaxed load. Aborts (assert) on a buffer pushed twice or released locally as
 * well. */
uint32_t rc_pool_collect_remote(rc_pool *p);

/* Chains (see above). Owner only. Add one buffer at the end of the chain headed by POOL buffer
 * head (making head a chain's head if it was not one yet) and return its index. Refused, and
 * counted in stats.chain_refused, with -ENOSPC when the chains would hold more than chain_max
 * buffers, or -ENOBUFS when it would leave fewer than `reserve` buffers free (or none). */
int32_t rc_pool_chain_extend(rc_pool *p, uint32_t head);
/* The buffer after idx in its chain, or RC_POOL_NONE (also for a buffer in no chain). */
static inline uint32_t rc_pool_chain_next(const rc_pool *p, uint32_t idx)
{
	assert(idx < p->count);
	return p->link[idx];
}
/* The last buffer of the chain headed by head (head itself if it has no chain). */
static inline uint32_t rc_pool_chain_tail(const rc_pool *p, uint32_t head)
{
	assert(head < p->count);
	return p->link[head] == RC_POOL_NONE ? head : p->tail[head];
}
/* At most max buffers (heads included) in chains at once: what large messages may hold. */
void rc_pool_set_chain_max(rc_pool *p, uint32_t max);

/* Buffers on the free stack. */
static inline uint32_t rc_pool_free_count(const rc_pool *p)
{
	return p->free_top;
}

/* rc_pool_low() is true while fewer than `reserve` buffers are free. */
void rc_pool_set_reserve(rc_pool *p, uint32_t reserve);

static inline bool rc_pool_low(const rc_pool *p)
{
	return p->free_top < p->reserve;
}

void rc_pool_stats(const rc_pool *p, struct rc_pool_stats *out);

/* Check every invariant: each free-stack entry is a FREE buffer and appears once, every FREE buffer
 * is on the stack, every LINK buffer is in exactly one chain whose head is a POOL buffer and whose
 * tail[] names its last buffer, the chain counters match, the returned list holds exactly the returned RECV buffers, once each, without a
 * cycle; the refcount is 0 exactly for FREE, with-kernel and returned buffers; FREE and with-kernel
 * buffers are on no list; the counters match the states and add up to count. Buffers pending on
 * the remote stack are POOL or RECV held (in use): their next[] link is not read, since another
 * thread may be writing it. Owner thread only, between operations; remote pushes may run
 * concurrently. O(count); for tests and debug checks. Returns true if all hold (and says what
 * failed on stderr otherwise). */
bool rc_pool_validate(const rc_pool *p);

#endif
