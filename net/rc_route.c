/* rc_route.c: the request head and the routes (rc_route.h). */
#define _GNU_SOURCE
#include "rc_route.h"

#include <assert.h>
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rc_access.h"
#include "rc_conn.h"
#include "rc_gauges.h"
#include "rc_log.h"
#include "rc_owner.h"
#include "rc_pace.h"
#include "rc_page.h"
#include "rc_ws.h"

static enum rc_reject_reason reject_reason(int status)
{
	switch (status) {
	case 403:
		return RC_REJECT_FORBIDDEN;
	case 404:
		return RC_REJECT_NOT_FOUND;
	case 405:
		return RC_REJECT_METHOD;
	case 426:
		return RC_REJECT_UPGRADE_REQUIRED;
	case 431:
		return RC_REJECT_TOO_LARGE;
	case 505:
		return RC_REJECT_HTTP_VERSION;
	default:
		return RC_REJECT_BAD_REQUEST;
	}
}

static void reject(rc_worker *w, rc_conn *c, int status, enum rc_reject_reason reason,
                   const char *text)
{
	assert(status >= 400 && status <= 599 && c->state == CS_HTTP);
	char resp[1024];
	size_t n = rc_ws_error_response(resp, sizeof resp, status, text);
	rc_metric_inc(&w->metrics, RC_M_REJECTED(reason));
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "conn_rejected", "conn=%u status=%d reason=\"%s\"", c->id, status,
		       text ? text : "");
	conn_respond(w, c, resp, n, RC_CLOSED_REJECTED);
}

static void respond(rc_worker *w, rc_conn *c, int status, const char *ctype, const void *body,
                    size_t len)
{
	assert(status >= 200 && status <= 599 && (len == 0 || body != NULL));
	_Static_assert(RC_CHUNK_BYTES - RC_CLOSE_FRAME_MAX <= RC_SCRATCH_BYTES / 2, "scratch");
	size_t cap = RC_CHUNK_BYTES - RC_CLOSE_FRAME_MAX;
	char *resp = (char *)w->scratch + RC_SCRATCH_BYTES / 2; /* the body may be in the first half */
	size_t n = rc_http_response(resp, cap, status, ctype, "Cache-Control: no-store\r\n", body, len);
	conn_respond(w, c, resp, n, RC_CLOSED_HTTP_DONE);
}

/* Open descriptors: the process's own (listener, ring, signalfd, stdio...) plus the direct
 * descriptors of connections, which /proc does not list. */
static uint64_t fds_open(uint64_t connections)
{
	uint64_t n = connections;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return n;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > connections ? n - 1 : n; /* not the one opendir itself holds */
}

/* The largest /metrics body: the response goes out from one chunk. */
#define RC_METRICS_BODY_MAX (RC_CHUNK_BYTES - RC_CLOSE_FRAME_MAX - 1024)
_Static_assert(RC_METRICS_BODY_MAX <= RC_SCRATCH_BYTES / 2 &&
                       RC_METRICS_RENDER_MAX < RC_METRICS_BODY_MAX,
               "metrics body");

static const char HELP_PUBLISH_SEND[] =
        "Seconds from a message's publication (the loop turn that read it, on the worker that "
        "read it) to the send that carries it to one subscriber, per delivery.";
static const char HELP_FRAMES[] = "Messages per send, for the sends that carry any.";

/* One histogram family of struct worker_hist (at offset `field`): a series per worker labelled
 * worker="N", all of them together as the text format wants; or, with all = true, the sum over
 * workers as one series labelled worker="all". Returns the length, or 0 if it did not fit. */
static size_t render_family(rc_worker *w, size_t field, const char *name, const char *help,
                            double scale, bool all, char *out, size_t cap)
{
	rc_group *g = w->group;
	const rc_hist *first = (const rc_hist *)((const char *)&g->workers[0]->hist + field);
	if (all) {
		rc_hist sum = *first;
		for (uint32_t i = 1; i < g->n; i++)
			rc_hist_add(&sum, (const rc_hist *)((const char *)&g->workers[i]->hist + field));
		return rc_hist_render(&sum, name, help, scale, "worker", "all", out, cap);
	}
	size_t n = 0;
	for (uint32_t i = 0; i < g->n; i++) {
		char value[12];
		snprintf(value, sizeof value, "%u", i);
		const rc_hist *h = (const rc_hist *)((const char *)&g->workers[i]->hist + field);
		size_t k = rc_hist_render(h, name, i == 0 ? help : NULL, scale, "worker", value, out + n,
		                          cap - n);
		if (k == 0)
			return 0;
		n += k;
	}
	return n;
}

