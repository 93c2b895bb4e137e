/* rc_worker.c: one worker's event loop: its phases, the dispatch of completions, accepting, and
 * signals and draining.
 *
 * rc_worker_run repeats these phases, one loop turn at a time:
 *   1. drain check     once draining and every WebSocket has closed (or the drain deadline
 *                      passed), drop what is left; stop when no connection is left
 *   2. wait            submit what the last turn prepared and wait for a completion, unless
 *                      another worker's mail is waiting (wait_for_work, wait_timeout_ns)
 *   3. trim            chunk memory a burst made resident goes back to the kernel, at most once a
 *                      second; then a broken ring (an error from the wait) stops the worker
 *   4. dispatch        every completion: accepts, reads (parsing, publishing and fan-out into
 *                      subscribers' queues, hand-offs to other workers), send completions,
 *                      deadlines, closes
 *   5. hand-offs in    what other workers handed over, fanned out here; buffers other workers
 *                      freed come home (rc_pool_collect_remote)
 *   6. flush           one send per dirty connection (rc_send.h), in slices: between two, the
 *                      completions that came are dispatched (phase 4 again), so a message that
 *                      arrives during a long fan-out joins it
 *   7. relief          if the pool is below its reserve, take back what slow subscribers pin
 *   8. promote         messages still queued in a receive buffer move to POOL memory
 *   9. reprovide       returned receive buffers go back to the provided ring; starved reads
 *                      are re-armed
 *  10. hand-offs out   with several workers: losses told (sleeping workers were woken at each
 *                      push, rc_xfer.h)
 *  11. gauges          with several workers: the figures others add up for /metrics
 * docs/architecture.md tells the same story with the reasons.
 */
#define _GNU_SOURCE
#include "rc_worker.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rc_access.h"
#include "rc_admin.h"
#include "rc_clock.h"
#include "rc_conn.h"
#include "rc_gauges.h"
#include "rc_handover.h"
#include "rc_limit.h"
#include "rc_log.h"
#include "rc_owner.h"
#include "rc_pace.h"
#include "rc_reload.h"
#include "rc_route.h"
#include "rc_send.h"
#include "rc_worker_int.h"
#include "rc_ws.h"
#include "rc_wss.h"
#include "rc_xfer.h"

/* How long a sleeping worker waits at most, when there is a reason to wake up without a
 * completion (wait_timeout_ns). */
#define RC_WAIT_LOSS_NS 1000000u    /* losses to tell another worker wait for room in its mailbox */
#define RC_WAIT_TRIM_NS 1000000000u /* chunk memory to trim once things calm down */
/* With several workers a sleeping worker also wakes this often to look at its mailboxes: a safety
 * net under the MSG_RING wake-up that bounds what a lost wake-up could cost and counts what it
 * finds (ringcast_handoffs_found_by_check_total), for ten idle wake-ups a second. */
#define RC_MAIL_CHECK_NS 100000000u

#define RC_TRIM_EVERY_NS 1000000000u /* trims at most this often */
#define RC_TRIM_KEEP 16              /* chunks per slab kept warm when trimming */
#define RC_RELIEF_EVERY_NS 10000000u /* pressure relief that found nothing: not again before this */
/* Sends prepared before the flush hands them to the kernel and looks for new completions: a send
 * to a socket with room happens inside the submit (2.5-8 us each on loopback, docs/facts.md), so
 * a fan-out to 1,000 subscribers is ~3 ms of sends. */
#define RC_FLUSH_SLICE 64

/* ---- accepting ------------------------------------------------------------------------------- */

/* Every accept of every listener that is not in flight. The gen field of user_data says which
 * listener (bit 0: 1 for TLS) and which of its accepts (the bits above) a completion is from. */
static void arm_accept(rc_worker *w)
{
	for (uint32_t tls = 0; tls < 2; tls++) {
		int fd = tls ? w->accept.tls_fd : w->accept.listen_fd;
		if (fd < 0)
			continue;
		for (uint32_t i = 0; i < RC_ACCEPTS; i++) {
			struct accept_req *a = &w->accept.req[tls][i];
			if (a->armed)
				continue;
			a->len = sizeof a->addr;
			struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
			/* liburing 2.3 adds 1 to the index it is given, ALLOC included, which then
			 * wraps to 0: a plain descriptor (docs/facts.md); hence ALLOC - 1 */
			io_uring_prep_accept_direct(sqe, fd, (struct sockaddr *)&a->addr, &a->len, 0,
			                            IORING_FILE_INDEX_ALLOC - 1);
			io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_ACCEPT, tls | i << 1, RC_UD_WORKER));
			a->armed = true;
		}
	}
}

/* An accept failed. A full descriptor table (a full fixed-file table gives -ENFILE and ends the
 * multishot): the kernel keeps new clients in the listen backlog until a connection closes, and
 * accept_slot_freed re-arms then. No spinning. */
