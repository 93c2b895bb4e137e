/* fanout_msg.c: the messages of the fan-out engine (fanout_int.h).
 *
 * Every payload starts with a 24-byte head: intended send time (CLOCK_MONOTONIC ns; the server and
 * the bench share the machine), sequence number (per publisher, from 1; with v1 per publisher and
 * topic, so that a receiver can tell a gap on one topic from messages sent on others), publisher id
 * and a random nonce of this run (so messages of anyone else on a shared broadcast server are
 * recognised and counted as foreign). With --text the payload is TEXT and the head is 48 hex
 * digits. Receivers track, per publisher (and topic), the next sequence number they expect: a
 * jump is a gap (messages missed), a step back a duplicate or out-of-order delivery. With v1 they
 * also check the server's per-topic sequence numbers against its `missed` notices
 * (docs/protocol.md 6.5).
 *
 * This file is the hot path: conn_feed runs for every receive completion, stream_recv for every
 * message; keep them doing the same work (docs/ringcast-bench.md, "Internals"). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "fanout_int.h"
#include "rc_app.h"
#include "rc_mask.h"
#include "sys.h"
#include "topics.h"

#define WIN_LEFT_MASK ((1ull << WIN_TAG_SHIFT) - 1)
#define WIN_TAG_MASK ((1ull << (64 - WIN_TAG_SHIFT)) - 1)
#define PIECE_STORE_NS (1000ull * 1000) /* rx_piece: one shared store per ms per thread at most */

struct head {
	uint64_t ts_ns, seq;
	uint32_t pub, nonce;
};

static void head_encode(const struct fan *f, uint8_t *out, const struct head *h)
{
	const struct opts *o = f->o;
	uint8_t b[HEAD_BIN_LEN];
	memcpy(b, &h->ts_ns, 8);
	memcpy(b + 8, &h->seq, 8);
	memcpy(b + 16, &h->pub, 4);
	memcpy(b + 20, &h->nonce, 4);
	if (!o->text) {
		memcpy(out, b, sizeof b);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof b; i++) {
		out[2 * i] = (uint8_t)hex[b[i] >> 4];
		out[2 * i + 1] = (uint8_t)hex[b[i] & 15];
	}
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a head and check it is ours. False for anything else (a foreign message). */
static bool head_decode(const struct fan *f, const uint8_t *in, struct head *h)
{
	const struct opts *o = f->o;
	uint8_t b[HEAD_BIN_LEN];
	if (o->text) {
		for (size_t i = 0; i < sizeof b; i++) {
			int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return false;
			b[i] = (uint8_t)(hi << 4 | lo);
		}
		in = b;
	}
	memcpy(&h->ts_ns, in, 8);
	memcpy(&h->seq, in + 8, 8);
	memcpy(&h->pub, in + 16, 4);
	memcpy(&h->nonce, in + 20, 4);
	return h->nonce == f->b->nonce && h->pub < o->pubs && h->seq != 0;
}

/* A receiver expects one stream of sequence numbers per (topic it subscribes to, publisher): one
 * topic but v1, and with echo only its own publisher's. */
static bool rx_expects(const struct fan *f, const struct conn *c, uint32_t pub)
{
	return f->echo ? (int32_t)pub == c->pub_id : (int32_t)pub != c->pub_id;
}

static uint64_t *rx_next(struct worker *w, const struct conn *c, uint32_t slot, uint32_t pub)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	assert(c->rx_row >= 0 && slot < f->kmax && pub < o->pubs);
	if (f->echo)
		return &w->seq_next[c->rx_row];
	return &w->seq_next[((size_t)c->rx_row * f->kmax + slot) * o->pubs + pub];
}

static uint32_t rx_slots(const struct fan *f, const struct conn *c)
{
	return f->v1 ? c->ntopics : 1;
}

/* The topic of slot `slot` of receiver c (0 unless v1). */
static uint32_t rx_topic(const struct fan *f, const struct conn *c, uint32_t slot)
{
	return f->v1 ? c->topics[slot] : 0;
}