static size_t render_families(rc_worker *w, bool all, char *out, size_t cap)
{
	size_t a = render_family(w, offsetof(struct worker_hist, publish_send),
	                         "publish_to_send_seconds", HELP_PUBLISH_SEND, 1e-9, all, out, cap);
	size_t b = a > 0 ? render_family(w, offsetof(struct worker_hist, frames), "send_messages",
	                                 HELP_FRAMES, 1, all, out + a, cap - a)
	                 : 0;
	return b > 0 ? a + b : 0;
}

/* Each worker's histograms; with so many workers that they do not fit in one response, their sum
 * over workers (docs/operations.md). Returns the length, or 0 if not even that fits. */
static size_t render_hists(rc_worker *w, char *out, size_t cap)
{
	size_t n = render_families(w, false, out, cap);
	return n > 0 ? n : render_families(w, true, out, cap);
}

/* The figures of every worker added up. Each worker sets its own gauges (no worker reads another's
 * state): this one's are fresh, the others' are at most one loop turn old, except queued bytes,
 * at most RC_GAUGES_NS old (rc_gauges.h). */
static void route_metrics(rc_worker *w, rc_conn *c)
{
	gauges_refresh_all(w);
	rc_metrics sum, *m = &sum;
	rc_metrics_init(m);
	for (uint32_t i = 0; i < w->group->n; i++)
		rc_metrics_add(m, &w->group->workers[i]->metrics);
	rc_metric_set(m, RC_M_FDS_OPEN, fds_open(rc_metric_get(m, RC_M_CONNECTIONS)));
	char *body = (char *)w->scratch;
	size_t n = rc_metrics_render(m, body, RC_METRICS_RENDER_MAX);
	size_t h = n > 0 ? render_hists(w, body + n, RC_METRICS_BODY_MAX - n) : 0;
	n = h > 0 ? n + h : 0;
	if (n == 0) {
		respond(w, c, 500, "text/plain", "metrics did not fit\n", 20);
		return;
	}
	respond(w, c, 200, "text/plain; version=0.0.4; charset=utf-8", body, n);
}

/* The /ws query and headers: subscriptions (added[i]: topic i was subscribed here, not before),
 * publish topic, token. Returns 0, or the status to refuse with (reason in *why). */
static int ws_setup(rc_worker *w, rc_conn *c, const rc_http_request *req, bool v1,
                    rc_app_connect *conn, bool *added, const char **why)
{
	assert(c->sub.subs_len == 0 && c->pub_topic == -1 && !(c->flags & (F_AUTH | F_V1)));
	enum rc_app_query_error qe =
	        rc_app_query_parse(conn, (const uint8_t *)req->query.ptr, req->query.len);
	const rc_http_header *auth = rc_http_header_find(req, "Authorization", NULL);
	if (qe == RC_APP_QUERY_OK && auth != NULL)
		qe = rc_app_connect_authorization(conn, (const uint8_t *)auth->value.ptr, auth->value.len);
	if (qe == RC_APP_QUERY_OK)
		qe = rc_app_connect_check(conn, v1);
	if (qe != RC_APP_QUERY_OK) {
		*why = rc_app_query_reason(qe);
		return 400;
	}
	if (conn->topics_len > w->cfg->topics_per_connection_max) {
		*why = "too many topics in topics=";
		return 400;
	}
	int st = access_connect(w, c, conn->token.ptr, conn->token.len, why);
	if (st != 0)
		return st;
	for (size_t i = 0; i < conn->topics_len; i++) {
		if (!access_may_subscribe(w, c, conn->topics[i].ptr, conn->topics[i].len)) {
			*why = "a topic of topics= needs a token that grants it";
			return 403;
		}
	}
	if (conn->publish.len > 0 && w->access.grant[conn_slot(w, c)] != NULL &&
	    !access_may_publish(w, c, conn->publish.ptr, conn->publish.len)) {
		*why = "the token does not grant publishing on publish=";
		return 403;
	}
	if (!own_can_join(w, conn->topics, conn->topics_len)) {
		*why = "too many subscribes waiting for other workers: try again";
		return 503;
	}
	rc_subscriber_init(&c->sub, v1);
	if (v1)
		c->flags |= F_V1;
	for (size_t i = 0; i < conn->topics_len; i++) {
		int r = rc_subscribe(&w->topics, &c->sub, conn->topics[i].ptr, conn->topics[i].len);
		added[i] = r == 0;
		if (r < 0 && r != -EEXIST) {
			rc_unsubscribe_all(&w->topics, &c->sub);
			*why = "the server's topic or subscription table is full";
			return 503;
		}
	}
	if (conn->publish.len > 0) {
		int id = rc_topic_pin(&w->topics, conn->publish.ptr, conn->publish.len);
		if (id < 0) {
			rc_unsubscribe_all(&w->topics, &c->sub);
			*why = "the server's topic table is full";
			return 503;
		}
		c->pub_topic = id;
	}
	return 0;
}

