/* rc_xfer.c: messages between workers (issue 4).
 *
 * Sending. A publish on this worker is delivered here by rc_ws.c and, when other workers have
 * subscribers for its topic (the interest table), copied once into an rc_xmsg in this worker's
 * memory, a pointer to which goes into the mailbox of each of those workers. Nothing blocks:
 * a full mailbox loses the message for that worker (counted in handoffs_total{result=
 * "mailbox_full"}); so does a pool with no free buffer for the copy ({result="no_memory"}). A loss
 * is remembered per topic and, as soon as the mailbox has room, sent as a LOSS record ahead of
 * anything newer, so that the receiving worker skips the numbers and owes each subscriber a missed
 * notice (docs/protocol.md 6.5: the client is told exactly what it missed).
 *
 * Waking. After the loop turn's pushes, one rc_mailbox_notify per mailbox pushed to; if the
 * receiver had armed its wake flag (it is asleep, or about to be), one IORING_OP_MSG_RING from this
 * worker's ring posts a CQE to its ring, which ends its io_uring_enter. No eventfd, no syscall of
 * our own: the MSG_RING goes with the loop's next submit.
 *
 * Receiving. Once per loop turn, each incoming mailbox is drained (at most RC_XFER_BUDGET records
 * per mailbox per turn); each rc_xmsg is delivered (rc_ws.c: numbered and built in this worker's
 * own memory) and released at once, its holds given back in one atomic per run of records from
 * the same buffer. The last release sends the buffer home through the owner pool's lock-free
 * remote-free path (core/rc_xmsg.h).
 */
#include "rc_worker_int.h"

#include <string.h>

/* Remember n messages of a topic lost on the way to worker `to`. */
static void lose(rc_worker *w, uint32_t to, const uint8_t *topic, size_t tlen, uint32_t n,
                 enum rc_handoff_result why)
{
	rc_metric_add(&w->metrics, RC_M_HANDOFFS(why), n);
	xfer_out *o = &w->xout[to];
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
		w->xloss = true;
		return;
	}
	/* More topics lost messages to one worker than we remember before its mailbox drained: its
	 * subscribers see a gap that no missed notice explains. Said loudly, never silently. */
	if (w->lost_untold == 0 || (w->lost_untold & (w->lost_untold - 1)) == 0)
		rc_log(RC_LOG_WARN, "handoff_loss_untold",
		       "to_worker=%u lost_untold=%llu hint=\"a "
		       "worker falls behind: raise --mailbox-records, or spread publishers\"",
		       to, (unsigned long long)w->lost_untold + n);
	w->lost_untold += n;
}

static bool push(rc_worker *w, uint32_t to, rc_xmsg *x)
{
	rc_mail m = { .a = (uint64_t)(uintptr_t)x, .b = 0 };
	if (!rc_mailbox_push(rc_group_mail(w->group, w->index, to), &m))
		return false;
	w->xout[to].notify = true;
	return true;
}

/* Send the remembered losses for worker `to`, oldest first. False if some remain (no room, or no
 * memory): then nothing newer may go either, or the receiver would number it before the loss. */
