/* rc_topic: the per-worker topic index: topic name -> subscribers, with per-topic sequence numbers.
 *
 * Objects
 *   rc_topics      the index. One per worker, owned by it alone (no locks, no atomics). Every array
 *                  is allocated by rc_topics_init and sized from config; nothing here allocates
 *                  afterwards, so subscribing, publishing and closing never call malloc.
 *   rc_topic       a topic: its name, a 32-bit id (its index in the topic array), the next sequence
 *                  number, subscriber counts split into plain and ringcast.v1 (the server builds a
 *                  frame kind only if someone will receive it), a pin count, and the intrusive list
 *                  of its subscriptions.
 *   rc_sub         a subscription: one subscriber on one topic, from a slab of subs_max. It is
 *                  linked into three intrusive doubly linked lists: its topic's (fan-out walks
 *                  it), its subscriber's (unsubscribe and close walk it) and, while a "missed"
 *                  notice is pending for it, its subscriber's pending-missed list (the flush walks
 *                  only that).
 *   rc_subscriber  what the server embeds in a connection: the heads of the two per-subscriber
 *                  lists and the v1 flag. Set v1 (rc_subscriber_init) before the first
 *                  subscription and do not change it while subscribed: the per-topic counts are
 *                  split by it.
 *
 * Life of a topic. A topic exists while it has a subscriber OR a pin. A pin is held by whoever
 * keeps a topic id across messages, e.g. a plain `publish=T` connection for its whole life, so that
 * T's sequence numbers do not restart between two of its messages while nobody is subscribed. The
 * topic is deleted when the last subscription and the last pin are gone; its id may then be reused
 * by the next topic created, and a topic created again under the same name starts again at
 * sequence 1 (docs/protocol.md §6.5: numbers are per topic and start at 1). A subscriber that
 * leaves a topic and comes back after the topic died sees the numbers restart; this is the price
 * of bounding the table by the topics in use rather than by every name ever published. Messages
 * carry topic ids (rc_msg.topic): the server must not keep one past the topic's life without a
 * pin. Protocol §6.1 has it purge a subscriber's queued messages of a topic at unsubscribe anyway.
 *
 * The hash table. Open addressing with linear probing over 2^k slots, capacity the next power of
 * two >= 2 * topics_max, so the load factor never exceeds 1/2: a hit probes ~1.5 slots, a miss ~2.5
 * on average, and there is always an empty slot to end a probe. A slot is 8 bytes (32 bits of the
 * name's hash and the topic id), so a probe sequence stays within a cache line or two and compares
 * names only when the stored hash matches. Deletion shifts the following entries of the cluster
 * back (Knuth's Algorithm R for linear probing) instead of leaving tombstones: after any amount of
 * churn the table is exactly as if the live topics had been inserted fresh, and a long-running
 * server's probe lengths never degrade. Robin Hood ordering was considered and not taken: at load
 * <= 1/2 its lower variance buys little, and linear probing keeps insert and delete short.
 *
 * Hash flooding. Topic names are chosen by clients. With a fixed hash function an attacker can
 * compute many names that share one home slot and turn each lookup (one per publish) into a scan
 * of every topic. The hash is keyed by a 64-bit seed given at init: the server passes a random one
 * (getrandom in net/) so names cannot be precomputed; tests pass a fixed one so they are
 * deterministic. The hash is a fast multiply-fold over 16-byte blocks (not cryptographic), keyed
 * in every block, and the bound on the damage is topics_max anyway.
 *
 * Errors are negative errno values, stated per function: -EINVAL (an invalid topic name or
 * argument), -ENOSPC (no topic slot or no subscription left: the limits of rc_topics_init),
 * -EEXIST, -ENOENT, -ENOMEM (init only). Misuse (a dead topic id, an rc_sub of another table, a
 * pin count underflow) is an assertion, not an error code.
 */
#ifndef RC_TOPIC_H
#define RC_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc_app.h"

#define RC_TOPIC_NONE (-1)             /* rc_topic_find: no topic of that name */
#define RC_TOPICS_MAX_LIMIT (1u << 30) /* largest topics_max (the slot count fits in 32 bits) */

struct rc_sub;