static void accept_failed(rc_worker *w, int res)
{
	if (res == -ENFILE || res == -EMFILE || res == -ENOMEM) {
		if (!w->accept.paused)
			rc_log(RC_LOG_WARN, "accept_paused", "error=%s open=%u slots=%u", strerror(-res),
			       w->conns.open, w->conns.nslots);
		/* With no connection open, nothing will free a slot: try again at once. */
		w->accept.paused = w->conns.open > 0;
	}
	if (!w->accept.paused)
		arm_accept(w);
}

/* Debug logging only: a direct descriptor has no getpeername, so it is installed as a plain
 * descriptor for a moment to ask (6.8+). */
static void ask_peer(rc_worker *w, rc_conn *c)
{
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_rw(IORING_OP_FIXED_FD_INSTALL, sqe, (int)conn_slot(w, c), NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_PEER, c->gen, conn_slot(w, c)));
	c->inflight++;
}

static void on_accept(rc_worker *w, int res, uint32_t which)
{
	bool tls = (which & 1) != 0;
	assert(tls ? w->accept.tls_fd >= 0 : w->accept.listen_fd >= 0);
	assert((which >> 1) < RC_ACCEPTS);
	struct accept_req *a = &w->accept.req[tls][which >> 1];
	a->armed = false;
	if (res < 0) {
		accept_failed(w, res);
		return;
	}
	uint32_t slot = (uint32_t)res;
	/* the address goes to limit_admit before this accept is armed again (it is its buffer) */
	struct sockaddr_storage addr;
	bool known = a->len > 0 && a->len <= sizeof addr;
	if (known)
		memcpy(&addr, &a->addr, a->len);
	arm_accept(w);
	if (slot >= w->conns.nslots || w->conns.slots[slot].state != CS_FREE) {
		rc_log(RC_LOG_ERROR, "accept_bad_slot", "slot=%u", slot);
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
		io_uring_prep_close_direct(sqe, slot);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_NONE, 0, RC_UD_WORKER));
		return;
	}
	rc_conn *c = &w->conns.slots[slot];
	rc_metric_inc(&w->metrics, RC_M_ACCEPTED);
	conn_accepted(w, c);
	if (!limit_admit(w, c, known ? &addr : NULL))
		return;
	if (!tls)
		conn_start_recv(w, c);
	else if (!wss_start(w, c)) { /* a TLS connection's receive is wss_start's to arm */
		rc_log(RC_LOG_WARN, "tls_session", "conn=%u error=\"out of memory\"", c->id);
		conn_abort(w, c, RC_CLOSED_IO_ERROR);
		return;
	}
	if (rc_log_enabled(RC_LOG_DEBUG))
		ask_peer(w, c);
}

/* A connection's slot was freed: an accept paused by a full descriptor table can go on. */
static void accept_slot_freed(rc_worker *w)
{
	if (w->accept.paused && !w->life.drain_expired) {
		w->accept.paused = false;
		arm_accept(w);
	}
}

static void on_peer(rc_worker *w, rc_conn *c, int res)
{
	char text[80] = "unknown";
	if (res >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char host[INET6_ADDRSTRLEN];
		if (getpeername(res, (struct sockaddr *)&ss, &len) != 0) {
			ss.ss_family = AF_UNSPEC;
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
			snprintf(text, sizeof text, "[%s]:%u", host, ntohs(a->sin6_port));
		} else if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			snprintf(text, sizeof text, "%s:%u", host, ntohs(a->sin_port));
		}
		close(res);
	}
	rc_log(RC_LOG_DEBUG, "conn_open", "conn=%u peer=%s slot=%u open=%u", c->id, text,
	       conn_slot(w, c), w->conns.open);
}

/* ---- signals and draining -------------------------------------------------------------------- */

/* A signal worker 0 relays (RC_IO_STOP's res): bits 0-7 how many SIGTERM/SIGINT came (the first
 * drains, the second closes everything at once), RELAY_RESTART: drain as for a restart (SIGUSR2),
 * RELAY_REARM: re-arm the accepts (SIGUSR1, a successor's last step of a takeover). */
#define RELAY_COUNT 0xffu
#define RELAY_RESTART 0x100u
#define RELAY_REARM 0x200u

/* A restart's drain (life.restart). SIGUSR2 comes from the takeover thread once a successor
 * serves on the same listening sockets (rc_handover.h), or from an operator ("drain as for a
 * restart"). A signal, not an eventfd of its own: worker 0 already reads the signalfd and relays
 * what it reads to the others, so the restart takes that path and needs no new completion to
 * dispatch, and an operator can ask for it with kill. First this worker stops accepting, so that
 * every new connection goes to the successor (it accepts on the same sockets, whose queues stay
 * open in it); then it lets the handshakes it already accepted finish (a request head that came
 * after the drain began would be answered 503); then it drains with 1012, service restart, which
 * tells clients to reconnect, to the successor. */
enum restart_state {
	RESTART_NONE = 0,
	RESTART_STOPPING, /* accepts cancelled; waiting for their completions, then the handshakes */
	RESTART_DONE,     /* nothing armed and nothing will be: draining (or drained) */
};

static void arm_signal(rc_worker *w)
{
	if (w->life.signal_fd < 0)
		return;
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_read(sqe, w->life.signal_fd, w->life.siginfo, sizeof *w->life.siginfo, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_SIGNAL, 0, RC_UD_WORKER));
}

