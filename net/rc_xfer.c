/* rc_xfer.c: hand-offs between workers (rc_xfer.h). */
#include "rc_xfer.h"

#include <assert.h>
#include <string.h>

/* Remember n messages of a topic lost on the way to worker `to`. */
static void lose(rc_worker *w, uint32_t to, const uint8_t *topic, size_t tlen, uint32_t n,
                 enum rc_handoff_result why)
{
	assert(to != w->index && to < w->group->n && tlen <= RC_APP_TOPIC_MAX && n > 0);
	rc_metric_add(&w->metrics, RC_M_HANDOFFS(why), n);
	xfer_out *o = &w->xfer.out[to];
	for (uint32_t i = 0; i < o->nloss; i++) {
		xfer_loss *l = &o->loss[i];
		if (l->len == tlen && memcmp(l->name, topic, tlen) == 0) {
			l->count = l->count + n >= l->count ? l->count + n : UINT32_MAX;
			return;
		}
	}
	if (o->nloss < RC_XFER_LOSS_MAX) {
		xfer_loss *l = &o->loss[o->nloss++];
		l->count = n;
		l->len = (uint8_t)tlen;
		memcpy(l->name, topic, tlen);
		w->xfer.loss = true;
		return;
	}
	/* More topics lost messages to one worker than we remember before its mailbox drained: its
	 * subscribers see a gap that no missed notice explains. Said loudly, never silently. */
	if (w->xfer.lost_untold == 0 || (w->xfer.lost_untold & (w->xfer.lost_untold - 1)) == 0)
		rc_log(RC_LOG_WARN, "handoff_loss_untold",
		       "to_worker=%u lost_untold=%llu hint=\"a "
		       "worker falls behind: raise --mailbox-records, or spread publishers\"",
		       to, (unsigned long long)w->xfer.lost_untold + n);
	w->xfer.lost_untold += n;
}

static bool push(rc_worker *w, uint32_t to, rc_xmsg *x)
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

/* Send the remembered losses for worker `to`, oldest first. False if some remain (no room, or no
 * memory): then nothing newer may go either, or the receiver would number it before the loss. */
static bool tell_losses(rc_worker *w, uint32_t to)
{
	xfer_out *o = &w->xfer.out[to];
	assert(o->nloss <= RC_XFER_LOSS_MAX);
	uint32_t i = 0;
	for (; i < o->nloss; i++) {
		xfer_loss *l = &o->loss[i];
		rc_xmsg *x = rc_xmsg_new(&w->xfer.xarena, RC_XMSG_LOSS, false, l->name, l->len, NULL,
		                         l->count, 1);
		if (x == NULL)
			break;
		if (!push(w, to, x)) {
			rc_xmsg_release(&w->xfer.xarena, x->buf, 1, true);
			break;
		}
	}
	if (i > 0) {
		memmove(o->loss, o->loss + i, (o->nloss - i) * sizeof o->loss[0]);
		o->nloss -= i;
	}
	return o->nloss == 0;
}

void xfer_publish(rc_worker *w, const uint8_t *topic, size_t tlen, uint32_t hash, bool text,
                  const rc_span *payload)
{
	rc_group *g = w->group;
	if (g->n == 1)
		return;
	uint64_t mask = rc_interest_get(&g->interest, hash) & ~w->xfer.interest.bit;
	if (mask == 0)
		return;
	uint32_t holders = (uint32_t)__builtin_popcountll(mask);
	rc_xmsg *x =
	        rc_xmsg_new(&w->xfer.xarena, RC_XMSG_PUBLISH, text, topic, tlen, payload, 1, holders);
	if (x != NULL)
		x->pub_ns = w->time.turn_ns;
	while (mask != 0) {
		uint32_t to = (uint32_t)__builtin_ctzll(mask);
		mask &= mask - 1;
		if (x == NULL) {
			lose(w, to, topic, tlen, 1, RC_HANDOFF_NO_MEMORY);
			continue;
		}
		if (w->xfer.out[to].nloss == 0 || tell_losses(w, to)) {
			if (push(w, to, x)) {
				rc_metric_inc(&w->metrics, RC_M_HANDOFFS(RC_HANDOFF_SENT));
				continue;
			}
		}
		rc_xmsg_release(&w->xfer.xarena, x->buf, 1, true);
		lose(w, to, topic, tlen, 1, RC_HANDOFF_MAILBOX_FULL);
	}
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

void xfer_flush(rc_worker *w)
{
	rc_group *g = w->group;
	assert(g->n > 1);
	if (w->xfer.loss) {
		w->xfer.loss = false;
		for (uint32_t to = 0; to < g->n; to++)
			if (w->xfer.out[to].nloss > 0 && !tell_losses(w, to))
				w->xfer.loss = true;
	}
}

uint32_t xfer_take(rc_worker *w, uint32_t from, const rc_xmsg **x, uint32_t cap)
{
	assert(from != w->index && from < w->group->n && cap <= RC_XFER_POP);
	rc_mail recs[RC_XFER_POP];
	uint32_t k = rc_mailbox_pop_many(rc_group_mail(w->group, from, w->index), recs, cap);
	for (uint32_t i = 0; i < k; i++)
		x[i] = (const rc_xmsg *)(uintptr_t)recs[i].a;
	if (k > 0)
		rc_metric_add(&w->metrics, RC_M_HANDOFFS_RECEIVED, k);
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