/* Embedded in a connection. Zero-initialised (or rc_subscriber_init) means no subscriptions. */
typedef struct rc_subscriber {
	struct rc_sub *subs;        /* its subscriptions, newest first */
	struct rc_sub *missed_head; /* subscriptions with a pending missed notice, oldest first */
	struct rc_sub *missed_tail;
	uint32_t subs_len; /* length of the subs list */
	uint8_t v1;        /* negotiated ringcast.v1: receives envelopes and notices */
} rc_subscriber;

/* One subscriber on one topic. 64 bytes; the two fields fan-out reads come first. */
typedef struct rc_sub {
	struct rc_sub *topic_next; /* in the topic's list; the free list's link while free */
	rc_subscriber *subscriber; /* NULL while the subscription is free */
	struct rc_sub *topic_prev;
	struct rc_sub *sub_next; /* in the subscriber's list */
	struct rc_sub *sub_prev;
	struct rc_sub *missed_next; /* in the subscriber's pending-missed list, while missed > 0 */
	struct rc_sub *missed_prev;
	uint32_t topic : 31; /* the topic's id (< RC_TOPICS_MAX_LIMIT) */
	/* waiting for its joint with the topic's numbering (net/rc_join.h): fan-out skips it */
	uint32_t pending : 1;
	/* messages dropped for this subscriber on this topic since the last missed notice
	 * (saturating). missed > 0 is the "notice pending" flag: one field, so the two cannot
	 * disagree */
	uint32_t missed;
} rc_sub;

typedef struct rc_topic {
	rc_sub *subs;      /* its subscriptions, newest first (NULL if none) */
	uint64_t next_seq; /* the number the next message takes; starts at 1 */
	/* which numbering next_seq belongs to: 0 when the topic is created, set by whoever numbers it
	 * (net/: its owning worker) or by rc_topic_sync */
	uint64_t epoch;
	uint32_t id;         /* its index in the topic array, stable while it lives */
	uint32_t hash;       /* low 32 bits of the name's hash (home slot, quick compare) */
	uint32_t subs_plain; /* subscribers without ringcast.v1 (receive bare payloads) */
	uint32_t subs_v1;    /* ringcast.v1 subscribers (receive MESSAGE envelopes) */
	uint32_t pins;       /* rc_topic_pin holders */
	uint32_t next_free;  /* the free list's link while dead */
	bool live;
	bool held;        /* rc_topic_hold's pin is among pins */
	bool follows;     /* numbered elsewhere (rc_topic_sync) */
	uint8_t name_len; /* 1..RC_APP_TOPIC_MAX while live */
	uint8_t name[RC_APP_TOPIC_MAX];
} rc_topic;

/* A hash table slot: the topic id, or RC_TOPIC_SLOT_EMPTY. */
#define RC_TOPIC_SLOT_EMPTY UINT32_MAX
typedef struct rc_topic_slot {
	uint32_t hash;
	uint32_t id;
} rc_topic_slot;

/* The index. The counters are for /metrics and may be read directly; everything else is private
 * to rc_topic.c. */
typedef struct rc_topics {
	rc_topic_slot *slots; /* mask + 1 slots */
	uint32_t mask;
	uint32_t topics_max;
	rc_topic *topics;    /* topics_max */
	uint32_t free_topic; /* head of the dead topics' free list, or RC_TOPIC_SLOT_EMPTY */
	uint32_t subs_max;
	rc_sub *subs;     /* the subscription slab, subs_max */
	rc_sub *free_sub; /* head of the free subscriptions (linked by topic_next) */
	/* subs[subs_fresh..subs_max) were never used: taken once the free list is empty, so the slab
	 * is touched only as far as subscriptions have ever reached, not subs_max at init */
	uint32_t subs_fresh;
	uint64_t key[2]; /* hash keys derived from the seed */
	void (*watch)(void *ctx, uint32_t hash, bool has_subscribers); /* rc_topics_watch */
	void *watch_ctx;
	/* metrics */
	uint32_t topics_live;
	uint32_t topics_hwm; /* high-water mark of topics_live */
	uint32_t subs_live;
	uint32_t subs_hwm; /* high-water mark of subs_live */
} rc_topics;

