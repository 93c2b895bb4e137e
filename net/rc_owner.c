/* rc_owner.c: numbering, history and the joint of new subscriptions (rc_owner.h). Sections: the
 * owner's numbering, history answers, records, the joint on the subscriber's worker, the owner's
 * answers, set-up. */
#include "rc_owner.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_conn.h"
#include "rc_fanout.h"
#include "rc_log.h"
#include "rc_xfer.h"

#define NONE UINT32_MAX
/* Most retained messages one answer carries to another worker (and at most a quarter of a
 * mailbox): a resume from further back is told as a reset. */
#define RC_OWN_REPLAY_MAX 1024u

enum ask_bit {
	ASK_SNAPSHOT = 1, /* the topic's latest retained message */
	ASK_RESUME = 2,   /* the retained messages after the position in the JOIN */
};

enum topic_state {
	T_KNOWN = 0, /* its position is known (owned here, subscribed before, or a repeat) */
	T_UNSENT,    /* its JOIN found no room: own_flush sends it */
	T_ASKED,     /* its JOIN is out */
	T_ANSWERED,  /* its JOINED came back */
};

/* ---- the owner's numbering ------------------------------------------------------------------- */

uint64_t own_origin(const rc_worker *w, const rc_conn *c)
{
	return (uint64_t)w->index << 56 | (uint64_t)conn_slot(w, c) << 32 | c->gen;
}

rc_conn *own_origin_conn(rc_worker *w, uint64_t origin)
{
	if (origin == RC_XMSG_NO_ORIGIN || (uint32_t)(origin >> 56) != w->index)
		return NULL;
	uint32_t slot = (uint32_t)(origin >> 32) & 0xffffffu;
	if (slot >= w->conns.nslots)
		return NULL;
	rc_conn *c = &w->conns.slots[slot];
	return c->gen == (uint32_t)origin ? c : NULL;
}

/* A new epoch for a topic this worker starts numbering: splitmix64's finaliser over the group's
 * random seed, this worker's index and a count, so that no two numberings of one server share an
 * epoch (the finaliser is a bijection) and a restarted server's differ (a new seed). Never 0. */
static uint64_t new_epoch(rc_worker *w)
{
	uint64_t z = w->group->seed + ((uint64_t)w->index << 40) + ++w->xfer.epochs;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

/* The topic's numbering, started here if it was not yet. */
static rc_topic *numbered(rc_worker *w, uint32_t tid)
{
	rc_topic *t = rc_topic_get(&w->topics, tid);
	if (t->epoch == 0) {
		rc_topic_start(&w->topics, tid, new_epoch(w));
		if (rc_log_enabled(RC_LOG_DEBUG))
			rc_log(RC_LOG_DEBUG, "topic_numbered", "topic=%.*s epoch=%016llx", (int)t->name_len,
			       (const char *)t->name, (unsigned long long)t->epoch);
	}
	return t;
}

/* New topics are made for history only while the table has room for subscriptions' topics. */
static bool room_for_history(const rc_worker *w)
{
	return w->own.history && w->topics.topics_live < w->topics.topics_max / 4 * 3;
}

int own_topic(rc_worker *w, const uint8_t *name, size_t len, uint32_t hash, int id)
{
	bool watched = xfer_watched(w, hash);
	if (id < 0) {
		if (!watched && !room_for_history(w))
			return -1;
		id = rc_topic_pin(&w->topics, name, len);
		if (id < 0) {
			rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_NO_MEMORY));
			return -1;
		}
		rc_topic_hold(&w->topics, (uint32_t)id);
		rc_topic_unpin(&w->topics, (uint32_t)id);
		return id;
	}
	if (watched || w->own.history)
		rc_topic_hold(&w->topics, (uint32_t)id);
	return id;
}

/* Keep message seq of topic tid in the history. The history pins the topic while it holds any of
 * its messages. A message it cannot keep (too long, no memory) would leave a hole, so what it
 * held of the topic goes too: a resume never skips a message, and a snapshot is never older than
 * the last message. */
