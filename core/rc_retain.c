/* rc_retain: one worker's history of retained messages, a log of pool segments (contract in
 * rc_retain.h).
 *
 * Layout of the log. Segment k (positions [k * S, (k + 1) * S)) of the `segments` held is ring slot
 * (first + k - tail / S) % seg_cap; ring[slot].end is how far entries fill it. For the head
 * segment that is head - its first position; for the others the rest of the segment is dead (an
 * entry that did not fit started the next one). Between two calls, with segments > 0, the head
 * lies inside the last segment or at its very end: a segment is opened only to write into it at
 * once. With segments == 0, head == tail.
 *
 * Sections: positions and segments, topics, eviction, the API, validation.
 */
#include "rc_retain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_check.h"

#define NONE RC_RETAIN_NONE
#define NO_TOPIC UINT32_MAX
#define F_TEXT 0x01u /* hdr.flags: the payload is text */

/* An entry's header, followed by its payload, then zeros up to a multiple of 8. Entries start at
 * 8-byte aligned offsets of segments (pool buffers are aligned to at least RC_POOL_BUF_MIN), so
 * the header is read and written in place. */
typedef struct hdr {
	uint64_t seq;
	uint64_t pub_ns;
	uint64_t prev; /* position of the topic's previous (older) entry, or NONE */
	uint64_t next; /* position of the topic's next (newer) entry, or NONE */
	uint32_t topic;
	uint32_t len;  /* payload bytes */
	uint8_t flags; /* F_TEXT */
	uint8_t live;  /* 1 while its topic holds it; 0 once evicted, forgotten or copied forward */
	uint8_t pad[6];
} hdr;

_Static_assert(sizeof(hdr) == RC_RETAIN_HDR_SIZE, "RC_RETAIN_HDR_SIZE is the header's size");
_Static_assert(RC_RETAIN_HDR_SIZE % 8 == 0, "entries stay 8-byte aligned");

/* ---- positions and segments ------------------------------------------------------------------ */

static inline uint64_t seg_bytes(const rc_retain *r)
{
	return (uint64_t)1 << r->pool->shift;
}

static inline uint64_t entry_size(uint64_t len)
{
	return RC_RETAIN_HDR_SIZE + ((len + 7) & ~(uint64_t)7);
}

/* The ring slot of segment k: one the log holds, or the one it is about to open. */
static uint32_t slot_of(const rc_retain *r, uint64_t k)
{
	uint64_t d = k - (r->tail >> r->pool->shift);
	assert(d <= r->segments && d < r->seg_cap);
	uint64_t s = r->first + d;
	return (uint32_t)(s < r->seg_cap ? s : s - r->seg_cap);
}

/* The header of the entry at pos, which must lie in the log. */
static hdr *hdr_at(const rc_retain *r, uint64_t pos)
{
	assert(pos >= r->tail && pos < r->head && pos % 8 == 0);
	uint64_t k = pos >> r->pool->shift;
	assert(k - (r->tail >> r->pool->shift) < r->segments);
	const rc_retain_seg *s = &r->ring[slot_of(r, k)];
	uint64_t off = pos & (seg_bytes(r) - 1);
	assert(off + RC_RETAIN_HDR_SIZE <= s->end);
	return (hdr *)(rc_pool_data(r->pool, s->buf) + off);
}

/* Bytes left in the head segment (0 with no segment). */
static uint64_t head_room(const rc_retain *r)
{
	uint64_t end = r->tail + (uint64_t)r->segments * seg_bytes(r);
	assert(r->head <= end);
	return end - r->head;
}

/* Open a new head segment (the rest of the current one is dead) if the log holds fewer than
 * limit segments and the pool gives a buffer without going below its reserve, unless this append
 * gave one back (r->credit). */
static bool open_segment(rc_retain *r, uint32_t limit)
{
	assert(limit <= r->seg_cap);
	rc_pool *p = r->pool;
	if (r->segments >= limit || rc_pool_free_count(p) == 0)
		return false;
	bool under = rc_pool_free_count(p) <= p->reserve;
	if (under && r->credit == 0)
		return false;
	int32_t b = rc_pool_alloc(p);
	assert(b >= 0); /* a buffer was free */
	if (under)
		r->credit--;
	uint64_t k = (r->tail >> p->shift) + r->segments;
	assert(r->head <= k << p->shift);
	r->ring[slot_of(r, k)] = (rc_retain_seg){ .buf = (uint32_t)b, .end = 0 };
	r->segments++;
	r->head = k << p->shift;
	return true;
}

