/* fanout.c: the fan-out engine's run (fanout.h, fanout_int.h): the set-up of the shared state and
 * of each thread, the threads' loop, and the timeline. Connect everything (at most
 * --connect-batch handshakes in progress per thread, so 10,000 connections do not overrun the
 * server's accept queue), then t0; --warmup seconds that are not counted; the measured --duration;
 * then the publishers stop and the receivers get up to --drain seconds to catch up; then every
 * connection is closed with 1000. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fanout.h"
#include "fanout_int.h"
#include "rc_app.h"
#include "rc_close.h"
#include "report.h"
#include "sys.h"
#include "topics.h"

#define SUB_TX_MIN 512 /* subscriber send buffer: a pong (131 B) and a close (8 B) */
#define CLOSE_GRACE_NS (1000ull * 1000 * 1000)  /* how long our closing 1000s may take */
#define DRAIN_CHECK_NS (10ull * 1000 * 1000)    /* how often a thread checks it has caught up */
#define IDLE_WAIT_NS (10ull * 1000 * 1000)      /* longest wait: phase changes are seen this fast */
#define SLOW_READ_TICK_NS (10ull * 1000 * 1000) /* --slow-rate: one read per 10 ms at most */

static void setup_start_more(struct worker *w)
{
	const struct opts *o = w->f->o;
	while (w->setting_up < o->connect_batch && w->next_connect < w->nconns)
		conn_start(w, &w->conns[w->next_connect++]);
}

/* Main gave up waiting for the setup: what is still connecting fails. */
static void setup_abandon(struct worker *w)
{
	struct fan *f = w->f;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
			setup_end(w, c, "connect_timeout");
		} else if (c->state == CS_IDLE) {
			c->state = CS_CLOSED;
			atomic_fetch_add_explicit(&f->settled, 1, memory_order_release);
			tally_add(&w->st.errors, "connect_timeout", 1);
		}
	}
	w->next_connect = w->nconns;
}

/* The run is over for this thread: count what never arrived, then close every connection with
 * 1000 (the server answers and closes). */
static void begin_close(struct worker *w, uint64_t now)
{
	w->closing = true;
	w->close_deadline = now + CLOSE_GRACE_NS;
	rx_count_end(w);
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CS_OPEN)
			conn_send_close(w, c, RC_CLOSE_NORMAL);
		else if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE)
			conn_close(w, c);
	}
}

/* --workload slow: at the end of the warmup the slow subscribers stop reading: their multishot
 * recv is cancelled, so what the server sends backs up in their sockets and then in its queues. */
static void slow_pause(struct worker *w)
{
	w->slow_paused = true;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->slow || c->state != CS_OPEN)
			continue;
		c->paused = true;
		if (c->recv_armed)
			cancel_recv(w, c);
	}
}

/* --slow-rate: a paused subscriber reads at most rate x tick bytes per tick, one plain recv from
 * the buffer ring (its length caps what the kernel copies out). */
static void slow_read(struct worker *w, uint64_t now)
{
	const struct opts *o = w->f->o;
	uint64_t len = (uint64_t)(o->slow_rate * (double)SLOW_READ_TICK_NS / 1e9);
	if (len < 1)
		len = 1;
	if (len > w->buf_size)
		len = w->buf_size;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->paused || c->state != CS_OPEN || c->recv_armed || c->close_rcvd ||
		    now < c->next_read_ns)
			continue;
		c->next_read_ns = now + SLOW_READ_TICK_NS;
		arm_recv_len(w, c, (size_t)len);
	}
}

/* At the end of the measured interval the slow subscribers read again, to learn what the server
 * told them meanwhile (`missed` notices, a close) and so that the drain can catch up. */
static void slow_resume(struct worker *w)
{
	w->slow_resumed = true;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (!c->paused)
			continue;
		c->paused = false;
		if (c->state == CS_OPEN && !c->recv_armed && !c->close_rcvd)
			arm_recv(w, c);
	}
}