static void retain(rc_worker *w, uint32_t tid, uint64_t seq, uint64_t pub_ns, bool text,
                   const rc_span *payload)
{
	int r = rc_retain_append(&w->own.retain, tid, seq, pub_ns, text, payload);
	if (r == 1) {
		rc_topic_pin_id(&w->topics, tid);
		return;
	}
	if (r == 0)
		return;
	uint32_t count;
	uint64_t oldest, newest;
	rc_retain_range(&w->own.retain, tid, &count, &oldest, &newest);
	if (count > 0) {
		rc_retain_forget(&w->own.retain, tid);
		rc_topic_unpin(&w->topics, tid); /* held by own_topic: it lives on */
	}
}

uint64_t own_number(rc_worker *w, uint32_t tid, bool text, const rc_span *payload, uint64_t origin,
                    uint64_t pub_ns)
{
	rc_topic *t = numbered(w, tid);
	uint64_t seq = rc_topic_next_seq(&w->topics, tid);
	if (w->own.history)
		retain(w, tid, seq, pub_ns, text, payload);
	xfer_publish(w, &(xfer_msg){ .topic = t->name,
	                             .tlen = t->name_len,
	                             .hash = t->hash,
	                             .text = text,
	                             .payload = payload,
	                             .seq = seq,
	                             .epoch = t->epoch,
	                             .origin = origin,
	                             .pub_ns = pub_ns });
	return seq;
}

/* The history pinned a topic; its last message went (an eviction): the pin goes. */
static void history_emptied(void *ctx, uint32_t tid)
{
	rc_worker *w = ctx;
	rc_topic_unpin(&w->topics, tid);
}

/* ---- history answers ------------------------------------------------------------------------- */

/* What the owner sends a subscriber at its joint: where the topic stands, whether a resume could
 * not continue (reset), and the retained messages that follow: the newest (a snapshot) or those
 * after `after` (a resume), `count` of them. `first` is the first number the subscriber gets. */
typedef struct answer {
	rc_app_pos at;
	uint8_t reset; /* enum rc_app_reset_reason, 0 if none */
	bool snapshot;
	uint64_t after;
	uint32_t count;
	uint64_t first;
} answer;

static void answer_for(rc_worker *w, uint32_t tid, uint8_t ask, rc_app_pos from, uint32_t max,
                       answer *a)
{
	rc_topic *t = numbered(w, tid);
	*a = (answer){ .at = { t->epoch, t->next_seq - 1 } };
	a->first = a->at.seq + 1;
	uint32_t count = 0;
	uint64_t oldest = 0, newest = 0;
	if (w->own.history)
		rc_retain_range(&w->own.retain, tid, &count, &oldest, &newest);
	bool latest = count > 0 && newest == a->at.seq; /* the history reaches the last message */
	if (ask & ASK_RESUME) {
		if (from.epoch != a->at.epoch || from.seq > a->at.seq) {
			a->reset = RC_APP_RESET_EPOCH;
		} else if (from.seq == a->at.seq) {
			return; /* nothing missed */
		} else if (latest && oldest <= from.seq + 1 && a->at.seq - from.seq <= max) {
			a->after = from.seq;
			a->count = (uint32_t)(a->at.seq - from.seq);
			a->first = from.seq + 1;
			return;
		} else {
			a->reset = RC_APP_RESET_HISTORY;
		}
	}
	if ((ask & ASK_SNAPSHOT) && latest) {
		a->snapshot = true;
		a->count = 1;
		a->first = newest;
	}
}

/* The retained messages of an answer, one by one: the first (false if none), then the next. */
static bool answer_entry(rc_worker *w, uint32_t tid, const answer *a, uint32_t i,
                         rc_retain_entry *e)
{
	if (i >= a->count)
		return false;
	bool ok;
	if (i > 0)
		ok = rc_retain_next(&w->own.retain, e);
	else if (a->snapshot)
		ok = rc_retain_newest(&w->own.retain, tid, e);
	else
		ok = rc_retain_first_after(&w->own.retain, tid, a->after, e);
	assert(ok && "the history holds what answer_for counted");
	return ok;
}

