/* rc_xfer.c: hand-offs between workers (rc_xfer.h). */
#include "rc_xfer.h"

#include <assert.h>
#include <string.h>

bool xfer_push(rc_worker *w, uint32_t to, rc_xmsg *x)
{
	assert(to != w->index && x != NULL);
	rc_mail m = { .a = (uint64_t)(uintptr_t)x, .b = 0 };
	rc_mailbox *mb = rc_group_mail(w->group, w->index, to);
	if (!rc_mailbox_push(mb, &m))
		return false;
	/* Notified at once, not at the end of the loop turn: the wake-up then goes with the first
	 * submit of this turn's flush instead of after the whole fan-out, and a receiver whose
	 * safety check fires finds no record that was pushed but not yet announced. */
	if (rc_mailbox_notify(mb))
		xfer_wake(w, to, rc_ud(RC_IO_WAKE, 0, RC_UD_WORKER), 0);
	return true;
}

/* Remember that numbered message m was lost on its way to worker `to`. */
static void lose(rc_worker *w, uint32_t to, const xfer_msg *m)
{
	assert(to != w->index && to < w->group->n && m->tlen <= RC_APP_TOPIC_MAX && m->seq >= 1);
	xfer_out *o = &w->xfer.out[to];
	for (uint32_t i = 0; i < o->nloss; i++) {
		xfer_loss *l = &o->loss[i];
		if (l->len == m->tlen && memcmp(l->name, m->topic, m->tlen) == 0) {
			l->seq = m->seq; /* numbers only grow within an epoch; a new epoch replaces */
			l->epoch = m->epoch;
			return;
		}
	}
	if (o->nloss < RC_XFER_LOSS_MAX) {
		xfer_loss *l = &o->loss[o->nloss++];
		*l = (xfer_loss){ .seq = m->seq, .epoch = m->epoch, .len = (uint8_t)m->tlen };
		memcpy(l->name, m->topic, m->tlen);
		w->xfer.loss = true;
		return;
	}
	/* More topics lost messages to one worker than we remember before its mailbox drained: its
	 * subscribers are told by the gap the topic's next message shows, not before. Said loudly. */
	if (w->xfer.lost_untold == 0 || (w->xfer.lost_untold & (w->xfer.lost_untold - 1)) == 0)
		rc_log(RC_LOG_WARN, "handoff_loss_untold",
		       "to_worker=%u lost_untold=%llu hint=\"a worker falls behind: raise "
		       "--mailbox-records, or spread publishers\"",
		       to, (unsigned long long)w->xfer.lost_untold + 1);
	w->xfer.lost_untold++;
}

/* Send the remembered losses for worker `to` as SKIP records, oldest first. */
static void tell_losses(rc_worker *w, uint32_t to)
{
	xfer_out *o = &w->xfer.out[to];
	assert(o->nloss <= RC_XFER_LOSS_MAX);
	rc_span none = rc_span_bytes(NULL, 0);
	uint32_t i = 0;
	for (; i < o->nloss; i++) {
		xfer_loss *l = &o->loss[i];
		rc_xmsg *x = rc_xmsg_new(&w->xfer.xarena, RC_XMSG_SKIP, false, l->name, l->len, &none, 1);
		if (x == NULL)
			break;
		x->seq = l->seq;
		x->epoch = l->epoch;
		if (!xfer_push(w, to, x)) {
			rc_xmsg_release(&w->xfer.xarena, x->buf, 1, true);
			break;
		}
	}
	if (i > 0) {
		memmove(o->loss, o->loss + i, (o->nloss - i) * sizeof o->loss[0]);
		o->nloss -= i;
	}
}

void xfer_flush(rc_worker *w)
{
	rc_group *g = w->group;
	assert(g->n > 1);
	if (!w->xfer.loss)
		return;
	w->xfer.loss = false;
	for (uint32_t to = 0; to < g->n; to++) {
		if (w->xfer.out[to].nloss > 0)
			tell_losses(w, to);
		if (w->xfer.out[to].nloss > 0)
			w->xfer.loss = true;
	}
}

