/* rc_mailbox: the lock-free single-producer single-consumer queue one worker uses to hand work to
 * another. There is one mailbox per ordered worker pair (A -> B and B -> A are two), so each has
 * exactly one producer and one consumer.
 *
 * What it carries. Fixed 16-byte records (rc_mail: two 64-bit words, say a message pointer and a
 * tag); the mailbox never looks inside them. A bounded ring of `capacity` records, capacity a power
 * of two fixed at rc_mailbox_init, which is the only place memory is allocated.
 *
 * Who may call what. Exactly one producer thread calls rc_mailbox_push and rc_mailbox_notify;
 * exactly one consumer thread calls rc_mailbox_pop_many, rc_mailbox_empty and the wake flag's arm
 * and disarm. init, fini, rc_mailbox_use_wakeflag and rc_mailbox_validate run when neither
 * side is running (before the threads start, after they are joined).
 *
 * Indices. `tail` (written only by the producer) counts records ever pushed and `head` (written
 * only by the consumer) records ever popped; both are free-running uint32_t, so the ring holds
 * tail - head records (mod 2^32; capacity <= 2^31 keeps that unambiguous) at slot index & mask.
 *
 * Memory orders, and why they suffice.
 *   - The producer writes a slot with a plain store, then publishes it with ONE release store of
 *     tail per push. The consumer reads tail with an acquire load, which synchronises with that
 *     store: every slot write before it is visible to the consumer's plain reads of the slots
 *     below the tail it loaded.
 *   - Symmetrically, the consumer copies records out with plain loads, then releases the slots with
 *     ONE release store of head per pop_many; the producer reads head with an acquire load before
 *     it reuses a slot, so the consumer's reads of a slot happen before the producer overwrites it.
 *   - Each side reads its own index relaxed (nobody else writes it).
 * Nothing else is shared, so there is no data race on the slots and no lock.
 *
 * Cache lines. The producer's fields (tail, its cached copy of head, and its own copies of the
 * slot pointer and mask) and the consumer's fields (head, its cached copy of tail, its copies) are
 * each surrounded by RC_MAILBOX_LINE bytes of padding, so they never share a cache line with each
 * other, with the wake flag, or with whatever the mailbox is embedded in, whatever its alignment
 * (padding, not _Alignas: a mailbox inside a malloc'ed worker struct is not 64-aligned, and an
 * over-aligned member there would be a misaligned access for UBSan). The cached copies are the
 * point: the producer reloads the consumer's head only when its cached copy says the ring is full,
 * and the consumer reloads tail only when its cached copy holds fewer records than it asked for,
 * so in steady state each side touches the other's line about once per lap of the ring or batch
 * popped, not once per record.
 *
 * When full. rc_mailbox_push returns false; it never blocks or spins. What to do with the record
 * (drop and count, retry next loop turn, ...) is the caller's documented policy; the mailbox keeps
 * no overflow.
 *
 * Waking a sleeping consumer: with IORING_OP_MSG_RING, which costs 70-100 us per wake-up on the
 * development VM (docs/facts.md), so only when the consumer is actually asleep, never once per
 * message. An rc_wakeflag says "the consumer is (about to be) asleep in io_uring_enter". One
 * flag belongs to one consumer; a consumer with several incoming mailboxes points them all at the
 * same flag (rc_mailbox_use_wakeflag) so that at most one producer wakes it per sleep. Protocol:
 *     consumer: arm the flag (seq_cst exchange 1), then re-check every incoming mailbox
 *               (rc_mailbox_empty: seq_cst load of tail); sleep only if all are empty; on waking
 *               for any reason, disarm (seq_cst exchange 0) and drain.
 *     producer: after publishing (one or many pushes), rc_mailbox_notify: a seq_cst
 *               read-modify-write of its own tail (adds 0: the "fence"), then a seq_cst load of
 *               the flag; if set, exchange it to 0 and, if it got the 1, wake the consumer.
 * Why no wake-up is lost (the Dekker argument). All four operations are seq_cst, so they sit in one
 * total order S that agrees with each thread's program order. Take a consumer that armed (E),
 * re-checked (T) and went to sleep, and a producer that published, did its RMW on tail (R) and
 * loaded the flag (L). Either R precedes T in S: then T, a seq_cst load, reads R's value of tail
 * or a later one, sees the record and the consumer does not sleep. Or T precedes R: then E < T < R
 * < L, so L reads E's 1 or a later write of the flag; a later write is another producer's
 * exchange (that producer wakes the consumer) or the consumer's own disarm (it is awake and will
 * re-check before it sleeps again). In every case a published record is seen by a consumer that is
 * awake. A wake may be spurious (the producer reads a 1 the consumer is about to clear); that costs
 * one empty wake-up, never a lost record. The RMW on tail stands in for a fence: on x86 it is one
 * locked instruction, like mfence, and ThreadSanitizer models RMWs (it does not model standalone
 * fences). The producer pays it once per notify, i.e. once per batch it publishes, and the flag's
 * line stays shared (read-only) until the consumer actually sleeps.
 *
 * Errors are negative errno values; each function says which.
 */