/* A retained message for c, which subscribes to topic tid: its frame, marked retained for a
 * ringcast.v1 client, queued like any message (the slow-consumer policy applies). */
static void push_retained(rc_worker *w, rc_conn *c, uint32_t tid, uint64_t seq, bool text,
                          const rc_span *payload)
{
	rc_sub *s = rc_sub_find(&w->topics, &c->sub, tid);
	if (s == NULL || c->state != CS_OPEN)
		return;
	rc_msg *m;
	if (c->sub.v1) {
		rc_topic *t = rc_topic_get(&w->topics, tid);
		uint8_t env[RC_APP_PUB_HEADER_MAX];
		uint8_t flags = RC_APP_FLAG_RETAINED | (text ? RC_APP_FLAG_TEXT : 0);
		size_t hl = rc_app_pub_encode_header(env, flags, t->name, t->name_len, seq);
		m = fan_copy(w, RC_OPCODE_BINARY, env, hl, payload, tid, seq, RC_MSG_V1, RC_COPY_COUNT);
	} else {
		m = fan_copy(w, text ? RC_OPCODE_TEXT : RC_OPCODE_BINARY, NULL, 0, payload, tid, seq,
		             RC_MSG_PLAIN, RC_COPY_COUNT);
	}
	if (m == NULL)
		return;
	rc_metric_inc(&w->metrics, RC_M_RETAINED_SENT);
	fan_push(w, c, m, s);
	fan_msg_done(w, m);
}

/* ---- records --------------------------------------------------------------------------------- */

static own_rec *rec_take(rc_worker *w)
{
	struct worker_own *o = &w->own;
	if (o->nfree == 0)
		return NULL;
	own_rec *r = rc_chunk_get(&o->chunks);
	if (r == NULL)
		return NULL;
	uint32_t idx = o->free_idx[--o->nfree];
	assert(o->rec[idx] == NULL);
	o->rec[idx] = r;
	o->rec_gen[idx]++;
	r->index = idx;
	return r;
}

static void rec_free(rc_worker *w, own_rec *r)
{
	struct worker_own *o = &w->own;
	assert(o->rec[r->index] == r && !r->on_retry);
	o->rec[r->index] = NULL;
	o->free_idx[o->nfree++] = r->index;
	rc_chunk_put(&o->chunks, r);
}

/* A JOIN's origin: this worker, the record's index and generation, and the topic's place in it. */
static uint64_t route_of(const rc_worker *w, const own_rec *r, uint32_t i)
{
	return (uint64_t)w->index << 56 | (uint64_t)r->index << 40 |
	       (uint64_t)w->own.rec_gen[r->index] << 8 | i;
}

/* The record and topic a route names, if that use of the record is still live; else NULL. */
static own_rec *rec_of_route(rc_worker *w, uint64_t route, uint32_t *i)
{
	uint32_t idx = (uint32_t)(route >> 40) & 0xffffu;
	if ((uint32_t)(route >> 56) != w->index || idx >= RC_OWN_JOINS_MAX)
		return NULL;
	own_rec *r = w->own.rec[idx];
	if (r == NULL || w->own.rec_gen[idx] != (uint32_t)(route >> 8))
		return NULL;
	*i = (uint32_t)route & 0xffu;
	return *i < r->ntopics ? r : NULL;
}

static rc_app_slice rec_topic(const own_rec *r, uint32_t i)
{
	return (rc_app_slice){ r->names + r->name_at[i], r->name_len[i] };
}

/* The record's connection, if it is still the one that subscribed. */
static rc_conn *rec_conn(rc_worker *w, const own_rec *r)
{
	rc_conn *c = &w->conns.slots[r->slot];
	return c->gen == r->gen && c->state != CS_FREE ? c : NULL;
}