/* Allocate the index: room for topics_max live topics (1..RC_TOPICS_MAX_LIMIT) and subs_max
 * subscriptions (>= 1), hashing names with `seed` (random in the server, fixed in tests). Returns
 * 0, -EINVAL (a limit out of range) or -ENOMEM; on error nothing is allocated and fini is not
 * needed. */
int rc_topics_init(rc_topics *t, uint32_t topics_max, uint32_t subs_max, uint64_t seed);

/* Free the arrays. Every rc_subscriber still pointing into the index must be discarded (or have
 * been rc_unsubscribe_all'ed) first. Safe on a zeroed or already finished rc_topics. */
void rc_topics_fini(rc_topics *t);

/* Check every invariant (tests call it after every operation; it is O(size of the index) and
 * allocates a scratch array, so never on the hot path): every live topic findable by name from its
 * home slot, no empty slot between an entry and its home, the free lists exactly the dead entries,
 * each list's links consistent both ways, each subscription in exactly one topic list and one
 * subscriber list with at most one subscription per (subscriber, topic), the plain/v1 counts, the
 * pending-missed lists exactly the subscriptions with missed > 0, the counters. Prints the first
 * broken invariant to stderr and returns false; true if all hold. */
bool rc_topics_validate(const rc_topics *t);

/* The home slot of a name in t (the hash's low bits). For tests, which need colliding names. */
uint32_t rc_topics_home(const rc_topics *t, const uint8_t *name, size_t len);

/* The 32-bit hash of a name (what rc_topic.hash holds for a live topic), whether or not a topic of
 * that name exists: indexes built with the same seed agree on it. */
uint32_t rc_topics_hash(const rc_topics *t, const uint8_t *name, size_t len);

/* ---- Topics ---------------------------------------------------------------------------------- */

/* The id of the live topic called name[0..len), or RC_TOPIC_NONE. Any bytes may be passed; an
 * invalid name is simply not found. O(1) expected. */
int rc_topic_find(const rc_topics *t, const uint8_t *name, size_t len);

/* The topic with this id, or NULL if no topic lives under it. id < topics_max (asserted). */
rc_topic *rc_topic_get(rc_topics *t, uint32_t id);

/* Pin the topic called name[0..len), creating it if needed (sequence starting at 1), so it lives
 * until rc_topic_unpin even without subscribers. Returns its id (>= 0), -EINVAL (invalid name) or
 * -ENOSPC (topics_max topics live). */
int rc_topic_pin(rc_topics *t, const uint8_t *name, size_t len);

/* Pin a live topic by id (e.g. to keep it alive across a fan-out whose callbacks may remove its
 * last subscriber). */
void rc_topic_pin_id(rc_topics *t, uint32_t id);

/* Drop one pin; the topic is deleted if that was the last pin and it has no subscriber. */
void rc_topic_unpin(rc_topics *t, uint32_t id);

/* The sequence number of a new message on a live topic; the next call returns one more. */
uint64_t rc_topic_next_seq(rc_topics *t, uint32_t id);

/* A topic numbered here (net/: this worker owns it) starts a numbering: `epoch` (not 0), from
 * next_seq as it stands. Once only, on a topic that neither was numbered here nor follows. */
void rc_topic_start(rc_topics *t, uint32_t id, uint64_t epoch);

/* A topic numbered elsewhere (net/: by the worker that owns it): its numbering is `epoch` (not 0)
 * and its next message is number next_seq (>= 1). From then on it `follows`: when it next gains a
 * first subscriber after having none, its epoch goes back to 0 (what it saw meanwhile was not sent
 * here, so the next message starts it again rather than showing a gap nobody here missed). */
void rc_topic_sync(rc_topics *t, uint32_t id, uint64_t epoch, uint64_t next_seq);

/* The hold: one pin that the owner of a topic keeps while other workers subscribe to it, so that
 * its numbering goes on without subscribers here (net/rc_ws.c). Taking it twice is taking it once;
 * releasing it deletes the topic if nothing else holds it. */
void rc_topic_hold(rc_topics *t, uint32_t id);
void rc_topic_release_hold(rc_topics *t, uint32_t id);

