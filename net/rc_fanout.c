/* rc_fanout.c: building a message's frames and queueing them for subscribers (rc_fanout.h). */
#include "rc_fanout.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "rc_conn.h"
#include "rc_pace.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* Count a message dropped for c and owe it a missed notice on the message's topic. */
void fan_count_drop(rc_worker *w, rc_conn *c, const rc_msg *m, enum rc_drop_reason reason,
                    rc_sub *s)
{
	assert(reason < RC_DROP_COUNT && m->refs > 0);
	/* A queued missed notice that is itself dropped is not a message: its count joins the
	 * pending notice, which goes out before anything else. */
	bool notice = m->kind == RC_MSG_MISSED;
	if (!notice) {
		rc_metric_inc(&w->metrics, RC_M_DROPPED(reason));
		w->view.conn[conn_slot(w, c)].dropped++;
	}
	if (c->route != ROUTE_WS || !(c->flags & F_V1))
		return;
	rc_sub *sub =
	        s != NULL && s->topic == m->topic ? s : rc_sub_find(&w->topics, &c->sub, m->topic);
	uint32_t n = notice ? (uint32_t)m->seq : 1;
	if (sub != NULL && rc_sub_add_missed(&w->topics, sub, n))
		conn_dirty(w, c);
}

/* Queue m for c (which takes its own reference), applying the slow-consumer policy. */
void fan_push(rc_worker *w, rc_conn *c, rc_msg *m, rc_sub *s)
{
	assert(m->refs > 0 && c->route != ROUTE_NONE);
	assert(s == NULL || s->subscriber == &c->sub);
	if (c->state != CS_OPEN)
		return;
	if (pace_interval(w, c) > 0 && m->kind != RC_MSG_MISSED) {
		/* Paced: the latest message of a topic takes the place of the one still queued. */
		rc_msg *old = rc_outq_replace(&c->q, &w->mem.qcfg, m);
		if (old != NULL) {
			rc_msg_ref(m);
			fan_count_drop(w, c, old, RC_DROP_CONFLATED, s);
			rc_msg_unref(&w->mem.msgs, old);
			conn_dirty(w, c);
			return;
		}
	}
	rc_outq_result r;
	do {
		rc_outq_push(&c->q, &w->mem.qcfg, &w->mem.qalloc, m, &r);
		for (uint32_t i = 0; i < r.ndropped; i++) {
			bool replaced = r.status == RC_OUTQ_CONFLATED && i + 1 == r.ndropped;
			fan_count_drop(w, c, r.dropped[i],
			               replaced ? RC_DROP_CONFLATED : RC_DROP_QUEUE_FULL_OLDEST, s);
			rc_msg_unref(&w->mem.msgs, r.dropped[i]);
		}
	} while (r.more);
	if (r.queued) {
		rc_msg_ref(m);
		conn_dirty(w, c);
		return;
	}
	switch (r.status) {
	case RC_OUTQ_OVERFLOW:
		rc_metric_inc(&w->metrics, RC_M_SLOW_DISCONNECTS);
		if (m->kind != RC_MSG_MISSED)
			rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_SLOW_DISCONNECT));
		conn_close(w, c, RC_CLOSE_SLOW_CONSUMER, RC_CLOSED_SLOW_CONSUMER, "slow consumer");
		break;
	case RC_OUTQ_DROPPED_NEWEST:
		fan_count_drop(w, c, m, RC_DROP_QUEUE_FULL_NEWEST, s);
		break;
	default: /* NOMEM */
		fan_count_drop(w, c, m, RC_DROP_NO_MEMORY, s);
		break;
	}
}

void fan_msg_done(rc_worker *w, rc_msg *m)
{
	if (m != NULL)
		rc_msg_unref(&w->mem.msgs, m);
}

/* Deliver to every subscriber of topic tid but the publisher: mplain to plain subscribers, mv1 to
 * ringcast.v1 ones (either may be NULL when nobody of that kind subscribes, or no memory was
 * left), stamped as published at pub_ns, then drop the creator's reference on both: the queues
 * hold their own. */
void fan_out(rc_worker *w, rc_conn *pub, uint32_t tid, rc_msg *mplain, rc_msg *mv1, uint64_t pub_ns)
{
	assert(mplain == NULL || (mplain->topic == tid && mplain->kind == RC_MSG_PLAIN));
	assert(mv1 == NULL || (mv1->topic == tid && mv1->kind != RC_MSG_PLAIN));
	rc_topic *t = rc_topic_get(&w->topics, tid);
	if (t == NULL) {
		fan_msg_done(w, mplain);
		fan_msg_done(w, mv1);
		return;
	}
	uint32_t len = 0;
	if (mplain != NULL) {
		mplain->pub_ns = pub_ns;
		len = mplain->len;
	}
	if (mv1 != NULL) {
		mv1->pub_ns = pub_ns;
		len = mv1->len > len ? mv1->len : len;
	}
	w->conns.fanned += len; /* what one subscriber's queue can grow by */
	w->conns.fanned_msgs++;
	rc_topic_pin_id(&w->topics, tid); /* a subscriber closed mid-loop must not delete it */
	rc_sub *s, *next;
	RC_TOPIC_FOREACH_SUB (t, s, next) {
		rc_conn *sc = container_of(s->subscriber, rc_conn, sub);
		if (sc == pub || s->pending)
			continue;
		rc_msg *m = sc->sub.v1 ? mv1 : mplain;
		if (m != NULL)
			fan_push(w, sc, m, s);
	}
	rc_topic_unpin(&w->topics, tid);
	fan_msg_done(w, mplain);
	fan_msg_done(w, mv1);
}