/* Take size bytes at the head (head_room(r) >= size) and return their position. */
static uint64_t take_head(rc_retain *r, uint64_t size)
{
	assert(size > 0 && size <= head_room(r));
	uint64_t pos = r->head;
	uint64_t k = pos >> r->pool->shift;
	r->head += size;
	r->ring[slot_of(r, k)].end = (uint32_t)(r->head - (k << r->pool->shift));
	return pos;
}

/* ---- topics ---------------------------------------------------------------------------------- */

/* Take the topic's oldest entry out of it (the entry stays in its segment, dead). Returns true if
 * it was the topic's last. The caller counts it (evicted or forgotten). */
static bool unlink_oldest(rc_retain *r, uint32_t topic)
{
	rc_retain_topic *t = &r->topics[topic];
	assert(t->count > 0);
	hdr *h = hdr_at(r, t->oldest);
	assert(h->live && h->topic == topic && h->prev == NONE);
	h->live = 0;
	r->live_msgs--;
	r->live_bytes -= entry_size(h->len);
	t->count--;
	t->bytes -= h->len;
	if (h->next == NONE) {
		assert(t->count == 0 && t->newest == t->oldest);
		*t = (rc_retain_topic){ 0 };
		return true;
	}
	assert(t->count > 0);
	hdr_at(r, h->next)->prev = NONE;
	t->oldest = h->next;
	return false;
}

/* An eviction took the topic's last message: tell the caller, now or, for the topic being
 * appended to, at the end of the append if it fails. */
static void topic_emptied(rc_retain *r, uint32_t topic)
{
	if (topic == r->busy)
		r->busy_emptied = true;
	else
		r->emptied(r->ctx, topic);
}

/* ---- eviction -------------------------------------------------------------------------------- */

/* Copy h, at pos in the tail segment and its topic's only entry, to the head: into the room the
 * head segment has or, if grow, into a new segment within seg_cap. False if there is no room. */
static bool copy_forward(rc_retain *r, hdr *h, uint64_t pos, bool grow)
{
	uint64_t size = entry_size(h->len);
	if (head_room(r) < size) {
		if (!grow || !open_segment(r, r->seg_cap))
			return false;
	}
	uint64_t to = take_head(r, size);
	/* never into the segment being read: evict_tail closed it if it was the head's */
	assert(to >> r->pool->shift != pos >> r->pool->shift);
	hdr *c = hdr_at(r, to);
	memcpy(c, h, size);
	c->prev = c->next = NONE;
	h->live = 0;
	rc_retain_topic *t = &r->topics[h->topic];
	assert(t->count == 1 && t->oldest == pos && t->newest == pos);
	t->oldest = t->newest = to;
	r->compacted++;
	return true;
}

/* Evict the tail segment (rc_retain.h): copy forward the last values that may be, evict the other
 * live entries, give the buffer back. Entries at positions >= fresh were copied in the current
 * pass and are not copied again; grow lets a copy open a segment. */
static void evict_tail(rc_retain *r, uint64_t fresh, bool grow)
{
	assert(r->segments > 0);
	uint64_t start = r->tail;
	rc_retain_seg seg = r->ring[r->first];
	if (r->segments == 1)
		r->head = start + seg_bytes(r); /* close it: no copy may land in it */
	for (uint64_t pos = start; pos < start + seg.end;) {
		hdr *h = hdr_at(r, pos);
		uint64_t size = entry_size(h->len);
		if (h->live) {
			uint32_t topic = h->topic;
			const rc_retain_topic *t = &r->topics[topic];
			assert(t->count > 0 && t->oldest == pos);
			bool copy = t->count == 1 && pos < fresh && r->live_bytes <= r->compact_max;
			if (!copy || !copy_forward(r, h, pos, grow)) {
				r->evicted++;
				if (unlink_oldest(r, topic))
					topic_emptied(r, topic);
			}
		}
		pos += size;
	}
	assert(r->ring[r->first].buf == seg.buf && r->ring[r->first].end == seg.end);
	r->tail = start + seg_bytes(r);
	r->first = r->first + 1 == r->seg_cap ? 0 : r->first + 1;
	r->segments--;
	if (r->segments == 0)
		r->head = r->tail;
	bool freed = rc_pool_refs(r->pool, seg.buf) == 1; /* nobody else references it */
	rc_pool_unref(r->pool, seg.buf);
	if (freed)
		r->credit++;
}