static void slow_phase(struct worker *w, uint64_t now)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	if (f->slow_total == 0)
		return;
	if (!w->slow_paused && now >= f->tl.t_measure)
		slow_pause(w);
	if (!w->slow_resumed && now >= f->tl.t_end)
		slow_resume(w);
	else if (w->slow_paused && !w->slow_resumed && o->slow_rate > 0 && now >= w->next_slow_ns) {
		w->next_slow_ns = now + SLOW_READ_TICK_NS / 10; /* a scan per ms, not per loop turn */
		slow_read(w, now);
	}
}

static void flush_dirty(struct worker *w, uint64_t now)
{
	struct fan *f = w->f;
	for (uint32_t j = 0; j < w->ndirty; j++) {
		struct conn *c = &w->conns[w->dirty[j]];
		c->dirty = false;
		if (c->send_inflight || c->state != CS_OPEN)
			continue; /* a send completion marks it again if it still owes something */
		if (c->pub_id >= 0 && atomic_load_explicit(&f->phase, memory_order_relaxed) == PH_RUN) {
			pub_fill(w, c, now);
			continue;
		}
		put_ctl(w, c);
		if (conn_owes(c))
			conn_submit_send(w, c);
	}
	w->ndirty = 0;
}

/* How long the loop may sleep: until the next message is due (--rate), else until something
 * completes, but never past IDLE_WAIT_NS so that phase changes and deadlines are seen. */
static uint64_t wait_ns(struct worker *w, int ph, uint64_t now)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	uint64_t until = now + IDLE_WAIT_NS;
	if (ph != PH_RUN)
		return IDLE_WAIT_NS;
	if (now < f->tl.t0 && f->tl.t0 < until)
		until = f->tl.t0;
	for (uint32_t j = 0; j < w->npubs; j++) {
		struct conn *c = &w->conns[w->pubs[j]];
		if (c->state != CS_OPEN || c->send_inflight || c->stopped || now < f->tl.t0)
			continue;
		uint64_t due = o->max ? now + 1000 * 1000 /* window freed by another thread */
		                      : intended_ns(f, (uint32_t)c->pub_id, c->seq_sent);
		if (due < until)
			until = due;
	}
	if (now < f->tl.t_end && f->tl.t_end < until)
		until = f->tl.t_end;
	return until > now ? until - now : 0;
}

static void worker_fini(struct worker *w)
{
	const struct opts *o = w->f->o;
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring); /* cancels what is still in flight */
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->fd >= 0 && c->state != CS_CLOSED && c->state != CS_IDLE)
			close(c->fd);
		free(c->hs);
		tls_free(c->tls);
	}
	tls_ticket_free(w->ticket);
	free(w->plain);
	if (w->bufs)
		munmap(w->bufs, w->bufs_bytes);
	if (w->br)
		munmap(w->br, w->br_bytes);
	if (w->win) {
		for (uint32_t p = 0; p < o->pubs; p++) {
			free(w->win[p].seq);
			free(w->win[p].cnt);
			free(w->win[p].listed);
			free(w->win[p].touched);
		}
		free(w->win);
	}
	free(w->conns);
	free(w->dirty);
	free(w->rearm);
	free(w->pubs);
	free(w->seq_next);
	free(w->srv_last);
	free(w->srv_credit);
	free(w->topic_arena);
	free(w->tseq_arena);
	free(w->tx_arena);
}

/* WF_SLOW: subscriber j (0-based) is slow when the running count floor(j x F) steps up at it,
 * which spreads the slow ones evenly over the subscribers (and the threads). */
static bool is_slow(const struct fan *f, uint32_t j)
{
	if (!f->slow)
		return false;
	double fr = f->o->slow_fraction;
	return (uint64_t)((double)(j + 1) * fr) > (uint64_t)((double)j * fr);
}

/* v1: each subscriber's topics, each publisher's per-topic sequence numbers, and the server
 * sequence state of every (receiver, topic). */