static bool tell_losses(rc_worker *w, uint32_t to)
{
	xfer_out *o = &w->xout[to];
	uint32_t i = 0;
	for (; i < o->nloss; i++) {
		xfer_loss *l = &o->loss[i];
		rc_xmsg *x =
		        rc_xmsg_new(&w->xarena, RC_XMSG_LOSS, false, l->name, l->len, NULL, 0, l->count, 1);
		if (x == NULL)
			break;
		if (!push(w, to, x)) {
			rc_xmsg_release(&w->xarena, x->buf, 1, true);
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
                  const uint8_t *payload, size_t len)
{
	rc_group *g = w->group;
	if (g->n == 1)
		return;
	uint64_t mask = rc_interest_get(&g->interest, hash) & ~w->interest.bit;
	if (mask == 0)
		return;
	uint32_t holders = (uint32_t)__builtin_popcountll(mask);
	rc_xmsg *x =
	        rc_xmsg_new(&w->xarena, RC_XMSG_PUBLISH, text, topic, tlen, payload, len, 1, holders);
	while (mask != 0) {
		uint32_t to = (uint32_t)__builtin_ctzll(mask);
		mask &= mask - 1;
		if (x == NULL) {
			lose(w, to, topic, tlen, 1, RC_HANDOFF_NO_MEMORY);
			continue;
		}
		if (w->xout[to].nloss == 0 || tell_losses(w, to)) {
			if (push(w, to, x)) {
				rc_metric_inc(&w->metrics, RC_M_HANDOFFS(RC_HANDOFF_SENT));
				continue;
			}
		}
		rc_xmsg_release(&w->xarena, x->buf, 1, true);
		lose(w, to, topic, tlen, 1, RC_HANDOFF_MAILBOX_FULL);
	}
}

void xfer_wake(rc_worker *w, uint32_t to, uint64_t what, uint32_t arg)
{
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->ring);
	io_uring_prep_msg_ring(sqe, w->group->ring_fd[to], arg, what, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_MSG_RING, 0, RC_UD_WORKER));
	rc_metric_inc(&w->metrics, RC_M_WAKEUPS);
}

void xfer_flush(rc_worker *w)
{
	rc_group *g = w->group;
	if (g->n == 1)
		return;
	if (w->xloss) {
		w->xloss = false;
		for (uint32_t to = 0; to < g->n; to++)
			if (w->xout[to].nloss > 0 && !tell_losses(w, to))
				w->xloss = true;
	}
	for (uint32_t to = 0; to < g->n; to++) {
		xfer_out *o = &w->xout[to];
		if (!o->notify)
			continue;
		o->notify = false;
		if (rc_mailbox_notify(rc_group_mail(g, w->index, to)))
			xfer_wake(w, to, rc_ud(RC_IO_WAKE, 0, RC_UD_WORKER), 0);
	}
}

uint32_t xfer_receive(rc_worker *w)
{
	rc_group *g = w->group;
	w->xin_more = false;
	if (g->n == 1)
		return 0;
	uint32_t taken = 0;
	rc_mail recs[RC_XFER_POP];
	for (uint32_t from = 0; from < g->n; from++) {
		if (from == w->index)
			continue;
		rc_mailbox *mb = rc_group_mail(g, from, w->index);
		rc_xarena *owner = &g->workers[from]->xarena;
		uint32_t budget = RC_XFER_BUDGET, k;
		while (budget > 0 && (k = rc_mailbox_pop_many(
		                              mb, recs, budget < RC_XFER_POP ? budget : RC_XFER_POP)) > 0) {
			budget -= k;
			taken += k;
			rc_metric_add(&w->metrics, RC_M_HANDOFFS_RECEIVED, k);
			uint32_t buf = RC_POOL_NONE, holds = 0;
			for (uint32_t i = 0; i < k; i++) {
				const rc_xmsg *x = (const rc_xmsg *)(uintptr_t)recs[i].a;
				if (x->kind == RC_XMSG_PUBLISH)
					ws_deliver(w, rc_xmsg_topic(x), x->topic_len, x->text, rc_xmsg_payload(x),
					           x->len);
				else
					ws_lost(w, rc_xmsg_topic(x), x->topic_len, x->count);
				if (x->buf != buf && holds > 0) {
					rc_xmsg_release(owner, buf, holds, false);
					holds = 0;
				}
				buf = x->buf;
				holds++;
			}
			rc_xmsg_release(owner, buf, holds, false);
		}
		if (budget == 0)
			w->xin_more = true;
	}
	return taken;
}

bool xfer_idle(rc_worker *w)
{
	rc_group *g = w->group;
	for (uint32_t from = 0; from < g->n; from++)
		if (from != w->index && !rc_mailbox_empty(rc_group_mail(g, from, w->index)))
			return false;
	return true;
}