static void route_ws(rc_worker *w, rc_conn *c, const rc_http_request *req, bool echo, uint8_t *rest,
                     size_t rest_len, uint32_t buf)
{
	assert(c->state == CS_HTTP && c->route == ROUTE_NONE && c->head != NULL);
	/* max-connections counts upgrades, from their request on (conn_free uncounts them) */
	c->flags |= F_COUNTED;
	if (atomic_fetch_add_explicit(&w->group->open, 1, memory_order_relaxed) >=
	    w->cfg->max_connections) {
		reject(w, c, 503, RC_REJECT_OVER_LIMIT, "server full: too many connections");
		return;
	}
	if (w->life.draining) {
		reject(w, c, 503, RC_REJECT_DRAINING, "server shutting down");
		return;
	}
	rc_ws_handshake_result res;
	int status = rc_ws_handshake_check(req, echo ? &w->http.hs_echo : &w->http.hs_ws, &res);
	if (status != 0) {
		reject(w, c, status, reject_reason(status), res.reason);
		return;
	}
	bool v1 = !echo && res.subprotocol == 0;
	rc_app_slice topics[RC_APP_TOPICS_MAX];
	bool added[RC_APP_TOPICS_MAX];
	rc_app_connect conn;
	rc_app_connect_init(&conn, topics, RC_APP_TOPICS_MAX, w->scratch, RC_SCRATCH_BYTES / 2);
	if (!echo) {
		const char *why = NULL;
		status = ws_setup(w, c, req, v1, &conn, added, &why);
		if (status != 0) {
			enum rc_reject_reason r = status == 503   ? RC_REJECT_OVER_LIMIT
			                          : status == 401 ? RC_REJECT_UNAUTHORIZED
			                          : status == 403 ? RC_REJECT_FORBIDDEN_TOPIC
			                                          : RC_REJECT_BAD_REQUEST;
			reject(w, c, status, r, why);
			return;
		}
	}
	char resp[512];
	size_t n = rc_ws_response_101(resp, sizeof resp, &res);
	c->route = echo ? ROUTE_ECHO : ROUTE_WS;
	ws_open(w, c);
	pace_set(w, c, echo ? 0 : conn.interval_ms);
	if (n == 0 || !conn_ctl_append(w, c, resp, n)) {
		conn_abort(w, c, RC_CLOSED_IO_ERROR);
		return;
	}
	if (conn.topics_len > 0)
		own_join(w, c,
		         &(own_req){ .topics = conn.topics,
		                     .n = conn.topics_len,
		                     .added = added,
		                     .resume_from = conn.topics_len,
		                     .snapshot = conn.snapshot,
		                     .notice = v1 });
	conn_head_release(w, c);
	if (rc_log_enabled(RC_LOG_DEBUG))
		rc_log(RC_LOG_DEBUG, "ws_open", "conn=%u route=%s v1=%d topics=%zu publish=%d", c->id,
		       echo ? "echo" : "ws", v1, conn.topics_len, c->pub_topic >= 0);
	if (rest_len > 0)
		ws_feed(w, c, rest, rest_len, buf);
}