#ifndef RC_MAILBOX_H
#define RC_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define RC_MAILBOX_LINE 64u                /* bytes of padding between the two sides */
#define RC_MAILBOX_CAPACITY_MAX (1u << 28) /* records; 4 GiB of slots, far past any real need */

/* One record: two opaque words (e.g. a message pointer and a tag). */
typedef struct rc_mail {
	uint64_t a;
	uint64_t b;
} rc_mail;

/* "The consumer is asleep": one per consumer, on a cache line of its own whatever its alignment. */
typedef struct rc_wakeflag {
	char lead[RC_MAILBOX_LINE];
	_Atomic uint32_t sleeping; /* 1: armed by the consumer; 0: awake, or a producer took the wake */
	char trail[RC_MAILBOX_LINE - sizeof(uint32_t)];
} rc_wakeflag;

/* The handle. Fields are public only so the mailbox can be embedded; use the functions. The
 * slot pointer, mask and wake flag pointer are read-only after init and copied into each side's
 * group, so neither side reads a line the other writes except through head, tail and the flag. */
typedef struct rc_mailbox {
	char pad0[RC_MAILBOX_LINE];
	/* producer side */
	_Atomic uint32_t tail; /* records pushed; written by the producer only */
	uint32_t head_cache;   /* the producer's last view of head (<= head) */
	uint32_t p_mask;
	rc_mail *p_slots;
	rc_wakeflag *p_wake;
	char pad1[RC_MAILBOX_LINE];
	/* consumer side */
	_Atomic uint32_t head; /* records popped; written by the consumer only */
	uint32_t tail_cache;   /* the consumer's last view of tail (head <= it <= tail) */
	uint32_t c_mask;
	rc_mail *c_slots;
	rc_wakeflag *c_wake;
	char pad2[RC_MAILBOX_LINE];
	rc_wakeflag own_wake; /* the flag used unless rc_mailbox_use_wakeflag says otherwise */
} rc_mailbox;

/* Allocate a ring of `capacity` records (a power of two, 1 .. RC_MAILBOX_CAPACITY_MAX), empty,
 * with its own wake flag, disarmed. Returns 0, -EINVAL for a bad capacity, -ENOMEM. */
int rc_mailbox_init(rc_mailbox *mb, uint32_t capacity);
/* Free the ring. Records still in it are dropped (the caller drains first if they hold refs). */
void rc_mailbox_fini(rc_mailbox *mb);

/* Use wf (shared by all of one consumer's incoming mailboxes) instead of the mailbox's own flag.
 * wf must have been through rc_wakeflag_init and outlive the mailbox. Only while quiescent. */
void rc_mailbox_use_wakeflag(rc_mailbox *mb, rc_wakeflag *wf);

/* ---- producer ---- */

/* Push one record. Returns false, and changes nothing, when the ring is full. */
bool rc_mailbox_push(rc_mailbox *mb, const rc_mail *m);

/* Free slots: at least `want` if the ring has that many free now (head is reloaded only when the
 * cached view shows fewer). Only the producer calls it, and the room only grows until it pushes, so
 * that many pushes in a row cannot fail: how a producer sends records that must arrive together. */
uint32_t rc_mailbox_room(rc_mailbox *mb, uint32_t want);

/* After publishing: true if the consumer armed its wake flag and this call took the wake-up, so
 * the caller MUST wake it (IORING_OP_MSG_RING in the server); false otherwise. Call it once per
 * batch of pushes (it costs one locked instruction), at the latest before the producer itself
 * sleeps. */
bool rc_mailbox_notify(rc_mailbox *mb);

/* ---- consumer ---- */

/* Pop up to max records into out[0..max), oldest first. At most one acquire load of tail (only if
 * the cached tail offers fewer than max) and one release store of head (only if it popped).
 * Returns how many (0 when empty). */
uint32_t rc_mailbox_pop_many(rc_mailbox *mb, rc_mail *out, uint32_t max);

/* Is the ring empty? Always reloads tail (seq_cst: the re-check of the wake protocol). */
bool rc_mailbox_empty(rc_mailbox *mb);

/* ---- the wake flag (consumer side) ---- */

void rc_wakeflag_init(rc_wakeflag *wf);
/* Before sleeping: set the flag, then re-check every incoming mailbox with rc_mailbox_empty. */
void rc_wakeflag_arm(rc_wakeflag *wf);
/* After waking (or when the re-check found work). Returns true if a producer had taken the wake-up
 * (so a wake is on its way, or already came), false if the flag was still armed. */
bool rc_wakeflag_disarm(rc_wakeflag *wf);

/* Check every invariant: capacity a power of two, both sides' copies agree, and
 * head_cache <= head <= tail_cache <= tail with tail - head_cache <= capacity (mod 2^32). Only
 * while quiescent; for tests. Returns true if all hold (says what failed on stderr otherwise). */
bool rc_mailbox_validate(const rc_mailbox *mb);

#endif