static void worker_prepare_v1(struct worker *w)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	uint32_t nsubs = w->nconns - w->npubs;
	w->topic_arena = xcalloc((size_t)nsubs * f->kmax, sizeof *w->topic_arena);
	w->tseq_arena = xcalloc((size_t)w->npubs * o->topics, sizeof *w->tseq_arena);
	w->srv_last = xcalloc((size_t)w->nrx * f->kmax, sizeof *w->srv_last);
	w->srv_credit = xcalloc((size_t)w->nrx * f->kmax, sizeof *w->srv_credit);
	uint32_t *tp = w->topic_arena;
	uint64_t *sp = w->tseq_arena;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->pub_id >= 0) {
			c->tseq = sp;
			sp += o->topics;
			continue;
		}
		c->topics = tp;
		c->ntopics = (uint8_t)o->per_sub;
		topics_draw(&f->b->topics, &w->rng, tp, o->per_sub);
		tp += f->kmax;
	}
}

/* ---- the loop --------------------------------------------------------------------------------- */

/* The timeline's phases, as this thread sees them: connect, give up on the setup, drain, close.
 * Returns true when the thread is done. */
static bool loop_phase(struct worker *w, int ph, uint64_t now)
{
	struct fan *f = w->f;
	if (ph == PH_RUN && w->st.tls.to_ns == 0) { /* wss: the time in TLS of the interval */
		w->st.tls.from_ns = f->tl.t_measure;
		w->st.tls.to_ns = f->tl.t_end;
	}
	if (ph == PH_SETUP) {
		setup_start_more(w);
	} else if (!w->acked) {
		setup_abandon(w);
		w->acked = true;
		atomic_fetch_add_explicit(&f->acks, 1, memory_order_release);
	}
	if (ph == PH_RUN && !w->closing && now >= f->tl.t_end && now >= w->next_drain_check) {
		w->next_drain_check = now + DRAIN_CHECK_NS;
		if (now >= f->tl.t_drain || rx_caught_up(w))
			begin_close(w, now);
	}
	if (w->closing && (w->open == 0 || now >= w->close_deadline))
		return true;
	if (ph == PH_RUN && !w->closing) {
		slow_phase(w, now);
		retry_due(w, now);
	}
	return false;
}

/* Submit what the turn prepared and wait for completions. A sleeping vCPU wakes ~50-150 us after
 * its timer or its packet (clock_nanosleep is 113 us late on average on the 2-vCPU dev VM), which
 * would land in send times and receive timestamps: --busy-poll trades the CPU for it. */
static void loop_submit_wait(struct worker *w, int ph, uint64_t now)
{
	uint64_t wait = w->f->o->busy_poll ? 0 : wait_ns(w, ph, now);
	if (wait == 0) {
		io_uring_submit_and_get_events(&w->ring);
		return;
	}
	struct __kernel_timespec ts = { .tv_sec = (long long)(wait / NS_PER_S),
		                            .tv_nsec = (long long)(wait % NS_PER_S) };
	struct io_uring_cqe *cqe;
	io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
}

/* Every completion ready, in a batch: one switch on the operation. */
static void loop_reap(struct worker *w)
{
	unsigned head, seen = 0;
	struct io_uring_cqe *cqe;
	io_uring_for_each_cqe (&w->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		struct conn *c = &w->conns[ud_idx(ud)];
		switch (ud_op(ud)) {
		case OP_CONNECT:
			on_connect(w, c, cqe->res);
			break;
		case OP_SEND:
			on_send(w, c, cqe->res);
			break;
		case OP_HS_RECV:
			on_hs_recv(w, c, cqe->res);
			break;
		case OP_RECV:
			on_recv(w, c, cqe);
			break;
		case OP_CANCEL: /* the recv it cancelled reports on its own */
			break;
		}
		seen++;
	}
	io_uring_cq_advance(&w->ring, seen);
}