/* Call fn(ctx, topic->hash, true) whenever a topic gains its first subscriber and fn(ctx, hash,
 * false) when it loses its last (a topic alive only through pins has no subscriber): how a worker
 * advertises its topics to the others (rc_interest.h). fn must not call back into the index. NULL
 * turns it off. */
void rc_topics_watch(rc_topics *t, void (*fn)(void *ctx, uint32_t hash, bool has_subscribers),
                     void *ctx);

/* Mark a subscription as waiting for its joint (fan-out skips it), or no longer waiting. */
static inline void rc_sub_set_pending(rc_sub *s, bool pending)
{
	s->pending = pending;
}

/* Iterate over a topic's subscriptions: `s` is each rc_sub * in turn, `next_` a scratch rc_sub *.
 * Safe removals in the body: the current subscription (rc_unsubscribe), anything of the current
 * subscriber (rc_unsubscribe_all: a slow consumer disconnected during fan-out, since a subscriber
 * has at most one subscription per topic), and subscriptions on other topics. Not safe: removing
 * another subscriber's subscription on this topic (it may be the saved next). Subscriptions added
 * during the loop go to the head of the list and are not visited (a subscriber receives only
 * messages published after it subscribed). If the body removes the last subscription of an unpinned
 * topic, the topic is deleted: the loop then ends normally, but `tp` must not be used after it
 * (pin it with rc_topic_pin_id around the loop if the caller needs it). */
#define RC_TOPIC_FOREACH_SUB(tp, s, next_) \
	for ((s) = (tp)->subs; (s) != NULL && ((next_) = (s)->topic_next, 1); (s) = (next_))

/* ---- Subscriptions --------------------------------------------------------------------------- */

/* A subscriber with no subscriptions. */
void rc_subscriber_init(rc_subscriber *sr, bool v1);

/* Subscribe sr to the topic called name[0..len), creating the topic if needed. Returns 0;
 * -EEXIST if already subscribed (nothing changes: the caller reports success, subscribing twice is
 * subscribing once); -EINVAL if the name is not a topic name (rc_app_topic_valid); -ENOSPC if no
 * subscription is left in the slab or the topic does not exist and topics_max are live (nothing
 * changes). O(1) expected, plus O(min(sr's subscriptions, the topic's)) for the -EEXIST check. */
int rc_subscribe(rc_topics *t, rc_subscriber *sr, const uint8_t *name, size_t len);

/* Remove sr's subscription to name[0..len); a pending missed count of it is discarded (no notice
 * follows an unsubscribe). The topic is deleted if nothing else holds it. Returns 0, or -ENOENT if
 * sr is not subscribed to it (including an invalid name). */
int rc_unsubscribe(rc_topics *t, rc_subscriber *sr, const uint8_t *name, size_t len);

/* Remove every subscription of sr (connection close); pending missed counts are discarded. Returns
 * how many were removed. O(sr's subscriptions). */
uint32_t rc_unsubscribe_all(rc_topics *t, rc_subscriber *sr);

/* sr's subscription on the topic `topic_id`, or NULL. O(min(sr's subscriptions, the topic's
 * subscribers)): the outbound queue calls it per dropped message, which is off the common path. */
rc_sub *rc_sub_find(const rc_topics *t, const rc_subscriber *sr, uint32_t topic_id);

/* Count n >= 1 messages dropped for s's subscriber on s's topic (saturating at UINT32_MAX). For a
 * ringcast.v1 subscriber the subscription joins the end of its pending-missed list if it was not
 * on it; for a plain subscriber nothing is recorded (plain clients get no notices, protocol §5).
 * Returns true if a notice became pending now (the first drop since the last notice). */
bool rc_sub_add_missed(rc_topics *t, rc_sub *s, uint32_t n);

/* Take the oldest pending missed notice of sr: sets *topic_id and *count (>= 1), resets that
 * subscription's count and returns true; false if none is pending. The flush calls it until false
 * before sending anything else (protocol §6.5). */
bool rc_subscriber_pop_missed(rc_topics *t, rc_subscriber *sr, uint32_t *topic_id, uint32_t *count);

/* True if sr has a pending missed notice. */
static inline bool rc_subscriber_missed_pending(const rc_subscriber *sr)
{
	return sr->missed_head != NULL;
}

#endif
