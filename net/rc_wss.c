/* rc_wss.c: a worker's TLS connections (rc_wss.h). */
#include "rc_wss.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rc_conn.h"
#include "rc_log.h"
#include "rc_route.h"
#include "rc_ws.h"

/* Room kept free in a send chunk for the records' overhead: a chunk of plaintext takes at most
 * RC_CHUNK_BYTES / RC_TLS_RECORD_MAX + 1 records, and close_notify is one more. */
#define SEAL_SLACK ((RC_CHUNK_BYTES / RC_TLS_RECORD_MAX + 2) * RC_TLS_RECORD_OVERHEAD)

static_assert(RC_TLS_FLIGHT_MAX + SEAL_SLACK <= RC_CHUNK_BYTES, "a handshake flight fits a chunk");

#define EXPIRY_WARN_S (14 * 86400)

/* A context from the configured files; NULL after an error line `event`. A reload (worker 0's)
 * warns of a certificate close to its end, as start-up does (rc_server.c). */
static rc_tls_ctx *load(rc_worker *w, const char *event, bool reload)
{
	const rc_cfg *cfg = w->cfg;
	char err[RC_CFG_ERR_MAX + 2 * RC_CFG_PATH_MAX];
	int64_t left = 0;
	rc_tls_ctx_cfg tc = { .cert_file = cfg->tls_cert,
		                  .key_file = cfg->tls_key,
		                  .min_version = (enum rc_tls_version)cfg->tls_min_version,
		                  .tickets = &w->group->tickets,
		                  .now = time(NULL) };
	rc_tls_ctx *ctx = rc_tls_ctx_new(&tc, &left, err, sizeof err);
	if (ctx == NULL)
		rc_log(RC_LOG_ERROR, event, "error=\"%s\"", err);
	else if (reload && left < EXPIRY_WARN_S && w->index == 0)
		rc_log(RC_LOG_WARN, "tls_cert_expiry", "cert=\"%s\" expires_in_days=%lld", cfg->tls_cert,
		       (long long)(left / 86400));
	return ctx;
}

bool wss_reload(rc_worker *w)
{
	if (w->tls.ctx == NULL) {
		if (w->index == 0)
			rc_log(RC_LOG_INFO, "tls_reload", "note=\"no tls-listen: nothing to reload\"");
		return false;
	}
	rc_tls_ctx *ctx = load(w, "tls_reload_refused", true);
	if (ctx == NULL)
		return false;            /* the old pair stays */
	rc_tls_ctx_free(w->tls.ctx); /* its sessions keep it until they end */
	w->tls.ctx = ctx;
	rc_log(RC_LOG_INFO, "tls_reloaded", "cert=\"%s\" sessions=%u", w->cfg->tls_cert, w->tls.live);
	return true;
}

int wss_setup(rc_worker *w)
{
	if (w->accept.tls_fd < 0)
		return 0;
	w->tls.ctx = load(w, "tls", false);
	if (w->tls.ctx == NULL)
		return -EINVAL;
	w->tls.conns = calloc(w->conns.nslots, sizeof *w->tls.conns);
	w->tls.wait_head = w->tls.wait_tail = RC_POOL_NONE;
	if (w->tls.conns == NULL) {
		rc_log(RC_LOG_ERROR, "tls", "worker=%u error=\"out of memory\"", w->index);
		return -ENOMEM;
	}
	return 0;
}

void wss_teardown(rc_worker *w)
{
	if (w->tls.conns != NULL)
		for (uint32_t i = 0; i < w->conns.nslots; i++)
			rc_tls_free(w->tls.conns[i].s); /* chunks go with the chunk slabs */
	free(w->tls.conns);
	w->tls.conns = NULL;
	if (w->tls.ctx != NULL)
		rc_tls_thread_done(); /* the worker's thread is about to end */
	rc_tls_ctx_free(w->tls.ctx);
	w->tls.ctx = NULL;
}

static wss_conn *of(rc_worker *w, const rc_conn *c)
{
	assert((c->flags & F_TLS) && w->tls.conns != NULL);
	return &w->tls.conns[conn_slot(w, c)];
}