/* Give the buffers back, re-arm the receives that ran dry, publish the window progress. */
static void loop_recycle(struct worker *w)
{
	if (w->br_added) {
		io_uring_buf_ring_advance(w->br, (int)w->br_added);
		w->br_added = 0;
	}
	for (uint32_t j = 0; j < w->nrearm; j++) {
		struct conn *c = &w->conns[w->rearm[j]];
		c->rearm = false;
		if (conn_reading(c) && !c->recv_armed && !c->paused) {
			w->st.rearms++;
			arm_recv(w, c);
		} else {
			conn_maybe_finish(w, c);
		}
	}
	w->nrearm = 0;
	win_flush(w);
}

/* A thread's loop: a short list of phases, once per turn. */
static void worker_loop(struct worker *w)
{
	struct fan *f = w->f;
	for (;;) {
		uint64_t now = mono_ns();
		int ph = atomic_load_explicit(&f->phase, memory_order_acquire);
		if (loop_phase(w, ph, now))
			return;
		if (ph == PH_RUN && !w->closing) /* every publisher puts what is due into one send */
			for (uint32_t j = 0; j < w->npubs; j++)
				pub_fill(w, &w->conns[w->pubs[j]], now);
		flush_dirty(w, now); /* control frames owed */
		tls_turn_end(&w->st.tls);
		loop_submit_wait(w, ph, now);
		loop_reap(w);
		loop_recycle(w);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fan *f = w->f;
	thread_setup(w->id, w->cpu);
	uint32_t cq = pow2_at_least(2 * w->nconns + 1024);
	if (cq > 65536)
		cq = 65536;
	int r = ring_init(&w->ring, cq);
	if (r == 0) {
		w->ring_ok = true;
		r = bufring_init(w);
	}
	if (r < 0) {
		fprintf(stderr, "ringcast-bench: thread %u: io_uring setup failed: %s\n", w->id,
		        strerror(-r));
		for (uint32_t i = 0; i < w->nconns; i++)
			tally_add(&w->st.errors, "io_uring_setup", 1);
		atomic_fetch_add(&f->settled, w->nconns);
		while (atomic_load(&f->phase) == PH_SETUP)
			usleep(1000);
		atomic_fetch_add(&f->acks, 1);
		return NULL;
	}
	worker_loop(w);
	tls_turn_end(&w->st.tls);
	if (f->b->tls != NULL)
		tls_thread_done();
	return NULL;
}

/* ---- a thread's set-up ------------------------------------------------------------------------ */

/* The send buffers: a subscriber's holds its request, a pong and a close; a publisher's at least
 * --send-batch and one frame of the largest size. */
static void tx_sizes(const struct fan *f, uint32_t *sub_tx, uint32_t *pub_tx)
{
	const struct hs_requests *rq = &f->b->rq;
	size_t req_max = rq->sub_max > rq->pub_max ? rq->sub_max : rq->pub_max;
	*sub_tx = SUB_TX_MIN;
	if (*sub_tx < req_max)
		*sub_tx = (uint32_t)req_max;
	*pub_tx = f->o->send_batch_bytes;
	if (*pub_tx < f->frame_max + SUB_TX_MIN)
		*pub_tx = f->frame_max + SUB_TX_MIN;
	if (*pub_tx < *sub_tx)
		*pub_tx = *sub_tx;
}

/* Connections are dealt round robin: global number k goes to worker k % T as its local k / T;
 * numbers 0 .. P-1 are the publishers. */
static void conns_prepare(struct worker *w)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	uint32_t sub_tx, pub_tx;
	tx_sizes(f, &sub_tx, &pub_tx);
	size_t arena = 0;
	for (uint32_t i = 0; i < w->nconns; i++)
		arena += i * f->threads + w->id < o->pubs ? pub_tx : sub_tx;
	w->tx_arena = xcalloc(arena, 1);
	rc_frame_cfg fcfg = { .role = RC_FRAME_CLIENT };
	uint8_t *tx = w->tx_arena;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		uint32_t global = i * f->threads + w->id;
		c->fd = -1;
		c->idx = i;
		c->pub_id = global < o->pubs ? (int32_t)global : -1;
		c->tx = tx;
		c->tx_cap = c->pub_id >= 0 ? pub_tx : sub_tx;
		tx += c->tx_cap;
		c->win_base = 1;
		rc_frame_parser_init(&c->fp, &fcfg);
		c->fp.ctl = c->fp_ctl;
		bool rx = o->proto == PROTO_GENERIC || f->echo || c->pub_id < 0;
		c->rx_row = rx ? (int32_t)w->nrx++ : -1;
		if (c->pub_id >= 0)
			w->pubs[w->npubs++] = i;
		else
			c->slow = is_slow(f, global - o->pubs);
	}
}