/* ---- the joint on the subscriber's worker ---------------------------------------------------- */

bool own_can_join(rc_worker *w, const rc_app_slice *topics, size_t n)
{
	struct worker_own *o = &w->own;
	bool ok = o->nfree > 0 && rc_chunks_used(&o->chunks) < RC_OWN_JOINS_MAX;
	for (size_t i = 0; i < n && ok; i++) {
		uint32_t owner =
		        xfer_owner(w->group, rc_topics_hash(&w->topics, topics[i].ptr, topics[i].len));
		if (owner == w->index)
			continue;
		uint32_t same = 0;
		for (size_t j = 0; j <= i; j++)
			same += xfer_owner(w->group,
			                   rc_topics_hash(&w->topics, topics[j].ptr, topics[j].len)) == owner;
		ok = o->asks_out[owner] + same <= RC_OWN_ASKS_MAX;
	}
	if (!ok)
		rc_metric_inc(&w->metrics, RC_M_JOINS_BUSY);
	return ok;
}

/* Send topic i's JOIN to its owner. False if the pool or the mailbox had no room (try again). */
static bool send_join(rc_worker *w, own_rec *r, uint32_t i)
{
	rc_app_slice name = rec_topic(r, i);
	uint32_t owner = xfer_owner(w->group, rc_topics_hash(&w->topics, name.ptr, name.len));
	rc_span none = rc_span_bytes(NULL, 0);
	rc_xmsg *x = rc_xmsg_new(&w->xfer.xarena, RC_XMSG_JOIN, false, name.ptr, name.len, &none, 1);
	if (x == NULL)
		return false;
	x->origin = route_of(w, r, i);
	x->epoch = r->pos[i].epoch;
	x->seq = r->pos[i].seq;
	x->ask = r->ask[i];
	if (!xfer_push(w, owner, x)) {
		rc_xmsg_release(&w->xfer.xarena, x->buf, 1, true);
		return false;
	}
	r->state[i] = T_ASKED;
	return true;
}

/* The notices that answer a subscribe: subscribed with every topic's position, then a reset
 * notice for each topic whose resume could not continue. */
static void answer_notices(rc_worker *w, rc_conn *c, const own_rec *r)
{
	rc_app_slice topics[RC_APP_TOPICS_MAX];
	for (uint32_t i = 0; i < r->ntopics; i++)
		topics[i] = rec_topic(r, i);
	rc_app_slice id = { r->id, r->id_len };
	size_t n =
	        rc_app_notice_subscribed_at(w->scratch, RC_SCRATCH_BYTES, topics, r->pos, r->ntopics);
	fan_notice(w, c, n, id);
	for (uint32_t i = 0; i < r->ntopics && c->state == CS_OPEN; i++) {
		if (r->reset[i] == 0)
			continue;
		n = rc_app_notice_reset(w->scratch, RC_SCRATCH_BYTES, topics[i].ptr, topics[i].len,
		                        (enum rc_app_reset_reason)r->reset[i], r->pos[i].epoch, r->first[i],
		                        r->snapshot[i]);
		fan_notice(w, c, n, (rc_app_slice){ 0 });
	}
}

/* Every answer is in: tell the client, and let its connection go on (at once when nothing was
 * waited for, else through the resume list, with the input it held). */
static void complete(rc_worker *w, own_rec *r, bool waited)
{
	for (uint32_t i = 0; i < r->ntopics; i++)
		if (r->dup_of[i] >= 0)
			r->pos[i] = r->pos[r->dup_of[i]];
	rc_conn *c = rec_conn(w, r);
	if (c != NULL && c->state == CS_OPEN && r->notice)
		answer_notices(w, c, r);
	if (!waited) {
		rec_free(w, r);
		return;
	}
	if (c != NULL) {
		c->flags &= ~F_JOINING;
		conn_dirty(w, c);
	}
	struct worker_own *o = &w->own;
	r->next = NONE;
	if (o->resume_head == NONE)
		o->resume_head = r->index;
	else
		o->rec[o->resume_tail]->next = r->index;
	o->resume_tail = r->index;
}