/* Make size bytes of room at the head: open a segment while the log is under its cap (keeping the
 * landing segment for copies) and the pool gives one, else evict the tail. False if the log is
 * empty and no segment can be had. Ends: only entries older than the pass are copied, each once,
 * so the tail overtakes them and the rest is evicted. */
static bool make_room(rc_retain *r, uint64_t size)
{
	assert(size <= seg_bytes(r));
	uint64_t fresh = r->head;
	r->credit = 0;
	while (head_room(r) < size) {
		if (open_segment(r, r->seg_cap - 1))
			continue;
		if (r->segments == 0)
			return false;
		evict_tail(r, fresh, true);
	}
	return true;
}

/* ---- the API --------------------------------------------------------------------------------- */

int rc_retain_init(rc_retain *r, rc_pool *pool, uint32_t topics_max, const rc_retain_cfg *cfg,
                   void (*emptied)(void *ctx, uint32_t topic), void *ctx)
{
	assert(r != NULL && pool != NULL && cfg != NULL && emptied != NULL);
	memset(r, 0, sizeof *r);
	if (topics_max == 0 || cfg->msgs_per_topic == 0 || cfg->bytes_per_topic == 0 ||
	    cfg->bytes_total == 0)
		return -EINVAL;
	uint64_t s = pool->buf_size;
	assert(s <= UINT32_MAX); /* rc_pool_init's rule, which ring[].end relies on */
	uint64_t segs = cfg->bytes_total / s;
	if (segs > pool->count)
		segs = pool->count; /* it could never hold more */
	if (segs < 2)
		return -EINVAL;
	r->topics = calloc(topics_max, sizeof *r->topics);
	r->ring = calloc(segs, sizeof *r->ring);
	if (r->topics == NULL || r->ring == NULL) {
		free(r->topics);
		free(r->ring);
		memset(r, 0, sizeof *r);
		return -ENOMEM;
	}
	r->pool = pool;
	r->emptied = emptied;
	r->ctx = ctx;
	r->cfg = *cfg;
	r->topics_max = topics_max;
	r->seg_cap = (uint32_t)segs;
	r->compact_max = segs * s / 2;
	r->busy = NO_TOPIC;
	return 0;
}

void rc_retain_fini(rc_retain *r)
{
	assert(r != NULL);
	for (uint32_t i = 0; i < r->segments; i++)
		rc_pool_unref(r->pool, r->ring[(r->first + i) % r->seg_cap].buf);
	free(r->ring);
	free(r->topics);
	memset(r, 0, sizeof *r);
}

int rc_retain_append(rc_retain *r, uint32_t topic, uint64_t seq, uint64_t pub_ns, bool text,
                     const rc_span *payload)
{
	assert(topic < r->topics_max && payload != NULL && r->busy == NO_TOPIC);
	rc_retain_topic *t = &r->topics[topic];
	assert(t->count == 0 || seq > hdr_at(r, t->newest)->seq);
	if (payload->len > rc_retain_payload_max(r)) {
		r->too_large++;
		return -E2BIG;
	}
	uint32_t len = (uint32_t)payload->len;
	uint64_t size = entry_size(len);
	bool was_empty = t->count == 0;
	r->busy = topic;
	r->busy_emptied = false;
	bool ok = make_room(r, size);
	r->busy = NO_TOPIC;
	if (!ok) {
		r->failed++;
		if (r->busy_emptied)
			r->emptied(r->ctx, topic);
		return -ENOMEM;
	}
	while (t->count > 0 && (t->count >= r->cfg.msgs_per_topic ||
	                        (uint64_t)t->bytes + len > r->cfg.bytes_per_topic)) {
		r->evicted++;
		unlink_oldest(r, topic);
	}
	uint64_t pos = take_head(r, size);
	hdr *h = hdr_at(r, pos);
	*h = (hdr){ .seq = seq,
		        .pub_ns = pub_ns,
		        .prev = t->count > 0 ? t->newest : NONE,
		        .next = NONE,
		        .topic = topic,
		        .len = len,
		        .flags = text ? F_TEXT : 0,
		        .live = 1 };
	uint8_t *p = (uint8_t *)(h + 1);
	rc_span_copy(payload, 0, p, len);
	memset(p + len, 0, size - RC_RETAIN_HDR_SIZE - len);
	if (t->count > 0)
		hdr_at(r, t->newest)->next = pos;
	else
		t->oldest = pos;
	t->newest = pos;
	t->count++;
	t->bytes += len;
	r->retained++;
	r->live_msgs++;
	r->live_bytes += size;
	return was_empty ? 1 : 0;
}

