/* rc_topic: the per-worker topic index. The contract, and why it is shaped this way, is in
 * rc_topic.h. Sections: hashing, the hash table (probe, insert, backward-shift delete), topic
 * life, subscriptions, missed notices, validation. */
#include "rc_topic.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_check.h"

/* Fan-out touches one subscription per subscriber: keep it to one cache line. */
_Static_assert(sizeof(rc_sub) == 64, "rc_sub grew past a cache line");

/* ---- Hashing --------------------------------------------------------------------------------- */

/* The full 64x64 -> 128-bit product folded to 64 bits: every input bit reaches every output bit
 * in one multiply, which is what makes this hash fast on short keys. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint64_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

/* splitmix64: spreads a seed (possibly small, like a test's 1) over 64 bits. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Each 16-byte block is xored with the secret keys before the multiply, so an attacker who does
 * not know them cannot choose a block that zeroes a factor (which would erase the state) or predict
 * which names collide. The tail is read with overlapping loads (names are 1..128 bytes: at most 8
 * multiplies), and the length is folded in last so that overlapped tails of different lengths
 * differ. */
static uint64_t name_hash(const rc_topics *t, const uint8_t *p, size_t n)
{
	assert(p != NULL || n == 0);
	const uint64_t k0 = t->key[0], k1 = t->key[1];
	uint64_t h = k0 ^ n;
	size_t left = n;
	while (left > 16) {
		h = fold_mul(load64(p) ^ k0, load64(p + 8) ^ k1 ^ h);
		p += 16;
		left -= 16;
	}
	uint64_t a, b;
	if (n > 16) { /* the last 16 bytes, overlapping the previous block */
		a = load64(p + left - 16);
		b = load64(p + left - 8);
	} else if (left >= 8) {
		a = load64(p);
		b = load64(p + left - 8);
	} else if (left >= 4) {
		a = load32(p);
		b = load32(p + left - 4);
	} else if (left > 0) {
		a = ((uint64_t)p[0] << 16) | ((uint64_t)p[left >> 1] << 8) | p[left - 1];
		b = 0;
	} else {
		a = b = 0;
	}
	h = fold_mul(a ^ k1, b ^ k0 ^ h);
	return fold_mul(h ^ k0, (uint64_t)n ^ k1 ^ 0xD6E8FEB86659FD93ull);
}

static inline uint32_t hash32(const rc_topics *t, const uint8_t *name, size_t len)
{
	return (uint32_t)name_hash(t, name, len);
}

uint32_t rc_topics_home(const rc_topics *t, const uint8_t *name, size_t len)
{
	return hash32(t, name, len) & t->mask;
}

uint32_t rc_topics_hash(const rc_topics *t, const uint8_t *name, size_t len)
{
	return hash32(t, name, len);
}

/* ---- Init / fini ----------------------------------------------------------------------------- */

int rc_topics_init(rc_topics *t, uint32_t topics_max, uint32_t subs_max, uint64_t seed)
{
	assert(t != NULL);
	memset(t, 0, sizeof *t);
	if (topics_max == 0 || topics_max > RC_TOPICS_MAX_LIMIT || subs_max == 0)
		return -EINVAL;
	uint64_t cap = 2;
	while (cap < 2 * (uint64_t)topics_max)
		cap <<= 1;

	t->slots = malloc(cap * sizeof *t->slots);
	if (t->slots == NULL)
		goto err;
	t->topics = calloc(topics_max, sizeof *t->topics);
	if (t->topics == NULL)
		goto err;
	t->subs = calloc(subs_max, sizeof *t->subs);
	if (t->subs == NULL)
		goto err;

	t->mask = (uint32_t)(cap - 1);
	t->topics_max = topics_max;
	t->subs_max = subs_max;
	for (uint64_t i = 0; i < cap; i++)
		t->slots[i] = (rc_topic_slot){ .hash = 0, .id = RC_TOPIC_SLOT_EMPTY };
	/* Free lists in index order, so the first topics created get ids 0, 1, 2... */
	for (uint32_t i = 0; i < topics_max; i++) {
		t->topics[i].id = i;
		t->topics[i].next_free = i + 1 < topics_max ? i + 1 : RC_TOPIC_SLOT_EMPTY;
	}
	t->free_topic = 0;
	t->free_sub = NULL; /* nothing freed yet: subscriptions come from subs_fresh */
	t->subs_fresh = 0;
	uint64_t st = seed;
	t->key[0] = splitmix64(&st);
	t->key[1] = splitmix64(&st);
	return 0;
err:
	free(t->subs);
	free(t->topics);
	free(t->slots);
	memset(t, 0, sizeof *t);
	return -ENOMEM;
}