/* Copy the command's topics into r and find the repeats. */
static void rec_fill(rc_worker *w, own_rec *r, rc_conn *c, const own_req *req)
{
	assert(req->n >= 1 && req->n <= RC_APP_TOPICS_MAX && req->id.len <= RC_APP_ID_RAW_MAX);
	r->slot = conn_slot(w, c);
	r->gen = c->gen;
	r->waiting = r->unsent = 0;
	r->notice = req->notice;
	r->on_retry = false;
	r->in_buf = RC_POOL_NONE;
	r->in_len = 0;
	r->id_len = (uint8_t)req->id.len;
	if (req->id.len > 0)
		memcpy(r->id, req->id.ptr, req->id.len);
	r->ntopics = (uint8_t)req->n;
	uint32_t at = 0;
	for (uint32_t i = 0; i < req->n; i++) {
		const rc_app_slice *t = &req->topics[i];
		r->name_at[i] = (uint16_t)at;
		r->name_len[i] = (uint8_t)t->len;
		memcpy(r->names + at, t->ptr, t->len);
		at += (uint32_t)t->len;
		r->dup_of[i] = -1;
		for (uint32_t j = 0; j < i && r->dup_of[i] < 0; j++)
			if (req->topics[j].len == t->len && memcmp(req->topics[j].ptr, t->ptr, t->len) == 0)
				r->dup_of[i] = (int8_t)(r->dup_of[j] >= 0 ? r->dup_of[j] : (int8_t)j);
		r->state[i] = T_KNOWN;
		r->reset[i] = 0;
		r->snapshot[i] = 0;
		r->first[i] = 0;
		bool resume = i >= req->resume_from;
		r->ask[i] = (uint8_t)((req->snapshot ? ASK_SNAPSHOT : 0) | (resume ? ASK_RESUME : 0));
		r->pos[i] = resume ? req->resume[i] : (rc_app_pos){ 0, 0 };
	}
}

/* Topic i of r, owned here: its position and its retained messages, at once. */
static void join_here(rc_worker *w, rc_conn *c, own_rec *r, uint32_t i, uint32_t tid)
{
	answer a;
	answer_for(w, tid, r->ask[i], r->pos[i], UINT32_MAX, &a);
	r->pos[i] = a.at;
	r->reset[i] = a.reset;
	r->snapshot[i] = a.snapshot;
	r->first[i] = a.first;
	rc_retain_entry e;
	for (uint32_t k = 0; answer_entry(w, tid, &a, k, &e); k++) {
		rc_span p = rc_span_bytes(e.payload, e.len);
		push_retained(w, c, tid, e.seq, e.text, &p);
	}
}

static void retry_add(rc_worker *w, own_rec *r)
{
	if (r->on_retry)
		return;
	r->on_retry = true;
	r->next_retry = w->own.retry;
	w->own.retry = r->index;
}

void own_join(rc_worker *w, rc_conn *c, const own_req *req)
{
	own_rec *r = rec_take(w);
	assert(r != NULL && "own_can_join said yes");
	if (r == NULL)
		return;
	rec_fill(w, r, c, req);
	for (uint32_t i = 0; i < r->ntopics; i++) {
		if (r->dup_of[i] >= 0)
			continue;
		rc_app_slice name = rec_topic(r, i);
		int id = rc_topic_find(&w->topics, name.ptr, name.len);
		assert(id >= 0 && "the caller subscribed it");
		rc_topic *t = rc_topic_get(&w->topics, (uint32_t)id);
		uint32_t owner = xfer_owner(w->group, t->hash);
		if (!req->added[i] || (owner != w->index && !r->notice && r->ask[i] == 0)) {
			/* Subscribed before, or a plain client that asks for nothing retained (it is told
			 * no position, and live delivery needs no joint): where this worker stands, the
			 * owner's view if owned here. */
			r->pos[i] = (rc_app_pos){ t->epoch, t->next_seq - 1 };
			r->ask[i] = 0;
		} else if (owner == w->index) {
			join_here(w, c, r, i, (uint32_t)id);
		} else {
			rc_sub_set_pending(rc_sub_find(&w->topics, &c->sub, (uint32_t)id), true);
			w->own.asks_out[owner]++;
			r->waiting++;
			if (!send_join(w, r, i)) {
				r->state[i] = T_UNSENT;
				r->unsent++;
			}
		}
	}
	if (r->unsent > 0)
		retry_add(w, r);
	if (r->waiting == 0) {
		complete(w, r, false);
		return;
	}
	rc_metric_inc(&w->metrics, RC_M_JOINS_WAITED);
	c->flags |= F_JOINING;
	w->own.rec_of[r->slot] = (uint16_t)r->index;
}