void rc_retain_forget(rc_retain *r, uint32_t topic)
{
	assert(topic < r->topics_max);
	while (r->topics[topic].count > 0) {
		r->forgotten++;
		unlink_oldest(r, topic);
	}
}

void rc_retain_range(const rc_retain *r, uint32_t topic, uint32_t *count, uint64_t *oldest,
                     uint64_t *newest)
{
	assert(topic < r->topics_max);
	const rc_retain_topic *t = &r->topics[topic];
	if (count != NULL)
		*count = t->count;
	if (oldest != NULL)
		*oldest = t->count > 0 ? hdr_at(r, t->oldest)->seq : 0;
	if (newest != NULL)
		*newest = t->count > 0 ? hdr_at(r, t->newest)->seq : 0;
}

/* *e = the live entry at pos. */
static void fill(const rc_retain *r, uint64_t pos, rc_retain_entry *e)
{
	const hdr *h = hdr_at(r, pos);
	assert(h->live);
	const uint8_t *p = (const uint8_t *)(h + 1);
	*e = (rc_retain_entry){ .seq = h->seq,
		                    .pub_ns = h->pub_ns,
		                    .payload = p,
		                    .len = h->len,
		                    .text = (h->flags & F_TEXT) != 0,
		                    .buf = rc_pool_index_of(r->pool, h),
		                    .pos = pos };
}

bool rc_retain_newest(const rc_retain *r, uint32_t topic, rc_retain_entry *e)
{
	assert(topic < r->topics_max);
	const rc_retain_topic *t = &r->topics[topic];
	if (t->count == 0)
		return false;
	fill(r, t->newest, e);
	return true;
}

bool rc_retain_first_after(const rc_retain *r, uint32_t topic, uint64_t after, rc_retain_entry *e)
{
	assert(topic < r->topics_max);
	const rc_retain_topic *t = &r->topics[topic];
	if (t->count == 0)
		return false;
	uint64_t pos = t->newest;
	const hdr *h = hdr_at(r, pos);
	if (h->seq <= after)
		return false;
	while (h->prev != NONE) {
		const hdr *older = hdr_at(r, h->prev);
		if (older->seq <= after)
			break;
		pos = h->prev;
		h = older;
	}
	fill(r, pos, e);
	return true;
}

bool rc_retain_next(const rc_retain *r, rc_retain_entry *e)
{
	const hdr *h = hdr_at(r, e->pos);
	assert(h->live && h->seq == e->seq && (const uint8_t *)(h + 1) == e->payload);
	if (h->next == NONE)
		return false;
	fill(r, h->next, e);
	return true;
}

uint32_t rc_retain_shrink(rc_retain *r, uint32_t keep_segments)
{
	assert(r->busy == NO_TOPIC);
	uint64_t fresh = r->head;
	uint32_t n = 0;
	while (r->segments > keep_segments) {
		evict_tail(r, fresh, false);
		n++;
	}
	return n;
}

/* ---- validation ------------------------------------------------------------------------------ */

/* The header at pos if pos is an 8-aligned position of the log with a whole header before its
 * segment's end, else NULL. Asserts nothing: validation reports. */