static void abort_all(rc_worker *w)
{
	for (uint32_t i = 0; i < w->conns.nslots; i++)
		if (w->conns.slots[i].state != CS_FREE)
			conn_abort(w, &w->conns.slots[i], RC_CLOSED_SHUTDOWN);
}

/* Close every WebSocket: 1001 after its queued messages (SIGTERM, SIGINT), or 1012 at once for a
 * restart (what is queued is dropped: rc_conn.c drains before the close frame for 1001 only, and
 * the client resumes from the successor, whose numbering is new anyway). */
static void start_drain(rc_worker *w)
{
	assert(!w->life.draining);
	w->life.draining = true;
	bool restart = w->life.restart != RESTART_NONE;
	uint16_t code = restart ? RC_CLOSE_RESTART : RC_CLOSE_GOING_AWAY;
	rc_log(RC_LOG_INFO, "draining", "connections=%u websockets=%u drain_timeout_ms=%u code=%u",
	       w->conns.open, w->conns.ws_open, w->cfg->drain_timeout_ms, code);
	for (uint32_t i = 0; i < w->conns.nslots; i++) {
		rc_conn *c = &w->conns.slots[i];
		if (c->state == CS_OPEN)
			conn_close(w, c, code, RC_CLOSED_SHUTDOWN,
			           restart ? "server restarting" : "server shutting down");
	}
	struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
	io_uring_prep_timeout(sqe, &w->time.drain, 0, 0);
	io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_DRAIN, 0, RC_UD_WORKER));
}

static bool accepts_armed(const rc_worker *w)
{
	for (uint32_t tls = 0; tls < 2; tls++)
		for (uint32_t i = 0; i < RC_ACCEPTS; i++)
			if (w->accept.req[tls][i].armed)
				return true;
	return false;
}

/* Cancel every accept waiting on this worker's listeners (by descriptor). */
static void cancel_accept_fds(rc_worker *w)
{
	for (uint32_t tls = 0; tls < 2; tls++) {
		int fd = tls ? w->accept.tls_fd : w->accept.listen_fd;
		if (fd < 0)
			continue;
		struct io_uring_sqe *sqe = rc_uring_sqe(&w->io.ring);
		io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, rc_ud(RC_IO_NONE, 0, RC_UD_WORKER));
	}
}

/* Cancel the accepts in flight for good. Paused, accept_failed does not re-arm a cancelled one; an
 * accept that brought a connection before the cancel (on_accept), or a slot freed
 * (accept_slot_freed), arms again: restart_step cancels again until nothing is armed. */
static void cancel_accepts(rc_worker *w)
{
	w->accept.paused = true;
	cancel_accept_fds(w);
}

/* Phase 1 while a restart stops accepting. Once no accept is armed, the listeners are forgotten
 * (arm_accept arms nothing on -1; the sockets stay open, rc_server closes them at exit, and the
 * successor holds them anyway); once no handshake is left (each has its deadline), drain. */
static void restart_step(rc_worker *w)
{
	assert(w->life.restart == RESTART_STOPPING);
	if (accepts_armed(w)) {
		cancel_accepts(w);
		return;
	}
	if (w->accept.listen_fd >= 0 || w->accept.tls_fd >= 0) {
		rc_log(RC_LOG_INFO, "accept_stopped", "handshakes=%u websockets=%u", w->limit.handshaking,
		       w->conns.ws_open);
		rc_handover_accepts_stopped(); /* once all have, the successor re-arms its own */
	}
	w->accept.listen_fd = w->accept.tls_fd = -1;
	if (w->limit.handshaking > 0 && !w->life.draining)
		return;
	w->life.restart = RESTART_DONE;
	if (!w->life.draining)
		start_drain(w);
}

/* SIGUSR1, at the end of a takeover (rc_handover.h): cancel the accepts that wait, and accept_failed
 * arms them again at once (not paused); an accept being armed tries the queue first, so a
 * connection whose wake-up a cancelled accept of the old server took (each new connection wakes one
 * waiting accept only) is taken now instead of at the next connection. */
static void rearm_accepts(rc_worker *w)
{
	if (w->accept.paused || w->life.draining || w->life.restart != RESTART_NONE)
		return; /* paused: a freed slot re-arms; draining or stopping: no more accepting */
	cancel_accept_fds(w);
}

/* A signal: signo, or 0 when worker 0 relays it; relay as above. The first SIGTERM/SIGINT drains,
 * the second closes everything at once; SIGUSR2 drains as for a restart; SIGUSR1 re-arms. */