bool wss_start(rc_worker *w, rc_conn *c)
{
	uint32_t slot = conn_slot(w, c);
	wss_conn *t = &w->tls.conns[slot];
	assert(t->s == NULL && t->raw == NULL && !(c->flags & F_RECV));
	t->s = rc_tls_new(w->tls.ctx);
	if (t->s == NULL)
		return false;
	c->flags |= F_TLS;
	w->tls.live++;
	if (w->tls.admitted < RC_TLS_ADMIT_PER_TURN && w->tls.waiting == 0) {
		w->tls.admitted++;
		conn_start_recv(w, c);
		return true;
	}
	c->flags |= F_TLS_WAIT;
	rc_metric_inc(&w->metrics, RC_M_TLS_QUEUED);
	t->wait_next = RC_POOL_NONE;
	t->wait_prev = w->tls.wait_tail;
	if (w->tls.wait_tail != RC_POOL_NONE)
		w->tls.conns[w->tls.wait_tail].wait_next = slot;
	else
		w->tls.wait_head = slot;
	w->tls.wait_tail = slot;
	w->tls.waiting++;
	return true;
}

void wss_turn(rc_worker *w)
{
	w->tls.admitted = 0;
	while (w->tls.waiting > 0 && w->tls.admitted < RC_TLS_ADMIT_PER_TURN) {
		rc_conn *c = &w->conns.slots[w->tls.wait_head];
		wss_conn *t = &w->tls.conns[w->tls.wait_head];
		assert(c->flags & F_TLS_WAIT);
		w->tls.wait_head = t->wait_next;
		if (w->tls.wait_head != RC_POOL_NONE)
			w->tls.conns[w->tls.wait_head].wait_prev = RC_POOL_NONE;
		else
			w->tls.wait_tail = RC_POOL_NONE;
		w->tls.waiting--;
		c->flags &= ~F_TLS_WAIT;
		if (conn_deadline_ns(w, c->deadline_ms) <= rc_now_ns()) {
			conn_abort(w, c, RC_CLOSED_HANDSHAKE_TIMEOUT); /* it waited out its deadline */
			continue;
		}
		w->tls.admitted++;
		conn_start_recv(w, c);
	}
}

/* Point the session's output at `raw` (taken now if there is none). False if no chunk is free. */
static bool out_to_raw(rc_worker *w, wss_conn *t)
{
	if (t->raw == NULL) {
		t->raw = rc_chunk_get(&w->mem.chunks);
		if (t->raw == NULL)
			return false;
		t->raw_len = 0;
	}
	rc_tls_set_out(t->s, t->raw, t->raw_len, RC_CHUNK_BYTES);
	return true;
}

/* What the session wrote into `raw` is kept; an empty `raw` goes back. */
static void raw_done(rc_worker *w, rc_conn *c, wss_conn *t)
{
	t->raw_len = (uint32_t)rc_tls_out_len(t->s);
	if (t->raw_len == 0) {
		rc_chunk_put(&w->mem.chunks, t->raw);
		t->raw = NULL;
	} else {
		conn_dirty(w, c);
	}
}

static void fail(rc_worker *w, rc_conn *c, wss_conn *t, const char *what)
{
	rc_metric_inc(&w->metrics, RC_M_TLS_FAILURES);
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "tls_failed", "conn=%u during=%s error=\"%s\"", c->id, what,
		       rc_tls_error(t->s));
	conn_abort(w, c, c->state == CS_HTTP ? RC_CLOSED_REJECTED : RC_CLOSED_PROTOCOL_ERROR);
}

/* Plaintext from the session into POOL buffers, each parsed as a plain receive's would be, until
 * the session has no whole record left. */