/* The receivers' expected sequence numbers and, with --max, the window's pending decrements. */
static void streams_prepare(struct worker *w)
{
	struct fan *f = w->f;
	const struct opts *o = f->o;
	size_t rows = (size_t)w->nrx * (f->echo ? 1 : (size_t)f->kmax * o->pubs);
	w->seq_next = xcalloc(rows, sizeof *w->seq_next);
	for (size_t i = 0; i < rows; i++)
		w->seq_next[i] = 1;
	if (f->v1)
		worker_prepare_v1(w);
	if (!o->max)
		return;
	w->win = xcalloc(o->pubs, sizeof *w->win);
	for (uint32_t p = 0; p < o->pubs; p++) {
		w->win[p].seq = xcalloc(f->slots, sizeof(uint64_t));
		w->win[p].cnt = xcalloc(f->slots, sizeof(uint32_t));
		w->win[p].listed = xcalloc(f->slots, 1);
		w->win[p].touched = xcalloc(f->slots, sizeof(uint32_t));
	}
}

static void worker_prepare(struct worker *w, struct fan *f, uint32_t id)
{
	const struct opts *o = f->o;
	w->f = f;
	w->id = id;
	w->cpu = o->ncpus ? o->cpus[id] : -1;
	w->nconns = f->total / f->threads + (id < f->total % f->threads ? 1 : 0);
	w->conns = xcalloc(w->nconns, sizeof *w->conns);
	w->dirty = xcalloc(w->nconns, sizeof *w->dirty);
	w->rearm = xcalloc(w->nconns, sizeof *w->rearm);
	w->pubs = xcalloc(w->nconns, sizeof *w->pubs);
	w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)f->b->nonce << 20) ^ (id + 1);
	if (f->b->tls != NULL)
		w->plain = xcalloc(TLS_RECORD_MAX, 1);
	conns_prepare(w);
	streams_prepare(w);
	uint32_t per = pow2_at_least(w->nconns);
	/* One buffer per connection (256..4096): a turn can then take a completion from each. */
	w->nbufs = o->recv_bufs ? pow2_at_least(o->recv_bufs)
	           : per < 256  ? 256
	           : per > 4096 ? 4096
	                        : per;
	if (w->nbufs > 32768)
		w->nbufs = 32768;
	w->buf_size = o->recv_buf_bytes;
}

/* ---- the run ---------------------------------------------------------------------------------- */

/* What the options imply for the whole run. */
static void fan_derive(struct fan *f)
{
	const struct opts *o = f->o;
	f->v1 = o->proto == PROTO_V1;
	f->echo = (o->wl->flags & WF_ECHO) != 0;
	f->slow = (o->wl->flags & WF_SLOW) != 0;
	f->kmax = f->v1 ? o->per_sub : 1;
	f->total = o->subs + o->pubs;
	f->threads = o->ncpus ? o->ncpus : 1;
	if (f->threads > f->total)
		f->threads = f->total;
	f->head_len = o->text ? HEAD_TEXT_LEN : HEAD_BIN_LEN;
	/* v1: PUBLISH is always BINARY; a text payload is told by its flag. */
	f->opcode = o->text && !f->v1 ? RC_OPCODE_TEXT : RC_OPCODE_BINARY;
	f->frame_max = (uint32_t)(rc_frame_header_len(o->size, true) + o->size);
	if (f->v1) {
		size_t len = o->size_max + RC_APP_PUB_HEADER_MAX;
		f->frame_max = (uint32_t)(rc_frame_header_len(len, true) + len);
	}
	for (uint32_t j = 0; j < o->subs; j++)
		f->slow_total += is_slow(f, j);
	f->win = o->pubs && o->window / o->pubs ? o->window / o->pubs : 1;
	f->slots = pow2_at_least(f->win);
	f->stall_ns = (uint64_t)o->stall_ms * 1000000u;
	f->period_ns = o->max ? 0 : 1e9 / o->rate;
	/* More than ~28k connections to one loopback address need more source addresses. */
	const struct hs_addr *a = &f->b->addr;
	f->source_addrs = o->source_addrs;
	if (f->source_addrs == 0 && f->total > 25000 && a->ss.ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127)
		f->source_addrs = f->total / 25000 + 1;
}