static void worker_signal(rc_worker *w, uint32_t signo, uint32_t relay)
{
	uint32_t count = relay & RELAY_COUNT;
	if (relay & RELAY_REARM)
		rearm_accepts(w);
	if ((relay & RELAY_RESTART) && w->life.restart == RESTART_NONE) {
		if (signo != 0)
			rc_log(RC_LOG_INFO, "signal", "signo=%u action=restart", signo);
		w->life.restart = RESTART_STOPPING; /* the drain starts once accepting stopped */
		cancel_accepts(w);
	}
	if (count <= w->life.signals)
		return;
	w->life.signals = (uint8_t)count;
	if (!w->life.draining && w->life.restart == RESTART_NONE) {
		if (signo != 0)
			rc_log(RC_LOG_INFO, "signal", "signo=%u action=drain", signo);
		start_drain(w);
	}
	if (count >= 2 && !w->life.drain_expired) {
		if (signo != 0)
			rc_log(RC_LOG_WARN, "signal", "signo=%u action=exit_now", signo);
		if (!w->life.draining)
			start_drain(w);
		w->life.drain_expired = true;
		abort_all(w);
	}
}

/* Only worker 0 reads the signalfd; it tells the others with a MSG_RING each. */
static void on_signal(rc_worker *w, int res)
{
	assert(w->life.signal_fd >= 0); /* worker 0 */
	if (res != (int)sizeof *w->life.siginfo) {
		rc_log(RC_LOG_ERROR, "signal_read", "res=%d", res);
		return;
	}
	if (w->life.siginfo->ssi_signo == SIGHUP) {
		reload_begin(w); /* the configuration and the TLS pair, then the other workers */
		arm_signal(w);
		return;
	}
	uint32_t signo = w->life.siginfo->ssi_signo;
	bool restart = signo == SIGUSR2, rearm = signo == SIGUSR1;
	/* SIGUSR2 counts as a first signal only: after it a SIGTERM closes everything at once, but
	 * neither a second SIGUSR2 nor one during a drain does; SIGUSR1 does not count */
	uint32_t count = w->life.signals + (rearm || (restart && w->life.signals > 0) ? 0u : 1u);
	uint32_t relay = (count < RELAY_COUNT ? count : RELAY_COUNT) | (restart ? RELAY_RESTART : 0) |
	                 (rearm ? RELAY_REARM : 0);
	worker_signal(w, signo, relay);
	for (uint32_t to = 0; to < w->group->n; to++)
		if (to != w->index)
			xfer_wake(w, to, rc_ud(RC_IO_STOP, 0, RC_UD_WORKER), relay);
	arm_signal(w);
}

static void on_drain_deadline(rc_worker *w, int res)
{
	assert(w->life.draining);
	if (res == -ETIME && !w->life.drain_expired) {
		rc_log(RC_LOG_WARN, "drain_timeout", "websockets=%u", w->conns.ws_open);
		w->life.drain_expired = true;
		abort_all(w);
	}
}