/* The page at / (rc_page.h): self-contained, so its policy allows nothing from elsewhere. */
static void route_page(rc_worker *w, rc_conn *c)
{
	static_assert(RC_PAGE_MAX + 1024 <= RC_CHUNK_BYTES - RC_CLOSE_FRAME_MAX, "one chunk");
	assert(rc_page_html_len <= RC_PAGE_MAX);
	size_t cap = RC_CHUNK_BYTES - RC_CLOSE_FRAME_MAX;
	char *resp = (char *)w->scratch;
	static_assert(RC_CHUNK_BYTES <= RC_SCRATCH_BYTES, "the response fits the scratch");
	size_t n = rc_http_response(resp, cap, 200, "text/html; charset=utf-8",
	                            "Cache-Control: no-cache\r\n"
	                            "Content-Security-Policy: default-src 'none'; script-src "
	                            "'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
	                            "img-src 'self'\r\n"
	                            "X-Content-Type-Options: nosniff\r\n",
	                            rc_page_html, rc_page_html_len);
	conn_respond(w, c, resp, n, RC_CLOSED_HTTP_DONE);
}

static void route(rc_worker *w, rc_conn *c, const rc_http_request *req, uint8_t *rest,
                  size_t rest_len, uint32_t buf)
{
	rc_http_str path = req->path;
	if (path.len == 3 && memcmp(path.ptr, "/ws", 3) == 0)
		route_ws(w, c, req, false, rest, rest_len, buf);
	else if (path.len == 5 && memcmp(path.ptr, "/echo", 5) == 0)
		route_ws(w, c, req, true, rest, rest_len, buf);
	else if (path.len == 8 && memcmp(path.ptr, "/healthz", 8) == 0)
		respond(w, c, 200, "text/plain", "ok\n", 3);
	else if (path.len == 7 && memcmp(path.ptr, "/readyz", 7) == 0)
		w->life.draining ? respond(w, c, 503, "text/plain", "draining\n", 9)
		                 : respond(w, c, 200, "text/plain", "ready\n", 6);
	else if (path.len == 8 && memcmp(path.ptr, "/metrics", 8) == 0)
		route_metrics(w, c);
	else if (path.len == 1 && path.ptr[0] == '/')
		route_page(w, c);
	else
		reject(w, c, 404, RC_REJECT_NOT_FOUND,
		       "no such path: try /, /ws, /echo, /healthz, "
		       "/readyz or /metrics");
}

void http_feed(rc_worker *w, rc_conn *c, uint8_t *data, size_t len, uint32_t buf)
{
	assert(c->state == CS_HTTP && c->route == ROUTE_NONE && len > 0);
	rc_head *h = (rc_head *)c->head;
	if (h == NULL) {
		h = rc_chunk_get(&w->mem.heads);
		if (h == NULL) {
			conn_abort(w, c, RC_CLOSED_REJECTED);
			return;
		}
		h->fields = (rc_http_header *)(h + 1);
		h->bytes = (uint8_t *)(h->fields + w->cfg->header_fields_max);
		h->cap = w->cfg->header_bytes_max + 1;
		h->len = 0;
		rc_http_cfg hc = { .header_bytes_max = w->cfg->header_bytes_max,
			               .header_fields_max = w->cfg->header_fields_max };
		rc_http_parser_init(&h->parser, &hc, h->fields);
		c->head = (uint8_t *)h;
	}
	uint32_t prev = h->len;
	size_t take = len < h->cap - prev ? len : h->cap - prev;
	memcpy(h->bytes + prev, data, take);
	h->len += (uint32_t)take;
	assert(h->len <= h->cap);
	ssize_t r = rc_http_parse(&h->parser, h->bytes, h->len);
	if (r < 0) {
		int status = (int)-r;
		reject(w, c, status, reject_reason(status), h->parser.reason);
		return;
	}
	if (r == 0) {
		if (h->len == h->cap) /* the parser says 431 first; this is a guard */
			reject(w, c, 431, RC_REJECT_TOO_LARGE, "request head too large");
		return;
	}
	size_t used = (size_t)r - prev; /* the head ends inside this read */
	assert((size_t)r > prev && used <= len);
	route(w, c, &h->parser.req, data + used, len - used, buf);
}