/* The shared state's memory: the publishers' counters and windows, the payload filler, the v1
 * per-topic counters. */
static void fan_alloc(struct fan *f)
{
	const struct opts *o = f->o;
	uint32_t npub = o->pubs ? o->pubs : 1;
	f->pub = aligned_alloc(64, sizeof *f->pub * npub);
	if (f->pub == NULL)
		die("out of memory", 0);
	memset(f->pub, 0, sizeof *f->pub * npub);
	for (uint32_t p = 0; p < o->pubs; p++)
		if (o->max)
			f->pub[p].slot = xcalloc(f->slots, sizeof(uint64_t));
	/* The payload after the head: printable, so that it is also valid text. */
	f->fill = xcalloc(o->size, 1);
	for (uint32_t i = 0; i < o->size; i++)
		f->fill[i] = (uint8_t)('a' + i % 26);
	if (!f->v1)
		return;
	f->topic_live = xcalloc(o->topics, sizeof *f->topic_live);
	f->topic_live_slow = xcalloc(o->topics, sizeof *f->topic_live_slow);
	f->stream_seq = xcalloc((size_t)o->topics * npub, sizeof *f->stream_seq);
}

static void fan_free(struct fan *f)
{
	for (uint32_t p = 0; p < f->o->pubs; p++)
		free(f->pub[p].slot);
	free(f->pub);
	free(f->fill);
	free(f->topic_live);
	free(f->topic_live_slow);
	free(f->stream_seq);
}

/* After the setup: how many receivers each message will have. Plain and v1 with one topic:
 * every open subscriber (pub.live); v1: the open subscribers of each topic (topic_live); echo: the
 * publisher itself; generic: every other client. Slow subscribers are counted apart as well.
 * Returns the slow subscribers connected. */
static uint32_t live_counts(struct fan *f, struct worker *ws, uint32_t open_subs,
                            uint32_t open_pubs)
{
	const struct opts *o = f->o;
	uint32_t open_slow = 0;
	for (uint32_t i = 0; i < f->threads; i++)
		for (uint32_t j = 0; j < ws[i].nconns; j++) {
			const struct conn *c = &ws[i].conns[j];
			if (!c->was_open || c->pub_id >= 0)
				continue;
			open_slow += c->slow;
			for (uint32_t k = 0; f->v1 && k < c->ntopics; k++) {
				atomic_fetch_add(&f->topic_live[c->topics[k]], 1);
				if (c->slow)
					atomic_fetch_add(&f->topic_live_slow[c->topics[k]], 1);
			}
		}
	for (uint32_t p = 0; p < o->pubs; p++) {
		uint32_t live = f->echo                     ? 1
		                : o->proto != PROTO_GENERIC ? open_subs
		                                            : open_subs + open_pubs - (open_pubs ? 1 : 0);
		atomic_store(&f->pub[p].live, live);
		atomic_store(&f->pub[p].live_slow, f->echo ? 0 : open_slow);
	}
	return open_slow;
}

/* The setup phase: start the threads, wait for every connection to be open or failed, or for the
 * timeout, then have the threads give up on the rest. */