/* Phase 1: true once the worker has drained and may stop. */
static bool drained(rc_worker *w)
{
	if (w->life.restart == RESTART_STOPPING)
		restart_step(w);
	if (!w->life.draining || (!w->life.drain_expired && w->conns.ws_open > 0))
		return false;
	if (!w->life.drain_expired) {
		w->life.drain_expired = true;
		abort_all(w);
	}
	return w->conns.open == 0;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* The buffer a read completion carries, taken from the provided ring (RC_POOL_NONE if none). */
static uint32_t recv_buffer(rc_worker *w, uint32_t cflags)
{
	if (!(cflags & IORING_CQE_F_BUFFER))
		return RC_POOL_NONE;
	uint32_t buf = cflags >> IORING_CQE_BUFFER_SHIFT;
	assert(buf < w->mem.pool.count);
	rc_pool_recv_filled(&w->mem.pool, buf);
	return buf;
}

static void on_recv(rc_worker *w, rc_conn *c, int res, uint32_t cflags)
{
	assert(c->flags & F_RECV);
	uint32_t buf = recv_buffer(w, cflags);
	c->flags &= ~F_RECV;
	if (res <= 0 || buf == RC_POOL_NONE || !conn_reading(c)) {
		if (buf != RC_POOL_NONE)
			rc_pool_unref(&w->mem.pool, buf);
		conn_recv_failed(w, c, res);
		return;
	}
	rc_metric_add(&w->metrics, RC_M_BYTES_IN, (uint64_t)res);
	view_conn *v = &w->view.conn[conn_slot(w, c)];
	v->bytes_in += (uint64_t)res;
	v->recv_ns = w->time.turn_ns;
	uint8_t *data = rc_pool_data(&w->mem.pool, buf);
	if (c->flags & F_TLS)
		wss_recv(w, c, data, (size_t)res); /* decrypted into buffers of its own */
	else if (c->state == CS_HTTP)
		http_feed(w, c, data, (size_t)res, buf);
	else if (c->route != ROUTE_NONE)
		ws_feed(w, c, data, (size_t)res, buf);
	/* else: bytes after a plain HTTP request: ignored, the response closes */
	rc_pool_unref(&w->mem.pool, buf);
	/* A buffer is filled at most once per iteration (it goes back to the ring only in the
	 * reprovide phase), so the ring's size bounds the list. */
	if (rc_msgs_buffer_live(&w->mem.msgs, buf) && w->mem.ntouched < w->io.bufring.entries)
		w->mem.touched[w->mem.ntouched++] = buf;
	if (c->state == CS_OPEN)
		limit_charge(w, c, (uint32_t)res);
	conn_recv_done(w, c);
}

static void dispatch_worker(rc_worker *w, enum rc_io op, const struct io_uring_cqe *cqe)
{
	switch (op) {
	case RC_IO_ACCEPT:
		on_accept(w, cqe->res, rc_ud_gen(cqe->user_data));
		break;
	case RC_IO_SIGNAL:
		on_signal(w, cqe->res);
		break;
	case RC_IO_WAKE: /* its only job was to end the wait: the mailboxes are read next */
		break;
	case RC_IO_RELOAD:
		reload_take(w, (uint32_t)cqe->res);
		break;
	case RC_IO_STOP:
		worker_signal(w, 0, (uint32_t)cqe->res);
		break;
	case RC_IO_MSG_RING:
		rc_log(RC_LOG_ERROR, "msg_ring", "error=\"%s\"", strerror(-cqe->res));
		break;
	case RC_IO_DRAIN:
		on_drain_deadline(w, cqe->res);
		break;
	case RC_IO_ADMIN:
		admin_answer(w);
		break;
	default:
		break;
	}
}

/* A completion for a connection that no longer exists (by construction none comes, but a buffer
 * it carries must go back). */
static void stale(rc_worker *w, enum rc_io op, uint32_t slot, const struct io_uring_cqe *cqe)
{
	if (op == RC_IO_RECV) {
		uint32_t buf = recv_buffer(w, cqe->flags);
		if (buf != RC_POOL_NONE)
			rc_pool_unref(&w->mem.pool, buf);
	}
	rc_log(RC_LOG_WARN, "stale_completion", "op=%u slot=%u", op, slot);
}

static void dispatch(rc_worker *w, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum rc_io op = rc_ud_op(ud);
	uint32_t slot = rc_ud_slot(ud);
	if (slot == RC_UD_WORKER) {
		dispatch_worker(w, op, cqe);
		return;
	}
	assert(slot < w->conns.nslots);
	if (op == RC_IO_RECV_TIMEOUT || op == RC_IO_SEND_TIMEOUT) {
		/* Not counted in flight: the kernel (6.18, DEFER_TASKRUN) posts the completion of a
		 * linked timeout whose request finished first from deferred task work, sometimes
		 * hundreds of loop turns later, and at exit sometimes never (measured: 407 of 1.16M
		 * send timeouts never came). Its request's own completion says everything, and a late
		 * timeout completion for a reused slot carries an old generation. */
		return;
	}
	rc_conn *c = &w->conns.slots[slot];
	if ((c->gen & RC_GEN_MASK) != rc_ud_gen(ud) || c->state == CS_FREE) {
		stale(w, op, slot, cqe);
		return;
	}
	assert(c->inflight > 0);
	c->inflight--;
	switch (op) {
	case RC_IO_RECV:
		on_recv(w, c, cqe->res, cqe->flags);
		break;
	case RC_IO_SEND:
		send_complete(w, c, cqe->res);
		break;
	case RC_IO_PEER:
		on_peer(w, c, cqe->res);
		break;
	case RC_IO_CLOSEFD:
		assert(c->state == CS_CLOSED && c->inflight == 0);
		conn_free(w, c);
		accept_slot_freed(w);
		break;
	default: /* cancels: their operation's completion tells what happened */
		break;
	}
	conn_reap(w, c);
#ifdef RC_CHECKS
	conn_check(w, c);
#endif
}

/* Whether the messages fanned out since the last flush reached what one send carries (a chunk) or
 * half a queue's caps: then the loop flushes before it takes in more, so a subscriber that keeps
 * up sends each turn what the turn queued for it. Without this bound a worker that took a burst
 * in one turn (a 1.2 MB burst handed over while it slept, taken from its mailbox at once; or the
 * many receive completions of one large write) queued all of it before its first send, and
 * drop-oldest dropped messages of subscribers that were keeping up. */
static bool intake_full(const rc_worker *w)
{
	return w->conns.fanned >= w->conns.fanned_max ||
	       w->conns.fanned_msgs >= w->conns.fanned_msgs_max;
}

/* Phase 4: the completions waiting, until the intake is full (intake_full): the rest stay in the
 * completion queue for the next turn, which does not sleep while they are there. Returns how
 * many were dispatched. */
static unsigned dispatch_all(rc_worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe (&w->io.ring, head, cqe) {
		if (intake_full(w))
			break;
		dispatch(w, cqe);
		n++;
	}
	io_uring_cq_advance(&w->io.ring, n);
	return n;
}

/* Phase 6: one send per dirty connection (rc_send.h), in slices of RC_FLUSH_SLICE requests. After
 * each slice the sends go to the kernel and the completions that came meanwhile are dispatched, so
 * that a message published during a long fan-out joins the queues of the subscribers not flushed
 * yet (they send it in this pass) instead of waiting for the whole pass to end before its own pass
 * starts; and the time stamps of the publish-to-send histogram stay within a slice of the real
 * send. Connections dirtied meanwhile are flushed after the list, without further dispatch, so
 * the phase ends. */
static void flush(rc_worker *w)
{
	rc_conn *list = send_take_dirty(w);
	while ((list = send_flush_slice(w, list, RC_FLUSH_SLICE)) != NULL) {
		/* on failure the requests stay queued for the next submit */
		(void)io_uring_submit_and_get_events(&w->io.ring);
		w->time.turn_ns = rc_now_ns();
		dispatch_all(w);
		w->time.flush_ns = w->time.turn_ns;
	}
	while ((list = send_take_dirty(w)) != NULL)
		while ((list = send_flush_slice(w, list, RC_FLUSH_SLICE)) != NULL)
			(void)io_uring_submit(&w->io.ring);
	/* every queue had its send: the next turn may take in as much again */
	w->conns.fanned = 0;
	w->conns.fanned_msgs = 0;
}

/* ---- hand-offs in ---------------------------------------------------------------------------- */

/* x came from worker `from`: a large payload goes on over a chain of that worker's pool. */
static void deliver(rc_worker *w, uint32_t from, const rc_xmsg *x)
{
	rc_span payload = rc_xmsg_payload_span(&w->group->workers[from]->xfer.xarena, x);
	switch ((enum rc_xmsg_kind)x->kind) {
	case RC_XMSG_FORWARD:
		rc_metric_inc(&w->metrics, RC_M_HANDOFFS_RECEIVED);
		ws_forwarded(w, x, &payload);
		return;
	case RC_XMSG_PUBLISH:
	case RC_XMSG_SKIP:
		rc_metric_inc(&w->metrics, RC_M_HANDOFFS_RECEIVED);
		ws_deliver(w, x, &payload);
		return;
	case RC_XMSG_JOIN:
		own_on_join(w, from, x);
		return;
	case RC_XMSG_REPLAY:
		own_on_replay(w, x, &payload);
		return;
	case RC_XMSG_JOINED:
		own_on_joined(w, from, x);
		return;
	}
	assert(!"a hand-off of an unknown kind");
}

/* Phase 5, after the hand-offs: connections whose subscribe waited for other workers go on with
 * the input they held, then read again (rc_owner.h). */
static void resume_joined(rc_worker *w)
{
	rc_conn *c;
	own_input in;
	while (own_next_resumed(w, &c, &in)) {
		if (c != NULL && in.len > 0) {
			ws_feed(w, c, in.at, in.len, in.buf);
			if (rc_msgs_buffer_live(&w->mem.msgs, in.buf) &&
			    rc_pool_kind(&w->mem.pool, in.buf) == RC_BUF_RECV &&
			    w->mem.ntouched < w->io.bufring.entries)
				w->mem.touched[w->mem.ntouched++] = in.buf;
		}
		if (in.buf != RC_POOL_NONE)
			rc_pool_unref(&w->mem.pool, in.buf);
		if (c == NULL || (c->flags & F_JOINING))
			continue;
		if ((c->flags & F_TLS) && c->state < CS_ABORT)
			wss_resume(w, c);
		conn_start_recv(w, c);
	}
}

/* Records to take from a mailbox at once: as many as the intake has room for if each were as
 * large as the largest hand-off of this loop turn and the last one, at least 1, at most
 * RC_XFER_POP and budget. Small hand-offs go 64 at a time (each pop reads the producer's cache
 * line); a large one shrinks the next batch at once (a batch after a run of small ones may
 * overshoot the intake by its own size). */
static uint32_t take_batch(const rc_worker *w, uint32_t budget)
{
	uint64_t big =
	        w->xfer.in_len_last > w->xfer.in_len_now ? w->xfer.in_len_last : w->xfer.in_len_now;
	big = big > 64 ? big : 64;
	uint64_t n = (w->conns.fanned_max - w->conns.fanned) / big;
	uint64_t msgs = w->conns.fanned_msgs_max - w->conns.fanned_msgs;
	n = n < msgs ? n : msgs;
	n = n < 1 ? 1 : n;
	n = n < RC_XFER_POP ? n : RC_XFER_POP;
	return n < budget ? (uint32_t)n : budget;
}

/* Phase 5: what other workers handed over, at most RC_XFER_BUDGET records per mailbox (a flood
 * from one worker cannot starve this worker's own connections) and no more than the intake takes
 * (intake_full); in_more says not to sleep. Returns how many records were taken. */
static uint32_t take_handoffs(rc_worker *w)
{
	rc_group *g = w->group;
	w->xfer.in_more = false;
	assert(g->n > 1);
	if (w->xfer.in_len_now > 0) { /* a turn that took nothing keeps what the last one saw */
		w->xfer.in_len_last = w->xfer.in_len_now;
		w->xfer.in_len_now = 0;
	}
	uint32_t taken = 0;
	const rc_xmsg *x[RC_XFER_POP];
	for (uint32_t from = 0; from < g->n; from++) {
		if (from == w->index)
			continue;
		uint32_t budget = RC_XFER_BUDGET, k;
		while (budget > 0 && !intake_full(w) &&
		       (k = xfer_take(w, from, x, take_batch(w, budget))) > 0) {
			budget -= k;
			taken += k;
			for (uint32_t i = 0; i < k; i++) {
				uint32_t size = (uint32_t)rc_xmsg_size(x[i]->topic_len, x[i]->len);
				w->xfer.in_len_now = size > w->xfer.in_len_now ? size : w->xfer.in_len_now;
				deliver(w, from, x[i]);
			}
			xfer_release(w, from, x, k);
		}
		if (budget == 0 || intake_full(w))
			w->xfer.in_more = true;
	}
	return taken;
}

/* ---- memory phases --------------------------------------------------------------------------- */

static bool trim_due(const rc_worker *w)
{
	return rc_chunks_trim_due(&w->mem.chunks, RC_TRIM_KEEP) ||
	       rc_chunks_trim_due(&w->mem.heads, RC_TRIM_KEEP);
}

/* Phase 3: once a second, the pages of chunks the last second did not need go back to the kernel
 * (rc_chunks_trim keeps the window's peak warm: trimming what every fan-out uses again made each
 * one fault its pages back in, and the madvise calls stalled the loop for 35-48 ms). */
static void trim(rc_worker *w, uint64_t now)
{
	if (now < w->mem.next_trim_ns || !trim_due(w))
		return;
	rc_chunks_trim(&w->mem.chunks, RC_TRIM_KEEP);
	rc_chunks_trim(&w->mem.heads, RC_TRIM_KEEP);
	w->mem.next_trim_ns = now + RC_TRIM_EVERY_NS;
}

/* Phase 7: the pool is below its reserve: history gives way first (rc_owner.h own_relieve), then
 * queues (rc_ws.h ws_relieve_pressure), which walks every slot, so at most every
 * RC_RELIEF_EVERY_NS when it found nothing to take back. */
static void relieve_pressure(rc_worker *w)
{
	if (!rc_pool_low(&w->mem.pool) || (own_relieve(w) > 0 && !rc_pool_low(&w->mem.pool)))
		return;
	uint64_t t = rc_now_ns();
	if (t >= w->mem.next_relief_ns && ws_relieve_pressure(w) == 0)
		w->mem.next_relief_ns = t + RC_RELIEF_EVERY_NS;
}

/* Phase 8: messages still queued inside a receive buffer (their subscriber had a send in flight)
 * are copied into POOL memory, so that every receive buffer can go back to the kernel. */
static void promote_touched(rc_worker *w)
{
	assert(w->mem.ntouched <= w->io.bufring.entries);
	for (uint32_t i = 0; i < w->mem.ntouched; i++) {
		uint32_t buf = w->mem.touched[i];
		if (rc_pool_kind(&w->mem.pool, buf) != RC_BUF_RECV ||
		    !rc_msgs_buffer_live(&w->mem.msgs, buf))
			continue;
		int n = rc_msg_promote_buffer(&w->mem.msgs, buf, &w->mem.arena);
		if (n > 0)
			rc_metric_add(&w->metrics, RC_M_PROMOTIONS, (uint64_t)n);
	}
	w->mem.ntouched = 0;
}

/* Phase 9: receive buffers whose last reference went back to the provided ring; reads that found
 * it empty re-armed, no more than there are buffers (so an empty ring never makes the loop spin
 * on -ENOBUFS). */
static void reprovide(rc_worker *w)
{
	uint32_t n = rc_pool_take_returned_recv(&w->mem.pool, w->mem.returned, w->io.bufring.entries);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = w->mem.returned[i];
		rc_bufring_add(&w->io.bufring, rc_pool_data(&w->mem.pool, idx),
		               (unsigned)w->mem.pool.buf_size, (uint16_t)idx);
	}
	rc_bufring_publish(&w->io.bufring);
	assert(n <= w->io.bufring.entries);
	uint32_t avail = w->mem.pool.recv_kernel;
	while (w->conns.starved != NULL && avail > 0) {
		rc_conn *c = w->conns.starved;
		w->conns.starved = c->list_next;
		assert(c->flags & F_STARVED);
		c->flags &= ~F_STARVED;
		if (conn_reading(c)) {
			conn_start_recv(w, c);
			avail--;
		}
	}
}