void own_hold_input(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf)
{
	assert((c->flags & F_JOINING) && buf != RC_POOL_NONE);
	if (len == 0)
		return;
	own_rec *r = w->own.rec[w->own.rec_of[conn_slot(w, c)]];
	assert(r != NULL && r->slot == conn_slot(w, c) && r->in_buf == RC_POOL_NONE);
	rc_pool_ref(&w->mem.pool, buf);
	r->in_buf = buf;
	r->in_at = data;
	r->in_len = (uint32_t)len;
}

bool own_next_resumed(rc_worker *w, rc_conn **c, own_input *in)
{
	struct worker_own *o = &w->own;
	if (o->resume_head == NONE)
		return false;
	own_rec *r = o->rec[o->resume_head];
	o->resume_head = r->next;
	*c = rec_conn(w, r);
	*in = (own_input){ .buf = r->in_buf, .at = r->in_at, .len = r->in_len };
	rec_free(w, r);
	return true;
}

void own_on_replay(rc_worker *w, const rc_xmsg *x, const rc_span *payload)
{
	uint32_t i;
	own_rec *r = rec_of_route(w, x->origin, &i);
	rc_conn *c = r != NULL ? rec_conn(w, r) : NULL;
	if (c == NULL)
		return;
	rc_app_slice name = rec_topic(r, i);
	int id = rc_topic_find(&w->topics, name.ptr, name.len);
	if (id >= 0)
		push_retained(w, c, (uint32_t)id, x->seq, x->text, payload);
}

void own_on_joined(rc_worker *w, uint32_t from, const rc_xmsg *x)
{
	assert(w->own.asks_out[from] > 0);
	w->own.asks_out[from]--;
	uint32_t i;
	own_rec *r = rec_of_route(w, x->origin, &i);
	if (r == NULL || r->state[i] != T_ASKED)
		return;
	r->state[i] = T_ANSWERED;
	r->pos[i] = (rc_app_pos){ x->epoch, x->seq };
	r->reset[i] = x->ask;
	r->snapshot[i] = x->snapshot;
	r->first[i] = x->pub_ns;
	rc_conn *c = rec_conn(w, r);
	rc_app_slice name = rec_topic(r, i);
	int id = c != NULL ? rc_topic_find(&w->topics, name.ptr, name.len) : -1;
	rc_sub *s = id >= 0 ? rc_sub_find(&w->topics, &c->sub, (uint32_t)id) : NULL;
	if (s != NULL) {
		rc_sub_set_pending(s, false);
		/* Nothing of this numbering came here yet: the next message is the one after the
		 * joint, and a gap before it is a loss the new subscriber is told of. */
		if (rc_topic_get(&w->topics, (uint32_t)id)->epoch == 0 && x->epoch != 0)
			rc_topic_sync(&w->topics, (uint32_t)id, x->epoch, x->seq + 1);
	}
	assert(r->waiting > 0);
	if (--r->waiting == 0)
		complete(w, r, true);
}

/* ---- the owner's answers --------------------------------------------------------------------- */