/* The last sequence number publisher `pub` sent on `topic`. */
static uint64_t stream_last(const struct fan *f, uint32_t pub, uint32_t topic)
{
	const struct opts *o = f->o;
	if (f->v1)
		return atomic_load_explicit(&f->stream_seq[(size_t)pub * o->topics + topic],
		                            memory_order_acquire);
	return atomic_load_explicit(&f->pub[pub].seq, memory_order_acquire);
}

static void win_flush_slot(struct worker *w, uint32_t pub, uint32_t i)
{
	struct fan *f = w->f;
	struct winloc *wl = &w->win[pub];
	uint32_t k = wl->cnt[i];
	if (k == 0)
		return;
	wl->cnt[i] = 0;
	uint64_t tag = wl->seq[i] & WIN_TAG_MASK;
	_Atomic uint64_t *a = &f->pub[pub].slot[i];
	uint64_t v = atomic_load_explicit(a, memory_order_relaxed), nv;
	do {
		if (v >> WIN_TAG_SHIFT != tag)
			return; /* the slot moved on (a stall gave up on it): the decrement is stale */
		uint64_t left = v & WIN_LEFT_MASK;
		nv = v - (k < left ? k : left);
	} while (!atomic_compare_exchange_weak_explicit(a, &v, nv, memory_order_release,
	                                                memory_order_relaxed));
}

/* A receiver moved past sequence numbers from..to of publisher `pub` (delivered, or skipped over
 * in a gap): count it off their window slots. Only the last f->win numbers can still be in flight,
 * and a slot is reused only once its previous number left the window (win <= slots). */
static void win_pass(struct worker *w, uint32_t pub, uint64_t from, uint64_t to)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	if (!o->max || from > to)
		return;
	if (to - from >= f->win)
		from = to - f->win + 1;
	struct winloc *wl = &w->win[pub];
	for (uint64_t s = from; s <= to; s++) {
		uint32_t i = (uint32_t)s & (f->slots - 1);
		if (wl->cnt[i] != 0 && wl->seq[i] != s)
			win_flush_slot(w, pub, i);
		wl->seq[i] = s;
		wl->cnt[i]++;
		if (!wl->listed[i]) {
			wl->listed[i] = 1;
			wl->touched[wl->ntouched++] = i;
		}
	}
}

void win_flush(struct worker *w)
{
	const struct opts *o = w->f->o;
	if (!o->max)
		return;
	for (uint32_t p = 0; p < o->pubs; p++) {
		struct winloc *wl = &w->win[p];
		for (uint32_t j = 0; j < wl->ntouched; j++) {
			uint32_t i = wl->touched[j];
			win_flush_slot(w, p, i);
			wl->listed[i] = 0;
		}
		wl->ntouched = 0;
	}
}

/* --rate: when message `index` (0-based) of publisher `pub` is due. Publishers take turns, so the
 * aggregate stream is evenly spaced at 1/rate. */
uint64_t intended_ns(const struct fan *f, uint32_t pub, uint64_t index)
{
	const struct opts *o = f->o;
	return f->tl.t0 + (uint64_t)(((double)index * o->pubs + pub) * f->period_ns);
}