/* ---- waiting --------------------------------------------------------------------------------- */

/* Poll the completion queue and the mailboxes for up to spin_ns before sleeping: waking a sleeping
 * CPU costs tens of microseconds (docs/facts.md). Returns true if something came. */
static bool idle_spin(rc_worker *w)
{
	assert(w->xfer.spin_ns > 0);
	uint64_t until = rc_now_ns() + w->xfer.spin_ns;
	do {
		io_uring_submit_and_get_events(&w->io.ring);
		if (io_uring_cq_ready(&w->io.ring) > 0 || !xfer_idle(w))
			return true;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	} while (rc_now_ns() < until);
	return false;
}

/* How long a sleep may last without a completion: 0 for as long as it takes. */
static uint64_t mail_timeout_ns(const rc_worker *w)
{
	bool several = w->group->n > 1;
	if (w->xfer.loss || w->own.retry != UINT32_MAX || w->own.any_deferred)
		return RC_WAIT_LOSS_NS;
	if (w->gauges.stale && several)
		return RC_GAUGES_NS;
	if (trim_due(w))
		return RC_WAIT_TRIM_NS;
	return several ? RC_MAIL_CHECK_NS : 0;
}

/* ... and the earliest time a paced connection (rc_pace.h), a throttled one or a lifetime
 * (rc_limit.h) is due. */