void rc_topics_fini(rc_topics *t)
{
	assert(t != NULL);
	free(t->subs);
	free(t->topics);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

/* ---- The hash table -------------------------------------------------------------------------- */

/* Probe for name from its home slot. Returns the index of the slot holding it (*found = true), or
 * of the first empty slot, where it would be inserted (*found = false): with no tombstones, the
 * first empty slot ends every probe. Terminates because at most half of the slots are full. */
static uint32_t probe(const rc_topics *t, const uint8_t *name, size_t len, uint32_t hash,
                      bool *found)
{
	uint32_t i = hash & t->mask;
	for (;;) {
		const rc_topic_slot *sl = &t->slots[i];
		if (sl->id == RC_TOPIC_SLOT_EMPTY) {
			*found = false;
			return i;
		}
		if (sl->hash == hash) {
			const rc_topic *tp = &t->topics[sl->id];
			assert(tp->live);
			if (tp->name_len == len && memcmp(tp->name, name, len) == 0) {
				*found = true;
				return i;
			}
		}
		i = (i + 1) & t->mask;
	}
}

/* The slot holding the live topic tp: from its home, by id (no name compare needed). */
static uint32_t slot_of(const rc_topics *t, const rc_topic *tp)
{
	uint32_t i = tp->hash & t->mask;
	while (t->slots[i].id != tp->id) {
		assert(t->slots[i].id != RC_TOPIC_SLOT_EMPTY);
		i = (i + 1) & t->mask;
	}
	return i;
}

/* Empty slot `hole` and close the gap (Knuth, TAOCP 6.4, Algorithm R). Walk the rest of the
 * cluster; an entry whose home lies cyclically in (hole, j] must stay where it is (moving it to the
 * hole would put it before its home, where no probe looks). Any other entry moves back into the
 * hole, and its old slot becomes the hole. The cluster ends at the first empty slot. */
static void slot_delete(rc_topics *t, uint32_t hole)
{
	assert(t->slots[hole].id != RC_TOPIC_SLOT_EMPTY);
	uint32_t j = hole;
	for (;;) {
		j = (j + 1) & t->mask;
		if (t->slots[j].id == RC_TOPIC_SLOT_EMPTY)
			break;
		uint32_t home = t->slots[j].hash & t->mask;
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (stays)
			continue;
		t->slots[hole] = t->slots[j];
		hole = j;
	}
	t->slots[hole] = (rc_topic_slot){ .hash = 0, .id = RC_TOPIC_SLOT_EMPTY };
}

/* ---- Topic life ------------------------------------------------------------------------------ */

/* Create a topic in the empty slot `slot` found by probe(). The caller checked that an id is free
 * and the name is valid. */
static rc_topic *topic_create(rc_topics *t, const uint8_t *name, size_t len, uint32_t hash,
                              uint32_t slot)
{
	assert(t->free_topic != RC_TOPIC_SLOT_EMPTY);
	assert(t->slots[slot].id == RC_TOPIC_SLOT_EMPTY);
	assert(len >= 1 && len <= RC_APP_TOPIC_MAX);
	rc_topic *tp = &t->topics[t->free_topic];
	assert(!tp->live && tp->subs == NULL && tp->pins == 0);
	t->free_topic = tp->next_free;
	tp->next_free = RC_TOPIC_SLOT_EMPTY;
	tp->live = true;
	tp->hash = hash;
	tp->next_seq = 1; /* docs/protocol.md §6.5: the first message of a topic is number 1 */
	tp->epoch = 0;    /* not numbered yet (rc_topic.h) */
	tp->held = false;
	tp->follows = false;
	tp->subs_plain = 0;
	tp->subs_v1 = 0;
	tp->name_len = (uint8_t)len;
	memcpy(tp->name, name, len);
	t->slots[slot] = (rc_topic_slot){ .hash = hash, .id = tp->id };
	t->topics_live++;
	if (t->topics_live > t->topics_hwm)
		t->topics_hwm = t->topics_live;
	return tp;
}

/* Delete tp if nothing holds it any more. */
static void topic_release(rc_topics *t, rc_topic *tp)
{
	assert(tp->live);
	if (tp->subs_plain + tp->subs_v1 > 0 || tp->pins > 0)
		return;
	assert(tp->subs == NULL);
	slot_delete(t, slot_of(t, tp));
	tp->live = false;
	tp->name_len = 0;
	tp->next_seq = 0; /* a stale id used by mistake trips the asserts on next_seq */
	tp->next_free = t->free_topic;
	t->free_topic = tp->id;
	assert(t->topics_live > 0);
	t->topics_live--;
}

/* The topic with this id, which must be live (a dead id here is a caller's bug). */
static rc_topic *live_topic(rc_topics *t, uint32_t id)
{
	assert(id < t->topics_max);
	rc_topic *tp = &t->topics[id];
	assert(tp->live);
	return tp;
}

int rc_topic_find(const rc_topics *t, const uint8_t *name, size_t len)
{
	assert(t->slots != NULL && (name != NULL || len == 0));
	if (len == 0 || len > RC_APP_TOPIC_MAX)
		return RC_TOPIC_NONE;
	bool found;
	uint32_t i = probe(t, name, len, hash32(t, name, len), &found);
	return found ? (int)t->slots[i].id : RC_TOPIC_NONE;
}

rc_topic *rc_topic_get(rc_topics *t, uint32_t id)
{
	assert(id < t->topics_max);
	rc_topic *tp = &t->topics[id];
	return tp->live ? tp : NULL;
}

int rc_topic_pin(rc_topics *t, const uint8_t *name, size_t len)
{
	if (!rc_app_topic_valid(name, len))
		return -EINVAL;
	uint32_t hash = hash32(t, name, len);
	bool found;
	uint32_t slot = probe(t, name, len, hash, &found);
	rc_topic *tp;
	if (found) {
		tp = &t->topics[t->slots[slot].id];
	} else {
		if (t->free_topic == RC_TOPIC_SLOT_EMPTY)
			return -ENOSPC;
		tp = topic_create(t, name, len, hash, slot);
	}
	assert(tp->pins < UINT32_MAX);
	tp->pins++;
	return (int)tp->id;
}

void rc_topic_pin_id(rc_topics *t, uint32_t id)
{
	rc_topic *tp = live_topic(t, id);
	assert(tp->pins < UINT32_MAX);
	tp->pins++;
}

void rc_topic_unpin(rc_topics *t, uint32_t id)
{
	rc_topic *tp = live_topic(t, id);
	assert(tp->pins > 0);
	tp->pins--;
	topic_release(t, tp);
}

uint64_t rc_topic_next_seq(rc_topics *t, uint32_t id)
{
	rc_topic *tp = live_topic(t, id);
	assert(tp->next_seq >= 1);
	return tp->next_seq++;
}

void rc_topic_start(rc_topics *t, uint32_t id, uint64_t epoch)
{
	rc_topic *tp = live_topic(t, id);
	assert(epoch != 0 && tp->epoch == 0 && !tp->follows);
	tp->epoch = epoch;
}

void rc_topic_sync(rc_topics *t, uint32_t id, uint64_t epoch, uint64_t next_seq)
{
	rc_topic *tp = live_topic(t, id);
	assert(epoch != 0 && next_seq >= 1);
	tp->epoch = epoch;
	tp->next_seq = next_seq;
	tp->follows = true;
}

void rc_topic_hold(rc_topics *t, uint32_t id)
{
	rc_topic *tp = live_topic(t, id);
	if (tp->held)
		return;
	tp->held = true;
	tp->pins++;
}

void rc_topic_release_hold(rc_topics *t, uint32_t id)
{
	rc_topic *tp = live_topic(t, id);
	if (!tp->held)
		return;
	tp->held = false;
	assert(tp->pins > 0);
	tp->pins--;
	topic_release(t, tp);
}

void rc_topics_watch(rc_topics *t, void (*fn)(void *ctx, uint32_t hash, bool has_subscribers),
                     void *ctx)
{
	assert(t != NULL && (fn != NULL || ctx == NULL));
	t->watch = fn;
	t->watch_ctx = ctx;
}

/* ---- Subscriptions --------------------------------------------------------------------------- */

void rc_subscriber_init(rc_subscriber *sr, bool v1)
{
	assert(sr != NULL);
	memset(sr, 0, sizeof *sr);
	sr->v1 = v1;
}

static bool sub_in_slab(const rc_topics *t, const rc_sub *s)
{
	uintptr_t off = (uintptr_t)s - (uintptr_t)t->subs;
	return (uintptr_t)s >= (uintptr_t)t->subs && off < (uintptr_t)t->subs_max * sizeof *s &&
	       off % sizeof *s == 0;
}

rc_sub *rc_sub_find(const rc_topics *t, const rc_subscriber *sr, uint32_t topic_id)
{
	assert(topic_id < t->topics_max);
	const rc_topic *tp = &t->topics[topic_id];
	if (!tp->live)
		return NULL;
	/* Walk the shorter of the two lists: a subscriber of a few topics among thousands of
	 * subscribers, or a quiet topic that a subscriber of many topics is on. */
	if (sr->subs_len <= tp->subs_plain + tp->subs_v1) {
		for (rc_sub *s = sr->subs; s != NULL; s = s->sub_next)
			if (s->topic == topic_id)
				return s;
	} else {
		for (rc_sub *s = tp->subs; s != NULL; s = s->topic_next)
			if (s->subscriber == sr)
				return s;
	}
	return NULL;
}

int rc_subscribe(rc_topics *t, rc_subscriber *sr, const uint8_t *name, size_t len)
{
	if (!rc_app_topic_valid(name, len))
		return -EINVAL;
	uint32_t hash = hash32(t, name, len);
	bool found;
	uint32_t slot = probe(t, name, len, hash, &found);
	rc_topic *tp = NULL;
	if (found) {
		tp = &t->topics[t->slots[slot].id];
		if (rc_sub_find(t, sr, tp->id) != NULL)
			return -EEXIST;
	}
	/* Check both limits before changing anything, so -ENOSPC leaves no empty topic behind. */
	if (t->free_sub == NULL && t->subs_fresh == t->subs_max)
		return -ENOSPC;
	if (!found) {
		if (t->free_topic == RC_TOPIC_SLOT_EMPTY)
			return -ENOSPC;
		tp = topic_create(t, name, len, hash, slot);
	}

	rc_sub *s = t->free_sub;
	if (s != NULL)
		t->free_sub = s->topic_next;
	else
		s = &t->subs[t->subs_fresh++];
	assert(s->subscriber == NULL);

	s->subscriber = sr;
	s->topic = tp->id;
	s->pending = 0;
	s->missed = 0;
	s->missed_next = s->missed_prev = NULL;

	s->topic_prev = NULL;
	s->topic_next = tp->subs;
	if (tp->subs != NULL)
		tp->subs->topic_prev = s;
	tp->subs = s;
	if (tp->subs_v1 + tp->subs_plain == 0) {
		/* A topic numbered elsewhere got nothing while it had no subscriber here: what it
		 * remembers of the numbering is stale, and the next message starts it again. */
		if (tp->follows)
			tp->epoch = 0;
		if (t->watch != NULL)
			t->watch(t->watch_ctx, tp->hash, true);
	}
	if (sr->v1)
		tp->subs_v1++;
	else
		tp->subs_plain++;

	s->sub_prev = NULL;
	s->sub_next = sr->subs;
	if (sr->subs != NULL)
		sr->subs->sub_prev = s;
	sr->subs = s;
	sr->subs_len++;

	t->subs_live++;
	if (t->subs_live > t->subs_hwm)
		t->subs_hwm = t->subs_live;
	return 0;
}

static void missed_unlink(rc_subscriber *sr, rc_sub *s)
{
	assert(s->missed > 0);
	if (s->missed_prev != NULL)
		s->missed_prev->missed_next = s->missed_next;
	else
		sr->missed_head = s->missed_next;
	if (s->missed_next != NULL)
		s->missed_next->missed_prev = s->missed_prev;
	else
		sr->missed_tail = s->missed_prev;
	s->missed_next = s->missed_prev = NULL;
	s->missed = 0;
}

/* Unlink s from all its lists, return it to the slab and release its topic. */
static void sub_remove(rc_topics *t, rc_sub *s)
{
	assert(sub_in_slab(t, s));
	rc_subscriber *sr = s->subscriber;
	assert(sr != NULL);
	rc_topic *tp = live_topic(t, s->topic);

	if (s->missed > 0)
		missed_unlink(sr, s);

	if (s->topic_prev != NULL)
		s->topic_prev->topic_next = s->topic_next;
	else
		tp->subs = s->topic_next;
	if (s->topic_next != NULL)
		s->topic_next->topic_prev = s->topic_prev;
	if (sr->v1) {
		assert(tp->subs_v1 > 0);
		tp->subs_v1--;
	} else {
		assert(tp->subs_plain > 0);
		tp->subs_plain--;
	}
	if (tp->subs_v1 + tp->subs_plain == 0 && t->watch != NULL)
		t->watch(t->watch_ctx, tp->hash, false);

	if (s->sub_prev != NULL)
		s->sub_prev->sub_next = s->sub_next;
	else
		sr->subs = s->sub_next;
	if (s->sub_next != NULL)
		s->sub_next->sub_prev = s->sub_prev;
	assert(sr->subs_len > 0);
	sr->subs_len--;

	*s = (rc_sub){ .topic_next = t->free_sub };
	t->free_sub = s;
	assert(t->subs_live > 0);
	t->subs_live--;

	topic_release(t, tp);
}

int rc_unsubscribe(rc_topics *t, rc_subscriber *sr, const uint8_t *name, size_t len)
{
	assert(t != NULL && sr != NULL);
	int id = rc_topic_find(t, name, len);
	if (id < 0)
		return -ENOENT;
	rc_sub *s = rc_sub_find(t, sr, (uint32_t)id);
	if (s == NULL)
		return -ENOENT;
	sub_remove(t, s);
	return 0;
}

uint32_t rc_unsubscribe_all(rc_topics *t, rc_subscriber *sr)
{
	uint32_t n = 0;
	while (sr->subs != NULL) {
		sub_remove(t, sr->subs);
		n++;
	}
	assert(sr->subs_len == 0 && sr->missed_head == NULL && sr->missed_tail == NULL);
	return n;
}

/* ---- Missed notices -------------------------------------------------------------------------- */

bool rc_sub_add_missed(rc_topics *t, rc_sub *s, uint32_t n)
{
	assert(sub_in_slab(t, s));
	assert(n > 0);
	rc_subscriber *sr = s->subscriber;
	assert(sr != NULL);
	(void)t;
	if (!sr->v1)
		return false;
	bool was_pending = s->missed > 0;
	s->missed = n > UINT32_MAX - s->missed ? UINT32_MAX : s->missed + n;
	if (was_pending)
		return false;
	/* Append, so notices go out in the order the topics first lost a message. */
	s->missed_next = NULL;
	s->missed_prev = sr->missed_tail;
	if (sr->missed_tail != NULL)
		sr->missed_tail->missed_next = s;
	else
		sr->missed_head = s;
	sr->missed_tail = s;
	return true;
}

bool rc_subscriber_pop_missed(rc_topics *t, rc_subscriber *sr, uint32_t *topic_id, uint32_t *count)
{
	rc_sub *s = sr->missed_head;
	if (s == NULL)
		return false;
	assert(sub_in_slab(t, s) && s->subscriber == sr);
	(void)t;
	*topic_id = s->topic;
	*count = s->missed;
	missed_unlink(sr, s);
	return true;
}

/* ---- Validation ------------------------------------------------------------------------------ */

static bool validate_slots(const rc_topics *t)
{
	uint32_t cap = t->mask + 1;
	RC_CHECK((cap & t->mask) == 0 && cap >= 2 && (uint64_t)cap >= 2 * (uint64_t)t->topics_max);
	uint32_t occupied = 0;
	for (uint32_t i = 0; i < cap; i++) {
		const rc_topic_slot *sl = &t->slots[i];
		if (sl->id == RC_TOPIC_SLOT_EMPTY)
			continue;
		occupied++;
		RC_CHECK(sl->id < t->topics_max);
		const rc_topic *tp = &t->topics[sl->id];
		RC_CHECK(tp->live);
		RC_CHECK(tp->hash == sl->hash);
		/* the linear probing invariant: no empty slot between an entry and its home */
		for (uint32_t j = sl->hash & t->mask; j != i; j = (j + 1) & t->mask)
			RC_CHECK(t->slots[j].id != RC_TOPIC_SLOT_EMPTY);
	}
	RC_CHECK(occupied == t->topics_live);
	RC_CHECK(occupied <= t->topics_max);
	return true;
}

static bool validate_topic(const rc_topics *t, const rc_topic *tp, uint32_t *subs_seen)
{
	RC_CHECK(tp->name_len >= 1 && tp->name_len <= RC_APP_TOPIC_MAX);
	RC_CHECK(rc_app_topic_valid(tp->name, tp->name_len));
	RC_CHECK(tp->hash == hash32(t, tp->name, tp->name_len));
	bool found;
	uint32_t i = probe(t, tp->name, tp->name_len, tp->hash, &found);
	RC_CHECK(found && t->slots[i].id == tp->id);
	RC_CHECK(tp->next_seq >= 1);
	RC_CHECK(!tp->held || tp->pins >= 1);
	RC_CHECK(tp->next_free == RC_TOPIC_SLOT_EMPTY);
	RC_CHECK(tp->subs_plain + tp->subs_v1 > 0 || tp->pins > 0);
	RC_CHECK((tp->subs == NULL) == (tp->subs_plain + tp->subs_v1 == 0));

	uint32_t plain = 0, v1 = 0;
	const rc_sub *prev = NULL;
	for (const rc_sub *s = tp->subs; s != NULL; s = s->topic_next) {
		RC_CHECK(plain + v1 < t->subs_live); /* bounds a cycle */
		RC_CHECK(sub_in_slab(t, s));
		RC_CHECK(s->subscriber != NULL);
		RC_CHECK(s->topic == tp->id);
		RC_CHECK(s->topic_prev == prev);
		if (s->subscriber->v1)
			v1++;
		else
			plain++;
		prev = s;
	}
	RC_CHECK(plain == tp->subs_plain && v1 == tp->subs_v1);
	*subs_seen += plain + v1;
	return true;
}

static bool validate_topics(const rc_topics *t)
{
	uint32_t live = 0, subs_seen = 0;
	for (uint32_t id = 0; id < t->topics_max; id++) {
		const rc_topic *tp = &t->topics[id];
		RC_CHECK(tp->id == id);
		if (!tp->live) {
			RC_CHECK(tp->subs == NULL && tp->subs_plain == 0 && tp->subs_v1 == 0 && tp->pins == 0);
			RC_CHECK(tp->name_len == 0);
			continue;
		}
		live++;
		if (!validate_topic(t, tp, &subs_seen))
			return false;
	}
	RC_CHECK(live == t->topics_live);
	RC_CHECK(subs_seen == t->subs_live);
	RC_CHECK(t->topics_hwm >= t->topics_live && t->topics_hwm <= t->topics_max);

	uint32_t n = 0;
	for (uint32_t id = t->free_topic; id != RC_TOPIC_SLOT_EMPTY; id = t->topics[id].next_free) {
		RC_CHECK(n < t->topics_max - live); /* a duplicate would make a cycle, caught here */
		RC_CHECK(id < t->topics_max);
		RC_CHECK(!t->topics[id].live);
		n++;
	}
	RC_CHECK(n == t->topics_max - live);
	return true;
}

/* Walk sr's subscription list and pending-missed list (called once per subscriber: from the
 * subscription at the head of its list). */
static bool validate_subscriber(const rc_topics *t, const rc_subscriber *sr, uint32_t *walked)
{
	uint32_t n = 0, pending = 0;
	const rc_sub *prev = NULL;
	for (const rc_sub *s = sr->subs; s != NULL; s = s->sub_next) {
		RC_CHECK(n < sr->subs_len);
		RC_CHECK(sub_in_slab(t, s));
		RC_CHECK(s->subscriber == sr);
		RC_CHECK(s->sub_prev == prev);
		if (s->missed > 0)
			pending++;
		prev = s;
		n++;
	}
	RC_CHECK(n == sr->subs_len);
	*walked += n;

	uint32_t m = 0;
	prev = NULL;
	for (const rc_sub *s = sr->missed_head; s != NULL; s = s->missed_next) {
		RC_CHECK(m < pending);
		RC_CHECK(sub_in_slab(t, s));
		RC_CHECK(s->subscriber == sr);
		RC_CHECK(s->missed > 0);
		RC_CHECK(s->missed_prev == prev);
		prev = s;
		m++;
	}
	RC_CHECK(m == pending);
	RC_CHECK(sr->missed_tail == prev);
	RC_CHECK(pending == 0 || sr->v1);
	return true;
}

typedef struct pair {
	uintptr_t subscriber;
	uint32_t topic;
} pair;

static int pair_cmp(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	if (x->subscriber != y->subscriber)
		return x->subscriber < y->subscriber ? -1 : 1;
	return x->topic < y->topic ? -1 : x->topic > y->topic;
}

/* The links of one subscription s of subscriber sr with its neighbours in sr's lists. */
static bool validate_sub_links(const rc_sub *s, const rc_subscriber *sr)
{
	if (s->sub_prev != NULL)
		RC_CHECK(s->sub_prev->sub_next == s);
	else
		RC_CHECK(sr->subs == s);
	if (s->sub_next != NULL)
		RC_CHECK(s->sub_next->sub_prev == s);
	if (s->missed == 0) {
		RC_CHECK(s->missed_next == NULL && s->missed_prev == NULL);
		RC_CHECK(sr->missed_head != s && sr->missed_tail != s);
		return true;
	}
	if (s->missed_prev != NULL)
		RC_CHECK(s->missed_prev->missed_next == s);
	else
		RC_CHECK(sr->missed_head == s);
	if (s->missed_next != NULL)
		RC_CHECK(s->missed_next->missed_prev == s);
	else
		RC_CHECK(sr->missed_tail == s);
	return true;
}

/* Every subscription in use: its topic, its links, its subscriber's lists (walked once, from the
 * head of each), and no two for the same (subscriber, topic). pairs has room for subs_live + 1. */
static bool validate_subs_in_use(const rc_topics *t, pair *pairs)
{
	uint32_t live = 0, walked = 0;
	for (uint32_t i = 0; i < t->subs_max; i++) {
		const rc_sub *s = &t->subs[i];
		const rc_subscriber *sr = s->subscriber;
		if (sr == NULL)
			continue;
		RC_CHECK(live < t->subs_live);
		pairs[live++] = (pair){ .subscriber = (uintptr_t)sr, .topic = s->topic };
		RC_CHECK(s->topic < t->topics_max && t->topics[s->topic].live);
		if (!validate_sub_links(s, sr))
			return false;
		if (s->sub_prev == NULL && !validate_subscriber(t, sr, &walked))
			return false;
	}
	RC_CHECKF(live == t->subs_live, "%u subscriptions in use, counter %u", live, t->subs_live);
	/* every subscription lies in exactly one subscriber list */
	RC_CHECKF(walked == t->subs_live, "%u in subscriber lists, %u in use", walked, live);
	/* at most one subscription per (subscriber, topic) */
	qsort(pairs, live, sizeof *pairs, pair_cmp);
	for (uint32_t i = 1; i < live; i++)
		RC_CHECK(pair_cmp(&pairs[i - 1], &pairs[i]) != 0);
	return true;
}

/* The free list: only unused subscriptions below subs_fresh, each once, all of them. */
static bool validate_free_subs(const rc_topics *t)
{
	uint32_t live = t->subs_live;
	RC_CHECK(t->subs_fresh <= t->subs_max && live <= t->subs_fresh);
	uint32_t n = 0;
	for (const rc_sub *s = t->free_sub; s != NULL; s = s->topic_next) {
		RC_CHECK(n < t->subs_fresh - live); /* a duplicate would make a cycle, caught here */
		RC_CHECK(sub_in_slab(t, s));
		RC_CHECK(s < t->subs + t->subs_fresh);
		RC_CHECK(s->subscriber == NULL);
		n++;
	}
	RC_CHECKF(n == t->subs_fresh - live, "free list has %u, %u unused", n, t->subs_fresh - live);
	RC_CHECK(t->subs_hwm >= t->subs_live && t->subs_hwm <= t->subs_max);
	return true;
}

static bool validate_subs(const rc_topics *t)
{
	/* The one allocation of validation: sorting the (subscriber, topic) pairs is what finds a
	 * duplicate subscription in O(n log n). */
	pair *pairs = malloc(((size_t)t->subs_live + 1) * sizeof *pairs);
	RC_CHECK(pairs != NULL);
	bool ok = validate_subs_in_use(t, pairs);
	free(pairs);
	return ok && validate_free_subs(t);
}

bool rc_topics_validate(const rc_topics *t)
{
	RC_CHECK(t->slots != NULL && t->topics != NULL && t->subs != NULL);
	RC_CHECK(t->topics_max >= 1 && t->topics_max <= RC_TOPICS_MAX_LIMIT && t->subs_max >= 1);
	return validate_slots(t) && validate_topics(t) && validate_subs(t);
}
