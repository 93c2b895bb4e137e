/* rc_outq: the per-subscriber outbound queue (contract in rc_outq.h).
 *
 * Positions are logical (0 = the head, the oldest message) and map to ring slots as
 * (head + i) & (msgs_max - 1). Protected messages are always a prefix (the pinned ones, or the
 * partly sent head), so evicting "the oldest unprotected" message means removing logical position
 * p = protected_count(): the p protected pointers move up one slot and head advances, which keeps
 * the ring free of holes and keeps head_offset and pinned attached to the right messages. */
#include "rc_outq.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "rc_msg.h"
#include "rc_check.h"

#define NONE UINT32_MAX

static const char *const policy_names[RC_OUTQ_POLICY_COUNT] = {
	[RC_OUTQ_DROP_OLDEST] = "drop-oldest",
	[RC_OUTQ_DROP_NEWEST] = "drop-newest",
	[RC_OUTQ_CONFLATE] = "conflate",
	[RC_OUTQ_DISCONNECT] = "disconnect",
};

int rc_outq_cfg_check(const rc_outq_cfg *cfg)
{
	assert(cfg != NULL);
	uint32_t n = cfg->msgs_max;
	if (n == 0 || n > RC_OUTQ_MSGS_MAX_LIMIT || (n & (n - 1)) != 0)
		return -EINVAL;
	if (cfg->bytes_max == 0)
		return -EINVAL;
	if ((unsigned)cfg->policy >= RC_OUTQ_POLICY_COUNT)
		return -EINVAL;
	return 0;
}

size_t rc_outq_storage_bytes(const rc_outq_cfg *cfg)
{
	assert(rc_outq_cfg_check(cfg) == 0);
	return (size_t)cfg->msgs_max * sizeof(struct rc_msg *);
}

int rc_outq_policy_parse(const char *name)
{
	assert(name != NULL);
	for (int p = 0; p < RC_OUTQ_POLICY_COUNT; p++)
		if (strcmp(name, policy_names[p]) == 0)
			return p;
	return -EINVAL;
}

const char *rc_outq_policy_name(enum rc_outq_policy policy)
{
	return (unsigned)policy < RC_OUTQ_POLICY_COUNT ? policy_names[policy] : "unknown";
}

/* ---- internals ---- */

static inline uint32_t slot_of(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t i)
{
	assert(i <= q->count && q->count <= cfg->msgs_max);
	return (q->head + i) & (cfg->msgs_max - 1);
}

static inline rc_msg *at(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t i)
{
	assert(i < q->count && q->ring != NULL);
	return q->ring[slot_of(q, cfg, i)];
}

/* How many messages at the front may not be evicted or replaced. The partly sent head counts even
 * when no send is in flight: its first bytes are already on the wire. */
static inline uint32_t protected_count(const rc_outq *q)
{
	assert(q->pinned <= q->count);
	if (q->pinned > 0)
		return q->pinned;
	return q->head_offset > 0 ? 1 : 0;
}

/* Whether q takes a message of len bytes as it is: an empty queue takes any (msgs_max >= 1), a
 * non-empty one only within both caps. So bytes > bytes_max only with one message queued. */
static inline bool fits(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t len)
{
	if (q->count == 0)
		return true;
	return q->count < cfg->msgs_max && (uint64_t)q->bytes + len <= cfg->bytes_max;
}

static bool storage_get(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc)
{
	assert(q->ring == NULL && q->count == 0);
	void *p = alloc->get(alloc->ctx, rc_outq_storage_bytes(cfg));
	if (p == NULL)
		return false;
	assert(((uintptr_t)p & (_Alignof(struct rc_msg *) - 1)) == 0);
	q->ring = p;
	q->head = 0;
	return true;
}

/* Called whenever count reaches 0 outside a push: an idle queue holds nothing. */
static void storage_put_if_empty(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc)
{
	if (q->count > 0)
		return;
	assert(q->ring != NULL && q->bytes == 0 && q->pinned == 0);
	alloc->put(alloc->ctx, q->ring, rc_outq_storage_bytes(cfg));
	q->ring = NULL;
	q->head = 0;
	q->head_offset = 0;
}

static void append(rc_outq *q, const rc_outq_cfg *cfg, rc_msg *msg)
{
	assert(q->ring != NULL && fits(q, cfg, msg->len));
	q->ring[slot_of(q, cfg, q->count)] = msg;
	q->count++;
	q->bytes += msg->len;
}

/* Remove the head (which the caller has taken) and its offset. */
static rc_msg *pop_head(rc_outq *q, const rc_outq_cfg *cfg)
{
	assert(q->count > 0);
	rc_msg *m = q->ring[q->head];
	assert(m->len <= q->bytes);
	q->head = (uint16_t)slot_of(q, cfg, 1);
	q->count--;
	q->bytes -= m->len;
	q->head_offset = 0;
	return m;
}