static uint64_t wait_timeout_ns(const rc_worker *w)
{
	uint64_t t = mail_timeout_ns(w);
	uint64_t due[3] = { pace_next_ns(w), limit_next_ns(w), access_next_ns(w) };
	for (int i = 0; i < 3; i++) {
		if (due[i] == 0)
			continue;
		uint64_t now = rc_now_ns(), until = due[i] > now ? due[i] - now : 1;
		t = t == 0 || until < t ? until : t;
	}
	return t;
}

/* Phase 2: submit, and wait for a completion unless another worker's mail is waiting. With other
 * workers, sleeping follows the wake protocol of core/rc_mailbox.h: arm the wake flag, re-check
 * the mailboxes, sleep. */
static int wait_for_work(rc_worker *w)
{
	rc_group *g = w->group;
	/* completions left by a full intake, mail left, connections dirtied after the flush */
	bool sleep = !w->xfer.in_more && w->conns.dirty == NULL &&
	             io_uring_cq_ready(&w->io.ring) == 0 && !wss_waiting(w);
	bool armed = false;
	if (sleep) {
		/* About to go idle: arena buffers whose messages are all gone go home. */
		bool freed = rc_arena_idle(&w->mem.arena);
		freed |= rc_xarena_idle(&w->xfer.xarena);
		if (freed && g->n > 1)
			gauges_set_cheap(w);
	}
	if (sleep && w->xfer.spin_ns > 0 && idle_spin(w))
		sleep = false;
	if (sleep && g->n > 1) {
		rc_wakeflag_arm(&g->wake[w->index]);
		armed = true;
		sleep = xfer_idle(w);
	}
	int r;
	uint64_t tmo = sleep ? wait_timeout_ns(w) : 0;
	assert(!armed || w->group->n > 1);
	if (!sleep) {
		r = io_uring_submit_and_get_events(&w->io.ring);
	} else if (tmo > 0) {
		struct io_uring_cqe *first;
		struct __kernel_timespec ts = { .tv_sec = (long long)(tmo / RC_NS_PER_S),
			                            .tv_nsec = (long long)(tmo % RC_NS_PER_S) };
		r = io_uring_submit_and_wait_timeout(&w->io.ring, &first, 1, &ts, NULL);
	} else {
		r = io_uring_submit_and_wait(&w->io.ring, 1);
	}
	rc_uring_ts_reset(&w->io.ts);
	/* disarm says whether a producer took the wake-up; if none did and the wait ran out, any
	 * mail found next was found by the check. */
	bool taken = armed && rc_wakeflag_disarm(&g->wake[w->index]);
	w->xfer.mail_check = armed && !taken && r == -ETIME;
	return r;
}