/* --rate: the first message index of publisher `pub` due at or after t. */
static uint64_t first_index_due(const struct fan *f, int32_t pub, uint64_t t)
{
	uint64_t lo = 0, hi = 1;
	while (intended_ns(f, (uint32_t)pub, hi) < t)
		hi *= 2;
	while (lo < hi) { /* the answer is in [lo, hi] */
		uint64_t mid = lo + (hi - lo) / 2;
		if (intended_ns(f, (uint32_t)pub, mid) < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint32_t size_pick(struct worker *w)
{
	const struct opts *o = w->f->o;
	if (o->size_min == o->size_max)
		return o->size_min;
	return o->size_min + (uint32_t)(xorshift64(&w->rng) % (o->size_max - o->size_min + 1));
}

/* Append one message of publisher c: a plain frame, or with v1 a PUBLISH on a Zipf-drawn topic
 * whose head carries the publisher's sequence number on that topic instead of `seq`. */
static void put_message(struct worker *w, struct conn *c, uint64_t seq, uint64_t ts, uint64_t now)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	uint32_t topic = f->v1 ? topics_pick(&f->b->topics, &w->rng) : 0, size = size_pick(w);
	uint32_t env = f->v1 ? (uint32_t)rc_app_pub_header_len(f->b->topics.name_len[topic]) : 0;
	uint32_t len = env + size;
	uint8_t *out = c->tx + c->tx_len;
	size_t h = rc_frame_header_len(len, true);
	uint64_t r = xorshift64(&w->rng);
	uint8_t key[4];
	memcpy(key, &r, 4);
	uint8_t *pl = out + h; /* the payload is built in place, then framed and masked there */
	uint32_t live, live_slow;
	if (f->v1) {
		rc_app_pub_encode_header(pl, o->text ? RC_APP_FLAG_TEXT : 0,
		                         (const uint8_t *)f->b->topics.name[topic],
		                         f->b->topics.name_len[topic], 0);
		seq = ++c->tseq[topic];
		atomic_store_explicit(&f->stream_seq[(size_t)c->pub_id * o->topics + topic], seq,
		                      memory_order_release);
		live = atomic_load_explicit(&f->topic_live[topic], memory_order_relaxed);
		live_slow = atomic_load_explicit(&f->topic_live_slow[topic], memory_order_relaxed);
	} else {
		live = atomic_load_explicit(&f->pub[c->pub_id].live, memory_order_relaxed);
		live_slow = atomic_load_explicit(&f->pub[c->pub_id].live_slow, memory_order_relaxed);
	}
	memcpy(pl + env, f->fill, size);
	struct head hd = { .ts_ns = ts, .seq = seq, .pub = (uint32_t)c->pub_id, .nonce = f->b->nonce };
	head_encode(f, pl + env, &hd);
	c->tx_len += (uint32_t)rc_frame_encode_masked(out, f->opcode, pl, len, key);
	assert(c->tx_len <= c->tx_cap);
	w->st.published_total++;
	if (ts >= f->tl.t_measure && ts < f->tl.t_end) {
		w->st.published++;
		w->st.expected += live - live_slow;
		w->st_slow.expected += live_slow;
		/* Send lag: the bench's own lateness (its loop, or a send held up by the server). It is
		 * inside the latency already; reported apart to tell whose it is. */
		uint64_t lag = now > ts ? now - ts : 0;
		w->st.lag_sum_ns += lag;
		if (lag > w->st.lag_max_ns)
			w->st.lag_max_ns = lag;
	}
}

static void pub_stop(const struct fan *f, struct conn *c)
{
	if (c->stopped)
		return;
	c->stopped = true;
	atomic_store_explicit(&f->pub[c->pub_id].stopped, true, memory_order_release);
}

/* --max: move the window base past every message all receivers have passed; give up on the oldest
 * one after --stall-ms without progress (a receiver the server dropped without a close). Progress
 * is the base moving, or a piece of an unfinished message arriving anywhere: one large message to
 * many receivers may take longer than --stall-ms, and giving up on it would only put more than
 * --window messages in flight. A dropped receiver still stops it: the others soon have the whole
 * window and nothing more arrives. */
static void win_advance(struct worker *w, struct conn *c, uint64_t now)
{
	struct fan *f = w->f;
	struct pub_shared *ps = &f->pub[c->pub_id];
	uint64_t base0 = c->win_base;
	while (c->win_base <= c->seq_sent) {
		uint64_t v =
		        atomic_load_explicit(&ps->slot[c->win_base & (f->slots - 1)], memory_order_acquire);
		if (v != (c->win_base & WIN_TAG_MASK) << WIN_TAG_SHIFT)
			break;
		c->win_base++;
	}
	if (c->win_base != base0 || c->win_base > c->seq_sent) {
		c->win_moved_ns = now;
		return;
	}
	uint64_t piece = atomic_load_explicit(&f->rx_piece_ns, memory_order_relaxed);
	if (piece > c->win_moved_ns) /* another thread's clock may be ahead of `now` */
		c->win_moved_ns = piece < now ? piece : now;
	if (now - c->win_moved_ns > f->stall_ns) {
		c->win_base++;
		c->win_moved_ns = now;
		w->st.stalls++;
	}
}

/* Put every message due on publisher c into one send. */
void pub_fill(struct worker *w, struct conn *c, uint64_t now)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	if (c->send_inflight || c->state != CS_OPEN)
		return;
	put_ctl(w, c);
	struct pub_shared *ps = &f->pub[c->pub_id];
	uint64_t seq = c->seq_sent;
	bool stop = false;
	if (!c->close_sent && !c->stopped && now >= f->tl.t0) {
		uint32_t live = atomic_load_explicit(&ps->live, memory_order_relaxed);
		if (!o->max) {
			for (;;) {
				uint64_t t = intended_ns(f, (uint32_t)c->pub_id, seq);
				if (t >= f->tl.t_end) {
					stop = true;
					break;
				}
				if (t > now || c->tx_len + f->frame_max > c->tx_cap)
					break;
				put_message(w, c, seq + 1, t, now);
				seq++;
			}
		} else if (now >= f->tl.t_end) {
			stop = true;
		} else {
			win_advance(w, c, now);
			while (seq + 1 - c->win_base < f->win && c->tx_len + f->frame_max <= c->tx_cap) {
				seq++;
				/* The slot is set before the message can be received: the send comes later. */
				atomic_store_explicit(&ps->slot[seq & (f->slots - 1)],
				                      (seq & WIN_TAG_MASK) << WIN_TAG_SHIFT | live,
				                      memory_order_release);
				put_message(w, c, seq, now, now);
			}
		}
	}
	if (seq != c->seq_sent) {
		c->seq_sent = seq;
		atomic_store_explicit(&ps->seq, seq, memory_order_release);
	}
	if (stop)
		pub_stop(f, c); /* after the store above: a reader that sees stopped sees the final seq */
	if (conn_owes(c))
		conn_submit_send(w, c);
}

/* One of our messages reached receiver c on the stream whose next expected number is *next. */
static void stream_recv(struct worker *w, struct conn *c, uint64_t *next, const struct head *h,
                        uint64_t now)
{
	struct fan *f = w->f;
	struct stats *s = stats_of(w, c);
	if (h->seq < *next) {
		/* --reconnect: sent before this connection rejoined, not expected here */
		if (c->rejoin_ns == 0 || h->ts_ns >= c->rejoin_ns)
			s->dups++;
		return;
	}
	if (h->seq > *next)
		s->gaps += h->seq - *next;
	win_pass(w, h->pub, *next, h->seq);
	*next = h->seq + 1;
	s->delivered_total++;
	if (now >= f->tl.t_measure && now < f->tl.t_end)
		s->arrivals++;
	if (h->ts_ns >= f->tl.t_measure && h->ts_ns < f->tl.t_end) {
		s->delivered++;
		stats_latency(s, now > h->ts_ns ? now - h->ts_ns : 0);
	}
}

/* plain, generic, echo: the payload starts with the head. */
static void on_message(struct worker *w, struct conn *c, const uint8_t *head, uint64_t now)
{
	struct fan *f = w->f;
	struct stats *s = stats_of(w, c);
	struct head h;
	if (!head_decode(f, head, &h)) {
		s->foreign++;
		return;
	}
	if (c->rx_row < 0) {
		s->unexpected++;
		return;
	}
	if (!rx_expects(f, c, h.pub)) {
		if ((int32_t)h.pub == c->pub_id)
			s->self++;
		else
			s->unexpected++; /* echo: another connection's message came back here */
		return;
	}
	stream_recv(w, c, rx_next(w, c, 0, h.pub), &h, now);
}

/* v1: the slot of topic name p[0..n) in subscriber c's list, or -1 if c does not subscribe to it.
 * Names are ours ("T", or "T.<k>" with several topics), so the index is read from the name. */
static int topic_slot(const struct fan *f, const struct conn *c, const uint8_t *p, size_t n)
{
	int t = topics_index(&f->b->topics, p, n);
	for (uint32_t k = 0; t >= 0 && k < c->ntopics; k++)
		if (c->topics[k] == (uint32_t)t)
			return (int)k;
	return -1;
}

/* v1: the server numbered this MESSAGE n on slot k. A gap since the previous one must be covered
 * by `missed` counts received meanwhile (docs/protocol.md 6.5); under drop-newest and conflate a
 * notice may count drops ahead of messages still queued, so unused counts carry over. */
static void srv_seq_check(struct worker *w, struct conn *c, uint32_t k, uint64_t n)
{
	struct fan *f = w->f;
	struct stats *s = stats_of(w, c);
	size_t i = (size_t)c->rx_row * f->kmax + k;
	uint64_t last = w->srv_last[i];
	if (last == 0) { /* the first: the topic may have any number (no history) */
		w->srv_credit[i] = 0;
		w->srv_last[i] = n;
		return;
	}
	if (n <= last) {
		s->seq_back++;
		return;
	}
	uint64_t gap = n - last - 1, credit = w->srv_credit[i];
	uint64_t cover = gap < credit ? gap : credit;
	w->srv_credit[i] = credit - cover;
	s->unexplained += gap - cover;
	w->srv_last[i] = n;
}

/* v1: a MESSAGE; p[0..have) is its start (envelope and head at least, when it is ours). */
static void on_v1_message(struct worker *w, struct conn *c, const uint8_t *p, size_t have,
                          uint64_t now)
{
	struct fan *f = w->f;
	struct stats *s = stats_of(w, c);
	struct head h;
	size_t env = have >= 3 ? rc_app_pub_header_len(p[2]) : SIZE_MAX;
	if (p[0] != RC_APP_KIND_MESSAGE || env > have || have - env < f->head_len ||
	    !head_decode(f, p + env, &h)) {
		s->foreign++;
		return;
	}
	int k = c->rx_row >= 0 ? topic_slot(f, c, p + 3, p[2]) : -1;
	if (k < 0) {
		s->unexpected++; /* a topic this connection did not subscribe to */
		return;
	}
	srv_seq_check(w, c, (uint32_t)k, rc_app_seq_read(p + 3 + p[2]));
	stream_recv(w, c, rx_next(w, c, (uint32_t)k, h.pub), &h, now);
}

/* v1: a notice, p[0..have) of its len bytes. Only `missed` matters for the accounting; a notice
 * longer than MHEAD_MAX is a long `subscribed` list. */
static void on_notice(struct worker *w, struct conn *c, const uint8_t *p, size_t have, uint64_t len)
{
	struct fan *f = w->f;
	struct stats *s = stats_of(w, c);
	s->notices++;
	if (have < len)
		return;
	rc_app_notice nt;
	if (rc_app_notice_parse(p, have, &nt) != RC_APP_OK) {
		tally_add(&s->errors, "bad_notice", 1);
		return;
	}
	if (nt.type == RC_APP_NOTICE_MISSED) {
		s->missed += nt.count;
		int k = c->rx_row >= 0 ? topic_slot(f, c, nt.topics[0].ptr, nt.topics[0].len) : -1;
		if (k >= 0)
			w->srv_credit[(size_t)c->rx_row * f->kmax + (uint32_t)k] += nt.count;
	} else if (nt.type == RC_APP_NOTICE_ERROR) {
		char key[40];
		snprintf(key, sizeof key, "notice_%s", rc_app_error_name(nt.code));
		tally_add(&s->errors, key, 1);
	}
}

/* A whole message: p[0..have) of its len bytes (have is less when it was split across buffers:
 * what was collected in c->mhead). */
static void on_whole(struct worker *w, struct conn *c, uint8_t opcode, const uint8_t *p,
                     size_t have, uint64_t len, uint64_t now)
{
	struct fan *f = w->f;
	if (!f->v1) {
		if (have >= f->head_len)
			on_message(w, c, p, now);
		else
			stats_of(w, c)->foreign++;
	} else if (opcode == RC_OPCODE_TEXT) {
		on_notice(w, c, p, have, len);
	} else if (have > 0) {
		on_v1_message(w, c, p, have, now);
	} else {
		stats_of(w, c)->foreign++;
	}
}

/* --max: a piece of an unfinished message arrived (win_advance counts it as progress). Stored at
 * most once per millisecond per thread, so a large message costs no shared write per piece; a
 * store of a slightly older time by another thread only shortens the wait by that much. */
static void rx_piece(struct worker *w, uint64_t now)
{
	struct fan *f = w->f;
	if (!f->o->max || now - w->piece_ns < PIECE_STORE_NS)
		return;
	w->piece_ns = now;
	atomic_store_explicit(&f->rx_piece_ns, now, memory_order_relaxed);
}

/* A chunk of a data message: the message is read where it lies when it is whole in the chunk (the
 * common case), else its first bytes are collected across chunks. */
static void on_data(struct worker *w, struct conn *c, const rc_frame_event *ev, uint64_t now)
{
	struct fan *f = w->f;
	uint32_t need = f->v1 ? MHEAD_MAX : f->head_len;
	if (c->mlen == 0 && ev->msg_end) {
		on_whole(w, c, ev->msg_opcode, ev->data, ev->data_len, ev->data_len, now);
		return;
	}
	if (c->mhave < need) {
		size_t k = need - c->mhave;
		if (k > ev->data_len)
			k = ev->data_len;
		memcpy(c->mhead + c->mhave, ev->data, k);
		c->mhave = (uint16_t)(c->mhave + k);
	}
	c->mlen += ev->data_len;
	if (!ev->msg_end) {
		rx_piece(w, now);
		return;
	}
	on_whole(w, c, ev->msg_opcode, c->mhead, c->mhave, c->mlen, now);
	c->mhave = 0;
	c->mlen = 0;
}

/* Feed received bytes to c's frame parser and act on every event: the receive hot path. */
void conn_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n, uint64_t now)
{
	while (!c->proto_err && !c->close_rcvd) {
		rc_frame_event ev;
		ssize_t k = rc_frame_parse(&c->fp, p, n, &ev);
		if (k < 0) {
			const char *why;
			uint16_t code = rc_frame_error(&c->fp, &why);
			char key[40];
			snprintf(key, sizeof key, "protocol_%u", code);
			tally_add(&w->st.errors, key, 1);
			c->proto_err = true;
			conn_gone(w, c);
			conn_send_close(w, c, code);
			return;
		}
		p += k;
		n -= (size_t)k;
		switch (ev.type) {
		case RC_FRAME_NEED_MORE:
			return;
		case RC_FRAME_DATA_START:
			break;
		case RC_FRAME_DATA:
			on_data(w, c, &ev, now);
			break;
		case RC_FRAME_CONTROL:
			on_control(w, c, &ev);
			break;
		case RC_FRAME_NEED_CTL: /* c->fp.ctl is lent at connect: cannot happen */
			assert(!"parser without control storage");
			break;
		}
	}
}