/* One copy of m, of this kind, for the workers of mask (not this one). */
static void send_to(rc_worker *w, enum rc_xmsg_kind kind, const xfer_msg *m, uint64_t mask)
{
	assert(mask != 0 && !(mask & w->xfer.interest.bit));
	uint32_t holders = (uint32_t)__builtin_popcountll(mask);
	rc_xmsg *x =
	        rc_xmsg_new(&w->xfer.xarena, kind, m->text, m->topic, m->tlen, m->payload, holders);
	if (x == NULL) {
		rc_metric_add(&w->metrics, RC_M_HANDOFFS(RC_HANDOFF_NO_MEMORY), holders);
		while (kind == RC_XMSG_PUBLISH && mask != 0) {
			lose(w, (uint32_t)__builtin_ctzll(mask), m);
			mask &= mask - 1;
		}
		return;
	}
	x->seq = m->seq;
	x->epoch = m->epoch;
	x->origin = m->origin;
	x->pub_ns = m->pub_ns;
	while (mask != 0) {
		uint32_t to = (uint32_t)__builtin_ctzll(mask);
		mask &= mask - 1;
		if (xfer_push(w, to, x)) {
			rc_metric_inc(&w->metrics, RC_M_HANDOFFS(RC_HANDOFF_SENT));
			continue;
		}
		rc_xmsg_release(&w->xfer.xarena, x->buf, 1, true);
		rc_metric_inc(&w->metrics, RC_M_HANDOFFS(RC_HANDOFF_MAILBOX_FULL));
		if (kind == RC_XMSG_PUBLISH)
			lose(w, to, m);
	}
}

void xfer_forward(rc_worker *w, const xfer_msg *m)
{
	uint32_t owner = xfer_owner(w->group, m->hash);
	assert(owner != w->index && m->seq == 0);
	send_to(w, RC_XMSG_FORWARD, m, (uint64_t)1 << owner);
}

void xfer_publish(rc_worker *w, const xfer_msg *m)
{
	rc_group *g = w->group;
	assert(xfer_owner(g, m->hash) == w->index && m->seq >= 1 && m->epoch != 0);
	if (g->n == 1)
		return;
	uint64_t mask = rc_interest_get(&g->interest, m->hash) & ~w->xfer.interest.bit;
	if (mask != 0)
		send_to(w, RC_XMSG_PUBLISH, m, mask);
}

uint32_t xfer_room(rc_worker *w, uint32_t to, uint32_t want)
{
	assert(to != w->index && to < w->group->n);
	return rc_mailbox_room(rc_group_mail(w->group, w->index, to), want);
}

bool xfer_watched(const rc_worker *w, uint32_t hash)
{
	const rc_group *g = w->group;
	return g->n > 1 && (rc_interest_get(&g->interest, hash) & ~w->xfer.interest.bit) != 0;
}

void xfer_wake(rc_worker *w, uint32_t to, uint64_t what, uint32_t arg)
{
	assert(to < w->group->n && to != w->index);
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_msg_ring(sqe, w->group->ring_fd[to], arg, what, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_MSG_RING, 0, RC_UD_WORKER));
	rc_metric_inc(&w->metrics, RC_M_WAKEUPS);
}

uint32_t xfer_take(rc_worker *w, uint32_t from, const rc_xmsg **x, uint32_t cap)
{
	assert(from != w->index && from < w->group->n && cap <= RC_XFER_POP);
	rc_mail recs[RC_XFER_POP];
	uint32_t k = rc_mailbox_pop_many(rc_group_mail(w->group, from, w->index), recs, cap);
	for (uint32_t i = 0; i < k; i++)
		x[i] = (const rc_xmsg *)(uintptr_t)recs[i].a;
	return k;
}

void xfer_release(rc_worker *w, uint32_t from, const rc_xmsg *const *x, uint32_t n)
{
	assert(from != w->index && from < w->group->n);
	rc_xarena *owner = &w->group->workers[from]->xfer.xarena;
	uint32_t buf = RC_POOL_NONE, holds = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (x[i]->buf != buf && holds > 0) {
			rc_xmsg_release(owner, buf, holds, false);
			holds = 0;
		}
		buf = x[i]->buf;
		holds++;
	}
	if (holds > 0)
		rc_xmsg_release(owner, buf, holds, false);
}

bool xfer_idle(rc_worker *w)
{
	rc_group *g = w->group;
	for (uint32_t from = 0; from < g->n; from++)
		if (from != w->index && !rc_mailbox_empty(rc_group_mail(g, from, w->index)))
			return false;
	return true;
}