/* Answer a JOIN from worker `to`: the REPLAYs it asked for, then the JOINED, pushed together.
 * False (nothing sent) if the mailbox or the pool has no room now. */
static bool answer_join(rc_worker *w, uint32_t to, const own_ask *q)
{
	uint32_t hash = rc_topics_hash(&w->topics, q->name, q->len);
	assert(xfer_owner(w->group, hash) == w->index);
	int id = own_topic(w, q->name, q->len, hash, rc_topic_find(&w->topics, q->name, q->len));
	answer a = { .first = 1 };
	uint32_t max = w->cfg->mailbox_records / 4;
	max = max < RC_OWN_REPLAY_MAX ? max : RC_OWN_REPLAY_MAX;
	if (id >= 0)
		answer_for(w, (uint32_t)id, q->ask, q->from, max, &a);
	if (xfer_room(w, to, a.count + 1) < a.count + 1)
		return false;
	rc_xmsg *x[RC_OWN_REPLAY_MAX + 1];
	rc_span none = rc_span_bytes(NULL, 0);
	uint32_t n = 0;
	rc_retain_entry e;
	for (; n < a.count && answer_entry(w, (uint32_t)id, &a, n, &e); n++) {
		rc_span p = rc_span_bytes(e.payload, e.len);
		x[n] = rc_xmsg_new(&w->xfer.xarena, RC_XMSG_REPLAY, e.text, q->name, q->len, &p, 1);
		if (x[n] == NULL)
			break;
		x[n]->seq = e.seq;
		x[n]->pub_ns = e.pub_ns;
	}
	if (n == a.count)
		x[n] = rc_xmsg_new(&w->xfer.xarena, RC_XMSG_JOINED, false, q->name, q->len, &none, 1);
	if (n < a.count || x[n] == NULL) {
		while (n-- > 0)
			rc_xmsg_release(&w->xfer.xarena, x[n]->buf, 1, true);
		return false;
	}
	x[n]->seq = a.at.seq;
	x[n]->epoch = a.at.epoch;
	x[n]->ask = a.reset;
	x[n]->snapshot = a.snapshot;
	x[n]->pub_ns = a.first;
	for (uint32_t k = 0; k <= n; k++) {
		x[k]->origin = q->route;
		bool pushed = xfer_push(w, to, x[k]);
		assert(pushed && "xfer_room counted the room");
		(void)pushed;
	}
	return true;
}

static void defer(rc_worker *w, uint32_t to, const own_ask *q)
{
	own_deferred *d = &w->own.deferred[to];
	assert(d->len < RC_OWN_ASKS_MAX && "the asker keeps within RC_OWN_ASKS_MAX");
	if (d->len == RC_OWN_ASKS_MAX)
		return;
	d->asks[(d->head + d->len++) % RC_OWN_ASKS_MAX] = *q;
	w->own.any_deferred = true;
}

void own_on_join(rc_worker *w, uint32_t from, const rc_xmsg *x)
{
	own_ask q = {
		.route = x->origin, .from = { x->epoch, x->seq }, .ask = x->ask, .len = x->topic_len
	};
	memcpy(q.name, rc_xmsg_topic(x), x->topic_len);
	if (w->own.deferred[from].len > 0 || !answer_join(w, from, &q))
		defer(w, from, &q); /* behind the ones waiting already, and in their order */
}

/* Send the JOINs of r that found no room. */
static void retry_joins(rc_worker *w, own_rec *r)
{
	for (uint32_t i = 0; i < r->ntopics && r->unsent > 0; i++) {
		if (r->state[i] != T_UNSENT || !send_join(w, r, i))
			continue;
		r->unsent--;
	}
}