static const hdr *peek(const rc_retain *r, uint64_t pos)
{
	if (pos < r->tail || pos >= r->head || pos % 8 != 0)
		return NULL;
	uint64_t d = (pos >> r->pool->shift) - (r->tail >> r->pool->shift);
	if (d >= r->segments)
		return NULL;
	const rc_retain_seg *s = &r->ring[(r->first + d) % r->seg_cap];
	uint64_t off = pos & (seg_bytes(r) - 1);
	if (off + RC_RETAIN_HDR_SIZE > s->end)
		return NULL;
	return (const hdr *)(rc_pool_data(r->pool, s->buf) + off);
}

/* The log's bounds and the ring's segments: distinct POOL buffers held, filled as far as the
 * head for the last one. seen has pool->count zeroed bytes. */
static bool validate_ring(const rc_retain *r, uint8_t *seen)
{
	uint64_t S = seg_bytes(r);
	RC_CHECKF(r->segments <= r->seg_cap && r->first < r->seg_cap, "segments %u, first %u, cap %u",
	          r->segments, r->first, r->seg_cap);
	RC_CHECKF(r->tail % S == 0, "tail %llu", (unsigned long long)r->tail);
	uint64_t last = r->tail + (uint64_t)(r->segments ? r->segments - 1 : 0) * S;
	if (r->segments == 0)
		RC_CHECKF(r->head == r->tail, "no segment, head %llu, tail %llu",
		          (unsigned long long)r->head, (unsigned long long)r->tail);
	else
		RC_CHECKF(r->head > last && r->head <= last + S, "head %llu, last segment at %llu",
		          (unsigned long long)r->head, (unsigned long long)last);
	for (uint32_t i = 0; i < r->segments; i++) {
		const rc_retain_seg *s = &r->ring[(r->first + i) % r->seg_cap];
		RC_CHECKF(s->buf < r->pool->count, "segment %u: buffer %u", i, s->buf);
		RC_CHECKF(rc_pool_kind(r->pool, s->buf) == RC_BUF_POOL && rc_pool_refs(r->pool, s->buf) > 0,
		          "segment %u: buffer %u not a held POOL buffer", i, s->buf);
		RC_CHECKF(!seen[s->buf], "segment %u: buffer %u held twice", i, s->buf);
		seen[s->buf] = 1;
		RC_CHECKF(s->end >= RC_RETAIN_HDR_SIZE && s->end <= S && s->end % 8 == 0,
		          "segment %u: end %u", i, s->end);
		if (i == r->segments - 1)
			RC_CHECKF(s->end == r->head - last, "head segment: end %u, head at +%llu", s->end,
			          (unsigned long long)(r->head - last));
	}
	return true;
}

/* Every entry of every segment well formed; the live ones counted per topic in live[] (topics_max
 * zeroed counters) and in total against the gauges. */
static bool validate_entries(const rc_retain *r, uint32_t *live)
{
	uint64_t S = seg_bytes(r), msgs = 0, bytes = 0;
	for (uint32_t i = 0; i < r->segments; i++) {
		const rc_retain_seg *s = &r->ring[(r->first + i) % r->seg_cap];
		uint64_t start = r->tail + (uint64_t)i * S, off = 0;
		while (off < s->end) {
			const hdr *h = peek(r, start + off);
			RC_CHECKF(h != NULL, "segment %u: no header at +%llu (end %u)", i,
			          (unsigned long long)off, s->end);
			uint64_t size = entry_size(h->len);
			RC_CHECKF(h->len <= S - RC_RETAIN_HDR_SIZE && off + size <= s->end,
			          "segment %u: entry at +%llu of %u bytes, end %u", i, (unsigned long long)off,
			          h->len, s->end);
			RC_CHECKF(h->topic < r->topics_max && h->live <= 1 && (h->flags & ~F_TEXT) == 0,
			          "segment %u: entry at +%llu: topic %u, live %u, flags %#x", i,
			          (unsigned long long)off, h->topic, h->live, h->flags);
			if (h->live) {
				live[h->topic]++;
				msgs++;
				bytes += size;
			}
			off += size;
		}
	}
	RC_CHECKF(msgs == r->live_msgs, "%llu live entries, live_msgs %llu", (unsigned long long)msgs,
	          (unsigned long long)r->live_msgs);
	RC_CHECKF(bytes == r->live_bytes, "%llu live bytes, live_bytes %llu", (unsigned long long)bytes,
	          (unsigned long long)r->live_bytes);
	return true;
}