/* ---- the loop -------------------------------------------------------------------------------- */

/* Phase 2's result: anything but a wait ended by a signal, a timeout or a full completion queue is
 * a broken ring. */
static bool ring_failed(int r)
{
	return r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME;
}

/* Phase 5: hand-offs from other workers, and buffers they released that come home. */
static void handoffs_in(rc_worker *w, unsigned completions)
{
	if (w->group->n > 1) {
		if (take_handoffs(w) > 0 && w->xfer.mail_check && completions == 0)
			rc_metric_inc(&w->metrics, RC_M_MAIL_LATE);
		w->xfer.mail_check = false;
	}
	rc_pool_collect_remote(&w->mem.pool);
	resume_joined(w);
}

/* Phases 10 and 11, with several workers: losses told, the holds on topics nobody else watches any
 * more, then the gauges. */
static void handoffs_out_and_gauges(rc_worker *w, unsigned completions, uint64_t now)
{
	ws_sweep_holds(w, now); /* one worker too: history holds the topics it creates */
	if (w->group->n == 1)
		return;
	xfer_flush(w);
	own_flush(w);
	gauges_refresh(w, completions > 0, now);
}

int rc_worker_run(rc_worker *w)
{
	arm_accept(w);
	arm_signal(w);
	for (;;) {
		if (drained(w))
			break;
		int r = wait_for_work(w);
		uint64_t now = rc_now_ns();
		w->time.turn_ns = now;
		trim(w, now);
		if (ring_failed(r)) {
			rc_log(RC_LOG_ERROR, "ring_wait", "error=%s", strerror(-r));
			return r;
		}
		wss_turn(w);
		unsigned n = dispatch_all(w);
		handoffs_in(w, n);
		pace_due(w, now);
		limit_due(w, now);
		access_due(w, now);
		flush(w);
		relieve_pressure(w);
		promote_touched(w);
		reprovide(w);
		handoffs_out_and_gauges(w, n, now);
	}
	io_uring_submit(&w->io.ring); /* what the last turn prepared: a STOP for the other workers */
	rc_log(RC_LOG_INFO, "drained", "accepted=%llu",
	       (unsigned long long)rc_metric_get(&w->metrics, RC_M_ACCEPTED));
	return 0;
}