void own_flush(rc_worker *w)
{
	struct worker_own *o = &w->own;
	uint32_t *link = &o->retry;
	while (*link != NONE) {
		own_rec *r = o->rec[*link];
		retry_joins(w, r);
		if (r->unsent > 0) {
			link = &r->next_retry;
			continue;
		}
		r->on_retry = false;
		*link = r->next_retry;
	}
	if (!o->any_deferred)
		return;
	o->any_deferred = false;
	for (uint32_t to = 0; to < w->group->n; to++) {
		own_deferred *d = &o->deferred[to];
		while (d->len > 0 && answer_join(w, to, &d->asks[d->head])) {
			d->head = (d->head + 1) % RC_OWN_ASKS_MAX;
			d->len--;
		}
		o->any_deferred |= d->len > 0;
	}
}

uint32_t own_relieve(rc_worker *w)
{
	rc_retain *r = &w->own.retain;
	uint32_t freed = 0;
	while (w->own.history && r->segments > 0 && rc_pool_low(&w->mem.pool)) {
		uint32_t n = rc_retain_shrink(r, r->segments / 2);
		if (n == 0)
			break;
		freed += n;
	}
	if (freed > 0)
		rc_log(RC_LOG_WARN, "history_relieved",
		       "buffers=%u kept=%u free_buffers=%u reserve=%u hint=\"history gave way to queued "
		       "messages: raise pool-buffers or lower history-bytes\"",
		       freed, r->segments, rc_pool_free_count(&w->mem.pool), w->mem.pool.reserve);
	return freed;
}

/* ---- set-up ---------------------------------------------------------------------------------- */

int own_init(rc_worker *w)
{
	struct worker_own *o = &w->own;
	const rc_cfg *cfg = w->cfg;
	o->resume_head = o->retry = NONE;
	if (cfg->history_messages > 0) {
		rc_retain_cfg rcfg = { .msgs_per_topic = cfg->history_messages,
			                   .bytes_per_topic = cfg->history_topic_bytes,
			                   .bytes_total = rc_cfg_history_bytes(cfg) };
		int r = rc_retain_init(&o->retain, &w->mem.pool, cfg->topics_max, &rcfg, history_emptied,
		                       w);
		if (r < 0)
			return r;
		o->history = true;
	}
	uint32_t n = w->group->n;
	o->rec = calloc(RC_OWN_JOINS_MAX, sizeof *o->rec);
	o->rec_gen = calloc(RC_OWN_JOINS_MAX, sizeof *o->rec_gen);
	o->free_idx = calloc(RC_OWN_JOINS_MAX, sizeof *o->free_idx);
	o->rec_of = calloc(w->conns.nslots, sizeof *o->rec_of);
	o->asks_out = calloc(n, sizeof *o->asks_out);
	o->deferred = calloc(n, sizeof *o->deferred);
	if (!o->rec || !o->rec_gen || !o->free_idx || !o->rec_of || !o->asks_out || !o->deferred)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (i == w->index)
			continue;
		o->deferred[i].asks = calloc(RC_OWN_ASKS_MAX, sizeof(own_ask));
		if (o->deferred[i].asks == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < RC_OWN_JOINS_MAX; i++)
		o->free_idx[i] = RC_OWN_JOINS_MAX - 1 - i;
	o->nfree = RC_OWN_JOINS_MAX;
	return rc_chunks_init(&o->chunks, sizeof(own_rec), RC_OWN_JOINS_MAX);
}

void own_fini(rc_worker *w)
{
	struct worker_own *o = &w->own;
	for (uint32_t i = 0; o->rec != NULL && i < RC_OWN_JOINS_MAX; i++)
		if (o->rec[i] != NULL && o->rec[i]->in_buf != RC_POOL_NONE)
			rc_pool_unref(&w->mem.pool, o->rec[i]->in_buf);
	if (o->free_idx != NULL)
		rc_chunks_fini(&o->chunks);
	for (uint32_t i = 0; o->deferred != NULL && i < w->group->n; i++)
		free(o->deferred[i].asks);
	free(o->deferred);
	free(o->asks_out);
	free(o->rec_of);
	free(o->free_idx);
	free(o->rec_gen);
	free(o->rec);
	if (o->history)
		rc_retain_fini(&o->retain);
	memset(o, 0, sizeof *o);
}