/* One topic's list: live entries of the topic, linked both ways, in increasing position and seq,
 * as many as its count and the segments' walk found (live), within its caps. */
static bool validate_topic(const rc_retain *r, uint32_t topic, uint32_t live)
{
	const rc_retain_topic *t = &r->topics[topic];
	if (t->count == 0) {
		RC_CHECKF(t->oldest == 0 && t->newest == 0 && t->bytes == 0 && live == 0,
		          "empty topic %u: oldest %llu, newest %llu, bytes %u, %u live entries", topic,
		          (unsigned long long)t->oldest, (unsigned long long)t->newest, t->bytes, live);
		return true;
	}
	RC_CHECKF(t->count == live, "topic %u: count %u, %u live entries", topic, t->count, live);
	RC_CHECKF(t->count <= r->cfg.msgs_per_topic && t->bytes <= r->cfg.bytes_per_topic,
	          "topic %u: %u messages, %u bytes", topic, t->count, t->bytes);
	uint64_t pos = t->oldest, prev = NONE, bytes = 0;
	const hdr *last = NULL;
	uint32_t n = 0;
	while (pos != NONE) {
		const hdr *h = peek(r, pos);
		RC_CHECKF(h != NULL && n < t->count, "topic %u: entry %u at %llu", topic, n,
		          (unsigned long long)pos);
		RC_CHECKF(h->live && h->topic == topic && h->prev == prev,
		          "topic %u: entry %u at %llu: live %u, topic %u, prev %llu (expected %llu)", topic,
		          n, (unsigned long long)pos, h->live, h->topic, (unsigned long long)h->prev,
		          (unsigned long long)prev);
		RC_CHECKF(last == NULL || (pos > prev && h->seq > last->seq),
		          "topic %u: entry %u at %llu, seq %llu, after seq %llu", topic, n,
		          (unsigned long long)pos, (unsigned long long)h->seq,
		          (unsigned long long)(last ? last->seq : 0));
		bytes += h->len;
		n++;
		last = h;
		prev = pos;
		pos = h->next;
	}
	RC_CHECKF(n == t->count && prev == t->newest, "topic %u: %u entries listed, count %u", topic, n,
	          t->count);
	RC_CHECKF(bytes == t->bytes, "topic %u: %llu bytes listed, bytes %u", topic,
	          (unsigned long long)bytes, t->bytes);
	return true;
}

static bool validate_all(const rc_retain *r, uint8_t *seen, uint32_t *live)
{
	if (!validate_ring(r, seen) || !validate_entries(r, live))
		return false;
	for (uint32_t i = 0; i < r->topics_max; i++)
		if (!validate_topic(r, i, live[i]))
			return false;
	return true;
}

bool rc_retain_validate(const rc_retain *r)
{
	RC_CHECK(r->pool != NULL && r->topics != NULL && r->ring != NULL && r->emptied != NULL);
	RC_CHECK(r->seg_cap >= 2 && r->seg_cap <= r->pool->count);
	RC_CHECK(r->compact_max == (uint64_t)r->seg_cap * seg_bytes(r) / 2);
	RC_CHECK(r->busy == NO_TOPIC);
	RC_CHECKF(r->retained == r->live_msgs + r->evicted + r->forgotten,
	          "retained %llu, live %llu + evicted %llu + forgotten %llu",
	          (unsigned long long)r->retained, (unsigned long long)r->live_msgs,
	          (unsigned long long)r->evicted, (unsigned long long)r->forgotten);
	uint8_t *seen = calloc(r->pool->count, 1);
	uint32_t *live = calloc(r->topics_max, sizeof *live);
	bool ok = seen != NULL && live != NULL && validate_all(r, seen, live);
	if (seen == NULL || live == NULL)
		fprintf(stderr, "%s: no memory for scratch\n", __func__);
	free(seen);
	free(live);
	return ok;
}