/* Remove logical position p, the oldest unprotected message, moving the p protected ones before it
 * up one slot each so the ring stays contiguous. */
static rc_msg *evict(rc_outq *q, const rc_outq_cfg *cfg, uint32_t p)
{
	assert(p == protected_count(q) && p < q->count);
	rc_msg *victim = at(q, cfg, p);
	for (uint32_t i = p; i > 0; i--)
		q->ring[slot_of(q, cfg, i)] = at(q, cfg, i - 1);
	q->head = (uint16_t)slot_of(q, cfg, 1);
	q->count--;
	assert(victim->len <= q->bytes);
	q->bytes -= victim->len;
	return victim;
}

/* The newest message in positions [p, count) with msg's topic, or NONE. Up to count - p descriptor
 * loads; see the header for why that is acceptable. */
static uint32_t conflate_target(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t p,
                                uint32_t topic)
{
	assert(p <= q->count);
	for (uint32_t i = q->count; i > p; i--)
		if (at(q, cfg, i - 1)->topic == topic)
			return i - 1;
	return NONE;
}

/* DROP_OLDEST and CONFLATE on a queue that msg does not fit in. Each round: does it fit now? is
 * there room in res->dropped for one more (else stop with res->more)? can the conflation target be
 * replaced within the byte cap? else evict the oldest unprotected message. Stopping changes nothing
 * but the round: a re-call starts with the same tests (rc_outq_push's fits, then these), so the
 * outcome is the same as one call with an unbounded array. The target is found once; evictions only
 * ever remove older positions, so it stays the newest of its topic until it is evicted itself. */
static void make_room(rc_outq *q, const rc_outq_cfg *cfg, rc_msg *msg, rc_outq_result *res)
{
	uint32_t p = protected_count(q);
	uint64_t protected_bytes = 0;
	for (uint32_t i = 0; i < p; i++)
		protected_bytes += at(q, cfg, i)->len;
	/* With nothing protected, evicting every message leaves an empty queue, which takes any
	 * message; with protected messages left, the new one must fit beside them within both caps. */
	if (p >= cfg->msgs_max || (p > 0 && protected_bytes + msg->len > cfg->bytes_max)) {
		/* Room would need a protected message to go: drop the new one instead, evict nothing. */
		res->status = RC_OUTQ_DROPPED_NEWEST;
		return;
	}

	uint32_t t = NONE;
	if (cfg->policy == RC_OUTQ_CONFLATE)
		t = conflate_target(q, cfg, p, msg->topic);
	res->status = RC_OUTQ_DROPPED_OLDEST;
	for (;;) {
		/* Terminates: once count == p the feasibility test above guarantees a fit (with p == 0,
		 * an empty queue). Evictions that empty the queue keep its storage: the message goes in
		 * at the next test, so no call ends with an empty queue still holding storage. */
		if (fits(q, cfg, msg->len)) {
			append(q, cfg, msg);
			res->queued = true;
			return;
		}
		/* Before the replacement too: it hands back a message as well. */
		if (res->ndropped == RC_OUTQ_DROPPED_MAX) {
			res->more = true;
			return;
		}
		if (t != NONE) {
			uint32_t s = slot_of(q, cfg, t);
			rc_msg *old = q->ring[s];
			if ((uint64_t)q->bytes - old->len + msg->len <= cfg->bytes_max) {
				q->ring[s] = msg;
				q->bytes = q->bytes - old->len + msg->len;
				res->dropped[res->ndropped++] = old;
				res->status = RC_OUTQ_CONFLATED;
				res->queued = true;
				return;
			}
		}
		res->dropped[res->ndropped++] = evict(q, cfg, p);
		/* Positions after p moved down one; the target itself was the oldest when it goes, and
		 * then no message of its topic is left in [p, count). */
		if (t != NONE)
			t = (t == p) ? NONE : t - 1;
	}
}

/* ---- public operations ---- */

rc_msg *rc_outq_replace(rc_outq *q, const rc_outq_cfg *cfg, rc_msg *msg)
{
	assert(msg != NULL && msg->len > 0);
	uint32_t t = conflate_target(q, cfg, protected_count(q), msg->topic);
	if (t == NONE)
		return NULL;
	uint32_t s = slot_of(q, cfg, t);
	rc_msg *old = q->ring[s];
	if ((uint64_t)q->bytes - old->len + msg->len > cfg->bytes_max)
		return NULL;
	q->ring[s] = msg;
	q->bytes = q->bytes - old->len + msg->len;
	return old;
}