/* --reconnect: a connection of the run is open again. Messages are expected at it from now on:
 * the publishers count it again, and each of its streams starts after the last message sent so
 * far (what was sent meanwhile is not expected here; what was sent before this point and still
 * arrives is ignored, not counted as a duplicate: see stream_recv). */
void rx_rejoin(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	w->st.reconnected++;
	c->attempt = 0;
	c->rejoin_ns = mono_ns();
	if (c->pub_id >= 0 && !c->stopped)
		atomic_store_explicit(&f->pub[c->pub_id].stopped, false, memory_order_release);
	if (c->rx_row < 0)
		return;
	for (uint32_t k = 0; f->v1 && k < c->ntopics; k++) {
		atomic_fetch_add(&f->topic_live[c->topics[k]], 1);
		if (c->slow)
			atomic_fetch_add(&f->topic_live_slow[c->topics[k]], 1);
		w->srv_last[(size_t)c->rx_row * f->kmax + k] = 0; /* a new subscription: any number */
		w->srv_credit[(size_t)c->rx_row * f->kmax + k] = 0;
	}
	for (uint32_t p = 0; p < o->pubs; p++) {
		if (!rx_expects(f, c, p))
			continue;
		if (!f->v1) {
			atomic_fetch_add(&f->pub[p].live, 1);
			if (c->slow)
				atomic_fetch_add(&f->pub[p].live_slow, 1);
		}
		/* After the count went up: whatever is sent from now on counted this receiver. */
		for (uint32_t k = 0; k < rx_slots(f, c); k++)
			*rx_next(w, c, k, p) = stream_last(f, p, rx_topic(f, c, k)) + 1;
	}
}