static void fan_setup(struct fan *f, struct worker *ws, struct report *r)
{
	const struct opts *o = f->o;
	atomic_store(&f->phase, PH_SETUP);
	for (uint32_t i = 0; i < f->threads; i++) {
		int err = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
		if (err != 0)
			die("pthread_create", err);
	}
	uint64_t t_setup = mono_ns();
	uint64_t setup_deadline = t_setup + (uint64_t)(o->connect_timeout_s * 1e9);
	while (atomic_load_explicit(&f->settled, memory_order_acquire) < f->total &&
	       mono_ns() < setup_deadline)
		usleep(2000);
	atomic_store_explicit(&f->phase, PH_SETUP_STOP, memory_order_release);
	while (atomic_load_explicit(&f->acks, memory_order_acquire) < f->threads)
		usleep(1000);
	r->open_subs = atomic_load(&f->open_subs);
	r->open_pubs = atomic_load(&f->open_pubs);
	if (!o->quiet)
		fprintf(stderr, "ringcast-bench: %u/%u subscribers, %u/%u publishers connected in %.2f s\n",
		        r->open_subs, o->subs, r->open_pubs, o->pubs, (double)(mono_ns() - t_setup) / 1e9);
	/* A publisher that did not connect publishes nothing, so its counts do not matter. */
	r->open_slow = live_counts(f, ws, r->open_subs, r->open_pubs);
}

/* The run: set the timeline (t0 leaves the threads time to see the phase change), sleep through
 * it measuring the CPU, wait for the threads to be done. */
static void fan_run(struct fan *f, struct worker *ws, struct report *r)
{
	f->tl = opts_timeline(f->o, mono_ns() + 50 * 1000 * 1000);
	/* Publishers that never connected publish nothing and are done from the start. */
	for (uint32_t i = 0; i < f->threads; i++)
		for (uint32_t j = 0; j < ws[i].npubs; j++) {
			struct conn *c = &ws[i].conns[ws[i].pubs[j]];
			if (!c->was_open)
				atomic_store(&f->pub[c->pub_id].stopped, true);
		}
	atomic_store_explicit(&f->phase, PH_RUN, memory_order_release);
	r->threads = f->threads;
	report_measure(r, f->o, &f->tl);
	for (uint32_t i = 0; i < f->threads; i++)
		pthread_join(ws[i].thread, NULL);
	for (uint32_t i = 0; i < f->threads; i++) {
		stats_merge(&r->st, &ws[i].st);
		stats_merge(&r->st_slow, &ws[i].st_slow);
	}
}

/* Whether the run worked: NULL, or why not. */
static const char *fan_error(const struct fan *f, const struct report *r)
{
	uint32_t open = r->open_subs + r->open_pubs;
	if (open == 0)
		return "no connection could be opened";
	if (r->open_pubs == 0 && f->o->pubs > 0)
		return "no publisher could connect";
	if (r->st.closed_in_run >= open + r->st.reconnected)
		return "the server closed every connection during the run";
	return NULL;
}

int fanout_run(const struct bench *b)
{
	const struct opts *o = b->o;
	struct fan *f = xcalloc(1, sizeof *f);
	f->b = b;
	f->o = o;
	fan_derive(f);
	fan_alloc(f);
	raise_nofile(f->total);
	struct report r;
	report_init(&r);
	r.slow_total = f->slow_total;
	r.sni = b->sni;
	if (o->server_pid)
		r.mem_before = proc_mem_read(o->server_pid);
	struct worker *ws = xcalloc(f->threads, sizeof *ws);
	for (uint32_t i = 0; i < f->threads; i++)
		worker_prepare(&ws[i], f, i);
	fan_setup(f, ws, &r);
	fan_run(f, ws, &r);
	if (o->server_pid && r.server_cpu_s < 0)
		fprintf(stderr, "ringcast-bench: warning: cannot read /proc/%ld/stat\n", o->server_pid);
	r.error = fan_error(f, &r);
	int status = report_finish(o, &r);
	for (uint32_t i = 0; i < f->threads; i++)
		worker_fini(&ws[i]);
	free(ws);
	fan_free(f);
	free(f);
	return status;
}