/* A frame built by copying into the arena: header, then prefix (may be empty), then payload. */
void fan_no_memory(rc_worker *w)
{
	rc_metric_inc(&w->metrics, RC_M_DROPPED(RC_DROP_NO_MEMORY));
}

/* A frame longer than a buffer: the frame header and prefix (head[0..n)), then the payload, from
 * the start of a POOL buffer of its own on over its chain. Returns the message (which holds the
 * buffer and so the chain), or NULL if the pool, the chains' cap or the slab has no room. */
static rc_msg *copy_large(rc_worker *w, const uint8_t *head, size_t n, const rc_span *payload,
                          uint32_t tid, uint64_t seq, uint8_t kind)
{
	rc_pool *pool = &w->mem.pool;
	int32_t b = rc_pool_alloc(pool);
	if (b < 0)
		return NULL;
	uint8_t *f = rc_pool_data(pool, (uint32_t)b);
	memcpy(f, head, n);
	rc_msg *m = NULL;
	if (rc_span_append_span(pool, (uint32_t)b, n, payload) == 0)
		m = rc_msg_new(&w->mem.msgs, f, (uint32_t)(n + payload->len), tid, seq, kind);
	rc_pool_unref(pool, (uint32_t)b); /* the message holds it now, or nobody does */
	return m;
}

/* The two ways a message is built; NULL (counted as a no_memory drop) when the pool, the chains'
 * cap or the descriptor slab is exhausted. */
rc_msg *fan_copy(rc_worker *w, uint8_t opcode, const uint8_t *prefix, size_t plen,
                 const rc_span *payload, uint32_t tid, uint64_t seq, uint8_t kind,
                 enum rc_copy_reason why)
{
	assert(plen <= RC_APP_PUB_HEADER_MAX && (plen == 0 || prefix != NULL));
	size_t total = plen + payload->len;
	size_t h = rc_frame_header_len(total, false);
	rc_msg *m = NULL;
	if (h + total <= w->mem.pool.buf_size) {
		uint8_t *f = rc_arena_alloc(&w->mem.arena, (uint32_t)(h + total));
		if (f != NULL) {
			rc_frame_header_encode(f, opcode, true, total, NULL);
			if (plen > 0) /* memcpy from NULL is undefined even for 0 bytes */
				memcpy(f + h, prefix, plen);
			rc_span_copy(payload, 0, f + h + plen, payload->len);
			m = rc_msg_new(&w->mem.msgs, f, (uint32_t)(h + total), tid, seq, kind);
		}
	} else if (total <= UINT32_MAX - RC_FRAME_HEADER_MAX) {
		uint8_t head[RC_FRAME_HEADER_MAX + RC_APP_PUB_HEADER_MAX];
		rc_frame_header_encode(head, opcode, true, total, NULL);
		if (plen > 0)
			memcpy(head + h, prefix, plen);
		m = copy_large(w, head, h + plen, payload, tid, seq, kind);
	}
	if (m == NULL) {
		fan_no_memory(w);
		return NULL;
	}
	if (why < RC_COPY_COUNT)
		rc_metric_inc(&w->metrics, RC_M_COPIES(why));
	return m;
}

/* A frame in place: the server header written just before payload, inside a buffer the caller
 * holds (the payload may go on over the buffer's chain). */
rc_msg *fan_in_place(rc_worker *w, uint8_t opcode, uint8_t *payload, size_t len, uint32_t tid,
                     uint64_t seq, uint8_t kind)
{
	uint8_t *f = rc_frame_header_prepend(payload, opcode, true, len);
	rc_msg *m = rc_msg_new(&w->mem.msgs, f, (uint32_t)(payload + len - f), tid, seq, kind);
	if (m == NULL)
		fan_no_memory(w);
	return m;
}

/* A notice to a ringcast.v1 client, n bytes of w->scratch, with the request id of the command it
 * answers (len 0: none). A client that does not read its notices is a slow consumer. */
void fan_notice(rc_worker *w, rc_conn *c, size_t n, rc_app_slice id)
{
	assert(c->route == ROUTE_WS && (c->flags & F_V1));
	const uint8_t *p = w->scratch;
	static_assert(RC_APP_NOTICE_MAX + RC_APP_ID_NOTICE_EXTRA <= RC_SCRATCH_BYTES,
	              "any notice with an id fits the scratch");
	if (n == 0)
		return;
	n = rc_app_notice_add_id(w->scratch, n, RC_SCRATCH_BYTES, id);
	if (n == 0)
		return;
	if (!conn_ctl_frame(w, c, RC_OPCODE_TEXT, p, n))
		conn_close(w, c, RC_CLOSE_SLOW_CONSUMER, RC_CLOSED_SLOW_CONSUMER, "notices not read");
}