void rc_outq_push(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc, rc_msg *msg,
                  rc_outq_result *res)
{
	assert(rc_outq_cfg_check(cfg) == 0);
	assert(msg != NULL && msg->len > 0);
	res->ndropped = 0;
	res->queued = false;
	res->more = false;

	if (fits(q, cfg, msg->len)) {
		/* An empty queue always fits, whatever msg's length, so storage is only ever taken
		 * here, for a message that will be queued. */
		if (q->count == 0 && !storage_get(q, cfg, alloc)) {
			res->status = RC_OUTQ_NOMEM;
			return;
		}
		append(q, cfg, msg);
		res->status = RC_OUTQ_QUEUED;
		res->queued = true;
		return;
	}
	assert(q->count > 0);
	switch (cfg->policy) {
	case RC_OUTQ_DROP_NEWEST:
		res->status = RC_OUTQ_DROPPED_NEWEST;
		return;
	case RC_OUTQ_DISCONNECT:
		res->status = RC_OUTQ_OVERFLOW;
		return;
	case RC_OUTQ_DROP_OLDEST: /* fall through: CONFLATE is DROP_OLDEST plus the target test */
	case RC_OUTQ_CONFLATE:
		make_room(q, cfg, msg, res);
		return;
	}
	assert(!"unknown policy");
}

rc_msg *rc_outq_peek(const rc_outq *q, const rc_outq_cfg *cfg, uint32_t i)
{
	assert(i < q->count);
	return at(q, cfg, i);
}

void rc_outq_consume(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc, uint32_t n,
                     rc_msg **out)
{
	assert(q->pinned == 0 && n <= q->count);
	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		out[i] = pop_head(q, cfg);
	storage_put_if_empty(q, cfg, alloc);
}

void rc_outq_pin(rc_outq *q, uint32_t n)
{
	assert(q->pinned == 0 && n >= 1 && n <= q->count);
	q->pinned = (uint16_t)n;
}

uint32_t rc_outq_sent(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc, size_t sent,
                      rc_msg **out, uint32_t out_max)
{
	uint32_t limit = q->pinned > 0 ? q->pinned : q->count;
	uint32_t popped = 0;
	while (sent > 0) {
		/* More bytes than the send carried: the caller's accounting is wrong. */
		assert(popped < limit);
		rc_msg *m = q->ring[q->head];
		assert(q->head_offset < m->len);
		uint32_t rest = m->len - q->head_offset;
		if (sent < rest) {
			q->head_offset += (uint32_t)sent;
			break;
		}
		sent -= rest;
		assert(popped < out_max);
		out[popped++] = pop_head(q, cfg);
	}
	(void)limit;
	(void)out_max;
	q->pinned = 0;
	if (q->ring != NULL)
		storage_put_if_empty(q, cfg, alloc);
	return popped;
}

uint32_t rc_outq_drain(rc_outq *q, const rc_outq_cfg *cfg, const rc_outq_alloc *alloc,
                       void (*release)(void *ctx, rc_msg *m), void *ctx)
{
	/* The kernel may still be reading pinned frames: report the send's completion first. */
	assert(q->pinned == 0);
	uint32_t n = q->count;
	if (n == 0)
		return 0;
	/* Pop before each callback so the queue is consistent whatever release does. */
	while (q->count > 0)
		release(ctx, pop_head(q, cfg));
	storage_put_if_empty(q, cfg, alloc);
	return n;
}

bool rc_outq_validate(const rc_outq *q, const rc_outq_cfg *cfg)
{
	RC_CHECK(rc_outq_cfg_check(cfg) == 0);
	RC_CHECKF(q->count <= cfg->msgs_max, "count %u, msgs_max %u", q->count, cfg->msgs_max);
	RC_CHECK(q->head < cfg->msgs_max);
	RC_CHECK((q->ring == NULL) == (q->count == 0));
	RC_CHECKF(q->pinned <= q->count, "pinned %u, count %u", q->pinned, q->count);
	if (q->count == 0) {
		RC_CHECK(q->bytes == 0);
		RC_CHECK(q->head_offset == 0);
		RC_CHECK(q->head == 0);
		return true;
	}
	uint64_t sum = 0;
	for (uint32_t i = 0; i < q->count; i++) {
		const rc_msg *m = at(q, cfg, i);
		RC_CHECK(m != NULL);
		/* longer than bytes_max only alone: an empty queue takes any message */
		RC_CHECKF(m->len >= 1 && (m->len <= cfg->bytes_max || q->count == 1),
		          "message %u of %u: len %u, bytes_max %u", i, q->count, m->len, cfg->bytes_max);
		RC_CHECK(m->refs > 0);
		sum += m->len;
	}
	RC_CHECKF(sum == q->bytes, "messages hold %llu bytes, counter %u", (unsigned long long)sum,
	          q->bytes);
	RC_CHECKF(q->bytes <= cfg->bytes_max || q->count == 1,
	          "%u messages hold %u bytes, bytes_max %u", q->count, q->bytes, cfg->bytes_max);
	RC_CHECKF(q->head_offset < at(q, cfg, 0)->len, "head_offset %u, head len %u", q->head_offset,
	          at(q, cfg, 0)->len);
	return true;
}
