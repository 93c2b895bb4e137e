/* rc_interest: which workers have subscribers for a topic, readable by every worker without a lock.
 *
 * A publish on one worker is handed to another worker only if that worker has subscribers for the
 * topic, and once per interested worker, never once per subscriber: the receiving worker fans it
 * out to its own subscribers. The publisher cannot look into other workers' topic indexes (each
 * belongs to its worker alone), so every worker advertises its interest in a shared table of
 * RC_INTEREST_BUCKETS atomic 64-bit masks, indexed by the topic name's hash: bit w of mask[b] is
 * set while worker w has at least one topic with a subscriber whose hash falls in bucket b. Every
 * worker hashes names with the same seed (rc_topics_init), so a name lands in the same bucket
 * everywhere.
 *
 * False positives, never false negatives (for a subscription that is in place): two topics sharing
 * a bucket make a worker look interested in both. The hand-off then finds no such topic on the
 * receiving worker and the message is released there: wasted work, not a wrong delivery. With
 * 65,536 buckets and a few thousand topics per worker this is rare.
 *
 * Who writes what. Worker w alone writes bit w of every mask, and keeps the per-bucket count of its
 * topics with subscribers in a private array (rc_interest_local), so the shared masks change only
 * when a bucket's count goes 0 -> 1 (atomic OR) or 1 -> 0 (atomic AND). Any worker reads any mask
 * (relaxed load: one plain load on x86).
 *
 * Ordering. A subscription becomes visible to other workers' publishers when its bit is set. The
 * worker sets the bit before it answers the subscribe command (release), and a publisher that
 * publishes after the client saw that answer reads the bit after it (the answer and the publish
 * travel through the kernel's sockets, which order them). A publish racing with the subscribe may
 * miss it: a subscription receives what is published after it was confirmed. Unsubscribing clears
 * the bit; a hand-off already on its way finds no topic and is released.
 *
 * Memory: 512 KiB shared (the masks) plus 256 KiB per worker (its counts), touched only where
 * topics hash.
 */
#ifndef RC_INTEREST_H
#define RC_INTEREST_H

#include <stdatomic.h>
#include <stdint.h>

#define RC_INTEREST_BUCKETS 65536u
#define RC_INTEREST_WORKERS_MAX 64u /* bits in a mask */

/* The shared table. */
typedef struct rc_interest {
	_Atomic uint64_t *mask; /* [RC_INTEREST_BUCKETS] */
} rc_interest;

/* One worker's side: its bit and its per-bucket counts. */
typedef struct rc_interest_local {
	rc_interest *shared;
	uint32_t *count; /* [RC_INTEREST_BUCKETS] topics with subscribers per bucket */
	uint64_t bit;
} rc_interest_local;

/* The bucket of a topic name's 32-bit hash (rc_topic.hash): its high bits, since the topic table
 * indexes its slots with the low ones. */
static inline uint32_t rc_interest_bucket(uint32_t hash)
{
	return hash >> 16;
}

/* Allocate the shared masks, all clear. Returns 0 or -ENOMEM. */
int rc_interest_init(rc_interest *ix);
void rc_interest_fini(rc_interest *ix);

/* Worker `worker` (0 .. RC_INTEREST_WORKERS_MAX - 1) joins the table. Returns 0, -EINVAL (worker
 * out of range) or -ENOMEM. */
int rc_interest_local_init(rc_interest_local *l, rc_interest *ix, uint32_t worker);
void rc_interest_local_fini(rc_interest_local *l);

/* The owning worker only: a topic with this hash gained its first subscriber (add) or lost its
 * last (del). */
void rc_interest_add(rc_interest_local *l, uint32_t hash);
void rc_interest_del(rc_interest_local *l, uint32_t hash);

/* Any thread: the workers that may have subscribers for a topic with this hash. */
static inline uint64_t rc_interest_get(const rc_interest *ix, uint32_t hash)
{
	return atomic_load_explicit(&ix->mask[rc_interest_bucket(hash)], memory_order_acquire);
}

#endif