static void read_plain(rc_worker *w, rc_conn *c, wss_conn *t)
{
	while (c->state == CS_HTTP || c->state == CS_OPEN || c->state == CS_CLOSING) {
		int32_t buf = rc_pool_alloc(&w->mem.pool);
		if (buf < 0) {
			rc_metric_inc(&w->metrics, RC_M_BUFFER_ALLOC_FAILURES);
			conn_abort(w, c, RC_CLOSED_IO_ERROR);
			return;
		}
		uint8_t *data = rc_pool_data(&w->mem.pool, (uint32_t)buf);
		size_t have = 0, cap = w->mem.pool.buf_size;
		ssize_t n = 0;
		while (have < cap && (n = rc_tls_read(t->s, data + have, cap - have)) > 0)
			have += (size_t)n;
		if (have > 0) {
			if (c->state == CS_HTTP)
				http_feed(w, c, data, have, (uint32_t)buf);
			else if (c->route != ROUTE_NONE)
				ws_feed(w, c, data, have, (uint32_t)buf);
		}
		rc_pool_unref(&w->mem.pool, (uint32_t)buf);
		if (c->flags & F_JOINING)
			return; /* the rest stays in the session until the joint is made (rc_owner.h) */
		if (have == cap)
			continue; /* the buffer filled: more may be waiting */
		if (n == RC_TLS_CLOSED)
			conn_abort(w, c, c->state == CS_CLOSING ? (enum rc_close_reason)c->why : RC_CLOSED_EOF);
		else if (n == RC_TLS_FAIL && c->state < CS_ABORT)
			fail(w, c, t, "read");
		return;
	}
}

void wss_recv(rc_worker *w, rc_conn *c, const uint8_t *data, size_t len)
{
	wss_conn *t = of(w, c);
	rc_tls_feed(t->s, data, len);
	if (!out_to_raw(w, t)) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR);
		return;
	}
	if (!rc_tls_established(t->s)) {
		int r = rc_tls_handshake(t->s);
		if (r == RC_TLS_FAIL) {
			fail(w, c, t, "handshake");
			return;
		}
		if (r == RC_TLS_OK) {
			rc_metric_inc(&w->metrics, RC_M_TLS_HANDSHAKES);
			if (rc_tls_resumed(t->s))
				rc_metric_inc(&w->metrics, RC_M_TLS_RESUMED);
		}
	}
	if (rc_tls_established(t->s))
		read_plain(w, c, t);
	if (c->state >= CS_ABORT || t->s == NULL)
		return;
	/* Output that did not fit what `raw` had left: wolfSSL holds it and would need the same call
	 * again. A flight is at most RC_TLS_FLIGHT_MAX and `raw` holds at most what one send carries
	 * besides, so this does not happen; if it ever does, the connection is dropped, not stalled. */
	if (rc_tls_want_out(t->s)) {
		fail(w, c, t, "output");
		return;
	}
	raw_done(w, c, t);
	assert(rc_tls_unread(t->s) == 0 || (c->flags & F_JOINING));
}

void wss_resume(rc_worker *w, rc_conn *c)
{
	wss_conn *t = of(w, c);
	if (t->s == NULL || !rc_tls_established(t->s))
		return;
	if (!out_to_raw(w, t)) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR);
		return;
	}
	read_plain(w, c, t);
	if (c->state >= CS_ABORT || t->s == NULL)
		return;
	raw_done(w, c, t);
}

bool wss_pending(rc_worker *w, const rc_conn *c)
{
	return of(w, c)->raw != NULL;
}

uint32_t wss_plain_room(rc_worker *w, const rc_conn *c)
{
	wss_conn *t = &w->tls.conns[conn_slot(w, c)];
	if (!rc_tls_established(t->s) || t->raw_len + SEAL_SLACK >= RC_CHUNK_BYTES)
		return 0;
	return RC_CHUNK_BYTES - t->raw_len - SEAL_SLACK;
}

uint8_t *wss_seal(rc_worker *w, rc_conn *c, const uint8_t *plain, uint32_t len, bool close,
                  uint32_t *out_len)
{
	wss_conn *t = of(w, c);
	assert(len <= wss_plain_room(w, c));
	if (t->raw == NULL && len == 0 && !close)
		return NULL;
	if (!out_to_raw(w, t)) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR);
		return NULL;
	}
	if (len > 0 && rc_tls_write(t->s, plain, len) != RC_TLS_OK) {
		fail(w, c, t, "write");
		return NULL;
	}
	if (close)
		rc_tls_close(t->s);
	uint8_t *out = t->raw;
	*out_len = (uint32_t)rc_tls_out_len(t->s);
	rc_tls_set_out(t->s, NULL, 0, 0);
	t->raw = NULL;
	t->raw_len = 0;
	if (*out_len == 0) {
		rc_chunk_put(&w->mem.chunks, out);
		return NULL;
	}
	return out;
}