/* Drain: has every receiver of this thread got everything every publisher sent? */
bool rx_caught_up(struct worker *w)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	for (uint32_t p = 0; p < o->pubs; p++)
		if (!atomic_load_explicit(&f->pub[p].stopped, memory_order_acquire))
			return false;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CS_OPEN || c->rx_row < 0 || c->gone)
			continue;
		for (uint32_t k = 0; k < rx_slots(f, c); k++)
			for (uint32_t p = 0; p < o->pubs; p++)
				if (rx_expects(f, c, p) &&
				    *rx_next(w, c, k, p) <= stream_last(f, p, rx_topic(f, c, k)))
					return false;
	}
	return true;
}

void rx_leave(struct worker *w, struct conn *c)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	stats_of(w, c)->closed_in_run++;
	if (c->pub_id >= 0)
		atomic_store_explicit(&f->pub[c->pub_id].stopped, true, memory_order_release);
	if (c->rx_row < 0)
		return;
	for (uint32_t k = 0; f->v1 && k < c->ntopics; k++) {
		atomic_fetch_sub(&f->topic_live[c->topics[k]], 1);
		if (c->slow)
			atomic_fetch_sub(&f->topic_live_slow[c->topics[k]], 1);
	}
	for (uint32_t p = 0; p < o->pubs; p++) {
		if (!rx_expects(f, c, p))
			continue;
		atomic_fetch_sub(&f->pub[p].live, 1);
		if (c->slow)
			atomic_fetch_sub(&f->pub[p].live_slow, 1);
		/* The window (--max) is per publisher, with one topic: slot 0. */
		if (o->max)
			win_pass(w, p, *rx_next(w, c, 0, p), stream_last(f, p, 0));
	}
}

void rx_count_end(struct worker *w)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	for (uint32_t j = 0; j < w->npubs && !o->max; j++) {
		/* A publisher held up until now (or cut off by the server) never sent some messages that
		 * were due: they are not in `published`, so say how many. */
		struct conn *c = &w->conns[w->pubs[j]];
		if (!c->was_open)
			continue;
		uint64_t lo = first_index_due(f, c->pub_id, f->tl.t_measure);
		uint64_t hi = first_index_due(f, c->pub_id, f->tl.t_end);
		if (c->seq_sent > lo)
			lo = c->seq_sent;
		if (hi > lo)
			w->st.unsent += hi - lo;
	}
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CS_OPEN || c->rx_row < 0 || c->gone)
			continue;
		for (uint32_t k = 0; k < rx_slots(f, c); k++)
			for (uint32_t p = 0; p < o->pubs; p++) {
				if (!rx_expects(f, c, p))
					continue;
				uint64_t last = stream_last(f, p, rx_topic(f, c, k));
				uint64_t next = *rx_next(w, c, k, p);
				if (last >= next)
					stats_of(w, c)->lost_tail += last - next + 1;
			}
	}
}
