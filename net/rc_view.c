/* rc_view.c: a worker's answer to the admin view (rc_view.h). */
#include "rc_view.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rc_clock.h"
#include "rc_conn.h"
#include "rc_xfer.h"

int view_init(rc_worker *w)
{
	w->view.conn = calloc(w->conns.nslots, sizeof *w->view.conn);
	return w->view.conn != NULL ? 0 : -ENOMEM;
}

void view_fini(rc_worker *w)
{
	free(w->view.conn);
	w->view.conn = NULL;
}

view_ask *view_ask_new(uint32_t conns_cap, uint32_t topics_cap)
{
	size_t size = sizeof(view_ask) + (size_t)conns_cap * sizeof(view_conn_rec) +
	              (size_t)topics_cap * sizeof(view_topic_rec);
	/* malloc, not calloc: a large one is fresh pages from the kernel, which only the records
	 * written touch */
	view_ask *a = malloc(size);
	if (a == NULL)
		return NULL;
	memset(a, 0, sizeof *a);
	atomic_init(&a->state, VIEW_POSTED);
	a->conns_cap = conns_cap;
	a->topics_cap = topics_cap;
	a->conns = (view_conn_rec *)(a + 1);
	a->topics = (view_topic_rec *)(a->conns + conns_cap);
	return a;
}

void view_ask_free(view_ask *a)
{
	free(a);
}

static void touch(void *p, size_t len)
{
	volatile uint8_t *b = p;
	for (size_t at = 0; at < len; at += 4096)
		b[at] = 0;
	if (len > 0)
		b[len - 1] = 0;
}

void view_ask_touch(view_ask *a, uint32_t conns, uint32_t topics)
{
	touch(a->conns, (size_t)(conns < a->conns_cap ? conns : a->conns_cap) * sizeof *a->conns);
	touch(a->topics, (size_t)(topics < a->topics_cap ? topics : a->topics_cap) * sizeof *a->topics);
}

static void fill_conn(rc_worker *w, const rc_conn *c, uint64_t now, view_conn_rec *r)
{
	uint32_t slot = conn_slot(w, c);
	const view_conn *v = &w->view.conn[slot];
	const limit_conn *lc = &w->limit.conn[slot];
	*r = (view_conn_rec){
		.age_ns = now > v->accept_ns ? now - v->accept_ns : 0,
		.idle_ns = now > v->recv_ns ? now - v->recv_ns : 0,
		.bytes_in = v->bytes_in,
		.bytes_out = v->bytes_out,
		.dropped = v->dropped,
		.id = c->id,
		.queue_msgs = rc_outq_count(&c->q),
		.queue_bytes = rc_outq_bytes(&c->q),
		.subs = c->sub.subs_len,
		.publish = c->pub_topic,
		.port = lc->port,
		.family = lc->family,
		.state = c->state,
		.route = c->route,
		.v1 = (c->flags & F_V1) != 0,
		.tls = (c->flags & F_TLS) != 0,
	};
	memcpy(r->peer, lc->peer, sizeof r->peer);
	uint32_t k = 0;
	for (const rc_sub *s = c->sub.subs; s != NULL && k < RC_APP_TOPICS_MAX; s = s->sub_next)
		r->topic[k++] = s->topic;
	r->listed = (uint8_t)k;
}

static void fill_conns(rc_worker *w, view_ask *a, uint64_t now)
{
	for (uint32_t i = 0; i < w->conns.nslots; i++) {
		const rc_conn *c = &w->conns.slots[i];
		if (c->state == CS_FREE)
			continue;
		if (a->conns_n < a->conns_cap)
			fill_conn(w, c, now, &a->conns[a->conns_n++]);
		a->conns_total++;
	}
}

/* By increasing id. Ids are handed out from a free list that starts in index order and takes
 * back freed ids first (rc_topic.c), so every id ever used is below the high-water mark of live
 * topics: the walk stops there instead of going through topics-max entries. */
static void fill_topics(rc_worker *w, view_ask *a)
{
	rc_topics *ts = &w->topics;
	for (uint32_t id = 0; id < ts->topics_hwm && id < ts->topics_max; id++) {
		const rc_topic *t = rc_topic_get(ts, id);
		if (t == NULL)
			continue;
		a->topics_total++;
		if (a->topics_n == a->topics_cap)
			continue;
		view_topic_rec *r = &a->topics[a->topics_n++];
		*r = (view_topic_rec){ .messages = t->next_seq > 0 ? t->next_seq - 1 : 0,
			                   .epoch = t->epoch,
			                   .id = t->id,
			                   .subs_plain = t->subs_plain,
			                   .subs_v1 = t->subs_v1,
			                   .owner = xfer_owner(w->group, t->hash) == w->index,
			                   .name_len = t->name_len };
		memcpy(r->name, t->name, t->name_len);
	}
}

/* The ring of the last closes, oldest first. */
static void fill_closes(rc_worker *w, view_ask *a)
{
	uint64_t total = w->view.closes_total;
	uint32_t n = total < RC_VIEW_CLOSES ? (uint32_t)total : RC_VIEW_CLOSES;
	for (uint32_t i = 0; i < n; i++)
		a->closes[i] = w->view.closes[(total - n + i) % RC_VIEW_CLOSES];
	a->closes_n = n;
	a->closes_total = total;
}

void view_fill(rc_worker *w, view_ask *a)
{
	assert(a->conns_n == 0 && a->topics_n == 0);
	uint64_t now = rc_now_ns();
	a->worker = w->index;
	a->now_ns = now;
	fill_conns(w, a, now);
	fill_topics(w, a);
	fill_closes(w, a);
}
